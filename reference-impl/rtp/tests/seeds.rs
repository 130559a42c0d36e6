//! The seed corpus in `corpora/rtp/`: every file parses as the kind its name
//! says, and the generated seeds match this generator byte for byte.
//!
//! Regenerate the seeds with
//! `cargo test -p speermint-rtp --test seeds -- --ignored write_seed_corpus`.

use std::fs;
use std::path::{Path, PathBuf};

use speermint_rtp::rtcp::{self, ReportBlock};
use speermint_rtp::srtp::SrtpProfile;
use speermint_rtp::{RtpExtension, RtpHeader, RtpPacket, fuzzing, validate_compound};

fn corpora() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpora")
}

fn rtcp_packet(count: u8, pt: u8, body: &[u8], out: &mut Vec<u8>) {
    rtcp::write_packet(count, pt, body, 0, out).expect("seed RTCP packet");
}

fn sdes_cname(ssrc: u32, cname: &[u8]) -> Vec<u8> {
    let mut b = ssrc.to_be_bytes().to_vec();
    b.push(1); // CNAME
    b.push(u8::try_from(cname.len()).expect("short CNAME"));
    b.extend_from_slice(cname);
    b.push(0); // END
    while b.len() % 4 != 0 {
        b.push(0);
    }
    b
}

const SSRC: u32 = 0x5eed_0001;

fn pcmu(seq: u16) -> RtpHeader {
    RtpHeader::new(0, seq, u32::from(seq) * 160, SSRC)
}

/// Profile of an SRTP seed: `*-32.bin` uses HMAC-SHA1-32.
fn profile_of(name: &str) -> SrtpProfile {
    if name.ends_with("-32.bin") {
        SrtpProfile::Aes128CmHmacSha1_32
    } else {
        SrtpProfile::Aes128CmHmacSha1_80
    }
}

/// Every seed, by file name.
fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let silence = [0xffu8; 160]; // PCMU (mu-law) silence, 20 ms
    let mut first = pcmu(1000);
    first.marker = true;
    let rtp_pcmu = first.to_bytes(&silence, 0).expect("pcmu");

    let mut mixed = pcmu(1001);
    mixed.csrcs = vec![0x5eed_0002, 0x5eed_0003];
    let rtp_csrc = mixed.to_bytes(&silence, 0).expect("csrc");

    let mut one = pcmu(1002);
    // RFC 6464 audio level (V=1, -42 dBov) and a 3-byte abs-send-time.
    one.extension =
        Some(RtpExtension::one_byte(&[(1, &[0x80 | 42]), (3, &[0x12, 0x34, 0x56])]).expect("1b"));
    let rtp_one = one.to_bytes(&silence, 0).expect("one-byte");

    let mut two = pcmu(1003);
    // Two-byte form: an empty element and one longer than 16 bytes.
    two.extension =
        Some(RtpExtension::two_byte(0, &[(1, &[]), (20, b"urn:speermint:mid:a0")]).expect("2b"));
    let rtp_two = two.to_bytes(&silence, 0).expect("two-byte");

    let rtp_pad = pcmu(1004).to_bytes(&silence[..156], 8).expect("padding");

    let block = ReportBlock {
        ssrc: 0x0bad_cafe,
        fraction_lost: 3,
        cumulative_lost: 12,
        highest_sequence: 0x0001_0203,
        jitter: 40,
        last_sr: 0x1234_5678,
        delay_since_last_sr: 0x0002_0000,
    };
    let mut sr = SSRC.to_be_bytes().to_vec();
    sr.extend_from_slice(&0xe9a5_5b00_4000_0000u64.to_be_bytes()); // NTP
    sr.extend_from_slice(&160_160u32.to_be_bytes());
    sr.extend_from_slice(&1001u32.to_be_bytes());
    sr.extend_from_slice(&160_160u32.to_be_bytes());
    sr.extend_from_slice(&block.to_bytes());
    let mut rtcp_sr_sdes = Vec::new();
    rtcp_packet(1, rtcp::SR, &sr, &mut rtcp_sr_sdes);
    rtcp_packet(
        1,
        rtcp::SDES,
        &sdes_cname(SSRC, b"alice@sbe-a.example.net"),
        &mut rtcp_sr_sdes,
    );

    let mut rr = 0x0bad_cafeu32.to_be_bytes().to_vec();
    rr.extend_from_slice(
        &ReportBlock {
            ssrc: SSRC,
            ..block
        }
        .to_bytes(),
    );
    let reason = b"session terminated";
    let mut bye = 0x0bad_cafeu32.to_be_bytes().to_vec();
    bye.push(u8::try_from(reason.len()).expect("short reason"));
    bye.extend_from_slice(reason);
    while bye.len() % 4 != 0 {
        bye.push(0);
    }
    let mut rtcp_rr_bye = Vec::new();
    rtcp_packet(1, rtcp::RR, &rr, &mut rtcp_rr_bye);
    rtcp_packet(1, rtcp::BYE, &bye, &mut rtcp_rr_bye);

    let mut app = 0x0bad_cafeu32.to_be_bytes().to_vec();
    app.extend_from_slice(b"SPMT");
    app.extend_from_slice(b"peering!");
    let mut rtcp_app = Vec::new();
    rtcp_packet(0, rtcp::RR, &0x0bad_cafeu32.to_be_bytes(), &mut rtcp_app);
    rtcp_packet(1, rtcp::APP, &app, &mut rtcp_app);

    let protect = |name: &str, rtp: &[u8]| {
        fuzzing::test_context(profile_of(name))
            .protect_rtp(rtp)
            .expect("protect seed")
    };
    let protect_rtcp = |rtcp: &[u8]| {
        fuzzing::test_context(SrtpProfile::Aes128CmHmacSha1_80)
            .protect_rtcp(rtcp)
            .expect("protect seed")
    };
    vec![
        ("srtp-pcmu-80.bin", protect("srtp-pcmu-80.bin", &rtp_pcmu)),
        ("srtp-pcmu-32.bin", protect("srtp-pcmu-32.bin", &rtp_pcmu)),
        (
            "srtp-ext-one-byte-80.bin",
            protect("srtp-ext-one-byte-80.bin", &rtp_one),
        ),
        (
            "srtp-padding-80.bin",
            protect("srtp-padding-80.bin", &rtp_pad),
        ),
        ("srtcp-sr-sdes.bin", protect_rtcp(&rtcp_sr_sdes)),
        ("srtcp-rr-bye-reason.bin", protect_rtcp(&rtcp_rr_bye)),
        ("rtp-pcmu.bin", rtp_pcmu),
        ("rtp-pcmu-csrc.bin", rtp_csrc),
        ("rtp-ext-one-byte.bin", rtp_one),
        ("rtp-ext-two-byte.bin", rtp_two),
        ("rtp-padding.bin", rtp_pad),
        ("rtcp-sr-sdes.bin", rtcp_sr_sdes),
        ("rtcp-rr-bye-reason.bin", rtcp_rr_bye),
        ("rtcp-rr-app.bin", rtcp_app),
    ]
}

#[test]
#[ignore = "writes corpora/rtp; run explicitly to regenerate the seeds"]
fn write_seed_corpus() {
    let dir = corpora().join("rtp");
    fs::create_dir_all(&dir).expect("mkdir corpora/rtp");
    for (name, bytes) in seeds() {
        fs::write(dir.join(name), bytes).expect("write seed");
    }
}

#[test]
fn seed_files_match_generator() {
    let dir = corpora().join("rtp");
    for (name, bytes) in seeds() {
        let on_disk = fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(on_disk, bytes, "{name} differs from the generator");
    }
}

#[test]
fn seed_files_parse_as_their_kind() {
    let mut counts = [0usize; 4];
    let mut entries: Vec<_> = fs::read_dir(corpora().join("rtp"))
        .expect("corpora/rtp")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .collect();
    entries.sort();
    for path in entries {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("utf-8 name")
            .to_owned();
        let data = fs::read(&path).expect("read seed");
        if name.starts_with("rtp-") {
            RtpPacket::parse(&data).unwrap_or_else(|e| panic!("{name}: {e}"));
            fuzzing::rtp_parse(&data);
            counts[0] += 1;
        } else if name.starts_with("rtcp-") {
            validate_compound(&data).unwrap_or_else(|e| panic!("{name}: {e}"));
            fuzzing::rtcp_parse(&data);
            counts[1] += 1;
        } else if name.starts_with("srtp-") {
            let plain = fuzzing::test_context(profile_of(&name))
                .unprotect_rtp(&data)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            RtpPacket::parse(&plain).unwrap_or_else(|e| panic!("{name} inner RTP: {e}"));
            fuzzing::srtp_unprotect(&data);
            counts[2] += 1;
        } else if name.starts_with("srtcp-") {
            let plain = fuzzing::test_context(profile_of(&name))
                .unprotect_rtcp(&data)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            validate_compound(&plain).unwrap_or_else(|e| panic!("{name} inner RTCP: {e}"));
            fuzzing::srtp_unprotect(&data);
            counts[3] += 1;
        } else {
            panic!("{name}: seed names start with rtp-, rtcp-, srtp- or srtcp-");
        }
    }
    assert!(counts.iter().all(|&n| n >= 2), "seeds per kind: {counts:?}");
}

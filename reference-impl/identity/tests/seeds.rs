//! Seeds of the `identity_verify` fuzz target (corpora/identity/) and the
//! replay of its findings (corpora/regressions/identity_verify/).
//!
//! The seeds are a self-signed signer's certificate followed by requests
//! it signed (valid, stale, tampered, for another caller) and ones without
//! a usable Identity. Keys are fresh each time they are written, so the
//! files are written on demand:
//! `cargo test -p speermint-identity --test seeds -- --ignored write_seed_files`.

use rcgen::{CertificateParams, KeyPair, PKCS_ECDSA_P256_SHA256};
use speermint_corpora::replay;
use speermint_identity::fuzzing::{SEED_INFO, SEED_NOW, identity_verify};
use speermint_identity::{Claims, Party, SigningKey};

fn request(identity: Option<&str>) -> String {
    let mut s = String::from(
        "INVITE sip:+15105550200@ssp.example SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nMax-Forwards: 70\r\nFrom: <sip:alice@peer.example>;tag=1\r\nTo: <sip:+15105550200@ssp.example;user=phone>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n",
    );
    if let Some(v) = identity {
        s.push_str(&format!("Identity: {v}\r\n"));
    }
    s.push_str("Content-Length: 0\r\n\r\n");
    s
}

/// The compact form of a full-form Identity value: the payload left out.
fn compact(full: &str) -> String {
    let (jws, params) = full.split_once(';').unwrap();
    let parts: Vec<&str> = jws.split('.').collect();
    format!("{}..{};{params}", parts[0], parts[2])
}

fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = CertificateParams::new(vec!["peer.example".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let der = cert.der().to_vec();
    let signer = SigningKey::from_pkcs8(&key.serialize_der(), SEED_INFO).unwrap();
    let claims = Claims {
        orig: Party::Uri("sip:alice@peer.example".into()),
        dest: Party::Tn("15105550200".into()),
        iat: SEED_NOW,
    };
    let valid = signer.sign(&claims).unwrap();
    let stale = signer
        .sign(&Claims {
            iat: SEED_NOW - 600,
            ..claims.clone()
        })
        .unwrap();
    let mallory = signer
        .sign(&Claims {
            orig: Party::Uri("sip:mallory@peer.example".into()),
            ..claims.clone()
        })
        .unwrap();
    // The certificate, padded to a multiple of eight bytes.
    let n = der.len().div_ceil(8);
    let mut head = vec![u8::try_from(n).expect("a P-256 certificate is short")];
    head.extend_from_slice(&der);
    head.resize(1 + n * 8, 0);
    let with = |identity: Option<&str>| {
        let mut v = head.clone();
        v.extend_from_slice(request(identity).as_bytes());
        v
    };
    vec![
        ("valid.bin", with(Some(&valid))),
        ("stale.bin", with(Some(&stale))),
        ("other-caller.bin", with(Some(&mallory))),
        ("compact.bin", with(Some(&compact(&valid)))),
        ("missing.bin", with(None)),
    ]
}

#[test]
#[ignore = "writes corpora/identity; run when the seeds change"]
fn write_seed_files() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpora/identity");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in seeds() {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

/// What the target's verifier says of a seed.
fn verdict(bytes: &[u8]) -> Result<Claims, u16> {
    let n = usize::from(bytes[0]) * 8;
    let (cert, msg) = bytes[1..].split_at(n);
    let m = speermint_sip::Message::parse(msg).unwrap();
    let creds = speermint_identity::Credentials {
        trust_anchors: vec![cert.to_vec()],
        certs: vec![(SEED_INFO.to_owned(), cert.to_vec())],
    };
    speermint_identity::verify_request(&m, &creds, SEED_NOW, 60).map_err(|f| f.status())
}

#[test]
fn fresh_seeds_pass_the_target_with_the_verdicts_they_stand_for() {
    let want = [
        ("valid.bin", None),
        ("stale.bin", Some(403)),
        ("other-caller.bin", Some(438)),
        ("compact.bin", Some(437)),
        ("missing.bin", Some(428)),
    ];
    for ((name, bytes), (want_name, want)) in seeds().into_iter().zip(want) {
        assert_eq!(name, want_name);
        identity_verify(&bytes);
        assert_eq!(verdict(&bytes).err(), want, "{name}");
    }
}

#[test]
fn committed_seeds_and_findings_replay() {
    assert!(replay("identity", identity_verify) >= 5);
    replay("regressions/identity_verify", identity_verify);
}

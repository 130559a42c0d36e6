//! Fuzz entry points, shared by the cargo-fuzz shims in `fuzz/` and by the
//! regression replay in `cargo test`. Each asserts invariants, so a crash
//! means a real defect, not just a panic.

use crate::rtcp::{self, RtcpPacket};
use crate::srtp::{SrtpConfig, SrtpContext, SrtpProfile};
use crate::{RtpHeader, RtpPacket, is_rtcp, validate_compound};

/// Master key of the fixed test context: RFC 3711 Appendix B.3's.
pub const TEST_MASTER_KEY: [u8; 16] = [
    0xE1, 0xF9, 0x7A, 0x0D, 0x3E, 0x01, 0x8B, 0xE0, 0xD6, 0x4F, 0xA3, 0x2C, 0x06, 0xDE, 0x41, 0x39,
];
/// Master salt of the fixed test context: RFC 3711 Appendix B.3's.
pub const TEST_MASTER_SALT: [u8; 14] = [
    0x0E, 0xC6, 0x75, 0xAD, 0x49, 0x8A, 0xFE, 0xEB, 0xB6, 0x96, 0x0B, 0x3A, 0xAB, 0xE6,
];

/// A fresh context keyed with [`TEST_MASTER_KEY`] and [`TEST_MASTER_SALT`].
pub fn test_context(profile: SrtpProfile) -> SrtpContext {
    match SrtpContext::new(SrtpConfig::new(profile, TEST_MASTER_KEY, TEST_MASTER_SALT)) {
        Ok(ctx) => ctx,
        Err(e) => unreachable!("default test config rejected: {e}"),
    }
}

/// Raw bytes into [`RtpPacket::parse`]. Invariants: no panic; error offsets
/// lie within the input; an accepted packet re-serializes from its parsed
/// fields to the same bytes, through both [`RtpPacket::write`] and an owned
/// [`RtpHeader`]; RFC 8285 element errors lie within the extension.
pub fn rtp_parse(data: &[u8]) {
    let _ = is_rtcp(data);
    let p = match RtpPacket::parse(data) {
        Ok(p) => p,
        Err(e) => {
            assert!(e.offset() <= data.len(), "offset {e:?} past {}", data.len());
            return;
        }
    };
    let mut again = Vec::with_capacity(data.len());
    p.write(&mut again);
    assert_eq!(again, data, "RTP re-serialization differs");
    assert_eq!(
        p.header_len() + p.payload().len() + p.padding_len(),
        data.len()
    );
    assert_eq!(p.csrcs().count(), usize::from(p.csrc_count()));
    let header: RtpHeader = p.to_header();
    assert_eq!(header.encoded_len(), p.header_len());
    if p.padding()
        .iter()
        .take(p.padding_len().saturating_sub(1))
        .all(|&b| b == 0)
    {
        let padding = u8::try_from(p.padding_len()).unwrap_or(0);
        let built = header
            .to_bytes(p.payload(), padding)
            .unwrap_or_else(|e| panic!("parsed header does not build: {e}"));
        assert_eq!(built, data, "RtpHeader rebuild differs");
    }
    if let Some(ext) = p.extension() {
        let start = ext.offset();
        let end = start + ext.data().len();
        assert!(end <= p.header_len());
        for el in ext.elements() {
            match el {
                Ok(el) => assert!(el.data.len() <= ext.data().len()),
                Err(e) => assert!(
                    (start..end).contains(&e.offset()),
                    "element error {e:?} outside {start}..{end}"
                ),
            }
        }
    }
}

/// Raw bytes through the compound RTCP iterator and every typed view.
/// Invariants: no panic; without error the packets' lengths add up to the
/// input exactly; an error is the last item and its offset lies within the
/// input; [`validate_compound`] agrees with the iterator on errors.
pub fn rtcp_parse(data: &[u8]) {
    let mut consumed = 0usize;
    let mut error = None;
    let mut first_type = None;
    for item in rtcp::compound(data) {
        assert!(error.is_none(), "item after an error");
        match item {
            Ok(p) => {
                assert_eq!(p.raw().offset(), consumed);
                consumed += p.as_bytes().len();
                first_type.get_or_insert(p.packet_type());
                exercise(&p);
            }
            Err(e) => {
                assert!(e.offset() <= data.len(), "offset {e:?} past {}", data.len());
                assert!(e.offset() >= consumed, "error {e:?} before packet start");
                error = Some(e);
            }
        }
    }
    match (error, validate_compound(data)) {
        (None, v) => {
            assert_eq!(consumed, data.len(), "compound not fully consumed");
            if let Err(e) = v {
                assert!(e.offset() <= data.len());
                if data.is_empty() {
                    assert!(matches!(e, rtcp::RtcpError::EmptyCompound { .. }));
                }
            } else {
                assert!(matches!(first_type, Some(rtcp::SR | rtcp::RR)));
            }
        }
        (Some(_), v) => assert!(v.is_err(), "validate_compound accepted bad input"),
    }
}

fn exercise(p: &RtcpPacket<'_>) {
    let raw = p.raw();
    assert_eq!(
        4 + raw.body().len() + raw.padding().len(),
        raw.as_bytes().len()
    );
    assert_eq!(
        raw.as_bytes().len(),
        4 * (usize::from(p.header().length) + 1)
    );
    match p {
        RtcpPacket::SenderReport(sr) => {
            let _ = (sr.ssrc(), sr.ntp_timestamp(), sr.rtp_timestamp());
            let _ = (sr.packet_count(), sr.octet_count(), sr.extension());
            assert_eq!(sr.report_blocks().count(), usize::from(p.header().count));
        }
        RtcpPacket::ReceiverReport(rr) => {
            let _ = (rr.ssrc(), rr.extension());
            assert_eq!(rr.report_blocks().count(), usize::from(p.header().count));
        }
        RtcpPacket::SourceDescription(sdes) => {
            let mut n = 0;
            for chunk in sdes.chunks() {
                n += 1;
                let _ = chunk.ssrc();
                for item in chunk.items() {
                    assert_ne!(item.item_type, 0);
                    let _ = item.kind();
                }
            }
            assert_eq!(n, usize::from(p.header().count));
        }
        RtcpPacket::Goodbye(bye) => {
            assert_eq!(bye.ssrcs().count(), usize::from(p.header().count));
            let _ = bye.reason();
        }
        RtcpPacket::App(app) => {
            let _ = (app.subtype(), app.ssrc(), app.name(), app.data());
        }
        _ => {}
    }
}

/// Raw bytes into SRTP and SRTCP unprotect under the fixed test key, for
/// both profiles. Invariants: no panic; anything accepted is shorter than
/// the input by exactly the tag (and SRTCP trailer); if the input parses as
/// RTP, protect then unprotect gives it back, and likewise for input of at
/// least 8 bytes through SRTCP.
pub fn srtp_unprotect(data: &[u8]) {
    for profile in [
        SrtpProfile::Aes128CmHmacSha1_80,
        SrtpProfile::Aes128CmHmacSha1_32,
    ] {
        let mut rx = test_context(profile);
        if let Ok(plain) = rx.unprotect_rtp(data) {
            assert_eq!(plain.len() + profile.rtp_tag_len(), data.len());
            // Accepted once: the same bytes are now a replay.
            assert!(rx.unprotect_rtp(data).is_err(), "SRTP replay accepted");
        }
        if let Ok(plain) = rx.unprotect_rtcp(data) {
            assert_eq!(plain.len() + 4 + profile.rtcp_tag_len(), data.len());
            assert!(rx.unprotect_rtcp(data).is_err(), "SRTCP replay accepted");
        }
        if RtpPacket::parse(data).is_ok() {
            let mut tx = test_context(profile);
            let mut rx = test_context(profile);
            let srtp = tx
                .protect_rtp(data)
                .unwrap_or_else(|e| panic!("protect of valid RTP failed: {e}"));
            let back = rx
                .unprotect_rtp(&srtp)
                .unwrap_or_else(|e| panic!("unprotect of own SRTP failed: {e}"));
            assert_eq!(back, data, "SRTP round trip differs");
        }
        if data.len() >= 8 {
            let mut tx = test_context(profile);
            let mut rx = test_context(profile);
            let srtcp = tx
                .protect_rtcp(data)
                .unwrap_or_else(|e| panic!("protect of RTCP failed: {e}"));
            let back = rx
                .unprotect_rtcp(&srtcp)
                .unwrap_or_else(|e| panic!("unprotect of own SRTCP failed: {e}"));
            assert_eq!(back, data, "SRTCP round trip differs");
        }
    }
}

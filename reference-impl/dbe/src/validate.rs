//! The validity checks a relay can make on a packet it cannot decrypt
//! (RFC 3550 Appendix A.1 and A.2, narrowed to the clear parts for SRTP
//! and SRTCP, RFC 3711 §3.1 and §3.4).

use crate::control::Protection;
use speermint_rtp::rtcp::{RR, SR};
use speermint_rtp::{RtpPacket, clear_header_len, srtp::SRTCP_TAG_LEN, validate_compound};

/// What a packet is, by the port it came to and its second octet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Rtp,
    Rtcp,
}

/// Length of the SRTCP trailer before the MKI and tag: E flag and index.
const SRTCP_INDEX_LEN: usize = 4;
/// The clear prefix of SRTCP: the first packet's header and SSRC.
const SRTCP_CLEAR_LEN: usize = 8;

/// Whether `packet` passes the checks for its kind and protection.
///
/// - Plain RTP: [`RtpPacket::parse`], version 2, CSRC list, header
///   extension and padding count within the packet (A.1). The payload
///   type is not checked against the SDP's: the DBE is not told them.
/// - SRTP: the same on the clear header only ([`clear_header_len`]), and
///   room for the authentication tag after it. Padding is encrypted.
/// - Plain RTCP: [`validate_compound`] (A.2): version 2, first packet SR
///   or RR, lengths adding up to the datagram, padding only on the last,
///   and each packet's typed body within its length. Reduced-size RTCP
///   (RFC 5506) is not relayed.
/// - SRTCP: the clear first header (version 2, SR or RR, its length within
///   what precedes the trailer) and room for the index and tag.
pub(crate) fn is_valid(packet: &[u8], kind: Kind, protection: Protection) -> bool {
    match (kind, protection) {
        (Kind::Rtp, Protection::Rtp) => RtpPacket::parse(packet).is_ok(),
        (Kind::Rtp, Protection::Srtp(profile)) => {
            clear_header_len(packet).is_ok_and(|hlen| packet.len() >= hlen + profile.rtp_tag_len())
        }
        (Kind::Rtcp, Protection::Rtp) => validate_compound(packet).is_ok(),
        (Kind::Rtcp, Protection::Srtp(_)) => srtcp_clear_header_ok(packet),
    }
}

fn srtcp_clear_header_ok(packet: &[u8]) -> bool {
    let Some(&[first, packet_type, len_hi, len_lo]) = packet.get(..4) else {
        return false;
    };
    let protected_len = SRTCP_INDEX_LEN + SRTCP_TAG_LEN;
    let first_len = 4 * (usize::from(u16::from_be_bytes([len_hi, len_lo])) + 1);
    first >> 6 == 2
        && matches!(packet_type, SR | RR)
        && first_len >= SRTCP_CLEAR_LEN
        && packet.len() >= first_len + protected_len
}

#[cfg(test)]
mod tests {
    use super::*;
    use speermint_rtp::SrtpProfile;
    use speermint_rtp::fuzzing::test_context;

    const SRTP: Protection = Protection::Srtp(SrtpProfile::Aes128CmHmacSha1_80);

    fn rtp() -> Vec<u8> {
        let mut p = vec![0x80, 0, 0, 1, 0, 0, 0, 160, 0xca, 0xfe, 0xba, 0xbe];
        p.extend_from_slice(&[0xd5; 160]);
        p
    }

    fn rr() -> Vec<u8> {
        vec![0x80, RR, 0, 1, 0xca, 0xfe, 0xba, 0xbe]
    }

    #[test]
    fn plain_rtp_and_rtcp_follow_appendix_a() {
        assert!(is_valid(&rtp(), Kind::Rtp, Protection::Rtp));
        assert!(is_valid(&rr(), Kind::Rtcp, Protection::Rtp));
        let mut v1 = rtp();
        v1[0] = 0x40;
        assert!(!is_valid(&v1, Kind::Rtp, Protection::Rtp));
        assert!(!is_valid(&rtp()[..11], Kind::Rtp, Protection::Rtp));
        let mut csrcs = rtp();
        csrcs.truncate(20);
        csrcs[0] = 0x8f; // 15 CSRCs, 60 bytes, in 8
        assert!(!is_valid(&csrcs, Kind::Rtp, Protection::Rtp));
        let mut ext = rtp();
        ext[0] = 0x90;
        ext[12..16].copy_from_slice(&[0xbe, 0xde, 0xff, 0xff]);
        assert!(!is_valid(&ext, Kind::Rtp, Protection::Rtp));
        let mut pad = rtp();
        pad[0] = 0xa0;
        *pad.last_mut().unwrap() = 200; // more than the 160 after the header
        assert!(!is_valid(&pad, Kind::Rtp, Protection::Rtp));
        let mut long = rr();
        long[3] = 9;
        assert!(!is_valid(&long, Kind::Rtcp, Protection::Rtp));
        let mut sdes_first = rr();
        sdes_first[1] = 202;
        sdes_first[0] = 0x80;
        assert!(!is_valid(&sdes_first, Kind::Rtcp, Protection::Rtp));
    }

    #[test]
    fn srtp_is_checked_on_its_clear_parts_only() {
        let mut ctx = test_context(SrtpProfile::Aes128CmHmacSha1_80);
        let mut padded = rtp();
        padded[0] = 0xa0;
        *padded.last_mut().unwrap() = 4;
        let srtp = ctx.protect_rtp(&padded).unwrap();
        // The padding count is encrypted: as plain RTP it reads as noise.
        assert!(is_valid(&srtp, Kind::Rtp, SRTP));
        assert!(
            !is_valid(&srtp[..21], Kind::Rtp, SRTP),
            "no room for the tag"
        );
        let srtcp = ctx.protect_rtcp(&rr()).unwrap();
        assert!(is_valid(&srtcp, Kind::Rtcp, SRTP));
        assert!(!is_valid(&srtcp[..srtcp.len() - 1], Kind::Rtcp, SRTP));
        let mut lying = srtcp.clone();
        lying[3] = 40;
        assert!(!is_valid(&lying, Kind::Rtcp, SRTP));
        let mut bye_first = srtcp;
        bye_first[1] = 203;
        assert!(!is_valid(&bye_first, Kind::Rtcp, SRTP));
    }
}

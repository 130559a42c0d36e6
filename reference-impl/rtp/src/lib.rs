//! `speermint-rtp`: the RTP/RTCP codec and SRTP protection of the speermint
//! reference Media Function. Sans-IO: bytes in, bytes (or typed views) out.
//!
//! - [`RtpPacket`] is a zero-copy view of an RTP data packet (RFC 3550 §5.1)
//!   with RFC 8285 header-extension elements; [`RtpHeader`] builds one.
//! - [`rtcp`] iterates compound RTCP packets (RFC 3550 §6) into typed views;
//!   [`is_rtcp`] demultiplexes RTP and RTCP on one port (RFC 5761 §4).
//! - [`srtp`] protects and unprotects RTP and RTCP (RFC 3711) with
//!   AES-CM and HMAC-SHA1, key derivation, ROC estimation and replay lists.
//! - [`fuzzing`] holds the fuzz entry points with their invariants.
//!
//! Parsers never panic on input: every fault is a typed error carrying the
//! byte offset where it was found.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod bytes;
pub mod fuzzing;
pub mod rtcp;
mod rtp;
pub mod srtp;

pub use rtcp::{RtcpError, RtcpPacket, compound, validate_compound};
pub use rtp::{
    BuildError, Csrcs, ExtensionElement, ExtensionElements, ExtensionForm, FIXED_HEADER_LEN,
    HeaderExtension, ONE_BYTE_PROFILE, RtpError, RtpExtension, RtpHeader, RtpPacket,
    TWO_BYTE_PROFILE, clear_header_len,
};
pub use srtp::{SrtpConfig, SrtpContext, SrtpError, SrtpProfile};

/// RFC 5761 §4 demultiplexing: `true` when the packet, read as RTP, has a
/// payload type in 64..=95 once the marker bit is masked off, i.e. its
/// second octet is an RTCP packet type in 192..=223 (or 64..=95, which RTP
/// must not use on a muxed port). Only the first two bytes are read; shorter
/// input is not RTCP.
pub fn is_rtcp(packet: &[u8]) -> bool {
    matches!(packet.get(1), Some(b) if (64..=95).contains(&(b & 0x7f)))
}

#[cfg(test)]
mod tests {
    use super::is_rtcp;

    #[test]
    fn demux_rfc5761() {
        assert!(is_rtcp(&[0x80, 200])); // SR
        assert!(is_rtcp(&[0x81, 201])); // RR
        assert!(is_rtcp(&[0x80, 223]));
        assert!(is_rtcp(&[0x80, 192]));
        assert!(!is_rtcp(&[0x80, 0])); // PCMU
        assert!(!is_rtcp(&[0x80, 0x80])); // PCMU with marker
        assert!(!is_rtcp(&[0x80, 96]));
        assert!(!is_rtcp(&[0x80, 224]));
        assert!(!is_rtcp(&[0x80, 191]));
        assert!(!is_rtcp(&[0x80]));
        assert!(!is_rtcp(&[]));
    }
}

//! How a reference DBE is set up: addresses, port range, limits, timers,
//! faults.

use crate::control::Sides;
use speermint_fault::Faults;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::time::Duration;

/// How fast one side of one stream may send (RFC 6404 §4.9: flooding of
/// the MF is met by policing the rate). Two token buckets per side of a
/// stream, one of packets and one of bytes; a packet passes when both
/// hold enough. Only packets from the negotiated source that pass the
/// validity checks reach the buckets, so a stranger's flood cannot spend
/// the genuine stream's budget.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MediaLimits {
    /// Packets per second.
    pub packets_per_sec: f64,
    /// Packets that may come at once after a quiet spell.
    pub packet_burst: f64,
    /// Bytes per second (UDP payload).
    pub bytes_per_sec: f64,
    /// Bytes that may come at once after a quiet spell.
    pub byte_burst: f64,
}

impl Default for MediaLimits {
    /// Room for an HD video stream: 2,000 packets/s and 20 Mbit/s with a
    /// key frame's burst (400 packets, 512 KiB); an audio stream sends 50
    /// packets/s of about 200 bytes.
    fn default() -> Self {
        MediaLimits {
            packets_per_sec: 2_000.0,
            packet_burst: 400.0,
            bytes_per_sec: 2_500_000.0,
            byte_burst: 512.0 * 1024.0,
        }
    }
}

/// Configuration of the Data Border Element.
#[derive(Debug, Clone)]
pub struct DbeConfig {
    /// The local address of each side's relay ports (the same address
    /// twice for a one-armed DBE).
    pub addresses: Sides<IpAddr>,
    /// The UDP ports relays are taken from. Each stream takes two pairs
    /// (an even RTP port and the odd RTCP port after it, RFC 3550 §11), one
    /// per side, also when RTCP ends up multiplexed: the offer that asks
    /// for `a=rtcp-mux` must still work without it (RFC 5761 §5.1.1). An
    /// odd start is rounded up, an odd end down: N ports carry N/4 streams.
    pub ports: Range<u16>,
    /// Most calls with a stream at once.
    pub max_calls: usize,
    /// Most streams (`m=` lines) per call.
    pub max_streams_per_call: usize,
    /// Longest call key accepted, in bytes (bounds the state a call keeps).
    pub max_call_len: usize,
    /// Each side's rate limit, per stream.
    pub limits: MediaLimits,
    /// A stream with both sides negotiated ends after this long without a
    /// valid packet from a negotiated source (RTCP counts: it keeps flowing
    /// while a call is on hold, RFC 3264 §8.4). 60 s, as rtpproxy and
    /// rtpengine default to.
    pub inactivity_timeout: Duration,
    /// A stream whose other side has not been negotiated yet (still
    /// ringing) ends after this long without activity or command: longer
    /// than the 3 minutes an INVITE may ring (RFC 3261 §16.6 Timer C), so
    /// only streams the SBE forgot to release end so.
    pub setup_timeout: Duration,
    /// Where the `media-to-third-address` fault sends its copies.
    pub eavesdropper: SocketAddr,
    /// The misbehaviours switched on (only the DBE's, `Layer::Dbe`, act
    /// here).
    pub faults: Faults,
}

impl Default for DbeConfig {
    fn default() -> Self {
        DbeConfig {
            addresses: Sides {
                a: IpAddr::V4(Ipv4Addr::LOCALHOST),
                b: IpAddr::V4(Ipv4Addr::LOCALHOST),
            },
            ports: 30_000..40_000,
            max_calls: 10_000,
            max_streams_per_call: 8,
            max_call_len: 256,
            limits: MediaLimits::default(),
            inactivity_timeout: Duration::from_secs(60),
            setup_timeout: Duration::from_secs(200),
            eavesdropper: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 66)), 40_000),
            faults: Faults::NONE,
        }
    }
}

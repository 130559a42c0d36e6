//! What the controlling SBE says to the DBE ([`Command`]) and hears back
//! ([`Event`]), and the small types both carry.
//!
//! The SBE and the DBE are separate nodes, possibly on separate hosts (RFC
//! 6406 §5: a DBE "may be controlled by the SBE"; decomposed SBCs speak
//! H.248 or rtpengine's NG protocol between them). So the allocation is
//! not a function call returning ports: it is a [`Command::Allocate`] in
//! and an [`Event::Allocated`] (or [`Event::Refused`]) out, the same
//! Event/Command round trip the SBE already makes with its LUF/LRF. A
//! driver that hosts both nodes in one process hands the event to the SBE
//! as a command before the SBE's next input, so nothing is lost by the
//! indirection, and the same SBE works against a remote DBE.

use speermint_rtp::SrtpProfile;
use std::net::SocketAddr;
use std::ops::{Index, IndexMut};

/// One of the two legs a stream is relayed between. The DBE gives each its
/// own local port pair; which network is `A` is the controller's choice
/// (say `A` faces the peer and `B` the home network, each with its own
/// local address in [`crate::DbeConfig::addresses`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    /// The first leg.
    A,
    /// The second leg.
    B,
}

impl Side {
    /// The leg media from this one goes to.
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

/// A value per [`Side`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Sides<T> {
    /// Side A's.
    pub a: T,
    /// Side B's.
    pub b: T,
}

impl<T> Sides<T> {
    /// `f(Side::A)` and `f(Side::B)`.
    pub fn from_fn(mut f: impl FnMut(Side) -> T) -> Self {
        Sides {
            a: f(Side::A),
            b: f(Side::B),
        }
    }
}

impl<T> Index<Side> for Sides<T> {
    type Output = T;
    fn index(&self, side: Side) -> &T {
        match side {
            Side::A => &self.a,
            Side::B => &self.b,
        }
    }
}

impl<T> IndexMut<Side> for Sides<T> {
    fn index_mut(&mut self, side: Side) -> &mut T {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }
}

/// Where one side's endpoint receives media, as its SDP said: the `c=`
/// address with the `m=` port for RTP, and for RTCP the next port (RFC
/// 3550 §11), the `a=rtcp` attribute (RFC 3605) or, once `a=rtcp-mux` is
/// agreed (RFC 5761 §5.1.1), the RTP address itself. It is also the only
/// address media from that side is accepted from: endpoints send from
/// where they receive (symmetric RTP, RFC 4961), and a peering DBE faces
/// the other SSP's border in a common address space (RFC 6406 §7), with no
/// NAT between that would make it learn another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Remote {
    /// RTP address.
    pub rtp: SocketAddr,
    /// RTCP address; equal to `rtp` when RTCP is multiplexed.
    pub rtcp: SocketAddr,
}

impl Remote {
    /// RTP at `rtp`, RTCP on the next port (RFC 3550 §11). An RTP port of
    /// 65535 has no next port: RTCP is then taken as multiplexed.
    pub fn pair(rtp: SocketAddr) -> Self {
        let rtcp = match rtp.port().checked_add(1) {
            Some(p) => SocketAddr::new(rtp.ip(), p),
            None => rtp,
        };
        Remote { rtp, rtcp }
    }

    /// RTP and RTCP on one address (`a=rtcp-mux`, RFC 5761), once both
    /// the offer and the answer carry it: until the answer, the offerer
    /// must still be taken as a [`Remote::pair`] (RFC 5761 §5.1.1), and a
    /// second [`crate::Command::Negotiated`] after the answer makes it
    /// multiplexed.
    pub fn muxed(rtp: SocketAddr) -> Self {
        Remote { rtp, rtcp: rtp }
    }

    /// Whether RTCP shares the RTP address (RFC 5761).
    pub fn is_muxed(&self) -> bool {
        self.rtp == self.rtcp
    }
}

/// How the stream's packets are protected, from the `m=` protocol
/// (`RTP/AVP` or `RTP/SAVP`, `RTP/SAVPF`) and `a=crypto` (RFC 4568). It
/// decides how much of a packet the DBE can check: the whole of plain RTP
/// and RTCP, but only the clear header of SRTP and SRTCP, whose padding is
/// encrypted and whose tag only the endpoints can verify (RFC 3711 §3.1,
/// §3.4). The DBE never holds keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// Plain RTP/RTCP.
    Rtp,
    /// SRTP/SRTCP with this crypto suite (it sets the tag lengths).
    Srtp(SrtpProfile),
}

/// A local RTP port of the DBE and its RTCP companion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RelayPorts {
    /// The address to put in the SDP (`c=` and `m=`) the other side sees.
    pub rtp: SocketAddr,
    /// RTP port + 1 (RFC 3550 §11); unused once the side multiplexes.
    pub rtcp: SocketAddr,
}

/// What the controlling SBE asks of the DBE. Calls are named by the SBE's
/// key (its Call-ID, say); streams by their `m=` line index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Reserve a relay for one media stream: an RTP/RTCP port pair per
    /// side, answered by [`Event::Allocated`] or [`Event::Refused`].
    /// Asking again for a live stream (a retransmitted or re-INVITE) gives
    /// the same ports and takes the new `protection`.
    Allocate {
        /// The call.
        call: String,
        /// The `m=` line index.
        stream: u16,
        /// RTP or SRTP.
        protection: Protection,
    },
    /// One side's SDP (offer or answer, or a later re-offer) named this
    /// address for the stream: media to that side goes there, and media
    /// from that side is accepted only from there. Refused when the stream
    /// is not allocated or the address is unusable.
    Negotiated {
        /// The call.
        call: String,
        /// The `m=` line index.
        stream: u16,
        /// Whose SDP.
        side: Side,
        /// The address it named.
        remote: Remote,
    },
    /// One stream of a call is over (its `m=` port set to 0): ports freed,
    /// [`Event::StreamEnded`] with the final counters.
    ReleaseStream {
        /// The call.
        call: String,
        /// The `m=` line index.
        stream: u16,
    },
    /// The call is over (BYE, or the INVITE failed): every stream's ports
    /// freed, an [`Event::StreamEnded`] for each.
    Release {
        /// The call.
        call: String,
    },
    /// An [`Event::Counters`] for each stream of the call.
    Report {
        /// The call.
        call: String,
    },
}

/// Why a command was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Every port pair of the configured range is in use.
    NoPorts,
    /// [`crate::DbeConfig::max_calls`] calls have streams already.
    TooManyCalls,
    /// The call has [`crate::DbeConfig::max_streams_per_call`] streams.
    TooManyStreams,
    /// The call key is longer than [`crate::DbeConfig::max_call_len`].
    CallKeyTooLong,
    /// No such stream is allocated.
    UnknownStream,
    /// Unspecified address, port 0, or an address family the side's local
    /// address cannot send to.
    UnusableAddress,
    /// The address is one of the DBE's own relay ports: relaying there
    /// would loop media through the DBE.
    OwnAddress,
}

/// Why a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// [`Command::Release`] or [`Command::ReleaseStream`].
    Released,
    /// No valid packet from a negotiated source for the inactivity timeout
    /// (or, before both sides were negotiated, for the set-up timeout).
    Timeout,
    /// An RTCP BYE arrived: only under the `accept-unauthenticated-rtcp`
    /// fault. A correct DBE leaves ending calls to signalling, since
    /// anyone can forge an RTCP BYE (RFC 6404 §2.4.2).
    RtcpBye,
}

/// What happened to the packets that arrived on one side's ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Counters {
    /// Relayed to the other side.
    pub relayed: u64,
    /// Bytes of those.
    pub relayed_bytes: u64,
    /// Dropped: not from the address this side's SDP named (or none named
    /// yet). Injection and "RTP Bleed" attempts land here.
    pub stranger: u64,
    /// Dropped: from the named address, but failing the RFC 3550 Appendix
    /// A.1/A.2 checks (or, for SRTP, the clear-header checks).
    pub malformed: u64,
    /// Dropped: over the stream's rate limit.
    pub over_rate: u64,
    /// Dropped: valid and from the named address, but the other side's
    /// SDP has named no address yet.
    pub unrouted: u64,
}

impl Counters {
    /// Every packet counted, relayed or dropped.
    pub fn packets(&self) -> u64 {
        self.relayed + self.stranger + self.malformed + self.over_rate + self.unrouted
    }
}

/// What the DBE reports to its controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// [`Command::Allocate`] succeeded: the ports of each side. The SDP
    /// the SBE sends *to* a side carries *that* side's ports in its `c=`
    /// and `m=`, since that is where that side's endpoint must send: the
    /// offer from A reaches B naming `ports.b`, the answer from B reaches A
    /// naming `ports.a`.
    Allocated {
        /// The call.
        call: String,
        /// The `m=` line index.
        stream: u16,
        /// The relay ports, per side.
        ports: Sides<RelayPorts>,
    },
    /// A command could not be carried out; nothing changed.
    Refused {
        /// The call.
        call: String,
        /// The `m=` line index.
        stream: u16,
        /// Why.
        reason: Refusal,
    },
    /// A stream's ports were freed.
    StreamEnded {
        /// The call.
        call: String,
        /// The `m=` line index.
        stream: u16,
        /// Why.
        reason: EndReason,
        /// Its final counters, per arrival side.
        counters: Sides<Counters>,
    },
    /// Answer to [`Command::Report`], one per live stream.
    Counters {
        /// The call.
        call: String,
        /// The `m=` line index.
        stream: u16,
        /// Counters so far, per arrival side.
        counters: Sides<Counters>,
    },
}

impl std::fmt::Display for Counters {
    /// One line for logs: what was relayed, then each kind of drop.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} relayed ({} bytes), dropped: {} from strangers, {} malformed, {} over rate, {} unrouted",
            self.relayed,
            self.relayed_bytes,
            self.stranger,
            self.malformed,
            self.over_rate,
            self.unrouted
        )
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::NoPorts => "no free port pair",
            Refusal::TooManyCalls => "too many calls with media",
            Refusal::TooManyStreams => "too many streams in the call",
            Refusal::CallKeyTooLong => "call key too long",
            Refusal::UnknownStream => "no such stream",
            Refusal::UnusableAddress => "unusable address",
            Refusal::OwnAddress => "address is one of the relay's own ports",
        })
    }
}

impl std::fmt::Display for EndReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EndReason::Released => "released",
            EndReason::Timeout => "timed out",
            EndReason::RtcpBye => "RTCP BYE",
        })
    }
}

impl std::fmt::Display for Event {
    /// One line per event, naming the call and the `m=` line; side A is
    /// the one towards the peers when the SBE drives the DBE.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Event::Allocated {
                call,
                stream,
                ports,
            } => write!(
                f,
                "call {call} m={stream}: relay ports {}/{} (side A), {}/{} (side B)",
                ports.a.rtp, ports.a.rtcp, ports.b.rtp, ports.b.rtcp
            ),
            Event::Refused {
                call,
                stream,
                reason,
            } => write!(f, "call {call} m={stream}: refused: {reason}"),
            Event::StreamEnded {
                call,
                stream,
                reason,
                counters,
            } => write!(
                f,
                "call {call} m={stream} ended ({reason}): from side A {}; from side B {}",
                counters.a, counters.b
            ),
            Event::Counters {
                call,
                stream,
                counters,
            } => write!(
                f,
                "call {call} m={stream}: from side A {}; from side B {}",
                counters.a, counters.b
            ),
        }
    }
}

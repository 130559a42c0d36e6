//! `speermint-node`: the one shape every element of speermint has.
//!
//! A node is a state machine with no sockets, no clock and no tasks (after
//! quinn-proto's `Connection` and str0m's `Rtc`). Its driver owns those:
//! it hands the node what arrived, with the time, through
//! [`Node::handle_input`], then drains [`Node::poll_output`] and carries
//! out what comes back. Because the time is an argument, the same node runs
//! on loopback sockets against the real clock or on the simulated network
//! against a virtual one, where a 32 s Timer B passes in no wall time.
//!
//! The transport travels with every datagram in and out: a SIP element
//! writes it into its Via (RFC 3261 §18.1.1) and picks retransmission
//! timers by it (§17.1.1.2: none over reliable transports), so a driver
//! that dropped it would be making protocol decisions.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::fmt;
use std::net::SocketAddr;
use std::time::Instant;

/// How bytes travel between two nodes (RFC 3261 §18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// Datagrams: each is one message; loss and duplication are the
    /// receiver's problem.
    Udp,
    /// A byte stream: messages need framing (RFC 3261 §18.3).
    Tcp,
    /// A byte stream inside TLS.
    Tls,
}

impl Transport {
    /// The token of a SIP Via (`UDP`, `TCP`, `TLS`).
    pub fn via_token(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }

    /// Lower-case name, as in `udp:HOST:PORT` targets and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }

    /// Reliable transports deliver in order and retransmit themselves, so a
    /// SIP transaction sets no retransmission timer over them (RFC 3261
    /// §17.1.1.2, §17.1.2.2) and waits no Timer K/J/D (§17.1.2.2, §17.2.2).
    pub fn is_reliable(self) -> bool {
        !matches!(self, Transport::Udp)
    }

    /// Parses `udp`, `tcp` or `tls`, in any case.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "udp" => Some(Transport::Udp),
            "tcp" => Some(Transport::Tcp),
            "tls" => Some(Transport::Tls),
            _ => None,
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The two ends of a datagram or a connection, seen from the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Path {
    /// The node's own address (which of its sockets).
    pub local: SocketAddr,
    /// The far end.
    pub remote: SocketAddr,
    /// How.
    pub transport: Transport,
}

/// Bytes a node wants sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// From which local address, to whom, over what. Over a stream
    /// transport the driver reuses an open connection to `remote` or opens
    /// one (RFC 3261 §18.1.1, RFC 5923).
    pub path: Path,
    /// The bytes: one datagram, or one framed message on a stream.
    pub bytes: Vec<u8>,
}

/// What a driver hands a node.
#[derive(Debug)]
pub enum Input<'a, C> {
    /// One datagram arrived.
    Datagram {
        /// Where it came from and where to.
        path: Path,
        /// Its payload.
        bytes: &'a [u8],
    },
    /// Bytes arrived on a stream connection; the node frames them (it keeps
    /// what it needs per connection). Empty `bytes` with `closed` says the
    /// far end went away.
    StreamData {
        /// The connection.
        path: Path,
        /// The next bytes read from it, in order.
        bytes: &'a [u8],
        /// The connection closed after these bytes.
        closed: bool,
    },
    /// The time the node last asked for ([`Output::Timeout`]) has come.
    Timeout,
    /// Something from the driver's owner: a resolution that finished, a
    /// fault to inject, a call to place.
    Command(C),
}

/// What a node asks of its driver.
#[derive(Debug)]
pub enum Output<E> {
    /// Send these bytes.
    Transmit(Transmit),
    /// Close this stream connection (say, its framing was lost, RFC 3261
    /// §18.3, or it is surplus to the node's bounds).
    Close(Path),
    /// Call [`Node::handle_input`] with [`Input::Timeout`] at this instant,
    /// unless an input comes first. The latest one replaces earlier ones.
    Timeout(Instant),
    /// Something happened that the owner may want to know or act on.
    Event(E),
}

/// An element: SBE, DBE, LUF/LRF, DNS role, a harness role.
///
/// Drivers call [`Node::handle_input`] for each input, then drain
/// [`Node::poll_output`] until it returns `None`. A node never blocks,
/// never reads a clock, and keeps bounded state whatever it is fed.
pub trait Node {
    /// What the owner may ask of it.
    type Command;
    /// What it reports.
    type Event;

    /// Feeds one input at `now`.
    fn handle_input(&mut self, now: Instant, input: Input<'_, Self::Command>);

    /// The next output, if any.
    fn poll_output(&mut self) -> Option<Output<Self::Event>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transports_name_themselves_both_ways() {
        for t in [Transport::Udp, Transport::Tcp, Transport::Tls] {
            assert_eq!(Transport::parse(t.as_str()), Some(t));
            assert_eq!(Transport::parse(t.via_token()), Some(t));
        }
        assert_eq!(Transport::parse("sctp"), None);
        assert!(!Transport::Udp.is_reliable());
        assert!(Transport::Tcp.is_reliable() && Transport::Tls.is_reliable());
    }
}

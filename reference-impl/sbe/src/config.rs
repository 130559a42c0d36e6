//! How a reference SBE is set up: addresses, peers, timers, bounds, faults.

use crate::limit::PeerLimits;
use speermint_fault::Faults;
use speermint_identity::Credentials;
use speermint_node::Transport;
use speermint_sip::Limits;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// RFC 3261 timer base values (§17.1.1.1, table 4), and the waits derived
/// from them per transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// Round-trip estimate, default 500 ms.
    pub t1: Duration,
    /// Longest retransmit interval for non-INVITE requests and INVITE responses, default 4 s.
    pub t2: Duration,
    /// Longest time a message stays in the network, default 5 s.
    pub t4: Duration,
    /// Timer C: how long a proxied INVITE may ring. Over 3 minutes, reset by
    /// every provisional response (RFC 3261 §16.6 step 11, §16.7 step 2).
    pub c: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            c: Duration::from_secs(181),
        }
    }
}

impl Timers {
    /// Timers B and F, and H, J and L: 64·T1.
    pub fn transaction(&self) -> Duration {
        64 * self.t1
    }

    /// Timer D: how long a client INVITE transaction absorbs retransmitted
    /// finals, at least 32 s over UDP, zero over a reliable transport
    /// (RFC 3261 §17.1.1.2).
    pub fn d(&self, t: Transport) -> Duration {
        if t.is_reliable() {
            Duration::ZERO
        } else {
            Duration::from_secs(32).max(self.transaction())
        }
    }

    /// Timer K (client non-INVITE) and Timer I (server INVITE after ACK):
    /// T4 over UDP, zero over a reliable transport (§17.1.2.2, §17.2.1).
    pub fn k(&self, t: Transport) -> Duration {
        if t.is_reliable() {
            Duration::ZERO
        } else {
            self.t4
        }
    }

    /// Timer J: how long a server non-INVITE transaction answers
    /// retransmissions, 64·T1 over UDP, zero over a reliable transport
    /// (§17.2.2).
    pub fn j(&self, t: Transport) -> Duration {
        if t.is_reliable() {
            Duration::ZERO
        } else {
            self.transaction()
        }
    }
}

/// What the element does with RFC 8224 Identity.
#[derive(Debug, Clone)]
pub struct IdentityPolicy {
    /// Verify the Identity of every new INVITE from a peer against these
    /// credentials (RFC 8224 §6.2); a bad one is refused.
    pub verify: Option<Credentials>,
    /// Domains whose INVITEs must carry Identity (a per-sending-domain
    /// policy, RFC 8224 §6.2): one claiming to be from them without it
    /// gets 428. Others may come unsigned.
    pub required_for: Vec<String>,
    /// Sign every new INVITE from the inside to a peer (RFC 8224 §5):
    /// a P-256 PKCS#8 key and the URL of its certificate.
    pub sign: Option<(Vec<u8>, String)>,
    /// How far `iat` may be from now (sixty seconds, RFC 8224 §6.2 step 4).
    pub freshness: Duration,
    /// The wall clock: UNIX seconds at an instant. The node gets only
    /// instants; this turns them into the time a PASSporT carries.
    pub clock: (Instant, u64),
}

impl IdentityPolicy {
    /// UNIX seconds at `now`.
    pub(crate) fn unix(&self, now: Instant) -> u64 {
        let (at, secs) = self.clock;
        if now >= at {
            secs + (now - at).as_secs()
        } else {
            secs.saturating_sub((at - now).as_secs())
        }
    }
}

/// Configuration of the border element.
#[derive(Debug, Clone)]
pub struct SbeConfig {
    /// The UDP address it listens on: written into Via and Record-Route.
    pub local: SocketAddr,
    /// The domain name it goes by in its Via and Record-Route entries
    /// (RFC 6271 #7: a SIP URI's host SHOULD be a domain name, not an
    /// address); without one, its address. The name must resolve to it.
    pub hostname: Option<String>,
    /// Its TLS listener, when it has one: the Via of a request it sends
    /// over TLS names it.
    pub tls_local: Option<SocketAddr>,
    /// Its driver can open TLS connections (it holds a client certificate
    /// and trust roots): a request for a `sips:` target, or one whose
    /// RFC 3263 resolution ranks a TLS hop first, goes over TLS
    /// ([`crate::Event::Connect`]). Without it such a `sips:` request gets
    /// 502, never a plaintext hop (RFC 3261 §26.2.2).
    pub outbound_tls: bool,
    /// Its TCP listener, when it has one and it is not at `local`'s port:
    /// a Route entry naming it is this element's own (RFC 3261 §16.4).
    pub tcp_local: Option<SocketAddr>,
    /// Source addresses of authorised peers (any port): the SSPs this one
    /// has a pre-association with (static peering, RFC 6405 §5.1).
    pub peers: Vec<IpAddr>,
    /// Peer on demand as well (RFC 6405 §5.6): a request from any other
    /// source is accepted once the domain name its sender goes by leads,
    /// by DNS, to that source (see the `on_demand` module). Needs a
    /// LUF/LRF in the driver.
    pub on_demand: bool,
    /// Peers whose requests must come over TLS (RFC 6404 §4.5: SIP
    /// between SSPs over TLS with mutual authentication, the client
    /// certificate checked by the TLS listener's settings). From them a
    /// request over UDP or plain TCP is refused with 403, never relayed.
    pub tls_required: Vec<IpAddr>,
    /// Peers inside this element's trust domain for asserted identity
    /// (RFC 3325 Spec(T)): their P-Asserted-Identity is believed, and
    /// reaches them whatever Privacy says. Others' is not.
    pub trusted_peers: Vec<IpAddr>,
    /// Where requests from peers are sent: the element's own domain side.
    pub next_hop: SocketAddr,
    /// Transaction timers.
    pub timers: Timers,
    /// Parser limits.
    pub limits: Limits,
    /// Most live transactions; beyond it new requests get 503. A call
    /// (INVITE, ACK, BYE) keeps about 101 transactions per call/s alive
    /// under the RFC 3261 and RFC 6026 timers over UDP (32 s each), so the
    /// default, 2^20, carries 10,000 calls/s; at about 810 heap bytes per
    /// live transaction (`tests/soak.rs`) that is about 850 MB at the cap.
    pub max_transactions: usize,
    /// Strong identity at the border (RFC 8224, RFC 6404 §4.7): verify
    /// peers' INVITEs, sign ours to them. Off when `None`.
    pub identity: Option<IdentityPolicy>,
    /// How fast each peer may start requests (RFC 6404 §4.9).
    pub peer_limits: PeerLimits,
    /// Requests from the next hop whose target is a domain name or a
    /// `tel:` URI are handed to the LUF/LRF ([`crate::Event::Resolve`]);
    /// off, they get 404.
    pub resolve_names: bool,
    /// How long a request may wait for its route before it is answered 504.
    pub resolve_timeout: Duration,
    /// Hide the inside from peers (RFC 6404 §4.10, RFC 5853 §3.1): Via,
    /// Record-Route, Contact and Call-ID of what leaves are the element's
    /// own, and the SDP origin names it (see the `topology` module).
    pub hide_topology: bool,
    /// Most dialogs whose names are hidden at once; a new one beyond it is
    /// refused with 503 rather than sent out unhidden.
    pub max_hidden_dialogs: usize,
    /// The element's DBE (`media.rs`, RFC 6406 §5.3): with one, the SDP
    /// crossing the border names the DBE's relay ports, side A facing the
    /// peers and side B the inside, and datagrams to its addresses and
    /// ports are media. Without one, SDP crosses untouched but for the
    /// hidden origin. Its faults should be the element's.
    pub media: Option<speermint_dbe::DbeConfig>,
    /// Seed for branch and tag generation (deterministic under test).
    pub seed: u64,
    /// Misbehaviour switches.
    pub faults: Faults,
}

impl SbeConfig {
    /// A correct element at `local` serving `peers`, relaying to `next_hop`.
    pub fn new(local: SocketAddr, peers: Vec<IpAddr>, next_hop: SocketAddr) -> Self {
        Self {
            local,
            hostname: None,
            tls_local: None,
            outbound_tls: false,
            tcp_local: None,
            peers,
            on_demand: false,
            tls_required: Vec::new(),
            trusted_peers: Vec::new(),
            next_hop,
            timers: Timers::default(),
            limits: Limits::default(),
            max_transactions: 1 << 20,
            peer_limits: PeerLimits::default(),
            identity: None,
            resolve_names: false,
            resolve_timeout: Duration::from_secs(8),
            hide_topology: false,
            max_hidden_dialogs: 1 << 16,
            media: None,
            seed: 0x5eed_5eed,
            faults: Faults::default(),
        }
    }
}

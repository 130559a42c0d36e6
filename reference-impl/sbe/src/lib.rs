//! `speermint-sbe`: the reference Signaling Function (RFC 6406 §6.2) as a
//! sans-IO node. A stateful SIP proxy (RFC 3261 §16) on the RFC 3261 §17
//! transaction layer, with the RFC 6026 "Accepted" states, and the peering
//! policy of a border element.
//!
//! It is a [`Node`]: the driver hands it datagrams, stream bytes, timeouts
//! and the answers of the LUF/LRF with the time, and carries out what
//! [`Node::poll_output`] returns. Time is always an argument, never read
//! here, so a virtual clock runs a 32 s Timer B in no time. The transport
//! comes in with each message and goes out with each transmit: responses
//! return the way their request came (RFC 3261 §18.2.2), the Via names the
//! transport a request leaves on, and reliable transports get no
//! retransmissions and no Timer D/J/K wait (§17).
//!
//! Policy, each rule with its source:
//! - only authorised peers and the configured next hop may send requests;
//!   anyone else gets 403 "Unsupported Peer" (RFC 6406 §6.2.2, RFC 6404 §4.6);
//! - requests from a peer go to the configured next hop, never where the
//!   peer's Route or Request-URI points (no open relay); requests from the
//!   next hop go to the peer named by the Route set or Request-URI, and only
//!   to an authorised peer, or through the LUF/LRF when named by domain or
//!   number;
//! - a response is accepted only from the address its request was sent to,
//!   so a forged 200 from elsewhere is dropped (RFC 6404 §4.6);
//! - REGISTER from a peer is refused with 403 (RFC 6404 §2.3.2.1);
//! - P-Asserted-Identity from a peer outside the trust domain is removed,
//!   and towards such a peer `Privacy: id` removes it (RFC 3325 §5, §7;
//!   RFC 6404 §4.4);
//! - each peer may start so many requests per second; beyond that it gets
//!   503 with Retry-After, or silence, as configured (RFC 6404 §4.9);
//! - a peer listed in `tls_required` is heard over TLS only: its requests
//!   over UDP or plain TCP get 403 (RFC 6404 §4.5);
//! - a `sips:` target goes over a TLS connection the element opens, to a
//!   server proving the target's domain, or fails with 502, never in the
//!   clear (`outbound.rs`, RFC 3261 §26.2.2, RFC 5922 §7.2);
//! - malformed requests get 400 with a reason naming the fault, never a
//!   relay (RFC 6404 §4.11); Max-Forwards 0 gets 483 (RFC 3261 §16.3);
//! - a failed lookup is 503 when DNS or DNSSEC failed, 404 only when the
//!   target does not exist (RFC 6404 §4.2);
//! - bodies, SDP included, are relayed untouched (RFC 6271 #17);
//! - with topology hiding on, what leaves for a peer names nothing inside:
//!   Via, Record-Route, Contact, Call-ID and the SDP origin are the
//!   element's own, mapped back on the way in (`topology.rs`, RFC 6404
//!   §4.10, RFC 5853 §3.1).
//! - subscriptions keep the element in their path: SUBSCRIBE and NOTIFY
//!   are Record-Routed (RFC 6665 §4.3); PIDF, resource-list NOTIFYs and
//!   MSRP offers cross as they came (`presence.rs`, RFC 6271 #10-#14).
//!
//! The [`Fault`] switches turn individual rules off, so that each
//! conformance check can be shown to fail against a stack that breaks it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
pub mod fuzzing;
pub mod fuzzing_media;
mod limit;
mod media;
mod message;
mod on_demand;
mod outbound;
mod policy;
mod presence;
mod privacy;
mod resolve;
mod shard;
mod stream;
mod timers;
mod topology;
mod transaction;

pub use config::{IdentityPolicy, SbeConfig, Timers};
pub use limit::{OverLimit, PeerLimits};
pub use message::salvage_response;
pub use resolve::{Hop, LookupFailure, Resolved, Unresolved};
pub use shard::shard;
pub use speermint_dbe as dbe;
pub use speermint_fault::{Fault, Faults, Layer};
pub use speermint_identity::Credentials;
pub use speermint_node::{Input, Node, Path, Transmit, Transport};

use message::{build_ack, build_cancel, looks_like_request, strip_unknown_attributes};
use policy::{Dest, Side};
use resolve::Parked;
use speermint_sip::headers::MAGIC_COOKIE;
use speermint_sip::{
    Editor, HeaderName, Message, MessageBuilder, ParseError, Transport as Framing, Uri,
};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;
use timers::{Target, TimerQueue};
use transaction::{ClientKey, ClientTx, Retransmit, ServerKey, ServerTx, State};

/// What the SBE asks of its driver.
pub type Output = speermint_node::Output<Event>;

/// Why a datagram was dropped without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropReason {
    /// Not a SIP message the element could answer.
    Unparseable,
    /// A malformed response.
    MalformedResponse,
    /// A response matching no client transaction.
    NoTransaction,
    /// A response from an address the request was not sent to.
    WrongSource,
    /// A message from a non-peer that cannot be answered (ACK, response).
    Stranger,
    /// A retransmission absorbed by a transaction.
    Retransmission,
    /// The element has stopped (the `die-on-malformed` fault).
    Dead,
    /// An ACK that fails validation: it takes no response (RFC 3261
    /// §17.1.1.3), so it is neither relayed nor answered.
    RefusedAck,
    /// A peer's request over its rate limit, with
    /// [`OverLimit::Drop`] configured (RFC 6404 §4.9).
    OverLimit,
    /// A request the `drop-subscribe` or `drop-message` fault swallows.
    MethodDropped,
}

/// Something the element did, reported for evidence and invariants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A request or response was relayed.
    Relayed {
        /// Where it came from.
        from: SocketAddr,
        /// Where it went.
        to: SocketAddr,
        /// Method, or status code as text.
        what: String,
    },
    /// The element answered a request itself.
    Answered {
        /// Who asked.
        to: SocketAddr,
        /// Status code.
        status: u16,
        /// Reason phrase.
        reason: String,
    },
    /// A datagram was dropped.
    Dropped {
        /// Source.
        from: SocketAddr,
        /// Why.
        reason: DropReason,
    },
    /// A client transaction timed out (Timer B or F).
    TimedOut {
        /// The branch of the client transaction.
        branch: String,
    },
    /// Find where `target` leads (the LUF for `tel:`, then the LRF) and
    /// answer with [`Command::Resolved`] and this `id`.
    Resolve {
        /// Names this request.
        id: u64,
        /// The URI to resolve, as it appears in the request.
        target: String,
        /// The `raw-enum-query` fault: a name to ask DNS before the real
        /// lookup, as a LUF that passes hostile input through would.
        raw_enum_name: Option<String>,
    },
    /// Open a connection on `path` (from the element's address to
    /// `path.remote`) before the transmits for it that follow: over TLS
    /// when `server_name` is given, presenting the element's certificate
    /// and accepting only a server certificate whose subjectAltName names
    /// that domain (RFC 5922 §7.2); plain TCP otherwise. A failure comes
    /// back as [`Command::ConnectFailed`]; an open connection is reused
    /// for every request to that hop (RFC 5923 §4), and its end comes back
    /// as stream data with `closed`.
    Connect {
        /// The connection: the element's TLS (or TCP) address as `local`.
        path: Path,
        /// The domain the server must prove, for TLS.
        server_name: Option<String>,
    },
    /// A stream connection lost its framing and is to be closed.
    StreamClosed {
        /// Its far end.
        from: SocketAddr,
    },
    /// What the element's DBE reported (`media.rs`): allocations,
    /// refusals, streams ended with their counters.
    Media(speermint_dbe::Event),
}

/// What the owner of an SBE may tell it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// The LUF/LRF's answer to [`Event::Resolve`] `id`.
    Resolved {
        /// The id of the [`Event::Resolve`].
        id: u64,
        /// Where it leads, or why nowhere.
        result: Result<Resolved, LookupFailure>,
    },
    /// The connection of [`Event::Connect`] on `path` could not be opened
    /// (refused, unreachable, a server certificate not valid for its
    /// domain): what was sent on it never left.
    ConnectFailed {
        /// The path of the [`Event::Connect`].
        path: Path,
        /// Why, for the reason phrase upstream.
        reason: String,
    },
}

/// The border element's signaling core.
#[derive(Debug)]
pub struct Sbe {
    pub(crate) cfg: SbeConfig,
    pub(crate) server: HashMap<ServerKey, ServerTx>,
    pub(crate) client: HashMap<ClientKey, ClientTx>,
    out: VecDeque<Output>,
    counter: u64,
    dead: bool,
    pub(crate) parked: HashMap<u64, Parked>,
    streams: stream::Streams,
    /// The deadline last reported with [`Output::Timeout`].
    reported_timeout: Option<Instant>,
    /// Every deadline of the transactions and parked requests.
    timers: TimerQueue,
    /// Each peer's request budget.
    limiter: limit::Limiter,
    /// Each peer's calls in progress.
    sessions: limit::Sessions,
    /// The key it signs its INVITEs to peers with (RFC 8224 §5).
    signer: Option<speermint_identity::SigningKey>,
    /// What the hidden dialogs' outside names stand for (RFC 6404 §4.10).
    pub(crate) dialogs: topology::Dialogs,
    /// Its DBE, when it relays media (`media.rs`).
    pub(crate) media: Option<media::Media>,
    /// How many peers the configuration listed: those beyond were
    /// admitted on demand (`on_demand.rs`).
    pub(crate) configured_peers: usize,
    /// Connections it asked its driver to open, and the domain each
    /// server proved (RFC 5923 §4: reused for that domain only).
    pub(crate) outbound: HashMap<Path, Box<str>>,
}

impl Sbe {
    /// A new element.
    pub fn new(cfg: SbeConfig) -> Self {
        // A key that does not parse signs nothing; the caller checks it
        // with `speermint_identity::SigningKey::from_pkcs8` first.
        let signer = cfg
            .identity
            .as_ref()
            .and_then(|i| i.sign.as_ref())
            .and_then(|(key, info)| speermint_identity::SigningKey::from_pkcs8(key, info).ok());
        let cfg_media = cfg.media.clone().map(media::Media::new);
        Self {
            signer,
            configured_peers: cfg.peers.len(),
            cfg,
            server: HashMap::new(),
            client: HashMap::new(),
            out: VecDeque::new(),
            counter: 0,
            dead: false,
            parked: HashMap::new(),
            streams: stream::Streams::default(),
            reported_timeout: None,
            timers: TimerQueue::default(),
            limiter: limit::Limiter::default(),
            sessions: limit::Sessions::default(),
            dialogs: topology::Dialogs::default(),
            media: cfg_media,
            outbound: HashMap::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SbeConfig {
        &self.cfg
    }

    /// Live server and client transactions: bounded by `max_transactions`.
    pub fn transaction_count(&self) -> (usize, usize) {
        (self.server.len(), self.client.len())
    }

    /// Requests waiting for [`Sbe::on_resolved`]; each holds a server
    /// transaction (for invariants).
    #[doc(hidden)]
    pub fn parked_len(&self) -> usize {
        self.parked.len()
    }

    /// When [`Sbe::handle_timeout`] must next be called: the earliest of
    /// its own timers and its DBE's.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let dbe = self.media.as_ref().and_then(media::Media::deadline);
        match (self.sip_deadline(), dbe) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The earliest deadline of the transactions and parked requests.
    fn sip_deadline(&self) -> Option<Instant> {
        // Exact: every public entry point ends with `settle_timers`.
        self.timers.peek().map(|e| e.at)
    }

    /// Whether the timer queue holds exactly the deadlines of the
    /// transactions and parked requests (for the fuzz invariants; a scan).
    #[doc(hidden)]
    pub fn timers_consistent(&self) -> bool {
        let scheduled_right = self
            .server
            .values()
            .all(|t| t.scheduled == t.next_deadline())
            && self
                .client
                .values()
                .all(|t| t.scheduled == t.next_deadline());
        let earliest = self
            .server
            .values()
            .filter_map(|t| t.scheduled)
            .chain(self.client.values().filter_map(|t| t.scheduled))
            .chain(self.parked.values().map(|p| p.deadline))
            .min();
        scheduled_right && earliest == self.sip_deadline()
    }

    /// Calls in progress that count against the peers' session limits.
    #[doc(hidden)]
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Dialogs whose topology is hidden (RFC 6404 §4.10).
    #[doc(hidden)]
    pub fn hidden_dialog_count(&self) -> usize {
        self.dialogs.len()
    }

    /// Transactions over a reliable transport with a retransmission
    /// timer armed: none should be (RFC 3261 §17.1.1.2, §17.1.2.2,
    /// §17.2.1), for the fuzz invariants.
    #[doc(hidden)]
    pub fn reliable_retransmissions(&self) -> usize {
        let servers = self
            .server
            .values()
            .filter(|t| t.source.transport.is_reliable() && t.retransmit.is_some());
        let clients = self
            .client
            .values()
            .filter(|t| t.dest.transport.is_reliable() && t.retransmit.is_some());
        servers.count() + clients.count()
    }

    /// Stream connections being framed, and the most bytes one of them
    /// holds unframed (for the fuzz invariants).
    #[doc(hidden)]
    pub fn stream_state(&self) -> (usize, usize) {
        self.streams.state()
    }

    /// Entries in the timer queue, stale ones included (for measurements).
    #[doc(hidden)]
    pub fn timer_entries(&self) -> usize {
        self.timers.len()
    }

    /// Its DBE, when it relays media.
    pub fn dbe(&self) -> Option<&speermint_dbe::Dbe> {
        self.media.as_ref().map(media::Media::dbe)
    }

    /// Queues the server transaction's next deadline if it moved.
    pub(crate) fn touch_server(&mut self, key: &ServerKey) {
        if let Some(tx) = self.server.get_mut(key) {
            let next = tx.next_deadline();
            if next != tx.scheduled {
                tx.scheduled = next;
                if let Some(at) = next {
                    self.timers.push(at, Target::Server(key.clone()));
                }
            }
        }
    }

    /// Queues the client transaction's next deadline if it moved.
    pub(crate) fn touch_client(&mut self, key: &ClientKey) {
        if let Some(tx) = self.client.get_mut(key) {
            let next = tx.next_deadline();
            if next != tx.scheduled {
                tx.scheduled = next;
                if let Some(at) = next {
                    self.timers.push(at, Target::Client(key.clone()));
                }
            }
        }
    }

    pub(crate) fn park_timer(&mut self, id: u64, at: Instant) {
        self.timers.push(at, Target::Parked(id));
    }

    /// Whether a queue entry still stands for its target's deadline.
    fn timer_valid(&self, at: Instant, target: &Target) -> bool {
        match target {
            Target::Server(k) => self.server.get(k).and_then(|t| t.scheduled) == Some(at),
            Target::Client(k) => self.client.get(k).and_then(|t| t.scheduled) == Some(at),
            Target::Parked(id) => self.parked.get(id).map(|p| p.deadline) == Some(at),
        }
    }

    /// Drops stale entries from the top, so that `poll_timeout` is exact.
    pub(crate) fn settle_timers(&mut self) {
        while let Some(e) = self.timers.peek() {
            if self.timer_valid(e.at, &e.target) {
                return;
            }
            self.timers.pop();
        }
    }

    pub(crate) fn emit(&mut self, e: Event) {
        self.out.push_back(Output::Event(e));
    }

    fn send(&mut self, path: Path, bytes: Vec<u8>) {
        self.out
            .push_back(Output::Transmit(Transmit { path, bytes }));
    }

    /// How to reach `remote`: over a stream connection it has open to us
    /// (RFC 3261 §18.1.1 lets a request reuse it, RFC 5923 §4), else over
    /// UDP from this element's UDP address.
    pub(crate) fn path_to(&self, remote: SocketAddr) -> Path {
        self.streams.open_to(remote).unwrap_or(Path {
            local: self.cfg.local,
            remote,
            transport: Transport::Udp,
        })
    }

    pub(crate) fn drop_msg(&mut self, from: SocketAddr, reason: DropReason) {
        self.emit(Event::Dropped { from, reason });
    }

    pub(crate) fn next_id(&mut self) -> u64 {
        // splitmix64: unique per element and seed, no clock or OS entropy.
        self.counter += 1;
        let mut z = self
            .cfg
            .seed
            .wrapping_add(self.counter.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// One datagram from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        let path = Path {
            local: self.cfg.local,
            remote: from,
            transport: Transport::Udp,
        };
        self.handle_message(now, path, bytes, Framing::Datagram);
    }

    fn handle_message(&mut self, now: Instant, from: Path, bytes: &[u8], framing: Framing) {
        if self.dead {
            self.drop_msg(from.remote, DropReason::Dead);
            return;
        }
        let side = self.cfg.side(from.remote);
        match Message::parse_with(bytes, &self.cfg.limits, framing) {
            Ok(msg) if msg.is_request() => self.on_request(now, from, side, &msg),
            Ok(msg) => self.on_response(now, from, &msg),
            Err(e) => self.on_malformed(from, side, bytes, e),
        }
        self.settle_timers();
    }

    fn on_malformed(&mut self, from: Path, side: Side, bytes: &[u8], e: ParseError) {
        if !looks_like_request(bytes) {
            self.drop_msg(
                from.remote,
                if bytes.starts_with(b"SIP/") {
                    DropReason::MalformedResponse
                } else {
                    DropReason::Unparseable
                },
            );
            return;
        }
        if side == Side::Stranger {
            // No amplification towards strangers: a malformed request from
            // outside every trust relationship is dropped.
            self.drop_msg(from.remote, DropReason::Stranger);
            return;
        }
        if self.cfg.faults.contains(Fault::ForwardMalformed) && side == Side::Peer {
            let to = self.cfg.next_hop;
            self.send(self.path_to(to), bytes.to_vec());
            self.emit(Event::Relayed {
                from: from.remote,
                to,
                what: "malformed".into(),
            });
            return;
        }
        let reason = e.reason_phrase();
        let Some(resp) = salvage_response(bytes, e.kind.status_code(), &reason) else {
            // Without a Via the sender could not match an answer (RFC 3261 §8.2.6).
            self.drop_msg(from.remote, DropReason::Unparseable);
            return;
        };
        self.send(from, resp);
        self.emit(Event::Answered {
            to: from.remote,
            status: e.kind.status_code(),
            reason,
        });
        if self.cfg.faults.contains(Fault::DieOnMalformed) {
            self.dead = true;
        }
    }

    fn answer(
        &mut self,
        to: Path,
        req: &Message<'_>,
        status: u16,
        reason: &str,
        extra: &[(&str, &str)],
    ) -> Vec<u8> {
        let tag = format!("sm{:x}", self.next_id() & 0xffff_ffff);
        let mut b = MessageBuilder::response_to(req, status, reason, Some(&tag));
        for (n, v) in extra {
            b = b.header(n, v);
        }
        let bytes = b.build();
        self.send(to, bytes.clone());
        self.emit(Event::Answered {
            to: to.remote,
            status,
            reason: reason.to_string(),
        });
        bytes
    }

    pub(crate) fn on_request(&mut self, now: Instant, from: Path, side: Side, req: &Message<'_>) {
        let method = req.method();
        if side == Side::Stranger {
            if self.cfg.on_demand && method != "ACK" {
                // RFC 6405 §5.6: no pre-association needed, but the
                // sender must be who its name says (`on_demand.rs`).
                self.admit_on_demand(now, from, req);
            } else if method == "ACK" {
                self.drop_msg(from.remote, DropReason::Stranger);
            } else {
                // RFC 6406 §6.2.2.
                self.answer(from, req, 403, "Unsupported Peer", &[]);
            }
            return;
        }
        let key = ServerKey::of(req);
        // Retransmission, or ACK for a non-2xx final (RFC 3261 §17.2.1, §17.2.3).
        let lookup = if method == "ACK" {
            key.invite()
        } else {
            key.clone()
        };
        if let Some(tx) = self.server.get_mut(&lookup) {
            if method == "ACK" {
                if tx.state == State::Completed {
                    tx.state = State::Confirmed;
                    tx.retransmit = None;
                    tx.end_at = Some(now + self.cfg.timers.k(tx.source.transport)); // Timer I
                }
                if tx.state != State::Accepted {
                    self.touch_server(&lookup);
                    self.drop_msg(from.remote, DropReason::Retransmission);
                    return;
                }
                // An ACK for a 2xx is end to end: relay it below.
            } else {
                if let Some(r) = tx.last_response.clone() {
                    let src = tx.source;
                    self.send(src, r);
                }
                self.drop_msg(from.remote, DropReason::Retransmission);
                return;
            }
        }
        // A request may start a server and a client transaction (a relay, or
        // a CANCEL sent downstream): refuse it unless both fit, CANCEL
        // included, so that state stays within `max_transactions`.
        if method != "ACK" && self.server.len() + self.client.len() + 2 > self.cfg.max_transactions
        {
            self.answer(
                from,
                req,
                503,
                "Service Unavailable",
                &[("Retry-After", "5")],
            );
            return;
        }
        // RFC 6404 §4.5: a peer this element requires TLS from is only
        // heard over TLS, where the listener has checked its certificate.
        // 403, as for any request policy refuses (RFC 3261 §21.4.4): no
        // credential sent over this transport would help. CANCEL and the
        // ACK for a 2xx are refused alike (an ACK is dropped, §17.1.1.3).
        if side == Side::Peer
            && from.transport != Transport::Tls
            && self.cfg.tls_required.contains(&from.remote.ip())
            && !self.cfg.faults.contains(Fault::AllowPlaintext)
        {
            self.reject(now, from, req, &key, 403, "Forbidden - TLS Required", &[]);
            return;
        }
        if method == "CANCEL" {
            self.on_cancel(now, from, req, &key);
            return;
        }
        // RFC 3261 §16.3 request validation.
        if let Some(Uri::Other { .. }) = req.request_uri() {
            self.reject(now, from, req, &key, 416, "Unsupported URI Scheme", &[]);
            return;
        }
        if !self.cfg.faults.contains(Fault::IgnoreMaxForwards) && req.core().max_forwards == Some(0)
        {
            self.reject(now, from, req, &key, 483, "Too Many Hops", &[]);
            return;
        }
        if let Some(h) = req.header(HeaderName::ProxyRequire) {
            let unsupported = String::from_utf8_lossy(h.value).into_owned();
            self.reject(
                now,
                from,
                req,
                &key,
                420,
                "Bad Extension",
                &[("Unsupported", &unsupported)],
            );
            return;
        }
        if method == "REGISTER"
            && side == Side::Peer
            && !self.cfg.faults.contains(Fault::AcceptRegister)
        {
            // RFC 6404 §2.3.2.1: peers have no business registering here.
            self.reject(
                now,
                from,
                req,
                &key,
                403,
                "REGISTER Not Accepted From Peers",
                &[],
            );
            return;
        }
        // RFC 6404 §4.9: each peer has its own budget of new requests that
        // would cross the border; what the element refuses itself above
        // costs the backend nothing. A CANCEL or ACK belongs to a request
        // already admitted (and never gets here).
        if side == Side::Peer
            && method != "ACK"
            && !self.cfg.faults.contains(Fault::NoRateLimit)
            && !self.limiter.admit(
                now,
                from.remote.ip(),
                &self.cfg.peers,
                &self.cfg.peer_limits,
                self.cfg.faults.contains(Fault::SharedRateLimit),
            )
        {
            self.over_limit(
                now,
                from,
                req,
                &key,
                "Service Unavailable - Peer Rate Limit",
            );
            return;
        }
        // And its own number of calls at once: a new INVITE (no To tag).
        if side == Side::Peer
            && method == "INVITE"
            && req.core().to.tag().is_none()
            && !self.cfg.faults.contains(Fault::NoSessionLimit)
        {
            let peer = self.cfg.peers.iter().position(|p| *p == from.remote.ip());
            if let Some(peer) = peer {
                if !self.sessions.admit(now, peer, &self.cfg.peer_limits) {
                    self.over_limit(now, from, req, &key, "Service Unavailable - Session Limit");
                    return;
                }
            }
        }
        // RFC 6404 §4.7, RFC 8224 §6.2: a peer's new INVITE proves who it
        // is from, or is refused. After the limits: a flood of forged
        // signatures costs no more than any other flood.
        if side == Side::Peer
            && method == "INVITE"
            && req.core().to.tag().is_none()
            && !self.cfg.faults.contains(Fault::AcceptBadIdentity)
        {
            if let Some(policy) = &self.cfg.identity {
                if let Some(creds) = &policy.verify {
                    let unix = policy.unix(now);
                    let fresh = policy.freshness.as_secs();
                    let signed = req.header(HeaderName::Identity).is_some();
                    let required = req.core().from.uri.as_sip().is_some_and(|s| {
                        let host = s.host.to_string();
                        policy
                            .required_for
                            .iter()
                            .any(|d| d.eq_ignore_ascii_case(&host))
                    });
                    if signed || required {
                        if let Err(f) = speermint_identity::verify_request(req, creds, unix, fresh)
                        {
                            let why = f.reason();
                            self.reject(now, from, req, &key, f.status(), &why, &[]);
                            return;
                        }
                    }
                }
            }
        }
        if presence::dropped_by_fault(method, self.cfg.faults) {
            self.drop_msg(from.remote, DropReason::MethodDropped);
            return;
        }
        let dest = match self.route(side, req) {
            Ok(Dest::Now(d)) => {
                // RFC 3323 §5: privacy asked for as critical that this
                // element cannot give fails the request with 500.
                let missing = self.cfg.privacy_unavailable(req, d.ip());
                if !missing.is_empty() {
                    let why = format!("Privacy Unavailable: {}", missing.join(", "));
                    self.reject(now, from, req, &key, 500, &why, &[]);
                    return;
                }
                self.path_to(d)
            }
            Ok(Dest::Resolve(target)) => {
                self.park(now, from, req, key, target, None);
                return;
            }
            Err(why) => {
                self.reject(now, from, req, &key, 404, why, &[]);
                return;
            }
        };
        self.forward(now, from, req, key, dest, None, false);
    }

    /// A peer's request over one of its limits: 503 with Retry-After, or
    /// silence, as configured (RFC 6404 §4.9).
    fn over_limit(
        &mut self,
        now: Instant,
        from: Path,
        req: &Message<'_>,
        key: &ServerKey,
        reason: &str,
    ) {
        match self.cfg.peer_limits.over_limit {
            OverLimit::Reject { retry_after } => self.reject(
                now,
                from,
                req,
                key,
                503,
                reason,
                &[("Retry-After", &retry_after.to_string())],
            ),
            OverLimit::Drop => self.drop_msg(from.remote, DropReason::OverLimit),
        }
    }

    /// §16.2: a stateful proxy answers an INVITE with 100 at once; the
    /// 100 is kept as the last response for retransmissions. `sent`: it
    /// went already (the request was parked while its route was found).
    pub(crate) fn trying(&mut self, to: Path, req: &Message<'_>, sent: bool) -> Option<Vec<u8>> {
        let trying = (req.method() == "INVITE")
            .then(|| MessageBuilder::response_to(req, 100, "Trying", None).build());
        if let Some(t) = trying.as_ref().filter(|_| !sent) {
            self.send(to, t.clone());
        }
        trying
    }

    /// Answers a request with a final response from a new server transaction,
    /// so that retransmissions get the same answer.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn reject(
        &mut self,
        now: Instant,
        from: Path,
        req: &Message<'_>,
        key: &ServerKey,
        status: u16,
        reason: &str,
        extra: &[(&str, &str)],
    ) {
        if req.method() == "ACK" {
            // An ACK takes no response (RFC 3261 §17.1.1.3): drop it.
            self.drop_msg(from.remote, DropReason::RefusedAck);
            return;
        }
        let bytes = self.answer(from, req, status, reason, extra);
        let invite = req.method() == "INVITE";
        let t = self.cfg.timers;
        // Timer H (INVITE) waits for the ACK on any transport; Timer J
        // (others) only absorbs UDP retransmissions (RFC 3261 §17.2.1, §17.2.2).
        let end = if invite {
            t.transaction()
        } else {
            t.j(from.transport)
        };
        let mut tx = ServerTx {
            last_response: Some(bytes),
            retransmit: Retransmit::start(&from, now, t.t1).filter(|_| invite),
            end_at: Some(now + end), // Timer H or J
            ..ServerTx::new(req, from, State::Completed)
        };
        tx.compact();
        self.server.insert(key.clone(), tx);
        self.touch_server(key);
    }

    /// RFC 3261 §16.6: copy, adjust, add Record-Route and Via, send. After a
    /// resolution the Request-URI may change and the 100 has gone already.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn forward(
        &mut self,
        now: Instant,
        from: Path,
        req: &Message<'_>,
        key: ServerKey,
        dest: Path,
        request_uri: Option<&str>,
        trying_sent: bool,
    ) {
        let method = req.method();
        let invite = method == "INVITE";
        let branch = format!("{MAGIC_COOKIE}-sm{:016x}", self.next_id());
        // The Via names the transport the request leaves on, and this
        // element's address on it (RFC 3261 §18.1.1); the Record-Route
        // the side it will be reached from again.
        let me = self.cfg.me_at(dest.local);
        let via = dest.transport.via_token();
        let mut ed = Editor::new(req);
        self.cfg
            .apply_privacy(req, &mut ed, from.remote.ip(), dest.remote.ip());
        self.sign_towards_peer(now, from, dest, req, &mut ed);
        if let Some(uri) = request_uri {
            ed.start_line(&format!("{method} {uri} SIP/2.0"));
        }
        ed.prepend("Via", &format!("SIP/2.0/{via} {me};branch={branch};rport"));
        if presence::records_route(method, self.cfg.faults)
            && !self.cfg.faults.contains(Fault::NoRecordRoute)
        {
            let rr = match dest.transport {
                Transport::Udp => format!("<sip:{me};lr>"),
                t => format!("<sip:{me};transport={};lr>", t.as_str()),
            };
            ed.prepend("Record-Route", &rr);
        }
        // Loose routing (§16.4): remove our own Route entry.
        if req
            .name_addrs(HeaderName::Route)
            .next()
            .is_some_and(|na| self.cfg.is_me(&na.uri))
        {
            ed.remove_first_value(HeaderName::Route);
        }
        if !self.cfg.faults.contains(Fault::IgnoreMaxForwards) {
            let mf = req.core().max_forwards.map_or(70, |m| m.saturating_sub(1));
            ed.set(HeaderName::MaxForwards, &mf.to_string());
        }
        let mut body = None;
        if self.cfg.faults.contains(Fault::StripUnknownSdp)
            && req.core().content_type.is_some_and(|c| c.is_sdp())
        {
            body = Some(strip_unknown_attributes(req.body()));
        }
        if let Some(ct) = presence::content_type(req) {
            let now_body = body.as_deref().unwrap_or(req.body());
            if let Some(r) = presence::faulty_body(self.cfg.faults, ct, now_body) {
                if let Some(ct) = &r.content_type {
                    ed.set(HeaderName::ContentType, ct);
                }
                body = Some(r.body);
            }
        }
        // RFC 6406 §5.3: the media goes through the DBE.
        if self.media.is_some() {
            let current = body.as_deref().unwrap_or(req.body());
            if let Some(b) = self.relay_media(now, req, current, from.remote, dest.remote) {
                body = Some(b);
            }
            self.media_call_over(now, from.remote, req);
        }
        // RFC 6404 §4.10: what leaves for a peer names nothing inside.
        let mut hidden = None;
        if self.cfg.hides(req) {
            match self.hide_request(now, from, dest, req, &mut ed) {
                Ok(h) => hidden = h.map(Box::new),
                Err(topology::Refuse(status, why)) => {
                    self.reject(now, from, req, &key, status, why, &[]);
                    return;
                }
            }
            if self.towards_peer(from.remote, dest.remote) {
                let current = body.as_deref().unwrap_or(req.body());
                if let Some(b) = self.hide_sdp_origin(dest.local, req, current) {
                    body = Some(b);
                }
            }
        }
        if let Some(b) = &body {
            ed.set(HeaderName::ContentLength, &b.len().to_string());
            ed.body(b);
        }
        let bytes = ed.finish();
        self.send(dest, bytes.clone());
        self.emit(Event::Relayed {
            from: from.remote,
            to: dest.remote,
            what: method.to_string(),
        });
        if method == "ACK" {
            return; // ACK for 2xx: no transaction (§17.1.1.3).
        }
        let t = self.cfg.timers;
        let trying = self.trying(from, req, trying_sent);
        let state = if invite {
            State::Proceeding
        } else {
            State::Trying
        };
        self.server.insert(
            key.clone(),
            ServerTx {
                last_response: trying,
                client: Some(branch.as_str().into()),
                hidden,
                ..ServerTx::new(req, from, state)
            },
        );
        self.touch_server(&key);
        self.count_session(now, from, req, &key);
        let ckey = ClientKey::new(&branch, method);
        self.client.insert(
            ckey.clone(),
            ClientTx::sent(invite, dest, bytes, Some(key), now, &t),
        );
        self.touch_client(&ckey);
    }

    /// RFC 8224 §5: a new INVITE from the inside to a peer leaves signed,
    /// with the Date the signature's `iat` stands for.
    fn sign_towards_peer(
        &self,
        now: Instant,
        from: Path,
        dest: Path,
        req: &Message<'_>,
        ed: &mut Editor<'_, '_>,
    ) {
        let (Some(signer), Some(policy)) = (&self.signer, &self.cfg.identity) else {
            return;
        };
        let initial_invite = req.method() == "INVITE" && req.core().to.tag().is_none();
        if !initial_invite
            || self.cfg.faults.contains(Fault::UnsignedEgress)
            || self.cfg.side(from.remote) == Side::Peer
            || !self.cfg.peers.contains(&dest.remote.ip())
        {
            return;
        }
        let iat = policy.unix(now);
        let Some(claims) = speermint_identity::Claims::of_request(req, iat) else {
            return;
        };
        if let Ok(value) = signer.sign(&claims) {
            ed.remove_all(HeaderName::Identity);
            ed.prepend("Identity", &value);
            ed.remove_all(HeaderName::Date);
            ed.prepend("Date", &speermint_identity::sip_date(iat));
        }
    }

    /// Keeps the peers' session counts: a new INVITE from a peer starts a
    /// call, a BYE from either side ends one.
    fn count_session(&mut self, now: Instant, from: Path, req: &Message<'_>, key: &ServerKey) {
        match req.method() {
            "INVITE" if req.core().to.tag().is_none() => {
                let peer = self.cfg.peers.iter().position(|p| *p == from.remote.ip());
                if let Some(peer) = peer {
                    self.sessions.start(now, key, req.core().call_id, peer);
                }
            }
            "BYE" => self.sessions.end_call(req.core().call_id),
            _ => {}
        }
    }

    /// RFC 3261 §16.10 and §9.2.
    fn on_cancel(&mut self, now: Instant, from: Path, req: &Message<'_>, key: &ServerKey) {
        let ikey = key.invite();
        // An INVITE still waiting for its route ends here (§16.10: 200 to
        // the CANCEL, 487 to the INVITE).
        let parked = self
            .parked
            .iter()
            .find(|(_, p)| p.key == ikey)
            .map(|(id, _)| *id);
        if let Some(id) = parked {
            self.reject(now, from, req, key, 200, "OK", &[]);
            self.on_resolved(
                now,
                id,
                Err(Unresolved {
                    status: 487,
                    reason: "Request Terminated".into(),
                }),
            );
            return;
        }
        let Some(branch) = self.server.get(&ikey).and_then(|t| t.client.clone()) else {
            self.reject(
                now,
                from,
                req,
                key,
                481,
                "Call/Transaction Does Not Exist",
                &[],
            );
            return;
        };
        self.reject(now, from, req, key, 200, "OK", &[]);
        let ckey = ClientKey::new(&branch, "INVITE");
        let Some(ctx) = self.client.get_mut(&ckey) else {
            return;
        };
        match ctx.state {
            State::Proceeding if !ctx.cancelled => {
                ctx.cancelled = true;
                let (dest, cancel) = (ctx.dest, build_cancel(&ctx.request));
                if let Some(cancel) = cancel {
                    self.start_client(now, &branch, "CANCEL", dest, cancel);
                }
            }
            State::Trying => ctx.cancel_pending = true,
            _ => {}
        }
    }

    fn start_client(
        &mut self,
        now: Instant,
        branch: &str,
        method: &str,
        dest: Path,
        bytes: Vec<u8>,
    ) {
        let t = self.cfg.timers;
        self.send(dest, bytes.clone());
        let key = ClientKey::new(branch, method);
        self.client.insert(
            key.clone(),
            ClientTx::sent(false, dest, bytes, None, now, &t),
        );
        self.touch_client(&key);
    }

    fn on_response(&mut self, now: Instant, from: Path, resp: &Message<'_>) {
        let via = resp.core().via;
        let ckey = match via.branch() {
            Some(b) => ClientKey::new(b, resp.core().cseq.method),
            None => {
                self.drop_msg(from.remote, DropReason::NoTransaction);
                return;
            }
        };
        let forged_ok = self.cfg.faults.contains(Fault::RelayForgedResponses);
        let Some(ctx) = self.client.get_mut(&ckey) else {
            self.drop_msg(from.remote, DropReason::NoTransaction);
            return;
        };
        if ctx.dest.remote != from.remote && !forged_ok {
            self.drop_msg(from.remote, DropReason::WrongSource);
            return;
        }
        let code = resp.status().unwrap_or(0);
        let t = self.cfg.timers;
        let invite = ctx.invite;
        let prior = ctx.state;
        // Client transaction state (§17.1.1.2, §17.1.2.2, RFC 6026 §7.2).
        match (prior, code) {
            (State::Trying | State::Proceeding, 100..=199) => {
                ctx.state = State::Proceeding;
                if invite {
                    // Timer A stops; Timer B gives way to Timer C, reset by
                    // every provisional (§16.7 step 2), so a call may ring.
                    ctx.retransmit = None;
                    if !ctx.cancelled {
                        ctx.timeout_at = Some(now + t.c);
                    }
                } else if let Some(r) = &mut ctx.retransmit {
                    r.interval = t.t2;
                }
            }
            (State::Trying | State::Proceeding, 200..=299) if invite => {
                ctx.state = State::Accepted;
                ctx.retransmit = None;
                ctx.timeout_at = None;
                ctx.end_at = Some(now + t.transaction()); // Timer M
                ctx.compact();
            }
            (State::Trying | State::Proceeding, 200..=699) => {
                ctx.state = State::Completed;
                ctx.retransmit = None;
                ctx.timeout_at = None;
                ctx.end_at = Some(
                    now + if invite {
                        t.d(ctx.dest.transport)
                    } else {
                        t.k(ctx.dest.transport)
                    },
                ); // D or K
                if invite {
                    ctx.ack = build_ack(&ctx.request, resp);
                }
                ctx.compact();
            }
            (State::Accepted, 200..=299) => {} // 2xx retransmission: relay it.
            (State::Completed, _) => {
                // Retransmitted final: resend our ACK, relay nothing.
                if let Some(ack) = ctx.ack.clone() {
                    let d = ctx.dest;
                    self.send(d, ack);
                }
                self.drop_msg(from.remote, DropReason::Retransmission);
                return;
            }
            _ => {
                self.drop_msg(from.remote, DropReason::Retransmission);
                return;
            }
        }
        let ack = ctx.ack.clone().filter(|_| code >= 300);
        let cancelled = ctx.cancelled || ctx.cancel_pending;
        let pending_cancel = ctx.cancel_pending && code < 200;
        if pending_cancel {
            ctx.cancel_pending = false;
            ctx.cancelled = true;
        }
        let cancel = pending_cancel.then(|| build_cancel(&ctx.request)).flatten();
        let (dest, server_key) = (ctx.dest, ctx.server.clone());
        self.touch_client(&ckey);
        if let Some(ack) = ack {
            self.send(dest, ack);
        }
        if invite && code >= 200 {
            // The INVITE is over: a CANCEL still retransmitting for it has
            // nothing left to cancel (the UAS ignores it, §9.2), so stop it.
            if let Some(b) = via.branch() {
                self.client.remove(&ClientKey::new(b, "CANCEL"));
            }
        }
        if pending_cancel {
            if let (Some(cancel), Some(b)) = (cancel, via.branch()) {
                if self.server.len() + self.client.len() < self.cfg.max_transactions {
                    self.start_client(now, b, "CANCEL", dest, cancel);
                } else {
                    // No room for its transaction: send the CANCEL once.
                    self.send(dest, cancel);
                }
            }
        }
        // A CANCEL's own response, or a 100 (hop by hop), goes no further.
        let Some(skey) = server_key else {
            self.drop_msg(from.remote, DropReason::Retransmission);
            return;
        };
        if code == 100 {
            return;
        }
        if code == 503 && !cancelled && self.fail_over(now, &skey) {
            return;
        }
        let mut ed = Editor::new(resp);
        ed.remove_first_value(HeaderName::Via);
        if let Some(up) = self.server.get(&skey).map(|t| t.source.remote.ip()) {
            self.cfg.apply_privacy(resp, &mut ed, from.remote.ip(), up);
        }
        let hidden = self
            .server
            .get(&skey)
            .and_then(|t| t.hidden.clone().map(|h| (h, t.source)));
        let mut body = None;
        if self.media.is_some() {
            if let Some(up) = self.server.get(&skey).map(|t| t.source.remote) {
                body = self.relay_media(now, resp, resp.body(), from.remote, up);
            }
            self.media_call_over(now, from.remote, resp);
        }
        if let Some((hidden, up)) = hidden {
            self.hide_response(&hidden, up, resp, &mut ed);
            if self.towards_peer(from.remote, up.remote) {
                let current = body.as_deref().unwrap_or(resp.body());
                if let Some(b) = self.hide_sdp_origin(up.local, resp, current) {
                    body = Some(b);
                }
            }
        }
        if let Some(b) = &body {
            ed.set(HeaderName::ContentLength, &b.len().to_string());
            ed.body(b);
        }
        let bytes = ed.finish();
        self.relay_response(now, from.remote, &skey, code, bytes);
    }

    /// Sends a response upstream through its server transaction (§16.7, §17.2).
    pub(crate) fn relay_response(
        &mut self,
        now: Instant,
        from: SocketAddr,
        skey: &ServerKey,
        code: u16,
        bytes: Vec<u8>,
    ) {
        let t = self.cfg.timers;
        let Some(stx) = self.server.get_mut(skey) else {
            self.drop_msg(from, DropReason::NoTransaction);
            return;
        };
        // Once a final response has gone up, only 2xx to INVITE may follow (§16.7 step 5).
        let final_sent = matches!(stx.state, State::Completed | State::Confirmed);
        if final_sent || (stx.state == State::Accepted && !(200..300).contains(&code)) {
            self.drop_msg(from, DropReason::Retransmission);
            return;
        }
        match code {
            100..=199 => stx.state = State::Proceeding,
            200..=299 if stx.invite => {
                stx.state = State::Accepted;
                stx.end_at = Some(now + t.transaction()); // Timer L
            }
            _ => {
                stx.state = State::Completed;
                if stx.invite {
                    stx.retransmit = Retransmit::start(&stx.source, now, t.t1); // Timer G
                    stx.end_at = Some(now + t.transaction()); // Timer H
                } else {
                    stx.end_at = Some(now + t.j(stx.source.transport)); // Timer J
                }
            }
        }
        stx.last_response = Some(bytes.clone());
        if code >= 200 {
            stx.compact();
        }
        if stx.invite && code >= 300 {
            self.sessions.end_invite(skey);
        }
        let to = stx.source;
        self.touch_server(skey);
        self.send(to, bytes);
        self.emit(Event::Relayed {
            from,
            to: to.remote,
            what: code.to_string(),
        });
    }

    /// Advances the clock: retransmissions, timeouts, clean-up. Only the
    /// transactions with a due entry in the timer queue are looked at.
    pub fn handle_timeout(&mut self, now: Instant) {
        // A pass may set deadlines that are already due: over a reliable
        // transport Timers D, I, J and K are zero (RFC 3261 §17), so a
        // 408 sent upstream on Timer F ends its server transaction at
        // once. Run them too, so that nothing is left due at `now`. Such
        // a timer ends its transaction, so a second pass sets none; the
        // bound is a guard.
        for _ in 0..4 {
            self.run_due_timers(now);
            if self.sip_deadline().is_none_or(|at| at > now) {
                break;
            }
        }
        self.media_timeout(now);
    }

    /// One pass over the deadlines due at `now`.
    fn run_due_timers(&mut self, now: Instant) {
        let (mut late, mut clients, mut servers) = (Vec::new(), Vec::new(), Vec::new());
        while let Some(e) = self.timers.pop_due(now) {
            if !self.timer_valid(e.at, &e.target) {
                continue;
            }
            match e.target {
                Target::Parked(id) => late.push(id),
                Target::Client(k) => {
                    if let Some(tx) = self.client.get_mut(&k) {
                        tx.scheduled = None;
                    }
                    clients.push(k);
                }
                Target::Server(k) => {
                    if let Some(tx) = self.server.get_mut(&k) {
                        tx.scheduled = None;
                    }
                    servers.push(k);
                }
            }
        }
        for id in late {
            self.on_resolved(
                now,
                id,
                Err(Unresolved {
                    status: 504,
                    reason: "Server Time-out - no route in time".into(),
                }),
            );
        }
        let t = self.cfg.timers;
        let mut sends = Vec::new();
        let mut timeouts = Vec::new();
        let mut cancels = Vec::new();
        for key in clients {
            let Some(tx) = self.client.get_mut(&key) else {
                continue;
            };
            if tx.end_at.is_some_and(|e| e <= now) {
                self.client.remove(&key);
                continue;
            }
            if tx.timeout_at.is_some_and(|e| e <= now) {
                if tx.invite && tx.state == State::Proceeding && !tx.cancelled {
                    // §16.8: Timer C fired after a provisional: CANCEL the
                    // branch, and give the 487 Timer B's time to arrive.
                    // Once cancelled, a further expiry ends it with a 408.
                    tx.cancelled = true;
                    tx.timeout_at = Some(now + t.transaction());
                    cancels.push((key.clone(), tx.dest, tx.request.clone()));
                    self.touch_client(&key);
                    continue;
                }
                // A cancelled branch is not retried (§16.10).
                let cancelled = tx.cancelled || tx.cancel_pending;
                timeouts.push((key.clone(), tx.server.clone(), cancelled));
                self.client.remove(&key);
                continue;
            }
            if let Some(r) = &mut tx.retransmit {
                if r.at <= now {
                    sends.push((tx.dest, tx.request.clone()));
                    // A and E double; E and G are capped at T2 (§17.1.2.2).
                    r.interval = if tx.invite {
                        r.interval * 2
                    } else {
                        (r.interval * 2).min(t.t2)
                    };
                    r.at = now + r.interval;
                }
            }
            self.touch_client(&key);
        }
        for key in servers {
            let Some(tx) = self.server.get_mut(&key) else {
                continue;
            };
            if tx.end_at.is_some_and(|e| e <= now) && tx.state != State::Proceeding {
                self.server.remove(&key);
                continue;
            }
            if let (Some(r), Some(resp)) = (&mut tx.retransmit, &tx.last_response) {
                if r.at <= now {
                    sends.push((tx.source, resp.clone()));
                    r.interval = (r.interval * 2).min(t.t2);
                    r.at = now + r.interval;
                }
            }
            self.touch_server(&key);
        }
        for (to, bytes) in sends {
            self.send(to, bytes);
        }
        for (key, dest, request) in cancels {
            let branch = key.branch.to_string();
            let Some(cancel) = build_cancel(&request) else {
                continue;
            };
            if self.server.len() + self.client.len() < self.cfg.max_transactions {
                self.start_client(now, &branch, "CANCEL", dest, cancel);
            } else {
                self.send(dest, cancel);
            }
        }
        for (key, server, cancelled) in timeouts {
            let branch = key.branch.to_string();
            self.emit(Event::TimedOut { branch });
            // §16.8: no final response from downstream: answer 408 upstream.
            if let Some(skey) = server {
                if !cancelled && self.fail_over(now, &skey) {
                    continue;
                }
                let Some(stx) = self.server.get(&skey) else {
                    continue;
                };
                if matches!(stx.state, State::Trying | State::Proceeding) {
                    let req_bytes = stx.request.clone();
                    if let Ok(req) =
                        Message::parse_with(&req_bytes, &self.cfg.limits, Framing::Datagram)
                    {
                        let tag = format!("sm{:x}", self.next_id() & 0xffff_ffff);
                        let bytes =
                            MessageBuilder::response_to(&req, 408, "Request Timeout", Some(&tag))
                                .build();
                        let to = self.server.get(&skey).map(|s| s.source.remote);
                        if let (Some(up), true) = (to, self.media.is_some()) {
                            // The call never was: its relay goes with it,
                            // as with a failure from downstream. The 408
                            // carries the Call-ID as the caller knows it.
                            if let Ok(resp) =
                                Message::parse_with(&bytes, &self.cfg.limits, Framing::Datagram)
                            {
                                self.media_call_over(now, up, &resp);
                            }
                        }
                        self.relay_response(now, to.unwrap_or(self.cfg.local), &skey, 408, bytes);
                    }
                }
            }
        }
        self.settle_timers();
        self.shrink_when_idle();
    }

    /// Hands memory back after a load peak: a map keeps its capacity when
    /// emptied, so one burst would hold its high-water mark for good.
    fn shrink_when_idle(&mut self) {
        fn shrink<K: std::hash::Hash + Eq, V>(m: &mut HashMap<K, V>) {
            if m.capacity() > 1024 && m.len() < m.capacity() / 4 {
                m.shrink_to(m.len() * 2);
            }
        }
        shrink(&mut self.server);
        shrink(&mut self.client);
        shrink(&mut self.parked);
        self.timers.shrink_when_idle();
    }
}

impl Node for Sbe {
    type Command = Command;
    type Event = Event;

    fn handle_input(&mut self, now: Instant, input: Input<'_, Command>) {
        match input {
            Input::Datagram { path, bytes } => {
                if self.media.as_ref().is_some_and(|m| m.owns(path.local)) {
                    self.media_datagram(now, path, bytes);
                } else {
                    self.handle_message(now, path, bytes, Framing::Datagram)
                }
            }
            Input::StreamData {
                path,
                bytes,
                closed,
            } => {
                let limits = self.cfg.limits;
                let (messages, verdict) = self.streams.feed(path, bytes, closed, &limits);
                for m in messages {
                    self.handle_message(now, path, &m, Framing::Stream);
                }
                if closed && self.outbound.contains_key(&path) {
                    self.connection_lost(now, path, "the connection closed");
                    self.settle_timers();
                }
                if let stream::Verdict::Close = verdict {
                    self.out.push_back(Output::Close(path));
                    self.emit(Event::StreamClosed { from: path.remote });
                }
            }
            Input::Timeout => self.handle_timeout(now),
            Input::Command(Command::Resolved { id, result }) => {
                self.on_resolved(now, id, result.map_err(|f| f.response()))
            }
            Input::Command(Command::ConnectFailed { path, reason }) => {
                self.connection_lost(now, path, &reason);
                self.settle_timers();
            }
        }
    }

    fn poll_output(&mut self) -> Option<Output> {
        if let Some(o) = self.out.pop_front() {
            return Some(o);
        }
        // Then, once, when to call back: the earliest timer, its own or
        // its DBE's, if it moved.
        let next = self.poll_timeout();
        if next != self.reported_timeout {
            self.reported_timeout = next;
            return next.map(Output::Timeout);
        }
        None
    }
}

//! The reference Signaling Function (RFC 6406 §6.2): a stateful SIP proxy
//! (RFC 3261 §16) on the RFC 3261 §17 transaction layer, with the RFC 6026
//! "Accepted" states, and the peering policy of a border element.
//!
//! Sans-IO: feed it datagrams with [`Sbe::handle_datagram`] and the clock
//! with [`Sbe::handle_timeout`]; after *every* input, drain
//! [`Sbe::poll_output`] until it returns `None`, then sleep until
//! [`Sbe::poll_timeout`]. Time is always an argument, never read here, so a
//! virtual clock runs a 32 s Timer B in no time.
//!
//! Policy, each rule with its source:
//! - only authorised peers and the configured next hop may send requests;
//!   anyone else gets 403 "Unsupported Peer" (RFC 6406 §6.2.2, RFC 6404 §4.6);
//! - requests from a peer go to the configured next hop, never where the
//!   peer's Route or Request-URI points (no open relay); requests from the
//!   next hop go to the peer named by the Route set or Request-URI, and only
//!   to an authorised peer;
//! - a response is accepted only from the address its request was sent to,
//!   so a forged 200 from elsewhere is dropped (RFC 6404 §4.6);
//! - REGISTER from a peer is refused with 403 (RFC 6404 §2.3.2.1);
//! - malformed requests get 400 with a reason naming the fault, never a
//!   relay (RFC 6404 §4.11); Max-Forwards 0 gets 483 (RFC 3261 §16.3);
//! - bodies, SDP included, are relayed untouched (RFC 6271 #17).
//!
//! The [`Faults`] switches turn individual rules off, so that each
//! conformance check can be shown to fail against a stack that breaks it.

use crate::edit::{Editor, MessageBuilder, sanitize_phrase};
use crate::headers::{MAGIC_COOKIE, split_list};
use crate::message::{HeaderName, Message, Transport};
use crate::uri::Uri;
use crate::{Limits, ParseError};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// RFC 3261 timer base values (§17.1.1.1, table 4).
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

/// Misbehaviour switches: each breaks one rule a conformance check looks for.
/// All off is the correct stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Faults {
    /// Relay malformed requests as received instead of answering 400.
    pub forward_malformed: bool,
    /// Treat every source as an authorised peer.
    pub accept_strangers: bool,
    /// Accept responses from any source for a live client transaction.
    pub relay_forged_responses: bool,
    /// Remove `a=` lines the stack does not know from relayed SDP.
    pub strip_unknown_sdp: bool,
    /// Relay REGISTER from peers.
    pub accept_register: bool,
    /// Neither check nor decrement Max-Forwards.
    pub ignore_max_forwards: bool,
    /// Stop processing anything after the first malformed request (a crash).
    pub die_on_malformed: bool,
    /// Send to the last resolved next hop instead of the first: SRV
    /// priority and NAPTR order ignored (RFC 3263 §4.4, RFC 2782).
    pub ignore_srv_priority: bool,
    /// Route outbound requests only to users on a provisioned list
    /// ([`Faults::KNOWN_USERS`]), others get 404: per-user knowledge of
    /// the peer, which RFC 6271 #8 says an SSP must not need.
    pub known_users_only: bool,
    /// Ask DNS for the ENUM domain built from the raw `tel:` text, every
    /// character a label, before the real lookup (read by the driver): a
    /// LUF that passes hostile input through (RFC 6404 §4.1).
    pub raw_enum_query: bool,
    /// Never try the next resolved hop after a 503 or a timeout: the
    /// caller gets the failure (RFC 3263 §4.3, RFC 6404 §4.8).
    pub no_failover: bool,
    /// Present a TLS certificate for another domain than the element's
    /// own (read by the driver set-up, RFC 5922 §7).
    pub wrong_certificate: bool,
    /// Resolve a `sips:` target as `sip:` and send it over UDP: a
    /// transport downgrade (RFC 3261 §26.2.2 forbids it; RFC 6271 #6).
    pub prefer_udp: bool,
    /// Route by the ENUM result but leave the `tel:` Request-URI as it
    /// came, so the peer never sees the target URI (RFC 6116 §3.3).
    pub keep_tel_uri: bool,
    /// Resolve without the DNSSEC trust anchors (read by the driver that
    /// builds the resolver, RFC 6404 §4.2).
    pub ignore_dnssec: bool,
    /// Ask only the first configured DNS server (read by the driver,
    /// RFC 6404 §4.3).
    pub single_dns_server: bool,
    /// Publish a stale SRV record for the element's own domain, naming a
    /// port nothing listens on (read by the embedded DNS set-up, RFC 6271
    /// Requirement #1).
    pub stale_dns: bool,
}

impl Faults {
    /// The provisioned users of `known_users_only`.
    pub const KNOWN_USERS: [&'static str; 7] = [
        "alice",
        "bob",
        "carol",
        "dave",
        "erin",
        "frank",
        "+441632960083",
    ];

    /// Every switch by its kebab-case name, for CLIs and test tables.
    pub const NAMES: [&'static str; 17] = [
        "forward-malformed",
        "accept-strangers",
        "relay-forged-responses",
        "strip-unknown-sdp",
        "accept-register",
        "ignore-max-forwards",
        "die-on-malformed",
        "ignore-srv-priority",
        "keep-tel-uri",
        "ignore-dnssec",
        "single-dns-server",
        "stale-dns",
        "prefer-udp",
        "wrong-certificate",
        "no-failover",
        "known-users-only",
        "raw-enum-query",
    ];

    /// Turns on the switch named `name`; false if there is none.
    pub fn enable(&mut self, name: &str) -> bool {
        let flag = match name {
            "forward-malformed" => &mut self.forward_malformed,
            "accept-strangers" => &mut self.accept_strangers,
            "relay-forged-responses" => &mut self.relay_forged_responses,
            "strip-unknown-sdp" => &mut self.strip_unknown_sdp,
            "accept-register" => &mut self.accept_register,
            "ignore-max-forwards" => &mut self.ignore_max_forwards,
            "die-on-malformed" => &mut self.die_on_malformed,
            "ignore-srv-priority" => &mut self.ignore_srv_priority,
            "keep-tel-uri" => &mut self.keep_tel_uri,
            "ignore-dnssec" => &mut self.ignore_dnssec,
            "single-dns-server" => &mut self.single_dns_server,
            "stale-dns" => &mut self.stale_dns,
            "prefer-udp" => &mut self.prefer_udp,
            "wrong-certificate" => &mut self.wrong_certificate,
            "no-failover" => &mut self.no_failover,
            "known-users-only" => &mut self.known_users_only,
            "raw-enum-query" => &mut self.raw_enum_query,
            _ => return false,
        };
        *flag = true;
        true
    }
}

/// Configuration of the border element.
#[derive(Debug, Clone)]
pub struct SbeConfig {
    /// The address it listens on: written into Via and Record-Route.
    pub local: SocketAddr,
    /// Source addresses of authorised peers (any port).
    pub peers: Vec<IpAddr>,
    /// Where requests from peers are sent: the element's own domain side.
    pub next_hop: SocketAddr,
    /// Transaction timers.
    pub timers: Timers,
    /// Parser limits.
    pub limits: Limits,
    /// Most live transactions; beyond it new requests get 503.
    pub max_transactions: usize,
    /// Requests from the next hop whose target is a domain name or a
    /// `tel:` URI are handed to the driver for ENUM and RFC 3263
    /// resolution ([`Output::Resolve`]); off, they get 404.
    pub resolve_names: bool,
    /// How long a request may wait for [`Sbe::on_resolved`] before it is
    /// answered 504.
    pub resolve_timeout: Duration,
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
            peers,
            next_hop,
            timers: Timers::default(),
            limits: Limits::default(),
            max_transactions: 4096,
            resolve_names: false,
            resolve_timeout: Duration::from_secs(8),
            seed: 0x5eed_5eed,
            faults: Faults::default(),
        }
    }
}

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
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send `bytes` to `to`.
    Transmit {
        /// Destination.
        to: SocketAddr,
        /// One SIP message.
        bytes: Vec<u8>,
    },
    /// Report an event.
    Event(Event),
    /// Find where `target` leads (LUF for `tel:`, then LRF) and call
    /// [`Sbe::on_resolved`] with `id`.
    Resolve {
        /// Names this request.
        id: u64,
        /// The URI to resolve, as it appears in the request.
        target: String,
    },
}

/// Where a resolution led (the driver's answer to [`Output::Resolve`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The target URI: the ENUM result for a `tel:` target; the target
    /// itself otherwise.
    pub target_uri: String,
    /// UDP next hops in the order RFC 3263 §4.4 says to try them.
    pub hops: Vec<SocketAddr>,
}

/// Why a resolution led nowhere: the final response to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved {
    /// Status code, e.g. 404 (no such number or domain) or 503 (DNS
    /// failure, DNSSEC validation failure).
    pub status: u16,
    /// Reason phrase naming the cause.
    pub reason: String,
}

/// A request waiting for its route.
#[derive(Debug)]
struct Parked {
    key: String,
    deadline: Instant,
}

/// Where [`Sbe::route`] sends a request.
enum Dest {
    Now(SocketAddr),
    Resolve(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Request sent / received, no response yet (Calling, Trying).
    Trying,
    /// A provisional response has passed.
    Proceeding,
    /// A final non-2xx (or any final, non-INVITE) has passed.
    Completed,
    /// ACK received for a non-2xx final (server INVITE only).
    Confirmed,
    /// A 2xx to INVITE has passed (RFC 6026 §7).
    Accepted,
}

/// A timer: when it fires, and the interval for the next retransmission.
#[derive(Debug, Clone, Copy)]
struct Retransmit {
    at: Instant,
    interval: Duration,
}

#[derive(Debug)]
struct ServerTx {
    invite: bool,
    source: SocketAddr,
    request: Vec<u8>,
    state: State,
    last_response: Option<Vec<u8>>,
    client: Option<String>,
    /// Timer G (INVITE final response retransmission).
    retransmit: Option<Retransmit>,
    /// Timers H, I, J, L: the transaction ends.
    end_at: Option<Instant>,
    /// Next hops not tried yet, in RFC 3263 order, for failover on 503 or
    /// timeout (§4.3), and the Request-URI they are sent with.
    alternates: Vec<SocketAddr>,
    rewrite: Option<String>,
}

impl ServerTx {
    /// A transaction for `req` from `source`, in `state`, nothing sent yet.
    fn new(req: &Message<'_>, source: SocketAddr, state: State) -> Self {
        Self {
            invite: req.method() == "INVITE",
            source,
            request: req.as_bytes().to_vec(),
            state,
            last_response: None,
            client: None,
            retransmit: None,
            end_at: None,
            alternates: Vec::new(),
            rewrite: None,
        }
    }
}

#[derive(Debug)]
struct ClientTx {
    invite: bool,
    dest: SocketAddr,
    request: Vec<u8>,
    state: State,
    server: Option<String>,
    /// Timers A and E.
    retransmit: Option<Retransmit>,
    /// Timers B and F: no final response in time.
    timeout_at: Option<Instant>,
    /// Timers D, K, M: the transaction ends.
    end_at: Option<Instant>,
    /// A CANCEL arrived before any provisional response (RFC 3261 §9.1).
    cancel_pending: bool,
    /// The ACK sent for a non-2xx final, resent on its retransmission.
    ack: Option<Vec<u8>>,
    /// A CANCEL went downstream for this INVITE (the peer's, or Timer C's):
    /// never a second one (§9.1, §16.8).
    cancelled: bool,
}

/// The border element's signaling core.
#[derive(Debug)]
pub struct Sbe {
    cfg: SbeConfig,
    server: HashMap<String, ServerTx>,
    client: HashMap<String, ClientTx>,
    out: VecDeque<Output>,
    counter: u64,
    dead: bool,
    parked: HashMap<u64, Parked>,
}

/// Which side a source is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Peer,
    NextHop,
    Stranger,
}

impl Sbe {
    /// A new element.
    pub fn new(cfg: SbeConfig) -> Self {
        Self {
            cfg,
            server: HashMap::new(),
            client: HashMap::new(),
            out: VecDeque::new(),
            counter: 0,
            dead: false,
            parked: HashMap::new(),
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

    /// The next output, until `None`.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`Sbe::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let s = self
            .server
            .values()
            .flat_map(|t| [t.retransmit.map(|r| r.at), t.end_at]);
        let c = self
            .client
            .values()
            .flat_map(|t| [t.retransmit.map(|r| r.at), t.timeout_at, t.end_at]);
        let p = self.parked.values().map(|p| Some(p.deadline));
        s.chain(c).chain(p).flatten().min()
    }

    fn side(&self, from: SocketAddr) -> Side {
        if from == self.cfg.next_hop {
            Side::NextHop
        } else if self.cfg.peers.contains(&from.ip()) || self.cfg.faults.accept_strangers {
            Side::Peer
        } else if from.ip() == self.cfg.next_hop.ip() {
            Side::NextHop
        } else {
            Side::Stranger
        }
    }

    fn emit(&mut self, e: Event) {
        self.out.push_back(Output::Event(e));
    }

    fn send(&mut self, to: SocketAddr, bytes: Vec<u8>) {
        self.out.push_back(Output::Transmit { to, bytes });
    }

    fn drop_msg(&mut self, from: SocketAddr, reason: DropReason) {
        self.emit(Event::Dropped { from, reason });
    }

    fn next_id(&mut self) -> u64 {
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

    /// The misbehaviour switches, for drivers that play some of them.
    pub fn faults(&self) -> Faults {
        self.cfg.faults
    }

    /// The parser limits, for a driver that frames streams.
    pub fn limits(&self) -> Limits {
        self.cfg.limits
    }

    /// One datagram from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        self.handle_message(now, from, bytes, Transport::Datagram);
    }

    /// One message framed from a TCP or TLS connection whose far end is
    /// `from` (RFC 3261 §18.3: Content-Length is then mandatory). Answers
    /// go to `from`, which the driver maps back to the connection
    /// (§18.2.2).
    pub fn handle_stream_message(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        self.handle_message(now, from, bytes, Transport::Stream);
    }

    fn handle_message(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &[u8],
        transport: Transport,
    ) {
        if self.dead {
            self.drop_msg(from, DropReason::Dead);
            return;
        }
        let side = self.side(from);
        match Message::parse_with(bytes, &self.cfg.limits, transport) {
            Ok(msg) if msg.is_request() => self.on_request(now, from, side, &msg),
            Ok(msg) => self.on_response(now, from, &msg),
            Err(e) => self.on_malformed(from, side, bytes, e),
        }
    }

    fn on_malformed(&mut self, from: SocketAddr, side: Side, bytes: &[u8], e: ParseError) {
        if !looks_like_request(bytes) {
            self.drop_msg(
                from,
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
            self.drop_msg(from, DropReason::Stranger);
            return;
        }
        if self.cfg.faults.forward_malformed && side == Side::Peer {
            let to = self.cfg.next_hop;
            self.send(to, bytes.to_vec());
            self.emit(Event::Relayed {
                from,
                to,
                what: "malformed".into(),
            });
            return;
        }
        let reason = e.reason_phrase();
        let Some(resp) = salvage_response(bytes, e.kind.status_code(), &reason) else {
            // Without a Via the sender could not match an answer (RFC 3261 §8.2.6).
            self.drop_msg(from, DropReason::Unparseable);
            return;
        };
        self.send(from, resp);
        self.emit(Event::Answered {
            to: from,
            status: e.kind.status_code(),
            reason,
        });
        if self.cfg.faults.die_on_malformed {
            self.dead = true;
        }
    }

    fn answer(
        &mut self,
        to: SocketAddr,
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
            to,
            status,
            reason: reason.to_string(),
        });
        bytes
    }

    fn on_request(&mut self, now: Instant, from: SocketAddr, side: Side, req: &Message<'_>) {
        let method = req.method();
        if side == Side::Stranger {
            if method == "ACK" {
                self.drop_msg(from, DropReason::Stranger);
            } else {
                // RFC 6406 §6.2.2.
                self.answer(from, req, 403, "Unsupported Peer", &[]);
            }
            return;
        }
        let key = server_key(req);
        // Retransmission, or ACK for a non-2xx final (RFC 3261 §17.2.1, §17.2.3).
        let lookup = if method == "ACK" {
            invite_key(&key)
        } else {
            key.clone()
        };
        if let Some(tx) = self.server.get_mut(&lookup) {
            if method == "ACK" {
                if tx.state == State::Completed {
                    tx.state = State::Confirmed;
                    tx.retransmit = None;
                    tx.end_at = Some(now + self.cfg.timers.t4); // Timer I
                }
                if tx.state != State::Accepted {
                    self.drop_msg(from, DropReason::Retransmission);
                    return;
                }
                // An ACK for a 2xx is end to end: relay it below.
            } else {
                if let Some(r) = tx.last_response.clone() {
                    let src = tx.source;
                    self.send(src, r);
                }
                self.drop_msg(from, DropReason::Retransmission);
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
        if method == "CANCEL" {
            self.on_cancel(now, from, req, &key);
            return;
        }
        // RFC 3261 §16.3 request validation.
        if let Some(Uri::Other { .. }) = req.request_uri() {
            self.reject(now, from, req, &key, 416, "Unsupported URI Scheme", &[]);
            return;
        }
        if !self.cfg.faults.ignore_max_forwards && req.core().max_forwards == Some(0) {
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
        if method == "REGISTER" && side == Side::Peer && !self.cfg.faults.accept_register {
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
        let dest = match self.route(side, req) {
            Ok(Dest::Now(d)) => d,
            Ok(Dest::Resolve(target)) => {
                self.park(now, from, req, key, target);
                return;
            }
            Err(why) => {
                self.reject(now, from, req, &key, 404, why, &[]);
                return;
            }
        };
        self.forward(now, from, req, key, dest, None, false);
    }

    /// Holds a request while the driver resolves its target. The server
    /// transaction exists at once, so retransmissions are absorbed (and an
    /// INVITE gets its 100, RFC 3261 §16.2) instead of asking again.
    fn park(
        &mut self,
        now: Instant,
        from: SocketAddr,
        req: &Message<'_>,
        key: String,
        target: String,
    ) {
        if self.server.contains_key(&key) {
            // Only an ACK gets here with its key taken (it looks up its
            // INVITE's transaction instead): a retransmission of an ACK
            // already parked. A second entry would share its transaction.
            self.drop_msg(from, DropReason::Retransmission);
            return;
        }
        if self.server.len() + self.client.len() >= self.cfg.max_transactions {
            // Again only an ACK: relayed at once it needs no transaction, so
            // it skipped the room check, but parked it holds one. It takes
            // no 503 (RFC 3261 §17.1.1.3).
            self.drop_msg(from, DropReason::RefusedAck);
            return;
        }
        let trying = self.trying(from, req, false);
        self.server.insert(
            key.clone(),
            ServerTx {
                last_response: trying,
                ..ServerTx::new(req, from, State::Proceeding)
            },
        );
        let id = self.next_id();
        self.parked.insert(
            id,
            Parked {
                key,
                deadline: now + self.cfg.resolve_timeout,
            },
        );
        self.out.push_back(Output::Resolve { id, target });
    }

    /// §16.2: a stateful proxy answers an INVITE with 100 at once; the
    /// 100 is kept as the last response for retransmissions. `sent`: it
    /// went already (the request was parked while its route was found).
    fn trying(&mut self, to: SocketAddr, req: &Message<'_>, sent: bool) -> Option<Vec<u8>> {
        let trying = (req.method() == "INVITE")
            .then(|| MessageBuilder::response_to(req, 100, "Trying", None).build());
        if let Some(t) = trying.as_ref().filter(|_| !sent) {
            self.send(to, t.clone());
        }
        trying
    }

    /// The driver's answer to [`Output::Resolve`]. Unknown or late ids
    /// (already answered 504, or cancelled) are ignored.
    pub fn on_resolved(&mut self, now: Instant, id: u64, result: Result<Resolved, Unresolved>) {
        let Some(parked) = self.parked.remove(&id) else {
            return;
        };
        let Some(tx) = self.server.remove(&parked.key) else {
            return;
        };
        let Ok(req) = Message::parse_with(&tx.request, &self.cfg.limits, Transport::Datagram)
        else {
            return;
        };
        let (from, key) = (tx.source, parked.key);
        let mut alternates = Vec::new();
        let routed = result.and_then(|r| {
            let hop = if self.cfg.faults.ignore_srv_priority {
                r.hops.last()
            } else {
                r.hops.first()
            };
            if let Some(h) = hop {
                alternates = r.hops.iter().copied().filter(|a| a != h).collect();
            }
            match hop {
                Some(&h) => Ok((r.target_uri, h)),
                None => Err(Unresolved {
                    status: 404,
                    reason: "Not Found - no UDP next hop".into(),
                }),
            }
        });
        match routed {
            // Relaying adds a client transaction to the server one the
            // request held while parked: without room for it, 503, as
            // `on_request` answers (an ACK needs none).
            Ok(_)
                if req.method() != "ACK"
                    && self.server.len() + self.client.len() + 2 > self.cfg.max_transactions =>
            {
                let retry = [("Retry-After", "5")];
                self.reject(now, from, &req, &key, 503, "Service Unavailable", &retry);
            }
            Ok((uri, dest)) => {
                // RFC 3261 §16.5-16.6: the Request-URI becomes the target
                // the location service (here ENUM) produced. A target taken
                // from the Route set only says where to send: loose routing
                // leaves the Request-URI alone (§16.4, §16.12).
                let by_route = req
                    .name_addrs(HeaderName::Route)
                    .any(|na| !self.is_me(&na.uri));
                let rewrite = req
                    .request_uri()
                    .is_some_and(|u| u.raw() != uri && !by_route && !self.cfg.faults.keep_tel_uri)
                    .then_some(uri);
                self.forward(now, from, &req, key.clone(), dest, rewrite.as_deref(), true);
                if let Some(stx) = self.server.get_mut(&key) {
                    stx.alternates = alternates;
                    stx.rewrite = rewrite;
                }
            }
            Err(u) => self.reject(now, from, &req, &key, u.status, &u.reason, &[]),
        }
    }

    /// RFC 3263 §4.3: after a 503 or a timeout from one resolved hop, the
    /// request goes to the next (a new branch; the failed client
    /// transaction stays to absorb retransmissions). False when there is
    /// no next hop, no room, or the request is over.
    fn fail_over(&mut self, now: Instant, skey: &str) -> bool {
        if self.cfg.faults.no_failover
            || self.server.len() + self.client.len() + 1 > self.cfg.max_transactions
        {
            return false;
        }
        let Some(stx) = self.server.get_mut(skey) else {
            return false;
        };
        if stx.alternates.is_empty() || !matches!(stx.state, State::Trying | State::Proceeding) {
            return false;
        }
        let next = stx.alternates.remove(0);
        let (rest, rewrite) = (std::mem::take(&mut stx.alternates), stx.rewrite.take());
        let (source, bytes) = (stx.source, stx.request.clone());
        let Ok(req) = Message::parse_with(&bytes, &self.cfg.limits, Transport::Datagram) else {
            return false;
        };
        self.forward(
            now,
            source,
            &req,
            skey.to_owned(),
            next,
            rewrite.as_deref(),
            true,
        );
        if let Some(stx) = self.server.get_mut(skey) {
            stx.alternates = rest;
            stx.rewrite = rewrite;
        }
        true
    }

    /// Answers a request with a final response from a new server transaction,
    /// so that retransmissions get the same answer.
    #[allow(clippy::too_many_arguments)]
    fn reject(
        &mut self,
        now: Instant,
        from: SocketAddr,
        req: &Message<'_>,
        key: &str,
        status: u16,
        reason: &str,
        extra: &[(&str, &str)],
    ) {
        if req.method() == "ACK" {
            // An ACK takes no response (RFC 3261 §17.1.1.3): drop it.
            self.drop_msg(from, DropReason::RefusedAck);
            return;
        }
        let bytes = self.answer(from, req, status, reason, extra);
        let invite = req.method() == "INVITE";
        let t = self.cfg.timers;
        self.server.insert(
            key.to_string(),
            ServerTx {
                last_response: Some(bytes),
                retransmit: invite.then_some(Retransmit {
                    at: now + t.t1,
                    interval: t.t1,
                }),
                end_at: Some(now + 64 * t.t1), // Timer H or J
                ..ServerTx::new(req, from, State::Completed)
            },
        );
    }

    /// Where a request goes: see the module docs for the policy.
    fn route(&self, side: Side, req: &Message<'_>) -> Result<Dest, &'static str> {
        if side == Side::Peer {
            return Ok(Dest::Now(self.cfg.next_hop));
        }
        // From the next hop: the first Route that is not us, else the Request-URI.
        let target = req
            .name_addrs(HeaderName::Route)
            .map(|na| na.uri)
            .find(|u| !self.is_me(u))
            .or_else(|| req.request_uri().copied());
        if self.cfg.resolve_names {
            // A name or a number: the LUF/LRF decide (RFC 6406 §4 steps 1-2).
            let by_name = match &target {
                Some(Uri::Tel(_)) => true,
                Some(Uri::Sip(s)) => s.host.ip().is_none(),
                _ => false,
            };
            if self.cfg.faults.known_users_only {
                let user = match &target {
                    Some(Uri::Sip(s)) => s.user.unwrap_or(""),
                    Some(Uri::Tel(t)) => t.number,
                    _ => "",
                };
                if by_name && !Faults::KNOWN_USERS.contains(&user) {
                    return Err("Not Found - unknown user");
                }
            }
            if let (true, Some(t)) = (by_name, &target) {
                let raw = t.raw();
                let target = match raw.strip_prefix("sips:") {
                    Some(rest) if self.cfg.faults.prefer_udp => format!("sip:{rest}"),
                    _ => raw.to_owned(),
                };
                return Ok(Dest::Resolve(target));
            }
        }
        let addr = target
            .as_ref()
            .and_then(|u| u.as_sip())
            .and_then(|s| {
                s.host
                    .ip()
                    .map(|ip| SocketAddr::new(ip, s.port.unwrap_or(5060)))
            })
            .ok_or("No Route To Target")?;
        if self.cfg.peers.contains(&addr.ip()) {
            Ok(Dest::Now(addr))
        } else {
            Err("Not A Peer")
        }
    }

    fn is_me(&self, uri: &Uri<'_>) -> bool {
        uri.as_sip().is_some_and(|s| {
            s.host.ip() == Some(self.cfg.local.ip())
                && s.port.unwrap_or(5060) == self.cfg.local.port()
        })
    }

    fn my_host(&self) -> String {
        match self.cfg.local {
            SocketAddr::V4(a) => a.to_string(),
            SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
        }
    }

    /// RFC 3261 §16.6: copy, adjust, add Record-Route and Via, send. After a
    /// resolution the Request-URI may change and the 100 has gone already.
    #[allow(clippy::too_many_arguments)]
    fn forward(
        &mut self,
        now: Instant,
        from: SocketAddr,
        req: &Message<'_>,
        key: String,
        dest: SocketAddr,
        request_uri: Option<&str>,
        trying_sent: bool,
    ) {
        let method = req.method();
        let invite = method == "INVITE";
        let branch = format!("{MAGIC_COOKIE}-sm{:016x}", self.next_id());
        let me = self.my_host();
        let mut ed = Editor::new(req);
        if let Some(uri) = request_uri {
            ed.start_line(&format!("{method} {uri} SIP/2.0"));
        }
        ed.prepend("Via", &format!("SIP/2.0/UDP {me};branch={branch};rport"));
        if matches!(method, "INVITE" | "SUBSCRIBE" | "REFER") {
            ed.prepend("Record-Route", &format!("<sip:{me};lr>"));
        }
        // Loose routing (§16.4): remove our own Route entry.
        if req
            .name_addrs(HeaderName::Route)
            .next()
            .is_some_and(|na| self.is_me(&na.uri))
        {
            ed.remove_first_value(HeaderName::Route);
        }
        if !self.cfg.faults.ignore_max_forwards {
            let mf = req.core().max_forwards.map_or(70, |m| m.saturating_sub(1));
            ed.set(HeaderName::MaxForwards, &mf.to_string());
        }
        let stripped;
        if self.cfg.faults.strip_unknown_sdp && req.core().content_type.is_some_and(|c| c.is_sdp())
        {
            stripped = strip_unknown_attributes(req.body());
            ed.set(HeaderName::ContentLength, &stripped.len().to_string());
            ed.body(&stripped);
        }
        let bytes = ed.finish();
        self.send(dest, bytes.clone());
        self.emit(Event::Relayed {
            from,
            to: dest,
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
                client: Some(branch.clone()),
                ..ServerTx::new(req, from, state)
            },
        );
        self.client.insert(
            client_key(&branch, method),
            ClientTx {
                invite,
                dest,
                request: bytes,
                state: State::Trying,
                server: Some(key),
                retransmit: Some(Retransmit {
                    at: now + t.t1,
                    interval: t.t1,
                }), // Timer A or E
                timeout_at: Some(now + 64 * t.t1), // Timer B or F
                end_at: None,
                cancel_pending: false,
                ack: None,
                cancelled: false,
            },
        );
    }

    /// RFC 3261 §16.10 and §9.2.
    fn on_cancel(&mut self, now: Instant, from: SocketAddr, req: &Message<'_>, key: &str) {
        let ikey = invite_key(key);
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
        let ckey = client_key(&branch, "INVITE");
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
        dest: SocketAddr,
        bytes: Vec<u8>,
    ) {
        let t = self.cfg.timers;
        self.send(dest, bytes.clone());
        self.client.insert(
            client_key(branch, method),
            ClientTx {
                invite: false,
                dest,
                request: bytes,
                state: State::Trying,
                server: None,
                retransmit: Some(Retransmit {
                    at: now + t.t1,
                    interval: t.t1,
                }),
                timeout_at: Some(now + 64 * t.t1),
                end_at: None,
                cancel_pending: false,
                ack: None,
                cancelled: false,
            },
        );
    }

    fn on_response(&mut self, now: Instant, from: SocketAddr, resp: &Message<'_>) {
        let via = resp.core().via;
        let ckey = match via.branch() {
            Some(b) => client_key(b, resp.core().cseq.method),
            None => {
                self.drop_msg(from, DropReason::NoTransaction);
                return;
            }
        };
        let Some(ctx) = self.client.get_mut(&ckey) else {
            self.drop_msg(from, DropReason::NoTransaction);
            return;
        };
        if ctx.dest != from && !self.cfg.faults.relay_forged_responses {
            self.drop_msg(from, DropReason::WrongSource);
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
                ctx.end_at = Some(now + 64 * t.t1); // Timer M
            }
            (State::Trying | State::Proceeding, 200..=699) => {
                ctx.state = State::Completed;
                ctx.retransmit = None;
                ctx.timeout_at = None;
                ctx.end_at = Some(
                    now + if invite {
                        Duration::from_secs(32)
                    } else {
                        t.t4
                    },
                ); // D or K
                if invite {
                    ctx.ack = build_ack(&ctx.request, resp);
                }
            }
            (State::Accepted, 200..=299) => {} // 2xx retransmission: relay it.
            (State::Completed, _) => {
                // Retransmitted final: resend our ACK, relay nothing.
                if let Some(ack) = ctx.ack.clone() {
                    let d = ctx.dest;
                    self.send(d, ack);
                }
                self.drop_msg(from, DropReason::Retransmission);
                return;
            }
            _ => {
                self.drop_msg(from, DropReason::Retransmission);
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
        let (dest, request, server_key) = (ctx.dest, ctx.request.clone(), ctx.server.clone());
        if let Some(ack) = ack {
            self.send(dest, ack);
        }
        if invite && code >= 200 {
            // The INVITE is over: a CANCEL still retransmitting for it has
            // nothing left to cancel (the UAS ignores it, §9.2), so stop it.
            if let Some(b) = via.branch() {
                self.client.remove(&client_key(b, "CANCEL"));
            }
        }
        if pending_cancel {
            if let (Some(cancel), Some(b)) = (build_cancel(&request), via.branch()) {
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
            self.drop_msg(from, DropReason::Retransmission);
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
        let bytes = ed.finish();
        self.relay_response(now, from, &skey, code, bytes);
    }

    /// Sends a response upstream through its server transaction (§16.7, §17.2).
    fn relay_response(
        &mut self,
        now: Instant,
        from: SocketAddr,
        skey: &str,
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
                stx.end_at = Some(now + 64 * t.t1); // Timer L
            }
            _ => {
                stx.state = State::Completed;
                if stx.invite {
                    stx.retransmit = Some(Retransmit {
                        at: now + t.t1,
                        interval: t.t1,
                    }); // Timer G
                    stx.end_at = Some(now + 64 * t.t1); // Timer H
                } else {
                    stx.end_at = Some(now + 64 * t.t1); // Timer J
                }
            }
        }
        stx.last_response = Some(bytes.clone());
        let to = stx.source;
        self.send(to, bytes);
        self.emit(Event::Relayed {
            from,
            to,
            what: code.to_string(),
        });
    }

    /// Advances the clock: retransmissions, timeouts, clean-up.
    pub fn handle_timeout(&mut self, now: Instant) {
        let late: Vec<u64> = self
            .parked
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
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
        self.client.retain(|key, tx| {
            if tx.end_at.is_some_and(|e| e <= now) {
                return false;
            }
            if tx.timeout_at.is_some_and(|e| e <= now) {
                if tx.invite && tx.state == State::Proceeding && !tx.cancelled {
                    // §16.8: Timer C fired after a provisional: CANCEL the
                    // branch, and give the 487 Timer B's time to arrive.
                    // Once cancelled, a further expiry ends it with a 408.
                    tx.cancelled = true;
                    tx.timeout_at = Some(now + 64 * t.t1);
                    cancels.push((key.clone(), tx.dest, tx.request.clone()));
                    return true;
                }
                // A cancelled branch is not retried (§16.10).
                let cancelled = tx.cancelled || tx.cancel_pending;
                timeouts.push((key.clone(), tx.server.clone(), cancelled));
                return false;
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
            true
        });
        self.server.retain(|_, tx| {
            if tx.end_at.is_some_and(|e| e <= now) && tx.state != State::Proceeding {
                return false;
            }
            if let (Some(r), Some(resp)) = (&mut tx.retransmit, &tx.last_response) {
                if r.at <= now {
                    sends.push((tx.source, resp.clone()));
                    r.interval = (r.interval * 2).min(t.t2);
                    r.at = now + r.interval;
                }
            }
            true
        });
        for (to, bytes) in sends {
            self.send(to, bytes);
        }
        for (key, dest, request) in cancels {
            let branch = key.split('|').next().unwrap_or_default().to_string();
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
            let branch = key.split('|').next().unwrap_or_default().to_string();
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
                        Message::parse_with(&req_bytes, &self.cfg.limits, Transport::Datagram)
                    {
                        let tag = format!("sm{:x}", self.next_id() & 0xffff_ffff);
                        let bytes =
                            MessageBuilder::response_to(&req, 408, "Request Timeout", Some(&tag))
                                .build();
                        let to = self.server.get(&skey).map(|s| s.source);
                        self.relay_response(now, to.unwrap_or(self.cfg.local), &skey, 408, bytes);
                    }
                }
            }
        }
    }
}

fn client_key(branch: &str, method: &str) -> String {
    let m = if method == "ACK" { "INVITE" } else { method };
    format!("{branch}|{m}")
}

/// Server transaction key (§17.2.3): branch, sent-by and method for RFC 3261
/// branches; the RFC 2543 fields otherwise.
fn server_key(req: &Message<'_>) -> String {
    let c = req.core();
    let via = c.via;
    let method = req.method();
    if via.is_rfc3261_branch() {
        format!(
            "{}|{}:{}|{method}",
            via.branch().unwrap_or_default(),
            via.host,
            via.port.unwrap_or(5060)
        )
    } else {
        let ruri = req.request_uri().map(|u| u.raw()).unwrap_or_default();
        format!(
            "2543|{ruri}|{}|{}|{}|{}|{method}",
            c.from.tag().unwrap_or_default(),
            c.call_id,
            c.cseq.seq,
            via.raw
        )
    }
}

fn invite_key(key: &str) -> String {
    match key.rsplit_once('|') {
        Some((head, _)) => format!("{head}|INVITE"),
        None => key.to_string(),
    }
}

/// A CANCEL for a request we forwarded (§9.1): same Request-URI, top Via,
/// Call-ID, From, To, Route and CSeq number.
fn build_cancel(forwarded: &[u8]) -> Option<Vec<u8>> {
    hop_request(forwarded, "CANCEL", None)
}

/// The ACK a client transaction sends for a non-2xx final (§17.1.1.3).
fn build_ack(forwarded: &[u8], resp: &Message<'_>) -> Option<Vec<u8>> {
    let to = resp.header(HeaderName::To).and_then(|h| h.value_str());
    hop_request(forwarded, "ACK", to)
}

fn hop_request(forwarded: &[u8], method: &str, to: Option<&str>) -> Option<Vec<u8>> {
    let req = Message::parse(forwarded).ok()?;
    let c = req.core();
    let mut b = MessageBuilder::request(method, req.request_uri()?.raw())
        .header("Via", c.via.raw)
        .header("Max-Forwards", 70)
        .header("From", c.from.raw)
        .header("To", to.unwrap_or(c.to.raw))
        .header("Call-ID", c.call_id)
        .header("CSeq", format_args!("{} {method}", c.cseq.seq));
    for r in req.values(HeaderName::Route) {
        b = b.header("Route", r);
    }
    Some(b.build())
}

fn looks_like_request(bytes: &[u8]) -> bool {
    let sp = bytes.iter().position(|&c| c == b' ');
    sp.is_some_and(|i| i > 0 && bytes[..i].iter().all(|c| crate::chars::TOKEN[*c as usize]))
        && !bytes.starts_with(b"SIP/")
}

/// A response to a request that failed to parse: the Via, From, To,
/// Call-ID and CSeq lines are copied as far as they can be found (RFC 3261
/// §8.2.6), sanitised, so the sender can match it to its transaction.
/// `None` when there is no Via to answer along.
pub fn salvage_response(bytes: &[u8], status: u16, reason: &str) -> Option<Vec<u8>> {
    let mut b = MessageBuilder::response(status, reason);
    let mut seen = [false; 5];
    for line in bytes.split(|&c| c == b'\n').skip(1).take(256) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|&c| c == b':') else {
            continue;
        };
        let name = HeaderName::from_bytes(trim(&line[..colon]));
        let slot = match name {
            HeaderName::Via => 0,
            HeaderName::From => 1,
            HeaderName::To => 2,
            HeaderName::CallId => 3,
            HeaderName::CSeq => 4,
            _ => continue,
        };
        if seen[slot] && slot != 0 {
            continue;
        }
        seen[slot] = true;
        let value = sanitize_phrase(&String::from_utf8_lossy(trim(&line[colon + 1..])));
        if name == HeaderName::Via {
            // Keep the Via elements that parse so the sender can match the
            // answer; if none does, echo the text as received.
            let good: Vec<&str> = split_list(&value)
                .filter_map(Result::ok)
                .map(|(_, v)| v)
                .filter(|v| crate::Via::parse(v).is_ok())
                .collect();
            if !good.is_empty() {
                b = b.header("Via", good.join(", "));
                continue;
            }
        }
        b = b.header(name.canonical(), value);
    }
    seen[0].then(|| b.build())
}

fn trim(b: &[u8]) -> &[u8] {
    let s = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let e = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(s, |e| e + 1);
    &b[s..e]
}

/// The `strip-unknown-sdp` fault: drops every `a=` line whose attribute
/// name is not one a naive element knows.
fn strip_unknown_attributes(body: &[u8]) -> Vec<u8> {
    const KNOWN: [&[u8]; 6] = [
        b"a=rtpmap",
        b"a=fmtp",
        b"a=sendrecv",
        b"a=recvonly",
        b"a=sendonly",
        b"a=ptime",
    ];
    let mut out = Vec::with_capacity(body.len());
    for line in body.split_inclusive(|&c| c == b'\n') {
        if line.starts_with(b"a=") && !KNOWN.iter().any(|k| line.starts_with(k)) {
            continue;
        }
        out.extend_from_slice(line);
    }
    out
}

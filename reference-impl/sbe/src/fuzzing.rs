//! The `sbe_sequence` fuzz target: arbitrary operation sequences on a
//! sans-IO [`Sbe`], shared by the cargo-fuzz shim in `fuzz/` and by the
//! regression replay in `cargo test`. It asserts the peering policy,
//! bounded state and the RFC 3261 timers after every step, so a crash is a
//! real defect, not just a panic. Input is read through
//! [`arbitrary::Unstructured`]; work per input is bounded by fixed caps.

use crate::{
    DropReason, Event, Fault, Faults, Hop, Input, Node, Output, OverLimit, Path, PeerLimits,
    Resolved, Sbe, SbeConfig, Timers, Transport, Unresolved,
};
use arbitrary::Unstructured;
use speermint_sip::{HeaderName, Host, Message, MessageBuilder, Uri, Via, sanitize_phrase};
use std::borrow::Borrow;
use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::Range;
use std::rc::Rc;
use std::time::{Duration, Instant};

type Gen<T> = arbitrary::Result<T>;

const SBE_LOCAL: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 5060);
const PEER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 10));
const NEXT_HOP: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 5)), 5060);
/// The next hop's host from another port: its side, but not where requests go.
const NEXT_HOP_OTHER_PORT: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 5)), 5999);
const STRANGER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 66));
/// The name the element goes by when the input configures one.
const HOSTNAME: &str = "sbe.example.net";
/// The reasons of the 503 a peer over one of its limits gets.
const RATE_LIMIT: &str = "Service Unavailable - Peer Rate Limit";
const SESSION_LIMIT: &str = "Service Unavailable - Session Limit";
const PAI: (&str, &str) = ("P-Asserted-Identity", "<sip:+15550100@ssp.example>");
/// Identity headers a request may carry when the input asks for them
/// (RFC 3325, RFC 3323): none, an assertion, a preference, and Privacy
/// levels the element can give (`id`), may ignore (`none`) or cannot
/// (`header`, fatal when `critical` towards an untrusted peer).
const IDENTITIES: [&[(&str, &str)]; 8] = [
    &[],
    &[PAI],
    &[("P-Preferred-Identity", "<sip:alice@ssp.example>")],
    &[PAI, ("Privacy", "id")],
    &[PAI, ("Privacy", "id;critical")],
    &[PAI, ("Privacy", "id; header")],
    &[PAI, ("Privacy", "none")],
    &[PAI, ("Privacy", "header;id;critical")],
];
/// What the inside writes about itself under topology hiding (its user
/// agent's and its proxy's host names, a private address, and the next
/// hop's own address): none of it may reach a peer (RFC 6404 §4.10).
const INSIDE_UA: &str = "ua.core.inside.invalid";
const INSIDE_PROXY: &str = "proxy.core.inside.invalid";
const SECRETS: [&[u8]; 3] = [b"inside.invalid", b"10.20.30.40", b"203.0.113.5"];
/// The inside's SDP, its origin a private address, and the same SDP as
/// it must reach a peer: only `o=` names the element (RFC 4566 §5.2),
/// every other line byte-identical (RFC 6271 #17).
const INSIDE_OFFER: &[u8] = b"v=0\r\no=alice 2890844526 2890844526 IN IP4 10.20.30.40\r\ns=-\r\n\
c=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 49172 RTP/AVP 0\r\na=x-keep:me\r\n";
const HIDDEN_OFFER: &[u8] = b"v=0\r\no=- 2890844526 2890844526 IN IP4 192.0.2.1\r\ns=-\r\n\
c=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 49172 RTP/AVP 0\r\na=x-keep:me\r\n";
/// A Request-URI naming a dialog token the element never gave out.
const UNKNOWN_TOKEN_URI: &str = "sip:th0123456789abcdef@192.0.2.1:5060";
/// The far port of stream connections that carry arbitrary bytes, apart
/// from the connections whose messages the model follows one by one.
const RAW_STREAM_PORT: u16 = 40000;
/// Most operations per input.
const SBE_OPS: usize = 64;
/// Largest raw datagram an operation sends.
const SBE_RAW_MAX: usize = 512;

const PEER_METHODS: [&str; 10] = [
    "INVITE",
    "INVITE",
    "OPTIONS",
    "BYE",
    "REGISTER",
    "MESSAGE",
    "SUBSCRIBE",
    "INFO",
    "ACK",
    "FOO",
];
const STATUS_CODES: [u16; 13] = [
    100, 180, 183, 200, 202, 302, 404, 408, 486, 487, 500, 503, 603,
];
const OFFER: &[u8] = b"v=0\r\no=- 1 1 IN IP4 198.51.100.10\r\ns=-\r\nc=IN IP4 198.51.100.10\r\n\
t=0 0\r\nm=audio 49170 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 \
inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR\r\na=x-unknown:kept\r\n";

/// Where the driver may say a name leads: the peer (two ports), a
/// stranger's host on a port it never sends from, addresses nobody
/// configured (IPv4, IPv6), and the next hop itself.
const HOPS: [SocketAddr; 6] = [
    SocketAddr::new(PEER_IP, 5060),
    SocketAddr::new(PEER_IP, 5070),
    SocketAddr::new(STRANGER_IP, 5062),
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 77)), 5060),
    SocketAddr::new(
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7)),
        5062,
    ),
    NEXT_HOP,
];
/// Target URIs a resolution may produce besides the target itself (an
/// ENUM result turns a `tel:` into a `sip:` URI).
const RESOLVED_URIS: [&str; 5] = [
    "sip:+15550001@peer.example;user=phone",
    "sip:carol@peer.example:5070",
    "sips:carol@peer.example",
    "sip:carol@198.51.100.10",
    "tel:+15550002",
];
/// Why a resolution failed, as the driver says it (the last reason would
/// inject a header line if the element did not sanitise it).
const UNRESOLVED: [(u16, &str); 6] = [
    (404, "Not Found"),
    (404, ""),
    (502, "Bad Gateway - no usable transport"),
    (503, "Service Unavailable - DNSSEC validation failed"),
    (503, "DNS failure\r\nX-Injected: 1"),
    (504, "Server Time-out"),
];
/// Request-URIs of requests from the next hop when names are resolved:
/// numbers, domain names (either scheme), IP literals (a peer, a stranger,
/// nobody's, the element itself).
const RESOLVING_RURIS: [&str; 11] = [
    "sip:carol@198.51.100.10:5060",
    "sip:carol@192.0.2.66",
    "sip:carol@[2001:db8::5]:5062",
    "sip:192.0.2.1:5060",
    "sip:carol@peer.example",
    "sip:carol@peer.example:5080;transport=udp",
    "sips:carol@peer.example",
    "sip:+15550003@carrier.example;user=phone",
    "tel:+15550001",
    "tel:+15550001",
    "tel:5550002;phone-context=example.com",
];
/// Route sets of requests from the next hop when names are resolved: the
/// first entry that is not the element is the target.
const RESOLVING_ROUTES: [&str; 10] = [
    "",
    "",
    "<sip:192.0.2.1:5060;lr>",
    "<sip:192.0.2.1:5060;lr>, <sip:198.51.100.10;lr>",
    "<sip:192.0.2.1:5060;lr>, <sip:edge.peer.example;lr>",
    "<sip:edge.peer.example:5080;lr>",
    "<sip:192.0.2.66;lr>",
    "<tel:+15550009>",
    // The element by name: its own entry with a hostname, else a target.
    "<sip:sbe.example.net;lr>",
    "<sip:SBE.example.net.:5060;lr>, <sip:198.51.100.10;lr>",
];

/// A well-formed request a UA sent, kept to derive retransmissions, CANCEL
/// and ACK.
#[derive(Debug, Clone)]
struct UaRequest {
    bytes: Vec<u8>,
    from: SocketAddr,
    method: &'static str,
    ruri: String,
    via: String,
    branch: String,
    from_hdr: String,
    to_hdr: String,
    call_id: String,
    cseq: u32,
}

impl UaRequest {
    /// The request with another method (and Via, To), as CANCEL and ACK
    /// are derived from an INVITE (RFC 3261 §9.1, §17.1.1.3).
    fn derive(&self, method: &'static str, via: String, branch: String, to_hdr: String) -> Self {
        let bytes = MessageBuilder::request(method, &self.ruri)
            .header("Via", &via)
            .header("Max-Forwards", 70)
            .header("From", &self.from_hdr)
            .header("To", &to_hdr)
            .header("Call-ID", &self.call_id)
            .header("CSeq", format_args!("{} {method}", self.cseq))
            .build();
        UaRequest {
            bytes,
            method,
            via,
            branch,
            to_hdr,
            ..self.clone()
        }
    }
}

/// The retransmission record of one request the element sent: identical
/// bytes to the same destination.
#[derive(Debug)]
struct SentRequest {
    invite: bool,
    first: Instant,
    last: Instant,
    /// Gap expected before the next copy (Timer A or E).
    next_gap: Duration,
    /// A provisional response reached the element from the destination.
    provisional: bool,
    /// A final response reached the element from the destination.
    finished: bool,
}

/// Transmissions of one input, by kind.
#[derive(Debug, Default)]
struct Tally {
    relays: usize,
    finals: usize,
    provisionals: usize,
    /// Finals for another method than the request's (the 487 that a
    /// CANCEL for a parked INVITE causes); not in `finals`.
    other_finals: usize,
}

/// How a parked request (one `Event::Resolve`) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// Sent on after its resolution.
    Forwarded { to: SocketAddr },
    /// Answered by the element: the first copy of its final response.
    Answered { status: u16, bytes: Vec<u8> },
    /// An ACK refused (it takes no response).
    Dropped,
}

impl Outcome {
    /// Without the bytes, for messages.
    fn label(o: Option<&Outcome>) -> String {
        match o {
            Some(Outcome::Answered { status, .. }) => format!("answered {status}"),
            Some(o) => format!("{o:?}"),
            None => "waiting".into(),
        }
    }
}

/// What ties a response to its request: the sender's top Via, Call-ID,
/// CSeq number and method.
type TxKey = (String, String, u32, String);

fn tx_key(via: &Via<'_>, m: &Message<'_>) -> TxKey {
    let c = m.core();
    (
        via.raw.to_owned(),
        c.call_id.to_owned(),
        c.cseq.seq,
        c.cseq.method.to_owned(),
    )
}

/// What the checks read of a message, taken from one parse. Each output
/// used to be parsed again by every check that looked at it, and parsing
/// was most of the target's time.
#[derive(Debug, Clone)]
struct Facts {
    /// `Message::method`: a request's method, a response's CSeq method.
    method: String,
    /// `None` for a request.
    status: Option<u16>,
    ruri: Option<String>,
    /// The top Via as written, its branch, and whether its sent-by host is
    /// the element's address or name.
    via: String,
    branch: Option<String>,
    via_ours: bool,
    /// The second Via that parses, as written, and how many parse.
    via2: Option<String>,
    vias: usize,
    call_id: String,
    cseq: u32,
    cseq_method: String,
    /// Where the body lies in the parsed bytes.
    body: Range<usize>,
    /// The first Route URI and the first Record-Route, as written.
    route: Option<String>,
    record_route: Option<String>,
    /// P-Asserted-Identity and P-Preferred-Identity are present; the
    /// Privacy values, lower-cased, as the element reads them.
    pai: bool,
    ppi: bool,
    privacy: Vec<String>,
}

impl Facts {
    fn of(m: &Message<'_>) -> Self {
        let c = m.core();
        let (mut vias, mut via2) = (0, None);
        for v in m.vias() {
            if vias == 1 {
                via2 = Some(v.raw.to_owned());
            }
            vias += 1;
        }
        let end = m.offset() + m.as_bytes().len();
        Facts {
            method: m.method().to_owned(),
            status: m.status(),
            ruri: m.request_uri().map(|u| u.raw().to_owned()),
            via: c.via.raw.to_owned(),
            branch: c.via.branch().map(str::to_owned),
            via_ours: is_me(&c.via.host, 5060, true),
            via2,
            vias,
            call_id: c.call_id.to_owned(),
            cseq: c.cseq.seq,
            cseq_method: c.cseq.method.to_owned(),
            body: end - m.body().len()..end,
            ..Facts::routing(m)
        }
    }

    /// The Route, Record-Route and identity fields, of a request only (no
    /// check reads them in a response): one pass over the header names,
    /// and a value read only when its field is there.
    fn routing(m: &Message<'_>) -> Self {
        let (mut route, mut record_route, mut pai, mut ppi, mut privacy) =
            (false, false, false, false, false);
        if m.is_request() {
            for h in m.headers() {
                match h.name {
                    HeaderName::Route => route = true,
                    HeaderName::RecordRoute => record_route = true,
                    HeaderName::PAssertedIdentity => pai = true,
                    HeaderName::Privacy => privacy = true,
                    HeaderName::Other => {
                        ppi |= h.name_raw.eq_ignore_ascii_case("P-Preferred-Identity")
                    }
                    _ => {}
                }
            }
        }
        Facts {
            method: String::new(),
            status: None,
            ruri: None,
            via: String::new(),
            branch: None,
            via_ours: false,
            via2: None,
            vias: 0,
            call_id: String::new(),
            cseq: 0,
            cseq_method: String::new(),
            body: 0..0,
            route: route
                .then(|| m.name_addrs(HeaderName::Route).next())
                .flatten()
                .map(|na| na.uri.raw().to_owned()),
            record_route: record_route
                .then(|| m.values(HeaderName::RecordRoute).next())
                .flatten()
                .map(str::to_owned),
            pai,
            ppi,
            privacy: if privacy {
                m.values(HeaderName::Privacy)
                    .flat_map(|v| v.split(';'))
                    .map(|p| p.trim().to_ascii_lowercase())
                    .filter(|p| !p.is_empty())
                    .collect()
            } else {
                Vec::new()
            },
        }
    }

    fn is_request(&self) -> bool {
        self.status.is_none()
    }

    /// [`tx_key`] with this Via.
    fn key(&self, via: &str) -> TxKey {
        (
            via.to_owned(),
            self.call_id.clone(),
            self.cseq,
            self.cseq_method.clone(),
        )
    }

    /// The body within `bytes`, the message these facts were read from.
    fn body<'b>(&self, bytes: &'b [u8]) -> &'b [u8] {
        &bytes[self.body.clone()]
    }
}

/// A message the element sent, parsed once: every copy of the same bytes
/// (retransmissions above all) shares it.
#[derive(Debug)]
struct Msg {
    /// Distinct per distinct bytes within a run.
    id: usize,
    bytes: Vec<u8>,
    /// `None`: the bytes do not parse.
    facts: Option<Facts>,
    /// Searched for the inside's names (when first sent to a peer).
    searched: Cell<bool>,
}

/// A [`Msg`] in a set, found by its bytes.
#[derive(Debug)]
struct ByBytes(Rc<Msg>);

impl Borrow<[u8]> for ByBytes {
    fn borrow(&self) -> &[u8] {
        &self.0.bytes
    }
}
// As `[u8]` hashes and compares, as `Borrow` requires.
impl Hash for ByBytes {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.bytes[..].hash(state)
    }
}
impl PartialEq for ByBytes {
    fn eq(&self, other: &Self) -> bool {
        self.0.bytes == other.0.bytes
    }
}
impl Eq for ByBytes {}

/// One transmission of the element.
#[derive(Debug, Clone)]
struct Tx {
    to: SocketAddr,
    /// How it leaves: `to`, the transport, and for a stream the
    /// connection.
    path: Path,
    msg: Rc<Msg>,
}

impl Tx {
    fn bytes(&self) -> &[u8] {
        &self.msg.bytes
    }

    fn facts(&self) -> Option<&Facts> {
        self.msg.facts.as_ref()
    }
}

/// The start line of a message, for assertion messages.
fn first_line(bytes: &[u8]) -> String {
    let end = bytes
        .windows(2)
        .position(|w| w == b"\r\n")
        .unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// The dialog token (`th` and 16 hex digits, lower-cased) of a URI that
/// names the element, as the element reads a peer's Request-URI.
fn dialog_token(u: &Uri<'_>, named: bool) -> Option<String> {
    let s = u.as_sip()?;
    if !is_me(&s.host, s.port.unwrap_or(5060), named) {
        return None;
    }
    let hex = s.user?.strip_prefix("th")?;
    (hex.len() == 16 && hex.bytes().all(|c| c.is_ascii_hexdigit()))
        .then(|| format!("th{}", hex.to_ascii_lowercase()))
}

/// Whether `host:port` names the element: its address, or with `named`
/// its hostname (case and a final dot aside).
fn is_me(host: &Host<'_>, port: u16, named: bool) -> bool {
    let by_name = match host {
        Host::Domain(d) => named && d.trim_end_matches('.').eq_ignore_ascii_case(HOSTNAME),
        h => h.ip() == Some(SBE_LOCAL.ip()),
    };
    by_name && port == SBE_LOCAL.port()
}

/// A URI naming the element (a Route entry of its own); `named`: it has
/// a hostname.
fn is_my_uri(u: &Uri<'_>, named: bool) -> bool {
    u.as_sip()
        .is_some_and(|s| is_me(&s.host, s.port.unwrap_or(5060), named))
}

/// The first Route that is not the element, else the Request-URI: where a
/// request from the next hop is going, and whether a Route said so.
/// `named`: the element has a hostname.
fn request_target<'a>(m: &Message<'a>, named: bool) -> (Option<Uri<'a>>, bool) {
    match m
        .name_addrs(HeaderName::Route)
        .map(|na| na.uri)
        .find(|u| !is_my_uri(u, named))
    {
        Some(u) => (Some(u), true),
        None => (m.request_uri().copied(), false),
    }
}

/// The privacy levels a request asks for as critical that a proxy cannot
/// give (RFC 3323 §5: `header`, `session`, `user`), in order; `header`
/// is given when the element hides its topology (RFC 3323 §5.1).
fn unavailable_privacy(m: &Facts, hiding: bool) -> Vec<&str> {
    if !m.privacy.iter().any(|v| v == "critical") {
        return Vec::new();
    }
    m.privacy
        .iter()
        .filter(|v| !matches!(v.as_str(), "id" | "none" | "critical"))
        .filter(|v| !(hiding && *v == "header"))
        .map(String::as_str)
        .collect()
}

/// A target resolved by name: a number, or a SIP URI with a domain host.
fn by_name(target: Option<&Uri<'_>>) -> bool {
    match target {
        Some(Uri::Tel(_)) => true,
        Some(Uri::Sip(s)) => s.host.ip().is_none(),
        _ => false,
    }
}

/// A request the element parked while its driver resolves the target.
#[derive(Debug)]
struct ParkedRequest {
    id: u64,
    from: SocketAddr,
    method: String,
    request: Vec<u8>,
    /// `request`, parsed.
    req: Facts,
    ruri: String,
    /// What was resolved: the first Route not the element, else the
    /// Request-URI.
    target: String,
    /// The target came from a Route, not the Request-URI.
    by_route: bool,
    deadline: Instant,
    outcome: Option<Outcome>,
    /// Once forwarded: the resolved hops not tried yet, in order, for
    /// failover on a 503 or a timeout (RFC 3263 §4.3).
    alternates: Vec<SocketAddr>,
    /// Every forward (the first, then each failover): its first copy. The
    /// last one is the current attempt.
    chain: Vec<Tx>,
    /// The current attempt got a final response (later ones are dropped).
    current_final: bool,
    /// The current attempt was cancelled: a CANCEL from upstream was
    /// accepted, or the element sent one down (Timer C).
    cancelled: bool,
    /// The distinct final responses relayed or generated upstream, with
    /// their status.
    upstream: Vec<(u16, Vec<u8>)>,
}

impl ParkedRequest {
    /// Transmissions may mean the same request again after a failover.
    fn forwarded(&self) -> bool {
        matches!(self.outcome, Some(Outcome::Forwarded { .. }))
    }

    /// The current attempt answers to a response with this top Via branch
    /// and CSeq method.
    fn current_is(&self, from: SocketAddr, branch: &str, method: &str) -> bool {
        self.forwarded()
            && self.method == method
            && method != "ACK"
            && self.chain.last().is_some_and(|t| {
                t.to == from
                    && t.facts()
                        .is_some_and(|f| f.branch.as_deref() == Some(branch))
            })
    }
}

/// What the element must do with a parked request given the driver's answer.
#[derive(Debug)]
enum Expected {
    Forward { to: SocketAddr, ruri: String },
    Answer { status: u16, reason: Option<String> },
}

/// What the input chose of the element's configuration besides
/// `max_transactions` and resolution (its second byte: 0 keeps the
/// defaults, as before this byte existed).
#[derive(Debug, Clone, Copy, Default)]
struct Options {
    /// Small per-peer limits (two more bytes), else the defaults.
    limits: Option<PeerLimits>,
    /// The element goes by [`HOSTNAME`].
    hostname: bool,
    /// Generated requests carry identity headers ([`IDENTITIES`]).
    identities: bool,
    /// The peer is inside the trust domain (`trusted_peers`).
    trusted: bool,
    /// Topology hiding, with this `max_hidden_dialogs` (1 to 4). Only
    /// without resolution: the model ties a resolved request to its
    /// forwards by the Via below the element's, which hiding removes.
    hide: Option<usize>,
    /// Each operation first reads how its message travels ([`Wire`]):
    /// a datagram, or stream bytes over TCP in pieces.
    tcp: bool,
    /// Any of the above: Route sets also name the element by
    /// [`HOSTNAME`] (a longer list would read earlier inputs differently).
    extended: bool,
}

impl Options {
    /// Bit 0: small limits, read from the next two bytes: requests per
    /// second 1 to 20 and burst 1 to 5 from the first; sessions 1 to 4,
    /// Drop or Reject, the session age limit and Retry-After from the
    /// second. Bits 1 to 3: hostname, identity headers, trusted peer;
    /// bit 4: topology hiding, with bits 6 and 7 its dialog bound less
    /// one; bit 5: TCP.
    fn read(u: &mut Unstructured<'_>) -> Self {
        let mut byte = || u.arbitrary::<u8>().unwrap_or(0);
        let b = byte();
        let limits = (b & 1 == 1).then(|| {
            let (r, s) = (byte(), byte());
            PeerLimits {
                requests_per_sec: f64::from(1 + r % 20),
                burst: f64::from(1 + (r / 20) % 5),
                sessions: usize::from(1 + s % 4),
                session_max_age: Duration::from_secs([10, 60, 7200][usize::from(s / 8 % 3)]),
                over_limit: if s / 4 % 2 == 1 {
                    OverLimit::Drop
                } else {
                    OverLimit::Reject {
                        retry_after: [5, 1, 3600][usize::from(s / 24 % 3)],
                    }
                },
            }
        });
        Options {
            limits,
            hostname: b & 2 != 0,
            identities: b & 4 != 0,
            trusted: b & 8 != 0,
            hide: (b & 16 != 0).then_some(1 + usize::from(b >> 6)),
            tcp: b & 32 != 0,
            extended: b != 0,
        }
    }
}

/// How an operation's message reaches the element (one byte, read first
/// when [`Options::tcp`]): bits 0 and 1, a datagram (0) or that many
/// pieces of stream bytes over a TCP connection; bits 2 to 4, how far
/// before the end the third piece starts; bit 5, an RFC 5626 keep-alive
/// (CRLFCRLF) before the message; bit 6, the connection closes with the
/// last piece. With two pieces or more, a second byte says where the
/// first cut falls, in 256ths of the bytes.
#[derive(Debug, Clone, Copy, Default)]
struct Wire {
    pieces: u8,
    cut: u8,
    tail: u8,
    keepalive: bool,
    close: bool,
}

impl Wire {
    fn read(u: &mut Unstructured<'_>) -> Gen<Self> {
        let b: u8 = u.arbitrary()?;
        let pieces = b & 3;
        Ok(Wire {
            pieces,
            cut: if pieces >= 2 { u.arbitrary()? } else { 0 },
            tail: (b >> 2) & 7,
            keepalive: b & 32 != 0,
            close: b & 64 != 0,
        })
    }

    fn stream(&self) -> bool {
        self.pieces > 0
    }

    /// `bytes` (after the keep-alive, if any) cut into the pieces.
    fn cut(&self, bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut all = Vec::with_capacity(bytes.len() + 4);
        if self.keepalive {
            all.extend_from_slice(b"\r\n\r\n");
        }
        all.extend_from_slice(bytes);
        let len = all.len();
        let mut cuts = vec![0, len];
        if self.pieces >= 2 {
            cuts.push(len * usize::from(self.cut) / 256);
        }
        if self.pieces >= 3 {
            cuts.push(len.saturating_sub(1 + usize::from(self.tail)));
        }
        cuts.sort_unstable();
        cuts.dedup();
        let mut out: Vec<Vec<u8>> = cuts.windows(2).map(|w| all[w[0]..w[1]].to_vec()).collect();
        if out.is_empty() {
            out.push(Vec::new());
        }
        out
    }
}

/// A TCP connection from `remote` to the element.
fn tcp_path(remote: SocketAddr) -> Path {
    Path {
        local: SBE_LOCAL,
        remote,
        transport: Transport::Tcp,
    }
}

/// Whether `bytes` name the inside (any case).
fn names_inside(bytes: &[u8]) -> Option<&'static str> {
    // One pass: the names start with distinct bytes.
    (0..bytes.len()).find_map(|i| {
        let s = match bytes[i] {
            b'i' | b'I' => SECRETS[0],
            b'1' => SECRETS[1],
            b'2' => SECRETS[2],
            _ => return None,
        };
        let w = bytes.get(i..i + s.len())?;
        w.eq_ignore_ascii_case(s)
            .then(|| std::str::from_utf8(s).unwrap_or_default())
    })
}

/// The Contact URIs naming a dialog token (`sip:th` and 16 hex digits)
/// in `bytes`.
fn tokens_in(bytes: &[u8]) -> impl Iterator<Item = String> + '_ {
    bytes
        .windows(7)
        .enumerate()
        .filter(|(_, w)| *w == b"<sip:th")
        .filter_map(move |(i, _)| {
            let rest = &bytes[i + 1..];
            let end = rest.iter().position(|&c| c == b'>' || c == b';')?;
            let uri = std::str::from_utf8(&rest[..end]).ok()?;
            let hex = uri.strip_prefix("sip:th")?.split('@').next()?;
            (hex.len() == 16 && hex.bytes().all(|c| c.is_ascii_hexdigit())).then(|| uri.to_owned())
        })
}

/// What the limits made of a request from the peer, as the model predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gate {
    /// Never reached the limits: ACK, CANCEL, a retransmission, or
    /// refused before (no room, §16.3 validation, REGISTER).
    Uncounted,
    /// Within both limits: relayed.
    Admitted,
    /// Over a limit: this 503 reason, or silence.
    Refused(&'static str),
}

/// A call counted against the peer's session limit (the model's).
#[derive(Debug)]
struct Call {
    call_id: String,
    /// The branch of the INVITE that started it: its final answers carry it.
    branch: Option<String>,
    started: Instant,
    /// A 2xx went upstream: only a BYE (or old age) ends it now.
    up: bool,
}

/// What the element is handling while its outputs are drained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    /// A datagram generated by the model (`raw`: arbitrary bytes from the
    /// next hop, which may mimic any request).
    Datagram { from: SocketAddr, raw: bool },
    /// The driver's answer for a resolution: the parked request, if any.
    Driver(Option<usize>),
    /// `handle_timeout`.
    Timer,
}

#[derive(Debug)]
struct SbeRun {
    sbe: Sbe,
    now: Instant,
    timers: Timers,
    max_transactions: usize,
    id: u32,
    /// Requests from the peer side, for retransmissions, CANCEL and ACK.
    peer_requests: Vec<UaRequest>,
    /// (branch, method) of every request the peer or the next hop sent.
    /// (Raw and mutated datagrams included: a mutation may turn one
    /// branch into another, still to come.)
    keys: HashSet<(String, String)>,
    /// The peer's top Via of every request relayed to the next hop.
    peer_vias: HashSet<String>,
    /// Requests the element sent to the next hop / to a peer, first copies.
    to_next_hop: Vec<Rc<Msg>>,
    /// Requests sent anywhere else (a peer, a resolved hop).
    to_peer: Vec<(SocketAddr, Rc<Msg>)>,
    /// By destination and [`Msg::id`].
    sent: HashMap<(SocketAddr, usize), SentRequest>,
    /// Every distinct message the element sent.
    seen: HashSet<ByBytes>,
    /// `resolve_names` is on: requests by name are parked.
    resolve: bool,
    faults: Faults,
    /// Requests from the next hop, for retransmissions, CANCEL and ACK,
    /// with their key.
    hop_requests: Vec<(UaRequest, TxKey)>,
    /// Every `Event::Resolve`, in order, by id and by its request.
    parked: Vec<ParkedRequest>,
    parked_ids: HashMap<u64, usize>,
    parked_keys: HashMap<TxKey, usize>,
    /// Hops a resolved request went to: they may be sent to.
    hop_dests: HashSet<SocketAddr>,
    /// Raw bytes from the next hop mimicked a parked request: who answered
    /// what can no longer be told, so the per-request checks stop.
    lenient: bool,
    ctx: Ctx,
    /// The datagram being handled, and its key if it is a request.
    datagram: Vec<u8>,
    datagram_key: Option<TxKey>,
    /// Parked requests of the last drain.
    new_parked: Vec<usize>,
    /// Events of the last drain.
    events: Vec<Event>,
    /// The hops after the chosen one in the resolution being handled: the
    /// alternates of the request it forwards.
    resolving_alternates: Vec<SocketAddr>,
    /// The datagram being handled is a final response to the current
    /// attempt of this forwarded request: its first one and a 503, or not.
    trigger: Option<(usize, bool)>,
    /// Forwarded requests that failed over in the last drain.
    failed_over: Vec<usize>,
    opts: Options,
    /// The element's limits, and the model of the peer's token bucket:
    /// tokens, and when it was last drawn from.
    limits: PeerLimits,
    tokens: f64,
    drawn: Option<Instant>,
    /// The peer's calls in progress, and when they were last swept for age.
    calls: Vec<Call>,
    swept: Option<Instant>,
    /// The prediction for the datagram last handled, if from the peer.
    gate: Option<Gate>,
    /// Requests refused over a limit; calls counted, and ended.
    refusals: usize,
    calls_started: usize,
    calls_ended: usize,
    /// Topology hiding is on with this dialog bound. (The input chooses
    /// no leak fault: hiding is always expected to be whole.)
    hide: Option<usize>,
    /// Raw bytes named the inside: the element may pass them on.
    leak_exempt: bool,
    /// Contact URIs with a dialog token the element gave a peer.
    tokens_given: Vec<String>,
    /// The peer named a token nobody was given, and was answered 481.
    unknown_token_481s: usize,
    /// Most hidden dialogs seen at once.
    dialogs_high: usize,
    /// Requests the inside (the next hop) sent, by top Via: the Via below
    /// it, the number of Vias and the Call-ID its responses must carry.
    inside_sent: HashMap<String, (Option<String>, usize, String)>,
    /// Raw bytes from the next hop parsed as a request: they may reuse
    /// an inside Via with other fields.
    inside_mimicked: bool,
    /// The operation delivers raw or mutated bytes.
    raw_op: bool,
    /// Raw bytes sent over streams, which the model does not frame: a
    /// later request whose Via or branch they hold may meet a transaction
    /// they started.
    raw_stream_text: Vec<u8>,
    /// Hidden dialogs before the datagram being handled.
    dialogs_before: usize,
    /// How the current operation's first message travels.
    wire: Wire,
    /// Stream connections the element holds, as the model follows them:
    /// fed, and neither closed by their far end nor by the element.
    open: HashSet<Path>,
    /// The connection being fed, while its outputs are drained.
    feeding: Option<Path>,
    /// The path each request (by top Via) the peer or the inside sent
    /// came in on; `None` once copies came on different paths.
    req_paths: HashMap<String, Option<Path>>,
    /// Messages sent over a reliable transport, by path and `Msg::id`.
    reliable_sent: HashSet<(Path, usize)>,
    /// Raw stream bytes from the peer were framed into messages the
    /// model did not see: its token bucket and calls no longer follow
    /// the element's.
    limits_blind: bool,
    /// Messages delivered over TCP, and connections the element closed.
    stream_messages: usize,
    closes: usize,
}

impl SbeRun {
    /// `resolve`: turn on `resolve_names`, with these faults and timeout.
    fn new(
        max_transactions: usize,
        resolve: Option<(Faults, Duration)>,
        opts: Options,
        extra: Faults,
    ) -> Self {
        let mut cfg = SbeConfig::new(SBE_LOCAL, vec![PEER_IP], NEXT_HOP);
        cfg.max_transactions = max_transactions;
        cfg.peer_limits = opts.limits.unwrap_or_default();
        cfg.hostname = opts.hostname.then(|| HOSTNAME.to_owned());
        if opts.trusted {
            cfg.trusted_peers = vec![PEER_IP];
        }
        let limits = cfg.peer_limits;
        if let Some((faults, timeout)) = resolve {
            cfg.resolve_names = true;
            cfg.faults = faults;
            cfg.resolve_timeout = timeout;
        }
        let hide = opts.hide.filter(|_| resolve.is_none());
        if let Some(max) = hide {
            cfg.hide_topology = true;
            cfg.max_hidden_dialogs = max;
        }
        // The model expects what the input chose; `extra` breaks the
        // element behind its back.
        let (timers, faults) = (cfg.timers, cfg.faults);
        for f in extra.iter() {
            cfg.faults.insert(f);
        }
        SbeRun {
            sbe: Sbe::new(cfg),
            now: Instant::now(),
            timers,
            max_transactions,
            id: 0,
            peer_requests: Vec::new(),
            keys: HashSet::new(),
            peer_vias: HashSet::new(),
            to_next_hop: Vec::new(),
            to_peer: Vec::new(),
            sent: HashMap::new(),
            seen: HashSet::new(),
            resolve: resolve.is_some(),
            faults,
            hop_requests: Vec::new(),
            parked: Vec::new(),
            parked_ids: HashMap::new(),
            parked_keys: HashMap::new(),
            hop_dests: HashSet::new(),
            lenient: false,
            ctx: Ctx::Timer,
            datagram: Vec::new(),
            datagram_key: None,
            new_parked: Vec::new(),
            events: Vec::new(),
            resolving_alternates: Vec::new(),
            trigger: None,
            failed_over: Vec::new(),
            opts,
            limits,
            tokens: limits.burst,
            drawn: None,
            calls: Vec::new(),
            swept: None,
            gate: None,
            refusals: 0,
            calls_started: 0,
            calls_ended: 0,
            hide,
            leak_exempt: false,
            tokens_given: Vec::new(),
            unknown_token_481s: 0,
            dialogs_high: 0,
            inside_sent: HashMap::new(),
            inside_mimicked: false,
            raw_op: false,
            raw_stream_text: Vec::new(),
            dialogs_before: 0,
            wire: Wire::default(),
            open: HashSet::new(),
            feeding: None,
            req_paths: HashMap::new(),
            reliable_sent: HashSet::new(),
            limits_blind: false,
            stream_messages: 0,
            closes: 0,
        }
    }

    fn next_id(&mut self) -> u32 {
        self.id += 1;
        self.id
    }

    fn outstanding(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.parked.len()).filter(|&i| self.parked[i].outcome.is_none())
    }

    fn check_bounds(&self) {
        let (s, c) = self.sbe.transaction_count();
        assert!(
            s + c <= self.max_transactions,
            "{s} server + {c} client transactions exceed max_transactions = {}",
            self.max_transactions
        );
        // A parked request holds its server transaction: parking is bounded
        // by the same limit.
        let p = self.sbe.parked_len();
        assert!(p <= s, "{p} parked requests but {s} server transactions");
        assert!(
            self.sbe.timers_consistent(),
            "the timer queue lost or misplaced a deadline"
        );
        // One peer: at most its session limit, and exactly the model's calls.
        if !self.limits_blind {
            assert_eq!(
                self.sbe.session_count(),
                self.calls.len(),
                "sessions counted by the element, and calls in progress: {:?}",
                self.calls
            );
        }
        assert!(self.calls.len() <= self.limits.sessions);
        assert!(self.sbe.session_count() <= self.limits.sessions);
        // RFC 6404 §4.10: the hidden-dialog table keeps its bound.
        let dialogs = self.sbe.hidden_dialog_count();
        assert!(
            dialogs <= self.hide.unwrap_or(0),
            "{dialogs} hidden dialogs, bound {:?}",
            self.hide
        );
        assert_eq!(
            self.sbe.reliable_retransmissions(),
            0,
            "a retransmission timer over a reliable transport"
        );
        // Stream framing holds exactly the connections open, each at
        // most one message's worth of bytes (RFC 3261 §18.3).
        let (connections, buffered) = self.sbe.stream_state();
        assert_eq!(
            connections,
            self.open.len(),
            "connections framed by the element, and open ones: {:?}",
            self.open
        );
        assert!(
            buffered <= self.sbe.config().limits.max_message_size,
            "a connection buffers {buffered} bytes"
        );
        if !self.lenient {
            assert_eq!(
                p,
                self.outstanding().count(),
                "parked requests, and resolutions neither answered nor forwarded"
            );
        }
    }

    /// Drains the outputs; `on_time` says the element was driven exactly at
    /// its deadline, so retransmission gaps must match the timers exactly.
    /// `input`: the datagram being handled, parsed, if it parses.
    fn drain(&mut self, on_time: bool, input: Option<&Message<'_>>) -> Vec<Tx> {
        let mut out = Vec::new();
        self.new_parked.clear();
        self.events.clear();
        self.failed_over.clear();
        while let Some(o) = self.sbe.poll_output() {
            match o {
                Output::Transmit(t) => {
                    let (msg, first) = self.msg(t.bytes);
                    let tx = Tx {
                        to: t.path.remote,
                        path: t.path,
                        msg,
                    };
                    if first {
                        self.track_calls(&tx);
                    }
                    // First: a failover makes its hop a destination.
                    self.attribute(&tx);
                    self.check_transmit(&tx, on_time);
                    self.check_path(&tx);
                    self.check_hidden(&tx);
                    out.push(tx);
                }
                Output::Event(Event::Resolve { id, target, .. }) => {
                    self.on_resolve_output(id, &target, input)
                }
                Output::Event(e) => self.events.push(e),
                // Timers are polled directly (`poll_timeout`).
                Output::Timeout(_) => {}
                // Lost framing closes the connection being fed, and no
                // other (RFC 3261 §18.3).
                Output::Close(path) => {
                    assert_eq!(
                        self.feeding,
                        Some(path),
                        "the element closed a connection it was not fed"
                    );
                    self.open.remove(&path);
                    self.closes += 1;
                }
            }
        }
        out
    }

    /// Transport rules of one transmission: a response goes back on the
    /// path its request came in on (RFC 3261 §18.2.2), and no timer sends
    /// a request again over a reliable transport, which retransmits by
    /// itself (§17.1.1.2, §17.1.2.2). (Two transactions may send identical
    /// responses, so for those `check_bounds` looks at the timers.)
    fn check_path(&mut self, tx: &Tx) {
        let request = tx.facts().is_some_and(Facts::is_request);
        if tx.path.transport.is_reliable() && request {
            let again = !self.reliable_sent.insert((tx.path, tx.msg.id));
            assert!(
                !(again && self.ctx == Ctx::Timer),
                "a timer sent {} again over {:?}",
                first_line(tx.bytes()),
                tx.path
            );
        }
        let Some(f) = tx.facts().filter(|f| !f.is_request()) else {
            return;
        };
        if let Some(Some(p)) = self.req_paths.get(&f.via) {
            assert_eq!(
                tx.path,
                *p,
                "{} not on the path its request came in on",
                first_line(tx.bytes())
            );
        }
        // The inside gets back its own Via stack and Call-ID for what it
        // sent, whatever the element wrote on the way out (RFC 5853
        // §3.1.3); this holds for any proxy, hiding or not.
        if tx.to.ip() == NEXT_HOP.ip() && !self.inside_mimicked {
            if let Some((via2, vias, call_id)) = self.inside_sent.get(&f.via) {
                assert_eq!(
                    (&f.via2, f.vias, &f.call_id),
                    (via2, *vias, call_id),
                    "the Vias and Call-ID of a response to the inside: {}",
                    String::from_utf8_lossy(tx.bytes()).escape_debug()
                );
            }
        }
    }

    /// RFC 6404 §4.10 on one transmission to a peer: with hiding on and
    /// no leak fault, no byte names the inside (unless raw bytes brought
    /// the names in). Notes the dialog tokens the peer is given.
    fn check_hidden(&mut self, tx: &Tx) {
        // Each distinct message once: retransmissions are the same bytes.
        if self.hide.is_none() || tx.to.ip() != PEER_IP || tx.msg.searched.replace(true) {
            return;
        }
        if !self.leak_exempt {
            if let Some(name) = names_inside(tx.bytes()) {
                panic!(
                    "{name} sent to the peer at {}: {}",
                    tx.to,
                    String::from_utf8_lossy(tx.bytes()).escape_debug()
                );
            }
        }
        for t in tokens_in(tx.bytes()) {
            if !self.tokens_given.contains(&t) {
                self.tokens_given.push(t);
            }
        }
    }

    /// Whether raw stream bytes held `text`.
    fn in_raw_streams(&self, text: &str) -> bool {
        !self.raw_stream_text.is_empty()
            && !text.is_empty()
            && self
                .raw_stream_text
                .windows(text.len())
                .any(|w| w == text.as_bytes())
    }

    /// Where the element must send a new request to `to`: over the
    /// connection the far end has open to it (RFC 5923 §4), else UDP.
    fn path_to(&self, to: SocketAddr) -> Path {
        let tcp = tcp_path(to);
        if self.open.contains(&tcp) {
            tcp
        } else {
            Path {
                local: SBE_LOCAL,
                remote: to,
                transport: Transport::Udp,
            }
        }
    }

    /// Hands `bytes` from `from` to the element as the operation's wire
    /// says (once per operation; later messages go as datagrams): a
    /// datagram, or pieces of stream bytes on the TCP connection from
    /// `from`, the last one closing it if asked. A connection from
    /// [`RAW_STREAM_PORT`] carries arbitrary bytes; any other holds whole
    /// well-formed messages only, so only the last piece may have effects
    /// and framing is never lost there.
    fn input(&mut self, from: SocketAddr, bytes: &[u8], m: Option<&Message<'_>>) -> Vec<Tx> {
        let wire = std::mem::take(&mut self.wire);
        if !wire.stream() {
            self.sbe.handle_datagram(self.now, from, bytes);
            return self.drain(false, m);
        }
        let path = tcp_path(from);
        let whole = from.port() != RAW_STREAM_PORT;
        self.stream_messages += 1;
        let pieces = wire.cut(bytes);
        let mut out = Vec::new();
        self.feeding = Some(path);
        for (i, piece) in pieces.iter().enumerate() {
            let last = i + 1 == pieces.len();
            let (closes, closed) = (self.closes, last && wire.close);
            let input = Input::StreamData {
                path,
                bytes: piece,
                closed,
            };
            self.sbe.handle_input(self.now, input);
            let mut got = self.drain(false, m);
            if self.closes > closes {
                assert!(
                    !whole,
                    "a well-formed message lost its framing: {}",
                    String::from_utf8_lossy(bytes).escape_debug()
                );
            } else if closed {
                self.open.remove(&path);
            } else {
                self.open.insert(path);
            }
            if whole && !last {
                assert!(
                    got.is_empty() && self.events.is_empty(),
                    "part of a message had effects: {:?}",
                    self.events
                );
            }
            // Raw stream bytes framed into requests the model never saw:
            // from the peer, they drew on its limits; from the next hop,
            // they may reuse the inside's Vias or a parked request's.
            let handled = !got.is_empty()
                || self.events.iter().any(|e| {
                    !matches!(
                        e,
                        Event::StreamClosed { .. }
                            | Event::Dropped {
                                reason: DropReason::Unparseable
                                    | DropReason::MalformedResponse
                                    | DropReason::NoTransaction
                                    | DropReason::WrongSource,
                                ..
                            }
                    )
                });
            if !whole && handled {
                if from.ip() == PEER_IP {
                    self.limits_blind = true;
                } else if from.ip() == NEXT_HOP.ip() {
                    self.inside_mimicked = true;
                    self.lenient |= self.resolve;
                }
            }
            out.append(&mut got);
        }
        self.feeding = None;
        out
    }

    /// The shared parse of `bytes`, and whether they are new.
    fn msg(&mut self, bytes: Vec<u8>) -> (Rc<Msg>, bool) {
        if let Some(m) = self.seen.get(&bytes[..]) {
            return (m.0.clone(), false);
        }
        let facts = Message::parse(&bytes).ok().map(|m| Facts::of(&m));
        let id = self.seen.len();
        let m = Rc::new(Msg {
            id,
            bytes,
            facts,
            searched: Cell::new(false),
        });
        self.seen.insert(ByBytes(m.clone()));
        (m, true)
    }

    /// An `Event::Resolve`: only for a request by name from the next hop,
    /// with a fresh id and the target the routing rules pick.
    fn on_resolve_output(&mut self, id: u64, target: &str, input: Option<&Message<'_>>) {
        assert!(self.resolve, "a resolution asked with resolve_names off");
        let Ctx::Datagram { from, raw } = self.ctx else {
            panic!("a resolution asked outside a request ({:?})", self.ctx);
        };
        assert_eq!(
            from.ip(),
            NEXT_HOP.ip(),
            "a resolution for a request from {from}"
        );
        assert!(
            !self.parked_ids.contains_key(&id),
            "resolution id {id} given twice"
        );
        let m = input.expect("a parked request parses");
        assert!(m.is_request(), "a response was parked");
        let (uri, by_route) = request_target(m, self.opts.hostname);
        assert!(by_name(uri.as_ref()), "{target} resolved, not a name");
        assert_eq!(uri.map(|u| u.raw()), Some(target), "resolution target");
        let key = tx_key(&m.core().via, m);
        let i = self.parked.len();
        if let Some(&j) = self.parked_keys.get(&key) {
            // Two live parked requests answer to the same Via, Call-ID and
            // CSeq (RFC 2543 transactions from raw bytes): no telling apart.
            self.lenient |= self.parked[j].outcome.is_none() || raw;
        }
        self.parked_keys.insert(key, i);
        self.parked_ids.insert(id, i);
        self.parked.push(ParkedRequest {
            id,
            from,
            method: m.method().to_owned(),
            ruri: m
                .request_uri()
                .map(|u| u.raw().to_owned())
                .unwrap_or_default(),
            target: target.to_owned(),
            by_route,
            deadline: self.now + self.sbe.config().resolve_timeout,
            outcome: None,
            // `m` was parsed from a copy of these bytes.
            request: self.datagram.clone(),
            req: Facts::of(m),
            alternates: Vec::new(),
            chain: Vec::new(),
            current_final: false,
            cancelled: false,
            upstream: Vec::new(),
        });
        self.new_parked.push(i);
    }

    /// Ties a final response to the parked request it answers: a parked
    /// request gets one final response (retransmitted as the same bytes)
    /// or is forwarded, never both.
    fn attribute(&mut self, tx: &Tx) {
        if self.parked.is_empty() {
            return;
        }
        let Some(m) = tx.facts() else {
            return;
        };
        let (to, bytes) = (tx.to, tx.bytes());
        let raw = matches!(self.ctx, Ctx::Datagram { raw: true, .. });
        if m.is_request() {
            if m.method == "CANCEL" {
                // The element's own CANCEL (hop by hop, one Via): the
                // attempt it names is cancelled and may not fail over.
                let branch = m.branch.as_deref().unwrap_or_default();
                for rec in &mut self.parked {
                    if rec.current_is(to, branch, "INVITE") {
                        rec.cancelled = true;
                    }
                }
                return;
            }
            // Only the driver's answer forwards a parked request, and only
            // a 503 or a timeout sends it again, to the next hop resolved.
            let Some(via) = &m.via2 else {
                return;
            };
            let Some(&i) = self.parked_keys.get(&m.key(via)) else {
                return;
            };
            if self.parked[i].forwarded() {
                // (A peer may be a resolved hop: its responses count.)
                let peer = matches!(self.ctx, Ctx::Datagram { from, .. } if from.ip() == PEER_IP)
                    && self.datagram_key.is_some();
                let again = self.parked[i]
                    .chain
                    .last()
                    .is_some_and(|t| t.to == to && t.bytes() == bytes);
                if peer || again {
                    // The peer's requests relayed (its raw bytes may mimic
                    // a Via), or
                    // a retransmission of the current attempt.
                } else if raw && self.datagram_key.is_some() {
                    // Raw bytes from the next hop, a request like this one.
                    self.lenient = true;
                } else {
                    self.check_failover(i, tx, m);
                }
                return;
            }
            if self.parked[i].outcome.is_some() {
                return;
            }
            if self.ctx == Ctx::Driver(Some(i)) {
                let rec = &mut self.parked[i];
                rec.outcome = Some(Outcome::Forwarded { to });
                rec.alternates = std::mem::take(&mut self.resolving_alternates);
                rec.chain = vec![tx.clone()];
            } else if to == NEXT_HOP {
                // The peer's relays go there: its raw bytes may mimic a Via.
            } else if raw {
                self.lenient = true;
            } else {
                assert!(
                    self.lenient,
                    "parked request {} relayed by {:?}",
                    self.parked[i].id, self.ctx
                );
            }
            return;
        }
        let Some(status) = m.status.filter(|s| *s >= 200) else {
            return;
        };
        let key = m.key(&m.via);
        let Some(&i) = self.parked_keys.get(&key) else {
            return;
        };
        if self.parked[i].from != to {
            return;
        }
        let resent =
            matches!(self.ctx, Ctx::Datagram { .. }) && self.datagram_key.as_ref() == Some(&key);
        if resent && self.parked[i].outcome.is_some() {
            // The request again, once it was answered: its transaction may
            // have ended, so this copy is a new request (checked as one).
            return;
        }
        match &self.parked[i].outcome {
            None => {
                self.parked[i].outcome = Some(Outcome::Answered {
                    status,
                    bytes: bytes.to_vec(),
                });
                if raw {
                    self.lenient = true;
                } else if let Ctx::Driver(j) = self.ctx {
                    assert!(
                        self.lenient || j == Some(i),
                        "a resolution answered another parked request"
                    );
                }
            }
            Some(Outcome::Answered { bytes: b, .. }) if b == bytes => {}
            // Forwarded: responses from downstream, or the element's 408;
            // one final (a retransmission is the same bytes), or 2xx to an
            // INVITE, each relayed; none for an attempt that failed over.
            Some(Outcome::Forwarded { .. }) => {
                let rec = &self.parked[i];
                if rec.upstream.iter().any(|(_, b)| b == bytes) {
                    return;
                }
                let invite_2xx = rec.method == "INVITE"
                    && status < 300
                    && rec.upstream.iter().all(|(s, _)| *s < 300);
                let failed_over = self.failed_over.contains(&i);
                let fine = (rec.upstream.is_empty() || invite_2xx) && !failed_over;
                self.lenient |= raw && !fine;
                assert!(
                    self.lenient || fine,
                    "forwarded {} {} answered {status} upstream after {} final(s){}",
                    rec.method,
                    rec.id,
                    rec.upstream.len(),
                    if failed_over {
                        ", in the step it failed over"
                    } else {
                        ""
                    }
                );
                self.parked[i].upstream.push((status, bytes.to_vec()));
            }
            Some(o) => {
                self.lenient |= raw;
                assert!(
                    self.lenient,
                    "parked request {} ended as {}, then answered {status}",
                    self.parked[i].id,
                    Outcome::label(Some(o))
                );
            }
        }
    }

    /// A final response from `from` to the current attempt of a forwarded
    /// request: which, and whether it is the attempt's first and a 503.
    fn final_for_attempt(
        &mut self,
        from: SocketAddr,
        m: Option<&Message<'_>>,
    ) -> Option<(usize, bool)> {
        let m = m.filter(|m| !m.is_request())?;
        let code = m.status().filter(|c| *c >= 200)?;
        let branch = m.core().via.branch()?;
        let method = m.core().cseq.method;
        let i =
            (0..self.parked.len()).find(|&i| self.parked[i].current_is(from, branch, method))?;
        let rec = &mut self.parked[i];
        let first = !rec.current_final;
        rec.current_final = true;
        Some((i, first && code == 503))
    }

    /// A forwarded request sent again, to `to`: a failover (RFC 3263
    /// §4.3), allowed only to the next resolved hop in order, after the
    /// first final response of the current attempt was a 503 or its Timer
    /// B/F fired, not after a CANCEL or a final upstream, never under the
    /// no-failover fault; the same request (Request-URI of the first
    /// forward, Vias, body) on a fresh branch.
    fn check_failover(&mut self, i: usize, tx: &Tx, m: &Facts) {
        let to = tx.to;
        if self.lenient {
            // Who is who can no longer be told: some forwarded request's
            // alternate.
            let rec = self
                .parked
                .iter_mut()
                .find(|r| r.forwarded() && r.alternates.contains(&to))
                .unwrap_or_else(|| panic!("a request sent again to {to}, no request's alternate"));
            rec.alternates.retain(|a| *a != to);
            rec.chain.push(tx.clone());
            rec.current_final = false;
            rec.cancelled = false;
            self.hop_dests.insert(to);
            return;
        }
        let rec = &self.parked[i];
        let what = format!("{} {}", rec.method, rec.id);
        assert!(
            !self.faults.contains(Fault::NoFailover),
            "{what} failed over to {to} under no-failover"
        );
        assert_eq!(
            rec.alternates.first(),
            Some(&to),
            "{what} sent again to {to}, not its next alternate"
        );
        assert!(
            rec.upstream.is_empty(),
            "{what} failed over after a final went upstream"
        );
        assert!(!rec.cancelled, "{what} failed over after a CANCEL");
        let cur = rec.chain.last().expect("a forwarded request");
        match self.ctx {
            Ctx::Datagram { .. } => assert_eq!(
                self.trigger,
                Some((i, true)),
                "{what} failed over to {to} without a first final 503 from {}",
                cur.to
            ),
            Ctx::Timer => {
                let first = self.sent.get(&(cur.to, cur.msg.id)).map(|s| s.first);
                assert!(
                    !rec.current_final
                        && first.is_some_and(|f| self.now - f >= 64 * self.timers.t1),
                    "{what} failed over to {to} before Timer B/F of its attempt at {}",
                    cur.to
                );
            }
            Ctx::Driver(_) => panic!("a resolution made {what} fail over"),
        }
        let first = rec.chain[0].facts().expect("a forwarded request parses");
        let orig = &rec.req;
        assert_eq!(m.method, rec.method, "method of a failover");
        assert_eq!(m.ruri, first.ruri, "Request-URI of a failover of {what}");
        assert!(m.via_ours, "a failover of {what} with top Via {}", m.via);
        assert_eq!(m.via2.as_ref(), Some(&orig.via));
        assert_eq!(m.vias, orig.vias + 1);
        assert_eq!(
            m.body(tx.bytes()),
            orig.body(&rec.request),
            "body of a failover changed"
        );
        assert!(
            rec.chain
                .iter()
                .all(|t| t.facts().is_some_and(|x| x.branch != m.branch)),
            "a failover of {what} reuses a branch"
        );
        let rec = &mut self.parked[i];
        rec.alternates.remove(0);
        rec.chain.push(tx.clone());
        rec.current_final = false;
        rec.cancelled = false;
        self.failed_over.push(i);
        self.hop_dests.insert(to);
    }

    fn check_transmit(&mut self, tx: &Tx, on_time: bool) {
        let to = tx.to;
        if to.ip() == STRANGER_IP && !self.hop_dests.contains(&to) {
            let status = tx.facts().and_then(|f| f.status);
            assert_eq!(
                status,
                Some(403),
                "only a 403 may go to a stranger, not to {to}: {}",
                String::from_utf8_lossy(tx.bytes()).escape_debug()
            );
            return;
        }
        assert!(
            to.ip() == PEER_IP || to.ip() == NEXT_HOP.ip() || self.hop_dests.contains(&to),
            "transmit to {to}, neither the peer nor the next hop nor a resolved hop"
        );
        let Some(msg) = tx.facts() else {
            return;
        };
        if !msg.is_request() || msg.method == "ACK" {
            return;
        }
        let t = self.timers;
        let now = self.now;
        if let Some(s) = self.sent.get_mut(&(to, tx.msg.id)) {
            let what = || format!("{} to {to}", msg.method);
            assert!(
                !s.finished,
                "{} retransmitted after a final response",
                what()
            );
            assert!(
                !(s.invite && s.provisional),
                "{} retransmitted after a provisional response",
                what()
            );
            let gap = now - s.last;
            if on_time {
                assert_eq!(gap, s.next_gap, "retransmission gap of {}", what());
            } else {
                assert!(gap >= s.next_gap, "early retransmission of {}", what());
            }
            assert!(now - s.first < 64 * t.t1, "{} sent after Timer B/F", what());
            // Timer A doubles; Timer E doubles up to T2, and is T2 once a
            // provisional response arrived (RFC 3261 §17.1.1.2, §17.1.2.2).
            s.next_gap = if s.invite {
                s.next_gap * 2
            } else if s.provisional {
                t.t2
            } else {
                (s.next_gap * 2).min(t.t2)
            };
            s.last = now;
        } else {
            self.sent.insert(
                (to, tx.msg.id),
                SentRequest {
                    invite: msg.method == "INVITE",
                    first: now,
                    last: now,
                    next_gap: t.t1,
                    provisional: false,
                    finished: false,
                },
            );
            if to == NEXT_HOP {
                self.to_next_hop.push(tx.msg.clone());
            } else {
                self.to_peer.push((to, tx.msg.clone()));
            }
        }
    }

    fn deliver(&mut self, from: SocketAddr, bytes: &[u8]) -> Vec<Tx> {
        let m = Message::parse(bytes).ok();
        self.deliver_parsed(from, bytes, m.as_ref(), false)
    }

    /// `m`: `bytes` parsed, if they parse (one parse serves every check);
    /// `raw`: arbitrary bytes from the next hop.
    fn deliver_parsed(
        &mut self,
        from: SocketAddr,
        bytes: &[u8],
        m: Option<&Message<'_>>,
        raw: bool,
    ) -> Vec<Tx> {
        self.ctx = Ctx::Datagram { from, raw };
        // Reused: no allocation per datagram.
        self.datagram.clear();
        self.datagram.extend_from_slice(bytes);
        let request = m.filter(|m| m.is_request());
        self.datagram_key = request.map(|m| tx_key(&m.core().via, m));
        // The path a request came in on, for its responses. Raw bytes may
        // reuse an earlier request's Via (a stream read is not parsed here,
        // so look for the Via's text): its responses then prove nothing.
        if self.raw_op {
            for (via, p) in &mut self.req_paths {
                let carried =
                    !via.is_empty() && bytes.windows(via.len()).any(|w| w == via.as_bytes());
                if p.is_some() && carried {
                    *p = None;
                }
            }
        } else if let Some(m) = request {
            let via = m.core().via.raw;
            let mimicked = self.in_raw_streams(via);
            let path = if self.wire.stream() {
                tcp_path(from)
            } else {
                Path {
                    local: SBE_LOCAL,
                    remote: from,
                    transport: Transport::Udp,
                }
            };
            let p = self.req_paths.entry(via.to_owned()).or_insert(Some(path));
            if *p != Some(path) || mimicked {
                *p = None;
            }
        }
        if self.raw_op && self.wire.stream() {
            self.raw_stream_text.extend_from_slice(bytes);
            self.raw_stream_text.push(0);
        }
        self.dialogs_before = self.sbe.hidden_dialog_count();
        // A CANCEL from upstream for a forwarded INVITE.
        let cancels = request
            .filter(|m| m.method() == "CANCEL" && from.ip() == NEXT_HOP.ip())
            .map(|m| {
                let mut key = tx_key(&m.core().via, m);
                key.3 = "INVITE".into();
                self.parked_keys
                    .get(&key)
                    .copied()
                    .filter(|&i| self.parked[i].forwarded())
            });
        // Whether a request's (branch, method) came before: only then may
        // a transaction absorb it.
        let mut known = false;
        if let Some(m) = request.filter(|_| from.ip() != STRANGER_IP) {
            let branch = m.core().via.branch().unwrap_or_default().to_owned();
            known = self.in_raw_streams(&branch);
            known |= !self.keys.insert((branch, m.method().to_owned()));
        }
        let room_before = self.sbe.transaction_count();
        self.trigger = self.final_for_attempt(from, m);
        self.lenient |= raw && self.trigger.is_some();
        // What decides a failover on that 503, before it.
        let pre = self.trigger.map(|(i, _)| {
            let rec = &self.parked[i];
            let (s, c) = self.sbe.transaction_count();
            !self.faults.contains(Fault::NoFailover)
                && !rec.alternates.is_empty()
                && !rec.cancelled
                && rec.upstream.is_empty()
                && s + c < self.max_transactions
        });
        let seen = self.seen.len();
        let out = self.input(from, bytes, m);
        assert!(self.new_parked.len() <= 1, "one datagram parked twice");
        // RFC 6404 §4.10: a new dialog is refused for want of room only
        // when the table is full (no dialog idles a day in a run). (A
        // retransmission gets the 503 it got before, full or not now.)
        for t in out.iter().filter(|t| t.msg.id >= seen) {
            if t.bytes()
                .starts_with(b"SIP/2.0 503 Service Unavailable - Too Many Dialogs")
            {
                assert!(
                    self.hide.is_some_and(|max| self.dialogs_before >= max),
                    "503 Too Many Dialogs with {} of {:?}",
                    self.dialogs_before,
                    self.hide
                );
            }
        }
        self.dialogs_high = self.dialogs_high.max(self.sbe.hidden_dialog_count());
        // (Blind to the peer's bucket, nothing is predicted of it.)
        self.gate = request
            .filter(|_| from.ip() == PEER_IP && !self.limits_blind)
            .map(|m| self.check_limits(from, m, known, room_before, &out));
        if let Some(cancelled) = cancels {
            let accepted = out.iter().any(|t| {
                t.to == from
                    && t.facts()
                        .is_some_and(|f| f.status == Some(200) && f.cseq_method == "CANCEL")
            });
            if accepted {
                // The element matches transactions by branch and sent-by:
                // raw bytes may cancel one the model cannot name.
                self.lenient |= raw;
                if let Some(i) = cancelled {
                    self.parked[i].cancelled = true;
                }
            }
        }
        if let (Some((i, true)), Some(should), false) = (self.trigger, pre, self.lenient) {
            // RFC 3263 §4.3: a first 503 from the current attempt fails
            // over when a hop is left, the request is neither cancelled
            // nor answered, and there is room; else it goes upstream.
            let did = self.failed_over.contains(&i);
            let rec = &self.parked[i];
            assert_eq!(
                did,
                should,
                "{} {} on a 503 with {} alternates left: failed over {did}",
                rec.method,
                rec.id,
                rec.alternates.len()
            );
            if did && rec.method == "INVITE" {
                let acked = out
                    .iter()
                    .any(|t| t.to == from && t.facts().is_some_and(|f| f.method == "ACK"));
                assert!(acked, "a 503 that failed over was not ACKed");
            }
            if !did {
                assert!(
                    !rec.upstream.is_empty(),
                    "a 503 neither failed over nor relayed"
                );
            }
        }
        if from.ip() == PEER_IP {
            // Responses to what the peer sent come back with its Via on top.
            for t in &out {
                let relayed = t.facts().filter(|f| t.to == NEXT_HOP && f.is_request());
                if let Some(via) = relayed.and_then(|f| f.via2.as_ref()) {
                    self.peer_vias.insert(via.clone());
                }
            }
        }
        self.check_bounds();
        out
    }

    /// The peer's token bucket, as `limit::Limiter` keeps it (the same
    /// arithmetic on the same clock): a request takes a token if one is
    /// there.
    fn take_token(&mut self) -> bool {
        let l = self.limits;
        if let Some(last) = self.drawn {
            let dt = self.now.saturating_duration_since(last).as_secs_f64();
            self.tokens = (self.tokens + dt * l.requests_per_sec).min(l.burst);
        }
        self.drawn = Some(self.now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Room for another call: below the limit, or once calls older than
    /// the age limit are forgotten (looked for at most once a second).
    fn call_room(&mut self) -> bool {
        let l = self.limits;
        if self.calls.len() < l.sessions {
            return true;
        }
        let now = self.now;
        if self
            .swept
            .is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(1))
        {
            self.swept = Some(now);
            let before = self.calls.len();
            self.calls
                .retain(|c| now.saturating_duration_since(c.started) < l.session_max_age);
            self.calls_ended += before - self.calls.len();
        }
        self.calls.len() < l.sessions
    }

    /// Ends calls on what the element sent for the first time: a BYE it
    /// relayed (either way) ends its Call-ID's; a final of 300 or more
    /// relayed upstream to the peer for an INVITE ends the call that
    /// INVITE started, a 2xx sets it up. (Answers of the element's own go
    /// up while a datagram from the peer is handled, and end nothing.)
    fn track_calls(&mut self, tx: &Tx) {
        if self.calls.is_empty() {
            return;
        }
        let Some(f) = tx.facts() else {
            return;
        };
        let before = self.calls.len();
        if f.is_request() {
            if f.method == "BYE" && f.via_ours {
                // The element ends the call by the Call-ID the BYE came
                // with: under topology hiding the relayed one may differ.
                let incoming = match (self.ctx, &self.datagram_key) {
                    (Ctx::Datagram { .. }, Some(k)) if k.3 == "BYE" => &k.1,
                    _ => &f.call_id,
                };
                let incoming = incoming.clone();
                self.calls.retain(|c| c.call_id != incoming);
            }
        } else {
            let from_peer = matches!(self.ctx, Ctx::Datagram { from, .. } if from.ip() == PEER_IP);
            let code = f.status.unwrap_or(0);
            if tx.to.ip() != PEER_IP || from_peer || f.cseq_method != "INVITE" || code < 200 {
                return;
            }
            let call = self
                .calls
                .iter()
                .position(|c| c.call_id == f.call_id && c.branch == f.branch);
            match call {
                Some(i) if code >= 300 => {
                    self.calls.remove(i);
                }
                Some(i) => self.calls[i].up = true,
                None => {}
            }
        }
        self.calls_ended += before - self.calls.len();
    }

    /// RFC 6404 §4.9: what the limits make of request `m` from the peer,
    /// predicted from the model's bucket and calls, and checked against
    /// what the element did (`out`). A request is counted once it passed
    /// what the element refuses itself (no room for its transactions as
    /// `room` said before it, §16.3 validation, REGISTER); ACK and CANCEL
    /// never are, nor a retransmission its transaction absorbed (read from
    /// the element's drop event, and only allowed for a branch seen
    /// before). Over the rate, or a new INVITE over the calls, gets the
    /// 503 with Retry-After, or nothing under Drop; within them, the relay.
    fn check_limits(
        &mut self,
        from: SocketAddr,
        m: &Message<'_>,
        known: bool,
        room: (usize, usize),
        out: &[Tx],
    ) -> Gate {
        let method = m.method();
        let absorbed = self.events.iter().any(|e| {
            matches!(
                e,
                Event::Dropped {
                    reason: DropReason::Retransmission,
                    ..
                }
            )
        });
        assert!(
            !absorbed || known || method == "ACK",
            "a new {method} absorbed as a retransmission"
        );
        let new_call = method == "INVITE" && m.core().to.tag().is_none();
        let gate = if matches!(method, "ACK" | "CANCEL" | "REGISTER")
            || absorbed
            || room.0 + room.1 + 2 > self.max_transactions
            || matches!(m.request_uri(), Some(Uri::Other { .. }))
            || m.core().max_forwards == Some(0)
            || m.header(HeaderName::ProxyRequire).is_some()
        {
            Gate::Uncounted
        } else if !self.take_token() {
            Gate::Refused(RATE_LIMIT)
        } else if new_call && !self.call_room() {
            Gate::Refused(SESSION_LIMIT)
        } else {
            Gate::Admitted
        };
        let dropped = self.events.iter().any(|e| {
            matches!(
                e,
                Event::Dropped {
                    reason: DropReason::OverLimit,
                    ..
                }
            )
        });
        let too_many_dialogs = |t: &&Tx| {
            t.bytes()
                .starts_with(b"SIP/2.0 503 Service Unavailable - Too Many Dialogs")
        };
        let limit_answers = out
            .iter()
            .filter(|t| t.bytes().starts_with(b"SIP/2.0 503 Service Unavailable - "))
            .filter(|t| !too_many_dialogs(t))
            .count();
        let shown = || {
            String::from_utf8_lossy(m.as_bytes())
                .escape_debug()
                .to_string()
        };
        match gate {
            Gate::Refused(reason) => {
                self.refusals += 1;
                match self.limits.over_limit {
                    OverLimit::Reject { retry_after } => {
                        assert!(
                            out.len() == 1 && out[0].to == from && !dropped,
                            "{reason}: {} transmissions for {}",
                            out.len(),
                            shown()
                        );
                        let line = format!("SIP/2.0 503 {reason}\r\n");
                        assert!(
                            out[0].bytes().starts_with(line.as_bytes()),
                            "not {line:?} for {}",
                            shown()
                        );
                        let r = Message::parse(out[0].bytes()).expect("the 503 parses");
                        let after = r.header_by_name("Retry-After").map(|h| h.value);
                        assert_eq!(
                            after,
                            Some(retry_after.to_string().as_bytes()),
                            "Retry-After of a 503 over a limit"
                        );
                        assert_eq!(r.core().cseq.method, method);
                        assert_eq!(r.core().call_id, m.core().call_id);
                    }
                    OverLimit::Drop => assert!(
                        out.is_empty() && dropped,
                        "{reason} under Drop: {} transmissions, dropped {dropped}, for {}",
                        out.len(),
                        shown()
                    ),
                }
            }
            Gate::Admitted => {
                assert!(
                    !dropped && limit_answers == 0,
                    "refused within the limits ({} tokens, {} calls): {}",
                    self.tokens,
                    self.calls.len(),
                    shown()
                );
                let relays = out
                    .iter()
                    .filter(|t| {
                        t.to == NEXT_HOP
                            && t.facts()
                                .is_some_and(|f| f.is_request() && f.method == method)
                    })
                    .count();
                // RFC 6404 §4.10: past the limits, a request naming a
                // dialog token the element does not hold gets 481, and a
                // new dialog without room 503; neither is relayed. Which
                // tokens the element still holds would take a second
                // dialog table: for tokens it gave out, either is fine.
                let ruri = m.request_uri().map(|u| u.raw()).unwrap_or_default();
                let token = self.hide.and(
                    m.request_uri()
                        .and_then(|u| dialog_token(u, self.opts.hostname)),
                );
                let unknown_token = token.as_ref().is_some_and(|t| {
                    !self
                        .tokens_given
                        .iter()
                        .any(|g| g.to_ascii_lowercase().contains(t.as_str()))
                });
                let answered_481 = out
                    .iter()
                    .filter(|t| {
                        t.to == from
                            && t.facts()
                                .is_some_and(|f| f.status == Some(481) && f.cseq_method == method)
                    })
                    .count();
                let refused_full = out.iter().filter(too_many_dialogs).count();
                if unknown_token || answered_481 > 0 {
                    assert!(
                        token.is_some() && answered_481 == 1 && relays == 0,
                        "a request naming {ruri}: {answered_481} 481s, {relays} relays"
                    );
                    self.unknown_token_481s += usize::from(unknown_token);
                    return gate;
                }
                if refused_full > 0 {
                    let forming = matches!(method, "INVITE" | "SUBSCRIBE" | "REFER")
                        && m.core().to.tag().is_none();
                    assert!(
                        forming && refused_full == 1 && relays == 0,
                        "503 Too Many Dialogs for {}",
                        shown()
                    );
                    return gate;
                }
                assert_eq!(relays, 1, "an admitted request relayed: {}", shown());
                let call_id = m.core().call_id;
                if new_call && !self.calls.iter().any(|c| c.call_id == call_id) {
                    self.calls.push(Call {
                        call_id: call_id.to_owned(),
                        branch: m.core().via.branch().map(str::to_owned),
                        started: self.now,
                        up: false,
                    });
                    self.calls_started += 1;
                }
            }
            // (An absorbed request may get its 503 again.)
            Gate::Uncounted => assert!(
                !dropped && (absorbed || limit_answers == 0),
                "refused over a limit it never reached: {}",
                shown()
            ),
        }
        gate
    }

    /// `handle_timeout` at `now`, then the checks: no timer left due; a
    /// parked request past its deadline answered 504 (an ACK dropped), one
    /// before it untouched.
    fn timeout(&mut self, on_time: bool) {
        let waiting: Vec<usize> = self.outstanding().collect();
        self.ctx = Ctx::Timer;
        self.sbe.handle_timeout(self.now);
        self.drain(on_time, None);
        if let Some(t) = self.sbe.poll_timeout() {
            assert!(
                t > self.now,
                "a timer due at {t:?} did not fire at {:?}",
                self.now
            );
        }
        let refused = self
            .events
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    Event::Dropped {
                        reason: DropReason::RefusedAck,
                        ..
                    }
                )
            })
            .count();
        let mut acks = 0;
        for i in waiting {
            let rec = &mut self.parked[i];
            if rec.deadline > self.now {
                assert!(
                    self.lenient || rec.outcome.is_none(),
                    "parked request {} ended by a timer before its deadline: {}",
                    rec.id,
                    Outcome::label(rec.outcome.as_ref())
                );
                continue;
            }
            match &rec.outcome {
                None if rec.method == "ACK" => {
                    rec.outcome = Some(Outcome::Dropped);
                    acks += 1;
                }
                Some(Outcome::Answered { status: 504, .. }) => {}
                o => assert!(
                    self.lenient,
                    "parked {} {} past its deadline ended as {}, not 504",
                    rec.method,
                    rec.id,
                    Outcome::label(o.as_ref())
                ),
            }
        }
        assert!(
            self.lenient || refused == acks,
            "{refused} ACKs refused by a timer, {acks} parked ACKs timed out"
        );
        self.check_bounds();
    }

    /// Advances the clock to `target`, firing every timer at its deadline.
    fn advance(&mut self, target: Instant) {
        for _ in 0..1024 {
            match self.sbe.poll_timeout() {
                Some(t) if t <= target => {
                    self.now = t.max(self.now);
                    self.timeout(true);
                }
                _ => break,
            }
        }
        self.now = self.now.max(target);
    }

    /// Jumps to `target` and calls `handle_timeout` once: timers fire late.
    fn jump(&mut self, target: Instant) {
        self.now = self.now.max(target);
        self.timeout(false);
    }

    /// A response travelling back to the element: record what it does to
    /// the retransmissions of the request it answers.
    fn note_response(&mut self, dest: SocketAddr, request: &Msg, code: u16) {
        if let Some(s) = self.sent.get_mut(&(dest, request.id)) {
            if code < 200 {
                s.provisional = true;
            } else {
                s.finished = true;
            }
        }
    }

    fn new_request(&mut self, u: &mut Unstructured<'_>, from: SocketAddr) -> Gen<UaRequest> {
        let id = self.next_id();
        let from_next_hop = from.ip() == NEXT_HOP.ip();
        let method = if from_next_hop {
            *u.choose(&["INVITE", "OPTIONS", "BYE", "MESSAGE", "ACK", "NOTIFY"])?
        } else {
            *u.choose(&PEER_METHODS)?
        };
        let ruri = if from_next_hop && self.resolve {
            (*u.choose(&RESOLVING_RURIS)?).to_owned()
        } else if from_next_hop {
            (*u.choose(&[
                "sip:carol@198.51.100.10:5060",
                "sip:carol@198.51.100.10:5070;transport=udp",
                "sip:carol@192.0.2.66",
                "sip:carol@peer.example",
                "tel:+15550001",
            ])?)
            .to_owned()
        } else {
            // Under topology hiding, also the element's Contact for a
            // dialog: one it gave out, or one it never did.
            let given = self.tokens_given.len();
            let n = if self.hide.is_some() { 9 } else { 7 };
            match u.choose_index(n)? {
                7 if given > 0 => self.tokens_given[u.choose_index(given)?].clone(),
                7 | 8 => UNKNOWN_TOKEN_URI.to_owned(),
                i => [
                    "sip:bob@biloxi.example.com",
                    "sips:bob@biloxi.example.com;transport=tcp",
                    "tel:+15551234567",
                    "sip:+15551234567@[2001:db8::5]:5062;user=phone",
                    "mailto:bob@example.com",
                    "sip:bob@203.0.113.5:5060",
                    "sip:192.0.2.1:5060;lr",
                ][i]
                    .to_owned(),
            }
        };
        // The inside under topology hiding: a proxy's Via, Record-Route
        // and address above its user agent's names, a private address in
        // the SDP origin; its From names only its domain.
        let inside = from_next_hop && self.hide.is_some();
        let branch = format!("z9hG4bK{}{id}", if from_next_hop { "n" } else { "p" });
        let transport = if self.wire.stream() { "TCP" } else { "UDP" };
        let via = format!("SIP/2.0/{transport} {from};branch={branch};rport");
        let from_hdr = if inside {
            format!("<sip:alice@ssp.example>;tag=f{id}")
        } else {
            format!("<sip:alice@{}>;tag=f{id}", from.ip())
        };
        let to_hdr = if u.ratio(1u8, 4)? {
            format!("<sip:bob@biloxi.example.com>;tag=t{id}")
        } else {
            "<sip:bob@biloxi.example.com>".to_owned()
        };
        let call_id = match self.peer_requests.len() {
            n if n > 0 && u.ratio(1u8, 4)? => {
                self.peer_requests[u.choose_index(n)?].call_id.clone()
            }
            _ if inside => format!("c{id}@{INSIDE_UA}"),
            _ => format!("c{id}@{}", from.ip()),
        };
        let cseq = if u.arbitrary()? {
            u.arbitrary()?
        } else {
            u.int_in_range(1..=9)?
        };
        let mut b = MessageBuilder::request(method, &ruri).header("Via", &via);
        if inside {
            b = b.header(
                "Via",
                format_args!(
                    "SIP/2.0/UDP {INSIDE_UA}:5060;branch=z9hG4bKua{id};received=10.20.30.40"
                ),
            );
        }
        if let Some(mf) = *u.choose(&[Some(70u8), Some(70), Some(1), Some(0), None])? {
            b = b.header("Max-Forwards", mf);
        }
        b = b
            .header("From", &from_hdr)
            .header("To", &to_hdr)
            .header("Call-ID", &call_id)
            .header("CSeq", format_args!("{cseq} {method}"));
        let routes: &[&str] = if from_next_hop && self.resolve {
            &RESOLVING_ROUTES
        } else if from_next_hop {
            &[
                "",
                "<sip:192.0.2.1:5060;lr>",
                "<sip:192.0.2.1:5060;lr>, <sip:198.51.100.10;lr>",
                "<sip:192.0.2.66;lr>",
                "<sip:sbe.example.net;lr>, <sip:198.51.100.10;lr>",
            ]
        } else {
            &[
                "",
                "",
                "<sip:192.0.2.1:5060;lr>",
                "<sip:proxy.example.net;lr>",
                "<sip:sbe.example.net:5060;lr>",
            ]
        };
        // The last entry (two with resolution) names the element by its
        // hostname.
        let by_name = if from_next_hop && self.resolve { 2 } else { 1 };
        let routes = if self.opts.extended {
            routes
        } else {
            &routes[..routes.len() - by_name]
        };
        let route = *u.choose(routes)?;
        if !route.is_empty() {
            b = b.header("Route", route);
        }
        if u.ratio(1u8, 8)? {
            b = b.header("Proxy-Require", "x-fuzz");
        }
        if inside && method == "INVITE" {
            b = b
                .header("Record-Route", format_args!("<sip:{INSIDE_PROXY};lr>"))
                .header("Contact", format_args!("<sip:alice@{INSIDE_UA}:5060>"));
        } else if method == "INVITE" {
            b = b.header("Contact", format_args!("<sip:alice@{from}>"));
        }
        if self.opts.identities {
            for (name, value) in *u.choose(&IDENTITIES)? {
                b = b.header(name, value);
            }
        }
        if u.ratio(1u8, 3)? {
            b = b.body("application/sdp", if inside { INSIDE_OFFER } else { OFFER });
        }
        Ok(UaRequest {
            bytes: b.build(),
            from,
            method,
            ruri,
            via,
            branch,
            from_hdr,
            to_hdr,
            call_id,
            cseq,
        })
    }

    /// A response to `request`, a request as the element sent it. From
    /// the inside under topology hiding, a provisional or 2xx carries the
    /// inside's Contact, a dialog's Record-Route also its proxy's entry,
    /// and an INVITE's 183 or 200 its SDP.
    fn response(
        &mut self,
        u: &mut Unstructured<'_>,
        request: &[u8],
        inside: bool,
    ) -> Gen<Option<(u16, Vec<u8>)>> {
        let code = *u.choose(&STATUS_CODES)?;
        let tag = format!("r{}", self.next_id());
        let Ok(req) = Message::parse(request) else {
            return Ok(None);
        };
        let mut b = MessageBuilder::response_to(&req, code, "Fuzz", Some(&tag));
        if inside && self.hide.is_some() && (101..300).contains(&code) {
            let method = req.method();
            if matches!(method, "INVITE" | "SUBSCRIBE") {
                b = b.header("Record-Route", format_args!("<sip:{INSIDE_PROXY};lr>"));
                for rr in req.values(HeaderName::RecordRoute) {
                    b = b.header("Record-Route", rr);
                }
            }
            b = b.header("Contact", format_args!("<sip:bob@{INSIDE_UA}:5060>"));
            if method == "INVITE" && matches!(code, 183 | 200) {
                b = b.body("application/sdp", INSIDE_OFFER);
            }
        }
        Ok(Some((code, b.build())))
    }

    /// Sorts one input's transmissions: relays go `away` from the sender,
    /// answers go `back` to it. Nothing else may be addressed.
    /// Relays may also go to a resolved hop in `hops`. With `method`,
    /// finals whose CSeq names another method count apart.
    fn tally(
        out: &[Tx],
        back: SocketAddr,
        away_ip: IpAddr,
        hops: Option<&HashSet<SocketAddr>>,
        method: Option<&str>,
    ) -> Tally {
        let mut t = Tally::default();
        for tx in out {
            let to = &tx.to;
            // (A transaction raw stream bytes started, with the same
            // branch, answers on their connection.)
            let raw_twin = to.ip() == back.ip() && to.port() == RAW_STREAM_PORT;
            if *to == back || raw_twin {
                let other = |m: &Facts| method.is_some_and(|x| m.cseq_method != x);
                match tx.facts().and_then(|m| m.status.map(|c| (c, other(m)))) {
                    Some((c, true)) if c >= 200 => t.other_finals += 1,
                    Some((c, _)) if c >= 200 => t.finals += 1,
                    Some(_) => t.provisionals += 1,
                    None => t.relays += usize::from(back.ip() == away_ip),
                }
            } else {
                assert!(
                    to.ip() == away_ip || hops.is_some_and(|h| h.contains(to)),
                    "transmit to {to} for a datagram from {back}"
                );
                t.relays += 1;
            }
        }
        t
    }

    /// Sends a well-formed request and checks the exactly-once rule.
    fn send_request(&mut self, req: UaRequest, away_ip: IpAddr) {
        let fresh = !self
            .keys
            .contains(&(req.branch.clone(), req.method.to_owned()))
            && !self.in_raw_streams(&req.branch);
        let from_next_hop = req.from.ip() == NEXT_HOP.ip();
        let original = Message::parse(&req.bytes).expect("generated request parses");
        if req.from.ip() == PEER_IP {
            self.peer_requests.push(req.clone());
        } else if from_next_hop && self.resolve {
            let key = tx_key(&original.core().via, &original);
            self.hop_requests.push((req.clone(), key));
        }
        if from_next_hop {
            let mut vias = original.vias();
            let top = vias.next().map(|v| v.raw.to_owned()).unwrap_or_default();
            let second = vias.next().map(|v| v.raw.to_owned());
            let n = 1 + usize::from(second.is_some()) + vias.count();
            let call_id = original.core().call_id.to_owned();
            self.inside_sent.insert(top, (second, n, call_id));
        }
        // A CANCEL for a parked INVITE: answered 200, the INVITE 487.
        let cancels_parked = (req.method == "CANCEL")
            .then(|| {
                let mut key = tx_key(&original.core().via, &original);
                key.3 = "INVITE".into();
                self.parked_keys.get(&key).copied()
            })
            .flatten()
            .filter(|&i| self.parked[i].outcome.is_none());
        let before = self.sbe.transaction_count();
        let out = self.deliver_parsed(req.from, &req.bytes, Some(&original), false);
        let hops = from_next_hop.then_some(&self.hop_dests);
        let t = Self::tally(&out, req.from, away_ip, hops, Some(req.method));
        let shown = || {
            String::from_utf8_lossy(&req.bytes)
                .escape_debug()
                .to_string()
        };
        assert!(
            t.relays <= 1 && t.finals <= 1 && t.provisionals <= 1,
            "{t:?} for {}",
            shown()
        );
        let parked = self.new_parked.first().copied();
        let cancelled = cancels_parked.filter(|_| !self.lenient).map(|i| {
            let ok = out.iter().any(|t| {
                t.to == req.from
                    && t.facts()
                        .is_some_and(|f| f.status == Some(200) && f.cseq_method == "CANCEL")
            });
            let outcome = &self.parked[i].outcome;
            if ok {
                assert!(
                    matches!(outcome, Some(Outcome::Answered { status: 487, .. })),
                    "a CANCEL for a parked INVITE answered 200, the INVITE {}",
                    Outcome::label(outcome.as_ref())
                );
            } else {
                assert!(outcome.is_none(), "a refused CANCEL ended a parked INVITE");
            }
            ok
        });
        assert_eq!(
            t.other_finals,
            usize::from(cancelled == Some(true)),
            "finals for another method: {t:?} for {}",
            shown()
        );
        if from_next_hop && self.resolve && parked.is_none() && t.relays == 1 {
            let (target, _) = request_target(&original, self.opts.hostname);
            assert!(
                req.method == "CANCEL" || !by_name(target.as_ref()),
                "a request by name relayed unresolved: {}",
                shown()
            );
        }
        if parked.is_some() {
            // Held for the driver: nothing but an INVITE's 100 Trying yet.
            assert_eq!(
                (t.relays, t.finals, t.provisionals),
                (0, 0, usize::from(req.method == "INVITE")),
                "a parked request: {}",
                shown()
            );
            return;
        }
        match req.method {
            // An ACK takes no response (RFC 3261 §17.1.1.3, §22.1).
            "ACK" => assert_eq!(
                t.finals + t.provisionals,
                0,
                "an ACK was answered: {}",
                shown()
            ),
            // CANCEL is hop by hop (§9.2, §16.10): the element answers it
            // and may send its own CANCEL downstream.
            "CANCEL" if fresh => {
                assert_eq!(t.finals, 1, "CANCEL not answered exactly once: {}", shown());
                for t in &out {
                    if (t.to.ip() == away_ip || hops.is_some_and(|h| h.contains(&t.to)))
                        && t.to != req.from
                    {
                        let m = t.facts().expect("relayed CANCEL parses");
                        assert_eq!(m.method, "CANCEL");
                    }
                }
            }
            _ if fresh => {
                // Or neither, over a limit under Drop (as predicted).
                let over = self.events.iter().any(|e| {
                    matches!(
                        e,
                        Event::Dropped {
                            reason: DropReason::OverLimit,
                            ..
                        }
                    )
                });
                let silent = (matches!(self.gate, Some(Gate::Refused(_)))
                    || (self.limits_blind && over))
                    && self.limits.over_limit == OverLimit::Drop;
                assert_eq!(
                    t.relays + t.finals,
                    usize::from(!silent),
                    "a new request must be relayed or answered, exactly once: {t:?} for {}",
                    shown()
                );
                assert!(
                    t.provisionals == 0 || (t.relays == 1 && req.method == "INVITE"),
                    "100 Trying without an INVITE relay: {}",
                    shown()
                );
                if t.finals == 1 && req.method != "CANCEL" {
                    // An answer creates at most one server transaction.
                    let after = self.sbe.transaction_count();
                    assert!(
                        after.1 <= before.1,
                        "an answered request started a client transaction"
                    );
                }
            }
            _ => {}
        }
        // The identity fields as sent.
        let sent = Facts::routing(&original);
        // Under topology hiding a request from the inside leaves with the
        // element's Via alone and the SDP origin naming the element.
        let hidden = from_next_hop && self.hide.is_some();
        for t in &out {
            if t.to.ip() != away_ip || t.to == req.from {
                continue;
            }
            let m = t.facts().expect("relayed request parses");
            // §16.6: our Via on top, the sender's below, body untouched. (A
            // CANCEL the element sends is its own, hop by hop, §9.1.)
            if m.method == req.method && req.method != "CANCEL" {
                assert!(m.via_ours, "relayed with top Via {}", m.via);
                if hidden {
                    assert_eq!(m.vias, 1, "the inside's Vias left: {}", m.vias);
                } else {
                    assert_eq!(m.via2.as_deref(), Some(req.via.as_str()));
                }
                let body = match original.body() {
                    INSIDE_OFFER if hidden => HIDDEN_OFFER,
                    b => b,
                };
                assert_eq!(m.body(t.bytes()), body, "relayed body changed");
                // RFC 3261 §18.1.1, RFC 5923 §4: over the connection the
                // far end has open, else UDP.
                assert_eq!(t.path, self.path_to(t.to), "the path of a relayed request");
                self.check_relayed_copy(&original, &sent, m, from_next_hop, t.path.transport);
            }
        }
        if from_next_hop {
            self.check_privacy_refusal(req.method, &sent, &out);
        }
    }

    /// What a relay to the peer or the next hop must add and remove: the
    /// element's Via and Record-Route name it by its hostname when it has
    /// one (RFC 6271 #7); its own Route entry, by address or that name, is
    /// removed and no other (§16.4); the identity headers cross the trust
    /// boundary as RFC 3325 §5-7 and RFC 3323 §5 say.
    /// `sent`: the identity fields of `original`.
    fn check_relayed_copy(
        &self,
        original: &Message<'_>,
        sent: &Facts,
        m: &Facts,
        from_next_hop: bool,
        transport: Transport,
    ) {
        let me = if self.opts.hostname {
            format!("{HOSTNAME}:5060")
        } else {
            SBE_LOCAL.to_string()
        };
        // The Via names the transport the request leaves on (§18.1.1).
        let via = transport.via_token();
        assert!(
            m.via.starts_with(&format!("SIP/2.0/{via} {me};")),
            "the element's Via {} does not name it as {me} over {via}",
            m.via
        );
        if matches!(
            m.method.as_str(),
            "INVITE" | "SUBSCRIBE" | "NOTIFY" | "REFER"
        ) {
            let rr = match transport {
                Transport::Udp => format!("<sip:{me};lr>"),
                t => format!("<sip:{me};transport={};lr>", t.as_str()),
            };
            assert_eq!(
                m.record_route.as_deref(),
                Some(rr.as_str()),
                "the element's Record-Route"
            );
        }
        // A peer's request inside a hidden dialog follows the inside's
        // route set, which only a second dialog table could predict.
        if self.hide.is_some() && !from_next_hop && original.core().to.tag().is_some() {
            return self.check_relayed_identity(sent, m, from_next_hop);
        }
        let mut routes = original.name_addrs(HeaderName::Route).map(|na| na.uri);
        let first = routes.next();
        let route = match first {
            Some(u) if is_my_uri(&u, self.opts.hostname) => routes.next(),
            u => u,
        };
        assert_eq!(
            m.route.as_deref(),
            route.map(|u| u.raw()),
            "the first Route of the relayed copy"
        );
        self.check_relayed_identity(sent, m, from_next_hop);
    }

    /// RFC 3325 §5-7 and RFC 3323 §5 on a relayed copy `m` of a request
    /// whose identity fields were `sent`.
    fn check_relayed_identity(&self, sent: &Facts, m: &Facts, from_next_hop: bool) {
        // The next hop is inside the trust domain; the peer only when
        // configured so.
        let (from_trusted, to_trusted) = if from_next_hop {
            (true, self.opts.trusted)
        } else {
            (self.opts.trusted, true)
        };
        let orig = sent;
        let (pai, privacy) = if orig.pai && !from_trusted {
            (false, orig.privacy.clone())
        } else if to_trusted
            || orig.privacy.iter().any(|v| v == "none")
            || !orig.privacy.iter().any(|v| v == "id")
        {
            (orig.pai, orig.privacy.clone())
        } else {
            let rest: Vec<String> = orig
                .privacy
                .iter()
                .filter(|v| *v != "id")
                .cloned()
                .collect();
            let only_critical = rest.iter().all(|v| v == "critical");
            (false, if only_critical { Vec::new() } else { rest })
        };
        assert!(!m.ppi, "P-Preferred-Identity relayed");
        assert_eq!(
            (m.pai, &m.privacy),
            (pai, &privacy),
            "P-Asserted-Identity and Privacy relayed (from trusted {from_trusted}, to trusted {to_trusted}; sent {}, {:?})",
            orig.pai,
            orig.privacy
        );
    }

    /// RFC 3323 §5: a request from the next hop that asks, as critical,
    /// for privacy a proxy cannot give never reaches the untrusted peer,
    /// and the 500 that refuses it names what was missing; no other
    /// request gets that 500.
    /// `orig`: the identity fields of the `method` request sent.
    fn check_privacy_refusal(&self, method: &str, orig: &Facts, out: &[Tx]) {
        let missing = if self.opts.trusted {
            Vec::new()
        } else {
            unavailable_privacy(orig, self.hide.is_some())
        };
        for t in out {
            let Some(f) = t.facts() else { continue };
            if f.is_request() && t.to.ip() == PEER_IP && f.method == method {
                assert!(
                    missing.is_empty(),
                    "relayed to an untrusted peer without the critical {missing:?}"
                );
            }
            if f.status == Some(500) && t.bytes().starts_with(b"SIP/2.0 500 Privacy Unavailable") {
                let line = format!(
                    "SIP/2.0 500 Privacy Unavailable: {}\r\n",
                    missing.join(", ")
                );
                assert!(
                    !missing.is_empty() && t.bytes().starts_with(line.as_bytes()),
                    "not {line:?}"
                );
            }
        }
    }

    /// Checks that a datagram from a stranger started nothing.
    fn stranger_datagram(&mut self, from: SocketAddr, bytes: &[u8]) {
        let before = self.sbe.transaction_count();
        // A raw stream read may frame several requests: a 403 each.
        let several = self.wire.stream() && from.port() == RAW_STREAM_PORT;
        let out = self.deliver(from, bytes);
        assert!(
            out.len() <= 1 || several,
            "{} transmissions for one stranger datagram",
            out.len()
        );
        for Tx { to, .. } in &out {
            assert_eq!(
                *to, from,
                "a stranger's datagram caused a transmission to {to}"
            );
        }
        assert_eq!(
            self.sbe.transaction_count(),
            before,
            "a stranger created state"
        );
    }

    /// The driver answers a resolution: for a parked request, one already
    /// answered, forwarded or timed out, or an id nobody was given; with
    /// hops (none to three, among the peer, a stranger, addresses nobody
    /// configured, the next hop) and a target URI (the target itself, or
    /// another: a `tel:` becomes a `sip:` URI), or with a failure; once, or
    /// twice.
    fn driver_answer(&mut self, u: &mut Unstructured<'_>) -> Gen<()> {
        let waiting: Vec<usize> = self.outstanding().collect();
        let id = match u.int_in_range(0..=3u8)? {
            0 | 1 if !waiting.is_empty() => self.parked[waiting[u.choose_index(waiting.len())?]].id,
            2 if !self.parked.is_empty() => self.parked[u.choose_index(self.parked.len())?].id,
            _ => u.arbitrary()?,
        };
        let result = if u.ratio(3u8, 4)? {
            let mut hops = Vec::new();
            for _ in 0..u.int_in_range(0..=3u8)? {
                hops.push(*u.choose(&HOPS)?);
            }
            let target_uri = match u.int_in_range(0..=7u8)? {
                0..=2 => match self.parked_ids.get(&id) {
                    Some(&i) => self.parked[i].target.clone(),
                    None => "sip:carol@peer.example".to_owned(),
                },
                i => RESOLVED_URIS[usize::from(i - 3)].to_owned(),
            };
            let hops = hops.into_iter().map(Hop::udp).collect();
            Ok(Resolved { target_uri, hops })
        } else {
            let (status, reason) = *u.choose(&UNRESOLVED)?;
            Err(Unresolved {
                status,
                reason: reason.to_owned(),
            })
        };
        let times = if u.ratio(1u8, 4)? { 2 } else { 1 };
        for _ in 0..times {
            self.resolved(id, result.clone());
        }
        Ok(())
    }

    /// What the element must do with parked request `i` on `result`.
    fn expect(&self, i: usize, result: &Result<Resolved, Unresolved>) -> Expected {
        let rec = &self.parked[i];
        let r = match result {
            Err(e) => {
                return Expected::Answer {
                    status: e.status,
                    reason: Some(e.reason.clone()),
                };
            }
            Ok(r) => r,
        };
        // RFC 3261 §26.2.2: a sips: target never takes a UDP hop, and this
        // element opens no TLS connections: 502.
        if r.target_uri
            .get(..5)
            .is_some_and(|p| p.eq_ignore_ascii_case("sips:"))
        {
            return Expected::Answer {
                status: 502,
                reason: None,
            };
        }
        // RFC 3263 §4.4: hops in order, the first one first (the last one
        // under the ignore-srv-priority fault).
        let hops: Vec<SocketAddr> = r.hops.iter().map(|h| h.addr).collect();
        let hop = if self.faults.contains(Fault::IgnoreSrvPriority) {
            hops.last()
        } else {
            hops.first()
        };
        let Some(&to) = hop else {
            return Expected::Answer {
                status: 404,
                reason: None,
            };
        };
        // Relaying adds a client transaction to the server one the parked
        // request holds: without room, 503 as for any request.
        let (s, c) = self.sbe.transaction_count();
        if rec.method != "ACK" && s + c + 1 > self.max_transactions {
            return Expected::Answer {
                status: 503,
                reason: None,
            };
        }
        // RFC 3323 §5: critical privacy a proxy cannot give, towards a hop
        // outside the trust domain: 500 naming it.
        let trusted = to == NEXT_HOP || (to.ip() == PEER_IP && self.opts.trusted);
        let missing = unavailable_privacy(&rec.req, self.hide.is_some());
        if !trusted && !missing.is_empty() {
            return Expected::Answer {
                status: 500,
                reason: Some(format!("Privacy Unavailable: {}", missing.join(", "))),
            };
        }
        // RFC 3261 §16.5-16.6: the Request-URI becomes the target found,
        // unless a Route chose it (§16.4: loose routing leaves the
        // Request-URI alone) or the keep-tel-uri fault holds.
        let rewrite =
            !self.faults.contains(Fault::KeepTelUri) && !rec.by_route && r.target_uri != rec.ruri;
        Expected::Forward {
            to,
            ruri: if rewrite {
                r.target_uri.clone()
            } else {
                rec.ruri.clone()
            },
        }
    }

    /// `on_resolved` for `id`, and its checks: an id parked and not yet
    /// settled has exactly the effect the rules say; any other has none.
    fn resolved(&mut self, id: u64, result: Result<Resolved, Unresolved>) {
        let waiting = self
            .parked_ids
            .get(&id)
            .copied()
            .filter(|&i| self.parked[i].outcome.is_none());
        let expected = waiting
            .filter(|_| !self.lenient)
            .map(|i| self.expect(i, &result));
        // The hop the rules pick may be sent to (whether or not the model
        // expects the element to use it).
        if let Ok(r) = &result {
            let hops: Vec<SocketAddr> = r.hops.iter().map(|h| h.addr).collect();
            let hop = if self.faults.contains(Fault::IgnoreSrvPriority) {
                hops.last()
            } else {
                hops.first()
            };
            self.hop_dests.extend(hop);
            self.resolving_alternates = hop
                .map(|h| hops.iter().copied().filter(|a| a != h).collect())
                .unwrap_or_default();
        }
        let (count, parked, due) = (
            self.sbe.transaction_count(),
            self.sbe.parked_len(),
            self.sbe.poll_timeout(),
        );
        self.ctx = Ctx::Driver(waiting);
        self.sbe.on_resolved(self.now, id, result);
        let out = self.drain(false, None);
        assert!(
            out.len() <= 1,
            "{} transmissions for one resolution",
            out.len()
        );
        if self.sbe.parked_len() == parked {
            // Nothing was waiting for this id (the lenient model may not
            // know): nothing happens.
            assert!(
                self.lenient || waiting.is_none(),
                "parked request {id} ignored its resolution"
            );
            assert!(out.is_empty(), "an unknown or settled id {id} transmitted");
            assert_eq!(self.sbe.transaction_count(), count, "{id} changed state");
        } else {
            assert_eq!(
                self.sbe.parked_len() + 1,
                parked,
                "one resolution, one request"
            );
            assert!(self.lenient || waiting.is_some(), "id {id} was not waiting");
        }
        // The answer starts no timer in the past. (One at `now` is fine:
        // over a reliable transport Timer J is zero, RFC 3261 §17.2.2.)
        if let Some(t) = self.sbe.poll_timeout() {
            assert!(
                t >= self.now || due.is_some_and(|d| d <= t),
                "on_resolved set a timer in the past"
            );
        }
        if let (Some(i), Some(exp)) = (waiting, expected) {
            self.check_resolution(i, exp, &out);
        }
        self.check_bounds();
    }

    fn check_resolution(&mut self, i: usize, exp: Expected, out: &[Tx]) {
        let rec = &mut self.parked[i];
        match exp {
            Expected::Forward { to, ruri } => {
                assert!(
                    rec.outcome == Some(Outcome::Forwarded { to }),
                    "parked {} {} after its resolution: {}, not forwarded to {to}",
                    rec.method,
                    rec.id,
                    Outcome::label(rec.outcome.as_ref())
                );
                let m = out[0].facts().expect("a resolved request parses");
                let orig = &rec.req;
                assert_eq!(m.method, rec.method);
                assert_eq!(
                    m.ruri.as_ref(),
                    Some(&ruri),
                    "Request-URI of a resolved request (by Route: {}): {}",
                    rec.by_route,
                    String::from_utf8_lossy(out[0].bytes()).escape_debug()
                );
                assert!(m.via_ours, "a resolved request with top Via {}", m.via);
                assert_eq!(m.via2.as_ref(), Some(&orig.via));
                assert_eq!(
                    m.body(out[0].bytes()),
                    orig.body(&rec.request),
                    "relayed body changed"
                );
            }
            Expected::Answer { .. } if rec.method == "ACK" => {
                // An ACK takes no response (RFC 3261 §17.1.1.3).
                assert!(out.is_empty(), "a parked ACK was answered");
                assert!(
                    self.events.iter().any(|e| matches!(
                        e,
                        Event::Dropped {
                            reason: DropReason::RefusedAck,
                            ..
                        }
                    )),
                    "a parked ACK vanished without a trace"
                );
                rec.outcome = Some(Outcome::Dropped);
            }
            Expected::Answer { status, reason } => {
                let Some(Outcome::Answered { status: s, bytes }) = &rec.outcome else {
                    panic!(
                        "parked {} {} ended as {}, not {status}",
                        rec.method,
                        rec.id,
                        Outcome::label(rec.outcome.as_ref())
                    );
                };
                assert_eq!(*s, status, "status of a failed resolution");
                if let Some(r) = reason {
                    let line = format!("SIP/2.0 {status} {}\r\n", sanitize_phrase(&r));
                    assert!(
                        bytes.starts_with(line.as_bytes()),
                        "the answer does not start with {line:?}"
                    );
                }
            }
        }
    }

    /// One operation drawn from `u`.
    fn step(&mut self, u: &mut Unstructured<'_>) -> Gen<()> {
        self.wire = if self.opts.tcp {
            Wire::read(u)?
        } else {
            Wire::default()
        };
        let peer = SocketAddr::new(PEER_IP, *u.choose(&[5060u16, 5060, 5070])?);
        let stranger = SocketAddr::new(STRANGER_IP, *u.choose(&[5060u16, 5061])?);
        // Inputs without resolution read as before resolution existed.
        let last = if self.resolve { 19 } else { 16 };
        self.raw_op = false;
        match u.int_in_range(0..=last)? {
            // A new request from the peer.
            0..=2 => {
                let req = self.new_request(u, peer)?;
                self.send_request(req, NEXT_HOP.ip());
            }
            // A retransmission from the peer: relayed or answered once at most.
            3 => {
                if self.peer_requests.is_empty() {
                    return Ok(());
                }
                let r = self.peer_requests[u.choose_index(self.peer_requests.len())?].clone();
                let out = self.deliver(r.from, &r.bytes);
                let t = Self::tally(&out, r.from, NEXT_HOP.ip(), None, None);
                assert!(t.relays <= 1 && t.finals <= 1, "{t:?} for a retransmission");
            }
            // CANCEL or ACK for an INVITE the peer sent.
            4 | 5 => {
                let invites: Vec<&UaRequest> = self
                    .peer_requests
                    .iter()
                    .filter(|r| r.method == "INVITE")
                    .collect();
                if invites.is_empty() {
                    return Ok(());
                }
                let inv = invites[u.choose_index(invites.len())?].clone();
                let req = if u.arbitrary()? {
                    inv.derive(
                        "CANCEL",
                        inv.via.clone(),
                        inv.branch.clone(),
                        inv.to_hdr.clone(),
                    )
                } else if u.arbitrary()? {
                    // ACK for a non-2xx final: same branch (§17.1.1.3).
                    let to = format!("{};tag=x", inv.to_hdr);
                    inv.derive("ACK", inv.via.clone(), inv.branch.clone(), to)
                } else {
                    // ACK for a 2xx: a new transaction (§13.2.2.4).
                    let branch = format!("z9hG4bKa{}", self.next_id());
                    let via = format!("SIP/2.0/UDP {};branch={branch};rport", inv.from);
                    let to = format!("{};tag=x", inv.to_hdr);
                    inv.derive("ACK", via, branch, to)
                };
                self.send_request(req, NEXT_HOP.ip());
            }
            // Raw or mutated bytes from the peer.
            6 | 7 => {
                let bytes = if u.arbitrary()? {
                    let n = u.int_in_range(0..=SBE_RAW_MAX)?;
                    u.bytes(n.min(u.len()))?.to_vec()
                } else {
                    let mut b = self.new_request(u, peer)?.bytes;
                    for _ in 0..u.int_in_range(1..=4)? {
                        let i = u.choose_index(b.len())?;
                        b[i] = u.arbitrary()?;
                    }
                    b
                };
                self.raw_op = true;
                self.leak_exempt |= names_inside(&bytes).is_some();
                if self.wire.stream() {
                    // A stream read may hold any number of messages: the
                    // checks are those of every step (and framing's).
                    let from = SocketAddr::new(PEER_IP, RAW_STREAM_PORT);
                    self.deliver_parsed(from, &bytes, None, false);
                    return Ok(());
                }
                let out = self.deliver(peer, &bytes);
                let t = Self::tally(&out, peer, NEXT_HOP.ip(), None, None);
                assert!(
                    t.relays <= 1 && t.finals <= 1 && t.provisionals <= 1,
                    "{t:?} for one datagram from the peer"
                );
            }
            // A response from the next hop (or from a wrong source).
            8 | 9 => {
                if self.to_next_hop.is_empty() {
                    return Ok(());
                }
                let req = self.to_next_hop[u.choose_index(self.to_next_hop.len())?].clone();
                let Some((code, bytes)) = self.response(u, &req.bytes, true)? else {
                    return Ok(());
                };
                match u.int_in_range(0..=5u8)? {
                    0 => self.stranger_datagram(stranger, &bytes),
                    1 => {
                        let out = self.deliver(NEXT_HOP_OTHER_PORT, &bytes);
                        assert!(out.is_empty(), "a response from the wrong port had effects");
                    }
                    _ => {
                        self.note_response(NEXT_HOP, &req, code);
                        let out = self.deliver(NEXT_HOP, &bytes);
                        for t in &out {
                            // (A request to the peer: a failover there.)
                            let m = t.facts().expect("relayed message parses");
                            if t.to.ip() != PEER_IP || m.is_request() {
                                continue;
                            }
                            // Relayed upstream with our Via removed.
                            assert!(
                                self.peer_vias.contains(&m.via),
                                "response to the peer with top Via {}",
                                m.via
                            );
                            // Hidden, the inside's SDP origin names the element.
                            let sent = Message::parse(&bytes).map(|r| r.body() == INSIDE_OFFER);
                            if self.hide.is_some() && sent == Ok(true) {
                                assert_eq!(
                                    m.body(t.bytes()),
                                    HIDDEN_OFFER,
                                    "the SDP of a response to the peer"
                                );
                            }
                        }
                    }
                }
            }
            // A request from the next hop towards a peer (or nowhere).
            10 => {
                let req = self.new_request(u, NEXT_HOP)?;
                self.send_request(req, PEER_IP);
            }
            // Raw bytes from the next hop.
            11 => {
                let n = u.int_in_range(0..=SBE_RAW_MAX)?;
                let bytes = u.bytes(n.min(u.len()))?.to_vec();
                self.raw_op = true;
                self.leak_exempt |= names_inside(&bytes).is_some();
                // (With resolution, as a datagram: a parked request must
                // be the one the model parsed.)
                if self.wire.stream() && !self.resolve {
                    let from = SocketAddr::new(NEXT_HOP.ip(), RAW_STREAM_PORT);
                    self.deliver_parsed(from, &bytes, None, true);
                    return Ok(());
                }
                self.wire = Wire::default();
                let m = Message::parse(&bytes).ok();
                self.inside_mimicked |= m.as_ref().is_some_and(Message::is_request);
                self.deliver_parsed(NEXT_HOP, &bytes, m.as_ref(), true);
            }
            // A response from a peer to a request relayed to it.
            12 => {
                if self.to_peer.is_empty() {
                    return Ok(());
                }
                let (dest, req) = self.to_peer[u.choose_index(self.to_peer.len())?].clone();
                let Some((code, bytes)) = self.response(u, &req.bytes, false)? else {
                    return Ok(());
                };
                if u.ratio(1u8, 4)? {
                    let wrong = SocketAddr::new(dest.ip(), dest.port().wrapping_add(1));
                    let out = self.deliver(wrong, &bytes);
                    assert!(out.is_empty(), "a response from the wrong port had effects");
                } else {
                    self.note_response(dest, &req, code);
                    self.deliver(dest, &bytes);
                }
            }
            // Requests and raw bytes from a stranger.
            13 => {
                let mut req = self.new_request(u, peer)?;
                req.from = stranger;
                let bytes = req.bytes.clone();
                self.stranger_datagram(stranger, &bytes);
            }
            14 => {
                let n = u.int_in_range(0..=SBE_RAW_MAX)?;
                let bytes = u.bytes(n.min(u.len()))?.to_vec();
                self.raw_op = true;
                let from = if self.wire.stream() {
                    SocketAddr::new(STRANGER_IP, RAW_STREAM_PORT)
                } else {
                    stranger
                };
                self.stranger_datagram(from, &bytes);
            }
            // Time: to the next deadline, by a step (every timer on time),
            // or by a jump (timers fire late).
            15 => {
                if let Some(t) = self.sbe.poll_timeout() {
                    self.advance(t);
                }
            }
            // The driver answers a resolution.
            17 | 18 => self.driver_answer(u)?,
            // The next hop again: a retransmission, a CANCEL or an ACK.
            19 => {
                if self.hop_requests.is_empty() {
                    return Ok(());
                }
                // Half the time one still parked, so that CANCEL meets it.
                let parked: Vec<usize> = (0..self.hop_requests.len())
                    .filter(|&k| {
                        self.parked_keys
                            .get(&self.hop_requests[k].1)
                            .is_some_and(|&i| self.parked[i].outcome.is_none())
                    })
                    .collect();
                let k = if !parked.is_empty() && u.arbitrary()? {
                    parked[u.choose_index(parked.len())?]
                } else {
                    u.choose_index(self.hop_requests.len())?
                };
                let r = self.hop_requests[k].0.clone();
                let (method, to) = match u.int_in_range(0..=3u8)? {
                    0 | 1 if r.method == "INVITE" => ("CANCEL", r.to_hdr.clone()),
                    2 if r.method == "INVITE" => ("ACK", format!("{};tag=x", r.to_hdr)),
                    _ => {
                        let out = self.deliver(r.from, &r.bytes);
                        let hops = Some(&self.hop_dests);
                        let t = Self::tally(&out, r.from, PEER_IP, hops, Some(r.method));
                        // A CANCEL whose transaction has ended is a new one:
                        // for an INVITE parked again, 200 and the INVITE's 487.
                        let others = usize::from(r.method == "CANCEL");
                        assert!(
                            t.relays <= 1
                                && t.finals <= 1
                                && t.provisionals <= 1
                                && t.other_finals <= others,
                            "{t:?} for a retransmission from the next hop"
                        );
                        return Ok(());
                    }
                };
                let req = r.derive(method, r.via.clone(), r.branch.clone(), to);
                self.send_request(req, PEER_IP);
            }
            _ => {
                let ms = u.int_in_range(0..=40_000u64)?;
                let target = self.now + Duration::from_millis(ms);
                if u.ratio(1u8, 4)? {
                    self.jump(target);
                } else {
                    self.advance(target);
                }
            }
        }
        Ok(())
    }
}

/// Arbitrary operation sequences on a sans-IO [`Sbe`] (one peer, one next
/// hop, a stranger; a small `max_transactions` drawn from the input; a
/// virtual clock, no I/O). Up to 64 operations: new requests from the peer
/// (INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER, ... with varied
/// Request-URIs, Max-Forwards, Route, Proxy-Require and SDP), its
/// retransmissions, CANCEL and ACK for its INVITEs, raw and mutated bytes;
/// responses from the next hop to what the element forwarded, from the
/// right address, another port or a stranger; requests from the next hop
/// towards a peer and the peer's responses; stranger requests, raw bytes
/// and forged responses; time advancing to the next deadline, by a step
/// with every timer fired at its deadline, or by a jump (late timers).
///
/// In about half the runs (chosen by the high part of the first byte, so
/// that inputs from before resolution read as they did) `resolve_names` is
/// on, with `ignore-srv-priority`, `keep-tel-uri` and `resolve_timeout`
/// drawn too. The next hop's requests then also target numbers and domain
/// names, in the Request-URI or the Route set, and three more operations
/// come in: the driver answers a resolution (an outstanding one, a settled
/// one, or an id nobody was given; with zero to three hops among the peer,
/// a stranger, addresses nobody configured and the next hop, and the target
/// itself or another URI, `tel:` to `sip:` included; or with a failure,
/// status and reason), once or twice; and the next hop retransmits a
/// request, or sends CANCEL or ACK for its INVITE, parked or not.
///
/// The second byte configures the rest (0: the defaults, as inputs read
/// before it existed): small per-peer limits (1 to 20 requests/s, a burst
/// of 1 to 5, 1 to 4 calls, 503 or silence beyond; with room for four
/// times the transactions, so that the limits and not `max_transactions`
/// refuse), a hostname, identity headers (P-Asserted-Identity,
/// P-Preferred-Identity, Privacy) on generated requests, a trusted peer;
/// and, in runs without resolution, topology hiding with room for 1 to 4
/// hidden dialogs: the inside's requests then carry a proxy's Via and
/// Record-Route above its user agent's, an inside Contact and Call-ID and
/// an SDP origin with a private address, its answers an inside Contact,
/// Record-Route and SDP, and the peer may send to a dialog token it was
/// given or to one nobody was. The same byte may choose TCP: each
/// operation then first reads how its message travels, as a datagram or
/// as stream bytes on the sender's connection, cut in up to three pieces,
/// after a keep-alive or not, the connection closing after it or not (raw
/// bytes go on a connection of their own).
///
/// Invariants:
/// - no panic; live transactions (server + client) never exceed
///   `max_transactions`; each parked request holds a server transaction,
///   and the parked ones are exactly the resolutions neither answered nor
///   forwarded; after `handle_timeout(now)` no timer is due at or before
///   `now`, and `on_resolved` sets none before `now`; at the end nothing is
///   parked;
/// - nothing from a stranger is relayed: a stranger's datagram causes at
///   most one transmission, back to it, and creates no state; the only
///   thing ever sent to a stranger is a 403 (or, at a port it does not
///   send from, a request resolved there);
/// - the element transmits only to the peer, the next hop and resolved
///   hops; a response relayed to the peer carries the peer's own top Via;
/// - `Event::Resolve` comes only for a request from the next hop whose
///   target (first Route not the element, else the Request-URI) is a
///   `tel:` URI or a domain name, names that target, carries a fresh id,
///   and comes with nothing but an INVITE's 100 Trying; a request by name
///   is never relayed unresolved;
/// - each resolution has at most one effect: on an id outstanding, the
///   request goes to the hop the rules pick (the first, or the last under
///   `ignore-srv-priority`) with the Request-URI replaced by the target URI
///   when it differs, unless a Route chose the target or `keep-tel-uri`
///   holds, and with its Vias and body as for any relay; or, without a
///   hop, 404, without room 503, on failure the driver's status and
///   (sanitised) reason; a parked ACK is dropped instead of answered. Any
///   other id, or the same id again, transmits nothing and changes
///   nothing. A parked request past its deadline is answered 504 by
///   `handle_timeout`, not before; a CANCEL for a parked INVITE gets 200
///   and the INVITE 487. Over the whole run each parked request is
///   answered (one final, retransmitted as the same bytes) or forwarded,
///   exactly once;
/// - a new well-formed request (fresh branch and method) is relayed exactly
///   once or answered with exactly one final response, never both (100
///   Trying is the only extra, and only with an INVITE relay); a CANCEL is
///   answered exactly once and may cause one CANCEL downstream; an ACK is
///   never answered; retransmissions and raw datagrams cause at most one
///   relay and one final answer; a relayed request has the element's Via on
///   top, the sender's below, and its body unchanged;
/// - client retransmissions (identical request bytes to one destination)
///   follow RFC 3261 §17.1: Timer A gaps double from T1; Timer E gaps double
///   from T1 up to T2, and are T2 after a provisional response; an INVITE
///   is not retransmitted after a provisional, no request after a final,
///   none after Timer B/F (64*T1). Gaps are exact when timers fire at their
///   deadlines, and never shorter when they fire late;
/// - RFC 6404 §4.9: the model keeps the peer's token bucket (the
///   element's arithmetic, the same clock) and its calls; each request from
///   the peer that passes what the element refuses itself takes a token,
///   and a new INVITE needs room for a call (calls past the age limit
///   swept at most once a second). Over either, exactly one 503 with the
///   limit's reason and `Retry-After`, or nothing under Drop, and no relay;
///   within both, the relay. The element's `session_count()` equals the
///   model's calls after every step and never exceeds the limit: a call
///   counts from its INVITE's relay until a final of 300 or more for it
///   goes upstream or a BYE with its Call-ID is relayed; at the end only
///   calls set up (2xx) remain;
/// - the element's Via and Record-Route name it by its hostname when it
///   has one, its own Route entry (address or name) is removed; identity
///   crosses the trust boundary as RFC 3325 and RFC 3323 say (no
///   P-Preferred-Identity ever; an untrusted sender's assertion removed;
///   `Privacy: id` towards an untrusted peer removes the assertion and the
///   `id`), and critical privacy a proxy cannot give towards an untrusted
///   peer gets 500 naming it, never a relay (with topology hiding the
///   element gives `header` privacy itself, RFC 3323 §5.1);
/// - RFC 6404 §4.10, with hiding on: no byte naming the inside (its host
///   names, its private address, the next hop's address) ever goes to a
///   peer, unless raw bytes brought it in; a request from the inside
///   leaves with the element's Via alone and its SDP with only `o=`
///   rewritten, to the element; every response the inside gets for a
///   request it sent carries its own Via stack and Call-ID (checked with
///   hiding off too); the hidden-dialog table never exceeds its bound,
///   and refuses a new dialog with 503 only when full; a request naming
///   a dialog token nobody was given gets 481, never a relay. Which
///   dialogs the element still holds is not modelled (that would be a
///   second `topology.rs`): for a token it gave out, the relay or a 481
///   are both accepted, and the Route set of a peer's in-dialog request
///   is not predicted;
/// - RFC 3261 §18 over TCP: a part of a message has no effect and a whole
///   one never loses its framing; the element closes only the connection
///   it is fed, frames exactly the connections open, each holding at
///   most a message's size; a response goes back on the path its request
///   came in on; a new request goes over the connection its destination
///   has open, else UDP, its Via and Record-Route naming the transport;
///   no transaction over TCP has a retransmission timer, and no timer
///   sends a request twice there. After raw stream bytes from the peer
///   were framed into requests the model never saw, its token bucket and
///   calls are no longer predicted.
pub fn sbe_sequence(data: &[u8]) {
    run(data, Faults::default());
}

/// [`sbe_sequence`] with `faults` switched on in the element behind the
/// model's back (it expects what the input chose): for tests that its
/// invariants catch each of them.
#[doc(hidden)]
pub fn sbe_sequence_with(data: &[u8], faults: Faults) {
    run(data, faults);
}

/// What one [`sbe_sequence`] run did, for the seed definitions to check
/// that each seed reaches its scenario.
#[doc(hidden)]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SbeSummary {
    /// Names were resolved.
    pub resolve: bool,
    /// Operations drawn (including those that found nothing to act on).
    pub ops: usize,
    /// Distinct requests (but ACK) the element sent to the next hop.
    pub to_next_hop: usize,
    /// Distinct requests (but ACK) the element sent anywhere else.
    pub to_peer: usize,
    /// Final statuses of the element's own answers to parked requests,
    /// in order.
    pub parked_answers: Vec<u16>,
    /// Parked requests forwarded.
    pub forwarded: usize,
    /// Failovers of the forwarded requests.
    pub failovers: usize,
    /// The model lost track of who answered what (raw bytes).
    pub lenient: bool,
    /// Requests from the peer refused over its rate or session limit.
    pub limit_refusals: usize,
    /// Calls counted against the session limit.
    pub calls: usize,
    /// Calls ended (by a failure, a BYE or old age).
    pub calls_ended: usize,
    /// Topology hiding was on.
    pub hidden: bool,
    /// Most hidden dialogs at once.
    pub hidden_dialogs: usize,
    /// Dialog tokens the peer was given.
    pub tokens_given: usize,
    /// Requests naming a token nobody was given, answered 481.
    pub unknown_token_481s: usize,
    /// Messages delivered over TCP, and connections the element closed.
    pub stream_messages: usize,
    pub closes: usize,
}

/// [`sbe_sequence`] on `data`, with what the run did.
#[doc(hidden)]
pub fn sbe_sequence_summary(data: &[u8]) -> SbeSummary {
    let Some((run, ops)) = run(data, Faults::default()) else {
        return SbeSummary::default();
    };
    SbeSummary {
        resolve: run.resolve,
        ops,
        to_next_hop: run.to_next_hop.len(),
        to_peer: run.to_peer.len(),
        parked_answers: run
            .parked
            .iter()
            .filter_map(|p| match p.outcome {
                Some(Outcome::Answered { status, .. }) => Some(status),
                _ => None,
            })
            .collect(),
        forwarded: run.parked.iter().filter(|p| p.forwarded()).count(),
        failovers: run
            .parked
            .iter()
            .map(|p| p.chain.len().saturating_sub(1))
            .sum(),
        lenient: run.lenient,
        limit_refusals: run.refusals,
        calls: run.calls_started,
        calls_ended: run.calls_ended,
        hidden: run.hide.is_some(),
        hidden_dialogs: run.dialogs_high,
        tokens_given: run.tokens_given.len(),
        unknown_token_481s: run.unknown_token_481s,
        stream_messages: run.stream_messages,
        closes: run.closes,
    }
}

/// The run with its checks, and how many operations it drew; `None` for
/// empty input.
fn run(data: &[u8], extra: Faults) -> Option<(SbeRun, usize)> {
    let mut u = Unstructured::new(data);
    // One byte: max_transactions as `int_in_range(2..=8)` reads it, as it
    // was read before resolution existed, and in its high part whether
    // names are resolved (off for every earlier regression input). Then
    // the options byte ([`Options::read`]).
    let Ok(first) = u.arbitrary::<u8>() else {
        return None;
    };
    let opts = Options::read(&mut u);
    // Small limits want room for more requests than a burst: with 2 to 8
    // transactions the 503 for no room would come first.
    let max = (2 + usize::from(first % 7)) * if opts.limits.is_some() { 4 } else { 1 };
    let resolve = if (first / 7) % 4 < 2 {
        let mut faults = Faults::default();
        let (Ok(srv), Ok(tel), Ok(timeout)) = (
            u.ratio(1u8, 4),
            u.ratio(1u8, 4),
            u.choose(&[1u64, 8, 8, 40]),
        ) else {
            return None;
        };
        for (on, f) in [
            (srv, Fault::IgnoreSrvPriority),
            (tel, Fault::KeepTelUri),
            // From the first byte too, so that earlier inputs read as before.
            ((first / 28) % 4 == 3, Fault::NoFailover),
        ] {
            if on {
                faults.insert(f);
            }
        }
        Some((faults, Duration::from_secs(*timeout)))
    } else {
        None
    };
    let mut run = SbeRun::new(max, resolve, opts, extra);
    let mut ops = 0;
    while ops < SBE_OPS && !u.is_empty() {
        ops += 1;
        if run.step(&mut u).is_err() {
            break;
        }
    }
    // Let every transaction run out: the timers must drain the state.
    for _ in 0..4096 {
        match run.sbe.poll_timeout() {
            Some(t) => run.advance(t),
            None => break,
        }
    }
    assert_eq!(
        run.sbe.transaction_count(),
        (0, 0),
        "transactions without a timer outlive the run"
    );
    assert_eq!(run.sbe.parked_len(), 0, "parked requests outlive the run");
    // Every call that was not set up has ended: a failure or the 408 of a
    // timeout went upstream (checked equal to the element's count above).
    if let Some(c) = run.calls.iter().find(|c| !c.up) {
        panic!("call {} still counted, never set up", c.call_id);
    }
    run.check_bounds();
    if let Some(p) = run.parked.iter().find(|p| p.outcome.is_none()) {
        assert!(run.lenient, "parked {} {} never settled", p.method, p.id);
    }
    // A forward chain ends with exactly one final upstream (or 2xx).
    if let Some(p) = run
        .parked
        .iter()
        .find(|p| p.forwarded() && p.method != "ACK" && p.upstream.is_empty())
    {
        assert!(
            run.lenient,
            "forwarded {} {} never answered",
            p.method, p.id
        );
    }
    Some((run, ops))
}

//! The embedded authoritative server: the harness's `dns` role and the
//! reference stack's own DNS. hickory-server answers from in-memory zones
//! over UDP and TCP on one port, and over DNS over TLS (RFC 7858) on
//! another when given TLS settings; [`RunningAuth::tamper`] swaps an RRSet
//! for a forged one while the server runs, which is what the negative
//! DNSSEC checks need (RFC 6404 §4.2: an answer altered on the path must
//! not be routed to), and [`RunningAuth::present`] swaps the certificate
//! it presents, for the checks of who authenticates whom (RFC 6271 #15).
//!
//! Views: a zone can be served differently to listed source addresses
//! (RFC 6271 #4: an SSP advertising a different ingress SBE per peer).
//!
//! Everything asked is kept with its source and transport
//! ([`Lookup`]), and every TLS handshake with what the client presented
//! ([`TlsSession`]): what the DNS transport checks decide from.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt as _;
use hickory_proto::dnssec::rdata::{DNSSECRData, RRSIG};
use hickory_proto::op::{Header, HeaderCounts, MessageType, Metadata};
use hickory_proto::rr::{DNSClass, LowerName, Name, RData, Record, RecordSet, RecordType, RrKey};
use hickory_proto::serialize::binary::BinEncoder;
use hickory_proto::serialize::txt::Parser;
use hickory_server::dnssec::NxProofKind;
use hickory_server::net::NetError;
use hickory_server::net::runtime::{Time, TokioTime};
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::MessageResponse;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneHandler, ZoneType};
use speermint_net::{Listener, Network, UdpSock};
use speermint_node::{Input, Node, Output, Path, Transmit, Transport};
use time::OffsetDateTime;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::DnsError;
use crate::zone::{Zone, ZoneKey};

/// How long a TCP client may idle before the server closes it.
const TCP_IDLE: Duration = Duration::from_secs(10);

/// What a forger does to the signatures of an RRSet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signatures {
    /// Leaves the zone's RRSIGs in place: with other data they no longer
    /// verify (a spoofed or poisoned answer, RFC 3833 §2.2).
    Keep,
    /// Removes them: an attacker stripping DNSSEC on the path.
    Strip,
    /// Signs with the zone key, valid from two days ago to one day ago: a
    /// replayed answer that was once genuine (RFC 4035 §5.3.1).
    Expired,
}

/// A forgery for one RRSet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tamper {
    /// Replacement data, RDATA in zone-file syntax (e.g. `"127.0.0.66"`,
    /// `"0 1 5060 evil.example."`); `None` keeps the genuine data.
    pub rdata: Option<Vec<String>>,
    /// What happens to the signatures.
    pub signatures: Signatures,
}

impl Tamper {
    /// Other data under the genuine signatures.
    pub fn forge(rdata: &[&str]) -> Self {
        Self {
            rdata: Some(rdata.iter().map(|s| (*s).to_owned()).collect()),
            signatures: Signatures::Keep,
        }
    }

    /// The same forgery with `signatures` instead.
    pub fn with_signatures(mut self, signatures: Signatures) -> Self {
        self.signatures = signatures;
        self
    }

    /// The genuine data with `signatures`.
    pub fn signatures(signatures: Signatures) -> Self {
        Self {
            rdata: None,
            signatures,
        }
    }
}

/// The catalogs behind a switch: silent, the server drops every query, as
/// a crashed or unreachable replica would (RFC 6404 §4.3).
/// It also keeps the last queries asked: evidence that the IUT resolved
/// through this server, what it asked, from where and over what.
struct Switchable {
    /// What everyone is answered from.
    default: View,
    /// What listed sources are answered from instead.
    views: Vec<(Vec<std::net::IpAddr>, View)>,
    silent: Arc<AtomicBool>,
    queries: Arc<Mutex<VecDeque<Lookup>>>,
}

/// One catalog and the zones in it.
struct View {
    catalog: Catalog,
    /// The served zones, to complete name-error proofs ([`crate::nx_proof`]).
    zones: ViewZones,
}

impl Switchable {
    /// The view a query from `src` is answered from.
    fn view(&self, src: std::net::IpAddr) -> &View {
        self.views
            .iter()
            .find(|(sources, _)| sources.contains(&src))
            .map_or(&self.default, |(_, v)| v)
    }

    /// Keeps `request` in the query log.
    fn log(&self, request: &Request, transport: Transport) {
        let Ok(info) = request.request_info() else {
            return;
        };
        let lookup = Lookup {
            at: tokio::time::Instant::now(),
            from: info.src,
            transport,
            name: info.query.name().to_string(),
            rtype: info.query.query_type().to_string(),
            dropped: self.silent.load(Ordering::Relaxed),
        };
        let mut log = self.queries.lock().unwrap_or_else(|e| e.into_inner());
        if log.len() == QUERY_LOG {
            log.pop_front();
        }
        log.push_back(lookup);
    }
}

/// One query as the server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    /// When (the network's clock).
    pub at: tokio::time::Instant,
    /// Who asked.
    pub from: SocketAddr,
    /// Over what: UDP, TCP, or TLS (RFC 7858).
    pub transport: Transport,
    /// The owner asked for.
    pub name: String,
    /// The type asked for.
    pub rtype: String,
    /// Dropped unanswered: the server was silent.
    pub dropped: bool,
}

impl std::fmt::Display for Lookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} IN {} from {} over {}{}",
            self.name,
            self.rtype,
            self.from,
            self.transport,
            if self.dropped {
                " (dropped: silent)"
            } else {
                ""
            }
        )
    }
}

/// Queries kept for [`RunningAuth::take_queries`].
const QUERY_LOG: usize = 256;

#[async_trait::async_trait]
impl RequestHandler for Switchable {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        response_handle: R,
    ) -> ResponseInfo {
        if self.silent.load(Ordering::Relaxed) {
            let metadata = Metadata::new(
                request.metadata.id,
                MessageType::Response,
                request.metadata.op_code,
            );
            return ResponseInfo::from(Header {
                metadata,
                counts: HeaderCounts::default(),
            });
        }
        self.view(request.src().ip())
            .catalog
            .handle_request::<R, T>(request, response_handle)
            .await
    }
}

/// A zone as served.
struct Served {
    origin: LowerName,
    handler: Arc<InMemoryZoneHandler>,
    key: Option<ZoneKey>,
    dnskey_record: Option<String>,
    ds_record: Option<String>,
}

/// Builder for the embedded server.
#[derive(Default)]
pub struct AuthServer {
    zones: Vec<Zone>,
    views: Vec<(Vec<std::net::IpAddr>, Zone)>,
    tls: Option<(SocketAddr, Arc<rustls::ServerConfig>)>,
}

impl std::fmt::Debug for AuthServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthServer")
            .field("zones", &self.zones)
            .field("views", &self.views.len())
            .field("tls", &self.tls.as_ref().map(|(a, _)| a))
            .finish()
    }
}

/// Loads a zone into a handler, signing it when it has a key.
fn serve(zone: Zone) -> Result<Served, DnsError> {
    let dnskey_record = zone.dnskey_record();
    let ds_record = zone.ds_record();
    let label = zone.label().to_owned();
    let Zone {
        origin,
        records,
        key,
        ..
    } = zone;
    let proof = key.as_ref().map(|_| NxProofKind::Nsec);
    let mut handler = InMemoryZoneHandler::new(
        origin.clone(),
        records,
        ZoneType::Primary,
        AxfrPolicy::Deny,
        proof,
    )
    .map_err(|e| DnsError::Zone(format!("{label}: {e}")))?;
    if let Some(k) = &key {
        let signer = k.signer(&origin, k.validity).map_err(DnsError::Sign)?;
        handler
            .add_zone_signing_key_mut(signer)
            .map_err(|e| DnsError::Sign(format!("{label}: {e}")))?;
        handler
            .secure_zone_mut()
            .map_err(|e| DnsError::Sign(format!("{label}: {e}")))?;
    }
    Ok(Served {
        origin: LowerName::new(&origin),
        handler: Arc::new(handler),
        key,
        dnskey_record,
        ds_record,
    })
}

/// The zones of a view, by origin.
type ViewZones = Vec<(LowerName, Arc<InMemoryZoneHandler>)>;

/// A catalog of `zones`.
fn view_of(zones: ViewZones) -> View {
    let mut catalog = Catalog::new();
    for (origin, handler) in &zones {
        catalog.upsert(
            origin.clone(),
            vec![handler.clone() as Arc<dyn ZoneHandler>],
        );
    }
    View { catalog, zones }
}

impl AuthServer {
    /// A server with no zones.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a zone (signed when [`Zone::sign`] was called).
    pub fn zone(mut self, zone: Zone) -> Self {
        self.zones.push(zone);
        self
    }

    /// Serves `zone` instead of the zone of the same origin to queries
    /// from `sources` (a per-source view): what lets an SSP give each
    /// peer its own answer (RFC 6271 #4). Forgeries
    /// ([`RunningAuth::tamper`]) apply to the common zones only.
    pub fn view(mut self, sources: Vec<std::net::IpAddr>, zone: Zone) -> Self {
        self.views.push((sources, zone));
        self
    }

    /// Also serves DNS over TLS (RFC 7858) at `addr` (port 0 picks one)
    /// with `config`: its certificate, and whether and whose client
    /// certificates it requires.
    pub fn tls(mut self, addr: SocketAddr, config: Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some((addr, config));
        self
    }

    /// Signs the zones that asked for it and serves them on UDP and TCP
    /// sockets at `addr` (port 0 picks one free for both).
    pub async fn start(self, addr: SocketAddr) -> Result<RunningAuth, DnsError> {
        self.start_on(&Network::Sockets, addr).await
    }

    /// Like [`AuthServer::start`], on `net`: loopback sockets, or the
    /// simulated network where a check can silence or impair a replica.
    pub async fn start_on(self, net: &Network, addr: SocketAddr) -> Result<RunningAuth, DnsError> {
        let served = self
            .zones
            .into_iter()
            .map(serve)
            .collect::<Result<Vec<_>, _>>()?;
        let common: ViewZones = served
            .iter()
            .map(|z| (z.origin.clone(), z.handler.clone()))
            .collect();
        // Each distinct source list gets a catalog: its own zones, and the
        // common ones it does not replace (shared, so forgeries reach it).
        let mut views: Vec<(Vec<std::net::IpAddr>, ViewZones)> = Vec::new();
        for (sources, zone) in self.views {
            let z = serve(zone)?;
            let entry = match views.iter_mut().position(|(s, _)| *s == sources) {
                Some(i) => &mut views[i].1,
                None => {
                    views.push((sources, Vec::new()));
                    &mut views.last_mut().expect("just pushed").1
                }
            };
            entry.retain(|(o, _)| *o != z.origin);
            entry.push((z.origin, z.handler));
        }
        let views = views
            .into_iter()
            .map(|(sources, mut own)| {
                for (origin, handler) in &common {
                    if !own.iter().any(|(o, _)| o == origin) {
                        own.push((origin.clone(), handler.clone()));
                    }
                }
                (sources, view_of(own))
            })
            .collect();
        let udp = net
            .bind_udp(addr)
            .await
            .map_err(|e| DnsError::Io(format!("bind udp {addr}: {e}")))?;
        let addr = udp.local_addr().map_err(|e| DnsError::Io(e.to_string()))?;
        let tcp = net
            .listen_tcp(addr)
            .await
            .map_err(|e| DnsError::Io(format!("bind tcp {addr}: {e}")))?;
        let silent = Arc::new(AtomicBool::new(false));
        let queries = Arc::new(Mutex::new(VecDeque::new()));
        let handler = Arc::new(Switchable {
            default: view_of(common),
            views,
            silent: silent.clone(),
            queries: queries.clone(),
        });
        let datagrams = Arc::new(Mutex::new(Datagrams::default()));
        let mut tasks = vec![
            tokio::spawn(serve_udp(udp, handler.clone(), datagrams.clone())),
            tokio::spawn(serve_tcp(tcp, handler.clone())),
        ];
        let tls = match self.tls {
            Some((at, config)) => {
                let listener = net
                    .listen_tcp(at)
                    .await
                    .map_err(|e| DnsError::Io(format!("bind tls {at}: {e}")))?;
                let tls_addr = listener
                    .local_addr()
                    .map_err(|e| DnsError::Io(e.to_string()))?;
                let state = Arc::new(TlsState {
                    genuine: config.clone(),
                    presented: Mutex::new(config),
                    sessions: Mutex::new(VecDeque::new()),
                    connections: Mutex::new(Vec::new()),
                });
                tasks.push(tokio::spawn(serve_tls(listener, handler, state.clone())));
                Some((tls_addr, state))
            }
            None => None,
        };
        Ok(RunningAuth {
            addr,
            zones: served,
            originals: Mutex::new(HashMap::new()),
            silent,
            queries,
            datagrams,
            tls,
            tasks,
        })
    }
}

/// Collects the encoded answer instead of writing it: the serve loops
/// own the sockets, so the same handler serves either network.
#[derive(Clone, Default)]
struct Capture {
    protocol: Option<Protocol>,
    out: Arc<Mutex<Vec<Vec<u8>>>>,
}

#[async_trait::async_trait]
impl ResponseHandler for Capture {
    async fn send_response<'a>(
        &mut self,
        response: MessageResponse<
            '_,
            'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
        >,
    ) -> Result<ResponseInfo, NetError> {
        // UDP answers fit the requester's buffer, 512 octets without EDNS
        // (RFC 1035 §4.2.1, RFC 6891 §6.2.3); what does not fit is
        // truncated with TC set.
        let max = match (self.protocol, response.edns()) {
            (Some(Protocol::Udp) | None, Some(edns)) => edns.max_payload(),
            (Some(Protocol::Udp) | None, None) => 512,
            _ => u16::MAX,
        };
        let mut bytes = Vec::with_capacity(512);
        let mut encoder = BinEncoder::new(&mut bytes);
        encoder.set_max_size(max);
        let info = response.destructive_emit(&mut encoder)?;
        self.out
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(bytes);
        Ok(info)
    }
}

/// Answers one query; what comes back is zero (silent, or unparseable)
/// or one encoded message.
async fn answer(
    handler: &Switchable,
    bytes: Vec<u8>,
    from: SocketAddr,
    transport: Transport,
) -> Vec<Vec<u8>> {
    // TLS carries the TCP framing and size rules (RFC 7858 §3.3).
    let p = match transport {
        Transport::Udp => Protocol::Udp,
        _ => Protocol::Tcp,
    };
    let Ok(request) = Request::from_bytes(bytes, from, p) else {
        return Vec::new();
    };
    handler.log(&request, transport);
    let capture = Capture {
        protocol: Some(p),
        out: Arc::default(),
    };
    handler
        .handle_request::<Capture, TokioTime>(&request, capture.clone())
        .await;
    let replies = std::mem::take(&mut *capture.out.lock().unwrap_or_else(|e| e.into_inner()));
    let max = match p {
        Protocol::Udp => request
            .edns
            .as_ref()
            .map_or(512, |e| e.max_payload().max(512)),
        _ => u16::MAX,
    };
    let zones = &handler.view(from.ip()).zones;
    let mut out = Vec::with_capacity(replies.len());
    for r in replies {
        out.push(crate::nx_proof::complete(zones, r, max).await);
    }
    out
}

/// The authoritative server as a node: DNS messages in (datagrams, or
/// stream bytes framed by their two-octet length, RFC 1035 §4.2.2), answers
/// out on the same path. hickory's request handler is async in form, but
/// over in-memory zones it never waits, so the node polls it once; an
/// answer that is not ready at once is dropped, as a lost datagram would
/// be (the client asks again).
pub(crate) struct DnsNode {
    handler: Arc<Switchable>,
    out: VecDeque<Output<std::convert::Infallible>>,
    streams: HashMap<Path, Vec<u8>>,
}

/// Stream connections a node frames at once, and bytes buffered per
/// connection (one largest message and its length).
const NODE_STREAMS: usize = 64;
const NODE_STREAM_BYTES: usize = 2 + 65_535;

impl DnsNode {
    fn new(handler: Arc<Switchable>) -> Self {
        Self {
            handler,
            out: VecDeque::new(),
            streams: HashMap::new(),
        }
    }

    fn respond(&mut self, path: Path, query: Vec<u8>) {
        let Some(replies) =
            answer(&self.handler, query, path.remote, path.transport).now_or_never()
        else {
            return;
        };
        for reply in replies {
            let bytes = match path.transport {
                Transport::Udp => reply,
                _ => {
                    let Ok(n) = u16::try_from(reply.len()) else {
                        continue;
                    };
                    let mut framed = n.to_be_bytes().to_vec();
                    framed.extend_from_slice(&reply);
                    framed
                }
            };
            self.out
                .push_back(Output::Transmit(Transmit { path, bytes }));
        }
    }
}

impl Node for DnsNode {
    type Command = std::convert::Infallible;
    type Event = std::convert::Infallible;

    fn handle_input(&mut self, _now: std::time::Instant, input: Input<'_, Self::Command>) {
        match input {
            Input::Datagram { path, bytes } => self.respond(path, bytes.to_vec()),
            Input::StreamData {
                path,
                bytes,
                closed,
            } => {
                if !self.streams.contains_key(&path) && self.streams.len() >= NODE_STREAMS {
                    self.out.push_back(Output::Close(path));
                    return;
                }
                let buf = self.streams.entry(path).or_default();
                buf.extend_from_slice(bytes);
                let mut queries = Vec::new();
                while buf.len() >= 2 {
                    let len = usize::from(u16::from_be_bytes([buf[0], buf[1]]));
                    if buf.len() < 2 + len {
                        break;
                    }
                    queries.push(buf[2..2 + len].to_vec());
                    buf.drain(..2 + len);
                }
                let overlong = buf.len() > NODE_STREAM_BYTES;
                for q in queries {
                    self.respond(path, q);
                }
                if closed || overlong {
                    self.streams.remove(&path);
                    if overlong {
                        self.out.push_back(Output::Close(path));
                    }
                }
            }
            Input::Timeout => {}
            Input::Command(never) => match never {},
        }
    }

    fn poll_output(&mut self) -> Option<Output<Self::Event>> {
        self.out.pop_front()
    }
}

/// The UDP driver: datagrams into the node, its answers out.
async fn serve_udp(socket: UdpSock, handler: Arc<Switchable>, seen: Arc<Mutex<Datagrams>>) {
    let mut node = DnsNode::new(handler);
    let local = socket
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let mut buf = vec![0u8; 65_535];
    loop {
        let (n, from) = match socket.recv_from(&mut buf).await {
            Ok(x) => x,
            // ICMP errors from earlier sends surface here: not fatal.
            Err(_) => continue,
        };
        let path = Path {
            local,
            remote: from,
            transport: Transport::Udp,
        };
        let now = tokio::time::Instant::now();
        let record = |at, from, to, bytes: &[u8]| {
            seen.lock()
                .unwrap_or_else(|e| e.into_inner())
                .record(Datagram {
                    at,
                    from,
                    to,
                    bytes: bytes.to_vec(),
                });
        };
        record(now, from, local, &buf[..n]);
        node.handle_input(
            now.into_std(),
            Input::Datagram {
                path,
                bytes: &buf[..n],
            },
        );
        while let Some(out) = node.poll_output() {
            if let Output::Transmit(t) = out {
                if socket.send_to(&t.bytes, t.path.remote).await.is_ok() {
                    let sent = tokio::time::Instant::now();
                    record(sent, local, t.path.remote, &t.bytes);
                }
            }
        }
    }
}

/// Connections served at once (RFC 7766 §6.2.2 lets a server bound them).
const TCP_CONNECTIONS: usize = 64;

async fn serve_tcp(mut listener: Listener, handler: Arc<Switchable>) {
    let open = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let local = listener
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    loop {
        let Ok((stream, from)) = listener.accept().await else {
            continue;
        };
        if open.load(Ordering::Relaxed) >= TCP_CONNECTIONS {
            continue; // dropped: closes it
        }
        open.fetch_add(1, Ordering::Relaxed);
        let (handler, open) = (handler.clone(), open.clone());
        let path = Path {
            local,
            remote: from,
            transport: Transport::Tcp,
        };
        tokio::spawn(async move {
            let node = DnsNode::new(handler);
            let _ = tokio::time::timeout(TCP_IDLE * 6, serve_conn(stream, path, node)).await;
            open.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

/// One stream connection (TCP, or TLS once the handshake is done): bytes
/// into the node as read, its answers written.
async fn serve_conn<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    path: Path,
    mut node: DnsNode,
) {
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let (n, closed) = match tokio::time::timeout(TCP_IDLE, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => (0, true),
            Ok(Ok(n)) => (n, false),
        };
        let now = tokio::time::Instant::now().into_std();
        let input = Input::StreamData {
            path,
            bytes: &chunk[..n],
            closed,
        };
        node.handle_input(now, input);
        while let Some(out) = node.poll_output() {
            match out {
                Output::Transmit(t) => {
                    if stream.write_all(&t.bytes).await.is_err() {
                        return;
                    }
                }
                Output::Close(_) => return,
                Output::Timeout(_) | Output::Event(_) => {}
            }
        }
        if closed {
            return;
        }
    }
}

/// The TLS side of a server: the settings it presents now, the genuine
/// ones to go back to, what each handshake came to, and the open
/// connections (closed when the settings change, so that clients must
/// handshake again).
struct TlsState {
    genuine: Arc<rustls::ServerConfig>,
    presented: Mutex<Arc<rustls::ServerConfig>>,
    sessions: Mutex<VecDeque<TlsSession>>,
    connections: Mutex<Vec<tokio::task::AbortHandle>>,
}

impl TlsState {
    fn record(&self, s: TlsSession) {
        let mut log = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if log.len() == QUERY_LOG {
            log.pop_front();
        }
        log.push_back(s);
    }

    /// Presents `config` from the next handshake on, and ends every open
    /// connection.
    fn present(&self, config: Arc<rustls::ServerConfig>) {
        *self.presented.lock().unwrap_or_else(|e| e.into_inner()) = config;
        self.close_all();
    }

    fn close_all(&self) {
        for c in self
            .connections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            c.abort();
        }
    }
}

/// One TLS handshake at the server, and what it came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSession {
    /// When the handshake ended (the network's clock).
    pub at: tokio::time::Instant,
    /// The client.
    pub from: SocketAddr,
    /// The session, or why there was none (a client without an acceptable
    /// certificate, a client refusing the server's: a TLS alert).
    pub outcome: Result<TlsPeer, String>,
    /// The handshake failed because the client's connection ended (end of
    /// stream, reset) rather than by a TLS error or alert: a resolver that
    /// asks two servers at once drops the slower one mid-handshake, which
    /// refuses nothing.
    pub client_left: bool,
}

/// An established DNS over TLS session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPeer {
    /// The subjectAltName dNSNames of the client's certificate; empty when
    /// it presented none.
    pub client_names: Vec<String>,
    /// Whether it presented a certificate at all.
    pub client_certificate: bool,
    /// Protocol version and cipher suite.
    pub session: String,
}

impl std::fmt::Display for TlsSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.outcome {
            Ok(p) if p.client_certificate => write!(
                f,
                "TLS from {}: {}, client certificate for {}",
                self.from,
                p.session,
                if p.client_names.is_empty() {
                    "no DNS name".to_owned()
                } else {
                    p.client_names.join(", ")
                }
            ),
            Ok(p) => write!(
                f,
                "TLS from {}: {}, no client certificate",
                self.from, p.session
            ),
            Err(e) => write!(f, "TLS from {} refused: {e}", self.from),
        }
    }
}

/// Whether a failed handshake's I/O error is the connection ending under
/// it. rustls reports its own errors and the peer's alerts as
/// `InvalidData`; tokio-rustls reports a stream that ends mid-handshake as
/// `UnexpectedEof` ("tls handshake eof"), and the socket reports resets.
fn connection_ended(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        kind,
        K::UnexpectedEof | K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe
    )
}

/// The subjectAltName dNSNames of a DER certificate.
fn dns_names(der: &[u8]) -> Vec<String> {
    use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
    X509Certificate::from_der(der)
        .ok()
        .and_then(|(_, c)| {
            c.subject_alternative_name().ok().flatten().map(|san| {
                san.value
                    .general_names
                    .iter()
                    .filter_map(|g| match g {
                        GeneralName::DNSName(n) => Some(n.to_ascii_lowercase()),
                        _ => None,
                    })
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// DNS over TLS: each connection's handshake with the settings presented
/// now, recorded, then the same framing as TCP (RFC 7858 §3.3).
async fn serve_tls(mut listener: Listener, handler: Arc<Switchable>, state: Arc<TlsState>) {
    let open = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let local = listener
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    loop {
        let Ok((stream, from)) = listener.accept().await else {
            continue;
        };
        if open.load(Ordering::Relaxed) >= TCP_CONNECTIONS {
            continue;
        }
        open.fetch_add(1, Ordering::Relaxed);
        let config = state
            .presented
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let (handler, open, st) = (handler.clone(), open.clone(), state.clone());
        let path = Path {
            local,
            remote: from,
            transport: Transport::Tls,
        };
        let task = tokio::spawn(async move {
            let accept = tokio_rustls::TlsAcceptor::from(config).accept(stream);
            let outcome = match tokio::time::timeout(TCP_IDLE, accept).await {
                Err(_) => Err(("handshake timed out".to_owned(), false)),
                Ok(Err(e)) => Err((e.to_string(), connection_ended(e.kind()))),
                Ok(Ok(tls)) => Ok(tls),
            };
            match outcome {
                Err((e, client_left)) => st.record(TlsSession {
                    at: tokio::time::Instant::now(),
                    from,
                    outcome: Err(e),
                    client_left,
                }),
                Ok(tls) => {
                    let (_, conn) = tls.get_ref();
                    let cert = conn.peer_certificates().and_then(|c| c.first());
                    let session = match (conn.protocol_version(), conn.negotiated_cipher_suite()) {
                        (Some(v), Some(c)) => format!("{v:?}, {:?}", c.suite()),
                        _ => "unknown session".into(),
                    };
                    st.record(TlsSession {
                        at: tokio::time::Instant::now(),
                        from,
                        outcome: Ok(TlsPeer {
                            client_names: cert.map(|c| dns_names(c)).unwrap_or_default(),
                            client_certificate: cert.is_some(),
                            session,
                        }),
                        client_left: false,
                    });
                    let node = DnsNode::new(handler);
                    let _ = tokio::time::timeout(TCP_IDLE * 6, serve_conn(tls, path, node)).await;
                }
            }
            open.fetch_sub(1, Ordering::Relaxed);
        });
        let mut conns = state.connections.lock().unwrap_or_else(|e| e.into_inner());
        conns.retain(|c| !c.is_finished());
        conns.push(task.abort_handle());
    }
}

/// A running server. Dropping it without [`RunningAuth::stop`] leaves the
/// sockets open until the runtime ends.
pub struct RunningAuth {
    addr: SocketAddr,
    zones: Vec<Served>,
    originals: Mutex<HashMap<RrKey, Arc<RecordSet>>>,
    silent: Arc<AtomicBool>,
    queries: Arc<Mutex<VecDeque<Lookup>>>,
    datagrams: Arc<Mutex<Datagrams>>,
    tls: Option<(SocketAddr, Arc<TlsState>)>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// One UDP datagram the server received or sent, as its driver saw it:
/// evidence (and pcap) material on either network.
#[derive(Debug, Clone)]
pub struct Datagram {
    /// When the driver read or wrote it (the network's clock: virtual on
    /// the simulated network).
    pub at: tokio::time::Instant,
    /// Sender.
    pub from: SocketAddr,
    /// Receiver.
    pub to: SocketAddr,
    /// The DNS message.
    pub bytes: Vec<u8>,
}

/// Datagrams kept between two [`RunningAuth::take_datagrams`] calls: a
/// flooding IUT cannot grow the harness, and what was left out is counted.
const DATAGRAMS_KEPT: usize = 4096;

#[derive(Debug, Default)]
struct Datagrams {
    kept: Vec<Datagram>,
    missed: usize,
}

impl Datagrams {
    fn record(&mut self, d: Datagram) {
        if self.kept.len() < DATAGRAMS_KEPT {
            self.kept.push(d);
        } else {
            self.missed += 1;
        }
    }
}

impl std::fmt::Debug for RunningAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningAuth")
            .field("addr", &self.addr)
            .field(
                "zones",
                &self
                    .zones
                    .iter()
                    .map(|z| z.origin.to_string())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl RunningAuth {
    /// Where it listens (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where it serves DNS over TLS, if it does.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls.as_ref().map(|(a, _)| *a)
    }

    /// Presents `config` (another certificate, say) to TLS clients from
    /// now until [`RunningAuth::restore`], and closes the open TLS
    /// connections so the next query handshakes again. Without TLS it
    /// does nothing.
    pub fn present(&self, config: Arc<rustls::ServerConfig>) {
        if let Some((_, state)) = &self.tls {
            state.present(config);
        }
    }

    /// Closes the open TLS connections: the next query handshakes again,
    /// in view of whoever watches [`RunningAuth::take_tls_sessions`].
    pub fn close_tls_connections(&self) {
        if let Some((_, state)) = &self.tls {
            state.close_all();
        }
    }

    /// The TLS handshakes since the last call (at most the last 256),
    /// oldest first.
    pub fn take_tls_sessions(&self) -> Vec<TlsSession> {
        self.tls.as_ref().map_or_else(Vec::new, |(_, state)| {
            state
                .sessions
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .drain(..)
                .collect()
        })
    }

    /// The DNSKEY records of every signed zone, in zone-file syntax: the
    /// content of a trust anchor file for this server.
    pub fn trust_anchor_records(&self) -> Vec<String> {
        self.zones
            .iter()
            .filter_map(|z| z.dnskey_record.clone())
            .collect()
    }

    /// The DS records (SHA-256) of every signed zone.
    pub fn ds_records(&self) -> Vec<String> {
        self.zones
            .iter()
            .filter_map(|z| z.ds_record.clone())
            .collect()
    }

    fn zone_of(&self, name: &LowerName) -> Result<&Served, DnsError> {
        self.zones
            .iter()
            .filter(|z| z.origin.zone_of(name))
            .max_by_key(|z| z.origin.num_labels())
            .ok_or_else(|| DnsError::Tamper(format!("no zone served for {name}")))
    }

    /// Replaces the `rtype` RRSet at `name` with a forgery until
    /// [`RunningAuth::restore`]. Fails if the RRSet does not exist, or a
    /// signature change is asked of an unsigned zone.
    pub async fn tamper(&self, name: &str, rtype: RecordType, how: Tamper) -> Result<(), DnsError> {
        let owner = Name::from_str(name)
            .map_err(|e| DnsError::Tamper(format!("{name}: {e}")))?
            .append_domain(&Name::root())
            .map_err(|e| DnsError::Tamper(e.to_string()))?;
        let lower = LowerName::new(&owner);
        let zone = self.zone_of(&lower)?;
        let key = RrKey::new(lower.clone(), rtype);
        let mut records = zone.handler.records_mut().await;
        let current = records
            .get(&key)
            .cloned()
            .ok_or_else(|| DnsError::Tamper(format!("no {rtype} RRSet at {owner}")))?;
        let original = {
            let mut saved = self.originals.lock().unwrap_or_else(|e| e.into_inner());
            saved
                .entry(key.clone())
                .or_insert_with(|| current.clone())
                .clone()
        };
        let mut forged = match &how.rdata {
            Some(data) => {
                let mut set = RecordSet::with_ttl(owner.clone(), rtype, original.ttl());
                for text in data {
                    set.add_rdata(parse_rdata(&owner, rtype, original.ttl(), text)?);
                }
                set
            }
            None => {
                let mut set = (*original).clone();
                set.clear_rrsigs();
                set
            }
        };
        match how.signatures {
            Signatures::Keep => {
                for sig in original.rrsigs() {
                    forged.insert_rrsig(sig.clone());
                }
            }
            Signatures::Strip => {
                if original.rrsigs().is_empty() {
                    return Err(DnsError::Tamper(format!("{owner} {rtype} is not signed")));
                }
            }
            Signatures::Expired => {
                let zkey = zone
                    .key
                    .as_ref()
                    .ok_or_else(|| DnsError::Tamper(format!("{} is not signed", zone.origin)))?;
                let day = Duration::from_secs(86_400);
                let signer = zkey
                    .signer(&Name::from(&zone.origin), day)
                    .map_err(DnsError::Sign)?;
                let inception = OffsetDateTime::now_utc() - 2 * day;
                let rrsig = RRSIG::from_rrset(&forged, DNSClass::IN, inception, &signer)
                    .map_err(|e| DnsError::Sign(e.to_string()))?;
                forged.insert_rrsig(Record::from_rdata(
                    owner.clone(),
                    original.ttl(),
                    RData::DNSSEC(DNSSECRData::RRSIG(rrsig)),
                ));
            }
        }
        records.insert(key, Arc::new(forged));
        Ok(())
    }

    /// Puts back every tampered RRSet, and the genuine TLS settings if
    /// others were presented.
    pub async fn restore(&self) {
        if let Some((_, state)) = &self.tls {
            let swapped = !Arc::ptr_eq(
                &state.presented.lock().unwrap_or_else(|e| e.into_inner()),
                &state.genuine,
            );
            if swapped {
                state.present(state.genuine.clone());
            }
        }
        let saved: Vec<(RrKey, Arc<RecordSet>)> = self
            .originals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .collect();
        for (key, set) in saved {
            if let Ok(zone) = self.zone_of(&key.name) {
                zone.handler.records_mut().await.insert(key, set);
            }
        }
    }

    /// Silent, the server drops every query without an answer; the
    /// sockets stay bound so it can come back at the same address.
    pub fn set_silent(&self, silent: bool) {
        self.silent.store(silent, Ordering::Relaxed);
    }

    /// The queries received since the last call (at most the last 256),
    /// oldest first, as `name IN type from addr over transport`.
    pub fn take_queries(&self) -> Vec<String> {
        self.take_lookups()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// The queries received since the last call (at most the last 256),
    /// oldest first.
    pub fn take_lookups(&self) -> Vec<Lookup> {
        self.queries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect()
    }

    /// The UDP datagrams received and sent since the last call, oldest
    /// first, and how many were not kept (over [`DATAGRAMS_KEPT`]).
    pub fn take_datagrams(&self) -> (Vec<Datagram>, usize) {
        let mut g = self.datagrams.lock().unwrap_or_else(|e| e.into_inner());
        let missed = std::mem::take(&mut g.missed);
        (std::mem::take(&mut g.kept), missed)
    }

    /// Stops answering and closes the sockets.
    pub async fn stop(self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// RDATA text of type `rtype`, read with the zone-file parser so every
/// type it knows is accepted.
fn parse_rdata(owner: &Name, rtype: RecordType, ttl: u32, text: &str) -> Result<RData, DnsError> {
    let line = format!("{} {ttl} IN {rtype} {text}\n", owner.to_ascii());
    let (_, sets) = Parser::new(line, None, Some(Name::root()))
        .parse()
        .map_err(|e| DnsError::Tamper(format!("{rtype} {text:?}: {e}")))?;
    sets.into_values()
        .flat_map(|s| s.records_without_rrsigs().cloned().collect::<Vec<_>>())
        .map(|r| r.data)
        .next()
        .ok_or_else(|| DnsError::Tamper(format!("{rtype} {text:?}: no record")))
}

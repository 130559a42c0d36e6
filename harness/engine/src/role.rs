//! A role the harness plays (peer, stranger, terminating peer): a UDP socket
//! of the run's network on its own address, recording every message it
//! sends or receives as evidence. Times are the network's: virtual on the
//! simulated network.
//!
//! When the run reaches the IUT over a stream ([`StreamPlan`]), the role
//! is a SIP transport layer too (RFC 3261 §18): it opens a TCP or TLS
//! connection to the IUT the first time it sends there, frames what comes
//! back (§18.3), answers a request over the connection it came in on
//! (§18.2.2), and accepts connections the IUT opens to its address.

use serde::Serialize;
use speermint_net::{Network, Transport, UdpSock};
use speermint_sip::Message;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::time::Instant;

/// One message exchanged during a check.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct EvidenceEntry {
    /// Milliseconds since the check started.
    pub t_ms: u64,
    /// The harness role.
    pub role: String,
    /// `sent` or `received`.
    pub direction: &'static str,
    /// The other end.
    pub peer: String,
    /// The start line.
    pub summary: String,
    /// The whole message (lossy UTF-8).
    pub message: String,
    /// `tcp` or `tls` for a message framed from a connection; absent for
    /// a datagram (UDP, the default) and for notes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<&'static str>,
    /// What the pcap is written from: the datagram as it was on the wire,
    /// with its addresses and when (since the run began, on the run's
    /// clock). Absent for notes.
    #[serde(skip)]
    pub wire: Option<Wire>,
}

/// One datagram, or one message of a connection, as a role saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wire {
    /// Sender.
    pub from: SocketAddr,
    /// Receiver.
    pub to: SocketAddr,
    /// How it travelled (a TLS message is kept as its plaintext).
    pub transport: Transport,
    /// Since the run began.
    pub at: Duration,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// Shared, ordered evidence log of a check.
#[derive(Debug, Clone)]
pub struct EvidenceLog {
    inner: Arc<Mutex<(Instant, Vec<EvidenceEntry>)>>,
    run_start: Instant,
}

impl Default for EvidenceLog {
    fn default() -> Self {
        Self {
            inner: Arc::new(Mutex::new((Instant::now(), Vec::new()))),
            run_start: Instant::now(),
        }
    }
}

impl EvidenceLog {
    /// Clears the log and restarts its clock.
    pub fn reset(&self) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        *g = (Instant::now(), Vec::new());
    }

    /// Takes the entries recorded since the last reset.
    pub fn take(&self) -> Vec<EvidenceEntry> {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::take(&mut g.1)
    }

    fn record(
        &self,
        role: &str,
        direction: &'static str,
        me: SocketAddr,
        peer: SocketAddr,
        bytes: &[u8],
    ) {
        self.record_on(role, direction, me, peer, Transport::Udp, bytes);
    }

    pub(crate) fn record_on(
        &self,
        role: &str,
        direction: &'static str,
        me: SocketAddr,
        peer: SocketAddr,
        transport: Transport,
        bytes: &[u8],
    ) {
        // A datagram is at most 64 KiB, so evidence keeps it whole; a longer
        // stream write is cut, and says so.
        const MAX: usize = 64 * 1024;
        let mut text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX)]).into_owned();
        if bytes.len() > MAX {
            text.push_str(&format!("\n[{} more bytes not kept]", bytes.len() - MAX));
        }
        let summary = text.lines().next().unwrap_or_default().to_string();
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let t_ms = g.0.elapsed().as_millis() as u64;
        let (from, to) = if direction == "sent" {
            (me, peer)
        } else {
            (peer, me)
        };
        g.1.push(EvidenceEntry {
            t_ms,
            role: role.to_string(),
            direction,
            peer: peer.to_string(),
            summary,
            message: text,
            transport: (transport != Transport::Udp).then(|| transport.as_str()),
            wire: Some(Wire {
                from,
                to,
                transport,
                at: self.run_start.elapsed(),
                bytes: bytes.to_vec(),
            }),
        });
    }

    /// Every datagram `role` received since the last reset, in order.
    pub fn received_by(&self, role: &str) -> Vec<Vec<u8>> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.1.iter()
            .filter(|e| e.role == role && e.direction == "received")
            .filter_map(|e| e.wire.as_ref().map(|w| w.bytes.clone()))
            .collect()
    }

    /// `at` as time since the run began, what [`Wire::at`] holds.
    pub fn run_time(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.run_start)
    }

    /// Adds a datagram another party (the DNS role's driver) saw, its
    /// time in `wire.at`. Call [`EvidenceLog::sort_by_time`] after.
    pub fn add_datagram(&self, role: &str, direction: &'static str, summary: String, wire: Wire) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let check_began = self.run_time(g.0);
        let t_ms = wire.at.saturating_sub(check_began).as_millis() as u64;
        let peer = if direction == "sent" {
            wire.to
        } else {
            wire.from
        };
        g.1.push(EvidenceEntry {
            t_ms,
            role: role.to_string(),
            direction,
            peer: peer.to_string(),
            summary: summary.clone(),
            message: summary,
            transport: (wire.transport != Transport::Udp).then(|| wire.transport.as_str()),
            wire: Some(wire),
        });
    }

    /// Puts the entries in time order: a datagram by when it crossed the
    /// wire, a note right after the datagram logged before it.
    pub fn sort_by_time(&self) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut key = Duration::ZERO;
        let mut keyed: Vec<(Duration, usize, EvidenceEntry)> =
            g.1.drain(..)
                .enumerate()
                .map(|(i, e)| {
                    if let Some(w) = &e.wire {
                        key = w.at;
                    }
                    (key, i, e)
                })
                .collect();
        keyed.sort_by_key(|(k, i, _)| (*k, *i));
        g.1.extend(keyed.into_iter().map(|(_, _, e)| e));
    }

    /// Adds a note (what the harness did besides sending, e.g. a rewrite).
    pub fn note(&self, role: &str, text: impl Into<String>) {
        let text = text.into();
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let t_ms = g.0.elapsed().as_millis() as u64;
        g.1.push(EvidenceEntry {
            t_ms,
            role: role.to_string(),
            direction: "note",
            peer: String::new(),
            summary: text.clone(),
            message: text,
            transport: None,
            wire: None,
        });
    }
}

/// A datagram, or a message framed from a connection, a role received.
#[derive(Debug, Clone)]
pub struct Received {
    /// Sender (for a connection, its far end).
    pub from: SocketAddr,
    /// Bytes.
    pub bytes: Vec<u8>,
    /// How it came.
    pub transport: Transport,
}

impl Received {
    /// Parses the datagram.
    pub fn msg(&self) -> Option<Message<'_>> {
        Message::parse(&self.bytes).ok()
    }

    /// The status code, read from the status line even if the rest is malformed.
    pub fn status(&self) -> Option<u16> {
        let b = &self.bytes;
        if b.len() >= 11 && b.starts_with(b"SIP/2.0 ") {
            std::str::from_utf8(&b[8..11]).ok()?.parse().ok()
        } else {
            None
        }
    }

    /// The first line.
    pub fn summary(&self) -> String {
        String::from_utf8_lossy(
            self.bytes
                .split(|&c| c == b'\r' || c == b'\n')
                .next()
                .unwrap_or_default(),
        )
        .into_owned()
    }
}

/// Datagrams a role holds for the scenario before it drops more (and
/// says so in the evidence): a flooding IUT cannot grow the harness.
const ROLE_QUEUE: usize = 1024;

/// A harness role bound to its own address. A reader task takes every
/// datagram off the socket as it arrives and records it then, so the
/// evidence shows arrival order and arrival times, not when the scenario
/// got round to reading.
#[derive(Debug)]
pub struct Role {
    name: &'static str,
    socket: std::sync::Arc<UdpSock>,
    addr: SocketAddr,
    log: EvidenceLog,
    inbox: tokio::sync::mpsc::Receiver<Received>,
    /// What reader tasks queue for the scenario through.
    queue: tokio::sync::mpsc::Sender<Received>,
    reader: tokio::task::JoinHandle<()>,
    /// Datagrams received but not yet consumed by a matching wait.
    backlog: VecDeque<Received>,
    /// The stream side, when the run reaches the IUT over TCP or TLS.
    streams: Option<Arc<Streams>>,
    routes: Arc<Routes>,
}

impl Drop for Role {
    fn drop(&mut self) {
        self.reader.abort();
        if let Some(s) = &self.streams {
            s.shut();
        }
    }
}

/// How a role reaches the IUT over a stream (RFC 3261 §18), when the run
/// uses one.
#[derive(Clone)]
pub struct StreamPlan {
    /// TCP or TLS.
    pub transport: Transport,
    /// Where the IUT accepts connections of that transport.
    pub iut: SocketAddr,
    /// For TLS: what the role presents and trusts, and the name it
    /// verifies the IUT's certificate against (its SIP domain, RFC 5922
    /// §7.2).
    pub tls_client: Option<(Arc<rustls::ClientConfig>, String)>,
    /// For TLS: the certificate the role's own listener presents to
    /// connections the IUT opens; without it, a TLS run's role accepts
    /// none.
    pub tls_server: Option<Arc<rustls::ServerConfig>>,
    /// How long opening a connection (and its handshake) may take.
    pub connect_timeout: Duration,
}

impl std::fmt::Debug for StreamPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamPlan")
            .field("transport", &self.transport)
            .field("iut", &self.iut)
            .field("server_name", &self.tls_client.as_ref().map(|(_, n)| n))
            .field("listens_for_tls", &self.tls_server.is_some())
            .finish()
    }
}

/// Either kind of connection, plain or TLS, client or server side.
trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

type Writer = Arc<tokio::sync::Mutex<WriteHalf<Box<dyn Io>>>>;

/// One open connection, by its far end.
struct Conn {
    id: u64,
    local: SocketAddr,
    writer: Writer,
    reader: tokio::task::AbortHandle,
}

/// Most connections a role keeps at once (its own and those the IUT
/// opened); beyond it, new ones from the IUT are refused.
const ROLE_CONNECTIONS: usize = 64;

/// Requests remembered for answering over their connection; the oldest is
/// forgotten first.
const ROUTES_KEPT: usize = 4096;

/// How a request came in, so that its response goes back the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// As a datagram: the response is one too.
    Datagram,
    /// Over the connection with this far end.
    Stream(SocketAddr),
}

/// Requests the role received, by top-Via branch, once the run uses a
/// stream (until then nothing is kept, and UDP works as it always has).
#[derive(Debug, Default)]
struct Routes {
    active: std::sync::atomic::AtomicBool,
    kept: Mutex<(HashMap<String, Route>, VecDeque<String>)>,
}

impl Routes {
    fn remember(&self, bytes: &[u8], route: Route) {
        if !self.active.load(std::sync::atomic::Ordering::Relaxed) || bytes.starts_with(b"SIP/") {
            return;
        }
        let Some(branch) = top_branch(bytes) else {
            return;
        };
        let mut g = lock(&self.kept);
        let (map, order) = &mut *g;
        if map.insert(branch.clone(), route).is_none() {
            order.push_back(branch);
            if order.len() > ROUTES_KEPT {
                if let Some(old) = order.pop_front() {
                    map.remove(&old);
                }
            }
        }
    }

    fn of(&self, bytes: &[u8]) -> Option<Route> {
        let branch = top_branch(bytes)?;
        lock(&self.kept).0.get(&branch).copied()
    }
}

/// A role's stream side, shared with its connections' reader tasks.
struct Streams {
    name: &'static str,
    me: SocketAddr,
    net: Network,
    plan: StreamPlan,
    log: EvidenceLog,
    queue: tokio::sync::mpsc::Sender<Received>,
    conns: Mutex<HashMap<SocketAddr, Conn>>,
    routes: Arc<Routes>,
    /// Connections the IUT ended before sending anything on them (a
    /// refused TLS handshake shows this way), since the last clear.
    refused: Mutex<Vec<String>>,
    next_id: std::sync::atomic::AtomicU64,
    listener: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for Streams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streams")
            .field("plan", &self.plan)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Streams {
    fn shut(&self) {
        if let Some(l) = lock(&self.listener).take() {
            l.abort();
        }
        for (_, c) in lock(&self.conns).drain() {
            c.reader.abort();
        }
    }

    /// The connection to `remote`, if open.
    fn conn(&self, remote: SocketAddr) -> Option<(u64, SocketAddr, Writer)> {
        lock(&self.conns)
            .get(&remote)
            .map(|c| (c.id, c.local, c.writer.clone()))
    }

    fn forget(&self, remote: SocketAddr, id: u64) {
        let mut conns = lock(&self.conns);
        if conns.get(&remote).is_some_and(|c| c.id == id) {
            if let Some(c) = conns.remove(&remote) {
                c.reader.abort();
            }
        }
    }

    /// Keeps a new connection (plain or after its handshake) and starts
    /// reading it. `None` when the role holds too many.
    fn adopt(self: &Arc<Self>, io: Box<dyn Io>, local: SocketAddr, remote: SocketAddr) -> bool {
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (rd, wr) = tokio::io::split(io);
        let mut conns = lock(&self.conns);
        if conns.len() >= ROLE_CONNECTIONS && !conns.contains_key(&remote) {
            return false;
        }
        let reader = tokio::spawn(read_stream(self.clone(), rd, id, local, remote));
        let conn = Conn {
            id,
            local,
            writer: Arc::new(tokio::sync::Mutex::new(wr)),
            reader: reader.abort_handle(),
        };
        if let Some(old) = conns.insert(remote, conn) {
            old.reader.abort();
        }
        true
    }

    /// Opens a connection from the role's IP to `to`, with the TLS
    /// handshake when the run uses TLS.
    async fn open(self: &Arc<Self>, to: SocketAddr) -> std::io::Result<()> {
        let wait = self.plan.connect_timeout;
        let from = SocketAddr::new(self.me.ip(), 0);
        let tcp = self.net.connect_tcp(Some(from), to, wait).await?;
        let local = tcp.local_addr()?;
        let io: Box<dyn Io> = match (self.plan.transport, &self.plan.tls_client) {
            (Transport::Tls, Some((config, name))) => {
                let server = rustls::pki_types::ServerName::try_from(name.clone())
                    .map_err(|e| std::io::Error::other(format!("{name:?}: {e}")))?;
                let connector = tokio_rustls::TlsConnector::from(config.clone());
                let tls = tokio::time::timeout(wait, connector.connect(server, tcp))
                    .await
                    .map_err(|_| {
                        std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            format!("TLS handshake with {to}"),
                        )
                    })?
                    .map_err(|e| std::io::Error::other(format!("TLS handshake with {to}: {e}")))?;
                Box::new(tls)
            }
            (Transport::Tls, None) => {
                return Err(std::io::Error::other(
                    "no TLS client settings for the run (a certificate issuer to trust)",
                ));
            }
            _ => Box::new(tcp),
        };
        if !self.adopt(io, local, to) {
            return Err(std::io::Error::other(format!(
                "the role holds {ROLE_CONNECTIONS} connections already"
            )));
        }
        self.log.note(
            self.name,
            format!(
                "opened a {} connection {local} -> {to}",
                self.plan.transport.as_str()
            ),
        );
        Ok(())
    }

    /// Where a message goes over a connection: a response over the one its
    /// request came in on (RFC 3261 §18.2.2; one that came as a datagram
    /// is answered as one), anything else for the IUT over the role's
    /// connection to it (§18.1.1). `None`: as a datagram.
    fn remote_for(&self, to: SocketAddr, bytes: &[u8]) -> Option<SocketAddr> {
        let route = if bytes.starts_with(b"SIP/2.0 ") {
            self.routes.of(bytes)
        } else {
            None
        };
        match route {
            Some(Route::Stream(remote)) => Some(remote),
            Some(Route::Datagram) => None,
            None => (to == self.plan.iut).then_some(to),
        }
    }

    /// Sends over the connection to `remote`, opening it first when it is
    /// the IUT's and not open. A request's top Via, when it is the
    /// role's own, names the transport it goes over (RFC 3261 §18.1.1).
    async fn send(self: &Arc<Self>, remote: SocketAddr, bytes: &[u8]) -> std::io::Result<()> {
        let stamped;
        let bytes = match stamp_transport(bytes, self.me, self.plan.transport) {
            Some(b) => {
                stamped = b;
                &stamped[..]
            }
            None => bytes,
        };
        if self.conn(remote).is_none() {
            if remote != self.plan.iut {
                // A response whose connection closed meanwhile: RFC 3261
                // §18.2.2 opens one to the sent-by, which the IUT's
                // transport picked; this harness does not guess it.
                let e = std::io::Error::new(
                    std::io::ErrorKind::NotConnected,
                    format!("the connection from {remote} the request came over is closed"),
                );
                self.log.record_on(
                    self.name,
                    "sent",
                    self.me,
                    remote,
                    self.plan.transport,
                    bytes,
                );
                return Err(e);
            }
            if let Err(e) = self.open(remote).await {
                self.log.record_on(
                    self.name,
                    "sent",
                    self.me,
                    remote,
                    self.plan.transport,
                    bytes,
                );
                return Err(e);
            }
        }
        let Some((id, local, writer)) = self.conn(remote) else {
            return Err(std::io::ErrorKind::NotConnected.into());
        };
        self.log
            .record_on(self.name, "sent", local, remote, self.plan.transport, bytes);
        let mut w = writer.lock().await;
        let written = async {
            w.write_all(bytes).await?;
            w.flush().await
        }
        .await;
        drop(w);
        if let Err(e) = written {
            self.forget(remote, id);
            return Err(e);
        }
        Ok(())
    }
}

/// The top Via's branch of a message.
fn top_branch(bytes: &[u8]) -> Option<String> {
    let m = Message::parse(bytes).ok()?;
    let via = m.vias().next()?;
    via.branch().map(str::to_owned)
}

/// `bytes` with its top Via's transport set to `transport`, when it is a
/// request whose top Via is the role's own (`me` as sent-by) and names
/// another; `None` when nothing changes. The transport layer fills the
/// Via in as it sends (RFC 3261 §18.1.1); a Via the role forges for
/// someone else is left as written.
fn stamp_transport(bytes: &[u8], me: SocketAddr, transport: Transport) -> Option<Vec<u8>> {
    if bytes.starts_with(b"SIP/") {
        return None;
    }
    let m = Message::parse(bytes).ok()?;
    let via = m.vias().next()?;
    let mine = via.host.ip() == Some(me.ip()) && via.port == Some(me.port());
    if !mine || via.transport.eq_ignore_ascii_case(transport.via_token()) {
        return None;
    }
    let at = (via.transport.as_ptr() as usize).checked_sub(bytes.as_ptr() as usize)?;
    let end = at + via.transport.len();
    if end > bytes.len() {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() + 3);
    out.extend_from_slice(&bytes[..at]);
    out.extend_from_slice(transport.via_token().as_bytes());
    out.extend_from_slice(&bytes[end..]);
    Some(out)
}

/// Bytes a connection may hold unframed: one largest message and one read.
const STREAM_BUFFER: usize = 65_535 + 16 * 1024;

/// Reads one connection: frames its messages (RFC 3261 §18.3), records
/// and queues each, and remembers where each request came from. Lost
/// framing closes the connection, and the evidence says so.
async fn read_stream(
    s: Arc<Streams>,
    mut rd: ReadHalf<Box<dyn Io>>,
    id: u64,
    local: SocketAddr,
    remote: SocketAddr,
) {
    let limits = speermint_sip::Limits::default();
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    let mut got_any = false;
    let opened = Instant::now();
    let t = s.plan.transport;
    let why = loop {
        // Frame what is there.
        let lost = loop {
            match speermint_sip::frame(&buf, &limits) {
                Ok(speermint_sip::Framing::Complete { start, end }) => {
                    let bytes = buf[start..end].to_vec();
                    buf.drain(..end);
                    got_any = true;
                    s.log
                        .record_on(s.name, "received", local, remote, t, &bytes);
                    s.routes.remember(&bytes, Route::Stream(remote));
                    let r = Received {
                        from: remote,
                        bytes,
                        transport: t,
                    };
                    if s.queue.try_send(r).is_err() {
                        s.log.note(
                            s.name,
                            format!("queue full: a message from {remote} was dropped unread"),
                        );
                    }
                }
                Ok(speermint_sip::Framing::KeepAlive { len }) => {
                    buf.drain(..len);
                }
                Ok(speermint_sip::Framing::Incomplete { .. }) => break None,
                Err(e) => break Some(e.to_string()),
            }
        };
        if let Some(e) = lost {
            break format!("framing lost ({e}); the role closed it");
        }
        if buf.len() > STREAM_BUFFER {
            break "more unframed bytes than one message; the role closed it".to_string();
        }
        match rd.read(&mut chunk).await {
            Ok(0) => break "closed by the far end".to_string(),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => break format!("ended: {e}"),
        }
    };
    s.log.note(
        s.name,
        format!("{} connection {local} <-> {remote}: {why}", t.as_str()),
    );
    // Ended at once with nothing said: refused (an idle connection the
    // IUT closes much later is not).
    if !got_any && remote == s.plan.iut && opened.elapsed() <= s.plan.connect_timeout {
        lock(&s.refused).push(why);
    }
    s.forget(remote, id);
}

/// Accepts the connections the IUT opens to the role's address, with the
/// TLS handshake when the run uses TLS.
async fn accept_streams(s: Arc<Streams>, mut listener: speermint_net::Listener) {
    loop {
        let Ok((tcp, from)) = listener.accept().await else {
            tokio::task::yield_now().await;
            continue;
        };
        let local = tcp.local_addr().unwrap_or(s.me);
        let io: Box<dyn Io> = match &s.plan.tls_server {
            Some(config) if s.plan.transport == Transport::Tls => {
                let acceptor = tokio_rustls::TlsAcceptor::from(config.clone());
                let wait = s.plan.connect_timeout;
                match tokio::time::timeout(wait, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => Box::new(tls),
                    Ok(Err(e)) => {
                        s.log
                            .note(s.name, format!("TLS handshake from {from} failed: {e}"));
                        continue;
                    }
                    Err(_) => {
                        s.log
                            .note(s.name, format!("TLS handshake from {from} timed out"));
                        continue;
                    }
                }
            }
            _ => Box::new(tcp),
        };
        if s.adopt(io, local, from) {
            s.log.note(
                s.name,
                format!(
                    "accepted a {} connection {from} -> {local}",
                    s.plan.transport.as_str()
                ),
            );
        } else {
            s.log.note(
                s.name,
                format!("refused a connection from {from}: {ROLE_CONNECTIONS} open already"),
            );
        }
    }
}

impl Role {
    /// Binds the role.
    pub async fn bind(
        net: &Network,
        name: &'static str,
        addr: SocketAddr,
        log: EvidenceLog,
    ) -> std::io::Result<Self> {
        let socket = std::sync::Arc::new(net.bind_udp(addr).await?);
        let addr = socket.local_addr()?;
        let (tx, inbox) = tokio::sync::mpsc::channel(ROLE_QUEUE);
        let routes = Arc::new(Routes::default());
        let reader = tokio::spawn(read_loop(
            name,
            socket.clone(),
            log.clone(),
            tx.clone(),
            routes.clone(),
        ));
        Ok(Self {
            name,
            socket,
            addr,
            log,
            inbox,
            queue: tx,
            reader,
            backlog: VecDeque::new(),
            streams: None,
            routes,
        })
    }

    /// Makes the role reach the IUT over a stream: requests to `plan.iut`
    /// go over a connection the role opens when it first sends there,
    /// and the role listens for the IUT's connections on its own address
    /// (same port as its UDP socket, where its Vias say it is). For TLS
    /// without `plan.tls_server`, it accepts none.
    pub async fn use_streams(&mut self, net: &Network, plan: StreamPlan) -> std::io::Result<()> {
        let listens = plan.transport == Transport::Tcp || plan.tls_server.is_some();
        let streams = Arc::new(Streams {
            name: self.name,
            me: self.addr,
            net: net.clone(),
            plan,
            log: self.log.clone(),
            queue: self.queue.clone(),
            conns: Mutex::new(HashMap::new()),
            routes: self.routes.clone(),
            refused: Mutex::new(Vec::new()),
            next_id: std::sync::atomic::AtomicU64::new(0),
            listener: Mutex::new(None),
        });
        self.routes
            .active
            .store(true, std::sync::atomic::Ordering::Relaxed);
        if listens {
            let listener = net.listen_tcp(self.addr).await?;
            *lock(&streams.listener) =
                Some(tokio::spawn(accept_streams(streams.clone(), listener)));
        }
        self.streams = Some(streams);
        Ok(())
    }

    /// The transport the role reaches the IUT over.
    pub fn transport(&self) -> Transport {
        self.streams
            .as_ref()
            .map_or(Transport::Udp, |s| s.plan.transport)
    }

    /// Why the IUT ended the role's connections to it before answering on
    /// them (a refused TLS handshake, say), since the last
    /// [`Role::clear`]: what the role sent there never reached SIP.
    pub fn refused_connections(&self) -> Vec<String> {
        self.streams
            .as_ref()
            .map(|s| lock(&s.refused).clone())
            .unwrap_or_default()
    }

    /// The role's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The address the role sends from.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sends one message; a failure is noted in the evidence.
    pub async fn send(&self, to: SocketAddr, bytes: &[u8]) {
        let _ = self.try_send(to, bytes).await;
    }

    /// Sends one message and says whether the network took it (a send can
    /// fail when the target is unreachable from the role's address). When
    /// the run uses a stream, a response goes back over the connection its
    /// request came in on and a request to the IUT over the role's
    /// connection to it; everything else is a datagram.
    pub async fn try_send(&self, to: SocketAddr, bytes: &[u8]) -> std::io::Result<()> {
        if let Some(s) = &self.streams {
            if let Some(remote) = s.remote_for(to, bytes) {
                let sent = s.send(remote, bytes).await;
                if let Err(e) = &sent {
                    self.log.note(
                        self.name,
                        format!(
                            "send to {remote} over {} failed: {e}",
                            s.plan.transport.as_str()
                        ),
                    );
                }
                return sent;
            }
        }
        self.send_datagram(to, bytes).await
    }

    /// Sends one datagram whatever the run's transport: for checks whose
    /// traffic must be UDP.
    pub async fn send_datagram(&self, to: SocketAddr, bytes: &[u8]) -> std::io::Result<()> {
        self.log.record(self.name, "sent", self.addr, to, bytes);
        match self.socket.send_to(bytes, to).await {
            Ok(_) => Ok(()),
            Err(e) => {
                self.log
                    .note(self.name, format!("send to {to} failed: {e}"));
                Err(e)
            }
        }
    }

    async fn recv_raw(&mut self, deadline: tokio::time::Instant) -> Option<Received> {
        tokio::time::timeout_at(deadline, self.inbox.recv())
            .await
            .ok()
            .flatten()
    }

    /// Waits up to `timeout` for a datagram matching `pred`; others are kept
    /// for later waits.
    pub async fn recv_matching(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&Received) -> bool,
    ) -> Option<Received> {
        if let Some(i) = self.backlog.iter().position(&pred) {
            return self.backlog.remove(i);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            match self.recv_raw(deadline).await {
                Some(r) if pred(&r) => return Some(r),
                // Bounded: a flood cannot grow the backlog past 1024.
                Some(r) if self.backlog.len() < 1024 => self.backlog.push_back(r),
                Some(_) | None => {}
            }
        }
        None
    }

    /// Waits for any datagram.
    pub async fn recv(&mut self, timeout: Duration) -> Option<Received> {
        self.recv_matching(timeout, |_| true).await
    }

    /// Everything already received, without waiting (after a short settle).
    pub async fn drain(&mut self, settle: Duration) -> Vec<Received> {
        let mut out: Vec<Received> = self.backlog.drain(..).collect();
        let deadline = tokio::time::Instant::now() + settle;
        while let Some(r) = self.recv_raw(deadline).await {
            out.push(r);
            if out.len() >= 1024 {
                break;
            }
        }
        out
    }

    /// The start lines of what arrived and is still unread, matching
    /// `pred`, without consuming it: what a reason names when the awaited
    /// message never came.
    pub fn unread(&mut self, pred: impl Fn(&Received) -> bool) -> Vec<String> {
        while self.backlog.len() < ROLE_QUEUE {
            match self.inbox.try_recv() {
                Ok(r) => self.backlog.push_back(r),
                Err(_) => break,
            }
        }
        self.backlog
            .iter()
            .filter(|r| pred(r))
            .map(Received::summary)
            .collect()
    }

    /// Forgets anything pending (between checks).
    pub async fn clear(&mut self) {
        self.backlog.clear();
        while self.inbox.try_recv().is_ok() {}
        if let Some(s) = &self.streams {
            lock(&s.refused).clear();
        }
    }
}

/// Takes datagrams off the role's socket as they arrive, records each, and
/// queues it for the scenario.
async fn read_loop(
    name: &'static str,
    socket: std::sync::Arc<UdpSock>,
    log: EvidenceLog,
    inbox: tokio::sync::mpsc::Sender<Received>,
    routes: Arc<Routes>,
) {
    let mut buf = vec![0u8; 65_535];
    let me = socket
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((n, from)) => {
                let bytes = buf[..n].to_vec();
                log.record(name, "received", me, from, &bytes);
                routes.remember(&bytes, Route::Datagram);
                let r = Received {
                    from,
                    bytes,
                    transport: Transport::Udp,
                };
                if inbox.try_send(r).is_err() {
                    log.note(
                        name,
                        format!("queue full: a datagram from {from} was dropped unread"),
                    );
                }
            }
            // ICMP unreachable from an earlier send: note it and carry on.
            Err(e) => {
                log.note(name, format!("receive error: {e}"));
                tokio::task::yield_now().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use speermint_net::SimNet;
    use speermint_sip::MessageBuilder;

    const WAIT: Duration = Duration::from_secs(2);

    fn request(method: &str, via: &str, call: &str) -> Vec<u8> {
        MessageBuilder::request(method, "sip:bob@127.0.0.1")
            .header("Via", via)
            .header("Max-Forwards", 70)
            .header("From", "<sip:a@127.0.0.2>;tag=1")
            .header("To", "<sip:bob@127.0.0.1>")
            .header("Call-ID", call)
            .header("CSeq", format!("1 {method}"))
            .build()
    }

    /// The next whole message from a connection.
    async fn next_message(io: &mut speermint_net::Stream, buf: &mut Vec<u8>) -> Vec<u8> {
        let limits = speermint_sip::Limits::default();
        let mut chunk = vec![0u8; 4096];
        loop {
            if let Ok(speermint_sip::Framing::Complete { start, end }) =
                speermint_sip::frame(buf, &limits)
            {
                let m = buf[start..end].to_vec();
                buf.drain(..end);
                return m;
            }
            let n = tokio::time::timeout(WAIT, io.read(&mut chunk))
                .await
                .expect("a message in time")
                .unwrap();
            assert!(n > 0, "closed early");
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    #[test]
    fn a_role_speaks_sip_over_tcp_as_rfc_3261_section_18_says() {
        SimNet::runtime().unwrap().block_on(async {
            let net = Network::Sim(SimNet::new(7));
            let iut: SocketAddr = "127.0.0.1:5060".parse().unwrap();
            let mut listener = net.listen_tcp(iut).await.unwrap();
            let iut_udp = net.bind_udp(iut).await.unwrap();
            let log = EvidenceLog::default();
            let mut role = Role::bind(&net, "peer", "127.0.0.2:0".parse().unwrap(), log.clone())
                .await
                .unwrap();
            role.use_streams(
                &net,
                StreamPlan {
                    transport: Transport::Tcp,
                    iut,
                    tls_client: None,
                    tls_server: None,
                    connect_timeout: WAIT,
                },
            )
            .await
            .unwrap();
            let me = role.addr();

            // 1. The first request opens the connection, from the role's
            // IP, and its own Via names TCP (§18.1.1).
            let own = format!("SIP/2.0/UDP {me};branch=z9hG4bKr1;rport");
            role.send(iut, &request("OPTIONS", &own, "c1")).await;
            let (mut conn, from) = listener.accept().await.unwrap();
            assert_eq!(from.ip(), me.ip());
            let mut buf = Vec::new();
            let got = next_message(&mut conn, &mut buf).await;
            let got = Message::parse(&got).unwrap();
            assert_eq!(got.core().via.transport, "TCP");
            assert_eq!(got.core().via.port, Some(me.port()));

            // 2. Two messages in one write, split mid-way, a keep-alive
            // between: both framed (§18.3), in order.
            let ok = MessageBuilder::response_to(&got, 200, "OK", Some("t")).build();
            let theirs = request(
                "OPTIONS",
                "SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKi1",
                "c2",
            );
            let mut both = ok.clone();
            both.extend_from_slice(b"\r\n\r\n");
            both.extend_from_slice(&theirs);
            let (a, b) = both.split_at(ok.len() + 7);
            conn.write_all(a).await.unwrap();
            conn.write_all(b).await.unwrap();
            let first = role.recv(WAIT).await.expect("the 200");
            assert_eq!(
                (first.status(), first.transport),
                (Some(200), Transport::Tcp)
            );
            let req = role.recv(WAIT).await.expect("the IUT's request");
            assert_eq!(req.msg().unwrap().method(), "OPTIONS");

            // 3. Its answer goes back over the connection (§18.2.2).
            let answer =
                MessageBuilder::response_to(&req.msg().unwrap(), 200, "OK", Some("u")).build();
            role.send(req.from, &answer).await;
            let back = next_message(&mut conn, &mut buf).await;
            assert_eq!(Message::parse(&back).unwrap().status(), Some(200));

            // 4. A request that came as a datagram from the IUT's address
            // is answered as one, though the role has a connection there.
            let dgram = request(
                "OPTIONS",
                "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKu1",
                "c3",
            );
            iut_udp.send_to(&dgram, me).await.unwrap();
            let req = role.recv(WAIT).await.expect("the datagram");
            assert_eq!(req.transport, Transport::Udp);
            let answer =
                MessageBuilder::response_to(&req.msg().unwrap(), 200, "OK", Some("v")).build();
            role.send(req.from, &answer).await;
            let mut d = vec![0u8; 4096];
            let (n, _) = tokio::time::timeout(WAIT, iut_udp.recv_from(&mut d))
                .await
                .expect("answered by datagram")
                .unwrap();
            assert_eq!(Message::parse(&d[..n]).unwrap().status(), Some(200));

            // 5. Lost framing closes the connection, and the evidence says so.
            conn.write_all(b"OPTIONS sip:x SIP/2.0\r\nContent-Length: many\r\n\r\n")
                .await
                .unwrap();
            let mut rest = vec![0u8; 64];
            let n = tokio::time::timeout(WAIT, conn.read(&mut rest))
                .await
                .expect("closed in time")
                .unwrap_or(0);
            assert_eq!(n, 0);
            let notes: Vec<String> = log
                .take()
                .into_iter()
                .filter(|e| e.direction == "note")
                .map(|e| e.message)
                .collect();
            assert!(
                notes.iter().any(|n| n.contains("framing lost")),
                "{notes:?}"
            );

            // 6. The next request opens a new connection.
            let own = format!("SIP/2.0/UDP {me};branch=z9hG4bKr2;rport");
            role.send(iut, &request("OPTIONS", &own, "c4")).await;
            let (mut again, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            let m = next_message(&mut again, &mut buf).await;
            assert_eq!(Message::parse(&m).unwrap().core().call_id, "c4");

            // 7. A connection the IUT opens to the role's address (where
            // its Vias say it is) is accepted, and answered over.
            let mut inbound = net.connect_tcp(None, me, WAIT).await.unwrap();
            let theirs = request("BYE", "SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKi2", "c5");
            inbound.write_all(&theirs).await.unwrap();
            let req = role.recv(WAIT).await.expect("the BYE");
            assert_eq!(
                (req.transport, req.from),
                (Transport::Tcp, inbound.local_addr().unwrap())
            );
            let answer =
                MessageBuilder::response_to(&req.msg().unwrap(), 200, "OK", Some("w")).build();
            role.send(req.from, &answer).await;
            let mut buf = Vec::new();
            let back = next_message(&mut inbound, &mut buf).await;
            assert_eq!(Message::parse(&back).unwrap().status(), Some(200));
        });
    }

    #[test]
    fn only_the_roles_own_via_is_stamped() {
        let me: SocketAddr = "127.0.0.2:5070".parse().unwrap();
        let mine = request("INVITE", "SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bK1", "x");
        let stamped = stamp_transport(&mine, me, Transport::Tls).expect("stamped");
        let m = Message::parse(&stamped).unwrap();
        assert_eq!(m.core().via.transport, "TLS");
        assert_eq!(stamped.len(), mine.len());
        // A Via forged for another host, a response, or one already right:
        // as written.
        let forged = request("CANCEL", "SIP/2.0/UDP 127.0.0.9:5060;branch=z9hG4bK2", "y");
        assert!(stamp_transport(&forged, me, Transport::Tcp).is_none());
        let resp =
            MessageBuilder::response_to(&Message::parse(&mine).unwrap(), 200, "OK", None).build();
        assert!(stamp_transport(&resp, me, Transport::Tcp).is_none());
        assert!(stamp_transport(&stamped, me, Transport::Tls).is_none());
    }
}

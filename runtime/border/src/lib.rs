//! `speermint-border`: the driver of the reference SBE. It owns the
//! element's sockets (from a [`speermint_net::Network`]: loopback or the
//! simulated network) and its clock, feeds the [`Sbe`] node what arrives,
//! carries out what it asks, and runs the LUF/LRF when it asks for a
//! route. It holds no policy: which transport a message takes, what a
//! failed lookup means on the wire and every misbehaviour switch are the
//! node's; bytes from a TCP or TLS connection go in as they are read (the
//! node frames them, RFC 3261 §18.3), each connection named by its
//! [`Path`] with the transport it came in on.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use speermint_net::{Listener, Network, UdpSock};
use speermint_resolver::{LocateError, Locator};
use speermint_sbe::{
    Command, Event, Hop, Input, LookupFailure, Node, Output, Path, Resolved, Sbe, SbeConfig,
    Transport,
};
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Errors of the drivers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A socket could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
}

/// A TLS listener for the SBE (RFC 3261 §26.2, RFC 5922): where, and with
/// which certificate.
#[derive(Clone)]
pub struct TlsListen {
    /// Address to bind (port 0 picks one).
    pub bind: SocketAddr,
    /// Certificate chain and key, protocol versions.
    pub config: Arc<rustls::ServerConfig>,
    /// Settings for the TLS connections the element opens (its own
    /// certificate, the roots it trusts servers by): with them it sends
    /// `sips:` requests over TLS ([`Outbound`]); without, it opens none.
    pub client: Option<Arc<rustls::ClientConfig>>,
}

/// How the element opens connections when its node asks
/// ([`speermint_sbe::Event::Connect`]): on which network, and with which
/// TLS client settings. The settings carry the element's certificate
/// (mutual TLS, RFC 6404 §4.5) and the roots it trusts; rustls checks the
/// server's certificate against the name the node gives (RFC 5922 §7.2).
#[derive(Clone)]
pub struct Outbound {
    /// The network to connect on.
    pub net: Network,
    /// TLS client settings.
    pub tls: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for TlsListen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsListen")
            .field("bind", &self.bind)
            .finish()
    }
}

/// A reference SBE running on a UDP socket, and optionally TCP and TLS
/// listeners.
#[derive(Debug)]
pub struct RunningSbe {
    addr: SocketAddr,
    tcp_addr: Option<SocketAddr>,
    tls_addr: Option<SocketAddr>,
    stop: Vec<oneshot::Sender<()>>,
    tasks: Vec<JoinHandle<()>>,
    events: mpsc::Receiver<Event>,
    recorder: Arc<Recorder>,
}

/// One UDP datagram the element read or wrote, handed to the function
/// given to [`RunningSbe::on_datagram`] as it happens: what a harness
/// shows of traffic between elements no role sees (a multi-SSP ladder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// When the driver read or wrote it (the network's clock: virtual on
    /// the simulated network).
    pub at: tokio::time::Instant,
    /// Sender.
    pub from: SocketAddr,
    /// Receiver.
    pub to: SocketAddr,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// Where datagrams go once someone asks; until then a relay under load
/// pays one atomic load per datagram.
type DatagramSink = Box<dyn Fn(Datagram) + Send + Sync>;

#[derive(Default)]
struct Recorder {
    sink: std::sync::OnceLock<DatagramSink>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("on", &self.sink.get().is_some())
            .finish()
    }
}

impl Recorder {
    fn record(&self, from: SocketAddr, to: SocketAddr, bytes: &[u8]) {
        if let Some(sink) = self.sink.get() {
            sink(Datagram {
                at: tokio::time::Instant::now(),
                from,
                to,
                bytes: bytes.to_vec(),
            });
        }
    }
}

/// Events kept for [`RunningSbe::drain_events`]: beyond it, newer events
/// are dropped, so an element nobody asks for events never grows.
const EVENTS_KEPT: usize = 4096;

/// Datagrams in flight from one worker to another before more are
/// dropped (as a full socket buffer would).
const HANDOFF_QUEUE: usize = 8192;

/// How a worker reaches the others: a datagram whose Call-ID another
/// worker owns ([`speermint_sbe::shard`]) is handed to it.
struct Shard {
    index: usize,
    peers: Vec<mpsc::Sender<(SocketAddr, Vec<u8>)>>,
    inbox: mpsc::Receiver<(SocketAddr, Vec<u8>)>,
}

impl RunningSbe {
    /// Binds `bind` (port 0 for an ephemeral one), builds the configuration
    /// from the bound address, and starts the element.
    pub async fn start_udp(
        bind: SocketAddr,
        config: impl FnOnce(SocketAddr) -> SbeConfig,
    ) -> Result<Self, Error> {
        Self::start_udp_with(bind, config, None).await
    }

    /// Like [`RunningSbe::start_udp`], with a LUF/LRF for requests whose
    /// target is a number or a domain name (set
    /// [`SbeConfig::resolve_names`]). Without one they get 404.
    pub async fn start_udp_with(
        bind: SocketAddr,
        config: impl FnOnce(SocketAddr) -> SbeConfig,
        locator: Option<Locator>,
    ) -> Result<Self, Error> {
        Self::start(bind, None, config, locator).await
    }

    /// The element on UDP at `bind` and, if given, on TLS: messages framed
    /// from a TLS connection enter the same core, and what the core sends
    /// to that connection's far end goes back over it (RFC 3261 §18.2.2).
    pub async fn start(
        bind: SocketAddr,
        tls: Option<TlsListen>,
        config: impl FnOnce(SocketAddr) -> SbeConfig,
        locator: Option<Locator>,
    ) -> Result<Self, Error> {
        Self::start_streams(bind, None, tls, config, locator).await
    }

    /// Like [`RunningSbe::start`], with a plain TCP listener at `tcp` too
    /// (RFC 3261 §18: every element that serves UDP serves TCP). Port 0
    /// in `tcp` takes the UDP port when it is free on TCP, as SIP servers
    /// listen on both at one port, and an ephemeral one otherwise.
    pub async fn start_streams(
        bind: SocketAddr,
        tcp: Option<SocketAddr>,
        tls: Option<TlsListen>,
        config: impl FnOnce(SocketAddr) -> SbeConfig,
        locator: Option<Locator>,
    ) -> Result<Self, Error> {
        let net = Network::Sockets;
        // One socket of a shared address: its larger receive buffer rides
        // out bursts.
        let socket = net
            .bind_udp_shared(bind, 1)
            .await
            .and_then(|mut v| v.pop().ok_or_else(|| io::Error::other("no socket")))
            .map_err(|source| Error::Bind { addr: bind, source })?;
        let listener = match &tls {
            Some(t) => Some((
                net.listen_tcp(t.bind).await.map_err(|source| Error::Bind {
                    addr: t.bind,
                    source,
                })?,
                t.config.clone(),
            )),
            None => None,
        };
        let outbound = tls
            .as_ref()
            .and_then(|t| t.client.clone())
            .map(|tls| Outbound {
                net: net.clone(),
                tls,
            });
        let tcp = match tcp {
            Some(addr) => {
                let udp = socket
                    .local_addr()
                    .map_err(|source| Error::Bind { addr: bind, source })?;
                Some(listen_beside(&net, addr, udp).await?)
            }
            None => None,
        };
        Self::start_bound_full(socket, tcp, listener, Vec::new(), outbound, config, locator)
    }

    /// The element on UDP at `bind` with `workers` cores, each on its own
    /// socket of one shared address (SO_REUSEPORT) and its own task: a
    /// datagram goes to the worker that owns its Call-ID, so each call's
    /// state lives in one core and no state is shared. UDP only: a TLS
    /// connection would pin its calls to the worker that accepted it.
    pub async fn start_workers(
        bind: SocketAddr,
        workers: usize,
        config: impl FnOnce(SocketAddr) -> SbeConfig,
        locator: Option<Locator>,
    ) -> Result<Self, Error> {
        let sockets = Network::Sockets
            .bind_udp_shared(bind, workers)
            .await
            .map_err(|source| Error::Bind { addr: bind, source })?;
        let addr = sockets[0]
            .local_addr()
            .map_err(|source| Error::Bind { addr: bind, source })?;
        let cfg = config(addr);
        let (ev_tx, events) = mpsc::channel(EVENTS_KEPT);
        let recorder = Arc::new(Recorder::default());
        let count = sockets.len();
        let (senders, inboxes): (Vec<_>, Vec<_>) =
            (0..count).map(|_| mpsc::channel(HANDOFF_QUEUE)).unzip();
        let mut stop = Vec::new();
        let mut tasks = Vec::new();
        for (index, (socket, inbox)) in sockets.into_iter().zip(inboxes).enumerate() {
            let mut cfg = cfg.clone();
            // Distinct branches and tags per worker.
            cfg.seed ^= (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let shard = Shard {
                index,
                peers: senders.clone(),
                inbox,
            };
            let (stop_tx, stop_rx) = oneshot::channel();
            let (_conn_tx, conn_rx) = mpsc::channel(1);
            let (events, locator) = (ev_tx.clone(), locator.clone());
            let rec = recorder.clone();
            tasks.push(tokio::spawn(async move {
                let sbe = Sbe::new(cfg);
                let media = MediaSockets::start(Vec::new());
                drive(
                    socket, sbe, stop_rx, events, locator, conn_rx, shard, rec, media, None,
                )
                .await;
            }));
            stop.push(stop_tx);
        }
        Ok(Self {
            addr,
            tcp_addr: None,
            tls_addr: None,
            stop,
            tasks,
            events,
            recorder,
        })
    }

    /// Like [`RunningSbe::start`] on sockets the caller bound already, so
    /// that their addresses can be published (in DNS, say) before the
    /// element starts, with no window in which another process could
    /// take the port.
    pub fn start_bound(
        socket: UdpSock,
        tls: Option<(Listener, Arc<rustls::ServerConfig>)>,
        config: impl FnOnce(SocketAddr) -> SbeConfig,
        locator: Option<Locator>,
    ) -> Result<Self, Error> {
        Self::start_bound_streams(socket, None, tls, config, locator)
    }

    /// [`RunningSbe::start_bound`] with a plain TCP listener too.
    pub fn start_bound_streams(
        socket: UdpSock,
        tcp: Option<Listener>,
        tls: Option<(Listener, Arc<rustls::ServerConfig>)>,
        config: impl FnOnce(SocketAddr) -> SbeConfig,
        locator: Option<Locator>,
    ) -> Result<Self, Error> {
        Self::start_bound_with_media(socket, tcp, tls, Vec::new(), config, locator)
    }

    /// Like [`RunningSbe::start_bound_streams`], with the sockets of its
    /// DBE's relay ports ([`bind_media`]): what arrives on them goes to
    /// the node's DBE, and its media leaves from them. The configuration
    /// should set [`SbeConfig::media`] to the addresses and ports bound.
    pub fn start_bound_with_media(
        socket: UdpSock,
        tcp: Option<Listener>,
        tls: Option<(Listener, Arc<rustls::ServerConfig>)>,
        media: Vec<UdpSock>,
        config: impl FnOnce(SocketAddr) -> SbeConfig,
        locator: Option<Locator>,
    ) -> Result<Self, Error> {
        Self::start_bound_full(socket, tcp, tls, media, None, config, locator)
    }

    /// Like [`RunningSbe::start_bound_with_media`], opening the
    /// connections its node asks for with `outbound` (TLS to `sips:`
    /// targets, RFC 3261 §26.2.2); the configuration's
    /// [`SbeConfig::outbound_tls`] follows from it.
    pub fn start_bound_full(
        socket: UdpSock,
        tcp: Option<Listener>,
        tls: Option<(Listener, Arc<rustls::ServerConfig>)>,
        media: Vec<UdpSock>,
        outbound: Option<Outbound>,
        config: impl FnOnce(SocketAddr) -> SbeConfig,
        locator: Option<Locator>,
    ) -> Result<Self, Error> {
        let unknown = SocketAddr::from(([0, 0, 0, 0], 0));
        let addr = socket.local_addr().map_err(|source| Error::Bind {
            addr: unknown,
            source,
        })?;
        let listener = match tls {
            Some((l, config)) => {
                let a = l.local_addr().map_err(|source| Error::Bind {
                    addr: unknown,
                    source,
                })?;
                Some((l, a, TlsAcceptor::from(config)))
            }
            None => None,
        };
        let tls_addr = listener.as_ref().map(|(_, a, _)| *a);
        let tcp = match tcp {
            Some(l) => {
                let a = l.local_addr().map_err(|source| Error::Bind {
                    addr: unknown,
                    source,
                })?;
                Some((l, a))
            }
            None => None,
        };
        let tcp_addr = tcp.as_ref().map(|(_, a)| *a);
        let mut cfg = config(addr);
        cfg.tls_local = tls_addr.or(cfg.tls_local);
        cfg.tcp_local = tcp_addr.or(cfg.tcp_local);
        cfg.outbound_tls = outbound.is_some();
        let sbe = Sbe::new(cfg);
        let (stop_tx, stop_rx) = oneshot::channel();
        let (ev_tx, events) = mpsc::channel(EVENTS_KEPT);
        let (conn_tx, conn_rx) = mpsc::channel(1024);
        // One bound for both listeners' connections.
        let open = Arc::new(AtomicUsize::new(0));
        let mut acceptors = Vec::new();
        if let Some((l, local, acc)) = listener {
            let (to_core, open) = (conn_tx.clone(), open.clone());
            let on = Accepted {
                local,
                transport: Transport::Tls,
                tls: Some(acc),
            };
            acceptors.push(tokio::spawn(accept_streams(l, on, to_core, open)));
        }
        if let Some((l, local)) = tcp {
            let on = Accepted {
                local,
                transport: Transport::Tcp,
                tls: None,
            };
            acceptors.push(tokio::spawn(accept_streams(l, on, conn_tx.clone(), open)));
        }
        let (handoff, inbox) = mpsc::channel(1);
        let shard = Shard {
            index: 0,
            peers: vec![handoff],
            inbox,
        };
        let recorder = Arc::new(Recorder::default());
        let rec = recorder.clone();
        let dialer = outbound.map(|o| Dialer {
            net: o.net,
            tls: TlsConnector::from(o.tls),
            to_core: conn_tx.clone(),
        });
        let task = tokio::spawn(async move {
            let media = MediaSockets::start(media);
            drive(
                socket, sbe, stop_rx, ev_tx, locator, conn_rx, shard, rec, media, dialer,
            )
            .await;
            for a in acceptors {
                a.abort();
            }
        });
        Ok(Self {
            addr,
            tcp_addr,
            tls_addr,
            stop: vec![stop_tx],
            tasks: vec![task],
            events,
            recorder,
        })
    }

    /// The TCP listener's address, when there is one.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    /// The TLS listener's address, when there is one.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Events reported so far (relays, answers, drops), without waiting.
    pub fn drain_events(&mut self) -> Vec<Event> {
        let mut v = Vec::new();
        while let Ok(e) = self.events.try_recv() {
            v.push(e);
        }
        v
    }

    /// Calls `sink` with every UDP datagram the element reads or writes
    /// from now on, at the moment it does: a caller that logs from several
    /// elements and roles into one place gets them in the order they
    /// happened, even when the (virtual) clock shows one instant. Once per
    /// element: false if a sink is set already.
    pub fn on_datagram(&self, sink: impl Fn(Datagram) + Send + Sync + 'static) -> bool {
        self.recorder.sink.set(Box::new(sink)).is_ok()
    }

    /// Stops the element and waits for its tasks.
    pub async fn stop(mut self) {
        for s in self.stop.drain(..) {
            let _ = s.send(());
        }
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }
}

impl Drop for RunningSbe {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The event loop: one datagram, stream read, timer or resolution at a
/// time, then carry out every output. Resolutions run as tasks of their
/// own so a slow DNS server holds up only the request that needs it.
#[allow(clippy::too_many_arguments)]
async fn drive(
    socket: UdpSock,
    mut sbe: Sbe,
    mut stop: oneshot::Receiver<()>,
    events: mpsc::Sender<Event>,
    locator: Option<Locator>,
    mut conns: mpsc::Receiver<ConnEvent>,
    mut shard: Shard,
    recorder: Arc<Recorder>,
    mut media: MediaSockets,
    dialer: Option<Dialer>,
) {
    // 65 535 is the largest UDP payload; the parser's limit applies inside.
    let mut buf = vec![0u8; 65_535];
    let udp_local = socket
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    // Open connections by path (the far end and the transport): how to
    // write to them, how to end them.
    let mut writers: HashMap<Path, Conn> = HashMap::new();
    let (done_tx, mut done_rx) =
        mpsc::unbounded_channel::<(u64, Result<Resolved, LookupFailure>)>();
    let mut deadline: Option<Instant> = None;
    // Connections the node asked for that could not even be tried.
    let (done_conn, mut failed_rx) = mpsc::unbounded_channel::<(Path, String)>();
    loop {
        tokio::select! {
            biased;
            _ = &mut stop => return,
            Some((path, reason)) = failed_rx.recv() => {
                let failed = Command::ConnectFailed { path, reason };
                sbe.handle_input(now(), Input::Command(failed));
            }
            r = socket.recv_from(&mut buf) => match r {
                Ok((n, from)) => {
                    let bytes = &buf[..n];
                    recorder.record(from, udp_local, bytes);
                    let owner = speermint_sbe::shard(bytes, shard.peers.len());
                    if let Some(o) = owner.filter(|&o| o != shard.index) {
                        // Another worker's call. A full queue loses the
                        // datagram, as a full socket buffer would.
                        let _ = shard.peers[o].try_send((from, bytes.to_vec()));
                        continue;
                    }
                    let path = Path { local: udp_local, remote: from, transport: Transport::Udp };
                    sbe.handle_input(now(), Input::Datagram { path, bytes });
                }
                // ICMP port unreachable surfaces here on some systems: not fatal.
                Err(e) => tracing::debug!("recv: {e}"),
            },
            Some((local, from, bytes)) = media.inbox.recv() => {
                let path = Path { local, remote: from, transport: Transport::Udp };
                sbe.handle_input(now(), Input::Datagram { path, bytes: &bytes });
            }
            Some((from, bytes)) = shard.inbox.recv() => {
                let path = Path { local: udp_local, remote: from, transport: Transport::Udp };
                sbe.handle_input(now(), Input::Datagram { path, bytes: &bytes });
            }
            Some((id, result)) = done_rx.recv() => {
                sbe.handle_input(now(), Input::Command(Command::Resolved { id, result }));
            }
            Some(ev) = conns.recv() => match ev {
                ConnEvent::Open(path, conn) => {
                    // Bounded like the core's state (the acceptors keep
                    // to it too): beyond it, some connection is closed.
                    if writers.len() >= MAX_CONNECTIONS {
                        if let Some(k) = writers.keys().next().copied() {
                            if let Some(c) = writers.remove(&k) {
                                c.task.abort();
                            }
                        }
                    }
                    writers.insert(path, conn);
                }
                ConnEvent::Data(path, bytes) => {
                    let input = Input::StreamData { path, bytes: &bytes, closed: false };
                    sbe.handle_input(now(), input);
                }
                ConnEvent::Closed(path) => {
                    writers.remove(&path);
                    let input = Input::StreamData { path, bytes: &[], closed: true };
                    sbe.handle_input(now(), input);
                }
                ConnEvent::Failed(path, reason) => {
                    writers.remove(&path);
                    let failed = Command::ConnectFailed { path, reason };
                    sbe.handle_input(now(), Input::Command(failed));
                }
            },
            _ = sleep_until(deadline) => {
                deadline = None;
                sbe.handle_input(now(), Input::Timeout);
            }
        }
        while let Some(out) = sbe.poll_output() {
            match out {
                Output::Transmit(t) => match t.path.transport {
                    Transport::Udp => {
                        // Media leaves from the relay port it names; the
                        // recorder keeps the signalling.
                        let from = match media.sockets.get(&t.path.local) {
                            Some(s) => &**s,
                            None => {
                                recorder.record(udp_local, t.path.remote, &t.bytes);
                                &socket
                            }
                        };
                        if let Err(e) = from.send_to(&t.bytes, t.path.remote).await {
                            tracing::debug!("send to {}: {e}", t.path.remote);
                        }
                    }
                    // A full or closed connection loses the message, as a
                    // lost datagram would; the transaction layer copes. No
                    // connection: this driver opens none outbound.
                    _ => match writers.get(&t.path) {
                        Some(c) if c.writer.try_send(t.bytes).is_ok() => {}
                        _ => tracing::debug!("{}: no writable connection", t.path.remote),
                    },
                },
                Output::Close(path) => {
                    if let Some(c) = writers.remove(&path) {
                        c.task.abort();
                    }
                }
                Output::Timeout(t) => deadline = Some(t),
                Output::Event(Event::Connect { path, server_name }) => {
                    if writers.contains_key(&path) {
                        continue;
                    }
                    let Some(d) = &dialer else {
                        let why = "this element opens no connections".to_string();
                        let _ = d_fail(&done_conn, path, why);
                        continue;
                    };
                    if writers.len() >= MAX_CONNECTIONS {
                        let why = format!("{MAX_CONNECTIONS} connections open");
                        let _ = d_fail(&done_conn, path, why);
                        continue;
                    }
                    writers.insert(path, d.dial(path, server_name, udp_local));
                }
                Output::Event(Event::Resolve {
                    id,
                    target,
                    raw_enum_name,
                }) => {
                    let done = done_tx.clone();
                    match locator.clone() {
                        Some(l) => {
                            tokio::spawn(async move {
                                if let Some(name) = raw_enum_name {
                                    let _ = l
                                        .client()
                                        .query(&name, speermint_resolver::RecordType::NAPTR)
                                        .await;
                                }
                                let _ = done.send((id, resolve(&l, &target).await));
                            });
                        }
                        None => {
                            let why = LookupFailure::NotFound("no resolver configured".into());
                            let _ = done.send((id, Err(why)));
                        }
                    }
                }
                Output::Event(e) => {
                    tracing::trace!(?e);
                    let _ = events.try_send(e);
                }
            }
        }
    }
}

/// Binds a UDP socket on every relay port of `cfg` (each port of its
/// range on each of its two addresses, once when both are the same), for
/// [`RunningSbe::start_bound_with_media`].
pub async fn bind_media(
    net: &Network,
    cfg: &speermint_sbe::dbe::DbeConfig,
) -> Result<Vec<UdpSock>, Error> {
    let mut ips = vec![cfg.addresses.a];
    if cfg.addresses.b != cfg.addresses.a {
        ips.push(cfg.addresses.b);
    }
    let mut sockets = Vec::new();
    for ip in ips {
        for port in cfg.ports.clone() {
            let addr = SocketAddr::new(ip, port);
            let s = net
                .bind_udp(addr)
                .await
                .map_err(|source| Error::Bind { addr, source })?;
            sockets.push(s);
        }
    }
    Ok(sockets)
}

/// Datagrams waiting between the media sockets' readers and the event
/// loop; beyond it they are dropped, as a full socket buffer would.
const MEDIA_QUEUE: usize = 4096;

/// The DBE's relay sockets: a reader task each, feeding one queue, and
/// the sockets by local address for sending. The readers end with it.
struct MediaSockets {
    sockets: HashMap<SocketAddr, Arc<UdpSock>>,
    inbox: mpsc::Receiver<(SocketAddr, SocketAddr, Vec<u8>)>,
    readers: Vec<JoinHandle<()>>,
}

impl MediaSockets {
    fn start(sockets: Vec<UdpSock>) -> Self {
        let (tx, inbox) = mpsc::channel(MEDIA_QUEUE);
        let mut by_addr = HashMap::new();
        let mut readers = Vec::new();
        for s in sockets {
            let Ok(local) = s.local_addr() else {
                continue;
            };
            let s = Arc::new(s);
            by_addr.insert(local, s.clone());
            let tx = tx.clone();
            readers.push(tokio::spawn(async move {
                let mut buf = vec![0u8; 65_535];
                loop {
                    match s.recv_from(&mut buf).await {
                        Ok((n, from)) => {
                            let item = (local, from, buf[..n].to_vec());
                            if let Err(mpsc::error::TrySendError::Closed(_)) = tx.try_send(item) {
                                return;
                            }
                        }
                        Err(e) => tracing::debug!("media recv on {local}: {e}"),
                    }
                }
            }));
        }
        MediaSockets {
            sockets: by_addr,
            inbox,
            readers,
        }
    }
}

impl Drop for MediaSockets {
    fn drop(&mut self) {
        for r in &self.readers {
            r.abort();
        }
    }
}

/// Runs the LUF/LRF and hands back what it found: every hop with its
/// transport, or the failure by kind. What that means on the wire is the
/// node's decision ([`LookupFailure::response`]).
async fn resolve(locator: &Locator, target: &str) -> Result<Resolved, LookupFailure> {
    match locator.locate(target).await {
        Ok(found) => Ok(Resolved {
            target_uri: found.target_uri,
            hops: found
                .next_hops
                .iter()
                .filter_map(|h| {
                    Transport::parse(&h.transport).map(|transport| Hop {
                        transport,
                        addr: SocketAddr::new(h.address, h.port),
                    })
                })
                .collect(),
        }),
        Err(e) => Err(failure(&e)),
    }
}

/// The resolver's error kinds, sorted into the failures the node knows.
fn failure(e: &LocateError) -> LookupFailure {
    let m = e.message.clone();
    match e.kind {
        "dnssec" => LookupFailure::Dnssec(m),
        "timeout" | "dns" | "rcode" => LookupFailure::Dns(m),
        "insecure-transport" | "unsupported-uri" => LookupFailure::NoTransport(m),
        _ => LookupFailure::NotFound(m),
    }
}

/// Reports a connection that was never tried back to the event loop.
fn d_fail(
    to: &mpsc::UnboundedSender<(Path, String)>,
    path: Path,
    why: String,
) -> Result<(), mpsc::error::SendError<(Path, String)>> {
    to.send((path, why))
}

/// Opens the connections the node asks for.
struct Dialer {
    net: Network,
    tls: TlsConnector,
    to_core: mpsc::Sender<ConnEvent>,
}

impl Dialer {
    /// Starts connecting on `path` from the element's address, with TLS
    /// as `server_name` when given; what the node sends meanwhile waits
    /// in the connection's queue. A connection that cannot be opened is
    /// reported as [`ConnEvent::Failed`]; one that opened and ends, as
    /// [`ConnEvent::Closed`], as an accepted one is.
    fn dial(&self, path: Path, server_name: Option<String>, from: SocketAddr) -> Conn {
        let (w_tx, w_rx) = mpsc::channel::<Vec<u8>>(64);
        let (net, tls, core) = (self.net.clone(), self.tls.clone(), self.to_core.clone());
        let task = tokio::spawn(async move {
            let local = SocketAddr::new(from.ip(), 0);
            let tcp = match net
                .connect_tcp(Some(local), path.remote, HANDSHAKE_TIMEOUT)
                .await
            {
                Ok(t) => t,
                Err(e) => {
                    let why = format!("connect: {e}");
                    let _ = core.send(ConnEvent::Failed(path, why)).await;
                    return;
                }
            };
            match server_name {
                Some(name) => {
                    let server = match rustls::pki_types::ServerName::try_from(name.clone()) {
                        Ok(s) => s,
                        Err(e) => {
                            let why = format!("{name:?} is not a server name: {e}");
                            let _ = core.send(ConnEvent::Failed(path, why)).await;
                            return;
                        }
                    };
                    let hs =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.connect(server, tcp)).await;
                    match hs {
                        Ok(Ok(stream)) => serve(stream, path, &core, w_rx).await,
                        Ok(Err(e)) => {
                            let _ = core.send(ConnEvent::Failed(path, e.to_string())).await;
                            return;
                        }
                        Err(_) => {
                            let why = "TLS handshake timed out".to_string();
                            let _ = core.send(ConnEvent::Failed(path, why)).await;
                            return;
                        }
                    }
                }
                None => serve(tcp, path, &core, w_rx).await,
            }
            let _ = core.send(ConnEvent::Closed(path)).await;
        });
        Conn {
            writer: w_tx,
            task: task.abort_handle(),
        }
    }
}

/// An open connection, as the event loop sees it.
#[derive(Debug)]
struct Conn {
    writer: mpsc::Sender<Vec<u8>>,
    task: tokio::task::AbortHandle,
}

/// Most TCP and TLS connections served at once, both listeners together.
const MAX_CONNECTIONS: usize = 256;

/// What the stream side tells the event loop.
enum ConnEvent {
    /// A connection on this path, and how to write to and end it.
    Open(Path, Conn),
    /// Bytes read from it, as read.
    Data(Path, Vec<u8>),
    /// It ended.
    Closed(Path),
    /// A connection the node asked for could not be opened, and why.
    Failed(Path, String),
}

/// What a listener's connections are: its address, their transport, and
/// for TLS the handshake to run first.
struct Accepted {
    local: SocketAddr,
    transport: Transport,
    tls: Option<TlsAcceptor>,
}

/// A TCP listener at `want`; port 0 takes the UDP socket's port when TCP
/// has it free, else any.
async fn listen_beside(
    net: &Network,
    want: SocketAddr,
    udp: SocketAddr,
) -> Result<Listener, Error> {
    if want.port() == 0 {
        if let Ok(l) = net.listen_tcp(SocketAddr::new(want.ip(), udp.port())).await {
            return Ok(l);
        }
    }
    net.listen_tcp(want)
        .await
        .map_err(|source| Error::Bind { addr: want, source })
}

/// Accepts connections; each gets a task that passes what it reads to the
/// node and writes the node's output out. `open` counts the connections
/// of every listener, so that together they stay under the bound.
async fn accept_streams(
    mut listener: Listener,
    on: Accepted,
    to_core: mpsc::Sender<ConnEvent>,
    open: Arc<AtomicUsize>,
) {
    loop {
        let Ok((tcp, from)) = listener.accept().await else {
            continue;
        };
        if open.load(Ordering::Relaxed) >= MAX_CONNECTIONS {
            continue; // dropped: closes the socket
        }
        open.fetch_add(1, Ordering::Relaxed);
        let path = Path {
            local: on.local,
            remote: from,
            transport: on.transport,
        };
        let (w_tx, w_rx) = mpsc::channel::<Vec<u8>>(64);
        let (acceptor, core) = (on.tls.clone(), to_core.clone());
        let task = tokio::spawn(async move {
            match acceptor {
                Some(acceptor) => {
                    // A handshake that stalls must not hold a slot for ever.
                    let hs = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await;
                    if let Ok(Ok(stream)) = hs {
                        serve(stream, path, &core, w_rx).await;
                    }
                }
                None => serve(tcp, path, &core, w_rx).await,
            }
        });
        let conn = Conn {
            writer: w_tx,
            task: task.abort_handle(),
        };
        let _ = to_core.send(ConnEvent::Open(path, conn)).await;
        let (closed, open) = (to_core.clone(), open.clone());
        tokio::spawn(async move {
            // Aborted by the node's Close, or ended by the far end.
            let _ = task.await;
            let _ = closed.send(ConnEvent::Closed(path)).await;
            open.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// How long a connection may stay silent (RFC 5626 keep-alives are CRLFs,
/// which count as traffic).
const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Moves bytes between one connection (plain or TLS) and the core.
async fn serve<S: AsyncRead + AsyncWrite>(
    stream: S,
    path: Path,
    to_core: &mpsc::Sender<ConnEvent>,
    mut w_rx: mpsc::Receiver<Vec<u8>>,
) {
    let (mut rd, mut wr) = tokio::io::split(stream);
    let writer = async move {
        while let Some(bytes) = w_rx.recv().await {
            if wr.write_all(&bytes).await.is_err() {
                return;
            }
        }
    };
    let reader = async {
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            let n = match tokio::time::timeout(IDLE_TIMEOUT, rd.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
                Ok(Ok(n)) => n,
            };
            if to_core
                .send(ConnEvent::Data(path, chunk[..n].to_vec()))
                .await
                .is_err()
            {
                return;
            }
        }
    };
    tokio::select! {
        _ = writer => {}
        _ = reader => {}
    }
}

/// The time on the driver's network: tokio's clock, which is virtual on the
/// simulated network.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use speermint_sip::{Message, MessageBuilder};
    use std::time::Duration;

    #[tokio::test]
    async fn relays_over_real_udp_sockets() {
        let peer = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let next = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let next_addr = next.local_addr().unwrap();
        let sbe = RunningSbe::start_udp("127.0.0.1:0".parse().unwrap(), |local| {
            SbeConfig::new(local, vec![peer.local_addr().unwrap().ip()], next_addr)
        })
        .await
        .unwrap();
        let kept = Arc::new(std::sync::Mutex::new(Vec::new()));
        let into = kept.clone();
        assert!(sbe.on_datagram(move |d| into.lock().unwrap().push(d)));
        assert!(!sbe.on_datagram(|_| {}), "one sink per element");
        let opt = MessageBuilder::request("OPTIONS", "sip:x@127.0.0.1")
            .header(
                "Via",
                format!(
                    "SIP/2.0/UDP {};branch=z9hG4bKudp1",
                    peer.local_addr().unwrap()
                ),
            )
            .header("Max-Forwards", 70)
            .header("From", "<sip:p@127.0.0.1>;tag=1")
            .header("To", "<sip:x@127.0.0.1>")
            .header("Call-ID", "udp1")
            .header("CSeq", "1 OPTIONS")
            .build();
        peer.send_to(&opt, sbe.addr()).await.unwrap();
        let mut buf = vec![0; 65_535];
        let (n, from) = tokio::time::timeout(Duration::from_secs(5), next.recv_from(&mut buf))
            .await
            .expect("relayed within 5 s")
            .unwrap();
        assert_eq!(from, sbe.addr());
        let fwd = Message::parse(&buf[..n]).unwrap();
        assert_eq!(fwd.method(), "OPTIONS");
        assert_eq!(fwd.vias().count(), 2);
        // What it read and what it wrote, in order, with their ends.
        let ends: Vec<_> = kept
            .lock()
            .unwrap()
            .iter()
            .map(|d| (d.from, d.to))
            .collect();
        assert_eq!(
            ends,
            [
                (peer.local_addr().unwrap(), sbe.addr()),
                (sbe.addr(), next_addr)
            ]
        );
        sbe.stop().await;
    }
}

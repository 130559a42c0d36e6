//! `speermint-border`: runs the sans-IO cores of the reference stack on
//! real sockets: UDP, and TLS for the SBE (framed per RFC 3261 §18.3).
//! This is the only place with tokio, sockets and a clock; the protocol
//! logic lives in `speermint-sip` and stays testable without it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use speermint_net::{Listener, Network, Stream, UdpSock};
use speermint_resolver::{LocateError, Locator};
use speermint_sip::proxy::{Event, Output, Resolved, Sbe, SbeConfig, Unresolved};
use speermint_sip::{Framing, Limits};
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

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
}

impl std::fmt::Debug for TlsListen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsListen")
            .field("bind", &self.bind)
            .finish()
    }
}

/// A reference SBE running on a UDP socket, and optionally a TLS listener.
#[derive(Debug)]
pub struct RunningSbe {
    addr: SocketAddr,
    tls_addr: Option<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    events: mpsc::UnboundedReceiver<Event>,
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
        let net = Network::Sockets;
        let socket = net
            .bind_udp(bind)
            .await
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
        Self::start_bound(socket, listener, config, locator)
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
        let sbe = Sbe::new(config(addr));
        let limits = sbe.limits();
        let (stop_tx, stop_rx) = oneshot::channel();
        let (ev_tx, events) = mpsc::unbounded_channel();
        let (conn_tx, conn_rx) = mpsc::channel(1024);
        let acceptor =
            listener.map(|(l, _, acc)| tokio::spawn(accept_tls(l, acc, conn_tx, limits)));
        let task = tokio::spawn(async move {
            drive(socket, sbe, stop_rx, ev_tx, locator, conn_rx).await;
            if let Some(a) = acceptor {
                a.abort();
            }
        });
        Ok(Self {
            addr,
            tls_addr,
            stop: Some(stop_tx),
            task: Some(task),
            events,
        })
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

    /// Stops the element and waits for its task.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for RunningSbe {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

/// The event loop: one datagram, timer or resolution at a time, then
/// drain outputs. Resolutions run as tasks of their own so a slow DNS
/// server holds up only the request that needs it.
async fn drive(
    socket: UdpSock,
    mut sbe: Sbe,
    mut stop: oneshot::Receiver<()>,
    events: mpsc::UnboundedSender<Event>,
    locator: Option<Locator>,
    mut conns: mpsc::Receiver<ConnEvent>,
) {
    // 65 535 is the largest UDP payload; the parser's limit applies inside.
    let mut buf = vec![0u8; 65_535];
    // Far ends of open TLS connections, and how to write to them.
    let mut writers: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>> = HashMap::new();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(u64, Result<Resolved, Unresolved>)>();
    loop {
        let deadline = sbe.poll_timeout();
        tokio::select! {
            _ = &mut stop => return,
            r = socket.recv_from(&mut buf) => match r {
                Ok((n, from)) => sbe.handle_datagram(now(), from, &buf[..n]),
                // ICMP port unreachable surfaces here on some systems: not fatal.
                Err(e) => tracing::debug!("recv: {e}"),
            },
            Some((id, result)) = done_rx.recv() => sbe.on_resolved(now(), id, result),
            Some(ev) = conns.recv() => match ev {
                ConnEvent::Open(from, writer) => {
                    // Bounded like the core's state: beyond it, the oldest
                    // connection is forgotten (its task ends on its own).
                    if writers.len() >= MAX_CONNECTIONS {
                        if let Some(k) = writers.keys().next().copied() {
                            writers.remove(&k);
                        }
                    }
                    writers.insert(from, writer);
                }
                ConnEvent::Message(from, bytes) => {
                    sbe.handle_stream_message(now(), from, &bytes)
                }
                ConnEvent::Closed(from) => {
                    writers.remove(&from);
                }
            },
            _ = sleep_until(deadline) => sbe.handle_timeout(now()),
        }
        while let Some(out) = sbe.poll_output() {
            match out {
                Output::Transmit { to, bytes } => match writers.get(&to) {
                    // A full or closed connection loses the message, as a
                    // lost datagram would; the transaction layer copes.
                    Some(w) => {
                        if w.try_send(bytes).is_err() {
                            tracing::debug!("tls to {to}: connection busy or closed");
                        }
                    }
                    None => {
                        if let Err(e) = socket.send_to(&bytes, to).await {
                            tracing::debug!("send to {to}: {e}");
                        }
                    }
                },
                Output::Event(e) => {
                    tracing::trace!(?e);
                    let _ = events.send(e);
                }
                Output::Resolve { id, target } => {
                    let done = done_tx.clone();
                    let raw_enum = sbe.faults().raw_enum_query;
                    match locator.clone() {
                        Some(l) => {
                            tokio::spawn(async move {
                                if raw_enum {
                                    raw_enum_query(&l, &target).await;
                                }
                                let _ = done.send((id, resolve(&l, &target).await));
                            });
                        }
                        None => {
                            let _ = done.send((
                                id,
                                Err(Unresolved {
                                    status: 404,
                                    reason: "Not Found - no resolver configured".into(),
                                }),
                            ));
                        }
                    }
                }
            }
        }
    }
}

/// Runs the LUF/LRF and maps the outcome to what the SBE sends: UDP
/// hops, or a final response whose reason names the cause.
async fn resolve(locator: &Locator, target: &str) -> Result<Resolved, Unresolved> {
    match locator.locate(target).await {
        Ok(found) => Ok(Resolved {
            target_uri: found.target_uri,
            hops: found
                .next_hops
                .iter()
                .filter(|h| h.transport == "udp")
                .map(|h| SocketAddr::new(h.address, h.port))
                .collect(),
        }),
        Err(e) => Err(unresolved(&e)),
    }
}

/// The `raw-enum-query` fault: the ENUM domain of the unfiltered `tel:`
/// text, one character per label, as a LUF without input validation
/// would ask it (RFC 6404 §4.1).
async fn raw_enum_query(locator: &Locator, target: &str) {
    let Some(raw) = target.strip_prefix("tel:") else {
        return;
    };
    // Characters a host name may hold go through as labels; the rest
    // would not even make a query name.
    let labels: Vec<String> = raw
        .chars()
        .rev()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .map(String::from)
        .collect();
    let name = format!("{}.e164.arpa", labels.join("."));
    let _ = locator
        .client()
        .query(&name, speermint_resolver::RecordType::NAPTR)
        .await;
}

fn unresolved(e: &LocateError) -> Unresolved {
    let (status, what) = match e.kind {
        // RFC 6404 §4.2: a forged answer is a failure of the service, not
        // a statement that the target does not exist.
        "dnssec" => (503, "Service Unavailable - DNSSEC validation failed"),
        "timeout" | "dns" | "rcode" => (503, "Service Unavailable - DNS failure"),
        "insecure-transport" | "unsupported-uri" => (502, "Bad Gateway - no usable transport"),
        _ => (404, "Not Found"),
    };
    Unresolved {
        status,
        reason: speermint_sip::sanitize_phrase(&format!("{what}: {}", e.message)),
    }
}

/// Most TLS connections served at once.
const MAX_CONNECTIONS: usize = 256;

/// What the TLS side tells the event loop.
enum ConnEvent {
    /// A connection from this far end, and its writer.
    Open(SocketAddr, mpsc::Sender<Vec<u8>>),
    /// One framed message from it.
    Message(SocketAddr, Vec<u8>),
    /// It ended.
    Closed(SocketAddr),
}

/// Accepts TLS connections; each gets a task that frames messages in and
/// writes the core's output out.
async fn accept_tls(
    mut listener: Listener,
    acceptor: TlsAcceptor,
    to_core: mpsc::Sender<ConnEvent>,
    limits: Limits,
) {
    let open = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    loop {
        let Ok((tcp, from)) = listener.accept().await else {
            continue;
        };
        if open.load(std::sync::atomic::Ordering::Relaxed) >= MAX_CONNECTIONS {
            continue; // dropped: closes the socket
        }
        let (acceptor, to_core, open) = (acceptor.clone(), to_core.clone(), open.clone());
        tokio::spawn(async move {
            open.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // A handshake that stalls must not hold a slot for ever.
            let hs = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await;
            if let Ok(Ok(stream)) = hs {
                serve_tls(stream, from, &to_core, &limits).await;
            }
            let _ = to_core.send(ConnEvent::Closed(from)).await;
            open.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        });
    }
}

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// How long a connection may stay silent (RFC 5626 keep-alives are CRLFs,
/// which count as traffic).
const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

async fn serve_tls(
    stream: tokio_rustls::server::TlsStream<Stream>,
    from: SocketAddr,
    to_core: &mpsc::Sender<ConnEvent>,
    limits: &Limits,
) {
    let (mut rd, mut wr) = tokio::io::split(stream);
    let (w_tx, mut w_rx) = mpsc::channel::<Vec<u8>>(64);
    if to_core.send(ConnEvent::Open(from, w_tx)).await.is_err() {
        return;
    }
    let writer = async move {
        while let Some(bytes) = w_rx.recv().await {
            if wr.write_all(&bytes).await.is_err() {
                return;
            }
        }
    };
    let reader = async {
        let mut buf: Vec<u8> = Vec::with_capacity(4096);
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            let n = match tokio::time::timeout(IDLE_TIMEOUT, rd.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
                Ok(Ok(n)) => n,
            };
            buf.extend_from_slice(&chunk[..n]);
            loop {
                match speermint_sip::frame(&buf, limits) {
                    Ok(Framing::Complete { start, end }) => {
                        let msg = buf[start..end].to_vec();
                        buf.drain(..end);
                        if to_core.send(ConnEvent::Message(from, msg)).await.is_err() {
                            return;
                        }
                    }
                    Ok(Framing::KeepAlive { len }) => {
                        buf.drain(..len);
                    }
                    Ok(Framing::Incomplete { .. }) => break,
                    // RFC 3261 §18.3: a stream whose framing is lost cannot
                    // be resynchronised; close it.
                    Err(e) => {
                        tracing::debug!("tls from {from}: {e}");
                        return;
                    }
                }
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
        sbe.stop().await;
    }
}

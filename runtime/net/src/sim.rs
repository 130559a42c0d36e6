//! The simulated network: every node of a run in one process, datagrams
//! and stream bytes passed through a hub that can impair each link, and a
//! tap that records everything with its virtual time.
//!
//! It runs on a paused tokio runtime ([`SimNet::runtime`]): when every task
//! waits, tokio moves the clock straight to the next timer. Waiting out a
//! SIP Timer B (64·T1 = 32 s, RFC 3261 §17.1.1.2) therefore takes
//! microseconds, and a run is repeatable: one thread, a seeded generator
//! for impairments, no real I/O.

use crate::Transport;
use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use tokio::sync::mpsc;

/// Datagrams a simulated socket holds before it drops more (a receive
/// buffer: a flood is lost, not stored).
const SOCKET_QUEUE: usize = 4096;
/// Bytes in flight each way on a simulated stream before the writer waits.
const STREAM_WINDOW: usize = 256 * 1024;
/// The tap keeps at most this many records and this many payload bytes;
/// beyond either it counts what it did not keep.
const TAP_RECORDS: usize = 200_000;
const TAP_BYTES: usize = 64 * 1024 * 1024;
/// First ephemeral port handed out per address.
const EPHEMERAL: u16 = 40_000;

/// How a link misbehaves. The default is a perfect link.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Impairment {
    /// Probability (0..=1) that a datagram is lost.
    pub loss: f64,
    /// Probability (0..=1) that a datagram arrives twice.
    pub duplicate: f64,
    /// Fixed one-way delay.
    pub delay: Duration,
    /// Extra delay drawn uniformly from 0 up to this, per datagram: later
    /// datagrams can overtake earlier ones (reordering).
    pub jitter: Duration,
}

/// What became of a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TapVerdict {
    /// Handed to the receiving socket this long after it was sent.
    Delivered(Duration),
    /// A copy made by the link's duplication, delivered this long after.
    Duplicated(Duration),
    /// Lost by the link's loss probability.
    Lost,
    /// The sender or the receiver is silent.
    Silenced,
    /// Nothing listens at the destination.
    NoListener,
    /// The receiver's queue was full.
    Overflow,
}

/// One record of the tap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapRecord {
    /// Virtual time since the network was made.
    pub at: Duration,
    /// Sender.
    pub from: SocketAddr,
    /// Receiver.
    pub to: SocketAddr,
    /// UDP for datagrams; TCP for bytes written on a stream.
    pub transport: Transport,
    /// The bytes.
    pub bytes: Vec<u8>,
    /// What became of them.
    pub verdict: TapVerdict,
}

/// The simulated network. Clones share it.
#[derive(Debug, Clone)]
pub struct SimNet {
    hub: Arc<Mutex<Hub>>,
}

type Datagram = (SocketAddr, Vec<u8>);

#[derive(Debug)]
struct Hub {
    start: tokio::time::Instant,
    rng: u64,
    udp: HashMap<SocketAddr, mpsc::Sender<Datagram>>,
    listeners: HashMap<SocketAddr, mpsc::Sender<(SimStream, SocketAddr)>>,
    streams_bound: HashSet<SocketAddr>,
    next_port: HashMap<IpAddr, u16>,
    links: Vec<(Option<IpAddr>, Option<IpAddr>, Impairment)>,
    silent: HashSet<SocketAddr>,
    tap: Vec<TapRecord>,
    tap_bytes: usize,
    tap_missed: usize,
}

impl Hub {
    /// splitmix64: small, seeded, good enough to draw impairments.
    fn next_u64(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    fn is_silent(&self, a: SocketAddr) -> bool {
        self.silent.contains(&a) || self.silent.contains(&SocketAddr::new(a.ip(), 0))
    }

    fn impairment(&self, from: IpAddr, to: IpAddr) -> Impairment {
        // The most recent matching rule wins.
        self.links
            .iter()
            .rev()
            .find(|(f, t, _)| f.is_none_or(|f| f == from) && t.is_none_or(|t| t == to))
            .map(|(_, _, i)| *i)
            .unwrap_or_default()
    }

    fn record(
        &mut self,
        from: SocketAddr,
        to: SocketAddr,
        t: Transport,
        bytes: &[u8],
        v: TapVerdict,
    ) {
        if self.tap.len() >= TAP_RECORDS || self.tap_bytes + bytes.len() > TAP_BYTES {
            self.tap_missed += 1;
            return;
        }
        self.tap_bytes += bytes.len();
        let at = tokio::time::Instant::now().saturating_duration_since(self.start);
        self.tap.push(TapRecord {
            at,
            from,
            to,
            transport: t,
            bytes: bytes.to_vec(),
            verdict: v,
        });
    }

    fn ephemeral(
        &mut self,
        ip: IpAddr,
        taken: impl Fn(&Hub, SocketAddr) -> bool,
    ) -> io::Result<SocketAddr> {
        let start = *self.next_port.get(&ip).unwrap_or(&EPHEMERAL);
        let mut port = start;
        loop {
            let a = SocketAddr::new(ip, port);
            port = if port == u16::MAX {
                EPHEMERAL
            } else {
                port + 1
            };
            if !taken(self, a) {
                self.next_port.insert(ip, port);
                return Ok(a);
            }
            if port == start {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    "no free simulated port",
                ));
            }
        }
    }
}

/// The simulated network has no wildcard: a socket bound to "any" gets the
/// loopback address of its family, so its datagrams carry a real source.
fn concrete(a: SocketAddr) -> SocketAddr {
    if a.ip().is_unspecified() {
        let ip = match a.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        };
        SocketAddr::new(ip, a.port())
    } else {
        a
    }
}

impl SimNet {
    /// A perfect network; `seed` draws the impairments added later.
    pub fn new(seed: u64) -> Self {
        Self {
            hub: Arc::new(Mutex::new(Hub {
                start: tokio::time::Instant::now(),
                rng: seed,
                udp: HashMap::new(),
                listeners: HashMap::new(),
                streams_bound: HashSet::new(),
                next_port: HashMap::new(),
                links: Vec::new(),
                silent: HashSet::new(),
                tap: Vec::new(),
                tap_bytes: 0,
                tap_missed: 0,
            })),
        }
    }

    /// A runtime for the simulated network: one thread, clock paused (it
    /// advances only when every task waits).
    pub fn runtime() -> io::Result<tokio::runtime::Runtime> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
    }

    fn hub(&self) -> MutexGuard<'_, Hub> {
        self.hub.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Impairs datagrams from `from` to `to` (`None`: any address). Later
    /// rules take precedence over earlier ones.
    pub fn impair(&self, from: Option<IpAddr>, to: Option<IpAddr>, how: Impairment) {
        self.hub().links.push((from, to, how));
    }

    /// Makes the node at `addr` (port 0: every port of the address) fall
    /// silent, or speak again: while silent nothing it sends leaves and
    /// nothing sent to it arrives, as with a crashed host.
    pub fn set_silent(&self, addr: SocketAddr, silent: bool) {
        let mut h = self.hub();
        if silent {
            h.silent.insert(addr);
        } else {
            h.silent.remove(&addr);
        }
    }

    /// Every record so far, in order.
    pub fn tap(&self) -> Vec<TapRecord> {
        self.hub().tap.clone()
    }

    /// Takes the records so far, leaving the tap empty.
    pub fn take_tap(&self) -> Vec<TapRecord> {
        let mut h = self.hub();
        h.tap_bytes = 0;
        std::mem::take(&mut h.tap)
    }

    /// Records the tap could not keep (its bounds were reached).
    pub fn tap_missed(&self) -> usize {
        self.hub().tap_missed
    }

    pub(crate) fn bind_udp(&self, addr: SocketAddr) -> io::Result<SimUdp> {
        let addr = concrete(addr);
        let mut h = self.hub();
        let addr = if addr.port() == 0 {
            h.ephemeral(addr.ip(), |h, a| h.udp.contains_key(&a))?
        } else if h.udp.contains_key(&addr) {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{addr} in use"),
            ));
        } else {
            addr
        };
        let (tx, rx) = mpsc::channel(SOCKET_QUEUE);
        h.udp.insert(addr, tx);
        Ok(SimUdp {
            net: self.clone(),
            addr,
            rx: Mutex::new(rx),
        })
    }

    pub(crate) fn listen_tcp(&self, addr: SocketAddr) -> io::Result<SimListener> {
        let addr = concrete(addr);
        let mut h = self.hub();
        let addr = if addr.port() == 0 {
            h.ephemeral(addr.ip(), |h, a| {
                h.listeners.contains_key(&a) || h.streams_bound.contains(&a)
            })?
        } else if h.listeners.contains_key(&addr) {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{addr} in use"),
            ));
        } else {
            addr
        };
        let (tx, rx) = mpsc::channel(1024);
        h.listeners.insert(addr, tx);
        Ok(SimListener {
            net: self.clone(),
            addr,
            rx,
        })
    }

    pub(crate) async fn connect_tcp(
        &self,
        local: Option<SocketAddr>,
        remote: SocketAddr,
    ) -> io::Result<SimStream> {
        let (listener, local, silent) = {
            let mut h = self.hub();
            let ip = local.map_or_else(
                || concrete(SocketAddr::new(remote.ip(), 0)).ip(),
                |l| concrete(l).ip(),
            );
            let local = match local {
                Some(l) if l.port() != 0 => concrete(l),
                _ => h.ephemeral(ip, |h, a| {
                    h.streams_bound.contains(&a) || h.listeners.contains_key(&a)
                })?,
            };
            let silent = h.is_silent(local) || h.is_silent(remote);
            (h.listeners.get(&remote).cloned(), local, silent)
        };
        if silent {
            // A SYN into a black hole: the caller's timeout ends the wait.
            std::future::pending::<()>().await;
        }
        let Some(listener) = listener else {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("nothing listens at {remote}"),
            ));
        };
        let (a, b) = tokio::io::duplex(STREAM_WINDOW);
        let client = SimStream {
            net: self.clone(),
            local,
            remote,
            io: a,
        };
        let server = SimStream {
            net: self.clone(),
            local: remote,
            remote: local,
            io: b,
        };
        self.hub().streams_bound.insert(local);
        listener.send((server, local)).await.map_err(|_| {
            io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("{remote} stopped listening"),
            )
        })?;
        Ok(client)
    }

    /// Routes one datagram through the link's impairments to its receiver.
    fn send_datagram(&self, from: SocketAddr, to: SocketAddr, bytes: &[u8]) {
        let mut h = self.hub();
        if h.is_silent(from) || h.is_silent(to) {
            h.record(from, to, Transport::Udp, bytes, TapVerdict::Silenced);
            return;
        }
        let how = h.impairment(from.ip(), to.ip());
        if h.chance(how.loss) {
            h.record(from, to, Transport::Udp, bytes, TapVerdict::Lost);
            return;
        }
        let copies = if h.chance(how.duplicate) { 2 } else { 1 };
        for copy in 0..copies {
            let jitter = if how.jitter.is_zero() {
                Duration::ZERO
            } else {
                let n = h.next_u64() % (how.jitter.as_micros() as u64 + 1);
                Duration::from_micros(n)
            };
            let delay = how.delay + jitter;
            if delay.is_zero() {
                let v = deliver(&mut h, from, to, bytes.to_vec());
                let v = if copy == 1 && v == TapVerdict::Delivered(Duration::ZERO) {
                    TapVerdict::Duplicated(Duration::ZERO)
                } else {
                    v
                };
                h.record(from, to, Transport::Udp, bytes, v);
            } else {
                let v = if copy == 1 {
                    TapVerdict::Duplicated(delay)
                } else {
                    TapVerdict::Delivered(delay)
                };
                h.record(from, to, Transport::Udp, bytes, v);
                let net = self.clone();
                let bytes = bytes.to_vec();
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let mut h = net.hub();
                    // Silence that began in flight still swallows it.
                    if h.is_silent(to) {
                        return;
                    }
                    deliver(&mut h, from, to, bytes);
                });
            }
        }
    }
}

fn deliver(h: &mut Hub, from: SocketAddr, to: SocketAddr, bytes: Vec<u8>) -> TapVerdict {
    match h.udp.get(&to) {
        None => TapVerdict::NoListener,
        Some(tx) => match tx.try_send((from, bytes)) {
            Ok(()) => TapVerdict::Delivered(Duration::ZERO),
            Err(mpsc::error::TrySendError::Full(_)) => TapVerdict::Overflow,
            Err(mpsc::error::TrySendError::Closed(_)) => TapVerdict::NoListener,
        },
    }
}

/// A simulated UDP socket.
#[derive(Debug)]
pub struct SimUdp {
    net: SimNet,
    addr: SocketAddr,
    rx: Mutex<mpsc::Receiver<Datagram>>,
}

impl SimUdp {
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub(crate) fn send_to(&self, bytes: &[u8], to: SocketAddr) -> usize {
        self.net.send_datagram(self.addr, to, bytes);
        bytes.len()
    }

    fn take(d: Datagram, buf: &mut [u8]) -> (usize, SocketAddr) {
        let n = d.1.len().min(buf.len());
        buf[..n].copy_from_slice(&d.1[..n]);
        (n, d.0)
    }

    pub(crate) fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        let mut rx = self.rx.lock().unwrap_or_else(|p| p.into_inner());
        match rx.poll_recv(cx) {
            Poll::Ready(Some(d)) => Poll::Ready(Ok(Self::take(d, buf))),
            // The hub holds the sender for as long as the socket lives.
            Poll::Ready(None) => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
            Poll::Pending => Poll::Pending,
        }
    }

    pub(crate) fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let mut rx = self.rx.lock().unwrap_or_else(|p| p.into_inner());
        match rx.try_recv() {
            Ok(d) => Ok(Self::take(d, buf)),
            Err(_) => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl Drop for SimUdp {
    fn drop(&mut self) {
        self.net.hub().udp.remove(&self.addr);
    }
}

/// A simulated stream listener.
#[derive(Debug)]
pub struct SimListener {
    net: SimNet,
    addr: SocketAddr,
    rx: mpsc::Receiver<(SimStream, SocketAddr)>,
}

impl SimListener {
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub(crate) async fn accept(&mut self) -> io::Result<(SimStream, SocketAddr)> {
        self.rx
            .recv()
            .await
            .ok_or_else(|| io::ErrorKind::NotConnected.into())
    }
}

impl Drop for SimListener {
    fn drop(&mut self) {
        self.net.hub().listeners.remove(&self.addr);
    }
}

/// One end of a simulated stream connection. What it writes is tapped.
#[derive(Debug)]
pub struct SimStream {
    net: SimNet,
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
    io: DuplexStream,
}

impl AsyncRead for SimStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        {
            let mut h = this.net.hub();
            if h.is_silent(this.local) || h.is_silent(this.remote) {
                // Swallowed, like segments into a dead host.
                h.record(
                    this.local,
                    this.remote,
                    Transport::Tcp,
                    buf,
                    TapVerdict::Silenced,
                );
                return Poll::Ready(Ok(buf.len()));
            }
        }
        match Pin::new(&mut this.io).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                this.net.hub().record(
                    this.local,
                    this.remote,
                    Transport::Tcp,
                    &buf[..n],
                    TapVerdict::Delivered(Duration::ZERO),
                );
                Poll::Ready(Ok(n))
            }
            other => other,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

impl Drop for SimStream {
    fn drop(&mut self) {
        self.net.hub().streams_bound.remove(&self.local);
    }
}

//! `speermint-net`: the networks that drivers run nodes on.
//!
//! A driver (the reference SBE's border driver, the resolver, the DNS
//! role, each harness role) asks a [`Network`] for sockets and the time,
//! and never names tokio's sockets or `Instant::now` itself. Two networks
//! stand behind the one interface:
//!
//! - [`Network::Sockets`]: UDP and TCP sockets of the operating system and
//!   the real clock, for external IUTs and `certify --sockets`.
//! - [`Network::Sim`]: an in-process network ([`SimNet`]) on the virtual
//!   clock of a paused tokio runtime. Nothing leaves the process; links can
//!   lose, delay, reorder and duplicate datagrams; a node can fall silent;
//!   one tap records every datagram with its virtual time.
//!
//! The time of both is tokio's: under a paused runtime it is virtual, so a
//! driver that reads [`Network::now`] and sleeps with tokio runs on either.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod sim;

pub use sim::{Impairment, SimNet, TapRecord, TapVerdict};
pub use speermint_node::Transport;

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Where nodes exchange bytes, and what time it is there.
#[derive(Debug, Clone)]
pub enum Network {
    /// The host's sockets and the real clock.
    Sockets,
    /// The simulated network (its runtime must be started paused; see
    /// [`SimNet::runtime`]).
    Sim(SimNet),
}

impl Network {
    /// Whether this is the simulated network.
    pub fn is_simulated(&self) -> bool {
        matches!(self, Network::Sim(_))
    }

    /// The simulated network, if this is it.
    pub fn sim(&self) -> Option<&SimNet> {
        match self {
            Network::Sim(s) => Some(s),
            Network::Sockets => None,
        }
    }

    /// Now, on this network's clock (virtual on the simulated network).
    pub fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    /// `workers` UDP sockets on one address, for a server whose cores
    /// each own a socket: SO_REUSEPORT over sockets (the kernel spreads
    /// datagrams by address and port pair), with receive buffers sized
    /// for bursts (4 MiB asked; the kernel caps it at `net.core.rmem_max`).
    /// Port 0 picks one port for all. On the simulated network, one
    /// worker only.
    pub async fn bind_udp_shared(
        &self,
        addr: SocketAddr,
        workers: usize,
    ) -> io::Result<Vec<UdpSock>> {
        match self {
            Network::Sockets => {
                // One worker shares its port with no one.
                let reuse = workers > 1;
                let first = shared_udp(addr, reuse)?;
                let addr = first.local_addr()?;
                let mut all = vec![UdpSock::Os(first)];
                for _ in 1..workers.max(1) {
                    all.push(UdpSock::Os(shared_udp(addr, reuse)?));
                }
                Ok(all)
            }
            Network::Sim(s) if workers <= 1 => Ok(vec![UdpSock::Sim(s.bind_udp(addr)?)]),
            Network::Sim(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the simulated network has no shared ports: one worker",
            )),
        }
    }

    /// Binds a UDP socket (port 0: an ephemeral one).
    pub async fn bind_udp(&self, addr: SocketAddr) -> io::Result<UdpSock> {
        match self {
            Network::Sockets => Ok(UdpSock::Os(tokio::net::UdpSocket::bind(addr).await?)),
            Network::Sim(s) => Ok(UdpSock::Sim(s.bind_udp(addr)?)),
        }
    }

    /// Listens for stream connections (port 0: an ephemeral one).
    pub async fn listen_tcp(&self, addr: SocketAddr) -> io::Result<Listener> {
        match self {
            Network::Sockets => Ok(Listener::Os(tokio::net::TcpListener::bind(addr).await?)),
            Network::Sim(s) => Ok(Listener::Sim(s.listen_tcp(addr)?)),
        }
    }

    /// Opens a stream connection from `local` (an address to bind, port 0
    /// for any) to `remote`, giving up after `timeout`.
    pub async fn connect_tcp(
        &self,
        local: Option<SocketAddr>,
        remote: SocketAddr,
        timeout: Duration,
    ) -> io::Result<Stream> {
        let connect = async {
            match self {
                Network::Sockets => {
                    let socket = if remote.is_ipv4() {
                        tokio::net::TcpSocket::new_v4()?
                    } else {
                        tokio::net::TcpSocket::new_v6()?
                    };
                    if let Some(l) = local {
                        socket.bind(l)?;
                    }
                    Ok(Stream::Os(socket.connect(remote).await?))
                }
                Network::Sim(s) => s.connect_tcp(local, remote).await.map(Stream::Sim),
            }
        };
        tokio::time::timeout(timeout, connect)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, format!("connect to {remote}")))?
    }
}

/// A UDP socket on either network.
#[derive(Debug)]
pub enum UdpSock {
    /// An operating-system socket.
    Os(tokio::net::UdpSocket),
    /// A simulated one.
    Sim(sim::SimUdp),
}

impl UdpSock {
    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            UdpSock::Os(s) => s.local_addr(),
            UdpSock::Sim(s) => Ok(s.local_addr()),
        }
    }

    /// Sends one datagram.
    pub async fn send_to(&self, bytes: &[u8], to: SocketAddr) -> io::Result<usize> {
        match self {
            UdpSock::Os(s) => s.send_to(bytes, to).await,
            UdpSock::Sim(s) => Ok(s.send_to(bytes, to)),
        }
    }

    /// Waits for one datagram; it is cut to `buf`'s length.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        std::future::poll_fn(|cx| self.poll_recv_from(cx, buf)).await
    }

    /// Polls for one datagram.
    pub fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        match self {
            UdpSock::Os(s) => {
                let mut rb = ReadBuf::new(buf);
                match s.poll_recv_from(cx, &mut rb) {
                    Poll::Ready(Ok(from)) => Poll::Ready(Ok((rb.filled().len(), from))),
                    Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                    Poll::Pending => Poll::Pending,
                }
            }
            UdpSock::Sim(s) => s.poll_recv_from(cx, buf),
        }
    }

    /// Polls to send one datagram (the simulated network never pushes back).
    pub fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        bytes: &[u8],
        to: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        match self {
            UdpSock::Os(s) => s.poll_send_to(cx, bytes, to),
            UdpSock::Sim(s) => Poll::Ready(Ok(s.send_to(bytes, to))),
        }
    }

    /// A datagram already waiting, without waiting.
    pub fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        match self {
            UdpSock::Os(s) => s.try_recv_from(buf),
            UdpSock::Sim(s) => s.try_recv_from(buf),
        }
    }
}

/// A stream listener on either network.
#[derive(Debug)]
pub enum Listener {
    /// An operating-system listener.
    Os(tokio::net::TcpListener),
    /// A simulated one.
    Sim(sim::SimListener),
}

impl Listener {
    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Listener::Os(l) => l.local_addr(),
            Listener::Sim(l) => Ok(l.local_addr()),
        }
    }

    /// The next connection and its far end.
    pub async fn accept(&mut self) -> io::Result<(Stream, SocketAddr)> {
        match self {
            Listener::Os(l) => l.accept().await.map(|(s, a)| (Stream::Os(s), a)),
            Listener::Sim(l) => l.accept().await.map(|(s, a)| (Stream::Sim(s), a)),
        }
    }
}

/// A stream connection on either network.
#[derive(Debug)]
pub enum Stream {
    /// An operating-system TCP connection.
    Os(tokio::net::TcpStream),
    /// A simulated one.
    Sim(sim::SimStream),
}

impl Stream {
    /// This end's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Stream::Os(s) => s.local_addr(),
            Stream::Sim(s) => Ok(s.local),
        }
    }

    /// The far end's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Stream::Os(s) => s.peer_addr(),
            Stream::Sim(s) => Ok(s.remote),
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Os(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Sim(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Os(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Sim(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Os(s) => Pin::new(s).poll_flush(cx),
            Stream::Sim(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Os(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Sim(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// One socket of [`Network::bind_udp_shared`].
fn shared_udp(addr: SocketAddr, reuse: bool) -> io::Result<tokio::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    #[cfg(unix)]
    if reuse {
        socket.set_reuse_port(true)?;
    }
    // A larger buffer is a wish, not a requirement.
    let _ = socket.set_recv_buffer_size(4 << 20);
    let _ = socket.set_send_buffer_size(4 << 20);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    tokio::net::UdpSocket::from_std(socket.into())
}

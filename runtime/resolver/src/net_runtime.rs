//! hickory's runtime over a [`Network`]: the resolver asks the network for
//! its sockets and sleeps on tokio's clock, so the same client validates
//! answers from real servers over loopback and from the DNS role on the
//! simulated network, where its timeouts run in virtual time.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hickory_resolver::net::runtime::iocompat::AsyncIoTokioAsStd;
use hickory_resolver::net::runtime::{DnsUdpSocket, RuntimeProvider, TokioHandle, TokioTime};
use speermint_net::{Network, Stream, UdpSock};

/// How long a TCP connection to a DNS server may take to open, when
/// hickory names no limit.
const CONNECT: Duration = Duration::from_secs(5);

/// A [`RuntimeProvider`] whose sockets come from a [`Network`].
#[derive(Clone)]
pub(crate) struct NetRuntime {
    net: Network,
    handle: TokioHandle,
}

impl NetRuntime {
    /// Sockets from `net`.
    pub(crate) fn new(net: Network) -> Self {
        Self {
            net,
            handle: TokioHandle::default(),
        }
    }
}

/// A UDP socket of the network, as hickory wants it.
#[derive(Debug)]
pub(crate) struct NetUdp(UdpSock);

#[async_trait::async_trait]
impl DnsUdpSocket for NetUdp {
    type Time = TokioTime;

    fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.0.poll_recv_from(cx, buf)
    }

    fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        target: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        self.0.poll_send_to(cx, buf, target)
    }
}

impl RuntimeProvider for NetRuntime {
    type Handle = TokioHandle;
    type Timer = TokioTime;
    type Udp = NetUdp;
    type Tcp = AsyncIoTokioAsStd<Stream>;

    fn create_handle(&self) -> Self::Handle {
        self.handle.clone()
    }

    fn connect_tcp(
        &self,
        server_addr: SocketAddr,
        bind_addr: Option<SocketAddr>,
        timeout: Option<Duration>,
    ) -> Pin<Box<dyn Send + Future<Output = Result<Self::Tcp, io::Error>>>> {
        let net = self.net.clone();
        Box::pin(async move {
            net.connect_tcp(bind_addr, server_addr, timeout.unwrap_or(CONNECT))
                .await
                .map(AsyncIoTokioAsStd)
        })
    }

    fn bind_udp(
        &self,
        local_addr: SocketAddr,
        _server_addr: SocketAddr,
    ) -> Pin<Box<dyn Send + Future<Output = Result<Self::Udp, io::Error>>>> {
        let net = self.net.clone();
        Box::pin(async move { net.bind_udp(local_addr).await.map(NetUdp) })
    }
}

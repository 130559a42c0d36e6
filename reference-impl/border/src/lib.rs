//! `speermint-border`: runs the sans-IO cores of the reference stack on
//! real sockets. This is the only place with tokio, sockets and a clock;
//! the protocol logic lives in `speermint-sip` and stays testable without it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use speermint_dns::{LocateError, Locator};
use speermint_sip::proxy::{Event, Output, Resolved, Sbe, SbeConfig, Unresolved};
use std::io;
use std::net::SocketAddr;
use std::time::Instant;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

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

/// A reference SBE running on a UDP socket.
#[derive(Debug)]
pub struct RunningSbe {
    addr: SocketAddr,
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
        let socket = UdpSocket::bind(bind)
            .await
            .map_err(|source| Error::Bind { addr: bind, source })?;
        let addr = socket
            .local_addr()
            .map_err(|source| Error::Bind { addr: bind, source })?;
        let sbe = Sbe::new(config(addr));
        let (stop_tx, stop_rx) = oneshot::channel();
        let (ev_tx, events) = mpsc::unbounded_channel();
        let task = tokio::spawn(drive(socket, sbe, stop_rx, ev_tx, locator));
        Ok(Self {
            addr,
            stop: Some(stop_tx),
            task: Some(task),
            events,
        })
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
    socket: UdpSocket,
    mut sbe: Sbe,
    mut stop: oneshot::Receiver<()>,
    events: mpsc::UnboundedSender<Event>,
    locator: Option<Locator>,
) {
    // 65 535 is the largest UDP payload; the parser's limit applies inside.
    let mut buf = vec![0u8; 65_535];
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(u64, Result<Resolved, Unresolved>)>();
    loop {
        let deadline = sbe.poll_timeout();
        tokio::select! {
            _ = &mut stop => return,
            r = socket.recv_from(&mut buf) => match r {
                Ok((n, from)) => sbe.handle_datagram(Instant::now(), from, &buf[..n]),
                // ICMP port unreachable surfaces here on some systems: not fatal.
                Err(e) => tracing::debug!("recv: {e}"),
            },
            Some((id, result)) = done_rx.recv() => sbe.on_resolved(Instant::now(), id, result),
            _ = sleep_until(deadline) => sbe.handle_timeout(Instant::now()),
        }
        while let Some(out) = sbe.poll_output() {
            match out {
                Output::Transmit { to, bytes } => {
                    if let Err(e) = socket.send_to(&bytes, to).await {
                        tracing::debug!("send to {to}: {e}");
                    }
                }
                Output::Event(e) => {
                    tracing::trace!(?e);
                    let _ = events.send(e);
                }
                Output::Resolve { id, target } => {
                    let done = done_tx.clone();
                    match locator.clone() {
                        Some(l) => {
                            tokio::spawn(async move {
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
        let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let next = UdpSocket::bind("127.0.0.1:0").await.unwrap();
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

//! The `tls-peer` role: the peer domain's TLS SBE, which the DNS role
//! advertises for `sips:` targets (`_sips._tcp`, RFC 3263 §4.1). It
//! accepts the connections the IUT opens, presents the certificate the
//! check chooses (for the peer's domain, or for another one the IUT must
//! refuse, RFC 5922 §7.2), asks for the IUT's certificate without
//! requiring it (so that a missing one is seen, not refused), and records
//! every handshake, every SIP message, and every connection that spoke
//! in the clear. It answers an INVITE 486 and any other request 200, so
//! that the IUT's transactions end.

use crate::role::EvidenceLog;
use speermint_net::{Network, Transport};
use speermint_sip::{Message, MessageBuilder};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

/// One connection to the role, and what it came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConn {
    /// The IUT's end.
    pub from: SocketAddr,
    /// The TLS session (the client certificate's subjectAltName dNSNames,
    /// empty when it presented none), or why there was none. A
    /// connection that spoke in the clear is `Err` with `plaintext`.
    pub outcome: Result<Vec<String>, String>,
    /// The first bytes were not a TLS handshake: SIP in the clear.
    pub plaintext: bool,
    /// Requests received over it (their start lines).
    pub requests: Vec<String>,
}

#[derive(Debug, Default)]
struct State {
    conns: Vec<TlsConn>,
}

/// Connections recorded between two [`TlsRole::take`] calls.
const KEPT: usize = 256;

/// The running role.
pub struct TlsRole {
    addr: SocketAddr,
    presented: Arc<Mutex<Arc<rustls::ServerConfig>>>,
    state: Arc<Mutex<State>>,
    conns: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for TlsRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsRole")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for TlsRole {
    fn drop(&mut self) {
        self.task.abort();
        for t in lock(&self.conns).drain(..) {
            t.abort();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl TlsRole {
    /// Listens at `addr` (port 0 picks one), presenting `config`.
    pub async fn bind(
        net: &Network,
        addr: SocketAddr,
        config: Arc<rustls::ServerConfig>,
        log: EvidenceLog,
    ) -> std::io::Result<Self> {
        let mut listener = net.listen_tcp(addr).await?;
        let addr = listener.local_addr()?;
        let presented = Arc::new(Mutex::new(config));
        let state = Arc::new(Mutex::new(State::default()));
        let conns: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::new(Mutex::new(Vec::new()));
        let (p, st, open) = (presented.clone(), state.clone(), conns.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, from)) = listener.accept().await else {
                    tokio::task::yield_now().await;
                    continue;
                };
                let mut tasks = lock(&open);
                tasks.retain(|t| !t.is_finished());
                if tasks.len() >= 64 {
                    continue; // dropped: closes it
                }
                let config = lock(&p).clone();
                let (st, log) = (st.clone(), log.clone());
                let t = tokio::spawn(serve(tcp, from, addr, config, st, log));
                tasks.push(t.abort_handle());
            }
        });
        Ok(Self {
            addr,
            presented,
            state,
            conns,
            task,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Presents `config` to the connections that come from now on, and
    /// closes those open: the IUT must connect, and authenticate the
    /// role, afresh.
    pub fn present(&self, config: Arc<rustls::ServerConfig>) {
        *lock(&self.presented) = config;
        for t in lock(&self.conns).drain(..) {
            t.abort();
        }
    }

    /// The connections recorded since the last call.
    pub fn take(&self) -> Vec<TlsConn> {
        std::mem::take(&mut lock(&self.state).conns)
    }
}

/// Bytes already read, then the stream: the first read decides TLS or
/// not, and the handshake must still see them.
struct Prefixed<S> {
    head: Vec<u8>,
    inner: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if !self.head.is_empty() {
            let n = self.head.len().min(buf.remaining());
            buf.put_slice(&self.head[..n]);
            self.head.drain(..n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// How long a connection may stay quiet before the role ends it.
const IDLE: Duration = Duration::from_secs(60);

fn record(st: &Mutex<State>, c: TlsConn) -> usize {
    let mut g = lock(st);
    if g.conns.len() < KEPT {
        g.conns.push(c);
    }
    g.conns.len() - 1
}

async fn serve(
    mut tcp: speermint_net::Stream,
    from: SocketAddr,
    me: SocketAddr,
    config: Arc<rustls::ServerConfig>,
    st: Arc<Mutex<State>>,
    log: EvidenceLog,
) {
    let mut head = vec![0u8; 4096];
    let n = match tokio::time::timeout(IDLE, tcp.read(&mut head)).await {
        Ok(Ok(n)) if n > 0 => n,
        _ => return,
    };
    head.truncate(n);
    // A TLS record starts with its content type, 22 for a handshake
    // (RFC 8446 §5.1); SIP starts with a method's letters.
    if head[0] != 22 {
        let line = String::from_utf8_lossy(&head)
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        log.record_on("tls-peer", "received", me, from, Transport::Tcp, &head);
        log.note(
            "tls-peer",
            format!("{from} spoke in the clear on the TLS port: {line}"),
        );
        record(
            &st,
            TlsConn {
                from,
                outcome: Err("no TLS handshake".into()),
                plaintext: true,
                requests: vec![line],
            },
        );
        return;
    }
    let io = Prefixed { head, inner: tcp };
    let accept = tokio_rustls::TlsAcceptor::from(config).accept(io);
    let tls = match tokio::time::timeout(IDLE, accept).await {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => {
            log.note("tls-peer", format!("TLS handshake from {from} failed: {e}"));
            record(
                &st,
                TlsConn {
                    from,
                    outcome: Err(e.to_string()),
                    plaintext: false,
                    requests: Vec::new(),
                },
            );
            return;
        }
        Err(_) => return,
    };
    let names = {
        let (_, conn) = tls.get_ref();
        conn.peer_certificates()
            .and_then(|c| c.first())
            .map(|c| crate::pki::dns_names(c))
            .unwrap_or_default()
    };
    log.note(
        "tls-peer",
        format!(
            "TLS session with {from}; its certificate names {}",
            if names.is_empty() {
                "nothing (none presented)".to_string()
            } else {
                names.join(", ")
            }
        ),
    );
    let at = record(
        &st,
        TlsConn {
            from,
            outcome: Ok(names),
            plaintext: false,
            requests: Vec::new(),
        },
    );
    let (mut rd, mut wr) = tokio::io::split(tls);
    let limits = speermint_sip::Limits::default();
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        while let Ok(speermint_sip::Framing::Complete { start, end }) =
            speermint_sip::frame(&buf, &limits)
        {
            let bytes = buf[start..end].to_vec();
            buf.drain(..end);
            log.record_on("tls-peer", "received", me, from, Transport::Tls, &bytes);
            let Ok(m) = Message::parse(&bytes) else {
                continue;
            };
            if !m.is_request() {
                continue;
            }
            if let Some(c) = lock(&st).conns.get_mut(at) {
                let line = String::from_utf8_lossy(&bytes)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                c.requests.push(line);
            }
            let answer = match m.method() {
                "ACK" => None,
                "INVITE" => Some(MessageBuilder::response_to(
                    &m,
                    486,
                    "Busy Here",
                    Some("tp1"),
                )),
                _ => Some(MessageBuilder::response_to(&m, 200, "OK", Some("tp1"))),
            };
            if let Some(a) = answer {
                let out = a.build();
                log.record_on("tls-peer", "sent", me, from, Transport::Tls, &out);
                if wr.write_all(&out).await.is_err() {
                    return;
                }
            }
        }
        if buf.len() > 128 * 1024 {
            return;
        }
        match tokio::time::timeout(IDLE, rd.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return,
        }
    }
}

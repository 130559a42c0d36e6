//! A role the harness plays (peer, stranger, terminating peer): a UDP socket
//! of the run's network on its own address, recording every message it
//! sends or receives as evidence. Times are the network's: virtual on the
//! simulated network.

use serde::Serialize;
use speermint_net::{Network, UdpSock};
use speermint_sip::Message;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
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
    /// What the pcap is written from: the datagram as it was on the wire,
    /// with its addresses and when (since the run began, on the run's
    /// clock). Absent for notes.
    #[serde(skip)]
    pub wire: Option<Wire>,
}

/// One datagram as a role saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wire {
    /// Sender.
    pub from: SocketAddr,
    /// Receiver.
    pub to: SocketAddr,
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
            wire: Some(Wire {
                from,
                to,
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
            wire: None,
        });
    }
}

/// A datagram a role received.
#[derive(Debug, Clone)]
pub struct Received {
    /// Sender.
    pub from: SocketAddr,
    /// Bytes.
    pub bytes: Vec<u8>,
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
    reader: tokio::task::JoinHandle<()>,
    /// Datagrams received but not yet consumed by a matching wait.
    backlog: VecDeque<Received>,
}

impl Drop for Role {
    fn drop(&mut self) {
        self.reader.abort();
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
        let reader = tokio::spawn(read_loop(name, socket.clone(), log.clone(), tx));
        Ok(Self {
            name,
            socket,
            addr,
            log,
            inbox,
            reader,
            backlog: VecDeque::new(),
        })
    }

    /// The role's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The address the role sends from.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sends one datagram; a failure is noted in the evidence.
    pub async fn send(&self, to: SocketAddr, bytes: &[u8]) {
        let _ = self.try_send(to, bytes).await;
    }

    /// Sends one datagram and says whether the network took it (a send can
    /// fail when the target is unreachable from the role's address).
    pub async fn try_send(&self, to: SocketAddr, bytes: &[u8]) -> std::io::Result<()> {
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
    }
}

/// Takes datagrams off the role's socket as they arrive, records each, and
/// queues it for the scenario.
async fn read_loop(
    name: &'static str,
    socket: std::sync::Arc<UdpSock>,
    log: EvidenceLog,
    inbox: tokio::sync::mpsc::Sender<Received>,
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
                if inbox.try_send(Received { from, bytes }).is_err() {
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

//! Framing of stream transports (RFC 3261 §18.3): bytes from each TCP or
//! TLS connection are buffered until a whole message (by Content-Length)
//! is there. The node does this, not the driver, so that the driver only
//! moves bytes. State is bounded: a connection holds at most one message's
//! worth of bytes, and the number of connections is capped.

use speermint_node::Path;
use speermint_sip::{Framing, Limits, frame};
use std::collections::HashMap;

/// Connections framed at once; beyond it the least recently fed one is
/// forgotten (its next bytes start a new buffer, and lose their framing).
const MAX_CONNECTIONS: usize = 1024;

/// What became of a connection after its latest bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Still framing.
    Open,
    /// Its framing is lost (or it closed with a partial message): close it.
    Close,
}

#[derive(Debug, Default)]
pub(crate) struct Streams {
    buffers: HashMap<Path, (Vec<u8>, u64)>,
    clock: u64,
}

impl Streams {
    /// An open connection to `remote`, if bytes came from one and it has
    /// not closed: a request for that address reuses it (RFC 3261 §18.1.1,
    /// RFC 5923 §4).
    pub(crate) fn open_to(&self, remote: std::net::SocketAddr) -> Option<Path> {
        self.buffers.keys().find(|p| p.remote == remote).copied()
    }

    /// Connections being framed, and the most bytes one of them holds.
    pub(crate) fn state(&self) -> (usize, usize) {
        let most = self.buffers.values().map(|(b, _)| b.len()).max();
        (self.buffers.len(), most.unwrap_or(0))
    }

    /// Adds `bytes` read from `path` and returns the whole messages now
    /// framed, in order.
    pub(crate) fn feed(
        &mut self,
        path: Path,
        bytes: &[u8],
        closed: bool,
        limits: &Limits,
    ) -> (Vec<Vec<u8>>, Verdict) {
        self.clock += 1;
        if !self.buffers.contains_key(&path) && self.buffers.len() >= MAX_CONNECTIONS {
            if let Some(oldest) = self
                .buffers
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(p, _)| *p)
            {
                self.buffers.remove(&oldest);
            }
        }
        let clock = self.clock;
        let entry = self.buffers.entry(path).or_insert((Vec::new(), clock));
        entry.1 = clock;
        let buf = &mut entry.0;
        buf.extend_from_slice(bytes);
        let mut messages = Vec::new();
        let mut verdict = Verdict::Open;
        loop {
            match frame(buf, limits) {
                Ok(Framing::Complete { start, end }) => {
                    messages.push(buf[start..end].to_vec());
                    buf.drain(..end);
                }
                Ok(Framing::KeepAlive { len }) => {
                    buf.drain(..len);
                }
                Ok(Framing::Incomplete { .. }) => {
                    // The parser's size limit bounds what an incomplete
                    // message may hold; beyond it `frame` errs.
                    break;
                }
                // A stream whose framing is lost cannot be resynchronised.
                Err(_) => {
                    verdict = Verdict::Close;
                    break;
                }
            }
        }
        if closed || verdict == Verdict::Close {
            self.buffers.remove(&path);
        }
        (messages, verdict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use speermint_node::Transport;

    fn path(port: u16) -> Path {
        Path {
            local: "127.0.0.1:5061".parse().unwrap(),
            remote: std::net::SocketAddr::from(([127, 0, 0, 2], port)),
            transport: Transport::Tls,
        }
    }

    const MSG: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TLS h;branch=z9hG4bK1\r\nContent-Length: 2\r\n\r\nhi";

    #[test]
    fn messages_split_across_reads_are_framed_per_connection() {
        let mut s = Streams::default();
        let l = Limits::default();
        let (a, b) = MSG.split_at(30);
        assert!(s.feed(path(1), a, false, &l).0.is_empty());
        // Another connection's bytes do not mix in.
        assert!(s.feed(path(2), &MSG[..10], false, &l).0.is_empty());
        let mut two = b.to_vec();
        two.extend_from_slice(b"\r\n\r\n");
        two.extend_from_slice(MSG);
        let (got, v) = s.feed(path(1), &two, false, &l);
        assert_eq!((got.len(), v), (2, Verdict::Open));
        assert!(got.iter().all(|m| m == MSG));
    }

    #[test]
    fn lost_framing_closes_and_state_stays_bounded() {
        let mut s = Streams::default();
        let l = Limits::default();
        let (_, v) = s.feed(
            path(1),
            b"garbage without a start line\r\nContent-Length: x\r\n\r\n",
            false,
            &l,
        );
        assert_eq!(v, Verdict::Close);
        for port in 0..(MAX_CONNECTIONS as u16 + 50) {
            s.feed(path(port), b"OPTIONS", false, &l);
        }
        assert!(s.buffers.len() <= MAX_CONNECTIONS);
    }
}

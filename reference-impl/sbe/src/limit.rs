//! Per-peer rate limiting (RFC 6404 §4.9): each authorised peer may start
//! so many requests per second, so that one peer's flood cannot take the
//! element from the others (the SF "flooding attack" threat, §2.3.3).
//!
//! The limit is per source address, as §4.9 allows, and per configured
//! peer only: strangers are refused before they get here, so the state is
//! one bucket per peer whatever arrives. §4.9 also suggests limiting
//! concurrent sessions rather than messages, since sessions are what cost
//! the backend: [`Sessions`] counts each peer's calls from the INVITE it
//! admits until a failure answers it or a BYE ends it.

use crate::transaction::ServerKey;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// What a peer may send, and what it gets beyond that.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeerLimits {
    /// New requests per second (retransmissions and ACKs are not counted:
    /// the transaction layer absorbs the first, and refusing the second
    /// would leave a call half set up).
    pub requests_per_sec: f64,
    /// How many may come at once after a quiet spell (the bucket size).
    pub burst: f64,
    /// Calls a peer may have set up or ringing at once.
    pub sessions: usize,
    /// A call whose BYE never crossed the element is forgotten after this,
    /// so that lost BYEs cannot shut a peer out for good.
    pub session_max_age: Duration,
    /// What a request over the limit gets.
    pub over_limit: OverLimit,
}

impl Default for PeerLimits {
    /// Room for a carrier trunk: 50,000 requests/s per peer, about 16,000
    /// calls/s of INVITE, BYE and re-INVITE; a deployment sets its own.
    fn default() -> Self {
        Self {
            requests_per_sec: 50_000.0,
            burst: 50_000.0,
            sessions: 100_000,
            session_max_age: Duration::from_secs(2 * 3600),
            over_limit: OverLimit::Reject { retry_after: 5 },
        }
    }
}

/// The answer to a request over the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverLimit {
    /// 503 with `Retry-After: retry_after` seconds (RFC 3261 §21.5.4), so
    /// a well-behaved peer backs off.
    Reject {
        /// Seconds.
        retry_after: u32,
    },
    /// Silence: costs the element nothing more under a flood.
    Drop,
}

/// One token bucket per configured peer, in the order of `SbeConfig::peers`.
#[derive(Debug, Default)]
pub(crate) struct Limiter {
    buckets: Vec<Bucket>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Option<Instant>,
}

impl Limiter {
    /// Whether a new request from `ip`, one of `peers`, is within its
    /// limit; takes a token if so. A source that is not a configured peer
    /// (only possible under the `accept-strangers` fault) is not limited.
    /// `shared`: the `shared-rate-limit` fault, one bucket for everyone.
    pub(crate) fn admit(
        &mut self,
        now: Instant,
        ip: IpAddr,
        peers: &[IpAddr],
        limits: &PeerLimits,
        shared: bool,
    ) -> bool {
        let Some(i) = peers.iter().position(|p| *p == ip) else {
            return true;
        };
        let i = if shared { 0 } else { i };
        if self.buckets.len() < peers.len() {
            self.buckets.resize(
                peers.len(),
                Bucket {
                    tokens: limits.burst,
                    last: None,
                },
            );
        }
        let b = &mut self.buckets[i];
        if let Some(last) = b.last {
            let dt = now.saturating_duration_since(last).as_secs_f64();
            b.tokens = (b.tokens + dt * limits.requests_per_sec).min(limits.burst);
        }
        b.last = Some(now);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Each peer's calls in progress, by Call-ID (the BYE finds them so), and
/// the INVITE transaction that may still fail each. A call is one Call-ID:
/// a peer that reuses a branch once its transaction ended starts a call
/// that counts, and that call's failure ends it, not the earlier one.
/// At most `sessions` per configured peer, so bounded by configuration.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    by_call: HashMap<Box<str>, Session>,
    /// The call each INVITE transaction started (the latest one, if a
    /// branch was reused).
    by_invite: HashMap<ServerKey, Box<str>>,
    /// Per peer: live sessions and when they were last swept for age.
    per_peer: Vec<(usize, Option<Instant>)>,
}

#[derive(Debug)]
struct Session {
    peer: usize,
    invite: ServerKey,
    started: Instant,
}

impl Sessions {
    /// Whether peer `peer` (an index into the configured peers) may start
    /// another call. At the limit, calls older than the maximum age are
    /// forgotten first, at most once a second per peer (a scan).
    pub(crate) fn admit(&mut self, now: Instant, peer: usize, limits: &PeerLimits) -> bool {
        if self.per_peer.len() <= peer {
            self.per_peer.resize(peer + 1, (0, None));
        }
        if self.per_peer[peer].0 < limits.sessions {
            return true;
        }
        let swept = self.per_peer[peer].1;
        if swept.is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(1)) {
            self.per_peer[peer].1 = Some(now);
            let old: Vec<Box<str>> = self
                .by_call
                .iter()
                .filter(|(_, s)| {
                    s.peer == peer
                        && now.saturating_duration_since(s.started) >= limits.session_max_age
                })
                .map(|(c, _)| c.clone())
                .collect();
            for c in old {
                self.end_call(&c);
            }
        }
        self.per_peer[peer].0 < limits.sessions
    }

    /// A call from `peer` was admitted and its INVITE relayed. Idempotent:
    /// a failover relays the same INVITE again.
    pub(crate) fn start(&mut self, now: Instant, key: &ServerKey, call_id: &str, peer: usize) {
        if self.by_call.contains_key(call_id) {
            return;
        }
        if self.per_peer.len() <= peer {
            self.per_peer.resize(peer + 1, (0, None));
        }
        self.per_peer[peer].0 += 1;
        // A reused key now names this call; the earlier one was set up or
        // its INVITE would still be live, so only a BYE or age ends it.
        self.by_invite.insert(key.clone(), call_id.into());
        self.by_call.insert(
            call_id.into(),
            Session {
                peer,
                invite: key.clone(),
                started: now,
            },
        );
    }

    /// The INVITE failed (a final answer of 300 or above went upstream).
    pub(crate) fn end_invite(&mut self, key: &ServerKey) {
        if let Some(call_id) = self.by_invite.get(key).cloned() {
            self.end_call(&call_id);
        }
    }

    /// A BYE for `call_id` crossed, from either side.
    pub(crate) fn end_call(&mut self, call_id: &str) {
        if let Some(s) = self.by_call.remove(call_id) {
            if self
                .by_invite
                .get(&s.invite)
                .is_some_and(|c| **c == *call_id)
            {
                self.by_invite.remove(&s.invite);
            }
            self.per_peer[s.peer].0 -= 1;
        }
    }

    /// Calls in progress, all peers.
    pub(crate) fn len(&self) -> usize {
        self.by_call.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_peer_gets_its_burst_then_its_rate_and_others_are_untouched() {
        let peers: Vec<IpAddr> = vec!["10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()];
        let limits = PeerLimits {
            requests_per_sec: 10.0,
            burst: 5.0,
            over_limit: OverLimit::Drop,
            ..PeerLimits::default()
        };
        let mut l = Limiter::default();
        let t0 = Instant::now();
        let admitted = (0..20)
            .filter(|_| l.admit(t0, peers[0], &peers, &limits, false))
            .count();
        assert_eq!(admitted, 5, "the burst, at once");
        // The other peer has its own bucket.
        assert!(l.admit(t0, peers[1], &peers, &limits, false));
        // One second later ten tokens came, but the bucket holds five.
        let t1 = t0 + Duration::from_secs(1);
        let admitted = (0..20)
            .filter(|_| l.admit(t1, peers[0], &peers, &limits, false))
            .count();
        assert_eq!(admitted, 5);
        // 100 ms later: one.
        let t2 = t1 + Duration::from_millis(100);
        assert!(l.admit(t2, peers[0], &peers, &limits, false));
        assert!(!l.admit(t2, peers[0], &peers, &limits, false));
        // Not a configured peer: not limited (and no state for it).
        let stranger: IpAddr = "192.0.2.9".parse().unwrap();
        assert!((0..100).all(|_| l.admit(t2, stranger, &peers, &limits, false)));
        assert_eq!(l.buckets.len(), 2);
    }

    fn invite(branch: &str, call_id: &str) -> ServerKey {
        let text = format!(
            "INVITE sip:b@example.net SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK{branch}\r\nMax-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.net>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        );
        ServerKey::of(&speermint_sip::Message::parse(text.as_bytes()).unwrap())
    }

    #[test]
    fn sessions_are_counted_per_peer_until_a_failure_or_a_bye_or_old_age() {
        let limits = PeerLimits {
            sessions: 2,
            session_max_age: Duration::from_secs(60),
            ..PeerLimits::default()
        };
        let mut s = Sessions::default();
        let t0 = Instant::now();
        let (a, b, c) = (invite("a", "ca"), invite("b", "cb"), invite("c", "cc"));
        assert!(s.admit(t0, 0, &limits));
        s.start(t0, &a, "ca", 0);
        s.start(t0, &a, "ca", 0); // a failover relays it again: still one
        assert!(s.admit(t0, 0, &limits));
        s.start(t0, &b, "cb", 0);
        assert!(!s.admit(t0, 0, &limits), "two is the limit");
        assert!(s.admit(t0, 1, &limits), "the other peer has its own");
        s.end_invite(&a); // failed
        assert!(s.admit(t0, 0, &limits));
        s.start(t0, &c, "cc", 0);
        s.end_call("cb"); // BYE
        s.end_call("cb"); // retransmitted BYE: nothing more
        assert_eq!(s.len(), 1);
        assert!(s.admit(t0, 0, &limits));
        s.start(t0, &a, "ca", 0);
        assert!(!s.admit(t0, 0, &limits));
        // A minute on, both calls are too old to hold the peer back.
        assert!(s.admit(t0 + Duration::from_secs(61), 0, &limits));
        assert_eq!(s.len(), 0);
        assert!(s.by_invite.is_empty());
    }

    #[test]
    fn a_reused_invite_key_starts_a_call_and_fails_only_that_one() {
        let limits = PeerLimits {
            sessions: 2,
            ..PeerLimits::default()
        };
        let mut s = Sessions::default();
        let t0 = Instant::now();
        let (a, b) = (invite("a", "c1"), invite("b", "c3"));
        s.start(t0, &a, "c1", 0); // set up; its transaction ends
        s.start(t0, &a, "c2", 0); // the branch again, another call
        assert_eq!(s.len(), 2);
        assert!(!s.admit(t0, 0, &limits), "both calls count");
        s.end_invite(&a); // the second call fails
        assert_eq!(s.len(), 1);
        assert!(s.admit(t0, 0, &limits));
        s.start(t0, &b, "c3", 0);
        s.end_call("c1"); // the first call's BYE
        s.end_invite(&a); // nothing left on that key
        assert_eq!(s.len(), 1);
        s.end_call("c3");
        assert_eq!((s.len(), s.by_invite.len(), s.per_peer[0].0), (0, 0, 0));
    }
}

//! Requests waiting for the LUF/LRF, what their answers mean on the wire,
//! and failover to the next resolved hop (RFC 3263 §4.3, RFC 6404 §4.8).

use crate::transaction::{ServerKey, ServerTx, State};
use crate::{Event, Sbe};
use speermint_fault::Fault;
use speermint_node::{Path, Transport};
use speermint_sip::{HeaderName, Message, Transport as Framing, sanitize_phrase};
use std::net::SocketAddr;
use std::time::Instant;

/// A next hop the LRF found (RFC 3263 §4): transport and address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hop {
    /// How to reach it.
    pub transport: Transport,
    /// Where.
    pub addr: SocketAddr,
}

impl Hop {
    /// A UDP hop.
    pub fn udp(addr: SocketAddr) -> Self {
        Self {
            transport: Transport::Udp,
            addr,
        }
    }
}

/// Where a resolution led.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The target URI: the ENUM result for a `tel:` target; the target
    /// itself otherwise.
    pub target_uri: String,
    /// Next hops in the order RFC 3263 §4.4 says to try them, every
    /// transport the LRF found; the element picks those it can use.
    pub hops: Vec<Hop>,
}

/// Why a resolution led nowhere, as the resolver knows it. The element
/// decides what the caller is told ([`LookupFailure::response`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupFailure {
    /// An answer failed DNSSEC validation: forged, stripped or replayed on
    /// the path (RFC 6404 §4.2).
    Dnssec(String),
    /// DNS gave no usable answer: timeouts, error codes, broken transport.
    Dns(String),
    /// The target needs a transport the element cannot use (`sips:`
    /// without TLS, RFC 3261 §26.2.2) or has an unsupported scheme.
    NoTransport(String),
    /// The number is not in ENUM, or the name leads nowhere.
    NotFound(String),
}

impl LookupFailure {
    /// The final response: a forged answer is a failure of the service,
    /// never a statement that the target does not exist (RFC 6404 §4.2),
    /// so DNS and DNSSEC failures are 503; a target the element cannot
    /// reach securely is 502; only a true absence is 404.
    pub fn response(&self) -> Unresolved {
        let (status, what, detail) = match self {
            LookupFailure::Dnssec(d) => (503, "Service Unavailable - DNSSEC validation failed", d),
            LookupFailure::Dns(d) => (503, "Service Unavailable - DNS failure", d),
            LookupFailure::NoTransport(d) => (502, "Bad Gateway - no usable transport", d),
            LookupFailure::NotFound(d) => (404, "Not Found", d),
        };
        Unresolved {
            status,
            reason: sanitize_phrase(&format!("{what}: {detail}")),
        }
    }
}

/// A final response for a request that cannot be routed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved {
    /// Status code, e.g. 404 (no such number or domain), 503 (DNS failure,
    /// DNSSEC validation failure), 504 (no route in time), 487 (cancelled).
    pub status: u16,
    /// Reason phrase naming the cause.
    pub reason: String,
}

/// A request waiting for its route.
#[derive(Debug)]
pub(crate) struct Parked {
    pub(crate) key: ServerKey,
    pub(crate) deadline: Instant,
    /// Set when the lookup is not a route but an on-demand admission:
    /// whether the name the sender gave leads to this source address
    /// (`on_demand.rs`).
    pub(crate) admit: Option<std::net::IpAddr>,
}

/// The `raw-enum-query` fault: the ENUM domain of the unfiltered `tel:`
/// text, one character per label, as a LUF without input validation
/// would ask it (RFC 6404 §4.1).
fn raw_enum_name(target: &str) -> Option<String> {
    let raw = target.strip_prefix("tel:")?;
    // Characters a host name may hold go through as labels; the rest
    // would not even make a query name.
    let labels: Vec<String> = raw
        .chars()
        .rev()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .map(String::from)
        .collect();
    Some(format!("{}.e164.arpa", labels.join(".")))
}

impl Sbe {
    /// Holds a request while the LUF/LRF resolve its target. The server
    /// transaction exists at once, so retransmissions are absorbed (and an
    /// INVITE gets its 100, RFC 3261 §16.2) instead of asking again.
    /// With `admit`, the lookup decides whether that source may peer on
    /// demand, and nothing is sent to it before (no 100 to a stranger).
    pub(crate) fn park(
        &mut self,
        now: Instant,
        from: Path,
        req: &Message<'_>,
        key: ServerKey,
        target: String,
        admit: Option<std::net::IpAddr>,
    ) {
        if self.server.contains_key(&key) {
            // Only an ACK gets here with its key taken (it looks up its
            // INVITE's transaction instead): a retransmission of an ACK
            // already parked. A second entry would share its transaction.
            self.drop_msg(from.remote, crate::DropReason::Retransmission);
            return;
        }
        if self.server.len() + self.client.len() >= self.cfg.max_transactions {
            // Again only an ACK: relayed at once it needs no transaction, so
            // it skipped the room check, but parked it holds one. It takes
            // no 503 (RFC 3261 §17.1.1.3).
            self.drop_msg(from.remote, crate::DropReason::RefusedAck);
            return;
        }
        let trying = match admit {
            Some(_) => None,
            None => self.trying(from, req, false),
        };
        self.server.insert(
            key.clone(),
            ServerTx {
                last_response: trying,
                ..ServerTx::new(req, from, State::Proceeding)
            },
        );
        self.touch_server(&key);
        let id = self.next_id();
        let deadline = now + self.cfg.resolve_timeout;
        self.parked.insert(
            id,
            Parked {
                key,
                deadline,
                admit,
            },
        );
        self.park_timer(id, deadline);
        let raw_enum_name = self
            .cfg
            .faults
            .contains(Fault::RawEnumQuery)
            .then(|| raw_enum_name(&target))
            .flatten();
        self.emit(Event::Resolve {
            id,
            target,
            raw_enum_name,
        });
    }

    /// The answer to [`Event::Resolve`] `id`. Unknown or late ids (already
    /// answered 504, or cancelled) are ignored.
    pub fn on_resolved(&mut self, now: Instant, id: u64, result: Result<Resolved, Unresolved>) {
        self.resolved(now, id, result);
        self.settle_timers();
    }

    fn resolved(&mut self, now: Instant, id: u64, result: Result<Resolved, Unresolved>) {
        let Some(parked) = self.parked.remove(&id) else {
            return;
        };
        let Some(tx) = self.server.remove(&parked.key) else {
            return;
        };
        let Ok(req) = Message::parse_with(&tx.request, &self.cfg.limits, Framing::Datagram) else {
            return;
        };
        let (from, key) = (tx.source, parked.key);
        if let Some(source) = parked.admit {
            self.on_admission(now, from, &req, &key, source, result);
            return;
        }
        let mut alternates = Vec::new();
        let mut tls_name = None;
        let routed = result.and_then(|r| {
            // RFC 3263 §4.1: the first hop whose transport the element
            // speaks sets the transport (NAPTR order), and only hops of
            // it are tried. UDP it always speaks, TLS when its driver can
            // open connections. A sips: target takes TLS or nothing (RFC
            // 3261 §26.2.2); its server proves the target's domain (RFC
            // 5922 §7.2), so a target without one cannot go.
            let sips = crate::outbound::is_sips(&r.target_uri);
            let speaks = |t: Transport| match t {
                Transport::Udp => !sips,
                Transport::Tls => self.cfg.outbound_tls,
                Transport::Tcp => false,
            };
            let domain = crate::outbound::target_domain(&r.target_uri);
            let chosen = r
                .hops
                .iter()
                .map(|h| h.transport)
                .find(|t| speaks(*t) && (*t != Transport::Tls || domain.is_some()));
            let usable: Vec<Path> = match chosen {
                Some(Transport::Tls) => r
                    .hops
                    .iter()
                    .filter(|h| h.transport == Transport::Tls)
                    .map(|h| self.outbound_path(h.addr, Transport::Tls))
                    .collect(),
                Some(t) => r
                    .hops
                    .iter()
                    .filter(|h| h.transport == t)
                    .map(|h| self.path_to(h.addr))
                    .collect(),
                None => Vec::new(),
            };
            let hop = if self.cfg.faults.contains(Fault::IgnoreSrvPriority) {
                usable.last().copied()
            } else {
                usable.first().copied()
            };
            if let Some(h) = hop {
                alternates = usable.iter().copied().filter(|a| *a != h).collect();
            }
            match hop {
                Some(h) if h.transport == Transport::Tls => {
                    tls_name = domain;
                    Ok((r.target_uri, h))
                }
                Some(h) => Ok((r.target_uri, h)),
                None if sips => Err(Unresolved {
                    status: 502,
                    reason: if self.cfg.outbound_tls {
                        "Bad Gateway - no TLS next hop for the sips: target".into()
                    } else {
                        "Bad Gateway - no usable transport: this element opens no TLS connections"
                            .into()
                    },
                }),
                None => Err(Unresolved {
                    status: 404,
                    reason: "Not Found - no UDP next hop".into(),
                }),
            }
        });
        match routed {
            // Relaying adds a client transaction to the server one the
            // request held while parked: without room for it, 503, as
            // `on_request` answers (an ACK needs none).
            Ok(_)
                if req.method() != "ACK"
                    && self.server.len() + self.client.len() + 2 > self.cfg.max_transactions =>
            {
                let retry = [("Retry-After", "5")];
                self.reject(now, from, &req, &key, 503, "Service Unavailable", &retry);
            }
            Ok((uri, dest)) => {
                // RFC 3261 §16.5-16.6: the Request-URI becomes the target
                // the location service (here ENUM) produced. A target taken
                // from the Route set only says where to send: loose routing
                // leaves the Request-URI alone (§16.4, §16.12).
                let by_route = req
                    .name_addrs(HeaderName::Route)
                    .any(|na| !self.cfg.is_me(&na.uri));
                let keep = self.cfg.faults.contains(Fault::KeepTelUri);
                let rewrite = req
                    .request_uri()
                    .is_some_and(|u| u.raw() != uri && !by_route && !keep)
                    .then_some(uri);
                let missing = self.cfg.privacy_unavailable(&req, dest.remote.ip());
                if !missing.is_empty() {
                    let why = format!("Privacy Unavailable: {}", missing.join(", "));
                    self.reject(now, from, &req, &key, 500, &why, &[]);
                    return;
                }
                if let Some(name) = &tls_name {
                    if let Err(why) = self.connect_tls(dest, name) {
                        let why = sanitize_phrase(&format!("Service Unavailable - {why}"));
                        self.reject(now, from, &req, &key, 503, &why, &[]);
                        return;
                    }
                }
                self.forward(now, from, &req, key.clone(), dest, rewrite.as_deref(), true);
                if let Some(stx) = self.server.get_mut(&key) {
                    stx.alternates = alternates;
                    stx.rewrite = rewrite;
                    stx.tls_name = tls_name.map(String::into_boxed_str);
                }
            }
            Err(u) => self.reject(now, from, &req, &key, u.status, &u.reason, &[]),
        }
    }

    /// RFC 3263 §4.3: after a 503 or a timeout from one resolved hop, the
    /// request goes to the next (a new branch; the failed client
    /// transaction stays to absorb retransmissions). False when there is
    /// no next hop, no room, or the request is over.
    pub(crate) fn fail_over(&mut self, now: Instant, skey: &ServerKey) -> bool {
        if self.cfg.faults.contains(Fault::NoFailover)
            || self.server.len() + self.client.len() + 1 > self.cfg.max_transactions
        {
            return false;
        }
        let Some(stx) = self.server.get_mut(skey) else {
            return false;
        };
        if stx.alternates.is_empty() || !matches!(stx.state, State::Trying | State::Proceeding) {
            return false;
        }
        let next = stx.alternates.remove(0);
        let (rest, rewrite) = (std::mem::take(&mut stx.alternates), stx.rewrite.take());
        let tls_name = stx.tls_name.take();
        let (source, bytes) = (stx.source, stx.request.clone());
        let Ok(req) = Message::parse_with(&bytes, &self.cfg.limits, Framing::Datagram) else {
            return false;
        };
        if let Some(name) = &tls_name {
            if self.connect_tls(next, name).is_err() {
                return false;
            }
        }
        self.forward(
            now,
            source,
            &req,
            skey.clone(),
            next,
            rewrite.as_deref(),
            true,
        );
        if let Some(stx) = self.server.get_mut(skey) {
            stx.alternates = rest;
            stx.rewrite = rewrite;
            stx.tls_name = tls_name;
        }
        true
    }
}

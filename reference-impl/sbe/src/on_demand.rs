//! On-demand peering (RFC 6405 §5.6, RFC 5486 §2.2): the element accepts
//! an SSP it has no pre-association with. RFC 6405 §5.6.2 warns that such
//! a border is open to the public and should protect itself; what it can
//! still ask is that a sender be who it says it is. So a request from an
//! unknown source is held while the LRF resolves the domain name the
//! sender gives for itself in its Via sent-by (RFC 3261 §18.2.1; RFC 6271
//! #7 has SBEs name themselves by domain). When that name leads (RFC 3263)
//! to the address the request came from, the source becomes a peer like a
//! configured one, with its own rate and session limits (RFC 6404 §4.9);
//! otherwise it gets 403. A sender that gives only an address has nothing
//! to verify and is refused.
//!
//! This is the email model RFC 6405 §5.6.1 compares on-demand peering to,
//! with a forward-confirmed name instead of none. It does not stop an
//! attacker who spoofs the UDP source of a real SBE; TLS with client
//! certificates does (RFC 6404 §4.5).

use crate::Fault;
use crate::policy::Side;
use crate::resolve::{Resolved, Unresolved};
use crate::transaction::ServerKey;
use crate::{Path, Sbe};
use speermint_sip::{Host, Message, sanitize_phrase};
use std::net::IpAddr;
use std::time::Instant;

/// Sources an element admits on demand beyond its configured peers; past
/// it, new ones get 503 (each peer holds a rate bucket and a session count).
pub(crate) const MAX_ON_DEMAND_PEERS: usize = 1024;

impl Sbe {
    /// A request from a source that is no configured peer, at an element
    /// that peers on demand.
    pub(crate) fn admit_on_demand(&mut self, now: Instant, from: Path, req: &Message<'_>) {
        let key = ServerKey::of(req);
        if self.on_demand_full() {
            self.reject(
                now,
                from,
                req,
                &key,
                503,
                "Service Unavailable - Too Many On-Demand Peers",
                &[("Retry-After", "60")],
            );
            return;
        }
        if self.cfg.faults.contains(Fault::UnverifiedOnDemand) {
            self.cfg.peers.push(from.remote.ip());
            self.on_request(now, from, Side::Peer, req);
            return;
        }
        let named = req.vias().next().and_then(|v| match v.host {
            Host::Domain(d) => Some(match v.port {
                Some(p) => format!("sip:{d}:{p}"),
                None => format!("sip:{d}"),
            }),
            _ => None,
        });
        let Some(target) = named else {
            self.reject(
                now,
                from,
                req,
                &key,
                403,
                "Unsupported Peer - no domain name to verify",
                &[],
            );
            return;
        };
        if self.server.len() + self.client.len() + 2 > self.cfg.max_transactions {
            let retry = [("Retry-After", "5")];
            self.reject(now, from, req, &key, 503, "Service Unavailable", &retry);
            return;
        }
        self.park(now, from, req, key, target, Some(from.remote.ip()));
    }

    fn on_demand_full(&self) -> bool {
        self.cfg.peers.len() >= self.configured_peers + MAX_ON_DEMAND_PEERS
    }

    /// What the lookup of the sender's name found: admitted when it leads
    /// to `source`, refused otherwise.
    pub(crate) fn on_admission(
        &mut self,
        now: Instant,
        from: Path,
        req: &Message<'_>,
        key: &ServerKey,
        source: IpAddr,
        result: Result<Resolved, Unresolved>,
    ) {
        let name = req
            .vias()
            .next()
            .map(|v| v.host.to_string())
            .unwrap_or_default();
        match result {
            Ok(r) if r.hops.iter().any(|h| h.addr.ip() == source) => {
                if !self.cfg.peers.contains(&source) {
                    if self.on_demand_full() {
                        let retry = [("Retry-After", "60")];
                        let why = "Service Unavailable - Too Many On-Demand Peers";
                        self.reject(now, from, req, key, 503, why, &retry);
                        return;
                    }
                    self.cfg.peers.push(source);
                }
                self.on_request(now, from, Side::Peer, req);
            }
            Ok(_) => {
                let why = sanitize_phrase(&format!(
                    "Unsupported Peer - {name} does not lead to {source}"
                ));
                self.reject(now, from, req, key, 403, &why, &[]);
            }
            // The name could not be checked now: a DNS failure or no
            // answer in time. Come back later, not "you are nobody".
            Err(u) if u.status >= 500 => {
                let why = sanitize_phrase(&format!("Service Unavailable - cannot verify {name}"));
                self.reject(now, from, req, key, 503, &why, &[("Retry-After", "5")]);
            }
            Err(_) => {
                let why = sanitize_phrase(&format!("Unsupported Peer - {name} leads nowhere"));
                self.reject(now, from, req, key, 403, &why, &[]);
            }
        }
    }
}

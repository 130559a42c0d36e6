//! Connections the element opens itself: TLS to a `sips:` target's next
//! hop (RFC 3261 §26.2.2), or to a hop RFC 3263 ranks first over TLS.
//! The node decides the path and the domain the server must prove (RFC
//! 5922 §7.2: the target's domain, never an address); the driver
//! connects, with the element's own certificate (mutual TLS, RFC 6404
//! §4.5), and says when it could not. A connection is reused for every
//! request to its hop and domain (RFC 5923 §4); a failed one fails its
//! requests upstream, never over another transport (RFC 5630 §3.1.3).

use crate::transaction::State;
use crate::{Event, Sbe};
use speermint_fault::Fault;
use speermint_node::{Path, Transport};
use speermint_sip::{Message, MessageBuilder, Transport as Framing, sanitize_phrase};
use std::net::SocketAddr;
use std::time::Instant;

/// Connections it keeps open at once; beyond it a request needing a new
/// one is refused rather than an open one dropped under its transactions.
pub(crate) const MAX_OUTBOUND: usize = 256;

/// The domain a `sips:` or `sip:` target URI names, for the server's
/// certificate (RFC 5922 §7.2); `None` for an address or a `tel:` URI.
pub(crate) fn target_domain(uri: &str) -> Option<String> {
    match speermint_sip::Uri::parse(uri).ok()? {
        speermint_sip::Uri::Sip(s) => match s.host {
            speermint_sip::Host::Domain(d) => Some(d.trim_end_matches('.').to_ascii_lowercase()),
            _ => None,
        },
        _ => None,
    }
}

/// Whether a target URI is `sips:`.
pub(crate) fn is_sips(uri: &str) -> bool {
    uri.get(..5)
        .is_some_and(|s| s.eq_ignore_ascii_case("sips:"))
}

impl Sbe {
    /// The path of a connection from this element to `remote` over
    /// `transport`: its listener of that transport names it, as the Via
    /// of what leaves on it does (RFC 3261 §18.1.1).
    pub(crate) fn outbound_path(&self, remote: SocketAddr, transport: Transport) -> Path {
        let local = match transport {
            Transport::Tls => self.cfg.tls_local,
            Transport::Tcp => self.cfg.tcp_local,
            Transport::Udp => None,
        };
        Path {
            local: local.unwrap_or(self.cfg.local),
            remote,
            transport,
        }
    }

    /// Makes sure a TLS connection on `path` authenticated as `domain` is
    /// open or asked for: reused when it is (RFC 5923 §4), else one
    /// [`Event::Connect`]. Refused when the open one proved another
    /// domain, or the element holds as many as it may.
    pub(crate) fn connect_tls(&mut self, path: Path, domain: &str) -> Result<(), String> {
        if let Some(proved) = self.outbound.get(&path) {
            if **proved == *domain {
                return Ok(());
            }
            return Err(format!(
                "the connection to {} is authenticated for {proved}, not {domain}",
                path.remote
            ));
        }
        if self.outbound.len() >= MAX_OUTBOUND {
            return Err(format!("{MAX_OUTBOUND} outbound connections open"));
        }
        self.outbound.insert(path, domain.into());
        self.emit(Event::Connect {
            path,
            server_name: Some(domain.to_owned()),
        });
        Ok(())
    }

    /// A connection it opened failed or ended: what was sent on it and
    /// still waits for a final response fails as a transport error, that
    /// is as a 503 from that hop (RFC 3261 §16.9): the next resolved hop
    /// if there is one (RFC 3263 §4.3), else 502 upstream with the cause.
    pub(crate) fn connection_lost(&mut self, now: Instant, path: Path, why: &str) {
        let Some(domain) = self.outbound.remove(&path) else {
            return;
        };
        let waiting: Vec<_> = self
            .client
            .iter()
            .filter(|(_, c)| c.dest == path && matches!(c.state, State::Trying | State::Proceeding))
            .map(|(k, _)| k.clone())
            .collect();
        for ckey in waiting {
            let Some(ctx) = self.client.remove(&ckey) else {
                continue;
            };
            if self.cfg.faults.contains(Fault::DowngradeSips) && path.transport == Transport::Tls {
                // The fault: the same request to the same hop in the clear.
                let plain = self.outbound_path(path.remote, Transport::Tcp);
                if !self.outbound.contains_key(&plain) && self.outbound.len() < MAX_OUTBOUND {
                    self.outbound.insert(plain, domain.clone());
                    self.emit(Event::Connect {
                        path: plain,
                        server_name: None,
                    });
                }
                self.send(plain, ctx.request.clone());
                let mut moved = ctx;
                moved.dest = plain;
                self.client.insert(ckey.clone(), moved);
                self.touch_client(&ckey);
                continue;
            }
            let Some(skey) = ctx.server.clone() else {
                continue;
            };
            if !ctx.cancelled && !ctx.cancel_pending && self.fail_over(now, &skey) {
                continue;
            }
            let Some(stx) = self.server.get(&skey) else {
                continue;
            };
            if !matches!(stx.state, State::Trying | State::Proceeding) {
                continue;
            }
            let (bytes, up) = (stx.request.clone(), stx.source.remote);
            let Ok(req) = Message::parse_with(&bytes, &self.cfg.limits, Framing::Datagram) else {
                continue;
            };
            let kind = match path.transport {
                Transport::Tls => "TLS",
                _ => "TCP",
            };
            let reason = sanitize_phrase(&format!(
                "Bad Gateway - {kind} to {domain} at {} failed: {why}",
                path.remote
            ));
            let tag = format!("sm{:x}", self.next_id() & 0xffff_ffff);
            let resp = MessageBuilder::response_to(&req, 502, &reason, Some(&tag)).build();
            if self.media.is_some() {
                if let Ok(r) = Message::parse_with(&resp, &self.cfg.limits, Framing::Datagram) {
                    self.media_call_over(now, up, &r);
                }
            }
            self.relay_response(now, path.remote, &skey, 502, resp);
        }
    }
}

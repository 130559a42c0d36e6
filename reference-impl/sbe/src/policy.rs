//! Peering policy: who may send what across the border, and where a
//! request goes (RFC 6406 §6.2, RFC 6404 §4.6).

use crate::{Sbe, SbeConfig};
use speermint_fault::Fault;
use speermint_sip::{HeaderName, Message, Uri};
use std::net::SocketAddr;

/// The provisioned users of [`Fault::KnownUsersOnly`].
pub(crate) const KNOWN_USERS: [&str; 7] = [
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "+441632960083",
];

/// Which side a source is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Peer,
    NextHop,
    Stranger,
}

/// Where a request goes.
pub(crate) enum Dest {
    /// To this address, over UDP.
    Now(SocketAddr),
    /// Wherever the LUF/LRF say this target leads.
    Resolve(String),
}

impl SbeConfig {
    pub(crate) fn side(&self, from: SocketAddr) -> Side {
        if from == self.next_hop {
            Side::NextHop
        } else if self.peers.contains(&from.ip()) || self.faults.contains(Fault::AcceptStrangers) {
            Side::Peer
        } else if from.ip() == self.next_hop.ip() {
            Side::NextHop
        } else {
            Side::Stranger
        }
    }

    /// Whether `uri` names this element (a Route entry it must remove,
    /// RFC 3261 §16.4).
    pub(crate) fn is_me(&self, uri: &Uri<'_>) -> bool {
        uri.as_sip().is_some_and(|s| {
            let port = s.port.unwrap_or(5060);
            let named_me = match (&s.host, &self.hostname) {
                (speermint_sip::Host::Domain(d), Some(h)) => {
                    d.trim_end_matches('.').eq_ignore_ascii_case(h)
                }
                _ => false,
            };
            [Some(self.local), self.tls_local, self.tcp_local]
                .into_iter()
                .flatten()
                .any(|l| (named_me || s.host.ip() == Some(l.ip())) && port == l.port())
        })
    }

    /// How this element names itself at `local` in a Via or Record-Route:
    /// its domain name when it has one (RFC 6271 #7), else the address.
    pub(crate) fn me_at(&self, local: SocketAddr) -> String {
        match &self.hostname {
            Some(h) if !self.faults.contains(Fault::AddressInHeaders) => {
                format!("{h}:{}", local.port())
            }
            _ => host(local),
        }
    }
}

/// `host:port` for a Via or URI, IPv6 in brackets.
pub(crate) fn host(a: SocketAddr) -> String {
    match a {
        SocketAddr::V4(a) => a.to_string(),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    }
}

impl Sbe {
    /// Where a request goes: from a peer, always to the configured next hop
    /// (no open relay); from the next hop, to the first Route that is not
    /// us or else the Request-URI: by name or number through the LUF/LRF
    /// (RFC 6406 §4 steps 1-2), by address only to an authorised peer.
    pub(crate) fn route(&self, side: Side, req: &Message<'_>) -> Result<Dest, &'static str> {
        let cfg = &self.cfg;
        if side == Side::Peer {
            return Ok(Dest::Now(cfg.next_hop));
        }
        let target = req
            .name_addrs(HeaderName::Route)
            .map(|na| na.uri)
            .find(|u| !cfg.is_me(u))
            .or_else(|| req.request_uri().copied());
        if cfg.resolve_names {
            let by_name = match &target {
                Some(Uri::Tel(_)) => true,
                Some(Uri::Sip(s)) => s.host.ip().is_none(),
                _ => false,
            };
            if cfg.faults.contains(Fault::KnownUsersOnly) {
                let user = match &target {
                    Some(Uri::Sip(s)) => s.user.unwrap_or(""),
                    Some(Uri::Tel(t)) => t.number,
                    _ => "",
                };
                if by_name && !KNOWN_USERS.contains(&user) {
                    return Err("Not Found - unknown user");
                }
            }
            if let (true, Some(t)) = (by_name, &target) {
                let raw = t.raw();
                let target = match raw.strip_prefix("sips:") {
                    Some(rest) if cfg.faults.contains(Fault::PreferUdp) => format!("sip:{rest}"),
                    _ => raw.to_owned(),
                };
                return Ok(Dest::Resolve(target));
            }
        }
        let addr = target
            .as_ref()
            .and_then(|u| u.as_sip())
            .and_then(|s| {
                s.host
                    .ip()
                    .map(|ip| SocketAddr::new(ip, s.port.unwrap_or(5060)))
            })
            .ok_or("No Route To Target")?;
        if cfg.peers.contains(&addr.ip()) {
            Ok(Dest::Now(addr))
        } else {
            Err("Not A Peer")
        }
    }
}

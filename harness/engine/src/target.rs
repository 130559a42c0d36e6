//! Setting up a run: the embedded reference SBE, or an external IUT
//! described by options or a TOML profile; binding each role.

use crate::check::Capability;
use crate::ctx::{Ctx, Timing};
use crate::pki::TestPki;
use crate::role::{EvidenceLog, Role, StreamPlan};
use serde::Deserialize;
use speermint_border::RunningSbe;
use speermint_dns_role::{DnsRole, Topology};
use speermint_net::{Network, SimNet, Transport};
use speermint_sbe::{Fault, Faults, OverLimit, PeerLimits, SbeConfig};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Errors of the engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration file is wrong; names the file, line and key.
    #[error("{file}:{line}: {key}: {message}")]
    Config {
        /// File.
        file: String,
        /// 1-based line.
        line: usize,
        /// The key at fault.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A command-line value is wrong.
    #[error("{0}")]
    Usage(String),
    /// A role or the embedded SBE could not bind its address.
    #[error("cannot bind the {role} role to {addr}: {source}")]
    Bind {
        /// Role.
        role: &'static str,
        /// Address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The embedded SBE failed to start.
    #[error(transparent)]
    Border(#[from] speermint_border::Error),
    /// The DNS role could not start.
    #[error("dns role: {0}")]
    Dns(String),
    /// The test PKI could not issue a certificate.
    #[error("tls: {0}")]
    Tls(String),
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// What to test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetKind {
    /// The reference SBE, in-process, with optional misbehaviour switches.
    Embedded {
        /// Switches.
        faults: Faults,
    },
    /// An SBE at this address.
    External {
        /// Address (UDP).
        addr: SocketAddr,
    },
}

/// Requests per second the embedded SBE lets each peer start: low enough
/// that a check can flood at ten times it in a couple of seconds, high
/// enough for every other check's traffic.
pub const EMBEDDED_PEER_RATE: u32 = 20;

/// Calls the embedded SBE lets each peer have at once.
pub const EMBEDDED_PEER_SESSIONS: u32 = 10;

/// The embedded stack's DBE: its address towards the peers (what the SDP
/// a peer gets names, RFC 6271 #3, and what the SSP declares) and towards
/// the inside.
pub const EMBEDDED_DBE: [IpAddr; 2] = [
    IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 20)),
    IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 21)),
];

/// A third peer of the embedded SBE, one it requires TLS from (RFC 6404
/// §4.5). The other peers keep UDP, which most checks speak; the
/// `tls-required-from-peers` check plays this one.
pub const EMBEDDED_TLS_PEER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 7));

/// Where the peer domain's TLS SBE (the `tls-peer` role) listens in an
/// embedded run; the DNS role advertises it as `_sips._tcp.peer.example`.
pub const EMBEDDED_TLS_ROLE: SocketAddr =
    SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 18)), 0);

/// The embedded DBE's relay ports: ten streams at once.
pub const EMBEDDED_DBE_PORTS: std::ops::Range<u16> = 30_000..30_040;

/// Where the embedded DBE's `media-to-third-address` fault sends its
/// copies: on loopback, so a run's traffic stays there.
pub const EMBEDDED_EAVESDROPPER: SocketAddr =
    SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 66)), 40_000);

/// A complete run plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Target.
    pub target: TargetKind,
    /// Where the peer role sends from (the IUT's authorised peer).
    pub peer: SocketAddr,
    /// Where the stranger sends from.
    pub stranger: SocketAddr,
    /// Where the terminating role listens (the IUT's next hop).
    pub terminating: SocketAddr,
    /// Where a second authorised peer sends from.
    pub second_peer: SocketAddr,
    /// The most requests per second the IUT lets one peer start
    /// (RFC 6404 §4.9), when the profile declares it.
    pub peer_rate: Option<u32>,
    /// The most calls the IUT lets one peer have at once, when declared.
    pub peer_sessions: Option<u32>,
    /// The addresses the IUT's calls leave from, as its SSP declares them
    /// (RFC 6271 #2). The embedded stack declares its own.
    pub egress: Option<Vec<IpAddr>>,
    /// The addresses the IUT's DBE names in the SDP it sends peers
    /// (RFC 6271 #3), when the profile declares them.
    pub media_relay: Option<Vec<IpAddr>>,
    /// Waits.
    pub timing: Timing,
    /// The DNS role for an external IUT: the two replica addresses it
    /// resolves through, and the zone key file its anchors were made
    /// from (PEM or DER PKCS#8, see `speermint dns-key`).
    pub dns: Option<DnsPlan>,
    /// The external IUT's TLS listener, advertised in its domain.
    pub tls_target: Option<SocketAddr>,
    /// The issuer of the external IUT's TLS certificate (PEM).
    pub tls_ca: Option<PathBuf>,
    /// The IUT's own SIP domain, published by the DNS role and expected
    /// in its certificate.
    pub iut_domain: String,
    /// Which network the run uses.
    pub network: NetworkKind,
    /// What the roles reach the IUT over: UDP, or a TCP or TLS connection
    /// each role opens (RFC 3261 §18).
    pub transport: Transport,
    /// What the IUT offers; `None` for the embedded stack, which offers
    /// everything. Checks needing something else are not applicable.
    pub offers: Option<Vec<Capability>>,
    /// The ingress SBE the IUT's SSP advertises to each peer, when it
    /// varies (RFC 6271 #4); the DNS role publishes it per querier.
    pub peer_ingress: Option<crate::ctx::PeerIngress>,
}

/// Which network a run uses. An external IUT is only reachable over
/// sockets; the embedded stack runs on either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkKind {
    /// Everything in process on the simulated network, in virtual time
    /// (run it on [`speermint_net::SimNet::runtime`]); the seed draws any
    /// impairment a check asks for.
    Simulated {
        /// Seed of the network's generator.
        seed: u64,
    },
    /// Loopback sockets and the real clock.
    Sockets,
}

/// Where an external IUT's DNS comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsPlan {
    /// Primary and secondary replica addresses (UDP and TCP).
    pub servers: [SocketAddr; 2],
    /// Zone key; fresh keys when absent.
    pub key_file: Option<PathBuf>,
}

impl Plan {
    /// The embedded reference stack on loopback: each role on its own
    /// 127.0.0.x address, ephemeral ports.
    pub fn embedded(faults: Faults) -> Self {
        Self {
            target: TargetKind::Embedded { faults },
            peer: "127.0.0.2:0".parse().expect("literal"),
            stranger: "127.0.0.3:0".parse().expect("literal"),
            dns: None,
            tls_target: None,
            tls_ca: None,
            iut_domain: "ssp.example".into(),
            terminating: "127.0.0.4:0".parse().expect("literal"),
            second_peer: "127.0.0.5:0".parse().expect("literal"),
            peer_rate: Some(EMBEDDED_PEER_RATE),
            peer_sessions: Some(EMBEDDED_PEER_SESSIONS),
            egress: None,
            media_relay: None,
            timing: Timing::default(),
            network: NetworkKind::Simulated { seed: 0x5eed },
            transport: Transport::Udp,
            offers: None,
            peer_ingress: None,
        }
    }

    /// The runtime this plan runs on: one thread with a paused clock for
    /// the simulated network, two worker threads for sockets.
    pub fn runtime(&self) -> std::io::Result<tokio::runtime::Runtime> {
        match self.network {
            NetworkKind::Simulated { .. } => speermint_net::SimNet::runtime(),
            NetworkKind::Sockets => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build(),
        }
    }
}

/// `udp:HOST:PORT`, `tcp:HOST:PORT` or `tls:HOST:PORT` (IPv6 as
/// `udp:[::1]:5060`): the transport and the address.
pub fn parse_target_on(s: &str) -> Result<(Transport, SocketAddr), String> {
    let (proto, rest) = s
        .split_once(':')
        .ok_or_else(|| format!("target {s:?}: expected udp:, tcp: or tls:HOST:PORT"))?;
    let transport = Transport::parse(proto).ok_or_else(|| {
        format!("target {s:?}: unknown transport {proto:?}, expected udp, tcp or tls")
    })?;
    let addr = rest
        .parse()
        .map_err(|_| format!("target {s:?}: HOST:PORT must be an IP address and port"))?;
    Ok((transport, addr))
}

/// `udp:HOST:PORT`, for what speaks UDP only (`speermint load`).
pub fn parse_target(s: &str) -> Result<SocketAddr, String> {
    match parse_target_on(s)? {
        (Transport::Udp, addr) => Ok(addr),
        (t, _) => Err(format!(
            "target {s:?}: {} is not supported here, only udp",
            t.as_str()
        )),
    }
}

/// A role address: `IP` (any port) or `IP:PORT`.
pub fn parse_role_addr(s: &str) -> Result<SocketAddr, String> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 0));
    }
    s.parse()
        .map_err(|_| format!("{s:?} is not an IP address or IP:PORT"))
}

/// The IUT profile file.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    target: Option<TargetSection>,
    roles: Option<RolesSection>,
    timing: Option<TimingSection>,
    dns: Option<DnsSection>,
    tls: Option<TlsSection>,
    limits: Option<LimitsSection>,
    ingress: Option<IngressSection>,
}

/// The ingress SBE the IUT's SSP advertises to each peer (RFC 6271 #4).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IngressSection {
    peer: toml::Spanned<String>,
    second_peer: toml::Spanned<String>,
    /// Roles (`peer`, `second_peer`) whose SBE refuses the other peer.
    exclusive: Option<toml::Spanned<Vec<String>>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LimitsSection {
    peer_requests_per_second: Option<toml::Spanned<u32>>,
    peer_sessions: Option<toml::Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetSection {
    address: toml::Spanned<String>,
    tls: Option<toml::Spanned<String>>,
    domain: Option<toml::Spanned<String>>,
    offers: Option<toml::Spanned<Vec<String>>>,
    egress: Option<toml::Spanned<Vec<String>>>,
    media_relay: Option<toml::Spanned<Vec<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DnsSection {
    primary: toml::Spanned<String>,
    secondary: toml::Spanned<String>,
    key: Option<toml::Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsSection {
    ca: toml::Spanned<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RolesSection {
    peer: Option<toml::Spanned<String>>,
    stranger: Option<toml::Spanned<String>>,
    terminating: Option<toml::Spanned<String>>,
    second_peer: Option<toml::Spanned<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TimingSection {
    response_ms: Option<u64>,
    silence_ms: Option<u64>,
    timer_b_ms: Option<u64>,
}

pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Reads an IUT profile. Every error names the file, the line and the key.
pub fn load_profile(path: &Path) -> Result<Plan, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse_profile(&path.display().to_string(), &text)
}

/// Parses profile text (see [`load_profile`]).
pub fn parse_profile(file: &str, text: &str) -> Result<Plan, Error> {
    let cfg: ProfileFile = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(1, |s| line_of(text, s.start));
        let key = e
            .span()
            .map(|s| text[s.clone()].trim().to_string())
            .unwrap_or_default();
        Error::Config {
            file: file.to_string(),
            line,
            key,
            message: e.message().trim().to_string(),
        }
    })?;
    let bad = |key: &str, v: &toml::Spanned<String>, message: String| Error::Config {
        file: file.to_string(),
        line: line_of(text, v.span().start),
        key: key.to_string(),
        message,
    };
    let target = cfg.target.ok_or_else(|| Error::Config {
        file: file.to_string(),
        line: 1,
        key: "target.address".into(),
        message: "missing: an external profile needs the IUT's address".into(),
    })?;
    let (transport, addr) = parse_target_on(target.address.get_ref())
        .map_err(|m| bad("target.address", &target.address, m))?;
    let mut plan = Plan::embedded(Faults::default());
    plan.target = TargetKind::External { addr };
    plan.transport = transport;
    plan.network = NetworkKind::Sockets;
    plan.offers = Some(Vec::new());
    let roles = cfg.roles.unwrap_or_default();
    for (key, field, slot) in [
        ("roles.peer", &roles.peer, &mut plan.peer),
        ("roles.stranger", &roles.stranger, &mut plan.stranger),
        (
            "roles.terminating",
            &roles.terminating,
            &mut plan.terminating,
        ),
        (
            "roles.second_peer",
            &roles.second_peer,
            &mut plan.second_peer,
        ),
    ] {
        if let Some(v) = field {
            *slot = parse_role_addr(v.get_ref()).map_err(|m| bad(key, v, m))?;
        }
    }
    // Files named in a profile are relative to the profile.
    let base = Path::new(file).parent().unwrap_or(Path::new("."));
    if let Some(t) = &target.tls {
        let a = t
            .get_ref()
            .parse::<SocketAddr>()
            .map_err(|_| bad("target.tls", t, format!("{:?} is not IP:PORT", t.get_ref())))?;
        plan.tls_target = Some(a);
    } else if transport == Transport::Tls {
        // The IUT serves TLS where the roles reach it.
        plan.tls_target = Some(addr);
    }
    if let Some(d) = &target.domain {
        let name = d.get_ref().trim_end_matches('.');
        let ok = !name.is_empty()
            && name.len() <= 253
            && name.split('.').all(|l| {
                (1..=63).contains(&l.len())
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if !ok {
            return Err(bad(
                "target.domain",
                d,
                format!("{name:?} is not a domain name"),
            ));
        }
        plan.iut_domain = name.to_ascii_lowercase();
    }
    if let Some(d) = cfg.dns {
        let addr = |key: &str, v: &toml::Spanned<String>| {
            v.get_ref()
                .parse::<SocketAddr>()
                .map_err(|_| bad(key, v, format!("{:?} is not IP:PORT", v.get_ref())))
        };
        plan.dns = Some(DnsPlan {
            servers: [
                addr("dns.primary", &d.primary)?,
                addr("dns.secondary", &d.secondary)?,
            ],
            key_file: d.key.map(|k| base.join(k.get_ref())),
        });
    }
    if let Some(t) = cfg.tls {
        plan.tls_ca = Some(base.join(t.ca.get_ref()));
    }
    if let Some(ing) = &cfg.ingress {
        let addr = |key: &str, v: &toml::Spanned<String>| {
            v.get_ref()
                .parse::<SocketAddr>()
                .map_err(|_| bad(key, v, format!("{:?} is not IP:PORT", v.get_ref())))
        };
        let mut exclusive = Vec::new();
        if let Some(list) = &ing.exclusive {
            for name in list.get_ref() {
                exclusive.push(match name.as_str() {
                    "peer" => crate::ctx::RoleId::Peer,
                    "second_peer" => crate::ctx::RoleId::SecondPeer,
                    other => {
                        return Err(Error::Config {
                            file: file.to_string(),
                            line: line_of(text, list.span().start),
                            key: "ingress.exclusive".into(),
                            message: format!("{other:?}: expected \"peer\" or \"second_peer\""),
                        });
                    }
                });
            }
        }
        if plan.dns.is_none() {
            return Err(bad(
                "ingress.peer",
                &ing.peer,
                "needs [dns]: the DNS role publishes the IUT's domain to each peer".into(),
            ));
        }
        plan.peer_ingress = Some(crate::ctx::PeerIngress {
            peer: addr("ingress.peer", &ing.peer)?,
            second_peer: addr("ingress.second_peer", &ing.second_peer)?,
            exclusive,
        });
    }
    plan.peer_rate = None;
    plan.peer_sessions = None;
    // A non-empty list of IP addresses, or an error naming its line.
    let ip_list = |list: &toml::Spanned<Vec<String>>, key: &str, empty: &str| {
        let bad = |message: String| Error::Config {
            file: file.to_string(),
            line: line_of(text, list.span().start),
            key: key.into(),
            message,
        };
        let ips = list
            .get_ref()
            .iter()
            .map(|a| {
                a.parse::<IpAddr>()
                    .map_err(|_| bad(format!("{a:?} is not an IP address")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if ips.is_empty() {
            return Err(bad(format!("empty: {empty}")));
        }
        Ok(ips)
    };
    if let Some(list) = &target.egress {
        plan.egress = Some(ip_list(
            list,
            "target.egress",
            "list the addresses the IUT's calls leave from",
        )?);
    }
    if let Some(list) = &target.media_relay {
        plan.media_relay = Some(ip_list(
            list,
            "target.media_relay",
            "list the addresses the IUT's DBE names in its SDP",
        )?);
    }
    let limits = cfg.limits.unwrap_or_default();
    for (key, field, slot, max, why) in [
        (
            "limits.peer_requests_per_second",
            &limits.peer_requests_per_second,
            &mut plan.peer_rate,
            2_000,
            "a check floods at ten times it from one host",
        ),
        (
            "limits.peer_sessions",
            &limits.peer_sessions,
            &mut plan.peer_sessions,
            1_000,
            "a check sets up that many calls and a few more",
        ),
    ] {
        if let Some(v) = field {
            let n = *v.get_ref();
            if !(1..=max).contains(&n) {
                return Err(Error::Config {
                    file: file.to_string(),
                    line: line_of(text, v.span().start),
                    key: key.into(),
                    message: format!("{n} is out of range 1 to {max}: {why}"),
                });
            }
            *slot = Some(n);
        }
    }
    // The rate check needs a second peer the IUT authorises, whose calls
    // the flood must not stop; the harness cannot guess one.
    if let (Some(v), None) = (&limits.peer_requests_per_second, &roles.second_peer) {
        return Err(Error::Config {
            file: file.to_string(),
            line: line_of(text, v.span().start),
            key: "limits.peer_requests_per_second".into(),
            message: "needs roles.second_peer: a second address the IUT accepts as a peer".into(),
        });
    }
    // What the IUT offers: as declared, or as the sections configured imply.
    let offers = match &target.offers {
        Some(list) => {
            let mut v = Vec::new();
            for name in list.get_ref() {
                let c = Capability::from_name(name).ok_or_else(|| Error::Config {
                    file: file.to_string(),
                    line: line_of(text, list.span().start),
                    key: "target.offers".into(),
                    message: format!(
                        "unknown capability {name:?}; known: {}",
                        Capability::ALL
                            .iter()
                            .map(|c| c.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                })?;
                if c == Capability::PeeringTopology {
                    return Err(Error::Config {
                        file: file.to_string(),
                        line: line_of(text, list.span().start),
                        key: "target.offers".into(),
                        message: "peering-topology: the harness assembles the RFC 6405 topologies from reference SBEs only, so far; the embedded stack runs those checks".into(),
                    });
                }
                if matches!(
                    c,
                    Capability::Identity
                        | Capability::MutualTls
                        | Capability::DnsTls
                        | Capability::TlsRequired
                        | Capability::TlsEgress
                ) {
                    return Err(Error::Config {
                        file: file.to_string(),
                        line: line_of(text, list.span().start),
                        key: "target.offers".into(),
                        message: format!(
                            "{}: the harness cannot share its credentials with an external IUT yet; the embedded stack runs that check",
                            c.name()
                        ),
                    });
                }
                v.push(c);
            }
            v
        }
        None => {
            let mut v = Vec::new();
            if plan.dns.is_some() {
                v.push(Capability::DnsRole);
            }
            if plan.tls_target.is_some() {
                v.push(Capability::Tls);
            }
            if plan.peer_rate.is_some() {
                v.push(Capability::RateLimit);
            }
            if plan.peer_sessions.is_some() {
                v.push(Capability::SessionLimit);
            }
            if plan.egress.is_some() {
                v.push(Capability::Egress);
            }
            if plan.peer_ingress.is_some() {
                v.push(Capability::PerPeerIngress);
            }
            if plan.media_relay.is_some() {
                v.push(Capability::MediaRelay);
            }
            v
        }
    };
    plan.offers = Some(offers);
    if let Some(t) = cfg.timing {
        if let Some(ms) = t.response_ms {
            plan.timing.response = Duration::from_millis(ms.clamp(10, 60_000));
        }
        if let Some(ms) = t.silence_ms {
            plan.timing.silence = Duration::from_millis(ms.clamp(10, 60_000));
        }
        if let Some(ms) = t.timer_b_ms {
            plan.timing.timer_b = Duration::from_millis(ms.clamp(100, 300_000));
        }
    }
    Ok(plan)
}

/// A prepared run: roles bound, target running.
#[derive(Debug)]
pub struct Session {
    /// Scenario context.
    pub ctx: Ctx,
    /// The embedded SBE, when the target is the reference stack.
    pub sbe: Option<RunningSbe>,
    /// The reference SSP's second ingress SBE, advertised to the second
    /// peer (RFC 6271 #4).
    pub second_sbe: Option<RunningSbe>,
    /// How the target is named in reports.
    pub label: String,
}

async fn bind(
    net: &Network,
    role: &'static str,
    addr: SocketAddr,
    log: &EvidenceLog,
) -> Result<Role, Error> {
    Role::bind(net, role, addr, log.clone())
        .await
        .map_err(|source| Error::Bind { role, addr, source })
}

/// A zone key file: PKCS#8, PEM or DER.
fn read_key(path: &Path) -> Result<Vec<u8>, Error> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    crate::pki::pkcs8_from_pem_or_der(&bytes)
        .map_err(|e| Error::Tls(format!("{}: {e}", path.display())))
}

/// The RFC 8224 credentials of an embedded run, all from the test CA: the
/// peer's signing key (certificate for its domain), a key whose
/// certificate names another domain, and the SBE's own. The SBE trusts
/// the first two by their `info` URLs and signs with the third; the lab
/// verifies it. Both share one wall clock, read off the run's (virtual)
/// clock.
fn identity_lab(
    pki: &TestPki,
    facts: &speermint_dns_role::DnsFacts,
) -> Result<(crate::ctx::IdentityLab, speermint_sbe::IdentityPolicy), Error> {
    use speermint_identity::{Credentials, SigningKey};
    let issue = |domain: &str| -> Result<(Vec<u8>, Vec<u8>, String), Error> {
        let (chain, key) = pki.issue(&[domain]).map_err(Error::Tls)?;
        let url = format!("https://certs.{domain}/passport.cer");
        Ok((chain[0].to_vec(), key, url))
    };
    let (peer_cert, peer_key, peer_url) = issue(&facts.peer_domain)?;
    let (else_cert, else_key, else_url) = issue("elsewhere.example")?;
    let (iut_cert, iut_key, iut_url) = issue(&facts.ssp_domain)?;
    let ca = pki.ca_der().to_vec();
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let at = tokio::time::Instant::now();
    let key = |k: &[u8], url: &str| SigningKey::from_pkcs8(k, url).map_err(Error::Tls);
    let lab = crate::ctx::IdentityLab {
        peer_domain: facts.peer_domain.clone(),
        peer: key(&peer_key, &peer_url)?,
        elsewhere: key(&else_key, &else_url)?,
        iut: Credentials {
            trust_anchors: vec![ca.clone()],
            certs: vec![(iut_url.clone(), iut_cert)],
        },
        clock: (at, unix),
    };
    let policy = speermint_sbe::IdentityPolicy {
        verify: Some(Credentials {
            trust_anchors: vec![ca],
            certs: vec![(peer_url, peer_cert), (else_url, else_cert)],
        }),
        // INVITEs claiming the peer's domain must prove it.
        required_for: vec![facts.peer_domain.clone()],
        sign: Some((iut_key, iut_url)),
        freshness: Duration::from_secs(60),
        clock: (at.into_std(), unix),
    };
    Ok((lab, policy))
}

/// Binds the roles and starts the embedded SBE if asked. On the simulated
/// network this must run on [`Plan::runtime`].
pub async fn start(plan: &Plan) -> Result<Session, Error> {
    let net = match plan.network {
        NetworkKind::Simulated { seed } => Network::Sim(SimNet::new(seed)),
        NetworkKind::Sockets => Network::Sockets,
    };
    let log = EvidenceLog::default();
    let mut peer = bind(&net, "peer", plan.peer, &log).await?;
    let mut stranger = bind(&net, "stranger", plan.stranger, &log).await?;
    let mut terminating = bind(&net, "terminating", plan.terminating, &log).await?;
    let mut second_peer = bind(&net, "second-peer", plan.second_peer, &log).await?;
    // What each role presents over TLS, client side and server side; the
    // same for every role when unset.
    let mut role_tls: Option<RoleTls> = None;
    let mut dns = None;
    let mut tls_client = None;
    let mut egress = plan.egress.clone();
    let mut identity = None;
    let mut mutual_tls = None;
    let mut tls_required = None;
    let mut tls_egress = None;
    let mut iut_tls = plan.tls_target.map(|a| (a, plan.iut_domain.clone()));
    let mut dns_tls = None;
    let mut peer_ingress = plan.peer_ingress.clone();
    let mut second_sbe = None;
    let mut media_relay = plan.media_relay.clone();
    let (iut, sbe, label) = match &plan.target {
        TargetKind::Embedded { faults } => {
            let faults = *faults;
            let peers = vec![peer.addr().ip(), second_peer.addr().ip(), EMBEDDED_TLS_PEER];
            let next = terminating.addr();
            // The SBE's own domain must name its ports before it starts,
            // and its resolver needs the DNS role: bind first, publish,
            // then start on the bound sockets.
            let any: SocketAddr = "127.0.0.1:0".parse().expect("literal");
            let bind_err = |role, source| Error::Bind {
                role,
                addr: any,
                source,
            };
            let udp = net.bind_udp(any).await.map_err(|e| bind_err("sbe", e))?;
            let sbe_addr = udp.local_addr().map_err(|e| bind_err("sbe", e))?;
            let tcp = net
                .listen_tcp(any)
                .await
                .map_err(|e| bind_err("sbe-tls", e))?;
            let tls_bind = tcp.local_addr().map_err(|e| bind_err("sbe-tls", e))?;
            // Plain TCP on the UDP port, as SIP servers listen (RFC 3261
            // §18.2.1), or any port when sockets have it taken.
            let plain = match net.listen_tcp(sbe_addr).await {
                Ok(l) => l,
                Err(_) => net
                    .listen_tcp(any)
                    .await
                    .map_err(|e| bind_err("sbe-tcp", e))?,
            };
            // The reference SSP's second ingress SBE, which it advertises
            // to the second peer alone (RFC 6271 #4).
            let second_bind: SocketAddr = "127.0.0.6:0".parse().expect("literal");
            let udp_b = net
                .bind_udp(second_bind)
                .await
                .map_err(|e| bind_err("sbe-b", e))?;
            let sbe_b_addr = udp_b.local_addr().map_err(|e| bind_err("sbe-b", e))?;
            let pki = TestPki::new().map_err(Error::Tls)?;
            // The peer domain's TLS SBE, which its `_sips._tcp` names.
            let tls_peer = crate::tls_role::TlsRole::bind(
                &net,
                EMBEDDED_TLS_ROLE,
                pki.server_config_asking(&["peer.example"])
                    .map_err(Error::Tls)?,
                log.clone(),
            )
            .await
            .map_err(|source| Error::Bind {
                role: "tls-peer",
                addr: EMBEDDED_TLS_ROLE,
                source,
            })?;
            // RFC 6271 #15: the DNS role serves its zones over DNS over
            // TLS only to a client whose certificate names the SSP's
            // domain, and presents a certificate for its own name.
            let dns_tls_server = pki
                .server_config_for_peers(&[DNS_SERVER_NAME], vec![plan.iut_domain.clone()], true)
                .map_err(Error::Tls)?;
            let per_peer = if faults.contains(Fault::SameSbeForAllPeers) {
                Vec::new()
            } else {
                vec![
                    (peer.addr().ip(), sbe_addr),
                    (second_peer.addr().ip(), sbe_b_addr),
                ]
            };
            let role = DnsRole::start(
                &net,
                sbe_addr.ip(),
                Topology {
                    peer: peer.addr(),
                    stranger: stranger.addr(),
                    iut: sbe_addr,
                    iut_tls: Some(tls_bind),
                    peer_tls: Some(tls_peer.addr()),
                    stale: faults.contains(Fault::StaleDns),
                    iut_domain: plan.iut_domain.clone(),
                    iut_per_source: per_peer,
                },
                Some(dns_tls_server),
            )
            .await
            .map_err(|e| Error::Dns(e.to_string()))?;
            peer_ingress = Some(crate::ctx::PeerIngress {
                peer: sbe_addr,
                second_peer: sbe_b_addr,
                exclusive: vec![crate::ctx::RoleId::SecondPeer],
            });
            dns_tls = Some(crate::ctx::DnsTlsLab {
                server_name: DNS_SERVER_NAME.into(),
                client_domain: role.facts.ssp_domain.clone(),
                wrong_name: Some(
                    pki.server_config_for_peers(
                        &["dns.elsewhere.example"],
                        vec![plan.iut_domain.clone()],
                        true,
                    )
                    .map_err(Error::Tls)?,
                ),
            });
            // RFC 5922 §7: the certificate names the SIP domain.
            let names: &[&str] = if faults.contains(Fault::WrongCertificate) {
                &["sbe.elsewhere.example"]
            } else {
                &[role.facts.ssp_domain.as_str()]
            };
            // RFC 6404 §4.5: peers authenticate with a certificate for
            // their domain.
            let peer_domain = role.facts.peer_domain.clone();
            // Its inside (the terminating role) shares the listener and
            // authenticates with the SSP's own domain.
            let ssp_domain = role.facts.ssp_domain.clone();
            let tls_config = pki
                .server_config_for_peers(
                    names,
                    vec![peer_domain.clone(), ssp_domain.clone()],
                    !faults.contains(Fault::AcceptAnyClientCert),
                )
                .map_err(Error::Tls)?;
            let as_peer = pki
                .client_config_as(&[peer_domain.as_str()])
                .map_err(Error::Tls)?;
            tls_client = Some(as_peer.clone());
            if plan.transport == Transport::Tls {
                role_tls = Some(RoleTls::embedded(&pki, &peer_domain, &ssp_domain)?);
            }
            mutual_tls = Some(crate::ctx::MutualTlsLab {
                peer_domain,
                as_peer,
                anonymous: pki.client_config().map_err(Error::Tls)?,
                elsewhere: pki
                    .client_config_as(&["elsewhere.example"])
                    .map_err(Error::Tls)?,
            });
            iut_tls = Some((tls_bind, role.facts.ssp_domain.clone()));
            // The SBE's TLS client (RFC 3261 §26.2.2): its certificate
            // for its own domain, the run's CA as its roots.
            let own = role.facts.ssp_domain.clone();
            let out_tls = if faults.contains(Fault::AcceptAnyServerCert) {
                pki.client_config_as_trusting_any_server(&[own.as_str()])
            } else if faults.contains(Fault::TlsNoClientCert) {
                pki.client_config()
            } else {
                pki.client_config_as(&[own.as_str()])
            }
            .map_err(Error::Tls)?;
            let peer_name = role.facts.peer_domain.clone();
            tls_egress = Some(crate::ctx::TlsEgressLab {
                good: pki
                    .server_config_asking(&[peer_name.as_str()])
                    .map_err(Error::Tls)?,
                wrong: pki
                    .server_config_asking(&["elsewhere.example"])
                    .map_err(Error::Tls)?,
                peer_domain: peer_name,
                iut_domain: own,
                role: std::sync::Arc::new(tls_peer),
            });
            let (lab, policy) = identity_lab(&pki, &role.facts)?;
            identity = Some(lab);
            let locator = reference_locator(&role, &pki, faults)
                .await
                .map_err(|e| Error::Dns(e.to_string()))?;
            // The name the DNS role publishes for it (RFC 6271 #7).
            let hostname = format!("sbe.{}", role.facts.ssp_domain);
            dns = Some(role);
            let dbe = speermint_sbe::dbe::DbeConfig {
                addresses: speermint_sbe::dbe::Sides {
                    a: EMBEDDED_DBE[0],
                    b: EMBEDDED_DBE[1],
                },
                ports: EMBEDDED_DBE_PORTS,
                eavesdropper: EMBEDDED_EAVESDROPPER,
                faults,
                ..speermint_sbe::dbe::DbeConfig::default()
            };
            // Over sockets another run may hold the range: the next free
            // one of the same size, a bounded number of tries.
            let mut dbe = dbe;
            let span = EMBEDDED_DBE_PORTS.len() as u16;
            let mut bound = Err(std::io::Error::other("no port range tried"));
            for k in 0..32u16 {
                let start = EMBEDDED_DBE_PORTS.start + k * span;
                dbe.ports = start..start + span;
                match speermint_border::bind_media(&net, &dbe).await {
                    Ok(s) => {
                        bound = Ok(s);
                        break;
                    }
                    Err(e) => bound = Err(std::io::Error::other(e.to_string())),
                }
            }
            let media_sockets = bound.map_err(|e| bind_err("dbe", e))?;
            media_relay = Some(vec![EMBEDDED_DBE[0]]);
            let outbound = speermint_border::Outbound {
                net: net.clone(),
                tls: out_tls,
            };
            let sbe = RunningSbe::start_bound_full(
                udp,
                Some(plain),
                Some((tcp, tls_config)),
                media_sockets,
                Some(outbound),
                move |local| {
                    let mut cfg = SbeConfig::new(local, peers, next);
                    cfg.faults = faults;
                    cfg.tls_required = vec![EMBEDDED_TLS_PEER];
                    cfg.hostname = Some(hostname.clone());
                    cfg.identity = Some(policy.clone());
                    let rate = f64::from(EMBEDDED_PEER_RATE);
                    cfg.peer_limits = PeerLimits {
                        requests_per_sec: rate,
                        burst: rate,
                        sessions: EMBEDDED_PEER_SESSIONS as usize,
                        over_limit: OverLimit::Reject { retry_after: 5 },
                        ..PeerLimits::default()
                    };
                    cfg.resolve_names = true;
                    cfg.hide_topology = true;
                    cfg.media = Some(dbe);
                    cfg
                },
                Some(locator),
            )?;
            tls_required = Some(crate::ctx::TlsRequiredLab {
                peer: EMBEDDED_TLS_PEER,
                udp: sbe.addr(),
                tcp: sbe.tcp_addr(),
            });
            // It relays what the second peer sends it inwards; nobody else
            // is its peer.
            let only_second = vec![second_peer.addr().ip()];
            second_sbe = Some(RunningSbe::start_bound(
                udp_b,
                None,
                move |local| {
                    let mut cfg = SbeConfig::new(local, only_second, next);
                    cfg.faults = faults;
                    cfg
                },
                None,
            )?);
            let on: Vec<&str> = faults.iter().map(Fault::name).collect();
            let place = if net.is_simulated() {
                "simulated network"
            } else {
                "loopback sockets"
            };
            // Where the roles reach it: its listener of the run's transport.
            let at = match plan.transport {
                Transport::Udp => Some(sbe.addr()),
                Transport::Tcp => sbe.tcp_addr(),
                Transport::Tls => sbe.tls_addr(),
            }
            .unwrap_or(sbe.addr());
            let t = plan.transport.as_str();
            let label = if on.is_empty() {
                format!("embedded reference SBE ({t}:{at}, {place})")
            } else {
                format!(
                    "embedded reference SBE ({t}:{at}, {place}) misbehaving: {}",
                    on.join(", ")
                )
            };
            // The reference SSP declares its one SBE as its egress
            // (RFC 6271 #2); the undeclared-egress fault declares another.
            egress = Some(vec![if faults.contains(Fault::UndeclaredEgress) {
                "127.0.0.99".parse().expect("literal")
            } else {
                sbe.addr().ip()
            }]);
            (at, Some(sbe), label)
        }
        TargetKind::External { addr } => {
            if let Some(d) = &plan.dns {
                let key = match &d.key_file {
                    Some(path) => Some(read_key(path)?),
                    None => None,
                };
                let role = DnsRole::start_at(
                    &net,
                    d.servers,
                    key.as_deref(),
                    Topology {
                        peer: peer.addr(),
                        stranger: stranger.addr(),
                        iut: *addr,
                        iut_tls: plan.tls_target,
                        peer_tls: None,
                        stale: false,
                        iut_domain: plan.iut_domain.clone(),
                        iut_per_source: plan
                            .peer_ingress
                            .as_ref()
                            .map(|p| {
                                vec![
                                    (peer.addr().ip(), p.peer),
                                    (second_peer.addr().ip(), p.second_peer),
                                ]
                            })
                            .unwrap_or_default(),
                    },
                    None,
                )
                .await
                .map_err(|e| Error::Dns(e.to_string()))?;
                dns = Some(role);
            }
            if let Some(ca) = &plan.tls_ca {
                tls_client = Some(crate::pki::client_config_from_pem(ca).map_err(Error::Tls)?);
            }
            if plan.transport == Transport::Tls && tls_client.is_none() {
                return Err(Error::Usage(format!(
                    "tls:{addr}: the harness needs the issuer of the IUT's certificate to trust: a profile with [tls] ca (and [target] domain, the name it verifies)"
                )));
            }
            (*addr, None, format!("{}:{addr}", plan.transport.as_str()))
        }
    };
    if plan.transport != Transport::Udp {
        let tls = role_tls.unwrap_or_else(|| RoleTls::same(tls_client.clone()));
        let server_name = iut_tls
            .as_ref()
            .map_or_else(|| plan.iut_domain.clone(), |(_, d)| d.clone());
        for (role, (client, server)) in [
            (&mut peer, tls.peer.clone()),
            (&mut stranger, tls.stranger),
            (&mut terminating, tls.terminating),
            (&mut second_peer, tls.peer),
        ] {
            let stream = StreamPlan {
                transport: plan.transport,
                iut,
                tls_client: client.map(|c| (c, server_name.clone())),
                tls_server: server,
                connect_timeout: plan.timing.response,
            };
            let addr = role.addr();
            let name = role.name();
            role.use_streams(&net, stream)
                .await
                .map_err(|source| Error::Bind {
                    role: name,
                    addr,
                    source,
                })?;
        }
    }
    let mut ctx = Ctx::new(net, iut, [peer, stranger, terminating, second_peer], log);
    ctx.offers = plan.offers.clone();
    ctx.peer_rate = plan.peer_rate;
    ctx.peer_sessions = plan.peer_sessions;
    ctx.egress = egress;
    ctx.media_relay = media_relay;
    ctx.dns_tls = dns_tls;
    ctx.peer_ingress = peer_ingress;
    ctx.identity = identity;
    ctx.mutual_tls = mutual_tls;
    ctx.tls_required = tls_required;
    ctx.tls_egress = tls_egress;
    ctx.iut_tls = iut_tls;
    ctx.timing = plan.timing;
    ctx.dns = dns;
    ctx.tls_client = tls_client;
    if let TargetKind::Embedded { faults } = &plan.target {
        ctx.reference_faults = Some(*faults);
    }
    ctx.transport = plan.transport;
    Ok(Session {
        ctx,
        sbe,
        second_sbe,
        label,
    })
}

/// The name the DNS role's certificate carries in an embedded run, which
/// the reference resolver authenticates it by (RFC 8310 §2: the
/// authentication domain name).
pub const DNS_SERVER_NAME: &str = "dns.sed.example";

/// The reference stack's LUF/LRF: DNS over TLS to both replicas of the
/// DNS role, presenting a certificate for its own domain (RFC 6271 #15,
/// #16), validating DNSSEC (RFC 6404 §4.2). The resolver faults change
/// how it is assembled, nothing else.
async fn reference_locator(
    role: &DnsRole,
    pki: &TestPki,
    faults: Faults,
) -> Result<speermint_resolver::Locator, String> {
    let validating = !faults.contains(Fault::IgnoreDnssec);
    let single = faults.contains(Fault::SingleDnsServer);
    // It speaks UDP and TLS; NAPTR order picks (RFC 3263 §4.1).
    let transports = vec![
        speermint_resolver::Transport::Udp,
        speermint_resolver::Transport::Tls,
    ];
    if faults.contains(Fault::PlaintextDns) {
        return role
            .locator_for(validating, single, transports)
            .await
            .map_err(|e| e.to_string());
    }
    let own = role.facts.ssp_domain.as_str();
    let config = if faults.contains(Fault::DnsNoClientCert) {
        pki.client_config()?
    } else if faults.contains(Fault::AcceptAnyDnsServerCert) {
        pki.client_config_as_trusting_any_server(&[own])?
    } else {
        pki.client_config_as(&[own])?
    };
    let tls = speermint_resolver::DnsTls {
        server_name: DNS_SERVER_NAME.into(),
        config,
    };
    role.locator_over_tls_for(validating, single, tls, transports)
        .await
        .map_err(|e| e.to_string())
}

/// TLS settings of one role: what it presents as a client, what its
/// listener presents.
type TlsPair = (
    Option<std::sync::Arc<rustls::ClientConfig>>,
    Option<std::sync::Arc<rustls::ServerConfig>>,
);

/// What each role presents over TLS.
struct RoleTls {
    /// The peer and the second peer: the peer SSP's certificate.
    peer: TlsPair,
    /// The stranger: a valid certificate for a domain that is no peer's
    /// (a stranger holds no peer's credentials), so an IUT that
    /// authenticates peers (RFC 6404 §4.5) refuses it at the handshake.
    stranger: TlsPair,
    /// The IUT's inside: the SSP's own domain.
    terminating: TlsPair,
}

impl RoleTls {
    /// Every role alike: the run's client settings, no listener
    /// certificate (an external IUT's roles have none to present).
    fn same(client: Option<std::sync::Arc<rustls::ClientConfig>>) -> Self {
        Self {
            peer: (client.clone(), None),
            stranger: (client.clone(), None),
            terminating: (client, None),
        }
    }

    /// Certificates from the run's CA, which the embedded SBE trusts.
    fn embedded(pki: &TestPki, peer_domain: &str, ssp_domain: &str) -> Result<Self, Error> {
        let pair = |domain: &str| -> Result<TlsPair, Error> {
            Ok((
                Some(pki.client_config_as(&[domain]).map_err(Error::Tls)?),
                Some(pki.server_config(&[domain]).map_err(Error::Tls)?),
            ))
        };
        Ok(Self {
            peer: pair(peer_domain)?,
            stranger: pair("stranger.elsewhere.example")?,
            terminating: pair(ssp_domain)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_errors_name_file_line_and_key() {
        let text = "[target]\naddress = \"udp:127.0.0.1:5060\"\n\n[roles]\npeer = \"not-an-ip\"\n";
        let e = parse_profile("iut.toml", text).unwrap_err().to_string();
        assert!(e.starts_with("iut.toml:5: roles.peer:"), "{e}");
        let text = "[target]\naddress = \"udp:127.0.0.1:5060\"\nbogus = 1\n";
        let e = parse_profile("iut.toml", text).unwrap_err().to_string();
        assert!(e.starts_with("iut.toml:3:") && e.contains("bogus"), "{e}");
        let e = parse_profile("iut.toml", "[target]\naddress = \"sctp:1.2.3.4:5\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("iut.toml:2: target.address:"), "{e}");
    }

    #[test]
    fn profile_names_the_dns_role_and_the_tls_issuer() {
        let text = "[target]\naddress = \"udp:127.0.0.9:5060\"\ntls = \"127.0.0.9:5061\"\ndomain = \"SBC.Operator.example.\"\n[dns]\nprimary = \"127.0.0.1:5353\"\nsecondary = \"127.0.0.1:5354\"\nkey = \"zone.pem\"\n[tls]\nca = \"ca.pem\"\n";
        let plan = parse_profile("conf/iut.toml", text).unwrap();
        let dns = plan.dns.unwrap();
        assert_eq!(dns.servers[1], "127.0.0.1:5354".parse().unwrap());
        // Files are relative to the profile.
        assert_eq!(dns.key_file.unwrap(), Path::new("conf/zone.pem"));
        assert_eq!(plan.tls_ca.unwrap(), Path::new("conf/ca.pem"));
        assert_eq!(plan.tls_target, Some("127.0.0.9:5061".parse().unwrap()));
        assert_eq!(plan.iut_domain, "sbc.operator.example");
        let bad = "[target]\naddress = \"udp:127.0.0.9:5060\"\n[dns]\nprimary = \"localhost\"\nsecondary = \"127.0.0.1:5354\"\n";
        let e = parse_profile("iut.toml", bad).unwrap_err().to_string();
        assert!(e.starts_with("iut.toml:4: dns.primary:"), "{e}");
    }

    #[test]
    fn profile_says_what_the_iut_offers() {
        let plain = parse_profile("p", "[target]\naddress = \"udp:127.0.0.9:5060\"\n").unwrap();
        assert_eq!(plain.offers, Some(vec![]));
        let declared =
            "[target]\naddress = \"udp:127.0.0.9:5060\"\noffers = [\"tls\", \"dns-role\"]\n";
        let plan = parse_profile("p", declared).unwrap();
        assert_eq!(
            plan.offers,
            Some(vec![Capability::Tls, Capability::DnsRole])
        );
        let shared = "[target]\naddress = \"udp:127.0.0.9:5060\"\noffers = [\"mutual-tls\"]\n";
        let e = parse_profile("iut.toml", shared).unwrap_err().to_string();
        assert!(
            e.starts_with("iut.toml:3: target.offers:") && e.contains("cannot share"),
            "{e}"
        );
        let bad = "[target]\naddress = \"udp:127.0.0.9:5060\"\n\noffers = [\"media\"]\n";
        let e = parse_profile("iut.toml", bad).unwrap_err().to_string();
        assert!(
            e.starts_with("iut.toml:4: target.offers:") && e.contains("media"),
            "{e}"
        );
    }

    #[test]
    fn profile_declares_peer_limits() {
        let text = "[target]\naddress = \"udp:127.0.0.9:5060\"\n[roles]\nsecond_peer = \"127.0.0.15\"\n[limits]\npeer_requests_per_second = 50\npeer_sessions = 20\n";
        let plan = parse_profile("p", text).unwrap();
        assert_eq!((plan.peer_rate, plan.peer_sessions), (Some(50), Some(20)));
        assert_eq!(plan.second_peer, "127.0.0.15:0".parse().unwrap());
        assert_eq!(
            plan.offers,
            Some(vec![Capability::RateLimit, Capability::SessionLimit])
        );
        let none = parse_profile("p", "[target]\naddress = \"udp:127.0.0.9:5060\"\n").unwrap();
        assert_eq!((none.peer_rate, none.peer_sessions), (None, None));
        let lonely =
            "[target]\naddress = \"udp:127.0.0.9:5060\"\n[limits]\npeer_requests_per_second = 50\n";
        let e = parse_profile("iut.toml", lonely).unwrap_err().to_string();
        assert!(
            e.starts_with("iut.toml:4: limits.peer_requests_per_second:")
                && e.contains("roles.second_peer"),
            "{e}"
        );
        let egress =
            "[target]\naddress = \"udp:127.0.0.9:5060\"\negress = [\"127.0.0.9\", \"::1\"]\n";
        let plan = parse_profile("p", egress).unwrap();
        assert_eq!(plan.egress.as_ref().map(Vec::len), Some(2));
        assert_eq!(plan.offers, Some(vec![Capability::Egress]));
        let bad = "[target]\naddress = \"udp:127.0.0.9:5060\"\negress = [\"sbe.example\"]\n";
        let e = parse_profile("iut.toml", bad).unwrap_err().to_string();
        assert!(e.starts_with("iut.toml:3: target.egress:"), "{e}");
        let huge = "[target]\naddress = \"udp:127.0.0.9:5060\"\n[limits]\npeer_sessions = 0\n";
        let e = parse_profile("iut.toml", huge).unwrap_err().to_string();
        assert!(e.starts_with("iut.toml:4: limits.peer_sessions:"), "{e}");
    }

    #[test]
    fn profile_lists_the_ingress_sbe_of_each_peer() {
        let text = "[target]\naddress = \"udp:127.0.0.9:5060\"\n[dns]\nprimary = \"127.0.0.1:5353\"\nsecondary = \"127.0.0.1:5354\"\n[ingress]\npeer = \"127.0.0.9:5060\"\nsecond_peer = \"127.0.0.9:5062\"\nexclusive = [\"second_peer\"]\n";
        let plan = parse_profile("p", text).unwrap();
        let ing = plan.peer_ingress.unwrap();
        assert_eq!(ing.second_peer, "127.0.0.9:5062".parse().unwrap());
        assert_eq!(ing.exclusive, vec![crate::ctx::RoleId::SecondPeer]);
        assert_eq!(
            plan.offers,
            Some(vec![Capability::DnsRole, Capability::PerPeerIngress])
        );
        let lonely = "[target]\naddress = \"udp:127.0.0.9:5060\"\n[ingress]\npeer = \"127.0.0.9:5060\"\nsecond_peer = \"127.0.0.9:5062\"\n";
        let e = parse_profile("iut.toml", lonely).unwrap_err().to_string();
        assert!(
            e.starts_with("iut.toml:4: ingress.peer:") && e.contains("[dns]"),
            "{e}"
        );
        let dot = "[target]\naddress = \"udp:127.0.0.9:5060\"\noffers = [\"dns-tls\"]\n";
        let e = parse_profile("iut.toml", dot).unwrap_err().to_string();
        assert!(e.contains("cannot share"), "{e}");
    }

    #[test]
    fn profile_targets_a_stream() {
        let tcp = parse_profile("p", "[target]\naddress = \"tcp:127.0.0.9:5060\"\n").unwrap();
        assert_eq!(tcp.transport, Transport::Tcp);
        assert_eq!(tcp.tls_target, None);
        let tls = "[target]\naddress = \"tls:127.0.0.9:5061\"\ndomain = \"sbc.example\"\n";
        let plan = parse_profile("p", tls).unwrap();
        assert_eq!(plan.transport, Transport::Tls);
        // It serves TLS where the roles reach it.
        assert_eq!(plan.tls_target, Some("127.0.0.9:5061".parse().unwrap()));
        assert_eq!(plan.offers, Some(vec![Capability::Tls]));
        assert_eq!(plan.iut_domain, "sbc.example");
        // What speaks UDP only says so.
        let e = parse_target("tcp:127.0.0.9:5060").unwrap_err();
        assert!(e.contains("only udp"), "{e}");
        let e = parse_target_on("sctp:127.0.0.9:5060").unwrap_err();
        assert!(e.contains("udp, tcp or tls"), "{e}");
    }

    #[test]
    fn profile_sets_roles() {
        let text = "[target]\naddress = \"udp:[::1]:5060\"\n[roles]\npeer = \"127.0.0.9\"\nterminating = \"127.0.0.10:5070\"\n";
        let plan = parse_profile("p", text).unwrap();
        assert_eq!(
            plan.target,
            TargetKind::External {
                addr: "[::1]:5060".parse().unwrap()
            }
        );
        assert_eq!(plan.peer, "127.0.0.9:0".parse().unwrap());
        assert_eq!(plan.terminating, "127.0.0.10:5070".parse().unwrap());
    }
}

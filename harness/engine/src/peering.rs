//! A multi-SSP peering topology: the RFC 6405 §3 reference architecture
//! made of reference SBEs and one DNS, on either network. `speermint serve
//! --config` runs one from a TOML file; the RFC 6405 use-case checks
//! assemble one per scenario.
//!
//! What stands for what (RFC 6405 Figure 1):
//! - each SSP is one reference SBE (O-SBE, I-SBE, T-SBE) named
//!   `sbe.<domain>` in its Via and Record-Route (RFC 6271 #7), and its
//!   domain in DNS: NAPTR, SRV and A records leading to that SBE (RFC
//!   3263), which is the LRF's data;
//! - the proxies and user agents inside an SSP are one address, its
//!   `inside`: calls from peers go there, and what comes from there goes
//!   out through the LUF/LRF (the O-Proxy is folded into the UAC, which
//!   sends the number as a `tel:` URI);
//! - an indirect SSP has no inside: what its peers send goes on to the SSP
//!   it carries traffic to (`transit_to`), its routing database reduced to
//!   that one route (RFC 6405 §5.4 step 8);
//! - a LUF is an ENUM tree (RFC 6116) at an apex: an SSP's own (its
//!   `operator`), or an assisting LUF/LRF provider's. Every SBE asks the
//!   tree its SSP is set up to use (`luf`);
//! - static peering is a list of the SSPs an SBE accepts requests from
//!   (RFC 6405 §5.1: pre-association); on-demand peering admits any SSP
//!   whose SBE goes by a name that DNS ties to its address (RFC 6405 §5.6,
//!   see `speermint_sbe`'s `on_demand` module).
//!
//! One DNS (two signed replicas) serves every zone: the SSPs' domains and
//! the ENUM trees. Which LUF an element uses is the apex it asks under.

use crate::role::{EvidenceLog, Wire};
use crate::target::Error;
use serde::Deserialize;
use speermint_border::RunningSbe;
use speermint_dns_role::{RunningAuth, Zone};
use speermint_net::Network;
use speermint_resolver::{Client, ClientConfig, Locator, LocatorConfig, Transport, TrustAnchor};
use speermint_sbe::{Fault, Faults, SbeConfig};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

/// The ENUM apex of the public tree (RFC 6116 §2), the default LUF.
pub const PUBLIC_ENUM: &str = "e164.arpa";

/// One SSP of the topology.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SspConfig {
    /// Short name, used in `peers`, `transit_to`, reports: `o-ssp`.
    pub name: String,
    /// Its SIP domain, published in DNS.
    pub domain: String,
    /// Where its SBE listens (UDP; port 0 picks one).
    pub sbe: SocketAddr,
    /// Its inside (proxy and user agents): where its SBE sends requests
    /// from peers. `None` for an indirect SSP, which has `transit_to`.
    pub inside: Option<SocketAddr>,
    /// For an indirect SSP: the SSP its SBE carries peers' requests to.
    pub transit_to: Option<String>,
    /// The SSPs its SBE accepts requests from (static peering).
    pub peers: Vec<String>,
    /// Also accept SSPs it has no pre-association with (RFC 6405 §5.6).
    pub on_demand: bool,
    /// The ENUM apex its SBE looks numbers up under.
    pub luf: String,
}

/// An ENUM tree (a LUF's data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumTree {
    /// Its apex: `e164.arpa`, or a private root.
    pub apex: String,
    /// The SSP that runs it for itself; `None` for an assisting LUF/LRF
    /// provider or the public tree.
    pub operator: Option<String>,
    /// E.164 number to the domain its NAPTR leads to: the record says
    /// `sip:NUMBER@DOMAIN` (RFC 6116 §3.2).
    pub numbers: Vec<(String, String)>,
}

/// A topology.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopologyConfig {
    /// Where the two DNS replicas listen (port 0 picks one; 53 on the
    /// simulated network).
    pub dns: [SocketAddr; 2],
    /// The SSPs.
    pub ssps: Vec<SspConfig>,
    /// The ENUM trees.
    pub enum_trees: Vec<EnumTree>,
}

impl TopologyConfig {
    /// The SSP called `name`.
    pub fn ssp(&self, name: &str) -> Option<&SspConfig> {
        self.ssps.iter().find(|s| s.name == name)
    }

    /// What is wrong with it, as (key, message); the file parser adds the
    /// line.
    fn problems(&self) -> Option<(String, usize, String)> {
        for (i, s) in self.ssps.iter().enumerate() {
            let key = |k: &str| (format!("ssp.{k}"), i);
            if self.ssps.iter().filter(|o| o.name == s.name).count() > 1 {
                let (k, i) = key("name");
                return Some((k, i, format!("{:?} names two SSPs", s.name)));
            }
            if let Some(msg) = domain_problem(&s.domain) {
                let (k, i) = key("domain");
                return Some((k, i, msg));
            }
            match (&s.inside, &s.transit_to) {
                (Some(_), Some(_)) | (None, None) => {
                    let (k, i) = key("inside");
                    return Some((
                        k,
                        i,
                        "give exactly one of inside (where calls for its users go) and transit_to (the SSP an indirect SSP carries calls to)".into(),
                    ));
                }
                _ => {}
            }
            for other in s.peers.iter().chain(&s.transit_to) {
                if self.ssp(other).is_none() {
                    let k = if s.transit_to.as_ref() == Some(other) {
                        "transit_to"
                    } else {
                        "peers"
                    };
                    let (k, i) = key(k);
                    return Some((k, i, format!("no SSP is called {other:?}")));
                }
                if *other == s.name {
                    let (k, i) = key("peers");
                    return Some((k, i, "an SSP does not peer with itself".into()));
                }
            }
            if s.luf != PUBLIC_ENUM && !self.enum_trees.iter().any(|t| t.apex == s.luf) {
                let (k, i) = key("luf");
                return Some((k, i, format!("no [[enum]] tree has the apex {:?}", s.luf)));
            }
        }
        for (i, t) in self.enum_trees.iter().enumerate() {
            if let Some(msg) = domain_problem(&t.apex) {
                return Some(("enum.apex".into(), i, msg));
            }
            if let Some(op) = t.operator.as_ref().filter(|o| self.ssp(o).is_none()) {
                return Some((
                    "enum.operator".into(),
                    i,
                    format!("no SSP is called {op:?}"),
                ));
            }
            for (number, domain) in &t.numbers {
                let digits = number.strip_prefix('+').unwrap_or("");
                if digits.is_empty()
                    || digits.len() > 15
                    || !digits.bytes().all(|b| b.is_ascii_digit())
                {
                    return Some((
                        "enum.numbers".into(),
                        i,
                        format!("{number:?} is not an E.164 number (+ and up to 15 digits)"),
                    ));
                }
                if let Some(msg) = domain_problem(domain) {
                    return Some(("enum.numbers".into(), i, format!("{number}: {msg}")));
                }
            }
        }
        None
    }
}

fn domain_problem(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            (1..=63).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    (!ok).then(|| format!("{name:?} is not a domain name"))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopologyFile {
    dns: Option<DnsSection>,
    #[serde(default)]
    ssp: Vec<toml::Spanned<SspSection>>,
    #[serde(default, rename = "enum")]
    enum_trees: Vec<toml::Spanned<EnumSection>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DnsSection {
    listen: toml::Spanned<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SspSection {
    name: toml::Spanned<String>,
    domain: toml::Spanned<String>,
    sbe: toml::Spanned<String>,
    inside: Option<toml::Spanned<String>>,
    transit_to: Option<toml::Spanned<String>>,
    peers: Option<toml::Spanned<Vec<String>>>,
    #[serde(default)]
    on_demand: bool,
    luf: Option<toml::Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnumSection {
    apex: toml::Spanned<String>,
    operator: Option<toml::Spanned<String>>,
    numbers: Option<toml::Spanned<BTreeMap<String, String>>>,
}

impl SspSection {
    /// Where `key` is written, else where the table starts.
    fn offset(&self, key: &str, table: usize) -> usize {
        let at = |v: Option<std::ops::Range<usize>>| v.map_or(table, |r| r.start);
        match key {
            "ssp.name" => self.name.span().start,
            "ssp.domain" => self.domain.span().start,
            "ssp.inside" => at(self.inside.as_ref().map(|v| v.span())),
            "ssp.transit_to" => at(self.transit_to.as_ref().map(|v| v.span())),
            "ssp.peers" => at(self.peers.as_ref().map(|v| v.span())),
            "ssp.luf" => at(self.luf.as_ref().map(|v| v.span())),
            _ => table,
        }
    }
}

impl EnumSection {
    fn offset(&self, key: &str, table: usize) -> usize {
        match key {
            "enum.apex" => self.apex.span().start,
            "enum.operator" => self.operator.as_ref().map_or(table, |v| v.span().start),
            "enum.numbers" => self.numbers.as_ref().map_or(table, |v| v.span().start),
            _ => table,
        }
    }
}

/// Reads a topology file. Every error names the file, the line and the key.
pub fn load_topology(path: &Path) -> Result<TopologyConfig, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse_topology(&path.display().to_string(), &text)
}

/// Parses topology text (see [`load_topology`]).
pub fn parse_topology(file: &str, text: &str) -> Result<TopologyConfig, Error> {
    let at = |key: &str, offset: usize, message: String| Error::Config {
        file: file.to_string(),
        line: crate::target::line_of(text, offset),
        key: key.to_string(),
        message,
    };
    let raw: TopologyFile = toml::from_str(text).map_err(|e| {
        let start = e.span().map_or(0, |s| s.start);
        let key = e
            .span()
            .map(|s| text[s].trim().to_string())
            .unwrap_or_default();
        at(&key, start, e.message().trim().to_string())
    })?;
    let addr = |key: &str, v: &toml::Spanned<String>, any_port: bool| {
        let s = v.get_ref();
        let parsed = match s.parse::<IpAddr>() {
            Ok(ip) if any_port => Ok(SocketAddr::new(ip, 0)),
            _ => s.parse::<SocketAddr>(),
        };
        parsed.map_err(|_| {
            at(
                key,
                v.span().start,
                format!(
                    "{s:?} is not {}",
                    if any_port { "IP or IP:PORT" } else { "IP:PORT" }
                ),
            )
        })
    };
    let dns = match &raw.dns {
        Some(d) => {
            let list = d.listen.get_ref();
            let parsed: Option<Vec<SocketAddr>> = list.iter().map(|a| a.parse().ok()).collect();
            match parsed.as_deref() {
                Some([a, b]) => [*a, *b],
                _ => {
                    return Err(at(
                        "dns.listen",
                        d.listen.span().start,
                        "two IP:PORT addresses, one per replica (port 0 picks one)".into(),
                    ));
                }
            }
        }
        None => [SocketAddr::from(([127, 0, 0, 1], 0)); 2],
    };
    let mut ssps = Vec::new();
    let name = |n: &str| n.trim_end_matches('.').to_ascii_lowercase();
    for s in &raw.ssp {
        let s = s.get_ref();
        let inside = match &s.inside {
            Some(v) => Some(addr("ssp.inside", v, false)?),
            None => None,
        };
        ssps.push(SspConfig {
            name: s.name.get_ref().clone(),
            domain: name(s.domain.get_ref()),
            sbe: addr("ssp.sbe", &s.sbe, true)?,
            inside,
            transit_to: s.transit_to.as_ref().map(|t| t.get_ref().clone()),
            peers: s
                .peers
                .as_ref()
                .map(|p| p.get_ref().clone())
                .unwrap_or_default(),
            on_demand: s.on_demand,
            luf: name(s.luf.as_ref().map_or(PUBLIC_ENUM, |l| l.get_ref())),
        });
    }
    let enum_trees = raw
        .enum_trees
        .iter()
        .map(|t| {
            let t = t.get_ref();
            EnumTree {
                apex: name(t.apex.get_ref()),
                operator: t.operator.as_ref().map(|o| o.get_ref().clone()),
                numbers: t
                    .numbers
                    .iter()
                    .flat_map(|n| n.get_ref())
                    .map(|(n, d)| (n.clone(), name(d)))
                    .collect(),
            }
        })
        .collect();
    let cfg = TopologyConfig {
        dns,
        ssps,
        enum_trees,
    };
    if cfg.ssps.is_empty() {
        return Err(at("ssp", 0, "no [[ssp]]: a topology needs SSPs".into()));
    }
    if let Some((key, i, message)) = cfg.problems() {
        let offset = if key.starts_with("ssp.") {
            let t = &raw.ssp[i];
            t.get_ref().offset(&key, t.span().start)
        } else {
            let t = &raw.enum_trees[i];
            t.get_ref().offset(&key, t.span().start)
        };
        return Err(at(&key, offset, message));
    }
    Ok(cfg)
}

/// Whether `name` is `origin` or under it.
fn under(name: &str, origin: &str) -> bool {
    name == origin || name.ends_with(&format!(".{origin}"))
}

/// The zone texts of a topology with its SBEs at `sbes` (by SSP): each
/// SSP's domain advertises its SBE (NAPTR, SRV, A: RFC 3263), each ENUM
/// entry is a NAPTR (RFC 6116), placed in the SSP zone its apex lies
/// under, or in a zone of its own.
fn zone_texts(cfg: &TopologyConfig, sbes: &[SocketAddr]) -> Vec<(String, String)> {
    let mut zones: Vec<(String, String)> = Vec::new();
    let head = |origin: &str| {
        format!(
            "$ORIGIN {origin}.\n$TTL 300\n@ IN SOA ns hostmaster 1 3600 600 86400 60\n@ IN NS ns\nns IN A 127.0.0.1\n"
        )
    };
    for (s, addr) in cfg.ssps.iter().zip(sbes) {
        let mut z = head(&s.domain);
        z.push_str(&format!(
            "@ IN NAPTR 10 10 \"s\" \"SIP+D2U\" \"\" _sip._udp\n_sip._udp IN SRV 0 1 {} sbe\nsbe IN {} {}\n",
            addr.port(),
            if addr.is_ipv4() { "A" } else { "AAAA" },
            addr.ip()
        ));
        zones.push((s.domain.clone(), z));
    }
    for t in &cfg.enum_trees {
        let mut records = String::new();
        for (number, domain) in &t.numbers {
            let digits: Vec<String> = number
                .trim_start_matches('+')
                .chars()
                .rev()
                .map(String::from)
                .collect();
            records.push_str(&format!(
                "{}.{}. IN NAPTR 10 100 \"u\" \"E2U+sip\" \"!^.*$!sip:{number}@{domain}!\" .\n",
                digits.join("."),
                t.apex
            ));
        }
        let enclosing = zones
            .iter_mut()
            .filter(|(origin, _)| under(&t.apex, origin))
            .max_by_key(|(origin, _)| origin.len());
        match enclosing {
            Some((_, z)) => z.push_str(&records),
            None => zones.push((t.apex.clone(), head(&t.apex) + &records)),
        }
    }
    zones
}

/// A running topology.
#[derive(Debug)]
pub struct RunningTopology {
    /// The configuration it runs, with the addresses bound.
    pub config: TopologyConfig,
    /// The DNS replicas, primary first.
    pub dns: [RunningAuth; 2],
    /// Each SSP's SBE, in configuration order.
    pub sbes: Vec<RunningSbe>,
}

impl RunningTopology {
    /// The SBE address of the SSP called `name`.
    pub fn sbe(&self, name: &str) -> Option<SocketAddr> {
        let i = self.config.ssps.iter().position(|s| s.name == name)?;
        Some(self.sbes[i].addr())
    }

    /// One line per element, `NAME udp:ADDRESS`: the DNS replicas
    /// (`dns-1`, `dns-2`), then each SSP's SBE (`o-ssp-sbe`).
    pub fn lines(&self) -> Vec<String> {
        let mut v = vec![
            format!("dns-1 udp:{}", self.dns[0].addr()),
            format!("dns-2 udp:{}", self.dns[1].addr()),
        ];
        for (s, sbe) in self.config.ssps.iter().zip(&self.sbes) {
            v.push(format!("{}-sbe udp:{}", s.name, sbe.addr()));
        }
        v
    }

    /// Who an address is, for a ladder: `o-ssp-sbe`, `dns`, or `None`.
    pub fn element_at(&self, addr: SocketAddr) -> Option<String> {
        if self.dns.iter().any(|d| d.addr() == addr) {
            return Some("dns".into());
        }
        let i = self.sbes.iter().position(|s| s.addr() == addr)?;
        Some(format!("{}-sbe", self.config.ssps[i].name))
    }

    /// Logs into `log`, as they happen, what the harness's roles cannot
    /// see: every datagram an SBE sends to another SBE, under the
    /// sender's name (`o-ssp-sbe`), so that with the roles' own entries
    /// the ladder reads who sent what to whom, in order. What an SBE sends
    /// to a role, the role logs. Once per topology.
    pub fn log_to(&self, log: &EvidenceLog) {
        let names: Vec<(SocketAddr, String)> = self
            .config
            .ssps
            .iter()
            .zip(&self.sbes)
            .map(|(s, sbe)| (sbe.addr(), format!("{}-sbe", s.name)))
            .collect();
        for (me, sbe) in self.sbes.iter().enumerate() {
            let (log, names) = (log.clone(), names.clone());
            sbe.on_datagram(move |d| {
                let name = |a: SocketAddr| names.iter().find(|(x, _)| *x == a).map(|(_, n)| n);
                if d.from != names[me].0 {
                    return;
                }
                let Some(to) = name(d.to) else {
                    return;
                };
                let line = format!("{} -> {to}", first_line(&d.bytes));
                let wire = Wire {
                    from: d.from,
                    to: d.to,
                    transport: speermint_net::Transport::Udp,
                    at: log.run_time(d.at),
                    bytes: d.bytes,
                };
                log.add_datagram(&names[me].1, "sent", line, wire);
            });
        }
    }

    /// Adds the DNS answers since the last call to `log` (as the `dns`
    /// role's, in time order: the resolvers' sockets are not the SBEs',
    /// so the receiver shows as an address), and returns their summaries.
    pub fn add_dns_answers(&self, log: &EvidenceLog) -> Vec<String> {
        let mut lines = Vec::new();
        let mut missed = 0;
        for dns in &self.dns {
            let (kept, more) = dns.take_datagrams();
            missed += more;
            for d in kept.into_iter().filter(|d| d.from == dns.addr()) {
                let line = format!("{} -> {}", speermint_dns_role::describe(&d.bytes), d.to);
                lines.push(line.clone());
                let wire = Wire {
                    from: d.from,
                    to: d.to,
                    transport: speermint_net::Transport::Udp,
                    at: log.run_time(d.at),
                    bytes: d.bytes,
                };
                log.add_datagram("dns", "sent", line, wire);
            }
        }
        if missed > 0 {
            log.note(
                "dns",
                format!("{missed} more DNS datagrams were not kept (over the role's bound)"),
            );
        }
        log.sort_by_time();
        lines
    }

    /// Stops every element.
    pub async fn stop(self) {
        for s in self.sbes {
            s.stop().await;
        }
        for d in self.dns {
            d.stop().await;
        }
    }
}

fn first_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(
        bytes
            .split(|&c| c == b'\r' || c == b'\n')
            .next()
            .unwrap_or_default(),
    )
    .into_owned()
}

/// Starts `cfg` on `net`: binds every SBE, publishes the zones on two
/// signed replicas, then starts the SBEs, each resolving through a
/// validating LUF/LRF under its SSP's ENUM apex. `faults` go to every
/// SBE; `ignore-assisting-luf` makes an SSP that uses another's tree ask
/// its own. On the simulated network this must run on
/// [`speermint_net::SimNet::runtime`].
pub async fn start(
    net: &Network,
    cfg: &TopologyConfig,
    faults: Faults,
) -> Result<RunningTopology, Error> {
    let mut sockets = Vec::new();
    for s in &cfg.ssps {
        let udp = net.bind_udp(s.sbe).await.map_err(|source| Error::Bind {
            role: "sbe",
            addr: s.sbe,
            source,
        })?;
        sockets.push(udp);
    }
    let mut bound = Vec::new();
    for (s, u) in cfg.ssps.iter().zip(&sockets) {
        bound.push(u.local_addr().map_err(|source| Error::Bind {
            role: "sbe",
            addr: s.sbe,
            source,
        })?);
    }
    let mut zones = Vec::new();
    for (origin, text) in zone_texts(cfg, &bound) {
        let zone = Zone::from_text(&text, None, &origin)
            .and_then(Zone::sign)
            .map_err(|e| Error::Dns(e.to_string()))?;
        zones.push(zone);
    }
    // On the simulated network every port is free: DNS sits on 53.
    let dns_addrs = cfg.dns.map(|a| {
        if net.is_simulated() && a.port() == 0 {
            SocketAddr::new(a.ip(), 53)
        } else {
            a
        }
    });
    let (primary, secondary) = speermint_dns_role::start_replicas(net, dns_addrs, zones)
        .await
        .map_err(|e| Error::Dns(e.to_string()))?;
    let anchor = TrustAnchor::from_records(&primary.trust_anchor_records())
        .map_err(|e| Error::Dns(e.to_string()))?;
    let servers = vec![primary.addr(), secondary.addr()];
    let mut sbes = Vec::new();
    for (i, (s, udp)) in cfg.ssps.iter().zip(sockets).enumerate() {
        let apex = if faults.contains(Fault::IgnoreAssistingLuf) {
            own_tree(cfg, s).unwrap_or(&s.luf)
        } else {
            &s.luf
        };
        let locator = locator(net, servers.clone(), anchor.clone(), apex).await?;
        let peers: Vec<IpAddr> = s
            .peers
            .iter()
            .filter_map(|p| cfg.ssps.iter().position(|o| o.name == *p))
            .map(|j| bound[j].ip())
            .collect();
        let next_hop = match (&s.inside, &s.transit_to) {
            (Some(a), _) => *a,
            (None, Some(t)) => cfg
                .ssps
                .iter()
                .position(|o| o.name == *t)
                .map_or(bound[i], |j| bound[j]),
            (None, None) => bound[i],
        };
        let hostname = format!("sbe.{}", s.domain);
        let on_demand = s.on_demand;
        let sbe = RunningSbe::start_bound(
            udp,
            None,
            move |local| {
                let mut c = SbeConfig::new(local, peers, next_hop);
                c.hostname = Some(hostname);
                c.resolve_names = true;
                c.on_demand = on_demand;
                c.faults = faults;
                c
            },
            Some(locator),
        )?;
        sbes.push(sbe);
    }
    let mut config = cfg.clone();
    for (s, a) in config.ssps.iter_mut().zip(&bound) {
        s.sbe = *a;
    }
    config.dns = [primary.addr(), secondary.addr()];
    Ok(RunningTopology {
        config,
        dns: [primary, secondary],
        sbes,
    })
}

/// The ENUM tree `ssp` runs for itself, when it uses another.
fn own_tree<'a>(cfg: &'a TopologyConfig, ssp: &SspConfig) -> Option<&'a String> {
    let uses_own = cfg
        .enum_trees
        .iter()
        .any(|t| t.apex == ssp.luf && t.operator.as_deref() == Some(&ssp.name));
    if uses_own {
        return None;
    }
    cfg.enum_trees
        .iter()
        .find(|t| t.operator.as_deref() == Some(&ssp.name))
        .map(|t| &t.apex)
}

/// A validating LUF/LRF over `servers` for a UDP element, asking ENUM
/// under `apex`.
async fn locator(
    net: &Network,
    servers: Vec<SocketAddr>,
    anchor: TrustAnchor,
    apex: &str,
) -> Result<Locator, Error> {
    let mut cc = ClientConfig::new(servers);
    cc.timeout = Duration::from_millis(500);
    cc.attempts = 1;
    cc.trust_anchor = Some(anchor);
    cc.network = net.clone();
    let client = Client::new(cc)
        .await
        .map_err(|e| Error::Dns(e.to_string()))?;
    let mut lc = LocatorConfig::default();
    lc.lrf.transports = vec![Transport::Udp];
    lc.luf.apex = speermint_enum::Apex::new(apex)
        .map_err(|e| Error::Usage(format!("ENUM apex {apex:?}: {e}")))?;
    Ok(Locator::new(client, lc))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../../docs/rfc6405/topology.toml");

    #[test]
    fn the_example_topology_parses() {
        let cfg = parse_topology("topology.toml", EXAMPLE).unwrap();
        assert_eq!(cfg.ssps.len(), 3);
        let o = cfg.ssp("o-ssp").unwrap();
        assert_eq!(o.domain, "example.com");
        assert!(cfg.ssp("i-ssp").unwrap().transit_to.is_some());
        assert!(!cfg.enum_trees.is_empty());
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let text = "[[ssp]]\nname = \"o\"\ndomain = \"example.com\"\nsbe = \"127.0.0.1:0\"\ninside = \"127.0.0.2:5060\"\npeers = [\"t\"]\n";
        let e = parse_topology("t.toml", text).unwrap_err().to_string();
        assert!(
            e.starts_with("t.toml:6: ssp.peers:") && e.contains("\"t\""),
            "{e}"
        );
        let text = "[[ssp]]\nname = \"o\"\ndomain = \"example.com\"\nsbe = \"nowhere\"\ninside = \"127.0.0.2:5060\"\n";
        let e = parse_topology("t.toml", text).unwrap_err().to_string();
        assert!(e.starts_with("t.toml:4: ssp.sbe:"), "{e}");
        let text = "[[ssp]]\nname = \"o\"\ndomain = \"example.com\"\nsbe = \"127.0.0.1\"\ninside = \"127.0.0.2:5060\"\nbogus = 1\n";
        let e = parse_topology("t.toml", text).unwrap_err().to_string();
        assert!(e.starts_with("t.toml:6:") && e.contains("bogus"), "{e}");
        let text = "[[ssp]]\nname = \"o\"\ndomain = \"example.com\"\nsbe = \"127.0.0.1\"\ninside = \"127.0.0.2:5060\"\n\n[[enum]]\napex = \"e164.example.com\"\nnumbers = { \"12345\" = \"example.net\" }\n";
        let e = parse_topology("t.toml", text).unwrap_err().to_string();
        assert!(e.starts_with("t.toml:9: enum.numbers:"), "{e}");
    }

    #[test]
    fn enum_entries_go_in_the_zone_their_apex_lies_under() {
        let cfg = TopologyConfig {
            dns: [SocketAddr::from(([127, 0, 0, 1], 0)); 2],
            ssps: vec![SspConfig {
                name: "o".into(),
                domain: "example.com".into(),
                sbe: "127.0.0.1:5060".parse().unwrap(),
                inside: Some("127.0.0.2:5060".parse().unwrap()),
                transit_to: None,
                peers: vec![],
                on_demand: false,
                luf: "e164.example.com".into(),
            }],
            enum_trees: vec![
                EnumTree {
                    apex: "e164.example.com".into(),
                    operator: Some("o".into()),
                    numbers: vec![("+19175550100".into(), "example.net".into())],
                },
                EnumTree {
                    apex: "e164.arpa".into(),
                    operator: None,
                    numbers: vec![("+19175550100".into(), "example.net".into())],
                },
            ],
        };
        let zones = zone_texts(&cfg, &["127.0.0.1:5060".parse().unwrap()]);
        assert_eq!(zones.len(), 2, "{zones:?}");
        assert!(
            zones[0]
                .1
                .contains("0.0.1.0.5.5.5.7.1.9.1.e164.example.com. IN NAPTR")
        );
        assert_eq!(zones[1].0, "e164.arpa");
        for (origin, text) in zones {
            Zone::from_text(&text, None, &origin).unwrap();
        }
    }
}

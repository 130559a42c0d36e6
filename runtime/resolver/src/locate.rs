//! The async drivers: run the sans-IO LUF ([`speermint_enum::Lookup`]) and
//! LRF ([`speermint_route::Resolution`]) over the [`Client`], from an
//! E.164 number or a SIP/SIPS URI to the target URI and its next hops
//! (RFC 6406 §4 steps 1-2; RFC 6271 Requirement #5 wants both together).
//!
//! DNSSEC policy (RFC 6404 §4.2): with anchors configured, one answer that
//! fails validation ends the whole resolution with an error. Routing on
//! the answers that did validate would still let a forger choose which
//! record the caller ends up using.

use std::net::IpAddr;

use futures_util::future::join_all;
use serde::Serialize;
use speermint_enum::{Lookup, Step as LufStep};
use speermint_route::{NextHop, Resolution, RouteStep, RoutingTable, Target, Transport};

use crate::client::{Client, QueryError};
use crate::convert::Security;

/// Settings of the two functions.
#[derive(Debug, Clone, Default)]
pub struct LocatorConfig {
    /// LUF: apex, enumservices, bounds.
    pub luf: speermint_enum::Config,
    /// LRF: transports, TLS preference, bounds.
    pub lrf: speermint_route::Config,
    /// Per-peer routes that override DNS (RFC 6406 §6.1.2.2-3).
    pub table: RoutingTable,
    /// Seed for RFC 2782 weighted choice.
    pub seed: u64,
}

/// One line of the trace, for people (`detail`) and tools (`function`,
/// `step`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceStep {
    /// `luf` or `lrf`.
    pub function: &'static str,
    /// `query`, `answer`, `naptr`, `rewrite`, `backtrack`, `table`,
    /// `transport`, `srv`, `fallback`.
    pub step: &'static str,
    /// What happened, in words.
    pub detail: String,
}

/// A next hop in the shape of the `resolve` report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hop {
    /// `udp`, `tcp`, `tls`, `sctp` or `tls-sctp`.
    pub transport: String,
    /// The host name the address came from (or the address itself).
    pub host: String,
    /// Address to connect to.
    pub address: IpAddr,
    /// Port.
    pub port: u16,
}

impl From<&NextHop> for Hop {
    fn from(h: &NextHop) -> Self {
        Self {
            transport: h.transport.to_string().to_ascii_lowercase(),
            host: h.host.clone(),
            address: h.address,
            port: h.port,
        }
    }
}

/// Where a target leads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Located {
    /// The URI to put in the Request-URI (the LUF's output for a number,
    /// the input for a URI).
    pub target_uri: String,
    /// Ordered next hops (RFC 3263 §4.3).
    pub next_hops: Vec<Hop>,
    /// Every answer used validated against an anchor.
    pub secure: bool,
    /// What was asked and decided, in order.
    pub steps: Vec<TraceStep>,
}

/// Why a target led nowhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct LocateError {
    /// Stable short name: `bad-target`, `dnssec`, `timeout`, `dns`,
    /// `not-in-enum`, `unsupported-service`, `bad-regexp`, `loop`,
    /// `no-match`, `unsupported-uri`, `no-route`, `insecure-transport`.
    pub kind: &'static str,
    /// The cause, in words.
    pub message: String,
    /// The trace up to the failure.
    #[serde(skip)]
    pub steps: Vec<TraceStep>,
}

/// The LUF and LRF over one client.
#[derive(Debug, Clone)]
pub struct Locator {
    client: Client,
    config: LocatorConfig,
}

struct Run {
    steps: Vec<TraceStep>,
    secure: bool,
    dns_failure: Option<QueryError>,
}

impl Run {
    fn new(client: &Client) -> Self {
        Self {
            steps: Vec::new(),
            secure: client.validating(),
            dns_failure: None,
        }
    }

    fn push(&mut self, function: &'static str, step: &'static str, detail: String) {
        self.steps.push(TraceStep {
            function,
            step,
            detail,
        });
    }

    fn error(&mut self, kind: &'static str, message: String) -> LocateError {
        // A DNS failure along the way explains a "nothing found" better.
        let (kind, message) = match self.dns_failure.take() {
            Some(e) if matches!(kind, "not-in-enum" | "no-route" | "dns") => {
                (e.kind(), format!("{message} ({e})"))
            }
            _ => (kind, message),
        };
        LocateError {
            kind,
            message,
            steps: std::mem::take(&mut self.steps),
        }
    }

    /// Takes a query result: bogus ends everything, other failures are
    /// remembered and fed to the core as "failed".
    fn take<T>(&mut self, r: Result<(T, Security), QueryError>) -> Result<Option<T>, LocateError> {
        match r {
            Ok((a, security)) => {
                self.secure &= security == Security::Secure;
                Ok(Some(a))
            }
            Err(e @ QueryError::Bogus { .. }) => {
                let message = e.to_string();
                Err(self.error("dnssec", message))
            }
            Err(e) => {
                self.dns_failure.get_or_insert(e);
                Ok(None)
            }
        }
    }
}

impl Locator {
    /// The functions over `client`.
    pub fn new(client: Client, config: LocatorConfig) -> Self {
        Self { client, config }
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// An E.164 number (`+44...`, or `tel:+44...`) or a `sip:`/`sips:` URI.
    pub async fn locate(&self, target: &str) -> Result<Located, LocateError> {
        let t = target.trim();
        let number = t
            .strip_prefix("tel:")
            .map(|n| n.split(';').next().unwrap_or(n))
            .or_else(|| t.starts_with('+').then_some(t));
        let mut run = Run::new(&self.client);
        let uri = match number {
            Some(n) => self.lookup(n, &mut run).await?,
            None => t.to_owned(),
        };
        let route_target = match sip_target(&uri) {
            Ok(rt) => rt,
            Err((kind, message)) => return Err(run.error(kind, message)),
        };
        let hops = self.route(route_target, &mut run).await?;
        Ok(Located {
            target_uri: uri,
            next_hops: hops.iter().map(Hop::from).collect(),
            secure: run.secure,
            steps: run.steps,
        })
    }

    /// Only the LUF: the target URI for a number.
    pub async fn lookup_number(&self, number: &str) -> Result<(String, bool), LocateError> {
        let mut run = Run::new(&self.client);
        let uri = self.lookup(number, &mut run).await?;
        Ok((uri, run.secure))
    }

    /// Only the LRF: next hops for a parsed target.
    pub async fn route_target(&self, target: Target) -> Result<(Vec<NextHop>, bool), LocateError> {
        let mut run = Run::new(&self.client);
        let hops = self.route(target, &mut run).await?;
        Ok((hops, run.secure))
    }

    async fn lookup(&self, number: &str, run: &mut Run) -> Result<String, LocateError> {
        let mut lookup = Lookup::new(number, self.config.luf.clone());
        let mut seen = 0;
        while let Some(q) = lookup.next_query() {
            seen = luf_steps(lookup.steps(), seen, run);
            let answered = run.take(self.client.enum_answer(&q.name).await)?;
            let answer = match answered {
                Some(a) => {
                    run.push(
                        "luf",
                        "answer",
                        format!("{} NAPTR: {}", q.name, enum_answer_text(&a)),
                    );
                    a
                }
                None => {
                    let why = run
                        .dns_failure
                        .as_ref()
                        .map(|e| e.to_string())
                        .unwrap_or_default();
                    run.push("luf", "answer", format!("{} NAPTR: failed ({why})", q.name));
                    speermint_enum::Answer::Failed
                }
            };
            if lookup.on_answer(&q.name, answer).is_err() {
                break;
            }
        }
        luf_steps(lookup.steps(), seen, run);
        match lookup.result() {
            Ok(resolved) => Ok(resolved.target_uri),
            Err(e) => {
                use speermint_enum::LufError as E;
                let kind = match &e {
                    E::BadNumber(_) => "bad-target",
                    E::NoRecords { .. } => "not-in-enum",
                    E::DnsFailure { .. } => "dns",
                    E::UnsupportedService => "unsupported-service",
                    E::NoMatch => "no-match",
                    E::BadRegexp { .. } => "bad-regexp",
                    E::Loop { .. } | E::TooManyQueries { .. } => "loop",
                    _ => "dns",
                };
                Err(run.error(kind, e.to_string()))
            }
        }
    }

    async fn route(&self, target: Target, run: &mut Run) -> Result<Vec<NextHop>, LocateError> {
        let mut res = Resolution::new(
            target,
            &self.config.lrf,
            &self.config.table,
            self.config.seed,
        );
        let mut seen = lrf_steps(res.steps(), 0, run);
        loop {
            let pending = res.pending();
            if pending.is_empty() {
                break;
            }
            // A and AAAA of every SRV target come as one batch: ask them
            // concurrently, feed them back in the order asked.
            // Polled together in this task: no spawn, so a warm (cached)
            // batch costs no cross-thread wake-ups.
            let results = join_all(pending.iter().map(|q| self.client.route_answer(q))).await;
            for (r, q) in results.into_iter().zip(&pending) {
                let answer = match run.take(r)? {
                    Some(a) => {
                        run.push(
                            "lrf",
                            "answer",
                            format!("{}: {}", query_text(q), route_answer_text(&a)),
                        );
                        a
                    }
                    None => {
                        let why = run
                            .dns_failure
                            .as_ref()
                            .map(|e| e.to_string())
                            .unwrap_or_default();
                        run.push(
                            "lrf",
                            "answer",
                            format!("{}: failed ({why})", query_text(q)),
                        );
                        speermint_route::Answer::Failed
                    }
                };
                if res.on_answer(q, answer).is_err() {
                    break;
                }
                seen = lrf_steps(res.steps(), seen, run);
            }
        }
        lrf_steps(res.steps(), seen, run);
        match res.result() {
            Ok(route) => {
                for h in &route.hops {
                    run.push("lrf", "hop", h.to_string());
                }
                Ok(route.hops)
            }
            Err(e) => {
                use speermint_route::LrfError as E;
                let kind = match &e {
                    E::InvalidTarget { .. } => "bad-target",
                    E::InsecureTransport | E::NoSecureRoute => "insecure-transport",
                    E::UnsupportedTransport { .. } => "unsupported-uri",
                    E::TooManyQueries { .. } => "loop",
                    _ => "no-route",
                };
                Err(run.error(kind, e.to_string()))
            }
        }
    }
}

/// A `sip:`/`sips:` URI as an LRF target (RFC 3263 §4: host, port,
/// transport and maddr are what matter).
pub fn sip_target(uri: &str) -> Result<Target, (&'static str, String)> {
    let parsed = speermint_sip::Uri::parse(uri)
        .map_err(|at| ("bad-target", format!("{uri:?} is not a URI (byte {at})")))?;
    let Some(sip) = parsed.as_sip() else {
        return Err((
            "unsupported-uri",
            format!("{uri}: only sip: and sips: targets can be routed"),
        ));
    };
    let host = sip.host.to_string();
    let mut target = if sip.secure {
        Target::sips(&host)
    } else {
        Target::sip(&host)
    };
    if let Some(p) = sip.port {
        target = target.with_port(p);
    }
    if let Some(Some(t)) = sip.params.get("transport") {
        let transport = match t.to_ascii_lowercase().as_str() {
            "udp" => Transport::Udp,
            "tcp" => Transport::Tcp,
            "tls" => Transport::Tls,
            "sctp" => Transport::Sctp,
            "tls-sctp" => Transport::TlsSctp,
            other => {
                return Err((
                    "unsupported-uri",
                    format!("{uri}: unknown transport {other:?}"),
                ));
            }
        };
        target = target.with_transport(transport);
    }
    if let Some(Some(m)) = sip.params.get("maddr") {
        target = target.with_maddr(m);
    }
    Ok(target)
}

fn enum_answer_text(a: &speermint_enum::Answer) -> String {
    match a {
        speermint_enum::Answer::Records(r) => r
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(" | "),
        speermint_enum::Answer::NxDomain => "NXDOMAIN".into(),
        speermint_enum::Answer::NoData => "no data".into(),
        _ => "failed".into(),
    }
}

fn route_answer_text(a: &speermint_route::Answer) -> String {
    use speermint_route::Answer as A;
    match a {
        A::Naptr(r) => r
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(" | "),
        A::Srv(r) => r
            .iter()
            .map(|s| format!("{} {} {} {}", s.priority, s.weight, s.port, s.target))
            .collect::<Vec<_>>()
            .join(" | "),
        A::Addresses(r) => r
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(" "),
        A::NxDomain => "NXDOMAIN".into(),
        A::NoData => "no data".into(),
        _ => "failed".into(),
    }
}

/// Copies the LUF core's decisions after `from` into the trace (its own
/// query/answer steps are replaced by the driver's, which carry the data).
fn luf_steps(steps: &[LufStep], from: usize, run: &mut Run) -> usize {
    for s in &steps[from.min(steps.len())..] {
        match s {
            LufStep::Rule {
                name,
                naptr,
                verdict,
            } => {
                run.push("luf", "naptr", format!("{name}: {naptr} -> {verdict:?}"));
            }
            LufStep::Rewrite {
                regexp,
                input,
                output,
            } => run.push(
                "luf",
                "rewrite",
                match output {
                    Some(o) => format!("{input} with {regexp} -> {o}"),
                    None => format!("{input} with {regexp}: no match"),
                },
            ),
            LufStep::Backtrack { from, to } => {
                run.push(
                    "luf",
                    "backtrack",
                    format!("{from} gave nothing, back to {to}"),
                );
            }
            LufStep::Query { name } => run.push("luf", "query", format!("{name} NAPTR")),
            _ => {}
        }
    }
    steps.len()
}

/// Copies the LRF core's decisions after `from` into the trace.
fn lrf_steps(steps: &[RouteStep], from: usize, run: &mut Run) -> usize {
    for s in &steps[from.min(steps.len())..] {
        match s {
            RouteStep::Table { domain } => {
                run.push("lrf", "table", format!("routing table entry for {domain}"));
            }
            RouteStep::UriTransport(t) => {
                run.push("lrf", "transport", format!("transport {t} from the URI"));
            }
            RouteStep::Query(q) => run.push("lrf", "query", query_text(q)),
            RouteStep::Naptr { naptr, verdict } => {
                run.push("lrf", "naptr", format!("{naptr} -> {verdict:?}"));
            }
            RouteStep::SrvOrder {
                name,
                transport,
                records,
            } => run.push(
                "lrf",
                "srv",
                format!(
                    "{name} ({transport}): {}",
                    records
                        .iter()
                        .map(|s| format!("{} {} {} {}", s.priority, s.weight, s.port, s.target))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            RouteStep::AddressFallback(t) => {
                run.push(
                    "lrf",
                    "fallback",
                    format!("no SRV: A/AAAA with the {t} default port"),
                );
            }
            _ => {}
        }
    }
    steps.len()
}

/// `name TYPE`, with the type as DNS writes it.
fn query_text(q: &speermint_route::Query) -> String {
    format!("{} {}", q.name, crate::convert::record_type(q.rtype))
}

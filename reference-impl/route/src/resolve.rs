//! RFC 3263 §4 server location as a sans-IO state machine.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use thiserror::Error;

use crate::cache::Cache;
use crate::srv::{RandomSource, SplitMix64, order_srv};
use crate::table::{RoutingTable, StaticRoute};
use crate::types::{
    Answer, Naptr, NextHop, Query, RecordType, Srv, Target, Transport, normalize_name, parse_ip,
    valid_fqdn,
};

/// Which address family to try first when a host has both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AddressOrder {
    /// AAAA before A (the RFC 6724 default policy).
    #[default]
    Ipv6First,
    /// A before AAAA.
    Ipv4First,
}

/// Location Routing Function settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Transports this element supports, in order of preference for the SRV
    /// queries made when a domain has no NAPTRs (RFC 3263 §4.1: "the client
    /// MAY use any transport protocol it desires which is supported by the
    /// server"). Default: TLS, TCP, UDP.
    pub transports: Vec<Transport>,
    /// Put TLS ahead of everything else whenever the peer offers it,
    /// overriding NAPTR order (RFC 6406 §6.1.2.1: "should select a
    /// TLS-protected transport ... if available"). Default on.
    pub prefer_tls: bool,
    /// Address family order within one host.
    pub address_order: AddressOrder,
    /// Most usable NAPTRs tried.
    pub max_naptr: usize,
    /// Most SRV targets resolved to addresses.
    pub max_srv_targets: usize,
    /// Most next hops returned.
    pub max_hops: usize,
    /// Most DNS queries one resolution may make.
    pub max_queries: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            transports: vec![Transport::Tls, Transport::Tcp, Transport::Udp],
            prefer_tls: true,
            address_order: AddressOrder::default(),
            max_naptr: 8,
            max_srv_targets: 8,
            max_hops: 32,
            max_queries: 32,
        }
    }
}

impl Config {
    fn supports(&self, t: Transport) -> bool {
        self.transports.contains(&t)
    }

    /// Preference order: configured order, TLS variants first if preferred.
    fn preference(&self) -> Vec<Transport> {
        let mut v: Vec<Transport> = Vec::new();
        for t in &self.transports {
            if !v.contains(t) {
                v.push(*t);
            }
        }
        if self.prefer_tls {
            v.sort_by_key(|t| !t.is_secure());
        }
        v
    }

    /// RFC 3263 §4.1: UDP for sip, TCP (so TLS) for sips, when nothing in
    /// DNS or the URI says otherwise; the next supported one if not
    /// supported.
    fn default_transport(&self, secure: bool) -> Result<Transport, LrfError> {
        let order: &[Transport] = if secure {
            &[Transport::Tls, Transport::TlsSctp]
        } else {
            &[
                Transport::Udp,
                Transport::Tcp,
                Transport::Sctp,
                Transport::Tls,
                Transport::TlsSctp,
            ]
        };
        order
            .iter()
            .copied()
            .find(|t| self.supports(*t))
            .ok_or(LrfError::UnsupportedTransport {
                transport: order[0],
            })
    }
}

/// Where the hops came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouteSource {
    /// The TARGET was a numeric address: no DNS at all.
    Numeric,
    /// A [`StaticRoute::Hops`] entry.
    Static,
    /// RFC 3263 DNS resolution of the target.
    Dns,
    /// DNS resolution of the target named by a [`StaticRoute::Via`] entry.
    Via(Target),
}

/// The result: the target URI echoed with the hops to reach it, because
/// RFC 6271 Requirement #5 wants both returned together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The target as given (not rewritten, RFC 3263 §4).
    pub target: Target,
    /// Next hops in the order to try (RFC 3263 §4.3). Never empty; for a
    /// `sips:` target every hop is TLS.
    pub hops: Vec<NextHop>,
    /// How the hops were found.
    pub source: RouteSource,
    /// Trace.
    pub steps: Vec<RouteStep>,
}

/// Why no route was found.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum LrfError {
    /// The TARGET is neither an IP address nor a valid domain name.
    #[error("invalid target host {host:?}")]
    InvalidTarget {
        /// The host.
        host: String,
    },
    /// `sips:` with `transport=udp`: TLS over UDP is impossible
    /// (RFC 3263 §4.1).
    #[error("sips URI with a non-TLS transport")]
    InsecureTransport,
    /// The URI asks for a transport this element does not support.
    #[error("transport {transport} not supported")]
    UnsupportedTransport {
        /// The transport.
        transport: Transport,
    },
    /// A static route for a `sips:` target has no TLS hop.
    #[error("static route has no TLS hop for a sips target")]
    NoSecureRoute,
    /// Nothing resolved to an address.
    #[error("no address for {host}")]
    NoAddresses {
        /// The first host tried.
        host: String,
    },
    /// [`Config::max_queries`] would be exceeded.
    #[error("more than {limit} DNS queries needed")]
    TooManyQueries {
        /// The limit.
        limit: usize,
    },
    /// [`Resolution::result`] called while queries are pending.
    #[error("resolution not finished")]
    Incomplete,
}

/// An answer that matches no pending query.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unexpected answer for {query}")]
pub struct UnexpectedAnswer {
    /// The query given.
    pub query: Query,
}

/// What became of a NAPTR (RFC 3263 §4.1 filtering).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NaptrVerdict {
    /// Usable with this transport.
    Usable(Transport),
    /// Flags other than "s".
    NotSFlag,
    /// Not a SIP(S)+D2x service.
    UnknownService,
    /// Not SIPS while resolving a `sips:` URI: MUST be discarded.
    NotSecure,
    /// A transport this element does not support.
    Unsupported(Transport),
    /// REGEXP set, or REPLACEMENT missing or not a domain name.
    BadReplacement,
}

/// Summary of an answer, for the trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AnswerSummary {
    /// Records of the type asked.
    Records(usize),
    /// NXDOMAIN.
    NxDomain,
    /// No data (including an empty or wrong-type answer).
    NoData,
    /// Failure.
    Failed,
}

/// One entry of the resolution trace.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouteStep {
    /// The routing table had an entry for this domain.
    Table {
        /// The domain.
        domain: String,
    },
    /// Transport chosen from the URI alone (RFC 3263 §4.1 first paragraphs).
    UriTransport(Transport),
    /// A query was issued.
    Query(Query),
    /// Its answer.
    Answer {
        /// The query.
        query: Query,
        /// What came back.
        answer: AnswerSummary,
    },
    /// A NAPTR was considered.
    Naptr {
        /// The record.
        naptr: Naptr,
        /// What became of it.
        verdict: NaptrVerdict,
    },
    /// SRV records chosen, in RFC 2782 order.
    SrvOrder {
        /// SRV owner name.
        name: String,
        /// Transport.
        transport: Transport,
        /// Ordered records.
        records: Vec<Srv>,
    },
    /// No SRV: A/AAAA on the host with the default port (RFC 3263 §4.2).
    AddressFallback(Transport),
}

#[derive(Debug)]
enum Phase {
    Naptr,
    NaptrSrv {
        candidates: Vec<(Transport, String)>,
        idx: usize,
    },
    Srv {
        options: Vec<Transport>,
        fallback: Transport,
    },
    Addresses {
        targets: Vec<(String, u16, Transport)>,
    },
    Done,
}

#[derive(Debug)]
struct Slot {
    query: Query,
    answer: Option<Answer>,
}

/// One RFC 3263 resolution of a [`Target`]: `new`, then answer
/// `next_query` (or all of `pending`) with `on_answer` until none is left,
/// then `result`. Queries come in batches (e.g. A and AAAA of every SRV
/// target) that may be answered concurrently and in any order.
///
/// Order of decisions: routing table (RFC 6406 §6.1.2.2-3); numeric TARGET
/// (no DNS); explicit port (A/AAAA only); explicit transport (SRV for it);
/// else NAPTR, then SRV, then A/AAAA (RFC 3263 §4.1-4.2). A `sips:` target
/// never yields a non-TLS hop.
///
/// Where RFC 3263 is silent: a failed NAPTR query counts as "no NAPTR
/// records"; when NAPTRs exist but none is usable, or the SRV names they
/// point to are empty, the SRV queries of the no-NAPTR case follow (§4.1
/// requires those records at the domain itself) before A/AAAA. Only the
/// first transport with usable SRV records is resolved to hops.
#[derive(Debug)]
pub struct Resolution<R: RandomSource = SplitMix64> {
    config: Config,
    target: Target,
    secure: bool,
    host: String,
    source: RouteSource,
    rng: R,
    phase: Phase,
    batch: Vec<Slot>,
    queries: usize,
    tried_srv: HashSet<String>,
    /// Answers already received: two NAPTRs may name the same SRV domain,
    /// and a name is asked only once per resolution.
    answered: HashMap<Query, Answer>,
    steps: Vec<RouteStep>,
    outcome: Option<Result<Vec<NextHop>, LrfError>>,
}

impl Resolution<SplitMix64> {
    /// Starts resolving `target`, SRV weights drawn from a [`SplitMix64`]
    /// seeded with `seed`.
    pub fn new(target: Target, config: &Config, table: &RoutingTable, seed: u64) -> Self {
        Self::with_rng(target, config, table, SplitMix64::new(seed))
    }
}

impl<R: RandomSource> Resolution<R> {
    /// Starts resolving `target` with the given randomness.
    pub fn with_rng(target: Target, config: &Config, table: &RoutingTable, rng: R) -> Self {
        let mut this = Self {
            config: config.clone(),
            secure: target.secure,
            host: String::new(),
            source: RouteSource::Dns,
            target,
            rng,
            phase: Phase::Done,
            batch: Vec::new(),
            queries: 0,
            tried_srv: HashSet::new(),
            answered: HashMap::new(),
            steps: Vec::new(),
            outcome: None,
        };
        this.start(table);
        this
    }

    /// The next unanswered query, if any.
    pub fn next_query(&self) -> Option<Query> {
        self.batch
            .iter()
            .find(|s| s.answer.is_none())
            .map(|s| s.query.clone())
    }

    /// Every unanswered query of the current batch.
    pub fn pending(&self) -> Vec<Query> {
        self.batch
            .iter()
            .filter(|s| s.answer.is_none())
            .map(|s| s.query.clone())
            .collect()
    }

    /// Whether resolution has finished.
    pub fn is_done(&self) -> bool {
        self.outcome.is_some()
    }

    /// The trace so far.
    pub fn steps(&self) -> &[RouteStep] {
        &self.steps
    }

    /// Feeds the answer to a pending query.
    pub fn on_answer(&mut self, query: &Query, answer: Answer) -> Result<(), UnexpectedAnswer> {
        let key = Query::new(&query.name, query.rtype);
        let Some(slot) = self
            .batch
            .iter_mut()
            .find(|s| s.query == key && s.answer.is_none())
        else {
            return Err(UnexpectedAnswer { query: key });
        };
        let answer = conform(answer, key.rtype);
        self.steps.push(RouteStep::Answer {
            query: key.clone(),
            answer: summarize(&answer),
        });
        slot.answer = Some(answer.clone());
        self.answered.insert(key, answer);
        if self.batch.iter().all(|s| s.answer.is_some()) {
            self.complete_batch();
        }
        Ok(())
    }

    /// Answers pending queries from `cache` for as long as it can.
    pub fn answer_from_cache(&mut self, cache: &Cache, now: u64) {
        loop {
            let hit = self
                .pending()
                .into_iter()
                .find_map(|q| cache.get(&q, now).map(|a| (q, a)));
            match hit {
                Some((q, a)) => {
                    if self.on_answer(&q, a).is_err() {
                        return;
                    }
                }
                None => return,
            }
        }
    }

    /// Drives resolution with a synchronous resolver (tests, static zones).
    pub fn run(mut self, mut resolve: impl FnMut(&Query) -> Answer) -> Result<Route, LrfError> {
        while let Some(q) = self.next_query() {
            let a = resolve(&q);
            if self.on_answer(&q, a).is_err() {
                break;
            }
        }
        self.result()
    }

    /// Like [`Resolution::run`], consulting and filling `cache`; `resolve`
    /// returns the answer and its TTL (for negative answers, see
    /// [`crate::negative_ttl`]).
    pub fn run_cached(
        mut self,
        cache: &mut Cache,
        now: u64,
        mut resolve: impl FnMut(&Query) -> (Answer, u32),
    ) -> Result<Route, LrfError> {
        loop {
            self.answer_from_cache(cache, now);
            let Some(q) = self.next_query() else { break };
            let (a, ttl) = resolve(&q);
            cache.insert(&q, a.clone(), ttl, now);
            if self.on_answer(&q, a).is_err() {
                break;
            }
        }
        self.result()
    }

    /// The outcome; [`LrfError::Incomplete`] while queries are pending.
    pub fn result(self) -> Result<Route, LrfError> {
        match self.outcome {
            Some(Ok(hops)) => Ok(Route {
                target: self.target,
                hops,
                source: self.source,
                steps: self.steps,
            }),
            Some(Err(e)) => Err(e),
            None => Err(LrfError::Incomplete),
        }
    }

    fn finish(&mut self, outcome: Result<Vec<NextHop>, LrfError>) {
        self.phase = Phase::Done;
        self.batch.clear();
        self.outcome = Some(outcome);
    }

    fn start(&mut self, table: &RoutingTable) {
        let mut target = self.target.clone();
        match table.lookup(&target.host) {
            Some(StaticRoute::Hops(hops)) => {
                self.steps.push(RouteStep::Table {
                    domain: normalize_name(&target.host),
                });
                self.source = RouteSource::Static;
                let out = self.finalize(hops.clone());
                let out = match out {
                    Err(LrfError::NoAddresses { .. }) if self.secure && !hops.is_empty() => {
                        Err(LrfError::NoSecureRoute)
                    }
                    other => other,
                };
                self.finish(out);
                return;
            }
            Some(StaticRoute::Via(via)) => {
                self.steps.push(RouteStep::Table {
                    domain: normalize_name(&target.host),
                });
                self.source = RouteSource::Via(via.clone());
                target = via.clone();
                // A sips request stays TLS-only whatever the route says.
                self.secure |= via.secure;
            }
            None => {}
        }
        if let Err(e) = self.start_dns(&target) {
            self.finish(Err(e));
        }
    }

    fn start_dns(&mut self, target: &Target) -> Result<(), LrfError> {
        if self.secure && !self.config.transports.iter().any(|t| t.is_secure()) {
            return Err(LrfError::UnsupportedTransport {
                transport: Transport::Tls,
            });
        }
        let raw = target.maddr.as_deref().unwrap_or(&target.host);
        let explicit = target
            .transport
            .map(|t| self.uri_transport(t))
            .transpose()?;

        if let Some(ip) = parse_ip(raw) {
            // RFC 3263 §4.1-4.2: numeric TARGET, no DNS at all.
            let transport = match explicit {
                Some(t) => t,
                None => self.config.default_transport(self.secure)?,
            };
            self.steps.push(RouteStep::UriTransport(transport));
            self.source = match &self.source {
                RouteSource::Dns => RouteSource::Numeric,
                other => other.clone(),
            };
            let hop = NextHop {
                transport,
                host: ip.to_string(),
                address: ip,
                port: target.port.unwrap_or(transport.default_port()),
            };
            let out = self.finalize(vec![hop]);
            self.finish(out);
            return Ok(());
        }
        let host = normalize_name(raw);
        if !valid_fqdn(&host) {
            return Err(LrfError::InvalidTarget {
                host: raw.to_owned(),
            });
        }
        self.host = host.clone();

        if let Some(port) = target.port {
            // Explicit port: A/AAAA only (RFC 3263 §4.2).
            let transport = match explicit {
                Some(t) => t,
                None => self.config.default_transport(self.secure)?,
            };
            self.steps.push(RouteStep::UriTransport(transport));
            return self.start_addresses(vec![(host, port, transport)]);
        }
        if let Some(t) = explicit {
            // Explicit transport: SRV for it; for sip: over TCP/SCTP try
            // _sips first when TLS is preferred (RFC 3263 §4.2).
            self.steps.push(RouteStep::UriTransport(t));
            let mut options = Vec::new();
            if !self.secure && self.config.prefer_tls {
                if let Some(s) = t.secured().filter(|s| *s != t && self.config.supports(*s)) {
                    options.push(s);
                }
            }
            options.push(t);
            return self.start_srv(options, t);
        }
        self.phase = Phase::Naptr;
        self.issue(vec![Query::new(&host, RecordType::Naptr)])
    }

    /// Maps the URI's transport parameter to a transport to use.
    fn uri_transport(&self, t: Transport) -> Result<Transport, LrfError> {
        let t = if self.secure {
            t.secured().ok_or(LrfError::InsecureTransport)?
        } else {
            t
        };
        if self.config.supports(t) {
            Ok(t)
        } else {
            Err(LrfError::UnsupportedTransport { transport: t })
        }
    }

    /// Starts a batch. Queries answered earlier in this resolution are
    /// filled from those answers, not asked again; if that completes the
    /// batch, the next phase starts at once. Callers set `phase` first.
    fn issue(&mut self, queries: Vec<Query>) -> Result<(), LrfError> {
        let fresh = queries
            .iter()
            .filter(|q| !self.answered.contains_key(q))
            .count();
        if self.queries + fresh > self.config.max_queries {
            return Err(LrfError::TooManyQueries {
                limit: self.config.max_queries,
            });
        }
        self.queries += fresh;
        self.batch = queries
            .into_iter()
            .map(|query| {
                let answer = self.answered.get(&query).cloned();
                if answer.is_none() {
                    self.steps.push(RouteStep::Query(query.clone()));
                }
                Slot { query, answer }
            })
            .collect();
        if !self.batch.is_empty() && self.batch.iter().all(|s| s.answer.is_some()) {
            self.complete_batch();
        }
        Ok(())
    }

    fn complete_batch(&mut self) {
        let batch = std::mem::take(&mut self.batch);
        let phase = std::mem::replace(&mut self.phase, Phase::Done);
        let step = match phase {
            Phase::Naptr => {
                let records = match batch.into_iter().next().and_then(|s| s.answer) {
                    Some(Answer::Naptr(r)) => r,
                    _ => Vec::new(),
                };
                self.on_naptr(records)
            }
            Phase::NaptrSrv { candidates, idx } => self.on_naptr_srv(batch, candidates, idx),
            Phase::Srv { options, fallback } => self.on_srv(batch, &options, fallback),
            Phase::Addresses { targets } => {
                let hops = self.on_addresses(batch, &targets);
                let out = self.finalize(hops);
                self.finish(out);
                Ok(())
            }
            Phase::Done => Ok(()),
        };
        if let Err(e) = step {
            self.finish(Err(e));
        }
    }

    /// RFC 3263 §4.1 NAPTR filtering and ordering.
    fn on_naptr(&mut self, mut records: Vec<Naptr>) -> Result<(), LrfError> {
        records.sort_by_key(|r| (r.order, r.preference));
        let mut candidates = Vec::new();
        for r in records {
            let verdict = self.naptr_verdict(&r);
            self.steps.push(RouteStep::Naptr {
                naptr: r.clone(),
                verdict,
            });
            if let NaptrVerdict::Usable(t) = verdict {
                if candidates.len() < self.config.max_naptr {
                    candidates.push((t, normalize_name(&r.replacement)));
                }
            }
        }
        if self.config.prefer_tls {
            candidates.sort_by_key(|(t, _)| !t.is_secure());
        }
        match candidates.first() {
            Some((_, name)) => {
                let q = Query::new(name, RecordType::Srv);
                self.tried_srv.insert(q.name.clone());
                self.phase = Phase::NaptrSrv { candidates, idx: 0 };
                self.issue(vec![q])
            }
            // No (usable) NAPTRs: SRV per supported transport.
            None => self.start_srv(
                self.srv_fallback_options(),
                self.config.default_transport(self.secure)?,
            ),
        }
    }

    fn naptr_verdict(&self, r: &Naptr) -> NaptrVerdict {
        if !r.flags.eq_ignore_ascii_case("s") {
            return NaptrVerdict::NotSFlag;
        }
        let Some(t) = Transport::from_naptr_service(&r.services) else {
            return NaptrVerdict::UnknownService;
        };
        if self.secure && !t.is_secure() {
            return NaptrVerdict::NotSecure;
        }
        if !self.config.supports(t) {
            return NaptrVerdict::Unsupported(t);
        }
        if !r.regexp.is_empty()
            || !r.has_replacement()
            || !valid_fqdn(&normalize_name(&r.replacement))
        {
            return NaptrVerdict::BadReplacement;
        }
        NaptrVerdict::Usable(t)
    }

    fn on_naptr_srv(
        &mut self,
        batch: Vec<Slot>,
        candidates: Vec<(Transport, String)>,
        idx: usize,
    ) -> Result<(), LrfError> {
        if let (Some(slot), Some((t, name))) = (batch.into_iter().next(), candidates.get(idx)) {
            if let Some(Answer::Srv(records)) = slot.answer {
                if let Some(targets) = self.srv_targets(name, *t, &records) {
                    return self.start_addresses(targets);
                }
            }
        }
        let next = idx + 1;
        match candidates.get(next) {
            Some((_, name)) => {
                let q = Query::new(name, RecordType::Srv);
                self.tried_srv.insert(q.name.clone());
                self.phase = Phase::NaptrSrv {
                    candidates,
                    idx: next,
                };
                self.issue(vec![q])
            }
            // RFC 3263 §4.1 also requires SRV records at the domain itself.
            None => self.start_srv(
                self.srv_fallback_options(),
                self.config.default_transport(self.secure)?,
            ),
        }
    }

    fn srv_fallback_options(&self) -> Vec<Transport> {
        self.config
            .preference()
            .into_iter()
            .filter(|t| !self.secure || t.is_secure())
            .collect()
    }

    /// SRV queries for `options` (preference order) on the host; A/AAAA
    /// with `fallback` if none has records.
    fn start_srv(&mut self, options: Vec<Transport>, fallback: Transport) -> Result<(), LrfError> {
        let options: Vec<Transport> = options
            .into_iter()
            .filter(|t| !self.tried_srv.contains(&self.srv_name(*t)))
            .collect();
        if options.is_empty() {
            return self.address_fallback(fallback);
        }
        let queries = options
            .iter()
            .map(|t| Query::new(&self.srv_name(*t), RecordType::Srv))
            .collect();
        for t in &options {
            self.tried_srv.insert(self.srv_name(*t));
        }
        self.phase = Phase::Srv { options, fallback };
        self.issue(queries)
    }

    fn srv_name(&self, t: Transport) -> String {
        format!("{}.{}", t.srv_prefix(), self.host)
    }

    fn on_srv(
        &mut self,
        batch: Vec<Slot>,
        options: &[Transport],
        fallback: Transport,
    ) -> Result<(), LrfError> {
        for t in options {
            let name = self.srv_name(*t);
            let records = batch.iter().find_map(|s| match &s.answer {
                Some(Answer::Srv(r)) if s.query.name == name => Some(r.clone()),
                _ => None,
            });
            if let Some(targets) = records.and_then(|r| self.srv_targets(&name, *t, &r)) {
                return self.start_addresses(targets);
            }
        }
        self.address_fallback(fallback)
    }

    fn address_fallback(&mut self, transport: Transport) -> Result<(), LrfError> {
        self.steps.push(RouteStep::AddressFallback(transport));
        let host = self.host.clone();
        self.start_addresses(vec![(host, transport.default_port(), transport)])
    }

    /// Usable SRV targets in RFC 2782 order, or `None` if there are none.
    fn srv_targets(
        &mut self,
        name: &str,
        t: Transport,
        records: &[Srv],
    ) -> Option<Vec<(String, u16, Transport)>> {
        let usable: Vec<Srv> = records
            .iter()
            .filter(|r| {
                let n = normalize_name(&r.target);
                valid_fqdn(&n) || parse_ip(&n).is_some()
            })
            .cloned()
            .collect();
        let ordered = order_srv(&usable, &mut self.rng);
        if ordered.is_empty() {
            return None;
        }
        self.steps.push(RouteStep::SrvOrder {
            name: name.to_owned(),
            transport: t,
            records: ordered.clone(),
        });
        Some(
            ordered
                .into_iter()
                .take(self.config.max_srv_targets)
                .map(|r| (normalize_name(&r.target), r.port, t))
                .collect(),
        )
    }

    fn start_addresses(&mut self, targets: Vec<(String, u16, Transport)>) -> Result<(), LrfError> {
        let mut queries = Vec::new();
        for (host, _, _) in &targets {
            if parse_ip(host).is_none() {
                for rtype in self.family_order() {
                    let q = Query::new(host, rtype);
                    if !queries.contains(&q) {
                        queries.push(q);
                    }
                }
            }
        }
        self.phase = Phase::Addresses { targets };
        if queries.is_empty() {
            self.complete_batch();
            Ok(())
        } else {
            self.issue(queries)
        }
    }

    fn family_order(&self) -> [RecordType; 2] {
        match self.config.address_order {
            AddressOrder::Ipv6First => [RecordType::Aaaa, RecordType::A],
            AddressOrder::Ipv4First => [RecordType::A, RecordType::Aaaa],
        }
    }

    fn on_addresses(&self, batch: Vec<Slot>, targets: &[(String, u16, Transport)]) -> Vec<NextHop> {
        let mut hops = Vec::new();
        for (host, port, transport) in targets {
            let mut addrs: Vec<IpAddr> = Vec::new();
            if let Some(ip) = parse_ip(host) {
                addrs.push(ip);
            }
            for rtype in self.family_order() {
                for s in &batch {
                    if s.query.name == *host && s.query.rtype == rtype {
                        if let Some(Answer::Addresses(a)) = &s.answer {
                            addrs.extend(a.iter().copied());
                        }
                    }
                }
            }
            for address in addrs {
                hops.push(NextHop {
                    transport: *transport,
                    host: host.clone(),
                    address,
                    port: *port,
                });
            }
        }
        hops
    }

    /// Dedupes, enforces TLS for sips and the hop bound.
    fn finalize(&self, hops: Vec<NextHop>) -> Result<Vec<NextHop>, LrfError> {
        let mut out: Vec<NextHop> = Vec::new();
        for h in hops {
            if self.secure && !h.transport.is_secure() {
                continue;
            }
            if out
                .iter()
                .any(|o| o.transport == h.transport && o.address == h.address && o.port == h.port)
            {
                continue;
            }
            if out.len() == self.config.max_hops {
                break;
            }
            out.push(h);
        }
        if out.is_empty() {
            let host = if self.host.is_empty() {
                self.target.host.clone()
            } else {
                self.host.clone()
            };
            return Err(LrfError::NoAddresses { host });
        }
        Ok(out)
    }
}

/// Drops records of a type other than asked, and addresses of the wrong
/// family, so a confused resolver cannot smuggle them in.
fn conform(answer: Answer, rtype: RecordType) -> Answer {
    match (answer, rtype) {
        (a @ Answer::Naptr(_), RecordType::Naptr) | (a @ Answer::Srv(_), RecordType::Srv) => a,
        (Answer::Addresses(v), RecordType::A) => {
            Answer::Addresses(v.into_iter().filter(IpAddr::is_ipv4).collect())
        }
        (Answer::Addresses(v), RecordType::Aaaa) => {
            Answer::Addresses(v.into_iter().filter(IpAddr::is_ipv6).collect())
        }
        (a @ (Answer::NxDomain | Answer::NoData | Answer::Failed), _) => a,
        _ => Answer::NoData,
    }
}

fn summarize(a: &Answer) -> AnswerSummary {
    match a {
        Answer::Naptr(v) if !v.is_empty() => AnswerSummary::Records(v.len()),
        Answer::Srv(v) if !v.is_empty() => AnswerSummary::Records(v.len()),
        Answer::Addresses(v) if !v.is_empty() => AnswerSummary::Records(v.len()),
        Answer::NxDomain => AnswerSummary::NxDomain,
        Answer::Failed => AnswerSummary::Failed,
        _ => AnswerSummary::NoData,
    }
}

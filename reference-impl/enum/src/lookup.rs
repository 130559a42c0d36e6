//! The ENUM resolution loop (RFC 6116 §3, §5.2; RFC 3402 §2 DDDS algorithm)
//! as a sans-IO state machine: it names the NAPTR queries it needs, the
//! caller answers them however it likes (DNS, a cache, a static zone).

use thiserror::Error;

use crate::naptr::{
    Enumservice, FlagKind, Naptr, ServiceField, ServiceSelector, flag_kind, parse_services,
};
use crate::number::{Apex, E164, NumberError, normalize_name, valid_fqdn};
use crate::regexp::{RegexLimits, RegexpError, SubstExpr};

/// What to do after a non-terminal NAPTR led nowhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OrderPolicy {
    /// RFC 6116 §5.2.1: continue with the next NAPTR of the referring RRSet,
    /// whatever its ORDER. The first terminal match ends the lookup, so the
    /// RFC 3403 §4.1 rule "once a match is found ... MUST NOT consider
    /// records with a different Order" holds for the result.
    #[default]
    Rfc6116,
    /// RFC 3403 §4.1 read strictly: following a non-terminal NAPTR is a
    /// match, so on backtracking only records of the same ORDER remain.
    Strict,
}

/// Lookup Function settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Where keys live: `e164.arpa` or a private root (RFC 6406 §6.1.1).
    pub apex: Apex,
    /// Acceptable Enumservices; a NAPTR qualifies if any of its
    /// enumservices (left to right, RFC 6116 §3.4.3.2) matches any of these.
    /// Default: type "sip" (RFC 3764, RFC 6406 §6.1.1.2).
    pub services: Vec<ServiceSelector>,
    /// Longest chain of non-terminal NAPTRs followed; RFC 6116 §5.2.1 lets
    /// clients treat more than 5 as a loop.
    pub max_non_terminal: usize,
    /// Most NAPTR queries one lookup may make, bounding the work a zone with
    /// many non-terminal branches can cause.
    pub max_queries: usize,
    /// Most records considered per RRSet (after sorting).
    pub max_rrset: usize,
    /// Bounds on each REGEXP field.
    pub regex: RegexLimits,
    /// Accept "P-" Enumservices: only when sure to be on the private network
    /// they were provisioned for (RFC 6116 §3.4.3.1, §5.2).
    pub private_network: bool,
    /// Accept the obsolete RFC 2916 "sip+E2U" form (RFC 3824 §7: SHOULD).
    pub obsolete_services: bool,
    /// Backtracking rule; see [`OrderPolicy`].
    pub order_policy: OrderPolicy,
    /// Let a non-terminal NAPTR with no REPLACEMENT take its next key from
    /// REGEXP, as generic DDDS does (RFC 3403 §6.1). Off by default:
    /// RFC 6116 §5.2.1 says ENUM clients MUST ignore REGEXP there.
    pub regexp_non_terminal: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            apex: Apex::default(),
            services: vec![ServiceSelector::default()],
            max_non_terminal: 5,
            max_queries: 16,
            max_rrset: 64,
            regex: RegexLimits::default(),
            private_network: false,
            obsolete_services: true,
            order_policy: OrderPolicy::default(),
            regexp_non_terminal: false,
        }
    }
}

/// The record type a query asks for. ENUM needs only NAPTR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum QueryType {
    /// NAPTR (type 35).
    Naptr,
}

/// A DNS question the lookup needs answered.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Query {
    /// Absolute name, lower case, no trailing dot.
    pub name: String,
    /// Record type.
    pub rtype: QueryType,
}

/// The caller's answer to a [`Query`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Answer {
    /// The NAPTR RRSet, in the order received.
    Records(Vec<Naptr>),
    /// NXDOMAIN.
    NxDomain,
    /// The name exists but has no NAPTRs.
    NoData,
    /// SERVFAIL, timeout or other failure.
    Failed,
}

/// How an answer looked, for the trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AnswerSummary {
    /// Records received, and how many were kept after sorting.
    Records {
        /// Received.
        count: usize,
        /// Kept (at most [`Config::max_rrset`]).
        kept: usize,
    },
    /// NXDOMAIN.
    NxDomain,
    /// No NAPTRs at the name.
    NoData,
    /// Failure.
    Failed,
}

/// Why a loop was declared (RFC 6116 §5.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoopKind {
    /// The next key was already queried in this lookup.
    Revisit,
    /// Following the record would exceed [`Config::max_non_terminal`].
    TooDeep,
}

/// What became of one NAPTR.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Terminal record chosen; the lookup is over.
    Selected {
        /// The enumservice that qualified it.
        service: Enumservice,
    },
    /// Non-terminal record followed to `next`.
    Follow {
        /// Next key.
        next: String,
    },
    /// Flags neither "u" nor empty (RFC 6116 §3.4.2: ignore).
    UnknownFlags,
    /// Not an ENUM services field (RFC 6116 §3.7).
    NotEnum,
    /// No acceptable enumservice.
    UnsupportedService,
    /// Only "P-" enumservices matched, off the private network.
    PrivateService,
    /// Terminal record without REGEXP.
    NoRegexp,
    /// Both REGEXP and REPLACEMENT set (RFC 3403 §4.1: in error).
    RegexpAndReplacement,
    /// REGEXP unusable.
    BadRegexp(RegexpError),
    /// The ERE did not match the AUS.
    NoMatch,
    /// The output is not an absolute URI (RFC 6116 §3.3).
    InvalidUri,
    /// Non-terminal record with no valid FQDN to go to (RFC 6116 §5.2.1).
    InvalidReplacement,
    /// Not followed: a loop (RFC 6116 §5.2.1).
    Loop(LoopKind),
    /// Not followed: [`Config::max_queries`] reached.
    QueryLimit,
    /// Skipped under [`OrderPolicy::Strict`].
    OrderLocked,
}

/// One entry of the trace a lookup keeps, for the CLI to print.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// A query was issued.
    Query {
        /// Name queried.
        name: String,
    },
    /// Its answer.
    Answer {
        /// Name queried.
        name: String,
        /// What came back.
        answer: AnswerSummary,
    },
    /// A NAPTR was considered, in sorted order.
    Rule {
        /// The RRSet's owner.
        name: String,
        /// The record.
        naptr: Naptr,
        /// What became of it.
        verdict: Verdict,
    },
    /// A REGEXP was applied to the AUS.
    Rewrite {
        /// The REGEXP field.
        regexp: String,
        /// The AUS.
        input: String,
        /// The result, `None` if the ERE did not match.
        output: Option<String>,
    },
    /// A referenced domain yielded nothing; processing resumes in the
    /// referring RRSet (RFC 6116 §5.2.1).
    Backtrack {
        /// The exhausted domain.
        from: String,
        /// The referring domain.
        to: String,
    },
}

/// A successful lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The number looked up.
    pub number: E164,
    /// The URI produced (RFC 6116 §3.3).
    pub target_uri: String,
    /// The enumservice the chosen NAPTR qualified with.
    pub service: Enumservice,
    /// The chosen NAPTR.
    pub naptr: Naptr,
    /// Keys from the first to the one holding the chosen NAPTR.
    pub chain: Vec<String>,
    /// Full trace.
    pub steps: Vec<Step>,
}

/// Why a lookup produced no URI.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum LufError {
    /// The input is not an E.164 number.
    #[error("not an E.164 number: {0}")]
    BadNumber(#[from] NumberError),
    /// No NAPTRs where they were needed. At the first key this means the
    /// number is not in ENUM, so the SSP falls back to its routing table or
    /// the PSTN (RFC 6406 §6.1.2.2); otherwise `name` is the empty domain a
    /// non-terminal NAPTR pointed to.
    #[error("no NAPTR records at {name}")]
    NoRecords {
        /// The first key.
        name: String,
    },
    /// A needed query failed and nothing else worked.
    #[error("DNS failure at {name}")]
    DnsFailure {
        /// Where.
        name: String,
    },
    /// Records exist but none offers an acceptable enumservice.
    #[error("no NAPTR offers an acceptable enumservice")]
    UnsupportedService,
    /// Acceptable records exist but none matched the AUS or produced a URI.
    #[error("no acceptable NAPTR matched the number")]
    NoMatch,
    /// An otherwise acceptable record had an unusable REGEXP.
    #[error("bad regexp {regexp:?} at {name}: {error}")]
    BadRegexp {
        /// The RRSet's owner.
        name: String,
        /// The field.
        regexp: String,
        /// What is wrong with it.
        error: RegexpError,
    },
    /// Non-terminal references loop or chain too deep (RFC 6116 §5.2.1).
    #[error("non-terminal NAPTR loop at {name} ({kind:?})")]
    Loop {
        /// The key that would have been entered.
        name: String,
        /// Revisit or depth.
        kind: LoopKind,
    },
    /// [`Config::max_queries`] reached before a result.
    #[error("more than {limit} NAPTR queries needed")]
    TooManyQueries {
        /// The limit.
        limit: usize,
    },
    /// [`Lookup::result`] called before the lookup finished.
    #[error("lookup not finished")]
    Incomplete,
}

impl LufError {
    /// Which error to report when several records failed differently:
    /// the most specific one (a loop or a broken record says more than
    /// "nothing suitable").
    fn rank(&self) -> u8 {
        match self {
            Self::Loop { .. } => 7,
            Self::TooManyQueries { .. } => 6,
            Self::BadRegexp { .. } => 5,
            Self::DnsFailure { .. } => 4,
            Self::NoMatch => 3,
            Self::UnsupportedService => 2,
            Self::NoRecords { .. } => 1,
            Self::BadNumber(_) | Self::Incomplete => 0,
        }
    }
}

/// An answer for a name the lookup is not waiting for.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unexpected answer for {name}")]
pub struct UnexpectedAnswer {
    /// The name given.
    pub name: String,
}

#[derive(Debug)]
struct Frame {
    name: String,
    candidates: Vec<Naptr>,
    next: usize,
    locked_order: Option<u16>,
}

#[derive(Debug)]
struct Success {
    target_uri: String,
    service: Enumservice,
    naptr: Naptr,
    chain: Vec<String>,
}

/// One ENUM lookup: `new`, then `next_query` / `on_answer` until
/// `next_query` returns `None`, then `result`.
///
/// Records are sorted by ORDER then PREFERENCE, stably so that equal ones
/// keep the response order (RFC 6116 §5.2), and walked depth-first:
/// a terminal match ends the lookup; a non-terminal one is followed, and if
/// its domain yields nothing processing continues with the next record of
/// the referring RRSet (RFC 6116 §5.2.1). Regexps are always applied to the
/// original AUS, never to a previous output (RFC 3403 §4.1).
#[derive(Debug)]
pub struct Lookup {
    config: Config,
    number: Option<E164>,
    aus: String,
    frames: Vec<Frame>,
    pending: Option<String>,
    queried: Vec<String>,
    steps: Vec<Step>,
    worst: Option<LufError>,
    outcome: Option<Result<Success, LufError>>,
}

impl Lookup {
    /// Starts a lookup for `number` (any form [`E164::parse`] accepts).
    /// A bad number yields a lookup that is already finished with
    /// [`LufError::BadNumber`].
    pub fn new(number: &str, config: Config) -> Self {
        match E164::parse(number) {
            Ok(n) => Self::for_number(n, config),
            Err(e) => Self {
                config,
                number: None,
                aus: String::new(),
                frames: Vec::new(),
                pending: None,
                queried: Vec::new(),
                steps: Vec::new(),
                worst: None,
                outcome: Some(Err(e.into())),
            },
        }
    }

    /// Starts a lookup for an already parsed number.
    pub fn for_number(number: E164, config: Config) -> Self {
        let first = number.to_domain(&config.apex);
        let mut this = Self {
            aus: number.aus(),
            number: Some(number),
            config,
            frames: Vec::new(),
            pending: None,
            queried: Vec::new(),
            steps: Vec::new(),
            worst: None,
            outcome: None,
        };
        if this.config.max_queries == 0 {
            this.outcome = Some(Err(LufError::TooManyQueries { limit: 0 }));
        } else {
            this.issue(first);
        }
        this
    }

    /// The AUS every REGEXP is applied to.
    pub fn aus(&self) -> &str {
        &self.aus
    }

    /// The query to answer next, if any. Stays the same until answered.
    pub fn next_query(&self) -> Option<Query> {
        self.pending.as_ref().map(|name| Query {
            name: name.clone(),
            rtype: QueryType::Naptr,
        })
    }

    /// Whether the lookup has finished.
    pub fn is_done(&self) -> bool {
        self.outcome.is_some()
    }

    /// The trace so far.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Feeds the answer for the pending query.
    pub fn on_answer(&mut self, name: &str, answer: Answer) -> Result<(), UnexpectedAnswer> {
        let name = normalize_name(name);
        if self.pending.as_deref() != Some(name.as_str()) {
            return Err(UnexpectedAnswer { name });
        }
        self.pending = None;
        let (summary, mut records) = match answer {
            Answer::Records(r) if !r.is_empty() => (
                AnswerSummary::Records {
                    count: r.len(),
                    kept: r.len().min(self.config.max_rrset),
                },
                r,
            ),
            Answer::Records(_) | Answer::NoData => (AnswerSummary::NoData, Vec::new()),
            Answer::NxDomain => (AnswerSummary::NxDomain, Vec::new()),
            Answer::Failed => (AnswerSummary::Failed, Vec::new()),
        };
        self.steps.push(Step::Answer {
            name: name.clone(),
            answer: summary,
        });
        match summary {
            AnswerSummary::Failed => self.note(LufError::DnsFailure { name: name.clone() }),
            // The first key's emptiness is noted first, so it wins ties.
            AnswerSummary::NxDomain | AnswerSummary::NoData => {
                self.note(LufError::NoRecords { name: name.clone() });
            }
            AnswerSummary::Records { .. } => {}
        }
        records.sort_by_key(|r| (r.order, r.preference));
        records.truncate(self.config.max_rrset);
        self.frames.push(Frame {
            name,
            candidates: records,
            next: 0,
            locked_order: None,
        });
        self.advance();
        Ok(())
    }

    /// Drives the lookup to the end with a synchronous resolver, e.g. a
    /// static zone in tests or a cache.
    pub fn run(mut self, mut resolve: impl FnMut(&Query) -> Answer) -> Result<Resolved, LufError> {
        while let Some(q) = self.next_query() {
            let answer = resolve(&q);
            if self.on_answer(&q.name, answer).is_err() {
                break;
            }
        }
        self.result()
    }

    /// The outcome; [`LufError::Incomplete`] while queries are pending.
    pub fn result(self) -> Result<Resolved, LufError> {
        match (self.outcome, self.number) {
            (Some(Ok(s)), Some(number)) => Ok(Resolved {
                number,
                target_uri: s.target_uri,
                service: s.service,
                naptr: s.naptr,
                chain: s.chain,
                steps: self.steps,
            }),
            (Some(Err(e)), _) => Err(e),
            _ => Err(LufError::Incomplete),
        }
    }

    fn issue(&mut self, name: String) {
        self.steps.push(Step::Query { name: name.clone() });
        self.queried.push(name.clone());
        self.pending = Some(name);
    }

    fn note(&mut self, e: LufError) {
        if self.worst.as_ref().is_none_or(|w| e.rank() > w.rank()) {
            self.worst = Some(e);
        }
    }

    fn rule(&mut self, name: &str, naptr: &Naptr, verdict: Verdict) {
        self.steps.push(Step::Rule {
            name: name.to_owned(),
            naptr: naptr.clone(),
            verdict,
        });
    }

    /// Walks records until one is selected, one is followed (a query is
    /// pending) or everything is exhausted.
    fn advance(&mut self) {
        loop {
            let Some(top) = self.frames.last_mut() else {
                let e = self.worst.take().unwrap_or(LufError::NoMatch);
                self.outcome = Some(Err(e));
                return;
            };
            let Some(naptr) = top.candidates.get(top.next).cloned() else {
                let from = top.name.clone();
                self.frames.pop();
                if let Some(parent) = self.frames.last() {
                    self.steps.push(Step::Backtrack {
                        from,
                        to: parent.name.clone(),
                    });
                }
                continue;
            };
            top.next += 1;
            let name = top.name.clone();
            if top.locked_order.is_some_and(|o| o != naptr.order) {
                self.rule(&name, &naptr, Verdict::OrderLocked);
                continue;
            }
            match flag_kind(&naptr.flags) {
                FlagKind::Unknown => {
                    self.note(LufError::UnsupportedService);
                    self.rule(&name, &naptr, Verdict::UnknownFlags);
                }
                FlagKind::Terminal => {
                    if self.terminal(&name, &naptr) {
                        return;
                    }
                }
                FlagKind::NonTerminal => {
                    if self.non_terminal(&name, &naptr) {
                        return;
                    }
                }
            }
        }
    }

    /// Returns true when the lookup is over.
    fn terminal(&mut self, name: &str, naptr: &Naptr) -> bool {
        let service = match self.pick_service(&naptr.services) {
            Ok(s) => s,
            Err(v) => {
                self.note(LufError::UnsupportedService);
                self.rule(name, naptr, v);
                return false;
            }
        };
        if naptr.regexp.is_empty() {
            self.note(LufError::NoMatch);
            self.rule(name, naptr, Verdict::NoRegexp);
            return false;
        }
        if naptr.has_replacement() {
            self.note(LufError::NoMatch);
            self.rule(name, naptr, Verdict::RegexpAndReplacement);
            return false;
        }
        let output = match self.rewrite(name, naptr) {
            Ok(Some(out)) => out,
            Ok(None) => {
                self.note(LufError::NoMatch);
                self.rule(name, naptr, Verdict::NoMatch);
                return false;
            }
            Err(()) => return false,
        };
        if !is_absolute_uri(&output) {
            self.note(LufError::NoMatch);
            self.rule(name, naptr, Verdict::InvalidUri);
            return false;
        }
        self.rule(
            name,
            naptr,
            Verdict::Selected {
                service: service.clone(),
            },
        );
        self.outcome = Some(Ok(Success {
            target_uri: output,
            service,
            naptr: naptr.clone(),
            chain: self.frames.iter().map(|f| f.name.clone()).collect(),
        }));
        true
    }

    /// Returns true when a query is now pending.
    fn non_terminal(&mut self, name: &str, naptr: &Naptr) -> bool {
        // RFC 6116 §5.2.1: REPLACEMENT is the next key; REGEXP is ignored.
        let next = if naptr.has_replacement() {
            Some(normalize_name(&naptr.replacement))
        } else if self.config.regexp_non_terminal && !naptr.regexp.is_empty() {
            match self.rewrite(name, naptr) {
                Ok(out) => out.map(|s| normalize_name(&s)),
                Err(()) => return false,
            }
        } else {
            None
        };
        let Some(next) = next.filter(|n| valid_fqdn(n)) else {
            self.note(LufError::NoMatch);
            self.rule(name, naptr, Verdict::InvalidReplacement);
            return false;
        };
        let kind = if self.queried.contains(&next) {
            Some(LoopKind::Revisit)
        } else if self.frames.len() > self.config.max_non_terminal {
            Some(LoopKind::TooDeep)
        } else {
            None
        };
        if let Some(kind) = kind {
            self.note(LufError::Loop {
                name: next.clone(),
                kind,
            });
            self.rule(name, naptr, Verdict::Loop(kind));
            return false;
        }
        if self.queried.len() >= self.config.max_queries {
            self.note(LufError::TooManyQueries {
                limit: self.config.max_queries,
            });
            self.rule(name, naptr, Verdict::QueryLimit);
            return false;
        }
        if self.config.order_policy == OrderPolicy::Strict {
            if let Some(top) = self.frames.last_mut() {
                top.locked_order = Some(naptr.order);
            }
        }
        self.rule(name, naptr, Verdict::Follow { next: next.clone() });
        self.issue(next);
        true
    }

    /// First acceptable enumservice, left to right (RFC 6116 §3.4.3.2).
    fn pick_service(&self, field: &str) -> Result<Enumservice, Verdict> {
        let list = match parse_services(field) {
            ServiceField::Enum(list) => list,
            ServiceField::Obsolete(es) if self.config.obsolete_services => vec![es],
            ServiceField::Obsolete(_) | ServiceField::NotEnum => return Err(Verdict::NotEnum),
        };
        let mut private = false;
        for es in list {
            if self.config.services.iter().any(|s| s.matches(&es)) {
                if es.is_private() && !self.config.private_network {
                    private = true;
                    continue;
                }
                return Ok(es);
            }
        }
        Err(if private {
            Verdict::PrivateService
        } else {
            Verdict::UnsupportedService
        })
    }

    /// Applies REGEXP to the AUS, tracing it. `Err(())`: the regexp was bad
    /// (already noted and traced).
    fn rewrite(&mut self, name: &str, naptr: &Naptr) -> Result<Option<String>, ()> {
        let result =
            SubstExpr::parse(&naptr.regexp, &self.config.regex).and_then(|s| s.apply(&self.aus));
        match result {
            Ok(output) => {
                self.steps.push(Step::Rewrite {
                    regexp: naptr.regexp.clone(),
                    input: self.aus.clone(),
                    output: output.clone(),
                });
                Ok(output)
            }
            Err(error) => {
                self.note(LufError::BadRegexp {
                    name: name.to_owned(),
                    regexp: naptr.regexp.clone(),
                    error: error.clone(),
                });
                self.rule(name, naptr, Verdict::BadRegexp(error));
                Err(())
            }
        }
    }
}

/// RFC 3986 §4.3 absolute-URI, checked as far as a LUF needs: a scheme
/// (`ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`), a colon, then no
/// whitespace or control characters.
pub fn is_absolute_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut b = scheme.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphabetic())
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
        && !rest.is_empty()
        && !rest.chars().any(|c| c.is_whitespace() || c.is_control())
}

//! What a check is: declared once, with the requirements it covers, next to
//! its scenario. The traceability matrix is generated from these
//! declarations, never kept by hand.

use crate::ctx::Ctx;
use crate::refs::Ref;
use serde::Serialize;
use speermint_sbe::Fault;
use std::future::Future;
use std::pin::Pin;

/// Requirement level of what a check tests (RFC 2119).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    /// MUST / REQUIRED.
    Must,
    /// SHOULD / RECOMMENDED.
    Should,
}

/// The verdict of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The IUT did what the requirement asks, and the wire shows it.
    Pass,
    /// The IUT did something the requirement forbids; evidence attached.
    Fail,
    /// The IUT did not do what a SHOULD asks (RFC 2119): reported with its
    /// evidence and counted apart, but not a failure (exit 0). Only a
    /// SHOULD-level check may warn; the runner turns a MUST's into a fail.
    Warn,
    /// The wire could not show either (the reason says why). Never a pass.
    Inconclusive,
    /// The IUT profile says the capability is absent.
    NotApplicable,
}

impl Verdict {
    /// The report spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Warn => "warn",
            Verdict::Inconclusive => "inconclusive",
            Verdict::NotApplicable => "not-applicable",
        }
    }
}

/// A verdict with its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The verdict.
    pub verdict: Verdict,
    /// Why, in one or two sentences.
    pub reason: String,
}

impl Outcome {
    /// A pass.
    pub fn pass(reason: impl Into<String>) -> Self {
        Self {
            verdict: Verdict::Pass,
            reason: reason.into(),
        }
    }
    /// A fail.
    pub fn fail(reason: impl Into<String>) -> Self {
        Self {
            verdict: Verdict::Fail,
            reason: reason.into(),
        }
    }
    /// A SHOULD not followed.
    pub fn warn(reason: impl Into<String>) -> Self {
        Self {
            verdict: Verdict::Warn,
            reason: reason.into(),
        }
    }
    /// Inconclusive.
    pub fn inconclusive(reason: impl Into<String>) -> Self {
        Self {
            verdict: Verdict::Inconclusive,
            reason: reason.into(),
        }
    }
}

/// A scenario: drives the roles in `Ctx` and returns an outcome.
pub type Scenario = for<'a> fn(&'a mut Ctx) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// A check, declared once.
#[derive(Debug, Clone, Copy)]
pub struct Check {
    /// Stable kebab-case id.
    pub id: &'static str,
    /// One-line title.
    pub title: &'static str,
    /// What it covers.
    pub covers: &'static [Ref],
    /// Requirement level.
    pub level: Level,
    /// A short statement of the requirement (our words).
    pub requirement: &'static str,
    /// The reference-stack faults under which it must fail.
    pub fails_under: &'static [Fault],
    /// What the IUT must offer for the check to apply; without it the
    /// verdict is not-applicable, with the reason.
    pub needs: &'static [Capability],
    /// The scenario.
    pub scenario: Scenario,
}

/// Something an IUT may or may not offer, which some checks need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// It resolves through the harness's DNS role (LUF/LRF, RFC 6406 §6.1):
    /// it trusts the role's zone keys and uses its two replicas.
    DnsRole,
    /// It serves SIP over TLS (RFC 3261 §26.2, RFC 5922).
    Tls,
    /// It limits how fast each peer may send, at a rate the profile
    /// declares (RFC 6404 §4.9).
    RateLimit,
    /// It limits how many calls each peer may have at once, at a number
    /// the profile declares (RFC 6404 §4.9).
    SessionLimit,
    /// Its SSP declares the addresses its calls leave from (RFC 6271 #2).
    Egress,
    /// It verifies and signs RFC 8224 Identity with credentials the
    /// harness shares (RFC 6404 §4.7); the embedded stack only, so far.
    Identity,
    /// It authenticates peers by TLS client certificate with credentials
    /// the harness holds (RFC 6404 §4.5); the embedded stack only, so far.
    MutualTls,
    /// It requires TLS from a peer the harness plays (RFC 6404 §4.5):
    /// that peer's requests over UDP or plain TCP are refused, over TLS
    /// with its certificate relayed. The embedded stack only, so far: the
    /// harness must hold that peer's credentials.
    TlsRequired,
    /// It sends requests for `sips:` targets over TLS connections it
    /// opens (RFC 3261 §26.2.2), presenting a certificate for its domain
    /// and authenticating the server as the target's domain (RFC 5922
    /// §7.2), to a TLS role of the harness's. The embedded stack only, so
    /// far: the IUT must trust the harness's certificate issuer.
    TlsEgress,
    /// It hides its inside's topology from peers: no inside address or
    /// host name in what leaves (RFC 6404 §4.10, RFC 5853 §3.1).
    TopologyHiding,
    /// Its LUF/LRF must query the DNS role over DNS over TLS (RFC 7858)
    /// with a client certificate, and authenticate the role by its
    /// certificate (RFC 6271 #15, #16).
    DnsTls,
    /// Its SSP advertises a different ingress SBE to each peer, as the
    /// profile lists (RFC 6271 #4).
    PerPeerIngress,
    /// Its SSP serves resource lists (RFC 4662) to its peers, so a list
    /// subscription and its multipart NOTIFYs cross it (RFC 6271 #13).
    /// Without it the requirement is declared, not checked.
    ResourceLists,
    /// It puts a Media Function (DBE) in the media path, at addresses its
    /// SSP declares (RFC 6271 #3, RFC 6406 §5.3): the SDP a peer gets
    /// names them, and RTP and SRTP cross it.
    MediaRelay,
    /// It can be the SBEs of the multi-SSP topologies of the RFC 6405 use
    /// cases, which the harness assembles with their DNS; the embedded
    /// stack only, so far.
    PeeringTopology,
    /// The run reaches it over UDP: the check's traffic must be datagrams
    /// (malformed messages each on its own, which a stream could not
    /// frame). It follows from the target's transport and is not declared.
    Udp,
}

impl Capability {
    /// Every capability.
    pub const ALL: &'static [Capability] = &[
        Capability::DnsRole,
        Capability::Tls,
        Capability::RateLimit,
        Capability::SessionLimit,
        Capability::Egress,
        Capability::Identity,
        Capability::MutualTls,
        Capability::TlsRequired,
        Capability::TlsEgress,
        Capability::TopologyHiding,
        Capability::DnsTls,
        Capability::PerPeerIngress,
        Capability::ResourceLists,
        Capability::MediaRelay,
        Capability::PeeringTopology,
        Capability::Udp,
    ];

    /// The kebab-case name used in profiles and `--only`/`--skip`.
    pub fn name(self) -> &'static str {
        match self {
            Capability::DnsRole => "dns-role",
            Capability::Tls => "tls",
            Capability::RateLimit => "rate-limit",
            Capability::SessionLimit => "session-limit",
            Capability::Egress => "egress",
            Capability::Identity => "identity",
            Capability::MutualTls => "mutual-tls",
            Capability::TlsRequired => "tls-required",
            Capability::TlsEgress => "tls-egress",
            Capability::TopologyHiding => "topology-hiding",
            Capability::DnsTls => "dns-tls",
            Capability::PerPeerIngress => "per-peer-ingress",
            Capability::ResourceLists => "rls",
            Capability::MediaRelay => "media-relay",
            Capability::PeeringTopology => "peering-topology",
            Capability::Udp => "udp",
        }
    }

    /// The capability named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.name() == name)
    }
}

impl Check {
    /// Whether `tag` names this check: its id, a requirement it covers, or
    /// a capability it needs.
    pub fn has_tag(&self, tag: &str) -> bool {
        self.id == tag
            || self.covers.iter().any(|r| r.to_string() == tag)
            || self.needs.iter().any(|c| c.name() == tag)
    }
}

/// A requirement no check covers yet, with the reason.
#[derive(Debug, Clone, Copy)]
pub struct Uncovered {
    /// The requirement.
    pub reference: Ref,
    /// `declared` (not observable on the wire) or `planned`.
    pub status: &'static str,
    /// Why, and where it will be covered.
    pub reason: &'static str,
}

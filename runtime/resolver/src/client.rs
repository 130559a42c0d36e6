//! The DNS client of the LUF and LRF: hickory's resolver pointed at the
//! configured servers, asking UDP first and TCP when an answer comes back
//! truncated (RFC 1035 §4.2.1, RFC 7766 §5), asking two servers at once so
//! that a dead one costs nothing (RFC 6404 §4.3), and
//! validating DNSSEC against the configured anchors (RFC 6404 §4.2).
//!
//! With [`DnsTransport::Tls`] every query, the start-up DNSKEY fetch
//! included, goes over DNS over TLS (RFC 7858) with rustls settings of the
//! caller's: the server is authenticated by its certificate for a
//! configured name, and the client presents its own certificate when the
//! settings carry one (RFC 6271 #15, #16). hickory takes a whole
//! `rustls::ClientConfig`, so a client certificate needs nothing of it.
//!
//! Every failure keeps its cause ([`QueryError`]): "timed out at both
//! servers" and "signature does not verify" call for different fixes.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::dnssec::{Proof, TrustAnchors};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{LowerName, Name, Record, RecordType};
use hickory_resolver::Resolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
    ServerOrderingStrategy,
};
use hickory_resolver::net::{DnsError as HickoryDnsError, NetError};
use speermint_net::Network;

use crate::net_runtime::NetRuntime;

type NetResolver = Resolver<NetRuntime>;

use crate::anchor::{Anchor, TrustAnchor};
use crate::bootstrap::AnchorRef;
use crate::convert::{self, Security};

/// Which transports the client uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DnsTransport {
    /// UDP, then TCP for truncated answers (the RFC 1035 default).
    #[default]
    UdpThenTcp,
    /// TCP only.
    Tcp,
    /// DNS over TLS only (RFC 7858), with [`ClientConfig::tls`]: `servers`
    /// are then the servers' TLS addresses. Nothing goes in the clear.
    Tls,
}

/// DNS over TLS settings (RFC 7858 §4.2, RFC 8310 §8: strict privacy, the
/// server authenticated by name).
#[derive(Debug, Clone)]
pub struct DnsTls {
    /// The name the servers' certificates must carry (the authentication
    /// domain name, RFC 8310 §2).
    pub server_name: String,
    /// rustls settings: the roots the servers' issuer chains to and, for
    /// mutual authentication, the client certificate.
    pub config: Arc<rustls::ClientConfig>,
}

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Servers; two are asked at once, the fastest first.
    pub servers: Vec<SocketAddr>,
    /// Per attempt at one server.
    pub timeout: Duration,
    /// Attempts per server.
    pub attempts: usize,
    /// Validate against these anchors; `None` does no validation.
    pub trust_anchor: Option<TrustAnchor>,
    /// Transports.
    pub transport: DnsTransport,
    /// Advertise a 1232-octet EDNS(0) buffer (RFC 6891). Off, answers over
    /// 512 octets come back truncated and go to TCP.
    pub edns: bool,
    /// Where the servers are: loopback sockets, or the simulated network.
    pub network: Network,
    /// DNS over TLS settings, needed by [`DnsTransport::Tls`].
    pub tls: Option<DnsTls>,
    /// The address queries leave from (any port); `None` lets the
    /// network choose. A server whose answers depend on who asks (RFC
    /// 6271 #4) sees this one.
    pub bind: Option<IpAddr>,
}

impl ClientConfig {
    /// Defaults: 1 s per attempt, 2 attempts, UDP then TCP, EDNS on.
    pub fn new(servers: Vec<SocketAddr>) -> Self {
        Self {
            servers,
            timeout: Duration::from_secs(1),
            attempts: 2,
            trust_anchor: None,
            transport: DnsTransport::UdpThenTcp,
            edns: true,
            network: Network::Sockets,
            tls: None,
            bind: None,
        }
    }

    /// The longest one query may take: every attempt at every server.
    pub fn budget(&self) -> Duration {
        let tries = self.servers.len().max(1) * self.attempts.max(1);
        // hickory retries over TCP after UDP within an attempt.
        self.timeout * u32::try_from(2 * tries).unwrap_or(u32::MAX)
    }
}

/// Why a query gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// DNSSEC validation failed: bad, missing or expired signatures, or
    /// a key that does not chain to an anchor (RFC 4035 §5, "Bogus").
    #[error("DNSSEC validation failed for {name} {rtype}: {detail}")]
    Bogus {
        /// Owner asked for.
        name: String,
        /// Type asked for.
        rtype: String,
        /// What hickory saw.
        detail: String,
    },
    /// No server answered in time.
    #[error("no answer for {name} {rtype} within {budget_ms} ms from {servers}")]
    Timeout {
        /// Owner asked for.
        name: String,
        /// Type asked for.
        rtype: String,
        /// Total budget.
        budget_ms: u128,
        /// The servers tried.
        servers: String,
    },
    /// A server answered with an error code (SERVFAIL, REFUSED...).
    #[error("{name} {rtype}: server answered {rcode}")]
    Rcode {
        /// Owner asked for.
        name: String,
        /// Type asked for.
        rtype: String,
        /// The code.
        rcode: String,
    },
    /// Anything else (network unreachable, undecodable answer...).
    #[error("{name} {rtype}: {detail}")]
    Failed {
        /// Owner asked for.
        name: String,
        /// Type asked for.
        rtype: String,
        /// Cause.
        detail: String,
    },
}

impl QueryError {
    /// A short machine-readable kind for reports.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Bogus { .. } => "dnssec",
            Self::Timeout { .. } => "timeout",
            Self::Rcode { .. } => "rcode",
            Self::Failed { .. } => "dns",
        }
    }
}

/// What one query found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// The RRSet of the type asked (RRSIGs and CNAMEs left out).
    Records(Vec<Record>),
    /// NXDOMAIN.
    NxDomain,
    /// The name exists, without records of this type.
    NoData,
}

/// An answer and whether it validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The data.
    pub found: Found,
    /// Secure only when validation was on and every record chained to an
    /// anchor (or the denial was proven).
    pub security: Security,
}

/// Failure to set the client up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// No server given.
    #[error("no DNS server configured")]
    NoServers,
    /// A DS anchor matched no key of its zone.
    #[error("trust anchor: {0}")]
    Anchor(String),
    /// hickory refused the configuration.
    #[error("resolver: {0}")]
    Resolver(String),
}

/// A DNS client. Cheap to clone; clones share the cache.
#[derive(Clone)]
pub struct Client {
    resolver: NetResolver,
    validating: bool,
    config: Arc<ClientConfig>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("servers", &self.config.servers)
            .field("validating", &self.validating)
            .finish()
    }
}

impl Client {
    /// Builds the client. DS anchors are resolved to their DNSKEYs here,
    /// with a query to the configured servers.
    pub async fn new(config: ClientConfig) -> Result<Self, ClientError> {
        if config.servers.is_empty() {
            return Err(ClientError::NoServers);
        }
        let anchors = match &config.trust_anchor {
            None => None,
            Some(anchor) => Some(Arc::new(resolve_anchors(&config, anchor).await?)),
        };
        let resolver = build(&config, anchors.clone())?;
        Ok(Self {
            resolver,
            validating: anchors.is_some(),
            config: Arc::new(config),
        })
    }

    /// Whether answers are validated.
    pub fn validating(&self) -> bool {
        self.validating
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Forgets every cached answer (for cold-cache measurements and after
    /// a zone changes under a test).
    pub fn clear_cache(&self) {
        self.resolver.clear_cache();
    }

    /// One query. `name` is absolute, with or without the final dot.
    pub async fn query(&self, name: &str, rtype: RecordType) -> Result<Fetched, QueryError> {
        let fail = |detail: String| QueryError::Failed {
            name: name.to_owned(),
            rtype: rtype.to_string(),
            detail,
        };
        let owner = Name::from_str(name)
            .and_then(|n| n.append_domain(&Name::root()))
            .map_err(|e| fail(format!("bad name: {e}")))?;
        let budget = self.config.budget();
        let lookup = tokio::time::timeout(budget, self.resolver.lookup(owner.clone(), rtype)).await;
        let result = match lookup {
            Err(_) => Err(NetError::Timeout),
            Ok(r) => r,
        };
        match result {
            Ok(lookup) => {
                let lower = LowerName::new(&owner);
                let records: Vec<Record> = lookup
                    .answers()
                    .iter()
                    .filter(|r| r.record_type() == rtype && LowerName::new(&r.name) == lower)
                    .cloned()
                    .collect();
                let security = self.security_of(name, rtype, records.iter().map(|r| r.proof))?;
                let found = if records.is_empty() {
                    Found::NoData
                } else {
                    Found::Records(records)
                };
                Ok(Fetched { found, security })
            }
            Err(e) => self.negative(name, rtype, e, budget),
        }
    }

    fn security_of(
        &self,
        name: &str,
        rtype: RecordType,
        proofs: impl Iterator<Item = Proof>,
    ) -> Result<Security, QueryError> {
        if !self.validating {
            return Ok(Security::Insecure);
        }
        for proof in proofs {
            // Below an anchor an unsigned answer is as bad as a forged one:
            // RFC 6404 §4.2 asks for signed data, and a stripping attacker
            // produces exactly "insecure".
            if proof != Proof::Secure {
                return Err(QueryError::Bogus {
                    name: name.to_owned(),
                    rtype: rtype.to_string(),
                    detail: format!("answer is {proof}, not secure"),
                });
            }
        }
        Ok(Security::Secure)
    }

    fn negative(
        &self,
        name: &str,
        rtype: RecordType,
        error: NetError,
        budget: Duration,
    ) -> Result<Fetched, QueryError> {
        let rt = rtype.to_string();
        match error {
            NetError::Dns(HickoryDnsError::NoRecordsFound(no)) => {
                let found = if no.response_code == ResponseCode::NXDomain {
                    Found::NxDomain
                } else {
                    Found::NoData
                };
                // The denial counts as secure only if the SOA that came
                // with it validated (hickory checks the NSEC proof).
                let proofs = no.soa.iter().map(|s| s.proof);
                let security = if self.validating && no.soa.is_none() {
                    return Err(QueryError::Bogus {
                        name: name.to_owned(),
                        rtype: rt,
                        detail: "denial of existence without a signed SOA".into(),
                    });
                } else {
                    self.security_of(name, rtype, proofs)?
                };
                Ok(Fetched { found, security })
            }
            NetError::Dns(HickoryDnsError::Nsec { proof, .. }) => {
                if self.validating && proof != Proof::Secure {
                    return Err(QueryError::Bogus {
                        name: name.to_owned(),
                        rtype: rt,
                        detail: format!("denial of existence is {proof}"),
                    });
                }
                Ok(Fetched {
                    found: Found::NoData,
                    security: if self.validating {
                        Security::Secure
                    } else {
                        Security::Insecure
                    },
                })
            }
            NetError::Dns(HickoryDnsError::DnssecBogus) => Err(QueryError::Bogus {
                name: name.to_owned(),
                rtype: rt,
                detail: "signatures do not verify".into(),
            }),
            NetError::Dns(HickoryDnsError::ResponseCode(code)) => Err(QueryError::Rcode {
                name: name.to_owned(),
                rtype: rt,
                rcode: code.to_string(),
            }),
            NetError::Timeout => Err(QueryError::Timeout {
                name: name.to_owned(),
                rtype: rt,
                budget_ms: budget.as_millis(),
                servers: self
                    .config
                    .servers
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
            other => {
                let detail = other.to_string();
                // hickory reports some validation failures as protocol
                // errors naming the RRSIG or DNSKEY it could not use.
                if self.validating && mentions_dnssec(&detail) {
                    Err(QueryError::Bogus {
                        name: name.to_owned(),
                        rtype: rt,
                        detail,
                    })
                } else {
                    Err(QueryError::Failed {
                        name: name.to_owned(),
                        rtype: rt,
                        detail,
                    })
                }
            }
        }
    }

    /// NAPTRs at `name`, as the LUF core takes them.
    pub async fn enum_answer(
        &self,
        name: &str,
    ) -> Result<(speermint_enum::Answer, Security), QueryError> {
        let fetched = self.query(name, RecordType::NAPTR).await?;
        let answer = match fetched.found {
            Found::NxDomain => speermint_enum::Answer::NxDomain,
            Found::NoData => speermint_enum::Answer::NoData,
            Found::Records(records) => {
                let owner = records[0].name.clone();
                speermint_enum::Answer::Records(convert::naptrs(&owner, records.iter()))
            }
        };
        Ok((answer, fetched.security))
    }

    /// An LRF query, answered as the LRF core takes it.
    pub async fn route_answer(
        &self,
        query: &speermint_route::Query,
    ) -> Result<(speermint_route::Answer, Security), QueryError> {
        let fetched = self
            .query(&query.name, convert::record_type(query.rtype))
            .await?;
        let answer = match fetched.found {
            Found::NxDomain => speermint_route::Answer::NxDomain,
            Found::NoData => speermint_route::Answer::NoData,
            Found::Records(records) => {
                let owner = records[0].name.clone();
                convert::route_answer(&owner, query.rtype, records.iter())
            }
        };
        Ok((answer, fetched.security))
    }
}

fn mentions_dnssec(detail: &str) -> bool {
    let d = detail.to_ascii_lowercase();
    [
        "rrsig",
        "dnskey",
        "dnssec",
        "signature",
        "bogus",
        "insecure",
        " ds ",
    ]
    .iter()
    .any(|w| d.contains(w))
}

fn build(
    config: &ClientConfig,
    anchors: Option<Arc<TrustAnchors>>,
) -> Result<NetResolver, ClientError> {
    let tls = match (config.transport, &config.tls) {
        (DnsTransport::Tls, Some(t)) => Some(t),
        (DnsTransport::Tls, None) => {
            return Err(ClientError::Resolver(
                "DNS over TLS needs TLS settings (a server name and a rustls configuration)".into(),
            ));
        }
        _ => None,
    };
    let bind_addr = config.bind.map(|ip| SocketAddr::new(ip, 0));
    let servers = config
        .servers
        .iter()
        .map(|addr| {
            let at = |mut c: ConnectionConfig| {
                c.port = addr.port();
                c.bind_addr = bind_addr;
                c
            };
            let conns = match (config.transport, tls) {
                (DnsTransport::Tls, Some(t)) => {
                    vec![at(ConnectionConfig::tls(Arc::from(t.server_name.as_str())))]
                }
                (DnsTransport::Tcp, _) => vec![at(ConnectionConfig::tcp())],
                _ => vec![at(ConnectionConfig::udp()), at(ConnectionConfig::tcp())],
            };
            NameServerConfig::new(addr.ip(), true, conns)
        })
        .collect();
    let mut opts = ResolverOpts::default();
    opts.timeout = config.timeout;
    opts.attempts = config.attempts.max(1);
    opts.edns0 = config.edns;
    // hickory gives a query one timeout across all servers, so failover
    // means asking two at once: a dead server then costs nothing, and its
    // smoothed RTT soon ranks it last (RFC 6404 §4.3).
    opts.num_concurrent_reqs = 2;
    opts.server_ordering_strategy = ServerOrderingStrategy::QueryStatistics;
    opts.use_hosts_file = ResolveHosts::Never;
    opts.ndots = 0;
    let mut builder = Resolver::builder_with_config(
        ResolverConfig::from_parts(None, vec![], servers),
        NetRuntime::new(config.network.clone()),
    )
    .with_options(opts);
    if let Some(a) = anchors {
        builder = builder.with_trust_anchor(a);
    }
    if let Some(t) = tls {
        builder = builder.with_tls_config((*t.config).clone());
    }
    builder
        .build()
        .map_err(|e| ClientError::Resolver(e.to_string()))
}

/// Turns the configured anchors into hickory's key set (see
/// [`crate::bootstrap`]): each anchor that signs its zone's DNSKEY RRset
/// brings the zone keys of that RRset with it. A DNSKEY anchor whose zone
/// cannot be asked at start-up is trusted alone, which suffices for a
/// zone signed by that one key; a DS anchor needs the key it digests.
async fn resolve_anchors(
    config: &ClientConfig,
    anchor: &TrustAnchor,
) -> Result<TrustAnchors, ClientError> {
    let mut keys = TrustAnchors::empty();
    for a in &anchor.anchors {
        let zone = a.zone();
        let found = match a {
            Anchor::Key { dnskey, .. } => {
                crate::bootstrap::zone_keys(config, zone, AnchorRef::Key(dnskey))
                    .await
                    .unwrap_or_else(|_| vec![dnskey.clone()])
            }
            Anchor::Digest { ds, .. } => {
                crate::bootstrap::zone_keys(config, zone, AnchorRef::Digest(ds))
                    .await
                    .map_err(ClientError::Anchor)?
            }
        };
        for k in &found {
            keys.insert_with_name(k.public_key(), LowerName::new(zone));
        }
    }
    Ok(keys)
}

//! Plain data exchanged with the caller: targets, hops, DNS queries and
//! answers. Independent of any DNS library so that the wiring layer only
//! converts records.

use std::fmt;
use std::net::IpAddr;

pub use speermint_enum::Naptr;

/// A SIP transport, including the TLS variants a `sips:` URI needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Transport {
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
    /// TLS over TCP.
    Tls,
    /// SCTP.
    Sctp,
    /// TLS over SCTP.
    TlsSctp,
}

impl Transport {
    /// All transports, for iteration.
    pub const ALL: [Transport; 5] = [Self::Udp, Self::Tcp, Self::Tls, Self::Sctp, Self::TlsSctp];

    /// Whether the transport is TLS-protected (acceptable for `sips:`).
    pub fn is_secure(self) -> bool {
        matches!(self, Self::Tls | Self::TlsSctp)
    }

    /// Default port: 5061 for TLS, 5060 otherwise (RFC 3261 §19.1.2).
    pub fn default_port(self) -> u16 {
        if self.is_secure() { 5061 } else { 5060 }
    }

    /// SRV owner-name prefix (RFC 3263 §4.1-4.2, RFC 2782).
    pub fn srv_prefix(self) -> &'static str {
        match self {
            Self::Udp => "_sip._udp",
            Self::Tcp => "_sip._tcp",
            Self::Tls => "_sips._tcp",
            Self::Sctp => "_sip._sctp",
            Self::TlsSctp => "_sips._sctp",
        }
    }

    /// NAPTR service field (RFC 3263 §4.1; SIPS+D2U is impossible).
    pub fn naptr_service(self) -> &'static str {
        match self {
            Self::Udp => "SIP+D2U",
            Self::Tcp => "SIP+D2T",
            Self::Tls => "SIPS+D2T",
            Self::Sctp => "SIP+D2S",
            Self::TlsSctp => "SIPS+D2S",
        }
    }

    /// Inverse of [`Transport::naptr_service`], case-insensitive.
    pub fn from_naptr_service(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.naptr_service().eq_ignore_ascii_case(s))
    }

    /// The TLS counterpart over the same carrier, if any.
    pub fn secured(self) -> Option<Self> {
        match self {
            Self::Tcp | Self::Tls => Some(Self::Tls),
            Self::Sctp | Self::TlsSctp => Some(Self::TlsSctp),
            Self::Udp => None,
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
            Self::Tls => "TLS",
            Self::Sctp => "SCTP",
            Self::TlsSctp => "TLS-SCTP",
        })
    }
}

/// The parts of a SIP or SIPS URI that decide where a request goes
/// (RFC 3263 §4: TARGET is `maddr` if present, else the host).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// `sips:` scheme: every hop must be TLS (RFC 3263 §4.1).
    pub secure: bool,
    /// Host: a domain name, an IPv4 address or an IPv6 reference
    /// (brackets optional).
    pub host: String,
    /// Explicit port.
    pub port: Option<u16>,
    /// The `transport` parameter. For `sips:` `Tcp`/`Sctp` mean TLS over
    /// them; `Tls` stands for the deprecated `transport=tls`.
    pub transport: Option<Transport>,
    /// The `maddr` parameter, overriding the host as TARGET.
    pub maddr: Option<String>,
}

impl Target {
    /// `sip:host`.
    pub fn sip(host: &str) -> Self {
        Self {
            secure: false,
            host: host.to_owned(),
            port: None,
            transport: None,
            maddr: None,
        }
    }

    /// `sips:host`.
    pub fn sips(host: &str) -> Self {
        Self {
            secure: true,
            ..Self::sip(host)
        }
    }

    /// With an explicit port.
    #[must_use]
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// With a transport parameter.
    #[must_use]
    pub fn with_transport(mut self, transport: Transport) -> Self {
        self.transport = Some(transport);
        self
    }

    /// With an maddr parameter.
    #[must_use]
    pub fn with_maddr(mut self, maddr: &str) -> Self {
        self.maddr = Some(maddr.to_owned());
        self
    }
}

/// One place to send the request, in the order to try (RFC 3263 §4.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NextHop {
    /// Transport to use.
    pub transport: Transport,
    /// The SRV target, or the URI's host (also the TLS reference identity).
    pub host: String,
    /// Address to connect to.
    pub address: IpAddr,
    /// Port.
    pub port: u16,
}

impl fmt::Display for NextHop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.address {
            IpAddr::V4(a) => write!(f, "{} {}:{} ({})", self.transport, a, self.port, self.host),
            IpAddr::V6(a) => write!(
                f,
                "{} [{}]:{} ({})",
                self.transport, a, self.port, self.host
            ),
        }
    }
}

/// An SRV record (RFC 2782). A `target` of "." means "no service here".
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Srv {
    /// Lower is preferred.
    pub priority: u16,
    /// Relative weight within a priority.
    pub weight: u16,
    /// Port.
    pub port: u16,
    /// Host name.
    pub target: String,
}

impl Srv {
    /// Shorthand.
    pub fn new(priority: u16, weight: u16, port: u16, target: &str) -> Self {
        Self {
            priority,
            weight,
            port,
            target: target.to_owned(),
        }
    }
}

/// The record types the LRF asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum RecordType {
    /// NAPTR (35).
    Naptr,
    /// SRV (33).
    Srv,
    /// A (1).
    A,
    /// AAAA (28).
    Aaaa,
}

/// A DNS question.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Query {
    /// Absolute name, lower case, no trailing dot.
    pub name: String,
    /// Record type.
    pub rtype: RecordType,
}

impl Query {
    pub(crate) fn new(name: &str, rtype: RecordType) -> Self {
        Self {
            name: normalize_name(name),
            rtype,
        }
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.name, self.rtype)
    }
}

/// The caller's answer to a [`Query`]. A records answer of another type
/// than asked, or addresses of the wrong family, are ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Answer {
    /// NAPTR RRSet.
    Naptr(Vec<Naptr>),
    /// SRV RRSet.
    Srv(Vec<Srv>),
    /// A or AAAA RRSet.
    Addresses(Vec<IpAddr>),
    /// NXDOMAIN.
    NxDomain,
    /// No records of this type.
    NoData,
    /// SERVFAIL, timeout or other failure.
    Failed,
}

impl Answer {
    /// Negative in the RFC 2308 sense (including an empty RRSet).
    pub fn is_negative(&self) -> bool {
        match self {
            Self::NxDomain | Self::NoData => true,
            Self::Naptr(v) => v.is_empty(),
            Self::Srv(v) => v.is_empty(),
            Self::Addresses(v) => v.is_empty(),
            Self::Failed => false,
        }
    }
}

/// Lower case, one trailing dot removed (RFC 4343: names compare
/// case-insensitively).
pub(crate) fn normalize_name(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

/// A host-name-like FQDN: labels of 1-63 letters, digits, '-' or '_',
/// at most 253 octets.
pub(crate) fn valid_fqdn(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            (1..=63).contains(&l.len())
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// A numeric host: IPv4, or IPv6 with or without brackets.
pub(crate) fn parse_ip(host: &str) -> Option<IpAddr> {
    match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(inner) => inner.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6),
        None => host.parse().ok(),
    }
}

//! Fuzz entry points, for cargo-fuzz shims and regression replay in
//! `cargo test`. Each asserts invariants, so a crash is a real defect.
//!
//! The input is read through [`arbitrary::Unstructured`] into an
//! [`LrfCase`]: a target, a configuration, a routing table and a zone of
//! answers. Every byte string is a case (short ones give small cases), so
//! libFuzzer mutates cases rather than syntax. Raw DNS messages are the
//! `enum_naptr` target's job (speermint-resolver); the answers here are already
//! decoded, which keeps the fuzzer on the RFC 3263 logic.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use arbitrary::Unstructured;

use crate::{
    AddressOrder, Answer, Cache, Config, LrfError, Naptr, NextHop, Query, RecordType, Resolution,
    Route, RouteSource, RoutingTable, Srv, StaticRoute, Target, Transport,
};

const HOSTS: [&str; 10] = [
    "example.com",
    "example.com",
    "peer.example",
    "peer.example",
    "192.0.2.1",
    "[2001:db8::1]",
    "bad host",
    "EXAMPLE.com.",
    "s1.example.com",
    "2001:db8::2",
];

const NAMES: [&str; 14] = [
    "example.com",
    "_sips._tcp.example.com",
    "_sip._tcp.example.com",
    "_sip._udp.example.com",
    "_sip._sctp.example.com",
    "_sips._sctp.example.com",
    "s1.example.com",
    "s2.example.com",
    "peer.example",
    "_sips._tcp.peer.example",
    "_sip._udp.peer.example",
    ".",
    "192.0.2.7",
    "transit.example",
];

const FLAGS: [&str; 6] = ["s", "s", "S", "a", "", "u"];
const SERVICES: [&str; 8] = [
    "SIPS+D2T", "SIP+D2T", "SIP+D2U", "SIP+D2S", "SIPS+D2S", "SIPS+D2U", "E2U+sip", "sip+d2u",
];

type Gen<T> = arbitrary::Result<T>;

/// Record types the zone holds, in the order an input indexes them.
pub const RECORD_TYPES: [RecordType; 4] = [
    RecordType::Naptr,
    RecordType::Srv,
    RecordType::A,
    RecordType::Aaaa,
];

fn pick(u: &mut Unstructured<'_>, list: &[&str]) -> Gen<String> {
    u.choose(list).map(|s| (*s).to_owned())
}

fn transport(u: &mut Unstructured<'_>) -> Gen<Transport> {
    u.choose(&Transport::ALL).copied()
}

/// 192.0.2.x or 2001:db8::x (RFC 5737, RFC 3849 documentation ranges).
fn ip(u: &mut Unstructured<'_>) -> Gen<IpAddr> {
    Ok(if u.arbitrary::<bool>()? {
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u.arbitrary()?))
    } else {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, u.arbitrary()?))
    })
}

fn draw_target(u: &mut Unstructured<'_>) -> Gen<Target> {
    let bits: u8 = u.arbitrary()?;
    let host = pick(u, &HOSTS)?;
    Ok(Target {
        secure: bits & 1 != 0,
        host,
        port: if bits & 2 != 0 {
            Some(u.arbitrary()?)
        } else {
            None
        },
        transport: if bits & 4 != 0 {
            Some(transport(u)?)
        } else {
            None
        },
        maddr: if bits & 8 != 0 {
            Some(pick(u, &HOSTS)?)
        } else {
            None
        },
    })
}

fn naptr(u: &mut Unstructured<'_>) -> Gen<Naptr> {
    Ok(Naptr {
        order: u.int_in_range(0..=3u16)? * 10,
        preference: u.int_in_range(0..=3)?,
        flags: pick(u, &FLAGS)?,
        services: pick(u, &SERVICES)?,
        // RFC 3263 §4.1 wants an empty REGEXP; now and then, not.
        regexp: if u.int_in_range(0..=7u8)? == 0 {
            "!x!y!".into()
        } else {
            String::new()
        },
        replacement: pick(u, &NAMES)?,
    })
}

fn srv(u: &mut Unstructured<'_>) -> Gen<Srv> {
    Ok(Srv {
        priority: u.int_in_range(0..=2)?,
        weight: u.int_in_range(0..=3)?,
        port: u.arbitrary()?,
        target: pick(u, &NAMES)?,
    })
}

fn many<T>(
    u: &mut Unstructured<'_>,
    n: usize,
    f: fn(&mut Unstructured<'_>) -> Gen<T>,
) -> Gen<Vec<T>> {
    (0..n).map(|_| f(u)).collect()
}

/// One `lrf_answers` input, decoded. The byte layout, in reading order
/// (integers are `Unstructured::int_in_range`, one byte taken modulo the
/// range; `u16`s are two bytes, little-endian; a list choice is one byte
/// modulo the list's length):
///
/// 1. target: a bits byte (1 `sips:`, 2 port, 4 transport, 8 `maddr`),
///    the host from `HOSTS`, then the port, the transport from
///    [`Transport::ALL`] and the `maddr` from `HOSTS` where the bits say;
/// 2. a mode byte (1 prefer TLS, 2 IPv4 first, 4 a routing-table entry,
///    8 that entry is a `Via`), a transport mask (low five bits over
///    [`Transport::ALL`], 0 for the default), `max_hops` in 1..=8 and the
///    SRV weight seed;
/// 3. with mode 4: the entry's domain from `HOSTS`, then a `Via` target or
///    0..=3 static hops (transport, address, port);
/// 4. 0..=23 zone entries: a name from `NAMES`, a type from
///    [`RECORD_TYPES`], a record count in 0..=4 and a kind in 0..=7
///    (0 NXDOMAIN, 1 NODATA, 2 failure, 7 records of the wrong type, else
///    records of the type), then the records. An address is a bool (IPv6)
///    and a byte or `u16`. The first entry for a query wins.
#[derive(Debug, Clone)]
pub struct LrfCase {
    /// What to resolve.
    pub target: Target,
    /// Resolver settings.
    pub config: Config,
    /// Static routes.
    pub table: RoutingTable,
    /// Answers by query; [`answer_for`] fills in the rest.
    pub zone: BTreeMap<Query, Answer>,
    /// SRV weight seed.
    pub seed: u64,
}

impl LrfCase {
    /// Decodes any byte string.
    pub fn from_bytes(data: &[u8]) -> Self {
        // Only `choose` on an empty list fails, and no list is empty.
        Self::draw(&mut Unstructured::new(data)).expect("every input decodes")
    }

    fn draw(u: &mut Unstructured<'_>) -> Gen<Self> {
        let target = draw_target(u)?;
        let mode: u8 = u.arbitrary()?;
        let mut config = Config {
            prefer_tls: mode & 1 != 0,
            address_order: if mode & 2 != 0 {
                AddressOrder::Ipv4First
            } else {
                AddressOrder::Ipv6First
            },
            ..Config::default()
        };
        let mask = u.arbitrary::<u8>()? & 0x1f;
        if mask != 0 {
            config.transports = Transport::ALL
                .into_iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, t)| t)
                .collect();
        }
        config.max_hops = u.int_in_range(1..=8)?;
        let seed = u64::from(u.arbitrary::<u8>()?);

        let mut table = RoutingTable::new();
        if mode & 4 != 0 {
            let domain = pick(u, &HOSTS)?;
            let route = if mode & 8 != 0 {
                StaticRoute::Via(draw_target(u)?)
            } else {
                let n = u.int_in_range(0..=3)?;
                StaticRoute::Hops(many(u, n, |u| {
                    Ok(NextHop {
                        transport: transport(u)?,
                        host: "static.example".to_owned(),
                        address: ip(u)?,
                        port: u.arbitrary()?,
                    })
                })?)
            };
            table.insert(&domain, route);
        }

        let mut zone = BTreeMap::new();
        for _ in 0..u.int_in_range(0..=23)? {
            let name = pick(u, &NAMES)?;
            let rtype = *u.choose(&RECORD_TYPES)?;
            let n = u.int_in_range(0..=4)?;
            let answer = match (u.int_in_range(0..=7u8)?, rtype) {
                (0, _) => Answer::NxDomain,
                (1, _) => Answer::NoData,
                (2, _) => Answer::Failed,
                // Kind 7: records of the wrong type, which must be ignored.
                (7, RecordType::Srv) | (_, RecordType::Naptr) => Answer::Naptr(many(u, n, naptr)?),
                (7, _) | (_, RecordType::Srv) => Answer::Srv(many(u, n, srv)?),
                _ => Answer::Addresses(many(u, n, ip)?),
            };
            zone.entry(Query { name, rtype }).or_insert(answer);
        }
        Ok(Self {
            target,
            config,
            table,
            zone,
            seed,
        })
    }
}

/// Bytes as an [`LrfCase`], resolved twice directly and twice through a
/// cache. Invariants: no panic; a `sips:` target (or a route via one) never
/// gets a non-TLS hop; hops are non-empty, within [`Config::max_hops`] and
/// use configured transports (static routes aside); no query is asked
/// twice, even when two NAPTRs name the same SRV domain, nor past
/// [`Config::max_queries`]; the target is echoed; equal seeds give equal
/// routes; a cached replay gives the same route.
pub fn lrf_answers(data: &[u8]) {
    let LrfCase {
        target,
        config,
        table,
        zone,
        seed,
    } = LrfCase::from_bytes(data);
    let secure = target.secure
        || matches!(table.lookup(&target.host), Some(StaticRoute::Via(v)) if v.secure);
    let first = run_checked(&target, &config, &table, &zone, seed, secure);
    let again = run_checked(&target, &config, &table, &zone, seed, secure);
    assert_eq!(first, again, "resolution is not deterministic");

    // Replay through a cache: the first pass fills it, the second must
    // reach the same route.
    let mut cache = Cache::new();
    let lookup = |q: &Query| (answer_for(&zone, q), 60);
    let filled =
        Resolution::new(target.clone(), &config, &table, seed).run_cached(&mut cache, 0, lookup);
    let replay =
        Resolution::new(target.clone(), &config, &table, seed).run_cached(&mut cache, 1, lookup);
    assert_eq!(strip(&filled), first);
    assert_eq!(strip(&replay), first);
}

/// A consistent zone: NXDOMAIN for one type denies the name for all types
/// (RFC 2308 §2.1), and a name with some records has NODATA for the rest.
pub fn answer_for(zone: &BTreeMap<Query, Answer>, q: &Query) -> Answer {
    let mut exists = false;
    for (k, a) in zone {
        if k.name == q.name {
            if *a == Answer::NxDomain {
                return Answer::NxDomain;
            }
            exists = true;
        }
    }
    match zone.get(q) {
        Some(a) => a.clone(),
        None if exists => Answer::NoData,
        None => Answer::NxDomain,
    }
}

type Outcome = Result<(Vec<NextHop>, RouteSource), LrfError>;

fn strip(r: &Result<Route, LrfError>) -> Outcome {
    r.clone().map(|r| (r.hops, r.source))
}

fn run_checked(
    target: &Target,
    config: &Config,
    table: &RoutingTable,
    zone: &BTreeMap<Query, Answer>,
    seed: u64,
    secure: bool,
) -> Outcome {
    let mut res = Resolution::new(target.clone(), config, table, seed);
    let mut seen: Vec<Query> = Vec::new();
    // Answer whole batches in reverse order, as a concurrent driver might.
    loop {
        let mut batch = res.pending();
        if batch.is_empty() {
            break;
        }
        batch.reverse();
        for q in batch {
            assert!(!seen.contains(&q), "{q} asked twice");
            seen.push(q.clone());
            assert!(seen.len() <= config.max_queries, "query limit exceeded");
            let a = answer_for(zone, &q);
            if let Err(e) = res.on_answer(&q, a) {
                panic!("pending query refused its answer: {e}");
            }
        }
    }
    assert!(res.is_done());
    let out = res.result();
    match &out {
        Ok(route) => {
            assert_eq!(&route.target, target);
            assert!(!route.hops.is_empty());
            assert!(route.hops.len() <= config.max_hops);
            if secure {
                assert!(
                    route.hops.iter().all(|h| h.transport.is_secure()),
                    "non-TLS hop for sips: {:?}",
                    route.hops
                );
            }
            if route.source != RouteSource::Static {
                assert!(
                    route
                        .hops
                        .iter()
                        .all(|h| config.transports.contains(&h.transport))
                );
            }
        }
        Err(e) => assert_ne!(e, &LrfError::Incomplete),
    }
    strip(&out)
}

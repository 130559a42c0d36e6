//! Fuzz entry points, for cargo-fuzz shims and regression replay in
//! `cargo test`. Each asserts invariants, so a crash is a real defect.
//!
//! The input is decoded with a small ad-hoc format into a target, a
//! configuration, a routing table and a zone of answers. Decoding DNS wire
//! messages needs a DNS codec (hickory-proto) and comes with the DNS
//! wiring; it will feed the same [`Resolution`] and keep these invariants.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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

#[derive(Debug)]
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }
    fn pick<'s>(&mut self, list: &[&'s str]) -> &'s str {
        list.get(usize::from(self.u8()) % list.len().max(1))
            .copied()
            .unwrap_or_default()
    }
    fn transport(&mut self) -> Transport {
        let all = Transport::ALL;
        all[usize::from(self.u8()) % all.len()]
    }
    fn ip(&mut self) -> IpAddr {
        if self.u8() & 1 == 0 {
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, self.u8()))
        } else {
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, self.u16()))
        }
    }
    fn target(&mut self) -> Target {
        let flags = self.u8();
        Target {
            secure: flags & 1 != 0,
            host: self.pick(&HOSTS).to_owned(),
            port: (flags & 2 != 0).then(|| self.u16()),
            transport: (flags & 4 != 0).then(|| self.transport()),
            maddr: (flags & 8 != 0).then(|| self.pick(&HOSTS).to_owned()),
        }
    }
}

/// Bytes as a target, settings, routing table and DNS zone, resolved
/// twice (directly and through a cache). Invariants: no panic; a `sips:`
/// target (or a route via one) never gets a non-TLS hop; hops are
/// non-empty, within [`Config::max_hops`] and use supported transports
/// (static routes aside); no query is repeated or past
/// [`Config::max_queries`]; the target is echoed; equal seeds give equal
/// routes; a cached replay gives the same route.
pub fn lrf_answers(data: &[u8]) {
    let mut b = Bytes(data);
    let target = b.target();
    let mode = b.u8();
    let mut config = Config {
        prefer_tls: mode & 1 != 0,
        address_order: if mode & 2 != 0 {
            AddressOrder::Ipv4First
        } else {
            AddressOrder::Ipv6First
        },
        ..Config::default()
    };
    let mask = b.u8() & 0x1f;
    if mask != 0 {
        config.transports = Transport::ALL
            .into_iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, t)| t)
            .collect();
    }
    config.max_hops = usize::from(b.u8() % 8) + 1;
    let seed = u64::from(b.u8());

    let mut table = RoutingTable::new();
    if mode & 4 != 0 {
        let domain = b.pick(&HOSTS).to_owned();
        let route = if mode & 8 != 0 {
            StaticRoute::Via(b.target())
        } else {
            let n = b.u8() % 4;
            StaticRoute::Hops(
                (0..n)
                    .map(|_| NextHop {
                        transport: b.transport(),
                        host: "static.example".to_owned(),
                        address: b.ip(),
                        port: b.u16(),
                    })
                    .collect(),
            )
        };
        table.insert(&domain, route);
    }

    let mut zone: HashMap<Query, Answer> = HashMap::new();
    for _ in 0..b.u8() % 24 {
        let name = b.pick(&NAMES).to_owned();
        let rtype = [
            RecordType::Naptr,
            RecordType::Srv,
            RecordType::A,
            RecordType::Aaaa,
        ][usize::from(b.u8() % 4)];
        let n = b.u8() % 5;
        let kind = b.u8() % 8;
        let answer = match (kind, rtype) {
            (0, _) => Answer::NxDomain,
            (1, _) => Answer::NoData,
            (2, _) => Answer::Failed,
            // kind 7: records of the wrong type, which must be ignored.
            (7, RecordType::Srv) | (_, RecordType::Naptr) => Answer::Naptr(
                (0..n)
                    .map(|_| Naptr {
                        order: u16::from(b.u8() % 4) * 10,
                        preference: u16::from(b.u8() % 4),
                        flags: b.pick(&FLAGS).to_owned(),
                        services: b.pick(&SERVICES).to_owned(),
                        regexp: if b.u8() % 8 == 0 {
                            "!x!y!".into()
                        } else {
                            String::new()
                        },
                        replacement: b.pick(&NAMES).to_owned(),
                    })
                    .collect(),
            ),
            (7, _) | (_, RecordType::Srv) => Answer::Srv(
                (0..n)
                    .map(|_| Srv {
                        priority: u16::from(b.u8() % 3),
                        weight: u16::from(b.u8() % 4),
                        port: b.u16(),
                        target: b.pick(&NAMES).to_owned(),
                    })
                    .collect(),
            ),
            _ => Answer::Addresses((0..n).map(|_| b.ip()).collect()),
        };
        zone.entry(Query { name, rtype }).or_insert(answer);
    }

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
fn answer_for(zone: &HashMap<Query, Answer>, q: &Query) -> Answer {
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
    zone: &HashMap<Query, Answer>,
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

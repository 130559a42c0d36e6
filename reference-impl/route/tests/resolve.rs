//! RFC 3263 §4 client behaviour, TLS preference, routing table and cache.

use std::collections::HashMap;
use std::net::IpAddr;

use speermint_route::{
    AddressOrder, Answer, Cache, CacheLimits, Config, LrfError, Naptr, NaptrVerdict, NextHop,
    Query, RecordType, Resolution, Route, RouteSource, RouteStep, RoutingTable, SplitMix64, Srv,
    StaticRoute, Target, Transport, UnexpectedAnswer, negative_ttl, order_srv,
};

type Zone = HashMap<(String, RecordType), Answer>;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The zone of RFC 3263 §4.1, plus SRV and address records to finish.
fn rfc3263_zone() -> Zone {
    let mut z = Zone::new();
    z.insert(
        ("example.com".into(), RecordType::Naptr),
        Answer::Naptr(vec![
            Naptr::new(50, 50, "s", "SIPS+D2T", "", "_sips._tcp.example.com."),
            // The RFC omits the trailing dot here; accept it.
            Naptr::new(90, 50, "s", "SIP+D2T", "", "_sip._tcp.example.com"),
            Naptr::new(100, 50, "s", "SIP+D2U", "", "_sip._udp.example.com."),
        ]),
    );
    z.insert(
        ("_sip._tcp.example.com".into(), RecordType::Srv),
        Answer::Srv(vec![
            Srv::new(0, 1, 5060, "server1.example.com"),
            Srv::new(0, 2, 5060, "server2.example.com"),
        ]),
    );
    z.insert(
        ("_sips._tcp.example.com".into(), RecordType::Srv),
        Answer::Srv(vec![Srv::new(0, 1, 5061, "tls.example.com")]),
    );
    z.insert(
        ("_sip._udp.example.com".into(), RecordType::Srv),
        Answer::Srv(vec![Srv::new(0, 1, 5060, "server1.example.com")]),
    );
    for (host, a) in [
        ("server1.example.com", "192.0.2.1"),
        ("server2.example.com", "192.0.2.2"),
        ("tls.example.com", "192.0.2.3"),
    ] {
        z.insert((host.into(), RecordType::A), Answer::Addresses(vec![ip(a)]));
    }
    z
}

fn run(
    target: Target,
    config: &Config,
    table: &RoutingTable,
    zone: &Zone,
    log: &mut Vec<Query>,
) -> Result<Route, LrfError> {
    Resolution::new(target, config, table, 1).run(|q| {
        log.push(q.clone());
        zone.get(&(q.name.clone(), q.rtype))
            .cloned()
            .unwrap_or(Answer::NoData)
    })
}

fn resolve(target: Target, config: &Config, zone: &Zone) -> (Result<Route, LrfError>, Vec<Query>) {
    let mut log = Vec::new();
    let r = run(target, config, &RoutingTable::new(), zone, &mut log);
    (r, log)
}

fn q(name: &str, rtype: RecordType) -> Query {
    Query {
        name: name.into(),
        rtype,
    }
}

fn tcp_udp_only() -> Config {
    let mut c = Config::default();
    c.transports = vec![Transport::Tcp, Transport::Udp];
    c.prefer_tls = false;
    c
}

#[test]
fn rfc3263_example_client_without_tls() {
    // "Since the client supports TCP and UDP, TCP will be used, targeted to
    // a host determined by an SRV lookup of _sip._tcp.example.com."
    let (r, log) = resolve(Target::sip("example.com"), &tcp_udp_only(), &rfc3263_zone());
    let r = r.unwrap();
    assert_eq!(log[0], q("example.com", RecordType::Naptr));
    assert_eq!(log[1], q("_sip._tcp.example.com", RecordType::Srv));
    assert!(
        r.hops
            .iter()
            .all(|h| h.transport == Transport::Tcp && h.port == 5060)
    );
    let hosts: Vec<_> = r.hops.iter().map(|h| h.host.as_str()).collect();
    assert_eq!(hosts.len(), 2);
    assert!(hosts.contains(&"server1.example.com") && hosts.contains(&"server2.example.com"));
    assert_eq!(r.source, RouteSource::Dns);
    assert_eq!(r.target, Target::sip("example.com"));
    let verdicts: Vec<_> = r
        .steps
        .iter()
        .filter_map(|s| match s {
            RouteStep::Naptr { verdict, .. } => Some(*verdict),
            _ => None,
        })
        .collect();
    assert_eq!(
        verdicts,
        [
            NaptrVerdict::Unsupported(Transport::Tls),
            NaptrVerdict::Usable(Transport::Tcp),
            NaptrVerdict::Usable(Transport::Udp)
        ]
    );
}

#[test]
fn rfc3263_example_with_tls() {
    let (r, log) = resolve(
        Target::sip("example.com"),
        &Config::default(),
        &rfc3263_zone(),
    );
    let r = r.unwrap();
    assert_eq!(log[1], q("_sips._tcp.example.com", RecordType::Srv));
    assert_eq!(r.hops.len(), 1);
    assert_eq!(r.hops[0].transport, Transport::Tls);
    assert_eq!(r.hops[0].host, "tls.example.com");
    assert_eq!(r.hops[0].port, 5061);
    assert_eq!(r.hops[0].address, ip("192.0.2.3"));
}

#[test]
fn tls_preferred_over_naptr_order() {
    let mut z = rfc3263_zone();
    z.insert(
        ("example.com".into(), RecordType::Naptr),
        Answer::Naptr(vec![
            Naptr::new(10, 50, "s", "SIP+D2U", "", "_sip._udp.example.com."),
            Naptr::new(20, 50, "s", "SIPS+D2T", "", "_sips._tcp.example.com."),
        ]),
    );
    // RFC 6406 §6.1.2.1: TLS if available.
    let (r, _) = resolve(Target::sip("example.com"), &Config::default(), &z);
    assert_eq!(r.unwrap().hops[0].transport, Transport::Tls);
    // Without the preference the NAPTR order rules.
    let mut c = Config::default();
    c.prefer_tls = false;
    let (r, _) = resolve(Target::sip("example.com"), &c, &z);
    assert_eq!(r.unwrap().hops[0].transport, Transport::Udp);
}

#[test]
fn sips_discards_non_sips_naptrs_and_never_gets_plain_hops() {
    let mut z = rfc3263_zone();
    z.insert(
        ("example.com".into(), RecordType::Naptr),
        Answer::Naptr(vec![
            Naptr::new(10, 50, "s", "SIP+D2U", "", "_sip._udp.example.com."),
            Naptr::new(20, 50, "s", "SIP+D2T", "", "_sip._tcp.example.com."),
        ]),
    );
    z.remove(&("_sips._tcp.example.com".into(), RecordType::Srv));
    z.insert(
        ("example.com".into(), RecordType::A),
        Answer::Addresses(vec![ip("192.0.2.9")]),
    );
    let mut c = Config::default();
    c.prefer_tls = false;
    let (r, log) = resolve(Target::sips("example.com"), &c, &z);
    let r = r.unwrap();
    // Only _sips SRV names are ever queried.
    assert!(
        log.iter()
            .filter(|q| q.rtype == RecordType::Srv)
            .all(|q| q.name.starts_with("_sips."))
    );
    assert_eq!(
        r.hops,
        [NextHop {
            transport: Transport::Tls,
            host: "example.com".into(),
            address: ip("192.0.2.9"),
            port: 5061
        }]
    );
    assert!(r.steps.iter().any(|s| matches!(
        s,
        RouteStep::Naptr {
            verdict: NaptrVerdict::NotSecure,
            ..
        }
    )));
}

#[test]
fn sips_requires_tls_support() {
    let (r, _) = resolve(
        Target::sips("example.com"),
        &tcp_udp_only(),
        &rfc3263_zone(),
    );
    assert_eq!(
        r,
        Err(LrfError::UnsupportedTransport {
            transport: Transport::Tls
        })
    );
}

#[test]
fn numeric_host_needs_no_dns() {
    let c = Config::default();
    let (r, log) = resolve(Target::sip("192.0.2.1"), &c, &Zone::new());
    let r = r.unwrap();
    assert!(log.is_empty());
    assert_eq!(r.source, RouteSource::Numeric);
    assert_eq!(
        (r.hops[0].transport, r.hops[0].port),
        (Transport::Udp, 5060)
    );

    let (r, _) = resolve(
        Target::sips("[2001:db8::1]").with_port(5071),
        &c,
        &Zone::new(),
    );
    let h = &r.unwrap().hops[0];
    assert_eq!(
        (h.transport, h.port, h.address),
        (Transport::Tls, 5071, ip("2001:db8::1"))
    );

    let (r, _) = resolve(
        Target::sip("192.0.2.1").with_transport(Transport::Tcp),
        &c,
        &Zone::new(),
    );
    assert_eq!(r.unwrap().hops[0].transport, Transport::Tcp);

    // sips over UDP does not exist.
    let (r, _) = resolve(
        Target::sips("192.0.2.1").with_transport(Transport::Udp),
        &c,
        &Zone::new(),
    );
    assert_eq!(r, Err(LrfError::InsecureTransport));
}

#[test]
fn explicit_port_means_address_records_only() {
    let mut z = rfc3263_zone();
    z.insert(
        ("example.com".into(), RecordType::A),
        Answer::Addresses(vec![ip("192.0.2.50")]),
    );
    z.insert(
        ("example.com".into(), RecordType::Aaaa),
        Answer::Addresses(vec![ip("2001:db8::50")]),
    );
    let (r, log) = resolve(
        Target::sip("example.com").with_port(5070),
        &Config::default(),
        &z,
    );
    let r = r.unwrap();
    assert!(
        log.iter()
            .all(|q| matches!(q.rtype, RecordType::A | RecordType::Aaaa))
    );
    assert_eq!(r.hops.len(), 2);
    assert!(
        r.hops
            .iter()
            .all(|h| h.transport == Transport::Udp && h.port == 5070)
    );
    // IPv6 first by default; IPv4 first on request.
    assert_eq!(r.hops[0].address, ip("2001:db8::50"));
    let mut c = Config::default();
    c.address_order = AddressOrder::Ipv4First;
    let (r, _) = resolve(Target::sip("example.com").with_port(5070), &c, &z);
    assert_eq!(r.unwrap().hops[0].address, ip("192.0.2.50"));
}

#[test]
fn explicit_transport_queries_srv_for_it() {
    let z = rfc3263_zone();
    // sip + transport=udp: only _sip._udp.
    let (r, log) = resolve(
        Target::sip("example.com").with_transport(Transport::Udp),
        &Config::default(),
        &z,
    );
    assert_eq!(log[0], q("_sip._udp.example.com", RecordType::Srv));
    assert_eq!(r.unwrap().hops[0].transport, Transport::Udp);
    // sip + transport=tcp with TLS preferred: _sips._tcp first (RFC 3263 §4.2).
    let (r, log) = resolve(
        Target::sip("example.com").with_transport(Transport::Tcp),
        &Config::default(),
        &z,
    );
    assert_eq!(
        log[..2],
        [
            q("_sips._tcp.example.com", RecordType::Srv),
            q("_sip._tcp.example.com", RecordType::Srv)
        ]
    );
    assert_eq!(r.unwrap().hops[0].transport, Transport::Tls);
    // ... and TCP without the preference.
    let mut c = Config::default();
    c.prefer_tls = false;
    let (r, log) = resolve(
        Target::sip("example.com").with_transport(Transport::Tcp),
        &c,
        &z,
    );
    assert_eq!(log[0], q("_sip._tcp.example.com", RecordType::Srv));
    assert!(
        r.unwrap()
            .hops
            .iter()
            .all(|h| h.transport == Transport::Tcp)
    );
    // sips + transport=tcp is TLS over TCP.
    let (r, log) = resolve(
        Target::sips("example.com").with_transport(Transport::Tcp),
        &c,
        &z,
    );
    assert_eq!(log[0], q("_sips._tcp.example.com", RecordType::Srv));
    assert_eq!(r.unwrap().hops[0].transport, Transport::Tls);
    // A transport this element lacks.
    let (r, _) = resolve(
        Target::sip("example.com").with_transport(Transport::Sctp),
        &c,
        &z,
    );
    assert_eq!(
        r,
        Err(LrfError::UnsupportedTransport {
            transport: Transport::Sctp
        })
    );
}

#[test]
fn explicit_transport_without_srv_falls_back_to_default_port() {
    let mut z = Zone::new();
    z.insert(
        ("example.net".into(), RecordType::A),
        Answer::Addresses(vec![ip("198.51.100.1")]),
    );
    let (r, _) = resolve(
        Target::sip("example.net").with_transport(Transport::Tcp),
        &Config::default(),
        &z,
    );
    let r = r.unwrap();
    assert_eq!(
        (r.hops[0].transport, r.hops[0].port),
        (Transport::Tcp, 5060)
    );
    assert!(
        r.steps
            .contains(&RouteStep::AddressFallback(Transport::Tcp))
    );
}

#[test]
fn no_naptr_then_srv_in_preference_order() {
    let mut z = Zone::new();
    z.insert(("example.org".into(), RecordType::Naptr), Answer::NxDomain);
    z.insert(
        ("_sip._udp.example.org".into(), RecordType::Srv),
        Answer::Srv(vec![Srv::new(0, 0, 5080, "u.example.org")]),
    );
    z.insert(
        ("_sips._tcp.example.org".into(), RecordType::Srv),
        Answer::Srv(vec![Srv::new(0, 0, 5081, "t.example.org")]),
    );
    z.insert(
        ("u.example.org".into(), RecordType::A),
        Answer::Addresses(vec![ip("192.0.2.20")]),
    );
    z.insert(
        ("t.example.org".into(), RecordType::A),
        Answer::Addresses(vec![ip("192.0.2.21")]),
    );
    let (r, log) = resolve(Target::sip("example.org"), &Config::default(), &z);
    // One batch of SRV queries for every supported transport, TLS first.
    let srv: Vec<_> = log
        .iter()
        .filter(|q| q.rtype == RecordType::Srv)
        .map(|q| q.name.as_str())
        .collect();
    assert_eq!(
        srv,
        [
            "_sips._tcp.example.org",
            "_sip._tcp.example.org",
            "_sip._udp.example.org"
        ]
    );
    let h = &r.unwrap().hops[0];
    assert_eq!(
        (h.transport, h.port, h.host.as_str()),
        (Transport::Tls, 5081, "t.example.org")
    );

    // Without TLS support, the configured order picks UDP (TCP has none).
    let (r, _) = resolve(Target::sip("example.org"), &tcp_udp_only(), &z);
    let h = &r.unwrap().hops[0];
    assert_eq!((h.transport, h.port), (Transport::Udp, 5080));
}

#[test]
fn no_naptr_no_srv_uses_address_records_and_default_transport() {
    let mut z = Zone::new();
    z.insert(
        ("plain.example".into(), RecordType::A),
        Answer::Addresses(vec![ip("203.0.113.5")]),
    );
    let (r, _) = resolve(Target::sip("plain.example"), &Config::default(), &z);
    let h = &r.unwrap().hops[0];
    assert_eq!((h.transport, h.port), (Transport::Udp, 5060));
    let (r, _) = resolve(Target::sips("plain.example"), &Config::default(), &z);
    let h = &r.unwrap().hops[0];
    assert_eq!((h.transport, h.port), (Transport::Tls, 5061));
    // Nothing at all.
    let (r, _) = resolve(
        Target::sip("void.example"),
        &Config::default(),
        &Zone::new(),
    );
    assert_eq!(
        r,
        Err(LrfError::NoAddresses {
            host: "void.example".into()
        })
    );
}

#[test]
fn dead_naptr_srv_moves_to_next_naptr() {
    let mut z = rfc3263_zone();
    z.insert(
        ("_sips._tcp.example.com".into(), RecordType::Srv),
        Answer::Srv(vec![Srv::new(0, 0, 0, ".")]),
    );
    let (r, log) = resolve(Target::sip("example.com"), &Config::default(), &z);
    assert_eq!(log[2], q("_sip._tcp.example.com", RecordType::Srv));
    assert!(
        r.unwrap()
            .hops
            .iter()
            .all(|h| h.transport == Transport::Tcp)
    );
}

/// Two NAPTRs naming one SRV domain that turns out empty: moving on to
/// the second NAPTR reuses the first answer instead of asking again (the
/// lrf_answers finding kept in corpora/regressions/lrf_answers/). The
/// domain's own SRV names and addresses follow (RFC 3263 §4.1-4.2).
#[test]
fn naptrs_naming_one_srv_domain_ask_it_once() {
    let mut z = Zone::new();
    z.insert(
        ("example.com".into(), RecordType::Naptr),
        Answer::Naptr(vec![
            Naptr::new(10, 0, "s", "SIP+D2U", "", "_sip._udp.example.com"),
            Naptr::new(20, 0, "s", "SIP+D2U", "", "_sip._udp.example.com."),
        ]),
    );
    z.insert(
        ("example.com".into(), RecordType::A),
        Answer::Addresses(vec![ip("192.0.2.10")]),
    );
    let config = tcp_udp_only();
    let (r, log) = resolve(Target::sip("example.com"), &config, &z);
    let srv = q("_sip._udp.example.com", RecordType::Srv);
    assert_eq!(log.iter().filter(|x| **x == srv).count(), 1, "{log:?}");
    let mut sorted = log.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), log.len(), "a query repeated: {log:?}");
    let route = r.unwrap();
    let usable = route
        .steps
        .iter()
        .filter(|s| {
            matches!(
                s,
                RouteStep::Naptr {
                    verdict: NaptrVerdict::Usable(_),
                    ..
                }
            )
        })
        .count();
    assert_eq!(usable, 2);
    assert_eq!(route.hops[0].address, ip("192.0.2.10"));
    assert_eq!(route.hops[0].transport, Transport::Udp);
}

#[test]
fn maddr_overrides_host_and_invalid_hosts_fail() {
    let (r, log) = resolve(
        Target::sip("example.com").with_maddr("192.0.2.77"),
        &Config::default(),
        &Zone::new(),
    );
    assert!(log.is_empty());
    assert_eq!(r.unwrap().hops[0].address, ip("192.0.2.77"));
    let (r, _) = resolve(Target::sip("bad host"), &Config::default(), &Zone::new());
    assert_eq!(
        r,
        Err(LrfError::InvalidTarget {
            host: "bad host".into()
        })
    );
    let (r, _) = resolve(Target::sip("[192.0.2.1]"), &Config::default(), &Zone::new());
    assert!(matches!(r, Err(LrfError::InvalidTarget { .. })));
}

#[test]
fn routing_table_overrides_dns() {
    let hop = |t, a: &str| NextHop {
        transport: t,
        host: "sbe.peer.example".into(),
        address: ip(a),
        port: t.default_port(),
    };
    let mut table = RoutingTable::new();
    table.insert(
        "Peer.Example.",
        StaticRoute::Hops(vec![
            hop(Transport::Udp, "10.0.0.1"),
            hop(Transport::Tls, "10.0.0.2"),
        ]),
    );
    table.insert(
        "transit.example",
        StaticRoute::Via(Target::sip("example.com")),
    );
    let z = rfc3263_zone();

    let mut log = Vec::new();
    let r = run(
        Target::sip("peer.example"),
        &Config::default(),
        &table,
        &z,
        &mut log,
    )
    .unwrap();
    assert!(log.is_empty());
    assert_eq!(r.source, RouteSource::Static);
    assert_eq!(r.hops.len(), 2);
    // sips: only the TLS hop survives.
    let r = run(
        Target::sips("peer.example"),
        &Config::default(),
        &table,
        &z,
        &mut log,
    )
    .unwrap();
    assert_eq!(r.hops, [hop(Transport::Tls, "10.0.0.2")]);
    table.insert(
        "peer.example",
        StaticRoute::Hops(vec![hop(Transport::Udp, "10.0.0.1")]),
    );
    let r = run(
        Target::sips("peer.example"),
        &Config::default(),
        &table,
        &z,
        &mut log,
    );
    assert_eq!(r, Err(LrfError::NoSecureRoute));

    // Via: resolve another domain, echo the original target.
    let r = run(
        Target::sip("transit.example"),
        &tcp_udp_only(),
        &table,
        &z,
        &mut log,
    )
    .unwrap();
    assert_eq!(r.target, Target::sip("transit.example"));
    assert_eq!(r.source, RouteSource::Via(Target::sip("example.com")));
    assert_eq!(r.hops[0].transport, Transport::Tcp);
    // A sips target routed via a sip: entry stays TLS-only.
    let r = run(
        Target::sips("transit.example"),
        &Config::default(),
        &table,
        &z,
        &mut log,
    )
    .unwrap();
    assert!(r.hops.iter().all(|h| h.transport.is_secure()));

    // Default route for everything else.
    table.set_default(Some(StaticRoute::Hops(vec![hop(
        Transport::Tls,
        "10.9.9.9",
    )])));
    log.clear();
    let r = run(
        Target::sip("anywhere.example"),
        &Config::default(),
        &table,
        &z,
        &mut log,
    )
    .unwrap();
    assert!(log.is_empty());
    assert_eq!(r.hops[0].address, ip("10.9.9.9"));
}

#[test]
fn batches_can_be_answered_concurrently() {
    let mut res = Resolution::new(
        Target::sip("example.com").with_transport(Transport::Udp),
        &tcp_udp_only(),
        &RoutingTable::new(),
        3,
    );
    assert_eq!(res.pending(), [q("_sip._udp.example.com", RecordType::Srv)]);
    assert_eq!(
        res.on_answer(&q("other.example", RecordType::Srv), Answer::NoData),
        Err(UnexpectedAnswer {
            query: q("other.example", RecordType::Srv)
        })
    );
    res.on_answer(
        &q("_SIP._udp.example.com.", RecordType::Srv),
        Answer::Srv(vec![
            Srv::new(0, 1, 5060, "a.example.com"),
            Srv::new(1, 1, 5062, "b.example.com"),
        ]),
    )
    .unwrap();
    let mut batch = res.pending();
    assert_eq!(batch.len(), 4);
    batch.reverse();
    for q in batch {
        let a = match q.rtype {
            RecordType::A if q.name == "a.example.com" => {
                Answer::Addresses(vec![ip("192.0.2.1"), ip("2001:db8::9")])
            }
            RecordType::Aaaa if q.name == "b.example.com" => {
                Answer::Addresses(vec![ip("2001:db8::2")])
            }
            _ => Answer::NoData,
        };
        assert!(!res.is_done());
        res.on_answer(&q, a).unwrap();
    }
    let r = res.result().unwrap();
    // Priority order kept; the AAAA-typed address in the A answer dropped.
    assert_eq!(
        r.hops
            .iter()
            .map(|h| (h.address, h.port))
            .collect::<Vec<_>>(),
        [(ip("192.0.2.1"), 5060), (ip("2001:db8::2"), 5062)]
    );
}

#[test]
fn incomplete_until_answered() {
    let res = Resolution::new(
        Target::sip("example.com"),
        &Config::default(),
        &RoutingTable::new(),
        0,
    );
    assert_eq!(res.next_query(), Some(q("example.com", RecordType::Naptr)));
    assert_eq!(res.result(), Err(LrfError::Incomplete));
}

#[test]
fn srv_weighted_selection_is_deterministic_per_seed() {
    let recs: Vec<Srv> = (0..6)
        .map(|i| Srv::new(0, 10 + i, 5060, &format!("s{i}.example")))
        .collect();
    let mut reversed = recs.clone();
    reversed.reverse();
    let a = order_srv(&recs, &mut SplitMix64::new(99));
    let b = order_srv(&reversed, &mut SplitMix64::new(99));
    assert_eq!(a, b, "answer order must not matter");
    assert_eq!(a.len(), 6);
    let distinct: std::collections::HashSet<Vec<String>> = (0..20)
        .map(|seed| {
            order_srv(&recs, &mut SplitMix64::new(seed))
                .into_iter()
                .map(|r| r.target)
                .collect()
        })
        .collect();
    assert!(distinct.len() > 1, "seeds should spread load");

    // Through the resolver: the same seed yields the same hop order.
    let z = rfc3263_zone();
    let go = |seed| {
        Resolution::new(
            Target::sip("example.com"),
            &tcp_udp_only(),
            &RoutingTable::new(),
            seed,
        )
        .run(|q| {
            z.get(&(q.name.clone(), q.rtype))
                .cloned()
                .unwrap_or(Answer::NoData)
        })
        .unwrap()
        .hops
    };
    for seed in 0..10 {
        assert_eq!(go(seed), go(seed));
    }
}

#[test]
fn cache_ttl_expiry() {
    let mut cache = Cache::new();
    let qa = q("host.example", RecordType::A);
    cache.insert(&qa, Answer::Addresses(vec![ip("192.0.2.1")]), 10, 100);
    assert!(cache.get(&qa, 109).is_some());
    assert_eq!(cache.get(&qa, 110), None);
    // Names compare case-insensitively.
    assert!(cache.get(&q("HOST.example.", RecordType::A), 105).is_some());
    cache.purge(110);
    assert!(cache.is_empty());
    // TTL 0 and failures are not stored.
    cache.insert(&qa, Answer::Addresses(vec![ip("192.0.2.1")]), 0, 0);
    cache.insert(&qa, Answer::Failed, 60, 0);
    assert!(cache.is_empty());
}

#[test]
fn negative_caching() {
    let mut cache = Cache::with_limits(CacheLimits {
        max_negative_ttl: 300,
        ..CacheLimits::default()
    });
    assert_eq!(negative_ttl(3600, 900), 900);
    // NXDOMAIN denies every type at the name (RFC 2308 §5).
    cache.insert(
        &q("gone.example", RecordType::Naptr),
        Answer::NxDomain,
        900,
        0,
    );
    assert_eq!(
        cache.get(&q("gone.example", RecordType::Srv), 10),
        Some(Answer::NxDomain)
    );
    // ... capped at max_negative_ttl.
    assert_eq!(cache.get(&q("gone.example", RecordType::A), 300), None);
    // NODATA is per type.
    cache.insert(&q("some.example", RecordType::Aaaa), Answer::NoData, 60, 0);
    assert_eq!(
        cache.get(&q("some.example", RecordType::Aaaa), 59),
        Some(Answer::NoData)
    );
    assert_eq!(cache.get(&q("some.example", RecordType::A), 1), None);
}

#[test]
fn cache_capacity_evicts_soonest_expiry() {
    let mut cache = Cache::with_limits(CacheLimits {
        capacity: 2,
        ..CacheLimits::default()
    });
    cache.insert(&q("a.example", RecordType::A), Answer::NoData, 10, 0);
    cache.insert(&q("b.example", RecordType::A), Answer::NoData, 100, 0);
    cache.insert(&q("c.example", RecordType::A), Answer::NoData, 50, 0);
    assert_eq!(cache.len(), 2);
    assert_eq!(cache.get(&q("a.example", RecordType::A), 1), None);
    assert!(cache.get(&q("b.example", RecordType::A), 1).is_some());
}

#[test]
fn resolution_through_cache() {
    let z = rfc3263_zone();
    let mut cache = Cache::new();
    let asked = std::cell::Cell::new(0);
    let lookup = |q: &Query| {
        asked.set(asked.get() + 1);
        let a = z
            .get(&(q.name.clone(), q.rtype))
            .cloned()
            .unwrap_or(Answer::NoData);
        (a, 300)
    };
    let first = Resolution::new(
        Target::sip("example.com"),
        &Config::default(),
        &RoutingTable::new(),
        5,
    )
    .run_cached(&mut cache, 0, lookup)
    .unwrap();
    let queries_first = asked.get();
    assert!(queries_first >= 3);
    // Within the TTL: served entirely from the cache, same route.
    let second = Resolution::new(
        Target::sip("example.com"),
        &Config::default(),
        &RoutingTable::new(),
        5,
    )
    .run_cached(&mut cache, 299, lookup)
    .unwrap();
    assert_eq!(asked.get(), queries_first);
    assert_eq!(first.hops, second.hops);
    // After expiry: asked again.
    Resolution::new(
        Target::sip("example.com"),
        &Config::default(),
        &RoutingTable::new(),
        5,
    )
    .run_cached(&mut cache, 300, lookup)
    .unwrap();
    assert_eq!(asked.get(), 2 * queries_first);
}

#[test]
fn query_limit() {
    let mut c = Config::default();
    c.max_queries = 1;
    let (r, log) = resolve(Target::sip("example.com"), &c, &rfc3263_zone());
    assert_eq!(log.len(), 1);
    assert_eq!(r, Err(LrfError::TooManyQueries { limit: 1 }));
}

#[test]
fn hop_count_is_bounded() {
    let mut z = Zone::new();
    z.insert(
        ("many.example".into(), RecordType::A),
        Answer::Addresses((1..=200).map(|i| IpAddr::from([192, 0, 2, i])).collect()),
    );
    let (r, _) = resolve(
        Target::sip("many.example").with_port(5060),
        &Config::default(),
        &z,
    );
    assert_eq!(r.unwrap().hops.len(), Config::default().max_hops);
}

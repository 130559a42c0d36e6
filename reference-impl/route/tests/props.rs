//! Property tests and fuzz-entry replay.

use std::collections::HashMap;
use std::net::IpAddr;

use proptest::prelude::*;
use speermint_route::{
    Answer, Config, Naptr, RecordType, Resolution, RoutingTable, Srv, Target, Transport, fuzzing,
};

const NAMES: [&str; 8] = [
    "example.com",
    "_sips._tcp.example.com",
    "_sip._tcp.example.com",
    "_sip._udp.example.com",
    "_sips._sctp.example.com",
    "a.example.com",
    "b.example.com",
    "other.example",
];

fn name() -> impl Strategy<Value = String> {
    prop::sample::select(NAMES.to_vec()).prop_map(str::to_owned)
}

fn naptr() -> impl Strategy<Value = Naptr> {
    (
        0u16..3,
        0u16..3,
        prop::sample::select(vec!["s", "S", "a", ""]),
        prop::sample::select(vec![
            "SIPS+D2T", "SIP+D2T", "SIP+D2U", "SIPS+D2S", "SIP+D2S", "SIPS+D2U", "x",
        ]),
        prop::sample::select(vec!["", "!a!b!"]),
        name(),
    )
        .prop_map(|(o, p, f, s, r, n)| Naptr::new(o, p, f, s, r, &n))
}

/// An answer of the type asked (mostly), or a negative one.
fn answer(rtype: RecordType) -> BoxedStrategy<Answer> {
    let records = match rtype {
        RecordType::Naptr => prop::collection::vec(naptr(), 0..5)
            .prop_map(Answer::Naptr)
            .boxed(),
        RecordType::Srv => prop::collection::vec((0u16..3, 0u16..4, any::<u16>(), name()), 0..5)
            .prop_map(|v| {
                Answer::Srv(
                    v.into_iter()
                        .map(|(p, w, port, t)| Srv::new(p, w, port, &t))
                        .collect(),
                )
            })
            .boxed(),
        RecordType::A | RecordType::Aaaa => prop_oneof![
            prop::collection::vec(any::<[u8; 4]>(), 0..4)
                .prop_map(|v| Answer::Addresses(v.into_iter().map(IpAddr::from).collect())),
            prop::collection::vec(any::<[u8; 16]>(), 0..4)
                .prop_map(|v| Answer::Addresses(v.into_iter().map(IpAddr::from).collect())),
        ]
        .boxed(),
        _ => Just(Answer::NoData).boxed(),
    };
    prop_oneof![
        1 => Just(Answer::NxDomain),
        1 => Just(Answer::NoData),
        1 => Just(Answer::Failed),
        // Occasionally the wrong record type, which must be ignored.
        1 => prop::collection::vec(naptr(), 1..3).prop_map(Answer::Naptr),
        8 => records,
    ]
    .boxed()
}

fn zone() -> impl Strategy<Value = HashMap<(String, RecordType), Answer>> {
    prop::collection::vec(
        (name(), rtype()).prop_flat_map(|(n, t)| answer(t).prop_map(move |a| ((n.clone(), t), a))),
        0..32,
    )
    .prop_map(|v| v.into_iter().collect())
}

fn rtype() -> impl Strategy<Value = RecordType> {
    prop::sample::select(vec![
        RecordType::Naptr,
        RecordType::Srv,
        RecordType::A,
        RecordType::Aaaa,
    ])
}

fn config() -> impl Strategy<Value = Config> {
    (
        any::<bool>(),
        prop::sample::subsequence(Transport::ALL.to_vec(), 1..=5),
    )
        .prop_map(|(tls, ts)| {
            let mut c = Config::default();
            c.prefer_tls = tls;
            c.transports = ts;
            c
        })
}

fn target() -> impl Strategy<Value = Target> {
    (
        any::<bool>(),
        prop::sample::select(vec![
            "example.com",
            "example.com",
            "example.com",
            "other.example",
            "a.example.com",
            "192.0.2.1",
        ]),
        prop::option::weighted(0.15, any::<u16>()),
        prop::option::weighted(0.25, prop::sample::select(Transport::ALL.to_vec())),
    )
        .prop_map(|(secure, host, port, transport)| Target {
            secure,
            host: host.to_owned(),
            port,
            transport,
            maddr: None,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary answer sets: never a non-TLS hop for sips, never a panic,
    /// output bounded, same seed same route.
    #[test]
    fn arbitrary_answers(
        target in target(),
        config in config(),
        zone in zone(),
        seed in any::<u64>(),
    ) {
        let go = || {
            Resolution::new(target.clone(), &config, &RoutingTable::new(), seed)
                .run(|q| zone.get(&(q.name.clone(), q.rtype)).cloned().unwrap_or(Answer::NxDomain))
        };
        let r = go();
        prop_assert_eq!(&r, &go());
        if let Ok(route) = r {
            prop_assert!(!route.hops.is_empty());
            prop_assert!(route.hops.len() <= config.max_hops);
            prop_assert!(route.hops.iter().all(|h| config.transports.contains(&h.transport)));
            if target.secure {
                prop_assert!(route.hops.iter().all(|h| h.transport.is_secure()), "{:?}", route.hops);
            }
        }
    }

    /// The fuzz entry point holds its invariants on arbitrary bytes.
    #[test]
    fn fuzz_entry_arbitrary(data in prop::collection::vec(any::<u8>(), 0..256)) {
        fuzzing::lrf_answers(&data);
    }
}

/// Fixed inputs for the fuzz entry, in the `fuzzing::LrfCase` layout.
#[test]
fn fuzz_entry_seeds() {
    // sips:example.com, prefer TLS: NAPTR SIPS+D2T -> SRV 0 1 5061 s1 -> A.
    let sips: &[u8] = &[
        1, 0, 1, 0, 7, 5, 3, // target, mode, mask, max_hops, seed, 3 RRSets
        0, 0, 1, 3, 0, 0, 0, 0, 1, 1, // example.com NAPTR
        1, 1, 1, 3, 0, 1, 0xc5, 0x13, 6, // _sips._tcp.example.com SRV
        6, 2, 1, 3, 0, 1, // s1.example.com A 192.0.2.1
    ];
    let seeds: [&[u8]; 6] = [
        b"",
        &[0; 64],
        &[0xff; 256],
        sips,
        // peer.example routed via sips:s1.example.com, all transports.
        &[0, 2, 0x0c, 0x1f, 2, 9, 2, 1, 8, 0],
        // example.com routed to three static hops.
        &[
            0, 0, 4, 0, 2, 0, 0, 3, 2, 0, 10, 0xc5, 0x13, 0, 1, 1, 0, 0xc4, 0x13, 1, 0, 11, 0xc4,
            0x13, 0,
        ],
    ];
    for s in seeds {
        fuzzing::lrf_answers(s);
    }
    let case = fuzzing::LrfCase::from_bytes(sips);
    let route = Resolution::new(case.target.clone(), &case.config, &case.table, case.seed)
        .run(|q| fuzzing::answer_for(&case.zone, q))
        .unwrap();
    assert_eq!(route.hops.len(), 1);
    assert_eq!(route.hops[0].transport, Transport::Tls);
    assert_eq!(route.hops[0].address, IpAddr::from([192, 0, 2, 1]));
    assert_eq!(route.hops[0].port, 5061);
}

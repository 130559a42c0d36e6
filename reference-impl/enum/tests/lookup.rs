//! Lookup Function behaviour against the RFC examples and the RFC 6116 §5.2
//! client rules.

use std::collections::HashMap;

use speermint_enum::{
    Answer, Apex, Config, Lookup, LoopKind, LufError, Naptr, OrderPolicy, Query, RegexpError,
    ServiceSelector, Step, UnexpectedAnswer, Verdict,
};

/// A static zone: name -> answer; anything else is NXDOMAIN.
fn zone(entries: &[(&str, Vec<Naptr>)]) -> impl FnMut(&Query) -> Answer + use<> {
    let map: HashMap<String, Vec<Naptr>> = entries
        .iter()
        .map(|(n, r)| ((*n).to_owned(), r.clone()))
        .collect();
    move |q| {
        map.get(&q.name)
            .map_or(Answer::NxDomain, |r| Answer::Records(r.clone()))
    }
}

fn n(order: u16, pref: u16, flags: &str, services: &str, regexp: &str, repl: &str) -> Naptr {
    Naptr::new(order, pref, flags, services, regexp, repl)
}

const RFC6116_DOMAIN: &str = "3.8.0.0.6.9.2.3.6.1.4.4.e164.arpa";

/// RFC 6116 §4, as received on the wire (single backslashes).
fn rfc6116_rrset() -> Vec<Naptr> {
    vec![
        n(
            100,
            52,
            "u",
            "E2U+email:mailto",
            "!^.*$!mailto:info@example.com!",
            ".",
        ),
        n(
            100,
            50,
            "u",
            "E2U+sip",
            r"!^(\+441632960083)$!sip:\1@example.com!",
            ".",
        ),
        n(
            100,
            51,
            "u",
            "E2U+h323",
            r"!^\+441632960083$!h323:operator@example.com!",
            ".",
        ),
    ]
}

#[test]
fn rfc6116_section4_sip() {
    let r = Lookup::new("+44-1632-960083", Config::default())
        .run(zone(&[(RFC6116_DOMAIN, rfc6116_rrset())]))
        .unwrap();
    assert_eq!(r.target_uri, "sip:+441632960083@example.com");
    assert_eq!(r.service.to_string(), "sip");
    assert_eq!(r.naptr.preference, 50);
    assert_eq!(r.chain, vec![RFC6116_DOMAIN.to_owned()]);
    assert!(r.steps.iter().any(|s| matches!(s,
        Step::Rewrite { input, output: Some(o), .. } if input == "+441632960083" && o == &r.target_uri)));
}

#[test]
fn rfc6116_section4_other_services() {
    let mut c = Config::default();
    c.services = vec![ServiceSelector::new("h323").unwrap()];
    let r = Lookup::new("+441632960083", c)
        .run(zone(&[(RFC6116_DOMAIN, rfc6116_rrset())]))
        .unwrap();
    assert_eq!(r.target_uri, "h323:operator@example.com");

    let mut c = Config::default();
    c.services = vec![ServiceSelector::new("email:mailto").unwrap()];
    let r = Lookup::new("+441632960083", c)
        .run(zone(&[(RFC6116_DOMAIN, rfc6116_rrset())]))
        .unwrap();
    assert_eq!(r.target_uri, "mailto:info@example.com");

    // ERE of the first two records only matches +441632960083.
    let mut c = Config::default();
    c.apex = Apex::new("e164enum.net").unwrap();
    let other = "4.8.0.0.6.9.2.3.6.1.4.4.e164enum.net";
    let r = Lookup::new("+441632960084", c).run(zone(&[(other, rfc6116_rrset())]));
    assert_eq!(r, Err(LufError::NoMatch));
}

#[test]
fn rfc3764_example_and_private_root() {
    let mut c = Config::default();
    c.apex = Apex::new("e164enum.net").unwrap();
    let r = Lookup::new("+1 770 555 1212", c)
        .run(zone(&[(
            "2.1.2.1.5.5.5.0.7.7.1.e164enum.net",
            vec![n(
                10,
                100,
                "u",
                "E2U+sip",
                "!^.*$!sip:edgar@example.com!",
                ".",
            )],
        )]))
        .unwrap();
    assert_eq!(r.target_uri, "sip:edgar@example.com");
}

#[test]
fn rfc3403_section6_2_obsolete_syntax() {
    // RFC 3403 §6.2 uses the RFC 2916 "sip+E2U" form and the i flag.
    let rrset = vec![
        n(
            100,
            10,
            "u",
            "sip+E2U",
            "!^.*$!sip:information@foo.se!i",
            ".",
        ),
        n(
            102,
            10,
            "u",
            "smtp+E2U",
            "!^.*$!mailto:information@foo.se!i",
            ".",
        ),
    ];
    let z = [("2.1.2.1.5.5.5.0.7.7.1.e164.arpa", rrset)];
    let r = Lookup::new("+1-770-555-1212", Config::default())
        .run(zone(&z))
        .unwrap();
    assert_eq!(r.target_uri, "sip:information@foo.se");

    let mut strict = Config::default();
    strict.obsolete_services = false;
    let r = Lookup::new("+1-770-555-1212", strict).run(zone(&z));
    assert_eq!(r, Err(LufError::UnsupportedService));
}

#[test]
fn sorting_by_order_then_preference() {
    let d = "1.e164.arpa";
    // Lower ORDER wins over lower PREFERENCE.
    let rrset = vec![
        n(20, 1, "u", "E2U+sip", "!^.*$!sip:order20@x!", "."),
        n(10, 99, "u", "E2U+sip", "!^.*$!sip:order10@x!", "."),
        n(10, 100, "u", "E2U+sip", "!^.*$!sip:order10b@x!", "."),
    ];
    let r = Lookup::new("+1", Config::default())
        .run(zone(&[(d, rrset)]))
        .unwrap();
    assert_eq!(r.target_uri, "sip:order10@x");

    // Equal order and preference keep response order (RFC 6116 §5.2).
    let rrset = vec![
        n(10, 10, "u", "E2U+sip", "!^.*$!sip:first@x!", "."),
        n(10, 10, "u", "E2U+sip", "!^.*$!sip:second@x!", "."),
    ];
    let r = Lookup::new("+1", Config::default())
        .run(zone(&[(d, rrset)]))
        .unwrap();
    assert_eq!(r.target_uri, "sip:first@x");
}

#[test]
fn worse_order_is_considered_when_nothing_better_matched() {
    // RFC 6116 §5.2: a worse ORDER MUST NOT be discarded before consideration
    // unless a record was accepted; unsupported ones are not accepted.
    let rrset = vec![
        n(10, 10, "u", "E2U+h323", "!^.*$!h323:a@x!", "."),
        n(10, 20, "u", "E2U+sip", r"!^\+2$!sip:nomatch@x!", "."),
        n(20, 10, "u", "E2U+sip", "!^.*$!sip:later@x!", "."),
    ];
    let r = Lookup::new("+1", Config::default())
        .run(zone(&[("1.e164.arpa", rrset)]))
        .unwrap();
    assert_eq!(r.target_uri, "sip:later@x");
    let verdicts: Vec<_> = r
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Rule { verdict, .. } => Some(verdict.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(verdicts.len(), 3);
    assert_eq!(verdicts[0], Verdict::UnsupportedService);
    assert_eq!(verdicts[1], Verdict::NoMatch);
    assert!(matches!(verdicts[2], Verdict::Selected { .. }));
}

#[test]
fn compound_naptr_left_to_right() {
    let mut c = Config::default();
    c.services = vec![
        ServiceSelector::new("voice:tel").unwrap(),
        ServiceSelector::new("sip").unwrap(),
    ];
    let rrset = vec![n(10, 10, "u", "E2U+voice:tel+sip", "!^.*$!sip:c@x!", ".")];
    let r = Lookup::new("+1", c)
        .run(zone(&[("1.e164.arpa", rrset.clone())]))
        .unwrap();
    assert_eq!(r.service.to_string(), "voice:tel");
    // With only "sip" accepted the second enumservice qualifies the record.
    let r = Lookup::new("+1", Config::default())
        .run(zone(&[("1.e164.arpa", rrset)]))
        .unwrap();
    assert_eq!(r.service.to_string(), "sip");
}

#[test]
fn case_insensitive_fields() {
    let rrset = vec![n(10, 10, "U", "e2u+SIP", "!^.*$!sip:Case@X!", ".")];
    let r = Lookup::new("+1", Config::default())
        .run(zone(&[("1.e164.arpa", rrset)]))
        .unwrap();
    assert_eq!(r.target_uri, "sip:Case@X");
    // Answers are matched to queries case-insensitively too.
    let mut l = Lookup::new("+1", Config::default());
    assert_eq!(
        l.on_answer("other.example", Answer::NoData),
        Err(UnexpectedAnswer {
            name: "other.example".into()
        })
    );
    l.on_answer("1.E164.ARPA.", Answer::NxDomain).unwrap();
    assert!(l.is_done());
}

#[test]
fn private_enumservices() {
    let mut c = Config::default();
    c.services = vec![ServiceSelector::new("P-sip").unwrap()];
    let rrset = vec![n(10, 10, "u", "E2U+P-sip", "!^.*$!sip:p@x!", ".")];
    let r = Lookup::new("+1", c.clone()).run(zone(&[("1.e164.arpa", rrset.clone())]));
    assert_eq!(r, Err(LufError::UnsupportedService));
    c.private_network = true;
    let r = Lookup::new("+1", c)
        .run(zone(&[("1.e164.arpa", rrset)]))
        .unwrap();
    assert_eq!(r.target_uri, "sip:p@x");
}

#[test]
fn unknown_flags_and_bad_records_are_skipped() {
    let rrset = vec![
        n(10, 1, "s", "E2U+sip", "!^.*$!sip:flag-s@x!", "."),
        n(10, 2, "u", "E2U+sip", "", "."),
        n(10, 3, "u", "E2U+sip", "!^.*$!sip:both@x!", "other.example"),
        n(10, 4, "u", "E2U+sip", "!^.*$!not a uri!", "."),
        n(10, 5, "u", "E2U+sip", "!^.*$!sip:ok@x!", "."),
    ];
    let r = Lookup::new("+1", Config::default())
        .run(zone(&[("1.e164.arpa", rrset)]))
        .unwrap();
    assert_eq!(r.target_uri, "sip:ok@x");
    let verdicts: Vec<_> = r
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Rule { verdict, .. } => Some(verdict.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        verdicts[..4],
        [
            Verdict::UnknownFlags,
            Verdict::NoRegexp,
            Verdict::RegexpAndReplacement,
            Verdict::InvalidUri
        ]
    );
}

#[test]
fn bad_regexp_reported() {
    let rrset = vec![n(10, 10, "u", "E2U+sip", "!^(.*$!sip:x@y!", ".")];
    let r = Lookup::new("+1", Config::default()).run(zone(&[("1.e164.arpa", rrset)]));
    match r {
        Err(LufError::BadRegexp {
            name,
            regexp,
            error,
        }) => {
            assert_eq!(name, "1.e164.arpa");
            assert_eq!(regexp, "!^(.*$!sip:x@y!");
            assert!(matches!(error, RegexpError::Compile { .. }));
        }
        other => panic!("{other:?}"),
    }
    // A bad record does not stop a good one behind it (RFC 6116 §5.2).
    let rrset = vec![
        n(10, 10, "u", "E2U+sip", r"!^.*$!sip:\1@y!", "."),
        n(10, 20, "u", "E2U+sip", "!^.*$!sip:good@y!", "."),
    ];
    let r = Lookup::new("+1", Config::default())
        .run(zone(&[("1.e164.arpa", rrset)]))
        .unwrap();
    assert_eq!(r.target_uri, "sip:good@y");
}

#[test]
fn non_terminal_chain_then_terminal() {
    let z = [
        (
            "1.e164.arpa",
            vec![n(10, 10, "", "", "", "enum.carrier.example.")],
        ),
        (
            "enum.carrier.example",
            vec![n(
                10,
                10,
                "",
                "E2U+sip",
                "!ignored!",
                "final.carrier.example",
            )],
        ),
        (
            "final.carrier.example",
            vec![n(
                100,
                10,
                "u",
                "E2U+sip",
                r"!^\+(.*)$!sip:\1@carrier.example!",
                ".",
            )],
        ),
    ];
    let r = Lookup::new("+1", Config::default()).run(zone(&z)).unwrap();
    assert_eq!(r.target_uri, "sip:1@carrier.example");
    assert_eq!(
        r.chain,
        [
            "1.e164.arpa",
            "enum.carrier.example",
            "final.carrier.example"
        ]
    );
}

#[test]
fn dead_end_backtracks_to_referring_rrset() {
    // RFC 6116 §5.2.1: continue with the next NAPTR after the non-terminal.
    let z = [
        (
            "1.e164.arpa",
            vec![
                n(10, 10, "", "", "", "dead.example"),
                n(20, 10, "u", "E2U+sip", "!^.*$!sip:fallback@x!", "."),
            ],
        ),
        (
            "dead.example",
            vec![n(10, 10, "u", "E2U+h323", "!^.*$!h323:x@y!", ".")],
        ),
    ];
    let r = Lookup::new("+1", Config::default()).run(zone(&z)).unwrap();
    assert_eq!(r.target_uri, "sip:fallback@x");
    assert!(r.steps.iter().any(|s| matches!(s,
        Step::Backtrack { from, to } if from == "dead.example" && to == "1.e164.arpa")));

    // RFC 3403 §4.1 read strictly: the followed ORDER 10 locks out ORDER 20.
    let mut c = Config::default();
    c.order_policy = OrderPolicy::Strict;
    let r = Lookup::new("+1", c).run(zone(&z));
    assert_eq!(r, Err(LufError::UnsupportedService));
}

#[test]
fn referential_loop_detected() {
    let z = [
        ("1.e164.arpa", vec![n(10, 10, "", "", "", "a.example")]),
        ("a.example", vec![n(10, 10, "", "", "", "b.example")]),
        ("b.example", vec![n(10, 10, "", "", "", "1.e164.arpa")]),
    ];
    let mut queries = 0;
    let mut z = zone(&z);
    let r = Lookup::new("+1", Config::default()).run(|q| {
        queries += 1;
        z(q)
    });
    assert_eq!(
        r,
        Err(LufError::Loop {
            name: "1.e164.arpa".into(),
            kind: LoopKind::Revisit
        })
    );
    // The looping query is never made (RFC 6116 §5.2.1).
    assert_eq!(queries, 3);
}

#[test]
fn chain_longer_than_bound_is_a_loop() {
    let names: Vec<String> = (0..8).map(|i| format!("n{i}.example")).collect();
    let mut entries = vec![(
        "1.e164.arpa".to_owned(),
        vec![n(10, 10, "", "", "", &names[0])],
    )];
    for w in names.windows(2) {
        entries.push((w[0].clone(), vec![n(10, 10, "", "", "", &w[1])]));
    }
    entries.push((
        names[7].clone(),
        vec![n(10, 10, "u", "E2U+sip", "!^.*$!sip:deep@x!", ".")],
    ));
    let refs: Vec<(&str, Vec<Naptr>)> = entries
        .iter()
        .map(|(a, b)| (a.as_str(), b.clone()))
        .collect();
    // 8 non-terminals: beyond the default 5.
    let r = Lookup::new("+1", Config::default()).run(zone(&refs));
    assert!(matches!(
        r,
        Err(LufError::Loop {
            kind: LoopKind::TooDeep,
            ..
        })
    ));
    let mut c = Config::default();
    c.max_non_terminal = 8;
    let r = Lookup::new("+1", c).run(zone(&refs)).unwrap();
    assert_eq!(r.target_uri, "sip:deep@x");
    assert_eq!(r.chain.len(), 9);
}

#[test]
fn non_terminal_without_valid_replacement_is_discarded() {
    let rrset = vec![
        n(10, 10, "", "", "!^.*$!next.example!", "."),
        n(10, 20, "", "", "", "bad label!.example"),
        n(10, 30, "u", "E2U+sip", "!^.*$!sip:ok@x!", "."),
    ];
    let z = [
        ("1.e164.arpa", rrset),
        (
            "next.example",
            vec![n(10, 10, "u", "E2U+sip", "!^.*$!sip:via-regexp@x!", ".")],
        ),
    ];
    let r = Lookup::new("+1", Config::default()).run(zone(&z)).unwrap();
    assert_eq!(r.target_uri, "sip:ok@x");
    // Generic DDDS behaviour on request: REGEXP gives the next key.
    let mut c = Config::default();
    c.regexp_non_terminal = true;
    let r = Lookup::new("+1", c).run(zone(&z)).unwrap();
    assert_eq!(r.target_uri, "sip:via-regexp@x");
}

#[test]
fn errors_for_empty_and_failing_dns() {
    let r = Lookup::new("+1", Config::default()).run(|_| Answer::NxDomain);
    assert_eq!(
        r,
        Err(LufError::NoRecords {
            name: "1.e164.arpa".into()
        })
    );
    let r = Lookup::new("+1", Config::default()).run(|_| Answer::NoData);
    assert!(matches!(r, Err(LufError::NoRecords { .. })));
    let r = Lookup::new("+1", Config::default()).run(|_| Answer::Records(vec![]));
    assert!(matches!(r, Err(LufError::NoRecords { .. })));
    let r = Lookup::new("+1", Config::default()).run(|_| Answer::Failed);
    assert!(matches!(r, Err(LufError::DnsFailure { .. })));
    let r = Lookup::new("+1", Config::default())
        .run(|_| Answer::Records(vec![n(1, 1, "u", "E2U+h323", "!^.*$!h323:x@y!", ".")]));
    assert_eq!(r, Err(LufError::UnsupportedService));
}

#[test]
fn bad_number_and_incomplete() {
    let l = Lookup::new("0044 20", Config::default());
    assert!(l.is_done());
    assert!(l.next_query().is_none());
    assert!(matches!(l.result(), Err(LufError::BadNumber(_))));
    let l = Lookup::new("+1", Config::default());
    assert_eq!(l.next_query().unwrap().name, "1.e164.arpa");
    assert_eq!(l.result(), Err(LufError::Incomplete));
}

#[test]
fn query_limit_bounds_branching() {
    // Every RRSet fans out to fresh names; the lookup stops at max_queries.
    let mut c = Config::default();
    c.max_queries = 4;
    let mut count = 0usize;
    let r = Lookup::new("+1", c).run(|q| {
        count += 1;
        Answer::Records(
            (0..3)
                .map(|i| n(10, i, "", "", "", &format!("b{i}.{}", q.name)))
                .collect(),
        )
    });
    assert_eq!(count, 4);
    assert!(matches!(r, Err(LufError::TooManyQueries { limit: 4 })));
}

#[test]
fn dead_referenced_domain_is_named() {
    let z = [("1.e164.arpa", vec![n(10, 10, "", "", "", "gone.example")])];
    let r = Lookup::new("+1", Config::default()).run(zone(&z));
    assert_eq!(
        r,
        Err(LufError::NoRecords {
            name: "gone.example".into()
        })
    );
}

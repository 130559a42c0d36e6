//! Property tests and fuzz-entry replay.

use proptest::prelude::*;
use std::collections::HashMap;

use speermint_enum::fuzzing::check_lookup;
use speermint_enum::{
    Answer, Apex, Config, E164, Lookup, LoopKind, LufError, Naptr, OrderPolicy, RegexLimits,
    SubstExpr, rewrite,
};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// E.164 -> ENUM domain -> E.164 is the identity, whatever separators
    /// the input used and whatever case the domain comes back in.
    #[test]
    fn domain_round_trip(digits in "[0-9]{1,15}", seps in proptest::collection::vec(0usize..6, 15)) {
        let mut written = String::from("+");
        for (d, s) in digits.chars().zip(seps.iter()) {
            written.push(d);
            written.push_str(["", " ", "-", ".", "(", ")"][*s]);
        }
        let n = E164::parse(&written).unwrap();
        prop_assert_eq!(n.digits(), digits.as_str());
        for apex in [Apex::default(), Apex::new("e164enum.net").unwrap()] {
            let domain = n.to_domain(&apex);
            prop_assert_eq!(domain.split('.').count(), digits.len() + apex.as_str().split('.').count());
            prop_assert_eq!(E164::from_domain(&domain, &apex).unwrap(), n.clone());
            let shouted = format!("{}.", domain.to_ascii_uppercase());
            prop_assert_eq!(E164::from_domain(&shouted, &apex).unwrap(), n.clone());
        }
    }

    /// The catch-all rewrite embeds the AUS verbatim.
    #[test]
    fn catch_all_embeds_aus(digits in "[0-9]{1,15}") {
        let aus = format!("+{digits}");
        let out = rewrite(r"!^(.*)$!sip:\1@example.com!", &aus, &RegexLimits::default()).unwrap();
        prop_assert_eq!(out, Some(format!("sip:{aus}@example.com")));
    }

    /// Any delimiter that is allowed behaves the same.
    #[test]
    fn any_allowed_delimiter(d in prop::sample::select(vec!['!', '/', '#', '|', '@', '%', 'x', '~', ','])) {
        let field = format!(r"{d}^\+(.*)${d}sip:\1.ok{d}");
        let out = rewrite(&field, "+12", &RegexLimits::default()).unwrap();
        prop_assert_eq!(out.as_deref(), Some("sip:12.ok"));
    }

    /// Arbitrary REGEXP fields never panic and never exceed the output bound.
    #[test]
    fn arbitrary_regexp_never_panics(field in "\\PC{0,80}", aus in "\\+[0-9]{1,15}") {
        let limits = RegexLimits::default();
        if let Ok(Some(out)) = SubstExpr::parse(&field, &limits).and_then(|s| s.apply(&aus)) {
            prop_assert!(out.len() <= limits.max_output_len);
        }
    }

    /// Regexp-shaped fields (delimiters and escapes likely) never panic.
    #[test]
    fn regexp_shaped_never_panics(
        d in prop::sample::select(vec!['!', '/', '.', '\\', '1', 'i']),
        ere in r"[\^$().*+?\[\]{}|\\!0-9a-z:]{0,20}",
        repl in r"[\\!0-9a-z:@]{0,20}",
        flags in "[iIx!]{0,2}",
    ) {
        let field = format!("{d}{ere}{d}{repl}{d}{flags}");
        let _ = rewrite(&field, "+441632960083", &RegexLimits::default());
    }

    /// Random zones keep the lookup's invariants (`fuzzing::check_lookup`),
    /// and two runs over the same zone agree. The `enum_naptr` fuzz target
    /// (speermint-resolver) reaches the same checks from raw DNS responses.
    #[test]
    fn random_zones_keep_lookup_invariants(
        digits in "[0-9]{1,15}",
        knobs in (any::<bool>(), any::<bool>(), any::<bool>(), 0usize..7, 16usize..1100),
        zone in prop::collection::vec((0usize..=POOL.len(), answer()), 1..7),
    ) {
        let number = E164::parse(&format!("+{digits}")).unwrap();
        let (strict, regexp_non_terminal, private_network, max_non_terminal, max_output_len) = knobs;
        let mut config = Config::default();
        if strict {
            config.order_policy = OrderPolicy::Strict;
        }
        config.regexp_non_terminal = regexp_non_terminal;
        config.private_network = private_network;
        config.max_non_terminal = max_non_terminal;
        config.regex.max_output_len = max_output_len;
        let first = number.to_domain(&config.apex);
        let mut names: HashMap<String, Answer> = HashMap::new();
        for (i, (at, answer)) in zone.into_iter().enumerate() {
            // The first RRSet is the number's own, so lookups get going.
            let name = match (i, POOL.get(at)) {
                (0, _) | (_, None) => first.clone(),
                (_, Some(n)) => (*n).to_owned(),
            };
            let answer = match answer {
                Answer::Records(rs) => Answer::Records(
                    rs.into_iter()
                        .map(|mut r| {
                            if r.replacement == FIRST {
                                r.replacement.clone_from(&first);
                            }
                            r
                        })
                        .collect(),
                ),
                other => other,
            };
            names.entry(name).or_insert(answer);
        }
        let ask = |q: &speermint_enum::Query| names.get(&q.name).cloned().unwrap_or(Answer::NxDomain);
        let once = check_lookup(&number, &config, ask);
        prop_assert_eq!(once, check_lookup(&number, &config, ask));
    }
}

/// Names records can point at, so chains and revisits are common.
const POOL: [&str; 5] = [
    "a.example",
    "b.example",
    "c.example",
    "e164.example",
    "x._sip.example",
];
/// Stands for the number's own domain in a generated REPLACEMENT.
const FIRST: &str = "<first>";

fn naptr() -> impl Strategy<Value = Naptr> {
    let mut targets: Vec<&str> = POOL.to_vec();
    targets.extend([".", ".", "", FIRST]);
    (
        (0u16..4).prop_map(|o| o * 10),
        0u16..4,
        prop::sample::select(vec!["u", "", "u", "", "U", "s", "ua", "P"]),
        prop_oneof![
            4 => prop::sample::select(vec![
                "E2U+sip", "e2u+SIP", "E2U+voice:tel+sip", "sip+E2U", "E2U+P-sip",
                "E2U+h323", "", "E2U+sip:x+sip", "SIP+D2U",
            ]).prop_map(str::to_owned),
            1 => "\\PC{0,24}",
        ],
        prop_oneof![
            4 => prop::sample::select(vec![
                "!^.*$!sip:info@example.com!",
                r"!^\+(\d*)$!sip:\1@example.net!",
                "#^.*$#sips:x@y#",
                r"/^\+(\d)(\d*)$/sip:\2\1@x.example/i",
                "",
                "!^(.*)$!",
                r"!^(.)(.)(.)(.)(.)(.)(.)(.)(.)$!\9\8\7\6\5\4\3\2\1\1\1\1\1\1!",
                "#(((((a*)*)*)*)*)#x:#",
                "!^+!x:y!",
            ]).prop_map(str::to_owned),
            1 => "\\PC{0,48}",
        ],
        prop::sample::select(targets),
    )
        .prop_map(
            |(order, preference, flags, services, regexp, replacement)| {
                Naptr::new(order, preference, flags, &services, &regexp, replacement)
            },
        )
}

fn answer() -> impl Strategy<Value = Answer> {
    prop_oneof![
        1 => Just(Answer::NxDomain),
        1 => Just(Answer::NoData),
        1 => Just(Answer::Failed),
        5 => prop::collection::vec(naptr(), 0..8).prop_map(Answer::Records),
    ]
}

/// A chain of `len` non-terminal NAPTRs, then a terminal one, resolves
/// exactly when `len` is within [`Config::max_non_terminal`]; a longer one
/// is a loop (RFC 6116 §5.2.1: more than 5 may be treated as one).
#[test]
fn non_terminal_chain_bound() {
    let number = E164::parse("+441632960083").unwrap();
    for max in 0..7 {
        for len in 0u8..10 {
            let mut config = Config::default();
            config.max_non_terminal = max;
            let first = number.to_domain(&config.apex);
            let name = |i: u8| {
                if i == 0 {
                    first.clone()
                } else {
                    format!("n{i}.chain.example")
                }
            };
            let result = Lookup::for_number(number.clone(), config).run(|q| {
                match (0..=len).find(|&i| name(i) == q.name) {
                    Some(i) if i < len => {
                        Answer::Records(vec![Naptr::new(10, 10, "", "", "", &name(i + 1))])
                    }
                    Some(_) => Answer::Records(vec![Naptr::new(
                        10,
                        10,
                        "u",
                        "E2U+sip",
                        "!^.*$!sip:end@x!",
                        ".",
                    )]),
                    None => Answer::NxDomain,
                }
            });
            if usize::from(len) <= max {
                assert!(result.is_ok(), "chain of {len} (bound {max}): {result:?}");
            } else {
                assert!(
                    matches!(
                        result,
                        Err(LufError::Loop {
                            kind: LoopKind::TooDeep,
                            ..
                        })
                    ),
                    "chain of {len} (bound {max}): {result:?}"
                );
            }
        }
    }
}

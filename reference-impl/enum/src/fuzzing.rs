//! Fuzz entry points, for cargo-fuzz shims and regression replay in
//! `cargo test`. Each asserts invariants, so a crash is a real defect.
//!
//! The input is decoded with a small ad-hoc format (below), not as DNS
//! messages: decoding wire-format NAPTR answers needs a DNS codec
//! (hickory-proto), which comes with the DNS wiring. That target will feed
//! the decoded records into the same [`Lookup`] and keep these invariants.

use std::collections::HashMap;

use crate::{
    Answer, Config, E164, Lookup, LoopKind, LufError, Naptr, OrderPolicy, RegexLimits, Step,
    SubstExpr, Verdict, is_absolute_uri,
};

/// Pool of names records can point at, so chains and loops are common.
const POOL: [&str; 6] = [
    "a.example",
    "b.example",
    "c.example",
    "d.example",
    "e164.example",
    "x._sip.example",
];

const FLAGS: [&str; 8] = ["u", "", "u", "", "U", "s", "ua", "P"];
const SERVICES: [&str; 10] = [
    "E2U+sip",
    "E2U+sip",
    "e2u+SIP",
    "E2U+voice:tel+sip",
    "sip+E2U",
    "E2U+P-sip",
    "E2U+h323",
    "",
    "E2U+sip:x+sip",
    "SIP+D2U",
];
const REGEXPS: [&str; 10] = [
    "!^.*$!sip:info@example.com!",
    r"!^\+(\d*)$!sip:\1@example.net!",
    "#^.*$#sips:x@y#",
    r"!^(\+.*)$!sip:\1@example.com!",
    r"/^\+(\d)(\d*)$/sip:\2\1@x.example/i",
    "",
    "!^(.*)$!",
    r"!^(.)(.)(.)(.)(.)(.)(.)(.)(.)$!\9\8\7\6\5\4\3\2\1\1\1\1\1\1!",
    "#(((((a*)*)*)*)*)#x:#",
    "!^+!x:y!",
];

/// Reads bytes, yielding zeros once exhausted so every input decodes.
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
    fn pick<'s>(&mut self, list: &[&'s str]) -> &'s str {
        list.get(usize::from(self.u8()) % list.len().max(1))
            .copied()
            .unwrap_or_default()
    }
    /// A string: either from `list` or, for high selector bytes, raw bytes.
    fn string(&mut self, list: &[&str]) -> String {
        let sel = self.u8();
        if sel >= 0xE0 {
            let len = usize::from(self.u8() % 48).min(self.0.len());
            let (raw, rest) = self.0.split_at(len);
            self.0 = rest;
            String::from_utf8_lossy(raw).into_owned()
        } else {
            list.get(usize::from(sel) % list.len().max(1))
                .map(|s| (*s).to_owned())
                .unwrap_or_default()
        }
    }
}

/// Bytes as an AUS plus NAPTR RRSets for a few names, run through the full
/// lookup. Invariants: no panic; the URI is absolute and within
/// [`RegexLimits::max_output_len`]; no name is queried twice; at most
/// [`Config::max_queries`] queries; a result's chain respects
/// [`Config::max_non_terminal`]; a [`LufError::Loop`] is traced; the lookup
/// is deterministic; and a plain chain of non-terminal NAPTRs resolves
/// exactly when it is no longer than the bound, else fails with `Loop`.
pub fn enum_naptr(data: &[u8]) {
    let mut b = Bytes(data);
    let ndigits = usize::from(b.u8() % 15) + 1;
    let digits: String = (0..ndigits)
        .map(|_| char::from(b'0' + b.u8() % 10))
        .collect();
    let number = match E164::parse(&format!("+{digits}")) {
        Ok(n) => n,
        Err(e) => panic!("generated number rejected: {e}"),
    };
    let mode = b.u8();
    let mut config = Config::default();
    if mode & 1 != 0 {
        config.order_policy = OrderPolicy::Strict;
    }
    config.regexp_non_terminal = mode & 2 != 0;
    config.private_network = mode & 4 != 0;
    config.max_non_terminal = usize::from(mode >> 4) % 7;
    config.regex = RegexLimits {
        max_output_len: 64 + usize::from(b.u8()),
        ..RegexLimits::default()
    };
    let first = number.to_domain(&config.apex);

    let mut zone: HashMap<String, Answer> = HashMap::new();
    let nsets = b.u8() % 6 + 1;
    for set in 0..nsets {
        // The first RRSet is always for the first key, so lookups get going.
        let idx = if set == 0 {
            0
        } else {
            usize::from(b.u8()) % (POOL.len() + 1)
        };
        let name = POOL
            .get(idx.wrapping_sub(1))
            .map_or_else(|| first.clone(), |s| (*s).to_owned());
        let answer = match b.u8() % 8 {
            0 => Answer::NxDomain,
            1 => Answer::NoData,
            2 => Answer::Failed,
            _ => {
                let n = b.u8() % 8;
                let records = (0..n)
                    .map(|_| {
                        let order = u16::from(b.u8() % 4) * 10;
                        let preference = u16::from(b.u8() % 4);
                        let flags = b.pick(&FLAGS).to_owned();
                        let services = b.string(&SERVICES);
                        let regexp = b.string(&REGEXPS);
                        let mut names: Vec<&str> = POOL.to_vec();
                        names.extend([".", ".", ".", ".", "", &first]);
                        let replacement = b.string(&names);
                        Naptr {
                            order,
                            preference,
                            flags,
                            services,
                            regexp,
                            replacement,
                        }
                    })
                    .collect();
                Answer::Records(records)
            }
        };
        zone.entry(name).or_insert(answer);
    }

    let outcome = run_checked(&number, &config, &zone);
    let again = run_checked(&number, &config, &zone);
    assert_eq!(outcome, again, "lookup is not deterministic");

    // Direct rewrite of every REGEXP seen, against the AUS.
    for answer in zone.values() {
        if let Answer::Records(rs) = answer {
            for r in rs {
                if let Ok(Some(out)) =
                    SubstExpr::parse(&r.regexp, &config.regex).and_then(|s| s.apply(&number.aus()))
                {
                    assert!(out.len() <= config.regex.max_output_len);
                }
            }
        }
    }

    chain_bound(&number, b.u8() % 10, config.max_non_terminal);
}

/// Runs one lookup over `zone`, checking the per-run invariants.
fn run_checked(
    number: &E164,
    config: &Config,
    zone: &HashMap<String, Answer>,
) -> Result<(String, Vec<String>), LufError> {
    let mut lookup = Lookup::for_number(number.clone(), config.clone());
    let mut seen: Vec<String> = Vec::new();
    while let Some(q) = lookup.next_query() {
        assert!(!seen.contains(&q.name), "{} queried twice", q.name);
        assert!(seen.len() < config.max_queries, "query limit exceeded");
        seen.push(q.name.clone());
        let answer = zone.get(&q.name).cloned().unwrap_or(Answer::NxDomain);
        if let Err(e) = lookup.on_answer(&q.name, answer) {
            panic!("pending query refused its answer: {e}");
        }
    }
    assert!(lookup.is_done());
    let traced_loop = lookup.steps().iter().any(|s| {
        matches!(
            s,
            Step::Rule {
                verdict: Verdict::Loop(_),
                ..
            }
        )
    });
    match lookup.result() {
        Ok(r) => {
            assert!(r.target_uri.len() <= config.regex.max_output_len);
            assert!(is_absolute_uri(&r.target_uri));
            assert!(!r.chain.is_empty() && r.chain.len() <= config.max_non_terminal + 1);
            Ok((r.target_uri, r.chain))
        }
        Err(e) => {
            if matches!(e, LufError::Loop { .. }) {
                assert!(traced_loop, "Loop reported but not traced");
            }
            assert_ne!(e, LufError::Incomplete);
            Err(e)
        }
    }
}

/// A chain of `len` non-terminal NAPTRs, then a terminal one.
fn chain_bound(number: &E164, len: u8, max: usize) {
    let config = Config {
        max_non_terminal: max,
        ..Config::default()
    };
    let first = number.to_domain(&config.apex);
    let name = |i: u8| {
        if i == 0 {
            first.clone()
        } else {
            format!("n{i}.chain.example")
        }
    };
    let result = Lookup::for_number(number.clone(), config).run(|q| {
        let i = (0..=len).find(|&i| name(i) == q.name);
        match i {
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
        assert!(
            result.is_ok(),
            "chain of {len} (bound {max}) failed: {result:?}"
        );
    } else {
        assert!(
            matches!(
                result,
                Err(LufError::Loop {
                    kind: LoopKind::TooDeep,
                    ..
                })
            ),
            "chain of {len} (bound {max}) gave {result:?}"
        );
    }
}

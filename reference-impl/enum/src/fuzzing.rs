//! Invariants of [`Lookup`], for fuzz entry points and property tests.
//! Each is an assertion, so a panic here is a real defect.
//!
//! The `enum_naptr` fuzz target lives in speermint-resolver
//! (`speermint_resolver::fuzzing::enum_naptr`), because its input is raw DNS
//! responses and this crate has no DNS codec. It answers the lookup's
//! queries from those responses through [`check_lookup`], so the invariants
//! stay here, next to the state machine they check.

use crate::{
    Answer, Config, E164, Lookup, LufError, Query, Step, SubstExpr, Verdict, is_absolute_uri,
};

/// What a lookup came to, reduced to what two runs over the same answers
/// must agree on: the URI and the chain of keys, or the error.
pub type Outcome = Result<(String, Vec<String>), LufError>;

/// Runs one lookup for `number`, answering every query with `answer`.
///
/// Asserts:
/// - no key is queried twice (RFC 6116 §5.2.1 loop detection) and at most
///   [`Config::max_queries`] are;
/// - every query is for the pending key, so [`Lookup::on_answer`] accepts it;
/// - the trace stays within one query, one answer and one backtrack per key
///   plus a rule and a rewrite per record kept ([`Config::max_rrset`]);
/// - the lookup finishes ([`LufError::Incomplete`] never comes back);
/// - a result is an absolute URI (RFC 6116 §3.3) no longer than
///   [`crate::RegexLimits::max_output_len`], produced by the chosen
///   terminal NAPTR's REGEXP applied to the AUS itself (RFC 3403 §4.1:
///   never to an earlier output), with a chain of keys that starts at the
///   number's domain, ends at the RRSet holding that NAPTR, and is at most
///   [`Config::max_non_terminal`] links long;
/// - a [`LufError::Loop`] shows up in the trace.
pub fn check_lookup(
    number: &E164,
    config: &Config,
    mut answer: impl FnMut(&Query) -> Answer,
) -> Outcome {
    let mut lookup = Lookup::for_number(number.clone(), config.clone());
    let mut asked: Vec<String> = Vec::new();
    while let Some(q) = lookup.next_query() {
        assert!(!asked.contains(&q.name), "{} queried twice", q.name);
        asked.push(q.name.clone());
        assert!(
            asked.len() <= config.max_queries,
            "more than {} queries",
            config.max_queries
        );
        let a = answer(&q);
        if let Err(e) = lookup.on_answer(&q.name, a) {
            panic!("pending query refused its answer: {e}");
        }
    }
    assert!(lookup.is_done());
    let steps = lookup.steps();
    let bound = asked.len() * (3 + 2 * config.max_rrset);
    assert!(
        steps.len() <= bound,
        "{} trace steps for {} queries",
        steps.len(),
        asked.len()
    );
    let traced_loop = steps.iter().any(|s| {
        matches!(
            s,
            Step::Rule {
                verdict: Verdict::Loop(_),
                ..
            }
        )
    });
    let selected: Vec<(String, crate::Naptr)> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Rule {
                name,
                naptr,
                verdict: Verdict::Selected { .. },
            } => Some((name.clone(), naptr.clone())),
            _ => None,
        })
        .collect();
    match lookup.result() {
        Ok(r) => {
            let uri = &r.target_uri;
            assert!(is_absolute_uri(uri), "not an absolute URI: {uri:?}");
            assert!(uri.len() <= config.regex.max_output_len);
            assert_eq!(
                r.chain.first(),
                Some(&number.to_domain(&config.apex)),
                "the chain starts at the number's domain"
            );
            assert!(r.chain.len() <= config.max_non_terminal + 1);
            assert_eq!(
                selected,
                [(r.chain[r.chain.len() - 1].clone(), r.naptr.clone())],
                "exactly the chosen NAPTR is traced as selected, at the chain's end"
            );
            assert!(r.naptr.flags.eq_ignore_ascii_case("u"));
            let again = SubstExpr::parse(&r.naptr.regexp, &config.regex)
                .and_then(|s| s.apply(&number.aus()));
            assert_eq!(again, Ok(Some(uri.clone())), "URI not from the AUS");
            Ok((r.target_uri, r.chain))
        }
        Err(e) => {
            assert!(selected.is_empty(), "a NAPTR was selected but {e:?}");
            if matches!(e, LufError::Loop { .. }) {
                assert!(traced_loop, "Loop reported but not traced");
            }
            assert_ne!(e, LufError::Incomplete);
            Err(e)
        }
    }
}

//! Property tests and fuzz-entry replay.

use proptest::prelude::*;
use speermint_enum::{Apex, E164, RegexLimits, SubstExpr, fuzzing, rewrite};

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

    /// The fuzz entry point holds its invariants on arbitrary bytes.
    #[test]
    fn fuzz_entry_arbitrary(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        fuzzing::enum_naptr(&data);
    }
}

/// Fixed inputs for the fuzz entry, covering chains, loops and raw fields.
#[test]
fn fuzz_entry_seeds() {
    let seeds: [&[u8]; 6] = [
        b"",
        &[0; 64],
        &[0xff; 300],
        // 1 digit, strict + regexp_non_terminal, 3 RRSets of records.
        &[
            0, 1, 0x13, 10, 3, 0, 3, 4, 0, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 2, 3, 1, 3, 2, 0, 0, 1, 1,
            0, 2,
        ],
        &[
            14, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 0x52, 200, 5, 0, 3, 7, 0xC0, 40, 0xC1,
            10,
        ],
        &[
            2, 4, 4, 0x60, 0, 5, 1, 3, 5, 0, 0, 1, 0, 0, 5, 6, 2, 3, 0, 1, 0, 1, 6, 9,
        ],
    ];
    for s in seeds {
        fuzzing::enum_naptr(s);
    }
}

//! Replays the minimised fuzzer findings in corpora/regressions/lrf_answers/
//! and the seeds in corpora/lrf/ through the entry point the fuzz target
//! uses.

use speermint_corpora::{corpora, replay};
use speermint_route::fuzzing::{LrfCase, answer_for, lrf_answers};
use speermint_route::{
    Answer, NaptrVerdict, Query, RecordType, Resolution, RouteStep, Target, Transport,
};

#[test]
fn lrf_answers_regressions() {
    assert!(replay("regressions/lrf_answers", lrf_answers) >= 1);
}

#[test]
fn lrf_answers_seeds() {
    assert!(
        replay("lrf", lrf_answers) > 0,
        "corpora/lrf holds the seeds"
    );
}

/// `naptrs-share-srv-name.bin` still describes its finding under the
/// current input layout: `sip:example.com` with two usable NAPTRs naming
/// the same SRV domain, which has no records, so the resolver moves from
/// the first NAPTR to the second and needs that SRV answer again. Before
/// answers were memoised it asked the same query twice; `lrf_answers`
/// asserts that it does not.
#[test]
fn shared_srv_name_finding_still_decodes_to_its_case() {
    let path = corpora().join("regressions/lrf_answers/naptrs-share-srv-name.bin");
    let case = LrfCase::from_bytes(&std::fs::read(&path).unwrap());
    assert_eq!(case.target, Target::sip("example.com"));
    let naptr = Query {
        name: "example.com".into(),
        rtype: RecordType::Naptr,
    };
    let Some(Answer::Naptr(records)) = case.zone.get(&naptr) else {
        panic!("no NAPTR RRSet for example.com: {:?}", case.zone);
    };
    assert_eq!(records.len(), 2);
    assert!(
        records
            .iter()
            .all(|r| r.replacement == "_sip._udp.example.com"),
        "{records:?}"
    );
    let srv = Query {
        name: "_sip._udp.example.com".into(),
        rtype: RecordType::Srv,
    };
    assert!(answer_for(&case.zone, &srv).is_negative());

    let mut asked = Vec::new();
    let route = Resolution::new(case.target.clone(), &case.config, &case.table, case.seed)
        .run(|q| {
            asked.push(q.clone());
            answer_for(&case.zone, q)
        })
        .expect("falls back to the domain's address");
    let usable = route
        .steps
        .iter()
        .filter(|s| {
            matches!(
                s,
                RouteStep::Naptr {
                    verdict: NaptrVerdict::Usable(Transport::Udp),
                    ..
                }
            )
        })
        .count();
    assert_eq!(usable, 2, "both NAPTRs are tried");
    assert_eq!(asked.iter().filter(|q| **q == srv).count(), 1);
    lrf_answers(&std::fs::read(&path).unwrap());
}

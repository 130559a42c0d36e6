//! The suite tests itself: it is complete on paper (every RFC 6271
//! requirement and RFC 6404 countermeasure accounted for), it passes
//! against the reference stack, and every check fails against a stack with
//! the fault it looks for.

use speermint_conformance::{registry, uncovered};
use speermint_harness::refs::must_cover;
use speermint_harness::runner::run_checks;
use speermint_harness::target::{NetworkKind, Plan, start};
use speermint_harness::{Capability, Check, CheckResult, Level, Verdict};
use speermint_net::Transport;
use speermint_sbe::{Fault, Faults};
use std::collections::HashSet;

#[test]
fn every_requirement_is_covered_or_explained_exactly_once() {
    let covered: HashSet<_> = registry()
        .iter()
        .flat_map(|c| c.covers.iter().copied())
        .collect();
    for r in must_cover() {
        let explained = uncovered().iter().filter(|u| u.reference == r).count();
        assert!(
            covered.contains(&r) ^ (explained == 1),
            "{r}: covered by a check: {}, explained {explained} times (need exactly one of the two)",
            covered.contains(&r)
        );
    }
    for u in uncovered() {
        assert!(
            matches!(u.status, "declared" | "planned") && !u.reason.is_empty(),
            "{}",
            u.reference
        );
    }
}

#[test]
fn checks_are_well_declared() {
    let mut ids = HashSet::new();
    for c in registry() {
        assert!(ids.insert(c.id), "duplicate id {}", c.id);
        assert!(
            c.id.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "{} is not kebab-case",
            c.id
        );
        assert!(!c.covers.is_empty(), "{} covers nothing", c.id);
        assert!(
            !c.fails_under.is_empty(),
            "{} has no misbehaviour switch: a check that cannot fail is a defect",
            c.id
        );
    }
    // Every switch of the reference stack is looked for by some check.
    for sw in Fault::ALL {
        assert!(
            registry().iter().any(|c| c.fails_under.contains(sw)),
            "fault {sw} is not looked for by any check"
        );
    }
}

/// Runs `checks` against the embedded stack with `faults`, on `network`,
/// each run on its own runtime (the simulated network needs its own).
fn run_on(network: NetworkKind, faults: Faults, checks: &[Check]) -> Vec<CheckResult> {
    run_over(Transport::Udp, network, faults, checks)
}

/// [`run_on`] with the roles reaching the SBE over `transport`.
fn run_over(
    transport: Transport,
    network: NetworkKind,
    faults: Faults,
    checks: &[Check],
) -> Vec<CheckResult> {
    let mut plan = Plan::embedded(faults);
    plan.network = network;
    plan.transport = transport;
    let rt = plan.runtime().expect("runtime");
    rt.block_on(async {
        let mut session = start(&plan).await.expect("roles bind");
        let results = run_checks(&mut session.ctx, checks, |_, _| {}).await;
        if let Some(sbe) = session.sbe.take() {
            sbe.stop().await;
        }
        results
    })
}

fn run(faults: Faults, checks: &[Check]) -> Vec<CheckResult> {
    run_on(NetworkKind::Simulated { seed: 1 }, faults, checks)
}

fn assert_all_pass(results: &[CheckResult]) {
    for r in results {
        assert_eq!(
            r.verdict,
            Verdict::Pass,
            "{}: {}\n{:#?}",
            r.id,
            r.reason,
            r.evidence
        );
        assert!(!r.evidence.is_empty(), "{}: a pass needs evidence", r.id);
    }
    assert_eq!(results.len(), registry().len());
}

/// Over a stream every check passes, except those whose traffic must be
/// datagrams: they say so, and are not applicable.
fn assert_all_pass_over_stream(results: &[CheckResult]) {
    for r in results {
        let check = speermint_conformance::find(&r.id).expect("a registered check");
        if check.needs.contains(&Capability::Udp) {
            assert_eq!(r.verdict, Verdict::NotApplicable, "{}: {}", r.id, r.reason);
            assert!(r.reason.contains("datagrams"), "{}: {}", r.id, r.reason);
            continue;
        }
        assert_eq!(
            r.verdict,
            Verdict::Pass,
            "{}: {}\n{:#?}",
            r.id,
            r.reason,
            r.evidence
        );
        assert!(!r.evidence.is_empty(), "{}: a pass needs evidence", r.id);
    }
    assert_eq!(results.len(), registry().len());
}

#[test]
fn reference_stack_passes_every_check_over_tcp() {
    let sim = NetworkKind::Simulated { seed: 1 };
    let results = run_over(Transport::Tcp, sim, Faults::default(), registry());
    assert_all_pass_over_stream(&results);
    // The peer's requests went over TCP, and named it in their Via.
    let sent = results
        .iter()
        .flat_map(|r| &r.evidence)
        .find(|e| e.role == "peer" && e.direction == "sent" && e.transport == Some("tcp"))
        .expect("the peer sent over TCP");
    assert!(
        sent.message.contains("Via: SIP/2.0/TCP "),
        "{}",
        sent.message
    );
}

#[test]
fn reference_stack_passes_every_check_over_tls() {
    let sim = NetworkKind::Simulated { seed: 1 };
    let results = run_over(Transport::Tls, sim, Faults::default(), registry());
    assert_all_pass_over_stream(&results);
    // The stranger holds no peer's certificate: the SBE refuses its
    // handshake (RFC 6404 §4.5), and the verdict says its requests never
    // reached SIP.
    let ingress = results
        .iter()
        .find(|r| r.id == "ingress-filtering")
        .unwrap();
    assert!(
        ingress.reason.contains("stranger role's tls connections")
            && ingress.reason.contains("never reached SIP"),
        "{}",
        ingress.reason
    );
}

/// TLS over real sockets. TCP over sockets is certified by the CLI's
/// external-target test; a third run in real time here would add its
/// 40 s to every test run.
#[test]
fn reference_stack_passes_every_check_over_tls_on_loopback_sockets() {
    let results = run_over(
        Transport::Tls,
        NetworkKind::Sockets,
        Faults::default(),
        registry(),
    );
    assert_all_pass_over_stream(&results);
}

#[test]
fn reference_stack_passes_every_check_over_loopback_sockets() {
    assert_all_pass(&run_on(NetworkKind::Sockets, Faults::default(), registry()));
}

#[test]
fn reference_stack_passes_every_check() {
    assert_all_pass(&run(Faults::default(), registry()));
}

#[test]
fn every_check_fails_under_each_of_its_switches() {
    fails_under_its_switches(Transport::Udp);
}

/// Over TCP the checks catch the same faults: their traffic reaches the
/// SBE's policy over the stream, not around it. (Over TLS the embedded SBE
/// refuses the stranger's handshake, so a fault only a stranger could
/// exploit is out of its reach: the verdict's note says so.)
#[test]
fn every_check_fails_under_each_of_its_switches_over_tcp() {
    fails_under_its_switches(Transport::Tcp);
}

fn fails_under_its_switches(transport: Transport) {
    let sim = NetworkKind::Simulated { seed: 1 };
    for check in registry() {
        if transport != Transport::Udp && check.needs.contains(&Capability::Udp) {
            continue;
        }
        for sw in check.fails_under {
            let one = std::slice::from_ref(check);
            let results = run_over(transport, sim, Faults::only(*sw), one);
            let r = &results[0];
            // A SHOULD-level finding may be a warning rather than a failure.
            let warned = r.verdict == Verdict::Warn && check.level == Level::Should;
            assert!(
                r.verdict == Verdict::Fail || warned,
                "{} under {sw}: {} ({})",
                check.id,
                r.verdict.as_str(),
                r.reason
            );
            assert!(
                !r.evidence.is_empty(),
                "{} under {sw}: a fail needs evidence",
                check.id
            );
        }
    }
}

/// When the IUT dies (the die-on-malformed fault), the check during which
/// it stopped answering fails and says so, and no later check is judged on
/// its silence.
#[test]
fn a_dead_iut_fails_the_check_that_killed_it_and_nothing_after() {
    let results = run(Faults::only(Fault::DieOnMalformed), registry());
    let killer = results
        .iter()
        .position(|r| r.id == "torture-hardening")
        .expect("torture-hardening runs");
    assert_eq!(results[killer].verdict, Verdict::Fail);
    assert!(
        results[killer].reason.contains("stopped answering"),
        "{}",
        results[killer].reason
    );
    for r in &results[..killer] {
        assert_eq!(r.verdict, Verdict::Pass, "{}: {}", r.id, r.reason);
    }
    for r in &results[killer + 1..] {
        assert_eq!(r.verdict, Verdict::Inconclusive, "{}: {}", r.id, r.reason);
        assert!(
            r.reason
                .contains("has not answered since torture-hardening"),
            "{}: {}",
            r.id,
            r.reason
        );
    }
}

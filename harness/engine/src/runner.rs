//! Runs checks one after the other against a prepared session. Durations
//! are on the network's clock: virtual time on the simulated network.

use crate::check::{Capability, Check, Outcome, Verdict};
use crate::ctx::Ctx;
use crate::report::CheckResult;
use std::time::Duration;
use tokio::time::Instant;

/// No scenario may run longer than this; past it the check is inconclusive.
pub const SCENARIO_LIMIT: Duration = Duration::from_secs(120);

/// Runs `checks` in order; `progress` is told when each starts and ends.
///
/// After each check the IUT is probed ([`crate::liveness`]). If it no
/// longer answers, that check fails, naming the last message the harness
/// sent, and the later checks are not run: they are inconclusive, since
/// silence from a dead element says nothing about their requirements.
pub async fn run_checks(
    ctx: &mut Ctx,
    checks: &[Check],
    mut progress: impl FnMut(&Check, Option<&CheckResult>),
) -> Vec<CheckResult> {
    let mut results = Vec::with_capacity(checks.len());
    let mut dead_since: Option<&str> = None;
    for check in checks {
        progress(check, None);
        // The transport is the run's, whatever a profile declares.
        let over_stream = ctx.transport != speermint_net::Transport::Udp;
        let missing: Vec<&str> = check
            .needs
            .iter()
            .filter(|c| **c != Capability::Udp)
            .filter(|c| ctx.offers.as_ref().is_some_and(|o| !o.contains(c)))
            .map(|c| c.name())
            .collect();
        let not_run = if over_stream && check.needs.contains(&Capability::Udp) {
            Some(Outcome {
                verdict: Verdict::NotApplicable,
                reason: format!(
                    "the check's traffic is datagrams, and this run reaches the IUT over {}; run it over udp (a udp: target, or certify --transport udp)",
                    ctx.transport.as_str()
                ),
            })
        } else if !missing.is_empty() {
            Some(Outcome {
                verdict: Verdict::NotApplicable,
                reason: format!(
                    "the IUT does not offer {} (declare it in the profile: [target] offers, with its section)",
                    missing.join(" and ")
                ),
            })
        } else {
            dead_since.map(|since| {
                Outcome::inconclusive(format!("not run: the IUT has not answered since {since}"))
            })
        };
        if let Some(outcome) = not_run {
            let result = CheckResult::of(check, outcome, Vec::new(), 0);
            progress(check, Some(&result));
            results.push(result);
            continue;
        }
        ctx.reset().await;
        if let Some(dns) = &ctx.dns {
            dns.take_datagrams();
        }
        let start = Instant::now();
        let outcome = match tokio::time::timeout(SCENARIO_LIMIT, (check.scenario)(ctx)).await {
            Ok(o) => o,
            Err(_) => Outcome::inconclusive(format!(
                "scenario did not finish within {} s",
                SCENARIO_LIMIT.as_secs()
            )),
        };
        let duration_ms = start.elapsed().as_millis() as u64;
        add_dns_datagrams(ctx);
        let outcome = with_refusals(ctx, outcome);
        let mut result = CheckResult::of(check, outcome, ctx.log.take(), duration_ms);
        if result.verdict == Verdict::Warn && check.level == crate::check::Level::Must {
            // A MUST not followed is a failure, whatever the scenario said.
            result.verdict = Verdict::Fail;
        }
        if let Err(silence) = crate::liveness::probe(ctx).await {
            let last = result
                .evidence
                .iter()
                .rev()
                .find(|e| e.direction == "sent")
                .map_or_else(
                    || "nothing".to_owned(),
                    |e| format!("{} to {}", e.summary, e.peer),
                );
            result.reason = format!(
                "the IUT stopped answering during this check ({}); the last message sent was {last}. Before that: {}: {}",
                silence.describe(ctx),
                result.verdict.as_str(),
                result.reason
            );
            result.verdict = Verdict::Fail;
            dead_since = Some(check.id);
        }
        progress(check, Some(&result));
        results.push(result);
    }
    results
}

/// A verdict says so when the IUT refused a role's connections (a TLS
/// handshake, say): what that role sent never reached SIP, so the check
/// saw the refusal, not the IUT's SIP policy.
fn with_refusals(ctx: &Ctx, mut outcome: Outcome) -> Outcome {
    let roles = [&ctx.peer, &ctx.stranger, &ctx.terminating, &ctx.second_peer];
    let mut said = Vec::new();
    for role in roles {
        let refused = role.refused_connections();
        if let Some(first) = refused.first() {
            said.push(format!(
                "the IUT ended {} of the {} role's {} connections before answering on them ({first}), so what it sent there never reached SIP",
                refused.len(),
                role.name(),
                ctx.transport.as_str()
            ));
        }
    }
    if !said.is_empty() {
        outcome.reason = format!("{}; note: {}", outcome.reason, said.join("; "));
    }
    outcome
}

/// What the IUT asked the DNS role, as the role's UDP driver saw it (on
/// either network), joins the evidence (and so the pcap) as the `dns`
/// role's datagrams, in time order with the rest.
fn add_dns_datagrams(ctx: &Ctx) {
    let Some(dns) = ctx.dns.as_ref() else {
        return;
    };
    let (datagrams, missed) = dns.take_datagrams();
    let servers = dns.servers();
    for d in datagrams {
        let direction = if servers.contains(&d.to) {
            "received"
        } else {
            "sent"
        };
        let summary = speermint_dns_role::describe(&d.bytes);
        let wire = crate::role::Wire {
            from: d.from,
            to: d.to,
            transport: speermint_net::Transport::Udp,
            at: ctx.log.run_time(d.at),
            bytes: d.bytes,
        };
        ctx.log.add_datagram("dns", direction, summary, wire);
    }
    if missed > 0 {
        ctx.log.note(
            "dns",
            format!("{missed} more DNS datagrams were not kept (over the role's bound)"),
        );
    }
    ctx.log.sort_by_time();
}

//! Runs checks one after the other against a prepared session. Durations
//! are on the network's clock: virtual time on the simulated network.

use crate::check::{Check, Outcome, Verdict};
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
        let missing: Vec<&str> = check
            .needs
            .iter()
            .filter(|c| ctx.offers.as_ref().is_some_and(|o| !o.contains(c)))
            .map(|c| c.name())
            .collect();
        let not_run = if !missing.is_empty() {
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
        if let Some(sim) = ctx.net.sim() {
            sim.take_tap();
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
        let mut result = CheckResult::of(check, outcome, ctx.log.take(), duration_ms);
        add_dns_datagrams(ctx, &mut result.evidence);
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

/// On the simulated network the tap saw what the IUT asked the DNS role:
/// those datagrams join the evidence (and so the pcap) as the `dns` role's,
/// in time order with the rest.
fn add_dns_datagrams(ctx: &Ctx, evidence: &mut Vec<crate::role::EvidenceEntry>) {
    let (Some(sim), Some(dns)) = (ctx.net.sim(), ctx.dns.as_ref()) else {
        return;
    };
    let servers = dns.servers();
    for r in sim.take_tap() {
        let delivered = matches!(
            r.verdict,
            speermint_net::TapVerdict::Delivered(_) | speermint_net::TapVerdict::Duplicated(_)
        );
        if !delivered || r.transport != speermint_net::Transport::Udp {
            continue;
        }
        let (direction, peer) = if servers.contains(&r.to) {
            ("received", r.from)
        } else if servers.contains(&r.from) {
            ("sent", r.to)
        } else {
            continue;
        };
        let summary = speermint_dns_role::describe(&r.bytes);
        evidence.push(crate::role::EvidenceEntry {
            t_ms: 0,
            role: "dns".into(),
            direction,
            peer: peer.to_string(),
            summary: summary.clone(),
            message: summary,
            wire: Some(crate::role::Wire {
                from: r.from,
                to: r.to,
                at: r.at,
                bytes: r.bytes,
            }),
        });
    }
    // Time order: each entry sorts by its datagram's time, a note with the
    // datagram before it. The check's own clock started after the run's,
    // so t_ms of a DNS entry is taken from its neighbours' offset.
    let offset = evidence
        .iter()
        .find(|e| e.wire.is_some() && e.role != "dns")
        .and_then(|e| {
            e.wire
                .as_ref()
                .map(|w| w.at.as_millis() as i128 - e.t_ms as i128)
        })
        .unwrap_or(0);
    let mut key = std::time::Duration::ZERO;
    let mut keyed: Vec<(std::time::Duration, usize, crate::role::EvidenceEntry)> = evidence
        .drain(..)
        .enumerate()
        .map(|(i, mut e)| {
            if let Some(w) = &e.wire {
                key = w.at;
                if e.role == "dns" {
                    e.t_ms = (w.at.as_millis() as i128 - offset).max(0) as u64;
                }
            }
            (key, i, e)
        })
        .collect();
    keyed.sort_by_key(|(k, i, _)| (*k, *i));
    evidence.extend(keyed.into_iter().map(|(_, _, e)| e));
}

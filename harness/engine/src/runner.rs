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
        if !missing.is_empty() {
            let result = CheckResult {
                id: check.id.to_string(),
                title: check.title.to_string(),
                covers: check.covers.iter().map(ToString::to_string).collect(),
                level: check.level,
                requirement: check.requirement.to_string(),
                verdict: Verdict::NotApplicable,
                reason: format!(
                    "the IUT does not offer {} (declare it in the profile: [target] offers, with its section)",
                    missing.join(" and ")
                ),
                evidence: Vec::new(),
                duration_ms: 0,
            };
            progress(check, Some(&result));
            results.push(result);
            continue;
        }
        if let Some(since) = dead_since {
            let result = CheckResult {
                id: check.id.to_string(),
                title: check.title.to_string(),
                covers: check.covers.iter().map(ToString::to_string).collect(),
                level: check.level,
                requirement: check.requirement.to_string(),
                verdict: Verdict::Inconclusive,
                reason: format!("not run: the IUT has not answered since {since}"),
                evidence: Vec::new(),
                duration_ms: 0,
            };
            progress(check, Some(&result));
            results.push(result);
            continue;
        }
        ctx.reset().await;
        let start = Instant::now();
        let outcome = match tokio::time::timeout(SCENARIO_LIMIT, (check.scenario)(ctx)).await {
            Ok(o) => o,
            Err(_) => Outcome::inconclusive(format!(
                "scenario did not finish within {} s",
                SCENARIO_LIMIT.as_secs()
            )),
        };
        let result = CheckResult {
            id: check.id.to_string(),
            title: check.title.to_string(),
            covers: check.covers.iter().map(ToString::to_string).collect(),
            level: check.level,
            requirement: check.requirement.to_string(),
            verdict: outcome.verdict,
            reason: outcome.reason,
            evidence: ctx.log.take(),
            duration_ms: start.elapsed().as_millis() as u64,
        };
        let mut result = result;
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

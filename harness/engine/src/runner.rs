//! Runs checks one after the other against a prepared session. Durations
//! are on the network's clock: virtual time on the simulated network.

use crate::check::{Check, Outcome};
use crate::ctx::Ctx;
use crate::report::CheckResult;
use std::time::Duration;
use tokio::time::Instant;

/// No scenario may run longer than this; past it the check is inconclusive.
pub const SCENARIO_LIMIT: Duration = Duration::from_secs(120);

/// Runs `checks` in order; `progress` is told when each starts and ends.
pub async fn run_checks(
    ctx: &mut Ctx,
    checks: &[Check],
    mut progress: impl FnMut(&Check, Option<&CheckResult>),
) -> Vec<CheckResult> {
    let mut results = Vec::with_capacity(checks.len());
    for check in checks {
        progress(check, None);
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
            verdict: outcome.verdict,
            reason: outcome.reason,
            evidence: ctx.log.take(),
            duration_ms: start.elapsed().as_millis() as u64,
        };
        progress(check, Some(&result));
        results.push(result);
    }
    results
}

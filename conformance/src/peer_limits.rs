//! RFC 6404 §4.9 (rate limit) against the SF flooding threat (§2.3.3): one
//! peer flooding the IUT is held to its declared rate, and another peer's
//! calls still go through in the same window; and a peer's calls at once
//! are held to its declared number, freed as calls end.

use crate::dialog::{call_id, in_dialog_from};
use speermint_harness::check::Capability;
use speermint_harness::ctx::sip_hostport;
use speermint_harness::role::Received;
use speermint_harness::{Check, Ctx, Level, Outcome, Ref, RoleId};
use speermint_sbe::Fault;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio::time::Instant;

pub(crate) const PEER_RATE_LIMIT: Check = Check {
    id: "peer-rate-limit",
    title: "a peer flooding at ten times its declared rate is held to that rate, and a second peer's calls complete meanwhile",
    covers: &[Ref::Rfc6404(9), Ref::Rfc6404Threat("SF-flooding")],
    level: Level::Should,
    requirement: "A border element limits the rate of incoming signaling per source, answering the excess with 503 and Retry-After or discarding it, so that one interconnected SSP's flood does not deny service to another (RFC 6404 §4.9, §2.3.3).",
    fails_under: &[Fault::NoRateLimit, Fault::SharedRateLimit],
    needs: &[Capability::RateLimit],
    scenario: |ctx| Box::pin(peer_rate_limit(ctx)),
};

pub(crate) const PEER_SESSION_LIMIT: Check = Check {
    id: "peer-session-limit",
    title: "a peer is held to its declared number of calls at once, and a call ended frees its place",
    covers: &[Ref::Rfc6404(9)],
    level: Level::Should,
    requirement: "A border element may limit the concurrent sessions of a peer rather than its messages, since sessions are what cost the backend; the excess is refused, and ended calls no longer count (RFC 6404 §4.9).",
    fails_under: &[Fault::NoSessionLimit],
    needs: &[Capability::SessionLimit],
    scenario: |ctx| Box::pin(peer_session_limit(ctx)),
};

/// Calls tried beyond the declared limit.
const OVER: u32 = 5;

async fn peer_session_limit(ctx: &mut Ctx) -> Outcome {
    let Some(limit) = ctx.peer_sessions else {
        return Outcome::inconclusive("the profile declares no per-peer session limit");
    };
    // Well under any declared request rate: this check is about calls.
    let spacing = match ctx.peer_rate {
        Some(r) => Duration::from_secs_f64(2.0 / f64::from(r)),
        None => Duration::from_millis(10),
    };
    let ruri = format!("sip:+15105550160@{}", sip_hostport(ctx.terminating.addr()));
    let mut invites: HashMap<String, Vec<u8>> = HashMap::new();
    let mut order = Vec::new();
    let mut answers: HashMap<String, Received> = HashMap::new();
    let mut relayed = 0u32;
    for _ in 0..limit + OVER {
        let inv = ctx.request(RoleId::Peer, "INVITE", &ruri).build();
        let cid = call_id(&inv);
        ctx.send_to_iut(RoleId::Peer, &inv).await;
        invites.insert(cid.clone(), inv);
        order.push(cid);
        tokio::time::sleep(spacing).await;
        relayed += answer_invites(ctx, &invites).await;
        collect_finals(ctx, &invites, &mut answers).await;
    }
    // The last answers.
    let deadline = Instant::now() + ctx.timing.response;
    while answers.len() < invites.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
        relayed += answer_invites(ctx, &invites).await;
        collect_finals(ctx, &invites, &mut answers).await;
    }
    let up: Vec<String> = order
        .iter()
        .filter(|c| answers.get(*c).and_then(Received::status) == Some(200))
        .cloned()
        .collect();
    let refused: Vec<String> = order
        .iter()
        .filter_map(|c| answers.get(c))
        .filter(|r| r.status().is_some_and(|s| s >= 300))
        .map(Received::summary)
        .collect();
    let silent = invites.len() - answers.len();
    // Every call set up is acknowledged and hung up.
    for cid in &order {
        let (Some(inv), Some(r)) = (invites.get(cid), answers.get(cid)) else {
            continue;
        };
        let ok = r.status() == Some(200);
        if let Some(ack) = in_dialog_from(ctx, RoleId::Peer, inv, r, "ACK", !ok) {
            ctx.send_to_iut(RoleId::Peer, &ack).await;
        }
    }
    let mut hung_up = 0;
    for cid in &up {
        let (inv, ok) = (invites[cid].clone(), answers[cid].clone());
        if hang_up_as(ctx, RoleId::Peer, &inv, &ok).await {
            hung_up += 1;
        }
        tokio::time::sleep(spacing).await;
    }
    let summary = format!(
        "of {} calls the peer placed at once (declared limit {limit}), {relayed} reached the next hop and {} were set up; {}{}",
        limit + OVER,
        up.len(),
        if refused.is_empty() {
            "none was refused".to_string()
        } else {
            format!("{} were refused ({})", refused.len(), counted(&refused))
        },
        if silent > 0 {
            format!(", {silent} got no final answer")
        } else {
            String::new()
        }
    );
    if relayed > limit {
        return Outcome::fail(format!("not held to its calls at once: {summary}"));
    }
    if refused.is_empty() && silent == 0 {
        return Outcome::fail(format!("no call was refused: {summary}"));
    }
    // Fewer set up than declared is no breach of §4.9: calls of earlier
    // checks may still count (an INVITE still ringing towards a silent
    // next hop does), so it is reported, not failed.
    let below = if up.len() < limit as usize {
        format!(
            " ({} below the declared limit: calls placed earlier may still count)",
            limit as usize - up.len()
        )
    } else {
        String::new()
    };
    // The places are free again: one more call goes through.
    let inv = ctx.request(RoleId::Peer, "INVITE", &ruri).build();
    let cid = call_id(&inv);
    ctx.send_to_iut(RoleId::Peer, &inv).await;
    if let Some(req) = ctx
        .expect_request(RoleId::Terminating, "INVITE", &cid)
        .await
    {
        ctx.answer(RoleId::Terminating, &req, 200, "OK", None).await;
    }
    let Some(after) = ctx.expect_final(RoleId::Peer, &cid, "INVITE").await else {
        return Outcome::fail(format!(
            "after {hung_up} calls were hung up, a new call got no final answer ({}): ended calls still count; {summary}",
            ctx.what_came(RoleId::Peer, &cid)
        ));
    };
    let ok = after.status() == Some(200);
    if let Some(ack) = in_dialog_from(ctx, RoleId::Peer, &inv, &after, "ACK", !ok) {
        ctx.send_to_iut(RoleId::Peer, &ack).await;
    }
    if !ok {
        return Outcome::fail(format!(
            "after {hung_up} calls were hung up, a new call was answered {}: ended calls still count; {summary}",
            after.summary()
        ));
    }
    hang_up_as(ctx, RoleId::Peer, &inv, &after).await;
    Outcome::pass(format!(
        "{summary}{below}; after {hung_up} calls were hung up, a new call was set up"
    ))
}

/// The next hop answers each INVITE of the check 200; returns how many came.
async fn answer_invites(ctx: &mut Ctx, invites: &HashMap<String, Vec<u8>>) -> u32 {
    let mut n = 0;
    for r in ctx.terminating.drain(Duration::ZERO).await {
        match request_of(&r) {
            Some((m, cid)) if m == "INVITE" && invites.contains_key(&cid) => {
                n += 1;
                ctx.answer(RoleId::Terminating, &r, 200, "OK", None).await;
            }
            _ => {}
        }
    }
    n
}

/// Final answers to the check's INVITEs at the peer.
async fn collect_finals(
    ctx: &mut Ctx,
    invites: &HashMap<String, Vec<u8>>,
    answers: &mut HashMap<String, Received>,
) {
    for r in ctx.peer.drain(Duration::ZERO).await {
        let Some(m) = r.msg() else { continue };
        let cid = m.core().call_id.to_string();
        let fin = m.status().is_some_and(|s| s >= 200) && m.core().cseq.method == "INVITE";
        if fin && invites.contains_key(&cid) && !answers.contains_key(&cid) {
            answers.insert(cid, r.clone());
        }
    }
}

/// BYE for a call placed by `from`, answered by the next hop; true when
/// the BYE's 200 came back.
async fn hang_up_as(ctx: &mut Ctx, from: RoleId, invite: &[u8], ok: &Received) -> bool {
    let Some(bye) = in_dialog_from(ctx, from, invite, ok, "BYE", false) else {
        return false;
    };
    let cid = call_id(&bye);
    ctx.send_to_iut(from, &bye).await;
    if let Some(req) = ctx.expect_request(RoleId::Terminating, "BYE", &cid).await {
        ctx.answer(RoleId::Terminating, &req, 200, "OK", None).await;
    }
    ctx.expect_final(from, &cid, "BYE")
        .await
        .is_some_and(|r| r.status() == Some(200))
}

/// "503 Service Unavailable (x5)" for a list of start lines.
fn counted(lines: &[String]) -> String {
    let mut c: Vec<(String, usize)> = Vec::new();
    for l in lines {
        match c.iter_mut().find(|(t, _)| t == l) {
            Some((_, n)) => *n += 1,
            None => c.push((l.clone(), 1)),
        }
    }
    c.into_iter()
        .map(|(l, n)| if n > 1 { format!("{l} x{n}") } else { l })
        .collect::<Vec<_>>()
        .join(", ")
}

/// How long the flood lasts. The first second drains whatever burst the
/// IUT allows (up to nine seconds' worth at ten times the rate); the
/// second is measured.
const FLOOD: Duration = Duration::from_secs(2);
/// Calls the second peer places during the flood; 99 % of ten is all ten.
const CALLS: usize = 10;
/// How far over the declared rate the measured second may go before it
/// fails: room for a bucket measured over a slightly different second.
const SLACK: f64 = 1.5;

/// A call the second peer places through the flood.
struct Call {
    invite: Vec<u8>,
    /// What ended it: the BYE's final, or the INVITE's failure.
    outcome: Option<Result<(), String>>,
    bye_sent: bool,
}

#[derive(Default)]
struct FloodTally {
    sent: usize,
    /// Relayed to the next hop, by send index.
    relayed: HashSet<usize>,
    answered_503: usize,
    with_retry_after: usize,
    answered_other: HashMap<u16, usize>,
}

async fn peer_rate_limit(ctx: &mut Ctx) -> Outcome {
    let Some(rate) = ctx.peer_rate else {
        return Outcome::inconclusive("the profile declares no per-peer rate to hold the IUT to");
    };
    let flood_rate = 10 * rate as usize;
    let total = flood_rate * FLOOD.as_secs() as usize;
    let ruri = format!("sip:flood@{}", sip_hostport(ctx.terminating.addr()));
    let call_ruri = format!("sip:+15105550150@{}", sip_hostport(ctx.terminating.addr()));
    // First, one call from the second peer with no flood: if that fails,
    // the lab is wrong (the IUT does not take it for a peer), not the
    // rate limit.
    let mut calls: HashMap<String, Call> = HashMap::new();
    let inv = ctx
        .request(RoleId::SecondPeer, "INVITE", &call_ruri)
        .build();
    let cid = call_id(&inv);
    calls.insert(
        cid.clone(),
        Call {
            invite: inv.clone(),
            outcome: None,
            bye_sent: false,
        },
    );
    ctx.send_to_iut(RoleId::SecondPeer, &inv).await;
    let deadline = Instant::now() + ctx.timing.response;
    while calls[&cid].outcome.is_none() && Instant::now() < deadline {
        for r in ctx.terminating.drain(Duration::ZERO).await {
            if request_of(&r).is_some_and(|(m, _)| m != "ACK") {
                ctx.answer(RoleId::Terminating, &r, 200, "OK", None).await;
            }
        }
        for r in ctx.second_peer.drain(Duration::ZERO).await {
            second_peer_answer(ctx, &mut calls, &r).await;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    match &calls[&cid].outcome {
        Some(Ok(())) => {}
        Some(Err(e)) => {
            return Outcome::inconclusive(format!(
                "before any flood, a call from the second peer ({}) failed: {e}; the IUT must accept it as a peer",
                ctx.second_peer.addr()
            ));
        }
        None => {
            return Outcome::inconclusive(format!(
                "before any flood, a call from the second peer ({}) did not complete ({}); the IUT must accept it as a peer",
                ctx.second_peer.addr(),
                ctx.what_came(RoleId::SecondPeer, &cid)
            ));
        }
    }
    calls.clear();
    let mut flood_ids: HashMap<String, usize> = HashMap::new();
    let mut tally = FloodTally::default();
    let start = Instant::now();
    let flood_end = start + FLOOD;
    // After the flood, the usual wait for the last answers.
    let end = flood_end + ctx.timing.response;
    let tick = Duration::from_millis(5);
    loop {
        let now = Instant::now();
        if now < flood_end {
            let due = ((now - start).as_secs_f64() * flood_rate as f64) as usize + 1;
            while tally.sent < due.min(total) {
                let req = ctx.request(RoleId::Peer, "OPTIONS", &ruri).build();
                flood_ids.insert(call_id(&req), tally.sent);
                ctx.send_to_iut(RoleId::Peer, &req).await;
                tally.sent += 1;
            }
            let due_calls =
                (now - start).as_millis() as usize * CALLS / FLOOD.as_millis() as usize + 1;
            while calls.len() < due_calls.min(CALLS) {
                let inv = ctx
                    .request(RoleId::SecondPeer, "INVITE", &call_ruri)
                    .build();
                calls.insert(
                    call_id(&inv),
                    Call {
                        invite: inv.clone(),
                        outcome: None,
                        bye_sent: false,
                    },
                );
                ctx.send_to_iut(RoleId::SecondPeer, &inv).await;
            }
        }
        // The next hop answers everything that reaches it.
        for r in ctx.terminating.drain(Duration::ZERO).await {
            let Some((method, cid)) = request_of(&r) else {
                continue;
            };
            if let Some(&i) = flood_ids.get(&cid) {
                tally.relayed.insert(i);
            }
            if method != "ACK" {
                ctx.answer(RoleId::Terminating, &r, 200, "OK", None).await;
            }
        }
        for r in ctx.peer.drain(Duration::ZERO).await {
            let Some(m) = r.msg() else { continue };
            let Some(code) = m.status().filter(|c| *c >= 200) else {
                continue;
            };
            if !flood_ids.contains_key(m.core().call_id) {
                continue;
            }
            if code == 503 {
                tally.answered_503 += 1;
                if m.header_by_name("Retry-After").is_some() {
                    tally.with_retry_after += 1;
                }
            } else {
                *tally.answered_other.entry(code).or_default() += 1;
            }
        }
        for r in ctx.second_peer.drain(Duration::ZERO).await {
            second_peer_answer(ctx, &mut calls, &r).await;
        }
        let calls_done = calls.len() == CALLS && calls.values().all(|c| c.outcome.is_some());
        // Late answers to the last of the flood come within the silence wait.
        if now >= end || (now >= flood_end + ctx.timing.silence && calls_done) {
            break;
        }
        tokio::time::sleep(tick).await;
    }
    // Give the peer's budget a second to refill, so that the liveness
    // probe after the check is not refused as part of the flood.
    tokio::time::sleep_until(flood_end + Duration::from_secs(1)).await;
    judge(rate, &tally, &calls, ctx.timing.response)
}

/// Method and Call-ID of a request.
fn request_of(r: &Received) -> Option<(String, String)> {
    let m = r.msg()?;
    m.is_request()
        .then(|| (m.method().to_string(), m.core().call_id.to_string()))
}

/// The second peer's side of a call: ACK and BYE after the 200, done
/// after the BYE's 200.
async fn second_peer_answer(ctx: &mut Ctx, calls: &mut HashMap<String, Call>, r: &Received) {
    let Some(m) = r.msg() else { return };
    let (Some(code), cid) = (m.status(), m.core().call_id.to_string()) else {
        return;
    };
    let method = m.core().cseq.method.to_string();
    let Some(call) = calls.get_mut(&cid) else {
        return;
    };
    if code < 200 || call.outcome.is_some() {
        return;
    }
    match (method.as_str(), code) {
        ("INVITE", 200..=299) if !call.bye_sent => {
            call.bye_sent = true;
            let invite = call.invite.clone();
            for what in ["ACK", "BYE"] {
                if let Some(req) = in_dialog_from(ctx, RoleId::SecondPeer, &invite, r, what, false)
                {
                    ctx.send_to_iut(RoleId::SecondPeer, &req).await;
                }
            }
        }
        ("INVITE", _) if code >= 300 => {
            // Hop-by-hop ACK for the failure; the call failed.
            let invite = call.invite.clone();
            if let Some(ack) = in_dialog_from(ctx, RoleId::SecondPeer, &invite, r, "ACK", true) {
                ctx.send_to_iut(RoleId::SecondPeer, &ack).await;
            }
            call.outcome = Some(Err(format!("INVITE answered {}", r.summary())));
        }
        ("BYE", 200..=299) => call.outcome = Some(Ok(())),
        ("BYE", _) => call.outcome = Some(Err(format!("BYE answered {}", r.summary()))),
        _ => {}
    }
}

fn judge(rate: u32, tally: &FloodTally, calls: &HashMap<String, Call>, wait: Duration) -> Outcome {
    let half = tally.sent / 2;
    let measured = tally.relayed.iter().filter(|&&i| i >= half).count();
    let allowed = (f64::from(rate) * SLACK).ceil() as usize + 1;
    let answered = tally.answered_503 + tally.answered_other.values().sum::<usize>();
    let silent = tally.sent.saturating_sub(answered);
    let mut others: Vec<String> = tally
        .answered_other
        .iter()
        .map(|(c, n)| format!("{n} got {c}"))
        .collect();
    others.sort();
    let flood = format!(
        "the peer sent {} OPTIONS in {} s, ten times its declared {rate}/s; {} were relayed ({measured} in the second half, where at most {allowed} may be); {} got 503 ({} with Retry-After){}{}",
        tally.sent,
        FLOOD.as_secs(),
        tally.relayed.len(),
        tally.answered_503,
        tally.with_retry_after,
        if others.is_empty() {
            String::new()
        } else {
            format!(", {}", others.join(", "))
        },
        if silent > 0 {
            format!(", {silent} got no final answer")
        } else {
            String::new()
        },
    );
    let completed = calls.values().filter(|c| c.outcome == Some(Ok(()))).count();
    let mut failures: Vec<String> = calls
        .values()
        .filter_map(|c| match &c.outcome {
            Some(Err(e)) => Some(e.clone()),
            Some(Ok(())) => None,
            None if c.bye_sent => Some(format!(
                "no final answer to the BYE within {} ms",
                wait.as_millis()
            )),
            None => Some(format!(
                "no final answer to the INVITE within {} ms",
                wait.as_millis()
            )),
        })
        .collect();
    failures.sort();
    failures.dedup();
    let second = format!(
        "the second peer completed {completed} of {} calls",
        calls.len()
    );
    if measured > allowed {
        return Outcome::fail(format!("not held to its rate: {flood}; {second}"));
    }
    // 99 % of the second peer's calls must complete.
    if completed * 100 < calls.len() * 99 || calls.len() < CALLS {
        return Outcome::fail(format!(
            "the flood denied service to the second peer: {second} ({}); {flood}",
            failures.join("; ")
        ));
    }
    Outcome::pass(format!("{flood}; {second}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calls(done: usize, failed: usize) -> HashMap<String, Call> {
        (0..done + failed)
            .map(|i| {
                let outcome = if i < done {
                    Ok(())
                } else {
                    Err("INVITE answered SIP/2.0 503 Service Unavailable".to_string())
                };
                (
                    format!("c{i}"),
                    Call {
                        invite: Vec::new(),
                        outcome: Some(outcome),
                        bye_sent: true,
                    },
                )
            })
            .collect()
    }

    fn flood(sent: usize, relayed_late: usize) -> FloodTally {
        FloodTally {
            sent,
            relayed: (sent / 2..sent / 2 + relayed_late).collect(),
            answered_503: sent - relayed_late,
            with_retry_after: sent - relayed_late,
            answered_other: HashMap::new(),
        }
    }

    #[test]
    fn the_verdict_follows_the_measured_second_and_the_second_peer() {
        let held = judge(20, &flood(400, 25), &calls(10, 0), Duration::from_secs(2));
        assert_eq!(held.verdict, speermint_harness::Verdict::Pass, "{held:?}");
        let flooded = judge(20, &flood(400, 200), &calls(10, 0), Duration::from_secs(2));
        assert_eq!(flooded.verdict, speermint_harness::Verdict::Fail);
        assert!(flooded.reason.contains("not held"), "{}", flooded.reason);
        let starved = judge(20, &flood(400, 20), &calls(9, 1), Duration::from_secs(2));
        assert_eq!(starved.verdict, speermint_harness::Verdict::Fail);
        assert!(
            starved.reason.contains("completed 9 of 10") && starved.reason.contains("503"),
            "{}",
            starved.reason
        );
    }
}

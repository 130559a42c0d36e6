//! RFC 3261 proxy rules that peering depends on.

use crate::dialog::{ack_failure, call_id};
use speermint_harness::ctx::sip_hostport;
use speermint_harness::{Check, Ctx, Level, Outcome, Ref, RoleId};
use speermint_sbe::Fault;

/// RFC 3261 §16.3 item 2 and §16.6 step 3: Max-Forwards stops loops.
pub(crate) const MAX_FORWARDS: Check = Check {
    id: "max-forwards-loop-protection",
    title: "Max-Forwards 0 is answered 483 and not relayed; otherwise it is decremented",
    covers: &[Ref::Rfc3261("16.3"), Ref::Rfc3261("16.6")],
    level: Level::Must,
    requirement: "A proxy answers a request whose Max-Forwards is 0 with 483 Too Many Hops and decrements it on every request it forwards (RFC 3261 §16.3, §16.6).",
    fails_under: &[Fault::IgnoreMaxForwards],
    needs: &[],
    scenario: |ctx| Box::pin(max_forwards(ctx)),
};

async fn max_forwards(ctx: &mut Ctx) -> Outcome {
    let ruri = format!("sip:+15105550102@{}", sip_hostport(ctx.terminating.addr()));
    let invite = String::from_utf8_lossy(&ctx.request(RoleId::Peer, "INVITE", &ruri).build())
        .replace("Max-Forwards: 70\r\n", "Max-Forwards: 0\r\n")
        .into_bytes();
    let cid = call_id(&invite);
    ctx.send_to_iut(RoleId::Peer, &invite).await;
    if let Some(r) = ctx.nothing_for(RoleId::Terminating, &cid).await {
        return Outcome::fail(format!(
            "an INVITE with Max-Forwards 0 was relayed: {}",
            r.summary()
        ));
    }
    let Some(fin) = ctx.expect_final(RoleId::Peer, &cid, "INVITE").await else {
        return Outcome::fail(format!(
            "an INVITE with Max-Forwards 0 got no final response, 483 expected ({})",
            ctx.what_came(RoleId::Peer, &cid)
        ));
    };
    ack_failure(ctx, &invite, &fin).await;
    if fin.status() != Some(483) {
        return Outcome::fail(format!(
            "an INVITE with Max-Forwards 0 was answered {} instead of 483",
            fin.summary()
        ));
    }

    let opt = String::from_utf8_lossy(&ctx.request(RoleId::Peer, "OPTIONS", &ruri).build())
        .replace("Max-Forwards: 70\r\n", "Max-Forwards: 7\r\n")
        .into_bytes();
    let cid = call_id(&opt);
    ctx.send_to_iut(RoleId::Peer, &opt).await;
    let Some(fwd) = ctx
        .expect_request(RoleId::Terminating, "OPTIONS", &cid)
        .await
    else {
        return Outcome::inconclusive(format!(
            "483 was right, but an OPTIONS with Max-Forwards 7 was not relayed, so decrementing could not be observed; the peer got {}",
            ctx.what_came(RoleId::Peer, &cid)
        ));
    };
    ctx.answer(RoleId::Terminating, &fwd, 200, "OK", None).await;
    ctx.expect_final(RoleId::Peer, &cid, "OPTIONS").await;
    match fwd.msg().and_then(|m| m.core().max_forwards) {
        Some(6) => Outcome::pass(
            "Max-Forwards 0 answered 483 and not relayed; Max-Forwards 7 relayed as 6",
        ),
        other => Outcome::fail(format!(
            "an OPTIONS sent with Max-Forwards 7 was relayed with {other:?} (6 expected)"
        )),
    }
}

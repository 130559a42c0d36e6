//! RFC 6271 #2: an SSP communicates its egress SBEs, so that a peer can
//! plan capacity and admit calls by where they come from. The check holds
//! the IUT to what its SSP declared: a call from its inside reaches the
//! peer from one of the declared addresses.

use crate::dialog::{call_id, in_dialog_from};
use speermint_harness::check::Capability;
use speermint_harness::ctx::sip_hostport;
use speermint_harness::{Check, Ctx, Level, Outcome, Ref, RoleId};
use speermint_sbe::Fault;

pub(crate) const EGRESS_FROM_DECLARED_SBE: Check = Check {
    id: "egress-from-declared-sbe",
    title: "a call from the IUT's inside reaches the peer from an egress SBE address its SSP declared",
    covers: &[Ref::Rfc6271(2)],
    level: Level::Must,
    requirement: "An SSP can communicate the egress SBEs of its domain (RFC 6271 #2); what it communicates must be where its calls come from, or a peer admitting by source refuses them.",
    fails_under: &[Fault::UndeclaredEgress],
    needs: &[Capability::Egress],
    scenario: |ctx| Box::pin(egress_from_declared_sbe(ctx)),
};

async fn egress_from_declared_sbe(ctx: &mut Ctx) -> Outcome {
    let Some(declared) = ctx.egress.clone() else {
        return Outcome::inconclusive("the profile declares no egress SBE addresses");
    };
    let listed = declared
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let ruri = format!("sip:+15105550190@{}", sip_hostport(ctx.peer.addr()));
    let inv = ctx.request(RoleId::Terminating, "INVITE", &ruri).build();
    let cid = call_id(&inv);
    ctx.send_to_iut(RoleId::Terminating, &inv).await;
    let arrived = ctx.expect_request(RoleId::Peer, "INVITE", &cid).await;
    if let Some(req) = &arrived {
        ctx.answer(RoleId::Peer, req, 486, "Busy Here", None).await;
    }
    let fin = ctx.expect_final(RoleId::Terminating, &cid, "INVITE").await;
    let instead = match &fin {
        Some(r) => r.summary(),
        None => ctx.what_came(RoleId::Terminating, &cid),
    };
    if let Some(r) = &fin {
        if let Some(ack) = in_dialog_from(ctx, RoleId::Terminating, &inv, r, "ACK", true) {
            ctx.send_to_iut(RoleId::Terminating, &ack).await;
        }
    }
    let Some(req) = arrived else {
        return Outcome::inconclusive(format!(
            "the IUT did not relay a call from its inside to the peer ({ruri}), so where its calls leave from could not be seen; the inside got {instead}"
        ));
    };
    if declared.contains(&req.from.ip()) {
        Outcome::pass(format!(
            "the call reached the peer from {}, a declared egress SBE ({listed})",
            req.from
        ))
    } else {
        Outcome::fail(format!(
            "the call reached the peer from {}, which is not among the declared egress SBEs ({listed})",
            req.from
        ))
    }
}

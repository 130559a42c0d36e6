//! RFC 6404 §4.4 (cross-domain privacy) through asserted identity: what
//! the IUT lets P-Asserted-Identity say across the border (RFC 3325 §5-§7,
//! RFC 3323 §5). The terminating role plays the IUT's inside, which is in
//! its trust domain; the peer is outside it.

use crate::dialog::{call_id, in_dialog_from};
use speermint_harness::ctx::sip_hostport;
use speermint_harness::role::Received;
use speermint_harness::{Check, Ctx, Level, Outcome, Ref, RoleId};
use speermint_sbe::Fault;

pub(crate) const ASSERTED_IDENTITY_PRIVACY: Check = Check {
    id: "asserted-identity-privacy",
    title: "P-Asserted-Identity leaves towards the peer only as Privacy allows, the peer's own is not believed, and critical header privacy is given or refused",
    covers: &[Ref::Rfc6404(4)],
    level: Level::Must,
    requirement: "At the edge of its trust domain a border element removes P-Asserted-Identity towards a peer outside it when the user asked for id privacy, keeps it under Privacy: none, removes P-Preferred-Identity, does not pass on an identity asserted by an untrusted peer, and fails a request whose critical privacy it cannot give (RFC 3325 §5-§7, RFC 3323 §5, RFC 6404 §4.4).",
    fails_under: &[
        Fault::LeakAssertedIdentity,
        Fault::StripAssertedIdentity,
        Fault::TrustPeerIdentity,
        Fault::IgnoreCriticalPrivacy,
    ],
    needs: &[],
    scenario: |ctx| Box::pin(asserted_identity_privacy(ctx)),
};

/// The identity the inside asserts for its caller.
const INSIDE_PAI: &str = "\"Alice\" <sip:+441632960001@ssp.example>";
/// What the inside's caller would have preferred (never to leave).
const INSIDE_PPI: &str = "<sip:alice@ssp.example>";
/// An identity the peer asserts for itself: not to be believed.
const PEER_PAI: &str = "<sip:+15105550999@peer.example;user=phone>";

/// One request across the IUT and what arrived on the far side.
struct Crossing {
    /// The request as the far side received it, if it did.
    arrived: Option<Received>,
    /// What the sender got instead, when it did not arrive.
    instead: String,
}

/// Sends an INVITE from `from` with `headers`, waits for it at `to`,
/// answers 486 there and acknowledges it, so that nothing stays up.
async fn cross(
    ctx: &mut Ctx,
    from: RoleId,
    to: RoleId,
    ruri: &str,
    headers: &[(&str, &str)],
) -> Crossing {
    let mut b = ctx.request(from, "INVITE", ruri);
    for (n, v) in headers {
        b = b.header(n, v);
    }
    let inv = b.build();
    let cid = call_id(&inv);
    ctx.send_to_iut(from, &inv).await;
    let arrived = ctx.expect_request(to, "INVITE", &cid).await;
    if let Some(req) = &arrived {
        ctx.answer(to, req, 486, "Busy Here", None).await;
    }
    let fin = ctx.expect_final(from, &cid, "INVITE").await;
    let instead = match &fin {
        Some(r) => r.summary(),
        None => ctx.what_came(from, &cid),
    };
    if let Some(r) = &fin {
        if let Some(ack) = in_dialog_from(ctx, from, &inv, r, "ACK", true) {
            ctx.send_to_iut(from, &ack).await;
        }
    }
    Crossing { arrived, instead }
}

/// The values of a header in a received request.
fn values(r: &Received, name: &str) -> Vec<String> {
    let Some(m) = r.msg() else {
        return Vec::new();
    };
    m.headers()
        .iter()
        .filter(|h| h.name_raw.eq_ignore_ascii_case(name))
        .filter_map(|h| h.value_str().map(|v| v.trim().to_string()))
        .collect()
}

async fn asserted_identity_privacy(ctx: &mut Ctx) -> Outcome {
    let to_peer = format!("sip:+15105550170@{}", sip_hostport(ctx.peer.addr()));
    let inside = format!("sip:+441632960002@{}", sip_hostport(ctx.terminating.addr()));
    let mut findings = Vec::new();
    let mut seen = Vec::new();

    // 1. The inside's caller asks for id privacy (RFC 3325 §7).
    let c = cross(
        ctx,
        RoleId::Terminating,
        RoleId::Peer,
        &to_peer,
        &[
            ("P-Asserted-Identity", INSIDE_PAI),
            ("P-Preferred-Identity", INSIDE_PPI),
            ("Privacy", "id"),
        ],
    )
    .await;
    let Some(r) = c.arrived else {
        return Outcome::inconclusive(format!(
            "an INVITE from the inside to the peer ({to_peer}) was not relayed, so what leaves could not be seen; the inside got {}",
            c.instead
        ));
    };
    let pai = values(&r, "P-Asserted-Identity");
    if !pai.is_empty() {
        findings.push(format!(
            "under Privacy: id the peer still got P-Asserted-Identity: {}",
            pai.join(", ")
        ));
    }
    let ppi = values(&r, "P-Preferred-Identity");
    if !ppi.is_empty() {
        findings.push(format!(
            "P-Preferred-Identity left the domain: {}",
            ppi.join(", ")
        ));
    }
    seen.push(format!(
        "Privacy: id reached the peer as {}",
        describe(&pai, &values(&r, "Privacy"))
    ));

    // 2. Privacy: none: the identity must go as it was (RFC 3325 §7,
    // RFC 3323 §5).
    let c = cross(
        ctx,
        RoleId::Terminating,
        RoleId::Peer,
        &to_peer,
        &[("P-Asserted-Identity", INSIDE_PAI), ("Privacy", "none")],
    )
    .await;
    let Some(r) = c.arrived else {
        return Outcome::inconclusive(format!(
            "an INVITE from the inside to the peer with Privacy: none was not relayed; the inside got {}",
            c.instead
        ));
    };
    let pai = values(&r, "P-Asserted-Identity");
    let privacy = values(&r, "Privacy");
    if pai != [INSIDE_PAI] {
        findings.push(format!(
            "under Privacy: none the P-Asserted-Identity {INSIDE_PAI} reached the peer as {}",
            if pai.is_empty() {
                "nothing".to_string()
            } else {
                pai.join(", ")
            }
        ));
    }
    if privacy != ["none"] {
        findings.push(format!(
            "Privacy: none was changed to {:?}",
            privacy.join(", ")
        ));
    }
    seen.push(format!(
        "Privacy: none reached the peer as {}",
        describe(&pai, &privacy)
    ));

    // 3. The peer asserts an identity of its own (RFC 3325 §5).
    let c = cross(
        ctx,
        RoleId::Peer,
        RoleId::Terminating,
        &inside,
        &[
            ("P-Asserted-Identity", PEER_PAI),
            ("P-Preferred-Identity", PEER_PAI),
        ],
    )
    .await;
    let Some(r) = c.arrived else {
        return Outcome::inconclusive(format!(
            "an INVITE from the peer carrying its own P-Asserted-Identity was not relayed; the peer got {}",
            c.instead
        ));
    };
    let pai = values(&r, "P-Asserted-Identity");
    if pai.iter().any(|v| v.contains("+15105550999@peer.example")) {
        findings.push(format!(
            "the identity the peer asserted reached the inside: P-Asserted-Identity: {}",
            pai.join(", ")
        ));
    }
    let ppi = values(&r, "P-Preferred-Identity");
    if !ppi.is_empty() {
        findings.push(format!(
            "the peer's P-Preferred-Identity reached the inside: {}",
            ppi.join(", ")
        ));
    }
    seen.push(format!(
        "the peer's own assertion reached the inside as {}",
        describe(&pai, &values(&r, "Privacy"))
    ));

    // 4. Header privacy asked for as critical (RFC 3323 §5, §5.1): given
    // (no address of the inside in what the peer gets) or refused with 500.
    let inside_host = ctx.terminating.addr().ip().to_string();
    let c = cross(
        ctx,
        RoleId::Terminating,
        RoleId::Peer,
        &to_peer,
        &[("Privacy", "header;critical")],
    )
    .await;
    match c.arrived {
        None if c.instead.starts_with("SIP/2.0 500") => {
            seen.push(format!(
                "Privacy: header;critical was refused: {}",
                c.instead
            ));
        }
        None => {
            return Outcome::inconclusive(format!(
                "an INVITE from the inside asking for critical header privacy was neither relayed nor refused with 500; the inside got {}",
                c.instead
            ));
        }
        Some(r) => {
            let leaks: Vec<String> = ["Via", "Contact", "Record-Route"]
                .into_iter()
                .flat_map(|n| values(&r, n).into_iter().map(move |v| format!("{n}: {v}")))
                .filter(|v| v.contains(&inside_host))
                .collect();
            if leaks.is_empty() {
                seen.push(
                    "Privacy: header;critical was given: no address of the inside reached the peer"
                        .into(),
                );
            } else {
                findings.push(format!(
                    "Privacy: header;critical was neither given nor refused with 500: the peer got {}",
                    leaks.join("; ")
                ));
            }
        }
    }

    if findings.is_empty() {
        Outcome::pass(seen.join("; "))
    } else {
        Outcome::fail(findings.join("; "))
    }
}

/// "no P-Asserted-Identity and no Privacy", "P-Asserted-Identity: x, Privacy: none".
fn describe(pai: &[String], privacy: &[String]) -> String {
    let p = if pai.is_empty() {
        "no P-Asserted-Identity".to_string()
    } else {
        format!("P-Asserted-Identity: {}", pai.join(", "))
    };
    let q = if privacy.is_empty() {
        "no Privacy".to_string()
    } else {
        format!("Privacy: {}", privacy.join(", "))
    };
    format!("{p} and {q}")
}

//! RFC 6404 §4.7 (strong identity assertion) against user ID spoofing and
//! billing fraud: the IUT verifies the RFC 8224 Identity of what a peer
//! sends (refusing it missing where required, forged, stale, or signed
//! with a certificate for another domain) and signs what it sends.

use crate::dialog::{call_id, in_dialog_from};
use speermint_harness::check::Capability;
use speermint_harness::ctx::sip_hostport;
use speermint_harness::role::Received;
use speermint_harness::{Check, Ctx, Level, Outcome, Ref, RoleId};
use speermint_identity::{Claims, verify_request};
use speermint_sbe::Fault;

pub(crate) const IDENTITY_VERIFIED_AND_SIGNED: Check = Check {
    id: "identity-verified-and-signed",
    title: "INVITEs from the peer with a missing, forged, stale or mismatched RFC 8224 Identity are refused, a valid one crosses, and the IUT signs its own",
    covers: &[
        Ref::Rfc6404(7),
        Ref::Rfc6404Threat("SF-billing-fraud"),
        Ref::Rfc6404Threat("SF-user-id-spoofing"),
    ],
    level: Level::Must,
    requirement: "A border element asserts identity strongly: it verifies the Identity of requests from peers and refuses them with 428, 438 or 403 as RFC 8224 §6.2.2 says, and signs the requests it sends (RFC 8224 §5, §6; RFC 6404 §4.7).",
    fails_under: &[Fault::AcceptBadIdentity, Fault::UnsignedEgress],
    needs: &[Capability::Identity],
    scenario: |ctx| Box::pin(identity_verified_and_signed(ctx)),
};

/// What became of one INVITE from the peer.
struct Sent {
    relayed: bool,
    /// The final answer the peer got, as a start line, or what came.
    answer: String,
    status: Option<u16>,
}

/// `refusal`: a refusal is expected, so a relay would show within the
/// silence window (the usual wait for what must not come).
async fn send_from_peer(ctx: &mut Ctx, identity: Option<String>, refusal: bool) -> Sent {
    let Some(lab) = ctx.identity.as_ref() else {
        return Sent {
            relayed: false,
            answer: String::new(),
            status: None,
        };
    };
    let from_uri = format!("sip:alice@{}", lab.peer_domain);
    let ruri = format!("sip:+15105550200@{}", sip_hostport(ctx.terminating.addr()));
    let mut b = ctx.request_as(RoleId::Peer, "INVITE", &ruri, &from_uri);
    if let Some(v) = identity {
        b = b.header("Identity", v);
    }
    let inv = b.build();
    let cid = call_id(&inv);
    ctx.send_to_iut(RoleId::Peer, &inv).await;
    // Whatever the verdict, a relayed INVITE is refused downstream so
    // nothing stays up.
    let wait = if refusal {
        ctx.timing.silence
    } else {
        ctx.timing.response
    };
    let c = cid.clone();
    let arrived = ctx
        .terminating
        .recv_matching(wait, move |r| {
            r.msg()
                .is_some_and(|m| m.method() == "INVITE" && m.core().call_id == c)
        })
        .await;
    let relayed = match arrived {
        Some(req) => {
            ctx.answer(RoleId::Terminating, &req, 486, "Busy Here", None)
                .await;
            true
        }
        None => false,
    };
    let fin = ctx.expect_final(RoleId::Peer, &cid, "INVITE").await;
    let (answer, status) = match &fin {
        Some(r) => (r.summary(), r.status()),
        None => (ctx.what_came(RoleId::Peer, &cid), None),
    };
    if let Some(r) = &fin {
        if let Some(ack) = in_dialog_from(ctx, RoleId::Peer, &inv, r, "ACK", true) {
            ctx.send_to_iut(RoleId::Peer, &ack).await;
        }
    }
    Sent {
        relayed,
        answer,
        status,
    }
}

/// The claims of a request the peer is about to send, at `iat`.
fn claims(ctx: &Ctx, iat: u64) -> Option<Claims> {
    let lab = ctx.identity.as_ref()?;
    let text = format!(
        "INVITE sip:x@invalid SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK0\r\nFrom: <sip:alice@{}>;tag=0\r\nTo: <sip:+15105550200@{}>\r\nCall-ID: 0\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
        lab.peer_domain,
        sip_hostport(ctx.terminating.addr())
    );
    Claims::of_request(&speermint_sip::Message::parse(text.as_bytes()).ok()?, iat)
}

async fn identity_verified_and_signed(ctx: &mut Ctx) -> Outcome {
    let Some(now) = ctx.identity.as_ref().map(|l| l.unix_now()) else {
        return Outcome::inconclusive(
            "no RFC 8224 credentials are shared with this IUT, so its verification and signing cannot be exercised",
        );
    };
    let Some(good_claims) = claims(ctx, now) else {
        return Outcome::inconclusive("could not form the claims of the test call");
    };
    let lab = ctx.identity.as_ref().expect("checked above");
    let sign = |k: &speermint_identity::SigningKey, c: &Claims| k.sign(c).ok();
    let Some(valid) = sign(&lab.peer, &good_claims) else {
        return Outcome::inconclusive("the harness could not sign");
    };
    let stale = sign(
        &lab.peer,
        &Claims {
            iat: now.saturating_sub(300),
            ..good_claims.clone()
        },
    );
    let other_domain = sign(&lab.elsewhere, &good_claims);
    // The signature of the genuine token over someone else's claims.
    let forged = {
        let mut parts: Vec<&str> = valid.splitn(3, '.').collect();
        let fake =
            r#"{"dest":{"tn":["15105550200"]},"iat":IAT,"orig":{"uri":"sip:mallory@x.example"}}"#
                .replace("IAT", &now.to_string());
        let fake = base64_url(fake.as_bytes());
        parts[1] = &fake;
        parts.join(".")
    };
    let cases: [(&str, Option<String>, &[u16]); 4] = [
        ("without Identity (required for its domain)", None, &[428]),
        ("with a forged signature", Some(forged), &[438]),
        (
            "signed with a certificate for elsewhere.example",
            other_domain,
            &[438, 437],
        ),
        ("signed five minutes ago", stale, &[403]),
    ];
    let mut findings = Vec::new();
    let mut seen = Vec::new();
    for (what, identity, want) in cases {
        let s = send_from_peer(ctx, identity, true).await;
        if s.relayed {
            findings.push(format!(
                "an INVITE {what} was relayed (the peer got {})",
                s.answer
            ));
        } else if s.status.is_some_and(|c| want.contains(&c)) {
            seen.push(format!("{what}: {}", s.answer));
        } else {
            let wanted: Vec<String> = want.iter().map(u16::to_string).collect();
            findings.push(format!(
                "an INVITE {what} was not relayed but got {} where RFC 8224 §6.2.2 says {}",
                s.answer,
                wanted.join(" or ")
            ));
        }
    }
    let s = send_from_peer(ctx, Some(valid), false).await;
    if !s.relayed {
        return Outcome::inconclusive(format!(
            "a correctly signed INVITE from the peer was not relayed either (the peer got {}), so refusals say nothing; {}",
            s.answer,
            findings.join("; ")
        ));
    }
    seen.push("a valid one crossed".into());
    // The IUT's own INVITE to the peer carries its Identity.
    match egress_identity(ctx).await {
        Err(e) => return Outcome::inconclusive(e),
        Ok(Ok(v)) => seen.push(v),
        Ok(Err(f)) => findings.push(f),
    }
    if findings.is_empty() {
        Outcome::pass(seen.join("; "))
    } else {
        Outcome::fail(findings.join("; "))
    }
}

/// Sends an INVITE from the inside to the peer and verifies the Identity
/// it arrives with. Outer `Err`: not relayed (inconclusive); inner: the
/// verdict.
async fn egress_identity(ctx: &mut Ctx) -> Result<Result<String, String>, String> {
    let ruri = format!("sip:bob@{}", sip_hostport(ctx.peer.addr()));
    let inv = ctx
        .request_as(
            RoleId::Terminating,
            "INVITE",
            &ruri,
            "sip:+441632960001@ssp.example;user=phone",
        )
        .build();
    let cid = call_id(&inv);
    ctx.send_to_iut(RoleId::Terminating, &inv).await;
    let arrived: Option<Received> = ctx.expect_request(RoleId::Peer, "INVITE", &cid).await;
    if let Some(req) = &arrived {
        ctx.answer(RoleId::Peer, req, 486, "Busy Here", None).await;
    }
    if let Some(fin) = ctx.expect_final(RoleId::Terminating, &cid, "INVITE").await {
        if let Some(ack) = in_dialog_from(ctx, RoleId::Terminating, &inv, &fin, "ACK", true) {
            ctx.send_to_iut(RoleId::Terminating, &ack).await;
        }
    }
    let Some(req) = arrived else {
        return Err(format!(
            "a call from the inside to the peer was not relayed, so the IUT's signing could not be seen; the inside got {}",
            ctx.what_came(RoleId::Terminating, &cid)
        ));
    };
    let Some(msg) = req.msg() else {
        return Err("the INVITE the peer got did not parse".into());
    };
    let lab = ctx.identity.as_ref().expect("checked by the caller");
    let now = lab.unix_now();
    Ok(match verify_request(&msg, &lab.iut, now, 60) {
        Ok(c) => Ok(format!(
            "the IUT's own INVITE arrived signed for {} (verified)",
            c.orig
        )),
        Err(f) if f.status() == 428 => {
            Err("the IUT's own INVITE to the peer arrived without Identity".into())
        }
        Err(f) => Err(format!(
            "the IUT's own INVITE to the peer carries an Identity that does not verify: {}",
            f.reason()
        )),
    })
}

/// base64url without padding (RFC 7515 §2), for the forged payload.
fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

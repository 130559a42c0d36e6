//! RFC 3261 §26.2.2 and RFC 5922 §7: a request for a `sips:` target
//! leaves only over TLS, to a server that proves the target's domain, and
//! between SSPs the IUT proves its own (mutual TLS, RFC 6404 §4.5). The
//! peer domain's `_sips._tcp` names the harness's `tls-peer` role, which
//! presents a certificate for another domain first, then for the peer's.

use crate::dialog::{call_id, in_dialog_from};
use speermint_dns_role::DnsRole;
use speermint_harness::role::Received;
use speermint_harness::tls_role::TlsConn;
use speermint_harness::{Capability, Check, Ctx, Level, Outcome, Ref, RoleId};
use speermint_sbe::Fault;

pub(crate) const SIPS_EGRESS_OVER_TLS: Check = Check {
    id: "sips-egress-over-tls",
    title: "a sips: INVITE leaves over TLS with the IUT's certificate for its domain, only to a server proving the target's domain; a server proving another gets nothing, in TLS or in the clear",
    covers: &[
        Ref::Rfc6404(5),
        Ref::Rfc6271(6),
        Ref::Rfc6404Threat("LRF-mitm"),
    ],
    level: Level::Must,
    requirement: "A sips: request is sent over TLS on every hop, never downgraded (RFC 3261 §26.2.2, RFC 5630 §3.1.3); the client accepts the server only if its certificate names the target's domain (RFC 5922 §7.2); between SSPs both ends authenticate (RFC 6404 §4.5).",
    fails_under: &[
        Fault::AcceptAnyServerCert,
        Fault::DowngradeSips,
        Fault::TlsNoClientCert,
    ],
    needs: &[Capability::DnsRole, Capability::Tls, Capability::TlsEgress],
    scenario: |ctx| {
        Box::pin(crate::sed::with_dns(ctx, |c, d| {
            Box::pin(sips_egress(c, d))
        }))
    },
};

/// The terminating role calls `ruri`; the final answer is ACKed.
async fn call(ctx: &mut Ctx, ruri: &str) -> Option<Received> {
    let invite = ctx.request(RoleId::Terminating, "INVITE", ruri).build();
    let cid = call_id(&invite);
    ctx.send_to_iut(RoleId::Terminating, &invite).await;
    let fin = ctx.expect_final(RoleId::Terminating, &cid, "INVITE").await;
    if let Some(resp) = &fin {
        if let Some(ack) = in_dialog_from(ctx, RoleId::Terminating, &invite, resp, "ACK", true) {
            ctx.send_to_iut(RoleId::Terminating, &ack).await;
        }
    }
    fin
}

fn answer_text(fin: &Option<Received>) -> String {
    fin.as_ref()
        .map_or_else(|| "no final answer".to_string(), |r| r.summary())
}

/// Waits until the IUT has seen the role close its connections.
async fn settle(ctx: &Ctx) {
    tokio::time::sleep(ctx.timing.silence).await;
}

async fn sips_egress(ctx: &mut Ctx, _dns: &DnsRole) -> Outcome {
    let Some(lab) = ctx.tls_egress.clone() else {
        return Outcome::inconclusive(
            "the run has no TLS role the IUT trusts for the peer's domain",
        );
    };
    let role = lab.role.clone();
    let mut findings = Vec::new();
    let mut seen = Vec::new();
    // 1. A valid certificate, from an issuer the IUT trusts, for another
    // domain: nothing may reach it, over TLS or in the clear.
    role.present(lab.wrong.clone());
    settle(ctx).await;
    role.take();
    let ruri = format!("sips:alice@{}", lab.peer_domain);
    let fin = call(ctx, &ruri).await;
    let conns = role.take();
    ctx.log
        .note("tls-peer", format!("as elsewhere.example: {conns:?}"));
    let tried = conns.len();
    for c in &conns {
        match c {
            TlsConn {
                plaintext: true,
                requests,
                ..
            } => findings.push(format!(
                "after refusing the server, it sent {} to it in the clear",
                requests.join(", ")
            )),
            TlsConn {
                outcome: Ok(_),
                requests,
                ..
            } if !requests.is_empty() => findings.push(format!(
                "it took a certificate for elsewhere.example as {} and sent {} over it",
                lab.peer_domain,
                requests.join(", ")
            )),
            _ => {}
        }
    }
    let requests: usize = conns.iter().map(|c| c.requests.len()).sum();
    seen.push(format!(
        "with a certificate for elsewhere.example the role saw {tried} connection(s) and {requests} request(s); the caller got {}",
        answer_text(&fin)
    ));
    if fin
        .as_ref()
        .and_then(Received::status)
        .is_some_and(|s| s < 300)
    {
        findings.push(format!(
            "the caller got {} from a peer it could not authenticate",
            answer_text(&fin)
        ));
    }
    // 2. The peer's certificate: the INVITE comes over TLS, and the IUT
    // presents its own.
    role.present(lab.good.clone());
    settle(ctx).await;
    role.take();
    let ruri = format!("sips:bob@{}", lab.peer_domain);
    let fin = call(ctx, &ruri).await;
    let second = call(ctx, &format!("sips:carol@{}", lab.peer_domain)).await;
    let conns = role.take();
    ctx.log
        .note("tls-peer", format!("as {}: {conns:?}", lab.peer_domain));
    let sessions: Vec<&TlsConn> = conns.iter().filter(|c| c.outcome.is_ok()).collect();
    let carried: Vec<&String> = sessions.iter().flat_map(|c| &c.requests).collect();
    if let Some(c) = conns.iter().find(|c| c.plaintext) {
        findings.push(format!("it sent {} in the clear", c.requests.join(", ")));
    }
    if !carried
        .iter()
        .any(|r| r.starts_with(&format!("INVITE {ruri} ")))
    {
        findings.push(format!(
            "the INVITE for {ruri} never came over TLS to the SBE {} advertises (the caller got {})",
            lab.peer_domain,
            answer_text(&fin)
        ));
    } else {
        for c in &sessions {
            if let Ok(names) = &c.outcome {
                if !names.contains(&lab.iut_domain) {
                    findings.push(format!(
                        "its TLS client certificate names {}, not its domain {}",
                        if names.is_empty() {
                            "nothing (none presented)".to_string()
                        } else {
                            names.join(", ")
                        },
                        lab.iut_domain
                    ));
                }
            }
        }
        seen.push(format!(
            "with a certificate for {} two sips: INVITEs came over {} TLS connection(s), the IUT presenting a certificate for {}; the callers got {} and {}",
            lab.peer_domain,
            sessions.len(),
            lab.iut_domain,
            answer_text(&fin),
            answer_text(&second)
        ));
    }
    findings.dedup();
    if findings.is_empty() {
        Outcome::pass(seen.join("; "))
    } else {
        Outcome::fail(format!("{}; {}", findings.join("; "), seen.join("; ")))
    }
}

//! RFC 6404 §4.5 (secure exchange of SIP messages): between SSPs, TLS with
//! both ends authenticated. The IUT's TLS listener must give a session
//! only to a client whose certificate, from an issuer it trusts, names a
//! peer's domain; against eavesdropping of call patterns and guessed
//! credentials, a certificate is the credential.

use crate::sed::probe;
use speermint_harness::check::Capability;
use speermint_harness::{Check, Ctx, Level, Outcome, Ref};
use speermint_sbe::Fault;
use std::sync::Arc;

pub(crate) const MUTUAL_TLS_PEERS: Check = Check {
    id: "mutual-tls-peers",
    title: "over TLS the IUT answers a peer presenting a certificate for its domain, and refuses a client with none or with one for another domain",
    covers: &[
        Ref::Rfc6404(5),
        Ref::Rfc6404Threat("SF-password-cracking"),
        Ref::Rfc6404Threat("SF-call-pattern-analysis"),
    ],
    level: Level::Must,
    requirement: "SIP between SSPs is exchanged over TLS with mutual authentication: the border element asks for a client certificate and accepts only one issued for a peer's domain (RFC 6404 §4.5).",
    fails_under: &[Fault::AcceptAnyClientCert],
    needs: &[Capability::Tls, Capability::MutualTls],
    scenario: |ctx| Box::pin(mutual_tls_peers(ctx)),
};

/// What an OPTIONS over TLS with these client settings came to: the
/// answer's start line, or why there was none.
async fn try_as(ctx: &mut Ctx, config: Arc<rustls::ClientConfig>) -> Result<String, String> {
    let Some((to, domain)) = ctx.iut_tls.clone() else {
        return Err("no TLS listener".into());
    };
    let target = format!("sips:{domain}");
    let request = probe(ctx, &target, "TLS");
    let x = speermint_harness::pki::tls_exchange(
        &ctx.net,
        config,
        ctx.peer.addr().ip(),
        to,
        &domain,
        &request,
        ctx.timing.response,
    )
    .await?;
    match x.response {
        Some(r) => Ok(speermint_sip::Message::parse(&r)
            .ok()
            .and_then(|m| m.status())
            .map_or_else(|| "an unparseable message".to_string(), |s| format!("{s}"))),
        None => Err(match x.ended {
            Some(why) => format!("no answer: {why}"),
            None => format!("session ({}) but no answer in time", x.session),
        }),
    }
}

async fn mutual_tls_peers(ctx: &mut Ctx) -> Outcome {
    let (Some(lab), Some((to, _))) = (ctx.mutual_tls.clone(), ctx.iut_tls.clone()) else {
        return Outcome::inconclusive(
            "no client certificates are shared with this IUT, so its authentication of peers cannot be exercised",
        );
    };
    let peer = try_as(ctx, lab.as_peer.clone()).await;
    ctx.log
        .note("tls", format!("as {}: {peer:?}", lab.peer_domain));
    let Ok(answer) = peer else {
        return Outcome::inconclusive(format!(
            "the peer, with a certificate for {}, got no answer over TLS at {to} ({}), so refusals of others say nothing",
            lab.peer_domain,
            peer.unwrap_err()
        ));
    };
    let mut findings = Vec::new();
    let mut seen = vec![format!(
        "the peer ({}) was answered {answer}",
        lab.peer_domain
    )];
    for (who, config) in [
        ("a client without a certificate", lab.anonymous.clone()),
        (
            "a client with a valid certificate for elsewhere.example",
            lab.elsewhere.clone(),
        ),
    ] {
        let r = try_as(ctx, config).await;
        ctx.log.note("tls", format!("{who}: {r:?}"));
        match r {
            Ok(status) => findings.push(format!("{who} was answered {status} over TLS")),
            Err(e) => seen.push(format!("{who} was refused ({e})")),
        }
    }
    if findings.is_empty() {
        Outcome::pass(seen.join("; "))
    } else {
        Outcome::fail(format!("{}; {}", findings.join("; "), seen.join("; ")))
    }
}

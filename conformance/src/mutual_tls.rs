//! RFC 6404 §4.5 (secure exchange of SIP messages): between SSPs, TLS with
//! both ends authenticated. The IUT's TLS listener must give a session
//! only to a client whose certificate, from an issuer it trusts, names a
//! peer's domain; against eavesdropping of call patterns and guessed
//! credentials, a certificate is the credential.

use crate::sed::probe;
use speermint_harness::check::Capability;
use speermint_harness::role::Received;
use speermint_harness::{Check, Ctx, Level, Outcome, Ref, RoleId};
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

pub(crate) const TLS_REQUIRED_FROM_PEERS: Check = Check {
    id: "tls-required-from-peers",
    title: "from a peer it requires TLS from, the IUT relays a request over TLS with the peer's certificate and refuses the same request over UDP and plain TCP",
    covers: &[
        Ref::Rfc6404(5),
        Ref::Rfc6404Threat("SF-call-pattern-analysis"),
        Ref::Rfc6404Threat("SF-session-teardown"),
    ],
    level: Level::Must,
    requirement: "Where an SSP exchanges SIP with a peer over TLS with mutual authentication (RFC 6404 §4.5), what claims to come from that peer in the clear is not taken: anyone on the path could have sent or read it.",
    fails_under: &[Fault::AllowPlaintext],
    needs: &[
        Capability::Tls,
        Capability::MutualTls,
        Capability::TlsRequired,
    ],
    scenario: |ctx| Box::pin(tls_required_from_peers(ctx)),
};

/// An OPTIONS from `ip` for the IUT to relay (Max-Forwards 70), its Via
/// naming `transport`; and its From tag, which the next hop sees
/// whatever the IUT does to the Call-ID.
fn relayable(ctx: &mut Ctx, ip: std::net::IpAddr, transport: &str) -> (Vec<u8>, String) {
    let t = ctx.token();
    let host = speermint_harness::ctx::sip_hostport(std::net::SocketAddr::new(ip, 5060));
    let tag = format!("f{t}");
    let req = speermint_sip::MessageBuilder::request("OPTIONS", "sip:ssp-inside@ssp.example")
        .header(
            "Via",
            format!("SIP/2.0/{transport} {host};branch=z9hG4bK{t};rport"),
        )
        .header("Max-Forwards", 70)
        .header("From", format!("<sip:speermint@{host}>;tag={tag}"))
        .header("To", "<sip:ssp-inside@ssp.example>")
        .header("Call-ID", format!("{t}@{host}"))
        .header("CSeq", "1 OPTIONS")
        .build();
    (req, tag)
}

/// Whether a message the next hop got is the OPTIONS with this From tag.
fn options_tagged(tag: String) -> impl Fn(&Received) -> bool + Send + Sync + 'static {
    move |r: &Received| {
        r.msg().is_some_and(|m| {
            m.is_request() && m.method() == "OPTIONS" && m.core().from.tag() == Some(tag.as_str())
        })
    }
}

/// The status line of a framed answer, or why none came.
fn answered(x: &Result<speermint_harness::pki::TlsExchange, String>) -> String {
    match x {
        Ok(x) => match &x.response {
            Some(r) => Received {
                from: std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
                bytes: r.clone(),
                transport: speermint_net::Transport::Tcp,
            }
            .summary(),
            None => match &x.ended {
                Some(why) => format!("no answer ({why})"),
                None => "no answer in time".into(),
            },
        },
        Err(e) => format!("no session ({e})"),
    }
}

async fn tls_required_from_peers(ctx: &mut Ctx) -> Outcome {
    let (Some(lab), Some(mtls), Some((tls_at, domain))) = (
        ctx.tls_required.clone(),
        ctx.mutual_tls.clone(),
        ctx.iut_tls.clone(),
    ) else {
        return Outcome::inconclusive(
            "the run has no peer the IUT requires TLS from, with credentials the harness holds",
        );
    };
    let ip = lab.peer;
    let net = ctx.net.clone();
    let (wait, silence) = (ctx.timing.response, ctx.timing.silence);
    // 1. Over TLS, as the peer: relayed to the next hop and answered.
    let (req, tag) = relayable(ctx, ip, "TLS");
    ctx.log.note(
        "tls-peer",
        format!(
            "over TLS {ip} -> {tls_at} as {}: {}",
            mtls.peer_domain,
            String::from_utf8_lossy(&req)
        ),
    );
    let (x, relayed) = tokio::join!(
        speermint_harness::pki::tls_exchange(
            &net,
            mtls.as_peer.clone(),
            ip,
            tls_at,
            &domain,
            &req,
            wait
        ),
        async {
            let got = ctx
                .terminating
                .recv_matching(wait, options_tagged(tag.clone()))
                .await;
            if let Some(r) = &got {
                ctx.answer(RoleId::Terminating, r, 200, "OK", None).await;
            }
            got.is_some()
        }
    );
    let over_tls = answered(&x);
    ctx.log.note("tls-peer", format!("over TLS: {over_tls}"));
    if !relayed {
        return Outcome::inconclusive(format!(
            "the peer's OPTIONS over TLS from {ip}, with a certificate for {}, was not relayed to the next hop ({over_tls}), so refusals in the clear say nothing",
            mtls.peer_domain
        ));
    }
    let mut findings = Vec::new();
    let mut seen = vec![format!("over TLS it was relayed and answered {over_tls}")];
    // 2. The same over UDP.
    let (req, tag) = relayable(ctx, ip, "UDP");
    let answer = match net.bind_udp(std::net::SocketAddr::new(ip, 0)).await {
        Ok(sock) => {
            ctx.log.note(
                "tls-peer",
                format!(
                    "over UDP {ip} -> {}: {}",
                    lab.udp,
                    String::from_utf8_lossy(&req)
                ),
            );
            let _ = sock.send_to(&req, lab.udp).await;
            let mut buf = vec![0u8; 65_535];
            match tokio::time::timeout(wait, sock.recv_from(&mut buf)).await {
                Ok(Ok((n, _))) => Received {
                    from: lab.udp,
                    bytes: buf[..n].to_vec(),
                    transport: speermint_net::Transport::Udp,
                }
                .summary(),
                _ => "no answer".into(),
            }
        }
        Err(e) => {
            return Outcome::inconclusive(format!("cannot send from {ip} over UDP: {e}"));
        }
    };
    ctx.log.note("tls-peer", format!("over UDP: {answer}"));
    match ctx
        .terminating
        .recv_matching(silence, options_tagged(tag))
        .await
    {
        Some(r) => {
            ctx.answer(RoleId::Terminating, &r, 200, "OK", None).await;
            findings.push(format!(
                "over UDP it was relayed to the next hop (the peer got {answer})"
            ));
        }
        None => seen.push(format!("over UDP it was not relayed ({answer})")),
    }
    // 3. The same over plain TCP, where the IUT listens for it.
    if let Some(tcp) = lab.tcp {
        let (req, tag) = relayable(ctx, ip, "TCP");
        ctx.log.note(
            "tls-peer",
            format!("over TCP {ip} -> {tcp}: {}", String::from_utf8_lossy(&req)),
        );
        let x = speermint_harness::pki::tcp_exchange(&net, ip, tcp, &req, wait).await;
        let answer = answered(&x);
        ctx.log.note("tls-peer", format!("over TCP: {answer}"));
        match ctx
            .terminating
            .recv_matching(silence, options_tagged(tag))
            .await
        {
            Some(r) => {
                ctx.answer(RoleId::Terminating, &r, 200, "OK", None).await;
                findings.push(format!(
                    "over plain TCP it was relayed to the next hop (the peer got {answer})"
                ));
            }
            None => seen.push(format!("over plain TCP it was not relayed ({answer})")),
        }
    }
    let what = format!("the peer at {ip}'s OPTIONS: ");
    if findings.is_empty() {
        Outcome::pass(format!("{what}{}", seen.join("; ")))
    } else {
        Outcome::fail(format!(
            "{what}{}; {}",
            findings.join("; "),
            seen.join("; ")
        ))
    }
}

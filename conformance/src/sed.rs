//! Session establishment data (RFC 6406 §4 steps 1-2, §6.1): the IUT's
//! Lookup and Location Routing Functions, observed from the wire. The
//! harness's DNS role publishes the world (see
//! `speermint_dns_role`); the checks ask the IUT to reach names
//! and numbers in it and watch where the INVITE lands. The peer role is
//! the SBE the records rank first, the stranger role the one they rank
//! second and the address forged answers point at.

use crate::dialog::{call_id, in_dialog_from};
use speermint_dns_role::DnsRole;
use speermint_dns_role::{Signatures, Tamper};
use speermint_harness::ctx::mentions_call;
use speermint_harness::role::Received;
use speermint_harness::{Capability, Check, Ctx, Level, Outcome, Ref, RoleId};
use speermint_resolver::RecordType;
use speermint_sbe::Fault;
use speermint_sip::MessageBuilder;

/// RFC 6271 #9 and RFC 3263 §4: the peer's SBE is found from the URI's
/// domain by NAPTR, SRV (priority first) and A.
pub(crate) const LRF_ROUTING: Check = Check {
    id: "lrf-rfc3263-routing",
    title: "an INVITE for sip:user@peer.example reaches the SBE that the peer's NAPTR and SRV records rank first",
    covers: &[Ref::Rfc6271(9), Ref::Rfc6406("6.1.2")],
    level: Level::Must,
    requirement: "An SSP locates the peer's ingress SBE from the type and domain of the target URI (RFC 6271 #9), by RFC 3263 §4: NAPTR order, then SRV priority and weight (RFC 2782), then A/AAAA.",
    fails_under: &[Fault::IgnoreSrvPriority],
    needs: &[Capability::DnsRole],
    scenario: |ctx| Box::pin(with_dns(ctx, |c, d| Box::pin(lrf_routing(c, d)))),
};

/// RFC 6271 #5: the LUF gives the target URI, the LRF the next hop, and
/// the request carries one to the other.
pub(crate) const LUF_LRF_TOGETHER: Check = Check {
    id: "luf-lrf-target-and-hop",
    title: "an INVITE for tel:+441632960083 leaves with the ENUM target URI as Request-URI, towards the SBE RFC 3263 finds for it",
    covers: &[Ref::Rfc6271(5), Ref::Rfc6406("6.1.1")],
    level: Level::Must,
    requirement: "The LUF returns the target URI and the LRF the next hops to reach it (RFC 6271 #5); the proxy puts the target into the Request-URI before forwarding (RFC 3261 §16.5-16.6, RFC 6116 §3.3).",
    fails_under: &[Fault::KeepTelUri, Fault::IgnoreSrvPriority],
    needs: &[Capability::DnsRole],
    scenario: |ctx| Box::pin(with_dns(ctx, |c, d| Box::pin(luf_lrf_together(c, d)))),
};

/// RFC 6404 §4.2: with DNSSEC, a forged, stripped or replayed answer for a
/// signed zone is not routed to.
pub(crate) const DNSSEC_VALIDATION: Check = Check {
    id: "dnssec-forged-answers-refused",
    title: "signed answers route; a forged, unsigned or expired SRV for a signed zone sends nothing to the attacker's address",
    covers: &[
        Ref::Rfc6404(2),
        Ref::Rfc6404Threat("LRF-mitm"),
        Ref::Rfc6404Threat("LRF-incorrect-destinations"),
    ],
    level: Level::Must,
    requirement: "The LUF and LRF validate DNS answers with DNSSEC (RFC 6404 §4.2, RFC 4035 §5): data that fails validation for a signed zone must not be used to route.",
    fails_under: &[Fault::IgnoreDnssec],
    needs: &[Capability::DnsRole],
    scenario: |ctx| Box::pin(with_dns(ctx, |c, d| Box::pin(dnssec_validation(c, d)))),
};

/// RFC 6404 §4.3: one DNS server down, routing goes on.
pub(crate) const DNS_REPLICATION: Check = Check {
    id: "dns-replica-failover",
    title: "with the first of two DNS servers silent, an INVITE for a new domain is still routed",
    covers: &[Ref::Rfc6404(3), Ref::Rfc6404Threat("LRF-dos")],
    level: Level::Should,
    requirement: "LUF/LRF data is served by replicated servers, and the querier uses them, so one server failing does not stop session establishment (RFC 6404 §4.3).",
    fails_under: &[Fault::SingleDnsServer],
    needs: &[Capability::DnsRole],
    scenario: |ctx| Box::pin(with_dns(ctx, |c, d| Box::pin(dns_replication(c, d)))),
};

/// RFC 6271 #1: the IUT's domain advertises its ingress SBE, and the SBE
/// found that way answers.
pub(crate) const INGRESS_DISCOVERY: Check = Check {
    id: "ingress-sbe-discoverable",
    title: "RFC 3263 resolution of the IUT's domain, validated, leads to an SBE that answers OPTIONS",
    covers: &[Ref::Rfc6271(1)],
    level: Level::Must,
    requirement: "An SSP communicates its ingress SBEs to peers (RFC 6271 #1), here through NAPTR/SRV/A records of its domain (RFC 3263 §4, RFC 6406 §6.1.2).",
    fails_under: &[Fault::StaleDns],
    needs: &[Capability::DnsRole],
    scenario: |ctx| Box::pin(with_dns(ctx, |c, d| Box::pin(ingress_discovery(c, d)))),
};

/// RFC 6271 #6: how to start secure session establishment is conveyed,
/// and honoured.
pub(crate) const SECURE_TRANSPORT: Check = Check {
    id: "tls-advertised-and-kept",
    title: "the IUT's domain advertises SIPS+D2T, its SBE answers over TLS with a certificate for the domain, and a sips: target is never sent in the clear",
    covers: &[Ref::Rfc6271(6), Ref::Rfc6406("6.1.2.1")],
    level: Level::Must,
    requirement: "An SSP conveys how to start secure session establishment (RFC 6271 #6): NAPTR/SRV for SIPS+D2T and a TLS listener whose certificate names the domain (RFC 3263 §4.1, RFC 5922 §7); a sips: Request-URI is only ever sent over TLS (RFC 3261 §26.2.2).",
    fails_under: &[Fault::PreferUdp, Fault::WrongCertificate],
    needs: &[Capability::DnsRole, Capability::Tls],
    scenario: |ctx| Box::pin(with_dns(ctx, |c, d| Box::pin(secure_transport(c, d)))),
};

/// RFC 6404 §4.8: with two SBEs advertised for a peer, one failing does
/// not fail the call (RFC 3263 §4.3).
pub(crate) const SBE_POOLING: Check = Check {
    id: "sbe-pool-failover",
    title: "when the first SBE advertised for peer.example answers 503, the INVITE goes to the second",
    covers: &[Ref::Rfc6404(8)],
    level: Level::Should,
    requirement: "Border elements are pooled (RFC 6404 §4.8): a client that gets 503 from one of the servers RFC 3263 ranked tries the next one (RFC 3263 §4.3).",
    fails_under: &[Fault::NoFailover],
    needs: &[Capability::DnsRole],
    scenario: |ctx| Box::pin(with_dns(ctx, |c, d| Box::pin(sbe_pooling(c, d)))),
};

/// RFC 6404 §4.8 as the RFC means it: one SBE of the pool falls silent,
/// and the IUT must move on when its transaction times out.
pub(crate) const SBE_POOL_SILENT: Check = Check {
    id: "sbe-pool-silent-failover",
    title: "when the first SBE advertised for peer.example falls silent, the INVITE goes to the second within Timer B",
    covers: &[Ref::Rfc6404(8)],
    level: Level::Should,
    requirement: "Border elements are pooled so that one failing does not fail the service (RFC 6404 §4.8): when an INVITE to the first server RFC 3263 ranked times out (Timer B, 64·T1, RFC 3261 §17.1.1.2), the client tries the next one (RFC 3263 §4.3).",
    fails_under: &[Fault::NoFailover],
    needs: &[Capability::DnsRole],
    scenario: |ctx| Box::pin(with_dns(ctx, |c, d| Box::pin(sbe_pool_silent(c, d)))),
};

/// RFC 6271 #8: routing to a peer needs no knowledge of its users.
pub(crate) const ANY_USER: Check = Check {
    id: "any-user-routed",
    title: "an INVITE for a user the IUT cannot know at peer.example is routed by the domain alone",
    covers: &[Ref::Rfc6271(8)],
    level: Level::Must,
    requirement: "An SSP must not need to know which users of a peer are valid (RFC 6271 #8): a request for any user at a peer's domain is routed by the domain (RFC 3263 §4), and the peer answers for its users.",
    fails_under: &[Fault::KnownUsersOnly],
    needs: &[Capability::DnsRole],
    scenario: |ctx| Box::pin(with_dns(ctx, |c, d| Box::pin(any_user(c, d)))),
};

/// RFC 6404 §4.1: hostile input to the LUF is refused, not passed on.
pub(crate) const LUF_INPUT: Check = Check {
    id: "luf-hostile-numbers",
    title: "tel: targets carrying SQL comment runs, over-long digit strings and stray characters never reach DNS as such: every ENUM query is digits only, and the IUT keeps answering",
    covers: &[
        Ref::Rfc6404(1),
        Ref::Rfc6404Threat("LUF-sql-injection"),
        Ref::Rfc6404Threat("LUF-dos"),
    ],
    level: Level::Must,
    requirement: "The LUF follows database security practice (RFC 6404 §4.1): input that is not an E.164 number never reaches a query; ENUM domains are one digit per label, at most 15 (RFC 6116 §3.2, ITU-T E.164).",
    fails_under: &[Fault::RawEnumQuery],
    needs: &[Capability::DnsRole],
    scenario: |ctx| Box::pin(with_dns(ctx, |c, d| Box::pin(luf_input(c, d)))),
};

pub(crate) type Scenario =
    for<'a> fn(
        &'a mut Ctx,
        &'a DnsRole,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Outcome> + Send + 'a>>;

/// Lends the DNS role to a scenario (the context is borrowed mutably
/// meanwhile) and undoes its forgeries afterwards, whatever the outcome.
pub(crate) async fn with_dns(ctx: &mut Ctx, scenario: Scenario) -> Outcome {
    let Some(dns) = ctx.dns.take() else {
        return Outcome::inconclusive(
            "this plan has no DNS role the IUT resolves through, so its LUF/LRF cannot be observed",
        );
    };
    dns.take_queries();
    let out = scenario(ctx, &dns).await;
    // What was asked of the DNS role is evidence of how the IUT resolved.
    for q in dns.take_queries() {
        ctx.log.note("dns", q);
    }
    dns.restore().await;
    ctx.dns = Some(dns);
    out
}

/// Where an outbound INVITE ended up.
pub(crate) struct Call {
    /// The role that received it, its address, and what it received.
    pub(crate) landed: Option<(RoleId, std::net::SocketAddr, Received)>,
    /// The IUT's final response to the originator, if any.
    pub(crate) answer: Option<u16>,
    /// What the originator got, for a reason: the final response's start
    /// line, or what came instead of one (provisionals, nothing).
    pub(crate) answer_seen: String,
}

impl Call {
    pub(crate) fn answer_text(&self) -> String {
        match self.answer {
            Some(_) => format!("the IUT answered {}", self.answer_seen),
            None => format!("the IUT gave no final answer ({})", self.answer_seen),
        }
    }
}

/// The terminating role, on the IUT's inside, calls `ruri`; the call is
/// refused with 486 wherever it lands, and every final response is ACKed,
/// so no state is left behind.
pub(crate) async fn place_call(ctx: &mut Ctx, ruri: &str) -> Call {
    let invite = ctx.request(RoleId::Terminating, "INVITE", ruri).build();
    let cid = call_id(&invite);
    ctx.send_to_iut(RoleId::Terminating, &invite).await;
    let (landed, mut fin) = land(ctx, &cid).await;
    if let Some((role, req)) = &landed {
        ctx.answer(*role, req, 486, "Busy Here", None).await;
        // The IUT ACKs the 486 hop by hop (RFC 3261 §17.1.1.3); taking
        // it here keeps the evidence in a fixed order.
        ctx.expect_request(*role, "ACK", &cid).await;
    }
    if fin.is_none() {
        fin = ctx.expect_final(RoleId::Terminating, &cid, "INVITE").await;
    }
    if let Some(resp) = &fin {
        if let Some(ack) = in_dialog_from(ctx, RoleId::Terminating, &invite, resp, "ACK", true) {
            ctx.send_to_iut(RoleId::Terminating, &ack).await;
        }
    }
    let answer_seen = match &fin {
        Some(r) => r.summary(),
        None => ctx.what_came(RoleId::Terminating, &cid),
    };
    Call {
        landed: landed.map(|(role, r)| (role, ctx.role(role).addr(), r)),
        answer: fin.as_ref().and_then(Received::status),
        answer_seen,
    }
}

/// Waits for the INVITE at the first- and the second-ranked SBE at once.
/// A final answer to the caller first means the IUT chose not to route;
/// a short silence window then catches a copy sent anyway.
async fn land(ctx: &mut Ctx, cid: &str) -> (Option<(RoleId, Received)>, Option<Received>) {
    let (wait, silence) = (ctx.timing.response, ctx.timing.silence);
    let is_it = ctx.request_of("INVITE", cid);
    let is_final = |c: String| {
        move |r: &Received| r.status().is_some_and(|s| s >= 200) && mentions_call(&r.bytes, &c)
    };
    let (peer, stranger, caller) = (&mut ctx.peer, &mut ctx.stranger, &mut ctx.terminating);
    let fin = tokio::select! {
        Some(r) = peer.recv_matching(wait, is_it.clone()) => return (Some((RoleId::Peer, r)), None),
        Some(r) = stranger.recv_matching(wait, is_it.clone()) => return (Some((RoleId::Stranger, r)), None),
        Some(r) = caller.recv_matching(wait, is_final(cid.to_owned())) => r,
        else => return (None, None),
    };
    let late = tokio::select! {
        Some(r) = peer.recv_matching(silence, is_it.clone()) => Some((RoleId::Peer, r)),
        Some(r) = stranger.recv_matching(silence, is_it.clone()) => Some((RoleId::Stranger, r)),
        else => None,
    };
    (late, Some(fin))
}

/// An OPTIONS from the peer role with Max-Forwards 0, which the SBE must
/// answer itself (RFC 3261 §16.3 step 3; §11 for OPTIONS as a probe).
pub(crate) fn probe(ctx: &mut Ctx, target: &str, transport: &str) -> Vec<u8> {
    let t = ctx.token();
    let host = speermint_harness::ctx::sip_hostport(ctx.peer.addr());
    let scheme = if transport == "TLS" { "sips" } else { "sip" };
    MessageBuilder::request("OPTIONS", target)
        .header(
            "Via",
            format!("SIP/2.0/{transport} {host};branch=z9hG4bK{t};rport"),
        )
        .header("Max-Forwards", 0)
        .header("From", format!("<{scheme}:speermint@{host}>;tag=f{t}"))
        .header("To", format!("<{target}>"))
        .header("Call-ID", format!("{t}@{host}"))
        .header("CSeq", "1 OPTIONS")
        .build()
}

fn request_uri(r: &Received) -> String {
    r.msg()
        .and_then(|m| m.request_uri().map(|u| u.raw().to_owned()))
        .unwrap_or_default()
}

async fn lrf_routing(ctx: &mut Ctx, dns: &DnsRole) -> Outcome {
    let domain = &dns.facts.peer_domain;
    let ruri = format!("sip:bob@{domain}");
    let call = place_call(ctx, &ruri).await;
    match call.landed {
        Some((RoleId::Peer, at, r)) => Outcome::pass(format!(
            "the INVITE for {ruri} reached {at}, the priority-10 SBE of _sip._udp.{domain}, with Request-URI {}",
            request_uri(&r)
        )),
        Some((_, at, _)) => Outcome::fail(format!(
            "the INVITE for {ruri} went to {at}, the priority-20 SBE, while the priority-10 one was up: SRV priority ignored (RFC 2782, RFC 3263 §4.4)"
        )),
        None => Outcome::fail(format!(
            "no INVITE for {ruri} reached either SBE advertised for {domain}; {}",
            call.answer_text()
        )),
    }
}

async fn luf_lrf_together(ctx: &mut Ctx, dns: &DnsRole) -> Outcome {
    let ruri = format!("tel:{}", dns.facts.number);
    let want = &dns.facts.number_uri;
    let call = place_call(ctx, &ruri).await;
    match call.landed {
        Some((RoleId::Peer, at, r)) if request_uri(&r) == *want => Outcome::pass(format!(
            "ENUM turned {ruri} into {want}, RFC 3263 found {at} for it, and the INVITE carried the one to the other"
        )),
        Some((RoleId::Peer, _, r)) => Outcome::fail(format!(
            "the INVITE reached the SBE found for the ENUM target, but its Request-URI is {}, not the target URI {want} (RFC 3261 §16.5, RFC 6116 §3.3)",
            request_uri(&r)
        )),
        Some((_, at, _)) => Outcome::fail(format!(
            "the INVITE for {ruri} went to {at}, not to the first-ranked SBE of the ENUM target's domain"
        )),
        None => Outcome::fail(format!(
            "no INVITE for {ruri} left the IUT towards the SBE of {want}; {}",
            call.answer_text()
        )),
    }
}

async fn dnssec_validation(ctx: &mut Ctx, dns: &DnsRole) -> Outcome {
    let domain = &dns.facts.peer_domain;
    // Control: genuine, signed answers route.
    let ruri = format!("sip:carol@alt1.{domain}");
    let call = place_call(ctx, &ruri).await;
    if !matches!(call.landed, Some((RoleId::Peer, ..))) {
        return Outcome::fail(format!(
            "correctly signed answers did not route: no INVITE for {ruri} reached the SBE they name; {}",
            call.answer_text()
        ));
    }
    // Each forgery on a name no resolver has cached yet, pointing
    // _sip._udp at the attacker (the stranger role).
    let attacker = ctx.stranger.addr();
    let forged_srv = format!("0 1 {} sbe-b.{domain}.", attacker.port());
    let forgeries = [
        (2, Signatures::Keep, "a forged SRV under the genuine RRSIG"),
        (3, Signatures::Strip, "a forged SRV with its RRSIG stripped"),
        (
            4,
            Signatures::Expired,
            "an SRV replayed with an expired RRSIG",
        ),
    ];
    let mut refused = Vec::new();
    for (n, sigs, what) in forgeries {
        let owner = format!("_sip._udp.alt{n}.{domain}");
        let how = Tamper::forge(&[forged_srv.as_str()]).with_signatures(sigs);
        if let Err(e) = dns.tamper(&owner, RecordType::SRV, how).await {
            return Outcome::inconclusive(format!("the DNS role could not forge {owner}: {e}"));
        }
        ctx.log.note(
            "dns",
            format!("forged {owner} SRV to {forged_srv:?} ({what})"),
        );
        let ruri = format!("sip:carol@alt{n}.{domain}");
        let call = place_call(ctx, &ruri).await;
        match call.landed {
            Some((RoleId::Stranger, at, _)) => {
                return Outcome::fail(format!(
                    "{what}: the INVITE for {ruri} went to the attacker's address {at}"
                ));
            }
            Some((_, at, _)) => {
                return Outcome::inconclusive(format!(
                    "{what}: the INVITE for {ruri} went to {at}, which the forged answer does not name; the IUT may have used data from elsewhere"
                ));
            }
            None => refused.push(format!("{what}: {}", call.answer_text())),
        }
    }
    Outcome::pass(format!(
        "signed answers routed; nothing reached the attacker at {attacker}. {}",
        refused.join("; ")
    ))
}

async fn dns_replication(ctx: &mut Ctx, dns: &DnsRole) -> Outcome {
    let domain = &dns.facts.peer_domain;
    dns.primary.set_silent(true);
    ctx.log
        .note("dns", format!("DNS server {} silenced", dns.primary.addr()));
    let ruri = format!("sip:dave@alt5.{domain}");
    let call = place_call(ctx, &ruri).await;
    dns.primary.set_silent(false);
    let (first, second) = (dns.primary.addr(), dns.secondary.addr());
    match call.landed {
        Some((RoleId::Peer, at, _)) => Outcome::pass(format!(
            "with DNS server {first} silent, {second} answered and the INVITE for {ruri} reached {at}"
        )),
        Some((_, at, _)) => Outcome::fail(format!(
            "with DNS server {first} silent, the INVITE for {ruri} went to {at}, not the first-ranked SBE"
        )),
        None => Outcome::fail(format!(
            "with DNS server {first} silent and {second} answering, the INVITE for {ruri} was not routed; {}",
            call.answer_text()
        )),
    }
}

async fn ingress_discovery(ctx: &mut Ctx, dns: &DnsRole) -> Outcome {
    let target = format!("sip:{}", dns.facts.ssp_domain);
    let locator = match dns.locator(true, false).await {
        Ok(l) => l,
        Err(e) => return Outcome::inconclusive(format!("the harness cannot resolve: {e}")),
    };
    let found = match locator.locate(&target).await {
        Ok(f) => {
            for step in &f.steps {
                ctx.log.note(
                    "dns",
                    format!("{} {}: {}", step.function, step.step, step.detail),
                );
            }
            f
        }
        Err(e) => {
            return Outcome::fail(format!(
                "resolving {target} (RFC 3263, DNSSEC-validated) found no ingress SBE: {e}"
            ));
        }
    };
    let Some(hop) = found.next_hops.iter().find(|h| h.transport == "udp") else {
        return Outcome::inconclusive(format!(
            "{target} advertises no UDP SBE; this harness probes over UDP only"
        ));
    };
    let to = std::net::SocketAddr::new(hop.address, hop.port);
    let probe = probe(ctx, &target, "UDP");
    let cid = call_id(&probe);
    // The hop found is a UDP one: the probe goes as a datagram whatever
    // the run's transport.
    let _ = ctx.peer.send_datagram(to, &probe).await;
    match ctx.expect_final(RoleId::Peer, &cid, "OPTIONS").await {
        Some(r) if r.from == to => Outcome::pass(format!(
            "{target} leads to udp:{to} via NAPTR/SRV/A ({}), and the SBE there answered OPTIONS with {}",
            if found.secure {
                "validated"
            } else {
                "not validated"
            },
            r.status().unwrap_or_default()
        )),
        Some(r) => Outcome::fail(format!(
            "{target} leads to udp:{to}, but the answer to OPTIONS came from {}",
            r.from
        )),
        None => Outcome::fail(format!(
            "{target} leads to udp:{to} ({} hop(s) found), but nothing answered OPTIONS there: the advertised SBE is not reachable",
            found.next_hops.len()
        )),
    }
}

async fn secure_transport(ctx: &mut Ctx, dns: &DnsRole) -> Outcome {
    let domain = dns.facts.ssp_domain.clone();
    let target = format!("sips:{domain}");
    // 1. The IUT's domain says how to reach it securely.
    let locator = match dns.tls_locator().await {
        Ok(l) => l,
        Err(e) => return Outcome::inconclusive(format!("the harness cannot resolve: {e}")),
    };
    let found = match locator.locate(&target).await {
        Ok(f) => f,
        Err(e) => {
            return Outcome::fail(format!(
                "{target} does not resolve to a TLS next hop (RFC 3263 §4.1, SIPS+D2T/_sips._tcp): {e}"
            ));
        }
    };
    for step in &found.steps {
        ctx.log.note(
            "dns",
            format!("{} {}: {}", step.function, step.step, step.detail),
        );
    }
    let Some(hop) = found.next_hops.iter().find(|h| h.transport == "tls") else {
        return Outcome::fail(format!("{target} resolved, but to no TLS hop"));
    };
    let Some(config) = ctx.tls_client.clone() else {
        return Outcome::inconclusive(
            "the plan names no certificate issuer for the IUT, so its TLS certificate cannot be judged",
        );
    };
    // 2. Its SBE speaks TLS there, as the domain (RFC 5922 §7.2).
    let to = std::net::SocketAddr::new(hop.address, hop.port);
    let probe = probe(ctx, &target, "TLS");
    ctx.log.note(
        "tls",
        format!("sent to {to}: {}", String::from_utf8_lossy(&probe)),
    );
    let exchange = match speermint_harness::pki::tls_exchange(
        &ctx.net,
        config,
        ctx.peer.addr().ip(),
        to,
        &domain,
        &probe,
        ctx.timing.response,
    )
    .await
    {
        Ok(x) => x,
        Err(e) => return Outcome::fail(format!("TLS to the advertised SBE failed: {e}")),
    };
    let Some(answer) = exchange.response else {
        return Outcome::fail(format!(
            "TLS with {to} as {domain} succeeded ({}), but OPTIONS got no answer over it",
            exchange.session
        ));
    };
    ctx.log.note(
        "tls",
        format!("received from {to}: {}", String::from_utf8_lossy(&answer)),
    );
    let status = speermint_sip::Message::parse(&answer)
        .ok()
        .and_then(|m| m.status())
        .unwrap_or_default();
    // 3. A sips: target leaves only over TLS (RFC 3261 §26.2.2).
    let ruri = format!("sips:bob@{}", dns.facts.peer_domain);
    let call = place_call(ctx, &ruri).await;
    if let Some((_, at, r)) = &call.landed {
        return Outcome::fail(format!(
            "the INVITE for {ruri} was sent over UDP to {at}, with Request-URI {}",
            request_uri(r)
        ));
    }
    Outcome::pass(format!(
        "{target} leads to TLS at {to}; the certificate is valid for {domain} ({}) and OPTIONS was answered {status} over it; the INVITE for {ruri} was not sent in the clear ({})",
        exchange.session,
        call.answer_text()
    ))
}

/// An INVITE from the inside for a pool member, for the failover checks.
struct PoolCall {
    invite: Vec<u8>,
    cid: String,
}

impl PoolCall {
    /// Sends the INVITE and waits for it at the first-ranked SBE (the peer
    /// role), returning the call and what arrived there; when it never gets
    /// there, the caller's final answer is ACKed and failover cannot be
    /// judged.
    async fn place(ctx: &mut Ctx, ruri: &str) -> Result<(Self, Received), Outcome> {
        let invite = ctx.request(RoleId::Terminating, "INVITE", ruri).build();
        let cid = call_id(&invite);
        ctx.send_to_iut(RoleId::Terminating, &invite).await;
        let call = Self { invite, cid };
        match ctx.expect_request(RoleId::Peer, "INVITE", &call.cid).await {
            Some(first) => Ok((call, first)),
            None => {
                let (_, got) = call.finish(ctx).await;
                Err(Outcome::inconclusive(format!(
                    "the INVITE for {ruri} never reached the first-ranked SBE, so failover could not be tried; the caller got {got}"
                )))
            }
        }
    }

    /// Takes the caller's final answer, ACKs it, and returns its status
    /// with what the caller got, for a reason.
    async fn finish(&self, ctx: &mut Ctx) -> (Option<u16>, String) {
        let fin = ctx
            .expect_final(RoleId::Terminating, &self.cid, "INVITE")
            .await;
        let ack = fin
            .as_ref()
            .and_then(|r| in_dialog_from(ctx, RoleId::Terminating, &self.invite, r, "ACK", true));
        if let Some(ack) = ack {
            ctx.send_to_iut(RoleId::Terminating, &ack).await;
        }
        let got = match &fin {
            Some(r) => r.summary(),
            None => format!(
                "no final answer ({})",
                ctx.what_came(RoleId::Terminating, &self.cid)
            ),
        };
        (fin.as_ref().and_then(Received::status), got)
    }
}

async fn sbe_pooling(ctx: &mut Ctx, dns: &DnsRole) -> Outcome {
    let ruri = format!("sip:frank@{}", dns.facts.peer_domain);
    let (call, first) = match PoolCall::place(ctx, &ruri).await {
        Ok(c) => c,
        Err(o) => return o,
    };
    let cid = call.cid.clone();
    // The first SBE of the pool is out of service.
    ctx.answer(RoleId::Peer, &first, 503, "Service Unavailable", None)
        .await;
    ctx.expect_request(RoleId::Peer, "ACK", &cid).await;
    let second = ctx.expect_request(RoleId::Stranger, "INVITE", &cid).await;
    if let Some(req) = &second {
        ctx.answer(RoleId::Stranger, req, 486, "Busy Here", None)
            .await;
        ctx.expect_request(RoleId::Stranger, "ACK", &cid).await;
    }
    let (status, got) = call.finish(ctx).await;
    let (first_at, second_at) = (ctx.peer.addr(), ctx.stranger.addr());
    match (second, status) {
        (Some(_), Some(486)) => Outcome::pass(format!(
            "after 503 from {first_at}, the INVITE went to {second_at}, the next SBE of the pool, and its 486 reached the caller"
        )),
        (Some(_), _) => Outcome::fail(format!(
            "the INVITE reached the second SBE {second_at}, but the caller got {got} instead of its 486"
        )),
        (None, _) => Outcome::fail(format!(
            "after 503 from {first_at}, the IUT did not try {second_at}, the next SBE RFC 3263 ranked; the caller got {got}"
        )),
    }
}

async fn sbe_pool_silent(ctx: &mut Ctx, dns: &DnsRole) -> Outcome {
    let ruri = format!("sip:grace@{}", dns.facts.peer_domain);
    let (call, _first) = match PoolCall::place(ctx, &ruri).await {
        Ok(c) => c,
        Err(o) => return o,
    };
    let cid = call.cid.clone();
    let silent_since = ctx.net.now();
    let (first_at, second_at) = (ctx.peer.addr(), ctx.stranger.addr());
    ctx.log.note(
        "peer",
        format!("{first_at} is silent from now on: it answers nothing, retransmissions included"),
    );
    // Timer B plus the usual wait for a message in flight.
    let wait = ctx.timing.timer_b + ctx.timing.response;
    let is_it = ctx.request_of("INVITE", &cid);
    let second = ctx.stranger.recv_matching(wait, is_it).await;
    let took = ctx.net.now().saturating_duration_since(silent_since);
    // What the silent SBE was sent meanwhile: the IUT's retransmissions
    // (RFC 3261 §17.1.1.2) or, once it gave up, a CANCEL.
    let is_it = ctx.request_of("INVITE", &cid);
    let retransmits = ctx
        .peer
        .drain(std::time::Duration::ZERO)
        .await
        .iter()
        .filter(|r| is_it(r))
        .count();
    if let Some(req) = &second {
        ctx.answer(RoleId::Stranger, req, 486, "Busy Here", None)
            .await;
        ctx.expect_request(RoleId::Stranger, "ACK", &cid).await;
    }
    let (status, got) = call.finish(ctx).await;
    let secs = took.as_secs_f64();
    let b = ctx.timing.timer_b.as_secs_f64();
    match (second, status) {
        (Some(_), Some(486)) => Outcome::pass(format!(
            "{first_at} stayed silent ({retransmits} retransmissions reached it); {secs:.1} s later (Timer B is {b:.0} s) the INVITE went to {second_at}, the next SBE of the pool, and its 486 reached the caller"
        )),
        (Some(_), _) => Outcome::fail(format!(
            "the INVITE reached the second SBE {second_at} after {secs:.1} s, but the caller got {got} instead of its 486"
        )),
        (None, _) => Outcome::fail(format!(
            "{first_at} stayed silent for {secs:.1} s (Timer B is {b:.0} s) and the IUT never tried {second_at}, the next SBE RFC 3263 ranked; the caller got {got}"
        )),
    }
}

async fn any_user(ctx: &mut Ctx, dns: &DnsRole) -> Outcome {
    // A user part no provisioning could hold: fresh on every run.
    let user = format!("u{}", ctx.token());
    let ruri = format!("sip:{user}@{}", dns.facts.peer_domain);
    let call = place_call(ctx, &ruri).await;
    match call.landed {
        Some((RoleId::Peer, at, r)) if request_uri(&r) == ruri => Outcome::pass(format!(
            "the INVITE for {ruri}, a user the IUT could not know, reached the peer's SBE at {at} unchanged"
        )),
        Some((_, at, r)) => Outcome::fail(format!(
            "the INVITE for {ruri} went to {at} with Request-URI {}",
            request_uri(&r)
        )),
        None => Outcome::fail(format!(
            "the INVITE for {ruri} was not routed to the peer; {}: routing depended on knowing the user",
            call.answer_text()
        )),
    }
}

/// Labels of an ENUM query name below e164.arpa that RFC 6116 §3.2 does
/// not allow: anything but single digits, or more than 15 of them.
pub(crate) fn bad_enum_query(logged: &str) -> bool {
    // Entries read `dns-N: name class type from ...`.
    let entry = logged.split_once(": ").map_or(logged, |(_, e)| e);
    let name = entry.split(' ').next().unwrap_or("").to_ascii_lowercase();
    let Some(labels) = name
        .strip_suffix("e164.arpa.")
        .or(name.strip_suffix("e164.arpa"))
    else {
        return false;
    };
    let labels: Vec<&str> = labels.split('.').filter(|l| !l.is_empty()).collect();
    labels.len() > 15
        || labels
            .iter()
            .any(|l| l.len() != 1 || !l.as_bytes()[0].is_ascii_digit())
}

async fn luf_input(ctx: &mut Ctx, dns: &DnsRole) -> Outcome {
    let payloads = [
        // An SQL comment run hidden in RFC 3966 visual separators.
        "tel:+44--1632--960099",
        // Longer than any E.164 number (15 digits).
        "tel:+44163296008300000000000000000000000000",
        // Visual separators and a phone-context a naive LUF copies through.
        "tel:+44(1632).960083;phone-context=+44",
        // Characters no number has; the SIP layer may refuse it first.
        "tel:+44'1632",
    ];
    let mut notes = Vec::new();
    for ruri in payloads {
        // Where the call goes is the IUT's policy (a number not in ENUM
        // may go to a PSTN gateway); what it asks of DNS is not.
        let call = place_call(ctx, ruri).await;
        notes.push(match call.landed {
            Some((_, at, _)) => format!("{ruri}: routed to {at} as a number"),
            None => format!("{ruri}: {}", call.answer_text()),
        });
    }
    let asked = dns.take_queries();
    for q in &asked {
        ctx.log.note("dns", q.clone());
    }
    if let Some(bad) = asked.iter().find(|q| bad_enum_query(q)) {
        return Outcome::fail(format!(
            "the IUT sent hostile input to DNS: {bad} (ENUM labels are single digits, at most 15, RFC 6116 §3.2)"
        ));
    }
    // Still alive and serving.
    let iut = ctx.iut;
    let probe = probe(ctx, &format!("sip:{iut}"), "UDP");
    let cid = call_id(&probe);
    ctx.send_to_iut(RoleId::Peer, &probe).await;
    if ctx
        .expect_final(RoleId::Peer, &cid, "OPTIONS")
        .await
        .is_none()
    {
        return Outcome::fail(format!(
            "after the hostile numbers the IUT no longer answers OPTIONS ({})",
            notes.join("; ")
        ));
    }
    Outcome::pass(format!(
        "no ENUM query carried them, and the IUT still answers: {}",
        notes.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::bad_enum_query;

    #[test]
    fn enum_queries_are_judged_by_their_labels() {
        let ok = "dns-1: 3.8.0.0.6.9.2.3.6.1.4.4.e164.arpa. IN NAPTR from 127.0.0.1:5 over udp";
        assert!(!bad_enum_query(ok));
        assert!(!bad_enum_query(
            "dns-2: peer.example. IN NAPTR from 127.0.0.1:5 over udp"
        ));
        let long = format!(
            "dns-1: {}e164.arpa. IN NAPTR from x over udp",
            "0.".repeat(16)
        );
        assert!(bad_enum_query(&long));
        assert!(bad_enum_query(
            "dns-1: 3.-.-.4.4.e164.arpa. IN NAPTR from x over udp"
        ));
    }
}

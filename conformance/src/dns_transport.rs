//! How the IUT's LUF and LRF reach their data, and how an SSP advertises
//! itself to each peer (RFC 6271 §5.1).
//!
//! - #15 and #16: the protocols used to query the LUF and LRF should
//!   authenticate both ends and protect the data. Here that is DNS over TLS
//!   (RFC 7858) between the IUT's resolver and the DNS role: the role asks
//!   for a client certificate naming the IUT's domain and presents one for
//!   its own name (the authentication domain name, RFC 8310 §2). The role
//!   sees every handshake and every query with its transport, so it sees
//!   whether the IUT connects over TLS, what certificate it presents, and
//!   whether it asks anything in the clear. Integrity of the data itself,
//!   end to end, is DNSSEC's: `dnssec-forged-answers-refused` (RFC 6404
//!   §4.2).
//! - #4: the advertisement of SBEs must allow for peer variability. The
//!   DNS role serves the IUT's domain per querier (a view per peer, the
//!   "DNS responses vary based on the originator" of RFC 6271 #4); the
//!   check resolves as each peer and calls the SBE each was given.

use crate::dialog::{call_id, in_dialog_from};
use crate::sed::{Call, place_call, with_dns};
use speermint_dns_role::{DnsRole, Lookup, TlsSession};
use speermint_harness::ctx::sip_hostport;
use speermint_harness::{Capability, Check, Ctx, Level, Outcome, Ref, RoleId};
use speermint_net::Transport;
use speermint_sbe::Fault;
use std::net::{IpAddr, SocketAddr};

pub(crate) const DNS_TLS_MUTUAL_AUTH: Check = Check {
    id: "dns-tls-mutual-auth",
    title: "the IUT's LUF/LRF reach the DNS role over TLS presenting a certificate for the IUT's domain, and route nothing from a DNS server whose certificate names another server",
    covers: &[Ref::Rfc6271(15)],
    level: Level::Should,
    requirement: "The protocols used to query the LUF and LRF should support mutual authentication (RFC 6271 #15): over DNS over TLS (RFC 7858), the querier presents a client certificate and authenticates the server by its name (RFC 8310 §8.1).",
    fails_under: &[Fault::DnsNoClientCert, Fault::AcceptAnyDnsServerCert],
    needs: &[Capability::DnsRole, Capability::DnsTls],
    scenario: |ctx| Box::pin(with_dns(ctx, |c, d| Box::pin(dns_tls_mutual_auth(c, d)))),
};

pub(crate) const DNS_LOOKUPS_OVER_TLS: Check = Check {
    id: "dns-lookups-over-tls",
    title: "every query the IUT's LUF/LRF send to the DNS role while routing a call travels inside TLS, none in the clear",
    covers: &[Ref::Rfc6271(16)],
    level: Level::Should,
    requirement: "The protocols used to query the LUF and LRF should protect the confidentiality and integrity of what they carry (RFC 6271 #16): with DNS over TLS required, no query goes over plain UDP or TCP (RFC 7858 §3.1); the data's own integrity is DNSSEC's (RFC 6404 §4.2).",
    fails_under: &[Fault::PlaintextDns],
    needs: &[Capability::DnsRole, Capability::DnsTls],
    scenario: |ctx| Box::pin(with_dns(ctx, |c, d| Box::pin(dns_lookups_over_tls(c, d)))),
};

pub(crate) const INGRESS_PER_PEER: Check = Check {
    id: "ingress-sbe-per-peer",
    title: "resolving the IUT's domain, each peer is given the ingress SBE its SSP advertises to it, and that SBE takes the peer's call",
    covers: &[Ref::Rfc6271(4)],
    level: Level::Must,
    requirement: "The advertisement of SBEs must allow for peer variability (RFC 6271 #4): DNS answers that vary with the querier give each peer its own ingress SBE (RFC 3263 §4), and each SBE takes calls from the peer it was advertised to.",
    fails_under: &[Fault::SameSbeForAllPeers],
    needs: &[Capability::DnsRole, Capability::PerPeerIngress],
    scenario: |ctx| Box::pin(with_dns(ctx, |c, d| Box::pin(ingress_per_peer(c, d)))),
};

/// What the DNS role saw from the IUT: the harness's own roles left out.
struct Seen {
    lookups: Vec<Lookup>,
    sessions: Vec<TlsSession>,
}

impl Seen {
    fn in_clear(&self) -> Vec<&Lookup> {
        self.lookups
            .iter()
            .filter(|l| l.transport != Transport::Tls)
            .collect()
    }

    fn refused(&self) -> Vec<&TlsSession> {
        self.sessions
            .iter()
            .filter(|s| s.outcome.is_err())
            .collect()
    }

    fn established(&self) -> Vec<&TlsSession> {
        self.sessions.iter().filter(|s| s.outcome.is_ok()).collect()
    }

    /// Handshakes the role turned down. One the client walked away from
    /// is not among them: a resolver asking both replicas at once drops
    /// the slower connection, mid-handshake, when the other answers.
    fn refused_by_role(&self) -> Vec<&TlsSession> {
        self.refused()
            .into_iter()
            .filter(|s| !s.client_left)
            .collect()
    }
}

fn harness_ips(ctx: &Ctx) -> [IpAddr; 4] {
    [
        ctx.peer.addr().ip(),
        ctx.stranger.addr().ip(),
        ctx.terminating.addr().ip(),
        ctx.second_peer.addr().ip(),
    ]
}

/// Takes what the role saw since the last call, keeps the IUT's part, and
/// writes it into the evidence.
fn observe(ctx: &Ctx, dns: &DnsRole, phase: &str) -> Seen {
    let ours = harness_ips(ctx);
    let lookups: Vec<Lookup> = dns
        .take_lookups()
        .into_iter()
        .filter(|l| !ours.contains(&l.from.ip()))
        .collect();
    let sessions: Vec<TlsSession> = dns
        .take_tls_sessions()
        .into_iter()
        .filter(|s| !ours.contains(&s.from.ip()))
        .collect();
    for s in &sessions {
        ctx.log.note("dns", format!("{phase}: {s}"));
    }
    for l in &lookups {
        ctx.log.note("dns", format!("{phase}: {l}"));
    }
    Seen { lookups, sessions }
}

fn list<T: std::fmt::Display>(items: &[&T]) -> String {
    let mut shown: Vec<String> = items.iter().take(4).map(|i| i.to_string()).collect();
    if items.len() > 4 {
        shown.push(format!("and {} more", items.len() - 4));
    }
    shown.join("; ")
}

fn landed_text(call: &Call) -> String {
    match &call.landed {
        Some((_, at, _)) => format!("the INVITE reached {at}"),
        None => format!("no INVITE left the IUT; {}", call.answer_text()),
    }
}

async fn dns_tls_mutual_auth(ctx: &mut Ctx, dns: &DnsRole) -> Outcome {
    let Some(lab) = ctx.dns_tls.clone() else {
        return Outcome::inconclusive(
            "the plan does not say the IUT must use DNS over TLS with the DNS role",
        );
    };
    let domain = dns.facts.peer_domain.clone();
    observe(ctx, dns, "before");
    // Connections opened earlier would hide the handshake: the IUT must
    // open new ones, in view.
    dns.close_tls_connections();
    ctx.log.note(
        "dns",
        "both replicas closed their TLS connections: the IUT must handshake again",
    );
    // 1. The genuine server: the IUT must connect and present its
    //    certificate, and the call routes.
    let ruri = format!("sip:erin@alt7.{domain}");
    let call = place_call(ctx, &ruri).await;
    let seen = observe(ctx, dns, "genuine server");
    let refused = seen.refused_by_role();
    if !refused.is_empty() {
        return Outcome::fail(format!(
            "the DNS role, which asks for a client certificate naming {}, refused the IUT's TLS handshakes: {}; its LUF/LRF did not authenticate itself ({})",
            lab.client_domain,
            list(&refused),
            landed_text(&call)
        ));
    }
    let established = seen.established();
    let with_cert = established.iter().any(|s| {
        s.outcome.as_ref().is_ok_and(|p| {
            p.client_names
                .iter()
                .any(|n| n.eq_ignore_ascii_case(&lab.client_domain))
        })
    });
    if established.is_empty() {
        let clear = seen.in_clear();
        return if clear.is_empty() && !seen.lookups.is_empty() {
            Outcome::inconclusive(format!(
                "the IUT asked over TLS connections it kept open although the DNS role closed them ({} queries), so its handshake could not be seen",
                seen.lookups.len()
            ))
        } else if clear.is_empty() {
            Outcome::inconclusive(format!(
                "the IUT opened no TLS connection to the DNS role and asked it nothing while routing {ruri} ({}); how it authenticates its LUF/LRF could not be seen",
                landed_text(&call)
            ))
        } else {
            Outcome::fail(format!(
                "the IUT's LUF/LRF asked the DNS role in the clear ({}), so neither end was authenticated",
                list(&clear)
            ))
        };
    }
    if !with_cert {
        return Outcome::fail(format!(
            "the IUT's TLS sessions with the DNS role carried no client certificate for {}: {}",
            lab.client_domain,
            list(&established)
        ));
    }
    if !matches!(call.landed, Some((RoleId::Peer, ..))) {
        return Outcome::inconclusive(format!(
            "the IUT authenticated itself to the DNS role ({}), but its call for {ruri} did not reach the SBE the answers name ({}), so whether it uses those answers could not be seen",
            list(&established),
            landed_text(&call)
        ));
    }
    let first = format!(
        "the IUT's LUF/LRF connected over TLS with a certificate for {} ({}) and the call for {ruri} was routed",
        lab.client_domain,
        list(&established)
    );
    // 2. A server that cannot prove it is the configured one: a valid
    //    certificate from the same issuer, for another name.
    let Some(wrong) = lab.wrong_name.clone() else {
        return Outcome::inconclusive(format!(
            "{first}; the harness holds no key of an issuer the IUT trusts, so it cannot present a certificate for another name and the IUT's authentication of its DNS servers cannot be seen"
        ));
    };
    dns.present(wrong);
    ctx.log.note(
        "dns",
        format!(
            "both replicas now present a certificate for dns.elsewhere.example instead of {}, and closed their TLS connections",
            lab.server_name
        ),
    );
    let ruri = format!("sip:erin@alt8.{domain}");
    let call = place_call(ctx, &ruri).await;
    let seen = observe(ctx, dns, "server with another name");
    dns.restore().await;
    ctx.log.note(
        "dns",
        format!("both replicas present {} again", lab.server_name),
    );
    let established = seen.established();
    let clear = seen.in_clear();
    if let Some((_, at, _)) = &call.landed {
        return Outcome::fail(format!(
            "with the DNS role presenting a certificate for dns.elsewhere.example, not {}, the IUT routed the call for {ruri} to {at} from its answers ({})",
            lab.server_name,
            if established.is_empty() {
                "no TLS session".to_owned()
            } else {
                list(&established)
            }
        ));
    }
    if !established.is_empty() {
        return Outcome::fail(format!(
            "the IUT completed TLS handshakes with a DNS server whose certificate names dns.elsewhere.example, not {}: {}",
            lab.server_name,
            list(&established)
        ));
    }
    if !clear.is_empty() {
        return Outcome::fail(format!(
            "refused the server's certificate, the IUT fell back to asking in the clear: {}",
            list(&clear)
        ));
    }
    let refused = seen.refused();
    if refused.is_empty() {
        return Outcome::inconclusive(format!(
            "{first}; with a certificate for another name presented, the IUT made no TLS handshake at all ({}), so whether it would refuse one could not be seen",
            call.answer_text()
        ));
    }
    Outcome::pass(format!(
        "{first}; with the DNS role presenting a valid certificate for dns.elsewhere.example instead, the IUT broke off every handshake ({}) and did not route the call for {ruri} ({})",
        list(&refused),
        call.answer_text()
    ))
}

async fn dns_lookups_over_tls(ctx: &mut Ctx, dns: &DnsRole) -> Outcome {
    if ctx.dns_tls.is_none() {
        return Outcome::inconclusive(
            "the plan does not say the IUT must use DNS over TLS with the DNS role",
        );
    }
    let domain = dns.facts.peer_domain.clone();
    observe(ctx, dns, "before");
    // A name nobody has resolved: the IUT must ask.
    let owner = format!("alt9.{domain}");
    let ruri = format!("sip:frank@{owner}");
    let tap_from = ctx.net.sim().map(|s| s.tap().len());
    let call = place_call(ctx, &ruri).await;
    let seen = observe(ctx, dns, "routing");
    let clear = seen.in_clear();
    if !clear.is_empty() {
        return Outcome::fail(format!(
            "the IUT's LUF/LRF asked {} of {} queries in the clear, readable and alterable on the path: {}",
            clear.len(),
            seen.lookups.len(),
            list(&clear)
        ));
    }
    if seen.lookups.is_empty() {
        return Outcome::inconclusive(format!(
            "the IUT asked the DNS role nothing while routing {ruri} ({}), so how its lookups travel could not be seen",
            landed_text(&call)
        ));
    }
    // On the simulated network the tap holds every byte written: the
    // name's wire form (RFC 1035 §3.1) must appear in none of it.
    let leaked = match (ctx.net.sim(), tap_from) {
        (Some(sim), Some(from)) => {
            let wire = wire_name(&owner);
            let hits = sim
                .tap()
                .iter()
                .skip(from)
                .filter(|r| r.bytes.windows(wire.len()).any(|w| w == wire.as_slice()))
                .count();
            Some(hits)
        }
        _ => None,
    };
    if let Some(hits) = leaked.filter(|&h| h > 0) {
        return Outcome::fail(format!(
            "every query reached the DNS role over TLS, yet {owner} crossed the simulated network in the clear {hits} time(s)"
        ));
    }
    let sessions = seen.established();
    Outcome::pass(format!(
        "all {} queries of the IUT's LUF/LRF while routing {ruri} arrived over TLS ({}){}; the data's own integrity is checked by dnssec-forged-answers-refused",
        seen.lookups.len(),
        if sessions.is_empty() {
            "on connections opened earlier".to_owned()
        } else {
            list(&sessions)
        },
        if leaked.is_some() {
            format!(", and {owner} appears nowhere in the clear on the simulated network")
        } else {
            String::new()
        }
    ))
}

/// A domain name in DNS wire form, lower case, without the root label.
fn wire_name(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.trim_end_matches('.').split('.') {
        out.push(label.len() as u8);
        out.extend(label.to_ascii_lowercase().bytes());
    }
    out
}

/// What a call from `from` to the SBE at `sbe` came to.
struct Attempt {
    relayed: bool,
    answer: String,
}

/// `from` sends an INVITE for a number on the IUT's inside to the SBE at
/// `sbe`; the inside refuses it with 486 wherever it arrives, and every
/// final response is ACKed, so no state is left.
async fn call_via(ctx: &mut Ctx, from: RoleId, sbe: SocketAddr) -> Attempt {
    let ruri = format!("sip:+15105550170@{}", sip_hostport(ctx.terminating.addr()));
    let inv = ctx.request(from, "INVITE", &ruri).build();
    let cid = call_id(&inv);
    ctx.role(from).send(sbe, &inv).await;
    let arrived = ctx
        .expect_request(RoleId::Terminating, "INVITE", &cid)
        .await;
    if let Some(req) = &arrived {
        ctx.answer(RoleId::Terminating, req, 486, "Busy Here", None)
            .await;
    }
    let fin = ctx.expect_final(from, &cid, "INVITE").await;
    let answer = match &fin {
        Some(r) => r.summary(),
        None => ctx.what_came(from, &cid),
    };
    if let Some(r) = &fin {
        if let Some(ack) = in_dialog_from(ctx, from, &inv, r, "ACK", true) {
            ctx.role(from).send(sbe, &ack).await;
        }
    }
    let relayed = arrived.is_some() || ctx.nothing_for(RoleId::Terminating, &cid).await.is_some();
    Attempt { relayed, answer }
}

fn role_name(r: RoleId) -> &'static str {
    match r {
        RoleId::Peer => "the peer",
        RoleId::SecondPeer => "the second peer",
        RoleId::Stranger => "the stranger",
        RoleId::Terminating => "the terminating role",
    }
}

async fn ingress_per_peer(ctx: &mut Ctx, dns: &DnsRole) -> Outcome {
    let Some(declared) = ctx.peer_ingress.clone() else {
        return Outcome::inconclusive("the profile lists no ingress SBE per peer");
    };
    let target = format!("sip:{}", dns.facts.ssp_domain);
    let roles = [
        (RoleId::Peer, declared.peer),
        (RoleId::SecondPeer, declared.second_peer),
    ];
    // 1. Each peer resolves the IUT's domain from its own address.
    let mut given = Vec::new();
    let mut wrong = Vec::new();
    for (role, want) in roles {
        let source = ctx.role(role).addr().ip();
        let locator = match dns.locator_as(source).await {
            Ok(l) => l,
            Err(e) => {
                return Outcome::inconclusive(format!(
                    "the harness cannot resolve from {source}: {e}"
                ));
            }
        };
        let hop = match locator.locate(&target).await {
            Ok(found) => found
                .next_hops
                .iter()
                .find(|h| h.transport == "udp")
                .map(|h| SocketAddr::new(h.address, h.port)),
            Err(e) => {
                ctx.log
                    .note("dns", format!("as {}: {target}: {e}", role_name(role)));
                None
            }
        };
        ctx.log.note(
            "dns",
            format!(
                "as {} ({source}): {target} leads to {}",
                role_name(role),
                hop.map_or_else(|| "no UDP SBE".to_owned(), |h| format!("udp:{h}"))
            ),
        );
        match hop {
            Some(h) if h == want => given.push((role, h)),
            Some(h) => wrong.push(format!(
                "{} ({source}) was given udp:{h}, not udp:{want}, the SBE its SSP advertises to it",
                role_name(role)
            )),
            None => wrong.push(format!(
                "{} ({source}) found no UDP SBE for {target}",
                role_name(role)
            )),
        }
    }
    if !wrong.is_empty() {
        return Outcome::fail(format!(
            "the answers for {target} do not vary by peer as declared: {}",
            wrong.join("; ")
        ));
    }
    // 2. Each SBE takes the call of the peer it was advertised to.
    let mut seen = Vec::new();
    for (role, sbe) in &given {
        let a = call_via(ctx, *role, *sbe).await;
        if !a.relayed {
            return Outcome::fail(format!(
                "{} called udp:{sbe}, the SBE advertised to it, and the call was not relayed inwards: {}",
                role_name(*role),
                a.answer
            ));
        }
        seen.push(format!(
            "{} was given udp:{sbe} and its call was relayed there",
            role_name(*role)
        ));
    }
    // 3. An SBE kept for one peer refuses the other, when declared so.
    for owner in &declared.exclusive {
        let Some((_, sbe)) = given.iter().find(|(r, _)| r == owner) else {
            continue;
        };
        let other = if *owner == RoleId::Peer {
            RoleId::SecondPeer
        } else {
            RoleId::Peer
        };
        let a = call_via(ctx, other, *sbe).await;
        if a.relayed {
            return Outcome::fail(format!(
                "udp:{sbe}, the SBE advertised to {} alone, relayed a call from {} ({})",
                role_name(*owner),
                role_name(other),
                a.answer
            ));
        }
        seen.push(format!(
            "{}'s call to udp:{sbe}, kept for {}, was refused ({})",
            role_name(other),
            role_name(*owner),
            a.answer
        ));
    }
    Outcome::pass(seen.join("; "))
}

#[cfg(test)]
mod tests {
    use super::wire_name;

    #[test]
    fn names_in_wire_form() {
        assert_eq!(
            wire_name("Alt9.peer.example."),
            b"\x04alt9\x04peer\x07example"
        );
    }
}

//! RFC 6404 countermeasures checked on the wire.

use crate::dialog::{ack_failure, call_id};
use speermint_corpora::torture as corpus;
use speermint_harness::ctx::{mentions_call, sip_hostport};
use speermint_harness::liveness;
use speermint_harness::role::Received;
use speermint_harness::{Capability, Check, Ctx, Level, Outcome, Ref, RoleId};
use speermint_sbe::Fault;
use speermint_sip::{Message, MessageBuilder};
use std::net::SocketAddr;
use std::time::Duration;

/// RFC 6404 §4.6 (and RFC 6406 §6.2.2): only peers' requests are relayed,
/// and responses or CANCELs forged by a non-peer for a live transaction
/// have no effect.
pub(crate) const INGRESS_FILTERING: Check = Check {
    id: "ingress-filtering",
    title: "requests from a non-peer are refused; forged 200/302/404 and CANCEL from it are not relayed",
    covers: &[
        Ref::Rfc6404(6),
        Ref::Rfc6406("6.2.2"),
        Ref::Rfc6404Threat("SF-forged-200"),
        Ref::Rfc6404Threat("SF-forged-302"),
        Ref::Rfc6404Threat("SF-forged-404"),
        Ref::Rfc6404Threat("SF-session-teardown"),
    ],
    level: Level::Must,
    requirement: "A border element accepts signaling only from the peers it has a relationship with, and ignores responses and transaction-ending requests that do not come from where the transaction went (RFC 6404 §4.6).",
    fails_under: &[Fault::AcceptStrangers, Fault::RelayForgedResponses],
    needs: &[],
    scenario: |ctx| Box::pin(ingress_filtering(ctx)),
};

async fn ingress_filtering(ctx: &mut Ctx) -> Outcome {
    let ruri = format!("sip:+15105550101@{}", sip_hostport(ctx.terminating.addr()));
    // 1. An INVITE from the stranger.
    let inv = ctx.request(RoleId::Stranger, "INVITE", &ruri).build();
    let cid = call_id(&inv);
    ctx.send_to_iut(RoleId::Stranger, &inv).await;
    if ctx.nothing_for(RoleId::Terminating, &cid).await.is_some() {
        return Outcome::fail("an INVITE from a non-peer address was relayed to the next hop");
    }
    let refusal = ctx.expect_final(RoleId::Stranger, &cid, "INVITE").await;
    let refusal_note = match refusal.as_ref().and_then(Received::status) {
        Some(403) => "refused with 403".to_string(),
        Some(s) if s >= 300 => format!("refused with {s}"),
        Some(s) => return Outcome::fail(format!("the INVITE from a non-peer was answered {s}")),
        None => match ctx.what_came(RoleId::Stranger, &cid) {
            nothing if nothing == "nothing came back" => "dropped silently".to_string(),
            other => format!("not refused with a final response ({other}) and not relayed"),
        },
    };

    // 2. A live transaction from the peer.
    let invite = ctx.request(RoleId::Peer, "INVITE", &ruri).build();
    let cid = call_id(&invite);
    ctx.send_to_iut(RoleId::Peer, &invite).await;
    let Some(fwd) = ctx
        .expect_request(RoleId::Terminating, "INVITE", &cid)
        .await
    else {
        return Outcome::inconclusive(format!(
            "non-peer INVITE {refusal_note}, but the peer's INVITE was not relayed, so forged responses could not be tried; the peer got {}",
            ctx.what_came(RoleId::Peer, &cid)
        ));
    };
    let Some(fwd_msg) = fwd.msg().map(|m| m.as_bytes().to_vec()) else {
        return Outcome::fail("the relayed INVITE does not parse");
    };

    // 3. The stranger cancels the peer's transaction (it sniffed the INVITE).
    let cancel = spoofed_cancel(&invite);
    ctx.send_to_iut(RoleId::Stranger, &cancel).await;
    let window = ctx.timing.silence;
    if let Some(r) = ctx
        .role(RoleId::Terminating)
        .recv_matching(window, |r| is_cancel_for(r, &cid))
        .await
    {
        return Outcome::fail(format!(
            "a CANCEL from a non-peer was relayed to the next hop: {}",
            r.summary()
        ));
    }

    // 4. The stranger forges final responses to the relayed INVITE.
    let fwd_parsed = Message::parse(&fwd_msg).expect("parsed above");
    for (code, reason) in [(200, "OK"), (302, "Moved Temporarily"), (404, "Not Found")] {
        let mut b = MessageBuilder::response_to(&fwd_parsed, code, reason, Some("forged"));
        if code == 302 {
            b = b.header(
                "Contact",
                format!("<sip:victim@{}>", sip_hostport(ctx.stranger.addr())),
            );
        }
        let forged = b.build();
        ctx.send_to_iut(RoleId::Stranger, &forged).await;
    }
    let c = cid.clone();
    if let Some(r) = ctx
        .role(RoleId::Peer)
        .recv_matching(window, move |r| {
            r.status().is_some_and(|s| s >= 200) && mentions_call(&r.bytes, &c)
        })
        .await
    {
        return Outcome::fail(format!(
            "a response forged by a non-peer reached the peer: {}",
            r.summary()
        ));
    }

    // 5. The real answer still gets through: the transaction was live.
    ctx.answer(RoleId::Terminating, &fwd, 486, "Busy Here", None)
        .await;
    let Some(fin) = ctx.expect_final(RoleId::Peer, &cid, "INVITE").await else {
        return Outcome::inconclusive(format!(
            "the genuine 486 from the next hop never reached the peer, so the absence of forged responses proves nothing; the peer got {}",
            ctx.what_came(RoleId::Peer, &cid)
        ));
    };
    ack_failure(ctx, &invite, &fin).await;
    match fin.status() {
        Some(486) => Outcome::pass(format!(
            "non-peer INVITE {refusal_note} and not relayed; spoofed CANCEL and forged 200/302/404 were not relayed; the genuine 486 was"
        )),
        _ => Outcome::fail(format!(
            "the peer received {} instead of the genuine 486",
            fin.summary()
        )),
    }
}

fn is_cancel_for(r: &Received, cid: &str) -> bool {
    r.msg()
        .is_some_and(|m| m.is_request() && m.method() == "CANCEL" && m.core().call_id == cid)
}

/// A CANCEL matching the peer's INVITE transaction (RFC 3261 §9.1), as a
/// sniffing attacker would build it.
fn spoofed_cancel(invite: &[u8]) -> Vec<u8> {
    let Ok(inv) = Message::parse(invite) else {
        return Vec::new();
    };
    let c = inv.core();
    MessageBuilder::request(
        "CANCEL",
        inv.request_uri().map(|u| u.raw()).unwrap_or_default(),
    )
    .header("Via", c.via.raw)
    .header("Max-Forwards", 70)
    .header("From", c.from.raw)
    .header("To", c.to.raw)
    .header("Call-ID", c.call_id)
    .header("CSeq", format!("{} CANCEL", c.cseq.seq))
    .build()
}

/// RFC 6404 §2.3.2.1: a peer has no reason to register; REGISTER from it is refused.
pub(crate) const PEER_REGISTER_REJECTED: Check = Check {
    id: "peer-register-rejected",
    title: "REGISTER from a peer is rejected and not relayed",
    covers: &[Ref::Rfc6404Section("2.3.2.1")],
    level: Level::Should,
    requirement: "Registrations arriving over a peering interface are superfluous in normal operation and are rejected (RFC 6404 §2.3.2.1).",
    fails_under: &[Fault::AcceptRegister],
    needs: &[],
    scenario: |ctx| Box::pin(peer_register(ctx)),
};

async fn peer_register(ctx: &mut Ctx) -> Outcome {
    let iut = sip_hostport(ctx.iut);
    let reg = ctx
        .request(RoleId::Peer, "REGISTER", &format!("sip:{iut}"))
        .header("Expires", 3600)
        .build();
    let cid = call_id(&reg);
    ctx.send_to_iut(RoleId::Peer, &reg).await;
    let answer = ctx.expect_final(RoleId::Peer, &cid, "REGISTER").await;
    if let Some(r) = ctx.nothing_for(RoleId::Terminating, &cid).await {
        return Outcome::fail(format!("the peer's REGISTER was relayed: {}", r.summary()));
    }
    match answer.as_ref().and_then(Received::status) {
        Some(s) if s >= 300 => Outcome::pass(format!(
            "REGISTER from the peer answered {s} and not relayed"
        )),
        Some(s) => Outcome::fail(format!("REGISTER from the peer was accepted with {s}")),
        // The requirement is that registrations do not cross, not that they
        // are answered: a silent drop passes (the liveness probe after the
        // check tells it from a dead element). A transaction begun with a
        // provisional and never ended is not a drop.
        None => match ctx.what_came(RoleId::Peer, &cid) {
            nothing if nothing == "nothing came back" => {
                Outcome::pass("REGISTER from the peer not relayed and not answered: dropped")
            }
            other => Outcome::inconclusive(format!(
                "REGISTER from the peer not relayed, but no final response ({other}): the IUT began a transaction it never ended"
            )),
        },
    }
}

/// RFC 6404 §4.11: malformed requests (the RFC 4475 and RFC 5118 invalid sets) are
/// answered with an error or dropped, never relayed, and the element stays up.
pub(crate) const TORTURE_HARDENING: Check = Check {
    id: "torture-hardening",
    title: "every invalid RFC 4475 and RFC 5118 request is refused or dropped, never relayed, and a liveness probe is answered after each",
    covers: &[Ref::Rfc6404(11), Ref::Rfc6404Threat("SF-sip-fuzzing")],
    level: Level::Must,
    requirement: "A border element withstands malformed signaling: it must not relay it and must keep serving (RFC 6404 §4.11).",
    fails_under: &[Fault::ForwardMalformed, Fault::DieOnMalformed],
    // Each message alone in a datagram: over a stream, the first one
    // without a usable Content-Length would take the framing of all that
    // follow (RFC 3261 §18.3).
    needs: &[Capability::Udp],
    scenario: |ctx| Box::pin(torture(ctx)),
};

/// Rewrites only the sent-by of the top Via to `addr` and adds `;rport`,
/// so the IUT's answer comes back to the role (RFC 3261 §18.2.2); every
/// other byte stays as stored. Returns `None` when there is no Via to rewrite.
pub(crate) fn rewrite_top_via(bytes: &[u8], addr: SocketAddr) -> Option<Vec<u8>> {
    let head_end = find(bytes, b"\r\n\r\n").unwrap_or(bytes.len());
    let mut pos = find(bytes, b"\r\n")? + 2;
    while pos < head_end {
        let eol = pos + find(&bytes[pos..], b"\r\n")?;
        let line = &bytes[pos..eol];
        let colon = line.iter().position(|&c| c == b':')?;
        let name = String::from_utf8_lossy(&line[..colon])
            .trim()
            .to_ascii_lowercase();
        if name == "via" || name == "v" {
            // After "SIP/2.0/TRANSPORT" comes LWS, then the sent-by.
            let value = &line[colon + 1..];
            let slash2 = value
                .iter()
                .enumerate()
                .filter(|(_, c)| **c == b'/')
                .nth(1)?
                .0;
            let mut i = slash2 + 1;
            while i < value.len() && value[i].is_ascii_whitespace() {
                i += 1;
            }
            while i < value.len() && !value[i].is_ascii_whitespace() {
                i += 1;
            }
            while i < value.len() && value[i].is_ascii_whitespace() {
                i += 1;
            }
            let start = i;
            while i < value.len() && !matches!(value[i], b';' | b',' | b' ' | b'\t') {
                i += 1;
            }
            let (s, e) = (pos + colon + 1 + start, pos + colon + 1 + i);
            let mut out = bytes[..s].to_vec();
            out.extend_from_slice(format!("{};rport", sip_hostport(addr)).as_bytes());
            out.extend_from_slice(&bytes[e..]);
            return Some(out);
        }
        pos = eol + 2;
    }
    None
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

/// What the IUT did with one torture case.
struct CaseRow {
    case: String,
    category: String,
    did: String,
    ok: bool,
}

/// The liveness probe of [`speermint_harness::liveness`], waiting for a
/// final answer; its Call-ID goes into `probes`, so that its traffic is not
/// taken for the IUT's answer to a case.
async fn torture_probe(ctx: &mut Ctx, probes: &mut Vec<String>) -> bool {
    let asked = liveness::ask(ctx, true).await;
    probes.push(asked.call_id);
    asked.answer.is_ok()
}

/// Where a relayed copy still carries the defect the RFC forbids
/// forwarding: the same start line, or the same From/To lines, as sent.
fn carried_defect(sent: &[u8], relayed: &[u8], repair: Option<&str>) -> Option<&'static str> {
    let lines = |b: &[u8]| -> Vec<Vec<u8>> {
        b.split(|&c| c == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l).to_vec())
            .take_while(|l| !l.is_empty())
            .collect()
    };
    let (s, r) = (lines(sent), lines(relayed));
    match repair? {
        "start-line" => (!s.is_empty() && s.first() == r.first()).then_some("start line"),
        "from-to" => {
            let is_from_to = |l: &&Vec<u8>| {
                let lower = l.to_ascii_lowercase();
                ["from:", "f:", "to:", "t:"]
                    .iter()
                    .any(|p| lower.starts_with(p.as_bytes()))
            };
            s.iter()
                .filter(is_from_to)
                .any(|l| r.contains(l))
                .then_some("From or To")
        }
        _ => None,
    }
}

/// RFC 6404 §4.11 with RFC 4475's own latitude: every invalid request is
/// sent, whatever happened to the one before, and judged by its category.
/// `must-refuse` cases (the RFC says to answer with an error) must not be
/// relayed or accepted. `may-accept` cases (the RFC lets a liberal element
/// accept them) may be relayed, but what leaves must be a valid message:
/// the defect must not cross the border (RFC 4475 §3.1.2.7, §3.1.2.9,
/// §3.1.2.10, §3.1.2.11, §3.1.2.15). The IUT must answer a liveness probe
/// after each case.
async fn torture(ctx: &mut Ctx) -> Outcome {
    let cases: Vec<_> = corpus::all()
        .into_iter()
        .filter(|e| e.kind == "request" && e.verdict == "invalid")
        .collect();
    if cases.is_empty() {
        return Outcome::inconclusive("no invalid requests in the corpus");
    }
    // Before any case: a target that does not answer now says nothing
    // about malformed input.
    let mut probes = Vec::new();
    if !torture_probe(ctx, &mut probes).await {
        let got: Vec<String> = ctx
            .role(RoleId::Peer)
            .drain(Duration::ZERO)
            .await
            .iter()
            .map(Received::summary)
            .collect();
        return Outcome::inconclusive(format!(
            "the IUT gave no final answer to the liveness probe before the first case{}",
            if got.is_empty() {
                " (nothing came back)".to_owned()
            } else {
                format!("; it sent: {}", got.join(" | "))
            }
        ));
    }
    let mut rows: Vec<CaseRow> = Vec::with_capacity(cases.len());
    let mut dead_after: Option<String> = None;
    for e in &cases {
        let case = format!("{} ({} §{})", e.file, e.corpus.to_uppercase(), e.section);
        let category = e.category.clone().unwrap_or_else(|| "must-refuse".into());
        if dead_after.is_some() {
            rows.push(CaseRow {
                case,
                category,
                did: "not sent: the IUT had stopped answering".into(),
                ok: false,
            });
            continue;
        }
        let (bytes, how) = match rewrite_top_via(e.bytes(), ctx.peer.addr()) {
            Some(b) => (
                b,
                "top Via sent-by rewritten to the peer role with ;rport, every other byte as stored",
            ),
            None => (e.bytes().to_vec(), "no Via to rewrite: sent as stored"),
        };
        ctx.log.note(
            "peer",
            format!("case {case}, {} [{category}]: {how}", e.title),
        );
        ctx.send_to_iut(RoleId::Peer, &bytes).await;
        let alive = torture_probe(ctx, &mut probes).await;
        let is_probe = |r: &Received| probes.iter().any(|c| mentions_call(&r.bytes, c));
        let relayed: Vec<Received> = ctx
            .role(RoleId::Terminating)
            .drain(Duration::from_millis(20))
            .await
            .into_iter()
            .filter(|r| !is_probe(r))
            .collect();
        let answers: Vec<u16> = ctx
            .role(RoleId::Peer)
            .drain(Duration::ZERO)
            .await
            .iter()
            .filter(|r| !is_probe(r))
            .filter_map(Received::status)
            .filter(|s| *s >= 200)
            .collect();
        let may_accept = category == "may-accept";
        let (did, ok) = if let Some(r) = relayed.first() {
            match (
                may_accept,
                carried_defect(&bytes, &r.bytes, e.repair.as_deref()),
            ) {
                (false, _) => (format!("relayed: {}", r.summary()), false),
                (true, Some(part)) => (
                    format!(
                        "relayed with the defect still in its {part}: {}",
                        r.summary()
                    ),
                    false,
                ),
                (true, None) => ("relayed, which the RFC allows for it".into(), true),
            }
        } else if let Some(s) = answers.iter().find(|s| (200..300).contains(*s)) {
            (format!("accepted with {s}"), may_accept)
        } else if let Some(s) = answers.first() {
            (format!("refused with {s}"), true)
        } else {
            ("dropped".into(), true)
        };
        let (did, ok) = if alive {
            (did, ok)
        } else {
            dead_after = Some(case.clone());
            (
                format!("{did}; then the IUT stopped answering the liveness probe"),
                false,
            )
        };
        rows.push(CaseRow {
            case,
            category,
            did,
            ok,
        });
    }
    let mut table = String::from("case | category | what the IUT did | verdict\n");
    for r in &rows {
        table.push_str(&format!(
            "{} | {} | {} | {}\n",
            r.case,
            r.category,
            r.did,
            if r.ok { "pass" } else { "fail" }
        ));
    }
    ctx.log.note("peer", table);
    let failed: Vec<String> = rows
        .iter()
        .filter(|r| !r.ok)
        .map(|r| format!("{}: {}", r.case, r.did))
        .collect();
    if failed.is_empty() {
        let refused = rows.iter().filter(|r| r.did.starts_with("refused")).count();
        let dropped = rows.iter().filter(|r| r.did == "dropped").count();
        let repaired = rows.len() - refused - dropped;
        Outcome::pass(format!(
            "{} invalid requests: {refused} refused, {dropped} dropped, {repaired} accepted or relayed as valid messages (allowed for them), none relayed with its defect; the liveness probe was answered after each",
            rows.len()
        ))
    } else {
        Outcome::fail(format!(
            "{} of {} invalid requests mishandled: {}",
            failed.len(),
            rows.len(),
            failed.join("; ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_rewrite_keeps_every_other_byte() {
        let msg = b"INVITE sip:a@b SIP/2.0\r\nTo: x\r\nv:  SIP/2.0/UDP 192.0.2.15;;,;,,\r\nCall-ID: c\r\n\r\nbody";
        let out = rewrite_top_via(msg, "127.0.0.2:5070".parse().unwrap()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "INVITE sip:a@b SIP/2.0\r\nTo: x\r\nv:  SIP/2.0/UDP 127.0.0.2:5070;rport;;,;,,\r\nCall-ID: c\r\n\r\nbody"
        );
        assert_eq!(
            rewrite_top_via(
                b"INVITE sip:a@b SIP/2.0\r\nTo: x\r\n\r\n",
                "127.0.0.2:1".parse().unwrap()
            ),
            None
        );
    }

    #[test]
    fn a_defect_counts_as_carried_only_where_the_rfc_forbids_it() {
        let sent =
            b"OPTIONS sip:a@b SIP/2.0  \r\nTo: <sip:a@b >\r\nFrom: Bob Jr. <sip:x@y>;tag=1\r\n\r\n";
        let same = b"OPTIONS sip:a@b SIP/2.0  \r\nVia: SIP/2.0/UDP p\r\nTo: <sip:a@b >\r\nFrom: Bob Jr. <sip:x@y>;tag=1\r\n\r\n";
        let fixed = b"OPTIONS sip:a@b SIP/2.0\r\nTo: <sip:a@b>\r\nFrom: \"Bob Jr.\" <sip:x@y>;tag=1\r\n\r\n";
        assert_eq!(
            carried_defect(sent, same, Some("start-line")),
            Some("start line")
        );
        assert_eq!(carried_defect(sent, fixed, Some("start-line")), None);
        assert_eq!(
            carried_defect(sent, same, Some("from-to")),
            Some("From or To")
        );
        assert_eq!(carried_defect(sent, fixed, Some("from-to")), None);
        // No repair rule (badaspec, badbranch): relaying unchanged is fine.
        assert_eq!(carried_defect(sent, same, None), None);
    }

    #[test]
    fn spoofed_cancel_matches_the_invite_transaction() {
        let inv = MessageBuilder::request("INVITE", "sip:b@h")
            .header("Via", "SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bKabc")
            .header("From", "<sip:a@h>;tag=1")
            .header("To", "<sip:b@h>")
            .header("Call-ID", "c1")
            .header("CSeq", "7 INVITE")
            .build();
        let c = spoofed_cancel(&inv);
        let m = Message::parse(&c).unwrap();
        assert_eq!((m.method(), m.core().cseq.seq), ("CANCEL", 7));
        assert_eq!(m.core().via.branch(), Some("z9hG4bKabc"));
    }
}

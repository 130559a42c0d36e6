//! RFC 6404 §4.10 (topology hiding, after RFC 5853 §3.1): an IUT that
//! hides its inside lets no inside address or host name reach a peer.
//!
//! The terminating role plays the inside: a proxy on its own address in
//! front of a user agent named `ua1.core.inside.invalid`, behind a second
//! proxy `proxy1.core.inside.invalid`, on a private address. Its messages
//! carry those names where real ones do: Via (with `received`),
//! Record-Route, Contact, Call-ID and the SDP origin. Two calls cross the
//! IUT, one each way; in each, the callee re-INVITEs and the BYE comes
//! from the other end, so both legs' mappings are exercised. Every message
//! the peer received is then searched for each inside name.
//!
//! The SDP `c=` line names a documentation address (RFC 5737) standing
//! for the Media Function: which media address a peer sees is RFC 6271
//! #3's business, not this check's.

use speermint_harness::check::Capability;
use speermint_harness::ctx::sip_hostport;
use speermint_harness::role::Received;
use speermint_harness::{Check, Ctx, Level, Outcome, Ref, RoleId};
use speermint_sbe::Fault;
use speermint_sip::{HeaderName, Message, MessageBuilder};

pub(crate) const TOPOLOGY_HIDDEN: Check = Check {
    id: "topology-hidden-from-peers",
    title: "nothing the IUT sends a peer names its inside: calls both ways, re-INVITE and BYE from either end, every message searched",
    covers: &[Ref::Rfc6404(10)],
    level: Level::Must,
    requirement: "A border element that hides its SSP's topology removes the inside's Via and Record-Route entries, replaces its Contact and Call-ID, and names itself as the SDP origin in everything it sends to a peer, while dialogs keep working from both ends (RFC 6404 §4.10, RFC 5853 §3.1).",
    fails_under: &[
        Fault::LeakVia,
        Fault::LeakRecordRoute,
        Fault::LeakContact,
        Fault::LeakCallId,
        Fault::LeakSdpOrigin,
    ],
    needs: &[Capability::TopologyHiding],
    scenario: |ctx| Box::pin(topology_hidden(ctx)),
};

/// The inside user agent's host name.
const UA: &str = "ua1.core.inside.invalid";
/// An inside proxy that record-routes.
const PROXY: &str = "proxy1.core.inside.invalid";
/// The inside user agent's private address (RFC 1918).
const UA_ADDR: &str = "10.99.0.7";

fn offer(user: &str, origin: &str) -> Vec<u8> {
    format!(
        "v=0\r\no={user} 2890844526 2890844526 IN IP4 {origin}\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    )
    .into_bytes()
}

/// The inside's names to search for. The terminating role's address is
/// one, unless the IUT or the peer share its IP (a lab on one host):
/// then its address with the port.
fn secrets(ctx: &Ctx) -> Vec<String> {
    let term = ctx.terminating.addr();
    let ip = term.ip();
    let own = if ip == ctx.iut.ip() || ip == ctx.peer.addr().ip() {
        sip_hostport(term)
    } else {
        ip.to_string()
    };
    vec![UA.into(), PROXY.into(), UA_ADDR.into(), own]
}

/// Where each secret shows in a message: "`ua1…` in Via of INVITE".
fn findings(bytes: &[u8], secrets: &[String]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let what = text.lines().next().unwrap_or_default().to_string();
    let what = Message::parse(bytes)
        .ok()
        .map(|m| match m.status() {
            Some(code) => format!("{code} to {}", m.core().cseq.method),
            None => m.method().to_string(),
        })
        .unwrap_or(what);
    let mut out = Vec::new();
    for line in text.lines() {
        let lower = line.to_ascii_lowercase();
        for s in secrets {
            if lower.contains(&s.to_ascii_lowercase()) {
                let field = line
                    .split_once(':')
                    .filter(|(n, _)| !n.contains(' ') && !n.contains('='))
                    .map_or_else(
                        || match line.split_once('=') {
                            Some((k, _)) if k.len() == 1 => format!("SDP {k}= line"),
                            _ => "start line".to_string(),
                        },
                        |(n, _)| n.trim().to_string(),
                    );
                out.push(format!("{s} in {field} of {what}"));
            }
        }
    }
    out
}

/// Waits at `at` for a request whose From tag is `tag`: the IUT may rename
/// the call.
async fn expect_by_tag(ctx: &mut Ctx, at: RoleId, method: &str, tag: &str) -> Option<Received> {
    let wait = ctx.timing.response;
    let (m, t) = (method.to_string(), tag.to_string());
    ctx.role(at)
        .recv_matching(wait, move |r| {
            r.msg().is_some_and(|msg| {
                msg.is_request() && msg.method() == m && msg.core().from.tag() == Some(&*t)
            })
        })
        .await
}

/// A request inside the dialog: `target` and `route` as the sender's
/// route set has them (RFC 3261 §12.2.1.1), `from`/`to` its local and
/// remote party.
struct InDialog<'a> {
    method: &'a str,
    target: String,
    route: Vec<String>,
    from: String,
    to: String,
    call_id: String,
    cseq: u32,
}

impl InDialog<'_> {
    /// As `role` sends it; `inside` adds the user agent's Via and Contact
    /// behind the inside proxy, and its SDP.
    fn build(&self, ctx: &mut Ctx, role: RoleId, inside: bool) -> Vec<u8> {
        let t = ctx.token();
        let host = sip_hostport(ctx.role(role).addr());
        let mut b = MessageBuilder::request(self.method, &self.target)
            .header("Via", format!("SIP/2.0/UDP {host};branch=z9hG4bK{t};rport"));
        if inside {
            b = b.header(
                "Via",
                format!("SIP/2.0/UDP {UA}:5060;branch=z9hG4bK{t}u;received={UA_ADDR}"),
            );
        }
        for r in &self.route {
            b = b.header("Route", r);
        }
        b = b
            .header("Max-Forwards", 70)
            .header("From", &self.from)
            .header("To", &self.to)
            .header("Call-ID", &self.call_id)
            .header("CSeq", format!("{} {}", self.cseq, self.method));
        if self.method == "INVITE" {
            let contact = if inside {
                format!("<sip:alice@{UA}:5060>")
            } else {
                format!("<sip:speermint@{host}>")
            };
            b = b.header("Contact", contact);
            let sdp = if inside {
                offer("alice", UA_ADDR)
            } else {
                offer("-", &ctx.role(role).addr().ip().to_string())
            };
            b = b.body("application/sdp", &sdp);
        }
        b.build()
    }
}

/// The UAC's view of a dialog from the request it sent and the 2xx it got
/// (RFC 3261 §12.1.2): target the Contact, route the Record-Route list
/// reversed, without the inside proxies' own entries when the inside
/// sends (they would have taken them off before the IUT).
fn as_uac(
    req: &Message<'_>,
    ok: &Message<'_>,
    method: &'static str,
    inside: &[String],
) -> Option<InDialog<'static>> {
    let target = ok
        .name_addrs(HeaderName::Contact)
        .next()?
        .uri
        .raw()
        .to_string();
    let mut route: Vec<String> = ok
        .name_addrs(HeaderName::RecordRoute)
        .map(|na| na.raw.to_string())
        .collect();
    route.reverse();
    let route = route
        .into_iter()
        .skip_while(|r| inside.iter().any(|s| r.contains(s.as_str())))
        .collect();
    Some(InDialog {
        method,
        target,
        route,
        from: req.core().from.raw.to_string(),
        to: ok.core().to.raw.to_string(),
        call_id: req.core().call_id.to_string(),
        cseq: if method == "ACK" {
            req.core().cseq.seq
        } else {
            req.core().cseq.seq + 1
        },
    })
}

/// The UAS's view (RFC 3261 §12.1.1): target the request's Contact, route
/// its Record-Route list in order, its own To (with `tag`) as From.
fn as_uas(
    req: &Message<'_>,
    tag: &str,
    method: &'static str,
    inside: &[String],
) -> Option<InDialog<'static>> {
    let target = req
        .name_addrs(HeaderName::Contact)
        .next()?
        .uri
        .raw()
        .to_string();
    let route = req
        .name_addrs(HeaderName::RecordRoute)
        .map(|na| na.raw.to_string())
        .skip_while(|r| inside.iter().any(|s| r.contains(s.as_str())))
        .collect();
    Some(InDialog {
        method,
        target,
        route,
        from: format!("{};tag={tag}", req.core().to.raw),
        to: req.core().from.raw.to_string(),
        call_id: req.core().call_id.to_string(),
        cseq: 100,
    })
}

/// The inside's 2xx: its proxies' Record-Route entries above the rest, the
/// user agent's Contact and SDP.
fn inside_ok(ctx: &Ctx, req: &Message<'_>, tag: &str, with_sdp: bool) -> Vec<u8> {
    let mut b = MessageBuilder::response_to(req, 200, "OK", Some(tag));
    let term = sip_hostport(ctx.terminating.addr());
    if req.method() == "INVITE" && req.core().to.tag().is_none() {
        b = b
            .header("Record-Route", format!("<sip:{PROXY};lr>"))
            .header("Record-Route", format!("<sip:{term};lr>"));
    }
    for rr in req.values(HeaderName::RecordRoute) {
        b = b.header("Record-Route", rr);
    }
    b = b.header("Contact", format!("<sip:alice@{UA}:5060>"));
    if with_sdp {
        b = b.body("application/sdp", &offer("alice", UA_ADDR));
    }
    b.build()
}

/// A step that did not happen: the dialog broke somewhere.
fn broken(step: &str) -> Outcome {
    Outcome::fail(format!(
        "the dialog did not survive the border: {step}; hiding must keep dialogs working from both ends (RFC 5853 §3.1.3)"
    ))
}

async fn topology_hidden(ctx: &mut Ctx) -> Outcome {
    let inside = vec![PROXY.to_string(), sip_hostport(ctx.terminating.addr())];
    if let Err(o) = call_from_inside(ctx, &inside).await {
        return o;
    }
    if let Err(o) = call_from_peer(ctx, &inside).await {
        return o;
    }
    let secrets = secrets(ctx);
    let seen = ctx.log.received_by(ctx.peer.name());
    let found: Vec<String> = seen.iter().flat_map(|m| findings(m, &secrets)).collect();
    if found.is_empty() {
        Outcome::pass(format!(
            "{} messages reached the peer over two calls (INVITE, ACK, re-INVITE and BYE from each end); none named the inside (searched for {})",
            seen.len(),
            secrets.join(", ")
        ))
    } else {
        let mut unique: Vec<String> = Vec::new();
        for f in found {
            if !unique.contains(&f) {
                unique.push(f);
            }
        }
        Outcome::fail(format!(
            "the inside's names reached the peer: {}",
            unique.join("; ")
        ))
    }
}

/// The inside calls the peer; the peer re-INVITEs; the inside hangs up.
async fn call_from_inside(ctx: &mut Ctx, inside: &[String]) -> Result<(), Outcome> {
    let t = ctx.token();
    let term = sip_hostport(ctx.terminating.addr());
    let ruri = format!("sip:+15105550142@{}", sip_hostport(ctx.peer.addr()));
    let tag = format!("in{t}");
    let cid = format!("{t}@{UA}");
    let inv = MessageBuilder::request("INVITE", &ruri)
        .header(
            "Via",
            format!("SIP/2.0/UDP {term};branch=z9hG4bK{t}p;rport"),
        )
        .header(
            "Via",
            format!("SIP/2.0/UDP {UA}:5060;branch=z9hG4bK{t}u;received={UA_ADDR}"),
        )
        .header("Record-Route", format!("<sip:{term};lr>"))
        .header("Record-Route", format!("<sip:{PROXY};lr>"))
        .header("Max-Forwards", 69)
        .header("From", format!("<sip:alice@ssp.example>;tag={tag}"))
        .header("To", format!("<{ruri}>"))
        .header("Call-ID", &cid)
        .header("CSeq", "1 INVITE")
        .header("Contact", format!("<sip:alice@{UA}:5060>"))
        .body("application/sdp", &offer("alice", UA_ADDR))
        .build();
    ctx.send_to_iut(RoleId::Terminating, &inv).await;
    let Some(at_peer) = expect_by_tag(ctx, RoleId::Peer, "INVITE", &tag).await else {
        return Err(Outcome::inconclusive(format!(
            "the IUT did not relay a call from its inside to the peer ({ruri}); the inside got {}",
            ctx.what_came(RoleId::Terminating, &cid)
        )));
    };
    let peer_sdp = offer("-", &ctx.peer.addr().ip().to_string());
    let ok = ctx
        .answer(
            RoleId::Peer,
            &at_peer,
            200,
            "OK",
            Some(("application/sdp", &peer_sdp[..])),
        )
        .await;
    let Some(back) = ctx.expect_final(RoleId::Terminating, &cid, "INVITE").await else {
        return Err(broken(
            "the peer's 200 to the inside's INVITE never reached the inside under its own Call-ID",
        ));
    };
    let (Ok(inv_m), Some(back_m)) = (Message::parse(&inv), back.msg()) else {
        return Err(broken("the 200 reached the inside unparseable"));
    };
    let Some(ack) = as_uac(&inv_m, &back_m, "ACK", inside) else {
        return Err(broken("the 200 that reached the inside had no Contact"));
    };
    let ack = ack.build(ctx, RoleId::Terminating, true);
    ctx.send_to_iut(RoleId::Terminating, &ack).await;
    let peer_cid = at_peer
        .msg()
        .map(|m| m.core().call_id.to_string())
        .unwrap_or_default();
    if ctx
        .expect_request(RoleId::Peer, "ACK", &peer_cid)
        .await
        .is_none()
    {
        return Err(broken("the inside's ACK did not reach the peer"));
    }
    // The peer, as callee, re-INVITEs.
    let (Some(at_peer_m), Ok(ok_m)) = (at_peer.msg(), Message::parse(&ok)) else {
        return Err(broken("the INVITE at the peer did not parse"));
    };
    let ok_tag = ok_m.core().to.tag().unwrap_or_default().to_string();
    let Some(re) = as_uas(&at_peer_m, &ok_tag, "INVITE", &[]) else {
        return Err(broken(
            "the INVITE that reached the peer had no Contact to re-INVITE",
        ));
    };
    let re = re.build(ctx, RoleId::Peer, false);
    ctx.send_to_iut(RoleId::Peer, &re).await;
    let Some(re_in) = ctx
        .expect_request(RoleId::Terminating, "INVITE", &cid)
        .await
    else {
        return Err(broken(
            "the peer's re-INVITE did not reach the inside under its own Call-ID",
        ));
    };
    let Some(re_in_m) = re_in.msg() else {
        return Err(broken("the re-INVITE reached the inside unparseable"));
    };
    let reply = inside_ok(ctx, &re_in_m, &tag, true);
    ctx.role(RoleId::Terminating).send(re_in.from, &reply).await;
    let Some(re_ok) = ctx.expect_final(RoleId::Peer, &peer_cid, "INVITE").await else {
        return Err(broken(
            "the inside's 200 to the re-INVITE did not reach the peer",
        ));
    };
    if let (Ok(re_m), Some(re_ok_m)) = (Message::parse(&re), re_ok.msg()) {
        if let Some(ack) = as_uac(&re_m, &re_ok_m, "ACK", &[]) {
            let ack = ack.build(ctx, RoleId::Peer, false);
            ctx.send_to_iut(RoleId::Peer, &ack).await;
            ctx.expect_request(RoleId::Terminating, "ACK", &cid).await;
        }
    }
    // The inside hangs up.
    let Some(mut bye) = as_uac(&inv_m, &back_m, "BYE", inside) else {
        return Err(broken("no dialog to hang up"));
    };
    bye.cseq = 3;
    let bye = bye.build(ctx, RoleId::Terminating, true);
    ctx.send_to_iut(RoleId::Terminating, &bye).await;
    let Some(bye_at_peer) = ctx.expect_request(RoleId::Peer, "BYE", &peer_cid).await else {
        return Err(broken("the inside's BYE did not reach the peer"));
    };
    ctx.answer(RoleId::Peer, &bye_at_peer, 200, "OK", None)
        .await;
    if ctx
        .expect_final(RoleId::Terminating, &cid, "BYE")
        .await
        .is_none()
    {
        return Err(broken("the peer's 200 to the BYE did not reach the inside"));
    }
    Ok(())
}

/// The peer calls the inside; the inside re-INVITEs; the peer hangs up.
async fn call_from_peer(ctx: &mut Ctx, inside: &[String]) -> Result<(), Outcome> {
    // Addressed to the IUT itself: an inside address the peer wrote would
    // come back in To and From, and not as the IUT's leak.
    let ruri = format!("sip:+15105550143@{}", sip_hostport(ctx.iut));
    let peer_sdp = offer("-", &ctx.peer.addr().ip().to_string());
    let inv = ctx
        .request(RoleId::Peer, "INVITE", &ruri)
        .body("application/sdp", &peer_sdp)
        .build();
    let cid = crate::dialog::call_id(&inv);
    ctx.send_to_iut(RoleId::Peer, &inv).await;
    let Some(at_inside) = ctx
        .expect_request(RoleId::Terminating, "INVITE", &cid)
        .await
    else {
        return Err(Outcome::inconclusive(format!(
            "the IUT did not relay the peer's call to its inside ({ruri}); the peer got {}",
            ctx.what_came(RoleId::Peer, &cid)
        )));
    };
    let Some(at_inside_m) = at_inside.msg() else {
        return Err(broken("the peer's INVITE reached the inside unparseable"));
    };
    // The IUT may rename the call on its inside leg too (a B2BUA does):
    // the inside knows it by the Call-ID it got.
    let inside_cid = at_inside_m.core().call_id.to_string();
    let t = ctx.token();
    let tag = format!("in{t}");
    let ok = inside_ok(ctx, &at_inside_m, &tag, true);
    ctx.role(RoleId::Terminating)
        .send(at_inside.from, &ok)
        .await;
    let Some(ok_at_peer) = ctx.expect_final(RoleId::Peer, &cid, "INVITE").await else {
        return Err(broken("the inside's 200 did not reach the peer"));
    };
    let (Ok(inv_m), Some(ok_m)) = (Message::parse(&inv), ok_at_peer.msg()) else {
        return Err(broken("the 200 reached the peer unparseable"));
    };
    let Some(ack) = as_uac(&inv_m, &ok_m, "ACK", &[]) else {
        return Err(broken("the 200 that reached the peer had no Contact"));
    };
    let ack = ack.build(ctx, RoleId::Peer, false);
    ctx.send_to_iut(RoleId::Peer, &ack).await;
    if ctx
        .expect_request(RoleId::Terminating, "ACK", &inside_cid)
        .await
        .is_none()
    {
        return Err(broken("the peer's ACK did not reach the inside"));
    }
    // The inside, as callee, re-INVITEs.
    let Some(re) = as_uas(&at_inside_m, &tag, "INVITE", inside) else {
        return Err(broken("the peer's INVITE had no Contact to re-INVITE"));
    };
    let re = re.build(ctx, RoleId::Terminating, true);
    ctx.send_to_iut(RoleId::Terminating, &re).await;
    let Some(re_at_peer) = ctx.expect_request(RoleId::Peer, "INVITE", &cid).await else {
        return Err(broken("the inside's re-INVITE did not reach the peer"));
    };
    ctx.answer(
        RoleId::Peer,
        &re_at_peer,
        200,
        "OK",
        Some(("application/sdp", &peer_sdp[..])),
    )
    .await;
    let Some(re_ok) = ctx
        .expect_final(RoleId::Terminating, &inside_cid, "INVITE")
        .await
    else {
        return Err(broken(
            "the peer's 200 to the re-INVITE did not reach the inside",
        ));
    };
    if let (Ok(re_m), Some(re_ok_m)) = (Message::parse(&re), re_ok.msg()) {
        if let Some(ack) = as_uac(&re_m, &re_ok_m, "ACK", inside) {
            let ack = ack.build(ctx, RoleId::Terminating, true);
            ctx.send_to_iut(RoleId::Terminating, &ack).await;
            ctx.expect_request(RoleId::Peer, "ACK", &cid).await;
        }
    }
    // The peer hangs up.
    let Some(mut bye) = as_uac(&inv_m, &ok_m, "BYE", &[]) else {
        return Err(broken("no dialog to hang up"));
    };
    bye.cseq = 3;
    let bye = bye.build(ctx, RoleId::Peer, false);
    ctx.send_to_iut(RoleId::Peer, &bye).await;
    let Some(bye_in) = ctx
        .expect_request(RoleId::Terminating, "BYE", &inside_cid)
        .await
    else {
        return Err(broken("the peer's BYE did not reach the inside"));
    };
    let Some(bye_in_m) = bye_in.msg() else {
        return Err(broken("the BYE reached the inside unparseable"));
    };
    let bye_ok = inside_ok(ctx, &bye_in_m, &tag, false);
    ctx.role(RoleId::Terminating)
        .send(bye_in.from, &bye_ok)
        .await;
    if ctx.expect_final(RoleId::Peer, &cid, "BYE").await.is_none() {
        return Err(broken("the inside's 200 to the BYE did not reach the peer"));
    }
    Ok(())
}

//! The Media Function (RFC 6406 §5.3, §6.3): what the IUT's DBE does with
//! the media of a call it signalled. The peer and the terminating role
//! each get an endpoint of the media role ([`speermint_harness::media`])
//! on their own address, the stranger an attacker's; a call is set up
//! with SDP naming the endpoints, each keys its SRTP receiver from the
//! `a=crypto` it got, and what the SDP each side got names is where they
//! send.
//!
//! Judged on the wire: the addresses the SDP names (RFC 6271 #3), which
//! packets reach which endpoint and whether SRTP still authenticates there
//! (RFC 6404 §4.13), and what attacks from the stranger and floods from a
//! negotiated source change (the threats of RFC 6404 §2.4). Where media
//! went besides the endpoints shows only on the simulated network, whose
//! tap sees every datagram; over sockets that part is said not observed.

use crate::dialog::{call_id, hang_up};
use speermint_harness::check::Capability;
use speermint_harness::ctx::sip_hostport;
use speermint_harness::media::{Arrival, MediaRole, Offer, media_address, names_ip, rtp_packet};
use speermint_harness::{Check, Ctx, Level, Outcome, Ref, RoleId};
use speermint_sbe::Fault;
use speermint_sdp::Sdp;
use std::net::SocketAddr;
use std::time::Duration;

pub(crate) const MEDIA_VIA_DECLARED_DBE: Check = Check {
    id: "media-via-declared-dbe",
    title: "the SDP each side gets names the IUT's declared DBE, never the other side's endpoint, and RTP crosses it both ways",
    covers: &[Ref::Rfc6271(3)],
    level: Level::Must,
    requirement: "The media of a peering call goes through the Media Function the SSP declares: the c= and m= a peer gets name its DBE, no transport address in the SDP (c=, a=rtcp, ICE candidates) names the far endpoint, and media sent to the DBE reaches the far endpoint (RFC 6271 #3, RFC 6406 §5.3).",
    fails_under: &[Fault::MediaBypass, Fault::KeepIceCandidates],
    needs: &[Capability::MediaRelay],
    scenario: |ctx| Box::pin(media_via_declared_dbe(ctx)),
};

pub(crate) const SRTP_INTACT: Check = Check {
    id: "srtp-intact-and-unforgeable",
    title: "SRTP crosses the DBE authenticating end to end; a stranger's RTP and RTCP BYE change nothing; media goes nowhere else",
    covers: &[
        Ref::Rfc6404(13),
        Ref::Rfc6404Threat("MF-eavesdropping"),
        Ref::Rfc6404Threat("MF-media-injection"),
        Ref::Rfc6404Threat("MF-media-session-teardown"),
    ],
    level: Level::Must,
    requirement: "SRTP keyed end to end (RFC 4568) crosses the border intact, so every packet authenticates at the far endpoint; media from anyone but the negotiated endpoint, and an unauthenticated RTCP BYE, have no effect; media is sent to no third address (RFC 6404 §4.13, §2.4.1, §2.4.2).",
    fails_under: &[
        Fault::DecryptSrtp,
        Fault::LatchAnySource,
        Fault::AcceptUnauthenticatedRtcp,
        Fault::MediaToThirdAddress,
    ],
    needs: &[Capability::MediaRelay],
    scenario: |ctx| Box::pin(srtp_intact(ctx)),
};

pub(crate) const MEDIA_FLOODS_AND_MALFORMED: Check = Check {
    id: "media-floods-and-malformed",
    title: "a stranger's flood at the relay port reaches no endpoint and costs the genuine stream under 1 %; after malformed RTP/RTCP the stream goes on",
    covers: &[
        Ref::Rfc6404Threat("MF-qos-degradation"),
        Ref::Rfc6404Threat("MF-malformed-messages"),
        Ref::Rfc6404Threat("MF-message-flooding"),
    ],
    level: Level::Must,
    requirement: "The DBE keeps serving under attack: a stranger's flood at its relay port neither reaches the endpoint nor degrades the genuine stream, and malformed RTP and RTCP from the endpoint neither crash it nor stop the stream (RFC 6404 §2.4.2, §2.4.3).",
    fails_under: &[Fault::LatchAnySource],
    needs: &[Capability::MediaRelay],
    scenario: |ctx| Box::pin(floods_and_malformed(ctx)),
};

pub(crate) const MEDIA_VALIDATED_AND_POLICED: Check = Check {
    id: "media-validated-and-policed",
    title: "malformed RTP/RTCP is not passed on to the far endpoint, and an endpoint's own flood is policed",
    covers: &[
        Ref::Rfc6404Threat("MF-malformed-messages"),
        Ref::Rfc6404Threat("MF-message-flooding"),
    ],
    level: Level::Should,
    requirement: "A hardened DBE drops RTP and RTCP that fail the RFC 3550 Appendix A checks rather than pass them to the far UE, which §2.4.3 names as a target too, and limits the rate of each stream so that a negotiated source cannot flood the far side (RFC 6404 §4.9, §4.11; both are suggested countermeasures, so a finding warns).",
    fails_under: &[Fault::RelayMalformedRtp, Fault::NoMediaRateLimit],
    needs: &[Capability::MediaRelay],
    scenario: |ctx| Box::pin(validated_and_policed(ctx)),
};

/// The SSRCs of the peer's and the inside's streams.
const PEER_SSRC: u32 = 0x1111;
const INSIDE_SSRC: u32 = 0x2222;

/// A call with media endpoints on both sides and the relay each sees.
struct MediaCall {
    invite: Vec<u8>,
    ok: speermint_harness::role::Received,
    peer: MediaRole,
    inside: MediaRole,
    /// Where the peer sends: what the SDP it got names.
    to_from_peer: SocketAddr,
    /// Where the inside sends.
    to_from_inside: SocketAddr,
    /// The SDP the peer sent, and the SDP the peer got.
    sent_by_peer: Vec<u8>,
    seen_by_peer: Vec<u8>,
    /// The SDP the inside sent, and the SDP the inside got.
    sent_by_inside: Vec<u8>,
    seen_by_inside: Vec<u8>,
}

/// Sets up a call from the peer with SDP naming its endpoint, answered by
/// the terminating role naming its own; each endpoint keys its receiver
/// from the SDP it got.
async fn set_up(ctx: &mut Ctx, offer: Offer) -> Result<MediaCall, Outcome> {
    let peer_ip = ctx.peer.addr().ip();
    let inside_ip = ctx.terminating.addr().ip();
    let (Ok(mut peer), Ok(mut inside)) = (
        MediaRole::bind(&ctx.net, peer_ip, PEER_SSRC, offer).await,
        MediaRole::bind(&ctx.net, inside_ip, INSIDE_SSRC, offer).await,
    ) else {
        return Err(Outcome::inconclusive(
            "could not bind the media endpoints' sockets",
        ));
    };
    let ruri = format!("sip:+15105550100@{}", sip_hostport(ctx.terminating.addr()));
    let sent_by_peer = peer.endpoint().sdp(offer);
    let invite = ctx
        .request(RoleId::Peer, "INVITE", &ruri)
        .body("application/sdp", &sent_by_peer)
        .build();
    let cid = call_id(&invite);
    ctx.send_to_iut(RoleId::Peer, &invite).await;
    let Some(fwd) = ctx
        .expect_request(RoleId::Terminating, "INVITE", &cid)
        .await
    else {
        return Err(Outcome::inconclusive(format!(
            "the IUT did not relay the INVITE with SDP to its next hop; the peer got {}",
            ctx.what_came(RoleId::Peer, &cid)
        )));
    };
    let seen_by_inside = fwd.msg().map(|m| m.body().to_vec()).unwrap_or_default();
    let Some(to_from_inside) = media_address(&seen_by_inside) else {
        return Err(Outcome::fail(
            "the offer reached the next hop without an SDP stream to send media to",
        ));
    };
    inside.endpoint().key_receiver_from(&seen_by_inside);
    let sent_by_inside = inside.endpoint().sdp(offer);
    ctx.answer(
        RoleId::Terminating,
        &fwd,
        200,
        "OK",
        Some(("application/sdp", &sent_by_inside)),
    )
    .await;
    let Some(ok) = ctx.expect_final(RoleId::Peer, &cid, "INVITE").await else {
        return Err(Outcome::inconclusive(format!(
            "the 200 OK with the answer never reached the peer ({})",
            ctx.what_came(RoleId::Peer, &cid)
        )));
    };
    let seen_by_peer = ok.msg().map(|m| m.body().to_vec()).unwrap_or_default();
    let Some(to_from_peer) = media_address(&seen_by_peer) else {
        hang_up(ctx, &invite, &ok).await;
        return Err(Outcome::fail(
            "the answer reached the peer without an SDP stream to send media to",
        ));
    };
    peer.endpoint().key_receiver_from(&seen_by_peer);
    Ok(MediaCall {
        invite,
        ok,
        peer,
        inside,
        to_from_peer,
        to_from_inside,
        sent_by_peer,
        seen_by_peer,
        sent_by_inside,
        seen_by_inside,
    })
}

/// The `a=crypto` lines of an SDP body, as text.
fn crypto_lines(body: &[u8]) -> Vec<String> {
    Sdp::parse(body)
        .map(|sdp| {
            sdp.attributes()
                .filter(|a| a.name == "crypto")
                .map(|a| String::from_utf8_lossy(a.raw_line).trim_end().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// How many arrivals authenticated.
fn authentic(got: &[Arrival]) -> usize {
    got.iter().filter(|a| a.authentic == Some(true)).count()
}

/// How many arrivals are RTP of the stream `ssrc`.
fn of_ssrc(got: &[Arrival], ssrc: u32) -> usize {
    got.iter().filter(|a| a.ssrc == Some(ssrc)).count()
}

async fn media_via_declared_dbe(ctx: &mut Ctx) -> Outcome {
    let Some(declared) = ctx.media_relay.clone() else {
        return Outcome::inconclusive("the profile declares no DBE address (target.media_relay)");
    };
    let offer = Offer {
        srtp: false,
        ice: true,
    };
    let mut call = match set_up(ctx, offer).await {
        Ok(c) => c,
        Err(o) => return o,
    };
    let (peer_addr, inside_addr) = (call.peer.addr(), call.inside.addr());
    let mut problems = Vec::new();
    if !declared.contains(&call.to_from_peer.ip()) {
        problems.push(format!(
            "the SDP the peer got names {} (declared DBE: {})",
            call.to_from_peer,
            declared
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some(wheres) = names_ip(&call.seen_by_peer, inside_addr.ip()) {
        problems.push(format!(
            "the SDP the peer got names the inside endpoint's address {} in {wheres}",
            inside_addr.ip()
        ));
    }
    if let Some(wheres) = names_ip(&call.seen_by_inside, peer_addr.ip()) {
        problems.push(format!(
            "the SDP the inside got names the peer endpoint's address {} in {wheres}",
            peer_addr.ip()
        ));
    }
    let quiet = ctx.timing.silence;
    // Only the far endpoint's RTP counts as crossing: a DBE that takes
    // part in ICE also sends each endpoint its own STUN checks.
    call.peer.send(call.to_from_peer, 1).await;
    let inward = of_ssrc(&call.inside.collect(quiet, 16).await, PEER_SSRC);
    call.inside.send(call.to_from_inside, 1).await;
    let outward = of_ssrc(&call.peer.collect(quiet, 16).await, INSIDE_SSRC);
    if inward == 0 || outward == 0 {
        problems.push(format!(
            "RTP sent to the addresses the SDP named did not cross ({inward} packet(s) in, {outward} out)"
        ));
    }
    hang_up(ctx, &call.invite, &call.ok).await;
    if problems.is_empty() {
        Outcome::pass(format!(
            "the peer was told to send to {} (a declared DBE address), the inside to {}; no c=, a=rtcp or ICE candidate either side got named the other endpoint; RTP crossed both ways",
            call.to_from_peer, call.to_from_inside
        ))
    } else {
        Outcome::fail(problems.join("; "))
    }
}

async fn srtp_intact(ctx: &mut Ctx) -> Outcome {
    let tap_start = ctx.net.sim().map(|s| s.tap().len());
    let offer = Offer {
        srtp: true,
        ice: false,
    };
    let mut call = match set_up(ctx, offer).await {
        Ok(c) => c,
        Err(o) => return o,
    };
    let quiet = ctx.timing.silence;
    let mut problems = Vec::new();
    // End to end means the keys too: each side must get the other's
    // a=crypto as it was sent, or the IUT terminates SRTP (RFC 6271 #17).
    for (who, sent, seen) in [
        ("inside", &call.sent_by_peer, &call.seen_by_inside),
        ("peer", &call.sent_by_inside, &call.seen_by_peer),
    ] {
        let (sent, seen) = (crypto_lines(sent), crypto_lines(seen));
        if sent != seen {
            problems.push(format!(
                "the {who} got a=crypto {seen:?} instead of {sent:?}: the keys are not end to end"
            ));
        }
    }
    const N: u16 = 20;
    // SRTP both ways.
    call.peer.send(call.to_from_peer, N).await;
    let got_in = call.inside.collect(quiet, 1000).await;
    let ok_in = authentic(&got_in);
    call.inside.send(call.to_from_inside, N).await;
    let got_out = call.peer.collect(quiet, 1000).await;
    let ok_out = authentic(&got_out);
    if ok_in != usize::from(N) || ok_out != usize::from(N) {
        problems.push(format!(
            "of {N} SRTP packets each way, {ok_in} authenticated at the inside ({} arrived) and {ok_out} at the peer ({} arrived)",
            got_in.len(),
            got_out.len()
        ));
    }
    // Injection: the stranger sends RTP with the peer's SSRC, ahead of it.
    let plain = Offer {
        srtp: false,
        ice: false,
    };
    let stranger_ip = ctx.stranger.addr().ip();
    let Ok(mut stranger) = MediaRole::bind(&ctx.net, stranger_ip, PEER_SSRC, plain).await else {
        hang_up(ctx, &call.invite, &call.ok).await;
        return Outcome::inconclusive("could not bind the attacker's socket");
    };
    for to in [call.to_from_peer, call.to_from_inside] {
        for seq in N + 1..N + 6 {
            stranger.send_raw(to, rtp_packet(seq, PEER_SSRC)).await;
        }
    }
    let leaked_in = call.inside.collect(quiet, 1000).await;
    let leaked_out = call.peer.collect(quiet, 1000).await;
    if !leaked_in.is_empty() || !leaked_out.is_empty() {
        problems.push(format!(
            "the stranger's RTP sent to the relay ports reached the endpoints ({} at the inside, {} at the peer)",
            leaked_in.len(),
            leaked_out.len()
        ));
    }
    // Teardown: an unauthenticated RTCP BYE from the stranger, to the
    // RTP port and the next (RTCP) one.
    let bye: Vec<u8> = vec![0x81, 203, 0, 1, 0, 0, 0x11, 0x11];
    for to in [call.to_from_peer, call.to_from_inside] {
        let rtcp_port = SocketAddr::new(to.ip(), to.port().saturating_add(1));
        stranger.send_raw(to, bye.clone()).await;
        stranger.send_raw(rtcp_port, bye.clone()).await;
    }
    let _ = call.inside.collect(quiet, 1000).await;
    let _ = call.peer.collect(quiet, 1000).await;
    // Whatever the DBE sent the stranger so far (its own packets back,
    // say) is read now, so that what it gets next is the call's media.
    let _ = stranger.collect(quiet, 1000).await;
    call.peer.send(call.to_from_peer, 10).await;
    let after = call.inside.collect(quiet, 1000).await;
    let ok_after = authentic(&after);
    if ok_after != 10 {
        problems.push(format!(
            "after the stranger's RTCP BYE, {ok_after} of 10 SRTP packets reached the inside"
        ));
    }
    // Hijack, seen from the attacker's own socket on either network: the
    // relay latched the inside's stream to the stranger (RFC 6404 §2.4.1).
    let stolen = of_ssrc(&stranger.collect(quiet, 1000).await, PEER_SSRC);
    if stolen > 0 {
        problems.push(format!(
            "the stranger received {stolen} of those 10 SRTP packets of the peer: the DBE sent the call's media to it"
        ));
    }
    hang_up(ctx, &call.invite, &call.ok).await;
    // Eavesdropping: every datagram from the DBE's relay addresses went
    // to an endpoint (the simulated network's tap sees them all).
    let relays = [call.to_from_peer.ip(), call.to_from_inside.ip()];
    let endpoints = [call.peer.addr(), call.inside.addr()];
    let iut_sip = ctx.iut;
    let eavesdrop = match (ctx.net.sim(), tap_start) {
        (Some(sim), Some(start)) => {
            let strays: Vec<String> = sim
                .tap()
                .into_iter()
                .skip(start)
                .filter(|r| relays.contains(&r.from.ip()) && r.from != iut_sip)
                .filter(|r| !endpoints.contains(&r.to))
                .map(|r| format!("{} -> {}", r.from, r.to))
                .collect();
            if let Some(first) = strays.first() {
                problems.push(format!(
                    "{} datagram(s) left the DBE for an address neither SDP named (first: {first})",
                    strays.len()
                ));
            }
            "and the DBE sent nothing to any other address"
        }
        _ => "(where else media went than to the stranger is not observable over sockets)",
    };
    if problems.is_empty() {
        Outcome::pass(format!(
            "each side got the other's a=crypto unchanged; {N} SRTP packets each way all authenticated at the far endpoint; the stranger's 5 RTP packets reached nobody; after its RTCP BYE, 10 of 10 SRTP packets still crossed and none reached the stranger; {eavesdrop}"
        ))
    } else {
        Outcome::fail(problems.join("; "))
    }
}

/// RTP and RTCP that fail the RFC 3550 Appendix A checks.
fn torture() -> Vec<(&'static str, Vec<u8>)> {
    let good = rtp_packet(500, PEER_SSRC);
    let mut bad_version = good.clone();
    bad_version[0] = 0x40;
    let mut csrc_past_end = good[..12].to_vec();
    csrc_past_end[0] = 0x8f; // 15 CSRCs, none there
    let mut ext_past_end = good[..12].to_vec();
    ext_past_end[0] = 0x90;
    ext_past_end.extend_from_slice(&[0xbe, 0xde, 0x0f, 0xff]);
    let mut padding_lie = good.clone();
    padding_lie[0] = 0xa0;
    if let Some(last) = padding_lie.last_mut() {
        *last = 0xff;
    }
    vec![
        ("a truncated header", good[..7].to_vec()),
        ("version 1", bad_version),
        ("a CSRC count past the end", csrc_past_end),
        ("an extension length past the end", ext_past_end),
        ("a padding count past the payload", padding_lie),
        (
            "an RTCP length that lies",
            vec![0x80, 200, 0x00, 0x40, 0, 0, 0x11, 0x11],
        ),
    ]
}

async fn floods_and_malformed(ctx: &mut Ctx) -> Outcome {
    let plain = Offer {
        srtp: false,
        ice: false,
    };
    let mut call = match set_up(ctx, plain).await {
        Ok(c) => c,
        Err(o) => return o,
    };
    let quiet = ctx.timing.silence;
    let mut problems = Vec::new();
    let stranger_ip = ctx.stranger.addr().ip();
    let Ok(mut stranger) = MediaRole::bind(&ctx.net, stranger_ip, PEER_SSRC, plain).await else {
        hang_up(ctx, &call.invite, &call.ok).await;
        return Outcome::inconclusive("could not bind the attacker's socket");
    };
    // QoS: a stranger floods the relay port at ten times the rate of the
    // genuine stream (100 packets/s, paced: a burst at line rate would
    // measure the socket buffers, not the relay). The genuine stream's
    // sequence numbers start at 1, the flood's at 10,000. The inside
    // endpoint reads between rounds, which paces them (10 ms of quiet
    // each): read only at the end, its own socket's receive buffer would
    // drop what a DBE relaying the flood sends, and the genuine packets
    // lost there would be blamed on the DBE.
    const GENUINE: u16 = 100;
    const FLOOD: usize = 1000;
    const ROUND_QUIET: Duration = Duration::from_millis(10);
    let burst = FLOOD / usize::from(GENUINE);
    let mut got = Vec::new();
    for round in 0..GENUINE {
        call.peer.send(call.to_from_peer, 1).await;
        for i in 0..burst {
            let s = 10_000u16.wrapping_add(round * 16 + i as u16);
            stranger
                .send_raw(call.to_from_peer, rtp_packet(s, PEER_SSRC))
                .await;
        }
        got.extend(call.inside.collect(ROUND_QUIET, 4 * FLOOD).await);
    }
    got.extend(call.inside.collect(quiet, 4 * FLOOD).await);
    let genuine = got
        .iter()
        .filter(|a| a.ssrc == Some(PEER_SSRC) && a.seq.is_some_and(|s| s < 10_000))
        .count();
    let from_stranger = got.len() - genuine;
    let loss = 100.0 * (1.0 - genuine as f64 / f64::from(GENUINE));
    if from_stranger > 0 || loss >= 1.0 {
        problems.push(format!(
            "with the stranger sending {FLOOD} packets to the relay port, {genuine} of {GENUINE} genuine packets crossed ({loss:.1} % lost) and {from_stranger} of the stranger's reached the inside"
        ));
    }
    // Malformed: each of the torture set from the negotiated endpoint;
    // whether they are passed on is the SHOULD check's, here only that the
    // stream survives them.
    for (_, p) in torture() {
        call.peer.send_raw(call.to_from_peer, p).await;
        let _ = call.inside.collect(quiet, 4).await;
    }
    call.peer.send(call.to_from_peer, 1).await;
    let survived = !call.inside.collect(quiet, 4).await.is_empty();
    if !survived {
        problems.push("after the malformed packets, a valid one no longer crossed".into());
    }
    hang_up(ctx, &call.invite, &call.ok).await;
    if problems.is_empty() {
        Outcome::pass(format!(
            "with a stranger's {FLOOD} packets at the relay port over 1 s, {genuine} of {GENUINE} genuine packets crossed and none of the stranger's; after {} malformed packets the stream went on",
            torture().len()
        ))
    } else {
        Outcome::fail(problems.join("; "))
    }
}

async fn validated_and_policed(ctx: &mut Ctx) -> Outcome {
    let plain = Offer {
        srtp: false,
        ice: false,
    };
    let mut call = match set_up(ctx, plain).await {
        Ok(c) => c,
        Err(o) => return o,
    };
    let quiet = ctx.timing.silence;
    const ROUND_QUIET: Duration = Duration::from_millis(10);
    let mut problems = Vec::new();
    // Malformed: each of the torture set from the negotiated endpoint.
    let mut relayed = Vec::new();
    for (what, p) in torture() {
        call.peer.send_raw(call.to_from_peer, p).await;
        if !call.inside.collect(quiet, 4).await.is_empty() {
            relayed.push(what);
        }
    }
    if !relayed.is_empty() {
        problems.push(format!(
            "malformed packets were relayed: {}",
            relayed.join(", ")
        ));
    }
    // Flooding from the negotiated source itself: 3,000 packets in rounds
    // of 150, the inside reading between rounds as above, which makes
    // several thousand packets/s for a fraction of a second: far over any
    // media rate (an HD video stream sends about 2,000 packets/s). Sent at
    // once instead, the DBE's socket buffer (a Linux default holds about
    // 256 of them) would drop most whether it polices or not, and the
    // endpoint's would hide the rest.
    const BURST: u16 = 3000;
    const ROUND: u16 = 150;
    let started = tokio::time::Instant::now();
    let mut through = 0;
    for _ in 0..BURST / ROUND {
        call.peer.send(call.to_from_peer, ROUND).await;
        through += call
            .inside
            .collect(ROUND_QUIET, 2 * usize::from(BURST))
            .await
            .len();
    }
    let took = started.elapsed().as_millis();
    through += call
        .inside
        .collect(quiet, 2 * usize::from(BURST))
        .await
        .len();
    if through * 4 > usize::from(BURST) * 3 {
        problems.push(format!(
            "of {BURST} packets the endpoint sent in {took} ms, {through} were relayed: no rate limit"
        ));
    }
    hang_up(ctx, &call.invite, &call.ok).await;
    if problems.is_empty() {
        Outcome::pass(format!(
            "all {} malformed packets were dropped; of {BURST} packets the endpoint sent in {took} ms, {through} were relayed",
            torture().len()
        ))
    } else {
        Outcome::warn(problems.join("; "))
    }
}

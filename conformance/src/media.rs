//! The Media Function (RFC 6406 §5.3, §6.3): what the IUT's DBE does with
//! the media of a call it signalled. The peer and the terminating role
//! each get an RTP endpoint (a UDP socket on their own address), the
//! stranger an attacker's; a call is set up with SDP naming the
//! endpoints, and what the SDP each side got names is where they send.
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
use speermint_harness::{Check, Ctx, Level, Outcome, Ref, RoleId};
use speermint_net::UdpSock;
use speermint_rtp::{SrtpConfig, SrtpContext, SrtpProfile};
use speermint_sbe::Fault;
use speermint_sdp::Sdp;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

pub(crate) const MEDIA_VIA_DECLARED_DBE: Check = Check {
    id: "media-via-declared-dbe",
    title: "the SDP each side gets names the IUT's declared DBE, never the other side's endpoint, and RTP crosses it both ways",
    covers: &[Ref::Rfc6271(3)],
    level: Level::Must,
    requirement: "The media of a peering call goes through the Media Function the SSP declares: the c= and m= a peer gets name its DBE, and media sent there reaches the far endpoint (RFC 6271 #3, RFC 6406 §5.3).",
    fails_under: &[Fault::MediaBypass],
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
    title: "a stranger's flood costs the genuine stream under 1 %; malformed RTP/RTCP is dropped and the stream survives; a burst from the endpoint is policed",
    covers: &[
        Ref::Rfc6404Threat("MF-qos-degradation"),
        Ref::Rfc6404Threat("MF-malformed-messages"),
        Ref::Rfc6404Threat("MF-message-flooding"),
    ],
    level: Level::Must,
    requirement: "The DBE keeps serving under attack: a stranger's flood at its relay port neither reaches the endpoint nor degrades the genuine stream, malformed RTP and RTCP are dropped, and a negotiated source sending far over any media rate is policed (RFC 6404 §2.4.2, §2.4.3, §4.9, §4.11).",
    fails_under: &[
        Fault::LatchAnySource,
        Fault::RelayMalformedRtp,
        Fault::NoMediaRateLimit,
    ],
    needs: &[Capability::MediaRelay],
    scenario: |ctx| Box::pin(floods_and_malformed(ctx)),
};

/// Synthetic SRTP master key and salt (RFC 4568 §6.1: 30 octets).
const KEY: [u8; 16] = *b"speermint-media!";
const SALT: [u8; 14] = *b"salt-for-srtp.";

/// A call with media endpoints on both sides and the relay each sees.
struct MediaCall {
    invite: Vec<u8>,
    ok: speermint_harness::role::Received,
    peer_ep: UdpSock,
    inside_ep: UdpSock,
    /// Where the peer sends: what the SDP it got names.
    to_from_peer: SocketAddr,
    /// Where the inside sends.
    to_from_inside: SocketAddr,
    /// The SDP the peer got.
    seen_by_peer: String,
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn sdp(ep: SocketAddr, srtp: bool) -> Vec<u8> {
    let ip = ep.ip();
    let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
    let mut s = format!(
        "v=0\r\no=- 1 1 IN {family} {ip}\r\ns=-\r\nc=IN {family} {ip}\r\nt=0 0\r\nm=audio {} {} 0\r\na=rtpmap:0 PCMU/8000\r\n",
        ep.port(),
        if srtp { "RTP/SAVP" } else { "RTP/AVP" }
    );
    if srtp {
        let mut material = KEY.to_vec();
        material.extend_from_slice(&SALT);
        s.push_str(&format!(
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{}\r\n",
            b64(&material)
        ));
    }
    s.into_bytes()
}

/// The address the (first) stream of an SDP names, and the SDP as text.
fn media_address(body: &[u8]) -> Option<SocketAddr> {
    let sdp = Sdp::parse(body).ok()?;
    let m = sdp.media().next()?;
    let ip = m
        .connection()
        .or_else(|| sdp.session_connection())
        .and_then(|c| c.ip)?;
    Some(SocketAddr::new(ip, m.port))
}

fn rtp(seq: u16, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 0];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0xd5; 160]);
    p
}

/// Sets up a call from the peer with SDP naming its endpoint, answered by
/// the terminating role naming its own.
async fn set_up(ctx: &mut Ctx, srtp: bool) -> Result<MediaCall, Outcome> {
    let bind = |ip: IpAddr| SocketAddr::new(ip, 0);
    let peer_ip = ctx.peer.addr().ip();
    let inside_ip = ctx.terminating.addr().ip();
    let (Ok(peer_ep), Ok(inside_ep)) = (
        ctx.net.bind_udp(bind(peer_ip)).await,
        ctx.net.bind_udp(bind(inside_ip)).await,
    ) else {
        return Err(Outcome::inconclusive(
            "could not bind the media endpoints' sockets",
        ));
    };
    let (Ok(peer_addr), Ok(inside_addr)) = (peer_ep.local_addr(), inside_ep.local_addr()) else {
        return Err(Outcome::inconclusive("media endpoints without an address"));
    };
    let ruri = format!("sip:+15105550100@{}", sip_hostport(ctx.terminating.addr()));
    let invite = ctx
        .request(RoleId::Peer, "INVITE", &ruri)
        .body("application/sdp", &sdp(peer_addr, srtp))
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
    let offer_seen = fwd.msg().map(|m| m.body().to_vec()).unwrap_or_default();
    let Some(to_from_inside) = media_address(&offer_seen) else {
        return Err(Outcome::fail(
            "the offer reached the next hop without an SDP stream to send media to",
        ));
    };
    let answer = sdp(inside_addr, srtp);
    ctx.answer(
        RoleId::Terminating,
        &fwd,
        200,
        "OK",
        Some(("application/sdp", &answer)),
    )
    .await;
    let Some(ok) = ctx.expect_final(RoleId::Peer, &cid, "INVITE").await else {
        return Err(Outcome::inconclusive(format!(
            "the 200 OK with the answer never reached the peer ({})",
            ctx.what_came(RoleId::Peer, &cid)
        )));
    };
    let answer_seen = ok.msg().map(|m| m.body().to_vec()).unwrap_or_default();
    let Some(to_from_peer) = media_address(&answer_seen) else {
        hang_up(ctx, &invite, &ok).await;
        return Err(Outcome::fail(
            "the answer reached the peer without an SDP stream to send media to",
        ));
    };
    Ok(MediaCall {
        invite,
        ok,
        peer_ep,
        inside_ep,
        to_from_peer,
        to_from_inside,
        seen_by_peer: String::from_utf8_lossy(&answer_seen).into_owned(),
    })
}

/// Everything that arrives at `sock` until it has been quiet for `quiet`
/// (at most `max` datagrams).
async fn collect(sock: &UdpSock, quiet: Duration, max: usize) -> Vec<(SocketAddr, Vec<u8>)> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65_535];
    while got.len() < max {
        match tokio::time::timeout(quiet, sock.recv_from(&mut buf)).await {
            Ok(Ok((n, from))) => got.push((from, buf[..n].to_vec())),
            _ => break,
        }
    }
    got
}

async fn send_all(sock: &UdpSock, to: SocketAddr, packets: &[Vec<u8>]) {
    for p in packets {
        let _ = sock.send_to(p, to).await;
    }
}

async fn media_via_declared_dbe(ctx: &mut Ctx) -> Outcome {
    let Some(declared) = ctx.media_relay.clone() else {
        return Outcome::inconclusive("the profile declares no DBE address (target.media_relay)");
    };
    let call = match set_up(ctx, false).await {
        Ok(c) => c,
        Err(o) => return o,
    };
    let (Ok(peer_addr), Ok(inside_addr)) = (call.peer_ep.local_addr(), call.inside_ep.local_addr())
    else {
        return Outcome::inconclusive("media endpoints without an address");
    };
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
    if call.to_from_peer == inside_addr || call.seen_by_peer.contains(&inside_addr.ip().to_string())
    {
        problems.push(format!(
            "the SDP the peer got names the inside endpoint {inside_addr}"
        ));
    }
    if call.to_from_inside == peer_addr {
        problems.push(format!(
            "the SDP the inside got names the peer's endpoint {peer_addr}"
        ));
    }
    let quiet = ctx.timing.silence;
    send_all(&call.peer_ep, call.to_from_peer, &[rtp(1, 0x1111)]).await;
    let inward = collect(&call.inside_ep, quiet, 4).await;
    send_all(&call.inside_ep, call.to_from_inside, &[rtp(1, 0x2222)]).await;
    let outward = collect(&call.peer_ep, quiet, 4).await;
    if inward.is_empty() || outward.is_empty() {
        problems.push(format!(
            "RTP sent to the addresses the SDP named did not cross ({} packet(s) in, {} out)",
            inward.len(),
            outward.len()
        ));
    }
    hang_up(ctx, &call.invite, &call.ok).await;
    if problems.is_empty() {
        Outcome::pass(format!(
            "the peer was told to send to {} (a declared DBE address), the inside to {}; RTP crossed both ways, each side seeing only the DBE",
            call.to_from_peer, call.to_from_inside
        ))
    } else {
        Outcome::fail(problems.join("; "))
    }
}

fn srtp_context() -> Option<SrtpContext> {
    SrtpContext::new(SrtpConfig::new(SrtpProfile::Aes128CmHmacSha1_80, KEY, SALT)).ok()
}

/// Packets that authenticate and decrypt under `rx`.
fn authentic(rx: &mut SrtpContext, got: &[(SocketAddr, Vec<u8>)]) -> usize {
    got.iter()
        .filter(|(_, p)| rx.unprotect_rtp(p).is_ok())
        .count()
}

async fn srtp_intact(ctx: &mut Ctx) -> Outcome {
    let tap_start = ctx.net.sim().map(|s| s.tap().len());
    let call = match set_up(ctx, true).await {
        Ok(c) => c,
        Err(o) => return o,
    };
    let (Some(mut peer_tx), Some(mut inside_rx), Some(mut inside_tx), Some(mut peer_rx)) = (
        srtp_context(),
        srtp_context(),
        srtp_context(),
        srtp_context(),
    ) else {
        return Outcome::inconclusive("the SRTP contexts could not be keyed");
    };
    let quiet = ctx.timing.silence;
    let mut problems = Vec::new();
    const N: u16 = 20;
    let protect = |tx: &mut SrtpContext, seqs: std::ops::Range<u16>, ssrc: u32| -> Vec<Vec<u8>> {
        seqs.filter_map(|s| tx.protect_rtp(&rtp(s, ssrc)).ok())
            .collect()
    };
    // SRTP both ways.
    let out = protect(&mut peer_tx, 1..N + 1, 0x1111);
    send_all(&call.peer_ep, call.to_from_peer, &out).await;
    let got_in = collect(&call.inside_ep, quiet, 1000).await;
    let ok_in = authentic(&mut inside_rx, &got_in);
    let back = protect(&mut inside_tx, 1..N + 1, 0x2222);
    send_all(&call.inside_ep, call.to_from_inside, &back).await;
    let got_out = collect(&call.peer_ep, quiet, 1000).await;
    let ok_out = authentic(&mut peer_rx, &got_out);
    if ok_in != usize::from(N) || ok_out != usize::from(N) {
        problems.push(format!(
            "of {N} SRTP packets each way, {ok_in} authenticated at the inside ({} arrived) and {ok_out} at the peer ({} arrived)",
            got_in.len(),
            got_out.len()
        ));
    }
    // Injection: the stranger sends RTP with the peer's SSRC, ahead of it.
    let stranger = ctx
        .net
        .bind_udp(SocketAddr::new(ctx.stranger.addr().ip(), 0))
        .await;
    let Ok(stranger) = stranger else {
        hang_up(ctx, &call.invite, &call.ok).await;
        return Outcome::inconclusive("could not bind the attacker's socket");
    };
    let injected: Vec<Vec<u8>> = (N + 1..N + 6).map(|s| rtp(s, 0x1111)).collect();
    send_all(&stranger, call.to_from_peer, &injected).await;
    send_all(&stranger, call.to_from_inside, &injected).await;
    let leaked_in = collect(&call.inside_ep, quiet, 1000).await;
    let leaked_out = collect(&call.peer_ep, quiet, 1000).await;
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
        send_all(&stranger, to, std::slice::from_ref(&bye)).await;
        send_all(&stranger, rtcp_port, std::slice::from_ref(&bye)).await;
    }
    let _ = collect(&call.inside_ep, quiet, 1000).await;
    let _ = collect(&call.peer_ep, quiet, 1000).await;
    let more = protect(&mut peer_tx, N + 1..N + 11, 0x1111);
    send_all(&call.peer_ep, call.to_from_peer, &more).await;
    let after = collect(&call.inside_ep, quiet, 1000).await;
    let ok_after = authentic(&mut inside_rx, &after);
    if ok_after != 10 {
        problems.push(format!(
            "after the stranger's RTCP BYE, {ok_after} of 10 SRTP packets reached the inside"
        ));
    }
    hang_up(ctx, &call.invite, &call.ok).await;
    // Eavesdropping: every datagram from the DBE's relay addresses went
    // to an endpoint (the simulated network's tap sees them all).
    let relays = [call.to_from_peer.ip(), call.to_from_inside.ip()];
    let endpoints = [
        call.peer_ep.local_addr().ok(),
        call.inside_ep.local_addr().ok(),
    ];
    let iut_sip = ctx.iut;
    let eavesdrop = match (ctx.net.sim(), tap_start) {
        (Some(sim), Some(start)) => {
            let strays: Vec<String> = sim
                .tap()
                .into_iter()
                .skip(start)
                .filter(|r| relays.contains(&r.from.ip()) && r.from != iut_sip)
                .filter(|r| !endpoints.contains(&Some(r.to)))
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
        _ => "(where else media went is not observable over sockets)",
    };
    if problems.is_empty() {
        Outcome::pass(format!(
            "{N} SRTP packets each way all authenticated at the far endpoint; the stranger's 5 RTP packets reached nobody; after its RTCP BYE, 10 of 10 SRTP packets still crossed; {eavesdrop}"
        ))
    } else {
        Outcome::fail(problems.join("; "))
    }
}

/// RTP and RTCP that fail the RFC 3550 Appendix A checks.
fn torture() -> Vec<(&'static str, Vec<u8>)> {
    let good = rtp(500, 0x1111);
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
    let call = match set_up(ctx, false).await {
        Ok(c) => c,
        Err(o) => return o,
    };
    let quiet = ctx.timing.silence;
    let mut problems = Vec::new();
    let Ok(stranger) = ctx
        .net
        .bind_udp(SocketAddr::new(ctx.stranger.addr().ip(), 0))
        .await
    else {
        hang_up(ctx, &call.invite, &call.ok).await;
        return Outcome::inconclusive("could not bind the attacker's socket");
    };
    // QoS: a stranger floods the relay port at ten times the rate of the
    // genuine stream (100 packets/s, paced: a burst at line rate would
    // measure the socket buffers, not the relay).
    const GENUINE: u16 = 100;
    const FLOOD: usize = 1000;
    let mut seq = 1u16;
    for round in 0..GENUINE {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let _ = call
            .peer_ep
            .send_to(&rtp(seq, 0x1111), call.to_from_peer)
            .await;
        seq += 1;
        let burst = FLOOD / usize::from(GENUINE);
        for i in 0..burst {
            let s = 10_000u16.wrapping_add(round * 16 + i as u16);
            let _ = stranger.send_to(&rtp(s, 0x1111), call.to_from_peer).await;
        }
    }
    let got = collect(&call.inside_ep, quiet, 4 * FLOOD).await;
    let genuine = got
        .iter()
        .filter(|(_, p)| {
            p.get(2..4)
                .is_some_and(|s| u16::from_be_bytes([s[0], s[1]]) < 10_000)
        })
        .count();
    let from_stranger = got.len() - genuine;
    let loss = 100.0 * (1.0 - genuine as f64 / f64::from(GENUINE));
    if from_stranger > 0 || loss >= 1.0 {
        problems.push(format!(
            "with the stranger sending {FLOOD} packets to the relay port, {genuine} of {GENUINE} genuine packets crossed ({loss:.1} % lost) and {from_stranger} of the stranger's reached the inside"
        ));
    }
    // Malformed: each of the torture set from the negotiated endpoint.
    let mut relayed = Vec::new();
    for (what, p) in torture() {
        let _ = call.peer_ep.send_to(&p, call.to_from_peer).await;
        if !collect(&call.inside_ep, quiet, 4).await.is_empty() {
            relayed.push(what);
        }
    }
    if !relayed.is_empty() {
        problems.push(format!(
            "malformed packets were relayed: {}",
            relayed.join(", ")
        ));
    }
    let _ = call
        .peer_ep
        .send_to(&rtp(seq, 0x1111), call.to_from_peer)
        .await;
    seq += 1;
    let survived = !collect(&call.inside_ep, quiet, 4).await.is_empty();
    if !survived {
        problems.push("after the malformed packets, a valid one no longer crossed".into());
    }
    // Flooding from the negotiated source itself: far over any media
    // rate (an HD video stream sends about 2,000 packets/s).
    const BURST: u16 = 3000;
    let flood: Vec<Vec<u8>> = (0..BURST)
        .map(|i| rtp(seq.wrapping_add(i), 0x1111))
        .collect();
    send_all(&call.peer_ep, call.to_from_peer, &flood).await;
    let through = collect(&call.inside_ep, quiet, 2 * usize::from(BURST))
        .await
        .len();
    if through * 4 > usize::from(BURST) * 3 {
        problems.push(format!(
            "of {BURST} packets the endpoint sent at once, {through} were relayed: no rate limit"
        ));
    }
    hang_up(ctx, &call.invite, &call.ok).await;
    if problems.is_empty() {
        Outcome::pass(format!(
            "with a stranger's {FLOOD} packets at the relay port over 1 s, {genuine} of {GENUINE} genuine packets crossed and none of the stranger's; all {} malformed packets were dropped and the stream went on; of {BURST} packets sent at once by the endpoint, {through} were relayed",
            torture().len()
        ))
    } else {
        Outcome::fail(problems.join("; "))
    }
}

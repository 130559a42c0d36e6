//! The reference SBE core driven without I/O under a virtual clock.

use speermint_corpora::torture::all;
use speermint_sbe::{
    DropReason, Event, Hop, Node, Output, PeerLimits, Resolved, Sbe, SbeConfig, Unresolved,
};
use speermint_sip::{Message, MessageBuilder};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const SBE: &str = "127.0.0.1:5060";
const PEER: &str = "127.0.0.2:5060";
const STRANGER: &str = "127.0.0.3:5060";
const NEXT: &str = "127.0.0.4:5060";

fn a(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn sbe() -> Sbe {
    Sbe::new(SbeConfig::new(a(SBE), vec![a(PEER).ip()], a(NEXT)))
}

/// Sends and drains: (transmits, events).
fn feed(
    sbe: &mut Sbe,
    now: Instant,
    from: &str,
    bytes: &[u8],
) -> (Vec<(SocketAddr, Vec<u8>)>, Vec<Event>) {
    sbe.handle_datagram(now, a(from), bytes);
    drain(sbe)
}

fn drain(sbe: &mut Sbe) -> (Vec<(SocketAddr, Vec<u8>)>, Vec<Event>) {
    let (mut tx, mut ev) = (Vec::new(), Vec::new());
    while let Some(o) = sbe.poll_output() {
        match o {
            Output::Transmit(t) => tx.push((t.path.remote, t.bytes)),
            Output::Event(Event::Resolve { .. }) => panic!("unexpected resolution request"),
            Output::Timeout(_) | Output::Close(_) => {}
            Output::Event(e) => ev.push(e),
        }
    }
    (tx, ev)
}

/// The status code, read from the status line alone: a 400 may echo the
/// very header that was malformed.
fn status(bytes: &[u8]) -> u16 {
    assert!(
        bytes.starts_with(b"SIP/2.0 "),
        "{}",
        String::from_utf8_lossy(bytes)
    );
    std::str::from_utf8(&bytes[8..11]).unwrap().parse().unwrap()
}

fn invite(branch: &str, body: &[u8]) -> Vec<u8> {
    MessageBuilder::request("INVITE", "sip:bob@biloxi.example.com")
        .header(
            "Via",
            format!("SIP/2.0/UDP 127.0.0.2:5060;branch={branch};rport"),
        )
        .header("Max-Forwards", 70)
        .header("From", "<sip:alice@atlanta.example.com>;tag=1928301774")
        .header("To", "<sip:bob@biloxi.example.com>")
        .header("Call-ID", format!("{branch}@127.0.0.2"))
        .header("CSeq", "314159 INVITE")
        .header("Contact", "<sip:alice@127.0.0.2:5060>")
        .body("application/sdp", body)
        .build()
}

/// The downstream UAS answering what the SBE forwarded.
fn answer(forwarded: &[u8], code: u16) -> Vec<u8> {
    let req = Message::parse(forwarded).unwrap();
    MessageBuilder::response_to(&req, code, "X", Some("uas")).build()
}

#[test]
fn invite_is_relayed_with_via_record_route_and_sdp_untouched() {
    let mut s = sbe();
    let now = Instant::now();
    let sdp = b"v=0\r\no=- 1 1 IN IP6 2001:db8::1\r\ns=-\r\nc=IN IP6 2001:db8::1\r\nt=0 0\r\nm=audio 49170 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32\r\na=x-unknown:keep me\r\n";
    let inv = invite("z9hG4bK776asdhds", sdp);
    let (tx, _) = feed(&mut s, now, PEER, &inv);
    assert_eq!(tx.len(), 2, "forwarded INVITE and 100 Trying");
    let (to, fwd) = &tx[0];
    assert_eq!(*to, a(NEXT));
    let f = Message::parse(fwd).unwrap();
    let vias: Vec<_> = f.vias().collect();
    assert_eq!(vias.len(), 2);
    assert!(vias[0].is_rfc3261_branch() && vias[0].branch() != Some("z9hG4bK776asdhds"));
    assert_eq!(vias[1].branch(), Some("z9hG4bK776asdhds"));
    assert_eq!(f.core().max_forwards, Some(69));
    assert_eq!(
        f.values(speermint_sip::HeaderName::RecordRoute).next(),
        Some("<sip:127.0.0.1:5060;lr>")
    );
    assert_eq!(f.body(), sdp);
    assert_eq!((tx[1].0, status(&tx[1].1)), (a(PEER), 100));

    // 180 and 200 go back to the peer with our Via removed.
    for code in [180, 200] {
        let (tx, _) = feed(&mut s, now, NEXT, &answer(fwd, code));
        assert_eq!(tx.len(), 1);
        assert_eq!(tx[0].0, a(PEER));
        let r = Message::parse(&tx[0].1).unwrap();
        assert_eq!(r.status(), Some(code));
        assert_eq!(r.vias().count(), 1);
        assert_eq!(r.core().via.branch(), Some("z9hG4bK776asdhds"));
    }
    // A retransmitted 2xx still passes (RFC 6026 Accepted state).
    let (tx, _) = feed(&mut s, now, NEXT, &answer(fwd, 200));
    assert_eq!(tx.len(), 1);
}

#[test]
fn retransmitted_invite_is_absorbed_and_answered_with_the_last_response() {
    let mut s = sbe();
    let now = Instant::now();
    let inv = invite("z9hG4bKretrans", b"");
    feed(&mut s, now, PEER, &inv);
    let (tx, ev) = feed(&mut s, now, PEER, &inv);
    assert_eq!(tx.len(), 1, "only the 100 is resent, nothing relayed");
    assert_eq!((tx[0].0, status(&tx[0].1)), (a(PEER), 100));
    assert!(ev.contains(&Event::Dropped {
        from: a(PEER),
        reason: DropReason::Retransmission
    }));
}

#[test]
fn stranger_gets_403_unsupported_peer_and_its_forged_200_is_dropped() {
    let mut s = sbe();
    let now = Instant::now();
    let (tx, _) = feed(&mut s, now, STRANGER, &invite("z9hG4bKstranger", b""));
    assert_eq!(tx.len(), 1);
    assert_eq!(tx[0].0, a(STRANGER));
    let r = Message::parse(&tx[0].1).unwrap();
    assert_eq!(r.status(), Some(403));
    assert!(matches!(
        r.start_line(),
        speermint_sip::StartLine::Response {
            reason: "Unsupported Peer",
            ..
        }
    ));

    let (tx, _) = feed(&mut s, now, PEER, &invite("z9hG4bKlive", b""));
    let fwd = tx[0].1.clone();
    let (tx, ev) = feed(&mut s, now, STRANGER, &answer(&fwd, 200));
    assert!(tx.is_empty(), "forged 200 relayed: {tx:?}");
    assert!(ev.contains(&Event::Dropped {
        from: a(STRANGER),
        reason: DropReason::WrongSource
    }));
}

#[test]
fn max_forwards_zero_gets_483_and_is_not_relayed() {
    let mut s = sbe();
    let opt = MessageBuilder::request("OPTIONS", "sip:sbe@127.0.0.1")
        .header("Via", "SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bKmf0")
        .header("Max-Forwards", 0)
        .header("From", "<sip:p@127.0.0.2>;tag=1")
        .header("To", "<sip:sbe@127.0.0.1>")
        .header("Call-ID", "mf0")
        .header("CSeq", "1 OPTIONS")
        .build();
    let (tx, _) = feed(&mut s, Instant::now(), PEER, &opt);
    assert_eq!(tx.len(), 1);
    assert_eq!((tx[0].0, status(&tx[0].1)), (a(PEER), 483));
}

#[test]
fn non_invite_client_retransmits_on_timer_e_schedule_then_408() {
    let mut s = sbe();
    let t0 = Instant::now();
    let bye = MessageBuilder::request("BYE", "sip:bob@127.0.0.4")
        .header("Via", "SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bKbye1")
        .header("Max-Forwards", 70)
        .header("From", "<sip:a@127.0.0.2>;tag=1")
        .header("To", "<sip:b@127.0.0.4>;tag=2")
        .header("Call-ID", "bye1")
        .header("CSeq", "2 BYE")
        .build();
    let (tx, _) = feed(&mut s, t0, PEER, &bye);
    assert_eq!(tx.len(), 1);
    // Run the virtual clock until the transaction times out.
    let mut sends = Vec::new();
    let mut got_408 = false;
    for _ in 0..100 {
        let Some(next) = s.poll_timeout() else { break };
        s.handle_timeout(next);
        let (tx, _) = drain(&mut s);
        for (to, b) in tx {
            if to == a(NEXT) {
                sends.push(next.duration_since(t0));
            } else if to == a(PEER) && status(&b) == 408 {
                got_408 = true;
            }
        }
        if got_408 {
            break;
        }
    }
    // Timer E: 0.5, 1, 2, 4, 4, ... s apart (RFC 3261 §17.1.2.2), Timer F at 32 s.
    let gaps: Vec<f64> = std::iter::once(sends[0].as_secs_f64())
        .chain(sends.windows(2).map(|w| (w[1] - w[0]).as_secs_f64()))
        .collect();
    assert_eq!(&gaps[..5], &[0.5, 1.0, 2.0, 4.0, 4.0]);
    assert!(got_408, "Timer F must produce a 408 upstream");
    assert_eq!(
        s.poll_timeout()
            .map(|t| t.duration_since(t0) >= Duration::from_secs(32)),
        Some(true)
    );
}

#[test]
fn cancel_after_provisional_is_answered_and_sent_downstream() {
    let mut s = sbe();
    let now = Instant::now();
    let inv = invite("z9hG4bKcancel", b"");
    let (tx, _) = feed(&mut s, now, PEER, &inv);
    let fwd = tx[0].1.clone();
    feed(&mut s, now, NEXT, &answer(&fwd, 180));
    let req = Message::parse(&inv).unwrap();
    let cancel = MessageBuilder::request("CANCEL", "sip:bob@biloxi.example.com")
        .header(
            "Via",
            "SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bKcancel;rport",
        )
        .header("Max-Forwards", 70)
        .header("From", req.core().from.raw)
        .header("To", req.core().to.raw)
        .header("Call-ID", req.core().call_id)
        .header("CSeq", "314159 CANCEL")
        .build();
    let (tx, _) = feed(&mut s, now, PEER, &cancel);
    let to_peer: Vec<_> = tx
        .iter()
        .filter(|(t, _)| *t == a(PEER))
        .map(|(_, b)| status(b))
        .collect();
    assert_eq!(to_peer, vec![200]);
    let down: Vec<_> = tx.iter().filter(|(t, _)| *t == a(NEXT)).collect();
    assert_eq!(down.len(), 1);
    let c = Message::parse(&down[0].1).unwrap();
    assert_eq!(c.method(), "CANCEL");
    assert_eq!(
        c.core().via.branch(),
        Message::parse(&fwd).unwrap().core().via.branch()
    );
    // 487 from downstream: ACKed hop by hop and relayed up.
    let (tx, _) = feed(&mut s, now, NEXT, &answer(&fwd, 487));
    let ack = tx
        .iter()
        .find(|(t, _)| *t == a(NEXT))
        .expect("ACK downstream");
    assert_eq!(Message::parse(&ack.1).unwrap().method(), "ACK");
    assert!(tx.iter().any(|(t, b)| *t == a(PEER) && status(b) == 487));
}

/// Every RFC 4475 and RFC 5118 message sent by the peer gets exactly the manifest's `sbe` reaction.
#[test]
fn torture_corpus_gets_the_manifest_reaction() {
    let mut failures = Vec::new();
    for e in all() {
        let mut s = sbe();
        let (tx, _) = feed(&mut s, Instant::now(), PEER, e.bytes());
        let forwarded = tx.iter().any(|(t, _)| *t == a(NEXT));
        let answers: Vec<u16> = tx
            .iter()
            .filter(|(t, _)| *t == a(PEER))
            .map(|(_, b)| status(b))
            .collect();
        let ok = match e.sbe.as_str() {
            "forward" => forwarded,
            "drop" => tx.is_empty(),
            code => !forwarded && answers == vec![code.parse::<u16>().unwrap()],
        };
        if !ok {
            failures.push(format!(
                "{} ({}): expected {}, forwarded={forwarded} answers={answers:?}",
                e.file, e.section, e.sbe
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn malformed_request_400_names_the_fault_and_is_matchable() {
    let mut s = sbe();
    let bad = b"INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2;branch=z9hG4bKx\r\nMax-Forwards: 300\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:b@c>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    let (tx, _) = feed(&mut s, Instant::now(), PEER, bad);
    assert_eq!(tx.len(), 1);
    let r = Message::parse(&tx[0].1).unwrap();
    assert_eq!(r.status(), Some(400));
    let speermint_sip::StartLine::Response { reason, .. } = r.start_line() else {
        unreachable!()
    };
    assert!(reason.contains("Max-Forwards"), "{reason}");
    assert_eq!(r.core().via.branch(), Some("z9hG4bKx"));
    assert_eq!(r.core().call_id, "x");
}

/// A proxied INVITE may ring past Timer B: after a provisional, Timer C
/// (over 3 minutes, reset by each provisional) applies, and when it fires
/// the branch is cancelled (RFC 3261 §16.6 step 11, §16.7 step 2, §16.8).
#[test]
fn ringing_call_outlives_timer_b_and_timer_c_cancels_it() {
    let mut s = sbe();
    let t0 = Instant::now();
    let (tx, _) = feed(&mut s, t0, PEER, &invite("z9hG4bKring", b""));
    let fwd = tx[0].1.clone();
    feed(
        &mut s,
        t0 + Duration::from_secs(1),
        NEXT,
        &answer(&fwd, 180),
    );
    // Still ringing at 60 s: no 408 upstream, no CANCEL downstream.
    s.handle_timeout(t0 + Duration::from_secs(60));
    let (tx, _) = drain(&mut s);
    assert!(tx.is_empty(), "{tx:?}");
    // Another 180 at 100 s resets Timer C: nothing at 200 s either.
    feed(
        &mut s,
        t0 + Duration::from_secs(100),
        NEXT,
        &answer(&fwd, 180),
    );
    s.handle_timeout(t0 + Duration::from_secs(200));
    let (tx, _) = drain(&mut s);
    assert!(tx.is_empty(), "{tx:?}");
    // 181 s after the last provisional, Timer C fires: CANCEL downstream.
    s.handle_timeout(t0 + Duration::from_secs(282));
    let (tx, _) = drain(&mut s);
    let cancels: Vec<_> = tx
        .iter()
        .filter(|(to, b)| *to == a(NEXT) && b.starts_with(b"CANCEL "))
        .collect();
    assert_eq!(cancels.len(), 1, "{tx:?}");
    // The 487 that answers it goes upstream as the final response.
    let (tx, _) = feed(
        &mut s,
        t0 + Duration::from_secs(283),
        NEXT,
        &answer(&fwd, 487),
    );
    assert!(tx.iter().any(|(to, b)| *to == a(PEER) && status(b) == 487));
}

/// An element that resolves names and numbers through its driver.
fn resolving_sbe() -> Sbe {
    let mut cfg = SbeConfig::new(a(SBE), vec![a(PEER).ip()], a(NEXT));
    cfg.resolve_names = true;
    Sbe::new(cfg)
}

/// An INVITE from the inside (the next hop) for `ruri`.
fn outbound(branch: &str, ruri: &str) -> Vec<u8> {
    MessageBuilder::request("INVITE", ruri)
        .header(
            "Via",
            format!("SIP/2.0/UDP 127.0.0.4:5060;branch={branch};rport"),
        )
        .header("Max-Forwards", 70)
        .header("From", "<sip:carol@ssp.example>;tag=77")
        .header("To", format!("<{ruri}>"))
        .header("Call-ID", format!("{branch}@127.0.0.4"))
        .header("CSeq", "1 INVITE")
        .header("Contact", "<sip:carol@127.0.0.4:5060>")
        .build()
}

/// Datagrams sent, and resolutions asked (id, target).
type Drained = (Vec<(SocketAddr, Vec<u8>)>, Vec<(u64, String)>);

/// Drains, splitting out the resolution requests.
fn drain_resolving(sbe: &mut Sbe) -> Drained {
    let (mut tx, mut res) = (Vec::new(), Vec::new());
    while let Some(o) = sbe.poll_output() {
        match o {
            Output::Transmit(t) => tx.push((t.path.remote, t.bytes)),
            Output::Event(Event::Resolve { id, target, .. }) => res.push((id, target)),
            Output::Timeout(_) | Output::Close(_) => {}
            Output::Event(_) => {}
        }
    }
    (tx, res)
}

#[test]
fn numbers_and_names_wait_for_the_driver_then_go_to_the_first_hop() {
    let mut s = resolving_sbe();
    let now = Instant::now();
    let inv = outbound("z9hG4bKtel1", "tel:+441632960083");
    s.handle_datagram(now, a(NEXT), &inv);
    let (tx, res) = drain_resolving(&mut s);
    // 100 at once (RFC 3261 §16.2), and one resolution asked.
    assert_eq!(tx.len(), 1);
    assert_eq!((tx[0].0, status(&tx[0].1)), (a(NEXT), 100));
    assert_eq!(res.len(), 1);
    assert_eq!(res[0].1, "tel:+441632960083");
    // A retransmission is absorbed: the 100 again, no second resolution.
    s.handle_datagram(now, a(NEXT), &inv);
    let (tx, res2) = drain_resolving(&mut s);
    assert_eq!(tx.len(), 1);
    assert!(res2.is_empty());
    s.on_resolved(
        now,
        res[0].0,
        Ok(Resolved {
            target_uri: "sip:+441632960083@peer.example".into(),
            hops: vec![Hop::udp(a(PEER)), Hop::udp(a(STRANGER))],
        }),
    );
    let (tx, _) = drain_resolving(&mut s);
    assert_eq!(tx.len(), 1, "the INVITE only: its 100 went already");
    assert_eq!(tx[0].0, a(PEER));
    let fwd = Message::parse(&tx[0].1).unwrap();
    assert_eq!(
        fwd.request_uri().unwrap().raw(),
        "sip:+441632960083@peer.example"
    );
    assert_eq!(fwd.vias().count(), 2);
    // The answer comes back through the transaction as usual.
    s.handle_datagram(now, a(PEER), &answer(&tx[0].1, 486));
    let (tx, _) = drain_resolving(&mut s);
    assert!(tx.iter().any(|(t, b)| *t == a(NEXT) && status(b) == 486));
}

#[test]
fn failed_resolution_is_answered_with_its_reason_and_late_answers_are_ignored() {
    let mut s = resolving_sbe();
    let now = Instant::now();
    s.handle_datagram(
        now,
        a(NEXT),
        &outbound("z9hG4bKdns1", "sip:bob@peer.example"),
    );
    let (_, res) = drain_resolving(&mut s);
    let id = res[0].0;
    s.on_resolved(
        now,
        id,
        Err(Unresolved {
            status: 503,
            reason: "Service Unavailable - DNSSEC validation failed".into(),
        }),
    );
    let (tx, _) = drain_resolving(&mut s);
    assert_eq!((tx[0].0, status(&tx[0].1)), (a(NEXT), 503));
    assert!(String::from_utf8_lossy(&tx[0].1).contains("DNSSEC validation failed"));
    // The same id again, or an unknown one: nothing happens.
    s.on_resolved(
        now,
        id,
        Ok(Resolved {
            target_uri: "sip:bob@peer.example".into(),
            hops: vec![Hop::udp(a(PEER))],
        }),
    );
    s.on_resolved(
        now,
        id + 1,
        Ok(Resolved {
            target_uri: "x".into(),
            hops: vec![Hop::udp(a(PEER))],
        }),
    );
    assert!(drain_resolving(&mut s).0.is_empty());
}

#[test]
fn a_parked_invite_times_out_with_504_or_ends_on_cancel() {
    let mut s = resolving_sbe();
    let now = Instant::now();
    s.handle_datagram(
        now,
        a(NEXT),
        &outbound("z9hG4bKslow", "sip:bob@slow.example"),
    );
    drain_resolving(&mut s);
    let due = s.poll_timeout().expect("a deadline for the parked request");
    assert!(due <= now + Duration::from_secs(8));
    s.handle_timeout(due);
    let (tx, _) = drain_resolving(&mut s);
    assert_eq!(status(&tx[0].1), 504);

    let inv = outbound("z9hG4bKgone", "sip:bob@slow.example");
    s.handle_datagram(now, a(NEXT), &inv);
    let (_, res) = drain_resolving(&mut s);
    let req = Message::parse(&inv).unwrap();
    let cancel = MessageBuilder::request("CANCEL", "sip:bob@slow.example")
        .header("Via", "SIP/2.0/UDP 127.0.0.4:5060;branch=z9hG4bKgone;rport")
        .header("Max-Forwards", 70)
        .header("From", req.core().from.raw)
        .header("To", req.core().to.raw)
        .header("Call-ID", req.core().call_id)
        .header("CSeq", "1 CANCEL")
        .build();
    s.handle_datagram(now, a(NEXT), &cancel);
    let (tx, _) = drain_resolving(&mut s);
    let codes: Vec<u16> = tx.iter().map(|(_, b)| status(b)).collect();
    assert_eq!(codes, vec![200, 487]);
    // The resolution finishing afterwards sends nothing anywhere.
    s.on_resolved(
        now,
        res[0].0,
        Ok(Resolved {
            target_uri: "sip:bob@slow.example".into(),
            hops: vec![Hop::udp(a(PEER))],
        }),
    );
    assert!(drain_resolving(&mut s).0.is_empty());
}

#[test]
fn without_resolution_a_name_is_not_found() {
    let mut s = sbe();
    let (tx, _) = feed(
        &mut s,
        Instant::now(),
        NEXT,
        &outbound("z9hG4bKnone", "sip:bob@peer.example"),
    );
    assert_eq!(status(&tx[0].1), 404);
}

#[test]
fn a_503_from_the_first_hop_sends_the_request_to_the_next() {
    for no_failover in [false, true] {
        let mut cfg = SbeConfig::new(a(SBE), vec![a(PEER).ip()], a(NEXT));
        cfg.resolve_names = true;
        if no_failover {
            cfg.faults.insert(speermint_sbe::Fault::NoFailover);
        }
        let mut s = Sbe::new(cfg);
        let now = Instant::now();
        s.handle_datagram(
            now,
            a(NEXT),
            &outbound("z9hG4bKpool", "sip:bob@peer.example"),
        );
        let (_, res) = drain_resolving(&mut s);
        let second = a("127.0.0.2:5070");
        s.on_resolved(
            now,
            res[0].0,
            Ok(Resolved {
                target_uri: "sip:bob@peer.example".into(),
                hops: vec![Hop::udp(a(PEER)), Hop::udp(second)],
            }),
        );
        let (tx, _) = drain_resolving(&mut s);
        assert_eq!(tx[0].0, a(PEER));
        let first_branch = Message::parse(&tx[0].1)
            .unwrap()
            .core()
            .via
            .branch()
            .unwrap()
            .to_owned();
        s.handle_datagram(now, a(PEER), &answer(&tx[0].1, 503));
        let (tx, _) = drain_resolving(&mut s);
        // The 503 is ACKed hop by hop either way.
        assert!(
            tx.iter()
                .any(|(t, b)| *t == a(PEER) && b.starts_with(b"ACK "))
        );
        let upstream: Vec<u16> = tx
            .iter()
            .filter(|(t, _)| *t == a(NEXT))
            .map(|(_, b)| status(b))
            .collect();
        let retried: Vec<_> = tx.iter().filter(|(t, _)| *t == second).collect();
        if no_failover {
            assert_eq!(upstream, vec![503]);
            assert!(retried.is_empty());
            continue;
        }
        // RFC 3263 §4.3: the next hop gets the request on a new branch; the
        // caller hears nothing yet.
        assert!(upstream.is_empty(), "{upstream:?}");
        assert_eq!(retried.len(), 1);
        let again = Message::parse(&retried[0].1).unwrap();
        assert_eq!(again.method(), "INVITE");
        assert_ne!(again.core().via.branch().unwrap(), first_branch);
        s.handle_datagram(now, second, &answer(&retried[0].1, 486));
        let (tx, _) = drain_resolving(&mut s);
        assert!(tx.iter().any(|(t, b)| *t == a(NEXT) && status(b) == 486));
    }
}

/// An INVITE from the peer with this branch and Call-ID.
fn invite_call(branch: &str, call_id: &str) -> Vec<u8> {
    MessageBuilder::request("INVITE", "sip:bob@biloxi.example.com")
        .header("Via", format!("SIP/2.0/UDP {PEER};branch={branch}"))
        .header("Max-Forwards", 70)
        .header("From", "<sip:alice@atlanta.example.com>;tag=1")
        .header("To", "<sip:bob@biloxi.example.com>")
        .header("Call-ID", call_id)
        .header("CSeq", "1 INVITE")
        .build()
}

/// RFC 6404 §4.9: the session limit counts calls, whatever branch their
/// INVITEs carry. A peer that reused the branch of an ended transaction
/// used to have its next calls go uncounted (past the limit), and a
/// failure of such a call freed the place of the earlier one, still up.
/// (Found while the `sbe_sequence` model learnt the limits.)
#[test]
fn a_reused_branch_neither_hides_a_call_nor_frees_another() {
    let mut cfg = SbeConfig::new(a(SBE), vec![a(PEER).ip()], a(NEXT));
    cfg.peer_limits = PeerLimits {
        sessions: 2,
        ..PeerLimits::default()
    };
    let mut sbe = Sbe::new(cfg);
    let to_next = |tx: &[(SocketAddr, Vec<u8>)]| {
        tx.iter()
            .find(|(to, _)| *to == a(NEXT))
            .map(|(_, b)| b.clone())
            .expect("relayed")
    };
    // Call 1 is set up; its server transaction ends (Timer L).
    let t0 = Instant::now();
    let (tx, _) = feed(&mut sbe, t0, PEER, &invite_call("z9hG4bKsame", "call-1"));
    feed(&mut sbe, t0, NEXT, &answer(&to_next(&tx), 200));
    let t1 = t0 + Duration::from_secs(64);
    sbe.handle_timeout(t1);
    drain(&mut sbe);
    assert_eq!(sbe.transaction_count(), (0, 0));
    assert_eq!(sbe.session_count(), 1, "call 1 is up");
    // Call 2 reuses the branch: a new transaction, and a call that counts.
    let (tx, _) = feed(&mut sbe, t1, PEER, &invite_call("z9hG4bKsame", "call-2"));
    let call2 = to_next(&tx);
    assert_eq!(sbe.session_count(), 2);
    let (tx, _) = feed(&mut sbe, t1, PEER, &invite_call("z9hG4bKnew", "call-3"));
    assert_eq!(tx.len(), 1);
    assert_eq!(status(&tx[0].1), 503, "two calls is the limit");
    // Call 2 fails: its place is freed, not call 1's.
    feed(&mut sbe, t1, NEXT, &answer(&call2, 486));
    assert_eq!(sbe.session_count(), 1);
    let (tx, _) = feed(&mut sbe, t1, PEER, &invite_call("z9hG4bKnew2", "call-4"));
    to_next(&tx);
    assert_eq!(sbe.session_count(), 2);
}

/// An INVITE from a source with no pre-association, whose sender names
/// itself `sent_by` in its Via.
fn unassociated(branch: &str, sent_by: &str) -> Vec<u8> {
    MessageBuilder::request("INVITE", "sip:+19175550100@example.net")
        .header(
            "Via",
            format!("SIP/2.0/UDP {sent_by};branch={branch};rport"),
        )
        .header("Max-Forwards", 70)
        .header("From", "<sip:+14085550101@example.com>;tag=9")
        .header("To", "<sip:+19175550100@example.net>")
        .header("Call-ID", format!("{branch}@example.com"))
        .header("CSeq", "1 INVITE")
        .header("Contact", "<sip:alice@sbe.example.com:5070>")
        .build()
}

fn on_demand_sbe(faults: speermint_sbe::Faults) -> Sbe {
    let mut cfg = SbeConfig::new(a(SBE), vec![], a(NEXT));
    cfg.on_demand = true;
    cfg.faults = faults;
    Sbe::new(cfg)
}

/// RFC 6405 §5.6: an element peering on demand admits a source once the
/// name its sender goes by leads there, and refuses one it does not.
#[test]
fn on_demand_peers_are_admitted_by_the_name_they_go_by() {
    let mut s = on_demand_sbe(speermint_sbe::Faults::NONE);
    let now = Instant::now();
    s.handle_datagram(
        now,
        a(STRANGER),
        &unassociated("z9hG4bKod1", "sbe.example.com:5060"),
    );
    let (tx, res) = drain_resolving(&mut s);
    assert!(
        tx.is_empty(),
        "nothing to an unverified source, not even 100"
    );
    assert_eq!(res.len(), 1);
    assert_eq!(res[0].1, "sip:sbe.example.com:5060");
    s.on_resolved(
        now,
        res[0].0,
        Ok(Resolved {
            target_uri: res[0].1.clone(),
            hops: vec![Hop::udp(a(STRANGER))],
        }),
    );
    let (tx, _) = drain_resolving(&mut s);
    assert!(
        tx.iter()
            .any(|(to, b)| *to == a(STRANGER) && status(b) == 100)
    );
    assert!(
        tx.iter()
            .any(|(to, b)| *to == a(NEXT) && b.starts_with(b"INVITE ")),
        "admitted: relayed to the inside"
    );
    // Now a peer: no second lookup.
    s.handle_datagram(
        now,
        a(STRANGER),
        &unassociated("z9hG4bKod2", "sbe.example.com:5060"),
    );
    let (tx, res) = drain_resolving(&mut s);
    assert!(res.is_empty());
    assert!(tx.iter().any(|(to, _)| *to == a(NEXT)));

    // A name that leads elsewhere is refused, and so is a bare address.
    let mut s = on_demand_sbe(speermint_sbe::Faults::NONE);
    s.handle_datagram(
        now,
        a(STRANGER),
        &unassociated("z9hG4bKod3", "sbe.example.com:5060"),
    );
    let (_, res) = drain_resolving(&mut s);
    s.on_resolved(
        now,
        res[0].0,
        Ok(Resolved {
            target_uri: res[0].1.clone(),
            hops: vec![Hop::udp(a(PEER))],
        }),
    );
    let (tx, _) = drain_resolving(&mut s);
    assert_eq!(tx.len(), 1);
    assert_eq!((tx[0].0, status(&tx[0].1)), (a(STRANGER), 403));
    s.handle_datagram(
        now,
        a(STRANGER),
        &unassociated("z9hG4bKod4", "127.0.0.3:5060"),
    );
    let (tx, res) = drain_resolving(&mut s);
    assert!(res.is_empty());
    assert_eq!((tx[0].0, status(&tx[0].1)), (a(STRANGER), 403));
}

#[test]
fn unverified_on_demand_fault_admits_anyone() {
    let fault = speermint_sbe::Faults::only(speermint_sbe::Fault::UnverifiedOnDemand);
    let mut s = on_demand_sbe(fault);
    s.handle_datagram(
        Instant::now(),
        a(STRANGER),
        &unassociated("z9hG4bKod5", "127.0.0.3:5060"),
    );
    let (tx, res) = drain_resolving(&mut s);
    assert!(res.is_empty());
    assert!(tx.iter().any(|(to, _)| *to == a(NEXT)));
}

#[test]
fn no_record_route_fault_leaves_the_dialog_path() {
    let mut cfg = SbeConfig::new(a(SBE), vec![a(PEER).ip()], a(NEXT));
    cfg.faults = speermint_sbe::Faults::only(speermint_sbe::Fault::NoRecordRoute);
    let mut s = Sbe::new(cfg);
    let (tx, _) = feed(&mut s, Instant::now(), PEER, &invite("z9hG4bKnrr", b""));
    let fwd = tx.iter().find(|(to, _)| *to == a(NEXT)).unwrap();
    let m = Message::parse(&fwd.1).unwrap();
    assert_eq!(m.values(speermint_sip::HeaderName::RecordRoute).count(), 0);
    let (tx, _) = feed(&mut sbe(), Instant::now(), PEER, &invite("z9hG4bKrr", b""));
    let fwd = tx.iter().find(|(to, _)| *to == a(NEXT)).unwrap();
    let m = Message::parse(&fwd.1).unwrap();
    assert_eq!(m.values(speermint_sip::HeaderName::RecordRoute).count(), 1);
}

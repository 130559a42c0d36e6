//! Topology hiding (RFC 6404 §4.10, RFC 5853 §3.1): calls both ways
//! through the SBE core, every message that leaves for the peer searched
//! for the inside's names, and the dialogs still working from both ends.

use speermint_sbe::{Event, Fault, Faults, Node, Output, Sbe, SbeConfig};
use speermint_sip::{HeaderName, Message, MessageBuilder};
use std::net::SocketAddr;
use std::time::Instant;

const SBE: &str = "127.0.0.1:5060";
const PEER: &str = "127.0.0.2:5060";
const INSIDE: &str = "127.0.0.4:5060";

/// What the inside writes about itself, none of which may leave.
const SECRETS: &[&str] = &[
    "127.0.0.4",
    "ua.core.inside.invalid",
    "proxy.core.inside.invalid",
    "10.20.30.40",
];

fn a(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn sbe(faults: Faults) -> Sbe {
    let mut cfg = SbeConfig::new(a(SBE), vec![a(PEER).ip()], a(INSIDE));
    cfg.hide_topology = true;
    cfg.faults = faults;
    Sbe::new(cfg)
}

/// Feeds one datagram; returns what went out, by destination.
fn feed(s: &mut Sbe, from: &str, bytes: &[u8]) -> Vec<(SocketAddr, Vec<u8>)> {
    s.handle_datagram(Instant::now(), a(from), bytes);
    let mut out = Vec::new();
    while let Some(o) = s.poll_output() {
        match o {
            Output::Transmit(t) => out.push((t.path.remote, t.bytes)),
            Output::Event(Event::Resolve { .. }) => panic!("no lookups here"),
            _ => {}
        }
    }
    out
}

/// The one message that went to `to` (100 Trying and the like skipped).
fn to(out: &[(SocketAddr, Vec<u8>)], dest: &str) -> Vec<u8> {
    let mut hits = out
        .iter()
        .filter(|(d, b)| *d == a(dest) && !b.starts_with(b"SIP/2.0 100"));
    let first = hits.next().unwrap_or_else(|| {
        let sent: Vec<String> = out
            .iter()
            .map(|(d, b)| format!("to {d}:\n{}", String::from_utf8_lossy(b)))
            .collect();
        panic!("nothing for {dest}; sent:\n{}", sent.join("\n"))
    });
    first.1.clone()
}

fn leaks(bytes: &[u8]) -> Vec<&'static str> {
    let text = String::from_utf8_lossy(bytes).to_ascii_lowercase();
    SECRETS
        .iter()
        .copied()
        .filter(|s| text.contains(s))
        .collect()
}

fn sdp(user: &str, origin: &str) -> Vec<u8> {
    format!(
        "v=0\r\no={user} 2890844526 2890844526 IN IP4 {origin}\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\na=x-keep:me\r\n"
    )
    .into_bytes()
}

/// An INVITE from the inside as its user agent and one proxy sent it.
fn inside_invite() -> Vec<u8> {
    MessageBuilder::request("INVITE", "sip:bob@127.0.0.2:5060")
        .header(
            "Via",
            "SIP/2.0/UDP 127.0.0.4:5060;branch=z9hG4bKproxy1;rport",
        )
        .header(
            "Via",
            "SIP/2.0/UDP ua.core.inside.invalid:5060;branch=z9hG4bKua1;received=10.20.30.40",
        )
        .header("Record-Route", "<sip:127.0.0.4:5060;lr>")
        .header("Record-Route", "<sip:proxy.core.inside.invalid;lr>")
        .header("Max-Forwards", 69)
        .header("From", "<sip:alice@ssp.example>;tag=in1")
        .header("To", "<sip:bob@peer.example>")
        .header("Call-ID", "c1@ua.core.inside.invalid")
        .header("CSeq", "1 INVITE")
        .header("Contact", "<sip:alice@ua.core.inside.invalid:5060>")
        .body("application/sdp", &sdp("alice", "10.20.30.40"))
        .build()
}

/// A response built from a request as the far user agent would: its
/// Record-Route copied, its own Contact, an optional body.
fn respond(req: &[u8], code: u16, tag: &str, contact: &str, body: Option<&[u8]>) -> Vec<u8> {
    let m = Message::parse(req).unwrap();
    let mut b = MessageBuilder::response_to(&m, code, "OK", Some(tag));
    for rr in m.values(HeaderName::RecordRoute) {
        b = b.header("Record-Route", rr);
    }
    b = b.header("Contact", contact);
    if let Some(body) = body {
        b = b.body("application/sdp", body);
    }
    b.build()
}

/// A request inside the dialog that `resp` (to `req`) set up, from the
/// side that received `resp` (`uac`) or `req` (the UAS).
fn in_dialog(req: &[u8], resp: &[u8], method: &str, uac: bool, via: &str) -> Vec<u8> {
    let q = Message::parse(req).unwrap();
    let r = Message::parse(resp).unwrap();
    let (target, route, from, to) = if uac {
        let target = r.name_addrs(HeaderName::Contact).next().unwrap().uri.raw();
        let mut rr: Vec<&str> = r.values(HeaderName::RecordRoute).collect();
        rr.reverse();
        (target, rr, q.core().from.raw, r.core().to.raw)
    } else {
        let target = q.name_addrs(HeaderName::Contact).next().unwrap().uri.raw();
        let rr: Vec<&str> = q.values(HeaderName::RecordRoute).collect();
        (target, rr, r.core().to.raw, q.core().from.raw)
    };
    let mut b = MessageBuilder::request(method, target)
        .header("Via", via)
        .header("Max-Forwards", 70)
        .header("From", from)
        .header("To", to)
        .header("Call-ID", q.core().call_id)
        .header("CSeq", format!("2 {method}"));
    // From the inside, the inside's proxies have taken their own entries
    // off by the time the request reaches the SBE (RFC 3261 §16.4).
    let from_inside = via.contains("127.0.0.4");
    for r in route
        .into_iter()
        .skip_while(|r| from_inside && !r.contains("127.0.0.1"))
    {
        b = b.header("Route", r);
    }
    b.build()
}

/// Runs a call placed by the inside, answered by the peer, re-INVITEd by
/// the peer and hung up by the inside. Returns every message the peer got
/// and whether each step arrived where it should.
fn outbound_call(faults: Faults) -> (Vec<Vec<u8>>, Sbe) {
    let mut s = sbe(faults);
    let mut seen = Vec::new();
    let inv = inside_invite();
    let out = feed(&mut s, INSIDE, &inv);
    let at_peer = to(&out, PEER);
    seen.push(at_peer.clone());
    let m = Message::parse(&at_peer).unwrap();
    assert_eq!(
        m.vias().count(),
        if faults.contains(Fault::LeakVia) {
            3
        } else {
            1
        }
    );

    // The peer answers; the inside gets its own names back.
    let ok = respond(
        &at_peer,
        200,
        "peer1",
        "<sip:bob@127.0.0.2:5060>",
        Some(&sdp("-", "127.0.0.2")),
    );
    let back = to(&feed(&mut s, PEER, &ok), INSIDE);
    let r = Message::parse(&back).unwrap();
    assert_eq!(r.core().call_id, "c1@ua.core.inside.invalid");
    let vias: Vec<&str> = r.values(HeaderName::Via).collect();
    assert!(vias.join(",").contains("z9hG4bKproxy1") && vias.join(",").contains("z9hG4bKua1"));
    if !faults.contains(Fault::LeakRecordRoute) {
        let rr: Vec<&str> = r.values(HeaderName::RecordRoute).collect();
        assert!(
            rr.join(",").contains("proxy.core.inside.invalid"),
            "the inside's route set is restored for the caller: {rr:?}"
        );
    }

    // ACK from the inside, along its route set.
    let ack = in_dialog(
        &inv,
        &back,
        "ACK",
        true,
        "SIP/2.0/UDP 127.0.0.4:5060;branch=z9hG4bKack1",
    );
    let ack_out = to(&feed(&mut s, INSIDE, &ack), PEER);
    assert_eq!(
        Message::parse(&ack_out).unwrap().core().call_id,
        m.core().call_id,
        "the ACK carries the outside Call-ID"
    );
    seen.push(ack_out);

    // A re-INVITE from the peer reaches the inside user agent's Contact.
    let reinv = in_dialog(
        &at_peer,
        &ok,
        "INVITE",
        false,
        "SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bKre1",
    );
    let inside_reinv = to(&feed(&mut s, PEER, &reinv), INSIDE);
    let q = Message::parse(&inside_reinv).unwrap();
    assert_eq!(q.core().call_id, "c1@ua.core.inside.invalid");
    if !faults.contains(Fault::LeakContact) {
        assert_eq!(
            q.request_uri().unwrap().raw(),
            "sip:alice@ua.core.inside.invalid:5060"
        );
        let routes: Vec<&str> = q.values(HeaderName::Route).collect();
        assert!(
            routes.join(",").contains("proxy.core.inside.invalid"),
            "{routes:?}"
        );
    }
    let reok = respond(
        &inside_reinv,
        200,
        "in1",
        "<sip:alice@ua.core.inside.invalid:5060>",
        Some(&sdp("alice", "10.20.30.40")),
    );
    let reok_out = to(&feed(&mut s, INSIDE, &reok), PEER);
    seen.push(reok_out);

    // BYE from the inside; the peer's 200 ends the hidden dialog.
    let bye = in_dialog(
        &inv,
        &back,
        "BYE",
        true,
        "SIP/2.0/UDP 127.0.0.4:5060;branch=z9hG4bKbye1",
    );
    let bye_out = to(&feed(&mut s, INSIDE, &bye), PEER);
    seen.push(bye_out.clone());
    let bye_ok = respond(&bye_out, 200, "peer1", "<sip:bob@127.0.0.2:5060>", None);
    let bye_back = to(&feed(&mut s, PEER, &bye_ok), INSIDE);
    assert_eq!(
        Message::parse(&bye_back).unwrap().core().call_id,
        "c1@ua.core.inside.invalid"
    );
    (seen, s)
}

/// A call placed by the peer, answered inside behind one proxy,
/// re-INVITEd by the inside and hung up by the peer.
fn inbound_call(faults: Faults) -> (Vec<Vec<u8>>, Sbe) {
    let mut s = sbe(faults);
    let mut seen = Vec::new();
    let inv = MessageBuilder::request("INVITE", "sip:alice@ssp.example")
        .header("Via", "SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bKpin1;rport")
        .header("Max-Forwards", 70)
        .header("From", "<sip:bob@peer.example>;tag=p1")
        .header("To", "<sip:alice@ssp.example>")
        .header("Call-ID", "peer-call-1")
        .header("CSeq", "1 INVITE")
        .header("Contact", "<sip:bob@127.0.0.2:5060>")
        .body("application/sdp", &sdp("-", "127.0.0.2"))
        .build();
    let at_inside = to(&feed(&mut s, PEER, &inv), INSIDE);
    // An inside proxy record-routes before the user agent answers.
    let proxied = String::from_utf8(at_inside.clone()).unwrap().replacen(
        "Record-Route:",
        "Record-Route: <sip:proxy.core.inside.invalid;lr>\r\nRecord-Route:",
        1,
    );
    let ok = respond(
        proxied.as_bytes(),
        200,
        "in2",
        "<sip:alice@ua.core.inside.invalid:5060>",
        Some(&sdp("alice", "10.20.30.40")),
    );
    let ok_out = to(&feed(&mut s, INSIDE, &ok), PEER);
    seen.push(ok_out.clone());
    assert_eq!(
        Message::parse(&ok_out).unwrap().core().call_id,
        "peer-call-1"
    );

    // The peer's ACK and re-INVITE reach the inside user agent.
    let ack = in_dialog(
        &inv,
        &ok_out,
        "ACK",
        true,
        "SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bKpack",
    );
    let ack_in = to(&feed(&mut s, PEER, &ack), INSIDE);
    if !faults.contains(Fault::LeakContact) {
        let q = Message::parse(&ack_in).unwrap();
        assert_eq!(
            q.request_uri().unwrap().raw(),
            "sip:alice@ua.core.inside.invalid:5060"
        );
        if !faults.contains(Fault::LeakRecordRoute) {
            let routes: Vec<&str> = q.values(HeaderName::Route).collect();
            assert_eq!(routes, ["<sip:proxy.core.inside.invalid;lr>"]);
        }
    }

    // The inside re-INVITEs the peer.
    let reinv = in_dialog(
        proxied.as_bytes(),
        &ok,
        "INVITE",
        false,
        "SIP/2.0/UDP 127.0.0.4:5060;branch=z9hG4bKire;rport",
    );
    let reinv = String::from_utf8(reinv)
        .unwrap()
        .replacen(
            "Max-Forwards:",
            "Contact: <sip:alice@ua.core.inside.invalid:5060>\r\nMax-Forwards:",
            1,
        )
        .replacen(
            "Via: SIP/2.0/UDP 127.0.0.4:5060;branch=z9hG4bKire;rport",
            "Via: SIP/2.0/UDP 127.0.0.4:5060;branch=z9hG4bKire;rport\r\nVia: SIP/2.0/UDP ua.core.inside.invalid;branch=z9hG4bKuare",
            1,
        );
    let reinv_out = to(&feed(&mut s, INSIDE, reinv.as_bytes()), PEER);
    seen.push(reinv_out.clone());
    let reok = respond(&reinv_out, 200, "p1", "<sip:bob@127.0.0.2:5060>", None);
    let reok_in = to(&feed(&mut s, PEER, &reok), INSIDE);
    assert!(
        String::from_utf8_lossy(&reok_in).contains("z9hG4bKuare"),
        "the re-INVITE's answer finds its way back through the inside Vias"
    );

    // BYE from the peer, answered inside.
    let bye = in_dialog(
        &inv,
        &ok_out,
        "BYE",
        true,
        "SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bKpbye",
    );
    let bye_in = to(&feed(&mut s, PEER, &bye), INSIDE);
    let bye_ok = respond(
        &bye_in,
        200,
        "in2",
        "<sip:alice@ua.core.inside.invalid:5060>",
        None,
    );
    let bye_ok_out = to(&feed(&mut s, INSIDE, &bye_ok), PEER);
    seen.push(bye_ok_out);
    (seen, s)
}

#[test]
fn nothing_inside_leaves_and_dialogs_work_both_ways() {
    for call in [outbound_call, inbound_call] {
        let (seen, s) = call(Faults::NONE);
        for m in &seen {
            assert!(
                leaks(m).is_empty(),
                "{:?} in\n{}",
                leaks(m),
                String::from_utf8_lossy(m)
            );
            Message::parse(m).expect("well-formed");
        }
        assert_eq!(s.hidden_dialog_count(), 0, "the BYE ended the mapping");
    }
}

#[test]
fn sdp_keeps_every_line_but_the_origin() {
    let (seen, _) = outbound_call(Faults::NONE);
    let m = Message::parse(&seen[0]).unwrap();
    let body = String::from_utf8_lossy(m.body()).into_owned();
    assert!(
        body.contains("o=- 2890844526 2890844526 IN IP4 127.0.0.1\r\n"),
        "{body}"
    );
    assert!(
        body.contains("c=IN IP4 192.0.2.10\r\na=x-keep:me") || body.contains("a=x-keep:me\r\n")
    );
    assert_eq!(m.core().content_length, Some(m.body().len()));
}

#[test]
fn each_leak_fault_lets_its_own_name_out() {
    let cases: &[(Fault, &str)] = &[
        (Fault::LeakVia, "Via: SIP/2.0/UDP ua.core.inside.invalid"),
        (Fault::LeakRecordRoute, "<sip:proxy.core.inside.invalid;lr>"),
        (
            Fault::LeakContact,
            "<sip:alice@ua.core.inside.invalid:5060>",
        ),
        (Fault::LeakCallId, "c1@ua.core.inside.invalid"),
        (
            Fault::LeakSdpOrigin,
            "o=alice 2890844526 2890844526 IN IP4 10.20.30.40",
        ),
    ];
    for (fault, shows) in cases {
        let (seen, _) = outbound_call(Faults::only(*fault));
        let (seen_in, _) = inbound_call(Faults::only(*fault));
        let all: Vec<String> = seen
            .iter()
            .chain(&seen_in)
            .map(|m| String::from_utf8_lossy(m).into_owned())
            .collect();
        assert!(
            all.iter().any(|m| m.contains(shows)),
            "{fault}: expected {shows:?} to leave"
        );
    }
}

#[test]
fn the_dialog_table_is_bounded_and_refuses_rather_than_leaks() {
    let mut cfg = SbeConfig::new(a(SBE), vec![a(PEER).ip()], a(INSIDE));
    cfg.hide_topology = true;
    cfg.max_hidden_dialogs = 1;
    let mut s = Sbe::new(cfg);
    let first = feed(&mut s, INSIDE, &inside_invite());
    assert!(first.iter().any(|(d, _)| *d == a(PEER)));
    let second = String::from_utf8(inside_invite())
        .unwrap()
        .replace("c1@", "c2@")
        .replace("z9hG4bKproxy1", "z9hG4bKproxy2");
    let out = feed(&mut s, INSIDE, second.as_bytes());
    assert!(
        out.iter().all(|(d, _)| *d != a(PEER)),
        "nothing leaves unhidden"
    );
    let refused = to(&out, INSIDE);
    assert_eq!(Message::parse(&refused).unwrap().status(), Some(503));
    assert_eq!(s.hidden_dialog_count(), 1);
}

#[test]
fn a_forged_dialog_token_gets_481() {
    let mut s = sbe(Faults::NONE);
    let bye = MessageBuilder::request("BYE", "sip:th0123456789abcdef@127.0.0.1:5060")
        .header("Via", "SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bKforged")
        .header("Max-Forwards", 70)
        .header("From", "<sip:bob@peer.example>;tag=x")
        .header("To", "<sip:alice@ssp.example>;tag=y")
        .header("Call-ID", "nope")
        .header("CSeq", "9 BYE")
        .build();
    let out = feed(&mut s, PEER, &bye);
    assert!(out.iter().all(|(d, _)| *d != a(INSIDE)));
    assert_eq!(Message::parse(&to(&out, PEER)).unwrap().status(), Some(481));
}

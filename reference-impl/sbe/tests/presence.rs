//! Presence and IM through the reference SBE core, without I/O: a
//! subscription's whole life (RFC 6665), PUBLISH (RFC 3903), MESSAGE both
//! ways (RFC 3428) and an MSRP offer (RFC 4975), with the faults that break
//! each.

use speermint_sbe::{DropReason, Event, Fault, Faults, Node, Output, Sbe, SbeConfig};
use speermint_sip::{HeaderName, Message, MessageBuilder};
use std::net::SocketAddr;
use std::time::Instant;

const SBE: &str = "127.0.0.1:5060";
const PEER: &str = "127.0.0.2:5060";
const NEXT: &str = "127.0.0.4:5060";
const ME: &str = "<sip:127.0.0.1:5060;lr>";

fn a(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn sbe(faults: Faults) -> Sbe {
    let mut cfg = SbeConfig::new(a(SBE), vec![a(PEER).ip()], a(NEXT));
    cfg.faults = faults;
    Sbe::new(cfg)
}

/// Feeds a datagram; returns what went out, and the events.
fn feed(s: &mut Sbe, from: &str, bytes: &[u8]) -> (Vec<(SocketAddr, Vec<u8>)>, Vec<Event>) {
    s.handle_datagram(Instant::now(), a(from), bytes);
    let (mut tx, mut ev) = (Vec::new(), Vec::new());
    while let Some(o) = s.poll_output() {
        match o {
            Output::Transmit(t) => tx.push((t.path.remote, t.bytes)),
            Output::Event(e) => ev.push(e),
            _ => {}
        }
    }
    (tx, ev)
}

/// Feeds a request that must be relayed, alone, to `to`; returns it.
fn relay(s: &mut Sbe, from: &str, to: &str, bytes: &[u8]) -> Vec<u8> {
    let (tx, ev) = feed(s, from, bytes);
    let relayed: Vec<_> = tx
        .into_iter()
        .filter(|(_, b)| !b.starts_with(b"SIP/2.0 100"))
        .collect();
    assert_eq!(relayed.len(), 1, "{ev:?}");
    assert_eq!(relayed[0].0, a(to));
    relayed[0].1.clone()
}

fn values(bytes: &[u8], name: HeaderName) -> Vec<String> {
    Message::parse(bytes)
        .unwrap()
        .values(name)
        .map(str::to_string)
        .collect()
}

/// A request of the peer (`via` on 127.0.0.2) or the inside (127.0.0.4).
fn request(
    method: &str,
    ruri: &str,
    via: &str,
    branch: &str,
    lines: &[(&str, &str)],
) -> MessageBuilder {
    let mut b = MessageBuilder::request(method, ruri)
        .header("Via", format!("SIP/2.0/UDP {via};branch=z9hG4bK{branch}"))
        .header("Max-Forwards", 70);
    for (n, v) in lines {
        b = b.header(n, v);
    }
    b
}

fn response(to: &[u8], code: u16, tag: Option<&str>, lines: &[(&str, &str)]) -> Vec<u8> {
    let req = Message::parse(to).unwrap();
    let mut b = MessageBuilder::response_to(&req, code, "OK", tag);
    for rr in req.values(HeaderName::RecordRoute) {
        b = b.header("Record-Route", rr);
    }
    for (n, v) in lines {
        b = b.header(n, v);
    }
    b.build()
}

const PIDF: &[u8] = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"pres:bob@ssp.example\">\r\n<tuple id=\"t1\"><status><basic>open</basic></status><contact priority=\"0.8\">sip:bob@ssp.example</contact></tuple>\r\n<tuple id=\"t2\"><status><basic>closed</basic></status></tuple>\r\n</presence>\r\n";

#[test]
fn a_subscription_keeps_the_element_in_its_path_from_start_to_end() {
    let mut s = sbe(Faults::NONE);
    let dialog = [
        ("From", "<sip:alice@peer.example>;tag=w1"),
        ("Call-ID", "sub1@127.0.0.2"),
        ("Contact", "<sip:alice@127.0.0.2:5060>"),
        ("Event", "presence"),
    ];
    // The initial SUBSCRIBE: relayed inside with our Record-Route (RFC 6665 §4.3).
    let sub = request(
        "SUBSCRIBE",
        "sip:bob@ssp.example",
        "127.0.0.2:5060",
        "s1",
        &dialog,
    )
    .header("To", "<sip:bob@ssp.example>")
    .header("CSeq", "1 SUBSCRIBE")
    .header("Expires", 600)
    .header("Accept", "application/pidf+xml")
    .build();
    let fwd = relay(&mut s, PEER, NEXT, &sub);
    assert_eq!(values(&fwd, HeaderName::RecordRoute), [ME]);
    // The 202 goes back with the Record-Route the notifier echoed.
    let ok = response(
        &fwd,
        202,
        Some("n1"),
        &[("Contact", "<sip:bob@127.0.0.4:5060>"), ("Expires", "600")],
    );
    let back = relay(&mut s, NEXT, PEER, &ok);
    assert_eq!(Message::parse(&back).unwrap().status(), Some(202));
    assert_eq!(values(&back, HeaderName::RecordRoute), [ME]);

    // NOTIFYs follow the route set to the subscriber's Contact, our Route
    // entry removed (§16.4) and a Record-Route added (RFC 6665 §4.3).
    let notify = |cseq: u32, state: &str, branch: &str| {
        request(
            "NOTIFY",
            "sip:alice@127.0.0.2:5060",
            "127.0.0.4:5060",
            branch,
            &[],
        )
        .header("Route", ME)
        .header("From", "<sip:bob@ssp.example>;tag=n1")
        .header("To", "<sip:alice@peer.example>;tag=w1")
        .header("Call-ID", "sub1@127.0.0.2")
        .header("CSeq", format!("{cseq} NOTIFY"))
        .header("Event", "presence")
        .header("Subscription-State", state)
        .header("Contact", "<sip:bob@127.0.0.4:5060>")
        .body("application/pidf+xml", PIDF)
        .build()
    };
    let n1 = relay(&mut s, NEXT, PEER, &notify(1, "active;expires=600", "n1"));
    let m = Message::parse(&n1).unwrap();
    assert!(values(&n1, HeaderName::Route).is_empty());
    assert_eq!(values(&n1, HeaderName::RecordRoute), [ME]);
    assert_eq!(m.body(), PIDF, "PIDF crosses byte for byte");
    assert_eq!(m.core().to.tag(), Some("w1"));
    let back = relay(&mut s, PEER, NEXT, &response(&n1, 200, None, &[]));
    assert_eq!(Message::parse(&back).unwrap().status(), Some(200));

    // A refresh inside the dialog, then the unsubscribe and its final NOTIFY.
    for (cseq, expires, branch) in [(2, "600", "s2"), (3, "0", "s3")] {
        let refresh = request(
            "SUBSCRIBE",
            "sip:bob@127.0.0.4:5060",
            "127.0.0.2:5060",
            branch,
            &dialog,
        )
        .header("Route", ME)
        .header("To", "<sip:bob@ssp.example>;tag=n1")
        .header("CSeq", format!("{cseq} SUBSCRIBE"))
        .header("Expires", expires)
        .build();
        let fwd = relay(&mut s, PEER, NEXT, &refresh);
        assert!(values(&fwd, HeaderName::Route).is_empty());
        assert_eq!(
            Message::parse(&fwd).unwrap().request_uri().unwrap().raw(),
            "sip:bob@127.0.0.4:5060"
        );
        relay(
            &mut s,
            NEXT,
            PEER,
            &response(&fwd, 200, None, &[("Expires", expires)]),
        );
    }
    let last = relay(
        &mut s,
        NEXT,
        PEER,
        &notify(3, "terminated;reason=timeout", "n3"),
    );
    assert!(
        String::from_utf8_lossy(&last)
            .contains("Subscription-State: terminated;reason=timeout\r\n")
    );
}

#[test]
fn the_subscription_faults_drop_it_or_leave_the_element_out_of_it() {
    let sub = request(
        "SUBSCRIBE",
        "sip:bob@ssp.example",
        "127.0.0.2:5060",
        "f1",
        &[],
    )
    .header("From", "<sip:alice@peer.example>;tag=w1")
    .header("To", "<sip:bob@ssp.example>")
    .header("Call-ID", "f1@127.0.0.2")
    .header("CSeq", "1 SUBSCRIBE")
    .header("Event", "presence")
    .build();
    let mut s = sbe(Faults::only(Fault::NotifyOutsideDialog));
    let fwd = relay(&mut s, PEER, NEXT, &sub);
    assert!(values(&fwd, HeaderName::RecordRoute).is_empty());
    let mut s = sbe(Faults::only(Fault::DropSubscribe));
    let (tx, ev) = feed(&mut s, PEER, &sub);
    assert!(tx.is_empty(), "neither relayed nor answered");
    assert!(ev.contains(&Event::Dropped {
        from: a(PEER),
        reason: DropReason::MethodDropped
    }));
}

#[test]
fn message_and_publish_cross_unrecorded_and_untouched() {
    for faults in [Faults::NONE, Faults::only(Fault::DropMessage)] {
        let mut s = sbe(faults);
        let text = b"Hello from the peer\r\n";
        let msg = request(
            "MESSAGE",
            "sip:bob@ssp.example",
            "127.0.0.2:5060",
            "m1",
            &[],
        )
        .header("From", "<sip:alice@peer.example>;tag=m1")
        .header("To", "<sip:bob@ssp.example>")
        .header("Call-ID", "m1@127.0.0.2")
        .header("CSeq", "1 MESSAGE")
        .body("text/plain;charset=UTF-8", text)
        .build();
        if faults.contains(Fault::DropMessage) {
            assert!(feed(&mut s, PEER, &msg).0.is_empty());
            continue;
        }
        let fwd = relay(&mut s, PEER, NEXT, &msg);
        assert!(
            values(&fwd, HeaderName::RecordRoute).is_empty(),
            "MESSAGE forms no dialog"
        );
        assert_eq!(Message::parse(&fwd).unwrap().body(), text);
        relay(&mut s, NEXT, PEER, &response(&fwd, 202, Some("r1"), &[]));
        // And the other way, to the peer's address.
        let out = request(
            "MESSAGE",
            "sip:alice@127.0.0.2:5060",
            "127.0.0.4:5060",
            "m2",
            &[],
        )
        .header("From", "<sip:bob@ssp.example>;tag=m2")
        .header("To", "<sip:alice@peer.example>")
        .header("Call-ID", "m2@127.0.0.4")
        .header("CSeq", "1 MESSAGE")
        .body("text/plain", b"hi")
        .build();
        let fwd = relay(&mut s, NEXT, PEER, &out);
        relay(&mut s, PEER, NEXT, &response(&fwd, 200, Some("r2"), &[]));
        // PUBLISH (RFC 3903) is no dialog either; its entity tag crosses.
        let publish = request(
            "PUBLISH",
            "sip:alice@127.0.0.2:5060",
            "127.0.0.4:5060",
            "p1",
            &[],
        )
        .header("From", "<sip:bob@ssp.example>;tag=p1")
        .header("To", "<sip:alice@peer.example>")
        .header("Call-ID", "p1@127.0.0.4")
        .header("CSeq", "1 PUBLISH")
        .header("Event", "presence")
        .header("SIP-If-Match", "dx200xyz")
        .header("Expires", 3600)
        .body("application/pidf+xml", PIDF)
        .build();
        let fwd = relay(&mut s, NEXT, PEER, &publish);
        assert!(values(&fwd, HeaderName::RecordRoute).is_empty());
        assert_eq!(Message::parse(&fwd).unwrap().body(), PIDF);
        assert!(String::from_utf8_lossy(&fwd).contains("SIP-If-Match: dx200xyz\r\n"));
        let ok = response(&fwd, 200, Some("r3"), &[("SIP-ETag", "kwj449x")]);
        let back = relay(&mut s, PEER, NEXT, &ok);
        assert!(String::from_utf8_lossy(&back).contains("SIP-ETag: kwj449x\r\n"));
    }
}

#[test]
fn an_msrp_offer_crosses_byte_for_byte_unless_the_path_is_stripped() {
    let sdp = b"v=0\r\no=alice 2890844526 2890844527 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\nm=message 7654 TCP/MSRP *\r\na=accept-types:message/cpim text/plain text/html\r\na=accept-wrapped-types:*\r\na=path:msrp://127.0.0.2:7654/jshA7weztas;tcp\r\n";
    for faults in [Faults::NONE, Faults::only(Fault::StripMsrpPath)] {
        let mut s = sbe(faults);
        let inv = request("INVITE", "sip:bob@ssp.example", "127.0.0.2:5060", "i1", &[])
            .header("From", "<sip:alice@peer.example>;tag=i1")
            .header("To", "<sip:bob@ssp.example>")
            .header("Call-ID", "i1@127.0.0.2")
            .header("CSeq", "1 INVITE")
            .header("Contact", "<sip:alice@127.0.0.2:5060>")
            .body("application/sdp", sdp)
            .build();
        let fwd = relay(&mut s, PEER, NEXT, &inv);
        let m = Message::parse(&fwd).unwrap();
        let body = String::from_utf8_lossy(m.body()).into_owned();
        if faults.is_empty() {
            assert_eq!(m.body(), sdp);
        } else {
            assert!(!body.contains("a=path") && body.contains("a=accept-types"));
            assert_eq!(m.core().content_length, Some(m.body().len()), "{body}");
        }
    }
}

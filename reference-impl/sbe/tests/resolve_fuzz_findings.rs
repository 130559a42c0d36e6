//! Deterministic versions of what the `sbe_sequence` fuzz target found on
//! the resolution path of the reference SBE (`SbeConfig::resolve_names`).
//! Each has its minimised input in `corpora/regressions/sbe_sequence/`,
//! named after the test:
//! - `resolved-route-rewrites-request-uri`: a target taken from a Route
//!   replaced the Request-URI;
//! - `ack-retransmission-parked-twice`: a retransmitted ACK was parked
//!   again, two resolutions sharing one server transaction;
//! - `parked-ack-exceeds-max-transactions`: a parked ACK held a server
//!   transaction without a room check;
//! - `resolved-relay-exceeds-max-transactions`: the relay after a
//!   resolution started a client transaction without a room check.
//! - `cancelled-invite-fails-over-on-timeout`: a resolved INVITE cancelled
//!   upstream failed over to the next resolved hop when Timer B fired.

use speermint_sbe::{DropReason, Event, Hop, Node, Output, Resolved, Sbe, SbeConfig};
use speermint_sip::{HeaderName, Message, MessageBuilder};
use std::net::SocketAddr;
use std::time::Instant;

const SBE: &str = "127.0.0.1:5060";
const PEER: &str = "127.0.0.2:5060";
const NEXT: &str = "127.0.0.4:5060";

fn a(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn resolving(max_transactions: usize) -> Sbe {
    let mut cfg = SbeConfig::new(a(SBE), vec![a(PEER).ip()], a(NEXT));
    cfg.resolve_names = true;
    cfg.max_transactions = max_transactions;
    Sbe::new(cfg)
}

/// Transmits, events, resolutions asked (id, target).
type Drained = (Vec<(SocketAddr, Vec<u8>)>, Vec<Event>, Vec<(u64, String)>);

fn drain(sbe: &mut Sbe) -> Drained {
    let (mut tx, mut ev, mut res) = (Vec::new(), Vec::new(), Vec::new());
    while let Some(o) = sbe.poll_output() {
        match o {
            Output::Transmit(t) => tx.push((t.path.remote, t.bytes)),
            Output::Event(Event::Resolve { id, target, .. }) => res.push((id, target)),
            Output::Timeout(_) | Output::Close(_) => {}
            Output::Event(e) => ev.push(e),
        }
    }
    (tx, ev, res)
}

fn feed(sbe: &mut Sbe, now: Instant, from: &str, bytes: &[u8]) -> Drained {
    sbe.handle_datagram(now, a(from), bytes);
    drain(sbe)
}

fn total(sbe: &Sbe) -> usize {
    let (s, c) = sbe.transaction_count();
    s + c
}

fn status(bytes: &[u8]) -> Option<u16> {
    Message::parse(bytes).ok()?.status()
}

/// A request from `from` (its Via names it) to `ruri`, with `route`.
fn request(from: &str, method: &str, ruri: &str, branch: &str, route: Option<&str>) -> Vec<u8> {
    let mut b = MessageBuilder::request(method, ruri)
        .header(
            "Via",
            format!("SIP/2.0/UDP {from};branch=z9hG4bK{branch};rport"),
        )
        .header("Max-Forwards", 70)
        .header("From", "<sip:carol@ssp.example>;tag=77")
        .header("To", "<sip:bob@peer.example>")
        .header("Call-ID", format!("{branch}@ssp.example"))
        .header("CSeq", format!("1 {method}"));
    if let Some(r) = route {
        b = b.header("Route", r);
    }
    b.build()
}

/// Loose routing (RFC 3261 §16.4, §16.12): when the first Route that is not
/// the element names a domain, that Route is what gets resolved, and the
/// Request-URI goes on untouched. The element used to write the resolved
/// Route URI into the Request-URI, losing the callee.
#[test]
fn a_target_from_the_route_set_leaves_the_request_uri_alone() {
    let mut s = resolving(64);
    let now = Instant::now();
    let route = "<sip:127.0.0.1:5060;lr>, <sip:edge.peer.example;lr>";
    let inv = request(NEXT, "INVITE", "tel:+15550002", "route1", Some(route));
    let (_, _, res) = feed(&mut s, now, NEXT, &inv);
    assert_eq!(res.len(), 1);
    assert_eq!(res[0].1, "sip:edge.peer.example;lr");
    s.on_resolved(
        now,
        res[0].0,
        Ok(Resolved {
            target_uri: "sip:edge.peer.example;lr".into(),
            hops: vec![Hop::udp(a(PEER))],
        }),
    );
    let (tx, _, _) = drain(&mut s);
    assert_eq!(tx.len(), 1);
    assert_eq!(tx[0].0, a(PEER));
    let fwd = Message::parse(&tx[0].1).unwrap();
    assert_eq!(fwd.request_uri().unwrap().raw(), "tel:+15550002");
    // Our own entry is gone; the one the hop was resolved from stays.
    let routes: Vec<&str> = fwd.values(HeaderName::Route).collect();
    assert_eq!(routes, ["<sip:edge.peer.example;lr>"]);

    // Without a Route, an ENUM result does become the Request-URI.
    let inv = request(NEXT, "INVITE", "tel:+15550002", "route2", None);
    let (_, _, res) = feed(&mut s, now, NEXT, &inv);
    s.on_resolved(
        now,
        res[0].0,
        Ok(Resolved {
            target_uri: "sip:+15550002@peer.example".into(),
            hops: vec![Hop::udp(a(PEER))],
        }),
    );
    let (tx, _, _) = drain(&mut s);
    let fwd = Message::parse(&tx[0].1).unwrap();
    assert_eq!(
        fwd.request_uri().unwrap().raw(),
        "sip:+15550002@peer.example"
    );
}

/// An ACK has no transaction of its own to absorb its retransmissions (it
/// looks up its INVITE's): a second copy of an ACK by name was parked
/// again, two resolutions sharing one server transaction, and a stream of
/// copies grew the parked set without bound.
#[test]
fn a_retransmitted_ack_is_parked_once() {
    let mut s = resolving(64);
    let now = Instant::now();
    let ack = request(NEXT, "ACK", "sip:bob@peer.example", "ack1", None);
    let (_, _, res) = feed(&mut s, now, NEXT, &ack);
    assert_eq!(res.len(), 1);
    for _ in 0..10 {
        let (tx, ev, res) = feed(&mut s, now, NEXT, &ack);
        assert!(tx.is_empty() && res.is_empty());
        assert!(ev.contains(&Event::Dropped {
            from: a(NEXT),
            reason: DropReason::Retransmission,
        }));
    }
    assert_eq!(s.parked_len(), 1);
    assert_eq!(s.transaction_count(), (1, 0));
    s.on_resolved(
        now,
        res[0].0,
        Ok(Resolved {
            target_uri: "sip:bob@peer.example".into(),
            hops: vec![Hop::udp(a(PEER))],
        }),
    );
    let (tx, _, _) = drain(&mut s);
    assert_eq!(tx.len(), 1);
    assert_eq!(tx[0].0, a(PEER));
    assert_eq!((s.parked_len(), s.transaction_count()), (0, (0, 0)));
}

/// An ACK skips the room check (relayed at once it needs no transaction),
/// but parked it holds a server transaction: with the element full it went
/// over `max_transactions`. Now it is dropped (an ACK takes no 503).
#[test]
fn a_parked_ack_needs_room() {
    let mut s = resolving(2);
    let now = Instant::now();
    let inv = request(PEER, "INVITE", "sip:bob@ssp.example", "full1", None);
    let (tx, _, _) = feed(&mut s, now, PEER, &inv);
    assert!(tx.iter().any(|(to, _)| *to == a(NEXT)));
    assert_eq!(total(&s), 2);
    let ack = request(NEXT, "ACK", "sip:bob@peer.example", "ack2", None);
    let (tx, ev, res) = feed(&mut s, now, NEXT, &ack);
    assert!(tx.is_empty() && res.is_empty());
    assert!(ev.contains(&Event::Dropped {
        from: a(NEXT),
        reason: DropReason::RefusedAck,
    }));
    assert_eq!((total(&s), s.parked_len()), (2, 0));
}

/// A parked request holds one server transaction; relaying it after the
/// resolution adds a client transaction. Others may have taken the room
/// meanwhile: the relay went over `max_transactions`. Now the request gets
/// 503, as it would have on arrival.
#[test]
fn the_relay_after_a_resolution_needs_room() {
    let mut s = resolving(3);
    let now = Instant::now();
    let opt = request(NEXT, "OPTIONS", "sip:bob@peer.example", "opt1", None);
    let (_, _, res) = feed(&mut s, now, NEXT, &opt);
    assert_eq!(res.len(), 1);
    assert_eq!(total(&s), 1);
    let inv = request(PEER, "INVITE", "sip:bob@ssp.example", "inv1", None);
    let (tx, _, _) = feed(&mut s, now, PEER, &inv);
    assert!(tx.iter().any(|(to, _)| *to == a(NEXT)));
    assert_eq!(total(&s), 3);
    s.on_resolved(
        now,
        res[0].0,
        Ok(Resolved {
            target_uri: "sip:bob@peer.example".into(),
            hops: vec![Hop::udp(a(PEER))],
        }),
    );
    let (tx, _, _) = drain(&mut s);
    assert_eq!(tx.len(), 1);
    assert_eq!((tx[0].0, status(&tx[0].1)), (a(NEXT), Some(503)));
    assert!(total(&s) <= 3);
    assert_eq!(s.parked_len(), 0);
}

/// RFC 3261 §16.10: once the caller cancels, the proxy starts no new
/// branch. A resolved INVITE cancelled while its first hop was silent
/// (the CANCEL waits for a provisional) used to fail over to the next
/// resolved hop when Timer B fired, an INVITE nobody would cancel; a 503
/// after the CANCEL was already relayed instead. Now the timeout is
/// answered 408 upstream too.
#[test]
fn a_cancelled_invite_does_not_fail_over_on_timeout() {
    let mut s = resolving(64);
    let t0 = Instant::now();
    let inv = request(NEXT, "INVITE", "sip:bob@peer.example", "cf1", None);
    let (_, _, res) = feed(&mut s, t0, NEXT, &inv);
    assert_eq!(res.len(), 1);
    let alt = a("127.0.0.9:5060");
    s.on_resolved(
        t0,
        res[0].0,
        Ok(Resolved {
            target_uri: "sip:bob@peer.example".into(),
            hops: vec![Hop::udp(a(PEER)), Hop::udp(alt)],
        }),
    );
    let (tx, _, _) = drain(&mut s);
    assert_eq!(tx.len(), 1);
    assert_eq!(tx[0].0, a(PEER));
    // The caller gives up before the first hop says anything.
    let cancel = request(NEXT, "CANCEL", "sip:bob@peer.example", "cf1", None);
    let (tx, _, _) = feed(&mut s, t0, NEXT, &cancel);
    assert!(
        tx.iter()
            .any(|(to, b)| *to == a(NEXT) && status(b) == Some(200))
    );
    // Timer B: the INVITE times out; nothing goes to the alternate.
    let mut now = t0;
    let mut upstream = Vec::new();
    while let Some(t) = s.poll_timeout() {
        if t > t0 + std::time::Duration::from_secs(40) {
            break;
        }
        now = t;
        s.handle_timeout(now);
        let (tx, _, _) = drain(&mut s);
        assert!(
            tx.iter().all(|(to, _)| *to != alt),
            "a cancelled INVITE failed over at {:?}",
            now - t0
        );
        upstream.extend(
            tx.into_iter()
                .filter(|(to, _)| *to == a(NEXT))
                .filter_map(|(_, b)| status(&b)),
        );
    }
    assert!(now - t0 >= std::time::Duration::from_secs(32));
    // (Timer G retransmits it.)
    upstream.dedup();
    assert_eq!(upstream, [408]);
}

//! Deterministic versions of what the `sbe_sequence` fuzz target found in
//! the reference SBE (see `speermint_sbe::fuzzing::sbe_sequence`): state
//! bounded by `max_transactions`, CANCEL included; an ACK is never answered.

use speermint_sbe::{DropReason, Event, Node, Output, Sbe, SbeConfig};
use speermint_sip::{Message, MessageBuilder};
use std::net::SocketAddr;
use std::time::Instant;

const SBE: &str = "127.0.0.1:5060";
const PEER: &str = "127.0.0.2:5060";
const NEXT: &str = "127.0.0.4:5060";

fn a(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn sbe(max_transactions: usize) -> Sbe {
    let mut cfg = SbeConfig::new(a(SBE), vec![a(PEER).ip()], a(NEXT));
    cfg.max_transactions = max_transactions;
    Sbe::new(cfg)
}

fn feed(sbe: &mut Sbe, from: &str, bytes: &[u8]) -> (Vec<(SocketAddr, Vec<u8>)>, Vec<Event>) {
    sbe.handle_datagram(Instant::now(), a(from), bytes);
    let (mut tx, mut ev) = (Vec::new(), Vec::new());
    while let Some(o) = sbe.poll_output() {
        match o {
            Output::Transmit(t) => tx.push((t.path.remote, t.bytes)),
            Output::Event(Event::Resolve { .. }) => panic!("resolution is off in these tests"),
            Output::Timeout(_) | Output::Close(_) => {}
            Output::Event(e) => ev.push(e),
        }
    }
    (tx, ev)
}

fn total(sbe: &Sbe) -> usize {
    let (s, c) = sbe.transaction_count();
    s + c
}

fn status(bytes: &[u8]) -> Option<u16> {
    Message::parse(bytes).ok()?.status()
}

/// A request from the peer; CANCEL and ACK reuse an INVITE's branch.
fn request(method: &str, branch: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut b = MessageBuilder::request(method, "sip:bob@biloxi.example.com")
        .header("Via", format!("SIP/2.0/UDP {PEER};branch=z9hG4bK{branch}"))
        .header("From", "<sip:alice@atlanta.example.com>;tag=1")
        .header("To", "<sip:bob@biloxi.example.com>")
        .header("Call-ID", format!("{branch}@atlanta.example.com"))
        .header("CSeq", format!("1 {method}"));
    for (n, v) in extra {
        b = b.header(n, v);
    }
    b.build()
}

/// Found with max_transactions = 2: an INVITE relay (two transactions)
/// followed by its CANCEL made three. A CANCEL now needs room too.
#[test]
fn cancel_counts_against_max_transactions() {
    let mut s = sbe(2);
    let (tx, _) = feed(&mut s, PEER, &request("INVITE", "inv1", &[]));
    assert!(tx.iter().any(|(to, _)| *to == a(NEXT)));
    assert_eq!(total(&s), 2);
    let (tx, _) = feed(&mut s, PEER, &request("CANCEL", "inv1", &[]));
    assert_eq!(tx.len(), 1);
    assert_eq!(status(&tx[0].1), Some(503));
    assert!(total(&s) <= 2);
}

/// CANCELs matching nothing each left a 481 server transaction behind for
/// 32 s, without any limit: a peer could grow the state at will.
#[test]
fn cancels_for_nothing_cannot_grow_state() {
    let mut s = sbe(4);
    for i in 0..20 {
        let (tx, _) = feed(&mut s, PEER, &request("CANCEL", &format!("c{i}"), &[]));
        let code = status(&tx[0].1);
        assert!(code == Some(481) || code == Some(503), "{code:?}");
        assert!(
            total(&s) <= 4,
            "{} transactions after {} CANCELs",
            total(&s),
            i + 1
        );
    }
}

/// A relay starts two transactions, so it needs two free slots: one
/// free slot used to let it through, one over the limit.
#[test]
fn a_relay_needs_room_for_both_transactions() {
    for max in [2, 3] {
        let mut s = sbe(max);
        // Max-Forwards 0: answered 483, one server transaction.
        let mf0 = request("OPTIONS", "o1", &[("Max-Forwards", "0")]);
        let (tx, _) = feed(&mut s, PEER, &mf0);
        assert_eq!(status(&tx[0].1), Some(483));
        assert_eq!(total(&s), 1);
        let (tx, _) = feed(&mut s, PEER, &request("OPTIONS", "o2", &[]));
        if max == 2 {
            assert_eq!(status(&tx[0].1), Some(503));
            assert_eq!(total(&s), 1);
        } else {
            assert_eq!(tx[0].0, a(NEXT));
            assert_eq!(total(&s), 3);
        }
    }
}

/// With the element full when the provisional response arrives, a CANCEL
/// that had to wait for it (RFC 3261 §9.1) is still sent, once, without a
/// transaction of its own.
#[test]
fn a_pending_cancel_is_sent_even_when_full() {
    let mut s = sbe(5);
    let (tx, _) = feed(&mut s, PEER, &request("INVITE", "inv2", &[]));
    let forwarded = tx.iter().find(|(to, _)| *to == a(NEXT)).unwrap().1.clone();
    let (tx, _) = feed(&mut s, PEER, &request("CANCEL", "inv2", &[]));
    assert_eq!(status(&tx[0].1), Some(200));
    assert!(
        tx.iter().all(|(to, _)| *to == a(PEER)),
        "CANCEL waits for a 1xx"
    );
    feed(&mut s, PEER, &request("OPTIONS", "o4", &[]));
    assert_eq!(total(&s), 5);
    let req = Message::parse(&forwarded).unwrap();
    let ringing = MessageBuilder::response_to(&req, 180, "Ringing", Some("b")).build();
    let (tx, _) = feed(&mut s, NEXT, &ringing);
    let cancels: Vec<_> = tx
        .iter()
        .filter(|(to, b)| *to == a(NEXT) && Message::parse(b).unwrap().method() == "CANCEL")
        .collect();
    assert_eq!(cancels.len(), 1);
    assert_eq!(total(&s), 5);
}

/// An ACK takes no response (RFC 3261 §17.1.1.3): one that fails
/// validation is dropped, not answered 483/420/416.
#[test]
fn an_ack_is_never_answered() {
    for (i, extra) in [[("Max-Forwards", "0")], [("Proxy-Require", "x-fuzz")]]
        .iter()
        .enumerate()
    {
        let mut s = sbe(16);
        let (tx, ev) = feed(&mut s, PEER, &request("ACK", &format!("a{i}"), extra));
        assert!(tx.is_empty(), "ACK answered: {:?}", status(&tx[0].1));
        assert!(ev.contains(&Event::Dropped {
            from: a(PEER),
            reason: DropReason::RefusedAck
        }));
        assert_eq!(total(&s), 0);
    }
    let mut s = sbe(16);
    let ack = String::from_utf8(request("ACK", "a9", &[]))
        .unwrap()
        .replace(
            "ACK sip:bob@biloxi.example.com",
            "ACK mailto:bob@biloxi.example.com",
        );
    let (tx, _) = feed(&mut s, PEER, ack.as_bytes());
    assert!(tx.is_empty(), "ACK with a mailto: Request-URI answered");
}

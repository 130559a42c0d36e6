//! TLS policy of the element: peers it requires TLS from (RFC 6404 §4.5).

use speermint_sbe::{
    Event, Fault, Faults, Input, Node, Output, Path, Sbe, SbeConfig, Transmit, Transport,
};
use speermint_sip::{Message, MessageBuilder};
use std::net::SocketAddr;
use std::time::Instant;

fn a(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn options(branch: &str, via: &str) -> Vec<u8> {
    MessageBuilder::request("OPTIONS", "sip:x@ssp.example")
        .header("Via", format!("SIP/2.0/{via};branch={branch}"))
        .header("Max-Forwards", 70)
        .header("From", "<sip:p@peer.example>;tag=1")
        .header("To", "<sip:x@ssp.example>")
        .header("Call-ID", branch)
        .header("CSeq", "1 OPTIONS")
        .build()
}

fn outputs(s: &mut Sbe) -> (Vec<Transmit>, Vec<Event>) {
    let (mut tx, mut ev) = (Vec::new(), Vec::new());
    while let Some(o) = s.poll_output() {
        match o {
            Output::Transmit(t) => tx.push(t),
            Output::Event(e) => ev.push(e),
            _ => {}
        }
    }
    (tx, ev)
}

const UDP: &str = "127.0.0.1:5060";
const TLS: &str = "127.0.0.1:5061";
const NEXT: &str = "127.0.0.4:5060";

fn element(faults: Faults) -> Sbe {
    let mut cfg = SbeConfig::new(
        a(UDP),
        vec!["127.0.0.2".parse().unwrap(), "127.0.0.7".parse().unwrap()],
        a(NEXT),
    );
    cfg.tls_local = Some(a(TLS));
    cfg.tls_required = vec!["127.0.0.7".parse().unwrap()];
    cfg.faults = faults;
    Sbe::new(cfg)
}

/// What one request from `remote` over `transport` came to: the status
/// the element answered itself, and whether it was relayed.
fn send(s: &mut Sbe, remote: &str, transport: Transport, branch: &str) -> (Option<u16>, bool) {
    let local = if transport == Transport::Tls {
        a(TLS)
    } else {
        a(UDP)
    };
    let path = Path {
        local,
        remote: a(remote),
        transport,
    };
    let req = options(branch, &format!("{} {remote}", transport.via_token()));
    let now = Instant::now();
    match transport {
        Transport::Udp => s.handle_input(now, Input::Datagram { path, bytes: &req }),
        _ => s.handle_input(
            now,
            Input::StreamData {
                path,
                bytes: &req,
                closed: false,
            },
        ),
    }
    let (tx, _) = outputs(s);
    let relayed = tx.iter().any(|t| t.path.remote == a(NEXT));
    let answer = tx
        .iter()
        .filter(|t| t.path == path)
        .find_map(|t| Message::parse(&t.bytes).ok().and_then(|m| m.status()));
    (answer, relayed)
}

#[test]
fn a_peer_required_to_use_tls_is_refused_in_the_clear_and_relayed_over_tls() {
    let mut s = element(Faults::NONE);
    let tls_peer = "127.0.0.7:40000";
    assert_eq!(
        send(&mut s, tls_peer, Transport::Udp, "z9hG4bKu1"),
        (Some(403), false)
    );
    assert_eq!(
        send(&mut s, tls_peer, Transport::Tcp, "z9hG4bKt1"),
        (Some(403), false)
    );
    assert_eq!(
        send(&mut s, tls_peer, Transport::Tls, "z9hG4bKs1"),
        (None, true)
    );
    // A retransmission over UDP gets the same 403, not a second look.
    assert_eq!(
        send(&mut s, tls_peer, Transport::Udp, "z9hG4bKu1"),
        (Some(403), false)
    );
    // Other peers keep UDP.
    assert_eq!(
        send(&mut s, "127.0.0.2:5060", Transport::Udp, "z9hG4bKo1"),
        (None, true)
    );
}

#[test]
fn the_allow_plaintext_fault_relays_in_the_clear() {
    let mut s = element(Faults::only(Fault::AllowPlaintext));
    assert_eq!(
        send(&mut s, "127.0.0.7:40000", Transport::Udp, "z9hG4bKu1"),
        (None, true)
    );
}

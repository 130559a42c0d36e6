//! Stream input: the element frames bytes per connection (RFC 3261 §18.3),
//! answers on the connection a request came on (§18.2.2), names the
//! transport in its Via (§18.1.1) and retransmits nothing over it
//! (§17.1.2.2).

use speermint_sbe::{Input, Node, Output, Path, Sbe, SbeConfig, Transmit, Transport};
use speermint_sip::{Message, MessageBuilder};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

fn a(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn options(branch: &str, via: &str) -> Vec<u8> {
    MessageBuilder::request("OPTIONS", "sip:x@127.0.0.1")
        .header("Via", format!("SIP/2.0/{via};branch={branch}"))
        .header("Max-Forwards", 70)
        .header("From", "<sip:p@127.0.0.1>;tag=1")
        .header("To", "<sip:x@127.0.0.1>")
        .header("Call-ID", branch)
        .header("CSeq", "1 OPTIONS")
        .build()
}

fn transmits(s: &mut Sbe) -> (Vec<Transmit>, Vec<Path>) {
    let (mut tx, mut closed) = (Vec::new(), Vec::new());
    while let Some(o) = s.poll_output() {
        match o {
            Output::Transmit(t) => tx.push(t),
            Output::Close(p) => closed.push(p),
            _ => {}
        }
    }
    (tx, closed)
}

#[test]
fn a_request_split_over_reads_is_framed_relayed_and_answered_on_its_connection() {
    let (udp, tls, peer, next) = (
        a("127.0.0.1:5060"),
        a("127.0.0.1:5061"),
        a("127.0.0.2:40000"),
        a("127.0.0.4:5060"),
    );
    let mut cfg = SbeConfig::new(udp, vec![peer.ip()], next);
    cfg.tls_local = Some(tls);
    let mut s = Sbe::new(cfg);
    let conn = Path {
        local: tls,
        remote: peer,
        transport: Transport::Tls,
    };
    let req = options("z9hG4bKtls1", "TLS 127.0.0.2:40000");
    let now = Instant::now();
    let (head, tail) = req.split_at(20);
    for part in [&b"\r\n\r\n"[..], head, tail] {
        let input = Input::StreamData {
            path: conn,
            bytes: part,
            closed: false,
        };
        s.handle_input(now, input);
    }
    let (tx, closed) = transmits(&mut s);
    assert!(closed.is_empty());
    assert_eq!(tx.len(), 1, "one relay");
    assert_eq!(tx[0].path.remote, next);
    assert_eq!(tx[0].path.transport, Transport::Udp);
    // The next hop answers over UDP; the answer goes back over TLS.
    let fwd = Message::parse(&tx[0].bytes).unwrap();
    let ok = MessageBuilder::response_to(&fwd, 200, "OK", Some("t")).build();
    let path = Path {
        local: udp,
        remote: next,
        transport: Transport::Udp,
    };
    s.handle_input(now, Input::Datagram { path, bytes: &ok });
    let (tx, _) = transmits(&mut s);
    assert_eq!(tx.len(), 1);
    assert_eq!(tx[0].path, conn);
    // Timer J is 0 over TLS: the server transaction ends at once.
    s.handle_input(now, Input::Timeout);
    assert_eq!(s.transaction_count().0, 0);
    // Garbage loses the framing: the connection is closed.
    let input = Input::StreamData {
        path: conn,
        bytes: b"GARBAGE\r\nContent-Length: x\r\n\r\n",
        closed: false,
    };
    s.handle_input(now, input);
    let (_, closed) = transmits(&mut s);
    assert_eq!(closed, [conn]);
}

#[test]
fn a_request_forwarded_over_a_connection_says_tls_in_its_via_and_is_not_retransmitted() {
    let (udp, tls, peer, next) = (
        a("127.0.0.1:5060"),
        a("127.0.0.1:5061"),
        a("127.0.0.2:5061"),
        a("127.0.0.4:5060"),
    );
    let mut s = Sbe::new(SbeConfig::new(udp, vec![peer.ip()], next));
    let conn = Path {
        local: tls,
        remote: peer,
        transport: Transport::Tls,
    };
    // The peer's connection is open (a keep-alive came over it).
    let input = Input::StreamData {
        path: conn,
        bytes: b"\r\n\r\n",
        closed: false,
    };
    s.handle_input(Instant::now(), input);
    let req = MessageBuilder::request("OPTIONS", "sip:carol@127.0.0.2:5061")
        .header("Via", "SIP/2.0/UDP 127.0.0.4:5060;branch=z9hG4bKout1")
        .header("Max-Forwards", 70)
        .header("From", "<sip:n@127.0.0.4>;tag=1")
        .header("To", "<sip:carol@127.0.0.2>")
        .header("Call-ID", "out1")
        .header("CSeq", "1 OPTIONS")
        .build();
    let path = Path {
        local: udp,
        remote: next,
        transport: Transport::Udp,
    };
    let t0 = Instant::now();
    s.handle_input(t0, Input::Datagram { path, bytes: &req });
    let (tx, _) = transmits(&mut s);
    assert_eq!(tx.len(), 1);
    assert_eq!(tx[0].path, conn);
    let fwd = Message::parse(&tx[0].bytes).unwrap();
    let via = fwd.vias().next().unwrap();
    assert!(
        via.raw.starts_with("SIP/2.0/TLS 127.0.0.1:5061;"),
        "{}",
        via.raw
    );
    // No Timer E over a reliable transport: nothing is sent again.
    s.handle_input(t0 + Duration::from_secs(2), Input::Timeout);
    assert!(transmits(&mut s).0.is_empty());
}

/// Found by `sbe_sequence` with TCP: Timer F fired, the element answered
/// 408 upstream over TCP, and that server transaction's Timer J (zero
/// over a reliable transport) was left due at the very instant
/// `handle_timeout` had just run for: a driver had to call it again.
#[test]
fn a_timeout_answered_over_a_connection_leaves_no_timer_due() {
    let (udp, peer, next) = (
        a("127.0.0.1:5060"),
        a("127.0.0.2:40000"),
        a("127.0.0.4:5060"),
    );
    let mut s = Sbe::new(SbeConfig::new(udp, vec![peer.ip()], next));
    let conn = Path {
        local: udp,
        remote: peer,
        transport: Transport::Tcp,
    };
    let t0 = Instant::now();
    let req = options("z9hG4bKtcp408", "TCP 127.0.0.2:40000");
    let input = Input::StreamData {
        path: conn,
        bytes: &req,
        closed: false,
    };
    s.handle_input(t0, input);
    let (tx, _) = transmits(&mut s);
    assert_eq!(tx.len(), 1, "relayed to the next hop");
    // Nobody answers: drive the element at each deadline until Timer F.
    let mut answered = false;
    for _ in 0..64 {
        let Some(at) = s.poll_timeout() else { break };
        s.handle_input(at, Input::Timeout);
        let (tx, _) = transmits(&mut s);
        if let Some(t) = tx.iter().find(|t| t.path == conn) {
            assert!(t.bytes.starts_with(b"SIP/2.0 408 "));
            answered = true;
        }
        if let Some(next) = s.poll_timeout() {
            assert!(
                next > at,
                "a timer due at {next:?} after handle_timeout({at:?})"
            );
        }
    }
    assert!(answered, "Timer F answered 408 over the connection");
    assert_eq!(s.transaction_count(), (0, 0));
}

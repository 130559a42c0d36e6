//! The SBE driving its DBE, without I/O: the SDP each side sees names the
//! DBE (RFC 6271 #3) with every other `a=` line byte-identical (#17),
//! media relays between the endpoints the SDP named, and the BYE frees the
//! ports; with topology hiding on as well.

use speermint_sbe::dbe::{DbeConfig, Sides};
use speermint_sbe::{Event, Node, Output, Sbe, SbeConfig};
use speermint_sdp::Sdp;
use speermint_sip::{HeaderName, Message, MessageBuilder};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

const SBE: &str = "127.0.0.1:5060";
const PEER: &str = "127.0.0.2:5060";
const NEXT: &str = "127.0.0.4:5060";
/// The DBE's address towards the peers (side A) and the inside (side B).
const DBE_OUT: &str = "127.0.0.10";
const DBE_IN: &str = "127.0.0.11";
const PEER_RTP: &str = "127.0.0.2:49170";
const INSIDE_RTP: &str = "127.0.0.4:50000";

fn a(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn sbe(hide: bool) -> Sbe {
    let mut cfg = SbeConfig::new(a(SBE), vec![a(PEER).ip()], a(NEXT));
    cfg.hide_topology = hide;
    cfg.media = Some(DbeConfig {
        addresses: Sides {
            a: ip(DBE_OUT),
            b: ip(DBE_IN),
        },
        ports: 20_000..20_100,
        ..DbeConfig::default()
    });
    Sbe::new(cfg)
}

type Sent = Vec<(SocketAddr, SocketAddr, Vec<u8>)>;

fn drain(s: &mut Sbe) -> (Sent, Vec<Event>) {
    let (mut tx, mut ev) = (Vec::new(), Vec::new());
    while let Some(o) = s.poll_output() {
        match o {
            Output::Transmit(t) => tx.push((t.path.local, t.path.remote, t.bytes)),
            Output::Event(e) => ev.push(e),
            _ => {}
        }
    }
    (tx, ev)
}

/// Feeds SIP; returns the one message relayed to `to` (100 Trying aside).
fn relay(s: &mut Sbe, now: Instant, from: &str, to: &str, bytes: &[u8]) -> Vec<u8> {
    s.handle_datagram(now, a(from), bytes);
    let (tx, ev) = drain(s);
    let out: Vec<_> = tx
        .into_iter()
        .filter(|(_, r, b)| *r == a(to) && !b.starts_with(b"SIP/2.0 100"))
        .collect();
    assert_eq!(out.len(), 1, "{ev:?}");
    out[0].2.clone()
}

fn sdp(host: &str, port: u16) -> Vec<u8> {
    format!(
        "v=0\r\no=alice 1 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n\
         m=audio {port} RTP/SAVP 0\r\n\
         a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n\
         a=rtcp:{} IN IP4 {host}\r\na=x-vendor:keep me\r\n",
        port + 1
    )
    .into_bytes()
}

/// The `c=` address and `m=` port, and the `a=` lines.
fn media_of(body: &[u8]) -> (SocketAddr, Vec<String>) {
    let sdp = Sdp::parse(body).unwrap();
    let ip = sdp.session_connection().unwrap().ip.unwrap();
    let m = sdp.media().next().unwrap();
    let attrs = m
        .attributes()
        .map(|a| String::from_utf8_lossy(a.raw_line).into_owned())
        .collect();
    (SocketAddr::new(ip, m.port), attrs)
}

fn rtp(seq: u16) -> Vec<u8> {
    let mut p = vec![
        0x80,
        0,
        (seq >> 8) as u8,
        seq as u8,
        0,
        0,
        0,
        160,
        1,
        2,
        3,
        4,
    ];
    p.extend_from_slice(&[0xd5; 160]);
    p.extend_from_slice(&[0xaa; 10]); // an SRTP tag, as far as the DBE can tell
    p
}

fn call(hide: bool) {
    let mut s = sbe(hide);
    let now = Instant::now();
    let offer = sdp("127.0.0.2", 49170);
    let invite = MessageBuilder::request("INVITE", "sip:bob@127.0.0.1")
        .header("Via", "SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bKm1")
        .header("Max-Forwards", 70)
        .header("From", "<sip:alice@peer.example>;tag=a1")
        .header("To", "<sip:bob@ssp.example>")
        .header("Call-ID", "media-1@peer.example")
        .header("CSeq", "1 INVITE")
        .header("Contact", "<sip:alice@127.0.0.2:5060>")
        .body("application/sdp", &offer)
        .build();
    let inside = relay(&mut s, now, PEER, NEXT, &invite);
    let inside_msg = Message::parse(&inside).unwrap();
    let (relay_b, attrs) = media_of(inside_msg.body());
    assert_eq!(
        relay_b.ip(),
        ip(DBE_IN),
        "the inside sees the DBE's inside address"
    );
    let rtcp_b = format!("a=rtcp:{} IN IP4 {DBE_IN}\r\n", relay_b.port() + 1);
    let (_, offered) = media_of(&offer);
    assert_eq!(attrs[0], offered[0], "a=crypto byte-identical");
    assert_eq!(attrs[1], rtcp_b, "a=rtcp names the DBE's RTCP port");
    assert_eq!(attrs[2], offered[2], "unknown a= byte-identical");

    let answer_sdp = sdp("127.0.0.4", 50000);
    let mut ok = MessageBuilder::response_to(&inside_msg, 200, "OK", Some("b1"));
    for rr in inside_msg.values(HeaderName::RecordRoute) {
        ok = ok.header("Record-Route", rr);
    }
    let ok = ok
        .header("Contact", "<sip:bob@127.0.0.4:5060>")
        .body("application/sdp", &answer_sdp)
        .build();
    let to_peer = relay(&mut s, now, NEXT, PEER, &ok);
    let (relay_a, _) = media_of(Message::parse(&to_peer).unwrap().body());
    assert_eq!(
        relay_a.ip(),
        ip(DBE_OUT),
        "the peer sees the DBE's outside address"
    );
    assert!(!String::from_utf8_lossy(&to_peer).contains("127.0.0.4:50000"));

    // Media: peer -> DBE side A -> inside endpoint, from side B's port.
    let path = speermint_sbe::Path {
        local: relay_a,
        remote: a(PEER_RTP),
        transport: speermint_sbe::Transport::Udp,
    };
    let packet = rtp(1);
    s.handle_input(
        now,
        speermint_sbe::Input::Datagram {
            path,
            bytes: &packet,
        },
    );
    let (tx, _) = drain(&mut s);
    assert_eq!(tx, vec![(relay_b, a(INSIDE_RTP), packet.clone())]);
    // And back.
    let back = speermint_sbe::Path {
        local: relay_b,
        remote: a(INSIDE_RTP),
        transport: speermint_sbe::Transport::Udp,
    };
    s.handle_input(
        now,
        speermint_sbe::Input::Datagram {
            path: back,
            bytes: &packet,
        },
    );
    let (tx, _) = drain(&mut s);
    assert_eq!(tx, vec![(relay_a, a(PEER_RTP), packet.clone())]);
    // A stranger's packet to the same port goes nowhere.
    let stranger = speermint_sbe::Path {
        remote: a("127.0.0.99:40000"),
        ..path
    };
    s.handle_input(
        now,
        speermint_sbe::Input::Datagram {
            path: stranger,
            bytes: &packet,
        },
    );
    assert!(drain(&mut s).0.is_empty());
    assert_eq!(s.dbe().unwrap().stream_count(), 1);

    // The peer's BYE ends the media.
    let call_id = Message::parse(&to_peer).unwrap().core().call_id.to_owned();
    let bye = MessageBuilder::request("BYE", "sip:bob@127.0.0.1")
        .header("Via", "SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bKm2")
        .header("Max-Forwards", 70)
        .header("Route", "<sip:127.0.0.1:5060;lr>")
        .header("From", "<sip:alice@peer.example>;tag=a1")
        .header("To", "<sip:bob@ssp.example>;tag=b1")
        .header("Call-ID", call_id)
        .header("CSeq", "2 BYE")
        .build();
    s.handle_datagram(now, a(PEER), &bye);
    let (_, ev) = drain(&mut s);
    assert!(
        ev.iter().any(|e| matches!(
            e,
            Event::Media(speermint_sbe::dbe::Event::StreamEnded { .. })
        )),
        "{ev:?}"
    );
    assert_eq!(s.dbe().unwrap().stream_count(), 0);
}

#[test]
fn a_call_relays_its_media_through_the_dbe_and_the_bye_frees_it() {
    call(false);
}

#[test]
fn the_dbe_and_topology_hiding_work_together() {
    call(true);
}

#[test]
fn a_failed_invite_frees_its_relay() {
    let mut s = sbe(false);
    let now = Instant::now();
    let invite = MessageBuilder::request("INVITE", "sip:bob@127.0.0.1")
        .header("Via", "SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bKf1")
        .header("Max-Forwards", 70)
        .header("From", "<sip:alice@peer.example>;tag=a1")
        .header("To", "<sip:bob@ssp.example>")
        .header("Call-ID", "media-2@peer.example")
        .header("CSeq", "1 INVITE")
        .body("application/sdp", &sdp("127.0.0.2", 49170))
        .build();
    let inside = relay(&mut s, now, PEER, NEXT, &invite);
    assert_eq!(s.dbe().unwrap().stream_count(), 1);
    let busy =
        MessageBuilder::response_to(&Message::parse(&inside).unwrap(), 486, "Busy", Some("b"))
            .build();
    relay(&mut s, now, NEXT, PEER, &busy);
    assert_eq!(s.dbe().unwrap().stream_count(), 0);
}

/// An INVITE the next hop never answers ends in the SBE's own 408
/// (Timer B, RFC 3261 §16.8): the call never was, so its relay is freed
/// then, not when the DBE's set-up timeout notices the silence.
#[test]
fn an_invite_that_times_out_frees_its_relay() {
    let mut s = sbe(false);
    let start = Instant::now();
    let invite = MessageBuilder::request("INVITE", "sip:bob@127.0.0.1")
        .header("Via", "SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bKt1")
        .header("Max-Forwards", 70)
        .header("From", "<sip:alice@peer.example>;tag=a1")
        .header("To", "<sip:bob@ssp.example>")
        .header("Call-ID", "media-3@peer.example")
        .header("CSeq", "1 INVITE")
        .body("application/sdp", &sdp("127.0.0.2", 49170))
        .build();
    relay(&mut s, start, PEER, NEXT, &invite);
    assert_eq!(s.dbe().unwrap().stream_count(), 1);
    // Walk the clock through the SBE's own deadlines until the 408 goes
    // to the peer: at most 64*T1 plus retransmissions, bounded here.
    let mut now = start;
    let mut answered = false;
    for _ in 0..200 {
        let Some(at) = s.poll_timeout() else { break };
        now = at.max(now);
        s.handle_timeout(now);
        let (tx, _) = drain(&mut s);
        if tx
            .iter()
            .any(|(_, to, b)| *to == a(PEER) && b.starts_with(b"SIP/2.0 408"))
        {
            answered = true;
            break;
        }
    }
    assert!(answered, "no 408 reached the peer");
    assert!(
        now.duration_since(start) < std::time::Duration::from_secs(60),
        "the 408 came from Timer B, not the DBE's set-up timeout"
    );
    assert_eq!(s.dbe().unwrap().stream_count(), 0);
}

//! The relay's rules, one at a time, and each fault turning its rule off.

use super::*;
use speermint_rtp::fuzzing::test_context;
use speermint_rtp::rtcp::{BYE, RR, SR};
use speermint_rtp::{RtpHeader, SrtpContext, SrtpProfile};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

const OUTSIDE: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
const INSIDE: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 10));
/// Side A's endpoint (the peer's media), side B's (the home network's).
const ALICE: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 20)), 40_000);
const BOB: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 44)), 50_000);
const STRANGER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 66)), 40_000);
const SRTP: Protection = Protection::Srtp(SrtpProfile::Aes128CmHmacSha1_80);

fn config(faults: &[Fault]) -> DbeConfig {
    DbeConfig {
        addresses: Sides {
            a: OUTSIDE,
            b: INSIDE,
        },
        ports: 20_000..20_016,
        max_calls: 2,
        max_streams_per_call: 2,
        faults: faults.iter().copied().collect(),
        eavesdropper: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 99)), 6666),
        ..DbeConfig::default()
    }
}

fn at(t0: Instant, ms: u64) -> Instant {
    t0 + Duration::from_millis(ms)
}

/// A DBE driven by hand, its outputs collected.
struct Rig {
    dbe: Dbe,
    t0: Instant,
    now: Instant,
    sent: Vec<Transmit>,
    events: Vec<Event>,
    timeout: Option<Instant>,
}

impl Rig {
    fn new(faults: &[Fault]) -> Self {
        Self::with(config(faults))
    }

    fn with(cfg: DbeConfig) -> Self {
        let t0 = Instant::now();
        Rig {
            dbe: Dbe::new(cfg),
            t0,
            now: t0,
            sent: Vec::new(),
            events: Vec::new(),
            timeout: None,
        }
    }

    fn input(&mut self, input: Input<'_, Command>) {
        self.dbe.handle_input(self.now, input);
        while let Some(o) = self.dbe.poll_output() {
            match o {
                Output::Transmit(t) => self.sent.push(t),
                Output::Event(e) => self.events.push(e),
                Output::Timeout(t) => self.timeout = Some(t),
                Output::Close(p) => panic!("close {p:?}"),
            }
        }
    }

    fn command(&mut self, c: Command) {
        self.input(Input::Command(c));
    }

    fn allocate(&mut self, call: &str, stream: u16, protection: Protection) -> Sides<RelayPorts> {
        self.command(Command::Allocate {
            call: call.into(),
            stream,
            protection,
        });
        match self.events.pop() {
            Some(Event::Allocated { ports, .. }) => ports,
            e => panic!("allocation of {call}/{stream}: {e:?}"),
        }
    }

    fn negotiate(&mut self, call: &str, stream: u16, side: Side, remote: Remote) {
        self.command(Command::Negotiated {
            call: call.into(),
            stream,
            side,
            remote,
        });
    }

    /// A call with one stream, both sides negotiated.
    fn call(&mut self, protection: Protection, alice: Remote, bob: Remote) -> Sides<RelayPorts> {
        let ports = self.allocate("c1", 0, protection);
        self.negotiate("c1", 0, Side::A, alice);
        self.negotiate("c1", 0, Side::B, bob);
        assert!(self.events.is_empty(), "{:?}", self.events);
        ports
    }

    fn send(&mut self, from: SocketAddr, to: SocketAddr, bytes: &[u8]) {
        self.input(Input::Datagram {
            path: Path {
                local: to,
                remote: from,
                transport: Transport::Udp,
            },
            bytes,
        });
    }

    /// Sends and returns what went out for it.
    fn relay(&mut self, from: SocketAddr, to: SocketAddr, bytes: &[u8]) -> Vec<Transmit> {
        self.send(from, to, bytes);
        std::mem::take(&mut self.sent)
    }

    fn advance(&mut self, ms: u64) {
        self.now = at(self.now, ms);
    }

    fn fire_timeout(&mut self) {
        if self.timeout.is_some_and(|t| t <= self.now) {
            self.timeout = None;
            self.input(Input::Timeout);
        }
    }

    fn counters(&mut self, call: &str) -> Vec<Sides<Counters>> {
        self.command(Command::Report { call: call.into() });
        self.events
            .drain(..)
            .filter_map(|e| match e {
                Event::Counters { counters, .. } => Some(counters),
                _ => None,
            })
            .collect()
    }
}

/// A G.711 packet of 20 ms: 172 bytes.
fn rtp(seq: u16) -> Vec<u8> {
    RtpHeader::new(0, seq, 160 * u32::from(seq), 0x1234_5678)
        .to_bytes(&[0xd5; 160], 0)
        .unwrap()
}

/// An SR or RR without report blocks.
fn rtcp(packet_type: u8) -> Vec<u8> {
    let mut body = 0x1234_5678u32.to_be_bytes().to_vec();
    if packet_type == SR {
        body.extend_from_slice(&[0; 20]); // sender info
    }
    let mut out = Vec::new();
    speermint_rtp::rtcp::write_packet(0, packet_type, &body, 0, &mut out).unwrap();
    out
}

/// An RR then a BYE for `ssrc`: a compound RTCP BYE (RFC 3550 §6.1).
fn bye(ssrc: u32) -> Vec<u8> {
    let mut out = Vec::new();
    speermint_rtp::rtcp::write_packet(0, RR, &ssrc.to_be_bytes(), 0, &mut out).unwrap();
    speermint_rtp::rtcp::write_packet(1, BYE, &ssrc.to_be_bytes(), 0, &mut out).unwrap();
    out
}

fn one(sent: &[Transmit]) -> &Transmit {
    assert_eq!(sent.len(), 1, "{sent:?}");
    &sent[0]
}

#[test]
fn allocation_gives_each_side_an_even_port_of_the_range_on_its_address() {
    let mut r = Rig::new(&[]);
    let ports = r.allocate("c1", 0, Protection::Rtp);
    assert_eq!(ports.a.rtp.ip(), OUTSIDE);
    assert_eq!(ports.b.rtp.ip(), INSIDE);
    for p in [ports.a, ports.b] {
        assert!((20_000..20_016).contains(&p.rtp.port()) && p.rtp.port() % 2 == 0);
        assert_eq!(p.rtcp.port(), p.rtp.port() + 1);
    }
    assert_ne!(ports.a.rtp.port(), ports.b.rtp.port());
    // Asking again (a retransmitted INVITE) gives the same ports.
    assert_eq!(r.allocate("c1", 0, SRTP), ports);
    assert_eq!(r.dbe.stream_count(), 1);
    let video = r.allocate("c1", 1, Protection::Rtp);
    assert_ne!(video.a.rtp, ports.a.rtp);
    assert_eq!(r.dbe.call_count(), 1);
    assert_eq!(r.dbe.free_port_pairs(), 4);
}

#[test]
fn media_crosses_byte_identical_from_negotiated_address_to_negotiated_address() {
    let mut r = Rig::new(&[]);
    let ports = r.call(Protection::Rtp, Remote::pair(ALICE), Remote::pair(BOB));
    let packet = rtp(1);
    let out = r.relay(ALICE, ports.a.rtp, &packet);
    let t = one(&out);
    assert_eq!(t.bytes, packet);
    assert_eq!((t.path.local, t.path.remote), (ports.b.rtp, BOB));
    assert_eq!(t.path.transport, Transport::Udp);
    // And back, RTP and RTCP (on the next ports, RFC 3550 §11).
    let t = r.relay(BOB, ports.b.rtp, &rtp(9));
    assert_eq!(
        (one(&t).path.local, one(&t).path.remote),
        (ports.a.rtp, ALICE)
    );
    let report = rtcp(SR);
    let bob_rtcp = Remote::pair(BOB).rtcp;
    let t = r.relay(bob_rtcp, ports.b.rtcp, &report);
    assert_eq!(one(&t).bytes, report);
    assert_eq!(
        (one(&t).path.local, one(&t).path.remote),
        (ports.a.rtcp, Remote::pair(ALICE).rtcp)
    );
    let c = r.counters("c1");
    assert_eq!(c[0].a.relayed, 1);
    assert_eq!(c[0].b.relayed, 2);
    assert_eq!(c[0].a.relayed_bytes, packet.len() as u64);
}

#[test]
fn rtcp_mux_sides_use_one_port_and_mixed_sides_are_translated() {
    let mut r = Rig::new(&[]);
    let ports = r.call(Protection::Rtp, Remote::muxed(ALICE), Remote::pair(BOB));
    // Alice multiplexes: her RTCP comes to the RTP port and goes to Bob's
    // RTCP port from ours.
    let t = r.relay(ALICE, ports.a.rtp, &rtcp(RR));
    assert_eq!(
        (one(&t).path.local, one(&t).path.remote),
        (ports.b.rtcp, Remote::pair(BOB).rtcp)
    );
    // Bob's RTCP goes to Alice's one address from our RTP port.
    let t = r.relay(Remote::pair(BOB).rtcp, ports.b.rtcp, &rtcp(RR));
    assert_eq!(
        (one(&t).path.local, one(&t).path.remote),
        (ports.a.rtp, ALICE)
    );
    // Bob does not multiplex: RTCP on his RTP port is malformed RTP
    // (payload type SR, RFC 3550 Appendix A.1).
    assert!(r.relay(BOB, ports.b.rtp, &rtcp(SR)).is_empty());
    assert_eq!(r.counters("c1")[0].b.malformed, 1);
}

#[test]
fn only_the_negotiated_source_is_relayed() {
    let mut r = Rig::new(&[]);
    let ports = r.allocate("c1", 0, Protection::Rtp);
    r.negotiate("c1", 0, Side::A, Remote::pair(ALICE));
    // Bob's side is not negotiated yet: Alice's media has nowhere to go,
    // and nothing is accepted on Bob's side.
    assert!(r.relay(ALICE, ports.a.rtp, &rtp(1)).is_empty());
    assert!(r.relay(BOB, ports.b.rtp, &rtp(1)).is_empty());
    r.negotiate("c1", 0, Side::B, Remote::pair(BOB));
    // A stranger, Alice's host from another port, Alice to Bob's port,
    // Alice's RTP address to the RTCP port: all dropped.
    let alice_other_port = SocketAddr::new(ALICE.ip(), ALICE.port() + 2);
    for (from, to) in [
        (STRANGER, ports.a.rtp),
        (STRANGER, ports.b.rtp),
        (alice_other_port, ports.a.rtp),
        (ALICE, ports.b.rtp),
        (ALICE, ports.a.rtcp),
    ] {
        assert!(r.relay(from, to, &rtp(2)).is_empty(), "{from} -> {to}");
    }
    // A stranger's packet does not latch: Alice still gets Bob's media.
    let t = r.relay(BOB, ports.b.rtp, &rtp(3));
    assert_eq!(one(&t).path.remote, ALICE);
    let c = r.counters("c1")[0];
    assert_eq!((c.a.unrouted, c.a.stranger, c.a.relayed), (1, 3, 0));
    assert_eq!((c.b.stranger, c.b.relayed), (3, 1));
    // A port nobody owns, the right port on the wrong address, TCP.
    let before = r.dbe.totals().no_stream;
    r.send(ALICE, SocketAddr::new(OUTSIDE, 20_014), &rtp(4));
    r.send(ALICE, SocketAddr::new(INSIDE, ports.a.rtp.port()), &rtp(4));
    r.dbe.handle_input(
        r.now,
        Input::Datagram {
            path: Path {
                local: ports.a.rtp,
                remote: ALICE,
                transport: Transport::Tcp,
            },
            bytes: &rtp(4),
        },
    );
    assert!(r.sent.is_empty());
    assert_eq!(r.dbe.totals().no_stream, before + 3);
}

#[test]
fn malformed_rtp_and_rtcp_are_dropped_and_the_relay_goes_on() {
    let mut r = Rig::new(&[]);
    let ports = r.call(Protection::Rtp, Remote::pair(ALICE), Remote::pair(BOB));
    let alice_rtcp = Remote::pair(ALICE).rtcp;
    let torture = torture_set();
    for (what, to_rtcp, bytes) in &torture {
        let (from, to) = if *to_rtcp {
            (alice_rtcp, ports.a.rtcp)
        } else {
            (ALICE, ports.a.rtp)
        };
        assert!(r.relay(from, to, bytes).is_empty(), "{what} relayed");
    }
    assert_eq!(r.counters("c1")[0].a.malformed, torture.len() as u64);
    assert_eq!(one(&r.relay(ALICE, ports.a.rtp, &rtp(5))).bytes, rtp(5));
}

/// RFC 3550 Appendix A.1/A.2 violations: (what, to the RTCP port, bytes).
fn torture_set() -> Vec<(&'static str, bool, Vec<u8>)> {
    let with = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut p = rtp(7);
        f(&mut p);
        p
    };
    let rtcp_with = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut p = rtcp(RR);
        f(&mut p);
        p
    };
    vec![
        ("version 1", false, with(&|p| p[0] = 0x40)),
        ("version 0", false, with(&|p| p[0] = 0x00)),
        ("truncated header", false, rtp(7)[..11].to_vec()),
        ("empty", false, vec![]),
        (
            "CSRC count past the end",
            false,
            with(&|p| {
                p[0] = 0x8f;
                p.truncate(40);
            }),
        ),
        (
            "extension length past the end",
            false,
            with(&|p| {
                p[0] = 0x90;
                p[12..16].copy_from_slice(&[0xbe, 0xde, 0x01, 0x00]);
            }),
        ),
        (
            "extension header cut",
            false,
            with(&|p| {
                p[0] = 0x90;
                p.truncate(14);
            }),
        ),
        (
            "padding count lies",
            false,
            with(&|p| {
                p[0] = 0xa0;
                *p.last_mut().unwrap() = 250;
            }),
        ),
        (
            "zero padding count",
            false,
            with(&|p| {
                p[0] = 0xa0;
                *p.last_mut().unwrap() = 0;
            }),
        ),
        ("RTCP length lies", true, rtcp_with(&|p| p[3] = 20)),
        (
            "RTCP length short",
            true,
            rtcp_with(&|p| p.extend_from_slice(&[0; 4])),
        ),
        ("RTCP version 1", true, rtcp_with(&|p| p[0] = 0x40)),
        ("compound starts with BYE", true, bye(1)[8..].to_vec()),
        (
            "compound starts with SDES",
            true,
            rtcp_with(&|p| p[1] = 202),
        ),
        ("RTCP padding on the first of two", true, {
            let mut p = bye(1);
            p[0] |= 0x20;
            p
        }),
        (
            "RR count past its length",
            true,
            rtcp_with(&|p| p[0] = 0x81),
        ),
        ("truncated RTCP header", true, vec![0x80, RR]),
        ("RTCP on the RTCP port as RTP", true, rtp(8)),
    ]
}

#[test]
fn srtp_and_srtcp_cross_intact_and_authenticate_end_to_end() {
    let mut r = Rig::new(&[]);
    let ports = r.call(SRTP, Remote::pair(ALICE), Remote::pair(BOB));
    let (mut alice, mut bob) = srtp_pair();
    let packet = alice.protect_rtp(&rtp(1)).unwrap();
    let t = r.relay(ALICE, ports.a.rtp, &packet);
    assert_eq!(one(&t).bytes, packet);
    assert_eq!(bob.unprotect_rtp(&one(&t).bytes).unwrap(), rtp(1));
    let report = alice.protect_rtcp(&bye(0x1234_5678)).unwrap();
    let t = r.relay(Remote::pair(ALICE).rtcp, ports.a.rtcp, &report);
    assert_eq!(
        bob.unprotect_rtcp(&one(&t).bytes).unwrap(),
        bye(0x1234_5678)
    );
    // A padded SRTP packet: its padding count is encrypted, and still passes.
    let mut padded = rtp(2);
    padded[0] |= 0x20;
    *padded.last_mut().unwrap() = 8;
    let packet = alice.protect_rtp(&padded).unwrap();
    let t = r.relay(ALICE, ports.a.rtp, &packet);
    assert_eq!(bob.unprotect_rtp(&one(&t).bytes).unwrap(), padded);
    // An SRTP packet too short for its tag is dropped.
    assert!(r.relay(ALICE, ports.a.rtp, &packet[..21]).is_empty());
}

/// Two ends keyed alike (one SDES key, RFC 4568), each with its own state.
fn srtp_pair() -> (SrtpContext, SrtpContext) {
    (
        test_context(SrtpProfile::Aes128CmHmacSha1_80),
        test_context(SrtpProfile::Aes128CmHmacSha1_80),
    )
}

#[test]
fn each_side_is_held_to_its_rate() {
    let mut cfg = config(&[]);
    cfg.limits = MediaLimits {
        packets_per_sec: 50.0,
        packet_burst: 5.0,
        bytes_per_sec: 1e9,
        byte_burst: 1e9,
    };
    let mut r = Rig::with(cfg);
    let ports = r.call(Protection::Rtp, Remote::pair(ALICE), Remote::pair(BOB));
    let relayed = (0..100)
        .filter(|&i| !r.relay(ALICE, ports.a.rtp, &rtp(i)).is_empty())
        .count();
    assert_eq!(relayed, 5, "the burst, then nothing at the same instant");
    // Bob's side has its own budget.
    assert_eq!(r.relay(BOB, ports.b.rtp, &rtp(1)).len(), 1);
    r.advance(100);
    let relayed = (0..100)
        .filter(|&i| !r.relay(ALICE, ports.a.rtp, &rtp(i)).is_empty())
        .count();
    assert_eq!(relayed, 5, "100 ms at 50/s");
    assert_eq!(r.counters("c1")[0].a.over_rate, 190);
    // A stranger's flood spends none of it.
    r.advance(100);
    for i in 0..1000 {
        r.send(STRANGER, ports.a.rtp, &rtp(i));
    }
    assert_eq!(r.relay(ALICE, ports.a.rtp, &rtp(1)).len(), 1);
}

#[test]
fn a_byte_rate_stops_big_packets_first() {
    let mut cfg = config(&[]);
    cfg.limits = MediaLimits {
        packets_per_sec: 1e6,
        packet_burst: 1e6,
        bytes_per_sec: 1000.0,
        byte_burst: 500.0,
    };
    let mut r = Rig::with(cfg);
    let ports = r.call(Protection::Rtp, Remote::pair(ALICE), Remote::pair(BOB));
    assert_eq!(r.relay(ALICE, ports.a.rtp, &rtp(1)).len(), 1, "172 bytes");
    assert_eq!(r.relay(ALICE, ports.a.rtp, &rtp(2)).len(), 1, "344");
    assert!(r.relay(ALICE, ports.a.rtp, &rtp(3)).is_empty(), "516 > 500");
}

#[test]
fn silence_ends_a_stream_and_frees_its_ports() {
    let mut r = Rig::new(&[]);
    let ports = r.call(Protection::Rtp, Remote::pair(ALICE), Remote::pair(BOB));
    let free = r.dbe.free_port_pairs();
    assert_eq!(r.timeout, Some(at(r.t0, 60_000)));
    // Media at 30 s moves the deadline; the driver's early wake-up ends
    // nothing and asks again.
    r.advance(30_000);
    assert_eq!(r.relay(ALICE, ports.a.rtp, &rtp(1)).len(), 1);
    r.advance(30_000);
    r.fire_timeout();
    assert!(r.events.is_empty(), "{:?}", r.events);
    assert_eq!(r.timeout, Some(at(r.t0, 90_000)));
    // Strangers and malformed packets keep nothing alive.
    r.advance(29_000);
    r.send(STRANGER, ports.a.rtp, &rtp(2));
    r.send(ALICE, ports.a.rtp, &[0x80]);
    r.advance(1_000);
    r.fire_timeout();
    match r.events.as_slice() {
        [
            Event::StreamEnded {
                call,
                stream: 0,
                reason: EndReason::Timeout,
                counters,
            },
        ] => {
            assert_eq!(call, "c1");
            assert_eq!(counters.a.relayed, 1);
        }
        e => panic!("{e:?}"),
    }
    assert_eq!(r.dbe.free_port_pairs(), free + 2);
    assert_eq!((r.dbe.stream_count(), r.dbe.call_count()), (0, 0));
    assert_eq!(r.dbe.totals().timed_out, 1);
    // The ports are dead: nothing goes through.
    assert!(r.relay(ALICE, ports.a.rtp, &rtp(3)).is_empty());
}

#[test]
fn a_ringing_stream_waits_for_the_setup_timeout() {
    let mut r = Rig::new(&[]);
    r.allocate("c1", 0, Protection::Rtp);
    r.negotiate("c1", 0, Side::A, Remote::pair(ALICE));
    assert_eq!(r.timeout, Some(at(r.t0, 200_000)));
    r.advance(180_000);
    // The answer: from now on the inactivity timeout counts. The wake-up
    // already asked for comes first, and asks for the new deadline.
    r.negotiate("c1", 0, Side::B, Remote::pair(BOB));
    r.advance(20_000);
    r.fire_timeout();
    assert!(r.events.is_empty());
    assert_eq!(r.timeout, Some(at(r.t0, 240_000)));
    r.advance(40_000);
    r.fire_timeout();
    assert!(matches!(
        r.events.as_slice(),
        [Event::StreamEnded {
            reason: EndReason::Timeout,
            ..
        }]
    ));
}

#[test]
fn a_timeout_too_long_for_an_instant_never_fires() {
    let mut cfg = config(&[]);
    cfg.inactivity_timeout = Duration::MAX;
    let mut r = Rig::with(cfg);
    r.call(Protection::Rtp, Remote::pair(ALICE), Remote::pair(BOB));
    // The set-up deadline was queued before the answer; at it, the stream
    // learns it has none.
    r.advance(200_000);
    r.fire_timeout();
    assert!(r.events.is_empty(), "{:?}", r.events);
    assert_eq!(r.dbe.stream_count(), 1);
}

#[test]
fn release_ends_every_stream_of_the_call() {
    let mut r = Rig::new(&[]);
    let p0 = r.allocate("c1", 0, Protection::Rtp);
    r.allocate("c1", 1, Protection::Rtp);
    r.allocate("c2", 0, Protection::Rtp);
    r.command(Command::ReleaseStream {
        call: "c1".into(),
        stream: 1,
    });
    assert!(matches!(
        r.events.as_slice(),
        [Event::StreamEnded {
            stream: 1,
            reason: EndReason::Released,
            ..
        }]
    ));
    r.events.clear();
    r.command(Command::Release { call: "c1".into() });
    r.command(Command::Release { call: "c1".into() });
    assert_eq!(r.events.len(), 1, "{:?}", r.events);
    assert_eq!((r.dbe.stream_count(), r.dbe.call_count()), (1, 1));
    r.negotiate("c1", 0, Side::A, Remote::pair(ALICE));
    assert!(matches!(
        r.events.last(),
        Some(Event::Refused {
            reason: Refusal::UnknownStream,
            ..
        })
    ));
    // Freed ports go to the back of the queue.
    let p3 = r.allocate("c3", 0, Protection::Rtp);
    assert_ne!(p3.a.rtp, p0.a.rtp);
}

#[test]
fn state_is_bounded_by_calls_streams_keys_and_ports() {
    let mut r = Rig::new(&[]);
    let refusal = |r: &mut Rig, call: &str, stream: u16| {
        r.command(Command::Allocate {
            call: call.into(),
            stream,
            protection: Protection::Rtp,
        });
        match r.events.pop() {
            Some(Event::Refused { reason, .. }) => reason,
            e => panic!("{e:?}"),
        }
    };
    r.allocate("c1", 0, Protection::Rtp);
    r.allocate("c1", 1, Protection::Rtp);
    assert_eq!(refusal(&mut r, "c1", 2), Refusal::TooManyStreams);
    r.allocate("c2", 0, Protection::Rtp);
    assert_eq!(refusal(&mut r, "c3", 0), Refusal::TooManyCalls);
    assert_eq!(
        refusal(&mut r, &"x".repeat(257), 0),
        Refusal::CallKeyTooLong
    );
    r.allocate("c2", 1, Protection::Rtp);
    assert_eq!(r.dbe.free_port_pairs(), 0, "16 ports: four streams");
    r.command(Command::ReleaseStream {
        call: "c2".into(),
        stream: 1,
    });
    r.events.clear();
    let mut cfg = config(&[]);
    cfg.ports = 20_000..20_006;
    cfg.max_calls = 10;
    let mut r = Rig::with(cfg);
    r.allocate("c1", 0, Protection::Rtp);
    assert_eq!(refusal(&mut r, "c2", 0), Refusal::NoPorts);
    assert_eq!(r.dbe.call_count(), 1, "a refused call leaves nothing");
    // Allocate and release many times: the stream table and timer queue
    // stay small.
    for i in 0..10_000u32 {
        r.command(Command::Release { call: "c1".into() });
        r.allocate("c1", (i % 7) as u16, Protection::Rtp);
        r.negotiate("c1", (i % 7) as u16, Side::A, Remote::pair(ALICE));
    }
    assert_eq!(r.dbe.stream_slots(), 1);
    assert!(r.dbe.timer_entries() <= 2 + 64, "{}", r.dbe.timer_entries());
}

#[test]
fn unusable_and_own_addresses_are_refused() {
    let mut r = Rig::new(&[]);
    let ports = r.allocate("c1", 0, Protection::Rtp);
    let refused = |r: &mut Rig, side, remote| {
        r.negotiate("c1", 0, side, remote);
        match r.events.pop() {
            Some(Event::Refused { reason, .. }) => reason,
            e => panic!("{remote:?}: {e:?}"),
        }
    };
    let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 4000);
    let unspecified = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 4000);
    let port0 = SocketAddr::new(ALICE.ip(), 0);
    for remote in [v6, unspecified, port0] {
        assert_eq!(
            refused(&mut r, Side::A, Remote::pair(remote)),
            Refusal::UnusableAddress
        );
    }
    // Side B's own port named as side A's endpoint would loop media.
    assert_eq!(
        refused(&mut r, Side::A, Remote::pair(ports.b.rtp)),
        Refusal::OwnAddress
    );
    assert_eq!(
        refused(
            &mut r,
            Side::B,
            Remote::muxed(SocketAddr::new(INSIDE, 20_014))
        ),
        Refusal::OwnAddress
    );
}

#[test]
fn an_rtcp_bye_ends_nothing() {
    let mut r = Rig::new(&[]);
    let ports = r.call(Protection::Rtp, Remote::pair(ALICE), Remote::pair(BOB));
    // From a stranger: dropped; from Alice: relayed to Bob, who decides.
    r.send(STRANGER, ports.a.rtcp, &bye(0x1234_5678));
    assert_eq!(
        r.relay(Remote::pair(ALICE).rtcp, ports.a.rtcp, &bye(0x1234_5678))
            .len(),
        1
    );
    assert!(r.events.is_empty());
    assert_eq!(r.relay(ALICE, ports.a.rtp, &rtp(1)).len(), 1);
}

// --- each fault turns its rule off -----------------------------------------

#[test]
fn latch_any_source_relays_a_stranger_and_hands_it_the_reply_stream() {
    let mut r = Rig::new(&[Fault::LatchAnySource]);
    let ports = r.call(Protection::Rtp, Remote::pair(ALICE), Remote::pair(BOB));
    let injected = r.relay(STRANGER, ports.a.rtp, &rtp(666));
    assert_eq!(one(&injected).path.remote, BOB, "injection reaches Bob");
    let reply = r.relay(BOB, ports.b.rtp, &rtp(1));
    assert_eq!(
        one(&reply).path.remote,
        STRANGER,
        "Bob's media goes to the stranger"
    );
}

#[test]
fn relay_malformed_rtp_passes_the_torture_set() {
    let mut r = Rig::new(&[Fault::RelayMalformedRtp]);
    let ports = r.call(Protection::Rtp, Remote::pair(ALICE), Remote::pair(BOB));
    let relayed = torture_set()
        .into_iter()
        .filter(|(_, to_rtcp, bytes)| {
            let (from, to) = if *to_rtcp {
                (Remote::pair(ALICE).rtcp, ports.a.rtcp)
            } else {
                (ALICE, ports.a.rtp)
            };
            !r.relay(from, to, bytes).is_empty()
        })
        .count();
    assert_eq!(relayed, torture_set().len());
}

#[test]
fn no_media_rate_limit_relays_a_flood() {
    let mut r = Rig::new(&[Fault::NoMediaRateLimit]);
    let ports = r.call(Protection::Rtp, Remote::pair(ALICE), Remote::pair(BOB));
    let relayed = (0..5_000)
        .filter(|&i| !r.relay(ALICE, ports.a.rtp, &rtp(i)).is_empty())
        .count();
    assert_eq!(relayed, 5_000);
    let mut r = Rig::new(&[]);
    let ports = r.call(Protection::Rtp, Remote::pair(ALICE), Remote::pair(BOB));
    let relayed = (0..5_000)
        .filter(|&i| !r.relay(ALICE, ports.a.rtp, &rtp(i)).is_empty())
        .count();
    assert_eq!(relayed, 400, "the default burst");
}

#[test]
fn decrypt_srtp_breaks_authentication_at_the_far_end() {
    let mut r = Rig::new(&[Fault::DecryptSrtp]);
    let ports = r.call(SRTP, Remote::pair(ALICE), Remote::pair(BOB));
    let (mut alice, mut bob) = srtp_pair();
    let packet = alice.protect_rtp(&rtp(1)).unwrap();
    let t = r.relay(ALICE, ports.a.rtp, &packet);
    assert_ne!(one(&t).bytes, packet);
    assert!(bob.unprotect_rtp(&one(&t).bytes).is_err());
    let report = alice.protect_rtcp(&rtcp(SR)).unwrap();
    let t = r.relay(Remote::pair(ALICE).rtcp, ports.a.rtcp, &report);
    assert!(bob.unprotect_rtcp(&one(&t).bytes).is_err());
    // Plain RTP has no tag to lose.
    let mut r = Rig::new(&[Fault::DecryptSrtp]);
    let ports = r.call(Protection::Rtp, Remote::pair(ALICE), Remote::pair(BOB));
    assert_eq!(one(&r.relay(ALICE, ports.a.rtp, &rtp(1))).bytes, rtp(1));
}

#[test]
fn accept_unauthenticated_rtcp_lets_a_stranger_end_the_stream() {
    let mut r = Rig::new(&[Fault::AcceptUnauthenticatedRtcp]);
    let ports = r.call(SRTP, Remote::pair(ALICE), Remote::pair(BOB));
    r.send(STRANGER, ports.a.rtcp, &bye(0x1234_5678));
    assert!(matches!(
        r.events.as_slice(),
        [Event::StreamEnded {
            reason: EndReason::RtcpBye,
            ..
        }]
    ));
    let (mut alice, _) = srtp_pair();
    let packet = alice.protect_rtp(&rtp(1)).unwrap();
    assert!(
        r.relay(ALICE, ports.a.rtp, &packet).is_empty(),
        "the call's media stops"
    );
}

#[test]
fn media_to_third_address_copies_every_packet() {
    let mut r = Rig::new(&[Fault::MediaToThirdAddress]);
    let ports = r.call(Protection::Rtp, Remote::pair(ALICE), Remote::pair(BOB));
    let t = r.relay(ALICE, ports.a.rtp, &rtp(1));
    assert_eq!(t.len(), 2);
    let eavesdropper = r.dbe.config().eavesdropper;
    assert!(
        t.iter()
            .any(|t| t.path.remote == eavesdropper && t.bytes == rtp(1))
    );
    assert!(t.iter().any(|t| t.path.remote == BOB && t.bytes == rtp(1)));
}

#[test]
fn only_dbe_faults_change_the_dbe() {
    // An SBE fault switched on leaves the relay as it is.
    let sbe_faults: Vec<Fault> = Fault::ALL
        .iter()
        .copied()
        .filter(|f| f.layer() != speermint_fault::Layer::Dbe)
        .collect();
    let mut r = Rig::new(&sbe_faults);
    let ports = r.call(Protection::Rtp, Remote::pair(ALICE), Remote::pair(BOB));
    assert!(r.relay(STRANGER, ports.a.rtp, &rtp(1)).is_empty());
    assert_eq!(one(&r.relay(ALICE, ports.a.rtp, &rtp(2))).bytes, rtp(2));
}

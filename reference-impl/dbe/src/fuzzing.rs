//! The `dbe_sequence` fuzz target: arbitrary operation sequences on a
//! sans-IO [`Dbe`], shared by the cargo-fuzz shim in `fuzz/` and by the
//! regression replay in `cargo test`. The SBE's commands, packets from the
//! negotiated endpoints, from a stranger and from the endpoints' hosts on
//! other ports, to live, dead and unowned ports, and steps of virtual
//! time; after every step the invariants below are asserted against a
//! model, so a crash is a broken rule, not just a panic. Input is read
//! through [`arbitrary::Unstructured`]; work per input is bounded by fixed
//! caps.

use crate::{
    Command, Dbe, DbeConfig, EndReason, Event, Faults, Input, MediaLimits, Node, Output, Path,
    Protection, Refusal, RelayPorts, Remote, Side, Sides, Transport,
};
use arbitrary::Unstructured;
use speermint_rtp::fuzzing::test_context;
use speermint_rtp::rtcp::{self, BYE, RR, SDES, SR};
use speermint_rtp::srtp::SRTCP_TAG_LEN;
use speermint_rtp::{
    RtpHeader, RtpPacket, SrtpContext, SrtpProfile, clear_header_len, is_rtcp, validate_compound,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

type Gen<T> = arbitrary::Result<T>;

const DBE_A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
const DBE_B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 10));
/// Three streams' worth of ports: fewer than calls times streams per call.
const PORT_START: u16 = 30_000;
const PORT_END: u16 = 30_012;
const STREAM_CAPACITY: usize = 3;
const MAX_CALLS: usize = 2;
const MAX_STREAMS_PER_CALL: usize = 2;
const INACTIVITY: Duration = Duration::from_secs(2);
const SETUP: Duration = Duration::from_secs(5);
const LIMITS: MediaLimits = MediaLimits {
    packets_per_sec: 20.0,
    packet_burst: 4.0,
    bytes_per_sec: 4_000.0,
    byte_burst: 1_000.0,
};

fn addr(a: u8, b: u8, c: u8, d: u8, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(a, b, c, d)), port)
}

/// Where one side's SDP may say its media is: the two endpoints, each as a
/// port pair and multiplexed, one on another port of its host, RTCP on a
/// host of its own (RFC 3605), the stranger's address (the controller may
/// name anyone), and what the DBE must refuse: another address family,
/// the unspecified address, port 0, and the DBE's own ports.
fn remotes() -> [Remote; 12] {
    let alice = addr(198, 51, 100, 20, 40_000);
    let bob = addr(10, 0, 0, 44, 50_000);
    [
        Remote::pair(alice),
        Remote::muxed(alice),
        Remote::pair(addr(198, 51, 100, 20, 40_002)),
        Remote::pair(bob),
        Remote::muxed(bob),
        Remote {
            rtp: bob,
            rtcp: addr(10, 0, 0, 45, 50_001),
        },
        Remote::pair(stranger()),
        Remote::pair(SocketAddr::new(
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
            4_000,
        )),
        Remote::pair(addr(0, 0, 0, 0, 4_000)),
        Remote::muxed(addr(198, 51, 100, 20, 0)),
        Remote::pair(SocketAddr::new(DBE_A, PORT_START)),
        Remote::muxed(SocketAddr::new(DBE_B, PORT_END - 1)),
    ]
}

fn stranger() -> SocketAddr {
    addr(203, 0, 113, 66, 40_000)
}

/// Call keys: two fit, a third is one too many, the last is too long.
fn call_key(i: usize) -> String {
    match i {
        0 => "call-a".into(),
        1 => "call-b".into(),
        2 => "call-c".into(),
        _ => "k".repeat(300),
    }
}

/// Most operations per input.
const DBE_OPS: usize = 64;
/// Largest raw datagram an operation sends.
const RAW_MAX: usize = 48;
/// Most copies of one packet a flood sends.
const FLOOD_MAX: usize = 16;

/// The configuration every run uses: small, so that bounds are reached.
pub fn fuzz_config() -> DbeConfig {
    DbeConfig {
        addresses: Sides { a: DBE_A, b: DBE_B },
        ports: PORT_START..PORT_END,
        max_calls: MAX_CALLS,
        max_streams_per_call: MAX_STREAMS_PER_CALL,
        limits: LIMITS,
        inactivity_timeout: INACTIVITY,
        setup_timeout: SETUP,
        ..DbeConfig::default()
    }
}

/// The model's view of one live stream.
#[derive(Debug)]
struct Stream {
    call: usize,
    index: u16,
    protection: Protection,
    ports: Sides<RelayPorts>,
    remote: Sides<Option<Remote>>,
    allocated_at: Instant,
    last_activity: Instant,
    /// Packets and bytes relayed from each side.
    relayed: Sides<(u64, u64)>,
}

impl Stream {
    fn deadline(&self) -> Instant {
        let wait = if self.remote.a.is_some() && self.remote.b.is_some() {
            INACTIVITY
        } else {
            SETUP
        };
        self.last_activity + wait
    }
}

/// What one [`dbe_sequence`] run did, for the seed definitions to check
/// that each seed reaches its scenario.
#[doc(hidden)]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DbeSummary {
    /// Operations drawn.
    pub ops: usize,
    /// Streams allocated (new ones).
    pub allocated: usize,
    /// Commands refused, by reason, in order.
    pub refused: Vec<Refusal>,
    /// Packets relayed.
    pub relayed: usize,
    /// Of those, SRTP or SRTCP.
    pub relayed_srtp: usize,
    /// Packets to a live stream's port that were not from its negotiated
    /// source.
    pub from_strangers: usize,
    /// Packets from the negotiated source that the model finds malformed.
    pub malformed: usize,
    /// Valid packets from the negotiated source, with somewhere to go,
    /// that the DBE did not relay: over the rate.
    pub over_rate: usize,
    /// Streams ended by the timeouts.
    pub timed_out: usize,
    /// Streams ended by a release.
    pub released: usize,
}

struct Run {
    dbe: Dbe,
    now: Instant,
    wake: Option<Instant>,
    streams: Vec<Stream>,
    alice: SrtpContext,
    bob: SrtpContext,
    seq: u16,
    summary: DbeSummary,
}

/// Drives one input; see [`dbe_sequence`].
fn run(data: &[u8], faults: Faults) -> DbeSummary {
    let mut u = Unstructured::new(data);
    let Some(mut r) = Run::new(faults) else {
        return DbeSummary::default();
    };
    for _ in 0..DBE_OPS {
        if u.is_empty() {
            break;
        }
        r.summary.ops += 1;
        if r.step(&mut u).is_err() {
            break;
        }
        r.check_bounds();
    }
    r.summary
}

impl Run {
    fn new(faults: Faults) -> Option<Self> {
        // Both ends keyed alike, as by one SDES exchange (RFC 4568).
        let keyed = || Some(test_context(SrtpProfile::Aes128CmHmacSha1_80));
        Some(Run {
            dbe: Dbe::new(DbeConfig {
                faults,
                ..fuzz_config()
            }),
            now: Instant::now(),
            wake: None,
            streams: Vec::new(),
            alice: keyed()?,
            bob: keyed()?,
            seq: 0,
            summary: DbeSummary::default(),
        })
    }

    fn step(&mut self, u: &mut Unstructured<'_>) -> Gen<()> {
        match u.int_in_range(0..=9u8)? {
            0 => {
                let call = u.int_in_range(0..=3usize)?;
                let index = u.int_in_range(0..=2u16)?;
                let protection = protection(u)?;
                self.allocate(call, index, protection);
            }
            1 => {
                // Mostly a live stream's, sometimes any (call, stream).
                let (call, index) = match self.streams.len() {
                    0 => (u.int_in_range(0..=3usize)?, u.int_in_range(0..=2u16)?),
                    n => {
                        let s = &self.streams[u.int_in_range(0..=n - 1)?];
                        (s.call, s.index)
                    }
                };
                let side = if u.arbitrary::<bool>()? {
                    Side::B
                } else {
                    Side::A
                };
                let remote = *u.choose(&remotes())?;
                self.negotiate(call, index, side, remote);
            }
            2 => {
                // A call set up: offer from A, answer from B.
                let call = u.int_in_range(0..=3usize)?;
                let index = u.int_in_range(0..=2u16)?;
                let protection = protection(u)?;
                self.allocate(call, index, protection);
                let all = remotes();
                let a = *u.choose(&all[..3])?;
                let b = *u.choose(&all[3..6])?;
                self.negotiate(call, index, Side::A, a);
                self.negotiate(call, index, Side::B, b);
            }
            3 => {
                let call = u.int_in_range(0..=3usize)?;
                if u.arbitrary::<bool>()? {
                    let index = u.int_in_range(0..=2u16)?;
                    self.release(call, Some(index));
                } else {
                    self.release(call, None);
                }
            }
            4 => {
                let call = u.int_in_range(0..=3usize)?;
                self.report(call);
            }
            5 => {
                // Up to 4 s in steps of 1/64 s: the timeouts are 2 s and 5 s.
                let ticks = u.int_in_range(0..=255u32)?;
                self.advance(Duration::from_millis(u64::from(ticks) * 1000 / 64));
            }
            6..=8 => {
                let (from, to) = self.addresses(u)?;
                let bytes = self.packet(u)?;
                let copies = if u.arbitrary::<bool>()? {
                    u.int_in_range(2..=FLOOD_MAX)?
                } else {
                    1
                };
                for _ in 0..copies {
                    self.datagram(from, to, &bytes);
                }
            }
            _ => {
                // Two packets in a row from both negotiated ends: a call.
                for side in [Side::A, Side::B] {
                    let Some(s) = self.streams.first() else { break };
                    let (Some(from), to) = (s.remote[side], s.ports[side].rtp) else {
                        break;
                    };
                    let bytes = self.packet(u)?;
                    self.datagram(from.rtp, to, &bytes);
                }
            }
        }
        Ok(())
    }

    fn input(&mut self, input: Input<'_, Command>) -> (Vec<crate::Transmit>, Vec<Event>) {
        self.dbe.handle_input(self.now, input);
        let (mut sent, mut events) = (Vec::new(), Vec::new());
        while let Some(o) = self.dbe.poll_output() {
            match o {
                Output::Transmit(t) => sent.push(t),
                Output::Event(e) => events.push(e),
                Output::Timeout(at) => self.wake = Some(at),
                Output::Close(p) => panic!("close of {p:?}: the DBE opens no stream"),
            }
        }
        (sent, events)
    }

    fn find(&self, call: usize, index: u16) -> Option<usize> {
        self.streams
            .iter()
            .position(|s| s.call == call && s.index == index)
    }

    fn allocate(&mut self, call: usize, index: u16, protection: Protection) {
        let key = call_key(call);
        let (sent, events) = self.input(Input::Command(Command::Allocate {
            call: key.clone(),
            stream: index,
            protection,
        }));
        assert!(sent.is_empty(), "a command relays nothing: {sent:?}");
        let [event] = events.as_slice() else {
            panic!("one answer to an allocation: {events:?}")
        };
        let of_call = self.streams.iter().filter(|s| s.call == call).count();
        let calls = {
            let mut c: Vec<usize> = self.streams.iter().map(|s| s.call).collect();
            c.sort_unstable();
            c.dedup();
            c.len()
        };
        let expected = if let Some(i) = self.find(call, index) {
            Some(Ok(i))
        } else if key.len() > 256 {
            Some(Err(Refusal::CallKeyTooLong))
        } else if of_call >= MAX_STREAMS_PER_CALL {
            Some(Err(Refusal::TooManyStreams))
        } else if of_call == 0 && calls >= MAX_CALLS {
            Some(Err(Refusal::TooManyCalls))
        } else if self.streams.len() >= STREAM_CAPACITY {
            Some(Err(Refusal::NoPorts))
        } else {
            None
        };
        match (event, expected) {
            (Event::Allocated { ports, .. }, Some(Ok(i))) => {
                let s = &mut self.streams[i];
                assert_eq!(*ports, s.ports, "a live stream keeps its ports");
                s.protection = protection;
                s.last_activity = self.now;
            }
            (
                Event::Allocated {
                    call: c,
                    stream,
                    ports,
                },
                None,
            ) => {
                assert_eq!((c, *stream), (&key, index));
                for side in [Side::A, Side::B] {
                    let p = ports[side];
                    assert_eq!(p.rtp.ip(), fuzz_config().addresses[side]);
                    assert!(
                        p.rtp.port() % 2 == 0 && (PORT_START..PORT_END).contains(&p.rtp.port())
                    );
                    assert_eq!(p.rtcp, SocketAddr::new(p.rtp.ip(), p.rtp.port() + 1));
                    for other in &self.streams {
                        assert!(
                            ![other.ports.a.rtp, other.ports.b.rtp].contains(&p.rtp),
                            "port {} handed out twice",
                            p.rtp
                        );
                    }
                }
                assert_ne!(ports.a.rtp.port(), ports.b.rtp.port());
                self.summary.allocated += 1;
                self.streams.push(Stream {
                    call,
                    index,
                    protection,
                    ports: *ports,
                    remote: Sides::default(),
                    allocated_at: self.now,
                    last_activity: self.now,
                    relayed: Sides::default(),
                });
            }
            (Event::Refused { reason, .. }, Some(Err(want))) => {
                assert_eq!(*reason, want);
                self.summary.refused.push(*reason);
            }
            (e, want) => panic!("allocation of {call}/{index}: {e:?}, expected {want:?}"),
        }
    }

    fn negotiate(&mut self, call: usize, index: u16, side: Side, remote: Remote) {
        let (sent, events) = self.input(Input::Command(Command::Negotiated {
            call: call_key(call),
            stream: index,
            side,
            remote,
        }));
        assert!(sent.is_empty());
        let unusable = |a: SocketAddr| a.ip().is_unspecified() || a.port() == 0 || !a.is_ipv4();
        let own = |a: SocketAddr| {
            [DBE_A, DBE_B].contains(&a.ip()) && (PORT_START..PORT_END).contains(&a.port())
        };
        let expected = match self.find(call, index) {
            None => Some(Refusal::UnknownStream),
            Some(_) if unusable(remote.rtp) || unusable(remote.rtcp) => {
                Some(Refusal::UnusableAddress)
            }
            Some(_) if own(remote.rtp) || own(remote.rtcp) => Some(Refusal::OwnAddress),
            Some(i) => {
                let s = &mut self.streams[i];
                s.remote[side] = Some(remote);
                s.last_activity = self.now;
                None
            }
        };
        match (events.as_slice(), expected) {
            ([], None) => {}
            ([Event::Refused { reason, .. }], Some(want)) if *reason == want => {
                self.summary.refused.push(want);
            }
            (e, want) => panic!("negotiation of {call}/{index}: {e:?}, expected {want:?}"),
        }
    }

    fn release(&mut self, call: usize, index: Option<u16>) {
        let key = call_key(call);
        let command = match index {
            Some(stream) => Command::ReleaseStream {
                call: key.clone(),
                stream,
            },
            None => Command::Release { call: key.clone() },
        };
        let (sent, events) = self.input(Input::Command(command));
        assert!(sent.is_empty());
        let before = self.streams.len();
        self.streams
            .retain(|s| !(s.call == call && index.is_none_or(|i| i == s.index)));
        assert_eq!(events.len(), before - self.streams.len(), "{events:?}");
        for e in &events {
            let Event::StreamEnded {
                call: c,
                reason: EndReason::Released,
                ..
            } = e
            else {
                panic!("release: {e:?}")
            };
            assert_eq!(c, &key);
            self.summary.released += 1;
        }
    }

    fn report(&mut self, call: usize) {
        let (sent, events) = self.input(Input::Command(Command::Report {
            call: call_key(call),
        }));
        assert!(sent.is_empty());
        let live: Vec<&Stream> = self.streams.iter().filter(|s| s.call == call).collect();
        assert_eq!(events.len(), live.len(), "{events:?}");
        for e in &events {
            let Event::Counters {
                stream, counters, ..
            } = e
            else {
                panic!("report: {e:?}")
            };
            let s = live
                .iter()
                .find(|s| s.index == *stream)
                .unwrap_or_else(|| panic!("report of a dead stream {stream}"));
            for side in [Side::A, Side::B] {
                assert_eq!(
                    (counters[side].relayed, counters[side].relayed_bytes),
                    s.relayed[side]
                );
            }
        }
    }

    /// Time passes; the wake-up asked for is delivered when it is due.
    fn advance(&mut self, by: Duration) {
        self.now += by;
        if self.wake.is_some_and(|w| w <= self.now) {
            self.wake = None;
            let (sent, events) = self.input(Input::Timeout);
            assert!(sent.is_empty());
            for e in events {
                let Event::StreamEnded {
                    call,
                    stream,
                    reason: EndReason::Timeout,
                    ..
                } = e
                else {
                    panic!("a timeout: {e:?}")
                };
                let i = self
                    .streams
                    .iter()
                    .position(|s| call_key(s.call) == call && s.index == stream)
                    .unwrap_or_else(|| panic!("{call}/{stream} timed out, not live"));
                assert!(
                    self.streams[i].deadline() <= self.now,
                    "{call}/{stream} timed out early"
                );
                self.streams.remove(i);
                self.summary.timed_out += 1;
            }
        }
        for s in &self.streams {
            assert!(
                s.deadline() > self.now,
                "{}/{} outlived its deadline: the DBE asked to wake too late or did not end it",
                s.call,
                s.index
            );
        }
    }

    /// Where a datagram comes from and goes to.
    fn addresses(&self, u: &mut Unstructured<'_>) -> Gen<(SocketAddr, SocketAddr)> {
        let side = if u.arbitrary::<bool>()? {
            Side::B
        } else {
            Side::A
        };
        let rtcp_port = u.arbitrary::<bool>()?;
        let stream = match self.streams.len() {
            0 => None,
            n => self.streams.get(u.int_in_range(0..=n - 1)?),
        };
        let to = match (stream, u.int_in_range(0..=7u8)?) {
            (_, 0) => SocketAddr::new(DBE_A, u.int_in_range(PORT_START - 2..=PORT_END + 1)?),
            // Side A's port on side B's address.
            (Some(s), 1) => SocketAddr::new(DBE_B, s.ports.a.rtp.port()),
            (Some(s), _) if rtcp_port => s.ports[side].rtcp,
            (Some(s), _) => s.ports[side].rtp,
            (None, _) => SocketAddr::new(DBE_A, PORT_START),
        };
        let negotiated = stream.and_then(|s| s.remote[side]);
        let other = stream.and_then(|s| s.remote[side.other()]);
        let from = match u.int_in_range(0..=5u8)? {
            0 | 1 => negotiated.map(|r| r.rtp),
            2 => negotiated.map(|r| r.rtcp),
            3 => other.map(|r| r.rtp),
            4 => negotiated.map(|r| SocketAddr::new(r.rtp.ip(), r.rtp.port() ^ 2)),
            _ => None,
        };
        Ok((from.unwrap_or_else(stranger), to))
    }

    /// A packet: well-formed RTP, RTCP, SRTP or SRTCP, one of them with a
    /// byte changed or cut short, or raw bytes.
    fn packet(&mut self, u: &mut Unstructured<'_>) -> Gen<Vec<u8>> {
        let kind = u.int_in_range(0..=8u8)?;
        let template = |r: &mut Self, k: u8| -> Vec<u8> {
            r.seq = r.seq.wrapping_add(1);
            let rtp = RtpHeader::new(0, r.seq, 160 * u32::from(r.seq), 0x5eed)
                .to_bytes(&[0xd5; 20], 0)
                .unwrap_or_default();
            let ssrc = 0x5eed_u32.to_be_bytes();
            let mut rr = Vec::new();
            let _ = rtcp::write_packet(0, RR, &ssrc, 0, &mut rr);
            match k {
                0 => rtp,
                1 => rr,
                2 => {
                    let mut sr = Vec::new();
                    let mut body = ssrc.to_vec();
                    body.extend_from_slice(&[0; 20]); // sender info
                    let _ = rtcp::write_packet(0, SR, &body, 0, &mut sr);
                    let cname = [0, 0, 0x5e, 0xed, 1, 1, b'x', 0];
                    let _ = rtcp::write_packet(1, SDES, &cname, 0, &mut sr);
                    sr
                }
                3 => {
                    let _ = rtcp::write_packet(1, BYE, &ssrc, 0, &mut rr);
                    rr
                }
                4 => {
                    // A BYE alone: not a valid compound (RFC 3550 §6.1).
                    let mut bye = Vec::new();
                    let _ = rtcp::write_packet(1, BYE, &ssrc, 0, &mut bye);
                    bye
                }
                5 => r.alice.protect_rtp(&rtp).unwrap_or_default(),
                _ => r.bob.protect_rtcp(&rr).unwrap_or_default(),
            }
        };
        Ok(match kind {
            0..=6 => template(self, kind),
            7 => {
                let k = u.int_in_range(0..=6u8)?;
                let mut p = template(self, k);
                if !p.is_empty() {
                    let at = u.int_in_range(0..=p.len() - 1)?;
                    if u.arbitrary::<bool>()? {
                        p.truncate(at);
                    } else {
                        p[at] = u.arbitrary()?;
                    }
                }
                p
            }
            _ => {
                let n = u.int_in_range(0..=RAW_MAX)?;
                u.bytes(n)?.to_vec()
            }
        })
    }

    fn datagram(&mut self, from: SocketAddr, to: SocketAddr, bytes: &[u8]) {
        let (sent, events) = self.input(Input::Datagram {
            path: Path {
                local: to,
                remote: from,
                transport: Transport::Udp,
            },
            bytes,
        });
        assert!(events.is_empty(), "a datagram ends nothing: {events:?}");
        assert!(sent.len() <= 1, "one datagram, one relay at most: {sent:?}");
        // The stream and side owning the port it came to, if any.
        let owner = self.streams.iter().position(|s| {
            [Side::A, Side::B]
                .iter()
                .any(|&side| to == s.ports[side].rtp || to == s.ports[side].rtcp)
        });
        let Some(i) = owner else {
            assert!(
                sent.is_empty(),
                "relayed from a port no stream owns: {sent:?}"
            );
            return;
        };
        let s = &mut self.streams[i];
        let side = if to == s.ports.a.rtp || to == s.ports.a.rtcp {
            Side::A
        } else {
            Side::B
        };
        let rtcp_port = to == s.ports[side].rtcp;
        let expected = s.remote[side].map(|r| if rtcp_port { r.rtcp } else { r.rtp });
        if expected != Some(from) {
            assert!(
                sent.is_empty(),
                "relayed from {from}, not the negotiated {expected:?}: {sent:?}"
            );
            self.summary.from_strangers += 1;
            return;
        }
        let muxed = s.remote[side].is_some_and(|r| r.is_muxed());
        let Some(rtcp) = valid(bytes, rtcp_port, muxed, s.protection) else {
            assert!(sent.is_empty(), "malformed packet relayed: {bytes:02x?}");
            self.summary.malformed += 1;
            return;
        };
        s.last_activity = self.now;
        let to_side = side.other();
        let Some(dest) = s.remote[to_side] else {
            assert!(sent.is_empty(), "relayed to an unnegotiated side: {sent:?}");
            return;
        };
        let Some(t) = sent.first() else {
            self.summary.over_rate += 1;
            return;
        };
        assert_eq!(t.bytes, bytes, "relayed bytes differ from those received");
        assert_eq!(t.path.transport, Transport::Udp);
        let (remote, local) = if !rtcp {
            (dest.rtp, s.ports[to_side].rtp)
        } else if dest.is_muxed() {
            (dest.rtcp, s.ports[to_side].rtp)
        } else {
            (dest.rtcp, s.ports[to_side].rtcp)
        };
        assert_eq!((t.path.local, t.path.remote), (local, remote), "relay path");
        let (packets, octets) = &mut s.relayed[side];
        *packets += 1;
        *octets += bytes.len() as u64;
        let elapsed = self.now.duration_since(s.allocated_at).as_secs_f64();
        assert!(
            *packets as f64 <= LIMITS.packet_burst + LIMITS.packets_per_sec * elapsed + 1e-6,
            "{packets} packets relayed in {elapsed} s: over the rate"
        );
        assert!(
            *octets as f64 <= LIMITS.byte_burst + LIMITS.bytes_per_sec * elapsed + 1e-6,
            "{octets} bytes relayed in {elapsed} s: over the rate"
        );
        self.summary.relayed += 1;
        if matches!(s.protection, Protection::Srtp(_)) {
            self.summary.relayed_srtp += 1;
        }
    }

    fn check_bounds(&self) {
        let d = &self.dbe;
        assert_eq!(d.stream_count(), self.streams.len(), "live streams");
        assert!(d.stream_count() <= STREAM_CAPACITY);
        assert!(d.stream_slots() <= STREAM_CAPACITY, "stream table grew");
        assert!(d.call_count() <= MAX_CALLS);
        assert_eq!(
            d.free_port_pairs(),
            2 * (STREAM_CAPACITY - self.streams.len()),
            "port pairs leaked"
        );
        assert!(
            d.timer_entries() <= 2 * d.stream_count() + 64 + 1,
            "timer queue grew to {}",
            d.timer_entries()
        );
    }
}

fn protection(u: &mut Unstructured<'_>) -> Gen<Protection> {
    Ok(match u.int_in_range(0..=2u8)? {
        0 => Protection::Rtp,
        1 => Protection::Srtp(SrtpProfile::Aes128CmHmacSha1_80),
        _ => Protection::Srtp(SrtpProfile::Aes128CmHmacSha1_32),
    })
}

/// The model's RFC 3550 Appendix A.1/A.2 verdict, from the codec: `None`
/// when the DBE must drop the packet, else whether it is RTCP.
fn valid(bytes: &[u8], rtcp_port: bool, muxed: bool, protection: Protection) -> Option<bool> {
    let rtcp = rtcp_port || is_rtcp(bytes);
    if rtcp && !rtcp_port && !muxed {
        return None; // payload type SR/RR on an RTP-only port
    }
    let ok = match (rtcp, protection) {
        (false, Protection::Rtp) => RtpPacket::parse(bytes).is_ok(),
        (false, Protection::Srtp(p)) => {
            clear_header_len(bytes).is_ok_and(|h| bytes.len() >= h + p.rtp_tag_len())
        }
        (true, Protection::Rtp) => validate_compound(bytes).is_ok(),
        (true, Protection::Srtp(_)) => match bytes {
            [first, pt, hi, lo, ..] => {
                let first_len = 4 * (usize::from(u16::from_be_bytes([*hi, *lo])) + 1);
                first >> 6 == 2
                    && matches!(*pt, SR | RR)
                    && first_len >= 8
                    && bytes.len() >= first_len + 4 + SRTCP_TAG_LEN
            }
            _ => false,
        },
    };
    ok.then_some(rtcp)
}

/// Fuzz entry point. Invariants, checked after every operation:
///
/// - nothing is relayed that did not come from exactly the address the
///   receiving side's SDP negotiated (RTP or RTCP port as the SDP said), to
///   a port of a live stream: strangers, the endpoints' hosts on other
///   ports, the other side's endpoint, dead and unowned ports get nothing
///   through;
/// - a relayed packet is the received bytes, unchanged (SRTP and SRTCP
///   included, so their tags still verify), sent from the other side's
///   port (its RTCP port for RTCP, unless that side multiplexes) to the
///   other side's negotiated address; one datagram makes at most one;
/// - packets failing RFC 3550 Appendix A.1/A.2 (the clear-header checks
///   for SRTP) are never relayed, and RTCP on an RTP port only when the
///   side multiplexes;
/// - relayed packets and bytes per side never exceed the bucket's burst
///   plus its rate times the stream's age (RFC 6404 §4.9);
/// - allocations are granted exactly when the model says there is room
///   (calls, streams per call, key length, ports), with fresh even ports
///   of the range on each side's address, the same ones when asked again;
///   negotiations are refused exactly for unknown streams, unusable
///   addresses and the DBE's own ports; releases end exactly the streams
///   named, reports count exactly what was relayed;
/// - a stream ends by timeout only once its deadline passed (inactivity
///   timeout after the last valid packet from a negotiated source or
///   command, set-up timeout while a side is unnegotiated), and never
///   outlives it when the driver wakes the DBE when asked;
/// - state stays bounded: streams, stream slots, calls, port pairs (none
///   leaked) and the timer queue.
pub fn dbe_sequence(data: &[u8]) {
    run(data, Faults::NONE);
}

/// What [`dbe_sequence`] did with `data`.
#[doc(hidden)]
pub fn dbe_sequence_summary(data: &[u8]) -> DbeSummary {
    run(data, Faults::NONE)
}

/// [`dbe_sequence`] against a DBE with `faults`: the invariants are the
/// correct DBE's, so some inputs must break them (the model's own test).
#[doc(hidden)]
pub fn dbe_sequence_under(data: &[u8], faults: Faults) -> DbeSummary {
    run(data, faults)
}

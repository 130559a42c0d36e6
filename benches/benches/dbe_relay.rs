//! Relay cost of the reference DBE (`speermint_dbe::Dbe`) on one core: one
//! datagram handed to the node, its output drained, per iteration. The
//! criterion time is ns per packet; the throughput line is packets per
//! second per core. Anchor: rtpproxy and rtpengine's userspace relay move
//! on the order of 10^5 to 10^6 packets/s per core (their kernel
//! forwarding more); the sans-IO node's share of that budget must be small.
//!
//! Ids: `dbe_relay/<packet>/<streams>`, packet in
//! - `rtp_172`: G.711 20 ms, 12-byte header and 160 bytes of payload,
//!   validated in full (RFC 3550 Appendix A.1);
//! - `srtp_182`: the same under AES_CM_128_HMAC_SHA1_80 (10-byte tag),
//!   checked on its clear header only;
//! - `rtcp_rr_32`: an RR with one report block, as compound RTCP;
//! - `stranger_172`: RTP from an address no SDP named, dropped (the cost
//!   of a flood at a relay port);
//!
//! and streams 1 or 1,000 live relays, the packets going round them (the
//! port table and stream slab out of the L1 cache). Virtual time moves 20
//! µs per packet; the rate limits are set out of reach, so every genuine
//! packet is relayed and the token buckets still run.
#![forbid(unsafe_code)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use speermint_dbe::{
    Command, Dbe, DbeConfig, Event, Input, MediaLimits, Node, Output, Path, Protection, Remote,
    Side, Sides, Transport,
};
use speermint_rtp::fuzzing::test_context;
use speermint_rtp::{RtpHeader, SrtpProfile};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

const OUTSIDE: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
const INSIDE: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 10));

fn peer(i: usize) -> SocketAddr {
    SocketAddr::new(
        IpAddr::V4(Ipv4Addr::new(198, 51, 100, 20)),
        20_000 + 2 * i as u16,
    )
}

fn home(i: usize) -> SocketAddr {
    SocketAddr::new(
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 44)),
        20_000 + 2 * i as u16,
    )
}

/// A DBE with `n` streams, both sides negotiated; for each, the address
/// packets arrive at (side A's RTP or RTCP port) and come from.
fn relay(n: usize, protection: Protection, rtcp: bool) -> (Dbe, Vec<(SocketAddr, SocketAddr)>) {
    let mut dbe = Dbe::new(DbeConfig {
        addresses: Sides {
            a: OUTSIDE,
            b: INSIDE,
        },
        ports: 30_000..30_000 + 4 * n as u16,
        max_calls: n,
        limits: MediaLimits {
            packets_per_sec: 1e12,
            packet_burst: 1e12,
            bytes_per_sec: 1e15,
            byte_burst: 1e15,
        },
        ..DbeConfig::default()
    });
    let now = Instant::now();
    let mut legs = Vec::with_capacity(n);
    for i in 0..n {
        let call = format!("call-{i}");
        dbe.handle_input(
            now,
            Input::Command(Command::Allocate {
                call: call.clone(),
                stream: 0,
                protection,
            }),
        );
        let mut ports = None;
        while let Some(o) = dbe.poll_output() {
            if let Output::Event(Event::Allocated { ports: p, .. }) = o {
                ports = Some(p);
            }
        }
        let ports = ports.expect("allocated");
        for (side, remote) in [(Side::A, peer(i)), (Side::B, home(i))] {
            dbe.handle_input(
                now,
                Input::Command(Command::Negotiated {
                    call: call.clone(),
                    stream: 0,
                    side,
                    remote: Remote::pair(remote),
                }),
            );
        }
        while dbe.poll_output().is_some() {}
        let (to, from) = if rtcp {
            (ports.a.rtcp, Remote::pair(peer(i)).rtcp)
        } else {
            (ports.a.rtp, peer(i))
        };
        legs.push((to, from));
    }
    (dbe, legs)
}

fn rtp() -> Vec<u8> {
    RtpHeader::new(0, 1, 160, 0x1234_5678)
        .to_bytes(&[0xd5; 160], 0)
        .expect("packet builds")
}

fn rr() -> Vec<u8> {
    let mut body = 0x1234_5678u32.to_be_bytes().to_vec();
    body.extend_from_slice(&[0x11; 24]); // one report block
    let mut out = Vec::new();
    speermint_rtp::rtcp::write_packet(1, speermint_rtp::rtcp::RR, &body, 0, &mut out)
        .expect("RR builds");
    out
}

fn bench(c: &mut Criterion) {
    let srtp = Protection::Srtp(SrtpProfile::Aes128CmHmacSha1_80);
    let srtp_packet = test_context(SrtpProfile::Aes128CmHmacSha1_80)
        .protect_rtp(&rtp())
        .expect("SRTP protects");
    let cases: [(&str, Protection, Vec<u8>, bool, bool); 4] = [
        ("rtp_172", Protection::Rtp, rtp(), false, true),
        ("srtp_182", srtp, srtp_packet, false, true),
        ("rtcp_rr_32", Protection::Rtp, rr(), true, true),
        ("stranger_172", Protection::Rtp, rtp(), false, false),
    ];
    let mut group = c.benchmark_group("dbe_relay");
    group.throughput(Throughput::Elements(1));
    for (name, protection, packet, rtcp, genuine) in &cases {
        for n in [1usize, 1_000] {
            let (mut dbe, legs) = relay(n, *protection, *rtcp);
            let stranger: SocketAddr = "203.0.113.66:40000".parse().expect("address");
            let mut now = Instant::now();
            let mut i = 0;
            // Checked once before timing: what the iteration measures.
            let (to, from) = legs[0];
            dbe.handle_input(
                now,
                Input::Datagram {
                    path: Path {
                        local: to,
                        remote: if *genuine { from } else { stranger },
                        transport: Transport::Udp,
                    },
                    bytes: packet,
                },
            );
            let relayed = std::iter::from_fn(|| dbe.poll_output())
                .filter(|o| matches!(o, Output::Transmit(t) if t.bytes == *packet))
                .count();
            assert_eq!(relayed, usize::from(*genuine), "{name}");
            group.bench_with_input(BenchmarkId::new(*name, n), packet, |b, packet| {
                b.iter(|| {
                    let (to, from) = legs[i];
                    i = if i + 1 == legs.len() { 0 } else { i + 1 };
                    now += Duration::from_micros(20);
                    dbe.handle_input(
                        now,
                        Input::Datagram {
                            path: Path {
                                local: to,
                                remote: if *genuine { from } else { stranger },
                                transport: Transport::Udp,
                            },
                            bytes: black_box(packet),
                        },
                    );
                    while let Some(o) = dbe.poll_output() {
                        black_box(o);
                    }
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

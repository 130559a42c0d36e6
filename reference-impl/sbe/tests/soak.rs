//! Soak: 100,000 calls (INVITE, 200, ACK, BYE, 200) through the SBE core on
//! a virtual clock at 1,000 calls/s, with every RFC 3261 and RFC 6026
//! timer running its course. The live heap is measured by a counting
//! allocator, so the numbers are the element's state, not the allocator's
//! page cache (what RSS would also show).
//!
//! It shows that state does not outlive its timers: the heap at steady
//! state is flat between the first and the second half of the run, it is
//! back to where it started once the last timer has fired, and a live
//! transaction costs a bounded number of bytes.

use cap::Cap;
use speermint_sbe::{Node, Output, Sbe, SbeConfig};
use speermint_sip::{Message, MessageBuilder};
use std::alloc::System;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOC: Cap<System> = Cap::new(System, usize::MAX);

/// Heap bytes live now, in this process.
fn heap() -> usize {
    ALLOC.allocated()
}

const CALLS: u32 = 100_000;
const RATE: u32 = 1_000;
/// The most heap bytes one live transaction may hold at steady state
/// (key, state, timers, the last response where the RFC needs it, and
/// its share of the maps and the timer queue).
const BYTES_PER_TRANSACTION: usize = 1_024;

fn a(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

struct Call {
    n: u32,
}

impl Call {
    fn header(&self, method: &str, cseq: u32, branch: &str) -> MessageBuilder {
        MessageBuilder::request(method, "sip:+15105550100@127.0.0.4:5060")
            .header(
                "Via",
                format!("SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bK{branch};rport"),
            )
            .header("Max-Forwards", 70)
            .header("From", format!("<sip:alice@peer.example>;tag=f{}", self.n))
            .header("To", "<sip:+15105550100@ssp.example>")
            .header("Call-ID", format!("soak-{}@127.0.0.2", self.n))
            .header("CSeq", format!("{cseq} {method}"))
    }

    fn invite(&self) -> Vec<u8> {
        self.header("INVITE", 1, &format!("i{}", self.n))
            .header("Contact", "<sip:alice@127.0.0.2:5060>")
            .body(
                "application/sdp",
                &b"v=0\r\no=- 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"[..],
            )
            .build()
    }

    fn in_dialog(&self, method: &str, cseq: u32) -> Vec<u8> {
        self.header(method, cseq, &format!("{}{}", &method[..1], self.n))
            .build()
    }
}

/// Runs due timers and drains the outputs, answering what reached the next
/// hop with a 200 (a UAS that takes every call), except ACKs.
fn pump(sbe: &mut Sbe, now: Instant) {
    if sbe.poll_timeout().is_some_and(|t| t <= now) {
        sbe.handle_timeout(now);
    }
    let mut answers = Vec::new();
    while let Some(o) = sbe.poll_output() {
        if let Output::Transmit(t) = o {
            if t.path.remote == a("127.0.0.4:5060") {
                let Ok(req) = Message::parse(&t.bytes) else {
                    continue;
                };
                if req.is_request() && req.method() != "ACK" {
                    let ok = MessageBuilder::response_to(&req, 200, "OK", Some("uas"))
                        .header("Contact", "<sip:bob@127.0.0.4:5060>")
                        .build();
                    answers.push(ok);
                }
            }
        }
    }
    for ok in answers {
        sbe.handle_datagram(now, a("127.0.0.4:5060"), &ok);
        while sbe.poll_output().is_some() {}
    }
}

#[test]
fn state_is_flat_over_100k_calls_and_gone_after_the_last_timer() {
    let peer = a("127.0.0.2:5060");
    let cfg = SbeConfig::new(a("127.0.0.1:5060"), vec![peer.ip()], a("127.0.0.4:5060"));
    assert!(
        cfg.max_transactions >= 101 * RATE as usize,
        "the default has room"
    );
    let mut sbe = Sbe::new(cfg);
    let start = Instant::now();
    let baseline = heap();
    let step = Duration::from_secs(1) / RATE;
    let mut samples = Vec::new();
    for n in 0..CALLS {
        let now = start + step * n;
        let call = Call { n };
        sbe.handle_datagram(now, peer, &call.invite());
        pump(&mut sbe, now);
        sbe.handle_datagram(now, peer, &call.in_dialog("ACK", 1));
        pump(&mut sbe, now);
        // The call lasts 1 s of virtual time: the BYE goes with a later call.
        if n >= RATE {
            let earlier = Call { n: n - RATE };
            sbe.handle_datagram(now, peer, &earlier.in_dialog("BYE", 2));
            pump(&mut sbe, now);
        }
        if n % 10_000 == 9_999 {
            let (s, c) = sbe.transaction_count();
            let heap = heap() - baseline;
            samples.push((n + 1, s + c, heap, sbe.timer_entries()));
        }
    }
    for (n, live, heap, timers) in &samples {
        eprintln!(
            "after {n} calls: {live} live transactions, {heap} heap bytes ({} per transaction), {timers} timer entries",
            heap / live.max(&1)
        );
    }
    // Steady state from 40 s on (every timer is 32 s or less): flat.
    let steady: Vec<_> = samples.iter().filter(|s| s.0 >= 50_000).collect();
    let (lo, hi) = steady
        .iter()
        .fold((usize::MAX, 0), |(lo, hi), s| (lo.min(s.2), hi.max(s.2)));
    assert!(
        hi <= lo + lo / 10,
        "the heap grew at steady state: from {lo} to {hi} bytes"
    );
    for (n, live, heap, _) in &steady {
        assert!(
            heap / live <= BYTES_PER_TRANSACTION,
            "after {n} calls {live} transactions hold {heap} bytes"
        );
    }
    // The last BYEs, then every timer runs out.
    let end = start + step * CALLS;
    for n in CALLS - RATE..CALLS {
        sbe.handle_datagram(end, peer, &Call { n }.in_dialog("BYE", 2));
        pump(&mut sbe, end);
    }
    let mut now = end;
    while let Some(t) = sbe.poll_timeout() {
        now = t.max(now);
        pump(&mut sbe, now);
        assert!(now - end < Duration::from_secs(120), "timers still running");
    }
    assert_eq!(sbe.transaction_count(), (0, 0));
    let left = heap().saturating_sub(baseline);
    eprintln!("after the last timer: {left} heap bytes above the start");
    // Idle, the element shrinks its maps and queue to at most 1,024 slots
    // each: what is left is that, not the peak's capacity (about 80 MB).
    assert!(left <= 1024 * 1024, "{left} bytes outlived every timer");
}

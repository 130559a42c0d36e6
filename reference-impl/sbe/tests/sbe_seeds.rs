//! The `sbe_sequence` seeds in corpora/sbe/: short operation sequences,
//! each written here as the choices the model draws, with what its run
//! must do. They are small (the target runs with a small `-max_len`) and
//! reach what random bytes rarely do: complete INVITE transactions,
//! CANCEL, timers, and with resolution the driver's answers, failover on
//! a 503 and on a timeout, parked requests timed out and cancelled; with
//! topology hiding, calls both ways, a token nobody was given and a full
//! dialog table; over TCP, messages in pieces, lost framing, a connection
//! reused and a timeout answered on it.
//! The files must match the definitions; after changing one, or the way
//! the model reads its input, rewrite them with
//! `cargo test -p speermint-sbe --test sbe_seeds -- --ignored write_seed_files`.

use speermint_sbe::fuzzing::{SbeSummary, sbe_sequence_summary, sbe_sequence_with};
use speermint_sbe::{Fault, Faults};

/// An input, written choice by choice. `Unstructured` reads one byte for
/// a choice among 2 to 256 options (the byte modulo their number) and
/// none for a single option.
#[derive(Default)]
struct Script {
    bytes: Vec<u8>,
    /// The peer sent a request: new requests then draw whether to reuse
    /// its Call-ID.
    peer_sent: bool,
    /// Operations written: the run must draw exactly these.
    ops: usize,
    /// TCP runs: each operation first reads how its message travels.
    wire: Option<&'static [u8]>,
}

// Indexes into the model's lists (reference-impl/sbe/src/fuzzing.rs).
const INVITE: u8 = 0;
const OPTIONS: u8 = 2;
const BYE: u8 = 3;
const REGISTER: u8 = 4;
/// The peer's Request-URIs under topology hiding: a token it was given
/// (the first), one nobody was given.
const GIVEN_TOKEN: u8 = 7;
const UNKNOWN_TOKEN: u8 = 8;
/// How a message travels in a TCP run (`Wire` in the model): a datagram,
/// whole over the connection, or in three pieces after a keep-alive: cut
/// at 100/256 of the bytes and 5 bytes before the end.
const UDP: &[u8] = &[0];
const TCP_WHOLE: &[u8] = &[1];
const TCP_PIECES: &[u8] = &[3 | (4 << 2) | 32, 100];
/// `new_request` from the next hop: its own method list.
const HOP_INVITE: u8 = 0;
const HOP_OPTIONS: u8 = 1;
const HOP_MESSAGE: u8 = 3;
const S180: u8 = 1;
const S200: u8 = 3;
const S486: u8 = 8;
const S487: u8 = 9;
const S503: u8 = 11;
const PEER_5060: u8 = 0;
const PEER_5070: u8 = 1;

impl Script {
    /// No resolution; `max` transactions (2 to 8).
    fn plain(max: u8) -> Self {
        Self::first(14 + max - 2)
    }

    /// Resolution on, without faults, with `resolve_timeout` 8 s.
    fn resolving(max: u8) -> Self {
        let mut s = Self::first(max - 2);
        s.bytes.extend([1, 1, 1]);
        s
    }

    /// As [`Script::resolving`], under the no-failover fault.
    fn resolving_no_failover(max: u8) -> Self {
        let mut s = Self::first(84 + max - 2);
        s.bytes.extend([1, 1, 1]);
        s
    }

    /// No resolution, `max` transactions, and per-peer limits of
    /// `rate` requests per second (1 to 20), a `burst` of 1 to 5 and 1 to
    /// 4 `sessions`, 503 with Retry-After 5 or silence (`drop`) beyond
    /// them, and calls forgotten after two hours.
    fn limited(max: u8, rate: u8, burst: u8, sessions: u8, drop: bool) -> Self {
        let mut s = Self::plain(max);
        s.bytes[1] = 1;
        s.bytes.push((burst - 1) * 20 + rate - 1);
        s.bytes.push(sessions - 1 + 4 * u8::from(drop) + 8 * 2);
        s
    }

    /// No resolution, `max` transactions, topology hiding with room for
    /// `dialogs` (1 to 4).
    fn hidden(max: u8, dialogs: u8) -> Self {
        let mut s = Self::plain(max);
        s.bytes[1] = 16 | ((dialogs - 1) << 6);
        s
    }

    /// No resolution, `max` transactions, each operation's message sent
    /// as `wire` says unless the operation says otherwise.
    fn tcp(max: u8) -> Self {
        let mut s = Self::plain(max);
        s.bytes[1] = 32;
        s.wire = Some(TCP_WHOLE);
        s
    }

    /// The first byte, then the options byte: 0, the defaults.
    fn first(b: u8) -> Self {
        Script {
            bytes: vec![b, 0],
            ..Script::default()
        }
    }

    /// Operation `kind`, with the peer at 5060 and the stranger at 5060.
    fn op(self, kind: u8) -> Self {
        let wire = self.wire;
        self.op_on(kind, wire)
    }

    /// Operation `kind`, its message travelling as `wire` says (TCP runs).
    fn op_on(mut self, kind: u8, wire: Option<&[u8]>) -> Self {
        self.bytes.extend(wire.unwrap_or_default());
        self.bytes.extend([0, 0, kind]);
        self.ops += 1;
        self
    }

    /// Choice `i` of `n`.
    fn pick(mut self, i: u8, n: u8) -> Self {
        assert!(i < n);
        if n > 1 {
            self.bytes.push(i);
        }
        self
    }

    fn raw(mut self, b: &[u8]) -> Self {
        self.bytes.extend_from_slice(b);
        self
    }

    /// The draws of `new_request`: method and Request-URI (indexes into
    /// the sender's lists), no To tag, a fresh Call-ID, CSeq 1,
    /// Max-Forwards and Route (indexes), no Proxy-Require, an SDP body or
    /// none.
    fn request(mut self, method: u8, ruri: u8, max_forwards: u8, route: u8, sdp: bool) -> Self {
        self.bytes.extend([method, ruri, 1]);
        if self.peer_sent {
            self.bytes.push(1);
        }
        self.bytes
            .extend([0, 0, max_forwards, route, 1, u8::from(!sdp)]);
        self
    }

    /// A BYE from the peer for the call of its request `i` of `n`
    /// (operation 0, reusing that Call-ID).
    fn peer_bye(mut self, i: u8, n: u8) -> Self {
        self = self.op(0);
        self.bytes.extend([BYE, 0, 1, 0]);
        self = self.pick(i, n);
        self.bytes.extend([0, 0, 0, 0, 1, 1]);
        self
    }

    /// A new request from the peer (operation 0).
    fn peer_request(self, method: u8, ruri: u8, max_forwards: u8) -> Self {
        let mut s = self.op(0).request(method, ruri, max_forwards, 0, true);
        s.peer_sent = true;
        s
    }

    /// A new request from the peer inside the dialog whose Contact token
    /// it was given first (a To tag, a fresh Call-ID, no body).
    fn peer_in_dialog(mut self, method: u8) -> Self {
        self = self.op(0);
        self.bytes.extend([method, GIVEN_TOKEN, 0]);
        if self.peer_sent {
            self.bytes.push(1);
        }
        self.bytes.extend([0, 0, 0, 0, 1, 1]);
        self.peer_sent = true;
        self
    }

    /// A new request from the next hop (operation 10).
    fn hop_request(self, method: u8, ruri: u8, route: u8) -> Self {
        self.op(10).request(method, ruri, 70, route, false)
    }

    /// Raw bytes from the peer (operation 6), over `wire`.
    fn peer_raw(self, wire: &[u8], bytes: &[u8]) -> Self {
        let n = u8::try_from(bytes.len()).expect("short");
        self.op_on(6, Some(wire)).raw(&[1, 0, n]).raw(bytes)
    }

    /// The next hop answers request `i` of `n` it got (operation 8).
    fn hop_answers(self, i: u8, n: u8, status: u8) -> Self {
        self.op(8).pick(i, n).raw(&[status, 2])
    }

    /// A peer answers request `i` of `n` sent to peers (operation 12).
    fn peer_answers(self, i: u8, n: u8, status: u8) -> Self {
        self.op(12).pick(i, n).raw(&[status, 1])
    }

    /// The driver answers the only outstanding resolution with these hops
    /// (indexes into `HOPS`) and the target itself, once (operation 17).
    fn resolved(self, hops: &[u8]) -> Self {
        let n = u8::try_from(hops.len()).expect("at most 3 hops");
        self.op(17).raw(&[0, 0, n]).raw(hops).raw(&[0, 1])
    }

    /// The driver fails the only outstanding resolution with reason `r`
    /// (an index into `UNRESOLVED`), once.
    fn unresolved(self, r: u8) -> Self {
        self.op(17).raw(&[0, 3, r, 1])
    }

    /// Time moves on by `ms`, every timer firing at its deadline
    /// (operation 16), or at once, timers late.
    fn wait(self, ms: u16, late: bool) -> Self {
        let [hi, lo] = ms.to_be_bytes();
        self.op(16).raw(&[hi, lo, u8::from(!late)])
    }
}

struct Seed {
    file: &'static str,
    script: Script,
    want: fn(&SbeSummary) -> bool,
}

fn seeds() -> Vec<Seed> {
    let mut out = Vec::new();
    let mut add = |file, script, want| out.push(Seed { file, script, want });

    // A call: INVITE relayed, 180 and 200 back, the ACK for the 2xx (a new
    // transaction: operation 4, not CANCEL, not the non-2xx ACK).
    add(
        "invite-answered.bin",
        Script::plain(8)
            .peer_request(INVITE, 0, 0)
            .hop_answers(0, 1, S180)
            .hop_answers(0, 1, S200)
            .op(4)
            .raw(&[0, 0]),
        |s| s.to_next_hop == 1 && !s.lenient,
    );
    // CANCEL after a 180: the element answers it and cancels downstream,
    // then 487 to the INVITE and 200 to its CANCEL.
    add(
        "invite-cancelled.bin",
        Script::plain(8)
            .peer_request(INVITE, 0, 0)
            .hop_answers(0, 1, S180)
            .op(4)
            .raw(&[1])
            .hop_answers(0, 2, S487)
            .hop_answers(1, 2, S200),
        |s| s.to_next_hop == 2,
    );
    // Timer E retransmissions, each timer on time, then the answer.
    add(
        "options-retransmitted.bin",
        Script::plain(8)
            .peer_request(OPTIONS, 0, 0)
            .op(15)
            .op(15)
            .op(15)
            .hop_answers(0, 1, S200),
        |s| s.to_next_hop == 1,
    );
    // No answer: a late jump past Timer B, then Timer C's clean-up.
    add(
        "invite-timed-out.bin",
        Script::plain(8)
            .peer_request(INVITE, 0, 0)
            .wait(40_000, true),
        |s| s.to_next_hop == 1,
    );
    // Answered by the element: Max-Forwards 0, a mailto: Request-URI, and
    // a REGISTER with no room left (two transactions allowed, both held by
    // those answers).
    add(
        "peer-refused.bin",
        Script::plain(2)
            .peer_request(OPTIONS, 0, 3)
            .peer_request(INVITE, 4, 0)
            .peer_request(REGISTER, 0, 0),
        |s| s.to_next_hop == 0,
    );
    // A stranger's request, then its raw bytes: a 403 at most.
    add(
        "stranger.bin",
        Script::plain(8)
            .op(13)
            .request(INVITE, 0, 0, 0, false)
            .op(14)
            .raw(&[0, 9])
            .raw(b"INVITE x\r"),
        |s| s.to_next_hop == 0 && s.to_peer == 0,
    );
    // The next hop calls the peer, which rings and answers.
    add(
        "hop-to-peer.bin",
        Script::plain(8)
            .hop_request(HOP_INVITE, 0, 0)
            .peer_answers(0, 1, S180)
            .peer_answers(0, 1, S200),
        |s| s.to_peer == 1,
    );
    // Resolution: an INVITE to a domain name parked, resolved to the peer
    // (two hops), answered there.
    add(
        "resolved-forwarded.bin",
        Script::resolving(8)
            .hop_request(HOP_INVITE, 4, 0)
            .resolved(&[PEER_5060, PEER_5070])
            .peer_answers(0, 1, S200),
        |s| s.resolve && s.forwarded == 1 && s.failovers == 0 && !s.lenient,
    );
    // RFC 3263 §4.3: a 503 from the first hop fails over to the second.
    add(
        "resolved-failover-503.bin",
        Script::resolving(8)
            .hop_request(HOP_INVITE, 4, 0)
            .resolved(&[PEER_5060, PEER_5070])
            .peer_answers(0, 1, S503)
            .peer_answers(1, 2, S200),
        |s| s.forwarded == 1 && s.failovers == 1 && !s.lenient,
    );
    // ... unless the no-failover fault holds: the 503 goes upstream.
    add(
        "resolved-no-failover.bin",
        Script::resolving_no_failover(8)
            .hop_request(HOP_INVITE, 4, 0)
            .resolved(&[PEER_5060, PEER_5070])
            .peer_answers(0, 1, S503),
        |s| s.forwarded == 1 && s.failovers == 0 && !s.lenient,
    );
    // Timer F of the first hop fires (each timer on time): failover.
    add(
        "resolved-failover-timeout.bin",
        Script::resolving(8)
            .hop_request(HOP_OPTIONS, 4, 0)
            .resolved(&[PEER_5060, PEER_5070])
            .wait(40_000, false),
        |s| s.forwarded == 1 && s.failovers == 1 && !s.lenient,
    );
    // A number the driver cannot resolve: its status and reason (one that
    // would inject a header line unsanitised).
    add(
        "resolution-failed.bin",
        Script::resolving(8)
            .hop_request(HOP_MESSAGE, 8, 0)
            .unresolved(4),
        |s| s.parked_answers == [503],
    );
    // No hop: 404.
    add(
        "resolved-no-hop.bin",
        Script::resolving(8)
            .hop_request(HOP_OPTIONS, 7, 0)
            .resolved(&[]),
        |s| s.parked_answers == [404],
    );
    // No answer from the driver in time: 504.
    add(
        "resolution-timed-out.bin",
        Script::resolving(8)
            .hop_request(HOP_OPTIONS, 4, 0)
            .wait(9_000, true),
        |s| s.parked_answers == [504],
    );
    // CANCEL for a parked INVITE (operation 19, one still parked): 200,
    // and 487 for the INVITE.
    add(
        "parked-cancelled.bin",
        Script::resolving(8)
            .hop_request(HOP_INVITE, 4, 0)
            .op(19)
            .raw(&[1, 0]),
        |s| s.parked_answers == [487],
    );
    // The target from the Route set (the element's own entry skipped):
    // forwarded with the Request-URI as it was.
    add(
        "resolved-by-route.bin",
        Script::resolving(8)
            .hop_request(HOP_INVITE, 0, 4)
            .resolved(&[PEER_5060])
            .peer_answers(0, 1, S200),
        |s| s.forwarded == 1 && !s.lenient,
    );

    // RFC 6404 §4.9, one request a second and no burst: the second
    // OPTIONS at once gets 503 with Retry-After; a second later there is
    // a token again.
    add(
        "rate-limited.bin",
        Script::limited(8, 1, 1, 4, false)
            .peer_request(OPTIONS, 0, 0)
            .peer_request(OPTIONS, 0, 0)
            .wait(1_000, false)
            .peer_request(OPTIONS, 0, 0),
        |s| s.limit_refusals == 1 && s.to_next_hop == 2,
    );
    // The same, dropped in silence.
    add(
        "rate-limited-drop.bin",
        Script::limited(8, 1, 1, 4, true)
            .peer_request(INVITE, 0, 0)
            .peer_request(OPTIONS, 0, 0),
        |s| s.limit_refusals == 1 && s.to_next_hop == 1 && s.calls == 1,
    );
    // One call at a time: the answered call's BYE frees the place of the
    // next INVITE.
    add(
        "session-freed-by-bye.bin",
        Script::limited(8, 20, 5, 1, false)
            .peer_request(INVITE, 0, 0)
            .hop_answers(0, 1, S200)
            .peer_bye(0, 1)
            .peer_request(INVITE, 0, 0),
        |s| s.limit_refusals == 0 && s.calls == 2 && s.to_next_hop == 3,
    );
    // One call at a time: a second INVITE gets 503 Session Limit until
    // the first fails (486).
    add(
        "session-freed-by-failure.bin",
        Script::limited(8, 20, 5, 1, false)
            .peer_request(INVITE, 0, 0)
            .peer_request(INVITE, 0, 0)
            .hop_answers(0, 1, S486)
            .peer_request(INVITE, 0, 0),
        |s| s.limit_refusals == 1 && s.calls == 2 && s.calls_ended == 2 && s.to_next_hop == 2,
    );

    // RFC 6404 §4.10, topology hiding. The inside calls the peer (its
    // Via, Record-Route, Contact, Call-ID and SDP origin name it); the
    // peer answers, and sends a BYE to the Contact token it was given.
    // Nothing that reaches the peer names the inside; the inside gets its
    // own Vias and Call-ID back.
    add(
        "hidden-outbound-call.bin",
        Script::hidden(8, 2)
            .op(10)
            .request(HOP_INVITE, 0, 70, 0, true)
            .peer_answers(0, 1, S200)
            .peer_in_dialog(BYE),
        |s| s.hidden && s.tokens_given == 1 && s.to_peer == 1 && s.to_next_hop == 1,
    );
    // The peer calls in; the inside answers with its Contact, its proxy's
    // Record-Route and its SDP, all hidden on the way out.
    add(
        "hidden-inbound-call.bin",
        Script::hidden(8, 2)
            .peer_request(INVITE, 0, 0)
            .hop_answers(0, 1, S200),
        |s| s.hidden && s.hidden_dialogs == 1 && s.tokens_given == 1,
    );
    // A Request-URI naming a dialog token nobody was given: 481, never
    // relayed.
    add(
        "hidden-unknown-token.bin",
        Script::hidden(8, 2).peer_request(OPTIONS, UNKNOWN_TOKEN, 0),
        |s| s.unknown_token_481s == 1 && s.to_next_hop == 0,
    );
    // Room for one hidden dialog: the inside's second call gets 503.
    add(
        "hidden-dialogs-full.bin",
        Script::hidden(8, 1)
            .hop_request(HOP_INVITE, 0, 0)
            .hop_request(HOP_INVITE, 0, 0),
        |s| s.hidden_dialogs == 1 && s.to_peer == 1,
    );
    // TCP: the peer's INVITE in three pieces after a keep-alive, framed
    // whole; the 200 goes back on its connection.
    add(
        "tcp-split-invite.bin",
        Script::tcp(8)
            .op_on(0, Some(TCP_PIECES))
            .request(INVITE, 0, 0, 0, true)
            .op_on(8, Some(UDP))
            .raw(&[S200, 2]),
        |s| s.stream_messages == 1 && s.to_next_hop == 1 && s.closes == 0,
    );
    // Bytes that lose the framing: the element closes that connection.
    add(
        "tcp-framing-lost.bin",
        Script::tcp(8).peer_raw(TCP_WHOLE, b"X\r\nContent-Length: x\r\n\r\n"),
        |s| s.closes == 1,
    );
    // The peer's connection is open: the next hop's request to the peer
    // goes over it (RFC 5923 §4), and its answer comes back on it.
    add(
        "tcp-connection-reused.bin",
        Script::tcp(8)
            .peer_request(OPTIONS, 0, 0)
            .hop_request(HOP_OPTIONS, 0, 0)
            .peer_answers(0, 1, S200),
        |s| s.stream_messages == 3 && s.to_peer == 1 && s.to_next_hop == 1,
    );
    // No answer to an OPTIONS that came over TCP: Timer F's 408 goes up on
    // the connection, and its server transaction ends at once (Timer J is
    // zero there), leaving no timer due.
    add(
        "tcp-timeout-answered.bin",
        Script::tcp(8)
            .peer_request(OPTIONS, 0, 0)
            .wait(33_000, false),
        |s| s.stream_messages == 1 && s.to_next_hop == 1,
    );

    out
}

/// libFuzzer's `-max_len` for this target (`FUZZ_MAX_LEN` in .ci/run).
const MAX_LEN: usize = 64;

fn check(seed: &Seed) {
    assert!(
        seed.script.bytes.len() <= MAX_LEN,
        "{}: {} bytes, over -max_len={MAX_LEN}",
        seed.file,
        seed.script.bytes.len()
    );
    let got = sbe_sequence_summary(&seed.script.bytes);
    assert_eq!(got.ops, seed.script.ops, "{}: operations drawn", seed.file);
    assert!((seed.want)(&got), "{}: {got:?}", seed.file);
}

#[test]
fn seeds_reach_their_scenarios() {
    for seed in seeds() {
        check(&seed);
    }
}

/// The model's invariants have teeth: each topology-hiding leak, switched
/// on in the element behind the model's back, fails the hidden call seeds
/// (the inside's names reach the peer).
#[test]
fn each_leak_fault_fails_the_hidden_seeds() {
    let seeds = seeds();
    for fault in [
        Fault::LeakVia,
        Fault::LeakRecordRoute,
        Fault::LeakContact,
        Fault::LeakCallId,
        Fault::LeakSdpOrigin,
    ] {
        let mut faults = Faults::default();
        faults.insert(fault);
        let caught = seeds
            .iter()
            .filter(|s| s.file.starts_with("hidden-"))
            .any(|seed| {
                let bytes = seed.script.bytes.clone();
                let run = std::panic::catch_unwind(move || sbe_sequence_with(&bytes, faults));
                run.err()
                    .and_then(|e| e.downcast_ref::<String>().cloned())
                    .is_some_and(|why| why.contains("sent to the peer"))
            });
        assert!(caught, "{fault:?} went unnoticed");
    }
}

#[test]
fn seed_files_match_their_definitions() {
    let dir = speermint_corpora::corpora().join("sbe");
    let seeds = seeds();
    for seed in &seeds {
        let path = dir.join(seed.file);
        let on_disk = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            on_disk == seed.script.bytes,
            "{} is stale; rewrite with `cargo test -p speermint-sbe --test sbe_seeds -- --ignored write_seed_files`",
            path.display()
        );
    }
    let files = std::fs::read_dir(&dir)
        .expect("corpora/sbe")
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "bin"))
        .count();
    assert_eq!(
        files,
        seeds.len(),
        "a .bin in corpora/sbe/ without a definition"
    );
}

#[test]
#[ignore = "writes corpora/sbe/; run after changing a seed definition"]
fn write_seed_files() {
    let dir = speermint_corpora::corpora().join("sbe");
    std::fs::create_dir_all(&dir).expect("corpora/sbe");
    for seed in seeds() {
        check(&seed);
        let path = dir.join(seed.file);
        std::fs::write(&path, &seed.script.bytes)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

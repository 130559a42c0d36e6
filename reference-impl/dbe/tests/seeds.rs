//! The `dbe_sequence` seeds in corpora/dbe/: short operation scripts, each
//! written here as the choices the model draws, with what its run must
//! do. They reach at once what random bytes reach slowly: calls with media
//! both ways, plain and SRTP, multiplexed and not, a stranger's injection
//! and forged BYE, malformed packets, a flood over the rate, both
//! timeouts, and every refusal. The files must match the definitions;
//! after changing one, or the way the model reads its input, rewrite them
//! with `cargo test -p speermint-dbe --test seeds -- --ignored write_seed_files`.

use speermint_dbe::Refusal;
use speermint_dbe::fuzzing::{DbeSummary, dbe_sequence_summary};

/// Operation codes of the model (`Run::step` in src/fuzzing.rs). Every
/// choice the model draws takes one byte (the byte modulo the number of
/// options), none when there is a single option.
const ALLOCATE: u8 = 0;
const NEGOTIATE: u8 = 1;
const SETUP: u8 = 2;
const RELEASE: u8 = 3;
const REPORT: u8 = 4;
const ADVANCE: u8 = 5;
const SEND: u8 = 6;
const EXCHANGE: u8 = 9;

// Protections.
const RTP: u8 = 0;
const SRTP80: u8 = 1;
// `remotes()` indexes: side A's offer (0..3), side B's answer (3..6 in
// the full list, 0..3 within SETUP's answer choice), the refused ones.
const ALICE_PAIR: u8 = 0;
const ALICE_MUX: u8 = 1;
const BOB_PAIR: u8 = 0;
const BOB_MUX: u8 = 1;
const BOB_FULL: u8 = 3;
const UNUSABLE_V6: u8 = 7;
const OWN_PORT: u8 = 10;
// Packet templates.
const PLAIN_RTP: u8 = 0;
const RR_BYE: u8 = 3;
const SRTP_RTP: u8 = 5;
const SRTCP: u8 = 6;
const MUTATED: u8 = 7;
// SEND's destination choice: the chosen side's own port.
const OWN_SIDE_PORT: u8 = 2;
// SEND's source choice.
const FROM_NEGOTIATED: u8 = 0;
const FROM_STRANGER: u8 = 5;

struct Seed {
    file: &'static str,
    bytes: Vec<u8>,
    check: fn(&DbeSummary) -> bool,
}

/// SEND to side A's RTP port of the only live stream, from `from`, with
/// `packet` (its bytes), once or `copies` times (2..=16).
fn send_a(from: u8, packet: &[u8], copies: Option<u8>) -> Vec<u8> {
    let mut b = vec![SEND, 0, 0, OWN_SIDE_PORT, from];
    b.extend_from_slice(packet);
    match copies {
        None => b.push(0),
        Some(n) => b.extend([1, n - 2]),
    }
    b
}

fn setup(protection: u8, a: u8, b: u8) -> Vec<u8> {
    vec![SETUP, 0, 0, protection, a, b]
}

fn seeds() -> Vec<Seed> {
    let cat = |parts: &[&[u8]]| parts.concat();
    vec![
        Seed {
            file: "call-rtp.bin",
            bytes: cat(&[
                &setup(RTP, ALICE_PAIR, BOB_PAIR),
                &[EXCHANGE, PLAIN_RTP, PLAIN_RTP],
                &[REPORT, 0],
                &[RELEASE, 0, 0],
            ]),
            check: |s| s.allocated == 1 && s.relayed == 2 && s.released == 1,
        },
        Seed {
            file: "call-srtp-mux.bin",
            bytes: cat(&[
                &setup(SRTP80, ALICE_MUX, BOB_MUX),
                &[EXCHANGE, SRTP_RTP, SRTCP],
                &[EXCHANGE, SRTP_RTP, SRTP_RTP],
            ]),
            check: |s| s.relayed_srtp == 4,
        },
        Seed {
            file: "stranger-injects.bin",
            bytes: cat(&[
                &setup(RTP, ALICE_PAIR, BOB_PAIR),
                &send_a(FROM_STRANGER, &[PLAIN_RTP], None),
                &send_a(FROM_STRANGER, &[RR_BYE], None),
                &[EXCHANGE, PLAIN_RTP, PLAIN_RTP],
            ]),
            check: |s| s.from_strangers == 2 && s.relayed == 2,
        },
        Seed {
            file: "malformed.bin",
            bytes: cat(&[
                &setup(RTP, ALICE_PAIR, BOB_PAIR),
                // Version 1; CSRC count 15; extension bit without one; cut
                // inside the header; then a good packet.
                &send_a(FROM_NEGOTIATED, &[MUTATED, PLAIN_RTP, 0, 0, 0x40], None),
                &send_a(FROM_NEGOTIATED, &[MUTATED, PLAIN_RTP, 0, 0, 0x8f], None),
                &send_a(FROM_NEGOTIATED, &[MUTATED, PLAIN_RTP, 0, 0, 0x90], None),
                &send_a(FROM_NEGOTIATED, &[MUTATED, PLAIN_RTP, 7, 1], None),
                &send_a(FROM_NEGOTIATED, &[PLAIN_RTP], None),
            ]),
            check: |s| s.malformed == 4 && s.relayed == 1,
        },
        Seed {
            file: "flood.bin",
            bytes: cat(&[
                &setup(RTP, ALICE_PAIR, BOB_PAIR),
                &send_a(FROM_NEGOTIATED, &[PLAIN_RTP], Some(16)),
                &[ADVANCE, 64],
                &send_a(FROM_NEGOTIATED, &[PLAIN_RTP], Some(16)),
            ]),
            check: |s| s.over_rate > 0 && s.relayed >= 4,
        },
        Seed {
            file: "inactivity-timeout.bin",
            bytes: cat(&[
                &setup(SRTP80, ALICE_PAIR, BOB_PAIR),
                &[EXCHANGE, SRTP_RTP, SRTP_RTP],
                &[ADVANCE, 100],
                &[EXCHANGE, SRTP_RTP, SRTP_RTP],
                &[ADVANCE, 255],
            ]),
            check: |s| s.relayed == 4 && s.timed_out == 1,
        },
        Seed {
            file: "setup-timeout.bin",
            bytes: cat(&[
                &[ALLOCATE, 1, 0, RTP],
                &[NEGOTIATE, 0, ALICE_PAIR],
                &send_a(FROM_NEGOTIATED, &[PLAIN_RTP], None),
                &[ADVANCE, 255, ADVANCE, 255],
            ]),
            check: |s| s.timed_out == 1 && s.relayed == 0,
        },
        Seed {
            file: "bounds.bin",
            bytes: cat(&[
                &[
                    ALLOCATE, 0, 0, RTP, ALLOCATE, 0, 1, RTP, ALLOCATE, 0, 2, RTP,
                ],
                &[ALLOCATE, 1, 0, RTP, ALLOCATE, 1, 1, RTP],
                &[ALLOCATE, 2, 0, RTP, ALLOCATE, 3, 0, RTP],
                &[RELEASE, 0, 1, 1, ALLOCATE, 1, 1, SRTP80],
            ]),
            check: |s| {
                s.refused
                    == [
                        Refusal::TooManyStreams,
                        Refusal::NoPorts,
                        Refusal::TooManyCalls,
                        Refusal::CallKeyTooLong,
                    ]
                    && s.released == 1
                    && s.allocated == 4
            },
        },
        Seed {
            file: "refused-addresses.bin",
            bytes: cat(&[
                &[ALLOCATE, 0, 0, RTP],
                &[NEGOTIATE, 0, UNUSABLE_V6, NEGOTIATE, 1, OWN_PORT],
                &[NEGOTIATE, 1, BOB_FULL],
                &[RELEASE, 0, 0, NEGOTIATE, 0, 0, 0, ALICE_PAIR],
            ]),
            check: |s| {
                s.refused
                    == [
                        Refusal::UnusableAddress,
                        Refusal::OwnAddress,
                        Refusal::UnknownStream,
                    ]
            },
        },
    ]
}

#[test]
fn seeds_reach_their_scenarios() {
    for seed in seeds() {
        let summary = dbe_sequence_summary(&seed.bytes);
        assert!((seed.check)(&summary), "{}: {summary:#?}", seed.file);
        assert!(seed.bytes.len() <= 128, "{}: over -max_len", seed.file);
    }
}

#[test]
fn seed_files_match_their_definitions() {
    let dir = speermint_corpora::corpora().join("dbe");
    let seeds = seeds();
    for seed in &seeds {
        let path = dir.join(seed.file);
        let on_disk = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            on_disk == seed.bytes,
            "{} is stale; rewrite with `cargo test -p speermint-dbe --test seeds -- --ignored write_seed_files`",
            path.display()
        );
    }
    let files = std::fs::read_dir(&dir)
        .expect("corpora/dbe")
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "bin"))
        .count();
    assert_eq!(
        files,
        seeds.len(),
        "a .bin in corpora/dbe/ without a definition"
    );
}

#[test]
#[ignore = "writes corpora/dbe/; run after changing a seed definition"]
fn write_seed_files() {
    let dir = speermint_corpora::corpora().join("dbe");
    std::fs::create_dir_all(&dir).expect("corpora/dbe");
    for seed in seeds() {
        let summary = dbe_sequence_summary(&seed.bytes);
        assert!((seed.check)(&summary), "{}: {summary:#?}", seed.file);
        let path = dir.join(seed.file);
        std::fs::write(&path, &seed.bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

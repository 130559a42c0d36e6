//! The `sbe_media` model (src/fuzzing_media.rs) in every `cargo test`:
//! its minimised findings replayed, pseudo-random inputs through it, its
//! invariants shown to bite under each fault they watch, and its seed
//! corpus (corpora/sbe_media/) checked to reach what each seed is for.
//! After changing the model's input format, rewrite the seeds with
//! `cargo test -p speermint-sbe --test media_model -- --ignored write_seed_files`.

use speermint_corpora::replay;
use speermint_sbe::fuzzing_media::{MediaSummary, sbe_media, sbe_media_summary, sbe_media_under};
use speermint_sbe::{Fault, Faults};
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;

/// xorshift64*: the same inputs on every run.
fn inputs(seed: u64, count: usize) -> Vec<Vec<u8>> {
    let mut state = seed;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    (0..count)
        .map(|_| {
            let len = (next() % 400) as usize;
            (0..len).map(|_| next() as u8).collect()
        })
        .collect()
}

#[test]
fn sbe_media_regressions() {
    replay("regressions/sbe_media", sbe_media);
}

#[test]
fn pseudo_random_calls_hold_the_invariants() {
    for data in inputs(0x9e37_79b9_7f4a_7c15, 2_000) {
        sbe_media(&data);
    }
}

/// The faults whose behaviour this model watches; the DBE's packet-level
/// faults (decrypt-srtp, relay-malformed-rtp, ...) are `dbe_sequence`'s.
const WATCHED: [Fault; 4] = [
    Fault::MediaBypass,
    Fault::KeepIceCandidates,
    Fault::LatchAnySource,
    Fault::MediaToThirdAddress,
];

#[test]
fn each_watched_fault_breaks_an_invariant() {
    let inputs = inputs(0x2545_f491_4f6c_dd1d, 2_000);
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let missed: Vec<Fault> = WATCHED
        .into_iter()
        .filter(|&fault| {
            !inputs.iter().any(|data| {
                panic::catch_unwind(AssertUnwindSafe(|| {
                    sbe_media_under(data, Faults::only(fault))
                }))
                .is_err()
            })
        })
        .collect();
    panic::set_hook(hook);
    assert!(
        missed.is_empty(),
        "no input broke an invariant under {missed:?}"
    );
}

struct Seed {
    file: &'static str,
    /// What the seed's run must reach.
    reaches: fn(&MediaSummary) -> bool,
}

const SEEDS: [Seed; 4] = [
    Seed {
        file: "call-with-media.bin",
        reaches: |s| s.established >= 1 && s.ended >= 1 && s.relayed >= 2 && s.anchored >= 2,
    },
    Seed {
        file: "ice-removed.bin",
        reaches: |s| s.ice_removed >= 1,
    },
    Seed {
        file: "mixed-rtp-and-msrp.bin",
        reaches: |s| s.mixed >= 1,
    },
    Seed {
        file: "unparsed-sdp.bin",
        reaches: |s| s.unparsed >= 1,
    },
];

fn seed_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../corpora/sbe_media")
}

#[test]
fn seeds_reach_what_they_are_for() {
    for seed in &SEEDS {
        let path = seed_dir().join(seed.file);
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let summary = sbe_media_summary(&data);
        assert!((seed.reaches)(&summary), "{}: {summary:?}", seed.file);
    }
}

/// Picks, for each seed, the shortest pseudo-random input that reaches
/// what the seed is for, and writes it.
#[test]
#[ignore = "rewrites corpora/sbe_media/"]
fn write_seed_files() {
    let candidates = inputs(0x0123_4567_89ab_cdef, 50_000);
    std::fs::create_dir_all(seed_dir()).unwrap();
    for seed in &SEEDS {
        let best = candidates
            .iter()
            .filter(|d| (seed.reaches)(&sbe_media_summary(d)))
            .min_by_key(|d| d.len())
            .unwrap_or_else(|| panic!("no input reaches {}", seed.file));
        std::fs::write(seed_dir().join(seed.file), best).unwrap();
    }
}

//! Replays every minimised `dbe_sequence` finding in
//! corpora/regressions/dbe_sequence/ through the fuzz entry point, and a
//! few thousand pseudo-random inputs, so the model's invariants run in
//! every `cargo test`.

use speermint_corpora::replay;
use speermint_dbe::fuzzing::dbe_sequence;

#[test]
fn dbe_sequence_regressions() {
    replay("regressions/dbe_sequence", dbe_sequence);
}

#[test]
fn pseudo_random_sequences_hold_the_invariants() {
    // xorshift64*: the same inputs on every run.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    for _ in 0..3_000 {
        let len = (next() % 160) as usize;
        let data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        dbe_sequence(&data);
    }
}

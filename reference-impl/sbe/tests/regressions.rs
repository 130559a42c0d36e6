//! Replays the minimised `sbe_sequence` findings in
//! corpora/regressions/sbe_sequence/ and the SIP messages (its seeds before
//! corpora/sbe/, which tests/sbe_seeds.rs runs) through the entry point the
//! fuzz target uses.

use speermint_corpora::replay;
use speermint_sbe::fuzzing::sbe_sequence;

#[test]
fn sbe_sequence_regressions() {
    replay("regressions/sbe_sequence", sbe_sequence);
}

#[test]
fn sbe_sequence_seeds() {
    let n = replay("sip", sbe_sequence);
    assert!(n > 200, "corpora/sip has {n} files");
}

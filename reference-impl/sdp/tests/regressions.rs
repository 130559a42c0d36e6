//! Replays the `sdp_roundtrip` findings and the SDP seeds through the
//! entry point the fuzz target uses.

use speermint_corpora::replay;
use speermint_sdp::fuzzing::sdp_roundtrip;

#[test]
fn sdp_roundtrip_regressions() {
    replay("regressions/sdp_roundtrip", sdp_roundtrip);
}

#[test]
fn sdp_roundtrip_seeds() {
    let n = replay("sdp", sdp_roundtrip);
    assert!(n > 10, "corpora/sdp has {n} files");
}

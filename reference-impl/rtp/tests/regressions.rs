//! Replays every minimised fuzzer finding in corpora/regressions/<target>/
//! through the same entry point the fuzz target uses. Every target has its
//! directory (a `.keep` placeholder until its first finding; the replay
//! skips dot-files).

use speermint_corpora::replay;
use speermint_rtp::fuzzing;

#[test]
fn rtp_parse_regressions() {
    replay("regressions/rtp_parse", fuzzing::rtp_parse);
}

#[test]
fn rtcp_parse_regressions() {
    replay("regressions/rtcp_parse", fuzzing::rtcp_parse);
}

#[test]
fn srtp_unprotect_regressions() {
    replay("regressions/srtp_unprotect", fuzzing::srtp_unprotect);
}

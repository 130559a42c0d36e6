//! Replays every minimised fuzzer finding in corpora/regressions/<target>/
//! through the same entry point the fuzz target uses. Every target has its
//! directory (a `.keep` placeholder until its first finding; the replay
//! skips dot-files).

use speermint_corpora::replay;
use speermint_sip::fuzzing as f;

/// The seed corpora (as in `.ci/run`) pass their targets: a false alarm
/// shows up here, not first in a fuzzing run.
#[test]
fn seeds_pass_their_targets() {
    type Run = (&'static str, fn(&[u8]));
    let runs: Vec<Run> = vec![
        ("sip", f::sip_parse),
        ("sip", f::sip_structured),
        ("sip", f::sip_stream),
    ];
    #[cfg(feature = "rsip-oracle")]
    let runs = {
        let mut runs = runs;
        runs.push(("sip", f::sip_diff));
        runs
    };
    for (dir, run) in runs {
        let n = replay(dir, run);
        let least = if dir == "sip" { 200 } else { 10 };
        assert!(n > least, "corpora/{dir} has {n} files");
    }
}

#[test]
fn sip_parse_regressions() {
    assert!(replay("regressions/sip_parse", f::sip_parse) >= 1);
}

#[test]
fn sip_structured_regressions() {
    replay("regressions/sip_structured", f::sip_structured);
}

#[test]
fn sip_stream_regressions() {
    replay("regressions/sip_stream", f::sip_stream);
}

/// Needs the `rsip-oracle` feature, which `cargo test --workspace` turns on
/// (speermint-benches enables it); `cargo test -p speermint-sip` alone
/// checks only that the directory exists.
#[test]
fn sip_diff_regressions() {
    #[cfg(feature = "rsip-oracle")]
    replay("regressions/sip_diff", f::sip_diff);
    #[cfg(not(feature = "rsip-oracle"))]
    replay("regressions/sip_diff", |_| {});
}

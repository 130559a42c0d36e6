//! Replays every minimised fuzzer finding in corpora/regressions/<target>/
//! through the same entry point the fuzz target uses. Every target has its
//! directory (a `.keep` placeholder until its first finding; the replay
//! skips dot-files).

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../corpora/regressions")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .is_some_and(|f| f.to_string_lossy().starts_with('.'))
        {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        run(&bytes);
        n += 1;
    }
    n
}

/// Every file under `corpora/<rel>`, recursively.
fn seeds(rel: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../corpora")
            .join(rel),
    ];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The seed corpora (as in `.ci/run`) pass their targets: a false alarm
/// shows up here, not first in a fuzzing run.
#[test]
fn seeds_pass_their_targets() {
    use speermint_sip::fuzzing as f;
    let sip = seeds("sip");
    assert!(sip.len() > 200, "corpora/sip has {} files", sip.len());
    let sdp = seeds("sdp");
    assert!(sdp.len() > 10, "corpora/sdp has {} files", sdp.len());
    type Run<'a> = (&'a [std::path::PathBuf], fn(&[u8]));
    let runs: Vec<Run<'_>> = vec![
        (&sip, f::sip_parse),
        (&sip, f::sip_structured),
        (&sip, f::sip_stream),
        (&sip, f::sbe_sequence),
        (&sdp, f::sdp_roundtrip),
    ];
    #[cfg(feature = "rsip-oracle")]
    let runs = {
        let mut runs = runs;
        runs.push((&sip, f::sip_diff));
        runs
    };
    for (files, run) in runs {
        for path in files {
            run(&std::fs::read(path).unwrap());
        }
    }
}

#[test]
fn sip_parse_regressions() {
    assert!(replay("sip_parse", speermint_sip::fuzzing::sip_parse) >= 1);
}

#[test]
fn sip_structured_regressions() {
    replay("sip_structured", speermint_sip::fuzzing::sip_structured);
}

#[test]
fn sip_stream_regressions() {
    replay("sip_stream", speermint_sip::fuzzing::sip_stream);
}

/// Needs the `rsip-oracle` feature, which `cargo test --workspace` turns on
/// (speermint-benches enables it); `cargo test -p speermint-sip` alone
/// checks only that the directory exists.
#[test]
fn sip_diff_regressions() {
    #[cfg(feature = "rsip-oracle")]
    replay("sip_diff", speermint_sip::fuzzing::sip_diff);
    #[cfg(not(feature = "rsip-oracle"))]
    replay("sip_diff", |_| {});
}

#[test]
fn sdp_roundtrip_regressions() {
    replay("sdp_roundtrip", speermint_sip::fuzzing::sdp_roundtrip);
}

#[test]
fn sbe_sequence_regressions() {
    replay("sbe_sequence", speermint_sip::fuzzing::sbe_sequence);
}

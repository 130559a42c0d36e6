//! Replays every minimised fuzzer finding in corpora/regressions/<target>/
//! through the same entry point the fuzz target uses. Every target has its
//! directory (a `.keep` placeholder until its first finding; the replay
//! skips dot-files).

use std::path::Path;

use speermint_rtp::fuzzing;

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

#[test]
fn rtp_parse_regressions() {
    replay("rtp_parse", fuzzing::rtp_parse);
}

#[test]
fn rtcp_parse_regressions() {
    replay("rtcp_parse", fuzzing::rtcp_parse);
}

#[test]
fn srtp_unprotect_regressions() {
    replay("srtp_unprotect", fuzzing::srtp_unprotect);
}

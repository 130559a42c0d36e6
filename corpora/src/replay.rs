//! Replay of tracked inputs through fuzz entry points, for the crates'
//! tests:  feeds tracked corpus files (fuzzer findings kept in
//! `corpora/regressions/<target>/`, seed corpora) to a fuzz entry point, so
//! that `cargo test` re-checks every input a fuzzer once tripped over without
//! needing cargo-fuzz or a nightly toolchain.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// The repository's `corpora/` directory.
pub fn corpora() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `run` on every file under `corpora/<rel>` (recursively, in path
/// order) and returns how many there were.
///
/// Dot-files are skipped: a regression directory holds a `.keep`
/// placeholder until its first finding, and seed directories carry
/// `.gitattributes`. Everything else is fed as is, as libFuzzer would, so a
/// README among the seeds is just one more input.
///
/// A panic in `run` is re-raised with the offending file's path in front,
/// since an assertion message alone does not say which input broke it.
/// Panics too if the directory is missing: every fuzz target must have its
/// regression directory (see `fuzz/README.md`).
pub fn replay(rel: &str, mut run: impl FnMut(&[u8])) -> usize {
    let files = files(&corpora().join(rel));
    for path in &files {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| run(&bytes))) {
            panic!("replaying {}: {}", path.display(), message(&*payload));
        }
    }
    files.len()
}

/// Every non-dot file under `dir`, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .path();
            if path
                .file_name()
                .is_some_and(|f| f.to_string_lossy().starts_with('.'))
            {
                continue;
            }
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

/// The text of a panic payload (`panic!` gives a `&str` or a `String`).
fn message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(non-string panic payload)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_files_and_skips_dot_files() {
        let mut seen = 0;
        let n = replay("regressions/lrf_answers", |_| seen += 1);
        assert_eq!(n, seen);
        assert!(n >= 1, "the lrf_answers finding is kept");
    }

    #[test]
    fn a_panic_names_the_file() {
        let err = panic::catch_unwind(|| replay("regressions/lrf_answers", |_| panic!("boom")))
            .expect_err("the closure panics");
        let text = message(&*err);
        assert!(text.contains("regressions/lrf_answers/"), "{text}");
        assert!(text.ends_with(": boom"), "{text}");
    }

    #[test]
    #[should_panic(expected = "no-such-target")]
    fn a_missing_directory_fails() {
        replay("regressions/no-such-target", |_| {});
    }
}

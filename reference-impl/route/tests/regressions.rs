//! Replays the minimised fuzzer findings in corpora/regressions/lrf_answers/ and
//! the seeds in corpora/lrf/ through the entry point the fuzz target uses.

use std::path::Path;

fn replay(rel: &str, run: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let name = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') || name.ends_with(".md") {
            continue;
        }
        run(&std::fs::read(&path).unwrap());
        n += 1;
    }
    n
}

#[test]
fn lrf_answers_regressions_and_seeds() {
    replay(
        "corpora/regressions/lrf_answers",
        speermint_route::fuzzing::lrf_answers,
    );
    assert!(
        replay("corpora/lrf", speermint_route::fuzzing::lrf_answers) > 0,
        "seeds exist"
    );
}

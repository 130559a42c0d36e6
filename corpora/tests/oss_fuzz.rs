//! The fuzz target lists must agree: the `[[bin]]` names of fuzz/Cargo.toml,
//! FUZZ_TARGETS / FUZZ_SEEDS / FUZZ_DICTS / FUZZ_MAX_LEN of .ci/run, and the
//! same lists in fuzz/oss-fuzz/build.sh (OSS-Fuzz and ClusterFuzzLite). Every target also
//! needs its shim, seed corpus, dictionary (in the libFuzzer syntax) and
//! regression directory. Reads the files as text; runs no cargo-fuzz.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(rel: &str) -> String {
    let p = root().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The `[[bin]]` names of fuzz/Cargo.toml, each with its path.
fn cargo_bins() -> BTreeMap<String, String> {
    let manifest: toml::Table = read("fuzz/Cargo.toml")
        .parse()
        .expect("fuzz/Cargo.toml parses");
    let bins = manifest
        .get("bin")
        .and_then(|b| b.as_array())
        .expect("[[bin]] tables");
    bins.iter()
        .map(|b| {
            let name = b.get("name").and_then(|n| n.as_str()).expect("bin name");
            let path = b.get("path").and_then(|n| n.as_str()).expect("bin path");
            (name.to_owned(), path.to_owned())
        })
        .collect()
}

/// The body of the bash array `NAME=( ... )` in `script`: its words,
/// comments dropped.
fn bash_array<'s>(script: &'s str, name: &str) -> Vec<&'s str> {
    let open = format!("{name}=(");
    let start = script
        .lines()
        .position(|l| l.trim_start().starts_with(&open) || l.contains(&format!(" {open}")))
        .unwrap_or_else(|| panic!("no {name}=( in script"));
    let mut words = Vec::new();
    for (i, line) in script.lines().skip(start).enumerate() {
        let mut text = line.split('#').next().unwrap_or_default();
        if i == 0 {
            text = &text[text.find('(').expect("(") + 1..];
        }
        let (body, done) = match text.find(')') {
            Some(close) => (&text[..close], true),
            None => (text, false),
        };
        words.extend(body.split_whitespace());
        if done {
            return words;
        }
    }
    panic!("{name}=( is not closed");
}

/// `declare -A NAME=( [key]=value ... )`.
fn bash_map(script: &str, name: &str) -> BTreeMap<String, String> {
    bash_array(script, name)
        .into_iter()
        .map(|w| {
            let (k, v) = w
                .strip_prefix('[')
                .and_then(|w| w.split_once("]="))
                .unwrap_or_else(|| panic!("{name}: not [key]=value: {w}"));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

struct Lists {
    targets: Vec<String>,
    seeds: BTreeMap<String, String>,
    dicts: BTreeMap<String, String>,
    max_len: BTreeMap<String, String>,
}

fn lists(rel: &str) -> Lists {
    let script = read(rel);
    Lists {
        targets: bash_array(&script, "FUZZ_TARGETS")
            .into_iter()
            .map(str::to_owned)
            .collect(),
        seeds: bash_map(&script, "FUZZ_SEEDS"),
        dicts: bash_map(&script, "FUZZ_DICTS"),
        max_len: bash_map(&script, "FUZZ_MAX_LEN"),
    }
}

#[test]
fn ci_and_oss_fuzz_list_exactly_the_cargo_fuzz_targets() {
    let bins: BTreeSet<String> = cargo_bins().into_keys().collect();
    assert!(bins.contains("sip_parse"));
    for rel in [".ci/run", "fuzz/oss-fuzz/build.sh"] {
        let l = lists(rel);
        let targets: BTreeSet<String> = l.targets.iter().cloned().collect();
        assert_eq!(
            targets.len(),
            l.targets.len(),
            "{rel}: a target is listed twice"
        );
        assert_eq!(
            targets, bins,
            "{rel}: FUZZ_TARGETS vs [[bin]] of fuzz/Cargo.toml"
        );
        let seeded: BTreeSet<String> = l.seeds.keys().cloned().collect();
        assert_eq!(seeded, bins, "{rel}: FUZZ_SEEDS keys");
        let dicts: BTreeSet<String> = l.dicts.keys().cloned().collect();
        assert_eq!(dicts, bins, "{rel}: FUZZ_DICTS keys");
        // Only some targets have one.
        for (t, n) in &l.max_len {
            assert!(
                bins.contains(t),
                "{rel}: FUZZ_MAX_LEN for {t}, not a target"
            );
            assert!(
                n.parse::<usize>().is_ok_and(|n| n > 0),
                "{rel}: FUZZ_MAX_LEN[{t}] = {n}"
            );
        }
    }
    let ci = lists(".ci/run");
    let oss = lists("fuzz/oss-fuzz/build.sh");
    assert_eq!(ci.targets, oss.targets, "same targets in the same order");
    assert_eq!(ci.seeds, oss.seeds, "same seed corpora");
    assert_eq!(ci.dicts, oss.dicts, "same dictionaries");
    assert_eq!(ci.max_len, oss.max_len, "same -max_len");
}

#[test]
fn every_target_has_its_shim_seeds_dictionary_and_regressions() {
    let ci = lists(".ci/run");
    for (name, path) in cargo_bins() {
        let shim = read(&format!("fuzz/{path}"));
        assert!(
            shim.contains("speermint_") && shim.contains(&format!("::{name}(data)")),
            "fuzz/{path} should call the `{name}` entry point"
        );
        let seeds = root().join(&ci.seeds[&name]);
        assert!(
            seeds.is_dir(),
            "{name}: seed corpus {} missing",
            seeds.display()
        );
        let regressions = root().join("corpora/regressions").join(&name);
        assert!(
            regressions.is_dir(),
            "{name}: {} missing",
            regressions.display()
        );
        check_dictionary(&ci.dicts[&name]);
        if let Some(n) = ci.max_len.get(&name) {
            // libFuzzer would cut a longer seed short.
            let n: u64 = n.parse().expect("FUZZ_MAX_LEN is a number");
            for f in std::fs::read_dir(&seeds).expect("seed directory") {
                let f = f.expect("seed entry");
                let len = f.metadata().expect("seed metadata").len();
                assert!(
                    f.path().is_file() && len <= n,
                    "{name}: {} is not a seed of at most {n} bytes",
                    f.path().display()
                );
            }
        }
    }
}

/// libFuzzer's dictionary syntax: comments, blank lines, `name="value"` or
/// `"value"`, with only the `\\`, `\"` and `\xHH` escapes in values.
fn check_dictionary(rel: &str) {
    let text = read(rel);
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = || format!("{rel}:{}: {line}", n + 1);
        let value = match line.find('"') {
            Some(q) => &line[q..],
            None => panic!("no value: {}", at()),
        };
        let inner = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or_else(|| panic!("value not quoted: {}", at()));
        let b = inner.as_bytes();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'\\' => match b.get(i + 1) {
                    Some(b'\\' | b'"') => i += 2,
                    Some(b'x')
                        if b.get(i + 2..i + 4)
                            .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) =>
                    {
                        i += 4
                    }
                    _ => panic!("bad escape: {}", at()),
                },
                b'"' => panic!("unescaped quote: {}", at()),
                _ => i += 1,
            }
        }
    }
}

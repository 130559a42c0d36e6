//! The protocol cores do no I/O: none of them may depend, even
//! indirectly, on an async runtime, a socket library or a DNS stack. This
//! is what lets one core run on the simulated network and on sockets, and
//! what keeps it fuzzable. The test asks cargo for each core's normal
//! (non-dev) dependency tree.

use std::path::Path;
use std::process::Command;

/// Protocol cores: state machines and codecs, no I/O.
const CORES: &[&str] = &[
    "speermint-node",
    "speermint-sip",
    "speermint-sdp",
    "speermint-sbe",
    "speermint-identity",
    "speermint-enum",
    "speermint-route",
    "speermint-rtp",
    "speermint-fault",
    "speermint-dbe",
];

/// Crates under `reference-impl/` that are not cores, and why.
const NOT_CORES: &[(&str, &str)] = &[];

/// What a core must not pull in.
const FORBIDDEN: &[&str] = &[
    "tokio",
    "mio",
    "socket2",
    "async-std",
    "smol",
    "hickory-proto",
    "hickory-resolver",
    "hickory-server",
    "hickory-net",
    "rustls",
    "tokio-rustls",
];

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."));
    c
}

fn crates_under_reference_impl() -> Vec<String> {
    let out = cargo()
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--locked",
            "--offline",
        ])
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    let mut names: Vec<String> = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter(|p| {
            p["manifest_path"]
                .as_str()
                .is_some_and(|m| m.contains("/reference-impl/"))
        })
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn every_crate_under_reference_impl_is_classified() {
    for name in crates_under_reference_impl() {
        assert!(
            CORES.contains(&name.as_str()) || NOT_CORES.iter().any(|(n, _)| *n == name),
            "{name} is under reference-impl/ but neither a protocol core nor listed as not one: \
             add it to CORES (and keep it free of I/O) or to NOT_CORES with the reason"
        );
    }
}

#[test]
fn protocol_cores_depend_on_no_runtime_socket_or_dns_stack() {
    for core in CORES {
        let out = cargo()
            .args([
                "tree",
                "-p",
                core,
                "-e",
                "normal",
                "--prefix",
                "none",
                "--locked",
                "--offline",
            ])
            .output()
            .expect("cargo tree runs");
        assert!(
            out.status.success(),
            "{core}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let tree = String::from_utf8_lossy(&out.stdout);
        for line in tree.lines() {
            let dep = line.split(' ').next().unwrap_or_default();
            assert!(
                !FORBIDDEN.contains(&dep),
                "protocol core {core} depends on {dep}: cores take bytes and time as inputs and \
                 leave sockets and clocks to the drivers (see ARCHITECTURE.md)"
            );
        }
    }
}

//! The README's RFC 6405 walk-through as a test: `speermint serve` runs
//! `docs/rfc6405/topology.toml` on loopback, and SIPp places two calls
//! across it from the originating SSP's inside: one to a number the
//! terminating SSP serves directly, one through the indirect SSP. A SIPp
//! UAS behind the terminating SBE answers. SIPp judges each call (INVITE,
//! 180, 200, ACK and BYE through the recorded route); `.ci/test` installs
//! SIPp (Debian package sip-tester).

mod common;

use common::{Killed, files_in, repo, sipp_errors, sipp_installed};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn sipp_calls_cross_the_rfc6405_topology() {
    sipp_installed();
    let docs = repo().join("docs/rfc6405");
    let dir = tempfile::tempdir().unwrap();
    let mut serve = Killed(
        Command::new(env!("CARGO_BIN_EXE_speermint"))
            .arg("serve")
            .arg("--config")
            .arg(docs.join("topology.toml"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("speermint serve starts"),
    );
    // It prints one element per line once everything listens.
    let mut lines = BufReader::new(serve.0.stdout.take().unwrap()).lines();
    let mut elements = Vec::new();
    while elements.len() < 5 {
        match lines.next() {
            Some(Ok(l)) => elements.push(l),
            _ => {
                let mut err = String::new();
                if let Some(mut e) = serve.0.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                panic!("speermint serve stopped after {elements:?}: {err}");
            }
        }
    }
    let at = |name: &str| {
        elements
            .iter()
            .find_map(|l| l.strip_prefix(&format!("{name} udp:")))
            .unwrap_or_else(|| panic!("{name} not in {elements:?}"))
            .to_owned()
    };
    let o_sbe = at("o-ssp-sbe");
    assert_eq!(o_sbe, "127.65.10.1:5060", "{elements:?}");

    let uas = Killed(
        Command::new("sipp")
            .current_dir(dir.path())
            .arg("-sf")
            .arg(docs.join("uas.xml"))
            .args(["-i", "127.65.30.2", "-p", "5060", "-m", "2"])
            .args(["-timeout", "60s", "-nostdin", "-trace_err", "-trace_msg"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(300));
    for number in ["+19175550100", "+19175550101"] {
        let status = Command::new("sipp")
            .current_dir(dir.path())
            .arg(&o_sbe)
            .arg("-sf")
            .arg(docs.join("uac.xml"))
            .args(["-s", number, "-i", "127.65.10.2", "-p", "5060", "-m", "1"])
            .args([
                "-timeout",
                "30s",
                "-timeout_error",
                "-nostdin",
                "-trace_err",
            ])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert_eq!(
            status.code(),
            Some(0),
            "SIPp's call to {number} failed:\n{}",
            sipp_errors(dir.path())
        );
    }
    // The UAS ends after its two calls; what it received shows the path.
    let mut uas = uas;
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline && matches!(uas.0.try_wait(), Ok(None)) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = files_in(dir.path(), |n| {
        n.starts_with("uas_") && n.ends_with("messages.log")
    });
    for via in ["sbe.example.com", "sbe.example.org", "sbe.example.net"] {
        assert!(
            log.contains(&format!("Via: SIP/2.0/UDP {via}:")),
            "no INVITE at the UAS crossed {via}:\n{log}"
        );
    }
}

/// A topology that names an SSP nobody defined is refused before anything
/// starts, with its file, line and key, and exit 2.
#[test]
fn serve_names_the_file_line_and_key_of_a_bad_topology() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("topology.toml");
    std::fs::write(
        &path,
        "[[ssp]]\nname = \"o-ssp\"\ndomain = \"example.com\"\nsbe = \"127.0.0.1:0\"\ninside = \"127.0.0.2:5060\"\npeers = [\"t-ssp\"]\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_speermint"))
        .arg("serve")
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("{}:6: ssp.peers:", path.display())) && err.contains("t-ssp"),
        "{err}"
    );
}

//! What the tests that run real third-party tools (SIPp) share: a child
//! process that dies with its test, the repository root, and free ports.
// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A child process killed and reaped when the test ends, pass or panic.
pub(crate) struct Killed(pub(crate) Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The repository root.
pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Panics with the way to install SIPp when it is missing.
pub(crate) fn sipp_installed() {
    let found = Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        found,
        "SIPp is not installed: run .ci/test, or apt-get install sip-tester"
    );
}

/// Every `*errors*` file SIPp left in `dir`.
pub(crate) fn sipp_errors(dir: &Path) -> String {
    files_in(dir, |name| name.contains("error"))
}

/// The text of every file in `dir` whose name passes `pick`.
pub(crate) fn files_in(dir: &Path, pick: impl Fn(&str) -> bool) -> String {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| pick(&e.file_name().to_string_lossy()))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect()
}

/// A UDP port free on `ip` a moment ago.
pub(crate) fn free_udp(ip: &str) -> SocketAddr {
    UdpSocket::bind((ip, 0)).unwrap().local_addr().unwrap()
}

/// `count` consecutive UDP ports free on every one of `ips` a moment ago:
/// the first of them.
pub(crate) fn free_udp_range(ips: &[&str], count: u16) -> u16 {
    for _ in 0..100 {
        let first = free_udp(ips[0]).port();
        if first.checked_add(count).is_none() {
            continue;
        }
        let all_free = ips
            .iter()
            .all(|ip| (first..first + count).all(|p| UdpSocket::bind((*ip, p)).is_ok()));
        if all_free {
            return first;
        }
    }
    panic!("no {count} consecutive free UDP ports on {ips:?} in 100 tries");
}

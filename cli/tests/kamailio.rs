//! A real third-party IUT: Kamailio from Debian, configured as a peering
//! SBE by `iuts/kamailio/peering.cfg`, certified over loopback. Every
//! verdict must match `iuts/kamailio/expected.toml`, where each is argued.

use serde_json::Value;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `kamailio` from the Debian package, or a failure saying what to install.
fn kamailio() -> PathBuf {
    ["/usr/sbin/kamailio", "/usr/local/sbin/kamailio"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "kamailio not found: this test needs the Debian package `kamailio`; \
                 `.ci/test` installs it"
            )
        })
}

fn modules() -> PathBuf {
    let dirs = [
        "/usr/lib/x86_64-linux-gnu/kamailio/modules",
        "/usr/lib/aarch64-linux-gnu/kamailio/modules",
        "/usr/lib/kamailio/modules",
    ];
    dirs.iter()
        .map(PathBuf::from)
        .find(|p| p.join("tm.so").is_file())
        .expect("kamailio's modules (tm.so) in a Debian module directory")
}

struct Kamailio {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

/// Kamailio forks helper processes (timers) even with `-D`; killing the
/// main one alone leaves them running. It runs in a process group of its
/// own, and the whole group is stopped: SIGTERM, then SIGKILL after 3 s.
impl Drop for Kamailio {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let signal = |sig: &str| {
            let _ = Command::new("kill")
                .args([sig, "--", &group])
                .stderr(Stdio::null())
                .status();
        };
        signal("-TERM");
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        signal("-KILL");
        let _ = self.child.wait();
    }
}

/// The calls at once peering.cfg lets the peer have in these tests.
const KAMAILIO_PEER_SESSIONS: u32 = 10;

/// A port free for UDP on `ip` right now.
fn free_udp(ip: &str) -> SocketAddr {
    UdpSocket::bind((ip, 0)).unwrap().local_addr().unwrap()
}

/// Starts Kamailio for a peer at `peer` forwarding to `next_hop`, and
/// waits until it answers an OPTIONS (a 403: the prober is no peer).
fn start(peer: &str, inside: &str, next_hop: SocketAddr, sessions: Option<u32>) -> Kamailio {
    start_with(peer, inside, next_hop, sessions, false)
}

/// [`start`], with topoh masking the topology when `hide` is set.
fn start_with(
    peer: &str,
    inside: &str,
    next_hop: SocketAddr,
    sessions: Option<u32>,
    hide: bool,
) -> Kamailio {
    let mut limit: Vec<String> = sessions
        .map(|n| vec!["-A".to_owned(), format!("PEER_SESSIONS={n}")])
        .unwrap_or_default();
    if hide {
        limit.extend(["-A".to_owned(), "TOPOLOGY_HIDING=\"127.0.0.1\"".to_owned()]);
    }
    for _ in 0..3 {
        let addr = free_udp("127.0.0.1");
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(kamailio())
            .arg("-f")
            .arg(repo().join("iuts/kamailio/peering.cfg"))
            .arg("-L")
            .arg(modules())
            .arg("-Y")
            .arg(dir.path())
            .args(["-D", "-E", "-A"])
            .arg(format!("LISTEN=udp:{addr}"))
            .arg("-A")
            .arg(format!("PEER_IP=\"{peer}\""))
            .arg("-A")
            .arg(format!("INSIDE_IP=\"{inside}\""))
            .arg("-A")
            .arg(format!("NEXT_HOP=\"sip:{next_hop}\""))
            // The dialog module's per-peer call limit (RFC 6404 §4.9).
            .args(&limit)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("kamailio starts");
        let k = Kamailio {
            child,
            addr,
            _dir: dir,
        };
        if answers(addr) {
            return k;
        }
    }
    panic!("kamailio did not answer OPTIONS on three ports in a row");
}

fn answers(addr: SocketAddr) -> bool {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let me = s.local_addr().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        let probe = format!(
            "OPTIONS sip:{addr} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKkamprobe{}\r\nMax-Forwards: 70\r\nFrom: <sip:probe@{me}>;tag=p\r\nTo: <sip:{addr}>\r\nCall-ID: kamprobe@{me}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
            Instant::now().elapsed().as_nanos()
        );
        let _ = s.send_to(probe.as_bytes(), addr);
        if let Ok((n, _)) = s.recv_from(&mut buf) {
            if buf[..n].starts_with(b"SIP/2.0 ") {
                return true;
            }
        }
    }
    false
}

#[test]
fn kamailio_as_a_peering_sbe_gets_the_verdicts_argued_in_expected_toml() {
    let expected: toml::Table = toml::from_str(
        &std::fs::read_to_string(repo().join("iuts/kamailio/expected.toml")).unwrap(),
    )
    .unwrap();
    let expected = expected["checks"].as_table().unwrap();
    let (peer, stranger, inside) = ("127.0.0.12", "127.0.0.13", "127.0.0.14");
    let next_hop = free_udp(inside);
    let kam = start(peer, inside, next_hop, Some(KAMAILIO_PEER_SESSIONS));
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("kamailio.json");
    let out = assert_cmd::Command::cargo_bin("speermint")
        .unwrap()
        .arg("certify")
        .arg("--target")
        .arg(format!("udp:{}", kam.addr))
        // Kamailio's calls leave from its one listening address.
        .arg("--egress")
        .arg(kam.addr.ip().to_string())
        .arg("--peer-sessions")
        .arg(KAMAILIO_PEER_SESSIONS.to_string())
        // The harness plays the SSP's resource-list server inside; the
        // border only relays its list subscriptions (RFC 6271 #13).
        .args(["--offers", "rls"])
        .args(["--peer", peer, "--stranger", stranger, "--next-hop"])
        .arg(next_hop.to_string())
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap())
        .unwrap_or_else(|e| panic!("no report ({e}):\n{table}"));
    let checks = report["checks"].as_array().unwrap();
    let mut wrong = Vec::new();
    for c in checks {
        let id = c["id"].as_str().unwrap();
        let got = c["verdict"].as_str().unwrap();
        let Some(want) = expected.get(id) else {
            wrong.push(format!(
                "{id}: {got}, but expected.toml has no entry for it"
            ));
            continue;
        };
        let reason = c["reason"].as_str().unwrap_or_default();
        for part in want
            .get("reason_contains")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
        {
            let part = part.as_str().unwrap();
            if !reason.contains(part) {
                wrong.push(format!("{id}: the reason does not name {part:?}: {reason}"));
            }
        }
        let want = want["verdict"].as_str().unwrap();
        if got != want {
            wrong.push(format!("{id}: {got} ({reason}), expected {want}"));
        }
    }
    assert_eq!(
        checks.len(),
        expected.len(),
        "expected.toml lists checks that did not run\n{table}"
    );
    assert!(wrong.is_empty(), "{}\n\n{table}", wrong.join("\n"));
    drop(kam);
}

/// `speermint load` against Kamailio: a short clean step, so the
/// throughput benchmark is known to work on a third-party SBE (its Record-
/// Route, its loose routing of the ACK and BYE).
#[test]
fn kamailio_carries_a_short_load_step() {
    let (peer, inside) = ("127.0.0.32", "127.0.0.34");
    let next_hop = free_udp(inside);
    let kam = start(peer, inside, next_hop, None);
    let out = assert_cmd::Command::cargo_bin("speermint")
        .unwrap()
        .args(["load", "--target"])
        .arg(format!("udp:{}", kam.addr))
        .args(["--peer", peer, "--next-hop"])
        .arg(next_hop.to_string())
        .args(["--rates", "100", "--step-secs", "1", "--json", "-"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("highest clean rate: 100 calls/s"), "{text}");
    assert!(text.contains("\"succeeded\": 100"), "{text}");
}

/// Kamailio with topoh claims topology hiding (RFC 6404 §4.10): its
/// masking of Via, Record-Route, Contact and Call-ID holds, dialogs keep
/// working both ways, and the check finds what topoh does not cover, the
/// SDP origin, which names the inside user agent's address.
#[test]
fn kamailio_with_topoh_hides_its_headers_but_not_the_sdp_origin() {
    let (peer, stranger, inside) = ("127.0.0.42", "127.0.0.43", "127.0.0.44");
    let next_hop = free_udp(inside);
    let kam = start_with(peer, inside, next_hop, None, true);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("topoh.json");
    let out = assert_cmd::Command::cargo_bin("speermint")
        .unwrap()
        .arg("certify")
        .arg("--target")
        .arg(format!("udp:{}", kam.addr))
        .args([
            "--offers",
            "topology-hiding",
            "--only",
            "topology-hidden-from-peers",
        ])
        .args(["--peer", peer, "--stranger", stranger, "--next-hop"])
        .arg(next_hop.to_string())
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap())
        .unwrap_or_else(|e| panic!("no report ({e}):\n{table}"));
    let check = &report["checks"][0];
    assert_eq!(check["id"], "topology-hidden-from-peers", "{table}");
    let reason = check["reason"].as_str().unwrap_or_default();
    assert_eq!(check["verdict"], "fail", "{reason}\n{table}");
    assert!(
        reason.contains("the inside's names reached the peer"),
        "{reason}"
    );
    assert!(reason.contains("10.99.0.7 in SDP o= line"), "{reason}");
    for masked in [
        " in Via ",
        " in Contact ",
        " in Call-ID ",
        " in Record-Route ",
    ] {
        assert!(!reason.contains(masked), "topoh masks these: {reason}");
    }
    drop(kam);
}

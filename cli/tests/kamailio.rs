//! A real third-party IUT: Kamailio from Debian, configured as a peering
//! SBE by `iuts/kamailio/peering.cfg`, certified over loopback. Every
//! verdict must match `iuts/kamailio/expected.toml`, where each is argued;
//! with rtpengine (Debian's `rtpengine-daemon`) as its DBE, so must the
//! media checks' verdicts.

mod common;

use common::{free_udp, free_udp_range, repo};
use serde_json::Value;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

/// Stops `child` and every process of its group (it was started as the
/// leader of a group of its own): SIGTERM, then SIGKILL after 3 s.
fn stop_group(child: &mut Child) {
    let group = format!("-{}", child.id());
    let signal = |sig: &str| {
        let _ = Command::new("kill")
            .args([sig, "--", &group])
            .stderr(Stdio::null())
            .status();
    };
    signal("-TERM");
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    signal("-KILL");
    let _ = child.wait();
}

/// Kamailio forks helper processes (timers) even with `-D`; killing the
/// main one alone leaves them running, so the whole group is stopped.
impl Drop for Kamailio {
    fn drop(&mut self) {
        stop_group(&mut self.child);
    }
}

/// The calls at once peering.cfg lets the peer have in these tests.
const KAMAILIO_PEER_SESSIONS: u32 = 10;

/// Starts Kamailio for a peer at `peer` forwarding to `next_hop`, and
/// waits until it answers an OPTIONS (a 403: the prober is no peer).
/// `sessions` turns on the dialog module's per-peer call limit (RFC 6404
/// §4.9).
fn start(peer: &str, inside: &str, next_hop: SocketAddr, sessions: Option<u32>) -> Kamailio {
    let limit = sessions.map(|n| format!("PEER_SESSIONS={n}"));
    start_with(peer, inside, next_hop, limit.as_slice())
}

/// [`start`] with these optional defines of peering.cfg (each an `-A`).
fn start_with(peer: &str, inside: &str, next_hop: SocketAddr, defines: &[String]) -> Kamailio {
    let defines: Vec<&str> = defines.iter().flat_map(|d| ["-A", d.as_str()]).collect();
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
            .args(&defines)
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
    let expected = expected("checks");
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
    assert_verdicts(&out.stdout, &json, &expected);
    drop(kam);
}

/// The table of expected verdicts `name` of `iuts/kamailio/expected.toml`.
fn expected(name: &str) -> toml::Table {
    let file: toml::Table = toml::from_str(
        &std::fs::read_to_string(repo().join("iuts/kamailio/expected.toml")).unwrap(),
    )
    .unwrap();
    file[name].as_table().unwrap().clone()
}

/// Every check of the JSON report at `json` got the verdict `expected`
/// gives it, with a reason naming each of its `reason_contains`, and every
/// check `expected` lists ran. `table` is certify's output, for the
/// failure message.
fn assert_verdicts(table: &[u8], json: &Path, expected: &toml::Table) {
    let table = String::from_utf8_lossy(table);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(json).unwrap_or_default())
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
    let kam = start_with(
        peer,
        inside,
        next_hop,
        &["TOPOLOGY_HIDING=\"127.0.0.1\"".to_owned()],
    );
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

/// `rtpengine` from the Debian package `rtpengine-daemon`, or a failure
/// saying what to install.
fn rtpengine_bin() -> PathBuf {
    ["/usr/bin/rtpengine", "/usr/sbin/rtpengine"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "rtpengine not found: this test needs the Debian package `rtpengine-daemon`; \
                 `.ci/test` installs it"
            )
        })
}

/// The DBE address rtpengine gives peers (its logical interface `peers`)
/// and the one it gives the inside (`inside`), as peering.cfg names them.
const RTPENGINE_PEERS: &str = "127.0.0.30";
const RTPENGINE_INSIDE: &str = "127.0.0.31";

/// rtpengine in userspace, on its own loopback addresses, in a process
/// group of its own (stopped like Kamailio's); nothing of the Debian
/// package's service or configuration file is used.
struct Rtpengine {
    child: Child,
    /// Its ng control socket (UDP, bencode).
    ng: SocketAddr,
}

impl Drop for Rtpengine {
    fn drop(&mut self) {
        stop_group(&mut self.child);
    }
}

impl Rtpengine {
    /// Starts rtpengine and waits until its ng control answers `ping`.
    fn start() -> Rtpengine {
        for _ in 0..3 {
            let ng = free_udp(RTPENGINE_PEERS);
            // RTP and RTCP of a stream on each interface: a few calls'
            // worth, free on both addresses a moment ago (rtpengine skips a
            // port it cannot bind).
            let first = free_udp_range(&[RTPENGINE_PEERS, RTPENGINE_INSIDE], 64);
            let child = Command::new(rtpengine_bin())
                .args(rtpengine_args(ng, first))
                .process_group(0)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("rtpengine starts");
            let r = Rtpengine { child, ng };
            if pongs(ng) {
                return r;
            }
        }
        panic!("rtpengine did not answer ng ping on three ports in a row");
    }
}

/// The command line: no configuration file (not the package's), no kernel
/// forwarding (`--table=-1`: userspace, no kernel module needed), in the
/// foreground, the two interfaces peering.cfg's `direction=` flags name,
/// ports `first..first+63`, ng control at `ng`, logs to stderr. Every
/// media-handling setting is rtpengine's default.
fn rtpengine_args(ng: SocketAddr, first: u16) -> Vec<String> {
    vec![
        "--config-file=none".into(),
        "--table=-1".into(),
        "--foreground".into(),
        "--log-stderr".into(),
        format!("--interface=peers/{RTPENGINE_PEERS}"),
        format!("--interface=inside/{RTPENGINE_INSIDE}"),
        format!("--listen-ng={ng}"),
        format!("--port-min={first}"),
        format!("--port-max={}", first + 63),
    ]
}

/// Whether rtpengine at `ng` answers the ng protocol's `ping` with `pong`
/// within 5 s: a cookie, a space, then a bencoded dictionary each way.
fn pongs(ng: SocketAddr) -> bool {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 512];
    while Instant::now() < deadline {
        let _ = s.send_to(b"speermint d7:command4:pinge", ng);
        if let Ok((n, _)) = s.recv_from(&mut buf) {
            if buf[..n] == *b"speermint d6:result4:ponge" {
                return true;
            }
        }
    }
    false
}

/// Kamailio with `MEDIA_RELAY`, rtpengine its DBE, certified with the
/// media-relay capability and rtpengine's peer-facing address as the
/// declared DBE: the media checks' verdicts must be those of the
/// `rtpengine` table of expected.toml, where each is argued.
#[test]
fn kamailio_with_rtpengine_gets_the_media_verdicts_argued_in_expected_toml() {
    let expected = expected("rtpengine");
    let rtpe = Rtpengine::start();
    let (peer, stranger, inside) = ("127.0.0.52", "127.0.0.53", "127.0.0.54");
    let next_hop = free_udp(inside);
    let kam = start_with(
        peer,
        inside,
        next_hop,
        &[format!("MEDIA_RELAY=\"udp:{}\"", rtpe.ng)],
    );
    let dir = tempfile::tempdir().unwrap();
    // The declared DBE is a profile's (target.media_relay). rtpengine
    // relays within a millisecond on loopback, so 100 ms of silence says
    // a packet is not coming; the default 300 ms would triple the time.
    let profile = dir.path().join("kamailio-rtpengine.toml");
    std::fs::write(
        &profile,
        format!(
            "[target]\naddress = \"udp:{}\"\nmedia_relay = [\"{RTPENGINE_PEERS}\"]\n\n\
             [timing]\nsilence_ms = 100\n",
            kam.addr
        ),
    )
    .unwrap();
    let json = dir.path().join("rtpengine.json");
    let out = assert_cmd::Command::cargo_bin("speermint")
        .unwrap()
        .arg("certify")
        .arg("--profile")
        .arg(&profile)
        .args(["--only", "media-relay"])
        .args(["--peer", peer, "--stranger", stranger, "--next-hop"])
        .arg(next_hop.to_string())
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    assert_verdicts(&out.stdout, &json, &expected);
    drop(kam);
    drop(rtpe);
}

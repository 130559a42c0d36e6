//! A SIPp call with audio through `speermint sbe --media-relay` (RFC 6406
//! §5.3): SIPp's UAC plays one second of PCMU (`docs/media/uac-rtp.xml`,
//! 50 RTP packets), SIPp's UAS echoes every packet back (`-rtp_echo`), and
//! the SBE's DBE stands between them. SIPp judges the signalling; the SDP
//! each side received shows the relay, not the other endpoint (RFC 6271
//! #3); the SBE's per-stream log line shows every packet crossed both
//! ways and nothing was dropped. `.ci/test` installs SIPp (Debian package
//! sip-tester).

mod common;

use common::{Killed, files_in, free_udp, free_udp_range, repo, sipp_errors, sipp_installed};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What one side's packets came to, read back from the SBE's log line.
#[derive(Debug, PartialEq, Eq)]
struct Side {
    relayed: u64,
    strangers: u64,
    malformed: u64,
    over_rate: u64,
    unrouted: u64,
}

/// Parses "N relayed (B bytes), dropped: S from strangers, M malformed,
/// O over rate, U unrouted" at the start of `s`.
fn side(s: &str) -> Side {
    let num = |after: &str, before: &str| -> u64 {
        let from = s.find(after).map(|i| i + after.len()).unwrap_or(0);
        let rest = &s[from..];
        let to = rest
            .find(before)
            .unwrap_or_else(|| panic!("{before:?} in {s:?}"));
        rest[..to]
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{s:?}"))
    };
    Side {
        relayed: num("", " relayed"),
        strangers: num("dropped: ", " from strangers"),
        malformed: num("strangers, ", " malformed"),
        over_rate: num("malformed, ", " over rate"),
        unrouted: num("over rate, ", " unrouted"),
    }
}

#[test]
fn a_sipp_call_with_rtp_crosses_the_sbe_and_its_dbe() {
    sipp_installed();
    let dir = tempfile::tempdir().unwrap();
    for f in ["uac-rtp.xml", "tone-400hz.ulaw"] {
        std::fs::copy(repo().join("docs/media").join(f), dir.path().join(f)).unwrap();
    }
    let (peer_relay, inside_relay) = ("127.0.0.1", "127.0.0.3");
    let sbe_addr = free_udp("127.0.0.1");
    let uas_sip = free_udp("127.0.0.4");
    let uas_media = free_udp("127.0.0.4");
    let uac_sip = free_udp("127.0.0.2");
    let uac_media = free_udp("127.0.0.2");
    let first = free_udp_range(&[peer_relay, inside_relay], 8);
    let ports = format!("{first}-{}", first + 7);

    let mut sbe = Killed(
        Command::new(env!("CARGO_BIN_EXE_speermint"))
            .args(["sbe", "--listen", &sbe_addr.to_string()])
            .args(["--peer", "127.0.0.2", "--next-hop", &uas_sip.to_string()])
            .args(["--media-relay", peer_relay, "--media-relay", inside_relay])
            .args(["--media-ports", &ports])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (tx, lines) = mpsc::channel();
    let out = sbe.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let mut wait_for = |prefix: &str, within: Duration| -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(l) if l.starts_with(prefix) => return l,
                Ok(l) => seen.push(l),
                Err(_) => panic!("no {prefix:?} line from speermint sbe, only {seen:?}"),
            }
        }
    };
    wait_for("relaying media on", Duration::from_secs(30));

    let uas = Killed(
        Command::new("sipp")
            .current_dir(dir.path())
            .args(["-sn", "uas", "-i", "127.0.0.4", "-p"])
            .arg(uas_sip.port().to_string())
            .args(["-mi", "127.0.0.4", "-mp"])
            .arg(uas_media.port().to_string())
            .args(["-rtp_echo", "-m", "1", "-timeout", "30s", "-nostdin"])
            .args(["-trace_msg", "-trace_err"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(300));
    let status = Command::new("sipp")
        .current_dir(dir.path())
        .arg(sbe_addr.to_string())
        .args(["-sf", "uac-rtp.xml", "-s", "echo", "-i", "127.0.0.2", "-p"])
        .arg(uac_sip.port().to_string())
        .args(["-mi", "127.0.0.2", "-mp"])
        .arg(uac_media.port().to_string())
        .args(["-m", "1", "-timeout", "30s", "-timeout_error", "-nostdin"])
        .args(["-trace_msg", "-trace_err"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "SIPp's call failed:\n{}",
        sipp_errors(dir.path())
    );

    // Each side was told the relay's address on its side, never the other
    // endpoint's.
    let uas_log = files_in(dir.path(), |n| {
        n.starts_with("uas_") && n.ends_with("messages.log")
    });
    let uac_log = files_in(dir.path(), |n| {
        n.starts_with("uac-rtp_") && n.ends_with("messages.log")
    });
    assert!(
        uas_log.contains(&format!("c=IN IP4 {inside_relay}")),
        "{uas_log}"
    );
    assert!(!uas_log.contains("c=IN IP4 127.0.0.2"), "{uas_log}");
    assert!(
        uac_log.contains(&format!("c=IN IP4 {peer_relay}")),
        "{uac_log}"
    );
    assert!(!uac_log.contains("c=IN IP4 127.0.0.4"), "{uac_log}");

    // The BYE released the stream; its counters went to the log.
    let ended = wait_for("media: call ", Duration::from_secs(10));
    assert!(ended.contains("m=0 ended (released)"), "{ended}");
    let (_, rest) = ended.split_once("from the peers' side ").unwrap();
    let (from_peer, from_inside) = rest.split_once("; from the inside ").unwrap();
    let clean = |relayed| Side {
        relayed,
        strangers: 0,
        malformed: 0,
        over_rate: 0,
        unrouted: 0,
    };
    // 50 packets of tone from the UAC, each echoed once by the UAS.
    assert_eq!(side(from_peer), clean(50), "{ended}");
    assert_eq!(side(from_inside), clean(50), "{ended}");
    drop(uas);
}

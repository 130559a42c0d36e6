//! Interop with a real SIP stack: SIPp's built-in UAC, as the authorised
//! peer, places calls through the reference SBE to SIPp's built-in UAS, its
//! next hop. SIPp judges the calls (INVITE/180/200/ACK/BYE/200), so a
//! relaying bug shows as a failed call. `.ci/test` installs SIPp
//! (Debian package sip-tester).

use speermint_border::RunningSbe;
use speermint_sbe::{Event, SbeConfig};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CALLS: usize = 20;

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port(ip: &str) -> SocketAddr {
    UdpSocket::bind((ip, 0)).unwrap().local_addr().unwrap()
}

fn sipp() -> Command {
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
    Command::new("sipp")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_calls_cross_the_reference_sbe() {
    sipp_calls(1, "127.0.0.11", "127.0.0.12", "127.0.0.14").await;
}

/// Two cores on one shared port: the kernel spreads the datagrams by
/// address pair, the workers hand each call to its owner, and every call
/// still completes with each message relayed once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_calls_cross_two_workers() {
    sipp_calls(2, "127.0.0.21", "127.0.0.22", "127.0.0.24").await;
}

async fn sipp_calls(workers: usize, sbe_ip: &str, uac_ip: &str, uas_ip: &str) {
    let dir = tempfile::tempdir().unwrap();
    let uas_addr = free_port(uas_ip);
    let uac_addr = free_port(uac_ip);
    let bind = format!("{sbe_ip}:0").parse().unwrap();
    let config = move |local| SbeConfig::new(local, vec![uac_addr.ip()], uas_addr);
    let mut sbe = if workers == 1 {
        RunningSbe::start_udp(bind, config).await
    } else {
        RunningSbe::start_workers(bind, workers, config, None).await
    }
    .unwrap();

    let _uas = Killed(
        sipp()
            .current_dir(dir.path())
            .args([
                "-sn",
                "uas",
                "-i",
                uas_ip,
                "-p",
                &uas_addr.port().to_string(),
            ])
            .args([
                "-m",
                &CALLS.to_string(),
                "-timeout",
                "60s",
                "-nostdin",
                "-trace_err",
            ])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let uac = tokio::process::Command::new("sipp")
        .current_dir(dir.path())
        .arg(sbe.addr().to_string())
        .args([
            "-sn",
            "uac",
            "-i",
            uac_ip,
            "-p",
            &uac_addr.port().to_string(),
        ])
        .args([
            "-m",
            &CALLS.to_string(),
            "-r",
            "50",
            "-timeout",
            "60s",
            "-timeout_error",
            "-nostdin",
            "-trace_err",
            "-trace_stat",
        ])
        .stdout(Stdio::null())
        .status();
    let status = tokio::time::timeout(Duration::from_secs(90), uac)
        .await
        .expect("SIPp UAC finishes")
        .unwrap();
    let errors: String = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("error"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    assert_eq!(
        status.code(),
        Some(0),
        "SIPp reports failed calls:\n{errors}"
    );

    let events = sbe.drain_events();
    let relayed = |what: &str| {
        events
            .iter()
            .filter(|e| matches!(e, Event::Relayed { what: w, .. } if w == what))
            .count()
    };
    assert_eq!(relayed("INVITE"), CALLS);
    assert_eq!(relayed("BYE"), CALLS);
    assert_eq!(relayed("ACK"), CALLS);
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::Answered { status: 400.., .. })),
        "{events:?}"
    );
    sbe.stop().await;
}

//! The `speermint` binary, end to end over loopback.

mod common;

use assert_cmd::Command;
use common::Killed;
use serde_json::Value;
use speermint_corpora::torture::rfc4475;
use std::io::{BufRead, BufReader};
use std::process::Stdio;

fn speermint() -> Command {
    Command::cargo_bin("speermint").expect("binary built")
}

fn read_json(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn certify_against_the_embedded_stack_passes_and_writes_reports() {
    let dir = tempfile::tempdir().unwrap();
    let (json, junit) = (dir.path().join("r.json"), dir.path().join("r.xml"));
    let out = speermint()
        .args(["certify", "--json"])
        .arg(&json)
        .arg("--junit")
        .arg(&junit)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{table}");
    assert!(table.contains("42 checks: 42 pass, 0 fail"), "{table}");
    let r = read_json(&json);
    assert!(
        r["target"]
            .as_str()
            .unwrap()
            .starts_with("embedded reference SBE")
    );
    assert_eq!(
        r["summary"],
        serde_json::json!({"pass": 42, "fail": 0, "warn": 0, "inconclusive": 0, "not_applicable": 0})
    );
    for c in r["checks"].as_array().unwrap() {
        for key in [
            "id",
            "covers",
            "verdict",
            "reason",
            "evidence",
            "duration_ms",
        ] {
            assert!(!c[key].is_null(), "check lacks {key}: {c}");
        }
        assert!(!c["evidence"].as_array().unwrap().is_empty());
    }
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<testsuites")
            && xml.contains("tests=\"42\"")
            && xml.contains("failures=\"0\"")
            // The check id is the class; the suite name has no ephemeral port.
            && xml.contains("classname=\"ingress-filtering\"")
            && xml.contains("<testsuite name=\"embedded reference SBE\""),
        "{xml}"
    );
}

#[test]
fn a_misbehaving_stack_fails_with_evidence_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let out = speermint()
        .args([
            "certify",
            "--misbehave",
            "strip-unknown-sdp",
            "--only",
            "sdp-attributes-untouched",
            "--json",
        ])
        .arg(&json)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let r = read_json(&json);
    let c = &r["checks"][0];
    assert_eq!(c["verdict"], "fail");
    assert!(
        c["reason"].as_str().unwrap().contains("a=crypto"),
        "{}",
        c["reason"]
    );
    assert!(
        r["target"]
            .as_str()
            .unwrap()
            .contains("misbehaving: strip-unknown-sdp")
    );
}

#[test]
fn bad_usage_and_bad_config_exit_2_naming_file_line_and_key() {
    let out = speermint()
        .args(["certify", "--no-such-flag"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = speermint()
        .args(["certify", "--misbehave", "be-evil"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown misbehaviour switch \"be-evil\"")
    );
    // A DBE fault is the embedded stack's like any other: the media check
    // that looks for it fails (exit 1), it is not a usage error.
    let out = speermint()
        .args([
            "certify",
            "--misbehave",
            "latch-any-source",
            "--only",
            "srtp-intact-and-unforgeable",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("reached the endpoints"));

    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("iut.toml");
    std::fs::write(
        &profile,
        "[target]\naddress = \"udp:127.0.0.1:5060\"\n\n[roles]\nterminating = \"127.0.0.1:nope\"\n",
    )
    .unwrap();
    let out = speermint()
        .arg("certify")
        .arg("--profile")
        .arg(&profile)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:5: roles.terminating:", profile.display())),
        "{err}"
    );
}

#[test]
fn parse_reports_each_file_as_the_manifest_says() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![];
    for e in rfc4475() {
        let p = dir.path().join(&e.file);
        std::fs::write(&p, e.bytes()).unwrap();
        args.push(p);
    }
    let lf = dir.path().join("bare-lf.sip");
    std::fs::write(
        &lf,
        b"OPTIONS sip:a@example.com SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\n\n",
    )
    .unwrap();
    args.push(lf);
    let out = speermint()
        .args(["parse", "--json"])
        .args(&args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "some files are invalid");
    let lines: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    assert_eq!(lines.len(), args.len());
    for (e, line) in rfc4475().iter().zip(&lines) {
        assert_eq!(line["verdict"], e.verdict.as_str(), "{}", e.file);
        assert_eq!(line["kind"], e.kind.as_str(), "{}", e.file);
        if e.verdict == "invalid" {
            assert!(
                line["error"]["offset"].is_u64() && line["error"]["reason"].is_string(),
                "{line}"
            );
        }
    }
    let last = lines.last().unwrap();
    assert_eq!(last["verdict"], "invalid");
    assert_eq!(last["error"]["offset"], 33);
    assert!(
        last["error"]["reason"]
            .as_str()
            .unwrap()
            .contains("bare LF")
    );

    let out = speermint()
        .arg("parse")
        .arg(args.last().unwrap())
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("bare-lf.sip:1:34: invalid request: bare LF")
    );
}

#[test]
fn matrix_lists_every_requirement_with_checks_or_reasons() {
    let out = speermint().args(["matrix", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    for n in 1..=17 {
        assert!(
            rows.iter()
                .any(|r| r["requirement"] == format!("RFC6271-R{n}")),
            "R{n}"
        );
    }
    let r17 = rows
        .iter()
        .find(|r| r["requirement"] == "RFC6271-R17")
        .unwrap();
    assert_eq!(
        r17["checks"],
        serde_json::json!(["sdp-attributes-untouched"])
    );
    let r12 = rows
        .iter()
        .find(|r| r["requirement"] == "RFC6271-R12")
        .unwrap();
    assert!(r12["status"].as_str().unwrap().starts_with("declared"));
    // RFC 5344's use cases are rows too: played by checks, or explained.
    let list = rows
        .iter()
        .find(|r| r["requirement"] == "RFC5344-2.2")
        .unwrap();
    assert_eq!(
        list["checks"],
        serde_json::json!(["resource-list-subscription"])
    );
    let clearing_house = rows
        .iter()
        .find(|r| r["requirement"] == "RFC5344-2.7")
        .unwrap();
    assert!(
        clearing_house["status"]
            .as_str()
            .unwrap()
            .starts_with("planned")
    );
}

/// `speermint sbe` as a separate process, its peer 127.0.0.5 and its next
/// hop a free port on `next_ip`, with `extra` arguments. Returns the next
/// hop, the process (killed on drop) and the first `lines` lines it prints
/// (its `listening on ...` addresses).
fn spawn_sbe(
    next_ip: &str,
    extra: &[std::ffi::OsString],
    lines: usize,
) -> (std::net::SocketAddr, Killed, Vec<String>) {
    let next_hop = std::net::UdpSocket::bind((next_ip, 0))
        .unwrap()
        .local_addr()
        .unwrap();
    let bin = assert_cmd::cargo::cargo_bin("speermint");
    let mut child = Killed(
        std::process::Command::new(bin)
            .args([
                "sbe",
                "--listen",
                "127.0.0.1:0",
                "--peer",
                "127.0.0.5",
                "--next-hop",
            ])
            .arg(next_hop.to_string())
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    let printed = (0..lines)
        .map(|_| {
            let mut l = String::new();
            out.read_line(&mut l).unwrap();
            l.trim().to_string()
        })
        .collect();
    (next_hop, child, printed)
}

/// `--target` against the reference SBE running as a separate process,
/// with roles on their own loopback addresses.
#[test]
fn certify_an_external_target() {
    let (next_hop, _child, listening) = spawn_sbe("127.0.0.6", &[], 1);
    let target = listening[0]
        .strip_prefix("listening on ")
        .expect("prints its address")
        .to_string();
    let out = speermint()
        .args([
            "certify",
            "--target",
            &target,
            "--peer",
            "127.0.0.5",
            "--stranger",
            "127.0.0.7",
            "--next-hop",
        ])
        .arg(next_hop.to_string())
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    // The SIP checks pass; the LUF/LRF and TLS checks need capabilities a
    // plain SBE was not declared to offer: not applicable, and exit 0.
    assert_eq!(
        out.status.code(),
        Some(0),
        "{table}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        table.contains(&format!("target: {target}"))
            && table
                .contains("42 checks: 9 pass, 1 warn, 0 fail, 0 inconclusive, 32 not applicable"),
        "{table}"
    );
    assert!(table.contains("the IUT does not offer dns-role"), "{table}");
    // Presence and IM cross a plain proxy; a resource list only where the
    // IUT says its SSP serves them (RFC 6271 #13).
    assert!(
        table.lines().any(|l| l.starts_with("NOT-APPLICABLE")
            && l.contains("resource-list-subscription")
            && l.contains("the IUT does not offer rls")),
        "{table}"
    );
    // Started without --hostname, the SBE names itself by address: a
    // SHOULD of RFC 6271 #7 not followed, reported, and still exit 0.
    assert!(
        table.lines().any(|l| l.starts_with("WARN")
            && l.contains("own-uris-by-name")
            && l.contains("named itself by address")),
        "{table}"
    );
    // Declared but not configured (no DNS role to resolve through): the
    // checks cannot be observed, which is never a pass.
    let out = speermint()
        .args([
            "certify", "--target", &target, "--offers", "dns-role", "--only", "dns-role",
        ])
        .args([
            "--skip",
            "tls",
            "--peer",
            "127.0.0.5",
            "--stranger",
            "127.0.0.7",
            "--next-hop",
        ])
        .arg(next_hop.to_string())
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{table}");
    assert!(
        table.contains("12 checks: 0 pass, 0 fail, 9 inconclusive, 3 not applicable"),
        "{table}"
    );
    assert!(
        table.contains("no DNS role the IUT resolves through"),
        "{table}"
    );
}

/// `--target tcp:` and `tls:` against the reference SBE as a separate
/// process: every role opens its own connection to it, and every check
/// that does not need datagrams runs over the stream.
#[test]
fn certify_an_external_target_over_tcp_and_tls() {
    use speermint_harness::pki::{TestPki, cert_pem, pkcs8_pem};
    let dir = tempfile::tempdir().unwrap();
    let p = |f: &str| dir.path().join(f);
    let pki = TestPki::new().unwrap();
    let (chain, key) = pki.issue(&["sbc.operator.example"]).unwrap();
    std::fs::write(p("ca.pem"), cert_pem(&pki.ca_der())).unwrap();
    std::fs::write(
        p("sbe.pem"),
        chain.iter().map(|c| cert_pem(c)).collect::<String>(),
    )
    .unwrap();
    std::fs::write(p("sbe.key"), pkcs8_pem(&key)).unwrap();
    let args: Vec<std::ffi::OsString> = [
        "--tcp-listen".into(),
        "127.0.0.1:0".into(),
        "--tls-listen".into(),
        "127.0.0.1:0".into(),
        "--tls-cert".into(),
        p("sbe.pem").into(),
        "--tls-key".into(),
        p("sbe.key").into(),
    ]
    .into();
    let (next_hop, _child, listening) = spawn_sbe("127.0.0.10", &args, 3);
    let tcp = listening[1]
        .strip_prefix("listening on ")
        .expect("prints its TCP address")
        .to_string();
    let tls = listening[2]
        .strip_prefix("listening on tls:")
        .expect("prints its TLS address")
        .to_string();
    assert!(tcp.starts_with("tcp:"), "{listening:?}");
    let out = speermint()
        .args(["certify", "--target", &tcp, "--peer", "127.0.0.5"])
        .args(["--stranger", "127.0.0.7", "--next-hop"])
        .arg(next_hop.to_string())
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{table}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // As over UDP, and the torture check, whose traffic is datagrams, is
    // not applicable.
    assert!(
        table.contains(&format!("target: {tcp}"))
            && table
                .contains("42 checks: 8 pass, 1 warn, 0 fail, 0 inconclusive, 33 not applicable"),
        "{table}"
    );
    assert!(
        table.lines().any(|l| l.starts_with("NOT-APPLICABLE")
            && l.contains("torture-hardening")
            && l.contains("reaches the IUT over tcp")),
        "{table}"
    );
    // TLS: the profile names the issuer to trust and the domain to verify.
    std::fs::write(
        p("iut.toml"),
        format!(
            "[target]\naddress = \"tls:{tls}\"\ndomain = \"sbc.operator.example\"\n\n[roles]\npeer = \"127.0.0.5\"\nstranger = \"127.0.0.7\"\nterminating = \"{next_hop}\"\n\n[tls]\nca = \"ca.pem\"\n"
        ),
    )
    .unwrap();
    let json = p("tls.json");
    let out = speermint()
        .args(["certify", "--profile"])
        .arg(p("iut.toml"))
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{table}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        table.contains(&format!("target: tls:{tls}"))
            && table
                .contains("42 checks: 8 pass, 1 warn, 0 fail, 0 inconclusive, 33 not applicable"),
        "{table}"
    );
    // The peer's requests crossed over TLS, naming it in their Via.
    let r = read_json(&json);
    let sent_over_tls = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["evidence"].as_array().unwrap())
        .filter(|e| e["role"] == "peer" && e["direction"] == "sent" && e["transport"] == "tls")
        .count();
    assert!(sent_over_tls > 0, "{r:#}");
    assert!(
        r["checks"][0]["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["message"].as_str().unwrap().contains("Via: SIP/2.0/TLS ")),
        "{:#}",
        r["checks"][0]
    );
    // Without the issuer, a tls: target cannot be judged: usage, exit 2.
    let out = speermint()
        .args(["certify", "--target"])
        .arg(format!("tls:{tls}"))
        .args(["--peer", "127.0.0.5", "--next-hop"])
        .arg(next_hop.to_string())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("[tls] ca"), "{err}");
}

const PEER_ZONE: &str = include_str!("../../corpora/dns/peer.example.zone");

const ENUM_ZONE: &str = include_str!("../../corpora/dns/4.4.e164.arpa.zone");

/// `speermint resolve` against the embedded server, signed, with the
/// anchors in a file: text, JSON, a failure and a forged answer.
#[test]
fn resolve_a_number_and_a_uri() {
    use speermint_dns_role::{AuthServer, Tamper, Zone};
    use speermint_resolver::RecordType;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(async {
        let peer = Zone::from_text(PEER_ZONE, None, "peer")
            .unwrap()
            .sign()
            .unwrap();
        let e = Zone::from_text(ENUM_ZONE, None, "enum")
            .unwrap()
            .sign()
            .unwrap();
        AuthServer::new()
            .zone(peer)
            .zone(e)
            .start("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap()
    });
    let dir = tempfile::tempdir().unwrap();
    let anchors = dir.path().join("anchors.keys");
    std::fs::write(&anchors, server.trust_anchor_records().join("\n")).unwrap();
    let dns = server.addr().to_string();
    let resolve = |args: &[&str]| {
        speermint()
            .args(["resolve", "--dns", &dns, "--trust-anchor"])
            .arg(&anchors)
            .args(args)
            .output()
            .unwrap()
    };

    let out = resolve(&["--json", "+44 1632 960083"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["target_uri"], "sip:+441632960083@peer.example");
    assert_eq!(v["secure"], true);
    let hops = v["next_hops"].as_array().unwrap();
    assert!(
        hops.iter()
            .all(|h| h["transport"] == "tls" && h["port"] == 5061),
        "{v}"
    );
    for addr in ["127.0.0.10", "::1"] {
        assert!(
            hops.iter()
                .any(|h| h["address"] == addr && h["host"] == "sbe.peer.example"),
            "{addr}: {v}"
        );
    }
    let steps: Vec<&str> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    for want in ["query", "answer", "rewrite", "naptr", "srv", "hop"] {
        assert!(steps.contains(&want), "{want} missing: {steps:?}");
    }

    let out = resolve(&["sips:peer.example"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("tls sbe.peer.example 127.0.0.10:5061"),
        "{text}"
    );
    assert!(text.contains("tls sbe.peer.example [::1]:5061"), "{text}");
    assert!(text.contains("secure      yes"), "{text}");

    let out = resolve(&["--json", "+441632960084"]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["kind"], "not-in-enum", "{v}");

    rt.block_on(server.tamper(
        "sbe.peer.example",
        RecordType::A,
        Tamper::forge(&["127.0.0.66"]),
    ))
    .unwrap();
    let out = resolve(&["--json", "sip:peer.example"]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["kind"], "dnssec", "{v}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("127.0.0.66"));

    // A broken anchor file is a usage error naming file and line.
    std::fs::write(
        &anchors,
        "peer.example. IN DNSKEY 257 3 13 AAAA\npeer.example. IN TXT \"x\"\n",
    )
    .unwrap();
    let out = resolve(&["sip:peer.example"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("anchors.keys:2: "), "{err}");
    rt.block_on(server.stop());
}

/// `speermint dns` refuses a bad zone file with its file, line and reason.
#[test]
fn dns_refuses_a_bad_zone_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let zone = dir.path().join("bad.zone");
    std::fs::write(
        &zone,
        "$ORIGIN bad.example.\n$TTL 60\n@ IN SOA ns hm 1 2 3 4 5\nwww IN A 1.2.3\n",
    )
    .unwrap();
    let out = speermint()
        .args(["dns", "--listen", "127.0.0.1:0", "--zone"])
        .arg(&zone)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.zone:4: "), "{err}");
}

/// A loopback port free for both UDP and TCP a moment ago.
fn free_port(ip: &str) -> std::net::SocketAddr {
    loop {
        let t = std::net::TcpListener::bind((ip, 0)).unwrap();
        let a = t.local_addr().unwrap();
        if std::net::UdpSocket::bind(a).is_ok() {
            return a;
        }
    }
}

/// An external SBE (a separate `speermint sbe` process) resolving through
/// the harness's DNS role with configured anchors, and serving TLS for its
/// own domain with a certificate from an operator's CA: every check
/// applies and passes.
#[test]
fn certify_an_external_target_with_dns_and_tls() {
    use speermint_harness::pki::{TestPki, cert_pem, pkcs8_pem};
    let dir = tempfile::tempdir().unwrap();
    let p = |f: &str| dir.path().join(f);
    // The zone key the IUT's anchors are made from, kept across runs.
    let out = speermint()
        .args(["dns-key", "--key"])
        .arg(p("zone-key.pem"))
        .arg("--anchors")
        .arg(p("anchors.keys"))
        .args(["--domain", "sbc.operator.example"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let anchors = std::fs::read_to_string(p("anchors.keys")).unwrap();
    assert_eq!(anchors.matches(" DNSKEY 257 3 13 ").count(), 3, "{anchors}");
    // The operator's CA and the SBE's certificate for its domain.
    let pki = TestPki::new().unwrap();
    let (chain, key) = pki.issue(&["sbc.operator.example"]).unwrap();
    std::fs::write(p("ca.pem"), cert_pem(&pki.ca_der())).unwrap();
    std::fs::write(
        p("sbe.pem"),
        chain.iter().map(|c| cert_pem(c)).collect::<String>(),
    )
    .unwrap();
    std::fs::write(p("sbe.key"), pkcs8_pem(&key)).unwrap();

    // An address of their own: no other test binds 127.0.0.8, so the ports
    // stay free until the harness binds them.
    let dns1 = free_port("127.0.0.8");
    let dns2 = std::iter::repeat_with(|| free_port("127.0.0.8"))
        .find(|a| *a != dns1)
        .unwrap();
    let args: Vec<std::ffi::OsString> = [
        "--dns".into(),
        dns1.to_string().into(),
        "--dns".into(),
        dns2.to_string().into(),
        "--trust-anchor".into(),
        p("anchors.keys").into(),
        "--tls-listen".into(),
        "127.0.0.1:0".into(),
        "--tls-cert".into(),
        p("sbe.pem").into(),
        "--tls-key".into(),
        p("sbe.key").into(),
        // A second peer and the limits the profile declares (RFC 6404 §4.9).
        "--peer".into(),
        "127.0.0.15".into(),
        "--peer-rate".into(),
        "20".into(),
        "--peer-sessions".into(),
        "10".into(),
        // The name the DNS role publishes for it (RFC 6271 #7).
        "--hostname".into(),
        "sbe.sbc.operator.example".into(),
        // RFC 6404 §4.10, claimed in the profile's offers.
        "--hide-topology".into(),
    ]
    .into();
    let (next_hop, child, listening) = spawn_sbe("127.0.0.9", &args, 2);
    let udp = listening[0]
        .strip_prefix("listening on udp:")
        .expect("udp address")
        .to_string();
    let tls = listening[1]
        .strip_prefix("listening on tls:")
        .expect("tls address")
        .to_string();
    std::fs::write(
        p("iut.toml"),
        format!(
            "[target]\naddress = \"udp:{udp}\"\ntls = \"{tls}\"\ndomain = \"sbc.operator.example\"\negress = [\"127.0.0.1\"]\noffers = [\"dns-role\", \"tls\", \"rate-limit\", \"session-limit\", \"egress\", \"topology-hiding\"]\n\n[roles]\npeer = \"127.0.0.5\"\nstranger = \"127.0.0.7\"\nterminating = \"{next_hop}\"\nsecond_peer = \"127.0.0.15\"\n\n[limits]\npeer_requests_per_second = 20\npeer_sessions = 10\n\n[dns]\nprimary = \"{dns1}\"\nsecondary = \"{dns2}\"\nkey = \"zone-key.pem\"\n\n[tls]\nca = \"ca.pem\"\n"
        ),
    )
    .unwrap();
    let out = speermint()
        .args(["certify", "--profile"])
        .arg(p("iut.toml"))
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{table}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        table.contains("42 checks: 24 pass, 0 fail, 0 inconclusive, 18 not applicable"),
        "{table}"
    );
    assert!(
        table.contains("sips:sbc.operator.example leads to TLS"),
        "{table}"
    );
    drop(child);
}

/// A setup fault is not a verdict: a target the roles cannot send to, or
/// one that answers nothing, ends the run with exit 3, one line naming the
/// cause, and a report that says so instead of a row of FAILs.
#[test]
fn an_unreachable_or_silent_target_is_a_setup_fault_with_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    // The README's example: a documentation address from a loopback source.
    let json = dir.path().join("unreachable.json");
    let out = speermint()
        .args([
            "certify",
            "--target",
            "udp:192.0.2.10:5060",
            "--peer",
            "127.0.0.2",
            "--stranger",
            "127.0.0.3",
            "--next-hop",
            "127.0.0.4:5070",
            "--json",
        ])
        .arg(&json)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("cannot send to the target 192.0.2.10:5060"),
        "{err}"
    );
    let r = read_json(&json);
    assert_eq!(r["checks"].as_array().unwrap().len(), 0);
    assert!(r["setup_error"].as_str().unwrap().contains("cannot send"));
    // Nothing listens on the discard port: silence, after three probes.
    let closed = free_port("127.0.0.1");
    let out = speermint()
        .args(["certify", "--target"])
        .arg(format!("udp:{closed}"))
        .args([
            "--peer",
            "127.0.0.2",
            "--stranger",
            "127.0.0.3",
            "--next-hop",
            "127.0.0.4:5070",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("not answering OPTIONS after 3 tries"), "{err}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("FAIL"));
}

/// Configuration that cannot give a meaningful verdict is refused before
/// anything is sent: a stranger with the peer's address, an output path
/// that cannot be written.
#[test]
fn bad_configuration_is_refused_before_the_run() {
    let out = speermint()
        .args(["certify", "--peer", "127.0.0.2", "--stranger", "127.0.0.2"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("has the peer's address"), "{err}");
    let out = speermint()
        .args(["certify", "--junit", "/nonexistent-dir/r.xml"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("/nonexistent-dir/r.xml"), "{err}");
    assert!(out.stdout.is_empty(), "the run started anyway");
    // A media relay offered without its addresses: the media checks could
    // only be inconclusive, so the run does not start.
    let out = speermint()
        .args([
            "certify",
            "--target",
            "udp:127.0.0.1:9",
            "--offers",
            "media-relay",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("target.media_relay"), "{err}");
    assert!(out.stdout.is_empty(), "the run started anyway");
}

/// `speermint matrix | head -1` and `certify --json -`: a closed pipe is no
/// panic, and `-` puts the JSON report alone on stdout.
#[test]
fn a_closed_pipe_is_no_panic_and_json_goes_to_stdout() {
    let bin = assert_cmd::cargo::cargo_bin("speermint");
    let mut child = std::process::Command::new(&bin)
        .arg("matrix")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
    let out = speermint()
        .args(["certify", "--only", "peer-register-rejected", "--json", "-"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let r: Value = serde_json::from_slice(&out.stdout).expect("stdout is the JSON report alone");
    assert_eq!(r["summary"]["pass"], 1);
}

/// A fake IUT on loopback that misbehaves in one way, for the harness's own
/// robustness: it must never hang the run or earn a PASS.
fn hostile_iut(
    kind: &'static str,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_millis(100)))
        .unwrap();
    let addr = sock.local_addr().unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 65_535];
        let mut n_seen: u64 = 0;
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                continue;
            };
            n_seen += 1;
            match kind {
                "silent" => {}
                "garbage" => {
                    let junk: Vec<u8> = (0..200u64)
                        .map(|i| ((i * 7919 + n_seen * 104_729) % 251) as u8)
                        .collect();
                    let _ = sock.send_to(&junk, from);
                }
                // Fifty 100 Trying for every request, and nothing else.
                _ => {
                    let Ok(req) = speermint_sip::Message::parse(&buf[..n]) else {
                        continue;
                    };
                    if !req.is_request() {
                        continue;
                    }
                    let trying =
                        speermint_sip::MessageBuilder::response_to(&req, 100, "Trying", None)
                            .build();
                    for _ in 0..50 {
                        let _ = sock.send_to(&trying, from);
                    }
                }
            }
        }
    });
    (addr, stop)
}

#[test]
fn hostile_iuts_never_hang_the_run_or_earn_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    for (i, kind) in ["silent", "garbage", "trying-storm"]
        .into_iter()
        .enumerate()
    {
        let (addr, stop) = hostile_iut(kind);
        let next_hop = free_port(&format!("127.0.0.4{i}"));
        let profile = dir.path().join(format!("{kind}.toml"));
        std::fs::write(
            &profile,
            format!(
                "[target]\naddress = \"udp:{addr}\"\n[roles]\npeer = \"127.0.0.2{i}\"\nstranger = \"127.0.0.3{i}\"\nterminating = \"{next_hop}\"\n[timing]\nresponse_ms = 300\nsilence_ms = 100\ntimer_b_ms = 1000\n"
            ),
        )
        .unwrap();
        let json = dir.path().join(format!("{kind}.json"));
        let out = speermint()
            .args(["certify", "--profile"])
            .arg(&profile)
            .arg("--json")
            .arg(&json)
            .timeout(std::time::Duration::from_secs(120))
            .output()
            .unwrap();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let table = String::from_utf8_lossy(&out.stdout);
        let err = String::from_utf8_lossy(&out.stderr);
        let report = read_json(&json);
        assert_eq!(report["summary"]["pass"], 0, "{kind}: a PASS\n{table}");
        match kind {
            // Nothing (or nothing SIP) comes back: the lab's problem, exit 3.
            "silent" | "garbage" => {
                assert_eq!(out.status.code(), Some(3), "{kind}: {err}\n{table}");
                assert!(report["setup_error"].is_string(), "{kind}");
            }
            _ => {
                assert_eq!(out.status.code(), Some(1), "{kind}: {err}\n{table}");
                assert!(
                    !table.contains("stopped serving after"),
                    "{kind}: blamed a case for silence that was there all along\n{table}"
                );
            }
        }
    }
}

/// `--pcap` writes every datagram the roles sent and received; tshark (from
/// Debian) opens it, finds as many packets as the evidence holds, and
/// decodes them as SIP. `--markdown` writes the certification report.
#[test]
fn pcap_and_markdown_reports_open_in_tshark_and_name_every_check() {
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("run.md");
    let out = pcap_run(
        &dir,
        &[
            "--misbehave",
            "no-failover",
            "--only",
            "RFC6404-4.8",
            "--only",
            "peer-register-rejected",
            // The harness's own resolution of the IUT's domain crosses in
            // the clear; the IUT's lookups go over DNS over TLS.
            "--only",
            "ingress-sbe-discoverable",
            "--markdown",
            md.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let md = std::fs::read_to_string(&md).unwrap();
    for id in [
        "sbe-pool-failover",
        "sbe-pool-silent-failover",
        "peer-register-rejected",
    ] {
        assert!(
            md.contains(&format!("`{id}`")),
            "{id} missing from the Markdown report"
        );
    }
    assert!(
        md.contains("## Checks that did not pass") && md.contains("### `sbe-pool-failover`: fail")
    );
}

/// Over loopback sockets the DNS role's driver records what it received
/// and sent, so the pcap holds the DNS exchange there too.
#[test]
fn pcap_over_sockets_holds_the_dns_exchange() {
    let dir = tempfile::tempdir().unwrap();
    let out = pcap_run(&dir, &["--sockets", "--only", "ingress-sbe-discoverable"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

/// Over TCP each message of a connection is a TCP segment, and still
/// decodes as SIP.
#[test]
fn pcap_over_tcp_holds_segments() {
    let dir = tempfile::tempdir().unwrap();
    let out = pcap_run(
        &dir,
        &[
            "--transport",
            "tcp",
            "--only",
            "lrf-rfc3263-routing",
            "--only",
            "ingress-sbe-discoverable",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let segments = std::process::Command::new("tshark")
        .arg("-r")
        .arg(dir.path().join("run.pcapng"))
        .args(["-Y", "tcp && sip"])
        .output()
        .unwrap();
    let n = String::from_utf8_lossy(&segments.stdout).lines().count();
    assert!(n >= 2, "{n} SIP-over-TCP segments");
}

/// Runs certify with `--pcap` and `--json`, then checks the capture
/// against the evidence with tshark (from Debian): as many packets, every
/// SIP datagram decoded as SIP and every DNS one as DNS (at least one),
/// and packet times within the run's wall time.
fn pcap_run(dir: &tempfile::TempDir, args: &[&str]) -> std::process::Output {
    let tshark = ["/usr/bin/tshark", "/usr/local/bin/tshark"]
        .into_iter()
        .find(|p| std::path::Path::new(p).is_file())
        .expect("tshark: this test needs the Debian package `tshark`; `.ci/test` installs it");
    let (pcap, json) = (dir.path().join("run.pcapng"), dir.path().join("run.json"));
    let began = std::time::Instant::now();
    let out = speermint()
        .arg("certify")
        .args(args)
        .arg("--pcap")
        .arg(&pcap)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let wall = began.elapsed();
    let r = read_json(&json);
    let wire: Vec<&Value> = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["evidence"].as_array().unwrap())
        .filter(|e| e["direction"] == "sent" || e["direction"] == "received")
        .collect();
    let datagrams = wire.len();
    // DNS in the clear is in too (the IUT's own lookups travel over DNS
    // over TLS: ciphertext, which the capture leaves out).
    let dns = wire.iter().filter(|e| e["role"] == "dns").count();
    assert!(dns > 0, "no DNS datagram in the evidence");
    // Over sockets the DNS role's ports are ephemeral, and tshark's DNS
    // heuristic loses to a protocol registered on the port now and then:
    // the ports the DNS role talked to are decoded as DNS by name.
    let mut decode_as: Vec<String> = wire
        .iter()
        .filter(|e| e["role"] == "dns")
        .filter_map(|e| e["peer"].as_str()?.rsplit(':').next().map(str::to_owned))
        .filter(|port| port.parse::<u16>().is_ok_and(|p| p != 53))
        .map(|port| format!("udp.port=={port},dns"))
        .collect();
    decode_as.sort();
    decode_as.dedup();
    let count = |filter: Option<&str>| {
        let mut cmd = std::process::Command::new(tshark);
        cmd.arg("-r").arg(&pcap);
        for d in &decode_as {
            cmd.args(["-d", d]);
        }
        if let Some(f) = filter {
            cmd.args(["-Y", f]);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    assert_eq!(count(None), datagrams);
    assert_eq!(
        count(Some("sip")),
        datagrams - dns,
        "every SIP datagram decodes as SIP"
    );
    assert_eq!(count(Some("dns")), dns, "every DNS datagram decodes as DNS");
    // Packet times: the capture spans no more than the run took (a wrong
    // timestamp resolution stretches it a thousandfold).
    let times = std::process::Command::new(tshark)
        .arg("-r")
        .arg(&pcap)
        .args(["-T", "fields", "-e", "frame.time_epoch"])
        .output()
        .unwrap();
    let times: Vec<f64> = String::from_utf8_lossy(&times.stdout)
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    let span = times.last().unwrap() - times.first().unwrap();
    // The checks' own durations are on the network's clock (virtual on the
    // simulated network, where Timer B passes in no wall time).
    let checks_s: f64 = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["duration_ms"].as_f64().unwrap() / 1000.0)
        .sum();
    let bound = checks_s + wall.as_secs_f64() + 1.0;
    assert!(
        (0.0..=bound).contains(&span),
        "the capture spans {span} s; the checks took {checks_s} s on the network's clock and the run {wall:?}"
    );
    out
}

/// `speermint load` against the embedded SBE over loopback: two short
/// steps, both clean, reported in JSON and Markdown.
#[test]
fn load_steps_through_rates_against_the_embedded_sbe() {
    let dir = tempfile::tempdir().unwrap();
    let (json, md) = (dir.path().join("load.json"), dir.path().join("load.md"));
    let out = speermint()
        .args([
            "load",
            "--rates",
            "50,100",
            "--step-secs",
            "0.5",
            "--workers",
            "2",
        ])
        .arg("--json")
        .arg(&json)
        .arg("--markdown")
        .arg(&md)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let r = read_json(&json);
    assert_eq!(r["max_clean_rate"], 100);
    assert_eq!(r["iut_answered"], true);
    let steps = r["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    for s in steps {
        assert_eq!(s["passed"], true, "{s}");
        assert_eq!(s["failed"], 0);
        assert_eq!(s["succeeded"], s["calls"]);
        assert!(s["calls"].as_u64().unwrap() >= 25);
        assert!(s["response_ms"][0].as_f64().unwrap() > 0.0);
    }
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(md.contains("**Highest clean rate: 100 calls/s.**"), "{md}");
}

/// A target that never answers is a set-up fault (exit 3), not a rate.
#[test]
fn load_against_a_silent_target_exits_3() {
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let next = std::net::UdpSocket::bind("127.0.0.4:0").unwrap();
    let next_addr = next.local_addr().unwrap();
    drop(next);
    let out = speermint()
        .args(["load", "--target"])
        .arg(format!("udp:{}", silent.local_addr().unwrap()))
        .arg("--next-hop")
        .arg(next_addr.to_string())
        .args([
            "--rates",
            "20",
            "--step-secs",
            "0.2",
            "--call-timeout-ms",
            "300",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("answered none of the calls"));
}

/// `speermint sbe --require-tls` on loopback (RFC 6404 §4.5): its peer's
/// OPTIONS over UDP gets 403 and is not relayed; over TLS, with a
/// certificate from the CA given to `--tls-ca`, the SBE answers it
/// itself (Max-Forwards 0: 483), so it was heard; without a certificate
/// the handshake is refused.
#[test]
fn sbe_requires_tls_from_its_peers() {
    use speermint_harness::pki::{TestPki, cert_pem, pkcs8_pem};
    let dir = tempfile::tempdir().unwrap();
    let p = |f: &str| dir.path().join(f);
    let pki = TestPki::new().unwrap();
    let (chain, key) = pki.issue(&["sbc.operator.example"]).unwrap();
    std::fs::write(p("ca.pem"), cert_pem(&pki.ca_der())).unwrap();
    let pem: String = chain.iter().map(|c| cert_pem(c)).collect();
    std::fs::write(p("sbe.pem"), pem).unwrap();
    std::fs::write(p("sbe.key"), pkcs8_pem(&key)).unwrap();
    let args: Vec<std::ffi::OsString> = vec![
        "--tls-listen".into(),
        "127.0.0.1:0".into(),
        "--tls-cert".into(),
        p("sbe.pem").into(),
        "--tls-key".into(),
        p("sbe.key").into(),
        "--tls-ca".into(),
        p("ca.pem").into(),
        "--require-tls".into(),
    ];
    let (_next, child, listening) = spawn_sbe("127.0.0.9", &args, 2);
    let udp: std::net::SocketAddr = listening[0]
        .strip_prefix("listening on udp:")
        .unwrap()
        .parse()
        .unwrap();
    let tls: std::net::SocketAddr = listening[1]
        .strip_prefix("listening on tls:")
        .unwrap()
        .parse()
        .unwrap();
    let options = |transport: &str, mf: u8| {
        speermint_sip::MessageBuilder::request("OPTIONS", "sip:sbc.operator.example")
            .header(
                "Via",
                format!("SIP/2.0/{transport} 127.0.0.5:5060;branch=z9hG4bK{transport}{mf};rport"),
            )
            .header("Max-Forwards", mf)
            .header("From", "<sip:peer@127.0.0.5>;tag=1")
            .header("To", "<sip:sbc.operator.example>")
            .header("Call-ID", format!("req-tls-{transport}"))
            .header("CSeq", "1 OPTIONS")
            .build()
    };
    let sock = std::net::UdpSocket::bind("127.0.0.5:0").unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    sock.send_to(&options("UDP", 70), udp).unwrap();
    let mut buf = vec![0u8; 65_535];
    let (n, _) = sock.recv_from(&mut buf).expect("an answer over UDP");
    let answer = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(
        answer.starts_with("SIP/2.0 403 Forbidden - TLS Required"),
        "{answer}"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let client = pki.client_config_as(&["peer.example"]).unwrap();
    let x = rt
        .block_on(speermint_harness::pki::tls_exchange(
            &speermint_net::Network::Sockets,
            client,
            "127.0.0.5".parse().unwrap(),
            tls,
            "sbc.operator.example",
            &options("TLS", 0),
            std::time::Duration::from_secs(5),
        ))
        .unwrap();
    let answer = String::from_utf8_lossy(&x.response.expect("an answer over TLS")).into_owned();
    assert!(answer.starts_with("SIP/2.0 483 "), "{answer}");
    // With --tls-ca its listener asks for a certificate: none, no answer.
    let anonymous = pki.client_config().unwrap();
    let x = rt.block_on(speermint_harness::pki::tls_exchange(
        &speermint_net::Network::Sockets,
        anonymous,
        "127.0.0.5".parse().unwrap(),
        tls,
        "sbc.operator.example",
        &options("TLS", 0),
        std::time::Duration::from_secs(5),
    ));
    assert!(x.is_err() || x.unwrap().response.is_none());
    drop(child);
}

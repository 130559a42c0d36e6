//! The client against a real authoritative server: Knot DNS, started by
//! each test on a loopback port with all of its state in a scratch
//! directory.
//!
//! # Why a second server
//!
//! `embedded.rs` runs the client against our own hickory server, so both
//! ends share one DNS library: a misreading of the canonical RRSet form
//! (RFC 4034 §6), of NSEC type bitmaps or of truncation would be made on
//! both sides and cancel out. Here the wire data comes from code that has
//! nothing in common with ours:
//!
//! * `knotd` 3.2.6 (Debian 12 package `knot` 3.2.6-1; libdnssec on GnuTLS)
//!   serves every zone and signs two of them itself when it loads them,
//!   with ECDSA P-256 keys (algorithm 13, RFC 6605) and an NSEC chain: one
//!   with a single combined key (CSK), one with the usual split into a
//!   key-signing key and a zone-signing key (KSK/ZSK, RFC 6781 §3.1). It
//!   also publishes CDS/CDNSKEY at the apex, which the embedded server
//!   never does. Knot's own `keymgr` prints the DNSKEY and DS records the
//!   tests use as trust anchors, so the anchors do not come from the
//!   answers they are meant to check.
//! * `ldns-signzone` 1.8.3 (package `ldnsutils`; ldns on OpenSSL) signs a
//!   third zone offline with a key from `ldns-keygen`. One A record is then
//!   changed in the signed text, and Knot serves the result as it is (with
//!   `dnssec-signing` off it neither re-signs nor checks signatures): a
//!   forged record under a well-formed RRSIG that does not match it, which
//!   is what an on-path attacker or a broken signer hands out.
//! * Knot answers a UDP query without EDNS whose answer exceeds 512 octets
//!   with the TC bit set and an empty answer section, which must send the
//!   client to TCP (RFC 1035 §4.2.1 and §4.2.2, RFC 7766 §5).
//!
//! What is checked: NAPTR, SRV, A and AAAA data and the NXDOMAIN/NODATA
//! distinction (RFC 2308 §2, RFC 8020 §2) as the LUF and LRF ask for them;
//! with an anchor, that every answer and every denial is Secure (RFC 4035
//! §5 and §4.3) from a DNSKEY anchor and from a DS anchor of either digest
//! Knot publishes (SHA-256, RFC 4509; SHA-384, RFC 6605 §2); that the
//! forged RRSet is Bogus with an anchor while the untouched rest of its
//! zone stays Secure, and that it is handed over as Insecure without an
//! anchor; that an anchor for the wrong key makes everything Bogus; and
//! that a NAPTR RRSet too large for 512 octets arrives whole over TCP.
//!
//! # A KSK anchor below the root, and hickory 0.26.3
//!
//! hickory's validator, left to itself, does not accept a zone signed with
//! a KSK/ZSK pair from an anchor for the KSK (or its DS) when the zone is
//! not the root: since some key of the DNSKEY RRSet (the ZSK) is not an
//! anchor, it asks for the zone's DS RRSet before it looks at the RRSIG
//! the anchored KSK made over the DNSKEY RRSet. A server authoritative for
//! the zone alone answers that DS query with a NODATA from the zone itself
//! (its apex NSEC lists SOA), which proves neither a DS nor an insecure
//! delegation, so hickory makes the DNSKEY RRSet, and with it every
//! answer, Bogus (`DsRecordShouldExist`). RFC 4035 §5 lets the anchor
//! authenticate the DNSKEY RRSet by its signature, without a DS.
//! `ksk_zsk_zone_validates_from_its_ksk` fails for as long as the client
//! hands such anchors to hickory unchanged. The same zone validates when
//! every key of its DNSKEY RRSet is an anchor (checked first in that
//! test), and a CSK zone validates from its one key, which is why
//! `embedded.rs` (whose zones have one key) does not see this.
//!
//! The binaries come from Debian packages that `.ci/test` installs. When
//! one is missing the tests fail and name the package: a silent skip would
//! let CI pass without ever talking to a real server.

use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hickory_proto::dnssec::{Algorithm, PublicKey};
use speermint_resolver::{
    Anchor, Client, ClientConfig, Found, QueryError, RecordType, Security, TrustAnchor,
};
use speermint_route::Srv;

/// Served without signatures; also holds the large NAPTR RRSet.
const PLAIN: &str = "plain.example.";
/// Signed by Knot with one combined signing key (CSK).
const CSK: &str = "csk.example.";
/// Signed by Knot with a KSK and a ZSK.
const KSK_ZSK: &str = "split.example.";
/// Signed offline by ldns with one key, then tampered with.
const FORGED: &str = "forged.example.";
/// The A record changed after signing, and what it is changed to.
const TRUE_ADDRESS: &str = "192.0.2.10";
const FORGED_ADDRESS: &str = "198.51.100.66";
/// NAPTRs at `big.` in the plain zone: about 1 KB of answer (replacement
/// names are never compressed, RFC 3403 §4.1), so more than a plain UDP
/// message holds (512 octets) and less than the 1232 offered with EDNS.
const BIG_RRSET: u16 = 18;
/// How long the server may take to come up before the test gives up.
const STARTUP: Duration = Duration::from_secs(5);
/// DNS type codes for the raw probes (RFC 1035 §3.2.2, RFC 4034 §2).
const SOA: u16 = 6;
const NAPTR: u16 = 35;
const DNSKEY: u16 = 48;

/// The same data in every zone.
fn zone_text(origin: &str) -> String {
    format!(
        "$ORIGIN {origin}
$TTL 300
@ IN SOA ns hostmaster 1 3600 600 86400 60
@ IN NS ns
ns IN A 127.0.0.1
@ IN NAPTR 50 50 \"s\" \"SIPS+D2T\" \"\" _sips._tcp
@ IN NAPTR 90 50 \"s\" \"SIP+D2U\" \"\" _sip._udp
_sips._tcp IN SRV 0 1 5061 sbe
_sip._udp IN SRV 0 1 5060 sbe
sbe IN A {TRUE_ADDRESS}
sbe IN A 192.0.2.11
sbe IN AAAA 2001:db8::10
3.8.0.0.6.9.2.3.6.1.e164 IN NAPTR 100 10 \"u\" \"E2U+sip\" \"!^.*$!sip:bob@{origin}!\" .
"
    )
}

fn plain_zone() -> String {
    let mut text = zone_text(PLAIN);
    for i in 0..BIG_RRSET {
        text.push_str(&format!(
            "big IN NAPTR {i} 10 \"s\" \"SIP+D2U\" \"\" _sip._udp.sbe{i:02}\n"
        ));
    }
    text
}

/// A program from a Debian package: found on PATH or in the sbin
/// directories (which a non-root PATH usually lacks), or a failure that
/// says what to install.
fn tool(name: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.extend(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from));
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` not found on PATH or in /usr/sbin: these tests need the Debian \
                 package `{package}`. `.ci/test` installs it (APT_PACKAGES); by hand: \
                 `apt-get install --no-install-recommends {package}`"
            )
        })
}

/// Runs a program to completion and returns its standard output.
fn run(cmd: &mut Command) -> String {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("tool output is UTF-8")
}

/// A fresh directory under the system's temporary directory.
fn scratch_dir() -> PathBuf {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "speermint-knot-{}-{}-{nanos}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

/// A loopback port free for both UDP and TCP at the moment of asking.
fn free_port() -> u16 {
    for _ in 0..50 {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("bind a TCP port on 127.0.0.1");
        let port = tcp.local_addr().expect("local address").port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no loopback port free for both UDP and TCP");
}

/// What a raw query got back: enough of the header to tell a loaded zone
/// from a refusal, and a truncated answer from a whole one.
#[derive(Debug, Clone, Copy)]
struct Header {
    rcode: u8,
    authoritative: bool,
    truncated: bool,
    answers: u16,
}

/// One UDP query built by hand (RFC 1035 §4.1), with an OPT record
/// offering 1232 octets (RFC 6891 §6.1.2) when `edns` is set. `None` when
/// nothing matching came back within `wait`.
fn raw_query(
    server: SocketAddr,
    name: &str,
    qtype: u16,
    edns: bool,
    wait: Duration,
) -> Option<Header> {
    static ID: AtomicU32 = AtomicU32::new(0x5a00);
    let id = (ID.fetch_add(1, Ordering::Relaxed) & 0xffff) as u16;
    let mut msg = Vec::with_capacity(64);
    msg.extend_from_slice(&id.to_be_bytes());
    msg.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, u8::from(edns)]);
    for label in name.trim_end_matches('.').split('.') {
        msg.push(u8::try_from(label.len()).expect("short label"));
        msg.extend_from_slice(label.as_bytes());
    }
    msg.push(0);
    msg.extend_from_slice(&qtype.to_be_bytes());
    msg.extend_from_slice(&1u16.to_be_bytes());
    if edns {
        msg.extend_from_slice(&[0, 0, 41]);
        msg.extend_from_slice(&1232u16.to_be_bytes());
        msg.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    }
    let socket = UdpSocket::bind("127.0.0.1:0").ok()?;
    socket.connect(server).ok()?;
    socket.send(&msg).ok()?;
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        socket
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .ok()?;
        // A refused port shows up here as an error: not up yet.
        let n = socket.recv(&mut buf).ok()?;
        if n >= 12 && buf[..2] == id.to_be_bytes() && buf[2] & 0x80 != 0 {
            return Some(Header {
                rcode: buf[3] & 0x0f,
                authoritative: buf[2] & 0x04 != 0,
                truncated: buf[2] & 0x02 != 0,
                answers: u16::from_be_bytes([buf[6], buf[7]]),
            });
        }
    }
}

/// Serialises port choice and start-up within this test binary, so two
/// servers cannot be handed the same port between `free_port` and the
/// moment knotd binds it.
static STARTING: Mutex<()> = Mutex::new(());

/// A running knotd serving [`PLAIN`], [`CSK`], [`KSK_ZSK`] and [`FORGED`]
/// from a scratch directory. Killed, and the directory removed, on drop.
struct Knot {
    dir: PathBuf,
    conf: PathBuf,
    addr: SocketAddr,
    child: Child,
    /// Base name of the ldns key of the forged zone (`<base>.key`, `<base>.ds`).
    forged_key: String,
}

impl Knot {
    fn start() -> Self {
        let knotd = tool("knotd", "knot");
        let dir = scratch_dir();
        let write = |name: &str, text: String| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        };
        write(&format!("{PLAIN}zone"), plain_zone());
        write(&format!("{CSK}zone"), zone_text(CSK));
        write(&format!("{KSK_ZSK}zone"), zone_text(KSK_ZSK));
        let forged_key = forged_zone(&dir);
        let conf = dir.join("knot.conf");
        let log_path = dir.join("knotd.log");

        let _serial = STARTING.lock().unwrap_or_else(|e| e.into_inner());
        let mut log_text = String::new();
        // Another process may take the port between `free_port` and the
        // bind; knotd then exits at once and another port is tried.
        for _ in 0..3 {
            let port = free_port();
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            write("knot.conf", knot_conf(&dir, port));
            let log = std::fs::File::create(&log_path).expect("create knotd.log");
            let mut child = Command::new(&knotd)
                .arg("-c")
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("clone log handle"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", knotd.display()));
            let why = match wait_ready(&mut child, addr) {
                Ok(()) => {
                    return Self {
                        dir,
                        conf,
                        addr,
                        child,
                        forged_key,
                    };
                }
                Err(why) => why,
            };
            let _ = child.kill();
            let _ = child.wait();
            log_text = std::fs::read_to_string(&log_path).unwrap_or_default();
            if !log_text.contains("address already in use") {
                let _ = std::fs::remove_dir_all(&dir);
                panic!("knotd did not come up: {why}\n--- knotd.log ---\n{log_text}");
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        panic!("knotd found no free port in 3 tries\n--- knotd.log ---\n{log_text}");
    }

    fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `keymgr <zone> <command>` against this server's key database.
    fn keymgr(&self, zone: &str, command: &str) -> String {
        run(Command::new(tool("keymgr", "knot"))
            .arg("-c")
            .arg(&self.conf)
            .arg(zone)
            .arg(command))
    }

    /// The DNSKEY of a Knot-signed zone's KSK (or CSK), as keymgr prints it.
    fn dnskey_anchor(&self, zone: &str) -> String {
        self.keymgr(zone, "dnskey")
    }

    /// The DS records of a Knot-signed zone's KSK (or CSK), one line per
    /// digest type.
    fn ds_anchors(&self, zone: &str) -> Vec<String> {
        self.keymgr(zone, "ds")
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// `<forged key>.key` (its DNSKEY) or `.ds` (its DS), as ldns wrote them.
    fn forged_key_file(&self, ext: &str) -> String {
        let path = self.dir.join(format!("{}.{ext}", self.forged_key));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }
}

impl Drop for Knot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Polls until every zone is loaded (an authoritative answer for its SOA)
/// and the signed ones have their keys, for at most [`STARTUP`].
fn wait_ready(child: &mut Child, addr: SocketAddr) -> Result<(), String> {
    let deadline = Instant::now() + STARTUP;
    let mut pending = vec![
        (PLAIN, SOA),
        (FORGED, SOA),
        (CSK, SOA),
        (CSK, DNSKEY),
        (KSK_ZSK, SOA),
        (KSK_ZSK, DNSKEY),
    ];
    while !pending.is_empty() {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Err(format!("knotd exited with {status}"));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "no answer within {STARTUP:?} for (zone, type) {pending:?}"
            ));
        }
        pending.retain(|&(zone, qtype)| {
            !raw_query(addr, zone, qtype, true, Duration::from_millis(100))
                .is_some_and(|h| h.rcode == 0 && h.authoritative && h.answers > 0)
        });
        if !pending.is_empty() {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    Ok(())
}

/// The server's configuration: all state under `dir`, one address, few
/// threads, signed zones kept in memory only (`zonefile-sync: -1`,
/// `journal-content: none`).
fn knot_conf(dir: &Path, port: u16) -> String {
    let d = dir.display();
    format!(
        "server:
    rundir: \"{d}\"
    listen: 127.0.0.1@{port}
    udp-workers: 2
    tcp-workers: 2
    background-workers: 1
database:
    storage: \"{d}\"
log:
  - target: stderr
    any: info
policy:
  - id: csk
    algorithm: ecdsap256sha256
    single-type-signing: on
    nsec3: off
  - id: split
    algorithm: ecdsap256sha256
    single-type-signing: off
    nsec3: off
template:
  - id: default
    storage: \"{d}\"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
zone:
  - domain: {PLAIN}
  - domain: {CSK}
    dnssec-signing: on
    dnssec-policy: csk
  - domain: {KSK_ZSK}
    dnssec-signing: on
    dnssec-policy: split
  - domain: {FORGED}
    file: \"{d}/{FORGED}signed\"
"
    )
}

/// Signs the forged zone offline with a fresh ldns key (one key with the
/// SEP flag, which then signs every RRSet) and changes one A record
/// afterwards. Returns the key's base name.
fn forged_zone(dir: &Path) -> String {
    let key = run(Command::new(tool("ldns-keygen", "ldnsutils"))
        .current_dir(dir)
        .args(["-a", "ECDSAP256SHA256", "-k"])
        .arg(FORGED.trim_end_matches('.')))
    .trim()
    .to_owned();
    let unsigned = dir.join(format!("{FORGED}zone"));
    std::fs::write(&unsigned, zone_text(FORGED)).expect("write forged zone");
    let signed = dir.join(format!("{FORGED}signed"));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    run(Command::new(tool("ldns-signzone", "ldnsutils"))
        .current_dir(dir)
        .arg("-i")
        .arg((now - 3600).to_string())
        .arg("-e")
        .arg((now + 7 * 86400).to_string())
        .arg("-o")
        .arg(FORGED)
        .arg("-f")
        .arg(&signed)
        .arg(&unsigned)
        .arg(&key));
    let text = std::fs::read_to_string(&signed).expect("read signed zone");
    assert!(
        text.contains("RRSIG\tA 13 3"),
        "ldns did not sign with algorithm 13:\n{text}"
    );
    let owner = format!("sbe.{FORGED}");
    let mut changed = 0;
    let forged: String = text
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() == 5 && f[0] == owner && f[3] == "A" && f[4] == TRUE_ADDRESS {
                changed += 1;
                format!("{}\t{}\tIN\tA\t{FORGED_ADDRESS}\n", f[0], f[1])
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    assert_eq!(
        changed, 1,
        "expected one `{owner} A {TRUE_ADDRESS}` line in:\n{text}"
    );
    std::fs::write(&signed, forged).expect("write forged zone");
    key
}

async fn client(server: SocketAddr, anchor: Option<TrustAnchor>) -> Client {
    let mut cfg = ClientConfig::new(vec![server]);
    cfg.trust_anchor = anchor;
    Client::new(cfg).await.expect("client")
}

fn anchor(text: &str) -> TrustAnchor {
    TrustAnchor::parse(text, "anchor").unwrap_or_else(|e| panic!("anchor {text:?}: {e}"))
}

fn addresses(fetched: &Found) -> Vec<IpAddr> {
    let Found::Records(records) = fetched else {
        panic!("expected records, got {fetched:?}")
    };
    let mut out: Vec<IpAddr> = records
        .iter()
        .map(|r| IpAddr::from_str(&r.data.to_string()).expect("address"))
        .collect();
    out.sort();
    out
}

fn ip(s: &str) -> IpAddr {
    IpAddr::from_str(s).expect("address literal")
}

/// The data every zone holds, asked for the way the LUF and LRF ask;
/// every answer must carry `want` as its security.
async fn check_zone_data(client: &Client, origin: &str, want: Security) {
    let zone = origin.trim_end_matches('.');

    let (answer, security) = client.enum_answer(zone).await.expect("NAPTR");
    assert_eq!(security, want, "NAPTR at {zone}");
    let speermint_enum::Answer::Records(mut naptrs) = answer else {
        panic!("NAPTR at {zone}: {answer:?}")
    };
    naptrs.sort_by_key(|n| n.order);
    let got: Vec<_> = naptrs
        .iter()
        .map(|n| {
            let text = [&n.flags, &n.services, &n.regexp, &n.replacement];
            (n.order, n.preference, text.map(String::as_str))
        })
        .collect();
    let sips = format!("_sips._tcp.{zone}");
    let sip = format!("_sip._udp.{zone}");
    assert_eq!(
        got,
        [
            (50, 50, ["s", "SIPS+D2T", "", sips.as_str()]),
            (90, 50, ["s", "SIP+D2U", "", sip.as_str()]),
        ]
    );

    let sbe = format!("sbe.{zone}");
    for (name, port) in [(&sips, 5061), (&sip, 5060)] {
        let query = speermint_route::Query {
            name: name.clone(),
            rtype: speermint_route::RecordType::Srv,
        };
        let (answer, security) = client.route_answer(&query).await.expect("SRV");
        assert_eq!(security, want, "SRV at {name}");
        assert_eq!(
            answer,
            speermint_route::Answer::Srv(vec![Srv::new(0, 1, port, &sbe)])
        );
    }

    let a = client.query(&sbe, RecordType::A).await.expect("A");
    assert_eq!(a.security, want, "A at {sbe}");
    assert_eq!(addresses(&a.found), [ip(TRUE_ADDRESS), ip("192.0.2.11")]);
    let aaaa = client.query(&sbe, RecordType::AAAA).await.expect("AAAA");
    assert_eq!(aaaa.security, want, "AAAA at {sbe}");
    assert_eq!(addresses(&aaaa.found), [ip("2001:db8::10")]);

    let nope = format!("nope.{zone}");
    let nx = client.query(&nope, RecordType::A).await.expect("NXDOMAIN");
    assert_eq!((nx.found, nx.security), (Found::NxDomain, want), "{nope} A");
    let (nx, security) = client.enum_answer(&nope).await.expect("NXDOMAIN NAPTR");
    assert_eq!((nx, security), (speermint_enum::Answer::NxDomain, want));
    let nodata = client.query(&sbe, RecordType::NAPTR).await.expect("NODATA");
    assert_eq!(
        (nodata.found, nodata.security),
        (Found::NoData, want),
        "{sbe} NAPTR"
    );
    // `_tcp` exists only as part of a longer name: an empty non-terminal,
    // NODATA and not NXDOMAIN (RFC 8020 §2).
    let ent = format!("_tcp.{zone}");
    let got = client
        .query(&ent, RecordType::A)
        .await
        .expect("empty non-terminal");
    assert_eq!((got.found, got.security), (Found::NoData, want), "{ent} A");
}

#[tokio::test]
async fn unsigned_zone_answers_are_insecure() {
    let knot = Knot::start();
    let client = client(knot.addr(), None).await;
    assert!(!client.validating());
    check_zone_data(&client, PLAIN, Security::Insecure).await;
    // Without anchors a signed zone is data like any other.
    check_zone_data(&client, CSK, Security::Insecure).await;
    check_zone_data(&client, KSK_ZSK, Security::Insecure).await;
}

#[tokio::test]
async fn csk_zone_validates_from_its_dnskey() {
    let knot = Knot::start();
    let text = knot.dnskey_anchor(CSK);
    let anchor = anchor(&text);
    let [Anchor::Key { dnskey, .. }] = anchor.anchors.as_slice() else {
        panic!("keymgr should print one key: {text}")
    };
    // ECDSA P-256 with SHA-256 (RFC 6605 §2), with the SEP flag.
    assert_eq!(
        dnskey.public_key().algorithm(),
        Algorithm::ECDSAP256SHA256,
        "{text}"
    );
    assert!(dnskey.secure_entry_point(), "{text}");
    let client = client(knot.addr(), Some(anchor)).await;
    assert!(client.validating());
    check_zone_data(&client, CSK, Security::Secure).await;
}

#[tokio::test]
async fn csk_zone_validates_from_each_ds() {
    let knot = Knot::start();
    let lines = knot.ds_anchors(CSK);
    // `owner DS tag algorithm digest-type digest`: SHA-256 (2) and SHA-384
    // (4), both of the algorithm-13 key.
    let mut digests: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.split_whitespace().nth(4))
        .collect();
    digests.sort_unstable();
    assert_eq!(digests, ["2", "4"], "{lines:?}");
    for line in &lines {
        assert_eq!(line.split_whitespace().nth(3), Some("13"), "{line}");
        let client = client(knot.addr(), Some(anchor(line))).await;
        let a = client
            .query(&format!("sbe.{CSK}"), RecordType::A)
            .await
            .unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(a.security, Security::Secure, "{line}");
        assert_eq!(addresses(&a.found), [ip(TRUE_ADDRESS), ip("192.0.2.11")]);
        let nx = client
            .query(&format!("nope.{CSK}"), RecordType::NAPTR)
            .await
            .unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!((nx.found, nx.security), (Found::NxDomain, Security::Secure));
    }
    // Both at once, as an operator's anchor file might hold them.
    let client = client(knot.addr(), Some(anchor(&lines.join("\n")))).await;
    check_zone_data(&client, CSK, Security::Secure).await;
}

/// Fails while the client passes a KSK anchor to hickory as it is: see
/// the module documentation.
#[tokio::test]
async fn ksk_zsk_zone_validates_from_its_ksk() {
    let knot = Knot::start();
    // The zone and its signatures are sound: with every key of its DNSKEY
    // RRSet given as an anchor, all of it validates.
    let plain = client(knot.addr(), None).await;
    let keys = plain
        .query(KSK_ZSK, RecordType::DNSKEY)
        .await
        .expect("DNSKEY RRSet");
    let Found::Records(keys) = keys.found else {
        panic!("no DNSKEY RRSet: {keys:?}")
    };
    assert_eq!(keys.len(), 2, "a KSK and a ZSK: {keys:?}");
    let every_key: Vec<String> = keys
        .iter()
        .map(|r| format!("{} DNSKEY {}", r.name, r.data))
        .collect();
    let client_all = client(knot.addr(), Some(anchor(&every_key.join("\n")))).await;
    check_zone_data(&client_all, KSK_ZSK, Security::Secure).await;

    // What an operator holds is the KSK or its DS, and that must be enough
    // (RFC 4035 §5: the anchor authenticates the DNSKEY RRSet).
    let ksk = knot.dnskey_anchor(KSK_ZSK);
    let from_ksk = client(knot.addr(), Some(anchor(&ksk))).await;
    let got = from_ksk
        .query(&format!("sbe.{KSK_ZSK}"), RecordType::A)
        .await;
    assert!(
        matches!(&got, Ok(f) if f.security == Security::Secure),
        "KSK anchor {ksk:?}: {got:?}"
    );
    check_zone_data(&from_ksk, KSK_ZSK, Security::Secure).await;
    let ds = knot.ds_anchors(KSK_ZSK).join("\n");
    let from_ds = client(knot.addr(), Some(anchor(&ds))).await;
    check_zone_data(&from_ds, KSK_ZSK, Security::Secure).await;
}

#[tokio::test]
async fn anchor_for_another_key_makes_everything_bogus() {
    let knot = Knot::start();
    // The forged zone's key claimed for the CSK zone: well formed,
    // algorithm 13 with the SEP flag, but not the key that signed it.
    let wrong = knot.forged_key_file("key").replace(FORGED, CSK);
    let client = client(knot.addr(), Some(anchor(&wrong))).await;
    let asked = [
        (format!("sbe.{CSK}"), RecordType::A),
        (CSK.to_owned(), RecordType::NAPTR),
        (format!("nope.{CSK}"), RecordType::A),
        (format!("sbe.{CSK}"), RecordType::NAPTR),
    ];
    for (name, rtype) in asked {
        match client.query(&name, rtype).await {
            Err(QueryError::Bogus { .. }) => {}
            other => panic!("{name} {rtype} under a wrong anchor: {other:?}"),
        }
    }
}

#[tokio::test]
async fn forged_record_is_bogus_with_an_anchor_and_insecure_without() {
    let knot = Knot::start();
    let sbe = format!("sbe.{FORGED}");
    for (kind, text) in [
        ("DNSKEY", knot.forged_key_file("key")),
        ("DS", knot.forged_key_file("ds")),
    ] {
        let client = client(knot.addr(), Some(anchor(&text))).await;
        let err = client
            .query(&sbe, RecordType::A)
            .await
            .expect_err("the forged A RRSet must not validate");
        assert!(matches!(err, QueryError::Bogus { .. }), "{kind}: {err:?}");
        assert_eq!(err.kind(), "dnssec");
        // The rest of the zone is intact: the failure is the forgery's,
        // not a signer hickory cannot read.
        let aaaa = client.query(&sbe, RecordType::AAAA).await.expect("AAAA");
        assert_eq!(aaaa.security, Security::Secure, "{kind}");
        let ns = client
            .query(&format!("ns.{FORGED}"), RecordType::A)
            .await
            .expect("untouched A");
        assert_eq!(ns.security, Security::Secure, "{kind}");
        let nx = client
            .query(&format!("nope.{FORGED}"), RecordType::A)
            .await
            .expect("NXDOMAIN");
        assert_eq!(
            (nx.found, nx.security),
            (Found::NxDomain, Security::Secure),
            "{kind}"
        );
    }
    // Without anchors nothing is checked: the forged address comes back.
    let plain = client(knot.addr(), None).await;
    let got = plain.query(&sbe, RecordType::A).await.expect("forged A");
    assert_eq!(got.security, Security::Insecure);
    assert_eq!(
        addresses(&got.found),
        [ip("192.0.2.11"), ip(FORGED_ADDRESS)]
    );
}

#[tokio::test]
async fn truncated_udp_answer_is_fetched_whole_over_tcp() {
    let knot = Knot::start();
    let big = format!("big.{PLAIN}");
    // The server truncates this answer without EDNS, and only then.
    let wait = Duration::from_secs(1);
    let bare = raw_query(knot.addr(), &big, NAPTR, false, wait).expect("reply without EDNS");
    assert!(bare.truncated, "{bare:?}");
    let edns = raw_query(knot.addr(), &big, NAPTR, true, wait).expect("reply with EDNS");
    assert!(!edns.truncated && edns.answers == BIG_RRSET, "{edns:?}");

    let mut cfg = ClientConfig::new(vec![knot.addr()]);
    cfg.edns = false;
    let client = Client::new(cfg).await.expect("client");
    let (answer, security) = client.enum_answer(&big).await.expect("large NAPTR RRSet");
    assert_eq!(security, Security::Insecure);
    let speermint_enum::Answer::Records(mut naptrs) = answer else {
        panic!("{answer:?}")
    };
    naptrs.sort_by_key(|n| n.order);
    let orders: Vec<u16> = naptrs.iter().map(|n| n.order).collect();
    assert_eq!(orders, (0..BIG_RRSET).collect::<Vec<_>>());
    let last = naptrs.last().expect("records");
    let zone = PLAIN.trim_end_matches('.');
    assert_eq!(
        last.replacement,
        format!("_sip._udp.sbe{}.{zone}", BIG_RRSET - 1)
    );
}

/// The same shape as an ENUM zone (one number, empty non-terminals for
/// every digit above it), signed by knot: a name that branches off two
/// levels up is a secure name error for hickory's validator. The embedded
/// server got this wrong (see `nx_proof` in the crate); knot tells the
/// server from the validator.
#[tokio::test]
async fn enum_ent_name_error_is_secure_from_knot() {
    let knot = Knot::start();
    let anchor = anchor(&knot.dnskey_anchor(CSK));
    let client = client(knot.addr(), Some(anchor)).await;
    for missing in ["9.9.0.0.6.9.2.3.6.1.e164", "4.8.0.0.6.9.2.3.6.1.e164"] {
        let name = format!("{missing}.{CSK}");
        let got = client
            .query(&name, RecordType::NAPTR)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            (got.found, got.security),
            (Found::NxDomain, Security::Secure),
            "{name}"
        );
    }
}

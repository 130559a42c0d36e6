//! `speermint`: conformance and robustness testing of SIP peering border
//! elements (RFC 6271, RFC 6404, RFC 6406).
//!
//! Exit status: 0 when every applicable check passes (or every parsed file
//! is valid), 1 when a check fails or is inconclusive (or a file is
//! invalid), 2 on bad usage or configuration.
#![forbid(unsafe_code)]

/// `println!` that never panics: on a closed pipe (`speermint matrix | head
/// -1`) the rest of the output is dropped and the run carries on, so that
/// reports are still written and the exit status still says the verdict.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `print!` that never panics (see [`out!`]).
macro_rules! out_nl {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

mod dns_cmd;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use speermint_harness::Capability;
use speermint_harness::target::{self, Plan, TargetKind, parse_role_addr, parse_target_on};
use speermint_harness::{Check, Report};
use speermint_sbe::{Fault, Faults, SbeConfig};
use speermint_sip::{Message, ParseError, StartLine};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "speermint",
    version,
    about = "Conformance and robustness harness for SIP peering border elements (RFC 6271, RFC 6404, RFC 6406)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the conformance checks against the embedded reference SBE, or an external one.
    Certify(CertifyArgs),
    /// Say whether SIP messages in files are valid, and where the first fault is.
    Parse {
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
        /// Files, each holding one message as it would arrive in a datagram.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print the traceability matrix: requirement -> checks, generated from the check declarations.
    Matrix {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// A `certify --json` report whose verdicts to show.
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// Run the reference SBE on UDP (and TCP or TLS if asked) until interrupted.
    Sbe(SbeArgs),
    /// Run a multi-SSP peering topology (RFC 6405 §3) from a TOML file on
    /// loopback until interrupted: a reference SBE per SSP and the signed
    /// DNS they resolve through. Prints each element's address.
    Serve(ServeArgs),
    /// Measure an IUT's throughput: calls (INVITE, 200, ACK, BYE, 200) at
    /// rising rates until a step fails; the highest clean rate, the
    /// transactions/s and the INVITE response times.
    Load(LoadArgs),
    /// Resolve an E.164 number or a SIP/SIPS URI to its target URI and next hops (ENUM, RFC 3263).
    Resolve(dns_cmd::ResolveArgs),
    /// Serve zone files (optionally signed) until interrupted: the harness's DNS role on its own.
    Dns(dns_cmd::DnsArgs),
    /// Make (or reuse) the zone key of the DNS role and print the trust anchors an external IUT needs.
    DnsKey(dns_cmd::DnsKeyArgs),
}

#[derive(Args)]
struct CertifyArgs {
    /// The IUT, as udp:, tcp: or tls:HOST:PORT (tls: needs a --profile
    /// naming the issuer of its certificate). Without it, the embedded
    /// reference SBE is started.
    #[arg(long)]
    target: Option<String>,
    /// What the roles reach the embedded reference SBE over: udp (the
    /// default), tcp or tls. An external target says it in its address.
    #[arg(long, value_name = "udp|tcp|tls")]
    transport: Option<String>,
    /// An IUT profile (TOML) with the target and role addresses.
    #[arg(long)]
    profile: Option<PathBuf>,
    /// Source address the IUT accepts as its peer: IP or IP:PORT.
    #[arg(long)]
    peer: Option<String>,
    /// Source address the IUT does not know: IP or IP:PORT.
    #[arg(long)]
    stranger: Option<String>,
    /// Where the IUT forwards peer requests (the harness listens there): IP:PORT.
    #[arg(long)]
    next_hop: Option<String>,
    /// Run only these checks (repeatable): a check id, a requirement it
    /// covers (RFC6404-4.8) or a capability it needs (dns-role, tls).
    #[arg(long = "only", value_name = "ID-OR-TAG")]
    only: Vec<String>,
    /// Leave these checks out (repeatable), by id or tag as for --only.
    #[arg(long = "skip", value_name = "ID-OR-TAG")]
    skip: Vec<String>,
    /// What the external IUT offers (repeatable: dns-role, tls); checks
    /// needing anything else are not applicable. A profile says it with
    /// `[target] offers`.
    #[arg(long = "offers", value_name = "CAPABILITY")]
    offers: Vec<String>,
    /// An address the external IUT's calls leave from, as its SSP declares
    /// it (repeatable; RFC 6271 #2). A profile says it with
    /// `[target] egress`.
    #[arg(long = "egress", value_name = "IP")]
    egress: Vec<IpAddr>,
    /// The most calls the external IUT lets the peer have at once
    /// (RFC 6404 §4.9); a profile says it with `[limits] peer_sessions`.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    peer_sessions: Option<u32>,
    /// Print the checks with their tags and needs, and run nothing.
    #[arg(long)]
    list: bool,
    /// After the table, print the message ladder of every check that
    /// failed or was inconclusive.
    #[arg(short, long)]
    verbose: bool,
    /// Turn on a misbehaviour switch of the embedded reference SBE (repeatable), to see checks fail.
    #[arg(long = "misbehave", value_name = "SWITCH")]
    misbehave: Vec<String>,
    /// Write the JSON report here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write a JUnit XML report here.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Write a Markdown certification report here.
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Write every datagram the roles sent and received as pcapng here.
    #[arg(long)]
    pcap: Option<PathBuf>,
    /// Run the embedded target over loopback sockets and the real clock
    /// instead of the simulated network (an external target always uses
    /// sockets).
    #[arg(long)]
    sockets: bool,
}

#[derive(Args)]
struct SbeArgs {
    /// Address to listen on (port 0 picks one; the address is printed).
    #[arg(long, default_value = "127.0.0.1:5060")]
    listen: SocketAddr,
    /// An authorised peer's IP address (repeatable).
    #[arg(long = "peer", required = true)]
    peers: Vec<IpAddr>,
    /// Where requests from peers are sent.
    #[arg(long)]
    next_hop: SocketAddr,
    /// The domain name this SBE goes by in Via and Record-Route
    /// (RFC 6271 #7); it must resolve to the listen address. Without it,
    /// the address.
    #[arg(long, value_name = "FQDN")]
    hostname: Option<String>,
    /// A peer inside this SSP's trust domain for asserted identity
    /// (RFC 3325): its P-Asserted-Identity is believed and reaches it
    /// whatever Privacy says (repeatable; also give it as --peer).
    #[arg(long = "trusted-peer", value_name = "IP")]
    trusted_peers: Vec<IpAddr>,
    /// Hide the inside from peers (RFC 6404 §4.10): Via, Record-Route,
    /// Contact, Call-ID and SDP origin of what leaves name this SBE. Its
    /// dialog table lives in one core: one worker.
    #[arg(long)]
    hide_topology: bool,
    /// Turn on a misbehaviour switch (repeatable).
    #[arg(long = "misbehave", value_name = "SWITCH")]
    misbehave: Vec<String>,
    /// Resolve numbers and domain names through this DNS server
    /// (repeatable; ENUM, then RFC 3263 over UDP).
    #[arg(long = "dns", value_name = "ADDR:PORT")]
    dns: Vec<SocketAddr>,
    /// DNSSEC trust anchors (DNSKEY or DS records) for --dns.
    #[arg(long, value_name = "FILE")]
    trust_anchor: Option<PathBuf>,
    /// Also accept TCP here (RFC 3261 §18); port 0 takes the UDP port
    /// when it is free on TCP.
    #[arg(long, value_name = "ADDR:PORT")]
    tcp_listen: Option<SocketAddr>,
    /// Also accept TLS here.
    #[arg(long, value_name = "ADDR:PORT")]
    tls_listen: Option<SocketAddr>,
    /// Certificate chain (PEM) for --tls-listen.
    #[arg(long, value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// Private key (PEM) for --tls-listen.
    #[arg(long, value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// Trust roots (PEM) for TLS: with them, a sips: target (or one whose
    /// NAPTR ranks TLS first) is sent over a TLS connection it opens,
    /// presenting --tls-cert, to a server whose certificate names the
    /// target's domain (RFC 5922 §7.2); and its listener asks every
    /// client for a certificate from these roots (mutual TLS, RFC 6404
    /// §4.5). Needs --tls-listen.
    #[arg(long, value_name = "FILE")]
    tls_ca: Option<PathBuf>,
    /// Take requests from peers over TLS only (RFC 6404 §4.5): one over
    /// UDP or plain TCP gets 403 and is not relayed. Needs --tls-listen.
    #[arg(long)]
    require_tls: bool,
    /// SBE cores, each on its own socket of the listen address
    /// (SO_REUSEPORT; a call's messages go to one core by Call-ID).
    /// Default: one per CPU; one with --tcp-listen or --tls-listen.
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// New requests per second each peer may start (RFC 6404 §4.9); the
    /// excess gets --over-limit. Shared out among the workers.
    #[arg(long, value_name = "N", default_value_t = 50_000)]
    peer_rate: u32,
    /// Calls each peer may have ringing or set up at once.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    peer_sessions: u32,
    /// What a request over a peer's limit gets: `reject` (503 with
    /// Retry-After: 5) or `drop`.
    #[arg(long, value_name = "HOW", default_value = "reject")]
    over_limit: String,
    /// Relay media through the reference DBE on this address (RFC 6406
    /// §5.3): the SDP crossing the border names it. Give it twice for a
    /// DBE with one address towards the peers and another towards the
    /// next hop. One worker.
    #[arg(long = "media-relay", value_name = "IP")]
    media_relay: Vec<IpAddr>,
    /// The DBE's UDP ports, bound on every --media-relay address; each
    /// stream takes four.
    #[arg(long, value_name = "FROM-TO", default_value = "30000-30399")]
    media_ports: String,
}

/// `FROM-TO`, both included, as a port range.
fn parse_port_range(s: &str) -> Result<std::ops::Range<u16>, String> {
    let bad = || format!("--media-ports {s:?}: expected FROM-TO, e.g. 30000-30399");
    let (from, to) = s.split_once('-').ok_or_else(bad)?;
    let from: u16 = from.trim().parse().map_err(|_| bad())?;
    let to: u16 = to.trim().parse().map_err(|_| bad())?;
    if from == 0 || to < from.saturating_add(3) || to == u16::MAX {
        return Err(format!(
            "--media-ports {s:?}: at least four ports, none 0 or 65535"
        ));
    }
    Ok(from..to + 1)
}

#[derive(Args)]
struct ServeArgs {
    /// The topology (TOML): its SSPs, their peering and ENUM trees. See
    /// docs/rfc6405/topology.toml.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Turn on a misbehaviour switch in every SBE of the topology (repeatable).
    #[arg(long = "misbehave", value_name = "SWITCH")]
    misbehave: Vec<String>,
}

#[derive(Args)]
struct LoadArgs {
    /// The IUT, as udp:HOST:PORT. Without it, the embedded reference SBE is
    /// started on loopback (with --workers cores).
    #[arg(long)]
    target: Option<String>,
    /// Source address of the calling peer (the IUT must accept it as a peer).
    #[arg(long, default_value = "127.0.0.2")]
    peer: std::net::IpAddr,
    /// Where the IUT sends the calls (the answering side): IP:PORT. Required
    /// with --target; the embedded SBE gets an ephemeral port on 127.0.0.4.
    #[arg(long)]
    next_hop: Option<SocketAddr>,
    /// Call rates to step through, calls/s, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "500,1000,2000,3000,4000,6000,8000,10000"
    )]
    rates: Vec<u32>,
    /// Seconds calls are started at each rate.
    #[arg(long, default_value_t = 5.0)]
    step_secs: f64,
    /// A call not over after this many milliseconds fails.
    #[arg(long, default_value_t = 4000)]
    call_timeout_ms: u64,
    /// Cores of the embedded SBE (default: one per CPU).
    #[arg(long)]
    workers: Option<usize>,
    /// Write the result as JSON (- for standard output).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the result as Markdown.
    #[arg(long)]
    markdown: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(
            std::thread::available_parallelism()
                .map_or(2, |n| n.get())
                .max(2),
        )
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("speermint: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let code = match cli.command {
        Command::Certify(args) => certify_on_its_network(args),
        Command::Parse { json, files } => parse_files(json, &files),
        Command::Matrix { json, report } => matrix(json, report),
        Command::Sbe(args) => runtime.block_on(run_sbe(args)),
        Command::Serve(args) => runtime.block_on(serve(args)),
        Command::Load(args) => runtime.block_on(run_load(args)),
        Command::Resolve(args) => runtime.block_on(dns_cmd::resolve(args)),
        Command::Dns(args) => runtime.block_on(dns_cmd::serve(args)),
        Command::DnsKey(args) => dns_cmd::dns_key(args),
    };
    ExitCode::from(code)
}

fn usage(msg: impl std::fmt::Display) -> u8 {
    eprintln!("speermint: {msg}");
    2
}

fn faults_from(names: &[String]) -> Result<Faults, String> {
    names
        .iter()
        .map(|n| match Fault::from_name(n) {
            Some(f) => Ok(f),
            None => {
                let known: Vec<&str> = Fault::ALL.iter().map(|f| f.name()).collect();
                Err(format!(
                    "unknown misbehaviour switch {n:?}; known: {}",
                    known.join(", ")
                ))
            }
        })
        .collect()
}

fn plan_from(args: &CertifyArgs) -> Result<Plan, target::Error> {
    let usage = |m: String| target::Error::Usage(m);
    let mut plan = match &args.profile {
        Some(p) => target::load_profile(p)?,
        None => Plan::embedded(faults_from(&args.misbehave).map_err(usage)?),
    };
    if let Some(t) = &args.target {
        let (transport, addr) = parse_target_on(t).map_err(usage)?;
        plan.target = TargetKind::External { addr };
        plan.transport = transport;
        if args.profile.is_none() {
            // The embedded stack's limits say nothing about another IUT.
            plan.peer_rate = None;
            plan.peer_sessions = None;
            plan.egress = None;
        }
    }
    if let Some(t) = &args.transport {
        if !matches!(plan.target, TargetKind::Embedded { .. }) {
            return Err(usage(
                "--transport is for the embedded reference SBE; an external target names its transport in its address (tcp:HOST:PORT)".into(),
            ));
        }
        plan.transport = speermint_sbe::Transport::parse(t)
            .ok_or_else(|| usage(format!("--transport {t:?}: expected udp, tcp or tls")))?;
    }
    if !args.misbehave.is_empty() && !matches!(plan.target, TargetKind::Embedded { .. }) {
        return Err(usage(
            "--misbehave applies to the embedded reference SBE only".into(),
        ));
    }
    for (flag, value, slot) in [
        ("--peer", &args.peer, &mut plan.peer),
        ("--stranger", &args.stranger, &mut plan.stranger),
        ("--next-hop", &args.next_hop, &mut plan.terminating),
    ] {
        if let Some(v) = value {
            *slot = parse_role_addr(v).map_err(|m| usage(format!("{flag}: {m}")))?;
        }
    }
    if matches!(plan.target, TargetKind::External { .. }) {
        let mut offers = plan.offers.take().unwrap_or_default();
        if !args.egress.is_empty() {
            plan.egress = Some(args.egress.clone());
            if !offers.contains(&Capability::Egress) {
                offers.push(Capability::Egress);
            }
        }
        if let Some(n) = args.peer_sessions {
            plan.peer_sessions = Some(n);
            if !offers.contains(&Capability::SessionLimit) {
                offers.push(Capability::SessionLimit);
            }
        }
        for name in &args.offers {
            let c = Capability::from_name(name).ok_or_else(|| {
                let known: Vec<&str> = Capability::ALL.iter().map(|c| c.name()).collect();
                usage(format!(
                    "--offers: unknown capability {name:?}; known: {}",
                    known.join(", ")
                ))
            })?;
            if !offers.contains(&c) {
                offers.push(c);
            }
        }
        if offers.contains(&Capability::PeeringTopology) {
            return Err(usage(
                "--offers peering-topology: the harness assembles the RFC 6405 topologies from reference SBEs only, so far; the embedded stack runs those checks".into(),
            ));
        }
        for (c, declared, key) in [
            (
                Capability::RateLimit,
                plan.peer_rate.is_some(),
                "limits.peer_requests_per_second",
            ),
            (
                Capability::SessionLimit,
                plan.peer_sessions.is_some(),
                "limits.peer_sessions",
            ),
            (Capability::Egress, plan.egress.is_some(), "target.egress"),
            (
                Capability::MediaRelay,
                plan.media_relay.is_some(),
                "target.media_relay",
            ),
            (Capability::Identity, false, "identity"),
            (Capability::MutualTls, false, "mutual-tls"),
            (Capability::DnsTls, false, "dns-tls"),
            (
                Capability::PerPeerIngress,
                plan.peer_ingress.is_some(),
                "[ingress] peer and second_peer",
            ),
        ] {
            if matches!(
                c,
                Capability::Identity | Capability::MutualTls | Capability::DnsTls
            ) && offers.contains(&c)
            {
                return Err(usage(format!(
                    "--offers {}: the harness cannot share its credentials with an external IUT yet; the embedded stack runs that check",
                    c.name()
                )));
            }
            if offers.contains(&c) && !declared {
                return Err(usage(format!(
                    "--offers {}: the check needs what the SSP declares; declare {key} in a --profile",
                    c.name()
                )));
            }
        }
        plan.offers = Some(offers);
    } else if !args.offers.is_empty() || !args.egress.is_empty() || args.peer_sessions.is_some() {
        return Err(usage(
            "--offers and --egress describe an external IUT; the embedded stack offers everything and declares its own egress".into(),
        ));
    }
    if plan.peer.ip() == plan.stranger.ip() {
        return Err(usage(format!(
            "the stranger role ({}) has the peer's address: the IUT could not tell them apart, so a refusal would say nothing; give the stranger another address",
            plan.stranger.ip()
        )));
    }
    if args.sockets || matches!(plan.target, TargetKind::External { .. }) {
        plan.network = target::NetworkKind::Sockets;
    }
    if matches!(plan.target, TargetKind::External { .. }) && plan.terminating.port() == 0 {
        return Err(usage("an external target needs --next-hop IP:PORT (or roles.terminating in the profile): the address the IUT forwards to".into()));
    }
    Ok(plan)
}

/// The checks `--only` and `--skip` leave, by id or tag; a name that
/// matches no check is an error (a typo must not silently skip).
fn select(only: &[String], skip: &[String]) -> Result<Vec<Check>, String> {
    let all = speermint_conformance::registry();
    for name in only.iter().chain(skip) {
        if !all.iter().any(|c| c.has_tag(name)) {
            let ids: Vec<_> = all.iter().map(|c| c.id).collect();
            return Err(format!(
                "no check has the id or tag {name:?}; ids: {} (tags: the requirement IDs of `speermint matrix`, and dns-role, tls)",
                ids.join(", ")
            ));
        }
    }
    Ok(all
        .iter()
        .filter(|c| only.is_empty() || only.iter().any(|t| c.has_tag(t)))
        .filter(|c| !skip.iter().any(|t| c.has_tag(t)))
        .copied()
        .collect())
}

/// `certify --list`: one line per check with what it covers and needs.
fn list(checks: &[Check]) -> u8 {
    for c in checks {
        let covers: Vec<String> = c.covers.iter().map(ToString::to_string).collect();
        let needs: Vec<&str> = c.needs.iter().map(|n| n.name()).collect();
        out!(
            "{:<30} {:<6} covers {}{}",
            c.id,
            format!("{:?}", c.level).to_uppercase(),
            covers.join(", "),
            if needs.is_empty() {
                String::new()
            } else {
                format!("; needs {}", needs.join(", "))
            }
        );
    }
    0
}

/// The embedded target runs on the simulated network by default, which
/// needs its own runtime (one thread, virtual clock).
fn certify_on_its_network(args: CertifyArgs) -> u8 {
    let plan = match plan_from(&args) {
        Ok(p) => p,
        Err(e) => return usage(e),
    };
    match plan.runtime() {
        Ok(rt) => rt.block_on(certify(args, plan)),
        Err(e) => usage(format!("cannot start the runtime: {e}")),
    }
}

async fn certify(args: CertifyArgs, plan: Plan) -> u8 {
    let checks = match select(&args.only, &args.skip) {
        Ok(c) => c,
        Err(e) => return usage(e),
    };
    if args.list {
        return list(&checks);
    }
    // Output paths are checked before the run, not after it.
    for path in [&args.json, &args.junit, &args.markdown, &args.pcap]
        .into_iter()
        .flatten()
    {
        if path.as_os_str() != "-" {
            if let Err(e) = std::fs::File::create(path) {
                return usage(format!("{}: {e}", path.display()));
            }
        }
    }
    let started = std::time::SystemTime::now();
    let mut session = match target::start(&plan).await {
        Ok(s) => s,
        Err(e) => return usage(e),
    };
    // A target that cannot be reached or does not answer is a fault of the
    // set-up, not a verdict on the IUT.
    if let Err(silence) = speermint_harness::liveness::probe(&mut session.ctx).await {
        let line = silence.describe(&session.ctx);
        eprintln!("speermint: {line}");
        let mut report = Report::setup_failed(session.label, line);
        report.profile = args.profile.as_ref().map(|p| p.display().to_string());
        return write_reports(&args, &report, started).err().unwrap_or(3);
    }
    let bar = ProgressBar::new(checks.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    // On a terminal a progress bar; elsewhere (CI logs) a line per check
    // as it finishes.
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let results = speermint_harness::runner::run_checks(
        &mut session.ctx,
        &checks,
        |check, done| match done {
            None => bar.set_message(check.id),
            Some(r) => {
                bar.inc(1);
                if !tty {
                    eprintln!(
                        "{:<14} {} ({} ms)",
                        r.verdict.as_str().to_uppercase(),
                        r.id,
                        r.duration_ms
                    );
                }
            }
        },
    )
    .await;
    bar.finish_and_clear();
    if let Some(sbe) = session.sbe.take() {
        sbe.stop().await;
    }
    let mut report = Report::new(session.label, results);
    report.profile = args.profile.as_ref().map(|p| p.display().to_string());
    if args.json.as_deref() == Some(std::path::Path::new("-")) {
        // stdout carries the JSON; the table goes to the terminal's other stream.
        eprint!("{}", report.table());
    } else {
        out_nl!("{}", report.table());
        if args.verbose {
            out_nl!("{}", report.ladders());
        }
    }
    write_reports(&args, &report, started)
        .err()
        .unwrap_or(report.exit_code() as u8)
}

/// Writes the JSON and JUnit reports asked for (`-` is stdout); an error
/// is a usage error (exit 2) naming the path.
fn write_reports(
    args: &CertifyArgs,
    report: &Report,
    started: std::time::SystemTime,
) -> Result<(), u8> {
    let texts = [
        (&args.json, report.to_json()),
        (&args.junit, report.to_junit()),
        (&args.markdown, report.to_markdown()),
    ];
    for (path, text) in texts {
        match path {
            Some(p) if p.as_os_str() == "-" => out!("{text}"),
            Some(p) => {
                if let Err(e) = std::fs::write(p, text) {
                    return Err(usage(format!("{}: {e}", p.display())));
                }
            }
            None => {}
        }
    }
    if let Some(p) = &args.pcap {
        let bytes = speermint_harness::pcap::capture(report, started)
            .map_err(|e| usage(format!("{}: {e}", p.display())))?;
        if let Err(e) = std::fs::write(p, bytes) {
            return Err(usage(format!("{}: {e}", p.display())));
        }
    }
    Ok(())
}

/// Line and column (1-based) of a byte offset.
fn line_col(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|&&c| c == b'\n').count() + 1;
    let col = offset
        - before
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(0, |i| i + 1)
        + 1;
    (line, col)
}

fn parse_files(json: bool, files: &[PathBuf]) -> u8 {
    let mut worst = 0;
    for path in files {
        let name = path.display().to_string();
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                worst = 2;
                if json {
                    out!(
                        "{}",
                        serde_json::json!({"file": name, "verdict": "unreadable", "error": {"reason": e.to_string()}})
                    );
                } else {
                    eprintln!("{name}: cannot read: {e}");
                }
                continue;
            }
        };
        let kind = |b: &[u8]| {
            if b.starts_with(b"SIP/") {
                "response"
            } else {
                "request"
            }
        };
        match Message::parse(&bytes) {
            Ok(m) => {
                let kind = if m.is_request() {
                    "request"
                } else {
                    "response"
                };
                if json {
                    out!(
                        "{}",
                        serde_json::json!({"file": name, "verdict": "valid", "kind": kind})
                    );
                } else {
                    let what = match m.start_line() {
                        StartLine::Request { method, uri } => format!("{method} {uri}"),
                        StartLine::Response { code, .. } => {
                            format!("{code} to {}", m.core().cseq.method)
                        }
                    };
                    let extra = if m.discarded() > 0 {
                        format!(", {} trailing bytes ignored", m.discarded())
                    } else {
                        String::new()
                    };
                    out!(
                        "{name}: valid {kind}: {what} ({} header fields, {}-byte body{extra})",
                        m.headers().len(),
                        m.body().len()
                    );
                }
            }
            Err(ParseError { offset, kind: k }) => {
                worst = worst.max(1);
                let reason = k.to_string();
                if json {
                    out!(
                        "{}",
                        serde_json::json!({"file": name, "verdict": "invalid", "kind": kind(&bytes), "error": {"offset": offset, "reason": reason, "code": k.code()}})
                    );
                } else {
                    let (line, col) = line_col(&bytes, offset);
                    out!(
                        "{name}:{line}:{col}: invalid {}: {reason} at byte {offset} [{}]",
                        kind(&bytes),
                        k.code()
                    );
                }
            }
        }
    }
    worst
}

fn matrix(json: bool, report: Option<PathBuf>) -> u8 {
    let verdicts: std::collections::HashMap<String, String> = match &report {
        None => Default::default(),
        Some(p) => {
            let text = match std::fs::read_to_string(p) {
                Ok(t) => t,
                Err(e) => return usage(format!("{}: {e}", p.display())),
            };
            let v: serde_json::Value = match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(e) => {
                    return usage(format!(
                        "{}:{}: not a certify report: {e}",
                        p.display(),
                        e.line()
                    ));
                }
            };
            v["checks"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| {
                    Some((
                        c["id"].as_str()?.to_string(),
                        c["verdict"].as_str()?.to_string(),
                    ))
                })
                .collect()
        }
    };
    let mut rows = Vec::new();
    let mut refs: Vec<_> = speermint_harness::refs::must_cover();
    for c in speermint_conformance::registry() {
        for r in c.covers {
            if !refs.contains(r) {
                refs.push(*r);
            }
        }
    }
    for r in refs {
        let checks: Vec<&str> = speermint_conformance::registry()
            .iter()
            .filter(|c| c.covers.contains(&r))
            .map(|c| c.id)
            .collect();
        let status = if checks.is_empty() {
            speermint_conformance::uncovered()
                .iter()
                .find(|u| u.reference == r)
                .map_or("uncovered".to_string(), |u| u.reason.to_string())
        } else {
            checks
                .iter()
                .map(|c| {
                    format!(
                        "{c}: {}",
                        verdicts.get(*c).map_or("not run", String::as_str)
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        rows.push((r.to_string(), checks, status));
    }
    if json {
        let v: Vec<_> = rows
            .iter()
            .map(|(r, c, s)| serde_json::json!({"requirement": r, "checks": c, "status": s}))
            .collect();
        out!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
        for (r, _, s) in rows {
            out!("{r:<w$}  {s}");
        }
    }
    0
}

async fn run_sbe(args: SbeArgs) -> u8 {
    let faults = match faults_from(&args.misbehave) {
        Ok(f) => f,
        Err(e) => return usage(e),
    };
    let tls = match (&args.tls_listen, &args.tls_cert, &args.tls_key) {
        (None, None, None) => None,
        (Some(bind), Some(cert), Some(key)) => {
            let client = match &args.tls_ca {
                Some(ca) => {
                    match speermint_harness::pki::client_config_as_from_pem(ca, cert, key) {
                        Ok(c) => Some(c),
                        Err(e) => return usage(e),
                    }
                }
                None => None,
            };
            // With roots, peers authenticate too (RFC 6404 §4.5).
            let server = match &args.tls_ca {
                Some(ca) => speermint_harness::pki::server_config_from_pem_verifying(cert, key, ca),
                None => speermint_harness::pki::server_config_from_pem(cert, key),
            };
            match server {
                Ok(config) => Some(speermint_border::TlsListen {
                    bind: *bind,
                    config,
                    client,
                }),
                Err(e) => return usage(e),
            }
        }
        _ => return usage("--tls-listen, --tls-cert and --tls-key go together"),
    };
    if args.tls_ca.is_some() && tls.is_none() {
        return usage(
            "--tls-ca: it presents --tls-cert when it connects, so --tls-listen, --tls-cert and --tls-key too",
        );
    }
    if args.require_tls && tls.is_none() {
        return usage("--require-tls: peers need somewhere to reach it over TLS, --tls-listen");
    }
    let locator = if args.dns.is_empty() {
        None
    } else {
        match dns_cmd::sbe_locator(
            &args.dns,
            args.trust_anchor.as_deref(),
            args.tls_ca.is_some(),
        )
        .await
        {
            Ok(l) => Some(l),
            Err(e) => return usage(e),
        }
    };
    let resolve = locator.is_some();
    let media = match args.media_relay[..] {
        [] => None,
        [a] | [a, _] => {
            let b = args.media_relay.get(1).copied().unwrap_or(a);
            let ports = match parse_port_range(&args.media_ports) {
                Ok(p) => p,
                Err(e) => return usage(e),
            };
            Some(speermint_sbe::dbe::DbeConfig {
                addresses: speermint_sbe::dbe::Sides { a, b },
                ports,
                ..speermint_sbe::dbe::DbeConfig::default()
            })
        }
        _ => return usage("--media-relay: once, or twice (towards the peers, then inside)"),
    };
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    // A connection would pin its calls to the worker that accepted it.
    let streams = tls.is_some() || args.tcp_listen.is_some();
    let workers = match (args.workers, streams) {
        (Some(n), _) if n > 1 && media.is_some() => {
            // A call's media state lives with its signalling, in one core.
            return usage("--workers above 1 cannot relay media: drop --media-relay or --workers");
        }
        (Some(0), _) => return usage("--workers: at least 1"),
        (Some(n), true) if n > 1 => {
            return usage(
                "--workers above 1 is UDP only: drop --tcp-listen and --tls-listen, or --workers",
            );
        }
        (Some(n), _) if n > 1 && args.hide_topology => {
            // Calls are spread over workers by Call-ID, and hiding gives a
            // call a new Call-ID at the border: its two halves would land
            // on different workers.
            return usage(
                "--workers above 1 cannot hide topology: drop --hide-topology or --workers",
            );
        }
        (Some(n), _) => n,
        (None, true) => 1,
        (None, false) if args.hide_topology || media.is_some() => 1,
        (None, false) => cpus,
    };
    let over_limit = match args.over_limit.as_str() {
        "reject" => speermint_sbe::OverLimit::Reject { retry_after: 5 },
        "drop" => speermint_sbe::OverLimit::Drop,
        other => return usage(format!("--over-limit {other:?}: expected reject or drop")),
    };
    if args.peer_rate == 0 || args.peer_sessions == 0 {
        return usage("--peer-rate and --peer-sessions: at least 1");
    }
    // Calls are spread over the workers by Call-ID, so each holds its
    // share of every limit.
    let share = |n: u32| n.div_ceil(workers as u32).max(1);
    let limits = speermint_sbe::PeerLimits {
        requests_per_sec: f64::from(share(args.peer_rate)),
        burst: f64::from(share(args.peer_rate)),
        sessions: share(args.peer_sessions) as usize,
        over_limit,
        ..speermint_sbe::PeerLimits::default()
    };
    if let Some(ip) = args
        .trusted_peers
        .iter()
        .find(|ip| !args.peers.contains(ip))
    {
        return usage(format!("--trusted-peer {ip}: give it as --peer too"));
    }
    let (peers, next_hop) = (args.peers.clone(), args.next_hop);
    let trusted = args.trusted_peers.clone();
    let hostname = args.hostname.clone();
    let hide_topology = args.hide_topology;
    let tls_required = if args.require_tls {
        args.peers.clone()
    } else {
        Vec::new()
    };
    let dbe = media.clone();
    let config = move |local| {
        let mut cfg = SbeConfig::new(local, peers, next_hop);
        cfg.hide_topology = hide_topology;
        cfg.trusted_peers = trusted.clone();
        cfg.tls_required = tls_required;
        cfg.hostname = hostname.clone();
        cfg.faults = faults;
        cfg.resolve_names = resolve;
        cfg.peer_limits = limits;
        cfg.media = dbe.map(|mut d| {
            d.faults = faults;
            d
        });
        cfg
    };
    let started = if let Some(media) = &media {
        start_with_media(args.listen, args.tcp_listen, tls, media, config, locator).await
    } else if streams || workers == 1 {
        speermint_border::RunningSbe::start_streams(
            args.listen,
            args.tcp_listen,
            tls,
            config,
            locator,
        )
        .await
        .map_err(|e| e.to_string())
    } else {
        speermint_border::RunningSbe::start_workers(args.listen, workers, config, locator)
            .await
            .map_err(|e| e.to_string())
    };
    let sbe = match started {
        Ok(s) => s,
        Err(e) => return usage(e),
    };
    // One address per line, first: scripts read them.
    out!("listening on udp:{}", sbe.addr());
    if let Some(t) = sbe.tcp_addr() {
        out!("listening on tcp:{t}");
    }
    if let Some(t) = sbe.tls_addr() {
        out!("listening on tls:{t}");
    }
    out!("workers: {workers}");
    if let Some(m) = &media {
        out!(
            "relaying media on {} and {}, ports {}-{}",
            m.addresses.a,
            m.addresses.b,
            m.ports.start,
            m.ports.end - 1
        );
    }
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    let mut sbe = sbe;
    if media.is_some() {
        log_media_until_interrupted(&mut sbe).await;
    } else {
        let _ = tokio::signal::ctrl_c().await;
    }
    sbe.stop().await;
    0
}

/// Prints a line for each media stream that ends (its packets relayed and
/// dropped, per side) and each stream the DBE refused, until interrupted:
/// the operator's view of the relay, as a media proxy logs final stats.
/// Events beyond the driver's bound between two reads are lost, not
/// queued: a log must not grow the process.
async fn log_media_until_interrupted(sbe: &mut speermint_border::RunningSbe) {
    use speermint_sbe::dbe::Event as Media;
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
    let print = |sbe: &mut speermint_border::RunningSbe| {
        for e in sbe.drain_events() {
            match e {
                speermint_sbe::Event::Media(Media::StreamEnded {
                    call,
                    stream,
                    reason,
                    counters,
                }) => out!(
                    "media: call {call} m={stream} ended ({reason}): from the peers' side {}; from the inside {}",
                    counters.a,
                    counters.b
                ),
                speermint_sbe::Event::Media(e @ Media::Refused { .. }) => out!("media: {e}"),
                _ => {}
            }
        }
    };
    loop {
        tokio::select! {
            _ = &mut interrupted => break,
            _ = tick.tick() => print(sbe),
        }
    }
    print(sbe);
}

/// The SBE on one core with its DBE's relay sockets bound.
async fn start_with_media(
    listen: SocketAddr,
    tcp_listen: Option<SocketAddr>,
    tls: Option<speermint_border::TlsListen>,
    media: &speermint_sbe::dbe::DbeConfig,
    config: impl FnOnce(SocketAddr) -> SbeConfig,
    locator: Option<speermint_resolver::Locator>,
) -> Result<speermint_border::RunningSbe, String> {
    let net = speermint_net::Network::Sockets;
    let socket = net
        .bind_udp(listen)
        .await
        .map_err(|e| format!("cannot bind {listen}: {e}"))?;
    let outbound =
        tls.as_ref()
            .and_then(|t| t.client.clone())
            .map(|tls| speermint_border::Outbound {
                net: net.clone(),
                tls,
            });
    let listener = match tls {
        Some(t) => Some((
            net.listen_tcp(t.bind)
                .await
                .map_err(|e| format!("cannot bind {}: {e}", t.bind))?,
            t.config,
        )),
        None => None,
    };
    let tcp = match tcp_listen {
        Some(a) => Some(
            net.listen_tcp(a)
                .await
                .map_err(|e| format!("cannot bind {a}: {e}"))?,
        ),
        None => None,
    };
    let sockets = speermint_border::bind_media(&net, media)
        .await
        .map_err(|e| e.to_string())?;
    speermint_border::RunningSbe::start_bound_full(
        socket, tcp, listener, sockets, outbound, config, locator,
    )
    .map_err(|e| e.to_string())
}

/// `speermint serve`: the topology on loopback sockets until interrupted.
/// Exit 2 for a bad file (naming its line) or an address that cannot be
/// bound.
async fn serve(args: ServeArgs) -> u8 {
    use speermint_harness::peering;
    let faults = match faults_from(&args.misbehave) {
        Ok(f) => f,
        Err(e) => return usage(e),
    };
    let cfg = match peering::load_topology(&args.config) {
        Ok(c) => c,
        Err(e) => return usage(e),
    };
    let net = speermint_net::Network::Sockets;
    let topology = match peering::start(&net, &cfg, faults).await {
        Ok(t) => t,
        Err(e) => return usage(format!("{}: {e}", args.config.display())),
    };
    // One element per line, first: scripts and SIPp read them.
    for line in topology.lines() {
        out!("{line}");
    }
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    let _ = tokio::signal::ctrl_c().await;
    topology.stop().await;
    0
}

/// `speermint load`: exit 0 when some rate passed, 1 when none did, 2 for
/// usage, 3 when the IUT never answered (a set-up fault, not a rate).
async fn run_load(args: LoadArgs) -> u8 {
    use speermint_harness::load::{self, LoadPlan};
    if args.rates.is_empty() || args.rates.contains(&0) {
        return usage("--rates: one or more rates above 0");
    }
    if !(args.step_secs > 0.0 && args.step_secs <= 3600.0) || args.call_timeout_ms == 0 {
        return usage("--step-secs must be in (0, 3600] and --call-timeout-ms above 0");
    }
    for path in [&args.json, &args.markdown].into_iter().flatten() {
        if path.as_os_str() != "-" {
            if let Err(e) = std::fs::File::create(path) {
                return usage(format!("{}: {e}", path.display()));
            }
        }
    }
    let peer = SocketAddr::new(args.peer, 0);
    let external = match (&args.target, args.next_hop) {
        (Some(t), Some(_)) => match speermint_harness::target::parse_target(t) {
            Ok(a) => Some(a),
            Err(e) => return usage(e),
        },
        (Some(_), None) => return usage("--next-hop: where the IUT sends the calls, IP:PORT"),
        (None, _) => None,
    };
    // Both sides bind first and keep their sockets: the embedded SBE is
    // built to reach the answering side's address.
    let hop = args
        .next_hop
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 4], 0)));
    let sockets = match load::LoadSockets::bind(peer, hop).await {
        Ok(s) => s,
        Err(e) => return usage(format!("cannot bind the load roles ({peer}, {hop}): {e}")),
    };
    let uas = sockets.uas_addr().unwrap_or(hop);
    let (target, embedded) = match external {
        Some(a) => (a, None),
        None => {
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
            let workers = args.workers.unwrap_or(cpus).max(1);
            let peers = vec![args.peer];
            let config = move |local| SbeConfig::new(local, peers, uas);
            let bind = SocketAddr::from(([127, 0, 0, 1], 0));
            let started = if workers == 1 {
                speermint_border::RunningSbe::start_udp(bind, config).await
            } else {
                speermint_border::RunningSbe::start_workers(bind, workers, config, None).await
            };
            match started {
                Ok(sbe) => (sbe.addr(), Some((sbe, workers))),
                Err(e) => return usage(e),
            }
        }
    };
    let label = match &embedded {
        Some((_, w)) => format!("embedded reference SBE (udp:{target}, {w} workers)"),
        None => format!("udp:{target}"),
    };
    out!("target: {label}");
    let plan = LoadPlan {
        target,
        rates: args.rates.clone(),
        step: Duration::from_secs_f64(args.step_secs),
        call_timeout: Duration::from_millis(args.call_timeout_ms),
        t1: Duration::from_millis(500),
    };
    let progress = |s: &load::StepReport| {
        out!(
            "{:>6} calls/s: {:>7} calls, {:>7} ok, {:>5} failed, {:>5} retransmissions, {:>8.0} transactions/s, INVITE->200 p50 {:.1} ms p99 {:.1} ms: {}",
            s.rate,
            s.calls,
            s.succeeded,
            s.failed,
            s.retransmissions,
            s.transactions_per_s,
            s.response_ms[0],
            s.response_ms[2],
            if s.passed {
                "pass".to_string()
            } else {
                format!("FAIL ({})", s.why)
            }
        );
    };
    let report = match load::run(plan, sockets, progress).await {
        Ok(r) => r,
        Err(e) => return usage(format!("the load roles ({peer}, {uas}) failed: {e}")),
    };
    if let Some((sbe, _)) = embedded {
        sbe.stop().await;
    }
    let mut report = report;
    report.target = label;
    if !report.iut_answered {
        eprintln!(
            "speermint: target udp:{target} answered none of the calls: check the address and that it accepts {} as a peer",
            args.peer
        );
    }
    match report.max_clean_rate {
        Some(r) => out!("highest clean rate: {r} calls/s"),
        None => out!("no rate passed"),
    }
    let json = serde_json::to_string_pretty(&report).unwrap_or_default();
    for (path, text) in [(&args.json, json), (&args.markdown, report.to_markdown())] {
        match path {
            Some(p) if p.as_os_str() == "-" => out!("{text}"),
            Some(p) => {
                if let Err(e) = std::fs::write(p, text) {
                    return usage(format!("{}: {e}", p.display()));
                }
            }
            None => {}
        }
    }
    if !report.iut_answered {
        3
    } else if report.max_clean_rate.is_some() {
        0
    } else {
        1
    }
}

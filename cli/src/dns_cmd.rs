//! `speermint resolve` (the LUF and LRF from the command line) and
//! `speermint dns` (the embedded authoritative server on its own).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use speermint_dns_role::{AuthServer, Zone};
use speermint_resolver::{
    Client, ClientConfig, DnsTransport, LocateError, Located, Locator, LocatorConfig, TrustAnchor,
};

#[derive(Args)]
pub(crate) struct ResolveArgs {
    /// DNS server to ask, ADDR:PORT (repeatable; two are asked at once for
    /// failover). Default: the nameservers of /etc/resolv.conf.
    #[arg(long = "dns", value_name = "ADDR:PORT")]
    dns: Vec<SocketAddr>,
    /// Validate DNSSEC against the DNSKEY or DS records in this file
    /// (zone-file syntax). Any answer that does not validate is an error.
    #[arg(long, value_name = "FILE")]
    trust_anchor: Option<PathBuf>,
    /// ENUM apex for numbers.
    #[arg(long, default_value = "e164.arpa")]
    apex: String,
    /// Per-attempt timeout in milliseconds.
    #[arg(long, default_value_t = 1000)]
    timeout_ms: u64,
    /// Ask over TCP only.
    #[arg(long)]
    tcp: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// An E.164 number (+442079460000, tel:+44...) or a sip:/sips: URI.
    target: String,
}

#[derive(Args)]
pub(crate) struct DnsArgs {
    /// A zone file, FILE or FILE=ORIGIN when the file has no $ORIGIN (repeatable).
    #[arg(long = "zone", value_name = "FILE[=ORIGIN]", required = true)]
    zones: Vec<String>,
    /// Sign every zone with a fresh ECDSA P-256 key (RFC 6605).
    #[arg(long)]
    sign: bool,
    /// Address for UDP and TCP (port 0 picks one; the address is printed).
    #[arg(long, default_value = "127.0.0.1:5353")]
    listen: SocketAddr,
    /// Write the DNSKEY trust anchors of the signed zones here.
    #[arg(long, value_name = "FILE")]
    anchor_out: Option<PathBuf>,
}

/// Exit 0 with a route, 1 when there is none, 2 on bad usage.
pub(crate) async fn resolve(args: ResolveArgs) -> u8 {
    let servers = if args.dns.is_empty() {
        match system_nameservers() {
            Ok(s) if !s.is_empty() => s,
            Ok(_) => return crate::usage("no --dns given and no nameserver in /etc/resolv.conf"),
            Err(e) => return crate::usage(format!("no --dns given and /etc/resolv.conf: {e}")),
        }
    } else {
        args.dns.clone()
    };
    let mut cfg = ClientConfig::new(servers);
    cfg.timeout = Duration::from_millis(args.timeout_ms.max(1));
    if args.tcp {
        cfg.transport = DnsTransport::Tcp;
    }
    if let Some(path) = &args.trust_anchor {
        match TrustAnchor::from_file(path) {
            Ok(a) => cfg.trust_anchor = Some(a),
            Err(e) => return crate::usage(e),
        }
    }
    let apex = match speermint_enum::Apex::new(&args.apex) {
        Ok(a) => a,
        Err(e) => return crate::usage(format!("--apex {:?}: {e}", args.apex)),
    };
    let client = match Client::new(cfg).await {
        Ok(c) => c,
        Err(e) => {
            // Only a DS anchor no key matches is about DNSSEC.
            let kind = match e {
                speermint_resolver::ClientError::Anchor(_) => "dnssec",
                _ => "dns",
            };
            return report_error(
                args.json,
                &LocateError {
                    kind,
                    message: e.to_string(),
                    steps: Vec::new(),
                },
            );
        }
    };
    let mut config = LocatorConfig::default();
    config.luf.apex = apex;
    let locator = Locator::new(client, config);
    match locator.locate(&args.target).await {
        Ok(found) => {
            if args.json {
                out!(
                    "{}",
                    serde_json::to_string_pretty(&found).unwrap_or_default()
                );
            } else {
                print_located(&found);
            }
            0
        }
        Err(e) => {
            if !args.json {
                for s in &e.steps {
                    out!("{:<4} {:<9} {}", s.function, s.step, s.detail);
                }
            }
            report_error(args.json, &e)
        }
    }
}

fn report_error(json: bool, e: &LocateError) -> u8 {
    if json {
        let v = serde_json::json!({"error": {"kind": e.kind, "message": e.message}});
        out!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        eprintln!("speermint: resolve: {e}");
    }
    1
}

fn print_located(found: &Located) {
    for s in &found.steps {
        out!("{:<4} {:<9} {}", s.function, s.step, s.detail);
    }
    out!();
    out!("target URI  {}", found.target_uri);
    for (i, h) in found.next_hops.iter().enumerate() {
        out!(
            "next hop {}  {} {} {}",
            i + 1,
            h.transport,
            h.host,
            std::net::SocketAddr::new(h.address, h.port)
        );
    }
    out!(
        "secure      {}",
        if found.secure {
            "yes: every answer validated"
        } else {
            "no: not validated"
        }
    );
}

/// `nameserver` lines of /etc/resolv.conf, port 53.
fn system_nameservers() -> std::io::Result<Vec<SocketAddr>> {
    let text = std::fs::read_to_string("/etc/resolv.conf")?;
    Ok(text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|a| a.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect())
}

/// Serves zones until interrupted.
pub(crate) async fn serve(args: DnsArgs) -> u8 {
    let mut server = AuthServer::new();
    for spec in &args.zones {
        let (file, origin) = match spec.split_once('=') {
            Some((f, o)) => (f, Some(o)),
            None => (spec.as_str(), None),
        };
        let zone = match Zone::from_file(std::path::Path::new(file), origin) {
            Ok(z) => z,
            Err(e) => return crate::usage(e),
        };
        let zone = if args.sign {
            match zone.sign() {
                Ok(z) => z,
                Err(e) => return crate::usage(e),
            }
        } else {
            zone
        };
        server = server.zone(zone);
    }
    let running = match server.start(args.listen).await {
        Ok(r) => r,
        Err(e) => return crate::usage(e),
    };
    if let Some(path) = &args.anchor_out {
        let text = running.trust_anchor_records().join("\n") + "\n";
        if let Err(e) = std::fs::write(path, text) {
            return crate::usage(format!("{}: {e}", path.display()));
        }
    }
    out!("listening on udp+tcp:{}", running.addr());
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    let _ = tokio::signal::ctrl_c().await;
    running.stop().await;
    0
}

#[derive(Args)]
pub(crate) struct DnsKeyArgs {
    /// The key file (PKCS#8 PEM); created if it does not exist.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// Write the trust anchors here instead of printing them.
    #[arg(long, value_name = "FILE")]
    anchors: Option<PathBuf>,
    /// The IUT's own domain, as in the profile's `target.domain`.
    #[arg(long, default_value = "ssp.example")]
    domain: String,
}

/// The DNS role's zone key for external runs: created once, reused, so
/// the IUT's configured anchors keep validating (profile `[dns] key`).
pub(crate) fn dns_key(args: DnsKeyArgs) -> u8 {
    let der = if args.key.exists() {
        match std::fs::read(&args.key)
            .map_err(|e| e.to_string())
            .and_then(|b| speermint_harness::pki::pkcs8_from_pem_or_der(&b))
        {
            Ok(k) => k,
            Err(e) => return crate::usage(format!("{}: {e}", args.key.display())),
        }
    } else {
        let Ok(k) = speermint_dns_role::generate_key() else {
            return crate::usage("cannot generate an ECDSA P-256 key");
        };
        if let Err(e) = std::fs::write(&args.key, speermint_harness::pki::pkcs8_pem(&k)) {
            return crate::usage(format!("{}: {e}", args.key.display()));
        }
        k
    };
    let records = match speermint_dns_role::DnsRole::anchor_records(&der, &args.domain) {
        Ok(r) => r,
        Err(e) => return crate::usage(e),
    };
    let text = records.join("\n") + "\n";
    match &args.anchors {
        Some(p) => {
            if let Err(e) = std::fs::write(p, text) {
                return crate::usage(format!("{}: {e}", p.display()));
            }
        }
        None => out_nl!("{text}"),
    }
    0
}

/// The reference SBE's LUF/LRF over `servers` (it originates UDP only),
/// validating with `anchors` when given.
pub(crate) async fn sbe_locator(
    servers: &[SocketAddr],
    anchors: Option<&std::path::Path>,
    tls: bool,
) -> Result<Locator, String> {
    let anchor = match anchors {
        Some(path) => Some(TrustAnchor::from_file(path).map_err(|e| e.to_string())?),
        None => None,
    };
    speermint_dns_role::role::locator(
        &speermint_net::Network::Sockets,
        servers.to_vec(),
        anchor,
        // With TLS it speaks both, and the NAPTR order picks (RFC 3263 §4.1).
        if tls {
            vec![
                speermint_resolver::Transport::Udp,
                speermint_resolver::Transport::Tls,
            ]
        } else {
            vec![speermint_resolver::Transport::Udp]
        },
    )
    .await
    .map_err(|e| e.to_string())
}

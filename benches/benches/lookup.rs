//! DNS throughput of the LUF and LRF drivers of `speermint-resolver`, in process
//! against the embedded authoritative server on 127.0.0.1 (one signed ENUM
//! zone, one signed SIP domain), over real UDP sockets.
//!
//! Ids: `dns/<function>/<security>/<cache>`:
//! - function: `enum_lookup` (LUF only: `Locator::lookup_number`, one
//!   NAPTR query), `rfc3263` (LRF only: `Locator::route_target` for
//!   `sips:peer.example`: NAPTR, SRV, then A and AAAA), `number_to_hops`
//!   (both, `Locator::locate` on the number: the LUF's NAPTR, then the
//!   LRF on `sip:+441632960083@peer.example`, five queries in all);
//! - security: `validated` (client holds the zones' keys as trust anchors
//!   and checks every RRSIG) or `plain` (no anchors, no validation);
//! - cache: `warm` (every answer already in the resolver's cache; no
//!   packet leaves the client) or `cold` (`Client::clear_cache` before
//!   each iteration, outside the timed region, so each record is asked of
//!   the server again). `clear_cache` empties hickory's answer cache only:
//!   the zone DNSKEYs fetched for validation stay known, so a `validated`
//!   cold run re-asks the records and re-checks their RRSIGs but does not
//!   re-fetch the keys (the very first resolution did).
//!
//! Throughput is one resolution per iteration, so criterion reports
//! resolutions (lookups) per second. Client and server share one tokio
//! multi-thread runtime, so a cold figure includes the server's work.
#![forbid(unsafe_code)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use speermint_dns_role::{AuthServer, RunningAuth, Zone};
use speermint_resolver::{Client, ClientConfig, Locator, LocatorConfig, TrustAnchor, sip_target};
use speermint_route::Target;
use tokio::runtime::Runtime;

/// TTL 300 s: longer than a whole bench run, so warm stays warm.
const PEER_ZONE: &str = include_str!("../../corpora/dns/peer.example.zone");

const ENUM_ZONE: &str = include_str!("../../corpora/dns/4.4.e164.arpa.zone");

const NUMBER: &str = "+441632960083";
const TARGET_URI: &str = "sips:peer.example";

async fn server() -> RunningAuth {
    let zone = |text, label| {
        Zone::from_text(text, None, label)
            .and_then(Zone::sign)
            .expect("bench zone loads and signs")
    };
    AuthServer::new()
        .zone(zone(PEER_ZONE, "peer.zone"))
        .zone(zone(ENUM_ZONE, "enum.zone"))
        .start("127.0.0.1:0".parse().expect("loopback address"))
        .await
        .expect("embedded server starts")
}

async fn locator(server: &RunningAuth, validated: bool) -> Locator {
    let mut cfg = ClientConfig::new(vec![server.addr()]);
    if validated {
        let anchors = TrustAnchor::from_records(&server.trust_anchor_records())
            .expect("server's keys parse as anchors");
        cfg.trust_anchor = Some(anchors);
    }
    let client = Client::new(cfg).await.expect("client builds");
    Locator::new(client, LocatorConfig::default())
}

/// Checks the fixtures resolve as expected before anything is timed, and
/// warms the cache.
async fn check(locator: &Locator, validated: bool) {
    let (uri, secure) = locator.lookup_number(NUMBER).await.expect("LUF resolves");
    assert_eq!(uri, "sip:+441632960083@peer.example");
    assert_eq!(secure, validated);
    let target = sip_target(TARGET_URI).expect("target parses");
    let (hops, secure) = locator.route_target(target).await.expect("LRF resolves");
    assert!(!hops.is_empty() && secure == validated, "{hops:?}");
    let got = locator.locate(NUMBER).await.expect("number resolves");
    assert!(
        !got.next_hops.is_empty() && got.secure == validated,
        "{got:?}"
    );
}

/// One of the three resolutions, by name. `target` is `TARGET_URI`,
/// parsed once outside the timed code.
async fn resolve(locator: &Locator, function: &str, target: &Target) {
    match function {
        "enum_lookup" => {
            black_box(locator.lookup_number(NUMBER).await.expect("LUF resolves"));
        }
        "rfc3263" => {
            let target = target.clone();
            black_box(locator.route_target(target).await.expect("LRF resolves"));
        }
        _ => {
            black_box(locator.locate(NUMBER).await.expect("number resolves"));
        }
    }
}

fn lookup(c: &mut Criterion) {
    let rt = Runtime::new().expect("tokio runtime");
    let server = rt.block_on(server());
    let target = &sip_target(TARGET_URI).expect("target parses");
    let mut group = c.benchmark_group("dns");
    group.throughput(Throughput::Elements(1));
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(4));
    group.warm_up_time(Duration::from_secs(1));

    for (security, validated) in [("validated", true), ("plain", false)] {
        let locator = rt.block_on(locator(&server, validated));
        rt.block_on(check(&locator, validated));
        for function in ["enum_lookup", "rfc3263", "number_to_hops"] {
            let id = |cache| format!("{function}/{security}/{cache}");
            let loc = &locator;
            group.bench_function(id("warm"), |b| {
                b.to_async(&rt).iter(|| resolve(loc, function, target));
            });
            // The clear is left out of the measured time: only the
            // resolution that follows it is timed.
            group.bench_function(id("cold"), |b| {
                b.to_async(&rt).iter_custom(|iters| async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        loc.client().clear_cache();
                        let start = Instant::now();
                        resolve(loc, function, target).await;
                        total += start.elapsed();
                    }
                    total
                });
            });
        }
    }
    group.finish();
    rt.block_on(server.stop());
}

criterion_group!(benches, lookup);
criterion_main!(benches);

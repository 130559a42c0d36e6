//! The client against the embedded server: answers, validation, forgeries.

use std::net::SocketAddr;

use speermint_dns_role::{AuthServer, RunningAuth, Signatures, Tamper, Zone};
use speermint_resolver::{
    Anchor, Client, ClientConfig, Found, Locator, LocatorConfig, QueryError, RecordType, Security,
    TrustAnchor,
};

const PEER_ZONE: &str = include_str!("../../../corpora/dns/peer.example.zone");

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

async fn signed_server() -> RunningAuth {
    let zone = Zone::from_text(PEER_ZONE, None, "peer.zone")
        .unwrap()
        .sign()
        .unwrap();
    AuthServer::new()
        .zone(zone)
        .start(loopback())
        .await
        .unwrap()
}

async fn validating_client(server: &RunningAuth) -> Client {
    let mut cfg = ClientConfig::new(vec![server.addr()]);
    cfg.trust_anchor = Some(TrustAnchor::from_records(&server.trust_anchor_records()).unwrap());
    Client::new(cfg).await.unwrap()
}

#[tokio::test]
async fn signed_answers_validate() {
    let server = signed_server().await;
    let client = validating_client(&server).await;
    let a = client
        .query("sbe.peer.example", RecordType::A)
        .await
        .unwrap();
    assert_eq!(a.security, Security::Secure);
    let Found::Records(recs) = a.found else {
        panic!("{a:?}")
    };
    assert_eq!(recs[0].data.to_string(), "127.0.0.10");
    let nx = client
        .query("nope.peer.example", RecordType::A)
        .await
        .unwrap();
    assert_eq!((nx.found, nx.security), (Found::NxDomain, Security::Secure));
    let nodata = client
        .query("sbe.peer.example", RecordType::NAPTR)
        .await
        .unwrap();
    assert_eq!(
        (nodata.found, nodata.security),
        (Found::NoData, Security::Secure)
    );
    server.stop().await;
}

#[tokio::test]
async fn forgeries_are_bogus() {
    let forged = Tamper::forge(&["127.0.0.66"]);
    for how in [
        forged.clone(),
        forged.clone().with_signatures(Signatures::Strip),
        forged.with_signatures(Signatures::Expired),
        Tamper::signatures(Signatures::Strip),
        Tamper::signatures(Signatures::Expired),
    ] {
        let server = signed_server().await;
        server
            .tamper("sbe.peer.example", RecordType::A, how.clone())
            .await
            .unwrap();
        let client = validating_client(&server).await;
        let err = client
            .query("sbe.peer.example", RecordType::A)
            .await
            .unwrap_err();
        assert!(matches!(err, QueryError::Bogus { .. }), "{how:?}: {err:?}");
        // Without anchors the forgery is served and taken as insecure.
        let plain = Client::new(ClientConfig::new(vec![server.addr()]))
            .await
            .unwrap();
        let got = plain
            .query("sbe.peer.example", RecordType::A)
            .await
            .unwrap();
        assert_eq!(got.security, Security::Insecure);
        server.restore().await;
        client.clear_cache();
        let ok = client
            .query("sbe.peer.example", RecordType::A)
            .await
            .unwrap();
        assert_eq!(ok.security, Security::Secure, "{how:?} restored");
        server.stop().await;
    }
}

const ENUM_ZONE: &str = include_str!("../../../corpora/dns/4.4.e164.arpa.zone");

async fn topology() -> RunningAuth {
    let peer = Zone::from_text(PEER_ZONE, None, "peer.zone")
        .unwrap()
        .sign()
        .unwrap();
    let enum_zone = Zone::from_text(ENUM_ZONE, None, "enum.zone")
        .unwrap()
        .sign()
        .unwrap();
    AuthServer::new()
        .zone(peer)
        .zone(enum_zone)
        .start(loopback())
        .await
        .unwrap()
}

#[tokio::test]
async fn number_to_next_hops_validated() {
    let server = topology().await;
    let client = validating_client(&server).await;
    let locator = Locator::new(client, LocatorConfig::default());
    let got = locator.locate("+44 1632 960083").await.unwrap();
    assert_eq!(got.target_uri, "sip:+441632960083@peer.example");
    assert!(got.secure);
    // TLS is offered and preferred (RFC 6406 §6.1.2.1).
    let first = &got.next_hops[0];
    assert_eq!((first.transport.as_str(), first.port), ("tls", 5061));
    assert_eq!(first.host, "sbe.peer.example");
    assert!(
        got.next_hops
            .iter()
            .any(|h| h.address.to_string() == "127.0.0.10")
    );
    let kinds: Vec<_> = got.steps.iter().map(|s| (s.function, s.step)).collect();
    for wanted in [
        ("luf", "answer"),
        ("luf", "rewrite"),
        ("lrf", "naptr"),
        ("lrf", "srv"),
        ("lrf", "hop"),
    ] {
        assert!(kinds.contains(&wanted), "{wanted:?} missing from {kinds:?}");
    }
    // A sips: target never gets a non-TLS hop.
    let sips = locator.locate("sips:peer.example").await.unwrap();
    assert!(
        sips.next_hops.iter().all(|h| h.transport == "tls"),
        "{sips:?}"
    );

    // A forged SRV under the old signature: an error, never a route.
    server
        .tamper(
            "_sips._tcp.peer.example",
            RecordType::SRV,
            Tamper::forge(&["0 1 5061 evil.peer.example."]),
        )
        .await
        .unwrap();
    locator.client().clear_cache();
    let err = locator.locate("+441632960083").await.unwrap_err();
    assert_eq!(err.kind, "dnssec", "{err}");
    // Not in ENUM: the first key has no NAPTRs.
    server.restore().await;
    locator.client().clear_cache();
    let err = locator.locate("+441632960084").await.unwrap_err();
    assert_eq!(err.kind, "not-in-enum", "{err}");
    server.stop().await;
}

#[tokio::test]
async fn failover_to_the_second_server() {
    let a = topology().await;
    let zone = Zone::from_text(PEER_ZONE, None, "peer.zone").unwrap();
    let b = AuthServer::new()
        .zone(zone)
        .start("127.0.0.2:0".parse().unwrap())
        .await
        .unwrap();
    let mut cfg = ClientConfig::new(vec![a.addr(), b.addr()]);
    cfg.timeout = std::time::Duration::from_millis(300);
    a.stop().await;
    let client = Client::new(cfg).await.unwrap();
    let got = client
        .query("sbe.peer.example", RecordType::A)
        .await
        .unwrap();
    assert!(matches!(got.found, Found::Records(_)));
    b.stop().await;
    let err = client
        .query("ns.peer.example", RecordType::A)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "timeout", "{err}");
}

#[test]
fn zone_errors_name_file_and_line() {
    let bad = "$ORIGIN x.example.\n$TTL 60\n@ IN SOA ns hm 1 2 3 4 5\n\nwww IN A 300.1.2.3\nok IN A 1.2.3.4\n";
    let err = Zone::from_text(bad, None, "x.zone").unwrap_err();
    assert_eq!((err.file.as_str(), err.line), ("x.zone", Some(5)), "{err}");
    assert!(err.to_string().starts_with("x.zone:5: "), "{err}");
    let no_soa = Zone::from_text(
        "$ORIGIN y.example.\n$TTL 60\nwww IN A 1.2.3.4\n",
        None,
        "y.zone",
    )
    .unwrap_err();
    assert!(no_soa.reason.contains("SOA"), "{no_soa}");
}

#[test]
fn anchors_read_dnskey_and_ds_with_lines() {
    let text = "; anchors\nexample.com. 3600 IN DNSKEY 257 3 13 (\n  mdsswUyr3DPW132mOi8V9xESWE8jTo0d\n  xCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ== )\nexample.com. IN DS 2371 13 2 1F987CC6583E92DF0890718C42 05DDB62F42DB9A3B7C6A3B2A8B0E85F3D6E0E1\n";
    let a = TrustAnchor::parse(text, "a.keys").unwrap();
    assert_eq!(a.anchors.len(), 2);
    assert!(matches!(a.anchors[0], Anchor::Key { .. }));
    assert!(matches!(a.anchors[1], Anchor::Digest { .. }));
    let bad = TrustAnchor::parse(
        "example.com. IN DNSKEY 257 3 13 AAAA\nexample.com. IN A 1.2.3.4\n",
        "b.keys",
    )
    .unwrap_err();
    assert_eq!(bad.line, Some(2), "{bad}");
    let rel = TrustAnchor::parse("example.com IN DS 1 13 2 AB\n", "c.keys").unwrap_err();
    assert!(rel.reason.contains("absolute"), "{rel}");
}

#[tokio::test]
async fn ds_anchor_resolves_to_the_zone_key() {
    let server = signed_server().await;
    let mut cfg = ClientConfig::new(vec![server.addr()]);
    cfg.trust_anchor = Some(TrustAnchor::parse(&server.ds_records().join("\n"), "ds").unwrap());
    let client = Client::new(cfg).await.unwrap();
    let a = client
        .query("sbe.peer.example", RecordType::A)
        .await
        .unwrap();
    assert_eq!(a.security, Security::Secure);
    server.stop().await;
}

/// The same server and client on the simulated network: answers validate,
/// a forgery is bogus, and with one replica silent the other answers, all
/// in virtual time (the dead replica's timeouts cost no wall time).
#[test]
fn on_the_simulated_network_a_silent_replica_costs_nothing() {
    use speermint_net::{Network, SimNet};
    let rt = SimNet::runtime().unwrap();
    rt.block_on(async {
        let sim = SimNet::new(11);
        let net = Network::Sim(sim.clone());
        let zone = Zone::from_text(PEER_ZONE, None, "peer.zone")
            .unwrap()
            .sign()
            .unwrap();
        let a = AuthServer::new()
            .zone(zone.clone())
            .start_on(&net, "127.0.0.1:53".parse().unwrap())
            .await
            .unwrap();
        let b = AuthServer::new()
            .zone(zone)
            .start_on(&net, "127.0.0.5:53".parse().unwrap())
            .await
            .unwrap();
        let mut cfg = ClientConfig::new(vec![a.addr(), b.addr()]);
        cfg.trust_anchor = Some(TrustAnchor::from_records(&a.trust_anchor_records()).unwrap());
        cfg.network = net.clone();
        let client = Client::new(cfg).await.unwrap();
        let ok = client
            .query("sbe.peer.example", RecordType::A)
            .await
            .unwrap();
        assert_eq!(ok.security, Security::Secure);
        // Every query crossed the simulated network, none a socket.
        assert!(sim.tap().iter().any(|r| r.to == a.addr()));
        sim.set_silent(a.addr(), true);
        client.clear_cache();
        let again = client
            .query("sbe.peer.example", RecordType::A)
            .await
            .unwrap();
        assert_eq!(again.security, Security::Secure);
        assert!(!b.take_queries().is_empty(), "the live replica answered");
        b.tamper(
            "sbe.peer.example",
            RecordType::A,
            Tamper::forge(&["127.0.0.66"]),
        )
        .await
        .unwrap();
        client.clear_cache();
        assert!(
            client
                .query("sbe.peer.example", RecordType::A)
                .await
                .is_err(),
            "a forged answer validates on the simulated network"
        );
    });
}

/// A number missing from a signed ENUM zone is a name error, proven
/// (RFC 4035 §3.1.3.2), wherever it branches off the empty non-terminals
/// of the one number the zone holds: never a DNSSEC failure.
#[tokio::test]
async fn missing_numbers_under_empty_non_terminals_are_secure_name_errors() {
    const ENUM_ZONE: &str = include_str!("../../../corpora/dns/4.4.e164.arpa.zone");
    let zone = Zone::from_text(ENUM_ZONE, None, "enum.zone")
        .unwrap()
        .sign()
        .unwrap();
    let server = AuthServer::new()
        .zone(zone)
        .start(loopback())
        .await
        .unwrap();
    let client = validating_client(&server).await;
    // +441632960083 exists; the others leave its branch at each depth.
    for missing in [
        "4.8.0.0.6.9.2.3.6.1.4.4.e164.arpa",
        "9.9.0.0.6.9.2.3.6.1.4.4.e164.arpa",
        "1.9.0.0.6.9.2.3.6.1.4.4.e164.arpa",
        "0.0.1.0.6.9.2.3.6.1.4.4.e164.arpa",
        "1.2.3.4.5.6.7.8.9.0.4.4.e164.arpa",
        "2.8.0.0.6.9.2.3.6.1.4.4.e164.arpa",
    ] {
        let got = client
            .query(missing, RecordType::NAPTR)
            .await
            .unwrap_or_else(|e| panic!("{missing}: {e}"));
        assert_eq!(
            (got.found, got.security),
            (Found::NxDomain, Security::Secure),
            "{missing}"
        );
    }
    let there = client
        .query("3.8.0.0.6.9.2.3.6.1.4.4.e164.arpa", RecordType::NAPTR)
        .await
        .unwrap();
    assert!(matches!(there.found, Found::Records(_)));
    server.stop().await;
}

/// The DNS node frames queries on a stream by their two-octet length
/// (RFC 1035 §4.2.2), whatever way the bytes are cut, and answers each on
/// its connection.
#[test]
fn tcp_queries_split_across_writes_are_answered_on_their_connection() {
    use hickory_proto::op::{Message, MessageType, OpCode, Query};
    use hickory_proto::rr::Name;
    use speermint_net::{Network, SimNet};
    use std::str::FromStr;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = SimNet::runtime().unwrap();
    rt.block_on(async {
        let net = Network::Sim(SimNet::new(3));
        let zone = Zone::from_text(PEER_ZONE, None, "peer.zone").unwrap();
        let server = AuthServer::new()
            .zone(zone)
            .start_on(&net, "127.0.0.1:53".parse().unwrap())
            .await
            .unwrap();
        let mut framed = Vec::new();
        for id in [7u16, 8] {
            let mut q = Message::new(id, MessageType::Query, OpCode::Query);
            q.add_query(Query::query(
                Name::from_str("sbe.peer.example.").unwrap(),
                RecordType::A,
            ));
            let bytes = q.to_vec().unwrap();
            framed.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
            framed.extend_from_slice(&bytes);
        }
        let mut c = net
            .connect_tcp(None, server.addr(), std::time::Duration::from_secs(2))
            .await
            .unwrap();
        // Cut inside the first length, and inside the second message.
        for part in [&framed[..1], &framed[1..30], &framed[30..]] {
            c.write_all(part).await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        for want in [7u16, 8] {
            let mut len = [0u8; 2];
            c.read_exact(&mut len).await.unwrap();
            let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
            c.read_exact(&mut msg).await.unwrap();
            let m = Message::from_vec(&msg).unwrap();
            assert_eq!(m.metadata.id, want);
            assert_eq!(m.answers.len(), 1, "{m:?}");
        }
    });
}

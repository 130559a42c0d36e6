//! DNS over TLS (RFC 7858) between the reference resolver and the
//! embedded server, on the simulated network: mutual authentication by
//! certificate (RFC 6271 #15), nothing in the clear (#16), what the server
//! records of each handshake and query, and per-source views (#4).

use std::net::SocketAddr;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use speermint_dns_role::{AuthServer, RunningAuth, Zone};
use speermint_net::{Network, SimNet, Transport};
use speermint_resolver::{
    Client, ClientConfig, DnsTls, DnsTransport, Found, RecordType, Security, TrustAnchor,
};

const PEER_ZONE: &str = include_str!("../../../corpora/dns/peer.example.zone");
const SERVER_NAME: &str = "dns.test.example";

struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl Pki {
    fn new() -> Self {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        Self {
            ca: CertifiedIssuer::self_signed(params, key).unwrap(),
        }
    }

    fn issue(&self, name: &str) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = CertificateParams::new(vec![name.to_owned()])
            .unwrap()
            .signed_by(&key, &self.ca)
            .unwrap();
        (
            vec![cert.der().clone(), self.ca.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
    }

    fn roots(&self) -> Arc<rustls::RootCertStore> {
        let mut store = rustls::RootCertStore::empty();
        store.add(self.ca.der().clone()).unwrap();
        Arc::new(store)
    }

    /// A server for `name` that requires a client certificate from the CA.
    fn server(&self, name: &str) -> Arc<rustls::ServerConfig> {
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(self.roots(), provider())
                .build()
                .unwrap();
        let (chain, key) = self.issue(name);
        Arc::new(
            rustls::ServerConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_client_cert_verifier(verifier)
                .with_single_cert(chain, key)
                .unwrap(),
        )
    }

    /// A client trusting the CA, presenting a certificate for `name` if given.
    fn client(&self, name: Option<&str>) -> Arc<rustls::ClientConfig> {
        let b = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(self.roots());
        Arc::new(match name {
            Some(n) => {
                let (chain, key) = self.issue(n);
                b.with_client_auth_cert(chain, key).unwrap()
            }
            None => b.with_no_client_auth(),
        })
    }
}

fn zone() -> Zone {
    Zone::from_text(PEER_ZONE, None, "peer.zone")
        .unwrap()
        .sign()
        .unwrap()
}

async fn tls_client(
    net: &Network,
    server: &RunningAuth,
    config: Arc<rustls::ClientConfig>,
    name: &str,
) -> Client {
    let mut cfg = ClientConfig::new(vec![server.tls_addr().unwrap()]);
    cfg.trust_anchor = Some(TrustAnchor::from_records(&server.trust_anchor_records()).unwrap());
    cfg.network = net.clone();
    cfg.attempts = 1;
    cfg.transport = DnsTransport::Tls;
    cfg.tls = Some(DnsTls {
        server_name: name.into(),
        config,
    });
    Client::new(cfg).await.unwrap()
}

#[test]
fn mutual_authentication_over_tls_and_nothing_in_the_clear() {
    let rt = SimNet::runtime().unwrap();
    rt.block_on(async {
        let sim = SimNet::new(7);
        let net = Network::Sim(sim.clone());
        let pki = Pki::new();
        let server = AuthServer::new()
            .zone(zone())
            .tls("127.0.0.1:853".parse().unwrap(), pki.server(SERVER_NAME))
            .start_on(&net, "127.0.0.1:53".parse().unwrap())
            .await
            .unwrap();
        assert_eq!(server.tls_addr(), Some("127.0.0.1:853".parse().unwrap()));

        // Both ends authenticated: the answer validates, and the server
        // saw the client's certificate and only TLS queries, DNSKEY
        // bootstrap included.
        let client = tls_client(&net, &server, pki.client(Some("ssp.example")), SERVER_NAME).await;
        let a = client
            .query("sbe.peer.example", RecordType::A)
            .await
            .unwrap();
        assert_eq!(a.security, Security::Secure);
        let Found::Records(recs) = a.found else {
            panic!("{a:?}")
        };
        assert_eq!(recs[0].data.to_string(), "127.0.0.10");
        let lookups = server.take_lookups();
        assert!(!lookups.is_empty());
        assert!(
            lookups.iter().all(|l| l.transport == Transport::Tls),
            "{lookups:?}"
        );
        let sessions = server.take_tls_sessions();
        let ok: Vec<_> = sessions
            .iter()
            .filter_map(|s| s.outcome.as_ref().ok())
            .collect();
        assert!(!ok.is_empty(), "{sessions:?}");
        assert!(
            ok.iter()
                .all(|p| p.client_certificate && p.client_names == ["ssp.example"])
        );
        // Not one byte of the name in the clear on the wire.
        let wire = b"\x03sbe\x04peer\x07example";
        assert!(
            sim.tap()
                .iter()
                .all(|r| !r.bytes.windows(wire.len()).any(|w| w == wire))
        );

        // No client certificate: the server refuses the handshake and the
        // query fails; nothing was answered.
        let anonymous = tls_client(&net, &server, pki.client(None), SERVER_NAME).await;
        assert!(
            anonymous
                .query("sbe.peer.example", RecordType::AAAA)
                .await
                .is_err()
        );
        let sessions = server.take_tls_sessions();
        assert!(!sessions.is_empty());
        assert!(
            sessions
                .iter()
                .all(|s| s.outcome.is_err() && !s.client_left),
            "{sessions:?}"
        );
        assert!(server.take_lookups().is_empty());

        // A server that cannot prove the configured name: the client
        // breaks off, and asks nothing.
        let misled = tls_client(
            &net,
            &server,
            pki.client(Some("ssp.example")),
            "dns.other.example",
        )
        .await;
        assert!(
            misled
                .query("sbe.peer.example", RecordType::AAAA)
                .await
                .is_err()
        );
        // The client breaks off; whether its alert reaches the server
        // before the connection closes is the client's affair, so the
        // server records a failed handshake either way.
        let sessions = server.take_tls_sessions();
        assert!(!sessions.is_empty());
        assert!(sessions.iter().all(|s| s.outcome.is_err()), "{sessions:?}");
        assert!(server.take_lookups().is_empty());
    });
}

/// A resolver that asks two servers at once drops the slower connection
/// mid-handshake: the server records that as the client leaving, which a
/// check must not read as the server refusing it.
#[test]
fn a_client_leaving_mid_handshake_is_no_refusal() {
    use tokio::io::AsyncWriteExt;
    let rt = SimNet::runtime().unwrap();
    rt.block_on(async {
        let net = Network::Sim(SimNet::new(10));
        let pki = Pki::new();
        let server = AuthServer::new()
            .zone(zone())
            .tls("127.0.0.1:853".parse().unwrap(), pki.server(SERVER_NAME))
            .start_on(&net, "127.0.0.1:53".parse().unwrap())
            .await
            .unwrap();
        let tls = server.tls_addr().unwrap();
        // A TLS record header announcing a ClientHello, then nothing.
        let mut stream = net
            .connect_tcp(None, tls, std::time::Duration::from_secs(2))
            .await
            .unwrap();
        stream
            .write_all(&[0x16, 0x03, 0x01, 0x00, 0x80, 0x01])
            .await
            .unwrap();
        stream.shutdown().await.unwrap();
        drop(stream);
        let mut sessions = Vec::new();
        for _ in 0..50 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            sessions.extend(server.take_tls_sessions());
            if !sessions.is_empty() {
                break;
            }
        }
        assert_eq!(sessions.len(), 1, "{sessions:?}");
        assert!(sessions[0].outcome.is_err(), "{sessions:?}");
        assert!(sessions[0].client_left, "{sessions:?}");
    });
}

#[test]
fn another_certificate_presented_closes_connections_until_restored() {
    let rt = SimNet::runtime().unwrap();
    rt.block_on(async {
        let net = Network::Sim(SimNet::new(8));
        let pki = Pki::new();
        let server = AuthServer::new()
            .zone(zone())
            .tls("127.0.0.1:853".parse().unwrap(), pki.server(SERVER_NAME))
            .start_on(&net, "127.0.0.1:53".parse().unwrap())
            .await
            .unwrap();
        let client = tls_client(&net, &server, pki.client(Some("ssp.example")), SERVER_NAME).await;
        client
            .query("sbe.peer.example", RecordType::A)
            .await
            .unwrap();
        server.present(pki.server("dns.elsewhere.example"));
        server.take_tls_sessions();
        // The open connection is gone; the new handshake meets the wrong
        // name and fails.
        client.clear_cache();
        assert!(
            client
                .query("sbe.peer.example", RecordType::A)
                .await
                .is_err()
        );
        assert!(
            server
                .take_tls_sessions()
                .iter()
                .all(|s| s.outcome.is_err())
        );
        server.restore().await;
        client.clear_cache();
        let back = client
            .query("sbe.peer.example", RecordType::A)
            .await
            .unwrap();
        assert_eq!(back.security, Security::Secure);
    });
}

#[test]
fn a_view_answers_its_sources_only() {
    let rt = SimNet::runtime().unwrap();
    rt.block_on(async {
        let net = Network::Sim(SimNet::new(9));
        let key = speermint_dns_role::generate_key().unwrap();
        let common = Zone::from_text(PEER_ZONE, None, "peer.zone")
            .unwrap()
            .sign_with(&key)
            .unwrap();
        let other = PEER_ZONE.replace("127.0.0.10", "127.0.0.20");
        let viewed = Zone::from_text(&other, None, "peer.zone")
            .unwrap()
            .sign_with(&key)
            .unwrap();
        let source: std::net::IpAddr = "127.0.0.9".parse().unwrap();
        let server = AuthServer::new()
            .zone(common)
            .view(vec![source], viewed)
            .start_on(&net, "127.0.0.1:53".parse().unwrap())
            .await
            .unwrap();
        let ask = |bind: Option<std::net::IpAddr>| {
            let mut cfg = ClientConfig::new(vec![server.addr()]);
            cfg.trust_anchor =
                Some(TrustAnchor::from_records(&server.trust_anchor_records()).unwrap());
            cfg.network = net.clone();
            cfg.bind = bind;
            async move {
                let c = Client::new(cfg).await.unwrap();
                let a = c.query("sbe.peer.example", RecordType::A).await.unwrap();
                assert_eq!(a.security, Security::Secure, "both views are signed");
                let Found::Records(r) = a.found else {
                    panic!("{a:?}")
                };
                r[0].data.to_string()
            }
        };
        assert_eq!(ask(Some(source)).await, "127.0.0.20");
        assert_eq!(ask(None).await, "127.0.0.10");
        assert_eq!(ask(Some("127.0.0.8".parse().unwrap())).await, "127.0.0.10");
        let froms: Vec<SocketAddr> = server.take_lookups().iter().map(|l| l.from).collect();
        assert!(froms.iter().any(|f| f.ip() == source));
    });
}

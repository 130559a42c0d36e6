//! The SBE's TLS listener: messages framed from a connection reach the
//! core, answers go back over the same connection (RFC 3261 §18.2.2), and
//! a stream whose framing is lost is closed (§18.3).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{CertificateParams, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use speermint_border::{RunningSbe, TlsListen};
use speermint_sbe::SbeConfig;
use speermint_sip::{Message, MessageBuilder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A self-signed certificate for `domain`, and the configs on both sides.
fn configs(domain: &str) -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = CertificateParams::new(vec![domain.to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let der: CertificateDer<'static> = cert.der().clone();
    let server = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![der.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(server), Arc::new(client))
}

async fn sbe(server: Arc<rustls::ServerConfig>) -> RunningSbe {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    RunningSbe::start(
        any,
        Some(TlsListen {
            bind: any,
            config: server,
            client: None,
        }),
        |local| {
            SbeConfig::new(
                local,
                vec!["127.0.0.1".parse().unwrap()],
                "127.0.0.1:9".parse().unwrap(),
            )
        },
        None,
    )
    .await
    .unwrap()
}

/// An SBE with a TLS listener, and a client connection to it.
async fn connected() -> (
    RunningSbe,
    tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
) {
    let (server, client) = configs("ssp.example");
    let sbe = sbe(server).await;
    let tcp = tokio::net::TcpStream::connect(sbe.tls_addr().unwrap())
        .await
        .unwrap();
    let tls = tokio_rustls::TlsConnector::from(client)
        .connect(ServerName::try_from("ssp.example").unwrap(), tcp)
        .await
        .unwrap();
    (sbe, tls)
}

fn options(max_forwards: u32, branch: &str) -> Vec<u8> {
    MessageBuilder::request("OPTIONS", "sips:ssp.example")
        .header("Via", format!("SIP/2.0/TLS 127.0.0.1:5061;branch={branch}"))
        .header("Max-Forwards", max_forwards)
        .header("From", "<sips:a@127.0.0.1>;tag=1")
        .header("To", "<sips:ssp.example>")
        .header("Call-ID", format!("{branch}@tls"))
        .header("CSeq", "1 OPTIONS")
        .build()
}

#[tokio::test]
async fn requests_over_tls_are_answered_over_the_same_connection() {
    let (sbe, mut tls) = connected().await;
    // Two requests in one write, then a keep-alive: framing splits them.
    let mut both = options(0, "z9hG4bKtls1");
    both.extend_from_slice(&options(0, "z9hG4bKtls2"));
    both.extend_from_slice(b"\r\n\r\n");
    tls.write_all(&both).await.unwrap();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 8192];
    let limits = speermint_sip::Limits::default();
    let mut answers = Vec::new();
    while answers.len() < 2 {
        let n = tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf))
            .await
            .expect("answers within 5 s")
            .unwrap();
        assert!(n > 0, "connection closed early");
        got.extend_from_slice(&buf[..n]);
        while let Ok(speermint_sip::Framing::Complete { start, end }) =
            speermint_sip::frame(&got, &limits)
        {
            let m =
                Message::parse_with(&got[start..end], &limits, speermint_sip::Transport::Stream)
                    .unwrap()
                    .status()
                    .unwrap();
            answers.push(m);
            got.drain(..end);
        }
    }
    // Max-Forwards 0 from a peer: 483 each (RFC 3261 §16.3).
    assert_eq!(answers, vec![483, 483]);
    sbe.stop().await;
}

#[tokio::test]
async fn a_stream_without_content_length_is_closed() {
    let (sbe, mut tls) = connected().await;
    let bad = String::from_utf8(options(0, "z9hG4bKtls3"))
        .unwrap()
        .replace("Content-Length: 0\r\n", "");
    tls.write_all(bad.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf))
        .await
        .expect("closed within 5 s")
        .unwrap_or(0);
    assert_eq!(
        n,
        0,
        "expected the connection closed, got {:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    sbe.stop().await;
}

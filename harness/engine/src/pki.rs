//! A throw-away PKI for TLS checks: one CA per run (ECDSA P-256) that
//! issues the embedded SBE's certificate for its domain, and the root
//! store the harness validates with. RFC 5922 §7 wants the SIP domain in
//! the certificate's subjectAltName as a dNSName; rustls's WebPKI
//! verifier checks exactly that against the name the client asks for.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// The run's certificate authority.
pub struct TestPki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl std::fmt::Debug for TestPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestPki").finish_non_exhaustive()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TestPki {
    /// A fresh CA.
    pub fn new() -> Result<Self, String> {
        let key =
            KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| e.to_string())?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "speermint test CA");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(params, key).map_err(|e| e.to_string())?;
        Ok(Self { ca })
    }

    /// The CA certificate, DER.
    pub fn ca_der(&self) -> CertificateDer<'static> {
        self.ca.der().clone()
    }

    /// A server configuration presenting a certificate for `domains`
    /// (subjectAltName dNSNames), issued by this CA.
    pub fn server_config(&self, domains: &[&str]) -> Result<Arc<ServerConfig>, String> {
        let key =
            KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| e.to_string())?;
        let names: Vec<String> = domains.iter().map(|d| (*d).to_owned()).collect();
        let mut params = CertificateParams::new(names).map_err(|e| e.to_string())?;
        params.distinguished_name.push(
            DnType::CommonName,
            domains.first().copied().unwrap_or("sbe"),
        );
        let cert = params
            .signed_by(&key, &self.ca)
            .map_err(|e| e.to_string())?;
        let chain = vec![cert.der().clone(), self.ca_der()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| e.to_string())?;
        Ok(Arc::new(config))
    }

    /// A client configuration trusting this CA only.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, String> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca_der()).map_err(|e| e.to_string())?;
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }
}

/// What one request over TLS came to.
#[derive(Debug)]
pub struct TlsExchange {
    /// Negotiated protocol version and cipher suite, for the evidence.
    pub session: String,
    /// The first SIP message framed from the connection, if any came in time.
    pub response: Option<Vec<u8>>,
}

/// Connects from `local` to `addr`, verifies the server as `server_name`
/// (RFC 5922 §7.2: the SIP domain, not the host the SRV record named),
/// sends `request` and waits up to `wait` for one framed SIP message back.
pub async fn tls_exchange(
    config: Arc<ClientConfig>,
    local: std::net::IpAddr,
    addr: std::net::SocketAddr,
    server_name: &str,
    request: &[u8],
    wait: std::time::Duration,
) -> Result<TlsExchange, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let name = rustls::pki_types::ServerName::try_from(server_name.to_owned())
        .map_err(|e| format!("{server_name:?} is not a server name: {e}"))?;
    let socket = if local.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .map_err(|e| format!("TCP socket: {e}"))?;
    socket
        .bind(std::net::SocketAddr::new(local, 0))
        .map_err(|e| format!("binding {local}: {e}"))?;
    let tcp = tokio::time::timeout(wait, socket.connect(addr))
        .await
        .map_err(|_| format!("TCP connection to {addr} timed out"))?
        .map_err(|e| format!("TCP connection to {addr}: {e}"))?;
    let connector = tokio_rustls::TlsConnector::from(config);
    let mut tls = tokio::time::timeout(wait, connector.connect(name, tcp))
        .await
        .map_err(|_| format!("TLS handshake with {addr} timed out"))?
        .map_err(|e| format!("TLS handshake with {addr} as {server_name}: {e}"))?;
    let (_, conn) = tls.get_ref();
    let session = match (conn.protocol_version(), conn.negotiated_cipher_suite()) {
        (Some(v), Some(c)) => format!("{v:?}, {:?}", c.suite()),
        _ => "unknown session".into(),
    };
    tls.write_all(request)
        .await
        .map_err(|e| format!("writing to {addr}: {e}"))?;
    let limits = speermint_sip::Limits::default();
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 8192];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match speermint_sip::frame(&buf, &limits) {
            Ok(speermint_sip::Framing::Complete { start, end }) => {
                return Ok(TlsExchange {
                    session,
                    response: Some(buf[start..end].to_vec()),
                });
            }
            Ok(speermint_sip::Framing::KeepAlive { len }) => {
                buf.drain(..len);
            }
            Ok(speermint_sip::Framing::Incomplete { .. }) => {}
            Err(e) => return Err(format!("unframeable bytes from {addr}: {e}")),
        }
        match tokio::time::timeout_at(deadline, tls.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => {
                return Ok(TlsExchange {
                    session,
                    response: None,
                });
            }
        }
    }
}

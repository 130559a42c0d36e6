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

    /// A certificate for `domains` (subjectAltName dNSNames) issued by
    /// this CA: the chain (leaf, CA) and the PKCS#8 key, DER.
    pub fn issue(
        &self,
        domains: &[&str],
    ) -> Result<(Vec<CertificateDer<'static>>, Vec<u8>), String> {
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
        Ok((vec![cert.der().clone(), self.ca_der()], key.serialize_der()))
    }

    /// A server configuration presenting a certificate for `domains`
    /// (subjectAltName dNSNames), issued by this CA.
    pub fn server_config(&self, domains: &[&str]) -> Result<Arc<ServerConfig>, String> {
        let (chain, key) = self.issue(domains)?;
        server_config(chain, PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)))
    }

    /// A client configuration trusting this CA only.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, String> {
        client_config(vec![self.ca_der()])
    }

    /// A client configuration trusting this CA and presenting a
    /// certificate for `domains` from it: a peer SSP's SBE in mutual TLS.
    pub fn client_config_as(&self, domains: &[&str]) -> Result<Arc<ClientConfig>, String> {
        let (chain, key) = self.issue(domains)?;
        let mut store = RootCertStore::empty();
        store.add(self.ca_der()).map_err(|e| e.to_string())?;
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(store)
            .with_client_auth_cert(chain, PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)))
            .map_err(|e| e.to_string())?;
        Ok(Arc::new(config))
    }

    /// Like [`TestPki::client_config_as`], but taking any server
    /// certificate at all, whoever issued it and whatever it names: the
    /// `accept-any-dns-server-cert` fault (RFC 8310 §8.1 forbids it in
    /// the strict profile). Signatures in the handshake are still checked,
    /// so the session itself is sound; only the server is unknown.
    pub fn client_config_as_trusting_any_server(
        &self,
        domains: &[&str],
    ) -> Result<Arc<ClientConfig>, String> {
        let (chain, key) = self.issue(domains)?;
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServer(provider())))
            .with_client_auth_cert(chain, PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)))
            .map_err(|e| e.to_string())?;
        Ok(Arc::new(config))
    }

    /// Server settings for `domains` that ask the client for a
    /// certificate from this CA without requiring one: a harness role
    /// that records who connected rather than refusing anyone.
    pub fn server_config_asking(&self, domains: &[&str]) -> Result<Arc<ServerConfig>, String> {
        let (chain, key) = self.issue(domains)?;
        let mut store = RootCertStore::empty();
        store.add(self.ca_der()).map_err(|e| e.to_string())?;
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(store),
            provider(),
        )
        .allow_unauthenticated()
        .build()
        .map_err(|e| e.to_string())?;
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)))
            .map_err(|e| e.to_string())?;
        Ok(Arc::new(config))
    }

    /// Server settings for `domains` that authenticate peers (RFC 6404
    /// §4.5, RFC 5922 §7.4 by analogy): a client certificate is required,
    /// issued by this CA, naming one of `peer_domains` in its
    /// subjectAltName. Without `mutual`, no client certificate is asked
    /// for (the `accept-any-client-cert` fault).
    pub fn server_config_for_peers(
        &self,
        domains: &[&str],
        peer_domains: Vec<String>,
        mutual: bool,
    ) -> Result<Arc<ServerConfig>, String> {
        if !mutual {
            return self.server_config(domains);
        }
        let (chain, key) = self.issue(domains)?;
        let mut store = RootCertStore::empty();
        store.add(self.ca_der()).map_err(|e| e.to_string())?;
        let inner = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(store),
            provider(),
        )
        .build()
        .map_err(|e| e.to_string())?;
        let verifier = Arc::new(PeerDomains {
            inner,
            domains: peer_domains,
        });
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)))
            .map_err(|e| e.to_string())?;
        Ok(Arc::new(config))
    }
}

/// The subjectAltName dNSNames of a certificate, lower case.
pub fn dns_names(cert: &CertificateDer<'_>) -> Vec<String> {
    use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
    X509Certificate::from_der(cert)
        .ok()
        .and_then(|(_, c)| {
            c.subject_alternative_name().ok().flatten().map(|san| {
                san.value
                    .general_names
                    .iter()
                    .filter_map(|g| match g {
                        GeneralName::DNSName(n) => Some(n.to_ascii_lowercase()),
                        _ => None,
                    })
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// rustls's WebPKI client verifier (chain, validity, signatures), and then
/// the peer's domain: the certificate's subjectAltName dNSNames must name
/// one of the configured peer domains. A valid certificate for someone
/// else is still someone else.
#[derive(Debug)]
struct PeerDomains {
    inner: Arc<dyn rustls::server::danger::ClientCertVerifier>,
    domains: Vec<String>,
}

impl rustls::server::danger::ClientCertVerifier for PeerDomains {
    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let names = dns_names(end_entity);
        if names
            .iter()
            .any(|n| self.domains.iter().any(|d| d.eq_ignore_ascii_case(n)))
        {
            Ok(verified)
        } else {
            Err(rustls::Error::General(format!(
                "client certificate for {} is not for a peer domain",
                names.join(", ")
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A server certificate verifier that verifies nothing but the handshake
/// signatures: see [`TestPki::client_config_as_trusting_any_server`].
#[derive(Debug)]
struct AnyServer(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// TLS 1.2/1.3 server settings (ring) presenting `chain`.
fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, String> {
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(config))
}

/// TLS 1.2/1.3 client settings (ring) trusting `roots` and nothing else.
fn client_config(roots: Vec<CertificateDer<'static>>) -> Result<Arc<ClientConfig>, String> {
    let mut store = RootCertStore::empty();
    for c in roots {
        store.add(c).map_err(|e| e.to_string())?;
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The CERTIFICATE blocks of a PEM file, at least one.
fn pem_certs(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no CERTIFICATE block", path.display()));
    }
    Ok(certs)
}

/// The CA certificates of a PEM file as trust roots.
fn pem_roots(path: &std::path::Path) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    for c in pem_certs(path)? {
        store
            .add(c)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(store)
}

/// The private key of a PEM file.
fn pem_key(path: &std::path::Path) -> Result<PrivateKeyDer<'static>, String> {
    use rustls::pki_types::pem::PemObject;
    PrivateKeyDer::from_pem_file(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// A client configuration trusting the CA certificates in a PEM file.
pub fn client_config_from_pem(path: &std::path::Path) -> Result<Arc<ClientConfig>, String> {
    client_config(pem_certs(path)?).map_err(|e| format!("{}: {e}", path.display()))
}

/// A client configuration trusting the CA certificates in `ca` and
/// presenting the chain in `cert` with the key in `key` (PEM): an SBE's
/// settings for the TLS connections it opens to peers (mutual TLS, RFC
/// 6404 §4.5).
pub fn client_config_as_from_pem(
    ca: &std::path::Path,
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<Arc<ClientConfig>, String> {
    let store = pem_roots(ca)?;
    let chain = pem_certs(cert)?;
    let key = pem_key(key)?;
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(store)
        .with_client_auth_cert(chain, key)
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    Ok(Arc::new(config))
}

/// [`server_config_from_pem`] that also asks every client for a
/// certificate issued by a CA in `ca` (PEM) and refuses one without: the
/// listener of an SBE that authenticates its peers (RFC 6404 §4.5).
pub fn server_config_from_pem_verifying(
    cert: &std::path::Path,
    key: &std::path::Path,
    ca: &std::path::Path,
) -> Result<Arc<ServerConfig>, String> {
    let store = pem_roots(ca)?;
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(store), provider())
            .build()
            .map_err(|e| format!("{}: {e}", ca.display()))?;
    let chain = pem_certs(cert)?;
    let key = pem_key(key)?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    Ok(Arc::new(config))
}

/// A server configuration from a PEM certificate chain and a PEM key.
pub fn server_config_from_pem(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<Arc<ServerConfig>, String> {
    let chain = pem_certs(cert)?;
    let key = pem_key(key)?;
    server_config(chain, key)
}

/// A PKCS#8 private key from PEM (`-----BEGIN PRIVATE KEY-----`) or DER.
pub fn pkcs8_from_pem_or_der(bytes: &[u8]) -> Result<Vec<u8>, String> {
    use rustls::pki_types::pem::PemObject;
    if bytes.starts_with(b"-----") {
        PrivatePkcs8KeyDer::from_pem_slice(bytes)
            .map(|k| k.secret_pkcs8_der().to_vec())
            .map_err(|e| format!("not a PKCS#8 PEM key: {e}"))
    } else {
        Ok(bytes.to_vec())
    }
}

/// PEM text of a PKCS#8 key.
pub fn pkcs8_pem(der: &[u8]) -> String {
    pem_block("PRIVATE KEY", der)
}

/// PEM text of a certificate.
pub fn cert_pem(der: &[u8]) -> String {
    pem_block("CERTIFICATE", der)
}

fn pem_block(label: &str, der: &[u8]) -> String {
    let b64 = data_encoding::BASE64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// What one request over TLS came to.
#[derive(Debug)]
pub struct TlsExchange {
    /// Negotiated protocol version and cipher suite, for the evidence.
    pub session: String,
    /// The first SIP message framed from the connection, if any came in time.
    pub response: Option<Vec<u8>>,
    /// Why the connection ended without one, when it did (a TLS alert
    /// such as a refused client certificate shows here: TLS 1.3 reports
    /// it after the client's side of the handshake is done).
    pub ended: Option<String>,
}

/// Connects from `local` to `addr`, verifies the server as `server_name`
/// (RFC 5922 §7.2: the SIP domain, not the host the SRV record named),
/// sends `request` and waits up to `wait` for one framed SIP message back.
pub async fn tls_exchange(
    net: &speermint_net::Network,
    config: Arc<ClientConfig>,
    local: std::net::IpAddr,
    addr: std::net::SocketAddr,
    server_name: &str,
    request: &[u8],
    wait: std::time::Duration,
) -> Result<TlsExchange, String> {
    let name = rustls::pki_types::ServerName::try_from(server_name.to_owned())
        .map_err(|e| format!("{server_name:?} is not a server name: {e}"))?;
    let tcp = net
        .connect_tcp(Some(std::net::SocketAddr::new(local, 0)), addr, wait)
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::TimedOut => format!("TCP connection to {addr} timed out"),
            _ => format!("TCP connection to {addr}: {e}"),
        })?;
    let connector = tokio_rustls::TlsConnector::from(config);
    let tls = tokio::time::timeout(wait, connector.connect(name, tcp))
        .await
        .map_err(|_| format!("TLS handshake with {addr} timed out"))?
        .map_err(|e| format!("TLS handshake with {addr} as {server_name}: {e}"))?;
    let (_, conn) = tls.get_ref();
    let session = match (conn.protocol_version(), conn.negotiated_cipher_suite()) {
        (Some(v), Some(c)) => format!("{v:?}, {:?}", c.suite()),
        _ => "unknown session".into(),
    };
    exchange_on(tls, session, addr, request, wait).await
}

/// [`tls_exchange`] over plain TCP: what a request sent in the clear over
/// a connection from `local` to `addr` came to.
pub async fn tcp_exchange(
    net: &speermint_net::Network,
    local: std::net::IpAddr,
    addr: std::net::SocketAddr,
    request: &[u8],
    wait: std::time::Duration,
) -> Result<TlsExchange, String> {
    let tcp = net
        .connect_tcp(Some(std::net::SocketAddr::new(local, 0)), addr, wait)
        .await
        .map_err(|e| format!("TCP connection to {addr}: {e}"))?;
    exchange_on(tcp, "plain TCP".into(), addr, request, wait).await
}

/// Writes `request` and waits up to `wait` for one framed SIP message.
async fn exchange_on<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut io: S,
    session: String,
    addr: std::net::SocketAddr,
    request: &[u8],
    wait: std::time::Duration,
) -> Result<TlsExchange, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    io.write_all(request)
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
                    ended: None,
                });
            }
            Ok(speermint_sip::Framing::KeepAlive { len }) => {
                buf.drain(..len);
            }
            Ok(speermint_sip::Framing::Incomplete { .. }) => {}
            Err(e) => return Err(format!("unframeable bytes from {addr}: {e}")),
        }
        let ended = match tokio::time::timeout_at(deadline, io.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => {
                buf.extend_from_slice(&chunk[..n]);
                continue;
            }
            Ok(Ok(_)) => Some("the IUT closed the connection".to_string()),
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => None,
        };
        return Ok(TlsExchange {
            session,
            response: None,
            ended,
        });
    }
}

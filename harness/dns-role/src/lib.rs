//! `speermint-dns-role`: the harness's DNS. An authoritative server built
//! on hickory-server that signs its zones (ECDSA P-256) and can forge an
//! answer or fall silent on demand (RFC 6404 §4.2, §4.3), and the `dns`
//! role built from it: two replicas of the zones that describe the world
//! around the IUT. It serves on a [`speermint_net::Network`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod nx_proof;
pub mod role;
mod server;
mod zone;

pub use role::{DnsFacts, DnsRole, Topology, start_replicas};
pub use server::{
    AuthServer, Datagram, Lookup, RunningAuth, Signatures, Tamper, TlsPeer, TlsSession,
};
pub use zone::{SIGNATURE_VALIDITY, Zone, ZoneError, generate_key};

/// One line for a DNS message seen on the wire: `dns-query NAME TYPE` or
/// `dns-answer NAME TYPE RCODE (n records)`, or `dns-undecodable`.
pub fn describe(bytes: &[u8]) -> String {
    use hickory_proto::op::{Message, MessageType};
    let Ok(m) = Message::from_vec(bytes) else {
        return "dns-undecodable".into();
    };
    let q = m
        .queries
        .first()
        .map(|q| format!("{} {}", q.name(), q.query_type()))
        .unwrap_or_default();
    match m.metadata.message_type {
        MessageType::Query => format!("dns-query {q}"),
        MessageType::Response => format!(
            "dns-answer {q} {} ({} records)",
            m.metadata.response_code,
            m.answers.len()
        ),
    }
}

/// Failure of the embedded server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DnsError {
    /// A socket could not be bound.
    #[error("{0}")]
    Io(String),
    /// A zone could not be loaded.
    #[error("{0}")]
    Zone(String),
    /// A zone could not be signed.
    #[error("signing: {0}")]
    Sign(String),
    /// A tamper request could not be carried out.
    #[error("tamper: {0}")]
    Tamper(String),
}

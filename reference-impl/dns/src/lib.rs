//! DNS for the SPEERMINT Lookup and Location Routing Functions (RFC 6406
//! §6.1): a hickory client that validates DNSSEC against configured trust
//! anchors, an embedded authoritative server that signs its zones and can
//! forge answers on demand, and the async drivers that run the sans-IO
//! LUF ([`speermint_enum`]) and LRF ([`speermint_route`]) cores over it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod anchor;
mod bootstrap;
mod client;
pub mod convert;
pub mod fuzzing;
mod locate;
mod net_runtime;
mod nx_proof;
mod server;
mod zone;

pub use anchor::{Anchor, TrustAnchor};
pub use client::{Client, ClientConfig, ClientError, DnsTransport, Fetched, Found, QueryError};
pub use convert::Security;
pub use locate::{Hop, LocateError, Located, Locator, LocatorConfig, TraceStep, sip_target};
pub use server::{AuthServer, RunningAuth, Signatures, Tamper};
pub use zone::{SIGNATURE_VALIDITY, Zone, ZoneError, generate_key};

pub use hickory_proto::rr::RecordType;
pub use speermint_route::Transport;

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

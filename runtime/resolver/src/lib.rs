//! `speermint-resolver`: the reference stack's DNS, the I/O half of the
//! Lookup and Location Routing Functions (RFC 6406 §6.1). A hickory
//! client validates DNSSEC against configured trust anchors and asks two
//! servers at once (RFC 6404 §4.2, §4.3); [`Locator`] runs the sans-IO LUF
//! ([`speermint_enum`]) and LRF ([`speermint_route`]) cores over it. Its
//! sockets and clock come from a [`speermint_net::Network`], so it resolves
//! on loopback sockets or on the simulated network alike.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod anchor;
mod bootstrap;
mod client;
pub mod convert;
mod file_error;
pub mod fuzzing;
mod locate;
mod net_runtime;

pub use anchor::{Anchor, TrustAnchor};
pub use client::{
    Client, ClientConfig, ClientError, DnsTls, DnsTransport, Fetched, Found, QueryError,
};
pub use convert::Security;
pub use file_error::ZoneError;
pub use locate::{Hop, LocateError, Located, Locator, LocatorConfig, TraceStep, sip_target};

pub use hickory_proto::rr::RecordType;
pub use speermint_route::Transport;

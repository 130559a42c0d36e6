//! Location Routing Function (LRF) core for the SPEERMINT architecture
//! (RFC 6406 §6.1.2): from a SIP or SIPS target to an ordered list of next
//! hops, by a per-peer routing table (RFC 6406 §6.1.2.2-3, RFC 6271
//! Requirement #4) or RFC 3263 §4 DNS procedures (NAPTR, SRV, A/AAAA) with
//! a preference for TLS (RFC 6406 §6.1.2.1).
//!
//! Pure logic, no I/O: [`Resolution`] is a sans-IO state machine that asks
//! for DNS records and takes plain structs back; [`Cache`] keeps answers
//! by TTL against a caller-supplied clock; randomness for RFC 2782 weights
//! is injected ([`RandomSource`]).
//!
//! ```
//! use std::net::IpAddr;
//! use speermint_route::{Answer, Config, Naptr, RecordType, Resolution, RoutingTable, Srv, Target, Transport};
//!
//! let res = Resolution::new(Target::sips("example.com"), &Config::default(), &RoutingTable::new(), 7);
//! let route = res
//!     .run(|q| match (q.name.as_str(), q.rtype) {
//!         ("example.com", RecordType::Naptr) => Answer::Naptr(vec![
//!             Naptr::new(50, 50, "s", "SIPS+D2T", "", "_sips._tcp.example.com."),
//!         ]),
//!         ("_sips._tcp.example.com", RecordType::Srv) => {
//!             Answer::Srv(vec![Srv::new(0, 1, 5061, "sbe.example.com")])
//!         }
//!         ("sbe.example.com", RecordType::A) => Answer::Addresses(vec!["192.0.2.10".parse().unwrap()]),
//!         _ => Answer::NoData,
//!     })
//!     .unwrap();
//! assert_eq!(route.hops[0].transport, Transport::Tls);
//! assert_eq!(route.hops[0].address, "192.0.2.10".parse::<IpAddr>().unwrap());
//! assert_eq!(route.hops[0].port, 5061);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod cache;
pub mod fuzzing;
mod resolve;
mod srv;
mod table;
mod types;

pub use cache::{Cache, CacheLimits, negative_ttl};
pub use resolve::{
    AddressOrder, AnswerSummary, Config, LrfError, NaptrVerdict, Resolution, Route, RouteSource,
    RouteStep, UnexpectedAnswer,
};
pub use srv::{RandomSource, SplitMix64, order_srv};
pub use table::{RoutingTable, StaticRoute};
pub use types::{Answer, Naptr, NextHop, Query, RecordType, Srv, Target, Transport};

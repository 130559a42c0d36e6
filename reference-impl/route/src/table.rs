//! Per-peer routing table, consulted before DNS.
//!
//! RFC 6271 Requirement #4 wants the egress SBE chosen per peer, which
//! plain RFC 3263 DNS cannot express; RFC 6406 §6.1.2.2-6.1.2.3 allow
//! statically provisioned routes and forwarding to another SSP by prior
//! arrangement.

use std::collections::HashMap;

use crate::types::{NextHop, Target, normalize_name};

/// What the table says about a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StaticRoute {
    /// Fixed next hops, in order (RFC 6406 §6.1.2.3: statically
    /// provisioned addresses).
    Hops(Vec<NextHop>),
    /// Resolve this target by DNS instead, e.g. a transit SSP's SBE
    /// (RFC 6406 §6.1.2.2). The request's target URI is unchanged.
    Via(Target),
}

/// Domain to [`StaticRoute`], plus an optional default. Domains compare
/// case-insensitively, trailing dot ignored; matching is exact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoutingTable {
    routes: HashMap<String, StaticRoute>,
    default: Option<StaticRoute>,
}

impl RoutingTable {
    /// Empty table: everything goes to DNS.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the route for `domain`, returning the one replaced.
    pub fn insert(&mut self, domain: &str, route: StaticRoute) -> Option<StaticRoute> {
        self.routes.insert(normalize_name(domain), route)
    }

    /// Removes the route for `domain`.
    pub fn remove(&mut self, domain: &str) -> Option<StaticRoute> {
        self.routes.remove(&normalize_name(domain))
    }

    /// Route for domains with no entry (e.g. all off-net traffic to one
    /// transit peer). `None` sends them to DNS.
    pub fn set_default(&mut self, route: Option<StaticRoute>) {
        self.default = route;
    }

    /// The route for `domain`: its entry, else the default.
    pub fn lookup(&self, domain: &str) -> Option<&StaticRoute> {
        self.routes
            .get(&normalize_name(domain))
            .or(self.default.as_ref())
    }

    /// Number of domain entries.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether there are no entries and no default.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty() && self.default.is_none()
    }
}

//! `speermint-conformance`: the executable checks. Each check is declared
//! once, next to its scenario, with the requirement IDs it covers and the
//! reference-stack switches under which it must fail. [`registry`] lists
//! them; [`uncovered`] lists, with reasons, every RFC 6271 requirement,
//! RFC 6404 countermeasure and RFC 5344 use case no check covers yet. The traceability matrix is
//! generated from these two, never written by hand.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod dialog;
mod dns_transport;
mod egress;
mod identity;
mod media;
mod mutual_tls;
mod naming;
mod peer_limits;
mod presence;
mod presence_docs;
mod privacy;
mod rfc3261;
mod rfc6271;
mod rfc6404;
mod rfc6405;
mod sdp_fixtures;
mod sed;
mod tls_egress;
mod topology;

use speermint_harness::{Check, Ref, Uncovered};

/// Every check, in run order.
pub fn registry() -> &'static [Check] {
    static CHECKS: &[Check] = &[
        rfc6404::INGRESS_FILTERING,
        rfc6404::PEER_REGISTER_REJECTED,
        rfc3261::MAX_FORWARDS,
        rfc6271::SDP_PASSTHROUGH,
        rfc6404::TORTURE_HARDENING,
        sed::INGRESS_DISCOVERY,
        sed::LRF_ROUTING,
        sed::LUF_LRF_TOGETHER,
        sed::DNSSEC_VALIDATION,
        sed::DNS_REPLICATION,
        sed::SECURE_TRANSPORT,
        sed::SBE_POOLING,
        sed::SBE_POOL_SILENT,
        sed::ANY_USER,
        sed::LUF_INPUT,
        dns_transport::DNS_TLS_MUTUAL_AUTH,
        dns_transport::DNS_LOOKUPS_OVER_TLS,
        dns_transport::INGRESS_PER_PEER,
        privacy::ASSERTED_IDENTITY_PRIVACY,
        naming::OWN_URIS_BY_NAME,
        egress::EGRESS_FROM_DECLARED_SBE,
        identity::IDENTITY_VERIFIED_AND_SIGNED,
        mutual_tls::MUTUAL_TLS_PEERS,
        mutual_tls::TLS_REQUIRED_FROM_PEERS,
        tls_egress::SIPS_EGRESS_OVER_TLS,
        topology::TOPOLOGY_HIDDEN,
        presence::PRESENCE_SUBSCRIPTION,
        presence::INSTANT_MESSAGES,
        presence::RESOURCE_LIST,
        presence::PIDF_INTACT,
        peer_limits::PEER_SESSION_LIMIT,
        peer_limits::PEER_RATE_LIMIT,
        media::MEDIA_VIA_DECLARED_DBE,
        media::SRTP_INTACT,
        media::MEDIA_FLOODS_AND_MALFORMED,
        media::MEDIA_VALIDATED_AND_POLICED,
        rfc6405::STATIC_DIRECT,
        rfc6405::STATIC_DIRECT_ASSISTED,
        rfc6405::STATIC_INDIRECT_ASSISTED,
        rfc6405::STATIC_INDIRECT,
        rfc6405::ON_DEMAND_DIRECT,
        rfc6405::ON_DEMAND_INDIRECT,
    ];
    CHECKS
}

/// Requirements without a check, each with its status and reason.
pub fn uncovered() -> &'static [Uncovered] {
    static LIST: &[Uncovered] = &[
        Uncovered {
            reference: Ref::Rfc6271(12),
            status: "declared",
            reason: "declared: consent to share watcher privacy settings is a policy agreement, not visible on the wire",
        },
        Uncovered {
            reference: Ref::Rfc5344("2.3"),
            status: "declared",
            reason: "declared: migrating a presentity's watcher authorisations between SSPs is an agreement between them, not visible on the wire (as RFC 6271 #12)",
        },
        Uncovered {
            reference: Ref::Rfc5344("2.6"),
            status: "planned",
            reason: "planned: n-way chat needs a conference focus role and file transfer an MSRP endpoint role; the MSRP offer that starts either is checked by instant-messages-across-peers",
        },
        Uncovered {
            reference: Ref::Rfc5344("2.7"),
            status: "planned",
            reason: "planned: a clearing house is a transit network between peers; it needs the multi-SSP topology planned for RFC 6405 indirect peering",
        },
        Uncovered {
            reference: Ref::Rfc6404(12),
            status: "declared",
            reason: "declared: securing session establishment data rests on 4.2, R15 and R16 evidence",
        },
    ];
    LIST
}

/// Finds a check by id.
pub fn find(id: &str) -> Option<&'static Check> {
    registry().iter().find(|c| c.id == id)
}

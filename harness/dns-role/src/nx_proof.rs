//! Completes the NSEC proof of a name error that hickory-server 0.26
//! leaves short.
//!
//! A signed NXDOMAIN must show two things with NSEC records (RFC 4035
//! §3.1.3.2): no name between the query name's neighbours, and no
//! wildcard at the closest encloser, the deepest ancestor of the query name
//! that exists (RFC 4592 §2.2.1; an empty non-terminal exists). hickory-
//! server picks that wildcard by climbing from the query name to its
//! parent without asking whether the parent exists (hickory-dns PR #3915,
//! open as of 2026-09). Under empty non-terminals, as in every ENUM zone
//! (one label per digit, RFC 6116 §3.2), it then proves the wrong
//! wildcard, omits the NSEC that covers the right one, and a correct
//! validator calls the answer bogus: `+441632960099` got 503 "DNSSEC
//! validation failed" where 404 was due. Knot serving the same zone
//! answers with both NSECs, and hickory's validator accepts that (the
//! test `enum_ent_name_error_is_secure_from_knot`), which places the fault
//! in the server. Until the upstream fix ships, the serve loop adds the
//! missing NSEC (with its RRSIG) from the zone's own chain.

use std::sync::Arc;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};
use hickory_server::store::in_memory::InMemoryZoneHandler;

/// One link of a zone's NSEC chain: owner, next owner, the record and its
/// signatures.
struct Link {
    owner: Name,
    next: Name,
    records: Vec<Record>,
}

/// `bytes` with the NSEC covering the closest encloser's wildcard added,
/// when it is a signed name error from one of `zones` that lacks it and
/// the result still fits in `max` octets; otherwise `bytes` unchanged.
pub(crate) async fn complete(
    zones: &[(LowerName, Arc<InMemoryZoneHandler>)],
    bytes: Vec<u8>,
    max: u16,
) -> Vec<u8> {
    let Ok(mut msg) = Message::from_vec(&bytes) else {
        return bytes;
    };
    let signed = msg
        .authorities
        .iter()
        .any(|r| r.record_type() == RecordType::NSEC);
    if msg.metadata.response_code != ResponseCode::NXDomain || !signed {
        return bytes;
    }
    let Some(qname) = msg.queries.first().map(|q| q.name().clone()) else {
        return bytes;
    };
    let lower = LowerName::new(&qname);
    let Some((_, handler)) = zones
        .iter()
        .filter(|(origin, _)| origin.zone_of(&lower))
        .max_by_key(|(origin, _)| origin.num_labels())
    else {
        return bytes;
    };
    let chain = chain(handler).await;
    let Some(wildcard) = closest_encloser(&chain, &qname).and_then(|ce| ce.prepend_label("*").ok())
    else {
        return bytes;
    };
    let present: Vec<Name> = msg
        .authorities
        .iter()
        .filter(|r| r.record_type() == RecordType::NSEC)
        .map(|r| r.name.clone())
        .collect();
    let mut added = false;
    for name in [&qname, &wildcard] {
        if let Some(link) = covering(&chain, name) {
            if !present.contains(&link.owner) && !added_owner(&msg, &link.owner) {
                msg.authorities.extend(link.records.iter().cloned());
                added = true;
            }
        }
    }
    if !added {
        return bytes;
    }
    match msg.to_vec() {
        Ok(fixed) if fixed.len() <= usize::from(max) => fixed,
        _ => bytes,
    }
}

fn added_owner(msg: &Message, owner: &Name) -> bool {
    msg.authorities
        .iter()
        .any(|r| r.record_type() == RecordType::NSEC && r.name == *owner)
}

/// The zone's NSEC records in canonical order (RFC 4034 §6.1).
async fn chain(handler: &InMemoryZoneHandler) -> Vec<Link> {
    let records = handler.records().await;
    let mut links: Vec<Link> = records
        .iter()
        .filter(|(key, _)| key.record_type == RecordType::NSEC)
        .filter_map(|(_, set)| {
            let nsec = set.records_without_rrsigs().next()?.clone();
            let RData::DNSSEC(hickory_proto::dnssec::rdata::DNSSECRData::NSEC(n)) = &nsec.data
            else {
                return None;
            };
            let next = n.next_domain_name().clone();
            let mut all = vec![nsec.clone()];
            all.extend(set.rrsigs().iter().cloned());
            Some(Link {
                owner: nsec.name.clone(),
                next,
                records: all,
            })
        })
        .collect();
    links.sort_by(|a, b| a.owner.cmp(&b.owner));
    links
}

/// The deepest ancestor of `qname` that exists: it owns records, or a
/// name below it does (an empty non-terminal, RFC 4592 §2.2.2).
fn closest_encloser(chain: &[Link], qname: &Name) -> Option<Name> {
    let mut candidate = qname.base_name();
    loop {
        if chain.iter().any(|l| candidate.zone_of(&l.owner)) {
            return Some(candidate);
        }
        if candidate.is_root() {
            return None;
        }
        candidate = candidate.base_name();
    }
}

/// The link whose owner sorts before `name` and whose next owner after it
/// (the last link wraps round to the apex).
fn covering<'a>(chain: &'a [Link], name: &Name) -> Option<&'a Link> {
    chain.iter().find(|l| {
        let after_owner = l.owner < *name;
        let wraps = l.next <= l.owner;
        after_owner && (wraps || *name < l.next)
    })
}

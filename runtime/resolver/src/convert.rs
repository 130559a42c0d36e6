//! Pure conversions between hickory's wire types and the LUF/LRF cores'
//! plain structs. No I/O: the fuzz target `enum_naptr` decodes raw DNS
//! messages through [`enum_answer_from_message`], the same code the client
//! uses on the records it receives.

use std::net::IpAddr;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};

/// Proof state of the records an answer was built from (RFC 4035 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Every record chained to a configured trust anchor.
    Secure,
    /// No validation was asked for, or the zone is provably unsigned.
    Insecure,
}

/// The NAPTR record data as the LUF/LRF cores see it. Character-strings
/// are bytes on the wire (RFC 3403 §4.1); non-UTF-8 bytes become U+FFFD,
/// which no ENUM flag, service or ERE delimiter can match, so such a
/// record is skipped by the cores rather than half-read.
pub fn naptr(rdata: &hickory_proto::rr::rdata::NAPTR) -> speermint_enum::Naptr {
    speermint_enum::Naptr {
        order: rdata.order,
        preference: rdata.preference,
        flags: String::from_utf8_lossy(&rdata.flags).into_owned(),
        services: String::from_utf8_lossy(&rdata.services).into_owned(),
        regexp: String::from_utf8_lossy(&rdata.regexp).into_owned(),
        replacement: name_text(&rdata.replacement),
    }
}

/// SRV record data for the LRF.
pub fn srv(rdata: &hickory_proto::rr::rdata::SRV) -> speermint_route::Srv {
    speermint_route::Srv::new(
        rdata.priority,
        rdata.weight,
        rdata.port,
        &name_text(&rdata.target),
    )
}

/// A name as the cores write it: lower case, no trailing dot; the root is ".".
pub fn name_text(name: &Name) -> String {
    if name.is_root() {
        return ".".to_owned();
    }
    let mut s = name.to_ascii();
    if s.ends_with('.') {
        s.pop();
    }
    s.make_ascii_lowercase();
    s
}

/// The hickory record type for an LRF query type.
pub fn record_type(rtype: speermint_route::RecordType) -> RecordType {
    match rtype {
        speermint_route::RecordType::Naptr => RecordType::NAPTR,
        speermint_route::RecordType::Srv => RecordType::SRV,
        speermint_route::RecordType::A => RecordType::A,
        speermint_route::RecordType::Aaaa => RecordType::AAAA,
        // `RecordType` is non-exhaustive; a new variant is asked as ANY
        // and answered as no data by the filters below.
        _ => RecordType::ANY,
    }
}

/// NAPTRs owned by `owner` among `records` (answers may carry CNAME
/// chains and RRSIGs; only the RRSet itself counts).
pub fn naptrs<'a>(
    owner: &'a Name,
    records: impl IntoIterator<Item = &'a Record>,
) -> Vec<speermint_enum::Naptr> {
    records
        .into_iter()
        .filter(|r| r.name == *owner)
        .filter_map(|r| match &r.data {
            RData::NAPTR(n) => Some(naptr(n)),
            _ => None,
        })
        .collect()
}

/// The LRF answer for `rtype` built from `records` at `owner`.
pub fn route_answer<'a>(
    owner: &'a Name,
    rtype: speermint_route::RecordType,
    records: impl IntoIterator<Item = &'a Record>,
) -> speermint_route::Answer {
    let at_owner = records.into_iter().filter(move |r| r.name == *owner);
    match rtype {
        speermint_route::RecordType::Naptr => speermint_route::Answer::Naptr(
            at_owner
                .filter_map(|r| match &r.data {
                    RData::NAPTR(n) => Some(naptr(n)),
                    _ => None,
                })
                .collect(),
        ),
        speermint_route::RecordType::Srv => speermint_route::Answer::Srv(
            at_owner
                .filter_map(|r| match &r.data {
                    RData::SRV(s) => Some(srv(s)),
                    _ => None,
                })
                .collect(),
        ),
        speermint_route::RecordType::A | speermint_route::RecordType::Aaaa => {
            let want_v4 = rtype == speermint_route::RecordType::A;
            speermint_route::Answer::Addresses(
                at_owner
                    .filter_map(|r| match &r.data {
                        RData::A(a) if want_v4 => Some(IpAddr::V4(a.0)),
                        RData::AAAA(a) if !want_v4 => Some(IpAddr::V6(a.0)),
                        _ => None,
                    })
                    .collect(),
            )
        }
        _ => speermint_route::Answer::NoData,
    }
}

/// Why a DNS message could not be turned into an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The bytes are not a DNS message.
    #[error("undecodable DNS message: {0}")]
    Decode(String),
    /// A query, not a response.
    #[error("not a response")]
    NotResponse,
    /// The message has no question to tie the answer to.
    #[error("response without a question")]
    NoQuestion,
}

/// A raw DNS response, as the LUF sees it: the owner asked for and the
/// answer (RFC 1035 §4.1; RFC 2308 §2 for NXDOMAIN and NODATA). Used by
/// the `enum_naptr` fuzz target and by tests against captured responses.
pub fn enum_answer_from_message(
    bytes: &[u8],
) -> Result<(String, speermint_enum::Answer), WireError> {
    let msg = Message::from_vec(bytes).map_err(|e| WireError::Decode(e.to_string()))?;
    if msg.metadata.message_type != hickory_proto::op::MessageType::Response {
        return Err(WireError::NotResponse);
    }
    let question = msg.queries.first().ok_or(WireError::NoQuestion)?;
    let owner = question.name().clone();
    let answer = match msg.metadata.response_code {
        ResponseCode::NoError => {
            let records = naptrs(&owner, msg.answers.iter());
            if records.is_empty() {
                speermint_enum::Answer::NoData
            } else {
                speermint_enum::Answer::Records(records)
            }
        }
        ResponseCode::NXDomain => speermint_enum::Answer::NxDomain,
        _ => speermint_enum::Answer::Failed,
    };
    Ok((name_text(&owner), answer))
}

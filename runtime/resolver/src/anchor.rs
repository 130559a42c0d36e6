//! DNSSEC trust anchors (RFC 4033 §2, RFC 6404 §4.2): the DNSKEY or DS
//! records a validating LUF/LRF starts its chain of trust from, read from
//! a file in zone-file syntax.
//!
//! hickory's own anchor reader takes DNSKEYs only; operators usually hold
//! a DS (it is what registries publish), so both are read here. A DS
//! anchor is turned into the DNSKEY it digests when the client starts
//! ([`crate::Client::new`] asks the zone for its DNSKEY RRSet and keeps
//! the key whose digest matches, RFC 4034 §5.1.4).

use std::path::Path;

use std::str::FromStr;

use hickory_proto::dnssec::rdata::{DNSKEY, DS};
use hickory_proto::dnssec::{Algorithm, DigestType, PublicKeyBuf};
use hickory_proto::rr::Name;

use crate::file_error::ZoneError;

/// One configured anchor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anchor {
    /// A key trusted for `zone`.
    Key {
        /// Owner of the DNSKEY.
        zone: Name,
        /// The key.
        dnskey: DNSKEY,
    },
    /// A digest of a key trusted for `zone`.
    Digest {
        /// Owner of the DS.
        zone: Name,
        /// The digest.
        ds: DS,
    },
}

impl Anchor {
    /// The zone this anchor is for.
    pub fn zone(&self) -> &Name {
        match self {
            Self::Key { zone, .. } | Self::Digest { zone, .. } => zone,
        }
    }
}

/// The anchors of one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustAnchor {
    /// In file order.
    pub anchors: Vec<Anchor>,
}

impl TrustAnchor {
    /// Reads an anchor file.
    pub fn from_file(path: &Path) -> Result<Self, ZoneError> {
        let label = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ZoneError {
            file: label.clone(),
            line: None,
            reason: format!("cannot read: {e}"),
        })?;
        Self::parse(&text, &label)
    }

    /// Parses anchor text: one record per entry, `owner [ttl] [class]
    /// DNSKEY|DS rdata`, owners absolute, `;` comments, parentheses for
    /// continuation (RFC 1035 §5.1). hickory's zone parser refuses DNSKEY
    /// records in zone data, so this small reader does the job.
    pub fn parse(text: &str, label: &str) -> Result<Self, ZoneError> {
        let err = |line: usize, reason: String| ZoneError {
            file: label.to_owned(),
            line: Some(line),
            reason,
        };
        let mut anchors = Vec::new();
        for (line, fields) in entries(text).map_err(|(l, r)| err(l, r))? {
            anchors.push(parse_entry(&fields).map_err(|r| err(line, r))?);
        }
        if anchors.is_empty() {
            return Err(ZoneError {
                file: label.to_owned(),
                line: None,
                reason: "no DNSKEY or DS record".into(),
            });
        }
        Ok(Self { anchors })
    }

    /// Anchors from DNSKEY records in zone syntax (e.g. from
    /// `Zone::dnskey_record` of the DNS role).
    pub fn from_records(lines: &[String]) -> Result<Self, ZoneError> {
        Self::parse(&lines.join("\n"), "anchors")
    }
}

/// An entry's first line and its fields.
type Entry = (usize, Vec<String>);

/// Splits text into entries of whitespace-separated fields, each with the
/// line it starts on; parentheses join lines, `;` starts a comment.
fn entries(text: &str) -> Result<Vec<Entry>, (usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, Vec<String>)> = None;
    let mut depth = 0usize;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let body = raw.split(';').next().unwrap_or("");
        for word in body.split_whitespace() {
            let mut rest = word;
            while !rest.is_empty() {
                if let Some(r) = rest.strip_prefix('(') {
                    depth += 1;
                    rest = r;
                    continue;
                }
                let end = rest.find(['(', ')']).unwrap_or(rest.len());
                if end > 0 {
                    current
                        .get_or_insert_with(|| (line_no, Vec::new()))
                        .1
                        .push(rest[..end].to_owned());
                }
                rest = &rest[end..];
                if let Some(r) = rest.strip_prefix(')') {
                    depth = depth
                        .checked_sub(1)
                        .ok_or((line_no, "unbalanced ')'".to_owned()))?;
                    rest = r;
                }
            }
        }
        if depth == 0 {
            out.extend(current.take());
        }
    }
    if depth != 0 {
        let start = current.map(|(l, _)| l).unwrap_or(1);
        return Err((start, "unclosed '('".into()));
    }
    Ok(out)
}

fn parse_entry(fields: &[String]) -> Result<Anchor, String> {
    let owner = fields.first().ok_or("empty entry")?;
    if !owner.ends_with('.') {
        return Err(format!("owner {owner:?} must be absolute (end with '.')"));
    }
    let zone = Name::from_str(owner).map_err(|e| format!("owner {owner:?}: {e}"))?;
    let mut rest = &fields[1..];
    // Optional TTL and class, in either order (RFC 1035 §5.1).
    for _ in 0..2 {
        match rest.first().map(String::as_str) {
            Some(t) if t.bytes().all(|b| b.is_ascii_digit()) => rest = &rest[1..],
            Some(c) if c.eq_ignore_ascii_case("IN") => rest = &rest[1..],
            _ => {}
        }
    }
    let (rtype, rdata) = rest.split_first().ok_or("missing record type")?;
    let num = |s: &String, what: &str| -> Result<u32, String> {
        s.parse::<u32>()
            .map_err(|_| format!("{what} {s:?} is not a number"))
    };
    if rtype.eq_ignore_ascii_case("DNSKEY") {
        // flags protocol algorithm key (RFC 4034 §2.2)
        let [flags, protocol, alg, key @ ..] = rdata else {
            return Err("DNSKEY needs flags, protocol, algorithm and key".into());
        };
        let flags = u16::try_from(num(flags, "flags")?).map_err(|_| "flags out of range")?;
        if num(protocol, "protocol")? != 3 {
            return Err(format!(
                "DNSKEY protocol {protocol} (must be 3, RFC 4034 §2.1.2)"
            ));
        }
        let alg = u8::try_from(num(alg, "algorithm")?).map_err(|_| "algorithm out of range")?;
        if key.is_empty() {
            return Err("DNSKEY without a key".into());
        }
        let bytes = data_encoding::BASE64
            .decode(key.concat().as_bytes())
            .map_err(|e| format!("key is not base64: {e}"))?;
        let dnskey = DNSKEY::with_flags(flags, PublicKeyBuf::new(bytes, Algorithm::from_u8(alg)));
        if !dnskey.zone_key() {
            return Err("DNSKEY without the Zone Key flag (RFC 4034 §2.1.1)".into());
        }
        Ok(Anchor::Key { zone, dnskey })
    } else if rtype.eq_ignore_ascii_case("DS") {
        // key tag, algorithm, digest type, digest (RFC 4034 §5.3)
        let [tag, alg, dtype, digest @ ..] = rdata else {
            return Err("DS needs key tag, algorithm, digest type and digest".into());
        };
        let tag = u16::try_from(num(tag, "key tag")?).map_err(|_| "key tag out of range")?;
        let alg = u8::try_from(num(alg, "algorithm")?).map_err(|_| "algorithm out of range")?;
        let dtype =
            u8::try_from(num(dtype, "digest type")?).map_err(|_| "digest type out of range")?;
        let digest = data_encoding::HEXUPPER_PERMISSIVE
            .decode(digest.concat().to_ascii_uppercase().as_bytes())
            .map_err(|e| format!("digest is not hex: {e}"))?;
        if digest.is_empty() {
            return Err("DS without a digest".into());
        }
        Ok(Anchor::Digest {
            zone,
            ds: DS::new(
                tag,
                Algorithm::from_u8(alg),
                DigestType::from(dtype),
                digest,
            ),
        })
    } else {
        Err(format!("{rtype} record: a trust anchor is a DNSKEY or DS"))
    }
}

//! Zone files (RFC 1035 §5) for the embedded authoritative server, and
//! ECDSA P-256 signing at start-up (RFC 6605, RFC 4035 §2).
//!
//! hickory's zone parser reports what is wrong but not where. An operator
//! with a 400-line zone needs the line, so [`Zone::parse`] finds it: the
//! parser is deterministic and reads front to back, so the first line
//! prefix that fails with the same message holds the fault.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use hickory_proto::dnssec::crypto::EcdsaSigningKey;
use hickory_proto::dnssec::rdata::{DNSKEY, DS};
use hickory_proto::dnssec::{Algorithm, DigestType, DnssecSigner, SigningKey};
use hickory_proto::rr::{Name, RecordSet, RecordType, RrKey};
use hickory_proto::serialize::txt::Parser;
use rustls_pki_types::PrivatePkcs8KeyDer;
pub use speermint_resolver::ZoneError;

/// A parsed zone: its origin and RRSets, and, once signed, its key.
/// A clone keeps the key: a secondary serving it signs with the same key.
#[derive(Clone)]
pub struct Zone {
    pub(crate) origin: Name,
    pub(crate) records: BTreeMap<RrKey, RecordSet>,
    pub(crate) key: Option<ZoneKey>,
    label: String,
}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Zone")
            .field("origin", &self.origin.to_ascii())
            .field("rrsets", &self.records.len())
            .field("signed", &self.key.is_some())
            .finish()
    }
}

/// The signing key of a zone. The private half is kept so the tamper
/// controls can re-sign an RRSet with a chosen validity window.
#[derive(Clone)]
pub(crate) struct ZoneKey {
    pub(crate) pkcs8: Vec<u8>,
    pub(crate) dnskey: DNSKEY,
    pub(crate) validity: Duration,
}

/// How long start-up signatures are valid (RFC 4034 §3.1.5): long enough
/// for any test run, short enough that a leaked signature soon expires.
pub const SIGNATURE_VALIDITY: Duration = Duration::from_secs(7 * 24 * 3600);

impl Zone {
    /// Reads and parses a zone file. `origin` is used when the file has
    /// no `$ORIGIN`.
    pub fn from_file(path: &Path, origin: Option<&str>) -> Result<Self, ZoneError> {
        let label = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ZoneError {
            file: label.clone(),
            line: None,
            reason: format!("cannot read: {e}"),
        })?;
        Self::parse(&text, origin, &label, Some(path.to_path_buf()))
    }

    /// Parses zone text; `label` names it in errors.
    pub fn from_text(text: &str, origin: Option<&str>, label: &str) -> Result<Self, ZoneError> {
        Self::parse(text, origin, label, None)
    }

    fn parse(
        text: &str,
        origin: Option<&str>,
        label: &str,
        path: Option<PathBuf>,
    ) -> Result<Self, ZoneError> {
        let err = |line, reason: String| ZoneError {
            file: label.to_owned(),
            line,
            reason,
        };
        let origin_name = match origin {
            Some(o) => {
                Some(Name::from_str(o).map_err(|e| err(None, format!("origin {o:?}: {e}")))?)
            }
            None => None,
        };
        let run = |t: &str| Parser::new(t.to_owned(), path.clone(), origin_name.clone()).parse();
        let (origin, records) = match run(text) {
            Ok(parsed) => parsed,
            Err(e) => {
                let reason = e.to_string();
                let line = fault_line(text, &reason, |prefix| {
                    run(prefix).err().map(|e| e.to_string())
                });
                return Err(err(line, reason));
            }
        };
        let soa = RrKey::new(origin.clone().into(), RecordType::SOA);
        if !records.contains_key(&soa) {
            return Err(err(
                None,
                format!("no SOA record at the origin {origin} (RFC 1035 §5.2)"),
            ));
        }
        Ok(Self {
            origin,
            records,
            key: None,
            label: label.to_owned(),
        })
    }

    /// The zone's origin, absolute.
    pub fn origin(&self) -> &Name {
        &self.origin
    }

    /// The file or label the zone came from.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Number of RRSets before signing.
    pub fn rrset_count(&self) -> usize {
        self.records.len()
    }

    /// Marks the zone for signing with a fresh ECDSA P-256/SHA-256 key
    /// (algorithm 13, RFC 6605) when the server starts. One key acts as
    /// both KSK and ZSK (flags 257): a test zone has no parent to hand a
    /// DS to, so the key itself is the trust anchor.
    pub fn sign(self) -> Result<Self, ZoneError> {
        let key = generate_key().map_err(|e| self.sign_error(e))?;
        self.sign_with(&key)
    }

    /// Like [`Zone::sign`] with a given ECDSA P-256 key (PKCS#8 DER, see
    /// [`generate_key`]): the zone's DNSKEY, and so the trust anchor an
    /// external element is configured with, stays the same across runs.
    pub fn sign_with(mut self, pkcs8: &[u8]) -> Result<Self, ZoneError> {
        let key = load_key(pkcs8).map_err(|e| self.sign_error(e.to_string()))?;
        let public = key
            .to_public_key()
            .map_err(|e| self.sign_error(e.to_string()))?;
        let dnskey = DNSKEY::new(true, true, false, public);
        self.key = Some(ZoneKey {
            pkcs8: pkcs8.to_vec(),
            dnskey,
            validity: SIGNATURE_VALIDITY,
        });
        Ok(self)
    }

    fn sign_error(&self, e: String) -> ZoneError {
        ZoneError {
            file: self.label.clone(),
            line: None,
            reason: format!("cannot sign: {e}"),
        }
    }

    /// Whether [`Zone::sign`] was called.
    pub fn is_signed(&self) -> bool {
        self.key.is_some()
    }

    /// The DNSKEY record of a signed zone in zone-file syntax: what a
    /// trust anchor file holds.
    pub fn dnskey_record(&self) -> Option<String> {
        let key = self.key.as_ref()?;
        Some(format!(
            "{} 3600 IN DNSKEY {}",
            self.origin.to_ascii(),
            key.dnskey
        ))
    }

    /// The DS record (SHA-256, RFC 4509) of a signed zone, for a parent
    /// zone or a DS trust anchor.
    pub fn ds_record(&self) -> Option<String> {
        let key = self.key.as_ref()?;
        let ds = DS::from_key(key.dnskey.public_key(), &self.origin, DigestType::SHA256).ok()?;
        Some(format!("{} 3600 IN DS {}", self.origin.to_ascii(), ds))
    }
}

impl ZoneKey {
    /// A signer over this key valid for `validity` from its inception.
    pub(crate) fn signer(&self, origin: &Name, validity: Duration) -> Result<DnssecSigner, String> {
        let key = load_key(&self.pkcs8).map_err(|e| e.to_string())?;
        Ok(DnssecSigner::new(
            self.dnskey.clone(),
            Box::new(key),
            origin.clone(),
            validity,
        ))
    }
}

/// A fresh ECDSA P-256 zone key, PKCS#8 DER (RFC 6605).
pub fn generate_key() -> Result<Vec<u8>, String> {
    EcdsaSigningKey::generate_pkcs8(Algorithm::ECDSAP256SHA256)
        .map(|k| k.secret_pkcs8_der().to_vec())
        .map_err(|e| e.to_string())
}

fn load_key(pkcs8: &[u8]) -> Result<EcdsaSigningKey, hickory_proto::dnssec::DnsSecError> {
    EcdsaSigningKey::from_pkcs8(
        &PrivatePkcs8KeyDer::from(pkcs8.to_vec()),
        Algorithm::ECDSAP256SHA256,
    )
}

/// The 1-based line holding the first fault: the shortest line prefix of
/// `text` that `fails` with `reason`. Binary search, so a large zone costs
/// a few dozen parses; `None` when no prefix reproduces the message (a
/// fault only visible at the end, such as an unclosed parenthesis).
pub(crate) fn fault_line(
    text: &str,
    reason: &str,
    fails: impl Fn(&str) -> Option<String>,
) -> Option<usize> {
    let ends: Vec<usize> = text
        .char_indices()
        .filter(|&(_, c)| c == '\n')
        .map(|(i, _)| i + 1)
        .chain(std::iter::once(text.len()))
        .collect();
    let same = |k: usize| fails(&text[..ends[k]]).as_deref() == Some(reason);
    let last = ends.len() - 1;
    if !same(last) {
        return None;
    }
    // Invariant: prefix `hi` reproduces the fault; prefixes below `lo` don't.
    let (mut lo, mut hi) = (0, last);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if same(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Some(hi + 1)
}

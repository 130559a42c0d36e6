//! `speermint-identity`: strong identity assertion for SIP (RFC 8224) with
//! PASSporT tokens (RFC 8225), the countermeasure of RFC 6404 §4.7 against
//! user ID spoofing and billing fraud.
//!
//! An authentication service signs who a request is from and to, and when
//! ([`SigningKey::sign`]); a verification service checks the signature
//! against a certificate named by the `info` parameter, issued by an
//! authority it trusts and valid for the claimed identity, and that the
//! claims match the request and are fresh ([`verify_request`]). Both sides
//! are here so that the reference SBE and the harness agree on the wire
//! format; the harness additionally forges and tampers with tokens to see
//! the IUT refuse them.
//!
//! Scope: ES256 only (the one algorithm RFC 8225 requires), the full form
//! of PASSporT only (the compact form, rebuilt from headers, is refused as
//! unsupported), no `ppt` extensions, certificates found in a configured
//! cache keyed by the `info` URL (RFC 8224 §7.2 lets a verifier cache; the
//! fetching is a driver's job). Telephone-number identities are not checked
//! against TN authorisation lists (out of RFC 8224's scope); domain
//! identities must be among the certificate's subjectAltName dNSNames.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, UnparsedPublicKey,
};
use serde_json::{Value, json};
use speermint_sip::{HeaderName, Message, Uri};
use std::fmt;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// Who a claim is about (RFC 8224 §8.1): a telephone number, canonical
/// (digits only, §8.3), or a URI reduced to scheme, user and host (§8.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Party {
    /// A telephone number, digits only.
    Tn(String),
    /// `sip:user@host`, host lower-cased.
    Uri(String),
}

impl Party {
    /// The identity a SIP or tel URI stands for.
    pub fn of(uri: &Uri<'_>) -> Option<Party> {
        match uri {
            Uri::Tel(t) => Some(Party::Tn(canonical_tn(t.number)?)),
            Uri::Sip(s) => {
                let user = s.user.unwrap_or("");
                let phone = s.params.get("user") == Some(Some("phone"))
                    || (user.starts_with('+') && canonical_tn(user).is_some());
                if phone {
                    return Some(Party::Tn(canonical_tn(user)?));
                }
                let scheme = if s.secure { "sips" } else { "sip" };
                let host = s.host.to_string().to_ascii_lowercase();
                Some(Party::Uri(if user.is_empty() {
                    format!("{scheme}:{host}")
                } else {
                    format!("{scheme}:{user}@{host}")
                }))
            }
            _ => None,
        }
    }

    fn to_json(&self) -> Value {
        match self {
            Party::Tn(t) => json!({ "tn": t }),
            Party::Uri(u) => json!({ "uri": u }),
        }
    }

    fn to_json_list(&self) -> Value {
        match self {
            Party::Tn(t) => json!({ "tn": [t] }),
            Party::Uri(u) => json!({ "uri": [u] }),
        }
    }

    /// The domain of a URI identity.
    fn host(&self) -> Option<&str> {
        match self {
            Party::Uri(u) => Some(u.rsplit('@').next().unwrap_or(u).trim_start_matches("sip:")),
            Party::Tn(_) => None,
        }
    }
}

impl fmt::Display for Party {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Party::Tn(t) => write!(f, "tn {t}"),
            Party::Uri(u) => write!(f, "uri {u}"),
        }
    }
}

/// RFC 8224 §8.3: visual separators out, leading `+` out; digits remain.
fn canonical_tn(s: &str) -> Option<String> {
    let s = s.strip_prefix('+').unwrap_or(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '0'..='9' => out.push(c),
            '-' | '.' | '(' | ')' | ' ' => {}
            _ => return None,
        }
    }
    (!out.is_empty()).then_some(out)
}

/// What a PASSporT asserts (RFC 8225 §5, RFC 8224 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The originator, from the From header field.
    pub orig: Party,
    /// The destination, from the To header field.
    pub dest: Party,
    /// When it was signed, UNIX seconds.
    pub iat: u64,
}

impl Claims {
    /// The claims a request makes at `iat`: From as `orig`, To as `dest`.
    pub fn of_request(msg: &Message<'_>, iat: u64) -> Option<Claims> {
        let c = msg.core();
        Some(Claims {
            orig: Party::of(&c.from.uri)?,
            dest: Party::of(&c.to.uri)?,
            iat,
        })
    }
}

/// An authentication service's key (RFC 8224 §5): a P-256 key and the URL
/// where its certificate is published.
pub struct SigningKey {
    key: EcdsaKeyPair,
    info: String,
    rng: SystemRandom,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A key from PKCS#8 DER, its certificate at `info`.
    pub fn from_pkcs8(pkcs8: &[u8], info: &str) -> Result<Self, String> {
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
            .map_err(|e| format!("not a P-256 PKCS#8 key: {e}"))?;
        Ok(Self {
            key,
            info: info.to_owned(),
            rng,
        })
    }

    /// The full-form PASSporT for `claims` and the Identity header value
    /// carrying it (RFC 8224 §4): `header.payload.signature;info=<URL>;alg=ES256`.
    pub fn sign(&self, claims: &Claims) -> Result<String, String> {
        // serde_json keeps object keys sorted, as RFC 8225 §9 wants for
        // the canonical form.
        let header = json!({ "alg": "ES256", "typ": "passport", "x5u": self.info });
        let payload = json!({
            "dest": claims.dest.to_json_list(),
            "iat": claims.iat,
            "orig": claims.orig.to_json(),
        });
        let signing_input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(payload.to_string())
        );
        let sig = self
            .key
            .sign(&self.rng, signing_input.as_bytes())
            .map_err(|e| format!("signing failed: {e}"))?;
        Ok(format!(
            "{signing_input}.{};info=<{}>;alg=ES256",
            B64.encode(sig.as_ref()),
            self.info
        ))
    }
}

/// What a verifier trusts: the authorities that issue signing
/// certificates, and the certificates it holds, by `info` URL (DER).
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// Issuer certificates, DER.
    pub trust_anchors: Vec<Vec<u8>>,
    /// Signing certificates by the URL an Identity header names them with.
    pub certs: Vec<(String, Vec<u8>)>,
}

/// Why a request's identity was not accepted, with the response RFC 8224
/// §6.2.2 gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No usable Identity header: 428 "Use Identity Header".
    Missing,
    /// The `info` URL gives no certificate: 436 "Bad Identity Info".
    BadInfo(String),
    /// The credential is not one the verifier accepts: 437 "Unsupported
    /// Credential".
    Unsupported(String),
    /// The signature or the claims do not hold: 438 "Invalid Identity
    /// Header".
    Invalid(String),
    /// Signed too long ago: 403 "Stale Date".
    Stale(String),
}

impl Failure {
    /// The status code.
    pub fn status(&self) -> u16 {
        match self {
            Failure::Missing => 428,
            Failure::BadInfo(_) => 436,
            Failure::Unsupported(_) => 437,
            Failure::Invalid(_) => 438,
            Failure::Stale(_) => 403,
        }
    }

    /// The reason phrase, with why.
    pub fn reason(&self) -> String {
        match self {
            Failure::Missing => "Use Identity Header".into(),
            Failure::BadInfo(w) => format!("Bad Identity Info - {w}"),
            Failure::Unsupported(w) => format!("Unsupported Credential - {w}"),
            Failure::Invalid(w) => format!("Invalid Identity Header - {w}"),
            Failure::Stale(w) => format!("Stale Date - {w}"),
        }
    }
}

/// One Identity header field, split.
struct IdentityField<'a> {
    token: &'a str,
    info: Option<&'a str>,
    ppt: Option<&'a str>,
}

fn split_field(value: &str) -> IdentityField<'_> {
    let mut parts = value.split(';');
    let token = parts.next().unwrap_or("").trim();
    let (mut info, mut ppt) = (None, None);
    for p in parts {
        let (name, v) = p.split_once('=').unwrap_or((p, ""));
        match name.trim().to_ascii_lowercase().as_str() {
            "info" => info = Some(v.trim().trim_start_matches('<').trim_end_matches('>')),
            "ppt" => ppt = Some(v.trim().trim_matches('"')),
            _ => {}
        }
    }
    IdentityField { token, info, ppt }
}

/// Verifies the Identity of `msg` as RFC 8224 §6.2 orders it: usable
/// header, credential, freshness within `freshness_secs` of `now` (UNIX
/// seconds), signature, then the claims against From and To and the
/// certificate against the claimed domain. The first good header wins;
/// otherwise the first header's failure is returned.
pub fn verify_request(
    msg: &Message<'_>,
    creds: &Credentials,
    now: u64,
    freshness_secs: u64,
) -> Result<Claims, Failure> {
    let mut first_failure = None;
    for h in msg.headers_named(HeaderName::Identity) {
        let Some(value) = h.value_str() else { continue };
        let field = split_field(value);
        // Step 1: an unsupported ppt means the field is ignored.
        if field.ppt.is_some() {
            continue;
        }
        match verify_field(msg, &field, creds, now, freshness_secs) {
            Ok(c) => return Ok(c),
            Err(f) => {
                first_failure.get_or_insert(f);
            }
        }
    }
    Err(first_failure.unwrap_or(Failure::Missing))
}

fn decode_json(part: &str, what: &str) -> Result<Value, Failure> {
    let bytes = B64
        .decode(part)
        .map_err(|_| Failure::Invalid(format!("the PASSporT {what} is not base64url")))?;
    serde_json::from_slice(&bytes)
        .map_err(|_| Failure::Invalid(format!("the PASSporT {what} is not JSON")))
}

fn verify_field(
    msg: &Message<'_>,
    field: &IdentityField<'_>,
    creds: &Credentials,
    now: u64,
    freshness_secs: u64,
) -> Result<Claims, Failure> {
    let parts: Vec<&str> = field.token.split('.').collect();
    let [h64, p64, s64] = parts[..] else {
        return Err(Failure::Invalid(
            "not a JWS in compact serialisation".into(),
        ));
    };
    if p64.is_empty() {
        return Err(Failure::Unsupported(
            "the compact form of PASSporT is not supported; send the full form".into(),
        ));
    }
    let header = decode_json(h64, "header")?;
    if header.get("alg").and_then(Value::as_str) != Some("ES256") {
        return Err(Failure::Unsupported(format!(
            "alg {} (only ES256)",
            header.get("alg").unwrap_or(&Value::Null)
        )));
    }
    // Step 3: the credential.
    let Some(info) = field.info else {
        return Err(Failure::BadInfo("no info parameter".into()));
    };
    let Some((_, der)) = creds.certs.iter().find(|(url, _)| url == info) else {
        return Err(Failure::BadInfo(format!("no certificate at {info}")));
    };
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|_| Failure::BadInfo(format!("what {info} holds is not a certificate")))?;
    let trusted = creds.trust_anchors.iter().any(|a| {
        X509Certificate::from_der(a).is_ok_and(|(_, ca)| {
            ca.subject() == cert.issuer() && cert.verify_signature(Some(ca.public_key())).is_ok()
        })
    });
    if !trusted {
        return Err(Failure::Unsupported(format!(
            "the certificate at {info} is not issued by a trusted authority"
        )));
    }
    let validity = cert.validity();
    let now_i = i64::try_from(now).unwrap_or(i64::MAX);
    if now_i < validity.not_before.timestamp() || now_i > validity.not_after.timestamp() {
        return Err(Failure::Unsupported(format!(
            "the certificate at {info} is not valid now"
        )));
    }
    // Step 4: freshness of iat (the full form carries it signed).
    let payload = decode_json(p64, "payload")?;
    let iat = payload
        .get("iat")
        .and_then(Value::as_u64)
        .ok_or_else(|| Failure::Invalid("no iat".into()))?;
    if now.abs_diff(iat) > freshness_secs {
        return Err(Failure::Stale(format!(
            "iat is {} s away from now, more than {freshness_secs} s",
            now.abs_diff(iat)
        )));
    }
    // Step 5: the signature, over `header.payload` as sent.
    let sig = B64
        .decode(s64)
        .map_err(|_| Failure::Invalid("the signature is not base64url".into()))?;
    let key = UnparsedPublicKey::new(
        &ECDSA_P256_SHA256_FIXED,
        cert.public_key().subject_public_key.data.as_ref(),
    );
    let signing_input = &field.token[..h64.len() + 1 + p64.len()];
    key.verify(signing_input.as_bytes(), &sig)
        .map_err(|_| Failure::Invalid("the signature does not verify".into()))?;
    // The claims against the request.
    let want = Claims::of_request(msg, iat)
        .ok_or_else(|| Failure::Invalid("From or To is not an identity".into()))?;
    let orig = payload.get("orig").and_then(party_of);
    if orig.as_ref() != Some(&want.orig) {
        return Err(Failure::Invalid(format!(
            "orig does not match From ({})",
            want.orig
        )));
    }
    let dest_ok = payload
        .get("dest")
        .is_some_and(|d| parties_of(d).contains(&want.dest));
    if !dest_ok {
        return Err(Failure::Invalid(format!(
            "dest does not name To ({})",
            want.dest
        )));
    }
    if let Some(domain) = want.orig.host() {
        let names: Vec<String> = cert
            .subject_alternative_name()
            .ok()
            .flatten()
            .map(|san| {
                san.value
                    .general_names
                    .iter()
                    .filter_map(|g| match g {
                        GeneralName::DNSName(n) => Some(n.to_ascii_lowercase()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let host = domain.split(':').next().unwrap_or(domain);
        if !names.iter().any(|n| n == host) {
            return Err(Failure::Invalid(format!(
                "the certificate at {info} is for {}, not {host}",
                if names.is_empty() {
                    "no domain".to_string()
                } else {
                    names.join(", ")
                }
            )));
        }
    }
    Ok(want)
}

fn party_of(v: &Value) -> Option<Party> {
    if let Some(t) = v.get("tn").and_then(Value::as_str) {
        return Some(Party::Tn(t.to_owned()));
    }
    v.get("uri")
        .and_then(Value::as_str)
        .map(|u| Party::Uri(u.to_owned()))
}

fn parties_of(v: &Value) -> Vec<Party> {
    let mut out = Vec::new();
    for (key, ctor) in [
        ("tn", Party::Tn as fn(String) -> Party),
        ("uri", Party::Uri),
    ] {
        if let Some(list) = v.get(key).and_then(Value::as_array) {
            out.extend(
                list.iter()
                    .filter_map(Value::as_str)
                    .map(|s| ctor(s.to_owned())),
            );
        }
    }
    out
}

/// The `identity_verify` fuzz target's model.
pub mod fuzzing {
    use super::{Claims, Credentials, verify_request};
    use speermint_sip::Message;

    /// The URL the seeds' Identity headers name.
    pub const SEED_INFO: &str = "https://certs.peer.example/passport.cer";
    /// The time the seeds were signed at.
    pub const SEED_NOW: u64 = 1_800_000_000;

    /// Hostile Identity headers and certificates (a verifier fetches the
    /// certificate from a URL the sender chose, so both are attacker
    /// input). The first byte times eight is the length of a certificate
    /// (DER, trusted as its own issuer and served at [`SEED_INFO`]); the
    /// rest is a SIP request. Invariants: no panic; a refusal is one of
    /// RFC 8224's answers; an acceptance asserts exactly the request's
    /// From and To.
    pub fn identity_verify(data: &[u8]) {
        let Some((&n, rest)) = data.split_first() else {
            return;
        };
        let (cert, msg) = rest.split_at((usize::from(n) * 8).min(rest.len()));
        let Ok(m) = Message::parse(msg) else {
            return;
        };
        let creds = Credentials {
            trust_anchors: vec![cert.to_vec()],
            certs: vec![(SEED_INFO.to_owned(), cert.to_vec())],
        };
        match verify_request(&m, &creds, SEED_NOW, 60) {
            Ok(c) => assert_eq!(Claims::of_request(&m, c.iat), Some(c)),
            Err(f) => assert!(matches!(f.status(), 403 | 428 | 436 | 437 | 438), "{f:?}"),
        }
    }
}

/// A SIP Date header value for UNIX time `t` (RFC 3261 §20.17, RFC 1123
/// form, always GMT), which an authentication service adds (RFC 8224 §5).
pub fn sip_date(t: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = t / 86_400;
    let secs = t % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, PKCS_ECDSA_P256_SHA256,
    };

    struct Lab {
        creds: Credentials,
        peer: SigningKey,
        elsewhere: SigningKey,
    }

    fn lab() -> Lab {
        let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(params, ca_key).unwrap();
        let mut creds = Credentials {
            trust_anchors: vec![ca.der().to_vec()],
            certs: Vec::new(),
        };
        let mut issue = |domain: &str, url: &str| {
            let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
            let cert = CertificateParams::new(vec![domain.to_owned()])
                .unwrap()
                .signed_by(&key, &ca)
                .unwrap();
            creds.certs.push((url.to_owned(), cert.der().to_vec()));
            SigningKey::from_pkcs8(&key.serialize_der(), url).unwrap()
        };
        let peer = issue("peer.example", "https://certs.peer.example/sbe.cer");
        let elsewhere = issue(
            "elsewhere.example",
            "https://certs.elsewhere.example/sbe.cer",
        );
        Lab {
            creds,
            peer,
            elsewhere,
        }
    }

    fn invite(identity: Option<&str>) -> Vec<u8> {
        let mut s = String::from(
            "INVITE sip:+15105550200@ssp.example SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nMax-Forwards: 70\r\nFrom: <sip:alice@peer.example>;tag=1\r\nTo: <sip:+1-510-555-0200@ssp.example;user=phone>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n",
        );
        if let Some(v) = identity {
            s.push_str(&format!("Identity: {v}\r\n"));
        }
        s.push_str("Content-Length: 0\r\n\r\n");
        s.into_bytes()
    }

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn a_signed_request_verifies_and_every_defect_gets_its_answer() {
        let lab = lab();
        let bytes = invite(None);
        let msg = Message::parse(&bytes).unwrap();
        let claims = Claims::of_request(&msg, NOW).unwrap();
        assert_eq!(claims.orig, Party::Uri("sip:alice@peer.example".into()));
        assert_eq!(claims.dest, Party::Tn("15105550200".into()));
        assert_eq!(
            verify_request(&msg, &lab.creds, NOW, 60)
                .unwrap_err()
                .status(),
            428
        );
        let check = |identity: &str, now: u64| {
            let bytes = invite(Some(identity));
            let msg = Message::parse(&bytes).unwrap();
            verify_request(&msg, &lab.creds, now, 60)
        };
        let good = lab.peer.sign(&claims).unwrap();
        assert_eq!(check(&good, NOW + 30).unwrap(), claims);
        // Stale.
        let e = check(&good, NOW + 300).unwrap_err();
        assert_eq!(e.status(), 403, "{e:?}");
        // Signed by a certificate for another domain.
        let other = lab.elsewhere.sign(&claims).unwrap();
        let e = check(&other, NOW).unwrap_err();
        assert!(
            e.status() == 438 && e.reason().contains("elsewhere.example"),
            "{e:?}"
        );
        // Tampered: the payload names someone else, the signature is the old one.
        let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
        let forged = json!({"dest": {"tn": ["15105550200"]}, "iat": NOW, "orig": {"uri": "sip:mallory@peer.example"}});
        parts[1] = B64.encode(forged.to_string());
        let e = check(&parts.join("."), NOW).unwrap_err();
        assert!(
            e.status() == 438 && e.reason().contains("does not verify"),
            "{e:?}"
        );
        // Claims for another caller, correctly signed: orig does not match From.
        let mallory = Claims {
            orig: Party::Uri("sip:mallory@peer.example".into()),
            ..claims.clone()
        };
        let e = check(&lab.peer.sign(&mallory).unwrap(), NOW).unwrap_err();
        assert!(e.status() == 438 && e.reason().contains("orig"), "{e:?}");
        // An unknown certificate URL, and the compact form.
        let unknown = good.replace("certs.peer.example", "certs.nowhere.example");
        assert_eq!(check(&unknown, NOW).unwrap_err().status(), 436);
        let (h, rest) = good.split_once('.').unwrap();
        let compact = format!("{h}.{}", &rest[rest.find('.').unwrap()..]);
        assert_eq!(check(&compact, NOW).unwrap_err().status(), 437);
        // A ppt the verifier does not know: the field is ignored, so 428.
        assert_eq!(
            check(&format!("{good};ppt=div"), NOW).unwrap_err().status(),
            428
        );
        // Hostile junk never panics.
        for junk in [
            "",
            "...",
            "a.b.c",
            "%%%.e30.AAAA;info=<x>",
            "e30.e30.e30;info",
        ] {
            assert!(check(junk, NOW).is_err());
        }
    }

    #[test]
    fn sip_dates_are_rfc_1123_in_gmt() {
        assert_eq!(sip_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(sip_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(sip_date(1_800_000_000), "Fri, 15 Jan 2027 08:00:00 GMT");
    }
}

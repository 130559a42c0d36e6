//! The NAPTR record (RFC 3403 §4.1) and the ENUM Services field
//! (RFC 6116 §3.4.3).

use std::fmt;

/// One NAPTR resource record as delivered by DNS (RFC 3403 §4.1), already
/// decoded from the wire: the character-strings are as received (no
/// master-file escaping) and `replacement` is a domain name, "." when empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Naptr {
    /// ORDER: major sort key, lowest first.
    pub order: u16,
    /// PREFERENCE: minor sort key, lowest first.
    pub preference: u16,
    /// FLAGS, e.g. "u" (terminal, RFC 6116 §3.4.2) or "" (non-terminal).
    pub flags: String,
    /// SERVICES, e.g. "E2U+sip".
    pub services: String,
    /// REGEXP substitution expression (RFC 3402 §3.2), may be empty.
    pub regexp: String,
    /// REPLACEMENT domain name; "." (or "") means none.
    pub replacement: String,
}

impl Naptr {
    /// Shorthand for tests and static zones.
    pub fn new(
        order: u16,
        preference: u16,
        flags: &str,
        services: &str,
        regexp: &str,
        replacement: &str,
    ) -> Self {
        Self {
            order,
            preference,
            flags: flags.to_owned(),
            services: services.to_owned(),
            regexp: regexp.to_owned(),
            replacement: replacement.to_owned(),
        }
    }

    /// Whether REPLACEMENT names a domain (is neither "." nor empty).
    pub fn has_replacement(&self) -> bool {
        !matches!(self.replacement.as_str(), "" | ".")
    }
}

impl fmt::Display for Naptr {
    /// Master-file-like form, handy for CLI traces.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "NAPTR {} {} {:?} {:?} {:?} {}",
            self.order, self.preference, self.flags, self.services, self.regexp, self.replacement
        )
    }
}

/// What the FLAGS field makes of a record for ENUM (RFC 6116 §3.4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlagKind {
    /// "u": terminal; the rewrite yields a URI.
    Terminal,
    /// Empty: non-terminal; REPLACEMENT is the next key.
    NonTerminal,
    /// Anything else: the record MUST be ignored.
    Unknown,
}

pub(crate) fn flag_kind(flags: &str) -> FlagKind {
    // Flags are case-insensitive (RFC 3403 §4.1).
    match flags.as_bytes() {
        [] => FlagKind::NonTerminal,
        [b'u' | b'U'] => FlagKind::Terminal,
        _ => FlagKind::Unknown,
    }
}

/// One Enumservice: `type *(":" subtype)` (RFC 6116 §3.4.3), kept in
/// lower case since ENUM compares it case-insensitively (§3.6).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Enumservice {
    /// The type, e.g. "sip" or "voice".
    pub kind: String,
    /// Subtypes in order, e.g. `["tel"]` for "voice:tel".
    pub subtypes: Vec<String>,
}

impl Enumservice {
    /// Parses `type *(":" subtype)`; `None` if it does not follow the ABNF
    /// (1-32 letters, digits or '-' per token).
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.split(':');
        let kind = parts.next().filter(|t| valid_token(t))?;
        let mut subtypes = Vec::new();
        for p in parts {
            if !valid_token(p) {
                return None;
            }
            subtypes.push(p.to_ascii_lowercase());
        }
        Some(Self {
            kind: kind.to_ascii_lowercase(),
            subtypes,
        })
    }

    /// RFC 6116 §3.4.3.1: "P-" types are for private networks only.
    pub fn is_private(&self) -> bool {
        self.kind.starts_with("p-")
    }
}

impl fmt::Display for Enumservice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.kind)?;
        for s in &self.subtypes {
            write!(f, ":{s}")?;
        }
        Ok(())
    }
}

fn valid_token(t: &str) -> bool {
    (1..=32).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// How a SERVICES field parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ServiceField {
    /// `E2U 1*("+" enumservice)` (RFC 6116 §3.4.3), left-to-right.
    /// Malformed enumservices are dropped (§5.2: ignore what cannot be
    /// processed and go on with the next).
    Enum(Vec<Enumservice>),
    /// Obsolete RFC 2916 form `type+E2U`, e.g. "sip+E2U"; RFC 6116 §5.2 and
    /// RFC 3824 §7 say clients SHOULD still support it.
    Obsolete(Enumservice),
    /// Another DDDS application's record (RFC 6116 §3.7), or garbage.
    NotEnum,
}

pub(crate) fn parse_services(field: &str) -> ServiceField {
    let mut parts = field.split('+');
    let first = parts.next().unwrap_or_default();
    if first.eq_ignore_ascii_case("e2u") {
        let list: Vec<_> = parts.filter_map(Enumservice::parse).collect();
        if list.is_empty() {
            ServiceField::NotEnum
        } else {
            ServiceField::Enum(list)
        }
    } else {
        match (parts.next(), parts.next()) {
            (Some(app), None) if app.eq_ignore_ascii_case("e2u") => {
                Enumservice::parse(first).map_or(ServiceField::NotEnum, ServiceField::Obsolete)
            }
            _ => ServiceField::NotEnum,
        }
    }
}

/// An Enumservice the caller can use: a type, and optionally the first
/// subtype it must carry. RFC 6406 §6.1.1.2: an SSP must query for
/// "E2U+sip" and may accept others, so the default is type "sip".
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServiceSelector {
    /// The type, case-insensitive.
    pub kind: String,
    /// If set, the enumservice's first subtype must equal it.
    pub subtype: Option<String>,
}

impl ServiceSelector {
    /// Parses "type" or "type:subtype".
    pub fn new(spec: &str) -> Option<Self> {
        let es = Enumservice::parse(spec)?;
        if es.subtypes.len() > 1 {
            return None;
        }
        Some(Self {
            kind: es.kind,
            subtype: es.subtypes.into_iter().next(),
        })
    }

    /// Whether `es` is acceptable.
    pub fn matches(&self, es: &Enumservice) -> bool {
        es.kind.eq_ignore_ascii_case(&self.kind)
            && self.subtype.as_ref().is_none_or(|want| {
                es.subtypes
                    .first()
                    .is_some_and(|s| s.eq_ignore_ascii_case(want))
            })
    }
}

impl Default for ServiceSelector {
    fn default() -> Self {
        Self {
            kind: "sip".to_owned(),
            subtype: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn es(s: &str) -> Enumservice {
        Enumservice::parse(s).unwrap()
    }

    #[test]
    fn service_field_forms() {
        assert_eq!(
            parse_services("E2U+sip"),
            ServiceField::Enum(vec![es("sip")])
        );
        assert_eq!(
            parse_services("e2u+voice:tel+sms:tel"),
            ServiceField::Enum(vec![es("voice:tel"), es("sms:tel")])
        );
        assert_eq!(parse_services("sip+E2U"), ServiceField::Obsolete(es("sip")));
        assert_eq!(parse_services("SIP+D2U"), ServiceField::NotEnum);
        assert_eq!(parse_services(""), ServiceField::NotEnum);
        assert_eq!(parse_services("E2U"), ServiceField::NotEnum);
        assert_eq!(parse_services("E2U+"), ServiceField::NotEnum);
        // A malformed enumservice is skipped, not fatal.
        assert_eq!(
            parse_services("E2U+bad_one+sip"),
            ServiceField::Enum(vec![es("sip")])
        );
        assert_eq!(es("VOICE:Tel").to_string(), "voice:tel");
        assert!(Enumservice::parse(&"x".repeat(33)).is_none());
        assert!(es("P-foo").is_private());
    }

    #[test]
    fn selectors() {
        let sip = ServiceSelector::default();
        assert!(sip.matches(&es("SIP")));
        assert!(sip.matches(&es("sip:foo")));
        assert!(!sip.matches(&es("sips")));
        let vt = ServiceSelector::new("voice:tel").unwrap();
        assert!(vt.matches(&es("voice:tel")));
        assert!(!vt.matches(&es("voice")));
        assert!(!vt.matches(&es("voice:sip")));
        assert!(ServiceSelector::new("a:b:c").is_none());
    }

    #[test]
    fn flags() {
        assert_eq!(flag_kind("u"), FlagKind::Terminal);
        assert_eq!(flag_kind("U"), FlagKind::Terminal);
        assert_eq!(flag_kind(""), FlagKind::NonTerminal);
        assert_eq!(flag_kind("s"), FlagKind::Unknown);
        assert_eq!(flag_kind("uu"), FlagKind::Unknown);
    }
}

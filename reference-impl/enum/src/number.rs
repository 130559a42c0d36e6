//! E.164 numbers, the Application Unique String and the First Well Known
//! Rule (RFC 6116 §3.1-3.2).

use std::fmt;

use thiserror::Error;

/// Most digits in an E.164 number (ITU-T E.164 §6: at most 15 digits).
pub const MAX_DIGITS: usize = 15;

/// Longest accepted apex: leaves room for 15 digit labels (30 octets) within
/// the 253-octet limit on a presentation-format domain name (RFC 1035 §2.3.4).
pub const MAX_APEX_LEN: usize = 253 - 2 * MAX_DIGITS;

/// Why a string is not an E.164 number or ENUM domain.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum NumberError {
    /// Nothing but whitespace.
    #[error("empty number")]
    Empty,
    /// RFC 6116 §3.7: an ENUM AUS MUST begin with '+'; a dialled string
    /// needs number-plan mapping first (RFC 6406 §6.1.1.1).
    #[error("number does not start with '+'")]
    MissingPlus,
    /// A character that is neither a digit nor a visual separator.
    #[error("unexpected character {ch:?} at offset {offset}")]
    UnexpectedChar {
        /// The offending character.
        ch: char,
        /// Its byte offset in the input.
        offset: usize,
    },
    /// A '+' followed by no digits.
    #[error("no digits")]
    NoDigits,
    /// More than [`MAX_DIGITS`] digits.
    #[error("{digits} digits; E.164 allows at most 15")]
    TooLong {
        /// How many digits the input had.
        digits: usize,
    },
    /// An ENUM domain that is not below the configured apex.
    #[error("domain is not below the apex {apex}")]
    NotUnderApex {
        /// The apex expected.
        apex: String,
    },
    /// An ENUM domain label that is not a single digit.
    #[error("label {label:?} is not a single digit")]
    BadLabel {
        /// The label.
        label: String,
    },
}

/// Why an apex domain is not usable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ApexError {
    /// Empty or only ".".
    #[error("empty apex")]
    Empty,
    /// Longer than [`MAX_APEX_LEN`].
    #[error("apex is {len} octets; at most {MAX_APEX_LEN}")]
    TooLong {
        /// Its length.
        len: usize,
    },
    /// A label that is empty, longer than 63 octets or has characters outside
    /// letters, digits, '-' and '_'.
    #[error("bad label {label:?}")]
    BadLabel {
        /// The label.
        label: String,
    },
}

/// A normalised E.164 number: 1 to 15 digits, stored without the '+'.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct E164 {
    digits: String,
}

impl E164 {
    /// Parses a number written with optional visual separators
    /// (`-`, `.`, `(`, `)`, space), e.g. `+44 20 7946 0000`.
    ///
    /// Separators are the RFC 3966 §5.1.1 visual separators that turn up in
    /// practice; the result is the AUS of RFC 6116 §3.1. Surrounding ASCII
    /// whitespace is ignored.
    pub fn parse(input: &str) -> Result<Self, NumberError> {
        let s = input.trim_ascii();
        let lead = input.len() - input.trim_ascii_start().len();
        let Some(rest) = s.strip_prefix('+') else {
            return Err(if s.is_empty() {
                NumberError::Empty
            } else {
                NumberError::MissingPlus
            });
        };
        let mut digits = String::with_capacity(MAX_DIGITS);
        let mut count = 0usize;
        for (i, ch) in rest.char_indices() {
            match ch {
                '0'..='9' => {
                    count += 1;
                    if digits.len() < MAX_DIGITS {
                        digits.push(ch);
                    }
                }
                '-' | '.' | '(' | ')' | ' ' => {}
                _ => {
                    return Err(NumberError::UnexpectedChar {
                        ch,
                        offset: lead + 1 + i,
                    });
                }
            }
        }
        match count {
            0 => Err(NumberError::NoDigits),
            n if n > MAX_DIGITS => Err(NumberError::TooLong { digits: n }),
            _ => Ok(Self { digits }),
        }
    }

    /// The digits, without '+'.
    pub fn digits(&self) -> &str {
        &self.digits
    }

    /// The Application Unique String: '+' then the digits (RFC 6116 §3.1).
    /// This is the string every ERE is matched against.
    pub fn aus(&self) -> String {
        format!("+{}", self.digits)
    }

    /// The First Well Known Rule (RFC 6116 §3.2): digits reversed, joined by
    /// dots, under `apex`. No trailing dot; the name is always absolute.
    pub fn to_domain(&self, apex: &Apex) -> String {
        let mut out = String::with_capacity(2 * self.digits.len() + apex.as_str().len());
        for d in self.digits.chars().rev() {
            out.push(d);
            out.push('.');
        }
        out.push_str(apex.as_str());
        out
    }

    /// Inverse of [`E164::to_domain`]: recovers the number from an ENUM
    /// domain (case-insensitive, trailing dot allowed).
    pub fn from_domain(name: &str, apex: &Apex) -> Result<Self, NumberError> {
        let name = normalize_name(name);
        let not_under = || NumberError::NotUnderApex {
            apex: apex.as_str().to_owned(),
        };
        let head = name
            .strip_suffix(apex.as_str())
            .and_then(|h| h.strip_suffix('.'))
            .ok_or_else(not_under)?;
        let mut digits = String::new();
        for label in head.split('.').rev() {
            let mut chars = label.chars();
            match (chars.next(), chars.next()) {
                (Some(d @ '0'..='9'), None) => digits.push(d),
                _ => {
                    return Err(NumberError::BadLabel {
                        label: label.to_owned(),
                    });
                }
            }
        }
        if digits.len() > MAX_DIGITS {
            return Err(NumberError::TooLong {
                digits: digits.len(),
            });
        }
        Ok(Self { digits })
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}", self.digits)
    }
}

impl std::str::FromStr for E164 {
    type Err = NumberError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The domain under which ENUM keys live: `e164.arpa` for public User ENUM
/// (RFC 6116 §3.2), or a private root for infrastructure ENUM
/// (RFC 6406 §6.1.1: "one or more private roots").
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Apex(String);

impl Apex {
    /// Validates and normalises (lower case, no trailing dot) an apex.
    pub fn new(name: &str) -> Result<Self, ApexError> {
        let n = normalize_name(name);
        if n.is_empty() {
            return Err(ApexError::Empty);
        }
        if n.len() > MAX_APEX_LEN {
            return Err(ApexError::TooLong { len: n.len() });
        }
        for label in n.split('.') {
            if !valid_label(label) {
                return Err(ApexError::BadLabel {
                    label: label.to_owned(),
                });
            }
        }
        Ok(Self(n))
    }

    /// The normalised apex.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Apex {
    fn default() -> Self {
        Self("e164.arpa".to_owned())
    }
}

impl fmt::Display for Apex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Lower-cases and strips one trailing dot, so names compare as DNS does
/// (RFC 4343: ASCII case-insensitive).
pub(crate) fn normalize_name(name: &str) -> String {
    let n = name.strip_suffix('.').unwrap_or(name);
    n.to_ascii_lowercase()
}

/// A host-name-like label: 1-63 octets of letters, digits, '-' or '_'
/// ('_' for service labels such as `_sip`).
pub(crate) fn valid_label(label: &str) -> bool {
    (1..=63).contains(&label.len())
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether `name` (already normalised) is a usable FQDN to query next.
pub(crate) fn valid_fqdn(name: &str) -> bool {
    !name.is_empty() && name.len() <= 253 && name.split('.').all(valid_label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6116_examples() {
        let n = E164::parse("+44-116-496-0348").unwrap();
        assert_eq!(n.aus(), "+441164960348");
        let n = E164::parse("+44-20-7946-0148").unwrap();
        assert_eq!(
            n.to_domain(&Apex::default()),
            "8.4.1.0.6.4.9.7.0.2.4.4.e164.arpa"
        );
        let n = E164::parse("+44 20 7946 0000").unwrap();
        assert_eq!(
            n.to_domain(&Apex::default()),
            "0.0.0.0.6.4.9.7.0.2.4.4.e164.arpa"
        );
    }

    #[test]
    fn rfc3403_example() {
        let n = E164::parse("+1-770-555-1212").unwrap();
        assert_eq!(
            n.to_domain(&Apex::default()),
            "2.1.2.1.5.5.5.0.7.7.1.e164.arpa"
        );
    }

    #[test]
    fn separators_and_errors() {
        assert_eq!(
            E164::parse(" +1 (770) 555.1212 ").unwrap().digits(),
            "17705551212"
        );
        assert_eq!(E164::parse(""), Err(NumberError::Empty));
        assert_eq!(E164::parse("0044"), Err(NumberError::MissingPlus));
        assert_eq!(E164::parse("+"), Err(NumberError::NoDigits));
        assert_eq!(E164::parse("+--"), Err(NumberError::NoDigits));
        assert_eq!(
            E164::parse("+44x1"),
            Err(NumberError::UnexpectedChar { ch: 'x', offset: 3 })
        );
        assert_eq!(
            E164::parse("+4+4"),
            Err(NumberError::UnexpectedChar { ch: '+', offset: 2 })
        );
        assert_eq!(
            E164::parse("+1234567890123456"),
            Err(NumberError::TooLong { digits: 16 })
        );
        assert!(E164::parse("+123456789012345").is_ok());
    }

    #[test]
    fn private_apex_and_back() {
        let apex = Apex::new("E164enum.NET.").unwrap();
        assert_eq!(apex.as_str(), "e164enum.net");
        let n = E164::parse("+12").unwrap();
        let d = n.to_domain(&apex);
        assert_eq!(d, "2.1.e164enum.net");
        assert_eq!(E164::from_domain("2.1.E164ENUM.net.", &apex).unwrap(), n);
        assert!(matches!(
            E164::from_domain("2.1.e164.arpa", &apex),
            Err(NumberError::NotUnderApex { .. })
        ));
        assert!(matches!(
            E164::from_domain("22.1.e164enum.net", &apex),
            Err(NumberError::BadLabel { .. })
        ));
        assert!(Apex::new("bad..apex").is_err());
        assert!(Apex::new(".").is_err());
    }
}

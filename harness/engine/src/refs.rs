//! Typed references to the requirements a check covers. Their text form is
//! the ID used in reports and in ../shared/design/conformance-map.md:
//! `RFC6271-R17`, `RFC6404-4.6`, `RFC6404-T-SF-forged-response`, ...

use std::fmt;

/// A requirement, countermeasure, threat row or RFC clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ref {
    /// RFC 6271 requirement #n (1..=17).
    Rfc6271(u8),
    /// RFC 6404 countermeasure section 4.n (1..=13).
    Rfc6404(u8),
    /// Another RFC 6404 section, e.g. `2.3.2.1`.
    Rfc6404Section(&'static str),
    /// A row of the RFC 6404 §4 threat table: `<function>-<slug>`, e.g. `SF-forged-response`.
    Rfc6404Threat(&'static str),
    /// An RFC 3261 section.
    Rfc3261(&'static str),
    /// An RFC 6406 section.
    Rfc6406(&'static str),
    /// An RFC 5344 use case, by its section: `2.1` is the simple
    /// interdomain presence subscription.
    Rfc5344(&'static str),
    /// An RFC 6405 use case, by section: `5.2` (static direct) to `5.6`
    /// (on-demand).
    Rfc6405(&'static str),
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ref::Rfc6271(n) => write!(f, "RFC6271-R{n}"),
            Ref::Rfc6404(n) => write!(f, "RFC6404-4.{n}"),
            Ref::Rfc6404Section(s) => write!(f, "RFC6404-{s}"),
            Ref::Rfc6404Threat(s) => write!(f, "RFC6404-T-{s}"),
            Ref::Rfc3261(s) => write!(f, "RFC3261-{s}"),
            Ref::Rfc6406(s) => write!(f, "RFC6406-{s}"),
            Ref::Rfc5344(s) => write!(f, "RFC5344-{s}"),
            Ref::Rfc6405(s) => write!(f, "RFC6405-{s}"),
        }
    }
}

/// The presence and IM peering use cases of RFC 5344 §2.
pub const RFC5344_USE_CASES: [&str; 7] = ["2.1", "2.2", "2.3", "2.4", "2.5", "2.6", "2.7"];

/// Every RFC 6271 requirement, RFC 6404 countermeasure and RFC 5344 use
/// case: the set the registry must account for, by a check or by a
/// stated reason.
pub fn must_cover() -> Vec<Ref> {
    (1..=17)
        .map(Ref::Rfc6271)
        .chain((1..=13).map(Ref::Rfc6404))
        .chain(RFC5344_USE_CASES.iter().map(|s| Ref::Rfc5344(s)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_the_conformance_map() {
        assert_eq!(Ref::Rfc6271(17).to_string(), "RFC6271-R17");
        assert_eq!(Ref::Rfc6404(6).to_string(), "RFC6404-4.6");
        assert_eq!(
            Ref::Rfc6404Section("2.3.2.1").to_string(),
            "RFC6404-2.3.2.1"
        );
        assert_eq!(
            Ref::Rfc6404Threat("SF-forged-response").to_string(),
            "RFC6404-T-SF-forged-response"
        );
        assert_eq!(Ref::Rfc5344("2.2").to_string(), "RFC5344-2.2");
        assert_eq!(Ref::Rfc6405("5.6").to_string(), "RFC6405-5.6");
        assert_eq!(must_cover().len(), 37);
    }
}

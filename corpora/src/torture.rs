//! The torture corpora with their expected verdicts, embedded at build
//! time: RFC 4475 (corpora/sip/rfc4475) and the RFC 5118 IPv6 cases
//! (corpora/sip/rfc5118).

use serde::Deserialize;

include!(concat!(env!("OUT_DIR"), "/corpus.rs"));

/// One manifest entry: what the codec and the SBE must do with a message.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// File name in corpora/sip/rfc4475.
    pub file: String,
    /// RFC 4475 section.
    pub section: String,
    /// Section title.
    pub title: String,
    /// `request` or `response`.
    pub kind: String,
    /// `valid` or `invalid`.
    pub verdict: String,
    /// For an invalid request, what a border element may do with it (from
    /// the RFC's text): `must-refuse` (never relay it) or `may-accept` (a
    /// liberal element may relay it, but what leaves must be valid: the
    /// defect must not cross the border).
    pub category: Option<String>,
    /// For a `may-accept` request whose defect the RFC forbids forwarding:
    /// the part of a relayed copy that must not still carry it,
    /// `start-line` (RFC 4475 §3.1.2.7, §3.1.2.9-11) or `from-to`
    /// (§3.1.2.15).
    pub repair: Option<String>,
    /// The expected `ParseErrorKind::code` (speermint-sip) for invalid messages.
    pub error: Option<String>,
    /// The header the error is about.
    pub header: Option<String>,
    /// Text on the line the error offset must fall on.
    pub at: Option<String>,
    /// What the SBE does when a peer sends it: `forward`, a status code, or `drop`.
    pub sbe: String,
    /// Where RFC 4475 allows a choice, the one we made and why.
    pub liberal: Option<String>,
    /// What the message tests.
    pub note: String,
    /// Which corpus: `rfc4475` or `rfc5118`.
    #[serde(skip)]
    pub corpus: &'static str,
}

impl Entry {
    /// The message bytes.
    pub fn bytes(&self) -> &'static [u8] {
        let files = if self.corpus == "rfc5118" {
            RFC5118_FILES
        } else {
            RFC4475_FILES
        };
        files
            .iter()
            .find(|(n, _)| *n == self.file)
            .map_or(&[][..], |(_, b)| b)
    }

    /// The status the SBE must answer with, if it must answer.
    pub fn sbe_status(&self) -> Option<u16> {
        self.sbe.parse().ok()
    }
}

#[derive(Deserialize)]
struct Manifest {
    message: Vec<Entry>,
}

fn load(corpus: &'static str, text: &str) -> Vec<Entry> {
    let mut entries = toml::from_str::<Manifest>(text)
        .map(|m| m.message)
        .unwrap_or_else(|e| panic!("corpora/sip/{corpus}/manifest.toml: {e}"));
    for e in &mut entries {
        e.corpus = corpus;
    }
    entries
}

/// The RFC 4475 manifest. Panics only if the embedded manifest is broken,
/// which the corpus tests catch.
pub fn rfc4475() -> Vec<Entry> {
    load("rfc4475", RFC4475_MANIFEST)
}

/// The RFC 5118 manifest.
pub fn rfc5118() -> Vec<Entry> {
    load("rfc5118", RFC5118_MANIFEST)
}

/// Both corpora.
pub fn all() -> Vec<Entry> {
    let mut v = rfc4475();
    v.extend(rfc5118());
    v
}

//! The RFC 4475 torture corpus with its expected verdicts
//! (corpora/sip/rfc4475/manifest.toml), embedded at build time.

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
    /// The expected [`crate::ParseErrorKind::code`] for invalid messages.
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
}

impl Entry {
    /// The message bytes.
    pub fn bytes(&self) -> &'static [u8] {
        RFC4475_FILES
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

/// The parsed manifest. Panics only if the embedded manifest is broken,
/// which the corpus test catches at build-test time.
pub fn rfc4475() -> Vec<Entry> {
    toml::from_str::<Manifest>(RFC4475_MANIFEST)
        .map(|m| m.message)
        .unwrap_or_else(|e| panic!("corpora/sip/rfc4475/manifest.toml: {e}"))
}

//! `speermint-sip`: the SIP and SDP codec of the speermint reference peering
//! stack, and (later modules) its sans-IO proxy core. No I/O here: bytes and
//! events in, bytes and actions out.
//!
//! - [`Message`] parses a request or response without copying (RFC 3261 §7,
//!   §25), validating the fields a proxy acts on; [`frame`] finds message
//!   boundaries on stream transports (§18.3).
//! - [`Uri`] covers sip:, sips:, tel: and opaque absolute URIs, IPv6
//!   references included (RFC 5118).
//! - [`MessageBuilder`] creates messages; [`Editor`] derives a new message
//!   from a received one, copying every untouched byte.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod chars;
mod edit;
mod error;
pub mod fuzzing;
pub mod headers;
mod message;
pub mod uri;

pub use edit::{Editor, MessageBuilder, sanitize_phrase};
pub use error::{ParseError, ParseErrorKind};
pub use headers::{CSeq, ContentType, Identity, NameAddr, Via};
pub use message::{Core, Framing, Header, HeaderName, Message, StartLine, Transport, frame};
pub use uri::{Host, Params, SipUri, TelUri, Uri};

/// Whether `c` may appear in a SIP `token` (RFC 3261 §25.1): what a
/// method name is made of.
pub fn is_token_char(c: u8) -> bool {
    chars::TOKEN[usize::from(c)]
}

/// Bounds on the work and memory spent on one message. Every limit is
/// checked before the work it bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest message accepted, in bytes (default: the largest UDP payload).
    pub max_message_size: usize,
    /// Most header fields accepted.
    pub max_headers: usize,
    /// Longest line, or folded header field, in bytes.
    pub max_line_length: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_size: 65_535,
            max_headers: 128,
            max_line_length: 16_384,
        }
    }
}

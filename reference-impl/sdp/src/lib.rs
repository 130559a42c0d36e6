//! `speermint-sdp`: SDP (RFC 4566) session descriptions: a strict, zero-copy parser that
//! keeps every received byte, plus typed views and a token-level editor.
//!
//! # Pass-through model
//!
//! A [`Sdp`] is the input split into [`Line`]s. Every input byte belongs to
//! exactly one line's [`Line::raw`], so concatenating the `raw` slices gives
//! back the input, and [`Sdp::write_to`] / [`Sdp::to_bytes`] emit it
//! byte for byte. Nothing is re-rendered: line endings (CRLF or LF, per
//! line), spacing inside free-text fields, attribute order, unknown
//! attributes (`a=x-...`), `a=crypto` (RFC 4568), `a=fingerprint` and
//! `a=setup` (RFC 4572) all reach the far side unchanged, as RFC 6271
//! requirement #17 asks of a border element.
//!
//! The only way to change bytes is [`SdpEditor`] (or the shortcuts
//! [`Sdp::with_connection_address`] and [`Sdp::with_media_port`]), which
//! splices new text over the address token of `c=` lines (and the address
//! type token when the family changes) or the port token of an `m=` line,
//! and copies every other byte verbatim. `o=` is never touched: bumping
//! `<sess-version>` (RFC 3264 §8) is the caller's decision.
//!
//! ```
//! use speermint_sdp::Sdp;
//! use std::net::{IpAddr, Ipv4Addr};
//!
//! let body = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
//!              m=audio 49170 RTP/AVP 0\r\na=setup:actpass\r\na=x-foo:bar\r\n";
//! let sdp = Sdp::parse(body)?;
//! assert_eq!(sdp.to_bytes(), body);
//! assert_eq!(sdp.media().next().map(|m| m.port), Some(49170));
//!
//! // Anchor media on the SBE: only the c= address token changes.
//! let anchored = sdp.with_connection_address(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)));
//! assert!(anchored.starts_with(b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n"));
//! assert!(anchored.ends_with(
//!     b"c=IN IP4 198.51.100.1\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\na=setup:actpass\r\na=x-foo:bar\r\n"
//! ));
//! # Ok::<(), speermint_sdp::SdpError>(())
//! ```
//!
//! # What `parse` accepts (RFC 4566 §5, §9)
//!
//! * Each line is `<type>=<value>`: one case-significant letter from
//!   `v o s i u e p c b t r z k a m`, then `=`, with no whitespace before
//!   the `=` (§5). Any other letter is refused, since §5 says a parser
//!   MUST ignore a description holding a type letter it does not know.
//! * Lines end in CRLF or a bare LF ("parsers SHOULD be tolerant and also
//!   accept records terminated with a single newline character", §5); the
//!   ending is recorded per line ([`Line::ending`]). The last line may lack
//!   an ending; that too is kept as is. A bare CR or a NUL byte is refused
//!   (text fields exclude 0x00, 0x0A, 0x0D, §5).
//! * Lines appear in the order of §5 (`v o s i u e p c b (t r*)+ z k a*`
//!   for the session, then `m i c* b* k a*` per media description); `v=`,
//!   `o=`, `s=` and at least one `t=` are required, and lines allowed once
//!   appear at most once.
//! * Typed lines are checked against the §9 grammar: `v=0` (§5.1), `o=`
//!   (§5.2), `c=` (§5.7), `t=` (§5.9), `a=` (§5.13) and `m=` (§5.14),
//!   fields separated by exactly one SP. Free-text lines (`s i u e p b r z
//!   k`) are only checked for forbidden bytes and are kept as octets.
//! * Work is bounded by [`SdpLimits`]: at most `max_lines` lines of at most
//!   `max_line_length` bytes each (ending excluded). Parsing is linear in the
//!   input, allocates one `Vec` of lines, and never panics.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

// Own codec rather than the `sdp-types` crate: its writer re-renders every line (always CRLF, canonical
// order and spacing, `r=` times re-unitised), which breaks the byte-exact pass-through of RFC 6271 req. #17.

pub mod fuzzing;

use memchr::{memchr, memchr2};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;

/// Default for [`SdpLimits::max_lines`].
pub const DEFAULT_MAX_LINES: usize = 1024;
/// Default for [`SdpLimits::max_line_length`].
pub const DEFAULT_MAX_LINE_LENGTH: usize = 4096;

/// Bounds on the work [`Sdp::parse_with_limits`] will do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdpLimits {
    /// Most lines accepted; one more is [`SdpError::TooManyLines`].
    pub max_lines: usize,
    /// Longest line accepted, in bytes, not counting its CRLF or LF.
    pub max_line_length: usize,
}

impl Default for SdpLimits {
    fn default() -> Self {
        Self {
            max_lines: DEFAULT_MAX_LINES,
            max_line_length: DEFAULT_MAX_LINE_LENGTH,
        }
    }
}

/// Why an SDP body was refused. Every variant carries the byte offset (from
/// the start of the body) where the fault was found; `Display` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    /// More lines than [`SdpLimits::max_lines`]; `offset` is where the first
    /// excess line starts.
    #[error("SDP has more than {max} lines: the excess line starts at byte offset {offset}")]
    TooManyLines {
        /// Start of the first line over the limit.
        offset: usize,
        /// The limit in force.
        max: usize,
    },
    /// A line longer than [`SdpLimits::max_line_length`].
    #[error("SDP line at byte offset {offset} is longer than {max} bytes")]
    LineTooLong {
        /// Start of the line.
        offset: usize,
        /// The limit in force.
        max: usize,
    },
    /// A line that is not `<type>=<value>` (RFC 4566 §5), including an
    /// empty line and whitespace before the `=`.
    #[error("SDP line at byte offset {offset} is not <type>=<value> (RFC 4566 §5)")]
    NotTypeEqualsValue {
        /// Start of the line.
        offset: usize,
    },
    /// A CR not followed by LF (RFC 4566 §5: records end in CRLF or LF).
    #[error("bare CR at byte offset {offset}: SDP lines end in CRLF or LF (RFC 4566 §5)")]
    BareCarriageReturn {
        /// The CR.
        offset: usize,
    },
    /// A NUL byte, which no SDP field may hold (RFC 4566 §5).
    #[error("NUL byte at byte offset {offset} (RFC 4566 §5)")]
    NulByte {
        /// The NUL.
        offset: usize,
    },
    /// A type letter RFC 4566 does not define (§5: such a description MUST
    /// be ignored as a whole).
    #[error("unknown SDP line type {kind:?} at byte offset {offset} (RFC 4566 §5)")]
    UnknownType {
        /// Start of the line.
        offset: usize,
        /// The type character.
        kind: char,
    },
    /// The body is empty or does not start with a `v=` line (RFC 4566 §5.1).
    #[error("SDP does not start with a v= line at byte offset {offset} (RFC 4566 §5.1)")]
    MissingVersion {
        /// Where `v=` was expected.
        offset: usize,
    },
    /// `v=` holds anything but `0` (RFC 4566 §5.1).
    #[error("SDP version at byte offset {offset} is not 0 (RFC 4566 §5.1)")]
    BadVersion {
        /// Start of the value.
        offset: usize,
    },
    /// A line out of the order of RFC 4566 §5, not allowed where it stands
    /// (e.g. `t=` in a media description), or repeating a line allowed once.
    #[error("{kind:?}= line at byte offset {offset} is out of the RFC 4566 §5 order or repeated")]
    UnexpectedLine {
        /// Start of the line.
        offset: usize,
        /// Its type character.
        kind: char,
    },
    /// A required line (`o=`, `s=` or `t=`) is absent (RFC 4566 §5).
    #[error("required {kind:?}= line missing at byte offset {offset} (RFC 4566 §5)")]
    MissingLine {
        /// Start of the line found in its place, or the end of the body.
        offset: usize,
        /// The missing type character.
        kind: char,
    },
    /// A malformed `o=` line (RFC 4566 §5.2).
    #[error("malformed o= field at byte offset {offset} (RFC 4566 §5.2)")]
    BadOrigin {
        /// The offending sub-field, or the end of the value if one is missing.
        offset: usize,
    },
    /// A malformed `t=` line (RFC 4566 §5.9).
    #[error("malformed t= field at byte offset {offset} (RFC 4566 §5.9)")]
    BadTiming {
        /// The offending sub-field, or the end of the value if one is missing.
        offset: usize,
    },
    /// A malformed `c=` line (RFC 4566 §5.7).
    #[error("malformed c= field at byte offset {offset} (RFC 4566 §5.7)")]
    BadConnection {
        /// The offending sub-field, or the end of the value if one is missing.
        offset: usize,
    },
    /// A malformed `m=` line (RFC 4566 §5.14).
    #[error("malformed m= field at byte offset {offset} (RFC 4566 §5.14)")]
    BadMedia {
        /// The offending sub-field, or the end of the value if one is missing.
        offset: usize,
    },
    /// An `a=` line whose attribute name is not a token (RFC 4566 §5.13).
    #[error("malformed a= attribute name at byte offset {offset} (RFC 4566 §5.13)")]
    BadAttribute {
        /// The first byte that is not a token character.
        offset: usize,
    },
}

impl SdpError {
    /// Byte offset, from the start of the SDP body, where the fault was found.
    #[must_use]
    pub fn offset(&self) -> usize {
        match *self {
            Self::TooManyLines { offset, .. }
            | Self::LineTooLong { offset, .. }
            | Self::NotTypeEqualsValue { offset }
            | Self::BareCarriageReturn { offset }
            | Self::NulByte { offset }
            | Self::UnknownType { offset, .. }
            | Self::MissingVersion { offset }
            | Self::BadVersion { offset }
            | Self::UnexpectedLine { offset, .. }
            | Self::MissingLine { offset, .. }
            | Self::BadOrigin { offset }
            | Self::BadTiming { offset }
            | Self::BadConnection { offset }
            | Self::BadMedia { offset }
            | Self::BadAttribute { offset } => offset,
        }
    }
}

/// An edit that names an `m=` section the description does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("SDP has no m= section with index {index} (it has {count})")]
pub struct NoSuchMedia {
    /// The index asked for (0-based, in order of appearance).
    pub index: usize,
    /// How many `m=` sections there are.
    pub count: usize,
}

/// How one line ended in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEnding {
    /// CRLF, as RFC 4566 §5 specifies.
    CrLf,
    /// A bare LF, which RFC 4566 §5 asks parsers to tolerate.
    Lf,
    /// No ending: the last line of a body that does not end in a newline.
    None,
}

/// One `<type>=<value>` line, borrowed from the input (RFC 4566 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// The type letter, e.g. `b'v'`, `b'o'`, `b'a'`.
    pub kind: u8,
    /// Everything after `x=`, without the line ending.
    pub value: &'a [u8],
    /// The whole line including its own line ending, exactly as received.
    pub raw: &'a [u8],
    /// Byte offset of the line's first byte in the SDP body.
    pub offset: usize,
}

impl<'a> Line<'a> {
    /// How this line ended in the input.
    #[must_use]
    pub fn ending(&self) -> LineEnding {
        if self.raw.ends_with(b"\r\n") {
            LineEnding::CrLf
        } else if self.raw.ends_with(b"\n") {
            LineEnding::Lf
        } else {
            LineEnding::None
        }
    }

    /// Byte offset of the value (just past `x=`) in the SDP body.
    #[must_use]
    pub fn value_offset(&self) -> usize {
        self.offset + 2
    }

    /// The value as UTF-8, if it is (RFC 4566 §5 makes UTF-8 the default
    /// charset, but `a=charset` can change it for text fields).
    #[must_use]
    pub fn value_str(&self) -> Option<&'a str> {
        std::str::from_utf8(self.value).ok()
    }
}

/// The address type of a `c=` line (RFC 4566 §5.7, §8.2.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrType {
    /// `IP4`.
    Ip4,
    /// `IP6`.
    Ip6,
    /// Any other registered or future address type.
    Other,
}

/// A typed `c=<nettype> <addrtype> <connection-address>` line
/// (RFC 4566 §5.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection<'a> {
    /// `<nettype>`, normally `IN`.
    pub net_type: &'a str,
    /// `<addrtype>` classified (ASCII case-insensitively).
    pub addr_type: AddrType,
    /// `<addrtype>` as written.
    pub addr_type_token: &'a str,
    /// The address without any `/ttl` or `/count` suffix: an IP literal or
    /// a domain name (§5.7 allows an FQDN).
    pub address: &'a str,
    /// `address` as an IP literal of the family `addr_type` names, if it is one.
    pub ip: Option<IpAddr>,
    /// What followed the first `/` (IPv4 `ttl[/count]`, IPv6 `count`),
    /// kept but not interpreted.
    pub suffix: Option<&'a str>,
    /// The whole `c=` line, ending included, as received.
    pub raw_line: &'a [u8],
    /// Byte offset of the line in the SDP body.
    pub offset: usize,
}

/// A typed `a=<attribute>[:<value>]` line (RFC 4566 §5.13).
///
/// The value is kept as octets: §9 makes `att-value` a byte-string, which
/// need not be UTF-8. [`Attribute::value_str`] gives it as `&str` when it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribute<'a> {
    /// The attribute name (an RFC 4566 §9 token), e.g. `crypto`, `setup`.
    pub name: &'a str,
    /// What follows the first `:`, or `None` for a property attribute such
    /// as `a=recvonly`. `a=foo:` gives `Some(b"")`.
    pub value: Option<&'a [u8]>,
    /// The whole `a=` line, ending included, as received.
    pub raw_line: &'a [u8],
    /// Byte offset of the line in the SDP body.
    pub offset: usize,
}

impl<'a> Attribute<'a> {
    /// The value as UTF-8 text; `None` for a property attribute or a value
    /// that is not UTF-8.
    #[must_use]
    pub fn value_str(&self) -> Option<&'a str> {
        self.value.and_then(|v| std::str::from_utf8(v).ok())
    }
}

/// One media description: an `m=` line and the lines up to the next `m=`
/// (RFC 4566 §5.14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Media<'a, 's> {
    /// 0-based position among the `m=` lines (the RFC 3264 §6 "m-line index").
    pub index: usize,
    /// `<media>`, e.g. `audio`, `video`, `application`.
    pub media: &'a str,
    /// `<port>`; 0 means the stream is rejected or disabled (RFC 3264 §6).
    pub port: u16,
    /// The `/<number of ports>` suffix, if present.
    pub port_count: Option<u16>,
    /// `<proto>`, e.g. `RTP/AVP`, `RTP/SAVP`, `UDP/TLS/RTP/SAVPF`.
    pub proto: &'a str,
    /// Byte offset of the `m=` line in the SDP body.
    pub offset: usize,
    fmt: &'a str,
    lines: &'s [Line<'a>],
}

impl<'a, 's> Media<'a, 's> {
    /// The `<fmt>` list (payload types for RTP), in order.
    pub fn formats(&self) -> impl Iterator<Item = &'a str> + use<'a, 's> {
        self.fmt.split(' ')
    }

    /// The lines of this section, its `m=` line first.
    #[must_use]
    pub fn lines(&self) -> &'s [Line<'a>] {
        self.lines
    }

    /// All media-level `c=` lines (§5.7 allows several for multicast).
    pub fn connections(&self) -> impl Iterator<Item = Connection<'a>> + use<'a, 's> {
        self.lines
            .iter()
            .filter(|l| l.kind == b'c')
            .filter_map(|l| parse_connection(l).ok().map(|t| t.connection))
    }

    /// The first media-level `c=` line, if any.
    #[must_use]
    pub fn connection(&self) -> Option<Connection<'a>> {
        self.connections().next()
    }

    /// The media-level `a=` lines, in order.
    pub fn attributes(&self) -> impl Iterator<Item = Attribute<'a>> + use<'a, 's> {
        self.lines
            .iter()
            .filter(|l| l.kind == b'a')
            .filter_map(|l| parse_attribute(l).ok())
    }
}

/// A parsed SDP body: the input and its lines, borrowed, never copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sdp<'a> {
    raw: &'a [u8],
    lines: Vec<Line<'a>>,
    /// Indices into `lines` of the `m=` lines.
    media_starts: Vec<usize>,
}

impl<'a> Sdp<'a> {
    /// Parses an SDP body with [`SdpLimits::default`]. See the module
    /// documentation for what is accepted.
    ///
    /// # Errors
    ///
    /// An [`SdpError`] naming the byte offset of the first fault.
    pub fn parse(input: &'a [u8]) -> Result<Self, SdpError> {
        Self::parse_with_limits(input, SdpLimits::default())
    }

    /// Parses an SDP body under explicit limits.
    ///
    /// # Errors
    ///
    /// An [`SdpError`] naming the byte offset of the first fault.
    pub fn parse_with_limits(input: &'a [u8], limits: SdpLimits) -> Result<Self, SdpError> {
        let mut lines = Vec::new();
        let mut media_starts = Vec::new();
        let mut order = Order::default();
        let mut pos = 0;
        while pos < input.len() {
            if lines.len() >= limits.max_lines {
                return Err(SdpError::TooManyLines {
                    offset: pos,
                    max: limits.max_lines,
                });
            }
            let line = split_line(input, pos, limits.max_line_length)?;
            order.accept(&line)?;
            validate(&line)?;
            if line.kind == b'm' {
                media_starts.push(lines.len());
            }
            pos += line.raw.len();
            lines.push(line);
        }
        order.finish(input.len())?;
        Ok(Self {
            raw: input,
            lines,
            media_starts,
        })
    }

    /// The body exactly as given to `parse`.
    #[must_use]
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// All lines, in input order.
    #[must_use]
    pub fn lines(&self) -> &[Line<'a>] {
        &self.lines
    }

    /// The session-level lines (RFC 4566 §5: everything before the first `m=`).
    #[must_use]
    pub fn session_lines(&self) -> &[Line<'a>] {
        let end = self
            .media_starts
            .first()
            .copied()
            .unwrap_or(self.lines.len());
        self.lines.get(..end).unwrap_or(&[])
    }

    /// Appends the body to `out`: byte-identical to the input.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.raw);
    }

    /// The body as a new `Vec`: byte-identical to the input.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        self.raw.to_vec()
    }

    /// The session-level `c=` line (RFC 4566 §5.7), typed.
    #[must_use]
    pub fn session_connection(&self) -> Option<Connection<'a>> {
        self.session_lines()
            .iter()
            .find(|l| l.kind == b'c')
            .and_then(|l| parse_connection(l).ok())
            .map(|t| t.connection)
    }

    /// Number of media descriptions (`m=` lines).
    #[must_use]
    pub fn media_count(&self) -> usize {
        self.media_starts.len()
    }

    /// The media descriptions in order, each with its own lines
    /// (RFC 4566 §5.14).
    pub fn media(&self) -> impl Iterator<Item = Media<'a, '_>> {
        (0..self.media_starts.len()).filter_map(move |i| self.media_at(i))
    }

    /// The media description at `index` (0-based).
    #[must_use]
    pub fn media_at(&self, index: usize) -> Option<Media<'a, '_>> {
        let start = *self.media_starts.get(index)?;
        let end = self
            .media_starts
            .get(index + 1)
            .copied()
            .unwrap_or(self.lines.len());
        let lines = self.lines.get(start..end)?;
        let m = parse_media(lines.first()?).ok()?;
        Some(Media {
            index,
            media: m.media,
            port: m.port,
            port_count: m.port_count,
            proto: m.proto,
            offset: m.offset,
            fmt: m.fmt,
            lines,
        })
    }

    /// Every `a=` line, session and media level, in input order
    /// (RFC 4566 §5.13).
    pub fn attributes(&self) -> impl Iterator<Item = Attribute<'a>> + '_ {
        self.lines
            .iter()
            .filter(|l| l.kind == b'a')
            .filter_map(|l| parse_attribute(l).ok())
    }

    /// An editor that rewrites tokens of this body and keeps all other bytes.
    #[must_use]
    pub fn editor(&self) -> SdpEditor<'_, 'a> {
        SdpEditor::new(self)
    }

    /// The body with the address of every `c=` line replaced by `addr`; see
    /// [`SdpEditor::set_connection_address`]. All other bytes, `o=` and every
    /// `a=` line included, are copied unchanged.
    #[must_use]
    pub fn with_connection_address(&self, addr: IpAddr) -> Vec<u8> {
        let mut editor = self.editor();
        editor.set_connection_address(addr);
        editor.to_bytes()
    }

    /// The body with the port of the `index`-th `m=` line replaced by `port`;
    /// see [`SdpEditor::set_media_port`].
    ///
    /// # Errors
    ///
    /// [`NoSuchMedia`] if there is no `m=` line at `index`.
    pub fn with_media_port(&self, index: usize, port: u16) -> Result<Vec<u8>, NoSuchMedia> {
        let mut editor = self.editor();
        editor.set_media_port(index, port)?;
        Ok(editor.to_bytes())
    }
}

/// Rewrites single tokens of a parsed SDP body, for an SBE or B2BUA that
/// anchors media, and copies every other byte verbatim.
///
/// Only these tokens are ever replaced: the address in the
/// `<connection-address>` of `c=` lines (its `/ttl` or `/count` suffix is
/// kept), the `<addrtype>` of those lines when the new address is of another
/// family (the suffix is then dropped, as IP4 `/ttl/count` and IP6 `/count`
/// mean different things, RFC 4566 §5.7), and the `<port>` of
/// `m=` lines (its `/<number of ports>` suffix is kept). `o=` is never
/// touched: incrementing `<sess-version>` (RFC 3264 §8) is up to the caller.
/// Setting the same token twice keeps the last value. Whole `a=` lines can
/// also be removed, by attribute name: a relay drops the ICE candidates
/// that would route media around it.
#[derive(Debug, Clone)]
pub struct SdpEditor<'s, 'a> {
    sdp: &'s Sdp<'a>,
    edits: Vec<Edit>,
}

#[derive(Debug, Clone)]
struct Edit {
    range: Range<usize>,
    text: String,
}

impl<'s, 'a> SdpEditor<'s, 'a> {
    /// An editor with no edits yet: its output equals the input.
    #[must_use]
    pub fn new(sdp: &'s Sdp<'a>) -> Self {
        Self {
            sdp,
            edits: Vec::new(),
        }
    }

    /// Sets the address of every `c=` line, session and media level.
    pub fn set_connection_address(&mut self, addr: IpAddr) -> &mut Self {
        let sdp = self.sdp;
        for line in sdp.lines.iter().filter(|l| l.kind == b'c') {
            self.rewrite_connection(line, addr);
        }
        self
    }

    /// Sets the address of the session-level `c=` line; returns whether
    /// there is one.
    pub fn set_session_connection_address(&mut self, addr: IpAddr) -> bool {
        let sdp = self.sdp;
        match sdp.session_lines().iter().find(|l| l.kind == b'c') {
            Some(line) => {
                self.rewrite_connection(line, addr);
                true
            }
            None => false,
        }
    }

    /// Sets the address of every `c=` line of the `index`-th media
    /// description (it may have none, which is not an error).
    ///
    /// # Errors
    ///
    /// [`NoSuchMedia`] if there is no `m=` line at `index`.
    pub fn set_media_connection_address(
        &mut self,
        index: usize,
        addr: IpAddr,
    ) -> Result<&mut Self, NoSuchMedia> {
        let media = self.sdp.media_at(index).ok_or(NoSuchMedia {
            index,
            count: self.sdp.media_count(),
        })?;
        for line in media.lines.iter().filter(|l| l.kind == b'c') {
            self.rewrite_connection(line, addr);
        }
        Ok(self)
    }

    /// Gives the `index`-th media description a `c=` line of its own
    /// naming `addr`, where RFC 4566 §5 puts it (after `m=` and any `i=`),
    /// ending as its `m=` line ends; a media-level `c=` it has already is
    /// rewritten instead. A relay anchoring one stream of an SDP whose
    /// other streams keep relying on the session-level `c=` needs this.
    ///
    /// # Errors
    ///
    /// [`NoSuchMedia`] if there is no `m=` line at `index`.
    pub fn ensure_media_connection_address(
        &mut self,
        index: usize,
        addr: IpAddr,
    ) -> Result<&mut Self, NoSuchMedia> {
        let sdp = self.sdp;
        let media = sdp.media_at(index).ok_or(NoSuchMedia {
            index,
            count: sdp.media_count(),
        })?;
        if media.lines.iter().any(|l| l.kind == b'c') {
            return self.set_media_connection_address(index, addr);
        }
        let after = media
            .lines
            .iter()
            .take_while(|l| l.kind == b'm' || l.kind == b'i')
            .last()
            .ok_or(NoSuchMedia {
                index,
                count: sdp.media_count(),
            })?;
        let at = after.offset + after.raw.len();
        let family = if addr.is_ipv4() { "IP4" } else { "IP6" };
        // The m= line's ending; for a last line without one, the body's.
        let ending = match media
            .lines
            .iter()
            .chain(sdp.lines.iter())
            .map(Line::ending)
            .find(|e| *e != LineEnding::None)
        {
            Some(LineEnding::Lf) => "\n",
            _ => "\r\n",
        };
        // A body whose last line has no ending gets one before the new line.
        let lead = if after.ending() == LineEnding::None {
            ending
        } else {
            ""
        };
        self.push(at..at, format!("{lead}c=IN {family} {addr}{ending}"));
        Ok(self)
    }

    /// Sets the `<username>` and `<unicast-address>` (with its
    /// `<addrtype>`) of the `o=` line, keeping `<sess-id>` and
    /// `<sess-version>`: a border element that hides its inside names
    /// itself as the session's origin (RFC 4566 §5.2, RFC 5853 §3.1).
    /// Returns whether there was a well-formed `o=` line to edit.
    pub fn set_origin(&mut self, username: &str, addr: IpAddr) -> bool {
        let sdp = self.sdp;
        let Some(line) = sdp.session_lines().iter().find(|l| l.kind == b'o') else {
            return false;
        };
        let mut f = Fields::new(line);
        let fields: Vec<(usize, &[u8])> = f.by_ref().take(6).collect();
        let [(user_at, user), _, _, _, (type_at, _), (addr_at, address)] = fields[..] else {
            return false;
        };
        if f.next().is_some() {
            return false;
        }
        let family = match addr {
            IpAddr::V4(_) => "IP4",
            IpAddr::V6(_) => "IP6",
        };
        self.push(user_at..user_at + user.len(), username.to_owned());
        self.push(type_at..addr_at + address.len(), format!("{family} {addr}"));
        true
    }

    /// Sets the `<port>` of the `index`-th `m=` line (0 rejects the stream,
    /// RFC 3264 §6).
    ///
    /// # Errors
    ///
    /// [`NoSuchMedia`] if there is no `m=` line at `index`.
    pub fn set_media_port(&mut self, index: usize, port: u16) -> Result<&mut Self, NoSuchMedia> {
        let no_such = NoSuchMedia {
            index,
            count: self.sdp.media_count(),
        };
        let line = self
            .sdp
            .media_starts
            .get(index)
            .and_then(|&i| self.sdp.lines.get(i))
            .ok_or(no_such)?;
        let m = parse_media(line).map_err(|_| no_such)?;
        self.push(m.port_range, port.to_string());
        Ok(self)
    }

    /// Sets the value of every `a=rtcp` attribute (RFC 3605 §2.1) of the
    /// `index`-th media description to `addr`, written in full
    /// (`<port> IN <addrtype> <address>`): like `c=` and `m=`, it names a
    /// transport address, so an element that relays the media rewrites it
    /// with them. Returns how many lines it rewrote.
    ///
    /// # Errors
    ///
    /// [`NoSuchMedia`] if there is no `m=` line at `index`.
    pub fn set_media_rtcp(
        &mut self,
        index: usize,
        addr: std::net::SocketAddr,
    ) -> Result<usize, NoSuchMedia> {
        let media = self.sdp.media_at(index).ok_or(NoSuchMedia {
            index,
            count: self.sdp.media_count(),
        })?;
        let family = if addr.is_ipv4() { "IP4" } else { "IP6" };
        let text = format!("{} IN {family} {}", addr.port(), addr.ip());
        let mut rewritten = 0;
        for line in media.lines.iter().filter(|l| l.kind == b'a') {
            let Some(value) = line.value.strip_prefix(b"rtcp:") else {
                continue;
            };
            let start = line.value_offset() + b"rtcp:".len();
            self.push(start..start + value.len(), text.clone());
            rewritten += 1;
        }
        Ok(rewritten)
    }

    /// Removes every `a=` line of the `index`-th media description whose
    /// attribute name `drop` accepts, line ending included. Returns how many
    /// lines go.
    ///
    /// # Errors
    ///
    /// [`NoSuchMedia`] if there is no `m=` line at `index`.
    pub fn remove_media_attributes(
        &mut self,
        index: usize,
        drop: impl Fn(&str) -> bool,
    ) -> Result<usize, NoSuchMedia> {
        let sdp = self.sdp;
        let media = sdp.media_at(index).ok_or(NoSuchMedia {
            index,
            count: sdp.media_count(),
        })?;
        Ok(self.remove_lines(media.lines, drop))
    }

    /// Removes every session-level `a=` line whose attribute name `drop`
    /// accepts, line ending included. Returns how many lines go.
    pub fn remove_session_attributes(&mut self, drop: impl Fn(&str) -> bool) -> usize {
        let sdp = self.sdp;
        self.remove_lines(sdp.session_lines(), drop)
    }

    fn remove_lines(&mut self, lines: &[Line<'a>], drop: impl Fn(&str) -> bool) -> usize {
        let mut removed = 0;
        for line in lines.iter().filter(|l| l.kind == b'a') {
            let Ok(attr) = parse_attribute(line) else {
                continue;
            };
            if drop(attr.name) {
                // An edit inside the line (a=rtcp) gives way to its removal.
                let span = line.offset..line.offset + line.raw.len();
                self.edits
                    .retain(|e| e.range.end <= span.start || e.range.start >= span.end);
                self.push(span, String::new());
                removed += 1;
            }
        }
        removed
    }

    /// Appends the edited body to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let raw = self.sdp.raw;
        let mut edits: Vec<&Edit> = self.edits.iter().collect();
        // An insertion (an empty range) goes before an edit that starts
        // where it does.
        edits.sort_by_key(|e| (e.range.start, e.range.end));
        out.reserve(raw.len() + edits.iter().map(|e| e.text.len()).sum::<usize>());
        let mut cursor = 0;
        for edit in edits {
            let Range { start, end } = edit.range;
            let Some(kept) = raw.get(cursor..start) else {
                continue;
            };
            if end < start || end > raw.len() {
                continue;
            }
            out.extend_from_slice(kept);
            out.extend_from_slice(edit.text.as_bytes());
            cursor = end;
        }
        out.extend_from_slice(raw.get(cursor..).unwrap_or(&[]));
    }

    /// The edited body as a new `Vec`.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out);
        out
    }

    fn rewrite_connection(&mut self, line: &Line<'a>, addr: IpAddr) {
        let Ok(tokens) = parse_connection(line) else {
            return;
        };
        let (family, token) = match addr {
            IpAddr::V4(_) => (AddrType::Ip4, "IP4"),
            IpAddr::V6(_) => (AddrType::Ip6, "IP6"),
        };
        if tokens.connection.addr_type == family {
            self.push(tokens.address_range, addr.to_string());
        } else {
            // `/ttl/count` (IP4) and `/count` (IP6) do not carry over.
            self.push(tokens.addr_type_range, token.to_owned());
            self.push(tokens.address_with_suffix_range, addr.to_string());
        }
    }

    fn push(&mut self, range: Range<usize>, text: String) {
        self.edits.retain(|e| e.range != range);
        self.edits.push(Edit { range, text });
    }
}

// ---------------------------------------------------------------------------
// Line splitting and order (RFC 4566 §5)
// ---------------------------------------------------------------------------

/// Cuts the line starting at `pos`, looking no further than the length limit.
fn split_line(input: &[u8], pos: usize, max_len: usize) -> Result<Line<'_>, SdpError> {
    let rest = input.get(pos..).unwrap_or(&[]);
    let window = rest.get(..max_len.saturating_add(2)).unwrap_or(rest);
    let (content_len, raw_len) = match memchr(b'\n', window) {
        Some(lf) if lf > 0 && window.get(lf - 1) == Some(&b'\r') => (lf - 1, lf + 1),
        Some(lf) => (lf, lf + 1),
        None if window.len() == rest.len() => (rest.len(), rest.len()),
        None => {
            return Err(SdpError::LineTooLong {
                offset: pos,
                max: max_len,
            });
        }
    };
    if content_len > max_len {
        return Err(SdpError::LineTooLong {
            offset: pos,
            max: max_len,
        });
    }
    let content = &rest[..content_len];
    if let Some(i) = memchr2(b'\r', 0, content) {
        return Err(if content[i] == b'\r' {
            SdpError::BareCarriageReturn { offset: pos + i }
        } else {
            SdpError::NulByte { offset: pos + i }
        });
    }
    match content {
        [kind, b'=', value @ ..] => Ok(Line {
            kind: *kind,
            value,
            raw: &rest[..raw_len],
            offset: pos,
        }),
        _ => Err(SdpError::NotTypeEqualsValue { offset: pos }),
    }
}

/// Where the parser stands in the RFC 4566 §5 grammar.
#[derive(Debug, Default)]
struct Order {
    /// Rank of the last session-level line, `None` before `v=`.
    session: Option<u8>,
    /// Rank of the last line of the current media description.
    media: Option<u8>,
}

/// Session-level ranks, in the order RFC 4566 §5 lists the fields.
const fn session_rank(kind: u8) -> Option<u8> {
    Some(match kind {
        b'v' => 0,
        b'o' => 1,
        b's' => 2,
        b'i' => 3,
        b'u' => 4,
        b'e' => 5,
        b'p' => 6,
        b'c' => 7,
        b'b' => 8,
        b't' => 9,
        b'r' => 10,
        b'z' => 11,
        b'k' => 12,
        b'a' => 13,
        _ => return None,
    })
}

/// Media-level ranks (RFC 4566 §5: `m i c* b* k a*`).
const fn media_rank(kind: u8) -> Option<u8> {
    Some(match kind {
        b'm' => 0,
        b'i' => 1,
        b'c' => 2,
        b'b' => 3,
        b'k' => 4,
        b'a' => 5,
        _ => return None,
    })
}

/// Session lines that may repeat back to back (`t` may also follow `r`).
const fn session_repeatable(kind: u8) -> bool {
    matches!(kind, b'e' | b'p' | b'b' | b't' | b'r' | b'a')
}

/// Media lines that may repeat back to back.
const fn media_repeatable(kind: u8) -> bool {
    matches!(kind, b'c' | b'b' | b'a')
}

const RANK_T: u8 = 9;
const RANK_R: u8 = 10;
/// The session lines that must appear, with their ranks.
const REQUIRED: [(u8, u8); 3] = [(1, b'o'), (2, b's'), (RANK_T, b't')];

impl Order {
    fn accept(&mut self, line: &Line<'_>) -> Result<(), SdpError> {
        let (kind, offset) = (line.kind, line.offset);
        let unexpected = SdpError::UnexpectedLine {
            offset,
            kind: char::from(kind),
        };
        if session_rank(kind).is_none() && media_rank(kind).is_none() {
            return Err(SdpError::UnknownType {
                offset,
                kind: char::from(kind),
            });
        }
        if let Some(cur) = self.media {
            // Inside a media description.
            let rank = media_rank(kind).ok_or(unexpected)?;
            if kind == b'm' || rank > cur || (rank == cur && media_repeatable(kind)) {
                self.media = Some(rank);
                return Ok(());
            }
            return Err(unexpected);
        }
        let Some(cur) = self.session else {
            if kind == b'v' {
                self.session = Some(0);
                return Ok(());
            }
            return Err(SdpError::MissingVersion { offset });
        };
        // `m=` ends the session part: rank it past every session field.
        let rank = if kind == b'm' {
            u8::MAX
        } else {
            session_rank(kind).ok_or(unexpected)?
        };
        Self::check_required(cur, rank, offset)?;
        if kind == b'm' {
            self.media = Some(0);
            return Ok(());
        }
        let ok = rank > cur && (kind != b'r' || cur == RANK_T)
            || rank == cur && session_repeatable(kind)
            || (kind == b't' && cur == RANK_R);
        if ok {
            self.session = Some(rank);
            Ok(())
        } else {
            Err(unexpected)
        }
    }

    /// A line of rank `next` may not skip a required line not yet seen.
    fn check_required(cur: u8, next: u8, offset: usize) -> Result<(), SdpError> {
        match REQUIRED.iter().find(|&&(q, _)| cur < q && next > q) {
            Some(&(_, kind)) => Err(SdpError::MissingLine {
                offset,
                kind: char::from(kind),
            }),
            None => Ok(()),
        }
    }

    fn finish(&self, end: usize) -> Result<(), SdpError> {
        if self.media.is_some() {
            return Ok(());
        }
        match self.session {
            None => Err(SdpError::MissingVersion { offset: end }),
            Some(cur) => Self::check_required(cur, u8::MAX, end),
        }
    }
}

// ---------------------------------------------------------------------------
// Typed lines (RFC 4566 §5.1-§5.14, grammar in §9)
// ---------------------------------------------------------------------------

fn validate(line: &Line<'_>) -> Result<(), SdpError> {
    match line.kind {
        b'v' if line.value != b"0" => Err(SdpError::BadVersion {
            offset: line.value_offset(),
        }),
        b'o' => validate_origin(line),
        b't' => validate_timing(line),
        b'c' => parse_connection(line).map(drop),
        b'm' => parse_media(line).map(drop),
        b'a' => parse_attribute(line).map(drop),
        _ => Ok(()),
    }
}

/// RFC 4566 §9 `token-char`.
const fn is_token_char(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x27 | 0x2A..=0x2B | 0x2D..=0x2E | 0x30..=0x39 | 0x41..=0x5A | 0x5E..=0x7E)
}

/// Offset of the first byte that is not a token char, or of `field` itself
/// if empty; `None` if `field` is a token.
fn token_fault(field: &[u8], at: usize) -> Option<usize> {
    if field.is_empty() {
        return Some(at);
    }
    field
        .iter()
        .position(|&b| !is_token_char(b))
        .map(|i| at + i)
}

fn all_digits(field: &[u8]) -> bool {
    !field.is_empty() && field.iter().all(u8::is_ascii_digit)
}

/// RFC 4566 §9 `non-ws-string`: VCHAR or octets 0x80-0xFF.
fn is_non_ws_string(field: &[u8]) -> bool {
    !field.is_empty() && field.iter().all(|&b| b > 0x20 && b != 0x7F)
}

/// A value split on single SPs, with each field's offset in the body.
struct Fields<'a> {
    rest: Option<&'a [u8]>,
    at: usize,
}

impl<'a> Fields<'a> {
    fn new(line: &Line<'a>) -> Self {
        Self {
            rest: Some(line.value),
            at: line.value_offset(),
        }
    }

    /// Offset just past the last field handed out (the end of the value once
    /// the fields are used up).
    fn end(&self) -> usize {
        self.at
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = (usize, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest?;
        let at = self.at;
        if let Some(sp) = memchr(b' ', rest) {
            self.rest = Some(&rest[sp + 1..]);
            self.at = at + sp + 1;
            Some((at, &rest[..sp]))
        } else {
            self.rest = None;
            self.at = at + rest.len();
            Some((at, rest))
        }
    }
}

/// Takes the next field or reports the end of the value.
fn field<'a>(fields: &mut Fields<'a>) -> Result<(usize, &'a [u8]), usize> {
    let end = fields.end();
    fields.next().ok_or(end)
}

/// No field may follow; reports the SP that starts an extra one.
fn no_more(fields: &mut Fields<'_>) -> Result<(), usize> {
    match fields.next() {
        Some((at, _)) => Err(at - 1),
        None => Ok(()),
    }
}

fn as_str(bytes: &[u8], at: usize) -> Result<&str, usize> {
    std::str::from_utf8(bytes).map_err(|e| at + e.valid_up_to())
}

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>`
/// (RFC 4566 §5.2).
fn validate_origin(line: &Line<'_>) -> Result<(), SdpError> {
    let check = || -> Result<(), usize> {
        let mut f = Fields::new(line);
        let (at, username) = field(&mut f)?;
        if !is_non_ws_string(username) {
            return Err(at);
        }
        for _ in 0..2 {
            let (at, number) = field(&mut f)?;
            if !all_digits(number) {
                return Err(at);
            }
        }
        for _ in 0..2 {
            let (at, token) = field(&mut f)?;
            if let Some(bad) = token_fault(token, at) {
                return Err(bad);
            }
        }
        let (at, address) = field(&mut f)?;
        if !is_non_ws_string(address) {
            return Err(at);
        }
        no_more(&mut f)
    };
    check().map_err(|offset| SdpError::BadOrigin { offset })
}

/// `t=<start-time> <stop-time>` (RFC 4566 §5.9).
fn validate_timing(line: &Line<'_>) -> Result<(), SdpError> {
    let check = || -> Result<(), usize> {
        let mut f = Fields::new(line);
        for _ in 0..2 {
            let (at, time) = field(&mut f)?;
            if !all_digits(time) {
                return Err(at);
            }
        }
        no_more(&mut f)
    };
    check().map_err(|offset| SdpError::BadTiming { offset })
}

/// A `c=` line with the body ranges an editor may replace.
struct ConnectionTokens<'a> {
    connection: Connection<'a>,
    addr_type_range: Range<usize>,
    address_range: Range<usize>,
    address_with_suffix_range: Range<usize>,
}

/// `c=<nettype> <addrtype> <connection-address>` (RFC 4566 §5.7).
fn parse_connection<'a>(line: &Line<'a>) -> Result<ConnectionTokens<'a>, SdpError> {
    let parse = || -> Result<ConnectionTokens<'a>, usize> {
        let mut f = Fields::new(line);
        let (net_at, net) = field(&mut f)?;
        if let Some(bad) = token_fault(net, net_at) {
            return Err(bad);
        }
        let (type_at, addr_type_token) = field(&mut f)?;
        if let Some(bad) = token_fault(addr_type_token, type_at) {
            return Err(bad);
        }
        let (addr_at, full) = field(&mut f)?;
        no_more(&mut f)?;
        let (address, suffix) = match memchr(b'/', full) {
            Some(slash) => (&full[..slash], Some(&full[slash + 1..])),
            None => (full, None),
        };
        if !is_non_ws_string(address) {
            return Err(addr_at);
        }
        let addr_type = if addr_type_token.eq_ignore_ascii_case(b"IP4") {
            AddrType::Ip4
        } else if addr_type_token.eq_ignore_ascii_case(b"IP6") {
            AddrType::Ip6
        } else {
            AddrType::Other
        };
        let address_str = as_str(address, addr_at)?;
        let ip = match addr_type {
            AddrType::Ip4 => {
                // A dotted-decimal literal must be a valid IPv4 address (§9
                // IP4-address); otherwise the value is a domain name.
                let literal = address_str.bytes().all(|b| b.is_ascii_digit() || b == b'.');
                match address_str.parse::<Ipv4Addr>() {
                    Ok(ip) => Some(IpAddr::V4(ip)),
                    Err(_) if literal || address_str.contains(':') => return Err(addr_at),
                    Err(_) => None,
                }
            }
            AddrType::Ip6 => match address_str.parse::<Ipv6Addr>() {
                Ok(ip) => Some(IpAddr::V6(ip)),
                Err(_) if address_str.contains(':') || address_str.parse::<Ipv4Addr>().is_ok() => {
                    return Err(addr_at);
                }
                Err(_) => None,
            },
            AddrType::Other => None,
        };
        // `/ttl[/count]` for IP4, `/count` for IP6 (§5.7): decimal integers.
        let suffix_str = match suffix {
            None => None,
            Some(s) => {
                let mut at = addr_at + address.len() + 1;
                let max_parts = if addr_type == AddrType::Ip6 { 1 } else { 2 };
                for (n, part) in s.split(|&b| b == b'/').enumerate() {
                    if n >= max_parts || !all_digits(part) {
                        return Err(at);
                    }
                    at += part.len() + 1;
                }
                Some(as_str(s, addr_at + address.len() + 1)?)
            }
        };
        Ok(ConnectionTokens {
            connection: Connection {
                net_type: as_str(net, net_at)?,
                addr_type,
                addr_type_token: as_str(addr_type_token, type_at)?,
                address: address_str,
                ip,
                suffix: suffix_str,
                raw_line: line.raw,
                offset: line.offset,
            },
            addr_type_range: type_at..type_at + addr_type_token.len(),
            address_range: addr_at..addr_at + address.len(),
            address_with_suffix_range: addr_at..addr_at + full.len(),
        })
    };
    parse().map_err(|offset| SdpError::BadConnection { offset })
}

/// The fields of an `m=` line with the body range of its port.
struct MediaLine<'a> {
    media: &'a str,
    port: u16,
    port_count: Option<u16>,
    proto: &'a str,
    fmt: &'a str,
    offset: usize,
    port_range: Range<usize>,
}

/// A decimal integer that fits in a `u16`.
fn parse_u16(digits: &[u8]) -> Option<u16> {
    if !all_digits(digits) {
        return None;
    }
    digits.iter().try_fold(0u16, |n, &d| {
        n.checked_mul(10)?.checked_add(u16::from(d - b'0'))
    })
}

/// `m=<media> <port>[/<number of ports>] <proto> <fmt> ...` (RFC 4566 §5.14).
fn parse_media<'a>(line: &Line<'a>) -> Result<MediaLine<'a>, SdpError> {
    let parse = || -> Result<MediaLine<'a>, usize> {
        let mut f = Fields::new(line);
        let (media_at, media) = field(&mut f)?;
        if let Some(bad) = token_fault(media, media_at) {
            return Err(bad);
        }
        let (port_at, port_field) = field(&mut f)?;
        let (port_digits, count_digits) = match memchr(b'/', port_field) {
            Some(slash) => (&port_field[..slash], Some(&port_field[slash + 1..])),
            None => (port_field, None),
        };
        let port = parse_u16(port_digits).ok_or(port_at)?;
        let port_count = match count_digits {
            None => None,
            Some(d) => Some(parse_u16(d).ok_or(port_at + port_digits.len() + 1)?),
        };
        // `proto = token *("/" token)`.
        let (proto_at, proto) = field(&mut f)?;
        let mut at = proto_at;
        for part in proto.split(|&b| b == b'/') {
            if let Some(bad) = token_fault(part, at) {
                return Err(bad);
            }
            at += part.len() + 1;
        }
        // `1*(SP fmt)`, `fmt = token`.
        let fmt_at = f.end();
        let mut formats = 0usize;
        for (at, fmt) in f.by_ref() {
            if let Some(bad) = token_fault(fmt, at) {
                return Err(bad);
            }
            formats += 1;
        }
        if formats == 0 {
            return Err(fmt_at);
        }
        let fmt = line
            .value
            .get(fmt_at - line.value_offset()..)
            .unwrap_or(&[]);
        Ok(MediaLine {
            media: as_str(media, media_at)?,
            port,
            port_count,
            proto: as_str(proto, proto_at)?,
            fmt: as_str(fmt, fmt_at)?,
            offset: line.offset,
            port_range: port_at..port_at + port_digits.len(),
        })
    };
    parse().map_err(|offset| SdpError::BadMedia { offset })
}

/// `a=<attribute>` or `a=<attribute>:<value>` (RFC 4566 §5.13).
fn parse_attribute<'a>(line: &Line<'a>) -> Result<Attribute<'a>, SdpError> {
    let (name, value) = match memchr(b':', line.value) {
        Some(colon) => (&line.value[..colon], Some(&line.value[colon + 1..])),
        None => (line.value, None),
    };
    let at = line.value_offset();
    if let Some(offset) = token_fault(name, at) {
        return Err(SdpError::BadAttribute { offset });
    }
    let name = as_str(name, at).map_err(|offset| SdpError::BadAttribute { offset })?;
    Ok(Attribute {
        name,
        value,
        raw_line: line.raw,
        offset: line.offset,
    })
}

//! Parse errors: every refusal names the byte offset where the fault was
//! found and a typed reason, so that a 400 reason phrase, a CLI message and a
//! conformance check can all say the same thing.

use crate::message::HeaderName;
use std::fmt;

/// Why a message was refused. `Copy + PartialEq` so checks and tests can
/// assert the exact fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The input is longer than [`crate::Limits::max_message_size`].
    MessageTooLarge,
    /// More header fields than [`crate::Limits::max_headers`].
    TooManyHeaders,
    /// A line (after unfolding) is longer than [`crate::Limits::max_line_length`].
    LineTooLong,
    /// The message is empty or holds only CRLF keep-alives.
    Empty,
    /// A line ends in a bare LF. RFC 3261 §7 requires CRLF; accepting LF
    /// would hide framing bugs in the sender, so we refuse and say so.
    BareLineFeed,
    /// A bare CR that is not followed by LF.
    BareCarriageReturn,
    /// The header section has no terminating empty line.
    UnterminatedHeaders,
    /// The start line is neither a Request-Line nor a Status-Line.
    BadStartLine,
    /// The method is not an RFC 3261 §25.1 token.
    BadMethod,
    /// The Request-URI does not parse (RFC 3261 §19.1, §25.1).
    BadRequestUri,
    /// Extra, missing or trailing SP in the start line (RFC 3261 §7.1, §7.2).
    BadWhitespace,
    /// SIP-Version is not of the form `SIP/d.d` (RFC 3261 §7.1).
    BadVersion,
    /// A well-formed SIP-Version other than SIP/2.0: answered 505.
    UnsupportedVersion,
    /// Status-Code is not three digits in 100..=699 (RFC 3261 §7.2, §21).
    BadStatusCode,
    /// Reason-Phrase holds control characters (RFC 3261 §25.1).
    BadReasonPhrase,
    /// A header field name is not a token.
    BadHeaderName,
    /// A header line without `:`.
    MissingColon,
    /// A header field value does not match its grammar.
    BadHeaderValue(HeaderName),
    /// A header field required by RFC 3261 §8.1.1 is absent.
    MissingHeader(HeaderName),
    /// A header field that allows one value appears with several.
    DuplicateHeader(HeaderName),
    /// The CSeq method differs from the request method (RFC 3261 §8.1.1.5).
    CSeqMethodMismatch,
    /// Content-Length announces more bytes than the message holds.
    BodyTruncated,
    /// Stream transports need Content-Length (RFC 3261 §18.3, §20.14).
    MissingContentLength,
}

impl ParseErrorKind {
    /// A stable kebab-case code: used in manifests, JSON output and tests.
    pub fn code(self) -> &'static str {
        use ParseErrorKind::*;
        match self {
            MessageTooLarge => "message-too-large",
            TooManyHeaders => "too-many-headers",
            LineTooLong => "line-too-long",
            Empty => "empty",
            BareLineFeed => "bare-lf",
            BareCarriageReturn => "bare-cr",
            UnterminatedHeaders => "unterminated-headers",
            BadStartLine => "bad-start-line",
            BadMethod => "bad-method",
            BadRequestUri => "bad-request-uri",
            BadWhitespace => "bad-whitespace",
            BadVersion => "bad-version",
            UnsupportedVersion => "unsupported-version",
            BadStatusCode => "bad-status-code",
            BadReasonPhrase => "bad-reason-phrase",
            BadHeaderName => "bad-header-name",
            MissingColon => "missing-colon",
            BadHeaderValue(_) => "bad-header-value",
            MissingHeader(_) => "missing-header",
            DuplicateHeader(_) => "duplicate-header",
            CSeqMethodMismatch => "cseq-method-mismatch",
            BodyTruncated => "body-truncated",
            MissingContentLength => "missing-content-length",
        }
    }

    /// The header field the fault is about, if any.
    pub fn header(self) -> Option<HeaderName> {
        match self {
            Self::BadHeaderValue(h) | Self::MissingHeader(h) | Self::DuplicateHeader(h) => Some(h),
            _ => None,
        }
    }

    /// The status code a server answers with for this fault (RFC 3261 §8.2, §21).
    pub fn status_code(self) -> u16 {
        match self {
            Self::UnsupportedVersion => 505,
            Self::MessageTooLarge => 513,
            _ => 400,
        }
    }
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ParseErrorKind::*;
        match self {
            MessageTooLarge => f.write_str("message too large"),
            TooManyHeaders => f.write_str("too many header fields"),
            LineTooLong => f.write_str("line too long"),
            Empty => f.write_str("empty message"),
            BareLineFeed => f.write_str("bare LF line ending (CRLF required)"),
            BareCarriageReturn => f.write_str("bare CR"),
            UnterminatedHeaders => f.write_str("header section not terminated by an empty line"),
            BadStartLine => f.write_str("malformed start line"),
            BadMethod => f.write_str("malformed method"),
            BadRequestUri => f.write_str("malformed Request-URI"),
            BadWhitespace => f.write_str("extra or missing SP in start line"),
            BadVersion => f.write_str("malformed SIP-Version"),
            UnsupportedVersion => f.write_str("unsupported SIP-Version"),
            BadStatusCode => f.write_str("malformed Status-Code"),
            BadReasonPhrase => f.write_str("malformed Reason-Phrase"),
            BadHeaderName => f.write_str("malformed header field name"),
            MissingColon => f.write_str("header line without colon"),
            BadHeaderValue(h) => write!(f, "malformed {} header", h.canonical()),
            MissingHeader(h) => write!(f, "missing {} header", h.canonical()),
            DuplicateHeader(h) => write!(f, "multiple {} values", h.canonical()),
            CSeqMethodMismatch => f.write_str("CSeq method does not match request method"),
            BodyTruncated => f.write_str("body shorter than Content-Length"),
            MissingContentLength => f.write_str("missing Content-Length on a stream transport"),
        }
    }
}

/// A refused message: what was wrong, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at byte {offset}")]
pub struct ParseError {
    /// Byte offset into the input where the fault was detected.
    pub offset: usize,
    /// The typed reason.
    pub kind: ParseErrorKind,
}

impl ParseError {
    pub(crate) fn new(offset: usize, kind: ParseErrorKind) -> Self {
        Self { offset, kind }
    }

    /// A reason phrase for a response that names the fault, e.g.
    /// `Bad Request - malformed Via header at byte 112`. Contains no CR/LF.
    pub fn reason_phrase(&self) -> String {
        let lead = match self.kind.status_code() {
            505 => "Version Not Supported",
            513 => "Message Too Large",
            _ => "Bad Request",
        };
        format!("{lead} - {} at byte {}", self.kind, self.offset)
    }
}

//! Writing messages: [`MessageBuilder`] for new ones, [`Editor`] for a
//! received one that a proxy forwards (RFC 3261 §16.6): it copies every byte
//! it was not asked to change, so unknown headers, folding and the body pass
//! through exactly as received.

use crate::headers::split_list;
use crate::message::{HeaderName, Message};
use std::fmt::Write as _;

/// Replaces CR, LF and other control characters with SP, so that text taken
/// from the network (a reason, a parse error) cannot inject header lines.
pub fn sanitize_phrase(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Builds a new request or response. Content-Length is always written.
#[derive(Debug, Clone)]
pub struct MessageBuilder {
    head: String,
    body: Vec<u8>,
}

impl MessageBuilder {
    /// Starts `METHOD uri SIP/2.0`.
    pub fn request(method: &str, uri: &str) -> Self {
        let mut head = String::with_capacity(512);
        let _ = write!(head, "{method} {uri} SIP/2.0\r\n");
        Self {
            head,
            body: Vec::new(),
        }
    }

    /// Starts `SIP/2.0 code reason`; the reason is sanitised.
    pub fn response(code: u16, reason: &str) -> Self {
        let mut head = String::with_capacity(512);
        let _ = write!(head, "SIP/2.0 {code} {}\r\n", sanitize_phrase(reason));
        Self {
            head,
            body: Vec::new(),
        }
    }

    /// A response to `req` (RFC 3261 §8.2.6.2): Via, From, To, Call-ID and
    /// CSeq copied; `to_tag` added to To when it has none and the code is
    /// above 100.
    pub fn response_to(req: &Message<'_>, code: u16, reason: &str, to_tag: Option<&str>) -> Self {
        let mut b = Self::response(code, reason);
        for h in req.headers_named(HeaderName::Via) {
            b.raw_header("Via", h.value);
        }
        if let Some(h) = req.header(HeaderName::From) {
            b.raw_header("From", h.value);
        }
        if let Some(h) = req.header(HeaderName::To) {
            let mut to = String::from_utf8_lossy(h.value).into_owned();
            if let Some(tag) = to_tag.filter(|_| code > 100 && req.core().to.tag().is_none()) {
                let _ = write!(to, ";tag={tag}");
            }
            b.raw_header("To", to.as_bytes());
        }
        if let Some(h) = req.header(HeaderName::CallId) {
            b.raw_header("Call-ID", h.value);
        }
        if let Some(h) = req.header(HeaderName::CSeq) {
            b.raw_header("CSeq", h.value);
        }
        b
    }

    fn raw_header(&mut self, name: &str, value: &[u8]) {
        // Values come from a parsed message: valid UTF-8 for these fields.
        let v = String::from_utf8_lossy(value);
        let _ = write!(self.head, "{name}: {v}\r\n");
    }

    /// Adds a header field. CR/LF in the value are replaced by SP.
    pub fn header(mut self, name: &str, value: impl std::fmt::Display) -> Self {
        let v = value.to_string();
        let v = if v.contains(['\r', '\n']) {
            sanitize_phrase(&v)
        } else {
            v
        };
        let _ = write!(self.head, "{name}: {v}\r\n");
        self
    }

    /// Sets the body and its Content-Type.
    pub fn body(mut self, content_type: &str, body: &[u8]) -> Self {
        self = self.header("Content-Type", content_type);
        self.body = body.to_vec();
        self
    }

    /// Writes the message with its Content-Length.
    pub fn build(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.head.len() + self.body.len() + 24);
        out.extend_from_slice(self.head.as_bytes());
        let _ = write!(
            Writer(&mut out),
            "Content-Length: {}\r\n\r\n",
            self.body.len()
        );
        out.extend_from_slice(&self.body);
        out
    }
}

struct Writer<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Writer<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Derives a message from a received one. Only what is asked changes;
/// everything else, including the body, is copied byte for byte.
#[derive(Debug)]
pub struct Editor<'m, 'a> {
    msg: &'m Message<'a>,
    start_line: Option<String>,
    prepend: Vec<String>,
    /// Header index -> replacement line, or `None` to drop the field.
    changes: Vec<(usize, Option<String>)>,
    body: Option<Vec<u8>>,
}

impl<'m, 'a> Editor<'m, 'a> {
    /// Starts from `msg`.
    pub fn new(msg: &'m Message<'a>) -> Self {
        Self {
            msg,
            start_line: None,
            prepend: Vec::new(),
            changes: Vec::new(),
            body: None,
        }
    }

    /// Replaces the body. The caller keeps Content-Length right.
    pub fn body(&mut self, body: &[u8]) -> &mut Self {
        self.body = Some(body.to_vec());
        self
    }

    /// Replaces the start line (without CRLF).
    pub fn start_line(&mut self, line: &str) -> &mut Self {
        self.start_line = Some(sanitize_phrase(line));
        self
    }

    /// Adds a field above all others; later calls go below earlier ones.
    pub fn prepend(&mut self, name: &str, value: &str) -> &mut Self {
        self.prepend
            .push(format!("{name}: {}\r\n", sanitize_phrase(value)));
        self
    }

    /// Sets the value of the first field `name`, or prepends it if absent.
    pub fn set(&mut self, name: HeaderName, value: &str) -> &mut Self {
        let line = format!("{}: {}\r\n", name.canonical(), sanitize_phrase(value));
        match self.msg.headers().iter().position(|h| h.name == name) {
            Some(i) => self.change(i, Some(line)),
            None => self.prepend.push(line),
        }
        self
    }

    /// Removes every field `name`.
    pub fn remove_all(&mut self, name: HeaderName) -> &mut Self {
        for (i, h) in self.msg.headers().iter().enumerate() {
            if h.name == name {
                self.change(i, None);
            }
        }
        self
    }

    /// Removes every field spelled `name` (any case): for extension
    /// headers without a [`HeaderName`] of their own.
    pub fn remove_named(&mut self, name: &str) -> &mut Self {
        for (i, h) in self.msg.headers().iter().enumerate() {
            if h.name_raw.eq_ignore_ascii_case(name) {
                self.change(i, None);
            }
        }
        self
    }

    /// Removes the first list element of the first field `name` (the top
    /// Via of a response, a Route naming this proxy); the field goes away if
    /// it held only that element.
    pub fn remove_first_value(&mut self, name: HeaderName) -> &mut Self {
        let Some((i, h)) = self
            .msg
            .headers()
            .iter()
            .enumerate()
            .find(|(_, h)| h.name == name)
        else {
            return self;
        };
        let value = h.value_str().unwrap_or_default();
        let mut items = split_list(value);
        items.next();
        match items.next() {
            Some(Ok((off, _))) => {
                let line = format!("{}: {}\r\n", h.name_raw, &value[off..]);
                self.change(i, Some(line));
            }
            _ => self.change(i, None),
        }
        self
    }

    fn change(&mut self, i: usize, c: Option<String>) {
        self.changes.retain(|(j, _)| *j != i);
        self.changes.push((i, c));
    }

    /// Writes the derived message.
    pub fn finish(&self) -> Vec<u8> {
        let msg = self.msg;
        let mut out = Vec::with_capacity(msg.as_bytes().len() + 256);
        match &self.start_line {
            Some(l) => {
                out.extend_from_slice(l.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            None => {
                out.extend_from_slice(msg.start_line_raw());
                out.extend_from_slice(b"\r\n");
            }
        }
        for p in &self.prepend {
            out.extend_from_slice(p.as_bytes());
        }
        for (i, h) in msg.headers().iter().enumerate() {
            match self.changes.iter().find(|(j, _)| *j == i) {
                Some((_, None)) => {}
                Some((_, Some(line))) => out.extend_from_slice(line.as_bytes()),
                None => out.extend_from_slice(h.raw),
            }
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(self.body.as_deref().unwrap_or(msg.body()));
        out
    }
}

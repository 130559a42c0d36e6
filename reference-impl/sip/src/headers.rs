//! Typed views of the header fields a proxy acts on (RFC 3261 §20, §25.1;
//! RFC 8224 §4.1 for Identity). Each parser takes one field value (one
//! element of a comma-separated list where the header allows lists) and
//! returns a borrowed view, or the offset of the first byte that breaks the
//! grammar. Folded values are handled: CR and LF inside a value only ever
//! appear as part of LWS, which the message parser has already checked.

use crate::chars::{self, TOKEN, WORD, class_of, cls, is_ws};
use crate::uri::{self, Host, Params, Uri};
use std::net::IpAddr;

/// A byte cursor over one field value.
struct Cur<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Cur<'a> {
    fn new(s: &'a str) -> Self {
        Self {
            s,
            b: s.as_bytes(),
            i: 0,
        }
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn at_end(&self) -> bool {
        self.i >= self.b.len()
    }
    /// Skips optional linear white space (SWS).
    #[inline]
    fn sws(&mut self) -> usize {
        let start = self.i;
        while self.peek().is_some_and(|c| class_of(c) & cls::WS != 0) {
            self.i += 1;
        }
        self.i - start
    }
    /// Advances over bytes of class `flag`; returns the flags common to
    /// all of them (all ones when none), so a caller learns in the same
    /// pass whether the run also fits a narrower class.
    #[inline]
    fn span(&mut self, flag: u16) -> u16 {
        let mut common = u16::MAX;
        while let Some(&c) = self.b.get(self.i) {
            let f = class_of(c);
            if f & flag == 0 {
                break;
            }
            common &= f;
            self.i += 1;
        }
        common
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, c: u8) -> Result<(), usize> {
        if self.eat(c) { Ok(()) } else { Err(self.i) }
    }
    /// `1*class`; fails at the current position if empty.
    fn run(&mut self, class: &[bool; 256]) -> Result<&'a str, usize> {
        let start = self.i;
        while self.peek().is_some_and(|c| class[c as usize]) {
            self.i += 1;
        }
        if self.i == start {
            Err(start)
        } else {
            Ok(&self.s[start..self.i])
        }
    }
    /// A `quoted-string` including its quotes (RFC 3261 §25.1).
    fn quoted(&mut self) -> Result<&'a str, usize> {
        let start = self.i;
        self.expect(b'"')?;
        let b = self.b;
        let mut i = self.i;
        while i < b.len() {
            // Plain qdtext (and LWS) in one test per byte.
            if class_of(b[i]) & cls::QDTEXT != 0 {
                i += 1;
                continue;
            }
            match b[i] {
                b'"' => {
                    self.i = i + 1;
                    return Ok(&self.s[start..i + 1]);
                }
                // quoted-pair excludes CR and LF.
                b'\\' => match b.get(i + 1) {
                    Some(b'\r' | b'\n') | None => {
                        self.i = i;
                        return Err(i);
                    }
                    Some(_) => i += 2,
                },
                // Control characters.
                _ => {
                    self.i = i;
                    return Err(i);
                }
            }
        }
        self.i = i;
        Err(start)
    }
    /// `*( SEMI generic-param )` up to the end; returns the raw list.
    fn params(&mut self) -> Result<Params<'a>, usize> {
        self.params_with(|_, _, _| Ok(()))
    }

    /// Like [`Cur::params`], handing each `(name, value, token)` to `visit`
    /// as it is parsed, so typed parameters are captured without a second
    /// scan: `token` says the value is a `token` (checked in the same pass
    /// that delimited it). `visit` returning `Err(())` fails the parse at
    /// that parameter.
    fn params_with(
        &mut self,
        mut visit: impl FnMut(&'a str, Option<&'a str>, bool) -> Result<(), ()>,
    ) -> Result<Params<'a>, usize> {
        let start = self.i;
        loop {
            let before = self.i;
            self.sws();
            if self.at_end() {
                self.i = before;
                break;
            }
            self.expect(b';')?;
            self.sws();
            let at = self.i;
            self.span(cls::TOKEN);
            if self.i == at {
                return Err(at);
            }
            let name = &self.s[at..self.i];
            let after_name = self.i;
            self.sws();
            let (value, token) = if self.eat(b'=') {
                self.sws();
                if self.peek() == Some(b'"') {
                    (Some(self.quoted()?), false)
                } else {
                    let v = self.i;
                    let common = self.span(cls::GEN_VALUE);
                    if self.i == v {
                        return Err(v);
                    }
                    (Some(&self.s[v..self.i]), common & cls::TOKEN != 0)
                }
            } else {
                self.i = after_name;
                (None, false)
            };
            visit(name, value, token).map_err(|()| at)?;
        }
        let raw = &self.s[start..self.i];
        self.sws();
        if !self.at_end() {
            return Err(self.i);
        }
        Ok(Params(raw))
    }
}

/// One Via field value (RFC 3261 §20.42).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Via<'a> {
    /// The value as written.
    pub raw: &'a str,
    /// `SIP`.
    pub protocol: &'a str,
    /// `2.0`.
    pub version: &'a str,
    /// `UDP`, `TCP`, `TLS`, `SCTP`, or any other token.
    pub transport: &'a str,
    /// sent-by host.
    pub host: Host<'a>,
    /// sent-by port.
    pub port: Option<u16>,
    /// via-params.
    pub params: Params<'a>,
    branch: Option<&'a str>,
    received: Option<(&'a str, IpAddr)>,
    rport: Option<Option<u16>>,
    maddr: Option<&'a str>,
}

impl<'a> Via<'a> {
    /// Parses one via-parm.
    pub fn parse(s: &'a str) -> Result<Self, usize> {
        let mut c = Cur::new(s);
        let (protocol, version);
        if s.starts_with("SIP/2.0/") {
            // The form nearly every Via takes; the steps below read it alike.
            (protocol, version, c.i) = (&s[..3], &s[4..7], 8);
        } else {
            c.sws();
            protocol = c.run(&TOKEN)?;
            c.sws();
            c.expect(b'/')?;
            c.sws();
            version = c.run(&TOKEN)?;
            c.sws();
            c.expect(b'/')?;
            c.sws();
        }
        let transport = c.run(&TOKEN)?;
        if c.sws() == 0 {
            return Err(c.i);
        }
        let (host, end) = uri::parse_host(s, c.i, b"; \t\r\n")?;
        c.i = end;
        let save = c.i;
        c.sws();
        let mut port = None;
        if c.eat(b':') {
            c.sws();
            let p = c.run(&DIGITS)?;
            port = Some(uri::parse_port(p).ok_or(c.i - p.len())?);
        } else {
            c.i = save;
        }
        let (mut branch, mut received, mut rport, mut maddr) = (None, None, None, None);
        // Typed via-params are checked as they are met (RFC 3261 §20.42,
        // §25.1; RFC 3581 rport; RFC 5118 §4.5 bare IPv6 in received).
        let params = c.params_with(|name, value, token| {
            let is = |n: &str| chars::eq_fold(name.as_bytes(), n.as_bytes());
            // Dispatch on the name's length: one comparison per parameter.
            match name.len() {
                6 if is("branch") => {
                    // A bare magic cookie announces an RFC 3261 branch but
                    // carries no identifier (§8.1.1.7; RFC 4475 §3.2.1).
                    let v = value.filter(|v| token && *v != MAGIC_COOKIE).ok_or(())?;
                    branch.get_or_insert(v);
                }
                8 if is("received") => {
                    // RFC 5118 §4.5: "be liberal in accepting a 'received'
                    // parameter with or without the delimiting '[' and ']'".
                    let v = value.ok_or(())?;
                    let bare = match v.strip_prefix('[') {
                        Some(inner) => inner.strip_suffix(']').ok_or(())?,
                        None => v,
                    };
                    let ip = uri::parse_ip_text(bare).ok_or(())?;
                    if bare.len() != v.len() && !ip.is_ipv6() {
                        return Err(());
                    }
                    received.get_or_insert((bare, ip));
                }
                5 if is("rport") => {
                    let p = match value {
                        None => None,
                        Some(v) => Some(uri::parse_port(v).ok_or(())?),
                    };
                    rport.get_or_insert(p);
                }
                5 if is("maddr") => {
                    let v = value.ok_or(())?;
                    let ok = match v.strip_prefix('[') {
                        Some(inner) => inner
                            .strip_suffix(']')
                            .is_some_and(|ip| uri::parse_ipv6(ip).is_some()),
                        None => uri::parse_host_text(v).is_ok(),
                    };
                    if !ok {
                        return Err(());
                    }
                    maddr.get_or_insert(v);
                }
                3 if is("ttl")
                    && !value.is_some_and(|v| v.len() <= 3 && v.parse::<u8>().is_ok()) =>
                {
                    return Err(());
                }
                _ => {}
            }
            Ok(())
        })?;
        Ok(Via {
            raw: s.trim_ascii(),
            protocol,
            version,
            transport,
            host,
            port,
            params,
            branch,
            received,
            rport,
            maddr,
        })
    }

    /// The `branch` parameter.
    pub fn branch(&self) -> Option<&'a str> {
        self.branch
    }
    /// The `received` parameter as written, without the `[` `]` that
    /// RFC 5118 §4.5 tolerates.
    pub fn received(&self) -> Option<&'a str> {
        self.received.map(|(text, _)| text)
    }
    /// The `received` address, parsed.
    pub fn received_ip(&self) -> Option<IpAddr> {
        self.received.map(|(_, ip)| ip)
    }
    /// `rport`: `Some(None)` when present without a value (RFC 3581).
    pub fn rport(&self) -> Option<Option<u16>> {
        self.rport
    }
    /// The `maddr` parameter.
    pub fn maddr(&self) -> Option<&'a str> {
        self.maddr
    }
    /// True when the branch carries the RFC 3261 magic cookie (§8.1.1.7).
    pub fn is_rfc3261_branch(&self) -> bool {
        self.branch()
            .is_some_and(|b| b.starts_with(MAGIC_COOKIE) && b.len() > MAGIC_COOKIE.len())
    }
}

/// The RFC 3261 §8.1.1.7 branch prefix.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

const DIGITS: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = b'0';
    while c <= b'9' {
        t[c as usize] = true;
        c += 1;
    }
    t
};

/// A name-addr or addr-spec with header parameters: From, To, Contact,
/// Route, Record-Route (RFC 3261 §20.10, §20.20, §20.30, §20.34, §20.39).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// The value as written.
    pub raw: &'a str,
    /// Display name as written (quoted-string with quotes, or tokens).
    pub display: Option<&'a str>,
    /// The URI.
    pub uri: Uri<'a>,
    /// True when the URI was enclosed in `<>`.
    pub bracketed: bool,
    /// Header parameters after the URI (`;tag=`, `;expires=`, ...).
    pub params: Params<'a>,
    tag: Option<&'a str>,
}

impl<'a> NameAddr<'a> {
    /// Parses `( name-addr / addr-spec ) *( SEMI generic-param )`.
    pub fn parse(s: &'a str) -> Result<Self, usize> {
        let mut c = Cur::new(s);
        c.sws();
        let start = c.i;
        let mut display = None;
        let mut bracketed = false;
        if c.peek() == Some(b'"') {
            let q = c.quoted()?;
            display = Some(q);
            c.sws();
            c.expect(b'<')?;
            bracketed = true;
        } else {
            // *(token LWS) then '<' means name-addr; anything else is addr-spec.
            loop {
                c.sws();
                if c.peek() == Some(b'<') {
                    let d = s[start..c.i].trim_ascii_end();
                    display = (!d.is_empty()).then_some(d);
                    c.i += 1;
                    bracketed = true;
                    break;
                }
                if c.run(&TOKEN).is_err() {
                    c.i = start;
                    break;
                }
            }
        }
        let uri;
        if bracketed {
            let open = c.i;
            let close = chars::find(&c.b[open..], b'>').ok_or(open)? + open;
            // `match`, not `map_err(..)?`: one move of the URI fewer.
            uri = match Uri::parse(&s[open..close]) {
                Ok(u) => u,
                Err(e) => return Err(e + open),
            };
            c.i = close + 1;
        } else {
            // In addr-spec form ';' ',' '?' cannot be part of the URI
            // (RFC 3261 §20.10), and LWS ends it.
            let end = c.b[start..]
                .iter()
                .position(|&ch| ch == b';' || ch == b',' || is_ws(ch))
                .map_or(c.b.len(), |e| e + start);
            let text = &s[start..end];
            if let Some(q) = chars::find(text.as_bytes(), b'?') {
                return Err(start + q);
            }
            uri = match Uri::parse(text) {
                Ok(u) => u,
                Err(e) => return Err(e + start),
            };
            c.i = end;
        }
        let mut tag = None;
        let params = c.params_with(|name, value, token| {
            if chars::eq_fold(name.as_bytes(), b"tag") {
                // tag = token (RFC 3261 §25.1).
                let v = value.filter(|_| token).ok_or(())?;
                tag.get_or_insert(v);
            }
            Ok(())
        })?;
        Ok(NameAddr {
            raw: s.trim_ascii(),
            display,
            uri,
            bracketed,
            params,
            tag,
        })
    }

    /// The `tag` parameter (RFC 3261 §19.3).
    pub fn tag(&self) -> Option<&'a str> {
        self.tag
    }
}

/// CSeq (RFC 3261 §20.16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CSeq<'a> {
    /// Sequence number.
    pub seq: u32,
    /// Method.
    pub method: &'a str,
}

impl<'a> CSeq<'a> {
    /// Parses `1*DIGIT LWS Method`. The number must fit 32 bits (§8.1.1.5).
    pub fn parse(s: &'a str) -> Result<Self, usize> {
        let mut c = Cur::new(s);
        c.sws();
        let digits = c.run(&DIGITS)?;
        let seq = parse_decimal(digits, u64::from(u32::MAX)).ok_or(c.i - digits.len())? as u32;
        if c.sws() == 0 {
            return Err(c.i);
        }
        let method = c.run(&TOKEN)?;
        c.sws();
        if !c.at_end() {
            return Err(c.i);
        }
        Ok(CSeq { seq, method })
    }
}

/// Parses decimal digits with leading zeros allowed, refusing values above `max`.
pub(crate) fn parse_decimal(digits: &str, max: u64) -> Option<u64> {
    let mut v: u64 = 0;
    for c in digits.bytes() {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
        if v > max {
            return None;
        }
    }
    (!digits.is_empty()).then_some(v)
}

/// A single decimal value field (Max-Forwards, Content-Length, Expires).
pub fn parse_number(s: &str, max: u64) -> Result<u64, usize> {
    let mut c = Cur::new(s);
    c.sws();
    let start = c.i;
    let digits = c.run(&DIGITS)?;
    let v = parse_decimal(digits, max).ok_or(start)?;
    c.sws();
    if !c.at_end() {
        return Err(c.i);
    }
    Ok(v)
}

/// Call-ID: `word [ "@" word ]` (RFC 3261 §20.8).
pub fn parse_call_id(s: &str) -> Result<&str, usize> {
    let mut c = Cur::new(s);
    c.sws();
    let start = c.i;
    c.run(&WORD)?;
    if c.eat(b'@') {
        c.run(&WORD)?;
    }
    let end = c.i;
    c.sws();
    if !c.at_end() {
        return Err(c.i);
    }
    Ok(&s[start..end])
}

/// Content-Type (RFC 3261 §20.15): `type "/" subtype *( SEMI m-parameter )`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentType<'a> {
    /// e.g. `application`.
    pub media_type: &'a str,
    /// e.g. `sdp`.
    pub subtype: &'a str,
    /// Parameters.
    pub params: Params<'a>,
}

impl<'a> ContentType<'a> {
    /// Parses a media-type.
    pub fn parse(s: &'a str) -> Result<Self, usize> {
        let mut c = Cur::new(s);
        c.sws();
        let media_type = c.run(&TOKEN)?;
        c.sws();
        c.expect(b'/')?;
        c.sws();
        let subtype = c.run(&TOKEN)?;
        let params = c.params()?;
        Ok(ContentType {
            media_type,
            subtype,
            params,
        })
    }

    /// True for `application/sdp`.
    pub fn is_sdp(&self) -> bool {
        self.media_type.eq_ignore_ascii_case("application")
            && self.subtype.eq_ignore_ascii_case("sdp")
    }
}

/// Identity (RFC 8224 §4.1): a compact-form PASSporT and its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity<'a> {
    /// The signed-identity-digest (a JWS compact serialization).
    pub token: &'a str,
    /// The `info` URI without its angle brackets.
    pub info: Option<&'a str>,
    /// `alg`, `ppt` and other parameters.
    pub params: Params<'a>,
}

impl<'a> Identity<'a> {
    /// Parses `signed-identity-digest SEMI ident-info *( SEMI ident-info-params )`.
    pub fn parse(s: &'a str) -> Result<Self, usize> {
        let mut c = Cur::new(s);
        c.sws();
        let start = c.i;
        while c.peek().is_some_and(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'=' | b'+' | b'/')
        }) {
            c.i += 1;
        }
        if c.i == start {
            return Err(start);
        }
        let token = &s[start..c.i];
        c.sws();
        c.expect(b';')?;
        c.sws();
        let name = c.run(&TOKEN)?;
        if !name.eq_ignore_ascii_case("info") {
            return Err(c.i - name.len());
        }
        c.sws();
        c.expect(b'=')?;
        c.sws();
        c.expect(b'<')?;
        let open = c.i;
        let close = chars::find(&c.b[open..], b'>').ok_or(open)? + open;
        let info = &s[open..close];
        Uri::parse(info).map_err(|e| e + open)?;
        c.i = close + 1;
        let params = c.params()?;
        Ok(Identity {
            token,
            info: Some(info),
            params,
        })
    }
}

/// The one element of a value without a comma, as [`split_list`] would
/// yield it (`None` when there is a comma: split it). Most list values hold
/// one element; this skips the splitter's state machine for them.
#[inline]
pub(crate) fn lone_element(s: &str) -> Option<Result<(usize, &str), usize>> {
    if chars::find(s.as_bytes(), b',').is_some() {
        return None;
    }
    let lead = s.len() - s.trim_ascii_start().len();
    let trimmed = s[lead..].trim_ascii_end();
    Some(if trimmed.is_empty() {
        Err(0)
    } else {
        Ok((lead, trimmed))
    })
}

/// Splits a comma-separated field value into elements, honouring quotes and
/// angle brackets. Yields `(offset, element)` with surrounding LWS trimmed;
/// an empty element is an error at its offset (RFC 3261 §7.3.1).
pub fn split_list(s: &str) -> impl Iterator<Item = Result<(usize, &str), usize>> {
    let b = s.as_bytes();
    // Most values hold one element: with no comma at all, quotes and
    // brackets cannot matter, so one SIMD search replaces the walk below.
    let single = memchr::memchr(b',', b).is_none();
    let mut i = 0;
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let start = i;
        if single {
            i = b.len();
        }
        // Jump between the only bytes that matter: ',' ends an element
        // unless inside "..." (backslash escapes) or <...>.
        while i < b.len() {
            let Some(j) = memchr::memchr3(b',', b'"', b'<', &b[i..]) else {
                i = b.len();
                break;
            };
            i += j;
            match b[i] {
                b',' => break,
                b'"' => {
                    i += 1;
                    let mut closed = false;
                    while let Some(k) = memchr::memchr2(b'"', b'\\', &b[i.min(b.len())..]) {
                        i += k;
                        if b[i] == b'"' {
                            closed = true;
                            break;
                        }
                        i += 2;
                    }
                    // An unterminated quote runs to the end, commas included.
                    i = if closed { i + 1 } else { b.len() };
                }
                _ => i = memchr::memchr(b'>', &b[i..]).map_or(b.len(), |k| i + k + 1),
            }
        }
        let end = i.min(b.len());
        if i >= b.len() {
            done = true;
        }
        i += 1;
        let part = &s[start..end];
        let lead = part.len() - part.trim_ascii_start().len();
        let trimmed = part[lead..].trim_ascii_end();
        Some(if trimmed.is_empty() {
            Err(start)
        } else {
            Ok((start + lead, trimmed))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_with_folding_and_params() {
        let v =
            Via::parse("SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;rport;branch=z9hG4bKkdjuw").unwrap();
        assert_eq!((v.protocol, v.version, v.transport), ("SIP", "2.0", "UDP"));
        assert_eq!(v.host, Host::V4("192.0.2.2".parse().unwrap()));
        assert_eq!(v.rport(), Some(None));
        assert_eq!(v.branch(), Some("z9hG4bKkdjuw"));
        assert!(v.is_rfc3261_branch());
    }

    #[test]
    fn via_ipv6_rfc5118() {
        let v = Via::parse(
            "SIP/2.0/UDP [2001:db8::9:1]:5070;branch=z9hG4bKas3;received=2001:db8::9:255",
        )
        .unwrap();
        assert_eq!(v.host, Host::V6("2001:db8::9:1".parse().unwrap()));
        assert_eq!(v.port, Some(5070));
        assert_eq!(v.received(), Some("2001:db8::9:255"));
        assert!(Via::parse("SIP/2.0/UDP h;received=300.1.1.1").is_err());
    }

    #[test]
    fn via_received_with_or_without_delimiters_rfc5118_4_5() {
        let want: IpAddr = "2001:db8::9:255".parse().unwrap();
        for text in [
            "SIP/2.0/UDP [2001:db8::9:1];received=[2001:db8::9:255];branch=z9hG4bKas3-115",
            "SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9:255;branch=z9hG4bKas3-115",
        ] {
            let v = Via::parse(text).unwrap();
            assert_eq!(v.received(), Some("2001:db8::9:255"), "{text}");
            assert_eq!(v.received_ip(), Some(want), "{text}");
            assert_eq!(v.branch(), Some("z9hG4bKas3-115"));
        }
        let v = Via::parse("SIP/2.0/UDP h;received=192.0.2.1").unwrap();
        assert_eq!(v.received_ip(), Some("192.0.2.1".parse().unwrap()));
        // The RFC 3261 ABNF three-colon form, bracketed or not (§4.10).
        let v = Via::parse("SIP/2.0/UDP h;received=[2001:db8:::192.0.2.1]").unwrap();
        assert_eq!(v.received_ip(), Some("2001:db8::c000:201".parse().unwrap()));
        let v = Via::parse("SIP/2.0/UDP [2001:db8:::192.0.2.1]:5070;maddr=[::1]").unwrap();
        assert_eq!(v.host, Host::V6("2001:db8::c000:201".parse().unwrap()));
        for bad in [
            "SIP/2.0/UDP h;received=[not-an-address]",
            "SIP/2.0/UDP h;received=[2001:db8::1",
            "SIP/2.0/UDP h;received=2001:db8::1]",
            "SIP/2.0/UDP h;received=[[2001:db8::1]]",
            "SIP/2.0/UDP h;received=[]",
            "SIP/2.0/UDP h;received=[192.0.2.1]",
            "SIP/2.0/UDP h;received=[2001:db8:::1]",
            "SIP/2.0/UDP h;received=[2001:db8::::192.0.2.1]",
            "SIP/2.0/UDP h;received=2001:db8:::1",
            "SIP/2.0/UDP h;received=example.com",
            "SIP/2.0/UDP h;maddr=[2001:db8::::192.0.2.1]",
        ] {
            assert!(Via::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn via_rejects_garbage() {
        assert!(Via::parse("SIP/2.0/UDP 192.0.2.15;;").is_err());
        assert!(Via::parse("SIP/2.0/UDP").is_err());
        assert!(Via::parse("SIP/2.0/UDPhost").is_err());
        assert!(Via::parse("SIP/2.0/UDP host:99999").is_err());
        assert!(Via::parse("SIP/2.0/UDP host;branch").is_err());
        assert!(Via::parse("SIP/2.0/UDP host;branch=a b").is_err());
        assert!(Via::parse("SIP/2.0/UDP host;branch=z9hG4bK").is_err());
    }

    #[test]
    fn name_addr_forms() {
        let n = NameAddr::parse("\"Bob \\\"B\\\"\" <sip:bob@biloxi.com>;tag=a6c85cf").unwrap();
        assert_eq!(n.display, Some("\"Bob \\\"B\\\"\""));
        assert_eq!(n.tag(), Some("a6c85cf"));
        let n = NameAddr::parse("caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(n.display, Some("caller"));
        let n = NameAddr::parse("sip:alice@atlanta.com;tag=88sja8x").unwrap();
        assert!(!n.bracketed);
        assert_eq!(n.tag(), Some("88sja8x"));
    }

    #[test]
    fn name_addr_rejects_rfc4475_faults() {
        // §3.1.2.6 unterminated quote
        assert!(NameAddr::parse("\"Mr. J. User <sip:j.user@example.com>").is_err());
        // §3.1.2.13 '?' in an unbracketed URI
        assert!(NameAddr::parse("sip:user@example.com?Route=%3Csip:sip.example.com%3E").is_err());
        // §3.1.2.14 spaces within addr-spec
        assert!(NameAddr::parse("\"Watson, Thomas\" < sip:t.watson@example.org >").is_err());
        // §3.1.2.15 non-token display name
        assert!(NameAddr::parse("Bell, Alexander <sip:a.g.bell@example.com>;tag=43").is_err());
    }

    #[test]
    fn scalars() {
        assert_eq!(
            CSeq::parse(" 4711 INVITE "),
            Ok(CSeq {
                seq: 4711,
                method: "INVITE"
            })
        );
        assert!(CSeq::parse("36893488147419103232 REGISTER").is_err());
        assert!(CSeq::parse("1INVITE").is_err());
        assert_eq!(parse_number("0068", 255), Ok(68));
        assert!(parse_number("300", 255).is_err());
        assert!(parse_number("-999", u64::MAX).is_err());
        assert_eq!(
            parse_call_id(" a84b4c76e66710@pc33.atlanta.com "),
            Ok("a84b4c76e66710@pc33.atlanta.com")
        );
        assert!(parse_call_id("a b").is_err());
    }

    #[test]
    fn lists_split_outside_quotes_and_brackets() {
        let v: Vec<_> = split_list("<sip:a@b;x=1,2>, \"c,d\" <sip:c@d>").collect();
        assert_eq!(
            v,
            vec![Ok((0, "<sip:a@b;x=1,2>")), Ok((17, "\"c,d\" <sip:c@d>"))]
        );
        assert!(split_list("a,,b").any(|r| r.is_err()));
        for s in ["", " ", " \x0c a b \t", "<sip:a@b>", "\"x\" <sip:a>;p"] {
            let want: Vec<_> = split_list(s).collect();
            assert_eq!(
                lone_element(s).into_iter().collect::<Vec<_>>(),
                want,
                "{s:?}"
            );
        }
    }

    #[test]
    fn identity_rfc8224() {
        let i = Identity::parse("eyJhbGciOiJFUzI1NiJ9.eyJ9.c2ln;info=<https://cert.example.org/passport.cer>;alg=ES256;ppt=shaken").unwrap();
        assert_eq!(i.info, Some("https://cert.example.org/passport.cer"));
        assert_eq!(i.params.get("ppt"), Some(Some("shaken")));
        assert!(Identity::parse("abc").is_err());
    }
}

//! SIP, SIPS and tel URIs (RFC 3261 §19.1, §25.1; RFC 3966), and any other
//! absolute URI kept opaque (RFC 3261 §19: a proxy must carry schemes it does
//! not know). Views borrow from the message: nothing is copied or unescaped
//! unless asked for.

use crate::chars::{self, HNV, HOST_CHAR, PARAM, PASSWORD, TOKEN, URIC, USER, class_of, cls};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A parsed URI. `raw()` gives back the exact text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uri<'a> {
    /// `sip:` or `sips:`.
    Sip(SipUri<'a>),
    /// `tel:` (RFC 3966).
    Tel(TelUri<'a>),
    /// Any other `absoluteURI` (RFC 2396), kept opaque.
    Other {
        /// The scheme as written.
        scheme: &'a str,
        /// The whole URI.
        raw: &'a str,
    },
}

/// A `sip:` or `sips:` URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SipUri<'a> {
    /// The whole URI as written.
    pub raw: &'a str,
    /// `true` for `sips:`.
    pub secure: bool,
    /// The user part, still escaped.
    pub user: Option<&'a str>,
    /// The password part, still escaped.
    pub password: Option<&'a str>,
    /// The host.
    pub host: Host<'a>,
    /// The port, if given.
    pub port: Option<u16>,
    /// `;name[=value]` parameters, raw, starting with `;` (or empty).
    pub params: Params<'a>,
    /// The `?h=v&...` headers without the `?`, if any.
    pub headers: Option<&'a str>,
}

/// A `tel:` URI (RFC 3966): the number and its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelUri<'a> {
    /// The whole URI as written.
    pub raw: &'a str,
    /// The number, with visual separators, e.g. `+1-201-555-0123`.
    pub number: &'a str,
    /// Parameters, raw, starting with `;` (or empty).
    pub params: Params<'a>,
}

/// The host of a URI or Via sent-by (RFC 3261 §25.1 `host`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host<'a> {
    /// A domain name, as written.
    Domain(&'a str),
    /// A dotted IPv4 address.
    V4(Ipv4Addr),
    /// An IPv6 reference `[...]` (RFC 5118).
    V6(Ipv6Addr),
}

impl Host<'_> {
    /// The IP address, when the host is one.
    pub fn ip(&self) -> Option<IpAddr> {
        match *self {
            Host::Domain(_) => None,
            Host::V4(a) => Some(IpAddr::V4(a)),
            Host::V6(a) => Some(IpAddr::V6(a)),
        }
    }
}

impl fmt::Display for Host<'_> {
    /// Writes the host as it goes into a URI or Via: IPv6 in brackets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::V4(a) => write!(f, "{a}"),
            Host::V6(a) => write!(f, "[{a}]"),
        }
    }
}

/// A raw `;name[=value]...` parameter list, iterated lazily.
/// The text was validated when the enclosing value was parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Params<'a>(pub(crate) &'a str);

impl<'a> Params<'a> {
    /// The raw text, starting with `;` unless empty.
    pub fn as_str(&self) -> &'a str {
        self.0
    }

    /// Iterates `(name, value)` pairs; whitespace around `;` and `=` is trimmed.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, Option<&'a str>)> + 'a {
        split_unquoted(self.0, b';').filter_map(|p| {
            let p = p.trim_matches(|c: char| c.is_ascii_whitespace());
            if p.is_empty() {
                return None;
            }
            Some(match find_unquoted(p, b'=') {
                Some(eq) => (
                    p[..eq].trim_end_matches(|c: char| c.is_ascii_whitespace()),
                    Some(p[eq + 1..].trim_start_matches(|c: char| c.is_ascii_whitespace())),
                ),
                None => (p, None),
            })
        })
    }

    /// Looks a parameter up by name, case-insensitively. `Some(None)` means
    /// present without a value (e.g. `;lr`, `;rport`).
    pub fn get(&self, name: &str) -> Option<Option<&'a str>> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// True when the parameter is present.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

/// Splits on `sep` outside double quotes (backslash escapes honoured).
pub(crate) fn split_unquoted(s: &str, sep: u8) -> impl Iterator<Item = &str> {
    let b = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    let mut in_q = false;
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        while i < b.len() {
            let c = b[i];
            if in_q && c == b'\\' {
                i += 2;
                continue;
            }
            if c == b'"' {
                in_q = !in_q;
            } else if c == sep && !in_q {
                let part = &s[start..i];
                i += 1;
                start = i;
                return Some(part);
            }
            i += 1;
        }
        done = true;
        Some(&s[start.min(s.len())..])
    })
}

fn find_unquoted(s: &str, c: u8) -> Option<usize> {
    let mut in_q = false;
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' if in_q => i += 1,
            b'"' => in_q = !in_q,
            x if x == c && !in_q => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

impl<'a> Uri<'a> {
    /// Parses a URI. On error, returns the offset of the offending byte.
    pub fn parse(s: &'a str) -> Result<Self, usize> {
        let b = s.as_bytes();
        // Nearly every URI a proxy reads is sip:; its scheme is known at once.
        if b.get(..4).is_some_and(|p| chars::eq_fold(p, b"sip:")) {
            return parse_sip(s, false, 4).map(Uri::Sip);
        }
        let colon = scheme_end(b)?;
        let scheme = &s[..colon];
        let rest = &s[colon + 1..];
        if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
            parse_sip(s, scheme.len() == 4, colon + 1).map(Uri::Sip)
        } else if scheme.eq_ignore_ascii_case("tel") {
            parse_tel(s, colon + 1).map(Uri::Tel)
        } else {
            if rest.is_empty() {
                return Err(colon + 1);
            }
            chars::check_escaped(rest.as_bytes(), &URIC).map_err(|e| e + colon + 1)?;
            Ok(Uri::Other { scheme, raw: s })
        }
    }

    /// The URI exactly as written.
    pub fn raw(&self) -> &'a str {
        match self {
            Uri::Sip(u) => u.raw,
            Uri::Tel(u) => u.raw,
            Uri::Other { raw, .. } => raw,
        }
    }

    /// The scheme, lower-cased for the known ones.
    pub fn scheme(&self) -> &'a str {
        match self {
            Uri::Sip(u) if u.secure => "sips",
            Uri::Sip(_) => "sip",
            Uri::Tel(_) => "tel",
            Uri::Other { scheme, .. } => scheme,
        }
    }

    /// The SIP view, if this is a sip:/sips: URI.
    pub fn as_sip(&self) -> Option<&SipUri<'a>> {
        match self {
            Uri::Sip(u) => Some(u),
            _ => None,
        }
    }
}

impl fmt::Display for Uri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.raw())
    }
}

/// `scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )` then `:`.
fn scheme_end(b: &[u8]) -> Result<usize, usize> {
    match b.first() {
        Some(c) if c.is_ascii_alphabetic() => {}
        _ => return Err(0),
    }
    for (i, &c) in b.iter().enumerate().skip(1) {
        if c == b':' {
            return Ok(i);
        }
        if !(c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.')) {
            return Err(i);
        }
    }
    Err(b.len())
}

fn parse_sip(s: &str, secure: bool, start: usize) -> Result<SipUri<'_>, usize> {
    let b = s.as_bytes();
    let mut pos = start;
    let (mut user, mut password) = (None, None);
    // '@' cannot appear unescaped in hostport, params or headers, so the
    // first one ends the userinfo. One pass reads user characters, escapes
    // and ':' up to it, validating the user part as it goes.
    let mut i = start;
    let mut colon = false;
    let mut at = None;
    while let Some(&c) = b.get(i) {
        if class_of(c) & cls::USER != 0 {
            i += 1;
        } else if c == b'%' && chars::escape_at(b, i) {
            i += 3;
        } else if c == b':' {
            colon = true;
            i += 1;
        } else {
            if c == b'@' {
                at = Some(i);
            }
            break;
        }
    }
    if at.is_none() && i < b.len() {
        // Stopped on a byte no userinfo holds: a later '@' still makes this
        // a (broken) userinfo, whose fault the checked path below names.
        at = chars::find(&b[i..], b'@').map(|k| k + i);
        colon = true;
    }
    if let Some(at) = at {
        if colon {
            // A password, or a fault: the checked path, as rare as both.
            let (u, p) = userinfo_checked(s, start, at)?;
            (user, password) = (Some(u), p);
        } else {
            if at == start {
                return Err(start);
            }
            user = Some(&s[start..at]);
        }
        pos = at + 1;
    }
    let (host, after_host) = parse_host(s, pos, b";?")?;
    pos = after_host;
    let mut port = None;
    if b.get(pos) == Some(&b':') {
        let end = b[pos + 1..]
            .iter()
            .position(|c| !c.is_ascii_digit())
            .map_or(b.len(), |e| e + pos + 1);
        port = Some(parse_port(&s[pos + 1..end]).ok_or(pos + 1)?);
        pos = end;
    }
    // `*( ";" pname [ "=" pvalue ] )`, each read once: a name or value ends
    // at the first byte outside paramchar, which must be the next
    // delimiter. The offsets are those of the first byte that breaks the
    // grammar, as a split-then-check would report.
    let params_start = pos;
    while b.get(pos) == Some(&b';') {
        pos += 1;
        let name_at = pos;
        pos = chars::scan_escaped(b, pos, cls::PARAM);
        if pos == name_at {
            return Err(name_at);
        }
        if b.get(pos) == Some(&b'=') {
            pos += 1;
            let value_at = pos;
            pos = chars::scan_escaped(b, pos, cls::PARAM);
            if pos == value_at {
                return Err(value_at);
            }
        }
        if !matches!(b.get(pos), None | Some(b';' | b'?')) {
            return Err(pos);
        }
    }
    let params = Params(&s[params_start..pos]);
    let mut headers = None;
    if b.get(pos) == Some(&b'?') {
        let hs = &s[pos + 1..];
        for (off, h) in offsets(hs, b'&') {
            let abs = pos + 1 + off;
            let eq = chars::find(h.as_bytes(), b'=').ok_or(abs + h.len())?;
            if eq == 0 {
                return Err(abs);
            }
            chars::check_escaped(&h.as_bytes()[..eq], &HNV).map_err(|e| e + abs)?;
            chars::check_escaped(&h.as_bytes()[eq + 1..], &HNV).map_err(|e| e + abs + eq + 1)?;
        }
        headers = Some(hs);
        pos = b.len();
    }
    if pos != b.len() {
        return Err(pos);
    }
    Ok(SipUri {
        raw: s,
        secure,
        user,
        password,
        host,
        port,
        params,
        headers,
    })
}

/// `user [ ":" password ]` of `s[start..at]`, checked part by part: the
/// offset of the first fault, as RFC 3261 §25.1 reads it.
fn userinfo_checked(s: &str, start: usize, at: usize) -> Result<(&str, Option<&str>), usize> {
    let info = &s[start..at];
    let (u, p) = match chars::find(info.as_bytes(), b':') {
        Some(c) => (&info[..c], Some(&info[c + 1..])),
        None => (info, None),
    };
    if u.is_empty() {
        return Err(start);
    }
    chars::check_escaped(u.as_bytes(), &USER).map_err(|e| e + start)?;
    if let Some(p) = p {
        let pstart = start + u.len() + 1;
        if !p.is_empty() {
            chars::check_escaped(p.as_bytes(), &PASSWORD).map_err(|e| e + pstart)?;
        }
    }
    Ok((u, p))
}

fn offsets(s: &str, sep: u8) -> impl Iterator<Item = (usize, &str)> {
    let mut off = 0;
    s.split(sep as char).map(move |p| {
        let o = off;
        off += p.len() + 1;
        (o, p)
    })
}

pub(crate) fn parse_port(digits: &str) -> Option<u16> {
    if digits.is_empty() || digits.len() > 5 {
        return None;
    }
    // At most five digits: no overflow in u32.
    let mut v = 0u32;
    for c in digits.bytes() {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    u16::try_from(v).ok()
}

/// Parses a `host` at `pos`, ending at `:` (outside brackets), any byte of
/// `stops`, or the end. Returns the host and the offset just past it.
pub(crate) fn parse_host<'a>(
    s: &'a str,
    pos: usize,
    stops: &[u8],
) -> Result<(Host<'a>, usize), usize> {
    let b = s.as_bytes();
    if b.get(pos) == Some(&b'[') {
        let close = chars::find(&b[pos..], b']').ok_or(pos)? + pos;
        let ip = parse_ipv6(&s[pos + 1..close]).ok_or(pos + 1)?;
        return Ok((Host::V6(ip), close + 1));
    }
    // A dotted quad (Via sent-by, a gateway's Contact) is read once: its
    // digits and dots are the whole host when a stop, `:` or the end
    // follows them.
    if b.get(pos).is_some_and(u8::is_ascii_digit) {
        let (ip, len) = ipv4_prefix(&b[pos..]);
        let end = pos + len;
        if let Some(ip) = ip {
            if end == b.len() || b[end] == b':' || stops.contains(&b[end]) {
                return Ok((Host::V4(ip), end));
            }
        }
    }
    // One pass delimits the host and classifies it: it runs while the
    // bytes are host characters (alphanumerics, `-`, `.`, never stops),
    // gathering their class flags and checking each hostname label at its
    // dot. A host that ends on a stop (or `:`) and passes is returned
    // without a second look at its letters (a dotted quad is read once more
    // for its octets); anything else falls back to `parse_host_text`,
    // which names the fault.
    let mut end = pos;
    let mut seen = 0;
    let (mut label, mut last_label, mut labels_ok) = (pos, pos, true);
    while let Some(&c) = b.get(end) {
        let f = class_of(c);
        if f & cls::HOST == 0 {
            break;
        }
        seen |= f;
        if f & cls::DOT != 0 {
            labels_ok &= end != label && b[label] != b'-' && b[end - 1] != b'-';
            (last_label, label) = (label, end + 1);
        }
        end += 1;
    }
    let stopped = end == b.len() || b[end] == b':' || stops.contains(&b[end]);
    if stopped && end > pos {
        if seen & (cls::ALPHA | cls::DASH) == 0 {
            let ip = parse_ipv4(&b[pos..end]).ok_or(pos)?;
            return Ok((Host::V4(ip), end));
        }
        // hostname = *( domainlabel "." ) toplabel [ "." ]: with a final
        // dot, the top label is the one that dot closed (checked there).
        let top_ok = if b[end - 1] == b'.' {
            class_of(b[last_label]) & cls::ALPHA != 0
        } else {
            label < end && class_of(b[label]) & cls::ALPHA != 0 && b[end - 1] != b'-'
        };
        if labels_ok && top_ok {
            return Ok((Host::Domain(&s[pos..end]), end));
        }
    }
    if !stopped {
        end = b[end..]
            .iter()
            .position(|c| *c == b':' || stops.contains(c))
            .map_or(b.len(), |e| e + end);
    }
    let text = &s[pos..end];
    Ok((parse_host_text(text).map_err(|e| e + pos)?, end))
}

/// `hostname / IPv4address` (the bracket form is handled by the caller),
/// checked in one pass.
pub(crate) fn parse_host_text(text: &str) -> Result<Host<'_>, usize> {
    let b = text.as_bytes();
    let Some(&first) = b.first() else {
        return Err(0);
    };
    // Only a text starting with a digit or dot can be all digits and dots.
    if (first.is_ascii_digit() || first == b'.')
        && b.iter().all(|c| c.is_ascii_digit() || *c == b'.')
    {
        return parse_ipv4(b).map(Host::V4).ok_or(0);
    }
    // hostname = *( domainlabel "." ) toplabel [ "." ]; labels are
    // alphanumerics and inner hyphens, and the toplabel starts with a
    // letter (RFC 3261 §25.1).
    let body = b.strip_suffix(b".").unwrap_or(b);
    let bad_label =
        |label: usize, end: usize| end == label || body[label] == b'-' || body[end - 1] == b'-';
    let mut label = 0;
    for (i, &c) in body.iter().enumerate() {
        if c == b'.' {
            if bad_label(label, i) {
                return Err(label);
            }
            label = i + 1;
        } else if !HOST_CHAR[c as usize] {
            return Err(i);
        }
    }
    if bad_label(label, body.len()) || !body[label].is_ascii_alphabetic() {
        return Err(label);
    }
    Ok(Host::Domain(text))
}

/// A bare IPv4 or IPv6 address (Via `received`, RFC 5118 §4.5).
pub(crate) fn parse_ip_text(v: &str) -> Option<IpAddr> {
    match parse_ipv4(v.as_bytes()) {
        Some(a) => Some(IpAddr::V4(a)),
        None if v.contains(':') => parse_ipv6(v).map(IpAddr::V6),
        None => None,
    }
}

/// RFC 3261 `IPv6address`: RFC 4291 text, plus the one form its ABNF admits
/// by accident, `::` then `:` then an IPv4 tail (`2001:db8:::192.0.2.1`),
/// which RFC 5118 §4.10 says "an implementation must tolerate". Read as
/// `::`; any other extra colon stays an error. No allocation.
pub(crate) fn parse_ipv6(text: &str) -> Option<Ipv6Addr> {
    if let Ok(ip) = text.parse() {
        return Some(ip);
    }
    let b = text.as_bytes();
    let at = b.windows(3).position(|w| w == b":::")?;
    // The dotted quad must follow at once and end the text, which also
    // refuses `::::` and a second `:::`.
    let tail = &b[at + 3..];
    parse_ipv4(tail)?;
    // Longer than any RFC 4291 text plus the extra colon: refuse.
    let mut buf = [0u8; 48];
    let n = b.len() - 1;
    if n > buf.len() {
        return None;
    }
    buf[..at + 2].copy_from_slice(&b[..at + 2]);
    buf[at + 2..n].copy_from_slice(tail);
    std::str::from_utf8(&buf[..n]).ok()?.parse().ok()
}

/// Dotted-quad IPv4 with no leading zeros (the same forms `Ipv4Addr`
/// accepts).
fn parse_ipv4(b: &[u8]) -> Option<Ipv4Addr> {
    let (ip, len) = ipv4_prefix(b);
    ip.filter(|_| len == b.len())
}

/// Reads a dotted quad at the start of `b`. With the address, returns the
/// length of the run of digits and dots that starts `b` (the quad is all
/// of it); without, a length of no meaning.
fn ipv4_prefix(b: &[u8]) -> (Option<Ipv4Addr>, usize) {
    // Octet by octet: at most three digits each, then a dot. Any other
    // shape is refused as soon as it shows (the length only matters with
    // an address). About half the instructions of a byte-at-a-time state
    // machine on the dotted quads of every Via (measured).
    let digit = |i: usize| b.get(i).map(|c| c.wrapping_sub(b'0')).filter(|d| *d < 10);
    let mut octets = [0u8; 4];
    let mut i = 0;
    for (k, octet) in octets.iter_mut().enumerate() {
        if k > 0 {
            if b.get(i) != Some(&b'.') {
                return (None, i);
            }
            i += 1;
        }
        let Some(d0) = digit(i) else {
            return (None, i);
        };
        let mut v = u32::from(d0);
        i += 1;
        // No leading zero: a `0` octet is the digit alone.
        if d0 != 0 {
            for _ in 0..2 {
                match digit(i) {
                    Some(d) => v = v * 10 + u32::from(d),
                    None => break,
                }
                i += 1;
            }
        }
        if v > 255 {
            return (None, i);
        }
        *octet = v as u8;
    }
    // A fifth octet, a fourth digit or a leading zero continues the run:
    // not a dotted quad.
    if matches!(b.get(i), Some(b'0'..=b'9' | b'.')) {
        return (None, i);
    }
    (Some(Ipv4Addr::from(octets)), i)
}

/// `tel:` per RFC 3966: a global (`+` digits) or local number with visual
/// separators, then parameters.
fn parse_tel(s: &str, start: usize) -> Result<TelUri<'_>, usize> {
    let b = s.as_bytes();
    let end = chars::find(&b[start..], b';').map_or(b.len(), |e| e + start);
    let number = &s[start..end];
    let digits = number.strip_prefix('+').unwrap_or(number);
    let ok_char =
        |c: u8| c.is_ascii_hexdigit() || matches!(c, b'-' | b'.' | b'(' | b')' | b'*' | b'#');
    if digits.is_empty()
        || !digits
            .bytes()
            .any(|c| c.is_ascii_hexdigit() || c == b'*' || c == b'#')
    {
        return Err(start);
    }
    if let Some(bad) = digits.bytes().position(|c| !ok_char(c)) {
        return Err(end - digits.len() + bad);
    }
    let mut pos = end;
    while pos < b.len() {
        // b[pos] == ';'
        pos += 1;
        let pend = chars::find(&b[pos..], b';').map_or(b.len(), |e| e + pos);
        let p = &b[pos..pend];
        let name_len = chars::find(p, b'=').unwrap_or(p.len());
        if name_len == 0 || !p[..name_len].iter().all(|c| TOKEN[*c as usize]) {
            return Err(pos);
        }
        if name_len < p.len() {
            chars::check_escaped(&p[name_len + 1..], &PARAM).map_err(|e| e + pos + name_len + 1)?;
        }
        pos = pend;
    }
    Ok(TelUri {
        raw: s,
        number,
        params: Params(&s[end..]),
    })
}

/// Decodes `%HH` escapes (RFC 3261 §19.1.4 compares URIs unescaped).
pub fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sip(s: &str) -> SipUri<'_> {
        match Uri::parse(s) {
            Ok(Uri::Sip(u)) => u,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn sip_uri_parts() {
        let u = sip("sip:alice:secret@atlanta.example.com:5061;transport=tcp;lr?subject=x&h=");
        assert_eq!(u.user, Some("alice"));
        assert_eq!(u.password, Some("secret"));
        assert_eq!(u.host, Host::Domain("atlanta.example.com"));
        assert_eq!(u.port, Some(5061));
        assert_eq!(u.params.get("TRANSPORT"), Some(Some("tcp")));
        assert!(u.params.has("lr"));
        assert_eq!(u.headers, Some("subject=x&h="));
    }

    #[test]
    fn ipv6_references_rfc5118() {
        let u = sip("sips:[2001:db8::10]:5070");
        assert!(u.secure);
        assert_eq!(u.host, Host::V6("2001:db8::10".parse().unwrap()));
        assert_eq!(u.port, Some(5070));
        let u = sip("sip:bob@[2001:db8::192.0.2.1];maddr=[2001:db8::20]");
        assert_eq!(u.host.ip(), Some("2001:db8::c000:201".parse().unwrap()));
        assert_eq!(u.params.get("maddr"), Some(Some("[2001:db8::20]")));
        assert!(Uri::parse("sip:[2001:db8::10").is_err());
        assert!(Uri::parse("sip:2001:db8::10").is_err());
    }

    #[test]
    fn three_colon_ipv6_reference_rfc5118_4_10() {
        // Both constructs name the same address (RFC 5118 §4.10).
        let want: Ipv6Addr = "2001:db8::c000:201".parse().unwrap();
        for ok in [
            "sip:user@[2001:db8::192.0.2.1]",
            "sip:user@[2001:db8:::192.0.2.1]",
        ] {
            assert_eq!(sip(ok).host, Host::V6(want), "{ok}");
        }
        let u = sip("sip:[2001:db8:::192.0.2.1]:5070;transport=udp");
        assert_eq!((u.host, u.port), (Host::V6(want), Some(5070)));
        assert_eq!(
            sip("sip:[:::192.0.2.1]").host,
            Host::V6("::c000:201".parse().unwrap())
        );
        // Only `::` + `:` + IPv4 tail comes from RFC 3261's ABNF.
        for bad in [
            "sip:[2001:db8:::1]",
            "sip:[2001:db8::::192.0.2.1]",
            "sip:[2001:db8:::192.0.2]",
            "sip:[2001:db8:::192.0.2.300]",
            "sip:[2001:db8:::1:192.0.2.1]",
            "sip:[2001:::db8::192.0.2.1]",
            "sip:[2001:db8:::192.0.2.1:1]",
            "sip:[2001:0:0:0:0:0:0:::192.0.2.1]",
            "sip:[:::]",
            "sip:[2001:db8:::192.0.2.1",
        ] {
            assert!(Uri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn escaped_user_parts() {
        let u = sip("sip:%61lice@atlanta.com;transport=TCP");
        assert_eq!(unescape(u.user.unwrap()), b"alice");
        let u = sip("sip:null-%00-null@example.com");
        assert_eq!(unescape(u.user.unwrap()), b"null-\0-null");
        let u = sip("sip:user;par=u%40example.net@example.com");
        assert_eq!(u.user, Some("user;par=u%40example.net"));
        assert!(Uri::parse("sip:us%zer@example.com").is_err());
    }

    #[test]
    fn tel_and_other_schemes() {
        match Uri::parse("tel:+1-201-555-0123;phone-context=example.com") {
            Ok(Uri::Tel(t)) => {
                assert_eq!(t.number, "+1-201-555-0123");
                assert_eq!(t.params.get("phone-context"), Some(Some("example.com")));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            Uri::parse("nobodyKnowsThisScheme:totallyopaquecontent"),
            Ok(Uri::Other { .. })
        ));
        assert!(Uri::parse("<sip:a@b>").is_err());
        assert!(Uri::parse("sip:a@b c").is_err());
        assert!(Uri::parse("tel:").is_err());
    }

    #[test]
    fn bad_hosts_and_ports() {
        assert!(Uri::parse("sip:a@-bad.com").is_err());
        assert!(Uri::parse("sip:a@192.0.2.300").is_err());
        assert!(Uri::parse("sip:a@host:70000").is_err());
        assert!(Uri::parse("sip:a@host:").is_err());
        assert!(Uri::parse("sip:@host").is_err());
        assert!(Uri::parse("sip:a@host;=x").is_err());
        assert_eq!(
            sip("sip:host.example.com.").host,
            Host::Domain("host.example.com.")
        );
    }

    #[test]
    fn params_iterate_with_quotes() {
        let p = Params(";a=1 ; b ;c=\"x;y\"");
        let v: Vec<_> = p.iter().collect();
        assert_eq!(
            v,
            vec![("a", Some("1")), ("b", None), ("c", Some("\"x;y\""))]
        );
    }
}

#[cfg(test)]
mod host_tests {
    use super::*;

    /// Dotted quads and near misses, for both tests below.
    const QUADS: &[&str] = &[
        "0.0.0.0",
        "192.0.2.1",
        "255.255.255.255",
        "256.1.1.1",
        "01.2.3.4",
        "1.2.3",
        "1.2.3.4.5",
        "1..2.3",
        "1.2.3.4.",
        "",
        "00.0.0.0",
        "1.2.3.04",
    ];

    #[test]
    fn ipv4_parser_agrees_with_std() {
        for t in QUADS {
            assert_eq!(parse_ipv4(t.as_bytes()), t.parse().ok(), "{t:?}");
        }
        // Every string of up to 8 bytes over digits, dots and one other
        // byte: the address agrees with std, and its length is the run of
        // digits and dots (what `parse_host` relies on).
        let alphabet = b"0125.9x";
        let mut buf = Vec::new();
        for len in 0..=8u32 {
            for mut n in 0..alphabet.len().pow(len) {
                buf.clear();
                for _ in 0..len {
                    buf.push(alphabet[n % alphabet.len()]);
                    n /= alphabet.len();
                }
                let (ip, run) = ipv4_prefix(&buf);
                let want_run = buf
                    .iter()
                    .position(|c| !(c.is_ascii_digit() || *c == b'.'))
                    .unwrap_or(buf.len());
                let want = std::str::from_utf8(&buf[..want_run]).unwrap().parse().ok();
                assert_eq!(ip, want, "{:?}", std::str::from_utf8(&buf));
                if ip.is_some() {
                    assert_eq!(run, want_run, "{:?}", std::str::from_utf8(&buf));
                }
            }
        }
        for t in [
            "255.255.255.255",
            "256.0.0.0",
            "1.2.3.255",
            "1.2.3.256",
            "100.200.250.199",
        ] {
            assert_eq!(parse_ipv4(t.as_bytes()), t.parse().ok(), "{t:?}");
        }
    }

    #[test]
    fn fast_paths_agree_with_the_checked_parsers() {
        for t in [
            "a",
            "a.",
            "a.b",
            "a..b",
            "-a",
            "a-",
            "a-.b",
            "a.-b",
            "1a",
            "a.1b",
            "x-y.z",
            ".",
            "1.2.3.1000",
            "99999999999.1.1.1",
            "1.2.3.4a",
            "a.b-",
            "a.b.",
            "a-b.c-d.e",
            "1.2.3.4:5",
        ]
        .iter()
        .chain(QUADS)
        {
            let want = parse_host_text(t).ok();
            let got = parse_host(t, 0, b";")
                .ok()
                .filter(|(_, end)| *end == t.len());
            assert_eq!(got.map(|(h, _)| h), want, "{t:?}");
        }
        for p in [
            "0", "5060", "65535", "65536", "99999", "00080", "123456", "", "1a",
        ] {
            let want = (!p.is_empty() && p.len() <= 5 && p.bytes().all(|c| c.is_ascii_digit()))
                .then(|| p.parse::<u16>().ok())
                .flatten();
            assert_eq!(parse_port(p), want, "{p:?}");
        }
    }

    #[test]
    fn hostnames() {
        for ok in [
            "a",
            "example.com",
            "example.com.",
            "a-b.c1",
            "1a.com",
            "x.y.z",
        ] {
            assert!(parse_host_text(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "a..b",
            "-a.com",
            "a-.com",
            "a_b.com",
            "a.com..",
            "a b",
            "host.9com",
            "192.0.2.1a",
        ] {
            assert!(parse_host_text(bad).is_err(), "{bad}");
        }
    }
}

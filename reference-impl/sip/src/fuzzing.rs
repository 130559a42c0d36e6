//! Fuzz entry points, shared by the cargo-fuzz shims in `fuzz/` and by the
//! regression replay in `cargo test`. Each asserts invariants, so a crash
//! means a real defect, not just a panic.
//!
//! - [`sip_parse`]: raw bytes; re-parse and proxy-edit invariants.
//! - [`sip_structured`]: an arbitrary message model, written and parsed;
//!   every modelled field comes back equal.
//! - [`sip_stream`]: messages and a chunking; chunked stream framing equals
//!   whole-buffer framing.
//! - `sip_diff` (feature `rsip-oracle`): raw bytes; rsip 0.4 agrees on the
//!   core fields.
//! - [`sdp_roundtrip`]: raw SDP, then an arbitrary SDP model; byte-identical
//!   pass-through and token-only edits.
//!
//! The SBE's own target, `sbe_sequence`, lives with the SBE
//! (`speermint_sbe::fuzzing`).
//!
//! The structured targets read their input through
//! [`arbitrary::Unstructured`]: every byte string is a valid (if short)
//! model, so libFuzzer mutates models rather than syntax. Work per input is
//! bounded by fixed caps on list lengths, message sizes and operation counts.

use crate::sdp::{AddrType, LineEnding, Sdp, SdpLimits};
use crate::{
    Editor, Framing, HeaderName, Host, Limits, Message, MessageBuilder, NameAddr, Params,
    ParseErrorKind, StartLine, Transport, Uri, Via, frame,
};
use arbitrary::{Arbitrary, Unstructured};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Raw bytes into the parser under default and tight limits, as a datagram
/// and as a stream. Invariants: no panic; error offsets lie within the
/// input; an accepted message re-parses to the same result; a proxy-style
/// edit of an accepted message is itself accepted.
pub fn sip_parse(data: &[u8]) {
    let tight = Limits {
        max_message_size: 2048,
        max_headers: 16,
        max_line_length: 256,
    };
    for limits in [Limits::default(), tight] {
        match Message::parse_with(data, &limits, Transport::Datagram) {
            Ok(msg) => check_accepted(&msg, &limits),
            Err(e) => assert!(
                e.offset <= data.len(),
                "offset {} past input {}",
                e.offset,
                data.len()
            ),
        }
        match frame(data, &limits) {
            Ok(Framing::Complete { start, end }) => {
                assert!(start <= end && end <= data.len());
                if let Ok(msg) = Message::parse_with(&data[start..end], &limits, Transport::Stream)
                {
                    assert_eq!(
                        msg.as_bytes().len(),
                        end - start,
                        "stream framing disagrees with Content-Length"
                    );
                }
            }
            Ok(Framing::KeepAlive { len }) => assert!(len <= data.len()),
            Ok(Framing::Incomplete { .. }) => {}
            Err(e) => assert!(e.offset <= data.len() + limits.max_message_size),
        }
    }
}

fn check_accepted(msg: &Message<'_>, limits: &Limits) {
    let again = Message::parse_with(msg.as_bytes(), limits, Transport::Datagram)
        .expect("an accepted message must re-parse");
    assert_eq!(again.core(), msg.core());
    assert_eq!(again.headers().len(), msg.headers().len());
    assert_eq!(again.body(), msg.body());
    // Exercise every typed view.
    let _ = msg.vias().count();
    let _ = msg.name_addrs(HeaderName::Route).count();
    let _ = msg.name_addrs(HeaderName::Contact).count();
    // A forwarding edit keeps the message valid.
    let mut ed = Editor::new(msg);
    ed.prepend("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKfuzz;rport")
        .set(HeaderName::MaxForwards, "69")
        .remove_first_value(HeaderName::Route);
    let edited = ed.finish();
    if edited.len() <= limits.max_message_size {
        let e = Message::parse_with(&edited, limits, Transport::Datagram);
        if let Ok(e) = &e {
            assert_eq!(e.body(), msg.body());
            assert_eq!(e.core().via.branch(), Some("z9hG4bKfuzz"));
        } else if msg.headers().len() + 2 <= limits.max_headers {
            // The edit adds up to two fields (Via, Max-Forwards): only
            // beyond that may the header-count limit refuse it.
            panic!("edited message refused: {:?}", e.err());
        }
    }
}

// ---------------------------------------------------------------------------
// Generators: character classes of RFC 3261 §25.1, drawn from `Unstructured`.
// When the input runs out, `Unstructured` yields the smallest choice, so
// every generator terminates and short inputs give small models.
// ---------------------------------------------------------------------------

type Gen<T> = arbitrary::Result<T>;

const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const ALPHA: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const TOKEN_MARKS: &[u8] = b"-.!%*_+`'~";
const WORD_MARKS: &[u8] = b"-.!%*_+`'~()<>:\\\"/[]?{}";
const USER_MARKS: &[u8] = b"-_.!~*'()&=+$,;?/";
const PARAM_MARKS: &[u8] = b"-_.!~*'()[]/:&+$";

/// One character of `ALNUM` plus `marks`.
fn class_char(u: &mut Unstructured<'_>, marks: &[u8]) -> Gen<char> {
    let i = u.choose_index(ALNUM.len() + marks.len())?;
    Ok(char::from(if i < ALNUM.len() {
        ALNUM[i]
    } else {
        marks[i - ALNUM.len()]
    }))
}

/// `min..=max` characters of `ALNUM` plus `marks`.
fn string_of(u: &mut Unstructured<'_>, marks: &[u8], min: usize, max: usize) -> Gen<String> {
    let n = u.int_in_range(min..=max)?;
    (0..n).map(|_| class_char(u, marks)).collect()
}

fn token(u: &mut Unstructured<'_>, min: usize, max: usize) -> Gen<String> {
    string_of(u, TOKEN_MARKS, min, max)
}

/// `1*(class / escaped)`: class characters and `%HH` escapes.
fn escaped(u: &mut Unstructured<'_>, marks: &[u8], max: usize) -> Gen<String> {
    let n = u.int_in_range(1..=max)?;
    let mut s = String::new();
    for _ in 0..n {
        if u.ratio(1u8, 5)? {
            let _ = write!(s, "%{:02X}", u.arbitrary::<u8>()?);
        } else {
            s.push(class_char(u, marks)?);
        }
    }
    Ok(s)
}

fn alpha(u: &mut Unstructured<'_>) -> Gen<char> {
    Ok(char::from(*u.choose(ALPHA)?))
}

/// `alphanum [*(alphanum / "-") alphanum]`, at most 8 characters.
fn label(u: &mut Unstructured<'_>, first: char) -> Gen<String> {
    let mut s = String::from(first);
    if u.arbitrary()? {
        s.push_str(&string_of(u, b"-", 0, 6)?);
        s.push(class_char(u, b"")?);
    }
    Ok(s)
}

/// A hostname: up to three labels, a top label starting with a letter,
/// maybe a trailing dot. Never an IPv4 literal.
fn domain(u: &mut Unstructured<'_>) -> Gen<String> {
    let n = u.int_in_range(0..=3)?;
    let mut labels = Vec::with_capacity(n + 1);
    for _ in 0..n {
        let c = class_char(u, b"")?;
        labels.push(label(u, c)?);
    }
    let c = alpha(u)?;
    labels.push(label(u, c)?);
    let mut d = labels.join(".");
    if u.ratio(1u8, 4)? {
        d.push('.');
    }
    Ok(d)
}

fn ipv4(u: &mut Unstructured<'_>) -> Gen<Ipv4Addr> {
    Ok(Ipv4Addr::from(u.arbitrary::<[u8; 4]>()?))
}

/// IPv6 addresses with runs of zero groups (so `::` compression shows up),
/// IPv4-mapped ones, and fully random ones.
fn ipv6(u: &mut Unstructured<'_>) -> Gen<Ipv6Addr> {
    Ok(match u.int_in_range(0..=2u8)? {
        0 => {
            let mut g = [0u16; 8];
            for x in &mut g {
                if u.ratio(1u8, 3)? {
                    *x = u.arbitrary()?;
                }
            }
            Ipv6Addr::from(g)
        }
        1 => ipv4(u)?.to_ipv6_mapped(),
        _ => Ipv6Addr::from(u.arbitrary::<u128>()?),
    })
}

fn ip(u: &mut Unstructured<'_>) -> Gen<IpAddr> {
    Ok(if u.arbitrary()? {
        IpAddr::V6(ipv6(u)?)
    } else {
        IpAddr::V4(ipv4(u)?)
    })
}

/// Fisher-Yates with choices from `u`.
fn shuffle<T>(u: &mut Unstructured<'_>, v: &mut [T]) -> Gen<()> {
    for i in (1..v.len()).rev() {
        let j = u.int_in_range(0..=i)?;
        v.swap(i, j);
    }
    Ok(())
}

/// Splits `items` into consecutive non-empty groups (one header line each).
fn group<T>(u: &mut Unstructured<'_>, items: Vec<T>) -> Gen<Vec<Vec<T>>> {
    let mut out: Vec<Vec<T>> = Vec::new();
    for item in items {
        let join = u.arbitrary::<bool>()?;
        match out.last_mut() {
            Some(last) if join => last.push(item),
            _ => out.push(vec![item]),
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// The SIP message model of `sip_structured` (and the messages of `sip_stream`).
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum MHost {
    Domain(String),
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

impl MHost {
    fn draw(u: &mut Unstructured<'_>) -> Gen<Self> {
        Ok(match u.int_in_range(0..=2u8)? {
            0 => MHost::Domain(domain(u)?),
            1 => MHost::V4(ipv4(u)?),
            _ => MHost::V6(ipv6(u)?),
        })
    }

    fn text(&self) -> String {
        match self {
            MHost::Domain(d) => d.clone(),
            MHost::V4(a) => a.to_string(),
            MHost::V6(a) => format!("[{a}]"),
        }
    }

    fn check(&self, got: &Host<'_>) {
        let want = match self {
            MHost::Domain(d) => Host::Domain(d),
            MHost::V4(a) => Host::V4(*a),
            MHost::V6(a) => Host::V6(*a),
        };
        assert_eq!(*got, want);
    }
}

type MParams = Vec<(String, Option<String>)>;

fn params_text(p: &MParams) -> String {
    let mut s = String::new();
    for (n, v) in p {
        s.push(';');
        s.push_str(n);
        if let Some(v) = v {
            s.push('=');
            s.push_str(v);
        }
    }
    s
}

fn check_params(p: &Params<'_>, want: &MParams) {
    let got: Vec<(&str, Option<&str>)> = p.iter().collect();
    let want: Vec<(&str, Option<&str>)> = want
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_deref()))
        .collect();
    assert_eq!(got, want, "parameters");
}

/// `0..=max` URI parameters `name[=value]`.
fn uri_params(u: &mut Unstructured<'_>, max: usize) -> Gen<MParams> {
    let n = u.int_in_range(0..=max)?;
    let mut p = Vec::with_capacity(n);
    for _ in 0..n {
        let mut name = String::from(alpha(u)?);
        name.push_str(&string_of(u, b"-", 0, 7)?);
        let value = if u.arbitrary()? {
            Some(escaped(u, PARAM_MARKS, 8)?)
        } else {
            None
        };
        p.push((name, value));
    }
    Ok(p)
}

#[derive(Debug, Clone)]
enum MUri {
    Sip {
        secure: bool,
        user: Option<String>,
        host: MHost,
        port: Option<u16>,
        params: MParams,
    },
    Tel {
        number: String,
        params: MParams,
    },
}

impl MUri {
    fn draw(u: &mut Unstructured<'_>) -> Gen<Self> {
        if u.ratio(3u8, 4)? {
            Ok(MUri::Sip {
                secure: u.arbitrary()?,
                user: if u.arbitrary()? {
                    Some(escaped(u, USER_MARKS, 12)?)
                } else {
                    None
                },
                host: MHost::draw(u)?,
                port: u.arbitrary()?,
                params: uri_params(u, 3)?,
            })
        } else {
            Self::draw_tel(u)
        }
    }

    /// `+CC-NNNN` global numbers or local digit strings with visual
    /// separators (RFC 3966), with `phone-context`, `ext` or `x-` parameters.
    fn draw_tel(u: &mut Unstructured<'_>) -> Gen<Self> {
        let mut number = String::new();
        if u.arbitrary()? {
            number.push('+');
            number.push(char::from(u.int_in_range(b'1'..=b'9')?));
            for _ in 0..u.int_in_range(0..=2)? {
                number.push(char::from(u.int_in_range(b'0'..=b'9')?));
            }
            for _ in 0..u.int_in_range(0..=3)? {
                number.push('-');
                for _ in 0..u.int_in_range(1..=4)? {
                    number.push(char::from(u.int_in_range(b'0'..=b'9')?));
                }
            }
        } else {
            for _ in 0..u.int_in_range(1..=3)? {
                number.push(char::from(*u.choose(b"0123456789ABCDEF*#")?));
            }
            for _ in 0..u.int_in_range(0..=2)? {
                number.push(char::from(*u.choose(b"-.")?));
                for _ in 0..u.int_in_range(1..=4)? {
                    number.push(char::from(*u.choose(b"0123456789*#")?));
                }
            }
        }
        let mut params = Vec::new();
        for _ in 0..u.int_in_range(0..=2)? {
            let name = match u.int_in_range(0..=2u8)? {
                0 => "phone-context".to_owned(),
                1 => "ext".to_owned(),
                _ => {
                    let mut n = String::from("x-");
                    for _ in 0..u.int_in_range(1..=5)? {
                        n.push(char::from(u.int_in_range(b'a'..=b'z')?));
                    }
                    n
                }
            };
            let value = if u.arbitrary()? {
                Some(escaped(u, PARAM_MARKS, 8)?)
            } else {
                None
            };
            params.push((name, value));
        }
        Ok(MUri::Tel { number, params })
    }

    fn text(&self) -> String {
        match self {
            MUri::Sip {
                secure,
                user,
                host,
                port,
                params,
            } => {
                let mut s = String::from(if *secure { "sips:" } else { "sip:" });
                if let Some(u) = user {
                    s.push_str(u);
                    s.push('@');
                }
                s.push_str(&host.text());
                if let Some(p) = port {
                    let _ = write!(s, ":{p}");
                }
                s + &params_text(params)
            }
            MUri::Tel { number, params } => format!("tel:{number}{}", params_text(params)),
        }
    }

    /// True when the URI can stand unbracketed in an addr-spec: no `;`,
    /// `,` or `?` anywhere (RFC 3261 §20.10).
    fn bare_ok(&self) -> bool {
        !self.text().contains([';', ',', '?'])
    }

    fn check(&self, got: &Uri<'_>) {
        assert_eq!(got.raw(), self.text());
        match (self, got) {
            (
                MUri::Sip {
                    secure,
                    user,
                    host,
                    port,
                    params,
                },
                Uri::Sip(u),
            ) => {
                assert_eq!(u.secure, *secure);
                assert_eq!(u.user, user.as_deref());
                assert_eq!(u.password, None);
                host.check(&u.host);
                assert_eq!(u.port, *port);
                check_params(&u.params, params);
                assert_eq!(u.headers, None);
            }
            (MUri::Tel { number, params }, Uri::Tel(t)) => {
                assert_eq!(t.number, number);
                check_params(&t.params, params);
            }
            (want, got) => panic!("URI kind: want {want:?}, got {got:?}"),
        }
    }
}

#[derive(Debug, Clone)]
struct MVia {
    transport: &'static str,
    host: MHost,
    port: Option<u16>,
    branch: String,
    rport: Option<Option<u16>>,
    received: Option<IpAddr>,
}

impl MVia {
    fn draw(u: &mut Unstructured<'_>) -> Gen<Self> {
        Ok(MVia {
            transport: u.choose(&["UDP", "TCP", "TLS", "SCTP", "WS", "WSS"])?,
            host: MHost::draw(u)?,
            port: u.arbitrary()?,
            branch: format!("z9hG4bK{}", token(u, 1, 16)?),
            rport: u.arbitrary()?,
            received: if u.arbitrary()? { Some(ip(u)?) } else { None },
        })
    }

    fn text(&self) -> String {
        let mut s = format!("SIP/2.0/{} {}", self.transport, self.host.text());
        if let Some(p) = self.port {
            let _ = write!(s, ":{p}");
        }
        let _ = write!(s, ";branch={}", self.branch);
        match self.rport {
            Some(Some(p)) => {
                let _ = write!(s, ";rport={p}");
            }
            Some(None) => s.push_str(";rport"),
            None => {}
        }
        if let Some(ip) = self.received {
            let _ = write!(s, ";received={ip}");
        }
        s
    }

    fn check(&self, got: &Via<'_>) {
        assert_eq!((got.protocol, got.version), ("SIP", "2.0"));
        assert_eq!(got.transport, self.transport);
        self.host.check(&got.host);
        assert_eq!(got.port, self.port);
        assert_eq!(got.branch(), Some(self.branch.as_str()));
        assert!(got.is_rfc3261_branch());
        assert_eq!(got.rport(), self.rport);
        let received = self.received.map(|ip| ip.to_string());
        assert_eq!(got.received(), received.as_deref());
        assert_eq!(got.received_ip(), self.received);
        assert_eq!(got.raw, self.text());
    }
}

/// A display name as written: a quoted-string with escaped quotes and
/// backslashes and non-ASCII text, or one to three tokens.
fn display(u: &mut Unstructured<'_>) -> Gen<String> {
    if u.arbitrary()? {
        let mut s = String::from('"');
        for _ in 0..u.int_in_range(0..=11)? {
            match u.int_in_range(0..=8u8)? {
                0 => s.push_str("\\\""),
                1 => s.push_str("\\\\"),
                2 => s.push(
                    char::from_u32(u.int_in_range(0xa0..=0x2fff)?)
                        .filter(|c| !c.is_control())
                        .unwrap_or('\u{e9}'),
                ),
                _ => {
                    // qdtext: SP, %x21, %x23-5B, %x5D-7E.
                    let c = u.int_in_range(0x20u8..=0x7e)?;
                    s.push(char::from(if c == b'"' || c == b'\\' { b'!' } else { c }));
                }
            }
        }
        s.push('"');
        Ok(s)
    } else {
        let n = u.int_in_range(1..=3)?;
        let words: Gen<Vec<String>> = (0..n).map(|_| token(u, 1, 8)).collect();
        Ok(words?.join(" "))
    }
}

/// Header parameters other than `tag`: token or quoted values.
fn header_params(u: &mut Unstructured<'_>) -> Gen<MParams> {
    let mut p = Vec::new();
    for _ in 0..u.int_in_range(0..=2)? {
        let mut name = token(u, 1, 8)?;
        if name.eq_ignore_ascii_case("tag") {
            name.push('x');
        }
        let value = match u.int_in_range(0..=2u8)? {
            0 => None,
            1 => Some(token(u, 1, 8)?),
            _ => {
                let n = u.int_in_range(0..=8)?;
                let inner: Gen<String> = (0..n)
                    .map(|_| Ok(char::from(*u.choose(b"abcdefghijklmnopqrstuvwxyz ;,=")?)))
                    .collect();
                Some(format!("\"{}\"", inner?))
            }
        };
        p.push((name, value));
    }
    Ok(p)
}

#[derive(Debug, Clone)]
struct MNameAddr {
    /// The display name exactly as written (quotes included when quoted).
    display: Option<String>,
    uri: MUri,
    bracketed: bool,
    tag: Option<String>,
    /// Parameters other than `tag`, after it.
    params: MParams,
}

impl MNameAddr {
    fn draw(u: &mut Unstructured<'_>, force_brackets: bool) -> Gen<Self> {
        let display = if u.arbitrary()? {
            Some(display(u)?)
        } else {
            None
        };
        let uri = MUri::draw(u)?;
        let bare: bool = u.arbitrary()?;
        let tag = if u.arbitrary()? {
            Some(token(u, 1, 12)?)
        } else {
            None
        };
        let params = header_params(u)?;
        let bracketed = force_brackets || display.is_some() || !bare || !uri.bare_ok();
        Ok(MNameAddr {
            display,
            uri,
            bracketed,
            tag,
            params,
        })
    }

    fn all_params(&self) -> MParams {
        let mut p: MParams = self
            .tag
            .iter()
            .map(|t| ("tag".to_owned(), Some(t.clone())))
            .collect();
        p.extend(self.params.iter().cloned());
        p
    }

    fn text(&self) -> String {
        let mut s = String::new();
        if let Some(d) = &self.display {
            s.push_str(d);
            s.push(' ');
        }
        if self.bracketed {
            let _ = write!(s, "<{}>", self.uri.text());
        } else {
            s.push_str(&self.uri.text());
        }
        s + &params_text(&self.all_params())
    }

    fn check(&self, got: &NameAddr<'_>) {
        assert_eq!(got.display, self.display.as_deref());
        self.uri.check(&got.uri);
        assert_eq!(got.bracketed, self.bracketed);
        assert_eq!(got.tag(), self.tag.as_deref());
        check_params(&got.params, &self.all_params());
    }
}

#[derive(Debug, Clone)]
enum MStart {
    Request { method: String, uri: MUri },
    Response { code: u16, reason: String },
}

const METHODS: [&str; 8] = [
    "INVITE", "OPTIONS", "BYE", "CANCEL", "ACK", "MESSAGE", "REGISTER", "PRACK",
];

fn method(u: &mut Unstructured<'_>) -> Gen<String> {
    if u.ratio(3u8, 4)? {
        Ok((*u.choose(&METHODS)?).to_owned())
    } else {
        token(u, 1, 10)
    }
}

/// A reason phrase: printable text without control characters (which
/// `MessageBuilder::response` would replace), non-ASCII included.
fn reason(u: &mut Unstructured<'_>) -> Gen<String> {
    let n = u.int_in_range(0..=24)?;
    let mut s = String::new();
    for _ in 0..n {
        let c = if u.ratio(1u8, 8)? {
            char::from_u32(u.int_in_range(0xa0..=0xd7ff)?).unwrap_or('~')
        } else {
            char::from(u.int_in_range(0x20u8..=0x7e)?)
        };
        s.push(if c.is_control() { '?' } else { c });
    }
    Ok(s)
}

/// One header line of the model.
#[derive(Debug, Clone)]
enum MLine {
    /// One or more Via values on one line, comma-separated.
    Via(Vec<MVia>),
    From(MNameAddr),
    To(MNameAddr),
    CallId(String),
    CSeq(u32, String),
    MaxForwards(u8),
    Contact(MNameAddr),
    Route(Vec<MNameAddr>),
    RecordRoute(Vec<MNameAddr>),
    Ext(String, String),
}

impl MLine {
    fn name(&self) -> &str {
        match self {
            MLine::Via(_) => "Via",
            MLine::From(_) => "From",
            MLine::To(_) => "To",
            MLine::CallId(_) => "Call-ID",
            MLine::CSeq(..) => "CSeq",
            MLine::MaxForwards(_) => "Max-Forwards",
            MLine::Contact(_) => "Contact",
            MLine::Route(_) => "Route",
            MLine::RecordRoute(_) => "Record-Route",
            MLine::Ext(n, _) => n,
        }
    }

    /// A known header name as canonical, lower-case, upper-case or compact
    /// form (RFC 3261 §7.3.3); extension names as generated.
    fn spelled(&self, how: u8) -> String {
        let name = self.name();
        if matches!(self, MLine::Ext(..)) {
            return name.to_owned();
        }
        let compact = match self {
            MLine::Via(_) => Some("v"),
            MLine::From(_) => Some("f"),
            MLine::To(_) => Some("t"),
            MLine::CallId(_) => Some("i"),
            MLine::Contact(_) => Some("m"),
            _ => None,
        };
        match how {
            1 => name.to_ascii_lowercase(),
            2 => name.to_ascii_uppercase(),
            3 => compact.unwrap_or(name).to_owned(),
            _ => name.to_owned(),
        }
    }

    fn value(&self) -> String {
        let list = |v: Vec<String>| v.join(", ");
        match self {
            MLine::Via(v) => list(v.iter().map(MVia::text).collect()),
            MLine::From(n) | MLine::To(n) | MLine::Contact(n) => n.text(),
            MLine::CallId(c) => c.clone(),
            MLine::CSeq(n, m) => format!("{n} {m}"),
            MLine::MaxForwards(n) => n.to_string(),
            MLine::Route(v) | MLine::RecordRoute(v) => {
                list(v.iter().map(MNameAddr::text).collect())
            }
            MLine::Ext(_, v) => v.clone(),
        }
    }
}

/// An extension header name the codec does not know.
fn ext_name(u: &mut Unstructured<'_>) -> Gen<String> {
    let n = token(u, 1, 16)?;
    Ok(
        if HeaderName::from_bytes(n.as_bytes()) == HeaderName::Other {
            n
        } else {
            format!("X-{n}")
        },
    )
}

/// An extension header value: any text without CR or LF.
fn ext_value(u: &mut Unstructured<'_>) -> Gen<String> {
    let n = u.int_in_range(0..=24)?;
    let mut s = String::new();
    for _ in 0..n {
        let c = if u.ratio(1u8, 6)? {
            u.arbitrary::<char>()?
        } else {
            char::from(u.int_in_range(0x20u8..=0x7e)?)
        };
        s.push(if c == '\r' || c == '\n' { ' ' } else { c });
    }
    Ok(s)
}

fn call_id(u: &mut Unstructured<'_>) -> Gen<String> {
    let mut c = string_of(u, WORD_MARKS, 1, 20)?;
    if u.arbitrary()? {
        c.push('@');
        c.push_str(&string_of(u, WORD_MARKS, 1, 12)?);
    }
    Ok(c)
}

/// A SIP message model: written with [`MessageBuilder`], it must parse back
/// to exactly these fields.
#[derive(Debug, Clone)]
struct SipModel {
    start: MStart,
    lines: Vec<MLine>,
    /// How each line's name is spelled (see [`MLine::spelled`]).
    spellings: Vec<u8>,
    /// Content-Type and body.
    body: Option<(&'static str, Vec<u8>)>,
}

impl<'a> Arbitrary<'a> for SipModel {
    fn arbitrary(u: &mut Unstructured<'a>) -> Gen<Self> {
        let start = if u.arbitrary()? {
            MStart::Request {
                method: method(u)?,
                uri: MUri::draw(u)?,
            }
        } else {
            MStart::Response {
                code: u.int_in_range(100..=699)?,
                reason: reason(u)?,
            }
        };
        let n = u.int_in_range(1..=3)?;
        let vias: Gen<Vec<MVia>> = (0..n).map(|_| MVia::draw(u)).collect();
        let mut lines: Vec<MLine> = group(u, vias?)?.into_iter().map(MLine::Via).collect();
        lines.push(MLine::From(MNameAddr::draw(u, false)?));
        lines.push(MLine::To(MNameAddr::draw(u, false)?));
        lines.push(MLine::CallId(call_id(u)?));
        let seq = u.arbitrary()?;
        let cseq_method = match &start {
            MStart::Request { method, .. } => method.clone(),
            MStart::Response { .. } => method(u)?,
        };
        lines.push(MLine::CSeq(seq, cseq_method));
        if u.arbitrary()? {
            lines.push(MLine::MaxForwards(u.arbitrary()?));
        }
        if u.arbitrary()? {
            lines.push(MLine::Contact(MNameAddr::draw(u, false)?));
        }
        for routes in 0..2 {
            if u.arbitrary()? {
                let n = u.int_in_range(1..=3)?;
                let v: Gen<Vec<MNameAddr>> = (0..n).map(|_| MNameAddr::draw(u, true)).collect();
                for g in group(u, v?)? {
                    lines.push(if routes == 0 {
                        MLine::Route(g)
                    } else {
                        MLine::RecordRoute(g)
                    });
                }
            }
        }
        for _ in 0..u.int_in_range(0..=4)? {
            lines.push(MLine::Ext(ext_name(u)?, ext_value(u)?));
        }
        shuffle(u, &mut lines)?;
        let spellings: Gen<Vec<u8>> = lines.iter().map(|_| u.int_in_range(0..=3)).collect();
        let body = if u.arbitrary()? {
            let ct = *u.choose(&["application/sdp", "text/plain", "application/x-b"])?;
            let n = u.int_in_range(0..=64)?;
            Some((ct, u.bytes(n.min(u.len()))?.to_vec()))
        } else {
            None
        };
        Ok(SipModel {
            start,
            lines,
            spellings: spellings?,
            body,
        })
    }
}

impl SipModel {
    fn build(&self) -> Vec<u8> {
        let mut b = match &self.start {
            MStart::Request { method, uri } => MessageBuilder::request(method, &uri.text()),
            MStart::Response { code, reason } => MessageBuilder::response(*code, reason),
        };
        for (l, how) in self.lines.iter().zip(&self.spellings) {
            b = b.header(&l.spelled(*how), l.value());
        }
        if let Some((ct, body)) = &self.body {
            b = b.body(ct, body);
        }
        b.build()
    }

    fn all<'s, T: 's>(&'s self, f: impl Fn(&'s MLine) -> Option<&'s Vec<T>>) -> Vec<&'s T> {
        self.lines.iter().filter_map(f).flatten().collect()
    }

    fn find<'s, T>(&'s self, f: impl Fn(&'s MLine) -> Option<T>) -> Option<T> {
        self.lines.iter().find_map(f)
    }

    /// Asserts that `msg` carries every modelled field.
    fn check(&self, msg: &Message<'_>) {
        match (&self.start, msg.start_line()) {
            (MStart::Request { method, uri }, StartLine::Request { method: m, uri: u }) => {
                assert_eq!(m, method);
                uri.check(u);
            }
            (MStart::Response { code, reason }, StartLine::Response { code: c, reason: r }) => {
                assert_eq!(c, code);
                assert_eq!(r, reason);
            }
            (want, got) => panic!("start line: want {want:?}, got {got:?}"),
        }
        let core = msg.core();
        let vias = self.all(|l| match l {
            MLine::Via(v) => Some(v),
            _ => None,
        });
        let got: Vec<Via<'_>> = msg.vias().collect();
        assert_eq!(got.len(), vias.len(), "Via count");
        for (w, g) in vias.iter().zip(&got) {
            w.check(g);
        }
        vias[0].check(&core.via);
        let from = self.find(|l| match l {
            MLine::From(n) => Some(n),
            _ => None,
        });
        from.expect("modelled From").check(&core.from);
        let to = self.find(|l| match l {
            MLine::To(n) => Some(n),
            _ => None,
        });
        to.expect("modelled To").check(&core.to);
        let call_id = self.find(|l| match l {
            MLine::CallId(c) => Some(c.as_str()),
            _ => None,
        });
        assert_eq!(Some(core.call_id), call_id);
        let cseq = self.find(|l| match l {
            MLine::CSeq(n, m) => Some((*n, m.as_str())),
            _ => None,
        });
        assert_eq!(Some((core.cseq.seq, core.cseq.method)), cseq);
        let mf = self.find(|l| match l {
            MLine::MaxForwards(n) => Some(*n),
            _ => None,
        });
        assert_eq!(core.max_forwards, mf);
        let contacts: Vec<NameAddr<'_>> = msg.name_addrs(HeaderName::Contact).collect();
        let contact = self.find(|l| match l {
            MLine::Contact(n) => Some(n),
            _ => None,
        });
        assert_eq!(
            contacts.len(),
            usize::from(contact.is_some()),
            "Contact count"
        );
        if let Some(c) = contact {
            c.check(&contacts[0]);
        }
        for (name, want) in [
            (
                HeaderName::Route,
                self.all(|l| match l {
                    MLine::Route(v) => Some(v),
                    _ => None,
                }),
            ),
            (
                HeaderName::RecordRoute,
                self.all(|l| match l {
                    MLine::RecordRoute(v) => Some(v),
                    _ => None,
                }),
            ),
        ] {
            let got: Vec<NameAddr<'_>> = msg.name_addrs(name).collect();
            assert_eq!(got.len(), want.len(), "{name:?} count");
            for (w, g) in want.iter().zip(&got) {
                w.check(g);
            }
        }
        // Extension headers, in order, with their values trimmed of LWS.
        let want: Vec<(&str, &str)> = self
            .lines
            .iter()
            .filter_map(|l| match l {
                MLine::Ext(n, v) => Some((n.as_str(), v.trim_matches([' ', '\t']))),
                _ => None,
            })
            .collect();
        let got: Vec<(&str, &str)> = msg
            .headers()
            .iter()
            .filter(|h| h.name == HeaderName::Other)
            .map(|h| (h.name_raw, h.value_str().expect("UTF-8 extension value")))
            .collect();
        assert_eq!(got, want, "extension headers");
        for (n, _) in &want {
            let first = want.iter().find(|(m, _)| m.eq_ignore_ascii_case(n));
            assert_eq!(
                msg.header_by_name(n).and_then(|h| h.value_str()),
                first.map(|(_, v)| *v),
                "{n}"
            );
        }
        let body = self.body.as_ref().map_or(&[][..], |(_, b)| b);
        assert_eq!(msg.body(), body);
        assert_eq!(core.content_length, Some(body.len()));
        match &self.body {
            Some((ct, _)) => {
                let t = core.content_type.expect("Content-Type");
                assert_eq!(format!("{}/{}", t.media_type, t.subtype), *ct);
            }
            None => assert_eq!(core.content_type, None),
        }
        assert_eq!(msg.discarded(), 0);
    }
}

fn parse_or_panic(bytes: &[u8]) -> Message<'_> {
    match Message::parse(bytes) {
        Ok(m) => m,
        Err(e) => panic!(
            "{e} ({:?}) in\n{}",
            e.kind,
            String::from_utf8_lossy(bytes).escape_debug()
        ),
    }
}

/// A well-formed message drawn from `data` by the same model as
/// [`sip_structured`], for tests that mutate valid messages. `None` when
/// `data` runs out before a model is complete.
pub fn structured_message(data: &[u8]) -> Option<Vec<u8>> {
    SipModel::arbitrary(&mut Unstructured::new(data))
        .ok()
        .map(|m| m.build())
}

/// Model-based round trip. A message model (request or response; sip, sips
/// and tel Request-URIs with domain, IPv4 and IPv6 hosts; 1-3 Vias on one
/// or more lines with branch, rport and received; From/To/Contact with
/// quoted or token display names, tags and parameters, bracketed or bare;
/// Call-ID, CSeq, Max-Forwards, Route and Record-Route lists, extension
/// headers, header names in any case or compact form, shuffled; an optional
/// body) is drawn from `data`, written with [`MessageBuilder`] and parsed.
///
/// Invariants: the message parses; every modelled field comes back equal
/// (start line, every Via, From, To, Call-ID, CSeq, Max-Forwards, Contact,
/// Route, Record-Route, extension headers in order, body, Content-Length and
/// Content-Type); the parsed message writes back byte for byte, directly
/// and through an [`Editor`] with no changes; stream parsing and [`frame`]
/// agree on its length; folding any header line after its colon changes no
/// parsed value.
pub fn sip_structured(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(model) = SipModel::arbitrary(&mut u) else {
        return;
    };
    let bytes = model.build();
    let msg = parse_or_panic(&bytes);
    model.check(&msg);
    assert_eq!(msg.as_bytes(), &bytes[..], "parse then write");
    assert_eq!(Editor::new(&msg).finish(), bytes, "editor without changes");
    let stream = Message::parse_with(&bytes, &Limits::default(), Transport::Stream)
        .expect("stream parse of a built message");
    assert_eq!(stream.as_bytes().len(), bytes.len());
    assert_eq!(
        frame(&bytes, &Limits::default()),
        Ok(Framing::Complete {
            start: 0,
            end: bytes.len()
        })
    );
    // Fold one header line right after its colon: `Name:\r\n value`.
    let Ok(pick) = u.choose_index(msg.headers().len()) else {
        return;
    };
    let h = &msg.headers()[pick];
    let colon = h.offset + h.name_raw.len() + 1;
    let mut folded = bytes[..colon].to_vec();
    folded.extend_from_slice(b"\r\n");
    folded.extend_from_slice(&bytes[colon..]);
    let f = parse_or_panic(&folded);
    assert_eq!(f.start_line(), msg.start_line());
    assert_eq!(
        f.core(),
        msg.core(),
        "folding after the colon of {}",
        h.name_raw
    );
    let values = |m: &Message<'_>| -> Vec<(HeaderName, Vec<u8>)> {
        m.headers()
            .iter()
            .map(|h| (h.name, h.value.to_vec()))
            .collect()
    };
    assert_eq!(values(&f), values(&msg));
    assert!(f.vias().eq(msg.vias()));
    assert_eq!(f.body(), msg.body());
}

// ---------------------------------------------------------------------------
// Stream framing
// ---------------------------------------------------------------------------

/// Most bytes in one `sip_stream` stream, so that repeated framing of
/// partial buffers stays cheap.
const STREAM_MAX: usize = 16 * 1024;
/// Most chunks a stream is cut into; the last chunk takes the rest.
const STREAM_CHUNKS: usize = 64;

/// What a connection's reader did with a stream.
#[derive(Debug, PartialEq, Eq)]
struct Framed {
    /// The framed messages, in order, as their bytes.
    messages: Vec<Vec<u8>>,
    /// Where reading stopped: bytes left over, or the error that closed the
    /// connection.
    end: Result<Vec<u8>, ParseErrorKind>,
}

/// Frames whatever `buf` holds; consumed bytes leave `buf`.
fn frame_all(
    buf: &mut Vec<u8>,
    limits: &Limits,
    out: &mut Vec<Vec<u8>>,
) -> Result<(), ParseErrorKind> {
    loop {
        match frame(buf, limits).map_err(|e| e.kind)? {
            Framing::Complete { start, end } => {
                assert!(start <= end && end <= buf.len());
                out.push(buf[start..end].to_vec());
                buf.drain(..end);
            }
            Framing::KeepAlive { len } => {
                assert!(len > 0 && len <= buf.len(), "keep-alive of {len} bytes");
                buf.drain(..len);
            }
            Framing::Incomplete { min } => {
                if let Some(min) = min {
                    assert!(min > 0, "incomplete, but nothing missing");
                }
                return Ok(());
            }
        }
    }
}

/// A stream delivered in `chunks` (their lengths sum to the stream's).
fn read_stream(stream: &[u8], chunks: &[usize], limits: &Limits) -> Framed {
    let mut buf = Vec::new();
    let mut messages = Vec::new();
    let mut at = 0;
    for &n in chunks {
        buf.extend_from_slice(&stream[at..at + n]);
        at += n;
        if let Err(e) = frame_all(&mut buf, limits, &mut messages) {
            return Framed {
                messages,
                end: Err(e),
            };
        }
    }
    // A reader may consume CRLF keep-alives in front of a message it has
    // not seen yet; whole-buffer framing keeps them with that message.
    let mut rest = &buf[..];
    while let Some(r) = rest.strip_prefix(b"\r\n") {
        rest = r;
    }
    Framed {
        messages,
        end: Ok(rest.to_vec()),
    }
}

/// One piece of a generated stream.
#[derive(Debug)]
enum Segment {
    /// A well-formed message from the [`SipModel`] generator.
    Message(Vec<u8>),
    /// CRLF keep-alives (RFC 5626 §3.5.1: `CRLFCRLF` ping, `CRLF` pong).
    KeepAlive(&'static [u8]),
    /// Arbitrary bytes.
    Raw(Vec<u8>),
}

/// Stream framing (RFC 3261 §18.3). From `data`: a message-size limit, one
/// to four segments (generated messages, CRLF keep-alives, raw bytes) and a
/// chunking of their concatenation.
///
/// Invariants: feeding the stream chunk by chunk through [`frame`] yields
/// the same messages, byte for byte and in order, the same leftover bytes
/// and the same closing error as framing the whole buffer at once; every
/// `Incomplete { min }` names at least one missing byte. When the stream is
/// only generated messages within the size limit and keep-alives, the framed
/// messages are exactly the generated ones, nothing is left over, and each
/// parses with stream semantics to its full length.
pub fn sip_stream(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(limits) = stream_limits(&mut u) else {
        return;
    };
    let mut segments = Vec::new();
    let mut stream = Vec::new();
    let n = u.int_in_range(1..=4).unwrap_or(1);
    for _ in 0..n {
        let seg = match u.int_in_range(0..=5u8) {
            Ok(0) => match u
                .int_in_range(0..=256usize)
                .and_then(|n| u.bytes(n.min(u.len())))
            {
                Ok(b) => Segment::Raw(b.to_vec()),
                Err(_) => break,
            },
            Ok(1) => Segment::KeepAlive(if u.arbitrary().unwrap_or(false) {
                b"\r\n\r\n"
            } else {
                b"\r\n"
            }),
            Ok(_) => match SipModel::arbitrary(&mut u) {
                Ok(m) => Segment::Message(m.build()),
                Err(_) => break,
            },
            Err(_) => break,
        };
        let bytes: &[u8] = match &seg {
            Segment::Message(b) | Segment::Raw(b) => b,
            Segment::KeepAlive(b) => b,
        };
        if stream.len() + bytes.len() > STREAM_MAX {
            break;
        }
        stream.extend_from_slice(bytes);
        segments.push(seg);
    }
    let mut chunks = Vec::new();
    let mut left = stream.len();
    while left > 0 && chunks.len() + 1 < STREAM_CHUNKS {
        let Ok(n) = u.int_in_range(1..=left) else {
            break;
        };
        chunks.push(n);
        left -= n;
    }
    if left > 0 {
        chunks.push(left);
    }

    let whole = read_stream(&stream, &[stream.len()], &limits);
    let chunked = read_stream(&stream, &chunks, &limits);
    if chunked != whole {
        let show = |f: &Framed| {
            let mut s = String::new();
            for m in &f.messages {
                let _ = writeln!(s, "  message {:?}", String::from_utf8_lossy(m));
            }
            let _ = write!(
                s,
                "  end {:?}",
                f.end.as_ref().map(|b| String::from_utf8_lossy(b))
            );
            s
        };
        panic!(
            "chunked framing ({chunks:?}) differs from whole-buffer framing\nchunked:\n{}\nwhole:\n{}",
            show(&chunked),
            show(&whole)
        );
    }

    let clean = segments.iter().all(|s| match s {
        Segment::Message(b) => b.len() <= limits.max_message_size,
        Segment::KeepAlive(_) => true,
        Segment::Raw(_) => false,
    });
    if clean {
        let want: Vec<&[u8]> = segments
            .iter()
            .filter_map(|s| match s {
                Segment::Message(b) => Some(&b[..]),
                _ => None,
            })
            .collect();
        let got: Vec<&[u8]> = whole.messages.iter().map(Vec::as_slice).collect();
        assert_eq!(got, want, "framed messages differ from the generated ones");
        assert_eq!(whole.end, Ok(Vec::new()), "bytes left over");
        for m in &whole.messages {
            let msg = Message::parse_with(m, &limits, Transport::Stream)
                .unwrap_or_else(|e| panic!("framed message refused: {e}"));
            assert_eq!(msg.as_bytes().len(), m.len());
        }
    }
}

/// Default limits with a message-size limit between 256 bytes and 64 KiB.
fn stream_limits(u: &mut Unstructured<'_>) -> Gen<Limits> {
    let max = match u.int_in_range(0..=3u8)? {
        0 => u.int_in_range(256..=4096)?,
        _ => Limits::default().max_message_size,
    };
    Ok(Limits {
        max_message_size: max,
        ..Limits::default()
    })
}

// ---------------------------------------------------------------------------
// Differential oracle: rsip 0.4
// ---------------------------------------------------------------------------

/// Why a message accepted by our codec is not compared with rsip 0.4.
#[cfg(feature = "rsip-oracle")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RsipGap {
    /// A header field continues on a folded line (RFC 3261 §7.3.1): rsip
    /// tokenises one field per CRLF and refuses the continuation.
    Folded,
    /// An IPv6 reference (RFC 5118) in the Request-URI or the top Via: rsip
    /// 0.4's host grammar has no `[...]` form.
    Ipv6,
    /// A method outside rsip's fixed list of 14 (it has no extension
    /// methods) or spelled in other than upper case (rsip matches method
    /// names case-insensitively; RFC 3261 §7.1 makes them case-sensitive).
    ExtensionMethod,
    /// Via or Call-ID in compact form (`v:`, `i:`): rsip does not know the
    /// compact names and files such fields as unknown headers.
    CompactName,
    /// A top Via that rsip reads only in part: LWS inside the sent-by
    /// (around the port's `:`), or parameters outside its
    /// `*(";" token ["=" token])` (LWS around `;` or `=`, quoted strings,
    /// IPv6 `received` or `maddr`, ...). rsip stops tokenising there and
    /// silently drops the remaining parameters, `branch` included.
    ViaLayout,
    /// rsip split start line, header fields and body differently because
    /// its Request-URI tokeniser ran across CRLFs up to a later ` SIP/2.0`
    /// CRLF, swallowing header lines into the URI (seen after parsing: its
    /// Request-URI holds a CR or LF). Any other difference in the number of
    /// header fields or where the body starts is a disagreement.
    HeadSplit,
}

/// Whether rsip 0.4 reads all of a Via: after `SIP/2.0/transport` and
/// LWS, a sent-by without LWS, then `*(";" token ["=" token])`; it ignores
/// whatever follows the first thing it cannot tokenise.
#[cfg(feature = "rsip-oracle")]
fn rsip_reads_whole_via(via: &Via<'_>) -> bool {
    let params = via.params.as_str();
    let Some(before) = via.raw.strip_suffix(params) else {
        return false;
    };
    let Some((_, sent_by)) = before.split_once([' ', '\t']) else {
        return false;
    };
    if sent_by
        .trim_start_matches([' ', '\t'])
        .contains([' ', '\t'])
    {
        return false;
    }
    let token = |c: &u8| c.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(c);
    let mut rest = params.as_bytes();
    while let Some(r) = rest.strip_prefix(b";") {
        rest = &r[r.iter().take_while(|c| token(c)).count()..];
        if let Some(r) = rest.strip_prefix(b"=") {
            rest = &r[r.iter().take_while(|c| token(c)).count()..];
        }
    }
    rest.is_empty()
}

/// The known, accepted differences between rsip 0.4 and our codec that
/// decide whether a message is compared at all. The other known
/// differences need no skip because the fields they touch are not
/// compared: rsip ignores Content-Length (its body is everything after the
/// first empty line; ours is framed by Content-Length, so ours must be a
/// prefix of rsip's), and it rewrites reason phrases of known codes (only
/// the status code is compared).
#[cfg(feature = "rsip-oracle")]
fn rsip_gap(ours: &Message<'_>) -> Option<RsipGap> {
    const RSIP_METHODS: [&str; 14] = [
        "ACK",
        "BYE",
        "CANCEL",
        "INFO",
        "INVITE",
        "MESSAGE",
        "NOTIFY",
        "OPTIONS",
        "PRACK",
        "PUBLISH",
        "REFER",
        "REGISTER",
        "SUBSCRIBE",
        "UPDATE",
    ];
    let head_lines = &ours.head()[..ours.head().len().saturating_sub(2)];
    if head_lines
        .windows(3)
        .any(|w| w[0] == b'\r' && w[1] == b'\n' && matches!(w[2], b' ' | b'\t'))
    {
        return Some(RsipGap::Folded);
    }
    let v6 = |h: &Host<'_>| matches!(h, Host::V6(_));
    if matches!(ours.request_uri(), Some(Uri::Sip(u)) if v6(&u.host)) || v6(&ours.core().via.host) {
        return Some(RsipGap::Ipv6);
    }
    if !RSIP_METHODS.contains(&ours.method()) || !RSIP_METHODS.contains(&ours.core().cseq.method) {
        return Some(RsipGap::ExtensionMethod);
    }
    if ours
        .headers()
        .iter()
        .any(|h| matches!(h.name, HeaderName::Via | HeaderName::CallId) && h.name_raw.len() == 1)
    {
        return Some(RsipGap::CompactName);
    }
    if !rsip_reads_whole_via(&ours.core().via) {
        return Some(RsipGap::ViaLayout);
    }
    None
}

/// Differential oracle: our codec against rsip 0.4 on raw bytes.
///
/// Where both accept a datagram, they must agree on: request or response;
/// the method or the status code; the Call-ID (rsip keeps a leading tab and
/// trailing LWS in header values, so SP and HT are trimmed first); the CSeq
/// number and method; the branch of the top Via; the number of header
/// fields and where the body starts. Our body must be a prefix of rsip's
/// (rsip ignores Content-Length).
///
/// "rsip accepts" means `rsip::SipMessage::try_from` succeeds *and* rsip
/// types the compared headers (it types lazily, so a header it cannot type
/// is its refusal). Refusals by either side are not compared: rsip is
/// stricter in many places (it refuses 11 of the 27 RFC 4475 messages that
/// must be accepted) and laxer in others (no mandatory headers, no
/// Content-Length check).
///
/// Known, accepted differences, skipped explicitly before comparing (see
/// `RsipGap`): folded header fields, IPv6 references in the Request-URI or
/// top Via, extension methods and methods not in upper case, compact Via
/// and Call-ID names, a top Via rsip reads only in part (LWS in the
/// sent-by, parameters it cannot tokenise: it drops the rest silently,
/// `branch` included); and, once rsip has parsed, a different split into
/// start line, header fields and body (its Request-URI tokeniser can run
/// across CRLFs). Not compared at all: reason phrases (rsip rewrites
/// those of codes it knows) and body framing (rsip ignores Content-Length).
/// Every other disagreement panics.
#[cfg(feature = "rsip-oracle")]
pub fn sip_diff(data: &[u8]) {
    use rsip::headers::UntypedHeader;
    use rsip::prelude::{HeadersExt, ToTypedHeader};

    let Ok(ours) = Message::parse(data) else {
        return;
    };
    if let Some(_skipped) = rsip_gap(&ours) {
        return;
    }
    let Ok(theirs) = rsip::SipMessage::try_from(data) else {
        return;
    };
    let their_fields = match &theirs {
        rsip::SipMessage::Request(r) => r.headers.iter().count(),
        rsip::SipMessage::Response(r) => r.headers.iter().count(),
    };
    let their_body_at = data.len() - theirs.body().len();
    if their_fields != ours.headers().len() || their_body_at != ours.offset() + ours.head().len() {
        // Only the known cause is accepted: a Request-URI spanning lines.
        let uri_spans_lines = matches!(
            &theirs,
            rsip::SipMessage::Request(r) if r.uri.to_string().contains(['\r', '\n'])
        );
        assert!(
            uri_spans_lines,
            "rsip reads {their_fields} header fields and a body at {their_body_at}, \
             we read {} and {} in {}",
            ours.headers().len(),
            ours.offset() + ours.head().len(),
            String::from_utf8_lossy(data).escape_debug()
        );
        let _skipped = RsipGap::HeadSplit;
        return;
    }
    let (Ok(call_id), Ok(cseq), Ok(via)) = (
        theirs.call_id_header(),
        theirs.cseq_header().and_then(|h| h.typed()),
        theirs.via_header().and_then(|h| h.typed()),
    ) else {
        return;
    };
    let shown = || String::from_utf8_lossy(data).escape_debug().to_string();
    match (&theirs, ours.start_line()) {
        (rsip::SipMessage::Request(r), StartLine::Request { method, .. }) => {
            assert_eq!(r.method.to_string(), *method, "method of {}", shown());
        }
        (rsip::SipMessage::Response(r), StartLine::Response { code, .. }) => {
            assert_eq!(r.status_code.code(), *code, "status code of {}", shown());
        }
        (t, o) => panic!("rsip: {t:?}, ours: {o:?}, for {}", shown()),
    }
    let core = ours.core();
    assert_eq!(
        call_id.value().trim_matches([' ', '\t']),
        core.call_id,
        "Call-ID of {}",
        shown()
    );
    assert_eq!(
        (cseq.seq, cseq.method.to_string()),
        (core.cseq.seq, core.cseq.method.to_owned()),
        "CSeq of {}",
        shown()
    );
    assert_eq!(
        via.branch().map(ToString::to_string).as_deref(),
        core.via.branch(),
        "top Via branch of {}",
        shown()
    );
    assert!(
        theirs.body().starts_with(ours.body()),
        "our body is not a prefix of rsip's in {}",
        shown()
    );
}

// ---------------------------------------------------------------------------
// SDP: pass-through and the token editor
// ---------------------------------------------------------------------------

/// Free text for SDP fields: any octets but NUL, CR and LF (RFC 4566 §5),
/// mostly printable, sometimes not UTF-8.
fn sdp_text(u: &mut Unstructured<'_>, min: usize, max: usize) -> Gen<Vec<u8>> {
    let n = u.int_in_range(min..=max)?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let b = if u.ratio(1u8, 8)? {
            u.arbitrary::<u8>()?
        } else {
            u.int_in_range(0x20u8..=0x7e)?
        };
        v.push(if matches!(b, 0 | b'\r' | b'\n') {
            b'.'
        } else {
            b
        });
    }
    Ok(v)
}

fn digits(u: &mut Unstructured<'_>) -> Gen<String> {
    Ok(match u.int_in_range(0..=2u8)? {
        0 => u.arbitrary::<u8>()?.to_string(),
        1 => u.arbitrary::<u32>()?.to_string(),
        _ => u.arbitrary::<u64>()?.to_string(),
    })
}

/// The expected typed form of a `c=` line.
#[derive(Debug, Clone, PartialEq)]
struct MConn {
    net: String,
    addr_type: AddrType,
    addr_type_token: String,
    address: String,
    ip: Option<IpAddr>,
    suffix: Option<String>,
}

impl MConn {
    fn draw(u: &mut Unstructured<'_>) -> Gen<Self> {
        let net = if u.ratio(7u8, 8)? {
            "IN".to_owned()
        } else {
            token(u, 1, 4)?
        };
        let (addr_type, addr_type_token, address, ip, suffix) = match u.int_in_range(0..=5u8)? {
            0..=2 => {
                let tok = *u.choose(&["IP4", "IP4", "ip4", "Ip4"])?;
                let (address, ip) = if u.ratio(3u8, 4)? {
                    let a = ipv4(u)?;
                    (a.to_string(), Some(IpAddr::V4(a)))
                } else {
                    (domain(u)?, None)
                };
                let suffix = match u.int_in_range(0..=5u8)? {
                    0 => Some(u.arbitrary::<u8>()?.to_string()),
                    1 => Some(format!(
                        "{}/{}",
                        u.arbitrary::<u8>()?,
                        u.int_in_range(1..=9u8)?
                    )),
                    _ => None,
                };
                (AddrType::Ip4, tok, address, ip, suffix)
            }
            3 | 4 => {
                let tok = *u.choose(&["IP6", "IP6", "ip6"])?;
                let (address, ip) = if u.ratio(3u8, 4)? {
                    let a = ipv6(u)?;
                    (a.to_string(), Some(IpAddr::V6(a)))
                } else {
                    (domain(u)?, None)
                };
                let suffix = if u.ratio(1u8, 6)? {
                    Some(u.int_in_range(1..=9u8)?.to_string())
                } else {
                    None
                };
                (AddrType::Ip6, tok, address, ip, suffix)
            }
            _ => {
                let tok = *u.choose(&["X25", "ATM", "NSAP", "E164"])?;
                (AddrType::Other, tok, domain(u)?, None, None)
            }
        };
        Ok(MConn {
            net,
            addr_type,
            addr_type_token: addr_type_token.to_owned(),
            address,
            ip,
            suffix,
        })
    }

    fn text(&self) -> Vec<u8> {
        let mut s = format!("{} {} {}", self.net, self.addr_type_token, self.address);
        if let Some(x) = &self.suffix {
            s.push('/');
            s.push_str(x);
        }
        s.into_bytes()
    }

    fn check(&self, got: &crate::sdp::Connection<'_>) {
        assert_eq!(got.net_type, self.net);
        assert_eq!(got.addr_type, self.addr_type);
        assert_eq!(got.addr_type_token, self.addr_type_token);
        assert_eq!(got.address, self.address);
        assert_eq!(got.ip, self.ip);
        assert_eq!(got.suffix, self.suffix.as_deref());
    }
}

/// The expected typed form of an `m=` line.
#[derive(Debug, Clone)]
struct MMedia {
    media: String,
    port: u16,
    port_count: Option<u16>,
    proto: String,
    fmts: Vec<String>,
}

impl MMedia {
    fn draw(u: &mut Unstructured<'_>) -> Gen<Self> {
        const MEDIA: [&str; 6] = ["audio", "video", "application", "image", "text", "message"];
        const PROTO: [&str; 7] = [
            "RTP/AVP",
            "RTP/SAVP",
            "RTP/SAVPF",
            "UDP/TLS/RTP/SAVPF",
            "udptl",
            "TCP/MRCPv2",
            "UDP/BFCP",
        ];
        let media = if u.ratio(7u8, 8)? {
            (*u.choose(&MEDIA)?).to_owned()
        } else {
            token(u, 1, 8)?
        };
        let proto = if u.ratio(7u8, 8)? {
            (*u.choose(&PROTO)?).to_owned()
        } else {
            let n = u.int_in_range(1..=3)?;
            let parts: Gen<Vec<String>> = (0..n).map(|_| token(u, 1, 5)).collect();
            parts?.join("/")
        };
        let mut fmts = Vec::new();
        for _ in 0..u.int_in_range(1..=5)? {
            fmts.push(match u.int_in_range(0..=5u8)? {
                0 => (*u.choose(&["*", "t38", "webrtc-datachannel"])?).to_owned(),
                1 => token(u, 1, 6)?,
                _ => u.int_in_range(0..=127u8)?.to_string(),
            });
        }
        Ok(MMedia {
            media,
            port: u.arbitrary()?,
            port_count: if u.ratio(1u8, 6)? {
                Some(u.arbitrary()?)
            } else {
                None
            },
            proto,
            fmts,
        })
    }

    fn text(&self) -> Vec<u8> {
        let mut s = format!("{} {}", self.media, self.port);
        if let Some(n) = self.port_count {
            let _ = write!(s, "/{n}");
        }
        let _ = write!(s, " {} {}", self.proto, self.fmts.join(" "));
        s.into_bytes()
    }
}

/// An `a=` attribute: its name and, unless a property, its value.
type MAttr = (String, Option<Vec<u8>>);

/// An `a=` line: well-known attributes with realistic values (SDES crypto,
/// DTLS fingerprint and setup, ICE, rtpmap/fmtp) and unknown ones.
fn sdp_attribute(u: &mut Unstructured<'_>) -> Gen<MAttr> {
    let v = |s: &str| Some(s.as_bytes().to_vec());
    Ok(match u.int_in_range(0..=11u8)? {
        0 => ("rtpmap".into(), v("0 PCMU/8000")),
        1 => ("fmtp".into(), v("101 0-15")),
        2 => (
            "crypto".into(),
            v(
                "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32",
            ),
        ),
        3 => (
            "fingerprint".into(),
            v(
                "sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:6D:2E:18:8F:3B:4F:A3:6C:31:AA:E2:1A",
            ),
        ),
        4 => (
            "setup".into(),
            v(u.choose(&["actpass", "active", "passive", "holdconn"])?),
        ),
        5 => (
            (*u.choose(&["sendrecv", "sendonly", "recvonly", "inactive", "rtcp-mux"])?).into(),
            None,
        ),
        6 => ("ice-ufrag".into(), Some(sdp_text(u, 4, 8)?)),
        7 => ("ptime".into(), v(&u.int_in_range(10..=60u8)?.to_string())),
        8 => ("x-".to_owned() + &token(u, 1, 8)?, None),
        _ => {
            let name = token(u, 1, 12)?;
            let value = if u.arbitrary()? {
                Some(sdp_text(u, 0, 24)?)
            } else {
                None
            };
            (name, value)
        }
    })
}

/// One serialised line of the SDP model.
#[derive(Debug, Clone)]
struct SdpLineModel {
    kind: u8,
    value: Vec<u8>,
    ending: LineEnding,
}

/// An SDP model in RFC 4566 §5 order, with the typed values it must parse to.
#[derive(Debug, Clone)]
struct SdpModel {
    lines: Vec<SdpLineModel>,
    session_conn: Option<MConn>,
    /// Each media description with its `c=` lines and `a=` lines.
    media: Vec<(MMedia, Vec<MConn>, Vec<MAttr>)>,
    /// Every `a=` line, session and media level, in order.
    attributes: Vec<MAttr>,
}

impl<'a> Arbitrary<'a> for SdpModel {
    fn arbitrary(u: &mut Unstructured<'a>) -> Gen<Self> {
        let mut lines = Vec::new();
        let mut push = |u: &mut Unstructured<'_>, kind: u8, value: Vec<u8>| -> Gen<()> {
            let ending = if u.ratio(7u8, 8)? {
                LineEnding::CrLf
            } else {
                LineEnding::Lf
            };
            lines.push(SdpLineModel {
                kind,
                value,
                ending,
            });
            Ok(())
        };
        push(u, b'v', b"0".to_vec())?;
        let user = if u.arbitrary()? {
            "-".to_owned()
        } else {
            token(u, 1, 8)?
        };
        let o_addr = match u.int_in_range(0..=2u8)? {
            0 => format!("IP4 {}", ipv4(u)?),
            1 => format!("IP6 {}", ipv6(u)?),
            _ => format!("IP4 {}", domain(u)?),
        };
        let origin = format!("{user} {} {} IN {o_addr}", digits(u)?, digits(u)?);
        push(u, b'o', origin.into_bytes())?;
        let s = sdp_text(u, 1, 16)?;
        push(u, b's', s)?;
        for kind in [b'i', b'u'] {
            if u.ratio(1u8, 4)? {
                let t = sdp_text(u, 0, 16)?;
                push(u, kind, t)?;
            }
        }
        for kind in [b'e', b'p'] {
            for _ in 0..u.int_in_range(0..=2)? {
                let t = sdp_text(u, 1, 16)?;
                push(u, kind, t)?;
            }
        }
        let session_conn = if u.arbitrary()? {
            Some(MConn::draw(u)?)
        } else {
            None
        };
        if let Some(c) = &session_conn {
            push(u, b'c', c.text())?;
        }
        for _ in 0..u.int_in_range(0..=1)? {
            let bw = format!("AS:{}", u.arbitrary::<u16>()?);
            push(u, b'b', bw.into_bytes())?;
        }
        for _ in 0..u.int_in_range(1..=2)? {
            let t = format!("{} {}", digits(u)?, digits(u)?);
            push(u, b't', t.into_bytes())?;
            if u.ratio(1u8, 6)? {
                push(u, b'r', b"604800 3600 0 90000".to_vec())?;
            }
        }
        for kind in [b'z', b'k'] {
            if u.ratio(1u8, 8)? {
                let t = sdp_text(u, 1, 16)?;
                push(u, kind, t)?;
            }
        }
        let mut attributes = Vec::new();
        let attr_line = |(n, v): &MAttr| {
            let mut line = n.as_bytes().to_vec();
            if let Some(v) = v {
                line.push(b':');
                line.extend_from_slice(v);
            }
            line
        };
        for _ in 0..u.int_in_range(0..=4)? {
            let a = sdp_attribute(u)?;
            push(u, b'a', attr_line(&a))?;
            attributes.push(a);
        }
        let mut media = Vec::new();
        for _ in 0..u.int_in_range(0..=3)? {
            let m = MMedia::draw(u)?;
            push(u, b'm', m.text())?;
            if u.ratio(1u8, 6)? {
                let t = sdp_text(u, 0, 12)?;
                push(u, b'i', t)?;
            }
            let mut conns = Vec::new();
            for _ in 0..u.int_in_range(0..=2)? {
                let c = MConn::draw(u)?;
                push(u, b'c', c.text())?;
                conns.push(c);
            }
            if u.ratio(1u8, 6)? {
                push(u, b'b', b"TIAS:64000".to_vec())?;
            }
            let mut attrs = Vec::new();
            for _ in 0..u.int_in_range(0..=5)? {
                let a = sdp_attribute(u)?;
                push(u, b'a', attr_line(&a))?;
                attrs.push(a.clone());
                attributes.push(a);
            }
            media.push((m, conns, attrs));
        }
        if u.ratio(1u8, 8)? {
            if let Some(last) = lines.last_mut() {
                last.ending = LineEnding::None;
            }
        }
        Ok(SdpModel {
            lines,
            session_conn,
            media,
            attributes,
        })
    }
}

impl SdpModel {
    fn build(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for l in &self.lines {
            out.push(l.kind);
            out.push(b'=');
            out.extend_from_slice(&l.value);
            out.extend_from_slice(match l.ending {
                LineEnding::CrLf => b"\r\n",
                LineEnding::Lf => b"\n",
                LineEnding::None => b"",
            });
        }
        out
    }

    fn check(&self, sdp: &Sdp<'_>) {
        assert_eq!(sdp.lines().len(), self.lines.len(), "line count");
        for (want, got) in self.lines.iter().zip(sdp.lines()) {
            assert_eq!(got.kind, want.kind);
            assert_eq!(got.value, &want.value[..]);
            assert_eq!(got.ending(), want.ending);
        }
        match (&self.session_conn, sdp.session_connection()) {
            (Some(w), Some(g)) => w.check(&g),
            (None, None) => {}
            (w, g) => panic!("session c=: want {w:?}, got {g:?}"),
        }
        assert_eq!(sdp.media_count(), self.media.len(), "media count");
        for ((m, conns, attrs), got) in self.media.iter().zip(sdp.media()) {
            assert_eq!(got.media, m.media);
            assert_eq!(got.port, m.port);
            assert_eq!(got.port_count, m.port_count);
            assert_eq!(got.proto, m.proto);
            assert!(
                got.formats().eq(m.fmts.iter().map(String::as_str)),
                "formats"
            );
            let got_conns: Vec<_> = got.connections().collect();
            assert_eq!(got_conns.len(), conns.len());
            for (w, g) in conns.iter().zip(&got_conns) {
                w.check(g);
            }
            let got_attrs: Vec<(&str, Option<&[u8]>)> =
                got.attributes().map(|a| (a.name, a.value)).collect();
            let want_attrs: Vec<(&str, Option<&[u8]>)> = attrs
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_deref()))
                .collect();
            assert_eq!(got_attrs, want_attrs, "media attributes");
        }
        let got: Vec<(&str, Option<&[u8]>)> = sdp.attributes().map(|a| (a.name, a.value)).collect();
        let want: Vec<(&str, Option<&[u8]>)> = self
            .attributes
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_deref()))
            .collect();
        assert_eq!(got, want, "attributes");
    }
}

/// Every `c=` line of `sdp` in order, typed: the session one, then each
/// media description's.
fn all_connections<'a>(sdp: &Sdp<'a>) -> Vec<crate::sdp::Connection<'a>> {
    let mut v: Vec<_> = sdp.session_connection().into_iter().collect();
    for m in sdp.media() {
        v.extend(m.connections());
    }
    v
}

/// The token editor: anchoring media at `addr` changes only `c=` lines
/// (address, and the address type and suffix when the family changes);
/// setting a media port changes only that `m=` line's port. Every other
/// line, every `a=` line in particular, stays byte-identical.
fn check_sdp_edits(sdp: &Sdp<'_>, addr: IpAddr, media: usize, port: u16) {
    // An address may be longer than the token it replaces.
    let limits = SdpLimits {
        max_line_length: SdpLimits::default().max_line_length + 64,
        ..SdpLimits::default()
    };
    let edited = sdp.with_connection_address(addr);
    let e = Sdp::parse_with_limits(&edited, limits).unwrap_or_else(|err| {
        panic!(
            "re-anchored SDP refused: {err}\n{}",
            String::from_utf8_lossy(&edited).escape_debug()
        )
    });
    assert_eq!(
        e.lines().len(),
        sdp.lines().len(),
        "line count after c= edit"
    );
    for (a, b) in sdp.lines().iter().zip(e.lines()) {
        assert_eq!(a.kind, b.kind);
        if a.kind == b'c' {
            assert_eq!(a.ending(), b.ending());
        } else {
            assert_eq!(a.raw, b.raw, "a non-c= line changed");
        }
    }
    let (family, token) = match addr {
        IpAddr::V4(_) => (AddrType::Ip4, "IP4"),
        IpAddr::V6(_) => (AddrType::Ip6, "IP6"),
    };
    let before = all_connections(sdp);
    let after = all_connections(&e);
    assert_eq!(before.len(), after.len(), "c= count after edit");
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(a.ip, Some(addr));
        assert_eq!(a.addr_type, family);
        assert_eq!(a.net_type, b.net_type);
        if b.addr_type == family {
            assert_eq!(a.addr_type_token, b.addr_type_token);
            assert_eq!(a.suffix, b.suffix);
        } else {
            assert_eq!(a.addr_type_token, token);
            assert_eq!(a.suffix, None);
        }
    }
    let Some(index) = media.checked_rem(sdp.media_count()) else {
        assert!(sdp.with_media_port(media, port).is_err());
        return;
    };
    let edited = sdp.with_media_port(index, port).expect("media exists");
    let e = Sdp::parse_with_limits(&edited, limits).expect("port-edited SDP parses");
    let m_line = sdp.media_at(index).expect("media exists").offset;
    assert_eq!(e.lines().len(), sdp.lines().len());
    for (a, b) in sdp.lines().iter().zip(e.lines()) {
        if a.offset != m_line {
            assert_eq!(a.raw, b.raw, "a line other than the edited m= changed");
        }
    }
    let (a, b) = (
        sdp.media_at(index).expect("media"),
        e.media_at(index).expect("media"),
    );
    assert_eq!(b.port, port);
    assert_eq!(
        (b.media, b.port_count, b.proto),
        (a.media, a.port_count, a.proto)
    );
    assert!(b.formats().eq(a.formats()));
}

/// SDP pass-through (RFC 4566; RFC 6271 requirement #17).
///
/// First `data` as an SDP body: if [`Sdp::parse`] accepts it, `to_bytes()`
/// equals the input, the lines' raw bytes concatenate to the input, and the
/// editor invariants hold (see below) for an IPv4 and an IPv6 anchor.
///
/// Then `data` drives an SDP model (session and media lines in RFC 4566
/// order, IP4/IP6/other `c=` lines with TTL and count suffixes, media with
/// port counts and arbitrary protos and formats, `a=crypto`,
/// `a=fingerprint`, `a=setup`, ICE and unknown attributes, non-UTF-8 free
/// text, CRLF and LF endings, an unterminated last line): it must parse to
/// exactly the modelled lines and typed values and write back unchanged.
///
/// Editor invariants: after re-anchoring every `c=` line the body still
/// parses, each `c=` line carries the new address (type and suffix adjusted
/// when the family changes) and every other line, each `a=` line included,
/// is byte-identical; after setting one media port only that `m=` line's
/// port differs.
pub fn sdp_roundtrip(data: &[u8]) {
    if let Ok(sdp) = Sdp::parse(data) {
        assert_eq!(sdp.to_bytes(), data);
        assert_eq!(
            sdp.lines()
                .iter()
                .flat_map(|l| l.raw)
                .copied()
                .collect::<Vec<u8>>(),
            data
        );
        let anchors = [
            IpAddr::V4(Ipv4Addr::new(203, 0, 113, 77)),
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x77)),
        ];
        for (i, a) in anchors.into_iter().enumerate() {
            check_sdp_edits(&sdp, a, data.len() + i, 40_000 + i as u16);
        }
    }
    let mut u = Unstructured::new(data);
    let Ok(model) = SdpModel::arbitrary(&mut u) else {
        return;
    };
    let bytes = model.build();
    let sdp = Sdp::parse(&bytes).unwrap_or_else(|e| {
        panic!(
            "modelled SDP refused: {e}\n{}",
            String::from_utf8_lossy(&bytes).escape_debug()
        )
    });
    model.check(&sdp);
    assert_eq!(sdp.to_bytes(), bytes);
    let (Ok(addr), Ok(media), Ok(port)) = (ip(&mut u), u.arbitrary::<usize>(), u.arbitrary())
    else {
        return;
    };
    check_sdp_edits(&sdp, addr, media, port);
}

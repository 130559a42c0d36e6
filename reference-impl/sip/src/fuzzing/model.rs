//! The SIP message model of `sip_structured` (and the messages of
//! `sip_stream`): written, parsed, and every modelled field compared.

#[allow(unused_imports)]
use super::*;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum MHost {
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

pub(crate) type MParams = Vec<(String, Option<String>)>;

pub(crate) fn params_text(p: &MParams) -> String {
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

pub(crate) fn check_params(p: &Params<'_>, want: &MParams) {
    let got: Vec<(&str, Option<&str>)> = p.iter().collect();
    let want: Vec<(&str, Option<&str>)> = want
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_deref()))
        .collect();
    assert_eq!(got, want, "parameters");
}

/// `0..=max` URI parameters `name[=value]`.
pub(crate) fn uri_params(u: &mut Unstructured<'_>, max: usize) -> Gen<MParams> {
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
pub(crate) enum MUri {
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
pub(crate) struct MVia {
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
pub(crate) fn display(u: &mut Unstructured<'_>) -> Gen<String> {
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
pub(crate) fn header_params(u: &mut Unstructured<'_>) -> Gen<MParams> {
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
pub(crate) struct MNameAddr {
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
pub(crate) enum MStart {
    Request { method: String, uri: MUri },
    Response { code: u16, reason: String },
}

pub(crate) const METHODS: [&str; 8] = [
    "INVITE", "OPTIONS", "BYE", "CANCEL", "ACK", "MESSAGE", "REGISTER", "PRACK",
];

pub(crate) fn method(u: &mut Unstructured<'_>) -> Gen<String> {
    if u.ratio(3u8, 4)? {
        Ok((*u.choose(&METHODS)?).to_owned())
    } else {
        token(u, 1, 10)
    }
}

/// A reason phrase: printable text without control characters (which
/// `MessageBuilder::response` would replace), non-ASCII included.
pub(crate) fn reason(u: &mut Unstructured<'_>) -> Gen<String> {
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
pub(crate) enum MLine {
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
pub(crate) fn ext_name(u: &mut Unstructured<'_>) -> Gen<String> {
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
pub(crate) fn ext_value(u: &mut Unstructured<'_>) -> Gen<String> {
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

pub(crate) fn call_id(u: &mut Unstructured<'_>) -> Gen<String> {
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
pub(crate) struct SipModel {
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
    pub(crate) fn build(&self) -> Vec<u8> {
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

pub(crate) fn parse_or_panic(bytes: &[u8]) -> Message<'_> {
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

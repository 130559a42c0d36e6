//! The `sdp_roundtrip` fuzz target: raw SDP, then an arbitrary SDP model;
//! byte-identical pass-through and token-only edits. Shared by the
//! cargo-fuzz shim in `fuzz/` and the regression replay in `cargo test`.
//! Hosts, tokens and addresses come from the SIP generators
//! (`speermint_sip::fuzzing::generate`).

use crate::{AddrType, LineEnding, Sdp, SdpLimits};
use arbitrary::{Arbitrary, Unstructured};
use speermint_sip::fuzzing::generate::{domain, ip, ipv4, ipv6, token};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

type Gen<T> = arbitrary::Result<T>;

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

    fn check(&self, got: &crate::Connection<'_>) {
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
fn all_connections<'a>(sdp: &Sdp<'a>) -> Vec<crate::Connection<'a>> {
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

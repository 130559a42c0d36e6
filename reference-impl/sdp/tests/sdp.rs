//! SDP codec tests: RFC 4566 §5 example, RFC 3665 offer/answer bodies,
//! IPv6 (RFC 4566 §5.7, RFC 5118 style), byte-exact pass-through of
//! security and unknown attributes (RFC 6271 req. #17), token rewriting,
//! error offsets, and property tests.

use proptest::prelude::*;
use speermint_sdp::{AddrType, Attribute, Line, LineEnding, NoSuchMedia, Sdp, SdpError, SdpLimits};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Joins lines with CRLF after each, as RFC 4566 §5 specifies.
fn crlf(lines: &[&str]) -> Vec<u8> {
    lines
        .iter()
        .flat_map(|l| [l.as_bytes(), b"\r\n"])
        .flatten()
        .copied()
        .collect()
}

/// Joins lines with a bare LF after each.
fn lf(lines: &[&str]) -> Vec<u8> {
    lines
        .iter()
        .flat_map(|l| [l.as_bytes(), b"\n"])
        .flatten()
        .copied()
        .collect()
}

/// Offset of the first occurrence of `needle` in `hay`.
fn find(hay: &[u8], needle: &str) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .unwrap_or_else(|| panic!("{needle:?} not in input"))
}

fn names<'a>(attrs: impl Iterator<Item = Attribute<'a>>) -> Vec<&'a str> {
    attrs.map(|a| a.name).collect()
}

/// RFC 4566 §5, the example SDP description.
const RFC4566_EXAMPLE: &[&str] = &[
    "v=0",
    "o=jdoe 2890844526 2890842807 IN IP4 10.47.16.5",
    "s=SDP Seminar",
    "i=A Seminar on the session description protocol",
    "u=http://www.example.com/seminars/sdp.pdf",
    "e=j.doe@example.com (Jane Doe)",
    "c=IN IP4 224.2.17.12/127",
    "t=2873397496 2873404696",
    "a=recvonly",
    "m=audio 49170 RTP/AVP 0",
    "m=video 51372 RTP/AVP 99",
    "a=rtpmap:99 h263-1998/90000",
];

/// RFC 3665 §3.1 F1 (INVITE Alice -> Bob): the offer.
const RFC3665_OFFER: &[&str] = &[
    "v=0",
    "o=alice 2890844526 2890844526 IN IP4 client.atlanta.example.com",
    "s=-",
    "c=IN IP4 192.0.2.101",
    "t=0 0",
    "m=audio 49172 RTP/AVP 0",
    "a=rtpmap:0 PCMU/8000",
];

/// RFC 3665 §3.1 F4 (200 OK Bob -> Alice): the answer.
const RFC3665_ANSWER: &[&str] = &[
    "v=0",
    "o=bob 2890844527 2890844527 IN IP4 client.biloxi.example.com",
    "s=-",
    "c=IN IP4 192.0.2.201",
    "t=0 0",
    "m=audio 3456 RTP/AVP 0",
    "a=rtpmap:0 PCMU/8000",
];

/// SRTP (RFC 4568 a=crypto), DTLS-SRTP (RFC 4572 a=fingerprint, a=setup)
/// and unknown attributes an SBE must relay untouched (RFC 6271 req. #17).
const SECURE: &[&str] = &[
    "v=0",
    "o=- 20518 0 IN IP4 203.0.113.1",
    "s= ",
    "c=IN IP4 203.0.113.1",
    "t=0 0",
    "a=x-speermint-unknown:  keep   these  spaces  ",
    "m=audio 54400 RTP/SAVP 0 96",
    "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32",
    "a=fingerprint:sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:4B:62:3C:6A:1B:0A:F6:D6:0C:E0:F7:8F",
    "a=setup:actpass",
    "a=rtpmap:96 opus/48000/2",
    "a=x-speermint-unknown",
    "m=video 54402/2 RTP/SAVP 31",
    "c=IN IP4 203.0.113.2",
    "a=x-foo:bar",
    "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj|2^20|1:32",
];

// ---------------------------------------------------------------------------
// Known examples
// ---------------------------------------------------------------------------

#[test]
fn rfc4566_example_parses_and_round_trips() {
    let input = crlf(RFC4566_EXAMPLE);
    let sdp = Sdp::parse(&input).expect("RFC 4566 §5 example");
    assert_eq!(sdp.to_bytes(), input);
    assert_eq!(sdp.lines().len(), RFC4566_EXAMPLE.len());
    let kinds: Vec<u8> = sdp.lines().iter().map(|l| l.kind).collect();
    assert_eq!(kinds, b"vosiuectamma");
    for (line, text) in sdp.lines().iter().zip(RFC4566_EXAMPLE) {
        assert_eq!(line.value, &text.as_bytes()[2..]);
        assert_eq!(line.raw, [text.as_bytes(), b"\r\n"].concat());
        assert_eq!(line.ending(), LineEnding::CrLf);
        assert_eq!(&input[line.offset..line.offset + line.raw.len()], line.raw);
    }
    assert_eq!(sdp.session_lines().len(), 9);

    let c = sdp.session_connection().expect("session c=");
    assert_eq!(c.net_type, "IN");
    assert_eq!(c.addr_type, AddrType::Ip4);
    assert_eq!(c.address, "224.2.17.12");
    assert_eq!(c.ip, Some(IpAddr::V4(Ipv4Addr::new(224, 2, 17, 12))));
    assert_eq!(c.suffix, Some("127"));
    assert_eq!(c.offset, find(&input, "c=IN"));

    let media: Vec<_> = sdp.media().collect();
    assert_eq!(media.len(), 2);
    assert_eq!(
        (media[0].media, media[0].port, media[0].proto),
        ("audio", 49170, "RTP/AVP")
    );
    assert_eq!(media[0].formats().collect::<Vec<_>>(), ["0"]);
    assert_eq!(media[0].port_count, None);
    assert!(media[0].connection().is_none());
    assert_eq!(media[0].attributes().count(), 0);
    assert_eq!(
        (media[1].media, media[1].port, media[1].index),
        ("video", 51372, 1)
    );
    assert_eq!(media[1].formats().collect::<Vec<_>>(), ["99"]);
    assert_eq!(media[1].lines().len(), 2);
    let rtpmap: Vec<_> = media[1].attributes().collect();
    assert_eq!(rtpmap.len(), 1);
    assert_eq!(rtpmap[0].value_str(), Some("99 h263-1998/90000"));

    let all: Vec<_> = sdp.attributes().collect();
    assert_eq!(names(all.iter().copied()), ["recvonly", "rtpmap"]);
    assert_eq!(all[0].value, None);
    assert_eq!(all[0].raw_line, b"a=recvonly\r\n");
}

#[test]
fn rfc4566_example_with_lf_endings_round_trips() {
    let input = lf(RFC4566_EXAMPLE);
    let sdp = Sdp::parse(&input).expect("LF endings are tolerated (RFC 4566 §5)");
    assert_eq!(sdp.to_bytes(), input);
    assert!(sdp.lines().iter().all(|l| l.ending() == LineEnding::Lf));
    let mut out = b"prefix".to_vec();
    sdp.write_to(&mut out);
    assert_eq!(&out[6..], &input[..]);
}

#[test]
fn rfc3665_offer_answer_bodies() {
    let offer = crlf(RFC3665_OFFER);
    let answer = crlf(RFC3665_ANSWER);
    // The Content-Length values of RFC 3665 F1 and F4 match CRLF bodies.
    assert_eq!(offer.len(), 151);
    assert_eq!(answer.len(), 147);

    let o = Sdp::parse(&offer).expect("offer");
    let a = Sdp::parse(&answer).expect("answer");
    assert_eq!(o.to_bytes(), offer);
    assert_eq!(a.to_bytes(), answer);
    assert_eq!(
        o.session_connection().and_then(|c| c.ip),
        Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 101)))
    );
    assert_eq!(
        a.session_connection().and_then(|c| c.ip),
        Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 201)))
    );
    // RFC 3264 §6: the answer has as many m= lines as the offer, same order.
    let om: Vec<_> = o.media().collect();
    let am: Vec<_> = a.media().collect();
    assert_eq!(om.len(), am.len());
    assert_eq!((om[0].media, om[0].port), ("audio", 49172));
    assert_eq!((am[0].media, am[0].port), ("audio", 3456));
    assert_eq!(
        om[0].formats().collect::<Vec<_>>(),
        am[0].formats().collect::<Vec<_>>()
    );
    assert_eq!(
        a.attributes().map(|x| x.value_str()).collect::<Vec<_>>(),
        [Some("0 PCMU/8000")]
    );
}

#[test]
fn ipv6_connection_line() {
    let input = crlf(&[
        "v=0",
        "o=- 1 1 IN IP6 2001:db8::1",
        "s=-",
        "c=IN IP6 2001:db8::1",
        "t=0 0",
        "m=audio 6000 RTP/AVP 0",
    ]);
    let sdp = Sdp::parse(&input).expect("IP6");
    let c = sdp.session_connection().expect("c=");
    assert_eq!(c.addr_type, AddrType::Ip6);
    assert_eq!(c.address, "2001:db8::1");
    assert_eq!(
        c.ip,
        Some(IpAddr::V6("2001:db8::1".parse().expect("literal")))
    );
    assert_eq!(c.suffix, None);
    assert_eq!(sdp.to_bytes(), input);
}

#[test]
fn ipv6_multicast_examples_of_rfc4566_section_5_7() {
    let input = crlf(&[
        "v=0",
        "o=- 1 1 IN IP6 FF15::1",
        "s=-",
        "t=0 0",
        "m=video 5000 RTP/AVP 31",
        "c=IN IP6 FF15::101/3",
        "m=video 5002 RTP/AVP 31",
        "c=IN IP6 FF15::101",
        "c=IN IP6 FF15::102",
        "c=IN IP6 FF15::103",
    ]);
    let sdp = Sdp::parse(&input).expect("§5.7 IP6 multicast");
    assert!(sdp.session_connection().is_none());
    let m: Vec<_> = sdp.media().collect();
    let c0 = m[0].connection().expect("c=");
    assert_eq!((c0.address, c0.suffix), ("FF15::101", Some("3")));
    assert_eq!(
        c0.ip,
        Some(IpAddr::V6(Ipv6Addr::new(0xff15, 0, 0, 0, 0, 0, 0, 0x101)))
    );
    let addrs: Vec<_> = m[1].connections().map(|c| c.address).collect();
    assert_eq!(addrs, ["FF15::101", "FF15::102", "FF15::103"]);
    assert_eq!(sdp.to_bytes(), input);
}

/// In the style of the RFC 5118 IPv6 torture-test bodies: IP6 origin and
/// session c=, one stream overridden with an IP4 media-level c=, and an
/// IPv4-mapped IPv6 literal.
#[test]
fn rfc5118_style_mixed_ipv4_ipv6_sdp() {
    let input = crlf(&[
        "v=0",
        "o=assistant 971731711378798081 0 IN IP6 2001:db8::20",
        "s=Live video feed for today's meeting",
        "c=IN IP6 2001:db8::20",
        "t=3338481189 3370017201",
        "m=audio 6000 RTP/AVP 2",
        "a=rtpmap:2 G726-32/8000",
        "m=video 6024 RTP/AVP 107",
        "c=IN IP4 192.0.2.1",
        "a=rtpmap:107 H263-1998/90000",
        "m=audio 6026 RTP/AVP 0",
        "c=IN IP6 ::ffff:192.0.2.2",
    ]);
    let sdp = Sdp::parse(&input).expect("RFC 5118 style");
    assert_eq!(sdp.to_bytes(), input);
    let session = sdp.session_connection().expect("session c=");
    assert_eq!(
        session.ip,
        Some(IpAddr::V6("2001:db8::20".parse().expect("v6")))
    );
    let m: Vec<_> = sdp.media().collect();
    assert!(m[0].connection().is_none());
    let v = m[1].connection().expect("media c=");
    assert_eq!(v.addr_type, AddrType::Ip4);
    assert_eq!(v.ip, Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))));
    let mapped = m[2].connection().and_then(|c| c.ip).expect("mapped");
    assert_eq!(
        mapped,
        IpAddr::V6(Ipv4Addr::new(192, 0, 2, 2).to_ipv6_mapped())
    );
}

#[test]
fn fqdn_and_other_address_types_are_kept() {
    let input = crlf(&[
        "v=0",
        "o=- 1 1 IN IP4 host.example.com",
        "s=-",
        "c=IN IP4 host.example.com",
        "t=0 0",
        "m=audio 49170 RTP/AVP 0",
        "c=ATM NSAP 47.0005.80.ffe100.0000.f21a.26d8.0020ea000ee0.00",
    ]);
    let sdp = Sdp::parse(&input).expect("FQDN and extension address types");
    let c = sdp.session_connection().expect("c=");
    assert_eq!((c.address, c.ip), ("host.example.com", None));
    let other = sdp.media().next().and_then(|m| m.connection()).expect("c=");
    assert_eq!(
        (other.net_type, other.addr_type, other.addr_type_token),
        ("ATM", AddrType::Other, "NSAP")
    );
    assert_eq!(other.ip, None);
}

// ---------------------------------------------------------------------------
// Pass-through (RFC 6271 req. #17)
// ---------------------------------------------------------------------------

#[test]
fn security_and_unknown_attributes_pass_through_in_order() {
    let input = crlf(SECURE);
    let sdp = Sdp::parse(&input).expect("secure SDP");
    assert_eq!(sdp.to_bytes(), input);
    let attrs: Vec<_> = sdp.attributes().collect();
    assert_eq!(
        names(attrs.iter().copied()),
        [
            "x-speermint-unknown",
            "crypto",
            "fingerprint",
            "setup",
            "rtpmap",
            "x-speermint-unknown",
            "x-foo",
            "crypto"
        ]
    );
    // Each attribute's raw line is the exact input line, ending included.
    let expected: Vec<&str> = SECURE
        .iter()
        .copied()
        .filter(|l| l.starts_with("a="))
        .collect();
    for (attr, text) in attrs.iter().zip(&expected) {
        assert_eq!(attr.raw_line, [text.as_bytes(), b"\r\n"].concat());
        assert_eq!(
            &input[attr.offset..attr.offset + attr.raw_line.len()],
            attr.raw_line
        );
    }
    assert_eq!(attrs[0].value_str(), Some("  keep   these  spaces  "));
    assert_eq!(attrs[3].value_str(), Some("actpass"));
    assert_eq!(attrs[5].value, None);
    assert!(
        attrs[2]
            .value_str()
            .is_some_and(|v| v.starts_with("sha-256 4A:AD"))
    );
    let m: Vec<_> = sdp.media().collect();
    assert_eq!(m[0].formats().collect::<Vec<_>>(), ["0", "96"]);
    assert_eq!(
        names(m[0].attributes()),
        [
            "crypto",
            "fingerprint",
            "setup",
            "rtpmap",
            "x-speermint-unknown"
        ]
    );
    assert_eq!((m[1].port, m[1].port_count), (54402, Some(2)));
}

#[test]
fn odd_but_legal_bytes_round_trip_unchanged() {
    let mut input = Vec::new();
    input.extend_from_slice(b"v=0\n");
    input.extend_from_slice(b"o=j\xc3\xa9r\xc3\xb4me 1 2 IN IP4 192.0.2.1\r\n");
    input.extend_from_slice(b"s= \r\n");
    input.extend_from_slice(b"i=Latin-1 \xe9t\xe9,  two  spaces\t and a tab\n");
    input.extend_from_slice(b"b=AS:128\r\n");
    input.extend_from_slice(b"t=2873397496 2873404696\r\n");
    input.extend_from_slice(b"r=604800 3600 0 90000\n");
    input.extend_from_slice(b"r=7d 1h 0 25h\r\n");
    input.extend_from_slice(b"t=0 0\r\n");
    input.extend_from_slice(b"z=2882844526 -1h 2898848070 0\r\n");
    input.extend_from_slice(b"k=prompt\r\n");
    input.extend_from_slice(b"a=tool:\xff\xfe not utf-8 \r\n");
    input.extend_from_slice(b"a=empty:\n");
    input.extend_from_slice(b"m=audio 0 RTP/AVP 0 8\r\n");
    input.extend_from_slice(b"b=TIAS:64000\r\n");
    input.extend_from_slice(b"a=inactive");
    let sdp = Sdp::parse(&input).expect("odd but legal");
    assert_eq!(sdp.to_bytes(), input);
    let endings: Vec<_> = sdp.lines().iter().map(Line::ending).collect();
    assert_eq!(endings[0], LineEnding::Lf);
    assert_eq!(endings[1], LineEnding::CrLf);
    assert_eq!(endings.last(), Some(&LineEnding::None));
    let attrs: Vec<_> = sdp.attributes().collect();
    assert_eq!(attrs[0].value, Some(&b"\xff\xfe not utf-8 "[..]));
    assert_eq!(attrs[0].value_str(), None);
    assert_eq!(attrs[1].value, Some(&b""[..]));
    assert_eq!(attrs[2].raw_line, b"a=inactive");
    assert_eq!(sdp.media().next().map(|m| m.port), Some(0));
}

// ---------------------------------------------------------------------------
// Token rewriting
// ---------------------------------------------------------------------------

/// Asserts `edited` has the same lines as `original`, identical except for
/// the token-level changes the editor may make to `c=` and `m=` lines.
fn assert_only_c_and_m_changed(original: &[u8], edited: &[u8]) {
    let before = Sdp::parse(original).expect("original");
    let after = Sdp::parse(edited).expect("edited SDP re-parses");
    assert_eq!(before.lines().len(), after.lines().len());
    for (b, a) in before.lines().iter().zip(after.lines()) {
        assert_eq!(a.kind, b.kind);
        assert_eq!(a.ending(), b.ending());
        if b.kind != b'c' && b.kind != b'm' {
            assert_eq!(a.raw, b.raw, "line at {} changed", b.offset);
        }
    }
    let ab: Vec<_> = before.attributes().map(|x| x.raw_line).collect();
    let aa: Vec<_> = after.attributes().map(|x| x.raw_line).collect();
    assert_eq!(ab, aa, "a= lines must survive byte-identical and in order");
}

#[test]
fn rewriting_connection_address_keeps_every_a_line() {
    let input = crlf(SECURE);
    let sdp = Sdp::parse(&input).expect("secure SDP");
    let new = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));
    let out = sdp.with_connection_address(new);
    assert_only_c_and_m_changed(&input, &out);
    let expected = String::from_utf8(input.clone())
        .expect("ascii")
        .replace("c=IN IP4 203.0.113.1", "c=IN IP4 198.51.100.7")
        .replace("c=IN IP4 203.0.113.2", "c=IN IP4 198.51.100.7");
    assert_eq!(out, expected.as_bytes());
    // o= is not touched, even though it names the old address.
    assert!(
        out.windows(30)
            .any(|w| w == b"o=- 20518 0 IN IP4 203.0.113.1")
    );
}

#[test]
fn rewriting_to_ipv6_changes_addrtype_and_drops_ipv4_ttl() {
    let input = lf(RFC4566_EXAMPLE);
    let sdp = Sdp::parse(&input).expect("example");
    let out = sdp.with_connection_address("2001:db8::7".parse().expect("v6"));
    assert_only_c_and_m_changed(&input, &out);
    let expected = String::from_utf8(input.clone())
        .expect("ascii")
        .replace("c=IN IP4 224.2.17.12/127\n", "c=IN IP6 2001:db8::7\n");
    assert_eq!(out, expected.as_bytes());
    let edited = Sdp::parse(&out).expect("re-parse");
    let c = edited.session_connection().expect("c=");
    assert_eq!(
        (c.addr_type, c.address, c.suffix),
        (AddrType::Ip6, "2001:db8::7", None)
    );
}

#[test]
fn rewriting_same_family_keeps_ttl_suffix() {
    let input = crlf(RFC4566_EXAMPLE);
    let sdp = Sdp::parse(&input).expect("example");
    let out = sdp.with_connection_address(IpAddr::V4(Ipv4Addr::new(224, 2, 17, 99)));
    let expected = String::from_utf8(input.clone())
        .expect("ascii")
        .replace("224.2.17.12/127", "224.2.17.99/127");
    assert_eq!(out, expected.as_bytes());
}

#[test]
fn rewriting_media_port_touches_only_the_port_token() {
    let input = crlf(SECURE);
    let sdp = Sdp::parse(&input).expect("secure SDP");
    let out = sdp.with_media_port(1, 40000).expect("media 1");
    assert_only_c_and_m_changed(&input, &out);
    let expected = String::from_utf8(input.clone())
        .expect("ascii")
        .replace("m=video 54402/2 RTP/SAVP 31", "m=video 40000/2 RTP/SAVP 31");
    assert_eq!(out, expected.as_bytes());
    let out0 = sdp.with_media_port(0, 0).expect("media 0");
    assert!(out0.windows(24).any(|w| w == b"m=audio 0 RTP/SAVP 0 96\r"));
    assert_eq!(
        sdp.with_media_port(2, 1),
        Err(NoSuchMedia { index: 2, count: 2 })
    );
}

#[test]
fn editor_combines_edits_and_last_write_wins() {
    let input = crlf(SECURE);
    let sdp = Sdp::parse(&input).expect("secure SDP");
    let mut editor = sdp.editor();
    assert_eq!(editor.to_bytes(), input, "no edits: output equals input");
    editor
        .set_media_port(0, 1111)
        .and_then(|e| e.set_media_port(0, 30000))
        .and_then(|e| e.set_media_port(1, 30002))
        .and_then(|e| e.set_media_connection_address(1, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9))))
        .expect("media exist");
    assert!(editor.set_session_connection_address(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 8))));
    assert!(editor.set_media_port(7, 1).is_err());
    let out = editor.to_bytes();
    assert_only_c_and_m_changed(&input, &out);
    let expected = String::from_utf8(input.clone())
        .expect("ascii")
        .replace("m=audio 54400 ", "m=audio 30000 ")
        .replace("m=video 54402/2 ", "m=video 30002/2 ")
        .replace("c=IN IP4 203.0.113.1\r", "c=IN IP4 192.0.2.8\r")
        .replace("c=IN IP4 203.0.113.2\r", "c=IN IP4 192.0.2.9\r");
    assert_eq!(out, expected.as_bytes());
    let mut appended = b"x".to_vec();
    editor.write_to(&mut appended);
    assert_eq!(&appended[1..], &out[..]);
}

#[test]
fn rewriting_without_any_c_line_is_identity() {
    let input = crlf(&["v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "t=0 0"]);
    let sdp = Sdp::parse(&input).expect("no media");
    assert_eq!(
        sdp.with_connection_address(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        input
    );
    assert!(
        !sdp.editor()
            .set_session_connection_address(IpAddr::V4(Ipv4Addr::LOCALHOST))
    );
    assert_eq!(sdp.media_count(), 0);
}

// ---------------------------------------------------------------------------
// Errors and their offsets
// ---------------------------------------------------------------------------

const HEAD: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n";

/// Parses `HEAD` + `tail` and returns the error, checking that Display
/// names its offset.
fn error_of(body: &[u8]) -> SdpError {
    let err = Sdp::parse(body).expect_err("must be refused");
    let shown = err.to_string();
    assert!(
        shown.contains(&format!("byte offset {}", err.offset())),
        "{shown}"
    );
    err
}

fn with_head(tail: &str) -> Vec<u8> {
    [HEAD.as_bytes(), tail.as_bytes()].concat()
}

#[test]
fn error_empty_or_not_starting_with_version() {
    assert_eq!(error_of(b""), SdpError::MissingVersion { offset: 0 });
    assert_eq!(
        error_of(b"o=- 1 1 IN IP4 h\r\nv=0\r\n"),
        SdpError::MissingVersion { offset: 0 }
    );
    assert_eq!(error_of(b"v=1\r\n"), SdpError::BadVersion { offset: 2 });
    assert_eq!(
        error_of(b"v =0\r\n"),
        SdpError::NotTypeEqualsValue { offset: 0 }
    );
    assert_eq!(
        error_of(b"\r\n"),
        SdpError::NotTypeEqualsValue { offset: 0 }
    );
}

#[test]
fn error_line_syntax_offsets() {
    let b = with_head("t=0 0\r\nnot a line\r\n");
    assert_eq!(
        error_of(&b),
        SdpError::NotTypeEqualsValue {
            offset: find(&b, "not a")
        }
    );
    let b = with_head("t=0 0\r\n\r\n");
    assert_eq!(
        error_of(&b),
        SdpError::NotTypeEqualsValue {
            offset: b.len() - 2
        }
    );
    let b = with_head("i=bare\rcr\r\nt=0 0\r\n");
    assert_eq!(
        error_of(&b),
        SdpError::BareCarriageReturn {
            offset: find(&b, "\rcr")
        }
    );
    let b = with_head("t=0 0\r");
    assert_eq!(
        error_of(&b),
        SdpError::BareCarriageReturn {
            offset: b.len() - 1
        }
    );
    let b = with_head("i=nul\0byte\r\nt=0 0\r\n");
    assert_eq!(
        error_of(&b),
        SdpError::NulByte {
            offset: find(&b, "\0")
        }
    );
    let b = with_head("t=0 0\r\nx=extension\r\n");
    assert_eq!(
        error_of(&b),
        SdpError::UnknownType {
            offset: find(&b, "x="),
            kind: 'x'
        }
    );
    let b = with_head("t=0 0\r\nA=upper\r\n");
    assert_eq!(
        error_of(&b),
        SdpError::UnknownType {
            offset: find(&b, "A="),
            kind: 'A'
        }
    );
}

#[test]
fn error_order_and_required_lines() {
    let b = b"v=0\r\ns=-\r\nt=0 0\r\n".to_vec();
    assert_eq!(
        error_of(&b),
        SdpError::MissingLine {
            offset: 5,
            kind: 'o'
        }
    );
    let b = b"v=0\r\no=- 1 1 IN IP4 h\r\nt=0 0\r\n".to_vec();
    assert_eq!(
        error_of(&b),
        SdpError::MissingLine {
            offset: find(&b, "t="),
            kind: 's'
        }
    );
    let b = with_head("m=audio 1 RTP/AVP 0\r\n");
    assert_eq!(
        error_of(&b),
        SdpError::MissingLine {
            offset: find(&b, "m="),
            kind: 't'
        }
    );
    let b = with_head("c=IN IP4 192.0.2.1\r\n");
    assert_eq!(
        error_of(&b),
        SdpError::MissingLine {
            offset: b.len(),
            kind: 't'
        }
    );
    let b = with_head("r=7d 1h 0\r\nt=0 0\r\n");
    assert_eq!(
        error_of(&b),
        SdpError::MissingLine {
            offset: find(&b, "r="),
            kind: 't'
        }
    );
    let b = with_head("s=again\r\nt=0 0\r\n");
    assert_eq!(
        error_of(&b),
        SdpError::UnexpectedLine {
            offset: find(&b, "s=again"),
            kind: 's'
        }
    );
    let b = with_head("t=0 0\r\na=recvonly\r\nc=IN IP4 192.0.2.1\r\n");
    assert_eq!(
        error_of(&b),
        SdpError::UnexpectedLine {
            offset: find(&b, "c=IN IP4 192.0.2.1\r\n"),
            kind: 'c'
        }
    );
    let b = with_head("c=IN IP4 192.0.2.1\r\nc=IN IP4 192.0.2.2\r\nt=0 0\r\n");
    assert_eq!(
        error_of(&b),
        SdpError::UnexpectedLine {
            offset: find(&b, "c=IN IP4 192.0.2.2"),
            kind: 'c'
        }
    );
    let b = with_head("t=0 0\r\nm=audio 1 RTP/AVP 0\r\nt=0 0\r\n");
    assert_eq!(
        error_of(&b),
        SdpError::UnexpectedLine {
            offset: b.len() - 7,
            kind: 't'
        }
    );
    let b = with_head("t=0 0\r\nm=audio 1 RTP/AVP 0\r\na=sendrecv\r\nc=IN IP4 192.0.2.1\r\n");
    assert_eq!(
        error_of(&b),
        SdpError::UnexpectedLine {
            offset: find(&b, "c="),
            kind: 'c'
        }
    );
    let b = with_head("t=0 0\r\nv=0\r\n");
    assert_eq!(
        error_of(&b),
        SdpError::UnexpectedLine {
            offset: b.len() - 5,
            kind: 'v'
        }
    );
}

#[test]
fn error_origin_and_timing_offsets() {
    let b = b"v=0\r\no=- x 1 IN IP4 h\r\n".to_vec();
    assert_eq!(
        error_of(&b),
        SdpError::BadOrigin {
            offset: find(&b, "x 1")
        }
    );
    let b = b"v=0\r\no=- 1 1 IN IP4\r\n".to_vec();
    assert_eq!(
        error_of(&b),
        SdpError::BadOrigin {
            offset: b.len() - 2
        }
    );
    let b = with_head("t=0\r\n");
    assert_eq!(
        error_of(&b),
        SdpError::BadTiming {
            offset: b.len() - 2
        }
    );
    let b = with_head("t=0 0 0\r\n");
    assert_eq!(
        error_of(&b),
        SdpError::BadTiming {
            offset: b.len() - 4
        }
    );
}

#[test]
fn error_connection_offsets() {
    let cases: &[(&str, &str)] = &[
        ("c=IN IP4 999.1.1.1", "999"),
        ("c=IN IP4 2001:db8::1", "2001"),
        ("c=IN IP6 192.0.2.1", "192"),
        ("c=IN IP6 2001:db8::g", "2001"),
        ("c=IN  IP4 192.0.2.1", " IP4"),
        ("c=IN IP4 224.2.1.1/127/3/4", "4\r"),
        ("c=IN IP6 FF15::101/3/1", "1\r"),
        ("c=IN IP4 224.2.1.1/x", "x\r"),
        ("c=IN IP4 192.0.2.1 ", " \r"),
        ("c=I(N IP4 192.0.2.1", "(N"),
    ];
    for (line, at) in cases {
        let b = with_head(&format!("{line}\r\nt=0 0\r\n"));
        let line_start = find(&b, "c=");
        let expected = line_start + find(&b[line_start..], at);
        assert_eq!(
            error_of(&b),
            SdpError::BadConnection { offset: expected },
            "{line}"
        );
    }
    let b = with_head("c=IN IP4\r\nt=0 0\r\n");
    assert_eq!(
        error_of(&b),
        SdpError::BadConnection {
            offset: find(&b, "\r\nt=")
        }
    );
}

#[test]
fn error_media_and_attribute_offsets() {
    let cases: &[(&str, &str)] = &[
        ("m=audio 70000 RTP/AVP 0", "70000"),
        ("m=audio 49170/x RTP/AVP 0", "x "),
        ("m=audio -1 RTP/AVP 0", "-1"),
        ("m=audio 49170 RTP//AVP 0", "/AVP"),
        ("m=audio 49170 RTP/AVP 0  8", " 8"),
        ("m=au:dio 49170 RTP/AVP 0", ":dio"),
        ("m=audio 49170 RTP/AVP", "\r\n"),
        ("a=bad name:x", " name"),
        ("a=:x", ":x"),
    ];
    for (line, at) in cases {
        let b = with_head(&format!("t=0 0\r\nm=audio 1 RTP/AVP 0\r\n{line}\r\n"));
        let line_start = b.len() - line.len() - 2;
        let expected = line_start + find(&b[line_start..], at);
        let err = error_of(&b);
        let want = if line.starts_with("a=") {
            SdpError::BadAttribute { offset: expected }
        } else {
            SdpError::BadMedia { offset: expected }
        };
        assert_eq!(err, want, "{line}");
    }
}

#[test]
fn limits_bound_the_work() {
    let body = crlf(RFC4566_EXAMPLE);
    let tight = SdpLimits {
        max_lines: 5,
        max_line_length: 4096,
    };
    assert_eq!(
        Sdp::parse_with_limits(&body, tight),
        Err(SdpError::TooManyLines {
            offset: find(&body, "e="),
            max: 5
        })
    );
    assert!(
        Sdp::parse_with_limits(
            &body,
            SdpLimits {
                max_lines: 12,
                ..tight
            }
        )
        .is_ok()
    );

    let short = SdpLimits {
        max_lines: 1024,
        max_line_length: 46,
    };
    assert_eq!(
        Sdp::parse_with_limits(&body, short),
        Err(SdpError::LineTooLong {
            offset: find(&body, "i="),
            max: 46
        })
    );
    // Exactly at the limit (the ending does not count) is accepted.
    let ok = SdpLimits {
        max_lines: 1024,
        max_line_length: 47,
    };
    assert!(Sdp::parse_with_limits(&body, ok).is_ok());

    let mut long = with_head("t=0 0\r\na=x:");
    long.extend(std::iter::repeat_n(b'y', 5000));
    let at = find(&long, "a=x");
    assert_eq!(
        error_of(&long),
        SdpError::LineTooLong {
            offset: at,
            max: 4096
        }
    );

    let mut many = with_head("t=0 0\r\n");
    for _ in 0..2000 {
        many.extend_from_slice(b"a=x\r\n");
    }
    assert!(matches!(
        error_of(&many),
        SdpError::TooManyLines { max: 1024, .. }
    ));
    let defaults = SdpLimits::default();
    assert_eq!((defaults.max_lines, defaults.max_line_length), (1024, 4096));
}

#[test]
fn display_names_the_offset() {
    let err = SdpError::BadConnection { offset: 42 };
    assert_eq!(
        err.to_string(),
        "malformed c= field at byte offset 42 (RFC 4566 §5.7)"
    );
    assert_eq!(err.offset(), 42);
    let err = SdpError::UnknownType {
        offset: 7,
        kind: 'x',
    };
    assert!(err.to_string().contains("'x'") && err.to_string().contains("byte offset 7"));
    let err = NoSuchMedia { index: 3, count: 1 };
    assert_eq!(
        err.to_string(),
        "SDP has no m= section with index 3 (it has 1)"
    );
}

// ---------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------

/// Free text: any byte but NUL, CR and LF (RFC 4566 §5), UTF-8 or not.
fn text() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop_oneof![1u8..=9, 11u8..=12, 14u8..=255], 0..24)
}

fn token() -> impl Strategy<Value = String> {
    "[!#$%&'*+.0-9A-Z^_`a-z{|}~-]{1,8}"
}

fn digits() -> impl Strategy<Value = String> {
    "[0-9]{1,12}"
}

fn line(kind: char, value: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    value.prop_map(move |v| [format!("{kind}=").into_bytes(), v].concat())
}

fn text_line(kind: char) -> impl Strategy<Value = Vec<u8>> {
    line(kind, text())
}

fn connection_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        any::<Ipv4Addr>().prop_map(|ip| format!("IN IP4 {ip}")),
        any::<Ipv6Addr>().prop_map(|ip| format!("IN IP6 {ip}")),
        (any::<Ipv4Addr>(), 0u8..=255).prop_map(|(ip, ttl)| format!("IN IP4 {ip}/{ttl}")),
        (any::<Ipv6Addr>(), 1u8..=9).prop_map(|(ip, n)| format!("IN IP6 {ip}/{n}")),
        "[a-z]{1,8}\\.example\\.com".prop_map(|h| format!("IN IP4 {h}")),
    ]
    .prop_map(String::into_bytes)
}

fn media_value() -> impl Strategy<Value = Vec<u8>> {
    (
        token(),
        any::<u16>(),
        prop::option::of(any::<u16>()),
        prop::collection::vec(token(), 1..4),
        prop::collection::vec(token(), 1..5),
    )
        .prop_map(|(media, port, count, proto, fmts)| {
            let count = count.map(|c| format!("/{c}")).unwrap_or_default();
            format!(
                "{media} {port}{count} {} {}",
                proto.join("/"),
                fmts.join(" ")
            )
            .into_bytes()
        })
}

fn attribute_value() -> impl Strategy<Value = Vec<u8>> {
    (token(), prop::option::of(text())).prop_map(|(name, value)| match value {
        None => name.into_bytes(),
        Some(v) => [name.into_bytes(), b":".to_vec(), v].concat(),
    })
}

fn origin_value() -> impl Strategy<Value = Vec<u8>> {
    ("[!-~]{1,8}", digits(), digits(), token(), any::<Ipv4Addr>()).prop_map(
        |(user, id, ver, net, ip)| format!("{user} {id} {ver} {net} IP4 {ip}").into_bytes(),
    )
}

fn opt(s: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(s, 0..=1)
}

fn many(s: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(s, 0..3)
}

/// A media description in RFC 4566 §5 order: `m i? c* b* k? a*`.
fn media_section() -> impl Strategy<Value = Vec<Vec<u8>>> {
    (
        line('m', media_value()),
        opt(text_line('i')),
        many(line('c', connection_value())),
        many(text_line('b')),
        opt(text_line('k')),
        many(line('a', attribute_value())),
    )
        .prop_map(|(m, i, c, b, k, a)| {
            let mut v = vec![m];
            for part in [i, c, b, k, a] {
                v.extend(part);
            }
            v
        })
}

/// A whole description in RFC 4566 §5 order, as lines without endings.
fn sdp_lines() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let timing = (
        (digits(), digits()).prop_map(|(a, b)| format!("t={a} {b}").into_bytes()),
        many(text_line('r')),
    )
        .prop_map(|(t, r)| [vec![t], r].concat());
    (
        (
            line('o', origin_value()),
            text_line('s'),
            opt(text_line('i')),
            opt(text_line('u')),
        ),
        (
            many(text_line('e')),
            many(text_line('p')),
            opt(line('c', connection_value())),
            many(text_line('b')),
        ),
        prop::collection::vec(timing, 1..3),
        (
            opt(text_line('z')),
            opt(text_line('k')),
            many(line('a', attribute_value())),
        ),
        prop::collection::vec(media_section(), 0..4),
    )
        .prop_map(|((o, s, i, u), (e, p, c, b), times, (z, k, a), media)| {
            let mut v = vec![b"v=0".to_vec(), o, s];
            for part in [i, u, e, p, c, b] {
                v.extend(part);
            }
            v.extend(times.into_iter().flatten());
            for part in [z, k, a] {
                v.extend(part);
            }
            v.extend(media.into_iter().flatten());
            v
        })
}

/// Lines joined with per-line CRLF or LF endings; the last may have none.
fn sdp_body() -> impl Strategy<Value = (Vec<Vec<u8>>, Vec<u8>)> {
    sdp_lines().prop_flat_map(|lines| {
        let n = lines.len();
        (
            Just(lines),
            prop::collection::vec(any::<bool>(), n),
            any::<bool>(),
        )
            .prop_map(|(lines, crlf, final_eol)| {
                let mut body = Vec::new();
                let last = lines.len() - 1;
                for (i, (line, crlf)) in lines.iter().zip(crlf).enumerate() {
                    body.extend_from_slice(line);
                    if i < last || final_eol {
                        body.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
                    }
                }
                (lines, body)
            })
    })
}

/// Drives every accessor and the editor; an edited body must re-parse.
fn exercise(sdp: &Sdp<'_>) {
    let _ = sdp.session_connection();
    let _ = sdp.attributes().count();
    for m in sdp.media() {
        let _ = (
            m.formats().count(),
            m.connection(),
            m.attributes().count(),
            m.lines().len(),
        );
    }
    let rewrites = [
        sdp.with_connection_address(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))),
        sdp.with_connection_address("2001:db8::1".parse().expect("v6")),
        sdp.with_media_port(0, 9).unwrap_or_else(|_| sdp.to_bytes()),
    ];
    for out in rewrites {
        let again = Sdp::parse(&out).expect("an edited body stays valid");
        assert_eq!(again.lines().len(), sdp.lines().len());
        let before: Vec<_> = sdp.attributes().map(|a| a.raw_line).collect();
        let after: Vec<_> = again.attributes().map(|a| a.raw_line).collect();
        assert_eq!(before, after);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn generated_sdp_round_trips_byte_identical((lines, body) in sdp_body()) {
        let sdp = Sdp::parse(&body).map_err(|e| TestCaseError::fail(format!("{e}: {:?}", String::from_utf8_lossy(&body))))?;
        prop_assert_eq!(sdp.to_bytes(), body.clone());
        prop_assert_eq!(sdp.lines().len(), lines.len());
        let joined: Vec<u8> = sdp.lines().iter().flat_map(|l| l.raw.iter().copied()).collect();
        prop_assert_eq!(&joined, &body);
        for (parsed, expected) in sdp.lines().iter().zip(&lines) {
            prop_assert_eq!(parsed.kind, expected[0]);
            prop_assert_eq!(parsed.value, &expected[2..]);
            prop_assert_eq!(&body[parsed.offset..parsed.offset + parsed.raw.len()], parsed.raw);
        }
        let a_lines = lines.iter().filter(|l| l[0] == b'a').count();
        prop_assert_eq!(sdp.attributes().count(), a_lines);
        prop_assert_eq!(sdp.media().count(), lines.iter().filter(|l| l[0] == b'm').count());
        exercise(&sdp);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(sdp) = Sdp::parse(&bytes) {
            prop_assert_eq!(sdp.to_bytes(), bytes.clone());
            exercise(&sdp);
        }
    }

    #[test]
    fn sdp_alphabet_soup_never_panics(
        bytes in prop::collection::vec(
            prop::sample::select(b"vosctmaibkrz= \r\n0123456789IPN46:./ARTV-x".to_vec()),
            0..256,
        )
    ) {
        let mut input = b"v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\n".to_vec();
        input.extend_from_slice(&bytes);
        match Sdp::parse(&input) {
            Ok(sdp) => {
                prop_assert_eq!(sdp.to_bytes(), input.clone());
                exercise(&sdp);
            }
            Err(e) => prop_assert!(e.offset() <= input.len()),
        }
    }

    #[test]
    fn mutated_valid_sdp_never_panics(
        (_, body) in sdp_body(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..4),
    ) {
        let mut body = body;
        for (at, byte, op) in edits {
            let i = at.index(body.len() + 1);
            match op {
                0 if i < body.len() => body[i] = byte,
                1 => body.insert(i, byte),
                _ if i < body.len() => { body.remove(i); }
                _ => {}
            }
        }
        match Sdp::parse(&body) {
            Ok(sdp) => {
                prop_assert_eq!(sdp.to_bytes(), body.clone());
                exercise(&sdp);
            }
            Err(e) => prop_assert!(e.offset() <= body.len()),
        }
    }
}

#[test]
fn origin_rewrite_hides_the_inside_and_keeps_the_rest() {
    let body = crlf(&[
        "v=0",
        "o=alice.core 2890844526 2890844527 IN IP4 10.20.30.40",
        "s=-",
        "c=IN IP4 192.0.2.10",
        "t=0 0",
        "m=audio 49170 RTP/AVP 0",
        "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
    ]);
    let sdp = Sdp::parse(&body).unwrap();
    let mut ed = sdp.editor();
    assert!(ed.set_origin("-", "2001:db8::5".parse().unwrap()));
    let out = ed.to_bytes();
    let text = String::from_utf8(out.clone()).unwrap();
    assert!(
        text.contains("o=- 2890844526 2890844527 IN IP6 2001:db8::5\r\n"),
        "{text}"
    );
    assert!(!text.contains("10.20.30.40") && !text.contains("alice.core"));
    // Everything but the o= line is byte-identical (RFC 6271 #17).
    let strip = |b: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(b)
            .lines()
            .filter(|l| !l.starts_with("o="))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(strip(&out), strip(&body));
    Sdp::parse(&out).unwrap();

    // Without an o= line there is nothing to edit.
    let no_origin = crlf(&["v=0", "s=-", "t=0 0"]);
    if let Ok(sdp) = Sdp::parse(&no_origin) {
        assert!(!sdp.editor().set_origin("-", "192.0.2.1".parse().unwrap()));
    }
}

#[test]
fn rewriting_rtcp_attribute_touches_only_its_value() {
    let input = crlf(&[
        "v=0",
        "o=- 1 1 IN IP4 203.0.113.1",
        "s=-",
        "c=IN IP4 203.0.113.1",
        "t=0 0",
        "m=audio 49170 RTP/AVP 0",
        "a=rtcp:53020 IN IP4 203.0.113.7",
        "a=sendrecv",
        "m=audio 49180 RTP/AVP 0",
        "a=rtcp:49181",
    ]);
    let sdp = Sdp::parse(&input).expect("SDP with a=rtcp");
    let mut editor = sdp.editor();
    let relay = "192.0.2.5:30001".parse().expect("address");
    assert_eq!(editor.set_media_rtcp(0, relay), Ok(1));
    let out = editor.to_bytes();
    let expected = String::from_utf8(input.clone()).expect("ascii").replace(
        "a=rtcp:53020 IN IP4 203.0.113.7",
        "a=rtcp:30001 IN IP4 192.0.2.5",
    );
    assert_eq!(out, expected.as_bytes());
    assert_eq!(sdp.editor().set_media_rtcp(1, relay), Ok(1));
    assert!(sdp.editor().set_media_rtcp(2, relay).is_err());
}

#[test]
fn removing_attributes_drops_whole_lines_and_keeps_every_other_byte() {
    let input = crlf(&[
        "v=0",
        "o=- 1 1 IN IP4 203.0.113.1",
        "s=-",
        "c=IN IP4 203.0.113.1",
        "t=0 0",
        "a=ice-ufrag:F7gI",
        "a=ice-pwd:x9cml/YzichV2+XlhiMu8g",
        "m=audio 49170 RTP/AVP 0",
        "a=candidate:1 1 UDP 2130706431 203.0.113.1 49170 typ host",
        "a=rtcp:49171",
        "a=candidate:2 1 UDP 1694498815 198.51.100.7 61000 typ srflx raddr 203.0.113.1 rport 49170",
        "a=sendrecv",
        "m=video 49180 RTP/AVP 96",
        "a=candidate:1 1 UDP 2130706431 203.0.113.1 49180 typ host",
    ]);
    let sdp = Sdp::parse(&input).expect("SDP with ICE");
    let mut editor = sdp.editor();
    let relay = "192.0.2.5:30001".parse().expect("address");
    // An edit inside a line, then that line removed: the removal wins.
    assert_eq!(editor.set_media_rtcp(0, relay), Ok(1));
    assert_eq!(
        editor.remove_media_attributes(0, |n| n == "candidate" || n == "rtcp"),
        Ok(3)
    );
    assert_eq!(
        editor.remove_session_attributes(|n| n.starts_with("ice-")),
        2
    );
    assert!(editor.remove_media_attributes(2, |_| true).is_err());
    let out = String::from_utf8(editor.to_bytes()).expect("ascii");
    let expected = crlf(&[
        "v=0",
        "o=- 1 1 IN IP4 203.0.113.1",
        "s=-",
        "c=IN IP4 203.0.113.1",
        "t=0 0",
        "m=audio 49170 RTP/AVP 0",
        "a=sendrecv",
        "m=video 49180 RTP/AVP 96",
        "a=candidate:1 1 UDP 2130706431 203.0.113.1 49180 typ host",
    ]);
    assert_eq!(out.as_bytes(), &expected[..]);
    assert!(Sdp::parse(out.as_bytes()).is_ok());
}

#[test]
fn a_media_description_gets_a_connection_line_of_its_own_where_rfc_4566_puts_it() {
    let input = crlf(&[
        "v=0",
        "o=- 1 1 IN IP4 203.0.113.1",
        "s=-",
        "c=IN IP4 203.0.113.1",
        "t=0 0",
        "m=audio 49170 RTP/AVP 0",
        "i=voice",
        "a=sendrecv",
        "m=message 7394 TCP/MSRP *",
        "c=IN IP4 203.0.113.9",
        "a=path:msrp://203.0.113.1:7394/x;tcp",
    ]);
    let sdp = Sdp::parse(&input).expect("mixed SDP");
    let mut editor = sdp.editor();
    let relay: std::net::IpAddr = "192.0.2.5".parse().expect("address");
    editor
        .ensure_media_connection_address(0, relay)
        .expect("m=0");
    editor
        .ensure_media_connection_address(1, relay)
        .expect("m=1");
    assert!(editor.ensure_media_connection_address(2, relay).is_err());
    let out = editor.to_bytes();
    let expected = crlf(&[
        "v=0",
        "o=- 1 1 IN IP4 203.0.113.1",
        "s=-",
        "c=IN IP4 203.0.113.1",
        "t=0 0",
        "m=audio 49170 RTP/AVP 0",
        "i=voice",
        "c=IN IP4 192.0.2.5",
        "a=sendrecv",
        "m=message 7394 TCP/MSRP *",
        "c=IN IP4 192.0.2.5",
        "a=path:msrp://203.0.113.1:7394/x;tcp",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&expected)
    );
    let again = Sdp::parse(&out).expect("still SDP");
    let m0 = again.media().next().expect("m=0");
    assert_eq!(m0.connection().and_then(|c| c.ip), Some(relay));
    // LF-only input, last line without an ending: the new line follows suit.
    let lf = b"v=0\no=- 1 1 IN IP4 203.0.113.1\ns=-\nc=IN IP4 203.0.113.1\nt=0 0\nm=audio 49170 RTP/AVP 0";
    let sdp = Sdp::parse(lf).expect("LF SDP");
    let mut editor = sdp.editor();
    editor
        .ensure_media_connection_address(0, relay)
        .expect("m=0");
    assert_eq!(
        editor.to_bytes(),
        b"v=0\no=- 1 1 IN IP4 203.0.113.1\ns=-\nc=IN IP4 203.0.113.1\nt=0 0\nm=audio 49170 RTP/AVP 0\nc=IN IP4 192.0.2.5\n"
    );
}

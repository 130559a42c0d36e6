//! Fixtures for the speermint benchmarks: realistic peering-style SIP
//! messages, and HTTP/1.1 messages of the same size and header count built
//! from them, so that `httparse` can serve as a yardstick for the cost of a
//! head parse.
//!
//! Every message is assembled deterministically; Content-Length is computed
//! from the body, never typed by hand.
#![forbid(unsafe_code)]

/// The header section of an initial INVITE crossing a peering link, as the
/// receiving border element sees it: two Vias with `branch`, `rport` and
/// `received`, a Record-Route, display names and a From tag. Content-Length
/// is appended by [`invite`].
pub const INVITE_HEAD: &str = "\
INVITE sip:+14155550123@peer-b.example.net;user=phone SIP/2.0\r\n\
Via: SIP/2.0/UDP 198.51.100.10;branch=z9hG4bK3f8a1c2e9d;rport=5060;received=198.51.100.10\r\n\
Via: SIP/2.0/UDP 10.0.0.4;branch=z9hG4bK-77ab2;rport=5062;received=203.0.113.7\r\n\
Record-Route: <sip:198.51.100.10;lr>\r\n\
Max-Forwards: 69\r\n\
From: \"Alice\" <sip:+14085550100@peer-a.example.com>;tag=9fxced76sl\r\n\
To: \"Bob\" <sip:+14155550123@peer-b.example.net>\r\n\
Call-ID: a84b4c76e66710@peer-a.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:+14085550100@198.51.100.10>\r\n\
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\n\
Supported: 100rel, timer\r\n\
Content-Type: application/sdp\r\n";

/// The SDP offer of [`invite`]: IPv4 `c=`, one audio stream with three
/// payload types, and an SDES `a=crypto` line.
pub const INVITE_SDP: &str = "\
v=0\r\n\
o=- 1585923412 1 IN IP4 198.51.100.10\r\n\
s=-\r\n\
c=IN IP4 198.51.100.20\r\n\
t=0 0\r\n\
m=audio 40000 RTP/SAVP 0 8 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32\r\n";

/// The header section of the 200 OK answering [`invite`]: the Vias,
/// Record-Route, From, Call-ID and CSeq echoed, a To tag added.
pub const OK200_HEAD: &str = "\
SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 198.51.100.10;branch=z9hG4bK3f8a1c2e9d;rport=5060;received=198.51.100.10\r\n\
Via: SIP/2.0/UDP 10.0.0.4;branch=z9hG4bK-77ab2;rport=5062;received=203.0.113.7\r\n\
Record-Route: <sip:198.51.100.10;lr>\r\n\
From: \"Alice\" <sip:+14085550100@peer-a.example.com>;tag=9fxced76sl\r\n\
To: \"Bob\" <sip:+14155550123@peer-b.example.net>;tag=8321234356\r\n\
Call-ID: a84b4c76e66710@peer-a.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:+14155550123@192.0.2.44>\r\n\
Content-Type: application/sdp\r\n";

/// The SDP answer of [`ok200`]: PCMU (static, so no rtpmap) plus DTMF.
pub const OK200_SDP: &str = "\
v=0\r\n\
o=- 2890844527 2 IN IP4 192.0.2.44\r\n\
s=-\r\n\
c=IN IP4 192.0.2.45\r\n\
t=0 0\r\n\
m=audio 49170 RTP/SAVP 0 101\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:d0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj|2^20|1:32\r\n";

/// An out-of-dialog OPTIONS keep-alive ping between peers (no body).
pub const OPTIONS_HEAD: &str = "\
OPTIONS sip:peer-b.example.net SIP/2.0\r\n\
Via: SIP/2.0/UDP 198.51.100.10;branch=z9hG4bK-ping-5f1e2d3c4b;rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:ping@peer-a.example.com>;tag=a1b2c3d4e5\r\n\
To: <sip:peer-b.example.net>\r\n\
Call-ID: 7f3c9e21b8a04d65@peer-a.example.com\r\n\
CSeq: 2718 OPTIONS\r\n\
Contact: <sip:ping@198.51.100.10>\r\n\
Accept: application/sdp\r\n\
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\n";

/// Appends `Content-Length`, the empty line and the body to `head`.
fn assemble(head: &str, body: &str) -> Vec<u8> {
    format!("{head}Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

/// The INVITE with SDP offer (about 900 bytes).
pub fn invite() -> Vec<u8> {
    assemble(INVITE_HEAD, INVITE_SDP)
}

/// The 200 OK with SDP answer (about 700 bytes).
pub fn ok200() -> Vec<u8> {
    assemble(OK200_HEAD, OK200_SDP)
}

/// The OPTIONS request (about 400 bytes).
pub fn options() -> Vec<u8> {
    assemble(OPTIONS_HEAD, "")
}

/// The HTTP/1.1 counterpart of a SIP message: the start line is replaced
/// by an HTTP one of about the same length (`INVITE` becomes `POST`; the
/// Request-URI becomes the path `/sip:...`; `SIP/2.0` becomes `HTTP/1.1`,
/// one byte longer), and the header lines and body are kept byte for byte.
/// Same header count, same value lengths; `httparse` stops at the empty line.
pub fn http_equivalent(sip: &[u8]) -> Vec<u8> {
    let eol = sip
        .windows(2)
        .position(|w| w == b"\r\n")
        .expect("a SIP message has a start line");
    let line = std::str::from_utf8(&sip[..eol]).expect("ASCII start line");
    let start = if let Some(status) = line.strip_prefix("SIP/2.0 ") {
        format!("HTTP/1.1 {status}")
    } else {
        let (method, rest) = line.split_once(' ').expect("method");
        let (uri, _) = rest.rsplit_once(' ').expect("version");
        let method = if method == "INVITE" { "POST" } else { method };
        format!("{method} /{uri} HTTP/1.1")
    };
    let mut out = start.into_bytes();
    out.extend_from_slice(&sip[eol..]);
    out
}

/// The three benchmarked messages by id: `(name, SIP bytes, HTTP bytes)`.
pub fn corpus() -> Vec<(&'static str, Vec<u8>, Vec<u8>)> {
    [
        ("invite", invite()),
        ("ok200", ok200()),
        ("options", options()),
    ]
    .into_iter()
    .map(|(name, sip)| {
        let http = http_equivalent(&sip);
        (name, sip, http)
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use speermint_sip::{HeaderName, Message, Transport};

    #[test]
    fn messages_parse_with_speermint() {
        for (name, bytes, _) in corpus() {
            let msg = Message::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(msg.discarded(), 0, "{name}");
            assert_eq!(msg.as_bytes().len(), bytes.len(), "{name}");
            // The same bytes are also valid on a stream transport.
            Message::parse_with(&bytes, &Default::default(), Transport::Stream)
                .unwrap_or_else(|e| panic!("{name} (stream): {e}"));
            assert!(msg.core().via.branch().is_some(), "{name}");
            assert!(msg.core().from.tag().is_some(), "{name}");
            assert_eq!(msg.name_addrs(HeaderName::Contact).count(), 1, "{name}");
        }
    }

    #[test]
    fn message_sizes() {
        let (i, o, p) = (invite().len(), ok200().len(), options().len());
        assert!((850..=950).contains(&i), "INVITE is {i} bytes");
        assert!((600..=800).contains(&o), "200 OK is {o} bytes");
        assert!((350..=450).contains(&p), "OPTIONS is {p} bytes");
    }

    #[test]
    fn invite_details() {
        let bytes = invite();
        let msg = Message::parse(&bytes).unwrap();
        let core = msg.core();
        assert_eq!(msg.vias().count(), 2);
        assert_eq!(core.via.branch(), Some("z9hG4bK3f8a1c2e9d"));
        assert_eq!(core.via.rport(), Some(Some(5060)));
        assert_eq!(core.via.received(), Some("198.51.100.10"));
        assert_eq!(core.from.display, Some("\"Alice\""));
        assert_eq!(core.to.display, Some("\"Bob\""));
        assert_eq!(core.cseq.seq, 314_159);
        assert_eq!(core.max_forwards, Some(69));
        assert!(core.content_type.is_some_and(|c| c.is_sdp()));
        assert_eq!(msg.body(), INVITE_SDP.as_bytes());
        assert_eq!(msg.name_addrs(HeaderName::RecordRoute).count(), 1);
        let sdp = INVITE_SDP;
        assert!(sdp.contains("c=IN IP4 ") && sdp.contains("a=crypto:"));
        assert_eq!(sdp.matches("a=rtpmap:").count(), 3);
    }

    fn body_len(sip: &[u8]) -> usize {
        Message::parse(sip).unwrap().body().len()
    }

    #[test]
    fn http_equivalents_match_size_and_header_count() {
        for (name, sip, http) in corpus() {
            let lines = |b: &[u8]| {
                let head_end = b.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
                b[..head_end].windows(2).filter(|w| *w == b"\r\n").count()
            };
            assert_eq!(lines(&sip), lines(&http), "{name}");
            assert!(sip.len().abs_diff(http.len()) <= 4, "{name}");
            // httparse accepts them, and stops at the empty line.
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let head = if http.starts_with(b"HTTP/") {
                httparse::Response::new(&mut headers).parse(&http)
            } else {
                httparse::Request::new(&mut headers).parse(&http)
            };
            let head = head.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                head,
                httparse::Status::Complete(http.len() - body_len(&sip))
            );
            assert_eq!(
                headers.iter().filter(|h| !h.name.is_empty()).count(),
                lines(&sip)
            );
        }
    }
}

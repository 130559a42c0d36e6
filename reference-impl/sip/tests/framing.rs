//! Stream framing (RFC 3261 §18.3, RFC 5626 §3.5.1): messages concatenated
//! with CRLF keep-alives and cut into arbitrary chunks must come out of a
//! `frame()` accumulator loop exactly as they went in, and
//! `Incomplete { min: Some(n) }` must never over-state what is missing.

use proptest::collection::vec;
use proptest::prelude::*;
use speermint_sip::{Framing, Limits, Message, MessageBuilder, Transport, frame};

/// How the builder's `Content-Length: n` line is respelled: all are valid
/// (RFC 3261 §7.3.1 HCOLON, §7.3.3 compact form).
const CL_SPELLINGS: [&str; 5] = [
    "Content-Length: ",
    "l: ",
    "CONTENT-LENGTH :  ",
    "content-length:\t",
    "Content-Length:0000",
];

fn message() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![
            Just("INVITE"),
            Just("OPTIONS"),
            Just("MESSAGE"),
            Just("BYE"),
            Just("ACK"),
        ],
        proptest::option::of((100u16..=699, "[a-zA-Z ]{0,12}")),
        "[a-z0-9]{1,12}",
        0u32..=1_000_000,
        vec(any::<u8>(), 0..300),
        any::<bool>(),
        0..CL_SPELLINGS.len(),
    )
        .prop_map(|(method, status, id, seq, mut body, decoy, cl)| {
            if decoy {
                // Text that a sloppy framer could take for a boundary or a length.
                body.extend_from_slice(b"\r\n\r\nContent-Length: 3\r\n\r\nabc");
            }
            let b = match &status {
                Some((code, reason)) => MessageBuilder::response(*code, reason),
                None => MessageBuilder::request(method, "sip:bob@example.com"),
            };
            let mut b = b
                .header(
                    "Via",
                    format!("SIP/2.0/TCP h.example.com;branch=z9hG4bK{id}"),
                )
                .header("From", "<sip:alice@example.com>;tag=1")
                .header("To", "<sip:bob@example.com>")
                .header("Call-ID", format!("{id}@h"))
                .header("CSeq", format!("{seq} {method}"));
            if decoy {
                b = b
                    .header("X-Content-Length", "99999")
                    .header("Subject", "Content-Length: 12");
            }
            let built = if body.is_empty() && !decoy {
                b.build()
            } else {
                b.body("application/octet-stream", &body).build()
            };
            respell_content_length(built, CL_SPELLINGS[cl])
        })
}

/// Rewrites the last `Content-Length: ` of a builder message (the builder
/// writes it last) with another spelling.
fn respell_content_length(msg: Vec<u8>, spelling: &str) -> Vec<u8> {
    let head_end = msg.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let needle = b"\r\nContent-Length: ";
    let at = msg[..head_end]
        .windows(needle.len())
        .rposition(|w| w == needle)
        .unwrap();
    let mut out = msg[..at + 2].to_vec();
    out.extend_from_slice(spelling.as_bytes());
    out.extend_from_slice(&msg[at + needle.len()..]);
    out
}

/// 1-4 messages, each optionally preceded by a keep-alive, maybe one at the end.
fn stream() -> impl Strategy<Value = (Vec<Vec<u8>>, Vec<u8>)> {
    (
        vec(
            (
                proptest::option::of(prop_oneof![Just("\r\n\r\n"), Just("\r\n")]),
                message(),
            ),
            1..=4,
        ),
        any::<bool>(),
    )
        .prop_map(|(parts, trailing)| {
            let mut s = Vec::new();
            let mut msgs = Vec::new();
            for (ka, m) in parts {
                if let Some(ka) = ka {
                    s.extend_from_slice(ka.as_bytes());
                }
                s.extend_from_slice(&m);
                msgs.push(m);
            }
            if trailing {
                s.extend_from_slice(b"\r\n\r\n");
            }
            (msgs, s)
        })
}

/// Feeds `stream` in chunks of the given sizes (cycled) and collects the
/// framed messages. At each `Incomplete`, checks the claim against the
/// bytes that are really coming.
fn deframe(stream: &[u8], chunks: &[usize]) -> Vec<Vec<u8>> {
    let limits = Limits::default();
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    let mut fed = 0;
    let mut sizes = chunks.iter().cycle();
    while fed < stream.len() {
        let n = (*sizes.next().unwrap()).min(stream.len() - fed);
        buf.extend_from_slice(&stream[fed..fed + n]);
        fed += n;
        loop {
            match frame(&buf, &limits) {
                Ok(Framing::Complete { start, end }) => {
                    assert!(start <= end && end <= buf.len());
                    assert!(buf[..start].chunks(2).all(|c| c == b"\r\n"));
                    out.push(buf[start..end].to_vec());
                    buf.drain(..end);
                }
                Ok(Framing::KeepAlive { len }) => {
                    assert!(len > 0 && len <= buf.len());
                    assert!(buf[..len].chunks(2).all(|c| c == b"\r\n"));
                    buf.drain(..len);
                }
                Ok(Framing::Incomplete { min }) => {
                    check_incomplete(&buf, &stream[fed..], min, &limits);
                    break;
                }
                Err(e) => panic!("frame refused a valid stream: {e:?} at {fed}"),
            }
        }
    }
    assert!(
        buf.is_empty(),
        "left over: {:?}",
        String::from_utf8_lossy(&buf)
    );
    out
}

fn check_incomplete(buf: &[u8], coming: &[u8], min: Option<usize>, limits: &Limits) {
    let lead = buf
        .chunks(2)
        .take_while(|c| *c == b"\r\n")
        .map(<[u8]>::len)
        .sum::<usize>();
    let head_seen = buf[lead..].windows(4).any(|w| w == b"\r\n\r\n");
    match min {
        None => assert!(!head_seen, "header section complete but length not known"),
        Some(n) => {
            assert!(head_seen, "a length without a header section");
            assert!(n > 0, "Incomplete with nothing missing");
            assert!(
                n <= coming.len(),
                "over-stated: {n} more claimed, {} coming",
                coming.len()
            );
            let mut probe = buf.to_vec();
            probe.extend_from_slice(&coming[..n]);
            assert_eq!(
                frame(&probe, limits),
                Ok(Framing::Complete {
                    start: lead,
                    end: probe.len()
                }),
                "{n} more bytes were claimed to complete the message"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn chunked_streams_deframe_to_the_originals(
        (msgs, s) in stream(),
        chunks in vec(1usize..120, 1..16),
    ) {
        let got = deframe(&s, &chunks);
        prop_assert_eq!(got.len(), msgs.len());
        for (g, m) in got.iter().zip(&msgs) {
            prop_assert_eq!(g, m);
            let parsed = Message::parse_with(g, &Limits::default(), Transport::Stream);
            prop_assert!(parsed.is_ok(), "{:?}", parsed.err());
            prop_assert_eq!(parsed.unwrap().as_bytes().len(), g.len());
        }
    }

    #[test]
    fn byte_at_a_time_matches_whole_stream((msgs, s) in stream()) {
        prop_assert_eq!(deframe(&s, &[1]), msgs.clone());
        prop_assert_eq!(deframe(&s, &[s.len()]), msgs);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Folding any header field at an SP after its colon keeps the message
    /// valid (RFC 3261 §7.3.1), so the parser and `frame` must still agree
    /// on where it ends.
    #[test]
    fn frame_agrees_with_the_parser_on_folded_fields(
        m in message(),
        pick in any::<prop::sample::Index>(),
    ) {
        let spots = fold_spots(&m);
        prop_assume!(!spots.is_empty());
        let at = spots[pick.index(spots.len())];
        let mut folded = m[..at].to_vec();
        folded.extend_from_slice(b"\r\n");
        folded.extend_from_slice(&m[at..]);
        let limits = Limits::default();
        let parsed = Message::parse_with(&folded, &limits, Transport::Stream);
        prop_assert!(parsed.is_ok(), "{:?}", parsed.err());
        prop_assert_eq!(
            frame(&folded, &limits),
            Ok(Framing::Complete { start: 0, end: folded.len() }),
            "{}",
            String::from_utf8_lossy(&folded).escape_debug()
        );
    }
}

/// Offsets of the SPs after the colon of each header line: a CRLF may be
/// inserted before any of them.
fn fold_spots(msg: &[u8]) -> Vec<usize> {
    let head_end = msg.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let mut spots = Vec::new();
    let mut pos = msg.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
    while pos < head_end + 2 {
        let eol = pos + msg[pos..].windows(2).position(|w| w == b"\r\n").unwrap();
        let colon = pos + msg[pos..eol].iter().position(|&c| c == b':').unwrap();
        spots.extend((colon..eol).filter(|&i| msg[i] == b' '));
        pos = eol + 2;
    }
    spots
}

#[test]
fn keep_alives_alone() {
    assert_eq!(deframe(b"\r\n\r\n\r\n", &[1]), Vec::<Vec<u8>>::new());
    assert_eq!(deframe(b"\r\n\r\n", &[4]), Vec::<Vec<u8>>::new());
    let l = Limits::default();
    assert_eq!(frame(b"", &l), Ok(Framing::Incomplete { min: None }));
    assert_eq!(frame(b"\r", &l), Ok(Framing::Incomplete { min: None }));
    assert_eq!(frame(b"\r\n\r", &l), Ok(Framing::Incomplete { min: None }));
}

const FOLDED_CL: &[u8] = b"OPTIONS sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/TCP h.example.com;branch=z9hG4bK1\r\n\
From: <sip:alice@example.com>;tag=1\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: 1@h\r\n\
CSeq: 1 OPTIONS\r\n\
Content-Length:\r\n 5\r\n\
\r\n\
hello";

/// A folded Content-Length is valid (RFC 3261 §7.3.1: any header value may
/// be folded) and the parser accepts it on a stream; `frame` must agree.
#[test]
fn folded_content_length_is_framed() {
    let m = Message::parse_with(FOLDED_CL, &Limits::default(), Transport::Stream)
        .expect("the parser accepts a folded Content-Length");
    assert_eq!(m.body(), b"hello");
    assert_eq!(
        frame(FOLDED_CL, &Limits::default()),
        Ok(Framing::Complete {
            start: 0,
            end: FOLDED_CL.len()
        })
    );
}

const SMUGGLED_CL: &[u8] = b"OPTIONS sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/TCP h.example.com;branch=z9hG4bK1\r\n\
From: <sip:alice@example.com>;tag=1\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: 1@h\r\n\
CSeq: 1 OPTIONS\r\n\
Content-Length: 5\r\n\
Subject: hi\r\n Content-Length: 40\r\n\
\r\n\
hello";

/// A continuation line is part of the previous field's value (here
/// Subject's), not a header of its own: `frame` must not read a length from
/// it. If it does, framer and parser disagree on where the message ends
/// and the stream desynchronises (the next message is taken as body).
#[test]
fn continuation_line_is_not_a_content_length() {
    let m = Message::parse_with(SMUGGLED_CL, &Limits::default(), Transport::Stream)
        .expect("the parser accepts the message");
    assert_eq!(m.core().content_length, Some(5));
    assert_eq!(m.body(), b"hello");
    let mut two = SMUGGLED_CL.to_vec();
    two.extend_from_slice(FOLDED_CL);
    assert_eq!(
        frame(&two, &Limits::default()),
        Ok(Framing::Complete {
            start: 0,
            end: SMUGGLED_CL.len()
        })
    );
}

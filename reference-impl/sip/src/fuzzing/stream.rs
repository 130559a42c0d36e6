//! `sip_stream`: chunked stream framing equals whole-buffer framing.

#[allow(unused_imports)]
use super::*;

/// Most bytes in one `sip_stream` stream, so that repeated framing of
/// partial buffers stays cheap.
pub(crate) const STREAM_MAX: usize = 16 * 1024;
/// Most chunks a stream is cut into; the last chunk takes the rest.
pub(crate) const STREAM_CHUNKS: usize = 64;

/// What a connection's reader did with a stream.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Framed {
    /// The framed messages, in order, as their bytes.
    messages: Vec<Vec<u8>>,
    /// Where reading stopped: bytes left over, or the error that closed the
    /// connection.
    end: Result<Vec<u8>, ParseErrorKind>,
}

/// Frames whatever `buf` holds; consumed bytes leave `buf`.
pub(crate) fn frame_all(
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
pub(crate) fn read_stream(stream: &[u8], chunks: &[usize], limits: &Limits) -> Framed {
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
pub(crate) enum Segment {
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
pub(crate) fn stream_limits(u: &mut Unstructured<'_>) -> Gen<Limits> {
    let max = match u.int_in_range(0..=3u8)? {
        0 => u.int_in_range(256..=4096)?,
        _ => Limits::default().max_message_size,
    };
    Ok(Limits {
        max_message_size: max,
        ..Limits::default()
    })
}

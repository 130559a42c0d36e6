//! Messages the element makes itself: hop-by-hop CANCEL and ACK (RFC 3261
//! §9.1, §17.1.1.3), answers to requests that did not parse (§8.2.6), and
//! the body rewrite of the `strip-unknown-sdp` fault.

use speermint_sip::headers::split_list;
use speermint_sip::{HeaderName, Message, MessageBuilder, sanitize_phrase};

/// A CANCEL for a request we forwarded (§9.1): same Request-URI, top Via,
/// Call-ID, From, To, Route and CSeq number.
pub(crate) fn build_cancel(forwarded: &[u8]) -> Option<Vec<u8>> {
    hop_request(forwarded, "CANCEL", None)
}

/// The ACK a client transaction sends for a non-2xx final (§17.1.1.3).
pub(crate) fn build_ack(forwarded: &[u8], resp: &Message<'_>) -> Option<Vec<u8>> {
    let to = resp.header(HeaderName::To).and_then(|h| h.value_str());
    hop_request(forwarded, "ACK", to)
}

fn hop_request(forwarded: &[u8], method: &str, to: Option<&str>) -> Option<Vec<u8>> {
    let req = Message::parse(forwarded).ok()?;
    let c = req.core();
    let mut b = MessageBuilder::request(method, req.request_uri()?.raw())
        .header("Via", c.via.raw)
        .header("Max-Forwards", 70)
        .header("From", c.from.raw)
        .header("To", to.unwrap_or(c.to.raw))
        .header("Call-ID", c.call_id)
        .header("CSeq", format_args!("{} {method}", c.cseq.seq));
    for r in req.values(HeaderName::Route) {
        b = b.header("Route", r);
    }
    Some(b.build())
}

pub(crate) fn looks_like_request(bytes: &[u8]) -> bool {
    let sp = bytes.iter().position(|&c| c == b' ');
    sp.is_some_and(|i| i > 0 && bytes[..i].iter().all(|&c| speermint_sip::is_token_char(c)))
        && !bytes.starts_with(b"SIP/")
}

/// A response to a request that failed to parse: the Via, From, To,
/// Call-ID and CSeq lines are copied as far as they can be found (RFC 3261
/// §8.2.6), sanitised, so the sender can match it to its transaction.
/// `None` when there is no Via to answer along.
pub fn salvage_response(bytes: &[u8], status: u16, reason: &str) -> Option<Vec<u8>> {
    let mut b = MessageBuilder::response(status, reason);
    let mut seen = [false; 5];
    for line in bytes.split(|&c| c == b'\n').skip(1).take(256) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|&c| c == b':') else {
            continue;
        };
        let name = HeaderName::from_bytes(trim(&line[..colon]));
        let slot = match name {
            HeaderName::Via => 0,
            HeaderName::From => 1,
            HeaderName::To => 2,
            HeaderName::CallId => 3,
            HeaderName::CSeq => 4,
            _ => continue,
        };
        if seen[slot] && slot != 0 {
            continue;
        }
        seen[slot] = true;
        let value = sanitize_phrase(&String::from_utf8_lossy(trim(&line[colon + 1..])));
        if name == HeaderName::Via {
            // Keep the Via elements that parse so the sender can match the
            // answer; if none does, echo the text as received.
            let good: Vec<&str> = split_list(&value)
                .filter_map(Result::ok)
                .map(|(_, v)| v)
                .filter(|v| speermint_sip::Via::parse(v).is_ok())
                .collect();
            if !good.is_empty() {
                b = b.header("Via", good.join(", "));
                continue;
            }
        }
        b = b.header(name.canonical(), value);
    }
    seen[0].then(|| b.build())
}

fn trim(b: &[u8]) -> &[u8] {
    let s = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let e = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(s, |e| e + 1);
    &b[s..e]
}

/// The `strip-unknown-sdp` fault: drops every `a=` line whose attribute
/// name is not one a naive element knows.
pub(crate) fn strip_unknown_attributes(body: &[u8]) -> Vec<u8> {
    const KNOWN: [&[u8]; 6] = [
        b"a=rtpmap",
        b"a=fmtp",
        b"a=sendrecv",
        b"a=recvonly",
        b"a=sendonly",
        b"a=ptime",
    ];
    let mut out = Vec::with_capacity(body.len());
    for line in body.split_inclusive(|&c| c == b'\n') {
        if line.starts_with(b"a=") && !KNOWN.iter().any(|k| line.starts_with(k)) {
            continue;
        }
        out.extend_from_slice(line);
    }
    out
}

//! Presence and instant messaging across the border (RFC 5344, as RFC 6271
//! #10, #11, #13 and #14 ask it of a peering element), and the faults that
//! break them.
//!
//! A proxy needs little beyond RFC 3261 §16 for these, and what it needs is
//! here:
//! - A SUBSCRIBE forms a dialog, and so may each NOTIFY (a NOTIFY can reach
//!   the subscriber before the 2xx, RFC 6665 §4.1.2.4). An element that is
//!   to see a subscription's refreshes and NOTIFYs must Record-Route the
//!   SUBSCRIBE and every NOTIFY (RFC 6665 §4.3). At the border it must: the
//!   peer reaches the inside only through it, and the refreshes and
//!   NOTIFYs must meet its policy like any request. REFER's implicit
//!   subscription (RFC 3515) is the same.
//! - PUBLISH (RFC 3903) and MESSAGE (RFC 3428) form no dialog: they are
//!   relayed as any non-INVITE request and not Record-Routed.
//! - Bodies cross as they came (RFC 3261 §16.6 step 1): a PIDF document
//!   (RFC 3863), a resource list's multipart/related NOTIFY with its RLMI
//!   root (RFC 4662), the SDP of an MSRP session with its `a=path` and
//!   `a=accept-types` (RFC 4975 §8).
//!
//! The faults ([`Fault::DropSubscribe`], [`Fault::NotifyOutsideDialog`],
//! [`Fault::ManglePidf`], [`Fault::StripMsrpPath`], [`Fault::DropMessage`],
//! [`Fault::FlattenMultipart`]) are each a naive element's way of getting
//! one of these wrong.

use crate::{Fault, Faults};
use speermint_sip::{HeaderName, Message};

/// Whether the element Record-Routes a request of `method` (RFC 3261
/// §16.6 step 4; RFC 6665 §4.3 for SUBSCRIBE and NOTIFY).
pub(crate) fn records_route(method: &str, faults: Faults) -> bool {
    match method {
        "INVITE" | "REFER" => true,
        "SUBSCRIBE" | "NOTIFY" => !faults.contains(Fault::NotifyOutsideDialog),
        _ => false,
    }
}

/// Whether a fault makes the element swallow a request of `method`.
pub(crate) fn dropped_by_fault(method: &str, faults: Faults) -> bool {
    (method == "SUBSCRIBE" && faults.contains(Fault::DropSubscribe))
        || (method == "MESSAGE" && faults.contains(Fault::DropMessage))
}

/// A body as a faulty element rewrites it, with the Content-Type it then
/// gives it when that changes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Rewritten {
    pub(crate) content_type: Option<String>,
    pub(crate) body: Vec<u8>,
}

/// What the body faults make of `body` (of type `content_type`); `None`
/// when none applies, which is always so for the correct element.
pub(crate) fn faulty_body(faults: Faults, content_type: &str, body: &[u8]) -> Option<Rewritten> {
    let (media, params) = content_type.split_once(';').unwrap_or((content_type, ""));
    let media = media.trim().to_ascii_lowercase();
    let same_type = |body| {
        Some(Rewritten {
            content_type: None,
            body,
        })
    };
    match media.as_str() {
        "application/pidf+xml" if faults.contains(Fault::ManglePidf) => {
            first_tuple_only(body).and_then(same_type)
        }
        "application/sdp" if faults.contains(Fault::StripMsrpPath) => {
            without_msrp_path(body).and_then(same_type)
        }
        m if m.starts_with("multipart/") && faults.contains(Fault::FlattenMultipart) => {
            root_part(params, body)
        }
        _ => None,
    }
}

/// The `mangle-pidf` fault: everything between the end of the first
/// `</tuple>` and the end of the last goes. Crude on purpose: it reads the
/// default-namespace documents the checks send.
fn first_tuple_only(body: &[u8]) -> Option<Vec<u8>> {
    const END: &[u8] = b"</tuple>";
    let first = find(body, END)? + END.len();
    let last = rfind(body, END)? + END.len();
    (last > first).then(|| [&body[..first], &body[last..]].concat())
}

/// The `strip-msrp-path` fault: `a=path` lines go from an SDP that offers
/// or answers MSRP (`m=message`).
fn without_msrp_path(body: &[u8]) -> Option<Vec<u8>> {
    find(body, b"m=message ")?;
    let kept: Vec<u8> = body
        .split_inclusive(|&c| c == b'\n')
        .filter(|line| !line.starts_with(b"a=path:"))
        .flatten()
        .copied()
        .collect();
    (kept.len() != body.len()).then_some(kept)
}

/// The `flatten-multipart` fault: the first part's content alone, under
/// that part's Content-Type.
fn root_part(params: &str, body: &[u8]) -> Option<Rewritten> {
    let boundary = params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
    })?;
    let delimiter = format!("--{boundary}");
    let start = find(body, delimiter.as_bytes())? + delimiter.len();
    let part = body[start..].strip_prefix(b"\r\n")?;
    let end = find(part, format!("\r\n{delimiter}").as_bytes())?;
    let part = &part[..end];
    let split = find(part, b"\r\n\r\n")?;
    let (headers, content) = (&part[..split], &part[split + 4..]);
    let content_type = String::from_utf8_lossy(headers).lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("content-type")
            .then(|| v.trim().to_string())
    })?;
    Some(Rewritten {
        content_type: Some(content_type),
        body: content.to_vec(),
    })
}

/// The Content-Type of a message as written, when it has one.
pub(crate) fn content_type<'a>(msg: &'a Message<'_>) -> Option<&'a str> {
    msg.header(HeaderName::ContentType)
        .and_then(|h| h.value_str())
        .map(str::trim)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_are_record_routed_unless_the_fault_says_otherwise() {
        let none = Faults::NONE;
        for m in ["INVITE", "SUBSCRIBE", "NOTIFY", "REFER"] {
            assert!(records_route(m, none), "{m}");
        }
        for m in ["MESSAGE", "PUBLISH", "OPTIONS", "BYE", "ACK", "INFO"] {
            assert!(!records_route(m, none), "{m}");
        }
        let f = Faults::only(Fault::NotifyOutsideDialog);
        assert!(!records_route("SUBSCRIBE", f) && !records_route("NOTIFY", f));
        assert!(records_route("INVITE", f));
        assert!(!dropped_by_fault("SUBSCRIBE", none) && !dropped_by_fault("MESSAGE", none));
        assert!(dropped_by_fault(
            "SUBSCRIBE",
            Faults::only(Fault::DropSubscribe)
        ));
        assert!(dropped_by_fault(
            "MESSAGE",
            Faults::only(Fault::DropMessage)
        ));
        assert!(!dropped_by_fault(
            "NOTIFY",
            Faults::only(Fault::DropMessage)
        ));
    }

    #[test]
    fn body_faults_do_what_they_say_and_nothing_without_them() {
        let pidf = b"<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"pres:a@x\"><tuple id=\"a\"><status><basic>open</basic></status></tuple><tuple id=\"b\"><status><basic>closed</basic></status></tuple><note>n</note></presence>";
        assert_eq!(
            faulty_body(Faults::NONE, "application/pidf+xml", pidf),
            None
        );
        let cut = faulty_body(
            Faults::only(Fault::ManglePidf),
            "application/pidf+xml",
            pidf,
        )
        .unwrap()
        .body;
        assert_eq!(
            cut,
            b"<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"pres:a@x\"><tuple id=\"a\"><status><basic>open</basic></status></tuple><note>n</note></presence>"
        );
        let sdp = b"v=0\r\nm=message 7654 TCP/MSRP *\r\na=accept-types:text/plain\r\na=path:msrp://192.0.2.1:7654/s1;tcp\r\n";
        let stripped = faulty_body(Faults::only(Fault::StripMsrpPath), "application/sdp", sdp)
            .unwrap()
            .body;
        assert_eq!(
            stripped,
            b"v=0\r\nm=message 7654 TCP/MSRP *\r\na=accept-types:text/plain\r\n"
        );
        // Audio SDP has no MSRP path to strip.
        let audio = b"v=0\r\nm=audio 4000 RTP/AVP 0\r\n";
        assert_eq!(
            faulty_body(Faults::only(Fault::StripMsrpPath), "application/sdp", audio),
            None
        );
        let multipart = b"--b1\r\nContent-Type: application/rlmi+xml\r\nContent-ID: <r@x>\r\n\r\n<list/>\r\n--b1\r\nContent-Type: application/pidf+xml\r\n\r\n<presence/>\r\n--b1--\r\n";
        let ct = "multipart/related;type=\"application/rlmi+xml\";start=\"<r@x>\";boundary=\"b1\"";
        let flat = faulty_body(Faults::only(Fault::FlattenMultipart), ct, multipart).unwrap();
        assert_eq!(flat.content_type.as_deref(), Some("application/rlmi+xml"));
        assert_eq!(flat.body, b"<list/>");
        // Hostile bodies: no boundary, no parts, cut short.
        let f = Faults::only(Fault::FlattenMultipart);
        assert_eq!(faulty_body(f, "multipart/related", multipart), None);
        assert_eq!(faulty_body(f, ct, b"--b1"), None);
        assert_eq!(faulty_body(f, ct, b"--b1\r\nContent-Type: a/b\r\n"), None);
    }
}

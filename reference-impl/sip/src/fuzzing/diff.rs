//! `sip_diff`: our codec against rsip 0.4 as a differential oracle.

#[allow(unused_imports)]
use super::*;

/// Why a message accepted by our codec is not compared with rsip 0.4.
#[cfg(feature = "rsip-oracle")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RsipGap {
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
pub(crate) fn rsip_reads_whole_via(via: &Via<'_>) -> bool {
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
pub(crate) fn rsip_gap(ours: &Message<'_>) -> Option<RsipGap> {
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

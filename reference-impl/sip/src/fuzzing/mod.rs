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
//!
//! The SBE's own target, `sbe_sequence`, lives with the SBE
//! (`speermint_sbe::fuzzing`).
//!
//! The structured targets read their input through
//! [`arbitrary::Unstructured`]: every byte string is a valid (if short)
//! model, so libFuzzer mutates models rather than syntax. Work per input is
//! bounded by fixed caps on list lengths, message sizes and operation counts.

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

#[cfg(feature = "rsip-oracle")]
mod diff;
pub mod generate;
mod model;
mod stream;

#[cfg(feature = "rsip-oracle")]
pub use diff::sip_diff;
#[allow(unused_imports)]
use generate::*;
#[allow(unused_imports)]
use model::*;
pub use model::{sip_structured, structured_message};
pub use stream::sip_stream;

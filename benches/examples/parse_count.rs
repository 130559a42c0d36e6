//! Instruction counts of the `sip_parse` bench's speermint iteration, for
//! callgrind (wall-clock benches are noisy on shared machines):
//!
//! ```sh
//! cargo build --release -p speermint-benches --example parse_count
//! valgrind --tool=callgrind --toggle-collect='*parse_count*iteration*' \
//!     target/release/examples/parse_count invite 1000
//! ```
//!
//! Divide the total by the iteration count (second argument). A third
//! argument `httparse` counts httparse on the HTTP counterpart instead
//! (`--toggle-collect='*parse_count*iteration_httparse*'`).
#![forbid(unsafe_code)]

use speermint_benches::corpus;
use speermint_sip::{HeaderName, Message};
use std::hint::black_box;

/// The same reads as `benches/sip_parse.rs`'s `speermint`.
#[inline(never)]
fn iteration(bytes: &[u8]) {
    let msg = Message::parse(bytes).expect("speermint parses the fixture");
    let core = msg.core();
    black_box(core.via.branch());
    black_box(core.from.tag());
    black_box(core.to.tag());
    black_box(core.cseq.seq);
    black_box(core.call_id);
    black_box(core.content_length);
    black_box(core.max_forwards);
    black_box(msg.name_addrs(HeaderName::Contact).next());
    black_box(msg.body());
}

/// httparse on the HTTP counterpart, for scale (head only).
#[inline(never)]
fn iteration_httparse(bytes: &[u8]) {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    if bytes.starts_with(b"HTTP/") {
        let mut res = httparse::Response::new(&mut headers);
        black_box(res.parse(bytes).expect("httparse parses the fixture"));
        black_box(res.code);
    } else {
        let mut req = httparse::Request::new(&mut headers);
        black_box(req.parse(bytes).expect("httparse parses the fixture"));
        black_box(req.path);
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "invite".into());
    let n: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let http = args.next().is_some_and(|p| p == "httparse");
    let (_, sip, http_bytes) = corpus()
        .into_iter()
        .find(|(id, _, _)| *id == name)
        .expect("fixture: invite, ok200 or options");
    for _ in 0..n {
        if http {
            iteration_httparse(black_box(&http_bytes));
        } else {
            iteration(black_box(&sip));
        }
    }
}

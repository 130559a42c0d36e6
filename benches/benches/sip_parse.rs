//! Parse cost of a peering-style INVITE, its 200 OK and an OPTIONS ping:
//! speermint against rsip 0.4 (the SIP crate we did not adopt) and against
//! httparse on an HTTP/1.1 head of the same size and header count (the
//! "as fast as an HTTP parser" yardstick of `message.rs`).
//!
//! Ids: `sip_parse/<parser>/<message>`, parser in {speermint, rsip,
//! httparse}, message in {invite, ok200, options}. Each iteration parses
//! the message and reads the fields a proxy acts on, so that lazy parsers
//! (rsip types headers on demand) pay for the same work. rsip 0.4 accepts
//! all three fixtures and types every header asked of it (checked before
//! timing; the bench panics otherwise). httparse parses the head only.
#![forbid(unsafe_code)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rsip::prelude::{HasHeaders, HeadersExt, ToTypedHeader};
use speermint_benches::corpus;
use speermint_sip::{HeaderName, Message};
use std::hint::black_box;

/// speermint validates and types the core headers during `parse`; the
/// accessors below are field reads plus a parameter scan for the tags.
fn speermint(bytes: &[u8]) {
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

/// rsip tokenizes the message into untyped headers (owned `String`s); the
/// typed views are parsed on demand. Call-ID, Content-Length and
/// Max-Forwards have no typed form in rsip 0.4: their value accessors are
/// used instead.
fn rsip(bytes: &[u8]) {
    let msg = rsip::SipMessage::try_from(bytes).expect("rsip parses the fixture");
    let via = msg.via_header().and_then(|h| h.typed()).expect("Via");
    black_box(via.branch());
    let from = msg.from_header().and_then(|h| h.typed()).expect("From");
    black_box(from.tag());
    let to = msg.to_header().and_then(|h| h.typed()).expect("To");
    black_box(to.tag());
    let cseq = msg.cseq_header().and_then(|h| h.typed()).expect("CSeq");
    black_box(cseq.seq);
    black_box(msg.call_id_header().expect("Call-ID"));
    black_box(rsip_content_length(&msg).expect("Content-Length"));
    // The 200 OK has no Max-Forwards.
    black_box(msg.max_forwards_header().ok().map(|h| h.num()));
    let contact = msg
        .contact_header()
        .and_then(|h| h.typed())
        .expect("Contact");
    black_box(contact.uri);
    black_box(msg.body());
}

/// rsip 0.4's `HeadersExt` has no Content-Length accessor; find it by hand.
fn rsip_content_length(msg: &rsip::SipMessage) -> Option<u32> {
    msg.headers().iter().find_map(|h| match h {
        rsip::Header::ContentLength(cl) => cl.length().ok(),
        _ => None,
    })
}

const HTTP_HEADERS: usize = 32;

fn httparse_request(bytes: &[u8]) {
    let mut headers = [httparse::EMPTY_HEADER; HTTP_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let status = req.parse(bytes).expect("httparse parses the fixture");
    assert!(status.is_complete());
    black_box(req.method);
    black_box(req.path);
    black_box(req.headers.len());
}

fn httparse_response(bytes: &[u8]) {
    let mut headers = [httparse::EMPTY_HEADER; HTTP_HEADERS];
    let mut res = httparse::Response::new(&mut headers);
    let status = res.parse(bytes).expect("httparse parses the fixture");
    assert!(status.is_complete());
    black_box(res.code);
    black_box(res.reason);
    black_box(res.headers.len());
}

fn sip_parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("sip_parse");
    for (name, sip, http) in corpus() {
        // Fail loudly before timing anything if a parser refuses a fixture.
        speermint(&sip);
        rsip(&sip);

        group.throughput(Throughput::Bytes(sip.len() as u64));
        group.bench_with_input(BenchmarkId::new("speermint", name), &sip[..], |b, m| {
            b.iter(|| speermint(black_box(m)));
        });
        group.bench_with_input(BenchmarkId::new("rsip", name), &sip[..], |b, m| {
            b.iter(|| rsip(black_box(m)));
        });

        group.throughput(Throughput::Bytes(http.len() as u64));
        let parse = if http.starts_with(b"HTTP/") {
            httparse_response
        } else {
            httparse_request
        };
        group.bench_with_input(BenchmarkId::new("httparse", name), &http[..], |b, m| {
            b.iter(|| parse(black_box(m)));
        });
    }
    group.finish();
}

criterion_group!(benches, sip_parse);
criterion_main!(benches);

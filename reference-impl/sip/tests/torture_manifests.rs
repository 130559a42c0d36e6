//! Replays the RFC 4475 and RFC 5118 manifests: every verdict, error code, header and
//! error position must hold.

use speermint_corpora::torture::{RFC4475_FILES, RFC5118_FILES, all, rfc4475, rfc5118};
use speermint_sip::{Message, ParseErrorKind};

#[test]
fn every_file_has_exactly_one_manifest_entry() {
    for (entries, files) in [(rfc4475(), RFC4475_FILES), (rfc5118(), RFC5118_FILES)] {
        for (name, _) in files {
            assert_eq!(
                entries.iter().filter(|e| e.file == *name).count(),
                1,
                "{name}"
            );
        }
        assert_eq!(entries.len(), files.len());
    }
}

#[test]
fn every_manifest_verdict_holds() {
    let mut failures = Vec::new();
    for e in all() {
        let bytes = e.bytes();
        let got = Message::parse(bytes);
        match (e.verdict.as_str(), got) {
            ("valid", Ok(m)) => {
                let kind = if m.is_request() {
                    "request"
                } else {
                    "response"
                };
                if kind != e.kind {
                    failures.push(format!("{}: parsed as {kind}", e.file));
                }
            }
            ("invalid", Err(err)) => {
                let want = e.error.as_deref().unwrap_or("?");
                if err.kind.code() != want {
                    failures.push(format!(
                        "{}: error {} ({}), expected {want}",
                        e.file,
                        err.kind.code(),
                        err
                    ));
                }
                let header = err.kind.header().map(|h| h.canonical());
                if header != e.header.as_deref() {
                    failures.push(format!(
                        "{}: header {header:?}, expected {:?}",
                        e.file, e.header
                    ));
                }
                if let Some(at) = &e.at {
                    // The offset must fall on the line holding `at` (or, for
                    // faults found after the header section, just past it).
                    let pos = find(bytes, at.as_bytes()).expect("`at` text occurs in the file");
                    let line_start = bytes[..pos]
                        .iter()
                        .rposition(|&c| c == b'\n')
                        .map_or(0, |i| i + 1);
                    let line_end = pos
                        + bytes[pos..]
                            .iter()
                            .position(|&c| c == b'\n')
                            .unwrap_or(bytes.len() - pos);
                    let after_head = matches!(err.kind, ParseErrorKind::MissingHeader(_));
                    let ok = (line_start..=line_end).contains(&err.offset)
                        || (after_head && err.offset <= line_end + 3 && err.offset > line_end);
                    if !ok {
                        failures.push(format!(
                            "{}: offset {} not on the line of {at:?} ({line_start}..{line_end})",
                            e.file, err.offset
                        ));
                    }
                }
            }
            (v, got) => failures.push(format!("{}: expected {v}, got {got:?}", e.file)),
        }
    }
    assert!(
        failures.is_empty(),
        "manifest mismatches:\n{}",
        failures.join("\n")
    );
}

#[test]
fn invalid_requests_have_a_category_from_the_rfc() {
    for e in all() {
        let invalid_request = e.kind == "request" && e.verdict == "invalid";
        match (&e.category, invalid_request) {
            (Some(c), true) => assert!(
                c == "must-refuse" || c == "may-accept",
                "{}: unknown category {c}",
                e.file
            ),
            (None, true) => panic!("{}: an invalid request needs a category", e.file),
            (Some(_), false) => panic!("{}: only invalid requests have a category", e.file),
            (None, false) => {}
        }
        // A request a liberal element may accept is one where we made a choice.
        if e.category.as_deref() == Some("may-accept") {
            assert!(e.liberal.is_some(), "{}: say why we refuse it", e.file);
        }
    }
}

#[test]
fn liberal_choices_are_explained_and_errors_are_named() {
    for e in all() {
        assert!(!e.note.is_empty(), "{}", e.file);
        assert!(
            matches!(e.verdict.as_str(), "valid" | "invalid"),
            "{}",
            e.file
        );
        assert_eq!(
            e.verdict == "invalid",
            e.error.is_some(),
            "{}: error iff invalid",
            e.file
        );
        assert!(
            e.sbe == "forward" || e.sbe == "drop" || e.sbe_status().is_some(),
            "{}",
            e.file
        );
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

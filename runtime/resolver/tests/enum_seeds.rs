//! The `enum_naptr` seeds in corpora/enum/: real DNS responses built with
//! hickory, framed as `speermint_resolver::fuzzing::EnumInput`. Each seed is
//! defined here with the outcome it must reach, and the files must match
//! the definitions. After changing a definition or the input layout,
//! rewrite the files with
//! `cargo test -p speermint-dns --test enum_seeds -- --ignored write_seed_files`.

use hickory_proto::op::ResponseCode;
use speermint_enum::{LoopKind, LufError, Naptr};
use speermint_resolver::fuzzing::{EnumInput, NumberChoice, ResponseBuilder, Settings};

/// The RFC 3761 §4.1 example number, +441632960083.
const KEY: &str = "3.8.0.0.6.9.2.3.6.1.4.4.e164.arpa";
/// The RFC 3761 §2.1 AUS, +441164960348.
const KEY2: &str = "8.4.3.0.6.9.4.6.1.1.4.4.e164.arpa";

enum Want {
    /// The URI, from a chain of this many keys.
    Uri(&'static str, usize),
    NoRecords,
    DnsFailure,
    Loop(LoopKind),
}

struct Seed {
    file: &'static str,
    input: EnumInput,
    want: Want,
}

fn naptr(order: u16, pref: u16, flags: &str, services: &str, regexp: &str, repl: &str) -> Naptr {
    Naptr::new(order, pref, flags, services, regexp, repl)
}

/// A terminal E2U+sip record rewriting to `uri` (RFC 3764).
fn sip(order: u16, pref: u16, uri: &str) -> Naptr {
    naptr(order, pref, "u", "E2U+sip", &format!("!^.*$!{uri}!"), ".")
}

/// A non-terminal record: empty flags, the next key in REPLACEMENT
/// (RFC 6116 §5.2.1).
fn next(order: u16, key: &str) -> Naptr {
    naptr(order, 10, "", "", "", key)
}

fn records(owner: &str, rs: &[Naptr]) -> Vec<u8> {
    rs.iter()
        .fold(
            ResponseBuilder::new(owner, ResponseCode::NoError),
            |b, r| b.naptr(owner, r),
        )
        .build()
}

/// NXDOMAIN or NODATA with the zone's SOA (RFC 2308 §2.1, §2.2).
fn negative(owner: &str, rcode: ResponseCode) -> Vec<u8> {
    ResponseBuilder::new(owner, rcode).soa("e164.arpa").build()
}

fn input(messages: Vec<Vec<u8>>) -> EnumInput {
    EnumInput {
        number: NumberChoice::Listed(0),
        settings: Settings::default(),
        messages,
        tail: Vec::new(),
    }
}

fn seeds() -> Vec<Seed> {
    let mut out = Vec::new();
    let mut add = |file, input, want| out.push(Seed { file, input, want });

    // RFC 3761 §4.1: SIP preferred over H.323 and SMTP. The tail feeds the
    // round-trip model.
    let mut rfc = input(vec![records(
        KEY,
        &[
            naptr(
                10,
                101,
                "u",
                "E2U+h323",
                "!^.*$!h323:info@example.com!",
                ".",
            ),
            sip(10, 100, "sip:info@example.com"),
            naptr(
                10,
                102,
                "u",
                "E2U+msg",
                "!^.*$!mailto:info@example.com!",
                ".",
            ),
        ],
    )]);
    rfc.tail = (0u8..96).map(|i| i.wrapping_mul(37)).collect();
    add(
        "rfc3761-example.bin",
        rfc,
        Want::Uri("sip:info@example.com", 1),
    );

    // A back-reference to the AUS (RFC 3402 §3.2), for the second number.
    let mut backref = input(vec![records(
        KEY2,
        &[naptr(
            100,
            10,
            "u",
            "E2U+sip",
            r"!^\+441164(.*)$!sip:\1@example.net!",
            ".",
        )],
    )]);
    backref.number = NumberChoice::Listed(1);
    add(
        "terminal-backreference.bin",
        backref,
        Want::Uri("sip:960348@example.net", 1),
    );

    // Non-terminal NAPTR, then the terminal one at the next key.
    add(
        "non-terminal-chain.bin",
        input(vec![
            records(KEY, &[next(100, "enum.example.net")]),
            records("enum.example.net", &[sip(100, 10, "sip:info@example.net")]),
        ]),
        Want::Uri("sip:info@example.net", 2),
    );

    // The referenced domain does not exist: back to the next record of the
    // referring RRSet (RFC 6116 §5.2.1).
    add(
        "non-terminal-backtrack.bin",
        input(vec![
            records(
                KEY,
                &[
                    next(10, "gone.example.net"),
                    sip(20, 10, "sip:fallback@example.com"),
                ],
            ),
            negative("gone.example.net", ResponseCode::NXDomain),
        ]),
        Want::Uri("sip:fallback@example.com", 1),
    );

    // Two keys pointing at each other.
    add(
        "non-terminal-loop.bin",
        input(vec![
            records(KEY, &[next(10, "a.example.net")]),
            records("a.example.net", &[next(10, KEY)]),
        ]),
        Want::Loop(LoopKind::Revisit),
    );

    // Five non-terminal links, the default bound, then the terminal record.
    let hop = |i: usize| format!("n{i}.chain.example");
    let mut chain = vec![records(KEY, &[next(10, &hop(1))])];
    for i in 1..5 {
        chain.push(records(&hop(i), &[next(10, &hop(i + 1))]));
    }
    chain.push(records(&hop(5), &[sip(10, 10, "sip:end@chain.example")]));
    add(
        "non-terminal-chain-at-bound.bin",
        input(chain),
        Want::Uri("sip:end@chain.example", 6),
    );

    add(
        "nxdomain.bin",
        input(vec![negative(KEY, ResponseCode::NXDomain)]),
        Want::NoRecords,
    );
    add(
        "nodata.bin",
        input(vec![negative(KEY, ResponseCode::NoError)]),
        Want::NoRecords,
    );
    add(
        "servfail.bin",
        input(vec![
            ResponseBuilder::new(KEY, ResponseCode::ServFail).build(),
        ]),
        Want::DnsFailure,
    );

    // Records to skip before the usable one: a private enumservice off the
    // private network (RFC 6116 §3.4.3.1), an unknown flag (RFC 6116
    // §3.4.2), an enumservice list with sip second (RFC 6116 §3.4.3.2);
    // plus an alias and a record at another name that must not count.
    let mixed = ResponseBuilder::new(KEY, ResponseCode::NoError)
        .cname("alias.example", KEY)
        .naptr("alias.example", &sip(1, 1, "sip:decoy@example.com"))
        .naptr(
            KEY,
            &naptr(
                10,
                10,
                "u",
                "E2U+P-sip",
                "!^.*$!sip:private@example.com!",
                ".",
            ),
        )
        .naptr(
            KEY,
            &naptr(
                10,
                20,
                "Z",
                "E2U+sip",
                "!^.*$!sip:unknown@example.com!",
                ".",
            ),
        )
        .naptr(
            KEY,
            &naptr(
                10,
                30,
                "u",
                "E2U+voice:tel+sip",
                "!^.*$!sip:voice@example.com!",
                ".",
            ),
        )
        .build();
    add(
        "mixed-rrset.bin",
        input(vec![mixed]),
        Want::Uri("sip:voice@example.com", 1),
    );

    // The obsolete RFC 2916 services form (RFC 3824 §7).
    add(
        "obsolete-sip-e2u.bin",
        input(vec![records(
            KEY,
            &[naptr(
                100,
                10,
                "u",
                "sip+E2U",
                "!^.*$!sip:old@example.com!",
                ".",
            )],
        )]),
        Want::Uri("sip:old@example.com", 1),
    );

    // Names compare case-insensitively (RFC 4343).
    let upper = KEY.to_ascii_uppercase();
    add(
        "upper-case-owner.bin",
        input(vec![records(
            &upper,
            &[sip(100, 10, "sip:upper@example.com")],
        )]),
        Want::Uri("sip:upper@example.com", 1),
    );

    // A reply to another number's question is dropped (RFC 5452 §9.1).
    add(
        "reply-for-another-name.bin",
        input(vec![records(
            KEY2,
            &[sip(100, 10, "sip:wrong@example.com")],
        )]),
        Want::DnsFailure,
    );

    // Private root, digits from the input, strict ORDER, and a non-terminal
    // record whose REGEXP names the next key (RFC 3403 §6.1, opt-in).
    let private = "6.5.4.3.2.1.0.3.9.4.e164enum.net";
    let mut generic = input(vec![
        records(
            private,
            &[naptr(10, 10, "", "", r"!^\+49(.*)$!\1.de.example!", ".")],
        ),
        records(
            "30123456.de.example",
            &[sip(10, 10, "sip:+4930123456@de.example")],
        ),
    ]);
    generic.number = NumberChoice::Digits("4930123456".into());
    generic.settings.private_apex = true;
    generic.settings.strict_order = true;
    generic.settings.regexp_non_terminal = true;
    add(
        "private-apex-regexp-non-terminal.bin",
        generic,
        Want::Uri("sip:+4930123456@de.example", 2),
    );

    out
}

fn check(seed: &Seed) {
    let got = seed.input.outcome();
    let ok = match (&seed.want, &got) {
        (Want::Uri(uri, n), Ok((u, chain))) => u == uri && chain.len() == *n,
        (Want::NoRecords, Err(LufError::NoRecords { .. }))
        | (Want::DnsFailure, Err(LufError::DnsFailure { .. })) => true,
        (Want::Loop(k), Err(LufError::Loop { kind, .. })) => k == kind,
        _ => false,
    };
    assert!(ok, "{}: {got:?}", seed.file);
}

#[test]
fn seeds_reach_their_outcomes() {
    for seed in seeds() {
        check(&seed);
        assert_eq!(
            EnumInput::from_bytes(&seed.input.to_bytes()),
            seed.input,
            "{}",
            seed.file
        );
    }
}

#[test]
fn seed_files_match_their_definitions() {
    let dir = speermint_corpora::corpora().join("enum");
    for seed in seeds() {
        let path = dir.join(seed.file);
        let on_disk = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            on_disk == seed.input.to_bytes(),
            "{} is stale; rewrite with `cargo test -p speermint-dns --test enum_seeds -- --ignored write_seed_files`",
            path.display()
        );
    }
}

#[test]
#[ignore = "writes corpora/enum/; run after changing a seed definition"]
fn write_seed_files() {
    let dir = speermint_corpora::corpora().join("enum");
    for seed in seeds() {
        check(&seed);
        let path = dir.join(seed.file);
        std::fs::write(&path, seed.input.to_bytes())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

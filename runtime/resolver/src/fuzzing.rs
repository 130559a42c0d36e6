//! Fuzz entry point `enum_naptr`, shared by the cargo-fuzz shim in `fuzz/`
//! and the corpus replay in `cargo test`. Assertions, not just panics: a
//! crash is a real defect.
//!
//! The input is a number, lookup settings and a list of raw DNS responses.
//! The responses go through the same decoder the client uses
//! ([`enum_answer_from_message`]) and answer, in order, the NAPTR queries of
//! an ENUM lookup (RFC 6116 §3-5, RFC 3403 §4). The lookup's own invariants
//! are [`speermint_enum::fuzzing::check_lookup`]; this module adds the wire
//! side. [`EnumInput`] documents the layout and writes inputs back, for the
//! seeds in `corpora/enum/`.

use arbitrary::Unstructured;
use hickory_proto::op::{Message, OpCode, Query as DnsQuery, ResponseCode};
use hickory_proto::rr::rdata::{CNAME, NAPTR, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use speermint_enum::fuzzing::{Outcome, check_lookup};
use speermint_enum::{Answer, Apex, Config, E164, Naptr, OrderPolicy, RegexLimits, SubstExpr};

use crate::convert::enum_answer_from_message;

/// Numbers an input picks by index: the RFC 3761 §4.1 example number,
/// the RFC 3761 §2.1 AUS, and the shortest and longest E.164 numbers.
pub const NUMBERS: [&str; 4] = ["+441632960083", "+441164960348", "+1", "+123456789012345"];

/// ENUM apexes: public User ENUM (RFC 6116 §3.2) and a private root
/// (RFC 6406 §6.1.1).
pub const APEXES: [&str; 2] = ["e164.arpa", "e164enum.net"];

/// Most responses one input carries; [`Config::max_queries`] is at most 16
/// here, so the rest only ever reach the decoder.
pub const MAX_MESSAGES: usize = 32;

/// Which number to look up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NumberChoice {
    /// `NUMBERS[i]`.
    Listed(usize),
    /// `+` and these 1 to 15 digits.
    Digits(String),
}

/// The lookup settings an input chooses. [`Settings::default`] is
/// [`Config::default`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `APEXES[1]` instead of `e164.arpa`.
    pub private_apex: bool,
    /// [`OrderPolicy::Strict`].
    pub strict_order: bool,
    /// [`Config::regexp_non_terminal`].
    pub regexp_non_terminal: bool,
    /// [`Config::private_network`].
    pub private_network: bool,
    /// [`Config::obsolete_services`].
    pub obsolete_services: bool,
    /// [`Config::max_non_terminal`], 0 to 7.
    pub max_non_terminal: u8,
    /// [`Config::max_queries`], 1 to 16.
    pub max_queries: u8,
    /// [`Config::max_rrset`], 1 to 64.
    pub max_rrset: u8,
    /// [`RegexLimits::max_output_len`], 16 to 1024.
    pub max_output_len: u16,
}

impl Default for Settings {
    fn default() -> Self {
        let c = Config::default();
        let small = |n: usize| u8::try_from(n).unwrap_or(u8::MAX);
        Self {
            private_apex: false,
            strict_order: false,
            regexp_non_terminal: c.regexp_non_terminal,
            private_network: c.private_network,
            obsolete_services: c.obsolete_services,
            max_non_terminal: small(c.max_non_terminal),
            max_queries: small(c.max_queries),
            max_rrset: small(c.max_rrset),
            max_output_len: u16::try_from(c.regex.max_output_len).unwrap_or(u16::MAX),
        }
    }
}

impl Settings {
    /// The lookup configuration these settings stand for.
    pub fn config(&self) -> Config {
        let mut c = Config::default();
        if self.private_apex {
            c.apex = Apex::new(APEXES[1]).expect("a valid apex");
        }
        if self.strict_order {
            c.order_policy = OrderPolicy::Strict;
        }
        c.regexp_non_terminal = self.regexp_non_terminal;
        c.private_network = self.private_network;
        c.obsolete_services = self.obsolete_services;
        c.max_non_terminal = usize::from(self.max_non_terminal);
        c.max_queries = usize::from(self.max_queries);
        c.max_rrset = usize::from(self.max_rrset);
        c.regex = RegexLimits {
            max_output_len: usize::from(self.max_output_len),
            ..RegexLimits::default()
        };
        c
    }
}

/// One `enum_naptr` input. Every byte string decodes (short ones to small
/// choices: [`Unstructured`] yields the lowest value once out of bytes), and
/// [`EnumInput::to_bytes`] writes the layout below, so seeds can be built
/// from typed parts:
///
/// | bytes | field |
/// |-------|-------|
/// | 1 | number: `b % 5`; 0-3 index [`NUMBERS`], 4 means digits follow: one byte, `b % 15 + 1` of them, then one byte each, `b % 10` |
/// | 1 | bits: 0 private apex, 1 strict order, 2 REGEXP on non-terminals, 3 private network, 4 *no* obsolete `sip+E2U` |
/// | 1 | max non-terminal chain, `b % 8` |
/// | 1 | max queries, `b % 16 + 1` |
/// | 1 | max records per RRSet, `b % 64 + 1` |
/// | 2 | max rewrite output, big-endian, `v % 1009 + 16` |
/// | 1 | response count, `b % 33` |
/// | 2 + n, per response | length, big-endian, and the DNS message, framed as over TCP (RFC 1035 §4.2.2); cut short at the end of the input |
/// | rest | the round-trip model of [`enum_naptr`] |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumInput {
    /// The number.
    pub number: NumberChoice,
    /// The lookup settings.
    pub settings: Settings,
    /// Raw DNS responses, answering the lookup's queries in order.
    pub messages: Vec<Vec<u8>>,
    /// What follows the responses.
    pub tail: Vec<u8>,
}

const FLAG_PRIVATE_APEX: u8 = 1;
const FLAG_STRICT: u8 = 2;
const FLAG_REGEXP_NON_TERMINAL: u8 = 4;
const FLAG_PRIVATE_NETWORK: u8 = 8;
const FLAG_NO_OBSOLETE: u8 = 16;

impl EnumInput {
    /// Decodes any byte string.
    pub fn from_bytes(data: &[u8]) -> Self {
        let mut u = Unstructured::new(data);
        // `int_in_range` and `bytes` fail only for empty ranges and sizes
        // past the end, neither of which is asked for here.
        Self::draw(&mut u).expect("every input decodes")
    }

    fn draw(u: &mut Unstructured<'_>) -> arbitrary::Result<Self> {
        let pick = u.int_in_range(0..=NUMBERS.len())?;
        let number = if pick < NUMBERS.len() {
            NumberChoice::Listed(pick)
        } else {
            let n = u.int_in_range(1..=15)?;
            let mut digits = String::with_capacity(n);
            for _ in 0..n {
                digits.push(char::from(b'0' + u.int_in_range(0..=9u8)?));
            }
            NumberChoice::Digits(digits)
        };
        let bits: u8 = u.arbitrary()?;
        let settings = Settings {
            private_apex: bits & FLAG_PRIVATE_APEX != 0,
            strict_order: bits & FLAG_STRICT != 0,
            regexp_non_terminal: bits & FLAG_REGEXP_NON_TERMINAL != 0,
            private_network: bits & FLAG_PRIVATE_NETWORK != 0,
            obsolete_services: bits & FLAG_NO_OBSOLETE == 0,
            max_non_terminal: u.int_in_range(0..=7)?,
            max_queries: u.int_in_range(1..=16)?,
            max_rrset: u.int_in_range(1..=64)?,
            max_output_len: u.int_in_range(16..=1024)?,
        };
        let count = u.int_in_range(0..=MAX_MESSAGES)?;
        let mut messages = Vec::with_capacity(count);
        for _ in 0..count {
            let len = usize::from(u16::from_be_bytes(u.arbitrary()?));
            messages.push(u.bytes(len.min(u.len()))?.to_vec());
        }
        let tail = u.bytes(u.len())?.to_vec();
        Ok(Self {
            number,
            settings,
            messages,
            tail,
        })
    }

    /// The bytes [`EnumInput::from_bytes`] reads back as `self`, for
    /// in-range fields and at most [`MAX_MESSAGES`] responses of at most
    /// 65535 bytes each.
    pub fn to_bytes(&self) -> Vec<u8> {
        let s = &self.settings;
        let mut out = Vec::new();
        match &self.number {
            NumberChoice::Listed(i) => out.push(small(*i)),
            NumberChoice::Digits(d) => {
                out.push(small(NUMBERS.len()));
                out.push(small(d.len().saturating_sub(1)));
                out.extend(d.bytes().map(|c| c.wrapping_sub(b'0')));
            }
        }
        let flag = |on: bool, bit: u8| if on { bit } else { 0 };
        out.push(
            flag(s.private_apex, FLAG_PRIVATE_APEX)
                | flag(s.strict_order, FLAG_STRICT)
                | flag(s.regexp_non_terminal, FLAG_REGEXP_NON_TERMINAL)
                | flag(s.private_network, FLAG_PRIVATE_NETWORK)
                | flag(!s.obsolete_services, FLAG_NO_OBSOLETE),
        );
        out.push(s.max_non_terminal);
        out.push(s.max_queries.wrapping_sub(1));
        out.push(s.max_rrset.wrapping_sub(1));
        out.extend(s.max_output_len.wrapping_sub(16).to_be_bytes());
        out.push(small(self.messages.len()));
        for m in &self.messages {
            out.extend(u16::try_from(m.len()).unwrap_or(u16::MAX).to_be_bytes());
            out.extend(m);
        }
        out.extend(&self.tail);
        out
    }

    /// The number as parsed.
    pub fn e164(&self) -> E164 {
        let text = match &self.number {
            NumberChoice::Listed(i) => NUMBERS[*i % NUMBERS.len()].to_owned(),
            NumberChoice::Digits(d) => format!("+{d}"),
        };
        E164::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    /// Runs the lookup, each query answered by the next response, with
    /// every invariant checked (see [`enum_naptr`]).
    pub fn outcome(&self) -> Outcome {
        let config = self.settings.config();
        let replies: Vec<Option<(String, Answer)>> =
            self.messages.iter().map(|m| decode_checked(m)).collect();
        run(&self.e164(), &config, &replies)
    }
}

fn small(n: usize) -> u8 {
    u8::try_from(n).unwrap_or(u8::MAX)
}

/// Raw DNS responses answering an ENUM lookup, then a round trip through
/// the encoder.
///
/// Invariants, beyond those of [`check_lookup`] (bounded queries and trace,
/// an absolute URI of bounded length, the REGEXP applied to the AUS):
/// - decoding never panics; a decoded owner is lower case without a
///   trailing dot, a decoded RRSet is never empty, and writing the decoded
///   NAPTRs back into a response decodes to the same NAPTRs;
/// - two lookups over the same responses agree;
/// - no REGEXP received rewrites the AUS past the output bound;
/// - a response built by hickory from NAPTRs drawn from the tail decodes
///   to exactly those NAPTRs, whatever the case of the names (RFC 4343),
///   and NXDOMAIN, NODATA and failures come back as such (RFC 2308 §2).
///
/// Each query takes the next response. A response to another name counts
/// as [`Answer::Failed`]: a resolver drops a reply whose question is not
/// the one it asked (RFC 5452 §9.1) and the query times out. So does a
/// message that does not decode, and so does running out of responses.
/// The question's type is not compared: the decoder keeps only NAPTRs, so a
/// reply to another type reads as NODATA.
pub fn enum_naptr(data: &[u8]) {
    let input = EnumInput::from_bytes(data);
    let number = input.e164();
    let config = input.settings.config();
    let replies: Vec<Option<(String, Answer)>> =
        input.messages.iter().map(|m| decode_checked(m)).collect();
    let first = run(&number, &config, &replies);
    let again = run(&number, &config, &replies);
    assert_eq!(first, again, "lookup is not deterministic");

    let aus = number.aus();
    for (_, answer) in replies.iter().flatten() {
        if let Answer::Records(rs) = answer {
            for r in rs {
                if let Ok(Some(out)) =
                    SubstExpr::parse(&r.regexp, &config.regex).and_then(|s| s.apply(&aus))
                {
                    assert!(out.len() <= config.regex.max_output_len);
                }
            }
        }
    }

    let owner = number.to_domain(&config.apex);
    // Only `choose` on an empty list fails, and none is empty.
    let _ = round_trip(&mut Unstructured::new(&input.tail), &owner);
}

/// Answers the lookup's queries from `replies`, in order.
fn run(number: &E164, config: &Config, replies: &[Option<(String, Answer)>]) -> Outcome {
    let mut next = replies.iter();
    check_lookup(number, config, |q| match next.next() {
        Some(Some((owner, answer))) if *owner == q.name => answer.clone(),
        _ => Answer::Failed,
    })
}

/// [`enum_answer_from_message`] with its contract checked.
fn decode_checked(bytes: &[u8]) -> Option<(String, Answer)> {
    let (owner, answer) = enum_answer_from_message(bytes).ok()?;
    assert!(
        owner == "." || !ends_with_root_dot(&owner),
        "owner {owner:?} keeps its trailing dot"
    );
    assert!(
        !owner.bytes().any(|b| b.is_ascii_uppercase()),
        "owner {owner:?} not lower case"
    );
    if let Answer::Records(records) = &answer {
        assert!(!records.is_empty(), "an empty RRSet is NODATA");
        rewrite_decoded(&owner, records);
    }
    Some((owner, answer))
}

/// Whether the text form of a name ends with the root's dot, not with an
/// escaped dot inside the last label (`a\.` is the one-label name "a.").
fn ends_with_root_dot(text: &str) -> bool {
    let Some(head) = text.strip_suffix('.') else {
        return false;
    };
    let escapes = head.bytes().rev().take_while(|&b| b == b'\\').count();
    escapes % 2 == 0
}

/// Decoded NAPTRs, written into a fresh response and decoded again, come
/// back the same. Skipped where the text form cannot be written back as is:
/// fields that grew past a character-string (RFC 1035 §3.3: 255 octets)
/// when non-UTF-8 bytes became U+FFFD, and names with escapes or labels
/// hickory will not parse from text. The lookup never follows such names
/// (it takes host-name-like labels only), so the client never has to.
fn rewrite_decoded(owner: &str, records: &[Naptr]) {
    let fits = |s: &str| s.len() <= 255;
    let plain = |n: &str| !n.contains('\\') && Name::from_ascii(n).is_ok();
    if !records
        .iter()
        .all(|r| fits(&r.flags) && fits(&r.services) && fits(&r.regexp) && plain(&r.replacement))
        || !plain(owner)
    {
        return;
    }
    let mut b = ResponseBuilder::new(owner, ResponseCode::NoError);
    for r in records {
        b = b.naptr(owner, r);
    }
    let again = enum_answer_from_message(&b.build()).expect("a rewritten response decodes");
    assert_eq!(
        again,
        (owner.to_owned(), Answer::Records(records.to_vec())),
        "decoded NAPTRs do not survive a rewrite"
    );
}

/// Response codes the round trip draws from.
const RCODES: [ResponseCode; 4] = [
    ResponseCode::NoError,
    ResponseCode::NXDomain,
    ResponseCode::ServFail,
    ResponseCode::Refused,
];

/// Builds a response to the NAPTR question for `owner` from a model drawn
/// from `u` and checks that it decodes to the model.
fn round_trip(u: &mut Unstructured<'_>, owner: &str) -> arbitrary::Result<()> {
    let rcode = *u.choose(&RCODES)?;
    let shout = u.arbitrary::<bool>()?;
    let decoy = u.arbitrary::<bool>()?;
    let n = u.int_in_range(0..=6)?;
    let mut naptrs = Vec::with_capacity(n);
    for _ in 0..n {
        naptrs.push(naptr_model(u)?);
    }
    let case = |s: &str| {
        if shout {
            s.to_ascii_uppercase()
        } else {
            s.to_owned()
        }
    };
    let mut b = ResponseBuilder::new(&case(owner), rcode);
    if decoy {
        // An alias and records at other names ride along in real answers;
        // only the RRSet at the question's name counts.
        b = b.cname("alias.example", owner).naptr(
            "alias.example",
            &Naptr::new(1, 1, "u", "E2U+sip", "!^.*$!sip:decoy@x!", "."),
        );
    }
    for r in &naptrs {
        let mut written = r.clone();
        written.replacement = case(&r.replacement);
        b = b.naptr(&case(owner), &written);
    }
    if rcode != ResponseCode::NoError || naptrs.is_empty() {
        b = b.soa("example");
    }
    let got = enum_answer_from_message(&b.build()).expect("a built response decodes");
    let want = match rcode {
        ResponseCode::NoError if naptrs.is_empty() => Answer::NoData,
        ResponseCode::NoError => Answer::Records(naptrs),
        ResponseCode::NXDomain => Answer::NxDomain,
        _ => Answer::Failed,
    };
    assert_eq!(got, (owner.to_owned(), want), "round trip through the wire");
    Ok(())
}

const FLAG_CHARS: &[u8] = b"uUsSaApP0123456789z";
const SERVICES: [&str; 6] = [
    "E2U+sip",
    "E2U+voice:tel+sip",
    "E2U+sip:x+h323",
    "sip+E2U",
    "E2U+P-sip",
    "SIP+D2U",
];
const REGEXPS: [&str; 4] = [
    "!^.*$!sip:info@example.com!",
    r"!^\+(\d+)$!sip:\1@example.net!",
    "",
    "#^(.*)$#tel:\\1#i",
];
const REPLACEMENTS: [&str; 4] = [
    ".",
    "enum.example.net",
    "_sip._udp.example.com",
    "a-b.example",
];
/// Label characters hickory writes without escapes; '-' (last) may not
/// start a label.
const LABEL_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789_-";

/// A NAPTR as the decoder returns it: ASCII-alphanumeric flags (hickory
/// refuses others, RFC 3403 §4.1 allows A-Z and 0-9), character-strings of
/// at most 255 octets, a lower-case REPLACEMENT without a trailing dot.
fn naptr_model(u: &mut Unstructured<'_>) -> arbitrary::Result<Naptr> {
    let order = u.arbitrary()?;
    let preference = u.arbitrary()?;
    let mut flags = String::new();
    for _ in 0..u.int_in_range(0..=2)? {
        flags.push(char::from(*u.choose(FLAG_CHARS)?));
    }
    let services = text(u, &SERVICES)?;
    let regexp = text(u, &REGEXPS)?;
    let replacement = match u.int_in_range(0..=REPLACEMENTS.len())? {
        i if i < REPLACEMENTS.len() => REPLACEMENTS[i].to_owned(),
        _ => {
            let mut labels = Vec::new();
            for _ in 0..u.int_in_range(1..=3)? {
                let mut l = String::new();
                for i in 0..u.int_in_range(1..=10)? {
                    let set = if i == 0 {
                        &LABEL_CHARS[..LABEL_CHARS.len() - 1]
                    } else {
                        LABEL_CHARS
                    };
                    l.push(char::from(*u.choose(set)?));
                }
                labels.push(l);
            }
            labels.push("example".to_owned());
            labels.join(".")
        }
    };
    Ok(Naptr {
        order,
        preference,
        flags,
        services,
        regexp,
        replacement,
    })
}

/// One of `list`, or arbitrary UTF-8 cut to a character-string's 255 octets.
fn text(u: &mut Unstructured<'_>, list: &[&str]) -> arbitrary::Result<String> {
    let i = u.int_in_range(0..=list.len())?;
    if let Some(s) = list.get(i) {
        return Ok((*s).to_owned());
    }
    let mut s: String = u.arbitrary()?;
    let mut end = s.len().min(255);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    Ok(s)
}

/// A DNS response to the NAPTR question for one name (RFC 1035 §4.1), as
/// an authoritative server sends it, for seeds and round trips. Names are
/// written as given (any case, trailing dot optional); invalid names and
/// oversized fields panic.
#[derive(Debug, Clone)]
pub struct ResponseBuilder {
    msg: Message,
}

impl ResponseBuilder {
    /// A response with `rcode` to `question` (class IN, type NAPTR).
    pub fn new(question: &str, rcode: ResponseCode) -> Self {
        let mut msg = Message::response(0, OpCode::Query);
        msg.metadata.authoritative = true;
        msg.metadata.recursion_desired = true;
        msg.metadata.response_code = rcode;
        msg.add_query(DnsQuery::query(name(question), RecordType::NAPTR));
        Self { msg }
    }

    /// A NAPTR owned by `owner` in the answer section.
    pub fn naptr(mut self, owner: &str, n: &Naptr) -> Self {
        let bytes = |s: &str| s.as_bytes().to_vec().into_boxed_slice();
        let rdata = NAPTR::new(
            n.order,
            n.preference,
            bytes(&n.flags),
            bytes(&n.services),
            bytes(&n.regexp),
            name(&n.replacement),
        );
        self.msg
            .add_answer(Record::from_rdata(name(owner), 300, RData::NAPTR(rdata)));
        self
    }

    /// A CNAME from `owner` to `target` in the answer section.
    pub fn cname(mut self, owner: &str, target: &str) -> Self {
        self.msg.add_answer(Record::from_rdata(
            name(owner),
            300,
            RData::CNAME(CNAME(name(target))),
        ));
        self
    }

    /// The SOA of `zone` in the authority section, as negative answers
    /// carry it (RFC 2308 §3).
    pub fn soa(mut self, zone: &str) -> Self {
        let ns = name(&format!("ns.{zone}"));
        let rname = name(&format!("hostmaster.{zone}"));
        let soa = SOA::new(ns, rname, 1, 3600, 600, 86400, 60);
        self.msg
            .add_authority(Record::from_rdata(name(zone), 60, RData::SOA(soa)));
        self
    }

    /// The message in wire format.
    pub fn build(&self) -> Vec<u8> {
        self.msg.to_vec().expect("an encodable response")
    }
}

/// `text` as an absolute name; "." and "" are the root.
fn name(text: &str) -> Name {
    if matches!(text, "" | ".") {
        return Name::root();
    }
    let mut n = Name::from_ascii(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    n.set_fqdn(true);
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_string_decodes_and_inputs_write_back() {
        for data in [&b""[..], &[0xff; 64], &[4, 14, 1, 2, 3]] {
            enum_naptr(data);
            let input = EnumInput::from_bytes(data);
            assert_eq!(EnumInput::from_bytes(&input.to_bytes()), input);
        }
        let input = EnumInput {
            number: NumberChoice::Digits("4930123456".into()),
            settings: Settings::default(),
            messages: vec![vec![1, 2, 3], Vec::new()],
            tail: vec![9, 9],
        };
        assert_eq!(EnumInput::from_bytes(&input.to_bytes()), input);
        assert_eq!(input.e164().aus(), "+4930123456");
    }

    #[test]
    fn root_dot_or_escaped_dot() {
        assert!(ends_with_root_dot("a.example."));
        assert!(ends_with_root_dot(r"a\\."));
        assert!(!ends_with_root_dot(r"a\."));
        assert!(!ends_with_root_dot(r"a\\\."));
        assert!(!ends_with_root_dot("a.example"));
    }

    /// An enum_naptr finding (corpora/regressions/enum_naptr/): a question
    /// name whose last label ends in a literal dot is written `x\.`,
    /// which is not a trailing root dot.
    #[test]
    fn an_owner_ending_in_an_escaped_dot() {
        let msg = ResponseBuilder::new(r"x\..example", ResponseCode::NoError).build();
        assert_eq!(
            decode_checked(&msg),
            Some((r"x\..example".to_owned(), Answer::NoData))
        );
        let msg = ResponseBuilder::new(r"x\.", ResponseCode::NoError).build();
        assert_eq!(
            decode_checked(&msg),
            Some((r"x\.".to_owned(), Answer::NoData))
        );
    }

    #[test]
    fn default_settings_are_the_default_config() {
        let c = Settings::default().config();
        let d = Config::default();
        assert_eq!(
            (
                c.apex,
                c.max_non_terminal,
                c.max_queries,
                c.max_rrset,
                c.regex
            ),
            (
                d.apex,
                d.max_non_terminal,
                d.max_queries,
                d.max_rrset,
                d.regex
            )
        );
    }

    /// RFC 3761 §4.1: the SIP record wins over H.323 and SMTP.
    #[test]
    fn a_terminal_answer_resolves() {
        let owner = "3.8.0.0.6.9.2.3.6.1.4.4.e164.arpa";
        let msg = ResponseBuilder::new(owner, ResponseCode::NoError)
            .naptr(
                owner,
                &Naptr::new(
                    10,
                    101,
                    "u",
                    "E2U+h323",
                    "!^.*$!h323:info@example.com!",
                    ".",
                ),
            )
            .naptr(
                owner,
                &Naptr::new(10, 100, "u", "E2U+sip", "!^.*$!sip:info@example.com!", "."),
            )
            .build();
        let input = EnumInput {
            number: NumberChoice::Listed(0),
            settings: Settings::default(),
            messages: vec![msg],
            tail: Vec::new(),
        };
        let (uri, chain) = input.outcome().expect("resolves");
        assert_eq!(uri, "sip:info@example.com");
        assert_eq!(chain, [owner]);
        enum_naptr(&input.to_bytes());
    }

    /// A reply to another question is not an answer.
    #[test]
    fn a_reply_for_another_name_is_a_failure() {
        let other = "4.8.0.0.6.9.2.3.6.1.4.4.e164.arpa";
        let msg = ResponseBuilder::new(other, ResponseCode::NoError)
            .naptr(
                other,
                &Naptr::new(10, 100, "u", "E2U+sip", "!^.*$!sip:x@y!", "."),
            )
            .build();
        let input = EnumInput {
            number: NumberChoice::Listed(0),
            settings: Settings::default(),
            messages: vec![msg],
            tail: Vec::new(),
        };
        assert!(matches!(
            input.outcome(),
            Err(speermint_enum::LufError::DnsFailure { .. })
        ));
    }

    /// Every model the tail can describe survives the wire, in both cases.
    #[test]
    fn round_trips() {
        let owner = "3.8.0.0.6.9.2.3.6.1.4.4.e164.arpa";
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..300 {
            let tail: Vec<u8> = (0..200)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state.to_le_bytes()[0]
                })
                .collect();
            round_trip(&mut Unstructured::new(&tail), owner).expect("draws");
        }
    }
}

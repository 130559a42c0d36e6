//! ENUM Lookup Function (LUF) core for the SPEERMINT architecture
//! (RFC 6406 §6.1.1): E.164 number to ENUM domain (RFC 6116 §3.2), NAPTR
//! selection (RFC 3403 §4.1, RFC 6116 §3.4, §5.2), DDDS regexp rewrite
//! (RFC 3402 §3.2) and the E2U+sip enumservice (RFC 3764).
//!
//! Pure logic, no I/O: [`Lookup`] is a sans-IO state machine that asks for
//! NAPTR RRSets by name and takes plain [`Naptr`] structs back, so any DNS
//! client, cache or static zone can drive it.
//!
//! ```
//! use speermint_enum::{Answer, Config, Lookup, Naptr};
//!
//! let lookup = Lookup::new("+44 1632 960083", Config::default());
//! let resolved = lookup
//!     .run(|q| {
//!         assert_eq!(q.name, "3.8.0.0.6.9.2.3.6.1.4.4.e164.arpa");
//!         Answer::Records(vec![Naptr::new(
//!             100, 50, "u", "E2U+sip", r"!^(\+441632960083)$!sip:\1@example.com!", ".",
//!         )])
//!     })
//!     .unwrap();
//! assert_eq!(resolved.target_uri, "sip:+441632960083@example.com");
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod fuzzing;
mod lookup;
mod naptr;
mod number;
mod regexp;

pub use lookup::{
    Answer, AnswerSummary, Config, Lookup, LoopKind, LufError, OrderPolicy, Query, QueryType,
    Resolved, Step, UnexpectedAnswer, Verdict, is_absolute_uri,
};
pub use naptr::{Enumservice, Naptr, ServiceSelector};
pub use number::{Apex, ApexError, E164, MAX_APEX_LEN, MAX_DIGITS, NumberError};
pub use regexp::{RegexLimits, RegexpError, SubstExpr, rewrite};

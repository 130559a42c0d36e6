//! `speermint-corpora`: the inputs speermint is tested with, as a crate.
//!
//! - [`torture`]: the RFC 4475 and RFC 5118 torture messages with their
//!   expected verdicts, embedded at build time, so that the codec tests,
//!   the SBE tests and the `torture-hardening` check share one copy.
//! - [`replay`]: feeds tracked fuzz findings (`regressions/<target>/`) and
//!   seed corpora to a fuzz entry point from `cargo test`.
//!
//! The data lives beside this crate in `corpora/`; the codec itself no
//! longer carries it (nor serde and toml to read its manifests).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod replay;
pub mod torture;

pub use replay::*;

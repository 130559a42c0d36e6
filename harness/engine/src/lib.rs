//! `speermint-harness`: the engine around an implementation under test.
//! It binds the roles (authorised peer, stranger, terminating peer, DNS), starts
//! the embedded reference SBE or points at an external one, runs declared
//! checks and writes reports. The checks themselves live in
//! `speermint-conformance`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod check;
pub mod ctx;
pub mod liveness;
pub mod load;
pub mod media;
pub mod pcap;
pub mod peering;
pub mod pki;
pub mod refs;
pub mod report;
pub mod role;
pub mod runner;
pub mod target;
pub mod tls_role;

pub use check::{Capability, Check, Level, Outcome, Uncovered, Verdict};
pub use ctx::{Ctx, RoleId};
pub use refs::Ref;
pub use report::{CheckResult, Report};

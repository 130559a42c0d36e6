//! Replays the minimised fuzzer findings in corpora/regressions/enum_naptr/
//! and the seeds in corpora/enum/ through the entry point the fuzz target
//! uses.

use speermint_corpora::replay;
use speermint_resolver::fuzzing::enum_naptr;

#[test]
fn enum_naptr_regressions() {
    replay("regressions/enum_naptr", enum_naptr);
}

#[test]
fn enum_naptr_seeds() {
    assert!(
        replay("enum", enum_naptr) > 10,
        "corpora/enum holds the seeds"
    );
}

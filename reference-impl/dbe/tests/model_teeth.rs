//! The `dbe_sequence` invariants have teeth: against a DBE carrying any one
//! of its faults, some of a fixed set of pseudo-random inputs breaks them.
//! (Its own test binary: it silences the panic hook while it provokes
//! panics.)

use speermint_dbe::Fault;
use speermint_dbe::fuzzing::{dbe_sequence, dbe_sequence_under};
use speermint_fault::{Faults, Layer};
use std::panic::{self, AssertUnwindSafe};

fn inputs() -> Vec<Vec<u8>> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    };
    (0..2_000)
        .map(|_| {
            let len = (next() % 160) as usize;
            (0..len).map(|_| next() as u8).collect()
        })
        .collect()
}

#[test]
fn every_dbe_fault_breaks_an_invariant() {
    let inputs = inputs();
    for data in &inputs {
        dbe_sequence(data);
    }
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let mut missed = Vec::new();
    for &fault in Fault::ALL.iter().filter(|f| f.layer() == Layer::Dbe) {
        let caught = inputs.iter().any(|data| {
            panic::catch_unwind(AssertUnwindSafe(|| {
                dbe_sequence_under(data, Faults::only(fault))
            }))
            .is_err()
        });
        if !caught {
            missed.push(fault);
        }
    }
    panic::set_hook(hook);
    assert!(
        missed.is_empty(),
        "faults the model does not notice: {missed:?}"
    );
}

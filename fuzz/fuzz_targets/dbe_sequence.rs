#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| speermint_dbe::fuzzing::dbe_sequence(data));

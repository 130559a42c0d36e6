#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| speermint_route::fuzzing::lrf_answers(data));

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| speermint_dns::fuzzing::enum_naptr(data));

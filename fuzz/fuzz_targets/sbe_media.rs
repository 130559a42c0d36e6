#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| speermint_sbe::fuzzing_media::sbe_media(data));

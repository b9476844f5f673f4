//! A `GET /system/df` body, parsed as it streams, then classified and planned.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cachetop::fuzzing::system_df(data));

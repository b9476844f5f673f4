//! A `.crate` archive (whole gzip+tar?), a `.cargo-ok` marker and a registry directory name.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cachetop::fuzzing::cargo_crate(data));

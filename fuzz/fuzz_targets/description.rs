//! A BuildKit record description: `cached mount <target> from exec <argv> [with id "<id>"]`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cachetop::fuzzing::description(data));

//! A page of GitHub's `GET /repos/{o}/{r}/actions/caches`, merged with itself.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cachetop::fuzzing::gha_page(data));

//! A Link header, a GitHub API root, an `OWNER/REPO` and an error body.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cachetop::fuzzing::gha_text(data));

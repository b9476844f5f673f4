//! A `type=local` export: `index.json`, then blobs after each `\n--blob--\n`, walked for what it reaches.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cachetop::fuzzing::local_export(data));

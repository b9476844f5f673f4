//! An OCI index or manifest (the first byte picks how it was served), a BuildKit cache config and an image config.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cachetop::fuzzing::oci(data));

//! docker's `config.json` (credential lookup; helpers never run) and a `WWW-Authenticate` challenge.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: cachetop::fuzzing::isolate_credential_helpers(),
    |data: &[u8]| cachetop::fuzzing::registry_auth(data)
);

//! cachetop's TOML config file, parsed and resolved into settings.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cachetop::fuzzing::config_toml(data));

//! libFuzzer entry for the `known_hosts` target; the target and its properties live in
//! `tests/fuzz_targets/mod.rs`, shared with the short run in `cargo test`.
#![no_main]

#[path = "../../tests/fuzz_targets/mod.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::known_hosts(data));

//! libFuzzer entry for the `rpc_reply` target; the target and its properties live in
//! `tests/fuzz_targets/mod.rs`, shared with the short run in `cargo test`.
#![no_main]

#[path = "../../tests/fuzz_targets/mod.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::rpc_reply(data));

#![no_main]

// What the target feeds and checks: fuzz/src (seams_fuzz::TARGETS).
libfuzzer_sys::fuzz_target!(|data: &[u8]| seams_fuzz::run("extract", data));

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| blobgate_fuzz::session::run(data));

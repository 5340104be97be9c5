//! The bird.conf importer never panics, whatever the file: it imports, or
//! it names what it cannot.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = rampart_config::import_bird("fuzz.conf", text, Some("www"));
    }
});

//! The config parser and its error rendering never panic, whatever the file.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(errors) = rampart_config::parse("fuzz.toml", text) {
            let _ = errors.render();
        }
    }
});

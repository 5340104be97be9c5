//! The PROXY protocol decoder never panics and never claims more bytes
//! than it was given.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(Some((_, used))) = rampart_proxy::proxy_protocol::decode(data) {
        assert!(used <= data.len());
    }
});

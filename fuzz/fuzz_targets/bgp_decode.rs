//! The BGP framing and decoder never panic, and what they accept
//! re-encodes to a message they accept again as the same message.
#![no_main]

use rampart_bgp::{Context, decode, frame, to_bytes};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&flags, stream)) = data.split_first() else { return };
    let ctx = Context { four_octet_as: flags & 1 == 1 };
    // Walk the input as a TCP stream of messages.
    let mut rest = stream;
    while let Ok(Some(len)) = frame(rest) {
        let (msg, tail) = rest.split_at(len);
        rest = tail;
        if let Ok(m) = decode(msg, ctx) {
            if let Ok(again) = to_bytes(&m, ctx) {
                assert_eq!(decode(&again, ctx).ok(), Some(m));
            }
        }
    }
    let _ = decode(stream, ctx);
});

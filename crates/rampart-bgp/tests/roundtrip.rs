//! Property tests: whatever well-formed message we encode decodes to
//! itself, frames to its own length, and fits the 4096-byte limit or is
//! refused.

#![allow(clippy::unwrap_used)]

mod common;

use common::strategies::message;
use proptest::prelude::*;
use rampart_bgp::{EncodeError, MAX_MESSAGE_LEN, decode, frame, to_bytes};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn encode_then_decode_is_identity((msg, ctx) in message()) {
        match to_bytes(&msg, ctx) {
            Ok(wire) => {
                prop_assert!(wire.len() <= MAX_MESSAGE_LEN);
                prop_assert_eq!(frame(&wire), Ok(Some(wire.len())));
                prop_assert_eq!(decode(&wire, ctx), Ok(msg));
            }
            Err(e) => prop_assert!(matches!(e, EncodeError::TooLong(_)), "{e}"),
        }
    }

    #[test]
    fn framing_finds_each_message_in_a_stream(
        msgs in proptest::collection::vec(message(), 1..6),
        split in 1usize..64,
    ) {
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        for (m, ctx) in &msgs {
            if let Ok(b) = to_bytes(m, *ctx) {
                expected.push((b.len(), m.clone(), *ctx));
                stream.extend(b);
            }
        }
        // Feed the stream in pieces of `split` bytes to a buffer.
        let mut buf = Vec::new();
        let mut found = Vec::new();
        for piece in stream.chunks(split) {
            buf.extend_from_slice(piece);
            while let Some(len) = frame(&buf).unwrap() {
                found.push(buf.drain(..len).collect::<Vec<u8>>());
            }
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(found.len(), expected.len());
        for (bytes, (len, msg, ctx)) in found.iter().zip(expected) {
            prop_assert_eq!(bytes.len(), len);
            prop_assert_eq!(decode(bytes, ctx), Ok(msg));
        }
    }
}

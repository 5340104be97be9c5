//! What the decoder and the session do with bytes they did not expect:
//! every truncation and corruption of valid messages, random input. They
//! must never panic; a damaged message must be an error, not a different
//! message, wherever the damage makes it inconsistent.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::harness::{Harness, config};
use common::strategies::message;
use proptest::prelude::*;
use rampart_bgp::{Context, Message, State, decode, frame, to_bytes};

/// Rewrites the header's length to the buffer's length, so a truncation
/// reaches the body decoders instead of stopping at the framing.
fn with_length(mut wire: Vec<u8>) -> Vec<u8> {
    if wire.len() >= 18 {
        let len = u16::try_from(wire.len()).unwrap();
        wire[16..18].copy_from_slice(&len.to_be_bytes());
    }
    wire
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn every_truncation_is_an_error_or_incomplete((msg, ctx) in message()) {
        let Ok(wire) = to_bytes(&msg, ctx) else { return Ok(()) };
        for cut in 0..wire.len() {
            let short = &wire[..cut];
            // As a stream: wait for more, or reject the header.
            prop_assert!(!matches!(frame(short), Ok(Some(_))));
            prop_assert!(decode(short, ctx).is_err());
            // With the length made to match: the body is short. It may
            // still parse when the cut falls between whole elements
            // (a prefix list, a capability list), but then as something
            // other than the original message.
            if let Ok(other) = decode(&with_length(short.to_vec()), ctx) {
                prop_assert_ne!(other, msg.clone());
            }
        }
    }

    #[test]
    fn every_single_byte_corruption_is_handled((msg, ctx) in message(), flip in 1u8..=255) {
        let Ok(wire) = to_bytes(&msg, ctx) else { return Ok(()) };
        for i in 0..wire.len() {
            let mut bad = wire.clone();
            bad[i] ^= flip;
            let _ = frame(&bad);
            let _ = decode(&bad, ctx);
            let _ = decode(&bad, Context { four_octet_as: !ctx.four_octet_as });
            if i < 16 {
                prop_assert!(decode(&bad, ctx).is_err(), "marker byte {i}");
            }
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = frame(&bytes);
        let _ = decode(&bytes, Context::default());
        // With a valid marker and length, to reach the body decoders.
        let mut wire = vec![0xff; 16];
        wire.extend([0, 0]);
        wire.extend(&bytes);
        let wire = with_length(wire);
        for ctx in [Context { four_octet_as: false }, Context { four_octet_as: true }] {
            if let Ok(m) = decode(&wire, ctx) {
                // What decodes re-encodes (flags and lengths normalised).
                let again = to_bytes(&m, ctx).unwrap();
                prop_assert_eq!(decode(&again, ctx).unwrap(), m);
            }
        }
    }

    #[test]
    fn an_established_session_survives_any_bytes(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..100), 1..10),
    ) {
        let mut t = Harness::new(config());
        t.establish();
        let mut stream = vec![0xff; 16];
        stream.extend([0, 19, 4]);
        for c in &chunks {
            t.feed_bytes(&stream);
            t.feed_bytes(c);
            stream.clear();
        }
        // Either still up, or closed with a NOTIFICATION and restarting.
        let state = t.s.state();
        prop_assert!(state == State::Established || state == State::Idle);
        if state == State::Idle {
            prop_assert!(t.s.poll_timeout().is_some());
        }
        t.advance(Duration::from_secs(1000));
    }
}

#[test]
fn a_message_error_mid_buffer_stops_processing_the_rest() {
    let mut t = Harness::new(config());
    t.establish();
    let mut bytes = vec![0u8; 19]; // bad marker
    bytes.extend(to_bytes(&Message::Keepalive, t.ctx).unwrap());
    t.feed_bytes(&bytes);
    assert_eq!(t.s.state(), State::Idle);
    assert_eq!(t.s.status().messages_in.keepalive, 1, "only the one before");
    let _ = Instant::now();
}

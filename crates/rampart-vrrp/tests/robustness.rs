//! What the decoder does with bytes it did not expect: corrupted copies
//! of valid messages, truncations, random input. It must never panic and
//! never accept a damaged message as the original.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use common::{ipv4, ipv6};
use proptest::prelude::*;
use rampart_vrrp::{Addrs, Advert, Auth, ChecksumForm, Version, decode, encode};

/// One valid message of each kind, with the addresses it was sent between.
fn valid_messages() -> Vec<(Vec<u8>, IpAddr, IpAddr)> {
    let v4 = Addrs::V4(vec![
        Ipv4Addr::new(147, 75, 78, 116),
        Ipv4Addr::new(10, 99, 181, 1),
    ]);
    let v6 = Addrs::V6(vec![
        "2001:db8::100".parse().unwrap(),
        "fe80::100".parse().unwrap(),
    ]);
    let (s4, d4) = (ipv4("10.99.181.141"), ipv4("224.0.0.18"));
    let (s6, d6) = (ipv6("fe80::1"), ipv6("ff02::12"));
    let v2 = Advert {
        version: Version::V2,
        vrid: 101,
        priority: 101,
        interval_cs: 100,
        auth: Auth::simple(b"1111").unwrap(),
        addrs: v4.clone(),
    };
    let v3 = Advert {
        version: Version::V3,
        interval_cs: 10,
        auth: Auth::None,
        ..v2.clone()
    };
    let v3_6 = Advert {
        addrs: v6,
        ..v3.clone()
    };
    let cases = [
        (v2.clone(), s4, d4, ChecksumForm::MessageOnly),
        (
            Advert {
                auth: Auth::None,
                ..v2
            },
            s4,
            d4,
            ChecksumForm::MessageOnly,
        ),
        (v3.clone(), s4, d4, ChecksumForm::PseudoHeader),
        (v3, s4, d4, ChecksumForm::MessageOnly),
        (v3_6, s6, d6, ChecksumForm::PseudoHeader),
    ];
    cases
        .into_iter()
        .map(|(adv, src, dst, form)| {
            let mut out = Vec::new();
            encode(&adv, src, dst, form, &mut out).unwrap();
            (out, src, dst)
        })
        .collect()
}

#[test]
fn every_single_byte_corruption_is_caught() {
    for (bytes, src, dst) in valid_messages() {
        let original = decode(&bytes, src, dst).unwrap();
        for i in 0..bytes.len() {
            for x in 1..=255u8 {
                let mut bad = bytes.clone();
                bad[i] ^= x;
                if let Ok(got) = decode(&bad, src, dst) {
                    assert_ne!(
                        got, original,
                        "byte {i} ^ {x:#04x} accepted as the original"
                    );
                }
            }
        }
    }
}

#[test]
fn every_truncation_and_extension_is_rejected() {
    for (bytes, src, dst) in valid_messages() {
        for len in 0..bytes.len() {
            assert!(
                decode(&bytes[..len], src, dst).is_err(),
                "prefix of {len} bytes"
            );
        }
        for extra in [&[0u8][..], &[0, 0], &[0, 0, 0, 0]] {
            let mut long = bytes.clone();
            long.extend_from_slice(extra);
            assert!(
                decode(&long, src, dst).is_err(),
                "{} extra bytes",
                extra.len()
            );
        }
    }
}

#[test]
fn pseudo_header_forms_notice_a_changed_address() {
    for (bytes, src, dst) in valid_messages() {
        let (_, form) = decode(&bytes, src, dst).unwrap();
        if form != ChecksumForm::PseudoHeader {
            continue;
        }
        let other = match src {
            IpAddr::V4(_) => ipv4("10.99.181.142"),
            IpAddr::V6(_) => ipv6("fe80::2"),
        };
        assert!(decode(&bytes, other, dst).is_err());
        assert!(decode(&bytes, src, other).is_err());
    }
}

/// Rewrites the checksum field with the message-only form.
fn set_message_only_checksum(bytes: &mut [u8]) {
    bytes[6..8].copy_from_slice(&[0, 0]);
    let mut sum: u64 = bytes
        .chunks(2)
        .map(|w| u64::from(w[0]) << 8 | u64::from(w.get(1).copied().unwrap_or(0)))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let ck = !u16::try_from(sum).unwrap();
    bytes[6..8].copy_from_slice(&ck.to_be_bytes());
}

// === property tests ===

fn arb_form() -> impl Strategy<Value = ChecksumForm> {
    prop_oneof![
        Just(ChecksumForm::PseudoHeader),
        Just(ChecksumForm::MessageOnly)
    ]
}

fn arb_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|o| IpAddr::V4(Ipv4Addr::from(o))),
        any::<[u8; 16]>().prop_map(|o| IpAddr::V6(Ipv6Addr::from(o))),
    ]
}

/// A valid advert with a source and destination of its IP version.
fn arb_packet() -> impl Strategy<Value = (Advert, IpAddr, IpAddr, ChecksumForm)> {
    let v2 = (
        1..=255u8,
        any::<u8>(),
        1..=255u16,
        prop_oneof![
            Just(Auth::None),
            Just(Auth::Ah),
            any::<[u8; 8]>().prop_map(Auth::Simple)
        ],
        prop::collection::vec(any::<[u8; 4]>(), 1..=32),
        any::<([u8; 4], [u8; 4])>(),
    )
        .prop_map(|(vrid, priority, secs, auth, addrs, (s, d))| {
            let adv = Advert {
                version: Version::V2,
                vrid,
                priority,
                interval_cs: secs * 100,
                auth,
                addrs: Addrs::V4(addrs.into_iter().map(Ipv4Addr::from).collect()),
            };
            (adv, IpAddr::from(s), IpAddr::from(d))
        });
    let v3_4 = (
        1..=255u8,
        any::<u8>(),
        1..=4095u16,
        prop::collection::vec(any::<[u8; 4]>(), 1..=32),
    )
        .prop_map(|(vrid, priority, interval_cs, addrs)| Advert {
            version: Version::V3,
            vrid,
            priority,
            interval_cs,
            auth: Auth::None,
            addrs: Addrs::V4(addrs.into_iter().map(Ipv4Addr::from).collect()),
        })
        .prop_flat_map(|adv| (Just(adv), any::<([u8; 4], [u8; 4])>()))
        .prop_map(|(adv, (s, d))| (adv, IpAddr::from(s), IpAddr::from(d)));
    let v3_6 = (
        1..=255u8,
        any::<u8>(),
        1..=4095u16,
        prop::collection::vec(any::<[u8; 16]>(), 1..=16),
    )
        .prop_map(|(vrid, priority, interval_cs, addrs)| Advert {
            version: Version::V3,
            vrid,
            priority,
            interval_cs,
            auth: Auth::None,
            addrs: Addrs::V6(addrs.into_iter().map(Ipv6Addr::from).collect()),
        })
        .prop_flat_map(|adv| (Just(adv), any::<([u8; 16], [u8; 16])>()))
        .prop_map(|(adv, (s, d))| (adv, IpAddr::from(s), IpAddr::from(d)));
    (prop_oneof![v2, v3_4, v3_6], arb_form()).prop_map(|((adv, s, d), form)| (adv, s, d, form))
}

proptest! {
    #[test]
    fn encode_then_decode_round_trips((adv, src, dst, form) in arb_packet()) {
        let mut bytes = Vec::new();
        encode(&adv, src, dst, form, &mut bytes).unwrap();
        prop_assert_eq!(bytes.len(), adv.encoded_len());
        let (back, got_form) = decode(&bytes, src, dst).unwrap();
        prop_assert_eq!(&back, &adv);
        match (adv.version, src) {
            (Version::V2, _) => prop_assert_eq!(got_form, ChecksumForm::MessageOnly),
            (Version::V3, IpAddr::V6(_)) => prop_assert_eq!(got_form, ChecksumForm::PseudoHeader),
            (Version::V3, IpAddr::V4(_)) => {
                // Pseudo-header is tried first; when the pseudo-header sums
                // to zero both forms give the same bytes, so the reported
                // form must reproduce them exactly.
                let mut again = Vec::new();
                encode(&adv, src, dst, got_form, &mut again).unwrap();
                prop_assert_eq!(again, bytes);
                if form == ChecksumForm::PseudoHeader {
                    prop_assert_eq!(got_form, ChecksumForm::PseudoHeader);
                }
            }
        }
    }

    #[test]
    fn decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300), src in arb_ip(), dst in arb_ip()) {
        let _ = decode(&bytes, src, dst);
    }

    /// Mutations of valid messages reach deeper than random bytes; any
    /// message the decoder accepts is a valid advert that encodes again.
    #[test]
    fn decoded_adverts_are_valid(
        (adv, src, dst, form) in arb_packet(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        fix_checksum in any::<bool>(),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = Vec::new();
        encode(&adv, src, dst, form, &mut bytes).unwrap();
        for (i, b) in edits {
            let i = i.index(bytes.len());
            bytes[i] = b;
        }
        if fix_checksum {
            // Past the checksum check to the field checks (v2 and v3 over
            // IPv4 accept the message-only form).
            set_message_only_checksum(&mut bytes);
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        if let Ok((got, got_form)) = decode(&bytes, src, dst) {
            let mut again = Vec::new();
            encode(&got, src, dst, got_form, &mut again).unwrap();
            prop_assert_eq!(decode(&again, src, dst).unwrap(), (got, got_form));
        }
    }
}

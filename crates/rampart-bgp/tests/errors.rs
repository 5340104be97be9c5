//! Every decode error of RFC 4271 §6 and the NOTIFICATION that answers
//! it: code, subcode and data.

#![allow(clippy::unwrap_used)]

mod common;

use common::{h, hdr};
use rampart_bgp::{Context, DecodeError, decode, frame};

const AS4: Context = Context {
    four_octet_as: true,
};

/// The NOTIFICATION (code, subcode, data) that answers `wire`.
fn answer(wire: &[u8]) -> (u8, u8, Vec<u8>) {
    let e = decode(wire, AS4).unwrap_err();
    let n = e.notification().unwrap();
    (n.code, n.subcode, n.data)
}

/// An UPDATE whose path attributes are `attrs` (hex) and NLRI `nlri`.
fn update(attrs: &str, nlri: &str) -> Vec<u8> {
    let a = h(attrs);
    let n = h(nlri);
    let len = 19 + 4 + a.len() + n.len();
    let mut wire = h(&format!("{} 0000 {:04x}", hdr(len as u16, 2), a.len()));
    wire.extend(a);
    wire.extend(n);
    wire
}

const ORIGIN: &str = "40 01 01 00";
const AS_PATH: &str = "40 02 06 02 01 0000fde9";
const NEXT_HOP: &str = "40 03 04 0a000001";
const NLRI: &str = "20 c000020a";

fn with(extra: &str) -> String {
    format!("{ORIGIN} {AS_PATH} {NEXT_HOP} {extra}")
}

// === message header (1, x) ===

#[test]
fn marker_not_all_ones_is_1_1() {
    let mut wire = h(&hdr(19, 4));
    wire[3] = 0;
    assert_eq!(answer(&wire), (1, 1, vec![]));
    assert_eq!(frame(&wire), Err(DecodeError::NotSynchronized));
}

#[test]
fn bad_lengths_are_1_2_with_the_length() {
    assert_eq!(answer(&h(&hdr(18, 4))), (1, 2, vec![0, 18]));
    assert_eq!(answer(&h(&hdr(4097, 2))), (1, 2, vec![0x10, 0x01]));
    // KEEPALIVE is exactly 19, ROUTE-REFRESH exactly 23, OPEN at least 29.
    assert_eq!(
        frame(&h(&format!("{} 00", hdr(20, 4)))),
        Err(DecodeError::BadLength(20))
    );
    assert_eq!(frame(&h(&hdr(24, 5))), Err(DecodeError::BadLength(24)));
    assert_eq!(frame(&h(&hdr(28, 1))), Err(DecodeError::BadLength(28)));
}

#[test]
fn unknown_type_is_1_3_with_the_type() {
    assert_eq!(answer(&h(&hdr(19, 6))), (1, 3, vec![6]));
    assert_eq!(answer(&h(&hdr(19, 0))), (1, 3, vec![0]));
}

// === OPEN (2, x) ===

fn open(body: &str) -> Vec<u8> {
    let b = h(body);
    let mut wire = h(&hdr(19 + b.len() as u16, 1));
    wire.extend(b);
    wire
}

#[test]
fn open_errors() {
    // Version 3: we answer with the highest we speak, 4.
    assert_eq!(
        answer(&open("03 fde9 005a 0a000001 00")),
        (2, 1, vec![0, 4])
    );
    assert_eq!(answer(&open("04 fde9 0000 00000000 00")), (2, 3, vec![]));
    assert_eq!(answer(&open("04 fde9 0001 0a000001 00")), (2, 6, vec![]));
    assert_eq!(answer(&open("04 fde9 0002 0a000001 00")), (2, 6, vec![]));
    // Optional parameter 1 (authentication, deprecated).
    assert_eq!(
        answer(&open("04 fde9 005a 0a000001 03 01 01 00")),
        (2, 4, vec![])
    );
    // A capability running past its parameter.
    assert_eq!(
        answer(&open("04 fde9 005a 0a000001 04 02 02 41 04")),
        (2, 0, vec![])
    );
    // A 4-octet AS capability of the wrong length.
    assert_eq!(
        answer(&open("04 fde9 005a 0a000001 05 02 03 41 01 00")),
        (2, 0, vec![])
    );
    // Parameters longer than the message.
    assert_eq!(
        answer(&open("04 fde9 005a 0a000001 09 02 02 02 00")),
        (2, 0, vec![])
    );
    // Bytes after the parameters.
    assert_eq!(answer(&open("04 fde9 005a 0a000001 00 00")), (2, 0, vec![]));
}

// === UPDATE (3, x) ===

#[test]
fn lengths_that_do_not_add_up_are_3_1() {
    let wire = h(&format!("{} 0005 20 c000020a 00 00", hdr(28, 2)));
    assert_eq!(decode(&wire, AS4).unwrap().name(), "UPDATE");
    let wire = h(&format!("{} 0006 20 c000020a 00 00", hdr(28, 2)));
    assert_eq!(answer(&wire), (3, 1, vec![]));
    let wire = h(&format!("{} 0000 0009 40 01 01 00", hdr(27, 2)));
    assert_eq!(answer(&wire), (3, 1, vec![]));
    // An attribute whose length runs past the attribute field.
    assert_eq!(answer(&update("40 01 05 00", "")), (3, 1, vec![]));
}

#[test]
fn repeated_attribute_is_3_1() {
    assert_eq!(answer(&update(&with(ORIGIN), NLRI)), (3, 1, vec![]));
}

#[test]
fn unrecognized_well_known_is_3_2_with_the_attribute() {
    assert_eq!(answer(&update("40 63 01 ff", "")), (3, 2, h("40 63 01 ff")));
}

#[test]
fn missing_well_known_is_3_3_with_the_type() {
    assert_eq!(
        answer(&update(&format!("{AS_PATH} {NEXT_HOP}"), NLRI)),
        (3, 3, vec![1])
    );
    assert_eq!(
        answer(&update(&format!("{ORIGIN} {NEXT_HOP}"), NLRI)),
        (3, 3, vec![2])
    );
    assert_eq!(
        answer(&update(&format!("{ORIGIN} {AS_PATH}"), NLRI)),
        (3, 3, vec![3])
    );
    // MP_REACH_NLRI needs ORIGIN and AS_PATH but no NEXT_HOP.
    let mp = "80 0e 1a 0002 01 10 20010db80000000000000000 0000ffff 00 20 20010db8";
    assert_eq!(
        answer(&update(&format!("{mp} {ORIGIN}"), "")),
        (3, 3, vec![2])
    );
    assert!(decode(&update(&format!("{mp} {ORIGIN} {AS_PATH}"), ""), AS4).is_ok());
    // Withdrawals alone need nothing.
    assert!(decode(&update("", ""), AS4).is_ok());
}

#[test]
fn attribute_flags_errors_are_3_4_with_the_attribute() {
    // ORIGIN marked optional.
    assert_eq!(answer(&update("c0 01 01 00", "")), (3, 4, h("c0 01 01 00")));
    // MED marked transitive, and MED marked partial.
    assert_eq!(
        answer(&update("c0 04 04 00000001", "")),
        (3, 4, h("c0 04 04 00000001"))
    );
    assert_eq!(
        answer(&update("a0 04 04 00000001", "")),
        (3, 4, h("a0 04 04 00000001"))
    );
    // Partial on an optional transitive attribute is fine.
    assert!(decode(&update(&with("e0 08 04 fde90064"), NLRI), AS4).is_ok());
}

#[test]
fn attribute_length_errors_are_3_5_with_the_attribute() {
    assert_eq!(
        answer(&update("40 01 02 0000", "")),
        (3, 5, h("40 01 02 0000"))
    );
    assert_eq!(
        answer(&update("40 03 03 0a0000", "")),
        (3, 5, h("40 03 03 0a0000"))
    );
    assert_eq!(
        answer(&update("80 04 02 0001", "")),
        (3, 5, h("80 04 02 0001"))
    );
    assert_eq!(answer(&update("40 06 01 00", "")), (3, 5, h("40 06 01 00")));
    assert_eq!(
        answer(&update("c0 08 05 0000000000", "")),
        (3, 5, h("c0 08 05 0000000000"))
    );
    let large = "c0 20 08 0000fde9 00000001";
    assert_eq!(answer(&update(large, "")), (3, 5, h(large)));
    // AGGREGATOR is 8 bytes on a 4-octet session.
    assert_eq!(
        answer(&update("c0 07 06 fde9 0a000001", "")),
        (3, 5, h("c0 07 06 fde9 0a000001"))
    );
}

#[test]
fn invalid_origin_is_3_6() {
    let wire = update(&format!("40 01 01 03 {AS_PATH} {NEXT_HOP}"), NLRI);
    assert_eq!(answer(&wire), (3, 6, h("40 01 01 03")));
}

#[test]
fn invalid_next_hop_is_3_8() {
    for nh in ["00000000", "e0000001", "ffffffff"] {
        let attr = format!("40 03 04 {nh}");
        let wire = update(&format!("{ORIGIN} {AS_PATH} {attr}"), NLRI);
        assert_eq!(answer(&wire), (3, 8, h(&attr)), "next hop {nh}");
    }
}

#[test]
fn bad_mp_attributes_are_3_9() {
    // An IPv6 next hop of 15 bytes.
    let mp = "80 0e 14 0002 01 0f 20010db80000000000000000 0000ff 00";
    assert_eq!(answer(&update(&with(mp), "")), (3, 9, h(mp)));
    // An IPv6 prefix of 129 bits in MP_UNREACH_NLRI.
    let unreach = "80 0f 04 0002 01 81";
    assert_eq!(answer(&update(unreach, "")), (3, 9, h(unreach)));
    // A family we do not speak is kept raw, not an error.
    assert!(decode(&update("80 0f 03 0019 46", ""), AS4).is_ok());
}

#[test]
fn invalid_network_field_is_3_10() {
    assert_eq!(answer(&update(&with(""), "21 c000020a00")), (3, 10, vec![]));
    assert_eq!(answer(&update(&with(""), "20 c00002")), (3, 10, vec![]));
    let wire = h(&format!("{} 0002 18 c6 0000", hdr(25, 2)));
    assert_eq!(answer(&wire), (3, 10, vec![]));
}

#[test]
fn malformed_as_path_is_3_11() {
    for path in ["05 01 0000fde9", "02 00", "02 02 0000fde9", "02"] {
        let attr = h(path);
        let attrs = format!("{ORIGIN} 40 02 {:02x} {path} {NEXT_HOP}", attr.len());
        assert_eq!(
            answer(&update(&attrs, NLRI)),
            (3, 11, vec![]),
            "path {path}"
        );
    }
    // AS4_PATH too.
    assert_eq!(answer(&update("c0 11 03 02 01 00", "")), (3, 11, vec![]));
}

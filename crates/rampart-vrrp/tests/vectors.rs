//! Byte vectors built by hand from the RFC layouts, with their checksums
//! worked out in the comments, plus one test per receive check.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use common::{ipv4, ipv6};
use rampart_vrrp::{
    Addrs, Advert, Auth, ChecksumForm, DecodeError, EncodeError, Version, decode, encode,
};

fn encoded(adv: &Advert, src: IpAddr, dst: IpAddr, form: ChecksumForm) -> Vec<u8> {
    let mut out = Vec::new();
    encode(adv, src, dst, form, &mut out).unwrap();
    out
}

// === VRRPv2, the seed guide's keepalived instance ===

/// vrrp_instance with virtual_router_id 101, priority 101, advert_int 1,
/// auth_type PASS, auth_pass 1111, virtual_ipaddress 147.75.78.116.
fn seed_v2() -> Advert {
    Advert {
        version: Version::V2,
        vrid: 101,
        priority: 101,
        interval_cs: 100,
        auth: Auth::simple(b"1111").unwrap(),
        addrs: Addrs::V4(vec![Ipv4Addr::new(147, 75, 78, 116)]),
    }
}

/// 16-bit words of the message with the checksum field zero:
///
/// ```text
///   0x2165  version 2, type 1 | VRID 101 (0x65)
///   0x6501  priority 101      | count 1
///   0x0101  auth type 1 (simple) | adver int 1 s
///   0x0000  checksum (zero while computing)
///   0x934b  147.75
///   0x4e74  78.116
///   0x3131  "11"
///   0x3131  "11"
///   0x0000  password padding
///   0x0000  password padding
///
///   0x2165 + 0x6501 = 0x8666
///          + 0x0101 = 0x8767
///          + 0x934b = 0x11ab2
///          + 0x4e74 = 0x16926
///          + 0x3131 = 0x19a57
///          + 0x3131 = 0x1cb88
///   fold: 0xcb88 + 0x1 = 0xcb89
///   one's complement: ~0xcb89 = 0x3476
/// ```
const SEED_V2: [u8; 20] = [
    0x21, 0x65, 0x65, 0x01, // version/type, VRID, priority, count
    0x01, 0x01, 0x34, 0x76, // auth type, adver int, checksum
    147, 75, 78, 116, // IP address
    b'1', b'1', b'1', b'1', // authentication data (1)
    0, 0, 0, 0, // authentication data (2)
];

#[test]
fn v2_seed_encodes_to_hand_built_bytes() {
    // v2 ignores the requested form: always message only.
    for form in [ChecksumForm::PseudoHeader, ChecksumForm::MessageOnly] {
        let bytes = encoded(
            &seed_v2(),
            ipv4("10.99.181.141"),
            ipv4("10.99.181.142"),
            form,
        );
        assert_eq!(bytes, SEED_V2);
    }
}

#[test]
fn v2_seed_decodes() {
    // The v2 checksum does not depend on the addresses.
    let (adv, form) = decode(&SEED_V2, ipv4("192.0.2.1"), ipv4("224.0.0.18")).unwrap();
    assert_eq!(adv, seed_v2());
    assert_eq!(form, ChecksumForm::MessageOnly);
    assert_eq!(adv.auth, Auth::Simple(*b"1111\0\0\0\0"));
}

#[test]
fn v2_auth_none_and_ah() {
    for auth in [Auth::None, Auth::Ah] {
        let adv = Advert { auth, ..seed_v2() };
        let bytes = encoded(
            &adv,
            ipv4("10.0.0.1"),
            ipv4("224.0.0.18"),
            ChecksumForm::MessageOnly,
        );
        assert_eq!(&bytes[12..], &[0; 8], "zero authentication data");
        let (back, _) = decode(&bytes, ipv4("10.0.0.1"), ipv4("224.0.0.18")).unwrap();
        assert_eq!(back.auth, auth);
    }
}

// === VRRPv3 over IPv4, 100 ms ===

fn v3_ipv4() -> Advert {
    Advert {
        version: Version::V3,
        vrid: 101,
        priority: 101,
        interval_cs: 10,
        auth: Auth::None,
        addrs: Addrs::V4(vec![Ipv4Addr::new(147, 75, 78, 116)]),
    }
}

/// Over the message only (RFC 9568; keepalived `v3_checksum_as_v2`):
///
/// ```text
///   0x3165  version 3, type 1 | VRID 101
///   0x6501  priority 101      | count 1
///   0x000a  reserved 0 | max adver int 10 cs
///   0x0000  checksum
///   0x934b  147.75
///   0x4e74  78.116
///
///   0x3165 + 0x6501 = 0x9666
///          + 0x000a = 0x9670
///          + 0x934b = 0x129bb
///          + 0x4e74 = 0x1782f
///   fold: 0x782f + 0x1 = 0x7830
///   ~0x7830 = 0x87cf
/// ```
const V3_IPV4_MESSAGE_ONLY: [u8; 12] = [
    0x31, 0x65, 0x65, 0x01, 0x00, 0x0a, 0x87, 0xcf, 147, 75, 78, 116,
];

/// With the IPv4 pseudo-header (keepalived's default), src 10.99.181.141,
/// dst 224.0.0.18, protocol 112, length 12:
///
/// ```text
///   0x0a63  10.99      (src)
///   0xb58d  181.141
///   0xe000  224.0      (dst)
///   0x0012  0.18
///   0x0070  zero | protocol 112
///   0x000c  length 12
///
///   0x0a63 + 0xb58d = 0xbff0
///          + 0xe000 = 0x19ff0
///          + 0x0012 = 0x1a002
///          + 0x0070 = 0x1a072
///          + 0x000c = 0x1a07e
///   then the message words as above (0x3165 + 0x6501 + 0x000a + 0x934b
///   + 0x4e74 = 0x1782f):
///   0x1a07e + 0x1782f = 0x318ad
///   fold: 0x18ad + 0x3 = 0x18b0
///   ~0x18b0 = 0xe74f
/// ```
const V3_IPV4_PSEUDO: [u8; 12] = [
    0x31, 0x65, 0x65, 0x01, 0x00, 0x0a, 0xe7, 0x4f, 147, 75, 78, 116,
];

#[test]
fn v3_ipv4_both_checksum_forms() {
    let (src, dst) = (ipv4("10.99.181.141"), ipv4("224.0.0.18"));
    for (form, expected) in [
        (ChecksumForm::MessageOnly, V3_IPV4_MESSAGE_ONLY),
        (ChecksumForm::PseudoHeader, V3_IPV4_PSEUDO),
    ] {
        assert_eq!(encoded(&v3_ipv4(), src, dst, form), expected, "{form:?}");
        let (adv, got_form) = decode(&expected, src, dst).unwrap();
        assert_eq!(adv, v3_ipv4());
        assert_eq!(got_form, form);
    }
}

#[test]
fn v3_ipv4_pseudo_header_depends_on_addresses() {
    // The message-only form still verifies from anywhere; the
    // pseudo-header form does not once the source changes.
    let dst = ipv4("224.0.0.18");
    assert!(decode(&V3_IPV4_MESSAGE_ONLY, ipv4("10.99.181.142"), dst).is_ok());
    assert_eq!(
        decode(&V3_IPV4_PSEUDO, ipv4("10.99.181.142"), dst),
        Err(DecodeError::BadChecksum)
    );
}

#[test]
fn v3_ignores_reserved_bits_on_receipt() {
    // Reserved bits set to 0xf: the sum grows by 0xf000, so the checksum
    // shrinks by the same: 0x87cf - 0xf000 in one's complement
    // = 0x87cf + 0x0fff = 0x97ce.
    let bytes = [
        0x31, 0x65, 0x65, 0x01, 0xf0, 0x0a, 0x97, 0xce, 147, 75, 78, 116,
    ];
    let (adv, form) = decode(&bytes, ipv4("10.0.0.1"), ipv4("224.0.0.18")).unwrap();
    assert_eq!(adv, v3_ipv4());
    assert_eq!(form, ChecksumForm::MessageOnly);
}

// === VRRPv3 over IPv6 ===

fn v3_ipv6() -> Advert {
    Advert {
        version: Version::V3,
        vrid: 101,
        priority: 101,
        interval_cs: 10,
        auth: Auth::None,
        addrs: Addrs::V6(vec!["2001:db8::100".parse::<Ipv6Addr>().unwrap()]),
    }
}

/// src fe80::1, dst ff02::12, upper-layer length 24, next header 112:
///
/// ```text
///   pseudo-header: 0xfe80 + 0x0001 (src) + 0xff02 + 0x0012 (dst)
///                  + 0x0000 0x0018 (length 24) + 0x0000 0x0070 (nh 112)
///     0xfe80 + 0x0001 = 0xfe81
///            + 0xff02 = 0x1fd83
///            + 0x0012 = 0x1fd95
///            + 0x0018 = 0x1fdad
///            + 0x0070 = 0x1fe1d
///   message: 0x3165 0x6501 0x000a 0x0000 | 0x2001 0x0db8 ... 0x0100
///            + 0x3165 = 0x22f82
///            + 0x6501 = 0x29483
///            + 0x000a = 0x2948d
///            + 0x2001 = 0x2b48e
///            + 0x0db8 = 0x2c246
///            + 0x0100 = 0x2c346
///   fold: 0xc346 + 0x2 = 0xc348
///   ~0xc348 = 0x3cb7
/// ```
const V3_IPV6: [u8; 24] = [
    0x31, 0x65, 0x65, 0x01, 0x00, 0x0a, 0x3c, 0xb7, // header
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, // 2001:db8::
    0, 0, 0, 0, 0, 0, 0x01, 0x00, // ::100
];

#[test]
fn v3_ipv6_pseudo_header() {
    let (src, dst) = (ipv6("fe80::1"), ipv6("ff02::12"));
    // IPv6 always uses the pseudo-header, whatever was asked.
    for form in [ChecksumForm::PseudoHeader, ChecksumForm::MessageOnly] {
        assert_eq!(encoded(&v3_ipv6(), src, dst, form), V3_IPV6);
    }
    let (adv, form) = decode(&V3_IPV6, src, dst).unwrap();
    assert_eq!(adv, v3_ipv6());
    assert_eq!(form, ChecksumForm::PseudoHeader);
    assert_eq!(
        decode(&V3_IPV6, ipv6("fe80::2"), dst),
        Err(DecodeError::BadChecksum)
    );
}

#[test]
fn encode_appends() {
    let mut out = vec![0xaa, 0xbb];
    let adv = v3_ipv4();
    let (src, dst) = (ipv4("10.99.181.141"), ipv4("224.0.0.18"));
    encode(&adv, src, dst, ChecksumForm::PseudoHeader, &mut out).unwrap();
    assert_eq!(out[..2], [0xaa, 0xbb]);
    assert_eq!(out[2..], V3_IPV4_PSEUDO);
    assert_eq!(adv.encoded_len(), V3_IPV4_PSEUDO.len());
    assert_eq!(seed_v2().encoded_len(), SEED_V2.len());
    assert_eq!(v3_ipv6().encoded_len(), V3_IPV6.len());
}

// === receive checks ===

/// `bytes` with its checksum recomputed (message-only form), so that a
/// test reaches the check after the checksum.
fn with_checksum(mut bytes: Vec<u8>) -> Vec<u8> {
    bytes[6] = 0;
    bytes[7] = 0;
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|w| u32::from(w[0]) << 8 | u32::from(*w.get(1).unwrap_or(&0)))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let ck = !(sum as u16);
    bytes[6..8].copy_from_slice(&ck.to_be_bytes());
    bytes
}

#[test]
fn decode_rejects_each_receive_check() {
    let (s4, d4) = (ipv4("10.0.0.1"), ipv4("224.0.0.18"));
    let check = |bytes: &[u8], src, dst| decode(bytes, src, dst).unwrap_err();
    let v2 = SEED_V2.to_vec();
    let patched = |i: usize, b: u8| {
        let mut v = v2.clone();
        v[i] = b;
        with_checksum(v)
    };

    assert_eq!(
        check(&[], s4, d4),
        DecodeError::Truncated { need: 1, have: 0 }
    );
    assert_eq!(
        check(&v2[..7], s4, d4),
        DecodeError::Truncated { need: 8, have: 7 }
    );
    assert_eq!(
        check(&v2, s4, ipv6("ff02::12")),
        DecodeError::AddressFamilyMismatch
    );
    assert_eq!(
        check(&v2, ipv6("fe80::1"), ipv6("ff02::12")),
        DecodeError::V2OverIpv6
    );
    assert_eq!(check(&patched(0, 0x41), s4, d4), DecodeError::BadVersion(4));
    assert_eq!(check(&patched(0, 0x22), s4, d4), DecodeError::BadType(2));
    assert_eq!(check(&patched(3, 0), s4, d4), DecodeError::NoAddresses);
    assert_eq!(
        check(&patched(3, 2), s4, d4),
        DecodeError::CountMismatch {
            count: 2,
            expected: 24,
            actual: 20
        }
    );
    assert_eq!(
        check(&v2[..19], s4, d4),
        DecodeError::CountMismatch {
            count: 1,
            expected: 20,
            actual: 19
        }
    );
    let mut long = v2.clone();
    long.extend_from_slice(&[0, 0]);
    assert!(matches!(
        check(&long, s4, d4),
        DecodeError::CountMismatch { .. }
    ));
    let mut bad_sum = v2.clone();
    bad_sum[7] ^= 1;
    assert_eq!(check(&bad_sum, s4, d4), DecodeError::BadChecksum);
    assert_eq!(check(&patched(1, 0), s4, d4), DecodeError::InvalidVrid);
    assert_eq!(check(&patched(5, 0), s4, d4), DecodeError::BadInterval);
    assert_eq!(check(&patched(4, 3), s4, d4), DecodeError::BadAuthType(3));
    // v3: a 12-bit interval of zero (only reserved bits set).
    let v3 = with_checksum(vec![0x31, 0x65, 0x65, 0x01, 0x10, 0x00, 0, 0, 1, 2, 3, 4]);
    assert_eq!(check(&v3, s4, d4), DecodeError::BadInterval);
    // v3 over IPv6 reads 16-byte addresses: a 4-byte one is a mismatch.
    assert!(matches!(
        check(&v3, ipv6("fe80::1"), ipv6("ff02::12")),
        DecodeError::CountMismatch {
            expected: 24,
            actual: 12,
            ..
        }
    ));
}

// === encode checks ===

#[test]
fn encode_rejects_invalid_adverts() {
    let (s4, d4) = (ipv4("10.0.0.1"), ipv4("224.0.0.18"));
    let (s6, d6) = (ipv6("fe80::1"), ipv6("ff02::12"));
    let form = ChecksumForm::PseudoHeader;
    let fails = |adv: &Advert, src, dst| {
        let mut out = vec![7];
        let err = encode(adv, src, dst, form, &mut out).unwrap_err();
        assert_eq!(out, [7], "nothing appended on error");
        err
    };

    assert_eq!(
        fails(&seed_v2(), s4, d6),
        EncodeError::AddressFamilyMismatch
    );
    assert_eq!(
        fails(&v3_ipv4(), s6, d6),
        EncodeError::AddressFamilyMismatch
    );
    assert_eq!(
        fails(&v3_ipv6(), s4, d4),
        EncodeError::AddressFamilyMismatch
    );
    assert_eq!(fails(&seed_v2(), s6, d6), EncodeError::V2RequiresIpv4);
    let v2_v6 = Advert {
        addrs: v3_ipv6().addrs,
        ..seed_v2()
    };
    assert_eq!(fails(&v2_v6, s6, d6), EncodeError::V2RequiresIpv4);
    assert_eq!(
        fails(
            &Advert {
                vrid: 0,
                ..seed_v2()
            },
            s4,
            d4
        ),
        EncodeError::InvalidVrid
    );
    let empty = Advert {
        addrs: Addrs::V4(vec![]),
        ..seed_v2()
    };
    assert_eq!(fails(&empty, s4, d4), EncodeError::NoAddresses);
    let many = Advert {
        addrs: Addrs::V4(vec![Ipv4Addr::LOCALHOST; 256]),
        ..v3_ipv4()
    };
    assert_eq!(fails(&many, s4, d4), EncodeError::TooManyAddresses(256));
    for interval_cs in [0, 50, 150, 25600] {
        let adv = Advert {
            interval_cs,
            ..seed_v2()
        };
        assert_eq!(
            fails(&adv, s4, d4),
            EncodeError::BadInterval {
                version: Version::V2,
                interval_cs
            }
        );
    }
    for interval_cs in [0, 4096] {
        let adv = Advert {
            interval_cs,
            ..v3_ipv4()
        };
        assert_eq!(
            fails(&adv, s4, d4),
            EncodeError::BadInterval {
                version: Version::V3,
                interval_cs
            }
        );
    }
    let v3_auth = Advert {
        auth: Auth::Ah,
        ..v3_ipv4()
    };
    assert_eq!(fails(&v3_auth, s4, d4), EncodeError::AuthInV3);

    // The limits themselves are fine.
    let mut out = Vec::new();
    for adv in [
        Advert {
            interval_cs: 25500,
            ..seed_v2()
        },
        Advert {
            interval_cs: 4095,
            ..v3_ipv4()
        },
        Advert {
            addrs: Addrs::V4(vec![Ipv4Addr::LOCALHOST; 255]),
            ..v3_ipv4()
        },
    ] {
        encode(&adv, s4, d4, form, &mut out).unwrap();
    }
}

#[test]
fn simple_password_is_at_most_eight_bytes() {
    assert_eq!(Auth::simple(b""), Some(Auth::Simple([0; 8])));
    assert_eq!(Auth::simple(b"12345678"), Some(Auth::Simple(*b"12345678")));
    assert_eq!(Auth::simple(b"123456789"), None);
}

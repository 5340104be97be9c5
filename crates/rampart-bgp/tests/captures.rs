//! Byte vectors captured from real peers: BIRD 2.0.12 (AS 65530, router
//! id 10.77.0.1) and FRR 8.4.4 bgpd (AS 65000, router id 10.77.0.2) on one
//! IPv4 session carrying IPv4 and IPv6 unicast, recorded with tcpdump by
//! `tests/capture_peers.sh` (which documents the set-up; it is not run in
//! CI). Each message is kept verbatim, spaced into its fields.
//!
//! Both OPENs carry the 4-octet AS capability, so every UPDATE is decoded
//! with `four_octet_as: true`. Each vector is decoded to the exact fields
//! it holds and re-encoded: byte for byte where our encoder writes what
//! the peer wrote, otherwise (the reason given at the vector) checked to
//! mean the same. The two streams are framed whole, in capture order.
//!
//! The session, in order: FRR connects, OPENs and KEEPALIVEs; each side
//! announces its routes and sends End-of-RIB for both families (FRR also
//! passes BIRD's routes back, which BIRD drops for the loop); `birdc
//! reload in` has BIRD send ROUTE-REFRESH, which FRR answers with
//! enhanced route refresh (RFC 7313: BoRR, the routes, EoRR); FRR's
//! `clear bgp * soft in` does the same the other way; BIRD then FRR
//! withdraw their routes; `birdc disable frr "maintenance"` ends the
//! session with Cease / Administrative Shutdown.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::Ipv4Addr;

use common::{h, net};
use rampart_bgp::{
    AsPath, Attribute, Capability, Community, Context, DecodeError, Family, LargeCommunity,
    Message, MpReach, MpUnreach, Notification, Open, Origin, RouteRefresh, Update, decode, frame,
    to_bytes,
};

/// Both OPENs below offer the 4-octet AS capability.
const AS4: Context = Context {
    four_octet_as: true,
};

// === BIRD 2.0.12 -> FRR 8.4.4 ===

/// BIRD's OPEN: AS 65530, hold time 240, all capabilities in one
/// optional parameter: multiprotocol IPv4 and IPv6 unicast, route
/// refresh, graceful restart (no flags, restart time 120), 4-octet AS,
/// enhanced route refresh, long-lived graceful restart (no families).
const BIRD_OPEN: &str = "ffffffffffffffffffffffffffffffff 003b 01 \
    04 fffa 00f0 0a4d0001 1e  02 1c \
    01 04 0001 00 01  01 04 0002 00 01  02 00  40 02 0078  41 04 0000fffa  46 00  47 00";

/// KEEPALIVE (FRR's is the same 19 bytes).
const KEEPALIVE: &str = "ffffffffffffffffffffffffffffffff 0013 04";

/// BIRD announces 192.0.2.10/32: ORIGIN IGP, AS_PATH 65530, NEXT_HOP
/// 10.77.0.1, MED 10, COMMUNITIES 65530:100, LARGE_COMMUNITIES
/// 65530:1:2 (set by the export filter); no LOCAL_PREF on eBGP.
const BIRD_UPDATE_V4: &str = "ffffffffffffffffffffffffffffffff 004d 02 \
    0000 0031  40 01 01 00  40 02 06 02 01 0000fffa  40 03 04 0a4d0001 \
    80 04 04 0000000a  c0 08 04 fffa0064  c0 20 0c 0000fffa 00000001 00000002 \
    20 c000020a";

/// BIRD's End-of-RIB for IPv4 unicast: an empty UPDATE (FRR's is the
/// same 23 bytes).
const EOR_V4: &str = "ffffffffffffffffffffffffffffffff 0017 02  0000 0000";

/// BIRD announces 2001:db8:a::10/128: MP_REACH_NLRI first, with the global
/// next hop 2001:db8:77::1 and the link-local fe80::ff:fe00:7701 (a direct
/// session), then the attributes of the IPv4 route minus NEXT_HOP.
///
/// Not byte-identical: BIRD sets the Extended Length flag (0x10) on
/// MP_REACH_NLRI and writes its length (54) in two octets; we use one
/// octet whenever the length fits.
const BIRD_UPDATE_V6: &str = "ffffffffffffffffffffffffffffffff 007b 02 \
    0000 0064 \
    90 0e 0036 0002 01 20 20010db8007700000000000000000001 \
    fe80000000000000000000fffe007701 00 \
    80 20010db8000a00000000000000000010 \
    40 01 01 00  40 02 06 02 01 0000fffa  80 04 04 0000000a  c0 08 04 fffa0064 \
    c0 20 0c 0000fffa 00000001 00000002";

/// BIRD's End-of-RIB for IPv6 unicast: MP_UNREACH_NLRI with no prefixes
/// (FRR's is the same 29 bytes).
const EOR_V6: &str = "ffffffffffffffffffffffffffffffff 001d 02  0000 0006  80 0f 03 0002 01";

/// `birdc reload in frr`: ROUTE-REFRESH for IPv4 unicast, subtype 0
/// (FRR's `clear bgp * soft in` sends the same bytes).
const RR_V4: &str = "ffffffffffffffffffffffffffffffff 0017 05  0001 00 01";
/// The same for IPv6 unicast (FRR's is the same).
const RR_V6: &str = "ffffffffffffffffffffffffffffffff 0017 05  0002 00 01";
/// Enhanced route refresh (RFC 7313) answering a request: BoRR, subtype
/// 1, for IPv4 unicast (sent by both peers, same bytes).
const BORR_V4: &str = "ffffffffffffffffffffffffffffffff 0017 05  0001 01 01";
/// EoRR, subtype 2, for IPv4 unicast (sent by both peers, same bytes).
const EORR_V4: &str = "ffffffffffffffffffffffffffffffff 0017 05  0001 02 01";
/// BoRR for IPv6 unicast (both peers).
const BORR_V6: &str = "ffffffffffffffffffffffffffffffff 0017 05  0002 01 01";
/// EoRR for IPv6 unicast (both peers).
const EORR_V6: &str = "ffffffffffffffffffffffffffffffff 0017 05  0002 02 01";

/// `birdc disable static4`: BIRD withdraws 192.0.2.10/32 (FRR withdraws it
/// too, passing the withdrawal on, with the same bytes).
const WITHDRAW_V4_BIRD_ROUTE: &str =
    "ffffffffffffffffffffffffffffffff 001c 02  0005 20 c000020a  0000";

/// `birdc disable static6`: BIRD withdraws 2001:db8:a::10/128 (FRR passes
/// it on with the same bytes).
///
/// Not byte-identical: MP_UNREACH_NLRI with the Extended Length flag and
/// a two-octet length (20).
const WITHDRAW_V6_BIRD_ROUTE: &str = "ffffffffffffffffffffffffffffffff 002f 02 \
    0000 0018  90 0f 0014 0002 01 80 20010db8000a00000000000000000010";

/// `birdc disable frr "maintenance"`: Cease / Administrative Shutdown
/// with the shutdown communication "maintenance" (RFC 9003).
const BIRD_SHUTDOWN: &str =
    "ffffffffffffffffffffffffffffffff 0021 03  06 02 0b 6d61696e74656e616e6365";

// === FRR 8.4.4 -> BIRD 2.0.12 ===

/// FRR's OPEN: AS 65000, hold time 180, every capability in an optional
/// parameter of its own: multiprotocol IPv4 and IPv6 unicast, the
/// pre-standard route refresh (128), route refresh, enhanced route
/// refresh, 4-octet AS, extended message, ADD-PATH (receive, both
/// families), FQDN (hostname "frrpeer", no domain), graceful restart (R
/// and N flags, restart time 120), long-lived graceful restart (both
/// families, F flag, stale time 0).
///
/// Not byte-identical: we put all capabilities in one parameter, as BIRD
/// does (RFC 5492 allows either).
const FRR_OPEN: &str = "ffffffffffffffffffffffffffffffff 0076 01 \
    04 fde8 00b4 0a4d0002 59 \
    02 06 01 04 0001 00 01 \
    02 06 01 04 0002 00 01 \
    02 02 80 00 \
    02 02 02 00 \
    02 02 46 00 \
    02 06 41 04 0000fde8 \
    02 02 06 00 \
    02 0a 45 08 0001 01 01 0002 01 01 \
    02 0b 49 09 07 66727270656572 00 \
    02 04 40 02 c078 \
    02 10 47 0e 0001 01 80 000000 0002 01 80 000000";

/// FRR passes BIRD's 192.0.2.10/32 back (BIRD drops it: its AS is in the
/// path): AS_PATH 65000 65530, NEXT_HOP 10.77.0.2, the communities kept,
/// MED dropped (it is not passed between neighbouring ASes).
///
/// Not byte-identical: FRR always writes AS_PATH with the Extended Length
/// flag (0x50) and a two-octet length.
const FRR_UPDATE_V4_BIRD_ROUTE: &str = "ffffffffffffffffffffffffffffffff 004b 02 \
    0000 002f  40 01 01 00  50 02 000a 02 02 0000fde8 0000fffa  40 03 04 0a4d0002 \
    c0 08 04 fffa0064  c0 20 0c 0000fffa 00000001 00000002 \
    20 c000020a";

/// FRR passes back 2001:db8:a::10/128 with its own next hops, global
/// 2001:db8:77::2 and link-local fe80::ff:fe00:7702.
///
/// Not byte-identical: Extended Length on MP_REACH_NLRI and AS_PATH.
const FRR_UPDATE_V6_BIRD_ROUTE: &str = "ffffffffffffffffffffffffffffffff 0079 02 \
    0000 0062 \
    90 0e 0036 0002 01 20 20010db8007700000000000000000002 \
    fe80000000000000000000fffe007702 00 \
    80 20010db8000a00000000000000000010 \
    40 01 01 00  50 02 000a 02 02 0000fde8 0000fffa  c0 08 04 fffa0064 \
    c0 20 0c 0000fffa 00000001 00000002";

/// FRR announces its `network 198.51.100.10/32`: ORIGIN IGP, AS_PATH
/// 65000, NEXT_HOP 10.77.0.2, MED 0.
///
/// Not byte-identical: Extended Length on AS_PATH.
const FRR_UPDATE_V4: &str = "ffffffffffffffffffffffffffffffff 0038 02 \
    0000 001c  40 01 01 00  50 02 0006 02 01 0000fde8  40 03 04 0a4d0002 \
    80 04 04 00000000  20 c633640a";

/// FRR announces its `network 2001:db8:b::10/128`.
///
/// Not byte-identical: Extended Length on MP_REACH_NLRI and AS_PATH.
const FRR_UPDATE_V6: &str = "ffffffffffffffffffffffffffffffff 0066 02 \
    0000 004f \
    90 0e 0036 0002 01 20 20010db8007700000000000000000002 \
    fe80000000000000000000fffe007702 00 \
    80 20010db8000b00000000000000000010 \
    40 01 01 00  50 02 0006 02 01 0000fde8  80 04 04 00000000";

/// FRR withdraws 198.51.100.10/32 (`no network`).
const FRR_WITHDRAW_V4: &str = "ffffffffffffffffffffffffffffffff 001c 02  0005 20 c633640a  0000";

/// FRR withdraws 2001:db8:b::10/128.
///
/// Not byte-identical: Extended Length on MP_UNREACH_NLRI.
const FRR_WITHDRAW_V6: &str = "ffffffffffffffffffffffffffffffff 002f 02 \
    0000 0018  90 0f 0014 0002 01 80 20010db8000b00000000000000000010";

/// What BIRD sent, in order.
const BIRD_STREAM: [&str; 17] = [
    BIRD_OPEN,
    KEEPALIVE,
    BIRD_UPDATE_V4,
    EOR_V4,
    BIRD_UPDATE_V6,
    EOR_V6,
    RR_V4, // reload in
    RR_V6,
    BORR_V4, // answering FRR's refresh
    BIRD_UPDATE_V4,
    EORR_V4,
    BORR_V6,
    BIRD_UPDATE_V6,
    EORR_V6,
    WITHDRAW_V4_BIRD_ROUTE,
    WITHDRAW_V6_BIRD_ROUTE,
    BIRD_SHUTDOWN,
];

/// What FRR sent, in order.
const FRR_STREAM: [&str; 24] = [
    FRR_OPEN,
    KEEPALIVE,
    FRR_UPDATE_V4_BIRD_ROUTE,
    FRR_UPDATE_V6_BIRD_ROUTE,
    FRR_UPDATE_V4,
    FRR_UPDATE_V6,
    EOR_V4,
    EOR_V6,
    BORR_V4, // answering BIRD's refresh
    BORR_V6,
    FRR_UPDATE_V4_BIRD_ROUTE,
    FRR_UPDATE_V6_BIRD_ROUTE,
    FRR_UPDATE_V4,
    FRR_UPDATE_V6,
    EORR_V4,
    EORR_V6,
    RR_V4, // clear bgp * soft in
    RR_V6,
    WITHDRAW_V4_BIRD_ROUTE, // passing BIRD's withdrawals on
    WITHDRAW_V6_BIRD_ROUTE,
    FRR_UPDATE_V4, // re-sent after BIRD's routes went
    FRR_UPDATE_V6,
    FRR_WITHDRAW_V4,
    FRR_WITHDRAW_V6,
];

// === helpers ===

/// Decodes `hex` to exactly `msg`, and `msg` encodes to exactly `hex`.
fn exact(hex: &str, msg: &Message) {
    let wire = h(hex);
    assert_eq!(&decode(&wire, AS4).unwrap(), msg, "decoding {hex}");
    assert_eq!(to_bytes(msg, AS4).unwrap(), wire, "encoding of {msg:?}");
}

/// Decodes `hex` to exactly `msg`; our encoding of `msg` differs from the
/// peer's (`shorter` bytes less: one per attribute the peer gave a
/// two-octet length that fits in one, two per optional parameter header
/// we save) and decodes to the same message.
fn semantic(hex: &str, msg: &Message, shorter: usize) {
    let wire = h(hex);
    assert_eq!(&decode(&wire, AS4).unwrap(), msg, "decoding {hex}");
    let ours = to_bytes(msg, AS4).unwrap();
    assert_ne!(ours, wire, "now byte-identical: use exact()");
    assert_eq!(ours.len() + shorter, wire.len(), "our encoding {ours:02x?}");
    assert_eq!(&decode(&ours, AS4).unwrap(), msg, "our encoding decoded");
}

fn update(msg: Message) -> Update {
    match msg {
        Message::Update(u) => u,
        other => panic!("not an UPDATE: {other:?}"),
    }
}

fn open(hex: &str) -> Open {
    match decode(&h(hex), AS4).unwrap() {
        Message::Open(o) => o,
        other => panic!("not an OPEN: {other:?}"),
    }
}

fn unknown(code: u8, value: &[u8]) -> Capability {
    Capability::Unknown {
        code,
        value: value.to_vec(),
    }
}

/// The communities BIRD's export filter adds.
fn bird_communities() -> [Attribute; 2] {
    [
        Attribute::Communities(vec![Community::new(65530, 100)]),
        Attribute::LargeCommunities(vec![LargeCommunity::new(65530, 1, 2)]),
    ]
}

fn mp_reach(next_hop: &str, link_local: &str, prefix: &str) -> Attribute {
    Attribute::MpReach(MpReach {
        family: Family::Ipv6Unicast,
        next_hop: next_hop.parse().unwrap(),
        link_local: Some(link_local.parse().unwrap()),
        nlri: vec![net(prefix)],
    })
}

fn mp_unreach(prefix: &str) -> Attribute {
    Attribute::MpUnreach(MpUnreach {
        family: Family::Ipv6Unicast,
        withdrawn: vec![net(prefix)],
    })
}

fn rr(afi: u16, subtype: u8) -> Message {
    Message::RouteRefresh(RouteRefresh {
        afi,
        subtype,
        safi: 1,
    })
}

// === OPEN ===

#[test]
fn bird_open() {
    let expected = Open {
        my_as: 65530,
        hold_time: 240,
        bgp_id: Ipv4Addr::new(10, 77, 0, 1),
        capabilities: vec![
            Capability::multiprotocol(Family::Ipv4Unicast),
            Capability::multiprotocol(Family::Ipv6Unicast),
            Capability::RouteRefresh,
            unknown(64, &[0x00, 0x78]),
            Capability::FourOctetAs(65530),
            unknown(70, &[]),
            unknown(71, &[]),
        ],
    };
    exact(BIRD_OPEN, &Message::Open(expected.clone()));
    assert_eq!(expected.asn(), 65530);
    let names: Vec<String> = expected
        .capabilities
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(
        names,
        [
            "multiprotocol ipv4-unicast",
            "multiprotocol ipv6-unicast",
            "route-refresh",
            "graceful-restart",
            "4-octet-as 65530",
            "enhanced-route-refresh",
            "long-lived-graceful-restart",
        ]
    );
}

#[test]
fn frr_open() {
    let expected = Open {
        my_as: 65000,
        hold_time: 180,
        bgp_id: Ipv4Addr::new(10, 77, 0, 2),
        capabilities: vec![
            Capability::multiprotocol(Family::Ipv4Unicast),
            Capability::multiprotocol(Family::Ipv6Unicast),
            unknown(128, &[]),
            Capability::RouteRefresh,
            unknown(70, &[]),
            Capability::FourOctetAs(65000),
            unknown(6, &[]),
            // AFI 1 SAFI 1 receive, AFI 2 SAFI 1 receive.
            unknown(69, &[0, 1, 1, 1, 0, 2, 1, 1]),
            // Hostname length 7, "frrpeer", domain length 0.
            unknown(73, b"\x07frrpeer\x00"),
            // Restart State and Notification flags, restart time 120.
            unknown(64, &[0xc0, 0x78]),
            // Per family: AFI, SAFI, flags (F), stale time (3 octets).
            unknown(71, &[0, 1, 1, 0x80, 0, 0, 0, 0, 2, 1, 0x80, 0, 0, 0]),
        ],
    };
    // Eleven parameters of one capability each; ours is one parameter:
    // ten headers of two bytes fewer.
    semantic(FRR_OPEN, &Message::Open(expected.clone()), 20);
    assert_eq!(expected.asn(), 65000);
    let names: Vec<String> = expected.capabilities[2..]
        .iter()
        .filter(|c| matches!(c, Capability::Unknown { .. }))
        .map(|c| c.to_string())
        .collect();
    assert_eq!(
        names,
        [
            "route-refresh (pre-standard)",
            "enhanced-route-refresh",
            "extended-message",
            "add-path",
            "fqdn",
            "graceful-restart",
            "long-lived-graceful-restart",
        ]
    );
}

#[test]
fn both_peers_negotiated_four_octet_as() {
    let four = |o: &Open| {
        o.capabilities
            .iter()
            .any(|c| matches!(c, Capability::FourOctetAs(_)))
    };
    assert!(four(&open(BIRD_OPEN)) && four(&open(FRR_OPEN)));
    // Read with 2-octet AS numbers, the AS_PATH 0000fffa is AS 0 and then
    // a segment of type 0xff: the context is not optional.
    let wire = h(BIRD_UPDATE_V4);
    let two = Context {
        four_octet_as: false,
    };
    assert!(matches!(
        decode(&wire, two),
        Err(DecodeError::MalformedAsPath(_))
    ));
}

// === KEEPALIVE, ROUTE-REFRESH, NOTIFICATION ===

#[test]
fn keepalive() {
    exact(KEEPALIVE, &Message::Keepalive);
}

#[test]
fn route_refresh_and_enhanced_route_refresh() {
    exact(RR_V4, &rr(1, 0));
    exact(RR_V6, &rr(2, 0));
    exact(BORR_V4, &rr(1, 1));
    exact(EORR_V4, &rr(1, 2));
    exact(BORR_V6, &rr(2, 1));
    exact(EORR_V6, &rr(2, 2));
}

#[test]
fn bird_administrative_shutdown_with_message() {
    let n = Notification::admin_shutdown("maintenance");
    exact(BIRD_SHUTDOWN, &Message::Notification(n.clone()));
    assert_eq!((n.code, n.subcode), (6, 2));
    assert_eq!(n.shutdown_message(), Some("maintenance"));
    assert_eq!(
        n.to_string(),
        "Cease / Administrative Shutdown (6, 2): \"maintenance\""
    );
}

// === UPDATE ===

#[test]
fn bird_update_ipv4() {
    let mut attributes = vec![
        Attribute::Origin(Origin::Igp),
        Attribute::AsPath(AsPath::sequence(&[65530])),
        Attribute::NextHop(Ipv4Addr::new(10, 77, 0, 1)),
        Attribute::Med(10),
    ];
    attributes.extend(bird_communities());
    let u = Update {
        withdrawn: vec![],
        attributes,
        nlri: vec![net("192.0.2.10/32")],
    };
    assert!(u.attribute(rampart_bgp::attr_code::LOCAL_PREF).is_none());
    exact(BIRD_UPDATE_V4, &Message::Update(u));
}

#[test]
fn bird_update_ipv6_with_link_local_next_hop() {
    let mut attributes = vec![
        mp_reach("2001:db8:77::1", "fe80::ff:fe00:7701", "2001:db8:a::10/128"),
        Attribute::Origin(Origin::Igp),
        Attribute::AsPath(AsPath::sequence(&[65530])),
        Attribute::Med(10),
    ];
    attributes.extend(bird_communities());
    let u = Update {
        attributes,
        ..Update::default()
    };
    // MP_REACH_NLRI's length in one octet.
    semantic(BIRD_UPDATE_V6, &Message::Update(u), 1);
}

#[test]
fn frr_passes_bird_routes_back() {
    let mut v4 = vec![
        Attribute::Origin(Origin::Igp),
        Attribute::AsPath(AsPath::sequence(&[65000, 65530])),
        Attribute::NextHop(Ipv4Addr::new(10, 77, 0, 2)),
    ];
    v4.extend(bird_communities());
    let v4 = Update {
        withdrawn: vec![],
        attributes: v4,
        nlri: vec![net("192.0.2.10/32")],
    };
    assert!(v4.attribute(rampart_bgp::attr_code::MED).is_none());
    // AS_PATH's length in one octet.
    semantic(FRR_UPDATE_V4_BIRD_ROUTE, &Message::Update(v4), 1);

    let mut v6 = vec![
        mp_reach("2001:db8:77::2", "fe80::ff:fe00:7702", "2001:db8:a::10/128"),
        Attribute::Origin(Origin::Igp),
        Attribute::AsPath(AsPath::sequence(&[65000, 65530])),
    ];
    v6.extend(bird_communities());
    let v6 = Update {
        attributes: v6,
        ..Update::default()
    };
    // MP_REACH_NLRI's and AS_PATH's lengths in one octet.
    semantic(FRR_UPDATE_V6_BIRD_ROUTE, &Message::Update(v6), 2);
}

#[test]
fn frr_update_ipv4() {
    let u = Update {
        withdrawn: vec![],
        attributes: vec![
            Attribute::Origin(Origin::Igp),
            Attribute::AsPath(AsPath::sequence(&[65000])),
            Attribute::NextHop(Ipv4Addr::new(10, 77, 0, 2)),
            Attribute::Med(0),
        ],
        nlri: vec![net("198.51.100.10/32")],
    };
    // AS_PATH's length in one octet.
    semantic(FRR_UPDATE_V4, &Message::Update(u), 1);
}

#[test]
fn frr_update_ipv6_with_link_local_next_hop() {
    let u = Update {
        attributes: vec![
            mp_reach("2001:db8:77::2", "fe80::ff:fe00:7702", "2001:db8:b::10/128"),
            Attribute::Origin(Origin::Igp),
            Attribute::AsPath(AsPath::sequence(&[65000])),
            Attribute::Med(0),
        ],
        ..Update::default()
    };
    // MP_REACH_NLRI's and AS_PATH's lengths in one octet.
    semantic(FRR_UPDATE_V6, &Message::Update(u), 2);
}

#[test]
fn end_of_rib_both_families() {
    exact(
        EOR_V4,
        &Message::Update(Update::end_of_rib(Family::Ipv4Unicast)),
    );
    exact(
        EOR_V6,
        &Message::Update(Update::end_of_rib(Family::Ipv6Unicast)),
    );
    let family = |hex| update(decode(&h(hex), AS4).unwrap()).end_of_rib_family();
    assert_eq!(family(EOR_V4), Some(Family::Ipv4Unicast));
    assert_eq!(family(EOR_V6), Some(Family::Ipv6Unicast));
    for hex in [BIRD_UPDATE_V4, BIRD_UPDATE_V6, WITHDRAW_V4_BIRD_ROUTE] {
        assert_eq!(family(hex), None, "{hex}");
    }
}

#[test]
fn withdrawals() {
    let v4 = |p| Update {
        withdrawn: vec![net(p)],
        ..Update::default()
    };
    exact(
        WITHDRAW_V4_BIRD_ROUTE,
        &Message::Update(v4("192.0.2.10/32")),
    );
    exact(FRR_WITHDRAW_V4, &Message::Update(v4("198.51.100.10/32")));
    let v6 = |p| Update {
        attributes: vec![mp_unreach(p)],
        ..Update::default()
    };
    // MP_UNREACH_NLRI's length in one octet.
    semantic(
        WITHDRAW_V6_BIRD_ROUTE,
        &Message::Update(v6("2001:db8:a::10/128")),
        1,
    );
    semantic(
        FRR_WITHDRAW_V6,
        &Message::Update(v6("2001:db8:b::10/128")),
        1,
    );
}

// === the streams ===

/// `frame` cuts the concatenated stream at each captured message, needs
/// more bytes on every shorter prefix, and every message decodes.
fn check_stream(messages: &[&str]) {
    let wires: Vec<Vec<u8>> = messages.iter().map(|m| h(m)).collect();
    let stream = wires.concat();
    let mut rest = &stream[..];
    for wire in &wires {
        for cut in 0..wire.len() {
            assert_eq!(frame(&rest[..cut]), Ok(None), "prefix of {cut} bytes");
        }
        assert_eq!(frame(rest), Ok(Some(wire.len())));
        let (msg, tail) = rest.split_at(wire.len());
        assert_eq!(msg, &wire[..]);
        decode(msg, AS4).unwrap();
        rest = tail;
    }
    assert!(rest.is_empty());
    assert_eq!(frame(rest), Ok(None));
}

#[test]
fn bird_stream_frames() {
    check_stream(&BIRD_STREAM);
    assert_eq!(
        BIRD_STREAM.iter().map(|m| h(m).len()).sum::<usize>(),
        776,
        "bytes BIRD sent on the connection"
    );
}

#[test]
fn frr_stream_frames() {
    check_stream(&FRR_STREAM);
    assert_eq!(
        FRR_STREAM.iter().map(|m| h(m).len()).sum::<usize>(),
        1343,
        "bytes FRR sent on the connection"
    );
}

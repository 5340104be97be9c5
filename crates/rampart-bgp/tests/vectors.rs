//! Byte vectors built by hand from the RFC layouts, one per message type
//! and attribute, each decoded and re-encoded.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr};

use common::{h, hdr, net};
use rampart_bgp::{
    AS_TRANS, AsPath, Attribute, Capability, Community, Context, Family, LargeCommunity, Message,
    MpReach, MpUnreach, Notification, Open, Origin, RouteRefresh, Update, decode, to_bytes,
};

const AS2: Context = Context {
    four_octet_as: false,
};
const AS4: Context = Context {
    four_octet_as: true,
};

/// Encodes `msg`, compares with `wire`, decodes `wire` back to `msg`.
fn check(msg: &Message, ctx: Context, wire: &[u8]) {
    assert_eq!(to_bytes(msg, ctx).unwrap(), wire, "encoding of {msg:?}");
    assert_eq!(&decode(wire, ctx).unwrap(), msg, "decoding");
}

#[test]
fn keepalive() {
    check(&Message::Keepalive, AS2, &h(&hdr(19, 4)));
}

#[test]
fn route_refresh() {
    let rr = RouteRefresh {
        afi: 2,
        subtype: 0,
        safi: 1,
    };
    let wire = h(&format!("{} 0002 00 01", hdr(23, 5)));
    check(&Message::RouteRefresh(rr), AS2, &wire);
}

#[test]
fn open_with_every_capability() {
    let open = Open {
        my_as: 65001,
        hold_time: 90,
        bgp_id: Ipv4Addr::new(192, 0, 2, 1),
        capabilities: vec![
            Capability::multiprotocol(Family::Ipv4Unicast),
            Capability::multiprotocol(Family::Ipv6Unicast),
            Capability::RouteRefresh,
            Capability::FourOctetAs(65001),
        ],
    };
    let wire = h(&format!(
        "{} 04 fde9 005a c0000201 16 \
         02 14  01 04 0001 00 01  01 04 0002 00 01  02 00  41 04 0000fde9",
        hdr(51, 1)
    ));
    check(&Message::Open(open), AS2, &wire);
}

#[test]
fn open_with_a_four_octet_as_sends_as_trans() {
    // AS 4200000001 = 0xfa56ea01 does not fit My AS (RFC 6793 §4.1).
    let open = Open {
        my_as: AS_TRANS,
        hold_time: 0,
        bgp_id: Ipv4Addr::new(10, 0, 0, 1),
        capabilities: vec![Capability::FourOctetAs(4_200_000_001)],
    };
    let wire = h(&format!(
        "{} 04 5ba0 0000 0a000001 08  02 06 41 04 fa56ea01",
        hdr(37, 1)
    ));
    check(&Message::Open(open.clone()), AS2, &wire);
    assert_eq!(open.asn(), 4_200_000_001);
}

#[test]
fn open_without_parameters_and_unknown_capabilities() {
    let bare = Open {
        my_as: 64512,
        hold_time: 180,
        bgp_id: Ipv4Addr::new(1, 2, 3, 4),
        capabilities: vec![],
    };
    check(
        &Message::Open(bare),
        AS2,
        &h(&format!("{} 04 fc00 00b4 01020304 00", hdr(29, 1))),
    );
    // Graceful restart (64) with restart time 120, kept raw.
    let gr = Capability::Unknown {
        code: 64,
        value: vec![0x00, 0x78],
    };
    let wire = h(&format!(
        "{} 04 fc00 00b4 01020304 06 02 04 40 02 0078",
        hdr(35, 1)
    ));
    let Message::Open(open) = decode(&wire, AS2).unwrap() else {
        panic!("not an OPEN")
    };
    assert_eq!(open.capabilities, vec![gr.clone()]);
    assert_eq!(gr.to_string(), "graceful-restart");
}

#[test]
fn open_with_rfc9072_extended_parameters() {
    // Opt Parm Len 255, type 255, 2-octet length 7, then one capability
    // parameter with a 2-octet length 4 holding route refresh and nothing.
    let wire = h(&format!(
        "{} 04 fc00 00b4 01020304 ff ff 0007  02 0004 02 00 02 00",
        hdr(39, 1)
    ));
    let Message::Open(open) = decode(&wire, AS2).unwrap() else {
        panic!("not an OPEN")
    };
    assert_eq!(
        open.capabilities,
        vec![Capability::RouteRefresh, Capability::RouteRefresh]
    );
}

#[test]
fn notification_with_shutdown_communication() {
    let n = Notification::admin_shutdown("maintenance");
    let wire = h(&format!("{} 06 02 0b {}", hdr(33, 3), hex(b"maintenance")));
    check(&Message::Notification(n.clone()), AS2, &wire);
    assert_eq!(n.shutdown_message(), Some("maintenance"));
    assert_eq!(
        n.to_string(),
        "Cease / Administrative Shutdown (6, 2): \"maintenance\""
    );
}

#[test]
fn notification_hold_timer_expired() {
    let n = Notification::new(4, 0, vec![]);
    check(
        &Message::Notification(n),
        AS2,
        &h(&format!("{} 04 00", hdr(21, 3))),
    );
}

#[test]
fn shutdown_communication_is_cut_to_255_bytes_at_a_character() {
    // 200 two-byte characters: 400 bytes, cut to 254 (127 whole ones).
    let long = "é".repeat(200);
    let n = Notification::admin_shutdown(&long);
    assert_eq!(n.data[0], 254);
    assert_eq!(n.data.len(), 255);
    assert_eq!(n.shutdown_message(), Some("é".repeat(127).as_str()));
    // A length octet that disagrees, or bad UTF-8, is not a message.
    assert_eq!(
        Notification::new(6, 2, vec![5, b'a']).shutdown_message(),
        None
    );
    assert_eq!(
        Notification::new(6, 2, vec![1, 0xff]).shutdown_message(),
        None
    );
    assert!(Notification::admin_shutdown("").data.is_empty());
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// ORIGIN IGP, AS_PATH (65001), NEXT_HOP 10.0.0.1 for 192.0.2.10/32.
fn v4_announce() -> Update {
    Update {
        withdrawn: vec![],
        attributes: vec![
            Attribute::Origin(Origin::Igp),
            Attribute::AsPath(AsPath::sequence(&[65001])),
            Attribute::NextHop(Ipv4Addr::new(10, 0, 0, 1)),
        ],
        nlri: vec![net("192.0.2.10/32")],
    }
}

#[test]
fn update_ipv4_announce_four_octet() {
    let wire = h(&format!(
        "{} 0000 0014  40 01 01 00  40 02 06 02 01 0000fde9  40 03 04 0a000001  20 c000020a",
        hdr(48, 2)
    ));
    check(&Message::Update(v4_announce()), AS4, &wire);
}

#[test]
fn update_ipv4_announce_two_octet() {
    let wire = h(&format!(
        "{} 0000 0012  40 01 01 00  40 02 04 02 01 fde9  40 03 04 0a000001  20 c000020a",
        hdr(46, 2)
    ));
    check(&Message::Update(v4_announce()), AS2, &wire);
}

#[test]
fn update_ipv4_withdraw() {
    let u = Update {
        withdrawn: vec![
            net("192.0.2.10/32"),
            net("198.51.100.0/24"),
            net("0.0.0.0/0"),
        ],
        ..Update::default()
    };
    let wire = h(&format!(
        "{} 000a 20 c000020a 18 c63364 00 0000",
        hdr(33, 2)
    ));
    check(&Message::Update(u), AS2, &wire);
}

#[test]
fn update_med_local_pref_communities_large_communities() {
    let mut u = v4_announce();
    u.attributes.extend([
        Attribute::Med(50),
        Attribute::LocalPref(100),
        Attribute::Communities(vec![Community::new(65001, 100), Community::NO_EXPORT]),
        Attribute::LargeCommunities(vec![LargeCommunity::new(65001, 1, 2)]),
    ]);
    let wire = h(&format!(
        "{} 0000 003c  40 01 01 00  40 02 06 02 01 0000fde9  40 03 04 0a000001 \
         80 04 04 00000032  40 05 04 00000064  c0 08 08 fde90064 ffffff01 \
         c0 20 0c 0000fde9 00000001 00000002  20 c000020a",
        hdr(88, 2)
    ));
    check(&Message::Update(u), AS4, &wire);
    assert_eq!(Community::new(65001, 100).to_string(), "65001:100");
    assert_eq!(LargeCommunity::new(65001, 1, 2).to_string(), "65001:1:2");
}

#[test]
fn update_mp_reach_ipv6() {
    let u = Update {
        attributes: vec![
            Attribute::MpReach(MpReach {
                family: Family::Ipv6Unicast,
                next_hop: "2001:db8::ffff".parse().unwrap(),
                link_local: None,
                nlri: vec![net("2001:db8::1/128"), net("2001:db8:1::/48")],
            }),
            Attribute::Origin(Origin::Igp),
            Attribute::AsPath(AsPath::sequence(&[65001])),
        ],
        ..Update::default()
    };
    let wire = h(&format!(
        "{} 0000 003d  80 0e 2d 0002 01 10 20010db80000000000000000 0000ffff 00 \
         80 20010db8000000000000000000000001  30 20010db80001 \
         40 01 01 00  40 02 06 02 01 0000fde9",
        hdr(84, 2)
    ));
    check(&Message::Update(u), AS4, &wire);
}

#[test]
fn update_mp_reach_ipv6_with_link_local_next_hop() {
    let u = Update {
        attributes: vec![
            Attribute::MpReach(MpReach {
                family: Family::Ipv6Unicast,
                next_hop: "2001:db8::ffff".parse().unwrap(),
                link_local: Some("fe80::1".parse().unwrap()),
                nlri: vec![net("2001:db8::/32")],
            }),
            Attribute::Origin(Origin::Igp),
            Attribute::AsPath(AsPath::default()),
        ],
        ..Update::default()
    };
    let wire = h(&format!(
        "{} 0000 0034  80 0e 2a 0002 01 20 20010db80000000000000000 0000ffff \
         fe800000000000000000000000000001 00  20 20010db8  40 01 01 00  40 02 00",
        hdr(75, 2)
    ));
    check(&Message::Update(u), AS4, &wire);
}

#[test]
fn update_mp_unreach_ipv6() {
    let u = Update {
        attributes: vec![Attribute::MpUnreach(MpUnreach {
            family: Family::Ipv6Unicast,
            withdrawn: vec![net("2001:db8::1/128")],
        })],
        ..Update::default()
    };
    let wire = h(&format!(
        "{} 0000 0017  80 0f 14 0002 01 80 20010db8000000000000000000000001",
        hdr(46, 2)
    ));
    check(&Message::Update(u), AS4, &wire);
}

#[test]
fn end_of_rib_both_families() {
    let v4 = Update::end_of_rib(Family::Ipv4Unicast);
    check(
        &Message::Update(v4.clone()),
        AS4,
        &h(&format!("{} 0000 0000", hdr(23, 2))),
    );
    assert_eq!(v4.end_of_rib_family(), Some(Family::Ipv4Unicast));
    let v6 = Update::end_of_rib(Family::Ipv6Unicast);
    check(
        &Message::Update(v6.clone()),
        AS4,
        &h(&format!("{} 0000 0006 80 0f 03 0002 01", hdr(29, 2))),
    );
    assert_eq!(v6.end_of_rib_family(), Some(Family::Ipv6Unicast));
    assert_eq!(v4_announce().end_of_rib_family(), None);
}

#[test]
fn as4_path_beside_as_trans_for_an_old_speaker() {
    // RFC 6793 §4.2.2: AS 4200000001 to a 2-octet speaker.
    let u = Update {
        attributes: vec![
            Attribute::Origin(Origin::Igp),
            Attribute::AsPath(AsPath::sequence(&[u32::from(AS_TRANS)])),
            Attribute::NextHop(Ipv4Addr::new(10, 0, 0, 1)),
            Attribute::As4Path(AsPath::sequence(&[4_200_000_001])),
        ],
        nlri: vec![net("192.0.2.10/32")],
        ..Update::default()
    };
    let wire = h(&format!(
        "{} 0000 001b  40 01 01 00  40 02 04 02 01 5ba0  40 03 04 0a000001 \
         c0 11 06 02 01 fa56ea01  20 c000020a",
        hdr(55, 2)
    ));
    check(&Message::Update(u), AS2, &wire);
}

#[test]
fn unknown_optional_attribute_and_extended_length_are_kept() {
    // An optional transitive attribute 99, partial, with an extended
    // (2-octet) length of 3; re-encoded with a 1-octet length.
    let wire = h(&format!("{} 0000 0007 f0 63 0003 010203", hdr(30, 2)));
    let Message::Update(u) = decode(&wire, AS4).unwrap() else {
        panic!("not an UPDATE")
    };
    let other = Attribute::Other {
        flags: 0xe0,
        code: 99,
        value: vec![1, 2, 3],
    };
    assert_eq!(u.attributes, vec![other]);
    let again = to_bytes(&Message::Update(u), AS4).unwrap();
    assert_eq!(
        again,
        h(&format!("{} 0000 0006 e0 63 03 010203", hdr(29, 2)))
    );
}

#[test]
fn aggregator_width_follows_the_session() {
    let two = h(&format!("{} 0000 0009 c0 07 06 fde9 0a000001", hdr(32, 2)));
    let four = h(&format!(
        "{} 0000 000b c0 07 08 0000fde9 0a000001",
        hdr(34, 2)
    ));
    let agg = Attribute::Aggregator {
        asn: 65001,
        id: Ipv4Addr::new(10, 0, 0, 1),
    };
    for (wire, ctx) in [(two, AS2), (four, AS4)] {
        let u = Update {
            attributes: vec![agg.clone()],
            ..Update::default()
        };
        check(&Message::Update(u), ctx, &wire);
    }
    let _ = IpAddr::from(Ipv4Addr::LOCALHOST);
}

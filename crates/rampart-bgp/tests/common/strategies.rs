//! proptest strategies for well-formed messages.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::collection::vec;
use proptest::prelude::*;
use rampart_bgp::{
    AsPath, Attribute, Capability, Community, Context, Family, LargeCommunity, Message, MpReach,
    MpUnreach, Notification, Open, Origin, RouteRefresh, Segment, SegmentKind, Update,
};

pub fn v4_prefix() -> impl Strategy<Value = IpNet> {
    (any::<u32>(), 0u8..=32)
        .prop_map(|(a, l)| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(a), l).unwrap().trunc()))
}

pub fn v6_prefix() -> impl Strategy<Value = IpNet> {
    (any::<u128>(), 0u8..=128)
        .prop_map(|(a, l)| IpNet::V6(Ipv6Net::new(Ipv6Addr::from(a), l).unwrap().trunc()))
}

fn capability() -> impl Strategy<Value = Capability> {
    prop_oneof![
        (any::<u16>(), any::<u8>()).prop_map(|(afi, safi)| Capability::Multiprotocol { afi, safi }),
        Just(Capability::RouteRefresh),
        any::<u32>().prop_map(Capability::FourOctetAs),
        (3u8..=60, vec(any::<u8>(), 0..8))
            .prop_map(|(code, value)| Capability::Unknown { code, value }),
    ]
}

fn open() -> impl Strategy<Value = Open> {
    (
        any::<u16>(),
        prop_oneof![Just(0u16), 3u16..],
        1u32..,
        vec(capability(), 0..10),
    )
        .prop_map(|(my_as, hold_time, id, capabilities)| Open {
            my_as,
            hold_time,
            bgp_id: Ipv4Addr::from(id),
            capabilities,
        })
}

fn as_path(four: bool) -> impl Strategy<Value = AsPath> {
    let asn = if four {
        any::<u32>().boxed()
    } else {
        (0u32..=0xffff).boxed()
    };
    let kind = prop_oneof![
        Just(SegmentKind::Set),
        Just(SegmentKind::Sequence),
        Just(SegmentKind::ConfedSequence),
        Just(SegmentKind::ConfedSet),
    ];
    vec(
        (kind, vec(asn, 1..6)).prop_map(|(kind, asns)| Segment { kind, asns }),
        0..4,
    )
    .prop_map(|segments| AsPath { segments })
}

fn host_v4() -> impl Strategy<Value = Ipv4Addr> {
    (1u32..0xe000_0000).prop_map(Ipv4Addr::from)
}

/// A well-formed UPDATE: mandatory attributes present when needed, each
/// attribute at most once, in a plausible order.
fn update(four: bool) -> impl Strategy<Value = Update> {
    (
        vec(v4_prefix(), 0..20),
        vec(v4_prefix(), 0..20),
        (
            prop::option::of(prop_oneof![
                Just(Origin::Igp),
                Just(Origin::Egp),
                Just(Origin::Incomplete)
            ]),
            prop::option::of(as_path(four)),
            prop::option::of(host_v4()),
            prop::option::of(any::<u32>()),
            prop::option::of(any::<u32>()),
        ),
        (
            prop::option::of(vec(any::<u32>().prop_map(Community), 0..5)),
            prop::option::of(vec(
                (any::<u32>(), any::<u32>(), any::<u32>())
                    .prop_map(|(a, b, c)| LargeCommunity::new(a, b, c)),
                0..4,
            )),
            prop::option::of((
                any::<u128>(),
                prop::option::of(any::<u128>()),
                vec(v6_prefix(), 0..10),
            )),
            prop::option::of(vec(v6_prefix(), 0..10)),
            prop::option::of(as_path(true)),
            prop::option::of((100u8..=200, any::<bool>(), vec(any::<u8>(), 0..300))),
        ),
    )
        .prop_map(
            |(
                withdrawn,
                nlri,
                (origin, path, nh, med, lp),
                (cs, lcs, reach, unreach, as4, other),
            )| {
                let mut attributes = Vec::new();
                if let Some((nh, ll, nlri)) = reach {
                    attributes.push(Attribute::MpReach(MpReach {
                        family: Family::Ipv6Unicast,
                        next_hop: IpAddr::V6(Ipv6Addr::from(nh)),
                        link_local: ll.map(Ipv6Addr::from),
                        nlri,
                    }));
                }
                if let Some(w) = unreach {
                    attributes.push(Attribute::MpUnreach(MpUnreach {
                        family: Family::Ipv6Unicast,
                        withdrawn: w,
                    }));
                }
                let needs = !nlri.is_empty()
                    || !attributes.is_empty() && matches!(attributes[0], Attribute::MpReach(_));
                let origin = origin.or(needs.then_some(Origin::Igp));
                let path = path.or(needs.then(AsPath::default));
                let nh = nh.or((!nlri.is_empty()).then_some(Ipv4Addr::new(10, 0, 0, 1)));
                attributes.extend(origin.map(Attribute::Origin));
                attributes.extend(path.map(Attribute::AsPath));
                attributes.extend(nh.map(Attribute::NextHop));
                attributes.extend(med.map(Attribute::Med));
                attributes.extend(lp.map(Attribute::LocalPref));
                attributes.extend(cs.map(Attribute::Communities));
                attributes.extend(as4.map(Attribute::As4Path));
                attributes.extend(lcs.map(Attribute::LargeCommunities));
                if let Some((code, transitive, value)) = other {
                    let flags = 0x80 | if transitive { 0x40 } else { 0 };
                    attributes.push(Attribute::Other { flags, code, value });
                }
                Update {
                    withdrawn,
                    attributes,
                    nlri,
                }
            },
        )
}

pub fn message() -> impl Strategy<Value = (Message, Context)> {
    any::<bool>().prop_flat_map(|four| {
        let ctx = Context {
            four_octet_as: four,
        };
        prop_oneof![
            open().prop_map(Message::Open),
            update(four).prop_map(Message::Update),
            (any::<u8>(), any::<u8>(), vec(any::<u8>(), 0..64))
                .prop_map(|(c, s, d)| Message::Notification(Notification::new(c, s, d))),
            Just(Message::Keepalive),
            (any::<u16>(), any::<u8>(), any::<u8>()).prop_map(|(afi, subtype, safi)| {
                Message::RouteRefresh(RouteRefresh { afi, subtype, safi })
            }),
        ]
        .prop_map(move |m| (m, ctx))
    })
}

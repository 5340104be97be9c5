//! Differential tests against netgauze-bgp-pkt, an independent BGP
//! codec: every kind of message the session sends must be accepted by
//! netgauze, mean the same fields there, and re-encode from netgauze's
//! reading to exactly our bytes.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use common::harness::{Harness, LOCAL_AS, config};
use common::net;
use netgauze_bgp_pkt::BgpMessage;
use netgauze_bgp_pkt::path_attribute::{
    AsPath as NgAsPath, MpReach as NgMpReach, PathAttributeValue,
};
use netgauze_bgp_pkt::wire::deserializer::BgpParsingContext;
use netgauze_parse_utils::WritablePdu;
use netgauze_parse_utils::reader::SliceReader;
use netgauze_parse_utils::traits::ParseFromWithOneInput;
use proptest::prelude::*;
use rampart_bgp::{
    Action, Community, Context, Family, LargeCommunity, Message, Notification, Route, to_bytes,
};

/// netgauze's reading of `wire`; panics if it rejects it.
fn oracle(wire: &[u8], four_octet_as: bool) -> BgpMessage {
    let mut ctx = BgpParsingContext::new(
        four_octet_as,
        HashMap::new(),
        HashMap::new(),
        true,
        true,
        true,
        true,
    );
    let mut cur = SliceReader::new(wire);
    let msg = BgpMessage::parse(&mut cur, &mut ctx)
        .unwrap_or_else(|e| panic!("netgauze rejects {wire:02x?}: {e:?}"));
    assert_eq!(cur.remaining(), 0, "netgauze left bytes over");
    msg
}

/// netgauze parses `wire` and writes back the same bytes.
fn same_bytes(wire: &[u8], four_octet_as: bool) -> BgpMessage {
    let msg = oracle(wire, four_octet_as);
    let mut again = Vec::new();
    msg.write(&mut again).unwrap();
    assert_eq!(again, wire, "netgauze re-encodes {msg:?} differently");
    msg
}

/// Every Transmit of a session with many kinds of routes, through to a
/// graceful shutdown.
fn session_output(four_octet_as: bool, local_as: u32) -> Vec<Vec<u8>> {
    let mut cfg = config();
    cfg.local_as = local_as;
    cfg.families = vec![Family::Ipv4Unicast, Family::Ipv6Unicast];
    cfg.next_hop_v6 = Some("2001:db8::1".parse().unwrap());
    let mut t = Harness::new(cfg);
    t.ctx.four_octet_as = four_octet_as;
    let mut full = Route::new(net("192.0.2.10/32"));
    full.med = Some(7);
    full.prepend = 2;
    full.communities = vec![Community::new(65001, 1), Community::NO_EXPORT];
    full.large_communities = vec![LargeCommunity::new(local_as, 1, 2)];
    let routes = vec![
        full,
        Route::new(net("198.51.100.0/24")),
        Route::new(net("2001:db8:100::1/128")),
        Route::new(net("2001:db8:200::/48")),
    ];
    t.s.set_routes(t.now, routes);
    let mut open = common::harness::peer_open(common::harness::PEER_AS, 90);
    if !four_octet_as {
        open.capabilities
            .retain(|c| !matches!(c, rampart_bgp::Capability::FourOctetAs(_)));
    }
    t.s.start(t.now);
    t.s.connected(
        t.now,
        common::harness::LOCAL_ADDR,
        rampart_bgp::Initiator::Local,
    );
    t.feed(Message::Open(open));
    t.feed(Message::Keepalive);
    t.s.set_routes(t.now, vec![Route::new(net("192.0.2.10/32"))]);
    t.s.shutdown(t.now, "maintenance ☂", Duration::ZERO);
    let mut out = Vec::new();
    while let Some(a) = t.s.poll_action() {
        if let Action::Transmit(b) = a {
            out.push(b);
        }
    }
    out
}

#[test]
fn netgauze_reads_every_message_of_a_session_as_we_wrote_it() {
    for (four, asn) in [
        (true, LOCAL_AS),
        (false, LOCAL_AS),
        (true, 4_200_000_001),
        (false, 4_200_000_001),
    ] {
        let out = session_output(four, asn);
        assert!(out.len() >= 9, "{}", out.len());
        for (i, wire) in out.iter().enumerate() {
            // The OPEN is read before anything is negotiated.
            let msg = same_bytes(wire, four && i > 0);
            if let BgpMessage::Open(open) = &msg {
                assert_eq!(open.my_asn4(), asn);
                assert_eq!(open.hold_time(), 90);
                assert_eq!(open.bgp_id(), Ipv4Addr::new(192, 0, 2, 1));
            }
        }
    }
}

#[test]
fn netgauze_sees_the_same_attributes() {
    let out = session_output(false, 4_200_000_001);
    let updates: Vec<_> = out
        .iter()
        .skip(1)
        .filter_map(|w| match oracle(w, false) {
            BgpMessage::Update(u) => Some(u),
            _ => None,
        })
        .collect();
    // The IPv4 route with every attribute.
    let first = updates
        .iter()
        .find(|u| u.path_attributes().len() == 7)
        .unwrap();
    let mut seen = Vec::new();
    for attr in first.path_attributes() {
        match attr.value() {
            PathAttributeValue::AsPath(NgAsPath::As2PathSegments(segs)) => {
                seen.push(format!("as_path {:?}", segs[0].as_numbers()));
            }
            PathAttributeValue::As4Path(p) => {
                seen.push(format!("as4_path {:?}", p.segments()[0].as_numbers()));
            }
            PathAttributeValue::NextHop(nh) => seen.push(format!("next_hop {}", nh.next_hop())),
            PathAttributeValue::MultiExitDiscriminator(m) => {
                seen.push(format!("med {}", m.metric()))
            }
            PathAttributeValue::Communities(c) => {
                seen.push(format!("communities {}", c.communities().len()))
            }
            PathAttributeValue::LargeCommunities(c) => {
                let l = &c.communities()[0];
                seen.push(format!(
                    "large {}:{}:{}",
                    l.global_admin(),
                    l.local_data1(),
                    l.local_data2()
                ));
            }
            PathAttributeValue::Origin(o) => seen.push(format!("origin {o:?}")),
            other => seen.push(format!("other {other:?}")),
        }
    }
    assert_eq!(
        seen,
        [
            "origin IGP",
            "as_path [23456, 23456, 23456]",
            "next_hop 10.0.0.1",
            "med 7",
            "communities 2",
            "as4_path [4200000001, 4200000001, 4200000001]",
            "large 4200000001:1:2",
        ]
    );
    // End-of-RIB for IPv6 is recognised as such.
    let eor: Vec<_> = updates.iter().filter_map(|u| u.end_of_rib()).collect();
    assert_eq!(eor.len(), 2, "{eor:?}");
    // The IPv6 announcement.
    let v6 = updates
        .iter()
        .flat_map(|u| u.path_attributes())
        .find_map(|a| match a.value() {
            PathAttributeValue::MpReach(NgMpReach::Ipv6Unicast {
                next_hop_global,
                nlri,
                ..
            }) => Some((*next_hop_global, nlri.len())),
            _ => None,
        });
    assert_eq!(v6, Some(("2001:db8::1".parse().unwrap(), 2)));
}

#[test]
fn netgauze_reads_our_shutdown_communication() {
    let n = Notification::admin_shutdown("maintenance ☂");
    let wire = to_bytes(&Message::Notification(n), Context::default()).unwrap();
    let msg = same_bytes(&wire, true);
    // netgauze keeps the communication raw: length octet, then UTF-8.
    let mut expected = vec![15];
    expected.extend("maintenance ☂".as_bytes());
    assert_eq!(
        format!("{msg:?}"),
        format!("Notification(CeaseError(AdministrativeShutdown {{ value: {expected:?} }}))")
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Any UPDATE of the kinds the session sends (v4 or v6, any
    /// attribute values) reads the same in netgauze.
    #[test]
    fn random_routes_read_the_same(
        v4 in proptest::collection::vec(common::strategies::v4_prefix(), 0..30),
        v6 in proptest::collection::vec(common::strategies::v6_prefix(), 0..30),
        med in proptest::option::of(any::<u32>()),
        prepend in 0u8..4,
        comms in proptest::collection::vec(any::<u32>(), 0..4),
        four in any::<bool>(),
    ) {
        let mut cfg = config();
        cfg.families = vec![Family::Ipv4Unicast, Family::Ipv6Unicast];
        cfg.next_hop_v6 = Some("2001:db8::1".parse().unwrap());
        let mut t = Harness::new(cfg);
        t.ctx.four_octet_as = four;
        // netgauze refuses multicast prefixes in a unicast family (so
        // would a router); rampart announces what it is given.
        let unicast = |p: &&ipnet::IpNet| !p.addr().is_multicast();
        let routes = v4.iter().chain(&v6).filter(unicast).map(|p| {
            let mut r = Route::new(*p);
            r.med = med;
            r.prepend = prepend;
            r.communities = comms.iter().map(|&c| Community(c)).collect();
            r
        }).collect();
        t.s.set_routes(t.now, routes);
        let mut open = common::harness::peer_open(common::harness::PEER_AS, 90);
        if !four {
            open.capabilities.retain(|c| !matches!(c, rampart_bgp::Capability::FourOctetAs(_)));
        }
        t.s.start(t.now);
        t.s.connected(t.now, common::harness::LOCAL_ADDR, rampart_bgp::Initiator::Local);
        t.feed(Message::Open(open));
        t.feed(Message::Keepalive);
        t.s.set_routes(t.now, vec![]);
        let mut first = true;
        while let Some(a) = t.s.poll_action() {
            if let Action::Transmit(b) = a {
                same_bytes(&b, four && !first);
                first = false;
            }
        }
    }
}

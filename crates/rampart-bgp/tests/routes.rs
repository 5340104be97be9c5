//! What an Established session tells the peer about routes: the initial
//! announcement, differences only afterwards, route refresh, graceful
//! shutdown, and the attributes on external and internal sessions.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use common::harness::{Did, Harness, LOCAL_AS, PEER_AS, config, notification, peer_open, updates};
use common::net;
use rampart_bgp::{
    AS_TRANS, AsPath, Attribute, Community, Family, LargeCommunity, Message, MpReach, Origin,
    Route, State, Update, attr_code,
};

fn route(p: &str) -> Route {
    Route::new(net(p))
}

fn announced(msgs: &[Message]) -> Vec<ipnet::IpNet> {
    let mut out = Vec::new();
    for u in updates(msgs) {
        out.extend(u.nlri.iter().copied());
        for a in &u.attributes {
            if let Attribute::MpReach(mp) = a {
                out.extend(mp.nlri.iter().copied());
            }
        }
    }
    out
}

fn withdrawn(msgs: &[Message]) -> Vec<ipnet::IpNet> {
    let mut out = Vec::new();
    for u in updates(msgs) {
        out.extend(u.withdrawn.iter().copied());
        for a in &u.attributes {
            if let Attribute::MpUnreach(mp) = a {
                out.extend(mp.withdrawn.iter().copied());
            }
        }
    }
    out
}

fn established_with(routes: Vec<Route>) -> Harness {
    let mut t = Harness::new(config());
    t.s.set_routes(t.now, routes);
    t.establish();
    t
}

#[test]
fn ebgp_attributes_origin_as_path_next_hop() {
    let mut t = Harness::new(config());
    t.s.set_routes(t.now, vec![route("192.0.2.10/32")]);
    let sent = t.establish();
    let u = updates(&sent)[0];
    assert_eq!(
        u.attributes,
        vec![
            Attribute::Origin(Origin::Igp),
            Attribute::AsPath(AsPath::sequence(&[LOCAL_AS])),
            Attribute::NextHop(Ipv4Addr::new(10, 0, 0, 1)),
        ]
    );
}

#[test]
fn optional_attributes_prepend_and_configured_next_hop() {
    let mut r = route("192.0.2.10/32");
    r.med = Some(10);
    r.prepend = 2;
    r.communities = vec![Community::new(65001, 666)];
    r.large_communities = vec![LargeCommunity::new(65001, 0, 1)];
    r.next_hop = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 99)));
    let t = &mut Harness::new(config());
    t.s.set_routes(t.now, vec![r]);
    let sent = t.establish();
    assert_eq!(
        updates(&sent)[0].attributes,
        vec![
            Attribute::Origin(Origin::Igp),
            Attribute::AsPath(AsPath::sequence(&[LOCAL_AS; 3])),
            Attribute::NextHop(Ipv4Addr::new(10, 0, 0, 99)),
            Attribute::Med(10),
            Attribute::Communities(vec![Community::new(65001, 666)]),
            Attribute::LargeCommunities(vec![LargeCommunity::new(65001, 0, 1)]),
        ]
    );
}

#[test]
fn ibgp_has_an_empty_as_path_and_local_pref_100() {
    let mut cfg = config();
    cfg.peer_as = LOCAL_AS;
    let mut t = Harness::new(cfg);
    let mut r = route("192.0.2.10/32");
    r.prepend = 3; // ignored on internal sessions
    t.s.set_routes(
        t.now,
        vec![r, {
            let mut r = route("192.0.2.11/32");
            r.local_pref = Some(200);
            r
        }],
    );
    let sent = t.establish_with(peer_open(LOCAL_AS, 90));
    let ups = updates(&sent);
    assert_eq!(
        ups[0].attribute(attr_code::AS_PATH),
        Some(&Attribute::AsPath(AsPath::default()))
    );
    let prefs: Vec<_> = ups
        .iter()
        .filter_map(|u| u.attribute(attr_code::LOCAL_PREF))
        .collect();
    assert_eq!(
        prefs,
        [&Attribute::LocalPref(100), &Attribute::LocalPref(200)]
    );
}

#[test]
fn four_octet_as_to_an_old_speaker_uses_as_trans_and_as4_path() {
    let mut cfg = config();
    cfg.local_as = 4_200_000_001;
    let mut t = Harness::new(cfg);
    t.ctx.four_octet_as = false;
    t.s.set_routes(t.now, vec![route("192.0.2.10/32")]);
    let mut open = peer_open(PEER_AS, 90);
    open.capabilities
        .retain(|c| !matches!(c, rampart_bgp::Capability::FourOctetAs(_)));
    let sent = t.establish_with(open);
    let Message::Open(ours) = &sent[0] else {
        panic!("OPEN first")
    };
    assert_eq!(ours.my_as, AS_TRANS);
    let u = updates(&sent)[0];
    assert_eq!(
        u.attribute(attr_code::AS_PATH),
        Some(&Attribute::AsPath(AsPath::sequence(&[u32::from(AS_TRANS)])))
    );
    assert_eq!(
        u.attribute(attr_code::AS4_PATH),
        Some(&Attribute::As4Path(AsPath::sequence(&[4_200_000_001])))
    );
}

#[test]
fn four_octet_as_between_new_speakers_needs_no_as4_path() {
    let mut cfg = config();
    cfg.local_as = 4_200_000_001;
    let mut t = Harness::new(cfg);
    t.s.set_routes(t.now, vec![route("192.0.2.10/32")]);
    let sent = t.establish();
    let u = updates(&sent)[0];
    assert_eq!(
        u.attribute(attr_code::AS_PATH),
        Some(&Attribute::AsPath(AsPath::sequence(&[4_200_000_001])))
    );
    assert_eq!(u.attribute(attr_code::AS4_PATH), None);
}

#[test]
fn ipv6_routes_go_in_mp_reach_with_their_own_end_of_rib() {
    let mut cfg = config();
    cfg.families = vec![Family::Ipv4Unicast, Family::Ipv6Unicast];
    cfg.next_hop_v6 = Some("2001:db8::1".parse().unwrap());
    let mut t = Harness::new(cfg);
    t.s.set_routes(
        t.now,
        vec![route("2001:db8:100::1/128"), route("192.0.2.10/32")],
    );
    let sent = t.establish();
    let ups = updates(&sent);
    assert_eq!(ups.len(), 4, "{ups:#?}");
    assert_eq!(ups[0].nlri, vec![net("192.0.2.10/32")]);
    assert_eq!(
        ups[1].attributes[0],
        Attribute::MpReach(MpReach {
            family: Family::Ipv6Unicast,
            next_hop: "2001:db8::1".parse().unwrap(),
            link_local: None,
            nlri: vec![net("2001:db8:100::1/128")],
        })
    );
    assert_eq!(ups[1].attribute(attr_code::NEXT_HOP), None);
    assert_eq!(ups[2], &Update::end_of_rib(Family::Ipv4Unicast));
    assert_eq!(ups[3], &Update::end_of_rib(Family::Ipv6Unicast));
    // Withdrawing it uses MP_UNREACH_NLRI.
    let sent = t.set_routes(vec![route("192.0.2.10/32")]);
    assert_eq!(withdrawn(&sent), vec![net("2001:db8:100::1/128")]);
    assert!(updates(&sent)[0].attribute(attr_code::MP_UNREACH).is_some());
}

#[test]
fn routes_without_a_family_or_next_hop_are_not_sent() {
    // IPv6 not configured; then configured but no IPv6 next hop on an
    // IPv4 session.
    let mut t = established_with(vec![route("2001:db8::1/128"), route("192.0.2.10/32")]);
    assert_eq!(t.s.status().routes_exported, 1);
    assert_eq!(t.s.routes_unexported(), 1);
    let mut cfg = config();
    cfg.families.push(Family::Ipv6Unicast);
    let mut t2 = Harness::new(cfg);
    t2.s.set_routes(t2.now, vec![route("2001:db8::1/128")]);
    let sent = t2.establish();
    assert!(announced(&sent).is_empty());
    assert_eq!(t2.s.routes_unexported(), 1);
    let _ = t.sent();
}

#[test]
fn route_changes_send_only_differences_and_never_reset() {
    let mut t = established_with(vec![route("192.0.2.1/32"), route("192.0.2.2/32")]);
    // Same set: nothing at all.
    assert!(
        t.set_routes(vec![route("192.0.2.2/32"), route("192.0.2.1/32")])
            .is_empty()
    );
    // One gone, one new.
    let sent = t.set_routes(vec![route("192.0.2.1/32"), route("192.0.2.3/32")]);
    assert_eq!(withdrawn(&sent), vec![net("192.0.2.2/32")]);
    assert_eq!(announced(&sent), vec![net("192.0.2.3/32")]);
    assert!(notification(&sent).is_none());
    // An attribute change re-announces that route only, no withdrawal.
    let mut changed = route("192.0.2.3/32");
    changed.med = Some(5);
    let sent = t.set_routes(vec![route("192.0.2.1/32"), changed]);
    assert_eq!(withdrawn(&sent), vec![]);
    assert_eq!(announced(&sent), vec![net("192.0.2.3/32")]);
    assert_eq!(t.s.state(), State::Established);
    assert_eq!(t.s.status().established_count, 1);
    assert_eq!(t.s.status().routes_exported, 2);
}

#[test]
fn routes_with_the_same_attributes_share_an_update_and_fit_4096_bytes() {
    let routes: Vec<Route> = (0..2000u32)
        .map(|i| Route::new(net(&format!("10.{}.{}.0/24", i / 256, i % 256))))
        .collect();
    let mut t = Harness::new(config());
    t.s.set_routes(t.now, routes);
    t.s.start(t.now);
    t.s.connected(
        t.now,
        common::harness::LOCAL_ADDR,
        rampart_bgp::Initiator::Local,
    );
    t.feed(Message::Open(peer_open(PEER_AS, 90)));
    t.feed(Message::Keepalive);
    let mut sizes = Vec::new();
    let mut prefixes = 0;
    while let Some(a) = t.s.poll_action() {
        if let rampart_bgp::Action::Transmit(b) = a {
            sizes.push(b.len());
            if let Ok(Message::Update(u)) = rampart_bgp::decode(&b, t.ctx) {
                prefixes += u.nlri.len();
            }
        }
    }
    assert_eq!(prefixes, 2000);
    assert!(sizes.iter().all(|&s| s <= 4096));
    // OPEN, KEEPALIVE, 2 full UPDATEs, End-of-RIB.
    assert_eq!(sizes.len(), 5, "{sizes:?}");
}

#[test]
fn route_refresh_resends_everything_of_the_family() {
    let mut t = established_with(vec![route("192.0.2.1/32"), route("192.0.2.2/32")]);
    let sent = t.refresh(1);
    assert_eq!(
        announced(&sent),
        vec![net("192.0.2.1/32"), net("192.0.2.2/32")]
    );
    assert_eq!(updates(&sent).len(), 1, "no End-of-RIB after a refresh");
    // A family not negotiated is ignored (RFC 2918 §4).
    assert!(t.refresh(2).is_empty());
    assert_eq!(t.s.status().messages_in.route_refresh, 2);
}

#[test]
fn routes_set_before_established_are_sent_on_establishment() {
    let mut t = Harness::new(config());
    t.s.start(t.now);
    t.s.set_routes(t.now, vec![route("192.0.2.1/32")]);
    let sent = t.establish_continue();
    assert_eq!(announced(&sent), vec![net("192.0.2.1/32")]);
}

trait Continue {
    fn establish_continue(&mut self) -> Vec<Message>;
}

impl Continue for Harness {
    fn establish_continue(&mut self) -> Vec<Message> {
        self.drain();
        self.s.connected(
            self.now,
            common::harness::LOCAL_ADDR,
            rampart_bgp::Initiator::Local,
        );
        self.feed(Message::Open(peer_open(PEER_AS, 90)));
        self.feed(Message::Keepalive);
        self.sent()
    }
}

#[test]
fn graceful_shutdown_withdraws_then_ceases_after_the_linger() {
    let mut t = established_with(vec![route("192.0.2.1/32"), route("192.0.2.2/32")]);
    t.s.shutdown(
        t.now,
        "maintenance: rampart upgrade",
        Duration::from_secs(3),
    );
    let first = t.drain();
    let Did::Send(Message::Update(u)) = &first[0] else {
        panic!("withdrawal first: {first:?}")
    };
    assert_eq!(u.withdrawn, vec![net("192.0.2.1/32"), net("192.0.2.2/32")]);
    assert_eq!(first.len(), 1, "no NOTIFICATION before the linger");
    // Route changes during the linger are not sent.
    assert!(t.set_routes(vec![route("192.0.2.9/32")]).is_empty());
    let log = t.run(Duration::from_secs(5));
    let dids: Vec<&Did> = log.iter().map(|(_, d)| d).collect();
    let Did::Send(Message::Notification(n)) = dids[0] else {
        panic!("{dids:?}")
    };
    assert_eq!(log[0].0, Duration::from_secs(3));
    assert_eq!((n.code, n.subcode), (6, 2));
    assert_eq!(n.shutdown_message(), Some("maintenance: rampart upgrade"));
    assert_eq!(dids[1..], [&Did::Disconnect, &Did::State(State::Idle)]);
    assert_eq!(t.s.poll_timeout(), None, "stopped: no restart");
}

#[test]
fn graceful_shutdown_with_no_linger_sends_both_at_once_in_order() {
    let mut t = established_with(vec![route("192.0.2.1/32")]);
    t.s.shutdown(t.now, "bye", Duration::ZERO);
    let sent = t.sent();
    assert!(matches!(
        sent[..],
        [Message::Update(_), Message::Notification(_)]
    ));
    assert_eq!(withdrawn(&sent), vec![net("192.0.2.1/32")]);
}

#[test]
fn shutdown_before_established_just_ceases() {
    let mut t = Harness::new(config());
    t.s.start(t.now);
    t.s.connected(
        t.now,
        common::harness::LOCAL_ADDR,
        rampart_bgp::Initiator::Local,
    );
    t.drain();
    t.s.shutdown(t.now, "bye", Duration::from_secs(3));
    let n = notification(&t.sent()).cloned().unwrap();
    assert_eq!(n.shutdown_message(), Some("bye"));
    assert_eq!(t.s.state(), State::Idle);
}

#[test]
fn a_new_session_announces_everything_again() {
    let mut t = established_with(vec![route("192.0.2.1/32")]);
    t.s.closed(t.now);
    assert_eq!(t.s.status().routes_exported, 0);
    t.advance(Duration::from_secs(5));
    let sent = t.establish_continue();
    assert_eq!(announced(&sent), vec![net("192.0.2.1/32")]);
    assert_eq!(t.s.status().established_count, 2);
}

#[test]
fn the_session_tells_which_routes_the_peer_has_and_their_next_hop() {
    let mut t = Harness::new(config());
    let v4 = route("192.0.2.10/32");
    let v6 = route("2001:db8::10/128");
    // Before a connection there is no local address to take it from.
    assert_eq!(t.s.next_hop(&v4), None);
    t.s.set_routes(t.now, vec![v4.clone()]);
    t.establish();
    let local = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
    assert_eq!(t.s.exported_next_hop(&v4.prefix), local);
    assert_eq!(t.s.next_hop(&v4), local);
    // Not desired (and not carried): not at the peer, and no next hop of
    // its family on an IPv4 session.
    assert_eq!(t.s.exported_next_hop(&v6.prefix), None);
    assert_eq!(t.s.next_hop(&v6), None);
    // Withdrawn: the peer no longer has it; the next hop it would get stays.
    t.set_routes(Vec::new());
    assert_eq!(t.s.exported_next_hop(&v4.prefix), None);
    assert_eq!(t.s.next_hop(&v4), local);
}

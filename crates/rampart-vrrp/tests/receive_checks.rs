//! The receive checks of RFC 5798 §7.1 (and keepalived's unicast ones):
//! each bad advert is dropped, counted under its reason and logged at most
//! once per period, and never changes the state.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use rampart_vrrp::{
    Action, Addrs, Advert, Auth, ChecksumForm, Drop, Instance, InstanceConfig, State, Version,
    encode,
};

const ME: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
const STRANGER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9));

fn cfg(version: Version, unicast: bool) -> InstanceConfig {
    InstanceConfig {
        name: "VI_1".into(),
        interface: "eth0".into(),
        vrid: 101,
        version,
        priority: 100,
        interval_cs: 100,
        preempt: true,
        preempt_delay: Duration::ZERO,
        start_as_master: false,
        auth: match version {
            Version::V2 => Auth::simple(b"1111").unwrap(),
            Version::V3 => Auth::None,
        },
        vips: Addrs::V4(vec![Ipv4Addr::new(192, 0, 2, 1)]),
        src: ME,
        unicast_peers: if unicast { vec![PEER] } else { vec![] },
        unicast_min_ttl: 64,
        checksum: ChecksumForm::PseudoHeader,
        garp_delay: Duration::ZERO,
        garp_refresh: Duration::ZERO,
    }
}

fn advert(version: Version) -> Advert {
    Advert {
        version,
        vrid: 101,
        priority: 200,
        interval_cs: 100,
        auth: match version {
            Version::V2 => Auth::simple(b"1111").unwrap(),
            Version::V3 => Auth::None,
        },
        addrs: Addrs::V4(vec![Ipv4Addr::new(192, 0, 2, 1)]),
    }
}

fn bytes(adv: &Advert, src: IpAddr, dst: IpAddr) -> Vec<u8> {
    let mut out = Vec::new();
    encode(adv, src, dst, ChecksumForm::PseudoHeader, &mut out).unwrap();
    out
}

/// A backup instance that has just started.
fn backup(c: InstanceConfig) -> (Instance, Instant) {
    let t0 = Instant::now();
    let mut i = Instance::new(c);
    i.start(t0);
    while i.poll_action().is_some() {}
    assert_eq!(i.state(), State::Backup);
    (i, t0)
}

/// Feeds one packet; returns the warnings it produced.
fn feed(
    i: &mut Instance,
    now: Instant,
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    buf: &[u8],
) -> Vec<Drop> {
    let before = i.poll_timeout();
    i.handle_packet(now, src, dst, ttl, buf);
    let mut warns = Vec::new();
    while let Some(a) = i.poll_action() {
        if let Action::Warn { reason, .. } = a {
            warns.push(reason);
        }
    }
    if !warns.is_empty() && warns != [Drop::AddressMismatch] {
        assert_eq!(i.poll_timeout(), before, "a dropped packet moved a timer");
    }
    warns
}

#[test]
fn each_bad_advert_is_dropped_and_counted_under_its_reason() {
    let mcast: IpAddr = rampart_vrrp::MULTICAST_V4;
    let (mut i, t0) = backup(cfg(Version::V2, false));
    let good = advert(Version::V2);

    let mut bad_ttl = bytes(&good, PEER, mcast);
    assert_eq!(feed(&mut i, t0, PEER, mcast, 254, &bad_ttl), [Drop::Ttl]);

    let mut v3 = advert(Version::V3);
    v3.auth = Auth::None;
    let b = bytes(&v3, PEER, mcast);
    assert_eq!(feed(&mut i, t0, PEER, mcast, 255, &b), [Drop::Version]);

    let mut other = good.clone();
    other.vrid = 7;
    let b = bytes(&other, PEER, mcast);
    assert_eq!(feed(&mut i, t0, PEER, mcast, 255, &b), [Drop::Vrid]);

    let mut wrong_pass = good.clone();
    wrong_pass.auth = Auth::simple(b"2222").unwrap();
    let b = bytes(&wrong_pass, PEER, mcast);
    assert_eq!(feed(&mut i, t0, PEER, mcast, 255, &b), [Drop::Auth]);

    let mut slow = good.clone();
    slow.interval_cs = 200;
    let b = bytes(&slow, PEER, mcast);
    assert_eq!(feed(&mut i, t0, PEER, mcast, 255, &b), [Drop::Interval]);

    bad_ttl[7] ^= 1; // corrupt the checksum
    assert_eq!(
        feed(&mut i, t0, PEER, mcast, 255, &bad_ttl),
        [Drop::Malformed]
    );

    let own = bytes(&good, ME, mcast);
    assert_eq!(feed(&mut i, t0, ME, mcast, 255, &own), [Drop::OwnPacket]);

    for d in [
        Drop::Ttl,
        Drop::Version,
        Drop::Vrid,
        Drop::Auth,
        Drop::Interval,
        Drop::Malformed,
        Drop::OwnPacket,
    ] {
        assert_eq!(i.stats().drops(d), 1, "{}", d.as_str());
    }
    assert_eq!(i.stats().adverts_rx, 0);
    assert_eq!(i.state(), State::Backup);
}

#[test]
fn a_different_address_list_is_logged_but_accepted() {
    let mcast = rampart_vrrp::MULTICAST_V4;
    let (mut i, t0) = backup(cfg(Version::V2, false));
    let mut adv = advert(Version::V2);
    adv.addrs = Addrs::V4(vec![Ipv4Addr::new(192, 0, 2, 99)]);
    let b = bytes(&adv, PEER, mcast);
    assert_eq!(
        feed(&mut i, t0, PEER, mcast, 255, &b),
        [Drop::AddressMismatch]
    );
    assert_eq!(i.stats().adverts_rx, 1, "accepted");
    assert_eq!(i.stats().drops(Drop::AddressMismatch), 1);
}

#[test]
fn unicast_accepts_only_peers_and_the_configured_ttl_range() {
    let (mut i, t0) = backup(cfg(Version::V3, true));
    let adv = advert(Version::V3);
    let from_peer = bytes(&adv, PEER, ME);
    assert_eq!(
        feed(&mut i, t0, PEER, ME, 64, &from_peer),
        Vec::<Drop>::new()
    );
    assert_eq!(feed(&mut i, t0, PEER, ME, 63, &from_peer), [Drop::Ttl]);
    let from_stranger = bytes(&adv, STRANGER, ME);
    assert_eq!(
        feed(&mut i, t0, STRANGER, ME, 255, &from_stranger),
        [Drop::NotPeer]
    );
    assert_eq!(i.stats().adverts_rx, 1);
}

#[test]
fn v3_adopts_the_masters_interval_and_reports_its_checksum_form() {
    let mcast = rampart_vrrp::MULTICAST_V4;
    let (mut i, t0) = backup(cfg(Version::V3, false));
    let mut adv = advert(Version::V3);
    adv.interval_cs = 50;
    let mut b = Vec::new();
    encode(&adv, PEER, mcast, ChecksumForm::MessageOnly, &mut b).unwrap();
    assert_eq!(feed(&mut i, t0, PEER, mcast, 255, &b), Vec::<Drop>::new());
    assert_eq!(i.master_interval_cs(), 50);
    assert_eq!(i.stats().peer_checksum, Some(ChecksumForm::MessageOnly));
}

#[test]
fn warnings_are_rate_limited_but_every_drop_is_counted() {
    let mcast = rampart_vrrp::MULTICAST_V4;
    let (mut i, t0) = backup(cfg(Version::V2, false));
    let b = bytes(&advert(Version::V2), PEER, mcast);
    let mut warned = 0;
    for n in 0..100u32 {
        let now = t0 + Duration::from_millis(u64::from(n) * 100);
        warned += feed(&mut i, now, PEER, mcast, 1, &b).len();
    }
    assert_eq!(i.stats().drops(Drop::Ttl), 100);
    assert_eq!(warned, 1, "10 s of drops, one line");
}

/// Every instance's socket sees every advert on its interface. An advert
/// for a VRID that no instance runs is counted once (by the first instance
/// on that interface), one for a VRID another instance runs is left to it,
/// and one on another interface's socket is counted by that one.
#[test]
fn unknown_vrids_on_per_instance_sockets_are_counted_once() {
    use rampart_vrrp::Node;
    let mut second = cfg(Version::V2, true);
    second.name = "VI_2".into();
    second.vrid = 102;
    let mut other_link = cfg(Version::V2, true);
    other_link.name = "VI_3".into();
    other_link.interface = "eth1".into();
    other_link.vrid = 103;
    let mut node = Node::new(vec![cfg(Version::V2, true), second, other_link], vec![]);
    let t0 = Instant::now();
    node.start(t0);
    let no_instance = |node: &Node| -> Vec<u64> {
        node.instances()
            .iter()
            .map(|i| i.stats().drops(Drop::NoInstance))
            .collect()
    };
    let stray = Advert {
        vrid: 77,
        ..advert(Version::V2)
    };
    let known = Advert {
        vrid: 102,
        ..advert(Version::V2)
    };
    // Both eth0 sockets receive each packet, as the kernel hands it to both.
    for (adv, id) in [(&stray, 0), (&stray, 1), (&known, 0)] {
        node.handle_packet_for(t0, id, PEER, ME, 255, &bytes(adv, PEER, ME));
    }
    assert_eq!(no_instance(&node), vec![1, 0, 0]);
    // The stray VRID on eth1: counted by eth1's only instance.
    node.handle_packet_for(t0, 2, PEER, ME, 255, &bytes(&stray, PEER, ME));
    assert_eq!(no_instance(&node), vec![1, 0, 1]);
    // VRID 102 was handled by VI_2's own socket, not counted as unknown.
    node.handle_packet_for(t0, 1, PEER, ME, 255, &bytes(&known, PEER, ME));
    assert_eq!(no_instance(&node), vec![1, 0, 1]);
    assert!(node.instances()[1].stats().adverts_rx >= 1);
}

/// Only a master sends priority 0 when it stops (RFC 5798 §6.4.3); a
/// backup stops in silence, and the driver's log must not claim otherwise.
#[test]
fn a_stopping_backup_sends_nothing() {
    let (mut i, t0) = backup(cfg(Version::V2, true));
    i.stop(t0, Duration::from_secs(1));
    let mut sent = 0;
    while let Some(a) = i.poll_action() {
        if matches!(a, Action::Transmit { .. }) {
            sent += 1;
        }
    }
    assert_eq!(sent, 0);
    assert_eq!(i.state(), State::Stopped);
    assert_eq!(i.stats().priority0_tx, 0);
}

/// A master answers a lower-priority master at once, but a flood of such
/// adverts (spoofed, or a peer gone mad) gets one answer per quarter
/// interval, not one each.
#[test]
fn answers_to_a_lower_master_are_rate_limited() {
    let mut c = cfg(Version::V2, true);
    c.priority = 200;
    c.start_as_master = true;
    let t0 = Instant::now();
    let mut i = Instance::new(c);
    i.start(t0);
    let mut now = t0;
    while i.state() != State::Master {
        now = i.poll_timeout().unwrap();
        i.handle_timeout(now);
    }
    while i.poll_action().is_some() {}
    let lower = Advert {
        priority: 50,
        ..advert(Version::V2)
    };
    let bytes = bytes(&lower, PEER, ME);
    let mut answers = 0;
    // 100 lower adverts within 100 ms (one interval is 1 s here).
    for n in 0..100u64 {
        let at = now + Duration::from_millis(n);
        i.handle_packet(at, PEER, ME, 255, &bytes);
        while let Some(a) = i.poll_action() {
            if matches!(a, Action::Transmit { .. }) {
                answers += 1;
            }
        }
    }
    assert_eq!(answers, 1, "one answer per quarter interval");
    i.handle_packet(now + Duration::from_millis(260), PEER, ME, 255, &bytes);
    let again = std::iter::from_fn(|| i.poll_action())
        .filter(|a| matches!(a, Action::Transmit { .. }))
        .count();
    assert_eq!(again, 1, "answered again after a quarter interval");
}

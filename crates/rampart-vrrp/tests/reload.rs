//! Reload in place on a simulated network with virtual time: an instance
//! reconfigured, added or removed while its peers run. What the peers see
//! is read from the adverts on the wire and from their state changes.
#![allow(clippy::unwrap_used)]

mod sim;

use std::net::Ipv4Addr;
use std::time::Duration;

use rampart_vrrp::{Addrs, State, Version};
use sim::{LATENCY, Net, cfg};

const MS: fn(u64) -> Duration = Duration::from_millis;

/// Router 0 (priority 150) master, router 1 (100) backup, one v3 instance
/// (VRID 7) each at `interval_cs`, settled.
fn pair(interval_cs: u16) -> Net {
    let mut net = Net::new(11);
    net.add(vec![cfg(1, 7, Version::V3, 150, interval_cs)], vec![]);
    net.add(vec![cfg(2, 7, Version::V3, 100, interval_cs)], vec![]);
    net.start(0);
    net.start(1);
    net.run(Duration::from_secs(5));
    assert_eq!(net.masters(0), vec![0]);
    assert_eq!(net.state(1, 0), State::Backup);
    net
}

#[test]
fn a_priority_change_while_master_is_carried_in_the_very_next_advert() {
    let mut net = pair(10);
    let t = net.elapsed();
    let mut lower = cfg(1, 7, Version::V3, 50, 10);
    lower.name = "VI_7".into();
    net.reconfigure(0, 0, lower);
    assert!(
        net.changes_since(0, 0, t).is_empty(),
        "a reconfigure is no event"
    );
    net.run(MS(100));
    let adverts = net.adverts_since(0, 0, t);
    let (at, first) = adverts.first().cloned().unwrap();
    assert_eq!(
        first.priority, 50,
        "the next advert carries the new priority"
    );
    assert!(at - t <= MS(100), "next advert after {:?}", at - t);

    // The preempting backup discards the lower adverts and takes over when
    // its Master_Down_Timer (armed by the last 150 advert) fires.
    net.run(Duration::from_secs(2));
    assert_eq!(net.masters(0), vec![1]);
    let took = net.last_became(1, 0, State::Master).unwrap() - t;
    let master_down = MS(300) + Duration::from_micros(60_937);
    assert!(took <= master_down + LATENCY, "took over after {took:?}");
    // The old master stepped down once the better one spoke; nothing else.
    assert_eq!(
        net.changes_since(0, 0, t)
            .iter()
            .map(|c| c.1)
            .collect::<Vec<_>>(),
        [State::Backup]
    );
    assert_eq!(net.holders(0), vec![1]);

    // Raised again (preempting): takes the mastership back.
    net.reconfigure(0, 0, cfg(1, 7, Version::V3, 150, 10));
    net.run(Duration::from_secs(2));
    assert_eq!(net.masters(0), vec![0]);
}

#[test]
fn an_interval_change_takes_effect_at_the_next_advert_and_the_backup_follows() {
    // Longer: 100 ms -> 500 ms. The advert already due leaves on the old
    // cadence with the new interval; the backup adopts it (RFC 5798
    // §6.4.2, Master_Adver_Interval) before it would have timed out.
    let mut net = pair(10);
    let t = net.elapsed();
    net.reconfigure(0, 0, cfg(1, 7, Version::V3, 150, 50));
    net.run(Duration::from_secs(10));
    let adverts = net.adverts_since(0, 0, t);
    assert!(
        adverts[0].0 - t <= MS(100),
        "first at {:?}",
        adverts[0].0 - t
    );
    assert!(adverts.iter().all(|(_, a)| a.interval_cs == 50));
    for w in adverts.windows(2) {
        assert_eq!(w[1].0 - w[0].0, MS(500), "cadence after the first");
    }
    let b = net.routers[1].node.instance(0).unwrap();
    assert_eq!(b.master_interval_cs(), 50);
    // 3 * 500 ms + (156 * 500 ms) / 256
    assert_eq!(
        b.master_down_interval(),
        MS(1500) + Duration::from_micros(304_687)
    );
    assert!(net.changes_since(1, 0, t).is_empty(), "no takeover");
    assert!(net.changes_since(0, 0, t).is_empty());

    // Shorter: 500 ms -> 100 ms. The backup's Master_Down_Interval shrinks
    // with the first advert that says so: a crash is noticed in 3 * 100 ms
    // + skew, not 1.8 s.
    let t = net.elapsed();
    net.reconfigure(0, 0, cfg(1, 7, Version::V3, 150, 10));
    net.run(Duration::from_secs(2));
    let adverts = net.adverts_since(0, 0, t);
    assert!(adverts[0].0 - t <= MS(500));
    for w in adverts.windows(2) {
        assert_eq!(w[1].0 - w[0].0, MS(100));
    }
    let b = net.routers[1].node.instance(0).unwrap();
    assert_eq!(b.master_interval_cs(), 10);
    assert!(net.changes_since(1, 0, t).is_empty());
    net.crash(0);
    let crashed = net.elapsed();
    net.run(Duration::from_secs(3));
    let took = net.last_became(1, 0, State::Master).unwrap() - crashed;
    assert!(
        took <= MS(300) + Duration::from_micros(60_938),
        "took {took:?}"
    );
}

#[test]
fn a_removed_master_sends_priority_zero_and_the_backup_takes_over_within_skew() {
    let mut net = pair(10);
    let t = net.elapsed();
    net.remove_instance(0, 0, Duration::from_secs(1));
    let adverts = net.adverts_since(0, 0, t);
    assert_eq!(adverts.first().map(|a| (a.0, a.1.priority)), Some((t, 0)));
    net.run(Duration::from_secs(3));
    // Skew_Time of priority 100 at 100 ms: 156 * 100 ms / 256.
    let took = net.last_became(1, 0, State::Master).unwrap() - t;
    assert!(
        took <= Duration::from_micros(60_938) + LATENCY,
        "took {took:?}"
    );
    assert_eq!(net.masters(0), vec![1]);
    assert_eq!(net.holders(0), vec![1], "the removed one let go");
    assert_eq!(net.state(0, 0), State::Stopped);
    assert!(net.routers[0].node.is_retired(0));
    // Its addresses stayed until the new master had spoken, plus the
    // linger for clients to follow its gratuitous ARPs.
    let stopped = net.last_became(0, 0, State::Stopped).unwrap() - t;
    assert!(stopped >= rampart_vrrp::RELEASE_LINGER && stopped < MS(1200));

    // An instance added later takes the free slot and starts as configured.
    let id = net.add_instance(0, cfg(1, 9, Version::V3, 200, 10));
    assert_eq!(id, 0, "the stopped slot is reused");
    assert!(!net.routers[0].node.is_retired(0));
    net.run(Duration::from_secs(2));
    assert_eq!(net.state(0, 0), State::Master, "alone on VRID 9");
    assert_eq!(net.masters(0), vec![0, 1], "VRID 9 on 0, VRID 7 on 1");
}

#[test]
fn unchanged_instances_see_no_event_when_others_are_added_removed_or_changed() {
    let mut net = Net::new(5);
    let a = |n, vrid, p| cfg(n, vrid, Version::V3, p, 10);
    net.add(vec![a(1, 1, 150), a(1, 2, 150)], vec![]);
    net.add(vec![a(2, 1, 100), a(2, 2, 100)], vec![]);
    net.start(0);
    net.start(1);
    net.run(Duration::from_secs(3));
    let t = net.elapsed();

    // Router 0: instance 0 given its own config again (what an unchanged
    // instance amounts to), instance 1 changed, a third added, then
    // instance 1 removed.
    net.reconfigure(0, 0, a(1, 1, 150));
    net.reconfigure(0, 1, a(1, 2, 140));
    let added = net.add_instance(0, a(1, 3, 120));
    assert_eq!(added, 2);
    net.run(MS(1000));
    net.remove_instance(0, 1, Duration::from_secs(1));
    net.run(Duration::from_secs(3));

    for r in 0..2 {
        assert!(net.changes_since(r, 0, t).is_empty(), "router {r} VRID 1");
    }
    let adverts = net.adverts_since(0, 0, t);
    assert!(adverts.len() >= 39);
    for w in adverts.windows(2) {
        assert_eq!(w[1].0 - w[0].0, MS(100), "VRID 1's cadence");
    }
    assert!(adverts.iter().all(|(_, a)| a.priority == 150));
    assert_eq!(net.masters(0), vec![0]);
    assert_eq!(net.masters(1), vec![1], "VRID 2 moved to router 1");
    assert_eq!(net.state(0, 2), State::Master, "the added VRID 3");
    assert!(net.routers[0].holds[2]);
}

#[test]
fn addresses_change_in_place_without_a_transition() {
    let mut net = pair(10);
    let t = net.elapsed();
    let mut more = cfg(1, 7, Version::V3, 150, 10);
    more.vips = Addrs::V4(vec![
        Ipv4Addr::new(192, 0, 2, 7),
        Ipv4Addr::new(192, 0, 2, 77),
    ]);
    net.reconfigure(0, 0, more.clone());
    // The backup may be told the same (a reload on both nodes): it then
    // hears adverts that match its list again.
    let mut backup = cfg(2, 7, Version::V3, 100, 10);
    backup.vips = more.vips.clone();
    net.reconfigure(1, 0, backup);
    net.run(Duration::from_secs(1));
    let adverts = net.adverts_since(0, 0, t);
    assert_eq!(adverts[0].1.addrs, more.vips, "the next advert lists them");
    assert!(net.changes_since(0, 0, t).is_empty());
    assert!(net.changes_since(1, 0, t).is_empty());
    assert_eq!(net.holders(0), vec![0]);
    let drops = net.routers[1].node.instance(0).unwrap().stats();
    assert_eq!(drops.drops(rampart_vrrp::Drop::AddressMismatch), 0);
}

#[test]
fn sync_groups_keep_their_state_when_reloaded_unchanged() {
    let mut net = Net::new(3);
    let a = |n, vrid, p| cfg(n, vrid, Version::V3, p, 10);
    net.add(vec![a(1, 1, 150), a(1, 2, 150)], vec![vec![0, 1]]);
    net.add(vec![a(2, 1, 100), a(2, 2, 100)], vec![vec![0, 1]]);
    net.start(0);
    net.start(1);
    net.run(Duration::from_secs(3));
    assert_eq!(net.routers[0].node.group_state(0), Some(State::Master));
    let groups_before = net.routers[0].group_history.len();
    let t = net.elapsed();
    // Same members, listed the other way round: the same group.
    net.set_groups(0, vec![vec![1, 0]]);
    // A third instance added outside the group, then the group dissolved:
    // its members stay as they are.
    net.add_instance(0, a(1, 3, 150));
    net.run(MS(500));
    assert_eq!(net.routers[0].group_history.len(), groups_before);
    net.set_groups(0, vec![]);
    net.run(Duration::from_secs(2));
    assert_eq!(net.routers[0].node.group_state(0), None);
    for i in 0..2 {
        assert!(net.changes_since(0, i, t).is_empty(), "instance {i}");
        assert!(net.changes_since(1, i, t).is_empty(), "peer instance {i}");
    }
}

#[test]
fn an_instance_added_to_a_master_group_joins_it_without_moving_the_others() {
    let mut net = Net::new(4);
    let a = |n, vrid, p| cfg(n, vrid, Version::V3, p, 10);
    net.add(vec![a(1, 1, 150), a(1, 2, 150)], vec![vec![0, 1]]);
    net.add(
        vec![a(2, 1, 100), a(2, 2, 100), a(2, 3, 100)],
        vec![vec![0, 1, 2]],
    );
    net.start(0);
    net.start(1);
    net.run(Duration::from_secs(3));
    assert_eq!(net.routers[0].node.group_state(0), Some(State::Master));
    let t = net.elapsed();
    let groups_before = net.routers[0].group_history.len();
    // Router 0 gets VRID 3 too, in its group (the peer has it already).
    let id = net.add_grouped(0, a(1, 3, 150), vec![vec![0, 1, 2]]);
    net.run(Duration::from_secs(2));
    assert_eq!(net.state(0, id), State::Master);
    for i in 0..2 {
        assert!(net.changes_since(0, i, t).is_empty(), "instance {i}");
        assert!(net.changes_since(1, i, t).is_empty(), "peer instance {i}");
    }
    assert_eq!(net.routers[0].group_history.len(), groups_before);
    assert_eq!(
        net.masters(2),
        vec![0],
        "the peer's VRID 3 went back to backup"
    );
}

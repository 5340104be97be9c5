//! `rampart upgrade` on a simulated network: a node's program is replaced
//! in place (the exec takes a few milliseconds, during which it sends
//! nothing) and the new one resumes every instance's state. Neither node
//! may see a state change, the master's adverts go on, its addresses stay.
#![allow(clippy::unwrap_used)]

mod sim;

use std::time::Duration;

use rampart_vrrp::{State, Version};
use sim::{Net, cfg};

const MS: fn(u64) -> Duration = Duration::from_millis;

/// Router 0 (priority 150) and router 1 (100), instances VRID 7 and 8 in
/// one sync group on each, at 100 ms adverts, settled.
fn pair() -> Net {
    let mut net = Net::new(5);
    let group = vec![vec![0, 1]];
    net.add(
        vec![
            cfg(1, 7, Version::V3, 150, 10),
            cfg(1, 8, Version::V3, 150, 10),
        ],
        group.clone(),
    );
    net.add(
        vec![
            cfg(2, 7, Version::V3, 100, 10),
            cfg(2, 8, Version::V3, 100, 10),
        ],
        group,
    );
    net.start(0);
    net.start(1);
    net.run(Duration::from_secs(5));
    assert_eq!(net.masters(0), vec![0]);
    assert_eq!(net.masters(1), vec![0]);
    net
}

#[test]
fn the_master_upgrades_without_a_transition_anywhere() {
    let mut net = pair();
    let t = net.elapsed();
    // 30 ms of silence: less than Master_Down_Interval (~360 ms).
    net.upgrade(0, vec![vec![0, 1]], MS(30));
    net.run(Duration::from_secs(10));
    for r in [0, 1] {
        for i in [0, 1] {
            assert!(
                net.changes_since(r, i, t).is_empty(),
                "router {r} instance {i}: {:?}",
                net.changes_since(r, i, t)
            );
        }
        assert!(
            net.routers[r]
                .group_history
                .iter()
                .all(|(at, _, _)| *at < t),
            "group changes on router {r}: {:?}",
            net.routers[r].group_history
        );
    }
    for i in [0, 1] {
        assert_eq!(net.holders(i), vec![0]);
        // The resumed master advertises at once, then every 100 ms.
        let adverts = net.adverts_since(0, i, t);
        assert!(adverts.len() >= 99, "{} adverts", adverts.len());
        assert!(
            adverts[0].0 - t <= MS(31),
            "first after {:?}",
            adverts[0].0 - t
        );
        assert!(adverts.iter().all(|(_, a)| a.priority == 150));
    }
    // No gratuitous ARP: nobody's cache needs it.
    assert!(net.routers[0].garps.iter().all(|(at, _)| *at < t));
}

#[test]
fn the_backup_upgrades_without_a_transition_anywhere() {
    let mut net = pair();
    let t = net.elapsed();
    net.upgrade(1, vec![vec![0, 1]], MS(30));
    net.run(Duration::from_secs(10));
    for r in [0, 1] {
        for i in [0, 1] {
            assert!(net.changes_since(r, i, t).is_empty());
        }
    }
    assert_eq!(net.state(1, 0), State::Backup);
    assert!(net.adverts_since(1, 0, t).is_empty());
    // And it still takes over when the master goes.
    net.crash(0);
    net.run(Duration::from_secs(2));
    assert_eq!(net.masters(0), vec![1]);
}

/// An exec that took longer than Master_Down_Interval: the backup took
/// over meanwhile; the resumed master hears a lower-priority master and
/// preempts it back, as a master would. (The upgrade is not free then, but
/// the network is never left without a master.)
#[test]
fn a_gap_longer_than_master_down_ends_in_one_election() {
    let mut net = pair();
    let t = net.elapsed();
    net.upgrade(0, vec![vec![0, 1]], MS(600));
    net.run(Duration::from_secs(5));
    assert_eq!(net.masters(0), vec![0]);
    assert_eq!(net.masters(1), vec![0]);
    assert_eq!(net.holders(0), vec![0]);
    // The backup went master once during the gap and back once.
    let states: Vec<State> = net.changes_since(1, 0, t).iter().map(|c| c.1).collect();
    assert_eq!(states, [State::Master, State::Backup]);
}

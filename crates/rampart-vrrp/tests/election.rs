//! The RFC 5798 behaviours, checked on a simulated network with virtual
//! time: elections, preemption, hand-off, timers, partitions, trackers,
//! sync groups and loss.
#![allow(clippy::unwrap_used)]

mod sim;

use std::time::Duration;

use rampart_vrrp::{Priority, State, Version};
use sim::{LATENCY, Net, cfg};

const MS: fn(u64) -> Duration = Duration::from_millis;

/// Three routers, one instance each; returns the net (not started).
fn three(version: Version, interval_cs: u16, prios: [u8; 3]) -> Net {
    let mut net = Net::new(1);
    for (n, p) in prios.into_iter().enumerate() {
        net.add(vec![cfg(n as u8 + 1, 7, version, p, interval_cs)], vec![]);
    }
    net
}

#[test]
fn highest_priority_is_elected_alone() {
    for version in [Version::V2, Version::V3] {
        let interval = if version == Version::V2 { 100 } else { 10 };
        let mut net = three(version, interval, [100, 120, 110]);
        (0..3).for_each(|r| net.start(r));
        net.run(Duration::from_secs(10));
        assert_eq!(net.masters(0), vec![1], "{version:?}");
        assert_eq!(net.holders(0), vec![1]);
        assert_eq!(net.times_master(1, 0), 1);
        assert_eq!(
            net.times_master(0, 0) + net.times_master(2, 0),
            0,
            "no one else tried"
        );
    }
}

#[test]
fn master_down_interval_matches_the_formula() {
    // v2, priority 100: 3 * 1 s + (256 - 100) / 256 s.
    let mut net = three(Version::V2, 100, [100, 200, 1]);
    (0..3).for_each(|r| net.start(r));
    net.run(Duration::from_secs(10));
    assert_eq!(net.masters(0), vec![1]);
    let i = net.routers[0].node.instance(0).unwrap();
    assert_eq!(
        i.master_down_interval(),
        MS(3000) + Duration::from_micros(609_375)
    );
    assert_eq!(i.skew(), Duration::from_micros(609_375));

    // Crash the master right after an advert: router 0 takes over exactly
    // Master_Down_Interval after the last advert it received.
    net.crash(1);
    let crashed = net.elapsed();
    net.run(Duration::from_secs(10));
    assert_eq!(net.masters(0), vec![0]);
    let took = net.last_became(0, 0, State::Master).unwrap() - crashed;
    assert!(
        took <= MS(3610) && took > MS(2609),
        "v2 takeover after {took:?}"
    );

    // v3 learns the master's interval: master at 50 cs, backup at 100 cs.
    let mut net = Net::new(2);
    net.add(vec![cfg(1, 7, Version::V3, 100, 100)], vec![]);
    net.add(vec![cfg(2, 7, Version::V3, 200, 50)], vec![]);
    net.start(1);
    net.run(Duration::from_secs(2));
    net.start(0);
    net.run(Duration::from_secs(5));
    let i = net.routers[0].node.instance(0).unwrap();
    assert_eq!(i.master_interval_cs(), 50, "adopted the master's interval");
    // 3 * 500 ms + (156 * 50 cs) / 256 = 1500 ms + 304.6875 ms
    assert_eq!(
        i.master_down_interval(),
        MS(1500) + Duration::from_micros(304_687)
    );
}

#[test]
fn a_higher_priority_router_preempts() {
    let mut net = three(Version::V3, 10, [100, 110, 120]);
    net.start(0);
    net.start(1);
    net.run(Duration::from_secs(3));
    assert_eq!(net.masters(0), vec![1]);
    net.start(2);
    let joined = net.elapsed();
    net.run(Duration::from_secs(3));
    assert_eq!(net.masters(0), vec![2]);
    assert_eq!(net.holders(0), vec![2]);
    let took = net.last_became(2, 0, State::Master).unwrap() - joined;
    // It stays backup for its own Master_Down_Interval (ignoring the
    // lower master), then takes over: 3 * 100 ms + 136/256 * 100 ms.
    assert!(
        took >= MS(353) && took <= MS(355),
        "preempted after {took:?}"
    );
    let left = net.last_became(1, 0, State::Backup).unwrap() - joined;
    assert!(
        left <= took + LATENCY * 2,
        "old master stepped down on the first advert"
    );
}

#[test]
fn nopreempt_keeps_the_current_master() {
    let mut net = Net::new(3);
    net.add(vec![cfg(1, 7, Version::V3, 100, 10)], vec![]);
    let mut c = cfg(2, 7, Version::V3, 200, 10);
    c.preempt = false;
    net.add(vec![c], vec![]);
    net.start(0);
    net.run(Duration::from_secs(2));
    net.start(1);
    net.run(Duration::from_secs(30));
    assert_eq!(net.masters(0), vec![0], "nopreempt must not take over");
    // It still takes over when the master goes away.
    net.crash(0);
    net.run(Duration::from_secs(1));
    assert_eq!(net.masters(0), vec![1]);
}

#[test]
fn preempt_delay_is_honoured() {
    let mut net = Net::new(4);
    net.add(vec![cfg(1, 7, Version::V3, 100, 10)], vec![]);
    let mut c = cfg(2, 7, Version::V3, 200, 10);
    c.preempt_delay = Duration::from_secs(5);
    net.add(vec![c], vec![]);
    net.start(0);
    net.run(Duration::from_secs(2));
    net.start(1);
    let joined = net.elapsed();
    net.run(Duration::from_secs(4));
    assert_eq!(net.masters(0), vec![0], "still within preempt_delay");
    net.run(Duration::from_secs(3));
    assert_eq!(net.masters(0), vec![1]);
    let took = net.last_became(1, 0, State::Master).unwrap() - joined;
    assert!(
        took >= Duration::from_secs(5) && took < MS(5500),
        "preempted after {took:?}"
    );
}

#[test]
fn priority_zero_hands_off_within_skew_time() {
    for version in [Version::V2, Version::V3] {
        let interval = if version == Version::V2 { 100 } else { 10 };
        let mut net = three(version, interval, [100, 200, 50]);
        (0..3).for_each(|r| net.start(r));
        net.run(Duration::from_secs(5));
        assert_eq!(net.masters(0), vec![1]);
        net.stop(1, Duration::from_secs(4));
        let stopped = net.elapsed();
        net.run(Duration::from_secs(5));
        assert_eq!(
            net.masters(0),
            vec![0],
            "{version:?}: the next priority took over"
        );
        let took = net.last_became(0, 0, State::Master).unwrap() - stopped;
        let skew = net.routers[0].node.instance(0).unwrap().skew();
        assert!(
            took <= skew + LATENCY * 2,
            "{version:?}: {took:?} > skew {skew:?}"
        );
        // The stopping master kept its addresses until the new one spoke,
        // and a little longer for the clients to follow its GARPs.
        let released = net.last_became(1, 0, State::Stopped).unwrap() - stopped;
        let linger = rampart_vrrp::RELEASE_LINGER;
        assert!(
            released >= took + linger && released <= took + linger + LATENCY * 2,
            "{released:?}"
        );
        assert_eq!(net.state(1, 0), State::Stopped);
        assert_eq!(net.holders(0), vec![0]);
    }
}

#[test]
fn graceful_stop_without_a_peer_releases_at_the_bound() {
    let mut net = Net::new(5);
    net.add(vec![cfg(1, 7, Version::V3, 100, 10)], vec![]);
    net.start(0);
    net.run(Duration::from_secs(2));
    net.stop(0, MS(400));
    net.run(MS(399));
    assert_eq!(net.holders(0), vec![0], "held until the bound");
    net.run(MS(2));
    assert!(net.holders(0).is_empty());
    assert!(net.routers[0].node.stopped());
}

#[test]
fn a_healed_partition_leaves_exactly_one_master() {
    let mut net = three(Version::V3, 10, [100, 150, 120]);
    (0..3).for_each(|r| net.start(r));
    net.run(Duration::from_secs(3));
    assert_eq!(net.masters(0), vec![1]);
    // Isolate router 1: the other two elect 2 among themselves.
    net.partition(1, 0, true);
    net.partition(1, 2, true);
    net.run(Duration::from_secs(3));
    assert_eq!(net.masters(0), vec![1, 2], "split brain while partitioned");
    net.partition(1, 0, false);
    net.partition(1, 2, false);
    let healed = net.elapsed();
    net.run(Duration::from_secs(3));
    assert_eq!(net.masters(0), vec![1]);
    assert_eq!(net.holders(0), vec![1]);
    let settled = net.last_became(2, 0, State::Backup).unwrap() - healed;
    assert!(
        settled <= MS(110),
        "one advert interval to settle, took {settled:?}"
    );
    // Router 1 heard the lower master and took the clients back at once
    // with a GARP burst (they may have followed router 2's); only one, not
    // one per advert it heard.
    let after: Vec<_> = net.routers[1]
        .garps
        .iter()
        .filter(|(t, _)| *t >= healed)
        .collect();
    assert_eq!(after.len(), 1, "GARP bursts after the heal: {after:?}");
    assert!(after[0].0 - healed <= MS(110), "{after:?}");
}

#[test]
fn a_lower_master_that_persists_gets_a_garp_burst_per_second_at_most() {
    // Router 1 cannot hear router 0 (one-way loss), so it stays master at
    // its lower priority and keeps advertising; router 0 answers each
    // advert but re-announces its addresses only once per second.
    let mut net = three(Version::V3, 10, [150, 100, 1]);
    (0..2).for_each(|r| net.start(r));
    net.run(Duration::from_secs(2));
    assert_eq!(net.masters(0), vec![0]);
    net.cut_one_way(0, 1, true);
    let cut = net.elapsed();
    net.run(Duration::from_secs(3));
    let bursts = net.routers[0]
        .garps
        .iter()
        .filter(|(t, _)| *t >= cut)
        .count();
    assert!((2..=4).contains(&bursts), "{bursts} bursts in 3 s");
}

#[test]
fn equal_priorities_break_the_tie_on_the_address() {
    let mut net = three(Version::V3, 10, [100, 100, 100]);
    (0..3).for_each(|r| net.start(r));
    net.run(Duration::from_secs(3));
    assert_eq!(net.masters(0), vec![2], "10.0.0.3 is the highest address");
}

#[test]
fn tracker_failure_moves_mastership() {
    // Weight 0 failure: Fault, priority 0 sent, backup takes over in skew.
    let mut net = three(Version::V3, 10, [100, 200, 50]);
    (0..3).for_each(|r| net.start(r));
    net.run(Duration::from_secs(2));
    net.set_priority(1, 0, Priority::Fault);
    let failed = net.elapsed();
    assert!(net.holders(0).is_empty(), "addresses dropped at once");
    net.run(Duration::from_secs(2));
    assert_eq!(net.state(1, 0), State::Fault);
    assert_eq!(net.masters(0), vec![0]);
    let took = net.last_became(0, 0, State::Master).unwrap() - failed;
    assert!(took <= MS(65), "{took:?}");
    // Recovery: back to Backup, then it preempts (priority 200).
    net.set_priority(1, 0, Priority::Value(200));
    net.run(Duration::from_secs(2));
    assert_eq!(net.masters(0), vec![1]);

    // A negative weight lowers the priority below the peer's: preempted.
    net.set_priority(1, 0, Priority::Value(80));
    net.run(Duration::from_secs(2));
    assert_eq!(net.masters(0), vec![0]);
}

/// Two routers, each with VI_1 and VI_2 in one sync group.
fn grouped_pair() -> Net {
    let mut net = Net::new(6);
    for (n, p) in [(1, 200), (2, 100)] {
        let a = cfg(n, 1, Version::V3, p, 10);
        let b = cfg(n, 2, Version::V3, p, 10);
        net.add(vec![a, b], vec![vec![0, 1]]);
    }
    net.start(0);
    net.start(1);
    net.run(Duration::from_secs(2));
    net
}

#[test]
fn a_sync_group_moves_together() {
    let mut net = grouped_pair();
    assert_eq!((net.masters(0), net.masters(1)), (vec![0], vec![0]));
    assert_eq!(net.routers[0].node.group_state(0), Some(State::Master));
    // Only VI_2's tracker fails on router 0: both instances move.
    net.set_priority(0, 1, Priority::Fault);
    net.run(Duration::from_secs(2));
    assert_eq!((net.masters(0), net.masters(1)), (vec![1], vec![1]));
    assert_eq!((net.holders(0), net.holders(1)), (vec![1], vec![1]));
    assert_eq!(
        net.state(0, 0),
        State::Fault,
        "VI_1 follows its group into Fault"
    );
    assert_eq!(net.routers[0].node.group_state(0), Some(State::Fault));
    // Recovery brings both back, together.
    net.set_priority(0, 1, Priority::Value(200));
    net.run(Duration::from_secs(2));
    assert_eq!((net.masters(0), net.masters(1)), (vec![0], vec![0]));
    // At no moment was one instance master on one router and the other
    // on the other router (both change within one event).
    for r in 0..2 {
        let h = &net.routers[r].group_history;
        assert!(
            h.iter()
                .all(|(_, _, s)| *s != State::Initialize || h.len() > 1)
        );
    }
}

#[test]
fn a_sync_group_goes_master_together_or_not_at_all() {
    let mut net = grouped_pair();
    // Router 1's VI_1 alone outranks router 0's: it wants to preempt, but
    // its VI_2 still hears a better master, so router 1's group stays
    // backup and nothing moves.
    net.set_priority(1, 0, Priority::Value(250));
    net.run(Duration::from_secs(5));
    assert_eq!((net.masters(0), net.masters(1)), (vec![0], vec![0]));
    assert_eq!((net.holders(0), net.holders(1)), (vec![0], vec![0]));
    // Once VI_2 outranks too, both move, within one Master_Down_Interval
    // of each other.
    net.set_priority(1, 1, Priority::Value(250));
    let changed = net.elapsed();
    net.run(Duration::from_secs(3));
    assert_eq!((net.masters(0), net.masters(1)), (vec![1], vec![1]));
    let vi1 = net.last_became(1, 0, State::Master).unwrap() - changed;
    let vi2 = net.last_became(1, 1, State::Master).unwrap() - changed;
    assert_eq!(vi1, vi2, "both members became master in the same event");
    assert!(vi2 <= MS(400), "group moved after {vi2:?}");
}

#[test]
fn unicast_adverts_go_only_to_peers() {
    let mut net = Net::new(7);
    let mut a = cfg(1, 7, Version::V2, 101, 100);
    a.unicast_peers = vec![sim::ip(2)];
    let mut b = cfg(2, 7, Version::V2, 100, 100);
    b.unicast_peers = vec![sim::ip(1)];
    // A third router that is not a peer of either: its adverts are dropped.
    let mut c = cfg(3, 7, Version::V2, 250, 100);
    c.unicast_peers = vec![sim::ip(1), sim::ip(2)];
    net.add(vec![a], vec![]);
    net.add(vec![b], vec![]);
    net.add(vec![c], vec![]);
    (0..3).for_each(|r| net.start(r));
    net.run(Duration::from_secs(10));
    assert_eq!(net.masters(0), vec![0, 2], "router 0 ignores the stranger");
    assert!(
        net.routers[0]
            .node
            .instance(0)
            .unwrap()
            .stats()
            .drops(rampart_vrrp::Drop::NotPeer)
            > 0
    );
    assert_eq!(net.state(1, 0), State::Backup);
}

/// Counts mastership changes of a two-router pair at 100 ms adverts with
/// `loss_ppm` loss over `hours` of virtual time.
fn flaps(seed: u64, loss_ppm: u32, hours: u64) -> usize {
    let mut net = Net::new(seed);
    net.add(vec![cfg(1, 7, Version::V3, 101, 10)], vec![]);
    net.add(vec![cfg(2, 7, Version::V3, 100, 10)], vec![]);
    net.start(0);
    net.start(1);
    net.run(Duration::from_secs(2));
    assert_eq!(net.masters(0), vec![0]);
    net.loss_ppm = loss_ppm;
    net.run(Duration::from_secs(3600 * hours));
    let loss = net.lost as f64 / net.sent as f64;
    assert!((0.045..0.055).contains(&loss), "simulated loss {loss}");
    let b = net.routers[1].node.instance(0).unwrap();
    assert!(b.observed_loss_ppm() > 10_000, "the backup saw the loss");
    assert!(b.loss_allowance() > 0);
    // Becoming master after the 2 s start-up is a flap (two routers
    // started in the same millisecond may both claim once at start).
    net.routers[1]
        .history
        .iter()
        .filter(|(t, _, s)| *t > Duration::from_secs(2) && *s == State::Master)
        .count()
}

#[test]
fn five_percent_loss_at_100ms_does_not_flap_for_an_hour() {
    let counts: Vec<usize> = (1..=3).map(|seed| flaps(seed, 50_000, 1)).collect();
    assert_eq!(counts, vec![0, 0, 0], "backup took over spuriously");
}

#[test]
fn a_clean_link_keeps_the_rfc_timer_and_loss_recovers_it() {
    let mut net = Net::new(9);
    net.add(vec![cfg(1, 7, Version::V3, 101, 10)], vec![]);
    net.add(vec![cfg(2, 7, Version::V3, 100, 10)], vec![]);
    net.start(0);
    net.start(1);
    net.run(Duration::from_secs(60));
    let rfc = MS(300) + Duration::from_micros(156 * 100_000 / 256);
    let b = net.routers[1].node.instance(0).unwrap();
    assert_eq!((b.loss_allowance(), b.master_down_interval()), (0, rfc));
    // 5 % loss for a minute widens the timer; a clean ten minutes after
    // brings it back to the RFC's.
    net.loss_ppm = 50_000;
    net.run(Duration::from_secs(60));
    let b = net.routers[1].node.instance(0).unwrap();
    assert!(b.loss_allowance() >= 1, "allowance {}", b.loss_allowance());
    net.loss_ppm = 0;
    net.run(Duration::from_secs(600));
    let b = net.routers[1].node.instance(0).unwrap();
    assert_eq!((b.loss_allowance(), b.master_down_interval()), (0, rfc));
}

#[test]
fn a_sync_group_hands_off_within_skew_time_on_stop() {
    let mut net = grouped_pair();
    net.stop(0, Duration::from_secs(2));
    let stopped = net.elapsed();
    net.run(Duration::from_secs(3));
    assert_eq!((net.masters(0), net.masters(1)), (vec![1], vec![1]));
    let took = net.last_became(1, 1, State::Master).unwrap() - stopped;
    let skew = net.routers[1].node.instance(0).unwrap().skew();
    assert!(took <= skew + LATENCY * 2, "{took:?} > skew {skew:?}");
}

#[test]
fn delivery_jitter_is_not_taken_for_loss() {
    // Adverts delayed by up to 60 ms at a 100 ms interval (gaps of 40 to
    // 160 ms): no advert is lost, so the timer stays the RFC's.
    let mut net = Net::new(11);
    net.add(vec![cfg(1, 7, Version::V3, 101, 10)], vec![]);
    net.add(vec![cfg(2, 7, Version::V3, 100, 10)], vec![]);
    net.jitter = MS(60);
    net.start(0);
    net.start(1);
    net.run(Duration::from_secs(600));
    let b = net.routers[1].node.instance(0).unwrap();
    assert_eq!((b.observed_loss_ppm(), b.loss_allowance()), (0, 0));
    assert_eq!(net.masters(0), vec![0]);
}

#[test]
fn one_lost_advert_does_not_slow_failover() {
    let mut net = Net::new(12);
    net.add(vec![cfg(1, 7, Version::V3, 101, 10)], vec![]);
    net.add(vec![cfg(2, 7, Version::V3, 100, 10)], vec![]);
    net.start(0);
    net.start(1);
    net.run(Duration::from_secs(60));
    // Exactly one advert lost.
    net.partition(0, 1, true);
    net.run(MS(120));
    net.partition(0, 1, false);
    net.run(Duration::from_secs(1));
    let b = net.routers[1].node.instance(0).unwrap();
    assert!(b.observed_loss_ppm() > 0, "the loss was seen");
    assert_eq!(
        b.loss_allowance(),
        0,
        "but one advert is no reason to wait longer"
    );
    assert_eq!(net.masters(0), vec![0]);
}

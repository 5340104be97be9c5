//! The announce decision on a virtual clock: each policy, the hold-down
//! after a fall (and not on the first rise), disabled neighbors,
//! reconfigures that keep the hold-down of unchanged announcements, the
//! reasons' text and the next deadline.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use rampart_bgp::{
    Announce, Announcer, Community, Inputs, LargeCommunity, NeighborPlan, Observed, Otherwise,
    Plan, Policy, Route, Verdict,
};

const S: fn(u64) -> Duration = Duration::from_secs;
const HOLD: Duration = Duration::from_secs(5);

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn announce(prefix: &str, policy: Policy, neighbors: &[&str]) -> Announce {
    Announce {
        prefix: net(prefix),
        policy,
        neighbors: neighbors.iter().map(|n| n.to_string()).collect(),
        communities: Vec::new(),
        large_communities: Vec::new(),
        med: None,
    }
}

fn neighbor(name: &str) -> NeighborPlan {
    NeighborPlan {
        name: name.into(),
        ..NeighborPlan::default()
    }
}

fn master(vi: &str) -> Policy {
    Policy::WhileMaster(vi.into())
}

fn healthy(frontend: &str, min_servers: u32) -> Policy {
    Policy::WhileHealthy {
        frontend: frontend.into(),
        min_servers,
    }
}

/// Two neighbors; an `always`, a `while_master VI_1` and a
/// `while_healthy www (2)` announcement, all to both.
fn plan() -> Plan {
    let both = ["r1", "r2"];
    Plan {
        hold_down: HOLD,
        neighbors: vec![neighbor("r1"), neighbor("r2")],
        announces: vec![
            announce("10.0.0.1/32", Policy::Always, &both),
            announce("10.0.0.2/32", master("VI_1"), &both),
            announce("10.0.0.3/32", healthy("www", 2), &both),
        ],
        frontends: BTreeMap::from([("www".to_string(), "web".to_string())]),
    }
}

fn inputs(master: bool, up: u32, worker_ok: bool) -> Inputs {
    Inputs {
        masters: BTreeMap::from([("VI_1".to_string(), master)]),
        up: BTreeMap::from([("web".to_string(), up)]),
        worker_ok,
    }
}

/// The prefixes `neighbor` should have, as text.
fn prefixes(a: &Announcer, neighbor: &str) -> Vec<String> {
    a.routes(neighbor)
        .iter()
        .map(|r| r.prefix.to_string())
        .collect()
}

/// `neighbor`'s reason for `prefix`.
fn reason(a: &Announcer, neighbor: &str, prefix: &str) -> rampart_bgp::Reason {
    let all = a.explain();
    let n = all.iter().find(|n| n.neighbor == neighbor).unwrap();
    let d = n
        .routes
        .iter()
        .find(|d| d.route.prefix == net(prefix))
        .unwrap();
    d.reason.clone()
}

#[test]
fn nothing_is_announced_before_the_first_inputs() {
    let a = Announcer::new(plan(), BTreeSet::new());
    assert!(prefixes(&a, "r1").is_empty());
    assert_eq!(a.poll_timeout(), None);
}

#[test]
fn each_policy_follows_its_input() {
    let t0 = Instant::now();
    let mut a = Announcer::new(plan(), BTreeSet::new());
    a.set_inputs(t0, inputs(false, 1, true));
    assert_eq!(prefixes(&a, "r1"), ["10.0.0.1/32"]);
    // The first rise of each is not held down.
    a.set_inputs(t0, inputs(true, 2, true));
    assert_eq!(
        prefixes(&a, "r1"),
        ["10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32"]
    );
    assert_eq!(prefixes(&a, "r2"), prefixes(&a, "r1"));
    assert_eq!(a.poll_timeout(), None);
    // The worker down: no frontend is healthy, however many servers.
    a.set_inputs(t0 + S(1), inputs(true, 2, false));
    assert_eq!(prefixes(&a, "r1"), ["10.0.0.1/32", "10.0.0.2/32"]);
    // An instance that does not run is not master.
    a.set_inputs(
        t0 + S(2),
        Inputs {
            masters: BTreeMap::new(),
            ..inputs(true, 2, false)
        },
    );
    assert_eq!(prefixes(&a, "r1"), ["10.0.0.1/32"]);
    assert_eq!(
        reason(&a, "r1", "10.0.0.2/32").observed,
        Observed::Master(None)
    );
}

#[test]
fn a_frontend_without_a_backend_is_never_healthy() {
    let t0 = Instant::now();
    let mut p = plan();
    p.frontends.clear();
    let mut a = Announcer::new(p, BTreeSet::new());
    a.set_inputs(t0, inputs(true, 5, true));
    assert_eq!(prefixes(&a, "r1"), ["10.0.0.1/32", "10.0.0.2/32"]);
    assert_eq!(
        reason(&a, "r1", "10.0.0.3/32").text(t0),
        "withdrawn: no frontend www (policy while_healthy www (min_servers 2))"
    );
}

#[test]
fn a_fall_withdraws_at_once_and_the_rise_after_it_is_held_down() {
    let t0 = Instant::now();
    let mut a = Announcer::new(plan(), BTreeSet::new());
    a.set_inputs(t0, inputs(true, 2, true));
    let changes = a.set_inputs(t0 + S(10), inputs(false, 2, true));
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].prefix, net("10.0.0.2/32"));
    assert_eq!(changes[0].reason.verdict, Verdict::PolicyFails);
    assert_eq!(prefixes(&a, "r1"), ["10.0.0.1/32", "10.0.0.3/32"]);

    // Master again at +12 s: held until +17 s, and the deadline says so.
    let changes = a.set_inputs(t0 + S(12), inputs(true, 2, true));
    let until = t0 + S(17);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].reason.verdict, Verdict::HeldDown { until });
    assert_eq!(a.poll_timeout(), Some(until));
    assert_eq!(prefixes(&a, "r1"), ["10.0.0.1/32", "10.0.0.3/32"]);
    assert_eq!(
        reason(&a, "r2", "10.0.0.2/32").verdict,
        Verdict::HeldDown { until }
    );
    // Early: nothing changes.
    assert!(a.handle_timeout(t0 + S(16)).is_empty());
    // Unchanged inputs in between change nothing either.
    assert!(a.set_inputs(t0 + S(16), inputs(true, 2, true)).is_empty());
    let changes = a.handle_timeout(until);
    assert_eq!(changes.len(), 1);
    assert!(changes[0].reason.announced());
    assert_eq!(a.poll_timeout(), None);
    assert_eq!(
        prefixes(&a, "r1"),
        ["10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32"]
    );
}

#[test]
fn a_fall_during_the_hold_down_restarts_it() {
    let t0 = Instant::now();
    let mut a = Announcer::new(plan(), BTreeSet::new());
    a.set_inputs(t0, inputs(true, 2, true));
    a.set_inputs(t0 + S(1), inputs(true, 1, true));
    a.set_inputs(t0 + S(2), inputs(true, 2, true));
    assert_eq!(a.poll_timeout(), Some(t0 + S(7)));
    // Down again before the end: withdrawn, no deadline...
    let changes = a.set_inputs(t0 + S(4), inputs(true, 1, true));
    assert_eq!(changes[0].reason.verdict, Verdict::PolicyFails);
    assert_eq!(a.poll_timeout(), None);
    // ...and the next rise waits the whole hold-down again.
    a.set_inputs(t0 + S(6), inputs(true, 2, true));
    assert_eq!(a.poll_timeout(), Some(t0 + S(11)));
    assert!(a.handle_timeout(t0 + S(7)).is_empty());
    assert!(!prefixes(&a, "r1").contains(&"10.0.0.3/32".to_string()));
    assert_eq!(a.handle_timeout(t0 + S(11)).len(), 1);
    assert!(prefixes(&a, "r1").contains(&"10.0.0.3/32".to_string()));
}

#[test]
fn the_earliest_hold_down_is_the_deadline() {
    let t0 = Instant::now();
    let mut a = Announcer::new(plan(), BTreeSet::new());
    a.set_inputs(t0, inputs(true, 2, true));
    a.set_inputs(t0 + S(1), inputs(false, 1, true));
    a.set_inputs(t0 + S(2), inputs(true, 1, true)); // VI_1 held to +7
    a.set_inputs(t0 + S(3), inputs(true, 2, true)); // www held to +8
    assert_eq!(a.poll_timeout(), Some(t0 + S(7)));
    assert_eq!(a.handle_timeout(t0 + S(7)).len(), 1);
    assert_eq!(a.poll_timeout(), Some(t0 + S(8)));
    assert_eq!(a.handle_timeout(t0 + S(9)).len(), 1);
    assert_eq!(a.poll_timeout(), None);
}

#[test]
fn a_disabled_neighbor_gets_nothing_and_the_others_are_unaffected() {
    let t0 = Instant::now();
    let mut a = Announcer::new(plan(), BTreeSet::from(["r2".to_string()]));
    a.set_inputs(t0, inputs(true, 2, true));
    assert_eq!(prefixes(&a, "r1").len(), 3);
    assert!(prefixes(&a, "r2").is_empty());
    let all = a.explain();
    assert!(!all[0].disabled);
    assert!(all[1].disabled);
    assert_eq!(all[1].routes.len(), 3, "shown, withdrawn");
    assert_eq!(
        all[1].routes[0].reason.verdict,
        Verdict::NeighborDisabled {
            otherwise: Otherwise::Announced
        }
    );
    // Enabled: everything the policies allow, at once (no hold-down: the
    // policies did not fall).
    assert!(a.set_disabled("r2", false));
    assert!(!a.set_disabled("r2", false), "already enabled");
    assert_eq!(prefixes(&a, "r2"), prefixes(&a, "r1"));
    // Disabling tells, and withdraws everything for it alone.
    assert!(a.set_disabled("r1", true));
    assert!(!a.set_disabled("r1", true));
    assert!(a.is_disabled("r1"));
    assert!(prefixes(&a, "r1").is_empty());
    assert_eq!(prefixes(&a, "r2").len(), 3);
}

#[test]
fn a_disabled_name_stays_disabled_through_reconfigures_even_when_gone() {
    let t0 = Instant::now();
    let mut a = Announcer::new(plan(), BTreeSet::from(["r2".to_string()]));
    a.set_inputs(t0, inputs(true, 2, true));
    let mut without = plan();
    without.neighbors.truncate(1);
    for an in &mut without.announces {
        an.neighbors.truncate(1);
    }
    a.reconfigure(t0 + S(1), without);
    assert_eq!(a.explain().len(), 1);
    assert!(a.is_disabled("r2"));
    a.reconfigure(t0 + S(2), plan());
    assert!(prefixes(&a, "r2").is_empty());
    assert!(a.explain()[1].disabled);
}

#[test]
fn a_reconfigure_keeps_the_hold_down_of_unchanged_announcements() {
    let t0 = Instant::now();
    let mut a = Announcer::new(plan(), BTreeSet::new());
    a.set_inputs(t0, inputs(true, 2, true));
    a.set_inputs(t0 + S(1), inputs(false, 1, true));
    a.set_inputs(t0 + S(2), inputs(true, 2, true));
    // Both held down until +7 s. The reload changes the MED and
    // communities of 10.0.0.2 (same prefix and policy: kept) and the
    // policy's min_servers of 10.0.0.3 (changed: starts afresh, and its
    // first rise is not held).
    let mut p = plan();
    p.announces[1].med = Some(50);
    p.announces[1].communities = vec![Community(65000 << 16 | 7)];
    p.announces[2].policy = healthy("www", 1);
    let changes = a.reconfigure(t0 + S(3), p.clone());
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].prefix, net("10.0.0.3/32"));
    assert!(changes[0].reason.announced());
    assert_eq!(a.poll_timeout(), Some(t0 + S(7)));
    assert_eq!(prefixes(&a, "r1"), ["10.0.0.1/32", "10.0.0.3/32"]);
    // The kept one's new attributes show at once.
    let d = &a.explain()[0].routes[1];
    assert_eq!(d.route.med, Some(50));
    assert_eq!(d.reason.verdict, Verdict::HeldDown { until: t0 + S(7) });
    a.handle_timeout(t0 + S(7));
    let routes = a.routes("r1");
    assert_eq!(routes.len(), 3);
    assert_eq!(routes[1].communities, [Community(65000 << 16 | 7)]);

    // A new hold_down starts every announcement afresh.
    a.set_inputs(t0 + S(8), inputs(false, 2, true));
    a.set_inputs(t0 + S(9), inputs(true, 2, true));
    assert_eq!(a.poll_timeout(), Some(t0 + S(14)));
    p.hold_down = S(30);
    a.reconfigure(t0 + S(10), p);
    assert_eq!(a.poll_timeout(), None);
    assert_eq!(prefixes(&a, "r1").len(), 3);
}

#[test]
fn a_reconfigure_applies_the_last_inputs_to_new_announcements() {
    let t0 = Instant::now();
    let mut a = Announcer::new(plan(), BTreeSet::new());
    a.set_inputs(t0, inputs(true, 2, true));
    let mut p = plan();
    p.announces
        .push(announce("10.0.0.4/32", master("VI_1"), &["r2"]));
    let changes = a.reconfigure(t0 + S(1), p);
    assert_eq!(changes.len(), 1);
    assert_eq!(prefixes(&a, "r1").len(), 3);
    assert_eq!(prefixes(&a, "r2").len(), 4);
}

#[test]
fn routes_carry_the_neighbor_and_announcement_attributes() {
    let t0 = Instant::now();
    let mut p = plan();
    p.neighbors[0] = NeighborPlan {
        name: "r1".into(),
        med: Some(10),
        local_pref: Some(200),
        prepend: 2,
    };
    p.announces[0].med = Some(20);
    p.announces[0].large_communities = vec![LargeCommunity {
        global: 65000,
        local1: 1,
        local2: 2,
    }];
    let mut a = Announcer::new(p, BTreeSet::new());
    a.set_inputs(t0, inputs(true, 2, true));
    let r = a.routes("r1");
    let mut want = Route::new(net("10.0.0.1/32"));
    want.med = Some(20);
    want.local_pref = Some(200);
    want.prepend = 2;
    want.large_communities = vec![LargeCommunity {
        global: 65000,
        local1: 1,
        local2: 2,
    }];
    assert_eq!(r[0], want);
    // The neighbor's MED where the announcement sets none.
    assert_eq!(r[1].med, Some(10));
    assert_eq!(a.routes("r2")[1].med, None);
    assert!(a.routes("nobody").is_empty());
}

#[test]
fn reasons_read_as_sentences() {
    let t0 = Instant::now();
    let mut a = Announcer::new(plan(), BTreeSet::new());
    a.set_inputs(t0, inputs(true, 2, true));
    let text = |a: &Announcer, p: &str, now| reason(a, "r1", p).text(now);
    assert_eq!(text(&a, "10.0.0.1/32", t0), "announced (policy always)");
    assert_eq!(
        text(&a, "10.0.0.2/32", t0),
        "announced: master of VRRP instance VI_1 (policy while_master VI_1)"
    );
    assert_eq!(
        text(&a, "10.0.0.3/32", t0),
        "announced: 2 servers up in backend web, 2 needed \
         (policy while_healthy www (min_servers 2))"
    );
    a.set_inputs(t0 + S(1), inputs(false, 1, true));
    assert_eq!(
        text(&a, "10.0.0.2/32", t0),
        "withdrawn: not master of VRRP instance VI_1 (policy while_master VI_1)"
    );
    assert_eq!(
        text(&a, "10.0.0.3/32", t0),
        "withdrawn: 1 server up in backend web, 2 needed \
         (policy while_healthy www (min_servers 2))"
    );
    a.set_inputs(t0 + S(2), inputs(false, 3, false));
    assert_eq!(
        text(&a, "10.0.0.3/32", t0),
        "withdrawn: the proxy worker is down (3 servers up in backend web, 2 needed) \
         (policy while_healthy www (min_servers 2))"
    );
    a.set_inputs(t0 + S(3), inputs(true, 2, true));
    // Held until +8 s; read at +4.5 s.
    assert_eq!(
        text(&a, "10.0.0.2/32", t0 + Duration::from_millis(4500)),
        "withdrawn: held down for 3.5 s more after a fall: master of VRRP instance VI_1 \
         (policy while_master VI_1)"
    );
    a.set_disabled("r1", true);
    assert_eq!(
        text(&a, "10.0.0.1/32", t0),
        "withdrawn: neighbor disabled by the operator (otherwise announced (policy always))"
    );
    assert_eq!(
        text(&a, "10.0.0.3/32", t0 + S(8)),
        "withdrawn: neighbor disabled by the operator (otherwise held down for 0.0 s more \
         after a fall: 2 servers up in backend web, 2 needed \
         (policy while_healthy www (min_servers 2)))"
    );
}

//! The announce decision on a virtual clock: each policy, the hold-down
//! after a fall (and not on the first rise), disabled neighbors,
//! reconfigures that keep the hold-down of unchanged announcements, the
//! reasons' text and the next deadline; and the node drain (tag, withdraw
//! at the deadline, undrain) on top of all of it.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use rampart_bgp::{
    Announce, Announcer, Change, Community, Drain, Inputs, LargeCommunity, NeighborPlan, Observed,
    Otherwise, Plan, Policy, Route, Verdict,
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

// === node drain ===

/// Whether every route `neighbor` gets carries GRACEFUL_SHUTDOWN (false
/// if it gets none).
fn all_tagged(a: &Announcer, neighbor: &str) -> bool {
    let routes = a.routes(neighbor);
    !routes.is_empty()
        && routes
            .iter()
            .all(|r| r.communities.contains(&Community::GRACEFUL_SHUTDOWN))
}

/// The prefixes of `changes`, as text, in order.
fn changed(changes: &[Change]) -> Vec<String> {
    changes.iter().map(|c| c.prefix.to_string()).collect()
}

#[test]
fn a_drain_tags_every_announced_route_and_keeps_its_other_communities() {
    let t0 = Instant::now();
    let mut p = plan();
    p.announces[0].communities = vec![Community(65000 << 16 | 7)];
    let mut a = Announcer::new(p, BTreeSet::new());
    // One server short: 10.0.0.3 is withdrawn by its policy.
    a.set_inputs(t0, inputs(true, 1, true));
    let before = a.routes("r1");

    let changes = a.drain(t0 + S(1), S(30));
    let until = t0 + S(31);
    assert_eq!(changed(&changes), ["10.0.0.1/32", "10.0.0.2/32"]);
    for c in &changes {
        assert_eq!(c.reason.verdict, Verdict::GracefulShutdown { until });
        assert!(c.reason.announced());
    }
    assert_eq!(
        a.draining(),
        Some(Drain {
            since: t0 + S(1),
            withdraw_at: until,
            withdrawn: false,
        })
    );
    for n in ["r1", "r2"] {
        assert_eq!(prefixes(&a, n), ["10.0.0.1/32", "10.0.0.2/32"]);
        assert!(all_tagged(&a, n), "{n}");
    }
    let routes = a.routes("r1");
    assert_eq!(
        routes[0].communities,
        [Community(65000 << 16 | 7), Community::GRACEFUL_SHUTDOWN]
    );
    assert_eq!(routes[1].communities, [Community::GRACEFUL_SHUTDOWN]);
    // Nothing else about the routes changes.
    for (r, b) in routes.iter().zip(&before) {
        let mut untagged = r.clone();
        untagged
            .communities
            .retain(|c| *c != Community::GRACEFUL_SHUTDOWN);
        assert_eq!(&untagged, b);
    }
    assert_eq!(
        reason(&a, "r1", "10.0.0.3/32").verdict,
        Verdict::PolicyFails
    );
    // A route that rises while tagging is announced tagged.
    let changes = a.set_inputs(t0 + S(2), inputs(true, 2, true));
    assert_eq!(changed(&changes), ["10.0.0.3/32"]);
    assert_eq!(
        changes[0].reason.verdict,
        Verdict::GracefulShutdown { until }
    );
    assert_eq!(prefixes(&a, "r2").len(), 3);
    assert!(all_tagged(&a, "r2"));
}

#[test]
fn a_drain_withdraws_every_route_at_its_deadline() {
    let t0 = Instant::now();
    let mut a = Announcer::new(plan(), BTreeSet::new());
    a.set_inputs(t0, inputs(true, 2, true));
    a.set_inputs(t0 + S(1), inputs(false, 2, true));
    assert_eq!(
        changed(&a.drain(t0 + S(2), S(30))),
        ["10.0.0.1/32", "10.0.0.3/32"]
    );
    let deadline = t0 + S(32);
    assert_eq!(a.poll_timeout(), Some(deadline));
    // VI_1 back at +3 s: its hold-down ends first, and is the deadline...
    a.set_inputs(t0 + S(3), inputs(true, 2, true));
    assert_eq!(a.poll_timeout(), Some(t0 + S(8)));
    // ...and at its end the route is announced, tagged like the others.
    let changes = a.handle_timeout(t0 + S(8));
    assert_eq!(changed(&changes), ["10.0.0.2/32"]);
    assert_eq!(
        changes[0].reason.verdict,
        Verdict::GracefulShutdown { until: deadline }
    );
    assert!(all_tagged(&a, "r1"));
    assert_eq!(prefixes(&a, "r1").len(), 3);
    assert_eq!(a.poll_timeout(), Some(deadline));

    // Early: nothing changes.
    assert!(
        a.handle_timeout(deadline - Duration::from_millis(1))
            .is_empty()
    );
    assert_eq!(prefixes(&a, "r1").len(), 3);
    assert!(!a.draining().unwrap().withdrawn);

    let changes = a.handle_timeout(deadline);
    assert_eq!(
        changed(&changes),
        ["10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32"]
    );
    for c in &changes {
        assert_eq!(
            c.reason.verdict,
            Verdict::NodeDrained {
                otherwise: Otherwise::Announced
            }
        );
        assert!(!c.reason.announced());
    }
    assert!(a.routes("r1").is_empty());
    assert!(a.routes("r2").is_empty());
    assert!(a.draining().unwrap().withdrawn);
    assert_eq!(a.draining().unwrap().withdraw_at, deadline);
    assert_eq!(a.poll_timeout(), None);
    assert!(a.handle_timeout(deadline + S(60)).is_empty());
}

#[test]
fn a_route_its_policy_withdraws_is_node_drained_too_after_the_deadline() {
    // Nothing changes on the wire for it, but its verdict does: it is
    // reported, and shows why it would stay withdrawn anyway.
    let t0 = Instant::now();
    let mut a = Announcer::new(plan(), BTreeSet::new());
    a.set_inputs(t0, inputs(true, 1, true));
    a.drain(t0, S(10));
    let changes = a.handle_timeout(t0 + S(10));
    assert_eq!(changes.len(), 3);
    assert_eq!(
        changes[2].reason.verdict,
        Verdict::NodeDrained {
            otherwise: Otherwise::PolicyFails
        }
    );
}

#[test]
fn a_drain_with_no_delay_withdraws_at_once() {
    let t0 = Instant::now();
    let mut a = Announcer::new(plan(), BTreeSet::new());
    a.set_inputs(t0, inputs(true, 2, true));
    let changes = a.drain(t0, Duration::ZERO);
    assert_eq!(changes.len(), 3);
    assert!(changes.iter().all(|c| c.reason.verdict
        == Verdict::NodeDrained {
            otherwise: Otherwise::Announced
        }));
    assert!(a.routes("r1").is_empty());
    assert!(a.routes("r2").is_empty());
    assert_eq!(
        a.draining(),
        Some(Drain {
            since: t0,
            withdraw_at: t0,
            withdrawn: true,
        })
    );
    assert_eq!(a.poll_timeout(), None);
}

#[test]
fn a_second_drain_keeps_the_first_start_and_the_earlier_deadline() {
    let t0 = Instant::now();
    let mut a = Announcer::new(plan(), BTreeSet::new());
    a.set_inputs(t0, inputs(true, 2, true));
    a.drain(t0, S(30));
    let first = a.draining();
    // A later deadline: ignored.
    assert!(a.drain(t0 + S(5), S(60)).is_empty());
    assert_eq!(a.draining(), first);
    // An earlier one: taken, from the same start; the verdicts say when.
    let changes = a.drain(t0 + S(10), S(10));
    assert_eq!(changes.len(), 3);
    assert_eq!(
        changes[0].reason.verdict,
        Verdict::GracefulShutdown { until: t0 + S(20) }
    );
    assert_eq!(
        a.draining(),
        Some(Drain {
            since: t0,
            withdraw_at: t0 + S(20),
            withdrawn: false,
        })
    );
    assert_eq!(a.poll_timeout(), Some(t0 + S(20)));
    assert!(all_tagged(&a, "r1"));
    // No delay: withdrawn at once.
    assert_eq!(a.drain(t0 + S(12), Duration::ZERO).len(), 3);
    let drained = Some(Drain {
        since: t0,
        withdraw_at: t0 + S(12),
        withdrawn: true,
    });
    assert_eq!(a.draining(), drained);
    // Once withdrawn, asking again re-announces nothing.
    assert!(a.drain(t0 + S(25), S(30)).is_empty());
    assert_eq!(a.draining(), drained);
    assert!(a.routes("r1").is_empty());
    assert_eq!(a.poll_timeout(), None);
}

#[test]
fn an_undrain_puts_back_at_once_every_route_whose_policy_held() {
    let t0 = Instant::now();
    let mut a = Announcer::new(plan(), BTreeSet::new());
    a.set_inputs(t0, inputs(true, 2, true));
    let before = a.routes("r1");
    assert!(a.undrain().is_empty(), "no drain on");

    // While tagging: untagged at once.
    a.drain(t0, S(30));
    let changes = a.undrain();
    assert_eq!(changes.len(), 3);
    assert!(
        changes
            .iter()
            .all(|c| c.reason.verdict == Verdict::Announced)
    );
    assert_eq!(a.draining(), None);
    assert_eq!(a.routes("r1"), before);

    // Withdrawn: back at once, untagged, no hold-down.
    a.drain(t0 + S(40), S(10));
    a.handle_timeout(t0 + S(50));
    assert!(a.routes("r1").is_empty());
    let changes = a.undrain();
    assert_eq!(changes.len(), 3);
    assert!(
        changes
            .iter()
            .all(|c| c.reason.verdict == Verdict::Announced)
    );
    assert_eq!(a.routes("r1"), before);
    assert_eq!(a.routes("r2").len(), 3);
    assert_eq!(a.poll_timeout(), None);
    assert_eq!(a.draining(), None);
}

#[test]
fn a_route_whose_input_fell_during_the_drain_waits_out_its_hold_down() {
    let t0 = Instant::now();
    let mut a = Announcer::new(plan(), BTreeSet::new());
    a.set_inputs(t0, inputs(true, 2, true));
    a.drain(t0, S(10));
    a.handle_timeout(t0 + S(10));
    // VI_1 falls and rises while drained: held until +18 s underneath.
    let changes = a.set_inputs(t0 + S(12), inputs(false, 2, true));
    assert_eq!(
        changes[0].reason.verdict,
        Verdict::NodeDrained {
            otherwise: Otherwise::PolicyFails
        }
    );
    a.set_inputs(t0 + S(13), inputs(true, 2, true));
    let until = t0 + S(18);
    assert_eq!(
        reason(&a, "r1", "10.0.0.2/32").verdict,
        Verdict::NodeDrained {
            otherwise: Otherwise::HeldDown { until }
        }
    );
    assert_eq!(a.poll_timeout(), Some(until));

    let changes = a.undrain();
    assert_eq!(changes.len(), 3);
    assert_eq!(changes[1].reason.verdict, Verdict::HeldDown { until });
    assert_eq!(prefixes(&a, "r1"), ["10.0.0.1/32", "10.0.0.3/32"]);
    assert!(a.handle_timeout(t0 + S(17)).is_empty());
    let changes = a.handle_timeout(until);
    assert_eq!(changed(&changes), ["10.0.0.2/32"]);
    assert_eq!(changes[0].reason.verdict, Verdict::Announced);
    assert_eq!(prefixes(&a, "r1").len(), 3);
    assert!(a.routes("r1").iter().all(|r| r.communities.is_empty()));

    // A fall while tagging whose hold-down ended during the drain: waited
    // out already, so back at once.
    a.drain(t0 + S(20), S(30));
    a.set_inputs(t0 + S(21), inputs(true, 1, true));
    a.set_inputs(t0 + S(22), inputs(true, 2, true));
    assert_eq!(a.poll_timeout(), Some(t0 + S(27)));
    assert_eq!(
        changed(&a.handle_timeout(t0 + S(27))),
        ["10.0.0.3/32"],
        "announced, tagged"
    );
    assert!(all_tagged(&a, "r1"));
    a.handle_timeout(t0 + S(50));
    assert_eq!(a.undrain().len(), 3);
    assert_eq!(prefixes(&a, "r1").len(), 3);
    assert_eq!(a.poll_timeout(), None);
}

#[test]
fn a_reconfigure_during_a_drain_keeps_the_drain() {
    let t0 = Instant::now();
    let mut a = Announcer::new(plan(), BTreeSet::new());
    a.set_inputs(t0, inputs(true, 2, true));
    a.drain(t0, S(30));
    let drain = a.draining();
    let mut p = plan();
    p.announces
        .push(announce("10.0.0.4/32", Policy::Always, &["r1", "r2"]));
    p.announces[3].communities = vec![Community(65000 << 16 | 4)];
    let changes = a.reconfigure(t0 + S(5), p.clone());
    assert_eq!(changed(&changes), ["10.0.0.4/32"]);
    assert_eq!(
        changes[0].reason.verdict,
        Verdict::GracefulShutdown { until: t0 + S(30) }
    );
    assert_eq!(a.draining(), drain);
    assert_eq!(prefixes(&a, "r2").len(), 4);
    assert!(all_tagged(&a, "r2"));
    assert_eq!(
        a.routes("r2")[3].communities,
        [Community(65000 << 16 | 4), Community::GRACEFUL_SHUTDOWN]
    );
    assert_eq!(a.poll_timeout(), Some(t0 + S(30)));
    // Withdrawn with the others, at the same deadline.
    assert_eq!(a.handle_timeout(t0 + S(30)).len(), 4);
    assert!(a.routes("r1").is_empty());
    assert!(a.routes("r2").is_empty());
    // A reload after the deadline announces nothing either.
    p.announces
        .push(announce("10.0.0.5/32", Policy::Always, &["r1"]));
    a.reconfigure(t0 + S(31), p);
    assert!(a.routes("r1").is_empty());
    assert!(a.draining().unwrap().withdrawn);
    assert_eq!(a.undrain().len(), 5);
    assert_eq!(prefixes(&a, "r1").len(), 5);
}

#[test]
fn a_disabled_neighbor_gets_nothing_during_a_drain() {
    let t0 = Instant::now();
    let mut a = Announcer::new(plan(), BTreeSet::from(["r2".to_string()]));
    a.set_inputs(t0, inputs(true, 2, true));
    a.drain(t0, S(30));
    assert!(all_tagged(&a, "r1"));
    assert!(a.routes("r2").is_empty());
    let disabled = Verdict::NeighborDisabled {
        otherwise: Otherwise::Announced,
    };
    let shown = |a: &Announcer| -> Vec<Verdict> {
        let all = a.explain();
        assert!(all[1].disabled);
        all[1].routes.iter().map(|d| d.reason.verdict).collect()
    };
    assert_eq!(shown(&a), [disabled; 3]);
    a.handle_timeout(t0 + S(30));
    assert!(a.routes("r2").is_empty());
    assert_eq!(shown(&a), [disabled; 3]);
    // Undrained, it still gets nothing until enabled.
    a.undrain();
    assert_eq!(prefixes(&a, "r1").len(), 3);
    assert!(a.routes("r2").is_empty());
    assert!(a.set_disabled("r2", false));
    assert_eq!(prefixes(&a, "r2").len(), 3);
}

#[test]
fn drain_reasons_read_as_sentences() {
    let t0 = Instant::now();
    let mut a = Announcer::new(plan(), BTreeSet::new());
    a.set_inputs(t0, inputs(true, 2, true));
    a.drain(t0, S(30));
    let text = |a: &Announcer, p: &str, now| reason(a, "r1", p).text(now);
    let at = t0 + Duration::from_millis(10_500);
    assert_eq!(
        text(&a, "10.0.0.1/32", at),
        "graceful shutdown: announced with GRACEFUL_SHUTDOWN, withdrawn in 19.5 s \
         (policy always)"
    );
    assert_eq!(
        text(&a, "10.0.0.2/32", at),
        "graceful shutdown: announced with GRACEFUL_SHUTDOWN, withdrawn in 19.5 s: \
         master of VRRP instance VI_1 (policy while_master VI_1)"
    );
    // Past the deadline, before handle_timeout: no time left, not negative.
    assert_eq!(
        text(&a, "10.0.0.1/32", t0 + S(40)),
        "graceful shutdown: announced with GRACEFUL_SHUTDOWN, withdrawn in 0.0 s \
         (policy always)"
    );
    a.handle_timeout(t0 + S(30));
    assert_eq!(
        text(&a, "10.0.0.1/32", t0 + S(30)),
        "withdrawn: node drained (otherwise announced (policy always))"
    );
    assert_eq!(
        text(&a, "10.0.0.2/32", t0 + S(30)),
        "withdrawn: node drained (otherwise announced: master of VRRP instance VI_1 \
         (policy while_master VI_1))"
    );
    a.set_inputs(t0 + S(31), inputs(false, 1, true));
    a.set_inputs(t0 + S(32), inputs(true, 1, true));
    assert_eq!(
        text(&a, "10.0.0.2/32", t0 + S(33)),
        "withdrawn: node drained (otherwise held down for 4.0 s more after a fall: \
         master of VRRP instance VI_1 (policy while_master VI_1))"
    );
    assert_eq!(
        text(&a, "10.0.0.3/32", t0 + S(33)),
        "withdrawn: node drained (otherwise withdrawn: 1 server up in backend web, \
         2 needed (policy while_healthy www (min_servers 2)))"
    );
}

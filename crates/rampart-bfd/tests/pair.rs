//! Two sessions on a virtual link: the three-way handshake, the slow
//! rate while not Up, jitter, detection of a cut link, AdminDown, and a
//! long run with seeded loss.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{A, B, FAST, Net, Side};
use rampart_bfd::{Diag, SessionConfig, State};

const MS: Duration = Duration::from_millis(1);

/// Both Up, and the Poll Sequences of the Up transition settled.
fn up_pair() -> Net {
    let mut net = Net::new(FAST, FAST);
    net.run_for(2 * Duration::from_secs(1));
    assert_eq!(net.state(Side::A), State::Up);
    assert_eq!(net.state(Side::B), State::Up);
    net
}

#[test]
fn two_sessions_come_up_through_init() {
    let mut net = Net::new(FAST, FAST);
    net.run_for(50 * MS);
    // Down -> Init (heard Down) -> Up (heard Init), on both sides, within
    // a few link delays: a state change is sent at once, not at the next
    // 1 s slow-rate packet.
    for side in [Side::A, Side::B] {
        let seen: Vec<_> = net
            .transitions
            .iter()
            .filter(|(_, s, _)| *s == side)
            .map(|(_, _, t)| (t.from, t.to))
            .collect();
        assert_eq!(
            seen,
            [(State::Down, State::Init), (State::Init, State::Up)],
            "{side:?}"
        );
    }
    let up_at = net.transitions.last().unwrap().0 - net.start;
    assert!(up_at <= 5 * MS, "Up after {up_at:?}");
    let st = net.status(Side::A);
    assert_eq!(
        st.remote_discriminator,
        net.status(Side::B).local_discriminator
    );
    assert_eq!(st.diag, Diag::None);
    assert_eq!(st.counters.up_transitions, 1);
}

#[test]
fn slow_rate_until_up_then_the_configured_rate_with_jitter() {
    // B never answers: A stays Down and sends once a second (§6.8.3),
    // advertising 1 s, not the 100 ms it is configured with.
    let mut net = Net::new(FAST, FAST);
    net.cut = true;
    net.run_for(Duration::from_secs(10));
    let slow = net.periodic(Side::A, net.start);
    assert!((10..=14).contains(&slow.len()), "{} packets", slow.len());
    assert!(slow.iter().all(|(_, p)| p.desired_min_tx_us == 1_000_000));
    assert!(slow.iter().all(|(_, p)| p.state == State::Down));
    for g in net.gaps(Side::A, net.start) {
        assert!((750 * MS..=1000 * MS).contains(&g), "slow gap {g:?}");
    }

    // Link back: Up, then 100 ms advertised and 75..=100 ms between
    // packets, varying (jittered).
    net.cut = false;
    net.run_for(Duration::from_secs(2));
    assert_eq!(net.state(Side::A), State::Up);
    let from = net.now;
    net.run_for(Duration::from_secs(10));
    let gaps = net.gaps(Side::A, from);
    assert!((100..=134).contains(&gaps.len()), "{} gaps", gaps.len());
    for g in &gaps {
        assert!((75 * MS..=100 * MS).contains(g), "fast gap {g:?}");
    }
    let distinct: std::collections::BTreeSet<_> = gaps.iter().collect();
    assert!(distinct.len() > 10, "not jittered: {distinct:?}");
    let fast = net.periodic(Side::A, from);
    assert!(fast.iter().all(|(_, p)| p.desired_min_tx_us == 100_000));
    assert_eq!(net.status(Side::A).tx_interval, 100 * MS);
}

#[test]
fn detect_mult_one_keeps_packets_within_ninety_percent() {
    let one = SessionConfig {
        detect_mult: 1,
        ..FAST
    };
    let mut net = Net::new(one, one);
    net.run_for(Duration::from_secs(2));
    let from = net.now;
    net.run_for(Duration::from_secs(10));
    for g in net.gaps(Side::A, from) {
        assert!((75 * MS..=90 * MS).contains(&g), "gap {g:?}");
    }
    // And nobody flapped on a clean link.
    assert_eq!(net.status(Side::A).counters.down_transitions, 0);
}

#[test]
fn silence_for_the_detection_time_is_down_with_diag_1() {
    let mut net = up_pair();
    net.transitions.clear();
    let cut = net.now;
    net.cut = true;
    net.run_for(Duration::from_secs(1));
    for side in [Side::A, Side::B] {
        let (at, t) = net
            .transitions
            .iter()
            .find(|(_, s, _)| *s == side)
            .map(|(at, _, t)| (*at, *t))
            .unwrap_or_else(|| panic!("{side:?} never went down"));
        assert_eq!((t.from, t.to), (State::Up, State::Down));
        assert_eq!(t.diag, Diag::ControlDetectionTimeExpired);
        assert!(t.is_failure(), "a timeout is a failure for BGP");
        // 3 x 100 ms after the last packet heard, which left at most one
        // interval (100 ms) before the cut.
        let after = at - cut;
        assert!(
            (200 * MS..=300 * MS).contains(&after),
            "{side:?} after {after:?}"
        );
        let st = net.status(side);
        assert_eq!(st.remote_discriminator, 0, "§6.8.1: forgotten");
        assert_eq!(st.diag, Diag::ControlDetectionTimeExpired);
        assert_eq!(st.counters.down_transitions, 1);
    }
    // Back to the slow rate while Down.
    let from = net.now;
    net.run_for(Duration::from_secs(5));
    assert!(net.gaps(Side::A, from).iter().all(|g| *g >= 750 * MS));

    // The link heals: both come back Up on their own.
    net.cut = false;
    net.run_for(Duration::from_secs(3));
    assert_eq!(net.state(Side::A), State::Up);
    assert_eq!(net.state(Side::B), State::Up);
    assert_eq!(net.status(Side::A).counters.up_transitions, 2);
}

#[test]
fn one_way_loss_is_detected_by_the_deaf_side_and_told_to_the_other() {
    let mut net = up_pair();
    net.transitions.clear();
    // B's packets are lost, A's still arrive: A times out (diag 1) and
    // says Down, which B hears and follows (diag 3) at once, long before
    // its own detection time. Both are failures for BGP.
    net.mute = Some(Side::B);
    net.run_for(Duration::from_secs(1));
    let a = net
        .transitions
        .iter()
        .find(|(_, s, _)| *s == Side::A)
        .unwrap();
    let b = net
        .transitions
        .iter()
        .find(|(_, s, _)| *s == Side::B)
        .unwrap();
    assert_eq!(a.2.diag, Diag::ControlDetectionTimeExpired);
    assert_eq!(b.2.diag, Diag::NeighborSignaledSessionDown);
    assert_eq!(b.2.remote_state, State::Down);
    assert!(a.2.is_failure() && b.2.is_failure());
    assert!(b.0 - a.0 <= 2 * MS, "B followed {:?} after A", b.0 - a.0);
    // A, deaf, stays Down; B hears A's next (slow-rate) Down and answers
    // Init, never Up.
    net.run_for(Duration::from_secs(2));
    assert_eq!(net.state(Side::A), State::Down);
    assert_eq!(net.state(Side::B), State::Init);
}

#[test]
fn admin_down_is_not_a_failure_for_the_peer() {
    let mut net = up_pair();
    net.transitions.clear();
    // A's operator removes the session: A sends AdminDown, B goes Down
    // with diag 3 but must not take BGP down for it (RFC 5882 §3.2).
    let now = net.now;
    let last = net.a.remove(now, B);
    for action in last {
        net.act(Side::A, action);
    }
    let admin = net.sent.last().unwrap().2;
    assert_eq!(admin.state, State::AdminDown);
    assert_eq!(admin.diag, Diag::AdministrativelyDown);
    net.run_for(10 * MS);
    let (_, _, t) = *net
        .transitions
        .iter()
        .find(|(_, s, _)| *s == Side::B)
        .unwrap();
    assert_eq!((t.from, t.to), (State::Up, State::Down));
    assert_eq!(t.diag, Diag::NeighborSignaledSessionDown);
    assert_eq!(t.remote_state, State::AdminDown);
    assert!(!t.is_failure());

    // B keeps sending to A's old discriminator, which A no longer knows.
    net.run_for(Duration::from_secs(3));
    assert!(
        net.a.discards().unknown_discriminator >= 2,
        "{:?}",
        net.a.discards()
    );
    assert_eq!(net.state(Side::B), State::Down);
}

#[test]
fn a_peer_saying_down_while_up_is_a_failure() {
    let mut net = up_pair();
    net.transitions.clear();
    // B restarts its session (a new discriminator, Down): A hears Down
    // with A's discriminator unknown to B's new session (zero), drops to
    // Down (diag 3): that is the path (or the peer) failing.
    let now = net.now;
    let _ = net.b.remove(now, A); // lost: B's process "crashed"
    net.b.set(now, A, FAST);
    net.run_for(20 * MS);
    let (_, _, t) = *net
        .transitions
        .iter()
        .find(|(_, s, _)| *s == Side::A)
        .unwrap();
    assert_eq!(
        (t.from, t.to, t.diag),
        (State::Up, State::Down, Diag::NeighborSignaledSessionDown)
    );
    assert!(t.is_failure());
    // And they meet again.
    net.run_for(Duration::from_secs(3));
    assert_eq!(net.state(Side::A), State::Up);
    assert_eq!(net.state(Side::B), State::Up);
}

#[test]
fn ten_minutes_at_one_percent_loss_never_flap() {
    // Three consecutive losses are needed to flap; at 1 % that is about
    // once in 10^6 intervals. Seeded, so the run is the same every time.
    let mut net = up_pair();
    net.loss = 0.01;
    net.run_for(Duration::from_secs(600));
    for side in [Side::A, Side::B] {
        let c = net.status(side).counters;
        assert_eq!(c.down_transitions, 0, "{side:?} flapped");
        assert!(c.packets_in > 5_000, "{side:?} heard {}", c.packets_in);
    }
}

#[test]
fn no_periodic_packets_to_a_peer_in_demand_mode_or_asking_for_none() {
    let mut net = up_pair();
    net.mute = Some(Side::B);
    let b_says = |net: &Net, demand: bool, min_rx_us: u32| {
        let (_, _, p) = net
            .sent
            .iter()
            .rev()
            .find(|(_, s, p)| *s == Side::B && !p.final_)
            .unwrap();
        let mut p = *p;
        p.demand = demand;
        p.required_min_rx_us = min_rx_us;
        rampart_bfd::encode(&p)
    };
    for (demand, min_rx) in [(true, 100_000), (false, 0)] {
        let quiet = b_says(&net, demand, min_rx);
        let from = net.now;
        // B (muted on the link) speaks through this loop every 50 ms.
        for _ in 0..6 {
            let now = net.now;
            net.a.handle_datagram(now, B, 255, &quiet).unwrap();
            net.run_for(50 * MS);
        }
        assert!(
            net.periodic(Side::A, from).is_empty(),
            "demand {demand}, min rx {min_rx}"
        );
        assert_eq!(net.state(Side::A), State::Up);
        // B stops asking: A sends again within an interval.
        let normal = b_says(&net, false, 100_000);
        let from = net.now;
        net.a.handle_datagram(from, B, 255, &normal).unwrap();
        net.run_for(100 * MS);
        assert!(!net.periodic(Side::A, from).is_empty());
    }
}

/// `rampart upgrade` on a loaded machine: the exec pauses A for 1 s, more
/// than B's 300 ms detection time. A first announces a 1 s interval (a
/// Poll Sequence), so B waits 3 s; the resumed session polls the fast
/// interval back, and B detects in 300 ms again.
#[test]
fn a_slowed_hand_over_survives_a_pause_longer_than_the_detection_time() {
    let mut net = up_pair();
    net.transitions.clear();
    let fast_detection = net.status(Side::B).detection_time;
    assert_eq!(fast_detection, Some(300 * MS));
    let slow = SessionConfig {
        desired_min_tx: Duration::from_secs(1),
        ..FAST
    };
    let now = net.now;
    net.a.set(now, B, slow);
    net.run_for(Duration::from_secs(2));
    assert!(!net.status(Side::A).poll_active, "B answered the Poll");
    assert_eq!(net.status(Side::B).detection_time, Some(3000 * MS));
    let snap = net.a.snapshot(B).unwrap();
    net.mute = Some(Side::A);
    net.run_for(Duration::from_secs(1));
    net.drain();
    let mut resumed = rampart_bfd::Endpoint::new(79);
    let now = net.now;
    resumed.resume(now, B, FAST, &snap);
    net.a = resumed;
    net.mute = None;
    net.run_for(Duration::from_secs(2));
    assert!(net.transitions.is_empty(), "{:?}", net.transitions);
    assert_eq!(net.state(Side::B), State::Up);
    assert!(net.status(Side::A).counters.polls >= 1);
    assert_eq!(net.status(Side::B).detection_time, fast_detection);
}

#[test]
fn a_resumed_session_goes_on_without_the_peer_noticing() {
    // `rampart upgrade`: A's program is replaced; for 150 ms (the exec)
    // A sends nothing, then the new program resumes the session.
    let mut net = up_pair();
    net.transitions.clear();
    let snap = net.a.snapshot(B).unwrap();
    net.mute = Some(Side::A);
    net.run_for(150 * MS);
    net.drain();
    let mut resumed = rampart_bfd::Endpoint::new(77);
    let now = net.now;
    assert_eq!(
        resumed.resume(now, B, FAST, &snap),
        snap.local_discriminator
    );
    net.a = resumed;
    net.mute = None;
    assert_eq!(net.state(Side::A), State::Up, "Up from the first moment");
    net.run_for(Duration::from_secs(5));
    assert!(net.transitions.is_empty(), "{:?}", net.transitions);
    assert_eq!(net.state(Side::B), State::Up);
    assert!(net.status(Side::A).counters.packets_in > 40);

    // Without it, the new program's Down takes B down at once.
    let now = net.now;
    net.a = rampart_bfd::Endpoint::new(78);
    net.a.set(now, B, FAST);
    net.run_for(10 * MS);
    let (_, _, t) = net
        .transitions
        .iter()
        .find(|(_, s, _)| *s == Side::B)
        .unwrap();
    assert_eq!(
        (t.from, t.to, t.diag),
        (State::Up, State::Down, Diag::NeighborSignaledSessionDown)
    );
}

//! The hold-down filter on a virtual clock.

use std::time::{Duration, Instant};

use rampart_bgp::HoldDown;

const S: fn(u64) -> Duration = Duration::from_secs;

#[test]
fn the_first_rise_is_immediate() {
    let t0 = Instant::now();
    let mut h = HoldDown::new(S(30));
    assert!(!h.output());
    assert!(h.set(t0, true));
    assert_eq!(h.poll_timeout(), None);
}

#[test]
fn a_fall_withdraws_at_once_and_the_next_rise_waits() {
    let t0 = Instant::now();
    let mut h = HoldDown::new(S(30));
    h.set(t0, true);
    assert!(!h.set(t0 + S(10), false));
    assert!(!h.set(t0 + S(20), true), "held");
    assert_eq!(h.poll_timeout(), Some(t0 + S(50)));
    assert!(!h.handle_timeout(t0 + S(49)));
    assert!(h.handle_timeout(t0 + S(50)));
    assert_eq!(h.poll_timeout(), None);
}

#[test]
fn a_flapping_input_keeps_the_route_withdrawn_until_it_settles() {
    let t0 = Instant::now();
    let mut h = HoldDown::new(S(30));
    h.set(t0, true);
    let mut changes = 0;
    let mut last = h.output();
    // Flap every 5 s for two minutes.
    for i in 1..=24u64 {
        let now = t0 + S(5 * i);
        h.handle_timeout(now);
        h.set(now, i % 2 == 0);
        if h.output() != last {
            changes += 1;
            last = h.output();
        }
    }
    assert_eq!(
        changes, 1,
        "one withdrawal, no re-announcement while flapping"
    );
    // Up since t0 + 120 s: announced at t0 + 150 s.
    assert!(h.input());
    assert!(!h.handle_timeout(t0 + S(149)));
    assert!(h.handle_timeout(t0 + S(150)));
}

#[test]
fn zero_hold_down_passes_everything_through() {
    let t0 = Instant::now();
    let mut h = HoldDown::new(Duration::ZERO);
    assert!(h.set(t0, true));
    assert!(!h.set(t0, false));
    assert!(h.set(t0, true));
}

//! Changing the timers of a session that is Up: the Poll Sequence (RFC
//! 5880 §6.5) and the rules of §6.8.3 on when a new value may be used.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{B, FAST, Net, Side};
use rampart_bfd::{SessionConfig, State};

const MS: Duration = Duration::from_millis(1);

/// Up, with a 20 ms link so that a Poll and its Final are apart.
fn up_pair(a: SessionConfig, b: SessionConfig) -> Net {
    let mut net = Net::new(a, b);
    net.delay = 20 * MS;
    net.run_for(Duration::from_secs(3));
    assert_eq!(net.state(Side::A), State::Up);
    assert!(
        !net.status(Side::A).poll_active,
        "the Up transition's poll is over"
    );
    net
}

/// When `side` received the first packet with F set sent after `from`.
fn final_heard(net: &Net, side: Side, from: Instant) -> Instant {
    let other = if side == Side::A { Side::B } else { Side::A };
    let sent = net
        .sent
        .iter()
        .find(|(t, s, p)| *t >= from && *s == other && p.final_)
        .map(|(t, _, _)| *t)
        .expect("a Final was sent");
    sent + net.delay
}

#[test]
fn a_longer_tx_interval_is_used_only_after_the_final() {
    let mut net = up_pair(FAST, FAST);
    let change = net.now;
    let slower = SessionConfig {
        desired_min_tx: 300 * MS,
        ..FAST
    };
    net.a.set(change, B, slower);
    net.run_for(Duration::from_secs(3));

    // The next periodic packets carry P and the new value; B answers each
    // Poll with F at once, whatever its own timer.
    let polls: Vec<_> = net
        .periodic(Side::A, change)
        .into_iter()
        .filter(|(_, p)| p.poll)
        .collect();
    assert!(!polls.is_empty());
    assert!(
        polls
            .iter()
            .all(|(_, p)| p.desired_min_tx_us == 300_000 && !p.final_)
    );
    let first_poll = polls[0].0;
    let answered = net
        .sent
        .iter()
        .find(|(t, s, p)| *s == Side::B && p.final_ && *t >= first_poll)
        .unwrap();
    assert_eq!(answered.0, first_poll + net.delay, "Final sent on receipt");
    assert!(!answered.2.poll, "§6.5: never P and F together");

    // Until A hears the Final it keeps sending every 100 ms at most
    // (§6.8.3: B may still time A out at 3 x 100 ms); then 225..=300 ms.
    let done = final_heard(&net, Side::A, change);
    // From the last packet before the change on.
    let sends = net.periodic(Side::A, change - 100 * MS);
    for w in sends.windows(2) {
        let gap = w[1].0 - w[0].0;
        if w[1].0 <= done {
            assert!(gap <= 100 * MS, "gap {gap:?} before the Final");
        } else if w[0].0 > done {
            assert!((225 * MS..=300 * MS).contains(&gap), "gap {gap:?} after");
        }
    }
    assert!(
        sends
            .iter()
            .any(|(t, _)| *t > done + Duration::from_secs(1))
    );
    let a = net.status(Side::A);
    assert!(!a.poll_active);
    assert_eq!(a.tx_interval, 300 * MS);
    // B now gives A 3 x 300 ms.
    assert_eq!(net.status(Side::B).detection_time, Some(900 * MS));
    assert_eq!(net.status(Side::A).counters.down_transitions, 0);
}

#[test]
fn a_shorter_rx_interval_shortens_detection_only_after_the_final() {
    // B could send every 20 ms but A asks for 100 ms; then A asks for 50.
    let eager = SessionConfig {
        desired_min_tx: 20 * MS,
        ..FAST
    };
    let mut net = up_pair(FAST, eager);
    assert_eq!(net.status(Side::A).detection_time, Some(300 * MS));
    let change = net.now;
    let quicker = SessionConfig {
        required_min_rx: 50 * MS,
        ..FAST
    };
    net.a.set(change, B, quicker);
    net.run_for(MS);
    let a = net.status(Side::A);
    assert!(a.poll_active);
    assert_eq!(a.required_min_rx, 50 * MS, "advertised at once");
    assert_eq!(a.detection_time, Some(300 * MS), "but not relied on yet");

    net.run_for(Duration::from_secs(2));
    let done = final_heard(&net, Side::A, change);
    assert!(!net.status(Side::A).poll_active);
    assert_eq!(net.status(Side::A).detection_time, Some(150 * MS));
    // B honours the shorter interval as soon as it reads it (§6.8.3).
    for g in net.gaps(Side::B, done + 100 * MS) {
        assert!((37 * MS..=50 * MS).contains(&g), "B gap {g:?}");
    }
}

#[test]
fn a_change_during_a_poll_gets_a_poll_of_its_own() {
    let mut net = up_pair(FAST, FAST);
    let t0 = net.now;
    let polls_before = net.status(Side::A).counters.polls;
    net.a.set(
        t0,
        B,
        SessionConfig {
            desired_min_tx: 200 * MS,
            ..FAST
        },
    );
    // Wait for the first P to leave, then change again before its Final
    // can be back (the link takes 20 ms each way).
    while !net.periodic(Side::A, t0).iter().any(|(_, p)| p.poll) {
        net.run_for(MS);
    }
    let t1 = net.now;
    net.a.set(
        t1,
        B,
        SessionConfig {
            desired_min_tx: 400 * MS,
            ..FAST
        },
    );
    net.run_for(Duration::from_secs(4));

    let a = net.status(Side::A);
    assert!(!a.poll_active);
    assert_eq!(a.counters.polls, polls_before + 2);
    assert_eq!(a.tx_interval, 400 * MS);
    assert_eq!(net.status(Side::B).remote_min_tx, 400 * MS);
    // The second sequence began only after a packet without F (§6.8.3).
    let first_final = final_heard(&net, Side::A, t1);
    let second_poll = net
        .periodic(Side::A, first_final)
        .into_iter()
        .find(|(_, p)| p.poll)
        .map(|(t, _)| t)
        .unwrap();
    let plain_between = net.sent.iter().any(|(t, s, p)| {
        *s == Side::B && !p.final_ && *t + net.delay > first_final && *t + net.delay <= second_poll
    });
    assert!(plain_between);
    assert_eq!(a.counters.down_transitions, 0);
}

#[test]
fn a_poll_is_answered_in_any_state() {
    // A is Down and still polls nobody (no peer): after it hears B, its
    // Up transition's change (1 s -> 100 ms) is polled; B's Final
    // arrives even though B's own timer is far off.
    let mut net = Net::new(FAST, FAST);
    net.run_for(Duration::from_secs(1));
    let finals = net.sent.iter().filter(|(_, _, p)| p.final_).count();
    assert!(
        finals >= 2,
        "each side answered the other's Up poll: {finals}"
    );
    for (t, s, p) in net.sent.iter().filter(|(_, _, p)| p.poll) {
        let answer = net
            .sent
            .iter()
            .find(|(t2, s2, p2)| *s2 != *s && p2.final_ && *t2 >= *t)
            .unwrap();
        assert!(answer.0 - *t <= 2 * net.delay, "{p:?} answered late");
    }
}

//! The session state machine on a virtual clock, with the test playing
//! the peer: establishment, timers, OPEN checks, unexpected messages,
//! backoff and collisions.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::harness::{
    Did, Harness, LOCAL_ADDR, LOCAL_AS, LOCAL_ID, PEER_AS, PEER_ID, config, notification, peer_open,
};
use common::net;
use rampart_bgp::{
    Capability, Family, Incoming, Initiator, Message, Notification, Resolution, Route, State,
    Update, resolve_collision,
};

const S: fn(u64) -> Duration = Duration::from_secs;

#[test]
fn reaches_established_and_sends_open_keepalive_routes_eor() {
    let mut t = Harness::new(config());
    t.s.set_routes(t.now, vec![Route::new(net("192.0.2.10/32"))]);
    t.s.start(t.now);
    assert_eq!(t.drain(), vec![Did::Connect, Did::State(State::Connect)]);
    assert!(t.s.connected(t.now, LOCAL_ADDR, Initiator::Local));
    let Did::Send(Message::Open(open)) = t.drain().remove(0) else {
        panic!("OPEN expected")
    };
    assert_eq!(
        (open.my_as, open.hold_time, open.bgp_id),
        (65001, 90, LOCAL_ID)
    );
    assert_eq!(
        open.capabilities,
        vec![
            Capability::multiprotocol(Family::Ipv4Unicast),
            Capability::RouteRefresh,
            Capability::FourOctetAs(LOCAL_AS),
        ]
    );
    assert_eq!(t.s.state(), State::OpenSent);

    t.feed(Message::Open(peer_open(PEER_AS, 90)));
    assert_eq!(
        t.drain(),
        vec![
            Did::Send(Message::Keepalive),
            Did::State(State::OpenConfirm)
        ]
    );
    t.feed(Message::Keepalive);
    let did = t.drain();
    assert_eq!(did[0], Did::State(State::Established));
    let Did::Send(Message::Update(u)) = &did[1] else {
        panic!("UPDATE expected")
    };
    assert_eq!(u.nlri, vec![net("192.0.2.10/32")]);
    // Then End-of-RIB for the one family negotiated, and nothing else.
    assert_eq!(
        did[2..],
        [Did::Send(Message::Update(Update::end_of_rib(
            Family::Ipv4Unicast
        )))]
    );

    let st = t.s.status();
    assert_eq!(st.state, State::Established);
    assert_eq!(st.peer_router_id, Some(PEER_ID));
    assert_eq!((st.hold_time, st.keepalive), (Some(90), Some(S(30))));
    assert_eq!(st.families, vec![Family::Ipv4Unicast]);
    assert!(st.four_octet_as);
    assert_eq!((st.routes_desired, st.routes_exported), (1, 1));
    assert_eq!(st.remote_capabilities, peer_open(PEER_AS, 90).capabilities);
    assert_eq!((st.messages_in.open, st.messages_in.keepalive), (1, 1));
    assert_eq!((st.messages_out.open, st.messages_out.update), (1, 2));
    assert_eq!(st.established_count, 1);
    assert_eq!(st.since, Some(t.now));
}

#[test]
fn hold_timer_expiry_sends_4_0() {
    let mut t = Harness::new(config());
    t.establish();
    let log = t.run(S(95));
    let (at, _) = log
        .iter()
        .find(|(_, d)| matches!(d, Did::Send(Message::Notification(_))))
        .unwrap();
    assert_eq!(*at, S(90));
    let after: Vec<&Did> = log
        .iter()
        .filter(|(t, _)| *t == S(90))
        .map(|(_, d)| d)
        .collect();
    assert_eq!(
        after,
        [
            &Did::Send(Message::Notification(Notification::new(4, 0, vec![]))),
            &Did::Disconnect,
            &Did::State(State::Idle),
        ]
    );
    let err = t.s.status().last_error.unwrap();
    assert_eq!(err.text, "Hold Timer Expired / Unspecific (4, 0)");
}

#[test]
fn keepalive_cadence_is_a_third_of_the_negotiated_hold_time() {
    let mut t = Harness::new(config());
    // The peer proposes 30 s: min(90, 30) = 30, keepalives every 10 s.
    t.establish_with(peer_open(PEER_AS, 30));
    let mut times = Vec::new();
    for _ in 0..10 {
        let log = t.run(S(10));
        times.extend(
            log.into_iter()
                .filter(|(_, d)| *d == Did::Send(Message::Keepalive))
                .map(|(at, _)| at),
        );
        t.feed(Message::Keepalive); // the peer's, keeping our hold timer
    }
    assert_eq!(times, (1..=10).map(|i| S(10 * i)).collect::<Vec<_>>());
    assert_eq!(t.s.state(), State::Established);
}

#[test]
fn an_update_sent_postpones_the_keepalive() {
    let mut t = Harness::new(config());
    t.establish();
    t.advance(S(20));
    t.set_routes(vec![Route::new(net("192.0.2.10/32"))]);
    let log = t.run(S(40));
    let ka: Vec<Duration> = log
        .into_iter()
        .filter(|(_, d)| *d == Did::Send(Message::Keepalive))
        .map(|(at, _)| at)
        .collect();
    assert_eq!(ka, vec![S(50)]);
}

#[test]
fn hold_time_zero_means_no_keepalives_and_no_hold_timer() {
    let mut t = Harness::new(config());
    t.establish_with(peer_open(PEER_AS, 0));
    assert_eq!(t.s.poll_timeout(), None);
    assert_eq!(t.s.status().keepalive, None);
    assert!(t.run(S(3600)).is_empty());
    assert_eq!(t.s.state(), State::Established);
}

#[test]
fn open_hold_timer_runs_four_minutes_in_open_sent() {
    let mut t = Harness::new(config());
    t.s.start(t.now);
    t.s.connected(t.now, LOCAL_ADDR, Initiator::Local);
    t.drain();
    let log = t.run(S(300));
    assert_eq!(
        log[0],
        (
            S(240),
            Did::Send(Message::Notification(Notification::new(4, 0, vec![])))
        )
    );
}

#[test]
fn connect_retry_backs_off_from_5_to_120_seconds() {
    let mut t = Harness::new(config());
    t.s.start(t.now);
    let mut attempts = Vec::new();
    for _ in 0..8 {
        for d in t.drain() {
            if d == Did::Connect {
                attempts.push(t.elapsed());
                t.s.connect_failed(t.now);
            }
        }
        let next = t.s.poll_timeout().unwrap();
        t.now = next;
        t.s.handle_timeout(next);
    }
    let secs: Vec<u64> = attempts.iter().map(Duration::as_secs).collect();
    // Waits 5, 10, 20, 40, 80, 120, 120.
    assert_eq!(secs, vec![0, 5, 15, 35, 75, 155, 275, 395]);
}

#[test]
fn a_hanging_connect_is_retried_after_the_retry_time() {
    let mut t = Harness::new(config());
    t.s.start(t.now);
    t.drain();
    let log = t.run(S(6));
    assert_eq!(
        log,
        vec![(S(5), Did::Disconnect), (S(5), Did::Connect)],
        "abandon and reconnect, staying in Connect"
    );
}

#[test]
fn established_resets_the_backoff() {
    let mut t = Harness::new(config());
    t.s.start(t.now);
    t.drain();
    for _ in 0..3 {
        t.s.connect_failed(t.now);
        let next = t.s.poll_timeout().unwrap();
        t.now = next;
        t.s.handle_timeout(next);
        t.drain();
    }
    t.s.connected(t.now, LOCAL_ADDR, Initiator::Local);
    t.feed(Message::Open(peer_open(PEER_AS, 90)));
    t.feed(Message::Keepalive);
    t.drain();
    t.s.closed(t.now);
    assert_eq!(t.drain(), vec![Did::State(State::Idle)]);
    let start = t.elapsed();
    let log = t.run(S(10));
    assert_eq!(log[0].0 - start, S(5));
    assert_eq!(log[0].1, Did::Connect);
}

#[test]
fn passive_sessions_wait_for_the_peer() {
    let mut cfg = config();
    cfg.passive = true;
    let mut t = Harness::new(cfg);
    t.s.start(t.now);
    assert_eq!(t.drain(), vec![Did::State(State::Active)]);
    assert_eq!(t.s.poll_timeout(), None);
    assert_eq!(t.s.incoming(t.now), Incoming::Accept);
    assert!(t.s.connected(t.now, LOCAL_ADDR, Initiator::Remote));
    assert_eq!(t.s.state(), State::OpenSent);
}

/// Connects and answers with `open`; returns what the session sent.
fn answer_open(open: rampart_bgp::Open) -> (Harness, Vec<Message>) {
    let mut t = Harness::new(config());
    t.s.start(t.now);
    t.s.connected(t.now, LOCAL_ADDR, Initiator::Local);
    t.drain();
    t.feed(Message::Open(open));
    let sent = t.sent();
    (t, sent)
}

fn code_of(sent: &[Message]) -> (u8, u8) {
    let n = notification(sent).unwrap();
    (n.code, n.subcode)
}

#[test]
fn bad_peer_as_is_2_2() {
    let (t, sent) = answer_open(peer_open(65099, 90));
    assert_eq!(code_of(&sent), (2, 2));
    assert_eq!(t.s.state(), State::Idle);
    assert_eq!(
        t.s.status().last_error.unwrap().text,
        "OPEN Message Error / Bad Peer AS (2, 2): bad peer AS 65099"
    );
}

#[test]
fn hold_time_1_or_2_is_2_6() {
    for hold in [1, 2] {
        let (_, sent) = answer_open(peer_open(PEER_AS, hold));
        assert_eq!(code_of(&sent), (2, 6));
    }
    let (t, _) = answer_open(peer_open(PEER_AS, 3));
    assert_eq!(t.s.state(), State::OpenConfirm);
    assert_eq!(t.s.status().keepalive, Some(S(1)));
}

#[test]
fn own_identifier_on_an_internal_session_is_2_3() {
    let mut cfg = config();
    cfg.peer_as = LOCAL_AS;
    let mut t = Harness::new(cfg);
    t.s.start(t.now);
    t.s.connected(t.now, LOCAL_ADDR, Initiator::Local);
    t.drain();
    let mut open = peer_open(LOCAL_AS, 90);
    open.bgp_id = LOCAL_ID;
    t.feed(Message::Open(open));
    assert_eq!(code_of(&t.sent()), (2, 3));
}

#[test]
fn no_common_family_is_2_7_listing_what_we_wanted() {
    let mut open = peer_open(PEER_AS, 90);
    open.capabilities = vec![Capability::multiprotocol(Family::Ipv6Unicast)];
    let (_, sent) = answer_open(open);
    let n = notification(&sent).unwrap();
    assert_eq!((n.code, n.subcode), (2, 7));
    assert_eq!(n.data, vec![1, 4, 0, 1, 0, 1]);
}

#[test]
fn a_peer_without_multiprotocol_speaks_ipv4() {
    let mut open = peer_open(PEER_AS, 90);
    open.capabilities = vec![];
    let (t, _) = answer_open(open);
    assert_eq!(t.s.state(), State::OpenConfirm);
    assert_eq!(t.s.status().families, vec![Family::Ipv4Unicast]);
    assert!(!t.s.status().four_octet_as);
}

#[test]
fn unexpected_messages_are_fsm_errors_with_the_state_subcode() {
    let (_, sent) = {
        let mut t = Harness::new(config());
        t.s.start(t.now);
        t.s.connected(t.now, LOCAL_ADDR, Initiator::Local);
        t.drain();
        t.feed(Message::Keepalive);
        ((), t.sent())
    };
    assert_eq!(code_of(&sent), (5, 1));

    let (mut t, _) = answer_open(peer_open(PEER_AS, 90));
    t.feed(Message::Update(Update::default()));
    assert_eq!(code_of(&t.sent()), (5, 2));

    let mut t = Harness::new(config());
    t.establish();
    t.feed(Message::Open(peer_open(PEER_AS, 90)));
    assert_eq!(code_of(&t.sent()), (5, 3));
}

#[test]
fn malformed_messages_in_established_are_answered_and_close() {
    let mut t = Harness::new(config());
    t.establish();
    // An UPDATE with an ORIGIN of 3.
    let mut bad = vec![0xff; 16];
    bad.extend([0, 27, 2, 0, 0, 0, 4, 0x40, 1, 1, 3]);
    t.feed_bytes(&bad);
    let did = t.drain();
    assert_eq!(
        did,
        vec![
            Did::Send(Message::Notification(Notification::new(
                3,
                6,
                vec![0x40, 1, 1, 3]
            ))),
            Did::Disconnect,
            Did::State(State::Idle),
        ]
    );
    // Out of step: the marker is wrong.
    let mut t = Harness::new(config());
    t.establish();
    t.feed_bytes(&[0; 19]);
    assert_eq!(code_of(&t.sent()), (1, 1));
}

#[test]
fn messages_split_anywhere_are_reassembled() {
    let mut t = Harness::new(config());
    t.s.start(t.now);
    t.s.connected(t.now, LOCAL_ADDR, Initiator::Local);
    t.drain();
    let mut bytes = rampart_bgp::to_bytes(&Message::Open(peer_open(PEER_AS, 90)), t.ctx).unwrap();
    bytes.extend(rampart_bgp::to_bytes(&Message::Keepalive, t.ctx).unwrap());
    for b in bytes {
        t.feed_bytes(&[b]);
    }
    assert_eq!(t.s.state(), State::Established);
    assert_eq!(t.s.status().messages_in.total(), 2);
}

#[test]
fn a_received_notification_closes_and_restarts_after_the_backoff() {
    let mut t = Harness::new(config());
    t.establish();
    t.feed(Message::Notification(Notification::admin_shutdown(
        "reboot",
    )));
    assert_eq!(t.drain(), vec![Did::Disconnect, Did::State(State::Idle)]);
    let err = t.s.status().last_error.unwrap();
    assert_eq!(err.direction, rampart_bgp::Direction::Received);
    assert_eq!(
        err.text,
        "Cease / Administrative Shutdown (6, 2): \"reboot\""
    );
    let log = t.run(S(6));
    assert_eq!(
        log,
        vec![(S(5), Did::Connect), (S(5), Did::State(State::Connect))]
    );
}

#[test]
fn bfd_down_closes_at_once_with_cease_6_10_and_restarts_after_the_backoff() {
    let mut t = Harness::new(config());
    t.establish();
    t.s.bfd_down(t.now);
    let did = t.drain();
    let Some(Did::Send(Message::Notification(n))) = did.first() else {
        panic!("{did:?}");
    };
    assert_eq!((n.code, n.subcode), (6, 10));
    assert_eq!(&did[1..], [Did::Disconnect, Did::State(State::Idle)]);
    assert_eq!(
        t.s.status().last_error.unwrap().text,
        "Cease / BFD Down (6, 10)"
    );
    let log = t.run(S(6));
    assert_eq!(
        log,
        vec![(S(5), Did::Connect), (S(5), Did::State(State::Connect))]
    );
    // While connecting there is no session for BFD to end.
    t.s.bfd_down(t.now);
    assert_eq!(t.drain(), vec![]);
    assert_eq!(t.s.state(), State::Connect);
}

#[test]
fn stop_sends_cease_and_stays_idle() {
    let mut t = Harness::new(config());
    t.establish();
    t.s.stop(t.now);
    assert_eq!(code_of(&t.sent()), (6, 2));
    assert_eq!(t.s.poll_timeout(), None);
    assert_eq!(t.s.incoming(t.now), Incoming::Reject);
}

// === collisions (RFC 4271 §6.8) ===

#[test]
fn resolve_collision_keeps_the_connection_of_the_higher_identifier() {
    let low = Ipv4Addr::new(10, 0, 0, 1);
    let high = Ipv4Addr::new(10, 0, 0, 2);
    // We are lower: the peer's connection survives.
    assert_eq!(
        resolve_collision(low, 1, high, 2, Initiator::Local),
        Resolution::KeepNew
    );
    assert_eq!(
        resolve_collision(low, 1, high, 2, Initiator::Remote),
        Resolution::KeepExisting
    );
    // We are higher: ours survives.
    assert_eq!(
        resolve_collision(high, 1, low, 2, Initiator::Local),
        Resolution::KeepExisting
    );
    assert_eq!(
        resolve_collision(high, 1, low, 2, Initiator::Remote),
        Resolution::KeepNew
    );
    // Unsigned comparison: 200.0.0.1 > 10.0.0.1.
    let big = Ipv4Addr::new(200, 0, 0, 1);
    assert_eq!(
        resolve_collision(big, 1, low, 2, Initiator::Local),
        Resolution::KeepExisting
    );
    // Equal identifiers (external session): the larger AS wins.
    assert_eq!(
        resolve_collision(low, 1, low, 2, Initiator::Local),
        Resolution::KeepNew
    );
    assert_eq!(
        resolve_collision(low, 2, low, 1, Initiator::Local),
        Resolution::KeepExisting
    );
}

#[test]
fn collision_in_open_confirm_with_a_higher_peer_moves_to_its_connection() {
    // Our identifier 192.0.2.1 < the peer's 192.0.2.2.
    let (mut t, _) = answer_open(peer_open(PEER_AS, 90));
    assert_eq!(t.s.incoming(t.now), Incoming::Accept);
    assert_eq!(
        t.drain(),
        vec![
            Did::Send(Message::Notification(Notification::new(6, 7, vec![]))),
            Did::Disconnect,
            Did::State(State::Active),
        ]
    );
    assert!(t.s.connected(t.now, LOCAL_ADDR, Initiator::Remote));
    assert!(matches!(t.sent()[..], [Message::Open(_)]));
    t.feed(Message::Open(peer_open(PEER_AS, 90)));
    t.feed(Message::Keepalive);
    assert_eq!(t.s.state(), State::Established);
}

#[test]
fn collision_with_a_lower_peer_keeps_our_connection() {
    let mut open = peer_open(PEER_AS, 90);
    open.bgp_id = Ipv4Addr::new(192, 0, 2, 0);
    let (mut t, _) = answer_open(open);
    assert_eq!(t.s.incoming(t.now), Incoming::Reject);
    assert!(t.drain().is_empty());
    assert_eq!(t.s.state(), State::OpenConfirm);
}

#[test]
fn incoming_in_open_sent_without_the_identifier_is_refused_and_established_keeps_its_own() {
    let mut t = Harness::new(config());
    t.s.start(t.now);
    t.s.connected(t.now, LOCAL_ADDR, Initiator::Local);
    t.drain();
    assert_eq!(t.s.incoming(t.now), Incoming::Reject);
    let mut t = Harness::new(config());
    t.establish();
    assert_eq!(t.s.incoming(t.now), Incoming::Reject);
}

#[test]
fn incoming_while_connecting_replaces_our_attempt() {
    let mut t = Harness::new(config());
    t.s.start(t.now);
    t.drain();
    assert_eq!(t.s.incoming(t.now), Incoming::Accept);
    assert_eq!(t.drain(), vec![Did::Disconnect, Did::State(State::Active)]);
    assert!(t.s.connected(t.now, LOCAL_ADDR, Initiator::Remote));
    // A late report of our own attempt is refused: the driver closes it.
    assert!(!t.s.connected(t.now, LOCAL_ADDR, Initiator::Local));
    assert_eq!(t.s.state(), State::OpenSent);
}

//! Two sessions talking to each other over an in-memory TCP pipe on a
//! virtual clock (after quinn-proto's `Pair`): establishment, routes,
//! changes without reset, keepalives, partitions, graceful shutdown.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use common::net;
use rampart_bgp::{
    Action, Attribute, Context, Family, Incoming, Initiator, Message, Route, Session,
    SessionConfig, State, decode, frame,
};

const A: usize = 0;
const B: usize = 1;

fn addr(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1 + i as u8))
}

struct Pair {
    nodes: [Session; 2],
    t0: Instant,
    now: Instant,
    /// The TCP connection, if up.
    link: bool,
    /// Partitioned: bytes are lost, connects time out.
    cut: bool,
    /// A connect attempt waiting for the network.
    connecting: [bool; 2],
    /// Bytes written, not yet delivered.
    outbox: [Vec<u8>; 2],
    /// Partial messages a side has received, and the messages decoded.
    inbox: [Vec<u8>; 2],
    pub received: [Vec<(Duration, Message)>; 2],
    pub states: [Vec<(Duration, State)>; 2],
}

impl Pair {
    fn new(a: SessionConfig, b: SessionConfig) -> Self {
        let t0 = Instant::now();
        Self {
            nodes: [Session::new(a), Session::new(b)],
            t0,
            now: t0,
            link: false,
            cut: false,
            connecting: [false; 2],
            outbox: Default::default(),
            inbox: Default::default(),
            received: Default::default(),
            states: Default::default(),
        }
    }

    fn start(&mut self) {
        for n in &mut self.nodes {
            n.start(self.now);
        }
    }

    fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    /// Carries out `side`'s actions; whether there were any.
    fn act(&mut self, side: usize) -> bool {
        let mut any = false;
        while let Some(action) = self.nodes[side].poll_action() {
            any = true;
            match action {
                Action::Connect => self.connecting[side] = true,
                Action::Transmit(bytes) if self.link => self.outbox[side].extend(bytes),
                Action::Transmit(_) => {}
                Action::Disconnect if self.link => {
                    // What was written goes out before the FIN.
                    self.deliver(side);
                    self.link = false;
                    let other = 1 - side;
                    self.inbox = Default::default();
                    self.outbox[other].clear();
                    self.nodes[other].closed(self.now);
                }
                Action::Disconnect => self.connecting[side] = false,
                Action::StateChanged { to, .. } => {
                    let at = self.elapsed();
                    self.states[side].push((at, to));
                }
            }
        }
        any
    }

    fn deliver(&mut self, from: usize) {
        let bytes = std::mem::take(&mut self.outbox[from]);
        if bytes.is_empty() || self.cut {
            return;
        }
        let to = 1 - from;
        // Decode for the test's eyes (both sides speak 4-octet AS).
        self.inbox[to].extend(&bytes);
        while let Ok(Some(len)) = frame(&self.inbox[to]) {
            let msg: Vec<u8> = self.inbox[to].drain(..len).collect();
            let ctx = Context {
                four_octet_as: true,
            };
            if let Ok(m) = decode(&msg, ctx) {
                let at = self.elapsed();
                self.received[to].push((at, m));
            }
        }
        self.nodes[to].handle_bytes(self.now, &bytes);
    }

    /// Runs everything that happens at `now`.
    fn pump(&mut self) {
        loop {
            let mut progress = self.act(A) | self.act(B);
            for side in [A, B] {
                if !self.outbox[side].is_empty() {
                    self.deliver(side);
                    progress = true;
                }
            }
            for side in [A, B] {
                if !std::mem::take(&mut self.connecting[side]) {
                    continue;
                }
                progress = true;
                if self.cut {
                    self.nodes[side].connect_failed(self.now);
                    continue;
                }
                let other = 1 - side;
                match self.nodes[other].incoming(self.now) {
                    Incoming::Accept => {
                        self.act(other);
                        self.link = true;
                        assert!(self.nodes[side].connected(self.now, addr(side), Initiator::Local));
                        assert!(self.nodes[other].connected(
                            self.now,
                            addr(other),
                            Initiator::Remote
                        ));
                    }
                    Incoming::Reject => self.nodes[side].connect_failed(self.now),
                }
            }
            if !progress {
                return;
            }
        }
    }

    fn run(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            self.pump();
            let next = self.nodes.iter().filter_map(Session::poll_timeout).min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    for n in &mut self.nodes {
                        n.handle_timeout(self.now);
                    }
                }
                _ => break,
            }
        }
        self.now = end;
    }

    fn state(&self, side: usize) -> State {
        self.nodes[side].state()
    }

    /// UPDATE prefixes `side` received since `since`: (announced, withdrawn).
    fn routes_received(
        &self,
        side: usize,
        since: Duration,
    ) -> (Vec<ipnet::IpNet>, Vec<ipnet::IpNet>) {
        let (mut ann, mut wd) = (Vec::new(), Vec::new());
        for (_, m) in self.received[side].iter().filter(|(t, _)| *t >= since) {
            let Message::Update(u) = m else { continue };
            ann.extend(&u.nlri);
            wd.extend(&u.withdrawn);
            for a in &u.attributes {
                match a {
                    Attribute::MpReach(mp) => ann.extend(&mp.nlri),
                    Attribute::MpUnreach(mp) => wd.extend(&mp.withdrawn),
                    _ => {}
                }
            }
        }
        (ann, wd)
    }
}

fn configs() -> (SessionConfig, SessionConfig) {
    let mut a = SessionConfig::new(65001, 65002, Ipv4Addr::new(192, 0, 2, 1), addr(B));
    a.families = vec![Family::Ipv4Unicast, Family::Ipv6Unicast];
    a.next_hop_v6 = Some("2001:db8::a".parse().unwrap());
    let mut b = SessionConfig::new(65002, 65001, Ipv4Addr::new(192, 0, 2, 2), addr(A));
    b.families = vec![Family::Ipv4Unicast, Family::Ipv6Unicast];
    b.connect_retry.jitter_seed = Some(7);
    (a, b)
}

fn routes() -> Vec<Route> {
    vec![
        Route::new(net("192.0.2.10/32")),
        Route::new(net("2001:db8:100::1/128")),
    ]
}

fn established() -> Pair {
    let (a, b) = configs();
    let mut p = Pair::new(a, b);
    p.nodes[A].set_routes(p.now, routes());
    p.start();
    p.run(Duration::from_secs(1));
    assert_eq!(p.state(A), State::Established);
    assert_eq!(p.state(B), State::Established);
    p
}

#[test]
fn two_sessions_establish_and_exchange_routes() {
    let p = established();
    let (ann, wd) = p.routes_received(B, Duration::ZERO);
    assert_eq!(ann, vec![net("192.0.2.10/32"), net("2001:db8:100::1/128")]);
    assert!(wd.is_empty());
    // Both End-of-RIB markers reached B; A got B's (B announces nothing).
    for side in [A, B] {
        let eors: Vec<Family> = p.received[side]
            .iter()
            .filter_map(|(_, m)| match m {
                Message::Update(u) => u.end_of_rib_family(),
                _ => None,
            })
            .collect();
        assert_eq!(eors, vec![Family::Ipv4Unicast, Family::Ipv6Unicast]);
    }
    let st = p.nodes[B].status();
    assert_eq!(st.peer_router_id, Some(Ipv4Addr::new(192, 0, 2, 1)));
    assert_eq!(st.families, vec![Family::Ipv4Unicast, Family::Ipv6Unicast]);
    assert_eq!(p.nodes[A].status().routes_exported, 2);
}

#[test]
fn route_changes_reach_the_peer_without_a_reset() {
    let mut p = established();
    let t = p.elapsed();
    p.nodes[A].set_routes(
        p.now,
        vec![
            Route::new(net("192.0.2.10/32")),
            Route::new(net("192.0.2.11/32")),
        ],
    );
    p.run(Duration::from_secs(1));
    let (ann, wd) = p.routes_received(B, t);
    assert_eq!(ann, vec![net("192.0.2.11/32")]);
    assert_eq!(wd, vec![net("2001:db8:100::1/128")]);
    for side in [A, B] {
        assert_eq!(p.nodes[side].status().established_count, 1);
        assert_eq!(p.state(side), State::Established);
    }
}

#[test]
fn keepalives_hold_the_session_for_an_hour() {
    let mut p = established();
    p.run(Duration::from_secs(3600));
    for side in [A, B] {
        assert_eq!(p.state(side), State::Established);
        let ka = p.nodes[side].status().messages_out.keepalive;
        // One on OpenSent→OpenConfirm, then one per 30 s.
        assert!((120..=122).contains(&ka), "{ka}");
    }
}

#[test]
fn a_partition_expires_the_hold_timers_and_the_session_comes_back() {
    let mut p = established();
    p.cut = true;
    let cut_at = p.elapsed();
    p.run(Duration::from_secs(100));
    for side in [A, B] {
        let (at, _) = p.states[side]
            .iter()
            .find(|(t, s)| *t > cut_at && *s == State::Idle)
            .unwrap();
        let hold = *at - cut_at;
        // The last keepalive came up to 30 s before the cut.
        assert!(
            hold <= Duration::from_secs(90) && hold >= Duration::from_secs(60),
            "{hold:?}"
        );
        let err = p.nodes[side].status().last_error.unwrap();
        assert_eq!(err.notification.map(|n| (n.code, n.subcode)), Some((4, 0)));
    }
    p.cut = false;
    p.link = false;
    p.run(Duration::from_secs(300));
    for side in [A, B] {
        assert_eq!(p.state(side), State::Established);
        assert_eq!(p.nodes[side].status().established_count, 2);
    }
    let (ann, _) = p.routes_received(B, cut_at + Duration::from_secs(100));
    assert_eq!(ann.len(), 2, "routes announced again");
}

#[test]
fn graceful_shutdown_withdraws_before_the_cease_reaches_the_peer() {
    let mut p = established();
    let t = p.elapsed();
    p.nodes[A].shutdown(p.now, "upgrade to rampart 0.2", Duration::from_secs(2));
    p.run(Duration::from_secs(10));
    let after: Vec<&(Duration, Message)> =
        p.received[B].iter().filter(|(at, _)| *at >= t).collect();
    let (w_at, _) = after
        .iter()
        .find(|(_, m)| matches!(m, Message::Update(_)))
        .unwrap();
    let (n_at, n) = after
        .iter()
        .find_map(|(at, m)| match m {
            Message::Notification(n) => Some((at, n)),
            _ => None,
        })
        .unwrap();
    assert_eq!(*n_at - *w_at, Duration::from_secs(2));
    assert_eq!(n.shutdown_message(), Some("upgrade to rampart 0.2"));
    let (_, wd) = p.routes_received(B, t);
    assert_eq!(wd.len(), 2);
    assert_eq!(p.state(A), State::Idle);
    // B keeps trying; A, stopped, refuses.
    assert_ne!(p.state(B), State::Established);
    let err = p.nodes[B].status().last_error.unwrap();
    assert!(err.text.contains("upgrade to rampart 0.2"), "{}", err.text);
    // A restarts: the session comes back with the routes.
    p.nodes[A].start(p.now);
    p.run(Duration::from_secs(200));
    assert_eq!(p.state(A), State::Established);
    assert_eq!(p.state(B), State::Established);
}

/// `rampart upgrade`: the session moves to a new process on the same
/// connection. The peer sees a KEEPALIVE and the route differences, no
/// OPEN, no NOTIFICATION, no state change, and the session holds on.
#[test]
fn an_established_session_moves_to_another_process_unnoticed() {
    let mut p = established();
    p.run(Duration::from_secs(45));
    let t = p.elapsed();
    let h = p.nodes[A].handover().unwrap();
    assert_eq!(
        h.exported,
        vec![net("192.0.2.10/32"), net("2001:db8:100::1/128")]
    );
    let (a, _) = configs();
    let wanted = vec![
        Route::new(net("192.0.2.10/32")),
        Route::new(net("192.0.2.12/32")),
    ];
    // The old process is gone; the connection (the Pair's link) stays.
    p.nodes[A] = Session::resume(a, p.now, wanted, h).unwrap();
    assert_eq!(p.state(A), State::Established);
    p.run(Duration::from_secs(3600));
    let after: Vec<&Message> = p.received[B]
        .iter()
        .filter(|(at, _)| *at >= t)
        .map(|(_, m)| m)
        .collect();
    assert!(
        matches!(after.first(), Some(Message::Keepalive)),
        "{after:?}"
    );
    assert!(
        !after
            .iter()
            .any(|m| matches!(m, Message::Open(_) | Message::Notification(_))),
        "{after:?}"
    );
    let (ann, wd) = p.routes_received(B, t);
    assert_eq!(ann, vec![net("192.0.2.10/32"), net("192.0.2.12/32")]);
    assert_eq!(wd, vec![net("2001:db8:100::1/128")]);
    assert_eq!(p.state(B), State::Established);
    assert_eq!(p.nodes[B].status().established_count, 1);
    assert!(
        p.states[B].iter().all(|(at, _)| *at < t),
        "{:?}",
        p.states[B]
    );
    assert!(
        p.states[A].iter().all(|(at, _)| *at < t),
        "{:?}",
        p.states[A]
    );
    assert_eq!(p.nodes[A].status().routes_exported, 2);
}

/// Part of a message read before the handover is completed by the bytes
/// that follow on the connection.
#[test]
fn a_message_split_across_the_handover_is_read_whole() {
    let p = established();
    let mut h = p.nodes[A].handover().unwrap();
    let mut keepalive = Vec::new();
    rampart_bgp::encode(
        &Message::Keepalive,
        Context {
            four_octet_as: true,
        },
        &mut keepalive,
    )
    .unwrap();
    h.pending = keepalive[..10].to_vec();
    let (a, _) = configs();
    let mut s = Session::resume(a, p.now, routes(), h).unwrap();
    assert_eq!(s.status().messages_in.keepalive, 0);
    s.handle_bytes(p.now, &keepalive[10..]);
    assert_eq!(s.status().messages_in.keepalive, 1);
    assert_eq!(s.state(), State::Established);
}

/// Only an Established session crosses, and only to a config that still
/// accepts the peer's OPEN.
#[test]
fn a_handover_needs_an_established_session_and_a_matching_config() {
    let (a, b) = configs();
    let mut p = Pair::new(a, b);
    assert_eq!(p.nodes[A].handover(), None);
    p.start();
    assert_eq!(p.state(A), State::Connect);
    assert_eq!(p.nodes[A].handover(), None);

    let p = established();
    let h = p.nodes[A].handover().unwrap();
    let (mut a, _) = configs();
    a.peer_as = 65099;
    assert!(Session::resume(a, p.now, routes(), h.clone()).is_err());
    let mut broken = h;
    broken.peer_open.truncate(20);
    let (a, _) = configs();
    assert!(Session::resume(a, p.now, routes(), broken).is_err());
}

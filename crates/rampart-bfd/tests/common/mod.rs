//! Two endpoints joined by a virtual link, on a virtual clock: each side's
//! packets reach the other after `delay`, unless the link is cut or the
//! seeded loss drops them. Everything each side sends and every state
//! change is recorded with its time, for the tests to assert on.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use rampart_bfd::{Action, ControlPacket, Endpoint, SessionConfig, TTL, Transition, decode};

pub const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
pub const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

/// rampart's defaults: 100 ms both ways, 3 packets.
pub const FAST: SessionConfig = SessionConfig {
    desired_min_tx: Duration::from_millis(100),
    required_min_rx: Duration::from_millis(100),
    detect_mult: 3,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    A,
    B,
}

impl Side {
    pub fn addr(self) -> IpAddr {
        match self {
            Side::A => A,
            Side::B => B,
        }
    }
}

pub struct Net {
    pub start: Instant,
    pub now: Instant,
    pub a: Endpoint,
    pub b: Endpoint,
    pub delay: Duration,
    /// Nothing gets through either way.
    pub cut: bool,
    /// Packets from this side are lost.
    pub mute: Option<Side>,
    /// Drop this fraction of packets each way (seeded).
    pub loss: f64,
    rng: u64,
    /// (arrival, sender, bytes)
    wire: Vec<(Instant, Side, Vec<u8>)>,
    /// Every packet sent: (time, sender, packet).
    pub sent: Vec<(Instant, Side, ControlPacket)>,
    pub transitions: Vec<(Instant, Side, Transition)>,
}

impl Net {
    /// A and B each configured with a session to the other.
    pub fn new(a: SessionConfig, b: SessionConfig) -> Net {
        let start = Instant::now();
        let mut net = Net {
            start,
            now: start,
            a: Endpoint::new(1),
            b: Endpoint::new(2),
            delay: Duration::from_millis(1),
            cut: false,
            mute: None,
            loss: 0.0,
            rng: 0x9e37_79b9_7f4a_7c15,
            wire: Vec::new(),
            sent: Vec::new(),
            transitions: Vec::new(),
        };
        net.a.set(start, B, a);
        net.b.set(start, A, b);
        net
    }

    pub fn at(&self, d: Duration) -> Instant {
        self.start + d
    }

    pub fn endpoint(&mut self, side: Side) -> &mut Endpoint {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    /// Runs until virtual time `until`.
    pub fn run_until(&mut self, until: Instant) {
        loop {
            self.drain();
            let next = [
                self.a.poll_timeout(),
                self.b.poll_timeout(),
                self.wire.iter().map(|w| w.0).min(),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(t) = next.filter(|t| *t <= until) else {
                self.now = until;
                return;
            };
            self.now = self.now.max(t);
            let now = self.now;
            let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.wire)
                .into_iter()
                .partition(|w| w.0 <= now);
            self.wire = later;
            for (_, from, bytes) in due {
                let (to, src) = match from {
                    Side::A => (&mut self.b, A),
                    Side::B => (&mut self.a, B),
                };
                let _ = to.handle_datagram(now, src, TTL, &bytes);
            }
            self.a.handle_timeout(now);
            self.b.handle_timeout(now);
        }
    }

    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    /// Carries out both sides' actions: packets onto the wire, state
    /// changes into the record.
    pub fn drain(&mut self) {
        for side in [Side::A, Side::B] {
            while let Some((_, action)) = self.endpoint(side).poll_action() {
                self.act(side, action);
            }
        }
    }

    pub fn act(&mut self, side: Side, action: Action) {
        match action {
            Action::Transmit(bytes) => {
                self.sent.push((self.now, side, decode(&bytes).unwrap()));
                if !self.cut && self.mute != Some(side) && !self.lost() {
                    self.wire
                        .push((self.now + self.delay, side, bytes.to_vec()));
                }
            }
            Action::StateChanged(t) => self.transitions.push((self.now, side, t)),
        }
    }

    fn lost(&mut self) -> bool {
        if self.loss == 0.0 {
            return false;
        }
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng % 1_000_000) as f64 / 1e6 < self.loss
    }

    pub fn state(&self, side: Side) -> rampart_bfd::State {
        let (e, peer) = match side {
            Side::A => (&self.a, B),
            Side::B => (&self.b, A),
        };
        e.status(peer).unwrap().state
    }

    pub fn status(&self, side: Side) -> rampart_bfd::Status {
        match side {
            Side::A => self.a.status(B).unwrap(),
            Side::B => self.b.status(A).unwrap(),
        }
    }

    /// Periodic packets (not Finals) `side` sent after `from`.
    pub fn periodic(&self, side: Side, from: Instant) -> Vec<(Instant, ControlPacket)> {
        self.sent
            .iter()
            .filter(|(t, s, p)| *s == side && *t >= from && !p.final_)
            .map(|(t, _, p)| (*t, *p))
            .collect()
    }

    /// Gaps between consecutive periodic packets of `side` after `from`.
    pub fn gaps(&self, side: Side, from: Instant) -> Vec<Duration> {
        let p = self.periodic(side, from);
        p.windows(2).map(|w| w[1].0 - w[0].0).collect()
    }
}

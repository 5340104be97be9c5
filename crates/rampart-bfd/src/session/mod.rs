//! One BFD session in Asynchronous mode (RFC 5880 §6): the state
//! variables of §6.8.1, the reception rules of §6.8.6 that follow the
//! session's selection, the state machine of §6.2 (`fsm.rs`), and the
//! timers, Poll Sequence and jitter of §6.5, §6.8.2–§6.8.4 and §6.8.7
//! (`timers.rs`).
//!
//! ```text
//!                             +--+
//!                             |  | UP, ADMIN DOWN, TIMER
//!                             |  V
//!                     DOWN  +------+  INIT
//!              +------------|      |------------+
//!              |            | DOWN |            |
//!              |  +-------->|      |<--------+  |
//!              |  |         +------+         |  |
//!              |  |                          |  |
//!              |  |               ADMIN DOWN,|  |
//!              |  |ADMIN DOWN,          DOWN,|  |
//!              |  |TIMER                TIMER|  |
//!              V  |                          |  V
//!            +------+                      +------+
//!       +----|      |                      |      |----+
//!   DOWN|    | INIT |--------------------->|  UP  |    |INIT, UP
//!       +--->|      | INIT, UP             |      |<---+
//!            +------+                      +------+
//! ```
//!
//! The session never reads the clock or touches a socket: it is given
//! packets already decoded and selected by the [`Endpoint`](crate::Endpoint),
//! and `now` with every input; it queues [`Action`]s and says when it
//! wants to be called again ([`Session::poll_timeout`]).

mod fsm;
mod handover;
mod timers;

pub use handover::Snapshot;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::error::{Discard, Discards};
use crate::packet::{ControlPacket, Diag, HEADER_LEN, State};
use crate::status::{Counters, Status};

/// bfd.DesiredMinTxInterval while the session is not Up: RFC 5880
/// §6.8.3 requires at least one second, so a peer that is not talking to
/// us is not sent packets at the fast rate.
pub const SLOW_TX_INTERVAL: Duration = Duration::from_secs(1);

/// What the session negotiates with; see [`Session::reconfigure`] for
/// changing it on a running session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// bfd.DesiredMinTxInterval once Up (not Up: at least
    /// [`SLOW_TX_INTERVAL`]).
    pub desired_min_tx: Duration,
    /// bfd.RequiredMinRxInterval. Zero would ask the peer to send nothing,
    /// which the driver never does.
    pub required_min_rx: Duration,
    /// bfd.DetectMult: the peer declares us down after this many of our
    /// intervals without a packet. Never zero.
    pub detect_mult: u8,
}

/// What the caller must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this Control packet to the peer's port 3784, with TTL 255,
    /// from the session's own source port.
    Transmit([u8; HEADER_LEN]),
    StateChanged(Transition),
}

/// A change of bfd.SessionState.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: State,
    pub to: State,
    /// bfd.LocalDiag after the change: why.
    pub diag: Diag,
    /// The peer's state as last heard (Down after a detection timeout).
    pub remote_state: State,
}

impl Transition {
    /// Whether a client (BGP) must treat this as the path failing: the
    /// session left Up for Down, and not because the peer went AdminDown,
    /// which RFC 5882 §3.2 says a client must not act on (it is the
    /// peer's management taking BFD away, not the path breaking).
    pub fn is_failure(&self) -> bool {
        self.from == State::Up && self.to == State::Down && self.remote_state != State::AdminDown
    }
}

/// Where the Poll Sequence (§6.5) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Poll {
    Idle,
    /// Periodic packets carry P until one with F arrives; `again`: the
    /// parameters changed once more since the sequence began.
    Active {
        again: bool,
    },
    /// A Final ended a sequence that had a newer change behind it: the
    /// next sequence starts once a packet with F clear has arrived, so
    /// that its Final cannot be mistaken for the old one's (§6.8.3,
    /// the third choice).
    Settling,
}

/// One session with one peer.
#[derive(Debug)]
pub struct Session {
    cfg: SessionConfig,
    // --- RFC 5880 §6.8.1 ---
    state: State,
    remote_state: State,
    local_discr: u32,
    remote_discr: u32,
    local_diag: Diag,
    remote_diag: Diag,
    /// bfd.RemoteMinRxInterval.
    remote_min_rx: Duration,
    /// The peer's last Desired Min TX Interval.
    remote_min_tx: Duration,
    /// The peer's last Detect Mult; 0 until it is heard.
    remote_detect_mult: u8,
    /// bfd.RemoteDemandMode.
    remote_demand: bool,
    // --- timers (timers.rs) ---
    /// The Desired Min TX our own transmissions follow, and the Required
    /// Min RX our detection time uses: they lag the advertised values
    /// while a change in the unsafe direction awaits its Final (§6.8.3).
    tx_in_use: Duration,
    rx_in_use: Duration,
    /// Advertised values a Poll Sequence has been started for.
    polled: (Duration, Duration),
    poll: Poll,
    last_tx: Option<Instant>,
    /// This interval's jitter, in thousandths of the interval.
    jitter_permille: u32,
    next_tx: Option<Instant>,
    detect_at: Option<Instant>,
    rng: u64,
    // --- for status ---
    since: Instant,
    last_rx: Option<Instant>,
    counters: Counters,
    discards: Discards,
    actions: VecDeque<Action>,
}

impl Session {
    /// A session in Down, taking the Active role: its first packet is due
    /// at once. `local_discr` is bfd.LocalDiscr (non-zero, unique on this
    /// system); `seed` seeds the jitter, so tests are deterministic.
    pub fn new(cfg: SessionConfig, local_discr: u32, seed: u64, now: Instant) -> Self {
        let adv_tx = cfg.desired_min_tx.max(SLOW_TX_INTERVAL);
        let mut s = Session {
            cfg,
            state: State::Down,
            remote_state: State::Down,
            local_discr,
            remote_discr: 0,
            local_diag: Diag::None,
            remote_diag: Diag::None,
            // §6.8.1: "MUST be initialized to 1".
            remote_min_rx: Duration::from_micros(1),
            remote_min_tx: Duration::ZERO,
            remote_detect_mult: 0,
            remote_demand: false,
            tx_in_use: adv_tx,
            rx_in_use: cfg.required_min_rx,
            polled: (adv_tx, cfg.required_min_rx),
            poll: Poll::Idle,
            last_tx: None,
            jitter_permille: 1000,
            next_tx: Some(now),
            detect_at: None,
            // xorshift needs a non-zero state.
            rng: seed | 1,
            since: now,
            last_rx: None,
            counters: Counters::default(),
            discards: Discards::default(),
            actions: VecDeque::new(),
        };
        s.draw_jitter();
        s
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn local_discriminator(&self) -> u32 {
        self.local_discr
    }

    pub fn config(&self) -> SessionConfig {
        self.cfg
    }

    /// A packet the endpoint selected for this session (§6.8.6, from
    /// "set bfd.RemoteDiscr" on).
    pub fn handle_packet(&mut self, now: Instant, p: &ControlPacket) {
        self.counters.packets_in += 1;
        self.remote_discr = p.my_discriminator;
        self.remote_state = p.state;
        self.remote_diag = p.diag;
        self.remote_demand = p.demand;
        self.remote_min_rx = p.required_min_rx();
        self.remote_min_tx = p.desired_min_tx();
        self.remote_detect_mult = p.detect_mult;
        self.poll_answered(p.final_);
        self.last_rx = Some(now);
        self.detect_at = self.detection_time().and_then(|d| now.checked_add(d));
        self.handle(now, fsm::Event::from_received(p.state));
        self.reschedule(now);
        if p.poll {
            // §6.8.7: at once, whatever the timer, state or Demand mode.
            self.transmit(now, true);
        }
    }

    /// Fires the detection and transmit timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.detect_at.is_some_and(|t| t <= now) {
            self.detection_expired();
            self.handle(now, fsm::Event::DetectionTimerExpired);
            self.reschedule(now);
        }
        if self.next_tx.is_some_and(|t| t <= now) {
            self.transmit(now, false);
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.detect_at, self.next_tx].into_iter().flatten().min()
    }

    /// The next action to carry out.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Management takes the session down (§6.8.16): AdminDown, Diag 7,
    /// told to the peer at once; packets go on at the slow rate so the
    /// peer keeps hearing it until the session is dropped.
    pub fn admin_down(&mut self, now: Instant) {
        self.handle(now, fsm::Event::AdminDown);
    }

    /// Management lets the session run again: Down, Diag 0.
    pub fn admin_up(&mut self, now: Instant) {
        self.handle(now, fsm::Event::AdminUp);
    }

    /// New intervals or multiplier. Changed intervals are advertised in
    /// the next packets with a Poll Sequence; until its Final, a longer
    /// transmit interval or a shorter receive interval is not relied on
    /// (§6.8.3), so neither side ever sees a detection time shorter than
    /// the packets it gets.
    pub fn reconfigure(&mut self, now: Instant, cfg: SessionConfig) {
        if cfg == self.cfg {
            return;
        }
        self.cfg = cfg;
        self.parameters_changed();
        self.reschedule(now);
    }

    /// A snapshot for status displays.
    pub fn status(&self) -> Status {
        Status {
            state: self.state,
            remote_state: self.remote_state,
            diag: self.local_diag,
            remote_diag: self.remote_diag,
            since: self.since,
            last_rx: self.last_rx,
            local_discriminator: self.local_discr,
            remote_discriminator: self.remote_discr,
            desired_min_tx: self.advertised_tx(),
            required_min_rx: self.cfg.required_min_rx,
            detect_mult: self.cfg.detect_mult,
            remote_min_tx: self.remote_min_tx,
            remote_min_rx: self.remote_min_rx,
            remote_detect_mult: self.remote_detect_mult,
            tx_interval: self.tx_interval(),
            detection_time: self.detection_time(),
            poll_active: matches!(self.poll, Poll::Active { .. }),
            counters: self.counters,
            discards: self.discards,
        }
    }

    /// A datagram from this session's peer was discarded.
    pub(crate) fn discarded(&mut self, d: &Discard) {
        self.discards.count(d);
    }
}

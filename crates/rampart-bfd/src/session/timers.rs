//! The session's timers: what it advertises, what it uses (the two
//! differ while a Poll Sequence is under way, §6.8.3), the transmit
//! interval with its jitter (§6.8.2, §6.8.7), the detection time
//! (§6.8.4), and the packets themselves.

use std::time::{Duration, Instant};

use super::{Action, Poll, SLOW_TX_INTERVAL, Session};
use crate::packet::{ControlPacket, State, encode, micros};

impl Session {
    /// bfd.DesiredMinTxInterval: the configured value while Up, never
    /// less than a second otherwise (§6.8.3).
    pub(super) fn advertised_tx(&self) -> Duration {
        if self.state == State::Up {
            self.cfg.desired_min_tx
        } else {
            self.cfg.desired_min_tx.max(SLOW_TX_INTERVAL)
        }
    }

    /// The interval between our packets before jitter: the slower of what
    /// we want and what the peer can take (§6.8.2).
    pub(super) fn tx_interval(&self) -> Duration {
        self.tx_in_use.max(self.remote_min_rx)
    }

    /// How long without a packet means the peer is gone: its Detect Mult
    /// times its agreed interval, the slower of what it wants to send and
    /// what we can take (§6.8.4). `None` before the peer is heard.
    pub(super) fn detection_time(&self) -> Option<Duration> {
        if self.remote_detect_mult == 0 {
            return None;
        }
        self.rx_in_use
            .max(self.remote_min_tx)
            .checked_mul(u32::from(self.remote_detect_mult))
    }

    /// What we advertise may have changed (state or configuration). A
    /// change that cannot hurt takes effect at once: sending faster, or
    /// waiting longer before declaring the peer down. The other direction
    /// waits, while Up, for the Final of the Poll Sequence that announces
    /// it (§6.8.3), since until then the peer may still count on the old
    /// value.
    pub(super) fn parameters_changed(&mut self) {
        let (tx, rx) = (self.advertised_tx(), self.cfg.required_min_rx);
        let up = self.state == State::Up;
        if !up || tx <= self.tx_in_use {
            self.tx_in_use = tx;
        }
        if !up || rx >= self.rx_in_use {
            self.rx_in_use = rx;
        }
        if (tx, rx) != self.polled {
            self.polled = (tx, rx);
            self.start_poll();
        }
    }

    /// Starts a Poll Sequence (§6.5), or notes that one more is needed.
    /// Without a peer there is no one to poll: the new values simply go
    /// out in the next packets (and were applied at once, as nothing is
    /// Up without a peer).
    pub(super) fn start_poll(&mut self) {
        if self.remote_discr == 0 {
            return;
        }
        self.poll = match self.poll {
            Poll::Idle => {
                self.counters.polls += 1;
                Poll::Active { again: false }
            }
            Poll::Active { .. } => Poll::Active { again: true },
            Poll::Settling => Poll::Settling,
        };
    }

    /// A packet arrived with F set (`final_`) or clear: the Poll Sequence
    /// ends, or, after an ambiguous Final, the next one begins.
    pub(super) fn poll_answered(&mut self, final_: bool) {
        match (self.poll, final_) {
            (Poll::Active { again: false }, true) => {
                self.poll = Poll::Idle;
                self.tx_in_use = self.advertised_tx();
                self.rx_in_use = self.cfg.required_min_rx;
            }
            // That Final may answer a Poll sent before the last change:
            // keep the values in use until a new sequence confirms it.
            (Poll::Active { again: true }, true) => self.poll = Poll::Settling,
            (Poll::Settling, false) => {
                self.counters.polls += 1;
                self.poll = Poll::Active { again: false };
            }
            _ => {}
        }
    }

    /// A Detection Time passed in silence: forget the peer (§6.8.1:
    /// bfd.RemoteDiscr MUST be set to zero), as if never heard.
    pub(super) fn detection_expired(&mut self) {
        self.detect_at = None;
        self.remote_discr = 0;
        self.remote_state = State::Down;
        self.remote_min_rx = Duration::from_micros(1);
        self.remote_min_tx = Duration::ZERO;
        self.remote_detect_mult = 0;
        self.remote_demand = false;
        // No one will answer the Poll: the advertised values are in force.
        self.poll = Poll::Idle;
        self.tx_in_use = self.advertised_tx();
        self.rx_in_use = self.cfg.required_min_rx;
    }

    /// Periodic packets are not sent when the peer asks for none, or while
    /// it runs Demand mode with both sides Up and no Poll Sequence is
    /// under way (§6.8.7).
    fn periodic_allowed(&self) -> bool {
        let demand = self.remote_demand
            && self.state == State::Up
            && self.remote_state == State::Up
            && !matches!(self.poll, Poll::Active { .. });
        !self.remote_min_rx.is_zero() && !demand
    }

    /// Sets the next periodic transmission: the last one plus the
    /// interval with the jitter drawn then. Anchored on the last send, a
    /// stream of received packets cannot push it out; a shorter interval
    /// takes effect at once (§6.8.3: "MUST honor the new interval
    /// immediately").
    pub(super) fn reschedule(&mut self, now: Instant) {
        if !self.periodic_allowed() {
            self.next_tx = None;
            return;
        }
        let wait = self
            .tx_interval()
            .checked_mul(self.jitter_permille)
            .map_or(Duration::MAX, |d| d / 1000);
        self.next_tx = Some(match self.last_tx {
            Some(t) => t.checked_add(wait).unwrap_or(now),
            None => now,
        });
    }

    /// Draws the next interval's jitter: 75 to 100 % of it, or 75 to 90 %
    /// with a Detect Mult of 1, so that one late packet never reaches the
    /// peer's detection time (§6.8.7).
    pub(super) fn draw_jitter(&mut self) {
        let r = crate::rng::next(&mut self.rng) >> 33;
        let span = if self.cfg.detect_mult == 1 { 151 } else { 251 };
        self.jitter_permille = 750 + u32::try_from(r % span).unwrap_or(0);
    }

    /// Queues a packet with our current state. A periodic one (`final_`
    /// clear) carries P during a Poll Sequence and restarts the transmit
    /// timer; a Final answers the peer's Poll and leaves the timer alone.
    pub(super) fn transmit(&mut self, now: Instant, final_: bool) {
        if !final_ {
            if !self.periodic_allowed() {
                self.next_tx = None;
                return;
            }
            self.last_tx = Some(now);
            self.draw_jitter();
            self.reschedule(now);
        }
        let p = ControlPacket {
            diag: self.local_diag,
            state: self.state,
            poll: !final_ && matches!(self.poll, Poll::Active { .. }),
            final_,
            // Our BFD runs in the same process as BGP: it shares its fate.
            control_plane_independent: false,
            demand: false,
            detect_mult: self.cfg.detect_mult,
            my_discriminator: self.local_discr,
            your_discriminator: self.remote_discr,
            desired_min_tx_us: micros(self.advertised_tx()),
            required_min_rx_us: micros(self.cfg.required_min_rx),
            required_min_echo_rx_us: 0,
        };
        self.counters.packets_out += 1;
        self.actions.push_back(Action::Transmit(encode(&p)));
    }
}

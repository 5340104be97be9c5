//! The state machine proper: every transition is in [`Session::handle`],
//! one match on (state, event); below it the building blocks the
//! transitions share.

use std::time::{Duration, Instant};

use super::{
    Action, Event, Incoming, Session, State, bfd_down, collision, collision_cease, encode_into,
    error_record, fsm_error, hold_expired, updates,
};
use crate::config::OPEN_HOLD_TIME;
use crate::error::DecodeError;
use crate::message::{Context, Message};
use crate::negotiate::{Initiator, Resolution, check_open, local_open};
use crate::nlri::Family;
use crate::notification::Notification;
use crate::status::{Direction, LastError};
use crate::update::Update;

impl Session {
    /// Every transition is here.
    pub(super) fn handle(&mut self, now: Instant, event: Event<'_>) {
        use Event as E;
        use State as S;
        match (self.state, event) {
            // --- the caller's commands, in any state ---
            (S::Idle, E::ManualStart) => {
                self.stopped = false;
                self.failures = 0;
                self.start_connecting(now);
            }
            (_, E::ManualStart) => {}
            (S::Idle, E::ManualStop(_) | E::GracefulShutdown(..)) => {
                self.stopped = true;
                self.connect_retry_at = None;
            }
            (S::Connect | S::Active, E::ManualStop(_) | E::GracefulShutdown(..)) => {
                self.stopped = true;
                if self.state == S::Connect {
                    self.actions.push_back(Action::Disconnect);
                }
                self.go_idle(now);
            }
            (S::OpenSent | S::OpenConfirm, E::ManualStop(n) | E::GracefulShutdown(n, _))
            | (S::Established, E::ManualStop(n)) => {
                self.stopped = true;
                self.notify_and_close(now, n.clone(), None);
            }
            (S::Established, E::GracefulShutdown(n, linger)) => {
                self.stopped = true;
                let withdrawals = self.export.withdraw_all();
                self.send_all(now, updates(withdrawals));
                if linger.is_zero() {
                    self.notify_and_close(now, n.clone(), None);
                } else {
                    self.cease_at = Some((now + linger, n.clone()));
                }
            }
            (S::Established, E::ShutdownTimerExpires) => {
                if let Some((_, n)) = self.cease_at.take() {
                    self.notify_and_close(now, n, None);
                }
            }
            (_, E::ShutdownTimerExpires) => self.cease_at = None,

            // --- Idle: refuses connections, restarts after the backoff ---
            (S::Idle, E::ConnectRetryTimerExpires) if !self.stopped => {
                // AutomaticStart (event 3).
                self.start_connecting(now);
            }
            (S::Idle, _) => {}

            // --- Connect: our TCP connection attempt is in progress ---
            (S::Connect, E::ConnectRetryTimerExpires) => {
                self.failures = self.failures.saturating_add(1);
                self.actions.push_back(Action::Disconnect);
                self.actions.push_back(Action::Connect);
                self.connect_retry_at = Some(now + self.next_delay());
            }
            (S::Connect | S::Active, E::TcpConnectionConfirmed(local, initiator)) => {
                self.open_sent(now, local, initiator);
            }
            (S::Connect, E::TcpConnectionFails) => self.active_after_failure(now),
            (S::Connect | S::Active, E::TcpConnectionIncoming) => {
                // Take the peer's connection; abandon our own attempt.
                if self.state == S::Connect {
                    self.actions.push_back(Action::Disconnect);
                }
                self.incoming = Incoming::Accept;
                self.set_state(now, S::Active);
            }

            // --- Active: waiting for the retry timer or the peer ---
            (S::Active, E::ConnectRetryTimerExpires) => self.start_connecting(now),
            (S::Connect | S::Active, _) => {}

            // --- OpenSent: our OPEN is out, waiting for the peer's ---
            (S::OpenSent, E::BgpOpen(open)) => {
                self.peer_open = Some(open.clone());
                match check_open(&self.cfg, open) {
                    Ok(neg) => {
                        self.ctx = Context {
                            four_octet_as: neg.four_octet_as,
                        };
                        self.hold_at = neg.hold().map(|h| now + h);
                        self.negotiated = Some(neg);
                        self.send(now, Message::Keepalive);
                        self.set_state(now, S::OpenConfirm);
                    }
                    Err(e) => self.message_error(now, &e),
                }
            }
            (S::OpenSent, E::TcpConnectionFails) => {
                self.drop_connection();
                self.active_after_failure(now);
            }
            (S::OpenSent, E::KeepAliveMsg | E::UpdateMsg | E::RouteRefreshMsg(_))
            | (S::OpenConfirm, E::BgpOpen(_) | E::UpdateMsg | E::RouteRefreshMsg(_))
            | (S::Established, E::BgpOpen(_)) => {
                self.notify_and_close(now, fsm_error(self.state), None);
            }
            (S::OpenSent | S::OpenConfirm, E::TcpConnectionIncoming) => {
                let decision = match (self.initiator, &self.peer_open) {
                    // Two connections from the peer: it gave up the first.
                    (Some(Initiator::Remote), _) => Resolution::KeepNew,
                    (Some(Initiator::Local), Some(peer)) => {
                        collision(&self.cfg, peer, Initiator::Local)
                    }
                    // Identifier unknown: refuse, the peer retries.
                    _ => Resolution::KeepExisting,
                };
                if decision == Resolution::KeepNew {
                    self.send(now, Message::Notification(collision_cease()));
                    self.actions.push_back(Action::Disconnect);
                    self.drop_connection();
                    self.incoming = Incoming::Accept;
                    self.set_state(now, S::Active);
                }
            }

            // --- in every state with a connection ---
            (S::OpenSent | S::OpenConfirm | S::Established, E::HoldTimerExpires) => {
                self.notify_and_close(now, hold_expired(), None);
            }
            // RFC 5882 §10.2: the path is gone, so is the session. Without
            // a connection there is nothing to close; connecting goes on.
            (S::OpenSent | S::OpenConfirm | S::Established, E::BfdDown) => {
                self.notify_and_close(now, bfd_down(), None);
            }
            (S::OpenSent | S::OpenConfirm | S::Established, E::MessageError(e)) => {
                self.message_error(now, e);
            }
            (S::OpenSent | S::OpenConfirm | S::Established, E::NotifMsg(n)) => {
                self.last_error = Some(error_record(now, Direction::Received, n));
                self.actions.push_back(Action::Disconnect);
                self.go_idle(now);
            }
            (S::OpenConfirm | S::Established, E::TcpConnectionFails) => {
                self.last_error = Some(LastError {
                    at: now,
                    direction: Direction::Received,
                    notification: None,
                    text: format!("connection closed in {}", self.state.as_str()),
                });
                self.go_idle(now);
            }
            (S::OpenConfirm | S::Established, E::KeepaliveTimerExpires) => {
                self.send(now, Message::Keepalive);
            }

            // --- OpenConfirm: both OPENs agreed, waiting for KEEPALIVE ---
            (S::OpenConfirm, E::KeepAliveMsg) => {
                self.restart_hold(now);
                self.failures = 0;
                self.established_count += 1;
                self.set_state(now, S::Established);
                let families = self.families();
                let initial = self.export.sync(&self.export_ctx(), &families);
                self.send_all(now, updates(initial));
                // RFC 4724 §2: the initial announcement is complete.
                let eor = families.into_iter().map(Update::end_of_rib);
                self.send_all(now, updates(eor.collect()));
            }

            // --- Established ---
            (S::Established, E::KeepAliveMsg | E::UpdateMsg) => self.restart_hold(now),
            (S::Established, E::RouteRefreshMsg(rr)) => {
                self.restart_hold(now);
                // RFC 2918 §4: a family not negotiated is ignored.
                let family =
                    Family::from_afi_safi(rr.afi, rr.safi).filter(|f| self.families().contains(f));
                if let Some(family) = family {
                    let again = self.export.resend(&self.export_ctx(), family);
                    self.send_all(now, updates(again));
                }
            }
            (S::Established, E::RoutesChanged) if self.cease_at.is_none() => {
                let diff = self.export.sync(&self.export_ctx(), &self.families());
                self.send_all(now, updates(diff));
            }
            (S::OpenSent | S::OpenConfirm | S::Established, _) => {}
        }
    }

    // === building blocks ===

    /// ManualStart / AutomaticStart: connect, or wait for the peer.
    fn start_connecting(&mut self, now: Instant) {
        if self.cfg.passive {
            self.set_state(now, State::Active);
        } else {
            self.actions.push_back(Action::Connect);
            self.connect_retry_at = Some(now + self.next_delay());
            self.set_state(now, State::Connect);
        }
    }

    fn active_after_failure(&mut self, now: Instant) {
        let wait = self.backoff();
        if !self.cfg.passive {
            self.connect_retry_at = Some(now + wait);
        }
        self.set_state(now, State::Active);
    }

    fn open_sent(&mut self, now: Instant, local: std::net::IpAddr, initiator: Initiator) {
        self.connect_retry_at = None;
        self.initiator = Some(initiator);
        self.local_addr = Some(local);
        self.rx.clear();
        self.send(now, Message::Open(local_open(&self.cfg)));
        self.hold_at = Some(now + OPEN_HOLD_TIME);
        self.set_state(now, State::OpenSent);
    }

    /// Answers a malformed or unacceptable message and closes.
    fn message_error(&mut self, now: Instant, e: &DecodeError) {
        match e.notification() {
            Some(n) => self.notify_and_close(now, n, Some(e)),
            None => {
                self.last_error = Some(LastError {
                    at: now,
                    direction: Direction::Received,
                    notification: None,
                    text: e.to_string(),
                });
                self.actions.push_back(Action::Disconnect);
                self.go_idle(now);
            }
        }
    }

    fn notify_and_close(&mut self, now: Instant, n: Notification, cause: Option<&DecodeError>) {
        let mut record = error_record(now, Direction::Sent, &n);
        if let Some(e) = cause {
            record.text = format!("{}: {e}", record.text);
        }
        self.send(now, Message::Notification(n));
        self.last_error = Some(record);
        self.actions.push_back(Action::Disconnect);
        self.go_idle(now);
    }

    /// Forgets the current connection and what was negotiated on it.
    fn drop_connection(&mut self) {
        self.hold_at = None;
        self.keepalive_at = None;
        self.cease_at = None;
        self.initiator = None;
        self.local_addr = None;
        self.rx.clear();
        self.ctx = Context::default();
        self.negotiated = None;
        self.export.reset();
    }

    /// To Idle; unless stopped, restart after the backoff.
    fn go_idle(&mut self, now: Instant) {
        self.drop_connection();
        self.connect_retry_at = None;
        if !self.stopped {
            let wait = self.backoff();
            self.connect_retry_at = Some(now + wait);
        }
        self.set_state(now, State::Idle);
    }

    /// The wait before the next attempt, counting this failure.
    fn backoff(&mut self) -> Duration {
        let wait = self.next_delay();
        self.failures = self.failures.saturating_add(1);
        wait
    }

    fn next_delay(&mut self) -> Duration {
        self.cfg.connect_retry.delay(self.failures, &mut self.rng)
    }

    pub(super) fn restart_hold(&mut self, now: Instant) {
        self.hold_at = self
            .negotiated
            .as_ref()
            .and_then(|n| n.hold())
            .map(|h| now + h);
    }

    pub(super) fn send_all(&mut self, now: Instant, msgs: impl Iterator<Item = Message>) {
        for msg in msgs {
            self.send(now, msg);
        }
    }

    /// Queues `msg`; a KEEPALIVE or UPDATE restarts the keepalive timer
    /// (RFC 4271 §4.4).
    pub(super) fn send(&mut self, now: Instant, msg: Message) {
        let mut bytes = Vec::new();
        if let Err(text) = encode_into(&msg, self.ctx, &mut bytes) {
            self.last_error = Some(LastError {
                at: now,
                direction: Direction::Sent,
                notification: None,
                text,
            });
            return;
        }
        self.messages_out.count(&msg);
        if matches!(msg, Message::Keepalive | Message::Update(_)) {
            self.keepalive_at = self
                .negotiated
                .as_ref()
                .and_then(|n| n.keepalive())
                .map(|k| now + k);
        }
        self.actions.push_back(Action::Transmit(bytes));
    }

    fn set_state(&mut self, now: Instant, to: State) {
        let from = std::mem::replace(&mut self.state, to);
        if from != to {
            self.since = Some(now);
            self.actions.push_back(Action::StateChanged { from, to });
        }
    }
}

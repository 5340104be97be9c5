//! The state machine proper: every transition of RFC 5880 §6.2 and
//! §6.8.6 is in [`Session::handle`], one match on (state, event); below
//! it what a transition does besides changing the state.

use std::time::Instant;

use super::{Action, Session, Transition};
use crate::packet::{Diag, State};

/// The events of §6.2's diagram, named as there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Event {
    /// A valid packet whose State field is AdminDown ("ADMIN DOWN").
    RecvAdminDown,
    /// ... Down ("DOWN").
    RecvDown,
    /// ... Init ("INIT").
    RecvInit,
    /// ... Up ("UP").
    RecvUp,
    /// A Detection Time passed without a packet ("TIMER", §6.8.4).
    DetectionTimerExpired,
    /// Management takes the session down (§6.8.16).
    AdminDown,
    /// Management lets it run again.
    AdminUp,
}

impl Event {
    pub(super) fn from_received(state: State) -> Event {
        match state {
            State::AdminDown => Event::RecvAdminDown,
            State::Down => Event::RecvDown,
            State::Init => Event::RecvInit,
            State::Up => Event::RecvUp,
        }
    }
}

impl Session {
    /// Every transition is here.
    pub(super) fn handle(&mut self, now: Instant, event: Event) {
        use Event as E;
        use State as S;
        match (self.state, event) {
            // --- management, in any state (§6.8.16) ---
            (S::AdminDown, E::AdminUp) => self.set_state(now, S::Down, Diag::None),
            (_, E::AdminUp) => {}
            (S::AdminDown, E::AdminDown) => {}
            (_, E::AdminDown) => self.set_state(now, S::AdminDown, Diag::AdministrativelyDown),

            // --- AdminDown: received packets are discarded (§6.8.6) ---
            (S::AdminDown, _) => {}

            // --- Down ---
            (S::Down, E::RecvDown) => self.set_state(now, S::Init, Diag::None),
            (S::Down, E::RecvInit) => self.set_state(now, S::Up, Diag::None),
            // The peer is Up with a session we no longer have, or going
            // away: wait for it to come down to Down.
            (S::Down, E::RecvUp | E::RecvAdminDown | E::DetectionTimerExpired) => {}

            // --- Init: we have heard the peer, it has not yet heard us ---
            (S::Init, E::RecvInit | E::RecvUp) => self.set_state(now, S::Up, Diag::None),
            (S::Init, E::RecvAdminDown) => {
                self.set_state(now, S::Down, Diag::NeighborSignaledSessionDown);
            }
            (S::Init, E::RecvDown) => {}

            // --- Up ---
            (S::Up, E::RecvDown | E::RecvAdminDown) => {
                self.set_state(now, S::Down, Diag::NeighborSignaledSessionDown);
            }
            (S::Up, E::RecvInit | E::RecvUp) => {}

            // --- silence for a Detection Time (§6.8.4) ---
            (S::Init | S::Up, E::DetectionTimerExpired) => {
                self.set_state(now, S::Down, Diag::ControlDetectionTimeExpired);
            }
        }
    }

    /// Enters `to`: records it, tells the caller, moves the advertised
    /// Desired Min TX between the slow and the configured rate (a Poll
    /// Sequence if that changed it), and sends a packet at once, since its
    /// contents differ from the last one's (§6.8.7: "SHOULD be
    /// transmitted ... to more rapidly communicate a change in state").
    fn set_state(&mut self, now: Instant, to: State, diag: Diag) {
        let from = self.state;
        self.state = to;
        self.local_diag = diag;
        self.since = now;
        if to == State::Up {
            self.counters.up_transitions += 1;
        }
        if from == State::Up {
            self.counters.down_transitions += 1;
        }
        self.actions.push_back(Action::StateChanged(Transition {
            from,
            to,
            diag,
            remote_state: self.remote_state,
        }));
        self.parameters_changed();
        self.reschedule(now);
        self.transmit(now, false);
    }
}

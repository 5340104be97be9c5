//! Handing a session to another program of this system (`rampart
//! upgrade` replaces the process): what the new one needs to go on
//! without the peer seeing a change.
//!
//! A new session would start Down with a new discriminator; the peer,
//! hearing Down from our address, would drop its session to Down (§6.8.6)
//! and, like BIRD with `bfd on`, take its BGP session down with it — the
//! reset the upgrade exists to avoid. A resumed session keeps the state
//! and both discriminators and sends at once, so the peer sees nothing
//! but a gap between two packets, shorter than its detection time if the
//! exec is quick.

use std::time::Duration;
use std::time::Instant;

use super::{Session, SessionConfig};
use crate::packet::State;

/// What a session is, as far as its peer can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    pub state: State,
    pub remote_state: State,
    pub local_discriminator: u32,
    pub remote_discriminator: u32,
    pub remote_min_rx: Duration,
    pub remote_min_tx: Duration,
    pub remote_detect_mult: u8,
}

impl Session {
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            state: self.state,
            remote_state: self.remote_state,
            local_discriminator: self.local_discr,
            remote_discriminator: self.remote_discr,
            remote_min_rx: self.remote_min_rx,
            remote_min_tx: self.remote_min_tx,
            remote_detect_mult: self.remote_detect_mult,
        }
    }

    /// The session `snap` describes, going on at `now`: its first packet
    /// is due at once, and the peer gets a whole detection time from now.
    /// Timers are the advertised ones from the start (no Poll Sequence is
    /// carried over: the configuration, and so what the peer was told,
    /// does not change across an upgrade).
    pub fn resume(cfg: SessionConfig, snap: &Snapshot, seed: u64, now: Instant) -> Session {
        let mut s = Session::new(cfg, snap.local_discriminator, seed, now);
        s.state = snap.state;
        s.remote_state = snap.remote_state;
        s.remote_discr = snap.remote_discriminator;
        s.remote_min_rx = snap.remote_min_rx;
        s.remote_min_tx = snap.remote_min_tx;
        s.remote_detect_mult = snap.remote_detect_mult;
        s.tx_in_use = s.advertised_tx();
        s.rx_in_use = cfg.required_min_rx;
        s.polled = (s.tx_in_use, s.rx_in_use);
        s.detect_at = s.detection_time().and_then(|d| now.checked_add(d));
        // The previous program may have announced other timers (`rampart
        // upgrade` slows them down across the exec): a Poll Sequence tells
        // the peer the ones in use now (§6.8.3).
        if s.state == State::Up {
            s.start_poll();
        }
        s.reschedule(now);
        s
    }
}

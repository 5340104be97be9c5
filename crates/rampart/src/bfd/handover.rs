//! A BFD session as it crosses `rampart upgrade`'s exec (beside its BGP
//! session, in the upgrade's JSON): see `rampart_bfd::Snapshot`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::BfdState;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Handed {
    pub state: BfdState,
    pub remote_state: BfdState,
    pub local_discriminator: u32,
    pub remote_discriminator: u32,
    pub remote_min_rx_us: u64,
    pub remote_min_tx_us: u64,
    pub remote_detect_mult: u8,
}

fn state(s: BfdState) -> rampart_bfd::State {
    match s {
        BfdState::AdminDown => rampart_bfd::State::AdminDown,
        BfdState::Down => rampart_bfd::State::Down,
        BfdState::Init => rampart_bfd::State::Init,
        BfdState::Up => rampart_bfd::State::Up,
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl From<rampart_bfd::Snapshot> for Handed {
    fn from(s: rampart_bfd::Snapshot) -> Handed {
        Handed {
            state: s.state.into(),
            remote_state: s.remote_state.into(),
            local_discriminator: s.local_discriminator,
            remote_discriminator: s.remote_discriminator,
            remote_min_rx_us: micros(s.remote_min_rx),
            remote_min_tx_us: micros(s.remote_min_tx),
            remote_detect_mult: s.remote_detect_mult,
        }
    }
}

impl From<Handed> for rampart_bfd::Snapshot {
    fn from(h: Handed) -> rampart_bfd::Snapshot {
        rampart_bfd::Snapshot {
            state: state(h.state),
            remote_state: state(h.remote_state),
            local_discriminator: h.local_discriminator,
            remote_discriminator: h.remote_discriminator,
            remote_min_rx: Duration::from_micros(h.remote_min_rx_us),
            remote_min_tx: Duration::from_micros(h.remote_min_tx_us),
            remote_detect_mult: h.remote_detect_mult,
        }
    }
}

//! A BFD session as `rampart status` and `/metrics` show it: typed here,
//! serialized at the edge (the control socket's JSON).

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// RFC 5880's session states, named as BIRD's `show bfd sessions` does.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum BfdState {
    AdminDown,
    #[default]
    Down,
    Init,
    Up,
}

impl From<rampart_bfd::State> for BfdState {
    fn from(s: rampart_bfd::State) -> BfdState {
        match s {
            rampart_bfd::State::AdminDown => BfdState::AdminDown,
            rampart_bfd::State::Down => BfdState::Down,
            rampart_bfd::State::Init => BfdState::Init,
            rampart_bfd::State::Up => BfdState::Up,
        }
    }
}

/// One BFD session, beside the BGP session it guards.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BfdStatus {
    pub state: BfdState,
    pub remote_state: BfdState,
    /// Why our state last changed, in RFC 5880's words.
    pub diag: String,
    /// Why the peer's did, as it said.
    pub remote_diag: String,
    pub since_seconds: u64,
    pub local_discriminator: u32,
    /// 0 while the peer is not heard.
    pub remote_discriminator: u32,
    /// Between our packets, before jitter (the slower of ours and the
    /// peer's Required Min RX).
    pub tx_interval_ms: u64,
    /// Silence after which the peer is declared down; none until heard.
    pub detection_time_ms: Option<u64>,
    pub multiplier: u8,
    pub remote_multiplier: u8,
    pub packets_in: u64,
    pub packets_out: u64,
    pub up_transitions: u64,
    pub down_transitions: u64,
    /// Datagrams from the peer's address that were discarded (wrong TTL,
    /// malformed, a session we do not have).
    pub discarded: u64,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl BfdStatus {
    pub fn new(s: &rampart_bfd::Status, now: Instant) -> BfdStatus {
        BfdStatus {
            state: s.state.into(),
            remote_state: s.remote_state.into(),
            diag: s.diag.text().to_string(),
            remote_diag: s.remote_diag.text().to_string(),
            since_seconds: now.saturating_duration_since(s.since).as_secs(),
            local_discriminator: s.local_discriminator,
            remote_discriminator: s.remote_discriminator,
            tx_interval_ms: ms(s.tx_interval),
            detection_time_ms: s.detection_time.map(ms),
            multiplier: s.detect_mult,
            remote_multiplier: s.remote_detect_mult,
            packets_in: s.counters.packets_in,
            packets_out: s.counters.packets_out,
            up_transitions: s.counters.up_transitions,
            down_transitions: s.counters.down_transitions,
            discarded: s.discards.total(),
        }
    }
}

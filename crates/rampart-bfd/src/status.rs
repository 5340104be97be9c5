//! A snapshot of one session for `rampart status` and the metrics.

use std::time::{Duration, Instant};

use crate::error::Discards;
use crate::packet::{Diag, State};

/// Counted over the session's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// Packets accepted for the session.
    pub packets_in: u64,
    /// Packets queued for sending (periodic and Final).
    pub packets_out: u64,
    /// Times the session came Up.
    pub up_transitions: u64,
    /// Times it left Up.
    pub down_transitions: u64,
    /// Poll Sequences started (§6.5).
    pub polls: u64,
}

/// One session as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub state: State,
    /// The peer's state as last heard.
    pub remote_state: State,
    /// Why our state last changed.
    pub diag: Diag,
    /// Why the peer's did, as it said.
    pub remote_diag: Diag,
    /// When the session entered `state`.
    pub since: Instant,
    /// When a packet was last accepted from the peer.
    pub last_rx: Option<Instant>,
    pub local_discriminator: u32,
    /// Zero while the peer is not heard.
    pub remote_discriminator: u32,
    /// Advertised now (at least 1 s while not Up).
    pub desired_min_tx: Duration,
    pub required_min_rx: Duration,
    pub detect_mult: u8,
    /// The peer's, from its last packet.
    pub remote_min_tx: Duration,
    pub remote_min_rx: Duration,
    pub remote_detect_mult: u8,
    /// Between our packets, before jitter.
    pub tx_interval: Duration,
    /// How long a silence declares the peer down; `None` before it is
    /// heard.
    pub detection_time: Option<Duration>,
    /// A Poll Sequence awaits its Final.
    pub poll_active: bool,
    pub counters: Counters,
    /// Datagrams from the peer's address that were discarded.
    pub discards: Discards,
}

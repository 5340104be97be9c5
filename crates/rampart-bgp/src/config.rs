//! A session's configuration, its defaults, and the connect-retry backoff.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use crate::nlri::Family;

/// Hold time we propose: RFC 4271 §10's suggested value, what BIRD, FRR
/// and most routers use, so negotiation rarely changes it.
pub const DEFAULT_HOLD_TIME: u16 = 90;
/// Hold timer while waiting for the peer's OPEN (RFC 4271 §8.2.2
/// suggests 4 minutes).
pub const OPEN_HOLD_TIME: Duration = Duration::from_secs(240);
/// First wait before retrying a failed connection. RFC 4271 suggests
/// 120 s, which would keep a VIP unannounced for two minutes after the
/// router restarts; 5 s retries promptly without hammering it.
pub const DEFAULT_CONNECT_RETRY: Duration = Duration::from_secs(5);
/// The wait doubles with each consecutive failure up to this: the RFC's
/// value, so a peer that keeps refusing sees the traffic it expects.
pub const DEFAULT_CONNECT_RETRY_MAX: Duration = Duration::from_secs(120);

/// One neighbor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    pub local_as: u32,
    pub peer_as: u32,
    /// Our BGP identifier.
    pub router_id: Ipv4Addr,
    /// The neighbor's address, for status and logs (the driver connects).
    pub peer_addr: IpAddr,
    /// Hold time we propose, in seconds: 0 (no keepalives) or at least 3.
    pub hold_time: u16,
    /// Families we offer; routes of families the peer does not also
    /// offer are not sent. IPv4 unicast uses the classic NLRI encoding.
    pub families: Vec<Family>,
    /// Never connect; wait for the peer to.
    pub passive: bool,
    /// Next hop for IPv4 routes that name none; default: the local
    /// address of the connection.
    pub next_hop_v4: Option<Ipv4Addr>,
    /// Next hop for IPv6 routes that name none (needed on an IPv4
    /// session carrying IPv6 routes).
    pub next_hop_v6: Option<Ipv6Addr>,
    pub connect_retry: Backoff,
}

impl SessionConfig {
    /// A session with the defaults: hold time 90 s, IPv4 unicast only,
    /// active, next hop from the connection, 5 s → 120 s retry backoff.
    pub fn new(local_as: u32, peer_as: u32, router_id: Ipv4Addr, peer_addr: IpAddr) -> Self {
        Self {
            local_as,
            peer_as,
            router_id,
            peer_addr,
            hold_time: DEFAULT_HOLD_TIME,
            families: vec![Family::Ipv4Unicast],
            passive: false,
            next_hop_v4: None,
            next_hop_v6: None,
            connect_retry: Backoff::default(),
        }
    }

    /// External session: the peer is in another AS.
    pub fn is_ebgp(&self) -> bool {
        self.local_as != self.peer_as
    }
}

/// Connect-retry timing: `initial`, doubled after each consecutive
/// failure up to `max`, back to `initial` once a session is Established.
/// With a `jitter_seed`, each wait is scaled by a factor in 0.75..=1.0
/// (RFC 4271 §10) from a small generator seeded with it, so two routers
/// that failed together do not retry in lockstep; without, waits are
/// exact (deterministic tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    pub jitter_seed: Option<u64>,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: DEFAULT_CONNECT_RETRY,
            max: DEFAULT_CONNECT_RETRY_MAX,
            jitter_seed: None,
        }
    }
}

impl Backoff {
    /// The wait after `failures` consecutive failures (0 = the first).
    pub fn delay(&self, failures: u32, rng: &mut u64) -> Duration {
        let factor = 1u32.checked_shl(failures.min(16)).unwrap_or(u32::MAX);
        let wait = self.initial.saturating_mul(factor).min(self.max);
        if self.jitter_seed.is_none() {
            return wait;
        }
        // xorshift64: deterministic, good enough to de-synchronise.
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        let per_mille = 750 + (*rng % 251) as u32;
        wait * per_mille / 1000
    }
}

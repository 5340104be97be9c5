//! Receive-check outcomes: why packets were dropped (or merely odd), the
//! counters an operator reads, and the rate limit on their log lines.

use std::time::{Duration, Instant};

use crate::packet::ChecksumForm;

/// Why a received packet was dropped or flagged (RFC 5798 §7.1 and the
/// checks keepalived adds). Each has a counter in [`Stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Drop {
    /// Did not decode: length, version nibble, type, checksum, ...
    Malformed,
    /// TTL / hop limit below what we accept (255 for multicast).
    Ttl,
    /// Another VRRP version than the instance runs.
    Version,
    /// Another virtual router ID.
    Vrid,
    /// Unicast is configured and the sender is not one of the peers.
    NotPeer,
    /// v2 authentication type or password differ.
    Auth,
    /// v2 advertisement interval differs from ours.
    Interval,
    /// The advert lists other addresses than ours (logged, not dropped).
    AddressMismatch,
    /// Our own advert came back (multicast loop).
    OwnPacket,
    /// No instance runs this VRID on that interface and family.
    NoInstance,
}

impl Drop {
    /// Every reason, in declaration (= counter) order.
    pub const ALL: [Drop; 10] = [
        Drop::Malformed,
        Drop::Ttl,
        Drop::Version,
        Drop::Vrid,
        Drop::NotPeer,
        Drop::Auth,
        Drop::Interval,
        Drop::AddressMismatch,
        Drop::OwnPacket,
        Drop::NoInstance,
    ];

    /// Name for logs and status output.
    pub fn as_str(self) -> &'static str {
        match self {
            Drop::Malformed => "malformed",
            Drop::Ttl => "ttl",
            Drop::Version => "version",
            Drop::Vrid => "vrid",
            Drop::NotPeer => "not_peer",
            Drop::Auth => "auth",
            Drop::Interval => "interval",
            Drop::AddressMismatch => "address_mismatch",
            Drop::OwnPacket => "own_packet",
            Drop::NoInstance => "no_instance",
        }
    }

    /// Its counter: `ALL` lists the variants in declaration order.
    fn index(self) -> usize {
        self as usize
    }
}

/// Counters of one instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub adverts_rx: u64,
    pub adverts_tx: u64,
    pub priority0_rx: u64,
    pub priority0_tx: u64,
    pub became_master: u64,
    /// The checksum form of the last v3 IPv4 advert accepted from a peer.
    pub peer_checksum: Option<ChecksumForm>,
    /// The source and priority of the last advert accepted from a peer
    /// (who the master is, seen from a backup).
    pub last_peer: Option<(std::net::IpAddr, u8)>,
    /// State changes since start.
    pub transitions: u64,
    /// The last state change: from, to, when, and why.
    pub last_transition: Option<Transition>,
    drops: [u64; Drop::ALL.len()],
}

/// One state change and what caused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub from: crate::State,
    pub to: crate::State,
    pub at: Instant,
    pub cause: String,
}

impl Stats {
    /// How many packets were counted under `reason`.
    pub fn drops(&self, reason: Drop) -> u64 {
        self.drops[reason.index()]
    }

    pub(crate) fn count(&mut self, reason: Drop) {
        self.drops[reason.index()] += 1;
    }
}

/// At most one log line per reason per this period: a peer sending a bad
/// packet every 10 ms must not flood the log.
pub const WARN_PERIOD: Duration = Duration::from_secs(10);

/// The rate limiter behind [`Action::Warn`](crate::Action::Warn).
#[derive(Debug, Default)]
pub(crate) struct Warnings {
    last: [Option<Instant>; Drop::ALL.len()],
}

impl Warnings {
    /// Whether a line for `reason` may be logged at `now`.
    pub(crate) fn allow(&mut self, now: Instant, reason: Drop) -> bool {
        let slot = &mut self.last[reason.index()];
        match slot {
            Some(t) if now.saturating_duration_since(*t) < WARN_PERIOD => false,
            _ => {
                *slot = Some(now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_are_rate_limited_per_reason() {
        let t0 = Instant::now();
        let mut w = Warnings::default();
        assert!(w.allow(t0, Drop::Ttl));
        assert!(!w.allow(t0 + Duration::from_secs(1), Drop::Ttl));
        assert!(w.allow(t0 + Duration::from_secs(1), Drop::Auth));
        assert!(w.allow(t0 + WARN_PERIOD, Drop::Ttl));
    }

    #[test]
    fn all_lists_the_reasons_in_declaration_order() {
        for (i, d) in Drop::ALL.iter().enumerate() {
            assert_eq!(d.index(), i, "{}", d.as_str());
        }
    }

    #[test]
    fn every_reason_has_its_own_counter() {
        let mut s = Stats::default();
        for (i, d) in Drop::ALL.iter().enumerate() {
            for _ in 0..=i {
                s.count(*d);
            }
        }
        for (i, d) in Drop::ALL.iter().enumerate() {
            assert_eq!(s.drops(*d), i as u64 + 1, "{}", d.as_str());
        }
    }
}

//! How many checks run at once and when each server's first one starts.
//!
//! With tens of thousands of servers, checks that all start at t=0 and run
//! unbounded take one descriptor each at the same moment: 25 000 servers
//! exhausted a 20 000-descriptor limit within 3 s, and later reloads failed
//! with EMFILE. They also woke every timer in one tick of the supervisor's
//! single-threaded runtime, which VRRP adverts share. So:
//! - a semaphore caps the probes in flight (each holds at most one socket),
//!   sized from the descriptor limit so that listeners, reloads, BGP and the
//!   control socket always have descriptors left;
//! - each server's first check is offset by its position among all servers,
//!   spread evenly over the interval as HAProxy spreads its first checks.
//!   The offsets are deterministic: no two servers start together, and a test
//!   can predict them.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

/// The most checks in flight, however high the descriptor limit. A probe
/// lasts at most its timeout (1 s by default), so 1024 at once still checks
/// over 1000 servers a second, which is 50 000 servers at the default 2 s
/// interval as long as most answer in well under 100 ms; and 1024 sockets is
/// a small share of any limit a large deployment runs with.
pub const MAX_CHECKS_IN_FLIGHT: usize = 1024;

/// Health checks may use at most 1/NOFILE_SHARE of the descriptor limit: with
/// `ulimit -n 4096` that is 1024, leaving three quarters for the listeners,
/// a worker being started, BGP sessions, netlink and the control socket.
pub const NOFILE_SHARE: u64 = 4;

/// The gap between two servers' first checks when the interval leaves room
/// for it: a small pool is checked within milliseconds of starting (and is
/// usable at once), while a large one is spread over the whole interval.
/// 1 ms is the resolution of tokio's timers.
pub const SPREAD_STEP: Duration = Duration::from_millis(1);

/// The cap on checks in flight for a process whose descriptor limit is
/// `nofile`: [`MAX_CHECKS_IN_FLIGHT`] or a [`NOFILE_SHARE`] of the limit,
/// whichever is lower, and at least one so that checks still run.
pub fn checks_in_flight(nofile: u64) -> usize {
    let share = usize::try_from(nofile / NOFILE_SHARE).unwrap_or(usize::MAX);
    share.clamp(1, MAX_CHECKS_IN_FLIGHT)
}

/// When the first check of server `index` of `count` starts, relative to the
/// checker's start: `index` steps of [`SPREAD_STEP`], or of `interval /
/// count` when that is shorter, so every offset lies within the interval.
pub fn first_check_offset(interval: Duration, index: usize, count: usize) -> Duration {
    let count = u32::try_from(count.max(1)).unwrap_or(u32::MAX);
    let index = u32::try_from(index).unwrap_or(u32::MAX).min(count - 1);
    let step = (interval / count).min(SPREAD_STEP);
    step * index
}

/// What a checker shares with every other checker of the node (the cap on
/// checks in flight) and what is its own (the offset of its first check).
#[derive(Debug, Clone)]
pub struct Pace {
    permits: Arc<Semaphore>,
    first: Duration,
}

impl Pace {
    /// A checker whose first check starts after `first`, and whose every
    /// check holds one of `permits` while it runs.
    pub fn new(permits: Arc<Semaphore>, first: Duration) -> Pace {
        Pace { permits, first }
    }

    /// No cap and no offset: for a handful of checkers (the demo, tests of
    /// one server), where there is nothing to spread.
    pub fn unpaced() -> Pace {
        Pace::new(
            Arc::new(Semaphore::new(Semaphore::MAX_PERMITS)),
            Duration::ZERO,
        )
    }

    pub fn first(&self) -> Duration {
        self.first
    }

    /// Waits for a slot to run one check. `None` once the semaphore is
    /// closed, which means the checks are being stopped.
    pub async fn slot(&self) -> Option<SemaphorePermit<'_>> {
        self.permits.acquire().await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_is_a_share_of_the_descriptor_limit_up_to_a_maximum() {
        assert_eq!(checks_in_flight(1024), 256);
        assert_eq!(checks_in_flight(4096), 1024);
        assert_eq!(checks_in_flight(1 << 20), MAX_CHECKS_IN_FLIGHT);
        assert_eq!(checks_in_flight(u64::MAX), MAX_CHECKS_IN_FLIGHT);
        // Absurdly low limits still check, one at a time.
        assert_eq!(checks_in_flight(0), 1);
        assert_eq!(checks_in_flight(3), 1);
    }

    #[test]
    fn small_pools_start_at_once_and_large_ones_spread_over_the_interval() {
        let interval = Duration::from_secs(2);
        assert_eq!(first_check_offset(interval, 0, 2), Duration::ZERO);
        assert_eq!(first_check_offset(interval, 1, 2), SPREAD_STEP);
        // 50 000 servers: 40 µs apart, the last one just inside the interval.
        let n = 50_000;
        assert_eq!(
            first_check_offset(interval, 1, n),
            Duration::from_micros(40)
        );
        let last = first_check_offset(interval, n - 1, n);
        assert!(last < interval && last > interval * 99 / 100, "{last:?}");
        // An index past the count (cannot happen) stays within the interval.
        assert!(first_check_offset(interval, n * 2, n) < interval);
        assert_eq!(first_check_offset(interval, 5, 0), Duration::ZERO);
    }
}

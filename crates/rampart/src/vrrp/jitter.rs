//! How late a master's adverts leave: for each advert sent because its
//! timer fired, the time from the deadline the core asked for to the end of
//! the `sendmsg`. A backup declares the master dead after about three
//! intervals (RFC 5798 §6.1), so at 10–20 ms adverts a few tens of
//! milliseconds of lateness is a spurious takeover. `rampart status` shows
//! the p99 and the maximum; the lab tests and the failover bench read them.

use std::time::Duration;

/// Adverts remembered per instance: the last minute at 20 ms adverts. The
/// maximum is kept over the instance's whole life.
const WINDOW: usize = 3000;

/// Lateness of the recent adverts, in microseconds.
#[derive(Debug, Clone, Default)]
pub struct Lateness {
    recent: Vec<u32>,
    /// Where the next sample goes once `recent` is full.
    next: usize,
    max_us: u32,
    count: u64,
}

/// What status shows of a [`Lateness`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Adverts measured since start.
    pub count: u64,
    pub p99_us: u32,
    pub max_us: u32,
}

impl Lateness {
    pub fn record(&mut self, late: Duration) {
        let us = u32::try_from(late.as_micros()).unwrap_or(u32::MAX);
        self.max_us = self.max_us.max(us);
        self.count += 1;
        if self.recent.len() < WINDOW {
            self.recent.push(us);
        } else if let Some(slot) = self.recent.get_mut(self.next) {
            *slot = us;
        }
        self.next = (self.next + 1) % WINDOW;
    }

    /// The 99th percentile over the window (nearest rank), and the
    /// lifetime maximum.
    pub fn summary(&self) -> Summary {
        let mut sorted = self.recent.clone();
        sorted.sort_unstable();
        let p99_us = match sorted.len() {
            0 => 0,
            n => sorted.get((n * 99).div_ceil(100) - 1).copied().unwrap_or(0),
        };
        Summary {
            count: self.count,
            p99_us,
            max_us: self.max_us,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p99_is_the_nearest_rank_and_max_outlives_the_window() {
        let mut l = Lateness::default();
        assert_eq!(l.summary(), Summary::default());
        for us in 1..=100 {
            l.record(Duration::from_micros(us));
        }
        assert_eq!(
            l.summary(),
            Summary {
                count: 100,
                p99_us: 99,
                max_us: 100
            }
        );
        // One very late advert, then a full window of punctual ones: the
        // window forgets it, the maximum does not.
        l.record(Duration::from_millis(150));
        for _ in 0..WINDOW {
            l.record(Duration::from_micros(7));
        }
        let s = l.summary();
        assert_eq!((s.p99_us, s.max_us), (7, 150_000));
        assert_eq!(s.count, 101 + WINDOW as u64);
    }
}

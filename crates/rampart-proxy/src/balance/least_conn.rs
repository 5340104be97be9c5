//! Least connections, weighted (HAProxy `balance leastconn`): the usable
//! server with the smallest `(active + 1) / weight` gets the connection.
//!
//! HAProxy keeps servers in a tree ordered by load; we scan the eligible
//! servers instead. A scan is a few hundred nanoseconds for a few hundred
//! servers, reads only atomics the caller already maintains, and needs no
//! structure that every connection open/close would have to update.
//!
//! Ties are common (all idle at start-up, or equal steady load); taking the
//! first tied server would send every burst to the same one. So the scan
//! starts at a position taken from a shared rotating cursor and keeps the
//! first minimum it meets: equal servers take turns.

use std::cmp::Ordering as CmpOrdering;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Load, Slot, cmp_load};

#[derive(Debug)]
pub(crate) struct LeastConn {
    /// (config index, weight) of each eligible server.
    servers: Vec<(usize, u32)>,
    /// Where the next scan starts; rotates ties.
    cursor: AtomicUsize,
}

// === impl LeastConn ===

impl LeastConn {
    pub(crate) fn new(slots: &[Slot]) -> LeastConn {
        LeastConn {
            servers: slots.iter().map(|s| (s.index, s.weight)).collect(),
            cursor: AtomicUsize::new(0),
        }
    }

    pub(crate) fn pick(&self, load: &impl Load) -> Option<usize> {
        let n = self.servers.len();
        if n == 0 {
            return None;
        }
        let start = self.cursor.fetch_add(1, Ordering::Relaxed) % n;
        // (config index, weight, active) of the least loaded so far.
        let mut best: Option<(usize, u32, u32)> = None;
        for k in 0..n {
            let (index, weight) = self.servers[(start + k) % n];
            if !load.usable(index) {
                continue;
            }
            let active = load.active(index);
            let lighter = match best {
                None => true,
                Some((_, bw, ba)) => cmp_load(active, weight, ba, bw) == CmpOrdering::Less,
            };
            if lighter {
                best = Some((index, weight, active));
            }
        }
        best.map(|(index, _, _)| index)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::balance::tests::{FakeLoad, slots};

    #[test]
    fn balance_leastconn_picks_least_loaded() {
        let lc = LeastConn::new(&slots(&[1, 1, 1]));
        let load = FakeLoad::with_active(&[5, 2, 7]);
        for _ in 0..10 {
            assert_eq!(lc.pick(&load), Some(1));
        }
    }

    #[test]
    fn balance_leastconn_is_weighted() {
        // (9+1)/4 = 2.5 beats (2+1)/1 = 3 and (4+1)/1 = 5.
        let lc = LeastConn::new(&slots(&[1, 4, 1]));
        let load = FakeLoad::with_active(&[2, 9, 4]);
        assert_eq!(lc.pick(&load), Some(1));
        // (11+1)/4 = 3 ties (2+1)/1 = 3: both are taken in turn.
        let load = FakeLoad::with_active(&[2, 11, 4]);
        let mut seen: Vec<_> = (0..4).filter_map(|_| lc.pick(&load)).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen, vec![0, 1]);
    }

    #[test]
    fn balance_leastconn_ties_rotate() {
        let lc = LeastConn::new(&slots(&[2, 2, 2, 2]));
        let load = FakeLoad::with_active(&[3, 3, 3, 3]);
        let mut count: HashMap<usize, u32> = HashMap::new();
        for _ in 0..400 {
            if let Some(i) = lc.pick(&load) {
                *count.entry(i).or_default() += 1;
            }
        }
        assert_eq!(count.len(), 4);
        assert!(count.values().all(|&c| c == 100), "{count:?}");
    }

    #[test]
    fn balance_leastconn_skips_unusable() {
        let lc = LeastConn::new(&slots(&[1, 1, 1]));
        let mut load = FakeLoad::with_active(&[0, 5, 9]);
        load.unusable.insert(0);
        assert_eq!(lc.pick(&load), Some(1));
        load.unusable.extend([1, 2]);
        assert_eq!(lc.pick(&load), None);
    }

    #[test]
    fn balance_leastconn_follows_live_load() {
        // Simulate connections that never close: leastconn then behaves
        // like a weighted round robin, 3:1.
        let lc = LeastConn::new(&slots(&[3, 1]));
        let mut load = FakeLoad::with_active(&[0, 0]);
        for _ in 0..400 {
            if let Some(i) = lc.pick(&load) {
                load.active[i] += 1;
            }
        }
        assert_eq!(load.active, vec![300, 100]);
    }
}

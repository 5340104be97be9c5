//! Power of two random choices (HAProxy `balance random`, draws = 2):
//! draw two servers at random in proportion to their weight and keep the
//! less loaded one, by `(active + 1) / weight`.
//!
//! Mitzenmacher's result is that the second draw cuts the maximum load from
//! `log n / log log n` to `log log n`, with no shared cursor at all: the only
//! shared state is the immutable weight table, and the random numbers come
//! from fastrand's thread-local generator.

use std::cmp::Ordering;

use super::{Load, Slot, cmp_load};

#[derive(Debug)]
pub(crate) struct Random {
    /// (config index, weight) of each eligible server.
    servers: Vec<(usize, u32)>,
    /// `cumulative[i]` = sum of the weights of servers `0..=i`; a draw in
    /// `0..total` maps to the first entry above it.
    cumulative: Vec<u64>,
}

// === impl Random ===

impl Random {
    pub(crate) fn new(slots: &[Slot]) -> Random {
        let mut sum = 0u64;
        let cumulative = slots
            .iter()
            .map(|s| {
                sum += u64::from(s.weight);
                sum
            })
            .collect();
        Random {
            servers: slots.iter().map(|s| (s.index, s.weight)).collect(),
            cumulative,
        }
    }

    /// The lighter usable one of two weighted draws; if neither is usable
    /// (full, or already tried by this connection), any usable server, so a
    /// retry is not refused while capacity remains.
    pub(crate) fn pick(&self, load: &impl Load) -> Option<usize> {
        let a = self.draw()?;
        let b = self.draw()?;
        let (ia, wa) = self.servers[a];
        let (ib, wb) = self.servers[b];
        match (load.usable(ia), load.usable(ib)) {
            (true, true) => {
                let lighter = cmp_load(load.active(ib), wb, load.active(ia), wa);
                Some(if lighter == Ordering::Less { ib } else { ia })
            }
            (true, false) => Some(ia),
            (false, true) => Some(ib),
            (false, false) => {
                // Start at a random server so the fallback spreads too.
                let n = self.servers.len();
                let start = fastrand::usize(..n);
                (0..n)
                    .map(|k| self.servers[(start + k) % n].0)
                    .find(|&i| load.usable(i))
            }
        }
    }

    /// A position in `servers` drawn with probability weight / total.
    fn draw(&self) -> Option<usize> {
        let total = *self.cumulative.last()?;
        if total == 0 {
            return None;
        }
        let x = fastrand::u64(..total);
        Some(self.cumulative.partition_point(|&c| c <= x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::tests::{FakeLoad, slots};

    #[test]
    fn balance_random_draws_follow_weights() {
        fastrand::seed(7);
        let random = Random::new(&slots(&[1, 3, 6]));
        let mut count = [0u32; 3];
        for _ in 0..100_000 {
            if let Some(i) = random.draw() {
                count[i] += 1;
            }
        }
        for (i, expected) in [0.1, 0.3, 0.6].into_iter().enumerate() {
            let share = f64::from(count[i]) / 100_000.0;
            assert!((share - expected).abs() < 0.01, "{count:?}");
        }
    }

    #[test]
    fn balance_random_prefers_lighter_of_two() {
        fastrand::seed(11);
        // Server 1 is far busier: it wins only when drawn twice (1/4).
        let random = Random::new(&slots(&[1, 1]));
        let load = FakeLoad::with_active(&[0, 100]);
        let picks: Vec<_> = (0..10_000).filter_map(|_| random.pick(&load)).collect();
        let busy = picks.iter().filter(|&&i| i == 1).count();
        assert_eq!(picks.len(), 10_000);
        assert!((2_200..2_800).contains(&busy), "{busy}");
    }

    #[test]
    fn balance_random_spreads_live_load() {
        fastrand::seed(3);
        // Connections that never close: two choices keep the spread tight.
        let random = Random::new(&slots(&[1; 10]));
        let mut load = FakeLoad::with_active(&[0; 10]);
        for _ in 0..10_000 {
            if let Some(i) = random.pick(&load) {
                load.active[i] += 1;
            }
        }
        let max = load.active.iter().max().copied().unwrap_or(0);
        let min = load.active.iter().min().copied().unwrap_or(0);
        assert!(max - min <= 4, "{:?}", load.active);
    }

    #[test]
    fn balance_random_falls_back_to_any_usable() {
        fastrand::seed(5);
        let random = Random::new(&slots(&[100, 100, 1]));
        let mut load = FakeLoad::with_active(&[0, 0, 50]);
        load.unusable.extend([0, 1]);
        for _ in 0..200 {
            assert_eq!(random.pick(&load), Some(2));
        }
        load.unusable.insert(2);
        assert_eq!(random.pick(&load), None);
    }

    #[test]
    fn balance_random_empty() {
        let random = Random::new(&[]);
        assert_eq!(random.pick(&FakeLoad::with_active(&[])), None);
    }
}

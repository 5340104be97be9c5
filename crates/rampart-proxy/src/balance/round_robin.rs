//! Smooth weighted round robin, as in nginx
//! (`ngx_http_upstream_get_peer`): on every step each server's `current`
//! grows by its weight, the largest `current` wins (first in config order on
//! ties) and pays back the total weight. Over `sum(weights)` steps every
//! server is picked exactly `weight` times and the picks are spread out
//! (weights 5,1,1 give `a a b a c a a`, never `a a a a a b c`).
//!
//! The sequence depends only on the weights, so it is computed once when the
//! snapshot is built and picking is a lock-free `fetch_add` on a cursor.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Load, Slot};

/// Past this many entries the weights are scaled down (see
/// [`RoundRobin::new`]). 4 Mi u32 entries = 16 MiB; a backend of 5 000
/// servers all at the maximum weight 256 needs 1.28 Mi, so real configs
/// never get here.
const MAX_SEQUENCE: u64 = 1 << 22;

/// How many sequence entries a pick inspects before falling back to one
/// check per server; bounds the cost of a pick when most servers are full.
const WALK_LIMIT: usize = 64;

#[derive(Debug)]
pub(crate) struct RoundRobin {
    /// Config index of each eligible server, in config order.
    servers: Vec<usize>,
    /// One full cycle: positions into `servers`.
    sequence: Vec<u32>,
    /// Shared by all threads; only its value modulo the cycle matters.
    cursor: AtomicUsize,
}

// === impl RoundRobin ===

impl RoundRobin {
    pub(crate) fn new(slots: &[Slot]) -> RoundRobin {
        RoundRobin {
            servers: slots.iter().map(|s| s.index).collect(),
            sequence: sequence(&reduce(slots.iter().map(|s| s.weight).collect())),
            cursor: AtomicUsize::new(0),
        }
    }

    /// Takes the next entry of the cycle; walks forward past servers that
    /// are full or already tried. After [`WALK_LIMIT`] unusable entries it
    /// checks each remaining server once instead of walking the rest of a
    /// possibly million-entry lap.
    ///
    /// The entries walked past are consumed from the shared cursor too:
    /// otherwise the next picks would start inside the same run of unusable
    /// entries and a full server's turns would all go to whichever server
    /// follows it (5,1,1 with `a` full would give `b` five turns in seven
    /// instead of sharing evenly with `c`).
    pub(crate) fn pick(&self, load: &impl Load) -> Option<usize> {
        let len = self.sequence.len();
        if len == 0 {
            return None;
        }
        let start = self.cursor.fetch_add(1, Ordering::Relaxed) % len;
        let walk = len.min(WALK_LIMIT);
        for step in 0..walk {
            let index = self.server_at((start + step) % len)?;
            if load.usable(index) {
                if step > 0 {
                    self.cursor.fetch_add(step, Ordering::Relaxed);
                }
                return Some(index);
            }
        }
        self.cursor.fetch_add(walk, Ordering::Relaxed);
        let from = usize::try_from(*self.sequence.get(start)?).ok()?;
        let n = self.servers.len();
        (1..=n)
            .map(|k| self.servers[(from + k) % n])
            .find(|&i| load.usable(i))
    }

    fn server_at(&self, pos: usize) -> Option<usize> {
        let slot = usize::try_from(*self.sequence.get(pos)?).ok()?;
        self.servers.get(slot).copied()
    }
}

/// Divides the weights by their gcd (the cycle of `k*w` is the cycle of `w`
/// repeated `k` times, so nothing changes but the length), then, only if the
/// cycle is still longer than [`MAX_SEQUENCE`], scales them down
/// proportionally, keeping every weight at least 1.
fn reduce(mut weights: Vec<u32>) -> Vec<u32> {
    let g = weights.iter().copied().fold(0, gcd);
    if g > 1 {
        weights.iter_mut().for_each(|w| *w /= g);
    }
    let sum: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    if sum > MAX_SEQUENCE {
        let per_server = MAX_SEQUENCE / weights.len().max(1) as u64;
        let max = u64::from(weights.iter().copied().max().unwrap_or(1));
        for w in &mut weights {
            let scaled = u64::from(*w) * per_server.max(1) / max;
            *w = u32::try_from(scaled.max(1)).unwrap_or(u32::MAX);
        }
    }
    weights
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// nginx's smooth weighted round robin, run for one full cycle.
///
/// Servers of equal weight are picked in turn in config order (they always
/// have equal `current` apart from the picks they took, and ties go to the
/// first), so each distinct weight is one group whose next member is
/// `picks % size`. Each step compares groups instead of servers: at most 256
/// distinct weights, instead of thousands of servers. After `t` steps a
/// server that was picked `k` times has `current = t*w - k*total`.
fn sequence(weights: &[u32]) -> Vec<u32> {
    struct Group {
        weight: i64,
        /// Positions of the members, ascending.
        members: Vec<u32>,
        picks: usize,
    }
    let mut groups: Vec<Group> = Vec::new();
    for (pos, &w) in weights.iter().enumerate() {
        let Ok(pos) = u32::try_from(pos) else { break };
        match groups.iter_mut().find(|g| g.weight == i64::from(w)) {
            Some(g) => g.members.push(pos),
            None => groups.push(Group {
                weight: i64::from(w),
                members: vec![pos],
                picks: 0,
            }),
        }
    }
    let total: i64 = weights.iter().map(|&w| i64::from(w)).sum();
    let len = usize::try_from(total).unwrap_or(0);
    let mut seq = Vec::with_capacity(len);
    for t in 1..=total {
        // (current, member position, group) of the best candidate.
        let mut best: Option<(i64, u32, usize)> = None;
        for (g, group) in groups.iter().enumerate() {
            let size = group.members.len();
            let member = group.members[group.picks % size];
            let rounds = i64::try_from(group.picks / size).unwrap_or(i64::MAX);
            let current = t * group.weight - rounds * total;
            let better = match best {
                None => true,
                Some((c, m, _)) => current > c || (current == c && member < m),
            };
            if better {
                best = Some((current, member, g));
            }
        }
        let Some((_, member, g)) = best else { break };
        groups[g].picks += 1;
        seq.push(member);
    }
    seq
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The straightforward O(servers) per step algorithm, as nginx runs it.
    fn nginx(weights: &[u32]) -> Vec<u32> {
        let total: i64 = weights.iter().map(|&w| i64::from(w)).sum();
        let mut current = vec![0i64; weights.len()];
        let mut out = Vec::new();
        for _ in 0..total {
            let mut best = 0;
            for (i, &w) in weights.iter().enumerate() {
                current[i] += i64::from(w);
                if current[i] > current[best] {
                    best = i;
                }
            }
            current[best] -= total;
            out.push(best as u32);
        }
        out
    }

    #[test]
    fn balance_rr_nginx_sequence_5_1_1() {
        assert_eq!(sequence(&[5, 1, 1]), vec![0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn balance_rr_grouped_equals_nginx() {
        for weights in [
            vec![1],
            vec![3, 3, 3],
            vec![5, 1, 1],
            vec![1, 5, 1, 5, 2],
            vec![256, 1, 17, 1, 256, 3, 17],
            (1..=40).map(|i| (i * 7) % 13 + 1).collect(),
        ] {
            assert_eq!(sequence(&weights), nginx(&weights), "{weights:?}");
        }
    }

    #[test]
    fn balance_rr_reduce_gcd_and_cap() {
        assert_eq!(reduce(vec![4, 8, 12]), vec![1, 2, 3]);
        assert_eq!(reduce(vec![]), Vec::<u32>::new());
        let huge = reduce(vec![u32::MAX, u32::MAX - 1, 1]);
        let sum: u64 = huge.iter().map(|&w| u64::from(w)).sum();
        assert!(sum <= MAX_SEQUENCE + 3, "{sum}");
        assert!(huge.iter().all(|&w| w >= 1));
    }
}

//! Tests through the public [`Balancer`] API: eligibility (backups, drain,
//! all down) for every algorithm, `first`, and round robin's shares. The
//! Maglev properties are in [`maglev`]; each algorithm file tests its own
//! internals.

mod maglev;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use proptest::prelude::*;
use rampart_config::Balance;

use super::{Balancer, Candidate, Load, Slot};

pub(crate) const ALGOS: [Balance; 5] = [
    Balance::RoundRobin,
    Balance::LeastConn,
    Balance::Source,
    Balance::First,
    Balance::Random,
];

const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

/// Load the tests control: active counts by config index, and a set of
/// servers that are full or already tried.
#[derive(Default)]
pub(crate) struct FakeLoad {
    pub active: Vec<u32>,
    pub unusable: HashSet<usize>,
}

impl FakeLoad {
    pub(crate) fn with_active(active: &[u32]) -> FakeLoad {
        FakeLoad {
            active: active.to_vec(),
            unusable: HashSet::new(),
        }
    }
}

impl Load for FakeLoad {
    fn active(&self, index: usize) -> u32 {
        self.active.get(index).copied().unwrap_or(0)
    }

    fn usable(&self, index: usize) -> bool {
        !self.unusable.contains(&index)
    }
}

/// A distinct address per position: 10.0.hi.lo:80.
pub(crate) fn addr(i: usize) -> SocketAddr {
    let [.., hi, lo] = (i as u32).to_be_bytes();
    SocketAddr::from(([10, 0, hi, lo], 80))
}

/// Eligible slots with indices 0.. and the given weights.
pub(crate) fn slots(weights: &[u32]) -> Vec<Slot> {
    weights
        .iter()
        .enumerate()
        .map(|(index, &weight)| Slot {
            index,
            addr: addr(index),
            weight,
        })
        .collect()
}

/// Up primaries with indices 0.. and the given weights.
pub(crate) fn primaries(weights: &[u32]) -> Vec<Candidate> {
    weights
        .iter()
        .enumerate()
        .map(|(index, &weight)| Candidate {
            index,
            addr: addr(index),
            weight,
            backup: false,
            up: true,
        })
        .collect()
}

fn picks(b: &Balancer, load: &FakeLoad, n: usize) -> Vec<usize> {
    (0..n).filter_map(|_| b.pick(CLIENT, load)).collect()
}

// === eligibility, for every algorithm ===

#[test]
fn balance_backup_only_when_no_primary_up() {
    let mut servers = primaries(&[1, 1, 1, 1]);
    servers[2].backup = true;
    servers[3].backup = true;
    let load = FakeLoad::default();
    for algo in ALGOS {
        let b = Balancer::new(algo, &servers);
        assert_eq!(b.eligible(), &[0, 1], "{algo:?}");
        assert!(picks(&b, &load, 50).iter().all(|&i| i < 2), "{algo:?}");
    }
    // One primary up is enough to keep the backups idle.
    servers[0].up = false;
    for algo in ALGOS {
        let b = Balancer::new(algo, &servers);
        assert_eq!(picks(&b, &load, 20), vec![1; 20], "{algo:?}");
    }
    servers[1].up = false;
    for algo in ALGOS {
        let b = Balancer::new(algo, &servers);
        assert_eq!(b.eligible(), &[2, 3], "{algo:?}");
        assert!(picks(&b, &load, 50).iter().all(|&i| i >= 2), "{algo:?}");
    }
}

#[test]
fn balance_weight_zero_never_picked() {
    let mut servers = primaries(&[0, 3, 0, 1]);
    servers[3].backup = true;
    let load = FakeLoad::default();
    for algo in ALGOS {
        let b = Balancer::new(algo, &servers);
        assert_eq!(b.eligible(), &[1], "{algo:?}");
        assert_eq!(picks(&b, &load, 30), vec![1; 30], "{algo:?}");
    }
    // A drained primary does not count as up for the backup rule either
    // (HAProxy: a server with effective weight 0 is not usable).
    servers[1].weight = 0;
    for algo in ALGOS {
        let b = Balancer::new(algo, &servers);
        assert_eq!(b.eligible(), &[3], "{algo:?}");
    }
}

#[test]
fn balance_all_down_or_empty_is_none() {
    let mut servers = primaries(&[1, 2, 3]);
    servers[2].backup = true;
    servers.iter_mut().for_each(|s| s.up = false);
    for algo in ALGOS {
        for set in [&servers[..], &[]] {
            let b = Balancer::new(algo, set);
            assert!(b.eligible().is_empty(), "{algo:?}");
            assert_eq!(b.pick(CLIENT, &FakeLoad::default()), None, "{algo:?}");
        }
    }
}

#[test]
fn balance_all_unusable_is_none() {
    let servers = primaries(&[1, 2, 3]);
    let load = FakeLoad {
        unusable: (0..3).collect(),
        ..FakeLoad::default()
    };
    for algo in ALGOS {
        let b = Balancer::new(algo, &servers);
        assert_eq!(b.pick(CLIENT, &load), None, "{algo:?}");
    }
}

#[test]
fn balance_is_send_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Balancer>();
}

// === first ===

#[test]
fn balance_first_fills_in_config_order() {
    // Listed out of order: `first` follows `index`, not the slice order.
    let mut servers = primaries(&[1, 5, 1]);
    servers.reverse();
    let b = Balancer::new(Balance::First, &servers);
    let mut load = FakeLoad::default();
    assert_eq!(b.pick(CLIENT, &load), Some(0));
    load.unusable.insert(0);
    assert_eq!(b.pick(CLIENT, &load), Some(1));
    load.unusable.insert(1);
    assert_eq!(b.pick(CLIENT, &load), Some(2));
    load.unusable.remove(&0);
    assert_eq!(b.pick(CLIENT, &load), Some(0));
}

// === round robin ===

#[test]
fn balance_rr_smooth_5_1_1() {
    let b = Balancer::new(Balance::RoundRobin, &primaries(&[5, 1, 1]));
    let load = FakeLoad::default();
    let cycle = vec![0, 0, 1, 0, 2, 0, 0];
    assert_eq!(picks(&b, &load, 7), cycle);
    assert_eq!(picks(&b, &load, 7), cycle);
}

#[test]
fn balance_rr_skips_unusable() {
    let b = Balancer::new(Balance::RoundRobin, &primaries(&[5, 1, 1]));
    let mut load = FakeLoad::default();
    load.unusable.insert(0);
    // a's turns are shared by b and c, not all handed to b (the next
    // entry after most a's).
    let got = picks(&b, &load, 70);
    assert_eq!(got.len(), 70);
    let count = |s| got.iter().filter(|&&i| i == s).count();
    assert_eq!((count(0), count(1), count(2)), (0, 35, 35), "{got:?}");
}

#[test]
fn balance_rr_skips_long_unusable_runs() {
    // 256:1 puts about 128 a's in a row, past the walk limit: the pick
    // still finds b.
    let b = Balancer::new(Balance::RoundRobin, &primaries(&[256, 1]));
    let mut load = FakeLoad::default();
    load.unusable.insert(0);
    assert_eq!(picks(&b, &load, 300), vec![1; 300]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any run of picks, not only whole cycles, gives every server its
    /// weight's share within 1 %.
    #[test]
    fn balance_rr_shares_follow_weights(
        weights in prop::collection::vec(1u32..=256, 2..=10),
        offset in 0usize..1000,
    ) {
        let b = Balancer::new(Balance::RoundRobin, &primaries(&weights));
        let load = FakeLoad::default();
        let sum: u32 = weights.iter().sum();
        let _ = picks(&b, &load, offset);
        let n = 50_000;
        let mut count: HashMap<usize, u32> = HashMap::new();
        for i in picks(&b, &load, n) {
            *count.entry(i).or_default() += 1;
        }
        for (i, &w) in weights.iter().enumerate() {
            let share = f64::from(count.get(&i).copied().unwrap_or(0)) / n as f64;
            let expected = f64::from(w) / f64::from(sum);
            prop_assert!((share - expected).abs() <= 0.01, "server {i}: {share} vs {expected}");
        }
    }
}

//! Maglev (`balance source`) properties: stickiness, agreement between
//! independently built nodes, minimal disruption, weighted shares.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use proptest::prelude::*;
use rampart_config::Balance;

use super::{FakeLoad, primaries};
use crate::balance::maglev::{M, Maglev};
use crate::balance::{Balancer, Candidate, Slot};

/// Client addresses from a seed: mostly IPv4, one in eight IPv6.
fn clients(seed: u64, n: usize) -> Vec<IpAddr> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..n)
        .map(|_| {
            if rng.u8(..8) == 0 {
                IpAddr::V6(Ipv6Addr::from(rng.u128(..)))
            } else {
                IpAddr::V4(Ipv4Addr::from(rng.u32(..)))
            }
        })
        .collect()
}

/// The server address each client lands on, all servers usable.
fn owners(b: &Balancer, servers: &[Candidate], clients: &[IpAddr]) -> Vec<Option<SocketAddr>> {
    let load = FakeLoad::default();
    let addr_of: HashMap<usize, SocketAddr> = servers.iter().map(|s| (s.index, s.addr)).collect();
    clients
        .iter()
        .map(|&c| b.pick(c, &load).and_then(|i| addr_of.get(&i).copied()))
        .collect()
}

/// Marks server `k` down and measures: (all clients moved, clients of
/// surviving servers moved as a fraction of those clients, share of `k`).
fn disruption(servers: &[Candidate], k: usize, clients: &[IpAddr]) -> (f64, f64, f64) {
    let before = owners(&Balancer::new(Balance::Source, servers), servers, clients);
    let mut down = servers.to_vec();
    down[k].up = false;
    let after = owners(&Balancer::new(Balance::Source, &down), &down, clients);
    let removed = Some(servers[k].addr);
    let (mut moved, mut survivors, mut survivors_moved) = (0, 0, 0);
    for (b, a) in before.iter().zip(&after) {
        moved += usize::from(b != a);
        if *b != removed {
            survivors += 1;
            survivors_moved += usize::from(b != a);
        }
    }
    let n = clients.len() as f64;
    let share_removed = (clients.len() - survivors) as f64 / n;
    let survivors_frac = survivors_moved as f64 / survivors.max(1) as f64;
    (moved as f64 / n, survivors_frac, share_removed)
}

#[test]
fn balance_maglev_same_client_same_server() {
    let servers = primaries(&[1; 7]);
    let b = Balancer::new(Balance::Source, &servers);
    let load = FakeLoad::default();
    for c in clients(1, 1000) {
        let first = b.pick(c, &load);
        assert!(first.is_some());
        assert!((0..5).all(|_| b.pick(c, &load) == first));
    }
}

#[test]
fn balance_maglev_ipv4_mapped_is_ipv4() {
    let servers = primaries(&[1; 9]);
    let b = Balancer::new(Balance::Source, &servers);
    let load = FakeLoad::default();
    for c in clients(2, 1000) {
        if let IpAddr::V4(v4) = c {
            let mapped = IpAddr::V6(v4.to_ipv6_mapped());
            assert_eq!(b.pick(c, &load), b.pick(mapped, &load));
        }
    }
}

#[test]
fn balance_maglev_independent_nodes_agree() {
    // Node B lists the same servers in another config order (so other
    // indices) and hands them over in yet another order; an IPv6 server
    // is mixed in.
    let mut a = primaries(&[3, 1, 4, 1, 5, 9, 2, 6]);
    a[7].addr = SocketAddr::from((Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 7), 8080));
    let n = a.len();
    let mut b: Vec<Candidate> = a
        .iter()
        .map(|s| Candidate {
            index: n - 1 - s.index,
            ..s.clone()
        })
        .collect();
    b.swap(0, 5);
    b.swap(2, 7);
    let cs = clients(3, 20_000);
    let picked_a = owners(&Balancer::new(Balance::Source, &a), &a, &cs);
    let picked_b = owners(&Balancer::new(Balance::Source, &b), &b, &cs);
    assert!(picked_a.iter().all(Option::is_some));
    assert_eq!(picked_a, picked_b);
}

#[test]
fn balance_maglev_unusable_walks_forward_deterministically() {
    let servers = primaries(&[1; 6]);
    let b = Balancer::new(Balance::Source, &servers);
    let all = FakeLoad::default();
    let mut full = FakeLoad::default();
    full.unusable.insert(2);
    let mut spill = HashMap::new();
    for c in clients(4, 5000) {
        let usual = b.pick(c, &all);
        let now = b.pick(c, &full);
        assert_eq!(now, b.pick(c, &full));
        if usual == Some(2) {
            *spill.entry(now).or_insert(0) += 1;
        } else {
            assert_eq!(now, usual);
        }
    }
    // The refused clients spread over the others, not onto one neighbour.
    assert!(
        !spill.contains_key(&Some(2)) && spill.len() >= 4,
        "{spill:?}"
    );
}

#[test]
fn balance_maglev_adding_back_restores() {
    let servers = primaries(&[2, 1, 1, 3, 1]);
    let cs = clients(5, 20_000);
    let before = owners(&Balancer::new(Balance::Source, &servers), &servers, &cs);
    let mut down = servers.clone();
    down[3].up = false;
    let during = owners(&Balancer::new(Balance::Source, &down), &down, &cs);
    let after = owners(&Balancer::new(Balance::Source, &servers), &servers, &cs);
    assert_ne!(before, during);
    assert_eq!(before, after);
}

/// Every N from 3 to 20, every server removed in turn, equal weights and
/// then random weights: prints the worst figures (run with `--nocapture`).
#[test]
fn balance_maglev_disruption_sweep() {
    let cs = clients(6, 20_000);
    let mut rng = fastrand::Rng::with_seed(6);
    for weighted in [false, true] {
        let (mut worst_extra, mut worst_survivor) = (0f64, 0f64);
        let (mut sum_survivor, mut runs) = (0f64, 0);
        for n in 3..=20 {
            let weights: Vec<u32> = (0..n)
                .map(|_| if weighted { rng.u32(1..=256) } else { 1 })
                .collect();
            let servers = primaries(&weights);
            for k in 0..n {
                let (moved, survivors, share) = disruption(&servers, k, &cs);
                assert!(moved <= share + 0.02, "n={n} k={k}: {moved} vs {share}");
                assert!(survivors <= 0.02, "n={n} k={k}: {survivors}");
                worst_extra = worst_extra.max(moved - share);
                worst_survivor = worst_survivor.max(survivors);
                sum_survivor += survivors;
                runs += 1;
            }
        }
        eprintln!(
            "maglev removal (weighted: {weighted}), N=3..=20, {runs} runs: clients of surviving \
             servers moved max {:.3} %, mean {:.3} %; moved beyond the removed server's share \
             max {:.3} %",
            worst_survivor * 100.0,
            sum_survivor / f64::from(runs) * 100.0,
            worst_extra * 100.0
        );
    }
}

/// Up primaries of weight 1 at these (IPv4, port) addresses.
fn unweighted<'a>(addrs: impl Iterator<Item = &'a (u32, u16)>) -> Vec<Candidate> {
    addrs
        .enumerate()
        .map(|(index, &(ip, port))| Candidate {
            index,
            addr: SocketAddr::from((Ipv4Addr::from(ip), port)),
            weight: 1,
            backup: false,
            up: true,
        })
        .collect()
}

/// A case proptest found when the table was rebuilt without the removed
/// server: 0.0.0.0:1 first in address order, and its removal moved 55 % of
/// the other servers' clients. The table now keeps a down server (a pick
/// walks past it), so only its own clients move.
#[test]
fn balance_maglev_removal_of_the_first_server_in_address_order_moves_only_its_clients() {
    let addrs = [
        (0u32, 1u16),
        (2_282_479_179, 36_032),
        (2_505_011_776, 21_447),
    ];
    let servers = unweighted(addrs.iter());
    for k in 0..servers.len() {
        let (moved, survivors, share) =
            disruption(&servers, k, &clients(8_817_305_263_298_224_892, 20_000));
        assert!(
            (moved - share).abs() < 1e-9,
            "k={k}: moved {moved}, share {share}"
        );
        assert_eq!(survivors, 0.0, "k={k}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Random server addresses, N in 3..=20, any one removed: only about
    /// that server's clients move.
    #[test]
    fn balance_maglev_removal_moves_little(
        addrs in prop::collection::hash_set((any::<u32>(), 1u16..), 3..=20),
        k in any::<prop::sample::Index>(),
        seed in any::<u64>(),
    ) {
        let servers = unweighted(addrs.iter());
        let n = servers.len();
        let (moved, survivors, _) = disruption(&servers, k.index(n), &clients(seed, 20_000));
        prop_assert!(moved <= 1.0 / n as f64 + 0.02, "moved {moved}");
        prop_assert!(survivors <= 0.02, "survivors moved {survivors}");
    }

    /// Weighted: the removed server's clients move, few others do.
    #[test]
    fn balance_maglev_weighted_removal_moves_little(
        weights in prop::collection::vec(1u32..=256, 3..=20),
        k in any::<prop::sample::Index>(),
        seed in any::<u64>(),
    ) {
        let servers = primaries(&weights);
        let k = k.index(servers.len());
        let (moved, survivors, share) = disruption(&servers, k, &clients(seed, 20_000));
        prop_assert!(moved <= share + 0.02, "moved {moved}, share {share}");
        prop_assert!(survivors <= 0.02, "survivors moved {survivors}");
    }

    /// Each server owns its weight's share of the table: within 1 % of the
    /// expected entry count, or 2 entries for tiny shares.
    #[test]
    fn balance_maglev_table_share_follows_weights(
        weights in prop::collection::vec(1u32..=256, 1..=20),
    ) {
        let slots: Vec<Slot> = primaries(&weights)
            .iter()
            .map(|c| Slot { index: c.index, addr: c.addr, weight: c.weight })
            .collect();
        let all: Vec<usize> = slots.iter().map(|s| s.index).collect();
        let maglev = Maglev::new(&slots, &all);
        let mut count = vec![0usize; weights.len()];
        for pos in 0..M {
            let i = maglev.server_at(pos);
            prop_assert!(i.is_some());
            if let Some(i) = i {
                count[i] += 1;
            }
        }
        let sum: u32 = weights.iter().sum();
        for (i, &w) in weights.iter().enumerate() {
            let expected = M as f64 * f64::from(w) / f64::from(sum);
            let error = (count[i] as f64 - expected).abs();
            prop_assert!(error <= (expected * 0.01).max(2.0), "server {i}: {} vs {expected}", count[i]);
        }
    }
}

/// The NAT data plane's table: the same whatever the order servers are
/// given in (two nodes whose configs list them differently agree), the
/// weights' shares within 1 %, and a server's removal moves its entries
/// and few others.
#[test]
fn lookup_table_is_order_free_weighted_and_minimally_disrupted() {
    let a: SocketAddr = "192.168.1.21:80".parse().unwrap();
    let b: SocketAddr = "192.168.1.22:80".parse().unwrap();
    let c: SocketAddr = "192.168.1.23:80".parse().unwrap();
    let one = crate::balance::lookup_table(&[(a, 1), (b, 3), (c, 2)], 4093);
    let other = crate::balance::lookup_table(&[(c, 2), (a, 1), (b, 3)], 4093);
    assert_eq!(one.len(), 4093);
    // Index i of the first list is server [a, b, c][i]; of the second, [c, a, b][i].
    let named = |t: &[u32], order: [SocketAddr; 3]| -> Vec<SocketAddr> {
        t.iter().map(|&i| order[i as usize]).collect()
    };
    assert_eq!(named(&one, [a, b, c]), named(&other, [c, a, b]));
    let share = |t: &[u32], i: u32| t.iter().filter(|&&x| x == i).count() as f64 / t.len() as f64;
    for (i, want) in [(0, 1.0 / 6.0), (1, 3.0 / 6.0), (2, 2.0 / 6.0)] {
        assert!(
            (share(&one, i) - want).abs() < 0.01,
            "{i}: {}",
            share(&one, i)
        );
    }
    // c goes: its entries move; of a's and b's, under 2 % do.
    let without = crate::balance::lookup_table(&[(a, 1), (b, 3)], 4093);
    let moved = one
        .iter()
        .zip(&without)
        .filter(|&(&before, &after)| before != 2 && before != after)
        .count();
    assert!(moved * 50 < 4093, "{moved}");
    assert!(without.iter().all(|&i| i < 2));
    // Sizes round up to a prime; no weight, no table.
    assert_eq!(crate::balance::lookup_table(&[(a, 1)], 1000).len(), 1021);
    assert!(crate::balance::lookup_table(&[(a, 0)], 1000).is_empty());
}

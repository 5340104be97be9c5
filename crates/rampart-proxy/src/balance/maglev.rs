//! Weighted Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and
//! Reliable Software Network Load Balancer", NSDI'16, §3.4) of the client
//! address: HAProxy's `balance source`, but stable when servers come and go.
//!
//! Every server walks its own permutation of a lookup table of prime size
//! [`M`], claiming the first free entry on each turn; a client hashes to an
//! entry. Removing a server frees only its entries (plus a small reshuffle
//! the paper measures), so clients of the other servers mostly stay put.
//!
//! Two properties matter for an active/passive pair that fails over, or an
//! ECMP/BGP pair that both take traffic: the table must be the same on every
//! node. So the permutations come from SipHash-1-3 with fixed keys over the
//! server's address (never its position or name, which differ between
//! configs), and the servers are populated in address order, not config
//! order. This is why the `maglev` crates are not used: they hash with the
//! std `DefaultHasher`, whose output may differ between builds.
//!
//! Weights: in population round `r` a server takes a turn only while it has
//! claimed fewer than `r * weight / max_weight` entries, so the heaviest
//! server takes one entry per round and the others proportionally fewer.

use std::net::{IpAddr, SocketAddr};

use siphasher::sip::SipHasher13;

use super::{Load, Slot};

/// Lookup table size: a prime (so every skip in `1..M` generates a full
/// permutation) about 100 times a large backend, which the paper shows keeps
/// the per-server share within about 1 % and the reshuffle on change small.
pub(crate) const M: usize = 65_537;

/// Fixed SipHash keys. Changing any of them remaps every client, so they
/// are part of the wire behaviour like a protocol constant.
const OFFSET_KEYS: (u64, u64) = (0x7261_6d70_6172_7431, 0x6d61_676c_6576_6f66);
const SKIP_KEYS: (u64, u64) = (0x7261_6d70_6172_7432, 0x6d61_676c_6576_736b);
const CLIENT_KEYS: (u64, u64) = (0x7261_6d70_6172_7433, 0x736f_7572_6365_6970);

/// Table entries a pick walks past unusable servers before falling back to
/// one check per server (bounds a pick when nearly every server is full).
const WALK_LIMIT: usize = 256;

#[derive(Debug)]
pub(crate) struct Maglev {
    /// Config index of each server in the table, in address order.
    servers: Vec<usize>,
    /// Per entry of `servers`: whether it may be picked (up, in service).
    /// Servers that are not stay in the table, so that their going away
    /// moves only their own clients.
    eligible: Vec<bool>,
    /// `M` positions into `servers`; empty when there are no servers.
    table: Vec<u32>,
}

// === impl Maglev ===

impl Maglev {
    /// The table over `slots`, of which the servers in `eligible` (config
    /// indices) may be picked.
    pub(crate) fn new(slots: &[Slot], eligible: &[usize]) -> Maglev {
        let mut sorted = slots.to_vec();
        // Address order makes the table independent of config order; weight
        // and index only break ties between duplicate addresses.
        sorted.sort_by_key(|s| (addr_key(s.addr), s.weight, s.index));
        let weights: Vec<u32> = sorted.iter().map(|s| s.weight).collect();
        let perms: Vec<(usize, usize)> = sorted.iter().map(|s| permutation(s.addr, M)).collect();
        let usable: Vec<bool> = sorted.iter().map(|s| eligible.contains(&s.index)).collect();
        Maglev {
            servers: sorted.iter().map(|s| s.index).collect(),
            table: if usable.iter().any(|&u| u) {
                populate(&perms, &weights, M)
            } else {
                Vec::new()
            },
            eligible: usable,
        }
    }

    /// The client's table entry; if that server is unusable, the next
    /// usable one forward in the table, so a client that is refused or
    /// retried still lands on the same server every time.
    pub(crate) fn pick(&self, client: IpAddr, load: &impl Load) -> Option<usize> {
        let start = self.entry(client)?;
        for step in 0..WALK_LIMIT {
            let pos = (start + step) % M;
            let slot = usize::try_from(*self.table.get(pos)?).ok()?;
            let index = *self.servers.get(slot)?;
            if self.eligible.get(slot).copied().unwrap_or(false) && load.usable(index) {
                return Some(index);
            }
        }
        // Deterministic fallback: the servers after the entry's own, in
        // address order.
        let from = usize::try_from(*self.table.get(start)?).ok()?;
        let n = self.servers.len();
        (1..=n)
            .map(|k| (from + k) % n)
            .filter(|&slot| self.eligible.get(slot).copied().unwrap_or(false))
            .map(|slot| self.servers[slot])
            .find(|&i| load.usable(i))
    }

    /// The table entry of a client, or None when there are no servers.
    pub(crate) fn entry(&self, client: IpAddr) -> Option<usize> {
        if self.table.is_empty() {
            return None;
        }
        let (k0, k1) = CLIENT_KEYS;
        let h = SipHasher13::new_with_keys(k0, k1).hash(&ip_octets(client));
        usize::try_from(h % M as u64).ok()
    }

    /// The server owning table entry `pos` (tests).
    #[cfg(test)]
    pub(crate) fn server_at(&self, pos: usize) -> Option<usize> {
        let slot = usize::try_from(*self.table.get(pos)?).ok()?;
        self.servers.get(slot).copied()
    }
}

/// IP octets, with IPv4-mapped IPv6 (`::ffff:a.b.c.d`, as a dual-stack
/// listener reports IPv4 clients) folded to plain IPv4 so that both forms
/// of one address hash alike.
fn ip_octets(ip: IpAddr) -> Vec<u8> {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

/// The hashed form of a server address: IP octets then the port, big-endian.
fn addr_key(addr: SocketAddr) -> Vec<u8> {
    let mut key = ip_octets(addr.ip());
    key.extend_from_slice(&addr.port().to_be_bytes());
    key
}

/// A server's `(offset, skip)`: its permutation visits
/// `offset, offset + skip, offset + 2*skip, ...` modulo `M`.
fn permutation(addr: SocketAddr, m: usize) -> (usize, usize) {
    let key = addr_key(addr);
    let m = m as u64;
    let offset = SipHasher13::new_with_keys(OFFSET_KEYS.0, OFFSET_KEYS.1).hash(&key) % m;
    let skip = SipHasher13::new_with_keys(SKIP_KEYS.0, SKIP_KEYS.1).hash(&key) % (m - 1) + 1;
    // Both are < M, which fits any usize of 32 bits or more.
    (offset as usize, skip as usize)
}

/// Table sizes [`lookup_table`] takes: primes, so that every skip
/// generates a full permutation.
pub const TABLE_SIZES: [usize; 8] = [251, 1021, 4093, 16_381, 32_749, 65_521, 65_537, 131_071];

/// A Maglev lookup table of `m` entries (one of [`TABLE_SIZES`], else the
/// next one up) over `servers` (address, weight): each entry is an index
/// into `servers`. It depends on the set of (address, weight) only, not on
/// their order, so every node with the same servers builds the same table:
/// the NAT data plane relies on that to keep a connection's server when
/// it moves to another node. Servers of weight 0 get no entry; empty when
/// no server has a weight.
pub fn lookup_table(servers: &[(SocketAddr, u32)], m: usize) -> Vec<u32> {
    let m = TABLE_SIZES
        .iter()
        .copied()
        .find(|&p| p >= m)
        .unwrap_or(TABLE_SIZES[TABLE_SIZES.len() - 1]);
    let mut order: Vec<usize> = (0..servers.len()).collect();
    order.sort_by_key(|&i| (addr_key(servers[i].0), servers[i].1, i));
    let perms: Vec<(usize, usize)> = order
        .iter()
        .map(|&i| permutation(servers[i].0, m))
        .collect();
    let weights: Vec<u32> = order.iter().map(|&i| servers[i].1).collect();
    populate(&perms, &weights, m)
        .into_iter()
        // Positions in address order back to the caller's indices.
        .map(|p| order.get(p as usize).map_or(0, |&i| i as u32))
        .collect()
}

/// Fills the table (the paper's Pseudocode 1, with weighted turns).
///
/// Each server keeps its position `next` in its permutation; on its turn it
/// advances past claimed entries and claims the first free one. A server
/// takes a turn in round `r` while `filled * max_weight < r * weight`.
fn populate(perms: &[(usize, usize)], weights: &[u32], m: usize) -> Vec<u32> {
    const FREE: u32 = u32::MAX;
    // Servers past the m-th could never claim an entry: the first m take
    // them all in round one. Capping also makes every position fit a u32.
    let n = perms.len().min(weights.len()).min(m);
    if n == 0 || weights.iter().all(|&w| w == 0) {
        return Vec::new();
    }
    let max_weight = u64::from(weights.iter().copied().max().unwrap_or(1).max(1));
    let mut table = vec![FREE; m];
    // Each server's current position in its permutation.
    let mut cursor: Vec<usize> = perms.iter().map(|&(offset, _)| offset).collect();
    let mut filled = vec![0u64; n];
    let mut claimed = 0;
    let mut round: u64 = 0;
    while claimed < m {
        round += 1;
        for i in 0..n {
            if filled[i] * max_weight >= round * u64::from(weights[i]) {
                continue;
            }
            let skip = perms[i].1;
            // Terminates: skip is coprime to the prime M, so the
            // permutation visits every entry and one is still free.
            let pos = loop {
                let pos = cursor[i];
                cursor[i] = (pos + skip) % m;
                if table[pos] == FREE {
                    break pos;
                }
            };
            table[pos] = i as u32; // i < M < u32::MAX
            filled[i] += 1;
            claimed += 1;
            if claimed == m {
                break;
            }
        }
    }
    table
}

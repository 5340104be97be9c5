//! Backend selection: which server gets the next connection.
//!
//! A [`Balancer`] is an immutable structure built from one snapshot of the
//! backend's server states. The caller publishes it through an `ArcSwap` and
//! rebuilds it on every up/down change, so the hot path never takes a lock:
//! picking reads the snapshot plus, for the rotating algorithms, one shared
//! `AtomicUsize` cursor. Live load (active connections, free `maxconn`
//! slots, servers already tried by this connection) changes per connection,
//! so it is not baked in; the caller passes it at pick time through [`Load`].
//!
//! The algorithms mirror HAProxy's `balance` keyword, one file each:
//! - [`round_robin`]: nginx's smooth weighted round robin, precomputed;
//! - [`least_conn`]: fewest active connections relative to weight;
//! - [`maglev`]: weighted Maglev consistent hashing of the client address,
//!   identical on every node that has the same server set;
//! - `first` (here, it is a few lines): the first server with a free slot;
//! - [`random`]: power of two weighted random choices.

mod least_conn;
mod maglev;
pub use maglev::{TABLE_SIZES, lookup_table};
mod random;
mod round_robin;

#[cfg(test)]
mod tests;

use std::cmp::Ordering;
use std::net::{IpAddr, SocketAddr};

use rampart_config::Balance;

use least_conn::LeastConn;
use maglev::Maglev;
use random::Random;
use round_robin::RoundRobin;

/// One server as the balancer sees it. `index` is the server's position in
/// the backend's config list.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub index: usize,
    pub addr: SocketAddr,
    pub weight: u32,
    pub backup: bool,
    pub up: bool,
}

/// Live per-server load, supplied by the caller at pick time.
pub trait Load {
    /// Current active connections of server `index`.
    fn active(&self, index: usize) -> u32;
    /// Whether server `index` may take a connection now (has a free maxconn
    /// slot and was not already tried by this connection).
    fn usable(&self, index: usize) -> bool;
}

/// Immutable selection structure built from one snapshot of server states;
/// shared across threads (Send + Sync), published via ArcSwap by the caller
/// and rebuilt on every up/down change.
#[derive(Debug)]
pub struct Balancer {
    /// Config indices of the eligible servers, ascending.
    eligible: Vec<usize>,
    algo: Algo,
}

/// The per-algorithm state. Each variant only ever sees the eligible servers.
#[derive(Debug)]
enum Algo {
    RoundRobin(RoundRobin),
    LeastConn(LeastConn),
    Source(Maglev),
    /// Needs no state: it walks [`Balancer::eligible`] in config order.
    First,
    Random(Random),
}

/// An eligible server, as handed to the algorithm builders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Slot {
    /// Position in the backend's config list (what `pick` returns).
    pub index: usize,
    pub addr: SocketAddr,
    /// Always > 0: weight-0 servers are draining and never eligible.
    pub weight: u32,
}

// === impl Balancer ===

impl Balancer {
    pub fn new(algo: Balance, servers: &[Candidate]) -> Balancer {
        let backup = backup_tier(servers);
        let slots = tier_slots(servers, backup, true);
        let eligible: Vec<usize> = slots.iter().map(|s| s.index).collect();
        let algo = match algo {
            Balance::RoundRobin => Algo::RoundRobin(RoundRobin::new(&slots)),
            Balance::LeastConn => Algo::LeastConn(LeastConn::new(&slots)),
            // Maglev's table holds the whole tier, down servers included,
            // and a pick walks past those: a server going down (or being
            // drained) moves only its own clients. Rebuilt without it, the
            // table would reshuffle others too (many, with few servers).
            Balance::Source => {
                Algo::Source(Maglev::new(&tier_slots(servers, backup, false), &eligible))
            }
            Balance::First => Algo::First,
            Balance::Random => Algo::Random(Random::new(&slots)),
        };
        Balancer { eligible, algo }
    }

    /// The server to use for a client, or None if no eligible server is
    /// usable.
    pub fn pick(&self, client: IpAddr, load: &impl Load) -> Option<usize> {
        match &self.algo {
            Algo::RoundRobin(rr) => rr.pick(load),
            Algo::LeastConn(lc) => lc.pick(load),
            Algo::Source(maglev) => maglev.pick(client, load),
            // HAProxy `balance first`: fill servers in config order so that
            // the last ones can be powered down when traffic is low.
            Algo::First => self.eligible.iter().copied().find(|&i| load.usable(i)),
            Algo::Random(random) => random.pick(load),
        }
    }

    /// Indices of the servers currently eligible (the up primaries, or the
    /// up backups when no primary is up).
    pub fn eligible(&self) -> &[usize] {
        &self.eligible
    }
}

/// Whether the eligible servers are the backups: HAProxy uses backups
/// only when no primary is up (and not draining).
fn backup_tier(servers: &[Candidate]) -> bool {
    !servers.iter().any(|c| c.up && c.weight > 0 && !c.backup)
}

/// The servers of a tier (primaries or backups) with a weight, only the up
/// ones if `up_only` (the eligible ones), or all of them (Maglev's table).
/// Sorted by config index so every algorithm starts from a canonical order
/// whatever order the caller listed the candidates in.
fn tier_slots(servers: &[Candidate], backup: bool, up_only: bool) -> Vec<Slot> {
    let mut slots: Vec<Slot> = servers
        .iter()
        .filter(|c| c.weight > 0 && c.backup == backup && (c.up || !up_only))
        .map(|c| Slot {
            index: c.index,
            addr: c.addr,
            weight: c.weight,
        })
        .collect();
    slots.sort_by_key(|s| s.index);
    slots
}

/// Compares the weighted load `(active + 1) / weight` of two servers without
/// floats: `(a + 1) / wa < (b + 1) / wb  <=>  (a + 1) * wb < (b + 1) * wa`.
/// The `+ 1` counts the connection about to be placed, so an idle heavy
/// server beats an idle light one. u64 products of u32 factors cannot
/// overflow.
pub(crate) fn cmp_load(active_a: u32, weight_a: u32, active_b: u32, weight_b: u32) -> Ordering {
    let a = (u64::from(active_a) + 1) * u64::from(weight_b);
    let b = (u64::from(active_b) + 1) * u64::from(weight_a);
    a.cmp(&b)
}

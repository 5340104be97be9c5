//! Traffic counters of frontends, backends and servers, and the snapshot
//! the worker hands the supervisor (`rampart show servers`, `/metrics`).
//!
//! The hot path pays a few relaxed atomic adds per connection, never per
//! forwarded chunk: bytes are added once, when the connection ends (so a
//! long-lived connection's bytes show when it closes, as with HAProxy's
//! `option tcplog` totals). Maxima are kept with a plain load before any
//! write, so a connection that sets no new maximum writes nothing.
//! Rates (connections in the last second) are taken by [`Proxy::tick`],
//! which the worker calls once a second.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

use serde::{Deserialize, Serialize};

use crate::proxy::Proxy;

/// The counters one frontend, backend or server keeps. Not every one
/// applies at every level (a frontend has no connect errors); those stay 0
/// and the snapshot leaves them out.
#[derive(Debug, Default)]
pub struct Counters {
    /// Connections now.
    current: AtomicU32,
    /// The most at once since start.
    max: AtomicU32,
    /// Connections ever.
    total: AtomicU64,
    /// `total` at the last tick, and the difference over the tick before.
    at_tick: AtomicU64,
    rate: AtomicU64,
    /// Bytes from clients to servers, and back.
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    /// Failed connection attempts to servers.
    pub(crate) connect_errors: AtomicU64,
    /// Attempts repeated after a failed one.
    pub(crate) retries: AtomicU64,
    /// Retries that went to another server than the failed one (counted
    /// on the server left).
    pub(crate) redispatches: AtomicU64,
    /// Connections refused by `allow`/`deny` (frontends).
    pub(crate) denied: AtomicU64,
    /// Connections that gave up waiting in the queue (backends).
    pub(crate) queue_timeouts: AtomicU64,
    /// The longest queue seen (backends).
    queue_max: AtomicU32,
}

impl Counters {
    /// A connection starts.
    pub(crate) fn open(&self) {
        self.total.fetch_add(1, Relaxed);
        let now = self.current.fetch_add(1, Relaxed) + 1;
        raise(&self.max, now);
    }

    /// Connections open now.
    pub fn current(&self) -> u32 {
        self.current.load(Relaxed)
    }

    /// A connection counted by [`Counters::open`] ends.
    pub(crate) fn close(&self) {
        self.current.fetch_sub(1, Relaxed);
    }

    pub(crate) fn add_bytes(&self, up: u64, down: u64) {
        if up > 0 {
            self.bytes_in.fetch_add(up, Relaxed);
        }
        if down > 0 {
            self.bytes_out.fetch_add(down, Relaxed);
        }
    }

    pub(crate) fn queued(&self, len: u32) {
        raise(&self.queue_max, len);
    }

    pub(crate) fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    fn tick(&self) {
        let total = self.total.load(Relaxed);
        let before = self.at_tick.swap(total, Relaxed);
        self.rate.store(total.saturating_sub(before), Relaxed);
    }

    /// The values now.
    pub fn snapshot(&self) -> Traffic {
        Traffic {
            current: self.current.load(Relaxed),
            max: self.max.load(Relaxed),
            total: self.total.load(Relaxed),
            rate: self.rate.load(Relaxed),
            bytes_in: self.bytes_in.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
            connect_errors: self.connect_errors.load(Relaxed),
            retries: self.retries.load(Relaxed),
            redispatches: self.redispatches.load(Relaxed),
            denied: self.denied.load(Relaxed),
            queue_timeouts: self.queue_timeouts.load(Relaxed),
            queue_max: self.queue_max.load(Relaxed),
        }
    }
}

/// Raises `max` to `v` if `v` is larger; no write otherwise.
fn raise(max: &AtomicU32, v: u32) {
    if v > max.load(Relaxed) {
        max.fetch_max(v, Relaxed);
    }
}

/// One set of counters at one moment.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Traffic {
    pub current: u32,
    pub max: u32,
    pub total: u64,
    /// Connections in the last whole second.
    pub rate: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    #[serde(default)]
    pub connect_errors: u64,
    #[serde(default)]
    pub retries: u64,
    #[serde(default)]
    pub redispatches: u64,
    #[serde(default)]
    pub denied: u64,
    #[serde(default)]
    pub queue_timeouts: u64,
    #[serde(default)]
    pub queue_max: u32,
}

impl Traffic {
    /// Adds `other`'s totals (counters only: gauges such as `current` are
    /// not carried, maxima are kept).
    pub fn carry(&mut self, other: &Traffic) {
        self.total += other.total;
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
        self.connect_errors += other.connect_errors;
        self.retries += other.retries;
        self.redispatches += other.redispatches;
        self.denied += other.denied;
        self.queue_timeouts += other.queue_timeouts;
        self.max = self.max.max(other.max);
        self.queue_max = self.queue_max.max(other.queue_max);
    }
}

/// Every counter of a worker's proxy.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProxyStats {
    pub frontends: Vec<FrontendStats>,
    pub backends: Vec<BackendStats>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct FrontendStats {
    pub name: String,
    pub backend: String,
    /// False while the operator disabled it.
    pub enabled: bool,
    /// `maxconn`.
    pub limit: u32,
    pub traffic: Traffic,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BackendStats {
    pub name: String,
    /// Connections waiting for a server now.
    pub queue: u32,
    pub traffic: Traffic,
    pub servers: Vec<ServerStats>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ServerStats {
    pub name: String,
    pub addr: String,
    /// As the worker sees it: health and admin state.
    pub up: bool,
    pub admin: String,
    pub weight: u32,
    pub backup: bool,
    pub traffic: Traffic,
}

impl ProxyStats {
    /// Adds `old`'s counters to the same-named frontends, backends and
    /// servers of `self`: totals survive a worker's replacement.
    pub fn carry(&mut self, old: &ProxyStats) {
        for f in &mut self.frontends {
            if let Some(o) = old.frontends.iter().find(|o| o.name == f.name) {
                f.traffic.carry(&o.traffic);
            }
        }
        for b in &mut self.backends {
            let Some(ob) = old.backends.iter().find(|o| o.name == b.name) else {
                continue;
            };
            b.traffic.carry(&ob.traffic);
            for s in &mut b.servers {
                if let Some(os) = ob.servers.iter().find(|o| o.name == s.name) {
                    s.traffic.carry(&os.traffic);
                }
            }
        }
    }
}

impl Proxy {
    /// Takes the per-second rates; call once a second.
    pub fn tick(&self) {
        for f in &self.frontends {
            f.counters.tick();
        }
        for b in &self.backends {
            b.counters.tick();
            for s in &b.servers {
                s.counters.tick();
            }
        }
    }

    /// Every counter now.
    pub fn stats(&self) -> ProxyStats {
        ProxyStats {
            frontends: self
                .frontends
                .iter()
                .map(|f| FrontendStats {
                    name: f.cfg.name.clone(),
                    backend: f.cfg.backend.clone(),
                    enabled: f.is_enabled(),
                    limit: f.cfg.maxconn,
                    traffic: f.counters.snapshot(),
                })
                .collect(),
            backends: self
                .backends
                .iter()
                .map(|b| BackendStats {
                    name: b.cfg.name.clone(),
                    queue: b.queued.load(Relaxed),
                    traffic: b.counters.snapshot(),
                    servers: b
                        .servers
                        .iter()
                        .map(|s| ServerStats {
                            name: s.cfg.name.clone(),
                            addr: s.cfg.addr.to_string(),
                            up: s.is_up(),
                            admin: s.admin().as_str().to_string(),
                            weight: s.weight(),
                            backup: s.cfg.backup,
                            traffic: s.counters.snapshot(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_close_and_rates() {
        let c = Counters::default();
        c.open();
        c.open();
        c.close();
        c.tick();
        c.open();
        let s = c.snapshot();
        assert_eq!((s.current, s.max, s.total, s.rate), (2, 2, 3, 2));
        c.tick();
        assert_eq!(c.snapshot().rate, 1);
        c.tick();
        assert_eq!(c.snapshot().rate, 0);
    }

    #[test]
    fn carrying_adds_totals_but_not_gauges() {
        let mut a = Traffic {
            current: 3,
            total: 10,
            bytes_in: 5,
            max: 4,
            ..Traffic::default()
        };
        let b = Traffic {
            current: 7,
            total: 1,
            bytes_in: 1,
            max: 9,
            ..Traffic::default()
        };
        a.carry(&b);
        assert_eq!((a.current, a.total, a.bytes_in, a.max), (3, 11, 6, 9));
    }
}

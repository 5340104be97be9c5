//! The supervisor's side of health checking: one checker task per server,
//! kept across reloads when the server and its check are unchanged, and
//! the current up/down map that every new worker starts from.
//!
//! The supervisor also runs VRRP on the same single-threaded runtime, and a
//! node may have tens of thousands of servers. So the checkers share one cap
//! on checks in flight, sized from the descriptor limit, and their first
//! checks are spread over the interval ([`rampart_proxy::health::Pace`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use rampart_config::{Check, Config, Health};
use rampart_proxy::health::{Pace, checks_in_flight, first_check_offset};
use tokio::sync::Semaphore;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use tokio::task::JoinHandle;

/// A server went up or down.
#[derive(Debug, Clone)]
pub struct HealthChange {
    pub backend: String,
    pub server: String,
    pub up: bool,
}

type Key = (String, String);

struct Checker {
    addr: SocketAddr,
    health: Health,
    passive: UnboundedSender<()>,
    task: JoinHandle<()>,
}

/// All checkers of a node.
pub struct Hub {
    tx: UnboundedSender<HealthChange>,
    checkers: HashMap<Key, Checker>,
    up: Arc<Mutex<HashMap<Key, bool>>>,
    /// Slots for checks in flight, shared by every checker.
    slots: Arc<Semaphore>,
}

/// The check a server gets: its backend's, unless `check = false`.
fn effective(health: &Health, check: bool) -> Health {
    if check {
        health.clone()
    } else {
        Health {
            check: Check::None,
            ..health.clone()
        }
    }
}

impl Hub {
    /// A hub whose checks in flight are capped from the current descriptor
    /// limit (so call it after raising the limit).
    pub fn new(tx: UnboundedSender<HealthChange>) -> Hub {
        let cap = match rampart_sys::limits::nofile() {
            Ok(n) => {
                let cap = checks_in_flight(n);
                tracing::debug!("at most {cap} health checks in flight (descriptor limit {n})");
                cap
            }
            Err(e) => {
                // The limit is unknown; assume the common soft default.
                tracing::warn!("cannot read the descriptor limit: {e}");
                checks_in_flight(1024)
            }
        };
        Hub::with_cap(tx, cap)
    }

    /// A hub that runs at most `cap` checks at once.
    pub fn with_cap(tx: UnboundedSender<HealthChange>, cap: usize) -> Hub {
        Hub {
            tx,
            checkers: HashMap::new(),
            up: Arc::default(),
            slots: Arc::new(Semaphore::new(cap.max(1))),
        }
    }

    /// Brings the checkers in line with `cfg`: unchanged servers keep their
    /// checker and state, changed ones restart from down, removed ones stop.
    /// A new checker's first check is offset by the server's position among
    /// all servers of the file, so a large pool is spread over the interval.
    pub fn sync(&mut self, cfg: &Config) {
        let mut keep = HashMap::new();
        let count = cfg.backends.iter().map(|b| b.servers.len()).sum();
        let servers = cfg
            .backends
            .iter()
            .flat_map(|b| b.servers.iter().map(move |s| (b, s)));
        for (index, (b, s)) in servers.enumerate() {
            let key = (b.name.clone(), s.name.clone());
            let health = effective(&b.health, s.check);
            match self.checkers.remove(&key) {
                Some(c) if c.addr == s.addr && c.health == health => {
                    keep.insert(key, c);
                }
                old => {
                    if let Some(c) = old {
                        c.task.abort();
                    }
                    self.lock().remove(&key);
                    let first = first_check_offset(health.interval, index, count);
                    let pace = Pace::new(self.slots.clone(), first);
                    keep.insert(key.clone(), self.start(key, s.addr, health, pace));
                }
            }
        }
        for (key, c) in self.checkers.drain() {
            c.task.abort();
            if let Ok(mut up) = self.up.lock() {
                up.remove(&key);
            }
        }
        self.checkers = keep;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, bool>> {
        // A panic while holding this lock cannot leave the map inconsistent
        // (single inserts/removes), so a poisoned lock is still usable.
        self.up.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn start(&self, key: Key, addr: SocketAddr, health: Health, pace: Pace) -> Checker {
        let (passive, passive_rx) = unbounded_channel();
        let tx = self.tx.clone();
        let up = self.up.clone();
        let (b, s) = key.clone();
        let h = health.clone();
        let task = tokio::spawn(async move {
            let on_change = move |is_up: bool| {
                up.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(key.clone(), is_up);
                let _ = tx.send(HealthChange {
                    backend: key.0.clone(),
                    server: key.1.clone(),
                    up: is_up,
                });
            };
            rampart_proxy::health::run_checker(b, s, addr, h, pace, passive_rx, on_change).await;
        });
        Checker {
            addr,
            health,
            passive,
            task,
        }
    }

    /// Servers currently up, as (backend, server).
    pub fn up_servers(&self) -> Vec<(String, String)> {
        self.lock()
            .iter()
            .filter(|(_, up)| **up)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Every server with a known state, sorted.
    pub fn states(&self) -> Vec<(String, String, bool)> {
        let mut v: Vec<_> = self
            .lock()
            .iter()
            .map(|((b, s), up)| (b.clone(), s.clone(), *up))
            .collect();
        v.sort();
        v
    }

    /// A worker saw a connect to `server` of `backend` fail.
    pub fn passive_failure(&self, backend: &str, server: &str) {
        if let Some(c) = self
            .checkers
            .get(&(backend.to_string(), server.to_string()))
        {
            let _ = c.passive.send(());
        }
    }

    pub fn stop(&mut self) {
        for (_, c) in self.checkers.drain() {
            c.task.abort();
        }
    }
}

#[cfg(test)]
mod tests;

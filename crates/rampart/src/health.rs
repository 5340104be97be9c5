//! The supervisor's side of health checking: one checker task per server,
//! kept across reloads when the server and its check are unchanged, and
//! the current up/down map that every new worker starts from.
//!
//! The supervisor also runs VRRP, and a node may have tens of thousands of
//! servers. So the checkers run on a thread of their own, share one cap on
//! checks in flight, sized from the descriptor limit, and have their first
//! checks spread over the interval ([`rampart_proxy::health::Pace`]).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use rampart_config::{Config, Health};
use rampart_proxy::health::{CheckReport, CheckStats, Pace, checks_in_flight, first_check_offset};
use tokio::runtime::Handle;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinHandle;

mod table;

use table::Table;

/// A server went up or down.
#[derive(Debug, Clone)]
pub struct HealthChange {
    pub backend: String,
    pub server: String,
    pub up: bool,
}

type Key = (String, String);

struct Checker {
    /// Where its checks connect (the server's address unless its check
    /// `port` or `addr` says otherwise).
    addr: SocketAddr,
    health: Health,
    passive: UnboundedSender<()>,
    task: JoinHandle<()>,
    stats: Arc<CheckStats>,
}

/// What the supervisor knows about its proxy, as VRRP's `track_proxy` and
/// BGP's `while_healthy` see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyHealth {
    /// Servers up, per backend.
    pub up: HashMap<String, u32>,
    /// False while the worker is crash-looping.
    pub worker_ok: bool,
}

/// All checkers of a node.
pub struct Hub {
    tx: UnboundedSender<HealthChange>,
    checkers: HashMap<Key, Checker>,
    table: Arc<Mutex<Table>>,
    /// Slots for checks in flight, shared by every checker.
    slots: Arc<Semaphore>,
    /// Where checkers run.
    runtime: Handle,
    /// Dropped with the hub, which ends the checkers' thread.
    _stop: Option<oneshot::Sender<()>>,
    /// Servers a previous program saw up (`rampart upgrade`): their
    /// checkers start in the up state, as if `start_up` were set.
    seeded_up: HashSet<Key>,
    /// Servers in maintenance: not checked.
    paused: HashSet<Key>,
}

fn lock(table: &Mutex<Table>) -> std::sync::MutexGuard<'_, Table> {
    // A panic while holding this lock cannot leave the table inconsistent
    // (each change is one map update and one count), so a poisoned lock is
    // still usable.
    table.lock().unwrap_or_else(|p| p.into_inner())
}

/// A thread with its own runtime for the checkers, so that however many
/// there are, their timers, connects and reports never delay the
/// supervisor's runtime, where VRRP adverts and the control socket are
/// served. The runtime ends when the returned sender is dropped.
fn checkers_thread() -> std::io::Result<(Handle, oneshot::Sender<()>)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let handle = rt.handle().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("health".into())
        .spawn(move || {
            rt.block_on(async {
                let _ = stopped.await;
            })
        })?;
    Ok((handle, stop))
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

    /// A hub that runs at most `cap` checks at once. Must be called within
    /// a tokio runtime, which runs the checkers if their own thread cannot
    /// be started.
    pub fn with_cap(tx: UnboundedSender<HealthChange>, cap: usize) -> Hub {
        let (runtime, stop) = match checkers_thread() {
            Ok((handle, stop)) => (handle, Some(stop)),
            Err(e) => {
                tracing::warn!("health checks share the supervisor's thread: {e}");
                (Handle::current(), None)
            }
        };
        Hub {
            tx,
            checkers: HashMap::new(),
            table: Arc::default(),
            slots: Arc::new(Semaphore::new(cap.max(1))),
            runtime,
            _stop: stop,
            seeded_up: Default::default(),
            paused: Default::default(),
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
            if self.paused.contains(&key) {
                // In maintenance: no checks. Its last state stays shown;
                // the checker starts afresh when it is ready again.
                if let Some(c) = self.checkers.remove(&key) {
                    c.task.abort();
                }
                continue;
            }
            // Its backend's check with its own settings over it, at its
            // check address (HAProxy's `check port`, `addr`, `inter`, ...).
            let (addr, health) = b.check_of(s);
            match self.checkers.remove(&key) {
                Some(c) if c.addr == addr && c.health == health => {
                    keep.insert(key, c);
                }
                old => {
                    if let Some(c) = old {
                        c.task.abort();
                    }
                    let first = first_check_offset(health.interval, index, count);
                    let pace = Pace::new(self.slots.clone(), first);
                    let up = self.seeded_up.remove(&key);
                    keep.insert(key.clone(), self.start(key, addr, health, pace, up));
                }
            }
        }
        let mut table = lock(&self.table);
        for (key, c) in self.checkers.drain() {
            c.task.abort();
            table.remove(&key);
        }
        drop(table);
        self.checkers = keep;
    }

    /// The servers whose checks are paused (in maintenance); applies at
    /// the next [`Hub::sync`].
    pub fn set_paused(&mut self, paused: HashSet<Key>) {
        self.paused = paused;
    }

    /// Whether `server` of `backend` is being checked (tests, status).
    #[cfg(test)]
    pub fn is_checked(&self, backend: &str, server: &str) -> bool {
        self.checkers
            .contains_key(&(backend.to_string(), server.to_string()))
    }

    /// Servers up in the previous program (`rampart upgrade`), to call
    /// before the first [`Hub::sync`]: their checkers start up, and go
    /// down after `fall` failed checks, so the new worker serves them from
    /// its first moment.
    pub fn seed(&mut self, up: &[(String, String)]) {
        self.seeded_up = up.iter().cloned().collect();
    }

    fn start(&self, key: Key, addr: SocketAddr, health: Health, pace: Pace, up: bool) -> Checker {
        let (passive, passive_rx) = unbounded_channel();
        let tx = self.tx.clone();
        let table = self.table.clone();
        let owner = {
            let mut table = lock(&self.table);
            let owner = table.claim(key.clone());
            if up {
                // Up from this moment, not from the checker's first report
                // on its thread: what VRRP's tracker and BGP see at once.
                table.set(&key, owner, true);
            }
            owner
        };
        let (b, s) = key.clone();
        let stats = Arc::new(CheckStats::default());
        let mut h = health.clone();
        h.start_up |= up;
        let on_change = move |is_up: bool| {
            let mut table = lock(&table);
            // Sent under the lock, so reports reach the supervisor in the
            // order the table saw them.
            if table.set(&key, owner, is_up) {
                let _ = tx.send(HealthChange {
                    backend: key.0.clone(),
                    server: key.1.clone(),
                    up: is_up,
                });
            }
        };
        let task = self.runtime.spawn(rampart_proxy::health::run_checker(
            (b, s),
            addr,
            h,
            pace,
            passive_rx,
            stats.clone(),
            on_change,
        ));
        Checker {
            addr,
            health,
            passive,
            task,
            stats,
        }
    }

    /// Servers currently up, as (backend, server).
    pub fn up_servers(&self) -> Vec<(String, String)> {
        lock(&self.table)
            .states()
            .filter(|(_, up)| *up)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Servers up per backend (backends with none up are absent). Kept as
    /// transitions happen: cheap however many servers there are.
    pub fn up_per_backend(&self) -> HashMap<String, u32> {
        lock(&self.table).up_per_backend()
    }

    /// Every server with a known state, sorted.
    pub fn states(&self) -> Vec<(String, String, bool)> {
        let mut v: Vec<_> = lock(&self.table)
            .states()
            .map(|((b, s), up)| (b.clone(), s.clone(), up))
            .collect();
        v.sort();
        v
    }

    /// What each checked server's checker has seen.
    pub fn reports(&self) -> HashMap<Key, CheckReport> {
        self.checkers
            .iter()
            .map(|(k, c)| (k.clone(), c.stats.report()))
            .collect()
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
        let mut table = lock(&self.table);
        for (key, c) in self.checkers.drain() {
            c.task.abort();
            table.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests;

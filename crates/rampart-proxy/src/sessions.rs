//! The connections being served, for `rampart show sessions` and
//! `rampart session kill` (HAProxy's `show sess` and `shutdown session`),
//! and for `server maint --shutdown-sessions`.
//!
//! Each connection registers one entry for its life: an allocation and a
//! lock of one of [`SHARDS`] mutexes on open and on close, never per
//! chunk. Bytes are counted live in the entry (the forwarding loop adds to
//! its atomics), and added to the frontend's, backend's and server's
//! totals when the entry goes, however the connection ended.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::forward::Bytes;
use crate::proxy::Proxy;

/// Locks the registry is split over, so threads rarely meet on one.
pub const SHARDS: usize = 16;

/// Most sessions one listing returns (the total is always given).
pub const MAX_LISTED: usize = 10_000;

/// One connection being served.
#[derive(Debug)]
pub struct Live {
    pub id: u64,
    pub frontend: usize,
    pub peer: SocketAddr,
    pub started: Instant,
    /// The server's index in the frontend's backend, once connected.
    server: AtomicUsize,
    pub bytes: Bytes,
    kill: Notify,
    /// Why it was closed from outside ([`Closed`] as a number).
    why: std::sync::atomic::AtomicU8,
}

/// Why a session was closed from outside, for its log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// `rampart session kill`, `server maint --shutdown-sessions`.
    Operator,
    /// Idle when `rampart node drain` closed idle connections.
    Drain,
}

const NO_SERVER: usize = usize::MAX;

impl Live {
    pub(crate) fn set_server(&self, index: usize) {
        self.server.store(index, Relaxed);
    }

    fn server(&self) -> Option<usize> {
        Some(self.server.load(Relaxed)).filter(|&i| i != NO_SERVER)
    }

    /// Resolves once someone asked to close this connection, with why.
    pub(crate) async fn killed(&self) -> Closed {
        self.kill.notified().await;
        match self.why.load(Relaxed) {
            1 => Closed::Drain,
            _ => Closed::Operator,
        }
    }

    fn close(&self, why: Closed) {
        self.why.store(
            match why {
                Closed::Operator => 0,
                Closed::Drain => 1,
            },
            Relaxed,
        );
        self.kill.notify_one();
    }
}

#[derive(Debug, Default)]
pub struct Registry {
    next: AtomicU64,
    shards: [Mutex<HashMap<u64, Arc<Live>>>; SHARDS],
}

fn lock(m: &Mutex<HashMap<u64, Arc<Live>>>) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Live>>> {
    // Each critical section is one map operation: a panic cannot leave a
    // shard torn.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One session as `rampart show sessions` prints it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SessionInfo {
    pub id: u64,
    pub frontend: String,
    pub client: String,
    pub backend: String,
    /// None while it waits in the queue or connects.
    pub server: Option<String>,
    pub age_seconds: f64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// The answer to a listing: the first [`MAX_LISTED`] and how many there are.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Sessions {
    pub total: usize,
    pub sessions: Vec<SessionInfo>,
}

/// Registered until dropped; then its bytes go to the totals.
pub(crate) struct Registered<'a> {
    proxy: &'a Proxy,
    pub live: Arc<Live>,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        let l = &self.live;
        lock(&self.proxy.sessions.shards[l.id as usize % SHARDS]).remove(&l.id);
        let (up, down) = (l.bytes.up.load(Relaxed), l.bytes.down.load(Relaxed));
        let Some(front) = self.proxy.frontends.get(l.frontend) else {
            return;
        };
        front.counters.add_bytes(up, down);
        if let Some(s) = l.server().and_then(|i| front.backend.servers.get(i)) {
            front.backend.counters.add_bytes(up, down);
            s.counters.add_bytes(up, down);
        }
    }
}

impl Registry {
    pub(crate) fn open<'a>(
        &self,
        proxy: &'a Proxy,
        frontend: usize,
        peer: SocketAddr,
    ) -> Registered<'a> {
        let id = self.next.fetch_add(1, Relaxed) + 1;
        let live = Arc::new(Live {
            id,
            frontend,
            peer,
            started: Instant::now(),
            server: AtomicUsize::new(NO_SERVER),
            bytes: Bytes::default(),
            kill: Notify::new(),
            why: Default::default(),
        });
        lock(&self.shards[id as usize % SHARDS]).insert(id, live.clone());
        Registered { proxy, live }
    }

    fn all(&self) -> Vec<Arc<Live>> {
        let mut v: Vec<Arc<Live>> = self
            .shards
            .iter()
            .flat_map(|s| lock(s).values().cloned().collect::<Vec<_>>())
            .collect();
        v.sort_by_key(|l| l.id);
        v
    }

    /// Closes the sessions `pick` selects; how many.
    fn kill_where(&self, mut pick: impl FnMut(&Live) -> bool) -> usize {
        let mut n = 0;
        for l in self.all() {
            if pick(&l) {
                l.close(Closed::Operator);
                n += 1;
            }
        }
        n
    }
}

impl Proxy {
    /// Sessions being served, oldest first (at most [`MAX_LISTED`]).
    pub fn sessions(&self) -> Sessions {
        let all = self.sessions.all();
        let total = all.len();
        let sessions = all
            .iter()
            .take(MAX_LISTED)
            .filter_map(|l| {
                let front = self.frontends.get(l.frontend)?;
                Some(SessionInfo {
                    id: l.id,
                    frontend: front.cfg.name.clone(),
                    client: l.peer.to_string(),
                    backend: front.backend.cfg.name.clone(),
                    server: l
                        .server()
                        .and_then(|i| front.backend.servers.get(i))
                        .map(|s| s.cfg.name.clone()),
                    age_seconds: l.started.elapsed().as_secs_f64(),
                    bytes_in: l.bytes.up.load(Relaxed),
                    bytes_out: l.bytes.down.load(Relaxed),
                })
            })
            .collect();
        Sessions { total, sessions }
    }

    /// Closes session `id`; false if there is none.
    pub fn kill_session(&self, id: u64) -> bool {
        self.sessions.kill_where(|l| l.id == id) > 0
    }

    /// Closes every session on `server` of `backend`; how many.
    pub fn kill_server_sessions(&self, backend: &str, server: &str) -> usize {
        self.sessions.kill_where(|l| {
            self.frontends.get(l.frontend).is_some_and(|f| {
                f.backend.cfg.name == backend
                    && l.server()
                        .and_then(|i| f.backend.servers.get(i))
                        .is_some_and(|s| s.cfg.name == server)
            })
        })
    }
}

impl Proxy {
    /// Closes the idle sessions open now, spread over `window` (HAProxy's
    /// `close-spread-time`), so their clients do not all reconnect at
    /// once. Each session gets a moment in the window; from then on (and
    /// not before `idle` has passed), it is closed once it has moved no
    /// byte for `idle`: a TCP proxy does not see request boundaries, so a
    /// quiet connection is the best sign of one between requests. Each is
    /// looked at again as soon as it could be idle enough; one still busy
    /// at the window's end is left to finish. Sessions opened after the
    /// call are not touched. Returns how many it closed.
    pub async fn close_spread(
        self: Arc<Self>,
        window: std::time::Duration,
        idle: std::time::Duration,
    ) -> usize {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        use tokio::time::Instant;
        let moved = |l: &Live| l.bytes.up.load(Relaxed) + l.bytes.down.load(Relaxed);
        let all = self.sessions.all();
        let n = u32::try_from(all.len()).unwrap_or(u32::MAX).max(1);
        let start = Instant::now();
        let end = start + window;
        // Each session's next look, earliest first: its moment in the
        // window, and not before it can have been quiet for `idle`.
        let mut due: BinaryHeap<Reverse<(Instant, usize)>> = (0..all.len())
            .map(|i| {
                let slot = u32::try_from(i).unwrap_or(u32::MAX);
                let moment = start + window.mul_f64(f64::from(slot) / f64::from(n));
                Reverse((moment.max(start + idle), i))
            })
            .collect();
        let mut last: Vec<u64> = all.iter().map(|l| moved(l)).collect();
        // When each was last seen moving (the start: nothing is known
        // before).
        let mut quiet_since = vec![start; all.len()];
        let mut closed = 0;
        while let Some(Reverse((at, i))) = due.pop() {
            tokio::time::sleep_until(at).await;
            let l = &all[i];
            if Arc::strong_count(l) == 1 {
                // It ended on its own (only this list holds it).
                continue;
            }
            let now = Instant::now();
            let bytes = moved(l);
            if std::mem::replace(&mut last[i], bytes) != bytes {
                quiet_since[i] = now;
            } else if now.duration_since(quiet_since[i]) >= idle {
                l.close(Closed::Drain);
                closed += 1;
                continue;
            }
            // Idle enough at the earliest then, if it stays quiet; looked
            // at a second later at most, to see it move.
            let next = (quiet_since[i] + idle).min(now + std::time::Duration::from_secs(1));
            let next = next.max(now + std::time::Duration::from_millis(10));
            if next <= end {
                due.push(Reverse((next, i)));
            }
        }
        closed
    }
}

//! Shared per-backend runtime state: server up/down flags, connection
//! counts, and the balancer snapshot. Readers on the hot path take an
//! `ArcSwap` snapshot and touch atomics only; writers (health changes) rebuild
//! the balancer and publish it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};

use arc_swap::ArcSwap;
use rampart_config::{Backend, Server};
use tokio::sync::Notify;

use crate::balance::{Balancer, Candidate};
use crate::stats::Counters;

/// Where the data plane reports what the control plane should know.
pub trait Events: Send + Sync {
    /// A connect to `server` of `backend` failed for a reason that is the
    /// server's (refused, reset, timed out, unreachable): counts like a
    /// failed health check toward taking it down. By name, so that a
    /// draining worker with an older config cannot blame the wrong server.
    fn passive_failure(&self, backend: &str, server: &str);
}

/// Discards events (for callers that run no health checks).
pub struct NoEvents;

impl Events for NoEvents {
    fn passive_failure(&self, _: &str, _: &str) {}
}

/// A server's administrative state, set by the operator at runtime
/// (HAProxy's `set server ... state`), independent of its health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, PartialOrd, Ord)]
pub enum Admin {
    /// In service (if healthy).
    #[default]
    Ready,
    /// No new connections; open ones run to their end.
    Drain,
    /// No traffic at all (and, in the supervisor, no health checks).
    Maint,
}

impl Admin {
    pub fn as_str(self) -> &'static str {
        match self {
            Admin::Ready => "ready",
            Admin::Drain => "drain",
            Admin::Maint => "maint",
        }
    }

    pub fn parse(s: &str) -> Option<Admin> {
        match s {
            "ready" => Some(Admin::Ready),
            "drain" => Some(Admin::Drain),
            "maint" => Some(Admin::Maint),
            _ => None,
        }
    }

    fn from_u8(v: u8) -> Admin {
        match v {
            1 => Admin::Drain,
            2 => Admin::Maint,
            _ => Admin::Ready,
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            Admin::Ready => 0,
            Admin::Drain => 1,
            Admin::Maint => 2,
        }
    }
}

/// One server's live state.
#[derive(Debug)]
pub struct ServerRt {
    pub cfg: Server,
    up: AtomicBool,
    active: AtomicU32,
    /// [`Admin`], as a number.
    admin: AtomicU8,
    /// The weight in force: the configured one until the operator sets
    /// another.
    weight: AtomicU32,
    /// Traffic counters (`active` above is what `maxconn` counts: it
    /// includes connects in progress).
    pub counters: Counters,
}

impl ServerRt {
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    pub fn admin(&self) -> Admin {
        Admin::from_u8(self.admin.load(Ordering::Acquire))
    }

    pub fn weight(&self) -> u32 {
        self.weight.load(Ordering::Acquire)
    }

    pub fn active(&self) -> u32 {
        self.active.load(Ordering::Relaxed)
    }
}

/// A backend's live state, shared by every proxy thread.
pub struct BackendRt {
    pub cfg: Backend,
    pub servers: Vec<ServerRt>,
    balancer: ArcSwap<Balancer>,
    /// Woken when a slot frees or a server comes up, for queued connections.
    pub(crate) slot_freed: Notify,
    /// Connections waiting in this backend's queue.
    pub queued: AtomicU32,
    pub counters: Counters,
}

impl BackendRt {
    /// Builds the state with each server up or down as `initially_up` says.
    pub fn new(cfg: Backend, initially_up: impl Fn(&Server) -> bool) -> BackendRt {
        let servers: Vec<ServerRt> = cfg
            .servers
            .iter()
            .map(|s| ServerRt {
                up: AtomicBool::new(initially_up(s)),
                active: AtomicU32::new(0),
                admin: AtomicU8::new(Admin::Ready.to_u8()),
                weight: AtomicU32::new(s.weight),
                counters: Counters::default(),
                cfg: s.clone(),
            })
            .collect();
        let balancer = ArcSwap::from_pointee(build(&cfg, &servers));
        BackendRt {
            cfg,
            servers,
            balancer,
            slot_freed: Notify::new(),
            queued: AtomicU32::new(0),
            counters: Counters::default(),
        }
    }

    /// The index of the server called `name`.
    pub fn server_index(&self, name: &str) -> Option<usize> {
        self.servers.iter().position(|s| s.cfg.name == name)
    }

    /// Marks a server up or down and republishes the balancer. Returns
    /// whether anything changed.
    pub fn set_up(&self, index: usize, up: bool) -> bool {
        let Some(server) = self.servers.get(index) else {
            return false;
        };
        if server.up.swap(up, Ordering::AcqRel) == up {
            return false;
        }
        self.balancer
            .store(Arc::new(build(&self.cfg, &self.servers)));
        if up {
            self.slot_freed.notify_waiters();
        }
        true
    }

    /// Sets a server's administrative state and, if given, its weight
    /// (`None`: the configured one), and republishes the balancer: every
    /// algorithm sees the change from the next pick. Returns whether
    /// anything changed.
    pub fn set_admin(&self, index: usize, admin: Admin, weight: Option<u32>) -> bool {
        let Some(server) = self.servers.get(index) else {
            return false;
        };
        let weight = weight.unwrap_or(server.cfg.weight);
        let was_admin = server.admin.swap(admin.to_u8(), Ordering::AcqRel);
        let was_weight = server.weight.swap(weight, Ordering::AcqRel);
        if was_admin == admin.to_u8() && was_weight == weight {
            return false;
        }
        self.balancer
            .store(Arc::new(build(&self.cfg, &self.servers)));
        self.slot_freed.notify_waiters();
        true
    }

    pub fn balancer(&self) -> arc_swap::Guard<Arc<Balancer>> {
        self.balancer.load()
    }

    /// Whether the server has a free `maxconn` slot.
    pub fn has_slot(&self, index: usize) -> bool {
        self.servers
            .get(index)
            .is_some_and(|s| s.cfg.maxconn == 0 || s.active() < s.cfg.maxconn)
    }

    /// Takes one connection slot on a server, atomically against other
    /// threads. Fails if the server is at its `maxconn`.
    pub fn reserve(&self, index: usize) -> bool {
        let Some(s) = self.servers.get(index) else {
            return false;
        };
        let max = s.cfg.maxconn;
        s.active
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| {
                (max == 0 || n < max).then_some(n + 1)
            })
            .is_ok()
    }

    /// Gives a slot back and wakes one queued connection, if any: the
    /// common case (no queue) touches no shared wake-up state.
    pub fn release(&self, index: usize) {
        if let Some(s) = self.servers.get(index) {
            s.active.fetch_sub(1, Ordering::SeqCst);
            if self.queued.load(Ordering::SeqCst) > 0 {
                self.slot_freed.notify_one();
            }
        }
    }
}

fn build(cfg: &Backend, servers: &[ServerRt]) -> Balancer {
    let candidates: Vec<Candidate> = servers
        .iter()
        .enumerate()
        .map(|(index, s)| Candidate {
            index,
            addr: s.cfg.addr,
            weight: s.weight(),
            backup: s.cfg.backup,
            // Drain and maint: no new connection (open ones are not
            // touched here).
            up: s.is_up() && s.admin() == Admin::Ready,
        })
        .collect();
    Balancer::new(cfg.balance, &candidates)
}

/// A reserved server slot, released on drop whatever way the session ends.
pub struct Slot<'a> {
    backend: &'a BackendRt,
    pub index: usize,
}

impl<'a> Slot<'a> {
    pub fn take(backend: &'a BackendRt, index: usize) -> Option<Slot<'a>> {
        backend.reserve(index).then_some(Slot { backend, index })
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.backend.release(self.index);
    }
}

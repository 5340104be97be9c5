//! BFD for the neighbors with `bfd = true` (RFC 5882): the BGP driver
//! keeps one BFD session per such neighbor in the BFD driver
//! (`crate::bfd`), started with the first one, and closes a neighbor's
//! BGP session the moment its BFD session fails, rather than after the
//! hold time. The BGP session then restarts as after any failure.
//!
//! A reload applies BFD changes in place: a session is added, removed
//! (AdminDown first) or given new timers (a Poll Sequence), and the BGP
//! session is not reset for it. A router that ties its own BGP session to
//! BFD (BIRD's `bfd on`) will still reset it when the BFD session is
//! removed: BIRD treats any Up -> Down as a failure, AdminDown included.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use rampart_bfd::SessionConfig;
use rampart_config::Neighbor;
use tokio::sync::mpsc;

use super::{Manager, neighbor};
use crate::bfd::{BfdState, Event, Handed, Handle, Want};
use crate::control::BgpStatus;

/// The BFD driver, once a neighbor has needed it.
#[derive(Default)]
pub(super) struct Bfd {
    handle: Option<Handle>,
    events: Option<mpsc::UnboundedReceiver<Event>>,
    /// Sessions a previous program handed over, until started.
    handed: HashMap<IpAddr, Handed>,
}

/// The transmit interval a session announces while `rampart upgrade` hands
/// it over: the router then declares it down only after its multiplier
/// times this (3 s with 3), so the pause of the exec (a few hundred ms on
/// a loaded machine, more than a 100 ms × 3 detection time) is not taken
/// for a failure. It is announced with a Poll Sequence and the exec waits
/// for the router's Final (RFC 5880 §6.8.3); the new program announces
/// the configured interval again (or this one, if the exec failed).
const HANDOVER_TX: Duration = Duration::from_secs(1);

/// How long the hand-over waits for the routers to answer the slower
/// interval; a session that has not by then is handed over as it is.
const HANDOVER_POLL_WAIT: Duration = Duration::from_secs(1);

/// The session neighbor `n` wants, if any: the same interval both ways,
/// as BIRD's `interval`.
fn want(n: &Neighbor) -> Option<Want> {
    let b = n.bfd?;
    Some(Want {
        name: n.name.clone(),
        peer: n.address,
        local: n.local_address,
        cfg: SessionConfig {
            desired_min_tx: b.interval,
            required_min_rx: b.interval,
            detect_mult: b.multiplier,
        },
    })
}

/// Whether two neighbors differ at most in their BFD settings: a reload
/// that changes only those keeps the BGP session.
pub(super) fn same_but_bfd(a: &Neighbor, b: &Neighbor) -> bool {
    let strip = |n: &Neighbor| Neighbor {
        bfd: None,
        ..n.clone()
    };
    strip(a) == strip(b)
}

impl Bfd {
    /// Brings the BFD sessions from what `old` neighbors wanted to what
    /// `new` ones want.
    pub(super) fn sync(&mut self, old: &[Neighbor], new: &[Neighbor]) {
        let after: HashMap<IpAddr, Want> =
            new.iter().filter_map(want).map(|w| (w.peer, w)).collect();
        let mut before: HashMap<IpAddr, Want> =
            old.iter().filter_map(want).map(|w| (w.peer, w)).collect();
        if self.handle.is_none() {
            if after.is_empty() {
                return;
            }
            match crate::bfd::start() {
                Ok((handle, events)) => {
                    self.handle = Some(handle);
                    self.events = Some(events);
                    // A driver that could not start before has none of them.
                    before.clear();
                }
                Err(e) => {
                    return tracing::error!("BFD not started: {e:#}; BGP runs without it");
                }
            }
        }
        let Some(handle) = &self.handle else { return };
        for (peer, w) in after.iter() {
            if before.get(peer) == Some(w) {
                continue;
            }
            match self.handed.remove(peer) {
                Some(h) => handle.resume(w.clone(), h),
                None => handle.set(w.clone()),
            }
        }
        self.handed.clear();
        for peer in before.keys().filter(|p| !after.contains_key(p)) {
            handle.remove(*peer);
        }
    }

    /// A session handed over with a BGP session (`rampart upgrade`), for
    /// the next [`sync`](Self::sync). After a failed exec this program's
    /// driver still runs it: it goes back to its configured interval.
    pub(super) fn handed_over(&mut self, n: &Neighbor, handed: Handed) {
        match (&self.handle, want(n)) {
            (Some(handle), Some(w)) => handle.set(w),
            (Some(_), None) => {}
            (None, _) => {
                self.handed.insert(n.address, handed);
            }
        }
    }

    /// Each handed-over BGP session takes its BFD session along, so that
    /// the router sees no BFD change either. They run on here until the
    /// exec (or on, should it fail).
    pub(super) async fn hand_over(&self, taken: &mut [super::Taken], bgp: &rampart_config::Bgp) {
        let Some(handle) = &self.handle else { return };
        let slow: Vec<IpAddr> = taken
            .iter()
            .filter_map(|t| bgp.neighbor(&t.name).and_then(want))
            .map(|mut w| {
                w.cfg.desired_min_tx = w.cfg.desired_min_tx.max(HANDOVER_TX);
                let peer = w.peer;
                handle.set(w);
                peer
            })
            .collect();
        // The new interval is in use once the router's Final came back
        // (sessions that are not Up have no router to wait for).
        let acknowledged = |all: &[(IpAddr, crate::bfd::BfdStatus)]| {
            all.iter().filter(|(p, _)| slow.contains(p)).all(|(_, s)| {
                s.state != BfdState::Up || Duration::from_millis(s.tx_interval_ms) >= HANDOVER_TX
            })
        };
        let deadline = tokio::time::Instant::now() + HANDOVER_POLL_WAIT;
        while !acknowledged(&handle.status().await) {
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(
                    "BFD: a router did not acknowledge the slower interval within {HANDOVER_POLL_WAIT:?}; handing over as is"
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for t in taken {
            if let Some(n) = bgp.neighbor(&t.name) {
                t.bfd = handle.snapshot(n.address).await;
            }
        }
    }

    /// The next state change of a session; never, without a driver.
    pub(super) async fn next_event(&mut self) -> Option<Event> {
        match &mut self.events {
            Some(rx) => rx.recv().await,
            None => std::future::pending().await,
        }
    }

    /// Puts each neighbor's BFD status beside its BGP status.
    pub(super) async fn attach(&self, all: &mut [BgpStatus]) {
        let Some(handle) = &self.handle else { return };
        let sessions: HashMap<IpAddr, _> = handle.status().await.into_iter().collect();
        for s in all {
            s.bfd = s
                .neighbor
                .parse::<IpAddr>()
                .ok()
                .and_then(|a| sessions.get(&a).cloned());
        }
    }

    /// Every session says AdminDown, then the thread ends.
    pub(super) async fn stop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.stop().await;
        }
    }
}

impl Manager {
    /// A BFD session changed state: if the path failed (Up -> Down, not
    /// the peer's AdminDown, RFC 5882 §3.2), every BGP session with that
    /// address closes now. A retiring one too: its graceful shutdown has
    /// no path left to be graceful on.
    pub(super) fn bfd_event(&mut self, ev: Event) {
        if !ev.transition.is_failure() {
            return;
        }
        for p in self.peers.iter().filter(|p| p.address == ev.peer) {
            tracing::warn!(
                neighbor = %p.name,
                "BFD declared {} down ({}): closing the BGP session",
                ev.peer,
                ev.transition.diag.text()
            );
            let _ = p.cmds.send(neighbor::Cmd::BfdDown);
        }
    }
}

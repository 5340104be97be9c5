//! The announce decision: which routes each neighbor should have now, and
//! why. One home for it, so that the daemon, `rampart show routes` and the
//! log all tell the same story.
//!
//! Sans-IO like the session: the caller passes the node's state
//! ([`Inputs`]: VRRP mastership, servers up per backend, whether the
//! worker runs), the operator's admin state (disabled neighbors) and
//! `now`; it reads back the routes per neighbor, each with its
//! [`Reason`], and asks [`Announcer::poll_timeout`] when to call
//! [`Announcer::handle_timeout`]. Each announcement's policy result goes
//! through a [`HoldDown`] (see `policy.rs` for why: withdraw at once,
//! re-announce only once the input has stayed good for `hold_down`).
//!
//! The hold-down is per announcement, not per neighbor: the input is the
//! node's state, which is the same for every neighbor. A neighbor the
//! operator disabled gets nothing, whatever the policy says, and keeps
//! that through reconfigures (a name not in the plan stays disabled too:
//! a reload that drops a neighbor and brings it back keeps it down).
//!
//! On top of it all, a node-wide drain ([`Announcer::drain`], see
//! `drain.rs`) tags every announced route GRACEFUL_SHUTDOWN, then
//! withdraws them all at a deadline, until [`Announcer::undrain`]. It
//! too survives reconfigures.

mod drain;
mod reason;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use ipnet::IpNet;

pub use self::drain::Drain;
pub use self::reason::{Observed, Otherwise, Policy, Reason, Verdict};
use crate::aspath::{Community, LargeCommunity};
use crate::policy::HoldDown;
use crate::route::Route;

/// A prefix to announce, when, to whom, and with what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announce {
    pub prefix: IpNet,
    pub policy: Policy,
    /// Names of the neighbors it goes to.
    pub neighbors: Vec<String>,
    pub communities: Vec<Community>,
    pub large_communities: Vec<LargeCommunity>,
    /// Overrides the neighbor's [`NeighborPlan::med`].
    pub med: Option<u32>,
}

/// What a neighbor adds to every route it gets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NeighborPlan {
    pub name: String,
    /// MED for routes whose announcement sets none.
    pub med: Option<u32>,
    pub local_pref: Option<u32>,
    pub prepend: u8,
}

/// The announcer's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// How long a policy must hold again after a fall before its route is
    /// announced again.
    pub hold_down: Duration,
    pub neighbors: Vec<NeighborPlan>,
    pub announces: Vec<Announce>,
    /// Frontend name → the backend whose servers
    /// [`Policy::WhileHealthy`] counts.
    pub frontends: BTreeMap<String, String>,
}

/// The node's state that the policies read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Inputs {
    /// Per running VRRP instance: whether this node is master. An instance
    /// missing here is not master.
    pub masters: BTreeMap<String, bool>,
    /// Servers up, per backend.
    pub up: BTreeMap<String, u32>,
    /// The proxy worker runs: without it no frontend is healthy.
    pub worker_ok: bool,
}

/// One route for one neighbor and why it is announced or withdrawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// With the attributes the neighbor gets (next hop left to the
    /// session).
    pub route: Route,
    pub reason: Reason,
}

/// A neighbor's routes, announced or not, in announcement order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighborRoutes {
    pub neighbor: String,
    /// Disabled by the operator.
    pub disabled: bool,
    pub routes: Vec<Decision>,
}

/// An announcement whose outcome changed (announced, withdrawn, held
/// down): what the daemon logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub prefix: IpNet,
    pub reason: Reason,
}

/// One announcement and the filter on its policy's result.
#[derive(Debug, Clone)]
struct Entry {
    announce: Announce,
    hold: HoldDown,
}

/// See the module docs.
#[derive(Debug, Clone)]
pub struct Announcer {
    plan: Plan,
    entries: Vec<Entry>,
    /// The inputs last given: a reconfigure applies them to new entries,
    /// and reasons are built from them.
    inputs: Inputs,
    disabled: BTreeSet<String>,
    /// The node drain, while one is on.
    drain: Option<Drain>,
}

impl Announcer {
    /// Nothing is announced until [`set_inputs`](Self::set_inputs).
    pub fn new(plan: Plan, disabled: BTreeSet<String>) -> Self {
        let entries = plan
            .announces
            .iter()
            .map(|a| Entry {
                announce: a.clone(),
                hold: HoldDown::new(plan.hold_down),
            })
            .collect();
        Self {
            plan,
            entries,
            inputs: Inputs::default(),
            disabled,
            drain: None,
        }
    }

    /// New node state: every policy is evaluated again. Returns the
    /// announcements whose outcome changed.
    pub fn set_inputs(&mut self, now: Instant, inputs: Inputs) -> Vec<Change> {
        self.inputs = inputs;
        self.apply(now)
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due: the
    /// earliest end of a hold-down, or the drain's withdrawal.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.entries
            .iter()
            .filter_map(|e| e.hold.poll_timeout())
            .chain(self.drain.and_then(|d| d.poll_timeout()))
            .min()
    }

    /// Ends the hold-downs that are due, and withdraws everything if the
    /// drain's deadline has come. Returns the announcements whose outcome
    /// changed.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Change> {
        let before = self.verdicts();
        if let Some(d) = &mut self.drain
            && d.poll_timeout().is_some_and(|t| t <= now)
        {
            d.withdrawn = true;
        }
        for e in &mut self.entries {
            if e.hold.poll_timeout().is_some_and(|t| t <= now) {
                e.hold.handle_timeout(now);
            }
        }
        self.changes_since(&before)
    }

    /// Starts the node drain (`rampart node drain`): every route
    /// announced gets the GRACEFUL_SHUTDOWN community now, on every
    /// neighbor, and at `now + withdraw_after` every route is withdrawn
    /// (at once if `withdraw_after` is zero). While draining, or drained,
    /// the rules in `drain.rs` hold until [`undrain`](Self::undrain).
    /// Returns the announcements whose outcome changed.
    pub fn drain(&mut self, now: Instant, withdraw_after: Duration) -> Vec<Change> {
        let before = self.verdicts();
        let withdraw_at = now + withdraw_after;
        self.drain = Some(match self.drain {
            None => Drain::new(now, withdraw_at, now),
            Some(d) if d.withdrawn => d,
            Some(d) => Drain::new(d.since, d.withdraw_at.min(withdraw_at), now),
        });
        self.changes_since(&before)
    }

    /// Ends the node drain: every route is what its policy and hold-down
    /// say, at once (the drain was no fall; see `drain.rs`). Returns the
    /// announcements whose outcome changed; none if no drain was on.
    pub fn undrain(&mut self) -> Vec<Change> {
        let before = self.verdicts();
        self.drain = None;
        self.changes_since(&before)
    }

    /// The node drain, while one is on.
    pub fn draining(&self) -> Option<Drain> {
        self.drain
    }

    /// A new plan (a reload). An announcement with the same prefix and
    /// policy as before, under the same `hold_down`, keeps its hold-down
    /// state: a reload neither re-announces a route held down nor lets a
    /// flapping input through. The others start afresh, and the inputs
    /// last given apply to them at once.
    pub fn reconfigure(&mut self, now: Instant, plan: Plan) -> Vec<Change> {
        let same_hold_down = self.plan.hold_down == plan.hold_down;
        let mut before = std::mem::take(&mut self.entries);
        self.entries = plan
            .announces
            .iter()
            .map(|a| {
                let kept = before.iter().position(|o| {
                    same_hold_down && o.announce.prefix == a.prefix && o.announce.policy == a.policy
                });
                let hold = kept
                    .map(|i| before.swap_remove(i).hold)
                    .unwrap_or_else(|| HoldDown::new(plan.hold_down));
                Entry {
                    announce: a.clone(),
                    hold,
                }
            })
            .collect();
        self.plan = plan;
        self.apply(now)
    }

    /// `rampart bgp disable` (true) or `enable` of a neighbor, by name.
    /// Returns whether that changed anything.
    pub fn set_disabled(&mut self, neighbor: &str, disabled: bool) -> bool {
        if disabled {
            self.disabled.insert(neighbor.to_string())
        } else {
            self.disabled.remove(neighbor)
        }
    }

    pub fn is_disabled(&self, neighbor: &str) -> bool {
        self.disabled.contains(neighbor)
    }

    /// The routes `neighbor` should have now.
    pub fn routes(&self, neighbor: &str) -> Vec<Route> {
        if self.is_disabled(neighbor) {
            return Vec::new();
        }
        let Some(n) = self.plan.neighbors.iter().find(|n| n.name == neighbor) else {
            return Vec::new();
        };
        self.entries
            .iter()
            .filter(|e| e.announce.neighbors.contains(&n.name))
            .map(|e| (self.route_for(e, n), verdict(self.drain.as_ref(), &e.hold)))
            .filter(|(_, v)| v.announced())
            .map(|(r, _)| r)
            .collect()
    }

    /// Every neighbor of the plan with every route it is configured to
    /// get, announced or not, and why.
    pub fn explain(&self) -> Vec<NeighborRoutes> {
        self.plan
            .neighbors
            .iter()
            .map(|n| {
                let disabled = self.is_disabled(&n.name);
                let routes = self
                    .entries
                    .iter()
                    .filter(|e| e.announce.neighbors.contains(&n.name))
                    .map(|e| {
                        let mut reason = self.reason(e);
                        if disabled {
                            reason.verdict = Verdict::NeighborDisabled {
                                otherwise: Otherwise::of(&e.hold),
                            };
                        }
                        Decision {
                            route: self.route_for(e, n),
                            reason,
                        }
                    })
                    .collect();
                NeighborRoutes {
                    neighbor: n.name.clone(),
                    disabled,
                    routes,
                }
            })
            .collect()
    }

    /// Gives every hold-down its policy's result under the current inputs.
    fn apply(&mut self, now: Instant) -> Vec<Change> {
        let mut changes = Vec::new();
        for i in 0..self.entries.len() {
            let e = &mut self.entries[i];
            let (_, wanted) = observe(&self.plan, &self.inputs, &e.announce.policy);
            let before = verdict(self.drain.as_ref(), &e.hold);
            e.hold.set(now, wanted);
            if verdict(self.drain.as_ref(), &e.hold) != before {
                changes.push(self.change(&self.entries[i]));
            }
        }
        changes
    }

    /// Each entry's verdict, in order: what [`changes_since`] compares.
    fn verdicts(&self) -> Vec<Verdict> {
        self.entries
            .iter()
            .map(|e| verdict(self.drain.as_ref(), &e.hold))
            .collect()
    }

    /// The entries whose verdict is not the one in `before` (taken with
    /// [`verdicts`] before a change that keeps the entries).
    fn changes_since(&self, before: &[Verdict]) -> Vec<Change> {
        self.entries
            .iter()
            .zip(before)
            .filter(|(e, v)| verdict(self.drain.as_ref(), &e.hold) != **v)
            .map(|(e, _)| self.change(e))
            .collect()
    }

    /// Why `e` is announced or not (its neighbors' admin state aside).
    fn reason(&self, e: &Entry) -> Reason {
        let (observed, _) = observe(&self.plan, &self.inputs, &e.announce.policy);
        Reason {
            policy: e.announce.policy.clone(),
            observed,
            verdict: verdict(self.drain.as_ref(), &e.hold),
        }
    }

    fn change(&self, e: &Entry) -> Change {
        Change {
            prefix: e.announce.prefix,
            reason: self.reason(e),
        }
    }

    /// The route `e` gives neighbor `n`: tagged while the drain tags it.
    fn route_for(&self, e: &Entry, n: &NeighborPlan) -> Route {
        let r = route(&e.announce, n);
        match verdict(self.drain.as_ref(), &e.hold) {
            Verdict::GracefulShutdown { .. } => drain::tag(r),
            _ => r,
        }
    }
}

/// What `policy` reads in the inputs, and whether it holds.
fn observe(plan: &Plan, inputs: &Inputs, policy: &Policy) -> (Observed, bool) {
    match policy {
        Policy::Always => (Observed::Always, true),
        Policy::WhileMaster(vi) => {
            let master = inputs.masters.get(vi).copied();
            (Observed::Master(master), master == Some(true))
        }
        Policy::WhileHealthy {
            frontend,
            min_servers,
        } => {
            let backend = plan.frontends.get(frontend).cloned();
            let up = backend
                .as_ref()
                .and_then(|b| inputs.up.get(b))
                .copied()
                .unwrap_or(0);
            let holds = backend.is_some() && inputs.worker_ok && up >= *min_servers;
            let observed = Observed::Health {
                backend,
                up,
                worker_ok: inputs.worker_ok,
            };
            (observed, holds)
        }
    }
}

/// The outcome of an announcement's hold-down under the node drain (its
/// neighbors' admin state aside).
fn verdict(drain: Option<&Drain>, hold: &HoldDown) -> Verdict {
    let otherwise = Otherwise::of(hold);
    match (drain, otherwise) {
        (Some(d), _) if d.withdrawn => Verdict::NodeDrained { otherwise },
        (Some(d), Otherwise::Announced) => Verdict::GracefulShutdown {
            until: d.withdraw_at,
        },
        (_, Otherwise::Announced) => Verdict::Announced,
        (_, Otherwise::PolicyFails) => Verdict::PolicyFails,
        (_, Otherwise::HeldDown { until }) => Verdict::HeldDown { until },
    }
}

impl Otherwise {
    /// What a hold-down says: its output, or why not.
    fn of(hold: &HoldDown) -> Self {
        match (hold.output(), hold.poll_timeout()) {
            (true, _) => Otherwise::Announced,
            (false, Some(until)) => Otherwise::HeldDown { until },
            (false, None) => Otherwise::PolicyFails,
        }
    }
}

/// The route `a` gives neighbor `n`.
fn route(a: &Announce, n: &NeighborPlan) -> Route {
    let mut r = Route::new(a.prefix);
    r.med = a.med.or(n.med);
    r.local_pref = n.local_pref;
    r.prepend = n.prepend;
    r.communities = a.communities.clone();
    r.large_communities = a.large_communities.clone();
    r
}

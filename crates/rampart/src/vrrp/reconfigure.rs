//! A reload applied to the running driver, as one step on its thread:
//! the change set of `diff.rs` and the new plan of `build.rs` become core
//! events (`Node::reconfigure`, `add_instance`, `remove_instance`,
//! `set_groups`), new sockets, a new address plan for the kernel thread
//! (`Op::Replan`), and new trackers, scripts and hooks.
//!
//! Instance ids are slots: a kept instance keeps its slot (and with it its
//! socket, its queued kernel operations and its state); a removed one
//! keeps its slot while it hands over, and an added one takes a free slot
//! or a new one. So nothing already queued is ever applied to the wrong
//! instance.

use std::time::{Duration, Instant};

use rampart_vrrp::State;

use super::build::{InstancePlan, Plan};
use super::diff::{InstanceChange, VrrpChange};
use super::kernel::{Op, Slot};
use super::{Driver, open_socket, spawn_reader, track};

/// What the supervisor hands the driver at a reload's commit.
pub struct Reconfigure {
    /// The new `[vrrp]` section, resolved (in the supervisor, when the
    /// reload began: interfaces and source addresses exist).
    pub plan: Plan,
    pub change: VrrpChange,
}

impl Driver {
    /// Applies a reload. Unchanged instances get no event at all.
    pub(super) fn reconfigure(&mut self, r: Reconfigure) {
        let Reconfigure { plan: new, change } = r;
        for line in change.lines() {
            tracing::info!("{line}");
        }
        let now = Instant::now();
        let mut added = Vec::new();
        for (name, c) in &change.instances {
            let entry = new.instances.iter().find(|i| &i.core.name == name);
            match (c, entry, self.slot(name)) {
                (InstanceChange::Removed, _, Some(id)) => {
                    let bound = stop_bound(&self.plan.instances[id]);
                    self.node.remove_instance(now, id, bound);
                }
                (InstanceChange::Added, Some(entry), None) => added.push(entry.clone()),
                (InstanceChange::Unchanged | InstanceChange::Changed(_), Some(entry), Some(id)) => {
                    self.keep(now, id, entry.clone())
                }
                (c, _, slot) => {
                    // The change set was computed against the config this
                    // driver runs, so this is a broken invariant.
                    tracing::error!(instance = %name, ?slot, "VRRP reload: cannot apply {c:?}");
                }
            }
        }
        // What the removed ones did (a backup stops at once) is carried
        // out now, while their slots still name them: an added instance
        // may take such a slot below.
        self.drain();
        let mut started = Vec::new();
        for entry in added {
            let name = entry.core.name.clone();
            match open_socket(&entry) {
                Ok(sock) => {
                    let id = self.node.add_instance(entry.core.clone());
                    self.set_slot(id, entry, sock);
                    started.push(id);
                }
                Err(e) => tracing::error!(instance = %name, "VRRP instance not added: {e:#}"),
            }
        }
        let groups: Vec<(String, Vec<usize>, rampart_config::Notify)> = new
            .groups
            .iter()
            .map(|(name, members, notify)| {
                let ids = members
                    .iter()
                    .filter_map(|&m| new.instances.get(m))
                    .filter_map(|i| self.slot(&i.core.name))
                    .collect();
                (name.clone(), ids, notify.clone())
            })
            .collect();
        self.node
            .set_groups(now, groups.iter().map(|g| g.1.clone()).collect());
        self.plan.groups = groups;

        // The kernel learns the new slots before any action of theirs.
        self.replan_kernel();

        // Also when only their order changed: trackers refer to scripts by
        // their index in the list.
        if new.scripts != self.plan.scripts {
            self.tracker
                .reload_scripts(&self.plan.scripts, &new.scripts);
            self.plan.scripts = new.scripts;
            self.spawn_scripts();
        }
        if let Some((_, to)) = change.notify_timeout {
            self.plan.notify_timeout = to;
            if let Some(n) = self.notifier.as_mut() {
                n.set_timeout(to);
            }
        }
        let links = self.interfaces();
        for name in links.iter().filter(|l| !self.interfaces.contains(l)) {
            let up = rampart_sys::netlink::link_is_up(name).unwrap_or(false);
            self.tracker.set_link(name, up);
        }
        self.interfaces = links;
        // New priorities (configured ones and what trackers make of them)
        // before the added instances start: one whose proxy is down starts
        // in Fault, as at start.
        self.apply_priorities(now);
        let bound = self.stop_bound();
        for id in started {
            self.node.start_instance(now, id);
            if self.all_resigned {
                // The node is drained: an added instance stays out too.
                self.node.resign(now, id, bound);
                tracing::warn!(instance = %self.plan.instances[id].core.name, "VRRP instance added resigned: the node is drained");
            }
        }
        self.lateness
            .resize(self.plan.instances.len(), Default::default());
    }

    /// The live slot of the instance called `name`.
    fn slot(&self, name: &str) -> Option<usize> {
        (0..self.plan.instances.len())
            .find(|&id| !self.node.is_retired(id) && self.plan.instances[id].core.name == name)
    }

    /// A kept instance: its new settings go to the core (if they differ:
    /// an unchanged instance sees no event), a socket whose options
    /// changed is reopened, and its plan entry is replaced (what it
    /// tracks, its hooks, its addresses).
    fn keep(&mut self, now: Instant, id: usize, entry: InstancePlan) {
        let old = &self.plan.instances[id];
        let socket_changed = old.core.src != entry.core.src
            || old.multicast != entry.multicast
            || old.unicast_ttl != entry.unicast_ttl;
        if socket_changed {
            match open_socket(&entry) {
                Ok(sock) => self.replace_socket(id, sock),
                Err(e) => {
                    let name = &entry.core.name;
                    tracing::error!(instance = %name, "VRRP socket not reopened, the old one stays: {e:#}");
                }
            }
        }
        if self.node.instance(id).map(|i| i.config()) != Some(&entry.core) {
            self.node.reconfigure(now, id, entry.core.clone());
        }
        self.plan.instances[id] = entry;
    }

    /// Puts an added instance in slot `id` (a free one or a new one).
    fn set_slot(
        &mut self,
        id: usize,
        entry: InstancePlan,
        sock: std::sync::Arc<tokio::io::unix::AsyncFd<rampart_sys::vrrp_socket::VrrpSocket>>,
    ) {
        if id < self.plan.instances.len() {
            self.plan.instances[id] = entry;
            self.replace_socket(id, sock);
            if let Some(l) = self.lateness.get_mut(id) {
                *l = Default::default();
            }
        } else {
            self.plan.instances.push(entry);
            let reader = spawn_reader(id, 0, sock.clone(), self.packets.clone());
            self.readers.push((reader, 0));
            self.sockets.push(sock);
        }
    }

    /// A new socket for slot `id`; packets the old one read are dropped.
    fn replace_socket(
        &mut self,
        id: usize,
        sock: std::sync::Arc<tokio::io::unix::AsyncFd<rampart_sys::vrrp_socket::VrrpSocket>>,
    ) {
        let generation = self.readers.get(id).map_or(0, |r| r.1 + 1);
        let reader = spawn_reader(id, generation, sock.clone(), self.packets.clone());
        if let Some((old, _)) = self.readers.get(id) {
            old.abort();
        }
        if let (Some(r), Some(s)) = (self.readers.get_mut(id), self.sockets.get_mut(id)) {
            *r = (reader, generation);
            *s = sock;
        }
    }

    /// Sends the kernel thread the slots as they are now.
    fn replan_kernel(&self) {
        let slots = self
            .plan
            .instances
            .iter()
            .enumerate()
            .map(|(id, i)| {
                let slot = Slot::of(i, self.node.is_retired(id));
                (i.core.name.clone(), slot)
            })
            .collect();
        self.kernel.send(Op::Replan(slots, self.holding()));
    }

    /// Per slot: whether its instance holds its addresses now.
    pub(super) fn holding(&self) -> Vec<bool> {
        self.node
            .instances()
            .iter()
            .map(|i| matches!(i.state(), State::Master | State::Stopping))
            .collect()
    }

    /// Every interface whose link state matters to a live instance.
    pub(super) fn interfaces(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .plan
            .instances
            .iter()
            .enumerate()
            .filter(|(id, _)| !self.node.is_retired(*id))
            .flat_map(|(_, i)| {
                let links = i.inputs.iter().filter_map(|input| match input {
                    super::build::Input::Link { name, .. } => Some(name.clone()),
                    _ => None,
                });
                std::iter::once(i.core.interface.clone()).chain(links)
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// (Re)starts every track script, on the supervisor's runtime; reports
    /// from the previous ones are ignored from now on.
    pub(super) fn spawn_scripts(&mut self) {
        self.scripts.iter().for_each(|s| s.abort());
        self.script_generation += 1;
        let generation = self.script_generation;
        let _on_supervisor = self.hooks.enter();
        self.scripts = self
            .plan
            .scripts
            .iter()
            .enumerate()
            .map(|(i, s)| track::spawn_script(generation, i, s.clone(), self.script_tx.clone()))
            .collect();
    }
}

/// How long a removed master waits for a new one: as at stop, for this
/// instance's interval.
fn stop_bound(i: &InstancePlan) -> Duration {
    Duration::from_millis(u64::from(i.core.interval_cs) * 10) * 3 + Duration::from_secs(1)
}

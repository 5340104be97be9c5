//! A node: every instance the daemon runs, their sync groups, and the
//! demultiplexing of received packets onto instances.
//!
//! Sync groups follow keepalived: members become master together or not
//! at all. A member whose Master_Down_Timer fires only says it *wants*
//! to be master; the group moves when every member wants it. A member
//! that goes back to backup (a better master appeared) takes the others
//! with it, and one member in Fault puts the whole group in Fault.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::checks::{Drop, Stats, Warnings};
use crate::instance::{Action, Instance, InstanceConfig, Priority, State};
use crate::packet::decode;

/// Index of an instance in the order given to [`Node::new`].
pub type InstanceId = usize;
/// Index of a sync group in the order given to [`Node::new`].
pub type GroupId = usize;

/// What the caller must do, for an instance or a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeAction {
    Instance {
        id: InstanceId,
        action: Action,
    },
    /// A sync group's overall state changed (for its notify hook):
    /// master when every member is, fault when one is, else backup.
    GroupChanged {
        id: GroupId,
        from: State,
        to: State,
    },
    /// A packet no instance could take (rate-limited).
    Warn {
        reason: Drop,
        detail: String,
    },
}

#[derive(Debug)]
struct Group {
    members: Vec<InstanceId>,
    state: State,
}

/// Every VRRP instance of the daemon.
#[derive(Debug)]
pub struct Node {
    instances: Vec<Instance>,
    /// Per instance: removed by a reload. It stops gracefully like any
    /// instance; once Stopped, its slot may take an added instance.
    retired: Vec<bool>,
    groups: Vec<Group>,
    actions: VecDeque<NodeAction>,
    /// Drops that belong to no instance (malformed, unknown VRID).
    stats: Stats,
    warnings: Warnings,
}

impl Node {
    /// `groups` lists member indices into `instances`; an instance is in
    /// at most one group (the config guarantees it; extra memberships
    /// are ignored).
    pub fn new(instances: Vec<InstanceConfig>, groups: Vec<Vec<InstanceId>>) -> Self {
        let mut instances: Vec<Instance> = instances.into_iter().map(Instance::new).collect();
        let mut grouped = vec![false; instances.len()];
        let groups = groups
            .into_iter()
            .map(|members| {
                let members: Vec<InstanceId> = members
                    .into_iter()
                    .filter(|&m| m < grouped.len() && !std::mem::replace(&mut grouped[m], true))
                    .collect();
                for &m in &members {
                    instances[m].set_grouped(true);
                }
                Group {
                    members,
                    state: State::Initialize,
                }
            })
            .collect();
        Node {
            retired: vec![false; instances.len()],
            instances,
            groups,
            actions: VecDeque::new(),
            stats: Stats::default(),
            warnings: Warnings::default(),
        }
    }

    pub fn instances(&self) -> &[Instance] {
        &self.instances
    }

    pub fn instance(&self, id: InstanceId) -> Option<&Instance> {
        self.instances.get(id)
    }

    /// Whether instance `id` was removed by a reload (it may still be
    /// stopping: a master hands over first).
    pub fn is_retired(&self, id: InstanceId) -> bool {
        self.retired.get(id).copied().unwrap_or(true)
    }

    // === reload in place ===

    /// A reload changed instance `id`'s settings, not its identity (see
    /// [`Instance::reconfigure`]): no state changes, the next advert
    /// carries the new ones.
    pub fn reconfigure(&mut self, now: Instant, id: InstanceId, cfg: InstanceConfig) {
        if let Some(i) = self.instances.get_mut(id) {
            i.reconfigure(now, cfg);
            self.settle(now);
        }
    }

    /// A reload added an instance: it is created in Initialize, in the slot
    /// of a removed instance that has finished stopping if there is one
    /// (so ids stay small), else at the end. Apply its trackers with
    /// [`set_priority`](Self::set_priority), then
    /// [`start_instance`](Self::start_instance), as at start.
    pub fn add_instance(&mut self, cfg: InstanceConfig) -> InstanceId {
        let free = (0..self.instances.len())
            .find(|&id| self.retired[id] && self.instances[id].state() == State::Stopped);
        let instance = Instance::new(cfg);
        match free {
            Some(id) => {
                self.instances[id] = instance;
                self.retired[id] = false;
                id
            }
            None => {
                self.instances.push(instance);
                self.retired.push(false);
                self.instances.len() - 1
            }
        }
    }

    /// Startup event for one instance (added by a reload). One that joins
    /// a sync group whose other members are master here becomes master
    /// with them (the
    /// group's decision, as for a member whose peer group let go): left
    /// in Backup, it would make the others step down, and a reload that
    /// adds a member would be a failover of the whole group.
    pub fn start_instance(&mut self, now: Instant, id: InstanceId) {
        let instances = &self.instances;
        let joins_master = self.groups.iter().any(|g| {
            let others = || g.members.iter().filter(|&&m| m != id);
            g.members.contains(&id)
                && others().count() > 0
                && others().all(|&m| instances[m].state() == State::Master)
        });
        if let Some(i) = self.instances.get_mut(id) {
            i.start(now);
            if joins_master && i.state() == State::Backup {
                i.group_master(now);
            }
            self.settle(now);
        }
    }

    /// A reload removed instance `id`: it leaves its sync group and stops
    /// as at shutdown — a master sends priority 0 (so a backup takes over
    /// after Skew_Time, not three intervals) and keeps its addresses until
    /// the new master speaks or `bound` passes.
    pub fn remove_instance(&mut self, now: Instant, id: InstanceId, bound: Duration) {
        let Some(i) = self.instances.get_mut(id) else {
            return;
        };
        self.retired[id] = true;
        i.set_grouped(false);
        i.stop(now, bound);
        for g in &mut self.groups {
            g.members.retain(|&m| m != id);
        }
        self.settle(now);
    }

    /// `rampart vrrp resign`: instance `id` stops as at a graceful stop
    /// (a master sends priority 0 and keeps its addresses until the peer
    /// has taken over, or `bound`), and stays stopped until
    /// [`reinstate`](Self::reinstate).
    pub fn resign(&mut self, now: Instant, id: InstanceId, bound: Duration) {
        if let Some(i) = self.instances.get_mut(id) {
            i.stop(now, bound);
            self.settle(now);
        }
    }

    /// `rampart vrrp resume`: a resigned instance starts again.
    pub fn reinstate(&mut self, now: Instant, id: InstanceId) {
        if self.is_retired(id) {
            return;
        }
        if let Some(i) = self.instances.get_mut(id) {
            i.restart(now);
            self.settle(now);
        }
    }

    /// The members of the sync group instance `id` is in (just `id` if
    /// none).
    pub fn group_of(&self, id: InstanceId) -> Vec<InstanceId> {
        self.groups
            .iter()
            .find(|g| g.members.contains(&id))
            .map_or_else(|| vec![id], |g| g.members.clone())
    }

    /// A reload's sync groups (member ids; retired instances are left
    /// out). A group that shares a member with a group of before keeps
    /// that one's state, so its notify hook runs only if the state really
    /// changes; one of new members only starts from Initialize and
    /// reports the state its members are in.
    pub fn set_groups(&mut self, now: Instant, groups: Vec<Vec<InstanceId>>) {
        let mut old: Vec<Group> = std::mem::take(&mut self.groups);
        // (Groups are disjoint before and after: at most one old group
        // shares members with a new one, unless groups were merged.)
        let mut grouped = vec![false; self.instances.len()];
        for members in groups {
            let mut members: Vec<InstanceId> = members
                .into_iter()
                .filter(|&m| {
                    m < grouped.len()
                        && !self.retired[m]
                        && !std::mem::replace(&mut grouped[m], true)
                })
                .collect();
            members.sort_unstable();
            let state = old
                .iter()
                .position(|g| g.members.iter().any(|m| members.contains(m)))
                .map_or(State::Initialize, |at| old.swap_remove(at).state);
            self.groups.push(Group { members, state });
        }
        for (i, g) in self.instances.iter_mut().zip(grouped) {
            i.set_grouped(g);
        }
        self.settle(now);
    }

    /// The overall state of a sync group.
    pub fn group_state(&self, id: GroupId) -> Option<State> {
        self.groups.get(id).map(|g| g.state)
    }

    /// Drops that no instance could take.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Startup event for every instance. Trackers known at start should
    /// be applied with [`set_priority`](Self::set_priority) before this,
    /// so a node whose proxy is down starts in Fault, not Master.
    pub fn start(&mut self, now: Instant) {
        for i in &mut self.instances {
            i.start(now);
        }
        self.settle(now);
    }

    /// Startup after `rampart upgrade`: each instance resumes the state
    /// the previous program left it in (`states[id]`, see
    /// [`Instance::resume`]); one without starts as at [`start`](Self::start).
    /// Sync groups take their members' state as theirs without reporting
    /// a change (their notify hooks ran when it happened).
    pub fn resume(&mut self, now: Instant, states: &[Option<State>]) {
        for (id, i) in self.instances.iter_mut().enumerate() {
            match states.get(id).copied().flatten() {
                Some(state) => i.resume(now, state),
                None => i.start(now),
            }
        }
        for g in &mut self.groups {
            let members = g.members.iter().map(|&m| self.instances[m].state());
            g.state = group_state(members);
        }
        self.settle(now);
    }

    /// Graceful stop of every instance (see [`Instance::stop`]).
    pub fn stop(&mut self, now: Instant, bound: Duration) {
        for i in &mut self.instances {
            i.stop(now, bound);
        }
        self.settle(now);
    }

    /// Whether every instance has finished stopping.
    pub fn stopped(&self) -> bool {
        self.instances.iter().all(|i| i.state() == State::Stopped)
    }

    pub fn set_priority(&mut self, now: Instant, id: InstanceId, p: Priority) {
        if let Some(i) = self.instances.get_mut(id) {
            i.set_priority(now, p);
            self.settle(now);
        }
    }

    /// A packet of IP protocol 112 received on `interface`, for a caller
    /// with one socket per interface. The daemon (and the simulation in
    /// `tests/sim`) has one socket per instance and uses
    /// [`handle_packet_for`](Self::handle_packet_for) instead.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        interface: &str,
        src: IpAddr,
        dst: IpAddr,
        ttl: u8,
        buf: &[u8],
    ) {
        let (adv, form) = match decode(buf, src, dst) {
            Ok(v) => v,
            Err(e) => {
                self.node_drop(
                    now,
                    Drop::Malformed,
                    format!("on {interface} from {src}: {e}"),
                );
                return;
            }
        };
        let retired = &self.retired;
        let target = self.instances.iter_mut().enumerate().find_map(|(id, i)| {
            let gone = retired[id] && i.state() == State::Stopped;
            let c = i.config();
            let ours = !gone
                && c.vrid == adv.vrid
                && c.interface == interface
                && c.src.is_ipv4() == src.is_ipv4();
            ours.then_some(i)
        });
        match target {
            Some(i) => i.handle_advert(now, src, dst, ttl, &adv, form),
            None => {
                let detail = format!(
                    "on {interface} from {src}: no instance for VRID {}",
                    adv.vrid
                );
                self.node_drop(now, Drop::NoInstance, detail);
                return;
            }
        }
        self.settle(now);
    }

    /// A packet received on instance `id`'s own socket. Such a socket sees
    /// every VRRP packet on its interface, so an advert for another VRID
    /// is skipped here when an instance of that VRID runs on the interface
    /// (its own socket counts it). One that no instance runs is counted as
    /// `no_instance` once, by the first instance on that interface and
    /// family; undecodable packets are counted on the instance.
    pub fn handle_packet_for(
        &mut self,
        now: Instant,
        id: InstanceId,
        src: IpAddr,
        dst: IpAddr,
        ttl: u8,
        buf: &[u8],
    ) {
        let Some(me) = self.instances.get(id).map(Instance::config) else {
            return;
        };
        let same_link =
            |c: &InstanceConfig| c.interface == me.interface && c.src.is_ipv4() == me.src.is_ipv4();
        let decoded = decode(buf, src, dst);
        let counter = match &decoded {
            Ok((adv, _)) if adv.vrid != me.vrid => {
                let served = self
                    .instances
                    .iter()
                    .any(|o| o.config().vrid == adv.vrid && same_link(o.config()));
                let first = self.instances.iter().position(|o| same_link(o.config()));
                if served || first != Some(id) {
                    return;
                }
                Some(adv.vrid)
            }
            _ => None,
        };
        let Some(i) = self.instances.get_mut(id) else {
            return;
        };
        match (decoded, counter) {
            (Ok((_, _)), Some(vrid)) => i.no_instance(now, src, vrid),
            (Ok((adv, form)), None) => i.handle_advert(now, src, dst, ttl, &adv, form),
            (Err(e), _) => i.malformed(now, src, &e),
        }
        self.settle(now);
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.instances
            .iter()
            .filter_map(Instance::poll_timeout)
            .min()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        for i in &mut self.instances {
            if i.poll_timeout().is_some_and(|t| t <= now) {
                i.handle_timeout(now);
            }
        }
        self.settle(now);
    }

    pub fn poll_action(&mut self) -> Option<NodeAction> {
        self.actions.pop_front()
    }

    fn node_drop(&mut self, now: Instant, reason: Drop, detail: String) {
        self.stats.count(reason);
        if self.warnings.allow(now, reason) {
            self.actions.push_back(NodeAction::Warn { reason, detail });
        }
    }

    /// Applies the sync-group rules until nothing moves, then collects
    /// every instance's actions in order.
    fn settle(&mut self, now: Instant) {
        // Each pass moves at least one member to a state the rules never
        // take it out of within the same pass, so this is bounded; the
        // cap is a guard against a broken invariant, not a limit.
        for _ in 0..=self.instances.len() * 3 {
            if !self.sync_pass(now) {
                break;
            }
        }
        for (id, i) in self.instances.iter_mut().enumerate() {
            while let Some(action) = i.poll_action() {
                self.actions.push_back(NodeAction::Instance { id, action });
            }
        }
        for (id, g) in self.groups.iter_mut().enumerate() {
            if g.members.is_empty() {
                continue;
            }
            let states = g.members.iter().map(|&m| self.instances[m].state());
            let to = group_state(states);
            if to != g.state {
                let from = std::mem::replace(&mut g.state, to);
                self.actions
                    .push_back(NodeAction::GroupChanged { id, from, to });
            }
        }
    }

    /// One application of the group rules; true if anything moved.
    fn sync_pass(&mut self, now: Instant) -> bool {
        let mut moved = false;
        for g in &self.groups {
            let members = || g.members.iter().map(|&m| &self.instances[m]);
            let any = |s: State| members().any(|i| i.state() == s);
            let to_move: Vec<(InstanceId, Move)> = if members().any(Instance::own_fault) {
                // One in Fault: all in Fault.
                g.members
                    .iter()
                    .filter(|&&m| {
                        matches!(self.instances[m].state(), State::Backup | State::Master)
                    })
                    .map(|&m| (m, Move::Fault))
                    .collect()
            } else if any(State::Fault) {
                // The member that failed recovered: the others follow.
                g.members
                    .iter()
                    .filter(|&&m| self.instances[m].state() == State::Fault)
                    .map(|&m| (m, Move::Recover))
                    .collect()
            } else if any(State::Master)
                && members().any(|i| i.state() == State::Backup && !i.wants_master())
            {
                // A member accepted a better master: nobody stays master.
                g.members
                    .iter()
                    .filter(|&&m| self.instances[m].state() == State::Master)
                    .map(|&m| (m, Move::Backup))
                    .collect()
            } else if members().all(Instance::wants_master) {
                g.members
                    .iter()
                    .filter(|&&m| self.instances[m].state() == State::Backup)
                    .map(|&m| (m, Move::Master))
                    .collect()
            } else {
                Vec::new()
            };
            moved |= !to_move.is_empty();
            for (m, mv) in to_move {
                let i = &mut self.instances[m];
                match mv {
                    Move::Fault => i.group_fault(now),
                    Move::Recover => i.group_fault_cleared(now),
                    Move::Backup => i.group_backup(now),
                    Move::Master => i.group_master(now),
                }
            }
            if moved {
                return true;
            }
        }
        moved
    }
}

#[derive(Debug, Clone, Copy)]
enum Move {
    Fault,
    Recover,
    Backup,
    Master,
}

/// A member not started yet (added by a reload, started right after the
/// groups are set) does not count: the group is what its running members
/// are.
fn group_state(states: impl Iterator<Item = State> + Clone) -> State {
    let states = states.filter(|s| *s != State::Initialize);
    if states.clone().next().is_none() {
        State::Initialize
    } else if states.clone().any(|s| s == State::Fault) {
        State::Fault
    } else if states.clone().all(|s| s == State::Master) {
        State::Master
    } else if states.clone().all(|s| s == State::Stopped) {
        State::Stopped
    } else {
        State::Backup
    }
}

//! A simulated LAN of VRRP nodes: virtual time, a fixed one-way latency,
//! seeded random loss and partitions. Everything the nodes ask to send is
//! delivered (or lost) to every other node; each node's addresses are
//! tracked from its Add/RemoveAddresses actions.

#![allow(dead_code)] // each test file that has `mod sim;` uses a part of it

use std::collections::BinaryHeap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use rampart_vrrp::{
    Action, Addrs, Advert, Auth, ChecksumForm, InstanceConfig, MULTICAST_V4, Node, NodeAction,
    Priority, State, Version, decode,
};

/// One-way delay of the simulated link.
pub const LATENCY: Duration = Duration::from_millis(1);

pub fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
}

/// An instance config for router `n` (address 10.0.0.n).
pub fn cfg(n: u8, vrid: u8, version: Version, priority: u8, interval_cs: u16) -> InstanceConfig {
    InstanceConfig {
        name: format!("VI_{vrid}"),
        interface: "eth0".into(),
        vrid,
        version,
        priority,
        interval_cs,
        preempt: true,
        preempt_delay: Duration::ZERO,
        start_as_master: false,
        auth: match version {
            Version::V2 => Auth::simple(b"1111").unwrap_or(Auth::None),
            Version::V3 => Auth::None,
        },
        vips: Addrs::V4(vec![Ipv4Addr::new(192, 0, 2, vrid)]),
        src: ip(n),
        unicast_peers: Vec::new(),
        unicast_min_ttl: 1,
        checksum: ChecksumForm::PseudoHeader,
        garp_delay: Duration::ZERO,
        garp_refresh: Duration::ZERO,
    }
}

pub struct Router {
    pub node: Node,
    /// Whether each instance currently holds its addresses.
    pub holds: Vec<bool>,
    /// Every state change: (time since start, instance, new state).
    pub history: Vec<(Duration, usize, State)>,
    /// Group state changes.
    pub group_history: Vec<(Duration, usize, State)>,
    /// Every gratuitous ARP burst asked for: (time since start, instance).
    pub garps: Vec<(Duration, usize)>,
    /// Every advert sent: (time since start, instance, the advert).
    pub sent: Vec<(Duration, usize, Advert)>,
    pub up: bool,
}

#[derive(PartialEq, Eq)]
struct InFlight {
    at: Instant,
    seq: u64,
    to: usize,
    src: IpAddr,
    dst: IpAddr,
    payload: Vec<u8>,
}

impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Min-heap on (time, sequence): deterministic delivery order.
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

pub struct Net {
    pub t0: Instant,
    pub now: Instant,
    pub routers: Vec<Router>,
    /// Probability in parts per million that a packet is lost.
    pub loss_ppm: u32,
    /// Extra delay of each packet, uniform in [0, jitter).
    pub jitter: Duration,
    rng: u64,
    /// `cut[a][b]`: packets from a to b are dropped.
    cut: Vec<Vec<bool>>,
    queue: BinaryHeap<InFlight>,
    seq: u64,
    pub sent: u64,
    pub lost: u64,
}

impl Net {
    pub fn new(seed: u64) -> Self {
        let t0 = Instant::now();
        Net {
            t0,
            now: t0,
            routers: Vec::new(),
            loss_ppm: 0,
            jitter: Duration::ZERO,
            rng: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            cut: Vec::new(),
            queue: BinaryHeap::new(),
            seq: 0,
            sent: 0,
            lost: 0,
        }
    }

    /// Adds a node (not started) and returns its index.
    pub fn add(&mut self, instances: Vec<InstanceConfig>, groups: Vec<Vec<usize>>) -> usize {
        let n = instances.len();
        self.routers.push(Router {
            node: Node::new(instances, groups),
            holds: vec![false; n],
            history: Vec::new(),
            group_history: Vec::new(),
            garps: Vec::new(),
            sent: Vec::new(),
            up: false,
        });
        for row in &mut self.cut {
            row.push(false);
        }
        self.cut.push(vec![false; self.routers.len()]);
        self.routers.len() - 1
    }

    pub fn start(&mut self, r: usize) {
        self.routers[r].up = true;
        let now = self.now;
        self.routers[r].node.start(now);
        self.drain(r);
    }

    /// `rampart upgrade` of router `r`: its node is replaced by a new one
    /// built from the same configs and groups, which resumes the old one's
    /// states after `gap` (the exec), during which it sends nothing.
    pub fn upgrade(&mut self, r: usize, groups: Vec<Vec<usize>>, gap: Duration) {
        let old = &self.routers[r].node;
        let cfgs: Vec<InstanceConfig> =
            old.instances().iter().map(|i| i.config().clone()).collect();
        let states: Vec<Option<State>> = old.instances().iter().map(|i| Some(i.state())).collect();
        self.routers[r].up = false;
        self.run(gap);
        self.routers[r].node = Node::new(cfgs, groups);
        self.routers[r].up = true;
        let now = self.now;
        self.routers[r].node.resume(now, &states);
        self.drain(r);
    }

    /// `rampart vrrp resign` of router `r`'s instance `i`.
    pub fn resign(&mut self, r: usize, i: usize, bound: Duration) {
        let now = self.now;
        self.routers[r].node.resign(now, i, bound);
        self.drain(r);
    }

    /// `rampart vrrp resume` of router `r`'s instance `i`.
    pub fn reinstate(&mut self, r: usize, i: usize) {
        let now = self.now;
        self.routers[r].node.reinstate(now, i);
        self.drain(r);
    }

    /// Graceful stop with the given bound.
    pub fn stop(&mut self, r: usize, bound: Duration) {
        let now = self.now;
        self.routers[r].node.stop(now, bound);
        self.drain(r);
    }

    /// The node vanishes (process killed, power lost): no more packets.
    pub fn crash(&mut self, r: usize) {
        self.routers[r].up = false;
        self.routers[r].holds.iter_mut().for_each(|h| *h = false);
    }

    pub fn set_priority(&mut self, r: usize, i: usize, p: Priority) {
        let now = self.now;
        self.routers[r].node.set_priority(now, i, p);
        self.drain(r);
    }

    /// A reload changed router `r`'s instance `i` in place.
    pub fn reconfigure(&mut self, r: usize, i: usize, cfg: InstanceConfig) {
        let now = self.now;
        self.routers[r].node.reconfigure(now, i, cfg);
        self.drain(r);
    }

    /// A reload added an instance to router `r` (started at once).
    pub fn add_instance(&mut self, r: usize, cfg: InstanceConfig) -> usize {
        let now = self.now;
        let id = self.routers[r].node.add_instance(cfg);
        let holds = &mut self.routers[r].holds;
        if holds.len() <= id {
            holds.resize(id + 1, false);
        }
        self.routers[r].node.start_instance(now, id);
        self.drain(r);
        id
    }

    /// A reload added an instance to router `r` with these sync groups
    /// (as the driver does: added, groups set, then started).
    pub fn add_grouped(&mut self, r: usize, cfg: InstanceConfig, groups: Vec<Vec<usize>>) -> usize {
        let now = self.now;
        let id = self.routers[r].node.add_instance(cfg);
        let holds = &mut self.routers[r].holds;
        if holds.len() <= id {
            holds.resize(id + 1, false);
        }
        self.routers[r].node.set_groups(now, groups);
        self.routers[r].node.start_instance(now, id);
        self.drain(r);
        id
    }

    /// A reload removed router `r`'s instance `i`.
    pub fn remove_instance(&mut self, r: usize, i: usize, bound: Duration) {
        let now = self.now;
        self.routers[r].node.remove_instance(now, i, bound);
        self.drain(r);
    }

    /// A reload set router `r`'s sync groups.
    pub fn set_groups(&mut self, r: usize, groups: Vec<Vec<usize>>) {
        let now = self.now;
        self.routers[r].node.set_groups(now, groups);
        self.drain(r);
    }

    /// Adverts router `r`'s instance `i` sent at or after `since`.
    pub fn adverts_since(&self, r: usize, i: usize, since: Duration) -> Vec<(Duration, Advert)> {
        self.routers[r]
            .sent
            .iter()
            .filter(|(t, id, _)| *id == i && *t >= since)
            .map(|(t, _, a)| (*t, a.clone()))
            .collect()
    }

    /// State changes of router `r`'s instance `i` at or after `since`.
    pub fn changes_since(&self, r: usize, i: usize, since: Duration) -> Vec<(Duration, State)> {
        self.routers[r]
            .history
            .iter()
            .filter(|(t, id, _)| *id == i && *t >= since)
            .map(|(t, _, s)| (*t, *s))
            .collect()
    }

    /// Cuts (or heals) both directions between a and b.
    pub fn partition(&mut self, a: usize, b: usize, cut: bool) {
        self.cut[a][b] = cut;
        self.cut[b][a] = cut;
    }

    /// Drops packets from `from` to `to` only (a one-way fault).
    pub fn cut_one_way(&mut self, from: usize, to: usize, cut: bool) {
        self.cut[from][to] = cut;
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    /// Runs the network for `d` of virtual time.
    pub fn run(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let next_timer = self
                .routers
                .iter()
                .filter(|r| r.up)
                .filter_map(|r| r.node.poll_timeout())
                .min();
            let next_pkt = self.queue.peek().map(|p| p.at);
            let next = match (next_timer, next_pkt) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => match a.or(b) {
                    Some(t) => t,
                    None => break,
                },
            };
            if next > end {
                break;
            }
            self.now = self.now.max(next);
            let now = self.now;
            if next_pkt == Some(next) {
                if let Some(p) = self.queue.pop()
                    && self.routers[p.to].up
                {
                    self.deliver(now, &p);
                    self.drain(p.to);
                }
                continue;
            }
            for r in 0..self.routers.len() {
                let due = self.routers[r]
                    .node
                    .poll_timeout()
                    .is_some_and(|t| t <= now);
                if self.routers[r].up && due {
                    self.routers[r].node.handle_timeout(now);
                    self.drain(r);
                }
            }
        }
        self.now = end;
    }

    /// Hands a packet to its router as the daemon does: through the
    /// socket of each instance on the link (every instance's raw socket
    /// sees every VRRP packet on its interface and family), with
    /// [`Node::handle_packet_for`], which skips the ones for another
    /// instance's VRID.
    fn deliver(&mut self, now: Instant, p: &InFlight) {
        let node = &mut self.routers[p.to].node;
        let on_link: Vec<usize> = (0..node.instances().len())
            .filter(|&id| {
                let c = node.instances()[id].config();
                c.interface == "eth0" && c.src.is_ipv4() == p.src.is_ipv4()
            })
            .collect();
        for id in on_link {
            node.handle_packet_for(now, id, p.src, p.dst, 255, &p.payload);
        }
    }

    fn chance(&mut self) -> u32 {
        // xorshift64*: small, seeded, good enough for loss decisions.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32 % 1_000_000
    }

    fn drain(&mut self, r: usize) {
        let elapsed = self.elapsed();
        while let Some(a) = self.routers[r].node.poll_action() {
            match a {
                NodeAction::Instance { id, action } => match action {
                    Action::Transmit { dst, payload } => self.transmit(r, id, dst, payload),
                    Action::AddAddresses => self.routers[r].holds[id] = true,
                    Action::RemoveAddresses => self.routers[r].holds[id] = false,
                    Action::StateChanged { to, .. } => {
                        self.routers[r].history.push((elapsed, id, to))
                    }
                    Action::SendGarp => self.routers[r].garps.push((elapsed, id)),
                    Action::Warn { .. } => {}
                },
                NodeAction::GroupChanged { id, to, .. } => {
                    self.routers[r].group_history.push((elapsed, id, to))
                }
                NodeAction::Warn { .. } => {}
            }
        }
    }

    fn transmit(&mut self, from: usize, id: usize, dst: IpAddr, payload: Vec<u8>) {
        let Some(src) = self.routers[from].node.instance(id).map(|i| i.config().src) else {
            return;
        };
        if let Ok((adv, _)) = decode(&payload, src, dst) {
            let at = self.elapsed();
            self.routers[from].sent.push((at, id, adv));
        }
        for to in 0..self.routers.len() {
            let addressed = dst == MULTICAST_V4
                || self.routers[to]
                    .node
                    .instances()
                    .iter()
                    .any(|i| i.config().src == dst);
            if to == from || !addressed {
                continue;
            }
            self.sent += 1;
            if self.cut[from][to] || self.chance() < self.loss_ppm {
                self.lost += 1;
                continue;
            }
            self.seq += 1;
            let jitter_us = self.jitter.as_micros() as u64;
            let extra = if jitter_us == 0 {
                Duration::ZERO
            } else {
                Duration::from_micros(u64::from(self.chance()) % jitter_us)
            };
            self.queue.push(InFlight {
                at: self.now + LATENCY + extra,
                seq: self.seq,
                to,
                src,
                dst,
                payload: payload.clone(),
            });
        }
    }

    /// Routers whose instance `i` is master right now.
    pub fn masters(&self, i: usize) -> Vec<usize> {
        (0..self.routers.len())
            .filter(|&r| self.routers[r].up && self.state(r, i) == State::Master)
            .collect()
    }

    /// Routers holding instance `i`'s addresses.
    pub fn holders(&self, i: usize) -> Vec<usize> {
        (0..self.routers.len())
            .filter(|&r| self.routers[r].up && self.routers[r].holds[i])
            .collect()
    }

    pub fn state(&self, r: usize, i: usize) -> State {
        self.routers[r]
            .node
            .instance(i)
            .map_or(State::Initialize, |x| x.state())
    }

    /// When router `r`'s instance `i` last became `state`, if ever.
    pub fn last_became(&self, r: usize, i: usize, state: State) -> Option<Duration> {
        self.routers[r]
            .history
            .iter()
            .rev()
            .find(|(_, id, s)| *id == i && *s == state)
            .map(|(t, _, _)| *t)
    }

    /// Number of times router `r`'s instance `i` became master.
    pub fn times_master(&self, r: usize, i: usize) -> usize {
        self.routers[r]
            .history
            .iter()
            .filter(|(_, id, s)| *id == i && *s == State::Master)
            .count()
    }
}

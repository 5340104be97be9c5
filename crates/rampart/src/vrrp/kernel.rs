//! What VRRP does to the kernel: virtual addresses on and off interfaces
//! (netlink) and their announcement (gratuitous ARP, unsolicited NA).

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use rampart_config::Garp;
use rampart_sys::{garp, netlink};

use super::build::{InstancePlan, Plan, VipSpec};

/// A virtual address with its interface resolved.
#[derive(Debug, Clone)]
struct Vip {
    spec: VipSpec,
    ifindex: u32,
    mac: [u8; 6],
}

impl Vip {
    /// Takes the address off its interface; logs a failure, and success
    /// too if `announce`.
    fn remove(&self, announce: bool) {
        let s = &self.spec;
        match netlink::del_address(self.ifindex, s.addr, s.prefix_len) {
            Ok(()) if announce => {
                tracing::info!("removed {}/{} from {}", s.addr, s.prefix_len, s.ifname)
            }
            Ok(()) => {}
            Err(e) => tracing::error!(
                "cannot remove {}/{} from {}: {e}",
                s.addr,
                s.prefix_len,
                s.ifname
            ),
        }
    }
}

pub struct Kernel {
    /// Per instance slot (the driver's ids).
    vips: Vec<Vec<Vip>>,
    /// Per slot: removed by a reload (stopping, or stopped and free).
    retired: Vec<bool>,
    /// Per instance: the address owner (priority 255), whose addresses are
    /// this host's own (RFC 5798 §3); announced, but never added or taken
    /// away, whatever the state.
    owner: Vec<bool>,
    garp: Vec<Garp>,
    interfaces: BTreeSet<String>,
    /// Opened once: a socket per frame would stall the driver (see
    /// [`garp::Announcer`]).
    announcer: Arc<garp::Announcer>,
}

/// The kernel's view of one instance slot, as a reload hands it over.
#[derive(Debug, Clone)]
pub struct Slot {
    vips: Vec<VipSpec>,
    retired: bool,
    owner: bool,
    garp: Garp,
    /// Interfaces whose link state it tracks (its own included).
    links: Vec<String>,
}

impl Slot {
    pub fn of(i: &InstancePlan, retired: bool) -> Slot {
        let mut links = vec![i.core.interface.clone()];
        for input in &i.inputs {
            if let super::build::Input::Link { name, .. } = input {
                links.push(name.clone());
            }
        }
        Slot {
            vips: i.vips.clone(),
            retired,
            owner: is_owner(i),
            garp: i.garp,
            links,
        }
    }
}

/// Resolves every address's interface.
fn resolve(name: &str, specs: &[VipSpec]) -> Result<Vec<Vip>> {
    specs
        .iter()
        .map(|v| {
            let ifindex = netlink::link_index(&v.ifname)
                .with_context(|| format!("VRRP instance {name}: interface {}", v.ifname))?;
            let mac = netlink::link_mac(&v.ifname).unwrap_or([0; 6]);
            Ok(Vip {
                spec: v.clone(),
                ifindex,
                mac,
            })
        })
        .collect()
}

impl Kernel {
    /// Resolves every interface now, so a typo fails the start instead of
    /// the first failover.
    pub fn new(plan: &Plan) -> Result<Kernel> {
        let mut vips = Vec::new();
        for i in &plan.instances {
            vips.push(resolve(&i.core.name, &i.vips)?);
        }
        let slots: Vec<Slot> = plan.instances.iter().map(|i| Slot::of(i, false)).collect();
        let mut k = Kernel {
            vips,
            retired: Vec::new(),
            owner: Vec::new(),
            garp: Vec::new(),
            interfaces: BTreeSet::new(),
            announcer: Arc::new(garp::Announcer::new().context("socket for gratuitous ARP / NA")?),
        };
        k.set_slots(&slots);
        Ok(k)
    }

    fn set_slots(&mut self, slots: &[Slot]) {
        self.retired = slots.iter().map(|s| s.retired).collect();
        self.owner = slots.iter().map(|s| s.owner).collect();
        self.garp = slots.iter().map(|s| s.garp).collect();
        self.interfaces = slots
            .iter()
            .filter(|s| !s.retired)
            .flat_map(|s| s.links.iter().cloned())
            .collect();
    }

    /// Every interface whose link state matters.
    pub fn interfaces(&self) -> Vec<String> {
        self.interfaces.iter().cloned().collect()
    }

    /// The addresses of instance `id` that it adds and removes: none for an
    /// address owner; for an instance a reload removed, none that a live
    /// instance lists too (the address is that one's now: the retired one,
    /// still handing over, must not take it off when it stops).
    fn managed(&self, id: usize) -> Vec<&Vip> {
        let (Some(false), Some(list)) = (self.owner.get(id), self.vips.get(id)) else {
            return Vec::new();
        };
        if !self.retired.get(id).copied().unwrap_or(false) {
            return list.iter().collect();
        }
        list.iter()
            .filter(|v| !self.listed_by_live(v.ifindex, v.spec.addr))
            .collect()
    }

    fn listed_by_live(&self, ifindex: u32, addr: IpAddr) -> bool {
        self.vips.iter().enumerate().any(|(id, list)| {
            !self.retired.get(id).copied().unwrap_or(true)
                && list
                    .iter()
                    .any(|v| v.ifindex == ifindex && v.spec.addr == addr)
        })
    }

    /// A reload's new slots (see [`Op::Replan`]). Addresses are resolved
    /// here, on the kernel thread: each lookup takes the RTNL lock. An
    /// address whose interface has gone is left out, with an error (the
    /// supervisor checked them all before the reload was accepted).
    fn replan(&mut self, slots: Vec<(String, Slot)>, hold: Vec<bool>) {
        let mut vips = Vec::new();
        for (name, slot) in &slots {
            let list = slot
                .vips
                .iter()
                .filter_map(|v| match resolve(name, std::slice::from_ref(v)) {
                    Ok(mut one) => one.pop(),
                    Err(e) => {
                        tracing::error!("{e:#}: {} left out", v.addr);
                        None
                    }
                })
                .collect();
            vips.push(list);
        }
        // What an instance holding its addresses had and no instance lists
        // any more goes now (an address that moved to another instance
        // stays: that one adds it if it is not there). One whose prefix or
        // label changed goes too, and comes back as configured below.
        let same = |n: &Vip, v: &Vip| {
            (n.ifindex, n.spec.addr, n.spec.prefix_len, &n.spec.label)
                == (v.ifindex, v.spec.addr, v.spec.prefix_len, &v.spec.label)
        };
        let gone: Vec<Vip> = (0..self.vips.len())
            .filter(|&id| hold.get(id).copied().unwrap_or(false))
            .flat_map(|id| self.managed(id).into_iter().cloned().collect::<Vec<_>>())
            .filter(|v| !vips.iter().flatten().any(|n: &Vip| same(n, v)))
            .collect();
        let slots: Vec<Slot> = slots.into_iter().map(|(_, s)| s).collect();
        self.vips = vips;
        self.set_slots(&slots);
        for v in gone {
            v.remove(true);
        }
        // What a holding instance lists and the interface lacks is added
        // and announced (`reconcile` says so).
        let present = match netlink::all_addresses() {
            Ok(p) => p,
            Err(e) => return tracing::error!("cannot list the addresses: {e}"),
        };
        for (id, hold) in hold.into_iter().enumerate() {
            if hold && self.add_missing(id, &present) {
                self.announce(id);
            }
        }
    }

    /// Adds what instance `id` lists and `present` lacks; true if any.
    fn add_missing(&self, id: usize, present: &[(u32, netlink::AddrInfo)]) -> bool {
        let mut added = false;
        for v in self.managed(id) {
            let s = &v.spec;
            let here = present
                .iter()
                .any(|(ifindex, a)| *ifindex == v.ifindex && a.addr == s.addr);
            if here {
                continue;
            }
            match netlink::add_address(v.ifindex, s.addr, s.prefix_len, s.label.as_deref()) {
                Ok(()) => {
                    tracing::info!("added {}/{} on {}", s.addr, s.prefix_len, s.ifname);
                    added = true;
                }
                Err(e) => tracing::error!(
                    "cannot add {}/{} on {}: {e}",
                    s.addr,
                    s.prefix_len,
                    s.ifname
                ),
            }
        }
        added
    }

    pub fn add_vips(&self, id: usize) {
        for v in self.managed(id) {
            let s = &v.spec;
            match netlink::add_address(v.ifindex, s.addr, s.prefix_len, s.label.as_deref()) {
                Ok(()) => tracing::info!("added {}/{} on {}", s.addr, s.prefix_len, s.ifname),
                Err(e) => tracing::error!(
                    "cannot add {}/{} on {}: {e}",
                    s.addr,
                    s.prefix_len,
                    s.ifname
                ),
            }
        }
    }

    pub fn remove_vips(&self, id: usize) {
        for v in self.managed(id) {
            v.remove(true);
        }
    }

    /// Makes the kernel agree with instance `id`'s state: a node that is
    /// not master must not hold its addresses (left by a crashed run, added
    /// by hand, or missed by a netlink request that failed), and a master
    /// must hold them (someone ran `ip addr del`). Called every second, so
    /// a node never answers ARP for a VIP it does not own for longer.
    /// `present` is every address of the namespace with its interface
    /// index (one netlink dump serves every instance). Returns whether an
    /// address was added (to re-announce it).
    pub fn reconcile(&self, id: usize, hold: bool, present: &[(u32, netlink::AddrInfo)]) -> bool {
        let mut added = false;
        for v in self.managed(id) {
            let s = &v.spec;
            let here = present
                .iter()
                .any(|(ifindex, a)| *ifindex == v.ifindex && a.addr == s.addr);
            if here && !hold {
                tracing::warn!(
                    "{}/{} found on {} while not master: removing it",
                    s.addr,
                    s.prefix_len,
                    s.ifname
                );
                v.remove(false);
            } else if !here && hold {
                tracing::warn!(
                    "{}/{} missing from {} while master: adding it back",
                    s.addr,
                    s.prefix_len,
                    s.ifname
                );
                added |= netlink::add_address(v.ifindex, s.addr, s.prefix_len, s.label.as_deref())
                    .is_ok();
            }
        }
        added
    }

    /// Removes every configured virtual address, quietly (most are absent).
    pub fn remove_all_vips(&self) {
        for v in (0..self.vips.len()).flat_map(|id| self.managed(id)) {
            let _ = netlink::del_address(v.ifindex, v.spec.addr, v.spec.prefix_len);
        }
    }

    /// A burst of `repeat` gratuitous ARPs / unsolicited NAs per address,
    /// `interval` apart, sent from a task so the driver never waits.
    pub fn announce(&self, id: usize) {
        let (Some(vips), Some(g)) = (self.vips.get(id), self.garp.get(id)) else {
            return;
        };
        let vips = vips.clone();
        let (repeat, interval) = (g.repeat.max(1), g.interval);
        let announcer = self.announcer.clone();
        tokio::spawn(async move {
            for n in 0..repeat {
                for v in &vips {
                    let sent = match v.spec.addr {
                        IpAddr::V4(a) => announcer.garp(v.ifindex, v.mac, a),
                        IpAddr::V6(a) => announcer.unsolicited_na(v.ifindex, None, a, v.mac, false),
                    };
                    if let Err(e) = sent {
                        tracing::warn!("cannot announce {} on {}: {e}", v.spec.addr, v.spec.ifname);
                    }
                }
                if n + 1 < repeat && interval > Duration::ZERO {
                    tokio::time::sleep(interval).await;
                }
            }
        });
    }
}

/// An address owner's addresses are the host's own (see `Kernel::owner`).
fn is_owner(i: &InstancePlan) -> bool {
    i.core.priority == rampart_vrrp::PRIORITY_OWNER
}

/// Removes every virtual address `plan` configures, without a driver: for
/// a worker whose supervisor died (kill -9, OOM) and so can neither send
/// priority 0 nor take its addresses down. Returns the addresses removed.
pub fn remove_planned_vips(plan: &Plan) -> Vec<String> {
    let mut removed = Vec::new();
    let managed = plan.instances.iter().filter(|i| !is_owner(i));
    for v in managed.flat_map(|i| &i.vips) {
        let Ok(ifindex) = netlink::link_index(&v.ifname) else {
            continue;
        };
        if netlink::del_address(ifindex, v.addr, v.prefix_len).is_ok() {
            removed.push(format!("{}/{} on {}", v.addr, v.prefix_len, v.ifname));
        }
    }
    removed
}

// === the kernel thread ===

/// What the driver asks of the kernel, carried out in order on a thread of
/// its own.
#[derive(Debug)]
pub enum Op {
    Add(usize),
    Remove(usize),
    Announce(usize),
    /// Per instance, whether it should hold its addresses now.
    Audit(Vec<bool>),
    /// Every configured address off; the sender hears when it is done.
    RemoveAll(Option<tokio::sync::oneshot::Sender<()>>),
    /// A reload: the instance slots from now on (name, slot), and per slot
    /// whether it holds its addresses now. Addresses no holding instance
    /// lists any more are removed, new ones added and announced.
    Replan(Vec<(String, Slot)>, Vec<bool>),
}

/// The driver's side of the kernel thread. Why a thread: every netlink
/// request takes the kernel's RTNL lock, which anything else on the host
/// may hold for a long time (a network namespace being torn down held it
/// long enough for two 10–20 ms backups to take over at once). Adverts
/// must never wait for it, so the driver only queues; the order of
/// operations (address, then its GARPs) is kept by the queue.
pub struct KernelThread {
    tx: tokio::sync::mpsc::UnboundedSender<Op>,
}

impl KernelThread {
    pub fn spawn(kernel: Kernel) -> std::io::Result<KernelThread> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Op>();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("rampart-vrrp-kernel".into())
            .spawn(move || {
                // Address changes at failover are as urgent as adverts.
                let _ =
                    rampart_sys::limits::set_thread_realtime(rampart_sys::limits::VRRP_RT_PRIORITY);
                let mut kernel = kernel;
                rt.block_on(async move {
                    while let Some(op) = rx.recv().await {
                        kernel.carry_out(op);
                    }
                    // The driver is gone: let the last GARP bursts finish.
                    tokio::task::yield_now().await;
                });
            })?;
        Ok(KernelThread { tx })
    }

    pub fn send(&self, op: Op) {
        if self.tx.send(op).is_err() {
            tracing::error!("the VRRP kernel thread is gone");
        }
    }

    /// Removes every configured address and waits until it is done.
    pub async fn remove_all(&self) {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.send(Op::RemoveAll(Some(done)));
        let _ = wait.await;
    }
}

impl Kernel {
    fn carry_out(&mut self, op: Op) {
        match op {
            Op::Replan(slots, hold) => self.replan(slots, hold),
            Op::Add(id) => self.add_vips(id),
            Op::Remove(id) => self.remove_vips(id),
            Op::Announce(id) => self.announce(id),
            Op::Audit(hold) => {
                let present = match netlink::all_addresses() {
                    Ok(p) => p,
                    Err(e) => return tracing::debug!("cannot list the addresses: {e}"),
                };
                for (id, hold) in hold.into_iter().enumerate() {
                    if self.reconcile(id, hold, &present) {
                        self.announce(id);
                    }
                }
            }
            Op::RemoveAll(done) => {
                self.remove_all_vips();
                if let Some(done) = done {
                    let _ = done.send(());
                }
            }
        }
    }
}

//! The VRRP driver: a thin task that feeds the sans-IO `rampart_vrrp::Node`
//! with packets, timers and tracker verdicts, and carries out its actions
//! on the kernel (raw sockets, netlink addresses, gratuitous ARP) and on
//! notify hooks. It runs inside the supervisor, so a worker crash never
//! disturbs it. A reload reaches it as a change set (`diff.rs`) with the
//! new plan, applied on its thread (`reconfigure.rs`).

pub mod build;
pub mod diff;
mod jitter;
mod kernel;
mod notify;
mod reconfigure;
pub mod track;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rampart_config::Config;
use rampart_sys::netlink::LinkWatcher;
use rampart_sys::vrrp_socket::VrrpSocket;
use rampart_vrrp::{Action, Node, NodeAction, State};
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, oneshot, watch};

use crate::control::VrrpStatus;
use crate::health::ProxyHealth;
use crate::task::{Inbox, TaskHandle};
use build::Plan;
use kernel::{Kernel, KernelThread, Op};
use notify::Notifier;
pub use reconfigure::Reconfigure;
use track::Tracker;

/// How often the kernel's addresses are compared with the instances'
/// states (see `Kernel::reconcile`).
const ADDRESS_AUDIT: Duration = Duration::from_secs(1);

/// Largest VRRP packet: 8 + 255 * 16 bytes, plus an IPv4 header.
const MAX_PACKET: usize = 4200;

/// Controls a running driver.
pub struct Handle {
    task: TaskHandle<Vec<VrrpStatus>>,
    masters: watch::Receiver<BTreeMap<String, bool>>,
    reconfigure: mpsc::UnboundedSender<Reconfigure>,
    freeze: mpsc::UnboundedSender<Ctl>,
}

/// Requests to the driver besides reloads.
enum Ctl {
    /// `rampart upgrade`: where to send the states, and what ends the
    /// freeze.
    Freeze(oneshot::Sender<States>, oneshot::Receiver<()>),
    /// `rampart vrrp resign NAME` (`resign`) or `resume [NAME]`.
    Admin {
        resign: bool,
        name: Option<String>,
        reply: oneshot::Sender<Result<String, String>>,
    },
}

/// Each instance's state by name (`State::as_str`), as `rampart upgrade`
/// hands it to the next program; track scripts' states too, as
/// `script/NAME` → `ok` | `failing` (no instance name has a `/`).
pub type States = BTreeMap<String, String>;

/// The key of a track script's state in [`States`].
const SCRIPT_KEY: &str = "script/";

/// Keeps the driver frozen (see [`Handle::freeze`]); dropping it thaws.
pub struct Thaw(#[allow(dead_code)] oneshot::Sender<()>);

impl Handle {
    /// Whether each instance (by name) is master now (or a stopping
    /// master still holding its addresses); follows changes.
    pub fn masters(&self) -> watch::Receiver<BTreeMap<String, bool>> {
        self.masters.clone()
    }

    /// A snapshot of every instance (empty if the driver has ended).
    pub async fn status(&self) -> Vec<VrrpStatus> {
        self.task.status().await
    }

    /// Resolves if the driver ends on its own (a panic): VRRP is then
    /// gone while its addresses may still be here.
    pub async fn ended(&mut self) {
        self.task.ended().await
    }

    /// Applies a reload's change set (see `reconfigure.rs`): unchanged
    /// instances see nothing, changed ones are reconfigured in place,
    /// added ones start, removed ones hand over with priority 0.
    pub fn reconfigure(&self, r: Reconfigure) {
        if self.reconfigure.send(r).is_err() {
            tracing::error!("the VRRP driver is gone: the reload's [vrrp] changes are not applied");
        }
    }

    /// `rampart upgrade`: the driver stops doing anything (no advert, no
    /// address change, no hook) and reports each instance's state, which
    /// the next program resumes. It stays frozen while the returned
    /// [`Thaw`] lives: the exec ends the thread; if the exec fails,
    /// dropping it lets the driver go on. `None` if the driver is gone.
    pub async fn freeze(&self) -> Option<(States, Thaw)> {
        let (tx, rx) = oneshot::channel();
        let (thaw, frozen) = oneshot::channel();
        self.freeze.send(Ctl::Freeze(tx, frozen)).ok()?;
        Some((rx.await.ok()?, Thaw(thaw)))
    }

    /// `rampart vrrp resign NAME` (`resign`) or `resume [NAME]`: an
    /// instance, or a sync group, hands mastership over as at a graceful
    /// stop and stays out; resume starts it again (every resigned one
    /// without a name). An instance in a sync group moves with its group.
    /// Resign without a name resigns every instance (the node drain).
    /// What changed, or why not.
    pub async fn admin(&self, resign: bool, name: Option<String>) -> Result<String, String> {
        let (reply, rx) = oneshot::channel();
        self.freeze
            .send(Ctl::Admin {
                resign,
                name,
                reply,
            })
            .map_err(|_| "the VRRP driver is gone".to_string())?;
        rx.await
            .map_err(|_| "the VRRP driver is gone".to_string())?
    }

    /// Graceful stop: masters send priority 0 and keep their addresses
    /// until a peer takes over or the bound passes. Returns when done.
    pub async fn stop(self) {
        self.task.stop().await
    }
}

struct Packet {
    id: usize,
    /// The slot's generation when its socket was opened: a packet read by
    /// the socket of a slot's previous instance is not for the new one.
    generation: u64,
    at: Instant,
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    payload: Vec<u8>,
}

/// Starts the driver if the config has VRRP instances, on a thread of its
/// own (see [`TaskHandle::spawn_thread`]): adverts must leave on time
/// whatever else the supervisor is doing. Fails (before touching any
/// address) if a socket cannot be opened or an interface is missing.
/// Notify hooks and track scripts run on the caller's runtime, so forking
/// them never holds an advert back.
///
/// `resume`: the states a previous program of this node handed over
/// (`rampart upgrade`); those instances resume them without a transition
/// (see `Node::resume`), and the addresses they hold stay.
pub fn start(
    cfg: &Config,
    proxy: watch::Receiver<ProxyHealth>,
    resume: Option<States>,
    resigned: Vec<String>,
    node_drained: bool,
) -> Result<Option<Handle>> {
    if cfg.vrrp.instances.is_empty() {
        return Ok(None);
    }
    let plan = Plan::new(cfg)?;
    let hooks = tokio::runtime::Handle::current();
    // BGP's `while_master` reads this at once: a resumed master is one
    // from the first moment.
    let initial: BTreeMap<String, bool> = resume
        .iter()
        .flatten()
        .filter(|(name, _)| cfg.vrrp.instances.iter().any(|i| &i.name == *name))
        .map(|(name, state)| (name.clone(), state == State::Master.as_str()))
        .collect();
    let (masters_tx, masters_rx) = watch::channel(initial);
    let (freeze_tx, freeze_rx) = mpsc::unbounded_channel();
    let (opened_tx, opened_rx) = std::sync::mpsc::sync_channel(1);
    let (reconfigure_tx, reconfigure_rx) = mpsc::unbounded_channel();
    let task = TaskHandle::spawn_thread("rampart-vrrp", move |inbox| async move {
        use rampart_sys::limits::{VRRP_RT_PRIORITY, set_thread_realtime};
        match set_thread_realtime(VRRP_RT_PRIORITY) {
            Ok(()) => tracing::debug!("VRRP thread at real-time priority {VRRP_RT_PRIORITY}"),
            Err(e) => tracing::warn!(
                "VRRP thread left at normal priority ({e}): adverts may be late on a busy machine"
            ),
        }
        match Driver::open(plan, &proxy, masters_tx, hooks, resume, resigned) {
            Ok((mut driver, packets, links)) => {
                // Read at start, then kept by `admin`.
                driver.all_resigned = node_drained;
                let _ = opened_tx.send(Ok(()));
                driver
                    .run(packets, links, proxy, inbox, reconfigure_rx, freeze_rx)
                    .await;
            }
            Err(e) => {
                let _ = opened_tx.send(Err(e));
            }
        }
    })
    .context("cannot start the VRRP thread")?;
    // A brief wait at start only: the sockets open in milliseconds.
    match opened_rx.recv() {
        Ok(Ok(())) => Ok(Some(Handle {
            task,
            masters: masters_rx,
            reconfigure: reconfigure_tx,
            freeze: freeze_tx,
        })),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(anyhow::anyhow!("the VRRP thread ended while starting")),
    }
}

/// Takes this node's virtual addresses down when the driver that owned
/// them is gone without a stop (its process was killed): the peer takes
/// over after its master-down interval, and no address may stay here
/// meanwhile, or both nodes would answer ARP for it.
pub fn remove_orphaned_addresses(cfg: &Config) -> Result<Vec<String>> {
    if cfg.vrrp.instances.is_empty() {
        return Ok(Vec::new());
    }
    Ok(kernel::remove_planned_vips(&Plan::new(cfg)?))
}

/// Registers a socket with tokio's reactor. `AsyncFd::new` is deprecated
/// because a type could hand out a different descriptor over time; the
/// rampart-sys types own theirs for their whole life, so it is sound here,
/// and the replacement (`register`) is `unsafe`, which this crate forbids.
#[allow(deprecated)]
fn async_fd<T: std::os::fd::AsRawFd>(inner: T) -> std::io::Result<AsyncFd<T>> {
    AsyncFd::new(inner)
}

/// Reads one queued packet from instance `id`'s socket (`WouldBlock`
/// when there is none).
fn read_packet(
    id: usize,
    generation: u64,
    sock: &VrrpSocket,
    buf: &mut [u8],
) -> std::io::Result<Packet> {
    sock.recv(buf).map(|r| Packet {
        id,
        generation,
        at: Instant::now(),
        src: r.src,
        dst: r.dst,
        ttl: r.ttl,
        payload: r.payload.to_vec(),
    })
}

fn spawn_reader(
    id: usize,
    generation: u64,
    sock: Arc<AsyncFd<VrrpSocket>>,
    tx: mpsc::UnboundedSender<Packet>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut buf = vec![0u8; MAX_PACKET];
        loop {
            let Ok(mut guard) = sock.readable().await else {
                return;
            };
            match guard.try_io(|s| read_packet(id, generation, s.get_ref(), &mut buf)) {
                Ok(Ok(p)) => {
                    if tx.send(p).is_err() {
                        return;
                    }
                }
                Ok(Err(e)) => tracing::debug!("VRRP receive: {e}"),
                Err(_would_block) => {}
            }
        }
    })
}

/// Opens instance `i`'s raw socket (on the driver's thread: it registers
/// with the driver's runtime).
fn open_socket(i: &build::InstancePlan) -> Result<Arc<AsyncFd<VrrpSocket>>> {
    let c = &i.core;
    let sock = match c.src {
        IpAddr::V4(src) => VrrpSocket::v4(&c.interface, src, i.multicast, i.unicast_ttl),
        IpAddr::V6(src) => VrrpSocket::v6(&c.interface, src, i.multicast, i.unicast_ttl),
    }
    .with_context(|| format!("VRRP instance {}: raw socket on {}", c.name, c.interface))?;
    Ok(Arc::new(async_fd(sock)?))
}

struct Driver {
    /// Per instance slot (the core's ids); a slot removed by a reload
    /// keeps its plan until an added instance takes it.
    plan: Plan,
    node: Node,
    sockets: Vec<Arc<AsyncFd<VrrpSocket>>>,
    /// Per slot: the task reading its socket, and its generation.
    readers: Vec<(tokio::task::JoinHandle<()>, u64)>,
    /// Where readers send packets (cloned for the readers of new sockets).
    packets: mpsc::UnboundedSender<Packet>,
    /// Track scripts: their tasks, and where they report, tagged with the
    /// generation of the script list (a reload may renumber it).
    scripts: Vec<tokio::task::JoinHandle<()>>,
    script_tx: mpsc::UnboundedSender<(u64, usize, bool)>,
    script_generation: u64,
    /// The supervisor's runtime: hooks and scripts fork there.
    hooks: tokio::runtime::Handle,
    /// Addresses and GARPs, carried out on a thread of their own.
    kernel: KernelThread,
    /// Every interface whose link state matters.
    interfaces: Vec<String>,
    tracker: Tracker,
    stopping: Option<oneshot::Sender<()>>,
    notifier: Option<Notifier>,
    /// Mastership per instance name, for BGP's `while_master`.
    masters: watch::Sender<BTreeMap<String, bool>>,
    /// While the actions of a timer are carried out: when each instance's
    /// own timer was due (empty otherwise).
    due: Vec<Option<Instant>>,
    /// Per instance, how late its timer-driven adverts left.
    lateness: Vec<jitter::Lateness>,
    /// Receive buffer for `take_queued`.
    buf: Vec<u8>,
    /// States to resume at start (`rampart upgrade`).
    resume: Option<States>,
    /// Instances to resign at start (the operator's, kept).
    resigned: Vec<String>,
    /// Every instance resigned (`rampart node drain`): one a reload adds
    /// starts resigned too, until every one is resumed.
    all_resigned: bool,
}

impl Driver {
    /// Opens every socket and resolves every interface, on the driver's
    /// own thread (the sockets register with its runtime).
    fn open(
        plan: Plan,
        proxy: &watch::Receiver<ProxyHealth>,
        masters: watch::Sender<BTreeMap<String, bool>>,
        hooks: tokio::runtime::Handle,
        resume: Option<States>,
        resigned: Vec<String>,
    ) -> Result<(
        Driver,
        mpsc::UnboundedReceiver<Packet>,
        AsyncFd<LinkWatcher>,
    )> {
        let (pkt_tx, pkt_rx) = mpsc::unbounded_channel();
        let mut sockets = Vec::new();
        let mut readers = Vec::new();
        for (id, i) in plan.instances.iter().enumerate() {
            let sock = open_socket(i)?;
            readers.push((spawn_reader(id, 0, sock.clone(), pkt_tx.clone()), 0));
            sockets.push(sock);
        }
        let links = async_fd(LinkWatcher::new().context("netlink link watcher")?)?;
        let kernel = Kernel::new(&plan)?;
        let interfaces = kernel.interfaces();
        let kernel = KernelThread::spawn(kernel).context("cannot start the VRRP kernel thread")?;
        let tracker = Tracker::new(proxy.borrow().clone(), &plan.scripts);
        let node = Node::new(
            plan.instances.iter().map(|i| i.core.clone()).collect(),
            plan.groups.iter().map(|g| g.1.clone()).collect(),
        );
        let lateness = vec![jitter::Lateness::default(); plan.instances.len()];
        let (script_tx, _) = mpsc::unbounded_channel();
        let driver = Driver {
            plan,
            node,
            sockets,
            readers,
            packets: pkt_tx,
            scripts: Vec::new(),
            script_tx,
            script_generation: 0,
            hooks,
            kernel,
            interfaces,
            tracker,
            stopping: None,
            notifier: None,
            masters,
            due: Vec::new(),
            lateness,
            buf: vec![0u8; MAX_PACKET],
            resume,
            resigned,
            all_resigned: false,
        };
        Ok((driver, pkt_rx, links))
    }

    async fn run(
        mut self,
        mut packets: mpsc::UnboundedReceiver<Packet>,
        links: AsyncFd<LinkWatcher>,
        mut proxy: watch::Receiver<ProxyHealth>,
        inbox: Inbox<Vec<VrrpStatus>>,
        mut reconfigure: mpsc::UnboundedReceiver<Reconfigure>,
        mut freeze: mpsc::UnboundedReceiver<Ctl>,
    ) {
        let resume = self.resume.take();
        let Inbox {
            mut stop,
            mut status,
        } = inbox;
        let (script_tx, mut script_rx) = mpsc::unbounded_channel();
        self.script_tx = script_tx;
        // Hooks and scripts fork: on the supervisor's runtime, not here.
        let notify_task = {
            let _on_supervisor = self.hooks.enter();
            let (notifier, notify_task) = Notifier::start(self.plan.notify_timeout);
            self.notifier = Some(notifier);
            notify_task
        };
        self.spawn_scripts();

        // Addresses left behind by a previous run (killed before it could
        // remove them) go first: only a master may hold them. Not after an
        // upgrade: the masters resumed hold theirs (the audit removes any
        // other within a second).
        if resume.is_none() {
            self.kernel.send(Op::RemoveAll(None));
        }
        for name in self.interfaces.clone() {
            let up = rampart_sys::netlink::link_is_up(&name).unwrap_or(false);
            self.tracker.set_link(&name, up);
        }
        if let Some(states) = &resume {
            let scripts: Vec<(String, bool)> = states
                .iter()
                .filter_map(|(k, v)| Some((k.strip_prefix(SCRIPT_KEY)?.to_string(), v == "ok")))
                .collect();
            self.tracker.seed_scripts(&self.plan.scripts, &scripts);
        }
        let now = Instant::now();
        self.apply_priorities(now);
        // Resigned by the operator before this process (state file):
        // stopped before the start, so they send nothing at all (Startup
        // is ignored once stopped; an address owner would otherwise
        // advertise and GARP first). After `rampart upgrade`, once the
        // states are resumed instead: a master the previous program had
        // (a drain in its first step) then hands over with priority 0.
        if resume.is_none() {
            self.resign_at_start();
        }
        match &resume {
            Some(states) => {
                let states: Vec<Option<State>> = self
                    .plan
                    .instances
                    .iter()
                    .map(|i| match states.get(&i.core.name).map(String::as_str) {
                        Some("master") => Some(State::Master),
                        Some("backup") => Some(State::Backup),
                        _ => None,
                    })
                    .collect();
                let resumed = states.iter().flatten().count();
                tracing::info!("VRRP: {resumed} instance(s) resume the previous program's state");
                self.node.resume(now, &states);
            }
            None => self.node.start(now),
        }
        if resume.is_some() {
            self.resign_at_start();
        }
        self.drain();
        self.publish_masters();

        let mut stop_open = true;
        let mut audit = tokio::time::interval(ADDRESS_AUDIT);
        audit.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let deadline = self.node.poll_timeout();
            let sleep = tokio::time::sleep_until(crate::task::deadline(deadline));
            tokio::select! {
                biased;
                Some(p) = packets.recv() => self.packet(p),
                _ = sleep, if deadline.is_some() => {
                    self.take_queued(&mut packets);
                    let now = Instant::now();
                    tracing::trace!(late_us = deadline.map_or(0, |d| now.saturating_duration_since(d).as_micros() as u64), "VRRP timer");
                    self.due = self.node.instances().iter().map(|i| i.poll_timeout()).collect();
                    self.node.handle_timeout(now);
                }
                guard = links.readable() => {
                    if let Ok(mut guard) = guard {
                        // read_events drains the socket to EAGAIN and
                        // reports that as an empty list, so readiness is
                        // cleared by hand.
                        let events = guard.get_inner().read_events();
                        guard.clear_ready();
                        match events {
                            Ok(events) => {
                                let mut changed = false;
                                for e in events {
                                    changed |= self.tracker.set_link(&e.name, e.oper_up && !e.removed);
                                }
                                if changed {
                                    self.apply_priorities(Instant::now());
                                }
                            }
                            Err(e) => tracing::warn!("netlink: {e}"),
                        }
                    }
                }
                Ok(()) = proxy.changed() => {
                    let p = proxy.borrow_and_update().clone();
                    self.tracker.set_proxy(p);
                    self.apply_priorities(Instant::now());
                }
                Some((generation, index, ok)) = script_rx.recv() => {
                    if generation == self.script_generation && self.tracker.script_result(index, ok) {
                        let name = self.plan.scripts.get(index).map_or("?", |s| s.name.as_str());
                        tracing::info!(script = name, ok, "track script changed");
                        self.apply_priorities(Instant::now());
                    }
                }
                Some(reply) = status.recv() => {
                    let _ = reply.send(self.status());
                }
                Some(r) = reconfigure.recv(), if self.stopping.is_none() => self.reconfigure(r),
                Some(ctl) = freeze.recv(), if self.stopping.is_none() => match ctl {
                    Ctl::Admin { resign, name, reply } => {
                        let _ = reply.send(self.admin(resign, name.as_deref()));
                    }
                    Ctl::Freeze(reply, thaw) => {
                        // Removed instances too while they hand over
                        // ("stopping"): the upgrade waits for them.
                        let states: States = self
                            .node
                            .instances()
                            .iter()
                            .enumerate()
                            .filter(|(id, i)| !self.node.is_retired(*id) || i.state() != State::Stopped)
                            .map(|(_, i)| (i.config().name.clone(), i.state().as_str().to_string()))
                            .chain(self.tracker.script_states(&self.plan.scripts).into_iter().map(
                                |(name, ok)| {
                                    (format!("{SCRIPT_KEY}{name}"), if ok { "ok" } else { "failing" }.to_string())
                                },
                            ))
                            .collect();
                        if reply.send(states).is_ok() {
                            // Nothing more until the exec ends this thread
                            // (or the upgrade failed: go on).
                            let _ = thaw.await;
                            tracing::info!("VRRP goes on: the upgrade did not happen");
                        }
                    }
                },
                _ = audit.tick() => self.audit_addresses(),
                reply = &mut stop, if stop_open => {
                    stop_open = false;
                    if let Ok(reply) = reply {
                        self.stopping = Some(reply);
                        let bound = self.stop_bound();
                        let masters = self.node.instances().iter().filter(|i| i.state() == State::Master).count();
                        if masters > 0 {
                            tracing::info!("VRRP stopping: priority 0 sent by {masters} master instance(s), waiting up to {bound:?} for a new master");
                        } else {
                            tracing::info!("VRRP stopping: no instance is master, nothing to hand over");
                        }
                        self.node.stop(Instant::now(), bound);
                    }
                }
            }
            self.drain();
            self.due.clear();
            if self.stopping.is_some() && self.node.stopped() {
                break;
            }
        }
        self.scripts.iter().for_each(|s| s.abort());
        self.kernel.remove_all().await;
        // Let queued stop hooks run (each is bounded by its timeout).
        drop(self.notifier.take());
        let _ = notify_task.await;
        if let Some(reply) = self.stopping.take() {
            let _ = reply.send(());
        }
    }

    fn packet(&mut self, p: Packet) {
        if self.readers.get(p.id).map(|r| r.1) != Some(p.generation) {
            return;
        }
        tracing::trace!(id = p.id, src = %p.src, lag_us = p.at.elapsed().as_micros() as u64, "VRRP packet");
        self.node
            .handle_packet_for(p.at, p.id, p.src, p.dst, p.ttl, &p.payload);
    }

    /// Gives the core every packet already here — in the channel or still
    /// in a socket — before a timer. After a stall of this thread or of the
    /// whole machine, a backup's master-down timer and the master's adverts
    /// fall due together; the adverts came first and must count, or the
    /// backup takes over from a live master.
    fn take_queued(&mut self, packets: &mut mpsc::UnboundedReceiver<Packet>) {
        /// Bounds the loop should a socket keep failing.
        const MAX_PER_SOCKET: usize = 256;
        while let Ok(p) = packets.try_recv() {
            self.packet(p);
        }
        let mut buf = std::mem::take(&mut self.buf);
        for id in 0..self.sockets.len() {
            let generation = self.readers.get(id).map_or(0, |r| r.1);
            for _ in 0..MAX_PER_SOCKET {
                let Some(sock) = self.sockets.get(id) else {
                    break;
                };
                match read_packet(id, generation, sock.get_ref(), &mut buf) {
                    Ok(p) => self.packet(p),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => tracing::debug!("VRRP receive: {e}"),
                }
            }
        }
        self.buf = buf;
    }

    /// Every instance's addresses as its state says they should be.
    fn audit_addresses(&self) {
        self.kernel.send(Op::Audit(self.holding()));
    }

    /// How long a stopping master waits for a new one: enough for a
    /// backup of the lowest priority to hear the priority 0 and claim.
    /// Resign or resume `name` (an instance or a sync group; resume
    /// without a name: every stopped instance).
    /// Resigns what the operator resigned before this process: every
    /// instance if the node was drained, else those named.
    fn resign_at_start(&mut self) {
        let resigned = std::mem::take(&mut self.resigned);
        let node_drained = self.all_resigned;
        if node_drained {
            match self.admin(true, None) {
                Ok(said) => tracing::warn!("{said} (the node was drained when it stopped)"),
                Err(e) => tracing::warn!("the node was drained when it stopped: {e}"),
            }
        }
        for name in resigned.into_iter().filter(|_| !node_drained) {
            match self.admin(true, Some(&name)) {
                Ok(said) => tracing::warn!("{said} (resigned when the node stopped)"),
                Err(e) => tracing::warn!("resigned when the node stopped: {e}"),
            }
        }
    }

    fn admin(&mut self, resign: bool, name: Option<&str>) -> Result<String, String> {
        let live = |id: &usize| !self.node.is_retired(*id);
        let ids: Vec<usize> = match name {
            Some(n) => {
                let by_group = self
                    .plan
                    .groups
                    .iter()
                    .find(|(g, _, _)| g == n)
                    .map(|(_, members, _)| members.clone());
                let by_instance = (0..self.node.instances().len())
                    .filter(live)
                    .find(|&id| self.node.instances()[id].config().name == n)
                    .map(|id| self.node.group_of(id));
                by_group
                    .or(by_instance)
                    .ok_or_else(|| format!("no VRRP instance or sync group `{n}`"))?
            }
            // Every instance: the node drain (`rampart node drain`).
            None if resign => (0..self.node.instances().len())
                .filter(live)
                .filter(|&id| self.node.instances()[id].state() != State::Stopped)
                .collect(),
            None => (0..self.node.instances().len())
                .filter(live)
                .filter(|&id| self.node.instances()[id].state() == State::Stopped)
                .collect(),
        };
        if name.is_none() {
            self.all_resigned = resign;
        }
        let now = Instant::now();
        let bound = self.stop_bound();
        let mut done = Vec::new();
        for id in ids {
            let Some(i) = self.node.instance(id) else {
                continue;
            };
            let (name, before) = (i.config().name.clone(), i.state());
            if resign {
                self.node.resign(now, id, bound);
            } else {
                self.node.reinstate(now, id);
            }
            let after = self.node.instance(id).map_or(before, |i| i.state());
            done.push(format!("{name} {} -> {}", before.as_str(), after.as_str()));
        }
        self.drain();
        if done.is_empty() {
            return Ok(if resign {
                "VRRP: nothing to resign"
            } else {
                "nothing to resume"
            }
            .into());
        }
        Ok(format!(
            "VRRP {}: {}",
            if resign { "resigned" } else { "resumed" },
            done.join(", ")
        ))
    }

    fn stop_bound(&self) -> Duration {
        let longest = self
            .node
            .instances()
            .iter()
            .map(|i| Duration::from_millis(u64::from(i.config().interval_cs) * 10))
            .max()
            .unwrap_or_default();
        longest * 3 + Duration::from_secs(1)
    }

    fn status(&self) -> Vec<VrrpStatus> {
        let now = Instant::now();
        self.node
            .instances()
            .iter()
            .zip(&self.plan.instances)
            .enumerate()
            .filter(|(id, _)| !self.node.is_retired(*id))
            .map(|(id, (i, plan))| {
                let c = i.config();
                let st = i.stats();
                VrrpStatus {
                    name: c.name.clone(),
                    interface: c.interface.clone(),
                    vrid: c.vrid,
                    version: match c.version {
                        rampart_vrrp::Version::V2 => 2,
                        rampart_vrrp::Version::V3 => 3,
                    },
                    state: i.state().as_str().to_string(),
                    priority: i.priority(),
                    configured_priority: plan.core.priority,
                    master_interval_ms: u64::from(i.master_interval_cs()) * 10,
                    master_down_ms: i.master_down_interval().as_millis() as u64,
                    adverts_rx: st.adverts_rx,
                    adverts_tx: st.adverts_tx,
                    priority0_rx: st.priority0_rx,
                    priority0_tx: st.priority0_tx,
                    became_master: st.became_master,
                    drops: rampart_vrrp::Drop::ALL
                        .iter()
                        .map(|d| (d.as_str().to_string(), st.drops(*d)))
                        .collect(),
                    advert_late: self
                        .lateness
                        .get(id)
                        .map(|l| {
                            let s = l.summary();
                            crate::control::AdvertLateness {
                                adverts: s.count,
                                p99_us: s.p99_us,
                                max_us: s.max_us,
                            }
                        })
                        .unwrap_or_default(),
                    vips: plan
                        .vips
                        .iter()
                        .map(|v| format!("{}/{} dev {}", v.addr, v.prefix_len, v.ifname))
                        .collect(),
                    peer: st.last_peer.map(|(a, _)| a.to_string()),
                    peer_priority: st.last_peer.map(|(_, p)| p),
                    transitions: st.transitions,
                    last_transition: st.last_transition.as_ref().map(|t| {
                        crate::control::TransitionStatus {
                            from: t.from.as_str().to_string(),
                            to: t.to.as_str().to_string(),
                            seconds_ago: now.saturating_duration_since(t.at).as_secs_f64(),
                            cause: t.cause.clone(),
                        }
                    }),
                    trackers: self.tracker.parts(plan, &self.plan.scripts),
                    peer_checksum: st.peer_checksum.map(|f| match f {
                        rampart_vrrp::ChecksumForm::PseudoHeader => "pseudo-header".to_string(),
                        rampart_vrrp::ChecksumForm::MessageOnly => "message-only".to_string(),
                    }),
                }
            })
            .collect()
    }

    fn apply_priorities(&mut self, now: Instant) {
        for (id, plan) in self.plan.instances.iter().enumerate() {
            if self.node.is_retired(id) {
                continue;
            }
            let p = self.tracker.priority(plan);
            self.node.set_priority(now, id, p);
        }
    }

    /// Carries out everything the node asked for, and republishes
    /// mastership when a state changed (not on every advert).
    fn drain(&mut self) {
        if self.drain_actions() {
            self.publish_masters();
        }
    }

    /// Publishes mastership per instance name (only when it changed).
    fn publish_masters(&mut self) {
        let masters: BTreeMap<String, bool> = self
            .node
            .instances()
            .iter()
            .enumerate()
            .filter(|(id, _)| !self.node.is_retired(*id))
            .map(|(_, i)| i)
            // A stopping master still holds the addresses until the peer
            // has taken over: for BGP's `while_master` it still counts.
            .map(|i| {
                let master = matches!(i.state(), State::Master | State::Stopping);
                (i.config().name.clone(), master)
            })
            .collect();
        self.masters.send_if_modified(|old| {
            let changed = *old != masters;
            *old = masters;
            changed
        });
    }

    /// Returns whether an instance changed state.
    fn drain_actions(&mut self) -> bool {
        let mut changed = false;
        while let Some(action) = self.node.poll_action() {
            match action {
                NodeAction::Instance { id, action } => {
                    changed |= matches!(action, Action::StateChanged { .. });
                    self.instance_action(id, action)
                }
                NodeAction::GroupChanged { id, from, to } => {
                    if let Some((name, _, notify)) = self.plan.groups.get(id) {
                        tracing::warn!(group = %name, "sync group {} -> {}", from.as_str(), to.as_str());
                        if let Some(n) = &self.notifier {
                            n.state_changed(notify, name, to, None);
                        }
                    }
                }
                NodeAction::Warn { reason, detail } => {
                    tracing::warn!(reason = reason.as_str(), "VRRP packet dropped: {detail}")
                }
            }
        }
        changed
    }

    fn instance_action(&mut self, id: usize, action: Action) {
        let Some(plan) = self.plan.instances.get(id) else {
            return;
        };
        let name = plan.core.name.as_str();
        match action {
            Action::Transmit { dst, payload } => {
                if let Some(s) = self.sockets.get(id)
                    && let Err(e) = s.get_ref().send_to(dst, &payload)
                {
                    tracing::debug!(instance = name, "VRRP send to {dst}: {e}");
                }
                if let (Some(Some(due)), Some(l)) = (self.due.get(id), self.lateness.get_mut(id)) {
                    l.record(Instant::now().saturating_duration_since(*due));
                }
            }
            Action::AddAddresses => self.kernel.send(Op::Add(id)),
            Action::RemoveAddresses => self.kernel.send(Op::Remove(id)),
            Action::SendGarp => self.kernel.send(Op::Announce(id)),
            Action::StateChanged { from, to, priority } => {
                // At warn, as server and BGP transitions: `--log-level
                // warn` shows what moved.
                tracing::warn!(
                    instance = name,
                    priority,
                    "VRRP {} -> {}",
                    from.as_str(),
                    to.as_str()
                );
                if to != State::Stopping
                    && let Some(n) = &self.notifier
                {
                    n.state_changed(&plan.notify, name, to, Some(priority));
                }
            }
            Action::Warn { reason, detail } => {
                tracing::warn!(instance = name, reason = reason.as_str(), "VRRP: {detail}")
            }
        }
    }
}

//! `rampart run`: the supervisor. It owns what must outlive a worker: the
//! configuration, the listening sockets, the health checks, VRRP, BGP
//! (with BFD), the gateway and the NAT table. The proxy runs in a worker
//! process that inherits the sockets.
//!
//! - worker dies → a new one starts on the same sockets at once; the kernel
//!   queues connections meanwhile, so none is refused;
//! - SIGHUP or `rampart reload` → the file is parsed and validated; if bad,
//!   every error is logged (and sent to the client) and nothing changes; if
//!   good, a new worker starts, and once it reports ready the old one
//!   drains (bounded by `grace`); health state of unchanged servers is
//!   kept. If the new worker fails to start, the old one keeps serving.
//!   Requests during a reload are coalesced into one more reload after it,
//!   which reads the file as it is then;
//! - SIGTERM/SIGINT/SIGQUIT → VRRP, BGP and the gateway stop in order, then
//!   the worker is told to drain (a control message, not a signal) and
//!   we exit. Other signals: see `signals.rs`.

mod nat;
mod node_drain;
mod reloading;
mod stats;
pub(crate) mod upgrade;
mod workers;

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use rampart_config::{Config, Mode};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::control::Request;
use crate::health::{HealthChange, Hub};
use crate::ipc::{self, FromWorker, ToWorker};
use crate::reload::{ReloadOutcome, ReloadSummary, Waiter};
use crate::signals::{Event, SupervisorSignals};
use crate::vrrp;
pub use node_drain::{DrainPlan, DrainStep, NodeDrainStatus};
use reloading::conclude;
use workers::{
    AdoptedWorker, CRASH_BACKOFF, Draining, Worker, describe, drain, retire, retire_adopted,
    wait_worker,
};

/// How long a reloaded worker may take to report ready before it is
/// abandoned and the old one kept.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A reload whose worker has not reported ready yet.
struct Pending {
    worker: Worker,
    deadline: Instant,
    summary: ReloadSummary,
    /// The `[vrrp]` change set, applied at commit (nothing to undo before).
    vrrp: Option<vrrp::Reconfigure>,
    /// Clients waiting for this reload's outcome.
    waiters: Vec<Waiter>,
    /// What serves until the new worker is ready, put back if it never is.
    previous: Previous,
}

/// The running config a reload replaces, kept until its worker is ready.
struct Previous {
    cfg: Config,
    text: String,
    threads: usize,
    sockets: HashMap<(SocketAddr, usize), std::net::TcpListener>,
}

/// Where `rampart run` keeps and listens, from the command line.
pub struct Paths {
    pub runtime_dir: PathBuf,
    /// `--control`, if given (else `<runtime_dir>/rampart.sock`).
    pub control: Option<PathBuf>,
    /// `--control-group`: a group that may connect (and read `status`).
    pub control_group: Option<u32>,
    /// What the previous program handed over (`--upgrade-fd`, see
    /// `upgrade.rs`).
    pub adopted: Option<upgrade::Adopted>,
}

pub struct Supervisor {
    path: PathBuf,
    cfg: Config,
    text: String,
    threads: usize,
    /// Listening sockets by (address, thread slot), kept across workers.
    sockets: HashMap<(SocketAddr, usize), std::net::TcpListener>,
    health: Hub,
    /// The worker serving now.
    worker: Option<Worker>,
    /// A reloaded worker that has not reported ready yet.
    pending: Option<Pending>,
    /// Reload requests that came during `pending`: one more reload runs
    /// once it is done, answering these clients (none for SIGHUP alone).
    queued: Option<Vec<Waiter>>,
    /// State files (`[gateway]`) live here.
    runtime_dir: PathBuf,
    /// The runtime directory's lock (held by `run` for the process's life),
    /// shared with every worker.
    lock_fd: std::os::fd::RawFd,
    next_id: u64,
    from_workers: mpsc::UnboundedSender<(u64, FromWorker)>,
    crashes: VecDeque<Instant>,
    /// RUST_LOG or --log-level, which win over the file's `log_level`.
    log_override: Option<String>,
    /// The VRRP driver, when the config has instances.
    vrrp: Option<vrrp::Handle>,
    /// The BGP driver, when the config has neighbors.
    bgp: Option<crate::bgp::Handle>,
    /// A BGP driver a reload removed, finishing its graceful stop.
    bgp_stopping: Option<tokio::task::JoinHandle<()>>,
    /// `[gateway]`: forwarding and NAT while this node runs.
    gateway: Option<crate::gateway::Active>,
    /// `mode = "nat"` frontends: the kernel's table, while any is configured.
    nat: Option<crate::nat::Active>,
    /// Servers the NAT table saw leave SYNs unanswered (passive failures).
    nat_failures: crate::nat::Failures,
    /// A NAT frontend waits for its servers' first checks.
    nat_waiting: bool,
    /// Proxy health as VRRP's tracker and BGP's `while_healthy` see it.
    proxy: tokio::sync::watch::Sender<crate::health::ProxyHealth>,
    /// `Type=notify`: what systemd is told (nothing without NOTIFY_SOCKET).
    systemd: crate::systemd::Systemd,
    /// The control socket's listener, handed over by `rampart upgrade`.
    control_fd: Option<std::os::fd::RawFd>,
    /// Upgrades since the node started (shown by status).
    upgrades: u32,
    /// The previous program's worker, until ours is ready.
    adopted: Option<AdoptedWorker>,
    /// The operator's state of servers (drain, maint, weight).
    admins: crate::admin::Admins,
    /// Workers told to drain and not reaped yet.
    draining: Draining,
    /// The last `Sync` number sent to workers.
    next_sync: u64,
    /// Operators' commands waiting for the workers to apply them: by sync
    /// number, the workers still to answer, the answer, and since when.
    syncs: HashMap<u64, SyncWait>,
    /// Questions to the worker waiting for its answer.
    queries: stats::Queries,
    /// When this program started (`uptime` in stats).
    started: Instant,
    /// `[admin]`: the metrics and dashboard listener, if configured.
    admin_http: Option<crate::web::AdminServer>,
    /// Where the control socket and the `[admin]` listener send requests.
    requests: Option<mpsc::Sender<Request>>,
    /// `rampart node drain`, while on.
    node_drain: Option<node_drain::NodeDrain>,
}

/// See `Supervisor::syncs`.
type SyncWait = (
    HashSet<u64>,
    String,
    tokio::sync::oneshot::Sender<Result<String, String>>,
    Instant,
);

/// How long an operator's command waits for the workers to confirm it.
const SYNC_WAIT: Duration = Duration::from_secs(2);

/// Threads to use: the configured number, or one per CPU.
fn thread_count(cfg: &Config) -> usize {
    match cfg.global.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

pub async fn run(
    path: PathBuf,
    cfg: Config,
    text: String,
    log_override: Option<String>,
    mut paths: Paths,
) -> Result<()> {
    // Handlers first: a signal before they exist would kill the process.
    let mut signals = SupervisorSignals::install()?;
    // A previous program blocked the stop and reload signals across its
    // exec (see `upgrade::exec`): any that came meanwhile is delivered now.
    upgrade::unblock_signals();
    let adopted = paths.adopted.take();
    // Then the runtime directory, before any socket is opened: a second
    // node on it stops here instead of sharing the ports (SO_REUSEPORT).
    // An upgraded program holds it already (the lock crossed the exec).
    let lock = match &adopted {
        Some(a) => crate::runtime::Lock::adopt(a.lock.try_clone()?),
        None => crate::runtime::lock(&paths.runtime_dir)?,
    };
    match rampart_sys::limits::raise_nofile() {
        Ok(n) => tracing::debug!("descriptor limit {n}"),
        Err(e) => tracing::warn!("cannot raise the descriptor limit: {e}"),
    }

    let (from_tx, mut from_rx) = mpsc::unbounded_channel();
    let (health_tx, mut health_rx) = mpsc::unbounded_channel();
    let (nat_failures, mut nat_failed) = mpsc::unbounded_channel::<(String, String)>();
    let mut sup = Supervisor {
        path,
        threads: thread_count(&cfg),
        health: Hub::new(health_tx),
        cfg,
        text,
        sockets: HashMap::new(),
        worker: None,
        pending: None,
        queued: None,
        runtime_dir: paths.runtime_dir.clone(),
        lock_fd: lock.as_raw_fd(),
        next_id: 0,
        from_workers: from_tx,
        crashes: VecDeque::new(),
        log_override,
        vrrp: None,
        bgp: None,
        bgp_stopping: None,
        gateway: None,
        nat: None,
        nat_failures,
        nat_waiting: false,
        proxy: tokio::sync::watch::channel(crate::health::ProxyHealth::default()).0,
        systemd: crate::systemd::Systemd::from_env(),
        control_fd: None,
        upgrades: 0,
        adopted: None,
        admins: crate::admin::Admins::default(),
        draining: Draining::default(),
        next_sync: 0,
        syncs: HashMap::new(),
        queries: Default::default(),
        started: Instant::now(),
        admin_http: None,
        requests: None,
        node_drain: None,
    };
    // After an upgrade, the previous program's state (the file may lag
    // behind it, or not be configured at all).
    let handed = adopted.as_ref().and_then(|a| a.state.admin.clone());
    sup.admins = match handed {
        Some(text) => crate::admin::Admins::adopt(&text, sup.cfg.global.state_file.as_deref()),
        None => crate::admin::Admins::load(sup.cfg.global.state_file.as_deref()),
    };
    sup.health.set_paused(sup.admins.in_maint());
    let mut adopted_bgp = Vec::new();
    let mut adopted_vrrp = None;
    let mut adopted_control = None;
    if let Some(a) = adopted {
        tracing::info!(
            "upgraded from rampart {} to {} (upgrade {} of this node)",
            a.state.from_version,
            env!("CARGO_PKG_VERSION"),
            a.state.upgrades
        );
        sup.upgrades = a.state.upgrades;
        for (addr, t, fd) in a.listeners {
            sup.sockets
                .insert((addr, t), std::net::TcpListener::from(fd));
        }
        if let Some((id, pid, fd)) = a.worker {
            sup.adopt_worker(id, pid, fd)?;
        }
        adopted_bgp = a.bgp;
        adopted_vrrp = a.state.vrrp.clone();
        adopted_control = Some(a.control);
        sup.health.seed(&a.state.up);
        sup.lock_fd = lock.as_raw_fd();
    }
    sup.sockets = sup.open_sockets()?;
    sup.health.sync(&sup.cfg);
    // VRRP before the worker: a node that cannot run its VRRP instances
    // (not root, interface missing) stops here with the reason.
    sup.publish_proxy_health();
    // What the operator resigned, or the whole node drained, stays so.
    // After an upgrade, a drained node's instances may still be master
    // (the drain was withdrawing routes): the drain's own steps resign
    // them below, after BGP has withdrawn, not VRRP at its start.
    let upgraded = adopted_vrrp.is_some();
    let node_drained = sup.admins.node_drained();
    sup.vrrp = vrrp::start(
        &sup.cfg,
        sup.proxy.subscribe(),
        adopted_vrrp,
        sup.admins.resigned(),
        node_drained && !upgraded,
    )?;
    let masters = match &sup.vrrp {
        Some(v) => v.masters(),
        None => tokio::sync::watch::channel(Default::default()).1,
    };
    sup.bgp = crate::bgp::start(
        &sup.cfg,
        sup.proxy.subscribe(),
        masters,
        adopted_bgp,
        sup.admins.disabled_neighbors(),
        node_drained,
    )?;
    if node_drained {
        sup.node_drain = Some(node_drain::NodeDrain::restored(upgraded));
        tracing::warn!(
            "the node was drained when the previous program stopped: it starts drained; `rampart node undrain` brings it back"
        );
    }
    sup.worker = Some(sup.spawn_worker(false).await?);
    // Forwarding and NAT once the rest runs; a failure here (or below)
    // stops what runs already, which sets them back.
    match crate::gateway::start(&sup.cfg.gateway, &sup.runtime_dir, sup.upgrades > 0).await {
        Ok(g) => sup.gateway = g,
        Err(e) => {
            sup.stop().await;
            return Err(e.context("[gateway]"));
        }
    }
    let (control_tx, mut control_rx) = mpsc::channel(16);
    let control_path = crate::runtime::control_path(paths.control, &paths.runtime_dir);
    // The runtime directory is ours (locked), so its socket must work too:
    // a node nobody can reload or ask is not started.
    let bound = match adopted_control {
        Some(fd) => crate::control::adopt(fd),
        None => crate::control::bind(&control_path, paths.control_group),
    };
    match bound {
        Ok(l) => {
            sup.control_fd = Some(l.as_raw_fd());
            tokio::spawn(crate::control::serve(l, control_tx.clone()));
        }
        Err(e) => {
            sup.stop().await;
            return Err(e);
        }
    }
    if let Some(a) = &sup.cfg.admin {
        match crate::web::start(a, control_tx.clone()) {
            Ok(s) => sup.admin_http = Some(s),
            Err(e) => {
                sup.stop().await;
                return Err(e);
            }
        }
    }
    sup.requests = Some(control_tx);
    // The NAT table once the control socket answers (nft may take a
    // moment); a failure stops what runs already.
    let plan = sup.nat_plan();
    sup.nat_waiting = plan.waiting();
    match crate::nat::start(plan, sup.nat_failures.clone(), &sup.runtime_dir).await {
        Ok(n) => sup.nat = n,
        Err(e) => {
            sup.stop().await;
            return Err(e.context("mode = \"nat\" frontends"));
        }
    }
    // After an upgrade this thread ran at the previous program's real-time
    // priority until VRRP and everything else resumed: back to normal.
    if rampart_sys::limits::thread_scheduler().is_ok_and(|p| p != 0) {
        let _ = rampart_sys::limits::set_thread_normal();
    }
    // Crash-loop state ages out with time, not with events.
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    // Everything runs: tell systemd (`Type=notify`), and keep telling its
    // watchdog that this loop turns.
    sup.systemd.ready();
    let watchdog_on = sup.systemd.watchdog_interval().is_some();
    let mut watchdog = tokio::time::interval(
        sup.systemd
            .watchdog_interval()
            .unwrap_or(Duration::from_secs(3600)),
    );

    let mut restart_at: Option<Instant> = None;
    // Why the node stops, if not because it was asked to.
    let mut failure: Option<anyhow::Error> = None;
    loop {
        // A reload asked for while another ran: its turn has come.
        if sup.pending.is_none()
            && let Some(waiters) = sup.queued.take()
        {
            sup.begin_reload(waiters).await;
        }
        let pending_deadline = sup.pending.as_ref().map(|p| p.deadline);
        let drain_deadline = sup.drain_deadline();
        tokio::select! {
            status = wait_worker(sup.worker.as_mut()) => {
                let id = sup.worker.take().map(|w| w.id);
                tracing::error!(worker = id, "worker exited unexpectedly ({})", describe(status));
                match sup.pending.take() {
                    // A reload was under way: its worker, on the new
                    // config, takes over now.
                    Some(p) => sup.commit(p).await,
                    None => restart_at = Some(sup.note_crash()),
                }
                sup.publish_proxy_health();
            }
            status = wait_worker(sup.pending.as_mut().map(|p| &mut p.worker)) => {
                if let Some(p) = sup.pending.take() {
                    let why = format!("the new worker exited before it was ready ({}); the previous one keeps serving", describe(status));
                    sup.roll_back(p, why);
                }
            }
            _ = tokio::time::sleep_until(pending_deadline.unwrap_or_else(Instant::now)), if pending_deadline.is_some() => {
                if let Some(mut p) = sup.pending.take() {
                    let _ = p.worker.child.kill().await;
                    let why = format!("the new worker was not ready within {READY_TIMEOUT:?}; the previous one keeps serving");
                    sup.roll_back(p, why);
                }
            }
            _ = tokio::time::sleep_until(restart_at.unwrap_or_else(Instant::now)), if restart_at.is_some() => {
                restart_at = None;
                match sup.spawn_worker(true).await {
                    Ok(w) => sup.worker = Some(w),
                    Err(e) => {
                        tracing::error!("cannot start worker: {e:#}");
                        restart_at = Some(Instant::now() + CRASH_BACKOFF);
                    }
                }
            }
            _ = tokio::time::sleep_until(drain_deadline.unwrap_or_else(Instant::now)), if drain_deadline.is_some() => {
                sup.advance_drain().await;
            }
            Some(change) = health_rx.recv() => sup.on_health(change).await,
            Some((backend, server)) = nat_failed.recv() => {
                tracing::info!(
                    "server {backend}/{server} answered none of the SYNs the NAT table sent it: counted as a failed check"
                );
                sup.health.passive_failure(&backend, &server);
            }
            _ = tick.tick() => {
                // A NAT frontend waiting for its servers' first checks
                // (those that fail make no up/down change) gets its table.
                if sup.nat_waiting {
                    sup.nat_sync();
                }
                sup.synced(None);
                sup.expire_queries();
                sup.publish_proxy_health();
                crate::logging::report_drops();
                let line = sup.summary().await;
                sup.systemd.status(line);
            }
            _ = watchdog.tick(), if watchdog_on => sup.systemd.watchdog(),
            Some(req) = control_rx.recv() => match req {
                Request::Status(reply) => {
                    let _ = reply.send(sup.status().await);
                }
                Request::Stats(reply) => sup.request_stats(reply).await,
                Request::Sessions(reply) => sup.request_sessions(reply).await,
                Request::KillSession(id, who, reply) => sup.kill_session(id, who, reply).await,
                Request::Config(reply) => {
                    let _ = reply.send(sup.text.clone());
                }
                Request::Routes(reply) => {
                    let routes = match &sup.bgp {
                        Some(b) => b.routes().await,
                        None => Default::default(),
                    };
                    let _ = reply.send(routes);
                }
                Request::Reload(waiter) if upgrade::binary_replaced() => {
                    // `systemctl reload` after a package upgrade.
                    tracing::info!("reload asked for and the binary was replaced: upgrading");
                    sup.upgrade_for(waiter).await;
                }
                Request::Reload(waiter) => sup.request_reload(Some(waiter)).await,
                Request::Upgrade(waiter) => sup.upgrade_for(waiter).await,
                Request::Server(cmd, follow, who, reply) => {
                    // Applied here; then, if it follows, sent to the peer
                    // (see crate::peer) before the operator is answered.
                    let action = crate::peer::Action::server(&cmd);
                    let admin = sup.cfg.admin.as_ref();
                    if let Some(reply) = crate::peer::follow(admin, follow, action, reply) {
                        let done = sup.server_command(&cmd, &who).await;
                        sup.reply_when_applied(done, reply);
                    }
                }
                Request::Frontend(enable, name, follow, who, reply) => {
                    let action = crate::peer::Action::frontend(enable, &name);
                    let admin = sup.cfg.admin.as_ref();
                    if let Some(reply) = crate::peer::follow(admin, follow, action, reply) {
                        let done = sup.frontend_command(enable, &name, &who).await;
                        sup.reply_when_applied(done, reply);
                    }
                }
                Request::Bgp(enable, name, message, who, reply) => {
                    let done = sup.bgp_command(enable, &name, &message, &who).await;
                    let _ = reply.send(done);
                }
                Request::Node(drain, who, reply) => {
                    let _ = reply.send(sup.node_command(drain, &who).await);
                }
                // The drain owns VRRP until undrained (it resigns every
                // instance; undrain resumes those it resigned).
                Request::Vrrp(_, _, _, reply) if sup.node_drain.is_some() => {
                    let _ = reply.send(Err(
                        "the node is draining or drained, every VRRP instance with it: `rampart node undrain` first".to_string(),
                    ));
                }
                Request::Vrrp(resign, name, who, reply) => {
                    let done = match &sup.vrrp {
                        Some(v) => v.admin(resign, name).await,
                        None => Err("this node runs no VRRP instance".to_string()),
                    };
                    if let Ok(line) = &done {
                        tracing::warn!("{line} (asked by {who})");
                        sup.keep_resigned().await;
                    }
                    let _ = reply.send(done);
                }
            },
            Some((id, msg)) = from_rx.recv() => sup.on_worker_message(id, msg).await,
            _ = vrrp_ended(sup.vrrp.as_mut()) => {
                // Adverts have stopped: the peer takes over, and this node
                // must not keep the addresses. Stop, and say why (a service
                // manager restarts us).
                tracing::error!("the VRRP driver ended unexpectedly: removing its addresses and stopping");
                match crate::vrrp::remove_orphaned_addresses(&sup.cfg) {
                    Ok(removed) => removed.iter().for_each(|a| tracing::warn!("removed {a}")),
                    Err(e) => tracing::error!("cannot remove the VRRP addresses: {e:#}"),
                }
                failure = Some(anyhow!("the VRRP driver ended unexpectedly"));
                break;
            }
            event = signals.next() => match event {
                Event::Reload => sup.request_reload(None).await,
                Event::DumpState => crate::signals::log_state(&sup.status().await),
                Event::DumpStats => crate::signals::log_stats(&sup.status().await),
                Event::Stop(name) => {
                    tracing::info!("{name}: stopping gracefully");
                    sup.systemd.stopping();
                    break;
                }
            },
        }
    }
    sup.stop().await;
    let _ = std::fs::remove_file(&control_path);
    failure.map_or(Ok(()), Err)
}

/// Resolves if the VRRP driver ends without being stopped; never if there
/// is none.
async fn vrrp_ended(v: Option<&mut vrrp::Handle>) {
    match v {
        Some(v) => v.ended().await,
        None => std::future::pending().await,
    }
}

impl Supervisor {
    /// The sockets the config needs: the ones we hold are reused, missing
    /// ones opened. Nothing changes in `self` unless all succeed.
    fn open_sockets(&self) -> Result<HashMap<(SocketAddr, usize), std::net::TcpListener>> {
        let mut out = HashMap::new();
        // `mode = "nat"` frontends have no socket: the kernel forwards.
        let proxied = self.cfg.frontends.iter().filter(|f| f.mode == Mode::Proxy);
        for f in proxied {
            for addr in &f.bind {
                for t in 0..self.threads {
                    let key = (*addr, t);
                    let sock = match self.sockets.get(&key) {
                        Some(s) => s
                            .try_clone()
                            .context("cannot duplicate a listening socket")?,
                        None => rampart_proxy::proxy::listen(*addr)?,
                    };
                    out.insert(key, sock);
                }
            }
        }
        Ok(out)
    }

    /// What VRRP's proxy tracker sees: servers up per backend, and whether
    /// the worker is healthy (a single crash is repaired in milliseconds
    /// and is no reason to fail over; a crash loop is).
    fn proxy_health(&self) -> crate::health::ProxyHealth {
        crate::health::ProxyHealth {
            up: self.health.up_per_backend(),
            worker_ok: !self.crash_looping(),
        }
    }

    async fn status(&self) -> crate::control::Status {
        // Every configured server, in config order: one in maintenance
        // (not checked) or not checked yet shows as down.
        let known: HashMap<(String, String), bool> = self
            .health
            .states()
            .into_iter()
            .map(|(b, s, up)| ((b, s), up))
            .collect();
        let servers = self
            .cfg
            .backends
            .iter()
            .flat_map(|b| b.servers.iter().map(move |s| (b, s)))
            .map(|(b, s)| {
                let st = self.admins.get(&b.name, &s.name);
                crate::control::ServerStatus {
                    backend: b.name.clone(),
                    server: s.name.clone(),
                    up: known
                        .get(&(b.name.clone(), s.name.clone()))
                        .copied()
                        .unwrap_or(false),
                    admin: st.admin.as_str().to_string(),
                    weight: st.weight.unwrap_or(s.weight),
                }
            })
            .collect();
        let vrrp = match &self.vrrp {
            Some(v) => v.status().await,
            None => Vec::new(),
        };
        let bgp = match &self.bgp {
            Some(b) => b.status().await,
            None => Vec::new(),
        };
        crate::control::Status {
            disabled_frontends: self.admins.disabled_frontends(&self.cfg),
            version: env!("CARGO_PKG_VERSION").to_string(),
            upgrades: self.upgrades,
            servers,
            vrrp,
            bgp,
            gateway: self.gateway.as_ref().map(|g| g.status(&self.cfg.gateway)),
            nat: self
                .nat
                .as_ref()
                .map(crate::nat::Active::status)
                .unwrap_or_default(),
            node_drain: self.drain_status(),
        }
    }

    /// The one-line state for systemd's `STATUS=`: cheap enough for every
    /// second (counts, not the server list).
    async fn summary(&self) -> String {
        let vrrp: Vec<(String, bool)> = match &self.vrrp {
            Some(v) => v.masters().borrow().clone().into_iter().collect(),
            None => Vec::new(),
        };
        let up: u32 = self.health.up_per_backend().values().sum();
        let total: usize = self.cfg.backends.iter().map(|b| b.servers.len()).sum();
        let bgp = match &self.bgp {
            Some(b) => b.status().await,
            None => Vec::new(),
        };
        let established = bgp.iter().filter(|n| n.state == "Established").count();
        crate::systemd::summary(&vrrp, (up as usize, total), (established, bgp.len()))
    }

    /// Publishes proxy health to VRRP and BGP (only when it changed).
    fn publish_proxy_health(&self) {
        let p = self.proxy_health();
        self.proxy.send_if_modified(|old| {
            let changed = *old != p;
            *old = p;
            changed
        });
    }

    /// `rampart server ...`: applies, logs (with who asked), tells the
    /// workers, stops or restarts health checks for maint.
    async fn server_command(
        &mut self,
        cmd: &crate::admin::ServerCommand,
        who: &crate::control::Asker,
    ) -> Result<(String, (u64, HashSet<u64>)), String> {
        let (before, after) = self.admins.apply(&self.cfg, cmd)?;
        let line = crate::admin::describe_change(cmd, before, after, who);
        tracing::warn!("{line}");
        self.nat_sync();
        if before.admin == rampart_proxy::Admin::Maint || after.admin == rampart_proxy::Admin::Maint
        {
            self.health.set_paused(self.admins.in_maint());
            self.health.sync(&self.cfg);
        }
        let msg = ToWorker::Admin(crate::admin::entry(&cmd.backend, &cmd.server, after));
        let mut sync = self.tell_workers(&msg).await;
        if cmd.shutdown_sessions {
            let msg = ToWorker::ShutdownSessions {
                backend: cmd.backend.clone(),
                server: cmd.server.clone(),
            };
            sync = self.tell_workers(&msg).await;
            return Ok((format!("{line}; its open connections are closed"), sync));
        }
        Ok((line, sync))
    }

    /// Sends `msg` to the serving worker and to one being started, then a
    /// `Sync`: returns its number and the workers it reached.
    async fn tell_workers(&mut self, msg: &ToWorker) -> (u64, HashSet<u64>) {
        self.next_sync += 1;
        let n = self.next_sync;
        let text = ipc::line(msg) + &ipc::line(&ToWorker::Sync(n));
        let mut reached = HashSet::new();
        let pending = self.pending.as_mut().map(|p| &mut p.worker);
        for w in self.worker.iter_mut().chain(pending) {
            match w.control.write_all(text.as_bytes()).await {
                Ok(()) => {
                    reached.insert(w.id);
                }
                Err(e) => tracing::warn!(worker = w.id, "cannot reach worker: {e}"),
            }
        }
        (n, reached)
    }

    /// Answers an operator's command once every worker told has applied
    /// it (so that, say, no connection reaches a drained server after
    /// `rampart server drain` returns), or after [`SYNC_WAIT`].
    fn reply_when_applied(
        &mut self,
        done: Result<(String, (u64, HashSet<u64>)), String>,
        reply: tokio::sync::oneshot::Sender<Result<String, String>>,
    ) {
        match done {
            Ok((line, (_, waiting))) if waiting.is_empty() => {
                let _ = reply.send(Ok(line));
            }
            Ok((line, (n, waiting))) => {
                self.syncs.insert(n, (waiting, line, reply, Instant::now()));
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    /// A worker applied everything up to `Sync(n)`; answers done commands,
    /// and those that waited too long (a worker died meanwhile: the next
    /// one starts with the state).
    fn synced(&mut self, worker: Option<(u64, u64)>) {
        if let Some((id, n)) = worker
            && let Some(entry) = self.syncs.get_mut(&n)
        {
            entry.0.remove(&id);
        }
        let done: Vec<u64> = self
            .syncs
            .iter()
            .filter(|(_, (waiting, _, _, since))| waiting.is_empty() || since.elapsed() > SYNC_WAIT)
            .map(|(n, _)| *n)
            .collect();
        for n in done {
            if let Some((_, line, reply, _)) = self.syncs.remove(&n) {
                let _ = reply.send(Ok(line));
            }
        }
    }

    /// `rampart frontend disable|enable NAME`: applies, logs, tells the
    /// workers.
    async fn frontend_command(
        &mut self,
        enable: bool,
        name: &str,
        who: &crate::control::Asker,
    ) -> Result<(String, (u64, HashSet<u64>)), String> {
        let changed = self.admins.set_frontend(&self.cfg, name, enable)?;
        let state = if enable { "enabled" } else { "disabled" };
        let line = if changed {
            format!("frontend {name} {state} (asked by {who})")
        } else {
            format!("frontend {name} was already {state}")
        };
        tracing::warn!("{line}");
        self.nat_sync();
        let msg = ToWorker::Frontend {
            name: name.to_string(),
            enabled: enable,
        };
        let sync = self.tell_workers(&msg).await;
        Ok((line, sync))
    }

    /// `rampart bgp disable|enable NAME`.
    async fn bgp_command(
        &mut self,
        enable: bool,
        name: &str,
        message: &str,
        who: &crate::control::Asker,
    ) -> Result<String, String> {
        let Some(bgp) = &self.bgp else {
            return Err("this node runs no BGP neighbor".into());
        };
        self.admins.set_neighbor(&self.cfg, name, enable)?;
        let line = bgp.set_enabled(name, enable, message).await?;
        tracing::warn!("{line} (asked by {who})");
        Ok(line)
    }

    /// Health changes go to the serving worker and to one being started,
    /// and to VRRP's tracker.
    async fn on_health(&mut self, change: HealthChange) {
        self.publish_proxy_health();
        self.nat_sync();
        let shutdown = self
            .cfg
            .backend(&change.backend)
            .map(|b| b.marked_down(Mode::Proxy))
            == Some(rampart_config::OnMarkedDown::ShutdownSessions);
        if !change.up && shutdown {
            tracing::warn!(
                "server {}/{} is down: its open connections are closed (on_marked_down = \"shutdown-sessions\")",
                change.backend,
                change.server
            );
            let msg = ToWorker::ShutdownSessions {
                backend: change.backend.clone(),
                server: change.server.clone(),
            };
            self.tell_workers(&msg).await;
        }
        let msg = ipc::line(&ToWorker::Server {
            backend: change.backend,
            server: change.server,
            up: change.up,
        });
        let pending = self.pending.as_mut().map(|p| &mut p.worker);
        for w in self.worker.iter_mut().chain(pending) {
            if let Err(e) = w.control.write_all(msg.as_bytes()).await {
                tracing::warn!(worker = w.id, "cannot reach worker: {e}");
            }
        }
        if let Some(a) = &mut self.adopted
            && let Err(e) = a.control.write_all(msg.as_bytes()).await
        {
            tracing::warn!(
                worker = a.id,
                "cannot reach the previous program's worker: {e}"
            );
        }
    }

    async fn on_worker_message(&mut self, id: u64, msg: FromWorker) {
        match msg {
            FromWorker::Ready => {
                tracing::debug!(worker = id, "worker ready");
                if let Some(old) = self.adopted.take() {
                    retire_adopted(old, &self.draining);
                }
                if let Some(p) = self.pending.take_if(|p| p.worker.id == id) {
                    tracing::debug!(worker = id, "the reloaded config serves");
                    self.commit(p).await;
                }
            }
            FromWorker::Passive { backend, server } => {
                self.health.passive_failure(&backend, &server)
            }
            FromWorker::Synced(n) => self.synced(Some((id, n))),
            FromWorker::Stats { n, .. }
            | FromWorker::Sessions { n, .. }
            | FromWorker::Killed { n, .. } => self.answered(n, msg),
        }
    }

    /// Graceful stop: the worker stops accepting and drains; we wait a
    /// little longer than its grace, then kill it.
    async fn stop(&mut self) {
        // VRRP, then routes, while the proxy still serves: the VRRP peer
        // and the routers move traffic away before anything here stops
        // answering. A stopping master keeps announcing `while_master`
        // routes until the peer has taken over (and announces them), so
        // the router never lacks a route.
        if let Some(v) = self.vrrp.take() {
            v.stop().await;
        }
        if let Some(b) = self.bgp.take() {
            b.stop().await;
        }
        if let Some(stopping) = self.bgp_stopping.take() {
            let _ = stopping.await;
        }
        // The gateway VIP has moved by now: the subnet routes via the peer.
        if let Some(g) = self.gateway.take() {
            g.stop().await;
        }
        if let Some(n) = self.nat.take() {
            n.stop().await;
        }
        self.health.stop();
        if let Some(mut p) = self.pending.take() {
            let _ = p.worker.child.kill().await;
            conclude(p.waiters, ReloadOutcome::failed("the node is stopping"));
        }
        if let Some(waiters) = self.queued.take() {
            conclude(waiters, ReloadOutcome::failed("the node is stopping"));
        }
        let Some(mut w) = self.worker.take() else {
            return;
        };
        tracing::info!("stopping");
        drain(&mut w).await;
        if let Some(a) = self.adopted.take() {
            retire_adopted(a, &self.draining);
        }
        // Close our copies of the listeners: once the worker has closed its
        // own, new clients are refused at once instead of waiting in a
        // backlog nobody will accept from.
        self.sockets.clear();
        let bound = self.cfg.global.grace + Duration::from_secs(1);
        let deadline = Instant::now() + bound;
        if tokio::time::timeout_at(deadline, w.child.wait())
            .await
            .is_err()
        {
            tracing::warn!("worker did not stop within {bound:?}: killing it");
            let _ = w.child.kill().await;
        }
        // Workers still draining from a reload or an upgrade, within the
        // same bound.
        while self.draining.count() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tracing::info!("stopped");
    }
}

//! `rampart run`: the supervisor. It owns what must outlive a worker: the
//! configuration, the listening sockets and the health checks (later VRRP
//! and BGP). The proxy runs in a worker process that inherits the sockets.
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

mod reloading;
mod upgrade;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use rampart_config::Config;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::OwnedWriteHalf;
use tokio::process::Child;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::control::Request;
use crate::health::{HealthChange, Hub};
use crate::ipc::{self, FromWorker, ToWorker};
use crate::reload::{ReloadOutcome, ReloadSummary, Waiter};
use crate::signals::{Event, SupervisorSignals};
use crate::vrrp;
use reloading::conclude;

/// Worker exits within this window that count as a crash loop.
const CRASH_WINDOW: Duration = Duration::from_secs(10);
/// Exits within CRASH_WINDOW that make it a loop.
const CRASH_LIMIT: usize = 5;
/// Delay between restarts while crash-looping, so a broken worker does not
/// eat the CPU the supervisor needs for VRRP.
const CRASH_BACKOFF: Duration = Duration::from_secs(1);
/// How long a reloaded worker may take to report ready before it is
/// abandoned and the old one kept.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// The executable for workers. `/proc/self/exe` still resolves after the
/// binary file was replaced by an upgrade (the path from `current_exe`
/// would then end in " (deleted)"), so a crashed worker is always restarted
/// with the same code as the supervisor, which speaks its IPC.
const SELF_EXE: &str = "/proc/self/exe";

struct Worker {
    id: u64,
    child: Child,
    control: OwnedWriteHalf,
}

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
    /// `--upgrade-fd`: what the previous program handed over (see
    /// `upgrade.rs`).
    pub upgrade_fd: Option<std::os::fd::RawFd>,
}

/// The worker a previous program ran (`rampart upgrade`): it serves until
/// this program's first worker is ready, then drains.
struct AdoptedWorker {
    id: u64,
    pid: u32,
    control: std::os::unix::net::UnixStream,
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
    /// Proxy health as VRRP's tracker and BGP's `while_healthy` see it.
    proxy: tokio::sync::watch::Sender<vrrp::ProxyHealth>,
    /// `Type=notify`: what systemd is told (nothing without NOTIFY_SOCKET).
    systemd: crate::systemd::Systemd,
    /// The control socket's listener, handed over by `rampart upgrade`.
    control_fd: Option<std::os::fd::RawFd>,
    /// Upgrades since the node started (shown by status).
    upgrades: u32,
    /// The previous program's worker, until ours is ready.
    adopted: Option<AdoptedWorker>,
}

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
    paths: Paths,
) -> Result<()> {
    // Handlers first: a signal before they exist would kill the process.
    let mut signals = SupervisorSignals::install()?;
    let adopted = paths.upgrade_fd.map(upgrade::adopt).transpose()?;
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
        proxy: tokio::sync::watch::channel(vrrp::ProxyHealth::default()).0,
        systemd: crate::systemd::Systemd::from_env(),
        control_fd: None,
        upgrades: 0,
        adopted: None,
    };
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
            sup.next_id = id;
            sup.adopted = Some(AdoptedWorker {
                id,
                pid,
                control: std::os::unix::net::UnixStream::from(fd),
            });
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
    sup.vrrp = vrrp::start(&sup.cfg, sup.proxy.subscribe(), adopted_vrrp)?;
    let masters = match &sup.vrrp {
        Some(v) => v.masters(),
        None => tokio::sync::watch::channel(Default::default()).1,
    };
    sup.bgp = crate::bgp::start(&sup.cfg, sup.proxy.subscribe(), masters, adopted_bgp)?;
    sup.worker = Some(sup.spawn_worker().await?);
    // Forwarding and NAT once the rest runs; a failure here (or below)
    // stops what runs already, which sets them back.
    match crate::gateway::start(&sup.cfg.gateway, &sup.runtime_dir).await {
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
            tokio::spawn(crate::control::serve(l, control_tx));
        }
        Err(e) => {
            sup.stop().await;
            return Err(e);
        }
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
                match sup.spawn_worker().await {
                    Ok(w) => sup.worker = Some(w),
                    Err(e) => {
                        tracing::error!("cannot start worker: {e:#}");
                        restart_at = Some(Instant::now() + CRASH_BACKOFF);
                    }
                }
            }
            Some(change) = health_rx.recv() => sup.on_health(change).await,
            _ = tick.tick() => {
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
                Request::Reload(waiter) if upgrade::binary_replaced() => {
                    // `systemctl reload` after a package upgrade.
                    tracing::info!("reload asked for and the binary was replaced: upgrading");
                    sup.upgrade_for(waiter).await;
                }
                Request::Reload(waiter) => sup.request_reload(Some(waiter)).await,
                Request::Upgrade(waiter) => sup.upgrade_for(waiter).await,
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

fn describe(status: std::io::Result<std::process::ExitStatus>) -> String {
    status.map_or_else(|e| e.to_string(), |s| s.to_string())
}

impl Supervisor {
    /// The sockets the config needs: the ones we hold are reused, missing
    /// ones opened. Nothing changes in `self` unless all succeed.
    fn open_sockets(&self) -> Result<HashMap<(SocketAddr, usize), std::net::TcpListener>> {
        let mut out = HashMap::new();
        for f in &self.cfg.frontends {
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

    /// Whether workers exited CRASH_LIMIT times within CRASH_WINDOW.
    fn crash_looping(&self) -> bool {
        let now = Instant::now();
        self.crashes
            .iter()
            .filter(|t| now.duration_since(**t) <= CRASH_WINDOW)
            .count()
            >= CRASH_LIMIT
    }

    /// What VRRP's proxy tracker sees: servers up per backend, and whether
    /// the worker is healthy (a single crash is repaired in milliseconds
    /// and is no reason to fail over; a crash loop is).
    fn proxy_health(&self) -> vrrp::ProxyHealth {
        vrrp::ProxyHealth {
            up: self.health.up_per_backend(),
            worker_ok: !self.crash_looping(),
        }
    }

    async fn status(&self) -> crate::control::Status {
        let servers = self
            .health
            .states()
            .into_iter()
            .map(|(backend, server, up)| crate::control::ServerStatus {
                backend,
                server,
                up,
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
            version: env!("CARGO_PKG_VERSION").to_string(),
            upgrades: self.upgrades,
            servers,
            vrrp,
            bgp,
            gateway: self.gateway.as_ref().map(|g| g.status(&self.cfg.gateway)),
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
        let established = bgp.iter().filter(|n| n["state"] == "Established").count();
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

    /// Records a worker crash; returns when to start the next worker.
    fn note_crash(&mut self) -> Instant {
        let now = Instant::now();
        self.crashes.push_back(now);
        while self
            .crashes
            .front()
            .is_some_and(|t| now.duration_since(*t) > CRASH_WINDOW)
        {
            self.crashes.pop_front();
        }
        if self.crashes.len() >= CRASH_LIMIT {
            tracing::error!(
                exits = self.crashes.len(),
                "worker crash loop: restarting with {CRASH_BACKOFF:?} back-off"
            );
            now + CRASH_BACKOFF
        } else {
            now
        }
    }

    /// Starts a worker on the current sockets and config.
    async fn spawn_worker(&mut self) -> Result<Worker> {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
        let mut fds = Vec::new();
        let mut listen = Vec::new();
        for (fe, f) in self.cfg.frontends.iter().enumerate() {
            for addr in &f.bind {
                for t in 0..self.threads {
                    let s = self
                        .sockets
                        .get(&(*addr, t))
                        .ok_or_else(|| anyhow!("no listening socket for {addr} (thread {t})"))?;
                    listen.push(format!("{t}:{fe}:{}", s.as_raw_fd()));
                    fds.push(s.as_raw_fd());
                }
            }
        }
        fds.push(theirs.as_raw_fd());
        fds.push(self.lock_fd);
        let mut cmd = std::process::Command::new(SELF_EXE);
        cmd.arg0(ipc::WORKER_ARG0)
            .env(ipc::ENV_IPC_FD, theirs.as_raw_fd().to_string())
            .env(ipc::ENV_LISTEN_FDS, listen.join(","))
            .env(ipc::ENV_SUPERVISOR_PID, std::process::id().to_string())
            .env(ipc::ENV_RUNTIME_DIR, &self.runtime_dir)
            .env(ipc::ENV_LOCK_FD, self.lock_fd.to_string())
            .env(
                "RUST_LOG",
                self.log_override
                    .as_deref()
                    .unwrap_or(&self.cfg.global.log_level),
            )
            .stdin(std::process::Stdio::null());
        for var in crate::systemd::ENV {
            cmd.env_remove(var);
        }
        // Looked up again for each worker: a reload may change the user.
        match crate::privilege::resolve(&self.cfg.global) {
            Ok(Some(id)) => {
                crate::privilege::can_become(id).map_err(|e| anyhow!(e))?;
                cmd.env(ipc::ENV_WORKER_IDENTITY, id.to_env());
            }
            Ok(None) => {
                cmd.env_remove(ipc::ENV_WORKER_IDENTITY);
            }
            Err((_, e)) => bail!("{e}"),
        }
        rampart_sys::fds::inherit_in_child(&mut cmd, fds);
        // The fork (a full one: the child runs code before exec) must not
        // be preempted while it holds the memory map lock the VRRP thread
        // may need: see `with_realtime`.
        let mut cmd = tokio::process::Command::from(cmd);
        cmd.kill_on_drop(false);
        let child =
            rampart_sys::limits::with_realtime(|| cmd.spawn()).context("cannot start worker")?;
        drop(theirs);

        self.next_id += 1;
        let id = self.next_id;
        ours.set_nonblocking(true)?;
        let (read, mut control) = tokio::net::UnixStream::from_std(ours)?.into_split();
        let start = ToWorker::Start {
            origin: self.path.display().to_string(),
            config: self.text.clone(),
            up: self.health.up_servers(),
        };
        control.write_all(ipc::line(&start).as_bytes()).await?;
        let tx = self.from_workers.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(read).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                match serde_json::from_str::<FromWorker>(&l) {
                    Ok(m) => {
                        let _ = tx.send((id, m));
                    }
                    Err(e) => tracing::warn!(worker = id, "bad message from worker: {e}"),
                }
            }
        });
        tracing::info!(worker = id, pid = child.id(), "worker started");
        Ok(Worker { id, child, control })
    }

    /// Health changes go to the serving worker and to one being started,
    /// and to VRRP's tracker.
    async fn on_health(&mut self, change: HealthChange) {
        self.publish_proxy_health();
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
    }

    async fn on_worker_message(&mut self, id: u64, msg: FromWorker) {
        match msg {
            FromWorker::Ready => {
                tracing::debug!(worker = id, "worker ready");
                if let Some(old) = self.adopted.take() {
                    retire_adopted(old);
                }
                if let Some(p) = self.pending.take_if(|p| p.worker.id == id) {
                    tracing::debug!(worker = id, "the reloaded config serves");
                    self.commit(p).await;
                }
            }
            FromWorker::Passive { backend, server } => {
                self.health.passive_failure(&backend, &server)
            }
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
        // Close our copies of the listeners: once the worker has closed its
        // own, new clients are refused at once instead of waiting in a
        // backlog nobody will accept from.
        self.sockets.clear();
        let bound = self.cfg.global.grace + Duration::from_secs(1);
        if tokio::time::timeout(bound, w.child.wait()).await.is_err() {
            tracing::warn!("worker did not stop within {bound:?}: killing it");
            let _ = w.child.kill().await;
        }
        tracing::info!("stopped");
    }
}

/// Tells a worker to drain (see `ToWorker::Drain`); one that cannot be
/// told is killed.
async fn drain(w: &mut Worker) {
    let msg = ipc::line(&ToWorker::Drain);
    if let Err(e) = w.control.write_all(msg.as_bytes()).await {
        tracing::warn!(
            worker = w.id,
            "cannot tell the worker to drain ({e}): killing it"
        );
        signal_child(&w.child, Signal::SIGKILL);
    }
}

/// Tells the previous program's worker to drain, and reaps it.
fn retire_adopted(old: AdoptedWorker) {
    use std::io::Write;
    let msg = ipc::line(&ToWorker::Drain);
    let mut control = old.control;
    if let Err(e) = control.write_all(msg.as_bytes()) {
        tracing::warn!(
            worker = old.id,
            "cannot tell the previous worker to drain ({e}): killing it"
        );
        let _ = kill(Pid::from_raw(old.pid as i32), Signal::SIGKILL);
    }
    let pid = Pid::from_raw(old.pid as i32);
    tokio::task::spawn_blocking(move || {
        let status = nix::sys::wait::waitpid(pid, None);
        drop(control);
        tracing::info!(
            worker = old.id,
            "previous program's worker finished draining ({status:?})"
        );
    });
}

/// Tells a replaced worker to drain, and reaps it when it exits.
fn retire(mut old: Worker) {
    tokio::spawn(async move {
        drain(&mut old).await;
        let status = old.child.wait().await;
        tracing::info!(
            worker = old.id,
            "previous worker finished draining ({})",
            describe(status)
        );
    });
}

fn signal_child(child: &Child, sig: Signal) {
    if let Some(pid) = child.id() {
        let _ = kill(Pid::from_raw(pid as i32), sig);
    }
}

/// Resolves when the worker exits; never if there is none.
async fn wait_worker(w: Option<&mut Worker>) -> std::io::Result<std::process::ExitStatus> {
    match w {
        Some(w) => w.child.wait().await,
        None => std::future::pending().await,
    }
}

//! `rampart run`: the supervisor. It owns what must outlive a worker: the
//! configuration, the listening sockets and the health checks (later VRRP
//! and BGP). The proxy runs in a worker process that inherits the sockets.
//!
//! - worker dies → a new one starts on the same sockets at once; the kernel
//!   queues connections meanwhile, so none is refused;
//! - SIGHUP → the file is parsed and validated; if bad, every error is
//!   logged and nothing changes; if good, a new worker starts and the old
//!   one drains (bounded by `grace`), keeping health state of unchanged
//!   servers;
//! - SIGTERM/SIGINT → the worker stops accepting and drains, then we exit.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use rampart_config::Config;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::OwnedWriteHalf;
use tokio::process::Child;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::health::{HealthChange, Hub};
use crate::ipc::{self, FromWorker, ToWorker};

/// Worker exits within this window that count as a crash loop.
const CRASH_WINDOW: Duration = Duration::from_secs(10);
/// Exits within CRASH_WINDOW that make it a loop.
const CRASH_LIMIT: usize = 5;
/// Delay between restarts while crash-looping, so a broken worker does not
/// eat the CPU the supervisor needs for VRRP.
const CRASH_BACKOFF: Duration = Duration::from_secs(1);

struct Worker {
    id: u64,
    child: Child,
    control: OwnedWriteHalf,
}

pub struct Supervisor {
    path: PathBuf,
    cfg: Config,
    text: String,
    threads: usize,
    /// Listening sockets by (address, thread slot), kept across workers.
    sockets: HashMap<(SocketAddr, usize), std::net::TcpListener>,
    health: Hub,
    worker: Option<Worker>,
    next_id: u64,
    from_workers: mpsc::UnboundedSender<(u64, FromWorker)>,
    crashes: VecDeque<Instant>,
}

/// Threads to use: the configured number, or one per CPU.
fn thread_count(cfg: &Config) -> usize {
    match cfg.global.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

pub async fn run(path: PathBuf, cfg: Config, text: String) -> Result<()> {
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
        next_id: 0,
        from_workers: from_tx,
        crashes: VecDeque::new(),
    };
    sup.open_sockets()?;
    sup.health.sync(&sup.cfg);
    sup.spawn_worker().await?;

    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut restart_at: Option<Instant> = None;
    loop {
        tokio::select! {
            status = wait_worker(&mut sup.worker) => {
                let w = sup.worker.take();
                tracing::error!(worker = w.map(|w| w.id), "worker exited unexpectedly ({})", status.map_or_else(|e| e.to_string(), |s| s.to_string()));
                restart_at = Some(sup.note_crash());
            }
            _ = tokio::time::sleep_until(restart_at.unwrap_or_else(Instant::now)), if restart_at.is_some() => {
                restart_at = None;
                if let Err(e) = sup.spawn_worker().await {
                    tracing::error!("cannot start worker: {e:#}");
                    restart_at = Some(Instant::now() + CRASH_BACKOFF);
                }
            }
            Some(change) = health_rx.recv() => sup.on_health(change).await,
            Some((id, msg)) = from_rx.recv() => sup.on_worker_message(id, msg),
            _ = hup.recv() => sup.reload().await,
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    sup.stop().await;
    Ok(())
}

impl Supervisor {
    /// Opens the sockets the config needs and closes those it no longer does.
    fn open_sockets(&mut self) -> Result<()> {
        let mut wanted = HashMap::new();
        for f in &self.cfg.frontends {
            for addr in &f.bind {
                for t in 0..self.threads {
                    let key = (*addr, t);
                    let sock = match self.sockets.remove(&key) {
                        Some(s) => s,
                        None => rampart_proxy::proxy::listen(*addr)?,
                    };
                    wanted.insert(key, sock);
                }
            }
        }
        self.sockets = wanted;
        Ok(())
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

    /// Whether the worker is crash-looping (will put VRRP in FAULT).
    #[allow(dead_code)]
    pub fn crash_looping(&self) -> bool {
        self.crashes.len() >= CRASH_LIMIT
    }

    /// Starts a worker on the current sockets and config; it becomes the
    /// current worker, and the previous one (if any) is told to drain.
    async fn spawn_worker(&mut self) -> Result<()> {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
        let mut fds = Vec::new();
        let mut listen = Vec::new();
        for (fe, f) in self.cfg.frontends.iter().enumerate() {
            for addr in &f.bind {
                for t in 0..self.threads {
                    if let Some(s) = self.sockets.get(&(*addr, t)) {
                        listen.push(format!("{t}:{fe}:{}", s.as_raw_fd()));
                        fds.push(s.as_raw_fd());
                    }
                }
            }
        }
        fds.push(theirs.as_raw_fd());
        let exe = std::env::current_exe().context("cannot find own executable")?;
        let mut cmd = std::process::Command::new(exe);
        cmd.arg("worker")
            .env(ipc::ENV_IPC_FD, theirs.as_raw_fd().to_string())
            .env(ipc::ENV_LISTEN_FDS, listen.join(","))
            .env("RUST_LOG", crate::log_filter(&self.cfg))
            .stdin(std::process::Stdio::null());
        rampart_sys::fds::inherit_in_child(&mut cmd, fds);
        let child = tokio::process::Command::from(cmd)
            .kill_on_drop(false)
            .spawn()
            .context("cannot start worker")?;
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
        if let Some(old) = self.worker.replace(Worker { id, child, control }) {
            retire(old);
        }
        Ok(())
    }

    async fn on_health(&mut self, change: HealthChange) {
        if let Some(w) = self.worker.as_mut() {
            let msg = ToWorker::Server {
                backend: change.backend,
                server: change.server,
                up: change.up,
            };
            if let Err(e) = w.control.write_all(ipc::line(&msg).as_bytes()).await {
                tracing::warn!(worker = w.id, "cannot reach worker: {e}");
            }
        }
    }

    fn on_worker_message(&mut self, id: u64, msg: FromWorker) {
        match msg {
            FromWorker::Ready => tracing::debug!(worker = id, "worker ready"),
            FromWorker::Passive { backend, server } => {
                self.health.passive_failure(&backend, server)
            }
        }
    }

    /// SIGHUP: apply the file if it is valid, keep everything otherwise.
    async fn reload(&mut self) {
        tracing::info!(file = %self.path.display(), "reload requested");
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) => {
                return tracing::error!(
                    "reload failed, keeping the running config: cannot read {}: {e}",
                    self.path.display()
                );
            }
        };
        let cfg = match rampart_config::parse(&self.path.display().to_string(), &text) {
            Ok(c) => c,
            Err(errors) => {
                for line in errors.render().lines() {
                    tracing::error!("{line}");
                }
                return tracing::error!("reload failed, keeping the running config");
            }
        };
        let old = (
            std::mem::replace(&mut self.cfg, cfg),
            std::mem::replace(&mut self.text, text),
        );
        self.threads = thread_count(&self.cfg);
        if let Err(e) = self.open_sockets() {
            tracing::error!("reload failed, keeping the running config: {e:#}");
            (self.cfg, self.text) = old;
            self.threads = thread_count(&self.cfg);
            return;
        }
        self.health.sync(&self.cfg);
        match self.spawn_worker().await {
            Ok(()) => tracing::info!("reloaded"),
            Err(e) => tracing::error!("reload: cannot start the new worker: {e:#}"),
        }
    }

    /// Graceful stop: the worker stops accepting and drains; we wait a
    /// little longer than its grace, then kill it.
    async fn stop(&mut self) {
        self.health.stop();
        let Some(mut w) = self.worker.take() else {
            return;
        };
        tracing::info!("stopping");
        signal_child(&w.child, Signal::SIGTERM);
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

/// Tells a replaced worker to drain, and reaps it when it exits.
fn retire(mut old: Worker) {
    signal_child(&old.child, Signal::SIGTERM);
    tokio::spawn(async move {
        let status = old.child.wait().await;
        tracing::info!(
            worker = old.id,
            "previous worker finished draining ({})",
            status.map_or_else(|e| e.to_string(), |s| s.to_string())
        );
    });
}

fn signal_child(child: &Child, sig: Signal) {
    if let Some(pid) = child.id() {
        let _ = kill(Pid::from_raw(pid as i32), sig);
    }
}

/// Resolves when the current worker exits; never while there is none.
async fn wait_worker(w: &mut Option<Worker>) -> std::io::Result<std::process::ExitStatus> {
    match w {
        Some(w) => w.child.wait().await,
        None => std::future::pending().await,
    }
}

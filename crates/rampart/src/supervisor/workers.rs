//! Worker lifecycle: spawning a worker on the supervisor's sockets, the
//! crash-loop bookkeeping, telling a worker to drain, reaping it, and the
//! worker a previous program handed over (`rampart upgrade`).

use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;

use anyhow::{Context, Result, anyhow, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::OwnedWriteHalf;
use tokio::process::Child;
use tokio::time::{Duration, Instant};

use super::Supervisor;
use crate::ipc::{self, FromWorker, ToWorker};

/// Worker exits within this window that count as a crash loop.
const CRASH_WINDOW: Duration = Duration::from_secs(10);

/// Exits within CRASH_WINDOW that make it a loop.
const CRASH_LIMIT: usize = 5;

/// Delay between restarts while crash-looping, so a broken worker does not
/// eat the CPU the supervisor needs for VRRP.
pub(super) const CRASH_BACKOFF: Duration = Duration::from_secs(1);

/// The executable for workers. `/proc/self/exe` still resolves after the
/// binary file was replaced by an upgrade (the path from `current_exe`
/// would then end in " (deleted)"), so a crashed worker is always restarted
/// with the same code as the supervisor, which speaks its IPC.
const SELF_EXE: &str = "/proc/self/exe";

pub(super) struct Worker {
    pub(super) id: u64,
    pub(super) child: Child,
    pub(super) control: OwnedWriteHalf,
}

/// The worker a previous program ran (`rampart upgrade`): it serves until
/// this program's first worker is ready, then drains.
/// The worker a previous program ran (`rampart upgrade`): it serves until
/// this program's first worker is ready, then drains. Its messages are
/// read like any worker's.
pub(super) struct AdoptedWorker {
    pub(super) id: u64,
    pub(super) pid: u32,
    pub(super) control: OwnedWriteHalf,
}

/// Workers told to drain and not reaped yet: an upgrade waits for them
/// (the exec would close their control sockets and leave them unreaped).
#[derive(Clone, Default)]
pub(super) struct Draining(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Draining {
    pub(super) fn count(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn start(&self) -> DrainingGuard {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        DrainingGuard(self.clone())
    }
}

/// Counts one draining worker until dropped.
struct DrainingGuard(Draining);

impl Drop for DrainingGuard {
    fn drop(&mut self) {
        (self.0)
            .0
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

pub(super) fn describe(status: std::io::Result<std::process::ExitStatus>) -> String {
    status.map_or_else(|e| e.to_string(), |s| s.to_string())
}

impl Supervisor {
    /// Whether workers exited CRASH_LIMIT times within CRASH_WINDOW.
    pub(super) fn crash_looping(&self) -> bool {
        let now = Instant::now();
        self.crashes
            .iter()
            .filter(|t| now.duration_since(**t) <= CRASH_WINDOW)
            .count()
            >= CRASH_LIMIT
    }

    /// Records a worker crash; returns when to start the next worker.
    pub(super) fn note_crash(&mut self) -> Instant {
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
    /// `respawn`: after a crash, when serving matters more than where the
    /// connection log goes (a `tcplog_file` that cannot be opened then
    /// sends it to the main log instead of failing).
    pub(super) async fn spawn_worker(&mut self, respawn: bool) -> Result<Worker> {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
        let mut fds = Vec::new();
        let mut listen = Vec::new();
        for (fe, f) in self.cfg.frontends.iter().enumerate() {
            if f.mode == rampart_config::Mode::Nat {
                continue;
            }
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
        // Opened for each worker: a reload after logrotate moved the file
        // writes to the new one.
        let tcplog = match &self.cfg.global.tcplog_file {
            Some(path) => match open_tcplog(path) {
                Ok(f) => Some(f),
                Err(e) if respawn => {
                    tracing::error!("{e:#}: the connection log goes to the main log");
                    None
                }
                Err(e) => return Err(e),
            },
            None => None,
        };
        if let Some(f) = &tcplog {
            fds.push(f.as_raw_fd());
        }
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
        if crate::logging::is_json() {
            cmd.env(crate::logging::ENV_FORMAT, "json");
        } else {
            cmd.env_remove(crate::logging::ENV_FORMAT);
        }
        match &tcplog {
            Some(f) => cmd.env(ipc::ENV_TCPLOG_FD, f.as_raw_fd().to_string()),
            None => cmd.env_remove(ipc::ENV_TCPLOG_FD),
        };
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
        drop(tcplog);

        self.next_id += 1;
        let id = self.next_id;
        ours.set_nonblocking(true)?;
        let (read, mut control) = tokio::net::UnixStream::from_std(ours)?.into_split();
        let start = ToWorker::Start {
            origin: self.path.display().to_string(),
            config: self.text.clone(),
            up: self.health.up_servers(),
            admin: self.admins.entries(&self.cfg),
            disabled: self.admins.disabled_frontends(&self.cfg),
        };
        control.write_all(ipc::line(&start).as_bytes()).await?;
        let tx = self.from_workers.clone();
        read_worker(id, read, tx);
        tracing::info!(worker = id, pid = child.id(), "worker started");
        Ok(Worker { id, child, control })
    }

    /// Takes on the worker a previous program ran (`rampart upgrade`).
    pub(super) fn adopt_worker(
        &mut self,
        id: u64,
        pid: u32,
        control: std::os::fd::OwnedFd,
    ) -> Result<()> {
        let stream = std::os::unix::net::UnixStream::from(control);
        stream.set_nonblocking(true)?;
        let (read, control) = tokio::net::UnixStream::from_std(stream)?.into_split();
        read_worker(id, read, self.from_workers.clone());
        self.next_id = self.next_id.max(id);
        self.adopted = Some(AdoptedWorker { id, pid, control });
        Ok(())
    }
}

/// Forwards a worker's messages to the supervisor's loop, tagged with its
/// id, until its control socket closes.
fn read_worker(
    id: u64,
    read: tokio::net::unix::OwnedReadHalf,
    tx: tokio::sync::mpsc::UnboundedSender<(u64, FromWorker)>,
) {
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
}

/// Tells a worker to drain (see `ToWorker::Drain`); one that cannot be
/// told is killed.
pub(super) async fn drain(w: &mut Worker) {
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
pub(super) fn retire_adopted(mut old: AdoptedWorker, draining: &Draining) {
    let counted = draining.start();
    tokio::spawn(async move {
        let msg = ipc::line(&ToWorker::Drain);
        if let Err(e) = old.control.write_all(msg.as_bytes()).await {
            tracing::warn!(
                worker = old.id,
                "cannot tell the previous worker to drain ({e}): killing it"
            );
            let _ = kill(Pid::from_raw(old.pid as i32), Signal::SIGKILL);
        }
        let pid = Pid::from_raw(old.pid as i32);
        let status = tokio::task::spawn_blocking(move || nix::sys::wait::waitpid(pid, None)).await;
        drop(counted);
        tracing::info!(
            worker = old.id,
            "previous program's worker finished draining ({status:?})"
        );
    });
}

/// Tells a replaced worker to drain, and reaps it when it exits.
pub(super) fn retire(mut old: Worker, draining: &Draining) {
    let counted = draining.start();
    tokio::spawn(async move {
        drain(&mut old).await;
        let status = old.child.wait().await;
        drop(counted);
        tracing::info!(
            worker = old.id,
            "previous worker finished draining ({})",
            describe(status)
        );
    });
}

pub(super) fn signal_child(child: &Child, sig: Signal) {
    if let Some(pid) = child.id() {
        let _ = kill(Pid::from_raw(pid as i32), sig);
    }
}

/// Resolves when the worker exits; never if there is none.
pub(super) async fn wait_worker(
    w: Option<&mut Worker>,
) -> std::io::Result<std::process::ExitStatus> {
    match w {
        Some(w) => w.child.wait().await,
        None => std::future::pending().await,
    }
}

/// `[global] tcplog_file`, appended to (created 0640 if missing).
fn open_tcplog(path: &std::path::Path) -> Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)
        .with_context(|| format!("tcplog_file {}", path.display()))
}

//! The worker process: runs the proxy on sockets inherited from the
//! supervisor. It holds no state that cannot be rebuilt: if it dies, the
//! supervisor starts another on the same sockets and the kernel queues new
//! connections meanwhile.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use rampart_proxy::{Events, Mode, Proxy, ThreadListeners};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::{mpsc, watch};

use crate::ipc::{self, FromWorker, ToWorker};

/// Passive failures go to the supervisor, whose health checker counts them.
struct IpcEvents(mpsc::UnboundedSender<FromWorker>);

impl Events for IpcEvents {
    fn passive_failure(&self, backend: &str, server: &str) {
        let _ = self.0.send(FromWorker::Passive {
            backend: backend.to_string(),
            server: server.to_string(),
        });
    }
}

pub fn main() -> Result<()> {
    let ipc_fd: i32 = std::env::var(ipc::ENV_IPC_FD)
        .context("the worker is started by `rampart run`, not by hand")?
        .parse()
        .context("bad control socket descriptor")?;
    // PR_SET_PDEATHSIG is set in the child before exec; if the supervisor
    // died before that, nobody would stop us: check who our parent is.
    let supervisor: i32 = std::env::var(ipc::ENV_SUPERVISOR_PID)
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(-1);
    if nix::unistd::getppid().as_raw() != supervisor {
        anyhow::bail!("the supervisor (pid {supervisor}) is gone");
    }
    let fds = ipc::parse_listen_fds(&std::env::var(ipc::ENV_LISTEN_FDS).unwrap_or_default())
        .map_err(|e| anyhow!(e))?;
    let control = rampart_sys::fds::inherited_unix_stream(ipc_fd).context("control socket")?;
    let mut threads: Vec<ThreadListeners> = Vec::new();
    for (t, fe, fd) in fds {
        let l = rampart_sys::fds::inherited_listener(fd)
            .with_context(|| format!("listening socket fd {fd}"))?;
        if threads.len() <= t {
            threads.resize_with(t + 1, Vec::new);
        }
        threads[t].push((fe, l));
    }
    control.set_nonblocking(true)?;
    // The runtime directory's lock, shared with the supervisor (optional:
    // an older supervisor during an upgrade does not pass it).
    let lock = match std::env::var(ipc::ENV_LOCK_FD)
        .ok()
        .and_then(|v| v.parse().ok())
    {
        Some(fd) => Some(rampart_sys::fds::inherited_fd(fd).context("lock descriptor")?),
        None => None,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(serve(
        control,
        threads,
        Parent {
            pid: supervisor,
            lock,
        },
    ))
}

/// The supervisor that started this worker, and the runtime directory's
/// lock it shares with it.
struct Parent {
    pid: i32,
    lock: Option<std::os::fd::OwnedFd>,
}

/// Why the worker's main loop ended.
enum Exit {
    /// The supervisor asked for it (`ToWorker::Drain`).
    Drain,
    /// The control socket closed: the supervisor is gone or going.
    Closed,
    /// SIGTERM while the supervisor is dying: its parent-death signal.
    Orphaned,
}

async fn serve(
    control: std::os::unix::net::UnixStream,
    threads: Vec<ThreadListeners>,
    mut parent: Parent,
) -> Result<()> {
    // Stray signals are ignored (signals.rs); SIGTERM is looked at below.
    // First, so that no stray signal finds its default action.
    let mut signals = crate::signals::WorkerSignals::install()?;
    let (read, mut write) = UnixStream::from_std(control)?.into_split();
    let mut lines = BufReader::new(read).lines();
    let first = lines
        .next_line()
        .await?
        .ok_or_else(|| anyhow!("supervisor closed the control socket"))?;
    let ToWorker::Start {
        origin,
        config,
        up,
        admin,
        disabled,
    } = serde_json::from_str(&first)?
    else {
        bail!("first control message is not Start");
    };
    let cfg = rampart_config::parse(&origin, &config).map_err(|e| anyhow!("{e}"))?;

    let (events_tx, mut events_rx) = mpsc::unbounded_channel();
    let proxy = Proxy::new(
        &cfg,
        Mode::Splice,
        Arc::new(IpcEvents(events_tx.clone())),
        |b, s| up.iter().any(|(ub, us)| ub == b && *us == s.name),
    );
    for e in &admin {
        apply_admin(&proxy, e);
    }
    for name in &disabled {
        proxy.set_frontend_enabled(name, false);
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    rampart_proxy::spawn_threads(&proxy, threads, stop_rx)?;
    let _ = events_tx.send(FromWorker::Ready);
    tracing::info!(pid = std::process::id(), "worker serving");

    // The connection log can outrun stderr: say when lines were dropped.
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    // `rampart node drain`'s close spread, while it runs.
    let mut spreading: Option<tokio::task::JoinHandle<()>> = None;
    let exit = loop {
        tokio::select! {
            _ = tick.tick() => {
                proxy.tick();
                crate::logging::report_drops();
            }
            line = lines.next_line() => match line {
                Ok(Some(l)) => match serde_json::from_str::<ToWorker>(&l) {
                    Ok(ToWorker::Server { backend, server, up }) => {
                        if !proxy.set_server_up(&backend, &server, up) {
                            tracing::warn!("state for unknown server {backend}/{server}");
                        }
                    }
                    Ok(ToWorker::Admin(e)) => apply_admin(&proxy, &e),
                    Ok(ToWorker::Sync(n)) => {
                        let _ = events_tx.send(FromWorker::Synced(n));
                    }
                    Ok(ToWorker::Stats(n)) => {
                        let _ = events_tx.send(FromWorker::Stats { n, stats: proxy.stats() });
                    }
                    Ok(ToWorker::Sessions(n)) => {
                        let _ = events_tx.send(FromWorker::Sessions { n, sessions: proxy.sessions() });
                    }
                    Ok(ToWorker::Kill { n, id }) => {
                        let count = usize::from(proxy.kill_session(id));
                        let _ = events_tx.send(FromWorker::Killed { n, count });
                    }
                    Ok(ToWorker::ShutdownSessions { backend, server }) => {
                        let n = proxy.kill_server_sessions(&backend, &server);
                        tracing::warn!("closed {n} open connection(s) to {backend}/{server}");
                    }
                    Ok(ToWorker::CloseIdle { window_ms, idle_ms }) => {
                        if let Some(t) = spreading.take() {
                            t.abort();
                        }
                        if let Some(ms) = window_ms {
                            let p = proxy.clone();
                            let window = Duration::from_millis(ms);
                            let idle = Duration::from_millis(idle_ms);
                            spreading = Some(tokio::spawn(async move {
                                let n = p.close_spread(window, idle).await;
                                tracing::warn!("node drain: closed {n} idle connection(s) over {window:?}");
                            }));
                        }
                    }
                    Ok(ToWorker::Frontend { name, enabled }) => {
                        if !proxy.set_frontend_enabled(&name, enabled) {
                            tracing::warn!("state for unknown frontend {name}");
                        }
                    }
                    Ok(ToWorker::Drain) => break Exit::Drain,
                    Ok(other) => tracing::warn!("unexpected control message {other:?}"),
                    Err(e) => tracing::warn!("bad control message: {e}"),
                },
                _ => break Exit::Closed,
            },
            Some(ev) = events_rx.recv() => {
                if write.write_all(ipc::line(&ev).as_bytes()).await.is_err() {
                    break Exit::Closed;
                }
            }
            _ = signals.stop() => {
                if supervisor_dying(parent.pid).await {
                    break Exit::Orphaned;
                }
                tracing::warn!("SIGTERM ignored: the supervisor (pid {}) stops its workers itself; stop the node through it", parent.pid);
            }
        }
    };
    let orphaned = match exit {
        Exit::Drain => false,
        Exit::Orphaned => true,
        Exit::Closed => reparented(parent.pid, REPARENT_WAIT).await,
    };
    if orphaned {
        clean_up_for_dead_supervisor(&cfg).await;
        // A node restarted meanwhile waited for this (runtime::lock).
        drop(parent.lock.take());
    }
    let _ = stop_tx.send(true);
    let grace = cfg.global.grace;
    tracing::info!(
        live = proxy.live(),
        "worker stopping: accepting no more, draining up to {grace:?}"
    );
    if tokio::time::timeout(grace, proxy.drained()).await.is_err() {
        tracing::warn!(
            live = proxy.live(),
            "grace period over: closing remaining connections"
        );
    }
    // Give the log a moment to flush the last connection lines.
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(())
}

/// The operator's state of one server (drain, maint, weight).
fn apply_admin(proxy: &Proxy, e: &crate::admin::Entry) {
    let applied = e
        .state()
        .is_some_and(|st| proxy.set_server_admin(&e.backend, &e.server, st.admin, st.weight));
    if !applied {
        tracing::warn!("admin state for unknown server {}/{}", e.backend, e.server);
    }
}

/// How long a worker whose control socket closed waits to be reparented
/// before it concludes that its supervisor lives: a dying process closes
/// its descriptors a moment before its children get a new parent. A live
/// supervisor never closes the control socket of a running worker, so the
/// wait is only ever spent when it is dying.
const REPARENT_WAIT: Duration = Duration::from_secs(2);

/// How long a SIGTERM is looked at for signs of the supervisor's death.
const DYING_WAIT: Duration = Duration::from_millis(50);

/// Whether our parent is no longer `supervisor`, waiting up to `wait`.
async fn reparented(supervisor: i32, wait: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        if nix::unistd::getppid().as_raw() != supervisor {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Whether a SIGTERM is the parent-death signal. The kernel sends it when
/// the thread that forked us (the supervisor's main thread) exits, which it
/// does only when the process ends; the supervisor's other threads may
/// still be finishing, so getppid may not have changed yet, but the main
/// thread is a zombie (or the process gone). Anything else is a stray
/// SIGTERM (`systemctl stop` signals the whole group, `pkill` every
/// rampart process), and the supervisor runs the stop itself.
async fn supervisor_dying(supervisor: i32) -> bool {
    let deadline = tokio::time::Instant::now() + DYING_WAIT;
    loop {
        if nix::unistd::getppid().as_raw() != supervisor || main_thread_ended(supervisor) {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Whether `pid`'s main thread has exited: `/proc/PID/stat` gone, or its
/// state (the field after the command name's closing parenthesis) Z or X.
fn main_thread_ended(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return true;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    matches!(state, Some("Z" | "X") | None)
}

/// The supervisor died without stopping (kill -9, the OOM killer): what it
/// held on the network must not outlive it, or once the peer takes over
/// both nodes claim the VIPs. Its parent-death signal (SIGTERM) or the
/// closed control socket brings us here within milliseconds: VIPs off,
/// forwarding back as found and the NAT table gone, as a clean stop would
/// leave them. BGP needs nothing: the supervisor's sessions closed with it,
/// and the routers withdraw its routes.
async fn clean_up_for_dead_supervisor(cfg: &rampart_config::Config) {
    tracing::error!("the supervisor is gone: removing this node's addresses and NAT");
    // Kept permitted for this alone (see rampart_sys::privilege).
    if let Err(e) = rampart_sys::privilege::raise_net_admin() {
        tracing::error!("cannot raise CAP_NET_ADMIN for the clean-up: {e}");
    }
    match crate::vrrp::remove_orphaned_addresses(cfg) {
        Ok(removed) => {
            for a in removed {
                tracing::warn!("removed {a}");
            }
        }
        Err(e) => tracing::error!("cannot remove the VRRP addresses: {e:#}"),
    }
    if cfg.gateway.is_enabled() {
        match std::env::var_os(ipc::ENV_RUNTIME_DIR) {
            Some(dir) => crate::gateway::abandon(std::path::Path::new(&dir)).await,
            None => tracing::error!("no runtime directory: forwarding and NAT left as they are"),
        }
    }
}

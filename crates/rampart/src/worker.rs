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
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(serve(control, threads))
}

async fn serve(
    control: std::os::unix::net::UnixStream,
    threads: Vec<ThreadListeners>,
) -> Result<()> {
    // Only SIGTERM (the supervisor's "drain") ends us: see signals.rs.
    // First, so that no stray signal finds its default action.
    let mut signals = crate::signals::WorkerSignals::install()?;
    let (read, mut write) = UnixStream::from_std(control)?.into_split();
    let mut lines = BufReader::new(read).lines();
    let first = lines
        .next_line()
        .await?
        .ok_or_else(|| anyhow!("supervisor closed the control socket"))?;
    let ToWorker::Start { origin, config, up } = serde_json::from_str(&first)? else {
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
    let (stop_tx, stop_rx) = watch::channel(false);
    rampart_proxy::spawn_threads(&proxy, threads, stop_rx)?;
    let _ = events_tx.send(FromWorker::Ready);
    tracing::info!(pid = std::process::id(), "worker serving");

    // Whether the loop ended because the control socket closed.
    let closed = loop {
        tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(l)) => match serde_json::from_str::<ToWorker>(&l) {
                    Ok(ToWorker::Server { backend, server, up }) => {
                        if !proxy.set_server_up(&backend, &server, up) {
                            tracing::warn!("state for unknown server {backend}/{server}");
                        }
                    }
                    Ok(other) => tracing::warn!("unexpected control message {other:?}"),
                    Err(e) => tracing::warn!("bad control message: {e}"),
                },
                // The supervisor is gone: finish what is open and leave.
                _ => break true,
            },
            Some(ev) = events_rx.recv() => {
                if write.write_all(ipc::line(&ev).as_bytes()).await.is_err() {
                    break true;
                }
            }
            _ = signals.stop() => break false,
        }
    };
    // SIGTERM is the supervisor's drain, or its parent-death signal. The
    // latter comes as soon as the thread that started us exits, while the
    // supervisor's other threads may still live (we are then the child of
    // one of them, and getppid has not changed). A dying supervisor closes
    // our control socket once its last thread is gone; a live one never
    // does: wait a moment for that.
    let closed = closed
        || tokio::time::timeout(EOF_WAIT, async {
            while let Ok(Some(_)) = lines.next_line().await {}
        })
        .await
        .is_ok();
    if closed && orphaned(REPARENT_WAIT).await {
        clean_up_for_dead_supervisor(&cfg).await;
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

/// How long a worker told to stop waits for its control socket to close,
/// to tell the supervisor's death from its drain request (see `serve`).
const EOF_WAIT: Duration = Duration::from_millis(100);

/// How long a worker whose control socket closed waits to be reparented
/// before it concludes that its supervisor lives (see [`orphaned`]).
const REPARENT_WAIT: Duration = Duration::from_millis(200);

/// Whether the supervisor that started us is gone: we were reparented.
/// A dying process closes its descriptors before its children are
/// reparented, so the control socket's EOF can come a moment before
/// `getppid` changes: wait for it a little. A live supervisor never closes
/// the control socket of a worker that still runs, so the wait is only
/// ever spent when it is dying.
async fn orphaned(wait: Duration) -> bool {
    let supervisor: i32 = std::env::var(ipc::ENV_SUPERVISOR_PID)
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(-1);
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

/// The supervisor died without stopping (kill -9, the OOM killer): what it
/// held on the network must not outlive it, or once the peer takes over
/// both nodes claim the VIPs. Its parent-death signal (SIGTERM) or the
/// closed control socket brings us here within milliseconds: VIPs off,
/// forwarding back as found and the NAT table gone, as a clean stop would
/// leave them. BGP needs nothing: the supervisor's sessions closed with it,
/// and the routers withdraw its routes.
async fn clean_up_for_dead_supervisor(cfg: &rampart_config::Config) {
    tracing::error!("the supervisor is gone: removing this node's addresses and NAT");
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

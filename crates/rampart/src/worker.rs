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

    loop {
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
                _ => break,
            },
            Some(ev) = events_rx.recv() => {
                if write.write_all(ipc::line(&ev).as_bytes()).await.is_err() {
                    break;
                }
            }
            _ = signals.stop() => break,
        }
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

//! `show stats` (and `/metrics`): the supervisor's own status, joined with
//! the worker's traffic counters, which it asks for over the IPC and
//! answers when they come (or without them after `STATS_WAIT`).

use std::collections::HashMap;

use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;
use tokio::time::{Duration, Instant};

use super::Supervisor;
use crate::control::{CheckEntry, Stats};
use crate::ipc::{self, ToWorker};

/// How long a stats request waits for the worker's counters.
const STATS_WAIT: Duration = Duration::from_secs(2);

/// Stats requests waiting for the worker: by request number.
#[derive(Default)]
pub(super) struct StatsWaits {
    next: u64,
    waits: HashMap<u64, (Stats, oneshot::Sender<Stats>, Instant)>,
}

impl Supervisor {
    /// Asks the serving worker for its counters; the answer goes out when
    /// they come (`stats_answered`) or when `expire_stats` gives up.
    pub(super) async fn request_stats(&mut self, reply: oneshot::Sender<Stats>) {
        let mut checks: Vec<CheckEntry> = self
            .health
            .reports()
            .into_iter()
            .map(|((backend, server), report)| CheckEntry {
                backend,
                server,
                report,
            })
            .collect();
        checks.sort_by(|a, b| (&a.backend, &a.server).cmp(&(&b.backend, &b.server)));
        let stats = Stats {
            status: self.status().await,
            proxy: None,
            checks,
            uptime_seconds: self.started.elapsed().as_secs_f64(),
        };
        let Some(w) = self.worker.as_mut() else {
            let _ = reply.send(stats);
            return;
        };
        self.stats_waits.next += 1;
        let n = self.stats_waits.next;
        if let Err(e) = w
            .control
            .write_all(ipc::line(&ToWorker::Stats(n)).as_bytes())
            .await
        {
            tracing::warn!(worker = w.id, "cannot ask the worker for its counters: {e}");
            let _ = reply.send(stats);
            return;
        }
        self.stats_waits
            .waits
            .insert(n, (stats, reply, Instant::now()));
    }

    /// The worker's counters for request `n`.
    pub(super) fn stats_answered(&mut self, n: u64, proxy: rampart_proxy::ProxyStats) {
        if let Some((mut stats, reply, _)) = self.stats_waits.waits.remove(&n) {
            stats.proxy = Some(proxy);
            let _ = reply.send(stats);
        }
    }

    /// Answers, without counters, requests the worker left unanswered.
    pub(super) fn expire_stats(&mut self) {
        let late: Vec<u64> = self
            .stats_waits
            .waits
            .iter()
            .filter(|(_, (_, _, since))| since.elapsed() > STATS_WAIT)
            .map(|(n, _)| *n)
            .collect();
        for n in late {
            if let Some((stats, reply, _)) = self.stats_waits.waits.remove(&n) {
                tracing::warn!("the worker did not send its counters within {STATS_WAIT:?}");
                let _ = reply.send(stats);
            }
        }
    }
}

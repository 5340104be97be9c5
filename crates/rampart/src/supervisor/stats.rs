//! Questions to the serving worker (`show stats`, `show sessions`,
//! `session kill`): each gets a number, the worker's answer carries it
//! back, and whoever asked waits on a channel (bounded by `QUERY_WAIT`),
//! so the supervisor's loop never waits for a worker.

use std::collections::HashMap;

use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;
use tokio::time::{Duration, Instant};

use super::Supervisor;
use crate::control::{Asker, CheckEntry, Stats};
use crate::ipc::{self, FromWorker, ToWorker};

/// How long a question waits for the worker's answer.
const QUERY_WAIT: Duration = Duration::from_secs(2);

/// Questions the worker has not answered yet, by number.
#[derive(Default)]
pub(super) struct Queries {
    next: u64,
    waits: HashMap<u64, (oneshot::Sender<FromWorker>, Instant)>,
}

impl Supervisor {
    /// Sends the serving worker the question `make(n)`; its answer comes
    /// on the receiver (closed without one if there is no worker, it
    /// cannot be reached, or it is late).
    async fn ask_worker(
        &mut self,
        make: impl FnOnce(u64) -> ToWorker,
    ) -> oneshot::Receiver<FromWorker> {
        let (tx, rx) = oneshot::channel();
        let Some(w) = self.worker.as_mut() else {
            return rx;
        };
        self.queries.next += 1;
        let n = self.queries.next;
        match w.control.write_all(ipc::line(&make(n)).as_bytes()).await {
            Ok(()) => {
                self.queries.waits.insert(n, (tx, Instant::now()));
            }
            Err(e) => tracing::warn!(worker = w.id, "cannot ask the worker: {e}"),
        }
        rx
    }

    /// The worker answered question `n`.
    pub(super) fn answered(&mut self, n: u64, msg: FromWorker) {
        if let Some((tx, _)) = self.queries.waits.remove(&n) {
            let _ = tx.send(msg);
        }
    }

    /// Gives up on questions the worker left unanswered.
    pub(super) fn expire_queries(&mut self) {
        let before = self.queries.waits.len();
        self.queries
            .waits
            .retain(|_, (_, since)| since.elapsed() <= QUERY_WAIT);
        if self.queries.waits.len() < before {
            tracing::warn!("the worker did not answer within {QUERY_WAIT:?}");
        }
    }

    /// `show stats`: the status and checks now, with the worker's
    /// counters when they come (without them if they do not).
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
        let mut stats = Stats {
            status: self.status().await,
            proxy: None,
            checks,
            uptime_seconds: self.started.elapsed().as_secs_f64(),
        };
        let answer = self.ask_worker(ToWorker::Stats).await;
        tokio::spawn(async move {
            if let Ok(FromWorker::Stats { stats: proxy, .. }) = answer.await {
                stats.proxy = Some(proxy);
            }
            let _ = reply.send(stats);
        });
    }

    /// `show sessions`.
    pub(super) async fn request_sessions(
        &mut self,
        reply: oneshot::Sender<Result<rampart_proxy::Sessions, String>>,
    ) {
        let answer = self.ask_worker(ToWorker::Sessions).await;
        tokio::spawn(async move {
            let _ = reply.send(match answer.await {
                Ok(FromWorker::Sessions { sessions, .. }) => Ok(sessions),
                _ => Err("the worker did not answer".into()),
            });
        });
    }

    /// `session kill ID`.
    pub(super) async fn kill_session(
        &mut self,
        id: u64,
        who: Asker,
        reply: oneshot::Sender<Result<String, String>>,
    ) {
        let answer = self.ask_worker(|n| ToWorker::Kill { n, id }).await;
        tokio::spawn(async move {
            let _ = reply.send(match answer.await {
                Ok(FromWorker::Killed { count: 1.., .. }) => {
                    let line = format!("session {id} closed");
                    tracing::warn!("{line} (asked by {who})");
                    Ok(line)
                }
                Ok(_) => Err(format!("no session {id} (it may have ended)")),
                Err(_) => Err("the worker did not answer".into()),
            });
        });
    }
}

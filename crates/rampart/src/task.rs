//! What the supervisor keeps of a control-plane task (the VRRP and BGP
//! drivers): a way to ask for its status and to stop it gracefully, and
//! the timer helper both drivers' loops use.

use std::future::Future;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

/// The task's side: where stop and status requests arrive. A stop request
/// carries the sender to answer once the task has finished stopping.
pub struct Inbox<S> {
    pub stop: oneshot::Receiver<oneshot::Sender<()>>,
    pub status: mpsc::UnboundedReceiver<oneshot::Sender<S>>,
}

/// The supervisor's side of a running task.
pub struct TaskHandle<S> {
    stop: Option<oneshot::Sender<oneshot::Sender<()>>>,
    status: mpsc::UnboundedSender<oneshot::Sender<S>>,
    task: tokio::task::JoinHandle<()>,
}

impl<S: Default + Send + 'static> TaskHandle<S> {
    /// Spawns the future `run` makes from its inbox.
    pub fn spawn<F>(run: impl FnOnce(Inbox<S>) -> F) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let (stop_tx, stop) = oneshot::channel();
        let (status_tx, status) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(Inbox { stop, status }));
        TaskHandle {
            stop: Some(stop_tx),
            status: status_tx,
            task,
        }
    }

    /// The task's status (the default if it has ended).
    pub async fn status(&self) -> S {
        let (tx, rx) = oneshot::channel();
        if self.status.send(tx).is_err() {
            return S::default();
        }
        rx.await.unwrap_or_default()
    }

    /// Asks the task to stop gracefully and waits until it has.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let (tx, rx) = oneshot::channel();
            if stop.send(tx).is_ok() {
                let _ = rx.await;
            }
        }
        let _ = self.task.await;
    }
}

/// A tokio deadline for a sans-IO core's `poll_timeout`; with none, a day
/// away (the select branch is also disabled then).
pub fn deadline(at: Option<std::time::Instant>) -> tokio::time::Instant {
    at.map_or_else(
        || tokio::time::Instant::now() + Duration::from_secs(86_400),
        tokio::time::Instant::from_std,
    )
}

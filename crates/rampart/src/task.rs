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
    /// Resolves (Ok or Err) once the task has ended, wherever it ran.
    done: oneshot::Receiver<()>,
    /// `done` has resolved (it must not be polled again).
    ended: bool,
}

impl<S: Default + Send + 'static> TaskHandle<S> {
    /// Spawns the future `run` makes from its inbox on the current runtime.
    pub fn spawn<F>(run: impl FnOnce(Inbox<S>) -> F) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let (handle, inbox, done) = Self::parts();
        let task = run(inbox);
        tokio::spawn(async move {
            task.await;
            let _ = done.send(());
        });
        handle
    }

    /// Runs the future `run` makes on a thread of its own, with a runtime
    /// of its own: nothing the supervisor's runtime does (health checks of
    /// thousands of servers, reloads, status requests, forks for hooks)
    /// can hold its timers back. `run` is called on that thread, so the
    /// sockets it registers belong to that runtime.
    pub fn spawn_thread<F>(
        name: &str,
        run: impl FnOnce(Inbox<S>) -> F + Send + 'static,
    ) -> std::io::Result<Self>
    where
        F: Future<Output = ()> + 'static,
    {
        let (handle, inbox, done) = Self::parts();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                rt.block_on(run(inbox));
                let _ = done.send(());
            })?;
        Ok(handle)
    }

    fn parts() -> (Self, Inbox<S>, oneshot::Sender<()>) {
        let (stop_tx, stop) = oneshot::channel();
        let (status_tx, status) = mpsc::unbounded_channel();
        let (done_tx, done) = oneshot::channel();
        let handle = TaskHandle {
            stop: Some(stop_tx),
            status: status_tx,
            done,
            ended: false,
        };
        (handle, Inbox { stop, status }, done_tx)
    }

    /// The task's status (the default if it has ended).
    pub async fn status(&self) -> S {
        let (tx, rx) = oneshot::channel();
        if self.status.send(tx).is_err() {
            return S::default();
        }
        rx.await.unwrap_or_default()
    }

    /// Resolves when the task has ended without being asked to stop (it
    /// panicked); never otherwise. Cancel-safe; once it has resolved, it
    /// never resolves again.
    pub async fn ended(&mut self) {
        if self.stop.is_none() || self.ended {
            return std::future::pending().await;
        }
        let _ = (&mut self.done).await;
        self.ended = true;
    }

    /// Asks the task to stop gracefully and waits until it has.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let (tx, rx) = oneshot::channel();
            if stop.send(tx).is_ok() {
                let _ = rx.await;
            }
        }
        // Err: the task ended without a word (it panicked): done as well.
        if !self.ended {
            let _ = self.done.await;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A task on its own thread that panics is noticed (`ended`), and one
    /// that is stopped is not mistaken for it.
    #[tokio::test]
    async fn a_panicking_thread_task_is_noticed_and_a_stopped_one_is_not() {
        let mut crashing = TaskHandle::<u8>::spawn_thread("t-crash", |_inbox| async {
            panic!("the driver broke");
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let noticed = tokio::time::timeout(Duration::from_secs(5), crashing.ended()).await;
        assert!(noticed.is_ok(), "a panicked task went unnoticed");
        // Stopping it afterwards returns at once.
        tokio::time::timeout(Duration::from_secs(5), crashing.stop())
            .await
            .unwrap_or_else(|_| panic!("stop hung after the panic"));

        let mut healthy = TaskHandle::<u8>::spawn_thread("t-ok", |inbox| async move {
            let Inbox { stop, .. } = inbox;
            if let Ok(reply) = stop.await {
                let _ = reply.send(());
            }
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let early = tokio::time::timeout(Duration::from_millis(200), healthy.ended()).await;
        assert!(early.is_err(), "a running task was reported ended");
        tokio::time::timeout(Duration::from_secs(5), healthy.stop())
            .await
            .unwrap_or_else(|_| panic!("stop hung"));
    }
}

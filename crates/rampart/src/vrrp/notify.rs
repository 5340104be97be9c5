//! Notify hooks: programs run on state changes, as keepalived's
//! `notify_master` / `notify_backup` / `notify_fault` / `notify_stop` /
//! `notify`. No shell is involved: the configured argv is executed with
//! the instance (or group) name, the new state and the priority appended.
//! Hooks run one at a time and in order, each with a time limit, so a
//! hook for "backup" never overtakes the one for "master" before it.

use std::time::Duration;

use rampart_config::Notify;
use rampart_vrrp::State;
use tokio::process::Command;
use tokio::sync::mpsc;

/// One hook run to do.
#[derive(Debug)]
struct Job {
    argv: Vec<String>,
}

/// Queue of hook runs, served by one task.
#[derive(Clone)]
pub struct Notifier {
    tx: mpsc::UnboundedSender<Job>,
}

impl Notifier {
    /// Starts the task that runs hooks, each bounded by `timeout`.
    pub fn start(timeout: Duration) -> (Notifier, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
        let task = tokio::spawn(async move {
            while let Some(job) = rx.recv().await {
                run(job, timeout).await;
            }
        });
        (Notifier { tx }, task)
    }

    /// Queues the hooks of `notify` for a change to `state`: the one for
    /// that state, then the catch-all `any`. Instances pass their priority;
    /// sync groups have none (as in keepalived, their hooks get two
    /// arguments).
    pub fn state_changed(&self, notify: &Notify, name: &str, state: State, priority: Option<u8>) {
        let specific = match state {
            State::Master => &notify.master,
            State::Backup => &notify.backup,
            State::Fault => &notify.fault,
            State::Stopped => &notify.stop,
            State::Initialize | State::Stopping => &None,
        };
        let mut args = vec![name.to_string(), state.as_str().to_string()];
        args.extend(priority.map(|p| p.to_string()));
        for argv in [specific, &notify.any].into_iter().flatten() {
            let mut argv = argv.clone();
            argv.extend(args.iter().cloned());
            let _ = self.tx.send(Job { argv });
        }
    }
}

async fn run(job: Job, timeout: Duration) {
    let Some((program, args)) = job.argv.split_first() else {
        return;
    };
    let child = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return tracing::warn!(hook = %program, "cannot run notify hook: {e}"),
    };
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) if status.success() => {
            tracing::debug!(hook = %program, args = ?args, "notify hook done")
        }
        Ok(Ok(status)) => {
            tracing::warn!(hook = %program, args = ?args, "notify hook failed: {status}")
        }
        Ok(Err(e)) => tracing::warn!(hook = %program, "notify hook: {e}"),
        Err(_) => {
            let _ = child.kill().await;
            tracing::warn!(hook = %program, "notify hook killed after {timeout:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hooks_run_in_order_with_arguments_and_a_time_limit() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let script = dir.path().join("hook.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"$*\" >> {}\n[ \"$1\" = slow ] && sleep 5\nexit 0\n",
                log.display()
            ),
        )
        .unwrap();
        let mut perm = std::fs::metadata(&script).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
        std::fs::set_permissions(&script, perm).unwrap();
        let hook = vec![script.display().to_string(), "tag".to_string()];
        let notify = Notify {
            master: Some(hook.clone()),
            any: Some(vec![script.display().to_string()]),
            ..Notify::default()
        };
        let slow = Notify {
            any: Some(vec![script.display().to_string(), "slow".to_string()]),
            ..Notify::default()
        };
        let (n, task) = Notifier::start(Duration::from_millis(300));
        n.state_changed(&notify, "VI_1", State::Master, Some(101));
        n.state_changed(&slow, "VI_1", State::Backup, Some(100));
        n.state_changed(&notify, "VG_1", State::Backup, None);
        drop(n);
        let started = std::time::Instant::now();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .unwrap()
            .unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the slow hook was cut short"
        );
        let text = std::fs::read_to_string(&log).unwrap();
        assert_eq!(
            text.lines().collect::<Vec<_>>(),
            vec![
                "tag VI_1 master 101",
                "VI_1 master 101",
                "slow VI_1 backup 100",
                "VG_1 backup",
            ]
        );
    }
}

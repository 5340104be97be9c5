//! Notify hooks: programs run on state changes, as keepalived's
//! `notify_master` / `notify_backup` / `notify_fault` / `notify_stop` /
//! `notify`. No shell is involved: the configured argv is executed with
//! the arguments its [`NotifyStyle`] adds ([`runs`]). Hooks run one at a
//! time and in order, each with a time limit, so a hook for "backup"
//! never overtakes the one for "master" before it.

use std::io;
use std::time::Duration;

use rampart_config::{Notify, NotifyStyle};
use rampart_vrrp::State;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// Attempts to start a hook or script whose file is busy (ETXTBSY).
const BUSY_ATTEMPTS: u32 = 6;
/// The wait after the first busy attempt, doubled after each (10 ms to
/// 160 ms, 310 ms in all): the file is busy only while some process holds it
/// open for writing, which is brief.
const BUSY_BACKOFF: Duration = Duration::from_millis(10);

/// One hook run to do.
#[derive(Debug)]
struct Job {
    argv: Vec<String>,
    timeout: Duration,
}

/// Queue of hook runs, served by one task.
#[derive(Clone)]
pub struct Notifier {
    tx: mpsc::UnboundedSender<Job>,
    /// Bound on each run; a reload may change it (for runs queued after).
    timeout: Duration,
}

impl Notifier {
    /// Starts the task that runs hooks, each bounded by `timeout`.
    pub fn start(timeout: Duration) -> (Notifier, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
        let task = tokio::spawn(async move {
            while let Some(job) = rx.recv().await {
                run(job).await;
            }
        });
        (Notifier { tx, timeout }, task)
    }

    /// `[vrrp] notify_timeout` after a reload.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Queues the hooks of `notify` for a change to `state`: the one for
    /// that state, then the catch-all `any`. Instances pass their priority;
    /// sync groups have none.
    pub fn state_changed(&self, notify: &Notify, name: &str, state: State, priority: Option<u8>) {
        for argv in runs(notify, name, state, priority) {
            let _ = self.tx.send(Job {
                argv,
                timeout: self.timeout,
            });
        }
    }
}

/// The argvs to run, in order, for a change of instance (with its
/// `priority`) or sync group (without) `name` to `state`.
///
/// - [`NotifyStyle::Rampart`]: every hook gets `NAME STATE [PRIORITY]`.
/// - [`NotifyStyle::Keepalived`], as keepalived's `vrrp_notify.c` does:
///   the state's own hook runs as written; `any` (its `notify`) gets
///   `INSTANCE|GROUP NAME STATE PRIORITY`, the state in upper case and
///   the priority 0 for a group. keepalived has no hook for the passing
///   states (init, stopping), so neither kind runs for them.
pub(super) fn runs(
    notify: &Notify,
    name: &str,
    state: State,
    priority: Option<u8>,
) -> Vec<Vec<String>> {
    let specific = match state {
        State::Master => &notify.master,
        State::Backup => &notify.backup,
        State::Fault => &notify.fault,
        State::Stopped => &notify.stop,
        State::Initialize | State::Stopping => &None,
    };
    let with = |argv: &Vec<String>, args: &[String]| {
        let mut argv = argv.clone();
        argv.extend(args.iter().cloned());
        argv
    };
    match notify.style {
        NotifyStyle::Rampart => {
            let mut args = vec![name.to_string(), state.as_str().to_string()];
            args.extend(priority.map(|p| p.to_string()));
            [specific, &notify.any]
                .into_iter()
                .flatten()
                .map(|argv| with(argv, &args))
                .collect()
        }
        NotifyStyle::Keepalived => {
            if matches!(state, State::Initialize | State::Stopping) {
                return Vec::new();
            }
            let args = [
                if priority.is_some() {
                    "INSTANCE"
                } else {
                    "GROUP"
                }
                .to_string(),
                name.to_string(),
                state.as_str().to_ascii_uppercase(),
                priority.unwrap_or(0).to_string(),
            ];
            let mut out: Vec<Vec<String>> = specific.iter().cloned().collect();
            out.extend(notify.any.iter().map(|argv| with(argv, &args)));
            out
        }
    }
}

/// Starts `cmd`, retrying while its program file is busy (ETXTBSY). A file
/// is busy while any process holds it open for writing: an operator's
/// editor saving the hook at that moment, or — the usual case — a child
/// forked by another thread in the instant between its fork and its exec,
/// holding a copy of every descriptor the parent had open, including a
/// script another thread has just written. Either passes within
/// milliseconds; failing at once would skip the hook for good.
pub(super) async fn spawn(cmd: &mut Command) -> io::Result<Child> {
    let mut wait = BUSY_BACKOFF;
    let mut attempt = 1;
    loop {
        match cmd.spawn() {
            Err(e) if is_busy(&e) && attempt < BUSY_ATTEMPTS => {
                tokio::time::sleep(wait).await;
                wait *= 2;
                attempt += 1;
            }
            result => return result,
        }
    }
}

fn is_busy(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::ExecutableFileBusy
        || e.raw_os_error() == Some(nix::errno::Errno::ETXTBSY as i32)
}

async fn run(job: Job) {
    let timeout = job.timeout;
    let Some((program, args)) = job.argv.split_first() else {
        return;
    };
    let child = spawn(
        Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true),
    )
    .await;
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

    /// Writes an executable script: the file is closed before it is made
    /// executable and before anything runs it.
    fn write_script(path: &std::path::Path, text: &str) {
        std::fs::write(path, text).unwrap();
        let perm = std::os::unix::fs::PermissionsExt::from_mode(0o755);
        std::fs::set_permissions(path, perm).unwrap();
    }

    #[tokio::test]
    async fn a_hook_whose_file_is_busy_for_a_moment_still_runs() {
        let dir = tempfile::tempdir().unwrap();
        let ran = dir.path().join("ran");
        let hook = dir.path().join("hook.sh");
        write_script(&hook, "#!/bin/sh\ntouch \"$1\"\n");
        // Held open for writing, the file cannot be executed (ETXTBSY),
        // as when a child forked by another thread still holds it.
        let writer = std::fs::OpenOptions::new().write(true).open(&hook).unwrap();
        let e = std::process::Command::new(&hook)
            .arg(&ran)
            .spawn()
            .unwrap_err();
        assert!(is_busy(&e), "{e}");
        let release = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            drop(writer);
        });
        let mut child = spawn(Command::new(&hook).arg(&ran)).await.unwrap();
        assert!(child.wait().await.unwrap().success());
        assert!(ran.exists());
        release.await.unwrap();
    }

    #[tokio::test]
    async fn hooks_run_in_order_with_arguments_and_a_time_limit() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let script = dir.path().join("hook.sh");
        write_script(
            &script,
            &format!(
                "#!/bin/sh\necho \"$*\" >> {}\n[ \"$1\" = slow ] && sleep 5\nexit 0\n",
                log.display()
            ),
        );
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

    /// A keepalived.conf's hooks, imported, get what keepalived gives
    /// them: `notify_master` and the others nothing, `notify` four
    /// arguments (vrrp_notify.c: `script {GROUP|INSTANCE} NAME
    /// {MASTER|BACKUP|FAULT|STOP} PRIO`, the priority 0 for a group).
    #[tokio::test]
    async fn keepalived_style_hooks_get_keepalived_arguments() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let script = dir.path().join("notify.sh");
        write_script(
            &script,
            &format!("#!/bin/sh\necho \"$# $*\" >> {}\n", log.display()),
        );
        let s = script.display().to_string();
        let text = format!(
            "vrrp_instance VI_1 {{\n interface eth0\n virtual_router_id 51\n priority 150\n\
             virtual_ipaddress {{\n  10.0.0.10\n }}\n notify_master \"{s} up\"\n\
             notify_backup {s}\n notify {s}\n}}\n\
             vrrp_instance VI_2 {{\n interface eth0\n virtual_router_id 52\n\
             virtual_ipaddress {{\n  10.0.0.11\n }}\n}}\n\
             vrrp_sync_group G {{\n group {{\n  VI_1\n  VI_2\n }}\n notify \"{s} group-hook\"\n\
             notify_fault \"{s} gfault\"\n}}\n"
        );
        let imported = rampart_config::import_keepalived("k.conf", &text, None).unwrap();
        let cfg = rampart_config::parse("i.toml", &imported.toml).unwrap();
        let (n, task) = Notifier::start(Duration::from_secs(5));
        let vi = &cfg.vrrp.instances[0].notify;
        let group = &cfg.vrrp.sync_groups[0].notify;
        n.state_changed(vi, "VI_1", State::Master, Some(150));
        n.state_changed(vi, "VI_1", State::Backup, Some(150));
        n.state_changed(vi, "VI_1", State::Fault, Some(150));
        n.state_changed(vi, "VI_1", State::Stopping, Some(0));
        n.state_changed(vi, "VI_1", State::Stopped, Some(0));
        n.state_changed(group, "G", State::Fault, None);
        drop(n);
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .unwrap()
            .unwrap();
        let text = std::fs::read_to_string(&log).unwrap();
        assert_eq!(
            text.lines().collect::<Vec<_>>(),
            [
                "1 up",
                "4 INSTANCE VI_1 MASTER 150",
                "0 ",
                "4 INSTANCE VI_1 BACKUP 150",
                "4 INSTANCE VI_1 FAULT 150",
                "4 INSTANCE VI_1 STOP 0",
                "1 gfault",
                "5 group-hook GROUP G FAULT 0",
            ]
        );
    }

    #[test]
    fn rampart_style_appends_name_state_and_priority_to_every_hook() {
        let notify = Notify {
            master: Some(vec!["/m".into()]),
            any: Some(vec!["/a".into(), "x".into()]),
            ..Notify::default()
        };
        assert_eq!(
            runs(&notify, "VI_1", State::Master, Some(101)),
            [
                vec!["/m", "VI_1", "master", "101"],
                vec!["/a", "x", "VI_1", "master", "101"]
            ]
        );
        assert_eq!(
            runs(&notify, "G", State::Backup, None),
            [vec!["/a", "x", "G", "backup"]]
        );
    }
}

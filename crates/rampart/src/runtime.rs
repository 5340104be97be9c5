//! The runtime directory (`--runtime-dir`, default `/run/rampart`): what a
//! running node keeps outside its config. One node per directory:
//!
//! - `rampart.lock`: an exclusive `flock` held for the supervisor's whole
//!   life, with its pid inside (for the message a second node prints). A
//!   lock, not a pid file: the kernel drops it when the process dies, even
//!   by SIGKILL, so a stale file never blocks a restart. Without it two
//!   `rampart run` on one host would share the ports through SO_REUSEPORT
//!   and each claim the VIPs;
//! - `rampart.sock`: the control socket, unless `--control` moves it;
//! - `gateway-net<N>.forwarding`: forwarding values found before
//!   `[gateway]` changed them (see `gateway.rs`);
//! - `nat.table`: present while a `mode = "nat"` table may be in place, so
//!   that a start without NAT frontends runs nft only to remove one a
//!   killed run left (see `nat/mod.rs`).

use std::fs::{DirBuilder, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Where `rampart run` keeps its lock, control socket and state files,
/// unless told: tmpfs, so nothing survives a reboot that should not.
pub const DEFAULT_DIR: &str = "/run/rampart";
/// Under `$XDG_RUNTIME_DIR` for a user other than root, who cannot write
/// /run (a loopback-only quickstart needs no root).
const USER_SUBDIR: &str = "rampart";
const LOCK_FILE: &str = "rampart.lock";
const SOCKET_FILE: &str = "rampart.sock";

/// The runtime directory given, or the default: `/run/rampart` for root,
/// `$XDG_RUNTIME_DIR/rampart` for another user who has one. `run`,
/// `status` and `reload` agree on it, so they find each other unprompted.
pub fn dir(given: Option<PathBuf>) -> PathBuf {
    given.unwrap_or_else(|| {
        default_dir(
            nix::unistd::geteuid().is_root(),
            std::env::var_os("XDG_RUNTIME_DIR"),
        )
    })
}

fn default_dir(root: bool, xdg: Option<std::ffi::OsString>) -> PathBuf {
    match xdg {
        Some(x) if !root && !x.is_empty() => PathBuf::from(x).join(USER_SUBDIR),
        _ => PathBuf::from(DEFAULT_DIR),
    }
}

/// The control socket: `--control` if given, else `<runtime dir>/rampart.sock`.
pub fn control_path(control: Option<PathBuf>, runtime_dir: &Path) -> PathBuf {
    control.unwrap_or_else(|| runtime_dir.join(SOCKET_FILE))
}

/// The held lock; dropping it (or exiting) releases it.
#[derive(Debug)]
pub struct Lock {
    file: File,
}

impl Lock {
    /// The lock a previous program of this process held (`rampart
    /// upgrade`): the same open file, so the same flock.
    pub fn adopt(fd: std::os::fd::OwnedFd) -> Lock {
        Lock {
            file: File::from(fd),
        }
    }

    /// The lock's descriptor, for a worker to inherit (see
    /// `ipc::ENV_LOCK_FD`): a flock belongs to the open file, so it is held
    /// until every process that has it has closed it.
    pub fn as_raw_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.file)
    }
}

/// How long `run` waits for the lock before giving up: long enough for
/// the worker of a killed node to finish its clean-up (see `worker.rs`),
/// short enough that a second node on the same directory is told at once.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Takes the runtime directory for this process, creating it if needed.
/// Fails, naming the holder's pid, if another node holds it.
pub fn lock(dir: &Path) -> Result<Lock> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .with_context(|| {
            format!(
                "cannot create runtime directory {} (choose another with --runtime-dir)",
                dir.display()
            )
        })?;
    let path = dir.join(LOCK_FILE);
    // Opened without truncating: the pid in it belongs to the holder until
    // we hold the lock ourselves. The descriptor is close-on-exec (std's
    // default); workers are handed it on purpose (`Lock::as_raw_fd`).
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .open(&path)
        .with_context(|| {
            format!(
                "cannot open {} (choose another runtime directory with --runtime-dir)",
                path.display()
            )
        })?;
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    let taken = loop {
        match file.try_lock() {
            Err(TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            other => break other,
        }
    };
    match taken {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = match pid.trim() {
                "" => "unknown".to_string(),
                p => p.to_string(),
            };
            bail!(
                "another rampart (pid {pid}) is running with runtime directory {}; \
                 give this one its own with --runtime-dir",
                dir.display()
            );
        }
        Err(TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", path.display()));
        }
    }
    file.set_len(0)?;
    file.rewind()?;
    writeln!(file, "{}", std::process::id())?;
    Ok(Lock { file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_directory_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let held = lock(&run).unwrap();
        // flock locks belong to the open file: a second open in this same
        // process conflicts just as another process's would.
        let err = format!("{:#}", lock(&run).unwrap_err());
        assert!(
            err.contains(&format!("pid {}", std::process::id())) && err.contains("run"),
            "{err}"
        );
        drop(held);
        let again = lock(&run);
        assert!(again.is_ok(), "released with its holder: {again:?}");
    }

    #[test]
    fn the_socket_lives_in_the_runtime_directory_unless_moved() {
        let d = default_dir(true, Some("/run/user/1000".into()));
        assert_eq!(
            default_dir(false, Some("/run/user/1000".into())),
            Path::new("/run/user/1000/rampart")
        );
        assert_eq!(default_dir(false, None), Path::new(DEFAULT_DIR));
        assert_eq!(
            control_path(None, &d),
            Path::new("/run/rampart/rampart.sock")
        );
        assert_eq!(
            control_path(Some("/tmp/x.sock".into()), &d),
            Path::new("/tmp/x.sock")
        );
    }
}

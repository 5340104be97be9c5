//! `rampart upgrade`: the supervisor replaces its own program with the
//! binary now installed at its path, without a failed request, a VRRP
//! transition or a BGP reset. HAProxy's master re-executes itself the same
//! way; keepalived and BIRD have no equivalent (a restart costs an
//! election or a route flap).
//!
//! The supervisor `exec`s the new binary in place: the pid stays (systemd's
//! main pid, the worker's parent), and the descriptors it hands over stay
//! open across the exec:
//! - the listening sockets (the kernel keeps queueing connections);
//! - the running worker's control socket: the worker never notices, keeps
//!   serving, and is told to drain once the new binary's worker is ready;
//! - each Established BGP session's connection, with its state
//!   (`rampart_bgp::Handover`): the routers see a KEEPALIVE, no reset;
//! - the control socket and the runtime directory's lock;
//! - the health state (servers up), so the new worker serves at once;
//! - each VRRP instance's state: the driver is frozen (no advert, no
//!   address change) just before the exec, and the new program resumes
//!   every instance in that state without a transition, its addresses
//!   left in place (`Node::resume`).
//!
//! The rest goes in a JSON document in a memfd, whose number is passed as
//! the hidden `run --upgrade-fd N`. Before the exec the new binary must
//! run (`--version`) and accept the config (`check`); if the exec itself
//! fails, the sessions are taken back and the node goes on as it was.

use std::ffi::CString;
use std::io::{Read, Seek, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};

use super::Supervisor;
use crate::bgp::Taken;
use crate::ipc;

/// What crosses the exec, besides the descriptors themselves (named here
/// by number).
#[derive(Debug, Serialize, Deserialize)]
pub struct Inherited {
    /// The version that handed over, for the log.
    pub from_version: String,
    /// Upgrades since the node started (this one included).
    pub upgrades: u32,
    /// The config text this program ran: the new one runs it too (a
    /// changed file is a reload's business, with its checks).
    #[serde(default)]
    pub config: String,
    pub lock_fd: RawFd,
    pub control_fd: RawFd,
    /// (address, thread slot, descriptor).
    pub listeners: Vec<(SocketAddr, usize, RawFd)>,
    /// The serving worker: (id, pid, control socket).
    pub worker: Option<(u64, u32, RawFd)>,
    /// Servers up, as (backend, server).
    pub up: Vec<(String, String)>,
    pub bgp: Vec<BgpSession>,
    /// Each VRRP instance's state, when VRRP runs.
    #[serde(default)]
    pub vrrp: Option<crate::vrrp::States>,
    /// The operator's state (servers, frontends, BGP neighbors), as
    /// `Admins::handover` writes it.
    #[serde(default)]
    pub admin: Option<String>,
}

/// An Established BGP session (`rampart_bgp::Handover`) and its socket.
#[derive(Debug, Serialize, Deserialize)]
pub struct BgpSession {
    pub name: String,
    pub fd: RawFd,
    pub peer_open: Vec<u8>,
    pub local_addr: IpAddr,
    /// Whether this node opened the connection.
    pub local_initiator: bool,
    pub pending: Vec<u8>,
    /// Prefixes, as text.
    pub exported: Vec<String>,
    /// The neighbor's BFD session, which goes on too.
    #[serde(default)]
    pub bfd: Option<crate::bfd::Handed>,
}

/// The descriptors of an [`Inherited`], owned again.
pub struct Adopted {
    pub state: Inherited,
    pub lock: OwnedFd,
    pub control: OwnedFd,
    pub listeners: Vec<(SocketAddr, usize, OwnedFd)>,
    pub worker: Option<(u64, u32, OwnedFd)>,
    pub bgp: Vec<Taken>,
}

/// The binary to upgrade to: the one at the path this process was started
/// from, which a package upgrade has replaced (`/proc/self/exe` then reads
/// "PATH (deleted)").
pub fn installed_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find this program's path")?;
    let text = exe.to_string_lossy();
    Ok(PathBuf::from(
        text.strip_suffix(" (deleted)").unwrap_or(&text).to_string(),
    ))
}

/// Whether the binary at this program's path is another file than the
/// one running (a package upgrade replaced it).
pub fn binary_replaced() -> bool {
    std::env::current_exe().is_ok_and(|p| p.to_string_lossy().ends_with(" (deleted)"))
}

/// Reads what the previous program handed over (`--upgrade-fd`).
pub(crate) fn adopt(fd: RawFd) -> Result<Adopted> {
    let memfd = rampart_sys::fds::inherited_fd(fd).context("upgrade state descriptor")?;
    let mut file = std::fs::File::from(memfd);
    file.rewind()?;
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    let state: Inherited = serde_json::from_str(&text).context("upgrade state")?;
    let take = |fd: RawFd, what: &str| {
        rampart_sys::fds::inherited_fd(fd).with_context(|| format!("inherited {what} (fd {fd})"))
    };
    let lock = take(state.lock_fd, "lock")?;
    let control = take(state.control_fd, "control socket")?;
    let mut listeners = Vec::new();
    for &(addr, t, fd) in &state.listeners {
        listeners.push((addr, t, take(fd, "listening socket")?));
    }
    let worker = match state.worker {
        Some((id, pid, fd)) => Some((id, pid, take(fd, "worker control socket")?)),
        None => None,
    };
    let mut bgp = Vec::new();
    for s in &state.bgp {
        bgp.push(Taken {
            name: s.name.clone(),
            handover: rampart_bgp::Handover {
                peer_open: s.peer_open.clone(),
                local_addr: s.local_addr,
                initiator: if s.local_initiator {
                    rampart_bgp::Initiator::Local
                } else {
                    rampart_bgp::Initiator::Remote
                },
                pending: s.pending.clone(),
                exported: s.exported.iter().filter_map(|p| p.parse().ok()).collect(),
            },
            fd: take(s.fd, "BGP connection")?,
            bfd: s.bfd,
        });
    }
    Ok(Adopted {
        state,
        lock,
        control,
        listeners,
        worker,
        bgp,
    })
}

/// How long every BGP neighbor task may take to hand its session over (one
/// blocked writing to a router that does not read is left out: its session
/// then closes with the exec, and the new program opens it again).
const HANDOVER_WAIT: Duration = Duration::from_secs(1);
/// How long the VRRP driver may take to freeze.
const FREEZE_WAIT: Duration = Duration::from_secs(1);
/// How long each preflight run of the new binary may take.
const PREFLIGHT_WAIT: Duration = Duration::from_secs(10);
/// Time for the log writer thread to write what was logged before the
/// exec (which would lose it). Spent before VRRP is frozen.
const LOG_SETTLE: Duration = Duration::from_millis(20);

/// The signals with a meaning to the supervisor (stop, reload, dumps):
/// blocked across the exec, so that one that comes meanwhile waits for the
/// new program's handlers instead of taking its default action (death,
/// with the VIPs left on the interface).
fn handled_signals() -> SigSet {
    let mut set = SigSet::empty();
    for sig in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGHUP,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
    ] {
        set.add(sig);
    }
    set
}

/// Unblocks what [`exec`] blocked: in the new program once its handlers
/// are installed, or here if the exec failed.
pub fn unblock_signals() {
    let _ = pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(&handled_signals()), None);
}

impl Supervisor {
    /// `rampart upgrade` (or a reload after the binary was replaced): the
    /// client is answered only if the upgrade fails.
    pub(super) async fn upgrade_for(&mut self, waiter: crate::reload::Waiter) {
        if let Err(e) = self.upgrade().await {
            tracing::error!("upgrade failed: {e:#}; this program goes on");
            super::conclude(
                vec![waiter],
                crate::reload::ReloadOutcome::failed(format!("upgrade failed: {e:#}")),
            );
        }
    }

    /// Replaces this program with the installed binary; returns only if
    /// that did not happen (the node then goes on as before), with why.
    async fn upgrade(&mut self) -> Result<()> {
        if self.pending.is_some() {
            bail!("a reload is under way: upgrade once it is done");
        }
        if self.adopted.is_some() || self.draining.count() > 0 {
            bail!("a previous worker is still draining (up to `grace`): upgrade once it is done");
        }
        let binary = installed_binary()?;
        preflight(&binary, &self.text, &self.runtime_dir).await?;
        let control_fd = self
            .control_fd
            .ok_or_else(|| anyhow!("the control socket is not open"))?;
        let worker = self
            .worker
            .as_ref()
            .and_then(|w| Some((w.id, w.child.id()?, w.control.as_ref().as_raw_fd())));
        self.systemd.reloading();
        tracing::info!("upgrading: executing {}", binary.display());
        tokio::time::sleep(LOG_SETTLE).await;
        // BGP first (a router may be slow to read); VRRP last, so that it is
        // silent for the exec alone.
        let bgp = match &self.bgp {
            Some(b) => b.handover(HANDOVER_WAIT).await,
            None => Vec::new(),
        };
        // From the freeze until the new program has resumed VRRP, this
        // thread must not wait for a CPU: at real-time priority (kept
        // across the exec; the new program returns to normal once VRRP
        // runs), a loaded machine cannot stretch the silence past the
        // peer's Master_Down interval.
        let realtime =
            rampart_sys::limits::set_thread_realtime(rampart_sys::limits::VRRP_RT_PRIORITY).is_ok();
        let normal = || {
            if realtime {
                let _ = rampart_sys::limits::set_thread_normal();
            }
        };
        let frozen = match &self.vrrp {
            Some(v) => match tokio::time::timeout(FREEZE_WAIT, v.freeze()).await {
                Ok(Some(frozen)) => Some(frozen),
                _ => {
                    normal();
                    self.take_back(bgp);
                    bail!("the VRRP driver did not freeze within {FREEZE_WAIT:?}");
                }
            },
            None => None,
        };
        // A removed instance still handing over (priority 0 sent, addresses
        // held until the peer answers) is in no config: the new program
        // could never take its addresses down.
        if let Some((states, _)) = &frozen
            && let Some(name) = states
                .iter()
                .find(|(_, st)| st.as_str() == "stopping")
                .map(|(n, _)| n.clone())
        {
            drop(frozen);
            normal();
            self.take_back(bgp);
            bail!("VRRP instance {name} is still handing over: upgrade in a moment");
        }
        let (vrrp, thaw) = match frozen {
            Some((states, thaw)) => (Some(states), Some(thaw)),
            None => (None, None),
        };
        let state = Inherited {
            from_version: env!("CARGO_PKG_VERSION").to_string(),
            upgrades: self.upgrades + 1,
            config: self.text.clone(),
            lock_fd: self.lock_fd,
            control_fd,
            listeners: self
                .sockets
                .iter()
                .map(|(&(addr, t), l)| (addr, t, l.as_raw_fd()))
                .collect(),
            worker,
            up: self.health.up_servers(),
            bgp: bgp
                .iter()
                .map(|t| BgpSession {
                    name: t.name.clone(),
                    fd: t.fd.as_raw_fd(),
                    peer_open: t.handover.peer_open.clone(),
                    local_addr: t.handover.local_addr,
                    local_initiator: t.handover.initiator == rampart_bgp::Initiator::Local,
                    pending: t.handover.pending.clone(),
                    exported: t.handover.exported.iter().map(|p| p.to_string()).collect(),
                    bfd: t.bfd,
                })
                .collect(),
            vrrp,
            admin: Some(self.admins.handover()),
        };
        let err = exec(&binary, &state);
        // Still here: the exec failed. Take everything back.
        normal();
        drop(thaw);
        self.take_back(bgp);
        Err(err)
    }

    /// The exec did not happen: the BGP sessions handed over run here
    /// again, and systemd hears that the node is ready.
    fn take_back(&self, bgp: Vec<Taken>) {
        if let Some(b) = &self.bgp
            && !bgp.is_empty()
        {
            b.adopt(bgp);
        }
        self.systemd.ready();
    }
}

/// The new binary runs and accepts the running config, or the upgrade
/// stops here. Each run is bounded: a binary that hangs is no upgrade.
async fn preflight(binary: &Path, config: &str, runtime_dir: &Path) -> Result<()> {
    let run = |args: Vec<std::ffi::OsString>| async move {
        let mut cmd = tokio::process::Command::new(binary);
        cmd.args(&args).kill_on_drop(true);
        match tokio::time::timeout(PREFLIGHT_WAIT, cmd.output()).await {
            Ok(out) => out.with_context(|| format!("cannot run {}", binary.display())),
            Err(_) => Err(anyhow!(
                "{} did not answer within {PREFLIGHT_WAIT:?}",
                binary.display()
            )),
        }
    };
    let version = run(vec!["--version".into()]).await?;
    if !version.status.success() {
        bail!("{} --version failed", binary.display());
    }
    let said = String::from_utf8_lossy(&version.stdout).into_owned();
    if !said.starts_with("rampart ") {
        bail!(
            "{} is not rampart (its --version says {:?})",
            binary.display(),
            said.trim()
        );
    }
    // The config this program runs (what the new one will run), not the
    // file, which may have changed since.
    let running = runtime_dir.join(".upgrade-check.toml");
    std::fs::write(&running, config)
        .with_context(|| format!("cannot write {}", running.display()))?;
    let check = run(vec!["check".into(), "-c".into(), running.clone().into()]).await;
    let _ = std::fs::remove_file(&running);
    let check = check?;
    if !check.status.success() {
        bail!(
            "{} does not accept the running config: {}",
            binary.display(),
            String::from_utf8_lossy(&check.stderr).trim()
        );
    }
    tracing::info!("upgrade to {}", said.trim());
    Ok(())
}

/// Writes `state` to a memfd, lets every descriptor it names cross the
/// exec, and executes `binary` as `run` with this process's arguments
/// (`execv` itself: std's `Command::exec` would reset SIGPIPE to its
/// default first, which a failed exec would leave behind). Returns the
/// error if it could not; the descriptors are then close-on-exec again and
/// the signals unblocked.
fn exec(binary: &Path, state: &Inherited) -> anyhow::Error {
    let memfd = match write_state(state) {
        Ok(fd) => fd,
        Err(e) => return e,
    };
    let mut fds: Vec<RawFd> = vec![state.lock_fd, state.control_fd, memfd.as_raw_fd()];
    fds.extend(state.listeners.iter().map(|l| l.2));
    fds.extend(state.worker.iter().map(|w| w.2));
    fds.extend(state.bgp.iter().map(|s| s.fd));
    let argv = match exec_args(memfd.as_raw_fd()) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let path = match CString::new(binary.as_os_str().as_bytes()) {
        Ok(p) => p,
        Err(e) => return anyhow!(e).context("binary path"),
    };
    if let Err(e) = set_cloexec(&fds, false) {
        let _ = set_cloexec(&fds, true);
        return e.context("cannot pass descriptors on");
    }
    let _ = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&handled_signals()), None);
    let e = match nix::unistd::execv(&path, &argv) {
        Err(e) => e,
        Ok(never) => match never {},
    };
    unblock_signals();
    let _ = set_cloexec(&fds, true);
    anyhow!(e).context(format!("cannot execute {}", binary.display()))
}

/// `argv` for the new program: its name, this process's arguments without
/// a previous upgrade's `--upgrade-fd N`, and `--upgrade-fd` with `memfd`.
fn exec_args(memfd: RawFd) -> Result<Vec<CString>> {
    let mut argv = vec![CString::new(ipc::SUPERVISOR_ARG0)?];
    let mut given = std::env::args_os().skip(1);
    while let Some(a) = given.next() {
        if a == "--upgrade-fd" {
            given.next();
        } else if !a.to_string_lossy().starts_with("--upgrade-fd=") {
            argv.push(CString::new(a.as_bytes())?);
        }
    }
    argv.push(CString::new("--upgrade-fd")?);
    argv.push(CString::new(memfd.to_string())?);
    Ok(argv)
}

fn write_state(state: &Inherited) -> Result<OwnedFd> {
    let fd = nix::sys::memfd::memfd_create(c"rampart-upgrade", nix::sys::memfd::MFdFlags::empty())
        .context("memfd_create")?;
    let mut file = std::fs::File::from(fd);
    file.write_all(serde_json::to_string(state)?.as_bytes())?;
    Ok(OwnedFd::from(file))
}

fn set_cloexec(fds: &[RawFd], on: bool) -> Result<()> {
    rampart_sys::fds::set_inheritable(fds, !on).context("fcntl F_SETFD")
}

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

use std::io::{Read, Seek, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

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
pub fn adopt(fd: RawFd) -> Result<Adopted> {
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

impl Supervisor {
    /// `rampart upgrade` (or a reload after the binary was replaced): the
    /// client is answered only if the upgrade fails.
    pub(super) async fn upgrade_for(&mut self, waiter: crate::reload::Waiter) {
        if let Err(e) = self.upgrade().await {
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
        let binary = installed_binary()?;
        preflight(&binary, &self.path)?;
        let worker = self.worker.as_ref().map(|w| {
            (
                w.id,
                w.child.id().unwrap_or(0),
                w.control.as_ref().as_raw_fd(),
            )
        });
        let control_fd = self
            .control_fd
            .ok_or_else(|| anyhow!("the control socket is not open"))?;
        self.systemd.reloading();
        tracing::info!("upgrading: executing {}", binary.display());
        // VRRP first: from here on it sends nothing until the new program
        // resumes it (a few milliseconds, far less than a Master_Down
        // interval).
        let (vrrp, thaw) = match &self.vrrp {
            Some(v) => match v.freeze().await {
                Some((states, thaw)) => (Some(states), Some(thaw)),
                None => (None, None),
            },
            None => (None, None),
        };
        let bgp = match &self.bgp {
            Some(b) => b.handover().await,
            None => Vec::new(),
        };
        let state = Inherited {
            from_version: env!("CARGO_PKG_VERSION").to_string(),
            upgrades: self.upgrades + 1,
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
                })
                .collect(),
            vrrp,
        };
        let err = exec(&binary, &state);
        // Still here: the exec failed. Take everything back.
        tracing::error!("upgrade failed: {err:#}; this program goes on");
        drop(thaw);
        if let Some(b) = &self.bgp {
            b.adopt(bgp);
        }
        self.systemd.ready();
        Err(err)
    }
}

/// The new binary runs and accepts the config, or the upgrade stops here.
fn preflight(binary: &Path, config: &Path) -> Result<()> {
    let version = std::process::Command::new(binary)
        .arg("--version")
        .output()
        .with_context(|| format!("cannot run {}", binary.display()))?;
    if !version.status.success() {
        bail!("{} --version failed", binary.display());
    }
    let said = String::from_utf8_lossy(&version.stdout);
    if !said.starts_with("rampart ") {
        bail!(
            "{} is not rampart (its --version says {:?})",
            binary.display(),
            said.trim()
        );
    }
    let check = std::process::Command::new(binary)
        .arg("check")
        .arg("-c")
        .arg(config)
        .output()
        .with_context(|| format!("cannot run {}", binary.display()))?;
    if !check.status.success() {
        bail!(
            "{} does not accept {}: {}",
            binary.display(),
            config.display(),
            String::from_utf8_lossy(&check.stderr).trim()
        );
    }
    tracing::info!("upgrade to {}", said.trim());
    Ok(())
}

/// Writes `state` to a memfd, lets every descriptor it names cross the
/// exec, and executes `binary` as `run` with this process's arguments.
/// Returns the error if it could not; the descriptors are then
/// close-on-exec again.
fn exec(binary: &Path, state: &Inherited) -> anyhow::Error {
    let memfd = match write_state(state) {
        Ok(fd) => fd,
        Err(e) => return e,
    };
    let mut fds: Vec<RawFd> = vec![state.lock_fd, state.control_fd, memfd.as_raw_fd()];
    fds.extend(state.listeners.iter().map(|l| l.2));
    fds.extend(state.worker.iter().map(|w| w.2));
    fds.extend(state.bgp.iter().map(|s| s.fd));
    if let Err(e) = set_cloexec(&fds, false) {
        let _ = set_cloexec(&fds, true);
        return e.context("cannot pass descriptors on");
    }
    // Arguments as given, without a previous upgrade's `--upgrade-fd N`.
    let mut args: Vec<std::ffi::OsString> = Vec::new();
    let mut given = std::env::args_os().skip(1);
    while let Some(a) = given.next() {
        if a == "--upgrade-fd" {
            given.next();
        } else if !a.to_string_lossy().starts_with("--upgrade-fd=") {
            args.push(a);
        }
    }
    crate::logging::flush();
    let e = std::process::Command::new(binary)
        .arg0(ipc::SUPERVISOR_ARG0)
        .args(&args)
        .arg("--upgrade-fd")
        .arg(memfd.as_raw_fd().to_string())
        .exec();
    let _ = set_cloexec(&fds, true);
    anyhow!(e).context(format!("cannot execute {}", binary.display()))
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

//! Least privilege for the worker, the process that parses client bytes.
//!
//! The supervisor needs CAP_NET_ADMIN (addresses, nftables, forwarding),
//! CAP_NET_RAW (VRRP and ARP sockets) and CAP_NET_BIND_SERVICE (ports
//! below 1024, BGP's 179); it opens every listening socket itself and
//! passes them down. The worker only accepts, connects and copies bytes,
//! which needs no privilege at all, with one exception: when the
//! supervisor dies without a stop (kill -9, the OOM killer), the worker
//! takes the node's VIPs, forwarding and gateway table down so that they do not stay on
//! two nodes (see the worker's `clean_up_for_dead_supervisor`). That needs
//! CAP_NET_ADMIN, so the worker keeps it in its *permitted* set only, not
//! effective, and raises it for that clean-up alone ([`raise_net_admin`]).
//!
//! [`drop_worker`] runs first thing in the worker, while it has one thread:
//! capabilities belong to threads, and every thread created later starts
//! from the main thread's sets.

use std::collections::HashSet;
use std::io;

use caps::{CapSet, Capability, CapsHashSet};
use nix::unistd::{Gid, Uid};

/// The one capability the worker keeps (permitted, not effective).
pub const WORKER_KEEPS: Capability = Capability::CAP_NET_ADMIN;

/// A user and group to run as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
}

impl Identity {
    /// `"uid:gid"`, as passed to the worker in its environment.
    pub fn to_env(self) -> String {
        format!("{}:{}", self.uid, self.gid)
    }

    /// The inverse of [`Identity::to_env`].
    pub fn from_env(s: &str) -> Option<Identity> {
        let (u, g) = s.split_once(':')?;
        Some(Identity {
            uid: u.parse().ok()?,
            gid: g.parse().ok()?,
        })
    }
}

/// Drops the calling process to `to` (if given and not already it) and to
/// [`WORKER_KEEPS`] in its permitted set, nothing effective, inheritable
/// or ambient; the bounding set too when it may (root may; a systemd
/// unit's bounding set is already its three capabilities); and sets
/// no_new_privs, so no exec can gain anything back. Call it before any
/// thread is started.
///
/// Changing user needs root (CAP_SETUID/CAP_SETGID): started without them,
/// a different `to` is an error, not a silent run as the wrong user.
pub fn drop_worker(to: Option<Identity>) -> io::Result<()> {
    let keep: CapsHashSet = [WORKER_KEEPS].into_iter().collect();
    if caps::has_cap(None, CapSet::Effective, Capability::CAP_SETPCAP).map_err(other)? {
        for cap in caps::all() {
            if cap != WORKER_KEEPS {
                // A capability newer than the running kernel is EINVAL:
                // it cannot be held anyway.
                let _ = caps::drop(None, CapSet::Bounding, cap);
            }
        }
    }
    if let Some(id) = to {
        let (uid, gid) = (Uid::from_raw(id.uid), Gid::from_raw(id.gid));
        if Uid::effective() != uid || Gid::effective() != gid || Uid::current() != uid {
            // KEEPCAPS: the permitted set survives the change of uid (it
            // would be emptied otherwise); the effective set is emptied.
            nix::sys::prctl::set_keepcaps(true)?;
            nix::unistd::setgroups(&[gid])?;
            nix::unistd::setresgid(gid, gid, gid)?;
            nix::unistd::setresuid(uid, uid, uid)?;
            nix::sys::prctl::set_keepcaps(false)?;
            // A change of user clears the parent-death signal: set again
            // (the caller still checks its parent, which may have died
            // before this line).
            nix::sys::prctl::set_pdeathsig(Some(nix::sys::signal::Signal::SIGTERM))?;
        }
    }
    let permitted: CapsHashSet = caps::read(None, CapSet::Permitted)
        .map_err(other)?
        .intersection(&keep)
        .copied()
        .collect();
    caps::clear(None, CapSet::Ambient).map_err(other)?;
    caps::set(None, CapSet::Inheritable, &HashSet::new()).map_err(other)?;
    caps::set(None, CapSet::Effective, &HashSet::new()).map_err(other)?;
    caps::set(None, CapSet::Permitted, &permitted).map_err(other)?;
    nix::sys::prctl::set_no_new_privs()?;
    Ok(())
}

/// Whether this process may change its user and group: CAP_SETUID and
/// CAP_SETGID are effective (as they are for root).
pub fn may_change_identity() -> bool {
    let has = |cap| caps::has_cap(None, CapSet::Effective, cap).unwrap_or(false);
    has(Capability::CAP_SETUID) && has(Capability::CAP_SETGID)
}

/// Makes [`WORKER_KEEPS`] effective for the calling thread and ambient, so
/// that what it runs (`nft`) has it too. Fails if it was not kept.
pub fn raise_net_admin() -> io::Result<()> {
    caps::raise(None, CapSet::Effective, WORKER_KEEPS).map_err(other)?;
    caps::raise(None, CapSet::Inheritable, WORKER_KEEPS).map_err(other)?;
    caps::raise(None, CapSet::Ambient, WORKER_KEEPS).map_err(other)?;
    Ok(())
}

/// The calling thread's effective and permitted capabilities, as the
/// masks `/proc/PID/status` shows (`CapEff`, `CapPrm`), for logs.
pub fn masks() -> io::Result<(u64, u64)> {
    let mask = |set: CapsHashSet| set.iter().fold(0u64, |m, c| m | c.bitmask());
    Ok((
        mask(caps::read(None, CapSet::Effective).map_err(other)?),
        mask(caps::read(None, CapSet::Permitted).map_err(other)?),
    ))
}

fn other(e: caps::errors::CapsError) -> io::Error {
    io::Error::other(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_go_through_the_environment() {
        let id = Identity {
            uid: 65534,
            gid: 65533,
        };
        assert_eq!(Identity::from_env(&id.to_env()), Some(id));
        assert_eq!(Identity::from_env("65534"), None);
        assert_eq!(Identity::from_env("x:1"), None);
        assert_eq!(Identity::from_env("1:-1"), None);
    }
}

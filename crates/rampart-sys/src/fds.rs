//! Handing descriptors to a worker process and taking them over there.
//!
//! The supervisor owns the listening sockets for the life of the node; each
//! worker inherits them across exec. Only the descriptors named are made
//! inheritable, and only in the child, between fork and exec, so no other
//! child (health checks, hooks) ever sees them.

#![allow(unsafe_code)]

use std::io;
use std::net::TcpListener;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Makes `fds` survive exec in the child that `cmd` starts, and asks the
/// kernel to send the child SIGTERM if the supervisor dies, so a worker is
/// never orphaned holding the listeners.
pub fn inherit_in_child(cmd: &mut Command, fds: Vec<RawFd>) {
    // SAFETY: the closure runs between fork and exec and only makes
    // async-signal-safe system calls (fcntl, prctl) on plain integers; it
    // allocates nothing and touches no locks.
    unsafe {
        cmd.pre_exec(move || {
            for &fd in &fds {
                let flags = libc::fcntl(fd, libc::F_GETFD);
                if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM, 0, 0, 0) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Makes each of `fds` cross an exec (`inheritable`) or be closed by it
/// (FD_CLOEXEC), for a process that executes a new program in place
/// (`rampart upgrade`) and hands these descriptors to it.
pub fn set_inheritable(fds: &[RawFd], inheritable: bool) -> io::Result<()> {
    for &fd in fds {
        // SAFETY: fcntl on an integer has no memory-safety requirements; a
        // descriptor that is not open is EBADF.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        if flags < 0 {
            return Err(io::Error::last_os_error());
        }
        let flags = if inheritable {
            flags & !libc::FD_CLOEXEC
        } else {
            flags | libc::FD_CLOEXEC
        };
        // SAFETY: as above.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, flags) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Takes ownership of a descriptor inherited from the supervisor. Fails
/// unless `fd` is open; the caller checks what kind of socket it is.
fn take_inherited(fd: RawFd) -> io::Result<OwnedFd> {
    if fd < 3 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("fd {fd} is a standard stream"),
        ));
    }
    // F_GETFD fails with EBADF for a descriptor that is not open.
    // SAFETY: fcntl on an integer has no memory-safety requirements.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the descriptor is open (checked above) and the supervisor
    // passed it to this process for it alone to own; each number is taken
    // once (callers parse a list of distinct numbers from the environment).
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // Close it on any later exec: this process does not pass it further.
    nix::fcntl::fcntl(
        &owned,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    )?;
    Ok(owned)
}

/// An inherited listening TCP socket, checked to be one and set non-blocking.
pub fn inherited_listener(fd: RawFd) -> io::Result<TcpListener> {
    let l = TcpListener::from(take_inherited(fd)?);
    if !crate::socket::is_listening(&l) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("fd {fd} is not a listening socket"),
        ));
    }
    l.set_nonblocking(true)?;
    Ok(l)
}

/// The inherited control channel to the supervisor.
pub fn inherited_unix_stream(fd: RawFd) -> io::Result<UnixStream> {
    let s = UnixStream::from(take_inherited(fd)?);
    // Reject anything that is not a socket (e.g. a stray file descriptor).
    s.peer_addr()?;
    Ok(s)
}

/// An inherited descriptor of any other kind (the runtime directory's
/// lock file), owned: dropping it closes it.
pub fn inherited_fd(fd: RawFd) -> io::Result<OwnedFd> {
    take_inherited(fd)
}

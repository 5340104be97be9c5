//! The one crate that talks to the kernel below what std and tokio offer:
//! splice(2) and pipes for zero-copy forwarding, listener socket options
//! (SO_REUSEPORT, IP_FREEBIND), and handing listening sockets from the
//! supervisor to a worker process. Everything `unsafe` in rampart lives here
//! and is kept to a few audited lines.

pub mod fds;
pub mod limits;
pub mod socket;
pub mod splice;

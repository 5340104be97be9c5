//! Process resource limits.

use std::io;

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// Raises the soft descriptor limit to the hard limit and returns it. A
/// proxy needs two descriptors per connection (plus pipes while data
/// moves); the usual soft default of 1024 would fail connects with EMFILE
/// at a few hundred clients.
pub fn raise_nofile() -> io::Result<u64> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    Ok(hard)
}

/// The current soft descriptor limit: what `open`, `socket` and `accept`
/// are held to. Budgets for descriptor-hungry work (health checks) are
/// sized from it, so the rest of the process always has descriptors left.
pub fn nofile() -> io::Result<u64> {
    Ok(getrlimit(Resource::RLIMIT_NOFILE)?.0)
}

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

/// Real-time priority of the VRRP thread (SCHED_RR, 1–99): low, so that
/// anything an operator runs at a real-time priority of their own still
/// comes first. keepalived's `vrrp_rt_priority` is the same knob.
pub const VRRP_RT_PRIORITY: i32 = 10;

/// Puts the calling thread (only it: Linux schedules threads) in the
/// SCHED_RR class at `priority`, with SCHED_RESET_ON_FORK so nothing it
/// forks inherits the class.
///
/// Why: on two busy cores the fair scheduler can leave a ready thread
/// waiting tens of milliseconds, more than a backup waits for a master at
/// 10 ms adverts (36 ms). A real-time thread runs as soon as it is ready.
/// The kernel's RT throttling (`sched_rt_runtime_us`, 95 % by default)
/// still leaves the rest of the machine its share should the thread spin.
/// Needs CAP_SYS_NICE (or an RLIMIT_RTPRIO): `EPERM` otherwise.
pub fn set_thread_realtime(priority: i32) -> io::Result<()> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: `param` is a valid sched_param that outlives the call; pid 0
    // is the calling thread; the call reads `param` and writes nothing.
    let rc =
        unsafe { libc::sched_setscheduler(0, libc::SCHED_RR | libc::SCHED_RESET_ON_FORK, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Puts the calling thread back in the normal class (SCHED_OTHER).
pub fn set_thread_normal() -> io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: as in `set_thread_realtime`.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_OTHER, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Runs `f` with the calling thread at real-time priority (if allowed),
/// then puts it back in the normal class.
///
/// Why: `fork(2)` copies the parent's page tables holding its memory map
/// lock for writing, and every other thread of the process that faults a
/// page in meanwhile waits for it. A normal-priority thread forking on a
/// busy machine can be preempted inside that section for hundreds of
/// milliseconds (measured: an advert 374 ms late on the VRRP thread while
/// the supervisor forked a worker on 2 loaded cores) — priority inversion.
/// At real-time priority the section runs through.
pub fn with_realtime<T>(f: impl FnOnce() -> T) -> T {
    let raised = set_thread_realtime(VRRP_RT_PRIORITY).is_ok();
    let out = f();
    if raised {
        let _ = set_thread_normal();
    }
    out
}

/// The calling thread's scheduling class (`SCHED_*`, without the
/// reset-on-fork flag), for tests and status.
pub fn thread_scheduler() -> io::Result<i32> {
    // SAFETY: no arguments but the calling thread's pid 0.
    let rc = unsafe { libc::sched_getscheduler(0) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc & !libc::SCHED_RESET_ON_FORK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only the calling thread changes class; other threads stay normal.
    /// With CAP_SYS_NICE the call must succeed; without, it is EPERM (unless
    /// an RLIMIT_RTPRIO allows it, which the test machines do not set).
    #[test]
    fn realtime_applies_to_the_calling_thread_only() {
        // CAP_SYS_NICE (bit 23) in the effective set: root usually has it,
        // root in a container may not.
        let capable = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                let hex = s
                    .lines()
                    .find_map(|l| l.strip_prefix("CapEff:"))?
                    .trim()
                    .to_string();
                u64::from_str_radix(&hex, 16).ok()
            })
            .is_some_and(|caps| caps & (1 << 23) != 0);
        let t = std::thread::spawn(move || {
            let set = set_thread_realtime(VRRP_RT_PRIORITY);
            (set.map_err(|e| e.raw_os_error()), thread_scheduler().ok())
        });
        let (set, class) = t.join().unwrap_or((Err(None), None));
        if capable {
            assert_eq!(set, Ok(()));
            assert_eq!(class, Some(libc::SCHED_RR));
        } else {
            assert_eq!(set, Err(Some(libc::EPERM)));
        }
        assert_eq!(thread_scheduler().ok(), Some(libc::SCHED_OTHER));
        // with_realtime: raised inside (when allowed), normal after.
        let inside = std::thread::spawn(|| {
            let during = with_realtime(|| thread_scheduler().ok());
            (during, thread_scheduler().ok())
        })
        .join()
        .unwrap_or((None, None));
        let expected = if capable {
            libc::SCHED_RR
        } else {
            libc::SCHED_OTHER
        };
        assert_eq!(inside, (Some(expected), Some(libc::SCHED_OTHER)));
    }
}

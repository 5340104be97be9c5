//! Active health checks and the up/down state they drive.
//!
//! Three layers, so that the part with the rules has no clock and no IO:
//! - [`probe`]: one check of one server over a real connection;
//! - [`HealthState`]: fall/rise hysteresis over a stream of results (pure);
//! - [`run_checker`]: the clock and the sockets for one server — probes every
//!   interval, folds in passive failures from the data plane, and reports
//!   transitions;
//! - [`Pace`]: what keeps many checkers from starting together or holding
//!   more descriptors than the node can spare.
//!
//! The supervisor runs one checker per checked server; its transitions feed
//! the worker's server table and, through backend health, VRRP tracking and
//! the BGP announce policy.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use rampart_config::{Check, Health};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::MissedTickBehavior;
use tracing::{debug, warn};

mod pace;
mod probe;
mod report;
mod state;
#[cfg(test)]
mod tests;

pub use pace::{
    MAX_CHECKS_IN_FLIGHT, NOFILE_SHARE, Pace, SPREAD_STEP, checks_in_flight, first_check_offset,
};
pub use probe::{MAX_REPLY, ProbeError, probe};
pub use report::{CheckReport, CheckStats};
pub use state::HealthState;

/// Floor for the check interval: `tokio::time::interval` panics on zero, and
/// validation already refuses zero, so this only guards the invariant.
const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// What the DOWN log line gives as the reason after passive failures; the
/// data plane reports only that a connection to the server failed.
const PASSIVE_REASON: &str = "connection failures seen by the proxy";

/// Checks one server until the task is dropped, calling `on_change(up)` with
/// the initial state at once and then on every transition.
///
/// - Active checks ([`probe`]) run every `health.interval`, the first one
///   after `pace.first()` (at most milliseconds for a small pool, so a new
///   server is usable after about one round trip rather than one interval;
///   see [`Pace`]). Each check holds one of the pace's slots while it runs,
///   so a cap on checks in flight is a cap on their sockets; time spent
///   waiting for a slot is not part of the check's timeout. A slow check
///   delays the next one instead of overlapping it (the interval's
///   missed-tick behaviour is `Delay`). The checker returns if the pace's
///   slots are closed.
/// - Each message on `passive` is a connection failure seen by the data
///   plane; it counts as one failed check, so a dead server is taken out as
///   soon as `fall` clients have failed on it, without waiting for checks.
///   A closed `passive` only stops that input.
/// - With [`Check::None`] nothing can prove the server healthy: it starts
///   up, an interval without passive failures counts as a good check (so
///   failures count as consecutive only within one interval of each other),
///   and once down it is restored after one full quiet interval — traffic is
///   the only probe. Such a checker returns when `passive` closes, since
///   nothing could change any more.
///
/// Transitions are logged at warn, so `--log-level warn` shows them
/// ("server pool/web1 is DOWN (3 failed
/// checks: connection refused)"), single failed checks at debug.
pub async fn run_checker(
    (backend, server): (String, String),
    addr: SocketAddr,
    health: Health,
    pace: Pace,
    mut passive: UnboundedReceiver<()>,
    stats: std::sync::Arc<CheckStats>,
    mut on_change: impl FnMut(bool) + Send,
) {
    let checkless = health.check == Check::None;
    let mut state = HealthState::new(&health);
    stats.state(true);
    on_change(state.is_up());

    let start = tokio::time::Instant::now() + pace.first();
    let mut ticks = tokio::time::interval_at(start, health.interval.max(MIN_INTERVAL));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut passive_open = true;
    // Checkless only: no passive failure since the last tick.
    let mut quiet = true;
    // The last failure, kept for the DOWN line; reused to avoid allocating.
    let mut reason = String::new();

    loop {
        let flip = tokio::select! {
            _ = ticks.tick() => {
                if checkless {
                    let quiet_interval = std::mem::replace(&mut quiet, true);
                    if quiet_interval { state.assume_up() } else { None }
                } else {
                    let Some(_slot) = pace.slot().await else { return };
                    let t0 = tokio::time::Instant::now();
                    match probe(&health.check, addr, health.timeout).await {
                        Ok(()) => {
                            stats.checked(t0.elapsed(), None);
                            state.record(true)
                        }
                        Err(e) => {
                            debug!(%backend, %server, %addr, "health check failed: {e}");
                            reason.clear();
                            // Writing into a String cannot fail.
                            let _ = write!(reason, "{e}");
                            stats.checked(t0.elapsed(), Some(&reason));
                            state.record(false)
                        }
                    }
                }
            }
            failure = passive.recv(), if passive_open => match failure {
                Some(()) => {
                    debug!(%backend, %server, %addr, "passive failure");
                    quiet = false;
                    reason.clear();
                    reason.push_str(PASSIVE_REASON);
                    stats.passive_failure(PASSIVE_REASON);
                    state.record(false)
                }
                None if checkless => return,
                None => {
                    passive_open = false;
                    None
                }
            },
        };
        let Some(up) = flip else { continue };
        if up {
            if checkless {
                warn!(%backend, %server, "server {backend}/{server} is UP (no failures for one interval)");
            } else {
                let n = state.successes();
                let s = plural(n);
                warn!(%backend, %server, "server {backend}/{server} is UP ({n} good check{s})");
            }
        } else {
            let n = state.failures();
            let s = plural(n);
            warn!(%backend, %server, "server {backend}/{server} is DOWN ({n} failed check{s}: {reason})");
            if checkless {
                // The quiet interval that restores it starts now.
                ticks.reset();
            }
        }
        stats.state(false);
        on_change(up);
    }
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

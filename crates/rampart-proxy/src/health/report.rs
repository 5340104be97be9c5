//! What a checker has seen so far, for `rampart show servers` and
//! `/metrics`: written once per check, read by the control plane.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// One server's check history, shared between its checker and readers.
#[derive(Debug, Default)]
pub struct CheckStats(Mutex<Inner>);

#[derive(Debug, Default)]
struct Inner {
    checks: u64,
    failures: u64,
    last: Option<(bool, Duration)>,
    last_error: String,
    transitions: u64,
    state_since: Option<Instant>,
}

/// [`CheckStats`] at one moment.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CheckReport {
    /// Active checks run, and how many failed (passive failures seen by
    /// the proxy count as failed checks too).
    pub checks: u64,
    pub failures: u64,
    /// The last check's result and how long it took.
    pub last_ok: Option<bool>,
    pub last_duration_ms: Option<f64>,
    /// Why the last failed check failed.
    pub last_error: Option<String>,
    /// UP/DOWN transitions.
    pub transitions: u64,
    /// Seconds in the current state.
    pub state_seconds: Option<f64>,
}

impl CheckStats {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Each update is a few plain stores: a panic cannot leave it torn.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An active check ended (`error`: why it failed).
    pub fn checked(&self, took: Duration, error: Option<&str>) {
        let mut i = self.lock();
        i.checks += 1;
        i.last = Some((error.is_none(), took));
        if let Some(e) = error {
            i.failures += 1;
            e.clone_into(&mut i.last_error);
        }
    }

    /// The proxy saw a connection to the server fail.
    pub fn passive_failure(&self, reason: &str) {
        let mut i = self.lock();
        i.failures += 1;
        reason.clone_into(&mut i.last_error);
    }

    /// The server's state was set (`initial`: its first state, not a
    /// transition).
    pub fn state(&self, initial: bool) {
        let mut i = self.lock();
        if !initial {
            i.transitions += 1;
        }
        i.state_since = Some(Instant::now());
    }

    pub fn report(&self) -> CheckReport {
        let i = self.lock();
        CheckReport {
            checks: i.checks,
            failures: i.failures,
            last_ok: i.last.map(|(ok, _)| ok),
            last_duration_ms: i.last.map(|(_, d)| d.as_secs_f64() * 1e3),
            last_error: (!i.last_error.is_empty()).then(|| i.last_error.clone()),
            transitions: i.transitions,
            state_seconds: i.state_since.map(|t| t.elapsed().as_secs_f64()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_counts_checks_failures_and_transitions() {
        let s = CheckStats::default();
        s.state(true);
        s.checked(Duration::from_millis(2), None);
        s.checked(Duration::from_millis(3), Some("connection refused"));
        s.passive_failure("proxy");
        s.state(false);
        let r = s.report();
        assert_eq!((r.checks, r.failures, r.transitions), (2, 2, 1));
        assert_eq!(r.last_ok, Some(false));
        assert_eq!(r.last_duration_ms, Some(3.0));
        assert_eq!(r.last_error.as_deref(), Some("proxy"));
        assert!(r.state_seconds.is_some_and(|s| s < 1.0));
    }
}

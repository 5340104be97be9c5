//! Fall/rise hysteresis for one server: pure, no clock, no IO, so every
//! sequence of results is a plain unit test.

use rampart_config::{Check, Health};

/// Whether one server is up, decided from consecutive check results
/// (pingora's `health_check.rs` and HAProxy's `fall`/`rise`): one lost probe
/// must not take a server out, and a flapping server must prove itself
/// `rise` times before it gets traffic again.
#[derive(Debug, Clone)]
pub struct HealthState {
    phase: Phase,
    fall: u32,
    rise: u32,
    /// Consecutive good results, reset by a bad one.
    successes: u32,
    /// Consecutive bad results, reset by a good one.
    failures: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Never up yet: down, and one good check is enough. `rise` exists to
    /// damp flapping, and a server that has never been up cannot flap; making
    /// a freshly started backend wait `rise` intervals would only delay it.
    NeverUp,
    Up,
    Down,
}

impl HealthState {
    /// Up from the start with `start_up` (then `fall` failures take it
    /// down, as for any up server) or without active checks
    /// ([`Check::None`]: only passive failures can take it down); otherwise
    /// down until its first good check.
    pub fn new(health: &Health) -> Self {
        let up = health.start_up || health.check == Check::None;
        HealthState {
            phase: if up { Phase::Up } else { Phase::NeverUp },
            // Validation keeps these ≥ 1; 0 would mean "flip before any
            // evidence", which is never what was meant.
            fall: health.fall.max(1),
            rise: health.rise.max(1),
            successes: 0,
            failures: 0,
        }
    }

    pub fn is_up(&self) -> bool {
        self.phase == Phase::Up
    }

    /// Consecutive failed results so far (for the log line at a transition).
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Consecutive good results so far.
    pub fn successes(&self) -> u32 {
        self.successes
    }

    /// Records one result (an active check, or a passive failure seen by the
    /// data plane). Returns `Some(new_up)` when the state flips.
    pub fn record(&mut self, ok: bool) -> Option<bool> {
        if ok {
            self.successes = self.successes.saturating_add(1);
            self.failures = 0;
        } else {
            self.failures = self.failures.saturating_add(1);
            self.successes = 0;
        }
        let next = match (self.phase, ok) {
            // First good check ever: up at once (see `Phase::NeverUp`).
            (Phase::NeverUp, true) => Phase::Up,
            (Phase::NeverUp, false) => Phase::NeverUp,
            (Phase::Up, true) => Phase::Up,
            (Phase::Up, false) if self.failures >= self.fall => Phase::Down,
            (Phase::Up, false) => Phase::Up,
            (Phase::Down, true) if self.successes >= self.rise => Phase::Up,
            (Phase::Down, true) => Phase::Down,
            (Phase::Down, false) => Phase::Down,
        };
        self.transition(next)
    }

    /// Declares the server up without a check, for servers that have none
    /// ([`Check::None`]): nothing can prove them healthy, so the runner
    /// restores them after a quiet interval. Resets the failure streak.
    pub fn assume_up(&mut self) -> Option<bool> {
        self.failures = 0;
        self.transition(Phase::Up)
    }

    fn transition(&mut self, next: Phase) -> Option<bool> {
        let was_up = self.is_up();
        self.phase = next;
        (was_up != self.is_up()).then_some(self.is_up())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(fall: u32, rise: u32, start_up: bool) -> HealthState {
        HealthState::new(&Health {
            fall,
            rise,
            start_up,
            ..Health::default()
        })
    }

    /// Feeds results and returns the flips, one per result.
    fn feed(s: &mut HealthState, results: &str) -> Vec<Option<bool>> {
        results.chars().map(|c| s.record(c == '+')).collect()
    }

    #[test]
    fn first_good_check_brings_a_new_server_up_at_once() {
        let mut s = state(3, 2, false);
        assert!(!s.is_up());
        assert_eq!(feed(&mut s, "+"), [Some(true)]);
        assert!(s.is_up());
    }

    #[test]
    fn failures_before_the_first_success_do_not_require_rise() {
        let mut s = state(3, 2, false);
        assert_eq!(feed(&mut s, "----+"), [None, None, None, None, Some(true)]);
    }

    #[test]
    fn fall_consecutive_failures_take_it_down_then_rise_brings_it_back() {
        let mut s = state(3, 2, false);
        feed(&mut s, "+");
        // Two failures, a success resets the streak, then three in a row.
        assert_eq!(
            feed(&mut s, "--+---"),
            [None, None, None, None, None, Some(false)]
        );
        assert_eq!(s.failures(), 3);
        // Once down, one success is not enough; a failure resets the count.
        assert_eq!(feed(&mut s, "+-++"), [None, None, None, Some(true)]);
        assert_eq!(s.successes(), 2);
        assert_eq!(feed(&mut s, "+++"), [None, None, None]);
    }

    #[test]
    fn start_up_is_up_until_fall_failures() {
        let mut s = state(2, 2, true);
        assert!(s.is_up());
        assert_eq!(feed(&mut s, "-+-"), [None, None, None]);
        assert_eq!(feed(&mut s, "-"), [Some(false)]);
        // Having been up, it now needs `rise` good checks.
        assert_eq!(feed(&mut s, "++"), [None, Some(true)]);
    }

    #[test]
    fn fall_and_rise_of_one_flip_on_every_change() {
        let mut s = state(1, 1, false);
        assert_eq!(
            feed(&mut s, "+-+-"),
            [Some(true), Some(false), Some(true), Some(false)]
        );
    }

    #[test]
    fn zero_thresholds_behave_as_one() {
        let mut s = state(0, 0, true);
        assert_eq!(feed(&mut s, "-+"), [Some(false), Some(true)]);
    }

    #[test]
    fn without_checks_the_server_starts_up_and_can_be_restored() {
        let mut s = HealthState::new(&Health {
            check: Check::None,
            fall: 2,
            ..Health::default()
        });
        assert!(s.is_up());
        assert_eq!(feed(&mut s, "--"), [None, Some(false)]);
        assert_eq!(s.assume_up(), Some(true));
        assert_eq!(s.assume_up(), None);
        assert_eq!(s.failures(), 0);
    }
}

//! Tracking: what the node knows about its own health, turned into the
//! effective priority an instance advertises (keepalived's semantics).
//!
//! Each tracked thing — the local proxy, an interface's link, a script —
//! has a weight:
//! - weight 0: its failure puts the instance in Fault;
//! - weight < 0: added to the priority while it fails;
//! - weight > 0: added to the priority while it succeeds.
//!
//! The result is clamped to 1..=254; an address owner (255) keeps 255
//! unless something with weight 0 fails.

use crate::instance::{PRIORITY_OWNER, Priority};

/// Lowest and highest priority a tracked, non-owner instance can reach.
const MIN_PRIORITY: i32 = 1;
const MAX_PRIORITY: i32 = 254;

/// One tracked input as the instance sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tracked {
    pub weight: i32,
    pub ok: bool,
}

/// The effective priority of an instance with configured priority `base`.
pub fn effective(base: u8, inputs: impl IntoIterator<Item = Tracked>) -> Priority {
    let mut sum: i32 = 0;
    for t in inputs {
        match (t.weight, t.ok) {
            (0, false) => return Priority::Fault,
            (w, false) if w < 0 => sum += w,
            (w, true) if w > 0 => sum += w,
            _ => {}
        }
    }
    if base == PRIORITY_OWNER {
        return Priority::Value(PRIORITY_OWNER);
    }
    let p = (i32::from(base) + sum).clamp(MIN_PRIORITY, MAX_PRIORITY);
    Priority::Value(u8::try_from(p).unwrap_or(base))
}

/// A check's result filtered by fall/rise: it flips only after `fall`
/// consecutive failures or `rise` consecutive successes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hysteresis {
    fall: u32,
    rise: u32,
    ok: bool,
    streak: u32,
    known: bool,
}

impl Hysteresis {
    /// A new filter; `fall` and `rise` are at least 1. Until the first
    /// result it reports `initial`.
    pub fn new(fall: u32, rise: u32, initial: bool) -> Self {
        Hysteresis {
            fall: fall.max(1),
            rise: rise.max(1),
            ok: initial,
            streak: 0,
            known: false,
        }
    }

    /// A filter whose state `ok` is already established (carried over
    /// from a previous program by `rampart upgrade`): the next results
    /// count against it with `fall`/`rise`, the first one included.
    pub fn established(fall: u32, rise: u32, ok: bool) -> Self {
        Hysteresis {
            known: true,
            ..Hysteresis::new(fall, rise, ok)
        }
    }

    /// The filtered state.
    pub fn ok(&self) -> bool {
        self.ok
    }

    /// Records one result; returns the new state if it changed.
    pub fn record(&mut self, success: bool) -> Option<bool> {
        if !self.known {
            // The first result decides at once: there is no history to
            // be steady against, and waiting would delay startup.
            self.known = true;
            self.streak = 0;
            let changed = self.ok != success;
            self.ok = success;
            return changed.then_some(success);
        }
        if success == self.ok {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        let needed = if success { self.rise } else { self.fall };
        if self.streak >= needed {
            self.ok = success;
            self.streak = 0;
            Some(success)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(weight: i32, ok: bool) -> Tracked {
        Tracked { weight, ok }
    }

    #[test]
    fn weights_follow_keepalived() {
        assert_eq!(effective(100, []), Priority::Value(100));
        assert_eq!(effective(100, [t(-20, false)]), Priority::Value(80));
        assert_eq!(effective(100, [t(-20, true)]), Priority::Value(100));
        assert_eq!(effective(100, [t(10, true)]), Priority::Value(110));
        assert_eq!(effective(100, [t(10, false)]), Priority::Value(100));
        assert_eq!(effective(100, [t(0, false)]), Priority::Fault);
        assert_eq!(
            effective(100, [t(0, true), t(-5, false)]),
            Priority::Value(95)
        );
    }

    #[test]
    fn effective_priority_is_clamped() {
        assert_eq!(effective(250, [t(50, true)]), Priority::Value(254));
        assert_eq!(effective(10, [t(-50, false)]), Priority::Value(1));
        assert_eq!(effective(255, [t(-50, false)]), Priority::Value(255));
        assert_eq!(effective(255, [t(0, false)]), Priority::Fault);
    }

    #[test]
    fn hysteresis_needs_fall_and_rise_in_a_row() {
        let mut h = Hysteresis::new(3, 2, true);
        assert_eq!(h.record(true), None, "first result agrees");
        assert_eq!(h.record(false), None);
        assert_eq!(h.record(false), None);
        assert_eq!(h.record(true), None, "a success resets the streak");
        assert_eq!(h.record(false), None);
        assert_eq!(h.record(false), None);
        assert_eq!(h.record(false), Some(false));
        assert!(!h.ok());
        assert_eq!(h.record(true), None);
        assert_eq!(h.record(true), Some(true));
    }

    #[test]
    fn first_result_decides_at_once() {
        let mut h = Hysteresis::new(3, 3, true);
        assert_eq!(h.record(false), Some(false));
        let mut h = Hysteresis::new(3, 3, false);
        assert_eq!(h.record(true), Some(true));
    }
}

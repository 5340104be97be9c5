//! The hold-down that keeps a flapping input (VRRP mastership, health)
//! from flapping a route; the [`Announcer`](crate::Announcer) puts one
//! behind each announcement's policy.
//!
//! The choice: **withdraw at once, re-announce only after the input has
//! been up for `hold_down` without interruption.** Withdrawing late would
//! send traffic to a node that cannot serve it; announcing late only
//! keeps traffic on the node that already has it. Each fall restarts the
//! wait, so an input flapping faster than `hold_down` keeps the route
//! withdrawn, and the router sees one withdrawal instead of a storm. The
//! very first rise (the input was never down) is not held: a node
//! starting up announces as soon as it is ready.
//!
//! Like the rest of the crate this never reads the clock: the caller
//! passes `now` and asks [`HoldDown::poll_timeout`] when to come back.

use std::time::{Duration, Instant};

/// A flap filter on one boolean input (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldDown {
    hold_down: Duration,
    input: bool,
    output: bool,
    /// The input went down at least once: rises are held from then on.
    has_fallen: bool,
    /// A held rise completes at this moment.
    rise_at: Option<Instant>,
}

impl HoldDown {
    /// Starts with the input and the output down.
    pub fn new(hold_down: Duration) -> Self {
        Self {
            hold_down,
            input: false,
            output: false,
            has_fallen: false,
            rise_at: None,
        }
    }

    /// The filtered value: whether to announce.
    pub fn output(&self) -> bool {
        self.output
    }

    /// The raw input last given.
    pub fn input(&self) -> bool {
        self.input
    }

    /// A new input value; returns the output.
    pub fn set(&mut self, now: Instant, input: bool) -> bool {
        let was = std::mem::replace(&mut self.input, input);
        match (was, input) {
            (true, false) => {
                self.has_fallen = true;
                self.rise_at = None;
                self.output = false;
            }
            (false, true) if !self.has_fallen || self.hold_down.is_zero() => self.output = true,
            (false, true) => self.rise_at = Some(now + self.hold_down),
            _ => {}
        }
        self.output
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.rise_at
    }

    /// Completes a held rise that is due; returns the output.
    pub fn handle_timeout(&mut self, now: Instant) -> bool {
        if self.rise_at.is_some_and(|t| t <= now) {
            self.rise_at = None;
            self.output = self.input;
        }
        self.output
    }
}

//! The node-wide drain (`rampart node drain`), BGP's half: RFC 8326's
//! graceful shutdown first, the withdrawal after.
//!
//! Withdrawing at once would make each router drop the path and, for a
//! moment, send traffic to a route it is still computing; tagging the
//! routes GRACEFUL_SHUTDOWN (65535:0) first lets the routers lower their
//! preference and move traffic to the other path while this one still
//! works. After `withdraw_after` every route is withdrawn, and the node
//! can resign VRRP and close connections.
//!
//! Choices, each a rule of the [`Announcer`](super::Announcer):
//! - The drain sits on top of the policies, it does not feed them: the
//!   hold-downs go on underneath, and a drain is not a fall. So an
//!   undrain (an operator's decision) puts back at once every route whose
//!   policy held through it; a route whose input really fell during the
//!   drain waits out its hold-down as after any fall.
//! - While tagging, a route the policies announce (one whose hold-down
//!   ends, or one a reload adds) is announced tagged too, and withdrawn
//!   at the same deadline: "every route this node announces" stays true.
//! - A second drain while one is on keeps the first's start and takes
//!   the earlier of the two deadlines: asking again can hurry the
//!   withdrawal, never re-announce.
//! - A disabled neighbor stays disabled: it gets nothing, drain or not.

use std::time::Instant;

use crate::aspath::Community;
use crate::route::Route;

/// A drain in progress, as [`Announcer::draining`](super::Announcer::draining)
/// shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drain {
    /// When the drain started (the routes were tagged).
    pub since: Instant,
    /// When every route is (or was) withdrawn.
    pub withdraw_at: Instant,
    /// The deadline has passed: every route is withdrawn.
    pub withdrawn: bool,
}

impl Drain {
    /// A drain as of `now`, whose deadline may already have come.
    pub(super) fn new(since: Instant, withdraw_at: Instant, now: Instant) -> Self {
        Self {
            since,
            withdraw_at,
            withdrawn: withdraw_at <= now,
        }
    }

    /// When [`Announcer::handle_timeout`](super::Announcer::handle_timeout)
    /// must withdraw; `None` once done.
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        (!self.withdrawn).then_some(self.withdraw_at)
    }
}

/// `r` tagged GRACEFUL_SHUTDOWN, its other communities kept.
pub(super) fn tag(mut r: Route) -> Route {
    if !r.communities.contains(&Community::GRACEFUL_SHUTDOWN) {
        r.communities.push(Community::GRACEFUL_SHUTDOWN);
    }
    r
}

//! A snapshot of one session for `rampart status` and the control API.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use crate::message::Message;
use crate::nlri::Family;
use crate::notification::Notification;
use crate::open::Capability;
use crate::session::State;

/// Which way a NOTIFICATION went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Sent,
    Received,
}

/// The last session error: a NOTIFICATION either way, or a connection
/// failure (then `notification` is `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastError {
    pub at: Instant,
    pub direction: Direction,
    pub notification: Option<Notification>,
    /// Human-readable: the code and subcode names, the shutdown
    /// communication, or what went wrong.
    pub text: String,
}

/// Messages counted by type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    pub open: u64,
    pub update: u64,
    pub notification: u64,
    pub keepalive: u64,
    pub route_refresh: u64,
}

impl Counters {
    pub fn total(&self) -> u64 {
        self.open + self.update + self.notification + self.keepalive + self.route_refresh
    }

    pub(crate) fn count(&mut self, msg: &Message) {
        let c = match msg {
            Message::Open(_) => &mut self.open,
            Message::Update(_) => &mut self.update,
            Message::Notification(_) => &mut self.notification,
            Message::Keepalive => &mut self.keepalive,
            Message::RouteRefresh(_) => &mut self.route_refresh,
        };
        *c += 1;
    }
}

/// One session as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub state: State,
    /// When the session entered `state` (`None` before it was started).
    pub since: Option<Instant>,
    pub neighbor: IpAddr,
    pub local_as: u32,
    pub peer_as: u32,
    pub router_id: Ipv4Addr,
    /// The peer's BGP identifier, from its last OPEN.
    pub peer_router_id: Option<Ipv4Addr>,
    /// Negotiated hold time in seconds (OpenConfirm and Established).
    pub hold_time: Option<u16>,
    /// Negotiated keepalive interval; `None` when the hold time is 0.
    pub keepalive: Option<Duration>,
    pub local_capabilities: Vec<Capability>,
    /// From the peer's last OPEN.
    pub remote_capabilities: Vec<Capability>,
    /// Families both sides offered.
    pub families: Vec<Family>,
    pub four_octet_as: bool,
    /// Routes the caller asked for.
    pub routes_desired: usize,
    /// Routes the peer has from us now.
    pub routes_exported: usize,
    pub last_error: Option<LastError>,
    pub messages_in: Counters,
    pub messages_out: Counters,
    /// Times the session reached Established.
    pub established_count: u64,
}

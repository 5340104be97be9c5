//! One BGP session: the finite state machine of RFC 4271 §8, reduced to
//! what an announcer needs, with automatic restart and backoff.
//!
//! ```text
//!              start / retry timer
//!   +------+ -------------------------> +---------+  TCP fails  +--------+
//!   | Idle |                            | Connect | ----------> | Active |
//!   +------+ <------+                   +---------+ <---------- +--------+
//!      ^            |                         |      retry timer     |
//!      |            | error, NOTIFICATION,    | TCP up: send OPEN    | TCP up
//!      |            | hold timer, stop        v                      |
//!      |            |                   +----------+ <---------------+
//!      |            +------------------ | OpenSent |
//!      |                                +----------+
//!      |                                      | OPEN ok: send KEEPALIVE
//!      |                                      v
//!      |                               +-------------+
//!      +------------------------------ | OpenConfirm |
//!      |                               +-------------+
//!      |                                      | KEEPALIVE
//!      |                                      v
//!      |                               +-------------+
//!      +------------------------------ | Established |  UPDATE diffs,
//!                                      +-------------+  refresh, shutdown
//! ```
//!
//! The session never reads the clock or touches a socket. The driver
//! connects when told ([`Action::Connect`]), reports the outcome
//! ([`Session::connected`], [`Session::connect_failed`],
//! [`Session::closed`], [`Session::incoming`]), feeds received bytes to
//! [`Session::handle_bytes`], carries out [`Session::poll_action`] in
//! order, and calls [`Session::handle_timeout`] at
//! [`Session::poll_timeout`].
//!
//! Connect-retry: each connection attempt or session that fails before
//! Established waits [`Backoff::delay`](crate::Backoff::delay) — 5 s
//! doubling to 120 s by default — before the next; Established resets it.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use ipnet::IpNet;

use crate::config::SessionConfig;
use crate::error::DecodeError;
use crate::export::Export;
use crate::message::{Context, Message, RouteRefresh, decode, encode, frame};
use crate::negotiate::{Initiator, Negotiated, Resolution, local_capabilities, resolve_collision};
use crate::nlri::Family;
use crate::notification::{Notification, code, subcode};
use crate::open::Open;
use crate::route::{ExportCtx, PathAttrs, Route};
use crate::status::{Counters, Direction, LastError, Status};
use crate::update::Update;

/// The states of RFC 4271 §8.2.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Idle,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "Idle",
            Self::Connect => "Connect",
            Self::Active => "Active",
            Self::OpenSent => "OpenSent",
            Self::OpenConfirm => "OpenConfirm",
            Self::Established => "Established",
        }
    }
}

/// What the driver must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Open a TCP connection to the neighbor's port 179; report the
    /// outcome with [`Session::connected`] or [`Session::connect_failed`].
    Connect,
    /// Write these bytes (whole BGP messages) to the current connection.
    Transmit(Vec<u8>),
    /// Close the current connection after writing what was queued before
    /// it, or abandon the connection attempt in progress. Do not report
    /// this close back with [`Session::closed`].
    Disconnect,
    StateChanged {
        from: State,
        to: State,
    },
}

/// Answer to an incoming TCP connection from the neighbor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Incoming {
    /// Carry out the actions queued so far (they may close the existing
    /// connection or abandon a connection attempt), then hand the new
    /// connection over with [`Session::connected`] and
    /// [`Initiator::Remote`].
    Accept,
    /// Close the new connection.
    Reject,
}

/// Events, named after RFC 4271 §8.1 where they have a name there.
#[derive(Debug, Clone, Copy)]
enum Event<'a> {
    /// Event 1 (and 3, AutomaticStart, after the retry timer in Idle).
    ManualStart,
    /// Event 2, with the NOTIFICATION to send if a session is open.
    ManualStop(&'a Notification),
    /// Withdraw everything, then stop after `linger`.
    GracefulShutdown(&'a Notification, Duration),
    /// Event 9.
    ConnectRetryTimerExpires,
    /// Event 10.
    HoldTimerExpires,
    /// Event 11.
    KeepaliveTimerExpires,
    /// The linger after a graceful shutdown's withdrawals is over.
    ShutdownTimerExpires,
    /// Events 16/17.
    TcpConnectionConfirmed(IpAddr, Initiator),
    /// Event 14, decided here rather than by the driver.
    TcpConnectionIncoming,
    /// Event 18.
    TcpConnectionFails,
    /// Event 19.
    BgpOpen(&'a Open),
    /// Events 21, 22, 28: a message that did not decode.
    MessageError(&'a DecodeError),
    /// Events 24/25.
    NotifMsg(&'a Notification),
    /// Event 26.
    KeepAliveMsg,
    /// Event 27.
    UpdateMsg,
    RouteRefreshMsg(RouteRefresh),
    /// The caller changed the routes to announce.
    RoutesChanged,
    /// BFD declared the path to the peer down (RFC 5882 §10.2); not one of
    /// RFC 4271's events.
    BfdDown,
}

/// One session with one neighbor.
#[derive(Debug)]
pub struct Session {
    cfg: SessionConfig,
    state: State,
    since: Option<Instant>,
    /// Stopped by the caller: no automatic restart.
    stopped: bool,
    /// Consecutive failures, for the retry backoff.
    failures: u32,
    rng: u64,
    connect_retry_at: Option<Instant>,
    hold_at: Option<Instant>,
    keepalive_at: Option<Instant>,
    /// Graceful shutdown: when to send the Cease.
    cease_at: Option<(Instant, Notification)>,
    initiator: Option<Initiator>,
    local_addr: Option<IpAddr>,
    rx: Vec<u8>,
    ctx: Context,
    negotiated: Option<Negotiated>,
    peer_open: Option<Open>,
    export: Export,
    /// The answer an incoming connection gets, set by the state machine.
    incoming: Incoming,
    actions: VecDeque<Action>,
    last_error: Option<LastError>,
    messages_in: Counters,
    messages_out: Counters,
    established_count: u64,
}

mod fsm;
mod handover;

pub use handover::Handover;

impl Session {
    /// A session in Idle; call [`start`](Self::start).
    pub fn new(cfg: SessionConfig) -> Self {
        let rng = cfg.connect_retry.jitter_seed.unwrap_or(0) | 1;
        Self {
            cfg,
            state: State::Idle,
            since: None,
            stopped: true,
            failures: 0,
            rng,
            connect_retry_at: None,
            hold_at: None,
            keepalive_at: None,
            cease_at: None,
            initiator: None,
            local_addr: None,
            rx: Vec::new(),
            ctx: Context::default(),
            negotiated: None,
            peer_open: None,
            export: Export::default(),
            incoming: Incoming::Reject,
            actions: VecDeque::new(),
            last_error: None,
            messages_in: Counters::default(),
            messages_out: Counters::default(),
            established_count: 0,
        }
    }

    pub fn config(&self) -> &SessionConfig {
        &self.cfg
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// ManualStart: connect (or, passive, wait for the peer), and keep
    /// reconnecting after failures until [`stop`](Self::stop).
    pub fn start(&mut self, now: Instant) {
        self.handle(now, Event::ManualStart);
    }

    /// ManualStop: Cease / Administrative Shutdown without a message if a
    /// session is open, then Idle until [`start`](Self::start).
    pub fn stop(&mut self, now: Instant) {
        self.handle(now, Event::ManualStop(&Notification::admin_shutdown("")));
    }

    /// Graceful stop: withdraw every route now, then after `linger` send
    /// Cease / Administrative Shutdown with `message` as the shutdown
    /// communication (RFC 9003; cut to 255 bytes) and close. The
    /// withdrawals travel ahead of the NOTIFICATION on the same stream;
    /// `linger` gives the peer time to act on them before the session
    /// reset makes it flush everything. Outside Established this is
    /// [`stop`](Self::stop) with the message.
    pub fn shutdown(&mut self, now: Instant, message: &str, linger: Duration) {
        let cease = Notification::admin_shutdown(message);
        self.handle(now, Event::GracefulShutdown(&cease, linger));
    }

    /// Our outbound connection succeeded (`Initiator::Local`), or an
    /// accepted incoming one is handed over (`Initiator::Remote`);
    /// `local` is our address on it, the default next hop. Returns
    /// whether the session took the connection; if not, close it.
    pub fn connected(&mut self, now: Instant, local: IpAddr, initiator: Initiator) -> bool {
        let before = self.state;
        self.handle(now, Event::TcpConnectionConfirmed(local, initiator));
        before != self.state && self.state == State::OpenSent
    }

    /// Our outbound connection attempt failed.
    pub fn connect_failed(&mut self, now: Instant) {
        self.handle(now, Event::TcpConnectionFails);
    }

    /// The current connection was closed by the peer or broke.
    pub fn closed(&mut self, now: Instant) {
        self.handle(now, Event::TcpConnectionFails);
    }

    /// The neighbor opened a TCP connection to us. Collisions are
    /// resolved here (RFC 4271 §6.8, see
    /// [`resolve_collision`](crate::resolve_collision)) when the peer's
    /// identifier is known: from its OPEN in OpenConfirm, or from an
    /// earlier session while in OpenSent. Without it the new connection
    /// is refused and the peer retries; an Established session always
    /// keeps its connection.
    pub fn incoming(&mut self, now: Instant) -> Incoming {
        self.incoming = Incoming::Reject;
        self.handle(now, Event::TcpConnectionIncoming);
        self.incoming
    }

    /// BFD saw the path to the peer fail (its session went from Up to
    /// Down, RFC 5882): a connection is closed at once with Cease / BFD
    /// Down (RFC 9384), which the peer will likely never see, and the
    /// session restarts after the usual backoff. The hold timer would have
    /// taken its full length to notice.
    pub fn bfd_down(&mut self, now: Instant) {
        self.handle(now, Event::BfdDown);
    }

    /// Bytes received on the current connection, split anywhere.
    pub fn handle_bytes(&mut self, now: Instant, data: &[u8]) {
        if !self.is_connected() {
            return;
        }
        self.rx.extend_from_slice(data);
        let mut pos = 0;
        while self.is_connected() {
            let rest = self.rx.get(pos..).unwrap_or_default();
            let len = match frame(rest) {
                Ok(Some(len)) => len,
                Ok(None) => break,
                Err(e) => {
                    self.handle(now, Event::MessageError(&e));
                    break;
                }
            };
            let bytes = self.rx.get(pos..pos + len).unwrap_or_default().to_vec();
            pos += len;
            match decode(&bytes, self.ctx) {
                Ok(msg) => self.handle_message(now, &msg),
                Err(e) => self.handle(now, Event::MessageError(&e)),
            }
        }
        if self.is_connected() {
            self.rx.drain(..pos.min(self.rx.len()));
        } else {
            self.rx.clear();
        }
    }

    /// Replaces the routes to announce. In Established only the
    /// difference is sent: withdrawals for routes gone, announcements for
    /// routes new or changed; otherwise the routes wait for the session.
    pub fn set_routes(&mut self, now: Instant, routes: Vec<Route>) {
        self.export.set(routes);
        self.handle(now, Event::RoutesChanged);
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.connect_retry_at,
            self.hold_at,
            self.keepalive_at,
            self.cease_at.as_ref().map(|(t, _)| *t),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due = |t: Option<Instant>| t.is_some_and(|t| t <= now);
        if self.cease_at.as_ref().is_some_and(|(t, _)| *t <= now) {
            self.handle(now, Event::ShutdownTimerExpires);
        }
        if due(self.hold_at) {
            self.hold_at = None;
            self.handle(now, Event::HoldTimerExpires);
        }
        if due(self.keepalive_at) {
            self.keepalive_at = None;
            self.handle(now, Event::KeepaliveTimerExpires);
        }
        if due(self.connect_retry_at) {
            self.connect_retry_at = None;
            self.handle(now, Event::ConnectRetryTimerExpires);
        }
    }

    /// The next action to carry out.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// A snapshot for status displays.
    pub fn status(&self) -> Status {
        let neg = self.negotiated.as_ref();
        Status {
            state: self.state,
            since: self.since,
            neighbor: self.cfg.peer_addr,
            local_as: self.cfg.local_as,
            peer_as: self.cfg.peer_as,
            router_id: self.cfg.router_id,
            peer_router_id: self.peer_open.as_ref().map(|o| o.bgp_id),
            hold_time: neg.map(|n| n.hold_time),
            keepalive: neg.and_then(Negotiated::keepalive),
            local_capabilities: local_capabilities(&self.cfg),
            remote_capabilities: self
                .peer_open
                .as_ref()
                .map(|o| o.capabilities.clone())
                .unwrap_or_default(),
            families: neg.map(|n| n.families.clone()).unwrap_or_default(),
            four_octet_as: self.ctx.four_octet_as,
            routes_desired: self.export.desired_len(),
            routes_exported: self.export.exported_len(),
            last_error: self.last_error.clone(),
            messages_in: self.messages_in,
            messages_out: self.messages_out,
            established_count: self.established_count,
        }
    }

    /// The next hop the peer has `prefix` with, when the peer has it from
    /// us now (it is in the Adj-RIB-Out); `None` when it does not.
    pub fn exported_next_hop(&self, prefix: &IpNet) -> Option<IpAddr> {
        self.export.sent_next_hop(prefix)
    }

    /// The next hop `route` would be sent with on this session: its own,
    /// the configured one for its family, else the local address of the
    /// connection (`None` while there is none, or when the session has no
    /// usable next hop for the family).
    pub fn next_hop(&self, route: &Route) -> Option<IpAddr> {
        PathAttrs::resolve(route, &self.export_ctx()).map(|a| a.next_hop)
    }

    /// Desired routes not announced because the session does not carry
    /// their family or has no next hop for them.
    pub fn routes_unexported(&self) -> usize {
        self.export.unexported_len()
    }

    fn is_connected(&self) -> bool {
        matches!(
            self.state,
            State::OpenSent | State::OpenConfirm | State::Established
        )
    }

    fn handle_message(&mut self, now: Instant, msg: &Message) {
        self.messages_in.count(msg);
        match msg {
            Message::Open(open) => self.handle(now, Event::BgpOpen(open)),
            Message::Update(_) => self.handle(now, Event::UpdateMsg),
            Message::Notification(n) => self.handle(now, Event::NotifMsg(n)),
            Message::Keepalive => self.handle(now, Event::KeepAliveMsg),
            Message::RouteRefresh(rr) => self.handle(now, Event::RouteRefreshMsg(*rr)),
        }
    }

    fn export_ctx(&self) -> ExportCtx {
        ExportCtx {
            local_as: self.cfg.local_as,
            ebgp: self.cfg.is_ebgp(),
            four_octet_as: self.ctx.four_octet_as,
            local_addr: self.local_addr,
            next_hop_v4: self.cfg.next_hop_v4,
            next_hop_v6: self.cfg.next_hop_v6,
        }
    }

    fn families(&self) -> Vec<Family> {
        self.negotiated
            .as_ref()
            .map(|n| n.families.clone())
            .unwrap_or_default()
    }
}

/// Used by the state machine: collision resolution needs both sides.
fn collision(cfg: &SessionConfig, peer: &Open, existing: Initiator) -> Resolution {
    resolve_collision(
        cfg.router_id,
        cfg.local_as,
        peer.bgp_id,
        peer.asn(),
        existing,
    )
}

/// BFD declared the peer down: (6, 10).
fn bfd_down() -> Notification {
    Notification::new(code::CEASE, subcode::BFD_DOWN, vec![])
}

/// Hold timer expired: (4, 0).
fn hold_expired() -> Notification {
    Notification::new(code::HOLD_TIMER_EXPIRED, 0, vec![])
}

/// An unexpected message for the state (RFC 6608 subcodes).
fn fsm_error(state: State) -> Notification {
    let sub = match state {
        State::OpenSent => subcode::FSM_UNEXPECTED_IN_OPEN_SENT,
        State::OpenConfirm => subcode::FSM_UNEXPECTED_IN_OPEN_CONFIRM,
        State::Established => subcode::FSM_UNEXPECTED_IN_ESTABLISHED,
        _ => 0,
    };
    Notification::new(code::FSM, sub, vec![])
}

fn collision_cease() -> Notification {
    Notification::new(code::CEASE, subcode::COLLISION_RESOLUTION, vec![])
}

/// UPDATEs as messages.
fn updates(list: Vec<Update>) -> impl Iterator<Item = Message> {
    list.into_iter().map(Message::Update)
}

/// The last-error record for a NOTIFICATION.
fn error_record(now: Instant, direction: Direction, n: &Notification) -> LastError {
    LastError {
        at: now,
        direction,
        notification: Some(n.clone()),
        text: n.to_string(),
    }
}

/// Appends `msg` to a transmit buffer; our messages always encode, so a
/// failure is a broken invariant and is reported rather than sent.
fn encode_into(msg: &Message, ctx: Context, out: &mut Vec<u8>) -> Result<(), String> {
    encode(msg, ctx, out).map_err(|e| format!("cannot encode {}: {e}", msg.name()))
}

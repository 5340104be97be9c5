//! One session under test on a virtual clock, with the peer played by
//! the test: it feeds messages in and reads what the session sends.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use rampart_bgp::{
    Action, Capability, Context, Family, Initiator, Message, Notification, Open, Route,
    RouteRefresh, Session, SessionConfig, State, Update, decode, frame, to_bytes,
};

pub const LOCAL_AS: u32 = 65001;
pub const PEER_AS: u32 = 65002;
pub const LOCAL_ID: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const PEER_ID: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
pub const LOCAL_ADDR: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
pub const PEER_ADDR: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

pub fn config() -> SessionConfig {
    SessionConfig::new(LOCAL_AS, PEER_AS, LOCAL_ID, PEER_ADDR)
}

/// The OPEN a typical peer (BIRD, FRR) sends.
pub fn peer_open(asn: u32, hold: u16) -> Open {
    Open {
        my_as: u16::try_from(asn).unwrap_or(rampart_bgp::AS_TRANS),
        hold_time: hold,
        bgp_id: PEER_ID,
        capabilities: vec![
            Capability::multiprotocol(Family::Ipv4Unicast),
            Capability::multiprotocol(Family::Ipv6Unicast),
            Capability::RouteRefresh,
            Capability::FourOctetAs(asn),
        ],
    }
}

pub struct Harness {
    pub s: Session,
    pub t0: Instant,
    pub now: Instant,
    /// Encoding the peer uses for what it sends and reads.
    pub ctx: Context,
}

/// What the session did, decoded: messages instead of bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Did {
    Connect,
    Send(Message),
    Disconnect,
    State(State),
}

impl Harness {
    pub fn new(cfg: SessionConfig) -> Self {
        let t0 = Instant::now();
        Self {
            s: Session::new(cfg),
            t0,
            now: t0,
            ctx: Context {
                four_octet_as: true,
            },
        }
    }

    /// Seconds since the start, for timing assertions.
    pub fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    /// Everything queued, decoded.
    pub fn drain(&mut self) -> Vec<Did> {
        let mut out = Vec::new();
        while let Some(a) = self.s.poll_action() {
            match a {
                Action::Connect => out.push(Did::Connect),
                Action::Disconnect => out.push(Did::Disconnect),
                Action::StateChanged { to, .. } => out.push(Did::State(to)),
                Action::Transmit(bytes) => {
                    // Each Transmit is whole messages.
                    let mut rest = bytes.as_slice();
                    while !rest.is_empty() {
                        let len = frame(rest).unwrap().unwrap();
                        out.push(Did::Send(decode(&rest[..len], self.ctx).unwrap()));
                        rest = &rest[len..];
                    }
                }
            }
        }
        out
    }

    /// Only the messages sent.
    pub fn sent(&mut self) -> Vec<Message> {
        self.drain()
            .into_iter()
            .filter_map(|d| match d {
                Did::Send(m) => Some(m),
                _ => None,
            })
            .collect()
    }

    pub fn feed(&mut self, msg: Message) {
        let bytes = to_bytes(&msg, self.ctx).unwrap();
        self.s.handle_bytes(self.now, &bytes);
    }

    pub fn feed_bytes(&mut self, bytes: &[u8]) {
        self.s.handle_bytes(self.now, bytes);
    }

    /// Moves the clock forward by `d`, firing every timer on the way.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(t) = self.s.poll_timeout().filter(|&t| t <= end) {
            self.now = self.now.max(t);
            self.s.handle_timeout(self.now);
        }
        self.now = end;
    }

    /// Like [`advance`](Self::advance), collecting what happened with
    /// the time it happened.
    pub fn run(&mut self, d: Duration) -> Vec<(Duration, Did)> {
        let end = self.now + d;
        let mut out = Vec::new();
        while let Some(t) = self.s.poll_timeout().filter(|&t| t <= end) {
            self.now = self.now.max(t);
            self.s.handle_timeout(self.now);
            let at = self.elapsed();
            out.extend(self.drain().into_iter().map(|d| (at, d)));
        }
        self.now = end;
        out
    }

    /// Start, connect, exchange OPENs and KEEPALIVEs: Established with
    /// the peer's `open`. Returns what the session sent on the way.
    pub fn establish_with(&mut self, open: Open) -> Vec<Message> {
        self.s.start(self.now);
        assert_eq!(self.drain(), vec![Did::Connect, Did::State(State::Connect)]);
        assert!(self.s.connected(self.now, LOCAL_ADDR, Initiator::Local));
        self.feed(Message::Open(open));
        self.feed(Message::Keepalive);
        assert_eq!(self.s.state(), State::Established);
        self.sent()
    }

    pub fn establish(&mut self) -> Vec<Message> {
        self.establish_with(peer_open(PEER_AS, 90))
    }

    pub fn set_routes(&mut self, routes: Vec<Route>) -> Vec<Message> {
        self.s.set_routes(self.now, routes);
        self.sent()
    }

    pub fn refresh(&mut self, afi: u16) -> Vec<Message> {
        self.feed(Message::RouteRefresh(RouteRefresh {
            afi,
            subtype: 0,
            safi: 1,
        }));
        self.sent()
    }
}

/// The UPDATEs among `msgs`.
pub fn updates(msgs: &[Message]) -> Vec<&Update> {
    msgs.iter()
        .filter_map(|m| match m {
            Message::Update(u) => Some(u),
            _ => None,
        })
        .collect()
}

/// The NOTIFICATION among `msgs`, as (code, subcode).
pub fn notification(msgs: &[Message]) -> Option<&Notification> {
    msgs.iter().find_map(|m| match m {
        Message::Notification(n) => Some(n),
        _ => None,
    })
}

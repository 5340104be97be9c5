//! The typed configuration model. Everything here has already been checked:
//! names are unique, references resolve, numbers are in range. Code that
//! consumes a [`Config`] never re-validates.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;

use crate::defaults;

mod bgp;
mod vrrp;

pub use bgp::*;
pub use vrrp::*;

/// A whole node: what `rampart run -c FILE` runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub global: Global,
    pub frontends: Vec<Frontend>,
    pub backends: Vec<Backend>,
    /// `[vrrp]`; without one, no instances.
    pub vrrp: Vrrp,
    /// `[bgp]`; without neighbors, disabled.
    pub bgp: Bgp,
    /// `[gateway]`; without one, this node neither forwards nor translates.
    pub gateway: Gateway,
    /// `[admin]`; without one, no HTTP listener.
    pub admin: Option<AdminHttp>,
}

/// `[admin]`: where `/metrics` and the dashboard are served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminHttp {
    pub listen: SocketAddr,
    /// Needed with every state-changing request when set; without it only
    /// clients on loopback may change state.
    pub token: Option<String>,
    /// `peer`: the other node's `[admin]` listener, and whether server and
    /// frontend commands follow to it by default (`follow`). Needs `token`,
    /// which both nodes share.
    pub peer: Option<AdminPeer>,
}

/// `[admin] peer` and `follow`: where operator commands follow to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminPeer {
    /// The peer node's `[admin] listen`.
    pub addr: SocketAddr,
    /// Whether commands follow without `--both` (default true).
    pub follow: bool,
}

/// `[gateway]`: IP forwarding and source NAT for the private subnet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gateway {
    /// Families whose forwarding rampart turns on while it runs (and sets
    /// back as it found them when it stops); by default those masqueraded.
    pub forward: Vec<Family>,
    pub masquerade: Vec<Masquerade>,
}

impl Gateway {
    pub fn is_enabled(&self) -> bool {
        !self.forward.is_empty() || !self.masquerade.is_empty()
    }
}

/// Packets from `source` leaving through interface `out` get the address
/// of `out` as their source (iptables' `MASQUERADE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Masquerade {
    /// Network address (host bits cleared).
    pub source: ipnet::IpNet,
    pub out: String,
}

impl Config {
    /// A backend by name.
    pub fn backend(&self, name: &str) -> Option<&Backend> {
        self.backends.iter().find(|b| b.name == name)
    }

    /// The backend `f` forwards to, as resolved at parse time. `None` only
    /// for a hand-built config whose index and name disagree.
    pub fn backend_of(&self, f: &Frontend) -> Option<&Backend> {
        self.backends
            .get(f.backend_index)
            .filter(|b| b.name == f.backend)
    }

    /// A VRRP instance by name (sync group members always resolve).
    pub fn instance(&self, name: &str) -> Option<&VrrpInstance> {
        self.vrrp.instances.iter().find(|i| i.name == name)
    }
}

/// Process-wide settings (`[global]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Global {
    /// Proxy threads in the worker process; each has its own SO_REUSEPORT
    /// listener per bind address. 0 in the file means "one per CPU".
    pub threads: usize,
    /// How long a stopping or replaced worker may drain its connections.
    pub grace: Duration,
    /// Log level for `tracing` when `RUST_LOG` is not set.
    pub log_level: String,
    /// The user the worker (the process that handles client bytes) runs
    /// as; `None`: the supervisor's. A name or a numeric uid.
    pub user: Option<String>,
    /// The worker's group; `None`: `user`'s primary group (or the
    /// supervisor's, without `user`).
    pub group: Option<String>,
    /// Where the operator's runtime state of servers (drain, maint,
    /// weight) is kept across restarts, as HAProxy's `server-state-file`.
    pub state_file: Option<std::path::PathBuf>,
    /// Where the connection log (`rampart::tcplog`) goes instead of the
    /// main log: appended to, reopened by each worker (so a reload after
    /// logrotate moves to the new file).
    pub tcplog_file: Option<std::path::PathBuf>,
}

impl Default for Global {
    fn default() -> Self {
        Global {
            threads: 0,
            grace: defaults::GRACE,
            log_level: defaults::LOG_LEVEL.to_string(),
            user: None,
            group: None,
            state_file: None,
            tcplog_file: None,
        }
    }
}

/// `[[frontend]]`: addresses to listen on and where their traffic goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frontend {
    pub name: String,
    pub bind: Vec<SocketAddr>,
    /// The backend's name, as written (for status, logs and metrics).
    pub backend: String,
    /// The backend's place in [`Config::backends`], resolved when the file
    /// is parsed (a name that resolves to none is an error there): use
    /// [`Config::backend_of`].
    pub backend_index: usize,
    /// Concurrent client connections; further ones wait in the kernel backlog.
    pub maxconn: u32,
    /// Source ACL: a client is served if it matches `allow` and not `deny`.
    /// An empty `allow` allows everyone.
    pub allow: Vec<IpNet>,
    pub deny: Vec<IpNet>,
    /// Who carries the traffic: the proxy (default) or the kernel.
    pub mode: Mode,
    /// New connections accepted per second (`mode = "nat"`: an nftables
    /// limit on SYNs); more are dropped, and the client's TCP retries.
    pub rate_limit: Option<u32>,
}

/// A frontend's data plane (`mode = "..."`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// The worker terminates TCP on both sides (HAProxy's `mode tcp`).
    #[default]
    Proxy,
    /// The kernel rewrites packets to a server chosen by a Maglev table
    /// the same on every node (LVS-NAT); this node must be the servers'
    /// route back.
    Nat,
}

impl Mode {
    pub const NAMES: [&'static str; 2] = ["proxy", "nat"];

    pub fn from_name(s: &str) -> Option<Mode> {
        match s {
            "proxy" => Some(Mode::Proxy),
            "nat" => Some(Mode::Nat),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Proxy => "proxy",
            Mode::Nat => "nat",
        }
    }
}

impl Frontend {
    /// The source ACL decision for one client address.
    pub fn admits(&self, ip: std::net::IpAddr) -> bool {
        let ip = canonical_ip(ip);
        let allowed = self.allow.is_empty() || self.allow.iter().any(|n| n.contains(&ip));
        allowed && !self.deny.iter().any(|n| n.contains(&ip))
    }
}

/// IPv4-mapped IPv6 addresses (from dual-stack listeners) are matched as IPv4.
fn canonical_ip(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => std::net::IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

/// `[[backend]]`: a pool of servers and how to pick among them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    pub name: String,
    pub balance: Balance,
    /// Connect attempts after the first one; each goes to another server
    /// when one is available (HAProxy's `retries` + `option redispatch`).
    pub retries: u32,
    pub timeout: Timeouts,
    pub health: Health,
    pub servers: Vec<Server>,
    /// What happens to a server's open connections when its check marks
    /// it down; `None`: the data plane's default (see [`OnMarkedDown`]).
    pub on_marked_down: Option<OnMarkedDown>,
}

impl Backend {
    /// What happens to a server's open connections when its check marks
    /// it down, for a frontend in `mode`: as configured, else the data
    /// plane's default.
    pub fn marked_down(&self, mode: Mode) -> OnMarkedDown {
        self.on_marked_down.unwrap_or(match mode {
            Mode::Proxy => OnMarkedDown::Keep,
            Mode::Nat => OnMarkedDown::ShutdownSessions,
        })
    }

    /// How `server` is checked: where its checks connect, and the
    /// backend's health settings with the server's own over them (HAProxy
    /// sets `port`, `addr`, `inter`, `fall` and `rise` per server). A server
    /// with `check = false` gets [`Check::None`].
    pub fn check_of(&self, server: &Server) -> (SocketAddr, Health) {
        let own = &server.health;
        let mut health = Health {
            interval: own.interval.unwrap_or(self.health.interval),
            timeout: own.timeout.unwrap_or(self.health.timeout),
            fall: own.fall.unwrap_or(self.health.fall),
            rise: own.rise.unwrap_or(self.health.rise),
            port: own.port.or(self.health.port),
            ..self.health.clone()
        };
        if !server.check {
            health.check = Check::None;
        }
        let mut target = server.addr;
        if let Some(ip) = own.addr {
            target.set_ip(ip);
        }
        if let Some(port) = health.port {
            target.set_port(port);
        }
        (target, health)
    }
}

/// HAProxy's `on-marked-down`, per backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnMarkedDown {
    /// They run on (the proxy's default, as HAProxy's): a server that
    /// fails its check may still serve what it has.
    Keep,
    /// They are closed (NAT mode's default: the kernel would otherwise
    /// keep sending them to a server that may be gone).
    ShutdownSessions,
}

impl OnMarkedDown {
    pub const NAMES: [&'static str; 2] = ["keep", "shutdown-sessions"];

    pub fn from_name(s: &str) -> Option<OnMarkedDown> {
        match s {
            "keep" => Some(OnMarkedDown::Keep),
            "shutdown-sessions" => Some(OnMarkedDown::ShutdownSessions),
            _ => None,
        }
    }
}

/// Balancing algorithms (`balance = "..."`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Balance {
    /// Smooth weighted round robin.
    RoundRobin,
    /// Fewest active connections, weighted.
    LeastConn,
    /// Weighted Maglev hash of the client address.
    Source,
    /// First server in config order with a free slot.
    First,
    /// Power of two random choices.
    Random,
}

impl Balance {
    pub const NAMES: [&'static str; 5] = ["roundrobin", "leastconn", "source", "first", "random"];

    pub fn from_name(s: &str) -> Option<Balance> {
        Some(match s {
            "roundrobin" => Balance::RoundRobin,
            "leastconn" => Balance::LeastConn,
            "source" => Balance::Source,
            "first" => Balance::First,
            "random" => Balance::Random,
            _ => return None,
        })
    }
}

/// `timeout = { ... }` of a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// One connect attempt to a server.
    pub connect: Duration,
    /// Inactivity on the client side (nothing read from or written to it).
    pub client: Duration,
    /// Inactivity on the server side.
    pub server: Duration,
    /// When set, replaces client and server once both sides are connected
    /// (long-lived tunnels such as WebSocket or database sessions).
    pub tunnel: Option<Duration>,
    /// How long a connection may wait for a server slot when every server
    /// is at its `maxconn`.
    pub queue: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: defaults::TIMEOUT_CONNECT,
            client: defaults::TIMEOUT_CLIENT,
            server: defaults::TIMEOUT_SERVER,
            tunnel: None,
            queue: defaults::TIMEOUT_QUEUE,
        }
    }
}

/// `health = { ... }` of a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub check: Check,
    pub interval: Duration,
    pub timeout: Duration,
    /// Consecutive failures that take an up server down.
    pub fall: u32,
    /// Consecutive successes that bring a down server up.
    pub rise: u32,
    /// Whether servers start up before their first check completes.
    /// Default false: a server is used only after one good check.
    pub start_up: bool,
    /// The port checks connect to instead of each server's (HAProxy's
    /// `port` on `default-server`, `tcp-check connect port`).
    pub port: Option<u16>,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            check: Check::Tcp,
            interval: defaults::HEALTH_INTERVAL,
            timeout: defaults::HEALTH_TIMEOUT,
            fall: defaults::HEALTH_FALL,
            rise: defaults::HEALTH_RISE,
            start_up: false,
            port: None,
        }
    }
}

/// What a health check does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// No active checks; servers are always considered up
    /// (passive failures still count).
    None,
    /// A TCP connect succeeds.
    Tcp,
    /// Connect, send `send`, and read until `expect` appears in the reply.
    SendExpect { send: Vec<u8>, expect: Vec<u8> },
    /// An HTTP/1.1 request; the status line must carry `status`.
    Http {
        method: String,
        path: String,
        host: Option<String>,
        status: u16,
    },
}

/// One server of a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub name: String,
    pub addr: SocketAddr,
    /// 1..=256 like HAProxy; 0 is allowed and means "drain": never chosen.
    pub weight: u32,
    /// Used only when no primary server is up.
    pub backup: bool,
    /// Concurrent connections; 0 = unlimited. Excess connections queue.
    pub maxconn: u32,
    pub send_proxy: Option<ProxyVersion>,
    /// Active health checks for this server (`check = false` turns them off).
    pub check: bool,
    /// What this server's checks do differently from its backend's; see
    /// [`Backend::check_of`].
    pub health: ServerHealth,
}

/// A server's own `health = { ... }`: each key set replaces its backend's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerHealth {
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub fall: Option<u32>,
    pub rise: Option<u32>,
    /// Checks connect to this port instead of the server's (HAProxy's
    /// `check port`): a service whose health is reported on a side port.
    pub port: Option<u16>,
    /// Checks connect to this address instead of the server's (HAProxy's
    /// `addr`), at the server's port unless `port` is set too.
    pub addr: Option<IpAddr>,
}

/// PROXY protocol version sent to a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyVersion {
    V1,
    V2,
}

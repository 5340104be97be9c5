//! The control socket: the supervisor listens on a Unix stream socket
//! (`<runtime dir>/rampart.sock`, or `--control PATH`) that the `rampart`
//! subcommands use. What `status` returns is [`Status`], shared by the
//! proxy's health, VRRP and BGP.
//!
//! Protocol: a client connects, sends one request line, reads one JSON
//! line back, and the connection ends.
//!
//! | request  | answer                                                        |
//! |----------|---------------------------------------------------------------|
//! | `status` | [`Status`]                                                    |
//! | `show stats` | [`Stats`]: status, traffic counters, health checks     |
//! | `show config` | [`ConfigText`]: the running config (root or the daemon's uid) |
//! | `reload` | [`ReloadOutcome`], once that reload is done; one asked for    |
//! |          | during a reload runs (and answers) after it                   |
//! | `server drain\|maint\|ready B/S`, `server weight B/S N` [`--both`\|`--local`] | `{"changed": "..."}` |
//! | `vrrp resign NAME`, `vrrp resume [NAME]` | `{"changed": "..."}` |
//! | `frontend disable\|enable NAME` [`--both`\|`--local`] | `{"changed": "..."}` |
//! | `bgp disable NAME [MESSAGE]`, `bgp enable NAME` | `{"changed": "..."}` |
//! | `show routes` | [`Routes`](crate::bgp::show::Routes)                 |
//! | `upgrade`| nothing if the new binary now runs (the connection closes);  |
//! |          | a failed [`ReloadOutcome`] if it does not                     |
//! | other    | [`ErrorReply`]: `{"error": "..."}`                            |
//!
//! A server or frontend command's last word may be `--both` (follow to
//! the `[admin] peer` node even with `follow = false`; an error without a
//! peer) or `--local` (this node only); without either it follows as
//! `[admin] follow` says. A followed command's `changed` ends with the
//! peer's outcome (`; peer ADDR: ...`), see [`crate::peer`].
//!
//! The supervisor runs VRRP and BGP, so nothing a client does may exhaust
//! it:
//! - a request line is read with a limit ([`MAX_REQUEST`]): a longer one
//!   gets an error and the rest is never read;
//! - at most [`MAX_CONNECTIONS`] clients at once; one more gets an error
//!   line and is closed at once (a waiting client would hold a descriptor
//!   anyway, so waiting would not bound descriptors; and a prompt "busy"
//!   beats a hang). Each slot is freed within [`REQUEST_TIMEOUT`] unless it
//!   waits for a reload;
//! - the socket's mode is set to 0600 (0660 with `--control-group`)
//!   whatever the umask, before it is reachable at its path;
//! - a request that changes state (`reload`, `upgrade`) is served only to uid 0 or
//!   the daemon's own uid, by the peer's credentials (SO_PEERCRED);
//!   `status` and `show routes` to anyone who can connect.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::admin::ServerCommand;
use crate::peer::Follow;
use crate::reload::{ReloadOutcome, Waiter};

/// A client that says nothing for this long is dropped.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a server or frontend command's client waits: the workers
/// (up to 3 s), then the peer node ([`crate::peer::TIMEOUT`]).
const FOLLOW_WAIT: Duration = Duration::from_secs(10);
/// How long `rampart reload` waits: a new worker has 10 s to get ready,
/// and the request may queue behind one reload under way.
const RELOAD_WAIT: Duration = Duration::from_secs(60);
/// Longest request line. Requests are a word; this leaves room for
/// commands with names in them, and bounds what a client can make the
/// supervisor hold (MAX_CONNECTIONS × MAX_REQUEST = 2 MiB).
pub const MAX_REQUEST: usize = 64 * 1024;
/// Clients served at once.
pub const MAX_CONNECTIONS: usize = 32;

/// Everything `rampart status` shows.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Status {
    /// Frontends the operator disabled (`rampart frontend disable`).
    #[serde(default)]
    pub disabled_frontends: Vec<String>,
    /// The running program's version.
    #[serde(default)]
    pub version: String,
    /// `rampart upgrade`s since the node started.
    #[serde(default)]
    pub upgrades: u32,
    pub servers: Vec<ServerStatus>,
    pub vrrp: Vec<VrrpStatus>,
    pub bgp: Vec<BgpStatus>,
    /// `[gateway]`, if configured.
    #[serde(default)]
    pub gateway: Option<GatewayStatus>,
    /// `rampart node drain`, while on.
    #[serde(default)]
    pub node_drain: Option<crate::supervisor::NodeDrainStatus>,
    /// `mode = "nat"` frontends, as the kernel has them.
    #[serde(default)]
    pub nat: Vec<NatFrontendStatus>,
}

/// A `mode = "nat"` frontend: its Maglev table and what went to each
/// server (read from nftables' counters every 500 ms).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct NatFrontendStatus {
    pub name: String,
    pub vip: String,
    pub backend: String,
    /// False while disabled: new connections are dropped.
    pub accepting: bool,
    /// Entries of the Maglev table (0: no server can take a connection).
    pub table_size: usize,
    pub servers: Vec<NatServerStatus>,
}

impl NatFrontendStatus {
    /// The server's part of the table, 0 to 1.
    pub fn fraction(&self, server: &NatServerStatus) -> f64 {
        if self.table_size == 0 {
            0.0
        } else {
            server.share as f64 / self.table_size as f64
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct NatServerStatus {
    pub name: String,
    pub addr: String,
    /// Entries of the table that are this server's.
    pub share: usize,
    /// Connections opened (first packets: SYN without ACK).
    pub connections: u64,
    /// Client to server.
    pub packets_to: u64,
    pub bytes_to: u64,
    /// Server to client.
    pub packets_back: u64,
    pub bytes_back: u64,
}

/// One BGP neighbor, as `birdc show protocols all` tells.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BgpStatus {
    pub name: String,
    /// RFC 4271's state names (`Established`, `Active`, ...).
    pub state: String,
    pub since_seconds: Option<u64>,
    pub neighbor: String,
    pub neighbor_as: u32,
    pub neighbor_router_id: Option<String>,
    pub local_as: u32,
    pub router_id: String,
    pub hold_time: Option<u16>,
    pub keepalive_seconds: Option<u64>,
    pub capabilities_local: Vec<String>,
    pub capabilities_remote: Vec<String>,
    pub families: Vec<String>,
    pub four_octet_as: bool,
    pub routes_desired: usize,
    pub routes_exported: usize,
    pub last_error: Option<String>,
    pub messages_in: u64,
    pub messages_out: u64,
    /// UPDATE messages, of `messages_in` / `messages_out`.
    #[serde(default)]
    pub updates_in: u64,
    #[serde(default)]
    pub updates_out: u64,
    pub established_count: u64,
    /// `set` or `none`: the password itself is never shown.
    pub password: String,
    /// The BFD session with the neighbor (`bfd = true`).
    #[serde(default)]
    pub bfd: Option<crate::bfd::BfdStatus>,
}

/// Forwarding as the kernel has it now, and the NAT rules in place.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct GatewayStatus {
    /// Per family managed by rampart: "ipv4" / "ipv6" and whether the
    /// kernel forwards it right now.
    pub forwarding: Vec<(String, bool)>,
    /// "192.168.1.0/24 out bond0", one per rule in the `inet rampart` table.
    pub masquerade: Vec<String>,
    /// Each rule's counters.
    #[serde(default)]
    pub nat: Vec<NatRule>,
}

/// A masquerade rule and what went through it: connections translated,
/// and packets and bytes forwarded each way (out of the subnet through
/// the rule's interface, and back in).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct NatRule {
    /// "192.168.1.0/24 out bond0".
    pub rule: String,
    pub connections: u64,
    pub packets_out: u64,
    pub bytes_out: u64,
    pub packets_in: u64,
    pub bytes_in: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServerStatus {
    pub backend: String,
    pub server: String,
    pub up: bool,
    /// The operator's state: `ready`, `drain` or `maint`.
    #[serde(default)]
    pub admin: String,
    /// The weight in force.
    #[serde(default)]
    pub weight: u32,
}

/// One VRRP instance, as `show vrrp` would print it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VrrpStatus {
    pub name: String,
    pub interface: String,
    pub vrid: u8,
    pub version: u8,
    pub state: String,
    pub priority: u8,
    pub configured_priority: u8,
    pub master_interval_ms: u64,
    pub master_down_ms: u64,
    pub adverts_rx: u64,
    pub adverts_tx: u64,
    pub priority0_rx: u64,
    pub priority0_tx: u64,
    pub became_master: u64,
    /// Dropped (or flagged) adverts by reason.
    pub drops: BTreeMap<String, u64>,
    /// Checksum form the peer uses (VRRPv3 over IPv4), once heard.
    pub peer_checksum: Option<String>,
    /// How late this node's timer-driven adverts left.
    #[serde(default)]
    pub advert_late: AdvertLateness,
    /// The virtual addresses.
    #[serde(default)]
    pub vips: Vec<String>,
    /// The last peer heard (from a backup: the master) and its priority.
    #[serde(default)]
    pub peer: Option<String>,
    #[serde(default)]
    pub peer_priority: Option<u8>,
    /// State changes since start, and the last one.
    #[serde(default)]
    pub transitions: u64,
    #[serde(default)]
    pub last_transition: Option<TransitionStatus>,
    /// Each tracked input and its part in `priority`.
    #[serde(default)]
    pub trackers: Vec<TrackerPart>,
}

/// A VRRP state change: from, to, how long ago, why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TransitionStatus {
    pub from: String,
    pub to: String,
    pub seconds_ago: f64,
    pub cause: String,
}

/// One tracked input of a VRRP instance.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TrackerPart {
    /// "backend web has 1+ servers up", "interface eth1 up", "script chk".
    pub what: String,
    pub ok: bool,
    pub weight: i32,
    /// What it does to the priority now: "+10", "-20", "0" or "fault".
    pub effect: String,
}

/// Lateness of the adverts a master sent on its timer: from the moment the
/// advert was due to the end of its send.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct AdvertLateness {
    /// Adverts measured since start.
    pub adverts: u64,
    /// 99th percentile over the recent adverts (the last 3000).
    pub p99_us: u32,
    /// The latest one ever.
    pub max_us: u32,
}

/// Everything `rampart show servers` and `/metrics` show: the status,
/// the worker's traffic counters and each checked server's checks.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Stats {
    pub status: Status,
    /// None if the worker did not answer in time (it is starting, or
    /// stuck): the rest is still shown.
    pub proxy: Option<rampart_proxy::ProxyStats>,
    pub checks: Vec<CheckEntry>,
    /// Seconds since the supervisor started.
    pub uptime_seconds: f64,
}

/// One checked server's health checks.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CheckEntry {
    pub backend: String,
    pub server: String,
    pub report: rampart_proxy::health::CheckReport,
}

impl Stats {
    /// The checks of `backend`/`server`, if it is checked.
    pub fn check(
        &self,
        backend: &str,
        server: &str,
    ) -> Option<&rampart_proxy::health::CheckReport> {
        self.checks
            .iter()
            .find(|c| c.backend == backend && c.server == server)
            .map(|c| &c.report)
    }
}

/// A request line, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Status,
    /// `show stats`: [`Stats`].
    Stats,
    /// `show config`: the running config's text (privileged: it holds
    /// passwords).
    Config,
    /// `show sessions`: [`rampart_proxy::Sessions`].
    Sessions,
    /// `session kill ID`.
    KillSession(u64),
    Reload,
    Upgrade,
    /// `server drain|maint|ready B/S`, `server weight B/S N`, and whether
    /// it follows to the peer node.
    Server(ServerCommand, Follow),
    /// `vrrp resign NAME`, `vrrp resume [NAME]`.
    Vrrp {
        resign: bool,
        name: Option<String>,
    },
    /// `frontend disable|enable NAME [--both|--local]`.
    Frontend {
        enable: bool,
        name: String,
        follow: Follow,
    },
    /// `bgp disable NAME [MESSAGE...]`, `bgp enable NAME`.
    Bgp {
        enable: bool,
        name: String,
        message: String,
    },
    /// `show routes`.
    ShowRoutes,
    /// `node drain WITHDRAW_MS WINDOW_MS` (`Some`), `node undrain`.
    Node(Option<crate::supervisor::DrainPlan>),
}

impl Command {
    fn parse(line: &str) -> Result<Command, String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["status"] => Ok(Command::Status),
            ["show", "stats"] => Ok(Command::Stats),
            ["show", "config"] => Ok(Command::Config),
            ["show", "sessions"] => Ok(Command::Sessions),
            ["session", "kill", id] => id.parse().map(Command::KillSession).map_err(|_| {
                format!("`{id}`: a session id is a number (see `rampart show sessions`)")
            }),
            ["reload"] => Ok(Command::Reload),
            ["upgrade"] => Ok(Command::Upgrade),
            ["server", rest @ ..] => {
                let (rest, follow) = Follow::split(rest);
                ServerCommand::parse(rest).map(|c| Command::Server(c, follow))
            }
            ["frontend", rest @ ..] => match Follow::split(rest) {
                ([verb @ ("disable" | "enable"), name], follow) => Ok(Command::Frontend {
                    enable: *verb == "enable",
                    name: (*name).to_string(),
                    follow,
                }),
                _ => Err(format!("unknown request {:?}", line.trim())),
            },
            ["bgp", "enable", name] => Ok(Command::Bgp {
                enable: true,
                name: (*name).to_string(),
                message: String::new(),
            }),
            ["bgp", "disable", name, message @ ..] => Ok(Command::Bgp {
                enable: false,
                name: (*name).to_string(),
                message: if message.is_empty() {
                    "administratively disabled".to_string()
                } else {
                    message.join(" ")
                },
            }),
            ["show", "routes"] => Ok(Command::ShowRoutes),
            ["node", "undrain"] => Ok(Command::Node(None)),
            ["node", "drain", withdraw, window, idle] => {
                let ms = |w: &str| {
                    w.parse::<u64>().map(Duration::from_millis).map_err(|_| {
                        format!("`{w}`: node drain takes three durations in milliseconds")
                    })
                };
                crate::supervisor::DrainPlan::new(ms(withdraw)?, ms(window)?, ms(idle)?)
                    .map(|p| Command::Node(Some(p)))
            }
            ["vrrp", "resign", name] => Ok(Command::Vrrp {
                resign: true,
                name: Some((*name).to_string()),
            }),
            ["vrrp", "resume"] => Ok(Command::Vrrp {
                resign: false,
                name: None,
            }),
            ["vrrp", "resume", name] => Ok(Command::Vrrp {
                resign: false,
                name: Some((*name).to_string()),
            }),
            _ => Err(format!("unknown request {:?}", line.trim())),
        }
    }

    fn line(&self) -> String {
        match self {
            Command::Status => "status".into(),
            Command::Stats => "show stats".into(),
            Command::Config => "show config".into(),
            Command::Sessions => "show sessions".into(),
            Command::KillSession(id) => format!("session kill {id}"),
            Command::Reload => "reload".into(),
            Command::Upgrade => "upgrade".into(),
            Command::ShowRoutes => "show routes".into(),
            Command::Node(None) => "node undrain".into(),
            Command::Node(Some(p)) => format!(
                "node drain {} {} {}",
                p.withdraw_after.as_millis(),
                p.window.as_millis(),
                p.idle.as_millis()
            ),
            Command::Server(c, follow) => c.line() + follow.flag(),
            Command::Bgp {
                enable: true, name, ..
            } => format!("bgp enable {name}"),
            Command::Bgp { name, message, .. } => {
                // One request line: no control characters in it.
                let message: String = message
                    .chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .collect();
                format!("bgp disable {name} {message}")
            }
            Command::Frontend {
                enable,
                name,
                follow,
            } => format!(
                "frontend {} {name}{}",
                if *enable { "enable" } else { "disable" },
                follow.flag()
            ),
            Command::Vrrp { resign, name } => format!(
                "vrrp {}{}",
                if *resign { "resign" } else { "resume" },
                name.as_deref().map(|n| format!(" {n}")).unwrap_or_default()
            ),
        }
    }

    /// Whether only root and the daemon's user may ask: every request
    /// that changes what runs, and `show config` (it holds secrets).
    fn privileged(&self) -> bool {
        match self {
            Command::Status | Command::Stats | Command::ShowRoutes | Command::Sessions => false,
            Command::KillSession(_)
            | Command::Config
            | Command::Reload
            | Command::Upgrade
            | Command::Server(..)
            | Command::Vrrp { .. }
            | Command::Node(_)
            | Command::Frontend { .. }
            | Command::Bgp { .. } => true,
        }
    }
}

/// The answer to `show config`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConfigText {
    pub config: String,
}

/// The answer to a state-changing command other than reload: what changed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Changed {
    pub changed: String,
}

/// A request passed to the supervisor, with where to send the answer.
pub enum Request {
    Status(oneshot::Sender<Status>),
    /// Status, counters and checks.
    Stats(oneshot::Sender<Stats>),
    /// The running config's text, as applied.
    Config(oneshot::Sender<String>),
    /// The sessions being served.
    Sessions(oneshot::Sender<Result<rampart_proxy::Sessions, String>>),
    /// Close one session.
    KillSession(u64, Asker, oneshot::Sender<Result<String, String>>),
    Reload(Waiter),
    /// Answered only if the upgrade fails: on success the program is
    /// replaced (and the connection closes).
    Upgrade(Waiter),
    /// A server's runtime state: what changed, or why not.
    Server(
        ServerCommand,
        Follow,
        Asker,
        oneshot::Sender<Result<String, String>>,
    ),
    /// VRRP resign (true) or resume of a name.
    Vrrp(
        bool,
        Option<String>,
        Asker,
        oneshot::Sender<Result<String, String>>,
    ),
    /// Enable (true) or disable a BGP neighbor (with the shutdown
    /// message).
    Bgp(
        bool,
        String,
        String,
        Asker,
        oneshot::Sender<Result<String, String>>,
    ),
    /// Enable (true) or disable a frontend.
    Frontend(
        bool,
        String,
        Follow,
        Asker,
        oneshot::Sender<Result<String, String>>,
    ),
    /// `show routes`.
    Routes(oneshot::Sender<crate::bgp::show::Routes>),
    /// `node drain` (`Some`) or `node undrain`.
    Node(
        Option<crate::supervisor::DrainPlan>,
        Asker,
        oneshot::Sender<Result<String, String>>,
    ),
}

/// Who asked for a change, for the log line that records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asker {
    /// A client of the control socket, by its peer credentials.
    Uid(u32),
    /// A client of the `[admin]` HTTP listener.
    Http(std::net::SocketAddr),
    /// The `[admin] peer` node, passing on its operator's command.
    Peer(std::net::SocketAddr),
}

impl std::fmt::Display for Asker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Asker::Uid(uid) => write!(f, "uid {uid}"),
            Asker::Http(peer) => write!(f, "HTTP client {peer}"),
            Asker::Peer(peer) => write!(f, "HTTP client {peer}, followed from peer"),
        }
    }
}

/// The answer to a request that could not be served.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorReply {
    pub error: String,
}

/// Root and the daemon's own user may change state.
fn may_change_state(peer: u32, own: u32) -> bool {
    peer == 0 || peer == own
}

/// Binds the control socket with mode 0600 (0660 and group `group` if
/// given), replacing a stale file (one no process listens on) but refusing
/// to take over a live one.
pub fn bind(path: &Path, group: Option<u32>) -> Result<UnixListener> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        // Only a stale socket is replaced: a typo in --control must not
        // delete a config file or anything else that sits there.
        if !std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type()) {
            bail!(
                "{} exists and is not a socket: refusing to replace it",
                path.display()
            );
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!("{} is in use by a running rampart", path.display());
        }
        let _ = std::fs::remove_file(path);
    }
    // Bound under a temporary name, given its mode and group, then renamed
    // into place: at `path` it is never reachable with the umask's mode.
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(
        ".{}.{}.tmp",
        name.unwrap_or_default(),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&tmp);
    let listener =
        UnixListener::bind(&tmp).with_context(|| format!("control socket {}", path.display()))?;
    let placed = (|| {
        let mode = if group.is_some() { 0o660 } else { 0o600 };
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
        if let Some(gid) = group {
            std::os::unix::fs::chown(&tmp, None, Some(gid))?;
        }
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("control socket {}", path.display()));
    }
    Ok(listener)
}

/// The gid of `--control-group` (a name or a number).
pub fn group(name: &str) -> Result<u32> {
    if let Ok(gid) = name.parse() {
        return Ok(gid);
    }
    match nix::unistd::Group::from_name(name) {
        Ok(Some(g)) => Ok(g.gid.as_raw()),
        Ok(None) => bail!("no group {name:?}"),
        Err(e) => bail!("cannot look up group {name:?}: {e}"),
    }
}

/// Serves clients for as long as the supervisor runs; each request is
/// forwarded to the supervisor through `requests`.
pub async fn serve(listener: UnixListener, requests: mpsc::Sender<Request>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let own = nix::unistd::geteuid().as_raw();
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                // Out of descriptors and the like: keep serving, slowly.
                tracing::warn!("control socket: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // A new socket's send buffer is empty: this short line fits
            // without waiting, so no task is spawned per refused client.
            let _ = stream.try_write(
                error_line(format!(
                    "busy: {MAX_CONNECTIONS} control connections open; try again"
                ))
                .as_bytes(),
            );
            continue;
        };
        let requests = requests.clone();
        tokio::spawn(async move {
            handle(stream, &requests, own).await;
            drop(slot);
        });
    }
}

fn error_line(error: impl Into<String>) -> String {
    let reply = ErrorReply {
        error: error.into(),
    };
    serde_json::to_string(&reply).unwrap_or_default() + "\n"
}

/// One client: a request line, one answer line.
async fn handle(stream: UnixStream, requests: &mpsc::Sender<Request>, own: u32) {
    let peer = stream.peer_cred().ok().map(|c| c.uid());
    let (r, mut w) = stream.into_split();
    let answer = match tokio::time::timeout(REQUEST_TIMEOUT, read_request(r)).await {
        Err(_) => error_line(format!("no request within {REQUEST_TIMEOUT:?}")),
        Ok(Err(e)) => error_line(e),
        Ok(Ok(cmd)) if cmd.privileged() && !peer.is_some_and(|p| may_change_state(p, own)) => {
            let who = peer.map_or_else(|| "unknown".to_string(), |p| p.to_string());
            error_line(format!(
                "permission denied: `{}` needs uid 0 or {own} (you are uid {who})",
                cmd.line()
            ))
        }
        Ok(Ok(cmd)) => match ask_supervisor(cmd, peer.unwrap_or(u32::MAX), requests).await {
            Some(a) => a,
            // The supervisor is stopping.
            None => return,
        },
    };
    // A client that asks and never reads must not hold its slot forever.
    let _ = tokio::time::timeout(REQUEST_TIMEOUT, w.write_all(answer.as_bytes())).await;
}

/// Reads one line of at most MAX_REQUEST bytes: never more is buffered.
async fn read_request(r: tokio::net::unix::OwnedReadHalf) -> Result<Command, String> {
    let mut buf = Vec::new();
    let mut limited = tokio::io::BufReader::new(r.take(MAX_REQUEST as u64 + 1));
    limited
        .read_until(b'\n', &mut buf)
        .await
        .map_err(|e| e.to_string())?;
    if buf.len() > MAX_REQUEST {
        return Err(format!("request longer than {MAX_REQUEST} bytes"));
    }
    let line = std::str::from_utf8(&buf).map_err(|_| "request is not UTF-8".to_string())?;
    Command::parse(line)
}

async fn ask_supervisor(
    cmd: Command,
    uid: u32,
    requests: &mpsc::Sender<Request>,
) -> Option<String> {
    let json = match cmd {
        Command::Status => {
            let (tx, rx) = oneshot::channel();
            requests.send(Request::Status(tx)).await.ok()?;
            serde_json::to_string(&rx.await.ok()?)
        }
        Command::Stats => {
            let (tx, rx) = oneshot::channel();
            requests.send(Request::Stats(tx)).await.ok()?;
            serde_json::to_string(&rx.await.ok()?)
        }
        Command::Sessions => {
            let (tx, rx) = oneshot::channel();
            requests.send(Request::Sessions(tx)).await.ok()?;
            return Some(match rx.await.ok()? {
                Ok(s) => serde_json::to_string(&s).ok()? + "\n",
                Err(e) => error_line(e),
            });
        }
        Command::KillSession(id) => {
            return operate(requests, |tx| Request::KillSession(id, Asker::Uid(uid), tx)).await;
        }
        Command::Config => {
            let (tx, rx) = oneshot::channel();
            requests.send(Request::Config(tx)).await.ok()?;
            serde_json::to_string(&ConfigText {
                config: rx.await.ok()?,
            })
        }
        Command::Reload => {
            let (tx, rx) = oneshot::channel();
            requests.send(Request::Reload(tx)).await.ok()?;
            serde_json::to_string(&rx.await.ok()?)
        }
        Command::Upgrade => {
            let (tx, rx) = oneshot::channel();
            requests.send(Request::Upgrade(tx)).await.ok()?;
            serde_json::to_string(&rx.await.ok()?)
        }
        Command::ShowRoutes => {
            let (tx, rx) = oneshot::channel();
            requests.send(Request::Routes(tx)).await.ok()?;
            serde_json::to_string(&rx.await.ok()?)
        }
        Command::Server(c, follow) => {
            return operate(requests, |tx| {
                Request::Server(c, follow, Asker::Uid(uid), tx)
            })
            .await;
        }
        Command::Bgp {
            enable,
            name,
            message,
        } => {
            return operate(requests, |tx| {
                Request::Bgp(enable, name, message, Asker::Uid(uid), tx)
            })
            .await;
        }
        Command::Frontend {
            enable,
            name,
            follow,
        } => {
            return operate(requests, |tx| {
                Request::Frontend(enable, name, follow, Asker::Uid(uid), tx)
            })
            .await;
        }
        Command::Node(plan) => {
            return operate(requests, |tx| Request::Node(plan, Asker::Uid(uid), tx)).await;
        }
        Command::Vrrp { resign, name } => {
            return operate(requests, |tx| {
                Request::Vrrp(resign, name, Asker::Uid(uid), tx)
            })
            .await;
        }
    };
    json.ok().map(|j| j + "\n")
}

/// An operator's command: the supervisor answers what changed, or why not.
async fn operate(
    requests: &mpsc::Sender<Request>,
    request: impl FnOnce(oneshot::Sender<Result<String, String>>) -> Request,
) -> Option<String> {
    let (tx, rx) = oneshot::channel();
    requests.send(request(tx)).await.ok()?;
    match rx.await.ok()? {
        Ok(changed) => serde_json::to_string(&Changed { changed })
            .ok()
            .map(|j| j + "\n"),
        Err(error) => Some(error_line(error)),
    }
}

/// `rampart show servers` and friends: asks the supervisor at `path`.
pub fn stats(path: &Path) -> Result<Stats> {
    ask(path, Command::Stats, REQUEST_TIMEOUT)
}

/// `rampart show sessions`.
pub fn sessions(path: &Path) -> Result<rampart_proxy::Sessions> {
    ask(path, Command::Sessions, REQUEST_TIMEOUT)
}

/// `rampart session kill ID`: what changed.
pub fn kill_session(path: &Path, id: u64) -> Result<String> {
    let changed: Changed = ask(path, Command::KillSession(id), REQUEST_TIMEOUT)?;
    Ok(changed.changed)
}

/// `rampart show config`.
pub fn config(path: &Path) -> Result<String> {
    ask::<ConfigText>(path, Command::Config, REQUEST_TIMEOUT).map(|c| c.config)
}

/// `rampart status`: asks the supervisor at `path`.
pub fn query(path: &Path) -> Result<Status> {
    ask(path, Command::Status, REQUEST_TIMEOUT)
}

/// `rampart show routes`: asks the supervisor at `path`.
pub fn routes(path: &Path) -> Result<crate::bgp::show::Routes> {
    ask(path, Command::ShowRoutes, REQUEST_TIMEOUT)
}

/// `rampart reload`: asks the supervisor at `path` to reload and waits
/// for the outcome.
///
/// `None`: the connection closed without an answer, because the node
/// replaced its program (a reload once the binary was replaced is an
/// upgrade); the caller then waits for the new program's status.
pub fn reload(path: &Path) -> Result<Option<ReloadOutcome>> {
    outcome(path, Command::Reload)
}

/// `rampart server ...`: what changed (an error names why not), here and
/// on the peer node if it followed.
pub fn server(path: &Path, cmd: ServerCommand, follow: Follow) -> Result<String> {
    let changed: Changed = ask(path, Command::Server(cmd, follow), FOLLOW_WAIT)?;
    Ok(changed.changed)
}

/// `rampart bgp disable|enable`: what changed.
pub fn bgp(path: &Path, enable: bool, name: String, message: String) -> Result<String> {
    let cmd = Command::Bgp {
        enable,
        name,
        message,
    };
    let changed: Changed = ask(path, cmd, REQUEST_TIMEOUT)?;
    Ok(changed.changed)
}

/// `rampart frontend disable|enable`: what changed, here and on the peer
/// node if it followed.
pub fn frontend(path: &Path, enable: bool, name: String, follow: Follow) -> Result<String> {
    let cmd = Command::Frontend {
        enable,
        name,
        follow,
    };
    let changed: Changed = ask(path, cmd, FOLLOW_WAIT)?;
    Ok(changed.changed)
}

/// `rampart node drain|undrain`: what it did.
pub fn node(path: &Path, drain: Option<crate::supervisor::DrainPlan>) -> Result<String> {
    let changed: Changed = ask(path, Command::Node(drain), REQUEST_TIMEOUT)?;
    Ok(changed.changed)
}

/// `rampart vrrp resign|resume`: what changed.
pub fn vrrp(path: &Path, resign: bool, name: Option<String>) -> Result<String> {
    let changed: Changed = ask(path, Command::Vrrp { resign, name }, REQUEST_TIMEOUT)?;
    Ok(changed.changed)
}

/// `rampart upgrade`: asks the supervisor at `path` to replace itself with
/// its installed binary. `None`: it did (the connection closed without an
/// answer); the caller then waits for the new program's status.
pub fn upgrade(path: &Path) -> Result<Option<ReloadOutcome>> {
    outcome(path, Command::Upgrade)
}

fn outcome(path: &Path, cmd: Command) -> Result<Option<ReloadOutcome>> {
    let line = exchange(path, cmd, RELOAD_WAIT)?;
    if line.is_empty() {
        return Ok(None);
    }
    parse_answer(path, &line).map(Some)
}

/// The control socket a previous program listened on (`rampart upgrade`).
pub fn adopt(fd: std::os::fd::OwnedFd) -> Result<UnixListener> {
    let l = std::os::unix::net::UnixListener::from(fd);
    l.set_nonblocking(true)?;
    Ok(UnixListener::from_std(l)?)
}

/// An answer, or the error the supervisor sent instead.
#[derive(Deserialize)]
#[serde(untagged)]
enum Answer<T> {
    Error(ErrorReply),
    Ok(T),
}

fn ask<T: DeserializeOwned>(path: &Path, cmd: Command, wait: Duration) -> Result<T> {
    let line = exchange(path, cmd, wait)?;
    parse_answer(path, &line)
}

/// Sends `cmd`, reads the answer line (empty if the connection closed
/// without one).
fn exchange(path: &Path, cmd: Command, wait: Duration) -> Result<String> {
    let mut s = std::os::unix::net::UnixStream::connect(path).with_context(|| {
        format!(
            "cannot reach rampart at {} (is `rampart run` running?)",
            path.display()
        )
    })?;
    s.set_read_timeout(Some(wait))?;
    s.write_all(format!("{}\n", cmd.line()).as_bytes())?;
    let mut line = String::new();
    BufReader::new(s)
        .read_line(&mut line)
        .with_context(|| format!("no answer from {}", path.display()))?;
    Ok(line)
}

fn parse_answer<T: DeserializeOwned>(path: &Path, line: &str) -> Result<T> {
    match serde_json::from_str(line) {
        Ok(Answer::Ok(t)) => Ok(t),
        Ok(Answer::Error(e)) => bail!("{}: {}", path.display(), e.error),
        Err(e) => bail!("bad answer from {}: {e}", path.display()),
    }
}

/// Human-readable status, in the spirit of `birdc show protocols all` and
/// keepalived's data dump.
pub fn render(s: &Status) -> String {
    let mut out = String::new();
    if let Some(d) = &s.node_drain {
        let left = d
            .step_left_seconds
            .map(|l| format!(", {l:.1} s left in this step"))
            .unwrap_or_default();
        out.push_str(&format!(
            "Node drain: {} ({:.1} s since `rampart node drain`{left})\n",
            d.step.text(),
            d.seconds
        ));
    }
    if !s.servers.is_empty() {
        // Columns as wide as the longest name, whatever the names.
        let names: Vec<String> = s
            .servers
            .iter()
            .map(|srv| format!("{}/{}", srv.backend, srv.server))
            .collect();
        let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
        out.push_str(&format!("Servers\n  {:<width$}  STATE\n", "SERVER"));
        for (name, srv) in names.iter().zip(&s.servers) {
            let mut state = if srv.up { "UP" } else { "DOWN" }.to_string();
            // The operator's state, when it is not the default.
            if !srv.admin.is_empty() && srv.admin != "ready" {
                state.push_str(&format!(" ({})", srv.admin));
            }
            out.push_str(&format!(
                "  {name:<width$}  {state}  weight {}\n",
                srv.weight
            ));
        }
    }
    for v in &s.vrrp {
        out.push_str(&format!(
            "VRRP {} (VRID {} on {}, v{}): {}\n",
            v.name,
            v.vrid,
            v.interface,
            v.version,
            v.state.to_uppercase()
        ));
        out.push_str(&format!(
            "  priority {} (configured {}), master advert interval {} ms, master down {} ms\n",
            v.priority, v.configured_priority, v.master_interval_ms, v.master_down_ms
        ));
        out.push_str(&format!(
            "  adverts in {} out {}, priority 0 in {} out {}, became master {} times\n",
            v.adverts_rx, v.adverts_tx, v.priority0_rx, v.priority0_tx, v.became_master
        ));
        let late = &v.advert_late;
        if late.adverts > 0 {
            out.push_str(&format!(
                "  adverts sent late by p99 {:.2} ms, at most {:.2} ms ({} timed)\n",
                f64::from(late.p99_us) / 1e3,
                f64::from(late.max_us) / 1e3,
                late.adverts
            ));
        }
        let drops: Vec<String> = v
            .drops
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        if !drops.is_empty() {
            out.push_str(&format!("  dropped: {}\n", drops.join(", ")));
        }
        if let Some(c) = &v.peer_checksum {
            out.push_str(&format!("  peer checksum: {c}\n"));
        }
    }
    for b in &s.bgp {
        out.push_str(&render_bgp(b));
    }
    for f in &s.nat {
        let state = if f.accepting { "" } else { " (disabled)" };
        out.push_str(&format!(
            "NAT {} {} -> {}{state}: {} table entries\n",
            f.name, f.vip, f.backend, f.table_size
        ));
        for v in &f.servers {
            let pct = f.fraction(v) * 100.0;
            out.push_str(&format!(
                "  {} {} {pct:.1}%: {} connections, to {} packets / {} bytes, back {} packets / {} bytes\n",
                v.name, v.addr, v.connections, v.packets_to, v.bytes_to, v.packets_back, v.bytes_back
            ));
        }
    }
    if let Some(g) = &s.gateway {
        out.push_str("Gateway\n");
        for (family, on) in &g.forwarding {
            let state = if *on { "on" } else { "OFF" };
            out.push_str(&format!("  {family} forwarding {state}\n"));
        }
        for m in &g.masquerade {
            out.push_str(&format!("  masquerade {m}"));
            if let Some(r) = g.nat.iter().find(|r| r.rule == *m) {
                out.push_str(&format!(
                    ": {} connections, out {} packets / {} bytes, in {} packets / {} bytes",
                    r.connections, r.packets_out, r.bytes_out, r.packets_in, r.bytes_in
                ));
            }
            out.push('\n');
        }
    }
    out
}

/// A BGP neighbor's status, one `key: value` per line (its JSON fields,
/// in order).
fn render_bgp(b: &BgpStatus) -> String {
    let mut out = format!("BGP {}: {}\n", b.name, b.state);
    let v = serde_json::to_value(b).unwrap_or_default();
    if let Some(map) = v.as_object() {
        let fields: Vec<_> = map
            .iter()
            .filter(|(k, _)| *k != "name" && *k != "state")
            .collect();
        // Values in one column: as far right as the longest key needs.
        let width = fields.iter().map(|(k, _)| k.chars().count() + 1).max();
        for (k, val) in fields {
            let text = match val {
                serde_json::Value::String(s) => s.clone(),
                // `bfd`: its fields on the line, `key=value`.
                serde_json::Value::Object(o) => o
                    .iter()
                    .map(|(k, v)| match v {
                        serde_json::Value::String(s) => format!("{k}={s:?}"),
                        other => format!("{k}={other}"),
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
                other => other.to_string(),
            };
            let key = format!("{k}:");
            out.push_str(&format!("  {key:<w$} {text}\n", w = width.unwrap_or(0)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    /// A control socket in a temp dir, served by a fake supervisor that
    /// answers status with one server and never finishes a reload.
    fn fake() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctl.sock");
        let listener = bind(&path, None).unwrap();
        let (tx, mut rx) = mpsc::channel::<Request>(4);
        tokio::spawn(serve(listener, tx));
        tokio::spawn(async move {
            let mut reloads = Vec::new();
            while let Some(req) = rx.recv().await {
                match req {
                    Request::Status(reply) => {
                        let _ = reply.send(Status {
                            servers: vec![ServerStatus {
                                backend: "b".into(),
                                server: "s".into(),
                                up: true,
                                admin: "ready".into(),
                                weight: 1,
                            }],
                            ..Status::default()
                        });
                    }
                    Request::Reload(w) | Request::Upgrade(w) => reloads.push(w),
                    Request::Stats(reply) => {
                        let _ = reply.send(Stats::default());
                    }
                    Request::Config(reply) => {
                        let _ = reply.send("[global]\n".into());
                    }
                    Request::Sessions(reply) => {
                        let _ = reply.send(Ok(Default::default()));
                    }
                    Request::KillSession(_, _, reply) => {
                        let _ = reply.send(Err("no such session".into()));
                    }
                    Request::Routes(reply) => {
                        let _ = reply.send(crate::bgp::show::Routes::default());
                    }
                    Request::Server(..)
                    | Request::Vrrp(..)
                    | Request::Node(..)
                    | Request::Frontend(..)
                    | Request::Bgp(..) => {}
                }
            }
        });
        (dir, path)
    }

    /// Sends `bytes`, then reads the one answer line.
    fn exchange(path: &Path, bytes: &[u8]) -> String {
        let mut c = std::os::unix::net::UnixStream::connect(path).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        // A refused write (the server stopped reading) is fine: the answer
        // is what is checked.
        let _ = c.write_all(bytes);
        let mut line = String::new();
        let _ = BufReader::new(c).read_line(&mut line);
        line
    }

    #[tokio::test]
    async fn a_client_gets_the_status_and_a_stale_socket_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctl.sock");
        // A stale file from a process that died.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let listener = bind(&path, None).unwrap();
        assert!(
            bind(&path, None).is_err(),
            "a live socket is not taken over"
        );
        drop(listener);
        let (_dir, path) = fake();
        let p = path.clone();
        let s = tokio::task::spawn_blocking(move || query(&p))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(s.servers.len(), 1);
        assert!(render(&s).contains("b/s"));
        // Nonsense gets an error object, not a hang.
        let p = path.clone();
        let raw = tokio::task::spawn_blocking(move || exchange(&p, b"reboot\n"))
            .await
            .unwrap();
        assert!(raw.contains("unknown request"), "{raw}");
    }

    #[tokio::test]
    async fn the_socket_is_0600_whatever_the_umask() {
        // The test process's umask is 022 (or stricter): without an
        // explicit mode the socket would be 0755 or so.
        let (_dir, path) = fake();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        let dir = tempfile::tempdir().unwrap();
        let grouped = dir.path().join("g.sock");
        let gid = nix::unistd::getegid().as_raw();
        let _l = bind(&grouped, Some(gid)).unwrap();
        let meta = std::fs::metadata(&grouped).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o660);
        assert_eq!(std::os::unix::fs::MetadataExt::gid(&meta), gid);
        // Nothing left under the temporary name.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[tokio::test]
    async fn an_oversized_request_is_refused_without_being_buffered() {
        let (_dir, path) = fake();
        // 4 MiB without a newline: more than the socket buffers hold, so
        // the write only completes if the server keeps reading.
        let answer = tokio::task::spawn_blocking(move || exchange(&path, &vec![b'x'; 4 << 20]))
            .await
            .unwrap();
        assert!(
            answer.contains(&format!("request longer than {MAX_REQUEST} bytes")),
            "{answer:.200}"
        );
    }

    #[tokio::test]
    async fn connections_beyond_the_cap_get_an_error_at_once() {
        let (_dir, path) = fake();
        let p = path.clone();
        let answer = tokio::task::spawn_blocking(move || {
            // Idle clients fill every slot...
            let idle: Vec<_> = (0..MAX_CONNECTIONS)
                .map(|_| std::os::unix::net::UnixStream::connect(&p).unwrap())
                .collect();
            // ...and are all accepted before the next one.
            std::thread::sleep(Duration::from_millis(200));
            let mut extra = std::os::unix::net::UnixStream::connect(&p).unwrap();
            extra
                .set_read_timeout(Some(Duration::from_secs(2)))
                .unwrap();
            let mut got = String::new();
            let _ = extra.read_to_string(&mut got);
            drop(idle);
            got
        })
        .await
        .unwrap();
        assert!(answer.contains("busy"), "{answer}");
        // Slots come back once clients leave.
        let s = tokio::task::spawn_blocking(move || query(&path))
            .await
            .unwrap();
        assert!(s.is_ok(), "{s:?}");
    }

    #[test]
    fn only_root_and_the_daemon_user_may_change_state() {
        assert!(may_change_state(0, 1000));
        assert!(may_change_state(1000, 1000));
        assert!(!may_change_state(65534, 1000));
        assert!(Command::Reload.privileged());
        assert!(!Command::Status.privileged());
        assert!(!Command::Stats.privileged());
        // It holds passwords.
        assert!(Command::Config.privileged());
        assert!(!Command::ShowRoutes.privileged());
        assert_eq!(Command::parse("show routes"), Ok(Command::ShowRoutes));
        assert_eq!(Command::ShowRoutes.line(), "show routes");
    }

    #[test]
    fn node_drain_goes_over_the_socket_as_milliseconds() {
        let plan = crate::supervisor::DrainPlan {
            withdraw_after: Duration::from_millis(2500),
            window: Duration::from_secs(30),
            idle: Duration::from_secs(5),
        };
        let drain = Command::Node(Some(plan));
        assert_eq!(drain.line(), "node drain 2500 30000 5000");
        assert_eq!(Command::parse(&drain.line()), Ok(drain.clone()));
        assert!(drain.privileged());
        assert_eq!(Command::parse("node undrain"), Ok(Command::Node(None)));
        assert_eq!(Command::Node(None).line(), "node undrain");
        assert_eq!(
            Command::parse("node drain 5s 10 1"),
            Err("`5s`: node drain takes three durations in milliseconds".into())
        );
        assert!(Command::parse("node drain").is_err());
        assert_eq!(
            Command::parse("node drain 0 86400001 0"),
            Err("node drain: --withdraw-after, --window and --idle are at most 24 h".into())
        );
    }

    #[test]
    fn server_columns_line_up_whatever_the_name_lengths() {
        let server = |b: &str, s: &str, up| ServerStatus {
            backend: b.into(),
            server: s.into(),
            up,
            admin: "ready".into(),
            weight: 1,
        };
        let text = render(&Status {
            servers: vec![
                server("a", "s", true),
                server(
                    "a_backend_with_a_long_name",
                    "server_with_an_even_longer_name",
                    false,
                ),
                server("b", "web1", true),
            ],
            ..Status::default()
        });
        let rows: Vec<&str> = text.lines().skip(1).collect();
        assert_eq!(rows.len(), 4, "{text}");
        let column = |row: &str, word: &str| row.rfind(word).unwrap();
        let at = column(rows[0], "STATE");
        assert_eq!(column(rows[1], "UP"), at, "{text}");
        assert_eq!(column(rows[2], "DOWN"), at, "{text}");
        assert_eq!(column(rows[3], "UP"), at, "{text}");
    }

    #[tokio::test]
    async fn bind_never_replaces_what_is_not_a_socket() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("node.toml");
        std::fs::write(&path, "precious").unwrap_or_else(|e| panic!("{e}"));
        let err = bind(&path, None).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("not a socket")));
        assert_eq!(
            std::fs::read_to_string(&path).ok().as_deref(),
            Some("precious")
        );
    }

    #[test]
    fn follow_flags_ride_on_the_request_line() {
        for line in [
            "server drain pool/web1 --both",
            "server maint pool/web1 --shutdown-sessions --local",
            "server weight pool/web1 3",
            "frontend disable www --both",
            "frontend enable www --local",
            "frontend enable www",
        ] {
            let cmd = Command::parse(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(cmd.line(), line);
        }
        assert!(matches!(
            Command::parse("server ready pool/web1 --both"),
            Ok(Command::Server(_, Follow::Both))
        ));
        assert!(Command::parse("frontend disable www --bogus").is_err());
        assert!(Command::parse("frontend disable --both").is_err());
    }
}

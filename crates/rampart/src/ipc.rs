//! Messages between the supervisor and its worker: newline-delimited JSON
//! over an inherited Unix socket pair. The supervisor sends the validated
//! config text (the worker parses exactly what was checked, never re-reads
//! the file) and server states; the worker reports readiness and passive
//! failures.

use serde::{Deserialize, Serialize};

/// Supervisor → worker.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToWorker {
    /// The first message: what to run and which servers are up now.
    Start {
        origin: String,
        config: String,
        up: Vec<(String, String)>,
        /// The operator's state of servers (drain, maint, weight).
        #[serde(default)]
        admin: Vec<crate::admin::Entry>,
        /// Frontends the operator disabled.
        #[serde(default)]
        disabled: Vec<String>,
    },
    /// The operator changed a server's state.
    Admin(crate::admin::Entry),
    /// The operator disabled or enabled a frontend.
    Frontend { name: String, enabled: bool },
    /// Answer `Synced` with this number once everything sent before is
    /// applied (the operator's commands return then).
    Sync(u64),
    /// Answer `Stats` with this number and every traffic counter.
    Stats(u64),
    /// Answer `Sessions` with this number and the sessions being served.
    Sessions(u64),
    /// Close session `id`; answer `Killed` with how many (0 or 1).
    Kill { n: u64, id: u64 },
    /// Close every open connection to a server (`maint
    /// --shutdown-sessions`).
    ShutdownSessions { backend: String, server: String },
    /// `rampart node drain`: close idle connections spread over this
    /// window (busy ones run to their end); `None` stops doing so
    /// (`node undrain`).
    CloseIdle {
        window_ms: Option<u64>,
        /// Quiet this long counts as idle.
        #[serde(default)]
        idle_ms: u64,
    },
    /// A server changed state.
    Server {
        backend: String,
        server: String,
        up: bool,
    },
    /// Stop accepting, let open connections finish (up to `grace`), exit.
    /// A message, not SIGTERM: a worker ignores a SIGTERM that does not
    /// come with its supervisor's death (`systemctl stop` signals the
    /// whole group, `pkill rampart` every process), so its listeners stay
    /// open while VRRP hands the addresses over.
    Drain,
}

/// Worker → supervisor.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FromWorker {
    /// Listening on every socket; the previous worker may now drain.
    Ready,
    /// A connect to `server` of `backend` failed (server's fault).
    Passive { backend: String, server: String },
    /// Everything sent before `Sync(n)` is applied.
    Synced(u64),
    /// The answer to `Stats(n)`.
    Stats {
        n: u64,
        stats: rampart_proxy::ProxyStats,
    },
    /// The answer to `Sessions(n)`.
    Sessions {
        n: u64,
        sessions: rampart_proxy::Sessions,
    },
    /// The answer to `Kill`: sessions closed.
    Killed { n: u64, count: usize },
}

/// Environment variable naming the control socket's descriptor.
pub const ENV_IPC_FD: &str = "RAMPART_IPC_FD";
/// Environment variable with the supervisor's pid: a worker whose parent
/// is not that process (the supervisor died while it started) exits.
pub const ENV_SUPERVISOR_PID: &str = "RAMPART_SUPERVISOR_PID";
/// Environment variable with the node's runtime directory, where the
/// gateway records what it changed: an orphaned worker sets that back.
pub const ENV_RUNTIME_DIR: &str = "RAMPART_RUNTIME_DIR";
/// Environment variable naming the descriptor of the runtime directory's
/// lock: an orphaned worker keeps the lock until its clean-up is done, so
/// a node restarted at once waits for it instead of racing it.
pub const ENV_LOCK_FD: &str = "RAMPART_LOCK_FD";
/// Environment variable naming the descriptor of `[global] tcplog_file`,
/// opened by the supervisor (the worker may not be allowed to).
pub const ENV_TCPLOG_FD: &str = "RAMPART_TCPLOG_FD";
/// Environment variable listing the listening sockets:
/// `thread:frontend:fd` items separated by commas.
pub const ENV_LISTEN_FDS: &str = "RAMPART_LISTEN_FDS";
/// Environment variable with the `uid:gid` the worker drops to
/// (`[global] user`/`group`); absent: it stays the supervisor's user.
pub const ENV_WORKER_IDENTITY: &str = "RAMPART_WORKER_IDENTITY";

/// The worker's `argv[0]`: what `ps` shows for it, and how `main` knows
/// it is one (the supervisor's is [`SUPERVISOR_ARG0`]).
pub const WORKER_ARG0: &str = "rampart: worker";
/// The supervisor's `argv[0]` (`rampart run` re-executes itself with it).
pub const SUPERVISOR_ARG0: &str = "rampart: supervisor";

/// Encodes one message as a line.
pub fn line<T: Serialize>(msg: &T) -> String {
    // Serialising these plain enums cannot fail; fall back to an empty line
    // (ignored by the reader) rather than panic.
    let mut s = serde_json::to_string(msg).unwrap_or_default();
    s.push('\n');
    s
}

/// Parses `thread:frontend:fd,...`.
pub fn parse_listen_fds(s: &str) -> Result<Vec<(usize, usize, i32)>, String> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .map(|item| {
            let mut it = item.split(':').map(str::parse::<i64>);
            match (it.next(), it.next(), it.next(), it.next()) {
                (Some(Ok(t)), Some(Ok(f)), Some(Ok(fd)), None)
                    if t >= 0 && f >= 0 && (3..=i32::MAX as i64).contains(&fd) =>
                {
                    Ok((t as usize, f as usize, fd as i32))
                }
                _ => Err(format!("bad {ENV_LISTEN_FDS} item {item:?}")),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_fds_round_trip_and_reject_garbage() {
        assert_eq!(
            parse_listen_fds("0:0:5,1:0:6").unwrap(),
            vec![(0, 0, 5), (1, 0, 6)]
        );
        assert!(parse_listen_fds("0:0:2").is_err());
        assert!(parse_listen_fds("0:0").is_err());
        assert!(parse_listen_fds("a:b:c").is_err());
        assert!(parse_listen_fds("0:0:5:1").is_err());
    }

    #[test]
    fn messages_are_one_line() {
        let m = ToWorker::Start {
            origin: "x".into(),
            config: "a = 1\nb = 2\n".into(),
            up: vec![],
            admin: vec![crate::admin::entry(
                "b",
                "s",
                crate::admin::State {
                    admin: rampart_proxy::Admin::Drain,
                    weight: Some(3),
                },
            )],
            disabled: vec!["www".into()],
        };
        let l = line(&m);
        assert_eq!(l.matches('\n').count(), 1);
        let back: ToWorker = serde_json::from_str(l.trim_end()).unwrap();
        assert!(
            matches!(back, ToWorker::Start { config, admin, .. } if config == "a = 1\nb = 2\n" && admin[0].weight == Some(3))
        );
    }
}

//! The operator's runtime state of servers: `rampart server
//! drain|maint|ready BACKEND/SERVER` and `rampart server weight
//! BACKEND/SERVER N` (HAProxy's `set server ... state` and `set weight`).
//!
//! It lives in the supervisor, so it survives reloads (a server that is
//! still configured keeps it) and worker restarts (each new worker gets it
//! with its config). With `[global] state_file` it is also written to that
//! file on every change (replaced atomically) and read at start, as
//! HAProxy's `server-state-file`: a drained server stays drained across a
//! restart of the node.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rampart_config::Config;
use rampart_proxy::Admin;
use serde::{Deserialize, Serialize};

/// What the operator asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Set(Admin),
    Weight(u32),
}

/// A server command, as the control socket carries it:
/// `server drain|maint|ready BACKEND/SERVER`, `server weight BACKEND/SERVER N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCommand {
    pub action: Action,
    pub backend: String,
    pub server: String,
    /// `maint --shutdown-sessions`: also close its open connections.
    pub shutdown_sessions: bool,
}

/// Highest runtime weight, as for `weight` in the file.
pub const WEIGHT_MAX: u32 = 256;

impl ServerCommand {
    /// Parses the words after `server`.
    pub fn parse(words: &[&str]) -> Result<ServerCommand, String> {
        let usage = "expected `server drain|maint|ready BACKEND/SERVER`, `server maint BACKEND/SERVER --shutdown-sessions` or `server weight BACKEND/SERVER N`";
        let (words, shutdown_sessions) = match words {
            ["maint", target, "--shutdown-sessions"] => (&["maint", *target][..], true),
            other => (other, false),
        };
        let (verb, target, rest) = match words {
            [verb, target, rest @ ..] => (*verb, *target, rest),
            _ => return Err(usage.into()),
        };
        let (backend, server) = target
            .split_once('/')
            .filter(|(b, s)| !b.is_empty() && !s.is_empty())
            .ok_or_else(|| format!("`{target}`: expected BACKEND/SERVER"))?;
        let action = match (verb, rest) {
            ("weight", [n]) => match n.parse::<u32>() {
                Ok(w) if w <= WEIGHT_MAX => Action::Weight(w),
                _ => return Err(format!("weight `{n}`: expected 0 to {WEIGHT_MAX}")),
            },
            (verb, []) => Action::Set(Admin::parse(verb).ok_or(usage)?),
            _ => return Err(usage.into()),
        };
        Ok(ServerCommand {
            action,
            backend: backend.into(),
            server: server.into(),
            shutdown_sessions,
        })
    }

    /// The request line.
    pub fn line(&self) -> String {
        match self.action {
            Action::Set(a) => format!(
                "server {} {}/{}{}",
                a.as_str(),
                self.backend,
                self.server,
                if self.shutdown_sessions {
                    " --shutdown-sessions"
                } else {
                    ""
                }
            ),
            Action::Weight(w) => format!("server weight {}/{} {w}", self.backend, self.server),
        }
    }
}

/// One server's state as the operator set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct State {
    pub admin: Admin,
    /// `None`: the configured weight.
    pub weight: Option<u32>,
}

impl State {
    fn describe(self) -> String {
        match self.weight {
            Some(w) => format!("{} weight {w}", self.admin.as_str()),
            None => self.admin.as_str().to_string(),
        }
    }
}

/// One entry of the state file and of the worker's start message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub backend: String,
    pub server: String,
    /// `ready`, `drain` or `maint`.
    pub admin: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
}

impl Entry {
    pub fn state(&self) -> Option<State> {
        Some(State {
            admin: Admin::parse(&self.admin)?,
            weight: self.weight,
        })
    }
}

/// The state file: servers whose state is not the default, and the
/// frontends disabled.
#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    #[serde(default)]
    servers: Vec<Entry>,
    #[serde(default)]
    disabled_frontends: Vec<String>,
    #[serde(default)]
    disabled_neighbors: Vec<String>,
    /// VRRP instances resigned (`rampart vrrp resign`).
    #[serde(default)]
    resigned: Vec<String>,
    /// `rampart node drain`.
    #[serde(default)]
    node_drained: bool,
}

/// Every server whose state differs from the default (ready, configured
/// weight), and every frontend the operator disabled.
#[derive(Debug, Default)]
pub struct Admins {
    map: BTreeMap<(String, String), State>,
    disabled: std::collections::BTreeSet<String>,
    /// BGP neighbors the operator disabled.
    neighbors: std::collections::BTreeSet<String>,
    /// VRRP instances the operator resigned.
    resigned: std::collections::BTreeSet<String>,
    /// The node is drained (`rampart node drain`).
    node_drained: bool,
    file: Option<PathBuf>,
}

impl Admins {
    /// The state kept in `file`, if any. A missing file is an empty state;
    /// an unreadable or malformed one is logged and ignored (the node
    /// starts with every server ready rather than not at all).
    pub fn load(file: Option<&Path>) -> Admins {
        let mut admins = Admins {
            file: file.map(Path::to_path_buf),
            ..Admins::default()
        };
        let Some(path) = file else {
            return admins;
        };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return admins,
            Err(e) => {
                tracing::error!(
                    "state file {}: {e}; every server starts ready",
                    path.display()
                );
                return admins;
            }
        };
        match serde_json::from_str::<File>(&text) {
            Ok(f) => {
                admins.apply_file(f);
                if !admins.map.is_empty() || !admins.disabled.is_empty() {
                    tracing::info!(
                        "state file {}: {} server(s) with an operator's state, {} frontend(s) disabled",
                        path.display(),
                        admins.map.len(),
                        admins.disabled.len()
                    );
                }
            }
            Err(e) => {
                tracing::error!(
                    "state file {}: {e}; every server starts ready",
                    path.display()
                )
            }
        }
        admins
    }

    /// The whole state as text, for `rampart upgrade` to hand over (the
    /// next program must not lose it, state file or not).
    pub fn handover(&self) -> String {
        serde_json::to_string(&self.snapshot()).unwrap_or_default()
    }

    /// The state a previous program handed over, writing to `file` from
    /// now on.
    pub fn adopt(text: &str, file: Option<&Path>) -> Admins {
        let mut admins = Admins {
            file: file.map(Path::to_path_buf),
            ..Admins::default()
        };
        if let Ok(f) = serde_json::from_str::<File>(text) {
            admins.apply_file(f);
        }
        admins
    }

    fn apply_file(&mut self, f: File) {
        for e in f.servers {
            if let Some(state) = e.state() {
                self.map.insert((e.backend, e.server), state);
            }
        }
        self.disabled = f.disabled_frontends.into_iter().collect();
        self.neighbors = f.disabled_neighbors.into_iter().collect();
        self.resigned = f.resigned.into_iter().collect();
        self.node_drained = f.node_drained;
    }

    fn snapshot(&self) -> File {
        File {
            servers: self
                .map
                .iter()
                .map(|((b, s), st)| entry(b, s, *st))
                .collect(),
            disabled_frontends: self.disabled.iter().cloned().collect(),
            disabled_neighbors: self.neighbors.iter().cloned().collect(),
            resigned: self.resigned.iter().cloned().collect(),
            node_drained: self.node_drained,
        }
    }

    /// Where changes are written from now on (a reload may change it).
    pub fn set_file(&mut self, file: Option<&Path>) {
        self.file = file.map(Path::to_path_buf);
    }

    /// The state of one server.
    pub fn get(&self, backend: &str, server: &str) -> State {
        self.map
            .get(&(backend.to_string(), server.to_string()))
            .copied()
            .unwrap_or_default()
    }

    /// Applies `cmd` to a server of `cfg`; returns (before, after) or why
    /// not. Writes the state file, if any.
    pub fn apply(&mut self, cfg: &Config, cmd: &ServerCommand) -> Result<(State, State), String> {
        let backend = cfg
            .backends
            .iter()
            .find(|b| b.name == cmd.backend)
            .ok_or_else(|| format!("no backend `{}`", cmd.backend))?;
        if !backend.servers.iter().any(|s| s.name == cmd.server) {
            return Err(format!(
                "no server `{}` in backend `{}`",
                cmd.server, cmd.backend
            ));
        }
        let key = (cmd.backend.clone(), cmd.server.clone());
        let before = self.map.get(&key).copied().unwrap_or_default();
        let after = match cmd.action {
            // Back in service: with the configured weight too.
            Action::Set(Admin::Ready) => State::default(),
            Action::Set(admin) => State { admin, ..before },
            Action::Weight(w) => State {
                weight: Some(w),
                ..before
            },
        };
        if after == State::default() {
            self.map.remove(&key);
        } else {
            self.map.insert(key, after);
        }
        self.save();
        Ok((before, after))
    }

    /// The servers in maintenance (their health checks are paused).
    pub fn in_maint(&self) -> std::collections::HashSet<(String, String)> {
        self.map
            .iter()
            .filter(|(_, st)| st.admin == Admin::Maint)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// The entries for the servers `cfg` has (a removed server's state is
    /// kept, should it come back, but not sent).
    pub fn entries(&self, cfg: &Config) -> Vec<Entry> {
        self.map
            .iter()
            .filter(|((b, s), _)| {
                cfg.backends
                    .iter()
                    .any(|be| &be.name == b && be.servers.iter().any(|sv| &sv.name == s))
            })
            .map(|((b, s), st)| entry(b, s, *st))
            .collect()
    }

    /// `rampart frontend disable|enable NAME`: whether it changed, or why
    /// not. Writes the state file, if any.
    pub fn set_frontend(
        &mut self,
        cfg: &Config,
        name: &str,
        enabled: bool,
    ) -> Result<bool, String> {
        if !cfg.frontends.iter().any(|f| f.name == name) {
            return Err(format!("no frontend `{name}`"));
        }
        let changed = if enabled {
            self.disabled.remove(name)
        } else {
            self.disabled.insert(name.to_string())
        };
        self.save();
        Ok(changed)
    }

    /// `rampart bgp disable|enable NAME`: whether it changed, or why not.
    pub fn set_neighbor(
        &mut self,
        cfg: &Config,
        name: &str,
        enabled: bool,
    ) -> Result<bool, String> {
        if !cfg.bgp.neighbors.iter().any(|n| n.name == name) {
            return Err(format!("no BGP neighbor `{name}`"));
        }
        let changed = if enabled {
            self.neighbors.remove(name)
        } else {
            self.neighbors.insert(name.to_string())
        };
        self.save();
        Ok(changed)
    }

    /// The VRRP instances resigned after `rampart vrrp resign|resume`
    /// (those stopping or stopped). Writes the state file, if any.
    pub fn set_resigned(&mut self, instances: impl IntoIterator<Item = String>) {
        self.resigned = instances.into_iter().collect();
        self.save();
    }

    /// The VRRP instances the operator resigned.
    pub fn resigned(&self) -> Vec<String> {
        self.resigned.iter().cloned().collect()
    }

    /// `rampart node drain` (true) or `undrain`. Writes the state file,
    /// if any.
    pub fn set_node_drained(&mut self, drained: bool) {
        self.node_drained = drained;
        self.save();
    }

    pub fn node_drained(&self) -> bool {
        self.node_drained
    }

    /// The BGP neighbors the operator disabled.
    pub fn disabled_neighbors(&self) -> std::collections::BTreeSet<String> {
        self.neighbors.clone()
    }

    /// The frontends of `cfg` the operator disabled.
    pub fn disabled_frontends(&self, cfg: &Config) -> Vec<String> {
        cfg.frontends
            .iter()
            .filter(|f| self.disabled.contains(&f.name))
            .map(|f| f.name.clone())
            .collect()
    }

    fn save(&self) {
        let Some(path) = &self.file else {
            return;
        };
        let all = self.snapshot();
        let tmp = path.with_extension("tmp");
        let written = serde_json::to_vec_pretty(&all)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, path));
        if let Err(e) = written {
            tracing::error!(
                "cannot write the state file {}: {e} (the state applies, but not across a restart)",
                path.display()
            );
        }
    }
}

pub fn entry(backend: &str, server: &str, st: State) -> Entry {
    Entry {
        backend: backend.to_string(),
        server: server.to_string(),
        admin: st.admin.as_str().to_string(),
        weight: st.weight,
    }
}

/// The log line of a change.
pub fn describe_change(
    cmd: &ServerCommand,
    before: State,
    after: State,
    who: &crate::control::Asker,
) -> String {
    format!(
        "server {}/{}: {} -> {} (asked by {who})",
        cmd.backend,
        cmd.server,
        before.describe(),
        after.describe()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        rampart_config::parse(
            "t.toml",
            "[[frontend]]\nname = \"www\"\nbind = [\"127.0.0.1:1\"]\nbackend = \"web\"\n\
             [[backend]]\nname = \"web\"\nservers = [{ name = \"a\", addr = \"127.0.0.1:2\" }, \
             { name = \"b\", addr = \"127.0.0.1:3\" }]\n",
        )
        .unwrap()
    }

    #[test]
    fn commands_parse_and_bad_ones_say_why() {
        let c = ServerCommand::parse(&["drain", "web/a"]).unwrap();
        assert_eq!(c.action, Action::Set(Admin::Drain));
        assert_eq!((c.backend.as_str(), c.server.as_str()), ("web", "a"));
        assert_eq!(
            ServerCommand::parse(&["drain", "web/a"]).unwrap().line(),
            "server drain web/a"
        );
        let w = ServerCommand::parse(&["weight", "web/b", "7"]).unwrap();
        assert_eq!(w.action, Action::Weight(7));
        assert_eq!(w.line(), "server weight web/b 7");
        assert!(ServerCommand::parse(&["drain"]).is_err());
        assert!(
            ServerCommand::parse(&["drain", "web"])
                .unwrap_err()
                .contains("BACKEND/SERVER")
        );
        assert!(ServerCommand::parse(&["drain", "/a"]).is_err());
        assert!(ServerCommand::parse(&["sleep", "web/a"]).is_err());
        assert!(
            ServerCommand::parse(&["weight", "web/a", "257"])
                .unwrap_err()
                .contains("0 to 256")
        );
        assert!(ServerCommand::parse(&["weight", "web/a"]).is_err());
        assert!(ServerCommand::parse(&["drain", "web/a", "x"]).is_err());
    }

    #[test]
    fn changes_apply_to_known_servers_and_survive_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("state.json");
        let cfg = cfg();
        let mut a = Admins::load(Some(&file));
        let drain = ServerCommand::parse(&["drain", "web/a"]).unwrap();
        let (before, after) = a.apply(&cfg, &drain).unwrap();
        assert_eq!(before, State::default());
        assert_eq!(after.admin, Admin::Drain);
        let weight = ServerCommand::parse(&["weight", "web/a", "3"]).unwrap();
        a.apply(&cfg, &weight).unwrap();
        assert_eq!(
            a.get("web", "a"),
            State {
                admin: Admin::Drain,
                weight: Some(3)
            }
        );
        assert!(
            a.apply(&cfg, &ServerCommand::parse(&["drain", "web/zz"]).unwrap())
                .is_err()
        );
        assert!(
            a.apply(&cfg, &ServerCommand::parse(&["drain", "api/a"]).unwrap())
                .is_err()
        );

        // A restart reads it back.
        let b = Admins::load(Some(&file));
        assert_eq!(b.get("web", "a"), a.get("web", "a"));
        assert_eq!(b.entries(&cfg).len(), 1);
        // Ready is the default again: nothing left.
        let mut b = b;
        b.apply(&cfg, &ServerCommand::parse(&["ready", "web/a"]).unwrap())
            .unwrap();
        assert_eq!(Admins::load(Some(&file)).entries(&cfg), vec![]);

        // Frontends too.
        let mut c = Admins::load(Some(&file));
        assert_eq!(c.set_frontend(&cfg, "www", false), Ok(true));
        assert_eq!(c.set_frontend(&cfg, "www", false), Ok(false));
        assert!(c.set_frontend(&cfg, "nope", false).is_err());
        assert_eq!(
            Admins::load(Some(&file)).disabled_frontends(&cfg),
            vec!["www"]
        );
        c.set_frontend(&cfg, "www", true).unwrap();
        assert!(
            Admins::load(Some(&file))
                .disabled_frontends(&cfg)
                .is_empty()
        );

        // VRRP resigned instances and the node drain too.
        let mut f = Admins::load(Some(&file));
        f.set_resigned(["VI_1".to_string(), "VI_2".to_string()]);
        f.set_node_drained(true);
        let g = Admins::load(Some(&file));
        assert_eq!(g.resigned(), ["VI_1", "VI_2"]);
        assert!(g.node_drained());
        f.set_resigned([]);
        f.set_node_drained(false);
        let g = Admins::load(Some(&file));
        assert!(g.resigned().is_empty() && !g.node_drained());

        // An upgrade hands the whole state over, with no file too.
        let mut d = Admins::load(None);
        d.apply(&cfg, &ServerCommand::parse(&["maint", "web/b"]).unwrap())
            .unwrap();
        d.set_frontend(&cfg, "www", false).unwrap();
        d.set_resigned(["VI_1".to_string()]);
        d.set_node_drained(true);
        let e = Admins::adopt(&d.handover(), None);
        assert_eq!(e.get("web", "b").admin, Admin::Maint);
        assert_eq!(e.disabled_frontends(&cfg), vec!["www"]);
        assert_eq!(e.resigned(), ["VI_1"]);
        assert!(e.node_drained());

        // A malformed file is no reason not to start.
        std::fs::write(&file, "{not json").unwrap();
        assert_eq!(Admins::load(Some(&file)).entries(&cfg), vec![]);
    }
}

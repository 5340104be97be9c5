//! `[global]` and `[[frontend]]`, plus the leaf parsers they share with
//! backends: names, socket addresses and CIDRs.

use std::net::{IpAddr, SocketAddr};
use std::ops::Range;

use ipnet::IpNet;
use toml::Spanned;

use crate::defaults;
use crate::diag::{Sink, did_you_mean};
use crate::model::{Frontend, Global, Mode};
use crate::walk::{self, Table, Value};

/// The levels `tracing` knows. `off` is left out on purpose: a load balancer
/// that logs nothing, not even errors, is never what anyone wants.
pub(crate) const LOG_LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];

/// Longest name of a frontend, backend, server, VRRP instance, sync group,
/// script or BGP neighbor, in characters. Names go into every log line and
/// metric label about the thing: a 1 MB name would make each of those
/// 1 MB. 64 holds any descriptive name (`nginx_pool_eu-west-1.primary`)
/// with room to spare.
pub const NAME_MAX: usize = 64;

/// More proxy threads than this is a typo, not a machine: the largest
/// common servers have a few hundred CPUs.
pub(crate) const THREADS_MAX: u32 = 1024;

// === [global] ===

pub(crate) fn global(t: &Table, sink: &mut Sink) -> Global {
    t.deny_unknown(
        &[
            "threads",
            "grace",
            "log_level",
            "user",
            "group",
            "state_file",
            "tcplog_file",
        ],
        sink,
    );
    let mut g = Global::default();
    if let Some(n) = t
        .get("threads")
        .and_then(|v| walk::integer(v, "threads", 0, THREADS_MAX, sink))
    {
        // THREADS_MAX fits every usize rampart runs on.
        g.threads = usize::try_from(n).unwrap_or(0);
    }
    // 0 is meaningful for grace: stop at once without draining.
    if let Some(d) = t
        .get("grace")
        .and_then(|v| walk::duration(v, "grace", false, sink))
    {
        g.grace = d;
    }
    if let Some(v) = t.get("log_level") {
        match walk::string(v, "log_level", sink) {
            Some(level) if LOG_LEVELS.contains(&level) => g.log_level = level.to_string(),
            Some(level) => sink.error(v.span(), one_of("log_level", level, &LOG_LEVELS)),
            None => {}
        }
    }
    g.state_file = absolute_path(t, "state_file", sink);
    g.tcplog_file = absolute_path(t, "tcplog_file", sink);
    g.user = account(t, "user", sink);
    g.group = account(t, "group", sink);
    g
}

/// A key whose value is an absolute path.
fn absolute_path(t: &Table, key: &str, sink: &mut Sink) -> Option<std::path::PathBuf> {
    let v = t.get(key)?;
    let path = walk::string(v, key, sink)?;
    if path.starts_with('/') {
        Some(path.into())
    } else {
        sink.error(
            v.span(),
            format!("`{key}` must be an absolute path, got `{path}`"),
        );
        None
    }
}

/// Longest user or group name Linux tools accept (`useradd`: 32).
const ACCOUNT_MAX: usize = 32;

/// `user` or `group`: a name as `useradd` takes it (letters, digits, `_`,
/// `-`, `.`, not starting with `-`), or a numeric id. Whether it exists is
/// the host's business (`check --host`, and the start).
fn account(t: &Table, key: &str, sink: &mut Sink) -> Option<String> {
    let v = t.get(key)?;
    let name = walk::string(v, key, sink)?;
    let valid = !name.is_empty()
        && name.len() <= ACCOUNT_MAX
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if valid {
        Some(name.to_string())
    } else {
        sink.error(
            v.span(),
            format!(
                "invalid `{key}` `{name}`: a user or group name (letters, digits, `_`, `-`, `.`, \
                 at most {ACCOUNT_MAX} characters, not starting with `-`) or a numeric id"
            ),
        );
        None
    }
}

// === [[frontend]] ===

/// A frontend plus the places that checks across sections point at.
pub(crate) struct FrontendAt {
    pub(crate) frontend: Frontend,
    /// The `name` value, when it was a string.
    pub(crate) name: Option<Range<usize>>,
    /// The `backend` value, when it was a string.
    pub(crate) backend: Option<Range<usize>>,
    /// The bind addresses that parsed, with their spans.
    pub(crate) bind: Vec<Spanned<SocketAddr>>,
    /// The `mode` value, when one was written.
    pub(crate) mode: Option<Range<usize>>,
    /// Keys written that only the proxy honours, with their spans.
    pub(crate) proxy_only: Vec<(&'static str, Range<usize>)>,
}

pub(crate) fn frontend(t: &Table, sink: &mut Sink) -> FrontendAt {
    t.deny_unknown(
        &[
            "name",
            "bind",
            "backend",
            "maxconn",
            "allow",
            "deny",
            "mode",
            "rate_limit",
        ],
        sink,
    );
    let name = t.required("name", sink).and_then(|v| name(v, "name", sink));
    let backend = t
        .required("backend", sink)
        .and_then(|v| walk::string(v, "backend", sink).map(|s| Spanned::new(v.span(), s)));

    let bind = match t.required("bind", sink) {
        Some(v) => {
            if v.get_ref().as_array().is_some_and(|items| items.is_empty()) {
                sink.error(v.span(), "`bind` must list at least one address");
            }
            walk::parsed_list(v, "bind", sink, |s| socket_addr("bind", s)).unwrap_or_default()
        }
        None => Vec::new(),
    };
    let maxconn = t
        .get("maxconn")
        .and_then(|v| walk::integer(v, "maxconn", 1, u32::MAX, sink))
        .unwrap_or(defaults::FRONTEND_MAXCONN);
    let acl = |key: &str, sink: &mut Sink| -> Vec<IpNet> {
        t.get(key)
            .and_then(|v| walk::parsed_list(v, key, sink, |s| cidr(key, s)))
            .map(|l| l.into_iter().map(Spanned::into_inner).collect())
            .unwrap_or_default()
    };
    let allow = acl("allow", sink);
    let deny = acl("deny", sink);
    let mode = t.get("mode").and_then(|v| {
        let s = walk::string(v, "mode", sink)?;
        match Mode::from_name(s) {
            Some(m) => Some(Spanned::new(v.span(), m)),
            None => {
                sink.error(v.span(), one_of("mode", s, &Mode::NAMES));
                None
            }
        }
    });
    let rate_limit = t.get("rate_limit").and_then(|v| {
        let n = walk::integer(v, "rate_limit", 1, u32::MAX, sink)?;
        if mode.as_ref().map(|m| *m.get_ref()) != Some(Mode::Nat) {
            sink.error(
                v.span(),
                "`rate_limit` is enforced by the kernel in `mode = \"nat\"` only; \
                 the proxy bounds its connections with `maxconn`",
            );
        }
        Some(n)
    });
    let proxy_only = ["maxconn"]
        .into_iter()
        .filter_map(|k| Some((k, t.get(k)?.span())))
        .collect();

    FrontendAt {
        frontend: Frontend {
            name: name
                .as_ref()
                .map(|n| n.get_ref().clone())
                .unwrap_or_default(),
            bind: bind.iter().map(|a| *a.get_ref()).collect(),
            backend: backend
                .as_ref()
                .map(|b| b.get_ref().to_string())
                .unwrap_or_default(),
            maxconn,
            allow,
            deny,
            mode: mode.as_ref().map(|m| *m.get_ref()).unwrap_or_default(),
            rate_limit,
        },
        name: name.map(|n| n.span()),
        backend: backend.map(|b| b.span()),
        bind,
        mode: mode.map(|m| m.span()),
        proxy_only,
    }
}

// === Leaf parsers ===

/// A frontend, backend or server name. HAProxy's rule (letters, digits,
/// `-`, `_`, `.`, `:`) so that migrated names keep working, and so that a
/// name can go into a log line or a metrics label without quoting.
///
/// An invalid name is reported but still returned: references to it then
/// resolve, instead of producing a second, misleading "not defined" error.
pub(crate) fn name(value: &Value, key: &str, sink: &mut Sink) -> Option<Spanned<String>> {
    let s = walk::string(value, key, sink)?;
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':');
    let len = s.chars().count();
    if s.is_empty() {
        sink.error(value.span(), format!("`{key}` must not be empty"));
    } else if len > NAME_MAX {
        sink.error(
            value.span(),
            format!("`{key}` is {len} characters long; names may have at most {NAME_MAX}"),
        );
    } else if let Some(bad) = s.chars().find(|c| !ok(*c)) {
        sink.error(
            value.span(),
            format!(
                "`{key}` contains {bad:?}; names may use letters, digits, '-', '_', '.' and ':'"
            ),
        );
    }
    Some(Spanned::new(value.span(), s.to_string()))
}

/// `IP:PORT` with a non-zero port. Host names are not accepted: resolving
/// them at load time would make a config valid or not depending on DNS.
pub(crate) fn socket_addr(key: &str, s: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = s.parse().map_err(|_| {
        format!(
            "`{key}`: `{s}` is not a socket address; write IP:PORT, \
             e.g. 127.0.0.1:8080 or [::1]:8080"
        )
    })?;
    if addr.port() == 0 {
        return Err(format!(
            "`{key}`: port 0 in `{s}`; a fixed port is required"
        ));
    }
    Ok(addr)
}

/// A CIDR, or a bare address meaning just that host (/32 or /128).
pub(crate) fn cidr(key: &str, s: &str) -> Result<IpNet, String> {
    if let Ok(net) = s.parse::<IpNet>() {
        return Ok(net);
    }
    s.parse::<IpAddr>().map(IpNet::from).map_err(|_| {
        format!(
            "`{key}`: `{s}` is not a CIDR or an address; \
             write e.g. 10.0.0.0/8, 2001:db8::/32 or 192.0.2.7"
        )
    })
}

/// "unknown `balance` `rr`; expected one of: roundrobin, ... (did you mean ...?)".
pub(crate) fn one_of(key: &str, got: &str, valid: &[&str]) -> String {
    let mut m = format!(
        "invalid `{key}` `{got}`; expected one of: {}",
        valid.join(", ")
    );
    if let Some(close) = did_you_mean(got, valid) {
        m.push_str(&format!(" (did you mean `{close}`?)"));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_addresses() {
        assert!(socket_addr("bind", "127.0.0.1:8080").is_ok());
        assert!(socket_addr("bind", "[::1]:8080").is_ok());
        assert!(socket_addr("bind", "127.0.0.1:0").is_err_and(|e| e.contains("port 0")));
        assert!(socket_addr("bind", "localhost:80").is_err());
        assert!(socket_addr("bind", "127.0.0.1").is_err());
        assert!(socket_addr("bind", "::1:80").is_err());
    }

    #[test]
    fn cidrs_and_bare_addresses() {
        assert_eq!(cidr("allow", "10.0.0.0/8").map(|n| n.prefix_len()), Ok(8));
        assert_eq!(cidr("allow", "192.0.2.7").map(|n| n.prefix_len()), Ok(32));
        assert_eq!(cidr("allow", "::1").map(|n| n.prefix_len()), Ok(128));
        assert!(cidr("allow", "10.0.0.0/33").is_err());
        assert!(cidr("allow", "ten").is_err());
    }
}

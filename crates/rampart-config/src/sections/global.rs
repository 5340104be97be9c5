//! `[global]`: process-wide settings (threads, grace, logging, the
//! worker's account, state and log files).

use crate::diag::Sink;
use crate::model::Global;
use crate::reader::Table;
use crate::values::{self, one_of};

/// The levels `tracing` knows. `off` is left out on purpose: a load balancer
/// that logs nothing, not even errors, is never what anyone wants.
pub(crate) const LOG_LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];

/// More proxy threads than this is a typo, not a machine: the largest
/// common servers have a few hundred CPUs.
pub(crate) const THREADS_MAX: u32 = 1024;

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
        .and_then(|v| values::integer(v, "threads", 0, THREADS_MAX, sink))
    {
        // THREADS_MAX fits every usize rampart runs on.
        g.threads = usize::try_from(n).unwrap_or(0);
    }
    // 0 is meaningful for grace: stop at once without draining.
    if let Some(d) = t
        .get("grace")
        .and_then(|v| values::duration(v, "grace", false, sink))
    {
        g.grace = d;
    }
    if let Some(v) = t.get("log_level") {
        match values::string(v, "log_level", sink) {
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
    let path = values::string(v, key, sink)?;
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
    let name = values::string(v, key, sink)?;
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

//! `[global]`: process-wide settings (threads, grace, logging, the
//! worker's account, state and log files).

use crate::diag::Sink;
use crate::model::Global;
use crate::reader::Reader;
use crate::values::{self, Value, one_of};

/// The levels `tracing` knows. `off` is left out on purpose: a load balancer
/// that logs nothing, not even errors, is never what anyone wants.
pub(crate) const LOG_LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];

/// More proxy threads than this is a typo, not a machine: the largest
/// common servers have a few hundred CPUs.
pub(crate) const THREADS_MAX: u32 = 1024;

pub(crate) fn global(t: &Reader, sink: &mut Sink) -> Global {
    let mut g = Global::default();
    if let Some(n) = t.integer("threads", 0, THREADS_MAX, sink) {
        // THREADS_MAX fits every usize rampart runs on.
        g.threads = usize::try_from(n).unwrap_or(0);
    }
    // 0 is meaningful for grace: stop at once without draining.
    if let Some(d) = t.duration("grace", false, sink) {
        g.grace = d;
    }
    if let Some(level) = t.opt("log_level", sink, log_level) {
        g.log_level = level;
    }
    g.user = t.opt("user", sink, account);
    g.group = t.opt("group", sink, account);
    g.state_file = t.opt("state_file", sink, absolute_path);
    g.tcplog_file = t.opt("tcplog_file", sink, absolute_path);
    g
}

fn log_level(v: &Value, key: &str, sink: &mut Sink) -> Option<String> {
    let level = values::string(v, key, sink)?;
    if LOG_LEVELS.contains(&level) {
        return Some(level.to_string());
    }
    sink.error(v.span(), one_of(key, level, &LOG_LEVELS));
    None
}

/// A key whose value is an absolute path.
fn absolute_path(v: &Value, key: &str, sink: &mut Sink) -> Option<std::path::PathBuf> {
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
fn account(v: &Value, key: &str, sink: &mut Sink) -> Option<String> {
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

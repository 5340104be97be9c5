//! `health = { ... }` of a backend, and the forms `check` can take:
//!
//! ```toml
//! check = "tcp"                                   # connect succeeds
//! check = "none"                                  # no active checks
//! check = { send = "PING\r\n", expect = "PONG" }  # send, then wait for bytes
//! check = { http = "GET /health", status = 200, host = "example.org" }
//! ```

use std::net::IpAddr;
use std::time::Duration;

use crate::diag::Sink;
use crate::model::{Check, Health, ServerHealth};
use crate::reader::{Reader, Table};
use crate::values::{self, Value};

/// Shown whenever `check` has a shape we do not know, so the user sees
/// every valid form at once.
const CHECK_FORMS: &str = "\"tcp\", \"none\", { send = \"...\", expect = \"...\" } \
                           or { http = \"GET /path\" }";

pub(crate) fn health(t: &Reader, sink: &mut Sink) -> Health {
    let mut h = Health::default();
    if let Some(c) = t.entry("check").and_then(|(key, v)| check(v, key, sink)) {
        h.check = c;
    }
    let s = timing(t, sink);
    h.interval = s.interval.unwrap_or(h.interval);
    h.timeout = s.timeout.unwrap_or(h.timeout);
    h.fall = s.fall.unwrap_or(h.fall);
    h.rise = s.rise.unwrap_or(h.rise);
    if let Some(b) = t.boolean("start_up", sink) {
        h.start_up = b;
    }
    h.port = t.opt("port", sink, port);
    if h.check == Check::None
        && let Some(v) = t.get("port")
    {
        sink.error(
            v.span(),
            "`port` has no effect with check = \"none\": nothing connects",
        );
    }
    h
}

/// A server's own `health = { ... }`: the timing of its backend's checks
/// and where they connect, each key replacing the backend's. `check` (what
/// a check does) stays the backend's, as in HAProxy.
pub(crate) fn server_health(t: &Reader, sink: &mut Sink) -> ServerHealth {
    let s = timing(t, sink);
    let port = t.opt("port", sink, port);
    let addr = t.opt("addr", sink, |v, key, sink| {
        let text = values::string(v, key, sink)?;
        text.parse::<IpAddr>()
            .map_err(|_| {
                sink.error(
                    v.span(),
                    format!(
                        "`{key}`: `{text}` is not an IP address; checks connect to this \
                         address at the server's port (or `port`), e.g. \"192.0.2.7\""
                    ),
                )
            })
            .ok()
    });
    ServerHealth {
        interval: s.interval,
        timeout: s.timeout,
        fall: s.fall,
        rise: s.rise,
        port,
        addr,
    }
}

/// The timing a backend's and a server's `health` share.
struct Timing {
    interval: Option<Duration>,
    timeout: Option<Duration>,
    fall: Option<u32>,
    rise: Option<u32>,
}

fn timing(t: &Reader, sink: &mut Sink) -> Timing {
    // A zero interval would check in a busy loop; a zero timeout would fail
    // every check. A timeout longer than the interval is fine: the next
    // check simply waits for the current one. fall = 0 or rise = 0 would
    // change state without any check result.
    Timing {
        interval: t.duration("interval", true, sink),
        timeout: t.duration("timeout", true, sink),
        fall: t.integer("fall", 1, u32::MAX, sink),
        rise: t.integer("rise", 1, u32::MAX, sink),
    }
}

/// Where checks connect instead of the server's port.
fn port(v: &Value, key: &str, sink: &mut Sink) -> Option<u16> {
    values::integer(v, key, 1, u16::MAX.into(), sink).and_then(|n| u16::try_from(n).ok())
}

fn check(v: &Value, key: std::ops::Range<usize>, sink: &mut Sink) -> Option<Check> {
    if let Some(s) = v.get_ref().as_str() {
        return match s {
            "tcp" => Some(Check::Tcp),
            "none" => Some(Check::None),
            _ => {
                sink.error(
                    v.span(),
                    format!("invalid `check` `{s}`; expected {CHECK_FORMS}"),
                );
                None
            }
        };
    }
    if !v.get_ref().is_table() {
        values::type_error(v, "check", CHECK_FORMS, sink);
        return None;
    }
    let t = Table::of(v, "check", key, "`check`", sink)?;
    // Which form it is decides which keys are known, so the keys are
    // looked at before a form's reader reads them.
    let is_send = t.peek("send").is_some() || t.peek("expect").is_some();
    match (t.peek("http").is_some(), is_send) {
        (true, true) => {
            sink.error(
                t.span(),
                "`check` has both `http` and `send`/`expect`; choose one form",
            );
            None
        }
        (true, false) => t.read(sink, http_check),
        (false, true) => t.read(sink, send_expect),
        (false, false) => t.read(sink, |t, sink| {
            t.allow(&["http", "status", "host", "send", "expect"]);
            sink.error(
                t.span(),
                format!("`check` table needs `http` or `expect`; expected {CHECK_FORMS}"),
            );
            None
        }),
    }
}

/// `{ send, expect }`. `send` may be left out: many protocols (SMTP, FTP,
/// MySQL) greet first, so waiting for the banner is a complete check.
/// `expect` may not be empty: it would accept any server that accepts a
/// connection, which is what `"tcp"` says more plainly.
fn send_expect(t: &Reader, sink: &mut Sink) -> Option<Check> {
    let send = t.opt_or("send", "", sink, values::string);
    let expect = t.req("expect", sink, |v, key, sink| {
        let s = values::string(v, key, sink)?;
        if s.is_empty() {
            sink.error(
                v.span(),
                "`expect` must not be empty; use check = \"tcp\" to only connect",
            );
            return None;
        }
        Some(s)
    });
    Some(Check::SendExpect {
        send: send?.as_bytes().to_vec(),
        expect: expect?.as_bytes().to_vec(),
    })
}

/// `{ http = "METHOD /path", status = 200, host = "..." }`.
fn http_check(t: &Reader, sink: &mut Sink) -> Option<Check> {
    let line = t.opt("http", sink, |v, key, sink| {
        let s = values::string(v, key, sink)?;
        request_line(s).map_err(|e| sink.error(v.span(), e)).ok()
    });
    let status = t.opt_or("status", 200, sink, |v, key, sink| {
        values::integer(v, key, 100, 599, sink).and_then(|n| u16::try_from(n).ok())
    });
    let host = t.opt_or("host", None, sink, |v, key, sink| {
        let s = values::string(v, key, sink)?;
        if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            sink.error(
                v.span(),
                format!("`{key}` must be a non-empty host name without spaces"),
            );
            return None;
        }
        Some(Some(s.to_string()))
    })?;
    let (method, path) = line?;
    Some(Check::Http {
        method,
        path,
        host,
        status: status?,
    })
}

/// Splits `"GET /health"`. The method must be an upper-case token: HTTP
/// methods are case-sensitive and servers answer `get` with 400 or 501, so a
/// lower-case method would make every server look down.
fn request_line(s: &str) -> Result<(String, String), String> {
    let usage = "write \"METHOD /path\", e.g. \"GET /health\"";
    let Some((method, path)) = s.split_once(' ') else {
        return Err(format!("`http` check `{s}` has no path; {usage}"));
    };
    if method.is_empty() || !method.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(format!(
            "`http` check has invalid method `{method}`: methods are upper-case letters \
             (GET, HEAD, OPTIONS, ...); {usage}"
        ));
    }
    if !path.starts_with('/') || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "`http` check has invalid path `{path}`: it must start with '/' and contain \
             no spaces; {usage}"
        ));
    }
    Ok((method.to_string(), path.to_string()))
}

#[cfg(test)]
mod tests {
    use super::request_line;

    #[test]
    fn request_lines() {
        assert_eq!(
            request_line("GET /health"),
            Ok(("GET".to_string(), "/health".to_string()))
        );
        assert!(request_line("HEAD /").is_ok());
        assert!(request_line("GET").is_err_and(|e| e.contains("no path")));
        assert!(request_line("get /").is_err_and(|e| e.contains("method")));
        assert!(request_line(" /").is_err_and(|e| e.contains("method")));
        assert!(request_line("GET health").is_err_and(|e| e.contains("path")));
        assert!(request_line("GET /a b").is_err_and(|e| e.contains("path")));
        assert!(request_line("GET  /a").is_err_and(|e| e.contains("path")));
    }
}

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
use crate::reader::Table;
use crate::values::{self, Value};

/// Shown whenever `check` has a shape we do not know, so the user sees
/// every valid form at once.
const CHECK_FORMS: &str = "\"tcp\", \"none\", { send = \"...\", expect = \"...\" } \
                           or { http = \"GET /path\" }";

pub(crate) fn health(t: &Table, sink: &mut Sink) -> Health {
    t.deny_unknown(
        &[
            "check", "interval", "timeout", "fall", "rise", "start_up", "port",
        ],
        sink,
    );
    let mut h = Health::default();
    if let Some(c) = t.entry("check").and_then(|(key, v)| check(v, key, sink)) {
        h.check = c;
    }
    let s = settings(t, sink);
    h.interval = s.interval.unwrap_or(h.interval);
    h.timeout = s.timeout.unwrap_or(h.timeout);
    h.fall = s.fall.unwrap_or(h.fall);
    h.rise = s.rise.unwrap_or(h.rise);
    h.port = s.port;
    if let Some(b) = t
        .get("start_up")
        .and_then(|v| values::boolean(v, "start_up", sink))
    {
        h.start_up = b;
    }
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
pub(crate) fn server_health(t: &Table, sink: &mut Sink) -> ServerHealth {
    t.deny_unknown(
        &["interval", "timeout", "fall", "rise", "port", "addr"],
        sink,
    );
    let s = settings(t, sink);
    let addr = t.get("addr").and_then(|v| {
        let text = values::string(v, "addr", sink)?;
        text.parse::<IpAddr>()
            .map_err(|_| {
                sink.error(
                    v.span(),
                    format!(
                        "`addr`: `{text}` is not an IP address; checks connect to this \
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
        port: s.port,
        addr,
    }
}

/// The keys a backend's and a server's `health` share.
struct Settings {
    interval: Option<Duration>,
    timeout: Option<Duration>,
    fall: Option<u32>,
    rise: Option<u32>,
    port: Option<u16>,
}

fn settings(t: &Table, sink: &mut Sink) -> Settings {
    // A zero interval would check in a busy loop; a zero timeout would fail
    // every check. A timeout longer than the interval is fine: the next
    // check simply waits for the current one.
    let duration = |key: &str, sink: &mut Sink| {
        t.get(key)
            .and_then(|v| values::duration(v, key, true, sink))
    };
    // fall = 0 or rise = 0 would change state without any check result.
    let count = |key: &str, sink: &mut Sink| {
        t.get(key)
            .and_then(|v| values::integer(v, key, 1, u32::MAX, sink))
    };
    Settings {
        interval: duration("interval", sink),
        timeout: duration("timeout", sink),
        fall: count("fall", sink),
        rise: count("rise", sink),
        port: t
            .get("port")
            .and_then(|v| values::integer(v, "port", 1, u16::MAX.into(), sink))
            .and_then(|n| u16::try_from(n).ok()),
    }
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
    let is_send = t.get("send").is_some() || t.get("expect").is_some();
    match (t.get("http"), is_send) {
        (Some(_), true) => {
            sink.error(
                t.span(),
                "`check` has both `http` and `send`/`expect`; choose one form",
            );
            None
        }
        (Some(http), false) => http_check(&t, http, sink),
        (None, true) => send_expect(&t, sink),
        (None, false) => {
            t.deny_unknown(&["http", "status", "host", "send", "expect"], sink);
            sink.error(
                t.span(),
                format!("`check` table needs `http` or `expect`; expected {CHECK_FORMS}"),
            );
            None
        }
    }
}

/// `{ send, expect }`. `send` may be left out: many protocols (SMTP, FTP,
/// MySQL) greet first, so waiting for the banner is a complete check.
/// `expect` may not be empty: it would accept any server that accepts a
/// connection, which is what `"tcp"` says more plainly.
fn send_expect(t: &Table, sink: &mut Sink) -> Option<Check> {
    t.deny_unknown(&["send", "expect"], sink);
    let send = match t.get("send") {
        Some(v) => values::string(v, "send", sink),
        None => Some(""),
    };
    let expect = t.required("expect", sink).and_then(|v| {
        let s = values::string(v, "expect", sink)?;
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
fn http_check(t: &Table, http: &Value, sink: &mut Sink) -> Option<Check> {
    t.deny_unknown(&["http", "status", "host"], sink);
    let line = values::string(http, "http", sink)
        .and_then(|s| request_line(s).map_err(|e| sink.error(http.span(), e)).ok());
    let status = match t.get("status") {
        Some(v) => values::integer(v, "status", 100, 599, sink).and_then(|n| u16::try_from(n).ok()),
        None => Some(200),
    };
    let host = match t.get("host") {
        Some(v) => {
            let s = values::string(v, "host", sink)?;
            if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
                sink.error(
                    v.span(),
                    "`host` must be a non-empty host name without spaces",
                );
                return None;
            }
            Some(s.to_string())
        }
        None => None,
    };
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

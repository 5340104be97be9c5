//! Health checks: `option httpchk` / `tcp-check` / `redis-check`, and
//! the backend's and each server's `health = { ... }` they and the
//! servers' check options ([`super::server`]) become.
//!
//! HAProxy sets check timing and target per server (`inter`, `fall`,
//! `rise`, `port`, `addr`), rampart per backend with a server's own
//! `health` over it. A setting all checked servers share goes to the
//! backend; one they do not share stays with the servers that differ
//! from their `default-server`, so every server is checked as before.

use super::Notes;
use super::server::ServerOpts;
use crate::import::{ms_duration, q};
use std::fmt::Write as _;

// === what a check does ===

/// A proxy's check: the last `option ...chk` / `tcp-check` wins, as in
/// HAProxy, with its `tcp-check` and `http-check` lines.
#[derive(Debug, Clone, Default)]
pub(super) struct CheckConf {
    kind: Option<Kind>,
    http_status: Option<u16>,
    /// `tcp-check` steps with their lines; `inherited` while they are
    /// still those of `defaults` (a proxy's own replace them).
    steps: Vec<(usize, Step)>,
    inherited: bool,
}

#[derive(Debug, Clone)]
enum Kind {
    Http { method: String, path: String },
    TcpCheck,
    Redis,
}

#[derive(Debug, Clone)]
enum Step {
    Connect { port: Option<u16> },
    Send(String),
    Expect(String),
}

impl CheckConf {
    /// The check of a proxy that starts from `defaults`'.
    pub(super) fn inherit(&self) -> CheckConf {
        CheckConf {
            inherited: true,
            ..self.clone()
        }
    }

    /// `option ...` lines about checks. Ok(None): not one of them.
    pub(super) fn option(
        &mut self,
        words: &[String],
        line: usize,
        notes: &mut Notes,
    ) -> Option<Result<bool, String>> {
        let name = words.get(1)?.as_str();
        match name {
            "httpchk" => {
                let rest: Vec<&str> = words[2..].iter().map(String::as_str).collect();
                let (method, path) = match rest[..] {
                    [] => ("OPTIONS", "/"),
                    [path] => ("OPTIONS", path),
                    [method, path, ..] => (method, path),
                };
                self.kind = Some(Kind::Http {
                    method: method.to_string(),
                    path: path.to_string(),
                });
            }
            "tcp-check" => self.kind = Some(Kind::TcpCheck),
            "redis-check" => self.kind = Some(Kind::Redis),
            "mysql-check" | "pgsql-check" | "smtpchk" | "ldap-check" | "ssl-hello-chk"
            | "spop-check" | "external-check" => {
                self.kind = None;
                notes.warn(
                    line,
                    format!(
                        "`option {name}` not imported: rampart has no such check, so servers \
                         are checked by a TCP connect only"
                    ),
                );
            }
            _ => return None,
        }
        Some(Ok(true))
    }

    /// `http-check expect status N`. Ok(false): another `http-check`.
    pub(super) fn http_check(&mut self, words: &[String]) -> Result<bool, String> {
        match words {
            [_, expect, status, s, ..] if expect == "expect" && status == "status" => {
                self.http_status = Some(
                    s.parse()
                        .map_err(|_| format!("`http-check expect status {s}`: not a status"))?,
                );
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// A `tcp-check` line.
    pub(super) fn tcp_check(
        &mut self,
        words: &[String],
        line: usize,
        notes: &mut Notes,
    ) -> Result<bool, String> {
        if self.inherited {
            self.steps.clear();
            self.inherited = false;
        }
        let args = &words[2.min(words.len())..];
        let step = match words.get(1).map(String::as_str) {
            Some("connect") => {
                let mut port = None;
                let mut it = args.iter();
                while let Some(o) = it.next() {
                    match o.as_str() {
                        "port" => {
                            let p = it.next().map(String::as_str).unwrap_or("");
                            port = Some(p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(
                                || format!("`tcp-check connect port {p}`: not a port"),
                            )?);
                        }
                        "default" | "linger" => {}
                        "comment" => {
                            it.next();
                        }
                        o => {
                            return Err(format!(
                                "`tcp-check connect ... {o}`: rampart's checks connect in \
                                 plain TCP to the server or its check port only"
                            ));
                        }
                    }
                }
                Step::Connect { port }
            }
            Some("send") => Step::Send(one(args, "send")?),
            Some("send-binary") => Step::Send(hex(&one(args, "send-binary")?)?),
            Some("expect") => expect(args, line, notes)?,
            Some("comment") => return Ok(true),
            Some(other) => {
                return Err(format!(
                    "`tcp-check {other}` has no rampart counterpart (its send/expect check \
                     sends once and waits for one reply)"
                ));
            }
            None => return Err("`tcp-check` needs an action".into()),
        };
        self.steps.push((line, step));
        Ok(true)
    }
}

/// The one argument of `send` (no `comment` after it, or it is dropped).
fn one(args: &[String], what: &str) -> Result<String, String> {
    match args {
        [data] | [data, _, _] => Ok(data.clone()),
        _ => Err(format!("`tcp-check {what}` needs one argument")),
    }
}

fn hex(s: &str) -> Result<String, String> {
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect();
    let bytes = bytes.ok_or_else(|| format!("`{s}` is not hex"))?;
    String::from_utf8(bytes).map_err(|_| {
        format!("`{s}`: the bytes are not text, which rampart's send/expect check takes")
    })
}

/// `tcp-check expect [options] [!] MATCH PATTERN`.
fn expect(args: &[String], line: usize, notes: &mut Notes) -> Result<Step, String> {
    let mut it = args.iter();
    while let Some(w) = it.next() {
        let mut value = || it.next().cloned().unwrap_or_default();
        let pattern = match w.as_str() {
            "comment" => {
                value();
                continue;
            }
            o @ ("min-recv" | "ok-status" | "error-status" | "tout-status" | "on-success"
            | "on-error" | "status-code") => {
                let v = value();
                notes.warn(line, format!("`tcp-check expect {o} {v}` not imported"));
                continue;
            }
            "!" => {
                return Err("`tcp-check expect !` (a reply that must not match) has no \
                            rampart counterpart"
                    .into());
            }
            "string" => value(),
            "binary" => hex(&value())?,
            "rstring" => literal(&value(), line, notes)?,
            "rbinary" => literal(&hex(&value())?, line, notes)?,
            other => {
                return Err(format!(
                    "`tcp-check expect {other}` has no rampart counterpart"
                ));
            }
        };
        if pattern.is_empty() {
            return Err("`tcp-check expect` with an empty pattern".into());
        }
        return Ok(Step::Expect(pattern));
    }
    Err("`tcp-check expect` needs a pattern".into())
}

/// A regex that is a literal text (escaped punctuation allowed, `^` and
/// `$` dropped with a warning: rampart finds the text anywhere in the
/// reply). Anything else cannot be carried.
fn literal(re: &str, line: usize, notes: &mut Notes) -> Result<String, String> {
    let body = re.strip_prefix('^').unwrap_or(re);
    let body = body
        .strip_suffix('$')
        .filter(|b| !b.ends_with('\\'))
        .unwrap_or(body);
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e) if e.is_ascii_punctuation() => out.push(e),
                _ => return Err(not_literal(re)),
            },
            '.' | '*' | '+' | '?' | '(' | ')' | '[' | ']' | '{' | '}' | '|' | '^' | '$' => {
                return Err(not_literal(re));
            }
            c => out.push(c),
        }
    }
    if body.len() != re.len() {
        notes.warn(
            line,
            format!(
                "`{re}`: imported as the text `{out}`, found anywhere in the reply (rampart \
                 matches text, not anchors)"
            ),
        );
    }
    Ok(out)
}

fn not_literal(re: &str) -> String {
    format!(
        "`tcp-check expect rstring {re}`: a regular expression; rampart's check looks for a \
         fixed text (write the text the reply must contain)"
    )
}

// === the health = { ... } lines ===

/// One server as the backend's TOML needs it.
pub(super) struct ServerCheck<'a> {
    pub(super) line: usize,
    pub(super) name: &'a str,
    pub(super) opts: &'a ServerOpts,
}

/// Errors, each with its line.
type Lined = Vec<(usize, String)>;

/// The inside of a backend's `health = { ... }` and of each server's own
/// (`health = { ... }` whole), in the servers' order; `None`: nothing
/// differs from the defaults.
pub(super) struct HealthToml {
    pub(super) backend: Option<String>,
    pub(super) servers: Vec<Option<String>>,
}

/// What a check does (`None`: a connect check, rampart's default) and
/// the port `tcp-check connect` gives.
struct What {
    check: Option<String>,
    port: Option<u16>,
}

/// The backend's `health = { ... }` (if anything differs from rampart's
/// defaults) and each server's own (in order).
pub(super) fn health(
    conf: &CheckConf,
    servers: &[ServerCheck],
    notes: &mut Notes,
) -> Result<HealthToml, Lined> {
    let checked: Vec<usize> = (0..servers.len())
        .filter(|&i| servers[i].opts.check == Some(true))
        .collect();
    if checked.is_empty() {
        return Ok(HealthToml {
            backend: Some("check = \"none\"".into()),
            servers: vec![None; servers.len()],
        });
    }
    let mut backend = Vec::new();
    let What {
        check,
        port: tcp_port,
    } = what(conf, notes)?;
    let connect_only = check.is_none();
    if let Some(c) = check {
        backend.push(format!("check = {c}"));
    }
    let mut errors = Vec::new();
    for s in checked.iter().map(|&i| &servers[i]) {
        match (s.opts.check_ssl, connect_only) {
            (Some(true), true) => notes.warn(
                s.line,
                format!(
                    "server `{}`: `check-ssl` not needed: a connect check is the same with \
                     or without TLS",
                    s.name
                ),
            ),
            (Some(true), false) => errors.push((
                s.line,
                format!(
                    "server `{}`: `check-ssl`: HAProxy checks over TLS; rampart's checks \
                     speak plain text, which this server would not answer",
                    s.name
                ),
            )),
            _ => {}
        }
        // HAProxy's checks carry the PROXY header the traffic carries when
        // they go to the server's own port; rampart's never do.
        if s.opts.send_proxy.flatten().is_some()
            && !connect_only
            && s.opts.port.is_none()
            && s.opts.addr.is_none()
            && tcp_port.is_none()
        {
            notes.warn(
                s.line,
                format!(
                    "server `{}`: HAProxy sends its checks with the PROXY header this server \
                     expects (`send-proxy`); rampart's checks do not, so a server that \
                     requires it fails them",
                    s.name
                ),
            );
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    let mut own: Vec<Vec<String>> = vec![Vec::new(); servers.len()];
    let mut setting = |key: &str, get: &dyn Fn(&ServerOpts) -> Option<String>, hoist: bool| {
        let values: Vec<Option<String>> = checked.iter().map(|&i| get(servers[i].opts)).collect();
        let (base, differ) = split(&values, hoist);
        for (&i, v) in checked.iter().zip(differ) {
            own[i].extend(v.map(|v| format!("{key} = {v}")));
        }
        base.map(|v| format!("{key} = {v}"))
    };
    backend.extend(setting(
        "interval",
        &|o| o.inter.map(|ms| q(&ms_duration(ms))),
        true,
    ));
    backend.extend(setting("fall", &|o| o.fall.map(|n| n.to_string()), true));
    backend.extend(setting("rise", &|o| o.rise.map(|n| n.to_string()), true));
    if tcp_port.is_none() {
        backend.extend(setting("port", &|o| o.port.map(|p| p.to_string()), true));
    }
    // rampart sets a check address per server only.
    backend.extend(setting(
        "addr",
        &|o| o.addr.map(|a| q(&a.to_string())),
        false,
    ));
    // `tcp-check connect port` decides for every server.
    if let Some(p) = tcp_port {
        backend.push(format!("port = {p}"));
        for &i in &checked {
            let s = &servers[i];
            if s.opts.port.is_some_and(|sp| sp != p) {
                notes.warn(
                    s.line,
                    format!(
                        "server `{}`: its check `port` gives way to `tcp-check connect \
                         port {p}`, as in HAProxy",
                        s.name
                    ),
                );
            }
        }
    }
    let backend = (!backend.is_empty()).then(|| backend.join(", "));
    let servers = own
        .into_iter()
        .map(|o| (!o.is_empty()).then(|| format!("health = {{ {} }}", o.join(", "))))
        .collect();
    Ok(HealthToml { backend, servers })
}

/// One setting over the checked servers: the backend's value and each
/// server's own where it differs from that. With `hoist`, and every server
/// setting it, the backend takes the most common value (the first of
/// equals); a server without the setting keeps rampart's default, which is
/// HAProxy's (`inter 2s`, `fall 3`, `rise 2`, the server's port and
/// address), so the backend then has none.
fn split(values: &[Option<String>], hoist: bool) -> (Option<String>, Vec<Option<String>>) {
    let base = if hoist && values.iter().all(Option::is_some) {
        let count = |v: &Option<String>| values.iter().filter(|x| *x == v).count();
        values
            .iter()
            .fold(None::<&Option<String>>, |best, v| match best {
                Some(b) if count(b) >= count(v) => Some(b),
                _ => Some(v),
            })
            .cloned()
            .flatten()
    } else {
        None
    };
    let own = values
        .iter()
        .map(|v| v.clone().filter(|v| Some(v) != base.as_ref()))
        .collect();
    (base, own)
}

/// What the proxy's check does.
fn what(conf: &CheckConf, notes: &mut Notes) -> Result<What, Lined> {
    match &conf.kind {
        None => Ok(What {
            check: None,
            port: None,
        }),
        Some(Kind::Http { method, path }) => {
            let mut h = format!("{{ http = {}", q(&format!("{method} {path}")));
            if let Some(s) = conf.http_status {
                let _ = write!(h, ", status = {s}");
            }
            h.push_str(" }");
            Ok(What {
                check: Some(h),
                port: None,
            })
        }
        // HAProxy's own redis-check: this exchange.
        Some(Kind::Redis) => Ok(What {
            check: Some(send_expect("*1\r\n$4\r\nPING\r\n", "+PONG")),
            port: None,
        }),
        Some(Kind::TcpCheck) => tcp_check(&conf.steps, notes),
    }
}

fn send_expect(send: &str, expect: &str) -> String {
    if send.is_empty() {
        format!("{{ expect = {} }}", q(expect))
    } else {
        format!("{{ send = {}, expect = {} }}", q(send), q(expect))
    }
}

/// `tcp-check` steps as one send/expect exchange: an optional `connect`
/// first, what is sent before the first `expect` (in one piece), and that
/// `expect`.
fn tcp_check(steps: &[(usize, Step)], notes: &mut Notes) -> Result<What, Lined> {
    let mut port = None;
    let mut send = String::new();
    let mut rest = steps;
    if let Some(((_, Step::Connect { port: p }), after)) = rest.split_first() {
        port = *p;
        rest = after;
    }
    let mut expect = None;
    for (line, step) in rest {
        let why = match (step, &expect) {
            (Step::Send(s), None) => {
                send.push_str(s);
                continue;
            }
            (Step::Expect(e), None) => {
                expect = Some(e.clone());
                continue;
            }
            (Step::Connect { .. }, _) => "a second `tcp-check connect`",
            (_, Some(_)) => "a second exchange",
        };
        let last = rest.last().map_or(*line, |(l, _)| *l);
        let lines = if last > *line {
            format!("lines {line}-{last}")
        } else {
            format!("line {line}")
        };
        return Err(vec![(
            *line,
            format!(
                "{why} in `tcp-check` ({lines}): rampart's check connects once, sends once \
                 and waits for one reply (keep the first exchange, or convert the check by hand)"
            ),
        )]);
    }
    match expect {
        Some(e) => Ok(What {
            check: Some(send_expect(&send, &e)),
            port,
        }),
        None => {
            if let Some((line, _)) = steps.iter().find(|(_, s)| matches!(s, Step::Send(_))) {
                notes.warn(
                    *line,
                    "`tcp-check send` without `expect` imported as a connect check: \
                     rampart's check sends only when it waits for a reply"
                        .into(),
                );
            }
            Ok(What { check: None, port })
        }
    }
}

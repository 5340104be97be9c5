//! `rampart import haproxy FILE`: an HAProxy `mode tcp` configuration as
//! rampart TOML. What has a rampart counterpart is carried over: binds
//! (every address form, [`addr`]), `default_backend`, `balance`, source
//! ACLs and `tcp-request` accept/reject rules as `allow`/`deny`
//! ([`acl`]), `server` and `default-server` lines with their check
//! settings per server, `option httpchk` / `tcp-check` / `redis-check`
//! ([`check`]), timeouts, `retries`, `maxconn`, `nbthread`. Everything
//! else is named in a warning with its line, never dropped silently; what
//! would change who is served or how (TLS, a rule on more than the
//! source, a PROXY header from clients, ...) makes the import refuse.
//! A proxy in `mode http` (a `listen stats` page, an HTTP site) is left
//! out with a warning that names it, and the rest is imported. The output
//! is parsed by [`crate::parse`] before it is returned, so it is always a
//! valid config.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;

mod acl;
mod addr;
mod check;
mod ipset;
mod output;
mod server;
#[cfg(test)]
mod tests;
mod words;

use acl::Access;
use check::CheckConf;
use server::ServerOpts;

use crate::import::{Imported, ms_duration};

/// Warnings and errors, each with its line.
#[derive(Debug, Default)]
pub(super) struct Notes {
    warnings: Vec<(usize, String)>,
    errors: Vec<(usize, String)>,
}

impl Notes {
    fn warn(&mut self, line: usize, m: String) {
        self.warnings.push((line, m));
    }

    fn error(&mut self, line: usize, m: String) {
        self.errors.push((line, m));
    }

    fn append(&mut self, mut other: Notes) {
        self.warnings.append(&mut other.warnings);
        self.errors.append(&mut other.errors);
    }
}

/// Settings `defaults` passes on, and each proxy may override.
#[derive(Debug, Clone, Default)]
struct Common {
    mode: Option<String>,
    balance: Option<String>,
    retries: Option<u32>,
    maxconn: Option<u32>,
    /// rampart key (`connect`, `client`, ...) → rampart duration.
    timeouts: BTreeMap<&'static str, String>,
    /// From `default-server`.
    server: ServerOpts,
    check: CheckConf,
    access: Access,
}

impl Common {
    /// What a proxy starts from.
    fn inherit(&self) -> Common {
        Common {
            check: self.check.inherit(),
            // A proxy's rules follow those of its defaults; its own come
            // after them (see `Access::inherit`).
            access: Access::default(),
            ..self.clone()
        }
    }
}

#[derive(Debug)]
struct Server {
    line: usize,
    name: String,
    addr: SocketAddr,
    /// Its own options over its proxy's `default-server` at that line.
    opts: ServerOpts,
}

#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Frontend,
    Backend,
    Listen,
}

impl Kind {
    fn name(&self) -> &'static str {
        match self {
            Kind::Frontend => "frontend",
            Kind::Backend => "backend",
            Kind::Listen => "listen",
        }
    }
}

#[derive(Debug)]
struct Proxy {
    kind: Kind,
    name: String,
    line: usize,
    common: Common,
    /// The defaults' access rules, which come before the proxy's own.
    inherited: Access,
    binds: Vec<SocketAddr>,
    backend: Option<String>,
    servers: Vec<Server>,
    /// Lines of an HAProxy stats page (`stats enable`, `stats uri`, ...).
    stats: bool,
    /// `disabled`: HAProxy does not start it.
    disabled: bool,
    /// What its lines gave; dropped with the proxy if it is not imported.
    notes: Notes,
}

enum Section {
    Global,
    Defaults,
    Proxy(usize),
    Other,
}

/// HAProxy times: a number with an optional unit, milliseconds by default.
fn duration_ms(s: &str) -> Result<u64, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("`{s}` is not a time"))?;
    let scale: u64 = match unit {
        "" | "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "us" => return Ok(n.div_ceil(1000)),
        _ => return Err(format!("`{s}`: unknown time unit `{unit}`")),
    };
    n.checked_mul(scale)
        .ok_or_else(|| format!("`{s}` is too long"))
}

fn duration(s: &str) -> Result<String, String> {
    duration_ms(s).map(ms_duration)
}

fn number(s: Option<&str>, what: &str) -> Result<u32, String> {
    let s = s.ok_or_else(|| format!("`{what}` needs a number"))?;
    s.parse()
        .map_err(|_| format!("`{what}`: `{s}` is not a number"))
}

/// Why a keyword that rampart has no use for is not carried over.
fn not_needed(keyword: &str) -> Option<&'static str> {
    Some(match keyword {
        "log" | "option tcplog" | "option dontlognull" | "option httplog" => {
            "rampart logs one line per connection (tcplog) to stderr"
        }
        "chroot" | "user" | "group" | "daemon" | "pidfile" | "master-worker" => {
            "process settings: run rampart under systemd instead"
        }
        "stats" | "stats socket" | "stats timeout" => "use `rampart status`",
        "option redispatch" => "rampart always redispatches a retry to another server",
        "ca-base"
        | "crt-base"
        | "ssl-default-bind-ciphers"
        | "ssl-default-bind-options"
        | "ssl-default-bind-ciphersuites"
        | "ssl-default-server-options" => "TLS is not rampart's job (it forwards TCP)",
        "errorfile" | "option forwardfor" | "option http-server-close" => "HTTP mode only",
        "tcp-request inspect-delay" => {
            "it delays content rules, and rampart carries only those on the source address"
        }
        _ => return None,
    })
}

/// Converts `text` (the contents of `origin`, whose directory relative
/// ACL pattern files are read from). `Err` lists what makes a faithful
/// conversion impossible, each as `origin:line: message`.
pub fn import_haproxy(origin: &str, text: &str) -> Result<Imported, Vec<String>> {
    let dir = Path::new(origin).parent().unwrap_or(Path::new(""));
    let mut notes = Notes::default();
    let mut threads: Option<u32> = None;
    let mut defaults = Common::default();
    let mut named: HashMap<String, Common> = HashMap::new();
    let mut proxies: Vec<Proxy> = Vec::new();
    let mut section = Section::Other;
    // The name of the defaults section being read, if it has one.
    let mut naming: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let here = match &section {
            Section::Proxy(p) => &mut proxies[*p].notes,
            _ => &mut notes,
        };
        let words = match words::words(raw) {
            Ok(w) => w,
            Err(e) => {
                here.error(line, e);
                continue;
            }
        };
        let Some(first) = words.first().map(String::as_str) else {
            continue;
        };
        if SECTIONS.contains(&first)
            && let Some(name) = naming.take()
        {
            named.insert(name, defaults.clone());
        }
        match first {
            "global" => {
                section = Section::Global;
                continue;
            }
            "defaults" => {
                match from(&words[1..], &named) {
                    Ok(base) => defaults = base,
                    Err(e) => notes.error(line, e),
                }
                naming = words.get(1).filter(|n| *n != "from").cloned();
                section = Section::Defaults;
                continue;
            }
            "frontend" | "backend" | "listen" => {
                section = match proxy(&words, line, &named, &defaults, &mut notes) {
                    Some(p) => {
                        proxies.push(p);
                        Section::Proxy(proxies.len() - 1)
                    }
                    None => Section::Other,
                };
                continue;
            }
            _ if SECTIONS.contains(&first) => {
                notes.warn(line, format!("section `{first}` is not imported"));
                section = Section::Other;
                continue;
            }
            _ => {}
        }
        let result: Result<bool, String> = match &mut section {
            Section::Other => Ok(true),
            Section::Global => match (first, words.get(1)) {
                ("nbthread", n) => number(n.map(String::as_str), "nbthread").map(|n| {
                    threads = Some(n);
                    true
                }),
                _ => Ok(false),
            },
            Section::Defaults => common(&mut defaults, &words, line, dir, &mut notes),
            Section::Proxy(p) => proxy_line(&mut proxies[*p], &words, line, dir),
        };
        let here = match &section {
            Section::Proxy(p) => &mut proxies[*p].notes,
            _ => &mut notes,
        };
        match result {
            Ok(true) => {}
            Ok(false) => {
                let two = words
                    .get(1)
                    .map_or(first.to_string(), |w| format!("{first} {w}"));
                let why = not_needed(&two)
                    .or(not_needed(first))
                    .unwrap_or("rampart has no counterpart");
                here.warn(line, format!("`{}` not imported: {why}", words.join(" ")));
            }
            Err(e) => here.error(line, e),
        }
    }
    let out = output::assemble(origin, threads, proxies, &mut notes);
    output::finish(origin, out, notes)
}

/// The keywords that start a section.
const SECTIONS: &[&str] = &[
    "global",
    "defaults",
    "frontend",
    "backend",
    "listen",
    "resolvers",
    "peers",
    "userlist",
    "mailers",
    "program",
    "http-errors",
    "cache",
    "ring",
    "log-forward",
    "crt-store",
    "traces",
];

/// `defaults [NAME] [from OTHER]`: what a new defaults section starts from
/// (HAProxy resets them at each `defaults`, unless `from` names one).
fn from(args: &[String], named: &HashMap<String, Common>) -> Result<Common, String> {
    match args.iter().position(|w| w == "from") {
        None => Ok(Common::default()),
        Some(i) => {
            let name = args
                .get(i + 1)
                .ok_or("`from` needs a defaults section's name")?;
            named
                .get(name)
                .cloned()
                .ok_or_else(|| format!("no defaults section `{name}`"))
        }
    }
}

/// A `frontend`, `backend` or `listen` line: `NAME [ADDR] [from DEFAULTS]`
/// (an address on the line is HAProxy's old way to write a bind).
fn proxy(
    words: &[String],
    line: usize,
    named: &HashMap<String, Common>,
    last: &Common,
    notes: &mut Notes,
) -> Option<Proxy> {
    let kind = match words[0].as_str() {
        "frontend" => Kind::Frontend,
        "backend" => Kind::Backend,
        _ => Kind::Listen,
    };
    let Some(name) = words.get(1) else {
        notes.error(line, format!("`{}` needs a name", words[0]));
        return None;
    };
    let mut rest = &words[2..];
    let base = match rest.iter().position(|w| w == "from") {
        Some(i) => {
            let d = rest.get(i + 1).and_then(|n| named.get(n));
            let Some(d) = d else {
                notes.error(line, "`from` names no defaults section".into());
                return None;
            };
            rest = &rest[..i];
            d
        }
        None => last,
    };
    let mut p = Proxy {
        kind,
        name: name.clone(),
        line,
        common: base.inherit(),
        inherited: base.access.clone(),
        binds: Vec::new(),
        backend: None,
        servers: Vec::new(),
        stats: false,
        disabled: false,
        notes: Notes::default(),
    };
    if let Some(addrs) = rest.first() {
        if p.kind == Kind::Backend {
            notes.error(line, "a backend has no address".into());
            return None;
        }
        match addr::bind(std::slice::from_ref(addrs), line, &mut p.notes) {
            Ok(b) => p.binds.extend(b),
            Err(e) => p.notes.error(line, e),
        }
    }
    Some(p)
}

/// Keywords `defaults` and proxies share. Ok(false): not imported.
fn common(
    c: &mut Common,
    words: &[String],
    line: usize,
    dir: &Path,
    notes: &mut Notes,
) -> Result<bool, String> {
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    match w[..] {
        ["mode", m, ..] => c.mode = Some(m.to_string()),
        ["balance", b, ..] => match b {
            "roundrobin" | "static-rr" => c.balance = Some("roundrobin".into()),
            "leastconn" | "first" | "source" | "random" => c.balance = Some(b.to_string()),
            _ => return Err(format!("`balance {b}` has no rampart counterpart")),
        },
        ["retries", n, ..] => c.retries = Some(number(Some(n), "retries")?),
        ["maxconn", n, ..] => c.maxconn = Some(number(Some(n), "maxconn")?),
        ["timeout", which, t, ..] => {
            let key = match which {
                "connect" => "connect",
                "client" => "client",
                "server" => "server",
                "tunnel" => "tunnel",
                "queue" => "queue",
                // `check`, and the HTTP-only ones.
                _ => return Ok(false),
            };
            c.timeouts.insert(key, duration(t)?);
        }
        ["default-server", ..] => {
            let o = server::server_opts(&words[1..], "default-server", line, notes)?;
            c.server = o.over(&c.server);
        }
        ["option", ..] => match c.check.option(words, line, notes) {
            Some(r) => return r,
            None => return Ok(false),
        },
        ["http-check", ..] => return c.check.http_check(words),
        ["tcp-check", ..] => return c.check.tcp_check(words, line, notes),
        ["acl", ..] => c.access.acl(line, words, dir)?,
        ["tcp-request", ..] => return c.access.tcp_request(line, words, dir, notes),
        _ => return Ok(false),
    }
    Ok(true)
}

/// A proxy section's line. Ok(false): not imported.
fn proxy_line(p: &mut Proxy, words: &[String], line: usize, dir: &Path) -> Result<bool, String> {
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    match w[..] {
        ["bind", ..] if p.kind != Kind::Backend => {
            let b = addr::bind(&words[1..], line, &mut p.notes)?;
            p.binds.extend(b);
            Ok(true)
        }
        ["default_backend", b, ..] if p.kind != Kind::Backend => {
            p.backend = Some(b.to_string());
            Ok(true)
        }
        ["use_backend", ..] => Err("`use_backend` with conditions has no rampart counterpart: \
             give each service its own frontend"
            .to_string()),
        ["server", name, a, ..] if p.kind != Kind::Frontend => {
            let addr = addr::address(a, addr::Role::Server)?;
            let who = format!("server `{name}`");
            let own = server::server_opts(&words[3..], &who, line, &mut p.notes)?;
            let opts = own.over(&p.common.server);
            let timing = own.inter.is_some() || own.fall.is_some() || own.rise.is_some();
            if opts.check != Some(true) && (timing || own.port.is_some() || own.addr.is_some()) {
                p.notes.warn(
                    line,
                    format!("{who}: check settings have no effect without `check` (as in HAProxy)"),
                );
            }
            p.servers.push(Server {
                line,
                name: name.to_string(),
                addr,
                opts,
            });
            Ok(true)
        }
        [
            "stats",
            "enable" | "uri" | "auth" | "realm" | "refresh" | "admin" | "hide-version",
            ..,
        ] => {
            p.stats = true;
            Ok(false)
        }
        ["disabled"] => {
            p.disabled = true;
            Ok(true)
        }
        _ => common(&mut p.common, words, line, dir, &mut p.notes),
    }
}

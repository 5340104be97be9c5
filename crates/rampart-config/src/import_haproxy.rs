//! `rampart import haproxy FILE`: an HAProxy `mode tcp` configuration as
//! rampart TOML. What has a rampart counterpart is carried over (binds,
//! `default_backend`, `balance`, `server` lines with `check`, `inter`,
//! `fall`, `rise`, `weight`, `backup`, `maxconn`, `send-proxy[-v2]`,
//! `disabled`, timeouts, `retries`, `maxconn`, `nbthread`, `option
//! httpchk`); everything else is named in a warning with its line, never
//! dropped silently. The output is parsed by [`crate::parse`] before it is
//! returned, so it is always a valid config.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The TOML and what was not carried over.
#[derive(Debug)]
pub struct Imported {
    pub toml: String,
    pub warnings: Vec<String>,
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
    httpchk: Option<(String, String)>,
    http_status: Option<u16>,
}

#[derive(Debug, Clone, Default)]
struct ServerOpts {
    inter: Option<String>,
    fall: Option<u32>,
    rise: Option<u32>,
}

#[derive(Debug)]
struct Server {
    name: String,
    addr: String,
    check: bool,
    opts: ServerOpts,
    weight: Option<u32>,
    backup: bool,
    maxconn: Option<u32>,
    send_proxy: Option<&'static str>,
}

#[derive(Debug)]
enum Kind {
    Frontend,
    Backend,
    Listen,
}

#[derive(Debug)]
struct Proxy {
    kind: Kind,
    name: String,
    line: usize,
    common: Common,
    binds: Vec<String>,
    backend: Option<String>,
    servers: Vec<Server>,
}

enum Section {
    Global,
    Defaults,
    Proxy(usize),
    Other,
}

/// HAProxy times: a number with an optional unit, milliseconds by default.
fn duration(s: &str) -> Result<String, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("`{s}` is not a time"))?;
    let scale: u64 = match unit {
        "" | "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "us" => return Ok(format!("{}ms", n.div_ceil(1000))),
        _ => return Err(format!("`{s}`: unknown time unit `{unit}`")),
    };
    let ms = n
        .checked_mul(scale)
        .ok_or_else(|| format!("`{s}` is too long"))?;
    Ok(ms_duration(ms))
}

/// Milliseconds as a rampart duration: whole seconds as `"5s"`.
pub(crate) fn ms_duration(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

fn number(s: Option<&&str>, what: &str) -> Result<u32, String> {
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
        _ => return None,
    })
}

/// Converts `text` (the contents of `origin`). `Err` lists what makes a
/// faithful conversion impossible (`mode http`, a frontend without a
/// backend, a malformed line), each as `origin:line: message`.
pub fn import_haproxy(origin: &str, text: &str) -> Result<Imported, Vec<String>> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut threads: Option<u32> = None;
    let mut defaults = Common::default();
    let mut proxies: Vec<Proxy> = Vec::new();
    let mut section = Section::Other;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let content = raw.split(" #").next().unwrap_or("");
        let words: Vec<&str> = content.split_whitespace().collect();
        let Some(&first) = words.first() else {
            continue;
        };
        if first.starts_with('#') {
            continue;
        }
        let at = |m: String| format!("{origin}:{line}: {m}");
        match first {
            "global" => {
                section = Section::Global;
                continue;
            }
            "defaults" => {
                section = Section::Defaults;
                defaults = Common::default();
                continue;
            }
            "frontend" | "backend" | "listen" => {
                let Some(name) = words.get(1) else {
                    errors.push(at(format!("`{first}` needs a name")));
                    section = Section::Other;
                    continue;
                };
                let kind = match first {
                    "frontend" => Kind::Frontend,
                    "backend" => Kind::Backend,
                    _ => Kind::Listen,
                };
                proxies.push(Proxy {
                    kind,
                    name: (*name).to_string(),
                    line,
                    common: defaults.clone(),
                    binds: Vec::new(),
                    backend: None,
                    servers: Vec::new(),
                });
                section = Section::Proxy(proxies.len() - 1);
                continue;
            }
            "resolvers" | "peers" | "userlist" | "mailers" | "program" | "http-errors"
            | "cache" | "ring" => {
                warnings.push(at(format!("section `{first}` is not imported")));
                section = Section::Other;
                continue;
            }
            _ => {}
        }
        let two = words
            .get(1)
            .map_or(first.to_string(), |w| format!("{first} {w}"));
        let result: Result<bool, String> = match &mut section {
            Section::Other => Ok(true),
            Section::Global => match first {
                "nbthread" => number(words.get(1), "nbthread").map(|n| {
                    threads = Some(n);
                    true
                }),
                // Frontends carry their own maxconn in rampart.
                "maxconn" => Ok(false),
                _ => Ok(false),
            },
            Section::Defaults => common(&mut defaults, &words),
            Section::Proxy(p) => {
                let p = &mut proxies[*p];
                proxy_line(p, &words, &mut warnings, &at)
            }
        };
        match result {
            Ok(true) => {}
            Ok(false) => warnings.push(at(match not_needed(&two).or(not_needed(first)) {
                Some(why) => format!("`{}` not imported: {why}", words.join(" ")),
                None => format!(
                    "`{}` not imported: rampart has no counterpart",
                    words.join(" ")
                ),
            })),
            Err(e) => errors.push(at(e)),
        }
    }

    // Checks across sections, then the TOML.
    let mut out = format!("# Imported from {origin} by `rampart import haproxy`.\n");
    if let Some(n) = threads {
        let _ = write!(out, "\n[global]\nthreads = {n}\n");
    }
    let backend_names: Vec<&str> = proxies
        .iter()
        .filter(|p| !matches!(p.kind, Kind::Frontend))
        .map(|p| p.name.as_str())
        .collect();
    for p in &proxies {
        let at = |m: String| format!("{origin}:{}: {m}", p.line);
        if p.common.mode.as_deref().is_some_and(|m| m != "tcp") {
            errors.push(at(format!(
                "{} `{}` is in `mode {}`: rampart forwards TCP (mode tcp) only",
                kind_name(&p.kind),
                p.name,
                p.common.mode.as_deref().unwrap_or_default()
            )));
            continue;
        }
        if p.common.mode.is_none() {
            warnings.push(at(format!(
                "{} `{}` has no `mode`: HAProxy would use http; imported as tcp",
                kind_name(&p.kind),
                p.name
            )));
        }
        if !matches!(p.kind, Kind::Backend) {
            let backend = match (&p.kind, &p.backend) {
                (Kind::Listen, _) => Some(p.name.clone()),
                (_, Some(b)) => Some(b.clone()),
                _ => None,
            };
            match backend {
                Some(b) if backend_names.contains(&b.as_str()) => {
                    let _ = write!(
                        out,
                        "\n[[frontend]]\nname = {}\nbind = [{}]\nbackend = {}\n",
                        q(&p.name),
                        p.binds.iter().map(|b| q(b)).collect::<Vec<_>>().join(", "),
                        q(&b)
                    );
                    if let Some(m) = p.common.maxconn {
                        let _ = writeln!(out, "maxconn = {m}");
                    }
                }
                Some(b) => errors.push(at(format!("frontend `{}`: no backend `{b}`", p.name))),
                None => errors.push(at(format!(
                    "frontend `{}` has no `default_backend`",
                    p.name
                ))),
            }
        }
        if !matches!(p.kind, Kind::Frontend) {
            out.push_str(&backend_toml(p, &mut warnings, &at));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if let Err(e) = crate::parse(&format!("{origin} (imported)"), &out) {
        return Err(vec![format!(
            "the imported config is not valid rampart config:\n{}",
            e.render()
        )]);
    }
    Ok(Imported {
        toml: out,
        warnings,
    })
}

fn kind_name(k: &Kind) -> &'static str {
    match k {
        Kind::Frontend => "frontend",
        Kind::Backend => "backend",
        Kind::Listen => "listen",
    }
}

/// A TOML string.
pub(crate) fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// Keywords `defaults` and proxies share. Ok(false): not imported.
fn common(c: &mut Common, words: &[&str]) -> Result<bool, String> {
    match words {
        ["mode", m, ..] => c.mode = Some((*m).to_string()),
        ["balance", b, ..] => match *b {
            "roundrobin" | "static-rr" => c.balance = Some("roundrobin".into()),
            "leastconn" | "first" | "source" | "random" => c.balance = Some((*b).to_string()),
            _ => return Err(format!("`balance {b}` has no rampart counterpart")),
        },
        ["retries", n, ..] => c.retries = Some(number(Some(n), "retries")?),
        ["maxconn", n, ..] => c.maxconn = Some(number(Some(n), "maxconn")?),
        ["timeout", which, t, ..] => {
            let key = match *which {
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
        ["default-server", rest @ ..] => {
            let (opts, _) = server_opts(rest)?;
            merge(&mut c.server, opts);
        }
        ["option", "httpchk", rest @ ..] => {
            let (method, path) = match rest {
                [] => ("OPTIONS", "/"),
                [path] => ("OPTIONS", *path),
                [method, path, ..] => (*method, *path),
            };
            c.httpchk = Some((method.to_string(), path.to_string()));
        }
        ["http-check", "expect", "status", s, ..] => {
            c.http_status = Some(
                s.parse()
                    .map_err(|_| format!("`http-check expect status {s}`: not a status"))?,
            );
        }
        _ => return Ok(false),
    }
    Ok(true)
}

fn merge(into: &mut ServerOpts, from: ServerOpts) {
    if from.inter.is_some() {
        into.inter = from.inter;
    }
    if from.fall.is_some() {
        into.fall = from.fall;
    }
    if from.rise.is_some() {
        into.rise = from.rise;
    }
}

/// A proxy section's line. Ok(false): not imported.
fn proxy_line(
    p: &mut Proxy,
    words: &[&str],
    warnings: &mut Vec<String>,
    at: &dyn Fn(String) -> String,
) -> Result<bool, String> {
    match words {
        ["bind", addrs, rest @ ..] if !matches!(p.kind, Kind::Backend) => {
            if let Some(opt) = rest.first() {
                warnings.push(at(format!("bind options from `{opt}` on are not imported")));
            }
            for a in addrs.split(',') {
                // HAProxy writes `:80` or `*:80` for every IPv4 address.
                let a = match a.strip_prefix('*').unwrap_or(a) {
                    x if x.starts_with(':') => format!("0.0.0.0{x}"),
                    x => x.to_string(),
                };
                p.binds.push(a);
            }
            Ok(true)
        }
        ["default_backend", b, ..] if !matches!(p.kind, Kind::Backend) => {
            p.backend = Some((*b).to_string());
            Ok(true)
        }
        ["use_backend", ..] => Err("`use_backend` with conditions has no rampart counterpart: \
             give each service its own frontend"
            .to_string()),
        ["server", name, addr, rest @ ..] if !matches!(p.kind, Kind::Frontend) => {
            let (opts, flags) = server_opts(rest)?;
            let mut s = Server {
                name: (*name).to_string(),
                addr: (*addr).to_string(),
                check: false,
                opts,
                weight: None,
                backup: false,
                maxconn: None,
                send_proxy: None,
            };
            let mut it = flags.iter();
            while let Some(f) = it.next() {
                match *f {
                    "check" => s.check = true,
                    "backup" => s.backup = true,
                    "disabled" => s.weight = Some(0),
                    "send-proxy" => s.send_proxy = Some("v1"),
                    "send-proxy-v2" => s.send_proxy = Some("v2"),
                    "weight" => s.weight = Some(number(it.next(), "weight")?),
                    "maxconn" => s.maxconn = Some(number(it.next(), "maxconn")?),
                    other => warnings.push(at(format!("server `{name}`: `{other}` not imported"))),
                }
            }
            p.servers.push(s);
            Ok(true)
        }
        _ => common(&mut p.common, words),
    }
}

/// `inter`, `fall`, `rise` taken out; the other words returned.
fn server_opts<'a>(words: &[&'a str]) -> Result<(ServerOpts, Vec<&'a str>), String> {
    let mut o = ServerOpts::default();
    let mut rest = Vec::new();
    let mut it = words.iter();
    while let Some(w) = it.next() {
        match *w {
            "inter" => {
                o.inter = Some(duration(it.next().ok_or("`inter` needs a time")?)?);
            }
            "fall" => o.fall = Some(number(it.next(), "fall")?),
            "rise" => o.rise = Some(number(it.next(), "rise")?),
            "weight" | "maxconn" | "port" | "addr" | "slowstart" | "id" => {
                rest.push(*w);
                if let Some(v) = it.next() {
                    rest.push(v);
                }
            }
            _ => rest.push(*w),
        }
    }
    Ok((o, rest))
}

fn backend_toml(p: &Proxy, warnings: &mut Vec<String>, at: &dyn Fn(String) -> String) -> String {
    let c = &p.common;
    let mut out = format!("\n[[backend]]\nname = {}\n", q(&p.name));
    if let Some(b) = &c.balance {
        let _ = writeln!(out, "balance = {}", q(b));
    }
    if let Some(r) = c.retries {
        let _ = writeln!(out, "retries = {r}");
    }
    if !c.timeouts.is_empty() {
        let t: Vec<String> = c
            .timeouts
            .iter()
            .map(|(k, v)| format!("{k} = {}", q(v)))
            .collect();
        let _ = writeln!(out, "timeout = {{ {} }}", t.join(", "));
    }
    // Health is per backend in rampart: the checked servers' settings,
    // which must agree.
    let checked: Vec<&Server> = p.servers.iter().filter(|s| s.check).collect();
    let mut health: Vec<String> = Vec::new();
    if checked.is_empty() {
        health.push("check = \"none\"".into());
    } else {
        if let Some((method, path)) = &c.httpchk {
            let mut h = format!("check = {{ http = {}", q(&format!("{method} {path}")));
            if let Some(s) = c.http_status {
                let _ = write!(h, ", status = {s}");
            }
            h.push_str(" }");
            health.push(h);
        }
        let mut differ = false;
        let mut pick = |f: &dyn Fn(&ServerOpts) -> Option<String>| -> Option<String> {
            let mut vals: Vec<Option<String>> = checked
                .iter()
                .map(|s| f(&s.opts).or_else(|| f(&c.server)))
                .collect();
            vals.dedup();
            differ |= vals.len() > 1;
            vals.into_iter().next().flatten()
        };
        let settings = [
            ("interval", pick(&|o| o.inter.as_deref().map(q))),
            ("fall", pick(&|o| o.fall.map(|n| n.to_string()))),
            ("rise", pick(&|o| o.rise.map(|n| n.to_string()))),
        ];
        for (key, v) in settings {
            if let Some(v) = v {
                health.push(format!("{key} = {v}"));
            }
        }
        if differ {
            warnings.push(at(format!(
                "backend `{}`: servers check at different settings; rampart checks \
                 a backend's servers alike, imported with the first server's",
                p.name
            )));
        }
    }
    if !health.is_empty() {
        let _ = writeln!(out, "health = {{ {} }}", health.join(", "));
    }
    out.push_str("servers = [\n");
    for s in &p.servers {
        let mut fields = vec![
            format!("name = {}", q(&s.name)),
            format!("addr = {}", q(&s.addr)),
        ];
        if let Some(w) = s.weight {
            fields.push(format!("weight = {w}"));
        }
        if s.backup {
            fields.push("backup = true".into());
        }
        if let Some(m) = s.maxconn {
            fields.push(format!("maxconn = {m}"));
        }
        if let Some(v) = s.send_proxy {
            fields.push(format!("send_proxy = {}", q(v)));
        }
        if !s.check && !checked.is_empty() {
            fields.push("check = false".into());
        }
        let _ = writeln!(out, "  {{ {} }},", fields.join(", "));
    }
    out.push_str("]\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Balance, Check, ProxyVersion};

    const SEED: &str = include_str!("../../../examples/seed-haproxy.cfg");

    #[test]
    fn the_seed_guides_haproxy_cfg() {
        let got = import_haproxy("haproxy.cfg", SEED).unwrap();
        let cfg = crate::parse("imported.toml", &got.toml).unwrap();
        assert_eq!(cfg.frontends.len(), 1);
        let f = &cfg.frontends[0];
        assert_eq!(f.name, "www");
        assert_eq!(f.bind, ["147.75.78.116:80".parse().unwrap()]);
        assert_eq!(f.backend, "nginx_pool");
        let b = &cfg.backends[0];
        assert_eq!(b.balance, Balance::RoundRobin);
        assert_eq!(b.timeout.connect.as_millis(), 5000);
        assert_eq!(b.timeout.client.as_secs(), 50);
        assert_eq!(b.timeout.server.as_secs(), 50);
        assert_eq!(b.health.check, Check::Tcp);
        assert_eq!(b.servers.len(), 2);
        assert_eq!(b.servers[1].addr, "192.168.1.11:80".parse().unwrap());
        // The same proxy as the hand-written example.
        let example = crate::parse(
            "seed-lb.toml",
            include_str!("../../../examples/seed-lb.toml"),
        )
        .unwrap();
        assert_eq!(cfg.frontends, example.frontends);
        assert_eq!(cfg.backends[0].servers, example.backends[0].servers);
        assert_eq!(cfg.backends[0].health, example.backends[0].health);
        // Nothing dropped without a word: the process, log, stats, TLS and
        // HTTP-only lines are each named with their line number.
        // Every other line of the file was imported.
        let w = got.warnings.join("\n");
        let lines: Vec<usize> = got
            .warnings
            .iter()
            .filter_map(|w| w.split(':').nth(1)?.parse().ok())
            .collect();
        assert_eq!(
            lines,
            [
                6, 7, 8, 9, 10, 11, 12, 13, 16, 17, 19, 20, 21, 24, 26, 27, 31, 32
            ],
            "{w}"
        );
        assert!(
            w.contains("`log global` not imported: rampart logs one line"),
            "{w}"
        );
        assert!(
            w.contains("`errorfile 400 /etc/haproxy/errors/400.http` not imported: HTTP mode only"),
            "{w}"
        );
    }

    #[test]
    fn listen_sections_and_server_options() {
        let text = "defaults\n  mode tcp\n  timeout connect 2s\n  default-server inter 500 fall 2\n\
                    listen db\n  bind :5432,127.0.0.1:6432\n  balance leastconn\n  retries 1\n  maxconn 300\n\
                    \x20 option httpchk GET /health\n  http-check expect status 204\n\
                    \x20 server a 10.0.0.1:5432 check weight 10 maxconn 50 send-proxy-v2\n\
                    \x20 server b 10.0.0.2:5432 check backup rise 5\n\
                    \x20 server c 10.0.0.3:5432 disabled\n";
        let got = import_haproxy("h.cfg", text).unwrap();
        let cfg = crate::parse("i.toml", &got.toml).unwrap();
        let f = &cfg.frontends[0];
        assert_eq!(
            f.bind,
            [
                "0.0.0.0:5432".parse().unwrap(),
                "127.0.0.1:6432".parse().unwrap()
            ]
        );
        assert_eq!(f.maxconn, 300);
        let b = &cfg.backends[0];
        assert_eq!(b.balance, Balance::LeastConn);
        assert_eq!(b.retries, 1);
        assert_eq!(b.timeout.connect.as_secs(), 2);
        assert_eq!(b.health.interval.as_millis(), 500);
        assert_eq!(b.health.fall, 2);
        assert!(
            matches!(&b.health.check, Check::Http { status: 204, .. }),
            "{:?}",
            b.health.check
        );
        let (a, bb, c) = (&b.servers[0], &b.servers[1], &b.servers[2]);
        assert_eq!(
            (a.weight, a.maxconn, a.send_proxy),
            (10, 50, Some(ProxyVersion::V2))
        );
        assert!(bb.backup);
        assert_eq!(c.weight, 0);
        assert!(!c.check);
        // b rises at 5, a at the default: rampart checks them alike.
        assert!(
            got.warnings
                .iter()
                .any(|w| w.contains("servers check at different settings")),
            "{:?}",
            got.warnings
        );
    }

    #[test]
    fn what_cannot_be_converted_is_an_error_with_its_line() {
        let e = import_haproxy("h.cfg", "defaults\n mode http\nfrontend f\n bind :80\n default_backend b\nbackend b\n server s 10.0.0.1:80\n").unwrap_err();
        assert!(
            e.iter()
                .any(|e| e.starts_with("h.cfg:3: frontend `f` is in `mode http`")),
            "{e:?}"
        );
        let e = import_haproxy(
            "h.cfg",
            "frontend f\n mode tcp\n bind :80\n use_backend b if x\n",
        )
        .unwrap_err();
        assert!(
            e.iter().any(|e| e.starts_with("h.cfg:4: `use_backend`")),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|e| e.contains("frontend `f` has no `default_backend`")),
            "{e:?}"
        );
        let e = import_haproxy("h.cfg", "defaults\n mode tcp\n timeout client 5x\n").unwrap_err();
        assert!(
            e.iter()
                .any(|e| e.starts_with("h.cfg:3: `5x`: unknown time unit")),
            "{e:?}"
        );
        let e = import_haproxy(
            "h.cfg",
            "frontend f\n mode tcp\n bind :80\n default_backend nope\n",
        )
        .unwrap_err();
        assert!(e.iter().any(|e| e.contains("no backend `nope`")), "{e:?}");
    }

    /// Bad input is an error or a warning, never a panic: every prefix of
    /// the seed file, and every line of it with each word cut short.
    #[test]
    fn no_input_panics() {
        for (i, _) in SEED.char_indices() {
            let _ = import_haproxy("h.cfg", &SEED[..i]);
        }
        let lines: Vec<&str> = SEED.lines().collect();
        for (n, line) in lines.iter().enumerate() {
            for cut in 0..line.len() {
                if !line.is_char_boundary(cut) {
                    continue;
                }
                let mut copy = lines.clone();
                copy[n] = &line[..cut];
                let _ = import_haproxy("h.cfg", &copy.join("\n"));
                copy[n] = "server";
                let _ = import_haproxy("h.cfg", &copy.join("\n"));
            }
        }
    }

    #[test]
    fn haproxy_times() {
        assert_eq!(duration("5000").unwrap(), "5s");
        assert_eq!(duration("250ms").unwrap(), "250ms");
        assert_eq!(duration("2m").unwrap(), "120s");
        assert_eq!(duration("1500").unwrap(), "1500ms");
        assert!(duration("s").is_err());
        assert!(duration("99999999999999999d").is_err());
    }
}

//! `rampart import keepalived FILE [--frontend NAME]`: a keepalived.conf's
//! VRRP part as rampart TOML, following the table in docs/config.md ("From
//! keepalived.conf"). A `vrrp_script` that only checks that HAProxy runs
//! (`pgrep haproxy`, `pidof haproxy`, `killall -0 haproxy`) becomes
//! `track_proxy` on the given frontend: rampart does HAProxy's job, so the
//! script would fail forever. Everything not carried over is named in a
//! warning with its line; what cannot be translated faithfully (AH
//! authentication, an unknown instance keyword with a block) is an error.

use std::fmt::Write as _;

use crate::import::{Imported, ms_duration, q, with_frontend};

/// A keepalived statement: its words, and the block that follows it.
#[derive(Debug)]
struct Item {
    line: usize,
    words: Vec<String>,
    block: Option<Vec<Item>>,
}

/// Words with their line; `{` and `}` are words of their own; quotes
/// group; `#` and `!` start comments.
fn tokens(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let mut cur = String::new();
        let mut quoted = false;
        let mut had_quotes = false;
        let flush = |cur: &mut String, had: &mut bool, out: &mut Vec<(usize, String)>| {
            if !cur.is_empty() || *had {
                out.push((i + 1, std::mem::take(cur)));
            }
            *had = false;
        };
        for c in raw.chars() {
            match c {
                '"' => {
                    quoted = !quoted;
                    had_quotes = true;
                }
                _ if quoted => cur.push(c),
                '#' | '!' => break,
                '{' | '}' => {
                    flush(&mut cur, &mut had_quotes, &mut out);
                    out.push((i + 1, c.to_string()));
                }
                c if c.is_whitespace() => flush(&mut cur, &mut had_quotes, &mut out),
                c => cur.push(c),
            }
        }
        flush(&mut cur, &mut had_quotes, &mut out);
    }
    out
}

/// Deepest nesting of blocks read. keepalived.conf nests three deep at
/// most (`vrrp_sync_group { group { ... } }`, `virtual_server { real_server
/// { TCP_CHECK { ... } } }`); a bound keeps a file of braces from
/// exhausting the stack.
const MAX_DEPTH: usize = 16;

/// The items of a block (of the file at `depth` 0), or the line where
/// blocks nest deeper than [`MAX_DEPTH`].
fn parse_block(toks: &[(usize, String)], i: &mut usize, depth: usize) -> Result<Vec<Item>, usize> {
    let mut items: Vec<Item> = Vec::new();
    while *i < toks.len() {
        let line = toks[*i].0;
        if toks[*i].1 == "}" {
            *i += 1;
            return Ok(items);
        }
        let mut words = Vec::new();
        while *i < toks.len() && toks[*i].0 == line && toks[*i].1 != "{" && toks[*i].1 != "}" {
            words.push(toks[*i].1.clone());
            *i += 1;
        }
        let block = if *i < toks.len() && toks[*i].1 == "{" {
            *i += 1;
            if depth >= MAX_DEPTH {
                return Err(toks[*i - 1].0);
            }
            Some(parse_block(toks, i, depth + 1)?)
        } else {
            None
        };
        // `vrrp_instance VI_1` with its `{` on the next line.
        if words.is_empty() {
            if let (Some(b), Some(last)) = (block, items.last_mut())
                && last.block.is_none()
            {
                last.block = Some(b);
            }
            continue;
        }
        items.push(Item { line, words, block });
    }
    Ok(items)
}

/// keepalived times: seconds, possibly fractional.
fn seconds(s: &str) -> Result<String, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !(v.is_finite() && (0.0..1e9).contains(&v)) {
        return Err(format!("`{s}` is not a number of seconds"));
    }
    Ok(ms_duration((v * 1000.0).round() as u64))
}

fn list(v: &[String]) -> String {
    format!(
        "[{}]",
        v.iter().map(|s| q(s)).collect::<Vec<_>>().join(", ")
    )
}

/// Whether a check script only asks "is HAProxy running?".
fn checks_haproxy(argv: &[String]) -> bool {
    let prog = argv
        .first()
        .map(|p| p.rsplit('/').next().unwrap_or(p))
        .unwrap_or("");
    matches!(prog, "pgrep" | "pidof" | "killall") && argv.iter().any(|a| a == "haproxy")
}

/// An absolute program: rampart runs scripts without a shell or PATH.
fn absolute(argv: &mut [String], warn: &mut dyn FnMut(String)) {
    let Some(prog) = argv.first_mut() else { return };
    if prog.starts_with('/') {
        return;
    }
    for dir in [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ] {
        let path = format!("{dir}/{prog}");
        if std::path::Path::new(&path).is_file() {
            warn(format!(
                "`{prog}` resolved to {path} (rampart runs programs without PATH)"
            ));
            *prog = path;
            return;
        }
    }
}

struct Script {
    name: String,
    weight: i32,
    proxy: bool,
}

/// Converts `text`; `frontend` is the frontend a HAProxy check script
/// stands for (required if the file has one that is tracked).
pub fn import_keepalived(
    origin: &str,
    text: &str,
    frontend: Option<&str>,
) -> Result<Imported, Vec<String>> {
    let toks = tokens(text);
    let mut i = 0;
    let items = match parse_block(&toks, &mut i, 0) {
        Ok(items) => items,
        Err(line) => {
            return Err(vec![format!(
                "{origin}:{line}: blocks nested more than {MAX_DEPTH} deep"
            )]);
        }
    };
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut head = String::new();
    let mut garp_global: Vec<String> = Vec::new();
    let mut scripts: Vec<Script> = Vec::new();
    let mut body = String::new();
    // Instances with notify hooks (name, line), and sync group members
    // (instance, group).
    let mut with_hooks: Vec<(String, usize)> = Vec::new();
    let mut grouped: Vec<(String, String)> = Vec::new();

    for item in &items {
        let at = |line: usize, m: String| format!("{origin}:{line}: {m}");
        let w = &item.words;
        let name = w.get(1).cloned().unwrap_or_default();
        let block = item.block.as_deref().unwrap_or(&[]);
        match w[0].as_str() {
            "global_defs" => {
                for s in block {
                    match (s.words[0].as_str(), s.words.get(1)) {
                        ("vrrp_version", Some(v)) => {
                            let _ = writeln!(head, "version = {v}");
                        }
                        ("vrrp_v3_checksum_as_v2", _) => {
                            head.push_str("checksum = \"message-only\"\n");
                        }
                        (k, Some(v)) if k.starts_with("vrrp_garp_") => {
                            match garp_key(&k["vrrp_garp_".len()..], v) {
                                Ok(Some(kv)) => garp_global.push(kv),
                                Ok(None) => {
                                    warnings.push(at(s.line, format!("`{k}` not imported")))
                                }
                                Err(e) => errors.push(at(s.line, e)),
                            }
                        }
                        ("script_user", Some(user)) => warnings.push(at(
                            s.line,
                            format!(
                                "global_defs `script_user {user}` not imported: keepalived runs \
                                 scripts and notify hooks as `{user}`; rampart runs them as its \
                                 own user (root)"
                            ),
                        )),
                        (k, _) => warnings.push(at(
                            s.line,
                            format!("global_defs `{k}` not imported: rampart has no counterpart"),
                        )),
                    }
                }
            }
            "vrrp_script" => {
                let mut argv = Vec::new();
                let mut out = format!("\n[[vrrp.script]]\nname = {}\n", q(&name));
                let mut weight = 0;
                for s in block {
                    let v = s.words.get(1).map(String::as_str).unwrap_or("");
                    let r: Result<(), String> = match s.words[0].as_str() {
                        "script" => {
                            argv = s.words[1..]
                                .iter()
                                .flat_map(|p| p.split_whitespace().map(str::to_string))
                                .collect();
                            Ok(())
                        }
                        k @ ("interval" | "timeout") => seconds(v).map(|d| {
                            let _ = writeln!(out, "{k} = {}", q(&d));
                        }),
                        k @ ("fall" | "rise") => v
                            .parse::<u32>()
                            .map(|n| {
                                let _ = writeln!(out, "{k} = {n}");
                            })
                            .map_err(|_| format!("`{k} {v}`: not a count")),
                        "weight" => v
                            .parse::<i32>()
                            .map(|n| weight = n)
                            .map_err(|_| format!("`weight {v}`: not a weight")),
                        k => {
                            warnings.push(at(s.line, format!("vrrp_script `{k}` not imported")));
                            Ok(())
                        }
                    };
                    if let Err(e) = r {
                        errors.push(at(s.line, e));
                    }
                }
                let proxy = checks_haproxy(&argv);
                if proxy {
                    warnings.push(at(
                        item.line,
                        format!(
                            "vrrp_script `{name}` checks that HAProxy runs: rampart does \
                             HAProxy's job, so instances tracking it get `track_proxy` instead"
                        ),
                    ));
                } else {
                    absolute(&mut argv, &mut |m| warnings.push(at(item.line, m)));
                    if weight != 0 {
                        let _ = writeln!(out, "weight = {weight}");
                    }
                    let _ = writeln!(out, "command = {}", list(&argv));
                    body.push_str(&out);
                }
                scripts.push(Script {
                    name,
                    weight,
                    proxy,
                });
            }
            "vrrp_instance" => {
                let hooked = item
                    .block
                    .iter()
                    .flatten()
                    .any(|s| NOTIFY.contains(&s.words[0].as_str()));
                if hooked {
                    with_hooks.push((name.clone(), item.line));
                }
                match instance(&name, item, &scripts, frontend, &mut warnings, &at) {
                    Ok(s) => body.push_str(&s),
                    Err(e) => errors.extend(e),
                }
            }
            "vrrp_sync_group" => {
                let mut members = Vec::new();
                let mut notify = Vec::new();
                for s in block {
                    match s.words[0].as_str() {
                        "group" => members.extend(
                            s.block
                                .iter()
                                .flatten()
                                .flat_map(|m| m.words.iter().cloned()),
                        ),
                        n if NOTIFY.contains(&n) => {
                            notify.extend(hook(s, &mut warnings, &|l, m| at(l, m)))
                        }
                        k => warnings.push(at(
                            s.line,
                            format!(
                                "vrrp_sync_group `{k}` not imported: rampart has no counterpart"
                            ),
                        )),
                    }
                }
                let _ = write!(
                    body,
                    "\n[[vrrp.sync_group]]\nname = {}\nmembers = {}\n",
                    q(&name),
                    list(&members)
                );
                grouped.extend(members.iter().map(|m| (m.clone(), name.clone())));
                if let Some(n) = notify_table(&notify) {
                    let _ = writeln!(body, "notify = {n}");
                }
            }
            k => warnings.push(at(
                item.line,
                format!("`{k}` not imported: rampart takes only the VRRP part of keepalived.conf"),
            )),
        }
    }
    // keepalived (vrrp_notify.c) skips an instance's own hooks when its
    // sync group is already in the state the instance moves to.
    for (instance, line) in &with_hooks {
        if let Some((_, group)) = grouped.iter().find(|(m, _)| m == instance) {
            warnings.push(format!(
                "{origin}:{line}: vrrp_instance `{instance}` is in sync group `{group}`: \
                 keepalived skips the instance's own notify hooks when the group has already \
                 moved to that state; rampart runs them at every change of the instance"
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    // In the file's order.
    warnings.sort_by_key(|w| {
        w.get(origin.len() + 1..)
            .and_then(|rest| rest.split(':').next())
            .and_then(|n| n.parse::<usize>().ok())
    });
    let mut toml =
        format!("# Imported from {origin} by `rampart import keepalived`.\n\n[vrrp]\n{head}");
    if !garp_global.is_empty() {
        let _ = writeln!(toml, "garp = {{ {} }}", garp_global.join(", "));
    }
    toml.push_str(&body);
    // Checked together with a frontend of the given name for track_proxy.
    let whole = with_frontend(&toml, frontend);
    if let Err(e) = crate::parse(&format!("{origin} (imported)"), &whole) {
        return Err(vec![format!(
            "the imported config is not valid rampart config:\n{}",
            e.render()
        )]);
    }
    Ok(Imported { toml, warnings })
}

/// `vrrp_garp_master_repeat 5` and friends → `repeat = 5`.
fn garp_key(k: &str, v: &str) -> Result<Option<String>, String> {
    Ok(Some(match k.trim_start_matches("master_") {
        "repeat" => format!(
            "repeat = {}",
            v.parse::<u32>()
                .map_err(|_| format!("`{v}`: not a count"))?
        ),
        "delay" => format!("delay = {}", q(&seconds(v)?)),
        "refresh" => format!("refresh = {}", q(&seconds(v)?)),
        "interval" => format!("interval = {}", q(&seconds(v)?)),
        _ => return Ok(None),
    }))
}

fn instance(
    name: &str,
    item: &Item,
    scripts: &[Script],
    frontend: Option<&str>,
    warnings: &mut Vec<String>,
    at: &dyn Fn(usize, String) -> String,
) -> Result<String, Vec<String>> {
    let mut errors = Vec::new();
    let mut out = format!("\n[[vrrp.instance]]\nname = {}\n", q(name));
    let mut garp = Vec::new();
    let mut notify = Vec::new();
    let mut tracks: Vec<String> = Vec::new();
    let mut proxy: Option<i32> = None;
    for s in item.block.as_deref().unwrap_or(&[]) {
        let k = s.words[0].as_str();
        let v = s.words.get(1).map(String::as_str).unwrap_or("");
        let sub = s.block.as_deref().unwrap_or(&[]);
        let mut plain = |key: &str, val: String| {
            let _ = writeln!(out, "{key} = {val}");
        };
        let r: Result<(), String> = (|| {
            match k {
                "state" => plain("state", q(&v.to_ascii_lowercase())),
                "interface" => plain("interface", q(v)),
                "virtual_router_id" => plain("vrid", v.to_string()),
                "priority" => plain("priority", v.to_string()),
                "advert_int" => plain("advert_interval", q(&seconds(v)?)),
                "version" => plain("version", v.to_string()),
                "nopreempt" => plain("preempt", "false".into()),
                "preempt_delay" => plain("preempt_delay", q(&seconds(v)?)),
                "unicast_src_ip" => plain("unicast_src", q(v)),
                "unicast_ttl" => plain("unicast_ttl", v.to_string()),
                "unicast_peer" => {
                    let mut peers = Vec::new();
                    for p in sub {
                        peers.push(p.words[0].clone());
                        if let Some(pos) = p.words.iter().position(|w| w == "min_ttl") {
                            let t = p.words.get(pos + 1).cloned().unwrap_or_default();
                            plain("unicast_min_ttl", t);
                        }
                    }
                    plain("unicast_peers", list(&peers));
                }
                "authentication" => {
                    let get = |key: &str| {
                        sub.iter()
                            .find(|a| a.words[0] == key)
                            .and_then(|a| a.words.get(1).cloned())
                    };
                    match get("auth_type").as_deref() {
                        Some("PASS") => plain(
                            "auth",
                            format!(
                                "{{ type = \"pass\", password = {} }}",
                                q(&get("auth_pass").unwrap_or_default())
                            ),
                        ),
                        other => {
                            return Err(format!(
                                "`auth_type {}`: rampart authenticates with PASS only",
                                other.unwrap_or("")
                            ));
                        }
                    }
                }
                "virtual_ipaddress" => {
                    let mut vips = Vec::new();
                    for a in sub {
                        let mut fields = vec![format!("addr = {}", q(&a.words[0]))];
                        let mut it = a.words[1..].iter();
                        while let Some(opt) = it.next() {
                            match (opt.as_str(), it.next()) {
                                ("dev", Some(d)) => fields.push(format!("dev = {}", q(d))),
                                ("label", Some(l)) => fields.push(format!("label = {}", q(l))),
                                (o, _) => warnings.push(at(
                                    a.line,
                                    format!("virtual_ipaddress option `{o}` not imported"),
                                )),
                            }
                        }
                        vips.push(if fields.len() == 1 {
                            q(&a.words[0])
                        } else {
                            format!("{{ {} }}", fields.join(", "))
                        });
                    }
                    plain("virtual_addresses", format!("[{}]", vips.join(", ")));
                }
                "track_interface" => {
                    let t: Vec<String> = sub.iter().map(|t| weighted(&t.words)).collect();
                    plain("track_interfaces", format!("[{}]", t.join(", ")));
                }
                "track_script" => {
                    for t in sub {
                        let script = scripts.iter().find(|s| s.name == t.words[0]);
                        let weight = t
                            .words
                            .iter()
                            .position(|w| w == "weight")
                            .and_then(|p| t.words.get(p + 1))
                            .and_then(|w| w.parse::<i32>().ok());
                        match script {
                            Some(s) if s.proxy => proxy = Some(weight.unwrap_or(s.weight)),
                            _ => tracks.push(weighted(&t.words)),
                        }
                    }
                }
                n if NOTIFY.contains(&n) => notify.extend(hook(s, warnings, at)),
                g if g.starts_with("garp_master_") || g == "garp_interval" => {
                    match garp_key(g.trim_start_matches("garp_"), v)? {
                        Some(kv) => garp.push(kv),
                        None => warnings.push(at(s.line, format!("`{g}` not imported"))),
                    }
                }
                other => warnings.push(at(
                    s.line,
                    format!("vrrp_instance `{other}` not imported: rampart has no counterpart"),
                )),
            }
            Ok(())
        })();
        if let Err(e) = r {
            errors.push(at(s.line, e));
        }
    }
    if !tracks.is_empty() {
        let _ = writeln!(out, "track_scripts = [{}]", tracks.join(", "));
    }
    if let Some(weight) = proxy {
        match frontend {
            Some(f) => {
                let _ = writeln!(
                    out,
                    "track_proxy = {{ frontend = {}, weight = {weight} }}",
                    q(f)
                );
            }
            None => errors.push(at(
                item.line,
                format!(
                    "vrrp_instance `{name}` tracks a script that checks HAProxy: give \
                     --frontend NAME (the rampart frontend whose health it should follow)"
                ),
            )),
        }
    }
    if let Some(n) = notify_table(&notify) {
        let _ = writeln!(out, "notify = {n}");
    }
    if !garp.is_empty() {
        let _ = writeln!(out, "garp = {{ {} }}", garp.join(", "));
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// keepalived's notify keywords, in instances and sync groups.
const NOTIFY: [&str; 5] = [
    "notify_master",
    "notify_backup",
    "notify_fault",
    "notify_stop",
    "notify",
];

/// `notify_master "/path/hook arg" [user [group]]` → `("master", argv)`.
/// keepalived runs the quoted (or single) word as the command; words after
/// it name the user and group to run it as, which rampart cannot follow
/// (hooks run as the supervisor, root).
fn hook(
    s: &Item,
    warnings: &mut Vec<String>,
    at: &dyn Fn(usize, String) -> String,
) -> Option<(&'static str, Vec<String>)> {
    let key = match s.words[0].as_str() {
        "notify_master" => "master",
        "notify_backup" => "backup",
        "notify_fault" => "fault",
        "notify_stop" => "stop",
        _ => "any",
    };
    let Some(command) = s.words.get(1) else {
        warnings.push(at(
            s.line,
            format!("`{}` without a script not imported", s.words[0]),
        ));
        return None;
    };
    let mut argv: Vec<String> = command.split_whitespace().map(str::to_string).collect();
    if argv.is_empty() {
        warnings.push(at(
            s.line,
            format!("`{}` without a script not imported", s.words[0]),
        ));
        return None;
    }
    if let Some(user) = s.words.get(2) {
        let group = s
            .words
            .get(3)
            .map(|g| format!(" and group `{g}`"))
            .unwrap_or_default();
        warnings.push(at(
            s.line,
            format!(
                "`{}`: keepalived runs it as user `{user}`{group}; rampart runs hooks as \
                 its own user (root): make the script drop privileges itself if it must",
                s.words[0]
            ),
        ));
    }
    absolute(&mut argv, &mut |m| warnings.push(at(s.line, m)));
    Some((key, argv))
}

/// The `notify = { ... }` table of imported hooks: called as keepalived
/// calls them (`style = "keepalived"`).
fn notify_table(hooks: &[(&str, Vec<String>)]) -> Option<String> {
    if hooks.is_empty() {
        return None;
    }
    let mut fields: Vec<String> = hooks
        .iter()
        .map(|(k, v)| format!("{k} = {}", list(v)))
        .collect();
    fields.push("style = \"keepalived\"".into());
    Some(format!("{{ {} }}", fields.join(", ")))
}

/// `eth1 weight -10` → `{ name = "eth1", weight = -10 }`; a bare name stays bare.
fn weighted(words: &[String]) -> String {
    match words {
        [n, w, v, ..] if w == "weight" => format!("{{ name = {}, weight = {v} }}", q(n)),
        [n, ..] => q(n),
        [] => q(""),
    }
}

#[cfg(test)]
mod tests;

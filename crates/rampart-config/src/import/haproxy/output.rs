//! The TOML of what is imported: proxies left out (`mode http`, stats
//! pages, `disabled`) with a warning each, frontends with the clients they
//! serve, backends with their checks; then rampart's own parser on it.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::check::{self, ServerCheck};
use super::{Kind, Notes, Proxy, acl, ipset};
use crate::import::{Imported, q};

/// The TOML of the proxies that are imported; their notes join `notes`.
pub(super) fn assemble(
    origin: &str,
    threads: Option<u32>,
    proxies: Vec<Proxy>,
    notes: &mut Notes,
) -> String {
    let mut out = format!("# Imported from {origin} by `rampart import haproxy`.\n");
    if let Some(n) = threads {
        let _ = write!(out, "\n[global]\nthreads = {n}\n");
    }
    // Which proxies are left out, and why.
    let skipped = |p: &Proxy| -> Option<(String, &'static str)> {
        if p.disabled {
            return Some(("it is `disabled`".into(), ""));
        }
        if p.stats {
            return Some((
                "it is an HAProxy stats page".into(),
                " (`rampart status` and the [admin] dashboard replace it)",
            ));
        }
        match p.common.mode.as_deref() {
            Some("tcp") | None => None,
            Some(m) => Some((
                format!("it is in `mode {m}`"),
                " (rampart forwards TCP only): what it serves is not served by the \
                 imported config",
            )),
        }
    };
    let mut kept = Vec::new();
    let mut left_out: HashMap<String, String> = HashMap::new();
    let mut all_left_out = Vec::new();
    for mut p in proxies {
        match skipped(&p) {
            Some((why, more)) => {
                let what = format!("{} `{}`", p.kind.name(), p.name);
                notes.warn(p.line, format!("{what} not imported: {why}{more}"));
                all_left_out.push(format!("{what} (line {}: {why})", p.line));
                if p.kind != Kind::Frontend {
                    left_out.insert(
                        p.name.clone(),
                        format!("{what}, which is not imported: {why}"),
                    );
                }
            }
            None => {
                let inherited = std::mem::take(&mut p.inherited);
                p.common.access.inherit(&inherited);
                kept.push(p);
            }
        }
    }
    if kept.is_empty() && !all_left_out.is_empty() {
        notes.error(
            0,
            format!(
                "nothing to import: every proxy is left out: {}",
                all_left_out.join(", ")
            ),
        );
    }
    // Who each imported backend serves, for the frontends that use it.
    let mut served: HashMap<String, ipset::IpSet> = HashMap::new();
    for p in kept.iter_mut().filter(|p| p.kind == Kind::Backend) {
        if p.common.access.has_rules() {
            let s = p.common.access.admitted(&mut p.notes);
            served.insert(p.name.clone(), s);
        }
    }
    let backends: Vec<String> = kept
        .iter()
        .filter(|p| p.kind != Kind::Frontend)
        .map(|p| p.name.clone())
        .collect();
    for p in &mut kept {
        if p.common.mode.is_none() {
            let m = format!(
                "{} `{}` has no `mode`: HAProxy would use http; imported as tcp",
                p.kind.name(),
                p.name
            );
            p.notes.warn(p.line, m);
        }
        if p.kind != Kind::Backend {
            out.push_str(&frontend_toml(p, &backends, &left_out, &served));
        }
        if p.kind != Kind::Frontend {
            out.push_str(&backend_toml(p));
        }
        notes.append(std::mem::take(&mut p.notes));
    }
    out
}

/// A frontend (or the front of a listen section).
fn frontend_toml(
    p: &mut Proxy,
    backends: &[String],
    left_out: &HashMap<String, String>,
    served: &HashMap<String, ipset::IpSet>,
) -> String {
    let backend = match (&p.kind, &p.backend) {
        (Kind::Listen, _) => p.name.clone(),
        (_, Some(b)) => b.clone(),
        (_, None) => {
            let m = format!("frontend `{}` has no `default_backend`", p.name);
            p.notes.error(p.line, m);
            return String::new();
        }
    };
    if !backends.contains(&backend) {
        let m = match left_out.get(&backend) {
            Some(why) => format!("frontend `{}` forwards to {why}", p.name),
            None => format!("frontend `{}`: no backend `{backend}`", p.name),
        };
        p.notes.error(p.line, m);
        return String::new();
    }
    let mut admitted = if p.common.access.has_rules() {
        p.common.access.admitted(&mut p.notes)
    } else {
        ipset::IpSet::all()
    };
    if p.kind == Kind::Frontend
        && let Some(s) = served.get(&backend)
    {
        admitted = admitted.intersect(s);
    }
    let mut out = format!(
        "\n[[frontend]]\nname = {}\nbind = [{}]\nbackend = {}\n",
        q(&p.name),
        p.binds
            .iter()
            .map(|b| q(&b.to_string()))
            .collect::<Vec<_>>()
            .join(", "),
        q(&backend)
    );
    if let Some(m) = p.common.maxconn {
        let _ = writeln!(out, "maxconn = {m}");
    }
    let (allow, deny) = acl::allow_deny(&admitted);
    for (key, nets) in [("allow", allow), ("deny", deny)] {
        if !nets.is_empty() {
            let list: Vec<String> = nets.iter().map(|n| q(&n.to_string())).collect();
            let _ = writeln!(out, "{key} = [{}]", list.join(", "));
        }
    }
    out
}

fn backend_toml(p: &mut Proxy) -> String {
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
    let servers: Vec<ServerCheck> = p
        .servers
        .iter()
        .map(|s| ServerCheck {
            line: s.line,
            name: &s.name,
            opts: &s.opts,
        })
        .collect();
    let (health, own) = match check::health(&c.check, &servers, &mut p.notes) {
        Ok(h) => (h.backend, h.servers),
        Err(errors) => {
            for (line, e) in errors {
                p.notes.error(line, e);
            }
            return String::new();
        }
    };
    if let Some(h) = health {
        let _ = writeln!(out, "health = {{ {h} }}");
    }
    let any_checked = p.servers.iter().any(|s| s.opts.check == Some(true));
    out.push_str("servers = [\n");
    for (s, own) in p.servers.iter().zip(own) {
        let o = &s.opts;
        let mut fields = vec![
            format!("name = {}", q(&s.name)),
            format!("addr = {}", q(&s.addr.to_string())),
        ];
        // `disabled`: in HAProxy a server in maintenance; here drained.
        match (o.disabled, o.weight) {
            (Some(true), _) => fields.push("weight = 0".into()),
            (_, Some(w)) => fields.push(format!("weight = {w}")),
            _ => {}
        }
        if o.backup == Some(true) {
            fields.push("backup = true".into());
        }
        if let Some(m) = o.maxconn {
            fields.push(format!("maxconn = {m}"));
        }
        if let Some(Some(v)) = o.send_proxy {
            fields.push(format!("send_proxy = {}", q(v)));
        }
        if o.check != Some(true) && any_checked {
            fields.push("check = false".into());
        }
        fields.extend(own);
        let _ = writeln!(out, "  {{ {} }},", fields.join(", "));
    }
    out.push_str("]\n");
    out
}

/// Errors if any, else the TOML once rampart's own parser accepts it.
pub(super) fn finish(origin: &str, toml: String, notes: Notes) -> Result<Imported, Vec<String>> {
    let at = |(line, m): (usize, String)| match line {
        0 => format!("{origin}: {m}"),
        l => format!("{origin}:{l}: {m}"),
    };
    let mut errors = notes.errors;
    errors.sort_by_key(|(l, _)| *l);
    if !errors.is_empty() {
        return Err(errors.into_iter().map(at).collect());
    }
    if let Err(e) = crate::parse(&format!("{origin} (imported)"), &toml) {
        return Err(vec![format!(
            "the imported config is not valid rampart config:\n{}",
            e.render()
        )]);
    }
    let mut warnings = notes.warnings;
    warnings.sort_by_key(|(l, _)| *l);
    // A `defaults` section's line may be reported by each proxy using it.
    let mut seen = std::collections::HashSet::new();
    warnings.retain(|w| seen.insert(w.clone()));
    Ok(Imported {
        toml,
        warnings: warnings.into_iter().map(at).collect(),
    })
}

//! `rampart import bird FILE [--frontend NAME]`: a bird.conf (BIRD 1.6 or
//! 2) as rampart's `[bgp]` section, following the table in docs/config.md
//! ("From bird.conf").
//!
//! `router id` and each `protocol bgp` (with its `template`) become
//! `[bgp]` and `[[bgp.neighbor]]`s; what each neighbor's export filter
//! accepts becomes `[[bgp.announce]]`s (see [`announce`] for how a filter
//! is run, and what happens to `export all`). `protocol direct`,
//! `kernel`, `device`, `static` and the rest are named with the reason
//! they are not carried; a static route that an export filter accepts is
//! announced, as BIRD did. Everything not carried over is named in a
//! warning with its line and column; what cannot be translated
//! faithfully (a session setting rampart lacks, an unreadable filter an
//! export uses, a value that is not an address) is an error, and the
//! import is refused.
//!
//! - `lex`: tokens with line and column
//! - `parse`: top-level statements and protocol options
//! - `filter`: the filter language; `eval`: running it on routes
//! - `bgp`: a `protocol bgp`'s options; `announce`: exports to announcements
//! - `output`: the TOML

mod announce;
mod bgp;
mod eval;
mod filter;
mod lex;
mod output;
mod parse;

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};

use announce::{Exports, Feed, Source, Static};
use bgp::Session;
use eval::{Program, Val};
use lex::{Pos, Tok, Token};
use parse::{Conf, Item, Proto};

use crate::import::{Imported, with_frontend};
use crate::model::Family;

/// Errors and warnings with their place; each said once.
struct Report {
    origin: String,
    errors: Vec<(Pos, String)>,
    warnings: Vec<(Pos, String)>,
}

impl Report {
    fn error(&mut self, pos: Pos, m: impl Into<String>) {
        let e = (pos, m.into());
        if !self.errors.contains(&e) {
            self.errors.push(e);
        }
    }

    fn warn(&mut self, pos: Pos, m: impl Into<String>) {
        let w = (pos, m.into());
        if !self.warnings.contains(&w) {
            self.warnings.push(w);
        }
    }

    /// In file order: `origin:line:column: message`.
    fn render(&self, list: &[(Pos, String)]) -> Vec<String> {
        let mut l = list.to_vec();
        l.sort_by_key(|(pos, _)| *pos);
        l.into_iter()
            .map(|(pos, m)| format!("{}:{pos}: {m}", self.origin))
            .collect()
    }
}

/// Converts `text` (the contents of `origin`); `frontend` makes every
/// announcement follow that frontend's health.
pub fn import_bird(
    origin: &str,
    text: &str,
    frontend: Option<&str>,
) -> Result<Imported, Vec<String>> {
    let mut r = Report {
        origin: origin.to_string(),
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let toks = match lex::lex(text) {
        Ok(t) => without_includes(t, &mut r),
        Err((pos, m)) => return Err(vec![format!("{origin}:{pos}: {m}")]),
    };
    let conf = match parse::conf(&toks) {
        Ok(c) => c,
        Err(problems) => {
            problems.into_iter().for_each(|(p, m)| r.error(p, m));
            return Err(r.render(&r.errors));
        }
    };
    let toml = convert(&conf, frontend, &mut r);
    if !r.errors.is_empty() {
        return Err(r.render(&r.errors));
    }
    // Checked together with a frontend of the given name for the policy.
    let whole = with_frontend(&toml.text, frontend);
    if let Err(e) = crate::parse(&format!("{origin} (imported)"), &whole) {
        // Each problem where it was written in bird.conf.
        let mut unplaced = false;
        for d in e.diagnostics() {
            let mut line = whole.lines().nth(d.line.saturating_sub(1)).unwrap_or("");
            if line.starts_with("password") {
                line = "password = \"...\"";
            }
            match toml.place(d.line).filter(|p| p.line > 0) {
                Some(pos) => r.error(
                    pos,
                    format!("{} (imported as `{}`)", d.message, line.trim()),
                ),
                None => unplaced = true,
            }
        }
        let mut out = r.render(&r.errors);
        if unplaced {
            out.push(format!(
                "the imported config is not valid rampart config:\n{}",
                e.render()
            ));
        }
        return Err(out);
    }
    Ok(Imported {
        toml: toml.text,
        warnings: r.render(&r.warnings),
    })
}

/// BIRD reads `include "FILE";` wherever it stands. The importer reads one
/// file: each include is an error naming it, and is taken out so that the
/// rest can still be checked.
fn without_includes(toks: Vec<Token>, r: &mut Report) -> Vec<Token> {
    let mut out = Vec::with_capacity(toks.len());
    let mut i = 0;
    while i < toks.len() {
        if toks[i].is_word("include")
            && let Some(Tok::Str(file)) = toks.get(i + 1).map(|t| &t.tok)
        {
            r.error(
                toks[i].pos,
                format!(
                    "`include \"{file}\"` is not followed: the importer reads one file; put the \
                     included text in its place and import that"
                ),
            );
            i += 2;
            if toks.get(i).is_some_and(|t| t.is(";")) {
                i += 1;
            }
            continue;
        }
        out.push(toks[i].clone());
        i += 1;
    }
    out
}

/// The neighbors' names, BIRD's way: an unnamed `protocol bgp` is `bgp1`,
/// the next `bgp2`, skipping names taken.
fn names(protocols: &[Proto]) -> Vec<String> {
    let taken: BTreeSet<&str> = protocols.iter().filter_map(|p| p.name.as_deref()).collect();
    let mut counters: HashMap<&str, u32> = HashMap::new();
    protocols
        .iter()
        .map(|p| {
            if let Some(n) = &p.name {
                return n.clone();
            }
            let base = p.kind.split(' ').next().unwrap_or("");
            let n = counters.entry(base).or_insert(0);
            loop {
                *n += 1;
                let name = format!("{base}{n}");
                if !taken.contains(name.as_str()) {
                    return name;
                }
            }
        })
        .collect()
}

fn convert(conf: &Conf, frontend: Option<&str>, r: &mut Report) -> output::Toml {
    let prog = Program {
        defines: conf
            .defines
            .iter()
            .map(|d| (d.name.clone(), filter::expression(&d.value)))
            .collect(),
        functions: conf
            .functions
            .iter()
            .map(|f| {
                let body = match f.locals {
                    Some(at) => Err((
                        at,
                        format!(
                            "function `{}` has parameters or local variables; the importer \
                             follows functions without",
                            f.name
                        ),
                    )),
                    None => filter::statements(&f.body),
                };
                (f.name.clone(), body)
            })
            .collect(),
        literals: RefCell::default(),
    };
    for g in &conf.globals {
        global(g, r);
    }
    let router_id = router_id(conf, &prog, r);
    let names = names(&conf.protocols);

    let mut sessions: Vec<(String, Session, Pos)> = Vec::new();
    let mut statics: Vec<Static> = Vec::new();
    let mut sources: Vec<Source> = Vec::new();
    let mut static_protos: Vec<(String, Pos)> = Vec::new();
    for (p, name) in conf.protocols.iter().zip(&names) {
        if p.template {
            continue;
        }
        let kind = p.kind.split(' ').next().unwrap_or("");
        match kind {
            "bgp" => {
                let mut s = Session::default();
                let Some(items) = chain(p, conf, r) else {
                    continue;
                };
                s.read(&items, &prog, r);
                if let Some(at) = s.disabled {
                    r.warn(
                        at,
                        format!("protocol bgp `{name}` is disabled: not imported"),
                    );
                    continue;
                }
                if s.imports.unwrap_or(s.channels.is_empty())
                    || s.channels.iter().any(|c| c.imports == Some(true))
                {
                    sources.push(Source {
                        proto: name.clone(),
                        rts: Some("RTS_BGP"),
                        what: "routes learned from that neighbor".into(),
                    });
                }
                sessions.push((name.clone(), s, p.pos));
            }
            "static" => {
                static_protos.push((name.clone(), p.pos));
                statics.extend(static_routes(p, name, &prog, r));
            }
            _ => {
                let what = other_protocol(p, name, r);
                if let Some((rts, what)) = what {
                    sources.push(Source {
                        proto: name.clone(),
                        rts,
                        what,
                    });
                }
            }
        }
    }

    let filters = &conf.filters;
    let exports = Exports {
        prog: &prog,
        filters,
        statics: &statics,
        sources: &sources,
    };
    let feeds: Vec<Feed> = sessions
        .iter()
        .flat_map(|(name, s, at)| feeds(name, s, *at))
        .collect();
    let (announces, per) = exports.run(&feeds, r);
    for (name, pos) in &static_protos {
        let sent: Vec<String> = announces
            .iter()
            .filter(|a| a.from_static.as_ref().is_some_and(|(p, _)| p == name))
            .map(|a| a.prefix.to_string())
            .collect();
        let fate = if sent.is_empty() {
            "no export filter accepts its routes, so BIRD announced none of them".to_string()
        } else {
            format!(
                "the routes an export filter accepts are announced as BIRD did ({})",
                sent.join(", ")
            )
        };
        r.warn(
            *pos,
            format!(
                "protocol static `{name}` not carried: rampart puts no routes in a table; {fate}"
            ),
        );
    }
    // Where a named prefix's route could have come from, for messages.
    let suppliers: Vec<String> = sources
        .iter()
        .filter(|s| s.rts != Some("RTS_BGP"))
        .map(|s| format!("{} ({})", s.proto, s.what))
        .collect();
    let origin = r.origin.clone();
    let out = output::Output {
        origin: &origin,
        router_id,
        sessions: &sessions,
        announces: &announces,
        per: &per,
        frontend,
        suppliers: &suppliers,
    };
    output::write(&out, r)
}

/// A protocol's items after those of the template (or protocol) it is
/// `from`, recursively; `None` (and an error) when that is not defined.
fn chain<'a>(p: &'a Proto, conf: &'a Conf, r: &mut Report) -> Option<Vec<&'a Item>> {
    let mut parts = vec![&p.items];
    let mut seen: Vec<usize> = Vec::new();
    let mut cur = p;
    while let Some((from, pos)) = &cur.from {
        let found = conf
            .protocols
            .iter()
            .position(|t| t.name.as_deref() == Some(from) && t.kind == cur.kind);
        match found {
            Some(k) if seen.contains(&k) || std::ptr::eq(&conf.protocols[k], p) => {
                r.error(*pos, format!("`from {from}` goes round in a circle"));
                return None;
            }
            Some(k) => {
                seen.push(k);
                cur = &conf.protocols[k];
                parts.push(&cur.items);
            }
            None => {
                r.error(
                    *pos,
                    format!("no template `{from}` of protocol {} is defined", cur.kind),
                );
                return None;
            }
        }
    }
    Some(parts.into_iter().rev().flatten().collect())
}

/// The channels of a session and what each exports. BIRD 1.6 has no
/// channels: the session's own family, with the protocol's `export`.
fn feeds<'a>(name: &'a str, s: &'a Session, at: Pos) -> Vec<Feed<'a>> {
    if s.channels.is_empty() {
        let family = s.neighbor.map_or(Family::Ipv4, |(a, _)| Family::of(a));
        return vec![Feed {
            neighbor: name,
            family,
            export: s.export.as_ref(),
            at,
        }];
    }
    s.channels
        .iter()
        .map(|c| Feed {
            neighbor: name,
            family: c.family,
            export: c.export.as_ref().or(s.export.as_ref()),
            at,
        })
        .collect()
}

fn router_id(conf: &Conf, prog: &Program, r: &mut Report) -> Option<(Ipv4Addr, Pos)> {
    let Some(item) = &conf.router_id else {
        r.error(
            Pos { line: 1, col: 1 },
            "no `router id`: BIRD takes the lowest address of an interface when it starts; \
             rampart needs it written (`router id 10.0.0.1;`, usually the node's own address)",
        );
        return None;
    };
    let w = &item.words;
    let value = match w.get(2) {
        Some(t) if t.is_word("from") => Err((
            t.pos,
            "`router id from ...` is decided by BIRD at run time; write the address".to_string(),
        )),
        Some(t) if matches!(t.tok, Tok::Addr(_)) => parse::ipv4(t),
        Some(t) => match filter::expression(std::slice::from_ref(t))
            .and_then(|e| prog.eval(&e, &unknown(), 0))
        {
            Ok(Val::Ip(IpAddr::V4(a))) => Ok(a),
            Ok(_) => Err((t.pos, format!("`{}` is not an IPv4 address", t.tok))),
            Err(e) => Err(e),
        },
        None => Err((item.pos, "`router id` needs an address".to_string())),
    };
    let at = w.get(2).map_or(item.pos, |t| t.pos);
    value.map(|a| (a, at)).map_err(|(p, m)| r.error(p, m)).ok()
}

fn unknown() -> eval::Route {
    eval::Route {
        net: eval::Net::Other,
        proto: None,
        source: None,
    }
}

/// Global options other than router id, define, filter, function,
/// protocol and template.
fn global(item: &Item, r: &mut Report) {
    let why = match item.first() {
        "log" | "debug" | "mrtdump" | "timeformat" | "watchdog" => {
            "rampart logs to stderr (or the journal); `--log-level` sets how much"
        }
        "table" | "ipv4" | "ipv6" | "roa" | "roa4" | "roa6" | "vpn4" | "vpn6" | "flow4"
        | "flow6" | "mpls" => "rampart keeps no routing tables",
        "attribute" => "rampart keeps no routes to put attributes on",
        "listen" => "rampart listens for each neighbor on the neighbor's `port`",
        "graceful" => "rampart has no graceful restart; `rampart upgrade` keeps sessions up",
        "hostname" | "eval" | "cli" => "rampart has no counterpart",
        _ => "rampart has no counterpart",
    };
    r.warn(item.pos, format!("`{}` not carried: {why}", item.text()));
}

/// `route PREFIX ...;` items of a `protocol static`.
fn static_routes(p: &Proto, name: &str, prog: &Program, r: &mut Report) -> Vec<Static> {
    let mut out = Vec::new();
    for item in &p.items {
        let w = &item.words;
        match item.first() {
            "route" => {
                let prefix = match (w.get(1), w.get(2), w.get(3)) {
                    (Some(a), Some(slash), Some(len)) if slash.is("/") => parse::prefix(a, len),
                    (Some(t), ..) => match filter::expression(std::slice::from_ref(t))
                        .and_then(|e| prog.eval(&e, &unknown(), 0))
                    {
                        Ok(Val::Net(n)) => Ok(n),
                        Ok(_) => Err((t.pos, format!("`{}` is not a prefix", t.tok))),
                        Err(e) => Err(e),
                    },
                    _ => Err((item.pos, "`route` needs a prefix".to_string())),
                };
                match prefix {
                    Ok(prefix) => {
                        if item.block.is_some() {
                            r.warn(
                                item.pos,
                                format!(
                                    "the attributes set for static route {prefix} are not \
                                     carried; set them on its [[bgp.announce]]"
                                ),
                            );
                        }
                        out.push(Static {
                            prefix,
                            proto: name.to_string(),
                            pos: item.pos,
                        });
                    }
                    Err((pos, m)) => r.error(pos, m),
                }
            }
            "ipv4" | "ipv6" => {
                let filtered = item.block.as_ref().is_some_and(|b| {
                    b.windows(2)
                        .any(|w| w[0].is_word("import") && !w[1].is_word("all"))
                });
                if filtered {
                    r.warn(
                        item.pos,
                        format!(
                            "the import filter of protocol static `{name}` is not followed: its \
                             routes are taken as all in the table"
                        ),
                    );
                }
            }
            _ => {}
        }
    }
    out
}

/// A protocol other than bgp and static: why it is not carried, and what
/// it puts in the table if anything (`source`, description).
fn other_protocol(p: &Proto, name: &str, r: &mut Report) -> Option<(Option<&'static str>, String)> {
    let kind = p.kind.as_str();
    let (why, source) = match kind {
        "direct" => {
            let ifaces: Vec<String> = p
                .items
                .iter()
                .filter(|i| i.first() == "interface")
                .flat_map(|i| i.words[1..].iter().map(|t| t.tok.to_string()))
                .filter(|s| s != ",")
                .collect();
            let of = if ifaces.is_empty() {
                "every interface".to_string()
            } else {
                ifaces.join(", ")
            };
            (
                format!(
                    "rampart announces the prefixes listed in [[bgp.announce]], not the \
                     addresses of interfaces (BIRD put those of {of} in its table)"
                ),
                Some((Some("RTS_DEVICE"), format!("the addresses of {of}"))),
            )
        }
        "kernel" => {
            // Options may stand in the protocol or in its BIRD 2 channel.
            let mut all: Vec<Item> = p.items.clone();
            for b in p.items.iter().filter_map(|i| i.block.as_ref()) {
                all.extend(parse::items(b).unwrap_or_default());
            }
            let none = |i: &Item| i.words.get(1).is_some_and(|t| t.is_word("none"));
            let exports = all.iter().any(|i| i.first() == "export" && !none(i));
            let learns = all.iter().any(|i| i.first() == "learn");
            let mut why =
                "rampart learns no routes from the kernel and writes none to it".to_string();
            if exports {
                why.push_str(" (BIRD's `export` here wrote its routes into the kernel table)");
            }
            (
                why,
                learns.then(|| {
                    (
                        Some("RTS_INHERIT"),
                        "routes learned from the kernel".to_string(),
                    )
                }),
            )
        }
        "device" => (
            "rampart watches interfaces itself (netlink) and needs no scan".to_string(),
            None,
        ),
        "bfd" => (
            "rampart runs BFD per neighbor (`bfd = true`, 100 ms × 3 unless `bfd_interval` and \
             `bfd_multiplier` say otherwise)"
                .to_string(),
            None,
        ),
        _ => (
            "rampart speaks BGP only and keeps no routing table".to_string(),
            Some((None, "routes it learns".to_string())),
        ),
    };
    r.warn(
        p.pos,
        format!("protocol {kind} `{name}` not carried: {why}"),
    );
    source
}

//! What each neighbor's export sends, as `[[bgp.announce]]`s.
//!
//! For every channel of every neighbor, its export filter runs (see
//! [`super::eval`]) on three kinds of routes:
//!
//! - each prefix the filter names exactly: announced if the filter
//!   accepts it. BIRD sent it while some protocol (direct, kernel, ...)
//!   put a route for it in the table; rampart announces it by `policy`.
//! - each `protocol static` route: announced if accepted, as BIRD did (a
//!   static route is always in the table). Static routes are the usual
//!   way to originate a prefix in BIRD, so this is what `export all` and
//!   `export where source = RTS_STATIC` carry over.
//! - "some other route" from each protocol that fills the table with
//!   routes the file does not list (direct, learning kernel, BGP with
//!   imports, OSPF, ...): if the filter may accept one, a warning says so,
//!   since rampart announces listed prefixes only.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;

use super::Report;
use super::bgp::{Export, ExportKind};
use super::eval::{Acts, Net, Path, Program, Route};
use super::filter::{Expr, Stmt, expression, statements};
use super::lex::Pos;
use super::parse::{Problem, Routine};
use crate::model::Family;

/// A channel of a neighbor: what it exports.
pub(super) struct Feed<'a> {
    pub(super) neighbor: &'a str,
    pub(super) family: Family,
    pub(super) export: Option<&'a Export>,
    /// The protocol, for messages about it.
    pub(super) at: Pos,
}

pub(super) struct Static {
    pub(super) prefix: IpNet,
    pub(super) proto: String,
    pub(super) pos: Pos,
}

/// A protocol that puts routes the file does not list in the table.
pub(super) struct Source {
    pub(super) proto: String,
    pub(super) rts: Option<&'static str>,
    /// For messages: "the addresses of \"bond0\"".
    pub(super) what: String,
}

#[derive(Debug)]
pub(super) struct Announce {
    pub(super) prefix: IpNet,
    /// The neighbors whose export accepts it, in file order.
    pub(super) neighbors: Vec<String>,
    pub(super) acts: Acts,
    /// The static route it comes from, if it does.
    pub(super) from_static: Option<(String, Pos)>,
    /// The exports that send it (for comments and messages), and where
    /// the first is.
    pub(super) via: Vec<String>,
    pub(super) pos: Pos,
}

/// Per neighbor: what its filters set that rampart keeps per neighbor.
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct PerNeighbor {
    pub(super) prepend: Vec<u32>,
    pub(super) local_pref: Option<u32>,
    pub(super) next_hop: Vec<IpAddr>,
}

/// A prefix a channel's export accepts: the way that accepted it, and
/// the static route it comes from.
type Taken = (IpNet, Path, Option<(String, Pos)>);

pub(super) struct Exports<'a> {
    pub(super) prog: &'a Program,
    pub(super) filters: &'a [Routine],
    pub(super) statics: &'a [Static],
    pub(super) sources: &'a [Source],
}

impl Exports<'_> {
    /// The announcements and each neighbor's attributes from its filters.
    pub(super) fn run(
        &self,
        feeds: &[Feed],
        r: &mut Report,
    ) -> (Vec<Announce>, BTreeMap<String, PerNeighbor>) {
        let mut out: BTreeMap<IpNet, Announce> = BTreeMap::new();
        let mut per: BTreeMap<String, (PerNeighbor, Pos)> = BTreeMap::new();
        for feed in feeds {
            let Some(export) = feed.export else { continue };
            let stmts = match self.statements(export) {
                Ok(s) => s,
                Err((pos, m)) => {
                    r.error(pos, m);
                    continue;
                }
            };
            let accepted = match self.feed(feed, export, &stmts, r) {
                Ok(a) => a,
                Err((pos, m)) => {
                    r.error(pos, m);
                    continue;
                }
            };
            for (prefix, path, from_static) in accepted {
                for (pos, m, error) in &path.acts.dropped {
                    if *error {
                        r.error(*pos, format!("{m} (exported to {})", feed.neighbor));
                    } else {
                        r.warn(*pos, m.clone());
                    }
                }
                let mine = PerNeighbor {
                    prepend: path.acts.prepend.clone(),
                    local_pref: path.acts.local_pref,
                    next_hop: path.acts.next_hop.into_iter().collect(),
                };
                match per.get(feed.neighbor) {
                    Some((first, _)) if *first != mine => r.error(
                        export.pos,
                        format!(
                            "{} gets {prefix} with another AS path prepend, local preference \
                             or next hop than its other routes; rampart sets these per neighbor",
                            feed.neighbor
                        ),
                    ),
                    Some(_) => {}
                    None => {
                        per.insert(feed.neighbor.to_string(), (mine, export.pos));
                    }
                }
                let via = format!("{} ({})", feed.neighbor, export.text);
                let a = out.entry(prefix).or_insert_with(|| Announce {
                    prefix,
                    neighbors: Vec::new(),
                    acts: path.acts.clone(),
                    from_static: from_static.clone(),
                    via: Vec::new(),
                    pos: export.pos,
                });
                let same = a.acts.communities == path.acts.communities
                    && a.acts.large == path.acts.large
                    && a.acts.med == path.acts.med;
                if !same {
                    r.error(
                        export.pos,
                        format!(
                            "{prefix} goes to {} with other communities or MED than to {}; \
                             rampart sends a prefix with one set of them",
                            feed.neighbor,
                            a.neighbors.join(", ")
                        ),
                    );
                }
                if !a.neighbors.iter().any(|n| n == feed.neighbor) {
                    a.neighbors.push(feed.neighbor.to_string());
                }
                if !a.via.contains(&via) {
                    a.via.push(via);
                }
            }
        }
        let per = per.into_iter().map(|(k, (v, _))| (k, v)).collect();
        (out.into_values().collect(), per)
    }

    /// An export as filter statements: `all` accepts, `none` rejects,
    /// `where C` is `if C then accept; reject;`.
    fn statements(&self, export: &Export) -> Result<Vec<Stmt>, Problem> {
        Ok(match &export.kind {
            ExportKind::All => vec![Stmt::Accept(export.pos)],
            ExportKind::None => vec![Stmt::Reject(export.pos)],
            ExportKind::Inline(toks) => statements(toks)?,
            ExportKind::Where(toks) => {
                let cond: Expr = expression(toks)?;
                vec![
                    Stmt::If(cond, vec![Stmt::Accept(export.pos)], Vec::new()),
                    Stmt::Reject(export.pos),
                ]
            }
            ExportKind::Filter(name) => {
                let Some(f) = self.filters.iter().find(|f| &f.name == name) else {
                    return Err((export.pos, format!("no filter `{name}` is defined")));
                };
                if let Some(at) = f.locals {
                    return Err((
                        at,
                        format!(
                            "filter `{name}` has local variables; the importer does not follow \
                             variables: write the filter without them"
                        ),
                    ));
                }
                statements(&f.body)?
            }
        })
    }

    /// The prefixes one channel's export accepts, each with the way that
    /// accepted it and the static route it comes from.
    fn feed(
        &self,
        feed: &Feed,
        export: &Export,
        stmts: &[Stmt],
        r: &mut Report,
    ) -> Result<Vec<Taken>, Problem> {
        let fam = |n: &IpNet| Family::of(n.addr()) == feed.family;
        // A run on an unknown route collects the prefixes the filter names.
        self.prog.literals.borrow_mut().clear();
        let anything = Route {
            net: Net::Other,
            proto: None,
            source: None,
        };
        self.prog.run(stmts, &anything)?;
        let named: Vec<IpNet> = std::mem::take(&mut *self.prog.literals.borrow_mut())
            .into_iter()
            .filter(fam)
            .collect();

        let mut out = Vec::new();
        let mut statics_taken = Vec::new();
        for s in self.statics.iter().filter(|s| fam(&s.prefix)) {
            let route = Route {
                net: Net::Known(s.prefix),
                proto: Some(s.proto.clone()),
                source: Some("RTS_STATIC"),
            };
            if let Some(p) = self.accepting(stmts, &route, feed, r)? {
                statics_taken.push(s.prefix.to_string());
                out.push((s.prefix, p, Some((s.proto.clone(), s.pos))));
            }
        }
        for n in named {
            if out.iter().any(|(p, ..)| *p == n) {
                continue;
            }
            let route = Route {
                net: Net::Known(n),
                proto: None,
                source: None,
            };
            if let Some(p) = self.accepting(stmts, &route, feed, r)? {
                out.push((n, p, None));
            }
        }

        // Routes the file does not list.
        let mut lost = Vec::new();
        for src in self.sources.iter().filter(|s| s.proto != feed.neighbor) {
            let route = Route {
                net: Net::Other,
                proto: Some(src.proto.clone()),
                source: src.rts,
            };
            let paths = self.prog.run(stmts, &route)?;
            self.prog.literals.borrow_mut().clear();
            if paths.iter().any(Path::accepts) {
                lost.push(format!("{} ({})", src.proto, src.what));
            }
        }
        let all = matches!(export.kind, ExportKind::All);
        if all || !lost.is_empty() {
            let statics = match statics_taken.as_slice() {
                [] if all => "this file has no `protocol static` route it would send".to_string(),
                [] => String::new(),
                s => format!(
                    "the static routes it accepts ({}) are imported",
                    s.join(", ")
                ),
            };
            let lost = match lost.as_slice() {
                [] => String::new(),
                l => format!(
                    "routes from {} are not known from this file and are not imported: add a \
                     [[bgp.announce]] for each one to announce",
                    l.join(", ")
                ),
            };
            let what = if all {
                "sends every route in BIRD's table".to_string()
            } else {
                "may accept routes other than the prefixes it names".to_string()
            };
            let parts: Vec<String> = [statics, lost]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect();
            r.warn(
                export.pos,
                format!(
                    "`{}` on {} {what}; rampart announces only listed prefixes: {}",
                    export.text,
                    feed.neighbor,
                    parts.join("; ")
                ),
            );
        }
        Ok(out)
    }

    /// The first way through that accepts the route, with a warning when
    /// the acceptance rests on something the file does not say.
    fn accepting(
        &self,
        stmts: &[Stmt],
        route: &Route,
        feed: &Feed,
        r: &mut Report,
    ) -> Result<Option<Path>, Problem> {
        let paths = self.prog.run(stmts, route)?;
        self.prog.literals.borrow_mut().clear();
        let Some(first) = paths.iter().find(|p| p.accepts()) else {
            return Ok(None);
        };
        if paths.iter().any(|p| !p.accepts()) {
            let Net::Known(n) = &route.net else {
                return Ok(Some(first.clone()));
            };
            let conditions: Vec<String> = first
                .assumed
                .iter()
                .map(|(pos, yes)| format!("the condition at {pos} {}", holds(*yes)))
                .collect();
            let pos = first.assumed.first().map_or(feed.at, |a| a.0);
            r.warn(
                pos,
                format!(
                    "{n} is exported to {} only if {}, which depends on the route BIRD had; \
                     imported as announced",
                    feed.neighbor,
                    conditions.join(" and ")
                ),
            );
        }
        Ok(Some(first.clone()))
    }
}

fn holds(yes: bool) -> &'static str {
    if yes { "holds" } else { "does not hold" }
}

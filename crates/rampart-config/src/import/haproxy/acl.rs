//! Who a proxy serves: `acl NAME src ...` and the `tcp-request
//! connection|session|content accept|reject [if|unless COND]` rules that
//! use them, as rampart's frontend `allow` and `deny`.
//!
//! The rules are evaluated as HAProxy does (each stage is a first-match
//! list, no match continues; a connection is served if no stage rejects
//! it) over sets of source addresses, so any combination of rules over
//! `src` is carried exactly ([`IpSet`]). A rule whose verdict depends on
//! anything else (a destination, a port, a rate, the payload) cannot be
//! expressed by a source list: the import is refused, since dropping it
//! would serve clients HAProxy turns away.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;

use super::Notes;
use super::ipset::IpSet;

/// What an ACL tests, as far as access goes.
#[derive(Debug, Clone)]
enum Acl {
    /// `src` patterns (with `-f` files read in). `problem`: why the
    /// patterns could not all be read, reported if a rule uses it.
    Src {
        set: IpSet,
        files: Vec<String>,
        problem: Option<String>,
    },
    /// Any other criterion, named for the error.
    Other(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Connection,
    Session,
    Content,
}

/// One `tcp-request` accept or reject rule.
#[derive(Debug, Clone)]
struct Rule {
    line: usize,
    stage: Stage,
    accept: bool,
    cond: Option<Cond>,
}

/// `if`/`unless` and an OR of ANDs of terms.
#[derive(Debug, Clone)]
struct Cond {
    unless: bool,
    any: Vec<Vec<Term>>,
}

#[derive(Debug, Clone)]
struct Term {
    not: bool,
    acl: AclRef,
}

#[derive(Debug, Clone)]
enum AclRef {
    Named(String),
    /// `{ src 10.0.0.0/8 }`.
    Anonymous(Acl),
}

/// A proxy's ACLs and access rules (`defaults` pass theirs on).
#[derive(Debug, Clone, Default)]
pub(super) struct Access {
    /// By name, with the line of the first definition; lines that repeat a
    /// name add patterns (HAProxy ORs them).
    acls: BTreeMap<String, (usize, Acl)>,
    rules: Vec<Rule>,
}

impl Access {
    /// `acl NAME CRITERION [flags] PATTERNS...`. Relative `-f` files are
    /// read from `dir` (the haproxy.cfg's directory).
    pub(super) fn acl(&mut self, line: usize, words: &[String], dir: &Path) -> Result<(), String> {
        let [_, name, criterion, args @ ..] = words else {
            return Err("`acl` needs a name and a criterion".into());
        };
        let acl = parse_acl(criterion, args, dir);
        match self.acls.get_mut(name.as_str()) {
            None => {
                self.acls.insert(name.clone(), (line, acl));
            }
            Some((_, old)) => *old = or(old, &acl),
        }
        Ok(())
    }

    /// A `tcp-request` line. Ok(true): carried; Ok(false): not imported
    /// (no bearing on who is served).
    pub(super) fn tcp_request(
        &mut self,
        line: usize,
        words: &[String],
        dir: &Path,
        notes: &mut Notes,
    ) -> Result<bool, String> {
        let stage = match words.get(1).map(String::as_str) {
            Some("connection") => Stage::Connection,
            Some("session") => Stage::Session,
            Some("content") => Stage::Content,
            // Only delays content rules, which are only carried when
            // they test the source (known at once).
            Some("inspect-delay") => return Ok(false),
            other => {
                return Err(format!(
                    "`tcp-request {}`: unknown rule set",
                    other.unwrap_or_default()
                ));
            }
        };
        let rest = &words[2..];
        let split = rest
            .iter()
            .position(|w| w == "if" || w == "unless")
            .unwrap_or(rest.len());
        let (action, cond) = rest.split_at(split);
        let Some(verb) = action.first() else {
            return Err("`tcp-request` needs an action".into());
        };
        let accept = match verb.as_str() {
            "accept" => true,
            "reject" => false,
            "silent-drop" => {
                notes.warn(
                    line,
                    "`silent-drop` imported as a reject: rampart closes the connection \
                     instead of leaving the client to time out"
                        .into(),
                );
                false
            }
            v if NO_VERDICT.iter().any(|p| v.starts_with(p)) => return Ok(false),
            v => {
                return Err(format!(
                    "`tcp-request {} {v}` has no rampart counterpart, and it may change \
                     who is served or how: remove it or convert the frontend by hand",
                    words[1]
                ));
            }
        };
        let cond = match cond.split_first() {
            None => None,
            Some((kw, terms)) => Some(parse_cond(kw == "unless", terms, dir)?),
        };
        self.rules.push(Rule {
            line,
            stage,
            accept,
            cond,
        });
        Ok(true)
    }

    /// The rules of `other` (a `defaults` section's) come first.
    pub(super) fn inherit(&mut self, defaults: &Access) {
        let mut rules = defaults.rules.clone();
        rules.append(&mut self.rules);
        self.rules = rules;
        for (name, acl) in &defaults.acls {
            self.acls.entry(name.clone()).or_insert_with(|| acl.clone());
        }
    }

    /// Whether there is any rule to carry.
    pub(super) fn has_rules(&self) -> bool {
        !self.rules.is_empty()
    }

    /// The clients served. Errors (with their lines) for rules that test
    /// more than the source, and for ACLs whose patterns could not be read;
    /// warnings for `-f` files carried and ACLs no carried rule uses.
    pub(super) fn admitted(&self, notes: &mut Notes) -> IpSet {
        let mut used = BTreeSet::new();
        let mut served = IpSet::all();
        for stage in [Stage::Connection, Stage::Session, Stage::Content] {
            // First match decides; no match goes on to the next stage.
            let mut undecided = IpSet::all();
            let mut accepted = IpSet::none();
            for r in self.rules.iter().filter(|r| r.stage == stage) {
                let matched = match &r.cond {
                    None => IpSet::all(),
                    Some(c) => match self.cond_set(c, &mut used) {
                        Ok(s) => s,
                        Err(e) => {
                            notes.error(r.line, e);
                            continue;
                        }
                    },
                };
                if r.accept {
                    accepted = accepted.union(&undecided.intersect(&matched));
                }
                undecided = undecided.minus(&matched);
            }
            served = served.intersect(&accepted.union(&undecided));
        }
        for (name, (line, acl)) in &self.acls {
            if !used.contains(name) {
                notes.warn(
                    *line,
                    format!("acl `{name}` not imported: no carried rule uses it"),
                );
            } else if let Acl::Src { files, .. } = acl {
                for f in files {
                    notes.warn(
                        *line,
                        format!(
                            "acl `{name}`: the addresses in {f} are carried as they are now; \
                             rampart does not read the file (edit allow/deny instead)"
                        ),
                    );
                }
            }
        }
        served
    }

    fn cond_set(&self, c: &Cond, used: &mut BTreeSet<String>) -> Result<IpSet, String> {
        let mut any = IpSet::none();
        for all in &c.any {
            let mut both = IpSet::all();
            for t in all {
                let set = match &t.acl {
                    AclRef::Anonymous(acl) => source(acl, "an anonymous ACL")?,
                    AclRef::Named(name) => match (self.acls.get(name), predefined(name)) {
                        (Some((_, acl)), _) => {
                            used.insert(name.clone());
                            source(acl, &format!("acl `{name}`"))?
                        }
                        (None, Some(set)) => set,
                        (None, None) => return Err(format!("acl `{name}` is not defined")),
                    },
                };
                let set = if t.not { set.complement() } else { set };
                both = both.intersect(&set);
            }
            any = any.union(&both);
        }
        Ok(if c.unless { any.complement() } else { any })
    }
}

/// Actions that give no verdict: evaluation goes on past them, so they
/// change nothing of who is served.
const NO_VERDICT: &[&str] = &[
    "track-sc",
    "sc-inc-gpc",
    "sc-add-gpc",
    "sc-set-gpt",
    "set-var",
    "unset-var",
    "capture",
    "set-mark",
    "set-tos",
    "set-fc-mark",
    "set-fc-tos",
    "set-log-level",
    "set-nice",
    "set-priority-class",
    "set-priority-offset",
    "set-bandwidth-limit",
];

/// The addresses an ACL matches, or why a rule using it cannot be carried.
fn source(acl: &Acl, what: &str) -> Result<IpSet, String> {
    match acl {
        Acl::Src {
            problem: Some(p), ..
        } => Err(format!("{what}: {p}")),
        Acl::Src { set, .. } => Ok(set.clone()),
        Acl::Other(criterion) => Err(format!(
            "{what} tests `{criterion}`, not only the client's address: rampart's \
             allow/deny lists cannot express the rule, and dropping it would serve \
             clients HAProxy rejects"
        )),
    }
}

/// HAProxy's predefined ACLs that are about the source (or nothing).
fn predefined(name: &str) -> Option<IpSet> {
    let net = |s: &str| s.parse::<IpNet>().ok().map(IpSet::net);
    match name {
        "TRUE" => Some(IpSet::all()),
        "FALSE" => Some(IpSet::none()),
        "LOCALHOST" => Some(net("127.0.0.0/8")?.union(&net("::1/128")?)),
        _ => None,
    }
}

fn or(a: &Acl, b: &Acl) -> Acl {
    match (a, b) {
        (
            Acl::Src {
                set: s1,
                files: f1,
                problem: p1,
            },
            Acl::Src {
                set: s2,
                files: f2,
                problem: p2,
            },
        ) => Acl::Src {
            set: s1.union(s2),
            files: f1.iter().chain(f2).cloned().collect(),
            problem: p1.clone().or_else(|| p2.clone()),
        },
        (Acl::Other(c), _) | (_, Acl::Other(c)) => Acl::Other(c.clone()),
    }
}

/// `if !office`, `unless { src 10.0.0.0/8 } || LOCALHOST`.
fn parse_cond(unless: bool, words: &[String], dir: &Path) -> Result<Cond, String> {
    let mut any = vec![Vec::new()];
    let mut not = false;
    let mut i = 0;
    while let Some(w) = words.get(i) {
        i += 1;
        match w.as_str() {
            "||" | "or" => {
                any.push(Vec::new());
                continue;
            }
            "!" => {
                not = !not;
                continue;
            }
            "{" => {
                let end = words[i..]
                    .iter()
                    .position(|w| w == "}")
                    .ok_or("an anonymous ACL `{ ... }` is not closed")?;
                let inner = &words[i..i + end];
                i += end + 1;
                let [criterion, args @ ..] = inner else {
                    return Err("an empty anonymous ACL `{ }`".into());
                };
                push(
                    &mut any,
                    not,
                    AclRef::Anonymous(parse_acl(criterion, args, dir)),
                );
            }
            w => {
                let (neg, name) = match w.strip_prefix('!') {
                    Some(n) => (true, n),
                    None => (false, w),
                };
                push(&mut any, not ^ neg, AclRef::Named(name.to_string()));
            }
        }
        not = false;
    }
    if any.iter().any(Vec::is_empty) {
        return Err("a condition with an empty term (`if`, `||` with nothing after)".into());
    }
    Ok(Cond { unless, any })
}

fn push(any: &mut [Vec<Term>], not: bool, acl: AclRef) {
    if let Some(all) = any.last_mut() {
        all.push(Term { not, acl });
    }
}

/// An ACL's criterion and arguments.
fn parse_acl(criterion: &str, args: &[String], dir: &Path) -> Acl {
    match criterion {
        "src" => {}
        "always_true" => return src(IpSet::all()),
        "always_false" => return src(IpSet::none()),
        other => return Acl::Other(other.to_string()),
    }
    let mut set = IpSet::none();
    let mut files = Vec::new();
    let mut problem = None;
    let mut it = args.iter();
    let mut flags = true;
    while let Some(a) = it.next() {
        let pattern = match a.as_str() {
            "--" if flags => {
                flags = false;
                continue;
            }
            // -n: no DNS; -i: no case (addresses have none); -u: an id.
            "-n" | "-i" if flags => continue,
            "-u" if flags => {
                it.next();
                continue;
            }
            "-m" if flags => match it.next().map(String::as_str) {
                Some("ip") => continue,
                m => return Acl::Other(format!("src -m {}", m.unwrap_or_default())),
            },
            "-f" if flags => {
                let Some(file) = it.next() else {
                    problem = Some("`-f` needs a file".to_string());
                    continue;
                };
                files.push(file.clone());
                match read_patterns(&dir.join(file)) {
                    Ok(s) => set = set.union(&s),
                    Err(e) => problem = problem.or(Some(e)),
                }
                continue;
            }
            f if flags && f.starts_with('-') => return Acl::Other(format!("src {f}")),
            p => p,
        };
        match pattern_net(pattern) {
            Ok(n) => set = set.union(&IpSet::net(n)),
            Err(e) => problem = problem.or(Some(e)),
        }
    }
    Acl::Src {
        set,
        files,
        problem,
    }
}

fn src(set: IpSet) -> Acl {
    Acl::Src {
        set,
        files: Vec::new(),
        problem: None,
    }
}

/// A pattern file: one address or network a line, `#` comments.
fn read_patterns(path: &Path) -> Result<IpSet, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the pattern file {}: {e}", path.display()))?;
    let mut set = IpSet::none();
    for (n, line) in text.lines().enumerate() {
        let p = line.split('#').next().unwrap_or("").trim();
        if p.is_empty() {
            continue;
        }
        let net = pattern_net(p).map_err(|e| format!("{}:{}: {e}", path.display(), n + 1))?;
        set = set.union(&IpSet::net(net));
    }
    Ok(set)
}

/// `10.0.0.0/8`, `10.0.0.0/255.0.0.0`, `192.0.2.7`, `2001:db8::/32`.
fn pattern_net(p: &str) -> Result<IpNet, String> {
    if let Ok(n) = p.parse::<IpNet>() {
        return Ok(n);
    }
    if let Ok(ip) = p.parse::<IpAddr>() {
        return Ok(IpNet::from(ip));
    }
    if let Some((ip, mask)) = p.split_once('/')
        && let (Ok(IpAddr::V4(ip)), Ok(IpAddr::V4(mask))) = (ip.parse(), mask.parse())
    {
        let bits = u32::from(mask);
        // A mask is ones then zeros.
        if bits.leading_ones() + bits.trailing_zeros() == 32 {
            let len = u8::try_from(bits.leading_ones()).unwrap_or(32);
            if let Ok(n) = IpNet::new(IpAddr::V4(ip), len) {
                return Ok(n);
            }
        }
    }
    Err(format!(
        "`{p}` is not an address or network (host names, which HAProxy resolves at \
         start, are not imported: write the addresses)"
    ))
}

/// The shortest `allow`/`deny` pair that serves exactly `served`: the
/// served networks, or the others denied, whichever is the shorter list.
pub(super) fn allow_deny(served: &IpSet) -> (Vec<IpNet>, Vec<IpNet>) {
    if served.is_all() {
        return (Vec::new(), Vec::new());
    }
    let allow = served.nets();
    let deny = served.complement().nets();
    // An empty `allow` means everyone, so serving no one takes `deny`.
    if served.is_empty() || deny.len() < allow.len() {
        (Vec::new(), deny)
    } else {
        (allow, Vec::new())
    }
}

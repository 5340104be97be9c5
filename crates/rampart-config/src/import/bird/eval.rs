//! Runs an export filter on the routes it may see, to find what BIRD
//! would announce. The importer knows some routes exactly — the prefixes
//! a filter names (`net = P`, exact members of `net ~ [ ... ]`) and the
//! `protocol static` routes — and others only by where they come from (a
//! `protocol direct` puts the interfaces' prefixes in the table, which
//! the file does not say). A value that depends on what is not known
//! (`net.len` of such a route, `bgp_path`, `defined(...)`) is unknown,
//! and an `if` on an unknown condition runs both ways; each way ends in
//! accept or reject with the conditions it assumed and the attributes it
//! set. A filter that falls off its end rejects, as BIRD does.
//!
//! "Other route" ([`Net::Other`]) means a prefix that is none of those
//! the filter compares `net` with: `net = P` is false for it, and so is
//! `net ~ [ P1, P2 ]` with exact members, while `net ~ [ 10.0.0.0/8+ ]`
//! is unknown. The prefixes compared are collected while running, so
//! every exact prefix a filter can accept becomes a candidate.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use ipnet::IpNet;

use super::filter::{Expr, Op, SetItem, Stmt};
use super::lex::Pos;
use super::parse::Problem;

/// More ways through one filter than this is a filter written as a
/// program; the importer refuses it rather than guess.
const MAX_PATHS: usize = 4096;

/// BIRD forbids recursion; this only bounds nesting.
const MAX_DEPTH: usize = 16;

pub(super) struct Program {
    pub(super) defines: HashMap<String, Result<Expr, Problem>>,
    pub(super) functions: HashMap<String, Result<Vec<Stmt>, Problem>>,
    /// Every prefix compared with `net`, from every run.
    pub(super) literals: RefCell<BTreeSet<IpNet>>,
}

#[derive(Debug, Clone)]
pub(super) enum Net {
    Known(IpNet),
    Other,
}

/// The route a filter runs on.
#[derive(Debug, Clone)]
pub(super) struct Route {
    pub(super) net: Net,
    /// `proto`: the protocol's name; `None` when not known.
    pub(super) proto: Option<String>,
    /// `source`: `RTS_STATIC`, `RTS_DEVICE`, ...
    pub(super) source: Option<&'static str>,
}

/// What a way through the filter set on the route.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Acts {
    pub(super) communities: Vec<(u32, u32)>,
    pub(super) large: Vec<(u32, u32, u32)>,
    pub(super) med: Option<u32>,
    pub(super) local_pref: Option<u32>,
    /// The AS numbers put in front of the path, in order.
    pub(super) prepend: Vec<u32>,
    pub(super) next_hop: Option<IpAddr>,
    /// Changes not carried over: (where, what, whether it is an error).
    pub(super) dropped: Vec<(Pos, String, bool)>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum End {
    Accept,
    Reject,
    Return(Val),
}

#[derive(Debug, Clone)]
pub(super) struct Path {
    pub(super) end: Option<End>,
    /// Unknown conditions this way took, and which way.
    pub(super) assumed: Vec<(Pos, bool)>,
    pub(super) acts: Acts,
}

impl Path {
    pub(super) fn start() -> Path {
        Path {
            end: None,
            assumed: Vec::new(),
            acts: Acts::default(),
        }
    }

    pub(super) fn accepts(&self) -> bool {
        matches!(self.end, Some(End::Accept))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Val {
    Bool(bool),
    Int(u64),
    Str(String),
    Ip(IpAddr),
    Net(IpNet),
    /// `net` of a route other than the ones named.
    OtherNet,
    Set(Vec<Elem>),
    Tuple(Vec<u64>),
    Enum(String),
    Unknown,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Elem {
    Pattern(IpNet, u8, u8),
    Value(Val),
    /// A range or a value not known: matches or not, who knows.
    Unknown,
}

impl Program {
    /// Every way through `stmts` for `route`.
    pub(super) fn run(&self, stmts: &[Stmt], route: &Route) -> Result<Vec<Path>, Problem> {
        self.block(stmts, route, vec![Path::start()], 0)
    }

    fn block(
        &self,
        stmts: &[Stmt],
        route: &Route,
        mut paths: Vec<Path>,
        depth: usize,
    ) -> Result<Vec<Path>, Problem> {
        for stmt in stmts {
            let mut next = Vec::with_capacity(paths.len());
            for p in paths {
                if p.end.is_some() {
                    next.push(p);
                } else {
                    next.extend(self.step(stmt, route, p, depth)?);
                }
                if next.len() > MAX_PATHS {
                    return Err((
                        stmt_pos(stmt),
                        format!(
                            "the filter has more than {MAX_PATHS} ways through it; the importer \
                             does not follow a filter this large"
                        ),
                    ));
                }
            }
            // Ways that ended alike are one: a filter whose unknown
            // conditions do not change the outcome stays one way through.
            let mut unique: Vec<Path> = Vec::with_capacity(next.len());
            for p in next {
                if !unique.iter().any(|u| u.end == p.end && u.acts == p.acts) {
                    unique.push(p);
                }
            }
            paths = unique;
        }
        Ok(paths)
    }

    fn step(
        &self,
        stmt: &Stmt,
        route: &Route,
        mut p: Path,
        depth: usize,
    ) -> Result<Vec<Path>, Problem> {
        match stmt {
            Stmt::Accept(_) => p.end = Some(End::Accept),
            Stmt::Reject(_) => p.end = Some(End::Reject),
            Stmt::Print(pos) => p.acts.dropped.push((
                *pos,
                "`print` not carried: BIRD logged here; `rampart show routes` says why each \
                 prefix is or is not announced"
                    .into(),
                false,
            )),
            Stmt::Return(e, _) => {
                let v = match e {
                    Some(e) => self.eval(e, route, depth)?,
                    None => Val::Unknown,
                };
                p.end = Some(End::Return(v));
            }
            Stmt::If(cond, yes, no) => {
                return match self.eval(cond, route, depth)? {
                    Val::Bool(true) => self.block(yes, route, vec![p], depth),
                    Val::Bool(false) => self.block(no, route, vec![p], depth),
                    _ => {
                        let at = expr_pos(cond);
                        let mut a = p.clone();
                        a.assumed.push((at, true));
                        p.assumed.push((at, false));
                        let mut out = self.block(yes, route, vec![a], depth)?;
                        out.extend(self.block(no, route, vec![p], depth)?);
                        Ok(out)
                    }
                };
            }
            Stmt::Call(name, args, pos) => {
                let body = self.function(name, args, *pos, depth)?;
                let mut out = self.block(body, route, vec![p], depth + 1)?;
                // A function's `return` ends the function, not the filter.
                for q in &mut out {
                    if matches!(q.end, Some(End::Return(_))) {
                        q.end = None;
                    }
                }
                return Ok(out);
            }
            Stmt::Assign(attr, e, pos) => {
                let v = self.eval(e, route, depth)?;
                self.assign(attr, e, v, *pos, &mut p.acts);
            }
            Stmt::Method(attr, method, args, pos) => {
                let vals = args
                    .iter()
                    .map(|a| self.eval(a, route, depth))
                    .collect::<Result<Vec<_>, _>>()?;
                change(attr, method, &vals, *pos, &mut p.acts);
            }
        }
        Ok(vec![p])
    }

    fn function(
        &self,
        name: &str,
        args: &[Expr],
        pos: Pos,
        depth: usize,
    ) -> Result<&[Stmt], Problem> {
        if depth >= MAX_DEPTH {
            return Err((pos, format!("`{name}()` nests too deep")));
        }
        match self.functions.get(name) {
            None => Err((pos, format!("no function `{name}` is defined"))),
            Some(Err(e)) => Err(e.clone()),
            Some(Ok(_)) if !args.is_empty() => Err((
                pos,
                format!("`{name}(...)` takes arguments; the importer follows functions without"),
            )),
            Some(Ok(body)) => Ok(body),
        }
    }

    /// `attr = value;`
    fn assign(&self, attr: &str, e: &Expr, v: Val, pos: Pos, acts: &mut Acts) {
        let int = |v: &Val| match v {
            Val::Int(n) => u32::try_from(*n).ok(),
            _ => None,
        };
        match (attr, e) {
            ("bgp_med", _) => match int(&v) {
                Some(n) => acts.med = Some(n),
                None => unknown_value(attr, pos, acts),
            },
            ("bgp_local_pref", _) => match int(&v) {
                Some(n) => acts.local_pref = Some(n),
                None => unknown_value(attr, pos, acts),
            },
            ("bgp_next_hop", _) => match v {
                Val::Ip(ip) => acts.next_hop = Some(ip),
                _ => unknown_value(attr, pos, acts),
            },
            ("bgp_origin", _) => {
                if v != Val::Enum("ORIGIN_IGP".into()) {
                    acts.dropped.push((
                        pos,
                        "`bgp_origin` other than ORIGIN_IGP: rampart sends ORIGIN IGP".into(),
                        true,
                    ));
                }
            }
            // `bgp_community = add(bgp_community, (1,2));`, the old form.
            (_, Expr::Call(f, args, _)) if args.len() == 2 && is_list(attr) => {
                match self.eval(&args[1], &unknown_route(), 0) {
                    Ok(x) => change(attr, f, &[x], pos, acts),
                    Err(_) => unknown_value(attr, pos, acts),
                }
            }
            (_, Expr::Opaque(_)) if is_list(attr) => change(attr, "empty", &[], pos, acts),
            _ => dropped_attr(attr, pos, acts),
        }
    }

    // === Expressions ===

    pub(super) fn eval(&self, e: &Expr, route: &Route, depth: usize) -> Result<Val, Problem> {
        Ok(match e {
            Expr::Num(n) => Val::Int(*n),
            Expr::Str(s) => Val::Str(s.clone()),
            Expr::Ip(ip) => Val::Ip(*ip),
            Expr::Net(n) => Val::Net(*n),
            Expr::Opaque(_) => Val::Unknown,
            Expr::Tuple(parts) => {
                let mut ints = Vec::new();
                for p in parts {
                    match self.eval(p, route, depth)? {
                        Val::Int(n) => ints.push(n),
                        _ => return Ok(Val::Unknown),
                    }
                }
                Val::Tuple(ints)
            }
            Expr::Set(items) => {
                let mut out = Vec::new();
                for i in items {
                    out.push(match i {
                        SetItem::Pattern { net, lo, hi } => Elem::Pattern(*net, *lo, *hi),
                        SetItem::Value(e) => match self.eval(e, route, depth)? {
                            Val::Unknown => Elem::Unknown,
                            // A constant that is itself a set.
                            Val::Set(inner) => {
                                out.extend(inner);
                                continue;
                            }
                            Val::Net(n) => {
                                let len = n.prefix_len();
                                Elem::Pattern(n, len, len)
                            }
                            v => Elem::Value(v),
                        },
                        SetItem::Range => Elem::Unknown,
                    });
                }
                Val::Set(out)
            }
            Expr::Sym(name, pos) => self.symbol(name, *pos, route, depth)?,
            Expr::Field(inner, field, _) => match (self.eval(inner, route, depth)?, field.as_str())
            {
                (Val::Net(n), "len") => Val::Int(u64::from(n.prefix_len())),
                (Val::Net(n), "ip") => Val::Ip(n.addr()),
                (Val::Ip(ip), "is_v4") => Val::Bool(ip.is_ipv4()),
                _ => Val::Unknown,
            },
            Expr::Call(name, args, pos) => {
                if !self.functions.contains_key(name) {
                    // `defined(...)`, `roa_check(...)` and the like.
                    return Ok(Val::Unknown);
                }
                let body = self.function(name, args, *pos, depth)?;
                let paths = self.block(body, route, vec![Path::start()], depth + 1)?;
                let mut values = paths.iter().map(|p| match &p.end {
                    Some(End::Return(v)) => v.clone(),
                    _ => Val::Unknown,
                });
                let first = values.next().unwrap_or(Val::Unknown);
                if values.all(|v| v == first) {
                    first
                } else {
                    Val::Unknown
                }
            }
            Expr::Not(inner) => match self.eval(inner, route, depth)? {
                Val::Bool(b) => Val::Bool(!b),
                _ => Val::Unknown,
            },
            Expr::Bin(op, l, r, _) => {
                let (a, b) = (self.eval(l, route, depth)?, self.eval(r, route, depth)?);
                self.binary(*op, a, b)
            }
        })
    }

    fn symbol(&self, name: &str, pos: Pos, route: &Route, depth: usize) -> Result<Val, Problem> {
        Ok(match name {
            "true" => Val::Bool(true),
            "false" => Val::Bool(false),
            "net" => match &route.net {
                Net::Known(n) => Val::Net(*n),
                Net::Other => Val::OtherNet,
            },
            "proto" => route.proto.clone().map_or(Val::Unknown, Val::Str),
            "source" => route
                .source
                .map_or(Val::Unknown, |s| Val::Enum(s.to_string())),
            _ => match self.defines.get(name) {
                Some(Ok(e)) if depth < MAX_DEPTH => self.eval(e, route, depth + 1)?,
                Some(Ok(_)) => return Err((pos, format!("`{name}` nests too deep"))),
                Some(Err(e)) => return Err(e.clone()),
                None if is_enum(name) => Val::Enum(name.to_string()),
                // A route attribute (`bgp_path`, `ifname`, ...) or a
                // variable: its value is not known here.
                None => Val::Unknown,
            },
        })
    }

    fn binary(&self, op: Op, a: Val, b: Val) -> Val {
        use Val::{Bool, Int, Unknown};
        match op {
            Op::AndAlso => match (a, b) {
                (Bool(false), _) | (_, Bool(false)) => Bool(false),
                (Bool(true), Bool(true)) => Bool(true),
                _ => Unknown,
            },
            Op::OrElse => match (a, b) {
                (Bool(true), _) | (_, Bool(true)) => Bool(true),
                (Bool(false), Bool(false)) => Bool(false),
                _ => Unknown,
            },
            Op::Eq => self.equal(&a, &b),
            Op::Ne => not(self.equal(&a, &b)),
            Op::Match => self.member(&a, &b),
            Op::NotMatch => not(self.member(&a, &b)),
            Op::Lt | Op::Gt | Op::Le | Op::Ge => match (a, b) {
                (Int(x), Int(y)) => Bool(match op {
                    Op::Lt => x < y,
                    Op::Gt => x > y,
                    Op::Le => x <= y,
                    _ => x >= y,
                }),
                _ => Unknown,
            },
            Op::Add | Op::Sub | Op::Mul | Op::Div => match (a, b) {
                (Int(x), Int(y)) => match op {
                    Op::Add => x.checked_add(y),
                    Op::Sub => x.checked_sub(y),
                    Op::Mul => x.checked_mul(y),
                    _ => x.checked_div(y),
                }
                .map_or(Unknown, Int),
                _ => Unknown,
            },
        }
    }

    fn equal(&self, a: &Val, b: &Val) -> Val {
        match (a, b) {
            (Val::Unknown, _) | (_, Val::Unknown) => Val::Unknown,
            (Val::OtherNet, Val::Net(n)) | (Val::Net(n), Val::OtherNet) => {
                self.literals.borrow_mut().insert(*n);
                Val::Bool(false)
            }
            (Val::OtherNet, _) | (_, Val::OtherNet) => Val::Unknown,
            _ => Val::Bool(a == b),
        }
    }

    /// `a ~ b`.
    fn member(&self, a: &Val, b: &Val) -> Val {
        match (a, b) {
            (Val::Net(n), Val::Set(elems)) => any(elems.iter().map(|e| match e {
                Elem::Pattern(p, lo, hi) => Val::Bool(matches(n, p, *lo, *hi)),
                Elem::Value(_) => Val::Bool(false),
                Elem::Unknown => Val::Unknown,
            })),
            (Val::OtherNet, Val::Set(elems)) => any(elems.iter().map(|e| match e {
                Elem::Pattern(p, lo, hi) if *lo == p.prefix_len() && *hi == *lo => {
                    self.literals.borrow_mut().insert(*p);
                    Val::Bool(false)
                }
                Elem::Value(_) => Val::Bool(false),
                _ => Val::Unknown,
            })),
            (Val::Net(n), Val::Net(p)) => Val::Bool(within(n, p)),
            (Val::OtherNet, Val::Net(p)) if p.prefix_len() == p.max_prefix_len() => {
                self.literals.borrow_mut().insert(*p);
                Val::Bool(false)
            }
            (Val::Ip(ip), Val::Net(p)) => Val::Bool(p.contains(ip)),
            (Val::Str(s), Val::Str(pattern)) => Val::Bool(glob(pattern, s)),
            (Val::Unknown, _) | (_, Val::Unknown) | (Val::OtherNet, _) => Val::Unknown,
            (v, Val::Set(elems)) => any(elems.iter().map(|e| match e {
                Elem::Value(x) => self.equal(v, x),
                Elem::Pattern(..) => Val::Bool(false),
                Elem::Unknown => Val::Unknown,
            })),
            _ => Val::Unknown,
        }
    }
}

fn not(v: Val) -> Val {
    match v {
        Val::Bool(b) => Val::Bool(!b),
        _ => Val::Unknown,
    }
}

/// True if one is true; false if all are false; else unknown.
fn any(vals: impl Iterator<Item = Val>) -> Val {
    let mut out = Val::Bool(false);
    for v in vals {
        match v {
            Val::Bool(true) => return Val::Bool(true),
            Val::Bool(false) => {}
            _ => out = Val::Unknown,
        }
    }
    out
}

/// BIRD's prefix pattern: the first min(len, p.len) bits agree and
/// lo <= len <= hi.
fn matches(n: &IpNet, p: &IpNet, lo: u8, hi: u8) -> bool {
    let len = n.prefix_len();
    if !(lo..=hi).contains(&len) {
        return false;
    }
    let common = len.min(p.prefix_len());
    match (IpNet::new(n.addr(), common), IpNet::new(p.addr(), common)) {
        (Ok(a), Ok(b)) => a.trunc() == b.trunc(),
        _ => false,
    }
}

/// `n ~ p` for two prefixes: n is p or more specific within it.
fn within(n: &IpNet, p: &IpNet) -> bool {
    n.prefix_len() >= p.prefix_len() && p.contains(&n.addr())
}

/// A shell pattern with `*` and `?`, as BIRD matches strings.
fn glob(pattern: &str, s: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (pattern.chars().collect(), s.chars().collect());
    // Classic two-pointer match with one backtrack point.
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < s.len() {
        if i < p.len() && (p[i] == '?' || p[i] == s[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(st) = star {
            i = st + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

/// BIRD's enum constants (`RTS_STATIC`, `SCOPE_HOST`, `ORIGIN_IGP`, ...).
fn is_enum(name: &str) -> bool {
    [
        "RTS_", "RTD_", "SCOPE_", "ORIGIN_", "ROA_", "NET_", "ASPA_", "MPLS_", "RTP_",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

fn is_list(attr: &str) -> bool {
    matches!(attr, "bgp_community" | "bgp_large_community" | "bgp_path")
}

fn unknown_route() -> Route {
    Route {
        net: Net::Other,
        proto: None,
        source: None,
    }
}

fn unknown_value(attr: &str, pos: Pos, acts: &mut Acts) {
    acts.dropped.push((
        pos,
        format!("the value given to `{attr}` is not known before a route is seen"),
        true,
    ));
}

/// An attribute set in an export filter that rampart does not send.
fn dropped_attr(attr: &str, pos: Pos, acts: &mut Acts) {
    let local = matches!(
        attr,
        "preference" | "scope" | "dest" | "gw" | "ifname" | "igp_metric" | "weight" | "from"
    ) || ["krt_", "ospf_", "rip_", "babel_", "radv_"]
        .iter()
        .any(|p| attr.starts_with(p));
    if local {
        acts.dropped.push((
            pos,
            format!("`{attr}` is set, which changes nothing BGP sends: not carried"),
            false,
        ));
    } else {
        acts.dropped.push((
            pos,
            format!("`{attr}` is set: rampart cannot send it"),
            true,
        ));
    }
}

/// `attr.method(args)`: communities added or taken away, the path
/// prepended.
fn change(attr: &str, method: &str, args: &[Val], pos: Pos, acts: &mut Acts) {
    let small = |n: &u64| u32::try_from(*n).ok().filter(|v| *v <= 0xffff);
    let big = |n: &u64| u32::try_from(*n).ok();
    match (attr, method, args) {
        ("bgp_community", "add", [Val::Tuple(t)]) => match t.as_slice() {
            [a, b] if small(a).is_some() && small(b).is_some() => {
                let c = (*a as u32, *b as u32);
                if !acts.communities.contains(&c) {
                    acts.communities.push(c);
                }
            }
            _ => unknown_value(attr, pos, acts),
        },
        ("bgp_community", "delete", [Val::Tuple(t)]) => {
            acts.communities
                .retain(|c| t.as_slice() != [u64::from(c.0), u64::from(c.1)]);
        }
        ("bgp_large_community", "add", [Val::Tuple(t)]) => match t.as_slice() {
            [a, b, c] if big(a).is_some() && big(b).is_some() && big(c).is_some() => {
                let l = (*a as u32, *b as u32, *c as u32);
                if !acts.large.contains(&l) {
                    acts.large.push(l);
                }
            }
            _ => unknown_value(attr, pos, acts),
        },
        ("bgp_large_community", "delete", [Val::Tuple(t)]) => {
            acts.large
                .retain(|l| t.as_slice() != [u64::from(l.0), u64::from(l.1), u64::from(l.2)]);
        }
        ("bgp_community", "empty", []) => acts.communities.clear(),
        ("bgp_large_community", "empty", []) => acts.large.clear(),
        ("bgp_path", "prepend", [Val::Int(n)]) => match big(n) {
            Some(asn) => acts.prepend.push(asn),
            None => unknown_value(attr, pos, acts),
        },
        ("bgp_path", "prepend", _) => unknown_value(attr, pos, acts),
        _ => acts.dropped.push((
            pos,
            format!("`{attr}.{method}(...)`: rampart cannot do this to what it sends"),
            true,
        )),
    }
}

pub(super) fn expr_pos(e: &Expr) -> Pos {
    match e {
        Expr::Sym(_, p) | Expr::Field(_, _, p) | Expr::Call(_, _, p) | Expr::Opaque(p) => *p,
        Expr::Bin(_, l, _, p) => {
            let lp = expr_pos(l);
            if lp == Pos::default() { *p } else { lp }
        }
        Expr::Not(inner) => expr_pos(inner),
        _ => Pos::default(),
    }
}

fn stmt_pos(s: &Stmt) -> Pos {
    match s {
        Stmt::Accept(p)
        | Stmt::Reject(p)
        | Stmt::Print(p)
        | Stmt::Return(_, p)
        | Stmt::Assign(_, _, p)
        | Stmt::Method(_, _, _, p)
        | Stmt::Call(_, _, p) => *p,
        Stmt::If(c, ..) => expr_pos(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::bird::filter::statements;
    use crate::import::bird::lex::lex;

    fn program(defines: &[(&str, &str)], functions: &[(&str, &str)]) -> Program {
        let parse = |s: &str| statements(&lex(s).unwrap());
        Program {
            defines: defines
                .iter()
                .map(|(n, v)| {
                    let e = crate::import::bird::filter::expression(&lex(v).unwrap());
                    (n.to_string(), e)
                })
                .collect(),
            functions: functions
                .iter()
                .map(|(n, b)| (n.to_string(), parse(b)))
                .collect(),
            literals: RefCell::default(),
        }
    }

    fn known(p: &str) -> Route {
        Route {
            net: Net::Known(p.parse().unwrap()),
            proto: None,
            source: None,
        }
    }

    fn verdicts(prog: &Program, filter: &str, route: &Route) -> Vec<bool> {
        let stmts = statements(&lex(filter).unwrap()).unwrap();
        prog.run(&stmts, route)
            .unwrap()
            .iter()
            .map(Path::accepts)
            .collect()
    }

    #[test]
    fn exact_prefixes_and_patterns() {
        let p = program(&[("MINE", "[ 192.0.2.0/24, 2001:db8::/48 ]")], &[]);
        let f = "if net = 147.75.78.116/32 then accept; if net ~ MINE then accept; \
                 if net ~ [ 10.0.0.0/8{16,24} ] then accept;";
        assert_eq!(verdicts(&p, f, &known("147.75.78.116/32")), [true]);
        assert_eq!(verdicts(&p, f, &known("192.0.2.0/24")), [true]);
        assert_eq!(verdicts(&p, f, &known("2001:db8::/48")), [true]);
        assert_eq!(verdicts(&p, f, &known("10.1.0.0/16")), [true]);
        assert_eq!(verdicts(&p, f, &known("10.1.2.0/25")), [false]);
        // Another route: the exact ones are out, the pattern is unknown.
        let other = unknown_route();
        assert_eq!(verdicts(&p, f, &other), [true, false]);
        let lits: Vec<String> = p.literals.borrow().iter().map(|n| n.to_string()).collect();
        assert_eq!(lits, ["147.75.78.116/32", "192.0.2.0/24", "2001:db8::/48"]);
    }

    #[test]
    fn proto_and_source_decide_when_known() {
        let p = program(&[], &[("is_static", "return source = RTS_STATIC;")]);
        let f = "if is_static() && proto != \"s2\" then accept; reject;";
        let mut r = known("10.0.0.0/24");
        r.proto = Some("s1".into());
        r.source = Some("RTS_STATIC");
        assert_eq!(verdicts(&p, f, &r), [true]);
        r.proto = Some("direct1".into());
        r.source = Some("RTS_DEVICE");
        assert_eq!(verdicts(&p, f, &r), [false]);
        // Not known: both ways.
        assert_eq!(verdicts(&p, f, &known("10.0.0.0/24")), [true, false]);
    }

    #[test]
    fn attributes_set_on_the_way() {
        let p = program(&[("ME", "65000")], &[]);
        let f = "bgp_community.add((ME, 100)); bgp_large_community.add((ME, 1, 2)); \
                 bgp_path.prepend(ME); bgp_med = 10; preference = 5; \
                 bgp_community = add(bgp_community, (ME, 200)); bgp_community.delete((ME, 100)); \
                 bgp_ext_community.add((rt, 1, 2)); accept;";
        let stmts = statements(&lex(f).unwrap()).unwrap();
        let paths = p.run(&stmts, &known("10.0.0.0/24")).unwrap();
        let a = &paths[0].acts;
        assert_eq!(a.communities, [(65000, 200)]);
        assert_eq!(a.large, [(65000, 1, 2)]);
        assert_eq!(a.prepend, [65000]);
        assert_eq!(a.med, Some(10));
        let dropped: Vec<(bool, &str)> =
            a.dropped.iter().map(|(_, m, e)| (*e, m.as_str())).collect();
        assert_eq!(dropped.len(), 2, "{dropped:?}");
        assert!(!dropped[0].0 && dropped[0].1.contains("`preference`"));
        assert!(dropped[1].0 && dropped[1].1.contains("bgp_ext_community"));
    }

    #[test]
    fn matching_rules() {
        let n = |s: &str| s.parse::<IpNet>().unwrap();
        assert!(matches(&n("1.2.0.0/16"), &n("1.0.0.0/8"), 15, 17));
        assert!(!matches(&n("1.0.0.0/16"), &n("1.0.0.0/8"), 0, 8));
        assert!(matches(&n("1.0.0.0/8"), &n("1.2.3.4/32"), 0, 32));
        assert!(within(&n("10.1.0.0/16"), &n("10.0.0.0/8")));
        assert!(!within(&n("10.0.0.0/8"), &n("10.1.0.0/16")));
        assert!(glob("bgp_*", "bgp_peer1"));
        assert!(glob("b?p*", "bgp"));
        assert!(!glob("bgp_*", "static1"));
    }
}

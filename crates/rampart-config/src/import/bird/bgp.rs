//! A `protocol bgp`'s options, after its template's, as one [`Session`]:
//! BIRD 1.6's `local as N; neighbor A as N; export filter F;` and BIRD
//! 2's `local A as N; neighbor A port P as N; ipv4 { export ...; };`
//! alike. Options without a rampart counterpart are named with the reason
//! (most are about routes received, and rampart receives none); those
//! that would change which sessions come up or where they go are errors.

use std::net::{IpAddr, Ipv4Addr};

use super::Report;
use super::eval::{Net, Program, Route, Val};
use super::filter::expression;
use super::lex::{Pos, Tok, Token};
use super::parse::{Item, Problem, ip};
use crate::model::Family;

#[derive(Debug, Clone)]
pub(super) enum ExportKind {
    All,
    None,
    Filter(String),
    /// `export filter { ... }`: the block's tokens.
    Inline(Vec<Token>),
    /// `export where ...`: the condition's tokens.
    Where(Vec<Token>),
}

#[derive(Debug, Clone)]
pub(super) struct Export {
    pub(super) kind: ExportKind,
    pub(super) pos: Pos,
    pub(super) text: String,
}

/// BIRD 2's `ipv4 { ... }` / `ipv6 { ... }` in a `protocol bgp`.
#[derive(Debug, Clone)]
pub(super) struct Channel {
    pub(super) family: Family,
    pub(super) pos: Pos,
    pub(super) export: Option<Export>,
    pub(super) imports: Option<bool>,
    pub(super) next_hop: Option<(IpAddr, Pos)>,
}

#[derive(Debug, Clone, Default)]
pub(super) struct Session {
    pub(super) local_as: Option<(u32, Pos)>,
    pub(super) local_address: Option<(IpAddr, Pos)>,
    pub(super) neighbor: Option<(IpAddr, Pos)>,
    pub(super) remote_as: Option<(u32, Pos)>,
    /// `neighbor ... internal`: the remote AS is ours.
    pub(super) internal: bool,
    pub(super) port: Option<u16>,
    pub(super) password: Option<String>,
    /// `multihop` alone is BIRD's TTL 64.
    pub(super) multihop: Option<u8>,
    pub(super) direct: bool,
    pub(super) passive: bool,
    pub(super) ttl_security: bool,
    pub(super) bfd: bool,
    pub(super) hold_time: Option<u64>,
    pub(super) connect_retry: Option<(u64, Pos)>,
    pub(super) local_pref: Option<u32>,
    pub(super) router_id: Option<(Ipv4Addr, Pos)>,
    pub(super) disabled: Option<Pos>,
    /// BIRD 1.6's protocol-level `export`, `import` (whether it imports
    /// anything) and `next hop address`.
    pub(super) export: Option<Export>,
    pub(super) imports: Option<bool>,
    pub(super) next_hop: Option<(IpAddr, Pos)>,
    pub(super) channels: Vec<Channel>,
    /// An option could not be read: what it would have set is not
    /// reported missing as well.
    pub(super) failed: bool,
    /// Where the option behind a rampart key was written (the last one
    /// wins, as in BIRD).
    marks: Vec<(&'static str, Pos)>,
}

/// BIRD's default TTL for `multihop` without a number.
const MULTIHOP_DEFAULT: u8 = 64;

/// Options with no rampart counterpart, by their first words, and why.
const NOT_CARRIED: &[(&str, &str)] = &[
    ("description", "rampart names a neighbor by its `name` only"),
    (
        "debug",
        "rampart logs session events at info level; see `rampart show bgp`",
    ),
    ("mrtdump", "rampart writes no MRT dumps"),
    (
        "keepalive time",
        "rampart sends keepalives at a third of the hold time",
    ),
    (
        "connect delay time",
        "rampart connects at start and retries after `connect_retry`",
    ),
    (
        "startup hold time",
        "rampart uses the hold time from the start",
    ),
    (
        "error wait time",
        "rampart retries after `connect_retry`, doubling up to 120 s",
    ),
    (
        "error forget time",
        "rampart retries after `connect_retry`, doubling up to 120 s",
    ),
    (
        "disable after",
        "rampart keeps retrying; `rampart bgp disable NAME` stops a session",
    ),
    (
        "graceful restart",
        "rampart has no graceful restart; `rampart upgrade` keeps sessions up",
    ),
    (
        "long lived",
        "rampart has no graceful restart; `rampart upgrade` keeps sessions up",
    ),
    (
        "next hop self",
        "rampart always sends its own address as next hop",
    ),
    (
        "check link",
        "rampart's sessions end on the hold timer or BFD",
    ),
    (
        "enable",
        "rampart's capabilities are fixed (4-octet AS, multiprotocol)",
    ),
    (
        "capabilities",
        "rampart's capabilities are fixed (4-octet AS, multiprotocol)",
    ),
    (
        "advertise",
        "rampart's capabilities are fixed (4-octet AS, multiprotocol)",
    ),
    ("strict bind", "rampart binds each session's own addresses"),
    ("setkey", "rampart sets TCP MD5 keys on its own sockets"),
    (
        "preference",
        "it ranks routes in BIRD's table; rampart keeps none",
    ),
    ("export limit", "rampart announces only the listed prefixes"),
];

/// Options about routes received: rampart receives none.
const RECEIVED: &[&str] = &[
    "import limit",
    "receive limit",
    "route limit",
    "import keep",
    "import table",
    "export table",
    "gateway",
    "igp table",
    "table",
    "add paths",
    "secondary",
    "prefer older",
    "deterministic med",
    "med metric",
    "igp metric",
    "path metric",
    "allow",
    "enforce first as",
    "rr client",
    "rr cluster id",
    "rs client",
    "interpret communities",
    "missing lladdr",
    "next hop keep",
    "aigp",
    "cost",
    "default bgp_med",
    "mandatory",
    "extended next hop",
];

/// Options whose loss would change which sessions come up, or where.
const REFUSED: &[(&str, &str)] = &[
    ("vrf", "rampart's sessions run in the default VRF"),
    ("confederation", "rampart has no BGP confederations"),
    (
        "dynamic name",
        "rampart has no dynamic BGP: list each neighbor",
    ),
];

impl Session {
    /// Where the option that set a rampart key was written.
    pub(super) fn place(&self, key: &str) -> Option<Pos> {
        self.marks
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|m| m.1)
    }

    fn mark(&mut self, key: &'static str, pos: Pos) {
        self.marks.push((key, pos));
    }

    /// Applies `items` (the template's first, then the protocol's).
    pub(super) fn read(&mut self, items: &[&Item], prog: &Program, r: &mut Report) {
        for item in items {
            if let Err((pos, m)) = self.option(item, prog, r) {
                self.failed = true;
                r.error(pos, m);
            }
        }
    }

    fn option(&mut self, item: &Item, prog: &Program, r: &mut Report) -> Result<(), Problem> {
        let w = &item.words;
        let text = item.text();
        let v = Values { prog, w };
        match words(w, 3).as_slice() {
            ["local", ..] => {
                let mut i = 1;
                while i < w.len() {
                    match w[i].word() {
                        Some("as") => self.local_as = Some((v.asn(i + 1)?, w[i].pos)),
                        Some("port") => {
                            r.warn(
                                w[i].pos,
                                "`local ... port` not carried: rampart connects from any port \
                                 and listens on the neighbor's `port`",
                            );
                        }
                        _ => {
                            self.local_address = Some((v.addr(i)?, w[i].pos));
                            i += 1;
                            continue;
                        }
                    }
                    i += 2;
                }
            }
            ["neighbor", ..] => self.neighbor(item, &v)?,
            ["source", "address", ..] => self.local_address = Some((v.addr(2)?, w[2].pos)),
            ["password", ..] => match w.get(1).map(|t| &t.tok) {
                Some(Tok::Str(s)) => {
                    self.password = Some(s.clone());
                    self.mark("password", item.pos);
                }
                _ => return Err((item.pos, "`password` needs a \"string\"".into())),
            },
            ["multihop", ..] => {
                self.multihop = Some(match w.get(1) {
                    None => MULTIHOP_DEFAULT,
                    Some(_) => u8::try_from(v.int(1)?)
                        .map_err(|_| (w[1].pos, "`multihop` is at most 255".to_string()))?,
                });
                if w.len() > 2 {
                    r.warn(w[2].pos, format!("`{text}`: only the hop count is carried"));
                }
                self.mark("multihop", item.pos);
            }
            ["direct"] => {
                self.direct = true;
                self.mark("multihop", item.pos);
            }
            ["passive", ..] => {
                self.passive = v.switch(1)?;
                self.mark("mode", item.pos);
            }
            ["ttl", "security", ..] => {
                self.ttl_security = v.switch(2)?;
                self.mark("ttl_security", item.pos);
            }
            ["bfd", ..] => {
                self.bfd = item.block.is_some()
                    || w.get(1).is_some_and(|t| t.is_word("graceful"))
                    || v.switch(1)?;
                self.mark("bfd", item.pos);
                if item.block.is_some() || w.len() > 1 && w[1].is_word("graceful") {
                    r.warn(
                        item.pos,
                        format!(
                            "`{text}`: carried as `bfd = true`; BFD's own options are \
                             `bfd_interval` and `bfd_multiplier`, and a failure resets the session"
                        ),
                    );
                }
            }
            ["hold", "time", ..] => {
                self.hold_time = Some(v.int(2)?);
                self.mark("hold_time", item.pos);
            }
            ["connect", "retry", "time", ..] => self.connect_retry = Some((v.int(3)?, item.pos)),
            ["default", "bgp_local_pref", ..] => {
                self.local_pref = Some(u32::try_from(v.int(2)?).map_err(|_| {
                    (
                        w[2].pos,
                        "`default bgp_local_pref` is at most 4294967295".to_string(),
                    )
                })?);
            }
            ["next", "hop", "address", ..] => self.next_hop = Some((v.addr(3)?, w[3].pos)),
            ["export", ..] => self.export = Some(export(item)?),
            ["import", next, ..] if !matches!(*next, "limit" | "keep" | "table") => {
                self.imports = Some(imports(item, r));
            }
            ["router", "id", ..] => {
                self.router_id = Some((ipv4(v.value(2)?, w[2].pos)?, w[2].pos));
            }
            ["disabled", ..] => self.disabled = v.switch(1)?.then_some(item.pos),
            ["interface", ..] => r.warn(
                item.pos,
                format!(
                    "`{text}` not carried: rampart reaches the neighbor through the routing \
                     table (link-local neighbors are not supported)"
                ),
            ),
            [fam @ ("ipv4" | "ipv6")] => {
                let family = if *fam == "ipv4" {
                    Family::Ipv4
                } else {
                    Family::Ipv6
                };
                self.channel(family, item, prog, r);
            }
            [fam, ..]
                if fam.starts_with("ipv") || fam.starts_with("vpn") || fam.starts_with("flow") =>
            {
                r.warn(
                    item.pos,
                    format!("channel `{text}` not carried: rampart carries IPv4 and IPv6 unicast"),
                );
            }
            _ => not_carried(item, r)?,
        }
        Ok(())
    }

    /// `neighbor [ADDR | range P] [port N] [as N] [internal | external]`.
    fn neighbor(&mut self, item: &Item, v: &Values) -> Result<(), Problem> {
        let w = &item.words;
        let mut i = 1;
        while i < w.len() {
            match w[i].word() {
                Some("as") => {
                    self.remote_as = Some((v.asn(i + 1)?, w[i + 1].pos));
                    i += 2;
                }
                Some("port") => {
                    let n = v.int(i + 1)?;
                    let port = u16::try_from(n)
                        .ok()
                        .filter(|p| *p != 0)
                        .ok_or_else(|| (w[i + 1].pos, format!("port {n} is out of range")))?;
                    self.port = Some(port);
                    i += 2;
                }
                Some("internal") => {
                    self.internal = true;
                    i += 1;
                }
                Some("external") => {
                    return Err((
                        w[i].pos,
                        "`neighbor ... external` accepts any AS; rampart needs the neighbor's \
                         AS number (`as N`)"
                            .into(),
                    ));
                }
                Some("range") => {
                    return Err((
                        w[i].pos,
                        "`neighbor range` (dynamic BGP) has no rampart counterpart: list each \
                         neighbor"
                            .into(),
                    ));
                }
                _ => {
                    let addr = v.addr(i)?;
                    if w.get(i + 1).is_some_and(|t| t.is("%")) {
                        return Err((
                            w[i].pos,
                            format!(
                                "`{addr}%...`: link-local neighbors (with an interface) are not \
                                 supported by rampart; use a global address"
                            ),
                        ));
                    }
                    self.neighbor = Some((addr, w[i].pos));
                    i += 1;
                }
            }
        }
        Ok(())
    }

    /// `ipv4;` or `ipv4 { import ...; export ...; next hop address A; }`,
    /// merged into the template's channel of the same family.
    fn channel(&mut self, family: Family, item: &Item, prog: &Program, r: &mut Report) {
        let k = match self.channels.iter().position(|c| c.family == family) {
            Some(k) => k,
            None => {
                self.channels.push(Channel {
                    family,
                    pos: item.pos,
                    export: None,
                    imports: None,
                    next_hop: None,
                });
                self.channels.len() - 1
            }
        };
        let Some(block) = &item.block else { return };
        let inner = match super::parse::items(block) {
            Ok(i) => i,
            Err((pos, m)) => return r.error(pos, m),
        };
        for it in &inner {
            let w = &it.words;
            let v = Values { prog, w };
            let res: Result<(), Problem> = match words(w, 3).as_slice() {
                ["export", ..] => export(it).map(|e| self.channels[k].export = Some(e)),
                ["import", next, ..] if !matches!(*next, "limit" | "keep" | "table") => {
                    self.channels[k].imports = Some(imports(it, r));
                    Ok(())
                }
                ["next", "hop", "address", ..] => v
                    .addr(3)
                    .map(|a| self.channels[k].next_hop = Some((a, w[3].pos))),
                _ => not_carried(it, r),
            };
            if let Err((pos, m)) = res {
                r.error(pos, m);
            }
        }
    }
}

/// `export all | none | filter NAME | filter { ... } | where COND`.
fn export(item: &Item) -> Result<Export, Problem> {
    let w = &item.words;
    let kind = match (w.get(1).and_then(Token::word), w.get(2)) {
        (Some("all"), None) => ExportKind::All,
        (Some("none"), None) => ExportKind::None,
        (Some("filter"), Some(t)) if w.len() == 3 && t.word().is_some() => {
            ExportKind::Filter(t.word().unwrap_or_default().to_string())
        }
        (Some("filter"), None) if item.block.is_some() => {
            ExportKind::Inline(item.block.clone().unwrap_or_default())
        }
        (Some("where"), Some(_)) => ExportKind::Where(w[2..].to_vec()),
        _ => {
            return Err((
                item.pos,
                format!(
                    "`{}`: the importer reads `export all`, `export none`, `export filter \
                     NAME`, `export filter {{ ... }}` and `export where ...`",
                    item.text()
                ),
            ));
        }
    };
    Ok(Export {
        kind,
        pos: item.pos,
        text: item.text(),
    })
}

/// `import ...`: whether routes come in. rampart takes none.
fn imports(item: &Item, r: &mut Report) -> bool {
    let none = item.words.get(1).is_some_and(|t| t.is_word("none")) && item.words.len() == 2;
    if !none {
        r.warn(
            item.pos,
            format!("`{}` not carried: rampart learns no routes", item.text()),
        );
    }
    !none
}

fn not_carried(item: &Item, r: &mut Report) -> Result<(), Problem> {
    let text = item.text();
    let starts = |p: &str| text == p || text.starts_with(&format!("{p} "));
    if let Some((_, why)) = REFUSED.iter().find(|(p, _)| starts(p)) {
        return Err((item.pos, format!("`{text}`: {why}")));
    }
    let why = match NOT_CARRIED.iter().find(|(p, _)| starts(p)) {
        Some((_, why)) => (*why).to_string(),
        None if RECEIVED.iter().any(|p| starts(p)) => {
            "it applies to routes received, and rampart learns none".to_string()
        }
        None => "rampart has no counterpart".to_string(),
    };
    r.warn(item.pos, format!("`{text}` not carried: {why}"));
    Ok(())
}

/// The first `n` words as text (`hold time 90` → `["hold", "time", "90"]`).
fn words(w: &[Token], n: usize) -> Vec<&str> {
    w.iter()
        .take(n)
        .map(|t| match &t.tok {
            Tok::Word(s) => s.as_str(),
            _ => "",
        })
        .collect()
}

fn ipv4(v: Val, pos: Pos) -> Result<Ipv4Addr, Problem> {
    match v {
        Val::Ip(IpAddr::V4(a)) => Ok(a),
        _ => Err((pos, "not an IPv4 address".into())),
    }
}

/// Option arguments: literals or `define`d constants.
struct Values<'a> {
    prog: &'a Program,
    w: &'a [Token],
}

impl Values<'_> {
    fn token(&self, i: usize) -> Result<&Token, Problem> {
        let after = self.w.last().map_or(Pos::default(), |t| t.pos);
        self.w
            .get(i)
            .ok_or((after, "a value is missing at the end".to_string()))
    }

    /// One token's value; a word is a constant.
    fn value(&self, i: usize) -> Result<Val, Problem> {
        let t = self.token(i)?;
        if let Tok::Addr(_) = t.tok {
            return ip(t).map(Val::Ip);
        }
        let e = expression(std::slice::from_ref(t))?;
        let route = Route {
            net: Net::Other,
            proto: None,
            source: None,
        };
        match self.prog.eval(&e, &route, 0)? {
            Val::Unknown => Err((t.pos, format!("`{}` is not a known value", t.tok))),
            v => Ok(v),
        }
    }

    fn int(&self, i: usize) -> Result<u64, Problem> {
        match self.value(i)? {
            Val::Int(n) => Ok(n),
            _ => Err((
                self.token(i)?.pos,
                format!("`{}` is not a number", self.token(i)?.tok),
            )),
        }
    }

    fn asn(&self, i: usize) -> Result<u32, Problem> {
        let n = self.int(i)?;
        let pos = self.token(i)?.pos;
        match u32::try_from(n) {
            Ok(crate::sections::bgp::common::AS_TRANS) => Err((
                pos,
                "AS 23456 is AS_TRANS (RFC 6793), a placeholder no speaker may use".into(),
            )),
            Ok(asn) if asn != 0 => Ok(asn),
            _ => Err((pos, format!("AS {n} is out of range"))),
        }
    }

    fn addr(&self, i: usize) -> Result<IpAddr, Problem> {
        match self.value(i)? {
            Val::Ip(a) => Ok(a),
            _ => {
                let t = self.token(i)?;
                Err((t.pos, format!("`{}` is not an IP address", t.tok)))
            }
        }
    }

    /// BIRD's switch: nothing, `on`/`yes`, `off`/`no`, or a number.
    fn switch(&self, i: usize) -> Result<bool, Problem> {
        let Some(t) = self.w.get(i) else {
            return Ok(true);
        };
        match &t.tok {
            Tok::Word(w) if w == "on" || w == "yes" => Ok(true),
            Tok::Word(w) if w == "off" || w == "no" => Ok(false),
            _ => Ok(self.int(i)? != 0),
        }
    }
}

//! The TOML: `[bgp]` with what all sessions share (router id, local AS,
//! connect retry), one `[[bgp.neighbor]]` per session, one
//! `[[bgp.announce]]` per prefix sent, each with a comment saying where
//! it came from. Every line written remembers the place in bird.conf it
//! comes from, so that a problem rampart's own parser finds in the result
//! (a hold time of 2 s, an 81-byte password) is shown where it can be
//! fixed.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use super::Report;
use super::announce::{Announce, PerNeighbor};
use super::bgp::Session;
use super::lex::Pos;
use crate::import::q;
use crate::model::Family;

#[derive(Clone, Copy)]
pub(super) struct Output<'a> {
    pub(super) origin: &'a str,
    pub(super) router_id: Option<(Ipv4Addr, Pos)>,
    pub(super) sessions: &'a [(String, Session, Pos)],
    pub(super) announces: &'a [Announce],
    pub(super) per: &'a BTreeMap<String, PerNeighbor>,
    pub(super) frontend: Option<&'a str>,
    pub(super) suppliers: &'a [String],
}

/// The TOML text, and for each of its lines the place it comes from.
#[derive(Default)]
pub(super) struct Toml {
    pub(super) text: String,
    from: Vec<Pos>,
}

impl Toml {
    fn line(&mut self, pos: Pos, s: impl AsRef<str>) {
        self.text.push_str(s.as_ref());
        self.text.push('\n');
        self.from.push(pos);
    }

    /// Where a line (1-based) of the TOML comes from in bird.conf.
    pub(super) fn place(&self, line: usize) -> Option<Pos> {
        line.checked_sub(1).and_then(|i| self.from.get(i)).copied()
    }
}

/// The TOML: `[bgp]`, the neighbors, the announcements.
pub(super) fn write(o: &Output, r: &mut Report) -> Toml {
    let mut t = Toml::default();
    let first = o.sessions.first().map_or(Pos::default(), |s| s.2);
    let (local_as, retry) = shared(o, r);
    t.line(
        first,
        format!("# Imported from {} by `rampart import bird`.", o.origin),
    );
    t.line(first, "");
    t.line(first, "[bgp]");
    if let Some((id, at)) = o.router_id {
        t.line(at, format!("router_id = {}", q(&id.to_string())));
    }
    let local = local_as.map(|(n, ..)| n);
    if let Some((n, at)) = local_as {
        t.line(at, format!("local_as = {n}"));
    }
    if let Some((n, at)) = retry {
        let secs = if n > 120 {
            r.warn(
                at,
                format!("`connect retry time {n}`: rampart waits at most 120 s"),
            );
            120
        } else {
            n.max(1)
        };
        t.line(at, format!("connect_retry = \"{secs}s\""));
    }
    for (name, s, pos) in o.sessions {
        neighbor(&mut t, name, s, *pos, local, o.per.get(name), r);
    }
    for a in o.announces {
        announce(&mut t, o, a, r);
    }
    t
}

/// A value and where it was written.
type Placed<T> = Option<(T, Pos)>;

/// What all sessions share: one local AS (refused if they differ), one
/// connect retry time (the first, with a warning if they differ).
fn shared(o: &Output, r: &mut Report) -> (Placed<u32>, Placed<u64>) {
    let mut local_as: Option<(u32, Pos, &str)> = None;
    let mut retry: Option<(u64, Pos)> = None;
    for (name, s, pos) in o.sessions {
        match (s.local_as, local_as) {
            (None, _) if s.failed => {}
            (None, _) => r.error(*pos, format!("protocol bgp `{name}` has no `local as`")),
            (Some((n, _)), Some((first, at, who))) if n != first => r.error(
                *pos,
                format!(
                    "protocol bgp `{name}` is in AS {n} but `{who}` in AS {first} (line {}); \
                     rampart has one local AS for all neighbors",
                    at.line
                ),
            ),
            (Some((n, at)), None) => local_as = Some((n, at, name)),
            _ => {}
        }
        if let (Some((rid, at)), Some((global, _))) = (s.router_id, o.router_id)
            && rid != global
        {
            r.error(
                at,
                format!("protocol bgp `{name}` has router id {rid}; rampart has one ({global})"),
            );
        }
        match (s.connect_retry, retry) {
            (Some((n, at)), Some((first, _))) if n != first => r.warn(
                at,
                format!(
                    "`connect retry time {n}` differs from another neighbor's {first}; rampart \
                     has one `connect_retry`: imported as {first}s"
                ),
            ),
            (Some(c), None) => retry = Some(c),
            _ => {}
        }
    }
    (local_as.map(|(n, at, _)| (n, at)), retry)
}

fn announce(t: &mut Toml, o: &Output, a: &Announce, r: &mut Report) {
    let at = a.pos;
    t.line(at, "");
    let mut comment = format!("# exported by {}", a.via.join(", "));
    if let Some((proto, line)) = &a.from_static {
        comment.push_str(&format!("; static route of {proto}, line {}", line.line));
    }
    t.line(at, comment);
    t.line(at, "[[bgp.announce]]");
    t.line(at, format!("prefix = {}", q(&a.prefix.to_string())));
    let fam = Family::of(a.prefix.addr());
    let all: Vec<&str> = o
        .sessions
        .iter()
        .filter(|(_, s, _)| carries(s, fam))
        .map(|(n, ..)| n.as_str())
        .collect();
    if a.neighbors
        .iter()
        .map(String::as_str)
        .ne(all.iter().copied())
    {
        let list: Vec<String> = a.neighbors.iter().map(|n| q(n)).collect();
        t.line(at, format!("neighbors = [{}]", list.join(", ")));
    }
    match o.frontend {
        Some(f) => t.line(at, format!("policy = {{ while_healthy = {} }}", q(f))),
        None if a.from_static.is_none() => {
            let whence = if o.suppliers.is_empty() {
                ", and no protocol in this file puts one there".to_string()
            } else {
                format!(" (here it could come from {})", o.suppliers.join(", "))
            };
            r.warn(
                at,
                format!(
                    "{}: BIRD announced it only while a route for it was in its \
                     table{whence}; imported with policy \"always\" (announced while the \
                     session is up): give --frontend NAME to announce it while that frontend \
                     has a server up, or set policy = {{ while_master = \"...\" }} to \
                     follow the VRRP instance that holds the address",
                    a.prefix
                ),
            );
        }
        None => {}
    }
    let acts = &a.acts;
    if !acts.communities.is_empty() {
        let c: Vec<String> = acts
            .communities
            .iter()
            .map(|(x, y)| q(&format!("{x}:{y}")))
            .collect();
        t.line(at, format!("communities = [{}]", c.join(", ")));
    }
    if !acts.large.is_empty() {
        let c: Vec<String> = acts
            .large
            .iter()
            .map(|(x, y, z)| q(&format!("{x}:{y}:{z}")))
            .collect();
        t.line(at, format!("large_communities = [{}]", c.join(", ")));
    }
    if let Some(m) = acts.med {
        t.line(at, format!("med = {m}"));
    }
}

fn carries(s: &Session, fam: Family) -> bool {
    if s.channels.is_empty() {
        s.neighbor.is_some_and(|(a, _)| Family::of(a) == fam)
    } else {
        s.channels.iter().any(|c| c.family == fam)
    }
}

/// One `[[bgp.neighbor]]`.
fn neighbor(
    t: &mut Toml,
    name: &str,
    s: &Session,
    pos: Pos,
    local_as: Option<u32>,
    per: Option<&PerNeighbor>,
    r: &mut Report,
) {
    let at = |key: &str| s.place(key).unwrap_or(pos);
    t.line(pos, "");
    t.line(pos, format!("# protocol bgp {name}, line {}", pos.line));
    t.line(pos, "[[bgp.neighbor]]");
    t.line(pos, format!("name = {}", q(name)));
    let Some((addr, addr_at)) = s.neighbor else {
        if !s.failed {
            r.error(
                pos,
                format!("protocol bgp `{name}` has no `neighbor ADDRESS`"),
            );
        }
        return;
    };
    t.line(addr_at, format!("address = {}", q(&addr.to_string())));
    let remote = match (s.remote_as, s.internal) {
        (Some((n, at)), _) => Some((n, at)),
        (None, true) => local_as.map(|n| (n, addr_at)),
        (None, false) => None,
    };
    let Some((remote, remote_at)) = remote else {
        if !s.failed {
            r.error(
                pos,
                format!("protocol bgp `{name}` has no `neighbor ... as N`"),
            );
        }
        return;
    };
    t.line(remote_at, format!("remote_as = {remote}"));
    let ibgp = local_as == Some(remote);
    if let Some((a, at)) = s.local_address {
        t.line(at, format!("local_address = {}", q(&a.to_string())));
    }
    if let Some(p) = s.port.filter(|p| *p != crate::defaults::BGP_PORT) {
        t.line(addr_at, format!("port = {p}"));
    }
    if s.passive {
        t.line(at("mode"), "mode = \"passive\"");
    }
    if let Some(pw) = &s.password {
        t.line(at("password"), format!("password = {}", q(pw)));
    }
    if let Some(h) = s.hold_time {
        t.line(at("hold_time"), format!("hold_time = \"{h}s\""));
    }
    // BIRD: iBGP sessions are multihop (TTL 64) unless `direct`.
    let implicit = (ibgp && !s.direct && !s.ttl_security && !s.bfd).then_some(64);
    let multihop = s.multihop.or(implicit).unwrap_or(1);
    if multihop > 1 {
        t.line(at("multihop"), format!("multihop = {multihop}"));
        if s.ttl_security {
            r.error(
                at("ttl_security"),
                format!(
                    "`{name}`: `ttl security` with `multihop`: rampart's `ttl_security` (GTSM) is \
                     for directly connected neighbors only"
                ),
            );
        }
        if s.bfd {
            r.error(
                at("bfd"),
                format!(
                    "`{name}`: `bfd` with `multihop`: rampart runs single-hop BFD only (RFC 5881)"
                ),
            );
        }
    }
    if s.ttl_security {
        t.line(at("ttl_security"), "ttl_security = true");
    }
    if s.bfd {
        t.line(at("bfd"), "bfd = true");
    }
    families(t, name, s, addr, per, r);
    if let Some(per) = per {
        let own = per.prepend.iter().filter(|a| Some(**a) == local_as).count();
        if own != per.prepend.len() {
            r.error(
                pos,
                format!(
                    "`{name}`: its export filter prepends another AS than ours; rampart prepends \
                     its own"
                ),
            );
        } else if own > 0 {
            t.line(pos, format!("prepend = {own}"));
        }
    }
    let pref = per.and_then(|p| p.local_pref).or(s.local_pref);
    match pref {
        Some(p) if ibgp => t.line(at("local_pref"), format!("local_pref = {p}")),
        Some(_) => r.warn(
            at("local_pref"),
            format!("`{name}` is eBGP: the local preference set for it is not sent (RFC 4271)"),
        ),
        None => {}
    }
}

/// `families`, `next_hop_v4`, `next_hop_v6` from the channels and the
/// next hops set in `next hop address` or the filter.
fn families(
    t: &mut Toml,
    name: &str,
    s: &Session,
    addr: IpAddr,
    per: Option<&PerNeighbor>,
    r: &mut Report,
) {
    let session = Family::of(addr);
    let fallback = s.neighbor.map_or(Pos::default(), |(_, at)| at);
    let mut hops: Vec<(IpAddr, Pos)> = per
        .map(|p| p.next_hop.iter().map(|h| (*h, fallback)).collect())
        .unwrap_or_default();
    hops.extend(s.next_hop);
    hops.extend(s.channels.iter().filter_map(|c| c.next_hop));
    let fams: Vec<(Family, Pos)> = if s.channels.is_empty() {
        vec![(session, fallback)]
    } else {
        s.channels.iter().map(|c| (c.family, c.pos)).collect()
    };
    if fams.len() != 1 || fams[0].0 != session {
        let list: Vec<String> = fams.iter().map(|(f, _)| q(f.key())).collect();
        let at = fams.first().map_or(fallback, |f| f.1);
        t.line(at, format!("families = [{}]", list.join(", ")));
    }
    for (f, channel) in &fams {
        let key = match f {
            Family::Ipv4 => "next_hop_v4",
            Family::Ipv6 => "next_hop_v6",
        };
        match hops.iter().find(|(h, _)| Family::of(*h) == *f) {
            Some((h, at)) => t.line(*at, format!("{key} = {}", q(&h.to_string()))),
            None if *f != session => r.error(
                *channel,
                format!(
                    "`{name}` carries {} over an {} session: rampart needs the {} next hop to \
                     send; write `next hop address ...` in the channel",
                    f.name(),
                    session.name(),
                    f.name()
                ),
            ),
            None => {}
        }
    }
}

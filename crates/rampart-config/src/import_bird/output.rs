//! The TOML: `[bgp]` with what all sessions share (router id, local AS,
//! connect retry), one `[[bgp.neighbor]]` per session, one
//! `[[bgp.announce]]` per prefix sent, each with a comment saying where
//! it came from.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};

use super::Report;
use super::announce::{Announce, PerNeighbor};
use super::bgp::Session;
use super::lex::Pos;
use crate::import_haproxy::q;
use crate::model::Family;

#[derive(Clone, Copy)]
pub(super) struct Output<'a> {
    pub(super) origin: &'a str,
    pub(super) router_id: Option<Ipv4Addr>,
    pub(super) sessions: &'a [(String, Session, Pos)],
    pub(super) announces: &'a [Announce],
    pub(super) per: &'a BTreeMap<String, PerNeighbor>,
    pub(super) frontend: Option<&'a str>,
    pub(super) suppliers: &'a [String],
}

/// The TOML: `[bgp]`, the neighbors, the announcements.
pub(super) fn write(o: &Output, r: &mut Report) -> String {
    let Output {
        origin,
        router_id,
        sessions,
        announces,
        per,
        frontend,
        suppliers,
    } = *o;
    let mut local_as: Option<(u32, Pos, &str)> = None;
    let mut retry: Option<(u64, Pos)> = None;
    for (name, s, pos) in sessions {
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
        if let (Some((rid, at)), Some(global)) = (s.router_id, router_id)
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
    let mut out = format!("# Imported from {origin} by `rampart import bird`.\n\n[bgp]\n");
    if let Some(id) = router_id {
        let _ = writeln!(out, "router_id = {}", q(&id.to_string()));
    }
    let local = local_as.map(|(n, ..)| n);
    if let Some(n) = local {
        let _ = writeln!(out, "local_as = {n}");
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
        let _ = writeln!(out, "connect_retry = \"{secs}s\"");
    }
    for (name, s, pos) in sessions {
        out.push_str(&neighbor(name, s, *pos, local, per.get(name), r));
    }
    for a in announces {
        let _ = write!(out, "\n# exported by {}", a.via.join(", "));
        if let Some((proto, at)) = &a.from_static {
            let _ = write!(out, "; static route of {proto}, line {}", at.line);
        }
        let _ = write!(
            out,
            "\n[[bgp.announce]]\nprefix = {}\n",
            q(&a.prefix.to_string())
        );
        let fam = Family::of(a.prefix.addr());
        let all: Vec<&str> = sessions
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
            let _ = writeln!(out, "neighbors = [{}]", list.join(", "));
        }
        match frontend {
            Some(f) => {
                let _ = writeln!(out, "policy = {{ while_healthy = {} }}", q(f));
            }
            None if a.from_static.is_none() => {
                let whence = if suppliers.is_empty() {
                    ", and no protocol in this file puts one there".to_string()
                } else {
                    format!(" (here it could come from {})", suppliers.join(", "))
                };
                r.warn(
                    a.pos,
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
            let _ = writeln!(out, "communities = [{}]", c.join(", "));
        }
        if !acts.large.is_empty() {
            let c: Vec<String> = acts
                .large
                .iter()
                .map(|(x, y, z)| q(&format!("{x}:{y}:{z}")))
                .collect();
            let _ = writeln!(out, "large_communities = [{}]", c.join(", "));
        }
        if let Some(m) = acts.med {
            let _ = writeln!(out, "med = {m}");
        }
    }
    out
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
    name: &str,
    s: &Session,
    pos: Pos,
    local_as: Option<u32>,
    per: Option<&PerNeighbor>,
    r: &mut Report,
) -> String {
    let mut out = format!(
        "\n# protocol bgp {name}, line {}\n[[bgp.neighbor]]\n",
        pos.line
    );
    let _ = writeln!(out, "name = {}", q(name));
    let Some((addr, _)) = s.neighbor else {
        if !s.failed {
            r.error(
                pos,
                format!("protocol bgp `{name}` has no `neighbor ADDRESS`"),
            );
        }
        return out;
    };
    let _ = writeln!(out, "address = {}", q(&addr.to_string()));
    let remote = match (s.remote_as, s.internal) {
        (Some((n, _)), _) => Some(n),
        (None, true) => local_as,
        (None, false) => None,
    };
    let Some(remote) = remote else {
        if !s.failed {
            r.error(
                pos,
                format!("protocol bgp `{name}` has no `neighbor ... as N`"),
            );
        }
        return out;
    };
    let _ = writeln!(out, "remote_as = {remote}");
    let ibgp = local_as == Some(remote);
    if let Some((a, _)) = s.local_address {
        let _ = writeln!(out, "local_address = {}", q(&a.to_string()));
    }
    if let Some(p) = s.port.filter(|p| *p != crate::defaults::BGP_PORT) {
        let _ = writeln!(out, "port = {p}");
    }
    if s.passive {
        out.push_str("mode = \"passive\"\n");
    }
    if let Some(pw) = &s.password {
        let _ = writeln!(out, "password = {}", q(pw));
    }
    if let Some(h) = s.hold_time {
        let _ = writeln!(out, "hold_time = \"{h}s\"");
    }
    // BIRD: iBGP sessions are multihop (TTL 64) unless `direct`.
    let implicit = (ibgp && !s.direct && !s.ttl_security && !s.bfd).then_some(64);
    let multihop = s.multihop.or(implicit).unwrap_or(1);
    if multihop > 1 {
        let _ = writeln!(out, "multihop = {multihop}");
        if s.ttl_security {
            r.error(
                pos,
                format!(
                    "`{name}`: `ttl security` with `multihop`: rampart's `ttl_security` (GTSM) is \
                     for directly connected neighbors only"
                ),
            );
        }
        if s.bfd {
            r.error(
                pos,
                format!(
                    "`{name}`: `bfd` with `multihop`: rampart runs single-hop BFD only (RFC 5881)"
                ),
            );
        }
    }
    if s.ttl_security {
        out.push_str("ttl_security = true\n");
    }
    if s.bfd {
        out.push_str("bfd = true\n");
    }
    out.push_str(&families(name, s, addr, per, r));
    if let Some(per) = per {
        let own = per.prepend.iter().filter(|a| Some(**a) == local_as).count();
        if own != per.prepend.len() {
            r.error(
                pos,
                format!("`{name}`: its export filter prepends another AS than ours; rampart prepends its own"),
            );
        } else if own > 0 {
            let _ = writeln!(out, "prepend = {own}");
        }
    }
    let pref = per.and_then(|p| p.local_pref).or(s.local_pref);
    match pref {
        Some(p) if ibgp => {
            let _ = writeln!(out, "local_pref = {p}");
        }
        Some(_) => r.warn(
            pos,
            format!("`{name}` is eBGP: the local preference set for it is not sent (RFC 4271)"),
        ),
        None => {}
    }
    out
}

/// `families`, `next_hop_v4`, `next_hop_v6` from the channels and the
/// next hops set in `next hop address` or the filter.
fn families(
    name: &str,
    s: &Session,
    addr: IpAddr,
    per: Option<&PerNeighbor>,
    r: &mut Report,
) -> String {
    let session = Family::of(addr);
    let mut hops: Vec<IpAddr> = per.map(|p| p.next_hop.clone()).unwrap_or_default();
    hops.extend(s.next_hop.map(|(a, _)| a));
    hops.extend(s.channels.iter().filter_map(|c| c.next_hop.map(|(a, _)| a)));
    let fams: Vec<Family> = if s.channels.is_empty() {
        vec![session]
    } else {
        s.channels.iter().map(|c| c.family).collect()
    };
    let mut out = String::new();
    if fams != [session] {
        let list: Vec<String> = fams.iter().map(|f| q(f.key())).collect();
        let _ = writeln!(out, "families = [{}]", list.join(", "));
    }
    for f in &fams {
        let hop = hops.iter().find(|h| Family::of(**h) == *f);
        let key = if *f == Family::Ipv4 {
            "next_hop_v4"
        } else {
            "next_hop_v6"
        };
        match hop {
            Some(h) => {
                let _ = writeln!(out, "{key} = {}", q(&h.to_string()));
            }
            None if *f != session => {
                let at = s
                    .channels
                    .iter()
                    .find(|c| c.family == *f)
                    .map_or(Pos::default(), |c| c.pos);
                r.error(
                    at,
                    format!(
                        "`{name}` carries {} over an {} session: rampart needs the {} next hop to \
                         send; write `next hop address ...` in the channel",
                        f.name(),
                        session.name(),
                        f.name()
                    ),
                );
            }
            None => {}
        }
    }
    out
}

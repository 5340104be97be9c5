//! One `[[bgp.announce]]`: a prefix, the policy that decides when it is
//! announced, and the attributes it carries. BIRD needs an export filter
//! for this (`if net = 147.75.78.116/32 then accept;`); here the prefixes
//! are listed and nothing else is ever exported.
//!
//! ```toml
//! policy = "always"
//! policy = { while_master = "VI_1" }     # a [[vrrp.instance]]
//! policy = { while_healthy = "www" }     # a [[frontend]], with min_servers
//! ```
//!
//! References to neighbors, instances and frontends are checked in
//! [`crate::validate::bgp`].

use std::ops::Range;

use ipnet::IpNet;
use toml::Spanned;
use toml::de::DeValue;

use crate::defaults;
use crate::diag::Sink;
use crate::model::{Announce, AnnouncePolicy};
use crate::reader::{Reader, Table};
use crate::values::net::cidr;
use crate::values::{self, Value};

/// Shown whenever `policy` has a shape we do not know, so the user sees
/// every valid form at once.
const POLICY_FORMS: &str = "\"always\", { while_master = \"<vrrp instance>\" } or \
                            { while_healthy = \"<frontend>\" }";

/// RFC 1997's well-known communities, by the names BIRD and FRR use.
const WELL_KNOWN: [(&str, u32); 3] = [
    ("no-export", 0xffff_ff01),
    ("no-advertise", 0xffff_ff02),
    ("no-export-subconfed", 0xffff_ff03),
];

/// An announcement plus the places that checks across sections point at.
pub(crate) struct AnnounceAt {
    pub(crate) announce: Announce,
    /// The `prefix` value, when it is a valid prefix.
    pub(crate) prefix: Option<Range<usize>>,
    /// The `while_master` or `while_healthy` value.
    pub(crate) policy: Option<Range<usize>>,
    /// The span of each entry of `announce.neighbors`; `None` when the
    /// key is absent and every neighbor of the family is meant.
    pub(crate) neighbors: Option<Vec<Range<usize>>>,
}

/// What `policy` names, with the span of the name.
enum Policy {
    Always,
    WhileMaster(Spanned<String>),
    WhileHealthy(Spanned<String>),
}

pub(crate) fn announce(t: &Reader, sink: &mut Sink) -> AnnounceAt {
    let prefix = t.req("prefix", sink, prefix);
    let policy = match t.entry("policy") {
        Some((key, v)) => policy(v, key, sink),
        None => Some(Policy::Always),
    };
    // 0 would hold with every server down: the policy would be "always".
    let min_servers = t.opt("min_servers", sink, |v, key, sink| {
        let n = values::integer(v, key, 1, u32::MAX, sink)?;
        if policy
            .as_ref()
            .is_some_and(|p| !matches!(p, Policy::WhileHealthy(_)))
        {
            sink.error(
                v.span(),
                "`min_servers` applies only to `policy = { while_healthy = \"...\" }`",
            );
        }
        Some(n)
    });
    let neighbors = t.opt("neighbors", sink, |v, key, sink| {
        Some(neighbors(v, key, sink))
    });
    let communities = t
        .opt("communities", sink, |v, key, sink| {
            let list = values::parsed_list(v, key, sink, community)?;
            Some(inner(unique(list, key, show_community, sink)))
        })
        .unwrap_or_default();
    let large_communities = t
        .opt("large_communities", sink, |v, key, sink| {
            let list = values::parsed_list(v, key, sink, large_community)?;
            Some(inner(unique(list, key, show_large, sink)))
        })
        .unwrap_or_default();
    let med = t.integer("med", 0, u32::MAX, sink);

    let (policy, policy_span) = match policy {
        Some(Policy::WhileMaster(name)) => (
            AnnouncePolicy::WhileMaster(name.get_ref().clone()),
            Some(name.span()),
        ),
        Some(Policy::WhileHealthy(name)) => (
            AnnouncePolicy::WhileHealthy {
                frontend: name.get_ref().clone(),
                min_servers: min_servers.unwrap_or(defaults::ANNOUNCE_MIN_SERVERS),
            },
            Some(name.span()),
        ),
        Some(Policy::Always) | None => (AnnouncePolicy::Always, None),
    };
    AnnounceAt {
        announce: Announce {
            prefix: prefix.as_ref().map(|p| *p.get_ref()).unwrap_or_default(),
            policy,
            neighbors: neighbors
                .iter()
                .flatten()
                .map(|n| n.get_ref().clone())
                .collect(),
            communities,
            large_communities,
            med,
        },
        prefix: prefix.map(|p| p.span()),
        policy: policy_span,
        neighbors: neighbors.map(|list| list.iter().map(Spanned::span).collect()),
    }
}

/// A network: a bare address is a host route (/32 or /128), and the host
/// bits must be zero, since what the routers get is the network.
fn prefix(v: &Value, key: &str, sink: &mut Sink) -> Option<Spanned<IpNet>> {
    let s = values::string(v, key, sink)?;
    let net = cidr(key, s).map_err(|e| sink.error(v.span(), e)).ok()?;
    if net.trunc() != net {
        sink.error(
            v.span(),
            format!(
                "`{key}` {net} has host bits set; the network is {}",
                net.trunc()
            ),
        );
        return None;
    }
    Some(Spanned::new(v.span(), net))
}

fn policy(v: &Value, key: Range<usize>, sink: &mut Sink) -> Option<Policy> {
    if let Some(s) = v.get_ref().as_str() {
        if s == "always" {
            return Some(Policy::Always);
        }
        sink.error(
            v.span(),
            format!("invalid `policy` `{s}`; expected {POLICY_FORMS}"),
        );
        return None;
    }
    if !v.get_ref().is_table() {
        values::type_error(v, "policy", POLICY_FORMS, sink);
        return None;
    }
    let t = Table::of(v, "policy", key, "`policy`", sink)?;
    t.read(sink, |t, sink| {
        match (t.get("while_master"), t.get("while_healthy")) {
            (Some(_), Some(_)) => {
                sink.error(
                    t.span(),
                    "`policy` has both `while_master` and `while_healthy`; choose one",
                );
                None
            }
            (Some(v), None) => values::reference(v, "while_master", sink).map(Policy::WhileMaster),
            (None, Some(v)) => {
                values::reference(v, "while_healthy", sink).map(Policy::WhileHealthy)
            }
            // An unknown key alone is reported as such.
            (None, None) if !is_empty_table(v) => None,
            (None, None) => {
                sink.error(
                    t.span(),
                    format!("`policy` table is empty; expected {POLICY_FORMS}"),
                );
                None
            }
        }
    })
}

fn is_empty_table(v: &Value) -> bool {
    matches!(v.get_ref(), DeValue::Table(t) if t.is_empty())
}

/// `neighbors = ["bgp1"]`: names, none twice.
fn neighbors(v: &Value, key: &str, sink: &mut Sink) -> Vec<Spanned<String>> {
    let Some(items) = values::array(v, key, sink) else {
        return Vec::new();
    };
    if items.is_empty() {
        sink.error(
            v.span(),
            "`neighbors` must name at least one neighbor; leave it out to announce to every \
             neighbor of the prefix's family",
        );
    }
    let each = format!("{key}[]");
    let list = items
        .iter()
        .filter_map(|i| values::string(i, &each, sink).map(|s| (s, i.span())))
        .map(|(s, span)| Spanned::new(span, s.to_string()))
        .collect();
    unique(list, "neighbors", |n| format!("neighbor `{n}`"), sink)
}

/// Drops and reports entries listed twice, comparing values (so that
/// `65000:100` and `65000:0100` are one community).
fn unique<T: PartialEq>(
    list: Vec<Spanned<T>>,
    key: &str,
    show: impl Fn(&T) -> String,
    sink: &mut Sink,
) -> Vec<Spanned<T>> {
    let mut out: Vec<Spanned<T>> = Vec::with_capacity(list.len());
    for item in list {
        if out.iter().any(|o| o.get_ref() == item.get_ref()) {
            let what = show(item.get_ref());
            sink.error(item.span(), format!("{what} is listed twice in `{key}`"));
        } else {
            out.push(item);
        }
    }
    out
}

fn inner<T>(list: Vec<Spanned<T>>) -> Vec<T> {
    list.into_iter().map(Spanned::into_inner).collect()
}

// === Communities ===

/// RFC 1997: `"asn:value"`, both 16 bits, encoded `asn << 16 | value`; or
/// a well-known name.
fn community(s: &str) -> Result<u32, String> {
    if let Some((_, c)) = WELL_KNOWN.iter().find(|(name, _)| *name == s) {
        return Ok(*c);
    }
    let usage = "write \"asn:value\", e.g. \"65000:100\", or one of no-export, no-advertise, \
                 no-export-subconfed";
    let [asn, value] = fields(s).as_slice()[..] else {
        return Err(format!("`communities`: `{s}` is not a community; {usage}"));
    };
    let half = |p: &str| {
        let n =
            number(p).ok_or_else(|| format!("`communities`: `{s}` is not a community; {usage}"))?;
        u16::try_from(n).map_err(|_| {
            format!(
                "`communities`: `{p}` in `{s}` is out of range: both halves of a community are \
                 16 bits (0 to 65535); use `large_communities` for 4-octet AS numbers"
            )
        })
    };
    Ok(u32::from(half(asn)?) << 16 | u32::from(half(value)?))
}

/// RFC 8092: `"global:local1:local2"`, each 32 bits.
fn large_community(s: &str) -> Result<[u32; 3], String> {
    let usage = "write \"global:local1:local2\", e.g. \"65000:1:2\"";
    let [a, b, c] = fields(s).as_slice()[..] else {
        return Err(format!(
            "`large_communities`: `{s}` is not a large community; {usage}"
        ));
    };
    let part = |p: &str| {
        let n = number(p).ok_or_else(|| {
            format!("`large_communities`: `{s}` is not a large community; {usage}")
        })?;
        u32::try_from(n).map_err(|_| {
            format!(
                "`large_communities`: `{p}` in `{s}` is out of range: each part is 32 bits \
                 (0 to 4294967295)"
            )
        })
    };
    Ok([part(a)?, part(b)?, part(c)?])
}

fn fields(s: &str) -> Vec<&str> {
    s.split(':').collect()
}

/// Decimal digits only (no sign, no spaces). Absurdly long numbers
/// become `u64::MAX`, which is out of every range here.
fn number(p: &str) -> Option<u64> {
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(p.parse().unwrap_or(u64::MAX))
}

fn show_large(c: &[u32; 3]) -> String {
    format!("large community {}:{}:{}", c[0], c[1], c[2])
}

fn show_community(c: &u32) -> String {
    match WELL_KNOWN.iter().find(|(_, v)| v == c) {
        Some((name, _)) => format!("community {name}"),
        None => format!("community {}:{}", c >> 16, c & 0xffff),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn communities() {
        assert_eq!(community("65000:100"), Ok(65000 << 16 | 100));
        assert_eq!(community("0:0"), Ok(0));
        assert_eq!(community("65535:65535"), Ok(u32::MAX));
        assert_eq!(community("no-export"), Ok(0xffff_ff01));
        assert_eq!(community("no-export-subconfed"), Ok(0xffff_ff03));
        assert!(community("65536:1").is_err_and(|e| e.contains("out of range")));
        assert!(community("1:99999999999999999999999").is_err_and(|e| e.contains("out of range")));
        for bad in [
            "65000",
            "65000:",
            ":1",
            "1:2:3",
            "+1:2",
            "1: 2",
            "a:b",
            "",
            "NO_EXPORT",
        ] {
            assert!(
                community(bad).is_err_and(|e| e.contains("not a community")),
                "{bad}"
            );
        }
    }

    #[test]
    fn large_communities() {
        assert_eq!(large_community("65000:1:2"), Ok([65000, 1, 2]));
        assert_eq!(
            large_community("4294967295:0:4294967295"),
            Ok([u32::MAX, 0, u32::MAX])
        );
        assert!(large_community("4294967296:0:0").is_err_and(|e| e.contains("out of range")));
        for bad in ["1:2", "1:2:3:4", "1::2", "-1:2:3"] {
            assert!(large_community(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn communities_are_shown_as_written() {
        assert_eq!(show_community(&(65000 << 16 | 100)), "community 65000:100");
        assert_eq!(show_community(&0xffff_ff02), "community no-advertise");
    }
}

//! Checks across `[bgp]` and the sections it refers to: unique neighbor
//! names and addresses, unique prefixes, and the references of each
//! announcement to neighbors, VRRP instances and frontends. As in
//! [`crate::validate`], an error points at the second occurrence and
//! names the line of the first.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::diag::Sink;
use crate::model::{AnnouncePolicy, Family};
use crate::sections::bgp::{AnnounceAt, BgpAt};
use crate::sections::frontend::FrontendAt;
use crate::sections::vrrp::VrrpAt;

use super::unique_names;
use super::vrrp::hint;

pub(crate) fn cross_check(bgp: &BgpAt, vrrp: &VrrpAt, frontends: &[FrontendAt], sink: &mut Sink) {
    unique_names(
        "bgp neighbor",
        bgp.neighbors
            .iter()
            .filter_map(|n| Some((n.neighbor.name.as_str(), n.name.clone()?))),
        sink,
    );
    unique_addresses(bgp, sink);
    unique_prefixes(bgp, sink);
    policy_references(bgp, vrrp, frontends, sink);
    for a in &bgp.announces {
        neighbor_references(bgp, a, sink);
    }
}

/// Two sessions to one address would be one TCP peer to the kernel (one
/// MD5 key, one connection), and the router would see a collision.
fn unique_addresses(bgp: &BgpAt, sink: &mut Sink) {
    let mut seen: HashMap<IpAddr, (&str, usize)> = HashMap::new();
    for n in &bgp.neighbors {
        let Some(span) = n.address.clone() else {
            continue;
        };
        let addr = n.neighbor.address;
        match seen.get(&addr) {
            Some(&(first, at)) => {
                let line = sink.line(at);
                sink.error(
                    span,
                    format!(
                        "neighbor address {addr} is already used by neighbor `{first}` (line \
                         {line})"
                    ),
                );
            }
            None => {
                seen.insert(addr, (n.neighbor.name.as_str(), span.start));
            }
        }
    }
}

/// One prefix, one set of attributes: two announcements of it would
/// leave the routers with whichever was sent last.
fn unique_prefixes(bgp: &BgpAt, sink: &mut Sink) {
    let mut seen: HashMap<IpNet, usize> = HashMap::new();
    for a in &bgp.announces {
        let Some(span) = a.prefix.clone() else {
            continue;
        };
        let prefix = a.announce.prefix;
        match seen.get(&prefix) {
            Some(&at) => {
                let line = sink.line(at);
                sink.error(
                    span,
                    format!(
                        "prefix {prefix} is already announced (line {line}); give each prefix \
                         one [[bgp.announce]]"
                    ),
                );
            }
            None => {
                seen.insert(prefix, span.start);
            }
        }
    }
}

fn policy_references(bgp: &BgpAt, vrrp: &VrrpAt, frontends: &[FrontendAt], sink: &mut Sink) {
    let instances: Vec<&str> = vrrp
        .instances
        .iter()
        .filter(|i| i.name.is_some())
        .map(|i| i.instance.name.as_str())
        .collect();
    let fronts: Vec<&str> = frontends
        .iter()
        .filter(|f| f.name.is_some())
        .map(|f| f.frontend.name.as_str())
        .collect();
    for a in &bgp.announces {
        let Some(span) = a.policy.clone() else {
            continue;
        };
        let (kind, wanted, hint) = match &a.announce.policy {
            AnnouncePolicy::Always => continue,
            AnnouncePolicy::WhileMaster(name) => (
                "vrrp instance",
                name,
                hint(name, &instances, "[[vrrp.instance]]", "instances"),
            ),
            AnnouncePolicy::WhileHealthy { frontend, .. } => (
                "frontend",
                frontend,
                hint(frontend, &fronts, "[[frontend]]", "frontends"),
            ),
        };
        if let Some(hint) = hint {
            sink.error(span, format!("{kind} `{wanted}` is not defined{hint}"));
        }
    }
}

/// The neighbors an announcement names must exist and carry the prefix's
/// family; without names, at least one neighbor must carry it, or the
/// prefix would be announced to no one.
fn neighbor_references(bgp: &BgpAt, a: &AnnounceAt, sink: &mut Sink) {
    let Some(prefix_span) = a.prefix.clone() else {
        return;
    };
    let prefix = a.announce.prefix;
    let fam = Family::of(prefix.addr());
    let names: Vec<&str> = bgp
        .neighbors
        .iter()
        .filter(|n| n.name.is_some())
        .map(|n| n.neighbor.name.as_str())
        .collect();
    let Some(spans) = &a.neighbors else {
        if bgp.neighbors.iter().any(|n| n.neighbor.carries(fam)) {
            return;
        }
        let why = if bgp.neighbors.is_empty() {
            "no [[bgp.neighbor]] is defined".to_string()
        } else {
            format!(
                "no neighbor carries {}; add \"{}\" to a neighbor's `families`",
                fam.name(),
                fam.key()
            )
        };
        sink.error(
            prefix_span,
            format!("{prefix} would be announced to no neighbor: {why}"),
        );
        return;
    };
    for (wanted, span) in a.announce.neighbors.iter().zip(spans) {
        if let Some(hint) = hint(wanted, &names, "[[bgp.neighbor]]", "neighbors") {
            sink.error(
                span.clone(),
                format!("bgp neighbor `{wanted}` is not defined{hint}"),
            );
            continue;
        }
        let Some(n) = bgp.neighbors.iter().find(|n| n.neighbor.name == *wanted) else {
            continue;
        };
        if !n.neighbor.carries(fam) {
            let has: Vec<&str> = n.neighbor.families.iter().map(|f| f.key()).collect();
            sink.error(
                span.clone(),
                format!(
                    "neighbor `{wanted}` does not carry {} (its families: {}), so it cannot \
                     announce {prefix}",
                    fam.name(),
                    has.join(", ")
                ),
            );
        }
    }
}

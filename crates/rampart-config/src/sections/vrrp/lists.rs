//! The lists of a `[[vrrp.instance]]`: `virtual_addresses` and the
//! trackers. Each entry may be a plain string or a table:
//!
//! ```toml
//! virtual_addresses = ["203.0.113.10", { addr = "192.168.1.1/24", dev = "eth1", label = "eth1:gw" }]
//! track_interfaces = ["eth1", { name = "eth2", weight = -10 }]
//! track_scripts = ["chk_dns", { name = "chk_haproxy", weight = -20 }]
//! track_proxy = { frontend = "www", min_servers = 1, weight = 0 }
//! ```
//!
//! Also here: the reader for string-or-table entries.

use std::net::IpAddr;
use std::ops::Range;

use toml::Spanned;
use toml::de::DeValue;

use crate::defaults;
use crate::diag::Sink;
use crate::model::{Family, TrackIf, TrackProxy, TrackRef, Vip, VrrpVersion};
use crate::reader::{Reader, Table};
use crate::values::net::{IFNAME_MAX, cidr, ifname};
use crate::values::{self, Value};

use super::common::weight;

// === virtual_addresses ===

/// The addresses, each with the span of its address. Entries that are
/// refused (wrong family, listed twice) are left out, so the first entry
/// returned gives the instance's family.
pub(crate) fn virtual_addresses(
    t: &Reader,
    version: Option<VrrpVersion>,
    sink: &mut Sink,
) -> Vec<Spanned<Vip>> {
    let Some(v) = t.required("virtual_addresses", sink) else {
        return Vec::new();
    };
    if v.get_ref().as_array().is_some_and(|a| a.is_empty()) {
        sink.error(
            v.span(),
            "`virtual_addresses` must list at least one address",
        );
    }
    let mut out: Vec<Spanned<Vip>> = Vec::new();
    for item in items(v, "virtual_addresses", "virtual address", sink) {
        let vip = match item {
            Item::Str(value, s) => match cidr("virtual_addresses", s) {
                Ok(net) => Spanned::new(
                    value.span(),
                    Vip {
                        net,
                        dev: None,
                        label: None,
                    },
                ),
                Err(e) => {
                    sink.error(value.span(), e);
                    continue;
                }
            },
            Item::Table(t) => match t.read(sink, vip_table) {
                Some(vip) => vip,
                None => continue,
            },
        };
        let ip = vip.get_ref().net.addr();
        let first = out.first().map(|f| Family::of(f.get_ref().net.addr()));
        let message = if version == Some(VrrpVersion::V2) && ip.is_ipv6() {
            format!(
                "virtual address {ip} is IPv6, which VRRPv2 cannot carry; use `version = 3` \
                 for IPv6"
            )
        } else if let Some(f) = first.filter(|f| *f != Family::of(ip)) {
            format!(
                "virtual address {ip} is {} but this instance is {} (from its first \
                 address); use one instance per family",
                Family::of(ip).name(),
                f.name()
            )
        } else if let Some(dup) = out.iter().find(|o| o.get_ref().net.addr() == ip) {
            let line = sink.line(dup.span().start);
            format!("virtual address {ip} is listed twice in this instance (first on line {line})")
        } else {
            out.push(vip);
            continue;
        };
        sink.error(vip.span(), message);
    }
    out
}

/// `{ addr = "...", dev = "...", label = "..." }`.
fn vip_table(t: &Reader, sink: &mut Sink) -> Option<Spanned<Vip>> {
    let addr = t.req("addr", sink, |v, key, sink| {
        let s = values::string(v, key, sink)?;
        let net = cidr(key, s).map_err(|e| sink.error(v.span(), e)).ok()?;
        Some(Spanned::new(v.span(), net))
    });
    let dev = t.opt("dev", sink, ifname);
    let ip = addr.as_ref().map(|a| a.get_ref().addr());
    let label = t.opt("label", sink, |v, key, sink| {
        label(v, key, ip, sink)
            .then(|| v.get_ref().as_str())
            .flatten()
    });
    let addr = addr?;
    Some(Spanned::new(
        addr.span(),
        Vip {
            net: addr.into_inner(),
            dev: dev.map(Spanned::into_inner),
            label: label.map(str::to_string),
        },
    ))
}

/// Linux keeps labels for IPv4 addresses only, in IFNAMSIZ bytes. The
/// ip-address(8) page says a label starts with the device name (the
/// `eth0:1` alias convention), but neither the kernel nor iproute2
/// enforces it, and the seed guide's `label gateway:0` on `enp1s0f1` works
/// with keepalived: so any label that fits is accepted. Returns whether
/// the label is good.
fn label(v: &Value, key: &str, ip: Option<IpAddr>, sink: &mut Sink) -> bool {
    let Some(s) = values::string(v, key, sink) else {
        return false;
    };
    let problem = if ip.is_some_and(|ip| ip.is_ipv6()) {
        "Linux has address labels only for IPv4 addresses".to_string()
    } else if s.len() > IFNAME_MAX {
        format!(
            "`{s}` is {} bytes; Linux allows at most {IFNAME_MAX}",
            s.len()
        )
    } else {
        return true;
    };
    sink.error(v.span(), format!("`{key}`: {problem}"));
    false
}

// === trackers ===

/// `track_proxy = { ... }` and the span of its `frontend` value.
pub(crate) fn track_proxy(
    t: &Reader,
    sink: &mut Sink,
) -> (Option<TrackProxy>, Option<Range<usize>>) {
    match t.table("track_proxy", "`track_proxy`", sink) {
        Some(p) => p.read(sink, proxy_tracker),
        None => (None, None),
    }
}

fn proxy_tracker(p: &Reader, sink: &mut Sink) -> (Option<TrackProxy>, Option<Range<usize>>) {
    let frontend = p.req("frontend", sink, values::reference);
    // 0 would never fail: the tracker would track nothing.
    let min_servers = p
        .integer("min_servers", 1, u32::MAX, sink)
        .unwrap_or(defaults::TRACK_MIN_SERVERS);
    let weight = p
        .opt("weight", sink, weight)
        .unwrap_or(defaults::TRACK_WEIGHT);
    let tracker = TrackProxy {
        frontend: frontend
            .as_ref()
            .map(|f| f.get_ref().to_string())
            .unwrap_or_default(),
        min_servers,
        weight,
    };
    (Some(tracker), frontend.map(|f| f.span()))
}

/// `track_interfaces = ["eth1", { name = "eth2", weight = -10 }]`.
pub(crate) fn track_interfaces(t: &Reader, sink: &mut Sink) -> Vec<TrackIf> {
    let Some(v) = t.get("track_interfaces") else {
        return Vec::new();
    };
    let mut out: Vec<Spanned<TrackIf>> = Vec::new();
    for item in items(v, "track_interfaces", "`track_interfaces`", sink) {
        let (name, weight) = match item {
            Item::Str(value, _) => (
                ifname(value, "track_interfaces", sink),
                defaults::TRACK_WEIGHT,
            ),
            Item::Table(t) => t.read(sink, |t, sink| {
                let name = t.req("name", sink, ifname);
                let w = t.opt("weight", sink, weight);
                (name, w.unwrap_or(defaults::TRACK_WEIGHT))
            }),
        };
        let Some(name) = name else { continue };
        let tracked = TrackIf {
            name: name.get_ref().clone(),
            weight,
        };
        push_unique(
            &mut out,
            Spanned::new(name.span(), tracked),
            |i| &i.name,
            "interface",
            sink,
        );
    }
    out.into_iter().map(Spanned::into_inner).collect()
}

/// `track_scripts = ["chk_dns", { name = "chk_haproxy", weight = -20 }]`,
/// each with the span of its name for the reference check.
pub(crate) fn track_scripts(t: &Reader, sink: &mut Sink) -> Vec<Spanned<TrackRef>> {
    let Some(v) = t.get("track_scripts") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items(v, "track_scripts", "`track_scripts`", sink) {
        let (name, weight) = match item {
            Item::Str(value, s) => (Some(Spanned::new(value.span(), s.to_string())), None),
            Item::Table(t) => t.read(sink, |t, sink| {
                let name = t.req("name", sink, values::reference);
                (name, t.opt("weight", sink, weight))
            }),
        };
        let Some(name) = name else { continue };
        let span = name.span();
        let r = TrackRef {
            name: name.into_inner(),
            weight,
        };
        push_unique(&mut out, Spanned::new(span, r), |r| &r.name, "script", sink);
    }
    out
}

/// Adds a tracker unless one of that name is already there: tracking a
/// thing twice would count its weight twice.
fn push_unique<T>(
    out: &mut Vec<Spanned<T>>,
    item: Spanned<T>,
    name: impl Fn(&T) -> &String,
    kind: &str,
    sink: &mut Sink,
) {
    let n = name(item.get_ref());
    if out.iter().any(|o| name(o.get_ref()) == n) {
        sink.error(
            item.span(),
            format!("{kind} `{n}` is tracked twice in this instance"),
        );
    } else {
        out.push(item);
    }
}

// === String-or-table entries ===

/// Each entry of a list that takes plain strings or tables, such as
/// `track_interfaces = ["eth1", { name = "eth2", weight = -10 }]`.
pub(crate) enum Item<'a, 'i> {
    Str(&'a Value<'i>, &'a str),
    Table(Table<'a, 'i>),
}

pub(crate) fn items<'a, 'i>(
    v: &'a Value<'i>,
    key: &str,
    what: &'static str,
    sink: &mut Sink,
) -> Vec<Item<'a, 'i>> {
    let Some(values) = values::array(v, key, sink) else {
        return Vec::new();
    };
    let each = format!("{key}[]");
    values
        .iter()
        .filter_map(|item| match item.get_ref() {
            DeValue::String(s) => Some(Item::Str(item, s)),
            DeValue::Table(_) => Table::of(item, &each, item.span(), what, sink).map(Item::Table),
            _ => {
                values::type_error(item, &each, "a string or a table", sink);
                None
            }
        })
        .collect()
}

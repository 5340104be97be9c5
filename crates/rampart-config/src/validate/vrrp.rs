//! Checks across `[vrrp]`: unique names, one virtual router per
//! (interface, vrid, family), and references to frontends, scripts and
//! instances. As in [`crate::validate`], an error points at the second
//! occurrence and names the line of the first.

use std::collections::HashMap;
use std::ops::Range;

use crate::diag::{Sink, did_you_mean};
use crate::model::Family;
use crate::sections::frontend::FrontendAt;
use crate::sections::vrrp::VrrpAt;

use super::unique_names;

pub(crate) fn cross_check(vrrp: &VrrpAt, frontends: &[FrontendAt], sink: &mut Sink) {
    unique_names(
        "vrrp instance",
        vrrp.instances
            .iter()
            .filter_map(|i| Some((i.instance.name.as_str(), i.name.clone()?))),
        sink,
    );
    unique_names(
        "vrrp script",
        vrrp.scripts
            .iter()
            .filter_map(|s| Some((s.script.name.as_str(), s.name.clone()?))),
        sink,
    );
    unique_names(
        "sync group",
        vrrp.groups
            .iter()
            .filter_map(|g| Some((g.group.name.as_str(), g.name.clone()?))),
        sink,
    );
    unique_vrids(vrrp, sink);
    frontend_references(vrrp, frontends, sink);
    script_references(vrrp, sink);
    group_members(vrrp, sink);
}

/// Two instances with one vrid on one link and family would be one virtual
/// router to everybody else: they share its virtual MAC and their adverts
/// are indistinguishable.
fn unique_vrids(vrrp: &VrrpAt, sink: &mut Sink) {
    let mut seen: HashMap<(&str, u8, Family), (&str, usize)> = HashMap::new();
    for i in &vrrp.instances {
        let inst = &i.instance;
        let (Some(span), Some(vip)) = (i.vrid.clone(), inst.vips.first()) else {
            continue;
        };
        let fam = Family::of(vip.net.addr());
        let key = (inst.interface.as_str(), inst.vrid, fam);
        match seen.get(&key) {
            Some(&(first, at)) => {
                let line = sink.line(at);
                sink.error(
                    span,
                    format!(
                        "vrid {} on `{}` ({}) is already used by instance `{first}` (line \
                         {line}); each virtual router on a link needs its own vrid",
                        inst.vrid,
                        inst.interface,
                        fam.name()
                    ),
                );
            }
            None => {
                seen.insert(key, (inst.name.as_str(), span.start));
            }
        }
    }
}

fn frontend_references(vrrp: &VrrpAt, frontends: &[FrontendAt], sink: &mut Sink) {
    let names: Vec<&str> = frontends
        .iter()
        .filter(|f| f.name.is_some())
        .map(|f| f.frontend.name.as_str())
        .collect();
    for i in &vrrp.instances {
        let (Some(span), Some(p)) = (i.proxy_frontend.clone(), &i.instance.track_proxy) else {
            continue;
        };
        let hint = hint(&p.frontend, &names, "[[frontend]]", "frontends");
        if let Some(hint) = hint {
            let wanted = &p.frontend;
            sink.error(span, format!("frontend `{wanted}` is not defined{hint}"));
        }
    }
}

fn script_references(vrrp: &VrrpAt, sink: &mut Sink) {
    let names: Vec<&str> = vrrp
        .scripts
        .iter()
        .filter(|s| s.name.is_some())
        .map(|s| s.script.name.as_str())
        .collect();
    for i in &vrrp.instances {
        for (r, span) in i.instance.track_scripts.iter().zip(&i.scripts) {
            if let Some(hint) = hint(&r.name, &names, "[[vrrp.script]]", "scripts") {
                let wanted = &r.name;
                sink.error(
                    span.clone(),
                    format!("vrrp script `{wanted}` is not defined{hint}"),
                );
            }
        }
    }
}

/// Members must exist, and an instance belongs to one group at most: two
/// groups would each try to drive it into their own state.
fn group_members(vrrp: &VrrpAt, sink: &mut Sink) {
    let names: Vec<&str> = vrrp
        .instances
        .iter()
        .filter(|i| i.name.is_some())
        .map(|i| i.instance.name.as_str())
        .collect();
    let mut owner: HashMap<&str, (&str, Range<usize>)> = HashMap::new();
    for g in &vrrp.groups {
        for (member, span) in g.group.members.iter().zip(&g.members) {
            if let Some(hint) = hint(member, &names, "[[vrrp.instance]]", "instances") {
                sink.error(
                    span.clone(),
                    format!("vrrp instance `{member}` is not defined{hint}"),
                );
                continue;
            }
            match owner.get(member.as_str()) {
                Some((group, first)) => {
                    let line = sink.line(first.start);
                    let place = if *group == g.group.name {
                        "is listed twice in this group".to_string()
                    } else {
                        format!("is already in sync group `{group}`")
                    };
                    sink.error(
                        span.clone(),
                        format!(
                            "instance `{member}` {place} (line {line}); an instance can be in \
                             one sync group only"
                        ),
                    );
                }
                None => {
                    owner.insert(member, (g.group.name.as_str(), span.clone()));
                }
            }
        }
    }
}

/// `None` when `wanted` is among `names`; otherwise the end of a "not
/// defined" message: a suggestion, or the list of what is defined.
pub(crate) fn hint(wanted: &str, names: &[&str], section: &str, plural: &str) -> Option<String> {
    if names.contains(&wanted) {
        return None;
    }
    Some(match did_you_mean(wanted, names) {
        Some(close) => format!("; did you mean `{close}`?"),
        None if names.is_empty() => format!("; no {section} is defined"),
        None => format!(" (defined {plural}: {})", names.join(", ")),
    })
}

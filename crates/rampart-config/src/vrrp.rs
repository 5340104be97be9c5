//! `[vrrp]`: its own settings, `[[vrrp.script]]` and `[[vrrp.sync_group]]`,
//! plus the leaf parsers that instances share with them (interface names,
//! weights, argv hooks, GARP timing). Instances are in
//! [`crate::vrrp_instance`]; checks across them in [`crate::validate_vrrp`].

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use crate::defaults;
use crate::diag::Sink;
use crate::frontend::{name, one_of};
use crate::model::{
    Garp, Notify, NotifyStyle, SyncGroup, TrackScript, V3Checksum, Vrrp, VrrpVersion,
};
use crate::vrrp_instance::{self, Inherited, InstanceAt};
use crate::walk::{self, Table, Value};

/// keepalived's weight range: a weight moves a priority of 1 to 255 or back.
pub(crate) const WEIGHT_MAX: i32 = 254;

/// Linux `IFNAMSIZ` less the terminating zero.
pub(crate) const IFNAME_MAX: usize = 15;

/// The parsed section plus the places that checks across it point at.
pub(crate) struct VrrpAt {
    pub(crate) garp: Garp,
    pub(crate) notify_timeout: Duration,
    pub(crate) instances: Vec<InstanceAt>,
    pub(crate) scripts: Vec<ScriptAt>,
    pub(crate) groups: Vec<GroupAt>,
}

impl Default for VrrpAt {
    fn default() -> Self {
        let v = Vrrp::default();
        VrrpAt {
            garp: v.garp,
            notify_timeout: v.notify_timeout,
            instances: Vec::new(),
            scripts: Vec::new(),
            groups: Vec::new(),
        }
    }
}

impl VrrpAt {
    pub(crate) fn into_model(self) -> Vrrp {
        Vrrp {
            garp: self.garp,
            notify_timeout: self.notify_timeout,
            instances: self.instances.into_iter().map(|i| i.instance).collect(),
            scripts: self.scripts.into_iter().map(|s| s.script).collect(),
            sync_groups: self.groups.into_iter().map(|g| g.group).collect(),
        }
    }
}

pub(crate) struct ScriptAt {
    pub(crate) script: TrackScript,
    pub(crate) name: Option<Range<usize>>,
}

pub(crate) struct GroupAt {
    pub(crate) group: SyncGroup,
    pub(crate) name: Option<Range<usize>>,
    /// The span of each entry of `group.members`.
    pub(crate) members: Vec<Range<usize>>,
}

// === [vrrp] ===

pub(crate) fn vrrp(t: &Table, sink: &mut Sink) -> VrrpAt {
    t.deny_unknown(
        &[
            "garp",
            "notify_timeout",
            "version",
            "checksum",
            "instance",
            "script",
            "sync_group",
        ],
        sink,
    );
    let mut out = VrrpAt::default();
    if let Some(g) = t
        .entry("garp")
        .and_then(|(key, v)| Table::of(v, "garp", key, "`garp`", sink))
    {
        out.garp = garp(&g, &out.garp, sink);
    }
    // Zero would kill every hook before it could do anything.
    if let Some(d) = t
        .get("notify_timeout")
        .and_then(|v| walk::duration(v, "notify_timeout", true, sink))
    {
        out.notify_timeout = d;
    }
    let inherited = Inherited {
        version: t
            .get("version")
            .and_then(|v| version(v, sink))
            .unwrap_or(defaults::VRRP_VERSION),
        checksum: t
            .get("checksum")
            .and_then(|v| checksum(v, sink))
            .unwrap_or(defaults::VRRP_V3_CHECKSUM),
        garp: out.garp,
    };
    let sections = |key: &str, what: &'static str, sink: &mut Sink| match t.entry(key) {
        Some((span, v)) => walk::tables(v, key, &format!("vrrp.{key}"), span, what, sink),
        None => Vec::new(),
    };
    out.instances = sections("instance", "vrrp instance", sink)
        .iter()
        .map(|i| vrrp_instance::instance(i, &inherited, sink))
        .collect();
    out.scripts = sections("script", "vrrp script", sink)
        .iter()
        .map(|s| script(s, sink))
        .collect();
    out.groups = sections("sync_group", "sync group", sink)
        .iter()
        .map(|g| sync_group(g, sink))
        .collect();
    out
}

/// `garp = { ... }`, key by key over `base`: an instance that only sets
/// `repeat` keeps the section's `delay`.
pub(crate) fn garp(t: &Table, base: &Garp, sink: &mut Sink) -> Garp {
    t.deny_unknown(&["repeat", "delay", "refresh", "interval"], sink);
    let mut g = *base;
    // keepalived refuses 0: a master that announces nothing leaves the
    // switches sending the VIP's traffic to the old master.
    if let Some(n) = t
        .get("repeat")
        .and_then(|v| walk::integer(v, "repeat", 1, u32::MAX, sink))
    {
        g.repeat = n;
    }
    // Zero is meaningful for all three: no second burst, no refresh, no gap.
    let read =
        |key: &str, sink: &mut Sink| t.get(key).and_then(|v| walk::duration(v, key, false, sink));
    if let Some(d) = read("delay", sink) {
        g.delay = d;
    }
    if let Some(d) = read("refresh", sink) {
        g.refresh = d;
    }
    if let Some(d) = read("interval", sink) {
        g.interval = d;
    }
    g
}

/// `version = 2` or `3`.
pub(crate) fn version(v: &Value, sink: &mut Sink) -> Option<VrrpVersion> {
    match walk::integer(v, "version", 2, 3, sink)? {
        2 => Some(VrrpVersion::V2),
        _ => Some(VrrpVersion::V3),
    }
}

pub(crate) fn checksum(v: &Value, sink: &mut Sink) -> Option<V3Checksum> {
    let s = walk::string(v, "checksum", sink)?;
    let c = V3Checksum::from_name(s);
    if c.is_none() {
        sink.error(v.span(), one_of("checksum", s, &V3Checksum::NAMES));
    }
    c
}

// === [[vrrp.script]] ===

fn script(t: &Table, sink: &mut Sink) -> ScriptAt {
    t.deny_unknown(
        &[
            "name", "command", "interval", "timeout", "fall", "rise", "weight",
        ],
        sink,
    );
    let name = t.required("name", sink).and_then(|v| name(v, "name", sink));
    let command = t
        .required("command", sink)
        .and_then(|v| argv(v, "command", sink));
    // Zero would run the script in a busy loop, or fail every run.
    let interval = t
        .get("interval")
        .and_then(|v| walk::duration(v, "interval", true, sink))
        .unwrap_or(defaults::SCRIPT_INTERVAL);
    let timeout = t
        .get("timeout")
        .and_then(|v| walk::duration(v, "timeout", true, sink))
        .unwrap_or(interval);
    let count = |key: &str, default: u32, sink: &mut Sink| {
        t.get(key)
            .and_then(|v| walk::integer(v, key, 1, u32::MAX, sink))
            .unwrap_or(default)
    };
    let fall = count("fall", defaults::SCRIPT_FALL, sink);
    let rise = count("rise", defaults::SCRIPT_RISE, sink);
    let weight = t
        .get("weight")
        .and_then(|v| weight(v, "weight", sink))
        .unwrap_or(defaults::TRACK_WEIGHT);
    ScriptAt {
        script: TrackScript {
            name: name
                .as_ref()
                .map(|n| n.get_ref().clone())
                .unwrap_or_default(),
            command: command.unwrap_or_default(),
            interval,
            timeout,
            fall,
            rise,
            weight,
        },
        name: name.map(|n| n.span()),
    }
}

// === [[vrrp.sync_group]] ===

fn sync_group(t: &Table, sink: &mut Sink) -> GroupAt {
    t.deny_unknown(&["name", "members", "notify"], sink);
    let name = t.required("name", sink).and_then(|v| name(v, "name", sink));
    let list = t
        .required("members", sink)
        .and_then(|v| walk::array(v, "members", sink).map(|items| (v, items)));
    let mut members = Vec::new();
    if let Some((v, items)) = list {
        // One member would be a group that synchronises nothing.
        if items.len() < 2 {
            sink.error(
                v.span(),
                format!(
                    "a sync group needs at least two members, got {}",
                    items.len()
                ),
            );
        }
        members = items
            .iter()
            .filter_map(|i| walk::string(i, "members[]", sink).map(|s| (s, i.span())))
            .map(|(s, span)| Spanned::new(span, s.to_string()))
            .collect();
    }
    let notify = t
        .entry("notify")
        .and_then(|(key, v)| Table::of(v, "notify", key, "`notify`", sink))
        .map(|n| notify(&n, sink))
        .unwrap_or_default();
    GroupAt {
        group: SyncGroup {
            name: name
                .as_ref()
                .map(|n| n.get_ref().clone())
                .unwrap_or_default(),
            members: members.iter().map(|m| m.get_ref().clone()).collect(),
            notify,
        },
        name: name.map(|n| n.span()),
        members: members.iter().map(Spanned::span).collect(),
    }
}

// === Leaf parsers ===

/// `notify = { master = [...], ... }`.
pub(crate) fn notify(t: &Table, sink: &mut Sink) -> Notify {
    t.deny_unknown(&["master", "backup", "fault", "stop", "any", "style"], sink);
    let hook = |key: &str, sink: &mut Sink| t.get(key).and_then(|v| argv(v, key, sink));
    let style = t.get("style").and_then(|v| {
        let s = walk::string(v, "style", sink)?;
        let style = NotifyStyle::from_name(s);
        if style.is_none() {
            sink.error(v.span(), one_of("style", s, &NotifyStyle::NAMES));
        }
        style
    });
    Notify {
        master: hook("master", sink),
        backup: hook("backup", sink),
        fault: hook("fault", sink),
        stop: hook("stop", sink),
        any: hook("any", sink),
        style: style.unwrap_or_default(),
    }
}

/// A command as an argv: run without a shell, so there is no quoting to
/// get wrong and no PATH to depend on; hence the absolute program path.
pub(crate) fn argv(v: &Value, key: &str, sink: &mut Sink) -> Option<Vec<String>> {
    let items = walk::array(v, key, sink)?;
    let Some(program) = items.first() else {
        sink.error(
            v.span(),
            format!("`{key}` must not be empty: write [\"/path/to/program\", \"arg\", ...]"),
        );
        return None;
    };
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for item in items {
        match walk::string(item, &format!("{key}[]"), sink) {
            // exec() takes C strings; a zero byte would cut the argument.
            Some(s) if s.contains('\0') => {
                sink.error(
                    item.span(),
                    format!("`{key}`: arguments cannot contain a zero byte"),
                );
                ok = false;
            }
            Some(s) => out.push(s.to_string()),
            None => ok = false,
        }
    }
    if let Some(p) = out.first().filter(|p| ok && !p.starts_with('/')) {
        sink.error(
            program.span(),
            format!(
                "`{key}`: the program `{p}` must be an absolute path, since commands run \
                 without a shell or PATH lookup (`command -v {p}` prints it)"
            ),
        );
        ok = false;
    }
    ok.then_some(out)
}

/// A priority weight: -254..=254.
pub(crate) fn weight(v: &Value, key: &str, sink: &mut Sink) -> Option<i32> {
    walk::signed(v, key, -WEIGHT_MAX, WEIGHT_MAX, sink)
}

/// A network interface name as Linux accepts it (`dev_valid_name`).
pub(crate) fn ifname(v: &Value, key: &str, sink: &mut Sink) -> Option<Spanned<String>> {
    let s = walk::string(v, key, sink)?;
    if let Err(e) = check_ifname(s) {
        sink.error(v.span(), format!("`{key}`: {e}"));
        return None;
    }
    Some(Spanned::new(v.span(), s.to_string()))
}

fn check_ifname(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("an interface name must not be empty".to_string());
    }
    if s.len() > IFNAME_MAX {
        return Err(format!(
            "`{s}` is {} bytes; Linux interface names have at most {IFNAME_MAX}",
            s.len()
        ));
    }
    if s == "." || s == ".." || s.chars().any(|c| c == '/' || c == ':' || c.is_whitespace()) {
        return Err(format!(
            "`{s}` is not a valid interface name (no '/', ':' or spaces)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_ifname;

    #[test]
    fn interface_names() {
        assert!(check_ifname("eth0").is_ok());
        assert!(check_ifname("enp1s0f1.100").is_ok());
        assert!(check_ifname("a23456789012345").is_ok());
        assert!(check_ifname("a234567890123456").is_err_and(|e| e.contains("at most 15")));
        assert!(check_ifname("").is_err());
        assert!(check_ifname("..").is_err());
        assert!(check_ifname("eth0:1").is_err());
        assert!(check_ifname("eth 0").is_err());
        assert!(check_ifname("a/b").is_err());
    }
}

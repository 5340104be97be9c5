//! `[vrrp]`: its own settings, `[[vrrp.script]]` and `[[vrrp.sync_group]]`.
//! Instances are in [`instance`] (their lists in [`lists`]), what the
//! section and its instances both read in [`common`]; checks across
//! instances, scripts and groups are in [`crate::validate::vrrp`].

mod common;
mod instance;
mod lists;

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use crate::defaults;
use crate::diag::Sink;
use crate::model::{Garp, SyncGroup, TrackScript, Vrrp};
use crate::reader::{self, Table};
use crate::values::{self, name};
use common::{argv, checksum, garp, notify, version, weight};
use instance::{Inherited, InstanceAt};

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
        .and_then(|v| values::duration(v, "notify_timeout", true, sink))
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
        Some((span, v)) => reader::tables(v, key, &format!("vrrp.{key}"), span, what, sink),
        None => Vec::new(),
    };
    out.instances = sections("instance", "vrrp instance", sink)
        .iter()
        .map(|i| instance::instance(i, &inherited, sink))
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
        .and_then(|v| values::duration(v, "interval", true, sink))
        .unwrap_or(defaults::SCRIPT_INTERVAL);
    let timeout = t
        .get("timeout")
        .and_then(|v| values::duration(v, "timeout", true, sink))
        .unwrap_or(interval);
    let count = |key: &str, default: u32, sink: &mut Sink| {
        t.get(key)
            .and_then(|v| values::integer(v, key, 1, u32::MAX, sink))
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
        .and_then(|v| values::array(v, "members", sink).map(|items| (v, items)));
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
            .filter_map(|i| values::string(i, "members[]", sink).map(|s| (s, i.span())))
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

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
use crate::reader::Reader;
use crate::values::{self, Value, name};
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

pub(crate) fn vrrp(t: &Reader, sink: &mut Sink) -> VrrpAt {
    let mut out = VrrpAt::default();
    if let Some(g) = t.table("garp", "`garp`", sink) {
        out.garp = g.read(sink, |g, sink| garp(g, &out.garp, sink));
    }
    // Zero would kill every hook before it could do anything.
    if let Some(d) = t.duration("notify_timeout", true, sink) {
        out.notify_timeout = d;
    }
    let inherited = Inherited {
        version: t
            .opt("version", sink, version)
            .unwrap_or(defaults::VRRP_VERSION),
        checksum: t
            .opt("checksum", sink, checksum)
            .unwrap_or(defaults::VRRP_V3_CHECKSUM),
        garp: out.garp,
    };
    out.instances = t
        .tables("instance", "vrrp.instance", "vrrp instance", sink)
        .iter()
        .map(|i| i.read(sink, |i, sink| instance::instance(i, &inherited, sink)))
        .collect();
    out.scripts = t
        .tables("script", "vrrp.script", "vrrp script", sink)
        .iter()
        .map(|s| s.read(sink, script))
        .collect();
    out.groups = t
        .tables("sync_group", "vrrp.sync_group", "sync group", sink)
        .iter()
        .map(|g| g.read(sink, sync_group))
        .collect();
    out
}

// === [[vrrp.script]] ===

fn script(t: &Reader, sink: &mut Sink) -> ScriptAt {
    let name = t.req("name", sink, name);
    let command = t.req("command", sink, argv);
    // Zero would run the script in a busy loop, or fail every run.
    let interval = t
        .duration("interval", true, sink)
        .unwrap_or(defaults::SCRIPT_INTERVAL);
    let timeout = t.duration("timeout", true, sink).unwrap_or(interval);
    let fall = t
        .integer("fall", 1, u32::MAX, sink)
        .unwrap_or(defaults::SCRIPT_FALL);
    let rise = t
        .integer("rise", 1, u32::MAX, sink)
        .unwrap_or(defaults::SCRIPT_RISE);
    let weight = t
        .opt("weight", sink, weight)
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

fn sync_group(t: &Reader, sink: &mut Sink) -> GroupAt {
    let name = t.req("name", sink, name);
    let members = t.req("members", sink, members).unwrap_or_default();
    let notify = t
        .table("notify", "`notify`", sink)
        .map(|n| n.read(sink, notify))
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

/// A sync group's `members`: instance names, at least two.
fn members(v: &Value, key: &str, sink: &mut Sink) -> Option<Vec<Spanned<String>>> {
    let items = values::array(v, key, sink)?;
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
    let each = format!("{key}[]");
    let members = items
        .iter()
        .filter_map(|i| {
            values::string(i, &each, sink).map(|s| Spanned::new(i.span(), s.to_string()))
        })
        .collect();
    Some(members)
}

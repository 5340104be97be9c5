//! A reload's `[vrrp]` change set: the running and the new validated config
//! compared instance by instance (by name, so reordering changes nothing),
//! sync group by group and script by script. The supervisor refuses the
//! reload if [`diff`] does, and otherwise hands the change set to the
//! driver at commit, which applies it as a whole (`Driver::reconfigure`).
//!
//! What cannot change in place is an instance's identity on the wire: its
//! interface, VRID, protocol version and address family. An instance
//! under the same name with another identity is another virtual router:
//! replacing it silently would be an election (the flap a reload in place
//! exists to avoid), and for the hand-over the old and the new one would
//! run side by side under one name (in status, notify hooks, BGP's
//! `while_master`). Such a reload is refused with the instance and field
//! named; renaming the instance says "remove this one, add that one",
//! which a reload does.

use std::fmt;
use std::time::Duration;

use ipnet::IpNet;
use rampart_config::{Config, VrrpInstance, VrrpVersion};

/// What a reload does to `[vrrp]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VrrpChange {
    /// Every instance of either config: the new config's in its order,
    /// then the removed ones.
    pub instances: Vec<(String, InstanceChange)>,
    pub groups: Vec<(String, Change)>,
    pub scripts: Vec<(String, Change)>,
    /// `notify_timeout`, if it changed: (old, new).
    pub notify_timeout: Option<(Duration, Duration)>,
}

/// What happens to one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceChange {
    /// Keeps running as it is: no event reaches it.
    Unchanged,
    /// Starts as configured (Initialize, then Startup).
    Added,
    /// Stops gracefully: priority 0 if master, addresses released once
    /// the peer has taken over.
    Removed,
    /// Reconfigured in place; the next advert carries the change.
    Changed(Vec<Field>),
}

/// A group or a script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Unchanged,
    Added,
    Removed,
    Changed,
}

/// One setting of an instance that a reload changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    Priority {
        from: u8,
        to: u8,
    },
    AdvertInterval {
        from: Duration,
        to: Duration,
    },
    Preempt,
    PreemptDelay,
    /// `state` (only matters at start; kept for the record).
    InitialState,
    Auth,
    Checksum,
    /// Virtual addresses put on or taken off in place (a changed prefix,
    /// device or label is one removed and one added).
    Vips {
        added: Vec<IpNet>,
        removed: Vec<IpNet>,
    },
    UnicastSrc,
    UnicastPeers,
    UnicastTtl,
    UnicastMinTtl,
    /// `track_proxy`, or the backend its frontend forwards to.
    TrackProxy,
    TrackInterfaces,
    TrackScripts,
    Notify,
    /// The instance's gratuitous ARP timing (its own or `[vrrp].garp`).
    Garp,
}

/// Why a reload cannot apply the new `[vrrp]` section in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub instance: String,
    pub field: &'static str,
    pub from: String,
    pub to: String,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "VRRP instance {}: {} cannot change in place ({} -> {}): it would be another \
             virtual router on the wire; give the instance a new name to replace it \
             (the old one hands over with priority 0, the new one starts), or restart",
            self.instance, self.field, self.from, self.to
        )
    }
}

/// Compares the `[vrrp]` parts of two validated configs.
pub fn diff(old: &Config, new: &Config) -> Result<VrrpChange, Refused> {
    let (ov, nv) = (&old.vrrp, &new.vrrp);
    let mut instances = Vec::new();
    for n in &nv.instances {
        let change = match ov.instances.iter().find(|o| o.name == n.name) {
            None => InstanceChange::Added,
            Some(o) => {
                identity(o, n)?;
                let fields = fields(old, o, new, n);
                if fields.is_empty() {
                    InstanceChange::Unchanged
                } else {
                    InstanceChange::Changed(fields)
                }
            }
        };
        instances.push((n.name.clone(), change));
    }
    for o in &ov.instances {
        if !nv.instances.iter().any(|n| n.name == o.name) {
            instances.push((o.name.clone(), InstanceChange::Removed));
        }
    }
    let groups = by_name(
        &ov.sync_groups,
        &nv.sync_groups,
        |g| &g.name,
        |a, b| {
            let mut x = a.members.clone();
            let mut y = b.members.clone();
            x.sort();
            y.sort();
            x == y && a.notify == b.notify
        },
    );
    let scripts = by_name(&ov.scripts, &nv.scripts, |s| &s.name, |a, b| a == b);
    let notify_timeout =
        (ov.notify_timeout != nv.notify_timeout).then_some((ov.notify_timeout, nv.notify_timeout));
    Ok(VrrpChange {
        instances,
        groups,
        scripts,
        notify_timeout,
    })
}

impl VrrpChange {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.instances
            .iter()
            .all(|(_, c)| *c == InstanceChange::Unchanged)
            && self.groups.iter().all(|(_, c)| *c == Change::Unchanged)
            && self.scripts.iter().all(|(_, c)| *c == Change::Unchanged)
            && self.notify_timeout.is_none()
    }

    /// One line per change, for the log (nothing for unchanged ones).
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (name, c) in &self.instances {
            match c {
                InstanceChange::Unchanged => {}
                InstanceChange::Added => out.push(format!("VRRP instance {name} added")),
                InstanceChange::Removed => out.push(format!(
                    "VRRP instance {name} removed: it stops (priority 0 if master)"
                )),
                InstanceChange::Changed(fields) => {
                    let what: Vec<String> = fields.iter().map(Field::to_string).collect();
                    out.push(format!(
                        "VRRP instance {name} changed in place: {}",
                        what.join(", ")
                    ))
                }
            }
        }
        for (what, list) in [("sync group", &self.groups), ("script", &self.scripts)] {
            for (name, c) in list {
                let verb = match c {
                    Change::Unchanged => continue,
                    Change::Added => "added",
                    Change::Removed => "removed",
                    Change::Changed => "changed",
                };
                out.push(format!("VRRP {what} {name} {verb}"));
            }
        }
        if let Some((from, to)) = self.notify_timeout {
            out.push(format!("VRRP notify_timeout {from:?} -> {to:?}"));
        }
        out
    }

    /// Counts for the reload summary: (unchanged, changed, added, removed).
    pub fn counts(&self) -> [usize; 4] {
        let mut n = [0; 4];
        for (_, c) in &self.instances {
            n[match c {
                InstanceChange::Unchanged => 0,
                InstanceChange::Changed(_) => 1,
                InstanceChange::Added => 2,
                InstanceChange::Removed => 3,
            }] += 1;
        }
        n
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Priority { from, to } => write!(f, "priority {from} -> {to}"),
            Field::AdvertInterval { from, to } => {
                write!(f, "advert_interval {from:?} -> {to:?}")
            }
            Field::Vips { added, removed } => {
                let all: Vec<String> = (added.iter().map(|n| format!("+{n}")))
                    .chain(removed.iter().map(|n| format!("-{n}")))
                    .collect();
                if all.is_empty() {
                    f.write_str("virtual_addresses reordered")
                } else {
                    write!(f, "virtual_addresses {}", all.join(" "))
                }
            }
            other => f.write_str(match other {
                Field::Preempt => "preempt",
                Field::PreemptDelay => "preempt_delay",
                Field::InitialState => "state",
                Field::Auth => "auth",
                Field::Checksum => "checksum",
                Field::UnicastSrc => "unicast_src",
                Field::UnicastPeers => "unicast_peers",
                Field::UnicastTtl => "unicast_ttl",
                Field::UnicastMinTtl => "unicast_min_ttl",
                Field::TrackProxy => "track_proxy",
                Field::TrackInterfaces => "track_interfaces",
                Field::TrackScripts => "track_scripts",
                Field::Notify => "notify",
                Field::Garp => "garp",
                Field::Priority { .. } | Field::AdvertInterval { .. } | Field::Vips { .. } => "",
            }),
        }
    }
}

/// The fields that name the virtual router on the wire.
fn identity(o: &VrrpInstance, n: &VrrpInstance) -> Result<(), Refused> {
    let refuse = |field, from: String, to: String| {
        Err(Refused {
            instance: n.name.clone(),
            field,
            from,
            to,
        })
    };
    let family = |i: &VrrpInstance| if i.is_ipv6() { "IPv6" } else { "IPv4" };
    let version = |i: &VrrpInstance| match i.version {
        VrrpVersion::V2 => "2",
        VrrpVersion::V3 => "3",
    };
    if o.interface != n.interface {
        return refuse("interface", o.interface.clone(), n.interface.clone());
    }
    if o.vrid != n.vrid {
        return refuse("vrid", o.vrid.to_string(), n.vrid.to_string());
    }
    if o.version != n.version {
        return refuse("version", version(o).into(), version(n).into());
    }
    if o.is_ipv6() != n.is_ipv6() {
        return refuse("address family", family(o).into(), family(n).into());
    }
    Ok(())
}

/// Every setting of `n` that differs from `o` (same identity).
fn fields(old: &Config, o: &VrrpInstance, new: &Config, n: &VrrpInstance) -> Vec<Field> {
    let mut out = Vec::new();
    if o.priority != n.priority {
        out.push(Field::Priority {
            from: o.priority,
            to: n.priority,
        });
    }
    if o.advert_interval != n.advert_interval {
        out.push(Field::AdvertInterval {
            from: o.advert_interval,
            to: n.advert_interval,
        });
    }
    let simple = [
        (o.preempt != n.preempt, Field::Preempt),
        (o.preempt_delay != n.preempt_delay, Field::PreemptDelay),
        (o.initial != n.initial, Field::InitialState),
        (o.auth != n.auth, Field::Auth),
        (o.checksum != n.checksum, Field::Checksum),
    ];
    out.extend(simple.into_iter().filter(|(c, _)| *c).map(|(_, f)| f));
    if o.vips != n.vips {
        let key = |v: &rampart_config::Vip| (v.net, v.dev.clone(), v.label.clone());
        let only = |a: &[rampart_config::Vip], b: &[rampart_config::Vip]| -> Vec<IpNet> {
            a.iter()
                .filter(|v| !b.iter().any(|w| key(w) == key(v)))
                .map(|v| v.net)
                .collect()
        };
        let (added, removed) = (only(&n.vips, &o.vips), only(&o.vips, &n.vips));
        // Only reordered: the adverts list them in the new order.
        out.push(Field::Vips { added, removed });
    }
    let backend = |cfg: &Config, i: &VrrpInstance| {
        let fe = &i.track_proxy.as_ref()?.frontend;
        cfg.frontends
            .iter()
            .find(|f| &f.name == fe)
            .map(|f| f.backend.clone())
    };
    let rest = [
        (o.unicast_src != n.unicast_src, Field::UnicastSrc),
        (o.unicast_peers != n.unicast_peers, Field::UnicastPeers),
        (o.unicast_ttl != n.unicast_ttl, Field::UnicastTtl),
        (o.unicast_min_ttl != n.unicast_min_ttl, Field::UnicastMinTtl),
        (
            o.track_proxy != n.track_proxy || backend(old, o) != backend(new, n),
            Field::TrackProxy,
        ),
        (
            o.track_interfaces != n.track_interfaces,
            Field::TrackInterfaces,
        ),
        (
            o.track_scripts != n.track_scripts || scripts_of(old, o) != scripts_of(new, n),
            Field::TrackScripts,
        ),
        (o.notify != n.notify, Field::Notify),
        (o.garp != n.garp, Field::Garp),
    ];
    out.extend(rest.into_iter().filter(|(c, _)| *c).map(|(_, f)| f));
    out
}

/// The definitions of the scripts an instance tracks: a changed script
/// changes what the instance tracks.
fn scripts_of<'a>(
    cfg: &'a Config,
    i: &VrrpInstance,
) -> Vec<Option<&'a rampart_config::TrackScript>> {
    i.track_scripts
        .iter()
        .map(|t| cfg.vrrp.script(&t.name))
        .collect()
}

fn by_name<T>(
    old: &[T],
    new: &[T],
    name: impl Fn(&T) -> &String,
    same: impl Fn(&T, &T) -> bool,
) -> Vec<(String, Change)> {
    let mut out: Vec<(String, Change)> = new
        .iter()
        .map(|n| {
            let c = match old.iter().find(|o| name(o) == name(n)) {
                None => Change::Added,
                Some(o) if same(o, n) => Change::Unchanged,
                Some(_) => Change::Changed,
            };
            (name(n).clone(), c)
        })
        .collect();
    out.extend(
        old.iter()
            .filter(|o| !new.iter().any(|n| name(n) == name(o)))
            .map(|o| (name(o).clone(), Change::Removed)),
    );
    out
}

#[cfg(test)]
mod tests;

//! What `[vrrp]` and its instances, scripts and sync groups both read:
//! `garp` timing, `version`, `checksum`, `notify` hooks, commands as argv
//! and priority weights.

use crate::diag::Sink;
use crate::model::{Garp, Notify, NotifyStyle, V3Checksum, VrrpVersion};
use crate::reader::Reader;
use crate::values::{self, Value, one_of};

/// keepalived's weight range: a weight moves a priority of 1 to 255 or back.
pub(crate) const WEIGHT_MAX: i32 = 254;

/// `garp = { ... }`, key by key over `base`: an instance that only sets
/// `repeat` keeps the section's `delay`.
pub(crate) fn garp(t: &Reader, base: &Garp, sink: &mut Sink) -> Garp {
    let mut g = *base;
    // keepalived refuses 0: a master that announces nothing leaves the
    // switches sending the VIP's traffic to the old master.
    if let Some(n) = t.integer("repeat", 1, u32::MAX, sink) {
        g.repeat = n;
    }
    // Zero is meaningful for all three: no second burst, no refresh, no gap.
    if let Some(d) = t.duration("delay", false, sink) {
        g.delay = d;
    }
    if let Some(d) = t.duration("refresh", false, sink) {
        g.refresh = d;
    }
    if let Some(d) = t.duration("interval", false, sink) {
        g.interval = d;
    }
    g
}

/// `version = 2` or `3`.
pub(crate) fn version(v: &Value, key: &str, sink: &mut Sink) -> Option<VrrpVersion> {
    match values::integer(v, key, 2, 3, sink)? {
        2 => Some(VrrpVersion::V2),
        _ => Some(VrrpVersion::V3),
    }
}

pub(crate) fn checksum(v: &Value, key: &str, sink: &mut Sink) -> Option<V3Checksum> {
    let s = values::string(v, key, sink)?;
    let c = V3Checksum::from_name(s);
    if c.is_none() {
        sink.error(v.span(), one_of(key, s, &V3Checksum::NAMES));
    }
    c
}

/// `notify = { master = [...], ... }`.
pub(crate) fn notify(t: &Reader, sink: &mut Sink) -> Notify {
    Notify {
        master: t.opt("master", sink, argv),
        backup: t.opt("backup", sink, argv),
        fault: t.opt("fault", sink, argv),
        stop: t.opt("stop", sink, argv),
        any: t.opt("any", sink, argv),
        style: t
            .opt("style", sink, |v, key, sink| {
                let s = values::string(v, key, sink)?;
                let style = NotifyStyle::from_name(s);
                if style.is_none() {
                    sink.error(v.span(), one_of(key, s, &NotifyStyle::NAMES));
                }
                style
            })
            .unwrap_or_default(),
    }
}

/// A command as an argv: run without a shell, so there is no quoting to
/// get wrong and no PATH to depend on; hence the absolute program path.
pub(crate) fn argv(v: &Value, key: &str, sink: &mut Sink) -> Option<Vec<String>> {
    let items = values::array(v, key, sink)?;
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
        match values::string(item, &format!("{key}[]"), sink) {
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
    values::signed(v, key, -WEIGHT_MAX, WEIGHT_MAX, sink)
}

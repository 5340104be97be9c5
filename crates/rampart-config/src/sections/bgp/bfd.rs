//! `bfd`, `bfd_interval` and `bfd_multiplier` in a `[[bgp.neighbor]]`:
//! a BFD session (RFC 5880, single-hop RFC 5881) beside the BGP session,
//! whose failure closes the BGP session at once (RFC 5882). BIRD spells
//! it `bfd on;` in `protocol bgp` and takes the timers from `protocol
//! bfd`; here they belong to the neighbor.

use std::time::Duration;

use crate::defaults;
use crate::diag::Sink;
use crate::model::Bfd;
use crate::reader::Reader;
use crate::values::{self, Value, byte};

/// Shortest interval: the timers run in user space on a shared machine,
/// where a few milliseconds of scheduling delay are normal; below 10 ms
/// (BIRD's smallest default) a busy node would flap its own sessions.
const INTERVAL_MIN: Duration = Duration::from_millis(10);
/// Longest: with more than 10 s × the multiplier, the BGP hold timer
/// (3 s at the least) would often notice a failure first.
const INTERVAL_MAX: Duration = Duration::from_secs(10);

/// The neighbor's BFD settings; `None` when `bfd` is not `true`. `multihop`
/// is the neighbor's (already read): single-hop BFD needs 1.
pub(crate) fn bfd(t: &Reader, multihop: u8, sink: &mut Sink) -> Option<Bfd> {
    let written = t.get("bfd");
    let on = written.and_then(|v| values::boolean(v, "bfd", sink));
    let interval = t.opt("bfd_interval", sink, interval);
    let multiplier = t.opt("bfd_multiplier", sink, |v, key, sink| {
        byte(v, key, 1, u8::MAX, sink)
    });
    if on != Some(true) {
        // A wrong `bfd` has its own error; an absent or false one makes
        // the timers settings that do nothing.
        if written.is_none() || on == Some(false) {
            for key in ["bfd_interval", "bfd_multiplier"] {
                if let Some(v) = t.get(key) {
                    sink.error(
                        v.span(),
                        format!("`{key}` is set but `bfd` is not true; add `bfd = true`"),
                    );
                }
            }
        }
        return None;
    }
    if multihop > 1
        && let Some(v) = written
    {
        sink.error(
            v.span(),
            format!(
                "`bfd` is single-hop BFD (RFC 5881), for directly connected neighbors; it \
                 cannot be combined with `multihop = {multihop}` (multihop BFD, RFC 5883, is \
                 not supported)"
            ),
        );
    }
    Some(Bfd {
        interval: interval.unwrap_or(defaults::BFD_INTERVAL),
        multiplier: multiplier.unwrap_or(defaults::BFD_MULTIPLIER),
    })
}

/// 10 ms to 10 s.
fn interval(v: &Value, key: &str, sink: &mut Sink) -> Option<Duration> {
    let d = values::duration(v, key, true, sink)?;
    if (INTERVAL_MIN..=INTERVAL_MAX).contains(&d) {
        return Some(d);
    }
    let written = v.get_ref().as_str().unwrap_or_default();
    sink.error(
        v.span(),
        format!("`{key}` must be between 10ms and 10s, got {written}"),
    );
    None
}

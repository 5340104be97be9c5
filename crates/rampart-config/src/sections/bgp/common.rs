//! What `[bgp]` and its neighbors both read: AS numbers and hold times.

use std::time::Duration;

use crate::diag::Sink;
use crate::values::{self, Value};

/// RFC 6793's placeholder for a 4-octet AS towards a 2-octet speaker. A
/// speaker using it as its own AS would be indistinguishable from every
/// 4-octet speaker behind an old router.
pub(crate) const AS_TRANS: u32 = 23_456;

/// The smallest non-zero hold time (RFC 4271 §4.2): below 3 s one lost
/// keepalive would end the session.
const HOLD_TIME_MIN: u64 = 3;

/// The OPEN message's hold time field is 16 bits of seconds.
const HOLD_TIME_MAX: u64 = 65_535;

/// An AS number: 1..=4294967295 (4-octet AS numbers welcome), not
/// AS_TRANS.
pub(crate) fn asn(v: &Value, key: &str, sink: &mut Sink) -> Option<u32> {
    let n = values::integer(v, key, 1, u32::MAX, sink)?;
    if n == AS_TRANS {
        sink.error(
            v.span(),
            format!(
                "`{key}` 23456 is AS_TRANS (RFC 6793), a placeholder that no speaker may use \
                 as its AS"
            ),
        );
        return None;
    }
    Some(n)
}

/// A hold time: whole seconds, 0 (no keepalives) or 3 s to 65535 s.
pub(crate) fn hold_time(v: &Value, key: &str, sink: &mut Sink) -> Option<Duration> {
    let d = values::duration(v, key, false, sink)?;
    let written = v.get_ref().as_str().unwrap_or_default();
    let problem = if d.subsec_nanos() != 0 {
        "must be whole seconds (BGP counts the hold time in seconds)"
    } else if d.as_secs() != 0 && !(HOLD_TIME_MIN..=HOLD_TIME_MAX).contains(&d.as_secs()) {
        "must be 0s (no keepalives) or between 3s and 65535s (RFC 4271)"
    } else {
        return Some(d);
    };
    sink.error(v.span(), format!("`{key}` {problem}, got {written}"));
    None
}

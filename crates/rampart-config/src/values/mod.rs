//! The values under keys, shared by every section: typed reads of TOML
//! values (string, integer in range, duration, lists) and the parsers of
//! what several sections write (names, choices from a list). Addresses
//! and interface names are in [`net`], durations in
//! [`duration`](mod@duration).
//!
//! Every reader returns `Option`: `None` means "absent or already reported",
//! and the caller substitutes a default and carries on, knowing that any
//! recorded error will stop the [`Config`](crate::Config) from being returned.
//! A section never imports another section's parser: what two sections
//! share lives here.

pub(crate) mod duration;
pub(crate) mod net;

use std::time::Duration;

use toml::Spanned;
use toml::de::DeValue;

use crate::diag::{Sink, did_you_mean};
use duration::parse_duration;

pub(crate) type Value<'i> = Spanned<DeValue<'i>>;

/// Longest name of a frontend, backend, server, VRRP instance, sync group,
/// script or BGP neighbor, in characters. Names go into every log line and
/// metric label about the thing: a 1 MB name would make each of those
/// 1 MB. 64 holds any descriptive name (`nginx_pool_eu-west-1.primary`)
/// with room to spare.
pub const NAME_MAX: usize = 64;

/// How messages name a key; `bind[]` stands for one element of `bind`.
fn subject(key: &str) -> String {
    match key.strip_suffix("[]") {
        Some(list) => format!("each entry of `{list}`"),
        None => format!("`{key}`"),
    }
}

/// "`maxconn` must be an integer, found a string".
pub(crate) fn type_error(value: &Value, key: &str, expected: &str, sink: &mut Sink) {
    let found = match value.get_ref() {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    };
    let key = subject(key);
    sink.error(
        value.span(),
        format!("{key} must be {expected}, found {found}"),
    );
}

/// A string naming something defined elsewhere (a backend, a frontend, a
/// script), with its span for the check across sections that resolves it.
pub(crate) fn reference(value: &Value, key: &str, sink: &mut Sink) -> Option<Spanned<String>> {
    string(value, key, sink).map(|s| Spanned::new(value.span(), s.to_string()))
}

pub(crate) fn string<'a>(value: &'a Value, key: &str, sink: &mut Sink) -> Option<&'a str> {
    match value.get_ref() {
        DeValue::String(s) => Some(s),
        _ => {
            type_error(value, key, "a string", sink);
            None
        }
    }
}

pub(crate) fn boolean(value: &Value, key: &str, sink: &mut Sink) -> Option<bool> {
    match value.get_ref() {
        DeValue::Boolean(b) => Some(*b),
        _ => {
            type_error(value, key, "true or false", sink);
            None
        }
    }
}

/// An integer in `min..=max`. The message states the range, so the user
/// does not have to look it up.
pub(crate) fn integer(
    value: &Value,
    key: &str,
    min: u32,
    max: u32,
    sink: &mut Sink,
) -> Option<u32> {
    let DeValue::Integer(int) = value.get_ref() else {
        type_error(value, key, "an integer", sink);
        return None;
    };
    // i128 holds every integer TOML allows (64-bit) and then some, so only
    // an absurdly long literal fails to parse.
    let n = i128::from_str_radix(int.as_str(), int.radix()).ok();
    match n.map(u32::try_from) {
        Some(Ok(n)) if (min..=max).contains(&n) => return Some(n),
        _ => {}
    }
    let message = match n {
        None => format!("`{key}` is too large"),
        Some(n) if max != u32::MAX => format!("`{key}` must be between {min} and {max}, got {n}"),
        Some(n) if n < i128::from(min) => format!("`{key}` must be at least {min}, got {n}"),
        Some(n) => format!("`{key}` must be at most {max}, got {n}"),
    };
    sink.error(value.span(), message);
    None
}

/// A signed integer in `min..=max`, for priority weights such as -20.
pub(crate) fn signed(value: &Value, key: &str, min: i32, max: i32, sink: &mut Sink) -> Option<i32> {
    let DeValue::Integer(int) = value.get_ref() else {
        type_error(value, key, "an integer", sink);
        return None;
    };
    let n = i128::from_str_radix(int.as_str(), int.radix()).ok();
    match n.map(i32::try_from) {
        Some(Ok(n)) if (min..=max).contains(&n) => return Some(n),
        _ => {}
    }
    let message = match n {
        None => format!("`{key}` is too large"),
        Some(n) => format!("`{key}` must be between {min} and {max}, got {n}"),
    };
    sink.error(value.span(), message);
    None
}

/// A duration string (see [`parse_duration`]). `nonzero` is for settings
/// where 0 cannot mean anything useful, such as a connect timeout.
pub(crate) fn duration(
    value: &Value,
    key: &str,
    nonzero: bool,
    sink: &mut Sink,
) -> Option<Duration> {
    let DeValue::String(s) = value.get_ref() else {
        type_error(value, key, "a duration string such as \"5s\"", sink);
        return None;
    };
    match parse_duration(s) {
        Ok(d) if nonzero && d.is_zero() => {
            sink.error(value.span(), format!("`{key}` must be greater than 0"));
            None
        }
        Ok(d) => Some(d),
        Err(e) => {
            sink.error(value.span(), format!("`{key}`: {e}"));
            None
        }
    }
}

/// The elements of an array, each with its own span.
pub(crate) fn array<'a, 'i>(
    value: &'a Value<'i>,
    key: &str,
    sink: &mut Sink,
) -> Option<&'a [Value<'i>]> {
    match value.get_ref() {
        DeValue::Array(items) => Some(items),
        _ => {
            type_error(value, key, "an array", sink);
            None
        }
    }
}

/// An array of strings, each parsed by `parse`, whose error message is
/// reported at the element. Elements that fail are left out.
pub(crate) fn parsed_list<T>(
    value: &Value,
    key: &str,
    sink: &mut Sink,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Option<Vec<Spanned<T>>> {
    let items = array(value, key, sink)?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Some(s) = string(item, &format!("{key}[]"), sink) else {
            continue;
        };
        match parse(s) {
            Ok(v) => out.push(Spanned::new(item.span(), v)),
            Err(e) => sink.error(item.span(), e),
        }
    }
    Some(out)
}

/// An integer in `min..=max` that fits a `u8` (a TTL, a VRID, a count).
pub(crate) fn byte(v: &Value, key: &str, min: u8, max: u8, sink: &mut Sink) -> Option<u8> {
    integer(v, key, u32::from(min), u32::from(max), sink).and_then(|n| u8::try_from(n).ok())
}

// === Names ===

/// A frontend, backend or server name. HAProxy's rule (letters, digits,
/// `-`, `_`, `.`, `:`) so that migrated names keep working, and so that a
/// name can go into a log line or a metrics label without quoting.
///
/// An invalid name is reported but still returned: references to it then
/// resolve, instead of producing a second, misleading "not defined" error.
pub(crate) fn name(value: &Value, key: &str, sink: &mut Sink) -> Option<Spanned<String>> {
    let s = string(value, key, sink)?;
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':');
    let len = s.chars().count();
    if s.is_empty() {
        sink.error(value.span(), format!("`{key}` must not be empty"));
    } else if len > NAME_MAX {
        sink.error(
            value.span(),
            format!("`{key}` is {len} characters long; names may have at most {NAME_MAX}"),
        );
    } else if let Some(bad) = s.chars().find(|c| !ok(*c)) {
        sink.error(
            value.span(),
            format!(
                "`{key}` contains {bad:?}; names may use letters, digits, '-', '_', '.' and ':'"
            ),
        );
    }
    Some(Spanned::new(value.span(), s.to_string()))
}

/// "unknown `balance` `rr`; expected one of: roundrobin, ... (did you mean ...?)".
pub(crate) fn one_of(key: &str, got: &str, valid: &[&str]) -> String {
    let mut m = format!(
        "invalid `{key}` `{got}`; expected one of: {}",
        valid.join(", ")
    );
    if let Some(close) = did_you_mean(got, valid) {
        m.push_str(&format!(" (did you mean `{close}`?)"));
    }
    m
}

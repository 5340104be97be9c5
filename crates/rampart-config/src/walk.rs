//! Typed reads from toml's span-preserving document.
//!
//! serde's derive stops at the first error; this walks the `DeTable` by hand
//! so that a wrong type in one place does not hide a missing key in another.
//! Every reader returns `Option`: `None` means "absent or already reported",
//! and the caller substitutes a default and carries on, knowing that any
//! recorded error will stop the [`Config`](crate::Config) from being returned.

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diag::{Sink, did_you_mean};
use crate::duration::parse_duration;

pub(crate) type Value<'i> = Spanned<DeValue<'i>>;

/// One TOML table being read as a section of the configuration.
pub(crate) struct Table<'a, 'i> {
    map: &'a DeTable<'i>,
    /// Where a "missing key" error points: the `[[frontend]]` header or the
    /// `{ ... }` of an inline table.
    span: Range<usize>,
    /// Where messages say a key is, e.g. "in frontend" or "in `health`".
    place: String,
}

impl<'a, 'i> Table<'a, 'i> {
    /// Reads `value` (found under `key`) as a table; reports a type error
    /// otherwise. `key_span` stands in for tables toml gives no span of their
    /// own (dotted keys such as `health.fall = 2`).
    pub(crate) fn of(
        value: &'a Value<'i>,
        key: &str,
        key_span: Range<usize>,
        what: &'static str,
        sink: &mut Sink,
    ) -> Option<Self> {
        let DeValue::Table(map) = value.get_ref() else {
            type_error(value, key, "a table", sink);
            return None;
        };
        let span = if value.span().is_empty() {
            key_span
        } else {
            value.span()
        };
        let place = format!("in {what}");
        Some(Table { map, span, place })
    }

    /// The document root: has no span, and no required keys to point at.
    pub(crate) fn root(map: &'a DeTable<'i>) -> Self {
        Table {
            map,
            span: 0..0,
            place: "at the top level".to_string(),
        }
    }

    /// Reports every key not in `known`, with a suggestion when one is close.
    /// Done up front per table, so that a typo is reported even when the
    /// misspelt key was optional and nothing else would notice it missing.
    pub(crate) fn deny_unknown(&self, known: &[&str], sink: &mut Sink) {
        for (key, _) in self.map.iter() {
            let name: &str = key.get_ref();
            if known.contains(&name) {
                continue;
            }
            let message = match did_you_mean(name, known) {
                Some(close) => {
                    format!(
                        "unknown key `{name}` {}; did you mean `{close}`?",
                        self.place
                    )
                }
                None => format!(
                    "unknown key `{name}` {} (known keys: {})",
                    self.place,
                    known.join(", ")
                ),
            };
            sink.error(key.span(), message);
        }
    }

    /// The value under `key` and the span of the key itself.
    pub(crate) fn entry(&self, key: &str) -> Option<(Range<usize>, &'a Value<'i>)> {
        self.map.get_key_value(key).map(|(k, v)| (k.span(), v))
    }

    pub(crate) fn get(&self, key: &str) -> Option<&'a Value<'i>> {
        self.map.get(key)
    }

    /// Like [`Table::get`], but a missing key is an error reported at the
    /// table that lacks it.
    ///
    /// A misspelling of `key` (`bnd` for `bind`) already has its own
    /// "did you mean" error, so the key is then not reported missing too.
    pub(crate) fn required(&self, key: &str, sink: &mut Sink) -> Option<&'a Value<'i>> {
        let value = self.get(key);
        let misspelt = || {
            self.map
                .keys()
                .any(|k| did_you_mean(k.get_ref(), &[key]).is_some())
        };
        if value.is_none() && !misspelt() {
            sink.error(
                self.span.clone(),
                format!("missing required key `{key}` {}", self.place),
            );
        }
        value
    }

    pub(crate) fn span(&self) -> Range<usize> {
        self.span.clone()
    }
}

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

/// An array of tables: `[[frontend]]` sections, or an inline array of
/// `{ ... }`. Both spellings give the same result. `path` is the header
/// the user should have written (`backend.servers`).
pub(crate) fn tables<'a, 'i>(
    value: &'a Value<'i>,
    key: &str,
    path: &str,
    key_span: Range<usize>,
    what: &'static str,
    sink: &mut Sink,
) -> Vec<Table<'a, 'i>> {
    let DeValue::Array(items) = value.get_ref() else {
        if value.get_ref().is_table() {
            sink.error(
                key_span,
                format!("`{key}` must be an array of tables: write [[{path}]], not [{path}]"),
            );
        } else {
            type_error(value, key, "an array of tables", sink);
        }
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| Table::of(item, &format!("{key}[]"), key_span.clone(), what, sink))
        .collect()
}

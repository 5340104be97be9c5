//! Reading TOML tables as sections: [`Table`] (a table with the span
//! messages point at), and [`tables`] for `[[section]]` arrays.
//!
//! serde's derive stops at the first error; this walks the `DeTable` by hand
//! so that a wrong type in one place does not hide a missing key in another.
//! The values under the keys are read by [`crate::values`].

use std::ops::Range;

use toml::de::{DeTable, DeValue};

use crate::diag::{Sink, did_you_mean};
use crate::values::{Value, type_error};

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

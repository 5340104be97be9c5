//! Reading TOML tables as sections: [`Table`] (a table with the span
//! messages point at), [`Reader`] (its keys, each named once where it is
//! read), and [`tables`] for `[[section]]` arrays.
//!
//! serde's derive stops at the first error; this walks the `DeTable` by hand
//! so that a wrong type in one place does not hide a missing key in another.
//! The values under the keys are read by [`crate::values`].

use std::cell::RefCell;
use std::ops::Range;
use std::time::Duration;

use toml::de::{DeTable, DeValue};

use crate::diag::{Sink, did_you_mean};
use crate::values::{self, Value, type_error};

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

    /// Reads the table key by key with `read`, then reports every key
    /// that `read` did not ask for as unknown (see [`Reader`]). Taking a
    /// function rather than returning the reader means the unknown keys
    /// are reported on every path, `?` included.
    pub(crate) fn read<T>(
        &self,
        sink: &mut Sink,
        read: impl FnOnce(&Reader<'_, 'a, 'i>, &mut Sink) -> T,
    ) -> T {
        let reader = Reader {
            table: self,
            known: RefCell::new(Vec::new()),
        };
        let out = read(&reader, sink);
        reader.finish(sink);
        out
    }

    /// The value under `key`, without reading it: for choosing between
    /// forms (`check = { http = ... }` or `{ send = ..., expect = ... }`)
    /// before the form's reader reads the keys.
    pub(crate) fn peek(&self, key: &str) -> Option<&'a Value<'i>> {
        self.map.get(key)
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

/// A table being read: each key is named once, where it is read, and the
/// keys asked for are the known keys. When the reading function returns,
/// [`Table::read`] reports the keys it never asked for: "unknown key `bnd`
/// in frontend; did you mean `bind`?", or the list of known keys in the
/// order they were read. So a key list cannot drift from the readers, and
/// a typo is reported even where the misspelt key was optional.
///
/// A key must therefore be asked for on every path through the reading
/// function, also when its value turns out not to matter; where a key is
/// valid but deliberately not read, [`Reader::allow`] says so.
pub(crate) struct Reader<'t, 'a, 'i> {
    table: &'t Table<'a, 'i>,
    /// Keys asked for, in order, each once.
    known: RefCell<Vec<&'static str>>,
}

impl<'a, 'i> Reader<'_, 'a, 'i> {
    fn note(&self, key: &'static str) {
        let mut known = self.known.borrow_mut();
        if !known.contains(&key) {
            known.push(key);
        }
    }

    /// Keys that are valid here but that this form does not read.
    pub(crate) fn allow(&self, keys: &[&'static str]) {
        for key in keys {
            self.note(key);
        }
    }

    /// The value under `key`, if written.
    pub(crate) fn get(&self, key: &'static str) -> Option<&'a Value<'i>> {
        self.note(key);
        self.table.map.get(key)
    }

    /// The value under `key` and the span of the key itself.
    pub(crate) fn entry(&self, key: &'static str) -> Option<(Range<usize>, &'a Value<'i>)> {
        self.note(key);
        self.table
            .map
            .get_key_value(key)
            .map(|(k, v)| (k.span(), v))
    }

    /// Like [`Reader::get`], but a missing key is an error reported at the
    /// table that lacks it.
    ///
    /// A misspelling of `key` (`bnd` for `bind`) already has its own
    /// "did you mean" error, so the key is then not reported missing too.
    pub(crate) fn required(&self, key: &'static str, sink: &mut Sink) -> Option<&'a Value<'i>> {
        let value = self.get(key);
        let misspelt = || {
            self.table
                .map
                .keys()
                .any(|k| did_you_mean(k.get_ref(), &[key]).is_some())
        };
        if value.is_none() && !misspelt() {
            sink.error(
                self.table.span.clone(),
                format!("missing required key `{key}` {}", self.table.place),
            );
        }
        value
    }

    /// An optional key read by `read`, which gets the key's name for its
    /// messages: `t.opt("weight", sink, weight)`.
    pub(crate) fn opt<T>(
        &self,
        key: &'static str,
        sink: &mut Sink,
        read: impl FnOnce(&'a Value<'i>, &'static str, &mut Sink) -> Option<T>,
    ) -> Option<T> {
        let v = self.get(key)?;
        read(v, key, sink)
    }

    /// An optional key with a default: `absent` when the key is not
    /// written, `None` when it is written wrong (and reported).
    pub(crate) fn opt_or<T>(
        &self,
        key: &'static str,
        absent: T,
        sink: &mut Sink,
        read: impl FnOnce(&'a Value<'i>, &'static str, &mut Sink) -> Option<T>,
    ) -> Option<T> {
        match self.get(key) {
            Some(v) => read(v, key, sink),
            None => Some(absent),
        }
    }

    /// A required key read by `read`, as [`Reader::opt`].
    pub(crate) fn req<T>(
        &self,
        key: &'static str,
        sink: &mut Sink,
        read: impl FnOnce(&'a Value<'i>, &'static str, &mut Sink) -> Option<T>,
    ) -> Option<T> {
        let v = self.required(key, sink)?;
        read(v, key, sink)
    }

    pub(crate) fn boolean(&self, key: &'static str, sink: &mut Sink) -> Option<bool> {
        self.opt(key, sink, values::boolean)
    }

    /// See [`values::integer()`].
    pub(crate) fn integer(
        &self,
        key: &'static str,
        min: u32,
        max: u32,
        sink: &mut Sink,
    ) -> Option<u32> {
        self.opt(key, sink, |v, key, sink| {
            values::integer(v, key, min, max, sink)
        })
    }

    /// See [`values::duration()`].
    pub(crate) fn duration(
        &self,
        key: &'static str,
        nonzero: bool,
        sink: &mut Sink,
    ) -> Option<Duration> {
        self.opt(key, sink, |v, key, sink| {
            values::duration(v, key, nonzero, sink)
        })
    }

    /// A key whose value is a table (`timeout = { ... }`); `what` is how
    /// messages name it ("`timeout`").
    pub(crate) fn table(
        &self,
        key: &'static str,
        what: &'static str,
        sink: &mut Sink,
    ) -> Option<Table<'a, 'i>> {
        let (span, v) = self.entry(key)?;
        Table::of(v, key, span, what, sink)
    }

    /// A key whose value is an array of tables; `path` is the header the
    /// user should have written (see [`tables`]).
    pub(crate) fn tables(
        &self,
        key: &'static str,
        path: &str,
        what: &'static str,
        sink: &mut Sink,
    ) -> Vec<Table<'a, 'i>> {
        match self.entry(key) {
            Some((span, v)) => tables(v, key, path, span, what, sink),
            None => Vec::new(),
        }
    }

    pub(crate) fn span(&self) -> Range<usize> {
        self.table.span()
    }

    /// Reports every key not asked for, with a suggestion when one is close.
    fn finish(self, sink: &mut Sink) {
        let known = self.known.into_inner();
        for (key, _) in self.table.map.iter() {
            let name: &str = key.get_ref();
            if known.contains(&name) {
                continue;
            }
            let place = &self.table.place;
            let message = match did_you_mean(name, &known) {
                Some(close) => format!("unknown key `{name}` {place}; did you mean `{close}`?"),
                None => format!(
                    "unknown key `{name}` {place} (known keys: {})",
                    known.join(", ")
                ),
            };
            sink.error(key.span(), message);
        }
    }
}

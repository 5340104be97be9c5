//! Problems found after parsing — by comparing a valid [`Config`] with the
//! host it is to run on (`rampart check --host`, a reload) — reported like
//! the file's own errors, with file, line and column.
//!
//! The model keeps no spans (a [`Config`] compares equal whatever the
//! layout of its file, which reloads rely on). So a [`Report`] re-reads the
//! file's span-preserving document and finds a place by its path in the
//! model: `["vrrp", "instance", 1, "unicast_src"]` is the second instance's
//! `unicast_src`, whether the file wrote `[[vrrp.instance]]` headers or an
//! inline array. The model's lists keep the file's order, so the index of
//! an item in the model is its index in the file.
//!
//! [`Config`]: crate::Config

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diag::{Errors, Sink};

/// One step of a path into the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step<'a> {
    /// A key of a table.
    Key(&'a str),
    /// An element of an array (or an array of tables).
    Index(usize),
}

impl<'a> From<&'a str> for Step<'a> {
    fn from(key: &'a str) -> Self {
        Step::Key(key)
    }
}

impl From<usize> for Step<'_> {
    fn from(index: usize) -> Self {
        Step::Index(index)
    }
}

/// Collects problems about places in one file, then returns them as
/// [`Errors`] that render like the parser's.
pub struct Report<'s> {
    origin: String,
    doc: Option<DeTable<'s>>,
    sink: Sink<'s>,
}

impl<'s> Report<'s> {
    /// `origin` names the file in messages, as for [`crate::parse`];
    /// `source` is the text the configuration was parsed from.
    pub fn new(origin: &str, source: &'s str) -> Report<'s> {
        Report {
            origin: origin.to_string(),
            // The text parsed once already; if it somehow does not now,
            // every problem is reported at the start of the file.
            doc: DeTable::parse(source).ok().map(Spanned::into_inner),
            sink: Sink::new(source),
        }
    }

    /// Records a problem at `path`: at the value there, or at the deepest
    /// part of the path that exists (a string entry has no `dev` key, so
    /// `[.., "virtual_addresses", 0, "dev"]` of `["192.0.2.1"]` points at
    /// the string).
    pub fn error(&mut self, path: &[Step], message: impl Into<String>) {
        let span = self.doc.as_ref().map_or(0..0, |doc| locate(doc, path));
        self.sink.error(span, message);
    }

    pub fn is_empty(&self) -> bool {
        self.sink.is_empty()
    }

    /// `Ok` when nothing was recorded.
    pub fn finish(self) -> Result<(), Errors> {
        if self.sink.is_empty() {
            Ok(())
        } else {
            Err(self.sink.into_errors(&self.origin))
        }
    }
}

/// The span of `path` in `root`, or of its longest prefix that exists.
fn locate(root: &DeTable, path: &[Step]) -> Range<usize> {
    let mut span = 0..0;
    let mut table = Some(root);
    let mut array: Option<&[Spanned<DeValue>]> = None;
    for step in path {
        let value = match (*step, table, array) {
            (Step::Key(k), Some(t), _) => match t.get_key_value(k) {
                // Tables made by dotted keys or headers may have no span
                // of their own: their key stands in for them.
                Some((key, v)) if v.span().is_empty() => {
                    span = key.span();
                    v
                }
                Some((_, v)) => {
                    span = v.span();
                    v
                }
                None => break,
            },
            (Step::Index(i), _, Some(items)) => match items.get(i) {
                Some(v) => {
                    if !v.span().is_empty() {
                        span = v.span();
                    }
                    v
                }
                None => break,
            },
            _ => break,
        };
        table = value.get_ref().as_table();
        array = value.get_ref().as_array().map(|a| &a[..]);
    }
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = r#"[[frontend]]
name = "www"
bind = ["127.0.0.1:80", "10.0.0.1:80"]

[[vrrp.instance]]
name = "VI_1"
virtual_addresses = ["192.0.2.1", { addr = "192.0.2.2", dev = "eth1" }]
"#;

    fn at(path: &[Step]) -> String {
        let mut r = Report::new("t.toml", SRC);
        r.error(path, "here");
        match r.finish() {
            Ok(()) => panic!("nothing recorded"),
            Err(e) => {
                let d = &e.diagnostics()[0];
                format!("{}:{} {}", d.line, d.column, &SRC[d.span.clone()])
            }
        }
    }

    #[test]
    fn paths_point_at_values_in_headers_and_inline_tables() {
        use Step::{Index as I, Key as K};
        assert_eq!(
            at(&[K("frontend"), I(0), K("bind"), I(1)]),
            "3:25 \"10.0.0.1:80\""
        );
        assert_eq!(
            at(&[K("vrrp"), K("instance"), I(0), K("name")]),
            "6:8 \"VI_1\""
        );
        let vip = |i, key| {
            at(&[
                K("vrrp"),
                K("instance"),
                I(0),
                K("virtual_addresses"),
                I(i),
                K(key),
            ])
        };
        assert_eq!(vip(1, "dev"), "7:63 \"eth1\"");
        // A string entry has no `dev`: the entry itself.
        assert_eq!(vip(0, "dev"), "7:22 \"192.0.2.1\"");
    }

    #[test]
    fn a_path_that_is_not_there_points_at_what_is() {
        use Step::{Index as I, Key as K};
        assert!(at(&[K("frontend"), I(0), K("bind"), I(7)]).starts_with("3:8 "));
        assert_eq!(at(&[K("gateway"), K("masquerade")]), "1:1 ");
        let mut r = Report::new("t.toml", SRC);
        assert!(r.is_empty());
        r.error(&[], "x");
        assert!(!r.is_empty());
    }
}

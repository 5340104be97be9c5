//! Diagnostics: what went wrong, where, and how it is shown to a person.
//!
//! Every problem found in a file becomes one [`Diagnostic`] with a byte span
//! into the source; line and column are computed once, when the diagnostic is
//! recorded, so that callers (tests, the CLI, a future LSP) never redo it.
//! Rendering uses annotate-snippets for the source excerpt but writes the
//! `file:line:column: error: message` header itself, because that exact shape
//! is what editors, `grep` and CI log scrapers recognise.

use std::fmt;
use std::ops::Range;

use annotate_snippets::{AnnotationKind, Level, Renderer, Snippet};

/// One error found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// 1-based line of `span.start`.
    pub line: usize,
    /// 1-based column of `span.start`, counted in characters (not bytes),
    /// which is what an editor shows.
    pub column: usize,
    /// Byte range in the source that the message is about.
    pub span: Range<usize>,
    pub message: String,
}

/// Every error of one file, with the text needed to show them in context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Errors {
    origin: String,
    source: String,
    diagnostics: Vec<Diagnostic>,
}

impl Errors {
    /// Sorts by position so that the report reads top to bottom like the file,
    /// whatever order the checks ran in. The sort is stable: two errors at the
    /// same place keep the order in which they were found.
    pub(crate) fn new(origin: &str, source: &str, mut diagnostics: Vec<Diagnostic>) -> Errors {
        diagnostics.sort_by_key(|d| d.span.start);
        Errors {
            origin: origin.to_string(),
            source: source.to_string(),
            diagnostics,
        }
    }

    /// The errors, in order of position in the file.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    /// The file name the errors refer to, as passed to [`crate::parse`].
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Plain text (no colour, so it is safe in logs and journald): every
    /// error as `origin:line:column: error: message` with the source line
    /// underneath, then a count.
    pub fn render(&self) -> String {
        let renderer = Renderer::plain();
        let mut out = String::new();
        for d in &self.diagnostics {
            let name = format!("{}:{}:{}: error", self.origin, d.line, d.column);
            // An empty source (an unreadable file) has nothing to excerpt.
            if self.source.is_empty() {
                out.push_str(&format!("{name}: {}\n\n", d.message));
                continue;
            }
            let report = [Level::ERROR
                .with_name(Some(name.as_str()))
                .primary_title(d.message.as_str())
                .element(
                    Snippet::source(self.source.as_str())
                        .annotation(AnnotationKind::Primary.span(d.span.clone())),
                )];
            out.push_str(&renderer.render(&report));
            out.push_str("\n\n");
        }
        let n = self.diagnostics.len();
        out.push_str(&format!("{n} error{}\n", if n == 1 { "" } else { "s" }));
        out
    }
}

impl fmt::Display for Errors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

impl std::error::Error for Errors {}

/// Collects diagnostics while the document is walked; nothing stops at the
/// first error.
pub(crate) struct Sink<'s> {
    source: &'s str,
    diagnostics: Vec<Diagnostic>,
}

impl<'s> Sink<'s> {
    pub(crate) fn new(source: &'s str) -> Sink<'s> {
        Sink {
            source,
            diagnostics: Vec::new(),
        }
    }

    pub(crate) fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        let span = clamp(self.source, span);
        let (line, column) = line_column(self.source, span.start);
        self.diagnostics.push(Diagnostic {
            line,
            column,
            span,
            message: message.into(),
        });
    }

    /// The 1-based line of a byte offset, for "first defined on line N".
    pub(crate) fn line(&self, offset: usize) -> usize {
        line_column(self.source, offset).0
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.diagnostics.is_empty()
    }

    pub(crate) fn into_errors(self, origin: &str) -> Errors {
        Errors::new(origin, self.source, self.diagnostics)
    }
}

/// Keeps a span inside the source and on character boundaries, so that
/// slicing and rendering can never panic. A span at the very end of a file
/// that ends in a newline is moved onto that newline: "end of file" is then
/// shown on the last line, where the reader expects it.
fn clamp(source: &str, span: Range<usize>) -> Range<usize> {
    let len = source.len();
    let mut start = span.start.min(len);
    let mut end = span.end.clamp(start, len);
    if start == len && source.ends_with('\n') {
        start = len - 1;
        end = start;
    }
    while !source.is_char_boundary(start) {
        start -= 1;
    }
    while !source.is_char_boundary(end) {
        end += 1;
    }
    start..end
}

/// 1-based line and character column of a byte offset.
pub(crate) fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let before = source.get(..offset).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// The known name closest to a misspelt one, if it is close enough to be a
/// plausible typo (`bnd` → `bind`, `send-proxy` → `send_proxy`) or a longer
/// spelling of it (`warning` → `warn`). About one edit per three letters is
/// allowed, so short names (`v1`, `v2`) only match up to case: suggesting
/// `v1` for `v3` would be a guess, not a correction.
pub(crate) fn did_you_mean<'a>(wrong: &str, known: &[&'a str]) -> Option<&'a str> {
    let wrong = wrong.to_ascii_lowercase();
    known
        .iter()
        .filter_map(|k| {
            let d = edit_distance(&wrong, k);
            let close = d <= k.len() / 3 || (k.len() >= 3 && wrong.starts_with(k));
            close.then_some((d, *k))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance over characters; the inputs are short key names.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_characters_not_bytes() {
        let src = "a = \"é\"\nbé = 1\n";
        assert_eq!(line_column(src, 0), (1, 1));
        assert_eq!(line_column(src, 9), (2, 1));
        assert_eq!(line_column(src, 12), (2, 3));
    }

    #[test]
    fn clamp_never_splits_a_character() {
        let src = "é";
        assert_eq!(clamp(src, 1..1), 0..2);
        assert_eq!(clamp(src, 0..1), 0..2);
        assert_eq!(clamp(src, 7..9), 2..2);
        assert_eq!(clamp("a\n", 2..2), 1..1);
    }

    #[test]
    fn suggestions_only_for_near_misses() {
        let keys = ["name", "bind", "backend", "maxconn", "send_proxy"];
        assert_eq!(did_you_mean("bnd", &keys), Some("bind"));
        assert_eq!(did_you_mean("max_conn", &keys), Some("maxconn"));
        assert_eq!(did_you_mean("send-proxy", &keys), Some("send_proxy"));
        assert_eq!(did_you_mean("Name", &keys), Some("name"));
        assert_eq!(did_you_mean("colour", &keys), None);
        assert_eq!(
            did_you_mean("warning", &["error", "warn", "info"]),
            Some("warn")
        );
        assert_eq!(did_you_mean("v3", &["v1", "v2"]), None);
        assert_eq!(did_you_mean("V2", &["v1", "v2"]), Some("v2"));
    }
}

//! A minimal roff writer for the pages `rampart generate` writes by hand
//! (rampart.toml(5) and the extra sections of rampart(8)).
//!
//! The `roff` crate that clap_mangen uses escapes only `\` and `-`, which
//! leaves characters that groff reads as typographic glyphs (`'`, `` ` ``,
//! `^`, `~`) or as input bytes in the wrong encoding (everything beyond
//! ASCII: docs/config.md is full of `—`, `–`, `≥`, `→`). So the text of our
//! own pages goes through [`escape`], and every page, clap_mangen's too,
//! through [`ascii`] last: the result is pure ASCII that groff, mandoc and
//! man-db's `preconv` all read the same.
//!
//! Headings and `.TP` tags are written as the text line *after* their
//! macro, never as macro arguments, so their text needs no quoting.

/// A page being written: roff source, one line at a time.
#[derive(Debug, Default)]
pub struct Page {
    out: String,
}

impl Page {
    pub fn new() -> Self {
        Self::default()
    }

    /// A request or macro call. The arguments are copied as given: the
    /// callers pass only fixed words and numbers (`"IP"`, `["\\(bu", "2"]`).
    pub fn control(&mut self, name: &str, args: &[&str]) {
        self.out.push('.');
        self.out.push_str(name);
        for arg in args {
            self.out.push(' ');
            self.out.push_str(arg);
        }
        self.out.push('\n');
    }

    /// Text already escaped (by [`escape`], plus font changes), possibly
    /// over several lines. Each source line is made safe to start a line:
    /// leading blanks (which would break the filled line) are dropped, a
    /// leading `.` (a request) is protected with `\&`, and empty lines
    /// (blank lines that groff turns into vertical space) are skipped.
    pub fn text(&mut self, escaped: &str) {
        for line in escaped.split('\n') {
            let line = line.trim_start_matches(' ');
            if line.is_empty() {
                continue;
            }
            self.push_line(line);
        }
    }

    /// One line of a no-fill block (`.nf`): kept exactly, leading blanks
    /// included; an empty line becomes `\&` so it stays an empty output line.
    pub fn verbatim(&mut self, line: &str) {
        if line.is_empty() {
            self.out.push_str("\\&\n");
        } else {
            self.push_line(&escape(line));
        }
    }

    fn push_line(&mut self, line: &str) {
        if line.starts_with('.') || line.starts_with('\'') {
            self.out.push_str("\\&");
        }
        self.out.push_str(line);
        self.out.push('\n');
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// Text as roff prints it literally.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\e"),
            // `-` is a hyphen (which may print as U+2010); options and
            // negative numbers want the minus sign, which man-db prints as
            // ASCII `-`.
            '-' => out.push_str("\\-"),
            '\'' => out.push_str("\\(aq"),
            '`' => out.push_str("\\(ga"),
            '^' => out.push_str("\\(ha"),
            '~' => out.push_str("\\(ti"),
            '"' => out.push_str("\\(dq"),
            c if c.is_ascii() => out.push(c),
            c => push_unicode(&mut out, c),
        }
    }
    out
}

/// Any non-ASCII character of finished roff source as groff's `\[uXXXX]`.
/// Safe on escaped source: every escape is ASCII, so only literal text
/// characters change.
pub fn ascii(roff: &str) -> String {
    if roff.is_ascii() {
        return roff.to_owned();
    }
    let mut out = String::with_capacity(roff.len() + 64);
    for c in roff.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            push_unicode(&mut out, c);
        }
    }
    out
}

/// groff's form: upper-case hex, at least four digits (`\[u2014]`,
/// `\[u1F600]`).
fn push_unicode(out: &mut String, c: char) {
    out.push_str(&format!("\\[u{:04X}]", u32::from(c)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_groff_would_read_otherwise() {
        assert_eq!(
            escape(r#"a\b -x 'q' `c` ^~ "s""#),
            r"a\eb \-x \(aqq\(aq \(gac\(ga \(ha\(ti \(dqs\(dq"
        );
        assert_eq!(
            escape("1–2 ≥ 3 — é"),
            r"1\[u2013]2 \[u2265] 3 \[u2014] \[u00E9]"
        );
        assert_eq!(ascii(".B x\n→ y\n"), ".B x\n\\[u2192] y\n");
    }

    #[test]
    fn text_lines_cannot_become_requests() {
        let mut page = Page::new();
        page.text(".SH oops\n   'also\n\nfine");
        page.verbatim("");
        page.verbatim("  .x");
        assert_eq!(page.finish(), "\\&.SH oops\n\\&'also\nfine\n\\&\n  .x\n");
    }
}

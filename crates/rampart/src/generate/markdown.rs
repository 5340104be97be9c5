//! Markdown (as docs/config.md writes it) to man(7) roff.
//!
//! docs/config.md is the one source of the configuration reference: the
//! repository shows it as markdown, and rampart.toml(5) is this conversion
//! of the same text, embedded in the binary, so the two cannot drift.
//!
//! What it maps: `#`/`##` headings to `.SH`, deeper ones to `.SS`;
//! paragraphs to `.PP`; inline code and bold to bold, emphasis to italic;
//! links to their text followed by the target in parentheses; bullet and
//! numbered lists to `.IP`; fenced code blocks to indented no-fill blocks;
//! block quotes to `.RS`. A pipe table becomes a list of `.TP` entries,
//! one per row: the first cell is the tag, the middle cells follow as
//! "Header: value" lines and the last cell is the description. Four
//! columns of prose do not fit a terminal's 80 columns as a grid, while
//! the key with its type, default and meaning below it reads as the rest
//! of a man page does.

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

use super::roff::{Page, escape};

/// Where the examples a link points at (`../examples/X`) are installed,
/// so that the page names a file the reader has.
const EXAMPLES_DIR: &str = "/usr/share/doc/rampart/examples/";

/// Appends the roff form of `markdown` to `page`.
pub fn to_roff(markdown: &str, page: &mut Page) {
    let mut conv = Converter {
        page,
        inline: String::new(),
        fonts: Vec::new(),
        links: Vec::new(),
        code: None,
        table: None,
        items: Vec::new(),
        item_blocks: 0,
    };
    for event in Parser::new_ext(markdown, Options::ENABLE_TABLES) {
        conv.event(event);
    }
    conv.flush();
}

#[derive(Clone, Copy)]
enum Font {
    Bold,
    Italic,
}

/// A table being read: rows of cells, each cell already roff.
#[derive(Default)]
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    row: Vec<String>,
}

struct Converter<'p> {
    page: &'p mut Page,
    /// Escaped inline text of the block being read (a paragraph, heading,
    /// list item or table cell), with font escapes.
    inline: String,
    fonts: Vec<Font>,
    /// Targets of the links being read (a link can hold an image).
    links: Vec<String>,
    /// The text of a code block being read.
    code: Option<String>,
    table: Option<Table>,
    /// Per open list: the next number of an ordered list, or None.
    items: Vec<Option<u64>>,
    /// Blocks seen so far in the current list item: the first one shares
    /// the bullet's line, later ones get an untagged `.IP`.
    item_blocks: usize,
}

impl Converter<'_> {
    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(text) => match &mut self.code {
                Some(code) => code.push_str(&text),
                None => self.inline.push_str(&escape(&text)),
            },
            Event::Code(text) => {
                self.inline.push_str("\\fB");
                self.inline.push_str(&escape(&text));
                self.inline.push_str(self.current_font());
            }
            // Raw HTML and math are shown as written.
            Event::Html(text)
            | Event::InlineHtml(text)
            | Event::InlineMath(text)
            | Event::DisplayMath(text) => self.inline.push_str(&escape(&text)),
            Event::SoftBreak => self.inline.push('\n'),
            Event::HardBreak => {
                self.flush();
                self.page.control("br", &[]);
            }
            Event::Rule => {
                self.flush();
                self.page.control("PP", &[]);
            }
            Event::FootnoteReference(name) => {
                self.inline.push_str(&format!("[{}]", escape(&name)));
            }
            Event::TaskListMarker(done) => {
                self.inline.push_str(if done { "[x] " } else { "[ ] " });
            }
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Paragraph => self.block_start(),
            Tag::Heading { .. } => self.flush(),
            Tag::CodeBlock(_) => {
                self.block_start();
                self.code = Some(String::new());
            }
            Tag::List(first) => {
                self.flush();
                if !self.items.is_empty() {
                    self.page.control("RS", &[]);
                }
                self.items.push(first);
            }
            Tag::Item => {
                self.flush();
                let bullet = match self.items.last_mut() {
                    Some(Some(n)) => {
                        let tag = format!("{n}.");
                        *n += 1;
                        tag
                    }
                    _ => "\\(bu".to_owned(),
                };
                self.page.control("IP", &[&bullet, "4"]);
                self.item_blocks = 0;
            }
            Tag::BlockQuote(_) => {
                self.flush();
                self.page.control("RS", &["4"]);
            }
            Tag::Table(_) => {
                self.flush();
                self.table = Some(Table::default());
            }
            Tag::Strong => self.push_font(Font::Bold),
            Tag::Emphasis => self.push_font(Font::Italic),
            Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. } => {
                self.links.push(dest_url.into_string());
            }
            // Table heads, rows and cells are handled at their end; the
            // rest (strikethrough, footnotes, metadata...) shows its text.
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph => self.flush(),
            TagEnd::Heading(level) => {
                let text = std::mem::take(&mut self.inline);
                let request = match level {
                    HeadingLevel::H1 | HeadingLevel::H2 => "SH",
                    _ => "SS",
                };
                self.page.control(request, &[]);
                self.page.text(&text.replace('\n', " "));
            }
            TagEnd::CodeBlock => {
                let code = self.code.take().unwrap_or_default();
                self.page.control("RS", &["4"]);
                self.page.control("nf", &[]);
                for line in code.strip_suffix('\n').unwrap_or(&code).split('\n') {
                    self.page.verbatim(line);
                }
                self.page.control("fi", &[]);
                self.page.control("RE", &[]);
            }
            TagEnd::List(_) => {
                self.flush();
                self.items.pop();
                if !self.items.is_empty() {
                    self.page.control("RE", &[]);
                }
            }
            TagEnd::Item => self.flush(),
            TagEnd::BlockQuote(_) => {
                self.flush();
                self.page.control("RE", &[]);
            }
            TagEnd::TableCell => {
                let cell = std::mem::take(&mut self.inline);
                if let Some(table) = &mut self.table {
                    table.row.push(cell.replace('\n', " ").trim().to_owned());
                }
            }
            TagEnd::TableHead => {
                if let Some(table) = &mut self.table {
                    table.header = std::mem::take(&mut table.row);
                }
            }
            TagEnd::TableRow => {
                if let Some(table) = &mut self.table {
                    let row = std::mem::take(&mut table.row);
                    table.rows.push(row);
                }
            }
            TagEnd::Table => {
                if let Some(table) = self.table.take() {
                    self.write_table(&table);
                }
            }
            TagEnd::Strong | TagEnd::Emphasis => {
                self.fonts.pop();
                self.inline.push_str(self.current_font());
            }
            TagEnd::Link | TagEnd::Image => {
                if let Some(url) = self.links.pop() {
                    let target = match url.strip_prefix("../examples/") {
                        Some(file) => format!("{EXAMPLES_DIR}{file}"),
                        None => url,
                    };
                    self.inline.push_str(&format!(" ({})", escape(&target)));
                }
            }
            _ => {}
        }
    }

    /// A paragraph or code block begins: a new paragraph, or inside a list
    /// item the item's first block (on the bullet's line) or a further one.
    fn block_start(&mut self) {
        self.flush();
        if self.items.is_empty() {
            self.page.control("PP", &[]);
        } else {
            if self.item_blocks > 0 {
                self.page.control("IP", &["\\&", "4"]);
            }
            self.item_blocks += 1;
        }
    }

    /// Writes the inline text read so far as text lines.
    fn flush(&mut self) {
        if !self.inline.trim().is_empty() {
            self.page.text(&self.inline);
        }
        self.inline.clear();
    }

    fn push_font(&mut self, font: Font) {
        self.fonts.push(font);
        self.inline.push_str(self.current_font());
    }

    fn current_font(&self) -> &'static str {
        match self.fonts.last() {
            Some(Font::Bold) => "\\fB",
            Some(Font::Italic) => "\\fI",
            None => "\\fR",
        }
    }

    /// A table as `.TP` entries (see the module comment).
    fn write_table(&mut self, table: &Table) {
        for row in &table.rows {
            let Some((tag, rest)) = row.split_first() else {
                continue;
            };
            self.page.control("TP", &[]);
            self.page.text(if tag.is_empty() { "\\&" } else { tag });
            let Some((last, middle)) = rest.split_last() else {
                continue;
            };
            for (i, cell) in middle.iter().enumerate() {
                if cell.is_empty() {
                    continue;
                }
                match table.header.get(i + 1).filter(|h| !h.is_empty()) {
                    Some(header) => self
                        .page
                        .text(&format!("\\fI{}:\\fR {cell}", capitalized(header))),
                    None => self.page.text(cell),
                }
                self.page.control("br", &[]);
            }
            self.page.text(last);
        }
        self.page.control("PP", &[]);
    }
}

/// `type` -> `Type`: the table's header word starts the line.
fn capitalized(header: &str) -> String {
    let mut chars = header.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(md: &str) -> String {
        let mut page = Page::new();
        to_roff(md, &mut page);
        page.finish()
    }

    #[test]
    fn headings_paragraphs_and_inline_fonts() {
        let roff = convert(
            "# Top\n\n## `[global]` (optional)\n\n### Sub\n\nSome `code`, **bold *both*** and\n.dot [ex](../examples/q.toml).\n",
        );
        assert_eq!(
            roff,
            ".SH\nTop\n.SH\n\\fB[global]\\fR (optional)\n.SS\nSub\n.PP\n\
             Some \\fBcode\\fR, \\fBbold \\fIboth\\fB\\fR and\n\
             \\&.dot ex (/usr/share/doc/rampart/examples/q.toml).\n"
        );
    }

    #[test]
    fn tables_become_tagged_paragraphs() {
        let roff = convert(
            "| Key | Type | Default | Meaning |\n|---|---|---|---|\n\
             | `level` | `\"a\"` \\| `\"b\"` | | What it is. |\n| `x` | int | `1` | X. |\n\n\
             | Form | Meaning |\n|---|---|\n| `\"tcp\"` | Connects. |\n",
        );
        assert_eq!(
            roff,
            ".TP\n\\fBlevel\\fR\n\\fIType:\\fR \\fB\\(dqa\\(dq\\fR | \\fB\\(dqb\\(dq\\fR\n.br\nWhat it is.\n\
             .TP\n\\fBx\\fR\n\\fIType:\\fR int\n.br\n\\fIDefault:\\fR \\fB1\\fR\n.br\nX.\n.PP\n\
             .TP\n\\fB\\(dqtcp\\(dq\\fR\nConnects.\n.PP\n"
        );
    }

    #[test]
    fn code_blocks_keep_their_lines() {
        let roff = convert("Before:\n\n```toml\n[a]\n  b = \"-\\\\\"\n\n.c\n```\n");
        assert_eq!(
            roff,
            ".PP\nBefore:\n.PP\n.RS 4\n.nf\n[a]\n  b = \\(dq\\-\\e\\e\\(dq\n\\&\n\\&.c\n.fi\n.RE\n"
        );
    }

    #[test]
    fn lists_tight_loose_and_nested() {
        let roff = convert("- one\n- two\n  1. deep\n\n- three\n\n  more\n");
        assert_eq!(
            roff,
            ".IP \\(bu 4\none\n.IP \\(bu 4\ntwo\n.RS\n.IP 1. 4\ndeep\n.RE\n\
             .IP \\(bu 4\nthree\n.IP \\& 4\nmore\n"
        );
    }
}

//! A haproxy.cfg line as HAProxy splits it (its manual, "Quoting and
//! escaping"): words are separated by blanks; `#` starts a comment;
//! double quotes group and keep escapes, single quotes group verbatim; a
//! backslash escapes a blank, `#`, a quote or itself, and `\r`, `\n`,
//! `\t` and `\xNN` stand for those bytes. Any other backslash is kept
//! with what follows, as HAProxy keeps it (regexes such as `\d` rely on
//! it). Environment variables (`"${VAR}"`) are not expanded: the importer
//! does not know the service's environment, so they stay as written and
//! whatever reads them reports them.

/// The words of `line`, or why it cannot be split (a quote left open, a
/// bad `\x` escape).
pub(super) fn words(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    // Whether a word has started (a quoted empty string is a word).
    let mut started = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some('\''), '\'') | (Some('"'), '"') => quote = None,
            (Some('\''), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                started = true;
            }
            (_, '\\') => {
                started = true;
                match chars.peek().copied() {
                    Some(e @ (' ' | '\t' | '#' | '\\' | '\'' | '"')) => {
                        cur.push(e);
                        chars.next();
                    }
                    Some('r') => {
                        cur.push('\r');
                        chars.next();
                    }
                    Some('n') => {
                        cur.push('\n');
                        chars.next();
                    }
                    Some('t') => {
                        cur.push('\t');
                        chars.next();
                    }
                    Some('x') => {
                        chars.next();
                        let hex: String = chars.by_ref().take(2).collect();
                        let byte = u8::from_str_radix(&hex, 16)
                            .ok()
                            .filter(|_| hex.len() == 2)
                            .ok_or_else(|| format!("`\\x{hex}`: \\x takes two hex digits"))?;
                        // Bytes above 0x7f would need a byte string: the
                        // words are text, and rampart's checks take text.
                        if !byte.is_ascii() {
                            return Err(format!(
                                "`\\x{hex}`: bytes above \\x7f are not imported (rampart's \
                                 send/expect checks are text)"
                            ));
                        }
                        cur.push(char::from(byte));
                    }
                    _ => cur.push('\\'),
                }
            }
            (None, '#') => break,
            (None, c) if c == ' ' || c == '\t' => {
                if started {
                    out.push(std::mem::take(&mut cur));
                    started = false;
                }
            }
            (_, c) => {
                cur.push(c);
                started = true;
            }
        }
    }
    if let Some(q) = quote {
        return Err(format!("a {q} quote is not closed"));
    }
    if started {
        out.push(cur);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::words;

    fn w(s: &str) -> Vec<String> {
        words(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn blanks_comments_quotes_and_escapes() {
        assert_eq!(w("  bind\t:80  # public"), ["bind", ":80"]);
        assert_eq!(w("#only a comment"), Vec::<String>::new());
        assert_eq!(
            w(r#"tcp-check send "PING\r\n""#),
            ["tcp-check", "send", "PING\r\n"]
        );
        assert_eq!(
            w(r"tcp-check send PING\r\n"),
            ["tcp-check", "send", "PING\r\n"]
        );
        assert_eq!(w(r"expect string a\ b\#c"), ["expect", "string", "a b#c"]);
        assert_eq!(w(r"x 'a\r b' c"), ["x", r"a\r b", "c"]);
        assert_eq!(w(r#"x "" y"#), ["x", "", "y"]);
        assert_eq!(w(r"rstring ^\d+\.OK"), ["rstring", r"^\d+\.OK"]);
        assert_eq!(w(r"send \x41\x0a"), ["send", "A\n"]);
        assert_eq!(w(r#"a "b # c" d"#), ["a", "b # c", "d"]);
        assert!(words(r#"a "b"#).is_err());
        assert!(words(r"a \x4").is_err());
        assert!(words(r"a \xzz").is_err());
        assert!(words(r"a \xff").is_err());
    }
}

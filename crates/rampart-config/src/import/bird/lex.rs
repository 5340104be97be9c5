//! bird.conf's tokens, each with the line and column it starts at.
//!
//! BIRD's lexer knows IPv4 and IPv6 addresses as tokens of their own; so
//! does this one, loosely: a run of digits and dots, or of hex digits and
//! colons, is an [`Tok::Addr`] and the parser says what is wrong with it
//! (`10.10.10.237.128` has five octets) at the column where it starts.
//! Comments are BIRD's: `#` to the end of the line and `/* ... */`.

use std::fmt;

/// 1-based, as editors count; the column counts characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(super) struct Pos {
    pub(super) line: u32,
    pub(super) col: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Tok {
    /// A keyword or symbol; `'quoted symbols'` without their quotes.
    Word(String),
    Num(u64),
    /// Something shaped like an IP address, not yet checked.
    Addr(String),
    Str(String),
    Punct(&'static str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Token {
    pub(super) tok: Tok,
    pub(super) pos: Pos,
}

impl Token {
    pub(super) fn is(&self, p: &str) -> bool {
        matches!(&self.tok, Tok::Punct(q) if *q == p)
    }

    pub(super) fn is_word(&self, w: &str) -> bool {
        matches!(&self.tok, Tok::Word(x) if x == w)
    }

    pub(super) fn word(&self) -> Option<&str> {
        match &self.tok {
            Tok::Word(w) => Some(w),
            _ => None,
        }
    }
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Word(w) | Tok::Addr(w) => f.write_str(w),
            Tok::Num(n) => write!(f, "{n}"),
            Tok::Str(s) => write!(f, "\"{s}\""),
            Tok::Punct(p) => f.write_str(p),
        }
    }
}

/// Two-character operators first, so that `!=` is not `!` then `=`.
const PUNCT: [&str; 27] = [
    "!=", "!~", "<=", ">=", "&&", "||", "..", "{", "}", "(", ")", "[", "]", ";", ",", "=", "~",
    "<", ">", "!", "+", "-", "*", "/", "%", ":", ".",
];

/// The tokens of `text`, or the first place it cannot be read (an
/// unterminated string or comment, a character BIRD does not use).
pub(super) fn lex(text: &str) -> Result<Vec<Token>, (Pos, String)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line, mut col) = (0usize, 1u32, 1u32);
    // Moves over `n` characters, keeping line and column.
    let advance = |i: &mut usize, line: &mut u32, col: &mut u32, n: usize| {
        for _ in 0..n {
            if chars.get(*i) == Some(&'\n') {
                *line += 1;
                *col = 1;
            } else {
                *col += 1;
            }
            *i += 1;
        }
    };
    while let Some(&c) = chars.get(i) {
        let pos = Pos { line, col };
        let next = chars.get(i + 1).copied();
        if c.is_whitespace() {
            advance(&mut i, &mut line, &mut col, 1);
        } else if c == '#' {
            while chars.get(i).is_some_and(|c| *c != '\n') {
                advance(&mut i, &mut line, &mut col, 1);
            }
        } else if c == '/' && next == Some('*') {
            advance(&mut i, &mut line, &mut col, 2);
            loop {
                match (chars.get(i), chars.get(i + 1)) {
                    (Some('*'), Some('/')) => {
                        advance(&mut i, &mut line, &mut col, 2);
                        break;
                    }
                    (Some(_), _) => advance(&mut i, &mut line, &mut col, 1),
                    (None, _) => return Err((pos, "`/*` comment is never closed".into())),
                }
            }
        } else if c == '"' || c == '\'' {
            // BIRD's strings have no escapes and do not span lines.
            let end = chars[i + 1..].iter().position(|&d| d == c || d == '\n');
            let Some(len) = end.filter(|&n| chars.get(i + 1 + n) == Some(&c)) else {
                return Err((pos, format!("{c}...{c} is not closed on its line")));
            };
            let s: String = chars[i + 1..i + 1 + len].iter().collect();
            let tok = if c == '"' { Tok::Str(s) } else { Tok::Word(s) };
            out.push(Token { tok, pos });
            advance(&mut i, &mut line, &mut col, len + 2);
        } else if c.is_ascii_alphanumeric() || c == '_' || (c == ':' && next == Some(':')) {
            let len = run(&chars[i..]);
            let s: String = chars[i..i + len].iter().collect();
            for (offset, tok) in classify(&s) {
                let pos = Pos {
                    line,
                    col: col + offset,
                };
                out.push(Token { tok, pos });
            }
            advance(&mut i, &mut line, &mut col, len);
        } else {
            let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
            let Some(p) = PUNCT.iter().find(|p| rest.starts_with(**p)) else {
                return Err((pos, format!("unexpected character {c:?}")));
            };
            out.push(Token {
                tok: Tok::Punct(p),
                pos,
            });
            advance(&mut i, &mut line, &mut col, p.len());
        }
    }
    Ok(out)
}

/// The length of a word-like run: letters, digits, `_`, `.` and `:`,
/// stopping before `..` (a range, as in `3..5`).
fn run(chars: &[char]) -> usize {
    let mut n = 0;
    while let Some(&c) = chars.get(n) {
        let word = c.is_ascii_alphanumeric() || c == '_' || c == ':';
        let dot = c == '.' && chars.get(n + 1) != Some(&'.') && n > 0;
        if !(word || dot) {
            break;
        }
        n += 1;
    }
    n
}

/// A run as tokens, each with its offset in the run: an address, a
/// number, or words joined by dots (`bgp_community.add` is three tokens).
fn classify(s: &str) -> Vec<(u32, Tok)> {
    let hexish = s
        .chars()
        .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
    let first = s.chars().next().unwrap_or('_');
    if s.contains(':') && hexish {
        return vec![(0, Tok::Addr(s.to_string()))];
    }
    if first.is_ascii_digit() || first == ':' {
        if s.contains('.') || s.contains(':') {
            return vec![(0, Tok::Addr(s.to_string()))];
        }
        let n = match s.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => s.parse().ok(),
        };
        return match n {
            Some(n) => vec![(0, Tok::Num(n))],
            // `10s`, or too long: the parser names it.
            None => vec![(0, Tok::Word(s.to_string()))],
        };
    }
    // Words, dots, and a trailing `:` (`else:` in a case).
    let mut out = Vec::new();
    let mut offset = 0u32;
    for (k, part) in s.split('.').enumerate() {
        if k > 0 {
            out.push((offset - 1, Tok::Punct(".")));
        }
        let (word, colon) = match part.split_once(':') {
            Some((w, _)) => (w, true),
            None => (part, false),
        };
        if !word.is_empty() {
            out.push((offset, Tok::Word(word.to_string())));
        }
        if colon {
            out.push((offset + word.chars().count() as u32, Tok::Punct(":")));
        }
        offset += part.chars().count() as u32 + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn addresses_words_numbers_and_comments() {
        use Tok::*;
        assert_eq!(
            toks("neighbor 10.10.10.237.128 as 65530; # comment\n/* a\n b */ x"),
            [
                Word("neighbor".into()),
                Addr("10.10.10.237.128".into()),
                Word("as".into()),
                Num(65530),
                Punct(";"),
                Word("x".into()),
            ]
        );
        assert_eq!(
            toks("net ~ [ 2001:db8::/32+, ::/0{1,2} ] && net.len != 0x10"),
            [
                Word("net".into()),
                Punct("~"),
                Punct("["),
                Addr("2001:db8::".into()),
                Punct("/"),
                Num(32),
                Punct("+"),
                Punct(","),
                Addr("::".into()),
                Punct("/"),
                Num(0),
                Punct("{"),
                Num(1),
                Punct(","),
                Num(2),
                Punct("}"),
                Punct("]"),
                Punct("&&"),
                Word("net".into()),
                Punct("."),
                Word("len".into()),
                Punct("!="),
                Num(16),
            ]
        );
        assert_eq!(
            toks("bgp_community.add((65000,1..3)); 'odd-name' fe80::1%eth0 else:"),
            [
                Word("bgp_community".into()),
                Punct("."),
                Word("add".into()),
                Punct("("),
                Punct("("),
                Num(65000),
                Punct(","),
                Num(1),
                Punct(".."),
                Num(3),
                Punct(")"),
                Punct(")"),
                Punct(";"),
                Word("odd-name".into()),
                Addr("fe80::1".into()),
                Punct("%"),
                Word("eth0".into()),
                Word("else".into()),
                Punct(":"),
            ]
        );
    }

    #[test]
    fn positions_are_line_and_column() {
        let t = lex("a\n  /* x\n */ bc.d \"s\"").unwrap();
        let at: Vec<(u32, u32)> = t.iter().map(|t| (t.pos.line, t.pos.col)).collect();
        assert_eq!(at, [(1, 1), (3, 5), (3, 7), (3, 8), (3, 10)]);
    }

    #[test]
    fn unterminated_things_are_errors_with_their_start() {
        let (pos, m) = lex("x\n /* open").unwrap_err();
        assert_eq!((pos.line, pos.col), (2, 2));
        assert!(m.contains("never closed"), "{m}");
        let (pos, _) = lex("password \"abc\n\";").unwrap_err();
        assert_eq!((pos.line, pos.col), (1, 10));
        let (pos, m) = lex("a $").unwrap_err();
        assert_eq!((pos.line, pos.col), (1, 3));
        assert!(m.contains("'$'"), "{m}");
    }
}

//! bird.conf's structure: the top-level statements (`router id`,
//! `define`, `filter`, `function`, `protocol`, `template` and the global
//! options), each protocol's options as [`Item`]s. What the words of an
//! item mean is decided by whoever reads it ([`super::bgp`] for BGP
//! options, [`super::filter`] for filter bodies), so a filter nobody
//! exports through never stops an import.
//!
//! An item is BIRD's option shape: words up to a `;`, or words followed
//! by a `{ ... }` block (`ipv4 { ... };`, `export filter { ... };`).
//! Brackets and parentheses are skipped over whole, so that the `{16,24}`
//! of a prefix pattern in `[ ... ]` is not taken for a block.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

use super::lex::{Pos, Tok, Token};

/// A problem and where it is.
pub(super) type Problem = (Pos, String);

#[derive(Debug, Clone)]
pub(super) struct Item {
    pub(super) pos: Pos,
    pub(super) words: Vec<Token>,
    /// The tokens between the braces.
    pub(super) block: Option<Vec<Token>>,
}

impl Item {
    pub(super) fn first(&self) -> &str {
        self.words.first().and_then(Token::word).unwrap_or("")
    }

    /// The words as written, for messages (`export filter packetdns`).
    pub(super) fn text(&self) -> String {
        let mut s = String::new();
        for (i, t) in self.words.iter().enumerate() {
            let glue = i == 0
                || matches!(&t.tok, Tok::Punct("/" | "." | "(" | ")" | ","))
                || self.words[i - 1].is("/")
                || self.words[i - 1].is(".")
                || self.words[i - 1].is("(");
            if !glue {
                s.push(' ');
            }
            s.push_str(&t.tok.to_string());
        }
        if self.block.is_some() {
            s.push_str(" { ... }");
        }
        s
    }
}

/// `protocol KIND [NAME] [from NAME2] { ... }` or `template ...`.
#[derive(Debug)]
pub(super) struct Proto {
    pub(super) pos: Pos,
    pub(super) template: bool,
    pub(super) kind: String,
    pub(super) name: Option<String>,
    pub(super) from: Option<(String, Pos)>,
    pub(super) items: Vec<Item>,
}

/// A filter or function: its body's tokens, parsed when it is used.
#[derive(Debug)]
pub(super) struct Routine {
    pub(super) name: String,
    /// Parameters, or a filter's local variables: neither is evaluated.
    pub(super) locals: Option<Pos>,
    pub(super) body: Vec<Token>,
}

#[derive(Debug)]
pub(super) struct Define {
    pub(super) name: String,
    pub(super) value: Vec<Token>,
}

#[derive(Debug, Default)]
pub(super) struct Conf {
    pub(super) router_id: Option<Item>,
    pub(super) defines: Vec<Define>,
    pub(super) filters: Vec<Routine>,
    pub(super) functions: Vec<Routine>,
    pub(super) protocols: Vec<Proto>,
    /// Global options other than the above (`log`, `table`, ...).
    pub(super) globals: Vec<Item>,
}

// === Items ===

/// The items of a block (or of the whole file).
pub(super) fn items(toks: &[Token]) -> Result<Vec<Item>, Problem> {
    let mut out: Vec<Item> = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        if toks[i].is(";") {
            i += 1;
            continue;
        }
        let pos = toks[i].pos;
        let mut words = Vec::new();
        let mut depth = 0usize;
        let mut block = None;
        loop {
            let Some(t) = toks.get(i) else {
                let what = words.last().map_or(pos, |t: &Token| t.pos);
                return Err((what, "missing `;` at the end of this statement".into()));
            };
            if depth == 0 && t.is(";") {
                i += 1;
                break;
            }
            if depth == 0 && t.is("{") {
                let end = closing(toks, i)?;
                block = Some(toks[i + 1..end].to_vec());
                i = end + 1;
                if toks.get(i).is_some_and(|t| t.is(";")) {
                    i += 1;
                }
                break;
            }
            if depth == 0 && t.is("}") {
                return Err((t.pos, "`}` without a `{` before it".into()));
            }
            if t.is("(") || t.is("[") {
                depth += 1;
            } else if (t.is(")") || t.is("]")) && depth > 0 {
                depth -= 1;
            }
            words.push(t.clone());
            i += 1;
        }
        // `filter f int x; { ... }`: BIRD 1.6 local variables put a `;`
        // between the header and the body.
        if words.is_empty()
            && let (Some(b), Some(last)) = (&block, out.last_mut())
            && last.block.is_none()
            && matches!(last.first(), "filter" | "function")
        {
            last.block = Some(b.clone());
            continue;
        }
        out.push(Item { pos, words, block });
    }
    Ok(out)
}

/// The index of the `}` that closes the `{` at `open`.
fn closing(toks: &[Token], open: usize) -> Result<usize, Problem> {
    let mut depth = 0usize;
    for (k, t) in toks.iter().enumerate().skip(open) {
        if t.is("{") {
            depth += 1;
        } else if t.is("}") {
            depth -= 1;
            if depth == 0 {
                return Ok(k);
            }
        }
    }
    Err((toks[open].pos, "this `{` is never closed".into()))
}

// === The file ===

pub(super) fn conf(toks: &[Token]) -> Result<Conf, Vec<Problem>> {
    let mut c = Conf::default();
    let mut problems = Vec::new();
    for item in items(toks).map_err(|p| vec![p])? {
        let w = &item.words;
        match item.first() {
            "router" if w.get(1).is_some_and(|t| t.is_word("id")) => c.router_id = Some(item),
            "define" => match (w.get(1).and_then(Token::word), w.get(2)) {
                (Some(name), Some(eq)) if eq.is("=") && w.len() > 3 => c.defines.push(Define {
                    name: name.to_string(),
                    value: w[3..].to_vec(),
                }),
                _ => problems.push((item.pos, "write `define NAME = value;`".into())),
            },
            kind @ ("filter" | "function") => {
                let Some(name) = w.get(1).and_then(Token::word) else {
                    problems.push((item.pos, format!("`{kind}` needs a name")));
                    continue;
                };
                let Some(body) = item.block.clone() else {
                    problems.push((item.pos, format!("{kind} `{name}` has no body `{{ ... }}`")));
                    continue;
                };
                // A filter's words after its name are local variables; a
                // function's are `()` when it takes no parameters (and
                // BIRD 2.14's `-> type`).
                let extra = &w[2..];
                let plain = match kind {
                    "filter" => extra.is_empty(),
                    _ => {
                        extra.len() >= 2
                            && extra[0].is("(")
                            && extra[1].is(")")
                            && extra[2..].iter().all(|t| !t.is(";"))
                            && !extra[2..].iter().any(|t| t.is("("))
                    }
                };
                let r = Routine {
                    name: name.to_string(),
                    locals: (!plain).then(|| extra.first().map_or(item.pos, |t| t.pos)),
                    body,
                };
                if kind == "filter" {
                    c.filters.push(r);
                } else {
                    c.functions.push(r);
                }
            }
            "protocol" | "template" => match proto(&item) {
                Ok(p) => c.protocols.push(p),
                Err(p) => problems.push(p),
            },
            _ => c.globals.push(item),
        }
    }
    if problems.is_empty() {
        Ok(c)
    } else {
        Err(problems)
    }
}

fn proto(item: &Item) -> Result<Proto, Problem> {
    let w = &item.words;
    let template = item.first() == "template";
    let Some(kind) = w.get(1).and_then(Token::word) else {
        return Err((
            item.pos,
            format!("`{}` needs a protocol type", item.first()),
        ));
    };
    let mut kind = kind.to_string();
    let mut rest = &w[2..];
    // `protocol ospf v3 NAME`, `protocol rip ng NAME`.
    if let Some(v) = rest.first().and_then(Token::word)
        && matches!((kind.as_str(), v), ("ospf", "v2" | "v3") | ("rip", "ng"))
    {
        kind = format!("{kind} {v}");
        rest = &rest[1..];
    }
    let mut name = None;
    if let Some(n) = rest.first().and_then(Token::word)
        && n != "from"
    {
        name = Some(n.to_string());
        rest = &rest[1..];
    }
    let from = match rest {
        [] => None,
        [f, t] if f.is_word("from") => match t.word() {
            Some(n) => Some((n.to_string(), t.pos)),
            None => return Err((t.pos, format!("`from` needs a name, got `{}`", t.tok))),
        },
        [t, ..] => return Err((t.pos, format!("unexpected `{}`", t.tok))),
    };
    let Some(block) = &item.block else {
        return Err((item.pos, format!("`{}` has no `{{ ... }}`", item.text())));
    };
    Ok(Proto {
        pos: item.pos,
        template,
        kind,
        name,
        from,
        items: items(block)?,
    })
}

// === Values ===

/// An IP address token, with BIRD-user-sized messages: five octets are
/// named as such.
pub(super) fn ip(t: &Token) -> Result<IpAddr, Problem> {
    let s = match &t.tok {
        Tok::Addr(s) => s.as_str(),
        other => return Err((t.pos, format!("`{other}` is not an IP address"))),
    };
    if let Ok(ip) = s.parse() {
        return Ok(ip);
    }
    if s.contains(':') {
        return Err((t.pos, format!("`{s}` is not an IPv6 address")));
    }
    let parts: Vec<&str> = s.split('.').collect();
    let numeric = parts
        .iter()
        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let why = if numeric && parts.len() != 4 {
        format!(
            "it has {} octets (an IPv4 address has four)",
            count(parts.len())
        )
    } else if let Some(p) = parts
        .iter()
        .find(|p| p.parse::<u32>().is_ok_and(|n| n > 255))
    {
        format!("octet {p} is above 255")
    } else {
        "write four octets, e.g. 10.0.0.1".to_string()
    };
    Err((t.pos, format!("`{s}` is not an IPv4 address: {why}")))
}

pub(super) fn ipv4(t: &Token) -> Result<Ipv4Addr, Problem> {
    match ip(t)? {
        IpAddr::V4(a) => Ok(a),
        IpAddr::V6(a) => Err((t.pos, format!("`{a}` is not an IPv4 address"))),
    }
}

/// `ADDR/LEN` from three tokens, host bits clear.
pub(super) fn prefix(addr: &Token, len: &Token) -> Result<IpNet, Problem> {
    let ip = ip(addr)?;
    let Tok::Num(n) = len.tok else {
        return Err((len.pos, format!("`{}` is not a prefix length", len.tok)));
    };
    let net = u8::try_from(n)
        .ok()
        .and_then(|n| IpNet::new(ip, n).ok())
        .ok_or_else(|| (len.pos, format!("/{n} is too long a prefix for {ip}")))?;
    if net.trunc() != net {
        return Err((
            addr.pos,
            format!("{net} has host bits set; the network is {}", net.trunc()),
        ));
    }
    Ok(net)
}

fn count(n: usize) -> String {
    let words = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
    ];
    words.get(n).map_or(n.to_string(), |w| (*w).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::bird::lex::lex;

    #[test]
    fn items_blocks_and_brackets() {
        let t = lex(
            "a b; c { d; e { f; }; } ; g [ 1.0.0.0/8{9,10} ] { h; }\nfilter x int y; { accept; }",
        )
        .unwrap();
        let it = items(&t).unwrap();
        let shape: Vec<(String, bool)> = it.iter().map(|i| (i.text(), i.block.is_some())).collect();
        assert_eq!(
            shape,
            [
                ("a b".into(), false),
                ("c { ... }".into(), true),
                ("g [ 1.0.0.0/8 { 9, 10 } ] { ... }".into(), true),
                ("filter x int y { ... }".into(), true),
            ]
        );
        let inner = items(it[1].block.as_ref().unwrap()).unwrap();
        assert_eq!(inner.len(), 2);
        let e = items(&lex("a { b;").unwrap()).unwrap_err();
        assert_eq!((e.0.line, e.0.col), (1, 3));
        assert!(items(&lex("a b").unwrap()).is_err());
        assert!(items(&lex("a } b;").unwrap()).is_err());
    }

    #[test]
    fn ip_messages() {
        let t = &lex("10.10.10.237.128 1.2.3 300.1.1.1 ::g").unwrap();
        assert!(ip(&t[0]).unwrap_err().1.contains("it has five octets"));
        assert!(ip(&t[1]).unwrap_err().1.contains("it has three octets"));
        assert!(ip(&t[2]).unwrap_err().1.contains("octet 300 is above 255"));
        let t = &lex("10.0.0.1/8 10.0.0.0 40").unwrap();
        assert!(
            prefix(&t[0], &t[2])
                .unwrap_err()
                .1
                .contains("network is 10.0.0.0/8")
        );
        assert!(prefix(&t[3], &t[4]).unwrap_err().1.contains("too long"));
    }
}

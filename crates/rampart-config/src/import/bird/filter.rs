//! BIRD's filter language, the part export filters are written in:
//! `if ... then ... else ...`, `accept`, `reject`, `{ ... }` blocks,
//! `return`, `print`, assignments and method calls on route attributes
//! (`bgp_community.add((65000,100));`), and expressions with BIRD's
//! precedence (`&&` and `||` are one level, left to right; `!` binds
//! tighter than `=`). Prefix sets take BIRD's patterns: `P`, `P+`, `P-`,
//! `P{lo,hi}`. `case`, local variables and bgp path masks are refused or
//! left opaque; [`super::eval`] says what that means for a route.

use ipnet::IpNet;

use super::lex::{Pos, Tok, Token};
use super::parse::{Problem, ip, prefix};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    AndAlso,
    OrElse,
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    Match,
    NotMatch,
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Debug, Clone)]
pub(super) enum Expr {
    Num(u64),
    Str(String),
    Ip(std::net::IpAddr),
    Net(IpNet),
    Set(Vec<SetItem>),
    Tuple(Vec<Expr>),
    /// A constant, a route attribute, an enum value, `true`, `false`.
    Sym(String, Pos),
    /// `net.len`, `bgp_path.len`, `ip.mask(8)`.
    Field(Box<Expr>, String, Pos),
    Call(String, Vec<Expr>, Pos),
    Not(Box<Expr>),
    Bin(Op, Box<Expr>, Box<Expr>, Pos),
    /// Something no route attribute known here can decide: a bgp path
    /// mask, a `*` wildcard, `-empty-`.
    Opaque(Pos),
}

#[derive(Debug, Clone)]
pub(super) enum SetItem {
    /// `net{lo,hi}`: a prefix of length lo..=hi whose first
    /// min(len, net.len) bits are net's.
    Pattern {
        net: IpNet,
        lo: u8,
        hi: u8,
    },
    Value(Expr),
    /// `a..b`: only ever matched as unknown.
    Range,
}

#[derive(Debug, Clone)]
pub(super) enum Stmt {
    Accept(Pos),
    Reject(Pos),
    If(Expr, Vec<Stmt>, Vec<Stmt>),
    /// `attr = value;`
    Assign(String, Expr, Pos),
    /// `attr.method(args);`
    Method(String, String, Vec<Expr>, Pos),
    /// A function called for its effect.
    Call(String, Vec<Expr>, Pos),
    Return(Option<Expr>, Pos),
    Print(Pos),
}

impl<'a> Parser<'a> {
    fn new(toks: &'a [Token]) -> Self {
        Parser {
            toks,
            i: 0,
            depth: 0,
            exprs: 0,
            ops: 0,
        }
    }
}

/// Statements until the end of `toks`.
pub(super) fn statements(toks: &[Token]) -> Result<Vec<Stmt>, Problem> {
    let mut p = Parser::new(toks);
    let mut out = Vec::new();
    while p.peek().is_some() {
        p.statement(&mut out)?;
    }
    Ok(out)
}

/// One expression filling `toks` (a `define`'s value, an `export where`).
pub(super) fn expression(toks: &[Token]) -> Result<Expr, Problem> {
    let mut p = Parser::new(toks);
    let e = p.expr()?;
    match p.peek() {
        None => Ok(e),
        Some(t) => Err((
            t.pos,
            format!("unexpected `{}` after the expression", t.tok),
        )),
    }
}

struct Parser<'a> {
    toks: &'a [Token],
    i: usize,
    /// Nesting of blocks, conditions and expressions so far.
    depth: usize,
    /// Expressions being parsed, and the operators of the outermost: a
    /// chain `a || b || ...` is a tree as deep as it is long.
    exprs: usize,
    ops: usize,
}

/// Operators in one expression (a condition, a constant): the longest
/// chains in filters people write have tens.
const MAX_OPERATORS: usize = 1000;

/// Deeper nesting than this is no filter a person wrote, and would take
/// the parser's stack with it.
const MAX_NESTING: usize = 100;

/// Words that start a local variable declaration.
const TYPES: [&str; 15] = [
    "int", "bool", "ip", "prefix", "pair", "quad", "ec", "lc", "string", "bgppath", "bgpmask",
    "clist", "eclist", "lclist", "rd",
];

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.i)
    }

    fn peek_is(&self, p: &str) -> bool {
        self.peek().is_some_and(|t| t.is(p))
    }

    fn bump(&mut self) -> Result<&Token, Problem> {
        let at = self.end();
        let t = self.toks.get(self.i).ok_or((at, "unexpected end".into()))?;
        self.i += 1;
        Ok(t)
    }

    fn end(&self) -> Pos {
        self.toks.last().map_or(Pos::default(), |t| t.pos)
    }

    fn eat(&mut self, p: &str) -> bool {
        let yes = self.peek_is(p);
        if yes {
            self.i += 1;
        }
        yes
    }

    fn expect(&mut self, p: &str) -> Result<(), Problem> {
        let t = self.bump()?;
        if t.is(p) {
            Ok(())
        } else {
            Err((t.pos, format!("expected `{p}`, got `{}`", t.tok)))
        }
    }

    /// Up to and including the `;`, for statements whose arguments do not
    /// matter (`print`, the message of `accept "ok"`).
    fn skip_to_semicolon(&mut self) -> Result<(), Problem> {
        while !self.eat(";") {
            self.bump()?;
        }
        Ok(())
    }

    fn statement(&mut self, out: &mut Vec<Stmt>) -> Result<(), Problem> {
        self.nest()?;
        let r = self.statement_inner(out);
        self.depth -= 1;
        r
    }

    /// One level deeper, or an error when that is too deep.
    fn nest(&mut self) -> Result<(), Problem> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            let at = self.peek().map_or(self.end(), |t| t.pos);
            self.depth -= 1;
            return Err((at, format!("nested more than {MAX_NESTING} deep")));
        }
        Ok(())
    }

    fn statement_inner(&mut self, out: &mut Vec<Stmt>) -> Result<(), Problem> {
        let t = self.bump()?.clone();
        let pos = t.pos;
        if t.is(";") {
            return Ok(());
        }
        if t.is("{") {
            while !self.eat("}") {
                if self.peek().is_none() {
                    return Err((pos, "this `{` is never closed".into()));
                }
                self.statement(out)?;
            }
            return Ok(());
        }
        let Some(word) = t.word() else {
            return Err((pos, format!("unexpected `{}`", t.tok)));
        };
        match word {
            "accept" | "reject" => {
                self.skip_to_semicolon()?;
                out.push(if word == "accept" {
                    Stmt::Accept(pos)
                } else {
                    Stmt::Reject(pos)
                });
            }
            "print" | "printn" => {
                self.skip_to_semicolon()?;
                out.push(Stmt::Print(pos));
            }
            "return" => {
                let e = if self.peek_is(";") {
                    None
                } else {
                    Some(self.expr()?)
                };
                self.expect(";")?;
                out.push(Stmt::Return(e, pos));
            }
            "if" => {
                let cond = self.expr()?;
                let then = self.bump()?;
                if !then.is_word("then") {
                    return Err((then.pos, format!("expected `then`, got `{}`", then.tok)));
                }
                let mut yes = Vec::new();
                self.statement(&mut yes)?;
                let mut no = Vec::new();
                if self.peek().is_some_and(|t| t.is_word("else")) {
                    self.i += 1;
                    self.statement(&mut no)?;
                }
                out.push(Stmt::If(cond, yes, no));
            }
            "case" => {
                return Err((
                    pos,
                    "`case` is not read by the importer; write it as `if ... then ... else`".into(),
                ));
            }
            w if TYPES.contains(&w) => {
                return Err((
                    pos,
                    format!("local variable (`{w} ...`): the importer does not follow variables"),
                ));
            }
            name => {
                let name = name.to_string();
                if self.eat("=") {
                    let e = self.expr()?;
                    self.expect(";")?;
                    out.push(Stmt::Assign(name, e, pos));
                } else if self.eat(".") {
                    let m = self.bump()?;
                    let Some(method) = m.word().map(str::to_string) else {
                        return Err((m.pos, format!("unexpected `{}`", m.tok)));
                    };
                    let args = if self.peek_is("(") {
                        self.args()?
                    } else {
                        Vec::new()
                    };
                    self.expect(";")?;
                    out.push(Stmt::Method(name, method, args, pos));
                } else if self.peek_is("(") {
                    let args = self.args()?;
                    self.expect(";")?;
                    out.push(Stmt::Call(name, args, pos));
                } else {
                    return Err((pos, format!("unexpected `{name}`")));
                }
            }
        }
        Ok(())
    }

    /// `( expr, ... )`
    fn args(&mut self) -> Result<Vec<Expr>, Problem> {
        self.expect("(")?;
        let mut args = Vec::new();
        while !self.eat(")") {
            args.push(self.expr()?);
            if !self.eat(",") && !self.peek_is(")") {
                let t = self.bump()?;
                return Err((t.pos, format!("expected `,` or `)`, got `{}`", t.tok)));
            }
        }
        Ok(args)
    }

    // === Expressions, loosest first ===

    pub(super) fn expr(&mut self) -> Result<Expr, Problem> {
        self.nest()?;
        if self.exprs == 0 {
            self.ops = 0;
        }
        self.exprs += 1;
        let r = self.expr_inner();
        self.exprs -= 1;
        self.depth -= 1;
        r
    }

    /// `l op r`, counted.
    fn bin(&mut self, op: Op, l: Expr, r: Expr, pos: Pos) -> Result<Expr, Problem> {
        self.ops += 1;
        if self.ops > MAX_OPERATORS {
            return Err((
                pos,
                format!("more than {MAX_OPERATORS} operators in one expression"),
            ));
        }
        Ok(Expr::Bin(op, Box::new(l), Box::new(r), pos))
    }

    /// Operands of `next` joined by any of `ops`, left to right.
    fn left_assoc(
        &mut self,
        ops: &[(&str, Op)],
        next: fn(&mut Self) -> Result<Expr, Problem>,
    ) -> Result<Expr, Problem> {
        let mut left = next(self)?;
        loop {
            let Some(op) = self
                .peek()
                .and_then(|t| ops.iter().find(|(s, _)| t.is(s)).map(|&(_, op)| op))
            else {
                return Ok(left);
            };
            let pos = self.bump()?.pos;
            let right = next(self)?;
            left = self.bin(op, left, right, pos)?;
        }
    }

    fn expr_inner(&mut self) -> Result<Expr, Problem> {
        self.left_assoc(&[("&&", Op::AndAlso), ("||", Op::OrElse)], Self::comparison)
    }

    fn comparison(&mut self) -> Result<Expr, Problem> {
        let left = self.sum()?;
        let op = match self.peek().map(|t| &t.tok) {
            Some(Tok::Punct("=")) => Op::Eq,
            Some(Tok::Punct("!=")) => Op::Ne,
            Some(Tok::Punct("<")) => Op::Lt,
            Some(Tok::Punct(">")) => Op::Gt,
            Some(Tok::Punct("<=")) => Op::Le,
            Some(Tok::Punct(">=")) => Op::Ge,
            Some(Tok::Punct("~")) => Op::Match,
            Some(Tok::Punct("!~")) => Op::NotMatch,
            _ => return Ok(left),
        };
        let pos = self.bump()?.pos;
        let right = self.sum()?;
        self.bin(op, left, right, pos)
    }

    fn sum(&mut self) -> Result<Expr, Problem> {
        self.left_assoc(&[("+", Op::Add), ("-", Op::Sub)], Self::product)
    }

    fn product(&mut self) -> Result<Expr, Problem> {
        self.left_assoc(&[("*", Op::Mul), ("/", Op::Div)], Self::unary)
    }

    fn unary(&mut self) -> Result<Expr, Problem> {
        if self.eat("!") {
            self.nest()?;
            let inner = self.unary();
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner?)));
        }
        let mut e = self.primary()?;
        while self.peek_is(".") {
            let dot = self.bump()?.pos;
            let f = self.bump()?;
            let Some(field) = f.word().map(str::to_string) else {
                return Err((f.pos, format!("unexpected `{}` after `.`", f.tok)));
            };
            if self.peek_is("(") {
                self.args()?;
            }
            e = Expr::Field(Box::new(e), field, dot);
        }
        Ok(e)
    }

    fn primary(&mut self) -> Result<Expr, Problem> {
        let t = self.bump()?.clone();
        Ok(match &t.tok {
            Tok::Num(n) => Expr::Num(*n),
            Tok::Str(s) => Expr::Str(s.clone()),
            Tok::Addr(_) => {
                if self.eat("/") {
                    let len = self.bump()?.clone();
                    Expr::Net(prefix(&t, &len)?)
                } else {
                    Expr::Ip(ip(&t)?)
                }
            }
            Tok::Word(w) => {
                if self.peek_is("(") {
                    let args = self.args()?;
                    Expr::Call(w.clone(), args, t.pos)
                } else {
                    Expr::Sym(w.clone(), t.pos)
                }
            }
            Tok::Punct("(") => {
                let first = self.element()?;
                if self.eat(")") {
                    return Ok(first);
                }
                let mut parts = vec![first];
                while self.eat(",") {
                    parts.push(self.element()?);
                }
                self.expect(")")?;
                Expr::Tuple(parts)
            }
            Tok::Punct("[") => self.set(t.pos)?,
            // `-empty-`
            Tok::Punct("-") => {
                let e = self.bump()?;
                if !e.is_word("empty") || !self.eat("-") {
                    return Err((t.pos, "unexpected `-`".into()));
                }
                Expr::Opaque(t.pos)
            }
            other => return Err((t.pos, format!("unexpected `{other}`"))),
        })
    }

    /// A tuple element: an expression, `*`, or a range `a..b`.
    fn element(&mut self) -> Result<Expr, Problem> {
        if let Some(t) = self.peek().filter(|t| t.is("*")) {
            let pos = t.pos;
            self.i += 1;
            return Ok(Expr::Opaque(pos));
        }
        let e = self.expr()?;
        if self.peek_is("..") {
            let pos = self.bump()?.pos;
            self.expr()?;
            return Ok(Expr::Opaque(pos));
        }
        Ok(e)
    }

    /// `[ item, ... ]`, or a path mask `[= ... =]`.
    fn set(&mut self, open: Pos) -> Result<Expr, Problem> {
        if self.eat("=") {
            loop {
                let t = self.bump()?;
                if t.is("=") && self.eat("]") {
                    return Ok(Expr::Opaque(open));
                }
            }
        }
        let mut items = Vec::new();
        while !self.eat("]") {
            items.push(self.set_item()?);
            if !self.eat(",") && !self.peek_is("]") {
                let t = self.bump()?;
                return Err((t.pos, format!("expected `,` or `]`, got `{}`", t.tok)));
            }
        }
        Ok(Expr::Set(items))
    }

    fn set_item(&mut self) -> Result<SetItem, Problem> {
        let is_prefix = matches!(self.peek().map(|t| &t.tok), Some(Tok::Addr(_)))
            && self.toks.get(self.i + 1).is_some_and(|t| t.is("/"));
        if is_prefix {
            let addr = self.bump()?.clone();
            self.i += 1;
            let len = self.bump()?.clone();
            let net = prefix(&addr, &len)?;
            let (own, max) = (net.prefix_len(), net.max_prefix_len());
            let (lo, hi) = if self.eat("+") {
                (own, max)
            } else if self.eat("-") {
                (0, own)
            } else if self.eat("{") {
                let lo = self.length(max)?;
                self.expect(",")?;
                let hi = self.length(max)?;
                self.expect("}")?;
                if lo > hi {
                    return Err((addr.pos, format!("{net}{{{lo},{hi}}}: {lo} is above {hi}")));
                }
                (lo, hi)
            } else {
                (own, own)
            };
            return Ok(SetItem::Pattern { net, lo, hi });
        }
        let e = self.element()?;
        if self.eat("..") {
            self.element()?;
            return Ok(SetItem::Range);
        }
        Ok(SetItem::Value(e))
    }

    fn length(&mut self, max: u8) -> Result<u8, Problem> {
        let t = self.bump()?;
        match t.tok {
            Tok::Num(n) if n <= u64::from(max) => Ok(n as u8),
            _ => Err((
                t.pos,
                format!("`{}` is not a prefix length (0 to {max})", t.tok),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::bird::lex::lex;

    fn parse(s: &str) -> Vec<Stmt> {
        statements(&lex(s).unwrap()).unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn the_usual_shapes() {
        let s = parse(
            "if net = 147.75.78.116/32 then accept;\n\
             if net ~ [ 10.0.0.0/8+, 2001:db8::/32{48,64}, 1.2.3.0/24- ] then { \
               bgp_community.add((65000, 100)); bgp_med = 10; accept \"ok\"; } \
             else reject;\n\
             if (proto = \"static1\") && ! (source ~ [RTS_STATIC, RTS_DEVICE]) || net.len > 24 then \
               bgp_path.prepend(65000);\n\
             print \"x\", net; my_fn(); return;",
        );
        assert_eq!(s.len(), 6, "{s:#?}");
        let Stmt::If(Expr::Bin(Op::Match, _, set, _), yes, no) = &s[1] else {
            panic!("{:?}", s[1])
        };
        let Expr::Set(items) = &**set else {
            panic!("{set:?}")
        };
        let pats: Vec<(String, u8, u8)> = items
            .iter()
            .map(|i| match i {
                SetItem::Pattern { net, lo, hi } => (net.to_string(), *lo, *hi),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            pats,
            [
                ("10.0.0.0/8".to_string(), 8, 32),
                ("2001:db8::/32".to_string(), 48, 64),
                ("1.2.3.0/24".to_string(), 0, 24),
            ]
        );
        assert_eq!((yes.len(), no.len()), (3, 1));
        // `&&` and `||` are one level, left to right: (a && b) || c.
        let Stmt::If(Expr::Bin(Op::OrElse, left, _, _), ..) = &s[2] else {
            panic!("{:?}", s[2])
        };
        assert!(matches!(**left, Expr::Bin(Op::AndAlso, ..)));
    }

    #[test]
    fn what_is_refused() {
        let braces = "{".repeat(10_000);
        let parens = format!("if {}net = 1.0.0.0/8 then accept;", "(".repeat(10_000));
        let nots = format!("if {}true then accept;", "!".repeat(10_000));
        let chain = format!("if true{} then accept;", " || true".repeat(10_000));
        for (src, needle) in [
            ("case net.len { 24: accept; }", "`case`"),
            ("int x; x = 1;", "local variable"),
            ("if net = 10.0.0.1/8 then accept;", "host bits"),
            (
                "if net ~ [ 10.0.0.0/8{20,16} ] then accept;",
                "20 is above 16",
            ),
            ("if net = 10.0.0.0/8 accept;", "expected `then`"),
            ("accept", "unexpected end"),
            ("{ accept;", "never closed"),
            (braces.as_str(), "nested more than 100 deep"),
            (parens.as_str(), "nested more than 100 deep"),
            (nots.as_str(), "nested more than 100 deep"),
            (chain.as_str(), "more than 1000 operators in one expression"),
        ] {
            let e = statements(&lex(src).unwrap()).unwrap_err();
            assert!(e.1.contains(needle), "{src}: {e:?}");
        }
    }

    #[test]
    fn masks_wildcards_and_tuples() {
        let e = expression(
            &lex("bgp_path ~ [= * 65000 * =] && (65000, *) ~ bgp_community && -empty- = x")
                .unwrap(),
        )
        .unwrap();
        assert!(matches!(e, Expr::Bin(Op::AndAlso, ..)));
        assert!(expression(&lex("(1, 2, 3)").unwrap()).is_ok());
        assert!(expression(&lex("1 2").unwrap()).is_err());
    }
}

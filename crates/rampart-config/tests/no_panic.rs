//! `parse` and `render` must not panic on any input: a config file is user
//! input, and `rampart check` runs on whatever it is given. Random strings
//! mostly stop at the TOML parser, so the files that matter most are the
//! examples with random edits: quickstart reaches the proxy sections, the
//! seed's lb1 the `[vrrp]` and `[bgp]` parsers.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use proptest::prelude::*;
use rampart_config::{Errors, parse};

const QUICKSTART: &str = include_str!("../../../examples/quickstart.toml");
const SEED_LB: &str = include_str!("../../../examples/seed-lb.toml");

/// Characters that change TOML structure or our values when inserted.
const INTERESTING: &[char] = &[
    '[', ']', '{', '}', '=', '"', '\'', ',', '.', '\n', '#', '0', '9', '-', ':', '/', 's', 'x',
    ' ', '\\', 'é', '\u{0}', '\r', '\t',
];

#[derive(Debug, Clone)]
enum Edit {
    Delete(usize),
    Insert(usize, char),
    Replace(usize, char),
    /// Copies a line elsewhere: makes duplicate keys, names and sections.
    DuplicateLine(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let ch = prop_oneof![proptest::sample::select(INTERESTING), any::<char>(),];
    prop_oneof![
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), ch.clone()).prop_map(|(i, c)| Edit::Insert(i, c)),
        (any::<usize>(), ch).prop_map(|(i, c)| Edit::Replace(i, c)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::DuplicateLine(a, b)),
    ]
}

fn apply(src: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = src.chars().collect();
    for e in edits {
        let n = chars.len().max(1);
        match *e {
            Edit::Delete(i) if !chars.is_empty() => {
                chars.remove(i % n);
            }
            Edit::Delete(_) => {}
            Edit::Insert(i, c) => chars.insert(i % (chars.len() + 1), c),
            Edit::Replace(i, c) if !chars.is_empty() => chars[i % n] = c,
            Edit::Replace(_, _) => {}
            Edit::DuplicateLine(from, to) => {
                let text: String = chars.iter().collect();
                let lines: Vec<&str> = text.split_inclusive('\n').collect();
                if lines.is_empty() {
                    continue;
                }
                let line = lines[from % lines.len()].to_string();
                let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
                out.insert(to % (lines.len() + 1), line);
                chars = out.concat().chars().collect();
            }
        }
    }
    chars.into_iter().collect()
}

/// Everything a caller may do with the result, so that it too is covered.
fn exercise(src: &str) {
    if let Err(e) = parse("fuzz.toml", src) {
        check_errors(&e, src);
    }
}

fn check_errors(e: &Errors, src: &str) {
    assert!(!e.diagnostics().is_empty());
    for d in e.diagnostics() {
        assert!(d.line >= 1 && d.column >= 1);
        assert!(
            src.get(d.span.clone()).is_some(),
            "span {:?} out of bounds",
            d.span
        );
    }
    let text = e.render();
    assert!(text.contains("fuzz.toml:"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_strings_do_not_panic(src in any::<String>()) {
        exercise(&src);
    }

    #[test]
    fn toml_looking_strings_do_not_panic(src in "[\\[\\]{}=\"', .a-z0-9:/\n#-]{0,200}") {
        exercise(&src);
    }

    #[test]
    fn edited_quickstart_does_not_panic(edits in proptest::collection::vec(edit(), 1..8)) {
        exercise(&apply(QUICKSTART, &edits));
    }

    #[test]
    fn edited_seed_lb_does_not_panic(edits in proptest::collection::vec(edit(), 1..8)) {
        exercise(&apply(SEED_LB, &edits));
    }
}

#[test]
fn examples_are_valid_before_editing() {
    assert!(parse("quickstart.toml", QUICKSTART).is_ok());
    assert!(parse("seed-lb.toml", SEED_LB).is_ok());
}

//! The importers never panic, whatever the file: a haproxy.cfg or
//! keepalived.conf is user input. The realistic fixtures, with random
//! edits (the characters that change their structure most), each cut
//! short at every line, and random text; whatever comes out, an import
//! that succeeds is valid rampart config.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use proptest::prelude::*;
use rampart_config::{import_haproxy, import_keepalived, parse};

const HAPROXY: &[&str] = &[
    include_str!("fixtures/haproxy/office.cfg"),
    include_str!("fixtures/haproxy/checks.cfg"),
    include_str!("fixtures/haproxy/ipv6.cfg"),
    include_str!("fixtures/haproxy/redis_master.cfg"),
    include_str!("fixtures/haproxy/rate_limit.cfg"),
];
const KEEPALIVED: &str = include_str!("fixtures/keepalived/sync_notify.conf");

/// Characters that change HAProxy's and keepalived's structure or values.
const INTERESTING: &[char] = &[
    ' ', '\t', '\n', '#', '!', '"', '\'', '\\', '{', '}', ':', ',', '@', '/', '-', '[', ']', '|',
    '0', '9', 'x', 'é', '\u{0}',
];

fn haproxy(text: &str) {
    if let Ok(i) = import_haproxy("h.cfg", text) {
        parse("i.toml", &i.toml).unwrap_or_else(|e| panic!("{e}\n{}", i.toml));
    }
}

fn keepalived(text: &str) {
    for frontend in [None, Some("www")] {
        if let Ok(i) = import_keepalived("k.conf", text, frontend) {
            // Valid with a frontend of that name, as the importer checks.
            if frontend.is_none() {
                parse("i.toml", &i.toml).unwrap_or_else(|e| panic!("{e}\n{}", i.toml));
            }
        }
    }
}

/// (position, character) edits applied in turn.
fn edited(text: &str, edits: &[(usize, usize, bool)]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for &(at, c, insert) in edits {
        let c = INTERESTING[c % INTERESTING.len()];
        let at = at % (chars.len() + 1);
        if insert || at == chars.len() {
            chars.insert(at, c);
        } else {
            chars[at] = c;
        }
    }
    chars.into_iter().collect()
}

#[test]
fn every_fixture_cut_short_at_every_line() {
    for text in HAPROXY.iter().chain([&KEEPALIVED]) {
        let lines: Vec<&str> = text.lines().collect();
        for n in 0..=lines.len() {
            let cut = lines[..n].join("\n");
            haproxy(&cut);
            keepalived(&cut);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn edited_haproxy_fixtures_do_not_panic(
        which in 0..HAPROXY.len(),
        edits in proptest::collection::vec((any::<usize>(), any::<usize>(), any::<bool>()), 1..8),
    ) {
        haproxy(&edited(HAPROXY[which], &edits));
    }

    #[test]
    fn edited_keepalived_fixture_does_not_panic(
        edits in proptest::collection::vec((any::<usize>(), any::<usize>(), any::<bool>()), 1..8),
    ) {
        keepalived(&edited(KEEPALIVED, &edits));
    }

    #[test]
    fn config_looking_text_does_not_panic(text in "[a-z0-9 :@,.!/{}\"'\\\\#|\n-]{0,200}") {
        haproxy(&text);
        keepalived(&text);
    }
}

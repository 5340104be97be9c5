//! Errors in the shape of the file: TOML syntax, unknown keys, wrong
//! types, missing keys; and that a file with many errors reports them all.
//! Every test pins the line and column of each diagnostic.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use common::{POOL, WWW, errors, expect};

#[test]
fn toml_syntax_error_is_one_diagnostic_at_its_position() {
    let src = "[[frontend]]\nname = \"www\nbind = []\n";
    expect(src, &[(2, 12, "invalid TOML")]);
}

#[test]
fn toml_duplicate_key_is_a_syntax_error() {
    let src = "[global]\nthreads = 1\nthreads = 2\n";
    expect(src, &[(3, 1, "duplicate key")]);
}

#[test]
fn unknown_key_suggests_the_close_one() {
    let src = format!(
        "[[frontend]]\nname = \"www\"\nbnd = [\"127.0.0.1:80\"]\nbackend = \"pool\"\n{POOL}"
    );
    // No second "missing `bind`" error: the typo is the one problem.
    expect(
        &src,
        &[(3, 1, "unknown key `bnd` in frontend; did you mean `bind`?")],
    );
}

#[test]
fn unknown_key_without_a_close_one_lists_the_known_keys() {
    let src = format!(
        "{WWW}[[backend]]\nname = \"pool\"\nservers = [{{ name = \"a\", addr = \"127.0.0.1:81\", colour = 1 }}]\n"
    );
    expect(
        &src,
        &[(
            7,
            49,
            "unknown key `colour` in server (known keys: name, addr",
        )],
    );
}

#[test]
fn unknown_keys_in_nested_tables() {
    let src = format!(
        "{WWW}{POOL}timeout = {{ conect = \"1s\" }}\nhealth = {{ check = {{ http = \"GET /\", stauts = 200 }} }}\n"
    );
    expect(
        &src,
        &[
            (
                8,
                13,
                "unknown key `conect` in `timeout`; did you mean `connect`?",
            ),
            (
                9,
                38,
                "unknown key `stauts` in `check`; did you mean `status`?",
            ),
        ],
    );
}

#[test]
fn unknown_top_level_key() {
    let src = format!("{WWW}{POOL}[firewall]\nid = 1\n[globl]\n");
    expect(
        &src,
        &[
            (
                8,
                2,
                "unknown key `firewall` at the top level (known keys: global, frontend, backend, \
                 vrrp, bgp, gateway, admin)",
            ),
            (10, 2, "did you mean `global`?"),
        ],
    );
}

#[test]
fn wrong_types() {
    let src = format!(
        "[[frontend]]\nname = \"www\"\nbind = \"127.0.0.1:80\"\nbackend = \"pool\"\nmaxconn = \"many\"\n{POOL}[global]\nthreads = 1.5\n"
    );
    expect(
        &src,
        &[
            (3, 8, "`bind` must be an array, found a string"),
            (5, 11, "`maxconn` must be an integer, found a string"),
            (10, 11, "`threads` must be an integer, found a float"),
        ],
    );
}

#[test]
fn wrong_type_inside_a_list() {
    let src = format!(
        "{POOL}[[frontend]]\nname = \"www\"\nbind = [\"127.0.0.1:80\", 81]\nbackend = \"pool\"\n"
    );
    expect(
        &src,
        &[(
            6,
            25,
            "each entry of `bind` must be a string, found an integer",
        )],
    );
}

#[test]
fn wrong_types_of_bools_and_durations() {
    let src = format!("{WWW}{POOL}health = {{ start_up = \"yes\", interval = 2 }}\n");
    expect(
        &src,
        &[
            (8, 23, "`start_up` must be true or false, found a string"),
            (
                8,
                41,
                "`interval` must be a duration string such as \"5s\", found an integer",
            ),
        ],
    );
}

#[test]
fn section_written_as_a_single_table() {
    let src = format!("{POOL}[frontend]\nname = \"www\"\n");
    expect(&src, &[(4, 2, "write [[frontend]], not [frontend]")]);
}

#[test]
fn servers_written_as_a_single_table() {
    let src = format!("{WWW}[[backend]]\nname = \"pool\"\n[backend.servers]\nname = \"a\"\n");
    expect(
        &src,
        &[(7, 10, "write [[backend.servers]], not [backend.servers]")],
    );
}

#[test]
fn missing_required_keys_point_at_the_table() {
    let src =
        format!("[[frontend]]\nbind = [\"127.0.0.1:80\"]\n{POOL}[[backend]]\nname = \"other\"\n");
    expect(
        &src,
        &[
            (1, 1, "missing required key `name` in frontend"),
            (1, 1, "missing required key `backend` in frontend"),
            (6, 1, "missing required key `servers` in backend"),
        ],
    );
}

#[test]
fn missing_required_key_of_an_inline_table() {
    let src = format!("{WWW}[[backend]]\nname = \"pool\"\nservers = [\n  {{ name = \"a\" }},\n]\n");
    expect(&src, &[(8, 3, "missing required key `addr` in server")]);
}

#[test]
fn missing_required_key_of_a_server_section() {
    let src = format!(
        "{WWW}[[backend]]\nname = \"pool\"\n[[backend.servers]]\naddr = \"127.0.0.1:81\"\n"
    );
    expect(&src, &[(7, 1, "missing required key `name` in server")]);
}

#[test]
fn integer_beyond_64_bits() {
    let src = format!("{WWW}{POOL}retries = 99999999999999999999999\n");
    expect(
        &src,
        &[(
            8,
            11,
            "`retries` must be at most 4294967295, got 99999999999999999999999",
        )],
    );
}

#[test]
fn several_errors_are_all_reported_in_order_of_position() {
    let src = r#"[global]
threads = 5000
log_level = "loud"

[[frontend]]
name = "www"
bind = ["127.0.0.1:0"]
backend = "poll"
maxconn = 0

[[backend]]
name = "pool"
balance = "rr"
timeout = { connect = "0s" }
servers = [
  { name = "a", addr = "127.0.0.1:8081", weight = 300 },
  { name = "a", addr = "127.0.0.1:8082", send_proxy = "v3" },
]
"#;
    expect(
        src,
        &[
            (2, 11, "`threads` must be between 0 and 1024, got 5000"),
            (3, 13, "invalid `log_level` `loud`"),
            (7, 9, "port 0"),
            (8, 11, "backend `poll` is not defined; did you mean `pool`?"),
            (9, 11, "`maxconn` must be at least 1, got 0"),
            (13, 11, "invalid `balance` `rr`"),
            (14, 23, "`connect` must be greater than 0"),
            (16, 51, "`weight` must be between 0 and 256"),
            (17, 12, "duplicate server name `a`"),
            (17, 55, "invalid `send_proxy` `v3`; expected one of: v1, v2"),
        ],
    );
}

#[test]
fn render_shows_location_source_line_caret_and_count() {
    let src =
        format!("{POOL}[[frontend]]\nname = \"www\"\nbnd = []\nbackend = \"pool\"\nmaxconn = -1\n");
    let text = errors(&src).render();
    let expected = [
        "t.toml:6:1: error: unknown key `bnd` in frontend; did you mean `bind`?",
        "6 | bnd = []",
        "  | ^^^",
        "t.toml:8:11: error: `maxconn` must be at least 1, got -1",
        "8 | maxconn = -1",
        "  |           ^^",
    ];
    for line in expected {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    assert!(text.ends_with("2 errors\n"), "{text}");
    assert_eq!(errors(&src).to_string(), text);
}

#[test]
fn render_of_one_error_says_error_singular() {
    let text = errors("[global]\nthreads = -1\n").render();
    assert!(text.contains("t.toml:2:11: error:"), "{text}");
    assert!(text.ends_with("\n1 error\n"), "{text}");
}

//! Helpers shared by the integration tests.

#![allow(dead_code)] // each test binary uses a different subset

use rampart_config::{Config, Diagnostic, Errors, parse};

/// A valid backend named `pool`, three lines long, to append to a file
/// under test so that only the error being tested is reported.
pub const POOL: &str = r#"[[backend]]
name = "pool"
servers = [{ name = "a", addr = "127.0.0.1:8081" }]
"#;

/// A valid frontend forwarding to `pool`, four lines long.
pub const WWW: &str = r#"[[frontend]]
name = "www"
bind = ["127.0.0.1:8080"]
backend = "pool"
"#;

pub fn ok(src: &str) -> Config {
    match parse("t.toml", src) {
        Ok(c) => c,
        Err(e) => panic!("expected a valid config, got:\n{e}"),
    }
}

pub fn errors(src: &str) -> Errors {
    match parse("t.toml", src) {
        Ok(c) => panic!("expected errors, got {c:#?}"),
        Err(e) => e,
    }
}

/// Asserts the exact list of errors, in order: (line, column, a piece of
/// the message).
#[track_caller]
pub fn expect(src: &str, want: &[(usize, usize, &str)]) {
    let errs = errors(src);
    let got: Vec<&Diagnostic> = errs.diagnostics().iter().collect();
    let ok = got.len() == want.len()
        && got
            .iter()
            .zip(want)
            .all(|(d, (l, c, m))| d.line == *l && d.column == *c && d.message.contains(m));
    assert!(ok, "want {want:#?}\ngot:\n{errs}");
}

/// A valid VRRP instance, five lines long, so that a key appended to it is
/// on line 6 and its value starts at column `key.len() + 4`.
pub const VI: &str = r#"[[vrrp.instance]]
name = "VI_1"
interface = "eth0"
vrid = 101
virtual_addresses = ["192.0.2.10"]
"#;

/// [`VI`] plus one more line.
pub fn instance_with(extra: &str) -> String {
    format!("{VI}{extra}\n")
}

/// [`VI`] with other addresses on line 5 (the first entry starts at column
/// 22) and `extra` on line 6.
pub fn instance_vips(vips: &str, extra: &str) -> String {
    let vi = VI.replace("[\"192.0.2.10\"]", vips);
    format!("{vi}{extra}\n")
}

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

/// A `[bgp]` section with one eBGP neighbor `bgp1` (IPv4), seven lines
/// long: a key appended to the neighbor is on line 8 and its value starts
/// at column `key.len() + 4`.
pub const BGP: &str = r#"[bgp]
router_id = "192.0.2.1"
local_as = 65000
[[bgp.neighbor]]
name = "bgp1"
address = "169.254.255.1"
remote_as = 65530
"#;

/// [`BGP`] plus one more line in the neighbor.
pub fn neighbor_with(extra: &str) -> String {
    format!("{BGP}{extra}\n")
}

/// [`BGP`] and an announcement of 192.0.2.0/24 on lines 8–9, with
/// `extra` on line 10.
pub fn announce_with(extra: &str) -> String {
    format!("{BGP}[[bgp.announce]]\nprefix = \"192.0.2.0/24\"\n{extra}\n")
}

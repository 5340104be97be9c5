//! Other programs' configurations as rampart TOML: [`haproxy`]
//! (`rampart import haproxy`), [`keepalived`] and [`bird`]. Each output
//! is parsed by [`crate::parse`] before it is returned, so it is always a
//! valid config. What the three share (the result, and how TOML values
//! are written) is here.

mod bird;
mod haproxy;
mod keepalived;

use std::fmt::Write as _;

pub use bird::import_bird;
pub use haproxy::import_haproxy;
pub use keepalived::import_keepalived;

/// The TOML and what was not carried over.
#[derive(Debug)]
pub struct Imported {
    pub toml: String,
    pub warnings: Vec<String>,
}

/// Milliseconds as a rampart duration: whole seconds as `"5s"`.
pub(crate) fn ms_duration(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// An imported section with a stub frontend named `frontend` (and its
/// backend) after it, so that what refers to the frontend (keepalived's
/// `track_proxy`, a BGP announcement's health policy) validates alone.
pub(crate) fn with_frontend(toml: &str, frontend: Option<&str>) -> String {
    let mut whole = toml.to_string();
    if let Some(f) = frontend {
        let _ = write!(
            whole,
            "\n[[frontend]]\nname = {}\nbind = [\"127.0.0.1:1\"]\nbackend = \"b\"\n\
             [[backend]]\nname = \"b\"\nservers = [{{ name = \"s\", addr = \"127.0.0.1:2\" }}]\n",
            q(f)
        );
    }
    whole
}

/// A TOML basic string with its escapes written out (`"PING\r\n"`:
/// readable, and how docs/config.md writes send/expect checks).
pub(crate) fn q(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

//! Running `ip` and other commands, with failures turned into
//! `io::Error`s that carry the command line and its stderr.

use std::io;
use std::process::{Command, Output};

/// Runs `ip ARGS` and returns its stdout.
pub(crate) fn ip(args: &[&str]) -> io::Result<String> {
    let mut cmd = Command::new("ip");
    cmd.args(args);
    run(&mut cmd)
}

/// Runs `ip -n NS ARGS` (the command runs inside namespace `ns`).
pub(crate) fn ip_in(ns: &str, args: &[&str]) -> io::Result<String> {
    let mut cmd = Command::new("ip");
    cmd.args(["-n", ns]).args(args);
    run(&mut cmd)
}

/// Runs `cmd` to completion; an error unless it exits with status 0.
pub(crate) fn run(cmd: &mut Command) -> io::Result<String> {
    let out = cmd
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run {}: {e}", describe(cmd))))?;
    check(cmd, out)
}

/// Turns a finished command's output into its stdout, or an error with
/// its stderr if it failed.
pub(crate) fn check(cmd: &Command, out: Output) -> io::Result<String> {
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    Err(io::Error::other(format!(
        "{} failed ({}): {}",
        describe(cmd),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}

/// `prog arg1 arg2 ...`, for messages.
pub(crate) fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|s| s.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Parses `ip -j` output; iproute2 prints nothing at all for an empty
/// list in some commands (`ip -j netns list`), which is read as `[]`.
pub(crate) fn json(text: &str) -> io::Result<Vec<serde_json::Value>> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(text)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("bad `ip -j` JSON: {e}")))
}

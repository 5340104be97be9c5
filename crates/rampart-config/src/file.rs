//! Reading a configuration file: the one place that does, so that `check`,
//! `run` and a SIGHUP reload refuse the same files with the same messages.
//!
//! Two things can go wrong before TOML parsing starts, and both are
//! reported as ordinary [`Errors`] with a line and column, so callers have
//! one error path:
//! - the file is too large ([`MAX_FILE_SIZE`]): `check -c /dev/zero` must
//!   stop at once, not read until memory runs out;
//! - the file is not UTF-8: the error points at the first bad byte.

use std::io::Read;
use std::path::Path;

use crate::diag::{Errors, Sink};

/// Largest configuration file read, in bytes. A real node's file is a few
/// KiB; one with 50 000 servers is about 4 MiB. 16 MiB leaves room for
/// generated files while bounding what a wrong path (`/dev/zero`, a log
/// file, a disk image) can make the supervisor allocate: it owns VRRP and
/// BGP, so it must not be the process that runs out of memory.
pub const MAX_FILE_SIZE: u64 = 16 * 1024 * 1024;

/// Reads `path` as a configuration's text: at most [`MAX_FILE_SIZE`]
/// bytes, valid UTF-8. Errors name the file as `path` is displayed.
pub fn read_file(path: &Path) -> Result<String, Errors> {
    let origin = path.display().to_string();
    let unreadable = |e: std::io::Error| {
        let mut sink = Sink::new("");
        sink.error(0..0, format!("cannot read the file: {e}"));
        sink.into_errors(&origin)
    };
    // A FIFO would block the open (and the supervisor with it, on a
    // reload) until someone writes to it: refuse it before opening.
    let meta = std::fs::metadata(path).map_err(unreadable)?;
    if std::os::unix::fs::FileTypeExt::is_fifo(&meta.file_type()) {
        let mut sink = Sink::new("");
        sink.error(0..0, "the file is a FIFO, not a configuration file");
        return Err(sink.into_errors(&origin));
    }
    let file = std::fs::File::open(path).map_err(unreadable)?;
    // One byte more than allowed tells "exactly the limit" from "more".
    let mut bytes = Vec::new();
    file.take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        let mut sink = Sink::new("");
        sink.error(
            0..0,
            format!(
                "the file is larger than {} MiB, the limit for a configuration file; \
                 is this the right file?",
                MAX_FILE_SIZE / (1024 * 1024)
            ),
        );
        return Err(sink.into_errors(&origin));
    }
    text(&origin, bytes)
}

/// The bytes as UTF-8, or an error at the first byte that is not.
fn text(origin: &str, bytes: Vec<u8>) -> Result<String, Errors> {
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        // The lossy copy has the same lines and columns before the bad
        // byte, so the position is right and the excerpt readable.
        let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
        let mut sink = Sink::new(&lossy);
        sink.error(
            at..at + 1,
            "the file is not valid UTF-8 (rampart reads configuration files as UTF-8)",
        );
        sink.into_errors(origin)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = std::env::temp_dir().join(format!("rampart-fifo-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let fifo = dir.join("node.toml");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo failed");
        let Err(e) = read_file(&fifo) else {
            panic!("a FIFO was read")
        };
        assert!(e.to_string().contains("FIFO"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn invalid_utf8_is_reported_at_the_first_bad_byte() {
        let Err(e) = text("t.toml", b"a = 1\nb = \"\xc3\x28\"\n".to_vec()) else {
            panic!("accepted invalid UTF-8")
        };
        let d = &e.diagnostics()[0];
        assert_eq!((d.line, d.column), (2, 6), "{e}");
        assert!(
            e.render()
                .contains("t.toml:2:6: error: the file is not valid UTF-8")
        );
    }

    #[test]
    fn valid_utf8_is_returned_as_it_is() {
        assert_eq!(text("t.toml", "é = 1\n".into()), Ok("é = 1\n".to_string()));
    }

    #[test]
    fn dev_zero_is_refused_after_the_limit() {
        let started = std::time::Instant::now();
        let Err(e) = read_file(Path::new("/dev/zero")) else {
            panic!("read /dev/zero")
        };
        assert!(
            e.render()
                .starts_with("/dev/zero:1:1: error: the file is larger than 16 MiB"),
            "{e}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }
}

//! Logging: tracing to stderr through a writer thread. A log line never
//! blocks the thread that writes it: when stderr is a pipe that stalls
//! (journald busy, a terminal scrolled back, a full disk behind a
//! redirect), a synchronous write would stop the VRRP thread mid-advert
//! and a backup would take over. Lines are queued instead; when the queue
//! is full they are dropped and counted, and the count is logged once the
//! output keeps up again.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};

/// Lines queued for the writer thread before new ones are dropped: a few
/// seconds of a connection log at tens of thousands of connections/s.
const QUEUED_LINES: usize = 128 * 1024;

static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();
/// The writer thread's guard; [`flush`] drops it.
static GUARD: std::sync::Mutex<Option<WorkerGuard>> = std::sync::Mutex::new(None);
/// Drops already reported.
static REPORTED: AtomicUsize = AtomicUsize::new(0);

/// Flushes the queue when dropped (keep it until the process ends).
pub struct Flush;

impl Drop for Flush {
    fn drop(&mut self) {
        flush();
    }
}

/// Writes out every queued line and stops the writer thread: before an
/// exec (`rampart upgrade`), which would lose them. Lines logged after
/// this are dropped.
pub fn flush() {
    if let Ok(mut g) = GUARD.lock() {
        drop(g.take());
    }
}

/// Environment variable telling a worker its supervisor logs JSON.
pub const ENV_FORMAT: &str = "RAMPART_LOG_FORMAT";

/// One JSON object per line (`--log-format json`) rather than text.
static JSON: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether this process logs JSON (its workers then do too).
pub fn is_json() -> bool {
    JSON.load(Ordering::Relaxed)
}

/// Installs the subscriber at `level` (an EnvFilter directive), as text or
/// as one JSON object per line (`json`: timestamp, level, fields with the
/// message, for log shippers). Keep the returned [`Flush`] until the
/// process ends.
pub fn init(level: &str, json: bool) -> Flush {
    JSON.store(json, Ordering::Relaxed);
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name("rampart-log")
        .finish(std::io::stderr());
    let _ = DROPPED.set(writer.error_counter());
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(false);
    if json {
        fmt.json().init();
    } else {
        // Colours only on a terminal: logs piped to files or journald stay plain.
        fmt.with_ansi(ansi).init();
    }
    if let Ok(mut g) = GUARD.lock() {
        *g = Some(guard);
    }
    Flush
}

/// Logs how many lines were dropped since the last report, if any.
pub fn report_drops() {
    let Some(counter) = DROPPED.get() else {
        return;
    };
    let now = counter.dropped_lines();
    let before = REPORTED.swap(now, Ordering::Relaxed);
    if now > before {
        tracing::warn!(
            "{} log line(s) dropped: the log output did not keep up",
            now - before
        );
    }
}

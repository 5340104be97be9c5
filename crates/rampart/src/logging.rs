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
static GUARD: std::sync::Mutex<Vec<WorkerGuard>> = std::sync::Mutex::new(Vec::new());
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
        g.clear();
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
    init_with(level, json, None)
}

/// [`init`], with the connection log (target `rampart::tcplog`) going to
/// `tcplog` instead of stderr when given (`[global] tcplog_file`), through
/// a writer thread of its own: a slow disk for the connection log holds
/// back neither the other lines nor a connection.
pub fn init_with(level: &str, json: bool, tcplog: Option<std::fs::File>) -> Flush {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    type Boxed = Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync>;
    JSON.store(json, Ordering::Relaxed);
    let filter = || {
        tracing_subscriber::EnvFilter::try_new(level)
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
    };
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name("rampart-log")
        .finish(std::io::stderr());
    let _ = DROPPED.set(writer.error_counter());
    let layer = |w: tracing_appender::non_blocking::NonBlocking, ansi: bool| -> Boxed {
        let fmt = tracing_subscriber::fmt::layer()
            .with_writer(w)
            .with_target(false);
        if json {
            Box::new(fmt.json())
        } else {
            // Colours only on a terminal: logs piped to files or journald stay plain.
            Box::new(fmt.with_ansi(ansi))
        }
    };
    let mut guards = vec![guard];
    let (stderr_filter, file_layer) = match tcplog {
        Some(file) => {
            let (w, g) = NonBlockingBuilder::default()
                .lossy(true)
                .buffered_lines_limit(QUEUED_LINES)
                .thread_name("rampart-tcplog")
                .finish(file);
            let _ = DROPPED_TCPLOG.set(w.error_counter());
            guards.push(g);
            use tracing_subscriber::filter::FilterExt;
            // The file gets the connection log as the level asks for it
            // (`rampart::tcplog=off` or `warn` keeps it out), and nothing
            // else.
            let only = tracing_subscriber::filter::Targets::new()
                .with_target(TCPLOG, tracing::Level::TRACE);
            let file = Some(layer(w, false).with_filter(filter().and(only)).boxed());
            let rest = filter().add_directive(
                format!("{TCPLOG}=off")
                    .parse()
                    .unwrap_or_else(|_| tracing::Level::ERROR.into()),
            );
            (rest, file)
        }
        None => (filter(), None),
    };
    let mut layers = vec![layer(writer, ansi).with_filter(stderr_filter).boxed()];
    layers.extend(file_layer);
    tracing_subscriber::registry().with(layers).init();
    if let Ok(mut g) = GUARD.lock() {
        *g = guards;
    }
    Flush
}

/// The connection log's target (HAProxy's `option tcplog` lines).
pub const TCPLOG: &str = "rampart::tcplog";

static DROPPED_TCPLOG: OnceLock<ErrorCounter> = OnceLock::new();
static REPORTED_TCPLOG: AtomicUsize = AtomicUsize::new(0);

/// Logs how many lines were dropped since the last report, if any.
pub fn report_drops() {
    if let Some(n) = newly_dropped(&DROPPED, &REPORTED) {
        tracing::warn!("{n} log line(s) dropped: the log output did not keep up");
    }
    if let Some(n) = newly_dropped(&DROPPED_TCPLOG, &REPORTED_TCPLOG) {
        tracing::warn!("{n} connection log line(s) dropped: the tcplog file did not keep up");
    }
}

fn newly_dropped(counter: &OnceLock<ErrorCounter>, reported: &AtomicUsize) -> Option<usize> {
    let now = counter.get()?.dropped_lines();
    let before = reported.swap(now, Ordering::Relaxed);
    (now > before).then(|| now - before)
}

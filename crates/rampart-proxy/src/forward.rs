//! Moving bytes between an established client and server connection.
//!
//! Each direction is a pump: wait until the source is readable, move what is
//! there to the destination, repeat. Small messages go through a pooled
//! 16 KiB buffer with one read and one write (a short read means the socket
//! is drained, so no extra read to hit EAGAIN). When a read fills the whole
//! buffer a bulk transfer is under way, and the pump switches to splice(2)
//! through a pooled pipe until the source is drained: those bytes never
//! enter user space (HAProxy's `splice-auto`). A FIN from one side shuts the
//! write half of the other side and the opposite direction keeps flowing
//! (half-close); when the FIN arrived with the last bytes, the FIN passed on
//! leaves in the same segment as them. Inactivity is tracked per side.

use std::io;
use std::net::Shutdown;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::Poll;
use std::time::Duration;

use tokio::io::{AsyncRead, Interest, ReadBuf};
use tokio::net::TcpStream;
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::time::Instant;

use crate::buffers::Buffer;

/// How bytes are moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Copy small messages, splice(2) bulk transfers (Linux).
    Splice,
    /// Always read(2)/write(2) through a user-space buffer.
    Copy,
}

/// Inactivity limits, resolved from the backend's timeouts.
#[derive(Debug, Clone, Copy)]
pub struct Idle {
    pub client: Duration,
    pub server: Duration,
}

/// How forwarding ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Both directions finished with a FIN.
    Closed,
    ClientTimeout,
    ServerTimeout,
    /// The client reset or failed; the server gets a reset on close.
    ClientAbort,
    /// The server reset or failed; the client gets a reset on close.
    ServerAbort,
}

/// Byte counts of one connection.
#[derive(Debug, Default)]
pub struct Bytes {
    /// Client → server.
    pub up: AtomicU64,
    /// Server → client.
    pub down: AtomicU64,
}

/// Last activity of one side, in milliseconds since the session started,
/// and whether that side has finished sending (after its FIN nothing more
/// is expected from it, so it can no longer be "idle").
struct Activity {
    last_ms: AtomicU64,
    finished: AtomicBool,
}

impl Activity {
    fn new() -> Self {
        Activity {
            last_ms: AtomicU64::new(0),
            finished: AtomicBool::new(false),
        }
    }
    /// When this side times out, or None while it cannot.
    fn deadline(&self, start: Instant, limit: Duration) -> Option<Instant> {
        if self.finished.load(Ordering::Relaxed) {
            return None;
        }
        Some(start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed)) + limit)
    }
}

/// One direction's view: where bytes come from and go to, and its clocks.
struct Flow<'a> {
    start: Instant,
    src: &'a Activity,
    dst: &'a Activity,
    bytes: &'a AtomicU64,
}

impl Flow<'_> {
    /// Bytes moved: both sides were active now (one clock read).
    fn moved(&self, n: usize) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.src.last_ms.store(ms, Ordering::Relaxed);
        self.dst.last_ms.store(ms, Ordering::Relaxed);
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// Forwards both directions until both are closed, one side aborts, or one
/// side is idle longer than its limit. After an abort, the other side's
/// socket is set to reset when it is closed.
pub async fn forward(
    client: &mut TcpStream,
    server: &mut TcpStream,
    mode: Mode,
    idle: Idle,
    bytes: &Bytes,
) -> End {
    let start = Instant::now();
    let c_act = Activity::new();
    let s_act = Activity::new();
    let (cr, cw) = client.split();
    let (sr, sw) = server.split();
    let up = Flow {
        start,
        src: &c_act,
        dst: &s_act,
        bytes: &bytes.up,
    };
    let down = Flow {
        start,
        src: &s_act,
        dst: &c_act,
        bytes: &bytes.down,
    };
    // The futures are built right inside `select!`: a future built first
    // and then moved in would take its space twice in this one (the
    // compiler keeps the moved-from slot), and every idle connection pays
    // for this future's size.
    let end = tokio::select! {
        end = both(mode, (cr, sw, up), (sr, cw, down)) => end,
        end = watchdog(start, &c_act, &s_act, idle) => end,
    };
    // An abort is passed on as an abort: closed normally, the other side
    // would take a response (or request) cut short for a complete one.
    // With SO_LINGER 0 the caller's close sends a reset (HAProxy's
    // `option nolinger`, here only on aborts); bytes still queued towards
    // that side are dropped, which is what a reset means.
    match end {
        End::ServerAbort => reset_on_close(client),
        End::ClientAbort => reset_on_close(server),
        End::Closed | End::ClientTimeout | End::ServerTimeout => {}
    }
    end
}

/// Makes closing `s` send a reset instead of a FIN. Bytes that wait in its
/// send queue for a FIN (`write_last`'s MSG_MORE) are pushed out first:
/// setting TCP_NODELAY sends what is corked, and those bytes arrived before
/// the abort, so they are the peer's.
fn reset_on_close(s: &TcpStream) {
    let sock = socket2::SockRef::from(s);
    // Both fail only on a descriptor that is not a socket; the close then
    // sends a FIN, as before.
    let _ = sock.set_tcp_nodelay(true);
    let _ = sock.set_linger(Some(Duration::ZERO));
}

type Dir<'a> = (ReadHalf<'a>, WriteHalf<'a>, Flow<'a>);

/// Both pumps, until both finish or one fails.
async fn both(mode: Mode, up: Dir<'_>, down: Dir<'_>) -> End {
    // Pinned where they are built (see `forward` on moved futures).
    let mut up = std::pin::pin!(pump(mode, up.0, up.1, up.2));
    let mut down = std::pin::pin!(pump(mode, down.0, down.1, down.2));
    let (mut up_done, mut down_done) = (false, false);
    while !(up_done && down_done) {
        // An error on either pump ends the session at once: the other
        // direction would only wait for data that can no longer come.
        // A read error on the client or a write error towards it is the
        // client's doing; likewise for the server.
        tokio::select! {
            r = &mut up, if !up_done => match r {
                Ok(()) => up_done = true,
                Err(Side::Src) => return End::ClientAbort,
                Err(Side::Dst) => return End::ServerAbort,
            },
            r = &mut down, if !down_done => match r {
                Ok(()) => down_done = true,
                Err(Side::Src) => return End::ServerAbort,
                Err(Side::Dst) => return End::ClientAbort,
            },
        }
    }
    End::Closed
}

/// Resolves when one side has been idle longer than its limit.
async fn watchdog(start: Instant, c_act: &Activity, s_act: &Activity, idle: Idle) -> End {
    loop {
        let c = c_act.deadline(start, idle.client);
        let s = s_act.deadline(start, idle.server);
        let next = match (c, s) {
            (Some(c), Some(s)) => c.min(s),
            (Some(t), None) | (None, Some(t)) => t,
            // Both sides finished: the pumps complete without us.
            (None, None) => return std::future::pending().await,
        };
        tokio::time::sleep_until(next).await;
        let now = Instant::now();
        if c_act.deadline(start, idle.client).is_some_and(|d| now >= d) {
            return End::ClientTimeout;
        }
        if s_act.deadline(start, idle.server).is_some_and(|d| now >= d) {
            return End::ServerTimeout;
        }
    }
}

/// Which end of a pump failed.
#[derive(Debug, Clone, Copy)]
enum Side {
    Src,
    Dst,
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

/// One direction, until end of stream from `src` or an error.
async fn pump(
    mode: Mode,
    mut src: ReadHalf<'_>,
    dst: WriteHalf<'_>,
    flow: Flow<'_>,
) -> Result<(), Side> {
    // (The read half is borrowed anew each time: `read_now` needs it mutably.)
    let d: &TcpStream = dst.as_ref();
    loop {
        let ready = src
            .as_ref()
            .ready(Interest::READABLE)
            .await
            .map_err(|_| Side::Src)?;
        // The peer's FIN (or a reset) has arrived.
        let fin = ready.is_read_closed();
        // `ready` does not count against tokio's cooperative budget but
        // `poll_read` does: pay here (yielding if it is spent), or a spent
        // budget would make every read "not ready" and this loop spin.
        tokio::task::consume_budget().await;
        // The buffer is held only while bytes are in flight, never while
        // waiting: an idle connection holds none.
        let mut buf = Buffer::take();
        let got =
            match std::future::poll_fn(|cx| Poll::Ready(read_now(&mut src, cx, &mut buf))).await {
                None => continue,
                Some(Ok(0)) => break,
                Some(Ok(n)) => n,
                Some(Err(_)) => return Err(Side::Src),
            };
        if fin && got < buf.len() && !flow.dst.finished.load(Ordering::Relaxed) {
            // Likely the last bytes: they wait in the send queue (MSG_MORE)
            // for the FIN, which the next read (0 at once) passes on, and
            // leave in one segment with it. Should that read find more
            // bytes (urgent data) or a reset instead, they are sent with
            // the next write or when the session closes.
            write_last(d, &buf[..got]).await.map_err(|_| Side::Dst)?;
            flow.moved(got);
            continue;
        }
        write_all(d, &buf[..got]).await.map_err(|_| Side::Dst)?;
        flow.moved(got);
        if got == buf.len() && mode == Mode::Splice {
            drop(buf);
            if splice_burst(src.as_ref(), d, &flow).await? {
                break;
            }
        }
    }
    flow.src.finished.store(true, Ordering::Relaxed);
    // End of stream from src: pass the FIN on and keep the other direction
    // — unless it is finished too, then closing the socket sends the FIN.
    if !flow.dst.finished.load(Ordering::Relaxed) {
        let _ = socket2::SockRef::from(d).shutdown(Shutdown::Write);
    }
    Ok(())
}

/// One read if data is there now; None if the socket turned out not to be
/// readable (the caller waits again, without holding a buffer). tokio
/// clears readiness after a short read (the socket is drained), which
/// saves the read that would only return EAGAIN.
fn read_now(
    src: &mut ReadHalf<'_>,
    cx: &mut std::task::Context<'_>,
    buf: &mut [u8],
) -> Option<io::Result<usize>> {
    let mut rb = ReadBuf::new(buf);
    match Pin::new(&mut *src).poll_read(cx, &mut rb) {
        Poll::Ready(Ok(())) => Some(Ok(rb.filled().len())),
        Poll::Ready(Err(e)) => Some(Err(e)),
        Poll::Pending => None,
    }
}

/// Writes all of `buf` to a shared (`&`) stream.
pub async fn write_all(stream: &TcpStream, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match stream.try_write(buf) {
            Ok(k) => buf = &buf[k..],
            Err(e) if would_block(&e) => stream.writable().await?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Like `write_all`, for the last bytes of a stream whose write half is
/// shut right after: sent with `MSG_MORE`, so the FIN joins their segment.
async fn write_last(stream: &TcpStream, mut buf: &[u8]) -> io::Result<()> {
    let sock = socket2::SockRef::from(stream);
    while !buf.is_empty() {
        match stream.try_io(Interest::WRITABLE, || {
            rampart_sys::socket::send_more(&sock, buf)
        }) {
            Ok(k) => buf = &buf[k..],
            Err(e) if would_block(&e) => stream.writable().await?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Moves bytes with splice(2) until `src` is drained. Returns whether `src`
/// reached end of stream. Without a pipe (descriptor limit) it returns at
/// once and the caller goes on copying.
async fn splice_burst(src: &TcpStream, dst: &TcpStream, flow: &Flow<'_>) -> Result<bool, Side> {
    use rampart_sys::splice::{CHUNK, Pipe};
    let Ok(pipe) = Pipe::take() else {
        return Ok(false);
    };
    let mut in_pipe = 0usize;
    loop {
        if in_pipe == 0 {
            match src.try_io(Interest::READABLE, || pipe.fill_from(src, CHUNK)) {
                Ok(0) => {
                    pipe.give_back();
                    return Ok(true);
                }
                Ok(k) => in_pipe = k,
                Err(e) if would_block(&e) => {
                    pipe.give_back();
                    return Ok(false);
                }
                Err(_) => return Err(Side::Src),
            }
        }
        match dst.try_io(Interest::WRITABLE, || pipe.drain_to(dst, in_pipe)) {
            Ok(k) => {
                in_pipe -= k;
                flow.moved(k);
                // try_io does not count against tokio's cooperative budget:
                // without this a long burst would starve the thread's other
                // connections.
                tokio::task::consume_budget().await;
            }
            Err(e) if would_block(&e) => dst.writable().await.map_err(|_| Side::Dst)?,
            // The pipe may hold bytes: it is dropped, not pooled.
            Err(_) => return Err(Side::Dst),
        }
    }
}

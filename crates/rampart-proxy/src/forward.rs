//! Moving bytes between an established client and server connection.
//!
//! Each direction is a pump: wait until the source is readable, move what is
//! there to the destination, repeat. On Linux the bytes go through a pooled
//! pipe with splice(2) and never enter user space; elsewhere (or when asked)
//! through one buffer per direction, allocated once per connection. A FIN
//! from one side shuts the write half of the other side and the opposite
//! direction keeps flowing (half-close). Inactivity is tracked per side.

use std::io;
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// How bytes are moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// splice(2) through a pipe (Linux).
    Splice,
    /// read(2)/write(2) through a user-space buffer.
    Copy,
}

/// Size of the copy-mode buffer per direction.
const COPY_BUF: usize = 16 * 1024;

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
    ClientAbort,
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
    start: Instant,
    last_ms: AtomicU64,
    finished: AtomicBool,
}

impl Activity {
    fn new(start: Instant) -> Self {
        Activity {
            start,
            last_ms: AtomicU64::new(0),
            finished: AtomicBool::new(false),
        }
    }
    fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }
    /// When this side times out, or None while it cannot.
    fn deadline(&self, limit: Duration) -> Option<Instant> {
        if self.finished.load(Ordering::Relaxed) {
            return None;
        }
        Some(self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed)) + limit)
    }
}

/// Forwards both directions until both are closed, one side aborts, or one
/// side is idle longer than its limit.
pub async fn forward(
    client: &TcpStream,
    server: &TcpStream,
    mode: Mode,
    idle: Idle,
    bytes: &Bytes,
) -> End {
    let start = Instant::now();
    let c_act = Activity::new(start);
    let s_act = Activity::new(start);

    let up = pump(mode, client, server, &c_act, &s_act, &bytes.up);
    let down = pump(mode, server, client, &s_act, &c_act, &bytes.down);
    let both = async {
        tokio::pin!(up, down);
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
    };
    let watchdog = async {
        loop {
            let c = c_act.deadline(idle.client);
            let s = s_act.deadline(idle.server);
            let next = match (c, s) {
                (Some(c), Some(s)) => c.min(s),
                (Some(t), None) | (None, Some(t)) => t,
                // Both sides finished: `both` completes without us.
                (None, None) => return std::future::pending().await,
            };
            tokio::time::sleep_until(next).await;
            let now = Instant::now();
            if c_act.deadline(idle.client).is_some_and(|d| now >= d) {
                return End::ClientTimeout;
            }
            if s_act.deadline(idle.server).is_some_and(|d| now >= d) {
                return End::ServerTimeout;
            }
        }
    };
    tokio::select! {
        end = both => end,
        end = watchdog => end,
    }
}

/// Which end of a pump failed.
#[derive(Debug, Clone, Copy)]
enum Side {
    Src,
    Dst,
}

async fn pump(
    mode: Mode,
    src: &TcpStream,
    dst: &TcpStream,
    src_act: &Activity,
    dst_act: &Activity,
    n: &AtomicU64,
) -> Result<(), Side> {
    match mode {
        Mode::Splice => pump_splice(src, dst, src_act, dst_act, n).await?,
        Mode::Copy => pump_copy(src, dst, src_act, dst_act, n).await?,
    }
    src_act.finished.store(true, Ordering::Relaxed);
    // End of stream from src: pass the FIN on, keep the other direction.
    let _ = socket2::SockRef::from(dst).shutdown(Shutdown::Write);
    Ok(())
}

/// Writes all of `buf` to a shared (`&`) stream.
pub async fn write_all(stream: &TcpStream, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        stream.writable().await?;
        match stream.try_write(buf) {
            Ok(k) => buf = &buf[k..],
            Err(e) if would_block(&e) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

async fn pump_splice(
    src: &TcpStream,
    dst: &TcpStream,
    src_act: &Activity,
    dst_act: &Activity,
    n: &AtomicU64,
) -> Result<(), Side> {
    use rampart_sys::splice::{CHUNK, Pipe};
    loop {
        src.readable().await.map_err(|_| Side::Src)?;
        // The pipe is held only while bytes move: an idle connection holds
        // none. Without one (descriptor limit) fall back to copying.
        let Ok(pipe) = Pipe::take() else {
            return pump_copy(src, dst, src_act, dst_act, n).await;
        };
        let mut in_pipe = 0usize;
        loop {
            if in_pipe == 0 {
                match src.try_io(Interest::READABLE, || pipe.fill_from(src, CHUNK)) {
                    Ok(0) => {
                        pipe.give_back();
                        return Ok(());
                    }
                    Ok(k) => {
                        in_pipe = k;
                        src_act.touch();
                    }
                    Err(e) if would_block(&e) => {
                        pipe.give_back();
                        break;
                    }
                    Err(_) => return Err(Side::Src),
                }
            }
            match dst.try_io(Interest::WRITABLE, || pipe.drain_to(dst, in_pipe)) {
                Ok(k) => {
                    in_pipe -= k;
                    n.fetch_add(k as u64, Ordering::Relaxed);
                    dst_act.touch();
                }
                Err(e) if would_block(&e) => dst.writable().await.map_err(|_| Side::Dst)?,
                // The pipe may hold bytes: it is dropped, not pooled.
                Err(_) => return Err(Side::Dst),
            }
        }
    }
}

async fn pump_copy(
    src: &TcpStream,
    dst: &TcpStream,
    src_act: &Activity,
    dst_act: &Activity,
    n: &AtomicU64,
) -> Result<(), Side> {
    src.readable().await.map_err(|_| Side::Src)?;
    let mut buf = vec![0u8; COPY_BUF];
    loop {
        let got = match src.try_read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(k) => k,
            Err(e) if would_block(&e) => {
                src.readable().await.map_err(|_| Side::Src)?;
                continue;
            }
            Err(_) => return Err(Side::Src),
        };
        src_act.touch();
        let mut sent = 0;
        while sent < got {
            match dst.try_write(&buf[sent..got]) {
                Ok(k) => {
                    sent += k;
                    n.fetch_add(k as u64, Ordering::Relaxed);
                    dst_act.touch();
                }
                Err(e) if would_block(&e) => dst.writable().await.map_err(|_| Side::Dst)?,
                Err(_) => return Err(Side::Dst),
            }
        }
    }
}

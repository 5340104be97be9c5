//! One active check of one server over a real TCP connection.

use std::io::{ErrorKind, Write as _};
use std::net::SocketAddr;
use std::time::Duration;

use rampart_config::Check;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The most reply bytes a check reads before giving up on finding what it
/// expects. HAProxy's `tune.bufsize` default is 16 KiB, so a `send`/`expect`
/// pair migrated from `tcp-check` sees as much as it did there.
pub const MAX_REPLY: usize = 16 * 1024;

/// How much of an unexpected reply goes into [`ProbeError::Mismatch`]:
/// enough to recognise an error page or banner in a log line.
const MISMATCH_SHOWN: usize = 64;

/// Why a check failed. The `Display` text ends up in the "is DOWN" log line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// The TCP connect failed (refused, unreachable, reset).
    #[error("{}", short_io(.0))]
    Connect(std::io::Error),
    /// Connect plus exchange took longer than the check timeout.
    #[error("timeout")]
    Timeout,
    /// The server closed the connection without sending anything.
    #[error("connection closed by server without a reply")]
    Closed,
    /// The reply did not contain what was expected; holds its beginning,
    /// escaped to printable ASCII and truncated.
    #[error("unexpected reply \"{0}\"")]
    Mismatch(String),
    /// Sending or receiving failed after connecting.
    #[error("{}", short_io(.0))]
    Io(std::io::Error),
}

/// Probes the server at `addr` once. `Ok(())` means healthy. The whole check
/// (connect and exchange) is bounded by `timeout`, so a server that accepts
/// and then hangs cannot stall the checker.
///
/// - [`Check::None`]: healthy without touching the network.
/// - [`Check::Tcp`]: the connect succeeds.
/// - [`Check::SendExpect`]: `send` is written, then the reply is read until
///   `expect` appears anywhere in its first [`MAX_REPLY`] bytes.
/// - [`Check::Http`]: an HTTP/1.1 request whose status line must carry
///   `status`.
pub async fn probe(check: &Check, addr: SocketAddr, timeout: Duration) -> Result<(), ProbeError> {
    match check {
        Check::None => Ok(()),
        check => tokio::time::timeout(timeout, exchange(check, addr))
            .await
            .unwrap_or(Err(ProbeError::Timeout)),
    }
}

async fn exchange(check: &Check, addr: SocketAddr) -> Result<(), ProbeError> {
    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(ProbeError::Connect)?;
    match check {
        Check::None | Check::Tcp => Ok(()),
        Check::SendExpect { send, expect } => {
            stream.write_all(send).await.map_err(ProbeError::Io)?;
            read_until(&mut stream, |reply, new| contains(reply, new, expect)).await?;
            Ok(())
        }
        Check::Http {
            method,
            path,
            host,
            status,
        } => {
            let request = http_request(method, path, host.as_deref(), addr);
            stream.write_all(&request).await.map_err(ProbeError::Io)?;
            let reply = read_until(&mut stream, |reply, new| contains(reply, new, b"\r\n")).await?;
            match status_code(&reply) {
                Some(got) if got == *status => Ok(()),
                _ => Err(mismatch(status_line(&reply))),
            }
        }
    }
}

/// The request HAProxy's `option httpchk` would send, with a Host header so
/// that name-based virtual hosts answer, and `Connection: close` so the
/// server does not keep an idle connection for us.
fn http_request(method: &str, path: &str, host: Option<&str>, addr: SocketAddr) -> Vec<u8> {
    let mut request = Vec::with_capacity(128 + path.len());
    // Writing into a Vec cannot fail.
    let _ = write!(request, "{method} {path} HTTP/1.1\r\nHost: ");
    let _ = match (host, addr) {
        (Some(host), _) => write!(request, "{host}"),
        // RFC 9112: Host is uri-host [":" port], port omitted when default.
        (None, SocketAddr::V4(a)) if a.port() == 80 => write!(request, "{}", a.ip()),
        (None, SocketAddr::V6(a)) if a.port() == 80 => write!(request, "[{}]", a.ip()),
        (None, addr) => write!(request, "{addr}"),
    };
    request.extend_from_slice(b"\r\nConnection: close\r\nUser-Agent: rampart-health\r\n\r\n");
    request
}

/// Reads until `done(reply, new)` holds for what has arrived (`new` is where
/// the latest read started, so searches need not rescan), and returns it. A
/// close before that is [`ProbeError::Closed`] if nothing came, a mismatch
/// otherwise; so is filling [`MAX_REPLY`] bytes without `done`.
async fn read_until(
    stream: &mut TcpStream,
    done: impl Fn(&[u8], usize) -> bool,
) -> Result<Vec<u8>, ProbeError> {
    // One allocation per probe; probes run once per interval per server.
    let mut reply = vec![0; MAX_REPLY];
    let mut filled = 0;
    loop {
        let free = match reply.get_mut(filled..) {
            Some(free) if !free.is_empty() => free,
            _ => return Err(mismatch(&reply)),
        };
        let n = stream.read(free).await.map_err(ProbeError::Io)?;
        if n == 0 {
            return Err(match filled {
                0 => ProbeError::Closed,
                _ => mismatch(&reply[..filled]),
            });
        }
        let new = filled;
        // `read` returns at most `free.len()`; `min` keeps that an invariant.
        filled = (filled + n).min(MAX_REPLY);
        if done(&reply[..filled], new) {
            reply.truncate(filled);
            return Ok(reply);
        }
    }
}

/// Whether `needle` occurs in `haystack`, looking only at matches that end
/// at or after `new` (earlier ones were looked for by the previous call). An
/// empty needle always matches: a `send` with nothing to expect only needs
/// the write to succeed.
fn contains(haystack: &[u8], new: usize, needle: &[u8]) -> bool {
    let start = new.saturating_sub(needle.len().saturating_sub(1));
    needle.is_empty()
        || haystack
            .get(start..)
            .is_some_and(|tail| tail.windows(needle.len()).any(|w| w == needle))
}

/// The status code of `HTTP/1.x NNN ...`, or `None` if the reply does not
/// start with a status line of that shape.
fn status_code(reply: &[u8]) -> Option<u16> {
    let rest = reply.strip_prefix(b"HTTP/1.")?;
    let (&[minor, b' ', a, b, c], after) = rest.split_first_chunk::<5>()? else {
        return None;
    };
    let digits = [a, b, c];
    let well_formed = minor.is_ascii_digit()
        && digits.iter().all(u8::is_ascii_digit)
        && matches!(after.first(), None | Some(b' ' | b'\r'));
    well_formed.then(|| {
        digits
            .iter()
            .fold(0, |acc, d| acc * 10 + u16::from(d - b'0'))
    })
}

/// The first line of a reply, for the mismatch message.
fn status_line(reply: &[u8]) -> &[u8] {
    let end = reply.iter().position(|&b| b == b'\r' || b == b'\n');
    reply.get(..end.unwrap_or(reply.len())).unwrap_or(reply)
}

fn mismatch(reply: &[u8]) -> ProbeError {
    let shown = reply.get(..MISMATCH_SHOWN).unwrap_or(reply);
    let mut text = shown.escape_ascii().to_string();
    if shown.len() < reply.len() {
        text.push_str("...");
    }
    ProbeError::Mismatch(text)
}

/// "connection refused" rather than "Connection refused (os error 111)" for
/// the errors a check meets every day; the full text for anything unusual.
fn short_io(e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::ConnectionRefused
        | ErrorKind::ConnectionReset
        | ErrorKind::ConnectionAborted
        | ErrorKind::HostUnreachable
        | ErrorKind::NetworkUnreachable
        | ErrorKind::BrokenPipe
        | ErrorKind::TimedOut => e.kind().to_string(),
        _ => e.to_string(),
    }
}

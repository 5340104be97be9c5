//! One client connection from accept to close: ACL, server choice with
//! retries and queueing, PROXY header, forwarding, and the log line.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;

use crate::balance::Load;
use crate::buffers::Buffer;
use crate::forward::{self, End, Idle};
use crate::proxy::Proxy;
use crate::sessions::Live;
use crate::state::{BackendRt, Slot};
use crate::stats::Counters;

/// Counts a connection open until dropped.
struct Open<'a>(&'a Counters);

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// HAProxy-style two-letter termination state: who ended the session
/// (C client, S server, P proxy, c/s client/server timeout, - normal) and
/// in which phase (R request/ACL, Q queue, C connect, D data).
pub type Term = &'static str;

pub(crate) async fn run(
    proxy: &Proxy,
    fe: usize,
    mut client: TcpStream,
    peer: SocketAddr,
    live: &Live,
) {
    let Some(front) = proxy.frontends.get(fe) else {
        return;
    };
    let be: &BackendRt = &front.backend;
    let t0 = Instant::now();
    let mut log = LogLine {
        peer: Some(peer),
        frontend: &front.cfg.name,
        backend: &be.cfg.name,
        proxy: Some(proxy),
        conns: [Some(&front.counters), Some(&be.counters), None],
        ..LogLine::default()
    };

    front.counters.open();
    let _front_open = Open(&front.counters);
    if !front.cfg.admits(peer.ip()) {
        Counters::inc(&front.counters.denied);
        log.term = "PR";
        return log.emit(t0);
    }
    let _ = client.set_nodelay(true);

    let mut early = Early::default();
    let (mut server, slot) =
        match connect(proxy, be, &client, peer.ip(), &mut early, &mut log, t0).await {
            Ok(x) => x,
            Err(term) => {
                log.term = term;
                return log.emit(t0);
            }
        };
    let srv_rt = &be.servers[slot.index];
    let srv = &srv_rt.cfg;
    be.counters.open();
    srv_rt.counters.open();
    live.set_server(slot.index);
    let _opened = (Open(&be.counters), Open(&srv_rt.counters));
    log.server = Some(&srv.name);
    log.conns[2] = Some(&srv_rt.counters);
    log.connected = Some(t0.elapsed());

    // What the server gets first: the PROXY header, then the client's bytes
    // already read, in one write (one segment, which also carries the
    // handshake's last ACK: see `open`).
    let bytes = &live.bytes;
    let first: Option<std::borrow::Cow<'_, [u8]>> = match srv.send_proxy {
        Some(version) => {
            let local = client.local_addr().unwrap_or(peer);
            let mut header = Vec::with_capacity(108 + early.data().len());
            crate::proxy_protocol::encode(version, peer, local, &mut header);
            header.extend_from_slice(early.data());
            Some(header.into())
        }
        None if !early.data().is_empty() => Some(early.data().into()),
        None => None,
    };
    if let Some(first) = first {
        if forward::write_all(&server, &first).await.is_err() {
            log.term = "SD";

            return log.emit(t0);
        }
        bytes.up.store(early.data().len() as u64, Ordering::Relaxed);
    }
    drop(early);

    let t = be.cfg.timeout;
    let idle = match t.tunnel {
        Some(tunnel) => Idle {
            client: tunnel,
            server: tunnel,
        },
        None => Idle {
            client: t.client,
            server: t.server,
        },
    };
    let end = forward::forward(&mut client, &mut server, proxy.mode, idle, bytes).await;
    // The totals get the bytes when the session's registration goes.
    log.bytes_in = bytes.up.load(Ordering::Relaxed);
    log.bytes_out = bytes.down.load(Ordering::Relaxed);
    log.term = match end {
        End::Closed => "--",
        End::ClientTimeout => "cD",
        End::ServerTimeout => "sD",
        End::ClientAbort => "CD",
        End::ServerAbort => "SD",
    };
    drop(slot);
    log.emit(t0);
}

/// Servers already tried by one connection: a bitset, on the stack for
/// backends of up to 128 servers (no allocation per connection).
enum Tried {
    Small(u128),
    Large(Vec<bool>),
}

impl Tried {
    fn new(servers: usize) -> Tried {
        if servers <= 128 {
            Tried::Small(0)
        } else {
            Tried::Large(vec![false; servers])
        }
    }
    fn contains(&self, i: usize) -> bool {
        match self {
            Tried::Small(bits) => i < 128 && bits & (1u128 << i) != 0,
            Tried::Large(v) => v.get(i).copied().unwrap_or(true),
        }
    }
    fn insert(&mut self, i: usize) {
        match self {
            Tried::Small(bits) if i < 128 => *bits |= 1u128 << i,
            Tried::Small(_) => {}
            Tried::Large(v) => {
                if let Some(t) = v.get_mut(i) {
                    *t = true;
                }
            }
        }
    }
    fn any(&self) -> bool {
        match self {
            Tried::Small(bits) => *bits != 0,
            Tried::Large(v) => v.iter().any(|&t| t),
        }
    }
    fn clear(&mut self) {
        match self {
            Tried::Small(bits) => *bits = 0,
            Tried::Large(v) => v.iter_mut().for_each(|t| *t = false),
        }
    }
}

/// The load view a balancer sees for one connection: servers already tried
/// by this connection are excluded so that a retry goes elsewhere.
struct View<'a> {
    be: &'a BackendRt,
    tried: &'a Tried,
}

impl Load for View<'_> {
    fn active(&self, index: usize) -> u32 {
        self.be.servers.get(index).map_or(u32::MAX, |s| s.active())
    }
    fn usable(&self, index: usize) -> bool {
        !self.tried.contains(index) && self.be.has_slot(index)
    }
}

/// Picks a server and reserves a slot on it. Another thread may take the
/// last slot between pick and reserve; then pick again (bounded).
fn pick_slot<'a>(be: &'a BackendRt, ip: IpAddr, tried: &Tried) -> Option<Slot<'a>> {
    for _ in 0..be.servers.len().max(1) * 2 {
        let idx = be.balancer().pick(ip, &View { be, tried })?;
        if let Some(slot) = Slot::take(be, idx) {
            return Some(slot);
        }
    }
    None
}

/// Whether a failed connect says something about the server (and so counts
/// toward marking it down) rather than about this host: running out of
/// descriptors or ports must not take healthy servers down.
fn server_fault(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused
            | ConnectionReset
            | ConnectionAborted
            | TimedOut
            | HostUnreachable
            | NetworkUnreachable
    )
}

/// Client bytes read before the server connection exists.
#[derive(Default)]
struct Early {
    /// Whether the client socket was looked at already.
    checked: bool,
    buf: Option<Buffer>,
    len: usize,
}

impl Early {
    fn data(&self) -> &[u8] {
        self.buf.as_deref().map_or(&[], |b| &b[..self.len])
    }

    /// Reads what the client has sent so far, once, without waiting.
    /// `Err` if the client is gone (reset): no server connection for it.
    fn read_once(&mut self, client: &TcpStream) -> Result<(), ()> {
        use std::io::Read;
        if std::mem::replace(&mut self.checked, true) {
            return Ok(());
        }
        let mut buf = Buffer::take();
        // Straight from the socket: tokio has not seen a readiness event for
        // this new socket yet, so its `try_read` would not even try.
        match (&*socket2::SockRef::from(client)).read(&mut buf) {
            // Nothing yet, or already the FIN: the pump sees either.
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(()),
            Ok(0) => Ok(()),
            Ok(n) => {
                self.len = n;
                self.buf = Some(buf);
                Ok(())
            }
            Err(_) => Err(()),
        }
    }
}

/// Opens a connection to a server. `smart`: we have bytes to send the
/// moment it is up, so the kernel is told not to send the handshake's last
/// ACK on its own (TCP_QUICKACK off, HAProxy's `tcp-smart-connect`): it
/// rides on our first data segment, one segment fewer per connection.
async fn open(addr: SocketAddr, smart: bool) -> std::io::Result<TcpStream> {
    let sock = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    sock.set_nodelay(true)?;
    if smart {
        socket2::SockRef::from(&sock).set_tcp_quickack(false)?;
    }
    sock.connect(addr).await
}

/// Connects to a server: up to `retries + 1` attempts, each to a server not
/// yet tried when one is available (redispatch), waiting in the backend
/// queue while every server is full or none is up. Connections already
/// queued go first: a newcomer joins the queue instead of taking a slot.
async fn connect<'a>(
    proxy: &Proxy,
    be: &'a BackendRt,
    client: &TcpStream,
    ip: IpAddr,
    early: &mut Early,
    log: &mut LogLine<'_>,
    t0: Instant,
) -> Result<(TcpStream, Slot<'a>), Term> {
    let mut tried = Tried::new(be.servers.len());
    let queue_deadline = t0 + be.cfg.timeout.queue;
    let mut failures = 0u32;
    // The server the last failed attempt went to: a retry elsewhere is a
    // redispatch away from it.
    let mut failed: Option<usize> = None;
    let mut behind_queue = be.queued.load(Ordering::Acquire) > 0;
    loop {
        let picked = if behind_queue {
            None
        } else {
            pick_slot(be, ip, &tried)
        };
        let slot = match picked {
            Some(s) => s,
            None if tried.any() => {
                // Every usable server was tried: start a new round.
                tried.clear();
                continue;
            }
            None => {
                // Announce ourselves before the last look: a release that
                // misses this count happened before the look, which then
                // sees its free slot (SeqCst pairs with `release`).
                let waiting = be.queued.fetch_add(1, Ordering::SeqCst) + 1;
                be.counters.queued(waiting);
                log.backend_queue = waiting - 1;
                let notified = be.slot_freed.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                match (!behind_queue).then(|| pick_slot(be, ip, &tried)).flatten() {
                    Some(s) => {
                        be.queued.fetch_sub(1, Ordering::SeqCst);
                        s
                    }
                    None => {
                        behind_queue = false;
                        let woke = tokio::time::timeout_at(queue_deadline, notified).await;
                        be.queued.fetch_sub(1, Ordering::SeqCst);
                        log.queued = t0.elapsed();
                        if woke.is_err() {
                            Counters::inc(&be.counters.queue_timeouts);
                            return Err(if be.balancer().eligible().is_empty() {
                                "SC"
                            } else {
                                "sQ"
                            });
                        }
                        continue;
                    }
                }
            }
        };
        if let Some(i) = failed.take().filter(|&i| i != slot.index) {
            Counters::inc(&be.counters.redispatches);
            if let Some(s) = be.servers.get(i) {
                Counters::inc(&s.counters.redispatches);
            }
        }
        let server_rt = &be.servers[slot.index];
        let server = &server_rt.cfg;
        // Looked at here, after any queueing: a client waiting in the queue
        // holds no buffer.
        if early.read_once(client).is_err() {
            return Err("CR");
        }
        let smart = !early.data().is_empty() || server.send_proxy.is_some();
        let attempt = tokio::time::timeout(be.cfg.timeout.connect, open(server.addr, smart)).await;
        let (timed_out, counts) = match attempt {
            Ok(Ok(stream)) => return Ok((stream, slot)),
            Ok(Err(e)) => {
                tracing::debug!(backend = %be.cfg.name, server = %server.name, "connect failed: {e}");
                (false, server_fault(&e))
            }
            Err(_) => (true, true),
        };
        if counts {
            proxy.events.passive_failure(&be.cfg.name, &server.name);
        }
        Counters::inc(&be.counters.connect_errors);
        Counters::inc(&server_rt.counters.connect_errors);
        tried.insert(slot.index);
        failed = Some(slot.index);
        drop(slot);
        failures += 1;
        log.retries = failures;
        if failures > be.cfg.retries {
            log.retries = failures - 1;
            return Err(if timed_out { "sC" } else { "SC" });
        }
        Counters::inc(&be.counters.retries);
        Counters::inc(&server_rt.counters.retries);
    }
}

/// `07/Dec/2026:07:03:34.123`, as HAProxy writes its accept date.
const ACCEPT_DATE: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[day]/[month repr:short]/[year]:[hour]:[minute]:[second].[subsecond digits:3]"
);

/// One log line per finished connection, like HAProxy's `option tcplog`.
#[derive(Default)]
struct LogLine<'a> {
    proxy: Option<&'a Proxy>,
    /// The frontend's, backend's and server's counters, for their
    /// connection counts when the line is written (HAProxy's
    /// feconn/beconn/srv_conn).
    conns: [Option<&'a Counters>; 3],
    /// Connections ahead of this one when it joined the backend's queue.
    backend_queue: u32,
    peer: Option<SocketAddr>,
    frontend: &'a str,
    backend: &'a str,
    server: Option<&'a str>,
    queued: Duration,
    connected: Option<Duration>,
    bytes_in: u64,
    bytes_out: u64,
    retries: u32,
    term: Term,
}

impl LogLine<'_> {
    fn emit(&self, t0: Instant) {
        if !tracing::enabled!(target: "rampart::tcplog", tracing::Level::INFO) {
            return;
        }
        let peer = self.peer.map_or_else(|| "-".to_string(), |p| p.to_string());
        let connect_ms = self.connected.map_or(-1, |d| d.as_millis() as i64);
        let total = t0.elapsed();
        // When it was accepted, in UTC to the millisecond (HAProxy's
        // accept_date).
        let accepted = (time::OffsetDateTime::now_utc() - total)
            .format(ACCEPT_DATE)
            .unwrap_or_else(|_| "-".into());
        let [fe, be, srv] = self.conns.map(|c| c.map_or(0, Counters::current));
        let act = self.proxy.map_or(0, Proxy::live);
        tracing::info!(
            target: "rampart::tcplog",
            "{peer} [{accepted}] {} {}/{} queue_ms={} connect_ms={} total_ms={} bytes_in={} bytes_out={} retries={} term={} conns={act}/{fe}/{be}/{srv} queue=0/{}",
            self.frontend,
            self.backend,
            self.server.unwrap_or("<NOSRV>"),
            self.queued.as_millis(),
            connect_ms,
            total.as_millis(),
            self.bytes_in,
            self.bytes_out,
            self.retries,
            self.term,
            self.backend_queue,
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{Mode, NoEvents};

    /// Every idle connection carries one session future: keep it small.
    #[tokio::test]
    async fn an_idle_session_is_small() {
        let cfg = rampart_config::parse(
            "t.toml",
            "[[frontend]]\nname = \"f\"\nbind = [\"127.0.0.1:1\"]\nbackend = \"b\"\n[[backend]]\nname = \"b\"\nservers = [{ name = \"s\", addr = \"127.0.0.1:2\" }]\n",
        )
        .unwrap();
        let proxy = Proxy::new(&cfg, Mode::Splice, Arc::new(NoEvents), |_, _| true);
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (mut a, (mut b, _)) =
            tokio::join!(async { TcpStream::connect(addr).await.unwrap() }, async {
                l.accept().await.unwrap()
            });
        let reg = proxy.sessions.open(&proxy, 0, addr);
        let session = run(
            &proxy,
            0,
            TcpStream::connect(addr).await.unwrap(),
            addr,
            &reg.live,
        );
        let idle = Idle {
            client: Duration::from_secs(1),
            server: Duration::from_secs(1),
        };
        let bytes = forward::Bytes::default();
        let fwd = forward::forward(&mut a, &mut b, Mode::Splice, idle, &bytes);
        eprintln!(
            "session future {} B, forward future {} B",
            std::mem::size_of_val(&session),
            std::mem::size_of_val(&fwd)
        );
        // Measured 1760 B (forward 1328 B) when written; the whole idle
        // connection then cost ~3.0 KB of RSS against HAProxy's ~3.4 KB.
        // 1904 B (forward 1344 B) with the counters, the session's
        // registration (`show sessions`) and the tcplog counts (issue 10);
        // bench/run.sh's memory test measures the whole connection.
        assert!(
            std::mem::size_of_val(&session) <= 1950,
            "session future grew"
        );
        assert!(std::mem::size_of_val(&fwd) <= 1450, "forward future grew");
    }
}

//! Test support: real TCP backends on loopback and a proxy running in the
//! test's runtime. Nothing here talks to anything but 127.0.0.0/8.

#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rampart_proxy::{Events, Mode, Proxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A one-frontend, one-backend config: `{PORT}` and `{S0}`, `{S1}`, ... are
/// filled in by `Harness::start`. Active health checks are off.
pub fn config(frontend_keys: &str, backend_keys: &str, servers: &str) -> String {
    format!(
        r#"
[[frontend]]
name = "fe"
bind = ["127.0.0.1:{{PORT}}"]
backend = "be"
{frontend_keys}

[[backend]]
name = "be"
{backend_keys}
health = {{ check = "none" }}
servers = [ {servers} ]
"#
    )
}

/// Waits until the proxy closes `s` and returns how long that took.
pub async fn closed_after(s: &mut TcpStream, limit: Duration) -> Duration {
    let t = tokio::time::Instant::now();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(limit, s.read_to_end(&mut buf))
        .await
        .expect("the proxy did not close the connection");
    t.elapsed()
}

/// A backend server run by the test.
pub struct Backend {
    pub addr: SocketAddr,
    pub accepted: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl Backend {
    /// Stops accepting and closes the listening socket (new connects are
    /// refused); connections already accepted finish normally.
    pub async fn stop(self) {
        self.task.abort();
        // Resolves once the task (and with it the listener) is dropped.
        let _ = self.task.await;
    }

    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// A backend whose accept loop is `task` (its accepts are not counted).
    pub fn from_task(addr: SocketAddr, task: JoinHandle<()>) -> Backend {
        Backend {
            addr,
            accepted: Arc::new(AtomicU64::new(0)),
            task,
        }
    }
}

/// A backend on an ephemeral loopback port running `handler` per connection.
pub async fn spawn_backend_with<F, Fut>(handler: F) -> Backend
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    spawn_backend("127.0.0.1:0", handler).await
}

async fn spawn_backend<F, Fut>(addr: &str, handler: F) -> Backend
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let l = TcpListener::bind(addr).await.expect("bind backend");
    let addr = l.local_addr().expect("addr");
    let accepted = Arc::new(AtomicU64::new(0));
    let acc = accepted.clone();
    let handler = Arc::new(handler);
    let task = tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else {
                continue;
            };
            acc.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(handler(s));
        }
    });
    Backend {
        addr,
        accepted,
        task,
    }
}

/// Writes `name\n` on accept, then echoes until the client closes.
pub async fn named(name: &'static str) -> Backend {
    spawn_backend("127.0.0.1:0", move |mut s| async move {
        let _ = s.write_all(format!("{name}\n").as_bytes()).await;
        echo_loop(s).await;
    })
    .await
}

/// Echoes everything; on the client's FIN, finishes echoing and closes.
pub async fn echo() -> Backend {
    spawn_backend("127.0.0.1:0", echo_loop).await
}

pub async fn echo_at(addr: SocketAddr) -> Backend {
    spawn_backend(&addr.to_string(), echo_loop).await
}

async fn echo_loop(mut s: TcpStream) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if s.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
    let _ = s.shutdown().await;
}

/// Records the first `n` bytes it receives on each connection.
pub async fn recorder(n: usize) -> (Backend, tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let b = spawn_backend("127.0.0.1:0", move |mut s| {
        let tx = tx.clone();
        async move {
            let mut got = Vec::new();
            let mut buf = [0u8; 512];
            while got.len() < n {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(k) => got.extend_from_slice(&buf[..k]),
                }
            }
            let _ = tx.send(got);
        }
    })
    .await;
    (b, rx)
}

/// Accepts and never reads or writes (a hung server).
pub async fn silent() -> Backend {
    spawn_backend("127.0.0.1:0", |s| async move {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        drop(s);
    })
    .await
}

/// Counts passive failures.
#[derive(Default)]
pub struct CountEvents(pub AtomicU64);

impl Events for CountEvents {
    fn passive_failure(&self, _: &str, _: &str) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// A proxy serving frontend 0 on an ephemeral loopback port.
pub struct Harness {
    pub proxy: Arc<Proxy>,
    pub addr: SocketAddr,
    pub events: Arc<CountEvents>,
    /// Kept alive: the proxy stops accepting when it is dropped.
    _stop: watch::Sender<bool>,
}

impl Harness {
    /// `cfg` must contain `{PORT}` where the frontend's port goes and
    /// `{S0}`, `{S1}`, ... for the backend servers' addresses.
    pub async fn start(cfg: &str, servers: &[SocketAddr], mode: Mode) -> Harness {
        Harness::start_on("127.0.0.1:0", cfg, servers, mode).await
    }

    /// Like `start`, listening on `bind` (e.g. `[::1]:0`).
    pub async fn start_on(bind: &str, cfg: &str, servers: &[SocketAddr], mode: Mode) -> Harness {
        let listener = rampart_proxy::proxy::listen(bind.parse().unwrap()).expect("listen");
        let addr = listener.local_addr().unwrap();
        let mut text = cfg.replace("{PORT}", &addr.port().to_string());
        for (i, s) in servers.iter().enumerate() {
            text = text.replace(&format!("{{S{i}}}"), &s.to_string());
        }
        let cfg = rampart_config::parse("test.toml", &text).unwrap_or_else(|e| panic!("{e}"));
        let events = Arc::new(CountEvents::default());
        let proxy = Proxy::new(&cfg, mode, events.clone(), |_, _| true);
        let (stop, rx) = watch::channel(false);
        tokio::spawn(proxy.clone().serve(0, listener, rx));
        Harness {
            proxy,
            addr,
            events,
            _stop: stop,
        }
    }
}

/// Connects from a chosen loopback source address (127.0.0.0/8 is all local).
pub async fn connect_from(src: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let sock = TcpSocket::new_v4()?;
    sock.bind(SocketAddr::new(src, 0))?;
    sock.connect(to).await
}

/// Reads one `\n`-terminated line (the name of a `named` backend).
pub async fn read_line(s: &mut TcpStream) -> std::io::Result<String> {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut b)).await {
            Err(_) => return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "no line")),
            Ok(Ok(0)) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "closed",
                ));
            }
            Ok(Ok(_)) if b[0] == b'\n' => return Ok(String::from_utf8_lossy(&out).into_owned()),
            Ok(Ok(_)) => out.push(b[0]),
            Ok(Err(e)) => return Err(e),
        }
    }
}

/// Which backend answers a new connection.
pub async fn who(addr: SocketAddr) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr).await?;
    read_line(&mut s).await
}

/// Waits until `cond` holds, up to `limit`.
pub async fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < end {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cond()
}

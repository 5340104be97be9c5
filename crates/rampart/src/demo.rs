//! `rampart demo`: the proxy and two built-in backends on loopback, no
//! set-up needed. Shows round robin, then stops one backend under load and
//! shows the health check taking it out with no failed request.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use rampart_proxy::{Events, Mode, Proxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use tokio::task::JoinHandle;

const CONFIG: &str = r#"
[[frontend]]
name = "www"
bind = ["127.0.0.1:{PROXY}"]
backend = "nginx_pool"

[[backend]]
name = "nginx_pool"
balance = "roundrobin"
retries = 3
timeout = { connect = "1s", queue = "2s" }
health = { check = { http = "GET /", status = 200 }, interval = "200ms", timeout = "150ms", fall = 2, rise = 2 }
servers = [
  { name = "web1", addr = "127.0.0.1:{WEB1}" },
  { name = "web2", addr = "127.0.0.1:{WEB2}" },
]
"#;

/// A tiny HTTP server standing in for nginx.
async fn web(name: &'static str, listener: TcpListener) {
    loop {
        let Ok((mut s, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            let body = format!("hello from {name}\n");
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(resp.as_bytes()).await;
        });
    }
}

/// One request through the proxy; returns the backend's name.
async fn request(addr: SocketAddr) -> Result<String> {
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(b"GET / HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n")
        .await?;
    let mut resp = String::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut resp)).await??;
    resp.rsplit("hello from ")
        .next()
        .filter(|_| resp.starts_with("HTTP/1.1 200"))
        .map(|n| n.trim().to_string())
        .ok_or_else(|| anyhow!("bad response {resp:?}"))
}

/// Passive failures go straight to the in-process checkers.
struct DemoEvents(Vec<(String, UnboundedSender<()>)>);

impl Events for DemoEvents {
    fn passive_failure(&self, _: &str, server: &str) {
        if let Some((_, tx)) = self.0.iter().find(|(name, _)| name == server) {
            let _ = tx.send(());
        }
    }
}

pub fn main() -> Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(demo())
}

async fn demo() -> Result<ExitCode> {
    let web1 = TcpListener::bind("127.0.0.1:0").await?;
    let web2 = TcpListener::bind("127.0.0.1:0").await?;
    let (a1, a2) = (web1.local_addr()?, web2.local_addr()?);
    let w1 = tokio::spawn(web("web1", web1));
    let w2 = tokio::spawn(web("web2", web2));
    let listener = rampart_proxy::proxy::listen("127.0.0.1:0".parse()?)?;
    let front = listener.local_addr()?;
    let text = CONFIG
        .replace("{PROXY}", &front.port().to_string())
        .replace("{WEB1}", &a1.port().to_string())
        .replace("{WEB2}", &a2.port().to_string());
    let cfg = rampart_config::parse("demo.toml", &text).map_err(|e| anyhow!("{e}"))?;
    println!(
        "== rampart demo: proxy on {front}, backends web1 on {a1} and web2 on {a2}\n-- config --{text}"
    );

    let backend = cfg
        .backends
        .first()
        .context("demo config has a backend")?
        .clone();
    let mut passive = Vec::new();
    let mut checkers: Vec<JoinHandle<()>> = Vec::new();
    let (change_tx, mut change_rx) = unbounded_channel::<(String, bool)>();
    for s in &backend.servers {
        let (tx, rx) = unbounded_channel();
        passive.push((s.name.clone(), tx));
        let change_tx = change_tx.clone();
        let name = s.name.clone();
        let (addr, health) = backend.check_of(s);
        checkers.push(tokio::spawn(rampart_proxy::health::run_checker(
            (backend.name.clone(), s.name.clone()),
            addr,
            health,
            rampart_proxy::health::Pace::unpaced(),
            rx,
            Default::default(),
            move |up| {
                let _ = change_tx.send((name.clone(), up));
            },
        )));
    }
    let proxy = Proxy::new(&cfg, Mode::Splice, Arc::new(DemoEvents(passive)), |_, _| {
        false
    });
    let (_stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(proxy.clone().serve(0, listener, stop_rx));
    let p = proxy.clone();
    tokio::spawn(async move {
        while let Some((server, up)) = change_rx.recv().await {
            p.set_server_up("nginx_pool", &server, up);
        }
    });

    println!("\n1. waiting for the first health checks");
    let be = proxy.backend("nginx_pool").context("backend")?.clone();
    wait_for(|| be.balancer().eligible().len() == 2, "both servers up").await?;
    println!("   web1 and web2 are UP");

    println!("\n2. six requests, round robin:");
    for i in 1..=6 {
        println!("   request {i} -> {}", request(front).await?);
    }

    println!("\n3. load (4 clients in a loop), then web2 stops");
    // Requests begun after web2 stopped must all succeed. Those web2 had
    // already accepted (or held in its backlog) when it died are lost with
    // it, as with any L4 balancer; they are counted apart.
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let lost_in_flight = Arc::new(AtomicU64::new(0));
    let stopped_at: Arc<std::sync::Mutex<Option<tokio::time::Instant>>> = Arc::default();
    let (load_stop, load_rx) = tokio::sync::watch::channel(false);
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (ok, failed, lost, at, mut stop) = (
            ok.clone(),
            failed.clone(),
            lost_in_flight.clone(),
            stopped_at.clone(),
            load_rx.clone(),
        );
        clients.push(tokio::spawn(async move {
            while !*stop.borrow_and_update() {
                let began = tokio::time::Instant::now();
                let r = request(front).await;
                let after_stop = at
                    .lock()
                    .map(|t| t.is_some_and(|t| began > t))
                    .unwrap_or(false);
                match (r, after_stop) {
                    (Ok(_), _) => ok.fetch_add(1, Ordering::Relaxed),
                    (Err(_), true) => failed.fetch_add(1, Ordering::Relaxed),
                    (Err(_), false) => lost.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    w2.abort();
    let _ = w2.await; // the listener is closed once the task is gone
    let stopped = tokio::time::Instant::now();
    if let Ok(mut at) = stopped_at.lock() {
        *at = Some(stopped);
    }
    println!("   web2 stopped (its port now refuses connections)");
    let web2_idx = be.server_index("web2").context("web2")?;
    wait_for(|| !be.servers[web2_idx].is_up(), "web2 marked down").await?;
    println!(
        "   health check marked web2 DOWN after {} ms",
        stopped.elapsed().as_millis()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = load_stop.send(true);
    for c in clients {
        let _ = c.await;
    }
    let (ok, failed, lost) = (
        ok.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
        lost_in_flight.load(Ordering::Relaxed),
    );
    println!("   requests during the test: {ok} ok, {failed} failed");
    if lost > 0 {
        println!(
            "   ({lost} request(s) already inside web2 when it stopped died with it, as with any L4 balancer)"
        );
    }

    println!("\n4. requests now:");
    for i in 1..=4 {
        println!("   request {i} -> {}", request(front).await?);
    }

    println!("\n5. web2 comes back");
    let web2 = TcpListener::bind(a2).await?;
    let w2 = tokio::spawn(web("web2", web2));
    wait_for(|| be.servers[web2_idx].is_up(), "web2 back up").await?;
    for i in 1..=4 {
        println!("   request {i} -> {}", request(front).await?);
    }
    for t in checkers.into_iter().chain([w1, w2]) {
        t.abort();
    }
    if failed == 0 {
        println!("\nOK: round robin, failover by health check, 0 failed requests.");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("\nFAILED: {failed} request(s) failed during the backend stop.");
        Ok(ExitCode::FAILURE)
    }
}

async fn wait_for(cond: impl Fn() -> bool, what: &str) -> Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !cond() {
        if tokio::time::Instant::now() > deadline {
            return Err(anyhow!("timed out waiting for {what}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

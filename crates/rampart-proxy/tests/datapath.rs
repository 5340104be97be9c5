//! Forwarding, limits, timeouts and failure handling through the real proxy.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;
use rampart_proxy::Mode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn one_backend(frontend_keys: &str, servers: &str) -> String {
    config(frontend_keys, "", servers)
}

/// A proxy in front of `b` alone, with default settings.
async fn only(b: &Backend, mode: Mode) -> Harness {
    Harness::start(
        &one_backend("", r#"{ name = "r", addr = "{S0}" }"#),
        &[b.addr],
        mode,
    )
    .await
}

/// Sends a ping and expects the echo: a complete request through the proxy.
async fn ping(addr: std::net::SocketAddr) -> std::io::Result<()> {
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(b"ping").await?;
    let mut buf = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut buf)).await??;
    if &buf != b"ping" {
        return Err(std::io::Error::other("wrong echo"));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_dying_under_load_costs_no_client_connection() {
    let (a, b) = (echo().await, echo().await);
    let h = Harness::start(
        &one_backend(
            "",
            r#"{ name = "a", addr = "{S0}" }, { name = "b", addr = "{S1}" }"#,
        ),
        &[a.addr, b.addr],
        Mode::Splice,
    )
    .await;
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped_at: Arc<std::sync::Mutex<Option<Instant>>> = Arc::default();
    let mut clients = Vec::new();
    for _ in 0..8 {
        let (ok, failed, stop, at, addr) = (
            ok.clone(),
            failed.clone(),
            stop.clone(),
            stopped_at.clone(),
            h.addr,
        );
        clients.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let began = Instant::now();
                let r = ping(addr).await;
                // Connections b had already accepted or queued die with it;
                // every connection begun after it died must succeed.
                let after = at.lock().unwrap().is_some_and(|t| began > t);
                match (r, after) {
                    (Ok(()), true) => ok.fetch_add(1, Ordering::Relaxed),
                    (Err(_), true) => failed.fetch_add(1, Ordering::Relaxed),
                    _ => 0,
                };
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    b.stop().await; // refuses from now on; the proxy still believes it is up
    *stopped_at.lock().unwrap() = Some(Instant::now());
    tokio::time::sleep(Duration::from_millis(700)).await;
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    assert!(ok > 100, "load too small to mean anything: {ok}");
    assert_eq!(failed, 0, "{failed} failed out of {}", ok + failed);
    // Refused connects were reported as passive failures for the checker.
    assert!(h.events.0.load(Ordering::Relaxed) > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_maxconn_queues_then_times_out() {
    let a = echo().await;
    let cfg = config(
        "",
        r#"timeout = { queue = "400ms" }"#,
        r#"{ name = "a", addr = "{S0}", maxconn = 1 }"#,
    );
    let h = Harness::start(&cfg, &[a.addr], Mode::Splice).await;

    let mut first = TcpStream::connect(h.addr).await.unwrap();
    first.write_all(b"1").await.unwrap();
    let mut b = [0u8; 1];
    first.read_exact(&mut b).await.unwrap();

    // The second waits in the queue while the first holds the only slot...
    let mut second = TcpStream::connect(h.addr).await.unwrap();
    second.write_all(b"2").await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(150), second.read_exact(&mut b))
            .await
            .is_err(),
        "second served while the slot was taken"
    );
    // ...and is served as soon as the slot frees.
    drop(first);
    tokio::time::timeout(Duration::from_secs(1), second.read_exact(&mut b))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&b, b"2");

    // A third waits past the queue timeout and is closed without data.
    let mut third = TcpStream::connect(h.addr).await.unwrap();
    let t = Instant::now();
    let mut rest = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(3), third.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap_or(0);
    let waited = t.elapsed();
    assert_eq!(n, 0);
    assert!(
        waited >= Duration::from_millis(350) && waited < Duration::from_millis(2000),
        "closed after {waited:?}"
    );
    drop(second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frontend_maxconn_leaves_excess_clients_in_the_backlog() {
    let a = echo().await;
    let h = Harness::start(
        &one_backend("maxconn = 1", r#"{ name = "a", addr = "{S0}" }"#),
        &[a.addr],
        Mode::Splice,
    )
    .await;
    let mut first = TcpStream::connect(h.addr).await.unwrap();
    first.write_all(b"1").await.unwrap();
    let mut b = [0u8; 1];
    first.read_exact(&mut b).await.unwrap();
    let mut second = TcpStream::connect(h.addr).await.unwrap(); // kernel backlog
    second.write_all(b"2").await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(200), second.read_exact(&mut b))
            .await
            .is_err()
    );
    assert_eq!(a.accepted(), 1);
    drop(first);
    tokio::time::timeout(Duration::from_secs(2), second.read_exact(&mut b))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&b, b"2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_timeout_redispatches_to_another_server() {
    // A listener with a full backlog never completes a handshake: connects
    // to it hang until the proxy's connect timeout.
    let full = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let full_addr = full.local_addr().unwrap();
    let sock = socket2::Socket::from(full);
    sock.listen(0).unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        fillers.push(
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap(),
        );
    }
    for f in &fillers {
        f.set_nonblocking(true).unwrap();
        let _ = f.connect(&full_addr.into());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;

    let good = named("good").await;
    let cfg = config(
        "",
        "balance = \"first\"\ntimeout = { connect = \"300ms\" }",
        r#"{ name = "hung", addr = "{S0}" }, { name = "good", addr = "{S1}" }"#,
    );
    let h = Harness::start(&cfg, &[full_addr, good.addr], Mode::Splice).await;
    let t = Instant::now();
    assert_eq!(who(h.addr).await.unwrap(), "good");
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(250),
        "did not wait for the connect timeout: {took:?}"
    );
    assert!(h.events.0.load(Ordering::Relaxed) >= 1);
    drop(sock);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_and_server_inactivity_timeouts() {
    let quiet = silent().await;
    let cfg = config(
        "",
        r#"timeout = { client = "300ms", server = "5s" }"#,
        r#"{ name = "q", addr = "{S0}" }"#,
    );
    let h = Harness::start(&cfg, &[quiet.addr], Mode::Splice).await;
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    let took = closed_after(&mut s, Duration::from_secs(4)).await;
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_millis(3000),
        "client timeout after {took:?}"
    );

    let cfg = config(
        "",
        r#"timeout = { client = "5s", server = "300ms" }"#,
        r#"{ name = "q", addr = "{S0}" }"#,
    );
    let h = Harness::start(&cfg, &[quiet.addr], Mode::Splice).await;
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    // The client sends a request; the server accepts it but never answers.
    s.write_all(b"request").await.unwrap();
    let took = closed_after(&mut s, Duration::from_secs(4)).await;
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_millis(3000),
        "server timeout after {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tunnel_timeout_replaces_client_and_server() {
    let a = echo().await;
    let cfg = config(
        "",
        r#"timeout = { client = "200ms", server = "200ms", tunnel = "2s" }"#,
        r#"{ name = "a", addr = "{S0}" }"#,
    );
    let h = Harness::start(&cfg, &[a.addr], Mode::Splice).await;
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await; // > client/server, < tunnel
    s.write_all(b"hi").await.unwrap();
    let mut b = [0u8; 2];
    tokio::time::timeout(Duration::from_secs(1), s.read_exact(&mut b))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&b, b"hi");
}

async fn half_close(mode: Mode) {
    let a = echo().await;
    let h = Harness::start(
        &one_backend("", r#"{ name = "a", addr = "{S0}" }"#),
        &[a.addr],
        mode,
    )
    .await;
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    s.write_all(&data).await.unwrap();
    // Our FIN reaches the echo server, which finishes echoing and closes:
    // the reply keeps flowing after the client shut its write side.
    s.shutdown().await.unwrap();
    let mut back = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut back))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back.len(), data.len());
    assert!(back == data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_close_splice() {
    half_close(Mode::Splice).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_close_copy() {
    half_close(Mode::Copy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_protocol_v1_and_v2_as_received_by_the_backend() {
    for (version, expect_v1) in [("v1", true), ("v2", false)] {
        let (rec, mut rx) = recorder(200).await;
        let cfg = one_backend(
            "",
            &format!(r#"{{ name = "r", addr = "{{S0}}", send_proxy = "{version}" }}"#),
        );
        let h = Harness::start(&cfg, &[rec.addr], Mode::Splice).await;
        let src = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 7));
        let mut s = connect_from(src, h.addr).await.unwrap();
        let client = s.local_addr().unwrap();
        s.write_all(b"payload").await.unwrap();
        drop(s);
        let got = tokio::time::timeout(Duration::from_secs(3), rx.recv())
            .await
            .unwrap()
            .unwrap();
        if expect_v1 {
            let line = format!(
                "PROXY TCP4 127.0.0.7 127.0.0.1 {} {}\r\n",
                client.port(),
                h.addr.port()
            );
            assert!(
                got.starts_with(line.as_bytes()),
                "{:?}",
                String::from_utf8_lossy(&got)
            );
        } else {
            assert!(
                got.starts_with(b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c"),
                "{got:?}"
            );
            assert_eq!(&got[16..20], &[127, 0, 0, 7]);
            assert_eq!(&got[20..24], &[127, 0, 0, 1]);
            assert_eq!(&got[24..26], &client.port().to_be_bytes());
            assert_eq!(&got[26..28], &h.addr.port().to_be_bytes());
        }
        assert!(got.ends_with(b"payload"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_acl_denies_before_any_server_is_contacted() {
    let a = named("a").await;
    let h = Harness::start(
        &one_backend(
            r#"allow = ["127.0.0.0/8"]
deny = ["127.0.0.66"]"#,
            r#"{ name = "a", addr = "{S0}" }"#,
        ),
        &[a.addr],
        Mode::Splice,
    )
    .await;
    let mut denied = connect_from(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 66)), h.addr)
        .await
        .unwrap();
    let mut buf = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(2), denied.read_to_end(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0);
    assert_eq!(a.accepted(), 0, "a denied client reached the server");
    let mut allowed = connect_from(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 65)), h.addr)
        .await
        .unwrap();
    assert_eq!(read_line(&mut allowed).await.unwrap(), "a");
}

/// A deterministic byte stream (xorshift64), regenerated by the reader to
/// check every byte that comes back.
struct Stream {
    seed: u64,
    block: Vec<u8>,
    pos: usize,
}

impl Stream {
    fn new() -> Self {
        Stream {
            seed: 0x9E37_79B9_7F4A_7C15,
            block: Vec::new(),
            pos: 0,
        }
    }
    fn next_byte_block(&mut self) {
        self.block.clear();
        for _ in 0..8192 {
            self.seed ^= self.seed << 13;
            self.seed ^= self.seed >> 7;
            self.seed ^= self.seed << 17;
            self.block.extend_from_slice(&self.seed.to_le_bytes());
        }
        self.pos = 0;
    }
    /// Fills `out` with the next bytes of the stream.
    fn fill(&mut self, out: &mut [u8]) {
        let mut done = 0;
        while done < out.len() {
            if self.pos == self.block.len() {
                self.next_byte_block();
            }
            let n = (out.len() - done).min(self.block.len() - self.pos);
            out[done..done + n].copy_from_slice(&self.block[self.pos..self.pos + n]);
            self.pos += n;
            done += n;
        }
    }
}

/// Sends `total` bytes each way (client → echo server → client) and checks
/// every byte that returns.
async fn bulk(mode: Mode, total: u64) {
    let a = echo().await;
    let h = Harness::start(
        &one_backend("", r#"{ name = "a", addr = "{S0}" }"#),
        &[a.addr],
        mode,
    )
    .await;
    let s = TcpStream::connect(h.addr).await.unwrap();
    let (mut r, mut w) = s.into_split();
    let writer = tokio::spawn(async move {
        let mut source = Stream::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut sent = 0u64;
        while sent < total {
            let n = buf.len().min((total - sent) as usize);
            source.fill(&mut buf[..n]);
            w.write_all(&buf[..n]).await.unwrap();
            sent += n as u64;
        }
        w.shutdown().await.unwrap();
    });
    let mut expect = Stream::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut want = vec![0u8; 256 * 1024];
    let mut got = 0u64;
    loop {
        let n = tokio::time::timeout(Duration::from_secs(30), r.read(&mut buf))
            .await
            .expect("stalled")
            .unwrap();
        if n == 0 {
            break;
        }
        expect.fill(&mut want[..n]);
        assert!(buf[..n] == want[..n], "corrupt data at offset {got}");
        got += n as u64;
    }
    writer.await.unwrap();
    assert_eq!(got, total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gib_each_way_intact_with_splice() {
    bulk(Mode::Splice, 1 << 30).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_intact_with_copy() {
    bulk(Mode::Copy, 128 << 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_on_one_side_ends_the_session_at_once() {
    // The server reads the request, then resets the connection (SO_LINGER 0).
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let mut b = [0u8; 16];
            let _ = s.read(&mut b).await;
            socket2::SockRef::from(&s)
                .set_linger(Some(Duration::ZERO))
                .unwrap();
            drop(s);
        }
    });
    // Default timeouts are 50 s: only the reset can end this quickly.
    let h = Harness::start(
        &one_backend("", r#"{ name = "rst", addr = "{S0}" }"#),
        &[addr],
        Mode::Splice,
    )
    .await;
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    s.write_all(b"request").await.unwrap();
    let mut buf = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(3), s.read_to_end(&mut buf)).await;
    assert!(ended.is_ok(), "client still waiting after the server reset");
    let be = h.proxy.backend("be").unwrap().clone();
    assert!(
        eventually(Duration::from_secs(1), || be.servers[0].active() == 0).await,
        "server slot still held"
    );

    // And the other way: the client resets while the server is silent.
    let quiet = silent().await;
    let h = Harness::start(
        &one_backend("", r#"{ name = "q", addr = "{S0}" }"#),
        &[quiet.addr],
        Mode::Splice,
    )
    .await;
    let s = TcpStream::connect(h.addr).await.unwrap();
    let be = h.proxy.backend("be").unwrap().clone();
    assert!(eventually(Duration::from_secs(2), || be.servers[0].active() == 1).await);
    socket2::SockRef::from(&s)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(s);
    assert!(
        eventually(Duration::from_secs(2), || be.servers[0].active() == 0).await,
        "session outlived the client's reset"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_frontend_with_proxy_v2_tcp6() {
    let (rec, mut rx) = recorder(200).await;
    let cfg = one_backend("", r#"{ name = "r", addr = "{S0}", send_proxy = "v2" }"#)
        .replace("127.0.0.1:{PORT}", "[::1]:{PORT}");
    let h = Harness::start_on("[::1]:0", &cfg, &[rec.addr], Mode::Splice).await;
    let mut s = TcpStream::connect(h.addr).await.unwrap();
    let client = s.local_addr().unwrap();
    s.write_all(b"six").await.unwrap();
    drop(s);
    let got = tokio::time::timeout(Duration::from_secs(3), rx.recv())
        .await
        .unwrap()
        .unwrap();
    // v2, PROXY, TCP over IPv6, 36 bytes of addresses.
    assert_eq!(&got[12..16], &[0x21, 0x21, 0x00, 36], "{got:?}");
    assert_eq!(&got[16..32], &std::net::Ipv6Addr::LOCALHOST.octets());
    assert_eq!(&got[48..50], &client.port().to_be_bytes());
    assert!(got.ends_with(b"six"));
}

/// Reads whatever `s` holds right now, without waiting and without tokio's
/// readiness bookkeeping: `Some(n)` bytes (0 = the FIN is there), `None` if
/// nothing has arrived.
fn read_now(s: &TcpStream, buf: &mut [u8]) -> Option<usize> {
    use std::io::Read;
    match (&*socket2::SockRef::from(s)).read(buf) {
        Ok(n) => Some(n),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
        Err(e) => panic!("read: {e}"),
    }
}

/// What a backend found queued on a connection the moment `accept` returned.
/// Sends (first bytes, segments received until they were read).
async fn first_look_backend() -> (
    Backend,
    tokio::sync::mpsc::UnboundedReceiver<(Vec<u8>, u32)>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else {
                continue;
            };
            let mut buf = [0u8; 512];
            let mut got = read_now(&s, &mut buf).map_or(Vec::new(), |n| buf[..n].to_vec());
            if got.is_empty() {
                // Not there yet: wait for it, then say how many segments
                // the connection took (see the handshake test).
                let n = tokio::time::timeout(Duration::from_secs(3), async {
                    s.readable().await.unwrap();
                    read_now(&s, &mut buf)
                })
                .await
                .ok()
                .flatten()
                .unwrap_or(0);
                got = buf[..n].to_vec();
            }
            let segs = rampart_sys::socket::segments(&s).unwrap();
            let _ = tx.send((got, segs.received));
            // Held until the client side ends, then closed.
            tokio::spawn(async move {
                let mut s = s;
                let mut sink = [0u8; 512];
                while matches!(s.read(&mut sink).await, Ok(n) if n > 0) {}
            });
        }
    });
    (Backend::from_task(addr, task), rx)
}

/// tcp-smart-connect: when the proxy has bytes for the server the moment the
/// connection is up (here the PROXY header), the handshake's last ACK rides
/// on them: the server has received two segments (SYN, then ACK + header),
/// not three.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_bytes_to_a_server_complete_its_handshake() {
    let (b, mut rx) = first_look_backend().await;
    let cfg = one_backend("", r#"{ name = "r", addr = "{S0}", send_proxy = "v1" }"#);
    let h = Harness::start(&cfg, &[b.addr], Mode::Splice).await;
    let mut clients = Vec::new();
    for i in 0..20 {
        // The client sends nothing: only the header is there to carry the ACK.
        clients.push(TcpStream::connect(h.addr).await.unwrap());
        let (got, segs) = tokio::time::timeout(Duration::from_secs(3), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(
            got.starts_with(b"PROXY TCP4 127.0.0.1 127.0.0.1 "),
            "{:?}",
            String::from_utf8_lossy(&got)
        );
        assert_eq!(
            segs, 2,
            "connection {i}: the handshake's last ACK came on its own"
        );
    }
}

/// Bytes a client sent before the proxy looked at its connection are read at
/// once and sent with the PROXY header in the server's first segment, in
/// order and counted. The frontend's maxconn = 1 holds the second client
/// until the first leaves, so its request is certainly waiting by then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_already_sent_by_the_client_go_out_with_the_handshake() {
    let (b, mut rx) = first_look_backend().await;
    let cfg = one_backend(
        "maxconn = 1",
        r#"{ name = "r", addr = "{S0}", send_proxy = "v1" }"#,
    );
    let h = Harness::start(&cfg, &[b.addr], Mode::Splice).await;
    let first = TcpStream::connect(h.addr).await.unwrap();
    let (got, _) = tokio::time::timeout(Duration::from_secs(3), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(got.starts_with(b"PROXY "));
    let mut second = TcpStream::connect(h.addr).await.unwrap();
    second
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(1), rx.recv())
            .await
            .is_err(),
        "maxconn = 1 let a second connection through"
    );
    drop(first);
    let (got, segs) = tokio::time::timeout(Duration::from_secs(3), rx.recv())
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("PROXY TCP4 127.0.0.1 127.0.0.1 ")
            && text.ends_with("\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        "{text:?}"
    );
    assert_eq!(segs, 2, "SYN, then the ACK with header and request in one");
}

/// When a server's last bytes and its FIN arrive together, the client gets
/// them together too: the FIN is passed on in the same segment as the bytes
/// (one segment and one ACK fewer per connection), so right after reading
/// the reply a client finds the end of stream already there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_servers_last_bytes_and_fin_reach_the_client_together() {
    const REPLY: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
    let b = spawn_backend_with(|mut s| async move {
        let mut buf = [0u8; 512];
        let _ = s.read(&mut buf).await;
        // Reply and FIN in one segment (MSG_MORE, then shutdown).
        let sock = socket2::SockRef::from(&s);
        let mut rest = REPLY;
        while !rest.is_empty() {
            s.writable().await.unwrap();
            match rampart_sys::socket::send_more(&sock, rest) {
                Ok(k) => rest = &rest[k..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
        }
        let _ = sock.shutdown(std::net::Shutdown::Write);
        let _ = s.read(&mut buf).await;
    })
    .await;
    for mode in [Mode::Splice, Mode::Copy] {
        let h = only(&b, mode).await;
        for i in 0..20 {
            let mut s = TcpStream::connect(h.addr).await.unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
            let mut reply = vec![0u8; REPLY.len()];
            tokio::time::timeout(Duration::from_secs(3), s.read_exact(&mut reply))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(reply, REPLY);
            let mut more = [0u8; 16];
            assert_eq!(
                read_now(&s, &mut more),
                Some(0),
                "{mode:?} connection {i}: the reply came without its FIN"
            );
        }
    }
}

/// A server that sends its last bytes and then resets (SO_LINGER 0) has
/// aborted, even when the bytes and the reset arrive together: the client
/// gets the bytes, and the session ends at once instead of being taken
/// for a half-close that waits on the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_reset_right_after_its_last_bytes_is_an_abort() {
    let b = spawn_backend_with(|mut s| async move {
        // After the proxy's connect has completed (a reset before that is
        // a failed connect, retried elsewhere), bytes and reset back to back.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _ = s.write_all(b"bye").await;
        let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
    })
    .await;
    for mode in [Mode::Splice, Mode::Copy] {
        let h = only(&b, mode).await;
        for i in 0..10 {
            let mut s = TcpStream::connect(h.addr).await.unwrap();
            let mut got = [0u8; 3];
            tokio::time::timeout(Duration::from_secs(3), s.read_exact(&mut got))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(&got, b"bye");
            // The client keeps its side open; the session must not.
            assert!(
                eventually(Duration::from_secs(2), || h.proxy.live() == 0).await,
                "{mode:?} connection {i}: the session outlived the server's reset"
            );
            drop(s);
        }
    }
}

/// `rampart node drain`'s last step: the sessions open are closed spread
/// over the window once quiet for `idle`, while one that pauses less than
/// that runs on; sessions opened afterwards are not touched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_spread_closes_idle_sessions_over_the_window_and_keeps_busy_ones() {
    let b = echo().await;
    let h = only(&b, Mode::Splice).await;
    // Busy first in line (sessions are looked at in the order they were
    // opened): it must not hold back the others' close. It pauses 400 ms
    // between bytes: shorter than --idle, so not idle.
    let mut busy = TcpStream::connect(h.addr).await.unwrap();
    let talking = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = talking.clone();
    busy.write_all(b"x").await.unwrap();
    let mut one = [0u8; 1];
    busy.read_exact(&mut one).await.unwrap();
    let mut idle = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(h.addr).await.unwrap();
        s.write_all(b"hi").await.unwrap();
        let mut buf = [0u8; 2];
        s.read_exact(&mut buf).await.unwrap();
        idle.push(s);
    }
    let busy_task = tokio::spawn(async move {
        let mut echoed = 0u32;
        while flag.load(Ordering::Relaxed) {
            busy.write_all(b"x").await?;
            busy.read_exact(&mut one).await?;
            echoed += 1;
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
        Ok::<u32, std::io::Error>(echoed)
    });
    assert!(
        eventually(Duration::from_secs(2), || h.proxy.sessions().sessions.len()
            == 5)
        .await
    );
    let t0 = tokio::time::Instant::now();
    let spread = tokio::spawn(
        h.proxy
            .clone()
            .close_spread(Duration::from_secs(3), Duration::from_secs(1)),
    );
    // Opened after the spread began: not in it.
    let mut late = TcpStream::connect(h.addr).await.unwrap();
    let mut closed_at = Vec::new();
    for s in &mut idle {
        closed_after(s, Duration::from_secs(6)).await;
        closed_at.push(t0.elapsed());
    }
    let closed = spread.await.unwrap();
    let took = t0.elapsed();
    assert_eq!(closed, 4, "closed_at {closed_at:?}");
    // None before the first second (idle is a second without a byte),
    // all within the window, and spread: not all at the same moment.
    let (first, last) = (closed_at[0], *closed_at.iter().max().unwrap());
    assert!(first >= Duration::from_millis(900), "{closed_at:?}");
    assert!(last <= Duration::from_millis(3300), "{closed_at:?}");
    let (min, max) = (
        *closed_at.iter().min().unwrap(),
        *closed_at.iter().max().unwrap(),
    );
    // Five sessions in a 3 s window are looked at 600 ms apart: the idle
    // ones (slots 1 to 4) close at 1.0, 1.2, 1.8 and 2.4 s.
    assert!(max - min >= Duration::from_millis(1000), "{closed_at:?}");
    assert!(took <= Duration::from_millis(3500), "{took:?}");
    talking.store(false, Ordering::Relaxed);
    let echoed = busy_task.await.unwrap().unwrap();
    // It kept talking all along (and was never closed: Ok above).
    assert!(echoed >= 5, "{echoed}");
    // The late one still works.
    late.write_all(b"ok").await.unwrap();
    let mut buf = [0u8; 2];
    late.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ok");
}

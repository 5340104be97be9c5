//! Probes against real loopback servers started by each test, and the
//! runner end to end with short intervals. Timing bounds are generous above
//! (the test machine is small and shared) and tight below, where the rules
//! make an early transition impossible.

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rampart_config::{Check, Health};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::{Pace, ProbeError, probe, run_checker};

/// Long enough never to fire in tests that are not about timeouts.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Slack for "took too long" assertions on a noisy two-core machine.
const SLOW: Duration = Duration::from_secs(2);

/// A loopback server handling every connection with `serve`; it lives until
/// the test's runtime ends.
async fn server<F, Fut>(serve: F) -> SocketAddr
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(accept_loop(listener, serve));
    addr
}

async fn accept_loop<F, Fut>(listener: TcpListener, serve: F)
where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(serve(stream));
    }
}

/// An address where nothing listens: bound once, then released.
async fn refused_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    listener.local_addr().expect("local addr")
}

/// Reads `n` bytes of request, then answers `reply`, then holds the
/// connection until the peer closes it (so no reset races the reply).
async fn answer(mut s: TcpStream, n: usize, reply: &[u8]) {
    let mut request = vec![0; n];
    if s.read_exact(&mut request).await.is_ok() && s.write_all(reply).await.is_ok() {
        let _ = s.read_to_end(&mut Vec::new()).await;
    }
}

fn send_expect(send: &[u8], expect: &[u8]) -> Check {
    Check::SendExpect {
        send: send.to_vec(),
        expect: expect.to_vec(),
    }
}

fn mismatch(result: Result<(), ProbeError>) -> String {
    match result {
        Err(ProbeError::Mismatch(got)) => got,
        other => panic!("expected a mismatch, got {other:?}"),
    }
}

// === probe ===

#[tokio::test]
async fn none_is_healthy_without_touching_the_network() {
    assert!(
        probe(&Check::None, refused_addr().await, TIMEOUT)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn tcp_connect_ok_and_refused() {
    let addr = server(|_| async {}).await;
    assert!(probe(&Check::Tcp, addr, TIMEOUT).await.is_ok());
    match probe(&Check::Tcp, refused_addr().await, TIMEOUT).await {
        Err(e @ ProbeError::Connect(_)) => assert_eq!(e.to_string(), "connection refused"),
        other => panic!("expected connection refused, got {other:?}"),
    }
}

#[tokio::test]
async fn send_expect_finds_the_reply_across_reads() {
    let addr = server(|mut s| async move {
        let mut request = [0; 6];
        if s.read_exact(&mut request).await.is_ok() && &request == b"PING\r\n" {
            let _ = s.write_all(b"+PO").await;
            tokio::time::sleep(Duration::from_millis(20)).await;
            let _ = s.write_all(b"NG\r\n").await;
            let _ = s.read_to_end(&mut Vec::new()).await;
        }
    })
    .await;
    let check = send_expect(b"PING\r\n", b"+PONG");
    assert!(probe(&check, addr, TIMEOUT).await.is_ok());
}

#[tokio::test]
async fn send_expect_mismatch_closed_and_full() {
    let check = send_expect(b"PING\r\n", b"+PONG");
    let addr = server(|mut s| async move {
        let mut request = [0; 6];
        if s.read_exact(&mut request).await.is_ok() {
            let _ = s.write_all(b"-ERR unknown\r\n").await;
        }
    })
    .await;
    assert_eq!(
        mismatch(probe(&check, addr, TIMEOUT).await),
        "-ERR unknown\\r\\n"
    );

    let addr = server(|mut s| async move {
        let _ = s.read_exact(&mut [0; 6]).await;
    })
    .await;
    assert!(matches!(
        probe(&check, addr, TIMEOUT).await,
        Err(ProbeError::Closed)
    ));

    // More than MAX_REPLY bytes without the expected text: give up, show
    // the beginning.
    let addr = server(|s| answer(s, 6, &[b'x'; super::MAX_REPLY + 100])).await;
    let got = mismatch(probe(&check, addr, TIMEOUT).await);
    assert_eq!(got, format!("{}...", "x".repeat(64)));
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_on_time() {
    let addr = server(|mut s| async move {
        let _ = s.read_to_end(&mut Vec::new()).await;
    })
    .await;
    let timeout = Duration::from_millis(200);
    let start = Instant::now();
    let result = probe(&send_expect(b"PING\r\n", b"+PONG"), addr, timeout).await;
    assert!(matches!(result, Err(ProbeError::Timeout)), "{result:?}");
    let took = start.elapsed();
    assert!(took >= timeout && took < timeout + SLOW, "took {took:?}");
}

/// A server answering `reply` to one HTTP request and handing the request
/// it received to the test.
async fn http_server(reply: &'static [u8]) -> (SocketAddr, mpsc::UnboundedReceiver<Vec<u8>>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let addr = server(move |mut s| {
        let tx = tx.clone();
        async move {
            let mut request = Vec::new();
            let mut chunk = [0; 512];
            while !request.ends_with(b"\r\n\r\n") {
                match s.read(&mut chunk).await {
                    Ok(n) if n > 0 => request.extend_from_slice(&chunk[..n]),
                    _ => return,
                }
            }
            let _ = tx.send(request);
            let _ = s.write_all(reply).await;
            let _ = s.read_to_end(&mut Vec::new()).await;
        }
    })
    .await;
    (addr, rx)
}

fn http(status: u16, host: Option<&str>) -> Check {
    Check::Http {
        method: "GET".into(),
        path: "/health".into(),
        host: host.map(Into::into),
        status,
    }
}

#[tokio::test]
async fn http_status_200_passes_and_the_request_is_well_formed() {
    let (addr, mut requests) = http_server(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").await;
    assert!(probe(&http(200, None), addr, TIMEOUT).await.is_ok());
    let expected = format!(
        "GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         User-Agent: rampart-health\r\n\r\n"
    );
    assert_eq!(requests.recv().await, Some(expected.into_bytes()));

    assert!(
        probe(&http(200, Some("www.example.org")), addr, TIMEOUT)
            .await
            .is_ok()
    );
    let request = requests.recv().await.unwrap_or_default();
    assert!(
        request
            .windows(23)
            .any(|w| w == b"\r\nHost: www.example.org")
    );
}

#[tokio::test]
async fn http_wrong_status_or_garbage_is_a_mismatch() {
    let (addr, _) = http_server(b"HTTP/1.1 503 Service Unavailable\r\n\r\n").await;
    let got = mismatch(probe(&http(200, None), addr, TIMEOUT).await);
    assert_eq!(got, "HTTP/1.1 503 Service Unavailable");
    // The configured status is what counts, not "2xx".
    assert!(probe(&http(503, None), addr, TIMEOUT).await.is_ok());

    let (addr, _) = http_server(b"SSH-2.0-OpenSSH_9.2\r\n").await;
    assert_eq!(
        mismatch(probe(&http(200, None), addr, TIMEOUT).await),
        "SSH-2.0-OpenSSH_9.2"
    );
    let (addr, _) = http_server(b"HTTP/1.1 2000 OK\r\n\r\n").await;
    mismatch(probe(&http(200, None), addr, TIMEOUT).await);
    let (addr, _) = http_server(b"HTTP/1.0 200\r\n\r\n").await;
    assert!(probe(&http(200, None), addr, TIMEOUT).await.is_ok());
}

// === run_checker ===

type Changes = mpsc::UnboundedReceiver<bool>;

/// Starts a checker whose transitions arrive on the returned channel.
fn start(
    addr: SocketAddr,
    health: Health,
) -> (
    Changes,
    mpsc::UnboundedSender<()>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, changes) = mpsc::unbounded_channel();
    let (passive, passive_rx) = mpsc::unbounded_channel();
    let on_change = move |up| {
        let _ = tx.send(up);
    };
    let task = tokio::spawn(run_checker(
        ("pool".into(), "web1".into()),
        addr,
        health,
        Pace::unpaced(),
        passive_rx,
        Default::default(),
        on_change,
    ));
    (changes, passive, task)
}

async fn next(changes: &mut Changes) -> bool {
    let change = tokio::time::timeout(Duration::from_secs(10), changes.recv()).await;
    change
        .expect("a transition within 10 s")
        .expect("checker alive")
}

#[tokio::test]
async fn runner_takes_a_vanished_server_down_after_fall_and_back_after_rise() {
    let interval = Duration::from_millis(50);
    let (fall, rise) = (3, 2);
    let health = Health {
        check: Check::Tcp,
        interval,
        timeout: Duration::from_millis(40),
        fall,
        rise,
        start_up: false,
        port: None,
    };
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let accepting = tokio::spawn(accept_loop(listener, |_| async {}));
    let (mut changes, _passive, _task) = start(addr, health);
    assert!(!next(&mut changes).await, "starts down");
    assert!(next(&mut changes).await, "up after the first good check");

    let gone = Instant::now();
    accepting.abort();
    let _ = accepting.await;
    assert!(!next(&mut changes).await);
    let took = gone.elapsed();
    // Ticks are at least an interval apart (minus tokio's 5 ms lateness
    // allowance), so `fall` failures span at least fall - 1 intervals.
    let min = interval * (fall - 1) - Duration::from_millis(15);
    assert!(
        took >= min && took < interval * fall + SLOW,
        "down after {took:?}"
    );

    let back = Instant::now();
    let listener = TcpListener::bind(addr).await.expect("rebind the same port");
    tokio::spawn(accept_loop(listener, |_| async {}));
    assert!(next(&mut changes).await);
    let took = back.elapsed();
    let min = interval * (rise - 1) - Duration::from_millis(10);
    assert!(
        took >= min && took < interval * rise + SLOW,
        "up after {took:?}"
    );
}

#[tokio::test]
async fn passive_failures_count_as_failed_checks() {
    let addr = server(|_| async {}).await;
    let interval = Duration::from_millis(300);
    let health = Health {
        check: Check::Tcp,
        interval,
        fall: 2,
        rise: 1,
        ..Health::default()
    };
    let (mut changes, passive, _task) = start(addr, health);
    assert!(!next(&mut changes).await);
    assert!(next(&mut changes).await);
    let start = Instant::now();
    passive.send(()).expect("checker alive");
    passive.send(()).expect("checker alive");
    assert!(!next(&mut changes).await, "down after two client failures");
    // The next (good) active check brings it back: rise is 1.
    assert!(next(&mut changes).await);
    assert!(start.elapsed() < interval + SLOW);
}

#[tokio::test]
async fn a_checkless_server_goes_down_on_passive_failures_for_one_interval() {
    let interval = Duration::from_millis(200);
    let health = Health {
        check: Check::None,
        interval,
        fall: 2,
        ..Health::default()
    };
    let (mut changes, passive, task) = start(refused_addr().await, health);
    assert!(next(&mut changes).await, "up from the start");

    // Failures more than an interval apart are not consecutive.
    passive.send(()).expect("checker alive");
    tokio::time::sleep(interval * 7 / 2).await;
    passive.send(()).expect("checker alive");
    let quiet = tokio::time::timeout(interval / 2, changes.recv()).await;
    assert!(quiet.is_err(), "no transition: {quiet:?}");

    passive.send(()).expect("checker alive");
    assert!(!next(&mut changes).await);
    let down = Instant::now();
    assert!(next(&mut changes).await, "restored after a quiet interval");
    let took = down.elapsed();
    assert!(
        took >= interval - Duration::from_millis(10) && took < interval * 2 + SLOW,
        "{took:?}"
    );

    drop(passive);
    let ended = tokio::time::timeout(SLOW, task).await;
    assert!(
        ended.is_ok(),
        "a checkless runner ends with its passive input"
    );
}

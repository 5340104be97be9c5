//! The hub against real loopback servers: state across reloads, and the
//! cap and spread of checks with thousands of servers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket};

use super::*;

fn cfg(servers: &str) -> Config {
    with_health(
        r#"{ check = "tcp", interval = "1h", timeout = "500ms" }"#,
        servers,
    )
}

fn with_health(health: &str, servers: &str) -> Config {
    let text = format!(
        "[[frontend]]\nname = \"f\"\nbind = [\"127.0.0.1:1\"]\nbackend = \"b\"\n[[backend]]\nname = \"b\"\nhealth = {health}\nservers = [ {servers} ]\n"
    );
    rampart_config::parse("t.toml", &text).unwrap_or_else(|e| panic!("{e}"))
}

/// `n` servers, all at `addr`.
fn many(n: usize, addr: std::net::SocketAddr) -> String {
    (0..n)
        .map(|i| format!(r#"{{ name = "s{i}", addr = "{addr}" }}"#))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A loopback listener with a backlog deep enough that thousands of
/// connects are never dropped (a dropped SYN is retried after 1 s, which
/// would spread the connects for reasons of its own).
fn listener() -> TcpListener {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    socket.listen(4096).unwrap()
}

/// Waits until `n` servers have reported up.
async fn all_up(rx: &mut tokio::sync::mpsc::UnboundedReceiver<HealthChange>, n: usize) {
    let mut up = 0;
    while up < n {
        match rx.recv().await {
            Some(c) if c.up => up += 1,
            Some(_) => {}
            None => panic!("hub dropped its sender"),
        }
    }
}

#[tokio::test]
async fn reload_keeps_the_state_of_unchanged_servers_only() {
    let (tx, mut rx) = unbounded_channel();
    let mut hub = Hub::new(tx);
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    hub.sync(&cfg(&format!(r#"{{ name = "a", addr = "{a}" }}"#)));
    // The checker reports its initial state (down), then the first check.
    let up = async {
        while let Some(c) = rx.recv().await {
            if c.up && c.server == "a" {
                return true;
            }
        }
        false
    };
    assert!(
        tokio::time::timeout(Duration::from_secs(5), up)
            .await
            .unwrap()
    );
    // From now on any new check of `a` would fail.
    drop(l);

    // `a` unchanged, `c` added: `a` keeps its checker and its UP state
    // (the next check is an hour away).
    hub.sync(&cfg(&format!(
        r#"{{ name = "a", addr = "{a}" }}, {{ name = "c", addr = "{a}" }}"#
    )));
    assert!(
        hub.up_servers()
            .contains(&("b".to_string(), "a".to_string()))
    );

    // `a` changed (new address): a new checker, state starts over.
    let moved = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    hub.sync(&cfg(&format!(r#"{{ name = "a", addr = "{moved}" }}"#)));
    assert!(
        !hub.up_servers()
            .contains(&("b".to_string(), "a".to_string()))
    );
    hub.stop();
}

#[tokio::test]
async fn thousands_of_servers_never_have_more_than_the_cap_in_flight() {
    const CAP: usize = 16;
    const SERVERS: usize = 2000;
    let l = listener();
    let addr = l.local_addr().unwrap();
    // A connection counts from its accept until its reply is sent: the
    // probe holds its slot over all of that, so this never overcounts.
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (i, p) = (in_flight.clone(), peak.clone());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let now = i.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(now, Ordering::SeqCst);
            let i = i.clone();
            tokio::spawn(async move {
                let mut ping = [0; 6];
                let _ = s.read_exact(&mut ping).await;
                // Hold the probe long enough for others to pile up.
                tokio::time::sleep(Duration::from_millis(5)).await;
                i.fetch_sub(1, Ordering::SeqCst);
                let _ = s.write_all(b"PONG").await;
                let _ = s.read_to_end(&mut Vec::new()).await;
            });
        }
    });

    let (tx, mut rx) = unbounded_channel();
    let mut hub = Hub::with_cap(tx, CAP);
    let health =
        r#"{ check = { send = "PING\r\n", expect = "PONG" }, interval = "1s", timeout = "10s" }"#;
    hub.sync(&with_health(health, &many(SERVERS, addr)));
    tokio::time::timeout(Duration::from_secs(60), all_up(&mut rx, SERVERS))
        .await
        .unwrap();
    hub.stop();
    let peak = peak.load(Ordering::SeqCst);
    assert!(peak <= CAP, "{peak} checks in flight, cap {CAP}");
    // The cap was reached, so the test did exercise it.
    assert!(peak >= CAP / 2, "only {peak} checks in flight");
}

#[tokio::test]
async fn first_checks_are_spread_over_the_interval() {
    const SERVERS: usize = 2000;
    let interval = Duration::from_secs(1);
    let l = listener();
    let addr = l.local_addr().unwrap();
    let (tx, mut rx) = unbounded_channel();
    let mut hub = Hub::with_cap(tx, 1024);
    let health = r#"{ check = "tcp", interval = "1s", timeout = "10s" }"#;
    let cfg = with_health(health, &many(SERVERS, addr));
    let start = Instant::now();
    // Every probe is a connect, but only the first SERVERS are first checks.
    let (first_tx, first_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut at = Vec::with_capacity(SERVERS);
        let mut first_tx = Some(first_tx);
        while l.accept().await.is_ok() {
            at.push(start.elapsed());
            if at.len() == SERVERS
                && let Some(tx) = first_tx.take()
            {
                let _ = tx.send(std::mem::take(&mut at));
            }
        }
    });
    hub.sync(&cfg);
    tokio::time::timeout(Duration::from_secs(30), all_up(&mut rx, SERVERS))
        .await
        .unwrap();
    hub.stop();
    let at = first_rx.await.unwrap();
    assert_eq!(at.len(), SERVERS);
    // Offsets are evenly spaced: the median near half the interval, the
    // last near its end, and no tenth of the interval with a crowd.
    let median = at[SERVERS / 2];
    let last = at[SERVERS - 1];
    assert!(
        median >= interval * 4 / 10,
        "median first check at {median:?}"
    );
    assert!(last >= interval * 9 / 10, "last first check at {last:?}");
    let mut tenths = [0usize; 10];
    for t in &at {
        let tenth = (t.as_millis() * 10 / interval.as_millis()).min(9);
        tenths[usize::try_from(tenth).unwrap()] += 1;
    }
    assert!(
        tenths.iter().all(|&n| n <= SERVERS / 10 * 2),
        "first checks per tenth of the interval: {tenths:?}"
    );
}

/// A server in maintenance is not checked, through reloads too; back in
/// service, it is checked again from scratch.
#[tokio::test]
async fn paused_servers_are_not_checked() {
    let (tx, mut rx) = unbounded_channel();
    let mut hub = Hub::new(tx);
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    let cfg = cfg(&format!(
        r#"{{ name = "a", addr = "{a}" }}, {{ name = "b", addr = "{a}" }}"#
    ));
    hub.sync(&cfg);
    all_up(&mut rx, 2).await;
    let key = ("b".to_string(), "a".to_string());
    hub.set_paused([key].into_iter().collect());
    hub.sync(&cfg);
    assert!(!hub.is_checked("b", "a"));
    assert!(hub.is_checked("b", "b"));
    // Its last state stays known.
    assert!(hub.states().iter().any(|(_, s, up)| s == "a" && *up));
    hub.set_paused(HashSet::new());
    hub.sync(&cfg);
    assert!(hub.is_checked("b", "a"));
}

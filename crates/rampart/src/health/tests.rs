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
    // So that a test can listen again on the port after closing it (its
    // closed connections, in TIME_WAIT, hold it otherwise).
    socket.set_reuseaddr(true).unwrap();
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

/// An accepting loopback listener that counts its connections.
fn counting() -> (
    std::net::SocketAddr,
    Arc<AtomicUsize>,
    tokio::task::JoinHandle<()>,
) {
    let l = listener();
    let addr = l.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let task = tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            c.fetch_add(1, Ordering::SeqCst);
            drop(s);
        }
    });
    (addr, count, task)
}

/// The next change of `server`.
async fn change_of(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<HealthChange>,
    server: &str,
) -> bool {
    loop {
        match rx.recv().await {
            Some(c) if c.server == server => return c.up,
            Some(_) => {}
            None => panic!("hub dropped its sender"),
        }
    }
}

/// HAProxy's `check port` and `addr`: the check goes where they say, not
/// to the server's address, where nothing listens (a check there would
/// fail and keep the server down).
#[tokio::test]
async fn checks_connect_to_the_servers_check_port_and_address() {
    let (check, accepted, _task) = counting();
    let port = check.port();
    let refused = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (tx, mut rx) = unbounded_channel();
    let mut hub = Hub::new(tx);
    hub.sync(&cfg(&format!(
        // `port` only; `addr` and `port`; `addr` only, at the server's
        // port; and one without either, which stays down.
        r#"{{ name = "p", addr = "{refused}", health = {{ port = {port} }} }},
           {{ name = "ap", addr = "127.0.0.3:{}", health = {{ addr = "127.0.0.1", port = {port} }} }},
           {{ name = "a", addr = "127.0.0.3:{port}", health = {{ addr = "127.0.0.1" }} }},
           {{ name = "none", addr = "{refused}" }}"#,
        refused.port()
    )));
    let mut up = HashSet::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while up.len() < 3 {
            if let Some(c) = rx.recv().await
                && c.up
            {
                assert_ne!(
                    c.server, "none",
                    "a server checked where nothing listens came up"
                );
                up.insert(c.server);
            }
        }
    })
    .await
    .unwrap();
    // Each of the three was accepted at the check port (the accept loop
    // may trail the connects the kernel completed).
    tokio::time::timeout(Duration::from_secs(10), async {
        while accepted.load(Ordering::SeqCst) < 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    // The server without a check port was checked where it is, and failed.
    let none = ("b".to_string(), "none".to_string());
    tokio::time::timeout(Duration::from_secs(10), async {
        while hub.reports()[&none].checks == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(hub.reports()[&none].last_ok, Some(false));
    assert!(!hub.up_servers().contains(&none));

    // A backend-wide check port (`tcp-check connect port`), and a change
    // of it on reload, which restarts the checker.
    let text = format!(
        "[[frontend]]\nname = \"f\"\nbind = [\"127.0.0.1:1\"]\nbackend = \"b\"\n[[backend]]\nname = \"b\"\n\
         health = {{ check = \"tcp\", interval = \"1h\", port = {port} }}\n\
         servers = [ {{ name = \"w\", addr = \"{refused}\" }} ]\n"
    );
    hub.sync(&rampart_config::parse("t.toml", &text).unwrap());
    assert!(
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if change_of(&mut rx, "w").await {
                    return true;
                }
            }
        })
        .await
        .unwrap()
    );
    hub.stop();
}

/// HAProxy's per-server `inter`, `fall` and `rise`: one server of a
/// backend is checked at its own pace and by its own counts, the other at
/// the backend's.
#[tokio::test]
async fn each_server_is_checked_at_its_own_interval_fall_and_rise() {
    let (fast_addr, fast, fast_task) = counting();
    let (slow_addr, slow, _slow_task) = counting();
    let (tx, mut rx) = unbounded_channel();
    let mut hub = Hub::new(tx);
    // The backend: hourly checks, back up after one good check, down after
    // 100 failed ones. `fast`: every 50 ms, back up after 3, down after 1.
    hub.sync(&with_health(
        r#"{ check = "tcp", interval = "1h", timeout = "500ms", rise = 1, fall = 100 }"#,
        &format!(
            r#"{{ name = "fast", addr = "{fast_addr}", health = {{ interval = "50ms", rise = 3, fall = 1 }} }},
               {{ name = "slow", addr = "{slow_addr}" }}"#
        ),
    ));
    let wait = Duration::from_secs(10);
    let report = |hub: &Hub, s: &str| hub.reports()[&("b".to_string(), s.to_string())].clone();
    // Both come up after their first good check (a server never up yet
    // needs only one).
    let mut pending = vec!["fast", "slow"];
    while !pending.is_empty() {
        let c = tokio::time::timeout(wait, rx.recv())
            .await
            .unwrap()
            .unwrap();
        if c.up {
            pending.retain(|s| *s != c.server);
        }
    }
    // `fast` keeps being checked every 50 ms; `slow` is not due for an hour.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(fast.load(Ordering::SeqCst) >= 4, "{fast:?}");
    assert_eq!(slow.load(Ordering::SeqCst), 1);
    assert_eq!(report(&hub, "slow").checks, 1);

    // `fast` stops accepting: one failed check takes it down, in about one
    // interval rather than after the backend's 100 (over an hour here).
    fast_task.abort();
    let _ = fast_task.await;
    let started = Instant::now();
    assert!(
        !tokio::time::timeout(wait, change_of(&mut rx, "fast"))
            .await
            .unwrap()
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let down = report(&hub, "fast");

    // It accepts again: three good checks bring it back, not the
    // backend's one.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.bind(fast_addr).unwrap();
    let again = socket.listen(64).unwrap();
    let _accepting = tokio::spawn(async move { while again.accept().await.is_ok() {} });
    assert!(
        tokio::time::timeout(wait, change_of(&mut rx, "fast"))
            .await
            .unwrap()
    );
    let up = report(&hub, "fast");
    let good = (up.checks - down.checks) - (up.failures - down.failures);
    assert!(good >= 3, "back up after {good} good checks");
    hub.stop();
}

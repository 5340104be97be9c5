//! Balancing through the real proxy on loopback, with real backends.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use rampart_proxy::{Mode, Proxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn cfg(balance: &str, servers: &str) -> String {
    config("", &format!("balance = \"{balance}\""), servers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_round_robin_distribution() {
    let (a, b, c) = (named("a").await, named("b").await, named("c").await);
    let h = Harness::start(
        &cfg("roundrobin", r#"{ name = "a", addr = "{S0}", weight = 5 }, { name = "b", addr = "{S1}", weight = 2 }, { name = "c", addr = "{S2}", weight = 1 }"#),
        &[a.addr, b.addr, c.addr],
        Mode::Splice,
    )
    .await;
    let mut count: HashMap<String, u32> = HashMap::new();
    for _ in 0..800 {
        *count.entry(who(h.addr).await.unwrap()).or_default() += 1;
    }
    // Smooth WRR over a whole number of cycles is exact.
    assert_eq!(count["a"], 500, "{count:?}");
    assert_eq!(count["b"], 200, "{count:?}");
    assert_eq!(count["c"], 100, "{count:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leastconn_fills_the_least_loaded_server() {
    let (a, b) = (named("a").await, named("b").await);
    let h = Harness::start(
        &cfg(
            "leastconn",
            r#"{ name = "a", addr = "{S0}" }, { name = "b", addr = "{S1}" }"#,
        ),
        &[a.addr, b.addr],
        Mode::Splice,
    )
    .await;
    // Four long-lived connections spread 2/2.
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut s = tokio::net::TcpStream::connect(h.addr).await.unwrap();
        let name = read_line(&mut s).await.unwrap();
        held.push((name, s));
    }
    let on_a = held.iter().filter(|(n, _)| n == "a").count();
    assert_eq!(on_a, 2, "4 connections should spread 2/2");
    // Close a's two: a now has 0, b has 2, so the next two go to a.
    held.retain(|(n, _)| n != "a");
    let be = h.proxy.backend("be").unwrap().clone();
    assert!(eventually(Duration::from_secs(2), || be.servers[0].active() == 0).await);
    let mut next = Vec::new();
    for _ in 0..2 {
        let mut s = tokio::net::TcpStream::connect(h.addr).await.unwrap();
        next.push(read_line(&mut s).await.unwrap());
        held.push((String::new(), s));
    }
    assert_eq!(next, ["a", "a"]);
    assert_eq!((be.servers[0].active(), be.servers[1].active()), (2, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_hash_is_stable_and_moves_only_the_removed_servers_clients() {
    let mut backends = Vec::new();
    for n in ["s0", "s1", "s2", "s3", "s4"] {
        backends.push(named(n).await);
    }
    let servers: Vec<String> = (0..5)
        .map(|i| format!(r#"{{ name = "s{i}", addr = "{{S{i}}}" }}"#))
        .collect();
    let addrs: Vec<_> = backends.iter().map(|b| b.addr).collect();
    let h = Harness::start(&cfg("source", &servers.join(", ")), &addrs, Mode::Splice).await;

    let clients: Vec<IpAddr> = (2..=201u8)
        .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, i / 100 + 1, i)))
        .collect();
    let mut before = HashMap::new();
    for &ip in &clients {
        let mut s = connect_from(ip, h.addr).await.unwrap();
        let name = read_line(&mut s).await.unwrap();
        // Same client, same server, every time.
        let mut again = connect_from(ip, h.addr).await.unwrap();
        assert_eq!(read_line(&mut again).await.unwrap(), name, "client {ip}");
        before.insert(ip, name);
    }
    let used: std::collections::HashSet<_> = before.values().collect();
    assert_eq!(used.len(), 5, "200 clients should reach all 5 servers");

    h.proxy.set_server_up("be", "s2", false);
    let mut moved_others = 0;
    for &ip in &clients {
        let mut s = connect_from(ip, h.addr).await.unwrap();
        let now = read_line(&mut s).await.unwrap();
        assert_ne!(now, "s2");
        if before[&ip] != "s2" && before[&ip] != now {
            moved_others += 1;
        }
    }
    // Maglev: clients of surviving servers (almost) never move.
    assert!(
        moved_others <= clients.len() / 50,
        "{moved_others} clients of surviving servers moved"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_is_used_only_when_no_primary_is_up() {
    let (a, b) = (named("primary").await, named("backup").await);
    let h = Harness::start(
        &cfg("roundrobin", r#"{ name = "primary", addr = "{S0}" }, { name = "backup", addr = "{S1}", backup = true }"#),
        &[a.addr, b.addr],
        Mode::Splice,
    )
    .await;
    for _ in 0..5 {
        assert_eq!(who(h.addr).await.unwrap(), "primary");
    }
    h.proxy.set_server_up("be", "primary", false);
    for _ in 0..5 {
        assert_eq!(who(h.addr).await.unwrap(), "backup");
    }
    h.proxy.set_server_up("be", "primary", true);
    assert_eq!(who(h.addr).await.unwrap(), "primary");
}

/// The operator's runtime state: drain and maint take a server out of every
/// new pick at once without touching its open connections; a runtime
/// weight takes effect at once (smooth WRR stays exact); ready puts the
/// configured weight back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_maint_and_runtime_weights_apply_at_the_next_pick() {
    use rampart_proxy::Admin;
    let (a, b, c) = (named("a").await, named("b").await, named("c").await);
    let h = Harness::start(
        &cfg(
            "roundrobin",
            r#"{ name = "a", addr = "{S0}" }, { name = "b", addr = "{S1}" }, { name = "c", addr = "{S2}" }"#,
        ),
        &[a.addr, b.addr, c.addr],
        Mode::Splice,
    )
    .await;
    let count = |n: u32| async move {
        let mut count: HashMap<String, u32> = HashMap::new();
        for _ in 0..n {
            *count.entry(who(h.addr).await.unwrap()).or_default() += 1;
        }
        count
    };
    // A connection to a, open across the drain.
    let mut held = None;
    while held.is_none() {
        let mut s = tokio::net::TcpStream::connect(h.addr).await.unwrap();
        if read_line(&mut s).await.unwrap() == "a" {
            held = Some(s);
        }
    }
    assert!(h.proxy.set_server_admin("be", "a", Admin::Drain, None));
    let after = count(300).await;
    assert_eq!(after.get("a"), None, "{after:?}");
    assert_eq!((after["b"], after["c"]), (150, 150), "{after:?}");
    assert_eq!(h.proxy.backend("be").unwrap().servers[0].active(), 1);
    drop(held);

    assert!(h.proxy.set_server_admin("be", "a", Admin::Ready, Some(3)));
    assert!(h.proxy.set_server_admin("be", "c", Admin::Ready, Some(0)));
    let weighted = count(400).await;
    assert_eq!(weighted["a"], 300, "{weighted:?}");
    assert_eq!(weighted["b"], 100, "{weighted:?}");
    assert_eq!(weighted.get("c"), None, "{weighted:?}");

    assert!(h.proxy.set_server_admin("be", "b", Admin::Maint, None));
    let maint = count(50).await;
    assert_eq!(maint["a"], 50, "{maint:?}");
    // Ready with no weight: the configured one (1) again.
    assert!(h.proxy.set_server_admin("be", "a", Admin::Ready, None));
    assert!(h.proxy.set_server_admin("be", "b", Admin::Ready, None));
    assert!(h.proxy.set_server_admin("be", "c", Admin::Ready, None));
    assert!(!h.proxy.set_server_admin("be", "nope", Admin::Drain, None));
    let back = count(300).await;
    assert_eq!(
        (back["a"], back["b"], back["c"]),
        (100, 100, 100),
        "{back:?}"
    );
}

/// A thread that accepts a client while another serves fewer hands it
/// over: with only thread 0 listening, 40 kept-alive clients end up 20 and
/// 20, and every one is served.
#[test]
fn clients_accepted_by_one_thread_are_spread_over_the_proxy_threads() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let backend = echo().await;
        let listener = rampart_proxy::proxy::listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let text = config("", "", "{ name = \"s0\", addr = \"{S0}\" }")
            .replace("{PORT}", &addr.port().to_string())
            .replace("{S0}", &backend.addr.to_string());
        let cfg = rampart_config::parse("test.toml", &text).unwrap_or_else(|e| panic!("{e}"));
        let proxy = Proxy::new(
            &cfg,
            Mode::Copy,
            Arc::new(CountEvents::default()),
            |_, _| true,
        );
        let (_stop, rx) = tokio::sync::watch::channel(false);
        rampart_proxy::spawn_threads(&proxy, vec![vec![(0, listener)], Vec::new()], rx).unwrap();
        let mut clients = Vec::new();
        for i in 0..40u32 {
            let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
            let msg = format!("hello {i}\n");
            c.write_all(msg.as_bytes()).await.unwrap();
            let mut back = vec![0; msg.len()];
            tokio::time::timeout(Duration::from_secs(5), c.read_exact(&mut back))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(back, msg.as_bytes());
            clients.push(c);
        }
        assert!(
            eventually(Duration::from_secs(2), || proxy.thread_loads() == [20, 20]).await,
            "{:?}",
            proxy.thread_loads()
        );
        drop(clients);
        assert!(
            eventually(Duration::from_secs(5), || proxy.thread_loads() == [0, 0]).await,
            "{:?}",
            proxy.thread_loads()
        );
    });
}

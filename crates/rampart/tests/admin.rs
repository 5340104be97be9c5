//! `rampart server drain|maint|ready|weight` on a real node, with traffic
//! on loopback: what each does to new and open connections and to health
//! checks, the weights over 10 000 connections, and that the state
//! survives a reload, a worker crash and (with `state_file`) a restart.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod node;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use node::*;

/// A named echo backend and the count of connections it accepted.
fn counted_backend(name: &'static str) -> (SocketAddr, Arc<AtomicU64>) {
    let (addr, _, accepted) = echo_backend(name);
    (addr, accepted)
}

/// `rampart server ARGS...`: (success, what it printed).
fn server(node: &Node, args: &[&str]) -> (bool, String) {
    let mut all = vec!["server"];
    all.extend_from_slice(args);
    let out = node.ctl(&all);
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), said)
}

/// Backends picked by `n` new connections.
fn spread(addr: SocketAddr, n: usize) -> HashMap<String, usize> {
    let mut count = HashMap::new();
    for _ in 0..n {
        *count.entry(who(addr).unwrap()).or_default() += 1;
    }
    count
}

fn status(node: &Node) -> serde_json::Value {
    let out = node.ctl(&["status", "--json"]);
    serde_json::from_slice(&out.stdout).unwrap()
}

fn server_status(node: &Node, name: &str) -> serde_json::Value {
    status(node)["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["server"] == name)
        .cloned()
        .unwrap()
}

#[test]
fn drain_maint_ready_and_weight_with_traffic() {
    let (a, checks_a) = counted_backend("a");
    let (b, _) = counted_backend("b");
    let port = free_port();
    let node = Node::start(&config(port, &[("a", a), ("b", b)], "5s"), port);
    assert!(wait(Duration::from_secs(5), || spread(node.addr, 10).len() == 2));

    // drain: an open connection to a completes; no new one reaches a.
    let mut open = loop {
        let s = TcpStream::connect(node.addr).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut name = String::new();
        r.read_line(&mut name).unwrap();
        if name == "a\n" {
            break (s, r);
        }
    };
    let (ok, said) = server(&node, &["drain", "pool/a"]);
    assert!(ok, "{said}");
    assert!(
        said.contains("server pool/a: ready -> drain (asked by uid"),
        "{said}"
    );
    let drained = spread(node.addr, 200);
    assert_eq!(drained.get("a"), None, "{drained:?}");
    open.0.write_all(b"still here\n").unwrap();
    let mut echo = String::new();
    open.1.read_line(&mut echo).unwrap();
    assert_eq!(echo, "still here\n");
    drop(open);
    assert_eq!(server_status(&node, "a")["admin"], "drain");
    assert!(
        wait(Duration::from_secs(2), || node
            .log()
            .contains("server pool/a: ready -> drain")),
        "{}",
        node.log()
    );

    // maint: no connection at all, health checks included.
    let (ok, said) = server(&node, &["maint", "pool/a"]);
    assert!(ok, "{said}");
    std::thread::sleep(Duration::from_millis(300));
    let before = checks_a.load(Ordering::Relaxed);
    assert_eq!(spread(node.addr, 100).get("a"), None);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        checks_a.load(Ordering::Relaxed),
        before,
        "connections (checks or traffic) reached a server in maintenance"
    );

    // ready: back, checked again.
    let (ok, said) = server(&node, &["ready", "pool/a"]);
    assert!(ok, "{said}");
    assert!(said.contains("maint -> ready"), "{said}");
    assert!(wait(Duration::from_secs(5), || spread(node.addr, 10).len() == 2));
    assert!(checks_a.load(Ordering::Relaxed) > before);

    // weight: 10 000 connections within 2 % of 1:4.
    let (ok, said) = server(&node, &["weight", "pool/b", "4"]);
    assert!(ok, "{said}");
    let n = 10_000;
    let w = spread(node.addr, n);
    let share_b = w["b"] as f64 / n as f64;
    assert!((share_b - 0.8).abs() <= 0.02, "{w:?}");
    assert_eq!(server_status(&node, "b")["weight"], 4);

    // Bad requests say why, and change nothing.
    for (args, why) in [
        (
            &["drain", "pool/zz"][..],
            "no server `zz` in backend `pool`",
        ),
        (&["drain", "nope/a"][..], "no backend `nope`"),
        (&["weight", "pool/a", "300"][..], "expected 0 to 256"),
        (&["drain", "pool"][..], "BACKEND/SERVER"),
    ] {
        let (ok, said) = server(&node, args);
        assert!(!ok && said.contains(why), "{args:?}: {said}");
    }
}

#[test]
fn the_state_survives_reload_worker_crash_and_restart() {
    let (a, _) = counted_backend("a");
    let (b, _) = counted_backend("b");
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let text = config(port, &[("a", a), ("b", b)], "1s").replace(
        "[global]\n",
        &format!("[global]\nstate_file = \"{}\"\n", state.display()),
    );
    let mut node = Node::start(&text, port);
    assert!(wait(Duration::from_secs(5), || spread(node.addr, 10).len() == 2));
    assert!(server(&node, &["drain", "pool/a"]).0);
    assert!(server(&node, &["weight", "pool/b", "7"]).0);
    assert!(
        std::fs::read_to_string(&state)
            .unwrap()
            .contains("\"drain\"")
    );

    // A reload (new worker) keeps it.
    let out = node.ctl(&["reload"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(spread(node.addr, 50).get("a"), None);

    // A crashed worker's successor keeps it.
    let worker = node.worker_pids()[0];
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(worker as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert!(wait(Duration::from_secs(5), || node
        .worker_pids()
        .iter()
        .any(|&p| p != worker)));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(spread(node.addr, 50).get("a"), None);

    // A restart reads the state file.
    node.signal("TERM");
    node.exit_status(Duration::from_secs(10));
    drop(node);
    let node = Node::start(&text, port);
    assert_eq!(server_status(&node, "a")["admin"], "drain");
    assert_eq!(server_status(&node, "b")["weight"], 7);
    assert_eq!(spread(node.addr, 50).get("a"), None);
    assert!(server(&node, &["ready", "pool/a"]).0);
    assert!(wait(Duration::from_secs(5), || spread(node.addr, 20).len() == 2));
}

/// `--log-level warn` still shows what moved: server transitions (and
/// the operator's commands) log at warn; connection lines do not show.
#[test]
fn warn_level_shows_transitions_and_commands() {
    let (a, stop_a) = named_backend("a");
    let (b, _) = counted_backend("b");
    let port = free_port();
    let node = Node::start_with(
        &config(port, &[("a", a), ("b", b)], "1s"),
        port,
        &["--log-level", "warn"],
    );
    assert!(wait(Duration::from_secs(5), || spread(node.addr, 10).len() == 2));
    assert!(server(&node, &["drain", "pool/b"]).0);
    // a's listener closes at its next connection (a health check).
    stop_a.store(true, Ordering::Relaxed);
    assert!(
        wait(Duration::from_secs(5), || node
            .log()
            .contains("pool/a is DOWN")),
        "{}",
        node.log()
    );
    let log = node.log();
    assert!(log.contains("server pool/b: ready -> drain"), "{log}");
    assert!(!log.contains("term=--"), "connection lines at warn: {log}");
    assert!(!log.contains(" INFO "), "{log}");
}

/// `rampart frontend disable`: nothing new is accepted, but the socket
/// stays open, so a client that connects meanwhile waits in the backlog
/// and is served once the frontend is enabled; an open connection goes on.
/// A reload keeps it disabled.
#[test]
fn a_disabled_frontend_accepts_nothing_and_clients_wait_for_enable() {
    let (a, _) = counted_backend("a");
    let port = free_port();
    // A grace longer than the test: the open connection outlives the
    // reload's worker change.
    let node = Node::start(&config(port, &[("a", a)], "30s"), port);
    let mut open = TcpStream::connect(node.addr).unwrap();
    let mut r = BufReader::new(open.try_clone().unwrap());
    let mut name = String::new();
    r.read_line(&mut name).unwrap();
    assert_eq!(name, "a\n");

    let out = node.ctl(&["frontend", "disable", "www"]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("frontend www disabled (asked by uid"));
    assert!(node.ctl(&["reload"]).status.success());
    std::thread::sleep(Duration::from_millis(300));
    // Connected (the kernel completes the handshake), but not served.
    let waiting = TcpStream::connect(node.addr).unwrap();
    waiting
        .set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    let mut w = BufReader::new(waiting.try_clone().unwrap());
    let mut got = String::new();
    assert!(
        w.read_line(&mut got).is_err(),
        "served while disabled: {got:?}"
    );
    // The open one goes on.
    open.write_all(b"ping\n").unwrap();
    let mut echo = String::new();
    r.read_line(&mut echo).unwrap();
    assert_eq!(echo, "ping\n");
    assert_eq!(status(&node)["disabled_frontends"][0], "www");

    let out = node.ctl(&["frontend", "enable", "www"]);
    assert!(out.status.success(), "{out:?}");
    waiting
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut got = String::new();
    w.read_line(&mut got).unwrap();
    assert_eq!(got, "a\n", "the waiting client is served once enabled");
    let out = node.ctl(&["frontend", "disable", "nope"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no frontend `nope`"));
}

/// `--log-format json`: every line, the worker's included, is one JSON
/// object with the level and the message in its fields.
#[test]
fn json_logs_are_one_object_per_line_from_both_processes() {
    let (a, _) = counted_backend("a");
    let port = free_port();
    let node = Node::start_with(
        &config(port, &[("a", a)], "1s"),
        port,
        &["--log-format", "json"],
    );
    assert!(server(&node, &["drain", "pool/a"]).0);
    assert!(wait(Duration::from_secs(5), || node
        .log()
        .contains("ready -> drain")));
    let log = node.log();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let message = |v: &serde_json::Value| v["fields"]["message"].as_str().unwrap_or("").to_string();
    assert!(
        lines
            .iter()
            .any(|v| v["level"] == "WARN" && message(v).contains("server pool/a: ready -> drain")),
        "{log}"
    );
    assert!(
        lines.iter().any(|v| message(v) == "worker serving"),
        "no JSON line from the worker: {log}"
    );
}

/// Opens a connection through the node and reads the backend's name.
fn open_to(addr: SocketAddr) -> (TcpStream, BufReader<TcpStream>, String) {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut name = String::new();
    r.read_line(&mut name).unwrap();
    (s, r, name.trim().to_string())
}

/// Whether the proxy closed this connection (EOF or reset).
fn closed(r: &mut BufReader<TcpStream>) -> bool {
    let mut line = String::new();
    matches!(r.read_line(&mut line), Ok(0) | Err(_))
}

#[test]
fn show_sessions_session_kill_and_maint_shutdown_sessions() {
    let (a, _) = counted_backend("a");
    let (b, _) = counted_backend("b");
    let port = free_port();
    let node = Node::start(&config(port, &[("a", a), ("b", b)], "5s"), port);
    assert!(wait(Duration::from_secs(5), || spread(node.addr, 10).len() == 2));

    // Four open connections: two on each server (round robin).
    let mut open: Vec<_> = (0..4).map(|_| open_to(node.addr)).collect();
    for (s, _, _) in &mut open {
        s.write_all(b"hello\n").unwrap();
    }
    for (_, r, _) in &mut open {
        let mut echo = String::new();
        r.read_line(&mut echo).unwrap();
        assert_eq!(echo, "hello\n");
    }
    let out = node.ctl(&["show", "sessions", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list["total"], 4, "{list}");
    let sessions = list["sessions"].as_array().unwrap();
    let mine: Vec<String> = open
        .iter()
        .map(|(s, _, _)| s.local_addr().unwrap().to_string())
        .collect();
    for s in sessions {
        assert!(
            mine.contains(&s["client"].as_str().unwrap().to_string()),
            "{s}"
        );
        assert_eq!(s["frontend"], "www");
        assert_eq!(s["bytes_in"], 6);
        assert_eq!(s["bytes_out"], 8); // "a\n" + the echo
    }
    let text = node.ctl(&["show", "sessions"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("4 session(s)") && text.contains("pool/a"),
        "{text}"
    );

    // Kill the first connection by its id: only it ends.
    let first = &open[0].0.local_addr().unwrap().to_string();
    let id = sessions
        .iter()
        .find(|s| s["client"] == first.as_str())
        .unwrap()["id"]
        .as_u64()
        .unwrap();
    let out = node.ctl(&["session", "kill", &id.to_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(closed(&mut open[0].1));
    let out = node.ctl(&["session", "kill", &id.to_string()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("no session {id}")));

    // maint --shutdown-sessions on a: its open connections end, b's stay,
    // and no new one reaches a.
    let (ok, said) = server(&node, &["maint", "pool/a", "--shutdown-sessions"]);
    assert!(ok, "{said}");
    assert!(said.contains("its open connections are closed"), "{said}");
    for (s, r, name) in open.iter_mut().skip(1) {
        if name == "a" {
            assert!(closed(r), "a connection to a stayed open");
        } else {
            s.write_all(b"still\n").unwrap();
            let mut echo = String::new();
            r.read_line(&mut echo).unwrap();
            assert_eq!(echo, "still\n");
        }
    }
    assert_eq!(spread(node.addr, 10).keys().collect::<Vec<_>>(), ["b"]);
    let on_a = open.iter().skip(1).filter(|(_, _, n)| n == "a").count();
    let line = format!("closed {on_a} open connection(s) to pool/a");
    assert!(
        wait(Duration::from_secs(5), || node.log().contains(&line)),
        "{}",
        node.log()
    );
    // Only with maint.
    let (ok, said) = server(&node, &["drain", "pool/b", "--shutdown-sessions"]);
    assert!(!ok, "{said}");
}

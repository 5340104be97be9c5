//! The real binary: `rampart run` as supervisor + worker, signals, reload,
//! `rampart check` and `rampart demo`. Loopback only.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod node;

use node::*;

#[test]
fn worker_killed_under_load_costs_no_new_connection() {
    let (a, _sa) = named_backend("a");
    let (b, _sb) = named_backend("b");
    let port = free_port();
    let node = Node::start(&config(port, &[("a", a), ("b", b)], "5s"), port);
    assert!(wait(Duration::from_secs(5), || node.worker_pids().len() == 1));
    let old = node.worker_pids()[0];

    let stop = Arc::new(AtomicBool::new(false));
    let killed_at: Arc<Mutex<Option<Instant>>> = Arc::default();
    let (ok_after, failed_after) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut clients = Vec::new();
    for _ in 0..6 {
        let (stop, killed_at, ok_after, failed_after, addr) = (
            stop.clone(),
            killed_at.clone(),
            ok_after.clone(),
            failed_after.clone(),
            node.addr,
        );
        clients.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let r = who(addr);
                // Only connections begun after the kill count: those the
                // dead worker had accepted are lost with it (as with any
                // crashed process); new ones must never fail.
                let k = *killed_at.lock().unwrap();
                if k.is_some_and(|k| started > k) {
                    match r {
                        Ok(_) => ok_after.fetch_add(1, Ordering::Relaxed),
                        Err(_) => failed_after.fetch_add(1, Ordering::Relaxed),
                    };
                }
            }
        }));
    }
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(old as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // The worker is dead once it is a zombie (or reaped): its descriptors
    // are closed and it accepts nothing more.
    assert!(wait(Duration::from_secs(2), || dead(old)));
    *killed_at.lock().unwrap() = Some(Instant::now());
    assert!(
        wait(Duration::from_secs(5), || node
            .worker_pids()
            .iter()
            .any(|&p| p != old)),
        "no new worker"
    );
    let respawn = t.elapsed();
    std::thread::sleep(Duration::from_millis(700));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let (ok, failed) = (
        ok_after.load(Ordering::Relaxed),
        failed_after.load(Ordering::Relaxed),
    );
    eprintln!("worker respawned after {respawn:?}; after the kill: {ok} ok, {failed} failed");
    assert!(ok > 50, "too little load after the kill: {ok}");
    assert_eq!(failed, 0, "log:\n{}", node.log());
    assert!(
        respawn < Duration::from_millis(500),
        "respawn took {respawn:?}"
    );
    // (The log has a writer thread of its own: it may trail.)
    assert!(wait(Duration::from_secs(5), || node
        .log()
        .contains("worker exited unexpectedly")));
}

#[test]
fn sighup_applies_a_valid_file_and_keeps_running_on_an_invalid_one() {
    let (a, _sa) = named_backend("a");
    let (b, _sb) = named_backend("b");
    let port = free_port();
    let node = Node::start(&config(port, &[("a", a)], "5s"), port);
    assert_eq!(who(node.addr).unwrap(), "a");

    // A connection open across the reload keeps working (old worker drains).
    let mut held = TcpStream::connect(node.addr).unwrap();
    held.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = BufReader::new(held.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();

    std::fs::write(&node.path, config(port, &[("b", b)], "5s")).unwrap();
    node.signal("HUP");
    assert!(
        wait(Duration::from_secs(5), || who(node.addr)
            .is_ok_and(|n| n == "b")),
        "reload not applied; log:\n{}",
        node.log()
    );
    assert!(
        wait(Duration::from_secs(5), || node.log().contains("reloaded")),
        "log:\n{}",
        node.log()
    );
    // The old worker is draining, and the held connection still works.
    held.write_all(b"still here\n").unwrap();
    line.clear();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "still here\n");
    drop(r);
    drop(held);
    assert!(
        wait(Duration::from_secs(5), || node
            .log()
            .contains("previous worker finished draining")),
        "log:\n{}",
        node.log()
    );
    for _ in 0..10 {
        assert_eq!(who(node.addr).unwrap(), "b");
    }

    // An invalid file: every error is logged, the running config stays.
    std::fs::write(
        &node.path,
        "[[frontend]]\nname = \"www\"\nbind = [\"127.0.0.1:0\"]\nbogus = 1\n",
    )
    .unwrap();
    node.signal("HUP");
    assert!(
        wait(Duration::from_secs(5), || node
            .log()
            .contains("keeping the running config")),
        "log:\n{}",
        node.log()
    );
    let log = node.log();
    assert!(
        log.contains("node.toml:4:1"),
        "unknown key not reported with its position:\n{log}"
    );
    assert!(
        log.contains("node.toml:3:"),
        "port 0 not reported with its position:\n{log}"
    );
    for _ in 0..10 {
        assert_eq!(who(node.addr).unwrap(), "b");
    }
}

#[test]
fn sigterm_drains_open_connections_then_exits() {
    let (a, _sa) = named_backend("a");
    let port = free_port();
    let mut node = Node::start(&config(port, &[("a", a)], "10s"), port);
    let mut held = TcpStream::connect(node.addr).unwrap();
    held.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = BufReader::new(held.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    node.signal("TERM");
    // New connections are refused once the listeners close...
    assert!(
        wait(Duration::from_secs(3), || TcpStream::connect(node.addr)
            .is_err()),
        "still accepting"
    );
    // ...while the open one keeps working until it finishes.
    held.write_all(b"during drain\n").unwrap();
    line.clear();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "during drain\n");
    drop(r);
    drop(held);
    let t = Instant::now();
    let status = loop {
        if let Some(s) = node.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "did not exit after the last connection closed"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
}

fn check(path: &Path) -> (bool, String) {
    let out = Command::new(BIN)
        .args(["check", "-c"])
        .arg(path)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn check_accepts_the_examples_and_reports_every_error() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut seen = 0;
    for e in std::fs::read_dir(&examples).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "toml") {
            let (ok, out) = check(&e.path());
            assert!(ok, "{}: {out}", e.path().display());
            seen += 1;
        }
    }
    assert!(seen >= 1);

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[frontend]]\nname = \"www\"\nbind = [\"127.0.0.1:0\"]\nbackend = \"nope\"\n\n[[backend]]\nname = \"pool\"\nbalance = \"fastest\"\nservers = [ { name = \"a\", addr = \"127.0.0.1:80\", weight = 999 } ]\n").unwrap();
    let (ok, out) = check(&bad);
    assert!(!ok);
    for pos in ["bad.toml:3:", "bad.toml:4:", "bad.toml:8:", "bad.toml:9:"] {
        assert!(out.contains(pos), "missing {pos} in:\n{out}");
    }
}

#[test]
fn import_turns_the_seed_haproxy_cfg_and_keepalived_conf_into_a_config_check_accepts() {
    let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed-haproxy.cfg");
    let out = Command::new(BIN)
        .args(["import", "haproxy"])
        .arg(&cfg)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("seed-haproxy.cfg:8: `chroot /var/lib/haproxy` not imported"),
        "{stderr}"
    );
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("imported.toml");
    std::fs::write(&toml, &out.stdout).unwrap();
    let (ok, checked) = check(&toml);
    assert!(ok, "{checked}");
    assert!(
        checked.contains("1 frontend(s), 1 backend(s), 2 server(s)"),
        "{checked}"
    );

    // With the guide's keepalived.conf after it: the whole node, valid.
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed-keepalived.conf");
    let vrrp = Command::new(BIN)
        .args(["import", "keepalived", "--frontend", "www"])
        .arg(&conf)
        .output()
        .unwrap();
    assert!(
        vrrp.status.success(),
        "{}",
        String::from_utf8_lossy(&vrrp.stderr)
    );
    let mut node = out.stdout.clone();
    node.extend_from_slice(&vrrp.stdout);
    std::fs::write(&toml, &node).unwrap();
    let (ok, checked) = check(&toml);
    assert!(ok, "{checked}\n{}", String::from_utf8_lossy(&node));

    // A refused import prints no config and exits non-zero, for either
    // format: here what is left once HAProxy's stats page is left out
    // cannot be carried without serving clients HAProxy rejects.
    let refused = dir.path().join("refused.cfg");
    std::fs::write(
        &refused,
        "defaults\n mode tcp\nlisten stats\n bind :8404\n mode http\n stats enable\n\
         frontend db\n bind :5432\n tcp-request connection reject if { dst_port 5432 }\n\
         \x20default_backend pg\nbackend pg\n server p 10.0.0.1:5432 check\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["import", "haproxy"])
        .arg(&refused)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(
        stderr.contains("error: ")
            && stderr.contains("refused.cfg:9: an anonymous ACL tests `dst_port`"),
        "{stderr}"
    );
    // A file that is only an HTTP site: nothing left to import.
    let http = dir.path().join("http.cfg");
    std::fs::write(
        &http,
        "defaults\n mode http\nlisten web\n bind :80\n server s 10.0.0.1:80\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["import", "haproxy"])
        .arg(&http)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(
        "nothing to import: every proxy is left out: listen `web` (line 3: it is in `mode http`)"
    ));
    let ah = dir.path().join("ah.conf");
    std::fs::write(
        &ah,
        "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n authentication {\n  auth_type AH\n }\n}\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["import", "keepalived"])
        .arg(&ah)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ah.conf:4: `auth_type AH`"));
}

#[test]
fn import_bird_refuses_the_guides_typo_and_prints_a_config_check_accepts_once_fixed() {
    let bird = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rampart-config/tests/bird");
    let import = |file: &str, frontend: Option<&str>| {
        let mut cmd = Command::new(BIN);
        cmd.args(["import", "bird"]).arg(bird.join(file));
        if let Some(f) = frontend {
            cmd.args(["--frontend", f]);
        }
        cmd.output().unwrap()
    };

    // The guide's bird.conf as written: `neighbor 10.10.10.237.128`.
    let out = import("guide.conf", None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(
        stderr.starts_with("error: ")
            && stderr.contains(
                "/guide.conf:31:10: `10.10.10.237.128` is not an IPv4 address: it has five octets"
            ),
        "{stderr}"
    );

    // Fixed: the [bgp] section, which `rampart check` accepts on its own.
    let out = import("guide-fixed.conf", None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: ")
            && stderr.contains("guide-fixed.conf:9:1: protocol direct `direct1` not carried"),
        "{stderr}"
    );
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("bgp.toml");
    std::fs::write(&toml, &out.stdout).unwrap();
    let (ok, checked) = check(&toml);
    assert!(ok, "{checked}\n{}", String::from_utf8_lossy(&out.stdout));

    // With --frontend, after the guide's haproxy.cfg: a whole node.
    let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed-haproxy.cfg");
    let proxy = Command::new(BIN)
        .args(["import", "haproxy"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(proxy.status.success());
    let out = import("guide-fixed.conf", Some("www"));
    assert!(out.status.success());
    let mut node = proxy.stdout.clone();
    node.extend_from_slice(&out.stdout);
    std::fs::write(&toml, &node).unwrap();
    let (ok, checked) = check(&toml);
    assert!(ok, "{checked}\n{}", String::from_utf8_lossy(&node));
}

#[test]
fn the_loopback_demo_runs_without_set_up_and_loses_no_request() {
    // `--loopback`: as root `demo` runs the cluster (tests/demo_cluster.rs).
    let out = Command::new(BIN)
        .args(["demo", "--loopback"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("-> web1") && stdout.contains("-> web2"),
        "{stdout}"
    );
    assert!(stdout.contains(" 0 failed"), "{stdout}");
}

#[test]
fn a_reload_that_cannot_bind_keeps_serving_and_survives_a_worker_crash() {
    let (a, _sa) = named_backend("a");
    let port = free_port();
    let node = Node::start(&config(port, &[("a", a)], "5s"), port);
    // A valid file whose new bind address is taken by someone else (a
    // listener without SO_REUSEPORT): the reload must fail as a whole.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let text = config(port, &[("a", a)], "5s").replace(
        &format!("bind = [\"127.0.0.1:{port}\"]"),
        &format!(
            "bind = [\"127.0.0.1:{port}\", \"{}\"]",
            taken.local_addr().unwrap()
        ),
    );
    std::fs::write(&node.path, text).unwrap();
    node.signal("HUP");
    assert!(
        wait(Duration::from_secs(5), || node
            .log()
            .contains("reload failed")),
        "log:\n{}",
        node.log()
    );
    assert_eq!(who(node.addr).unwrap(), "a");
    // The sockets of the running config are all still held: a crashed
    // worker comes back on them.
    let old = node.worker_pids();
    assert_eq!(old.len(), 1);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(old[0] as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert!(wait(Duration::from_secs(5), || node
        .worker_pids()
        .iter()
        .any(|&p| p != old[0])));
    for _ in 0..20 {
        assert_eq!(who(node.addr).unwrap(), "a");
    }
}

#[test]
fn health_state_flows_from_supervisor_to_worker() {
    let (a, _sa) = named_backend("a");
    let (b, stop_b) = named_backend("b");
    let port = free_port();
    let node = Node::start(&config(port, &[("a", a), ("b", b)], "5s"), port);
    assert!(
        wait(Duration::from_secs(5), || who(node.addr)
            .is_ok_and(|n| n == "b")),
        "b never served"
    );
    // b stops accepting: its listener thread exits at the next connection.
    stop_b.store(true, Ordering::Relaxed);
    let _ = TcpStream::connect(b);
    // The supervisor's checker marks b down (active checks every 100 ms,
    // fall 2, plus passive failures reported by the worker) and tells the
    // worker; meanwhile no request fails, thanks to redispatch.
    let t = Instant::now();
    let mut failed = 0;
    while !node.log().contains("pool/b is DOWN") {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "b never marked down; log:\n{}",
            node.log()
        );
        if who(node.addr).is_err() {
            failed += 1;
        }
    }
    assert_eq!(failed, 0);
    for _ in 0..20 {
        assert_eq!(who(node.addr).unwrap(), "a");
    }
    assert!(
        wait(Duration::from_secs(5), || node.log().contains("term=--")),
        "no connection log lines:\n{}",
        node.log()
    );
}

/// Whether `pid` has exec'd the worker (a fork not yet exec'd still shows
/// the supervisor's command line).
fn is_worker(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == b"rampart: worker\0")
}

fn send(pid: u32, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig).unwrap();
}

#[test]
fn stray_signals_leave_the_node_serving_and_usr1_dumps_its_state() {
    let (a, _sa) = named_backend("a");
    let port = free_port();
    let mut node = Node::start(&config(port, &[("a", a)], "5s"), port);
    assert!(wait(Duration::from_secs(5), || node.worker_pids().len() == 1));
    let worker = node.worker_pids()[0];
    // To the supervisor: each has a defined effect that is not death.
    for sig in ["USR1", "USR2", "ALRM", "PIPE"] {
        node.signal(sig);
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            node.child.try_wait().unwrap().is_none(),
            "SIG{sig} killed the supervisor; log:\n{}",
            node.log()
        );
        assert_eq!(who(node.addr).unwrap(), "a", "after SIG{sig}");
    }
    // To the worker: it holds the connections, so only the supervisor's
    // drain request (or its death) ends it — SIGTERM too, as `systemctl
    // stop` sends it to every process of the unit at once.
    use nix::sys::signal::Signal::*;
    for sig in [
        SIGUSR1, SIGUSR2, SIGALRM, SIGPIPE, SIGHUP, SIGINT, SIGQUIT, SIGTERM,
    ] {
        send(worker, sig);
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            !dead(worker),
            "{sig} killed the worker; log:\n{}",
            node.log()
        );
    }
    assert_eq!(node.worker_pids(), [worker]);
    assert_eq!(who(node.addr).unwrap(), "a");
    assert!(
        wait(Duration::from_secs(5), || {
            let log = node.log();
            log.contains("state dump (SIGUSR1)")
                && log.contains("pool/a")
                && log.contains("statistics (SIGUSR2)")
                && log.contains("backend pool: 1/1 servers up")
        }),
        "no dumps; log:\n{}",
        node.log()
    );
    node.signal("TERM");
    let status = node.exit_status(Duration::from_secs(10));
    assert!(status.success(), "{status:?}; log:\n{}", node.log());
    assert!(!node.log().contains("worker exited unexpectedly"));
    assert!(wait(Duration::from_secs(2), || dead(worker)));
}

#[test]
fn sigquit_stops_the_node_gracefully() {
    let (a, _sa) = named_backend("a");
    let port = free_port();
    let mut node = Node::start(&config(port, &[("a", a)], "5s"), port);
    let socket = node.runtime.join("rampart.sock");
    assert!(socket.exists());
    node.signal("QUIT");
    let status = node.exit_status(Duration::from_secs(10));
    assert!(status.success(), "{status:?}; log:\n{}", node.log());
    let log = node.log();
    assert!(log.contains("SIGQUIT: stopping gracefully"), "{log}");
    assert!(log.contains("stopped"), "{log}");
    assert!(!socket.exists(), "control socket left behind");
    assert!(TcpStream::connect(node.addr).is_err());
}

#[test]
fn a_second_node_on_the_same_runtime_dir_refuses_to_start() {
    let (a, _sa) = named_backend("a");
    let port = free_port();
    let node = Node::start(&config(port, &[("a", a)], "5s"), port);
    let port2 = free_port();
    let second = node.runtime.with_file_name("second.toml");
    std::fs::write(&second, config(port2, &[("a", a)], "5s")).unwrap();
    let mut child = Command::new(BIN)
        .args(["run", "-c"])
        .arg(&second)
        .arg("--runtime-dir")
        .arg(&node.runtime)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t.elapsed() > Duration::from_secs(5) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("a second node on the same runtime directory kept running");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(!status.success());
    assert!(
        err.contains(&format!("pid {}", node.child.id()))
            && err.contains(&node.runtime.display().to_string()),
        "{err}"
    );
    // It opened nothing, and the first node serves on.
    assert!(TcpStream::connect(("127.0.0.1", port2)).is_err());
    for _ in 0..5 {
        assert_eq!(who(node.addr).unwrap(), "a");
    }
    let out = node.ctl(&["status"]);
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn rampart_reload_waits_for_the_outcome_and_reports_it() {
    let (a, _sa) = named_backend("a");
    let (b, _sb) = named_backend("b");
    let port = free_port();
    let node = Node::start(&config(port, &[("a", a)], "5s"), port);
    std::fs::write(&node.path, config(port, &[("a", a), ("b", b)], "5s")).unwrap();
    let out = node.ctl(&["reload"]);
    assert!(out.status.success(), "{out:?}\nlog:\n{}", node.log());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "reloaded: 1 frontend, 1 backend, 2 servers\n"
    );
    // Done when it answered: the new config's servers are known.
    let status = String::from_utf8_lossy(&node.ctl(&["status"]).stdout).into_owned();
    assert!(status.contains("pool/b"), "{status}");

    // An invalid file: exit 1 with every error, as `rampart check` shows
    // them; the node serves on.
    std::fs::write(
        &node.path,
        "[[frontend]]\nname = \"www\"\nbind = [\"127.0.0.1:0\"]\nbogus = 1\n",
    )
    .unwrap();
    let out = node.ctl(&["reload"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    for pos in ["node.toml:3:", "node.toml:4:1", "reload failed"] {
        assert!(err.contains(pos), "missing {pos} in:\n{err}");
    }
    assert!(who(node.addr).is_ok());
}

/// Writes `text` and sends SIGHUP, catches the reload's new worker as it
/// starts and stops it (SIGSTOP) before it reports ready, so the reload
/// stays under way for as long as the test needs (if it was ready already,
/// lets it go and tries again). Returns the stopped worker and how many
/// reloads had completed.
fn hold_a_reload(node: &Node, text: &str) -> (u32, usize) {
    let reloads = |node: &Node| node.log().matches("reloaded:").count();
    let held = (0..30).find_map(|_| {
        let done = reloads(node);
        let before = node.worker_pids();
        std::fs::write(&node.path, text).unwrap();
        node.signal("HUP");
        let t = Instant::now();
        // Once it runs the worker's code: stopped between fork and exec it
        // would hold the supervisor in `spawn` instead.
        let new = loop {
            if let Some(p) = node
                .worker_pids()
                .into_iter()
                .find(|p| !before.contains(p) && is_worker(*p))
            {
                break p;
            }
            assert!(t.elapsed() < Duration::from_secs(5), "no new worker");
            std::hint::spin_loop();
        };
        send(new, nix::sys::signal::Signal::SIGSTOP);
        std::thread::sleep(Duration::from_millis(300));
        if reloads(node) == done {
            return Some((new, done));
        }
        send(new, nix::sys::signal::Signal::SIGCONT);
        None
    });
    held.expect("never caught a reload's worker before it was ready")
}

/// A reload whose worker dies before it is ready is undone whole: the old
/// config keeps serving, and it is also what a later worker restart runs
/// (before, the supervisor kept the new config and restarted onto it).
#[test]
fn a_reload_whose_worker_never_gets_ready_is_rolled_back_whole() {
    let (a, _sa) = named_backend("a");
    let (b, _sb) = named_backend("b");
    let port = free_port();
    let mut node = Node::start(&config(port, &[("a", a)], "5s"), port);
    let serving = node.worker_pids();
    assert_eq!(serving.len(), 1);
    let (held, _) = hold_a_reload(&node, &config(port, &[("b", b)], "5s"));
    send(held, nix::sys::signal::Signal::SIGKILL);
    assert!(
        wait(Duration::from_secs(5), || node
            .log()
            .contains("the new worker exited before it was ready")),
        "log:\n{}",
        node.log()
    );
    assert_eq!(who(node.addr).unwrap(), "a");
    // The serving worker crashes: its replacement runs the config that
    // serves, not the one whose reload failed.
    send(serving[0], nix::sys::signal::Signal::SIGKILL);
    assert!(
        wait(Duration::from_secs(5), || {
            let now = node.worker_pids();
            now.len() == 1 && now[0] != serving[0]
        }),
        "log:\n{}",
        node.log()
    );
    assert!(
        (0..5).all(|_| who(node.addr).is_ok_and(|n| n == "a")),
        "log:\n{}",
        node.log()
    );
    node.signal("TERM");
    assert!(node.exit_status(Duration::from_secs(10)).success());
}

#[test]
fn reloads_asked_for_during_a_reload_run_after_it() {
    let (a, _sa) = named_backend("a");
    let (b, _sb) = named_backend("b");
    let (c, _sc) = named_backend("c");
    let port = free_port();
    let node = Node::start(&config(port, &[("a", a)], "5s"), port);
    let reloads = |node: &Node| node.log().matches("reloaded:").count();
    let (held, done) = hold_a_reload(&node, &config(port, &[("b", b)], "5s"));

    // During it: the file changes again and a SIGHUP and a `rampart
    // reload` come.
    std::fs::write(&node.path, config(port, &[("c", c)], "5s")).unwrap();
    node.signal("HUP");
    let runtime = node.runtime.clone();
    let client = std::thread::spawn(move || {
        Command::new(BIN)
            .args(["reload", "--runtime-dir"])
            .arg(runtime)
            .output()
            .unwrap()
    });
    assert!(
        wait(Duration::from_secs(5), || node
            .log()
            .matches("reload requested during a reload")
            .count()
            == 2),
        "log:\n{}",
        node.log()
    );
    send(held, nix::sys::signal::Signal::SIGCONT);
    let out = client.join().unwrap();
    assert!(out.status.success(), "{out:?}\nlog:\n{}", node.log());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("reloaded: "));
    // The first reload (b), then one more for both requests (c), and the
    // client was answered by that second one: c serves now.
    // (The log is written by a thread of its own: it may trail the answer.)
    assert!(
        wait(Duration::from_secs(5), || reloads(&node) == done + 2),
        "log:\n{}",
        node.log()
    );
    assert!(
        wait(Duration::from_secs(5), || (0..5)
            .all(|_| who(node.addr).is_ok_and(|n| n == "c"))),
        "log:\n{}",
        node.log()
    );
}

#[test]
fn only_root_or_the_daemon_user_may_reload_and_the_control_group_may_read() {
    if !rampart_lab::require_root() {
        return;
    }
    let (a, _sa) = named_backend("a");
    let port = free_port();
    let node = Node::start_with(
        &config(port, &[("a", a)], "5s"),
        port,
        &["--control-group", "nogroup"],
    );
    // nobody may reach the socket: through the temp dir, then by group.
    use std::os::unix::fs::PermissionsExt;
    let top = node.runtime.parent().unwrap();
    std::fs::set_permissions(top, std::fs::Permissions::from_mode(0o711)).unwrap();
    let as_nobody = |args: &[&str]| {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN])
            .args(args)
            .arg("--runtime-dir")
            .arg(&node.runtime)
            .output()
            .unwrap()
    };
    let out = as_nobody(&["status"]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("pool/a"));
    let out = as_nobody(&["reload"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("permission denied"), "{err}");
    assert!(!node.log().contains("reload requested"), "{}", node.log());
    let out = node.ctl(&["reload"]);
    assert!(out.status.success(), "{out:?}");
}

/// `[global] tcplog_file`: the connection log goes to its own file and
/// not to the main log; after logrotate moves the file, `rampart reload`
/// makes the new worker write to a new one; a reload naming a file that
/// cannot be opened is refused with the reason and the node serves on.
#[test]
fn the_connection_log_goes_to_its_own_file_and_follows_logrotate() {
    let (a, _sa) = named_backend("a");
    let port = free_port();
    let files = tempfile::tempdir().unwrap();
    let tcplog = files.path().join("tcp.log");
    let text = |path: &Path| {
        config(port, &[("a", a)], "1s").replacen(
            "[global]\n",
            &format!("[global]\ntcplog_file = {:?}\n", path.display().to_string()),
            1,
        )
    };
    let node = Node::start(&text(&tcplog), port);
    let lines = |p: &Path| {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("term=--"))
            .count()
    };
    // Node::start's own request, first.
    assert!(wait(Duration::from_secs(5), || lines(&tcplog) == 1));
    for _ in 0..5 {
        assert_eq!(who(node.addr).unwrap(), "a");
    }
    assert!(
        wait(Duration::from_secs(5), || lines(&tcplog) == 6),
        "{} lines in {}\n{}",
        lines(&tcplog),
        tcplog.display(),
        node.log()
    );
    // The main log has the rest, not the connections.
    assert!(node.log().contains("worker serving"), "{}", node.log());
    assert!(!node.log().contains("term=--"), "{}", node.log());

    // logrotate: the file is moved, then the node reloaded.
    let rotated = files.path().join("tcp.log.1");
    std::fs::rename(&tcplog, &rotated).unwrap();
    let out = node.ctl(&["reload"]);
    assert!(out.status.success(), "{out:?}");
    for _ in 0..3 {
        assert_eq!(who(node.addr).unwrap(), "a");
    }
    assert!(
        wait(Duration::from_secs(5), || lines(&tcplog) == 3),
        "{} new lines\n{}",
        lines(&tcplog),
        node.log()
    );
    assert_eq!(lines(&rotated), 6);

    // A file that cannot be opened: the reload is refused, nothing changes.
    std::fs::write(&node.path, text(&files.path().join("no/such/dir/tcp.log"))).unwrap();
    let out = node.ctl(&["reload"]);
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("tcplog_file") && said.contains("no/such/dir"),
        "{said}"
    );
    assert_eq!(who(node.addr).unwrap(), "a");
    assert!(wait(Duration::from_secs(5), || lines(&tcplog) == 4));
}

//! The real binary: `rampart run` as supervisor + worker, signals, reload,
//! `rampart check` and `rampart demo`. Loopback only.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_rampart");

/// A backend that answers every connection with its name and then echoes.
fn named_backend(name: &'static str) -> (SocketAddr, Arc<AtomicBool>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let st = stop.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            if st.load(Ordering::Relaxed) {
                break;
            }
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                let _ = s.write_all(format!("{name}\n").as_bytes());
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 || s.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    (addr, stop)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn config(port: u16, servers: &[(&str, SocketAddr)], grace: &str) -> String {
    let list: Vec<String> = servers
        .iter()
        .map(|(n, a)| format!(r#"{{ name = "{n}", addr = "{a}" }}"#))
        .collect();
    format!(
        r#"[global]
threads = 2
grace = "{grace}"

[[frontend]]
name = "www"
bind = ["127.0.0.1:{port}"]
backend = "pool"

[[backend]]
name = "pool"
balance = "roundrobin"
health = {{ check = "tcp", interval = "100ms", timeout = "100ms", fall = 2, rise = 1 }}
servers = [ {} ]
"#,
        list.join(", ")
    )
}

/// A running `rampart run` with its stderr collected.
struct Node {
    child: Child,
    log: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
    path: PathBuf,
    addr: SocketAddr,
}

impl Node {
    fn start(text: &str, port: u16) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(&path, text).unwrap();
        let mut child = Command::new(BIN)
            .args(["run", "-c"])
            .arg(&path)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let l = log.clone();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                l.lock().unwrap().push_str(&line);
                l.lock().unwrap().push('\n');
            }
        });
        let node = Node {
            child,
            log,
            _dir: dir,
            path,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        assert!(
            wait(Duration::from_secs(10), || who(node.addr).is_ok()),
            "node never served; log:\n{}",
            node.log()
        );
        node
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn signal(&self, sig: &str) {
        assert!(
            Command::new("kill")
                .args(["-s", sig, &self.child.id().to_string()])
                .status()
                .unwrap()
                .success()
        );
    }

    fn worker_pids(&self) -> Vec<u32> {
        children(self.child.id())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Child processes of `pid` (from /proc).
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            if let Ok(s) = std::fs::read_to_string(t.path().join("children")) {
                out.extend(s.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
            }
        }
    }
    out
}

fn dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => true,
    }
}

fn wait(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

/// One full request: connect, read the backend's name, send and get an echo.
fn who(addr: SocketAddr) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut r = BufReader::new(s.try_clone()?);
    let mut name = String::new();
    r.read_line(&mut name)?;
    if !name.ends_with('\n') {
        return Err(std::io::Error::other("closed before the name"));
    }
    s.write_all(b"ping\n")?;
    let mut echo = String::new();
    r.read_line(&mut echo)?;
    if echo != "ping\n" {
        return Err(std::io::Error::other("no echo"));
    }
    Ok(name.trim().to_string())
}

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
    assert!(node.log().contains("worker exited unexpectedly"));
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
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("http.cfg:3: listen `web` is in `mode http`")
    );
}

#[test]
fn demo_runs_without_set_up_and_loses_no_request() {
    let out = Command::new(BIN).arg("demo").output().unwrap();
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
    let log = node.log();
    assert!(log.contains("term=--"), "no connection log lines:\n{log}");
}

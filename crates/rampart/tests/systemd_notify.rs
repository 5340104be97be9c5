//! The systemd notification protocol, spoken to a datagram socket the test
//! binds as `NOTIFY_SOCKET` (what systemd does for `Type=notify`): READY=1
//! once the node serves, STATUS= lines, WATCHDOG=1 at half `WATCHDOG_USEC`,
//! RELOADING=1 with MONOTONIC_USEC then READY=1 around a reload, and
//! STOPPING=1 on stop. Only the supervisor speaks: its worker does not
//! inherit the variables. Loopback only; no root needed.
#![allow(clippy::unwrap_used)]

use std::net::TcpListener;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_rampart");

/// Every datagram received until `until` holds for the messages so far, or
/// `limit` passes.
fn collect(
    sock: &UnixDatagram,
    got: &mut Vec<String>,
    limit: Duration,
    until: impl Fn(&[String]) -> bool,
) -> bool {
    let end = Instant::now() + limit;
    let mut buf = [0u8; 4096];
    while Instant::now() < end {
        if until(got) {
            return true;
        }
        if let Ok(n) = sock.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    until(got)
}

fn has(got: &[String], what: &str) -> usize {
    got.iter()
        .filter(|m| m.lines().any(|l| l.starts_with(what)))
        .count()
}

#[test]
fn ready_status_watchdog_reloading_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    // A backend, and a free port for the frontend.
    let backend = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("node.toml");
    std::fs::write(
        &config,
        format!(
            "[global]\nthreads = 1\ngrace = \"1s\"\n\n[[frontend]]\nname = \"www\"\n\
             bind = [\"127.0.0.1:{port}\"]\nbackend = \"pool\"\n\n[[backend]]\nname = \"pool\"\n\
             health = {{ check = \"tcp\", interval = \"100ms\" }}\n\
             servers = [{{ name = \"s\", addr = \"{}\" }}]\n",
            backend.local_addr().unwrap()
        ),
    )
    .unwrap();
    // WATCHDOG_PID must be the service's pid: the shell's, kept by exec.
    let mut node = Command::new("sh")
        .args(["-c", "WATCHDOG_PID=$$ exec \"$0\" \"$@\"", BIN, "run", "-c"])
        .arg(&config)
        .arg("--runtime-dir")
        .arg(dir.path().join("run"))
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "400000")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let mut got = Vec::new();
    let ok = collect(&sock, &mut got, Duration::from_secs(10), |g| {
        has(g, "READY=1") >= 1
            && g.iter().any(|m| m.contains("STATUS=1/1 servers up"))
            && has(g, "WATCHDOG=1") >= 3
    });
    assert!(ok, "{got:?}");
    // The worker was started without the variables.
    let workers =
        std::fs::read_to_string(format!("/proc/{}/task/{0}/children", node.id())).unwrap();
    let worker = workers.split_whitespace().next().unwrap();
    let environ = std::fs::read(format!("/proc/{worker}/environ")).unwrap();
    assert!(!String::from_utf8_lossy(&environ).contains("NOTIFY_SOCKET"));

    // A reload: RELOADING=1 with the time, then READY=1 again.
    got.clear();
    assert!(
        Command::new("kill")
            .args(["-HUP", &node.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let ok = collect(&sock, &mut got, Duration::from_secs(10), |g| {
        let reloading = g
            .iter()
            .position(|m| m.contains("RELOADING=1") && m.contains("MONOTONIC_USEC="));
        let ready = g.iter().rposition(|m| m.contains("READY=1"));
        matches!((reloading, ready), (Some(r), Some(d)) if d > r)
    });
    assert!(ok, "{got:?}");

    // Stop: STOPPING=1, then a clean exit.
    got.clear();
    assert!(
        Command::new("kill")
            .args(["-TERM", &node.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let ok = collect(&sock, &mut got, Duration::from_secs(10), |g| {
        has(g, "STOPPING=1") == 1
    });
    assert!(ok, "{got:?}");
    assert!(node.wait().unwrap().success());
}

//! `rampart demo` as root: the guide's cluster in namespaces. It must
//! exit 0 with every step narrated, and leave no namespace behind.
//! Needs root: without it the test fails, unless RAMPART_SKIP_NETNS=1.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::{Duration, Instant};

/// Namespaces of the demo's process (`rl<pid>x<n>-*`).
fn namespaces_of(pid: u32) -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&format!("rl{pid}x")))
        .map(str::to_owned)
        .collect()
}

/// Runs `rampart demo --router ROUTER` and checks every step.
fn demo_runs_every_step_and_cleans_up(router: &str, says: &str) {
    if !rampart_lab::require_root() {
        return;
    }
    let started = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["demo", "--router", router])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = format!(
        "{stdout}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{report}");
    assert!(took < Duration::from_secs(60), "took {took:?}: {report}");
    for line in [
        says,
        "lb1 is MASTER",
        "1. six requests",
        "2. web2's server stops",
        "3. lb1's worker process (the proxy) is killed",
        "4. lb1 stops gracefully",
        "ok   BGP route follows the VIP (lb1 → lb2)",
        "6. lb1's links are cut",
        "the client saw an outage of",
        "ok   BGP route follows the VIP (links cut)",
        "ok   gateway NAT",
        "OK: every step went as narrated.",
    ] {
        assert!(stdout.contains(line), "no {line:?} in: {report}");
    }
    assert!(!stdout.contains("FAIL"), "{report}");
    assert_eq!(namespaces_of(pid), Vec::<String>::new(), "{report}");
}

/// The router is BIRD 2 (installed by scripts/test): the route the demo
/// shows is the one in BIRD's kernel table.
#[test]
fn the_cluster_demo_with_bird_runs_every_step_and_cleans_up() {
    demo_runs_every_step_and_cleans_up("bird", "the router is BIRD 2.");
}

/// Where BIRD is not installed, the built-in receiving peer.
#[test]
fn the_cluster_demo_with_the_builtin_peer_runs_every_step_and_cleans_up() {
    demo_runs_every_step_and_cleans_up("builtin", "the router is rampart-bgp's receiving peer");
}

#[test]
fn ctrl_c_cleans_up() {
    if !rampart_lab::require_root() {
        return;
    }
    let child = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .arg("demo")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Once the lab is built, interrupt it.
    let deadline = Instant::now() + Duration::from_secs(20);
    while namespaces_of(pid).len() < 9 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !namespaces_of(pid).is_empty(),
        "the demo built no namespace"
    );
    std::thread::sleep(Duration::from_secs(2));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap()),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{out:?}");
    assert_eq!(namespaces_of(pid), Vec::<String>::new());
}

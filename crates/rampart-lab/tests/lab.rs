//! The lab against the real kernel: needs root (see `require_root`).

#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, TcpListener};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::Duration;

use rampart_lab::{Lab, Signal, require_root, seed_lab};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Names of all namespaces on the machine.
fn all_namespaces() -> Vec<String> {
    let out = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

fn assert_gone(names: &[String]) {
    let left = all_namespaces();
    for name in names {
        assert!(!left.contains(name), "namespace {name} still exists");
        assert!(!Path::new("/var/run/netns").join(name).exists());
    }
}

#[test]
fn seed_lab_builds_and_routes_locally() {
    if !require_root() {
        return;
    }
    let seed = seed_lab().unwrap();
    assert!(seed.client.ping(ip("10.10.0.11")).unwrap());
    assert!(seed.web1.ping(ip("192.168.1.12")).unwrap());
    assert!(seed.lb1.has_addr(ip("10.10.0.11")).unwrap());
    assert!(!seed.lb1.has_addr(ip("10.10.0.12")).unwrap());

    let addrs = seed.lb1.addrs("eth1").unwrap();
    let v4: Vec<_> = addrs.iter().filter(|a| a.addr.is_ipv4()).collect();
    assert_eq!(v4.len(), 1, "{addrs:?}");
    assert_eq!(v4[0].addr, ip("192.168.1.11"));
    assert_eq!(v4[0].prefix_len, 24);
    assert_eq!(v4[0].label.as_deref(), Some("eth1"));
    // IPv6 link-local is there and usable at once (DAD off).
    assert!(addrs.iter().any(|a| a.addr.is_ipv6() && a.prefix_len == 64));

    let route = seed.web2.ip(&["route", "show", "default"]).unwrap();
    assert!(route.contains("via 192.168.1.1"), "{route}");
    let forward = seed
        .lb1
        .ok(&["cat", "/proc/sys/net/ipv4/ip_forward"])
        .unwrap();
    assert_eq!(forward.trim(), "0");
}

#[test]
fn namespaces_are_deleted_on_drop_and_on_panic() {
    if !require_root() {
        return;
    }
    let mut lab = Lab::new().unwrap();
    let a = lab.ns("a").unwrap();
    let sw = lab.switch("x").unwrap();
    lab.attach(&sw, &a, "eth0", &["10.99.0.1/24"]).unwrap();
    let names = lab.namespaces().to_vec();
    assert_eq!(names.len(), 2);
    assert!(names.iter().all(|n| n.starts_with(lab.prefix())));
    drop(lab);
    assert_gone(&names);

    let mut names = Vec::new();
    let result = catch_unwind(AssertUnwindSafe(|| {
        let mut lab = Lab::new().unwrap();
        let a = lab.ns("a").unwrap();
        let b = lab.ns("b").unwrap();
        lab.link(&a, "v0", &[], &b, "v0", &[]).unwrap();
        names = lab.namespaces().to_vec();
        panic!("test failure while the lab is alive");
    }));
    assert!(result.is_err());
    assert_eq!(names.len(), 2);
    assert_gone(&names);
}

#[test]
fn stale_namespaces_of_dead_processes_are_removed() {
    if !require_root() {
        return;
    }
    // A pid that existed a moment ago and is gone now.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let stale = format!("rl{dead}x0-stale");
    std::process::Command::new("ip")
        .args(["netns", "add", &stale])
        .status()
        .unwrap();
    let _lab = Lab::new().unwrap();
    assert_gone(&[stale]);
}

#[test]
fn run_in_sees_only_the_namespace() {
    if !require_root() {
        return;
    }
    let seed = seed_lab().unwrap();
    let (dev, bound) = seed
        .lb1
        .run_in(|| {
            // /proc/net is the main thread's view; thread-self is ours.
            let dev = std::fs::read_to_string("/proc/thread-self/net/dev").unwrap();
            let names: Vec<String> = dev
                .lines()
                .skip(2)
                .filter_map(|l| Some(l.split(':').next()?.trim().to_owned()))
                .collect();
            let bound = TcpListener::bind("10.10.0.11:0").is_ok();
            (names, bound)
        })
        .unwrap();
    let mut dev = dev;
    dev.sort();
    assert_eq!(dev, ["eth0", "eth1", "lo"]);
    assert!(bound);
    // lb1's address does not exist in the client's namespace.
    let elsewhere = seed
        .client
        .run_in(|| TcpListener::bind("10.10.0.11:0").is_ok())
        .unwrap();
    assert!(!elsewhere);
}

#[test]
fn neigh_mac_after_ping_and_link_down() {
    if !require_root() {
        return;
    }
    let seed = seed_lab().unwrap();
    let lb1 = ip("10.10.0.11");
    assert_eq!(seed.client.neigh_mac(lb1).unwrap(), None);
    assert!(seed.client.ping(lb1).unwrap());
    let mac = seed.lb1.mac("eth0").unwrap();
    assert_eq!(seed.client.neigh_mac(lb1).unwrap(), Some(mac));

    seed.lb1.set_link("eth0", false).unwrap();
    assert!(!seed.client.ping(lb1).unwrap());
    seed.lb1.set_link("eth0", true).unwrap();
    assert!(seed.client.ping(lb1).unwrap());
}

#[test]
fn fixed_mac_ipv6_link_and_sysctl() {
    if !require_root() {
        return;
    }
    let mut lab = Lab::new().unwrap();
    let a = lab.ns("a").unwrap();
    let b = lab.ns("b").unwrap();
    let sw = lab.switch("s").unwrap();
    let mac = "02:00:5e:00:01:65";
    lab.attach_with_mac(&sw, &a, "eth0", &["fd00::1/64"], mac)
        .unwrap();
    lab.attach(&sw, &b, "eth0", &["fd00::2/64"]).unwrap();
    assert_eq!(a.mac("eth0").unwrap(), mac);
    // No DAD wait: usable immediately.
    assert!(b.ping(ip("fd00::1")).unwrap());
    assert_eq!(b.neigh_mac(ip("fd00::1")).unwrap().as_deref(), Some(mac));

    lab.link(&a, "d0", &["10.1.0.1/30"], &b, "d0", &["10.1.0.2/30"])
        .unwrap();
    assert!(a.ping(ip("10.1.0.2")).unwrap());
    assert!(a.has_addr(ip("10.1.0.1")).unwrap());
    assert!(!a.has_addr(ip("10.1.0.2")).unwrap());

    a.sysctl("net.ipv4.ip_forward", "1").unwrap();
    let on = a.ok(&["cat", "/proc/sys/net/ipv4/ip_forward"]).unwrap();
    assert_eq!(on.trim(), "1");
    let other = b.ok(&["cat", "/proc/sys/net/ipv4/ip_forward"]).unwrap();
    assert_eq!(other.trim(), "0");
}

#[test]
fn processes_die_with_their_guard_and_their_lab() {
    if !require_root() {
        return;
    }
    let mut lab = Lab::new().unwrap();
    let a = lab.ns("a").unwrap();

    let mut guarded = a.spawn("sleep", &["30"]).unwrap();
    assert!(guarded.try_wait().unwrap().is_none());
    let status = guarded.terminate(Duration::from_secs(2)).unwrap();
    assert!(!status.success());

    let mut sleep = a.command("sleep");
    sleep.arg("30");
    let kept = lab.spawn(sleep).unwrap();
    let mut back = lab.take(kept).unwrap();
    back.signal(Signal::SIGKILL).unwrap();
    assert!(back.wait_timeout(Duration::from_secs(2)).unwrap().is_some());

    let mut sleep = a.command("sleep");
    sleep.arg("30");
    let owned = lab.spawn(sleep).unwrap();
    // A bare child nobody guards: the namespace teardown kills it — once
    // it is in the namespace (`ip netns exec` enters it after the fork, so
    // wait for that, or the teardown may look before it got there).
    let mut bare = a.command("sleep").arg("30").spawn().unwrap();
    let pid = bare.id().to_string();
    let entered = (0..200).any(|_| {
        let pids = std::process::Command::new("ip")
            .args(["netns", "pids", a.name()])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        pids.split_whitespace().any(|p| p == pid) || {
            std::thread::sleep(Duration::from_millis(10));
            false
        }
    });
    assert!(entered, "the bare child never entered the namespace");
    drop(lab);
    assert!(!Path::new(&format!("/proc/{owned}")).exists());
    assert!(!bare.wait().unwrap().success());
}

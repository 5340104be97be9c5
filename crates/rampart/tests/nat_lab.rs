//! `mode = "nat"` in the seed guide's topology with the real nginx: the
//! kernel rewrites connections to the VIP, the servers see the client's
//! own address, weights and health decide the server, and connections
//! live on when the VIP moves to the other node (both build the same
//! Maglev table). Namespaces built by rampart-lab, rules applied by the
//! real `nft`. Needs root; fails loudly without it.
#![allow(clippy::unwrap_used)]

mod lab;
mod nat;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use lab::{Timing, holder, log, rampart_config, start_rampart, start_rampart_with, wait_for};
use nat::{Conns, Nginx, fetch, nat_config};
use rampart_lab::{Ns, SeedLab, Signal, seed_lab};

/// `rampart server ARGS` on lb1; it must succeed.
fn server(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rampart"))
        .arg("server")
        .args(args)
        .arg("--control")
        .arg(dir.join("lb1.sock"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn nat_status(dir: &Path, n: u8) -> serde_json::Value {
    lab::bgp::status(dir, n)["nat"][0].clone()
}

fn seed() -> Option<(SeedLab, tempfile::TempDir, [Nginx; 2])> {
    if !rampart_lab::require_root() {
        return None;
    }
    let s = seed_lab().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let webs = [
        Nginx::start(&s.web1, dir.path(), "web1", "192.168.1.21:8080"),
        Nginx::start(&s.web2, dir.path(), "web2", "192.168.1.22:8080"),
    ];
    Some((s, dir, webs))
}

#[test]
fn nat_mode_spreads_by_weight_keeps_the_client_address_and_skips_a_down_server() {
    let Some((s, dir, mut webs)) = seed() else {
        return;
    };
    let mut lb1 = start_rampart(&s.lb1, dir.path(), "lb1", &nat_config(1, "100ms"));
    assert!(
        wait_for(Duration::from_secs(10), || holder(&s, lab::vip())
            == ["lb1"]
            && fetch(&s.client).is_ok()),
        "{}",
        log(dir.path(), "lb1")
    );
    // The table rampart keeps, and no listener: the kernel forwards.
    let table = s
        .lb1
        .ok(&["nft", "list", "table", "inet", "rampart_nat"])
        .unwrap();
    assert!(
        table.contains("ip daddr 10.10.0.10 tcp dport 80 goto vip_10_10_0_10_80"),
        "{table}"
    );
    let listening = s.lb1.ok(&["ss", "-Htln"]).unwrap();
    assert!(!listening.contains("10.10.0.10:80"), "{listening}");

    // 2000 connections: web2 takes three times web1's share (Maglev over
    // jhash of the client's address and port), and both see the client.
    let n = 2000;
    let mut seen: HashMap<String, usize> = HashMap::new();
    for _ in 0..n {
        let body = fetch(&s.client).unwrap_or_else(|e| panic!("{e}\n{}", log(dir.path(), "lb1")));
        *seen.entry(body).or_default() += 1;
    }
    let web1 = seen.get("web1 10.10.0.100").copied().unwrap_or(0);
    let web2 = seen.get("web2 10.10.0.100").copied().unwrap_or(0);
    assert_eq!(web1 + web2, n, "{seen:?}");
    let share = web2 as f64 / n as f64;
    println!("web2's share over {n} connections: {share:.3} (weight 3 of 4: 0.750)");
    assert!((share - 0.75).abs() < 0.05, "{seen:?}");

    // The counters (read every 2 s) add up to what was sent.
    let mut st = serde_json::Value::Null;
    assert!(
        wait_for(Duration::from_secs(5), || {
            st = nat_status(dir.path(), 1);
            let conns: u64 = (0..2)
                .map(|i| st["servers"][i]["connections"].as_u64().unwrap_or(0))
                .sum();
            conns >= n as u64
        }),
        "{st}"
    );
    for (i, count) in [(0, web1), (1, web2)] {
        let v = &st["servers"][i];
        let conns = v["connections"].as_u64().unwrap();
        assert!(conns >= count as u64 && conns <= count as u64 + 20, "{st}");
        assert!(v["packets_to"].as_u64().unwrap() >= 4 * conns, "{st}");
        assert!(v["packets_back"].as_u64().unwrap() >= 3 * conns, "{st}");
        assert!(v["bytes_back"].as_u64().unwrap() > 100 * conns, "{st}");
    }

    // `rampart show servers` has them in a table of their own.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["show", "servers", "--control"])
        .arg(dir.path().join("lb1.sock"))
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("NAT FRONTEND")
            && shown.contains("nginx_pool/web2")
            && !shown.contains("FRONTEND  STATE"),
        "{shown}"
    );

    // web2 drained: new connections all go to web1, and the open ones
    // (pinned) stay with the server they started on, web2's included.
    let mut conns = Conns::open(&s.client, 40);
    let on_web2 = conns
        .conns
        .iter()
        .filter(|(_, b)| b.starts_with("web2"))
        .count();
    assert!(on_web2 > 0 && on_web2 < 40, "{on_web2} of 40 on web2");
    server(dir.path(), &["drain", "nginx_pool/web2"]);
    assert!(
        wait_for(
            Duration::from_secs(5),
            || nat_status(dir.path(), 1)["servers"][1]["share"] == 0
        ),
        "{}",
        log(dir.path(), "lb1")
    );
    for _ in 0..200 {
        assert_eq!(fetch(&s.client).as_deref(), Ok("web1 10.10.0.100"));
    }
    assert_eq!(conns.survivors(), 40, "a drain ends no connection");
    server(dir.path(), &["ready", "nginx_pool/web2"]);
    assert!(wait_for(Duration::from_secs(5), || {
        nat_status(dir.path(), 1)["servers"][1]["share"].as_u64() > Some(0)
    }));
    // web2 back in the table took entries from web1: the connections on
    // them stay with web1.
    assert_eq!(conns.survivors(), 40, "a server back in service ends none");
    drop(conns);

    // web1 stops: once its check marks it down, every new connection goes
    // to web2, and none fails.
    drop(webs[0].0.terminate(Duration::from_secs(2)));
    assert!(
        wait_for(
            Duration::from_secs(5),
            || nat_status(dir.path(), 1)["servers"][0]["share"] == 0
        ),
        "{}",
        log(dir.path(), "lb1")
    );
    for _ in 0..300 {
        assert_eq!(fetch(&s.client).as_deref(), Ok("web2 10.10.0.100"));
    }
    webs[0] = Nginx::start(&s.web1, dir.path(), "web1", "192.168.1.21:8080");

    // A reload that denies the client: its SYNs are dropped in the
    // kernel; one that does not: served again.
    let path = dir.path().join("lb1.toml");
    let deny = nat_config(1, "100ms").replace(
        "mode = \"nat\"\n",
        "mode = \"nat\"\ndeny = [\"10.10.0.100/32\"]\n",
    );
    std::fs::write(&path, deny).unwrap();
    lb1.signal(Signal::SIGHUP).unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || fetch(&s.client).is_err()),
        "{}",
        log(dir.path(), "lb1")
    );
    std::fs::write(&path, nat_config(1, "100ms")).unwrap();
    lb1.signal(Signal::SIGHUP).unwrap();
    assert!(wait_for(Duration::from_secs(10), || fetch(&s.client).is_ok()));

    // A clean stop takes the table away.
    lb1.signal(Signal::SIGTERM).unwrap();
    assert!(lb1.wait_timeout(Duration::from_secs(10)).unwrap().is_some());
    assert!(!has_nat_table(&s.lb1), "the NAT table is still there");

    // Killed (-9, worker too), the table stays and keeps forwarding; the
    // next start without NAT frontends removes it.
    let mut lb1 = start_rampart(&s.lb1, dir.path(), "lb1", &nat_config(1, "100ms"));
    assert!(wait_for(Duration::from_secs(10), || has_nat_table(&s.lb1)));
    let workers = lab::children(lb1.pid());
    lb1.kill().unwrap();
    for w in workers {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(w as i32), Signal::SIGKILL);
    }
    assert!(has_nat_table(&s.lb1));
    let mut lb1 = start_rampart(
        &s.lb1,
        dir.path(),
        "lb1",
        &rampart_config(1, Timing::V3Fast, ""),
    );
    assert!(
        wait_for(Duration::from_secs(10), || !has_nat_table(&s.lb1)),
        "{}",
        log(dir.path(), "lb1")
    );
    lb1.signal(Signal::SIGTERM).unwrap();
    assert!(lb1.wait_timeout(Duration::from_secs(10)).unwrap().is_some());
}

/// Connections keep their server when the table changes shape and when
/// the node starts over a table a killed run left: the table is changed
/// in place (its objects are named by address), so the pins of servers
/// that stay are kept.
#[test]
fn a_reload_adding_a_server_and_a_start_after_kill_9_keep_every_connection() {
    let Some((s, dir, _webs)) = seed() else {
        return;
    };
    let _web3 = Nginx::start(&s.web1, dir.path(), "web3", "192.168.1.21:8081");
    let three = nat_config(1, "100ms").replace(
        "addr = \"192.168.1.22:8080\", weight = 3 },",
        "addr = \"192.168.1.22:8080\", weight = 3 },\n  { name = \"web3\", addr = \"192.168.1.21:8081\" },",
    );
    assert!(three.contains("web3"), "{three}");
    let mut lb1 = start_rampart(&s.lb1, dir.path(), "lb1", &nat_config(1, "100ms"));
    served(&s, dir.path());
    let mut conns = Conns::open(&s.client, 60);

    // web3 added: it takes a fifth of the table, from web1's and web2's
    // entries, some of them these connections' (that none is, has a
    // chance of 0.8^60).
    std::fs::write(dir.path().join("lb1.toml"), &three).unwrap();
    lb1.signal(Signal::SIGHUP).unwrap();
    assert!(
        wait_for(
            Duration::from_secs(10),
            || nat_status(dir.path(), 1)["servers"][2]["share"].as_u64() > Some(0)
        ),
        "{}",
        log(dir.path(), "lb1")
    );
    assert_eq!(conns.survivors(), 60, "{}", log(dir.path(), "lb1"));
    // While web3's first check ran, web1 and web2 went on taking new
    // connections (no table without a server).
    let text = log(dir.path(), "lb1");
    let reloaded = text.split_once("reload requested").map_or("", |(_, r)| r);
    assert!(
        reloaded.contains("web3 20.0%") && !reloaded.contains("web1 0%, web2 0%"),
        "{text}"
    );
    let web3 = (0..100)
        .filter(|_| fetch(&s.client).is_ok_and(|b| b.starts_with("web3")))
        .count();
    assert!(web3 > 5, "web3 answered {web3} of 100 new connections");

    // Killed (-9, worker too): the worker takes the VIPs away as it sees
    // the supervisor die, and the table stays; the next start changes it
    // in place. The counters run on.
    let connections = || nat_status(dir.path(), 1)["servers"][1]["connections"].as_u64();
    assert!(
        wait_for(Duration::from_secs(5), || connections() > Some(0)),
        "{}",
        nat_status(dir.path(), 1)
    );
    let before = connections().unwrap();
    let workers = lab::children(lb1.pid());
    lb1.kill().unwrap();
    for w in workers {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(w as i32), Signal::SIGKILL);
    }
    let mut lb1 = start_rampart(&s.lb1, dir.path(), "lb1", &three);
    served(&s, dir.path());
    assert_eq!(conns.survivors(), 60, "{}", log(dir.path(), "lb1"));
    assert!(
        wait_for(Duration::from_secs(5), || connections() >= Some(before)),
        "counters started over: {before} -> {:?}",
        connections()
    );
    assert!(
        !log(dir.path(), "lb1").contains("replacing it whole"),
        "{}",
        log(dir.path(), "lb1")
    );

    // web3 removed again: its objects go; the others' connections stay.
    let on_web3 = conns
        .conns
        .iter()
        .filter(|(_, b)| b.starts_with("web3"))
        .count();
    assert_eq!(on_web3, 0, "opened before web3 was there");
    std::fs::write(dir.path().join("lb1.toml"), nat_config(1, "100ms")).unwrap();
    lb1.signal(Signal::SIGHUP).unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || !s
            .lb1
            .ok(&["nft", "list", "table", "inet", "rampart_nat"])
            .unwrap()
            .contains("8081")),
        "{}",
        log(dir.path(), "lb1")
    );
    assert_eq!(conns.survivors(), 60, "{}", log(dir.path(), "lb1"));
    lb1.signal(Signal::SIGTERM).unwrap();
    assert!(lb1.wait_timeout(Duration::from_secs(10)).unwrap().is_some());
}

/// A reload whose NAT table nft refuses says so (and fails), while the
/// previous table forwards; the table is tried again until nft takes it.
/// nft is made to refuse by a wrapper first in rampart's PATH.
#[test]
fn a_reload_the_kernel_refuses_is_reported_and_tried_again() {
    let Some((s, dir, _webs)) = seed() else {
        return;
    };
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let refuse = dir.path().join("refuse");
    let real = std::process::Command::new("sh")
        .args(["-c", "command -v nft"])
        .output()
        .unwrap();
    let real = String::from_utf8_lossy(&real.stdout).trim().to_string();
    assert!(!real.is_empty(), "no nft");
    let wrapper = bin.join("nft");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nif [ \"$1\" = -f ] && [ -e {} ]; then\n  \
             echo 'Error: refused by the test' >&2; exit 1\nfi\nexec {real} \"$@\"\n",
            refuse.display()
        ),
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&wrapper)
        .status()
        .unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let mut lb1 = start_rampart_with(&s.lb1, dir.path(), "lb1", &nat_config(1, "100ms"), |c| {
        c.env("PATH", &path);
    });
    served(&s, dir.path());
    let reload = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_rampart"))
            .args(["reload", "--control"])
            .arg(dir.path().join("lb1.sock"))
            .output()
            .unwrap()
    };
    // nft refuses: the reload fails, saying what; the client is served
    // by the previous table.
    std::fs::write(&refuse, "").unwrap();
    let deny = nat_config(1, "100ms").replace(
        "mode = \"nat\"\n",
        "mode = \"nat\"\ndeny = [\"10.10.0.100/32\"]\n",
    );
    std::fs::write(dir.path().join("lb1.toml"), &deny).unwrap();
    let out = reload();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("NOT APPLIED: the NAT table") && said.contains("refused by the test"),
        "{said}"
    );
    for _ in 0..20 {
        assert!(fetch(&s.client).is_ok(), "{}", log(dir.path(), "lb1"));
    }
    // nft takes it again: the table follows within the retry (2 s).
    std::fs::remove_file(&refuse).unwrap();
    assert!(
        wait_for(Duration::from_secs(5), || fetch(&s.client).is_err()),
        "{}",
        log(dir.path(), "lb1")
    );
    std::fs::write(dir.path().join("lb1.toml"), nat_config(1, "100ms")).unwrap();
    let out = reload();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(fetch(&s.client).is_ok(), "served once the reload answered");
    lb1.signal(Signal::SIGTERM).unwrap();
    assert!(lb1.wait_timeout(Duration::from_secs(10)).unwrap().is_some());
}

/// IPv6 end to end: a VIP of the node's own, servers on the private
/// subnet routed back through the node, the client's own address seen,
/// weights honoured, a server down skipped.
#[test]
fn nat_mode_over_ipv6() {
    let Some((s, dir, _v4)) = seed() else {
        return;
    };
    let add = |ns: &Ns, addr: &str, dev: &str| {
        ns.ip(&["-6", "addr", "add", addr, "dev", dev, "nodad"])
            .unwrap();
    };
    add(&s.client, "fd00:10::100/64", "eth0");
    add(&s.lb1, "fd00:10::11/64", "eth0");
    add(&s.lb1, "fd00:10::10/64", "eth0");
    add(&s.lb1, "fd00:1::1/64", "eth1");
    for (web, a) in [(&s.web1, "fd00:1::21/64"), (&s.web2, "fd00:1::22/64")] {
        add(web, a, "eth0");
        web.ip(&[
            "-6",
            "route",
            "add",
            "default",
            "via",
            "fd00:1::1",
            "dev",
            "eth0",
        ])
        .unwrap();
    }
    let mut webs = [
        Nginx::start(&s.web1, dir.path(), "web1v6", "[fd00:1::21]:8080"),
        Nginx::start(&s.web2, dir.path(), "web2v6", "[fd00:1::22]:8080"),
    ];
    let config = r#"
[global]
threads = 1
grace = "2s"

[[frontend]]
name = "www6"
bind = ["[fd00:10::10]:80"]
backend = "pool6"
mode = "nat"

[[backend]]
name = "pool6"
health = { check = "tcp", interval = "200ms", timeout = "200ms", fall = 2, rise = 1 }
servers = [
  { name = "web1", addr = "[fd00:1::21]:8080" },
  { name = "web2", addr = "[fd00:1::22]:8080", weight = 3 },
]

[gateway]
forward = ["ipv6"]
"#;
    let mut lb1 = start_rampart(&s.lb1, dir.path(), "lb1", config);
    let fetch6 = || {
        s.client
            .run_in(|| {
                let to: std::net::SocketAddr = "[fd00:10::10]:80".parse().unwrap();
                let c = std::net::TcpStream::connect_timeout(&to, Duration::from_secs(2))
                    .map_err(|e| e.to_string())?;
                c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                let mut r = std::io::BufReader::new(c);
                nat::request(&mut r)
            })
            .unwrap()
    };
    assert!(
        wait_for(Duration::from_secs(10), || fetch6().is_ok()),
        "{}",
        log(dir.path(), "lb1")
    );
    let n = 2000;
    let mut seen: HashMap<String, usize> = HashMap::new();
    for _ in 0..n {
        let body = fetch6().unwrap_or_else(|e| panic!("{e}\n{}", log(dir.path(), "lb1")));
        *seen.entry(body).or_default() += 1;
    }
    let web1 = seen.get("web1v6 fd00:10::100").copied().unwrap_or(0);
    let web2 = seen.get("web2v6 fd00:10::100").copied().unwrap_or(0);
    assert_eq!(web1 + web2, n, "{seen:?}");
    let share = web2 as f64 / n as f64;
    println!("IPv6: web2's share over {n} connections: {share:.3} (weight 3 of 4: 0.750)");
    assert!((share - 0.75).abs() < 0.05, "{seen:?}");

    // web2 stops: marked down, every new connection goes to web1.
    drop(webs[1].0.terminate(Duration::from_secs(2)));
    assert!(
        wait_for(
            Duration::from_secs(5),
            || nat_status(dir.path(), 1)["servers"][1]["share"] == 0
        ),
        "{}",
        log(dir.path(), "lb1")
    );
    for _ in 0..200 {
        assert_eq!(fetch6().as_deref(), Ok("web1v6 fd00:10::100"));
    }
    webs[1] = Nginx::start(&s.web2, dir.path(), "web2v6", "[fd00:1::22]:8080");
    lb1.signal(Signal::SIGTERM).unwrap();
    assert!(lb1.wait_timeout(Duration::from_secs(10)).unwrap().is_some());
    assert!(!has_nat_table(&s.lb1), "the NAT table is still there");
}

/// Waits until the client is served through the VIP (lb1's log if not).
fn served(s: &SeedLab, dir: &Path) {
    assert!(
        wait_for(Duration::from_secs(10), || fetch(&s.client).is_ok()),
        "{}",
        log(dir, "lb1")
    );
}

fn has_nat_table(ns: &Ns) -> bool {
    ns.exec(&["nft", "list", "table", "inet", "rampart_nat"])
        .unwrap()
        .status
        .success()
}

/// Waits until `node` alone holds the VIP and the gateway VIP.
fn holds(s: &SeedLab, node: &str) -> bool {
    wait_for(Duration::from_secs(10), || lab::holds_both(s, node))
}

#[test]
fn nat_connections_survive_the_vip_moving_to_the_other_node() {
    let Some((s, dir, _webs)) = seed() else {
        return;
    };
    lab::wait_lb_links_up(&s);
    let mut lb1 = start_rampart(&s.lb1, dir.path(), "lb1", &nat_config(1, "50ms"));
    let _lb2 = start_rampart(&s.lb2, dir.path(), "lb2", &nat_config(2, "50ms"));
    assert!(holds(&s, "lb1"), "{}", log(dir.path(), "lb1"));
    assert!(wait_for(Duration::from_secs(5), || fetch(&s.client).is_ok()));
    let mut conns = Conns::open(&s.client, 200);
    let spread: usize = conns
        .conns
        .iter()
        .filter(|(_, b)| b.starts_with("web2"))
        .count();
    assert!(spread > 100 && spread < 200, "web2 has {spread} of 200");
    let mut report = Vec::new();

    // 1. lb1's links go down: lb2 takes the VIPs.
    let t = Instant::now();
    for ifname in ["eth0", "eth1"] {
        s.lb1.set_link(ifname, false).unwrap();
    }
    assert!(
        wait_for(Duration::from_secs(5), || holder(&s, lab::vip())
            .contains(&"lb2")),
        "{}",
        log(dir.path(), "lb2")
    );
    let alive = conns.survivors();
    report.push(format!("links down: {alive}/200 ({:?})", t.elapsed()));
    assert!(alive >= 199, "{report:?}\n{}", log(dir.path(), "lb2"));
    for ifname in ["eth0", "eth1"] {
        s.lb1.set_link(ifname, true).unwrap();
    }
    // lb1 preempts: the connections move back, and live on again.
    assert!(holds(&s, "lb1"), "{}", log(dir.path(), "lb1"));
    let back = conns.survivors();
    report.push(format!("links back, lb1 preempts: {back}/200"));
    assert!(back + 1 >= alive, "{report:?}");

    // 2. lb1's rampart killed (-9, worker too): lb2 takes over; lb1's
    // leftover table and addresses do no harm.
    let workers = lab::children(lb1.pid());
    lb1.kill().unwrap();
    for w in workers {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(w as i32), Signal::SIGKILL);
    }
    assert!(
        wait_for(Duration::from_secs(5), || holder(&s, lab::vip())
            .contains(&"lb2")),
        "{}",
        log(dir.path(), "lb2")
    );
    let killed = conns.survivors();
    report.push(format!("kill -9: {killed}/200"));
    assert!(killed + 1 >= back, "{report:?}");

    // 3. lb1 comes back (and takes the VIPs), then stops gracefully.
    let mut lb1 = start_rampart(&s.lb1, dir.path(), "lb1", &nat_config(1, "50ms"));
    assert!(holds(&s, "lb1"), "{}", log(dir.path(), "lb1"));
    let restarted = conns.survivors();
    report.push(format!("lb1 restarted: {restarted}/200"));
    lb1.signal(Signal::SIGTERM).unwrap();
    assert!(lb1.wait_timeout(Duration::from_secs(10)).unwrap().is_some());
    assert!(holds(&s, "lb2"), "{}", log(dir.path(), "lb2"));
    let stopped = conns.survivors();
    report.push(format!("graceful stop: {stopped}/200"));
    println!("{}", report.join("\n"));
    assert!(stopped + 1 >= restarted && stopped >= 197, "{report:?}");
}

#[test]
fn a_syn_flood_fills_no_table_and_real_clients_get_through() {
    let Some((s, dir, _webs)) = seed() else {
        return;
    };
    let mut lb1 = start_rampart(&s.lb1, dir.path(), "lb1", &nat_config(1, "100ms"));
    served(&s, dir.path());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/nat/synflood.py");
    let secs = 4.0;
    let mut cmd = s.client.command("python3");
    cmd.args([script, "10.10.0.10", "80", &secs.to_string()]);
    // Real clients during the flood, from this thread.
    let started = Instant::now();
    let flood = std::thread::scope(|scope| {
        let flood = scope.spawn(move || cmd.output());
        let mut times = Vec::new();
        let mut failed = 0;
        std::thread::sleep(Duration::from_millis(500));
        while started.elapsed() < Duration::from_secs_f64(secs - 0.5) {
            let t = Instant::now();
            match fetch(&s.client) {
                Ok(_) => times.push(t.elapsed()),
                Err(_) => failed += 1,
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        (flood.join().unwrap(), times, failed)
    });
    let (out, mut times, failed) = flood;
    let out = out.unwrap();
    let sent: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    times.sort();
    let p = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    let conntrack = s
        .lb1
        .ok(&[
            "sh",
            "-c",
            "cat /proc/sys/net/netfilter/nf_conntrack_count 2>/dev/null || echo 0",
        ])
        .unwrap();
    let pins = s
        .lb1
        .ok(&[
            "nft",
            "list",
            "set",
            "inet",
            "rampart_nat",
            "pin_192_168_1_21_8080",
        ])
        .unwrap();
    println!(
        "SYN flood: {sent} SYNs in {secs} s ({:.0}/s); real clients: {} served, {failed} failed, \
         p50 {:?} p99 {:?}; conntrack entries on the LB: {}; flood sources pinned: {}",
        sent as f64 / secs,
        times.len(),
        p(0.5),
        p(0.99),
        conntrack.trim(),
        pins.matches("10.10.0.2").count()
    );
    assert!(
        sent >= 20_000,
        "the flood sent {sent}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        times.len() >= 50 && failed * 100 <= times.len(),
        "{failed} failed of {}",
        times.len()
    );
    // Nothing tracked, nothing pinned: SYNs leave no state on the LB.
    assert!(
        conntrack.trim().parse::<u64>().unwrap_or(0) < 100,
        "{conntrack}"
    );
    assert_eq!(pins.matches("10.10.0.2").count(), 0, "{pins}");
    lb1.signal(Signal::SIGTERM).unwrap();
    assert!(lb1.wait_timeout(Duration::from_secs(10)).unwrap().is_some());
}

#[test]
fn a_server_that_answers_no_syn_is_marked_down_before_its_next_check() {
    let Some((s, dir, _webs)) = seed() else {
        return;
    };
    // Checks every 10 s, two failures to go down: 10 to 20 s by checks.
    let config = nat_config(1, "100ms")
        .replace("interval = \"200ms\"", "interval = \"10s\"")
        .replace("rise = 1 }", "rise = 1, start_up = true }");
    assert!(config.contains("interval = \"10s\""), "{config}");
    let mut lb1 = start_rampart(&s.lb1, dir.path(), "lb1", &config);
    served(&s, dir.path());
    // web1's host goes away: its SYNs are sent into the void.
    s.web1.set_link("eth0", false).unwrap();
    let t = Instant::now();
    let mut failed = 0;
    while nat_status(dir.path(), 1)["servers"][0]["share"] != 0 {
        assert!(
            t.elapsed() < Duration::from_secs(8),
            "web1 still in the table after {:?}\n{}",
            t.elapsed(),
            log(dir.path(), "lb1")
        );
        // Clients keep coming; those sent to web1 fail meanwhile.
        if fetch(&s.client).is_err() {
            failed += 1;
        }
    }
    let took = t.elapsed();
    println!("web1 marked down {took:?} after its link went down ({failed} requests failed)");
    for _ in 0..100 {
        assert_eq!(fetch(&s.client).as_deref(), Ok("web2 10.10.0.100"));
    }
    assert!(log(dir.path(), "lb1").contains("answered none of the SYNs"));
    // Back: its next check brings it up (nothing is sent to it while it is
    // out, so nothing counts against it), and it takes connections again.
    s.web1.set_link("eth0", true).unwrap();
    // The link going down took web1's default route with it.
    rampart_lab::route_via_gateway(&s.web1).unwrap();
    assert!(
        wait_for(
            Duration::from_secs(25),
            || nat_status(dir.path(), 1)["servers"][0]["share"].as_u64() > Some(0)
        ),
        "{}",
        log(dir.path(), "lb1")
    );
    let mut seen = HashMap::new();
    for _ in 0..100 {
        *seen.entry(fetch(&s.client).unwrap()).or_insert(0) += 1;
    }
    assert!(seen.contains_key("web1 10.10.0.100"), "{seen:?}");
    lb1.signal(Signal::SIGTERM).unwrap();
    assert!(lb1.wait_timeout(Duration::from_secs(10)).unwrap().is_some());
}

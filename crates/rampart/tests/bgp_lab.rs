//! rampart announcing the seed guide's service IP to a router running the
//! real BIRD 2 (`merge paths` in its kernel protocol), in namespaces built
//! by rampart-lab. Assertions read BIRD (`birdc`) and the router's kernel
//! table. Needs root; fails loudly without it.
#![allow(clippy::unwrap_used)]

mod lab;

use std::time::{Duration, Instant};

use lab::bgp::{bgp_lab, node_config, show_routes, start_node, status};
use lab::bird::{LB_AS, Peer, ROUTER_AS, bird_config, birdc, nexthops, start_bird};
use lab::{Web, log, wait_for};
use rampart_lab::Signal;

const VIP32: &str = "10.10.0.10/32";
const ROUTER: &str = "10.20.0.1";

fn peer(name: &str, address: &str, password: Option<&str>) -> Peer {
    Peer {
        name: name.into(),
        address: address.into(),
        asn: LB_AS,
        password: password.map(str::to_string),
    }
}

/// The lab, and BIRD on the router peering with lb1 alone.
fn router_for_lb1() -> Option<(
    rampart_lab::SeedLab,
    rampart_lab::Ns,
    tempfile::TempDir,
    rampart_lab::Proc,
)> {
    let (s, rtr) = bgp_lab()?;
    let dir = tempfile::tempdir().unwrap();
    let bird = start_bird(
        &rtr,
        dir.path(),
        "rtr",
        &bird_config(ROUTER, &[peer("lb1", "10.20.0.11", None)]),
    );
    Some((s, rtr, dir, bird))
}

fn established(dir: &std::path::Path, bird: &str) -> bool {
    birdc(dir, "rtr", &["show", "protocols", bird]).contains("Established")
}

#[test]
fn announces_while_healthy_and_withdraws_before_going_away() {
    let Some((s, rtr, dir, _bird)) = router_for_lb1() else {
        return;
    };
    let webs = [
        Web::start(&s.web1, "192.168.1.21:8080", "web1"),
        Web::start(&s.web2, "192.168.1.22:8080", "web2"),
    ];
    let t0 = Instant::now();
    let mut lb1 = start_node(
        &s,
        dir.path(),
        1,
        &node_config(
            1,
            ROUTER,
            "",
            &format!("prefix = \"{VIP32}\"\npolicy = {{ while_healthy = \"www\" }}"),
        ),
    );
    let up = wait_for(Duration::from_secs(20), || {
        nexthops(&rtr, VIP32) == ["10.20.0.11"]
    });
    assert!(
        up,
        "route never reached the router\n{}\n{}",
        log(dir.path(), "lb1"),
        log(dir.path(), "rtr")
    );
    println!("start to route in the router's kernel: {:?}", t0.elapsed());
    assert!(established(dir.path(), "lb1"));
    let shown = birdc(dir.path(), "rtr", &["show", "route", VIP32, "all"]);
    assert!(shown.contains("BGP.as_path: 65000"), "{shown}");

    // `rampart status` reports the session like birdc does.
    let st = status(dir.path(), 1);
    let n = &st["bgp"][0];
    assert_eq!(n["state"], "Established", "{st}");
    assert_eq!(n["routes_exported"], 1);
    assert_eq!(n["neighbor_as"], ROUTER_AS);
    assert_eq!(n["hold_time"], 9);
    assert_eq!(n["neighbor_router_id"], ROUTER);

    // `rampart show routes` says it is announced, sent, and why.
    let shown = show_routes(dir.path(), 1);
    let r = &shown["neighbors"][0]["routes"][0];
    assert_eq!(shown["neighbors"][0]["session"], "Established", "{shown}");
    assert_eq!(r["prefix"], VIP32, "{shown}");
    assert_eq!(r["announced"], true, "{shown}");
    assert_eq!(r["sent"], true, "{shown}");
    assert_eq!(r["next_hop"], "10.20.0.11", "{shown}");
    assert_eq!(r["verdict"], "announced", "{shown}");
    assert_eq!(r["policy"]["while_healthy"]["frontend"], "www", "{shown}");
    assert_eq!(
        r["reason"],
        "announced: 2 servers up in backend nginx_pool, 1 needed \
         (policy while_healthy www (min_servers 1))",
        "{shown}"
    );

    // Both backends die: the route goes (health interval and fall included).
    drop(webs);
    let died = Instant::now();
    let gone = wait_for(Duration::from_secs(10), || nexthops(&rtr, VIP32).is_empty());
    assert!(gone, "route not withdrawn\n{}", log(dir.path(), "lb1"));
    // Withdrawn because of health, and the router no longer has it.
    let shown = show_routes(dir.path(), 1);
    let r = &shown["neighbors"][0]["routes"][0];
    assert_eq!(r["verdict"], "policy_fails", "{shown}");
    assert_eq!(r["sent"], false, "{shown}");
    assert_eq!(
        r["reason"],
        "withdrawn: 0 servers up in backend nginx_pool, 1 needed \
         (policy while_healthy www (min_servers 1))",
        "{shown}"
    );
    println!(
        "last backend dead to route gone from the router's kernel: {:?}",
        died.elapsed()
    );
    assert!(
        established(dir.path(), "lb1"),
        "withdrawing must not reset the session"
    );

    // They come back: re-announced after the hold-down.
    let _webs = [
        Web::start(&s.web1, "192.168.1.21:8080", "web1"),
        Web::start(&s.web2, "192.168.1.22:8080", "web2"),
    ];
    let back = Instant::now();
    assert!(wait_for(Duration::from_secs(10), || nexthops(&rtr, VIP32)
        == ["10.20.0.11"]));
    let took = back.elapsed();
    println!("backends back to route back: {took:?}");
    assert!(
        took >= Duration::from_millis(900),
        "hold-down of 1 s not honoured: {took:?}"
    );

    // Graceful stop: the route is withdrawn first, then the session closes
    // with an administrative shutdown carrying our message.
    lb1.signal(Signal::SIGTERM).unwrap();
    let stopped = Instant::now();
    assert!(wait_for(Duration::from_secs(5), || nexthops(&rtr, VIP32).is_empty()));
    let withdrawn = stopped.elapsed();
    let session_open_when_withdrawn = established(dir.path(), "lb1");
    println!("SIGTERM to withdrawal seen by the router: {withdrawn:?}");
    assert!(
        session_open_when_withdrawn,
        "the route must go before the session"
    );
    assert!(wait_for(Duration::from_secs(5), || !established(
        dir.path(),
        "lb1"
    )));
    let info = birdc(dir.path(), "rtr", &["show", "protocols", "all", "lb1"]);
    assert!(info.contains("rampart is shutting down"), "{info}");
    assert!(lb1.wait_timeout(Duration::from_secs(10)).unwrap().is_some());
}

#[test]
fn md5_password_must_match() {
    let Some((s, rtr)) = bgp_lab() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let peers = [
        peer("lb1", "10.20.0.11", Some("s3cret")),
        peer("lb2", "10.20.0.12", Some("s3cret")),
    ];
    let _bird = start_bird(&rtr, dir.path(), "rtr", &bird_config(ROUTER, &peers));
    let announce = format!("prefix = \"{VIP32}\"");
    let _lb1 = start_node(
        &s,
        dir.path(),
        1,
        &node_config(1, ROUTER, "password = \"s3cret\"", &announce),
    );
    let mut lb2 = start_node(
        &s,
        dir.path(),
        2,
        &node_config(2, ROUTER, "password = \"wrong\"", &announce),
    );
    assert!(
        wait_for(Duration::from_secs(15), || established(dir.path(), "lb1")),
        "{}",
        log(dir.path(), "lb1")
    );
    // lb2 keeps trying for a while and never gets through.
    std::thread::sleep(Duration::from_secs(3));
    assert!(!established(dir.path(), "lb2"));
    assert_eq!(nexthops(&rtr, VIP32), ["10.20.0.11"]);
    assert!(
        !log(dir.path(), "lb1").contains("s3cret"),
        "password in a log"
    );
    assert!(
        !status(dir.path(), 1).to_string().contains("s3cret"),
        "password in status"
    );

    // The right password by reload: lb2's session restarts with it (its
    // connects and its listener's key both change) and gets through.
    std::fs::write(
        dir.path().join("lb2.toml"),
        node_config(2, ROUTER, "password = \"s3cret\"", &announce),
    )
    .unwrap();
    lb2.signal(Signal::SIGHUP).unwrap();
    assert!(
        wait_for(Duration::from_secs(20), || established(dir.path(), "lb2")),
        "{}",
        log(dir.path(), "lb2")
    );
    assert!(wait_for(Duration::from_secs(10), || nexthops(&rtr, VIP32)
        .len()
        == 2));
}

#[test]
fn two_nodes_give_the_router_an_ecmp_route() {
    let Some((s, rtr)) = bgp_lab() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let peers = [
        peer("lb1", "10.20.0.11", None),
        peer("lb2", "10.20.0.12", None),
    ];
    let _bird = start_bird(&rtr, dir.path(), "rtr", &bird_config(ROUTER, &peers));
    let announce = format!("prefix = \"{VIP32}\"");
    let _lb1 = start_node(&s, dir.path(), 1, &node_config(1, ROUTER, "", &announce));
    let mut lb2 = start_node(&s, dir.path(), 2, &node_config(2, ROUTER, "", &announce));
    let both = wait_for(Duration::from_secs(20), || {
        nexthops(&rtr, VIP32) == ["10.20.0.11", "10.20.0.12"]
    });
    assert!(
        both,
        "{:?}\n{}",
        nexthops(&rtr, VIP32),
        log(dir.path(), "rtr")
    );
    lb2.terminate(Duration::from_secs(10)).unwrap();
    assert!(wait_for(Duration::from_secs(5), || nexthops(&rtr, VIP32)
        == ["10.20.0.11"]));
}

#[test]
fn ipv6_host_route_over_mp_bgp() {
    let Some((s, rtr)) = bgp_lab() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let _bird = start_bird(
        &rtr,
        dir.path(),
        "rtr",
        &bird_config(ROUTER, &[peer("lb1", "fd00:20::11", None)]),
    );
    let config = node_config(1, ROUTER, "", "prefix = \"fd00:10::10/128\"").replace(
        &format!("address = \"{ROUTER}\""),
        "address = \"fd00:20::1\"",
    );
    let _lb1 = start_node(&s, dir.path(), 1, &config);
    let ok = wait_for(Duration::from_secs(20), || {
        nexthops(&rtr, "fd00:10::10/128") == ["fd00:20::11"]
    });
    assert!(
        ok,
        "{}\n{}",
        log(dir.path(), "lb1"),
        birdc(dir.path(), "rtr", &["show", "route", "all"])
    );
}

#[test]
fn while_master_follows_vrrp_mastership() {
    let Some((s, rtr)) = bgp_lab() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let peers = [
        peer("lb1", "10.20.0.11", None),
        peer("lb2", "10.20.0.12", None),
    ];
    let _bird = start_bird(&rtr, dir.path(), "rtr", &bird_config(ROUTER, &peers));
    let _webs = [
        Web::start(&s.web1, "192.168.1.21:8080", "web1"),
        Web::start(&s.web2, "192.168.1.22:8080", "web2"),
    ];
    let announce = format!("prefix = \"{VIP32}\"\npolicy = {{ while_master = \"VI_1\" }}");
    let config = |n: u8| {
        lab::rampart_config(n, lab::Timing::V3Fast, "")
            + &lab::bgp::bgp_section(n, ROUTER, "", &announce, "0s")
    };
    let mut lb1 = start_node(&s, dir.path(), 1, &config(1));
    let _lb2 = start_node(&s, dir.path(), 2, &config(2));
    // Only the VRRP master announces.
    let on_lb1 = wait_for(Duration::from_secs(20), || {
        nexthops(&rtr, VIP32) == ["10.20.0.11"]
    });
    assert!(
        on_lb1,
        "{:?}\n{}",
        nexthops(&rtr, VIP32),
        log(dir.path(), "lb1")
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        nexthops(&rtr, VIP32),
        ["10.20.0.11"],
        "lb2 must not announce as backup"
    );
    // A planned switchover moves the route with the VIP, and at no
    // moment does the router lack one: lb2 announces before lb1 withdraws.
    lb1.signal(Signal::SIGTERM).unwrap();
    let mut seen = Vec::new();
    let moved = wait_for(Duration::from_secs(10), || {
        let now = nexthops(&rtr, VIP32);
        if seen.last() != Some(&now) {
            seen.push(now.clone());
        }
        now == ["10.20.0.12"]
    });
    assert!(moved, "{seen:?}\n{}", log(dir.path(), "lb2"));
    assert!(
        seen.iter().all(|h| !h.is_empty()),
        "a moment without a route: {seen:?}"
    );
}

/// SIGHUP applies `[bgp]` changes the way `birdc configure` does: a new or
/// removed announcement is one UPDATE on the running session (no reset), a
/// changed neighbor restarts its session with the new settings, and a
/// broken file leaves everything as it was.
#[test]
fn a_reload_changes_bgp_in_place() {
    const VIP2: &str = "10.10.0.11/32";
    let Some((s, rtr, dir, _bird)) = router_for_lb1() else {
        return;
    };
    let announce = |prefix: &str| format!("prefix = \"{prefix}\"\npolicy = \"always\"\n");
    let path = dir.path().join("lb1.toml");
    let mut lb1 = start_node(
        &s,
        dir.path(),
        1,
        &node_config(1, ROUTER, "", &announce(VIP32)),
    );
    let routed = |prefix: &str| nexthops(&rtr, prefix) == ["10.20.0.11"];
    assert!(
        wait_for(Duration::from_secs(20), || routed(VIP32)),
        "route never reached the router\n{}",
        log(dir.path(), "lb1")
    );
    let session = || status(dir.path(), 1)["bgp"][0].clone();
    assert_eq!(session()["established_count"], 1);

    // A second announcement: an UPDATE on the same session.
    let two = node_config(1, ROUTER, "", &announce(VIP32))
        + &format!("\n[[bgp.announce]]\n{}", announce(VIP2));
    std::fs::write(&path, two).unwrap();
    let t = Instant::now();
    lb1.signal(Signal::SIGHUP).unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || routed(VIP2)),
        "the added announcement never reached the router\n{}",
        log(dir.path(), "lb1")
    );
    println!(
        "reload to the added route in the router's kernel: {:?}",
        t.elapsed()
    );
    assert!(routed(VIP32));
    let n = session();
    assert_eq!(n["state"], "Established", "{n}");
    assert_eq!(n["established_count"], 1, "the session was reset: {n}");
    assert_eq!(n["routes_exported"], 2, "{n}");

    // The first one removed: withdrawn, still the same session.
    std::fs::write(&path, node_config(1, ROUTER, "", &announce(VIP2))).unwrap();
    lb1.signal(Signal::SIGHUP).unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || nexthops(&rtr, VIP32).is_empty()),
        "the removed announcement is still routed\n{}",
        log(dir.path(), "lb1")
    );
    assert!(routed(VIP2));
    let n = session();
    assert_eq!(n["established_count"], 1, "the session was reset: {n}");
    assert_eq!(n["routes_exported"], 1, "{n}");

    // A changed neighbor: its session restarts with the new hold time.
    assert_eq!(n["hold_time"], 9);
    std::fs::write(
        &path,
        node_config(1, ROUTER, "hold_time = \"6s\"", &announce(VIP2)),
    )
    .unwrap();
    lb1.signal(Signal::SIGHUP).unwrap();
    assert!(
        wait_for(Duration::from_secs(20), || {
            let n = session();
            n["state"] == "Established" && n["hold_time"] == 6
        }),
        "the session did not come back with hold time 6\n{}",
        log(dir.path(), "lb1")
    );
    assert!(wait_for(Duration::from_secs(10), || routed(VIP2)));
    assert!(
        birdc(dir.path(), "rtr", &["show", "protocols", "all", "lb1"])
            .contains("configuration changed"),
        "the router was not told why the session closed"
    );

    // A broken file: refused, everything stays.
    std::fs::write(&path, "[bgp]\nlocal_as = \"not a number\"\n").unwrap();
    lb1.signal(Signal::SIGHUP).unwrap();
    assert!(
        wait_for(Duration::from_secs(5), || log(dir.path(), "lb1")
            .contains("reload failed, keeping the running config")),
        "{}",
        log(dir.path(), "lb1")
    );
    std::thread::sleep(Duration::from_millis(500));
    let n = session();
    assert_eq!(n["state"], "Established", "{n}");
    assert_eq!(n["hold_time"], 6, "{n}");
    assert!(routed(VIP2));
    lb1.signal(Signal::SIGTERM).unwrap();
    assert!(lb1.wait_timeout(Duration::from_secs(10)).unwrap().is_some());
}

/// `rampart bgp disable rtr --message ...`: the route is withdrawn, the
/// session closes with our message (BIRD shows it), a reload does not
/// bring it back; `rampart bgp enable rtr` does.
#[test]
fn bgp_disable_shows_the_message_at_the_router_and_enable_brings_it_back() {
    let Some((s, rtr, dir, _bird)) = router_for_lb1() else {
        return;
    };
    let _webs = [
        Web::start(&s.web1, "192.168.1.21:8080", "web1"),
        Web::start(&s.web2, "192.168.1.22:8080", "web2"),
    ];
    let announce = format!("prefix = \"{VIP32}\"");
    let _lb1 = start_node(&s, dir.path(), 1, &node_config(1, ROUTER, "", &announce));
    assert!(
        wait_for(Duration::from_secs(20), || nexthops(&rtr, VIP32)
            == ["10.20.0.11"]),
        "{}",
        log(dir.path(), "lb1")
    );
    let bgp = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rampart"))
            .arg("bgp")
            .args(args)
            .arg("--control")
            .arg(dir.path().join("lb1.sock"))
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), said)
    };
    let shown = show_routes(dir.path(), 1);
    let n = &shown["neighbors"][0];
    assert_eq!(n["name"], "rtr", "{shown}");
    assert_eq!(n["disabled"], false, "{shown}");
    assert_eq!(n["routes"][0]["prefix"], VIP32, "{shown}");
    assert_eq!(n["routes"][0]["verdict"], "announced", "{shown}");
    assert_eq!(n["routes"][0]["reason"], "announced (policy always)");
    let (ok, said) = bgp(&["disable", "rtr", "--message", "maintenance window 42"]);
    assert!(ok && said.contains("BGP neighbor rtr disabled"), "{said}");
    assert!(wait_for(Duration::from_secs(5), || nexthops(&rtr, VIP32).is_empty()));
    // Shown withdrawn, with the reason, and no session.
    let shown = show_routes(dir.path(), 1);
    let n = &shown["neighbors"][0];
    assert_eq!(n["disabled"], true, "{shown}");
    assert_eq!(n["routes"][0]["announced"], false, "{shown}");
    assert_eq!(n["routes"][0]["verdict"], "neighbor_disabled", "{shown}");
    assert_eq!(
        n["routes"][0]["reason"],
        "withdrawn: neighbor disabled by the operator (otherwise announced (policy always))"
    );
    // The table says the same.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["show", "routes", "--control"])
        .arg(dir.path().join("lb1.sock"))
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        table.contains("BGP rtr (10.20.0.1): disabled by the operator"),
        "{table}"
    );
    assert!(
        table.contains(VIP32) && table.contains("withdrawn"),
        "{table}"
    );
    assert!(wait_for(Duration::from_secs(5), || !established(
        dir.path(),
        "lb1"
    )));
    let info = birdc(dir.path(), "rtr", &["show", "protocols", "all", "lb1"]);
    assert!(info.contains("maintenance window 42"), "{info}");

    // A reload keeps it down.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["reload", "--control"])
        .arg(dir.path().join("lb1.sock"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    std::thread::sleep(Duration::from_secs(3));
    assert!(!established(dir.path(), "lb1"));
    assert!(nexthops(&rtr, VIP32).is_empty());

    let (ok, said) = bgp(&["enable", "rtr"]);
    assert!(ok && said.contains("BGP neighbor rtr enabled"), "{said}");
    assert!(
        wait_for(Duration::from_secs(20), || nexthops(&rtr, VIP32)
            == ["10.20.0.11"]),
        "{}",
        log(dir.path(), "lb1")
    );
    let (ok, said) = bgp(&["disable", "nope"]);
    assert!(!ok && said.contains("no BGP neighbor `nope`"), "{said}");
}

/// A TCP echo server in `ns`, each connection on its own thread, kept
/// open until the peer closes it.
fn echo_server(ns: &rampart_lab::Ns, addr: &str) {
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let _ = ns
        .spawn_thread(move || {
            let l = std::net::TcpListener::bind(addr).unwrap();
            ready_tx.send(()).unwrap();
            for s in l.incoming().flatten() {
                std::thread::spawn(move || {
                    use std::io::{Read, Write};
                    let mut s = s;
                    let mut buf = [0u8; 256];
                    while let Ok(n) = s.read(&mut buf) {
                        if n == 0 || s.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                });
            }
        })
        .unwrap();
    ready_rx.recv_timeout(Duration::from_secs(5)).unwrap();
}

/// `rampart node drain`, the whole node out in the order operators ask
/// for, against BIRD and a VRRP peer: lb1's route gets GRACEFUL_SHUTDOWN
/// (65535:0) while both nodes announce (ECMP), is withdrawn
/// `--withdraw-after` later, and only then does lb1 resign VRRP (lb2 takes
/// both VIPs with no failed request from a client probing every 20 ms);
/// last, an idle connection to lb1 is closed within the window while a
/// busy one runs on. `node undrain` brings the route and the VIPs back.
#[test]
fn node_drain_tags_then_withdraws_then_resigns_then_closes_idle_connections() {
    let Some((s, rtr)) = bgp_lab() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let peers = [
        peer("lb1", "10.20.0.11", None),
        peer("lb2", "10.20.0.12", None),
    ];
    let _bird = start_bird(&rtr, d, "rtr", &bird_config(ROUTER, &peers));
    let _webs = [
        Web::start(&s.web1, "192.168.1.21:8080", "web1"),
        Web::start(&s.web2, "192.168.1.22:8080", "web2"),
    ];
    echo_server(&s.web1, "192.168.1.21:9000");
    let announce = format!("prefix = \"{VIP32}\"");
    // A second frontend on the node's own address: its connections stay
    // on lb1 when the VIPs move, so the drain's last step can be seen.
    let state = d.join("lb1.state");
    let config = |n: u8| {
        lab::rampart_config(n, lab::Timing::V3Fast, "").replace(
            "grace = \"2s\"",
            &format!(
                "grace = \"2s\"\nstate_file = {:?}",
                state.display().to_string()
            ),
        ) + &lab::bgp::bgp_section(n, ROUTER, "", &announce, "0s")
            + &format!(
                r#"
[[frontend]]
name = "direct"
bind = ["10.10.0.1{n}:9000"]
backend = "echo"

[[backend]]
name = "echo"
health = {{ check = "tcp", interval = "200ms", timeout = "200ms", fall = 2, rise = 1 }}
servers = [{{ name = "echo1", addr = "192.168.1.21:9000" }}]
"#
            )
    };
    let mut lb1 = start_node(&s, d, 1, &config(1));
    let _lb2 = start_node(&s, d, 2, &config(2));
    let both = wait_for(Duration::from_secs(20), || {
        nexthops(&rtr, VIP32) == ["10.20.0.11", "10.20.0.12"] && lab::holds_both(&s, "lb1")
    });
    assert!(
        both,
        "{:?}\n{}\n{}",
        nexthops(&rtr, VIP32),
        log(d, "rtr"),
        log(d, "lb1")
    );

    // Two connections to lb1's own frontend: one goes idle, one keeps
    // talking (a byte every 100 ms) until told to stop.
    let (idle_tx, idle_rx) = std::sync::mpsc::channel();
    let (busy_tx, busy_rx) = std::sync::mpsc::channel();
    let talking = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = talking.clone();
    let _ = s
        .client
        .spawn_thread(move || {
            use std::io::{Read, Write};
            let connect = || {
                let mut c = std::net::TcpStream::connect("10.10.0.11:9000").unwrap();
                c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                c.write_all(b"hi").unwrap();
                let mut b = [0u8; 2];
                c.read_exact(&mut b).unwrap();
                c
            };
            let mut idle = connect();
            let mut busy = connect();
            std::thread::spawn(move || {
                // Ok(0): closed by the proxy.
                let mut b = [0u8; 16];
                let read = idle.read(&mut b).map_err(|e| e.to_string());
                let _ = idle_tx.send((read, Instant::now()));
            });
            let mut echoed = 0u32;
            let result = loop {
                if !flag.load(std::sync::atomic::Ordering::Relaxed) {
                    break Ok(echoed);
                }
                let mut b = [0u8; 1];
                if let Err(e) = busy.write_all(b"x").and_then(|()| busy.read_exact(&mut b)) {
                    break Err(format!("after {echoed} echoes: {e}"));
                }
                echoed += 1;
                std::thread::sleep(Duration::from_millis(100));
            };
            let _ = busy_tx.send(result);
        })
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));

    let probe = lab::Probe::start(&s.client);
    std::thread::sleep(Duration::from_millis(300));
    let node = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rampart"))
            .arg("node")
            .args(args)
            .arg("--control")
            .arg(d.join("lb1.sock"))
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), said)
    };
    let t0 = Instant::now();
    let waiter = std::thread::spawn({
        let sock = d.join("lb1.sock");
        move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_rampart"))
                .args([
                    "node",
                    "drain",
                    "--withdraw-after",
                    "2s",
                    "--window",
                    "3s",
                    "--idle",
                    "1s",
                    "--wait",
                ])
                .arg("--control")
                .arg(sock)
                .output()
                .unwrap()
        }
    });
    // Each moment seen first, from the start of the drain.
    let (mut tagged, mut withdrawn, mut moved) = (None, None, None);
    let lb1_path = || {
        birdc(
            d,
            "rtr",
            &["show", "route", VIP32, "protocol", "lb1", "all"],
        )
    };
    while t0.elapsed() < Duration::from_secs(20) && moved.is_none() {
        let t = t0.elapsed();
        if tagged.is_none() && lb1_path().contains("(65535,0)") {
            tagged = Some(t);
        }
        if withdrawn.is_none() && nexthops(&rtr, VIP32) == ["10.20.0.12"] {
            withdrawn = Some(t);
        }
        if moved.is_none() && lab::holds_both(&s, "lb2") {
            moved = Some(t);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = waiter.join().unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let drain_took = t0.elapsed();
    let outage = probe.finish();
    println!(
        "node drain: tagged at {tagged:?}, withdrawn at {withdrawn:?}, VIPs on lb2 at {moved:?}, \
         drained after {drain_took:?}; probes {} failed {}",
        outage.probes, outage.failed
    );
    for l in log(d, "lb1")
        .lines()
        .filter(|l| l.contains("drain") || l.contains("VRRP"))
    {
        println!("lb1: {l}");
    }
    assert!(out.status.success(), "{said}\n{}", log(d, "lb1"));
    assert!(
        said.contains("node draining: BGP: 1 route(s) tagged GRACEFUL_SHUTDOWN (65535:0), all withdrawn in 2.0 s"),
        "{said}"
    );
    for step in [
        "withdrawing routes",
        "resigning VRRP",
        "closing idle connections",
        "drained",
    ] {
        assert!(said.contains(step), "{step}: {said}");
    }
    let (tagged, withdrawn, moved) = (
        tagged.expect("BIRD never saw the GRACEFUL_SHUTDOWN community"),
        withdrawn.expect("the route was never withdrawn"),
        moved.expect("lb2 never took the VIPs"),
    );
    // The order, and the withdrawal at its time.
    assert!(
        tagged < withdrawn && withdrawn <= moved,
        "{tagged:?} {withdrawn:?} {moved:?}"
    );
    assert!(
        withdrawn >= Duration::from_millis(1800),
        "withdrawn after {withdrawn:?}, before --withdraw-after"
    );
    assert_eq!(outage.failed, 0, "{outage:?}");
    // Shown as drained, with the reason.
    let shown = show_routes(d, 1);
    let r = &shown["neighbors"][0]["routes"][0];
    assert_eq!(r["verdict"], "node_drained", "{shown}");
    assert_eq!(
        r["reason"],
        "withdrawn: node drained (otherwise announced (policy always))"
    );
    assert_eq!(status(d, 1)["node_drain"]["step"], "drained");
    // The drain owns VRRP until undrained.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["vrrp", "resume", "--control"])
        .arg(d.join("lb1.sock"))
        .output()
        .unwrap();
    let refused = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && refused.contains("`rampart node undrain` first"),
        "{refused}"
    );
    assert!(
        said.contains("node draining: BGP: 1 route(s) tagged"),
        "{said}"
    );

    // The idle connection was closed within the window (after the VRRP
    // step), the busy one still talks.
    let (read, at) = idle_rx.recv_timeout(Duration::from_secs(1)).unwrap();
    assert_eq!(read, Ok(0), "the idle connection was not closed by lb1");
    let closed = at
        .checked_duration_since(t0)
        .expect("the idle connection closed before the drain");
    // The steps as lb1 timed them, from its `node drain`.
    let st = status(d, 1);
    let steps: Vec<(String, f64)> = st["node_drain"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap().to_string(),
                s["at_seconds"].as_f64().unwrap(),
            )
        })
        .collect();
    println!("steps {steps:?}; idle connection closed at {closed:?}");
    let names: Vec<&str> = steps.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(names, ["withdrawing", "resigning", "closing", "drained"]);
    let (resigning, closing) = (steps[1].1, steps[2].1);
    assert!(resigning >= 2.0, "{steps:?}");
    // Idle connections close after VRRP moved, and only once idle for
    // --idle after the closing began (the drain started a few ms after
    // t0, so this is the drain's clock give or take those).
    assert!(closing >= resigning, "{steps:?}");
    assert!(
        closed >= moved,
        "closed at {closed:?}, VIPs moved at {moved:?}"
    );
    assert!(
        closed.as_secs_f64() >= closing + 0.9 && closed <= drain_took + Duration::from_millis(500),
        "closed at {closed:?}, {steps:?}"
    );
    assert!(log(d, "lb1").contains("closed idle by the node drain"));
    // On lb1's own clock and in its own order: the withdrawal was written
    // to the BGP session before VRRP sent priority 0.
    let lb1_log = log(d, "lb1");
    let written = lb1_log.find("written to every BGP session");
    let resigned = lb1_log.find("VRRP master -> stopping");
    assert!(
        written.is_some() && resigned.is_some() && written < resigned,
        "{lb1_log}"
    );
    std::thread::sleep(Duration::from_millis(500));
    talking.store(false, std::sync::atomic::Ordering::Relaxed);
    let echoed = busy_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(
        echoed.as_ref().is_ok_and(|n| *n > 40),
        "the busy connection: {echoed:?}"
    );
    assert!(log(d, "lb1").contains("node drain: closed 1 idle connection(s)"));

    // A restart (the state file) keeps the node drained: no route, no
    // VIP, from its first moment.
    lb1.terminate(Duration::from_secs(10)).unwrap();
    lb1 = start_node(&s, d, 1, &config(1));
    assert!(
        wait_for(Duration::from_secs(20), || {
            status(d, 1)["bgp"][0]["state"] == "Established"
        }),
        "{}",
        log(d, "lb1")
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(nexthops(&rtr, VIP32), ["10.20.0.12"]);
    assert!(lab::holds_both(&s, "lb2"));
    let st = status(d, 1);
    assert_eq!(st["node_drain"]["step"], "drained", "{st}");
    assert_eq!(st["vrrp"][0]["state"], "stop", "{st}");

    // Undrain: the route comes back on lb1 and it takes the VIPs back.
    let probe = lab::Probe::start(&s.client);
    let (ok, said) = node(&["undrain"]);
    assert!(
        ok && said.contains("node drain ended (was drained)"),
        "{said}"
    );
    assert!(
        wait_for(Duration::from_secs(10), || {
            nexthops(&rtr, VIP32) == ["10.20.0.11", "10.20.0.12"] && lab::holds_both(&s, "lb1")
        }),
        "{:?}\n{}",
        nexthops(&rtr, VIP32),
        log(d, "lb1")
    );
    assert!(!lb1_path().contains("(65535,0)"), "{}", lb1_path());
    std::thread::sleep(Duration::from_millis(300));
    let back = probe.finish();
    println!(
        "undrain: probes {} failed {} (longest {:?})",
        back.probes, back.failed, back.longest
    );
    // lb1 preempts (priority 101): a request in flight through lb2 when
    // the VIP moves back can be lost, as with keepalived's preemption;
    // no more than that.
    assert!(back.failed <= 2, "{back:?}");
    assert!(status(d, 1)["node_drain"].is_null());
    let (ok, said) = node(&["undrain"]);
    assert!(ok && said.contains("the node is not draining"), "{said}");
    drop(lb1);
}

/// `rampart upgrade` while a node drain is in its first step (routes
/// tagged, VRRP still master): the new program withdraws the routes first
/// and only then resigns VRRP (priority 0: lb2 takes over with no failed
/// request), and goes on to drained.
#[test]
fn an_upgrade_in_the_middle_of_a_node_drain_keeps_its_order() {
    let Some((s, rtr)) = bgp_lab() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let peers = [
        peer("lb1", "10.20.0.11", None),
        peer("lb2", "10.20.0.12", None),
    ];
    let _bird = start_bird(&rtr, d, "rtr", &bird_config(ROUTER, &peers));
    let _webs = [
        Web::start(&s.web1, "192.168.1.21:8080", "web1"),
        Web::start(&s.web2, "192.168.1.22:8080", "web2"),
    ];
    let announce = format!("prefix = \"{VIP32}\"");
    let config = |n: u8| {
        lab::rampart_config(n, lab::Timing::V3Fast, "")
            + &lab::bgp::bgp_section(n, ROUTER, "", &announce, "0s")
    };
    let _lb1 = start_node(&s, d, 1, &config(1));
    let _lb2 = start_node(&s, d, 2, &config(2));
    assert!(
        wait_for(Duration::from_secs(20), || {
            nexthops(&rtr, VIP32) == ["10.20.0.11", "10.20.0.12"] && lab::holds_both(&s, "lb1")
        }),
        "{}",
        log(d, "lb1")
    );
    let rampart = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rampart"))
            .args(args)
            .arg("--control")
            .arg(d.join("lb1.sock"))
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), said)
    };
    let probe = lab::Probe::start(&s.client);
    let (ok, said) = rampart(&["node", "drain", "--withdraw-after", "60s"]);
    assert!(ok, "{said}");
    let lb1_path = || {
        birdc(
            d,
            "rtr",
            &["show", "route", VIP32, "protocol", "lb1", "all"],
        )
    };
    assert!(
        wait_for(Duration::from_secs(5), || lb1_path().contains("(65535,0)")),
        "{}",
        lb1_path()
    );
    assert!(lab::holds_both(&s, "lb1"));

    let (ok, said) = rampart(&["upgrade"]);
    assert!(ok, "{said}\n{}", log(d, "lb1"));
    assert!(
        wait_for(Duration::from_secs(10), || {
            nexthops(&rtr, VIP32) == ["10.20.0.12"] && lab::holds_both(&s, "lb2")
        }),
        "{:?}\n{}",
        nexthops(&rtr, VIP32),
        log(d, "lb1")
    );
    std::thread::sleep(Duration::from_millis(300));
    let outage = probe.finish();
    // The new program's log: the withdrawal written before priority 0.
    let full = log(d, "lb1");
    let after = &full[full
        .find("upgraded from rampart")
        .expect("no upgrade in the log")..];
    let written = after.find("written to every BGP session");
    let resigned = after.find("VRRP master -> stopping");
    println!(
        "upgrade mid-drain: probes {} failed {}; withdrawal logged at byte {written:?}, resign at {resigned:?}",
        outage.probes, outage.failed
    );
    for l in after
        .lines()
        .filter(|l| l.contains("drain") || l.contains("VRRP"))
    {
        println!("lb1: {l}");
    }
    assert!(
        written.is_some() && resigned.is_some() && written < resigned,
        "{after}"
    );
    assert_eq!(outage.failed, 0, "{outage:?}");
    // It goes on to drained (the idle close with its default 10 s).
    assert!(
        wait_for(
            Duration::from_secs(15),
            || status(d, 1)["node_drain"]["step"] == "drained"
        ),
        "{}",
        status(d, 1)
    );
    let st = status(d, 1);
    println!("steps after the upgrade: {}", st["node_drain"]["steps"]);
    let steps: Vec<&str> = st["node_drain"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["step"].as_str())
        .collect();
    assert_eq!(steps, ["withdrawing", "resigning", "closing", "drained"]);
}

//! BFD between rampart and the real BIRD 2 (`protocol bfd`, `bfd on;` and
//! `bfd graceful;` in its `protocol bgp`), in the BGP lab's namespaces
//! (rampart-lab): lb1 and lb2 announce one VIP, BIRD on the router merges
//! them into an ECMP route. Assertions read BIRD (`birdc`), the router's
//! kernel table and `rampart status`. Needs root and BIRD; fails loudly
//! without them (RAMPART_SKIP_NETNS=1 skips, saying so).
#![allow(clippy::unwrap_used)]

mod lab;

use std::path::Path;
use std::time::{Duration, Instant};

use lab::bgp::{bgp_lab, node_config, start_node, status};
use lab::bird::{LB_AS, Peer, bird_config, birdc, nexthops, start_bird};
use lab::{log, wait_for};
use rampart_lab::Signal;

const VIP32: &str = "10.10.0.10/32";
const ROUTER: &str = "10.20.0.1";
const LB1: &str = "10.20.0.11";
const LB2: &str = "10.20.0.12";
const ALWAYS: &str = "prefix = \"10.10.0.10/32\"\npolicy = \"always\"";
/// What the tests assert against, with room for a loaded 2-core machine:
/// the detection time is 300 ms (100 ms × 3).
const DROP_BOUND: Duration = Duration::from_secs(1);

/// BIRD's config: the lab's, plus `protocol bfd` at 100 ms × 3 on the
/// router's interface and `bfd <mode>;` in each `protocol bgp`.
fn bird_with_bfd(peers: &[(&str, &str, &str)]) -> String {
    let list: Vec<Peer> = peers
        .iter()
        .map(|(name, address, _)| Peer {
            name: (*name).into(),
            address: (*address).into(),
            asn: LB_AS,
            password: None,
        })
        .collect();
    let mut c = bird_config(ROUTER, &list);
    for (name, _, mode) in peers {
        let head = format!("protocol bgp {name} {{\n");
        c = c.replacen(&head, &format!("{head}    bfd {mode};\n"), 1);
    }
    c + "protocol bfd { interface \"eth0\" { interval 100 ms; multiplier 3; }; }\n"
}

/// `birdc show bfd sessions`: (state, interval, timeout) of the session
/// with `addr`, as BIRD prints them.
fn bird_bfd(dir: &Path, addr: &str) -> Option<(String, String, String)> {
    let out = birdc(dir, "rtr", &["show", "bfd", "sessions"]);
    let line = out
        .lines()
        .find(|l| l.split_whitespace().next() == Some(addr))?;
    let w: Vec<&str> = line.split_whitespace().collect();
    let n = w.len();
    (n >= 5).then(|| (w[2].to_string(), w[n - 2].to_string(), w[n - 1].to_string()))
}

fn bird_established(dir: &Path, name: &str) -> bool {
    birdc(dir, "rtr", &["show", "protocols", name]).contains("Established")
}

/// `rampart ARGS --control lbN.sock`'s output.
fn rampart(dir: &Path, n: u8, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(args)
        .arg("--control")
        .arg(dir.join(format!("lb{n}.sock")))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn logs(dir: &Path) -> String {
    ["rtr", "lb1", "lb2"]
        .map(|n| format!("--- {n}\n{}", log(dir, n)))
        .join("\n")
}

#[test]
fn bird_drops_a_node_whose_links_are_cut_within_the_bfd_detection_time() {
    let Some((s, rtr)) = bgp_lab() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let _bird = start_bird(
        &rtr,
        d,
        "rtr",
        &bird_with_bfd(&[("lb1", LB1, "on"), ("lb2", LB2, "graceful")]),
    );
    let _lb1 = start_node(&s, d, 1, &node_config(1, ROUTER, "bfd = true", ALWAYS));
    let _lb2 = start_node(&s, d, 2, &node_config(2, ROUTER, "bfd = true", ALWAYS));
    let ecmp = || nexthops(&rtr, VIP32) == [LB1, LB2];
    assert!(
        wait_for(Duration::from_secs(30), ecmp),
        "no ECMP route\n{}",
        logs(d)
    );

    // (a) BIRD has both sessions Up, with rampart's addresses, and gives
    // each 3 × 100 ms.
    let up = |addr| bird_bfd(d, addr).is_some_and(|(state, _, _)| state == "Up");
    assert!(
        wait_for(Duration::from_secs(10), || up(LB1) && up(LB2)),
        "{}\n{}",
        birdc(d, "rtr", &["show", "bfd", "sessions"]),
        logs(d)
    );
    println!("{}", birdc(d, "rtr", &["show", "bfd", "sessions"]));
    for addr in [LB1, LB2] {
        let (_, interval, timeout) = bird_bfd(d, addr).unwrap();
        assert_eq!(
            (interval.as_str(), timeout.as_str()),
            ("0.100", "0.300"),
            "{addr}"
        );
    }
    let st = status(d, 1);
    let bfd = &st["bgp"][0]["bfd"];
    assert_eq!(bfd["state"], "Up", "{st}");
    assert_eq!(bfd["remote_state"], "Up", "{st}");
    assert_ne!(bfd["remote_discriminator"], 0, "{st}");
    assert_eq!(bfd["tx_interval_ms"], 100, "{st}");
    assert_eq!(bfd["detection_time_ms"], 300, "{st}");
    assert_eq!(bfd["discarded"], 0, "{st}");
    // `rampart show bgp` has a BFD column; `rampart status` a bfd line.
    let table = rampart(d, 1, &["show", "bgp"]);
    let header = table.lines().next().unwrap_or_default();
    let row = table.lines().nth(1).unwrap_or_default();
    let col = header.find("BFD").unwrap();
    assert!(
        row.get(col..).is_some_and(|r| r.starts_with("Up ")),
        "{table}"
    );
    let text = rampart(d, 1, &["status"]);
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("bfd:"))
        .unwrap_or_default();
    assert!(
        line.contains(" remote_state=\"Up\" ") && line.contains(" state=\"Up\" "),
        "{text}"
    );

    // (b) A node's link goes down: BIRD's BFD notices within 300 ms,
    // closes its BGP session, and the router's kernel loses that next
    // hop. The BGP hold time (9 s here, 90 s by default) plays no part.
    let mut figures = Vec::new();
    for (node, me, other, mode) in [(&s.lb1, LB1, LB2, "on"), (&s.lb2, LB2, LB1, "graceful")] {
        let name = if me == LB1 { "lb1" } else { "lb2" };
        for _ in 0..3 {
            // BGP may be back before BFD is: a cut then would be left to
            // the hold timer. Both ends Up first.
            let both_up = || {
                up(me) && status(d, if me == LB1 { 1 } else { 2 })["bgp"][0]["bfd"]["state"] == "Up"
            };
            assert!(wait_for(Duration::from_secs(10), both_up), "{}", logs(d));
            let cut = Instant::now();
            node.ip(&["link", "set", "eth2", "down"]).unwrap();
            let dropped = wait_for(Duration::from_secs(10), || nexthops(&rtr, VIP32) == [other]);
            let took = cut.elapsed();
            assert!(dropped, "{name}'s next hop stayed\n{}", logs(d));
            println!(
                "bfd {mode}: link of {name} cut -> next hop gone from the router's kernel: {took:?}"
            );
            figures.push(took);
            let why = birdc(d, "rtr", &["show", "protocols", "all", name]);
            assert!(why.contains("BFD session down"), "{why}");
            node.ip(&["link", "set", "eth2", "up"]).unwrap();
            assert!(
                wait_for(Duration::from_secs(30), ecmp),
                "{name} never came back\n{}",
                logs(d)
            );
        }
    }
    figures.sort();
    println!("route drop after link cut, sorted: {figures:?}");
    assert!(
        figures.iter().all(|t| *t < DROP_BOUND),
        "{figures:?}\n{}",
        logs(d)
    );
    // rampart's side of the cut: its BFD timed out and closed its BGP
    // session with Cease / BFD Down, as many times as its link was cut.
    let st = status(d, 1);
    let n = &st["bgp"][0];
    assert_eq!(n["bfd"]["down_transitions"], 3, "{st}");
    assert_eq!(n["established_count"], 4, "{st}");
    assert!(log(d, "lb1").contains("BFD Up -> Down (Control Detection Time Expired)"));
}

#[test]
fn rampart_closes_its_session_when_bird_falls_silent() {
    let Some((s, rtr)) = bgp_lab() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut bird = start_bird(&rtr, d, "rtr", &bird_with_bfd(&[("lb1", LB1, "on")]));
    let _lb1 = start_node(&s, d, 1, &node_config(1, ROUTER, "bfd = true", ALWAYS));
    let session = || status(d, 1)["bgp"][0].clone();
    let state = |n: &serde_json::Value| (n["state"].clone(), n["bfd"]["state"].clone());
    assert!(
        wait_for(Duration::from_secs(30), || state(&session())
            == ("Established".into(), "Up".into())),
        "{}",
        logs(d)
    );

    // (c) BIRD stops (SIGSTOP: its BGP connection stays open, so only BFD
    // can tell): rampart's BFD times out after 3 × 100 ms and its BGP
    // session closes, long before the 9 s hold time.
    let frozen = Instant::now();
    bird.signal(Signal::SIGSTOP).unwrap();
    let closed = wait_for(Duration::from_secs(5), || {
        session()["state"] != "Established"
    });
    let took = frozen.elapsed();
    assert!(closed, "{}", logs(d));
    println!("BIRD frozen -> rampart's BGP session closed: {took:?}");
    assert!(took < DROP_BOUND, "{took:?}\n{}", logs(d));
    let n = session();
    assert_eq!(n["bfd"]["state"], "Down", "{n}");
    assert_eq!(n["bfd"]["diag"], "Control Detection Time Expired", "{n}");
    assert_eq!(n["last_error"], "Cease / BFD Down (6, 10)", "{n}");

    // BIRD back: BFD and BGP come back on their own.
    bird.signal(Signal::SIGCONT).unwrap();
    assert!(
        wait_for(Duration::from_secs(30), || state(&session())
            == ("Established".into(), "Up".into())
            && nexthops(&rtr, VIP32) == [LB1]),
        "{}",
        logs(d)
    );
    assert!(bird_established(d, "lb1"));
}

#[test]
fn a_reload_adds_retimes_and_removes_bfd_without_resetting_bgp() {
    let Some((s, rtr)) = bgp_lab() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let _bird = start_bird(&rtr, d, "rtr", &bird_with_bfd(&[("lb1", LB1, "on")]));
    let mut lb1 = start_node(&s, d, 1, &node_config(1, ROUTER, "", ALWAYS));
    let reload = |lb1: &mut rampart_lab::Proc, extra: &str| {
        std::fs::write(d.join("lb1.toml"), node_config(1, ROUTER, extra, ALWAYS)).unwrap();
        lb1.signal(Signal::SIGHUP).unwrap();
    };
    assert!(
        wait_for(Duration::from_secs(30), || nexthops(&rtr, VIP32) == [LB1]),
        "{}",
        logs(d)
    );
    // BIRD asks for BFD; rampart has none yet: BIRD's session stays Down
    // and BGP runs anyway.
    assert_eq!(bird_bfd(d, LB1).map(|b| b.0), Some("Down".into()));
    // (The control socket may come up after the route does.)
    assert!(wait_for(Duration::from_secs(10), || status(d, 1)["bgp"][0]
        ["state"]
        == "Established"));
    assert_eq!(status(d, 1)["bgp"][0]["bfd"], serde_json::Value::Null);

    // Added: Up, and the BGP session untouched.
    reload(&mut lb1, "bfd = true");
    let bird_up =
        |timeout: &str| bird_bfd(d, LB1).is_some_and(|(st, _, t)| st == "Up" && t == timeout);
    assert!(
        wait_for(Duration::from_secs(10), || bird_up("0.300")),
        "{}",
        logs(d)
    );
    let n = status(d, 1)["bgp"][0].clone();
    assert_eq!(
        (n["established_count"].clone(), n["bfd"]["state"].clone()),
        (1.into(), "Up".into()),
        "{n}"
    );

    // New timers: a Poll Sequence, after which BIRD gives us 4 × 200 ms.
    reload(
        &mut lb1,
        "bfd = true\nbfd_interval = \"200ms\"\nbfd_multiplier = 4",
    );
    assert!(
        wait_for(Duration::from_secs(10), || bird_up("0.800")),
        "{:?}\n{}",
        bird_bfd(d, LB1),
        logs(d)
    );
    let n = status(d, 1)["bgp"][0].clone();
    assert_eq!(n["established_count"], 1, "{n}");
    assert_eq!(n["bfd"]["tx_interval_ms"], 200, "{n}");
    assert_eq!(n["bfd"]["down_transitions"], 0, "{n}");
    assert!(bird_established(d, "lb1"));

    // Removed: rampart says AdminDown and stops; BIRD's session goes
    // Down. BIRD (`bfd on`) takes any Up -> Down for a failure and resets
    // its BGP session, as the configuration reference warns; the session
    // comes back without BFD, and so does the route.
    reload(&mut lb1, "");
    assert!(
        wait_for(Duration::from_secs(10), || bird_bfd(d, LB1)
            .is_some_and(|b| b.0 == "Down")),
        "{:?}\n{}",
        bird_bfd(d, LB1),
        logs(d)
    );
    let n = status(d, 1)["bgp"][0].clone();
    assert!(n["state"].is_string() && n["bfd"].is_null(), "{n}");
    assert!(log(d, "lb1").contains("BFD Up -> AdminDown (Administratively Down)"));
    assert!(
        wait_for(Duration::from_secs(30), || bird_established(d, "lb1")
            && nexthops(&rtr, VIP32) == [LB1]),
        "{}",
        logs(d)
    );
    println!(
        "BGP sessions established after removing BFD: {}",
        status(d, 1)["bgp"][0]["established_count"]
    );
}

#[test]
fn over_ipv6_too() {
    const VIP128: &str = "fd00:10::10/128";
    let Some((s, rtr)) = bgp_lab() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let _bird = start_bird(
        &rtr,
        d,
        "rtr",
        &bird_with_bfd(&[("lb1", "fd00:20::11", "on")]),
    );
    let config = node_config(1, ROUTER, "bfd = true", &format!("prefix = \"{VIP128}\"")).replace(
        &format!("address = \"{ROUTER}\""),
        "address = \"fd00:20::1\"",
    );
    let _lb1 = start_node(&s, d, 1, &config);
    let up = || bird_bfd(d, "fd00:20::11").is_some_and(|(state, _, _)| state == "Up");
    assert!(
        wait_for(Duration::from_secs(30), || up()
            && nexthops(&rtr, VIP128) == ["fd00:20::11"]
            && status(d, 1)["bgp"][0]["bfd"]["state"] == "Up"),
        "{}\n{}",
        birdc(d, "rtr", &["show", "bfd", "sessions"]),
        logs(d)
    );
    let cut = Instant::now();
    s.lb1.ip(&["link", "set", "eth2", "down"]).unwrap();
    assert!(wait_for(Duration::from_secs(10), || nexthops(&rtr, VIP128)
        .is_empty()));
    let took = cut.elapsed();
    println!("IPv6: link of lb1 cut -> route gone from the router's kernel: {took:?}");
    assert!(took < DROP_BOUND, "{took:?}\n{}", logs(d));
}

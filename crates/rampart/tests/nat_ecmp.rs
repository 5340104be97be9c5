//! Two nodes active-active in NAT mode behind BIRD with ECMP (the seed
//! guide's BGP design with both LBs announcing the VIP): the router
//! spreads flows over both nodes; each node picks the same server for a
//! flow (the same Maglev table), and the servers' replies go back through
//! whichever node holds the gateway VIP, which rewrites them statelessly.
//! So when a node stops, its flows move to the other and live on.
//! Needs root and BIRD; fails loudly without them.
#![allow(clippy::unwrap_used)]

mod lab;
mod nat;

use std::time::Duration;

use lab::bgp::{bgp_lab, bgp_section, start_node, status};
use lab::bird::{LB_AS, Peer, bird_config, nexthops, start_bird};
use lab::{log, wait_for};
use nat::{Conns, Nginx, nat_config};
use rampart_lab::Signal;

const VIP32: &str = "10.10.0.10/32";
const ROUTER: &str = "10.20.0.1";

fn node(n: u8) -> String {
    nat_config(n, "100ms") + &bgp_section(n, ROUTER, "", &format!("prefix = \"{VIP32}\""), "1s")
}

/// With BFD to the router (100 ms × 3) and VRRP at 50 ms.
fn node_bfd(n: u8) -> String {
    nat_config(n, "50ms")
        + &bgp_section(
            n,
            ROUTER,
            "bfd = true",
            &format!("prefix = \"{VIP32}\""),
            "1s",
        )
}

fn peer(name: &str, address: &str) -> Peer {
    Peer {
        name: name.into(),
        address: address.into(),
        asn: LB_AS,
        password: None,
    }
}

/// Connections the node's NAT table opened, over its servers.
fn opened(dir: &std::path::Path, n: u8) -> u64 {
    let st = status(dir, n);
    st["nat"][0]["servers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| v["connections"].as_u64().unwrap_or(0))
        .sum()
}

/// The BGP lab with nginx on both webs; the router hashes flows on ports
/// too, so that one client's connections spread over both next hops.
fn lab_with_webs() -> Option<(
    rampart_lab::SeedLab,
    rampart_lab::Ns,
    tempfile::TempDir,
    [Nginx; 2],
)> {
    let (s, rtr) = bgp_lab()?;
    let dir = tempfile::tempdir().unwrap();
    let webs = [
        Nginx::start(&s.web1, dir.path(), "web1", "192.168.1.21:8080"),
        Nginx::start(&s.web2, dir.path(), "web2", "192.168.1.22:8080"),
    ];
    rtr.sysctl("net.ipv4.fib_multipath_hash_policy", "1")
        .unwrap();
    Some((s, rtr, dir, webs))
}

#[test]
fn flows_through_two_active_nodes_survive_either_one_stopping() {
    let Some((s, rtr, dir, _webs)) = lab_with_webs() else {
        return;
    };
    let _bird = start_bird(
        &rtr,
        dir.path(),
        "rtr",
        &bird_config(
            ROUTER,
            &[peer("lb1", "10.20.0.11"), peer("lb2", "10.20.0.12")],
        ),
    );
    let mut lb1 = start_node(&s, dir.path(), 1, &node(1));
    let mut lb2 = start_node(&s, dir.path(), 2, &node(2));
    let both = || nexthops(&rtr, VIP32) == ["10.20.0.11", "10.20.0.12"];
    assert!(
        wait_for(Duration::from_secs(20), both),
        "{:?}\n{}",
        nexthops(&rtr, VIP32),
        log(dir.path(), "lb1")
    );
    assert!(wait_for(Duration::from_secs(10), || lab::holds_both(
        &s, "lb1"
    )));

    // 200 flows from the router's side: both nodes carry some.
    let mut conns = Conns::open(&rtr, 200);
    assert!(wait_for(Duration::from_secs(5), || opened(dir.path(), 1)
        > 20
        && opened(dir.path(), 2) > 20));
    let (via1, via2) = (opened(dir.path(), 1), opened(dir.path(), 2));
    println!("flows through lb1: {via1}, through lb2: {via2}");

    // lb2 is not on the servers' way back (lb1 holds the gateway VIP): it
    // sees SYNs go and no SYN-ACK come, and must not take that for dead
    // servers. New connections keep working through both nodes.
    for _ in 0..100 {
        assert!(nat::fetch(&rtr).is_ok(), "{}", log(dir.path(), "lb2"));
        std::thread::sleep(Duration::from_millis(30));
    }
    let st = status(dir.path(), 2);
    for i in 0..2 {
        assert!(
            st["nat"][0]["servers"][i]["share"].as_u64() > Some(0),
            "{st}"
        );
    }

    // lb2 stops: the router withdraws it; its flows go through lb1.
    lb2.signal(Signal::SIGTERM).unwrap();
    assert!(lb2.wait_timeout(Duration::from_secs(15)).unwrap().is_some());
    assert!(wait_for(Duration::from_secs(5), || nexthops(&rtr, VIP32)
        == ["10.20.0.11"]));
    let after_lb2 = conns.survivors();
    println!("lb2 stopped: {after_lb2}/200 flows continue");
    assert!(after_lb2 >= 199, "{}", log(dir.path(), "lb1"));

    // lb2 back; then lb1, which also holds the gateway VIP, stops: the
    // flows and the servers' replies all go through lb2.
    let _lb2 = start_node(&s, dir.path(), 2, &node(2));
    assert!(wait_for(Duration::from_secs(20), both));
    assert_eq!(conns.survivors(), after_lb2);
    lb1.signal(Signal::SIGTERM).unwrap();
    assert!(lb1.wait_timeout(Duration::from_secs(15)).unwrap().is_some());
    assert!(wait_for(Duration::from_secs(5), || nexthops(&rtr, VIP32)
        == ["10.20.0.12"]));
    assert!(wait_for(Duration::from_secs(5), || lab::holds_both(
        &s, "lb2"
    )));
    let after_lb1 = conns.survivors();
    println!("lb1 stopped: {after_lb1}/200 flows continue");
    assert!(after_lb1 + 1 >= after_lb2, "{}", log(dir.path(), "lb2"));
}

#[test]
fn a_node_cut_off_leaves_the_router_through_bfd_and_its_flows_live_on() {
    let Some((s, rtr, dir, _webs)) = lab_with_webs() else {
        return;
    };
    let mut conf = bird_config(
        ROUTER,
        &[peer("lb1", "10.20.0.11"), peer("lb2", "10.20.0.12")],
    );
    for name in ["lb1", "lb2"] {
        let head = format!("protocol bgp {name} {{\n");
        conf = conf.replacen(&head, &format!("{head}    bfd on;\n"), 1);
    }
    conf += "protocol bfd { interface \"eth0\" { interval 100 ms; multiplier 3; }; }\n";
    let _bird = start_bird(&rtr, dir.path(), "rtr", &conf);
    let _lb1 = start_node(&s, dir.path(), 1, &node_bfd(1));
    let _lb2 = start_node(&s, dir.path(), 2, &node_bfd(2));
    assert!(
        wait_for(Duration::from_secs(30), || nexthops(&rtr, VIP32)
            == ["10.20.0.11", "10.20.0.12"]),
        "{}",
        log(dir.path(), "lb1")
    );
    assert!(wait_for(Duration::from_secs(10), || {
        status(dir.path(), 1)["bgp"][0]["bfd"]["state"] == "Up" && lab::holds_both(&s, "lb1")
    }));
    let mut conns = Conns::open(&rtr, 200);
    assert!(wait_for(Duration::from_secs(5), || opened(dir.path(), 1)
        > 20
        && opened(dir.path(), 2) > 20));

    // lb1 (which also holds the gateway VIP) is cut off: BFD takes it out
    // of the router's route, VRRP moves the gateway VIP to lb2.
    let t = std::time::Instant::now();
    for ifname in ["eth0", "eth1", "eth2"] {
        s.lb1.set_link(ifname, false).unwrap();
    }
    assert!(
        wait_for(Duration::from_secs(5), || nexthops(&rtr, VIP32)
            == ["10.20.0.12"]),
        "{}",
        log(dir.path(), "rtr")
    );
    let dropped = t.elapsed();
    let alive = conns.survivors();
    println!("lb1 cut off: the router dropped it after {dropped:?}; {alive}/200 flows continue");
    assert!(dropped < Duration::from_secs(1), "{dropped:?}");
    // At least 99.5 %.
    assert!(alive >= 199, "{}", log(dir.path(), "lb2"));
}

//! rampart announcing the seed guide's service IP to a router running
//! FRRouting's bgpd (a second real peer besides BIRD), in namespaces built
//! by rampart-lab. bgpd runs alone (no zebra), so assertions read its own
//! RIB and neighbor state through `vtysh ... json` (see `lab::frr`).
//! Needs root; fails loudly without it.
#![allow(clippy::unwrap_used)]

mod lab;

use std::path::Path;
use std::time::Duration;

use lab::bgp::{bgp_lab, node_config, start_node, status};
use lab::bird::{LB_AS, ROUTER_AS};
use lab::frr::{frr_config, frr_neighbor, frr_paths, frr_state, path_nexthops, start_frr, vtysh};
use lab::{Web, log, wait_for};
use rampart_lab::{Ns, Proc, Signal};

const VIP32: &str = "10.10.0.10/32";
const VIP128: &str = "fd00:10::10/128";
const ROUTER: &str = "10.20.0.1";
const ROUTER6: &str = "fd00:20::1";
const LB1: &str = "10.20.0.11";
const LB1_6: &str = "fd00:20::11";
const LB2: &str = "10.20.0.12";

/// The next hops of bgpd's paths to `prefix` (one per path).
fn frr_nexthops(dir: &Path, prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = frr_paths(dir, prefix)
        .iter()
        .filter_map(|p| path_nexthops(p).into_iter().next())
        .collect();
    v.sort();
    v
}

/// Everything useful when an assertion fails.
fn logs(dir: &Path) -> String {
    format!(
        "--- lb1\n{}\n--- lb2\n{}\n--- rtr (bgpd)\n{}",
        log(dir, "lb1"),
        log(dir, "lb2"),
        log(dir, "rtr")
    )
}

/// bgpd's message counter `key` for neighbor `addr` (`messageStats`).
fn frr_stat(dir: &Path, addr: &str, key: &str) -> u64 {
    frr_neighbor(dir, addr)["messageStats"][key]
        .as_u64()
        .unwrap_or_default()
}

fn frr_established(dir: &Path, addr: &str) -> bool {
    frr_state(dir, addr) == "Established"
}

/// bgpd (AS 65530, router id 10.20.0.1) with these neighbors.
fn start_router(rtr: &Ns, dir: &Path, peers: &[(&str, u32, Option<&str>)]) -> Proc {
    start_frr(rtr, dir, "rtr", &frr_config(ROUTER_AS, ROUTER, peers))
}

/// The lab, and FRR on the router peering with lb1 alone.
fn frr_for_lb1() -> Option<(
    rampart_lab::SeedLab,
    rampart_lab::Ns,
    tempfile::TempDir,
    rampart_lab::Proc,
)> {
    let (s, rtr) = bgp_lab()?;
    let dir = tempfile::tempdir().unwrap();
    let frr = start_router(&rtr, dir.path(), &[(LB1, LB_AS, None)]);
    Some((s, rtr, dir, frr))
}

/// Waits (bounded) until bgpd holds `prefix` from exactly `nexthops`.
fn wait_route(dir: &Path, prefix: &str, nexthops: &[&str], limit: Duration) -> bool {
    wait_for(limit, || frr_nexthops(dir, prefix) == nexthops)
}

#[test]
fn frr_receives_the_route_and_rampart_sees_frr_capabilities() {
    let Some((s, _rtr, dir, _frr)) = frr_for_lb1() else {
        return;
    };
    let d = dir.path();
    let announce = format!("prefix = \"{VIP32}\"");
    let _lb1 = start_node(&s, d, 1, &node_config(1, ROUTER, "", &announce));
    assert!(
        wait_route(d, VIP32, &[LB1], Duration::from_secs(15)),
        "route never reached bgpd\n{}",
        logs(d)
    );

    // bgpd's view of the session.
    let nb = frr_neighbor(d, LB1);
    assert_eq!(nb["bgpState"], "Established", "{nb:#}");
    assert_eq!(nb["remoteAs"], LB_AS);
    assert_eq!(nb["remoteRouterId"], LB1);
    assert_eq!(nb["bgpTimerHoldTimeMsecs"], 9000, "{nb:#}");
    let caps = &nb["neighborCapabilities"];
    assert_eq!(caps["4byteAs"], "advertisedAndReceived", "{caps:#}");
    // "New" = the RFC 2918 code 2 (not the pre-standard 128).
    assert_eq!(caps["routeRefresh"], "advertisedAndReceivedNew", "{caps:#}");
    assert_eq!(
        caps["multiprotocolExtensions"]["ipv4Unicast"]["advertisedAndReceived"], true,
        "{caps:#}"
    );
    assert_eq!(nb["messageStats"]["notificationsRecv"], 0, "{nb:#}");
    assert_eq!(nb["messageStats"]["notificationsSent"], 0, "{nb:#}");
    assert_eq!(nb["connectionsDropped"], 0, "{nb:#}");
    assert_eq!(
        nb["addressFamilyInfo"]["ipv4Unicast"]["acceptedPrefixCounter"], 1,
        "{nb:#}"
    );

    // The route as bgpd holds it, once best-path selection has run (it
    // lists a path a moment before).
    assert!(wait_for(Duration::from_secs(5), || {
        frr_paths(d, VIP32)
            .first()
            .is_some_and(|p| p["bestpath"]["overall"] == true)
    }));
    let paths = frr_paths(d, VIP32);
    assert_eq!(paths.len(), 1, "{paths:#?}");
    let p = &paths[0];
    assert_eq!(p["aspath"]["string"], "65000", "{p:#}");
    assert_eq!(p["aspath"]["segments"][0]["type"], "as-sequence", "{p:#}");
    assert_eq!(p["origin"], "IGP", "{p:#}");
    assert_eq!(p["valid"], true, "{p:#}");
    assert_eq!(p["bestpath"]["overall"], true, "{p:#}");
    assert_eq!(p["peer"]["type"], "external", "{p:#}");
    assert_eq!(path_nexthops(p), [LB1], "{p:#}");

    // rampart's view: Established, with FRR's capabilities.
    let st = status(d, 1);
    let n = &st["bgp"][0];
    assert_eq!(n["state"], "Established", "{st}");
    assert_eq!(n["neighbor_as"], ROUTER_AS, "{st}");
    assert_eq!(n["neighbor_router_id"], ROUTER, "{st}");
    assert_eq!(n["hold_time"], 9, "{st}");
    assert_eq!(n["four_octet_as"], true, "{st}");
    assert_eq!(n["routes_exported"], 1, "{st}");
    let remote: Vec<&str> = n["capabilities_remote"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    for cap in [
        "4-octet-as 65530",
        "route-refresh",
        "multiprotocol ipv4-unicast",
        "multiprotocol ipv6-unicast",
    ] {
        assert!(remote.contains(&cap), "{cap} missing from {remote:?}");
    }
    assert!(
        !log(d, "rtr").contains("NOTIFICATION"),
        "bgpd sent or received a NOTIFICATION\n{}",
        logs(d)
    );
}

#[test]
fn route_refresh_from_frr_is_answered() {
    let Some((s, _rtr, dir, _frr)) = frr_for_lb1() else {
        return;
    };
    let d = dir.path();
    let announce = format!("prefix = \"{VIP32}\"");
    let _lb1 = start_node(&s, d, 1, &node_config(1, ROUTER, "", &announce));
    assert!(
        wait_route(d, VIP32, &[LB1], Duration::from_secs(15)),
        "{}",
        logs(d)
    );
    // Let the initial exchange (UPDATE, End-of-RIB) settle.
    std::thread::sleep(Duration::from_millis(300));
    let updates = frr_stat(d, LB1, "updatesRecv");
    let refreshes = frr_stat(d, LB1, "routeRefreshSent");
    let out = vtysh(d, &format!("clear bgp {LB1} soft in"));
    assert!(!out.contains('%'), "clear refused: {out}");
    let sent = wait_for(Duration::from_secs(5), || {
        frr_stat(d, LB1, "routeRefreshSent") > refreshes
    });
    assert!(sent, "bgpd sent no ROUTE-REFRESH\n{}", logs(d));
    // rampart answers by sending its routes again. (bgpd 8.4 also asks
    // for IPv6 unicast, which this session did not negotiate: RFC 2918
    // says to ignore that, and the checks below see no reset.)
    let answered = wait_for(Duration::from_secs(5), || {
        frr_stat(d, LB1, "updatesRecv") > updates
    });
    assert!(answered, "no UPDATE after the ROUTE-REFRESH\n{}", logs(d));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(frr_nexthops(d, VIP32), [LB1], "{}", logs(d));
    let nb = frr_neighbor(d, LB1);
    assert_eq!(nb["bgpState"], "Established", "{nb:#}");
    assert_eq!(nb["connectionsEstablished"], 1, "session reset\n{nb:#}");
    assert_eq!(nb["messageStats"]["notificationsRecv"], 0, "{nb:#}");
    assert_eq!(nb["messageStats"]["notificationsSent"], 0, "{nb:#}");
    assert_eq!(status(d, 1)["bgp"][0]["state"], "Established");
}

#[test]
fn withdraws_from_frr_when_the_backends_die() {
    let Some((s, _rtr, dir, _frr)) = frr_for_lb1() else {
        return;
    };
    let d = dir.path();
    let webs = [
        Web::start(&s.web1, "192.168.1.21:8080", "web1"),
        Web::start(&s.web2, "192.168.1.22:8080", "web2"),
    ];
    let announce = format!("prefix = \"{VIP32}\"\npolicy = {{ while_healthy = \"www\" }}");
    let _lb1 = start_node(&s, d, 1, &node_config(1, ROUTER, "", &announce));
    assert!(
        wait_route(d, VIP32, &[LB1], Duration::from_secs(15)),
        "route never reached bgpd\n{}",
        logs(d)
    );

    drop(webs);
    assert!(
        wait_route(d, VIP32, &[], Duration::from_secs(10)),
        "route not withdrawn\n{}",
        logs(d)
    );
    let nb = frr_neighbor(d, LB1);
    assert_eq!(
        nb["bgpState"], "Established",
        "withdrawing must not reset the session\n{nb:#}"
    );
    assert_eq!(nb["connectionsEstablished"], 1, "{nb:#}");
    assert_eq!(
        nb["addressFamilyInfo"]["ipv4Unicast"]["acceptedPrefixCounter"], 0,
        "{nb:#}"
    );

    // Back again once the backends are (after the 1 s hold-down).
    let _webs = [
        Web::start(&s.web1, "192.168.1.21:8080", "web1"),
        Web::start(&s.web2, "192.168.1.22:8080", "web2"),
    ];
    assert!(
        wait_route(d, VIP32, &[LB1], Duration::from_secs(10)),
        "route not announced again\n{}",
        logs(d)
    );
    assert_eq!(frr_neighbor(d, LB1)["connectionsEstablished"], 1);
}

#[test]
fn graceful_stop_withdraws_then_sends_administrative_shutdown() {
    let Some((s, _rtr, dir, _frr)) = frr_for_lb1() else {
        return;
    };
    let d = dir.path();
    let announce = format!("prefix = \"{VIP32}\"");
    let mut lb1 = start_node(&s, d, 1, &node_config(1, ROUTER, "", &announce));
    assert!(
        wait_route(d, VIP32, &[LB1], Duration::from_secs(15)),
        "{}",
        logs(d)
    );

    lb1.signal(Signal::SIGTERM).unwrap();
    // The route goes first, while the session is still up...
    let mut open_when_withdrawn = false;
    let withdrawn = wait_for(Duration::from_secs(5), || {
        let gone = frr_paths(d, VIP32).is_empty();
        if gone {
            open_when_withdrawn = frr_established(d, LB1);
        }
        gone
    });
    assert!(withdrawn, "route not withdrawn\n{}", logs(d));
    assert!(
        open_when_withdrawn,
        "the route must go before the session\n{}",
        logs(d)
    );
    // ...then a Cease / Administrative Shutdown with our message.
    assert!(
        wait_for(Duration::from_secs(5), || !frr_established(d, LB1)),
        "{}",
        logs(d)
    );
    let nb = frr_neighbor(d, LB1);
    // One NOTIFICATION on the wire (bgpd 8.4 counts each received one
    // twice in `notificationsRecv`, so its log is the reference).
    let frr_log = log(d, "rtr");
    let received: Vec<&str> = frr_log
        .lines()
        .filter(|l| l.contains("NOTIFICATION: received"))
        .collect();
    assert_eq!(received.len(), 1, "{}", logs(d));
    assert!(
        received[0].contains("6/2 (Cease/Administrative Shutdown) \"rampart is shutting down\""),
        "{}",
        received[0]
    );
    assert!(nb["messageStats"]["notificationsRecv"].as_u64() >= Some(1));
    assert_eq!(nb["messageStats"]["notificationsSent"], 0, "{nb:#}");
    assert_eq!(nb["lastErrorCodeSubcode"], "0602", "{nb:#}");
    assert_eq!(
        nb["lastNotificationReason"], "Cease/Administrative Shutdown",
        "{nb:#}"
    );
    assert_eq!(
        nb["lastShutdownDescription"], "rampart is shutting down",
        "{nb:#}"
    );
    assert!(
        lb1.wait_timeout(Duration::from_secs(10)).unwrap().is_some(),
        "rampart did not exit\n{}",
        logs(d)
    );
}

#[test]
fn md5_password_with_frr() {
    let Some((s, rtr)) = bgp_lab() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let _frr = start_router(
        &rtr,
        d,
        &[(LB1, LB_AS, Some("s3cret")), (LB2, LB_AS, Some("s3cret"))],
    );
    let announce = format!("prefix = \"{VIP32}\"");
    let _lb1 = start_node(
        &s,
        d,
        1,
        &node_config(1, ROUTER, "password = \"s3cret\"", &announce),
    );
    let _lb2 = start_node(
        &s,
        d,
        2,
        &node_config(2, ROUTER, "password = \"wrong\"", &announce),
    );
    assert!(
        wait_route(d, VIP32, &[LB1], Duration::from_secs(15)),
        "{}",
        logs(d)
    );
    assert!(frr_established(d, LB1));
    assert_eq!(status(d, 1)["bgp"][0]["password"], "set");
    // lb2 keeps trying for a while and never gets through.
    std::thread::sleep(Duration::from_secs(3));
    assert!(!frr_established(d, LB2), "{}", logs(d));
    assert_ne!(status(d, 2)["bgp"][0]["state"], "Established");
    assert_eq!(frr_nexthops(d, VIP32), [LB1]);
}

#[test]
fn ipv6_host_route_to_frr() {
    let Some((s, rtr)) = bgp_lab() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let _frr = start_router(&rtr, d, &[(LB1_6, LB_AS, None)]);
    let announce = format!("prefix = \"{VIP128}\"");
    let _lb1 = start_node(&s, d, 1, &node_config(1, ROUTER6, "", &announce));
    // bgpd lists a path a moment before it has run best-path selection.
    let ok = wait_for(Duration::from_secs(15), || {
        let paths = frr_paths(d, VIP128);
        paths.len() == 1 && paths[0]["bestpath"]["overall"] == true
    });
    assert!(
        ok,
        "{}\n{}",
        logs(d),
        vtysh(d, "show bgp ipv6 unicast json")
    );
    let p = &frr_paths(d, VIP128)[0];
    assert_eq!(p["aspath"]["string"], "65000", "{p:#}");
    assert_eq!(p["valid"], true, "{p:#}");
    assert_eq!(p["bestpath"]["overall"], true, "{p:#}");
    let global: Vec<&str> = p["nexthops"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["scope"] == "global")
        .filter_map(|n| n["ip"].as_str())
        .collect();
    assert_eq!(global, [LB1_6], "{p:#}");
    let nb = frr_neighbor(d, LB1_6);
    assert_eq!(nb["bgpState"], "Established", "{nb:#}");
    assert_eq!(
        nb["neighborCapabilities"]["multiprotocolExtensions"]["ipv6Unicast"]["advertisedAndReceived"],
        true,
        "{nb:#}"
    );
    let st = status(d, 1);
    assert_eq!(st["bgp"][0]["state"], "Established", "{st}");
    assert_eq!(
        st["bgp"][0]["families"],
        serde_json::json!(["Ipv6Unicast"]),
        "{st}"
    );
}

//! The LB pair as the private subnet's gateway (the seed guide's
//! `ip_forward` + `MASQUERADE`): a web server reaches a host on the public
//! side through whichever node holds the gateway VIP, and that host sees
//! the node's public address. Namespaces built by rampart-lab, rules
//! applied by the real `nft`. Needs root; fails loudly without it.
#![allow(clippy::unwrap_used)]

mod lab;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use lab::{
    Timing, Web, holder, ip_forward, log, nft_table, rampart_config, start_rampart, wait_for,
};
use rampart_lab::{Ns, Signal, seed_lab};

const GATEWAY: &str = r#"
[gateway]
masquerade = [{ source = "192.168.1.0/24", out = "eth0" }]
"#;

/// An "internet" host on the public side (the client namespace) that
/// answers every connection with the address it came from.
fn who_am_i_server(ns: &Ns) {
    let (tx, rx) = std::sync::mpsc::channel();
    ns.spawn_thread(move || {
        let l = TcpListener::bind("10.10.0.100:9000").unwrap();
        tx.send(()).unwrap();
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let peer = s
                .peer_addr()
                .map(|p| p.ip().to_string())
                .unwrap_or_default();
            let _ = s.write_all(peer.as_bytes());
        }
    })
    .unwrap();
    rx.recv_timeout(Duration::from_secs(5)).unwrap();
}

/// From `web`: connect to the public host and read what it saw, or the
/// error (no route back without NAT: the connect times out).
fn seen_from(web: &Ns) -> Result<String, String> {
    web.run_in(|| {
        let to: SocketAddr = "10.10.0.100:9000".parse().unwrap();
        let mut s = TcpStream::connect_timeout(&to, Duration::from_millis(500))
            .map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut seen = String::new();
        s.read_to_string(&mut seen).map_err(|e| e.to_string())?;
        Ok(seen)
    })
    .unwrap()
}

/// Waits until the public host sees `web`'s connections come from `from`;
/// the last answer (or error) otherwise.
fn reaches_as(web: &Ns, from: &str) -> Result<(), Result<String, String>> {
    let mut seen = Err(String::new());
    if wait_for(Duration::from_secs(5), || {
        seen = seen_from(web);
        seen.as_deref() == Ok(from)
    }) {
        Ok(())
    } else {
        Err(seen)
    }
}

#[test]
fn the_pair_is_the_subnets_nat_gateway_and_fails_over() {
    if !rampart_lab::require_root() {
        return;
    }
    let s = seed_lab().unwrap();
    who_am_i_server(&s.client);
    // Without a gateway the public host has no route back to 192.168.1.0/24.
    assert!(seen_from(&s.web1).is_err());
    assert_eq!(ip_forward(&s.lb1), "0");

    let _webs = [
        Web::start(&s.web1, "192.168.1.21:8080", "web1"),
        Web::start(&s.web2, "192.168.1.22:8080", "web2"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let config = |n| rampart_config(n, Timing::V3Fast, "") + GATEWAY;
    let mut lb1 = start_rampart(&s.lb1, dir.path(), "lb1", &config(1));
    let mut lb2 = start_rampart(&s.lb2, dir.path(), "lb2", &config(2));
    assert!(
        wait_for(Duration::from_secs(10), || holder(&s, lab::gateway())
            == ["lb1"]),
        "lb1 never held the gateway VIP\n{}",
        log(dir.path(), "lb1")
    );
    for lb in [&s.lb1, &s.lb2] {
        assert_eq!(ip_forward(lb), "1");
        let table = nft_table(lb);
        assert!(
            table.contains("ip saddr 192.168.1.0/24 oifname \"eth0\" counter packets")
                && table.contains("masquerade comment \"nat 192.168.1.0/24 out eth0\""),
            "{table}"
        );
    }
    if let Err(seen) = reaches_as(&s.web1, "10.10.0.11") {
        panic!(
            "web1 -> public host through lb1: {seen:?}\n{}",
            log(dir.path(), "lb1")
        );
    }
    assert_eq!(seen_from(&s.web2).as_deref(), Ok("10.10.0.11"));
    let st = lab::bgp::status(dir.path(), 1);
    assert_eq!(
        st["gateway"]["forwarding"],
        serde_json::json!([["ipv4", true]]),
        "{st}"
    );
    assert_eq!(
        st["gateway"]["masquerade"],
        serde_json::json!(["192.168.1.0/24 out eth0"]),
        "{st}"
    );
    // What went through it: web1's and web2's connections, each way (read
    // from nft every 5 s).
    let mut st = st;
    assert!(
        wait_for(Duration::from_secs(7), || {
            st = lab::bgp::status(dir.path(), 1);
            st["gateway"]["nat"][0]["connections"].as_u64() >= Some(2)
        }),
        "{st}"
    );
    let nat = &st["gateway"]["nat"][0];
    assert_eq!(nat["rule"], "192.168.1.0/24 out eth0", "{st}");
    let n = |k: &str| nat[k].as_u64().unwrap_or(0);
    assert!(n("connections") >= 2, "{st}");
    assert!(
        n("packets_out") >= 2 * 3 && n("packets_in") >= 2 * 3,
        "{st}"
    );
    assert!(n("bytes_out") > n("packets_out") * 40, "{st}");
    assert!(n("bytes_in") > n("packets_in") * 40, "{st}");

    // lb1 stops: lb2 takes the gateway VIP and the subnet's traffic;
    // lb1 leaves no rule behind and forwarding as it found it.
    lb1.signal(Signal::SIGTERM).unwrap();
    assert!(lb1.wait_timeout(Duration::from_secs(10)).unwrap().is_some());
    assert_eq!(holder(&s, lab::gateway()), ["lb2"]);
    if let Err(seen) = reaches_as(&s.web1, "10.10.0.12") {
        panic!(
            "web1 -> public host through lb2: {seen:?}\n{}",
            log(dir.path(), "lb2")
        );
    }
    assert_eq!(nft_table(&s.lb1), "");
    assert_eq!(ip_forward(&s.lb1), "0");

    // A reload without [gateway]: lb2 stops forwarding and translating,
    // and the subnet is cut off again; one with it restores both.
    let path = dir.path().join("lb2.toml");
    std::fs::write(&path, rampart_config(2, Timing::V3Fast, "")).unwrap();
    lb2.signal(Signal::SIGHUP).unwrap();
    assert!(
        wait_for(Duration::from_secs(5), || nft_table(&s.lb2).is_empty()),
        "{}",
        log(dir.path(), "lb2")
    );
    assert_eq!(ip_forward(&s.lb2), "0");
    assert!(seen_from(&s.web1).is_err());
    std::fs::write(&path, config(2)).unwrap();
    lb2.signal(Signal::SIGHUP).unwrap();
    if let Err(seen) = reaches_as(&s.web1, "10.10.0.12") {
        panic!(
            "after the reload that brought [gateway] back: {seen:?}\n{}",
            log(dir.path(), "lb2")
        );
    }
    assert_eq!(ip_forward(&s.lb2), "1");

    // Killed without a chance to clean up — supervisor and worker at once,
    // the worker frozen first so that it cannot take the table down as an
    // orphan does (vrrp_lab tests that) — then started again without
    // [gateway]: the new run removes the old table and sets forwarding
    // back to what the first run found (0), not to its own 1.
    let workers = lab::children(lb2.pid());
    assert_eq!(workers.len(), 1, "{}", log(dir.path(), "lb2"));
    let worker = nix::unistd::Pid::from_raw(workers[0] as i32);
    nix::sys::signal::kill(worker, Signal::SIGSTOP).unwrap();
    lb2.kill().unwrap();
    nix::sys::signal::kill(worker, Signal::SIGKILL).unwrap();
    assert!(!nft_table(&s.lb2).is_empty());
    assert_eq!(ip_forward(&s.lb2), "1");
    let mut lb2 = start_rampart(
        &s.lb2,
        dir.path(),
        "lb2",
        &rampart_config(2, Timing::V3Fast, ""),
    );
    assert!(
        wait_for(Duration::from_secs(5), || nft_table(&s.lb2).is_empty()
            && ip_forward(&s.lb2) == "0"),
        "{}",
        log(dir.path(), "lb2")
    );
    lb2.signal(Signal::SIGTERM).unwrap();
    assert!(lb2.wait_timeout(Duration::from_secs(10)).unwrap().is_some());
}

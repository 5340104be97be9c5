//! `rampart upgrade` on the seed guide's lab: lb1 serves clients, holds
//! the VIPs against keepalived on lb2 and announces the service IP to a
//! router running the real BIRD 2; its binary is replaced on disk (as a
//! package upgrade does) and the node is told to upgrade, under load. No
//! request may fail, no VRRP instance may change state on either node,
//! BIRD's session must not reset (same "since" time, no NOTIFICATION) and
//! the router's kernel route must not change. Needs root; fails loudly
//! without it.
#![allow(clippy::unwrap_used)]

mod lab;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use lab::bgp::{bgp_lab, bgp_section, status};
use lab::bird::{LB_AS, Peer, bird_config, birdc, kernel_route, start_bird};
use lab::keepalived::{KaOpts, keepalived_config, start_keepalived};
use lab::{Timing, Web, get, log, rampart_config, wait_for};
use rampart_lab::{Ns, Proc};

const VIP32: &str = "10.10.0.10/32";
const ROUTER: &str = "10.20.0.1";
/// lb1's own public address: the frontend binds it, so this test needs no
/// VRRP.
const LB1: &str = "10.10.0.11:80";

/// The binary "installed" for the node: a copy it runs from, replaced the
/// way dpkg does (a new file renamed over the old one).
fn install(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let path = bin.join("rampart");
    let tmp = bin.join("rampart.dpkg-new");
    std::fs::copy(env!("CARGO_BIN_EXE_rampart"), &tmp).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    path
}

fn start(ns: &Ns, dir: &Path, binary: &Path, config: &str) -> Proc {
    let path = dir.join("lb1.toml");
    std::fs::write(&path, config).unwrap();
    let out = std::fs::File::create(dir.join("lb1.log")).unwrap();
    let mut cmd = ns.command(binary.to_str().unwrap());
    cmd.args(["run", "-c"])
        .arg(&path)
        .arg("--runtime-dir")
        .arg(dir.join("lb1.run"))
        .arg("--control")
        .arg(dir.join("lb1.sock"))
        .env("RUST_LOG", "info")
        .stdout(out.try_clone().unwrap())
        .stderr(out);
    Proc::spawn(&mut cmd).unwrap()
}

/// lb1 installed and serving on its own address (no VRRP, no BGP): the
/// installed binary, the node, the address it serves.
fn serving(s: &rampart_lab::SeedLab, dir: &Path) -> (PathBuf, Proc, SocketAddr) {
    let binary = install(dir);
    let config = lab::proxy_section().replace("10.10.0.10:80", LB1);
    let node = start(&s.lb1, dir, &binary, &config);
    let addr: SocketAddr = LB1.parse().unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || s
            .client
            .run_in(move || get(addr))
            .unwrap()
            .is_ok()),
        "lb1 does not serve:\n{}",
        log(dir, "lb1")
    );
    (binary, node, addr)
}

fn upgrade(dir: &Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["upgrade", "--control"])
        .arg(dir.join("lb1.sock"))
        .output()
        .unwrap()
}

/// BIRD's `show protocols` line for lb1: name, proto, table, state, since,
/// info. The "since" column changes with every state change.
fn bird_session(dir: &Path) -> String {
    birdc(dir, "rtr", &["show", "protocols", "lb1"])
        .lines()
        .find(|l| l.starts_with("lb1"))
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Clients hammering `addr` from `ns` until stopped: (ok, failed).
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(ns: &Ns, addr: SocketAddr, clients: usize) -> Load {
        let (stop, ok, failed) = (Arc::default(), Arc::default(), Arc::default());
        let threads = (0..clients)
            .map(|_| {
                let (stop, ok, failed): (Arc<AtomicBool>, Arc<AtomicU64>, Arc<AtomicU64>) =
                    (Arc::clone(&stop), Arc::clone(&ok), Arc::clone(&failed));
                let t = ns
                    .spawn_thread(move || {
                        while !stop.load(Ordering::Relaxed) {
                            match get(addr) {
                                Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                                Err(e) => {
                                    eprintln!("failed request: {e}");
                                    failed.fetch_add(1, Ordering::Relaxed)
                                }
                            };
                        }
                    })
                    .unwrap();
                std::thread::spawn(move || {
                    let _ = t.join();
                })
            })
            .collect();
        Load {
            stop,
            ok,
            failed,
            threads,
        }
    }

    fn counts(&self) -> (u64, u64) {
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }

    fn finish(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

#[test]
fn an_upgrade_under_load_fails_no_request_and_resets_no_bgp_session() {
    let Some((s, rtr)) = bgp_lab() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let peer = Peer {
        name: "lb1".into(),
        address: "10.20.0.11".into(),
        asn: LB_AS,
        password: None,
    };
    let _bird = start_bird(&rtr, dir.path(), "rtr", &bird_config(ROUTER, &[peer]));
    let _webs = [
        Web::start(&s.web1, "192.168.1.21:8080", "web1"),
        Web::start(&s.web2, "192.168.1.22:8080", "web2"),
    ];
    let binary = install(dir.path());
    let config = lab::proxy_section().replace("10.10.0.10:80", LB1)
        + &bgp_section(1, ROUTER, "", &format!("prefix = \"{VIP32}\""), "1s");
    let _lb1 = start(&s.lb1, dir.path(), &binary, &config);
    assert!(
        wait_for(Duration::from_secs(20), || kernel_route(&rtr, VIP32)
            .contains("10.20.0.11")),
        "no route at the router:\n{}\n{}",
        log(dir.path(), "lb1"),
        log(dir.path(), "rtr")
    );
    // Let the session settle (BIRD's "since" has second resolution).
    std::thread::sleep(Duration::from_millis(1500));
    let session = bird_session(dir.path());
    assert!(session.contains("Established"), "{session}");
    let route = kernel_route(&rtr, VIP32);
    let pid = _lb1.pid();

    let load = Load::start(&s.client, LB1.parse().unwrap(), 4);
    std::thread::sleep(Duration::from_millis(700));
    let (before_ok, _) = load.counts();
    // The operator's state crosses too (no state file here).
    let drain = std::process::Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["server", "drain", "nginx_pool/web1", "--control"])
        .arg(dir.path().join("lb1.sock"))
        .output()
        .unwrap();
    assert!(drain.status.success(), "{drain:?}");
    // The file on disk is not what runs (here: broken): an upgrade runs
    // the running config; the file is a reload's business.
    std::fs::write(dir.path().join("lb1.toml"), "[[frontend]\nbroken").unwrap();
    // The package manager puts a new binary in place...
    install(dir.path());
    // ...and the operator (or `systemctl reload`) upgrades.
    let out = upgrade(dir.path());
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}\n{}", log(dir.path(), "lb1"));
    assert!(said.contains("upgraded: rampart"), "{said}");
    std::thread::sleep(Duration::from_millis(1500));
    let (ok, failed) = load.finish();
    eprintln!("requests: {ok} ok, {failed} failed ({before_ok} before the upgrade)");
    assert_eq!(failed, 0, "{}", log(dir.path(), "lb1"));
    assert!(ok > before_ok + 50, "{ok} requests, {before_ok} before");

    // The same process, a new program, one worker left.
    let status = status(dir.path(), 1);
    assert_eq!(status["upgrades"], 1, "{status}");
    assert_eq!(status["bgp"][0]["state"], "Established", "{status}");
    let web1 = status["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["server"] == "web1")
        .unwrap();
    assert_eq!(web1["admin"], "drain", "{status}");
    let lb1 = LB1.parse().unwrap();
    for _ in 0..20 {
        assert_eq!(s.client.run_in(move || get(lb1)).unwrap().unwrap(), "web2");
    }
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(
        cmdline.starts_with(b"rampart: supervisor\0run\0"),
        "{}",
        String::from_utf8_lossy(&cmdline)
    );
    assert!(
        wait_for(Duration::from_secs(5), || lab::children(pid).len() == 1),
        "the previous worker did not finish: {:?}",
        lab::children(pid)
    );
    // The router noticed nothing.
    assert_eq!(
        bird_session(dir.path()),
        session,
        "{}\n{}",
        log(dir.path(), "lb1"),
        log(dir.path(), "rtr")
    );
    assert_eq!(kernel_route(&rtr, VIP32), route);
    let lb1_log = log(dir.path(), "lb1");
    let after = &lb1_log[lb1_log.find("upgraded from").unwrap()..];
    assert!(after.contains("BGP session taken over"), "{lb1_log}");
    // No state change of its own either.
    assert!(!after.contains(" -> "), "{lb1_log}");
}

/// A binary that is not rampart, or refuses the config, is not executed:
/// the node goes on as it was, and says why.
#[test]
fn an_upgrade_to_a_broken_binary_changes_nothing() {
    let Some((s, _rtr)) = bgp_lab() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let _webs = [
        Web::start(&s.web1, "192.168.1.21:8080", "web1"),
        Web::start(&s.web2, "192.168.1.22:8080", "web2"),
    ];
    let (binary, node, addr) = serving(&s, dir.path());
    for (script, why) in [
        ("#!/bin/sh\nexit 1\n", "--version failed"),
        ("#!/bin/sh\necho something else 1.0\n", "is not rampart"),
        (
            "#!/bin/sh\n[ \"$1\" = --version ] && echo rampart 9.9 && exit 0\necho nope >&2\nexit 1\n",
            "does not accept",
        ),
    ] {
        let tmp = binary.with_extension("new");
        std::fs::write(&tmp, script).unwrap();
        std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        std::fs::rename(&tmp, &binary).unwrap();
        let out = upgrade(dir.path());
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{said}");
        assert!(
            said.contains("upgrade failed") && said.contains(why),
            "{said}"
        );
        assert!(s.client.run_in(move || get(addr)).unwrap().is_ok());
        assert_eq!(status(dir.path(), 1)["upgrades"], 0);
        assert_eq!(lab::children(node.pid()).len(), 1);
    }
}

/// The time between the first log lines containing `from` and `to`
/// (their RFC 3339 timestamps).
fn between(log: &str, from: &str, to: &str) -> Option<Duration> {
    let at = |needle: &str| -> Option<f64> {
        let line = log.lines().find(|l| l.contains(needle))?;
        // 2026-12-07T03:47:18.821453Z: seconds within the day.
        let t = line
            .split_whitespace()
            .next()?
            .split('T')
            .nth(1)?
            .trim_end_matches('Z');
        let mut parts = t.split(':');
        let (h, m, s): (f64, f64, f64) = (
            parts.next()?.parse().ok()?,
            parts.next()?.parse().ok()?,
            parts.next()?.parse().ok()?,
        );
        Some(h * 3600.0 + m * 60.0 + s)
    };
    Some(Duration::from_secs_f64((at(to)? - at(from)?).max(0.0)))
}

/// How many times keepalived's `name` entered a state (lb2's log).
fn ka_entered(dir: &Path, name: &str) -> usize {
    log(dir, "lb2")
        .lines()
        .filter(|l| l.contains(&format!("({name}) Entering")))
        .count()
}

/// rampart's VRRP state changes (lb1's log: `VRRP a -> b instance=..`).
fn vrrp_transitions(dir: &Path) -> usize {
    log(dir, "lb1")
        .lines()
        .filter(|l| l.contains("VRRP ") && l.contains(" -> ") && l.contains("instance="))
        .count()
}

#[test]
fn an_upgrade_moves_no_vip_and_no_route_with_keepalived_and_bird_as_peers() {
    let Some((s, rtr)) = bgp_lab() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let peer = Peer {
        name: "lb1".into(),
        address: "10.20.0.11".into(),
        asn: LB_AS,
        password: None,
    };
    let _bird = start_bird(&rtr, d, "rtr", &bird_config(ROUTER, &[peer]));
    let _webs = [
        Web::start(&s.web1, "192.168.1.21:8080", "web1"),
        Web::start(&s.web2, "192.168.1.22:8080", "web2"),
    ];
    let binary = install(d);
    // VRRPv3 at 100 ms: keepalived takes over 360 ms after lb1's last
    // advert, so the exec's gap is visible if it is too long.
    let announce = format!("prefix = \"{VIP32}\"\npolicy = {{ while_master = \"VI_1\" }}");
    let config =
        rampart_config(1, Timing::V3Fast, "") + &bgp_section(1, ROUTER, "", &announce, "1s");
    let lb1 = start(&s.lb1, d, &binary, &config);
    assert!(
        wait_for(Duration::from_secs(10), || lab::holds_both(&s, "lb1")),
        "lb1 never held the VIPs:\n{}",
        log(d, "lb1")
    );
    let _lb2 = start_keepalived(
        &s.lb2,
        d,
        "lb2",
        &keepalived_config(2, Timing::V3Fast, &KaOpts::default()),
    );
    assert!(
        wait_for(Duration::from_secs(5), || ka_entered(d, "VI_1") >= 1
            && ka_entered(d, "VI_2") >= 1),
        "keepalived did not start:\n{}",
        log(d, "lb2")
    );
    assert!(
        wait_for(Duration::from_secs(20), || kernel_route(&rtr, VIP32)
            .contains("10.20.0.11")),
        "no route at the router:\n{}\n{}",
        log(d, "lb1"),
        log(d, "rtr")
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert!(lab::holds_both(&s, "lb1"));
    let session = bird_session(d);
    let route = kernel_route(&rtr, VIP32);
    let (ka_before, rampart_before) = (
        ka_entered(d, "VI_1") + ka_entered(d, "VI_2"),
        vrrp_transitions(d),
    );

    let load = Load::start(&s.client, SocketAddr::new(lab::vip(), 80), 4);
    std::thread::sleep(Duration::from_millis(700));
    let (before_ok, _) = load.counts();
    install(d);
    let out = upgrade(d);
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}\n{}", log(d, "lb1"));
    // Several of keepalived's Master_Down intervals.
    std::thread::sleep(Duration::from_secs(2));
    let (ok, failed) = load.finish();
    eprintln!("requests: {ok} ok, {failed} failed ({before_ok} before the upgrade)");

    eprintln!(
        "exec to VRRP resumed: {:?}",
        between(&log(d, "lb1"), "upgrading: executing", "instance(s) resume")
    );
    assert_eq!(failed, 0, "{}", log(d, "lb1"));
    assert!(ok > before_ok + 50, "{ok} requests, {before_ok} before");
    assert!(
        lab::holds_both(&s, "lb1"),
        "{}\n{}",
        log(d, "lb1"),
        log(d, "lb2")
    );
    assert_eq!(
        ka_entered(d, "VI_1") + ka_entered(d, "VI_2"),
        ka_before,
        "keepalived changed state:\n{}",
        log(d, "lb2")
    );
    assert_eq!(vrrp_transitions(d), rampart_before, "{}", log(d, "lb1"));
    let status = status(d, 1);
    assert_eq!(status["upgrades"], 1, "{status}");
    for i in status["vrrp"].as_array().unwrap() {
        assert_eq!(i["state"], "master", "{status}");
    }
    assert_eq!(bird_session(d), session, "{}", log(d, "rtr"));
    assert_eq!(kernel_route(&rtr, VIP32), route);
    assert!(
        wait_for(Duration::from_secs(5), || lab::children(lb1.pid()).len()
            == 1),
        "the previous worker did not finish"
    );
}

/// Twenty reloads, then twenty upgrades, each 300 ms apart under four
/// clients in a tight loop: not one failed request. (This found a reset:
/// a worker told to stop could drop a client it had just accepted.)
#[test]
fn twenty_reloads_and_twenty_upgrades_under_load_fail_no_request() {
    let Some((s, _rtr)) = bgp_lab() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let _webs = [
        Web::start(&s.web1, "192.168.1.21:8080", "web1"),
        Web::start(&s.web2, "192.168.1.22:8080", "web2"),
    ];
    let (_binary, _node, addr) = serving(&s, d);
    for mode in ["reload", "upgrade"] {
        let load = Load::start(&s.client, addr, 4);
        for _ in 0..20 {
            std::thread::sleep(Duration::from_millis(300));
            if mode == "upgrade" {
                install(d);
            }
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_rampart"))
                .args([mode, "--control"])
                .arg(d.join("lb1.sock"))
                .output()
                .unwrap();
            assert!(out.status.success(), "{mode}: {out:?}\n{}", log(d, "lb1"));
        }
        std::thread::sleep(Duration::from_millis(300));
        let (ok, failed) = load.finish();
        eprintln!("{mode} x20: {ok} requests ok, {failed} failed");
        assert_eq!(failed, 0, "{mode}");
        assert!(ok > 1000, "{mode}: {ok}");
    }
    assert_eq!(status(d, 1)["upgrades"], 20);
}

/// A BFD session crosses the exec with its BGP session: BIRD (`bfd on`,
/// which resets BGP whenever BFD leaves Up) sees its BFD session stay Up
/// and keeps the BGP session and the route.
#[test]
fn an_upgrade_keeps_the_bfd_session_up_at_bird() {
    let Some((s, rtr)) = bgp_lab() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let peer = Peer {
        name: "lb1".into(),
        address: "10.20.0.11".into(),
        asn: LB_AS,
        password: None,
    };
    let conf = bird_config(ROUTER, &[peer]).replacen(
        "protocol bgp lb1 {\n",
        "protocol bgp lb1 {\n    bfd on;\n",
        1,
    ) + "protocol bfd { interface \"eth0\" { interval 100 ms; multiplier 3; }; }\n";
    let _bird = start_bird(&rtr, d, "rtr", &conf);
    let binary = install(d);
    let announce = format!("prefix = \"{VIP32}\"\npolicy = \"always\"");
    let _lb1 = start(
        &s.lb1,
        d,
        &binary,
        &lab::bgp::node_config(1, ROUTER, "bfd = true", &announce),
    );
    // BIRD's line for the session: state and since when.
    let bfd = || {
        birdc(d, "rtr", &["show", "bfd", "sessions"])
            .lines()
            .find(|l| l.starts_with("10.20.0.11"))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    assert!(
        wait_for(Duration::from_secs(30), || bird_session(d)
            .contains("Established")
            && bfd().contains(" Up ")),
        "{}\n{}",
        log(d, "lb1"),
        log(d, "rtr")
    );
    std::thread::sleep(Duration::from_millis(500));
    let (session, bfd_before, route) = (bird_session(d), bfd(), kernel_route(&rtr, VIP32));

    install(d);
    let out = upgrade(d);
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}\n{}", log(d, "lb1"));
    // Several of BIRD's detection times (300 ms).
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        bfd(),
        bfd_before,
        "BIRD's BFD session changed:\n{}",
        log(d, "rtr")
    );
    assert_eq!(
        bird_session(d),
        session,
        "BIRD reset BGP:\n{}",
        log(d, "rtr")
    );
    assert_eq!(kernel_route(&rtr, VIP32), route);
    let st = status(d, 1);
    assert_eq!(st["upgrades"], 1, "{st}");
    let b = &st["bgp"][0]["bfd"];
    assert_eq!(b["state"], "Up", "{st}");
    assert_eq!(
        b["up_transitions"], 0,
        "went on Up, did not come up again: {st}"
    );
    let lb1 = log(d, "lb1");
    assert!(lb1.contains("BFD session taken over"), "{lb1}");
    eprintln!(
        "exec to the first BFD packet's session: {:?}",
        between(&lb1, "upgrading: executing", "BFD session taken over")
    );
}

//! Failover benchmark (not a test: `#[ignore]`d, run by
//! `bench/failover.sh`): the client-visible outage in the seed guide's lab
//! for rampart and for the seed's own stack (keepalived 2.2.7 + HAProxy
//! with the `chk_haproxy` tracker), measured in the same run, at the
//! seed's VRRPv2 1 s adverts and at VRRPv3 100 ms.
//!
//! The client sends a fresh HTTP request to the VIP every 20 ms; the
//! outage is the longest run of failed probes (start of the first failed
//! one to the start of the next good one). Medians over `FAILOVER_R` runs
//! (default 3). Needs root.
#![allow(clippy::unwrap_used)]

mod lab;

use std::time::Duration;

use lab::keepalived::{
    KaOpts, haproxy_check_script, keepalived_config, start_haproxy, start_keepalived,
};
use lab::{Outage, Probe, Timing, Web, holder, log, rampart_config, start_rampart, wait_for};
use rampart_lab::{Proc, Signal, seed_lab};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stack {
    Rampart,
    KeepalivedHaproxy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    LinksDown,
    ProcessKilled,
    ProxyKilled,
    GracefulStop,
}

/// lb1's processes: rampart (supervisor; the worker is its child), or
/// keepalived and HAProxy.
struct Node {
    main: Proc,
    haproxy: Option<Proc>,
}

fn kill_pid(pid: u32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
}

fn start(
    stack: Stack,
    timing: Timing,
    s: &rampart_lab::SeedLab,
    dir: &std::path::Path,
) -> (Node, Node) {
    match stack {
        Stack::Rampart => {
            let a = start_rampart(&s.lb1, dir, "lb1", &rampart_config(1, timing, ""));
            let b = start_rampart(&s.lb2, dir, "lb2", &rampart_config(2, timing, ""));
            (
                Node {
                    main: a,
                    haproxy: None,
                },
                Node {
                    main: b,
                    haproxy: None,
                },
            )
        }
        Stack::KeepalivedHaproxy => {
            let mut nodes = Vec::new();
            for (n, ns, name) in [(1, &s.lb1, "lb1"), (2, &s.lb2, "lb2")] {
                let haproxy = start_haproxy(ns, dir, name);
                let opts = KaOpts {
                    track_haproxy: Some(haproxy_check_script(dir, name)),
                    ..KaOpts::default()
                };
                let ka = start_keepalived(ns, dir, name, &keepalived_config(n, timing, &opts));
                nodes.push(Node {
                    main: ka,
                    haproxy: Some(haproxy),
                });
            }
            let b = nodes.pop().unwrap();
            let a = nodes.pop().unwrap();
            (a, b)
        }
    }
}

/// One measured failover.
fn run(stack: Stack, timing: Timing, scenario: Scenario) -> Outage {
    let s = seed_lab().unwrap();
    let _webs = [
        Web::start(&s.web1, "192.168.1.21:8080", "web1"),
        Web::start(&s.web2, "192.168.1.22:8080", "web2"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let (mut lb1, _lb2) = start(stack, timing, &s, dir.path());
    let ready = wait_for(Duration::from_secs(15), || {
        holder(&s, lab::vip()) == ["lb1"] && holder(&s, lab::gateway()) == ["lb1"]
    });
    assert!(
        ready,
        "{stack:?}: lb1 never master\n{}",
        log(dir.path(), "lb1")
    );
    // Let the client's neighbour entry and both peers settle.
    std::thread::sleep(Duration::from_millis(500));
    let probe = Probe::start(&s.client);
    std::thread::sleep(Duration::from_millis(300));
    match scenario {
        Scenario::LinksDown => {
            s.lb1.set_link("eth0", false).unwrap();
            s.lb1.set_link("eth1", false).unwrap();
        }
        Scenario::ProcessKilled => {
            // Everything the LB software runs on lb1 dies at once. The
            // children first: keepalived's VRRP child (like rampart's
            // worker) is told when its parent dies and would exit
            // gracefully — a priority 0 advert — which a crash never sends.
            lab::children(lb1.main.pid()).into_iter().for_each(kill_pid);
            lb1.main.kill().unwrap();
            if let Some(h) = &mut lb1.haproxy {
                h.kill().unwrap();
            }
        }
        Scenario::ProxyKilled => match &mut lb1.haproxy {
            Some(h) => {
                h.kill().unwrap();
            }
            None => lab::children(lb1.main.pid()).into_iter().for_each(kill_pid),
        },
        Scenario::GracefulStop => lb1.main.signal(Signal::SIGTERM).unwrap(),
    }
    std::thread::sleep(timing.master_down() * 3 + Duration::from_secs(1));
    probe.finish()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[test]
#[ignore = "benchmark: run with bench/failover.sh (needs root, keepalived, haproxy)"]
fn failover_figures() {
    if !rampart_lab::require_root() {
        return;
    }
    let r: usize = std::env::var("FAILOVER_R")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    println!(
        "\nclient-visible outage, median of {r} runs (failed probes of ~1 every 20 ms in brackets, summed)\n"
    );
    println!("| scenario | adverts | keepalived + HAProxy | rampart | rampart / reference |");
    println!("|---|---|---|---|---|");
    // FAILOVER_ONLY=ProcessKilled runs one scenario.
    let only = std::env::var("FAILOVER_ONLY").unwrap_or_default();
    for scenario in [
        Scenario::LinksDown,
        Scenario::ProcessKilled,
        Scenario::ProxyKilled,
        Scenario::GracefulStop,
    ] {
        if !format!("{scenario:?}").contains(only.as_str()) {
            continue;
        }
        for timing in [Timing::V2Seed, Timing::V3Fast] {
            // Interleave the stacks' runs so drift affects both alike.
            let mut outages: [Vec<Outage>; 2] = [Vec::new(), Vec::new()];
            for _ in 0..r {
                for (i, stack) in [Stack::KeepalivedHaproxy, Stack::Rampart]
                    .into_iter()
                    .enumerate()
                {
                    outages[i].push(run(stack, timing, scenario));
                }
            }
            let mut cells = Vec::new();
            let mut medians = Vec::new();
            for o in &outages {
                let failed: usize = o.iter().map(|o| o.failed).sum();
                let m = median(o.iter().map(|o| o.longest).collect());
                medians.push(m);
                cells.push(format!("{:.3} s ({failed})", m.as_secs_f64()));
            }
            let (k, r) = (medians[0].as_secs_f64(), medians[1].as_secs_f64());
            let ratio = if r == 0.0 {
                "no outage".to_string()
            } else if k == 0.0 {
                "worse".to_string()
            } else {
                format!("{:.2}", r / k)
            };
            let adverts = match timing {
                Timing::V2Seed => "v2 1 s",
                Timing::V3Fast => "v3 100 ms",
            };
            println!(
                "| {scenario:?} | {adverts} | {} | {} | {ratio} |",
                cells[0], cells[1]
            );
        }
    }
}

//! Two rampart nodes in the seed guide's shape (network namespaces built
//! by rampart-lab): VIP placement, GARP, and failover as a client sees it.
//! Needs root; fails loudly without it (see `rampart_lab::require_root`).
#![allow(clippy::unwrap_used)]

mod lab;

use std::time::Duration;

use lab::{Outage, Probe, Timing, Web, holder, log, rampart_config, start_rampart, wait_for};
use rampart_lab::{Signal, seed_lab};

const SETTLE: Duration = Duration::from_secs(10);

struct Cluster {
    s: rampart_lab::SeedLab,
    dir: tempfile::TempDir,
    lb1: rampart_lab::Proc,
    _lb2: rampart_lab::Proc,
    _webs: [Web; 2],
}

/// Both nodes up, lb1 master of both instances, the client probing ok.
fn cluster(timing: Timing) -> Option<Cluster> {
    let (s, webs) = lab::seed_with_webs()?;
    let dir = tempfile::tempdir().unwrap();
    let lb1 = start_rampart(&s.lb1, dir.path(), "lb1", &rampart_config(1, timing, ""));
    let lb2 = start_rampart(&s.lb2, dir.path(), "lb2", &rampart_config(2, timing, ""));
    let ready = wait_for(SETTLE, || lab::holds_both(&s, "lb1"));
    assert!(
        ready,
        "lb1 never became master:\n{}",
        log(dir.path(), "lb1")
    );
    Some(Cluster {
        s,
        dir,
        lb1,
        _lb2: lb2,
        _webs: webs,
    })
}

impl Cluster {
    /// lb2 holds both VIPs, and (unless lb1 was killed and could not
    /// remove them) lb1 holds neither.
    fn lb2_takes_over(&self, limit: Duration) {
        self.lb2_holds(limit, true);
    }

    fn lb2_holds(&self, limit: Duration, exclusive: bool) {
        let ok = wait_for(limit, || {
            [lab::vip(), lab::gateway()].into_iter().all(|ip| {
                let h = holder(&self.s, ip);
                h == ["lb2"] || (!exclusive && h.contains(&"lb2"))
            })
        });
        assert!(
            ok,
            "lb2 did not take over: {:?}\nlb2:\n{}",
            holder(&self.s, lab::vip()),
            log(self.dir.path(), "lb2")
        );
    }

    /// Probes for `d` while `act` runs at its start.
    fn probe_during(&mut self, d: Duration, act: impl FnOnce(&mut Self)) -> Outage {
        let probe = Probe::start(&self.s.client);
        std::thread::sleep(Duration::from_millis(300));
        act(self);
        std::thread::sleep(d);
        probe.finish()
    }
}

#[test]
fn vip_is_only_on_the_master_and_the_client_follows_the_garp() {
    let Some(mut c) = cluster(Timing::V3Fast) else {
        return;
    };
    // The gateway VIP carries its label, as the seed's `label gateway:0`.
    let gw = c.s.lb1.addrs("eth1").unwrap();
    let gw = gw.iter().find(|a| a.addr == lab::gateway()).unwrap();
    assert_eq!(
        (gw.prefix_len, gw.label.as_deref()),
        (24, Some("gateway:0"))
    );
    // The client reaches the VIP through lb1's MAC.
    let outage = c.probe_during(Duration::from_millis(200), |_| {});
    assert_eq!(outage.failed, 0, "{outage:?}");
    let lb1_mac = c.s.lb1.mac("eth0").unwrap();
    let lb2_mac = c.s.lb2.mac("eth0").unwrap();
    assert_eq!(c.s.client.neigh_mac(lab::vip()).unwrap(), Some(lb1_mac));
    // Stop lb1: the gratuitous ARP from lb2 moves the client's entry.
    c.lb1.terminate(Duration::from_secs(10)).unwrap();
    c.lb2_takes_over(Duration::from_secs(5));
    let moved = wait_for(Duration::from_secs(2), || {
        c.s.client.neigh_mac(lab::vip()).unwrap() == Some(lb2_mac.clone())
    });
    assert!(
        moved,
        "client still has {:?}",
        c.s.client.neigh_mac(lab::vip())
    );
    // lb1 left nothing behind.
    assert!(!c.s.lb1.has_addr(lab::vip()).unwrap());
    assert!(!c.s.lb1.has_addr(lab::gateway()).unwrap());
}

/// A planned switchover: lb1 sends priority 0 and keeps serving until lb2
/// has taken over and announced itself, so at no moment does nobody hold
/// the VIP. What L2 failover cannot save (with keepalived either) is a
/// connection in its first round trips at the very instant the client's
/// neighbour entry moves: its next packet reaches lb2, which resets it.
/// With a probe every 20 ms and ~1 ms requests that is at most one
/// probe, and only a reset — never a timeout or a refusal, which would
/// mean the VIP was unserved.
fn graceful_stop_costs_nothing(timing: Timing) {
    let Some(mut c) = cluster(timing) else {
        return;
    };
    // Vary the stop's phase against the probe period from run to run.
    let jitter = Duration::from_micros(u64::from(std::process::id() % 20_000));
    let outage = c.probe_during(Duration::from_secs(3), |c| {
        std::thread::sleep(jitter);
        c.lb1.signal(Signal::SIGTERM).unwrap();
    });
    c.lb2_takes_over(Duration::from_secs(1));
    println!("graceful stop ({timing:?}): {outage:?}");
    let only_reset = outage
        .first_error
        .as_deref()
        .is_none_or(|e| e.contains("reset"));
    assert!(
        outage.failed <= 1 && only_reset,
        "{outage:?}\nlb1:\n{}\nlb2:\n{}",
        log(c.dir.path(), "lb1"),
        log(c.dir.path(), "lb2")
    );
    assert!(outage.probes > 100);
    let status = c.lb1.wait_timeout(Duration::from_secs(10)).unwrap();
    assert!(status.is_some_and(|s| s.success()), "lb1 exit {status:?}");
}

#[test]
fn graceful_stop_costs_no_request_v2_seed() {
    graceful_stop_costs_nothing(Timing::V2Seed);
}

#[test]
fn graceful_stop_costs_no_request_v3_100ms() {
    graceful_stop_costs_nothing(Timing::V3Fast);
}

#[test]
fn killing_only_the_worker_is_not_a_failover() {
    let Some(mut c) = cluster(Timing::V3Fast) else {
        return;
    };
    let sup = c.lb1.pid();
    let workers = lab::children(sup);
    assert_eq!(workers.len(), 1, "one worker under the supervisor");
    let lb2_before = log(c.dir.path(), "lb2").len();
    let outage = c.probe_during(Duration::from_secs(2), |_| {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(workers[0] as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
    });
    println!("worker killed: {outage:?}");
    // A SIGKILLed process takes the connections it holds with it: the one
    // probe it may be serving at that instant (probes last ~1 ms of every
    // 20) is closed unanswered. Every new connection must be served: no
    // connect error, at most that one.
    let only_in_flight = outage
        .first_error
        .as_deref()
        .is_none_or(|e| !e.contains("connect"));
    assert!(
        outage.failed <= 1 && only_in_flight,
        "{outage:?}\nlb1:\n{}",
        log(c.dir.path(), "lb1")
    );
    assert_eq!(holder(&c.s, lab::vip()), ["lb1"], "no failover");
    let respawned = lab::children(sup);
    assert!(
        respawned.len() == 1 && respawned != workers,
        "a new worker runs"
    );
    let lb2_after = log(c.dir.path(), "lb2");
    assert!(
        !lb2_after[lb2_before..].contains("-> master"),
        "{lb2_after}"
    );
}

fn failover_on(timing: Timing, what: &str, act: impl FnOnce(&mut Cluster)) {
    let Some(mut c) = cluster(timing) else {
        return;
    };
    let outage = c.probe_during(timing.master_down() * 3, act);
    // A killed lb1 cannot take its addresses down (nor can keepalived):
    // what matters is that the clients now reach lb2.
    c.lb2_holds(Duration::from_secs(1), false);
    let lb2_mac = c.s.lb2.mac("eth0").unwrap();
    assert_eq!(c.s.client.neigh_mac(lab::vip()).unwrap(), Some(lb2_mac));
    println!("{what} ({timing:?}): {outage:?}");
    assert!(outage.failed > 0, "an outage is expected here: {outage:?}");
    // At most Master_Down_Interval plus a few probe periods.
    let bound = timing.master_down() + Duration::from_millis(200);
    assert!(outage.longest <= bound, "{what}: {outage:?} > {bound:?}");
}

#[test]
fn failover_when_the_master_links_go_down() {
    failover_on(Timing::V3Fast, "links down", |c| {
        c.s.lb1.set_link("eth0", false).unwrap();
        c.s.lb1.set_link("eth1", false).unwrap();
    });
}

#[test]
fn failover_when_the_whole_process_is_killed() {
    failover_on(Timing::V3Fast, "process killed", |c| {
        // The supervisor and its worker, as `kill -9` of the service would.
        let workers = lab::children(c.lb1.pid());
        c.lb1.kill().unwrap();
        for w in workers {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(w as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    });
}

/// `kill -9` of the master's supervisor alone (the OOM killer's choice, or
/// an operator's): its worker learns of it through its parent-death signal
/// and takes the node's addresses and NAT down, so within a second the
/// peer holds the VIPs alone — no moment of two nodes answering ARP for
/// them after the takeover.
#[test]
fn a_killed_supervisor_leaves_no_address_or_nat_behind() {
    let Some((s, _webs)) = lab::seed_with_webs() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let gateway = "\n[gateway]\nmasquerade = [{ source = \"192.168.1.0/24\", out = \"eth0\" }]\n";
    let lb1_config = rampart_config(1, Timing::V3Fast, "") + gateway;
    let mut lb1 = start_rampart(&s.lb1, d, "lb1", &lb1_config);
    let _lb2 = start_rampart(&s.lb2, d, "lb2", &rampart_config(2, Timing::V3Fast, ""));
    let ready = wait_for(SETTLE, || lab::holds_both(&s, "lb1"));
    assert!(ready, "lb1 never became master:\n{}", log(d, "lb1"));
    let table = |ns: &rampart_lab::Ns| {
        ns.exec(&["nft", "list", "table", "inet", "rampart"])
            .unwrap()
            .status
            .success()
    };
    assert!(table(&s.lb1), "no NAT table on lb1:\n{}", log(d, "lb1"));
    assert_eq!(
        s.lb1
            .ok(&["sysctl", "-n", "net.ipv4.ip_forward"])
            .unwrap()
            .trim(),
        "1"
    );
    let workers = lab::children(lb1.pid());
    assert_eq!(workers.len(), 1, "lb1 has no worker");

    lb1.kill().unwrap();
    let t0 = std::time::Instant::now();
    let moved = wait_for(Duration::from_secs(1), || {
        [lab::vip(), lab::gateway()]
            .into_iter()
            .all(|ip| holder(&s, ip) == ["lb2"])
    });
    assert!(
        moved,
        "after 1 s: VIP on {:?}, gateway on {:?}\nlb1:\n{}",
        holder(&s, lab::vip()),
        holder(&s, lab::gateway()),
        log(d, "lb1")
    );
    println!(
        "supervisor killed: lb2 alone holds the VIPs after {:?}",
        t0.elapsed()
    );
    assert!(!table(&s.lb1), "the NAT table outlived the supervisor");
    assert_eq!(
        s.lb1
            .ok(&["sysctl", "-n", "net.ipv4.ip_forward"])
            .unwrap()
            .trim(),
        "0"
    );
    // The worker finished and left; nothing of lb1 runs any more.
    let gone = wait_for(Duration::from_secs(5), || {
        !std::path::Path::new(&format!("/proc/{}", workers[0])).exists()
    });
    assert!(gone, "the orphaned worker did not exit");

    // Killed again and restarted at once (systemd's Restart=): the new run
    // waits for the orphan's clean-up (it holds the runtime directory's
    // lock until done), so the clean-up cannot undo the new run's NAT.
    let mut lb1 = start_rampart(&s.lb1, d, "lb1", &lb1_config);
    assert!(
        wait_for(SETTLE, || holder(&s, lab::vip()) == ["lb1"]),
        "{}",
        log(d, "lb1")
    );
    lb1.kill().unwrap();
    let _lb1 = start_rampart(&s.lb1, d, "lb1", &lb1_config);
    let back = wait_for(SETTLE, || lab::holds_both(&s, "lb1"));
    assert!(
        back,
        "the restarted lb1 did not take over:\n{}",
        log(d, "lb1")
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        table(&s.lb1),
        "the restarted node lost its NAT table:\n{}",
        log(d, "lb1")
    );
    assert_eq!(
        s.lb1
            .ok(&["sysctl", "-n", "net.ipv4.ip_forward"])
            .unwrap()
            .trim(),
        "1"
    );
}

/// Addresses follow the states, not only at transitions: a VIP put on the
/// backup by hand (or left there by a crash) goes within the second, and
/// one taken off the master by hand comes back.
#[test]
fn stray_and_missing_addresses_are_put_right() {
    let Some(c) = cluster(Timing::V3Fast) else {
        return;
    };
    let d = c.dir.path();
    let vip = format!("{}/24", lab::VIP);
    // (node, what is done to it by hand, what it must log as it puts it
    // right). The log has a writer thread of its own: it may trail.
    let cases = [
        (
            &c.s.lb2,
            "lb2",
            "add",
            "found on eth0 while not master: removing it",
        ),
        (
            &c.s.lb1,
            "lb1",
            "del",
            "missing from eth0 while master: adding it back",
        ),
    ];
    for (ns, name, op, said) in cases {
        ns.ip(&["addr", op, &vip, "dev", "eth0"]).unwrap();
        let right = wait_for(Duration::from_secs(3), || {
            holder(&c.s, lab::vip()) == ["lb1"] && log(d, name).contains(said)
        });
        assert!(right, "after `ip addr {op}` on {name}:\n{}", log(d, name));
    }
}

#[test]
fn a_failing_track_script_moves_the_vips() {
    let Some((s, _webs)) = lab::seed_with_webs() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("healthy");
    std::fs::write(&flag, "").unwrap();
    let track = r#"track_scripts = [{ name = "chk", weight = -10 }]"#;
    let script = format!(
        "\n[[vrrp.script]]\nname = \"chk\"\ncommand = [\"/usr/bin/test\", \"-e\", \"{}\"]\ninterval = \"100ms\"\ntimeout = \"1s\"\nfall = 2\nrise = 2\n",
        flag.display()
    );
    let cfg1 = rampart_config(1, Timing::V3Fast, track) + &script;
    let _lb1 = start_rampart(&s.lb1, dir.path(), "lb1", &cfg1);
    let _lb2 = start_rampart(
        &s.lb2,
        dir.path(),
        "lb2",
        &rampart_config(2, Timing::V3Fast, ""),
    );
    assert!(
        wait_for(SETTLE, || holder(&s, lab::vip()) == ["lb1"]),
        "{}",
        log(dir.path(), "lb1")
    );
    // 101 - 10 = 91 < 100: lb2 preempts VI_1, and the sync group brings
    // VI_2 along.
    std::fs::remove_file(&flag).unwrap();
    let moved = wait_for(Duration::from_secs(5), || {
        holder(&s, lab::vip()) == ["lb2"] && holder(&s, lab::gateway()) == ["lb2"]
    });
    assert!(moved, "{}", log(dir.path(), "lb1"));
    std::fs::write(&flag, "").unwrap();
    let back = wait_for(Duration::from_secs(5), || lab::holds_both(&s, "lb1"));
    assert!(back, "{}", log(dir.path(), "lb1"));
}

/// Multicast adverts (224.0.0.18 and ff02::12 from the link-local
/// address) for an IPv4 and an IPv6 instance: election, NA, hand-off.
#[test]
fn multicast_ipv4_and_ipv6_instances() {
    if !rampart_lab::require_root() {
        return;
    }
    let s = seed_lab().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let v6: std::net::IpAddr = "fd00:10::10".parse().unwrap();
    let v4: std::net::IpAddr = "10.10.0.20".parse().unwrap();
    s.client
        .ip(&["addr", "add", "fd00:10::100/64", "dev", "eth0", "nodad"])
        .unwrap();
    let config = |priority: u8| {
        format!(
            r#"
[[frontend]]
name = "www"
bind = ["10.10.0.20:80"]
backend = "pool"
[[backend]]
name = "pool"
servers = [{{ name = "web1", addr = "192.168.1.21:8080", check = false }}]
[vrrp]
version = 3
[[vrrp.instance]]
name = "V6"
interface = "eth0"
vrid = 60
priority = {priority}
advert_interval = "100ms"
virtual_addresses = ["fd00:10::10/64"]
[[vrrp.instance]]
name = "V4"
interface = "eth0"
vrid = 61
priority = {priority}
advert_interval = "100ms"
virtual_addresses = ["10.10.0.20/24"]
"#
        )
    };
    let mut lb1 = start_rampart(&s.lb1, dir.path(), "lb1", &config(150));
    let _lb2 = start_rampart(&s.lb2, dir.path(), "lb2", &config(100));
    let on_lb1 = wait_for(SETTLE, || {
        holder(&s, v6) == ["lb1"] && holder(&s, v4) == ["lb1"]
    });
    assert!(
        on_lb1,
        "{}\n{}",
        log(dir.path(), "lb1"),
        log(dir.path(), "lb2")
    );
    // Both routers hear each other over multicast: lb2 stays backup.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(holder(&s, v6), ["lb1"], "{}", log(dir.path(), "lb2"));
    // The client learns the IPv6 VIP at lb1, then the unsolicited NA of
    // lb2 moves it when lb1 stops.
    assert!(s.client.ping(v6).unwrap());
    assert_eq!(
        s.client.neigh_mac(v6).unwrap(),
        Some(s.lb1.mac("eth0").unwrap())
    );
    lb1.terminate(Duration::from_secs(10)).unwrap();
    let moved = wait_for(Duration::from_secs(3), || {
        holder(&s, v6) == ["lb2"] && holder(&s, v4) == ["lb2"]
    });
    assert!(moved, "{}", log(dir.path(), "lb2"));
    let lb2_mac = s.lb2.mac("eth0").unwrap();
    let na = wait_for(Duration::from_secs(2), || {
        s.client.neigh_mac(v6).unwrap() == Some(lb2_mac.clone())
    });
    assert!(na, "client still has {:?}", s.client.neigh_mac(v6));
}

//! `[vrrp]` reload in place, against the real keepalived as the peer: rampart
//! master on lb1 (VI_1 and VI_2 in sync group VG_1, priority 101, VRRPv3
//! at 100 ms), keepalived backup on lb2 (priority 100, preempting), the
//! client probing the public VIP every 20 ms through lb1's proxy to the
//! webs. Each test reloads lb1 with `rampart reload` and reads what moved
//! from the kernel (addresses), from the wire (adverts seen in lb2's
//! namespace), from rampart's status and log, and from keepalived's log
//! (`(VI_1) Entering ... STATE`).
//!
//! Needs root and keepalived; fails loudly without root (see
//! `rampart_lab::require_root`).
#![allow(clippy::unwrap_used)]

mod lab;

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use lab::keepalived::{KaOpts, keepalived_config, start_haproxy, start_keepalived};
use lab::{Probe, Timing, Web, holder, rampart_config, start_rampart, wait_for};
use nix::poll::{PollFd, PollFlags, poll};
use rampart_lab::{Proc, SeedLab};
use rampart_sys::vrrp_socket::VrrpSocket;

const LB1: Ipv4Addr = Ipv4Addr::new(10, 10, 0, 11);
const LB2: Ipv4Addr = Ipv4Addr::new(10, 10, 0, 12);
/// VI_3's address in these tests (on eth0, beside the public VIP).
const VI3_VIP: &str = "10.10.0.30";
const VI3_EXTRA: &str = "10.10.0.31";
const T: Timing = Timing::V3Fast;
/// Slack on timing bounds: two shared cores run both daemons, the webs,
/// the probes and other engineers' builds.
const MARGIN: Duration = Duration::from_millis(400);
const SETTLE: Duration = Duration::from_secs(10);

/// VI_3 for rampart on lb `n`: no sync group, unicast to the other LB.
fn rampart_vi3(n: u8, vips: &[&str]) -> String {
    let (me, peer) = if n == 1 { (11, 12) } else { (12, 11) };
    let vips: Vec<String> = vips.iter().map(|v| format!("\"{v}/24\"")).collect();
    format!(
        r#"
[[vrrp.instance]]
name = "VI_3"
interface = "eth0"
vrid = 103
priority = 101
advert_interval = "100ms"
unicast_src = "10.10.0.{me}"
unicast_peers = ["10.10.0.{peer}"]
virtual_addresses = [{}]
"#,
        vips.join(", ")
    )
}

/// VI_3 for keepalived on lb2: the backup (priority 100) of rampart's.
fn keepalived_vi3() -> String {
    format!(
        "
vrrp_instance VI_3 {{
    state BACKUP
    interface eth0
    unicast_src_ip 10.10.0.12
    unicast_peer {{
        10.10.0.11
    }}
    virtual_router_id 103
    priority 100
    advert_int 0.1
    virtual_ipaddress {{
        {VI3_VIP}/24
    }}
}}
"
    )
}

struct Bed {
    s: SeedLab,
    dir: tempfile::TempDir,
    _webs: [Web; 2],
}

fn bed() -> Option<Bed> {
    let (s, webs) = lab::seed_with_webs()?;
    lab::wait_lb_links_up(&s);
    Some(Bed {
        s,
        dir: tempfile::tempdir().unwrap(),
        _webs: webs,
    })
}

impl Bed {
    fn d(&self) -> &Path {
        self.dir.path()
    }

    /// rampart on lb1 with `extra` appended, keepalived on lb2 with
    /// `ka_extra` appended; both settled with lb1 holding everything.
    fn start(&self, extra: &str, ka_extra: &str) -> (Proc, Proc) {
        let lb1 = start_rampart(
            &self.s.lb1,
            self.d(),
            "lb1",
            &(rampart_config(1, T, "") + extra),
        );
        let ok = wait_for(SETTLE, || lab::holds_both(&self.s, "lb1"));
        assert!(ok, "lb1 never became master: {}", self.report());
        let conf = keepalived_config(2, T, &KaOpts::default()) + ka_extra;
        let lb2 = start_keepalived(&self.s.lb2, self.d(), "lb2", &conf);
        let ok = wait_for(Duration::from_secs(5), || {
            ka_entered(self.d(), "VI_1") >= 1 && ka_entered(self.d(), "VI_2") >= 1
        });
        assert!(ok, "keepalived did not start: {}", self.report());
        // keepalived hears rampart: it stays backup past its master-down.
        std::thread::sleep(T.master_down() + MARGIN);
        assert!(lab::holds_both(&self.s, "lb1"), "{}", self.report());
        (lb1, lb2)
    }

    /// Writes lb1's new config and runs `rampart reload`; its answer.
    fn reload(&self, extra: &str) -> String {
        let conf = rampart_config(1, T, "") + extra;
        self.reload_text(&conf)
    }

    fn reload_text(&self, conf: &str) -> String {
        let (ok, text) = self.try_reload(conf);
        assert!(ok, "reload failed: {text}");
        text
    }

    fn try_reload(&self, conf: &str) -> (bool, String) {
        std::fs::write(self.d().join("lb1.toml"), conf).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rampart"))
            .args(["reload", "--control"])
            .arg(self.d().join("lb1.sock"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    }

    fn report(&self) -> String {
        format!(
            "VIP on {:?}, gateway on {:?}\n--- lb1 ---\n{}\n--- lb2 ---\n{}",
            holder(&self.s, lab::vip()),
            holder(&self.s, lab::gateway()),
            lab::log(self.d(), "lb1"),
            lab::log(self.d(), "lb2")
        )
    }

    fn on_lb1(&self, addr: &str) -> bool {
        self.s.lb1.has_addr(addr.parse().unwrap()).unwrap()
    }

    fn on_lb2(&self, addr: &str) -> bool {
        self.s.lb2.has_addr(addr.parse().unwrap()).unwrap()
    }
}

/// How many times keepalived's `name` entered a state (its log).
fn ka_entered(dir: &Path, name: &str) -> usize {
    lab::log(dir, "lb2")
        .lines()
        .filter(|l| l.contains(&format!("({name}) Entering")))
        .count()
}

/// rampart's state changes of `name` (its log: `VRRP a -> b instance=..`).
fn rampart_transitions(dir: &Path, name: &str) -> usize {
    lab::log(dir, "lb1")
        .lines()
        .filter(|l| l.contains(" -> ") && l.contains(&format!("instance=\"{name}\"")))
        .count()
}

/// rampart's status of instance `name`.
fn status_of(dir: &Path, name: &str) -> serde_json::Value {
    let st = lab::bgp::status(dir, 1);
    st["vrrp"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["name"] == name)
        .cloned()
        .unwrap_or_default()
}

/// Counts that must not move: keepalived's and rampart's transitions and
/// rampart's `became_master`, for VI_1 and VI_2.
fn stable_counts(dir: &Path) -> Vec<(String, usize, usize, u64)> {
    ["VI_1", "VI_2"]
        .into_iter()
        .map(|n| {
            (
                n.to_string(),
                ka_entered(dir, n),
                rampart_transitions(dir, n),
                status_of(dir, n)["became_master"].as_u64().unwrap_or(99),
            )
        })
        .collect()
}

/// Adverts from lb1 seen in lb2's namespace: (arrival, VRID, priority).
struct Wire {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<std::io::Result<Vec<(Instant, u8, u8)>>>,
}

impl Wire {
    fn listen(b: &Bed) -> Wire {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = b
            .s
            .lb2
            .spawn_thread(move || {
                let sock = VrrpSocket::v4("eth0", LB2, false, 255).unwrap();
                let mut buf = [0u8; 1500];
                let mut seen = Vec::new();
                while !flag.load(Ordering::Relaxed) {
                    let mut fds = [PollFd::new(sock.as_fd(), PollFlags::POLLIN)];
                    if poll(&mut fds, 20u16).unwrap_or(0) == 0 {
                        continue;
                    }
                    while let Ok(r) = sock.recv(&mut buf) {
                        if r.src == IpAddr::V4(LB1)
                            && let (Some(&vrid), Some(&prio)) = (r.payload.get(1), r.payload.get(2))
                        {
                            seen.push((Instant::now(), vrid, prio));
                        }
                    }
                }
                seen
            })
            .unwrap();
        Wire { stop, thread }
    }

    fn finish(self) -> Vec<(Instant, u8, u8)> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap().unwrap()
    }
}

/// The issue's test: a reload that adds an instance causes no transition
/// of the others on either node and no failed request; the new instance
/// comes up as configured (master: no peer runs VRID 103).
#[test]
fn adding_an_instance_moves_nothing_else() {
    let Some(b) = bed() else { return };
    let (_lb1, _lb2) = b.start("", "");
    let d = b.d();
    let before = stable_counts(d);
    assert!(before.iter().all(|c| c.3 == 1), "{before:?}");
    let probe = Probe::start(&b.s.client);
    std::thread::sleep(Duration::from_millis(500));

    // First a reload that cannot be applied in place: refused whole,
    // naming the instance and the field, and nothing moves.
    let moved = rampart_config(1, T, "").replace("vrid = 102", "vrid = 104");
    let (ok, answer) = b.try_reload(&moved);
    assert!(!ok, "{answer}");
    assert!(
        answer.contains("VRRP instance VI_2: vrid cannot change in place (102 -> 104)"),
        "{answer}"
    );

    let t0 = Instant::now();
    let answer = b.reload(&rampart_vi3(1, &[VI3_VIP]));
    let reloaded = t0.elapsed();
    assert!(
        answer.contains("vrrp: 2 instances unchanged, 1 instance added"),
        "{answer}"
    );
    let up = wait_for(Duration::from_secs(3), || {
        status_of(d, "VI_3")["state"] == "master" && b.on_lb1(VI3_VIP)
    });
    assert!(up, "VI_3 did not come up: {}", b.report());
    let vi3_after = t0.elapsed();
    // Traffic goes on for a while after the reload.
    std::thread::sleep(Duration::from_secs(2));
    let outage = probe.finish();

    let after = stable_counts(d);
    println!(
        "add VI_3: reload answered in {reloaded:?}, VI_3 master with its address after {vi3_after:?}; \
         probes {} failed {} (first error {:?}); VI_1/VI_2 (keepalived entered, rampart transitions, became_master) \
         before {before:?} after {after:?}",
        outage.probes, outage.failed, outage.first_error
    );
    assert_eq!(after, before, "VI_1/VI_2 moved: {}", b.report());
    assert_eq!(outage.failed, 0, "{outage:?}");
    assert!(outage.probes > 50, "{outage:?}");
    assert!(lab::holds_both(&b.s, "lb1"));
    assert!(!b.on_lb2(VI3_VIP));
    let vi3 = status_of(d, "VI_3");
    assert_eq!(vi3["priority"], 101);
    assert_eq!(vi3["vrid"], 103);
    assert_eq!(
        lab::bgp::status(d, 1)["vrrp"].as_array().map(Vec::len),
        Some(3)
    );
    let log = lab::log(d, "lb1");
    assert!(log.contains("VRRP instance VI_3 added"), "{log}");
}

/// A lower priority goes out with lb1's next advert, and keepalived
/// (preempting, 100) takes over: after at most one interval plus its
/// Master_Down_Interval.
#[test]
fn a_lower_priority_is_on_the_wire_at_the_next_advert_and_the_peer_takes_over() {
    let Some(b) = bed() else { return };
    let (_lb1, _lb2) = b.start("", "");
    // HAProxy beside keepalived (as in the seed), so the VIP is served
    // after the takeover too: the probes then measure the failover.
    let _haproxy = start_haproxy(&b.s.lb2, b.d(), "lb2");
    let d = b.d();
    let wire = Wire::listen(&b);
    let probe = Probe::start(&b.s.client);
    std::thread::sleep(Duration::from_millis(500));

    let conf = rampart_config(1, T, "").replace("priority = 101", "priority = 90");
    let t0 = Instant::now();
    let answer = b.reload_text(&conf);
    let t_reloaded = Instant::now();
    assert!(answer.contains("vrrp: 2 instances changed"), "{answer}");
    let ok = wait_for(Duration::from_secs(5), || lab::holds_both(&b.s, "lb2"));
    assert!(ok, "keepalived did not take over: {}", b.report());
    let took = t0.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let outage = probe.finish();
    let seen = wire.finish();

    // The first VI_1 advert with 90: lb1 applies the change at commit,
    // which is when `rampart reload` is answered.
    let first_90 = seen
        .iter()
        .find(|(_, vrid, prio)| *vrid == 101 && *prio == 90)
        .map(|(t, _, _)| *t)
        .unwrap_or_else(|| panic!("no advert with priority 90: {}", b.report()));
    let last_101 = seen
        .iter()
        .filter(|(_, vrid, prio)| *vrid == 101 && *prio == 101)
        .map(|(t, _, _)| *t)
        .max()
        .unwrap();
    let on_wire = first_90.saturating_duration_since(t_reloaded);
    println!(
        "priority 101 -> 90: reload answered after {:?}; first advert with 90 {on_wire:?} after that \
         (last with 101 {:?} before the first 90); keepalived holds both VIPs {took:?} after the reload began; \
         probes {} failed {} (longest outage {:?})",
        t_reloaded - t0,
        first_90.saturating_duration_since(last_101),
        outage.probes,
        outage.failed,
        outage.longest
    );
    assert!(last_101 < first_90, "101 after 90");
    assert!(
        on_wire <= Duration::from_millis(100) + MARGIN,
        "the change went out {on_wire:?} after the reload"
    );
    assert!(
        took <= (t_reloaded - t0) + Duration::from_millis(100) + T.master_down() + MARGIN,
        "takeover {took:?}"
    );
    let vi1 = status_of(d, "VI_1");
    assert_eq!(vi1["configured_priority"], 90);
    assert_eq!(vi1["state"], "backup");
    assert!(ka_entered(d, "VI_1") >= 2, "keepalived became master");
}

/// VI_3 (rampart alone: keepalived does not run it) gets a second
/// address and loses it again in place: the address comes and goes on
/// lb1's eth0, and nothing changes state, on either node.
///
/// Not against a keepalived VI_3: keepalived 2.2.7 drops every advert
/// whose address list differs from its own ("received an unexpected ip
/// number count 2, expected 1!") and takes over after its master-down
/// interval, so against keepalived an address change is a takeover
/// whichever node changes first (between two keepalived nodes as well).
/// A rampart peer accepts such adverts (RFC 5798 §7.1 "MAY log"), so
/// between rampart nodes it is not (`rampart-vrrp/tests/reload.rs`).
#[test]
fn addresses_change_in_place_without_a_transition() {
    let Some(b) = bed() else { return };
    let (_lb1, _lb2) = b.start(&rampart_vi3(1, &[VI3_VIP]), "");
    let d = b.d();
    let ok = wait_for(Duration::from_secs(3), || b.on_lb1(VI3_VIP));
    assert!(ok, "{}", b.report());
    let before = stable_counts(d);
    let vi3_changes = rampart_transitions(d, "VI_3");
    let probe = Probe::start(&b.s.client);

    let t0 = Instant::now();
    let answer = b.reload(&rampart_vi3(1, &[VI3_VIP, VI3_EXTRA]));
    assert!(answer.contains("1 instance changed"), "{answer}");
    let ok = wait_for(Duration::from_secs(2), || b.on_lb1(VI3_EXTRA));
    assert!(ok, "{}", b.report());
    let added_after = t0.elapsed();
    std::thread::sleep(T.master_down() * 3);
    assert!(b.on_lb1(VI3_VIP) && b.on_lb1(VI3_EXTRA));

    let t0 = Instant::now();
    b.reload(&rampart_vi3(1, &[VI3_VIP]));
    let ok = wait_for(Duration::from_secs(2), || !b.on_lb1(VI3_EXTRA));
    assert!(ok, "{}", b.report());
    let removed_after = t0.elapsed();
    std::thread::sleep(T.master_down() * 3);
    let outage = probe.finish();
    let after = stable_counts(d);
    println!(
        "VI_3 address {VI3_EXTRA}: on lb1 {added_after:?} after the reload that added it, gone \
         {removed_after:?} after the one that removed it; VI_3 transitions {} -> {}; probes {} \
         failed {}; VI_1/VI_2 before {before:?} after {after:?}",
        vi3_changes,
        rampart_transitions(d, "VI_3"),
        outage.probes,
        outage.failed
    );
    assert!(b.on_lb1(VI3_VIP), "the kept address stays");
    assert_eq!(
        rampart_transitions(d, "VI_3"),
        vi3_changes,
        "{}",
        b.report()
    );
    assert_eq!(after, before, "VI_1/VI_2 moved: {}", b.report());
    assert_eq!(outage.failed, 0, "{outage:?}");
    let log = lab::log(d, "lb1");
    assert!(
        log.contains("VRRP instance VI_3 changed in place: virtual_addresses +10.10.0.31/24"),
        "{log}"
    );
}

/// VI_3, rampart master and keepalived backup, removed from rampart's
/// config: rampart sends priority 0, keepalived claims after its
/// Skew_Time, and lb1 lets the address go once keepalived has spoken
/// (plus its 1 s linger). VI_1/VI_2 never move and no request to the
/// public VIP fails.
#[test]
fn a_removed_instance_hands_over_with_priority_zero() {
    let Some(b) = bed() else { return };
    let (_lb1, _lb2) = b.start(&rampart_vi3(1, &[VI3_VIP]), &keepalived_vi3());
    let d = b.d();
    assert!(b.on_lb1(VI3_VIP) && !b.on_lb2(VI3_VIP), "{}", b.report());
    let before = stable_counts(d);
    let probe = Probe::start(&b.s.client);
    let wire = Wire::listen(&b);
    std::thread::sleep(Duration::from_millis(300));

    let t0 = Instant::now();
    let answer = b.reload("");
    let t_reloaded = Instant::now();
    assert!(answer.contains("1 instance removed"), "{answer}");
    let ok = wait_for(Duration::from_secs(3), || b.on_lb2(VI3_VIP));
    assert!(ok, "{}", b.report());
    let took = t_reloaded.elapsed();
    let ok = wait_for(Duration::from_secs(3), || !b.on_lb1(VI3_VIP));
    assert!(ok, "{}", b.report());
    let released = t_reloaded.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let outage = probe.finish();
    let seen = wire.finish();
    let zero = seen
        .iter()
        .find(|(_, vrid, prio)| *vrid == 103 && *prio == 0)
        .map(|(t, _, _)| t.saturating_duration_since(t_reloaded));
    let after = stable_counts(d);
    println!(
        "VI_3 removed: reload answered in {:?}; priority 0 on the wire {zero:?} after; keepalived \
         holds {VI3_VIP} {took:?} after; lb1 released it {released:?} after; probes {} failed {}; \
         VI_1/VI_2 before {before:?} after {after:?}",
        t_reloaded - t0,
        outage.probes,
        outage.failed
    );
    assert!(
        zero.is_some_and(|z| z <= MARGIN),
        "priority 0 seen {zero:?}"
    );
    // keepalived's Skew_Time at priority 100 and 100 ms: 61 ms.
    assert!(
        took <= Duration::from_micros(60_937) + MARGIN,
        "takeover {took:?}"
    );
    assert!(released >= took, "lb1 let go before keepalived held it");
    assert_eq!(after, before, "VI_1/VI_2 moved: {}", b.report());
    assert_eq!(outage.failed, 0, "{outage:?}");
    assert!(status_of(d, "VI_3").is_null(), "VI_3 still in the status");
    assert!(
        ka_entered(d, "VI_3") >= 2,
        "keepalived's VI_3 became master"
    );
}

/// `rampart vrrp resign VG_1` hands both VIPs to keepalived as a graceful
/// stop does (priority 0 first), with no failed request, and the node keeps
/// running (proxy, control socket); `rampart vrrp resume` brings it back
/// (it preempts with the higher priority). A reload meanwhile keeps it
/// resigned.
#[test]
fn resign_hands_over_without_a_failed_request_and_resume_takes_back() {
    let Some(b) = bed() else { return };
    let (_lb1, _lb2) = b.start("", "");
    let _haproxy = start_haproxy(&b.s.lb2, b.d(), "lb2");
    let d = b.d();
    let vrrp = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rampart"))
            .arg("vrrp")
            .args(args)
            .arg("--control")
            .arg(d.join("lb1.sock"))
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), said)
    };
    let probe = Probe::start(&b.s.client);
    std::thread::sleep(Duration::from_millis(500));

    let t0 = Instant::now();
    let (ok, said) = vrrp(&["resign", "VG_1"]);
    assert!(ok, "{said}");
    assert!(
        said.contains("VI_1 master -> stopping") && said.contains("VI_2"),
        "{said}"
    );
    assert!(
        wait_for(Duration::from_secs(5), || lab::holds_both(&b.s, "lb2")),
        "keepalived did not take over: {}",
        b.report()
    );
    let took = t0.elapsed();
    // A reload does not bring it back.
    b.reload("");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(lab::holds_both(&b.s, "lb2"), "{}", b.report());
    assert_eq!(status_of(d, "VI_1")["state"], "stop");
    let resigned = probe.finish();

    let probe = Probe::start(&b.s.client);
    let (ok, said) = vrrp(&["resume"]);
    assert!(ok, "{said}");
    assert!(said.contains("VI_1 stop -> backup"), "{said}");
    assert!(
        wait_for(Duration::from_secs(5), || lab::holds_both(&b.s, "lb1")),
        "lb1 did not take back: {}",
        b.report()
    );
    std::thread::sleep(Duration::from_millis(500));
    let resumed = probe.finish();
    println!(
        "resign: keepalived holds both VIPs after {took:?}; probes {} failed {} ; \
         resume: probes {} failed {} (longest {:?})",
        resigned.probes, resigned.failed, resumed.probes, resumed.failed, resumed.longest
    );
    assert_eq!(resigned.failed, 0, "{resigned:?}");
    assert!(lab::log(d, "lb1").contains("VRRP resigned: VI_1 master -> stopping"));
    let (ok, said) = vrrp(&["resign", "VI_9"]);
    assert!(
        !ok && said.contains("no VRRP instance or sync group `VI_9`"),
        "{said}"
    );
}

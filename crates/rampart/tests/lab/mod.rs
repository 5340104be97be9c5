//! The seed guide's network in namespaces, with rampart (or keepalived)
//! on the two LB nodes, tiny HTTP backends, and a client that probes the
//! public VIP every 20 ms and records every failure.
//!
//! Each test crate that has `mod lab;` uses a part of it.
#![allow(dead_code)]

pub mod bgp;
pub mod bird;
pub mod frr;
pub mod keepalived;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rampart_lab::{Ns, Proc, SeedLab};

/// The public VIP of the seed guide (VI_1).
pub const VIP: &str = "10.10.0.10";
pub const GATEWAY: &str = "192.168.1.1";
pub const PROBE_EVERY: Duration = Duration::from_millis(20);

pub fn vip() -> IpAddr {
    VIP.parse().unwrap()
}

pub fn gateway() -> IpAddr {
    GATEWAY.parse().unwrap()
}

/// VRRP timing of a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// The seed's settings: VRRPv2, 1 s adverts, PASS auth.
    V2Seed,
    /// VRRPv3 at 100 ms.
    V3Fast,
}

impl Timing {
    /// Master_Down_Interval of the backup (priority 100).
    pub fn master_down(self) -> Duration {
        match self {
            Timing::V2Seed => Duration::from_micros(3_609_375),
            Timing::V3Fast => Duration::from_micros(360_937),
        }
    }
}

/// The proxy part of every lab node's config: the seed's `www` frontend on
/// the VIP, round robin to web1/web2 with fast tcp checks.
pub fn proxy_section() -> String {
    format!(
        r#"
[global]
threads = 1
grace = "2s"

[[frontend]]
name = "www"
bind = ["{VIP}:80"]
backend = "nginx_pool"

[[backend]]
name = "nginx_pool"
health = {{ check = "tcp", interval = "200ms", timeout = "200ms", fall = 2, rise = 1 }}
servers = [
  {{ name = "web1", addr = "192.168.1.21:8080" }},
  {{ name = "web2", addr = "192.168.1.22:8080" }},
]
"#
    )
}

/// rampart's config for LB node `n` (1 = priority 101, 2 = priority 100);
/// `extra_instance` is added to both instances.
pub fn rampart_config(n: u8, timing: Timing, extra_instance: &str) -> String {
    let (me, peer) = if n == 1 { (11, 12) } else { (12, 11) };
    let priority = 102 - u16::from(n);
    let state = if n == 1 { "master" } else { "backup" };
    let (version, interval, auth) = match timing {
        Timing::V2Seed => (2, "1s", r#"auth = { type = "pass", password = "1111" }"#),
        Timing::V3Fast => (3, "100ms", ""),
    };
    let proxy = proxy_section();
    format!(
        r#"
{proxy}
[vrrp]
version = {version}

[[vrrp.instance]]
name = "VI_1"
state = "{state}"
interface = "eth0"
vrid = 101
priority = {priority}
advert_interval = "{interval}"
unicast_src = "10.10.0.{me}"
unicast_peers = ["10.10.0.{peer}"]
{auth}
virtual_addresses = ["{VIP}/24"]
track_proxy = {{ frontend = "www", weight = 0 }}
{extra_instance}

[[vrrp.instance]]
name = "VI_2"
state = "{state}"
interface = "eth1"
vrid = 102
priority = {priority}
advert_interval = "{interval}"
unicast_src = "192.168.1.{me}"
unicast_peers = ["192.168.1.{peer}"]
{auth}
virtual_addresses = [{{ addr = "{GATEWAY}/24", label = "gateway:0" }}]
track_proxy = {{ frontend = "www", weight = 0 }}
{extra_instance}

[[vrrp.sync_group]]
name = "VG_1"
members = ["VI_1", "VI_2"]
"#
    )
}

/// A tiny HTTP server answering every request with its name
/// ([`rampart_lab::Web`], the cluster demo's too).
pub struct Web {
    _web: rampart_lab::Web,
}

impl Web {
    pub fn start(ns: &Ns, addr: &str, name: &'static str) -> Web {
        Web {
            _web: rampart_lab::Web::start(ns, addr.parse().unwrap(), name, false).unwrap(),
        }
    }
}

/// One HTTP GET to the VIP with short timeouts; Ok(backend name).
pub fn get(addr: SocketAddr) -> Result<String, String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200))
        .map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_millis(500))).ok();
    s.write_all(b"GET / HTTP/1.1\r\nHost: vip\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&out);
    if !text.starts_with("HTTP/1.1 200") {
        return Err(format!("bad answer {text:?}"));
    }
    Ok(text.rsplit("\r\n\r\n").next().unwrap_or("").to_string())
}

/// When a probe started, and the backend that answered or the error.
type ProbeResult = (Instant, Result<String, String>);

/// The client's probe: a GET every 20 ms, results with their start time.
pub struct Probe {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<ProbeResult>>>,
}

impl Probe {
    /// Starts a probe every 20 ms, each on its own thread (so a probe
    /// stuck in a connect timeout does not delay the next: the outage is
    /// measured to 20 ms, not to the timeout).
    pub fn start(client: &Ns) -> Probe {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let addr = SocketAddr::new(vip(), 80);
        let thread = client
            .spawn_thread(move || {
                // Threads started here inherit the namespace.
                let results = Arc::new(std::sync::Mutex::new(Vec::new()));
                let mut probes = Vec::new();
                let mut next = Instant::now();
                while !flag.load(Ordering::Relaxed) {
                    let results = results.clone();
                    probes.push(std::thread::spawn(move || {
                        let t = Instant::now();
                        let r = get(addr);
                        results.lock().unwrap().push((t, r));
                    }));
                    next += PROBE_EVERY;
                    if let Some(rest) = next.checked_duration_since(Instant::now()) {
                        std::thread::sleep(rest);
                    }
                }
                probes.into_iter().for_each(|p| {
                    let _ = p.join();
                });
                let mut results = std::mem::take(&mut *results.lock().unwrap());
                results.sort_by_key(|(t, _)| *t);
                results
            })
            .unwrap();
        let thread =
            std::thread::spawn(move || thread.join().ok().and_then(|r| r.ok()).unwrap_or_default());
        Probe {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops probing and summarises.
    pub fn finish(mut self) -> Outage {
        self.stop.store(true, Ordering::Relaxed);
        let results = self
            .thread
            .take()
            .map(|t| t.join().unwrap())
            .unwrap_or_default();
        Outage::from(&results)
    }
}

/// What the client saw.
#[derive(Debug)]
pub struct Outage {
    pub probes: usize,
    pub failed: usize,
    /// From the start of the first failed probe to the start of the first
    /// good one after the last failure (0 if none failed).
    pub longest: Duration,
    pub first_error: Option<String>,
}

impl Outage {
    fn from(results: &[ProbeResult]) -> Outage {
        let mut longest = Duration::ZERO;
        let mut down_since: Option<Instant> = None;
        for (t, r) in results {
            match (r, down_since) {
                (Err(_), None) => down_since = Some(*t),
                (Ok(_), Some(since)) => {
                    longest = longest.max(*t - since);
                    down_since = None;
                }
                _ => {}
            }
        }
        if let (Some(since), Some((last, _))) = (down_since, results.last()) {
            longest = longest.max(*last - since + PROBE_EVERY);
        }
        Outage {
            probes: results.len(),
            failed: results.iter().filter(|(_, r)| r.is_err()).count(),
            longest,
            first_error: results.iter().find_map(|(_, r)| r.clone().err()),
        }
    }
}

/// A rampart node running in `ns` with `config`.
pub fn start_rampart(ns: &Ns, dir: &std::path::Path, name: &str, config: &str) -> Proc {
    start_rampart_with(ns, dir, name, config, |_| {})
}

/// [`start_rampart`], with `adjust` changing the command (its environment)
/// before it runs.
pub fn start_rampart_with(
    ns: &Ns,
    dir: &std::path::Path,
    name: &str,
    config: &str,
    adjust: impl FnOnce(&mut std::process::Command),
) -> Proc {
    let path: PathBuf = dir.join(format!("{name}.toml"));
    std::fs::write(&path, config).unwrap();
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    let mut cmd = ns.command(env!("CARGO_BIN_EXE_rampart"));
    cmd.args(["run", "-c"])
        .arg(&path)
        // Its own runtime directory (lock, state files) and control socket
        // (`<name>.sock`): nodes share the filesystem. A node started again
        // under the same name finds what its previous run left there.
        .arg("--runtime-dir")
        .arg(dir.join(format!("{name}.run")))
        .arg("--control")
        .arg(dir.join(format!("{name}.sock")))
        .env("RUST_LOG", "info")
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    adjust(&mut cmd);
    Proc::spawn(&mut cmd).unwrap()
}

/// Polls `cond` every 10 ms until it holds or `limit` passes.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

/// The seed lab with both web backends up (rampart's `track_proxy` needs
/// a healthy backend), or `None` when the test is skipped (no root and
/// RAMPART_SKIP_NETNS=1; without either it fails).
pub fn seed_with_webs() -> Option<(SeedLab, [Web; 2])> {
    if !rampart_lab::require_root() {
        return None;
    }
    let s = rampart_lab::seed_lab().unwrap();
    let webs = [
        Web::start(&s.web1, "192.168.1.21:8080", "web1"),
        Web::start(&s.web2, "192.168.1.22:8080", "web2"),
    ];
    Some((s, webs))
}

/// `node` ("lb1" / "lb2") alone holds both VIPs.
pub fn holds_both(s: &SeedLab, node: &str) -> bool {
    [vip(), gateway()]
        .into_iter()
        .all(|ip| holder(s, ip) == [node])
}

/// Which LB holds an address, read from the kernel.
pub fn holder(s: &SeedLab, ip: IpAddr) -> Vec<&'static str> {
    let mut v = Vec::new();
    if s.lb1.has_addr(ip).unwrap() {
        v.push("lb1");
    }
    if s.lb2.has_addr(ip).unwrap() {
        v.push("lb2");
    }
    v
}

/// The pids of `pid`'s children (the worker of a supervisor).
pub fn children(pid: u32) -> Vec<u32> {
    let path = format!("/proc/{pid}/task/{pid}/children");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// The log of a node, for failure messages.
pub fn log(dir: &std::path::Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default()
}

/// rampart's nftables table in `ns` (`nft list table inet rampart`), or
/// nothing when there is none.
pub fn nft_table(ns: &Ns) -> String {
    ns.exec(&["nft", "list", "table", "inet", "rampart"])
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// `net.ipv4.ip_forward` in `ns`.
pub fn ip_forward(ns: &Ns) -> String {
    ns.ok(&["cat", "/proc/sys/net/ipv4/ip_forward"])
        .unwrap()
        .trim()
        .to_string()
}

/// Waits until both LBs' eth0 and eth1 are operationally up: a veth's
/// carrier comes up through the kernel's linkwatch, up to a second after
/// `ip link set up`, and keepalived would start in FAULT ("interface eth1
/// down") with a late first election.
pub fn wait_lb_links_up(s: &SeedLab) {
    let up = wait_for(Duration::from_secs(3), || {
        [&s.lb1, &s.lb2].into_iter().all(|ns| {
            ["eth0", "eth1"].into_iter().all(|ifname| {
                let link = ns.ip(&["-j", "link", "show", "dev", ifname]).unwrap();
                link.contains(r#""operstate":"UP""#)
            })
        })
    });
    assert!(up, "the LB links did not come up");
}

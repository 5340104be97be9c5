//! `rampart demo` as root: the guide's whole cluster in network
//! namespaces (rampart-lab's seed topology plus a router), narrated.
//!
//! ```text
//!          client 10.10.0.100 ── switch pub 10.10.0.0/24 ── VIP 10.10.0.10
//!                                  │ .11            │ .12
//!   router 10.20.0.1 ── bgp ──── lb1 (eth2 .11)    lb2 (eth2 .12)
//!                                  │ .11            │ .12
//!           switch priv 192.168.1.0/24 ── gateway VIP .1 ── web1 .21, web2 .22
//! ```
//!
//! lb1 and lb2 run this same binary (`rampart run`) with configs the
//! importers made from the guide's files ([`guide`]). The router is BIRD
//! 2 when it is installed ([`bird`]), otherwise rampart-bgp's codec as a
//! receiving peer ([`peer`]). Every namespace is
//! named after this process's pid and deleted when the [`Lab`] is dropped
//! — at the end, on an error, and on Ctrl-C (which stops the steps; see
//! [`interrupted`]).

mod bird;
mod guide;
mod peer;
mod probe;
mod view;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use rampart_lab::{Lab, Ns, Proc, Signal, Web};

use guide::{GATEWAY, ROUTER, ROUTER_AS, VIP, lb_bgp};
use probe::Probe;
use view::View;

/// Which BGP router the demo runs (`rampart demo --router`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Router {
    /// BIRD 2 if it is installed, else the built-in peer.
    Auto,
    /// BIRD 2 (an error if it is not installed).
    Bird,
    /// rampart-bgp's receiving peer.
    Builtin,
}

/// Set by Ctrl-C (SIGINT) or SIGTERM: every wait returns at once.
static STOP: AtomicBool = AtomicBool::new(false);

/// Why the cluster demo cannot run here, or `None` if it can.
pub fn unavailable() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some(
            "To see the whole cluster (two rampart nodes, VRRP failover, BGP, NAT) in network \
             namespaces, run it as root: sudo rampart demo"
                .into(),
        );
    }
    if !rampart_lab::netns_available() {
        return Some(
            "The cluster demo needs iproute2 (`ip netns`), which is not installed: \
             apt install iproute2, then run rampart demo again."
                .into(),
        );
    }
    None
}

/// Ctrl-C and SIGTERM set [`STOP`] (a handler, not a blocked mask: a mask
/// would be inherited by the nodes this demo starts).
fn watch_signals() {
    std::thread::spawn(|| {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            let Ok(mut term) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            else {
                return;
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            STOP.store(true, Ordering::Relaxed);
        });
    });
}

fn interrupted() -> Result<()> {
    if STOP.load(Ordering::Relaxed) {
        return Err(anyhow!("interrupted"));
    }
    Ok(())
}

fn pause(d: Duration) -> Result<()> {
    let end = Instant::now() + d;
    while Instant::now() < end {
        interrupted()?;
        std::thread::sleep(Duration::from_millis(20).min(end - Instant::now()));
    }
    interrupted()
}

/// Polls `cond` until it holds (`Ok(true)`) or `limit` passes.
fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> Result<bool> {
    let end = Instant::now() + limit;
    loop {
        interrupted()?;
        if cond() {
            return Ok(true);
        }
        if Instant::now() >= end {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A directory for the nodes' configs, logs and sockets, removed on drop.
struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The lab: namespaces, the router, the web servers.
struct Cluster {
    // Field order is drop order: servers and nodes first, the lab last.
    webs: [Option<Web>; 2],
    _outside: Option<Web>,
    nodes: [Option<Proc>; 2],
    /// BIRD, when it is the router (else the built-in peer's thread).
    _bird: Option<Proc>,
    stop: Arc<AtomicBool>,
    client: Ns,
    lbs: [Ns; 2],
    web_ns: [Ns; 2],
    rib: peer::Rib,
    nat: bool,
    dir: Dir,
    lab: Lab,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn web_addr(n: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 20 + n)), 80)
}

fn build(v: &View, router: Router) -> Result<Cluster> {
    let s = rampart_lab::seed_lab()?;
    let mut lab = s.lab;
    let rtr = lab.ns("rtr")?;
    let sw = lab.switch("bgp")?;
    lab.attach(&sw, &rtr, "eth0", &[&format!("{ROUTER}/24")])?;
    lab.attach(&sw, &s.lb1, "eth2", &[&format!("{}/24", lb_bgp(1))])?;
    lab.attach(&sw, &s.lb2, "eth2", &[&format!("{}/24", lb_bgp(2))])?;
    v.say(&format!(
        "   namespaces {}-* (client, lb1, lb2, web1, web2, rtr; switches pub, priv, bgp)",
        lab.prefix()
    ));
    let dir = Dir(std::env::temp_dir().join(format!("rampart-demo-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0)?;
    let nat = which("nft");
    let stop = Arc::new(AtomicBool::new(false));
    let rib = peer::Rib::default();
    let (r, st) = (rib.clone(), stop.clone());
    let version = match router {
        Router::Builtin => None,
        Router::Auto => bird::version(),
        Router::Bird => Some(bird::version().context(
            "--router bird: BIRD 2 is not installed (bird and birdc in PATH): apt install bird2",
        )?),
    };
    let bird = match version {
        Some(version) => {
            v.say(&format!("   the router is BIRD {version}"));
            Some(bird::start(&rtr, &dir.0, r, st)?)
        }
        None => {
            v.say(if router == Router::Builtin {
                "   the router is rampart-bgp's receiving peer"
            } else {
                "   the router is rampart-bgp's receiving peer (BIRD 2 is not installed)"
            });
            let listener = rtr.run_in(|| std::net::TcpListener::bind((ROUTER, 179)))??;
            std::thread::spawn(move || {
                peer::serve(listener, ROUTER_AS, Ipv4Addr::new(10, 20, 0, 1), r, st);
            });
            None
        }
    };
    let outside = Web::start(
        &rtr,
        SocketAddr::new(ROUTER.parse()?, 8080),
        "outside",
        true,
    )?;
    let webs = [
        Some(Web::start(&s.web1, web_addr(1), "web1", false)?),
        Some(Web::start(&s.web2, web_addr(2), "web2", false)?),
    ];
    Ok(Cluster {
        webs,
        _outside: Some(outside),
        nodes: [None, None],
        _bird: bird,
        stop,
        client: s.client,
        lbs: [s.lb1, s.lb2],
        web_ns: [s.web1, s.web2],
        rib,
        nat,
        dir,
        lab,
    })
}

/// Whether `prog` is an executable file in PATH (or sbin, where Debian
/// puts nft and ip and a user's PATH may not).
fn which(prog: &str) -> bool {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/sbin"])
        .any(|d| Path::new(d).join(prog).is_file())
}

impl Cluster {
    fn start_node(&mut self, n: u8, config: &str) -> Result<()> {
        let d = &self.dir.0;
        let cfg = d.join(format!("lb{n}.toml"));
        std::fs::write(&cfg, config)?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(d.join(format!("lb{n}.log")))?;
        let exe = std::env::current_exe()?;
        let mut cmd = self.lbs[usize::from(n - 1)].command(&exe.to_string_lossy());
        cmd.args(["run", "-c"])
            .arg(&cfg)
            .arg("--runtime-dir")
            .arg(d.join(format!("lb{n}.run")))
            .arg("--control")
            .arg(d.join(format!("lb{n}.sock")))
            .env("RUST_LOG", "info")
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        self.nodes[usize::from(n - 1)] = Some(Proc::spawn(&mut cmd)?);
        Ok(())
    }

    fn log_tail(&self, n: u8) -> String {
        let text =
            std::fs::read_to_string(self.dir.0.join(format!("lb{n}.log"))).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

/// One step's verdict, for the summary and the exit status.
struct Verdict {
    step: &'static str,
    ok: bool,
    detail: String,
}

pub fn main(router: Router) -> Result<ExitCode> {
    watch_signals();
    let v = View::new();
    v.say("== rampart demo: the guide's cluster in network namespaces");
    v.say("-- building: client, lb1 + lb2 (rampart, configs imported from the guide's haproxy.cfg, keepalived.conf, bird.conf), web1 + web2, a BGP router");
    let mut c = build(&v, router)?;
    let result = run(&mut c, &v);
    c.stop.store(true, Ordering::Relaxed);
    let prefix = c.lab.prefix().to_string();
    let logs = [c.log_tail(1), c.log_tail(2)];
    drop(c);
    v.say(&format!("-- cleaned up: namespaces {prefix}-* deleted"));
    match result {
        Ok(verdicts) => {
            let failed: Vec<&Verdict> = verdicts.iter().filter(|x| !x.ok).collect();
            v.say("\n== summary");
            for x in &verdicts {
                let mark = if x.ok { "ok  " } else { "FAIL" };
                v.say(&format!("   {mark} {}: {}", x.step, x.detail));
            }
            if failed.is_empty() {
                v.say("\nOK: every step went as narrated.");
                Ok(ExitCode::SUCCESS)
            } else {
                v.say(&format!(
                    "\nFAILED: {} step(s) did not go as narrated.",
                    failed.len()
                ));
                for (n, l) in logs.iter().enumerate() {
                    v.say(&format!("-- last lines of lb{}'s log --\n{l}", n + 1));
                }
                Ok(ExitCode::FAILURE)
            }
        }
        Err(e) if STOP.load(Ordering::Relaxed) => {
            v.say(&format!("\ninterrupted ({e}); everything was cleaned up."));
            Ok(ExitCode::from(130))
        }
        Err(e) => {
            for (n, l) in logs.iter().enumerate() {
                v.say(&format!("-- last lines of lb{}'s log --\n{l}", n + 1));
            }
            Err(e)
        }
    }
}

fn vip_addr() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 10, 0, 10)), 80)
}

fn run(c: &mut Cluster, v: &Arc<View>) -> Result<Vec<Verdict>> {
    let mut verdicts = Vec::new();
    let mut warnings = Vec::new();
    for n in [1, 2] {
        let (config, w) = guide::node_config(n, c.nat)?;
        warnings = w;
        c.start_node(n, &config)?;
    }
    v.say(&format!(
        "   the importers left out (as `rampart import` says): {}",
        if warnings.is_empty() {
            "nothing".to_string()
        } else {
            warnings.len().to_string() + " lines, e.g. " + &warnings[0]
        }
    ));
    v.clone().run(c.lbs.clone(), c.rib.clone(), c.stop.clone());
    v.step("waiting for lb1 to hold both VIPs and announce the VIP");
    let up = wait_for(Duration::from_secs(20), || {
        let s = v.last();
        s.vip == ["lb1"] && s.gateway == ["lb1"] && s.route == ["lb1"]
    })?;
    if !up {
        return Err(anyhow!(
            "lb1 never held both VIPs with its route at the router"
        ));
    }
    v.say(&format!(
        "   lb1 is MASTER: it holds {VIP} and {GATEWAY}; the router has {VIP}/32 via lb1"
    ));

    // 1. round robin
    v.step("1/7 round robin");
    v.say("\n1. six requests from the client to the VIP, round robin:");
    let mut seen = Vec::new();
    for _ in 0..6 {
        let got = c.client.run_in(|| probe::get(vip_addr()))?;
        seen.push(got.unwrap_or_else(|| "FAILED".into()));
    }
    v.say(&format!("   {}", seen.join(" → ")));
    let both = ["web1", "web2"].iter().all(|w| seen.iter().any(|s| s == w));
    verdicts.push(Verdict {
        step: "round robin",
        ok: both && !seen.iter().any(|s| s == "FAILED"),
        detail: seen.join(" "),
    });

    let probe = Probe::start(&c.client, vip_addr())?;
    v.set_samples(probe.samples.clone());
    v.say("\n   from now on the client sends a request every 20 ms");
    pause(Duration::from_millis(500))?;

    // 2. a web server stops
    v.step("2/7 web2 stopped");
    v.say("\n2. web2's server stops (under load)");
    let t = Instant::now();
    c.webs[1] = None;
    pause(Duration::from_secs(2))?;
    let w = probe.window(t, Instant::now());
    let (failed, _) = probe::outage(&w);
    let to_web2 = w
        .iter()
        .skip(w.len() / 2)
        .filter(|(_, r)| r.as_deref() == Some("web2"))
        .count();
    v.say(&format!(
        "   {} requests since: {failed} failed; all of the last {} answered by web1: {}",
        w.len(),
        w.len() - w.len() / 2,
        to_web2 == 0
    ));
    verdicts.push(Verdict {
        step: "web server stopped",
        ok: failed == 0,
        detail: format!("{failed} failed of {}", w.len()),
    });
    c.webs[1] = Some(Web::start(&c.web_ns[1], web_addr(2), "web2", false)?);
    v.say("   web2 starts again");
    pause(Duration::from_secs(1))?;
    v.snapshot();

    // 3. the proxy process on lb1 is killed
    v.step("3/7 lb1's proxy killed");
    v.say("\n3. lb1's worker process (the proxy) is killed with SIGKILL");
    let main_pid = c.nodes[0].as_ref().map(Proc::pid).context("lb1 runs")?;
    let workers = children(main_pid);
    let t = Instant::now();
    for pid in &workers {
        if let Ok(pid) = i32::try_from(*pid) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
    pause(Duration::from_secs(3))?;
    let w = probe.window(t, Instant::now());
    let (failed, _) = probe::outage(&w);
    let moved = v
        .history
        .lock()
        .map(|h| h.iter().any(|(at, s)| *at >= t && s.vip != ["lb1"]))
        .unwrap_or(true);
    let back = children(main_pid);
    v.say(&format!(
        "   killed worker {workers:?}; the supervisor started {back:?}; {} requests since: {failed} failed; VIP moved: {}",
        w.len(),
        if moved { "yes" } else { "no" }
    ));
    verdicts.push(Verdict {
        step: "proxy killed",
        ok: !workers.is_empty() && failed == 0 && !moved,
        detail: format!(
            "{failed} failed of {}, failover: {}",
            w.len(),
            if moved { "yes" } else { "no" }
        ),
    });
    v.snapshot();

    // 4. lb1 stops gracefully
    v.step("4/7 lb1 stopped gracefully");
    v.say("\n4. lb1 stops gracefully (SIGTERM, as systemctl stop does)");
    let t = Instant::now();
    if let Some(p) = c.nodes[0].as_mut() {
        p.signal(Signal::SIGTERM)?;
    }
    let moved = wait_for(Duration::from_secs(10), || {
        let s = v.last();
        s.vip == ["lb2"] && s.gateway == ["lb2"]
    })?;
    let took = t.elapsed();
    let routed = wait_for(Duration::from_secs(5), || v.last().route == ["lb2"])?;
    pause(Duration::from_secs(1))?;
    let w = probe.window(t, Instant::now());
    let (failed, _) = probe::outage(&w);
    v.say(&format!(
        "   VIP and gateway on lb2 after {} ms; the router's route via lb2: {}; {} requests since: {failed} failed",
        took.as_millis(),
        if routed { "yes" } else { "no" },
        w.len()
    ));
    verdicts.push(Verdict {
        step: "graceful stop",
        ok: moved && failed == 0,
        detail: format!(
            "VIPs moved in {} ms, {failed} failed of {}",
            took.as_millis(),
            w.len()
        ),
    });
    verdicts.push(Verdict {
        step: "BGP route follows the VIP (lb1 → lb2)",
        ok: routed,
        detail: format!("route via {}", v.last().route.join("+")),
    });
    v.snapshot();

    // 5. lb1 comes back and takes over again (priority 101 > 100)
    v.step("5/7 lb1 back");
    v.say("\n5. lb1 starts again and preempts (priority 101 against lb2's 100)");
    let t = Instant::now();
    if let Some(mut p) = c.nodes[0].take() {
        let _ = p.wait_timeout(Duration::from_secs(5));
    }
    let (config, _) = guide::node_config(1, c.nat)?;
    c.start_node(1, &config)?;
    let back = wait_for(Duration::from_secs(20), || {
        let s = v.last();
        s.vip == ["lb1"] && s.gateway == ["lb1"] && s.route == ["lb1"]
    })?;
    pause(Duration::from_secs(1))?;
    let w = probe.window(t, Instant::now());
    let (failed, _) = probe::outage(&w);
    v.say(&format!("   lb1 holds both VIPs and the route again after {} ms ({failed} requests failed meanwhile)", t.elapsed().as_millis()));
    if !back {
        return Err(anyhow!("lb1 did not take the VIPs back"));
    }
    v.snapshot();

    // 6. lb1's links are cut
    v.step("6/7 lb1's links cut");
    v.say("\n6. lb1's links are cut (eth0, eth1, eth2 down): lb2 hears no more adverts");
    let t = Instant::now();
    for ifname in ["eth0", "eth1", "eth2"] {
        c.lbs[0].set_link(ifname, false)?;
    }
    let took_over = wait_for(Duration::from_secs(10), || {
        let s = v.last();
        s.vip.contains(&"lb2") && s.gateway.contains(&"lb2")
    })?;
    let serving = wait_for(Duration::from_secs(5), || {
        probe
            .window(t, Instant::now())
            .last()
            .is_some_and(|(_, r)| r.is_some())
    })?;
    pause(Duration::from_secs(1))?;
    let w = probe.window(t, Instant::now());
    let (failed, longest) = probe::outage(&w);
    v.say(&format!(
        "   lb2 took over; the client saw an outage of {} ms ({failed} failed requests): VRRP's Master_Down_Interval at the guide's advert_int 1 (3 × 1 s + skew)",
        longest.as_millis()
    ));
    verdicts.push(Verdict {
        step: "links cut",
        ok: took_over && serving,
        detail: format!("outage {} ms", longest.as_millis()),
    });
    let routed = wait_for(Duration::from_secs(12), || v.last().route == ["lb2"])?;
    v.say(&format!(
        "   the router's route: via lb2{} (lb1 cut off: its route is gone)",
        if routed { "" } else { " NOT alone" }
    ));
    verdicts.push(Verdict {
        step: "BGP route follows the VIP (links cut)",
        ok: routed,
        detail: format!("route via {}", v.last().route.join("+")),
    });
    v.snapshot();

    // 7. NAT
    v.step("7/7 web1 → outside through the gateway's NAT");
    v.say("\n7. web1 reaches the outside (the router's 10.20.0.1:8080) through the gateway VIP");
    if c.nat {
        let outside = SocketAddr::new(ROUTER.parse()?, 8080);
        let saw = c.web_ns[0].run_in(move || probe::get(outside))?;
        let expect = lb_bgp(2);
        v.say(&format!(
            "   the outside server saw the connection come from {} (lb2's eth2: masqueraded by the gateway holder)",
            saw.as_deref().unwrap_or("nowhere: it failed")
        ));
        verdicts.push(Verdict {
            step: "gateway NAT",
            ok: saw.as_deref() == Some(expect.as_str()),
            detail: format!("source seen: {}", saw.unwrap_or_else(|| "none".into())),
        });
    } else {
        v.say("   skipped: `nft` (nftables) is not installed, and rampart's gateway NAT uses it; apt install nftables to see this step");
    }
    drop(probe);
    v.step("done");
    v.finish();
    Ok(verdicts)
}

/// The pids of `pid`'s children (the worker of rampart's supervisor).
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

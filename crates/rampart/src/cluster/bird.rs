//! The router when BIRD 2 is installed: the real BIRD in the router's
//! namespace, peering with both LB nodes as the guide's provider router
//! does, and installing what they announce in its kernel table. The demo
//! reads that table (what the router would forward by) into the same
//! [`Rib`] the built-in peer fills.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use ipnet::IpNet;
use rampart_lab::{Ns, Proc, Route};

use super::guide::{ROUTER, ROUTER_AS, lb_bgp};
use super::peer::Rib;

/// The LB nodes' AS (the guide's `local as 65000`).
const LB_AS: u32 = 65000;
/// How often the router's kernel table is read.
const POLL: Duration = Duration::from_millis(100);

/// BIRD's version if `bird` and `birdc` are installed and it is BIRD 2
/// (the config below is BIRD 2's syntax), for the narration.
pub fn version() -> Option<String> {
    if !super::which("bird") || !super::which("birdc") {
        return None;
    }
    let out = std::process::Command::new("bird")
        .arg("--version")
        .output()
        .ok()?;
    // BIRD prints "BIRD version 2.0.12" on stderr.
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    let v = text.split_whitespace().last()?.to_string();
    v.starts_with("2.").then_some(v)
}

/// The router's bird.conf: one session per LB node, what they announce
/// imported and exported to the kernel, nothing sent back. Hold time 9 s
/// (the built-in peer's too) so that a cut-off node's route goes in
/// seconds, not the default 90 s.
fn config() -> String {
    let mut c = format!(
        "router id {ROUTER};\n\
         log stderr all;\n\
         protocol device {{ scan time 1; }}\n\
         protocol kernel {{ ipv4 {{ export all; import none; }}; merge paths on; learn off; }}\n"
    );
    for n in [1, 2] {
        c.push_str(&format!(
            "protocol bgp lb{n} {{\n  local {ROUTER} as {ROUTER_AS};\n  neighbor {} as {LB_AS};\n  \
             hold time 9;\n  connect retry time 1;\n  error wait time 1, 5;\n  \
             ipv4 {{ import all; export none; }};\n}}\n",
            lb_bgp(n)
        ));
    }
    c
}

/// Starts BIRD in `rtr` (config, control socket and log in `dir`) and a
/// thread that copies the router's BGP routes into `rib` until `stop`.
pub fn start(rtr: &Ns, dir: &Path, rib: Rib, stop: Arc<AtomicBool>) -> Result<Proc> {
    let conf = dir.join("rtr.bird.conf");
    std::fs::write(&conf, config())?;
    let log = std::fs::File::create(dir.join("rtr.bird.log"))?;
    let mut cmd = rtr.command("bird");
    cmd.arg("-f")
        .arg("-c")
        .arg(&conf)
        .arg("-s")
        .arg(dir.join("rtr.bird.ctl"))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    let proc = Proc::spawn(&mut cmd).context("starting bird in the router's namespace")?;
    let rtr = rtr.clone();
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            if let Ok(routes) = rtr.routes(&["-4", "route", "show", "proto", "bird"])
                && let Ok(mut rib) = rib.lock()
            {
                *rib = by_prefix(&routes);
            }
            std::thread::sleep(POLL);
        }
    });
    Ok(proc)
}

/// The router's routes by prefix, as the [`Rib`] holds them.
fn by_prefix(routes: &[Route]) -> BTreeMap<IpNet, BTreeSet<IpAddr>> {
    let mut out = BTreeMap::new();
    for r in routes {
        // A host route is printed without its length.
        let Ok(prefix) = r
            .dst
            .parse::<IpNet>()
            .or_else(|_| r.dst.parse::<IpAddr>().map(IpNet::from))
        else {
            continue;
        };
        let hops = r.gateways.iter().filter_map(|g| g.parse::<IpAddr>().ok());
        out.entry(prefix).or_insert_with(BTreeSet::new).extend(hops);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_prefix_host_routes_get_their_length() {
        let route = |dst: &str, gw: &[&str]| Route {
            dst: dst.into(),
            gateways: gw.iter().map(|g| g.to_string()).collect(),
        };
        let r = by_prefix(&[
            route("10.10.0.10", &["10.20.0.11"]),
            route("10.30.0.0/24", &["10.20.0.11", "10.20.0.12"]),
            route("default", &["10.20.0.1"]),
        ]);
        let vip: IpNet = "10.10.0.10/32".parse().unwrap();
        let net: IpNet = "10.30.0.0/24".parse().unwrap();
        assert_eq!(
            r[&vip].iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            ["10.20.0.11"]
        );
        assert_eq!(r[&net].len(), 2);
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn the_config_peers_with_both_nodes() {
        let c = config();
        assert!(c.contains("neighbor 10.20.0.11 as 65000;"), "{c}");
        assert!(c.contains("neighbor 10.20.0.12 as 65000;"), "{c}");
        assert!(c.contains("local 10.20.0.1 as 65530;"), "{c}");
    }
}

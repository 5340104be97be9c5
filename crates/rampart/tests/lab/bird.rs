//! BIRD 2 as the provider's router of the seed guide ("Elastic IP
//! configuration with BGP"): it peers with the LB nodes, imports what they
//! announce and installs it in its kernel table, merging equal paths into
//! one multipath (ECMP) route.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use rampart_lab::{Ns, Proc};

/// The router's AS (the seed's `neighbor ... as 65530`).
pub const ROUTER_AS: u32 = 65530;
/// The LB nodes' AS (the seed's `local as 65000`).
pub const LB_AS: u32 = 65000;

/// One BGP peer of the router.
#[derive(Debug, Clone)]
pub struct Peer {
    pub name: String,
    pub address: String,
    pub asn: u32,
    pub password: Option<String>,
}

/// bird.conf for the router at `router_id` with these peers. IPv4 and
/// IPv6 unicast are imported from every peer and exported to nobody.
pub fn bird_config(router_id: &str, peers: &[Peer]) -> String {
    let mut c = format!(
        "router id {router_id};
log stderr all;
protocol device {{ scan time 1; }}
protocol kernel k4 {{ ipv4 {{ export all; import none; }}; merge paths on; learn off; scan time 1; }}
protocol kernel k6 {{ ipv6 {{ export all; import none; }}; merge paths on; learn off; scan time 1; }}
"
    );
    for p in peers {
        let _ = write!(
            c,
            "protocol bgp {name} {{
    local as {ROUTER_AS};
    neighbor {addr} as {asn};
    hold time 9;
    connect retry time 1;
    error wait time 1, 5;
    ipv4 {{ import all; export none; }};
    ipv6 {{ import all; export none; }};
",
            name = p.name,
            addr = p.address,
            asn = p.asn
        );
        if let Some(pw) = &p.password {
            let _ = writeln!(c, "    password \"{pw}\";");
        }
        c.push_str("}\n");
    }
    c
}

/// The control socket of the BIRD started as `name`.
pub fn bird_socket(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.bird.ctl"))
}

/// BIRD in the foreground in `ns`; its log goes to `dir/name.log`.
pub fn start_bird(ns: &Ns, dir: &Path, name: &str, conf: &str) -> Proc {
    let path = dir.join(format!("{name}.bird.conf"));
    std::fs::write(&path, conf).unwrap();
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    let mut cmd = ns.command("bird");
    cmd.arg("-f")
        .arg("-c")
        .arg(&path)
        .arg("-s")
        .arg(bird_socket(dir, name))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    Proc::spawn(&mut cmd).unwrap()
}

/// `birdc -s SOCKET args...`; the control socket is a file, so this runs
/// outside the namespace.
pub fn birdc(dir: &Path, name: &str, args: &[&str]) -> String {
    let out = std::process::Command::new("birdc")
        .arg("-s")
        .arg(bird_socket(dir, name))
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The router's kernel route to `prefix`, as `ip -j route` JSON text
/// (empty when there is none).
pub fn kernel_route(ns: &Ns, prefix: &str) -> String {
    ns.ip(&["-j", family(prefix), "route", "show", prefix])
        .unwrap_or_default()
}

fn family(prefix: &str) -> &'static str {
    if prefix.contains(':') { "-6" } else { "-4" }
}

/// The nexthop gateways of the router's kernel route to `prefix` (none
/// when there is no route).
pub fn nexthops(ns: &Ns, prefix: &str) -> Vec<String> {
    let mut out: Vec<String> = ns
        .routes(&[family(prefix), "route", "show", prefix])
        .unwrap_or_default()
        .into_iter()
        .flat_map(|r| r.gateways)
        .collect();
    out.sort();
    out
}

//! FRRouting's `bgpd` as the router: a second real BGP implementation
//! besides BIRD, run standalone in a namespace and read with `vtysh`.
//!
//! How it runs (FRR 8.4, Debian's `frr` package):
//!
//! - `bgpd` alone, in the foreground, without zebra: `-Z` (never talk to
//!   zebra) and `-n` (never install routes), so nothing is put in the
//!   router's kernel table; assertions read bgpd's own RIB instead. Without
//!   zebra, bgpd treats every next hop as reachable, so received routes
//!   are valid and best;
//! - `-S` skips the user/group switch and capability checks: `-u root -g
//!   root` is refused ("user(root) is not part of vty group specified
//!   (frrvty)");
//! - `--vty_socket DIR` puts the vty socket at `DIR/bgpd.vty` (the name is
//!   fixed, so one bgpd per directory); `-P 0` opens no TCP vty; `-i`
//!   keeps the pid file out of `/var/run/frr`; `--log stdout` goes to
//!   `DIR/NAME.log`;
//! - `vtysh --vty_socket DIR -d bgpd -c CMD` talks to that bgpd alone:
//!   with `-d` it does not look for zebra or the other daemons. The socket
//!   is a file, so vtysh runs outside the namespace.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Stdio;

use rampart_lab::{Ns, Proc};

/// One neighbor of the router: address, AS, TCP MD5 password.
pub type FrrPeer<'a> = (&'a str, u32, Option<&'a str>);

/// bgpd.conf for a router in `router_as` with `router_id`. Every peer gets
/// `timers 3 9`, a 1 s connect retry, and IPv4 and IPv6 unicast (like the
/// BIRD router): what it receives is accepted, nothing is sent (bgpd has
/// no routes of its own). `no bgp ebgp-requires-policy` because FRR 8+
/// otherwise neither imports nor exports eBGP routes without a route-map
/// (RFC 8212).
pub fn frr_config(router_as: u32, router_id: &str, peers: &[FrrPeer<'_>]) -> String {
    let mut c = format!(
        "frr defaults traditional
hostname rtr
log stdout debugging
debug bgp neighbor-events
debug bgp updates in
!
router bgp {router_as}
 bgp router-id {router_id}
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
"
    );
    for (addr, asn, password) in peers {
        let _ = writeln!(c, " neighbor {addr} remote-as {asn}");
        let _ = writeln!(c, " neighbor {addr} timers 3 9");
        let _ = writeln!(c, " neighbor {addr} timers connect 1");
        if let Some(pw) = password {
            let _ = writeln!(c, " neighbor {addr} password {pw}");
        }
    }
    for family in ["ipv4", "ipv6"] {
        let _ = writeln!(c, " address-family {family} unicast");
        for (addr, _, _) in peers {
            let _ = writeln!(c, "  neighbor {addr} activate");
        }
        c.push_str(" exit-address-family\n");
    }
    c.push_str("!\n");
    c
}

/// bgpd in the foreground in `ns`, configured with `conf`; its files are
/// `dir/NAME.frr.conf`, `dir/NAME.frr.pid`, the log `dir/NAME.log`, and the
/// vty socket `dir/bgpd.vty` (see [`vtysh`]).
pub fn start_frr(ns: &Ns, dir: &Path, name: &str, conf: &str) -> Proc {
    let path = dir.join(format!("{name}.frr.conf"));
    std::fs::write(&path, conf).unwrap();
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    let mut cmd = ns.command("/usr/lib/frr/bgpd");
    cmd.arg("-f")
        .arg(&path)
        .arg("-i")
        .arg(dir.join(format!("{name}.frr.pid")))
        .arg("--vty_socket")
        .arg(dir)
        .args(["-Z", "-n", "-S", "-P", "0", "--log", "stdout"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    let proc = Proc::spawn(&mut cmd).unwrap();
    // Ready once the vty answers (a few tens of ms); bounded.
    let end = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::time::Instant::now() < end && !vtysh(dir, "show version").contains("FRRouting") {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    proc
}

/// `vtysh --vty_socket DIR -d bgpd -c CMD`: the output (empty if bgpd
/// does not answer).
pub fn vtysh(dir: &Path, cmd: &str) -> String {
    let out = std::process::Command::new("vtysh")
        .arg("--vty_socket")
        .arg(dir)
        .args(["-d", "bgpd", "-c", cmd])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// [`vtysh`] of a `... json` command, parsed (`Null` if it does not parse).
pub fn vtysh_json(dir: &Path, cmd: &str) -> serde_json::Value {
    serde_json::from_str(&vtysh(dir, cmd)).unwrap_or_default()
}

/// bgpd's view of one neighbor (`show bgp neighbors ADDR json`), `Null` if
/// unknown.
pub fn frr_neighbor(dir: &Path, addr: &str) -> serde_json::Value {
    let mut all = vtysh_json(dir, &format!("show bgp neighbors {addr} json"));
    all.get_mut(addr)
        .map(serde_json::Value::take)
        .unwrap_or_default()
}

/// The session state bgpd shows for `addr` (`Established`, `Active`, ...).
pub fn frr_state(dir: &Path, addr: &str) -> String {
    frr_neighbor(dir, addr)["bgpState"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The paths bgpd holds for exactly `prefix` (`show bgp ipv4|ipv6 unicast
/// PREFIX json`); empty when it has none.
pub fn frr_paths(dir: &Path, prefix: &str) -> Vec<serde_json::Value> {
    let family = if prefix.contains(':') { "ipv6" } else { "ipv4" };
    let v = vtysh_json(dir, &format!("show bgp {family} unicast {prefix} json"));
    if v["prefix"].as_str() != Some(prefix) {
        return Vec::new();
    }
    v["paths"].as_array().cloned().unwrap_or_default()
}

/// A path's next hops, as bgpd prints them.
pub fn path_nexthops(path: &serde_json::Value) -> Vec<String> {
    path["nexthops"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["ip"].as_str().map(str::to_string))
        .collect()
}

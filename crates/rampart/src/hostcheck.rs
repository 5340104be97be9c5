//! A valid configuration checked against the host it runs on, as
//! `keepalived -t` does: `rampart check --host`, and parts of it at start
//! and at a SIGHUP reload. Each problem is reported with file, line and
//! column, like the file's own errors ([`rampart_config::Report`]).
//!
//! What is checked ([`Scope::Full`]):
//! - every interface named exists: VRRP instance interfaces, virtual
//!   address `dev`s, `track_interfaces`, the gateway's `out`;
//! - each `unicast_src` and BGP `local_address` is an address of this host;
//! - no unicast peer is an address of this host (this node is not its own
//!   peer);
//! - every bind address is a wildcard, local, a virtual address of this
//!   file's VRRP instances, or in a prefix it announces by BGP (the file
//!   says traffic for it comes here, as an anycast node's does)
//!   ([`Scope::Reload`] checks only this, for the addresses the running
//!   configuration does not bind already: a typo in a bind would otherwise
//!   move the service away in silence, IP_FREEBIND accepting any address);
//! - a priority-255 instance owns its virtual addresses: RFC 5798 gives 255
//!   to the router whose real addresses they are ([`Scope::Start`] checks
//!   only this);
//! - every listen port is free. A port the running rampart holds shows as
//!   busy: run `check --host` before starting the node, not beside it;
//! - `[global] user` and `group` exist and this process may start its
//!   worker as them (every scope: each reload starts a new worker).

use std::collections::HashMap;
use std::net::IpAddr;

use rampart_config::{Config, Errors, Report, Step};

use Step::{Index as I, Key as K};

/// Which checks to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    /// `rampart check --host`: everything.
    Full,
    /// A SIGHUP reload: bind addresses that `running` does not bind
    /// already (a reload that keeps a bind moves nothing).
    Reload { running: &'a Config },
    /// `rampart run`: the owner rule of priority 255.
    Start,
}

/// What the checks need to know about the host.
#[derive(Debug, Default)]
pub struct Host {
    /// Index of each interface the configuration names that exists.
    links: HashMap<String, u32>,
    /// Every address of the host, with the index of its interface.
    addrs: Vec<(u32, IpAddr)>,
}

impl Host {
    /// Reads the interfaces `cfg` names and every address, in the calling
    /// thread's network namespace.
    pub fn probe(cfg: &Config) -> std::io::Result<Host> {
        let addrs = rampart_sys::netlink::all_addresses()?
            .into_iter()
            .map(|(index, a)| (index, a.addr))
            .collect();
        let links = interfaces(cfg)
            .into_iter()
            // if_nametoindex fails only for a name that is not there.
            .filter_map(|(_, name)| Some((name.to_string(), link_index(name)?)))
            .collect();
        Ok(Host { links, addrs })
    }

    /// Whether `ip` is this host's: assigned to an interface, or loopback
    /// (Linux answers the whole of 127.0.0.0/8 on `lo`).
    fn is_local(&self, ip: IpAddr) -> bool {
        ip.is_loopback() || self.addrs.iter().any(|(_, a)| *a == ip)
    }

    /// Whether `ip` is assigned to interface `name`; `None` when there is
    /// no such interface (reported on its own).
    fn has(&self, name: &str, ip: IpAddr) -> Option<bool> {
        let index = *self.links.get(name)?;
        Some(self.addrs.contains(&(index, ip)))
    }
}

fn link_index(name: &str) -> Option<u32> {
    rampart_sys::netlink::link_index(name).ok()
}

/// Checks `cfg`, parsed from `text` (named `origin` in messages), against
/// this host.
pub fn check(origin: &str, text: &str, cfg: &Config, scope: Scope<'_>) -> Result<(), Errors> {
    let mut report = Report::new(origin, text);
    accounts(cfg, &mut report);
    let owner = cfg.vrrp.instances.iter().any(|i| i.priority == 255);
    if scope == Scope::Start && !owner {
        return report.finish();
    }
    match Host::probe(cfg) {
        Ok(host) => against(cfg, &host, scope, &mut report),
        Err(e) => report.error(&[], format!("cannot read this host's addresses: {e}")),
    }
    if scope == Scope::Full {
        ports(cfg, &mut report);
    }
    report.finish()
}

/// The checks that need only [`Host`]'s facts (no sockets).
fn against(cfg: &Config, host: &Host, scope: Scope<'_>, report: &mut Report) {
    match scope {
        Scope::Full => {
            for (path, name) in interfaces(cfg) {
                if !host.links.contains_key(name) {
                    report.error(
                        &path,
                        format!("interface `{name}` does not exist on this host"),
                    );
                }
            }
            sources(cfg, host, report);
            binds(cfg, host, None, report);
            owners(cfg, host, report);
        }
        Scope::Reload { running } => binds(cfg, host, Some(running), report),
        Scope::Start => owners(cfg, host, report),
    }
}

/// `[global] user`/`group` exist, and this process may start a worker as
/// them (every scope: a reload starts a new worker).
fn accounts(cfg: &Config, report: &mut Report) {
    use crate::privilege::{Key, can_become, resolve};
    let at = |key| match key {
        Key::User => [K("global"), K("user")],
        Key::Group => [K("global"), K("group")],
    };
    match resolve(&cfg.global) {
        Ok(None) => {}
        Ok(Some(id)) => {
            if let Err(e) = can_become(id) {
                let key = if cfg.global.user.is_some() {
                    Key::User
                } else {
                    Key::Group
                };
                report.error(&at(key), e);
            }
        }
        Err((key, e)) => report.error(&at(key), e),
    }
}

/// Every interface the configuration names, with where.
fn interfaces(cfg: &Config) -> Vec<(Vec<Step<'static>>, &str)> {
    let mut out = Vec::new();
    for (i, inst) in cfg.vrrp.instances.iter().enumerate() {
        let at = |rest: &[Step<'static>]| {
            let mut p = vec![K("vrrp"), K("instance"), I(i)];
            p.extend_from_slice(rest);
            p
        };
        out.push((at(&[K("interface")]), inst.interface.as_str()));
        for (j, vip) in inst.vips.iter().enumerate() {
            if let Some(dev) = &vip.dev {
                out.push((at(&[K("virtual_addresses"), I(j), K("dev")]), dev.as_str()));
            }
        }
        for (j, t) in inst.track_interfaces.iter().enumerate() {
            out.push((
                at(&[K("track_interfaces"), I(j), K("name")]),
                t.name.as_str(),
            ));
        }
    }
    for (j, m) in cfg.gateway.masquerade.iter().enumerate() {
        let path = vec![K("gateway"), K("masquerade"), I(j), K("out")];
        out.push((path, m.out.as_str()));
    }
    out
}

/// Source addresses must be local; peers must not be.
fn sources(cfg: &Config, host: &Host, report: &mut Report) {
    for (i, inst) in cfg.vrrp.instances.iter().enumerate() {
        if let Some(src) = inst.unicast_src.filter(|ip| !host.is_local(*ip)) {
            report.error(
                &[K("vrrp"), K("instance"), I(i), K("unicast_src")],
                format!("`unicast_src` {src} is not an address of this host"),
            );
        }
        for (j, peer) in inst.unicast_peers.iter().enumerate() {
            if host.is_local(*peer) {
                report.error(
                    &[K("vrrp"), K("instance"), I(i), K("unicast_peers"), I(j)],
                    format!(
                        "peer {peer} is an address of this host: this node would be its own peer"
                    ),
                );
            }
        }
    }
    for (i, n) in cfg.bgp.neighbors.iter().enumerate() {
        if let Some(ip) = n.local_address.filter(|ip| !host.is_local(*ip)) {
            report.error(
                &[K("bgp"), K("neighbor"), I(i), K("local_address")],
                format!("`local_address` {ip} is not an address of this host"),
            );
        }
    }
}

/// A bind address is a wildcard, local, or one this file's VRRP moves here
/// or its BGP draws here; or one the `running` configuration binds already
/// (on any port: the service stays on that address).
fn binds(cfg: &Config, host: &Host, running: Option<&Config>, report: &mut Report) {
    let bound = |ip: IpAddr| {
        running.is_some_and(|r| {
            r.frontends
                .iter()
                .flat_map(|f| &f.bind)
                .any(|b| b.ip() == ip)
        })
    };
    let vips: Vec<IpAddr> = cfg
        .vrrp
        .instances
        .iter()
        .flat_map(|i| i.vips.iter().map(|v| v.net.addr()))
        .collect();
    for (i, f) in cfg.frontends.iter().enumerate() {
        for (j, addr) in f.bind.iter().enumerate() {
            let ip = addr.ip();
            let announced = cfg.bgp.announces.iter().any(|a| a.prefix.contains(&ip));
            let here = ip.is_unspecified() || host.is_local(ip) || vips.contains(&ip);
            if here || announced || bound(ip) {
                continue;
            }
            report.error(
                &[K("frontend"), I(i), K("bind"), I(j)],
                format!(
                    "bind address {ip} is not an address of this host, a virtual address \
                     of this file's VRRP instances, or in a prefix it announces by BGP: no \
                     traffic would reach it"
                ),
            );
        }
    }
}

/// RFC 5798's owner rule: priority 255 only with the addresses assigned.
fn owners(cfg: &Config, host: &Host, report: &mut Report) {
    for (i, inst) in cfg.vrrp.instances.iter().enumerate() {
        if inst.priority != 255 {
            continue;
        }
        for (j, vip) in inst.vips.iter().enumerate() {
            let dev = vip.dev.as_deref().unwrap_or(&inst.interface);
            let ip = vip.net.addr();
            if host.has(dev, ip) == Some(false) {
                report.error(
                    &[K("vrrp"), K("instance"), I(i), K("virtual_addresses"), I(j)],
                    format!(
                        "priority 255 is for the owner of the virtual addresses (RFC 5798), \
                         but {ip} is not assigned to {dev} on this host"
                    ),
                );
            }
        }
    }
}

/// Every listen port can be bound now (`mode = "nat"` frontends listen
/// on nothing: the kernel forwards).
fn ports(cfg: &Config, report: &mut Report) {
    for (i, f) in cfg.frontends.iter().enumerate() {
        if f.mode == rampart_config::Mode::Nat {
            continue;
        }
        for (j, addr) in f.bind.iter().enumerate() {
            let Err(e) = rampart_sys::socket::probe_listen(*addr) else {
                continue;
            };
            let message = if e.kind() == std::io::ErrorKind::AddrInUse {
                format!(
                    "{addr} is already in use on this host (by another program, or by a \
                     rampart already running)"
                )
            } else {
                format!("cannot listen on {addr}: {e}")
            };
            report.error(&[K("frontend"), I(i), K("bind"), I(j)], message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: &str = r#"[[frontend]]
name = "www"
bind = ["0.0.0.0:81", "127.0.0.9:82", "10.0.0.1:83", "192.0.2.10:84", "10.0.0.9:85", "198.51.100.7:86"]
backend = "b"
[[backend]]
name = "b"
servers = [{ name = "s", addr = "127.0.0.1:1" }]
[[vrrp.instance]]
name = "VI_1"
interface = "eth0"
vrid = 1
priority = 255
unicast_src = "10.0.0.7"
unicast_peers = ["10.0.0.2", "10.0.0.1"]
virtual_addresses = ["192.0.2.10", { addr = "10.0.0.1", dev = "eth1" }]
track_interfaces = ["eth2"]
[bgp]
router_id = "10.0.0.1"
local_as = 65000
[[bgp.neighbor]]
name = "r"
address = "10.0.0.254"
remote_as = 65001
local_address = "10.0.0.1"
[[bgp.announce]]
prefix = "198.51.100.0/24"
[gateway]
masquerade = [{ source = "10.1.0.0/16", out = "eth0" }]
"#;

    /// eth0 (index 2) with 10.0.0.1, and nothing else.
    fn host() -> Host {
        Host {
            links: HashMap::from([("eth0".to_string(), 2)]),
            addrs: vec![(2, "10.0.0.1".parse().unwrap_or_else(|e| panic!("{e}")))],
        }
    }

    fn problems(scope: Scope<'_>) -> Vec<(usize, usize, String)> {
        let cfg = rampart_config::parse("t.toml", CFG).unwrap_or_else(|e| panic!("{e}"));
        let mut report = Report::new("t.toml", CFG);
        against(&cfg, &host(), scope, &mut report);
        match report.finish() {
            Ok(()) => Vec::new(),
            Err(e) => e
                .diagnostics()
                .iter()
                .map(|d| (d.line, d.column, d.message.clone()))
                .collect(),
        }
    }

    /// Line and column of the first `needle` in [`CFG`].
    fn at(needle: &str) -> (usize, usize) {
        let offset = CFG.find(needle).unwrap_or_else(|| panic!("{needle}"));
        let before = &CFG[..offset];
        let line = before.matches('\n').count() + 1;
        (line, offset - before.rfind('\n').map_or(0, |n| n + 1) + 1)
    }

    #[test]
    fn every_kind_of_problem_at_its_place() {
        let want = [
            (
                at("\"10.0.0.9:85\""),
                "bind address 10.0.0.9 is not an address of this host",
            ),
            (
                at("\"10.0.0.7\""),
                "`unicast_src` 10.0.0.7 is not an address of this host",
            ),
            (
                at("\"10.0.0.1\"]"),
                "peer 10.0.0.1 is an address of this host",
            ),
            (
                at("\"192.0.2.10\", {"),
                "192.0.2.10 is not assigned to eth0",
            ),
            // 10.0.0.1 is local, but on eth0: the interface is what is wrong.
            (
                at("\"eth1\""),
                "interface `eth1` does not exist on this host",
            ),
            (
                at("\"eth2\""),
                "interface `eth2` does not exist on this host",
            ),
        ];
        let got = problems(Scope::Full);
        let shown = format!("{got:#?}");
        assert_eq!(got.len(), want.len(), "{shown}");
        for ((l, c), m) in want {
            assert!(
                got.iter().any(|g| (g.0, g.1) == (l, c) && g.2.contains(m)),
                "missing {l}:{c} {m} in {shown}"
            );
        }
    }

    #[test]
    fn reload_checks_binds_and_start_the_owner_rule() {
        let cfg = rampart_config::parse("t.toml", CFG).unwrap_or_else(|e| panic!("{e}"));
        let before = rampart_config::parse("t.toml", &CFG.replace("10.0.0.9:85", "10.0.0.1:85"))
            .unwrap_or_else(|e| panic!("{e}"));
        let reload = problems(Scope::Reload { running: &before });
        assert_eq!(reload.len(), 1, "{reload:?}");
        assert!(reload[0].2.starts_with("bind address 10.0.0.9 is not"));
        // A bind the running config has already is no move.
        let reload = problems(Scope::Reload { running: &cfg });
        assert_eq!(reload, []);
        let start = problems(Scope::Start);
        assert_eq!(start.len(), 1, "{start:?}");
        assert!(start[0].2.contains("priority 255"));
    }

    #[test]
    fn an_owner_with_its_addresses_and_local_binds_pass() {
        // Without the peer that is this host's own address.
        let text = CFG.replace(", \"10.0.0.1\"]", "]");
        let cfg = rampart_config::parse("t.toml", &text).unwrap_or_else(|e| panic!("{e}"));
        let ip = |s: &str| s.parse::<IpAddr>().unwrap_or_else(|e| panic!("{e}"));
        let host = Host {
            links: ["eth0", "eth1", "eth2"]
                .iter()
                .zip(2..)
                .map(|(n, i)| (n.to_string(), i))
                .collect(),
            addrs: vec![
                (2, ip("10.0.0.7")),
                (2, ip("192.0.2.10")),
                (3, ip("10.0.0.1")),
                (2, ip("10.0.0.9")),
            ],
        };
        let mut report = Report::new("t.toml", &text);
        against(&cfg, &host, Scope::Full, &mut report);
        assert_eq!(report.finish().map_err(|e| e.render()), Ok(()));
    }
}

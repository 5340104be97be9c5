//! What the kernel should do for each `mode = "nat"` frontend, from the
//! config, the servers' health and their admin state: the plan that
//! [`super::render`] turns into nftables. Pure, so that the decision is a
//! unit test.

use std::net::SocketAddr;

use ipnet::IpNet;
use rampart_config::{Config, Mode, OnMarkedDown};
use rampart_proxy::Admin;

/// Lookup table entries per server: the Maglev paper's 100× keeps each
/// server's share within about 1 % of its weight and the entries that
/// move when one server changes few. Rounded up to a prime.
const ENTRIES_PER_SERVER: usize = 100;

/// The smallest table: 1021 entries load in a few milliseconds and give
/// 2 servers shares within 0.1 %.
const MIN_ENTRIES: usize = 1021;

/// jhash's seed: fixed, so every node (and every version) with the same
/// servers sends a client address and port to the same server.
pub const SEED: u32 = 0x7261_6d70;

/// Every NAT frontend of a config.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub frontends: Vec<Frontend>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frontend {
    pub name: String,
    pub backend: String,
    /// The VIP and port clients connect to.
    pub vip: SocketAddr,
    pub allow: Vec<IpNet>,
    pub deny: Vec<IpNet>,
    pub rate_limit: Option<u32>,
    /// False while `rampart frontend disable` holds: new connections are
    /// dropped, open ones go on.
    pub accepting: bool,
    /// Every configured server: replies from each are rewritten back, and
    /// each has its counters, whether it takes new connections or not.
    pub servers: Vec<Server>,
    /// The Maglev table: entry -> index into `servers`. Empty when no
    /// server can take a connection.
    pub table: Vec<u32>,
    /// No table yet: a server's first check has no result.
    pub waiting: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub name: String,
    pub addr: SocketAddr,
    /// Its share of the table (0: none, it takes no new connection).
    pub weight: u32,
    /// Whether its open connections stay with it (pinned) when the table
    /// changes: yes while it serves or drains; no once it is in
    /// maintenance, or down with `on_marked_down = "shutdown-sessions"`
    /// (NAT's default). Those go by the table again, to another server,
    /// which resets them: ended at their next packet.
    pub pinned: bool,
}

/// What the plan needs to know of each server at run time.
pub trait Servers {
    fn up(&self, backend: &str, server: &str) -> bool;
    /// False until the server's first check has a result: until then this
    /// node does not know what its peers' tables hold.
    fn settled(&self, backend: &str, server: &str) -> bool;
    fn admin(&self, backend: &str, server: &str) -> (Admin, Option<u32>);
    fn frontend_enabled(&self, frontend: &str) -> bool;
    /// Whether the frontend has a table on this node already (a reload):
    /// then a server not checked yet takes no connection until it is,
    /// and the others serve on meanwhile.
    fn serving(&self, frontend: &str) -> bool;
}

impl Plan {
    pub fn new(cfg: &Config, now: &impl Servers) -> Plan {
        let frontends = cfg
            .frontends
            .iter()
            .filter(|f| f.mode == Mode::Nat)
            .filter_map(|f| {
                let b = cfg.backend_of(f)?;
                let vip = *f.bind.first()?;
                let weight = |s: &rampart_config::Server| {
                    let (admin, w) = now.admin(&b.name, &s.name);
                    if admin == Admin::Ready && now.up(&b.name, &s.name) {
                        w.unwrap_or(s.weight)
                    } else {
                        0
                    }
                };
                let shutdown = b.marked_down(Mode::Nat) == OnMarkedDown::ShutdownSessions;
                // A server not checked yet is not known to be down: a
                // node started over a table a killed run or the program
                // before an upgrade left keeps its connections' pins.
                let pinned = |s: &rampart_config::Server| {
                    let (admin, _) = now.admin(&b.name, &s.name);
                    admin != Admin::Maint
                        && (!shutdown || now.up(&b.name, &s.name) || !now.settled(&b.name, &s.name))
                };
                // Backups take connections only while no primary can.
                let primaries = b.servers.iter().any(|s| !s.backup && weight(s) > 0);
                let servers: Vec<Server> = b
                    .servers
                    .iter()
                    .map(|s| Server {
                        name: s.name.clone(),
                        addr: s.addr,
                        weight: if s.backup == primaries { 0 } else { weight(s) },
                        pinned: pinned(s),
                    })
                    .collect();
                let weighted: Vec<(SocketAddr, u32)> =
                    servers.iter().map(|s| (s.addr, s.weight)).collect();
                let size = (servers.len() * ENTRIES_PER_SERVER).max(MIN_ENTRIES);
                // A node just started takes no connection before it knows
                // every server's health: a table built from half of it
                // would send connections that move here (a failover, an
                // ECMP rehash) to servers other than their own, which
                // reset them. Dropped meanwhile, they are retried.
                let settled =
                    now.serving(&f.name) || b.servers.iter().all(|s| now.settled(&b.name, &s.name));
                Some(Frontend {
                    name: f.name.clone(),
                    backend: b.name.clone(),
                    vip,
                    allow: f.allow.clone(),
                    deny: f.deny.clone(),
                    rate_limit: f.rate_limit,
                    accepting: now.frontend_enabled(&f.name),
                    waiting: !settled,
                    table: if settled {
                        rampart_proxy::balance::lookup_table(&weighted, size)
                    } else {
                        Vec::new()
                    },
                    servers,
                })
            })
            .collect();
        Plan { frontends }
    }

    pub fn is_empty(&self) -> bool {
        self.frontends.is_empty()
    }

    /// Whether a frontend waits for its servers' first checks.
    pub fn waiting(&self) -> bool {
        self.frontends.iter().any(|f| f.waiting)
    }

    /// The parts that only a reload changes (chains, counters, matches):
    /// when two plans have the same shape, an update rewrites the tables
    /// and the entry rules only, and the counters run on.
    pub fn same_shape(&self, other: &Plan) -> bool {
        let shape = |p: &Plan| {
            p.frontends
                .iter()
                .map(|f| {
                    (
                        f.name.clone(),
                        f.vip,
                        f.servers.iter().map(|s| s.addr).collect::<Vec<_>>(),
                    )
                })
                .collect::<Vec<_>>()
        };
        shape(self) == shape(other)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    struct Now {
        down: HashSet<&'static str>,
        drain: HashSet<&'static str>,
        weights: Vec<(&'static str, u32)>,
        disabled: bool,
        unsettled: HashSet<&'static str>,
        serving: bool,
    }

    impl Servers for Now {
        fn up(&self, _: &str, s: &str) -> bool {
            !self.down.contains(s)
        }
        fn settled(&self, _: &str, s: &str) -> bool {
            !self.unsettled.contains(s)
        }
        fn admin(&self, _: &str, s: &str) -> (Admin, Option<u32>) {
            let w = self.weights.iter().find(|(n, _)| *n == s).map(|&(_, w)| w);
            if self.drain.contains(s) {
                (Admin::Drain, w)
            } else {
                (Admin::Ready, w)
            }
        }
        fn frontend_enabled(&self, _: &str) -> bool {
            !self.disabled
        }
        fn serving(&self, _: &str) -> bool {
            self.serving
        }
    }

    fn now() -> Now {
        Now {
            down: HashSet::new(),
            drain: HashSet::new(),
            weights: Vec::new(),
            disabled: false,
            unsettled: HashSet::new(),
            serving: false,
        }
    }

    fn cfg() -> Config {
        rampart_config::parse(
            "t.toml",
            r#"
[gateway]
forward = ["ipv4"]
[[frontend]]
name = "www"
bind = ["10.10.0.10:80"]
backend = "pool"
mode = "nat"
[[frontend]]
name = "proxied"
bind = ["127.0.0.1:8080"]
backend = "pool"
[[backend]]
name = "pool"
servers = [
  { name = "web1", addr = "192.168.1.21:8080" },
  { name = "web2", addr = "192.168.1.22:8080", weight = 3 },
  { name = "spare", addr = "192.168.1.23:8080", backup = true },
]
"#,
        )
        .unwrap()
    }

    fn shares(f: &Frontend) -> Vec<usize> {
        (0..f.servers.len())
            .map(|i| f.table.iter().filter(|&&x| x as usize == i).count())
            .collect()
    }

    #[test]
    fn nat_frontends_only_with_weights_health_admin_and_backups() {
        let cfg = cfg();
        let p = Plan::new(&cfg, &now());
        assert_eq!(p.frontends.len(), 1);
        let f = &p.frontends[0];
        assert_eq!(f.vip, "10.10.0.10:80".parse().unwrap());
        assert_eq!(f.table.len(), 1021);
        let s = shares(f);
        assert_eq!(s[2], 0, "the backup takes none while primaries are up");
        assert!((s[1] as f64 / 1021.0 - 0.75).abs() < 0.01, "{s:?}");

        // web2 drained, then weighted 1 at run time.
        let mut n = now();
        n.drain.insert("web2");
        assert_eq!(shares(&Plan::new(&cfg, &n).frontends[0])[..2], [1021, 0]);
        let mut n = now();
        n.weights.push(("web2", 1));
        let s = shares(&Plan::new(&cfg, &n).frontends[0]);
        assert!((s[0] as f64 / 1021.0 - 0.5).abs() < 0.01, "{s:?}");

        // Both primaries down: the backup takes all; all down: no table.
        let mut n = now();
        n.down.extend(["web1", "web2"]);
        let p2 = Plan::new(&cfg, &n);
        assert_eq!(shares(&p2.frontends[0]), [0, 0, 1021]);
        assert!(p.same_shape(&p2));
        let pins = |p: &Plan| {
            p.frontends[0]
                .servers
                .iter()
                .map(|s| s.pinned)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            pins(&p2),
            [false, false, true],
            "down: their connections end"
        );
        let mut d = now();
        d.drain.insert("web2");
        assert_eq!(
            pins(&Plan::new(&cfg, &d)),
            [true, true, true],
            "drain keeps them"
        );
        n.down.insert("spare");
        assert!(Plan::new(&cfg, &n).frontends[0].table.is_empty());
        n.disabled = true;
        assert!(!Plan::new(&cfg, &n).frontends[0].accepting);
        // One server not checked yet: no table (as its peers' may differ).
        let mut n = now();
        n.unsettled.insert("spare");
        assert!(Plan::new(&cfg, &n).frontends[0].table.is_empty());
        assert!(Plan::new(&cfg, &n).waiting());
        // A server a reload added, not checked yet: the others serve on,
        // it joins once checked (not up before).
        let mut n = now();
        n.unsettled.insert("web1");
        n.down.insert("web1");
        n.serving = true;
        let p = Plan::new(&cfg, &n);
        assert!(!p.waiting());
        assert_eq!(p.frontends[0].servers[0].weight, 0);
        assert!(p.frontends[0].table.iter().all(|&s| s == 1));
        assert!(!p.frontends[0].table.is_empty());
        // A node started over a table in place: servers not checked yet
        // keep their connections' pins, though not up yet.
        let mut n = now();
        for s in ["web1", "web2", "spare"] {
            n.unsettled.insert(s);
            n.down.insert(s);
        }
        assert_eq!(pins(&Plan::new(&cfg, &n)), [true, true, true]);
    }
}

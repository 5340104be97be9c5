//! A [`Plan`] as nftables text, for `nft -f -` (one transaction).
//!
//! Stateless both ways, nothing tracked (see the README's design notes
//! for the measurement behind the choice):
//!
//! ```text
//! prerouting, priority raw (before conntrack):
//!   client -> VIP:port   notrack; jhash(client addr . port) picks an entry of
//!                        the frontend's Maglev map -> the server's chain:
//!                        counted, destination rewritten to the server
//!   server -> (not us)   notrack (a reply of a rewritten connection)
//! postrouting:
//!   server:port -> *     source rewritten back to VIP:port, counted
//! ```
//!
//! Every name in the table is made of an address and port, never of a
//! position in the config nor of a config name: the frontend's chain is
//! `vip_10_10_0_10_80`, a server's chain `srv_192_168_1_21_8080`, its pins
//! `pin_…` and its counters `to_…`. A reload, an upgrade or a start after
//! `kill -9` therefore changes the table in place ([`apply`]): the objects
//! of servers that stay (their pins, their counters) are kept, those of
//! servers gone are deleted, all in one transaction.

use std::collections::BTreeSet;
use std::fmt::Write;
use std::net::{IpAddr, SocketAddr};

use super::plan::{Frontend, Plan, SEED};

/// rampart's NAT table (the gateway's is `inet rampart`).
pub const TABLE: &str = "rampart_nat";

/// Pinned connections per server: past it, new ones go unpinned (they
/// keep their server while the table does not change).
const PINS: u32 = 262_144;

/// A pin outlives this much silence (LVS's TCP timeout): a connection
/// idle for longer goes by the table again.
const PIN_IDLE: &str = "15m";

/// `tcp flags` of a connection's first packet: SYN without ACK.
const FIRST: &str = "tcp flags & (fin|syn|rst|ack) == syn";

/// The base chains: (name, hook, priority). `forward` runs after every
/// filter of the host (priority 1000): a SYN counted there is one the node
/// sends on.
const BASE: [(&str, &str, &str); 3] = [
    ("prerouting", "prerouting", "raw"),
    ("postrouting", "postrouting", "srcnat"),
    ("forward", "forward", "1000"),
];

/// The kinds of named objects a table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Chain,
    Set,
    Counter,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Chain => "chain",
            Kind::Set => "set",
            Kind::Counter => "counter",
        }
    }
}

/// The named objects of a table.
pub type Names = BTreeSet<(Kind, String)>;

fn family(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(_) => "ip",
        IpAddr::V6(_) => "ip6",
    }
}

/// `ip daddr 10.0.0.1` / `ip6 daddr 2001:db8::1`.
fn addr(ip: IpAddr, field: &str) -> String {
    format!("{} {field} {ip}", family(ip))
}

/// An address and port as a name: `192_168_1_21_8080`, or for IPv6 the
/// eight groups in hex (`fd00_0_0_0_0_0_0_21_8443`).
fn key(a: SocketAddr) -> String {
    let ip = match a.ip() {
        IpAddr::V4(v4) => v4
            .octets()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        IpAddr::V6(v6) => v6
            .segments()
            .iter()
            .map(|s| format!("{s:x}"))
            .collect::<Vec<_>>(),
    };
    format!("{}_{}", ip.join("_"), a.port())
}

/// The frontend's entry chain.
fn entry(f: &Frontend) -> String {
    format!("vip_{}", key(f.vip))
}

/// A server's chain to it (`""`), of its connections (`"_conn"`), back
/// from it (`"_back"`).
fn chain(server: SocketAddr, part: &str) -> String {
    format!("srv_{}{part}", key(server))
}

/// A server's pins.
fn pins(server: SocketAddr) -> String {
    format!("pin_{}", key(server))
}

/// The name of a server's counter of `kind` (`conn`, `to`, `back`,
/// `synack`): the one spelling the table and its readers share.
pub fn counter(kind: &str, server: SocketAddr) -> String {
    format!("{kind}_{}", key(server))
}

const COUNTERS: [&str; 4] = ["conn", "to", "back", "synack"];

fn set_of(nets: &[ipnet::IpNet], v6: bool) -> Option<String> {
    let list: Vec<String> = nets
        .iter()
        .filter(|n| matches!(n, ipnet::IpNet::V6(_)) == v6)
        .map(ToString::to_string)
        .collect();
    (!list.is_empty()).then(|| format!("{{ {} }}", list.join(", ")))
}

/// Each server once (validation makes a server address belong to one NAT
/// frontend only; the first wins if not), with its frontend.
fn servers(plan: &Plan) -> Vec<(&Frontend, SocketAddr)> {
    let mut seen = std::collections::HashSet::new();
    plan.frontends
        .iter()
        .flat_map(|f| f.servers.iter().map(move |s| (f, s.addr)))
        .filter(|(_, a)| seen.insert(*a))
        .collect()
}

/// Every object `plan`'s table holds.
pub fn names(plan: &Plan) -> Names {
    let mut n = Names::new();
    for (b, _, _) in BASE {
        n.insert((Kind::Chain, b.to_string()));
    }
    for f in &plan.frontends {
        n.insert((Kind::Chain, entry(f)));
    }
    for (_, a) in servers(plan) {
        for part in ["", "_conn", "_back"] {
            n.insert((Kind::Chain, chain(a, part)));
        }
        n.insert((Kind::Set, pins(a)));
        for kind in COUNTERS {
            n.insert((Kind::Counter, counter(kind, a)));
        }
    }
    n
}

/// The objects of `table` in a listing (`nft -j list table`).
pub fn listed(doc: &serde_json::Value) -> Names {
    doc["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| {
            let (kind, v) = [
                (Kind::Chain, "chain"),
                (Kind::Set, "set"),
                (Kind::Counter, "counter"),
            ]
            .into_iter()
            .find_map(|(k, w)| Some((k, o.get(w)?)))?;
            (v.get("table")?.as_str()? == TABLE)
                .then(|| Some((kind, v.get("name")?.as_str()?.to_string())))
                .flatten()
        })
        .collect()
}

/// The whole table, deleted and created anew: every pin and counter
/// starts from nothing. For when [`apply`] failed.
pub fn full(plan: &Plan) -> String {
    delete() + &apply(plan, &Names::new())
}

/// Brings a table that holds `existing` to `plan`, in one transaction:
/// every object the plan needs is added (kept if there: pins and counters
/// run on), every chain rewritten, and the objects no server of the plan
/// owns any more deleted once nothing refers to them.
pub fn apply(plan: &Plan, existing: &Names) -> String {
    let mut t = format!("add table inet {TABLE}\n");
    let rules = |t: &mut String, chain: &str, rules: &[String]| {
        let _ = writeln!(t, "flush chain inet {TABLE} {chain}");
        for r in rules {
            let _ = writeln!(t, "add rule inet {TABLE} {chain} {r}");
        }
    };
    for (f, a) in servers(plan) {
        let fam = family(a.ip());
        for kind in COUNTERS {
            let _ = writeln!(t, "add counter inet {TABLE} {}", counter(kind, a));
        }
        let _ = writeln!(
            t,
            "add set inet {TABLE} {} {{ type {} . inet_service; size {PINS}; \
             flags dynamic,timeout; timeout {PIN_IDLE}; }}",
            pins(a),
            if fam == "ip" {
                "ipv4_addr"
            } else {
                "ipv6_addr"
            }
        );
        for part in ["", "_conn", "_back"] {
            let _ = writeln!(t, "add chain inet {TABLE} {}", chain(a, part));
        }
        rules(
            &mut t,
            &chain(a, ""),
            &[
                format!(
                    "tcp flags & (syn|rst) == 0 update @{} {{ {fam} saddr . tcp sport }}",
                    pins(a)
                ),
                format!("counter name \"{}\"", counter("to", a)),
                format!("{fam} daddr set {} tcp dport set {}", a.ip(), a.port()),
                "accept".to_string(),
            ],
        );
        // Connections counted where they leave the node: a SYN dropped
        // on the way (TTL, rp_filter, a firewall) is no SYN the server
        // failed to answer.
        rules(
            &mut t,
            &chain(a, "_conn"),
            &[format!("counter name \"{}\"", counter("conn", a))],
        );
        rules(
            &mut t,
            &chain(a, "_back"),
            &[
                format!(
                    "tcp flags & (syn|ack) == syn|ack counter name \"{}\"",
                    counter("synack", a)
                ),
                format!("counter name \"{}\"", counter("back", a)),
                format!(
                    "{} saddr set {} tcp sport set {}",
                    family(f.vip.ip()),
                    f.vip.ip(),
                    f.vip.port()
                ),
                "accept".to_string(),
            ],
        );
    }
    for f in &plan.frontends {
        let _ = writeln!(t, "add chain inet {TABLE} {}", entry(f));
    }
    for (name, hook, priority) in BASE {
        let _ = writeln!(
            t,
            "add chain inet {TABLE} {name} {{ type filter hook {hook} priority {priority}; \
             policy accept; }}"
        );
    }
    let mut pre: Vec<String> = plan
        .frontends
        .iter()
        .map(|f| {
            format!(
                "{} tcp dport {} goto {}",
                addr(f.vip.ip(), "daddr"),
                f.vip.port(),
                entry(f)
            )
        })
        .collect();
    // Replies of rewritten connections: conntrack must not see them (it
    // would pick them up mid-stream, and the gateway's masquerade would
    // then translate them). Replies to this node's own connections to
    // the servers (health checks, proxy mode) stay tracked.
    for (fam, list) in by_family(plan, |a| format!("{} . {}", a.ip(), a.port())) {
        pre.push(format!(
            "{fam} saddr . tcp sport {{ {} }} fib daddr type != local notrack",
            list.join(", ")
        ));
    }
    rules(&mut t, "prerouting", &pre);
    let post: Vec<String> = by_family(plan, |a| {
        format!("{} . {} : goto {}", a.ip(), a.port(), chain(a, "_back"))
    })
    .into_iter()
    .map(|(fam, list)| format!("{fam} saddr . tcp sport vmap {{ {} }}", list.join(", ")))
    .collect();
    rules(&mut t, "postrouting", &post);
    let fwd: Vec<String> = by_family(plan, |a| {
        format!("{} . {} : jump {}", a.ip(), a.port(), chain(a, "_conn"))
    })
    .into_iter()
    .map(|(fam, list)| {
        format!(
            "{FIRST} {fam} daddr . tcp dport vmap {{ {} }}",
            list.join(", ")
        )
    })
    .collect();
    rules(&mut t, "forward", &fwd);
    t.push_str(&update(plan));
    // What no server of the plan owns any more (a reload removed it, or
    // an older table named it otherwise): the chains emptied first, as
    // they refer to each other and to the sets and counters.
    let wanted = names(plan);
    let gone: Vec<&(Kind, String)> = existing.difference(&wanted).collect();
    for (kind, name) in &gone {
        if *kind == Kind::Chain {
            let _ = writeln!(t, "flush chain inet {TABLE} {name}");
        }
    }
    for (kind, name) in &gone {
        let _ = writeln!(t, "delete {} inet {TABLE} {name}", kind.word());
    }
    t
}

/// The part health and admin state change: each frontend's entry chain,
/// with its Maglev table as an anonymous verdict map (nft 1.0.6 cannot
/// list a named map keyed by `jhash`). The counters are named objects
/// and run on.
pub fn update(plan: &Plan) -> String {
    let mut t = String::new();
    for f in &plan.frontends {
        let name = entry(f);
        let _ = writeln!(t, "flush chain inet {TABLE} {name}");
        let v6 = f.vip.is_ipv6();
        let fam = family(f.vip.ip());
        let mut rules = vec!["notrack".to_string()];
        if let Some(allow) = set_of(&f.allow, v6) {
            rules.push(format!("{fam} saddr != {allow} drop"));
        } else if !f.allow.is_empty() {
            // Only the other family is allowed: nobody of this one.
            rules.push("drop".to_string());
        }
        if let Some(deny) = set_of(&f.deny, v6) {
            rules.push(format!("{fam} saddr {deny} drop"));
        }
        if !f.accepting {
            rules.push(format!("{FIRST} drop"));
        }
        if let Some(n) = f.rate_limit {
            rules.push(format!("{FIRST} limit rate over {n}/second drop"));
        }
        // Pins: a connection stays with the server it started on while the
        // table changes under it (a server drained, weighted, back up). A
        // new connection forgets what an earlier one of the same client
        // address and port left.
        let forget: Vec<String> = f
            .servers
            .iter()
            .map(|s| format!("delete @{} {{ {fam} saddr . tcp sport }}", pins(s.addr)))
            .collect();
        if !forget.is_empty() {
            rules.push(format!("{FIRST} {}", forget.join(" ")));
        }
        for s in &f.servers {
            if s.pinned {
                rules.push(format!(
                    "tcp flags & syn == 0 {fam} saddr . tcp sport @{} goto {}",
                    pins(s.addr),
                    chain(s.addr, "")
                ));
            } else {
                let _ = writeln!(t, "flush set inet {TABLE} {}", pins(s.addr));
            }
        }
        if f.table.is_empty() {
            // No server: the client's SYN goes unanswered and is retried,
            // and gets through once a server is back.
            rules.push("drop".to_string());
        } else {
            let elements: Vec<String> = f
                .table
                .iter()
                .enumerate()
                .filter_map(|(e, &s)| {
                    let to = f.servers.get(s as usize)?;
                    Some(format!("{e} : goto {}", chain(to.addr, "")))
                })
                .collect();
            rules.push(format!(
                "jhash {fam} saddr . tcp sport mod {} seed {SEED:#x} vmap {{ {} }}",
                f.table.len(),
                elements.join(", ")
            ));
        }
        for r in rules {
            let _ = writeln!(t, "add rule inet {TABLE} {name} {r}");
        }
    }
    t
}

/// One element per server address, grouped by family, in the form `item`
/// gives from the address.
fn by_family(plan: &Plan, item: impl Fn(SocketAddr) -> String) -> Vec<(&'static str, Vec<String>)> {
    let mut out: Vec<(&'static str, Vec<String>)> = Vec::new();
    for (_, a) in servers(plan) {
        let fam = family(a.ip());
        let it = item(a);
        match out.iter_mut().find(|(k, _)| *k == fam) {
            Some((_, l)) => l.push(it),
            None => out.push((fam, vec![it])),
        }
    }
    out
}

/// Deletes the table (created first, so that the delete cannot fail).
pub fn delete() -> String {
    format!("add table inet {TABLE}\ndelete table inet {TABLE}\n")
}

#[cfg(test)]
mod tests {
    use super::super::plan::Server;
    use super::*;

    fn plan(accepting: bool, table: Vec<u32>) -> Plan {
        Plan {
            frontends: vec![Frontend {
                name: "www".into(),
                backend: "pool".into(),
                vip: "10.10.0.10:80".parse().unwrap(),
                allow: vec![
                    "10.10.0.0/24".parse().unwrap(),
                    "2001:db8::/32".parse().unwrap(),
                ],
                deny: vec!["10.10.0.66/32".parse().unwrap()],
                rate_limit: Some(500),
                accepting,
                servers: vec![
                    Server {
                        name: "web1".into(),
                        addr: "192.168.1.21:8080".parse().unwrap(),
                        weight: 1,
                        pinned: true,
                    },
                    Server {
                        name: "web2".into(),
                        addr: "192.168.1.22:8080".parse().unwrap(),
                        weight: 1,
                        pinned: false,
                    },
                ],
                table,
                waiting: false,
            }],
        }
    }

    #[test]
    fn the_table_rewrites_both_ways_and_the_update_only_the_entry_chain() {
        let full = full(&plan(true, vec![0, 1, 1]));
        for want in [
            "add table inet rampart_nat\ndelete table inet rampart_nat\nadd table inet rampart_nat\n",
            "add chain inet rampart_nat prerouting { type filter hook prerouting priority raw; policy accept; }",
            "add rule inet rampart_nat prerouting ip daddr 10.10.0.10 tcp dport 80 goto vip_10_10_0_10_80",
            "add rule inet rampart_nat prerouting ip saddr . tcp sport { 192.168.1.21 . 8080, 192.168.1.22 . 8080 } fib daddr type != local notrack",
            "add rule inet rampart_nat postrouting ip saddr . tcp sport vmap { 192.168.1.21 . 8080 : goto srv_192_168_1_21_8080_back, 192.168.1.22 . 8080 : goto srv_192_168_1_22_8080_back }",
            "add rule inet rampart_nat srv_192_168_1_22_8080 counter name \"to_192_168_1_22_8080\"\n\
             add rule inet rampart_nat srv_192_168_1_22_8080 ip daddr set 192.168.1.22 tcp dport set 8080\n",
            "add rule inet rampart_nat srv_192_168_1_21_8080_back counter name \"back_192_168_1_21_8080\"\n\
             add rule inet rampart_nat srv_192_168_1_21_8080_back ip saddr set 10.10.0.10 tcp sport set 80\n",
            "add rule inet rampart_nat srv_192_168_1_21_8080_conn counter name \"conn_192_168_1_21_8080\"\n",
            "add chain inet rampart_nat forward { type filter hook forward priority 1000; policy accept; }",
            "add rule inet rampart_nat forward tcp flags & (fin|syn|rst|ack) == syn ip daddr . tcp dport vmap { 192.168.1.21 . 8080 : jump srv_192_168_1_21_8080_conn, 192.168.1.22 . 8080 : jump srv_192_168_1_22_8080_conn }",
            "add set inet rampart_nat pin_192_168_1_22_8080 { type ipv4_addr . inet_service; size 262144; flags dynamic,timeout; timeout 15m; }",
            "add counter inet rampart_nat synack_192_168_1_22_8080\n",
            "srv_192_168_1_22_8080 tcp flags & (syn|rst) == 0 update @pin_192_168_1_22_8080 { ip saddr . tcp sport }",
        ] {
            assert!(full.contains(want), "{want}\n---\n{full}");
        }
        assert!(!full.contains("delete chain"), "{full}");
        let update = update(&plan(true, vec![0, 1, 1]));
        assert_eq!(
            update,
            "flush chain inet rampart_nat vip_10_10_0_10_80\n\
             flush set inet rampart_nat pin_192_168_1_22_8080\n\
             add rule inet rampart_nat vip_10_10_0_10_80 notrack\n\
             add rule inet rampart_nat vip_10_10_0_10_80 ip saddr != { 10.10.0.0/24 } drop\n\
             add rule inet rampart_nat vip_10_10_0_10_80 ip saddr { 10.10.0.66/32 } drop\n\
             add rule inet rampart_nat vip_10_10_0_10_80 tcp flags & (fin|syn|rst|ack) == syn limit rate over 500/second drop\n\
             add rule inet rampart_nat vip_10_10_0_10_80 tcp flags & (fin|syn|rst|ack) == syn \
             delete @pin_192_168_1_21_8080 { ip saddr . tcp sport } delete @pin_192_168_1_22_8080 { ip saddr . tcp sport }\n\
             add rule inet rampart_nat vip_10_10_0_10_80 tcp flags & syn == 0 ip saddr . tcp sport @pin_192_168_1_21_8080 goto srv_192_168_1_21_8080\n\
             add rule inet rampart_nat vip_10_10_0_10_80 jhash ip saddr . tcp sport mod 3 seed 0x72616d70 \
             vmap { 0 : goto srv_192_168_1_21_8080, 1 : goto srv_192_168_1_22_8080, 2 : goto srv_192_168_1_22_8080 }\n"
        );
        assert!(full.ends_with(&update));
        // Disabled: first packets dropped; no server: everything dropped.
        let off = super::update(&plan(false, Vec::new()));
        assert!(
            off.contains("vip_10_10_0_10_80 tcp flags & (fin|syn|rst|ack) == syn drop\n"),
            "{off}"
        );
        assert!(
            off.ends_with("add rule inet rampart_nat vip_10_10_0_10_80 drop\n"),
            "{off}"
        );
        assert!(!off.contains("jhash"), "{off}");
    }

    #[test]
    fn a_table_in_place_is_changed_keeping_what_stays_and_deleting_what_went() {
        // In place: web1 and web2 (this plan), and a chain of an older
        // naming nobody refers to any more.
        let mut existing = names(&plan(true, vec![0, 1]));
        existing.insert((Kind::Chain, "f0s1".to_string()));
        // The reload: web2 removed, web3 added.
        let mut p = plan(true, vec![0, 1]);
        p.frontends[0].servers[1].name = "web3".into();
        p.frontends[0].servers[1].addr = "192.168.1.23:8080".parse().unwrap();
        let t = apply(&p, &existing);
        assert!(!t.contains("delete table"), "{t}");
        // What stays is added (a no-op for what is there), never deleted.
        assert!(
            t.contains("add set inet rampart_nat pin_192_168_1_21_8080 {"),
            "{t}"
        );
        assert!(
            !t.contains("delete set inet rampart_nat pin_192_168_1_21_8080"),
            "{t}"
        );
        // What went: emptied, then deleted, chains before what they use.
        let tail: Vec<&str> = t
            .lines()
            .skip_while(|l| !l.starts_with("flush chain inet rampart_nat f0s1"))
            .collect();
        assert_eq!(
            tail,
            [
                "flush chain inet rampart_nat f0s1",
                "flush chain inet rampart_nat srv_192_168_1_22_8080",
                "flush chain inet rampart_nat srv_192_168_1_22_8080_back",
                "flush chain inet rampart_nat srv_192_168_1_22_8080_conn",
                "delete chain inet rampart_nat f0s1",
                "delete chain inet rampart_nat srv_192_168_1_22_8080",
                "delete chain inet rampart_nat srv_192_168_1_22_8080_back",
                "delete chain inet rampart_nat srv_192_168_1_22_8080_conn",
                "delete set inet rampart_nat pin_192_168_1_22_8080",
                "delete counter inet rampart_nat back_192_168_1_22_8080",
                "delete counter inet rampart_nat conn_192_168_1_22_8080",
                "delete counter inet rampart_nat synack_192_168_1_22_8080",
                "delete counter inet rampart_nat to_192_168_1_22_8080",
            ]
        );
        // Nothing refers to what goes once the transaction is through.
        let before_tail = &t[..t.find("flush chain inet rampart_nat f0s1").unwrap()];
        let last_use = before_tail.rfind("192_168_1_22").unwrap_or(0);
        let last_flush = before_tail
            .rfind("flush chain inet rampart_nat forward")
            .unwrap();
        assert!(last_use < last_flush, "{t}");
        // Read back from a listing.
        let doc = serde_json::json!({"nftables": [
            {"metainfo": {"version": "1.0.6"}},
            {"table": {"family": "inet", "name": "rampart_nat"}},
            {"chain": {"family": "inet", "table": "rampart_nat", "name": "f0s1"}},
            {"set": {"family": "inet", "table": "rampart_nat", "name": "pin_192_168_1_21_8080"}},
            {"counter": {"family": "inet", "table": "rampart_nat", "name": "to_192_168_1_21_8080", "packets": 1, "bytes": 60}},
            {"chain": {"family": "inet", "table": "rampart", "name": "forward"}},
        ]});
        assert_eq!(
            listed(&doc),
            Names::from([
                (Kind::Chain, "f0s1".to_string()),
                (Kind::Set, "pin_192_168_1_21_8080".to_string()),
                (Kind::Counter, "to_192_168_1_21_8080".to_string()),
            ])
        );
    }

    #[test]
    fn ipv6_frontends_match_and_rewrite_ip6_fields() {
        let mut p = plan(true, vec![0, 1]);
        let f = &mut p.frontends[0];
        f.vip = "[2001:db8::10]:443".parse().unwrap();
        f.servers[0].addr = "[fd00::21]:8443".parse().unwrap();
        f.servers[1].addr = "[fd00::22]:8443".parse().unwrap();
        let t = full(&p);
        for want in [
            "ip6 daddr 2001:db8::10 tcp dport 443 goto vip_2001_db8_0_0_0_0_0_10_443",
            "ip6 saddr . tcp sport { fd00::21 . 8443, fd00::22 . 8443 } fib daddr type != local notrack",
            "srv_fd00_0_0_0_0_0_0_21_8443 ip6 daddr set fd00::21 tcp dport set 8443",
            "ip6 saddr set 2001:db8::10 tcp sport set 443",
            "type ipv6_addr . inet_service",
            "ip6 saddr != { 2001:db8::/32 } drop",
            "jhash ip6 saddr . tcp sport mod 2",
        ] {
            assert!(t.contains(want), "{want}\n---\n{t}");
        }
    }
}

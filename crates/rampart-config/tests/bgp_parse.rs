//! Valid `[bgp]` sections: the model they produce, defaults and what a
//! neighbor inherits from `[bgp]`, the neighbors an announcement goes to,
//! boundary values, the seed examples, and that an MD5 password never
//! reaches `Debug` output.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{BGP, POOL, VI, WWW, announce_with, neighbor_with, ok};
use ipnet::IpNet;
use rampart_config::{
    Announce, AnnouncePolicy, Bfd, Bgp, Config, Family, Md5Key, Neighbor, PeerMode, defaults, load,
};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

const FULL: &str = r#"
[bgp]
router_id = "10.99.181.141"
local_as = 4200000000
hold_time = "30s"
connect_retry = "2s"
hold_down = "0s"
shutdown_bound = "5s"

[[bgp.neighbor]]
name = "bgp1"
address = "169.254.255.1"
remote_as = 65530
local_address = "10.99.181.141"
port = 1179
mode = "active"
password = "md5password"
hold_time = "9s"
multihop = 2
families = ["ipv4", "ipv6"]
next_hop_v4 = "10.99.181.141"
next_hop_v6 = "2001:db8::141"
prepend = 2
med = 50

[[bgp.neighbor]]
name = "rr"
address = "2001:db8::1"
remote_as = 4200000000
mode = "passive"
ttl_security = true
local_pref = 200
bfd = true
bfd_interval = "50ms"
bfd_multiplier = 5

[[bgp.announce]]
prefix = "147.75.78.116/32"
policy = { while_healthy = "www" }
min_servers = 2
neighbors = ["bgp1"]
communities = ["65000:100", "no-export", "no-advertise", "no-export-subconfed"]
large_communities = ["4200000000:1:2"]
med = 10

[[bgp.announce]]
prefix = "2001:db8:100::/48"
policy = { while_master = "VI_1" }

[[bgp.announce]]
prefix = "198.51.100.7"
policy = "always"
"#;

#[test]
fn full_example_gives_the_expected_model() {
    let bgp1 = Neighbor {
        name: "bgp1".to_string(),
        address: ip("169.254.255.1"),
        remote_as: 65530,
        local_address: Some(ip("10.99.181.141")),
        port: 1179,
        mode: PeerMode::Active,
        password: Md5Key::new(b"md5password"),
        hold_time: Duration::from_secs(9),
        ttl_security: false,
        multihop: 2,
        families: vec![Family::Ipv4, Family::Ipv6],
        next_hop_v4: Some(v4("10.99.181.141")),
        next_hop_v6: Some("2001:db8::141".parse().unwrap()),
        prepend: 2,
        local_pref: None,
        med: Some(50),
        bfd: None,
    };
    let rr = Neighbor {
        name: "rr".to_string(),
        address: ip("2001:db8::1"),
        remote_as: 4_200_000_000,
        local_address: None,
        port: 179,
        mode: PeerMode::Passive,
        password: None,
        hold_time: Duration::from_secs(30),
        ttl_security: true,
        multihop: 1,
        families: vec![Family::Ipv6],
        next_hop_v4: None,
        next_hop_v6: None,
        prepend: 0,
        local_pref: Some(200),
        med: None,
        bfd: Some(Bfd {
            interval: Duration::from_millis(50),
            multiplier: 5,
        }),
    };
    let want = Bgp {
        router_id: Some(v4("10.99.181.141")),
        local_as: 4_200_000_000,
        hold_time: Duration::from_secs(30),
        connect_retry: Duration::from_secs(2),
        hold_down: Duration::ZERO,
        shutdown_bound: Duration::from_secs(5),
        neighbors: vec![bgp1, rr],
        announces: vec![
            Announce {
                prefix: net("147.75.78.116/32"),
                policy: AnnouncePolicy::WhileHealthy {
                    frontend: "www".to_string(),
                    min_servers: 2,
                },
                neighbors: vec!["bgp1".to_string()],
                communities: vec![65000 << 16 | 100, 0xffff_ff01, 0xffff_ff02, 0xffff_ff03],
                large_communities: vec![[4_200_000_000, 1, 2]],
                med: Some(10),
            },
            Announce {
                prefix: net("2001:db8:100::/48"),
                policy: AnnouncePolicy::WhileMaster("VI_1".to_string()),
                // Every neighbor that carries IPv6, in file order.
                neighbors: vec!["bgp1".to_string(), "rr".to_string()],
                communities: Vec::new(),
                large_communities: Vec::new(),
                med: None,
            },
            Announce {
                prefix: net("198.51.100.7/32"),
                policy: AnnouncePolicy::Always,
                neighbors: vec!["bgp1".to_string()],
                communities: Vec::new(),
                large_communities: Vec::new(),
                med: None,
            },
        ],
    };
    let c = ok(&format!("{WWW}{POOL}{VI}{FULL}"));
    assert_eq!(c.bgp, want);
    assert!(c.bgp.is_enabled());
    let rr = c.bgp.neighbor("rr").unwrap();
    assert!(rr.is_ibgp(c.bgp.local_as) && rr.carries(Family::Ipv6) && !rr.carries(Family::Ipv4));
    assert!(!c.bgp.neighbors[0].is_ibgp(c.bgp.local_as));
    assert_eq!(c.bgp.neighbor("bgp9"), None);
}

#[test]
fn without_neighbors_bgp_is_disabled() {
    for src in [
        format!("{WWW}{POOL}"),
        format!("{WWW}{POOL}[bgp]\n"),
        format!("{WWW}{POOL}[bgp]\nneighbor = []\n"),
    ] {
        let c = ok(&src);
        assert_eq!(c.bgp, Bgp::default());
        assert!(!c.bgp.is_enabled());
    }
    // Settings may stay in the file while BGP is off; nothing is required.
    let c = ok(&format!(
        "{WWW}{POOL}[bgp]\nlocal_as = 65000\nhold_time = \"30s\"\n"
    ));
    assert_eq!((c.bgp.router_id, c.bgp.local_as), (None, 65000));
    assert!(!c.bgp.is_enabled());
    let b = Bgp::default();
    assert_eq!(
        (b.hold_time, b.connect_retry, b.hold_down, b.shutdown_bound),
        (
            Duration::from_secs(90),
            Duration::from_secs(5),
            Duration::from_secs(5),
            Duration::from_secs(2)
        )
    );
}

#[test]
fn omitted_neighbor_keys_take_the_named_defaults() {
    let c = ok(BGP);
    let n = &c.bgp.neighbors[0];
    assert_eq!(n.port, defaults::BGP_PORT);
    assert_eq!(n.mode, PeerMode::Both);
    assert_eq!(n.password, None);
    assert_eq!(n.hold_time, defaults::BGP_HOLD_TIME);
    assert!(!n.ttl_security);
    assert_eq!(n.multihop, 1);
    assert_eq!(n.families, vec![Family::Ipv4]);
    assert_eq!((n.next_hop_v4, n.next_hop_v6), (None, None));
    assert_eq!((n.prepend, n.local_pref, n.med), (0, None, None));
    assert_eq!(n.local_address, None);
    assert_eq!(n.bfd, None, "BFD is off unless asked for");
    // `bfd = true` alone: 100 ms x 3.
    let c = ok(&neighbor_with("bfd = true"));
    assert_eq!(
        c.bgp.neighbors[0].bfd,
        Some(Bfd {
            interval: defaults::BFD_INTERVAL,
            multiplier: defaults::BFD_MULTIPLIER
        })
    );
    assert_eq!(
        (defaults::BFD_INTERVAL, defaults::BFD_MULTIPLIER),
        (Duration::from_millis(100), 3)
    );
    // iBGP: LOCAL_PREF defaults to 100.
    let c = ok(&BGP.replace("remote_as = 65530", "remote_as = 65000"));
    assert_eq!(
        c.bgp.neighbors[0].local_pref,
        Some(defaults::BGP_LOCAL_PREF)
    );
    // An IPv6 neighbor carries IPv6 by default.
    let c = ok(&BGP.replace("169.254.255.1", "2001:db8::1"));
    assert_eq!(c.bgp.neighbors[0].families, vec![Family::Ipv6]);
}

#[test]
fn neighbors_inherit_the_hold_time_of_bgp() {
    let src = BGP.replace("local_as = 65000", "local_as = 65000\nhold_time = \"0s\"");
    let c = ok(&format!(
        "{src}[[bgp.neighbor]]\nname = \"b2\"\naddress = \"192.0.2.9\"\nremote_as = 1\nhold_time = \"3s\"\n"
    ));
    assert_eq!(c.bgp.hold_time, Duration::ZERO);
    assert_eq!(c.bgp.neighbors[0].hold_time, Duration::ZERO);
    assert_eq!(c.bgp.neighbors[1].hold_time, Duration::from_secs(3));
}

#[test]
fn announcement_defaults() {
    let c = ok(&announce_with(""));
    let a = &c.bgp.announces[0];
    assert_eq!(a.prefix, net("192.0.2.0/24"));
    assert_eq!(a.policy, AnnouncePolicy::Always);
    assert_eq!(a.neighbors, vec!["bgp1"]);
    assert!(a.communities.is_empty() && a.large_communities.is_empty());
    assert_eq!(a.med, None);
    let c = ok(&format!(
        "{WWW}{POOL}{}",
        announce_with("policy = { while_healthy = \"www\" }")
    ));
    let want = AnnouncePolicy::WhileHealthy {
        frontend: "www".to_string(),
        min_servers: defaults::ANNOUNCE_MIN_SERVERS,
    };
    assert_eq!(c.bgp.announces[0].policy, want);
}

#[test]
fn boundary_values_are_accepted() {
    for extra in [
        "hold_time = \"0s\"",
        "hold_time = \"3s\"",
        "hold_time = \"65535s\"",
        "hold_time = \"3000ms\"",
        "port = 1",
        "port = 65535",
        "multihop = 255",
        "multihop = 1\nttl_security = true",
        "prepend = 10",
        "med = 4294967295",
        "password = \"12345678901234567890123456789012345678901234567890123456789012345678901234567890\"",
    ] {
        ok(&neighbor_with(extra));
    }
    for asn in ["1", "4294967295", "23455", "23457"] {
        ok(&BGP.replace("65530", asn));
    }
    for extra in [
        "communities = [\"0:0\", \"65535:65535\"]",
        "large_communities = [\"0:0:0\", \"4294967295:4294967295:4294967295\"]",
        "med = 0",
    ] {
        ok(&announce_with(extra));
    }
    ok(&BGP.replace(
        "local_as = 65000",
        "local_as = 65000\nconnect_retry = \"1s\"",
    ));
    ok(&BGP.replace(
        "local_as = 65000",
        "local_as = 65000\nconnect_retry = \"120s\"",
    ));
    // 0.0.0.0/0 has no host bits: a default route is a valid prefix.
    ok(&announce_with("").replace("192.0.2.0/24", "0.0.0.0/0"));
}

#[test]
fn sections_and_inline_tables_are_equivalent() {
    let inline = "[bgp]\nrouter_id = \"192.0.2.1\"\nlocal_as = 65000\n\
                  neighbor = [{ name = \"bgp1\", address = \"169.254.255.1\", remote_as = 65530 }]\n\
                  announce = [{ prefix = \"192.0.2.0/24\" }]\n";
    assert_eq!(ok(inline), ok(&announce_with("")));
}

#[test]
fn the_md5_password_never_appears_in_debug_output() {
    let c = ok(&neighbor_with("password = \"hunter22-bgp\""));
    let key = c.bgp.neighbors[0].password.clone().unwrap();
    assert_eq!(key.as_bytes(), b"hunter22-bgp");
    for text in [format!("{c:?}"), format!("{c:#?}")] {
        assert!(!text.contains("hunter22"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn example(name: &str) -> Config {
    load(&repo_root().join("examples").join(name)).unwrap_or_else(|e| panic!("{e}"))
}

/// The seed guide's bird.conf: local AS 65000, the provider's two routers
/// in AS 65530, only the elastic IP exported, while the proxy is healthy.
#[test]
fn seed_examples_announce_the_elastic_ip() {
    let lb1 = example("seed-lb.toml").bgp;
    let lb2 = example("seed-lb2.toml").bgp;
    assert_eq!(lb1.router_id, Some(v4("10.99.181.141")));
    assert_eq!(lb2.router_id, Some(v4("10.99.181.129")));
    assert_eq!(lb1.local_as, 65000);
    let peers: Vec<_> = lb1
        .neighbors
        .iter()
        .map(|n| (n.name.as_str(), n.address, n.remote_as, n.multihop))
        .collect();
    assert_eq!(
        peers,
        vec![
            ("bgp1", ip("169.254.255.1"), 65530, 2),
            ("bgp2", ip("169.254.255.2"), 65530, 2)
        ]
    );
    let want = Announce {
        prefix: net("147.75.78.116/32"),
        policy: AnnouncePolicy::WhileHealthy {
            frontend: "www".to_string(),
            min_servers: 1,
        },
        neighbors: vec!["bgp1".to_string(), "bgp2".to_string()],
        communities: Vec::new(),
        large_communities: Vec::new(),
        med: None,
    };
    assert_eq!(lb1.announces, vec![want]);
    // lb2 differs only in its router id.
    assert_eq!(
        Bgp {
            router_id: lb1.router_id,
            ..lb2
        },
        lb1
    );
}

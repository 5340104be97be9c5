//! Valid `[vrrp]` sections: the model they produce, defaults and what an
//! instance inherits from `[vrrp]`, equivalent spellings, boundary values,
//! the seed examples, and that a password never reaches `Debug` output.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{POOL, VI, WWW, instance_vips, instance_with, ok};
use ipnet::IpNet;
use rampart_config::{
    Config, Garp, InitialState, Notify, Password, SyncGroup, TrackIf, TrackProxy, TrackRef,
    TrackScript, V3Checksum, Vip, Vrrp, VrrpInstance, VrrpVersion, defaults, load,
};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn vip(s: &str) -> Vip {
    Vip {
        net: net(s),
        dev: None,
        label: None,
    }
}

fn argv(args: &[&str]) -> Option<Vec<String>> {
    Some(args.iter().map(|a| a.to_string()).collect())
}

const FULL: &str = r#"
[vrrp]
garp = { repeat = 3, delay = "2s", refresh = "60s", interval = "10ms" }
notify_timeout = "30s"
version = 3
checksum = "message-only"

[[vrrp.instance]]
name = "VI_1"
interface = "eth0"
vrid = 101
priority = 150
state = "master"
version = 2
advert_interval = "2s"
preempt_delay = "30s"
unicast_src = "10.99.181.141"
unicast_peers = ["10.99.181.129", "10.99.181.130"]
unicast_ttl = 64
unicast_min_ttl = 60
auth = { type = "pass", password = "s3cr3t!x" }
virtual_addresses = ["203.0.113.10", "192.168.1.1/24", { addr = "192.168.2.1/24", dev = "eth1", label = "eth1:gw" }]
track_proxy = { frontend = "www", min_servers = 2, weight = -50 }
track_interfaces = ["eth1", { name = "eth2", weight = -10 }]
track_scripts = ["chk_haproxy", { name = "chk_dns", weight = 5 }]
notify = { master = ["/usr/local/bin/hook", "up"], fault = ["/usr/local/bin/hook", "down"] }
garp = { repeat = 1 }

[[vrrp.instance]]
name = "VI_6"
interface = "eth0"
vrid = 101
preempt = false
advert_interval = "250ms"
virtual_addresses = ["2001:db8::10", "2001:db8:1::1/64"]

[[vrrp.script]]
name = "chk_haproxy"
command = ["/usr/bin/pgrep", "haproxy"]
interval = "2s"
timeout = "500ms"
fall = 2
rise = 3
weight = -20

[[vrrp.script]]
name = "chk_dns"
command = ["/usr/local/bin/chk-dns"]

[[vrrp.sync_group]]
name = "VG_1"
members = ["VI_1", "VI_6"]
notify = { any = ["/usr/local/bin/group-hook"] }
"#;

#[test]
fn full_example_gives_the_expected_model() {
    let global_garp = Garp {
        repeat: 3,
        delay: Duration::from_secs(2),
        refresh: Duration::from_secs(60),
        interval: Duration::from_millis(10),
    };
    let vi_1 = VrrpInstance {
        name: "VI_1".to_string(),
        interface: "eth0".to_string(),
        vrid: 101,
        priority: 150,
        initial: InitialState::Master,
        version: VrrpVersion::V2,
        advert_interval: Duration::from_secs(2),
        preempt: true,
        preempt_delay: Duration::from_secs(30),
        unicast_src: Some(ip("10.99.181.141")),
        unicast_peers: vec![ip("10.99.181.129"), ip("10.99.181.130")],
        unicast_ttl: 64,
        unicast_min_ttl: 60,
        auth: Password::new(b"s3cr3t!x"),
        checksum: V3Checksum::MessageOnly,
        vips: vec![
            vip("203.0.113.10/32"),
            vip("192.168.1.1/24"),
            Vip {
                dev: Some("eth1".to_string()),
                label: Some("eth1:gw".to_string()),
                ..vip("192.168.2.1/24")
            },
        ],
        track_proxy: Some(TrackProxy {
            frontend: "www".to_string(),
            min_servers: 2,
            weight: -50,
        }),
        track_interfaces: vec![
            TrackIf {
                name: "eth1".to_string(),
                weight: 0,
            },
            TrackIf {
                name: "eth2".to_string(),
                weight: -10,
            },
        ],
        track_scripts: vec![
            TrackRef {
                name: "chk_haproxy".to_string(),
                weight: None,
            },
            TrackRef {
                name: "chk_dns".to_string(),
                weight: Some(5),
            },
        ],
        notify: Notify {
            master: argv(&["/usr/local/bin/hook", "up"]),
            fault: argv(&["/usr/local/bin/hook", "down"]),
            ..Notify::default()
        },
        garp: Garp {
            repeat: 1,
            ..global_garp
        },
    };
    let vi_6 = VrrpInstance {
        name: "VI_6".to_string(),
        priority: defaults::VRRP_PRIORITY,
        initial: InitialState::Backup,
        version: VrrpVersion::V3,
        advert_interval: Duration::from_millis(250),
        preempt: false,
        preempt_delay: Duration::ZERO,
        unicast_src: None,
        unicast_peers: Vec::new(),
        unicast_ttl: defaults::VRRP_UNICAST_TTL,
        unicast_min_ttl: defaults::VRRP_UNICAST_MIN_TTL,
        auth: None,
        vips: vec![vip("2001:db8::10/128"), vip("2001:db8:1::1/64")],
        track_proxy: None,
        track_interfaces: Vec::new(),
        track_scripts: Vec::new(),
        notify: Notify::default(),
        garp: global_garp,
        ..vi_1.clone()
    };
    let want = Vrrp {
        garp: global_garp,
        notify_timeout: Duration::from_secs(30),
        instances: vec![vi_1, vi_6],
        scripts: vec![
            TrackScript {
                name: "chk_haproxy".to_string(),
                command: vec!["/usr/bin/pgrep".to_string(), "haproxy".to_string()],
                interval: Duration::from_secs(2),
                timeout: Duration::from_millis(500),
                fall: 2,
                rise: 3,
                weight: -20,
            },
            TrackScript {
                name: "chk_dns".to_string(),
                command: vec!["/usr/local/bin/chk-dns".to_string()],
                interval: defaults::SCRIPT_INTERVAL,
                timeout: defaults::SCRIPT_INTERVAL,
                fall: defaults::SCRIPT_FALL,
                rise: defaults::SCRIPT_RISE,
                weight: defaults::TRACK_WEIGHT,
            },
        ],
        sync_groups: vec![SyncGroup {
            name: "VG_1".to_string(),
            members: vec!["VI_1".to_string(), "VI_6".to_string()],
            notify: Notify {
                any: argv(&["/usr/local/bin/group-hook"]),
                ..Notify::default()
            },
        }],
    };
    let c = ok(&format!("{WWW}{POOL}{FULL}"));
    assert_eq!(c.vrrp, want);
    assert!(!c.vrrp.instances[0].is_ipv6() && c.vrrp.instances[1].is_ipv6());
    assert_eq!(c.instance("VI_6").map(|i| i.vrid), Some(101));
    assert_eq!(c.instance("VI_9"), None);
    assert_eq!(c.vrrp.script("chk_dns").map(|s| s.fall), Some(1));
}

#[test]
fn without_a_vrrp_section_there_are_no_instances() {
    assert_eq!(ok(&format!("{WWW}{POOL}")).vrrp, Vrrp::default());
    assert_eq!(ok(&format!("{WWW}{POOL}[vrrp]\n")).vrrp, Vrrp::default());
    let v = Vrrp::default();
    assert_eq!(v.notify_timeout, defaults::NOTIFY_TIMEOUT);
    assert_eq!(
        (v.garp.repeat, v.garp.delay, v.garp.refresh, v.garp.interval),
        (5, Duration::from_secs(5), Duration::ZERO, Duration::ZERO)
    );
}

#[test]
fn omitted_instance_keys_take_the_named_defaults() {
    let c = ok(VI);
    let i = &c.vrrp.instances[0];
    assert_eq!(i.priority, 100);
    assert_eq!(i.initial, InitialState::Backup);
    assert_eq!(i.version, defaults::VRRP_VERSION);
    assert_eq!(i.advert_interval, Duration::from_secs(1));
    assert!(i.preempt);
    assert_eq!(i.preempt_delay, Duration::ZERO);
    assert_eq!((i.unicast_src, i.unicast_peers.len()), (None, 0));
    assert_eq!((i.unicast_ttl, i.unicast_min_ttl), (255, 1));
    assert_eq!(i.auth, None);
    assert_eq!(i.checksum, V3Checksum::PseudoHeader);
    assert_eq!(i.vips, vec![vip("192.0.2.10/32")]);
    assert_eq!(i.track_proxy, None);
    assert!(i.track_interfaces.is_empty() && i.track_scripts.is_empty());
    assert_eq!(i.notify, Notify::default());
    assert_eq!(i.garp, Garp::default());
    let p = ok(&format!(
        "{WWW}{POOL}{}",
        instance_with("track_proxy = { frontend = \"www\" }")
    ));
    let tracker = p.vrrp.instances[0].track_proxy.clone();
    assert_eq!(tracker.map(|t| (t.min_servers, t.weight)), Some((1, 0)));
}

#[test]
fn instances_inherit_vrrp_settings_key_by_key() {
    let src = format!(
        "[vrrp]\nversion = 3\nchecksum = \"message-only\"\ngarp = {{ repeat = 2, refresh = \"30s\" }}\n{}",
        instance_with("garp = { repeat = 7 }")
    );
    let c = ok(&src);
    let i = &c.vrrp.instances[0];
    assert_eq!(i.version, VrrpVersion::V3);
    assert_eq!(i.checksum, V3Checksum::MessageOnly);
    let want = Garp {
        repeat: 7,
        refresh: Duration::from_secs(30),
        ..Garp::default()
    };
    assert_eq!(i.garp, want);
    assert_eq!(c.vrrp.garp.repeat, 2);
    // An instance's own version wins over [vrrp]'s.
    let c = ok(&format!(
        "[vrrp]\nversion = 3\n{}",
        instance_with("version = 2")
    ));
    assert_eq!(c.vrrp.instances[0].version, VrrpVersion::V2);
}

#[test]
fn list_entries_as_strings_tables_or_sections_are_equivalent() {
    let inline = instance_with("track_interfaces = [\"eth1\", { name = \"eth2\", weight = -3 }]");
    let sections = format!(
        "{VI}[[vrrp.instance.track_interfaces]]\nname = \"eth1\"\n\
         [[vrrp.instance.track_interfaces]]\nname = \"eth2\"\nweight = -3\n"
    );
    assert_eq!(ok(&inline), ok(&sections));
    let strings = instance_vips("[\"192.0.2.10\", \"192.0.2.11/24\"]", "");
    let tables = instance_vips(
        "[{ addr = \"192.0.2.10\" }, { addr = \"192.0.2.11/24\" }]",
        "",
    );
    assert_eq!(ok(&strings), ok(&tables));
}

#[test]
fn addresses_keep_their_prefix_and_host_bits() {
    let c = ok(&instance_vips(
        "[\"192.168.1.1/24\", \"192.168.1.2\", \"10.0.0.0/8\"]",
        "",
    ));
    let nets: Vec<IpNet> = c.vrrp.instances[0].vips.iter().map(|v| v.net).collect();
    assert_eq!(
        nets,
        vec![
            net("192.168.1.1/24"),
            net("192.168.1.2/32"),
            net("10.0.0.0/8")
        ]
    );
    assert_eq!(nets[0].addr(), ip("192.168.1.1"));
    let c = ok(&instance_vips("[\"2001:db8::1\"]", "version = 3"));
    assert_eq!(c.vrrp.instances[0].vips[0].net.prefix_len(), 128);
}

#[test]
fn boundary_values_are_accepted() {
    for extra in [
        "priority = 255",
        "priority = 1",
        "advert_interval = \"255s\"",
        "preempt_delay = \"1000s\"",
        "track_interfaces = [{ name = \"eth1\", weight = 254 }, { name = \"eth2\", weight = -254 }]",
        "unicast_src = \"192.0.2.1\"\nunicast_peers = [\"192.0.2.2\"]\nunicast_ttl = 1\nunicast_min_ttl = 255",
        "garp = { delay = \"0s\", refresh = \"0s\", interval = \"0s\" }",
    ] {
        ok(&instance_with(extra));
    }
    for vrid in ["1", "255"] {
        ok(&VI.replace("vrid = 101", &format!("vrid = {vrid}")));
    }
    for interval in ["10ms", "40950ms", "40s", "1s"] {
        ok(&instance_with(&format!(
            "version = 3\nadvert_interval = \"{interval}\""
        )));
    }
    // A label may be exactly the device name, or 15 bytes long.
    ok(&instance_vips(
        "[{ addr = \"192.0.2.1\", label = \"eth0\" }, { addr = \"192.0.2.2\", dev = \"enp1s0f1\", label = \"enp1s0f1:gatew\" }]",
        "",
    ));
    // The same vrid on another interface, or for the other family, is
    // another virtual router.
    let other = |iface: &str, vips: &str| {
        VI.replace("VI_1", "VI_2")
            .replace("eth0", iface)
            .replace("[\"192.0.2.10\"]", vips)
    };
    ok(&format!("{VI}{}", other("eth1", "[\"192.0.2.11\"]")));
    ok(&format!(
        "{VI}{}version = 3\n",
        other("eth0", "[\"2001:db8::1\"]")
    ));
}

#[test]
fn the_password_never_appears_in_debug_output() {
    let c = ok(&instance_with(
        "auth = { type = \"pass\", password = \"hunter22\" }",
    ));
    let auth = c.vrrp.instances[0].auth.clone().unwrap();
    assert_eq!(auth.wire(), *b"hunter22");
    assert_eq!(auth.as_bytes(), b"hunter22");
    for text in [format!("{c:?}"), format!("{c:#?}")] {
        assert!(!text.contains("hunter22"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
    }
    let short = ok(&instance_with(
        "auth = { type = \"pass\", password = \"11\" }",
    ));
    let wire = short.vrrp.instances[0].auth.as_ref().map(Password::wire);
    assert_eq!(wire, Some(*b"11\0\0\0\0\0\0"));
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn example(name: &str) -> Config {
    load(&repo_root().join("examples").join(name)).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn seed_examples_load_and_mirror_each_other() {
    let lb1 = example("seed-lb.toml");
    let vi_1 = lb1.instance("VI_1").unwrap();
    assert_eq!(
        (vi_1.interface.as_str(), vi_1.vrid, vi_1.priority),
        ("bond0", 101, 101)
    );
    assert_eq!(vi_1.initial, InitialState::Master);
    assert_eq!(vi_1.version, VrrpVersion::V2);
    assert_eq!(vi_1.unicast_src, Some(ip("10.99.181.141")));
    assert_eq!(vi_1.unicast_peers, vec![ip("10.99.181.129")]);
    assert_eq!(
        vi_1.auth.as_ref().map(Password::wire),
        Some(*b"1111\0\0\0\0")
    );
    assert_eq!(vi_1.vips, vec![vip("147.75.78.116/32")]);
    assert_eq!(
        vi_1.track_proxy.as_ref().map(|t| t.frontend.as_str()),
        Some("www")
    );
    let vi_2 = lb1.instance("VI_2").unwrap();
    assert_eq!((vi_2.interface.as_str(), vi_2.vrid), ("ens14f1", 102));
    assert_eq!(vi_2.vips, vec![vip("192.168.1.1/24")]);
    assert_eq!(lb1.vrrp.sync_groups[0].members, vec!["VI_1", "VI_2"]);

    // lb2 is lb1 with priority 100, state backup and the addresses swapped
    // (and its own BGP router id, see bgp_parse.rs).
    let mut lb2 = example("seed-lb2.toml");
    lb2.bgp.router_id = lb1.bgp.router_id;
    for i in &mut lb2.vrrp.instances {
        assert_eq!((i.priority, i.initial), (100, InitialState::Backup));
        assert_eq!(i.unicast_src, Some(ip("10.99.181.129")));
        assert_eq!(i.unicast_peers, vec![ip("10.99.181.141")]);
        i.priority = 101;
        i.initial = InitialState::Master;
        i.unicast_src = Some(ip("10.99.181.141"));
        i.unicast_peers = vec![ip("10.99.181.129")];
    }
    assert_eq!(lb1, lb2);
}

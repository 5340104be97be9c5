//! The importer on the seed guide's file and on small ones for each rule.

use super::*;
use crate::model::{InitialState, TrackProxy, VrrpVersion};

const SEED: &str = include_str!("../../../../../examples/seed-keepalived.conf");

fn with_frontend(toml: &str) -> crate::Config {
    let text = format!(
        "{toml}\n[[frontend]]\nname = \"www\"\nbind = [\"127.0.0.1:1\"]\nbackend = \"b\"\n\
         [[backend]]\nname = \"b\"\nservers = [{{ name = \"s\", addr = \"127.0.0.1:2\" }}]\n"
    );
    crate::parse("i.toml", &text).unwrap_or_else(|e| panic!("{}\n{text}", e.render()))
}

#[test]
fn the_seed_guides_keepalived_conf() {
    let got = import_keepalived("keepalived.conf", SEED, Some("www")).unwrap();
    let cfg = with_frontend(&got.toml);
    let v = &cfg.vrrp;
    assert_eq!(v.instances.len(), 2);
    let (a, b) = (&v.instances[0], &v.instances[1]);
    assert_eq!((a.name.as_str(), a.vrid, a.priority), ("VI_1", 101, 101));
    assert_eq!(a.initial, InitialState::Master);
    assert_eq!(a.interface, "bond0");
    assert_eq!(a.advert_interval.as_secs(), 1);
    assert_eq!(a.unicast_src, Some("10.99.181.141".parse().unwrap()));
    assert_eq!(
        a.unicast_peers,
        ["10.99.181.129".parse::<std::net::IpAddr>().unwrap()]
    );
    assert!(a.auth.is_some());
    // keepalived: a failing script without weight puts the instance in
    // FAULT; rampart: weight 0 does the same.
    assert_eq!(
        a.track_proxy,
        Some(TrackProxy {
            frontend: "www".into(),
            min_servers: 1,
            weight: 0
        })
    );
    assert!(a.track_scripts.is_empty());
    assert!(v.scripts.is_empty(), "the pgrep script is not run");
    assert_eq!(b.interface, "ens14f1");
    assert_eq!(b.vips[0].dev.as_deref(), Some("enp1s0f1"));
    assert_eq!(b.vips[0].label.as_deref(), Some("gateway:0"));
    assert!(
        got.warnings.iter().any(|w| w
            .starts_with("keepalived.conf:5: vrrp_script `chk_haproxy` checks that HAProxy runs")),
        "{:?}",
        got.warnings
    );
    // Without the frontend it says what to give.
    let e = import_keepalived("keepalived.conf", SEED, None).unwrap_err();
    assert!(
        e.iter().any(|e| e.contains("give --frontend NAME")),
        "{e:?}"
    );
}

#[test]
fn scripts_groups_notify_and_the_rest() {
    let text = r#"
global_defs {
router_id lb1
vrrp_version 3
vrrp_garp_master_repeat 3
}
vrrp_script chk_dns {
script "/usr/local/bin/check-dns --fast"
interval 0.5
fall 2
rise 3
weight -20
}
vrrp_instance A {
interface eth0
virtual_router_id 7
advert_int 0.1
nopreempt
track_script {
    chk_dns weight -5
}
track_interface {
    eth1 weight -10
    eth2
}
notify_master "/etc/rampart/up.sh master"
virtual_ipaddress {
    10.0.0.10/24 brd 10.0.0.255
}
}
vrrp_instance B
{
interface eth0
virtual_router_id 8
virtual_ipaddress {
    10.0.0.11
}
}
vrrp_sync_group G {
group {
    A
    B
}
}
virtual_server 10.0.0.10 80 {
delay_loop 6
}
"#;
    let got = import_keepalived("k.conf", text, None).unwrap();
    let cfg = crate::parse("i.toml", &got.toml).unwrap_or_else(|e| panic!("{}", e.render()));
    let v = &cfg.vrrp;
    assert_eq!(v.instances[0].version, VrrpVersion::V3);
    assert_eq!(v.garp.repeat, 3);
    let s = &v.scripts[0];
    assert_eq!(s.command, ["/usr/local/bin/check-dns", "--fast"]);
    assert_eq!(
        (s.interval.as_millis(), s.fall, s.rise, s.weight),
        (500, 2, 3, -20)
    );
    let a = &v.instances[0];
    assert_eq!(a.advert_interval.as_millis(), 100);
    assert!(!a.preempt);
    assert_eq!(a.track_scripts[0].weight, Some(-5));
    assert_eq!(a.track_interfaces.len(), 2);
    assert_eq!(
        a.notify.master.as_deref(),
        Some(&["/etc/rampart/up.sh".to_string(), "master".to_string()][..])
    );
    assert_eq!(v.instances[1].name, "B");
    assert_eq!(v.sync_groups[0].members, ["A", "B"]);
    let w = got.warnings.join("\n");
    assert!(
        w.contains("k.conf:3: global_defs `router_id` not imported"),
        "{w}"
    );
    assert!(
        w.contains("virtual_ipaddress option `brd` not imported"),
        "{w}"
    );
    assert!(w.contains("`virtual_server` not imported"), "{w}");
}

#[test]
fn what_cannot_be_converted_is_an_error() {
    let e = import_keepalived(
        "k.conf",
        "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n authentication {\n  auth_type AH\n }\n virtual_ipaddress {\n  10.0.0.1\n }\n}\n",
        None,
    )
    .unwrap_err();
    assert!(
        e.iter().any(|e| e.starts_with("k.conf:4: `auth_type AH`")),
        "{e:?}"
    );
    let e = import_keepalived("k.conf", "vrrp_instance A {\n advert_int x\n}\n", None).unwrap_err();
    assert!(
        e.iter()
            .any(|e| e.starts_with("k.conf:2: `x` is not a number")),
        "{e:?}"
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let text = "{".repeat(200_000);
    let e = import_keepalived("k.conf", &text, None).unwrap_err();
    assert_eq!(e, ["k.conf:1: blocks nested more than 16 deep"]);
}

#[test]
fn no_input_panics() {
    for (i, _) in SEED.char_indices() {
        let _ = import_keepalived("k.conf", &SEED[..i], Some("www"));
        let _ = import_keepalived("k.conf", &SEED[i..], None);
    }
}

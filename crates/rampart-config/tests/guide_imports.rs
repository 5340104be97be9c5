//! The guide's three files through the three importers give the config of
//! `examples/seed-lb.toml`, field by field.
//!
//! `rampart import haproxy` of its haproxy.cfg, `import keepalived
//! --frontend www` of its keepalived.conf and `import bird --frontend www`
//! of its bird.conf (the five-octet neighbor fixed), put together, parse
//! into a [`Config`] that equals the hand-written example's except for the
//! deployment choices the example makes beyond the guide's files. Each of
//! those is listed below with its reason (the same as in the example's
//! comments), and each is asserted on both sides: what the guide's file
//! says and what the example chose. Anything else that differs fails.
#![allow(clippy::unwrap_used)]

use rampart_config::{
    Config, Family, InitialState, import_bird, import_haproxy, import_keepalived, parse,
};

const HAPROXY: &str = include_str!("../../../examples/seed-haproxy.cfg");
const KEEPALIVED: &str = include_str!("../../../examples/seed-keepalived.conf");
const BIRD: &str = include_str!("bird/guide-fixed.conf");
const SEED_LB: &str = include_str!("../../../examples/seed-lb.toml");

fn imported() -> Config {
    let h = import_haproxy("haproxy.cfg", HAPROXY).unwrap();
    let k = import_keepalived("keepalived.conf", KEEPALIVED, Some("www")).unwrap();
    let b = import_bird("bird.conf", BIRD, Some("www")).unwrap();
    let toml = format!("{}\n{}\n{}", h.toml, k.toml, b.toml);
    parse("imported.toml", &toml).unwrap_or_else(|e| panic!("{e}\n{toml}"))
}

#[test]
fn the_guide_files_imported_are_the_seed_example_plus_its_listed_choices() {
    let mut got = imported();
    let want = parse("seed-lb.toml", SEED_LB).unwrap();

    // The proxy: frontend, backend (round robin, `check` = a TCP check
    // with HAProxy's timing, the guide's `defaults` timeouts) are equal
    // with no adjustment.
    assert_eq!(got.frontends, want.frontends);
    assert_eq!(got.backends, want.backends);
    assert_eq!(got.global, want.global);

    // Choice 1: the tracker. keepalived's `track_script { chk_haproxy }`
    // with no weight puts the instance in FAULT while `pgrep haproxy`
    // fails; the importer keeps that (weight 0). The example uses -2: when
    // neither node has a server up, lb1 (99) still beats lb2 (98), so the
    // private subnet keeps its gateway.
    for (g, w) in got.vrrp.instances.iter_mut().zip(&want.vrrp.instances) {
        let (gt, wt) = (
            g.track_proxy.as_mut().unwrap(),
            w.track_proxy.as_ref().unwrap(),
        );
        assert_eq!((gt.frontend.as_str(), gt.min_servers), ("www", 1));
        assert_eq!((gt.weight, wt.weight), (0, -2), "{}", g.name);
        gt.weight = wt.weight;
    }

    // Choice 2: the gateway VIP's device. The guide's lb1 puts it on
    // `enp1s0f1` with label `gateway:0` while the instance runs on
    // `ens14f1` (its two servers name their NICs differently); the
    // example puts it on the instance's interface and shows the guide's
    // form in a comment.
    let vi_2 = got.vrrp.instances.iter_mut().find(|i| i.name == "VI_2");
    let vip = &mut vi_2.unwrap().vips[0];
    assert_eq!(vip.net.to_string(), "192.168.1.1/24");
    assert_eq!(
        (vip.dev.as_deref(), vip.label.as_deref()),
        (Some("enp1s0f1"), Some("gateway:0"))
    );
    let want_vip = &want.instance("VI_2").unwrap().vips[0];
    assert_eq!((&want_vip.dev, &want_vip.label), (&None, &None));
    (vip.dev, vip.label) = (None, None);

    // Choice 3: a sync group. The guide has none; the example moves the
    // public VIP and the gateway together, so the node that receives the
    // traffic is the one that NATs the replies.
    assert!(got.vrrp.sync_groups.is_empty());
    assert_eq!(want.vrrp.sync_groups[0].members, ["VI_1", "VI_2"]);
    got.vrrp.sync_groups = want.vrrp.sync_groups.clone();
    assert_eq!(got.vrrp, want.vrrp);
    assert_eq!(want.instance("VI_1").unwrap().initial, InitialState::Master);

    // Choice 4: the BGP peers. The guide's bird.conf peers with one
    // router, its "default gateway IP" (10.10.237.128 once its typo is
    // fixed), router id 10.10.237.129; the example peers with the
    // provider's two local-BGP routers two hops away (169.254.255.1 and
    // .2, multihop 2) and takes the node's bond0 address as router id.
    // The local AS, the one prefix exported and its condition are the
    // guide's.
    assert_eq!(got.bgp.router_id.unwrap().to_string(), "10.10.237.129");
    assert_eq!(want.bgp.router_id.unwrap().to_string(), "10.99.181.141");
    let peers = |c: &Config| -> Vec<(String, String, u32, u8)> {
        c.bgp
            .neighbors
            .iter()
            .map(|n| {
                (
                    n.name.clone(),
                    n.address.to_string(),
                    n.remote_as,
                    n.multihop,
                )
            })
            .collect()
    };
    assert_eq!(
        peers(&got),
        [("bgp1".into(), "10.10.237.128".into(), 65530, 1)]
    );
    assert_eq!(
        peers(&want),
        [
            ("bgp1".into(), "169.254.255.1".into(), 65530, 2),
            ("bgp2".into(), "169.254.255.2".into(), 65530, 2)
        ]
    );
    assert_eq!(got.bgp.local_as, 65000);
    assert_eq!(got.bgp.announces.len(), 1);
    assert_eq!(got.bgp.announces[0].neighbors, ["bgp1"]);
    got.bgp.router_id = want.bgp.router_id;
    got.bgp.neighbors = want.bgp.neighbors.clone();
    got.bgp.announces[0].neighbors = want.bgp.announces[0].neighbors.clone();
    assert_eq!(got.bgp, want.bgp);

    // Choice 5: the gateway. The guide turns forwarding on and
    // masquerades the private subnet with sysctl and iptables commands,
    // not in any of the three files; the example carries them as
    // `[gateway]`.
    assert!(!got.gateway.is_enabled());
    let m = &want.gateway.masquerade;
    assert_eq!(
        (m.len(), m[0].source.to_string(), m[0].out.as_str()),
        (1, "192.168.1.0/24".to_string(), "bond0")
    );
    assert_eq!(want.gateway.forward, [Family::Ipv4]);
    got.gateway = want.gateway.clone();

    // Nothing else differs.
    assert_eq!(got, want);
}

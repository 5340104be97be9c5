//! `import_bird`: the seed guide's bird.conf (as written, with its
//! five-octet neighbor, and fixed), realistic BIRD 1.6 and BIRD 2 files
//! (tests/bird/), and what is refused or warned about. Every accepted
//! import is parsed back with rampart's own parser.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;
use rampart_config::{AnnouncePolicy, Config, Family, Imported, PeerMode, import_bird, parse};

const GUIDE: &str = include_str!("bird/guide.conf");
const GUIDE_FIXED: &str = include_str!("bird/guide-fixed.conf");
const BIRD2: &str = include_str!("bird/bird2-dual-stack.conf");
const BIRD16: &str = include_str!("bird/bird16-anycast.conf");

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn import(name: &str, text: &str) -> (Imported, Config) {
    let got = import_bird(name, text, None).unwrap_or_else(|e| panic!("{}", e.join("\n")));
    let cfg = parse("imported.toml", &got.toml)
        .unwrap_or_else(|e| panic!("{}\n{}", e.render(), got.toml));
    (got, cfg)
}

fn errors(text: &str) -> String {
    match import_bird("b.conf", text, None) {
        Ok(got) => panic!("expected errors, got:\n{}", got.toml),
        Err(e) => e.join("\n"),
    }
}

fn warnings(text: &str) -> (String, Config) {
    let (got, cfg) = import("b.conf", text);
    (got.warnings.join("\n"), cfg)
}

/// The line of each warning, in order.
fn lines(w: &[String]) -> Vec<u32> {
    w.iter()
        .map(|w| w.split(':').nth(1).unwrap().parse().unwrap())
        .collect()
}

#[test]
fn the_guides_file_as_written_is_refused_at_its_five_octet_neighbor() {
    let e = import_bird("bird.conf", GUIDE, None).unwrap_err();
    assert_eq!(
        e,
        [
            "bird.conf:31:10: `10.10.10.237.128` is not an IPv4 address: it has five octets (an \
          IPv4 address has four)"
        ]
    );
}

#[test]
fn the_guides_file_fixed_is_its_bgp_section() {
    let (got, cfg) = import("bird.conf", GUIDE_FIXED);
    let b = &cfg.bgp;
    assert_eq!(b.router_id, Some("10.10.237.129".parse().unwrap()));
    assert_eq!(b.local_as, 65000);
    assert_eq!(b.neighbors.len(), 1);
    let n = &b.neighbors[0];
    assert_eq!(
        n.name, "bgp1",
        "BIRD's name for the first unnamed protocol bgp"
    );
    assert_eq!((n.address, n.remote_as), (ip("10.10.237.128"), 65530));
    assert_eq!((n.multihop, n.port, n.mode), (1, 179, PeerMode::Both));
    assert!(
        n.password.is_none(),
        "the guide's password is commented out"
    );
    assert_eq!(b.announces.len(), 1);
    let a = &b.announces[0];
    assert_eq!(a.prefix, net("147.75.78.116/32"));
    assert_eq!(a.neighbors, ["bgp1"]);
    assert_eq!(a.policy, AnnouncePolicy::Always);
    // The same prefix as the hand-written example of the seed deployment.
    let example = parse(
        "seed-lb.toml",
        include_str!("../../../examples/seed-lb.toml"),
    )
    .unwrap();
    assert_eq!(example.bgp.announces[0].prefix, a.prefix);

    // direct, kernel and device are named with their reason; the
    // announcement says what BIRD's condition was and what to give.
    assert_eq!(lines(&got.warnings), [9, 13, 23, 29], "{:#?}", got.warnings);
    let w = got.warnings.join("\n");
    for needle in [
        "bird.conf:9:1: protocol direct `direct1` not carried: rampart announces the prefixes \
         listed in [[bgp.announce]], not the addresses of interfaces (BIRD put those of \"bond0\"",
        "bird.conf:13:1: protocol kernel `kernel1` not carried: rampart learns no routes from \
         the kernel and writes none to it (BIRD's `export` here wrote its routes",
        "bird.conf:23:1: protocol device `device1` not carried",
        "bird.conf:29:1: 147.75.78.116/32: BIRD announced it only while a route for it was in \
         its table (here it could come from direct1 (the addresses of \"bond0\")); imported \
         with policy \"always\"",
        "give --frontend NAME",
    ] {
        assert!(w.contains(needle), "missing {needle:?} in:\n{w}");
    }
    assert!(
        got.toml
            .contains("# exported by bgp1 (export filter packetdns)"),
        "{}",
        got.toml
    );

    // With --frontend, the announcement follows that frontend's health.
    let got = import_bird("bird.conf", GUIDE_FIXED, Some("www")).unwrap();
    assert!(
        got.toml.contains("policy = { while_healthy = \"www\" }"),
        "{}",
        got.toml
    );
    assert!(!got.warnings.iter().any(|w| w.contains("--frontend")));
}

#[test]
fn bird2_templates_channels_constants_and_static_routes() {
    let (got, cfg) = import("bird.conf", BIRD2);
    let b = &cfg.bgp;
    assert_eq!(b.router_id, Some("192.0.2.10".parse().unwrap()));
    assert_eq!(b.local_as, 64512);
    assert_eq!(b.connect_retry, Duration::from_secs(10));
    let names: Vec<&str> = b.neighbors.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["rtr1", "rtr2", "rtr6"]);
    let (r1, r2, r6) = (&b.neighbors[0], &b.neighbors[1], &b.neighbors[2]);
    // From the template: hold time, password; own: the rest.
    assert_eq!((r1.address, r1.remote_as), (ip("192.0.2.1"), 65530));
    assert_eq!(r1.local_address, Some(ip("192.0.2.10")));
    assert_eq!(r1.hold_time, Duration::from_secs(30));
    assert!(r1.password.is_some() && r1.bfd.is_some());
    assert_eq!((r2.port, r2.multihop), (1179, 2));
    assert_eq!(r2.local_address, Some(ip("192.0.2.10")));
    assert_eq!(r2.hold_time, Duration::from_secs(30));
    assert!(r2.password.is_some() && r2.bfd.is_none());
    assert_eq!(
        (r6.address, r6.families.as_slice()),
        (ip("2001:db8::1"), &[Family::Ipv6][..])
    );
    assert_eq!(r6.local_address, Some(ip("2001:db8::10")));
    assert!(r6.password.is_none());

    let prefixes: Vec<(String, Vec<String>, Vec<u32>)> = b
        .announces
        .iter()
        .map(|a| {
            (
                a.prefix.to_string(),
                a.neighbors.clone(),
                a.communities.clone(),
            )
        })
        .collect();
    let tagged = vec![64512 << 16 | 100];
    assert_eq!(
        prefixes,
        [
            (
                "198.51.100.0/24".into(),
                vec!["rtr1".into(), "rtr2".into()],
                tagged.clone()
            ),
            (
                "203.0.113.10/32".into(),
                vec!["rtr1".into(), "rtr2".into()],
                tagged
            ),
            ("2001:db8:100::/48".into(), vec!["rtr6".into()], vec![]),
        ]
    );

    let w = got.warnings.join("\n");
    for needle in [
        "bird.conf:4:1: `log syslog all` not carried",
        "bird.conf:12:1: protocol device `device1` not carried",
        "bird.conf:15:1: protocol direct `direct1` not carried",
        "bird.conf:21:1: protocol kernel `kernel1` not carried",
        // The static routes: one announced, one that BIRD kept local too.
        "bird.conf:28:1: protocol static `static_v4` not carried: rampart puts no routes in a \
         table; the routes an export filter accepts are announced as BIRD did (198.51.100.0/24)",
        "bird.conf:34:1: protocol static `static_v6` not carried",
        // Only the host route that no static route holds needs a policy.
        "203.0.113.10/32: BIRD announced it only while a route for it was in its table (here \
         it could come from direct1 (the addresses of \"lo\"))",
        "bird.conf:71:5: `description \"second router, behind rtr1\"` not carried",
    ] {
        assert!(w.contains(needle), "missing {needle:?} in:\n{w}");
    }
    assert!(!w.contains("198.51.100.0/24: BIRD announced"), "{w}");
    assert!(
        got.toml
            .starts_with("# Imported from bird.conf by `rampart import bird`."),
        "{}",
        got.toml
    );
    // Options written once in the template are named once.
    assert_eq!(w.matches("import none").count(), 0, "{w}");
}

#[test]
fn bird16_functions_prepend_local_pref_and_per_neighbor_exports() {
    let (got, cfg) = import("bird.conf", BIRD16);
    let b = &cfg.bgp;
    assert_eq!(b.local_as, 64500);
    let by = |name: &str| b.neighbors.iter().find(|n| n.name == name).unwrap();
    let (a, bb, twin) = (by("transit_a"), by("transit_b"), by("twin"));
    assert_eq!(a.prepend, 1, "bgp_path.prepend(myas) in transit_a_out");
    assert_eq!(a.local_address, Some(ip("203.0.113.2")));
    assert!(a.password.is_some());
    assert_eq!((bb.prepend, bb.multihop), (0, 2));
    assert_eq!(twin.remote_as, 64500, "iBGP: `as myas`");
    assert_eq!(twin.local_pref, Some(200));
    assert_eq!(twin.multihop, 1, "`direct`");
    let announces: Vec<(String, Vec<String>)> = b
        .announces
        .iter()
        .map(|a| (a.prefix.to_string(), a.neighbors.clone()))
        .collect();
    assert_eq!(
        announces,
        [
            ("10.99.0.0/24".into(), vec!["twin".into()]),
            (
                "192.0.2.53/32".into(),
                vec!["transit_a".into(), "transit_b".into(), "twin".into()]
            ),
        ]
    );
    assert!(got.toml.contains("neighbors = [\"twin\"]"), "{}", got.toml);
    let w = got.warnings.join("\n");
    assert!(
        w.contains("`import all` not carried: rampart learns no routes"),
        "{w}"
    );
}

#[test]
fn an_ibgp_session_without_direct_is_multihop_as_in_bird() {
    let (_, cfg) = warnings(
        "router id 10.0.0.1;\nprotocol bgp rr { local as 65000; neighbor 10.0.0.2 as 65000; \
         export none; }\n",
    );
    assert_eq!(cfg.bgp.neighbors[0].multihop, 64);
    assert_eq!(cfg.bgp.neighbors[0].local_pref, Some(100));
}

#[test]
fn export_all_says_what_it_carries_and_what_not() {
    let conf = "router id 10.0.0.1;\n\
                protocol direct { interface \"eth0\"; }\n\
                protocol kernel { learn; }\n\
                protocol static { route 10.1.0.0/24 blackhole; route 10.2.0.0/24 via 10.0.0.9; }\n\
                protocol bgp up {\n local as 65000;\n neighbor 10.0.0.2 as 65001;\n export all;\n}\n";
    let (w, cfg) = warnings(conf);
    let prefixes: Vec<String> = cfg
        .bgp
        .announces
        .iter()
        .map(|a| a.prefix.to_string())
        .collect();
    assert_eq!(prefixes, ["10.1.0.0/24", "10.2.0.0/24"]);
    assert!(
        w.contains(
            "b.conf:8:2: `export all` on up sends every route in BIRD's table; rampart \
             announces only listed prefixes: the static routes it accepts (10.1.0.0/24, \
             10.2.0.0/24) are imported; routes from direct1 (the addresses of \"eth0\"), \
             kernel1 (routes learned from the kernel) are not known from this file and are not \
             imported: add a [[bgp.announce]] for each one to announce"
        ),
        "{w}"
    );
    // Static routes are always in BIRD's table: no policy warning.
    assert!(!w.contains("BIRD announced it only while"), "{w}");

    // `export where source = RTS_STATIC`: the static routes, nothing lost.
    let (w, cfg) = warnings(&conf.replace("export all;", "export where source = RTS_STATIC;"));
    assert_eq!(cfg.bgp.announces.len(), 2);
    assert!(!w.contains("rampart announces only listed"), "{w}");

    // A range: the static routes in it, and a word about the others.
    let (w, cfg) = warnings(&conf.replace(
        "export all;",
        "export filter { if net ~ [ 10.1.0.0/16+ ] then accept; reject; };",
    ));
    let prefixes: Vec<String> = cfg
        .bgp
        .announces
        .iter()
        .map(|a| a.prefix.to_string())
        .collect();
    assert_eq!(prefixes, ["10.1.0.0/24"]);
    assert!(
        w.contains("may accept routes other than the prefixes it names")
            && w.contains("routes from direct1"),
        "{w}"
    );

    // `export none` with nothing else: a neighbor that gets nothing.
    let (_, cfg) = warnings(&conf.replace("export all;", "export none;"));
    assert!(cfg.bgp.announces.is_empty());
}

#[test]
fn several_neighbors_get_what_their_own_filter_accepts() {
    let conf = r#"
router id 10.0.0.1;
define SVC = 192.0.2.0/24;
filter to_a { print "to a: ", net; if net = SVC || net = 192.0.2.128/25 then accept; reject; }
filter to_b {
  if net = SVC then { bgp_med = 50; accept; }
  if net = 2001:db8::/32 then accept;
}
protocol bgp a { local as 65000; neighbor 10.0.0.2 as 65001; export filter to_a; }
protocol bgp b { local as 65000; neighbor 10.0.0.3 as 65002; export filter to_b; }
protocol bgp c { local as 65000; neighbor 10.0.0.4 as 65003; export none; }
"#;
    let got = import_bird("b.conf", conf, None);
    // to_b sends SVC with a MED, to_a without: one prefix, one MED.
    let e = got.unwrap_err().join("\n");
    assert!(
        e.contains("b.conf:10:62: 192.0.2.0/24 goes to b with other communities or MED than to a"),
        "{e}"
    );
    let (got, cfg) = import("b.conf", &conf.replace("bgp_med = 50; ", ""));
    assert!(
        got.warnings
            .iter()
            .any(|w| w.starts_with("b.conf:4:15: `print` not carried")),
        "{:?}",
        got.warnings
    );
    let a: Vec<(String, Vec<String>)> = cfg
        .bgp
        .announces
        .iter()
        .map(|a| (a.prefix.to_string(), a.neighbors.clone()))
        .collect();
    assert_eq!(
        a,
        [
            ("192.0.2.0/24".into(), vec!["a".into(), "b".into()]),
            ("192.0.2.128/25".into(), vec!["a".into()]),
        ],
        "the IPv6 prefix is not in b's (IPv4) channel"
    );
}

#[test]
fn what_cannot_be_translated_is_refused_with_its_place() {
    let base = "router id 10.0.0.1;\nprotocol bgp p {\n local as 65000;\n neighbor 10.0.0.2 as 65001;\n export none;\n}\n";
    for (conf, needle) in [
        (
            format!("include \"/etc/bird/peers.conf\";\n{base}"),
            "b.conf:1:1: `include \"/etc/bird/peers.conf\"` is not followed",
        ),
        (
            base.replace("router id 10.0.0.1;", ""),
            "b.conf:1:1: no `router id`",
        ),
        (
            base.replace("router id 10.0.0.1;", "router id from \"eth0\";"),
            "b.conf:1:11: `router id from ...` is decided by BIRD at run time",
        ),
        (
            format!("{base}protocol bgp q {{ local as 65001; neighbor 10.0.0.3 as 65002; }}\n"),
            "b.conf:7:1: protocol bgp `q` is in AS 65001 but `p` in AS 65000 (line 3)",
        ),
        (
            base.replace("neighbor 10.0.0.2", "neighbor range 10.0.0.0/24"),
            "b.conf:4:11: `neighbor range` (dynamic BGP) has no rampart counterpart",
        ),
        (
            base.replace("neighbor 10.0.0.2", "neighbor fe80::1%eth0"),
            "b.conf:4:11: `fe80::1%...`: link-local neighbors",
        ),
        (
            base.replace("export none", "export filter nope"),
            "b.conf:5:2: no filter `nope` is defined",
        ),
        (
            base.replace(
                "export none",
                "export filter { case net.len { 24: accept; } }",
            ),
            "b.conf:5:18: `case` is not read by the importer",
        ),
        (
            base.replace("export none;", "export none;\n vrf \"blue\";"),
            "b.conf:6:2: `vrf \"blue\"`: rampart's sessions run in the default VRF",
        ),
        (
            base.replace(
                "export none;",
                "export none;\n ttl security on;\n multihop 3;",
            ),
            "`p`: `ttl security` with `multihop`",
        ),
        (
            base.replace(
                "export none;",
                "ipv4 { export none; };\n ipv6 { export none; };",
            ),
            "b.conf:6:2: `p` carries IPv6 over an IPv4 session: rampart needs the IPv6 next hop",
        ),
        (
            base.replace(
                "export none",
                "export filter { if net = 10.9.0.0/24 then { bgp_ext_community.add((rt, 1, 2)); \
                 accept; } }",
            ),
            "b.conf:5:46: `bgp_ext_community.add(...)`: rampart cannot do this",
        ),
        (
            base.replace("65001", "65001 port 70000"),
            "b.conf:4:34: port 70000 is out of range",
        ),
        (
            base.replace("export none;", "export none;\n hold time 2;"),
            "b.conf:6:2: `hold_time` must be 0s (no keepalives) or between 3s and 65535s (RFC \
             4271), got 2s (imported as `hold_time = \"2s\"`)",
        ),
        (
            base.replace("export none;", &format!("password \"{}\";", "k".repeat(81))),
            "b.conf:5:2: `password` must be 1 to 80 bytes (Linux TCP_MD5SIG_MAXKEYLEN), got 81 \
             bytes (imported as `password = \"...\"`)",
        ),
        (
            base.replace("65001", "23456"),
            "b.conf:4:23: AS 23456 is AS_TRANS",
        ),
        (
            format!("{base}protocol bgp q from nope {{ neighbor 10.0.0.3 as 2; }}\n"),
            "b.conf:7:21: no template `nope` of protocol bgp is defined",
        ),
        (
            base.replace("/* */", "")
                .replace("router id", "/* router id"),
            "b.conf:1:1: `/*` comment is never closed",
        ),
    ] {
        let e = errors(&conf);
        assert!(
            e.contains(needle),
            "missing {needle:?} in:\n{e}\nfor:\n{conf}"
        );
    }
}

#[test]
fn warnings_name_each_option_once_with_its_reason() {
    let conf = r#"
router id 10.0.0.1;
template bgp t {
  local as 65000;
  keepalive time 30;
  graceful restart on;
  import all;
  export none;
}
protocol bgp a from t { neighbor 10.0.0.2 as 65001; }
protocol bgp b from t { neighbor 10.0.0.3 as 65001; disabled; }
protocol bgp c from t { neighbor 10.0.0.4 as 65001; rr client; }
protocol ospf v2 core { area 0 { interface "eth1"; }; }
"#;
    let (got, cfg) = import("b.conf", conf);
    assert_eq!(cfg.bgp.neighbors.len(), 2, "b is disabled");
    let w = got.warnings.join("\n");
    assert_eq!(w.matches("keepalive time").count(), 1, "{w}");
    for needle in [
        "b.conf:5:3: `keepalive time 30` not carried: rampart sends keepalives at a third",
        "b.conf:6:3: `graceful restart on` not carried: rampart has no graceful restart",
        "b.conf:7:3: `import all` not carried: rampart learns no routes",
        "b.conf:11:53: protocol bgp `b` is disabled: not imported",
        "b.conf:12:53: `rr client` not carried: it applies to routes received",
        "b.conf:13:1: protocol ospf v2 `core` not carried: rampart speaks BGP only",
    ] {
        assert!(w.contains(needle), "missing {needle:?} in:\n{w}");
    }
}

/// Bad input is an error or a warning, never a panic: every prefix of
/// each file, and each line of it cut short.
#[test]
fn no_input_panics() {
    for text in [GUIDE, GUIDE_FIXED, BIRD2, BIRD16] {
        for (i, _) in text.char_indices() {
            let _ = import_bird("b.conf", &text[..i], None);
        }
        let lines: Vec<&str> = text.lines().collect();
        for (n, line) in lines.iter().enumerate() {
            for cut in (0..line.len()).filter(|c| line.is_char_boundary(*c)) {
                let mut copy = lines.clone();
                copy[n] = &line[..cut];
                let _ = import_bird("b.conf", &copy.join("\n"), Some("www"));
            }
        }
    }
}

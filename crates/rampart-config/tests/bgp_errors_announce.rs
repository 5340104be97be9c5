//! Errors in `[[bgp.announce]]`: prefixes and their host bits, policies
//! and what they refer to (VRRP instances, frontends), `min_servers`, the
//! neighbors an announcement goes to and their families, communities.
//! Every test pins the line and column of each diagnostic.
//!
//! Most use `announce_with`: the announcement's `prefix` value starts at
//! line 9, column 10, and the extra key is on line 10, its value at column
//! `key.len() + 4`.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use common::{BGP, POOL, VI, WWW, announce_with, expect, ok};

/// `announce_with(extra)` with another prefix on line 9.
fn prefix_with(prefix: &str, extra: &str) -> String {
    announce_with(extra).replace("192.0.2.0/24", prefix)
}

#[test]
fn prefixes_are_networks() {
    expect(
        &prefix_with("192.0.2.1/24", ""),
        &[(
            9,
            10,
            "`prefix` 192.0.2.1/24 has host bits set; the network is 192.0.2.0/24",
        )],
    );
    expect(
        &prefix_with("2001:db8::1/48", ""),
        &[(
            9,
            10,
            "`prefix` 2001:db8::1/48 has host bits set; the network is 2001:db8::/48",
        )],
    );
    expect(
        &prefix_with("192.0.2.0/33", ""),
        &[(
            9,
            10,
            "`prefix`: `192.0.2.0/33` is not a CIDR or an address",
        )],
    );
    expect(
        &format!("{BGP}[[bgp.announce]]\nmed = 1\n"),
        &[(8, 1, "missing required key `prefix` in bgp announce")],
    );
    expect(
        &announce_with("communites = []"),
        &[(
            10,
            1,
            "unknown key `communites` in bgp announce; did you mean `communities`?",
        )],
    );
}

#[test]
fn prefixes_are_announced_once() {
    // 192.0.2.0/24 and 192.0.2.0/24 written as the same network.
    expect(
        &format!(
            "{}[[bgp.announce]]\nprefix = \"192.0.2.0/24\"\n",
            announce_with("")
        ),
        &[(
            12,
            10,
            "prefix 192.0.2.0/24 is already announced (line 9); give each prefix one \
             [[bgp.announce]]",
        )],
    );
    // A bare address is a /32, so it is the same prefix as 192.0.2.7/32.
    expect(
        &format!(
            "{}[[bgp.announce]]\nprefix = \"192.0.2.7\"\n",
            prefix_with("192.0.2.7/32", "")
        ),
        &[(12, 10, "prefix 192.0.2.7/32 is already announced (line 9)")],
    );
}

#[test]
fn policy_forms() {
    let forms = "expected \"always\", { while_master = \"<vrrp instance>\" } or { while_healthy = \
                 \"<frontend>\" }";
    expect(
        &announce_with("policy = \"while_master\""),
        &[(10, 10, &format!("invalid `policy` `while_master`; {forms}"))],
    );
    expect(
        &announce_with("policy = 1"),
        &[(10, 10, &format!("`policy` must be {}", &forms[9..]))],
    );
    expect(
        &announce_with("policy = {}"),
        &[(10, 10, &format!("`policy` table is empty; {forms}"))],
    );
    expect(
        &format!(
            "{WWW}{POOL}{VI}{}",
            announce_with("policy = { while_master = \"VI_1\", while_healthy = \"www\" }")
        ),
        &[(
            22,
            10,
            "`policy` has both `while_master` and `while_healthy`; choose one",
        )],
    );
    expect(
        &announce_with("policy = { while_up = \"VI_1\" }"),
        &[(
            10,
            12,
            "unknown key `while_up` in `policy` (known keys: while_master, while_healthy)",
        )],
    );
    expect(
        &announce_with("policy = { while_master = 1 }"),
        &[(10, 27, "`while_master` must be a string, found an integer")],
    );
}

#[test]
fn policies_refer_to_defined_instances_and_frontends() {
    expect(
        &announce_with("policy = { while_master = \"VI_1\" }"),
        &[(
            10,
            27,
            "vrrp instance `VI_1` is not defined; no [[vrrp.instance]] is defined",
        )],
    );
    expect(
        &format!(
            "{VI}{}",
            announce_with("policy = { while_master = \"gateway\" }")
        ),
        &[(
            15,
            27,
            "vrrp instance `gateway` is not defined (defined instances: VI_1)",
        )],
    );
    expect(
        &announce_with("policy = { while_healthy = \"www\" }"),
        &[(
            10,
            28,
            "frontend `www` is not defined; no [[frontend]] is defined",
        )],
    );
    expect(
        &format!(
            "{WWW}{POOL}{}",
            announce_with("policy = { while_healthy = \"wwww\" }")
        ),
        &[(
            17,
            28,
            "frontend `wwww` is not defined; did you mean `www`?",
        )],
    );
    ok(&format!(
        "{WWW}{POOL}{VI}{}",
        announce_with("policy = { while_healthy = \"www\" }")
    ));
}

#[test]
fn min_servers_belongs_to_while_healthy() {
    expect(
        &announce_with("min_servers = 2"),
        &[(
            10,
            15,
            "`min_servers` applies only to `policy = { while_healthy = \"...\" }`",
        )],
    );
    expect(
        &format!(
            "{VI}{}",
            announce_with("policy = { while_master = \"VI_1\" }\nmin_servers = 1")
        ),
        &[(16, 15, "`min_servers` applies only to")],
    );
    expect(
        &format!(
            "{WWW}{POOL}{}",
            announce_with("policy = { while_healthy = \"www\" }\nmin_servers = 0")
        ),
        &[(18, 15, "`min_servers` must be at least 1, got 0")],
    );
}

#[test]
fn named_neighbors_exist_and_carry_the_family() {
    expect(
        &announce_with("neighbors = [\"bgp1\", \"core\"]"),
        &[(
            10,
            22,
            "bgp neighbor `core` is not defined (defined neighbors: bgp1)",
        )],
    );
    expect(
        &announce_with("neighbors = [\"bgp2\"]"),
        &[(
            10,
            14,
            "bgp neighbor `bgp2` is not defined; did you mean `bgp1`?",
        )],
    );
    expect(
        &announce_with("neighbors = [\"bgp1\", \"bgp1\"]"),
        &[(10, 22, "neighbor `bgp1` is listed twice in `neighbors`")],
    );
    expect(
        &announce_with("neighbors = []"),
        &[(
            10,
            13,
            "`neighbors` must name at least one neighbor; leave it out to announce to every \
             neighbor of the prefix's family",
        )],
    );
    expect(
        &prefix_with("2001:db8::/48", "neighbors = [\"bgp1\"]"),
        &[(
            10,
            14,
            "neighbor `bgp1` does not carry IPv6 (its families: ipv4), so it cannot announce \
             2001:db8::/48",
        )],
    );
}

#[test]
fn every_announcement_reaches_a_neighbor() {
    expect(
        &prefix_with("2001:db8::/48", ""),
        &[(
            9,
            10,
            "2001:db8::/48 would be announced to no neighbor: no neighbor carries IPv6; add \
             \"ipv6\" to a neighbor's `families`",
        )],
    );
    expect(
        "[bgp]\n[[bgp.announce]]\nprefix = \"192.0.2.0/24\"\n",
        &[(
            3,
            10,
            "192.0.2.0/24 would be announced to no neighbor: no [[bgp.neighbor]] is defined",
        )],
    );
}

#[test]
fn communities_are_16_bit_pairs_or_well_known_names() {
    expect(
        &announce_with("communities = [\"65000:100\", \"65536:1\", \"65000\", \"no_export\"]"),
        &[
            (
                10,
                29,
                "`communities`: `65536` in `65536:1` is out of range: both halves of a \
                 community are 16 bits (0 to 65535); use `large_communities` for 4-octet AS \
                 numbers",
            ),
            (
                10,
                40,
                "`communities`: `65000` is not a community; write \"asn:value\", e.g. \
                 \"65000:100\", or one of no-export, no-advertise, no-export-subconfed",
            ),
            (10, 49, "`communities`: `no_export` is not a community"),
        ],
    );
    expect(
        &announce_with(
            "communities = [\"65000:100\", \"65000:0100\", \"no-export\", \"65535:65281\"]",
        ),
        &[
            (
                10,
                29,
                "community 65000:100 is listed twice in `communities`",
            ),
            (
                10,
                56,
                "community no-export is listed twice in `communities`",
            ),
        ],
    );
    expect(
        &announce_with("communities = [65000]"),
        &[(
            10,
            16,
            "each entry of `communities` must be a string, found an integer",
        )],
    );
}

#[test]
fn large_communities_are_three_32_bit_parts() {
    expect(
        &announce_with(
            "large_communities = [\"65000:1:4294967296\", \"65000:1\", \"65000:1:2\", \"65000:1:2\"]",
        ),
        &[
            (
                10,
                22,
                "`large_communities`: `4294967296` in `65000:1:4294967296` is out of range: \
                 each part is 32 bits (0 to 4294967295)",
            ),
            (
                10,
                44,
                "`large_communities`: `65000:1` is not a large community; write \
                 \"global:local1:local2\", e.g. \"65000:1:2\"",
            ),
            (
                10,
                68,
                "large community 65000:1:2 is listed twice in `large_communities`",
            ),
        ],
    );
    expect(
        &announce_with("med = -1"),
        &[(10, 7, "`med` must be at least 0, got -1")],
    );
}

/// The seed's bird.conf translated by hand, with the usual slips, all in
/// one report in file order.
#[test]
fn several_bgp_errors_are_all_reported_in_order_of_position() {
    let src = r#"[bgp]
router_id = "10.10.237.129"
local_as = 65000
hold_time = "1s"

[[bgp.neighbor]]
name = "bgp1"
address = "10.10.10.237.128"
remote_as = 65530
password = "md5password"
local_pref = 100

[[bgp.announce]]
prefix = "147.75.78.116/24"
policy = { while_healthy = "www" }
communities = ["65000:70000"]
"#;
    expect(
        src,
        &[
            (
                4,
                13,
                "`hold_time` must be 0s (no keepalives) or between 3s",
            ),
            (8, 11, "`address`: `10.10.10.237.128` is not an IP address"),
            (11, 14, "`local_pref` applies only to iBGP"),
            (14, 10, "`prefix` 147.75.78.116/24 has host bits set"),
            (15, 28, "frontend `www` is not defined"),
            (16, 16, "`70000` in `65000:70000` is out of range"),
        ],
    );
}

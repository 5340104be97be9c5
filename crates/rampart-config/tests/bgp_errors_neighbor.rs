//! Errors in `[[bgp.neighbor]]`: required keys, ranges, address families
//! and next hops, iBGP-only and eBGP-only attributes, GTSM, the MD5
//! password, and unique names and addresses. Every test pins the line and
//! column of each diagnostic. `[bgp]` itself is in bgp_errors_section.rs.
//!
//! Most use `neighbor_with`, which puts the extra key on line 8 so that
//! its value starts at column `key.len() + 4`.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use common::{BGP, expect, neighbor_with, ok};

/// A second neighbor of four lines; its name is on its line 2, its
/// address on its line 3 (values at column 8 and 11).
fn second(name: &str, address: &str) -> String {
    format!(
        "{BGP}[[bgp.neighbor]]\nname = \"{name}\"\naddress = \"{address}\"\nremote_as = 65530\n"
    )
}

#[test]
fn neighbor_keys_ranges_and_mode() {
    expect(
        "[bgp]\nrouter_id = \"192.0.2.1\"\nlocal_as = 65000\n[[bgp.neighbor]]\nname = \"bgp1\"\n",
        &[
            (4, 1, "missing required key `address` in bgp neighbor"),
            (4, 1, "missing required key `remote_as` in bgp neighbor"),
        ],
    );
    expect(
        &neighbor_with("multi_hop = 2"),
        &[(
            8,
            1,
            "unknown key `multi_hop` in bgp neighbor; did you mean `multihop`?",
        )],
    );
    expect(
        &neighbor_with("port = 0"),
        &[(8, 8, "`port` must be between 1 and 65535, got 0")],
    );
    expect(
        &neighbor_with("port = 65536"),
        &[(8, 8, "`port` must be between 1 and 65535, got 65536")],
    );
    expect(
        &neighbor_with("multihop = 0"),
        &[(8, 12, "`multihop` must be between 1 and 255, got 0")],
    );
    expect(
        &neighbor_with("prepend = 11"),
        &[(8, 11, "`prepend` must be between 0 and 10, got 11")],
    );
    expect(
        &neighbor_with("mode = \"listen\""),
        &[(
            8,
            8,
            "invalid `mode` `listen`; expected one of: active, passive, both",
        )],
    );
    expect(
        &neighbor_with("ttl_security = \"on\""),
        &[(
            8,
            16,
            "`ttl_security` must be true or false, found a string",
        )],
    );
    expect(
        &BGP.replace("\"169.254.255.1\"", "\"169.254.255.1:179\""),
        &[(6, 11, "`address`: `169.254.255.1:179` is not an IP address")],
    );
    expect(
        &BGP.replace("\"bgp1\"", "\"bgp 1\""),
        &[(5, 8, "`name` contains ' '")],
    );
}

#[test]
fn password_is_1_to_80_bytes() {
    let long = "x".repeat(81);
    expect(
        &neighbor_with(&format!("password = \"{long}\"")),
        &[(
            8,
            12,
            "`password` must be 1 to 80 bytes (Linux TCP_MD5SIG_MAXKEYLEN), got 81 bytes",
        )],
    );
    expect(
        &neighbor_with("password = \"\""),
        &[(8, 12, "`password` must be 1 to 80 bytes")],
    );
}

#[test]
fn local_address_and_next_hops_must_match_their_family() {
    expect(
        &neighbor_with("local_address = \"2001:db8::2\""),
        &[(
            8,
            17,
            "`local_address` 2001:db8::2 is IPv6 but `address` 169.254.255.1 is IPv4; both \
             ends of a session are of one family",
        )],
    );
    expect(
        &neighbor_with("next_hop_v4 = \"2001:db8::1\""),
        &[(
            8,
            15,
            "`next_hop_v4` must be an IPv4 address, got 2001:db8::1 (IPv6 next hops go in \
             `next_hop_v6`)",
        )],
    );
    expect(
        &neighbor_with("families = [\"ipv4\", \"ipv6\"]\nnext_hop_v6 = \"192.0.2.7\""),
        &[(
            9,
            15,
            "`next_hop_v6` must be an IPv6 address, got 192.0.2.7 (IPv4 next hops go in \
             `next_hop_v4`)",
        )],
    );
}

#[test]
fn families_and_their_next_hops() {
    expect(
        &neighbor_with("families = []"),
        &[(8, 12, "`families` must list at least one family")],
    );
    expect(
        &neighbor_with("families = [\"ipv4\", \"ipv4\"]"),
        &[(8, 21, "family `ipv4` is listed twice in `families`")],
    );
    expect(
        &neighbor_with("families = [\"IPv4\"]"),
        &[(
            8,
            13,
            "invalid `families` `IPv4`; expected one of: ipv4, ipv6 (did you mean `ipv4`?)",
        )],
    );
    // The session is IPv4: IPv6 routes need an IPv6 next hop from the file.
    expect(
        &neighbor_with("families = [\"ipv4\", \"ipv6\"]"),
        &[(
            8,
            21,
            "family `ipv6` on an IPv4 session needs `next_hop_v6`: IPv6 routes need an IPv6 \
             next hop, and the session's own address is IPv4",
        )],
    );
    ok(&neighbor_with(
        "families = [\"ipv4\", \"ipv6\"]\nnext_hop_v6 = \"2001:db8::7\"",
    ));
    expect(
        &BGP.replace("169.254.255.1", "2001:db8::1")
            .replace("remote_as", "families = [\"ipv4\"]\nremote_as"),
        &[(
            7,
            13,
            "family `ipv4` on an IPv6 session needs `next_hop_v4`",
        )],
    );
    // A next hop for a family the session does not carry does nothing.
    expect(
        &neighbor_with("next_hop_v6 = \"2001:db8::7\""),
        &[(
            8,
            15,
            "`next_hop_v6` is set but this neighbor does not carry IPv6; add \"ipv6\" to \
             `families`",
        )],
    );
    expect(
        &neighbor_with(
            "families = [\"ipv6\"]\nnext_hop_v4 = \"192.0.2.7\"\nnext_hop_v6 = \"2001:db8::7\"",
        ),
        &[(
            9,
            15,
            "`next_hop_v4` is set but this neighbor does not carry IPv4",
        )],
    );
}

#[test]
fn ttl_security_excludes_multihop() {
    expect(
        &neighbor_with("multihop = 2\nttl_security = true"),
        &[(
            9,
            16,
            "`ttl_security` cannot be combined with `multihop = 2`: GTSM (RFC 5082) sends TTL \
             255 and accepts only 254 or more, i.e. directly connected neighbors",
        )],
    );
    ok(&neighbor_with("multihop = 2\nttl_security = false"));
}

#[test]
fn bfd_keys() {
    expect(
        &neighbor_with("bfd = \"on\""),
        &[(8, 7, "`bfd` must be true or false, found a string")],
    );
    expect(
        &neighbor_with("bfd = true\nbfd_interval = \"5ms\""),
        &[(
            9,
            16,
            "`bfd_interval` must be between 10ms and 10s, got 5ms",
        )],
    );
    expect(
        &neighbor_with("bfd = true\nbfd_interval = \"11s\""),
        &[(
            9,
            16,
            "`bfd_interval` must be between 10ms and 10s, got 11s",
        )],
    );
    expect(
        &neighbor_with("bfd = true\nbfd_interval = \"100\""),
        &[(9, 16, "`bfd_interval`: missing unit in `100`")],
    );
    expect(
        &neighbor_with("bfd = true\nbfd_interval = \"0ms\""),
        &[(9, 16, "`bfd_interval` must be greater than 0")],
    );
    expect(
        &neighbor_with("bfd = true\nbfd_multiplier = 0"),
        &[(9, 18, "`bfd_multiplier` must be between 1 and 255, got 0")],
    );
    expect(
        &neighbor_with("bfd = true\nbfd_multiplier = 256"),
        &[(9, 18, "`bfd_multiplier` must be between 1 and 255, got 256")],
    );
    // Timers without `bfd = true` would do nothing: both reported.
    expect(
        &neighbor_with("bfd_interval = \"50ms\"\nbfd_multiplier = 4"),
        &[
            (
                8,
                16,
                "`bfd_interval` is set but `bfd` is not true; add `bfd = true`",
            ),
            (
                9,
                18,
                "`bfd_multiplier` is set but `bfd` is not true; add `bfd = true`",
            ),
        ],
    );
    expect(
        &neighbor_with("bfd = false\nbfd_multiplier = 4"),
        &[(9, 18, "`bfd_multiplier` is set but `bfd` is not true")],
    );
    expect(
        &neighbor_with("multihop = 2\nbfd = true"),
        &[(
            9,
            7,
            "`bfd` is single-hop BFD (RFC 5881), for directly connected neighbors; it cannot \
             be combined with `multihop = 2` (multihop BFD, RFC 5883, is not supported)",
        )],
    );
    ok(&neighbor_with(
        "bfd = true\nbfd_interval = \"10ms\"\nbfd_multiplier = 1",
    ));
    ok(&neighbor_with("bfd = false"));
}

#[test]
fn ibgp_and_ebgp_only_attributes() {
    expect(
        &neighbor_with("local_pref = 200"),
        &[(
            8,
            14,
            "`local_pref` applies only to iBGP (`remote_as` equal to `local_as`): LOCAL_PREF is \
             not sent to external neighbors (RFC 4271 §5.1.5)",
        )],
    );
    let ibgp = |extra: &str| neighbor_with(extra).replace("65530", "65000");
    ok(&ibgp("local_pref = 200"));
    expect(
        &ibgp("prepend = 1"),
        &[(
            8,
            11,
            "`prepend` applies only to eBGP: our AS is not put in the AS_PATH on iBGP sessions",
        )],
    );
    ok(&ibgp("prepend = 0"));
    // Without a valid local_as the kind of session is unknown: only the AS
    // error is reported.
    expect(
        &neighbor_with("local_pref = 200").replace("local_as = 65000", "local_as = 0"),
        &[(3, 12, "`local_as` must be at least 1, got 0")],
    );
}

#[test]
fn neighbor_names_and_addresses_are_unique() {
    expect(
        &second("bgp1", "169.254.255.2"),
        &[(
            9,
            8,
            "duplicate bgp neighbor name `bgp1` (first defined on line 5)",
        )],
    );
    expect(
        &second("bgp2", "169.254.255.1"),
        &[(
            10,
            11,
            "neighbor address 169.254.255.1 is already used by neighbor `bgp1` (line 6)",
        )],
    );
}

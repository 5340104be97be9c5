//! Errors within one `[[vrrp.instance]]`: ranges, version-dependent
//! intervals, keepalived's nopreempt rules, unicast, auth, checksum,
//! addresses and labels, trackers and hooks. Every test pins the line and
//! column of each diagnostic.
//!
//! Most use `instance_with`, which puts the extra key on line 6 so that its
//! value starts at column `key.len() + 4`, or `instance_vips`, whose
//! address list starts at line 5, column 21 (`[`).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use common::{POOL, VI, WWW, expect, instance_vips, instance_with, ok};

#[test]
fn unknown_and_missing_keys() {
    expect(
        &instance_with("priorty = 101"),
        &[(
            6,
            1,
            "unknown key `priorty` in vrrp instance; did you mean `priority`?",
        )],
    );
    expect(
        "[[vrrp.instance]]\nname = \"VI_1\"\n",
        &[
            (1, 1, "missing required key `interface` in vrrp instance"),
            (1, 1, "missing required key `vrid` in vrrp instance"),
            (
                1,
                1,
                "missing required key `virtual_addresses` in vrrp instance",
            ),
        ],
    );
}

#[test]
fn vrid_priority_and_interface() {
    let vrid = |n: &str| VI.replace("vrid = 101", &format!("vrid = {n}"));
    expect(
        &vrid("0"),
        &[(4, 8, "`vrid` must be between 1 and 255, got 0")],
    );
    expect(&vrid("256"), &[(4, 8, "got 256")]);
    expect(
        &instance_with("priority = 0"),
        &[(6, 12, "`priority` must be between 1 and 255, got 0")],
    );
    expect(&instance_with("priority = 256"), &[(6, 12, "got 256")]);
    expect(
        &VI.replace("\"eth0\"", "\"a-very-long-interface\""),
        &[(
            3,
            13,
            "`interface`: `a-very-long-interface` is 21 bytes; Linux interface names have at most 15",
        )],
    );
}

#[test]
fn bad_state_and_version() {
    expect(
        &instance_with("state = \"MASTER\""),
        &[(
            6,
            9,
            "invalid `state` `MASTER`; expected one of: master, backup (did you mean `master`?)",
        )],
    );
    expect(
        &instance_with("version = 4"),
        &[(6, 11, "`version` must be between 2 and 3, got 4")],
    );
}

#[test]
fn v2_advert_interval_is_whole_seconds_up_to_255() {
    expect(
        &instance_with("advert_interval = \"1500ms\""),
        &[(
            6,
            19,
            "VRRPv2 `advert_interval` must be whole seconds (the v2 field counts seconds); \
             use `version = 3` for finer intervals, got 1500ms",
        )],
    );
    expect(
        &instance_with("advert_interval = \"0s\""),
        &[(
            6,
            19,
            "VRRPv2 `advert_interval` must be between 1s and 255s, got 0s",
        )],
    );
    expect(
        &instance_with("advert_interval = \"256s\""),
        &[(6, 19, "got 256s")],
    );
}

#[test]
fn v3_advert_interval_is_centiseconds_up_to_40950ms() {
    expect(
        &instance_with("version = 3\nadvert_interval = \"15ms\""),
        &[(
            7,
            19,
            "VRRPv3 `advert_interval` must be a multiple of 10ms (the v3 field counts \
             centiseconds), got 15ms",
        )],
    );
    expect(
        &instance_with("version = 3\nadvert_interval = \"0ms\""),
        &[(
            7,
            19,
            "VRRPv3 `advert_interval` must be between 10ms and 40950ms, got 0ms",
        )],
    );
    expect(
        &instance_with("version = 3\nadvert_interval = \"41s\""),
        &[(7, 19, "got 41s")],
    );
    // The version may come from [vrrp]; the rule follows it.
    expect(
        &format!(
            "[vrrp]\nversion = 3\n{}",
            instance_with("advert_interval = \"5ms\"")
        ),
        &[(8, 19, "VRRPv3 `advert_interval` must be a multiple of 10ms")],
    );
    // A wrong version is reported once, not guessed at for the interval.
    expect(
        &instance_with("version = 4\nadvert_interval = \"15ms\""),
        &[(6, 11, "`version` must be between 2 and 3")],
    );
}

#[test]
fn nopreempt_follows_keepalived_rules() {
    expect(
        &instance_with("state = \"master\"\npreempt = false"),
        &[(
            7,
            11,
            "`preempt = false` (keepalived nopreempt) requires `state = \"backup\"`",
        )],
    );
    expect(
        &instance_with("priority = 255\npreempt = false"),
        &[(
            7,
            11,
            "`preempt = false` is impossible with priority 255: the address owner always preempts",
        )],
    );
    expect(
        &instance_with("preempt_delay = \"1001s\""),
        &[(
            6,
            17,
            "`preempt_delay` must be at most 1000s (keepalived's limit), got 1001s",
        )],
    );
    ok(&instance_with("state = \"backup\"\npreempt = false"));
}

#[test]
fn unicast_peers_need_a_source_of_the_same_family() {
    expect(
        &instance_with("unicast_peers = [\"192.0.2.2\"]"),
        &[(
            6,
            17,
            "`unicast_peers` needs `unicast_src`, the address unicast adverts are sent from",
        )],
    );
    // Entries start at columns 18, 31, 44 and 57.
    expect(
        &instance_with(
            "unicast_src = \"192.0.2.1\"\nunicast_peers = [\"192.0.2.2\", \"192.0.2.1\", \"192.0.2.2\", \"2001:db8::2\"]",
        ),
        &[
            (
                7,
                31,
                "`unicast_peers` must not contain `unicast_src` 192.0.2.1",
            ),
            (7, 44, "peer 192.0.2.2 is listed twice in `unicast_peers`"),
            (7, 57, "peer 2001:db8::2 is IPv6 but `unicast_src` is IPv4"),
        ],
    );
    // An empty list is not multicast in disguise; a list of only this
    // node is not a peer either.
    expect(
        &instance_with("unicast_src = \"192.0.2.1\"\nunicast_peers = []"),
        &[(
            7,
            17,
            "`unicast_peers` must list at least one peer; leave the key out for multicast adverts",
        )],
    );
    expect(
        &instance_with("unicast_src = \"192.0.2.1\"\nunicast_peers = [\"192.0.2.1\"]"),
        &[(7, 18, "this node is not its own peer")],
    );
    expect(
        &instance_with("unicast_src = \"2001:db8::1\""),
        &[(
            6,
            15,
            "`unicast_src` 2001:db8::1 is IPv6 but the virtual addresses are IPv4",
        )],
    );
    expect(
        &instance_with("unicast_src = \"192.0.2.1/24\""),
        &[(6, 15, "`unicast_src`: `192.0.2.1/24` is not an IP address")],
    );
}

#[test]
fn unicast_ttls() {
    expect(
        &instance_with("unicast_ttl = 64"),
        &[(
            6,
            15,
            "`unicast_ttl` applies only with `unicast_peers`; multicast adverts always use TTL 255",
        )],
    );
    expect(
        &instance_with(
            "unicast_src = \"192.0.2.1\"\nunicast_peers = [\"192.0.2.2\"]\nunicast_min_ttl = 0",
        ),
        &[(8, 19, "`unicast_min_ttl` must be between 1 and 255, got 0")],
    );
}

#[test]
fn auth_is_v2_pass_with_up_to_8_bytes() {
    expect(
        &instance_with("version = 3\nauth = { type = \"pass\", password = \"1111\" }"),
        &[(7, 8, "`auth` is VRRPv2 only: VRRPv3 has no authentication")],
    );
    expect(
        &instance_with("auth = { type = \"pass\", password = \"123456789\" }"),
        &[(
            6,
            36,
            "`password` must be 1 to 8 bytes (the VRRPv2 field holds 8), got 9 bytes",
        )],
    );
    expect(
        &instance_with("auth = { type = \"pass\", password = \"\" }"),
        &[(6, 36, "got 0 bytes")],
    );
    expect(
        &instance_with("auth = { type = \"pass\", password = \"a\\u0000b\" }"),
        &[(6, 36, "`password` must not contain a zero byte")],
    );
    expect(
        &instance_with("auth = { type = \"ah\", password = \"1111\" }"),
        &[(
            6,
            17,
            "invalid `type` `ah`; expected one of: pass; IPsec AH authentication is not supported",
        )],
    );
    expect(
        &instance_with("auth = { type = \"pass\", pass = \"1111\" }"),
        &[
            (6, 8, "missing required key `password` in `auth`"),
            (
                6,
                25,
                "unknown key `pass` in `auth` (known keys: type, password)",
            ),
        ],
    );
}

#[test]
fn checksum_only_for_v3_over_ipv4() {
    expect(
        &instance_with("checksum = \"message-only\""),
        &[(
            6,
            12,
            "`checksum` applies only to VRRPv3 over IPv4; this instance is VRRPv2",
        )],
    );
    expect(
        &instance_vips(
            "[\"2001:db8::1\"]",
            "version = 3\nchecksum = \"pseudo-header\"",
        ),
        &[(7, 12, "IPv6 adverts always use the pseudo-header")],
    );
    expect(
        &instance_with("version = 3\nchecksum = \"pseudo_header\""),
        &[(
            7,
            12,
            "invalid `checksum` `pseudo_header`; expected one of: pseudo-header, message-only \
             (did you mean `pseudo-header`?)",
        )],
    );
    ok(&instance_with("version = 3\nchecksum = \"message-only\""));
}

#[test]
fn virtual_addresses_one_family_no_duplicates() {
    expect(
        &instance_vips("[]", ""),
        &[(5, 21, "`virtual_addresses` must list at least one address")],
    );
    expect(
        &instance_vips("[\"192.0.2.1\", \"2001:db8::1\"]", ""),
        &[(
            5,
            35,
            "virtual address 2001:db8::1 is IPv6, which VRRPv2 cannot carry; use `version = 3`",
        )],
    );
    expect(
        &instance_vips("[\"192.0.2.1\", \"2001:db8::1\"]", "version = 3"),
        &[(
            5,
            35,
            "virtual address 2001:db8::1 is IPv6 but this instance is IPv4 (from its first address)",
        )],
    );
    expect(
        &instance_vips("[\"192.0.2.1\", \"192.0.2.1/24\"]", ""),
        &[(
            5,
            35,
            "virtual address 192.0.2.1 is listed twice in this instance (first on line 5)",
        )],
    );
    expect(
        &instance_vips("[\"192.0.2.300\"]", ""),
        &[(5, 22, "`virtual_addresses`: `192.0.2.300` is not a CIDR")],
    );
    expect(
        &instance_vips("[1]", ""),
        &[(
            5,
            22,
            "each entry of `virtual_addresses` must be a string or a table, found an integer",
        )],
    );
    expect(
        &instance_vips("[{ dev = \"eth1\" }]", ""),
        &[(5, 22, "missing required key `addr` in virtual address")],
    );
    expect(
        &instance_vips("[{ addr = \"192.0.2.1\", device = \"eth1\" }]", ""),
        &[(
            5,
            44,
            "unknown key `device` in virtual address; did you mean `dev`?",
        )],
    );
    expect(
        &instance_vips("[{ addr = \"192.0.2.1\", dev = \"eth0:1\" }]", ""),
        &[(5, 50, "`dev`: `eth0:1` is not a valid interface name")],
    );
}

#[test]
fn labels_fit_ifnamsiz() {
    // The seed guide's `192.168.1.1/24 dev enp1s0f1 label gateway:0`: the
    // kernel and iproute2 accept a label without the device prefix.
    rampart_config::parse(
        "t.toml",
        &instance_vips(
            "[{ addr = \"192.168.1.1/24\", dev = \"enp1s0f1\", label = \"gateway:0\" }]",
            "",
        ),
    )
    .unwrap_or_else(|e| panic!("{}", e.render()));
    expect(
        &instance_vips(
            "[{ addr = \"192.0.2.1\", label = \"eth0:0123456789a\" }]",
            "",
        ),
        &[(
            5,
            52,
            "`label`: `eth0:0123456789a` is 16 bytes; Linux allows at most 15",
        )],
    );
    expect(
        &instance_vips(
            "[{ addr = \"2001:db8::1\", label = \"eth0:v6\" }]",
            "version = 3",
        ),
        &[(
            5,
            54,
            "`label`: Linux has address labels only for IPv4 addresses",
        )],
    );
}

#[test]
fn track_proxy_values() {
    // WWW and POOL take lines 1-7, so the extra key is on line 13.
    let with_www = |extra: &str| format!("{WWW}{POOL}{}", instance_with(extra));
    expect(
        &with_www("track_proxy = { frontend = \"www\", min_servers = 0 }"),
        &[(13, 49, "`min_servers` must be at least 1, got 0")],
    );
    expect(
        &with_www("track_proxy = { frontend = \"www\", weight = 255 }"),
        &[(13, 44, "`weight` must be between -254 and 254, got 255")],
    );
    expect(
        &with_www("track_proxy = { weight = -2 }"),
        &[(13, 15, "missing required key `frontend` in `track_proxy`")],
    );
}

#[test]
fn tracked_interfaces_and_scripts() {
    expect(
        &instance_with("track_interfaces = [\"eth1\", { name = \"eth1\", weight = -2 }]"),
        &[(6, 38, "interface `eth1` is tracked twice in this instance")],
    );
    expect(
        &instance_with("track_interfaces = [\"eth 1\"]"),
        &[(
            6,
            21,
            "`track_interfaces`: `eth 1` is not a valid interface name",
        )],
    );
    expect(
        &instance_with("track_interfaces = [{ name = \"eth1\", weight = -255 }]"),
        &[(6, 47, "`weight` must be between -254 and 254, got -255")],
    );
    let script = "[[vrrp.script]]\nname = \"chk\"\ncommand = [\"/bin/true\"]\n";
    expect(
        &format!(
            "{}{script}",
            instance_with("track_scripts = [\"chk\", \"chk\"]")
        ),
        &[(6, 25, "script `chk` is tracked twice in this instance")],
    );
    expect(
        &instance_with("track_scripts = [1]"),
        &[(
            6,
            18,
            "each entry of `track_scripts` must be a string or a table, found an integer",
        )],
    );
}

#[test]
fn notify_hooks_are_argv_with_an_absolute_program() {
    expect(
        &instance_with("notify = { master = [\"notify.sh\", \"x\"] }"),
        &[(
            6,
            22,
            "`master`: the program `notify.sh` must be an absolute path, since commands run \
             without a shell or PATH lookup (`command -v notify.sh` prints it)",
        )],
    );
    expect(
        &instance_with("notify = { backup = [] }"),
        &[(6, 21, "`backup` must not be empty")],
    );
    expect(
        &instance_with("notify = { fault = [\"/bin/x\", \"a\\u0000b\"] }"),
        &[(6, 31, "`fault`: arguments cannot contain a zero byte")],
    );
    expect(
        &instance_with("notify = { master = \"/bin/x arg\" }"),
        &[(6, 21, "`master` must be an array, found a string")],
    );
    expect(
        &instance_with("notify = { notify_master = [\"/bin/x\"] }"),
        &[(
            6,
            12,
            "unknown key `notify_master` in `notify` (known keys: master, backup, fault, stop, \
             any, style)",
        )],
    );
    expect(
        &instance_with("notify = { any = [\"/bin/x\"], style = \"keepalive\" }"),
        &[(
            6,
            38,
            "invalid `style` `keepalive`; expected one of: rampart, keepalived (did you mean \
             `keepalived`?)",
        )],
    );
}

//! Errors in `[vrrp]` itself, `[[vrrp.script]]`, `[[vrrp.sync_group]]`, and
//! the checks across them: unique names, one vrid per interface and family,
//! references to frontends, scripts and instances. Every test pins the line
//! and column of each diagnostic.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use common::{POOL, WWW, expect, instance_with, ok};

/// An IPv4 instance of five lines on eth0 (the name is on its line 2, the
/// vrid on its line 4).
fn vi(name: &str, vrid: u8) -> String {
    format!(
        "[[vrrp.instance]]\nname = \"{name}\"\ninterface = \"eth0\"\nvrid = {vrid}\n\
         virtual_addresses = [\"192.0.2.{vrid}\"]\n"
    )
}

/// VI_1 and VI_2: lines 1–10.
fn two() -> String {
    format!("{}{}", vi("VI_1", 1), vi("VI_2", 2))
}

/// A sync group of three lines; `members` is on its line 3, column 11.
fn group(name: &str, members: &str) -> String {
    format!("[[vrrp.sync_group]]\nname = \"{name}\"\nmembers = {members}\n")
}

/// A valid script of three lines; a key appended is on line 4.
fn script_with(extra: &str) -> String {
    format!(
        "[[vrrp.script]]\nname = \"chk\"\ncommand = [\"/usr/bin/pgrep\", \"haproxy\"]\n{extra}\n"
    )
}

#[test]
fn vrrp_section_keys_and_shape() {
    expect(
        "[vrrp]\ninstances = []\n",
        &[(
            2,
            1,
            "unknown key `instances` in [vrrp]; did you mean `instance`?",
        )],
    );
    expect(
        "vrrp = 1\n",
        &[(1, 8, "`vrrp` must be a table, found an integer")],
    );
    expect(
        "[vrrp.instance]\nname = \"VI_1\"\n",
        &[(1, 7, "write [[vrrp.instance]], not [vrrp.instance]")],
    );
    expect(
        "[vrrp]\nnotify_timeout = \"0s\"\n",
        &[(2, 18, "`notify_timeout` must be greater than 0")],
    );
    expect(
        "[vrrp]\nversion = 1\n",
        &[(2, 11, "`version` must be between 2 and 3, got 1")],
    );
    expect(
        "[vrrp]\nchecksum = \"as-v2\"\n",
        &[(
            2,
            12,
            "invalid `checksum` `as-v2`; expected one of: pseudo-header, message-only",
        )],
    );
}

#[test]
fn garp_values_in_vrrp_and_in_an_instance() {
    expect(
        "[vrrp]\ngarp = { repeat = 0, delay = \"5\", burst = 1 }\n",
        &[
            (2, 19, "`repeat` must be at least 1, got 0"),
            (2, 30, "`delay`: missing unit in `5`"),
            (
                2,
                35,
                "unknown key `burst` in `garp` (known keys: repeat, delay, refresh, interval)",
            ),
        ],
    );
    expect(
        &instance_with("garp = { refresh = \"-1s\" }"),
        &[(6, 20, "`refresh`: negative duration")],
    );
}

#[test]
fn script_errors() {
    expect(
        "[[vrrp.script]]\nname = \"chk\"\n",
        &[(1, 1, "missing required key `command` in vrrp script")],
    );
    expect(
        "[[vrrp.script]]\nname = \"chk\"\ncommand = [\"pgrep\", \"haproxy\"]\n",
        &[(
            3,
            12,
            "`command`: the program `pgrep` must be an absolute path",
        )],
    );
    expect(
        "[[vrrp.script]]\nname = \"chk\"\ncommand = []\n",
        &[(3, 11, "`command` must not be empty")],
    );
    expect(
        &script_with("interval = \"0s\"\ntimeout = \"0ms\""),
        &[
            (4, 12, "`interval` must be greater than 0"),
            (5, 11, "`timeout` must be greater than 0"),
        ],
    );
    expect(
        &script_with("fall = 0\nrise = 0"),
        &[
            (4, 8, "`fall` must be at least 1, got 0"),
            (5, 8, "`rise` must be at least 1, got 0"),
        ],
    );
    expect(
        &script_with("weight = 300"),
        &[(4, 10, "`weight` must be between -254 and 254, got 300")],
    );
    expect(
        &script_with("user = \"nobody\""),
        &[(
            4,
            1,
            "unknown key `user` in vrrp script (known keys: name, command, interval, timeout, \
             fall, rise, weight)",
        )],
    );
    expect(
        &script_with("").replace("\"chk\"", "\"chk haproxy\""),
        &[(2, 8, "`name` contains ' '")],
    );
}

#[test]
fn sync_group_members() {
    expect(
        &format!("{}{}", two(), group("G", "[\"VI_1\"]")),
        &[(13, 11, "a sync group needs at least two members, got 1")],
    );
    expect(
        &format!("{}{}", two(), group("G", "[\"VI_1\", \"gateway\"]")),
        &[(
            13,
            20,
            "vrrp instance `gateway` is not defined (defined instances: VI_1, VI_2)",
        )],
    );
    expect(
        &format!("{}{}", vi("VI_1", 1), group("G", "[\"VI_1\", \"VI_2\"]")),
        &[(
            8,
            20,
            "vrrp instance `VI_2` is not defined (defined instances: VI_1)",
        )],
    );
    expect(
        &format!("{}{}", two(), group("G", "[\"VI_1\", \"VI_1\", \"VI_2\"]")),
        &[(
            13,
            20,
            "instance `VI_1` is listed twice in this group (line 13); an instance can be in one \
             sync group only",
        )],
    );
    expect(
        &format!(
            "{}{}{}",
            two(),
            group("G1", "[\"VI_1\", \"VI_2\"]"),
            group("G2", "[\"VI_2\", \"VI_1\"]")
        ),
        &[
            (
                16,
                12,
                "instance `VI_2` is already in sync group `G1` (line 13)",
            ),
            (
                16,
                20,
                "instance `VI_1` is already in sync group `G1` (line 13)",
            ),
        ],
    );
    expect(
        &format!(
            "{}[[vrrp.sync_group]]\nname = \"G\"\nmember = [\"VI_1\", \"VI_2\"]\n",
            two()
        ),
        &[(
            13,
            1,
            "unknown key `member` in sync group; did you mean `members`?",
        )],
    );
    expect(
        &format!(
            "{}{}",
            two(),
            group("G", "[\"VI_1\", \"VI_2\"]")
                .replace("members", "notify = { master = [\"x\"] }\nmembers")
        ),
        &[(13, 22, "`master`: the program `x` must be an absolute path")],
    );
}

#[test]
fn duplicate_names() {
    expect(
        &format!("{}{}", vi("VI_1", 1), vi("VI_1", 2)),
        &[(
            7,
            8,
            "duplicate vrrp instance name `VI_1` (first defined on line 2)",
        )],
    );
    expect(
        &format!("{}{}", script_with(""), script_with("")),
        &[(
            6,
            8,
            "duplicate vrrp script name `chk` (first defined on line 2)",
        )],
    );
    let (a, b, c, d) = (vi("A", 1), vi("B", 2), vi("C", 3), vi("D", 4));
    expect(
        &format!(
            "{a}{b}{c}{d}{}{}",
            group("G", "[\"A\", \"B\"]"),
            group("G", "[\"C\", \"D\"]")
        ),
        &[(
            25,
            8,
            "duplicate sync group name `G` (first defined on line 22)",
        )],
    );
    // Instances, scripts and groups have separate names.
    ok(&format!(
        "{}{}{}",
        two(),
        group("VI_1", "[\"VI_1\", \"VI_2\"]"),
        script_with("").replace("\"chk\"", "\"VI_1\"")
    ));
}

#[test]
fn one_vrid_per_interface_and_family() {
    expect(
        &format!("{}{}", vi("VI_1", 7), vi("VI_2", 7)),
        &[(
            9,
            8,
            "vrid 7 on `eth0` (IPv4) is already used by instance `VI_1` (line 4); each virtual \
             router on a link needs its own vrid",
        )],
    );
}

#[test]
fn track_proxy_needs_a_defined_frontend() {
    expect(
        &instance_with("track_proxy = { frontend = \"api\" }"),
        &[(
            6,
            28,
            "frontend `api` is not defined; no [[frontend]] is defined",
        )],
    );
    let with_www = |extra: &str| format!("{WWW}{POOL}{}", instance_with(extra));
    expect(
        &with_www("track_proxy = { frontend = \"api\" }"),
        &[(
            13,
            28,
            "frontend `api` is not defined (defined frontends: www)",
        )],
    );
    expect(
        &with_www("track_proxy = { frontend = \"wwww\" }"),
        &[(
            13,
            28,
            "frontend `wwww` is not defined; did you mean `www`?",
        )],
    );
}

#[test]
fn track_scripts_need_a_defined_script() {
    expect(
        &instance_with("track_scripts = [\"chk\"]"),
        &[(
            6,
            18,
            "vrrp script `chk` is not defined; no [[vrrp.script]] is defined",
        )],
    );
    let script =
        "[[vrrp.script]]\nname = \"chk_haproxy\"\ncommand = [\"/usr/bin/pgrep\", \"haproxy\"]\n";
    expect(
        &format!(
            "{}{script}",
            instance_with("track_scripts = [\"chk_haproxy\", { name = \"chk_dns\" }]")
        ),
        &[(
            6,
            42,
            "vrrp script `chk_dns` is not defined (defined scripts: chk_haproxy)",
        )],
    );
}

/// What a keepalived.conf translated by hand typically gets wrong, all in
/// one report, in file order.
#[test]
fn several_vrrp_errors_are_all_reported_in_order_of_position() {
    let src = r#"[vrrp]
version = 2

[[vrrp.instance]]
name = "VI_1"
interface = "bond0"
state = "MASTER"
vrid = 101
advert_interval = "1500ms"
unicast_peers = ["10.99.181.129"]
auth = { type = "pass", password = "111122223" }
virtual_addresses = [{ addr = "192.168.1.1/24", dev = "enp1s0f1", label = "gateway:0123456789" }]
track_scripts = ["chk_haproxy"]
"#;
    expect(
        src,
        &[
            (7, 9, "invalid `state` `MASTER`"),
            (9, 19, "VRRPv2 `advert_interval` must be whole seconds"),
            (10, 17, "`unicast_peers` needs `unicast_src`"),
            (11, 36, "`password` must be 1 to 8 bytes"),
            (
                12,
                75,
                "`gateway:0123456789` is 18 bytes; Linux allows at most 15",
            ),
            (13, 18, "vrrp script `chk_haproxy` is not defined"),
        ],
    );
}

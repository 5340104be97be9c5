//! Errors in values: durations, addresses, ranges, names, check forms, and
//! the checks across sections (duplicates, references). Every test pins the
//! line and column of each diagnostic.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use common::{BGP, POOL, VI, WWW, expect, ok};
use rampart_config::NAME_MAX;

/// WWW and POOL take lines 1–7, so a key appended to the backend is on line 8.
fn backend_with(extra: &str) -> String {
    format!("{WWW}{POOL}{extra}\n")
}

/// A server list of one server on line 8 (`  { name = "a", <extra> },`):
/// `extra` starts at column 17.
fn server_with(extra: &str) -> String {
    format!("{WWW}[[backend]]\nname = \"pool\"\nservers = [\n  {{ name = \"a\", {extra} }},\n]\n")
}

#[test]
fn bad_duration() {
    expect(
        &backend_with("timeout = { connect = \"5\" }"),
        &[(8, 23, "missing unit in `5`")],
    );
    expect(
        &backend_with("timeout = { server = \"5 s\" }"),
        &[(8, 22, "invalid unit")],
    );
    expect(
        &backend_with("timeout = { queue = \"-1s\" }"),
        &[(8, 21, "negative")],
    );
    expect(
        &backend_with("timeout = { client = \"\" }"),
        &[(8, 22, "empty duration")],
    );
}

#[test]
fn zero_durations_where_they_make_no_sense() {
    expect(
        &backend_with("health = { interval = \"0s\" }"),
        &[(8, 23, "`interval` must be greater than 0")],
    );
    expect(
        &backend_with("timeout = { connect = \"0ms\" }"),
        &[(8, 23, "`connect` must be greater than 0")],
    );
    expect(
        &backend_with("health = { timeout = \"0s\" }"),
        &[(8, 22, "`timeout` must be greater than 0")],
    );
}

#[test]
fn zero_durations_where_they_mean_something() {
    let c = ok(&format!(
        "[global]\ngrace = \"0s\"\n{}",
        backend_with("timeout = { queue = \"0s\" }")
    ));
    assert!(c.global.grace.is_zero());
    assert!(c.backends[0].timeout.queue.is_zero());
    // A health timeout longer than the interval is allowed.
    ok(&backend_with(
        "health = { interval = \"1s\", timeout = \"5s\" }",
    ));
}

#[test]
fn bad_socket_address() {
    let src = format!(
        "{POOL}[[frontend]]\nname = \"www\"\nbind = [\"localhost:80\"]\nbackend = \"pool\"\n"
    );
    expect(
        &src,
        &[(6, 9, "`bind`: `localhost:80` is not a socket address")],
    );
    expect(
        &server_with("addr = \"10.0.0.1\""),
        &[(8, 24, "`addr`: `10.0.0.1` is not a socket address")],
    );
}

#[test]
fn port_zero() {
    let src = format!(
        "{POOL}[[frontend]]\nname = \"www\"\nbind = [\"[::1]:8080\", \"[::1]:0\"]\nbackend = \"pool\"\n"
    );
    expect(&src, &[(6, 23, "port 0 in `[::1]:0`")]);
    expect(
        &server_with("addr = \"127.0.0.1:0\""),
        &[(8, 24, "port 0 in `127.0.0.1:0`")],
    );
}

#[test]
fn bad_cidr() {
    let src = format!("{WWW}allow = [\"10.0.0.0/8\", \"10.0.0.0/33\"]\ndeny = [\"bad\"]\n{POOL}");
    expect(
        &src,
        &[
            (5, 24, "`allow`: `10.0.0.0/33` is not a CIDR"),
            (6, 9, "`deny`: `bad` is not a CIDR"),
        ],
    );
}

#[test]
fn names_must_be_usable_in_logs() {
    expect(
        &server_with(
            "addr = \"127.0.0.1:81\", weight = 1 }, { name = \"web 2\", addr = \"127.0.0.1:82\"",
        ),
        &[(8, 63, "`name` contains ' '")],
    );
    let src =
        format!("[[frontend]]\nname = \"\"\nbind = [\"127.0.0.1:80\"]\nbackend = \"pool\"\n{POOL}");
    expect(&src, &[(2, 8, "`name` must not be empty")]);
}

/// A 1 MB name would make every log line about it 1 MB: names are capped
/// where every kind of name is read.
#[test]
fn names_have_at_most_64_characters() {
    let long = "n".repeat(NAME_MAX + 1);
    let fits = "m".repeat(NAME_MAX);
    let frontend = |name: &str| WWW.replace("\"www\"", &format!("\"{name}\""));
    assert_eq!(
        ok(&format!("{}{POOL}", frontend(&fits))).frontends[0].name,
        fits
    );
    let want = "`name` is 65 characters long; names may have at most 64";
    expect(&format!("{}{POOL}", frontend(&long)), &[(2, 8, want)]);
    let server = POOL.replace("name = \"a\"", &format!("name = \"{long}\""));
    expect(&format!("{WWW}{server}"), &[(7, 21, want)]);
    let vrrp = VI.replace("\"VI_1\"", &format!("\"{long}\""));
    expect(&vrrp, &[(2, 8, want)]);
    let bgp = BGP.replace("\"bgp1\"", &format!("\"{long}\""));
    expect(&bgp, &[(5, 8, want)]);
}

#[test]
fn dangling_backend_reference() {
    let src = format!(
        "[[frontend]]\nname = \"www\"\nbind = [\"127.0.0.1:80\"]\nbackend = \"web\"\n{POOL}"
    );
    expect(
        &src,
        &[(
            4,
            11,
            "backend `web` is not defined (defined backends: pool)",
        )],
    );
    let src = "[[frontend]]\nname = \"www\"\nbind = [\"127.0.0.1:80\"]\nbackend = \"web\"\n";
    expect(
        src,
        &[(
            4,
            11,
            "backend `web` is not defined; no [[backend]] is defined",
        )],
    );
}

#[test]
fn duplicate_frontend_name() {
    let src = format!(
        "{WWW}{POOL}[[frontend]]\nname = \"www\"\nbind = [\"127.0.0.1:81\"]\nbackend = \"pool\"\n"
    );
    expect(
        &src,
        &[(
            9,
            8,
            "duplicate frontend name `www` (first defined on line 2)",
        )],
    );
}

#[test]
fn duplicate_backend_name() {
    let src = format!("{WWW}{POOL}{POOL}");
    expect(
        &src,
        &[(
            9,
            8,
            "duplicate backend name `pool` (first defined on line 6)",
        )],
    );
}

#[test]
fn duplicate_server_name() {
    let src = format!(
        "{WWW}[[backend]]\nname = \"pool\"\n[[backend.servers]]\nname = \"a\"\naddr = \"127.0.0.1:81\"\n[[backend.servers]]\nname = \"a\"\naddr = \"127.0.0.1:82\"\n"
    );
    expect(
        &src,
        &[(
            11,
            8,
            "duplicate server name `a` in this backend (first defined on line 8)",
        )],
    );
}

#[test]
fn same_server_name_in_two_backends_is_fine() {
    let other = POOL.replace("\"pool\"", "\"other\"");
    ok(&format!("{WWW}{POOL}{other}"));
}

#[test]
fn same_bind_address_in_two_frontends() {
    let src = format!(
        "{WWW}{POOL}[[frontend]]\nname = \"api\"\nbind = [\"127.0.0.1:8081\", \"127.0.0.1:8080\"]\nbackend = \"pool\"\n"
    );
    expect(
        &src,
        &[(
            10,
            27,
            "bind address 127.0.0.1:8080 is already used by frontend `www` (line 3)",
        )],
    );
    let src = format!(
        "{POOL}[[frontend]]\nname = \"www\"\nbind = [\"[::1]:80\", \"[0:0::1]:80\"]\nbackend = \"pool\"\n"
    );
    expect(
        &src,
        &[(
            6,
            21,
            "bind address [::1]:80 is already used by this frontend (line 6)",
        )],
    );
}

#[test]
fn weight_range() {
    expect(
        &server_with("addr = \"127.0.0.1:81\", weight = 257"),
        &[(8, 49, "`weight` must be between 0 and 256, got 257")],
    );
    expect(
        &server_with("addr = \"127.0.0.1:81\", weight = -1"),
        &[(8, 49, "got -1")],
    );
    let c = ok(&server_with("addr = \"127.0.0.1:81\", weight = 0"));
    assert_eq!(c.backends[0].servers[0].weight, 0);
    ok(&server_with("addr = \"127.0.0.1:81\", weight = 256"));
}

#[test]
fn fall_and_rise_zero() {
    expect(
        &backend_with("health = { fall = 0, rise = 0 }"),
        &[
            (8, 19, "`fall` must be at least 1, got 0"),
            (8, 29, "`rise` must be at least 1, got 0"),
        ],
    );
}

/// A server's own `health`: timing and where its checks connect; errors
/// where a setting could only do nothing.
#[test]
fn server_health() {
    let c = ok(&server_with(
        "addr = \"127.0.0.1:81\", health = { interval = \"500ms\", timeout = \"2s\", \
         fall = 1, rise = 4, port = 9200, addr = \"127.0.0.2\" }",
    ));
    let b = &c.backends[0];
    let (target, h) = b.check_of(&b.servers[0]);
    assert_eq!(target, "127.0.0.2:9200".parse().unwrap());
    assert_eq!(
        (h.interval.as_millis(), h.timeout.as_secs(), h.fall, h.rise),
        (500, 2, 1, 4)
    );
    // A backend-wide check port; a server's own port wins.
    let c = ok(&format!(
        "{WWW}[[backend]]\nname = \"pool\"\nhealth = {{ port = 8080 }}\nservers = [\n\
         {{ name = \"a\", addr = \"127.0.0.1:81\" }},\n\
         {{ name = \"b\", addr = \"127.0.0.1:82\", health = {{ port = 9090 }} }},\n]\n"
    ));
    let b = &c.backends[0];
    assert_eq!(b.check_of(&b.servers[0]).0.port(), 8080);
    assert_eq!(b.check_of(&b.servers[1]).0.port(), 9090);
    expect(
        &server_with(
            "addr = \"127.0.0.1:81\", health = { port = 0, addr = \"db\", check = \"tcp\" }",
        ),
        &[
            (8, 58, "`port` must be between 1 and 65535, got 0"),
            (8, 68, "`addr`: `db` is not an IP address"),
            (8, 74, "unknown key `check` in the server's `health`"),
        ],
    );
    expect(
        &server_with("addr = \"127.0.0.1:81\", check = false, health = { rise = 1 }"),
        &[(
            8,
            64,
            "the server's `health` has no effect with `check = false`",
        )],
    );
    expect(
        &format!(
            "{WWW}[[backend]]\nname = \"pool\"\nhealth = {{ check = \"none\", port = 1 }}\n\
             servers = [{{ name = \"a\", addr = \"127.0.0.1:81\", health = {{ addr = \"::1\" }} }}]\n"
        ),
        &[
            (7, 35, "`port` has no effect with check = \"none\""),
            (
                8,
                67,
                "`addr` has no effect: the backend's check = \"none\" connects nowhere",
            ),
        ],
    );
}

#[test]
fn bad_balance_lists_the_valid_ones() {
    expect(
        &backend_with("balance = \"round-robin\""),
        &[(
            8,
            11,
            "expected one of: roundrobin, leastconn, source, first, random (did you mean `roundrobin`?)",
        )],
    );
}

#[test]
fn bad_send_proxy() {
    expect(
        &server_with("addr = \"127.0.0.1:81\", send_proxy = \"v3\""),
        &[(8, 53, "invalid `send_proxy` `v3`; expected one of: v1, v2")],
    );
    expect(
        &server_with("addr = \"127.0.0.1:81\", send_proxy = true"),
        &[(8, 53, "`send_proxy` must be a string, found a boolean")],
    );
}

#[test]
fn bad_check_forms() {
    expect(
        &backend_with("health = { check = 1 }"),
        &[(8, 20, "`check` must be \"tcp\", \"none\", { send")],
    );
    expect(
        &backend_with("health = { check = \"http\" }"),
        &[(8, 20, "invalid `check` `http`")],
    );
    expect(
        &backend_with("health = { check = { status = 200 } }"),
        &[(8, 20, "`check` table needs `http` or `expect`")],
    );
    expect(
        &backend_with("health = { check = { http = \"GET /\", send = \"x\" } }"),
        &[(8, 20, "choose one form")],
    );
    expect(
        &backend_with("health = { check = { send = \"PING\" } }"),
        &[(8, 20, "missing required key `expect` in `check`")],
    );
    expect(
        &backend_with("health = { check = { send = \"PING\", expect = \"\" } }"),
        &[(8, 46, "`expect` must not be empty")],
    );
}

#[test]
fn bad_http_check_lines_and_status() {
    expect(
        &backend_with("health = { check = { http = \"/health\" } }"),
        &[(8, 29, "has no path")],
    );
    expect(
        &backend_with("health = { check = { http = \"get /health\" } }"),
        &[(8, 29, "invalid method `get`")],
    );
    expect(
        &backend_with("health = { check = { http = \"GET health\" } }"),
        &[(8, 29, "invalid path `health`")],
    );
    expect(
        &backend_with("health = { check = { http = \"GET /\", status = 99 } }"),
        &[(8, 47, "`status` must be between 100 and 599, got 99")],
    );
    expect(
        &backend_with("health = { check = { http = \"GET /\", status = 600 } }"),
        &[(8, 47, "got 600")],
    );
    expect(
        &backend_with("health = { check = { http = \"GET /\", host = \"a b\" } }"),
        &[(8, 45, "`host`")],
    );
}

#[test]
fn empty_bind_list() {
    let src = format!("{POOL}[[frontend]]\nname = \"www\"\nbind = []\nbackend = \"pool\"\n");
    expect(&src, &[(6, 8, "`bind` must list at least one address")]);
}

#[test]
fn empty_servers_list() {
    let src = format!("{WWW}[[backend]]\nname = \"pool\"\nservers = []\n");
    expect(&src, &[(7, 11, "`servers` must list at least one server")]);
}

#[test]
fn threads_range() {
    expect(
        "[global]\nthreads = 1025\n",
        &[(2, 11, "`threads` must be between 0 and 1024, got 1025")],
    );
    expect("[global]\nthreads = -1\n", &[(2, 11, "got -1")]);
    let c = ok(&format!("[global]\nthreads = 1024\n{WWW}{POOL}"));
    assert_eq!(c.global.threads, 1024);
}

#[test]
fn bad_log_level() {
    expect(
        "[global]\nlog_level = \"warning\"\n",
        &[(
            2,
            13,
            "expected one of: error, warn, info, debug, trace (did you mean `warn`?)",
        )],
    );
    expect(
        "[global]\nlog_level = \"INFO\"\n",
        &[(2, 13, "invalid `log_level` `INFO`")],
    );
}

#[test]
fn worker_user_and_group() {
    let c = ok(&format!(
        "[global]\nuser = \"rampart\"\ngroup = \"65534\"\n{WWW}{POOL}"
    ));
    assert_eq!(c.global.user.as_deref(), Some("rampart"));
    assert_eq!(c.global.group.as_deref(), Some("65534"));
    let c = ok(&format!("{WWW}{POOL}"));
    assert_eq!((c.global.user, c.global.group), (None, None));
    expect(
        "[global]\nuser = \"-rf\"\n",
        &[(2, 8, "invalid `user` `-rf`: a user or group name")],
    );
    expect(
        "[global]\ngroup = \"wheel users\"\n",
        &[(2, 9, "invalid `group` `wheel users`")],
    );
    expect("[global]\nuser = \"\"\n", &[(2, 8, "invalid `user` ``")]);
    expect(
        &format!("[global]\nuser = \"{}\"\n", "u".repeat(33)),
        &[(2, 8, "at most 32 characters")],
    );
    expect("[global]\nuser = 0\n", &[(2, 8, "`user`")]);
}

#[test]
fn state_file_is_an_absolute_path() {
    let c = ok(&format!(
        "[global]\nstate_file = \"/var/lib/rampart/state.json\"\n{WWW}{POOL}"
    ));
    assert_eq!(
        c.global.state_file.as_deref(),
        Some(std::path::Path::new("/var/lib/rampart/state.json"))
    );
    expect(
        "[global]\nstate_file = \"state.json\"\n",
        &[(
            2,
            14,
            "`state_file` must be an absolute path, got `state.json`",
        )],
    );
}

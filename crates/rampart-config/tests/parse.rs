//! Valid files: the model they produce, defaults, equivalent spellings,
//! the shipped example, and `load`.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{BGP, POOL, VI, WWW, expect, ok};
use rampart_config::{
    AdminPeer, Backend, Balance, Bgp, Check, Config, Frontend, Global, Health, Mode, ProxyVersion,
    Server, ServerHealth, Timeouts, Vrrp, defaults, load,
};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

const FULL: &str = r#"
[global]
threads = 4
grace = "10s"
log_level = "debug"

[[frontend]]
name = "www"
bind = ["127.0.0.1:8080", "[::1]:8080"]
backend = "pool"
maxconn = 100
allow = ["10.0.0.0/8", "192.0.2.7", "::/0"]
deny = ["10.1.0.0/16"]

[[backend]]
name = "pool"
balance = "leastconn"
retries = 1
timeout = { connect = "500ms", client = "1m", server = "2m", tunnel = "1h", queue = "0s" }
health = { check = { http = "HEAD /health", status = 204, host = "example.org" }, interval = "5s", timeout = "2s", fall = 5, rise = 1, start_up = true }
servers = [
  { name = "web1", addr = "192.168.1.10:80", weight = 0, backup = true, maxconn = 10, send_proxy = "v2", check = false },
  { name = "web2", addr = "[2001:db8::1]:80", send_proxy = "v1" },
]
"#;

#[test]
fn full_example_gives_the_expected_model() {
    let server = |name: &str, a: &str| Server {
        name: name.to_string(),
        addr: addr(a),
        weight: defaults::WEIGHT,
        backup: false,
        maxconn: 0,
        send_proxy: None,
        check: true,
        health: ServerHealth::default(),
    };
    let net = |s: &str| s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
    let want = Config {
        global: Global {
            threads: 4,
            grace: Duration::from_secs(10),
            log_level: "debug".to_string(),
            user: None,
            group: None,
            state_file: None,
            tcplog_file: None,
        },
        frontends: vec![Frontend {
            name: "www".to_string(),
            bind: vec![addr("127.0.0.1:8080"), addr("[::1]:8080")],
            backend: "pool".to_string(),
            backend_index: 0,
            maxconn: 100,
            allow: vec![net("10.0.0.0/8"), net("192.0.2.7/32"), net("::/0")],
            deny: vec![net("10.1.0.0/16")],
            mode: Mode::Proxy,
            rate_limit: None,
        }],
        backends: vec![Backend {
            name: "pool".to_string(),
            balance: Balance::LeastConn,
            retries: 1,
            timeout: Timeouts {
                connect: Duration::from_millis(500),
                client: Duration::from_secs(60),
                server: Duration::from_secs(120),
                tunnel: Some(Duration::from_secs(3600)),
                queue: Duration::ZERO,
            },
            health: Health {
                check: Check::Http {
                    method: "HEAD".to_string(),
                    path: "/health".to_string(),
                    host: Some("example.org".to_string()),
                    status: 204,
                },
                interval: Duration::from_secs(5),
                timeout: Duration::from_secs(2),
                fall: 5,
                rise: 1,
                start_up: true,
                port: None,
            },
            servers: vec![
                Server {
                    weight: 0,
                    backup: true,
                    maxconn: 10,
                    send_proxy: Some(ProxyVersion::V2),
                    check: false,
                    ..server("web1", "192.168.1.10:80")
                },
                Server {
                    send_proxy: Some(ProxyVersion::V1),
                    ..server("web2", "[2001:db8::1]:80")
                },
            ],
            on_marked_down: None,
        }],
        vrrp: Vrrp::default(),
        bgp: Bgp::default(),
        gateway: rampart_config::Gateway::default(),
        admin: None,
    };
    assert_eq!(ok(FULL), want);
}

#[test]
fn array_of_tables_spelling_is_equivalent() {
    let sections = r#"
[[backend]]
name = "pool"
[backend.timeout]
connect = "1s"
[backend.health]
check = { send = "PING\r\n", expect = "+PONG" }
[[backend.servers]]
name = "a"
addr = "127.0.0.1:81"
[[backend.servers]]
name = "b"
addr = "127.0.0.1:82"
weight = 2
"#;
    let inline = r#"
[[backend]]
name = "pool"
timeout = { connect = "1s" }
health.check = { send = "PING\r\n", expect = "+PONG" }
servers = [{ name = "a", addr = "127.0.0.1:81" }, { name = "b", addr = "127.0.0.1:82", weight = 2 }]
"#;
    let a = ok(&format!("{WWW}{sections}"));
    assert_eq!(a, ok(&format!("{WWW}{inline}")));
    let check = &a.backends[0].health.check;
    assert_eq!(
        check,
        &Check::SendExpect {
            send: b"PING\r\n".to_vec(),
            expect: b"+PONG".to_vec()
        }
    );
}

#[test]
fn omitted_keys_take_the_named_defaults() {
    let c = ok(&format!("{WWW}{POOL}"));
    assert_eq!(c.global, Global::default());
    assert_eq!(c.global.grace, defaults::GRACE);
    let f = &c.frontends[0];
    assert_eq!(f.maxconn, defaults::FRONTEND_MAXCONN);
    assert!(f.allow.is_empty() && f.deny.is_empty());
    let b = &c.backends[0];
    assert_eq!(b.balance, Balance::RoundRobin);
    assert_eq!(b.retries, defaults::RETRIES);
    assert_eq!(b.timeout, Timeouts::default());
    assert_eq!(b.timeout.tunnel, None);
    assert_eq!(b.health, Health::default());
    let s = &b.servers[0];
    assert_eq!(
        (s.weight, s.backup, s.maxconn, s.send_proxy, s.check),
        (1, false, 0, None, true)
    );
    assert_eq!(c.backend("pool").map(|b| b.servers.len()), Some(1));
}

#[test]
fn check_forms() {
    let check = |form: &str| {
        ok(&format!("{WWW}{POOL}health = {{ check = {form} }}\n")).backends[0]
            .health
            .check
            .clone()
    };
    assert_eq!(check("\"tcp\""), Check::Tcp);
    assert_eq!(check("\"none\""), Check::None);
    assert_eq!(
        check("{ expect = \"220 \" }"),
        Check::SendExpect {
            send: Vec::new(),
            expect: b"220 ".to_vec()
        }
    );
    assert_eq!(
        check("{ http = \"GET /\" }"),
        Check::Http {
            method: "GET".to_string(),
            path: "/".to_string(),
            host: None,
            status: 200
        }
    );
}

/// An empty file, or one with only settings and backends, would stop
/// serving if a SIGHUP applied it: refused, at line 1 column 1.
#[test]
fn a_file_with_nothing_to_run_is_refused() {
    for src in [
        "",
        "# nothing yet\n",
        POOL,
        "[global]\nthreads = 2\n[vrrp]\n[bgp]\nlocal_as = 65000\n[gateway]\nforward = []\n",
    ] {
        expect(
            src,
            &[(
                1,
                1,
                "nothing to run: no [[frontend]], no [[vrrp.instance]]",
            )],
        );
    }
    // Another error comes alone: its section, left empty, is not also
    // "nothing to run".
    expect("frontend = 5\n", &[(1, 12, "must be an array of tables")]);
}

/// Any one of the four roles is enough.
#[test]
fn one_frontend_instance_neighbor_or_gateway_is_something_to_run() {
    assert!(ok(&format!("{WWW}{POOL}")).backends.len() == 1);
    assert_eq!(ok(VI).vrrp.instances.len(), 1);
    assert_eq!(ok(BGP).bgp.neighbors.len(), 1);
    let gw = ok("[gateway]\nmasquerade = [{ source = \"192.168.1.0/24\", out = \"eth0\" }]\n");
    assert!(gw.gateway.is_enabled());
}

#[test]
fn acl_admits() {
    let c = ok(FULL);
    let f = &c.frontends[0];
    let ip = |s: &str| s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
    assert!(f.admits(ip("10.2.3.4")));
    assert!(!f.admits(ip("10.1.3.4")));
    assert!(f.admits(ip("192.0.2.7")));
    assert!(!f.admits(ip("192.0.2.8")));
    assert!(f.admits(ip("2001:db8::5")));
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn quickstart_example_loads() {
    let c = load(&repo_root().join("examples/quickstart.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.frontends.len(), 1);
    assert_eq!(c.frontends[0].bind, vec![addr("127.0.0.1:8080")]);
    let backend = c
        .backend(&c.frontends[0].backend)
        .unwrap_or_else(|| panic!("no backend"));
    let servers: Vec<SocketAddr> = backend.servers.iter().map(|s| s.addr).collect();
    assert_eq!(
        servers,
        vec![addr("127.0.0.1:8081"), addr("127.0.0.1:8082")]
    );
}

#[test]
fn load_reports_an_unreadable_file_as_one_diagnostic() {
    let path = repo_root().join("examples/does-not-exist.toml");
    let Err(e) = load(&path) else {
        panic!("loaded a missing file")
    };
    assert_eq!(e.diagnostics().len(), 1);
    assert!(e.diagnostics()[0].message.contains("cannot read the file"));
    let text = e.render();
    assert!(
        text.contains("does-not-exist.toml:1:1: error: cannot read the file"),
        "{text}"
    );
    assert!(text.ends_with("1 error\n"), "{text}");
}

#[test]
fn load_reports_invalid_utf8_at_its_position() {
    let path =
        std::env::temp_dir().join(format!("rampart-config-{}-utf8.toml", std::process::id()));
    std::fs::write(&path, b"[global]\nlog_level = \"in\xfffo\"\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let result = load(&path);
    let _ = std::fs::remove_file(&path);
    let Err(e) = result else {
        panic!("loaded invalid UTF-8")
    };
    let d = &e.diagnostics()[0];
    assert_eq!((d.line, d.column), (2, 16), "{e}");
    assert!(d.message.contains("not valid UTF-8"));
}

#[test]
fn admin_listener_is_off_by_default_and_parsed_when_present() {
    assert_eq!(ok(&format!("{WWW}{POOL}")).admin, None);
    let c = ok(&format!(
        "{WWW}{POOL}[admin]\nlisten = \"127.0.0.1:9180\"\ntoken = \"0123456789abcdef0123\"\n"
    ));
    let a = c.admin.unwrap();
    assert_eq!(a.listen, addr("127.0.0.1:9180"));
    assert_eq!(a.token.as_deref(), Some("0123456789abcdef0123"));
    assert_eq!(a.peer, None);
}

#[test]
fn admin_peer_follows_by_default_and_follow_turns_it_off() {
    let admin = "[admin]\nlisten = \"10.10.0.11:9180\"\ntoken = \"0123456789abcdef0123\"\n";
    let c = ok(&format!("{WWW}{POOL}{admin}peer = \"10.10.0.12:9180\"\n"));
    assert_eq!(
        c.admin.unwrap().peer,
        Some(AdminPeer {
            addr: addr("10.10.0.12:9180"),
            follow: true,
        })
    );
    let c = ok(&format!(
        "{WWW}{POOL}{admin}peer = \"[2001:db8::12]:9180\"\nfollow = false\n"
    ));
    assert_eq!(
        c.admin.unwrap().peer,
        Some(AdminPeer {
            addr: addr("[2001:db8::12]:9180"),
            follow: false,
        })
    );
}

#[test]
fn admin_listener_errors_name_the_key() {
    expect(
        &format!("{WWW}{POOL}[admin]\nlisten = \"127.0.0.1\"\ntoken = \"short\"\n"),
        &[
            (9, 10, "`listen`: `127.0.0.1` is not a socket address"),
            (10, 9, "`token` is shorter than 16 characters"),
        ],
    );
    expect(
        &format!("{WWW}{POOL}[admin]\nport = 1\n"),
        &[
            (8, 1, "missing required key `listen` in [admin]"),
            (9, 1, "unknown key `port`"),
        ],
    );
}

#[test]
fn admin_peer_errors_say_what_is_missing_or_wrong() {
    // Lines 8 ([admin]) and 9 (listen); what is appended starts on line 10.
    let admin = "[admin]\nlisten = \"10.10.0.11:9180\"\n";
    let token = "token = \"0123456789abcdef0123\"\n";
    expect(
        &format!("{WWW}{POOL}{admin}peer = \"10.10.0.12:9180\"\n"),
        &[(
            10,
            1,
            "`peer` needs `token`: commands go to the peer with it, so both nodes must set the same token",
        )],
    );
    expect(
        &format!("{WWW}{POOL}{admin}{token}follow = true\n"),
        &[(11, 1, "`follow` needs `peer`")],
    );
    expect(
        &format!("{WWW}{POOL}{admin}{token}peer = \"10.10.0.12\"\nfollow = \"yes\"\n"),
        &[
            (11, 8, "`peer`: `10.10.0.12` is not a socket address"),
            (12, 10, "`follow` must be true or false, found a string"),
        ],
    );
    expect(
        &format!("{WWW}{POOL}{admin}{token}peer = \"10.10.0.11:9180\"\n"),
        &[(11, 8, "`peer` is this node's own `listen`")],
    );
    expect(
        &format!("{WWW}{POOL}{admin}{token}peer = \"0.0.0.0:9180\"\n"),
        &[(11, 8, "is not an address the other node listens on")],
    );
    expect(
        &format!("{WWW}{POOL}{admin}{token}peer = 9180\n"),
        &[(11, 8, "`peer` must be a string, found an integer")],
    );
}

/// A frontend's backend is resolved when the file is parsed: its index in
/// the backends, whatever their order.
#[test]
fn a_frontends_backend_is_resolved_at_parse_time() {
    let text = r#"
[[frontend]]
name = "a"
bind = ["127.0.0.1:8080"]
backend = "second"

[[frontend]]
name = "b"
bind = ["127.0.0.1:8081"]
backend = "first"

[[backend]]
name = "first"
servers = [{ name = "s1", addr = "127.0.0.1:9001" }]

[[backend]]
name = "second"
servers = [{ name = "s2", addr = "127.0.0.1:9002" }]
"#;
    let cfg = rampart_config::parse("t.toml", text).unwrap();
    let got: Vec<(usize, &str)> = cfg
        .frontends
        .iter()
        .map(|f| (f.backend_index, cfg.backend_of(f).unwrap().name.as_str()))
        .collect();
    assert_eq!(got, [(1, "second"), (0, "first")]);
    // A hand-built config whose index and name disagree resolves to none.
    let mut wrong = cfg.frontends[0].clone();
    wrong.backend_index = 0;
    assert!(cfg.backend_of(&wrong).is_none());
}

//! `rampart import haproxy` on realistic files (tests/fixtures/haproxy/,
//! written after the examples of HAProxy's configuration manual): the
//! exact TOML and warnings each gives, what the imported config does with
//! clients and checks, and the files it refuses, with their reasons.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::net::IpAddr;
use std::time::Duration;

use rampart_config::{Check, Config, Imported, import_haproxy, parse};

fn path(name: &str) -> String {
    format!(
        "{}/tests/fixtures/haproxy/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Imports a fixture; the TOML without its first line (which names the
/// file's full path) and the warnings with the file's name only.
fn import(name: &str) -> (String, Vec<String>, Config) {
    let p = path(name);
    let text = std::fs::read_to_string(&p).unwrap();
    let Imported { toml, warnings } =
        import_haproxy(&p, &text).unwrap_or_else(|e| panic!("{}", e.join("\n")));
    let cfg = parse("imported.toml", &toml).unwrap_or_else(|e| panic!("{e}\n{toml}"));
    let body = toml.split_once('\n').map(|(_, b)| b.to_string()).unwrap();
    let warnings = warnings.iter().map(|w| w.replace(&p, name)).collect();
    (body, warnings, cfg)
}

/// The errors of a fixture that is refused, with the file's name only.
fn refused(name: &str) -> Vec<String> {
    let p = path(name);
    let text = std::fs::read_to_string(&p).unwrap();
    match import_haproxy(&p, &text) {
        Ok(i) => panic!("{name} was imported:\n{}", i.toml),
        Err(e) => e.iter().map(|e| e.replace(&p, name)).collect(),
    }
}

fn refused_inline(text: &str) -> Vec<String> {
    match import_haproxy("h.cfg", text) {
        Ok(i) => panic!("imported:\n{}", i.toml),
        Err(e) => e,
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn office_edge_source_acls_stats_page_and_binds() {
    let (toml, warnings, cfg) = import("office.cfg");
    assert_eq!(
        toml,
        r#"
[global]
threads = 2

[[frontend]]
name = "mysql_office"
bind = ["[::]:3306", "0.0.0.0:3306", "10.0.0.5:3307"]
backend = "mysql"
allow = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]

[[frontend]]
name = "smtp"
bind = ["0.0.0.0:25", "0.0.0.0:587"]
backend = "mail"
deny = ["198.51.100.7/32", "203.0.113.0/24"]

[[frontend]]
name = "admin_ssh"
bind = ["[2001:db8::5]:2222"]
backend = "ssh"
allow = ["127.0.0.0/8", "::1/128", "2001:db8:100::/48"]

[[backend]]
name = "mysql"
balance = "leastconn"
timeout = { client = "60s", connect = "5s", server = "60s" }
servers = [
  { name = "db1", addr = "10.0.1.10:3306" },
  { name = "db2", addr = "10.0.1.11:3306", backup = true },
]

[[backend]]
name = "mail"
timeout = { client = "60s", connect = "5s", server = "60s" }
servers = [
  { name = "mx1", addr = "10.0.2.10:25" },
  { name = "mx2", addr = "10.0.2.11:25" },
]

[[backend]]
name = "ssh"
timeout = { client = "60s", connect = "5s", server = "60s" }
servers = [
  { name = "bastion", addr = "[2001:db8:1::22]:22" },
]
"#
    );
    assert_eq!(
        warnings,
        [
            "office.cfg:6: `log /dev/log local0` not imported: rampart logs one line per \
             connection (tcplog) to stderr",
            "office.cfg:7: `maxconn 4096` not imported: rampart has no counterpart",
            "office.cfg:12: `log global` not imported: rampart logs one line per connection \
             (tcplog) to stderr",
            "office.cfg:13: `option tcplog` not imported: rampart logs one line per connection \
             (tcplog) to stderr",
            "office.cfg:18: listen `stats` not imported: it is an HAProxy stats page (`rampart \
             status` and the [admin] dashboard replace it)",
            "office.cfg:27: `:::3306` takes IPv4 clients too (HAProxy leaves the socket \
             dual-stack unless `v6only`, with Linux's default net.ipv6.bindv6only = 0): \
             imported as [::]:3306 and 0.0.0.0:3306, since rampart's IPv6 listeners are \
             IPv6-only; add `v6only` to the bind line if IPv4 was not served",
            "office.cfg:36: acl `blocked`: the addresses in blocked.lst are carried as they \
             are now; rampart does not read the file (edit allow/deny instead)",
            "office.cfg:40: `tcp-request inspect-delay 5s` not imported: it delays content \
             rules, and rampart carries only those on the source address",
        ]
    );
    // Who is served, as HAProxy served them.
    let f = |name: &str| cfg.frontends.iter().find(|f| f.name == name).unwrap();
    let mysql = f("mysql_office");
    for (client, served) in [
        ("10.1.2.3", true),
        ("172.31.255.1", true),
        ("192.168.44.1", true),
        ("8.8.8.8", false),
        ("2001:db8::1", false),
        // An IPv4 office client on the IPv6 listener.
        ("::ffff:10.1.2.3", true),
    ] {
        assert_eq!(mysql.admits(ip(client)), served, "mysql_office, {client}");
    }
    let smtp = f("smtp");
    for (client, served) in [
        ("203.0.113.9", false),
        ("198.51.100.7", false),
        ("198.51.100.8", true),
        // Blocked, but trusted first: `accept if trusted` matched first.
        ("192.168.10.66", true),
        ("1.1.1.1", true),
    ] {
        assert_eq!(smtp.admits(ip(client)), served, "smtp, {client}");
    }
    let ssh = f("admin_ssh");
    for (client, served) in [
        ("2001:db8:100::7", true),
        ("::1", true),
        ("127.0.0.1", true),
        ("2001:db8:200::7", false),
        ("10.0.0.1", false),
    ] {
        assert_eq!(ssh.admits(ip(client)), served, "admin_ssh, {client}");
    }
}

#[test]
fn per_server_check_ports_addresses_and_timing_and_tcp_checks() {
    let (toml, warnings, cfg) = import("checks.cfg");
    assert_eq!(
        toml,
        r#"
[[frontend]]
name = "galera"
bind = ["10.0.0.10:3306"]
backend = "galera"

[[backend]]
name = "galera"
balance = "leastconn"
timeout = { client = "30s", connect = "4s", server = "30s" }
health = { interval = "2s", fall = 3, rise = 2, port = 9200 }
servers = [
  { name = "db1", addr = "10.0.1.1:3306" },
  { name = "db2", addr = "10.0.1.2:3306" },
  { name = "db3", addr = "10.0.1.3:3306", backup = true, health = { interval = "10s", fall = 5, rise = 1, addr = "10.0.9.3" } },
]

[[frontend]]
name = "pop3"
bind = ["0.0.0.0:110"]
backend = "pop3_servers"

[[backend]]
name = "pop3_servers"
timeout = { client = "30s", connect = "4s", server = "30s" }
health = { check = { expect = "+OK POP3 ready" }, interval = "3s", fall = 3, rise = 2 }
servers = [
  { name = "pop1", addr = "10.0.3.1:110" },
  { name = "pop2", addr = "10.0.3.2:110", health = { interval = "1s" } },
]

[[frontend]]
name = "redis"
bind = ["0.0.0.0:6379"]
backend = "redis"

[[backend]]
name = "redis"
timeout = { client = "30s", connect = "4s", server = "30s" }
health = { check = { send = "PING\r\n", expect = "+PONG" }, interval = "3s", fall = 3, rise = 2, port = 6379 }
servers = [
  { name = "r1", addr = "10.0.4.1:6379" },
  { name = "r2", addr = "10.0.4.2:6380" },
]

[[frontend]]
name = "redis_plain"
bind = ["0.0.0.0:6380"]
backend = "redis_plain"

[[backend]]
name = "redis_plain"
timeout = { client = "30s", connect = "4s", server = "30s" }
health = { check = { send = "*1\r\n$4\r\nPING\r\n", expect = "+PONG" }, interval = "3s", fall = 3, rise = 2 }
servers = [
  { name = "r3", addr = "10.0.4.3:6379" },
  { name = "r4", addr = "10.0.4.4:6379", check = false },
]
"#
    );
    assert_eq!(
        warnings,
        [
            r"checks.cfg:35: `^\+PONG`: imported as the text `+PONG`, found anywhere in the reply (rampart matches text, not anchors)",
            "checks.cfg:37: server `r2`: its check `port` gives way to `tcp-check connect port \
             6379`, as in HAProxy",
            "checks.cfg:42: default-server: `fastinter 500` not imported: rampart checks at \
             `inter` in every state",
        ]
    );
    // Where and how often each server is checked, as HAProxy checked it.
    let backend = |name: &str| cfg.backends.iter().find(|b| b.name == name).unwrap();
    let galera = backend("galera");
    let check = |b: &rampart_config::Backend, i: usize| {
        let (addr, h) = b.check_of(&b.servers[i]);
        (addr.to_string(), h.interval, h.fall, h.rise)
    };
    let s = Duration::from_secs;
    assert_eq!(check(galera, 0), ("10.0.1.1:9200".into(), s(2), 3, 2));
    assert_eq!(check(galera, 1), ("10.0.1.2:9200".into(), s(2), 3, 2));
    assert_eq!(check(galera, 2), ("10.0.9.3:9200".into(), s(10), 5, 1));
    let pop3 = backend("pop3_servers");
    assert_eq!(check(pop3, 0), ("10.0.3.1:110".into(), s(3), 3, 2));
    assert_eq!(check(pop3, 1), ("10.0.3.2:110".into(), s(1), 3, 2));
    let redis = backend("redis");
    assert_eq!(check(redis, 1).0, "10.0.4.2:6379");
    assert_eq!(
        redis.health.check,
        Check::SendExpect {
            send: b"PING\r\n".to_vec(),
            expect: b"+PONG".to_vec()
        }
    );
    assert_eq!(
        backend("redis_plain")
            .check_of(&backend("redis_plain").servers[1])
            .1
            .check,
        Check::None
    );
}

#[test]
fn ipv6_and_family_prefixed_addresses() {
    let (toml, warnings, _) = import("ipv6.cfg");
    assert_eq!(
        toml,
        r#"
[[frontend]]
name = "web"
bind = ["[::]:80", "0.0.0.0:80", "[::]:443", "0.0.0.0:443"]
backend = "web_servers"

[[frontend]]
name = "web_direct"
bind = ["[2001:db8::10]:8080", "[2001:db8::11]:8080", "192.0.2.10:8080"]
backend = "web_servers"

[[backend]]
name = "web_servers"
timeout = { client = "30s", connect = "5s", server = "30s" }
servers = [
  { name = "w1", addr = "[2001:db8:1::10]:80" },
  { name = "w2", addr = "[2001:db8:1::11]:80" },
  { name = "w3", addr = "192.0.2.20:80" },
]
"#
    );
    assert_eq!(
        warnings,
        [
            "ipv6.cfg:12: `:::80` takes IPv4 clients too (HAProxy leaves the socket dual-stack \
             unless `v6only`, with Linux's default net.ipv6.bindv6only = 0): imported as \
             [::]:80 and 0.0.0.0:80, since rampart's IPv6 listeners are IPv6-only; add \
             `v6only` to the bind line if IPv4 was not served",
            "ipv6.cfg:19: bind option `name direct4` not imported: rampart has no counterpart",
            "ipv6.cfg:19: bind option `transparent` not needed: rampart binds with IP_FREEBIND",
        ]
    );
}

#[test]
fn an_http_site_is_left_out_by_name_and_the_rest_imported() {
    let got = import_haproxy(
        "h.cfg",
        "defaults\n mode http\nfrontend site\n bind :80\n default_backend web\n\
         backend web\n server w 10.0.0.1:80 check\n\
         frontend db\n mode tcp\n bind :5432\n default_backend pg\n\
         backend pg\n mode tcp\n server p 10.0.0.2:5432 check\n",
    )
    .unwrap();
    let cfg = parse("i.toml", &got.toml).unwrap();
    assert_eq!(cfg.frontends.len(), 1);
    assert_eq!(cfg.frontends[0].name, "db");
    assert_eq!(cfg.backends.len(), 1);
    assert_eq!(
        got.warnings,
        [
            "h.cfg:3: frontend `site` not imported: it is in `mode http` (rampart forwards TCP \
             only): what it serves is not served by the imported config",
            "h.cfg:6: backend `web` not imported: it is in `mode http` (rampart forwards TCP \
             only): what it serves is not served by the imported config",
        ]
    );
}

#[test]
fn checks_that_do_not_map_are_refused() {
    assert_eq!(
        refused("redis_master.cfg"),
        [
            "redis_master.cfg:14: a second exchange in `tcp-check` (lines 14-18): rampart's check \
          connects once, sends once and waits for one reply (keep the first exchange, or \
          convert the check by hand)"
        ]
    );
    assert_eq!(
        refused("http_forge.cfg"),
        [
            r"http_forge.cfg:14: `tcp-check expect rstring HTTP/1\.. (2..|3..)`: a regular expression; rampart's check looks for a fixed text (write the text the reply must contain)"
        ]
    );
    let backend =
        |lines: &str| format!("listen l\n mode tcp\n bind :1\n{lines} server s 10.0.0.1:1 check\n");
    for (lines, error) in [
        (
            " option tcp-check\n tcp-check expect ! string ERR\n",
            "h.cfg:5: `tcp-check expect !` (a reply that must not match) has no rampart counterpart",
        ),
        (
            " option tcp-check\n tcp-check connect port 1 ssl\n",
            "h.cfg:5: `tcp-check connect ... ssl`: rampart's checks connect in plain TCP to \
             the server or its check port only",
        ),
        (
            " option tcp-check\n tcp-check send-binary 50494e47ff\n tcp-check expect string x\n",
            "h.cfg:5: `50494e47ff`: the bytes are not text, which rampart's send/expect check \
             takes",
        ),
    ] {
        assert_eq!(refused_inline(&backend(lines)), [error], "{lines}");
    }
    assert_eq!(
        refused_inline(
            "listen l\n mode tcp\n bind :1\n option httpchk GET /\n server s 10.0.0.1:1 check check-ssl\n"
        ),
        [
            "h.cfg:5: server `s`: `check-ssl`: HAProxy checks over TLS; rampart's checks speak \
          plain text, which this server would not answer"
        ]
    );
}

#[test]
fn what_would_serve_other_clients_or_other_bytes_is_refused() {
    assert_eq!(
        refused("rate_limit.cfg"),
        [
            "rate_limit.cfg:14: acl `abuse` tests `sc0_conn_rate`, not only the client's address: \
          rampart's allow/deny lists cannot express the rule, and dropping it would serve \
          clients HAProxy rejects"
        ]
    );
    let front = |lines: &str| {
        format!(
            "frontend f\n mode tcp\n{lines} default_backend b\nbackend b\n mode tcp\n server s 10.0.0.1:1\n"
        )
    };
    for (lines, error) in [
        (
            " bind :443 ssl crt /etc/haproxy/site.pem\n",
            "h.cfg:3: `bind ... ssl`: HAProxy terminates TLS here; rampart forwards TCP as it \
             comes, so the servers would receive TLS they do not expect. Terminate TLS on the \
             servers first",
        ),
        (
            " bind :80 accept-proxy\n",
            "h.cfg:3: `bind ... accept-proxy`: clients send a PROXY protocol header, which \
             rampart's frontends do not read (the servers would receive it as data)",
        ),
        (
            " bind :10000-10100\n",
            "h.cfg:3: `:10000-10100`: a port range (10000-10100); rampart listens on single \
             ports: write the ports you need as separate addresses",
        ),
        (
            " bind :80\n acl office src -f /nonexistent/office.lst\n tcp-request connection reject if !office\n",
            "h.cfg:5: acl `office`: cannot read the pattern file /nonexistent/office.lst: No \
             such file or directory (os error 2)",
        ),
        (
            " bind :80\n acl office src office.example.org\n tcp-request connection reject if !office\n",
            "h.cfg:5: acl `office`: `office.example.org` is not an address or network (host \
             names, which HAProxy resolves at start, are not imported: write the addresses)",
        ),
        (
            " bind :80\n tcp-request connection reject if { dst_port 25 }\n",
            "h.cfg:4: an anonymous ACL tests `dst_port`, not only the client's address: \
             rampart's allow/deny lists cannot express the rule, and dropping it would serve \
             clients HAProxy rejects",
        ),
        (
            " bind :80\n tcp-request connection reject if !office\n",
            "h.cfg:4: acl `office` is not defined",
        ),
        (
            " bind :80\n tcp-request connection expect-proxy layer4 if TRUE\n",
            "h.cfg:4: `tcp-request connection expect-proxy` has no rampart counterpart, and it \
             may change who is served or how: remove it or convert the frontend by hand",
        ),
    ] {
        assert_eq!(refused_inline(&front(lines)), [error], "{lines}");
    }
    assert_eq!(
        refused_inline("listen l\n mode tcp\n bind :1\n server s 10.0.0.1:443 ssl verify none\n"),
        [
            "h.cfg:4: server `s`: `ssl`: HAProxy speaks TLS to this server; rampart forwards the \
          client's bytes as they come, so the server would receive plain text"
        ]
    );
    assert_eq!(
        refused_inline("listen l\n mode tcp\n bind :1\n server s db.example.org:5432\n"),
        [
            "h.cfg:4: `db.example.org:5432`: `db.example.org` is not an IP address (host names, \
          which HAProxy resolves at start, are not imported: write the address)"
        ]
    );
}

/// A backend's own `tcp-request content` rules apply to the frontends
/// that use it, after theirs; a `defaults` section's come first, and its
/// ACLs are there for every proxy (an unused one named once).
#[test]
fn backend_and_defaults_rules_join_the_frontends() {
    let got = import_haproxy(
        "h.cfg",
        "defaults office\n mode tcp\n tcp-request connection reject if { src 192.0.2.0/24 }\n\
         \x20acl spare src 10.0.0.0/8\n\
         frontend f from office\n bind :80\n default_backend b\n\
         backend b from office\n acl lab src 10.9.0.0/16\n tcp-request content reject if lab\n\
         \x20server s 10.0.0.1:80\n",
    )
    .unwrap();
    let cfg = parse("i.toml", &got.toml).unwrap();
    assert_eq!(
        cfg.frontends[0]
            .deny
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["10.9.0.0/16", "192.0.2.0/24"]
    );
    assert!(cfg.frontends[0].allow.is_empty());
    assert_eq!(
        got.warnings,
        ["h.cfg:4: acl `spare` not imported: no carried rule uses it"]
    );
}

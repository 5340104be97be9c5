//! The importer on whole files: the seed guide's, and small ones for
//! each rule.

use super::*;
use crate::import::q;
use crate::{Balance, Check, ProxyVersion};

const SEED: &str = include_str!("../../../../../examples/seed-haproxy.cfg");

#[test]
fn the_seed_guides_haproxy_cfg() {
    let got = import_haproxy("haproxy.cfg", SEED).unwrap();
    let cfg = crate::parse("imported.toml", &got.toml).unwrap();
    assert_eq!(cfg.frontends.len(), 1);
    let f = &cfg.frontends[0];
    assert_eq!(f.name, "www");
    assert_eq!(f.bind, ["147.75.78.116:80".parse().unwrap()]);
    assert_eq!(f.backend, "nginx_pool");
    let b = &cfg.backends[0];
    assert_eq!(b.balance, Balance::RoundRobin);
    assert_eq!(b.timeout.connect.as_millis(), 5000);
    assert_eq!(b.timeout.client.as_secs(), 50);
    assert_eq!(b.timeout.server.as_secs(), 50);
    assert_eq!(b.health.check, Check::Tcp);
    assert_eq!(b.servers.len(), 2);
    assert_eq!(b.servers[1].addr, "192.168.1.11:80".parse().unwrap());
    // The same proxy as the hand-written example.
    let example = crate::parse(
        "seed-lb.toml",
        include_str!("../../../../../examples/seed-lb.toml"),
    )
    .unwrap();
    assert_eq!(cfg.frontends, example.frontends);
    assert_eq!(cfg.backends[0].servers, example.backends[0].servers);
    assert_eq!(cfg.backends[0].health, example.backends[0].health);
    // Nothing dropped without a word: the process, log, stats, TLS and
    // HTTP-only lines are each named with their line number.
    // Every other line of the file was imported.
    let w = got.warnings.join("\n");
    let lines: Vec<usize> = got
        .warnings
        .iter()
        .filter_map(|w| w.split(':').nth(1)?.parse().ok())
        .collect();
    assert_eq!(
        lines,
        [
            6, 7, 8, 9, 10, 11, 12, 13, 16, 17, 19, 20, 21, 24, 26, 27, 31, 32
        ],
        "{w}"
    );
    assert!(
        w.contains("`log global` not imported: rampart logs one line"),
        "{w}"
    );
    assert!(
        w.contains("`errorfile 400 /etc/haproxy/errors/400.http` not imported: HTTP mode only"),
        "{w}"
    );
}

#[test]
fn listen_sections_and_server_options() {
    let text = "defaults\n  mode tcp\n  timeout connect 2s\n  default-server inter 500 fall 2\n\
                listen db\n  bind :5432,127.0.0.1:6432\n  balance leastconn\n  retries 1\n  maxconn 300\n\
                \x20 option httpchk GET /health\n  http-check expect status 204\n\
                \x20 server a 10.0.0.1:5432 check weight 10 maxconn 50 send-proxy-v2\n\
                \x20 server b 10.0.0.2:5432 check backup rise 5\n\
                \x20 server c 10.0.0.3:5432 disabled\n";
    let got = import_haproxy("h.cfg", text).unwrap();
    let cfg = crate::parse("i.toml", &got.toml).unwrap();
    let f = &cfg.frontends[0];
    assert_eq!(
        f.bind,
        [
            "0.0.0.0:5432".parse().unwrap(),
            "127.0.0.1:6432".parse().unwrap()
        ]
    );
    assert_eq!(f.maxconn, 300);
    let b = &cfg.backends[0];
    assert_eq!(b.balance, Balance::LeastConn);
    assert_eq!(b.retries, 1);
    assert_eq!(b.timeout.connect.as_secs(), 2);
    assert_eq!(b.health.interval.as_millis(), 500);
    assert_eq!(b.health.fall, 2);
    assert!(
        matches!(&b.health.check, Check::Http { status: 204, .. }),
        "{:?}",
        b.health.check
    );
    let (a, bb, c) = (&b.servers[0], &b.servers[1], &b.servers[2]);
    assert_eq!(
        (a.weight, a.maxconn, a.send_proxy),
        (10, 50, Some(ProxyVersion::V2))
    );
    assert!(bb.backup);
    assert_eq!(c.weight, 0);
    assert!(!c.check);
    // b rises at 5, a at the default: each is checked as before.
    assert_eq!(a.health, crate::ServerHealth::default());
    assert_eq!(bb.health.rise, Some(5));
    assert_eq!(
        got.warnings,
        [
            "h.cfg:12: server `a`: HAProxy sends its checks with the PROXY header this server \
          expects (`send-proxy`); rampart's checks do not, so a server that requires it fails \
          them"
        ]
    );
}

#[test]
fn what_cannot_be_converted_is_an_error_with_its_line() {
    // Left out with a warning each, nothing is left to import.
    let e = import_haproxy("h.cfg", "defaults\n mode http\nfrontend f\n bind :80\n default_backend b\nbackend b\n server s 10.0.0.1:80\n").unwrap_err();
    assert_eq!(
        e,
        [
            "h.cfg: nothing to import: every proxy is left out: frontend `f` (line 3: it is in \
          `mode http`), backend `b` (line 6: it is in `mode http`)"
        ]
    );
    // A TCP frontend cannot forward to a backend left out.
    let e = import_haproxy("h.cfg", "frontend f\n mode tcp\n bind :80\n default_backend b\nbackend b\n mode http\n server s 10.0.0.1:80\n").unwrap_err();
    assert_eq!(
        e,
        [
            "h.cfg:1: frontend `f` forwards to backend `b`, which is not imported: it is in \
          `mode http`"
        ]
    );
    let e = import_haproxy(
        "h.cfg",
        "frontend f\n mode tcp\n bind :80\n use_backend b if x\n",
    )
    .unwrap_err();
    assert!(
        e.iter().any(|e| e.starts_with("h.cfg:4: `use_backend`")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|e| e.contains("frontend `f` has no `default_backend`")),
        "{e:?}"
    );
    let e = import_haproxy("h.cfg", "defaults\n mode tcp\n timeout client 5x\n").unwrap_err();
    assert!(
        e.iter()
            .any(|e| e.starts_with("h.cfg:3: `5x`: unknown time unit")),
        "{e:?}"
    );
    let e = import_haproxy(
        "h.cfg",
        "frontend f\n mode tcp\n bind :80\n default_backend nope\n",
    )
    .unwrap_err();
    assert!(e.iter().any(|e| e.contains("no backend `nope`")), "{e:?}");
}

/// Bad input is an error or a warning, never a panic: every prefix of
/// the seed file, and every line of it with each word cut short.
#[test]
fn no_input_panics() {
    for (i, _) in SEED.char_indices() {
        let _ = import_haproxy("h.cfg", &SEED[..i]);
    }
    let lines: Vec<&str> = SEED.lines().collect();
    for (n, line) in lines.iter().enumerate() {
        for cut in 0..line.len() {
            if !line.is_char_boundary(cut) {
                continue;
            }
            let mut copy = lines.clone();
            copy[n] = &line[..cut];
            let _ = import_haproxy("h.cfg", &copy.join("\n"));
            copy[n] = "server";
            let _ = import_haproxy("h.cfg", &copy.join("\n"));
        }
    }
}

#[test]
fn haproxy_times() {
    assert_eq!(duration("5000").unwrap(), "5s");
    assert_eq!(duration("250ms").unwrap(), "250ms");
    assert_eq!(duration("2m").unwrap(), "120s");
    assert_eq!(duration("1500").unwrap(), "1500ms");
    assert!(duration("s").is_err());
    assert!(duration("99999999999999999d").is_err());
}

#[test]
fn toml_strings_read_back_as_written() {
    for s in [
        "plain",
        "PING\r\n",
        "a \"quoted\" \\ path",
        "\u{0}\u{7f}\t",
        "é ü",
    ] {
        let doc = format!("k = {}", q(s));
        let v: toml::Table = doc.parse().unwrap_or_else(|e| panic!("{doc}: {e}"));
        assert_eq!(v["k"].as_str(), Some(s), "{doc}");
    }
    assert_eq!(q("PING\r\n"), r#""PING\r\nxx""#.replace("xx", ""));
}

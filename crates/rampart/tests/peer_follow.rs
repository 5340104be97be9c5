//! `[admin] peer` (issue 10): an operator's server and frontend commands
//! follow to the other LB node, as Seesaw syncs operator overrides. Two
//! rampart nodes in the seed lab (lb1, lb2), each with its `[admin]`
//! listener on its private address, the same token, the other as `peer`;
//! each proxies its own public address to web1 and web2. The commands go
//! to lb1's control socket as an operator types them; what each node does
//! is read from its `status --json` and from traffic through it. Needs
//! root; fails loudly without it.
#![allow(clippy::unwrap_used)]

mod lab;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use lab::{Web, log, start_rampart, wait_for};
use rampart_lab::{Ns, Signal, seed_lab};

const TOKEN: &str = "5f0c2b9e7d1a4c3b8e6f0a2d4c6b8e1f";

/// Node `n`'s config: `www` on its public address, `[admin]` on its
/// private one, the other node as peer (`extra` is added to `[admin]`).
fn config(n: u8, extra: &str) -> String {
    config_with(n, TOKEN, extra)
}

fn config_with(n: u8, token: &str, extra: &str) -> String {
    let (me, other) = if n == 1 { (11, 12) } else { (12, 11) };
    format!(
        r#"
[global]
threads = 1
grace = "2s"

[[frontend]]
name = "www"
bind = ["10.10.0.{me}:80"]
backend = "nginx_pool"

[[backend]]
name = "nginx_pool"
health = {{ check = "tcp", interval = "200ms", timeout = "200ms", fall = 2, rise = 1 }}
servers = [
  {{ name = "web1", addr = "192.168.1.21:8080" }},
  {{ name = "web2", addr = "192.168.1.22:8080" }},
]

[admin]
listen = "192.168.1.{me}:9180"
token = "{token}"
peer = "192.168.1.{other}:9180"
{extra}
"#
    )
}

/// `rampart ARGS... --control lbN.sock`: (success, what it printed).
fn ctl(dir: &Path, n: u8, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(args)
        .arg("--control")
        .arg(dir.join(format!("lb{n}.sock")))
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), said)
}

/// Node `n`'s status of `server`.
fn server_of(dir: &Path, n: u8, server: &str) -> serde_json::Value {
    let st = lab::bgp::status(dir, n);
    st["servers"]
        .as_array()
        .and_then(|v| v.iter().find(|s| s["server"] == server))
        .cloned()
        .unwrap_or_default()
}

/// Node `n`'s admin state of `server` ("ready", "drain", "maint").
fn admin_of(dir: &Path, n: u8, server: &str) -> String {
    server_of(dir, n, server)["admin"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

fn disabled_frontends(dir: &Path, n: u8) -> serde_json::Value {
    lab::bgp::status(dir, n)["disabled_frontends"].clone()
}

/// The backends that answered `count` requests from the client through
/// node `n` (errors as "error: ...").
fn served_by(client: &Ns, n: u8, count: usize) -> HashSet<String> {
    let addr: SocketAddr = format!("10.10.0.1{n}:80").parse().unwrap();
    client
        .run_in(move || {
            (0..count)
                .map(|_| lab::get(addr).unwrap_or_else(|e| format!("error: {e}")))
                .collect()
        })
        .unwrap()
}

fn set(names: &[&str]) -> HashSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn commands_follow_to_the_peer_node() {
    if !rampart_lab::require_root() {
        return;
    }
    let s = seed_lab().unwrap();
    let _webs = [
        Web::start(&s.web1, "192.168.1.21:8080", "web1"),
        Web::start(&s.web2, "192.168.1.22:8080", "web2"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let _lb1 = start_rampart(&s.lb1, d, "lb1", &config(1, ""));
    let mut lb2 = start_rampart(&s.lb2, d, "lb2", &config(2, ""));
    let logs = || {
        format!(
            "--- lb1 ---\n{}\n--- lb2 ---\n{}",
            log(d, "lb1"),
            log(d, "lb2")
        )
    };
    for n in [1, 2] {
        assert!(
            wait_for(Duration::from_secs(10), || served_by(&s.client, n, 10)
                == set(&["web1", "web2"])),
            "lb{n} never served both webs\n{}",
            logs()
        );
    }

    // drain on lb1 follows to lb2 by default; the answer says both.
    let (ok, said) = ctl(d, 1, &["server", "drain", "nginx_pool/web1"]);
    assert!(ok, "{said}\n{}", logs());
    assert!(
        said.contains("server nginx_pool/web1: ready -> drain (asked by uid")
            && said.contains("; peer 192.168.1.12:9180: server nginx_pool/web1: ready -> drain"),
        "{said}"
    );
    for n in [1, 2] {
        assert_eq!(admin_of(d, n, "web1"), "drain", "lb{n}\n{}", logs());
        assert_eq!(served_by(&s.client, n, 20), set(&["web2"]), "lb{n}");
    }
    // lb2 logged it as followed, at warn, with lb1 as the asker; lb1 got
    // nothing back (no loop).
    let followed = || {
        log(d, "lb2").lines().any(|l| {
            l.contains("WARN")
                && l.contains(
                    "server nginx_pool/web1: ready -> drain (asked by HTTP client 192.168.1.11:",
                )
                && l.ends_with(", followed from peer)")
        })
    };
    assert!(wait_for(Duration::from_secs(2), followed), "{}", logs());
    assert!(!log(d, "lb1").contains("followed from peer"), "{}", logs());

    // --local: lb1 only.
    let (ok, said) = ctl(d, 1, &["server", "ready", "nginx_pool/web1", "--local"]);
    assert!(ok, "{said}");
    assert!(!said.contains("peer"), "{said}");
    assert_eq!(admin_of(d, 1, "web1"), "ready");
    assert_eq!(admin_of(d, 2, "web1"), "drain");
    assert!(wait_for(Duration::from_secs(2), || served_by(
        &s.client, 1, 10
    ) == set(&[
        "web1", "web2"
    ])));
    assert_eq!(served_by(&s.client, 2, 20), set(&["web2"]));

    // From lb2 the other way: both ready again.
    let (ok, said) = ctl(d, 2, &["server", "ready", "nginx_pool/web1"]);
    assert!(ok && said.contains("peer 192.168.1.11:9180:"), "{said}");
    assert_eq!(admin_of(d, 1, "web1"), "ready");
    assert_eq!(admin_of(d, 2, "web1"), "ready");

    // frontend disable --both, enable (follows by default).
    let (ok, said) = ctl(d, 1, &["frontend", "disable", "www", "--both"]);
    assert!(
        ok && said.contains("peer 192.168.1.12:9180: frontend www disabled"),
        "{said}"
    );
    for n in [1, 2] {
        assert_eq!(
            disabled_frontends(d, n),
            serde_json::json!(["www"]),
            "lb{n}"
        );
    }
    let (ok, said) = ctl(d, 1, &["frontend", "enable", "www"]);
    assert!(
        ok && said.contains("peer 192.168.1.12:9180: frontend www enabled"),
        "{said}"
    );
    for n in [1, 2] {
        assert_eq!(disabled_frontends(d, n), serde_json::json!([]), "lb{n}");
    }

    // --both and --local together: refused before anything is sent.
    let (ok, said) = ctl(
        d,
        1,
        &[
            "server",
            "weight",
            "nginx_pool/web2",
            "3",
            "--both",
            "--local",
        ],
    );
    assert!(!ok && said.contains("cannot be used with"), "{said}");

    // follow = false (a reload): commands stay here unless --both.
    let reload_text = |text: &str| {
        std::fs::write(d.join("lb1.toml"), text).unwrap();
        let (ok, said) = ctl(d, 1, &["reload"]);
        assert!(ok, "{said}\n{}", logs());
    };
    let reload = |token: &str, extra: &str| reload_text(&config_with(1, token, extra));
    reload(TOKEN, "follow = false");
    let (ok, said) = ctl(d, 1, &["server", "maint", "nginx_pool/web1"]);
    assert!(ok && !said.contains("peer"), "{said}");
    assert_eq!(admin_of(d, 2, "web1"), "ready");
    let (ok, said) = ctl(d, 1, &["server", "ready", "nginx_pool/web1", "--both"]);
    assert!(
        ok && said.contains("peer 192.168.1.12:9180: server nginx_pool/web1"),
        "{said}"
    );
    assert_eq!(admin_of(d, 1, "web1"), "ready");

    // A peer that refuses (lb1 now sends another token): said, and the
    // change stands here.
    reload(&"0".repeat(32), "");
    let (ok, said) = ctl(d, 1, &["server", "weight", "nginx_pool/web1", "3"]);
    assert!(ok, "{said}");
    assert!(
        said.contains(
            "peer 192.168.1.12:9180 did not apply it: this needs the [admin] token (Authorization: Bearer TOKEN) (the change stands on this node)"
        ),
        "{said}"
    );
    assert_eq!(server_of(d, 1, "web1")["weight"], 3);

    // No peer: --both is refused, and nothing changes.
    reload_text(&config(1, "").replace("peer = \"192.168.1.12:9180\"\n", ""));
    let (ok, said) = ctl(d, 1, &["server", "drain", "nginx_pool/web2", "--both"]);
    assert!(
        !ok && said.contains("--both: this node has no [admin] peer")
            && said.contains("nothing was changed"),
        "{said}"
    );
    assert_eq!(admin_of(d, 1, "web2"), "ready");
    reload(TOKEN, "");
    assert!(ctl(d, 1, &["server", "weight", "nginx_pool/web1", "1"]).0);

    // lb2 stopped: lb1 applies it, and says that lb2 did not.
    lb2.signal(Signal::SIGTERM).unwrap();
    assert!(lb2.wait_timeout(Duration::from_secs(10)).unwrap().is_some());
    let (ok, said) = ctl(d, 1, &["server", "drain", "nginx_pool/web2"]);
    assert!(ok, "{said}");
    assert!(
        said.contains("ready -> drain")
            && said.contains("peer 192.168.1.12:9180 did not apply it: cannot connect")
            && said.contains("the change stands on this node"),
        "{said}"
    );
    assert_eq!(admin_of(d, 1, "web2"), "drain");

    // lb2's link down: the peer never answers. The command waits at most
    // the peer timeout (2 s), and lb1 answers others meanwhile.
    s.lb2.set_link("eth1", false).unwrap();
    let dd = d.to_path_buf();
    let t0 = Instant::now();
    let slow = std::thread::spawn(move || ctl(&dd, 1, &["server", "ready", "nginx_pool/web2"]));
    std::thread::sleep(Duration::from_millis(300));
    let t1 = Instant::now();
    assert_eq!(admin_of(d, 1, "web2"), "ready");
    assert!(
        t1.elapsed() < Duration::from_millis(500),
        "{:?}",
        t1.elapsed()
    );
    let (ok, said) = slow.join().unwrap();
    let took = t0.elapsed();
    assert!(ok, "{said}");
    assert!(
        said.contains("peer 192.168.1.12:9180 did not answer within 2s: it may not have applied it (the change stands on this node)"),
        "{said}"
    );
    assert!(took < Duration::from_secs(4), "{took:?}");
}

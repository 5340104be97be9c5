//! `[admin]` on a real node with traffic on loopback: `/metrics` parsed
//! and compared with what the test sent, `rampart show servers --json`
//! agreeing with it, and the rules for `POST /action` (same origin,
//! loopback, no change on GET).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod node;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use node::*;

/// One HTTP/1.0 exchange: (status, headers, body).
fn http(addr: SocketAddr, request: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut all = String::new();
    s.read_to_string(&mut all).unwrap();
    let (head, body) = all.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_string(), body.to_string())
}

fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    http(
        addr,
        &format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n"),
    )
}

fn post(addr: SocketAddr, form: &str, extra: &str) -> (u16, String) {
    let (status, _, body) = http(
        addr,
        &format!(
            "POST /action HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n{extra}\r\n{form}",
            form.len()
        ),
    );
    (status, body)
}

/// Samples by `name{labels}`, as the exposition writes them.
fn scrape(addr: SocketAddr) -> HashMap<String, f64> {
    let (status, head, body) = get(addr, "/metrics");
    assert_eq!(status, 200, "{head}\n{body}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/openmetrics-text; version=1.0.0"),
        "{head}"
    );
    assert!(body.ends_with("# EOF\n"));
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect()
}

fn value(m: &HashMap<String, f64>, key: &str) -> f64 {
    *m.get(key)
        .unwrap_or_else(|| panic!("no {key} in {:#?}", m.keys().collect::<Vec<_>>()))
}

/// What a sample grew by since `base` (a counter absent then counts from 0).
fn delta(m: &HashMap<String, f64>, base: &HashMap<String, f64>, key: &str) -> f64 {
    value(m, key) - base.get(key).copied().unwrap_or(0.0)
}

/// One client: connects, reads the backend's name, sends `len` bytes and
/// reads them back, closes. The backend's name.
fn exchange(addr: SocketAddr, len: usize) -> String {
    let s = TcpStream::connect(addr).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut name = String::new();
    r.read_line(&mut name).unwrap();
    let payload = vec![b'x'; len];
    (&s).write_all(&payload).unwrap();
    let mut back = vec![0u8; len];
    r.read_exact(&mut back).unwrap();
    assert_eq!(back, payload);
    name.trim().to_string()
}

#[test]
fn metrics_count_what_the_clients_sent() {
    let (a, _) = named_backend("a");
    let (b, _) = named_backend("b");
    let port = free_port();
    let closed = free_port();
    let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let text = config(port, &[("a", a), ("b", b)], "5s")
        + &format!(
            r#"
[[frontend]]
name = "closed"
bind = ["127.0.0.1:{closed}"]
backend = "pool"
deny = ["127.0.0.0/8"]

[admin]
listen = "{admin}"
"#
        );
    let node = Node::start(&text, port);
    assert!(wait(Duration::from_secs(5), || {
        let m = scrape(admin);
        m.get("rampart_server_up{backend=\"pool\",server=\"a\"}") == Some(&1.0)
            && m.get("rampart_server_up{backend=\"pool\",server=\"b\"}") == Some(&1.0)
    }));

    // The node's start-up probe went through already, but its bytes are
    // counted when its connection ends: wait for that, then count from
    // here (a base taken before it made the totals 5 + 7 bytes off).
    assert!(wait(Duration::from_secs(5), || {
        scrape(admin).get("rampart_frontend_current_connections{frontend=\"www\"}") == Some(&0.0)
    }));
    std::thread::sleep(Duration::from_millis(300));
    let base = scrape(admin);
    let out_before = value(&base, "rampart_frontend_bytes_out_total{frontend=\"www\"}");
    // 40 clients of 1000 bytes each; 3 refused by `deny`.
    let mut per_server: HashMap<String, u64> = HashMap::new();
    for _ in 0..40 {
        *per_server.entry(exchange(node.addr, 1000)).or_default() += 1;
    }
    for _ in 0..3 {
        let mut s = TcpStream::connect(("127.0.0.1", closed)).unwrap();
        let mut buf = [0u8; 1];
        assert_eq!(s.read(&mut buf).unwrap_or(0), 0);
    }
    // Bytes are counted when a connection ends: wait for the last ones.
    let want_in = 40.0 * 1000.0;
    // The echo, plus each backend's name line ("a\n").
    let want_out = 40.0 * 1002.0;
    assert!(
        wait(Duration::from_secs(5), || {
            let m = scrape(admin);
            m.get("rampart_frontend_bytes_out_total{frontend=\"www\"}")
                == Some(&(out_before + want_out))
                && m.get("rampart_frontend_current_connections{frontend=\"www\"}") == Some(&0.0)
        }),
        "{:#?}",
        scrape(admin)
    );
    let m = scrape(admin);
    let www = "{frontend=\"www\"}";
    assert_eq!(
        delta(
            &m,
            &base,
            &format!("rampart_frontend_connections_total{www}")
        ),
        40.0
    );
    assert_eq!(
        delta(&m, &base, &format!("rampart_frontend_bytes_in_total{www}")),
        want_in
    );
    assert_eq!(
        delta(
            &m,
            &base,
            &format!("rampart_frontend_denied_connections_total{www}")
        ),
        0.0
    );
    assert_eq!(
        delta(
            &m,
            &base,
            "rampart_frontend_denied_connections_total{frontend=\"closed\"}"
        ),
        3.0
    );
    assert_eq!(
        delta(
            &m,
            &base,
            "rampart_frontend_connections_total{frontend=\"closed\"}"
        ),
        3.0
    );
    assert_eq!(
        delta(
            &m,
            &base,
            "rampart_backend_connections_total{backend=\"pool\"}"
        ),
        40.0
    );
    assert_eq!(
        delta(
            &m,
            &base,
            "rampart_backend_bytes_out_total{backend=\"pool\"}"
        ),
        want_out
    );
    assert_eq!(
        delta(
            &m,
            &base,
            "rampart_backend_connection_errors_total{backend=\"pool\"}"
        ),
        0.0
    );
    for (name, n) in &per_server {
        let s = format!("{{backend=\"pool\",server=\"{name}\"}}");
        assert_eq!(
            delta(&m, &base, &format!("rampart_server_connections_total{s}")),
            *n as f64
        );
        assert_eq!(
            delta(&m, &base, &format!("rampart_server_bytes_in_total{s}")),
            *n as f64 * 1000.0
        );
        // One client at a time; the proxy may see a close just after the
        // next client's connect.
        let max = value(&m, &format!("rampart_server_max_connections{s}"));
        assert!((1.0..=2.0).contains(&max), "{max}");
        assert_eq!(value(&m, &format!("rampart_server_weight{s}")), 1.0);
        assert_eq!(
            value(
                &m,
                &format!(
                    "rampart_server_admin_state{{backend=\"pool\",server=\"{name}\",state=\"ready\"}}"
                )
            ),
            1.0
        );
        assert!(value(&m, &format!("rampart_server_checks_total{s}")) >= 1.0);
        assert_eq!(value(&m, &format!("rampart_server_check_last_ok{s}")), 1.0);
    }
    // Round robin over two servers.
    assert_eq!(
        per_server.values().copied().collect::<Vec<_>>(),
        vec![20, 20]
    );
    assert_eq!(value(&m, "rampart_worker_up"), 1.0);

    // `show servers --json` says the same.
    let out = node.ctl(&["show", "servers", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let fe = &st["proxy"]["frontends"][0];
    assert_eq!(fe["name"], "www");
    let total = value(&m, &format!("rampart_frontend_connections_total{www}"));
    let bytes_in = value(&m, &format!("rampart_frontend_bytes_in_total{www}"));
    assert_eq!(fe["traffic"]["total"].as_f64(), Some(total));
    assert_eq!(fe["traffic"]["bytes_in"].as_f64(), Some(bytes_in));
    let table = node.ctl(&["show", "servers"]);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains(&format!("backend pool: 2 up of 2, 0 now, {total} total")),
        "{table}"
    );
}

#[test]
fn actions_are_posts_from_the_same_origin_on_loopback() {
    let (a, _) = named_backend("a");
    let (b, _) = named_backend("b");
    let port = free_port();
    let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let text =
        config(port, &[("a", a), ("b", b)], "5s") + &format!("[admin]\nlisten = \"{admin}\"\n");
    let node = Node::start(&text, port);
    assert!(wait(Duration::from_secs(5), || {
        let mut seen: Vec<String> = (0..6).map(|_| who(node.addr).unwrap()).collect();
        seen.sort();
        seen.dedup();
        seen.len() == 2
    }));

    // A GET changes nothing.
    let (status, _, _) = get(admin, "/action?kind=server&target=pool/a&action=drain");
    assert_eq!(status, 405);
    // Another site's page may not drive it.
    let (status, body) = post(
        admin,
        "kind=server&target=pool/a&action=drain",
        "Origin: http://evil.example\r\n",
    );
    assert_eq!(status, 403, "{body}");
    let (status, _) = post(
        admin,
        "kind=server&target=pool/a&action=drain",
        "Sec-Fetch-Site: cross-site\r\n",
    );
    assert_eq!(status, 403);
    let m = scrape(admin);
    assert_eq!(
        value(
            &m,
            "rampart_server_admin_state{backend=\"pool\",server=\"a\",state=\"ready\"}"
        ),
        1.0
    );

    // The same origin may, and the worker follows at once.
    let (status, body) = post(
        admin,
        "kind=server&target=pool/a&action=drain",
        &format!("Origin: http://{admin}\r\n"),
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("server pool/a: ready -> drain (asked by HTTP client 127.0.0.1:"),
        "{body}"
    );
    for _ in 0..10 {
        assert_eq!(who(node.addr).unwrap(), "b");
    }
    let (status, body) = post(
        admin,
        "kind=server&target=pool/a&action=weight&weight=300",
        "",
    );
    assert_eq!(status, 400, "{body}");
    let (status, body) = post(admin, "kind=server&target=pool/zz&action=drain", "");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("zz"), "{body}");
    let (status, body) = post(admin, "kind=server&target=pool/a&action=ready", "");
    assert_eq!(status, 200, "{body}");
    assert!(node.log().contains("(asked by HTTP client 127.0.0.1:"));
    // The dashboard itself.
    let (status, head, page) = get(admin, "/");
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/html")
    );
    assert!(page.contains("id=\"server-pool-a\""), "{page}");
}

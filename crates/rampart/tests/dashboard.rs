//! The dashboard in a real browser (Debian's chromium, headless, driven
//! over the DevTools protocol) on the seed lab's two nodes: the page shows
//! lb1's VRRP state, VIPs, frontend and servers; clicking "drain" on web1
//! makes the page show it draining and the proxy stop sending it clients;
//! clicking "resign" hands VI_1 (and its sync group) to lb2, and the page
//! then shows lb2 as master. Needs root; fails loudly without it.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod lab;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use headless_chrome::{Browser, LaunchOptions, Tab};
use lab::{Timing, holds_both, log, rampart_config, start_rampart, wait_for};
use rampart_lab::Ns;

/// Where each node's `[admin]` listens, inside its own namespace.
const ADMIN: &str = "127.0.0.1:9180";

/// Forwards connections to `127.0.0.1:PORT` of the test's namespace to
/// `target` inside `ns` (each outgoing socket is made by a thread that
/// entered `ns`), so that the browser, which runs here, reaches the node's
/// loopback-only listener. Returns the local address.
fn forward_into(ns: &Ns, target: SocketAddr) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let local = l.local_addr().unwrap();
    let ns = ns.clone();
    std::thread::spawn(move || {
        for client in l.incoming() {
            let Ok(client) = client else { continue };
            let Ok(Ok(Ok(server))) = ns
                .spawn_thread(move || TcpStream::connect(target))
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(std::io::Error::other("panic")))
                })
            else {
                continue;
            };
            pump(client, server);
        }
    });
    local
}

/// Copies both ways until either side closes.
fn pump(a: TcpStream, b: TcpStream) {
    for (mut from, mut to) in [(a.try_clone().unwrap(), b.try_clone().unwrap()), (b, a)] {
        std::thread::spawn(move || {
            let mut buf = [0u8; 16384];
            while let Ok(n) = from.read(&mut buf) {
                if n == 0 || to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            let _ = to.shutdown(std::net::Shutdown::Write);
        });
    }
}

/// Evaluates `js` in the page: its value as a string ("" for none).
fn eval(tab: &Tab, js: &str) -> String {
    match tab.evaluate(js, false).unwrap().value {
        Some(serde_json::Value::String(s)) => s,
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// Waits until `js` evaluates to `want` in the page (it refreshes itself
/// once a second).
fn page_shows(tab: &Tab, js: &str, want: &str, limit: Duration) {
    let ok = wait_for(limit, || eval(tab, js) == want);
    assert!(
        ok,
        "the page never showed {js} == {want:?} (now {:?}); page:\n{}",
        eval(tab, js),
        eval(tab, "document.body.innerText")
    );
}

/// Clicks the element `selector` with the mouse. The page replaces its
/// live part every second, so an element found may be gone by the click:
/// then it is found again (the actions are idempotent).
fn click(tab: &Tab, selector: &str) {
    let mut errors = Vec::new();
    for _ in 0..10 {
        match tab
            .wait_for_element(selector)
            .and_then(|e| e.click().map(|_| ()))
        {
            Ok(()) => return,
            // "Node is detached from document", or a wait for its box
            // that never ends: it was replaced meanwhile.
            Err(e) => errors.push(e.to_string()),
        }
    }
    panic!("cannot click {selector}: {errors:?}");
}

/// Clients from the lab's client namespace to the VIP: who served them.
fn served(s: &rampart_lab::SeedLab, n: usize) -> Vec<String> {
    let vip = SocketAddr::new(lab::vip(), 80);
    s.client
        .run_in(move || (0..n).map(|_| lab::get(vip).unwrap()).collect())
        .unwrap()
}

#[test]
fn the_dashboard_shows_the_lab_and_its_buttons_act() {
    let Some((s, _webs)) = lab::seed_with_webs() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let admin = format!("\n[admin]\nlisten = \"{ADMIN}\"\n");
    let _lb1 = start_rampart(
        &s.lb1,
        dir.path(),
        "lb1",
        &(rampart_config(1, Timing::V3Fast, "") + &admin),
    );
    let _lb2 = start_rampart(
        &s.lb2,
        dir.path(),
        "lb2",
        &(rampart_config(2, Timing::V3Fast, "") + &admin),
    );
    assert!(
        wait_for(Duration::from_secs(10), || holds_both(&s, "lb1")),
        "lb1 never became master:\n{}",
        log(dir.path(), "lb1")
    );
    let url = format!("http://{}/", forward_into(&s.lb1, ADMIN.parse().unwrap()));

    let browser = Browser::new(
        LaunchOptions::default_builder()
            .path(Some("/usr/bin/chromium".into()))
            // Root cannot use chromium's sandbox.
            .sandbox(false)
            .headless(true)
            .idle_browser_timeout(Duration::from_secs(120))
            .build()
            .unwrap(),
    )
    .expect("chromium (Debian package `chromium`) must be installed: scripts/test installs it");
    let tab = browser.new_tab().unwrap();
    tab.navigate_to(&url)
        .unwrap()
        .wait_until_navigated()
        .unwrap();

    // lb1's state, as the lab has it.
    let limit = Duration::from_secs(10);
    page_shows(
        &tab,
        "document.querySelector('#vrrp-VI_1').dataset.state",
        "master",
        limit,
    );
    page_shows(
        &tab,
        "document.querySelector('#vrrp-VI_2').dataset.state",
        "master",
        limit,
    );
    let text = eval(&tab, "document.body.innerText");
    assert!(text.contains("10.10.0.10/24 dev eth0"), "{text}");
    assert!(text.contains("192.168.1.1/24 dev eth1"), "{text}");
    page_shows(
        &tab,
        "document.querySelector('#frontend-www').dataset.state",
        "open",
        limit,
    );
    for web in ["web1", "web2"] {
        page_shows(
            &tab,
            &format!("document.querySelector('#server-nginx_pool-{web}').dataset.health"),
            "up",
            limit,
        );
    }
    let mut both = served(&s, 10);
    both.sort();
    both.dedup();
    assert_eq!(both, ["web1", "web2"]);

    // Drain web1 with its button: the page shows it, the proxy follows.
    click(&tab, "#server-nginx_pool-web1 button[data-action=drain]");
    page_shows(
        &tab,
        "document.querySelector('#server-nginx_pool-web1').dataset.admin",
        "drain",
        limit,
    );
    page_shows(
        &tab,
        "document.getElementById('message').textContent.includes('ready -> drain')",
        "true",
        limit,
    );
    assert!(
        served(&s, 20).iter().all(|w| w == "web2"),
        "a drained server got new clients"
    );
    assert!(
        log(dir.path(), "lb1")
            .contains("server nginx_pool/web1: ready -> drain (asked by HTTP client 127.0.0.1:")
    );

    // Resign VI_1 with its button: lb2 takes both (one sync group), and
    // the page shows lb1 as backup with lb2 the master it hears.
    click(&tab, "#vrrp-VI_1 button[data-action=resign]");
    assert!(
        wait_for(Duration::from_secs(10), || holds_both(&s, "lb2")),
        "lb2 did not take over:\n{}\nlb1:\n{}\npage:\n{}",
        log(dir.path(), "lb2"),
        log(dir.path(), "lb1"),
        eval(&tab, "document.body.innerText")
    );
    page_shows(
        &tab,
        "document.querySelector('#vrrp-VI_1').dataset.state",
        "stop",
        limit,
    );
    page_shows(
        &tab,
        "document.querySelector('#vrrp-VI_1').innerText.includes('10.10.0.12')",
        "true",
        limit,
    );
    assert!(served(&s, 5).iter().all(|w| w == "web1" || w == "web2"));
}

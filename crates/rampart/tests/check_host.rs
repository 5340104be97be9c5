//! `rampart check --host` in a namespace laid out like the seed guide's
//! lb1 (`bond0` 10.99.181.141/24, `ens14f1` 192.168.1.2/24), with
//! `examples/seed-lb.toml` as it ships: it passes, and each kind of
//! problem is reported at its line and column. Then a SIGHUP reload that
//! would bind an address that is not here, or apply an empty file, is
//! refused while the old listener keeps serving.
//! And `check -c /dev/zero`, which needs no namespace.
//!
//! Needs root: without it each test panics, unless RAMPART_SKIP_NETNS=1.
//! Nothing is sent outside the namespaces the tests create.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod lab;

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

use lab::{log, start_rampart, wait_for};
use rampart_lab::{Lab, Ns, Signal, require_root};

const BIN: &str = env!("CARGO_BIN_EXE_rampart");

fn seed_lb() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed-lb.toml");
    std::fs::read_to_string(path).unwrap()
}

/// lb1 with the guide's interfaces, each a veth to a peer namespace.
fn guide_host() -> Option<(Lab, Ns)> {
    if !require_root() {
        return None;
    }
    let mut lab = Lab::new().unwrap();
    let lb1 = lab.ns("lb1").unwrap();
    let lb2 = lab.ns("lb2").unwrap();
    let public = ["10.99.181.129/24"];
    lab.link(&lb1, "bond0", &["10.99.181.141/24"], &lb2, "bond0", &public)
        .unwrap();
    let private = ["192.168.1.3/24"];
    lab.link(
        &lb1,
        "ens14f1",
        &["192.168.1.2/24"],
        &lb2,
        "ens14f1",
        &private,
    )
    .unwrap();
    Some((lab, lb1))
}

/// `rampart check --host -c FILE` inside `ns`: success and what it printed.
fn check_host(ns: &Ns, dir: &Path, text: &str) -> (bool, String) {
    let path = dir.join("lb.toml");
    std::fs::write(&path, text).unwrap();
    let out = ns
        .command(BIN)
        .args(["check", "--host", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    let shown =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), shown)
}

/// `file:line:col` of the first `needle` in `text`.
fn at(dir: &Path, text: &str, needle: &str) -> String {
    let offset = text.find(needle).unwrap_or_else(|| panic!("{needle}"));
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = offset - before.rfind('\n').map_or(0, |n| n + 1) + 1;
    format!("{}:{line}:{col}: error: ", dir.join("lb.toml").display())
}

/// Replaces the first `from` (which must be there) with `to`.
fn edit(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from}");
    text.replacen(from, to, 1)
}

#[test]
fn the_guides_layout_passes_and_each_problem_has_its_place() {
    let Some((_lab, lb1)) = guide_host() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let seed = seed_lb();

    let (ok, out) = check_host(&lb1, d, &seed);
    assert!(ok, "{out}");
    assert!(out.contains("configuration is valid on this host"), "{out}");

    // Each case: the edit, the text now at fault, and the message.
    let cases = [
        (
            edit(&seed, "interface = \"ens14f1\"", "interface = \"ens15f0\""),
            "\"ens15f0\"",
            "interface `ens15f0` does not exist on this host",
        ),
        (
            edit(
                &seed,
                "unicast_src = \"10.99.181.141\"",
                "unicast_src = \"10.99.181.140\"",
            ),
            "\"10.99.181.140\"",
            "`unicast_src` 10.99.181.140 is not an address of this host",
        ),
        (
            edit(
                &seed,
                "\"147.75.78.116:80\"]",
                "\"147.75.78.116:80\", \"147.75.78.117:80\"]",
            ),
            "\"147.75.78.117:80\"",
            "bind address 147.75.78.117 is not an address of this host, a virtual address",
        ),
        (
            edit(&seed, "priority = 101", "priority = 255"),
            "\"147.75.78.116\"]",
            "priority 255 is for the owner of the virtual addresses (RFC 5798), but 147.75.78.116 \
             is not assigned to bond0 on this host",
        ),
        (
            edit(
                &seed,
                "unicast_peers = [\"10.99.181.129\"]",
                "unicast_peers = [\"192.168.1.2\"]",
            ),
            "\"192.168.1.2\"",
            "peer 192.168.1.2 is an address of this host: this node would be its own peer",
        ),
    ];
    for (text, culprit, message) in &cases {
        let (ok, out) = check_host(&lb1, d, text);
        assert!(!ok, "accepted:\n{out}");
        let want = format!("{}{message}", at(d, text, culprit));
        assert!(out.contains(&want), "want {want}\ngot:\n{out}");
        assert!(out.ends_with("1 error\n"), "{out}");
    }

    // The owner passes once the address is really its own.
    lb1.ip(&["addr", "add", "147.75.78.116/32", "dev", "bond0"])
        .unwrap();
    let owner = edit(&seed, "priority = 101", "priority = 255");
    let (ok, out) = check_host(&lb1, d, &owner);
    assert!(ok, "{out}");
}

#[test]
fn a_port_in_use_is_reported_at_its_bind() {
    let Some((_lab, lb1)) = guide_host() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = edit(
        &seed_lb(),
        "\"147.75.78.116:80\"]",
        "\"147.75.78.116:80\", \"10.99.181.141:8080\"]",
    );
    let busy = lb1
        .run_in(|| TcpListener::bind("10.99.181.141:8080").unwrap())
        .unwrap();
    let (ok, out) = check_host(&lb1, d, &text);
    assert!(!ok, "{out}");
    let want = format!(
        "{}10.99.181.141:8080 is already in use on this host",
        at(d, &text, "\"10.99.181.141:8080\"")
    );
    assert!(out.contains(&want), "want {want}\ngot:\n{out}");
    drop(busy);
    let (ok, out) = check_host(&lb1, d, &text);
    assert!(ok, "{out}");
}

/// `rampart run` refuses a priority-255 instance whose addresses are not
/// this node's, before it claims anything.
#[test]
fn run_refuses_priority_255_without_the_addresses() {
    let Some((_lab, lb1)) = guide_host() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = edit(&seed_lb(), "priority = 101", "priority = 255");
    let mut node = start_rampart(&lb1, d, "lb", &text);
    let status = node.wait_timeout(Duration::from_secs(10)).unwrap();
    assert!(status.is_some_and(|s| !s.success()), "{}", log(d, "lb"));
    let want = format!(
        "{}priority 255 is for the owner",
        at(d, &text, "\"147.75.78.116\"]")
    );
    assert!(
        log(d, "lb").contains(&want),
        "want {want}\ngot:\n{}",
        log(d, "lb")
    );
    assert!(!lb1.has_addr("147.75.78.116".parse().unwrap()).unwrap());
}

/// A proxy-only node on lb1's bond0 address.
fn proxy(bind: &str) -> String {
    format!(
        r#"[global]
threads = 1
grace = "1s"

[[frontend]]
name = "www"
bind = ["{bind}"]
backend = "pool"

[[backend]]
name = "pool"
health = {{ check = "none" }}
servers = [{{ name = "web1", addr = "10.99.181.141:9" }}]
"#
    )
}

#[test]
fn a_reload_that_would_bind_elsewhere_or_run_nothing_is_refused() {
    let Some((_lab, lb1)) = guide_host() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut node = start_rampart(&lb1, d, "lb", &proxy("10.99.181.141:8080"));
    let connects = |ns: &Ns| {
        ns.run_in(|| {
            TcpStream::connect_timeout(
                &"10.99.181.141:8080".parse().unwrap(),
                Duration::from_secs(1),
            )
            .is_ok()
        })
        .unwrap()
    };
    assert!(
        wait_for(Duration::from_secs(10), || connects(&lb1)),
        "{}",
        log(d, "lb")
    );

    // A typo: .142 is nobody's address here.
    let typo = proxy("10.99.181.142:8080");
    std::fs::write(d.join("lb.toml"), &typo).unwrap();
    node.signal(Signal::SIGHUP).unwrap();
    let refused = |n: usize| {
        log(d, "lb")
            .matches("reload failed, keeping the running config")
            .count()
            >= n
    };
    assert!(
        wait_for(Duration::from_secs(5), || refused(1)),
        "{}",
        log(d, "lb")
    );
    let text = log(d, "lb");
    let want = at(d, &typo, "\"10.99.181.142:8080\"");
    assert!(
        text.contains(&format!(
            "{want}bind address 10.99.181.142 is not an address of this host"
        )),
        "{text}"
    );

    // An empty file: nothing to run, refused at 1:1.
    std::fs::write(d.join("lb.toml"), "").unwrap();
    node.signal(Signal::SIGHUP).unwrap();
    let failed = || log(d, "lb").contains("lb.toml:1:1: error: nothing to run");
    assert!(wait_for(Duration::from_secs(5), failed), "{}", log(d, "lb"));
    // Not UTF-8: refused with the place of the first bad byte.
    std::fs::write(d.join("lb.toml"), b"[global]\nthreads = 1 # \xff\n").unwrap();
    node.signal(Signal::SIGHUP).unwrap();
    let failed = || log(d, "lb").contains("lb.toml:2:15: error: the file is not valid UTF-8");
    assert!(wait_for(Duration::from_secs(5), failed), "{}", log(d, "lb"));

    assert!(connects(&lb1), "{}", log(d, "lb"));
    assert!(node.try_wait().unwrap().is_none(), "{}", log(d, "lb"));
}

/// `check -c /dev/zero` stops at the size limit at once instead of
/// reading forever. No namespace needed.
#[test]
fn check_refuses_a_file_past_the_size_limit_at_once() {
    let started = std::time::Instant::now();
    let out = std::process::Command::new(BIN)
        .args(["check", "-c", "/dev/zero"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("/dev/zero:1:1: error: the file is larger than 16 MiB"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// An address owner (priority 255) holds the host's own address: it is
/// master at once and announces it, but nothing rampart does — start,
/// the address audit, a graceful stop, a kill -9 of the supervisor whose
/// worker then cleans up as an orphan — may take that address away.
#[test]
fn an_address_owner_never_removes_its_own_address() {
    let Some((_lab, lb1)) = guide_host() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let own: std::net::IpAddr = "10.99.181.141".parse().unwrap();
    let text = format!(
        "{}\n[vrrp]\nversion = 3\n\n[[vrrp.instance]]\nname = \"VI_own\"\ninterface = \"bond0\"\n\
         vrid = 7\npriority = 255\nadvert_interval = \"100ms\"\nunicast_src = \"10.99.181.141\"\n\
         unicast_peers = [\"10.99.181.129\"]\nvirtual_addresses = [\"10.99.181.141/24\"]\n",
        proxy("10.99.181.141:8080")
    );
    for stop in [Signal::SIGTERM, Signal::SIGKILL] {
        let mut node = start_rampart(&lb1, d, "lb", &text);
        let master = wait_for(Duration::from_secs(5), || {
            log(d, "lb").contains("VRRP init -> master")
        });
        assert!(master, "{}", log(d, "lb"));
        // Two audits (once a second) with the address in place.
        std::thread::sleep(Duration::from_millis(2200));
        assert!(lb1.has_addr(own).unwrap(), "{}", log(d, "lb"));
        let workers = lab::children(node.pid());
        node.signal(stop).unwrap();
        let _ = node.wait_timeout(Duration::from_secs(10)).unwrap();
        // The orphaned worker (after SIGKILL) has finished its clean-up.
        assert!(wait_for(Duration::from_secs(5), || workers
            .iter()
            .all(|w| !Path::new(&format!("/proc/{w}")).exists())));
        assert!(
            lb1.has_addr(own).unwrap(),
            "{stop:?} took the host's own address away:\n{}",
            log(d, "lb")
        );
    }
}

/// An installed node needs no `-c`: `check` (and `run`) read
/// /etc/rampart/rampart.toml, and say so whether it is there or not.
#[test]
fn check_reads_the_installed_config_by_default() {
    let out = std::process::Command::new(BIN)
        .arg("check")
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("/etc/rampart/rampart.toml"), "{said}");
    let help = std::process::Command::new(BIN)
        .args(["run", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("[default: /etc/rampart/rampart.toml]"),
        "{help}"
    );
}

/// `[global] user`/`group` must exist on the host (the worker runs as
/// them); each unknown one is named at its place.
#[test]
fn an_unknown_worker_user_or_group_is_named_at_its_key() {
    let Some((_lab, lb1)) = guide_host() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ok = edit(
        &proxy("127.0.0.1:18297"),
        "threads = 1",
        "user = \"nobody\"\nthreads = 1",
    );
    let (passed, shown) = check_host(&lb1, dir.path(), &ok);
    assert!(passed, "{shown}");
    let bad = edit(
        &ok,
        "user = \"nobody\"",
        "user = \"no-such-rampart-user\"\ngroup = \"no-such-rampart-group\"",
    );
    let (passed, shown) = check_host(&lb1, dir.path(), &bad);
    assert!(!passed, "{shown}");
    assert!(
        shown.contains(
            &(at(dir.path(), &bad, "\"no-such-rampart-user\"")
                + "user `no-such-rampart-user` does not exist on this host")
        ),
        "{shown}"
    );
    let bad = edit(
        &ok,
        "user = \"nobody\"",
        "group = \"no-such-rampart-group\"",
    );
    let (passed, shown) = check_host(&lb1, dir.path(), &bad);
    assert!(!passed, "{shown}");
    assert!(
        shown.contains(
            &(at(dir.path(), &bad, "\"no-such-rampart-group\"")
                + "group `no-such-rampart-group` does not exist on this host")
        ),
        "{shown}"
    );
}

//! Least privilege, on the seed guide's lab: rampart run as the systemd
//! unit runs it (a plain user with CAP_NET_ADMIN, CAP_NET_RAW and
//! CAP_NET_BIND_SERVICE as ambient capabilities and RLIMIT_RTPRIO 10, by
//! `setpriv` and `prlimit`), and as root with `[global] user`. Either way
//! the node must do all of its work — VRRP master with its VIPs, the proxy
//! on port 80 of the VIP, forwarding and the nftables NAT table, the VRRP
//! thread at real-time priority — while its worker holds no effective
//! capability and only CAP_NET_ADMIN permitted, which it needs when the
//! supervisor is killed: it then takes the VIPs and the NAT table down.
//!
//! Needs root (namespaces, setpriv): without it each test fails, unless
//! RAMPART_SKIP_NETNS=1.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod lab;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use lab::{Timing, gateway, get, ip_forward, nft_table, rampart_config, vip, wait_for};
use rampart_lab::{Ns, Proc};

const BIN: &str = env!("CARGO_BIN_EXE_rampart");

/// The three capabilities of the unit, as masks (`/proc/PID/status`).
const NET_BIND_SERVICE: u64 = 1 << 10;
const NET_ADMIN: u64 = 1 << 12;
const NET_RAW: u64 = 1 << 13;
/// linux/sched.h
const SCHED_RR: i64 = 2;
const UNIT_CAPS: &str = "-all,+net_admin,+net_raw,+net_bind_service";

/// Every Debian system has this user and group.
const USER: &str = "nobody";
const GROUP: &str = "nogroup";

const NAT: &str = r#"
[gateway]
masquerade = [{ source = "192.168.1.0/24", out = "eth0" }]
"#;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Launch {
    /// As `dist/rampart.service` does: User=, AmbientCapabilities=,
    /// CapabilityBoundingSet=, LimitRTPRIO=.
    Unit,
    /// As root, with `[global] user = "nobody"`.
    RootWithUser,
}

struct Status {
    uid: u32,
    eff: u64,
    prm: u64,
    no_new_privs: bool,
}

fn status(pid: u32) -> Status {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
            .trim()
            .to_string()
    };
    let mask = |name: &str| u64::from_str_radix(&field(name), 16).unwrap();
    Status {
        uid: field("Uid:")
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap(),
        eff: mask("CapEff:"),
        prm: mask("CapPrm:"),
        no_new_privs: field("NoNewPrivs:") == "1",
    }
}

/// The scheduling policy of `pid`'s thread named `name` (`SCHED_*`).
fn thread_policy(pid: u32, name: &str) -> Option<i64> {
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() == name {
            let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
            // Fields after the `(comm)` start at field 3; policy is 41.
            let rest = &stat[stat.rfind(')')? + 2..];
            return rest.split_whitespace().nth(41 - 3)?.parse().ok();
        }
    }
    None
}

/// Whether this host lets RLIMIT_RTPRIO be raised to 10 (systemd's
/// LimitRTPRIO=): it needs CAP_SYS_RESOURCE, which some containers drop.
fn rtprio_settable() -> bool {
    std::process::Command::new("prlimit")
        .args(["--rtprio=10", "true"])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn chown(path: &Path, user: &str) {
    let out = std::process::Command::new("chown")
        .arg(format!("{user}:{GROUP}"))
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "chown: {out:?}");
}

/// Starts lb1 as `how` says; its files live in `dir` (readable by the
/// unprivileged user: the config, and the runtime directory it owns).
fn start(lb1: &Ns, dir: &Path, how: Launch) -> Proc {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut config = rampart_config(1, Timing::V3Fast, "") + NAT;
    if how == Launch::RootWithUser {
        config = config.replacen("[global]\n", &format!("[global]\nuser = \"{USER}\"\n"), 1);
    }
    let path = dir.join("lb1.toml");
    std::fs::write(&path, &config).unwrap();
    let run = dir.join("lb1.run");
    std::fs::create_dir(&run).unwrap();
    if how == Launch::Unit {
        // systemd's RuntimeDirectory= is created for the unit's user.
        chown(&run, USER);
    }
    let log = std::fs::File::create(dir.join("lb1.log")).unwrap();
    let mut cmd = match how {
        Launch::Unit => {
            let mut c = lb1.command("prlimit");
            if rtprio_settable() {
                c.arg("--rtprio=10");
            }
            c.arg("setpriv")
                .arg(format!("--reuid={USER}"))
                .arg(format!("--regid={GROUP}"))
                .arg("--clear-groups")
                .arg(format!("--inh-caps={UNIT_CAPS}"))
                .arg(format!("--ambient-caps={UNIT_CAPS}"))
                .arg(format!("--bounding-set={UNIT_CAPS}"))
                .arg(BIN);
            c
        }
        Launch::RootWithUser => lb1.command(BIN),
    };
    cmd.args(["run", "-c"])
        .arg(&path)
        .arg("--runtime-dir")
        .arg(&run)
        .env("RUST_LOG", "info")
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    Proc::spawn(&mut cmd).unwrap()
}

fn log(dir: &Path) -> String {
    lab::log(dir, "lb1")
}

fn a_node_with_least_privilege_does_all_its_work(how: Launch) {
    let Some((s, _webs)) = lab::seed_with_webs() else {
        return;
    };
    let nobody = nix::unistd::User::from_name(USER)
        .unwrap()
        .unwrap()
        .uid
        .as_raw();
    let dir = tempfile::tempdir().unwrap();
    let mut node = start(&s.lb1, dir.path(), how);
    let sup = node.pid();

    // VRRP (raw sockets, addresses), the proxy on port 80, the gateway
    // (nft run as a child, /proc/sys written).
    assert!(
        wait_for(Duration::from_secs(10), || lab::holds_both(&s, "lb1")),
        "{how:?}: lb1 never held both VIPs:\n{}",
        log(dir.path())
    );
    let addr = std::net::SocketAddr::new(vip(), 80);
    let got = s.client.run_in(move || get(addr)).unwrap();
    assert!(
        got.as_deref().is_ok_and(|b| b.starts_with("web")),
        "{how:?}: GET through the VIP: {got:?}\n{}",
        log(dir.path())
    );
    assert!(
        nft_table(&s.lb1).contains("masquerade"),
        "{how:?}: no NAT table:\n{}",
        log(dir.path())
    );
    assert_eq!(ip_forward(&s.lb1), "1");

    let supervisor = status(sup);
    let workers = lab::children(sup);
    assert_eq!(workers.len(), 1, "{how:?}: workers {workers:?}");
    let worker = status(workers[0]);
    match how {
        Launch::Unit => {
            assert_eq!(supervisor.uid, nobody);
            assert_eq!(supervisor.eff, NET_ADMIN | NET_RAW | NET_BIND_SERVICE);
            if rtprio_settable() {
                // LimitRTPRIO=10 is enough for the VRRP thread's SCHED_RR 10.
                assert_eq!(
                    thread_policy(sup, "rampart-vrrp"),
                    Some(SCHED_RR),
                    "{how:?}: the VRRP thread is not real-time:\n{}",
                    log(dir.path())
                );
            } else {
                // This host cannot raise the limit (no CAP_SYS_RESOURCE, as
                // in some containers): the node runs and says why adverts
                // may be late.
                eprintln!("RLIMIT_RTPRIO cannot be raised here: real-time priority not tested");
                assert_eq!(thread_policy(sup, "rampart-vrrp"), Some(0));
                assert!(
                    log(dir.path()).contains("VRRP thread left at normal priority"),
                    "{}",
                    log(dir.path())
                );
            }
        }
        Launch::RootWithUser => assert_eq!(supervisor.uid, 0),
    }
    assert_eq!(worker.uid, nobody, "{how:?}: the worker's user");
    assert_eq!(worker.eff, 0, "{how:?}: the worker's effective set");
    assert_eq!(worker.prm, NET_ADMIN, "{how:?}: the worker's permitted set");
    assert!(
        worker.no_new_privs,
        "{how:?}: the worker may gain privileges"
    );
    assert_eq!(
        std::fs::read(format!("/proc/{}/cmdline", workers[0])).unwrap(),
        b"rampart: worker\0"
    );
    assert!(
        std::fs::read(format!("/proc/{sup}/cmdline"))
            .unwrap()
            .starts_with(b"rampart: supervisor\0run\0"),
        "{how:?}: the supervisor's name"
    );

    // The supervisor killed: the worker, with CAP_NET_ADMIN raised for it,
    // takes the VIPs and the NAT table down.
    node.kill().unwrap();
    assert!(
        wait_for(Duration::from_secs(5), || lab::holder(&s, vip()).is_empty()
            && lab::holder(&s, gateway()).is_empty()
            && nft_table(&s.lb1).is_empty()),
        "{how:?}: the orphaned worker left the VIPs or the NAT table:\n{}",
        log(dir.path())
    );
    assert!(
        wait_for(Duration::from_secs(5), || ip_forward(&s.lb1) == "0"),
        "{how:?}: forwarding left on:\n{}",
        log(dir.path())
    );
    assert!(
        !log(dir.path()).contains("cannot raise CAP_NET_ADMIN"),
        "{}",
        log(dir.path())
    );
}

#[test]
fn as_the_unit_runs_it_a_user_with_three_capabilities() {
    a_node_with_least_privilege_does_all_its_work(Launch::Unit);
}

#[test]
fn as_root_with_a_worker_user() {
    a_node_with_least_privilege_does_all_its_work(Launch::RootWithUser);
}

/// A `user` that only root may become, asked of a node that is not root,
/// is refused at start with the key's place, not run as the wrong user.
#[test]
fn a_worker_user_it_cannot_become_is_refused_at_start() {
    if !rampart_lab::require_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let path = dir.path().join("n.toml");
    std::fs::write(
        &path,
        "[global]\nuser = \"root\"\n\n[[frontend]]\nname = \"www\"\nbind = [\"127.0.0.1:18099\"]\n\
         backend = \"b\"\n\n[[backend]]\nname = \"b\"\nservers = [{ name = \"s\", addr = \"127.0.0.1:18098\" }]\n",
    )
    .unwrap();
    let out = std::process::Command::new("setpriv")
        .arg(format!("--reuid={USER}"))
        .arg(format!("--regid={GROUP}"))
        .arg("--clear-groups")
        .arg(BIN)
        .args(["run", "-c"])
        .arg(&path)
        .arg("--runtime-dir")
        .arg(dir.path().join("run"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("n.toml:2:8") && stderr.contains("cannot start its worker as uid 0"),
        "{stderr}"
    );
}

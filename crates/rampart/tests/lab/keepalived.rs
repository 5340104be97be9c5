//! The reference implementations on the LB nodes: keepalived 2.2.7 (as a
//! VRRP peer of rampart, or as the seed's own VRRP daemon) and HAProxy
//! (the seed's proxy, for the failover benchmark).
//!
//! `keepalived_config` mirrors `rampart_config` line for line (same VRIDs,
//! addresses, priorities, sync group, unicast peers), so a rampart node
//! and a keepalived node are peers of one cluster.
//!
//! Every test crate that has `mod lab;` compiles this (dead-code lint off in
//! `lab/mod.rs`), and each uses a part of it.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use rampart_lab::{Ns, Proc};

use super::{GATEWAY, Timing, VIP};

/// keepalived's per-node knobs beyond what `rampart_config` fixes.
#[derive(Debug, Clone, Default)]
pub struct KaOpts {
    /// Replaces the priority (101 on lb1, 100 on lb2), e.g. to put
    /// keepalived below a rampart peer it would otherwise beat.
    pub priority: Option<u8>,
    /// `state BACKUP` and `nopreempt` on both instances.
    pub nopreempt: bool,
    /// Replaces the VRRPv2 PASS password "1111" (ignored at v3).
    pub password: Option<String>,
    /// The seed's `chk_haproxy` tracker, as the check script written by
    /// `haproxy_check_script` (weight 0, as in the seed: FAULT on failure).
    pub track_haproxy: Option<PathBuf>,
    /// Lines added to both instances, verbatim.
    pub extra_instance: String,
}

/// keepalived.conf for LB node `n`: the peer of `rampart_config(n', ..)`.
pub fn keepalived_config(n: u8, timing: Timing, opts: &KaOpts) -> String {
    let (me, peer) = if n == 1 { (11, 12) } else { (12, 11) };
    let priority = opts.priority.map_or(102 - u16::from(n), u16::from);
    // keepalived accepts nopreempt only from BACKUP.
    let state = if n == 1 && !opts.nopreempt {
        "MASTER"
    } else {
        "BACKUP"
    };
    let (version, interval) = match timing {
        Timing::V2Seed => (2, "1"),
        Timing::V3Fast => (3, "0.1"),
    };

    let mut conf = String::from("global_defs {\n");
    let _ = writeln!(conf, "    router_id lb{n}\n    vrrp_version {version}");
    conf.push_str("}\n\n");
    if let Some(script) = &opts.track_haproxy {
        // As in the seed: no `script_user` / `enable_script_security`, so
        // keepalived warns ("Script user 'keepalived_script' does not
        // exist", "SECURITY VIOLATION") and runs the check as root.
        let _ = writeln!(
            conf,
            "vrrp_script chk_haproxy {{\n    script \"{}\"\n    interval 1\n}}\n",
            script.display()
        );
    }
    conf.push_str("vrrp_sync_group VG_1 {\n    group {\n        VI_1\n        VI_2\n    }\n}\n");

    let instances = [
        ("VI_1", "eth0", 101, "10.10.0", format!("{VIP}/24")),
        (
            "VI_2",
            "eth1",
            102,
            "192.168.1",
            format!("{GATEWAY}/24 dev eth1 label gateway:0"),
        ),
    ];
    for (name, ifname, vrid, net, vip) in instances {
        let _ = write!(
            conf,
            "\nvrrp_instance {name} {{
    state {state}
    interface {ifname}
    unicast_src_ip {net}.{me}
    unicast_peer {{
        {net}.{peer}
    }}
    virtual_router_id {vrid}
    priority {priority}
    advert_int {interval}
"
        );
        if opts.nopreempt {
            conf.push_str("    nopreempt\n");
        }
        if timing == Timing::V2Seed {
            let pass = opts.password.as_deref().unwrap_or("1111");
            let _ = writeln!(
                conf,
                "    authentication {{\n        auth_type PASS\n        auth_pass {pass}\n    }}"
            );
        }
        if opts.track_haproxy.is_some() {
            conf.push_str("    track_script {\n        chk_haproxy\n    }\n");
        }
        conf.push_str(&opts.extra_instance);
        let _ = write!(
            conf,
            "\n    virtual_ipaddress {{\n        {vip}\n    }}\n}}\n"
        );
    }
    conf
}

/// keepalived (VRRP subsystem only, in the foreground) in `ns` with
/// `conf`; its console log is appended to `dir/name.log`, so a restarted
/// node keeps its history. The guard is the parent process; the VRRP
/// child is in `super::children(pid)` (and `dir/name.vrrp.pid`).
pub fn start_keepalived(ns: &Ns, dir: &Path, name: &str, conf: &str) -> Proc {
    let path = dir.join(format!("{name}.keepalived.conf"));
    std::fs::write(&path, conf).unwrap();
    let log = append(&dir.join(format!("{name}.log")));
    // -n: no daemon; -l: log to the console (written as it happens); -D:
    // detailed; -G: not to the host's syslog; -P: VRRP only. Distinct pid
    // files per node, or the second keepalived of the machine would think
    // it already runs.
    let mut cmd = ns.command("keepalived");
    cmd.args(["-n", "-l", "-D", "-G", "-P", "-f"])
        .arg(&path)
        .arg("-p")
        .arg(dir.join(format!("{name}.pid")))
        .arg("-r")
        .arg(dir.join(format!("{name}.vrrp.pid")))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    Proc::spawn(&mut cmd).unwrap()
}

// === HAProxy, for the seed's exact stack ===

/// haproxy.cfg of the seed (mode tcp, round robin, web1/web2), with fast
/// checks so a dead backend is noticed in 400 ms. `transparent` lets the
/// backup bind the VIP before it holds it (as `ip_nonlocal_bind=1` does in
/// the usual keepalived + HAProxy recipes).
pub fn haproxy_config() -> String {
    format!(
        "global
    maxconn 4096

defaults
    mode tcp
    timeout connect 1s
    timeout client 30s
    timeout server 30s

frontend www
    bind {VIP}:80 transparent
    default_backend nginx_pool

backend nginx_pool
    balance roundrobin
    server web1 192.168.1.21:8080 check inter 200 fall 2 rise 1
    server web2 192.168.1.22:8080 check inter 200 fall 2 rise 1
"
    )
}

/// Where `start_haproxy` records the pid of node `name`'s HAProxy.
pub fn haproxy_pidfile(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.haproxy.pid"))
}

/// Writes the `chk_haproxy` check of node `name` and returns its path,
/// for `KaOpts::track_haproxy`. It must exist before keepalived starts
/// (keepalived disables a script it cannot find).
///
/// The seed's `pgrep haproxy` cannot be used here: the lab's namespaces
/// share one PID namespace, so pgrep on lb1 would also see lb2's HAProxy
/// and never fail. The check asks instead whether the pid in this node's
/// pid file is alive and not a zombie (a killed child stays one until the
/// test reaps it, and `kill -0` would still succeed on it).
pub fn haproxy_check_script(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(format!("{name}.chk_haproxy.sh"));
    let script = format!(
        "#!/bin/sh\n\
         # {name}'s HAProxy is running (what `pgrep haproxy` means on a real host).\n\
         pid=$(cat '{}' 2>/dev/null) || exit 1\n\
         read -r _ _ state _ < \"/proc/$pid/stat\" 2>/dev/null || exit 1\n\
         [ \"$state\" != Z ] && [ \"$state\" != X ]\n",
        haproxy_pidfile(dir, name).display()
    );
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// HAProxy in the foreground (`-db`) in `ns` with `haproxy_config()`, its
/// output appended to `dir/name.haproxy.log` (so node `name` can run
/// keepalived, logging to `dir/name.log`, beside it). Its pid goes to
/// `haproxy_pidfile`, written here: HAProxy writes `-p` only when it
/// daemonizes, and the guard's pid is HAProxy's own (`ip netns exec`
/// execs it).
pub fn start_haproxy(ns: &Ns, dir: &Path, name: &str) -> Proc {
    let path = dir.join(format!("{name}.haproxy.cfg"));
    std::fs::write(&path, haproxy_config()).unwrap();
    let log = append(&dir.join(format!("{name}.haproxy.log")));
    let mut cmd = ns.command("haproxy");
    cmd.args(["-db", "-f"])
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    let proc = Proc::spawn(&mut cmd).unwrap();
    std::fs::write(haproxy_pidfile(dir, name), format!("{}\n", proc.pid())).unwrap();
    proc
}

fn append(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

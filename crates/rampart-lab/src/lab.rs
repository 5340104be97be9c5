//! The [`Lab`]: creates namespaces, switches and links, and removes them
//! all when dropped.

use std::io::{self, Write as _};
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::cmd::{ip, json};
use crate::ns::Ns;
use crate::proc::Proc;

/// Longest interface name Linux accepts (IFNAMSIZ - 1).
const IFNAME_MAX: usize = 15;
/// Name of the bridge inside every switch namespace.
const BRIDGE: &str = "br0";

/// Numbers the labs of this process, for unique prefixes.
static NEXT_LAB: AtomicU32 = AtomicU32::new(0);
/// `ip netns add` mounts /run/netns on first use; concurrent first calls
/// can trip over each other, so this process makes one namespace at a time.
static NETNS_ADD: Mutex<()> = Mutex::new(());

/// A set of network namespaces with one unique prefix, deleted on drop.
///
/// Namespaces are named `<prefix>-<name>` (hosts) and `<prefix>-sw<name>`
/// (switches), the prefix being `rl<pid>x<n>`. Dropping the lab kills the
/// processes it was given ([`Lab::spawn`]) and then every process still
/// in one of its namespaces, and deletes the namespaces. Drop never
/// panics; failures are printed to stderr.
pub struct Lab {
    prefix: String,
    /// In creation order; deleted in reverse.
    namespaces: Vec<String>,
    procs: Vec<Proc>,
    /// Numbers the switch-side veth ends (`p<n>`), unique in the lab.
    next_port: u32,
}

/// A switch: a bridge (`br0`) in a namespace of its own. Hosts are plugged
/// in with [`Lab::attach`].
#[derive(Clone, Debug)]
pub struct Switch {
    ns: Ns,
}

impl Switch {
    /// The namespace the bridge lives in (e.g. to run tcpdump on `br0`).
    pub fn ns(&self) -> &Ns {
        &self.ns
    }

    /// The bridge's interface name inside [`Switch::ns`].
    pub fn bridge(&self) -> &str {
        BRIDGE
    }
}

// === impl Lab ===

impl Lab {
    /// A new, empty lab with a unique prefix `rl<pid>x<n>`.
    ///
    /// First deletes stale namespaces `rl<pid>x*` left by processes that no
    /// longer exist (a test run killed with SIGKILL cannot clean up).
    pub fn new() -> io::Result<Lab> {
        remove_stale()?;
        let n = NEXT_LAB.fetch_add(1, Ordering::Relaxed);
        Ok(Lab {
            prefix: format!("rl{}x{n}", std::process::id()),
            namespaces: Vec::new(),
            procs: Vec::new(),
            next_port: 0,
        })
    }

    /// The prefix of every namespace this lab makes.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Full names of the namespaces made so far, in creation order.
    pub fn namespaces(&self) -> &[String] {
        &self.namespaces
    }

    /// Creates host namespace `<prefix>-<name>`: `lo` up,
    /// `net.ipv4.ip_forward=0` (IPv4 settings are otherwise inherited from
    /// the host), and IPv6 DAD off (`accept_dad=0` for `all` and
    /// `default`) so IPv6 addresses are usable at once.
    pub fn ns(&mut self, name: &str) -> io::Result<Ns> {
        let ns = self.add_netns(&format!("{}-{name}", self.prefix))?;
        ns.set_link("lo", true)?;
        ns.sysctl("net.ipv4.ip_forward", "0")?;
        ns.sysctl("net.ipv6.conf.all.accept_dad", "0")?;
        ns.sysctl("net.ipv6.conf.default.accept_dad", "0")?;
        Ok(ns)
    }

    /// Creates switch `<prefix>-sw<name>`: a bridge with STP off, forward
    /// delay 0 and multicast snooping off (it floods every multicast, as
    /// VRRP's and a hub's behaviour want), up. IPv6 is disabled in the
    /// switch namespace so its ports send no RS/NS noise of their own.
    pub fn switch(&mut self, name: &str) -> io::Result<Switch> {
        let ns = self.add_netns(&format!("{}-sw{name}", self.prefix))?;
        ns.sysctl("net.ipv6.conf.all.disable_ipv6", "1")?;
        ns.sysctl("net.ipv6.conf.default.disable_ipv6", "1")?;
        ns.ip(&[
            "link",
            "add",
            BRIDGE,
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
            "mcast_snooping",
            "0",
        ])?;
        ns.set_link(BRIDGE, true)?;
        Ok(Switch { ns })
    }

    /// Plugs `ns` into `sw`: a veth pair with `ifname` in `ns` (up, with
    /// `addrs` such as `"10.0.0.1/24"` or `"fd00::1/64"`) and the other end
    /// enslaved to the switch's bridge (up).
    pub fn attach(&mut self, sw: &Switch, ns: &Ns, ifname: &str, addrs: &[&str]) -> io::Result<()> {
        self.attach_inner(sw, ns, ifname, addrs, None)
    }

    /// [`Lab::attach`] with a fixed MAC (`"02:00:00:00:00:01"`) on the
    /// host side, for deterministic captures.
    pub fn attach_with_mac(
        &mut self,
        sw: &Switch,
        ns: &Ns,
        ifname: &str,
        addrs: &[&str],
        mac: &str,
    ) -> io::Result<()> {
        self.attach_inner(sw, ns, ifname, addrs, Some(mac))
    }

    /// A direct veth pair: `a_if` in `a`, `b_if` in `b`, both up with their
    /// addresses.
    pub fn link(
        &mut self,
        a: &Ns,
        a_if: &str,
        a_addrs: &[&str],
        b: &Ns,
        b_if: &str,
        b_addrs: &[&str],
    ) -> io::Result<()> {
        check_ifname(a_if)?;
        check_ifname(b_if)?;
        // Made inside `a` with the peer created directly in `b`: the root
        // namespace never sees the names, so labs cannot collide there.
        a.ip(&[
            "link",
            "add",
            a_if,
            "type",
            "veth",
            "peer",
            "name",
            b_if,
            "netns",
            b.name(),
        ])?;
        configure(a, a_if, a_addrs)?;
        configure(b, b_if, b_addrs)
    }

    /// Spawns `cmd` (typically from [`Ns::command`]) and keeps it until the
    /// lab is dropped, when it is killed and reaped. Returns its pid, which
    /// is the program's own: `ip netns exec` execs it.
    pub fn spawn(&mut self, mut cmd: Command) -> io::Result<u32> {
        let proc = Proc::spawn(&mut cmd)?;
        let pid = proc.pid();
        self.procs.push(proc);
        Ok(pid)
    }

    /// Takes back a process given to [`Lab::spawn`], e.g. to signal it or
    /// wait for it.
    pub fn take(&mut self, pid: u32) -> Option<Proc> {
        let i = self.procs.iter().position(|p| p.pid() == pid)?;
        Some(self.procs.swap_remove(i))
    }

    fn attach_inner(
        &mut self,
        sw: &Switch,
        ns: &Ns,
        ifname: &str,
        addrs: &[&str],
        mac: Option<&str>,
    ) -> io::Result<()> {
        check_ifname(ifname)?;
        let port = format!("p{}", self.next_port);
        self.next_port += 1;
        let mut args = vec!["link", "add", ifname];
        if let Some(mac) = mac {
            args.extend(["address", mac]);
        }
        args.extend(["type", "veth", "peer", "name", &port, "netns", sw.ns.name()]);
        ns.ip(&args)?;
        sw.ns.ip(&["link", "set", &port, "master", BRIDGE, "up"])?;
        configure(ns, ifname, addrs)
    }

    /// Creates a namespace and records it for deletion before anything
    /// else can fail.
    fn add_netns(&mut self, name: &str) -> io::Result<Ns> {
        {
            let _one_at_a_time = NETNS_ADD.lock().unwrap_or_else(|e| e.into_inner());
            ip(&["netns", "add", name])?;
        }
        self.namespaces.push(name.to_owned());
        Ok(Ns::new(name.to_owned()))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Each guard kills and reaps its process.
        self.procs.clear();
        for name in self.namespaces.iter().rev() {
            destroy_netns(name);
        }
    }
}

// === helpers ===

/// Adds `addrs` to `ifname` in `ns` and brings it up. IPv6 addresses get
/// `nodad` as well, in case the caller turned DAD back on.
fn configure(ns: &Ns, ifname: &str, addrs: &[&str]) -> io::Result<()> {
    for addr in addrs {
        let mut args = vec!["addr", "add", addr, "dev", ifname];
        if addr.contains(':') {
            args.push("nodad");
        }
        ns.ip(&args)?;
    }
    ns.set_link(ifname, true)
}

fn check_ifname(ifname: &str) -> io::Result<()> {
    if ifname.is_empty() || ifname.len() > IFNAME_MAX || ifname.contains(['/', ' ']) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad interface name {ifname:?} (1..={IFNAME_MAX} bytes, no '/' or space)"),
        ));
    }
    Ok(())
}

/// Kills every process in namespace `name` (but never this one), then
/// deletes it. Never panics: failures go to stderr.
fn destroy_netns(name: &str) {
    if let Ok(pids) = ip(&["netns", "pids", name]) {
        let me = std::process::id();
        for pid in pids
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
        {
            if u32::try_from(pid) != Ok(me) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
    if let Err(e) = ip(&["netns", "del", name]) {
        let _ = writeln!(
            io::stderr(),
            "rampart-lab: cannot delete namespace {name}: {e}"
        );
    }
}

/// Deletes namespaces `rl<pid>x<n>-*` whose `<pid>` no longer runs.
fn remove_stale() -> io::Result<()> {
    let me = std::process::id();
    for entry in json(&ip(&["-j", "netns", "list"])?)? {
        let Some(name) = entry.get("name").and_then(|n| n.as_str()) else {
            continue;
        };
        match owner_pid(name) {
            Some(pid) if pid != me && !Path::new(&format!("/proc/{pid}")).exists() => {
                destroy_netns(name);
            }
            _ => {}
        }
    }
    Ok(())
}

/// The pid in a lab namespace name `rl<pid>x<n>-<rest>`, if it is one.
fn owner_pid(name: &str) -> Option<u32> {
    let (pid, rest) = name.strip_prefix("rl")?.split_once('x')?;
    let (n, _) = rest.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(pid) || !digits(n) {
        return None;
    }
    pid.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_pid_parses_only_lab_names() {
        assert_eq!(owner_pid("rl123x4-lb1"), Some(123));
        assert_eq!(owner_pid("rl123x4-swpub"), Some(123));
        assert_eq!(owner_pid("rl123x-lb1"), None);
        assert_eq!(owner_pid("rlx4-lb1"), None);
        assert_eq!(owner_pid("rl12ax4-lb1"), None);
        assert_eq!(owner_pid("rl123x4"), None);
        assert_eq!(owner_pid("blue"), None);
    }

    #[test]
    fn ifname_limits() {
        assert!(check_ifname("eth0").is_ok());
        assert!(check_ifname("fifteen-chars-x").is_ok());
        assert!(check_ifname("sixteen-chars-xx").is_err());
        assert!(check_ifname("").is_err());
        assert!(check_ifname("a/b").is_err());
    }
}

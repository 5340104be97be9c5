//! [`Ns`]: one network namespace of a lab — running things in it and
//! reading its state.

use std::fs::File;
use std::io;
use std::net::IpAddr;
use std::process::{Command, Output};
use std::thread::{self, JoinHandle};

use nix::sched::{CloneFlags, setns};
use serde_json::Value;

use crate::cmd::{self, json};
use crate::proc::Proc;

/// Where `ip netns add` puts the handles of named namespaces.
const NETNS_DIR: &str = "/var/run/netns";

/// A named network namespace. Cheap to clone; it does not own the
/// namespace (the [`Lab`](crate::Lab) does).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ns {
    name: String,
}

/// An address on an interface, as `ip -j addr` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Addr {
    pub addr: IpAddr,
    pub prefix_len: u8,
    /// The IPv4 label (`eth0`, `eth0:1`); IPv6 addresses have none.
    pub label: Option<String>,
}

/// A route, as `ip -j route` reports it: its destination as printed (a
/// host route without its length, `default`) and its next hops (one, or
/// each of a multipath route).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub dst: String,
    pub gateways: Vec<String>,
}

impl Ns {
    pub(crate) fn new(name: String) -> Self {
        Self { name }
    }

    /// The namespace's full name (`rl<pid>x<n>-<name>`).
    pub fn name(&self) -> &str {
        &self.name
    }

    // === running things ===

    /// Runs `ip netns exec NAME args...` to completion.
    pub fn exec(&self, args: &[&str]) -> io::Result<Output> {
        let (program, rest) = args
            .split_first()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "exec: empty command"))?;
        self.command(program).args(rest).output()
    }

    /// [`Ns::exec`], returning stdout; an error carrying stderr unless the
    /// command exits 0.
    pub fn ok(&self, args: &[&str]) -> io::Result<String> {
        let (program, rest) = args
            .split_first()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "ok: empty command"))?;
        let mut cmd = self.command(program);
        cmd.args(rest);
        cmd::run(&mut cmd)
    }

    /// `ip -n NAME args...` (cheaper than `exec(["ip", ..])`), returning
    /// stdout; an error carrying stderr unless it exits 0.
    pub fn ip(&self, args: &[&str]) -> io::Result<String> {
        cmd::ip_in(&self.name, args)
    }

    /// A [`Command`] for `ip netns exec NAME program`, to add arguments to
    /// and spawn. `ip netns exec` execs the program, so the child's pid is
    /// the program's.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program]);
        cmd
    }

    /// Spawns `program args...` in the namespace; the returned guard kills
    /// it when dropped.
    pub fn spawn(&self, program: &str, args: &[&str]) -> io::Result<Proc> {
        Proc::spawn(self.command(program).args(args))
    }

    /// Runs `f` on a new thread that has entered this namespace
    /// (`setns(CLONE_NEWNET)`), and waits for it. Sockets made inside —
    /// also by a tokio `current_thread` runtime built inside — belong to
    /// the namespace. A panic in `f` is resumed on the caller's thread.
    ///
    /// Per-thread caveat: `/proc/net/*` and `/proc/self/*` describe the
    /// process's main thread; use `/proc/thread-self/net/*` inside `f`.
    pub fn run_in<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> io::Result<R> {
        match self.spawn_thread(f)?.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Like [`Ns::run_in`] without waiting: the thread's handle yields the
    /// closure's result, or the error from entering the namespace.
    pub fn spawn_thread<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> io::Result<JoinHandle<io::Result<R>>> {
        let handle = File::open(format!("{NETNS_DIR}/{}", self.name))?;
        thread::Builder::new()
            .name(format!("netns {}", self.name))
            .spawn(move || {
                setns(&handle, CloneFlags::CLONE_NEWNET)?;
                drop(handle);
                Ok(f())
            })
    }

    // === reading state ===

    /// Addresses on `ifname`, from `ip -j addr show dev IFNAME`.
    pub fn addrs(&self, ifname: &str) -> io::Result<Vec<Addr>> {
        let links = json(&self.ip(&["-j", "addr", "show", "dev", ifname])?)?;
        Ok(links.iter().flat_map(addr_infos).collect())
    }

    /// Routes from `ip -j ARGS` (a `route show` command, for example
    /// `["-4", "route", "show", "proto", "bird"]`).
    pub fn routes(&self, args: &[&str]) -> io::Result<Vec<Route>> {
        let mut cmd = vec!["-j"];
        cmd.extend_from_slice(args);
        Ok(routes(&json(&self.ip(&cmd)?)?))
    }

    /// Whether `ip` is assigned to any interface of the namespace.
    pub fn has_addr(&self, ip: IpAddr) -> io::Result<bool> {
        let links = json(&self.ip(&["-j", "addr", "show"])?)?;
        Ok(links.iter().flat_map(addr_infos).any(|a| a.addr == ip))
    }

    /// The MAC of the neighbour (ARP / NDP) entry for `ip`, if there is a
    /// resolved one (`ip -j neigh show to IP`). Lower case, colon
    /// separated, as [`Ns::mac`] gives it.
    pub fn neigh_mac(&self, ip: IpAddr) -> io::Result<Option<String>> {
        let entries = json(&self.ip(&["-j", "neigh", "show", "to", &ip.to_string()])?)?;
        Ok(entries
            .iter()
            .find_map(|e| e.get("lladdr")?.as_str().map(str::to_owned)))
    }

    /// The MAC address of `ifname`.
    pub fn mac(&self, ifname: &str) -> io::Result<String> {
        let links = json(&self.ip(&["-j", "link", "show", "dev", ifname])?)?;
        links
            .first()
            .and_then(|l| l.get("address")?.as_str())
            .map(str::to_owned)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: no MAC address for {ifname}", self.name),
                )
            })
    }

    // === changing state ===

    /// Sets `ifname` administratively up or down.
    pub fn set_link(&self, ifname: &str, up: bool) -> io::Result<()> {
        let state = if up { "up" } else { "down" };
        self.ip(&["link", "set", "dev", ifname, state]).map(drop)
    }

    /// Sets sysctl `key` (dotted, e.g. `net.ipv4.ip_forward`) in this
    /// namespace, by writing `/proc/sys/...` from a thread inside it.
    /// Interface names with dots are not supported in `key`.
    pub fn sysctl(&self, key: &str, value: &str) -> io::Result<()> {
        if key.is_empty() || key.contains(['/', ' ']) || key.contains("..") {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad sysctl key {key:?}"),
            ));
        }
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        let value = value.to_owned();
        let name = self.name.clone();
        self.run_in(move || {
            std::fs::write(&path, value)
                .map_err(|e| io::Error::new(e.kind(), format!("{name}: cannot write {path}: {e}")))
        })?
    }

    /// Pings `ip` once with a one-second timeout (`ping -c1 -W1`; needs
    /// iputils-ping). `Ok(false)` when no reply came.
    pub fn ping(&self, ip: IpAddr) -> io::Result<bool> {
        let out = self.exec(&["ping", "-n", "-q", "-c1", "-W1", &ip.to_string()])?;
        Ok(out.status.success())
    }
}

/// The addresses in one link object of `ip -j addr` output. Entries that
/// do not parse are skipped: iproute2 output is trusted, not validated.
fn addr_infos(link: &Value) -> Vec<Addr> {
    let Some(infos) = link.get("addr_info").and_then(Value::as_array) else {
        return Vec::new();
    };
    infos
        .iter()
        .filter_map(|info| {
            Some(Addr {
                addr: info.get("local")?.as_str()?.parse().ok()?,
                prefix_len: u8::try_from(info.get("prefixlen")?.as_u64()?).ok()?,
                label: info.get("label").and_then(Value::as_str).map(str::to_owned),
            })
        })
        .collect()
}

/// `ip -j route` entries → [`Route`]s.
fn routes(list: &[Value]) -> Vec<Route> {
    let text = |v: &Value| v.as_str().map(str::to_owned);
    list.iter()
        .filter_map(|r| {
            let dst = text(r.get("dst")?)?;
            let gateways = r
                .get("gateway")
                .into_iter()
                .chain(
                    r.get("nexthops")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|h| h.get("gateway")),
                )
                .filter_map(text)
                .collect();
            Some(Route { dst, gateways })
        })
        .collect()
}

#[cfg(test)]
mod route_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn single_and_multipath_routes() {
        let json = r#"[{"dst":"10.10.0.10","gateway":"10.20.0.11","dev":"eth0","protocol":"bird","flags":[]},
            {"dst":"10.30.0.0/24","protocol":"bird","flags":[],"nexthops":[{"gateway":"10.20.0.11","dev":"eth0","weight":1,"flags":[]},{"gateway":"10.20.0.12","dev":"eth0","weight":1,"flags":[]}]},
            {"dst":"10.40.0.0/24","dev":"eth1","flags":[]}]"#;
        let r = routes(&crate::cmd::json(json).unwrap());
        assert_eq!(
            r[0],
            Route {
                dst: "10.10.0.10".into(),
                gateways: vec!["10.20.0.11".into()]
            }
        );
        assert_eq!(r[1].gateways, ["10.20.0.11", "10.20.0.12"]);
        assert!(r[2].gateways.is_empty());
    }
}

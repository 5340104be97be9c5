//! Network-namespace topologies for rampart's integration tests.
//!
//! A [`Lab`] owns a set of network namespaces that all carry one unique
//! prefix (`rl<pid>x<n>`), builds them with iproute2 (`ip`), and deletes
//! every one of them when dropped — also while a test is panicking. A
//! namespace left behind by a test process that was killed outright is
//! removed by the next [`Lab::new`] of any process, once its pid is gone.
//!
//! - [`Lab::ns`] makes a host: `lo` up, forwarding off, IPv6 DAD off (so
//!   IPv6 addresses, link-local ones included, are usable at once);
//! - [`Lab::switch`] makes a switch: a bridge in a namespace of its own,
//!   with no STP, no forward delay and no multicast snooping, so it floods
//!   like a hub and never delays a frame;
//! - [`Lab::attach`] plugs a host into a switch, [`Lab::link`] joins two
//!   hosts with a direct veth pair;
//! - [`seed_lab`] builds the seed guide's topology (client, lb1, lb2, web1,
//!   web2 on a public and a private switch).
//!
//! Reads ([`Ns::addrs`], [`Ns::neigh_mac`], ...) parse `ip -j` JSON.
//! [`Ns::run_in`] runs a closure on a thread that has entered the
//! namespace, so sockets (and a tokio `current_thread` runtime) made there
//! live in it.
//!
//! # Processes
//!
//! - [`Ns::spawn`] / [`Proc::spawn`] return a [`Proc`] guard that kills
//!   (SIGKILL) and reaps its process when dropped;
//! - [`Lab::spawn`] hands the guard to the lab instead, which kills it
//!   when the lab is dropped; [`Lab::take`] gets it back by pid;
//! - and as a last resort, dropping a lab kills every process still
//!   living in one of its namespaces (`ip netns pids`), so a bare
//!   `ns.command(..).spawn()` does not outlive the test either.
//!
//! # Root
//!
//! Everything here needs root. A test calls [`require_root`] first: it
//! panics with a clear message when namespaces cannot be made, unless
//! `RAMPART_SKIP_NETNS=1` is set, in which case it prints "skipped" and
//! returns `false` so the test can return early.

#![forbid(unsafe_code)]

mod cmd;
mod lab;
mod ns;
mod proc;
mod seed;
mod web;

pub use lab::{Lab, Switch};
pub use ns::{Addr, Ns, Route};
pub use proc::{Proc, Signal};
pub use seed::{GATEWAY_VIP, SeedLab, route_via_gateway, seed_lab};
pub use web::Web;

/// Environment variable that lets namespace tests be skipped (loudly)
/// where they cannot run.
pub const SKIP_ENV: &str = "RAMPART_SKIP_NETNS";

/// Whether this process can build labs: effective uid 0 and a working
/// `ip` (iproute2).
pub fn netns_available() -> bool {
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            // "Uid:\treal\teffective\tsaved\tfs"
            let line = status.lines().find(|l| l.starts_with("Uid:"))?;
            Some(line.split_whitespace().nth(2)? == "0")
        })
        .unwrap_or(false);
    root && cmd::ip(&["-V"]).is_ok()
}

/// Call at the top of every test that builds a lab.
///
/// Returns `true` when namespaces are usable. Otherwise panics, unless the
/// environment has `RAMPART_SKIP_NETNS=1`: then it prints "skipped" and
/// returns `false`, and the test should return at once. A namespace test
/// therefore never passes silently without having run.
pub fn require_root() -> bool {
    if netns_available() {
        return true;
    }
    if std::env::var(SKIP_ENV).as_deref() == Ok("1") {
        println!("skipped: network-namespace test needs root and iproute2 ({SKIP_ENV}=1)");
        return false;
    }
    panic!(
        "this test builds network namespaces and needs root with iproute2 (`ip netns`); \
         run it as root, or set {SKIP_ENV}=1 to skip it explicitly"
    );
}

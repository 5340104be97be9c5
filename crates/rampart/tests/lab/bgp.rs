//! The BGP lab shared by the BIRD and FRR tests: the seed lab plus a
//! router namespace, rampart node configs with a `[bgp]` section, and
//! `rampart status --json`.

use std::path::Path;

use rampart_lab::{Ns, Proc, SeedLab, seed_lab};

use super::bird::{LB_AS, ROUTER_AS};

/// The seed lab plus a router namespace on a third switch, reached by
/// lb1 and lb2 on their `eth2` (10.20.0.11 and .12, fd00:20::11 and ::12).
pub fn bgp_lab() -> Option<(SeedLab, Ns)> {
    if !rampart_lab::require_root() {
        return None;
    }
    let mut s = seed_lab().unwrap();
    let rtr = s.lab.ns("rtr").unwrap();
    let sw = s.lab.switch("bgp").unwrap();
    s.lab
        .attach(&sw, &rtr, "eth0", &["10.20.0.1/24", "fd00:20::1/64"])
        .unwrap();
    let (lb1, lb2) = (s.lb1.clone(), s.lb2.clone());
    s.lab
        .attach(&sw, &lb1, "eth2", &["10.20.0.11/24", "fd00:20::11/64"])
        .unwrap();
    s.lab
        .attach(&sw, &lb2, "eth2", &["10.20.0.12/24", "fd00:20::12/64"])
        .unwrap();
    Some((s, rtr))
}

/// rampart's config for lb `n` announcing `announce` (TOML of one
/// `[[bgp.announce]]` body) to the router at `router`.
pub fn node_config(n: u8, router: &str, neighbor_extra: &str, announce: &str) -> String {
    super::proxy_section() + &bgp_section(n, router, neighbor_extra, announce, "1s")
}

/// The `[bgp]` part of lb `n`'s config: one neighbor (`router`, with
/// `neighbor_extra` lines) and one announce.
pub fn bgp_section(
    n: u8,
    router: &str,
    neighbor_extra: &str,
    announce: &str,
    hold_down: &str,
) -> String {
    let me = 10 + n;
    format!(
        r#"
[bgp]
router_id = "10.20.0.{me}"
local_as = {LB_AS}
hold_time = "9s"
connect_retry = "1s"
hold_down = "{hold_down}"
shutdown_bound = "1s"

[[bgp.neighbor]]
name = "rtr"
address = "{router}"
remote_as = {ROUTER_AS}
{neighbor_extra}

[[bgp.announce]]
{announce}
"#
    )
}

/// rampart as lb `n` of the lab (`lbN.toml`, `lbN.log`, `lbN.sock`).
pub fn start_node(s: &SeedLab, dir: &Path, n: u8, config: &str) -> Proc {
    let ns = if n == 1 { &s.lb1 } else { &s.lb2 };
    super::start_rampart(ns, dir, &format!("lb{n}"), config)
}

/// `rampart show routes --json` of lb `n`: its `neighbors`, each with its
/// `routes`.
pub fn show_routes(dir: &Path, n: u8) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["show", "routes", "--json", "--control"])
        .arg(dir.join(format!("lb{n}.sock")))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap_or_default()
}

pub fn status(dir: &Path, n: u8) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["status", "--json", "--control"])
        .arg(dir.join(format!("lb{n}.sock")))
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_default()
}

//! The guide's files, adapted to the lab and converted by the importers.
//!
//! The guide's addresses are public ones (its elastic IP 147.75.78.116)
//! and its interface names are those of its servers (bond0, ens14f1). The
//! demo rewrites them to the lab's (rampart-lab's seed topology: private
//! ranges only, so nothing the demo sends could reach a real host), then
//! runs the same importers as `rampart import`. What it changes, all in
//! [`lab_rewrites`] and [`tune`]:
//!
//! | guide | lab |
//! |---|---|
//! | elastic IP 147.75.78.116 | VIP 10.10.0.10 (switch "pub") |
//! | lb1 / lb2 bond0 10.99.181.141 / .129 | eth0 10.10.0.11 / .12 |
//! | ens14f1, enp1s0f1 (private side) | eth1 (192.168.1.0/24, as in the guide) |
//! | web1 / web2 192.168.1.10 / .11 | 192.168.1.21 / .22 |
//! | BGP neighbor 10.10.237.128, router id 10.10.237.129 | router 10.20.0.1 (switch "bgp"), router id = the node's eth2 |
//! | lb2: the guide's keepalived.conf with BACKUP, priority 100, src/peer swapped | same |
//!
//! and, to fit in a minute: health checks every 200 ms (fall 2, rise 1)
//! instead of HAProxy's 2 s (fall 3, rise 2); the BGP announcement follows
//! VRRP mastership of VI_1 (`while_master`) with no hold-down, where the
//! guide's filter announces from both nodes; a `[gateway]` masquerading
//! the private subnet out of eth2 (the guide does this with iptables).

use anyhow::{Context, Result, anyhow};

const HAPROXY_CFG: &str = include_str!("../../../../examples/seed-haproxy.cfg");
const KEEPALIVED_CONF: &str = include_str!("../../../../examples/seed-keepalived.conf");
/// The guide's bird.conf with its five-octet neighbor typo fixed.
const BIRD_CONF: &str = include_str!("../../../rampart-config/tests/bird/guide-fixed.conf");

pub const VIP: &str = "10.10.0.10";
pub const GATEWAY: &str = "192.168.1.1";
pub const ROUTER: &str = "10.20.0.1";
pub const ROUTER_AS: u32 = 65530;

/// The lab's address of lb `n` (1 or 2) on the public switch.
pub fn lb_pub(n: u8) -> String {
    format!("10.10.0.1{n}")
}

/// The lab's address of lb `n` on the router's switch.
pub fn lb_bgp(n: u8) -> String {
    format!("10.20.0.1{n}")
}

/// (guide, lab) text replacements for lb `n`, applied in order.
fn lab_rewrites(n: u8) -> Vec<(String, String)> {
    let (me, peer) = if n == 1 { (1, 2) } else { (2, 1) };
    let mut r: Vec<(String, String)> = [
        ("147.75.78.116", VIP),
        ("bond0", "eth0"),
        ("ens14f1", "eth1"),
        ("enp1s0f1", "eth1"),
        ("192.168.1.10:80", "192.168.1.21:80"),
        ("192.168.1.11:80", "192.168.1.22:80"),
        ("neighbor 10.10.237.128", "neighbor 10.20.0.1"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    r.push(("10.99.181.141".into(), lb_pub(me)));
    r.push(("10.99.181.129".into(), lb_pub(peer)));
    r.push((
        "router id 10.10.237.129".into(),
        format!("router id {}", lb_bgp(n)),
    ));
    if n == 2 {
        r.push(("state MASTER".into(), "state BACKUP".into()));
        r.push(("priority 101".into(), "priority 100".into()));
    }
    r
}

fn rewrite(text: &str, n: u8) -> String {
    lab_rewrites(n)
        .iter()
        .fold(text.to_string(), |t, (from, to)| t.replace(from, to))
}

/// One imported file: its TOML, and its warnings for the narration.
fn imported(r: Result<rampart_config::Imported, Vec<String>>) -> Result<rampart_config::Imported> {
    r.map_err(|errors| anyhow!("the importer refused a guide file: {}", errors.join("; ")))
}

/// A demo-speed change to the imported TOML; an error if the importer's
/// output no longer has the shape it expects (so the demo never runs a
/// config it did not mean to).
fn replace_once(toml: &str, from: &str, to: &str) -> Result<String> {
    if !toml.contains(from) {
        return Err(anyhow!("imported config has no `{from}` to adapt"));
    }
    Ok(toml.replacen(from, to, 1))
}

fn tune(mut toml: String, nat: bool) -> Result<String> {
    toml = replace_once(
        &toml,
        "balance = \"roundrobin\"\n",
        "balance = \"roundrobin\"\n\
         health = { check = \"tcp\", interval = \"200ms\", timeout = \"200ms\", fall = 2, rise = 1 }\n",
    )?;
    toml = replace_once(
        &toml,
        "[bgp]\n",
        "[bgp]\nhold_down = \"0s\"\nconnect_retry = \"1s\"\n",
    )?;
    toml = replace_once(
        &toml,
        r#"policy = { while_healthy = "www" }"#,
        r#"policy = { while_master = "VI_1" }"#,
    )?;
    if nat {
        toml.push_str(
            "\n# demo: the guide's iptables MASQUERADE, as rampart's gateway\n\
             [gateway]\nmasquerade = [{ source = \"192.168.1.0/24\", out = \"eth2\" }]\n",
        );
    }
    Ok(toml)
}

/// lb `n`'s config and the importers' warnings; `nat` adds the gateway's
/// masquerade (it needs `nft`).
pub fn node_config(n: u8, nat: bool) -> Result<(String, Vec<String>)> {
    let h = imported(rampart_config::import_haproxy(
        "haproxy.cfg",
        &rewrite(HAPROXY_CFG, n),
    ))?;
    let k = imported(rampart_config::import_keepalived(
        "keepalived.conf",
        &rewrite(KEEPALIVED_CONF, n),
        Some("www"),
    ))?;
    let b = imported(rampart_config::import_bird(
        "bird.conf",
        &rewrite(BIRD_CONF, n),
        Some("www"),
    ))?;
    let toml = tune(format!("{}\n{}\n{}", h.toml, k.toml, b.toml), nat)?;
    rampart_config::parse(&format!("lb{n}.toml"), &toml)
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("the adapted config of lb{n}:\n{toml}"))?;
    let warnings = [h.warnings, k.warnings, b.warnings].concat();
    Ok((toml, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_nodes_configs_import_and_parse() {
        for n in [1, 2] {
            for nat in [false, true] {
                let (toml, _) = node_config(n, nat).unwrap();
                assert!(!toml.contains("147.75.78.116"), "{toml}");
                assert!(!toml.contains("10.99.181"), "{toml}");
                assert!(!toml.contains("bond0"), "{toml}");
                assert!(
                    toml.contains(&format!("unicast_src = \"{}\"", lb_pub(n))),
                    "{toml}"
                );
                assert_eq!(toml.contains("[gateway]"), nat);
            }
        }
        let (lb2, _) = node_config(2, false).unwrap();
        assert!(lb2.contains("priority = 100"), "{lb2}");
    }
}

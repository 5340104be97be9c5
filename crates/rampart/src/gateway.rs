//! `[gateway]`: this node as the private subnet's router. Forwarding is
//! turned on through `/proc/sys` (and set back as it was found on stop);
//! source NAT lives in an nftables table of rampart's own, `inet rampart`,
//! replaced in one `nft -j -f -` transaction whenever the config changes
//! and deleted on stop. No other table or chain is ever touched, so rules
//! someone else keeps (a firewall, Docker) stay as they are.
//!
//! Both nodes keep NAT on whatever their VRRP state: only the master holds
//! the gateway VIP, so only the master sees the subnet's traffic (as in the
//! seed guide, where both LBs carry the iptables rule).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rampart_config::{Family, Gateway};
use serde_json::{Value, json};

/// rampart's nftables table (family `inet`: IPv4 and IPv6 rules in one).
pub const TABLE: &str = "rampart";

/// The nat chain's priority: `srcnat`, where iptables' POSTROUTING sits.
const SRCNAT: i32 = 100;

fn forwarding_path(f: Family) -> PathBuf {
    PathBuf::from(match f {
        Family::Ipv4 => "/proc/sys/net/ipv4/ip_forward",
        Family::Ipv6 => "/proc/sys/net/ipv6/conf/all/forwarding",
    })
}

/// A running gateway: what it changed, to set it back.
pub struct Active {
    /// Forwarding switches turned on, with the value each had before.
    saved: Vec<(Family, String)>,
    /// Whether the nftables table is in place.
    table: bool,
    /// Where `saved` is recorded (see [`state_path`]).
    state: PathBuf,
}

/// Where the forwarding values found before rampart changed them are kept
/// until a clean stop: a node that was killed (SIGKILL, panic) and starts
/// again restores what was there before the first run, not its own "1".
/// It lives in the node's runtime directory (one node per directory, by
/// its lock); one file per network namespace, as the switches are per
/// namespace.
fn state_path(runtime_dir: &Path) -> PathBuf {
    let ns: String = std::fs::read_link("/proc/self/ns/net")
        .map(|p| {
            p.to_string_lossy()
                .chars()
                .filter(char::is_ascii_digit)
                .collect()
        })
        .unwrap_or_default();
    runtime_dir.join(format!("gateway-net{ns}.forwarding"))
}

/// Values recorded by a run that did not stop cleanly ("ipv4 0" lines).
fn recorded(path: &Path) -> Vec<(Family, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (f, v) = l.split_once(' ')?;
            let v = v.trim();
            // Only what a forwarding switch can hold goes back into one.
            (!v.is_empty() && v.chars().all(|c| c.is_ascii_digit()))
                .then(|| Some((Family::from_name(f)?, v.to_string())))
                .flatten()
        })
        .collect()
}

fn record(path: &Path, saved: &[(Family, String)]) -> Result<()> {
    if saved.is_empty() {
        let _ = std::fs::remove_file(path);
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let text: String = saved
        .iter()
        .map(|(f, v)| format!("{} {v}\n", f.key()))
        .collect();
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Applies `[gateway]`, if the config has one. Whatever a previous run
/// left behind without a clean stop (its table, forwarding it turned on)
/// is cleaned up first.
///
/// `upgraded`: this program took over from a previous one (`rampart
/// upgrade`), whose record is its own: taken over, not "left behind".
pub async fn start(cfg: &Gateway, runtime_dir: &Path, upgraded: bool) -> Result<Option<Active>> {
    let state = state_path(runtime_dir);
    let leftover = recorded(&state);
    if !leftover.is_empty() && !upgraded {
        tracing::info!(
            "a previous run did not stop cleanly: forwarding values it found are restored from {}",
            state.display()
        );
    }
    if cfg.masquerade.is_empty() && !leftover.is_empty() {
        // That run's table, unless the new config replaces it anyway.
        if let Err(e) = nft(&delete_table()).await {
            tracing::debug!("no stale nftables table removed: {e:#}");
        }
    }
    let mut g = Active {
        saved: leftover,
        table: false,
        state,
    };
    if !cfg.is_enabled() {
        g.stop().await;
        return Ok(None);
    }
    if let Err(e) = g.apply(cfg).await {
        g.stop().await;
        return Err(e);
    }
    Ok(Some(g))
}

/// What a worker does when its supervisor died without stopping (kill -9,
/// OOM): forwarding back as recorded, then rampart's table deleted, then
/// the record removed — what [`Active::stop`] would have done. The next
/// run finds nothing left to restore.
pub async fn abandon(runtime_dir: &Path) {
    let state = state_path(runtime_dir);
    restore(&recorded(&state));
    match nft(&delete_table()).await {
        Ok(()) => tracing::warn!("nftables table inet {TABLE} deleted"),
        Err(e) => tracing::debug!("no nftables table to delete: {e:#}"),
    }
    let _ = record(&state, &[]);
}

impl Active {
    /// Brings forwarding and the NAT table in line with `cfg`: the table
    /// first (replaced atomically: if nft refuses the new one, the old
    /// stays), then forwarding, so nothing is forwarded untranslated.
    pub async fn apply(&mut self, cfg: &Gateway) -> Result<()> {
        if cfg.masquerade.is_empty() {
            if self.table {
                nft(&delete_table()).await?;
                self.table = false;
            }
        } else {
            nft(&ruleset(cfg)).await?;
            self.table = true;
            for m in &cfg.masquerade {
                tracing::info!("masquerading {} out of {}", m.source, m.out);
            }
        }
        // Families no longer listed go back to how they were.
        let (keep, drop): (Vec<_>, Vec<_>) = std::mem::take(&mut self.saved)
            .into_iter()
            .partition(|(f, _)| cfg.forward.contains(f));
        self.saved = keep;
        restore(&drop);
        for &f in &cfg.forward {
            let path = forwarding_path(f);
            let now = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            if !self.saved.iter().any(|(s, _)| *s == f) {
                self.saved.push((f, now.trim().to_string()));
            }
            // Recorded before the switch is touched.
            record(&self.state, &self.saved)?;
            if now.trim() != "1" {
                std::fs::write(&path, "1\n")
                    .with_context(|| format!("cannot turn on {} forwarding", f.key()))?;
                tracing::info!("{} forwarding on (was {})", f.key(), now.trim());
            }
        }
        record(&self.state, &self.saved)
    }

    /// Sets forwarding back as it was found, then deletes the table (no
    /// moment forwards untranslated), then forgets the recorded values.
    pub async fn stop(self) {
        restore(&self.saved);
        if self.table
            && let Err(e) = nft(&delete_table()).await
        {
            tracing::warn!("cannot delete nftables table inet {TABLE}: {e:#}");
        }
        let _ = record(&self.state, &[]);
    }
}

impl Active {
    /// What `rampart status` shows: forwarding as the kernel has it now
    /// (someone else may have turned it off), and the rules in place.
    pub fn status(&self, cfg: &Gateway) -> crate::control::GatewayStatus {
        crate::control::GatewayStatus {
            forwarding: self
                .saved
                .iter()
                .map(|(f, _)| {
                    let on =
                        std::fs::read_to_string(forwarding_path(*f)).is_ok_and(|v| v.trim() == "1");
                    (f.key().to_string(), on)
                })
                .collect(),
            masquerade: if self.table {
                cfg.masquerade
                    .iter()
                    .map(|m| format!("{} out {}", m.source, m.out))
                    .collect()
            } else {
                Vec::new()
            },
        }
    }
}

fn restore(saved: &[(Family, String)]) {
    for (f, before) in saved {
        if let Err(e) = std::fs::write(forwarding_path(*f), format!("{before}\n")) {
            tracing::warn!("cannot set {} forwarding back to {before}: {e}", f.key());
        }
    }
}

/// The whole table as one transaction: created if missing (so the delete
/// cannot fail), deleted, created anew with the chain and its rules.
pub fn ruleset(cfg: &Gateway) -> Value {
    let table = json!({ "family": "inet", "name": TABLE });
    let mut cmds = vec![
        json!({ "add": { "table": table } }),
        json!({ "delete": { "table": table } }),
        json!({ "add": { "table": table } }),
        json!({ "add": { "chain": {
            "family": "inet", "table": TABLE, "name": "postrouting",
            "type": "nat", "hook": "postrouting", "prio": SRCNAT, "policy": "accept",
        } } }),
    ];
    for m in &cfg.masquerade {
        let protocol = match Family::of(m.source.addr()) {
            Family::Ipv4 => "ip",
            Family::Ipv6 => "ip6",
        };
        cmds.push(json!({ "add": { "rule": {
            "family": "inet", "table": TABLE, "chain": "postrouting",
            "expr": [
                { "match": { "op": "==",
                    "left": { "payload": { "protocol": protocol, "field": "saddr" } },
                    "right": { "prefix": {
                        "addr": m.source.network().to_string(),
                        "len": m.source.prefix_len(),
                    } } } },
                { "match": { "op": "==",
                    "left": { "meta": { "key": "oifname" } },
                    "right": m.out } },
                { "masquerade": null },
            ],
        } } }));
    }
    json!({ "nftables": cmds })
}

fn delete_table() -> Value {
    let table = json!({ "family": "inet", "name": TABLE });
    json!({ "nftables": [
        { "add": { "table": table } },
        { "delete": { "table": table } },
    ] })
}

/// Runs `nft -j -f -` with `doc` on its standard input.
async fn nft(doc: &Value) -> Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new("nft")
        .args(["-j", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context(
            "cannot run nft (the [gateway] section needs nftables: apt-get install nftables)",
        )?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(doc.to_string().as_bytes()).await?;
    }
    let out = tokio::time::timeout(std::time::Duration::from_secs(10), child.wait_with_output())
        .await
        .context("nft did not finish within 10 s")??;
    if !out.status.success() {
        bail!(
            "nft refused the ruleset ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_rule_as_nftables_json() {
        let cfg = rampart_config::parse(
            "t.toml",
            "[gateway]\nmasquerade = [{ source = \"192.168.1.0/24\", out = \"bond0\" }, { source = \"fd00::/64\", out = \"bond0\" }]\nforward = [\"ipv4\", \"ipv6\"]\n",
        )
        .unwrap();
        let doc = ruleset(&cfg.gateway);
        let cmds = doc["nftables"].as_array().unwrap();
        // Replace in one transaction: add, delete, add, chain, two rules.
        assert_eq!(cmds.len(), 6);
        assert!(cmds[1]["delete"]["table"]["name"] == TABLE);
        let chain = &cmds[3]["add"]["chain"];
        assert_eq!(chain["type"], "nat");
        assert_eq!(chain["hook"], "postrouting");
        assert_eq!(chain["prio"], 100);
        let v4 = &cmds[4]["add"]["rule"]["expr"];
        assert_eq!(v4[0]["match"]["left"]["payload"]["protocol"], "ip");
        assert_eq!(v4[0]["match"]["right"]["prefix"]["addr"], "192.168.1.0");
        assert_eq!(v4[0]["match"]["right"]["prefix"]["len"], 24);
        assert_eq!(v4[1]["match"]["right"], "bond0");
        assert!(v4[2].as_object().unwrap().contains_key("masquerade"));
        let v6 = &cmds[5]["add"]["rule"]["expr"];
        assert_eq!(v6[0]["match"]["left"]["payload"]["protocol"], "ip6");
        assert_eq!(v6[0]["match"]["right"]["prefix"]["addr"], "fd00::");
    }
}

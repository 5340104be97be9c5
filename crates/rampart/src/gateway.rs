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

use anyhow::{Context, Result};
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

/// How often the NAT counters are read (`nft -j list table`): status,
/// `/metrics` and the dashboard read the last reading, never nft itself,
/// so the supervisor's loop never waits for nft.
const COUNTERS_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// The last reading of the counters; `None` when nft could not be read
/// (status then shows none rather than zeros, which a scraper would take
/// for a reset).
type Readings = std::sync::Arc<std::sync::Mutex<Option<Vec<Counter>>>>;

/// A running gateway: what it changed, to set it back.
pub struct Active {
    /// The counters' last reading, refreshed by `poller`.
    readings: Readings,
    poller: tokio::task::JoinHandle<()>,
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
    let readings = Readings::default();
    let mut g = Active {
        poller: tokio::spawn(poll_counters(readings.clone())),
        readings,
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
        self.poller.abort();
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
        let counted = self.readings.lock().ok().and_then(|r| r.clone());
        let nat = match (self.table, counted) {
            (true, Some(counted)) => cfg
                .masquerade
                .iter()
                .map(|m| {
                    let rule = rule_name(m);
                    let get = |kind: Counted| {
                        counted
                            .iter()
                            .find(|(k, n, _, _)| *k == kind && *n == rule)
                            .map_or((0, 0), |(_, _, p, b)| (*p, *b))
                    };
                    let (connections, _) = get(Counted::Connections);
                    let (packets_out, bytes_out) = get(Counted::Out);
                    let (packets_in, bytes_in) = get(Counted::In);
                    crate::control::NatRule {
                        rule,
                        connections,
                        packets_out,
                        bytes_out,
                        packets_in,
                        bytes_in,
                    }
                })
                .collect(),
            _ => Vec::new(),
        };
        crate::control::GatewayStatus {
            nat,
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
                cfg.masquerade.iter().map(rule_name).collect()
            } else {
                Vec::new()
            },
        }
    }
}

/// A masquerade rule as status and metrics name it (and its nftables
/// comment): `192.168.1.0/24 out bond0`.
fn rule_name(m: &rampart_config::Masquerade) -> String {
    format!("{} out {}", m.source, m.out)
}

/// What a counter in rampart's table counts, told by its comment's tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Counted {
    /// The masquerade rule itself: a nat chain sees each connection's
    /// first packet only (the rest follow its conntrack entry).
    Connections,
    /// Forwarded from the subnet out of the rule's interface.
    Out,
    /// Forwarded back in to the subnet (after NAT is undone).
    In,
}

impl Counted {
    const ALL: [Counted; 3] = [Counted::Connections, Counted::Out, Counted::In];

    fn tag(self) -> &'static str {
        match self {
            Counted::Connections => "nat ",
            Counted::Out => "out ",
            Counted::In => "in ",
        }
    }
}

/// A counter as listed: what it counts, its rule's name, packets, bytes.
type Counter = (Counted, String, u64, u64);

/// Reads the counters every [`COUNTERS_EVERY`] into `readings`.
async fn poll_counters(readings: Readings) {
    loop {
        let read = match counters().await {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::debug!("NAT counters: {e:#}");
                None
            }
        };
        if let Ok(mut r) = readings.lock() {
            *r = read;
        }
        tokio::time::sleep(COUNTERS_EVERY).await;
    }
}

/// Every counter in rampart's table, by its comment: `nft -j list table`.
async fn counters() -> Result<Vec<Counter>> {
    Ok(parse_counters(&crate::nft::list(TABLE).await?))
}

fn parse_counters(doc: &Value) -> Vec<Counter> {
    crate::nft::counters(doc)
        .into_iter()
        .filter_map(|(comment, packets, bytes)| {
            let (kind, name) = Counted::ALL
                .into_iter()
                .find_map(|k| Some((k, comment.strip_prefix(k.tag())?)))?;
            Some((kind, name.to_string(), packets, bytes))
        })
        .collect()
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
    // Counters only: the subnet's traffic each way through each rule's
    // interface, as forwarded (after NAT on the way back).
    cmds.push(json!({ "add": { "chain": {
        "family": "inet", "table": TABLE, "name": "forward",
        "type": "filter", "hook": "forward", "prio": 0, "policy": "accept",
    } } }));
    for m in &cfg.masquerade {
        let protocol = match Family::of(m.source.addr()) {
            Family::Ipv4 => "ip",
            Family::Ipv6 => "ip6",
        };
        let prefix = json!({ "prefix": {
            "addr": m.source.network().to_string(),
            "len": m.source.prefix_len(),
        } });
        let from_subnet = |field: &str| {
            json!({ "match": { "op": "==",
                "left": { "payload": { "protocol": protocol, "field": field } },
                "right": prefix } })
        };
        let on = |key: &str| json!({ "match": { "op": "==", "left": { "meta": { "key": key } }, "right": m.out } });
        let name = rule_name(m);
        let rule = |chain: &str, kind: Counted, expr: Vec<Value>| {
            json!({ "add": { "rule": {
                "family": "inet", "table": TABLE, "chain": chain,
                "comment": format!("{}{name}", kind.tag()), "expr": expr,
            } } })
        };
        cmds.push(rule(
            "postrouting",
            Counted::Connections,
            vec![
                from_subnet("saddr"),
                on("oifname"),
                json!({ "counter": null }),
                json!({ "masquerade": null }),
            ],
        ));
        cmds.push(rule(
            "forward",
            Counted::Out,
            vec![
                from_subnet("saddr"),
                on("oifname"),
                json!({ "counter": null }),
            ],
        ));
        cmds.push(rule(
            "forward",
            Counted::In,
            vec![
                from_subnet("daddr"),
                on("iifname"),
                json!({ "counter": null }),
            ],
        ));
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
    crate::nft::apply(&["-j"], &doc.to_string()).await
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
        // Replace in one transaction: add, delete, add, two chains, three
        // rules per masquerade (NAT, counters out and in).
        assert_eq!(cmds.len(), 11);
        assert!(cmds[1]["delete"]["table"]["name"] == TABLE);
        let chain = &cmds[3]["add"]["chain"];
        assert_eq!(chain["type"], "nat");
        assert_eq!(chain["hook"], "postrouting");
        assert_eq!(chain["prio"], 100);
        let v4 = &cmds[5]["add"]["rule"]["expr"];
        assert_eq!(v4[0]["match"]["left"]["payload"]["protocol"], "ip");
        assert_eq!(v4[0]["match"]["right"]["prefix"]["addr"], "192.168.1.0");
        assert_eq!(v4[0]["match"]["right"]["prefix"]["len"], 24);
        assert_eq!(v4[1]["match"]["right"], "bond0");
        assert!(v4[2].as_object().unwrap().contains_key("counter"));
        assert!(v4[3].as_object().unwrap().contains_key("masquerade"));
        assert_eq!(
            cmds[5]["add"]["rule"]["comment"],
            "nat 192.168.1.0/24 out bond0"
        );
        assert_eq!(cmds[4]["add"]["chain"]["hook"], "forward");
        let back = &cmds[7]["add"]["rule"];
        assert_eq!(back["chain"], "forward");
        assert_eq!(back["comment"], "in 192.168.1.0/24 out bond0");
        assert_eq!(
            back["expr"][0]["match"]["left"]["payload"]["field"],
            "daddr"
        );
        assert_eq!(back["expr"][1]["match"]["left"]["meta"]["key"], "iifname");
        let v6 = &cmds[8]["add"]["rule"]["expr"];
        assert_eq!(v6[0]["match"]["left"]["payload"]["protocol"], "ip6");
        assert_eq!(v6[0]["match"]["right"]["prefix"]["addr"], "fd00::");
    }

    /// What `nft -j list table inet rampart` prints (nftables 1.0.6).
    #[test]
    fn counters_are_read_by_rule_comment() {
        let listed: Value = serde_json::from_str(
            r#"{"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
            {"table": {"family": "inet", "name": "rampart", "handle": 3}},
            {"chain": {"family": "inet", "table": "rampart", "name": "postrouting", "handle": 1,
              "type": "nat", "hook": "postrouting", "prio": 100, "policy": "accept"}},
            {"rule": {"family": "inet", "table": "rampart", "chain": "postrouting", "handle": 2,
              "comment": "nat 192.168.1.0/24 out eth0", "expr": [
                {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                  "right": {"prefix": {"addr": "192.168.1.0", "len": 24}}}},
                {"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "eth0"}},
                {"counter": {"packets": 7, "bytes": 420}},
                {"masquerade": null}]}},
            {"rule": {"family": "inet", "table": "rampart", "chain": "postrouting", "handle": 3,
              "expr": [{"masquerade": null}]}}]}"#,
        )
        .unwrap();
        assert_eq!(
            parse_counters(&listed),
            vec![(
                Counted::Connections,
                "192.168.1.0/24 out eth0".to_string(),
                7,
                420
            )]
        );
    }
}

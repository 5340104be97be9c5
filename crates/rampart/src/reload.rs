//! What a reload did: the outcome the supervisor logs and sends to the
//! `rampart reload` client that asked for it (one per request: a request
//! queued behind a running reload gets the outcome of the reload that
//! read the file after it arrived, not the one already under way).

use std::fmt;

use rampart_config::Config;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

/// The result of one reload, as sent over the control socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ReloadOutcome {
    /// The new config runs: its worker reported ready.
    Reloaded(ReloadSummary),
    /// Nothing was applied (or the new worker never became ready); the
    /// previous worker keeps serving. Each error as `rampart check` renders
    /// it (config errors with file:line:column and the source line).
    Failed { errors: Vec<String> },
}

impl ReloadOutcome {
    pub fn failed(error: impl Into<String>) -> ReloadOutcome {
        ReloadOutcome::Failed {
            errors: vec![error.into()],
        }
    }
}

/// Where the supervisor sends a client's outcome.
pub type Waiter = oneshot::Sender<ReloadOutcome>;

/// What the applied config holds, and how its BGP neighbors compare with
/// the previous config's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadSummary {
    pub frontends: usize,
    pub backends: usize,
    pub servers: usize,
    pub bgp: NeighborChanges,
    /// VRRP instances by name, when the reload changed `[vrrp]` (applied
    /// in place: see `vrrp::diff`).
    #[serde(default)]
    pub vrrp: Option<NeighborChanges>,
    /// What the kernel refused of the new config (nft: the gateway's or
    /// the NAT table), while the rest runs: the previous rules stay.
    #[serde(default)]
    pub not_applied: Vec<String>,
}

/// BGP neighbors by name: same settings, different settings (their session
/// restarts), only in the new config, only in the old.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighborChanges {
    pub unchanged: usize,
    pub changed: usize,
    pub added: usize,
    pub removed: usize,
}

impl ReloadSummary {
    pub fn new(old: &Config, new: &Config) -> ReloadSummary {
        let (old_n, new_n) = (&old.bgp.neighbors, &new.bgp.neighbors);
        let mut bgp = NeighborChanges::default();
        for n in new_n {
            match old_n.iter().find(|o| o.name == n.name) {
                Some(o) if o == n => bgp.unchanged += 1,
                Some(_) => bgp.changed += 1,
                None => bgp.added += 1,
            }
        }
        bgp.removed = old_n
            .iter()
            .filter(|o| !new_n.iter().any(|n| n.name == o.name))
            .count();
        ReloadSummary {
            frontends: new.frontends.len(),
            backends: new.backends.len(),
            servers: new.backends.iter().map(|b| b.servers.len()).sum(),
            bgp,
            vrrp: None,
            not_applied: Vec::new(),
        }
    }

    /// With the VRRP instance counts (unchanged, changed, added, removed)
    /// of a reload that changed `[vrrp]`.
    pub fn with_vrrp(mut self, counts: Option<[usize; 4]>) -> ReloadSummary {
        self.vrrp = counts.map(|[unchanged, changed, added, removed]| NeighborChanges {
            unchanged,
            changed,
            added,
            removed,
        });
        self
    }
}

/// "1 neighbor unchanged, 2 neighbors added" (what = "neighbor").
fn changes(c: &NeighborChanges, what: &str) -> String {
    [
        (c.unchanged, "unchanged"),
        (c.changed, "changed"),
        (c.added, "added"),
        (c.removed, "removed"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, how)| format!("{} {how}", count(*n, what)))
    .collect::<Vec<_>>()
    .join(", ")
}

fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// One line: `reloaded: 2 frontends, 1 backend, 2 servers; bgp: 1 neighbor
/// unchanged` (the bgp part only when either config has neighbors).
impl fmt::Display for ReloadSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "reloaded: {}, {}, {}",
            count(self.frontends, "frontend"),
            count(self.backends, "backend"),
            count(self.servers, "server")
        )?;
        let bgp = changes(&self.bgp, "neighbor");
        if !bgp.is_empty() {
            write!(f, "; bgp: {bgp}")?;
        }
        if let Some(v) = &self.vrrp {
            write!(f, "; vrrp: {}", changes(v, "instance"))?;
        }
        for n in &self.not_applied {
            write!(f, "; NOT APPLIED: {n}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(neighbors: &[(&str, &str)]) -> Config {
        let mut text = String::from(
            r#"
[[frontend]]
name = "www"
bind = ["127.0.0.1:1"]
backend = "a"
[[frontend]]
name = "api"
bind = ["127.0.0.1:2"]
backend = "a"
[[backend]]
name = "a"
servers = [{ name = "s", addr = "127.0.0.1:3" }, { name = "t", addr = "127.0.0.1:4" }]
"#,
        );
        if !neighbors.is_empty() {
            text.push_str("[bgp]\nrouter_id = \"192.0.2.1\"\nlocal_as = 65001\n");
        }
        for (name, addr) in neighbors {
            text.push_str(&format!(
                "[[bgp.neighbor]]\nname = \"{name}\"\naddress = \"{addr}\"\nremote_as = 65000\n"
            ));
        }
        rampart_config::parse("t.toml", &text).unwrap_or_else(|e| panic!("{}", e.render()))
    }

    #[test]
    fn the_summary_counts_what_runs_and_how_bgp_neighbors_changed() {
        let one = cfg(&[("rtr", "192.0.2.9")]);
        assert_eq!(
            ReloadSummary::new(&one, &one).to_string(),
            "reloaded: 2 frontends, 1 backend, 2 servers; bgp: 1 neighbor unchanged"
        );
        let moved = cfg(&[("rtr", "192.0.2.8"), ("rtr2", "192.0.2.7")]);
        assert_eq!(
            ReloadSummary::new(&one, &moved).to_string(),
            "reloaded: 2 frontends, 1 backend, 2 servers; bgp: 1 neighbor changed, 1 neighbor added"
        );
        assert_eq!(
            ReloadSummary::new(&moved, &cfg(&[])).to_string(),
            "reloaded: 2 frontends, 1 backend, 2 servers; bgp: 2 neighbors removed"
        );
    }

    #[test]
    fn outcomes_round_trip_as_tagged_json() {
        let ok = ReloadOutcome::Reloaded(ReloadSummary::default());
        let text = serde_json::to_string(&ok).unwrap();
        assert!(text.starts_with(r#"{"outcome":"reloaded""#), "{text}");
        assert_eq!(serde_json::from_str::<ReloadOutcome>(&text).unwrap(), ok);
        let bad = ReloadOutcome::failed("x.toml:1:1: error: nope");
        let text = serde_json::to_string(&bad).unwrap();
        assert_eq!(serde_json::from_str::<ReloadOutcome>(&text).unwrap(), bad);
    }
}

//! `rampart show routes`: every prefix per neighbor with its attributes,
//! whether it is announced and why. The decision and its reason come from
//! `rampart_bgp::Announcer`; the session adds what only it knows (whether
//! the router has the route now, the next hop of the connection). Typed
//! here, serialized only at the control socket.

use std::net::IpAddr;
use std::time::Instant;

use rampart_bgp::{Decision, Otherwise, Policy, Verdict};
use serde::{Deserialize, Serialize};

/// The answer to `show routes`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Routes {
    pub neighbors: Vec<NeighborRoutes>,
}

/// One neighbor and the routes it is configured to get.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NeighborRoutes {
    pub name: String,
    pub address: String,
    /// The session's RFC 4271 state; `None` when no session runs (the
    /// neighbor is disabled, or its session is being replaced).
    pub session: Option<String>,
    /// Disabled by the operator (`rampart bgp disable`).
    pub disabled: bool,
    pub routes: Vec<RouteStatus>,
}

/// One prefix on one neighbor.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RouteStatus {
    pub prefix: String,
    /// What the announcer decided (see `verdict` and `reason`).
    pub announced: bool,
    /// The router has it from us now. An announced route is not sent
    /// while the session is not Established, nor when the session does
    /// not carry its family.
    pub sent: bool,
    /// The next hop sent, or that would be sent; `None` until the session
    /// has a connection to take its local address from.
    pub next_hop: Option<IpAddr>,
    pub med: Option<u32>,
    /// Sent on internal sessions only.
    pub local_pref: Option<u32>,
    /// Extra copies of our AS in the AS_PATH (external sessions).
    pub prepend: u8,
    /// `ASN:VALUE`.
    pub communities: Vec<String>,
    /// `GLOBAL:LOCAL1:LOCAL2`.
    pub large_communities: Vec<String>,
    pub policy: PolicyView,
    pub verdict: VerdictView,
    /// While held down: how long until the route is announced.
    pub held_down_ms: Option<u64>,
    /// The whole reason in words.
    pub reason: String,
}

/// [`rampart_bgp::Policy`], as the config file names it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PolicyView {
    Always,
    WhileMaster { instance: String },
    WhileHealthy { frontend: String, min_servers: u32 },
}

/// [`rampart_bgp::Verdict`] without its instants.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum VerdictView {
    Announced,
    /// The policy does not hold.
    PolicyFails,
    /// The policy holds again; the hold-down keeps it withdrawn a while.
    HeldDown,
    /// The operator disabled the neighbor.
    NeighborDisabled,
    /// The node drains (`rampart node drain`): announced with the
    /// GRACEFUL_SHUTDOWN community until its withdrawal.
    GracefulShutdown,
    /// The node is drained: withdrawn until `rampart node undrain`.
    NodeDrained,
}

/// What the neighbor's session says about one route: whether the router
/// has it and the next hop.
#[derive(Debug, Clone, Copy, Default)]
pub struct AtSession {
    pub sent: bool,
    pub next_hop: Option<IpAddr>,
}

impl RouteStatus {
    pub fn new(d: &Decision, at: AtSession, now: Instant) -> Self {
        let r = &d.route;
        let held_until = match d.reason.verdict {
            Verdict::HeldDown { until }
            | Verdict::NeighborDisabled {
                otherwise: Otherwise::HeldDown { until },
            } => Some(until),
            _ => None,
        };
        RouteStatus {
            prefix: r.prefix.to_string(),
            announced: d.reason.announced(),
            sent: at.sent,
            next_hop: at.next_hop,
            med: r.med,
            local_pref: r.local_pref,
            prepend: r.prepend,
            communities: r.communities.iter().map(|c| c.to_string()).collect(),
            large_communities: r.large_communities.iter().map(|c| c.to_string()).collect(),
            policy: match &d.reason.policy {
                Policy::Always => PolicyView::Always,
                Policy::WhileMaster(vi) => PolicyView::WhileMaster {
                    instance: vi.clone(),
                },
                Policy::WhileHealthy {
                    frontend,
                    min_servers,
                } => PolicyView::WhileHealthy {
                    frontend: frontend.clone(),
                    min_servers: *min_servers,
                },
            },
            verdict: match d.reason.verdict {
                Verdict::Announced => VerdictView::Announced,
                Verdict::PolicyFails => VerdictView::PolicyFails,
                Verdict::HeldDown { .. } => VerdictView::HeldDown,
                Verdict::NeighborDisabled { .. } => VerdictView::NeighborDisabled,
                Verdict::GracefulShutdown { .. } => VerdictView::GracefulShutdown,
                Verdict::NodeDrained { .. } => VerdictView::NodeDrained,
            },
            held_down_ms: held_until.map(|t| {
                u64::try_from(t.saturating_duration_since(now).as_millis()).unwrap_or(u64::MAX)
            }),
            reason: d.reason.text(now),
        }
    }

    /// MED, local-pref, prepend and communities, those that are set.
    fn attributes(&self) -> String {
        let mut parts = Vec::new();
        if let Some(m) = self.med {
            parts.push(format!("med {m}"));
        }
        if let Some(l) = self.local_pref {
            parts.push(format!("local-pref {l}"));
        }
        if self.prepend > 0 {
            parts.push(format!("prepend {}", self.prepend));
        }
        if !self.communities.is_empty() {
            parts.push(format!("communities {}", self.communities.join(" ")));
        }
        if !self.large_communities.is_empty() {
            parts.push(format!(
                "large-communities {}",
                self.large_communities.join(" ")
            ));
        }
        if parts.is_empty() {
            "-".to_string()
        } else {
            parts.join(", ")
        }
    }
}

/// The table `rampart show routes` prints: per neighbor, one row per
/// prefix and its reason below it.
pub fn render(routes: &Routes) -> String {
    if routes.neighbors.is_empty() {
        return "No BGP neighbor configured.\n".to_string();
    }
    let mut out = String::new();
    for n in &routes.neighbors {
        let session = match (&n.session, n.disabled) {
            (_, true) => "disabled by the operator".to_string(),
            (Some(s), false) => format!("session {s}"),
            (None, false) => "no session".to_string(),
        };
        out.push_str(&format!("BGP {} ({}): {session}\n", n.name, n.address));
        if n.routes.is_empty() {
            out.push_str("  no routes configured for it\n");
            continue;
        }
        let rows: Vec<[String; 5]> = n
            .routes
            .iter()
            .map(|r| {
                [
                    r.prefix.clone(),
                    if r.announced {
                        "announced"
                    } else {
                        "withdrawn"
                    }
                    .to_string(),
                    if r.sent { "yes" } else { "no" }.to_string(),
                    r.next_hop
                        .map_or_else(|| "-".to_string(), |h| h.to_string()),
                    r.attributes(),
                ]
            })
            .collect();
        let header = ["PREFIX", "STATE", "SENT", "NEXT HOP", "ATTRIBUTES"].map(str::to_string);
        let mut width = [0usize; 4];
        for row in std::iter::once(&header).chain(&rows) {
            for (w, cell) in width.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |row: &[String; 5]| {
            let [a, b, c, d, e] = row;
            let [wa, wb, wc, wd] = width;
            format!("  {a:<wa$}  {b:<wb$}  {c:<wc$}  {d:<wd$}  {e}\n")
        };
        out.push_str(&line(&header));
        for (row, r) in rows.iter().zip(&n.routes) {
            out.push_str(&line(row));
            out.push_str(&format!("    {}\n", r.reason));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(prefix: &str, announced: bool, reason: &str) -> RouteStatus {
        RouteStatus {
            prefix: prefix.into(),
            announced,
            sent: announced,
            next_hop: announced.then(|| "10.20.0.11".parse().unwrap_or(IpAddr::from([0; 4]))),
            med: None,
            local_pref: Some(100),
            prepend: 0,
            communities: vec!["65000:1".into()],
            large_communities: Vec::new(),
            policy: PolicyView::Always,
            verdict: if announced {
                VerdictView::Announced
            } else {
                VerdictView::NeighborDisabled
            },
            held_down_ms: None,
            reason: reason.into(),
        }
    }

    #[test]
    fn the_table_lines_up_and_gives_each_reason() {
        let text = render(&Routes {
            neighbors: vec![NeighborRoutes {
                name: "rtr".into(),
                address: "10.20.0.1".into(),
                session: Some("Established".into()),
                disabled: false,
                routes: vec![
                    route("10.10.0.10/32", true, "announced (policy always)"),
                    route("2001:db8:ffff::10/128", false, "withdrawn: because"),
                ],
            }],
        });
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "BGP rtr (10.20.0.1): session Established");
        let at = lines[1].find("STATE").unwrap_or(0);
        assert_eq!(lines[2].find("announced"), Some(at), "{text}");
        assert_eq!(lines[4].find("withdrawn"), Some(at), "{text}");
        let attrs = lines[1].find("ATTRIBUTES").unwrap_or(0);
        assert_eq!(
            lines[2].find("local-pref 100, communities 65000:1"),
            Some(attrs)
        );
        assert_eq!(lines[3], "    announced (policy always)");
        assert_eq!(lines[5], "    withdrawn: because");
        assert_eq!(render(&Routes::default()), "No BGP neighbor configured.\n");
    }

    #[test]
    fn json_names_policies_and_verdicts_in_snake_case() {
        let mut r = route("10.10.0.10/32", false, "x");
        r.policy = PolicyView::WhileHealthy {
            frontend: "www".into(),
            min_servers: 2,
        };
        let json = serde_json::to_string(&r).unwrap_or_default();
        assert!(json.contains(r#""verdict":"neighbor_disabled""#), "{json}");
        assert!(
            json.contains(r#""policy":{"while_healthy":{"frontend":"www","min_servers":2}}"#),
            "{json}"
        );
        let back: RouteStatus = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, r);
    }
}

//! Why a route is announced or withdrawn: the policy, what its input was
//! when last applied, and the verdict. `rampart show routes` prints it and
//! the daemon logs it on each change, so both say the same thing.

use std::fmt;
use std::time::Instant;

/// When an announcement is made (`policy` in `[[bgp.announce]]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Policy {
    /// Whenever the session is up.
    Always,
    /// While this node is master of the named VRRP instance.
    WhileMaster(String),
    /// While at least `min_servers` servers are up in the backend of the
    /// named frontend, and the proxy worker runs.
    WhileHealthy { frontend: String, min_servers: u32 },
}

impl fmt::Display for Policy {
    /// As the config file spells it, near enough to find it there.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Policy::Always => f.write_str("always"),
            Policy::WhileMaster(vi) => write!(f, "while_master {vi}"),
            Policy::WhileHealthy {
                frontend,
                min_servers,
            } => write!(f, "while_healthy {frontend} (min_servers {min_servers})"),
        }
    }
}

/// What a policy's input was when the announcer last applied it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// [`Policy::Always`] reads nothing.
    Always,
    /// Mastership of the policy's instance; `None`: no instance of that
    /// name runs (it counts as not master).
    Master(Option<bool>),
    /// Servers up in the frontend's backend (`None`: the frontend is not
    /// configured, so none are up), and whether the worker runs.
    Health {
        backend: Option<String>,
        up: u32,
        worker_ok: bool,
    },
}

/// The outcome for one route on one neighbor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Announced: the policy holds, and no hold-down is running.
    Announced,
    /// Withdrawn: the policy does not hold.
    PolicyFails,
    /// Withdrawn: the policy holds again after a fall, and the hold-down
    /// keeps the route withdrawn until `until` (unless it falls again).
    HeldDown { until: Instant },
    /// Withdrawn: the operator disabled the neighbor (`rampart bgp
    /// disable`); `otherwise` is what the policy alone would decide.
    NeighborDisabled { otherwise: Otherwise },
    /// Announced with the GRACEFUL_SHUTDOWN community: the node drains,
    /// and the route is withdrawn at `until`.
    GracefulShutdown { until: Instant },
    /// Withdrawn: the node is drained (`rampart node drain`, after its
    /// graceful shutdown); `otherwise` is what the policy alone would
    /// decide.
    NodeDrained { otherwise: Otherwise },
}

impl Verdict {
    /// The neighbor gets the route (tagged, while draining).
    pub fn announced(&self) -> bool {
        matches!(self, Verdict::Announced | Verdict::GracefulShutdown { .. })
    }
}

/// What the policy and hold-down decide, apart from the neighbor's admin
/// state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Otherwise {
    Announced,
    PolicyFails,
    HeldDown { until: Instant },
}

/// Why a route is announced or withdrawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    pub policy: Policy,
    pub observed: Observed,
    pub verdict: Verdict,
}

impl Reason {
    pub fn announced(&self) -> bool {
        self.verdict.announced()
    }

    /// One line for people: the verdict, the input the policy read, the
    /// policy, e.g. `withdrawn: 0 servers up in backend web, 1 needed
    /// (policy while_healthy www (min_servers 1))`. `now` turns a
    /// deadline (a hold-down's, a drain's withdrawal) into the time left:
    /// the core has no wall clock (`rampart show routes` gives the time of
    /// day of the drain's deadline beside it).
    pub fn text(&self, now: Instant) -> String {
        let input = self.input_text();
        let policy = &self.policy;
        let left = |until: Instant| until.saturating_duration_since(now).as_secs_f64();
        let held = |until: Instant| format!("held down for {:.1} s more after a fall", left(until));
        let otherwise = |o: Otherwise| match o {
            Otherwise::Announced => "otherwise announced".to_string(),
            Otherwise::PolicyFails => "otherwise withdrawn".to_string(),
            Otherwise::HeldDown { until } => format!("otherwise {}", held(until)),
        };
        // The verdict, and the admin state that overrides the policy.
        let (verdict, overridden) = match self.verdict {
            Verdict::Announced => ("announced".to_string(), None),
            Verdict::PolicyFails => ("withdrawn".to_string(), None),
            Verdict::HeldDown { until } => (format!("withdrawn: {}", held(until)), None),
            Verdict::GracefulShutdown { until } => (
                format!(
                    "graceful shutdown: announced with GRACEFUL_SHUTDOWN, withdrawn in {:.1} s",
                    left(until)
                ),
                None,
            ),
            Verdict::NeighborDisabled { otherwise: o } => {
                (otherwise(o), Some("neighbor disabled by the operator"))
            }
            Verdict::NodeDrained { otherwise: o } => (otherwise(o), Some("node drained")),
        };
        let detail = match input {
            Some(input) => format!("{verdict}: {input} (policy {policy})"),
            None => format!("{verdict} (policy {policy})"),
        };
        match overridden {
            Some(why) => format!("withdrawn: {why} ({detail})"),
            None => detail,
        }
    }

    /// The input the policy read, in words (none for `always`).
    fn input_text(&self) -> Option<String> {
        let text = match (&self.policy, &self.observed) {
            (Policy::WhileMaster(vi), Observed::Master(Some(true))) => {
                format!("master of VRRP instance {vi}")
            }
            (Policy::WhileMaster(vi), Observed::Master(Some(false))) => {
                format!("not master of VRRP instance {vi}")
            }
            (Policy::WhileMaster(vi), Observed::Master(None)) => {
                format!("VRRP instance {vi} is not running")
            }
            (Policy::WhileHealthy { frontend, .. }, Observed::Health { backend: None, .. }) => {
                format!("no frontend {frontend}")
            }
            (
                Policy::WhileHealthy { min_servers, .. },
                Observed::Health {
                    backend: Some(b),
                    up,
                    worker_ok,
                },
            ) => {
                let s = if *up == 1 { "" } else { "s" };
                let servers = format!("{up} server{s} up in backend {b}, {min_servers} needed");
                if *worker_ok {
                    servers
                } else {
                    format!("the proxy worker is down ({servers})")
                }
            }
            // Always reads nothing; a policy is never paired with another
            // policy's input.
            _ => return None,
        };
        Some(text)
    }
}

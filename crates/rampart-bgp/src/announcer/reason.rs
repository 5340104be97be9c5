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
        self.verdict == Verdict::Announced
    }

    /// One line for people: the verdict, the input the policy read, the
    /// policy, e.g. `withdrawn: 0 servers up in backend web, 1 needed
    /// (policy while_healthy www (min_servers 1))`. `now` turns a
    /// hold-down's deadline into the time left.
    pub fn text(&self, now: Instant) -> String {
        let input = self.input_text();
        let policy = &self.policy;
        let held = |until: Instant| {
            let left = until.saturating_duration_since(now).as_secs_f64();
            format!("held down for {left:.1} s more after a fall")
        };
        let (verdict, disabled) = match self.verdict {
            Verdict::Announced => ("announced".to_string(), false),
            Verdict::PolicyFails => ("withdrawn".to_string(), false),
            Verdict::HeldDown { until } => (format!("withdrawn: {}", held(until)), false),
            Verdict::NeighborDisabled { otherwise } => (
                match otherwise {
                    Otherwise::Announced => "otherwise announced".to_string(),
                    Otherwise::PolicyFails => "otherwise withdrawn".to_string(),
                    Otherwise::HeldDown { until } => format!("otherwise {}", held(until)),
                },
                true,
            ),
        };
        let detail = match input {
            Some(input) => format!("{verdict}: {input} (policy {policy})"),
            None => format!("{verdict} (policy {policy})"),
        };
        if disabled {
            format!("withdrawn: neighbor disabled by the operator ({detail})")
        } else {
            detail
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

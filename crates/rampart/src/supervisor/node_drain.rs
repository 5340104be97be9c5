//! `rampart node drain`: the whole node out of service in one command, in
//! the order operators ask for (withdraw routes without dropping
//! sessions):
//!
//! 1. BGP: every announced route is tagged GRACEFUL_SHUTDOWN (RFC 8326),
//!    so the routers move traffic to the other path while this one still
//!    works, then withdrawn after `withdraw_after`;
//! 2. VRRP: every instance resigns (priority 0, as at a graceful stop),
//!    and the drain waits until this node is master of none (bounded);
//! 3. connections: the workers close idle ones spread over `window`
//!    (HAProxy's `close-spread-time`); busy ones run to their end.
//!
//! A step with nothing to do (no BGP, no VRRP) passes at once. The steps
//! are driven by the supervisor's loop ([`Supervisor::drain_deadline`],
//! [`Supervisor::advance_drain`]), never by a task of their own, so a
//! reload or an undrain sees one state. `rampart node undrain` ends the
//! drain at any step: the routes come back, VRRP resumes the instances
//! the drain resigned (those the operator resigned by hand before stay
//! so), the close spread stops. While it is on, the drain owns VRRP (the
//! supervisor refuses `vrrp resign|resume`; an instance a reload adds
//! starts resigned). It survives reloads and worker restarts, and with
//! `[global] state_file` a restart (the node starts drained). After a
//! `rampart upgrade` mid-way, the new program withdraws the routes at its
//! start and goes on from the resign (the idle close with the default
//! settings): the order holds across the exec.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::Supervisor;
use crate::control::Asker;
use crate::ipc::ToWorker;

/// Longest the supervisor's loop waits for the BGP or VRRP driver's
/// answer: a stuck driver must not stop everything else; the drain goes
/// on with its next step (which fails safe: resign, close).
const DRIVER_WAIT: Duration = Duration::from_secs(2);

/// `f`'s output, or `None` (logged) after [`DRIVER_WAIT`].
async fn bounded<T>(f: impl std::future::Future<Output = T>) -> Option<T> {
    match tokio::time::timeout(DRIVER_WAIT, f).await {
        Ok(v) => Some(v),
        Err(_) => {
            tracing::error!("node drain: a driver did not answer within {DRIVER_WAIT:?}; going on");
            None
        }
    }
}

/// A driver's answer in words.
fn answer(a: Option<Result<String, String>>) -> String {
    match a {
        Some(Ok(s) | Err(s)) => s,
        None => format!("no answer within {DRIVER_WAIT:?}"),
    }
}

/// How often the drain looks whether VRRP has handed every instance over.
const RESIGN_POLL: Duration = Duration::from_millis(100);

/// `rampart node drain`'s settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainPlan {
    /// From tagging the routes to withdrawing them.
    pub withdraw_after: Duration,
    /// Over which idle connections are closed.
    pub window: Duration,
    /// Quiet this long, a connection counts as idle.
    pub idle: Duration,
}

impl DrainPlan {
    /// Longest `--withdraw-after` and `--window`.
    pub const MAX: Duration = Duration::from_secs(24 * 3600);

    /// A plan, or why not (a step longer than [`Self::MAX`]).
    pub fn new(
        withdraw_after: Duration,
        window: Duration,
        idle: Duration,
    ) -> Result<DrainPlan, String> {
        if [withdraw_after, window, idle]
            .iter()
            .any(|d| *d > Self::MAX)
        {
            return Err(format!(
                "node drain: --withdraw-after, --window and --idle are at most {} h",
                Self::MAX.as_secs() / 3600
            ));
        }
        Ok(DrainPlan {
            withdraw_after,
            window,
            idle,
        })
    }
}

/// A node drain under way, or done.
#[derive(Debug)]
pub(super) struct NodeDrain {
    plan: DrainPlan,
    /// When it was asked for.
    since: Instant,
    step: Step,
    /// Each step reached, and when.
    reached: Vec<(DrainStep, Instant)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Routes tagged GRACEFUL_SHUTDOWN; withdrawn at `until`.
    Withdrawing {
        until: Instant,
    },
    /// VRRP resigned; waiting until no instance is master here, at most
    /// until `bound`.
    Resigning {
        bound: Instant,
    },
    /// Idle connections closing until `until`.
    Closing {
        until: Instant,
    },
    Drained,
}

impl Step {
    fn name(&self) -> &'static str {
        self.public().text()
    }

    fn public(&self) -> DrainStep {
        match self {
            Step::Withdrawing { .. } => DrainStep::Withdrawing,
            Step::Resigning { .. } => DrainStep::Resigning,
            Step::Closing { .. } => DrainStep::Closing,
            Step::Drained => DrainStep::Drained,
        }
    }
}

/// A step of the drain, as status shows it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DrainStep {
    /// Routes tagged GRACEFUL_SHUTDOWN, withdrawn at the step's end.
    Withdrawing,
    /// Routes withdrawn (written to every session); VRRP resigned,
    /// waiting until no instance is master here.
    Resigning,
    /// Idle connections closing over the window.
    Closing,
    Drained,
}

impl DrainStep {
    pub fn text(self) -> &'static str {
        match self {
            DrainStep::Withdrawing => "withdrawing routes",
            DrainStep::Resigning => "resigning VRRP",
            DrainStep::Closing => "closing idle connections",
            DrainStep::Drained => "drained",
        }
    }
}

/// When the drain reached a step.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct StepReached {
    pub step: DrainStep,
    /// Seconds after `rampart node drain`.
    pub at_seconds: f64,
}

/// The drain as `rampart status` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NodeDrainStatus {
    pub step: DrainStep,
    /// Every step reached so far, in order.
    pub steps: Vec<StepReached>,
    /// Seconds since `rampart node drain`.
    pub seconds: f64,
    /// Seconds until the step ends (none once drained, or while waiting
    /// for the VRRP peer).
    pub step_left_seconds: Option<f64>,
    pub withdraw_after_seconds: f64,
    pub window_seconds: f64,
}

impl NodeDrain {
    /// A drain the previous program had (state file, or `rampart
    /// upgrade`). After a restart it is done: BGP and VRRP start drained.
    /// After an upgrade the VRRP instances may still be master (the drain
    /// was in its first step): BGP starts withdrawn, and the steps go on
    /// from there (resign, then the idle close with the default settings).
    pub(super) fn restored(upgraded: bool) -> NodeDrain {
        let now = Instant::now();
        let step = if upgraded {
            Step::Withdrawing { until: now }
        } else {
            Step::Drained
        };
        NodeDrain {
            plan: DrainPlan {
                withdraw_after: Duration::ZERO,
                window: Duration::from_secs(10),
                idle: Duration::from_secs(5),
            },
            since: now,
            step,
            reached: vec![(step.public(), now)],
        }
    }
}

impl Supervisor {
    /// Keeps in the state file the VRRP instances resigned now.
    pub(super) async fn keep_resigned(&mut self) {
        if let Some(v) = &self.vrrp {
            let Some(status) = bounded(v.status()).await else {
                return;
            };
            let resigned = status
                .into_iter()
                .filter(|i| matches!(i.state.as_str(), "stop" | "stopping"))
                .map(|i| i.name);
            self.admins.set_resigned(resigned);
        }
    }

    /// `rampart node drain` (`Some`) or `node undrain` (`None`): what it
    /// did, or why not. Logged at WARN with who asked.
    pub(super) async fn node_command(
        &mut self,
        drain: Option<DrainPlan>,
        who: &Asker,
    ) -> Result<String, String> {
        let Some(plan) = drain else {
            return Ok(self.undrain(who).await);
        };
        if let Some(d) = &self.node_drain {
            return Err(format!(
                "the node is already draining ({}, asked {:.0} s ago); `rampart node undrain` ends it",
                d.step.name(),
                d.since.elapsed().as_secs_f64()
            ));
        }
        let now = Instant::now();
        let (bgp, until) = match &self.bgp {
            Some(b) => match bounded(b.drain(Some(plan.withdraw_after))).await.flatten() {
                Some(d) => {
                    let at = d.withdraw_at.map_or(now, Instant::from_std);
                    (d.said, at)
                }
                None => ("BGP: the driver is gone".to_string(), now),
            },
            None => ("no BGP neighbor".to_string(), now),
        };
        self.node_drain = Some(NodeDrain {
            plan,
            since: now,
            step: Step::Withdrawing { until },
            reached: vec![(DrainStep::Withdrawing, now)],
        });
        self.admins.set_node_drained(true);
        let vrrp = if self.vrrp.is_some() {
            "then every VRRP instance resigns"
        } else {
            "no VRRP instance"
        };
        let said = format!(
            "node draining: {bgp}; {vrrp}; then idle connections close over {:.1} s",
            plan.window.as_secs_f64()
        );
        tracing::warn!("{said} (asked by {who})");
        self.advance_drain().await;
        Ok(said)
    }

    async fn undrain(&mut self, who: &Asker) -> String {
        let Some(d) = self.node_drain.take() else {
            return "the node is not draining".to_string();
        };
        let mut said = vec![format!("node drain ended (was {})", d.step.name())];
        if let Some(b) = &self.bgp
            && let Some(d) = bounded(b.drain(None)).await.flatten()
        {
            said.push(d.said);
        }
        if let Some(v) = &self.vrrp {
            said.push(answer(bounded(v.admin(false, None)).await));
            // What the operator resigned by hand before stays resigned.
            for name in self.admins.resigned() {
                said.push(answer(bounded(v.admin(true, Some(name))).await));
            }
        }
        self.admins.set_node_drained(false);
        self.keep_resigned().await;
        if matches!(d.step, Step::Closing { .. }) {
            self.tell_workers(&ToWorker::CloseIdle {
                window_ms: None,
                idle_ms: 0,
            })
            .await;
            said.push("idle connections no longer closed".into());
        }
        let said = said.join("; ");
        tracing::warn!("{said} (asked by {who})");
        said
    }

    /// When [`advance_drain`](Self::advance_drain) is next due.
    pub(super) fn drain_deadline(&self) -> Option<Instant> {
        match self.node_drain.as_ref()?.step {
            Step::Withdrawing { until } | Step::Closing { until } => Some(until),
            Step::Resigning { bound } => Some(bound.min(Instant::now() + RESIGN_POLL)),
            Step::Drained => None,
        }
    }

    /// Takes the drain through every step that is due.
    pub(super) async fn advance_drain(&mut self) {
        loop {
            let Some(d) = &self.node_drain else {
                return;
            };
            let (plan, step) = (d.plan, d.step);
            let now = Instant::now();
            let next = match step {
                Step::Withdrawing { until } if until <= now => {
                    // The BGP driver's own timer withdraws at the same
                    // moment; asking makes sure it has, before VRRP moves.
                    if let Some(b) = &self.bgp
                        && let Some(d) = bounded(b.drain(Some(Duration::ZERO))).await.flatten()
                    {
                        tracing::warn!("node drain: {}, written to every BGP session", d.said);
                    }
                    self.resign_all(plan).await
                }
                Step::Resigning { bound } => {
                    let masters = self
                        .vrrp
                        .as_ref()
                        .map_or(0, |v| v.masters().borrow().values().filter(|m| **m).count());
                    if masters > 0 && bound > now {
                        return;
                    }
                    if masters > 0 {
                        tracing::warn!(
                            "node drain: {masters} VRRP instance(s) still master after resigning (no peer took over); closing idle connections all the same"
                        );
                    } else {
                        tracing::warn!("node drain: no VRRP instance is master here any more");
                    }
                    self.close_idle(plan).await
                }
                Step::Closing { until } if until <= now => {
                    tracing::warn!(
                        "node drained in {:.1} s: no route announced, no VRRP instance master, idle connections closed",
                        now.duration_since(d.since).as_secs_f64()
                    );
                    Step::Drained
                }
                _ => return,
            };
            if let Some(d) = &mut self.node_drain {
                d.step = next;
                d.reached.push((next.public(), Instant::now()));
            }
        }
    }

    async fn resign_all(&mut self, plan: DrainPlan) -> Step {
        match &self.vrrp {
            Some(v) => {
                let said = answer(bounded(v.admin(true, None)).await);
                tracing::warn!("node drain: {said}");
                Step::Resigning {
                    bound: Instant::now() + self.resign_bound(),
                }
            }
            None => self.close_idle(plan).await,
        }
    }

    async fn close_idle(&mut self, plan: DrainPlan) -> Step {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        self.tell_workers(&ToWorker::CloseIdle {
            window_ms: Some(ms(plan.window)),
            idle_ms: ms(plan.idle),
        })
        .await;
        tracing::warn!(
            "node drain: closing connections idle for {:.1} s, spread over {:.1} s; busy ones run to their end",
            plan.idle.as_secs_f64(),
            plan.window.as_secs_f64()
        );
        Step::Closing {
            until: Instant::now() + plan.window,
        }
    }

    /// How long the peer may take to take every instance over: three of
    /// the longest advert interval, and a second (as a graceful stop).
    fn resign_bound(&self) -> Duration {
        let longest = self
            .cfg
            .vrrp
            .instances
            .iter()
            .map(|i| i.advert_interval)
            .max()
            .unwrap_or_default();
        longest * 3 + Duration::from_secs(1)
    }

    /// The drain as `rampart status` shows it.
    pub(super) fn drain_status(&self) -> Option<NodeDrainStatus> {
        let d = self.node_drain.as_ref()?;
        let now = Instant::now();
        let left = match d.step {
            Step::Withdrawing { until } | Step::Closing { until } => {
                Some(until.saturating_duration_since(now).as_secs_f64())
            }
            Step::Resigning { .. } | Step::Drained => None,
        };
        Some(NodeDrainStatus {
            step: d.step.public(),
            steps: d
                .reached
                .iter()
                .map(|(step, at)| StepReached {
                    step: *step,
                    at_seconds: at.duration_since(d.since).as_secs_f64(),
                })
                .collect(),
            seconds: now.duration_since(d.since).as_secs_f64(),
            step_left_seconds: left,
            withdraw_after_seconds: d.plan.withdraw_after.as_secs_f64(),
            window_seconds: d.plan.window.as_secs_f64(),
        })
    }
}

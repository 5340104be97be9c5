//! The driver's view of what instances track: the local proxy (fed by the
//! supervisor), links (netlink) and scripts (run here), turned into each
//! instance's effective priority by `rampart_vrrp::effective`.

use std::collections::HashMap;
use std::time::Duration;

use rampart_config::TrackScript;
use rampart_vrrp::{Hysteresis, Priority, Tracked};
use tokio::process::Command;
use tokio::sync::mpsc;

use super::build::{Input, InstancePlan};
use crate::health::ProxyHealth;

/// Current state of every tracked input.
pub struct Tracker {
    proxy: ProxyHealth,
    links: HashMap<String, bool>,
    scripts: Vec<Hysteresis>,
}

impl Tracker {
    pub fn new(proxy: ProxyHealth, scripts: &[TrackScript]) -> Tracker {
        Tracker {
            proxy,
            links: HashMap::new(),
            // A script counts as good until its first result: the first
            // result then decides at once (see `Hysteresis`).
            scripts: scripts
                .iter()
                .map(|s| Hysteresis::new(s.fall, s.rise, true))
                .collect(),
        }
    }

    /// A reload's scripts: one defined exactly as before keeps its state
    /// (no new fall/rise count), a new or changed one starts as at start.
    pub fn reload_scripts(&mut self, old: &[TrackScript], new: &[TrackScript]) {
        let kept = std::mem::take(&mut self.scripts);
        self.scripts = new
            .iter()
            .map(|s| {
                old.iter()
                    .position(|o| o == s)
                    .and_then(|at| kept.get(at).cloned())
                    .unwrap_or_else(|| Hysteresis::new(s.fall, s.rise, true))
            })
            .collect();
    }

    /// Each script's filtered state, by name (`rampart upgrade` hands it
    /// over).
    pub fn script_states(&self, scripts: &[TrackScript]) -> Vec<(String, bool)> {
        scripts
            .iter()
            .zip(&self.scripts)
            .map(|(s, h)| (s.name.clone(), h.ok()))
            .collect()
    }

    /// Starts each script named in `states` in that state rather than
    /// "good until its first result" (after `rampart upgrade`).
    pub fn seed_scripts(&mut self, scripts: &[TrackScript], states: &[(String, bool)]) {
        for (s, h) in scripts.iter().zip(self.scripts.iter_mut()) {
            if let Some((_, ok)) = states.iter().find(|(n, _)| *n == s.name) {
                *h = Hysteresis::established(s.fall, s.rise, *ok);
            }
        }
    }

    pub fn set_proxy(&mut self, p: ProxyHealth) {
        self.proxy = p;
    }

    pub fn set_link(&mut self, name: &str, up: bool) -> bool {
        self.links.insert(name.to_string(), up) != Some(up)
    }

    /// Records a script run; true if its filtered state changed.
    pub fn script_result(&mut self, index: usize, ok: bool) -> bool {
        self.scripts
            .get_mut(index)
            .and_then(|h| h.record(ok))
            .is_some()
    }

    /// The effective priority of an instance.
    pub fn priority(&self, plan: &InstancePlan) -> Priority {
        rampart_vrrp::effective(plan.core.priority, self.inputs(plan))
    }

    /// Each tracked input of an instance: what it is, whether it is good,
    /// and what it does to the priority now (`show vrrp`).
    pub fn parts(
        &self,
        plan: &InstancePlan,
        scripts: &[TrackScript],
    ) -> Vec<crate::control::TrackerPart> {
        plan.inputs
            .iter()
            .zip(self.inputs(plan))
            .map(|(input, t)| {
                let what = match input {
                    Input::Proxy {
                        backend,
                        min_servers,
                        ..
                    } => format!("backend {backend} has {min_servers}+ servers up"),
                    Input::Link { name, .. } => format!("interface {name} up"),
                    Input::Script { index, .. } => format!(
                        "script {}",
                        scripts.get(*index).map_or("?", |s| s.name.as_str())
                    ),
                };
                let effect = match (t.weight, t.ok) {
                    (0, false) => "fault".to_string(),
                    (w, false) if w < 0 => format!("{w}"),
                    (w, true) if w > 0 => format!("+{w}"),
                    _ => "0".to_string(),
                };
                crate::control::TrackerPart {
                    what,
                    ok: t.ok,
                    weight: t.weight,
                    effect,
                }
            })
            .collect()
    }

    fn inputs<'a>(&'a self, plan: &'a InstancePlan) -> impl Iterator<Item = Tracked> + 'a {
        plan.inputs.iter().map(|input| match input {
            Input::Proxy {
                backend,
                min_servers,
                weight,
            } => Tracked {
                weight: *weight,
                ok: self.proxy.worker_ok
                    && self.proxy.up.get(backend).copied().unwrap_or(0) >= *min_servers,
            },
            Input::Link { name, weight } => Tracked {
                weight: *weight,
                // Unknown links count as down until netlink says otherwise.
                ok: self.links.get(name).copied().unwrap_or(false),
            },
            Input::Script { index, weight } => Tracked {
                weight: *weight,
                ok: self.scripts.get(*index).is_some_and(Hysteresis::ok),
            },
        })
    }
}

/// Runs script `index` every `interval`, reporting success (exit 0 within
/// the timeout) as `(generation, index, ok)`.
pub fn spawn_script(
    generation: u64,
    index: usize,
    script: TrackScript,
    tx: mpsc::UnboundedSender<(u64, usize, bool)>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(script.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let ok = run_once(&script.command, script.timeout).await;
            if tx.send((generation, index, ok)).is_err() {
                return;
            }
        }
    })
}

async fn run_once(argv: &[String], timeout: Duration) -> bool {
    let Some((program, args)) = argv.split_first() else {
        return false;
    };
    let child = super::notify::spawn(
        Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true),
    )
    .await;
    match child {
        Ok(mut c) => match tokio::time::timeout(timeout, c.wait()).await {
            Ok(Ok(status)) => status.success(),
            Ok(Err(_)) => false,
            Err(_) => {
                let _ = c.kill().await;
                false
            }
        },
        Err(e) => {
            tracing::warn!(script = %program, "cannot run track script: {e}");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `rampart upgrade` carries: a failing script stays failing in
    /// the next program (not "good until its first result"), and needs
    /// `rise` successes, not one, to be good again.
    #[test]
    fn script_states_cross_an_upgrade() {
        let script = |name: &str| TrackScript {
            name: name.into(),
            command: vec!["/bin/true".into()],
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            fall: 2,
            rise: 3,
            weight: -20,
        };
        let scripts = vec![script("a"), script("b")];
        let mut old = Tracker::new(ProxyHealth::default(), &scripts);
        assert!(old.script_result(0, false), "the first result decides");
        assert!(!old.script_result(0, true), "then rise = 3 counts");
        let states = old.script_states(&scripts);
        assert_eq!(states, vec![("a".into(), false), ("b".into(), true)]);

        let mut new = Tracker::new(ProxyHealth::default(), &scripts);
        assert!(new.script_states(&scripts)[0].1, "fresh: good");
        new.seed_scripts(&scripts, &states);
        assert_eq!(new.script_states(&scripts), states);
        assert!(!new.script_result(0, true));
        assert!(!new.script_result(0, true));
        assert!(new.script_result(0, true), "good again after rise = 3");
    }

    #[tokio::test]
    async fn scripts_report_exit_status_and_timeouts() {
        assert!(run_once(&["/bin/true".into()], Duration::from_secs(5)).await);
        assert!(!run_once(&["/bin/false".into()], Duration::from_secs(5)).await);
        assert!(!run_once(&["/nonexistent/x".into()], Duration::from_secs(5)).await);
        let t = std::time::Instant::now();
        assert!(
            !run_once(
                &["/bin/sleep".into(), "5".into()],
                Duration::from_millis(200)
            )
            .await
        );
        assert!(t.elapsed() < Duration::from_secs(2));
    }
}

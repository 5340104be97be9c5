//! The supervisor's side of `mode = "nat"`: the plan from config, health
//! and admin state, handed to [`crate::nat`] whenever one of them changes.

use std::collections::HashSet;

use rampart_proxy::Admin;

use super::Supervisor;
use crate::nat::{Plan, Servers};

/// Health and admin state as the plan reads them.
struct Now<'a> {
    up: HashSet<(String, String)>,
    /// Checked servers whose first check has no result yet.
    unsettled: HashSet<(String, String)>,
    admins: &'a crate::admin::Admins,
    disabled: Vec<String>,
    /// NAT frontends whose table is in place here.
    serving: Vec<String>,
}

impl Servers for Now<'_> {
    fn up(&self, backend: &str, server: &str) -> bool {
        self.up.contains(&(backend.to_string(), server.to_string()))
    }

    fn settled(&self, backend: &str, server: &str) -> bool {
        !self
            .unsettled
            .contains(&(backend.to_string(), server.to_string()))
    }

    fn admin(&self, backend: &str, server: &str) -> (Admin, Option<u32>) {
        let st = self.admins.get(backend, server);
        (st.admin, st.weight)
    }

    fn frontend_enabled(&self, frontend: &str) -> bool {
        !self.disabled.iter().any(|d| d == frontend)
    }

    fn serving(&self, frontend: &str) -> bool {
        self.serving.iter().any(|f| f == frontend)
    }
}

impl Supervisor {
    pub(super) fn nat_plan(&self) -> Plan {
        let up: HashSet<(String, String)> = self
            .health
            .states()
            .into_iter()
            .filter(|(_, _, up)| *up)
            .map(|(b, s, _)| (b, s))
            .collect();
        let unchecked = |b: &rampart_config::Backend, s: &rampart_config::Server| {
            !s.check || b.health.check == rampart_config::Check::None
        };
        let unsettled = self
            .health
            .reports()
            .into_iter()
            .filter(|(key, r)| {
                let (b, s) = key;
                let Some(backend) = self.cfg.backend(b) else {
                    return false;
                };
                let checked = backend
                    .servers
                    .iter()
                    .any(|x| x.name == *s && !unchecked(backend, x));
                checked && r.last_ok.is_none() && !up.contains(key)
            })
            .map(|(key, _)| key)
            .collect();
        let now = Now {
            unsettled,
            up,
            admins: &self.admins,
            disabled: self.admins.disabled_frontends(&self.cfg),
            serving: self
                .nat
                .as_ref()
                .map(crate::nat::Active::serving)
                .unwrap_or_default(),
        };
        Plan::new(&self.cfg, &now)
    }

    /// Health, admin state or config changed: the kernel follows.
    pub(super) fn nat_sync(&mut self) {
        if let Some(n) = &self.nat {
            let plan = self.nat_plan();
            self.nat_waiting = plan.waiting();
            n.set(plan);
        }
    }

    /// After a reload: NAT frontends added, changed or all removed. Waits
    /// for the kernel: what it refused, for the reload's answer.
    pub(super) async fn reload_nat(&mut self) -> Option<String> {
        let plan = self.nat_plan();
        self.nat_waiting = plan.waiting();
        match (&self.nat, plan.is_empty()) {
            (Some(n), false) => {
                n.set(plan);
                n.applied().await.err().map(|e| {
                    format!(
                        "the NAT table: {e} (the previous table forwards; tried again every 2 s)"
                    )
                })
            }
            (Some(_), true) => {
                if let Some(n) = self.nat.take() {
                    tracing::warn!("no frontend in NAT mode any more: the NAT table is removed");
                    n.stop().await;
                }
                None
            }
            (None, false) => {
                match crate::nat::start(plan, self.nat_failures.clone(), &self.runtime_dir).await {
                    Ok(n) => {
                        self.nat = n;
                        None
                    }
                    Err(e) => {
                        tracing::error!("NAT frontends after the reload: {e:#}");
                        Some(format!("the NAT frontends: {e:#}"))
                    }
                }
            }
            (None, true) => None,
        }
    }
}

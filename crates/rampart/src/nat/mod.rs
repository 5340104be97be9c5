//! `mode = "nat"`: the kernel data plane. The supervisor turns config,
//! health and admin state into a [`Plan`] whenever one of them changes;
//! a task of this module brings the kernel's table (`inet rampart_nat`)
//! to the latest plan, one nft transaction at a time, and reads its
//! counters back every few seconds. There is no worker on this path.
//!
//! The table is deleted on a clean stop. After a `kill -9` it stays and
//! keeps forwarding (as a crashed HAProxy's connections would not); the
//! next start replaces it, or deletes it when no frontend is in NAT mode.

mod plan;
mod render;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
pub use plan::{Plan, Servers};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::control::{NatFrontendStatus, NatServerStatus};

/// How often the counters are read: status and `/metrics` read the last
/// reading, never nft itself.
const COUNTERS_EVERY: Duration = Duration::from_secs(2);

/// Counters by name (`to_0_1`): packets, bytes.
type Readings = Arc<Mutex<Vec<(String, u64, u64)>>>;

pub struct Active {
    desired: watch::Sender<Plan>,
    /// The plan the kernel has now (status names its counters by it).
    applied: Arc<Mutex<Plan>>,
    readings: Readings,
    applier: JoinHandle<()>,
    poller: JoinHandle<()>,
}

/// Brings the kernel to `plan`: the table replaced in one transaction, or
/// deleted when no frontend is in NAT mode (a table a killed run left
/// behind goes then too). Fails when nft refuses: the node does not start.
pub async fn start(plan: Plan) -> Result<Option<Active>> {
    if plan.is_empty() {
        if let Err(e) = crate::nft::apply(&[], &render::delete()).await {
            tracing::debug!("no NAT table to remove: {e:#}");
        }
        return Ok(None);
    }
    crate::nft::apply(&[], &render::full(&plan)).await?;
    log_plan(&plan, None);
    let applied = Arc::new(Mutex::new(plan.clone()));
    let (desired, rx) = watch::channel(plan);
    let readings = Readings::default();
    Ok(Some(Active {
        desired,
        applier: tokio::spawn(apply_latest(rx, applied.clone())),
        poller: tokio::spawn(poll_counters(readings.clone())),
        applied,
        readings,
    }))
}

/// Applies each new plan (the latest one, when several came meanwhile).
async fn apply_latest(mut rx: watch::Receiver<Plan>, applied: Arc<Mutex<Plan>>) {
    let mut failed = false;
    while rx.changed().await.is_ok() {
        let plan = rx.borrow_and_update().clone();
        let before = applied.lock().map(|p| p.clone()).unwrap_or_default();
        // A table of another shape (a reload), or one the last attempt
        // may have left half-known: replaced whole.
        let text = if failed || !plan.same_shape(&before) {
            render::full(&plan)
        } else {
            render::update(&plan)
        };
        match crate::nft::apply(&[], &text).await {
            Ok(()) => {
                failed = false;
                log_plan(&plan, Some(&before));
                if let Ok(mut a) = applied.lock() {
                    *a = plan;
                }
            }
            Err(e) => {
                failed = true;
                tracing::error!("NAT table not updated, the previous one stays: {e:#}");
            }
        }
    }
}

/// One line per frontend whose servers' shares changed.
fn log_plan(plan: &Plan, before: Option<&Plan>) {
    for f in &plan.frontends {
        let shares: Vec<String> = f
            .servers
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{} {}", s.name, share(&f.table, i)))
            .collect();
        let old = before.and_then(|b| b.frontends.iter().find(|o| o.name == f.name));
        if old.map(|o| (&o.table, o.accepting)) != Some((&f.table, f.accepting)) {
            tracing::info!(
                frontend = %f.name,
                "NAT {} -> {}: {}{}",
                f.vip,
                f.backend,
                shares.join(", "),
                if f.accepting { "" } else { " (disabled: new connections dropped)" }
            );
        }
    }
}

/// Server `i`'s share of `table`, as "42.0%".
fn share(table: &[u32], i: usize) -> String {
    if table.is_empty() {
        return "0%".to_string();
    }
    let n = table.iter().filter(|&&s| s as usize == i).count();
    format!("{:.1}%", n as f64 * 100.0 / table.len() as f64)
}

async fn poll_counters(readings: Readings) {
    loop {
        match crate::nft::list_counters(render::TABLE).await {
            Ok(doc) => {
                if let Ok(mut r) = readings.lock() {
                    *r = crate::nft::counter_objects(&doc);
                }
            }
            Err(e) => tracing::debug!("NAT counters: {e:#}"),
        }
        tokio::time::sleep(COUNTERS_EVERY).await;
    }
}

impl Active {
    /// The plan for now; applied soon after, unless it is the one in place.
    pub fn set(&self, plan: Plan) {
        self.desired.send_if_modified(|p| {
            let changed = *p != plan;
            *p = plan;
            changed
        });
    }

    pub async fn stop(self) {
        self.applier.abort();
        self.poller.abort();
        if let Err(e) = crate::nft::apply(&[], &render::delete()).await {
            tracing::warn!("cannot remove the NAT table: {e:#}");
        }
    }

    pub fn status(&self) -> Vec<NatFrontendStatus> {
        let plan = self.applied.lock().map(|p| p.clone()).unwrap_or_default();
        let readings = self.readings.lock().map(|r| r.clone()).unwrap_or_default();
        let get = |kind: &str, fi: usize, si: usize| {
            let tag = format!("{kind}_{fi}_{si}");
            readings
                .iter()
                .find(|(c, _, _)| *c == tag)
                .map_or((0, 0), |&(_, p, b)| (p, b))
        };
        plan.frontends
            .iter()
            .enumerate()
            .map(|(fi, f)| NatFrontendStatus {
                name: f.name.clone(),
                vip: f.vip.to_string(),
                backend: f.backend.clone(),
                accepting: f.accepting,
                table_size: f.table.len(),
                servers: f
                    .servers
                    .iter()
                    .enumerate()
                    .map(|(si, s)| {
                        let (packets_to, bytes_to) = get("to", fi, si);
                        let (packets_back, bytes_back) = get("back", fi, si);
                        NatServerStatus {
                            name: s.name.clone(),
                            addr: s.addr.to_string(),
                            share: f.table.iter().filter(|&&x| x as usize == si).count(),
                            connections: get("conn", fi, si).0,
                            packets_to,
                            bytes_to,
                            packets_back,
                            bytes_back,
                        }
                    })
                    .collect(),
            })
            .collect()
    }
}

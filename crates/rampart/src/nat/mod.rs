//! `mode = "nat"`: the kernel data plane. The supervisor turns config,
//! health and admin state into a [`Plan`] whenever one of them changes;
//! a task of this module brings the kernel's table (`inet rampart_nat`)
//! to the latest plan, one nft transaction at a time, and reads its
//! counters back every 500 ms. There is no worker on this path.
//!
//! The table is deleted on a clean stop. After a `kill -9` it stays (the
//! worker, seeing its supervisor die, takes the VIPs and forwarding away,
//! so it forwards nothing meanwhile); the next start changes it in place,
//! so the connections keep their pins, or deletes it when no frontend is
//! in NAT mode.

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
/// reading, never nft itself. Also the pace of the passive check below: a
/// server that answered none of the SYNs sent to it for two readings is
/// reported as a failed check, faster than the active checks' interval.
const COUNTERS_EVERY: Duration = Duration::from_millis(500);

/// How soon a table nft refused (or one found gone) is tried again.
const RETRY: Duration = Duration::from_secs(2);

/// Counters by name (`to_192_168_1_21_8080`): packets, bytes.
type Readings = Arc<Mutex<Vec<(String, u64, u64)>>>;

pub struct Active {
    /// Removed with the table (see [`start`]).
    marker: std::path::PathBuf,
    /// The latest plan, numbered.
    desired: watch::Sender<(u64, Plan)>,
    /// The number of the last plan the applier tried, and why it failed.
    tried: watch::Receiver<(u64, Option<String>)>,
    /// The plan the kernel has now (status names its counters by it).
    applied: Arc<Mutex<Plan>>,
    readings: Readings,
    applier: JoinHandle<()>,
    poller: JoinHandle<()>,
}

/// Brings the kernel to `plan`: the table changed in place in one
/// transaction (created if there is none), or deleted when no frontend is
/// in NAT mode (a table a killed run left behind goes then too). Fails
/// when nft refuses: the node does not start.
pub async fn start(
    plan: Plan,
    failures: Failures,
    runtime_dir: &std::path::Path,
) -> Result<Option<Active>> {
    // Kept while a table is in place, so that a node without NAT frontends
    // runs nft only to remove one a killed run left behind.
    let marker = runtime_dir.join("nat.table");
    if plan.is_empty() {
        if marker.exists() {
            if let Err(e) = crate::nft::apply(&[], &render::delete()).await {
                tracing::warn!("cannot remove the NAT table a previous run left: {e:#}");
            }
            let _ = std::fs::remove_file(&marker);
        }
        return Ok(None);
    }
    if let Err(e) = std::fs::create_dir_all(runtime_dir).and_then(|()| std::fs::write(&marker, ""))
    {
        tracing::warn!("cannot write {}: {e}", marker.display());
    }
    // A table a killed run or the program before an upgrade left is
    // changed in place: its connections keep their pins.
    bring(&plan, &in_place().await).await?;
    log_plan(&plan, None);
    let applied = Arc::new(Mutex::new(plan.clone()));
    let (desired, rx) = watch::channel((0, plan));
    let (tried_tx, tried) = watch::channel((0, None));
    let readings = Readings::default();
    let repair = Arc::new(tokio::sync::Notify::new());
    Ok(Some(Active {
        marker,
        desired,
        tried,
        applier: tokio::spawn(apply_latest(rx, tried_tx, applied.clone(), repair.clone())),
        poller: tokio::spawn(poll_counters(
            readings.clone(),
            applied.clone(),
            failures,
            repair,
        )),
        applied,
        readings,
    }))
}

/// Applies each new plan (the latest one, when several came meanwhile),
/// and puts the table back whole when the poller finds it gone (`nft
/// flush ruleset`, as a firewall's reload does) or an update failed.
async fn apply_latest(
    mut rx: watch::Receiver<(u64, Plan)>,
    tried: watch::Sender<(u64, Option<String>)>,
    applied: Arc<Mutex<Plan>>,
    repair: Arc<tokio::sync::Notify>,
) {
    let mut failed = false;
    loop {
        tokio::select! {
            changed = rx.changed() => if changed.is_err() { return },
            () = repair.notified() => failed = true,
            // A failed update is tried again, whole.
            () = tokio::time::sleep(RETRY), if failed => {}
        }
        let (number, plan) = rx.borrow_and_update().clone();
        let before = applied.lock().map(|p| p.clone()).unwrap_or_default();
        let done = if !failed && plan.same_shape(&before) {
            crate::nft::apply(&[], &render::update(&plan)).await
        } else {
            // A table of another shape (a reload): changed in place. After
            // a failure (or the table gone) what it holds is read first.
            let existing = if failed {
                in_place().await
            } else {
                render::names(&before)
            };
            bring(&plan, &existing).await
        };
        match done {
            Ok(()) => {
                failed = false;
                log_plan(&plan, Some(&before));
                if let Ok(mut a) = applied.lock() {
                    *a = plan;
                }
                tried.send_replace((number, None));
            }
            Err(e) => {
                failed = true;
                tracing::error!("NAT table not updated, the previous one stays: {e:#}");
                tried.send_replace((number, Some(format!("{e:#}"))));
            }
        }
    }
}

/// The objects of the table in place (none when there is no table).
async fn in_place() -> render::Names {
    match crate::nft::list(render::TABLE).await {
        Ok(doc) => render::listed(&doc),
        Err(_) => render::Names::new(),
    }
}

/// Brings the table from `existing` to `plan` in one transaction, in
/// place. Should nft refuse that (a table some other program changed),
/// the table is replaced whole, which costs the open connections their
/// pins: said at WARN.
async fn bring(plan: &Plan, existing: &render::Names) -> Result<()> {
    let Err(e) = crate::nft::apply(&[], &render::apply(plan, existing)).await else {
        return Ok(());
    };
    tracing::warn!(
        "the NAT table could not be changed in place ({e:#}): replacing it whole; \
         open connections whose server the table does not pick now are reset"
    );
    crate::nft::apply(&[], &render::full(plan)).await
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

/// Where servers that leave SYNs unanswered are reported, as
/// (backend, server): the supervisor counts each as a failed check.
pub type Failures = tokio::sync::mpsc::UnboundedSender<(String, String)>;

async fn poll_counters(
    readings: Readings,
    applied: Arc<Mutex<Plan>>,
    failures: Failures,
    repair: Arc<tokio::sync::Notify>,
) {
    let mut passive = Passive::default();
    loop {
        let started = std::time::Instant::now();
        let listed = crate::nft::list_counters(render::TABLE).await;
        // nft lists the whole table to print the counters: ~13 ms for 1021
        // entries, ~1 s for 131 071. Reading takes a tenth of a core at
        // most; big tables are read (and judged) less often.
        let pause = COUNTERS_EVERY.max(started.elapsed() * 10);
        match listed {
            Ok(doc) => {
                let read = crate::nft::counter_objects(&doc);
                let plan = applied.lock().map(|p| p.clone()).unwrap_or_default();
                for failed in passive.read(&plan, &read) {
                    let _ = failures.send(failed);
                }
                if let Ok(mut r) = readings.lock() {
                    *r = read;
                }
            }
            Err(e) if format!("{e:#}").contains("No such file or directory") => {
                tracing::warn!(
                    "the NAT table is gone (removed by someone else: `nft flush ruleset`?): \
                     putting it back"
                );
                if let Ok(mut r) = readings.lock() {
                    r.clear();
                }
                repair.notify_one();
            }
            Err(e) => tracing::debug!("NAT counters: {e:#}"),
        }
        tokio::time::sleep(pause).await;
    }
}

/// The kernel's view of a server's health: SYNs this node sent it against
/// SYN-ACKs back. A live server answers a SYN in milliseconds; one that
/// answered none of the SYNs sent to it in one reading by the end of the
/// next (a host gone, a refusing port: RST is no answer) fails once.
/// Judged only where the servers' replies come back through this node
/// (some reply of the frontend seen in the last [`REPLIES_SEEN`]
/// readings): in an active-active pair, the node without the gateway VIP
/// sees SYNs go and never their answers.
#[derive(Default)]
struct Passive {
    /// Per (backend, server): SYNs and SYN-ACKs at the last reading, and
    /// whether SYNs went out in the reading before.
    last: std::collections::HashMap<(String, String), (u64, u64, bool)>,
    /// Per frontend: replies at the last reading, and readings since one
    /// moved.
    replies: std::collections::HashMap<String, (u64, u32)>,
}

/// Readings (of [`COUNTERS_EVERY`]) a frontend's replies may stand still
/// before this node is taken for one not on their way back.
const REPLIES_SEEN: u32 = 20;

impl Passive {
    fn read(&mut self, plan: &Plan, read: &[(String, u64, u64)]) -> Vec<(String, String)> {
        let get = |name: String| {
            read.iter()
                .find(|(n, _, _)| *n == name)
                .map(|&(_, packets, _)| packets)
        };
        let mut failed = Vec::new();
        for f in &plan.frontends {
            let back: u64 = f
                .servers
                .iter()
                .filter_map(|s| get(render::counter("back", s.addr)))
                .sum();
            let (back0, still) = self
                .replies
                .get(&f.name)
                .copied()
                .unwrap_or((back, REPLIES_SEEN));
            let still = if back > back0 {
                0
            } else {
                still.saturating_add(1)
            };
            self.replies.insert(f.name.clone(), (back, still));
            let on_the_way_back = still < REPLIES_SEEN;
            for s in &f.servers {
                let (Some(syn), Some(synack)) = (
                    get(render::counter("conn", s.addr)),
                    get(render::counter("synack", s.addr)),
                ) else {
                    continue;
                };
                let key = (f.backend.clone(), s.name.clone());
                let waiting = match self.last.get(&key) {
                    // Counters went back: the table was replaced.
                    Some(&(syn0, ack0, _)) if syn < syn0 || synack < ack0 => false,
                    Some(&(syn0, ack0, waiting)) => {
                        if waiting && synack == ack0 && on_the_way_back {
                            failed.push(key.clone());
                        }
                        // SYNs of this reading, judged at the next.
                        syn > syn0 && synack == ack0
                    }
                    None => false,
                };
                self.last.insert(key, (syn, synack, waiting));
            }
        }
        failed
    }
}

impl Active {
    /// The plan for now; applied soon after, unless it is the one in place.
    pub fn set(&self, plan: Plan) {
        self.desired.send_if_modified(|(number, p)| {
            let changed = *p != plan;
            if changed {
                *number += 1;
                *p = plan;
            }
            changed
        });
    }

    /// The frontends of the latest plan that have their table (waiting
    /// for no first check).
    pub fn serving(&self) -> Vec<String> {
        self.desired
            .borrow()
            .1
            .frontends
            .iter()
            .filter(|f| !f.waiting)
            .map(|f| f.name.clone())
            .collect()
    }

    /// Waits until the applier has tried the latest plan (or a later
    /// one): why nft refused it, if it did. Bounded by nft's own deadline
    /// and a margin.
    pub async fn applied(&self) -> Result<(), String> {
        let want = self.desired.borrow().0;
        let mut tried = self.tried.clone();
        let done = tokio::time::timeout(
            Duration::from_secs(15),
            tried.wait_for(|(number, _)| *number >= want),
        )
        .await;
        match done {
            Ok(Ok(t)) => t.1.clone().map_or(Ok(()), Err),
            Ok(Err(_)) => Err("the NAT applier stopped".to_string()),
            Err(_) => Err("nft did not finish within 15 s".to_string()),
        }
    }

    pub async fn stop(self) {
        self.applier.abort();
        self.poller.abort();
        match crate::nft::apply(&[], &render::delete()).await {
            Ok(()) => {
                let _ = std::fs::remove_file(&self.marker);
            }
            Err(e) => tracing::warn!("cannot remove the NAT table: {e:#}"),
        }
    }

    pub fn status(&self) -> Vec<NatFrontendStatus> {
        let plan = self.applied.lock().map(|p| p.clone()).unwrap_or_default();
        let readings = self.readings.lock().map(|r| r.clone()).unwrap_or_default();
        let get = |kind: &str, server: std::net::SocketAddr| {
            let tag = render::counter(kind, server);
            readings
                .iter()
                .find(|(c, _, _)| *c == tag)
                .map_or((0, 0), |&(_, p, b)| (p, b))
        };
        plan.frontends
            .iter()
            .map(|f| NatFrontendStatus {
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
                        let (packets_to, bytes_to) = get("to", s.addr);
                        let (packets_back, bytes_back) = get("back", s.addr);
                        NatServerStatus {
                            name: s.name.clone(),
                            addr: s.addr.to_string(),
                            share: f.table.iter().filter(|&&x| x as usize == si).count(),
                            connections: get("conn", s.addr).0,
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

#[cfg(test)]
mod tests {
    use super::plan::{Frontend, Server};
    use super::*;

    #[test]
    fn a_server_answering_no_syn_for_a_whole_reading_fails_until_it_answers() {
        let plan = Plan {
            frontends: vec![Frontend {
                name: "www".into(),
                backend: "pool".into(),
                vip: "10.0.0.10:80".parse().unwrap(),
                allow: Vec::new(),
                deny: Vec::new(),
                rate_limit: None,
                accepting: true,
                servers: vec![Server {
                    name: "web1".into(),
                    addr: "192.168.1.21:80".parse().unwrap(),
                    weight: 1,
                    pinned: true,
                }],
                table: vec![0],
                waiting: false,
            }],
        };
        let mut p = Passive::default();
        let mut read = |syn: u64, synack: u64, back: u64| {
            p.read(
                &plan,
                &[
                    ("conn_192_168_1_21_80".to_string(), syn, 0),
                    ("synack_192_168_1_21_80".to_string(), synack, 0),
                    ("back_192_168_1_21_80".to_string(), back, 0),
                ],
            )
            .len()
        };
        assert_eq!(read(0, 0, 0), 0);
        assert_eq!(read(5, 5, 50), 0, "answered");
        assert_eq!(
            read(6, 5, 50),
            0,
            "a SYN just sent: its answer may be on the way"
        );
        assert_eq!(read(6, 5, 50), 1, "a whole reading without it");
        assert_eq!(
            read(6, 5, 50),
            0,
            "no new SYN: nothing more to judge (it can rise again)"
        );
        assert_eq!(read(7, 5, 50), 0);
        assert_eq!(read(7, 5, 50), 1);
        assert_eq!(read(8, 6, 60), 0, "it answers again");
        assert_eq!(read(9, 7, 70), 0);
        assert_eq!(read(1, 0, 0), 0, "the table was replaced: counted anew");
        assert_eq!(
            read(1, 0, 0),
            0,
            "the first reading after it knows nothing older"
        );
        // A node that sees no replies at all (not on their way back):
        // unanswered SYNs are no sign of anything.
        let mut p = Passive::default();
        let mut read = |syn: u64| {
            p.read(
                &plan,
                &[
                    ("conn_192_168_1_21_80".to_string(), syn, 0),
                    ("synack_192_168_1_21_80".to_string(), 0, 0),
                    ("back_192_168_1_21_80".to_string(), 0, 0),
                ],
            )
            .len()
        };
        for i in 0..30 {
            assert_eq!(read(i), 0, "reading {i}");
        }
    }
}

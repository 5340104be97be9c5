//! The BGP driver: feeds the `[bgp]` config, VRRP mastership, backend
//! health and the operator's disabled neighbors to the sans-IO
//! `rampart_bgp::Announcer`, which decides the routes each neighbor should
//! have (and says why: `show.rs`), and runs one task per neighbor
//! (`neighbor.rs`) around the sans-IO `rampart_bgp::Session`. Listeners on
//! port 179 hand incoming connections to their neighbor.

mod bfd;
mod listen;
use listen::{listen, listen_plan};
mod neighbor;
pub mod show;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use rampart_bgp::{
    Announcer, Backoff, Change, Community, Inputs, LargeCommunity, Route, SessionConfig,
};
use rampart_config::{AnnouncePolicy, Config, Family, Neighbor, PeerMode};
use rampart_sys::bgp_socket::BgpSockOpts;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::health::ProxyHealth;
use crate::task::{Inbox, TaskHandle};

/// Longest a stopping node waits for its neighbors to finish, beyond the
/// configured `shutdown_bound`.
const STOP_SLACK: Duration = Duration::from_secs(2);
/// Longest a node drain waits for the sessions to write a withdrawal.
const FLUSH_WAIT: Duration = Duration::from_secs(1);

/// Waits for every receiver (an answer or its sender's drop).
async fn futures_join(rxs: Vec<oneshot::Receiver<()>>) {
    for rx in rxs {
        let _ = rx.await;
    }
}

/// Controls a running BGP driver: its status is one JSON object per
/// neighbor; stopping withdraws every route, waits `shutdown_bound` for
/// the routers to act on it, then sends Cease / Administrative Shutdown.
pub struct Handle {
    task: TaskHandle<Vec<crate::control::BgpStatus>>,
    reconfigure: mpsc::UnboundedSender<Config>,
    upgrade: mpsc::UnboundedSender<Upgrade>,
}

/// The supervisor's requests to the manager besides status and stop.
enum Upgrade {
    /// Hand every Established session over, each neighbor given this
    /// long; the answer lists them.
    Handover(Duration, oneshot::Sender<Vec<Taken>>),
    /// Take sessions (back) over: the exec failed.
    Adopt(Vec<Taken>),
    /// `rampart bgp disable NAME [message]` / `enable NAME`.
    Enable {
        name: String,
        enable: bool,
        message: String,
        reply: oneshot::Sender<Result<String, String>>,
    },
    /// `rampart show routes`.
    Routes(oneshot::Sender<show::Routes>),
    /// `rampart node drain` (`Some(withdraw_after)`) or `undrain`
    /// (`None`): the answer says what changed, and when the routes are
    /// withdrawn.
    Drain(Option<Duration>, oneshot::Sender<Drained>),
}

/// What [`Handle::drain`] did.
#[derive(Debug, Clone)]
pub struct Drained {
    /// In words, for the operator and the log.
    pub said: String,
    /// When every route is withdrawn (already, if past); `None` after an
    /// undrain.
    pub withdraw_at: Option<Instant>,
}

pub use neighbor::Taken;

impl Handle {
    pub async fn status(&self) -> Vec<crate::control::BgpStatus> {
        self.task.status().await
    }

    pub async fn stop(self) {
        self.task.stop().await;
    }

    /// Applies a new, validated config the way `birdc configure` does:
    /// sessions with unchanged neighbors stay up and get only the route
    /// differences as UPDATEs; a changed neighbor's session is shut down
    /// gracefully (routes withdrawn, `shutdown_bound`, Cease) and started
    /// anew; a removed one is shut down; an added one starts.
    pub fn reconfigure(&self, cfg: &Config) {
        let _ = self.reconfigure.send(cfg.clone());
    }

    /// Hands every Established session over (see `neighbor::Cmd::Handover`)
    /// for `rampart upgrade`; the others close with the process.
    pub async fn handover(&self, wait: Duration) -> Vec<Taken> {
        let (tx, rx) = oneshot::channel();
        if self.upgrade.send(Upgrade::Handover(wait, tx)).is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// `rampart bgp disable|enable NAME`: a disabled neighbor's session is
    /// shut down gracefully (routes withdrawn, `shutdown_bound`, Cease /
    /// Administrative Shutdown with `message`) and not started again,
    /// through reloads too, until enabled. What changed, or why not.
    pub async fn set_enabled(
        &self,
        name: &str,
        enable: bool,
        message: &str,
    ) -> Result<String, String> {
        let (reply, rx) = oneshot::channel();
        self.upgrade
            .send(Upgrade::Enable {
                name: name.to_string(),
                enable,
                message: message.to_string(),
                reply,
            })
            .map_err(|_| "the BGP driver is gone".to_string())?;
        rx.await.map_err(|_| "the BGP driver is gone".to_string())?
    }

    /// `rampart show routes`: every neighbor's routes and why each is
    /// announced or not (none if the driver is gone).
    pub async fn routes(&self) -> show::Routes {
        let (tx, rx) = oneshot::channel();
        if self.upgrade.send(Upgrade::Routes(tx)).is_err() {
            return show::Routes::default();
        }
        rx.await.unwrap_or_default()
    }

    /// The node drain's BGP half (see `rampart_bgp::Announcer::drain`):
    /// every announced route is tagged GRACEFUL_SHUTDOWN now and withdrawn
    /// after `withdraw_after`; `None` ends the drain. `None` as the answer:
    /// the driver is gone.
    pub async fn drain(&self, withdraw_after: Option<Duration>) -> Option<Drained> {
        let (tx, rx) = oneshot::channel();
        self.upgrade.send(Upgrade::Drain(withdraw_after, tx)).ok()?;
        rx.await.ok()
    }

    /// Takes handed-over sessions back (the upgrade's exec failed).
    pub fn adopt(&self, sessions: Vec<Taken>) {
        let _ = self.upgrade.send(Upgrade::Adopt(sessions));
    }
}

/// One neighbor's task, as the manager sees it.
struct Peer {
    name: String,
    /// The neighbor's address: a new task for it waits until no retiring
    /// one still talks to the same router.
    address: IpAddr,
    /// The tokio id of its task in the manager's `JoinSet`.
    task: tokio::task::Id,
    routes: watch::Sender<Vec<Route>>,
    cmds: mpsc::UnboundedSender<neighbor::Cmd>,
    /// Where the listeners hand this neighbor's incoming connections.
    accept: mpsc::Sender<tokio::net::TcpStream>,
    /// Shut down because the config changed or dropped it; kept (its
    /// status still shown) until its task ends.
    retiring: bool,
}

/// Which neighbor task takes a connection accepted from an address, and
/// the socket options it gets. Shared with the listeners; replaced when
/// neighbors change.
type Routing = Arc<Mutex<HashMap<IpAddr, (mpsc::Sender<tokio::net::TcpStream>, BgpSockOpts)>>>;

/// Starts the driver if the config has neighbors; `adopted` are sessions
/// a previous process handed over (`rampart upgrade`), which go on without
/// a reset where their neighbor is still configured.
pub fn start(
    cfg: &Config,
    proxy: watch::Receiver<ProxyHealth>,
    masters: watch::Receiver<BTreeMap<String, bool>>,
    adopted: Vec<Taken>,
    disabled: std::collections::BTreeSet<String>,
    drained: bool,
) -> Result<Option<Handle>> {
    let bgp = &cfg.bgp;
    if !bgp.is_enabled() {
        return Ok(None);
    }
    let mut manager = Manager {
        bgp: bgp.clone(),
        announcer: Announcer::new(plan(cfg), disabled),
        peers: Vec::new(),
        tasks: JoinSet::new(),
        routing: Routing::default(),
        listeners: Vec::new(),
        bfd: bfd::Bfd::default(),
    };
    // The routes each session should carry from its first moment: a
    // taken-over session compares them with what its peer has.
    let now = Instant::now();
    log(
        now,
        manager
            .announcer
            .set_inputs(now, inputs(&proxy.borrow(), &masters.borrow())),
    );
    if drained {
        // The node is drained (`rampart node drain`, kept in the state
        // file): no route from the first moment.
        log(now, manager.announcer.drain(now, Duration::ZERO));
    }
    manager.adopt(adopted);
    manager.start_missing();
    manager.bfd.sync(&[], &bgp.neighbors);
    manager.listeners = listen(&bgp.neighbors, &manager.routing)?;
    let (tx, rx) = mpsc::unbounded_channel();
    let (up_tx, up_rx) = mpsc::unbounded_channel();
    Ok(Some(Handle {
        task: TaskHandle::spawn(|inbox| manager.run(proxy, masters, inbox, rx, up_rx)),
        reconfigure: tx,
        upgrade: up_tx,
    }))
}

/// The announcer's view of the config.
fn plan(cfg: &Config) -> rampart_bgp::Plan {
    let bgp = &cfg.bgp;
    rampart_bgp::Plan {
        hold_down: bgp.hold_down,
        neighbors: bgp
            .neighbors
            .iter()
            .map(|n| rampart_bgp::NeighborPlan {
                name: n.name.clone(),
                med: n.med,
                local_pref: n.local_pref,
                prepend: n.prepend,
            })
            .collect(),
        announces: bgp.announces.iter().map(announce).collect(),
        frontends: cfg
            .frontends
            .iter()
            .map(|f| (f.name.clone(), f.backend.clone()))
            .collect(),
    }
}

fn announce(a: &rampart_config::Announce) -> rampart_bgp::Announce {
    rampart_bgp::Announce {
        prefix: a.prefix,
        policy: match &a.policy {
            AnnouncePolicy::Always => rampart_bgp::Policy::Always,
            AnnouncePolicy::WhileMaster(vi) => rampart_bgp::Policy::WhileMaster(vi.clone()),
            AnnouncePolicy::WhileHealthy {
                frontend,
                min_servers,
            } => rampart_bgp::Policy::WhileHealthy {
                frontend: frontend.clone(),
                min_servers: *min_servers,
            },
        },
        neighbors: a.neighbors.clone(),
        communities: a.communities.iter().map(|c| Community(*c)).collect(),
        large_communities: a
            .large_communities
            .iter()
            .map(|[g, l1, l2]| LargeCommunity {
                global: *g,
                local1: *l1,
                local2: *l2,
            })
            .collect(),
        med: a.med,
    }
}

/// The node's state as the announcer reads it.
fn inputs(proxy: &ProxyHealth, masters: &BTreeMap<String, bool>) -> Inputs {
    Inputs {
        masters: masters.clone(),
        up: proxy.up.iter().map(|(b, n)| (b.clone(), *n)).collect(),
        worker_ok: proxy.worker_ok,
    }
}

/// Logs each announcement whose outcome changed, with its reason.
fn log(now: Instant, changes: Vec<Change>) {
    for c in changes {
        tracing::info!(prefix = %c.prefix, "BGP announcement {}", c.reason.text(now));
    }
}

fn session_config(
    local_as: u32,
    router_id: Ipv4Addr,
    retry: Duration,
    n: &Neighbor,
) -> SessionConfig {
    let mut c = SessionConfig::new(local_as, n.remote_as, router_id, n.address);
    c.hold_time = u16::try_from(n.hold_time.as_secs()).unwrap_or(u16::MAX);
    c.families = n
        .families
        .iter()
        .map(|f| match f {
            Family::Ipv4 => rampart_bgp::Family::Ipv4Unicast,
            Family::Ipv6 => rampart_bgp::Family::Ipv6Unicast,
        })
        .collect();
    c.passive = n.mode == PeerMode::Passive;
    c.next_hop_v4 = n.next_hop_v4;
    c.next_hop_v6 = n.next_hop_v6;
    // Jitter seeded per node and neighbor, so two rampart nodes that
    // connect to each other at the same instant do not retry in step.
    let seed = u64::from(u32::from(router_id)) << 32 ^ u64::from(n.remote_as) ^ n.name.len() as u64;
    c.connect_retry = Backoff {
        initial: retry,
        max: rampart_bgp::DEFAULT_CONNECT_RETRY_MAX,
        jitter_seed: Some(seed | 1),
    };
    c
}

fn sock_opts(n: &Neighbor) -> BgpSockOpts {
    let mut o = if n.ttl_security {
        BgpSockOpts::gtsm(n.multihop)
    } else {
        BgpSockOpts {
            ttl: n.multihop,
            ..BgpSockOpts::default()
        }
    };
    o.md5_key = n.password.as_ref().map(|p| p.as_bytes().to_vec());
    o
}

struct Manager {
    bgp: rampart_config::Bgp,
    /// What each neighbor should get, and why; it also keeps the
    /// neighbors the operator disabled (not started until enabled).
    announcer: Announcer,
    peers: Vec<Peer>,
    /// The neighbor tasks; each one's output is nothing, its id says who.
    tasks: JoinSet<()>,
    routing: Routing,
    listeners: Vec<JoinHandle<()>>,
    /// BFD sessions of the neighbors with `bfd = true`.
    bfd: bfd::Bfd,
}

impl Manager {
    /// See [`Handle::drain`].
    fn drain(&mut self, withdraw_after: Option<Duration>) -> Drained {
        let now = Instant::now();
        let Some(after) = withdraw_after else {
            let changes = self.announcer.undrain();
            let said = format!("BGP: drain ended, {} route(s) back", changes.len());
            log(now, changes);
            return Drained {
                said,
                withdraw_at: None,
            };
        };
        let changes = self.announcer.drain(now, after);
        let d = self.announcer.draining();
        let withdraw_at = d.map_or(now, |d| d.withdraw_at);
        let said = match d {
            Some(d) if d.withdrawn => "BGP: every route withdrawn".to_string(),
            _ => format!(
                "BGP: {} route(s) tagged GRACEFUL_SHUTDOWN (65535:0), all withdrawn in {:.1} s",
                changes.len(),
                withdraw_at.saturating_duration_since(now).as_secs_f64()
            ),
        };
        log(now, changes);
        Drained {
            said,
            withdraw_at: Some(withdraw_at),
        }
    }

    /// See [`Handle::set_enabled`].
    fn set_enabled(&mut self, name: &str, enable: bool, message: &str) -> Result<String, String> {
        if !self.bgp.neighbors.iter().any(|n| n.name == name) {
            return Err(format!("no BGP neighbor `{name}`"));
        }
        if enable {
            if !self.announcer.set_disabled(name, false) {
                return Ok(format!("BGP neighbor {name} was not disabled"));
            }
            self.start_missing();
            return Ok(format!("BGP neighbor {name} enabled"));
        }
        if !self.announcer.set_disabled(name, true) {
            return Ok(format!("BGP neighbor {name} was already disabled"));
        }
        let bound = self.bgp.shutdown_bound;
        for p in self
            .peers
            .iter_mut()
            .filter(|p| p.name == name && !p.retiring)
        {
            p.retiring = true;
            let _ = p
                .cmds
                .send(neighbor::Cmd::Shutdown(message.to_string(), bound));
        }
        self.update_routing();
        Ok(format!(
            "BGP neighbor {name} disabled: routes withdrawn, Cease in {bound:?} (\"{message}\")"
        ))
    }

    async fn run(
        mut self,
        mut proxy: watch::Receiver<ProxyHealth>,
        mut masters: watch::Receiver<BTreeMap<String, bool>>,
        inbox: Inbox<Vec<crate::control::BgpStatus>>,
        mut reconfigure: mpsc::UnboundedReceiver<Config>,
        mut upgrade: mpsc::UnboundedReceiver<Upgrade>,
    ) {
        let Inbox {
            mut stop,
            mut status,
        } = inbox;
        self.evaluate(
            Instant::now(),
            &proxy.borrow_and_update(),
            &masters.borrow_and_update(),
        );
        let reply = loop {
            let deadline = self.announcer.poll_timeout();
            let sleep = tokio::time::sleep_until(crate::task::deadline(deadline));
            tokio::select! {
                Ok(()) = proxy.changed() => {}
                Ok(()) = masters.changed() => {}
                _ = sleep, if deadline.is_some() => {
                    let now = Instant::now();
                    log(now, self.announcer.handle_timeout(now));
                }
                Some(cfg) = reconfigure.recv() => self.reconfigure(&cfg).await,
                Some(ev) = self.bfd.next_event() => self.bfd_event(ev),
                Some(u) = upgrade.recv() => match u {
                    Upgrade::Handover(wait, reply) => {
                        let taken = self.handover(wait).await;
                        let _ = reply.send(taken);
                    }
                    Upgrade::Adopt(sessions) => {
                        self.adopt(sessions);
                        self.start_missing();
                    }
                    Upgrade::Enable { name, enable, message, reply } => {
                        let _ = reply.send(self.set_enabled(&name, enable, &message));
                    }
                    Upgrade::Routes(reply) => {
                        let _ = reply.send(self.show_routes().await);
                        continue;
                    }
                    // Answered once every session has written the routes
                    // (bounded, in a task of its own so this loop goes
                    // on): the node drain resigns VRRP only after the
                    // withdrawal left.
                    Upgrade::Drain(after, reply) => {
                        let drained = self.drain(after);
                        self.evaluate(Instant::now(), &proxy.borrow(), &masters.borrow());
                        let flushes: Vec<_> = self
                            .peers
                            .iter()
                            .filter(|p| !p.retiring)
                            .filter_map(|p| {
                                let (tx, rx) = oneshot::channel();
                                p.cmds.send(neighbor::Cmd::Flush(tx)).ok().map(|()| rx)
                            })
                            .collect();
                        tokio::spawn(async move {
                            let all = futures_join(flushes);
                            if tokio::time::timeout(FLUSH_WAIT, all).await.is_err() {
                                tracing::warn!("BGP: a session did not write its routes within {FLUSH_WAIT:?}");
                            }
                            let _ = reply.send(drained);
                        });
                    }
                },
                Some(done) = self.tasks.join_next_with_id() => {
                    let id = match done {
                        Ok((id, ())) => id,
                        Err(e) => e.id(),
                    };
                    self.task_ended(id);
                }
                Some(reply) = status.recv() => {
                    let mut all = Vec::new();
                    for p in &self.peers {
                        let (tx, rx) = oneshot::channel();
                        if p.cmds.send(neighbor::Cmd::Status(tx)).is_ok()
                            && let Ok(v) = rx.await
                        {
                            all.push(v);
                        }
                    }
                    self.bfd.attach(&mut all).await;
                    let _ = reply.send(all);
                    continue;
                }
                r = &mut stop => break r.ok(),
            }
            self.evaluate(
                Instant::now(),
                &proxy.borrow_and_update(),
                &masters.borrow_and_update(),
            );
        };
        let bound = self.bgp.shutdown_bound;
        tracing::info!("BGP stopping: withdrawing every route, Cease in {bound:?}");
        for l in &self.listeners {
            l.abort();
        }
        for p in self.peers.iter().filter(|p| !p.retiring) {
            let _ = p.cmds.send(neighbor::Cmd::Shutdown(
                "rampart is shutting down".into(),
                bound,
            ));
        }
        let end = tokio::time::Instant::now() + bound + STOP_SLACK;
        while let Ok(Some(done)) =
            tokio::time::timeout_at(end, self.tasks.join_next_with_id()).await
        {
            let id = done.map_or_else(|e| e.id(), |(id, ())| id);
            self.peers.retain(|p| p.task != id);
        }
        for p in &self.peers {
            tracing::warn!(neighbor = %p.name, "BGP session did not close within {:?}", bound + STOP_SLACK);
        }
        self.tasks.abort_all();
        // After BGP: a router that ties BGP to BFD must not see BFD go
        // first and reset the session ahead of the graceful shutdown.
        self.bfd.stop().await;
        if let Some(reply) = reply {
            let _ = reply.send(());
        }
    }

    /// Asks every serving neighbor task for its Established session; those
    /// that hand it over end, and are forgotten here.
    async fn handover(&mut self, wait: Duration) -> Vec<Taken> {
        let mut taken = Vec::new();
        for p in self.peers.iter().filter(|p| !p.retiring) {
            let (tx, rx) = oneshot::channel();
            if p.cmds.send(neighbor::Cmd::Handover(tx)).is_ok() {
                match tokio::time::timeout(wait, rx).await {
                    Ok(Ok(Some(t))) => taken.push(t),
                    Ok(_) => {}
                    // Its task keeps the session (it sees the answer is no
                    // longer wanted): it closes with the exec.
                    Err(_) => {
                        tracing::warn!(neighbor = %p.name, "BGP session not handed over within {wait:?}")
                    }
                }
            }
        }
        self.peers
            .retain(|p| !taken.iter().any(|t| t.name == p.name));
        self.bfd.hand_over(&mut taken, &self.bgp).await;
        taken
    }

    /// Starts a task for each taken-over session whose neighbor is
    /// configured and has none; the others are closed (dropping the
    /// descriptor), and their neighbors start anew.
    fn adopt(&mut self, sessions: Vec<Taken>) {
        for t in sessions {
            let known = self
                .bgp
                .neighbors
                .iter()
                .find(|n| n.name == t.name)
                .cloned();
            match known {
                Some(n)
                    if !self.peers.iter().any(|p| p.name == n.name)
                        && !self.announcer.is_disabled(&n.name) =>
                {
                    if let Some(h) = t.bfd {
                        self.bfd.handed_over(&n, h);
                    }
                    self.spawn_peer_with(&n, Some(t));
                }
                _ => {
                    tracing::info!(neighbor = %t.name, "BGP session handed over for a neighbor no longer configured: closed")
                }
            }
        }
        self.update_routing();
    }

    /// Starts the task of neighbor `n`.
    fn spawn_peer(&mut self, n: &Neighbor) {
        self.spawn_peer_with(n, None);
    }

    /// Starts the task of neighbor `n`, on a taken-over session if given.
    fn spawn_peer_with(&mut self, n: &Neighbor, resumed: Option<Taken>) {
        let router_id = self.bgp.router_id.unwrap_or(Ipv4Addr::UNSPECIFIED);
        let (routes_tx, routes_rx) = watch::channel(self.announcer.routes(&n.name));
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (acc_tx, acc_rx) = mpsc::channel(4);
        let spec = neighbor::Spec {
            name: n.name.clone(),
            session: session_config(self.bgp.local_as, router_id, self.bgp.connect_retry, n),
            peer: SocketAddr::new(n.address, n.port),
            local: n.local_address,
            opts: sock_opts(n),
            has_password: n.password.is_some(),
        };
        let task = self
            .tasks
            .spawn(neighbor::run(spec, routes_rx, acc_rx, cmd_rx, resumed))
            .id();
        self.peers.push(Peer {
            name: n.name.clone(),
            address: n.address,
            task,
            routes: routes_tx,
            cmds: cmd_tx,
            accept: acc_tx,
            retiring: false,
        });
    }

    /// Points each passive neighbor's address at its current task.
    fn update_routing(&self) {
        let map = self
            .peers
            .iter()
            .filter(|p| !p.retiring)
            .filter_map(|p| {
                let n = self.bgp.neighbors.iter().find(|n| n.name == p.name)?;
                (n.mode != PeerMode::Active).then(|| (n.address, (p.accept.clone(), sock_opts(n))))
            })
            .collect();
        if let Ok(mut m) = self.routing.lock() {
            *m = map;
        }
    }

    /// A neighbor task ended: once a retired session is closed, the
    /// neighbors waiting for it (changed, or renamed, with its address)
    /// start.
    fn task_ended(&mut self, id: tokio::task::Id) {
        let Some(i) = self.peers.iter().position(|p| p.task == id) else {
            return;
        };
        let p = self.peers.remove(i);
        if !p.retiring {
            return tracing::error!(neighbor = %p.name, "BGP neighbor task ended unexpectedly");
        }
        for name in self.start_missing() {
            tracing::info!(neighbor = %name, "BGP neighbor starting with its new configuration");
        }
    }

    /// Starts every configured neighbor that has no task, unless a
    /// retiring task still holds a session to its address (the two would
    /// collide at the router). Returns the names started.
    fn start_missing(&mut self) -> Vec<String> {
        let waiting: Vec<Neighbor> = self
            .bgp
            .neighbors
            .iter()
            .filter(|n| {
                !self.announcer.is_disabled(&n.name)
                    && !self
                        .peers
                        .iter()
                        .any(|p| p.name == n.name || p.retiring && p.address == n.address)
            })
            .cloned()
            .collect();
        for n in &waiting {
            self.spawn_peer(n);
        }
        self.update_routing();
        waiting.into_iter().map(|n| n.name).collect()
    }

    /// Applies a reloaded config (see `Handle::reconfigure`).
    async fn reconfigure(&mut self, cfg: &Config) {
        let new = &cfg.bgp;
        let old = std::mem::replace(&mut self.bgp, new.clone());
        // What every session is built from besides its neighbor.
        let global = old.router_id != new.router_id
            || old.local_as != new.local_as
            || old.connect_retry != new.connect_retry;
        let (mut kept, mut changed, mut removed) = (0, 0, 0);
        for p in self.peers.iter_mut().filter(|p| !p.retiring) {
            let before = old.neighbors.iter().find(|n| n.name == p.name);
            let why = match new.neighbors.iter().find(|n| n.name == p.name) {
                None => {
                    removed += 1;
                    "neighbor removed from the configuration"
                }
                // A change of BFD alone is applied in place (`bfd.rs`).
                Some(n) if global || !before.is_some_and(|b| bfd::same_but_bfd(b, n)) => {
                    changed += 1;
                    "configuration changed"
                }
                Some(_) => {
                    kept += 1;
                    continue;
                }
            };
            tracing::info!(neighbor = %p.name, "BGP session shutting down: {why}");
            p.retiring = true;
            let _ = p
                .cmds
                .send(neighbor::Cmd::Shutdown(why.into(), new.shutdown_bound));
        }
        // New neighbors start now; changed ones once their old session has
        // closed (`task_ended`), so the two never race for the peer.
        let added = self.start_missing();
        self.bfd.sync(&old.neighbors, &new.neighbors);
        // Announcements: an unchanged one keeps its hold-down state.
        let now = Instant::now();
        log(now, self.announcer.reconfigure(now, plan(cfg)));
        self.update_routing();
        let plan = listen_plan(&new.neighbors);
        // Also when the last rebuild failed and left none.
        if listen_plan(&old.neighbors) != plan || self.listeners.is_empty() && !plan.is_empty() {
            for l in self.listeners.drain(..) {
                l.abort();
                // Resolves once the task, and with it the socket, is gone.
                let _ = l.await;
            }
            match listen(&new.neighbors, &self.routing) {
                Ok(l) => self.listeners = l,
                Err(e) => tracing::error!(
                    "BGP listeners after reload: {e:#}; incoming sessions are refused until a reload succeeds"
                ),
            }
        }
        tracing::info!(
            kept,
            changed,
            removed,
            added = added.len(),
            announces = new.announces.len(),
            "BGP reconfigured"
        );
    }

    /// Gives the announcer the inputs, then each neighbor the routes it
    /// should have now.
    fn evaluate(&mut self, now: Instant, proxy: &ProxyHealth, masters: &BTreeMap<String, bool>) {
        log(now, self.announcer.set_inputs(now, inputs(proxy, masters)));
        for p in self.peers.iter().filter(|p| !p.retiring) {
            let routes = self.announcer.routes(&p.name);
            p.routes.send_if_modified(|old| {
                let changed = *old != routes;
                *old = routes;
                changed
            });
        }
    }

    /// `rampart show routes`: the announcer's decisions, and from each
    /// neighbor's session whether the router has the route and its next
    /// hop.
    async fn show_routes(&self) -> show::Routes {
        let now = Instant::now();
        let mut neighbors = Vec::new();
        for n in self.announcer.explain() {
            let address = self
                .bgp
                .neighbor(&n.neighbor)
                .map(|c| c.address.to_string())
                .unwrap_or_default();
            let routes: Vec<Route> = n.routes.iter().map(|d| d.route.clone()).collect();
            let peer = self
                .peers
                .iter()
                .find(|p| p.name == n.neighbor && !p.retiring);
            let mut session = None;
            let mut at = vec![show::AtSession::default(); routes.len()];
            if let Some(p) = peer {
                let (tx, rx) = oneshot::channel();
                if p.cmds.send(neighbor::Cmd::Show(routes, tx)).is_ok()
                    && let Ok(shown) = rx.await
                {
                    session = Some(shown.state);
                    at = shown.routes;
                }
            }
            neighbors.push(show::NeighborRoutes {
                name: n.neighbor,
                address,
                session,
                disabled: n.disabled,
                routes: n
                    .routes
                    .iter()
                    .zip(
                        at.into_iter()
                            .chain(std::iter::repeat(show::AtSession::default())),
                    )
                    .map(|(d, at)| show::RouteStatus::new(d, at, now))
                    .collect(),
            });
        }
        show::Routes { neighbors }
    }
}

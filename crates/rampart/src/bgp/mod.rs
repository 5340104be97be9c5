//! The BGP driver: turns the `[bgp]` config, VRRP mastership and backend
//! health into the routes each neighbor should have, and runs one task
//! per neighbor (`neighbor.rs`) around the sans-IO `rampart_bgp::Session`.
//! Listeners on port 179 hand incoming connections to their neighbor.

mod neighbor;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rampart_bgp::{Backoff, Community, HoldDown, LargeCommunity, Route, SessionConfig};
use rampart_config::{AnnouncePolicy, Config, Family, Neighbor, PeerMode};
use rampart_sys::bgp_socket::{self, BgpSockOpts};
use tokio::sync::{mpsc, oneshot, watch};

use crate::task::{Inbox, TaskHandle};
use crate::vrrp::ProxyHealth;

/// Longest a stopping node waits for its neighbors to finish, beyond the
/// configured `shutdown_bound`.
const STOP_SLACK: Duration = Duration::from_secs(2);
/// Pause after a failed accept (e.g. EMFILE) before the next one.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Controls a running BGP driver: its status is one JSON object per
/// neighbor; stopping withdraws every route, waits `shutdown_bound` for
/// the routers to act on it, then sends Cease / Administrative Shutdown.
pub type Handle = TaskHandle<Vec<serde_json::Value>>;

struct Peer {
    name: String,
    routes: watch::Sender<Vec<Route>>,
    cmds: mpsc::UnboundedSender<neighbor::Cmd>,
    task: tokio::task::JoinHandle<()>,
}

/// Starts the driver if the config has neighbors.
pub fn start(
    cfg: &Config,
    proxy: watch::Receiver<ProxyHealth>,
    masters: watch::Receiver<BTreeMap<String, bool>>,
) -> Result<Option<Handle>> {
    let bgp = &cfg.bgp;
    if !bgp.is_enabled() {
        return Ok(None);
    }
    let router_id = bgp.router_id.unwrap_or(Ipv4Addr::UNSPECIFIED);
    let mut accept_to: HashMap<IpAddr, mpsc::Sender<tokio::net::TcpStream>> = HashMap::new();
    let mut peers = Vec::new();
    for n in &bgp.neighbors {
        let (routes_tx, routes_rx) = watch::channel(Vec::new());
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (acc_tx, acc_rx) = mpsc::channel(4);
        if n.mode != PeerMode::Active {
            accept_to.insert(n.address, acc_tx);
        }
        let spec = neighbor::Spec {
            name: n.name.clone(),
            session: session_config(bgp.local_as, router_id, bgp.connect_retry, n),
            peer: SocketAddr::new(n.address, n.port),
            local: n.local_address,
            opts: sock_opts(n),
            has_password: n.password.is_some(),
        };
        let task = neighbor::spawn(spec, routes_rx, acc_rx, cmd_rx);
        peers.push(Peer {
            name: n.name.clone(),
            routes: routes_tx,
            cmds: cmd_tx,
            task,
        });
    }
    listen(bgp.neighbors.as_slice(), accept_to)?;
    let manager = Manager {
        announces: bgp
            .announces
            .iter()
            .map(|a| (a.clone(), HoldDown::new(bgp.hold_down)))
            .collect(),
        neighbors: bgp.neighbors.clone(),
        backends: cfg
            .frontends
            .iter()
            .map(|f| (f.name.clone(), f.backend.clone()))
            .collect(),
        peers,
        shutdown_bound: bgp.shutdown_bound,
    };
    Ok(Some(TaskHandle::spawn(|inbox| {
        manager.run(proxy, masters, inbox)
    })))
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

/// One listener per (family, port) some passive neighbor needs, with the
/// MD5 key of every neighbor that has one installed on it.
fn listen(
    neighbors: &[Neighbor],
    accept_to: HashMap<IpAddr, mpsc::Sender<tokio::net::TcpStream>>,
) -> Result<()> {
    let mut ports: BTreeMap<(bool, u16), Vec<&Neighbor>> = BTreeMap::new();
    for n in neighbors.iter().filter(|n| n.mode != PeerMode::Active) {
        ports
            .entry((n.address.is_ipv6(), n.port))
            .or_default()
            .push(n);
    }
    for ((v6, port), list) in ports {
        let any: IpAddr = if v6 {
            Ipv6Addr::UNSPECIFIED.into()
        } else {
            Ipv4Addr::UNSPECIFIED.into()
        };
        let addr = SocketAddr::new(any, port);
        let l =
            bgp_socket::bgp_listener(addr).with_context(|| format!("BGP listener on {addr}"))?;
        let mut opts = HashMap::new();
        for n in &list {
            if let Some(p) = &n.password {
                bgp_socket::set_md5_key(&l, n.address, p.as_bytes())
                    .with_context(|| format!("TCP MD5 key for neighbor {}", n.name))?;
            }
            opts.insert(n.address, sock_opts(n));
        }
        let l = tokio::net::TcpListener::from_std(l)?;
        let routes = accept_to.clone();
        tokio::spawn(async move {
            loop {
                let (stream, from) = match l.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of descriptors and the like: do not spin.
                        tracing::warn!("BGP listener: {e}");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                };
                let (Some(tx), Some(o)) = (routes.get(&from.ip()), opts.get(&from.ip())) else {
                    tracing::debug!("BGP connection from unknown {from} closed");
                    continue;
                };
                if let Err(e) = bgp_socket::configure_accepted(&stream, o) {
                    tracing::warn!("BGP connection from {from}: {e}");
                    continue;
                }
                let _ = tx.try_send(stream);
            }
        });
    }
    Ok(())
}

struct Manager {
    announces: Vec<(rampart_config::Announce, HoldDown)>,
    neighbors: Vec<Neighbor>,
    /// Frontend name → backend name.
    backends: HashMap<String, String>,
    peers: Vec<Peer>,
    shutdown_bound: Duration,
}

impl Manager {
    async fn run(
        mut self,
        mut proxy: watch::Receiver<ProxyHealth>,
        mut masters: watch::Receiver<BTreeMap<String, bool>>,
        inbox: Inbox<Vec<serde_json::Value>>,
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
            let deadline = self
                .announces
                .iter()
                .filter_map(|(_, h)| h.poll_timeout())
                .min();
            let sleep = tokio::time::sleep_until(crate::task::deadline(deadline));
            tokio::select! {
                Ok(()) = proxy.changed() => {}
                Ok(()) = masters.changed() => {}
                _ = sleep, if deadline.is_some() => {
                    let now = Instant::now();
                    for (_, h) in &mut self.announces {
                        if h.poll_timeout().is_some_and(|t| t <= now) {
                            h.handle_timeout(now);
                        }
                    }
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
        tracing::info!(
            "BGP stopping: withdrawing every route, Cease in {:?}",
            self.shutdown_bound
        );
        for p in &self.peers {
            let _ = p.cmds.send(neighbor::Cmd::Shutdown(
                "rampart is shutting down".into(),
                self.shutdown_bound,
            ));
        }
        let bound = self.shutdown_bound + STOP_SLACK;
        for p in self.peers {
            let mut task = p.task;
            if tokio::time::timeout(bound, &mut task).await.is_err() {
                tracing::warn!(neighbor = %p.name, "BGP session did not close within {bound:?}");
                task.abort();
            }
        }
        if let Some(reply) = reply {
            let _ = reply.send(());
        }
    }

    /// Applies the inputs to every announce's hold-down, then gives each
    /// neighbor the routes it should have now.
    fn evaluate(&mut self, now: Instant, proxy: &ProxyHealth, masters: &BTreeMap<String, bool>) {
        for (a, hold) in &mut self.announces {
            let wanted = match &a.policy {
                AnnouncePolicy::Always => true,
                AnnouncePolicy::WhileMaster(vi) => {
                    masters.get(vi.as_str()).copied().unwrap_or(false)
                }
                AnnouncePolicy::WhileHealthy {
                    frontend,
                    min_servers,
                } => {
                    let up = self
                        .backends
                        .get(frontend)
                        .and_then(|b| proxy.up.get(b))
                        .copied()
                        .unwrap_or(0);
                    proxy.worker_ok && up >= *min_servers
                }
            };
            let before = hold.output();
            if hold.set(now, wanted) != before || wanted != hold.output() && wanted {
                tracing::info!(
                    prefix = %a.prefix,
                    wanted,
                    "BGP announcement {}",
                    match (hold.output(), wanted) {
                        (true, _) => "on",
                        (false, true) => "held down",
                        (false, false) => "off",
                    }
                );
            }
        }
        for p in &self.peers {
            let Some(n) = self.neighbors.iter().find(|n| n.name == p.name) else {
                continue;
            };
            let routes: Vec<Route> = self
                .announces
                .iter()
                .filter(|(a, h)| h.output() && a.neighbors.contains(&p.name))
                .map(|(a, _)| route(a, n))
                .collect();
            p.routes.send_if_modified(|old| {
                let changed = *old != routes;
                *old = routes;
                changed
            });
        }
    }
}

fn route(a: &rampart_config::Announce, n: &Neighbor) -> Route {
    let mut r = Route::new(a.prefix);
    r.med = a.med.or(n.med);
    r.local_pref = n.local_pref;
    r.prepend = n.prepend;
    r.communities = a.communities.iter().map(|c| Community(*c)).collect();
    r.large_communities = a
        .large_communities
        .iter()
        .map(|[g, l1, l2]| LargeCommunity {
            global: *g,
            local1: *l1,
            local2: *l2,
        })
        .collect();
    r
}

//! The BGP listeners: one socket per (family, port) that passive
//! neighbors need, with their TCP MD5 keys, handing each accepted
//! connection to its neighbor's task (`Routing`).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, Result};
use rampart_config::{Neighbor, PeerMode};
use rampart_sys::bgp_socket;
use tokio::task::JoinHandle;

use super::Routing;

/// Pause after a failed accept (e.g. EMFILE) before the next one.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What the listeners depend on: per (IPv6?, port), the passive
/// neighbors' addresses and MD5 keys. Listeners are rebuilt when it changes.
pub(super) type ListenPlan<'a> = BTreeMap<(bool, u16), Vec<(IpAddr, Option<&'a [u8]>)>>;

pub(super) fn listen_plan(neighbors: &[Neighbor]) -> ListenPlan<'_> {
    let mut plan: ListenPlan<'_> = BTreeMap::new();
    for n in neighbors.iter().filter(|n| n.mode != PeerMode::Active) {
        plan.entry((n.address.is_ipv6(), n.port))
            .or_default()
            .push((n.address, n.password.as_ref().map(|p| p.as_bytes())));
    }
    plan
}

/// One listener per (family, port) some passive neighbor needs, with the
/// MD5 key of every neighbor that has one installed on it. Every socket is
/// set up before any task starts: on an error nothing is left running.
pub(super) fn listen(neighbors: &[Neighbor], routing: &Routing) -> Result<Vec<JoinHandle<()>>> {
    let mut sockets = Vec::new();
    for ((v6, port), list) in listen_plan(neighbors) {
        let any: IpAddr = if v6 {
            Ipv6Addr::UNSPECIFIED.into()
        } else {
            Ipv4Addr::UNSPECIFIED.into()
        };
        let addr = SocketAddr::new(any, port);
        let l =
            bgp_socket::bgp_listener(addr).with_context(|| format!("BGP listener on {addr}"))?;
        for (peer, key) in list {
            if let Some(key) = key {
                bgp_socket::set_md5_key(&l, peer, key)
                    .with_context(|| format!("TCP MD5 key for neighbor {peer}"))?;
            }
        }
        sockets.push(tokio::net::TcpListener::from_std(l)?);
    }
    Ok(sockets
        .into_iter()
        .map(|l| tokio::spawn(accept_loop(l, routing.clone())))
        .collect())
}

async fn accept_loop(l: tokio::net::TcpListener, routing: Routing) {
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
        let target = routing.lock().ok().and_then(|m| m.get(&from.ip()).cloned());
        let Some((tx, opts)) = target else {
            tracing::debug!("BGP connection from unknown {from} closed");
            continue;
        };
        if let Err(e) = bgp_socket::configure_accepted(&stream, &opts) {
            tracing::warn!("BGP connection from {from}: {e}");
            continue;
        }
        let _ = tx.try_send(stream);
    }
}

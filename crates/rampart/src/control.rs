//! The control socket: the supervisor listens on a Unix stream socket;
//! `rampart status` connects, sends one request line (`status`), and reads
//! one JSON document back. What the document holds is [`Status`], shared
//! by the proxy's health, VRRP and BGP.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot};

/// Where `rampart run` listens and `rampart status` asks, unless told.
pub const DEFAULT_PATH: &str = "/run/rampart.sock";
/// A client that says nothing for this long is dropped.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything `rampart status` shows.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Status {
    pub servers: Vec<ServerStatus>,
    pub vrrp: Vec<VrrpStatus>,
    pub bgp: Vec<serde_json::Value>,
    /// `[gateway]`, if configured.
    #[serde(default)]
    pub gateway: Option<GatewayStatus>,
}

/// Forwarding as the kernel has it now, and the NAT rules in place.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct GatewayStatus {
    /// Per family managed by rampart: "ipv4" / "ipv6" and whether the
    /// kernel forwards it right now.
    pub forwarding: Vec<(String, bool)>,
    /// "192.168.1.0/24 out bond0", one per rule in the `inet rampart` table.
    pub masquerade: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServerStatus {
    pub backend: String,
    pub server: String,
    pub up: bool,
}

/// One VRRP instance, as `show vrrp` would print it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VrrpStatus {
    pub name: String,
    pub interface: String,
    pub vrid: u8,
    pub version: u8,
    pub state: String,
    pub priority: u8,
    pub configured_priority: u8,
    pub master_interval_ms: u64,
    pub master_down_ms: u64,
    pub adverts_rx: u64,
    pub adverts_tx: u64,
    pub priority0_rx: u64,
    pub priority0_tx: u64,
    pub became_master: u64,
    /// Dropped (or flagged) adverts by reason.
    pub drops: BTreeMap<String, u64>,
    /// Checksum form the peer uses (VRRPv3 over IPv4), once heard.
    pub peer_checksum: Option<String>,
    /// How late this node's timer-driven adverts left.
    #[serde(default)]
    pub advert_late: AdvertLateness,
}

/// Lateness of the adverts a master sent on its timer: from the moment the
/// advert was due to the end of its send.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct AdvertLateness {
    /// Adverts measured since start.
    pub adverts: u64,
    /// 99th percentile over the recent adverts (the last 3000).
    pub p99_us: u32,
    /// The latest one ever.
    pub max_us: u32,
}

/// A request from a client, with where to send the answer.
pub type Request = oneshot::Sender<Status>;

/// Binds the control socket, replacing a stale file (one no process
/// listens on) but refusing to take over a live one.
pub fn bind(path: &Path) -> Result<UnixListener> {
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            anyhow::bail!("{} is in use by a running rampart", path.display());
        }
        let _ = std::fs::remove_file(path);
    }
    UnixListener::bind(path).with_context(|| format!("control socket {}", path.display()))
}

/// Serves clients for as long as the supervisor runs; each request is forwarded to
/// the supervisor through `requests`.
pub async fn serve(listener: UnixListener, requests: mpsc::Sender<Request>) {
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                // Out of descriptors and the like: keep serving, slowly.
                tracing::warn!("control socket: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let requests = requests.clone();
        tokio::spawn(async move {
            let (r, mut w) = stream.into_split();
            let mut line = String::new();
            let mut r = tokio::io::BufReader::new(r);
            let read = tokio::time::timeout(REQUEST_TIMEOUT, r.read_line(&mut line)).await;
            let answer = match (read, line.trim()) {
                (Ok(Ok(_)), "status") => {
                    let (tx, rx) = oneshot::channel();
                    if requests.send(tx).await.is_err() {
                        return;
                    }
                    match rx.await {
                        Ok(s) => serde_json::to_string(&s).unwrap_or_default(),
                        Err(_) => return,
                    }
                }
                (_, other) => {
                    serde_json::json!({ "error": format!("unknown request {other:?}") }).to_string()
                }
            };
            let _ = w.write_all(answer.as_bytes()).await;
            let _ = w.write_all(b"\n").await;
        });
    }
}

/// `rampart status`: asks the supervisor at `path`.
pub fn query(path: &Path) -> Result<Status> {
    let mut s = std::os::unix::net::UnixStream::connect(path).with_context(|| {
        format!(
            "cannot reach rampart at {} (is `rampart run` running?)",
            path.display()
        )
    })?;
    s.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    s.write_all(b"status\n")?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line)?;
    serde_json::from_str(&line).with_context(|| format!("bad answer from {}", path.display()))
}

/// The default path, or the one given.
pub fn path(given: Option<PathBuf>) -> PathBuf {
    given.unwrap_or_else(|| PathBuf::from(DEFAULT_PATH))
}

/// Human-readable status, in the spirit of `birdc show protocols all` and
/// keepalived's data dump.
pub fn render(s: &Status) -> String {
    let mut out = String::new();
    if !s.servers.is_empty() {
        out.push_str("Servers\n");
        for srv in &s.servers {
            let state = if srv.up { "UP" } else { "DOWN" };
            out.push_str(&format!("  {}/{:<20} {state}\n", srv.backend, srv.server));
        }
    }
    for v in &s.vrrp {
        out.push_str(&format!(
            "VRRP {} (VRID {} on {}, v{}): {}\n",
            v.name,
            v.vrid,
            v.interface,
            v.version,
            v.state.to_uppercase()
        ));
        out.push_str(&format!(
            "  priority {} (configured {}), master advert interval {} ms, master down {} ms\n",
            v.priority, v.configured_priority, v.master_interval_ms, v.master_down_ms
        ));
        out.push_str(&format!(
            "  adverts in {} out {}, priority 0 in {} out {}, became master {} times\n",
            v.adverts_rx, v.adverts_tx, v.priority0_rx, v.priority0_tx, v.became_master
        ));
        let drops: Vec<String> = v
            .drops
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        if !drops.is_empty() {
            out.push_str(&format!("  dropped: {}\n", drops.join(", ")));
        }
        if let Some(c) = &v.peer_checksum {
            out.push_str(&format!("  peer checksum: {c}\n"));
        }
    }
    for b in &s.bgp {
        out.push_str(&render_bgp(b));
    }
    if let Some(g) = &s.gateway {
        out.push_str("Gateway\n");
        for (family, on) in &g.forwarding {
            let state = if *on { "on" } else { "OFF" };
            out.push_str(&format!("  {family} forwarding {state}\n"));
        }
        for m in &g.masquerade {
            out.push_str(&format!("  masquerade {m}\n"));
        }
    }
    out
}

/// A BGP neighbor's status object, as its driver reports it, one
/// `key: value` per line.
fn render_bgp(v: &serde_json::Value) -> String {
    let name = v.get("name").and_then(|n| n.as_str()).unwrap_or("?");
    let state = v.get("state").and_then(|n| n.as_str()).unwrap_or("?");
    let mut out = format!("BGP {name}: {state}\n");
    if let Some(map) = v.as_object() {
        for (k, val) in map {
            if k == "name" || k == "state" {
                continue;
            }
            let text = match val {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.push_str(&format!("  {k}: {text}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_client_gets_the_status_and_a_stale_socket_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctl.sock");
        // A stale file from a process that died.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let listener = bind(&path).unwrap();
        assert!(bind(&path).is_err(), "a live socket is not taken over");
        let (tx, mut rx) = mpsc::channel::<Request>(4);
        tokio::spawn(serve(listener, tx));
        tokio::spawn(async move {
            while let Some(reply) = rx.recv().await {
                let _ = reply.send(Status {
                    servers: vec![ServerStatus {
                        backend: "b".into(),
                        server: "s".into(),
                        up: true,
                    }],
                    ..Status::default()
                });
            }
        });
        let p = path.clone();
        let s = tokio::task::spawn_blocking(move || query(&p))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(s.servers.len(), 1);
        assert!(render(&s).contains("b/s"));
        // Nonsense gets an error object, not a hang.
        let p = path.clone();
        let raw = tokio::task::spawn_blocking(move || {
            let mut c = std::os::unix::net::UnixStream::connect(&p).unwrap();
            c.write_all(b"reboot\n").unwrap();
            let mut line = String::new();
            BufReader::new(c).read_line(&mut line).unwrap();
            line
        })
        .await
        .unwrap();
        assert!(raw.contains("unknown request"), "{raw}");
    }
}

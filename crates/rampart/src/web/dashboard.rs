//! The dashboard's view of [`Stats`]: plain strings and numbers, so the
//! templates (`templates/dashboard.html`, `templates/live.html`) only
//! lay them out. askama escapes every value for HTML.

use askama::Template;

use crate::control::Stats;
use crate::show::{age, bytes};

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Page<'a> {
    host: &'a str,
    version: &'a str,
    token_required: bool,
    live: Live,
}

#[derive(Template)]
#[template(path = "live.html")]
struct LiveOnly {
    live: Live,
}

struct Live {
    worker_ok: bool,
    uptime: String,
    vrrp: Vec<VrrpView>,
    bgp: Vec<BgpView>,
    frontends: Vec<FrontendView>,
    backends: Vec<BackendView>,
}

struct VrrpView {
    name: String,
    vrid: u8,
    interface: String,
    state: String,
    priority: u8,
    configured: u8,
    vips: Vec<String>,
    peer: String,
    last: String,
}

struct BgpView {
    name: String,
    address: String,
    asn: u32,
    state: String,
    since: String,
    routes: String,
    error: String,
}

struct FrontendView {
    name: String,
    state: &'static str,
    current: u32,
    max: u32,
    limit: u32,
    total: u64,
    rate: u64,
    bytes_in: String,
    bytes_out: String,
    denied: u64,
}

struct BackendView {
    name: String,
    up: usize,
    count: usize,
    queue: u32,
    errors: u64,
    servers: Vec<ServerView>,
}

struct ServerView {
    name: String,
    addr: String,
    health: &'static str,
    admin: String,
    weight: u32,
    current: u32,
    total: u64,
    rate: u64,
    bytes_in: String,
    bytes_out: String,
    check: String,
    since: String,
}

pub fn page(st: &Stats, host: &str, token_required: bool) -> Result<String, askama::Error> {
    Page {
        host,
        version: &st.status.version,
        token_required,
        live: view(st),
    }
    .render()
}

pub fn live(st: &Stats) -> Result<String, askama::Error> {
    LiveOnly { live: view(st) }.render()
}

fn view(st: &Stats) -> Live {
    let vrrp = st
        .status
        .vrrp
        .iter()
        .map(|v| VrrpView {
            name: v.name.clone(),
            vrid: v.vrid,
            interface: v.interface.clone(),
            state: v.state.clone(),
            priority: v.priority,
            configured: v.configured_priority,
            vips: v.vips.clone(),
            // From a backup, the peer heard is the master; from a master,
            // the last advert heard (none while the peer is a backup).
            peer: match (&v.peer, v.peer_priority) {
                (Some(p), Some(prio)) if v.state == "backup" => {
                    format!("{p} is master (priority {prio})")
                }
                (Some(p), Some(prio)) => format!("last heard {p} (priority {prio})"),
                _ if v.state == "master" => "backup (silent)".into(),
                _ => "none heard".into(),
            },
            last: v.last_transition.as_ref().map_or_else(
                || "none".into(),
                |t| {
                    format!(
                        "{} → {} {} ago: {}",
                        t.from.to_uppercase(),
                        t.to.to_uppercase(),
                        age(t.seconds_ago),
                        t.cause
                    )
                },
            ),
        })
        .collect();
    let bgp = st
        .status
        .bgp
        .iter()
        .map(|b| BgpView {
            name: b.name.clone(),
            address: b.neighbor.clone(),
            asn: b.neighbor_as,
            state: b.state.clone(),
            since: b
                .since_seconds
                .map_or_else(|| "-".into(), |s| age(s as f64)),
            routes: format!("{} of {} announced", b.routes_exported, b.routes_desired),
            error: b.last_error.clone().unwrap_or_default(),
        })
        .collect();
    let (frontends, backends) = match &st.proxy {
        None => (Vec::new(), Vec::new()),
        Some(p) => (
            p.frontends
                .iter()
                .map(|f| FrontendView {
                    name: f.name.clone(),
                    state: if f.enabled { "open" } else { "disabled" },
                    current: f.traffic.current,
                    max: f.traffic.max,
                    limit: f.limit,
                    total: f.traffic.total,
                    rate: f.traffic.rate,
                    bytes_in: bytes(f.traffic.bytes_in),
                    bytes_out: bytes(f.traffic.bytes_out),
                    denied: f.traffic.denied,
                })
                .collect(),
            p.backends
                .iter()
                .map(|b| BackendView {
                    name: b.name.clone(),
                    up: b.servers.iter().filter(|s| s.up).count(),
                    count: b.servers.len(),
                    queue: b.queue,
                    errors: b.traffic.connect_errors,
                    servers: b
                        .servers
                        .iter()
                        .map(|s| {
                            let check = st.check(&b.name, &s.name);
                            ServerView {
                                name: s.name.clone(),
                                addr: s.addr.clone(),
                                health: if s.up { "up" } else { "down" },
                                admin: s.admin.clone(),
                                weight: s.weight,
                                current: s.traffic.current,
                                total: s.traffic.total,
                                rate: s.traffic.rate,
                                bytes_in: bytes(s.traffic.bytes_in),
                                bytes_out: bytes(s.traffic.bytes_out),
                                check: match check {
                                    None => "not checked".into(),
                                    Some(c) => match (c.last_ok, c.last_duration_ms) {
                                        (Some(true), Some(ms)) => format!("ok in {ms:.1} ms"),
                                        (Some(false), _) => format!(
                                            "failed: {}",
                                            c.last_error.as_deref().unwrap_or("unknown")
                                        ),
                                        _ => "pending".into(),
                                    },
                                },
                                since: check
                                    .and_then(|c| c.state_seconds)
                                    .map_or_else(|| "-".into(), age),
                            }
                        })
                        .collect(),
                })
                .collect(),
        ),
    };
    Live {
        worker_ok: st.proxy.is_some(),
        uptime: age(st.uptime_seconds),
        vrrp,
        bgp,
        frontends,
        backends,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped() {
        let mut st = Stats::default();
        st.status.vrrp.push(crate::control::VrrpStatus {
            name: "<script>x</script>".into(),
            interface: "eth0".into(),
            vrid: 1,
            version: 2,
            state: "master".into(),
            priority: 100,
            configured_priority: 100,
            master_interval_ms: 1000,
            master_down_ms: 3000,
            adverts_rx: 0,
            adverts_tx: 0,
            priority0_rx: 0,
            priority0_tx: 0,
            became_master: 1,
            drops: Default::default(),
            peer_checksum: None,
            advert_late: Default::default(),
            vips: vec![],
            peer: None,
            peer_priority: None,
            transitions: 0,
            last_transition: None,
            trackers: vec![],
        });
        let html = page(&st, "n", false).unwrap_or_else(|e| panic!("{e}"));
        assert!(!html.contains("<script>x"));
        assert!(
            html.contains("&#60;script&#62;x") || html.contains("&lt;script&gt;x"),
            "{html}"
        );
    }
}

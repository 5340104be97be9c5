//! `/metrics`: the node's [`Stats`] in the OpenMetrics text format
//! (which Prometheus reads), built with `prometheus-client` from a fresh
//! registry per scrape: the values live in the worker and the supervisor,
//! so each scrape is a snapshot, and a server removed by a reload simply
//! disappears.
//!
//! Names follow Prometheus' conventions and HAProxy 2.6's exporter for
//! coverage: a `rampart_` prefix, the subsystem (`frontend`, `backend`,
//! `server`, `vrrp`, `bgp`, `bfd`), base units (`_bytes`, `_seconds`), `_total`
//! on counters (added by the library), and labels for the names.
//! Counters restart from zero when the worker is replaced (a reload or a
//! crash), as HAProxy's do; Prometheus' `rate()` handles such resets.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use crate::control::Stats;

/// The content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Labels = Vec<(&'static str, String)>;

/// Collects samples of one metric, then registers them.
struct Metrics {
    reg: Registry,
}

impl Metrics {
    fn counter(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Labels, u64)>,
    ) {
        let family = Family::<Labels, Counter<u64>>::default();
        for (labels, v) in samples {
            family.get_or_create(&labels).inc_by(v);
        }
        self.reg.register(name, help, family);
    }

    fn gauge(&mut self, name: &str, help: &str, samples: impl IntoIterator<Item = (Labels, f64)>) {
        let family = Family::<Labels, Gauge<f64, AtomicU64>>::default();
        for (labels, v) in samples {
            family.get_or_create(&labels).set(v);
        }
        self.reg.register(name, help, family);
    }
}

fn fe(name: &str) -> Labels {
    vec![("frontend", name.to_string())]
}

fn be(name: &str) -> Labels {
    vec![("backend", name.to_string())]
}

fn srv(b: &str, s: &str) -> Labels {
    vec![("backend", b.to_string()), ("server", s.to_string())]
}

fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// The whole exposition.
pub fn render(st: &Stats) -> Result<String, std::fmt::Error> {
    let mut m = Metrics {
        reg: Registry::with_prefix("rampart"),
    };
    m.gauge(
        "build_info",
        "rampart's version (always 1)",
        [(vec![("version", st.status.version.clone())], 1.0)],
    );
    m.gauge(
        "uptime_seconds",
        "Seconds since this supervisor started",
        [(vec![], st.uptime_seconds)],
    );
    m.gauge(
        "worker_up",
        "1 if the worker answered with its traffic counters",
        [(vec![], flag(st.proxy.is_some()))],
    );
    proxy(&mut m, st);
    checks(&mut m, st);
    vrrp(&mut m, st);
    bgp(&mut m, st);
    gateway(&mut m, st);
    nat(&mut m, st);
    let mut out = String::new();
    encode(&mut out, &m.reg)?;
    Ok(out)
}

fn proxy(m: &mut Metrics, st: &Stats) {
    let Some(p) = &st.proxy else { return };
    let f = &p.frontends;
    m.gauge(
        "frontend_current_connections",
        "Connections open now",
        f.iter()
            .map(|x| (fe(&x.name), f64::from(x.traffic.current))),
    );
    m.gauge(
        "frontend_max_connections",
        "Most connections open at once",
        f.iter().map(|x| (fe(&x.name), f64::from(x.traffic.max))),
    );
    m.gauge(
        "frontend_limit_connections",
        "maxconn",
        f.iter().map(|x| (fe(&x.name), f64::from(x.limit))),
    );
    m.counter(
        "frontend_connections",
        "Connections accepted",
        f.iter().map(|x| (fe(&x.name), x.traffic.total)),
    );
    m.gauge(
        "frontend_connection_rate",
        "Connections accepted in the last second",
        f.iter().map(|x| (fe(&x.name), x.traffic.rate as f64)),
    );
    m.counter(
        "frontend_bytes_in",
        "Bytes from clients",
        f.iter().map(|x| (fe(&x.name), x.traffic.bytes_in)),
    );
    m.counter(
        "frontend_bytes_out",
        "Bytes to clients",
        f.iter().map(|x| (fe(&x.name), x.traffic.bytes_out)),
    );
    m.counter(
        "frontend_denied_connections",
        "Connections refused by allow/deny",
        f.iter().map(|x| (fe(&x.name), x.traffic.denied)),
    );
    m.gauge(
        "frontend_enabled",
        "0 while disabled by the operator",
        f.iter().map(|x| (fe(&x.name), flag(x.enabled))),
    );

    let b = &p.backends;
    m.gauge(
        "backend_current_connections",
        "Connections to its servers now",
        b.iter()
            .map(|x| (be(&x.name), f64::from(x.traffic.current))),
    );
    m.gauge(
        "backend_max_connections",
        "Most connections at once",
        b.iter().map(|x| (be(&x.name), f64::from(x.traffic.max))),
    );
    m.counter(
        "backend_connections",
        "Connections made to its servers",
        b.iter().map(|x| (be(&x.name), x.traffic.total)),
    );
    m.gauge(
        "backend_connection_rate",
        "Connections made in the last second",
        b.iter().map(|x| (be(&x.name), x.traffic.rate as f64)),
    );
    m.counter(
        "backend_bytes_in",
        "Bytes from clients to its servers",
        b.iter().map(|x| (be(&x.name), x.traffic.bytes_in)),
    );
    m.counter(
        "backend_bytes_out",
        "Bytes from its servers to clients",
        b.iter().map(|x| (be(&x.name), x.traffic.bytes_out)),
    );
    m.counter(
        "backend_connection_errors",
        "Failed connection attempts",
        b.iter().map(|x| (be(&x.name), x.traffic.connect_errors)),
    );
    m.counter(
        "backend_retries",
        "Attempts repeated after a failed one",
        b.iter().map(|x| (be(&x.name), x.traffic.retries)),
    );
    m.counter(
        "backend_redispatches",
        "Retries sent to another server",
        b.iter().map(|x| (be(&x.name), x.traffic.redispatches)),
    );
    m.gauge(
        "backend_current_queue",
        "Connections waiting for a server",
        b.iter().map(|x| (be(&x.name), f64::from(x.queue))),
    );
    m.gauge(
        "backend_max_queue",
        "Longest queue seen",
        b.iter()
            .map(|x| (be(&x.name), f64::from(x.traffic.queue_max))),
    );
    m.counter(
        "backend_queue_timeouts",
        "Connections that gave up in the queue",
        b.iter().map(|x| (be(&x.name), x.traffic.queue_timeouts)),
    );
    m.gauge(
        "backend_active_servers",
        "Servers up and ready",
        b.iter().map(|x| {
            (
                be(&x.name),
                x.servers
                    .iter()
                    .filter(|s| s.up && s.admin == "ready")
                    .count() as f64,
            )
        }),
    );

    let s: Vec<(&str, &rampart_proxy::stats::ServerStats)> = b
        .iter()
        .flat_map(|x| x.servers.iter().map(move |s| (x.name.as_str(), s)))
        .collect();
    m.gauge(
        "server_up",
        "1 if its health checks pass",
        s.iter().map(|(b, x)| (srv(b, &x.name), flag(x.up))),
    );
    m.gauge(
        "server_admin_state",
        "The operator's state: 1 for the one in force",
        s.iter().flat_map(|(b, x)| {
            ["ready", "drain", "maint"].map(|state| {
                let mut l = srv(b, &x.name);
                l.push(("state", state.to_string()));
                (l, flag(x.admin == state))
            })
        }),
    );
    m.gauge(
        "server_weight",
        "Weight in force",
        s.iter()
            .map(|(b, x)| (srv(b, &x.name), f64::from(x.weight))),
    );
    m.gauge(
        "server_current_connections",
        "Connections open now",
        s.iter()
            .map(|(b, x)| (srv(b, &x.name), f64::from(x.traffic.current))),
    );
    m.gauge(
        "server_max_connections",
        "Most connections at once",
        s.iter()
            .map(|(b, x)| (srv(b, &x.name), f64::from(x.traffic.max))),
    );
    m.counter(
        "server_connections",
        "Connections made",
        s.iter().map(|(b, x)| (srv(b, &x.name), x.traffic.total)),
    );
    m.gauge(
        "server_connection_rate",
        "Connections made in the last second",
        s.iter()
            .map(|(b, x)| (srv(b, &x.name), x.traffic.rate as f64)),
    );
    m.counter(
        "server_bytes_in",
        "Bytes from clients",
        s.iter().map(|(b, x)| (srv(b, &x.name), x.traffic.bytes_in)),
    );
    m.counter(
        "server_bytes_out",
        "Bytes to clients",
        s.iter()
            .map(|(b, x)| (srv(b, &x.name), x.traffic.bytes_out)),
    );
    m.counter(
        "server_connection_errors",
        "Failed connection attempts",
        s.iter()
            .map(|(b, x)| (srv(b, &x.name), x.traffic.connect_errors)),
    );
    m.counter(
        "server_retries",
        "Attempts on it repeated after failing",
        s.iter().map(|(b, x)| (srv(b, &x.name), x.traffic.retries)),
    );
    m.counter(
        "server_redispatches",
        "Retries that left it for another server",
        s.iter()
            .map(|(b, x)| (srv(b, &x.name), x.traffic.redispatches)),
    );
}

fn checks(m: &mut Metrics, st: &Stats) {
    let c = &st.checks;
    m.counter(
        "server_checks",
        "Active health checks run",
        c.iter()
            .map(|x| (srv(&x.backend, &x.server), x.report.checks)),
    );
    m.counter(
        "server_check_failures",
        "Failed checks, passive failures included",
        c.iter()
            .map(|x| (srv(&x.backend, &x.server), x.report.failures)),
    );
    m.counter(
        "server_check_up_down",
        "UP/DOWN transitions",
        c.iter()
            .map(|x| (srv(&x.backend, &x.server), x.report.transitions)),
    );
    m.gauge(
        "server_check_duration_seconds",
        "How long the last check took",
        c.iter()
            .filter_map(|x| Some((srv(&x.backend, &x.server), x.report.last_duration_ms? / 1e3))),
    );
    m.gauge(
        "server_check_last_ok",
        "1 if the last check passed",
        c.iter()
            .filter_map(|x| Some((srv(&x.backend, &x.server), flag(x.report.last_ok?)))),
    );
    m.gauge(
        "server_state_duration_seconds",
        "Seconds in the current UP/DOWN state",
        c.iter()
            .filter_map(|x| Some((srv(&x.backend, &x.server), x.report.state_seconds?))),
    );
}

fn vrrp(m: &mut Metrics, st: &Stats) {
    let v = &st.status.vrrp;
    let inst = |name: &str| -> Labels { vec![("instance", name.to_string())] };
    m.gauge(
        "vrrp_state",
        "1 for the state the instance is in",
        v.iter().flat_map(|x| {
            ["init", "backup", "master", "fault", "stopping", "stop"].map(|state| {
                let mut l = inst(&x.name);
                l.push(("state", state.to_string()));
                (l, flag(x.state == state))
            })
        }),
    );
    m.gauge(
        "vrrp_priority",
        "Effective priority",
        v.iter().map(|x| (inst(&x.name), f64::from(x.priority))),
    );
    m.gauge(
        "vrrp_configured_priority",
        "Configured priority",
        v.iter()
            .map(|x| (inst(&x.name), f64::from(x.configured_priority))),
    );
    m.counter(
        "vrrp_transitions",
        "State changes",
        v.iter().map(|x| (inst(&x.name), x.transitions)),
    );
    m.counter(
        "vrrp_became_master",
        "Times it became master",
        v.iter().map(|x| (inst(&x.name), x.became_master)),
    );
    m.counter(
        "vrrp_adverts_sent",
        "Adverts sent",
        v.iter().map(|x| (inst(&x.name), x.adverts_tx)),
    );
    m.counter(
        "vrrp_adverts_received",
        "Valid adverts received",
        v.iter().map(|x| (inst(&x.name), x.adverts_rx)),
    );
    m.counter(
        "vrrp_dropped_adverts",
        "Adverts dropped (or flagged), by reason",
        v.iter().flat_map(|x| {
            x.drops.iter().map(|(reason, n)| {
                let mut l = inst(&x.name);
                l.push(("reason", reason.clone()));
                (l, *n)
            })
        }),
    );
    m.gauge(
        "vrrp_advert_lateness_p99_seconds",
        "99th percentile of how late timer-driven adverts left",
        v.iter()
            .filter(|x| x.advert_late.adverts > 0)
            .map(|x| (inst(&x.name), f64::from(x.advert_late.p99_us) / 1e6)),
    );
}

fn bgp(m: &mut Metrics, st: &Stats) {
    let b = &st.status.bgp;
    let nb = |name: &str| -> Labels { vec![("neighbor", name.to_string())] };
    m.gauge(
        "bgp_established",
        "1 while the session is Established",
        b.iter()
            .map(|x| (nb(&x.name), flag(x.state == "Established"))),
    );
    m.gauge(
        "bgp_state_duration_seconds",
        "Seconds in the current session state",
        b.iter()
            .filter_map(|x| Some((nb(&x.name), x.since_seconds? as f64))),
    );
    m.counter(
        "bgp_messages_received",
        "BGP messages received",
        b.iter().map(|x| (nb(&x.name), x.messages_in)),
    );
    m.counter(
        "bgp_messages_sent",
        "BGP messages sent",
        b.iter().map(|x| (nb(&x.name), x.messages_out)),
    );
    m.counter(
        "bgp_updates_received",
        "BGP UPDATE messages received",
        b.iter().map(|x| (nb(&x.name), x.updates_in)),
    );
    m.counter(
        "bgp_updates_sent",
        "BGP UPDATE messages sent",
        b.iter().map(|x| (nb(&x.name), x.updates_out)),
    );
    m.counter(
        "bgp_established_transitions",
        "Times the session reached Established",
        b.iter().map(|x| (nb(&x.name), x.established_count)),
    );
    m.gauge(
        "bgp_routes_announced",
        "Routes announced to the neighbor now",
        b.iter().map(|x| (nb(&x.name), x.routes_exported as f64)),
    );
    m.gauge(
        "bgp_routes_wanted",
        "Routes the announce policy wants announced",
        b.iter().map(|x| (nb(&x.name), x.routes_desired as f64)),
    );
    bfd(m, st);
}

/// The BFD sessions of the neighbors that have one.
fn bfd(m: &mut Metrics, st: &Stats) {
    let b: Vec<_> = st
        .status
        .bgp
        .iter()
        .filter_map(|x| Some((vec![("neighbor", x.name.clone())], x.bfd.as_ref()?)))
        .collect();
    m.gauge(
        "bfd_up",
        "1 while the neighbor's BFD session is Up",
        b.iter()
            .map(|(l, x)| (l.clone(), flag(x.state == crate::bfd::BfdState::Up))),
    );
    m.gauge(
        "bfd_detection_time_seconds",
        "Silence after which the neighbor is declared down",
        b.iter()
            .filter_map(|(l, x)| Some((l.clone(), x.detection_time_ms? as f64 / 1000.0))),
    );
    m.counter(
        "bfd_packets_received",
        "BFD packets accepted from the neighbor",
        b.iter().map(|(l, x)| (l.clone(), x.packets_in)),
    );
    m.counter(
        "bfd_packets_sent",
        "BFD packets sent to the neighbor",
        b.iter().map(|(l, x)| (l.clone(), x.packets_out)),
    );
    m.counter(
        "bfd_packets_discarded",
        "Datagrams from the neighbor's address discarded (TTL, malformed, unknown session)",
        b.iter().map(|(l, x)| (l.clone(), x.discarded)),
    );
    m.counter(
        "bfd_down_transitions",
        "Times the BFD session left Up",
        b.iter().map(|(l, x)| (l.clone(), x.down_transitions)),
    );
}

fn gateway(m: &mut Metrics, st: &Stats) {
    let Some(g) = &st.status.gateway else { return };
    let rule = |name: &str| -> Labels { vec![("rule", name.to_string())] };
    let dir = |name: &str, d: &str| -> Labels {
        vec![("rule", name.to_string()), ("direction", d.to_string())]
    };
    m.gauge(
        "gateway_forwarding",
        "1 while the kernel forwards the family",
        g.forwarding
            .iter()
            .map(|(f, on)| (vec![("family", f.clone())], flag(*on))),
    );
    m.counter(
        "gateway_nat_connections",
        "Connections the masquerade rule translated",
        g.nat.iter().map(|r| (rule(&r.rule), r.connections)),
    );
    m.counter(
        "gateway_nat_packets",
        "Packets forwarded through the rule's interface, out of the subnet and back in",
        g.nat.iter().flat_map(|r| {
            [
                (dir(&r.rule, "out"), r.packets_out),
                (dir(&r.rule, "in"), r.packets_in),
            ]
        }),
    );
    m.counter(
        "gateway_nat_bytes",
        "Bytes forwarded through the rule's interface, out of the subnet and back in",
        g.nat.iter().flat_map(|r| {
            [
                (dir(&r.rule, "out"), r.bytes_out),
                (dir(&r.rule, "in"), r.bytes_in),
            ]
        }),
    );
}

/// `mode = "nat"` frontends: per server, what the kernel sent each way.
fn nat(m: &mut Metrics, st: &Stats) {
    let servers = || {
        st.status
            .nat
            .iter()
            .flat_map(|f| f.servers.iter().map(move |v| (f, v)))
    };
    let of =
        |f: &crate::control::NatFrontendStatus, v: &crate::control::NatServerStatus| -> Labels {
            vec![
                ("frontend", f.name.clone()),
                ("backend", f.backend.clone()),
                ("server", v.name.clone()),
            ]
        };
    let dir = |f, v, d: &str| -> Labels {
        let mut l = of(f, v);
        l.push(("direction", d.to_string()));
        l
    };
    m.counter(
        "nat_connections",
        "Connections the kernel sent to the server (first packets: SYN without ACK)",
        servers().map(|(f, v)| (of(f, v), v.connections)),
    );
    m.counter(
        "nat_packets",
        "Packets the kernel rewrote, to the server and back",
        servers().flat_map(|(f, v)| {
            [
                (dir(f, v, "to_server"), v.packets_to),
                (dir(f, v, "to_client"), v.packets_back),
            ]
        }),
    );
    m.counter(
        "nat_bytes",
        "Bytes the kernel rewrote, to the server and back",
        servers().flat_map(|(f, v)| {
            [
                (dir(f, v, "to_server"), v.bytes_to),
                (dir(f, v, "to_client"), v.bytes_back),
            ]
        }),
    );
    m.gauge(
        "nat_table_share",
        "The server's share of its frontend's Maglev table (0 to 1)",
        st.status
            .nat
            .iter()
            .flat_map(|f| f.servers.iter().map(move |v| (of(f, v), f.fraction(v)))),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_proxy::Traffic;
    use rampart_proxy::stats::{BackendStats, FrontendStats, ProxyStats, ServerStats};

    fn sample() -> Stats {
        Stats {
            proxy: Some(ProxyStats {
                frontends: vec![FrontendStats {
                    name: "www".into(),
                    backend: "web".into(),
                    enabled: true,
                    limit: 100,
                    traffic: Traffic {
                        total: 7,
                        bytes_in: 70,
                        ..Traffic::default()
                    },
                }],
                backends: vec![BackendStats {
                    name: "web".into(),
                    queue: 0,
                    traffic: Traffic::default(),
                    servers: vec![ServerStats {
                        name: "w\"1".into(),
                        addr: "127.0.0.1:1".into(),
                        up: true,
                        admin: "drain".into(),
                        weight: 3,
                        backup: false,
                        traffic: Traffic {
                            total: 5,
                            ..Traffic::default()
                        },
                    }],
                }],
            }),
            ..Stats::default()
        }
    }

    #[test]
    fn names_follow_the_conventions_and_labels_are_escaped() {
        let text = render(&sample()).unwrap();
        assert!(
            text.contains("rampart_frontend_connections_total{frontend=\"www\"} 7\n"),
            "{text}"
        );
        assert!(text.contains("rampart_frontend_bytes_in_total{frontend=\"www\"} 70\n"));
        assert!(text.contains("# TYPE rampart_frontend_connections counter\n"));
        assert!(
            text.contains(
                "rampart_server_connections_total{backend=\"web\",server=\"w\\\"1\"} 5\n"
            )
        );
        assert!(text.contains(
            "rampart_server_admin_state{backend=\"web\",server=\"w\\\"1\",state=\"drain\"} 1.0\n"
        ));
        assert!(text.contains(
            "rampart_server_admin_state{backend=\"web\",server=\"w\\\"1\",state=\"ready\"} 0.0\n"
        ));
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn nat_counters_per_server_and_direction() {
        let mut st = sample();
        st.status.nat = vec![crate::control::NatFrontendStatus {
            name: "vip".into(),
            vip: "10.0.0.10:80".into(),
            backend: "web".into(),
            accepting: true,
            table_size: 4,
            servers: vec![crate::control::NatServerStatus {
                name: "w1".into(),
                addr: "192.168.1.21:80".into(),
                share: 1,
                connections: 3,
                packets_to: 30,
                bytes_to: 3000,
                packets_back: 20,
                bytes_back: 20_000,
            }],
        }];
        let text = render(&st).unwrap();
        let l = "frontend=\"vip\",backend=\"web\",server=\"w1\"";
        for want in [
            format!("rampart_nat_connections_total{{{l}}} 3\n"),
            format!("rampart_nat_packets_total{{{l},direction=\"to_server\"}} 30\n"),
            format!("rampart_nat_bytes_total{{{l},direction=\"to_client\"}} 20000\n"),
            format!("rampart_nat_table_share{{{l}}} 0.25\n"),
        ] {
            assert!(text.contains(&want), "{want}\n{text}");
        }
    }

    #[test]
    fn bfd_sessions_are_labelled_by_neighbor() {
        let mut st = sample();
        st.status.bgp = vec![
            crate::control::BgpStatus {
                name: "rtr".into(),
                bfd: Some(crate::bfd::BfdStatus {
                    state: crate::bfd::BfdState::Up,
                    detection_time_ms: Some(300),
                    packets_in: 42,
                    down_transitions: 1,
                    ..Default::default()
                }),
                ..Default::default()
            },
            crate::control::BgpStatus {
                name: "plain".into(),
                ..Default::default()
            },
        ];
        let text = render(&st).unwrap();
        assert!(
            text.contains("rampart_bfd_up{neighbor=\"rtr\"} 1.0\n"),
            "{text}"
        );
        assert!(text.contains("rampart_bfd_detection_time_seconds{neighbor=\"rtr\"} 0.3\n"));
        assert!(text.contains("rampart_bfd_packets_received_total{neighbor=\"rtr\"} 42\n"));
        assert!(text.contains("rampart_bfd_down_transitions_total{neighbor=\"rtr\"} 1\n"));
        // A neighbor without BFD has no BFD series.
        assert!(!text.contains("rampart_bfd_up{neighbor=\"plain\"}"));
    }
}

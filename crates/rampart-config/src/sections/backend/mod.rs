//! `[[backend]]`: balancing, timeouts and servers. Health checks are in
//! [`health`].

mod health;

use std::collections::HashMap;
use std::ops::Range;

use crate::defaults;
use crate::diag::Sink;
use crate::model::{Backend, Balance, Check, OnMarkedDown, ProxyVersion, Server, Timeouts};
use crate::reader::{self, Table};
use crate::values::net::socket_addr;
use crate::values::{self, name, one_of};

/// A backend plus where its name is, for checks across sections.
pub(crate) struct BackendAt {
    pub(crate) backend: Backend,
    /// The `name` value, when it was a string.
    pub(crate) name: Option<Range<usize>>,
    /// Keys written that only the proxy honours (`mode = "nat"` frontends
    /// refuse them), with their spans.
    pub(crate) proxy_only: Vec<(&'static str, Range<usize>)>,
}

pub(crate) fn backend(t: &Table, sink: &mut Sink) -> BackendAt {
    t.deny_unknown(
        &[
            "name",
            "balance",
            "retries",
            "timeout",
            "health",
            "servers",
            "on_marked_down",
        ],
        sink,
    );
    let name = t.required("name", sink).and_then(|v| name(v, "name", sink));

    let balance = t
        .get("balance")
        .and_then(|v| {
            let s = values::string(v, "balance", sink)?;
            let b = Balance::from_name(s);
            if b.is_none() {
                sink.error(v.span(), one_of("balance", s, &Balance::NAMES));
            }
            b
        })
        .unwrap_or(Balance::RoundRobin);
    let retries = t
        .get("retries")
        .and_then(|v| values::integer(v, "retries", 0, u32::MAX, sink))
        .unwrap_or(defaults::RETRIES);
    let timeout = t
        .entry("timeout")
        .and_then(|(key, v)| Table::of(v, "timeout", key, "`timeout`", sink))
        .map(|t| timeouts(&t, sink))
        .unwrap_or_default();
    let health = t
        .entry("health")
        .and_then(|(key, v)| Table::of(v, "health", key, "`health`", sink))
        .map(|t| health::health(&t, sink))
        .unwrap_or_default();
    let on_marked_down = t.get("on_marked_down").and_then(|v| {
        let s = values::string(v, "on_marked_down", sink)?;
        let m = OnMarkedDown::from_name(s);
        if m.is_none() {
            sink.error(v.span(), one_of("on_marked_down", s, &OnMarkedDown::NAMES));
        }
        m
    });
    // The NAT data plane picks by a Maglev hash of the client's address
    // and port, connects nothing and queues nothing.
    let mut proxy_only: Vec<(&'static str, Range<usize>)> = ["retries", "timeout"]
        .into_iter()
        .filter_map(|k| Some((k, t.get(k)?.span())))
        .collect();
    if let Some(v) = t.get("balance")
        && balance != Balance::Source
    {
        proxy_only.push(("balance", v.span()));
    }
    let servers = match t.entry("servers") {
        Some((key, v)) => servers(v, key, &health.check, &mut proxy_only, sink),
        None => {
            t.required("servers", sink);
            Vec::new()
        }
    };

    BackendAt {
        backend: Backend {
            name: name
                .as_ref()
                .map(|n| n.get_ref().clone())
                .unwrap_or_default(),
            balance,
            retries,
            timeout,
            health,
            servers,
            on_marked_down,
        },
        name: name.map(|n| n.span()),
        proxy_only,
    }
}

/// `timeout = { ... }`. Zero is refused where it would fail every
/// connection at once; `queue = "0s"` is allowed and means "never queue,
/// fail at once when all servers are full".
fn timeouts(t: &Table, sink: &mut Sink) -> Timeouts {
    t.deny_unknown(&["connect", "client", "server", "tunnel", "queue"], sink);
    let mut out = Timeouts::default();
    let read = |key: &str, nonzero: bool, sink: &mut Sink| {
        t.get(key)
            .and_then(|v| values::duration(v, key, nonzero, sink))
    };
    if let Some(d) = read("connect", true, sink) {
        out.connect = d;
    }
    if let Some(d) = read("client", true, sink) {
        out.client = d;
    }
    if let Some(d) = read("server", true, sink) {
        out.server = d;
    }
    if let Some(d) = read("tunnel", true, sink) {
        out.tunnel = Some(d);
    }
    if let Some(d) = read("queue", false, sink) {
        out.queue = d;
    }
    out
}

// === servers ===

/// `servers = [ { ... } ]` or `[[backend.servers]]`. Names must be unique
/// within the backend because health state, counters and the control API
/// address a server by `backend/server`.
fn servers(
    value: &values::Value,
    key: Range<usize>,
    check: &Check,
    proxy_only: &mut Vec<(&'static str, Range<usize>)>,
    sink: &mut Sink,
) -> Vec<Server> {
    let tables = reader::tables(value, "servers", "backend.servers", key, "server", sink);
    if value.get_ref().as_array().is_some_and(|a| a.is_empty()) {
        sink.error(value.span(), "`servers` must list at least one server");
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::with_capacity(tables.len());
    for t in &tables {
        for k in ["maxconn", "send_proxy"] {
            if let Some(v) = t.get(k) {
                proxy_only.push((k, v.span()));
            }
        }
        let (server, name_span) = server(t, check, sink);
        if let Some(span) = name_span {
            match seen.get(&server.name) {
                Some(first) => sink.error(
                    span,
                    format!(
                        "duplicate server name `{}` in this backend (first defined on line {})",
                        server.name,
                        sink.line(*first)
                    ),
                ),
                None => {
                    seen.insert(server.name.clone(), span.start);
                }
            }
        }
        out.push(server);
    }
    out
}

/// One server. `backend_check` is its backend's `check`: where nothing connects, a
/// server's check `port` or `addr` is an error rather than a setting that
/// silently does nothing.
fn server(t: &Table, backend_check: &Check, sink: &mut Sink) -> (Server, Option<Range<usize>>) {
    t.deny_unknown(
        &[
            "name",
            "addr",
            "weight",
            "backup",
            "maxconn",
            "send_proxy",
            "check",
            "health",
        ],
        sink,
    );
    let name = t.required("name", sink).and_then(|v| name(v, "name", sink));
    let addr = t.required("addr", sink).and_then(|v| {
        let s = values::string(v, "addr", sink)?;
        socket_addr("addr", s)
            .map_err(|e| sink.error(v.span(), e))
            .ok()
    });
    let weight = t
        .get("weight")
        .and_then(|v| values::integer(v, "weight", 0, defaults::WEIGHT_MAX, sink))
        .unwrap_or(defaults::WEIGHT);
    let backup = t
        .get("backup")
        .and_then(|v| values::boolean(v, "backup", sink))
        .unwrap_or(false);
    let maxconn = t
        .get("maxconn")
        .and_then(|v| values::integer(v, "maxconn", 0, u32::MAX, sink))
        .unwrap_or(0);
    let send_proxy = t.get("send_proxy").and_then(|v| {
        let s = values::string(v, "send_proxy", sink)?;
        match s {
            "v1" => Some(ProxyVersion::V1),
            "v2" => Some(ProxyVersion::V2),
            _ => {
                sink.error(v.span(), one_of("send_proxy", s, &["v1", "v2"]));
                None
            }
        }
    });
    let check = t
        .get("check")
        .and_then(|v| values::boolean(v, "check", sink))
        .unwrap_or(true);
    let health = t.entry("health").and_then(|(key, v)| {
        let table = Table::of(v, "health", key, "the server's `health`", sink)?;
        if !check {
            sink.error(
                v.span(),
                "the server's `health` has no effect with `check = false`",
            );
        }
        let h = health::server_health(&table, sink);
        if *backend_check == Check::None {
            for k in ["port", "addr"] {
                if let Some(v) = table.get(k) {
                    sink.error(
                        v.span(),
                        format!(
                            "`{k}` has no effect: the backend's check = \"none\" connects nowhere"
                        ),
                    );
                }
            }
        }
        Some(h)
    });

    let server = Server {
        name: name
            .as_ref()
            .map(|n| n.get_ref().clone())
            .unwrap_or_default(),
        // Only read when the whole file is valid, and then `addr` parsed.
        addr: addr.unwrap_or(std::net::SocketAddr::from(([0, 0, 0, 0], 0))),
        weight,
        backup,
        maxconn,
        send_proxy,
        check,
        health: health.unwrap_or_default(),
    };
    (server, name.map(|n| n.span()))
}

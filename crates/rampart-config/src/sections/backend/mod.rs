//! `[[backend]]`: balancing, timeouts and servers. Health checks are in
//! [`health`].

mod health;

use std::collections::HashMap;
use std::ops::Range;

use crate::defaults;
use crate::diag::Sink;
use crate::model::{Backend, Balance, Check, OnMarkedDown, ProxyVersion, Server, Timeouts};
use crate::reader::{self, Reader, Table};
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

pub(crate) fn backend(t: &Reader, sink: &mut Sink) -> BackendAt {
    let name = t.req("name", sink, name);
    let balance = t
        .opt("balance", sink, |v, key, sink| {
            let s = values::string(v, key, sink)?;
            let b = Balance::from_name(s);
            if b.is_none() {
                sink.error(v.span(), one_of(key, s, &Balance::NAMES));
            }
            b
        })
        .unwrap_or(Balance::RoundRobin);
    let retries = t
        .integer("retries", 0, u32::MAX, sink)
        .unwrap_or(defaults::RETRIES);
    let timeout = t
        .table("timeout", "`timeout`", sink)
        .map(|t| t.read(sink, timeouts))
        .unwrap_or_default();
    let health = t
        .table("health", "`health`", sink)
        .map(|t| t.read(sink, health::health))
        .unwrap_or_default();
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
    let on_marked_down = t.opt("on_marked_down", sink, |v, key, sink| {
        let s = values::string(v, key, sink)?;
        let m = OnMarkedDown::from_name(s);
        if m.is_none() {
            sink.error(v.span(), one_of(key, s, &OnMarkedDown::NAMES));
        }
        m
    });

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
fn timeouts(t: &Reader, sink: &mut Sink) -> Timeouts {
    let mut out = Timeouts::default();
    if let Some(d) = t.duration("connect", true, sink) {
        out.connect = d;
    }
    if let Some(d) = t.duration("client", true, sink) {
        out.client = d;
    }
    if let Some(d) = t.duration("server", true, sink) {
        out.server = d;
    }
    if let Some(d) = t.duration("tunnel", true, sink) {
        out.tunnel = Some(d);
    }
    if let Some(d) = t.duration("queue", false, sink) {
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
            if let Some(v) = t.peek(k) {
                proxy_only.push((k, v.span()));
            }
        }
        let (server, name_span) = t.read(sink, |t, sink| server(t, check, sink));
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
fn server(t: &Reader, backend_check: &Check, sink: &mut Sink) -> (Server, Option<Range<usize>>) {
    let name = t.req("name", sink, name);
    let addr = t.req("addr", sink, |v, key, sink| {
        let s = values::string(v, key, sink)?;
        socket_addr(key, s)
            .map_err(|e| sink.error(v.span(), e))
            .ok()
    });
    let weight = t
        .integer("weight", 0, defaults::WEIGHT_MAX, sink)
        .unwrap_or(defaults::WEIGHT);
    let backup = t.boolean("backup", sink).unwrap_or(false);
    let maxconn = t.integer("maxconn", 0, u32::MAX, sink).unwrap_or(0);
    let send_proxy = t.opt("send_proxy", sink, |v, key, sink| {
        match values::string(v, key, sink)? {
            "v1" => Some(ProxyVersion::V1),
            "v2" => Some(ProxyVersion::V2),
            s => {
                sink.error(v.span(), one_of(key, s, &["v1", "v2"]));
                None
            }
        }
    });
    let check = t.boolean("check", sink).unwrap_or(true);
    let health = t.entry("health").and_then(|(key, v)| {
        let table = Table::of(v, "health", key, "the server's `health`", sink)?;
        if !check {
            sink.error(
                v.span(),
                "the server's `health` has no effect with `check = false`",
            );
        }
        let h = table.read(sink, health::server_health);
        if *backend_check == Check::None {
            for k in ["port", "addr"] {
                if let Some(v) = table.peek(k) {
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

//! `[[frontend]]`: bind addresses, the backend, source ACLs and the mode.

use std::net::SocketAddr;
use std::ops::Range;

use ipnet::IpNet;
use toml::Spanned;

use crate::defaults;
use crate::diag::Sink;
use crate::model::{Frontend, Mode};
use crate::reader::Reader;
use crate::values::net::{cidr, socket_addr};
use crate::values::{self, Value, name, one_of};

/// A frontend plus the places that checks across sections point at.
pub(crate) struct FrontendAt {
    pub(crate) frontend: Frontend,
    /// The `name` value, when it was a string.
    pub(crate) name: Option<Range<usize>>,
    /// The `backend` value, when it was a string.
    pub(crate) backend: Option<Range<usize>>,
    /// The bind addresses that parsed, with their spans.
    pub(crate) bind: Vec<Spanned<SocketAddr>>,
    /// The `mode` value, when one was written.
    pub(crate) mode: Option<Range<usize>>,
    /// Keys written that only the proxy honours, with their spans.
    pub(crate) proxy_only: Vec<(&'static str, Range<usize>)>,
}

pub(crate) fn frontend(t: &Reader, sink: &mut Sink) -> FrontendAt {
    let name = t.req("name", sink, name);
    let bind = t.req("bind", sink, bind).unwrap_or_default();
    let backend = t.req("backend", sink, values::reference);
    let maxconn = t
        .integer("maxconn", 1, u32::MAX, sink)
        .unwrap_or(defaults::FRONTEND_MAXCONN);
    let allow = t.opt("allow", sink, cidrs).unwrap_or_default();
    let deny = t.opt("deny", sink, cidrs).unwrap_or_default();
    let mode = t.opt("mode", sink, |v, key, sink| {
        let s = values::string(v, key, sink)?;
        match Mode::from_name(s) {
            Some(m) => Some(Spanned::new(v.span(), m)),
            None => {
                sink.error(v.span(), one_of(key, s, &Mode::NAMES));
                None
            }
        }
    });
    let rate_limit = t.opt("rate_limit", sink, |v, key, sink| {
        let n = values::integer(v, key, 1, u32::MAX, sink)?;
        if mode.as_ref().map(|m| *m.get_ref()) != Some(Mode::Nat) {
            sink.error(
                v.span(),
                "`rate_limit` is enforced by the kernel in `mode = \"nat\"` only; \
                 the proxy bounds its connections with `maxconn`",
            );
        }
        Some(n)
    });
    let proxy_only = ["maxconn"]
        .into_iter()
        .filter_map(|k| Some((k, t.get(k)?.span())))
        .collect();

    FrontendAt {
        frontend: Frontend {
            name: name
                .as_ref()
                .map(|n| n.get_ref().clone())
                .unwrap_or_default(),
            bind: bind.iter().map(|a| *a.get_ref()).collect(),
            backend: backend
                .as_ref()
                .map(|b| b.get_ref().to_string())
                .unwrap_or_default(),
            // Resolved with the other sections (`validate`).
            backend_index: 0,
            maxconn,
            allow,
            deny,
            mode: mode.as_ref().map(|m| *m.get_ref()).unwrap_or_default(),
            rate_limit,
        },
        name: name.map(|n| n.span()),
        backend: backend.map(|b| b.span()),
        bind,
        mode: mode.map(|m| m.span()),
        proxy_only,
    }
}

/// `bind`: at least one address.
fn bind(v: &Value, key: &str, sink: &mut Sink) -> Option<Vec<Spanned<SocketAddr>>> {
    if v.get_ref().as_array().is_some_and(|items| items.is_empty()) {
        sink.error(v.span(), format!("`{key}` must list at least one address"));
    }
    values::parsed_list(v, key, sink, |s| socket_addr(key, s))
}

/// `allow` and `deny`.
fn cidrs(v: &Value, key: &str, sink: &mut Sink) -> Option<Vec<IpNet>> {
    let list = values::parsed_list(v, key, sink, |s| cidr(key, s))?;
    Some(list.into_iter().map(Spanned::into_inner).collect())
}

//! `[[frontend]]`: bind addresses, the backend, source ACLs and the mode.

use std::net::SocketAddr;
use std::ops::Range;

use ipnet::IpNet;
use toml::Spanned;

use crate::defaults;
use crate::diag::Sink;
use crate::model::{Frontend, Mode};
use crate::reader::Table;
use crate::values::net::{cidr, socket_addr};
use crate::values::{self, name, one_of};

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

pub(crate) fn frontend(t: &Table, sink: &mut Sink) -> FrontendAt {
    t.deny_unknown(
        &[
            "name",
            "bind",
            "backend",
            "maxconn",
            "allow",
            "deny",
            "mode",
            "rate_limit",
        ],
        sink,
    );
    let name = t.required("name", sink).and_then(|v| name(v, "name", sink));
    let backend = t
        .required("backend", sink)
        .and_then(|v| values::string(v, "backend", sink).map(|s| Spanned::new(v.span(), s)));

    let bind = match t.required("bind", sink) {
        Some(v) => {
            if v.get_ref().as_array().is_some_and(|items| items.is_empty()) {
                sink.error(v.span(), "`bind` must list at least one address");
            }
            values::parsed_list(v, "bind", sink, |s| socket_addr("bind", s)).unwrap_or_default()
        }
        None => Vec::new(),
    };
    let maxconn = t
        .get("maxconn")
        .and_then(|v| values::integer(v, "maxconn", 1, u32::MAX, sink))
        .unwrap_or(defaults::FRONTEND_MAXCONN);
    let acl = |key: &str, sink: &mut Sink| -> Vec<IpNet> {
        t.get(key)
            .and_then(|v| values::parsed_list(v, key, sink, |s| cidr(key, s)))
            .map(|l| l.into_iter().map(Spanned::into_inner).collect())
            .unwrap_or_default()
    };
    let allow = acl("allow", sink);
    let deny = acl("deny", sink);
    let mode = t.get("mode").and_then(|v| {
        let s = values::string(v, "mode", sink)?;
        match Mode::from_name(s) {
            Some(m) => Some(Spanned::new(v.span(), m)),
            None => {
                sink.error(v.span(), one_of("mode", s, &Mode::NAMES));
                None
            }
        }
    });
    let rate_limit = t.get("rate_limit").and_then(|v| {
        let n = values::integer(v, "rate_limit", 1, u32::MAX, sink)?;
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

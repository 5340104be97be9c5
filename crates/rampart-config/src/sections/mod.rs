//! One module per section of the file: a function that reads the
//! section's table into its part of the [`Config`], plus
//! the places ("spans") that checks across sections point at. Sections
//! never import each other: values two sections share are parsed in
//! [`crate::values`], checks across sections are in [`crate::validate`].

pub(crate) mod admin;
pub(crate) mod backend;
pub(crate) mod bgp;
pub(crate) mod frontend;
pub(crate) mod gateway;
pub(crate) mod global;
pub(crate) mod vrrp;

use crate::diag::Sink;
use crate::model::Config;
use crate::reader::{self, Table};
use crate::validate;

/// The top level: only known sections.
pub(crate) fn document(root: &Table, sink: &mut Sink) -> Config {
    root.deny_unknown(
        &[
            "global", "frontend", "backend", "vrrp", "bgp", "gateway", "admin",
        ],
        sink,
    );
    let global = root
        .entry("global")
        .and_then(|(key, v)| Table::of(v, "global", key, "[global]", sink))
        .map(|t| global::global(&t, sink))
        .unwrap_or_default();
    let frontends: Vec<_> = match root.entry("frontend") {
        Some((key, v)) => reader::tables(v, "frontend", "frontend", key, "frontend", sink)
            .iter()
            .map(|t| frontend::frontend(t, sink))
            .collect(),
        None => Vec::new(),
    };
    let backends: Vec<_> = match root.entry("backend") {
        Some((key, v)) => reader::tables(v, "backend", "backend", key, "backend", sink)
            .iter()
            .map(|t| backend::backend(t, sink))
            .collect(),
        None => Vec::new(),
    };
    let vrrp = root
        .entry("vrrp")
        .and_then(|(key, v)| Table::of(v, "vrrp", key, "[vrrp]", sink))
        .map(|t| vrrp::vrrp(&t, sink))
        .unwrap_or_default();
    let bgp = root
        .entry("bgp")
        .and_then(|(key, v)| Table::of(v, "bgp", key, "[bgp]", sink))
        .map(|t| bgp::bgp(&t, sink))
        .unwrap_or_default();
    let gateway = root
        .entry("gateway")
        .and_then(|(key, v)| Table::of(v, "gateway", key, "[gateway]", sink))
        .map(|t| gateway::gateway(&t, sink))
        .unwrap_or_default();
    let admin = root
        .entry("admin")
        .and_then(|(key, v)| Table::of(v, "admin", key, "[admin]", sink))
        .and_then(|t| admin::admin(&t, sink));
    validate::cross_check(&frontends, &backends, sink);
    validate::vrrp::cross_check(&vrrp, &frontends, sink);
    validate::bgp::cross_check(&bgp, &vrrp, &frontends, sink);
    validate::nat::cross_check(&frontends, &backends, &gateway, sink);
    let config = Config {
        global,
        frontends: frontends.into_iter().map(|f| f.frontend).collect(),
        backends: backends.into_iter().map(|b| b.backend).collect(),
        vrrp: vrrp.into_model(),
        bgp: bgp.into_model(),
        gateway,
        admin,
    };
    validate::something_to_run(&config, sink);
    config
}

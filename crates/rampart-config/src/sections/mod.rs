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
use crate::model::{AdminHttp, Config, Gateway, Global};
use crate::reader::Table;
use crate::validate;

/// The sections as read, with the places the checks across them point at.
struct Sections {
    global: Global,
    frontends: Vec<frontend::FrontendAt>,
    backends: Vec<backend::BackendAt>,
    vrrp: vrrp::VrrpAt,
    bgp: bgp::BgpAt,
    gateway: Gateway,
    admin: Option<AdminHttp>,
}

/// The top level: only known sections. Unknown ones are reported when
/// `read` returns, before the checks across sections: "nothing to run"
/// is said only when nothing else is wrong.
pub(crate) fn document(root: &Table, sink: &mut Sink) -> Config {
    let mut s = root.read(sink, |t, sink| Sections {
        global: t
            .table("global", "[global]", sink)
            .map(|t| t.read(sink, global::global))
            .unwrap_or_default(),
        frontends: t
            .tables("frontend", "frontend", "frontend", sink)
            .iter()
            .map(|t| t.read(sink, frontend::frontend))
            .collect(),
        backends: t
            .tables("backend", "backend", "backend", sink)
            .iter()
            .map(|t| t.read(sink, backend::backend))
            .collect(),
        vrrp: t
            .table("vrrp", "[vrrp]", sink)
            .map(|t| t.read(sink, vrrp::vrrp))
            .unwrap_or_default(),
        bgp: t
            .table("bgp", "[bgp]", sink)
            .map(|t| t.read(sink, bgp::bgp))
            .unwrap_or_default(),
        gateway: t
            .table("gateway", "[gateway]", sink)
            .map(|t| t.read(sink, gateway::gateway))
            .unwrap_or_default(),
        admin: t
            .table("admin", "[admin]", sink)
            .and_then(|t| t.read(sink, admin::admin)),
    });
    validate::cross_check(&mut s.frontends, &s.backends, sink);
    validate::vrrp::cross_check(&s.vrrp, &s.frontends, sink);
    validate::bgp::cross_check(&s.bgp, &s.vrrp, &s.frontends, sink);
    validate::nat::cross_check(&s.frontends, &s.backends, &s.gateway, sink);
    let config = Config {
        global: s.global,
        frontends: s.frontends.into_iter().map(|f| f.frontend).collect(),
        backends: s.backends.into_iter().map(|b| b.backend).collect(),
        vrrp: s.vrrp.into_model(),
        bgp: s.bgp.into_model(),
        gateway: s.gateway,
        admin: s.admin,
    };
    validate::something_to_run(&config, sink);
    config
}

//! rampart's configuration: a strict TOML format parsed into one typed
//! [`Config`], reporting every error at once with file, line and column.
//!
//! ```text
//! node.toml:7:1: error: unknown key `bnd` in frontend; did you mean `bind`?
//!   |
//! 7 | bnd = ["127.0.0.1:8080"]
//!   | ^^^
//! ```
//!
//! How it works: toml's span-preserving parser gives a document whose every
//! key and value knows its byte range. The modules below walk it by hand
//! (serde's derive would stop at the first problem), build the model while
//! recording every problem in a `diag::Sink`, and return the model only
//! when nothing was recorded. So a [`Config`] is always complete and valid,
//! and a user fixing a file sees all of its problems in one run.
//!
//! - `walk`: typed reads (string, integer in range, duration, ...)
//! - `frontend`, `backend`, `health`: one function per section
//! - `vrrp`, `vrrp_instance`, `vrrp_lists`: the `[vrrp]` section
//! - `bgp`, `bgp_neighbor`, `bgp_announce`: the `[bgp]` section
//! - `gateway`: the `[gateway]` section (forwarding, masquerade)
//! - `admin`: the `[admin]` section (metrics and dashboard listener)
//! - `validate`, `validate_vrrp`, `validate_bgp`: checks across sections
//!   (unique names, references)
//! - `file`: reading a file (size limit, UTF-8)
//! - `report`: problems found after parsing (on the host), with line and
//!   column, located by their path in the document
//! - `diag`: diagnostics and their rendering
//! - `import_haproxy`, `import_keepalived`, `import_bird`: other programs'
//!   configs as rampart TOML

#![forbid(unsafe_code)]

mod admin;
mod backend;
mod bgp;
mod bgp_announce;
mod bgp_bfd;
mod bgp_neighbor;
pub mod defaults;
mod diag;
mod duration;
mod file;
mod frontend;
mod gateway;
mod health;
mod import_bird;
mod import_haproxy;
mod import_keepalived;
mod model;
mod model_bgp;
mod model_vrrp;
mod report;
mod validate;
mod validate_bgp;
mod validate_nat;
mod validate_vrrp;
mod vrrp;
mod vrrp_instance;
mod vrrp_lists;
mod walk;

use std::path::Path;

use toml::de::DeTable;

pub use diag::{Diagnostic, Errors};
pub use duration::parse_duration;
pub use file::{MAX_FILE_SIZE, read_file};
pub use frontend::NAME_MAX;
pub use import_bird::import_bird;
pub use import_haproxy::{Imported, import_haproxy};
pub use import_keepalived::import_keepalived;
pub use model::*;
pub use report::{Report, Step};

use diag::Sink;
use walk::Table;

/// Parses a configuration. `origin` names the source in messages (usually
/// the file name). Returns every problem in the file, not just the first.
pub fn parse(origin: &str, src: &str) -> Result<Config, Errors> {
    let mut sink = Sink::new(src);
    // Only the first syntax error: after one, toml's recovery guesses at
    // the structure and the further errors it reports are mostly echoes.
    let doc = match DeTable::parse(src) {
        Ok(doc) => doc,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            sink.error(span, format!("invalid TOML: {}", e.message()));
            return Err(sink.into_errors(origin));
        }
    };
    let config = document(&Table::root(doc.get_ref()), &mut sink);
    if sink.is_empty() {
        Ok(config)
    } else {
        Err(sink.into_errors(origin))
    }
}

/// Reads ([`read_file`]) and parses a file. A file that cannot be read,
/// is too large or is not UTF-8 is reported like any other error, so that
/// callers have one error path.
pub fn load(path: &Path) -> Result<Config, Errors> {
    let text = read_file(path)?;
    parse(&path.display().to_string(), &text)
}

/// The top level: only known sections.
fn document(root: &Table, sink: &mut Sink) -> Config {
    root.deny_unknown(
        &[
            "global", "frontend", "backend", "vrrp", "bgp", "gateway", "admin",
        ],
        sink,
    );
    let global = root
        .entry("global")
        .and_then(|(key, v)| Table::of(v, "global", key, "[global]", sink))
        .map(|t| frontend::global(&t, sink))
        .unwrap_or_default();
    let frontends: Vec<_> = match root.entry("frontend") {
        Some((key, v)) => walk::tables(v, "frontend", "frontend", key, "frontend", sink)
            .iter()
            .map(|t| frontend::frontend(t, sink))
            .collect(),
        None => Vec::new(),
    };
    let backends: Vec<_> = match root.entry("backend") {
        Some((key, v)) => walk::tables(v, "backend", "backend", key, "backend", sink)
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
    validate_vrrp::cross_check(&vrrp, &frontends, sink);
    validate_bgp::cross_check(&bgp, &vrrp, &frontends, sink);
    validate_nat::cross_check(&frontends, &backends, &gateway, sink);
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

//! Checks that need more than one section: something to run, unique
//! names, backend references, and bind addresses used once. Each error points at the
//! second occurrence and says where the first one is, because that is the
//! one the user just added.
//!
//! The checks between frontends and backends are here; those of
//! `[vrrp]`, `[bgp]` and NAT frontends in [`vrrp`], [`bgp`] and [`nat`].
//! Sections never look at each other: what crosses sections is here.

pub(crate) mod bgp;
pub(crate) mod nat;
pub(crate) mod vrrp;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Range;

use crate::diag::{Sink, did_you_mean};
use crate::model::Config;
use crate::sections::backend::BackendAt;
use crate::sections::frontend::FrontendAt;

/// A file with nothing to run is refused, as HAProxy refuses one without
/// listeners: applied by a SIGHUP, an empty or truncated file would close
/// every listener and release every address. Reported at the start of the
/// file, since no line is to blame; and only when nothing else is wrong,
/// because a section that failed to parse is left empty, and "nothing to
/// run" would then only echo its error.
pub(crate) fn something_to_run(config: &Config, sink: &mut Sink) {
    let idle = sink.is_empty()
        && config.frontends.is_empty()
        && config.vrrp.instances.is_empty()
        && !config.bgp.is_enabled()
        && !config.gateway.is_enabled();
    if idle {
        sink.error(
            0..0,
            "nothing to run: no [[frontend]], no [[vrrp.instance]], no [[bgp.neighbor]] and no \
             [gateway] forwarding or masquerade; a node needs at least one of them",
        );
    }
}

pub(crate) fn cross_check(frontends: &mut [FrontendAt], backends: &[BackendAt], sink: &mut Sink) {
    unique_names(
        "frontend",
        frontends
            .iter()
            .filter_map(|f| Some((f.frontend.name.as_str(), f.name.clone()?))),
        sink,
    );
    unique_names(
        "backend",
        backends
            .iter()
            .filter_map(|b| Some((b.backend.name.as_str(), b.name.clone()?))),
        sink,
    );
    unique_binds(frontends, sink);
    resolve_backends(frontends, backends, sink);
}

pub(crate) fn unique_names<'a>(
    kind: &str,
    names: impl Iterator<Item = (&'a str, Range<usize>)>,
    sink: &mut Sink,
) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (name, span) in names {
        match seen.get(name) {
            Some(first) => {
                let line = sink.line(*first);
                sink.error(
                    span,
                    format!("duplicate {kind} name `{name}` (first defined on line {line})"),
                );
            }
            None => {
                seen.insert(name, span.start);
            }
        }
    }
}

/// Two listeners on one address would either fail to bind or, with
/// SO_REUSEPORT, silently split the traffic between two frontends.
fn unique_binds(frontends: &[FrontendAt], sink: &mut Sink) {
    let mut seen: HashMap<SocketAddr, (usize, usize)> = HashMap::new();
    for (index, f) in frontends.iter().enumerate() {
        for addr in &f.bind {
            match seen.get(addr.get_ref()) {
                Some(&(first_index, first_at)) => {
                    let line = sink.line(first_at);
                    let owner = if first_index == index {
                        "this frontend".to_string()
                    } else {
                        format!("frontend `{}`", frontends[first_index].frontend.name)
                    };
                    sink.error(
                        addr.span(),
                        format!(
                            "bind address {} is already used by {owner} (line {line})",
                            addr.get_ref()
                        ),
                    );
                }
                None => {
                    seen.insert(*addr.get_ref(), (index, addr.span().start));
                }
            }
        }
    }
}

/// Each frontend's `backend` name → its index in the backends, or an
/// error at the name. The one place a frontend's backend is looked up.
fn resolve_backends(frontends: &mut [FrontendAt], backends: &[BackendAt], sink: &mut Sink) {
    let names: Vec<&str> = backends
        .iter()
        .filter(|b| b.name.is_some())
        .map(|b| b.backend.name.as_str())
        .collect();
    for f in frontends {
        let Some(span) = f.backend.clone() else {
            continue;
        };
        let wanted = f.frontend.backend.as_str();
        let found = backends
            .iter()
            .position(|b| b.name.is_some() && b.backend.name == wanted);
        if let Some(index) = found {
            f.frontend.backend_index = index;
            continue;
        }
        let hint = match did_you_mean(wanted, &names) {
            Some(close) => format!("; did you mean `{close}`?"),
            None if names.is_empty() => "; no [[backend]] is defined".to_string(),
            None => format!(" (defined backends: {})", names.join(", ")),
        };
        sink.error(span, format!("backend `{wanted}` is not defined{hint}"));
    }
}

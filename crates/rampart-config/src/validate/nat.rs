//! What `mode = "nat"` frontends need and refuse. The kernel rewrites
//! packets; nothing connects, queues, retries or times out on this node.
//! So every key only the proxy honours is refused where it is written,
//! with the reason, rather than silently ignored; and the node must
//! forward (it is the servers' route back, as the seed's gateway VIP is).

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::diag::Sink;
use crate::model::{Family, Gateway, Mode};
use crate::sections::backend::BackendAt;
use crate::sections::frontend::FrontendAt;

/// Why NAT mode cannot honour a key.
fn reason(key: &str) -> &'static str {
    match key {
        "maxconn" => {
            "the kernel forwards packets and counts no connections; `rate_limit` bounds new ones"
        }
        "retries" => "the kernel cannot retry a connect it never makes",
        "timeout" => {
            "the kernel keeps no per-connection timers (the client's and the server's TCP do)"
        }
        "balance" => {
            "NAT picks a server by a Maglev hash of the client's address and port, the same \
             on every node; remove `balance` or write \"source\""
        }
        "send_proxy" => {
            "the kernel cannot insert a PROXY header; the server sees the client's own \
             address anyway"
        }
        _ => "only the proxy honours it",
    }
}

pub(crate) fn cross_check(
    frontends: &[FrontendAt],
    backends: &[BackendAt],
    gateway: &Gateway,
    sink: &mut Sink,
) {
    // Server address -> the frontend (and its address) that replies from
    // it are rewritten to: one, or the rewrite is ambiguous.
    let mut owner: HashMap<SocketAddr, (&str, SocketAddr)> = HashMap::new();
    for f in frontends.iter().filter(|f| f.frontend.mode == Mode::Nat) {
        let name = f.frontend.name.as_str();
        let at = f.mode.clone().unwrap_or(0..0);
        for (key, span) in &f.proxy_only {
            sink.error(
                span.clone(),
                format!(
                    "`{key}` is not honoured in `mode = \"nat\"`: {}",
                    reason(key)
                ),
            );
        }
        if f.bind.len() > 1 {
            sink.error(
                f.bind[1].span(),
                "a `mode = \"nat\"` frontend binds one address: replies from its servers are \
                 rewritten back to it",
            );
        }
        let Some(bind) = f.bind.first() else { continue };
        let vip = *bind.get_ref();
        if vip.ip().is_unspecified() || vip.port() == 0 || vip.ip() != vip.ip().to_canonical() {
            sink.error(
                bind.span(),
                format!(
                    "`mode = \"nat\"` needs the service's own address and port (the VIP), not \
                     {vip}: the kernel matches packets by their destination"
                ),
            );
        }
        let family = Family::of(vip.ip());
        if !gateway.forward.contains(&family) {
            sink.error(
                at.clone(),
                format!(
                    "`mode = \"nat\"` forwards packets: it needs `[gateway]` with `forward = \
                     [\"{}\"]` (this node is the servers' route back, as the gateway VIP)",
                    family.key()
                ),
            );
        }
        let Some(b) = backends
            .get(f.frontend.backend_index)
            .filter(|b| b.backend.name == f.frontend.backend)
        else {
            continue;
        };
        for (key, span) in &b.proxy_only {
            sink.error(
                span.clone(),
                format!(
                    "`{key}` is not honoured by frontend `{name}` (`mode = \"nat\"`): {}",
                    reason(key)
                ),
            );
        }
        let mut seen = std::collections::HashSet::new();
        for s in &b.backend.servers {
            let ip = s.addr.ip();
            if ip != ip.to_canonical() || ip.is_loopback() || ip.is_unspecified() {
                sink.error(
                    at.clone(),
                    format!(
                        "server `{}/{}` ({}) cannot be reached by rewriting packets: give it its \
                         own address on the servers' network",
                        b.backend.name, s.name, s.addr
                    ),
                );
            }
            if !seen.insert(s.addr) {
                sink.error(
                    at.clone(),
                    format!(
                        "server {} is listed twice in backend `{}`: in `mode = \"nat\"` a \
                         server is known by its address",
                        s.addr, b.backend.name
                    ),
                );
            }
            if Family::of(s.addr.ip()) != family {
                sink.error(
                    at.clone(),
                    format!(
                        "server `{}/{}` ({}) is not of the family of {vip}: the kernel \
                         rewrites addresses within one family",
                        b.backend.name, s.name, s.addr
                    ),
                );
            }
            match owner.get(&s.addr) {
                Some(&(other, other_vip)) if other_vip != vip => sink.error(
                    at.clone(),
                    format!(
                        "server {} is behind both `{other}` ({other_vip}) and `{name}` ({vip}) \
                         in `mode = \"nat\"`: its replies can be rewritten back to one of them \
                         only",
                        s.addr
                    ),
                ),
                _ => {
                    owner.insert(s.addr, (name, vip));
                }
            }
        }
    }
}

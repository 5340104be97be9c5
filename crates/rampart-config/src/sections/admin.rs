//! `[admin]`: the HTTP listener for `/metrics` (Prometheus) and the
//! dashboard. Off unless the section is there. `peer` names the other
//! node's listener, to which server and frontend commands follow.

use std::net::SocketAddr;

use crate::defaults;
use crate::diag::Sink;
use crate::model::{AdminHttp, AdminPeer};
use crate::reader::Reader;
use crate::values::{self, net::socket_addr};

/// Shortest token accepted: long enough that guessing it over HTTP is
/// hopeless (16 random bytes, hex-encoded, are 32 characters).
pub const MIN_TOKEN: usize = 16;

pub(crate) fn admin(t: &Reader, sink: &mut Sink) -> Option<AdminHttp> {
    let listen: Option<SocketAddr> = t.req("listen", sink, |v, key, sink| {
        let s = values::string(v, key, sink)?;
        socket_addr(key, s)
            .map_err(|e| sink.error(v.span(), e))
            .ok()
    });
    let token = t.opt("token", sink, |v, key, sink| {
        let s = values::string(v, key, sink)?;
        if s.chars().count() < MIN_TOKEN {
            sink.error(
                v.span(),
                format!("`token` is shorter than {MIN_TOKEN} characters; use e.g. the output of `openssl rand -hex 16`"),
            );
            return None;
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            sink.error(v.span(), "`token` contains whitespace or control characters");
            return None;
        }
        Some(s.to_string())
    });
    // A `token` that is there but wrong has its own error already.
    let peer = peer(t, listen, t.get("token").is_some(), sink);
    Some(AdminHttp {
        listen: listen?,
        token,
        peer: peer?,
    })
}

/// `peer` and `follow`. `Some(None)`: no peer; `None`: an error was
/// reported.
fn peer(
    t: &Reader,
    listen: Option<SocketAddr>,
    has_token: bool,
    sink: &mut Sink,
) -> Option<Option<AdminPeer>> {
    let peer = t.entry("peer");
    let follow = t
        .entry("follow")
        .map(|(key, v)| (key, values::boolean(v, "follow", sink)));
    let Some((key, v)) = peer else {
        if let Some((key, _)) = follow {
            sink.error(
                key,
                "`follow` needs `peer` (the other node's [admin] listen address)",
            );
            return None;
        }
        return Some(None);
    };
    let s = values::string(v, "peer", sink)?;
    let addr = socket_addr("peer", s)
        .map_err(|e| sink.error(v.span(), e))
        .ok()?;
    let mut ok = true;
    if addr.ip().is_unspecified() {
        sink.error(
            v.span(),
            format!("`peer`: `{s}` is not an address the other node listens on; write its [admin] listen address"),
        );
        ok = false;
    }
    if listen == Some(addr) {
        sink.error(
            v.span(),
            "`peer` is this node's own `listen`; write the other node's [admin] listen address",
        );
        ok = false;
    }
    if !has_token {
        sink.error(
            key,
            "`peer` needs `token`: commands go to the peer with it, so both nodes must set the same token",
        );
        ok = false;
    }
    let follow = match follow {
        Some((_, Some(f))) => f,
        Some((_, None)) => return None,
        None => defaults::ADMIN_FOLLOW,
    };
    ok.then_some(Some(AdminPeer { addr, follow }))
}

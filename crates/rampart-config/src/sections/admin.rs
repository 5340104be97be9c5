//! `[admin]`: the HTTP listener for `/metrics` (Prometheus) and the
//! dashboard. Off unless the section is there. `peer` names the other
//! node's listener, to which server and frontend commands follow.

use std::net::SocketAddr;

use crate::defaults;
use crate::diag::Sink;
use crate::model::{AdminHttp, AdminPeer};
use crate::reader::Table;
use crate::values::{self, net::socket_addr};

/// Shortest token accepted: long enough that guessing it over HTTP is
/// hopeless (16 random bytes, hex-encoded, are 32 characters).
pub const MIN_TOKEN: usize = 16;

pub(crate) fn admin(t: &Table, sink: &mut Sink) -> Option<AdminHttp> {
    t.deny_unknown(&["listen", "token", "peer", "follow"], sink);
    let listen: Option<SocketAddr> = t.required("listen", sink).and_then(|v| {
        let s = values::string(v, "listen", sink)?;
        socket_addr("listen", s)
            .map_err(|e| sink.error(v.span(), e))
            .ok()
    });
    let token = t.get("token").and_then(|v| {
        let s = values::string(v, "token", sink)?;
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
    t: &Table,
    listen: Option<SocketAddr>,
    has_token: bool,
    sink: &mut Sink,
) -> Option<Option<AdminPeer>> {
    let follow = t
        .get("follow")
        .map(|v| values::boolean(v, "follow", sink).ok_or(v));
    let Some((key, v)) = t.entry("peer") else {
        if let Some((key, _)) = t.entry("follow") {
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
        Some(Ok(f)) => f,
        Some(Err(_)) => return None,
        None => defaults::ADMIN_FOLLOW,
    };
    ok.then_some(Some(AdminPeer { addr, follow }))
}

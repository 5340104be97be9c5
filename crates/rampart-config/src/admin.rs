//! `[admin]`: the HTTP listener for `/metrics` (Prometheus) and the
//! dashboard. Off unless the section is there.

use std::net::SocketAddr;

use crate::diag::Sink;
use crate::frontend::socket_addr;
use crate::model::AdminHttp;
use crate::walk::{self, Table};

/// Shortest token accepted: long enough that guessing it over HTTP is
/// hopeless (16 random bytes, hex-encoded, are 32 characters).
pub const MIN_TOKEN: usize = 16;

pub(crate) fn admin(t: &Table, sink: &mut Sink) -> Option<AdminHttp> {
    t.deny_unknown(&["listen", "token"], sink);
    let listen: Option<SocketAddr> = t.required("listen", sink).and_then(|v| {
        let s = walk::string(v, "listen", sink)?;
        socket_addr("listen", s)
            .map_err(|e| sink.error(v.span(), e))
            .ok()
    });
    let token = t.get("token").and_then(|v| {
        let s = walk::string(v, "token", sink)?;
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
    Some(AdminHttp {
        listen: listen?,
        token,
    })
}

//! `[admin] peer`: an operator's server and frontend commands follow to
//! the other node, as Google's Seesaw syncs operator overrides, so that
//! draining a server for maintenance drains it on both load balancers.
//!
//! The supervisor applies a command here first. Only if that succeeds is
//! it sent to the peer's `POST /action` (the dashboard's form) with the
//! shared token and `follow=no`: the peer applies it as its own operator's
//! command and never passes it on, so there are no loops whatever the two
//! configs say. The local change stands whatever the peer answers; the
//! operator's answer says both.
//!
//! The sending runs in a task of its own, so a slow or dead peer never
//! holds the supervisor's loop (VRRP and BGP run there); the operator's
//! answer waits for it at most [`TIMEOUT`].
//!
//! The client is hyper's (already here for axum), one connection per
//! command: commands are rare, and a pool would only hold a socket open
//! to a node that may be gone by the next one.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header;
use rampart_config::AdminHttp;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::admin::{Action as ServerAction, ServerCommand};

/// How long a command waits for the peer: connect, send, its answer. The
/// peer answers once its workers applied it, which takes milliseconds;
/// a peer that needs longer is reported as not answering (it may still
/// apply the command).
pub const TIMEOUT: Duration = Duration::from_secs(2);
/// Longest answer read from the peer (a JSON line of one sentence).
const MAX_ANSWER: usize = 16 * 1024;

/// Where the operator's answer goes: what changed, or why not.
pub type Reply = oneshot::Sender<Result<String, String>>;

/// Whether a command follows to the peer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Follow {
    /// As `[admin] follow` says (no peer: it does not).
    #[default]
    Default,
    /// `--both`: follows, even with `follow = false`; an error without a
    /// peer.
    Both,
    /// `--local`, and every command a peer sent: this node only.
    Local,
}

impl Follow {
    /// Splits a trailing `--both` or `--local` off a request's words.
    pub fn split<'a, 'w>(words: &'a [&'w str]) -> (&'a [&'w str], Follow) {
        match words {
            [rest @ .., "--both"] => (rest, Follow::Both),
            [rest @ .., "--local"] => (rest, Follow::Local),
            _ => (words, Follow::Default),
        }
    }

    /// What the request line carries after the command.
    pub fn flag(self) -> &'static str {
        match self {
            Follow::Default => "",
            Follow::Both => " --both",
            Follow::Local => " --local",
        }
    }
}

/// `--both` and `--local` of `rampart server` and `rampart frontend`.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct FollowArgs {
    /// Also apply it on the `[admin] peer` node, even with `follow =
    /// false` (an error if this node has no peer).
    #[arg(long, conflicts_with = "local")]
    both: bool,
    /// Apply it on this node only, even with `[admin] follow` on.
    #[arg(long)]
    local: bool,
}

impl FollowArgs {
    pub fn follow(self) -> Follow {
        match (self.both, self.local) {
            (true, _) => Follow::Both,
            (_, true) => Follow::Local,
            _ => Follow::Default,
        }
    }
}

/// A command as the peer's `POST /action` takes it (the dashboard's form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    pub kind: String,
    pub target: String,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<String>,
    /// `yes`: `maint --shutdown-sessions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shutdown_sessions: Option<String>,
    /// `no`: sent by a peer; apply here only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow: Option<String>,
}

/// The `follow` field of a followed command.
pub const FOLLOWED: &str = "no";

impl Action {
    /// `rampart server ...`, for the peer.
    pub fn server(cmd: &ServerCommand) -> Action {
        let (action, weight) = match cmd.action {
            ServerAction::Set(a) => (a.as_str().to_string(), None),
            ServerAction::Weight(w) => ("weight".to_string(), Some(w.to_string())),
        };
        Action {
            kind: "server".into(),
            target: format!("{}/{}", cmd.backend, cmd.server),
            action,
            weight,
            shutdown_sessions: cmd.shutdown_sessions.then(|| "yes".into()),
            follow: Some(FOLLOWED.into()),
        }
    }

    /// `rampart frontend disable|enable NAME`, for the peer.
    pub fn frontend(enable: bool, name: &str) -> Action {
        Action {
            kind: "frontend".into(),
            target: name.into(),
            action: if enable { "enable" } else { "disable" }.into(),
            weight: None,
            shutdown_sessions: None,
            follow: Some(FOLLOWED.into()),
        }
    }
}

/// Where a command goes besides this node: `Ok(None)` nowhere, `Err` when
/// `--both` asks for a peer this node does not have.
pub fn peer_of(
    cfg: Option<&AdminHttp>,
    follow: Follow,
) -> Result<Option<(SocketAddr, String)>, String> {
    let peer = cfg.and_then(|a| Some((a.peer?, a.token.clone()?)));
    match (follow, peer) {
        (Follow::Local, _) => Ok(None),
        (Follow::Both, None) => Err(
            "--both: this node has no [admin] peer (set `peer` and `token` in [admin]); nothing was changed"
                .into(),
        ),
        (Follow::Both, Some((p, token))) => Ok(Some((p.addr, token))),
        (Follow::Default, Some((p, token))) if p.follow => Ok(Some((p.addr, token))),
        (Follow::Default, _) => Ok(None),
    }
}

/// The supervisor calls this before applying `action` here, with the
/// operator's `reply`. It returns where the supervisor sends the local
/// outcome: `reply` itself if the command stays here; else a channel whose
/// success is followed to the peer before `reply` gets both. `None`: the
/// command is refused (answered already) and must not be applied.
pub fn follow(
    cfg: Option<&AdminHttp>,
    follow: Follow,
    action: Action,
    reply: Reply,
) -> Option<Reply> {
    let (addr, token) = match peer_of(cfg, follow) {
        Ok(Some(p)) => p,
        Ok(None) => return Some(reply),
        Err(e) => {
            let _ = reply.send(Err(e));
            return None;
        }
    };
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let answer = match rx.await {
            Ok(Ok(line)) => Ok(format!("{line}; {}", send(addr, &token, &action).await)),
            Ok(Err(e)) => Err(e),
            // The supervisor is stopping.
            Err(_) => return,
        };
        let _ = reply.send(answer);
    });
    Some(tx)
}

/// Sends `action` to the peer: what it says it did, or why it did not.
pub async fn send(addr: SocketAddr, token: &str, action: &Action) -> String {
    let what = format!("{} {} {}", action.kind, action.action, action.target);
    match tokio::time::timeout(TIMEOUT, post(addr, token, action)).await {
        Ok(Ok(changed)) => format!("peer {addr}: {changed}"),
        Ok(Err(why)) => {
            tracing::warn!("peer {addr} did not apply {what}: {why}; it stands on this node");
            format!("peer {addr} did not apply it: {why} (the change stands on this node)")
        }
        // It may have applied it and be slow to say so.
        Err(_) => {
            tracing::warn!(
                "peer {addr} did not answer {what} within {TIMEOUT:?}; it stands on this node"
            );
            format!(
                "peer {addr} did not answer within {TIMEOUT:?}: it may not have applied it (the change stands on this node)"
            )
        }
    }
}

/// The peer's answer: `{"changed": ...}` or `{"error": ...}`.
#[derive(Deserialize)]
struct Answer {
    changed: Option<String>,
    error: Option<String>,
}

/// Aborts the connection's task when the exchange ends or is dropped (on
/// the timeout).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn post(addr: SocketAddr, token: &str, action: &Action) -> Result<String, String> {
    let body = serde_urlencoded::to_string(action).map_err(|e| e.to_string())?;
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    let _conn = AbortOnDrop(tokio::spawn(async move {
        let _ = conn.await;
    }));
    let request = hyper::Request::post("/action")
        .header(header::HOST, addr.to_string())
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let bytes = Limited::new(response.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| format!("reading its answer: {e}"))?
        .to_bytes();
    match serde_json::from_slice::<Answer>(&bytes) {
        Ok(Answer {
            changed: Some(c), ..
        }) if status.is_success() => Ok(c),
        Ok(Answer { error: Some(e), .. }) => Err(e),
        _ => Err(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).trim()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_is_the_last_word_and_round_trips() {
        let words = ["drain", "pool/web1", "--both"];
        assert_eq!(
            Follow::split(&words),
            (&["drain", "pool/web1"][..], Follow::Both)
        );
        assert_eq!(Follow::split(&["x", "--local"]).1, Follow::Local);
        assert_eq!(Follow::split(&["x"]).1, Follow::Default);
        for f in [Follow::Default, Follow::Both, Follow::Local] {
            let line = format!("drain{}", f.flag());
            let words: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(Follow::split(&words).1, f);
        }
    }

    #[test]
    fn a_followed_command_is_marked_and_encodes_as_the_dashboard_form() {
        let cmd = ServerCommand::parse(&["maint", "pool/web1", "--shutdown-sessions"])
            .unwrap_or_else(|e| panic!("{e}"));
        let a = Action::server(&cmd);
        assert_eq!(a.follow.as_deref(), Some(FOLLOWED));
        assert_eq!(
            serde_urlencoded::to_string(&a).ok().as_deref(),
            Some("kind=server&target=pool%2Fweb1&action=maint&shutdown_sessions=yes&follow=no")
        );
        let w =
            ServerCommand::parse(&["weight", "pool/web1", "3"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(Action::server(&w).weight.as_deref(), Some("3"));
        assert_eq!(Action::frontend(false, "www").action, "disable");
    }

    #[test]
    fn who_gets_a_command() {
        let peer = |follow| AdminHttp {
            listen: "10.10.0.11:9180".parse().unwrap_or_else(|e| panic!("{e}")),
            token: Some("0123456789abcdef".into()),
            peer: Some(rampart_config::AdminPeer {
                addr: "10.10.0.12:9180".parse().unwrap_or_else(|e| panic!("{e}")),
                follow,
            }),
        };
        let alone = AdminHttp {
            peer: None,
            ..peer(true)
        };
        let to =
            |cfg: Option<&AdminHttp>, f| peer_of(cfg, f).map(|p| p.map(|(a, _)| a.to_string()));
        let lb2 = Ok(Some("10.10.0.12:9180".to_string()));
        assert_eq!(to(Some(&peer(true)), Follow::Default), lb2);
        assert_eq!(to(Some(&peer(true)), Follow::Local), Ok(None));
        assert_eq!(to(Some(&peer(false)), Follow::Default), Ok(None));
        assert_eq!(to(Some(&peer(false)), Follow::Both), lb2);
        assert_eq!(to(Some(&alone), Follow::Default), Ok(None));
        assert!(to(Some(&alone), Follow::Both).is_err_and(|e| e.contains("no [admin] peer")));
        assert!(to(None, Follow::Both).is_err());
        assert_eq!(to(None, Follow::Local), Ok(None));
    }
}

//! One BGP neighbor: a task that owns the sans-IO `rampart_bgp::Session`
//! and its TCP connection, connecting out (active) and taking connections
//! the listener hands over (passive).

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rampart_bgp::{Action, Incoming, Initiator, Route, Session, SessionConfig, State};
use rampart_sys::bgp_socket::{self, BgpSockOpts};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::show::AtSession;
use crate::control::BgpStatus;

/// How long an outbound connect may take before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const READ_BUF: usize = 8192;

/// Commands from the manager.
pub enum Cmd {
    Status(oneshot::Sender<BgpStatus>),
    /// Withdraw everything, wait `linger`, send Cease with the message.
    Shutdown(String, Duration),
    /// `rampart upgrade`: hand the Established session and its
    /// connection over and end the task without a word to the peer; or
    /// answer `None` (no Established session) and go on.
    Handover(oneshot::Sender<Option<Taken>>),
    /// `rampart show routes`: what the session says about these routes.
    Show(Vec<Route>, oneshot::Sender<Shown>),
    /// BFD declared the neighbor down: close the session now.
    BfdDown,
    /// Answered once the routes given last are on the wire (their UPDATE
    /// written to the connection, if there is an Established one): the
    /// node drain resigns VRRP only after its withdrawal left.
    Flush(oneshot::Sender<()>),
}

/// The session's part of `show routes`.
pub struct Shown {
    /// RFC 4271's name of the session's state.
    pub state: String,
    /// Per route asked about, in order.
    pub routes: Vec<AtSession>,
}

/// An Established session on its way to another process (or back to this
/// one, should the exec fail): its state and a duplicate of its
/// connection's descriptor.
#[derive(Debug)]
pub struct Taken {
    pub name: String,
    pub handover: rampart_bgp::Handover,
    pub fd: std::os::fd::OwnedFd,
    /// The neighbor's BFD session, if it has one (the manager adds it).
    pub bfd: Option<crate::bfd::Handed>,
}

/// What the task needs to know about its neighbor.
pub struct Spec {
    pub name: String,
    pub session: SessionConfig,
    pub peer: SocketAddr,
    pub local: Option<IpAddr>,
    pub opts: BgpSockOpts,
    pub has_password: bool,
}

struct Conn {
    read: OwnedReadHalf,
    write: OwnedWriteHalf,
}

/// Runs the neighbor until it has shut down.
pub async fn run(
    spec: Spec,
    mut routes: watch::Receiver<Vec<Route>>,
    mut accepted: mpsc::Receiver<TcpStream>,
    mut cmds: mpsc::UnboundedReceiver<Cmd>,
    resumed: Option<Taken>,
) {
    let name = spec.name.clone();
    let mut session = Session::new(spec.session.clone());
    let mut conn: Option<Conn> = None;
    let now = Instant::now();
    if let Some(t) = resumed {
        match resume(&spec, t, routes.borrow_and_update().clone(), now) {
            Ok((s, c)) => {
                tracing::info!(neighbor = %name, "BGP session taken over, Established");
                session = s;
                conn = Some(c);
            }
            Err(e) => {
                tracing::warn!(neighbor = %name, "BGP session not taken over ({e}): starting anew")
            }
        }
    }
    let mut connecting: Option<JoinHandle<()>> = None;
    let (connect_tx, mut connect_rx) = mpsc::unbounded_channel::<std::io::Result<TcpStream>>();
    let mut buf = vec![0u8; READ_BUF];
    let mut shutting_down = false;
    // `Cmd::Flush` answers, sent once the actions before them are done.
    let mut flushed: Vec<oneshot::Sender<()>> = Vec::new();

    if conn.is_none() {
        session.set_routes(now, routes.borrow_and_update().clone());
        session.start(now);
    }
    loop {
        // Carry out what the session asked for, in order.
        while let Some(action) = session.poll_action() {
            match action {
                Action::Connect => {
                    if let Some(t) = connecting.take() {
                        t.abort();
                    }
                    let tx = connect_tx.clone();
                    let (local, peer, opts) = (spec.local, spec.peer, spec.opts.clone());
                    connecting = Some(tokio::spawn(async move {
                        let _ = tx.send(connect(local, peer, &opts).await);
                    }));
                }
                Action::Transmit(bytes) => {
                    if let Some(c) = &mut conn
                        && let Err(e) = c.write.write_all(&bytes).await
                    {
                        tracing::debug!(neighbor = %name, "BGP write: {e}");
                        conn = None;
                        session.closed(Instant::now());
                    }
                }
                Action::Disconnect => {
                    if let Some(t) = connecting.take() {
                        t.abort();
                    }
                    if let Some(mut c) = conn.take() {
                        let _ = c.write.shutdown().await;
                    }
                }
                Action::StateChanged { from, to } => {
                    tracing::warn!(neighbor = %name, "BGP {} -> {}", from.as_str(), to.as_str());
                    if to == State::Established {
                        let st = session.status();
                        tracing::info!(
                            neighbor = %name,
                            hold = st.hold_time.unwrap_or(0),
                            routes = st.routes_desired,
                            "BGP session established"
                        );
                    }
                }
            }
        }
        for f in flushed.drain(..) {
            let _ = f.send(());
        }
        if shutting_down && session.state() == State::Idle && conn.is_none() {
            break;
        }
        let deadline = session.poll_timeout();
        let sleep = tokio::time::sleep_until(crate::task::deadline(deadline));
        tokio::select! {
            read = read_some(&mut conn, &mut buf) => {
                let now = Instant::now();
                match read {
                    Ok(0) | Err(_) => {
                        conn = None;
                        session.closed(now);
                    }
                    Ok(n) => session.handle_bytes(now, &buf[..n]),
                }
            }
            Some(result) = connect_rx.recv() => {
                connecting = None;
                let now = Instant::now();
                match result {
                    Ok(stream) => take(&mut session, &mut conn, stream, Initiator::Local, now, &name),
                    Err(e) => {
                        tracing::debug!(neighbor = %name, "BGP connect to {}: {e}", spec.peer);
                        if spec.has_password && e.kind() == std::io::ErrorKind::TimedOut {
                            tracing::info!(neighbor = %name, "BGP connect timed out (a TCP MD5 password mismatch looks like this)");
                        }
                        session.connect_failed(now);
                    }
                }
            }
            Some(stream) = accepted.recv() => {
                let now = Instant::now();
                match session.incoming(now) {
                    Incoming::Accept => {
                        // The session may first have closed the old
                        // connection or dropped an attempt: carry that out.
                        while let Some(a) = session.poll_action() {
                            match a {
                                Action::Disconnect => {
                                    if let Some(t) = connecting.take() {
                                        t.abort();
                                    }
                                    if let Some(mut c) = conn.take() {
                                        let _ = c.write.shutdown().await;
                                    }
                                }
                                Action::Transmit(bytes) => {
                                    if let Some(c) = &mut conn {
                                        let _ = c.write.write_all(&bytes).await;
                                    }
                                }
                                _ => {}
                            }
                        }
                        take(&mut session, &mut conn, stream, Initiator::Remote, now, &name);
                    }
                    Incoming::Reject => drop(stream),
                }
            }
            _ = sleep, if deadline.is_some() => session.handle_timeout(Instant::now()),
            Ok(()) = routes.changed() => {
                let r = routes.borrow_and_update().clone();
                if !shutting_down {
                    session.set_routes(Instant::now(), r);
                }
            }
            Some(cmd) = cmds.recv() => match cmd {
                Cmd::Status(reply) => {
                    let _ = reply.send(status(&name, &session, spec.has_password));
                }
                Cmd::Show(asked, reply) => {
                    let _ = reply.send(shown(&session, &asked));
                }
                Cmd::Flush(reply) => {
                    // The routes may have changed just before this
                    // command came: take them first.
                    if routes.has_changed().unwrap_or(false) {
                        let r = routes.borrow_and_update().clone();
                        if !shutting_down {
                            session.set_routes(Instant::now(), r);
                        }
                    }
                    flushed.push(reply);
                }
                Cmd::BfdDown => session.bfd_down(Instant::now()),
                Cmd::Shutdown(message, linger) => {
                    shutting_down = true;
                    session.shutdown(Instant::now(), &message, linger);
                }
                Cmd::Handover(reply) => {
                    let taken = match (&conn, session.handover()) {
                        (Some(c), Some(handover)) => {
                            use std::os::fd::AsFd;
                            match c.write.as_ref().as_fd().try_clone_to_owned() {
                                Ok(fd) => Some(Taken { name: name.clone(), handover, fd, bfd: None }),
                                Err(e) => {
                                    tracing::warn!(neighbor = %name, "cannot hand the BGP connection over: {e}");
                                    None
                                }
                            }
                        }
                        _ => None,
                    };
                    let handed = taken.is_some();
                    // Nobody waits any more (the upgrade gave up on us):
                    // the session stays here.
                    if reply.send(taken).is_ok() && handed {
                        // Not a byte more, and no FIN: dropping a write
                        // half shuts the stream down (for every copy of
                        // the descriptor); `forget` does not.
                        if let Some(c) = conn.take() {
                            c.write.forget();
                        }
                        return;
                    }
                }
            },
        }
    }
    if let Some(t) = connecting {
        t.abort();
    }
}

/// The session and connection of a [`Taken`] handover.
fn resume(
    spec: &Spec,
    t: Taken,
    routes: Vec<Route>,
    now: Instant,
) -> Result<(Session, Conn), String> {
    let std_stream = std::net::TcpStream::from(t.fd);
    std_stream
        .set_nonblocking(true)
        .map_err(|e| e.to_string())?;
    let stream = TcpStream::from_std(std_stream).map_err(|e| e.to_string())?;
    if stream.peer_addr().map_err(|e| e.to_string())?.ip() != spec.peer.ip() {
        return Err("the connection is to another address".into());
    }
    let session = Session::resume(spec.session.clone(), now, routes, t.handover)
        .map_err(|e| e.to_string())?;
    let (read, write) = stream.into_split();
    Ok((session, Conn { read, write }))
}

/// Hands a connected stream to the session, which may refuse it.
fn take(
    session: &mut Session,
    conn: &mut Option<Conn>,
    stream: TcpStream,
    who: Initiator,
    now: Instant,
    name: &str,
) {
    let Ok(local) = stream.local_addr() else {
        return;
    };
    let _ = stream.set_nodelay(true);
    if session.connected(now, local.ip(), who) {
        let (read, write) = stream.into_split();
        *conn = Some(Conn { read, write });
    } else {
        tracing::debug!(neighbor = %name, "BGP connection refused by the session ({who:?})");
    }
}

/// Reads from the connection, or waits forever without one.
async fn read_some(conn: &mut Option<Conn>, buf: &mut [u8]) -> std::io::Result<usize> {
    match conn {
        Some(c) => c.read.read(buf).await,
        None => std::future::pending().await,
    }
}

async fn connect(
    local: Option<IpAddr>,
    peer: SocketAddr,
    opts: &BgpSockOpts,
) -> std::io::Result<TcpStream> {
    let sock = bgp_socket::bgp_connect_socket(local, peer, opts)?;
    let std_stream: std::net::TcpStream = sock.into();
    let socket = tokio::net::TcpSocket::from_std_stream(std_stream);
    match tokio::time::timeout(CONNECT_TIMEOUT, socket.connect(peer)).await {
        Ok(r) => r,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "connect timed out",
        )),
    }
}

/// Whether the router has each route from us, and its next hop: the one
/// sent, else the one it would be sent with.
fn shown(session: &Session, routes: &[Route]) -> Shown {
    let routes = routes
        .iter()
        .map(|r| match session.exported_next_hop(&r.prefix) {
            Some(hop) => AtSession {
                sent: true,
                next_hop: Some(hop),
            },
            None => AtSession {
                sent: false,
                next_hop: session.next_hop(r),
            },
        })
        .collect();
    Shown {
        state: session.state().as_str().to_string(),
        routes,
    }
}

/// What `birdc show protocols all` tells. The password is never shown,
/// only whether there is one.
fn status(name: &str, session: &Session, has_password: bool) -> BgpStatus {
    let s = session.status();
    let caps = |c: &[rampart_bgp::Capability]| c.iter().map(|c| c.to_string()).collect::<Vec<_>>();
    BgpStatus {
        name: name.to_string(),
        state: s.state.as_str().to_string(),
        since_seconds: s.since.map(|t| t.elapsed().as_secs()),
        neighbor: s.neighbor.to_string(),
        neighbor_as: s.peer_as,
        neighbor_router_id: s.peer_router_id.map(|r| r.to_string()),
        local_as: s.local_as,
        router_id: s.router_id.to_string(),
        hold_time: s.hold_time,
        keepalive_seconds: s.keepalive.map(|k| k.as_secs()),
        capabilities_local: caps(&s.local_capabilities),
        capabilities_remote: caps(&s.remote_capabilities),
        families: s.families.iter().map(|f| format!("{f:?}")).collect(),
        four_octet_as: s.four_octet_as,
        routes_desired: s.routes_desired,
        routes_exported: s.routes_exported,
        last_error: s.last_error.as_ref().map(|e| e.text.clone()),
        messages_in: s.messages_in.total(),
        messages_out: s.messages_out.total(),
        updates_in: s.messages_in.update,
        updates_out: s.messages_out.update,
        established_count: s.established_count,
        password: if has_password { "set" } else { "none" }.to_string(),
        // Filled in by the manager, which has the BFD driver.
        bfd: None,
    }
}

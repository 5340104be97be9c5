//! The BFD driver: the sans-IO `rampart_bfd::Endpoint` on a thread of its
//! own, with the port-3784 sockets and one sending socket per session
//! (`rampart_sys::bfd_socket`). The BGP driver owns it: it asks for a
//! session per neighbor with `bfd = true` ([`Handle::set`],
//! [`Handle::remove`]) and reads the state changes from the channel
//! [`start`] returns, closing a BGP session when its BFD session fails.
//!
//! A thread, like VRRP's, at real-time priority: at 100 ms × 3 the router
//! declares us dead after 300 ms without a packet, so a packet must never
//! wait behind a reload, a status request or a fork on the supervisor's
//! runtime.

mod handover;
mod status;

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

use anyhow::{Context, Result};
use rampart_bfd::{Action, Endpoint, SessionConfig, Transition};
use rampart_sys::bfd_socket::{BfdListener, BfdSender};
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, oneshot};

pub use handover::Handed;
pub use status::{BfdState, BfdStatus};

use crate::task::{Inbox, TaskHandle};

/// A state change of the session with `peer`.
#[derive(Debug, Clone, Copy)]
pub struct Event {
    pub peer: IpAddr,
    pub transition: Transition,
}

/// One session to run: with `peer`, from `local` if given (else the
/// kernel's choice, as for the BGP connection), named `name` in logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want {
    pub name: String,
    pub peer: IpAddr,
    pub local: Option<IpAddr>,
    pub cfg: SessionConfig,
}

enum Cmd {
    Set(Want),
    /// Go on with a session a previous program handed over.
    Resume(Want, Handed),
    Remove(IpAddr),
    Snapshot(IpAddr, oneshot::Sender<Option<Handed>>),
}

/// Controls the driver.
pub struct Handle {
    task: TaskHandle<Vec<(IpAddr, BfdStatus)>>,
    cmds: mpsc::UnboundedSender<Cmd>,
}

impl Handle {
    /// Starts a session, or changes a running one (new timers go through
    /// a Poll Sequence; a new source address reopens its socket).
    pub fn set(&self, want: Want) {
        let _ = self.cmds.send(Cmd::Set(want));
    }

    /// Goes on with the session a previous program handed over
    /// (`rampart upgrade`), so the peer sees no change.
    pub fn resume(&self, want: Want, handed: Handed) {
        let _ = self.cmds.send(Cmd::Resume(want, handed));
    }

    /// The session with `peer`, to hand over to the next program; it runs
    /// on here until the exec (or on, if the exec fails).
    pub async fn snapshot(&self, peer: IpAddr) -> Option<Handed> {
        let (tx, rx) = oneshot::channel();
        self.cmds.send(Cmd::Snapshot(peer, tx)).ok()?;
        rx.await.ok().flatten()
    }

    /// Ends the session with `peer`, telling it AdminDown first.
    pub fn remove(&self, peer: IpAddr) {
        let _ = self.cmds.send(Cmd::Remove(peer));
    }

    /// Every session's status, by peer.
    pub async fn status(&self) -> Vec<(IpAddr, BfdStatus)> {
        self.task.status().await
    }

    /// Every session goes AdminDown, says so, and the thread ends.
    pub async fn stop(self) {
        self.task.stop().await;
    }
}

/// Starts the driver thread; its state changes arrive on the receiver.
pub fn start() -> Result<(Handle, mpsc::UnboundedReceiver<Event>)> {
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (event_tx, event_rx) = mpsc::unbounded_channel();
    let task = TaskHandle::spawn_thread("rampart-bfd", move |inbox| async move {
        use rampart_sys::limits::{VRRP_RT_PRIORITY, set_thread_realtime};
        if let Err(e) = set_thread_realtime(VRRP_RT_PRIORITY) {
            tracing::warn!(
                "BFD thread left at normal priority ({e}): packets may be late on a busy machine"
            );
        }
        Driver::new(event_tx).run(inbox, cmd_rx).await;
    })
    .context("cannot start the BFD thread")?;
    Ok((Handle { task, cmds: cmd_tx }, event_rx))
}

/// A session's socket and what it was opened for.
struct Sender {
    name: String,
    local: Option<IpAddr>,
    /// `None` until it opens (a source address may not exist yet).
    socket: Option<BfdSender>,
    /// The last failure was logged: once until the socket opens.
    failed: bool,
}

/// The IPv4 and IPv6 port-3784 sockets, opened when a session of the
/// family first needs one. Apart from the [`Driver`], so that waiting on
/// them borrows nothing the loop changes.
#[derive(Default)]
struct Listeners {
    v4: Option<AsyncFd<BfdListener>>,
    v6: Option<AsyncFd<BfdListener>>,
}

struct Driver {
    endpoint: Endpoint,
    /// A session was set: open its family's listener if it is not open.
    listen: Option<bool>,
    senders: HashMap<IpAddr, Sender>,
    events: mpsc::UnboundedSender<Event>,
    /// Spreads the sessions' source ports over the range.
    next_port: u16,
}

impl Driver {
    fn new(events: mpsc::UnboundedSender<Event>) -> Driver {
        let seed = seed();
        let span = u64::from(rampart_bfd::SOURCE_PORTS.end() - rampart_bfd::SOURCE_PORTS.start());
        let next_port = rampart_bfd::SOURCE_PORTS.start() + u16::try_from(seed % span).unwrap_or(0);
        Driver {
            endpoint: Endpoint::new(seed),
            listen: None,
            senders: HashMap::new(),
            events,
            next_port,
        }
    }

    async fn run(
        mut self,
        mut inbox: Inbox<Vec<(IpAddr, BfdStatus)>>,
        mut cmds: mpsc::UnboundedReceiver<Cmd>,
    ) {
        let mut buf = [0u8; 128];
        let mut listeners = Listeners::default();
        loop {
            if let Some(v6) = self.listen.take() {
                listeners.open(v6);
            }
            // Timers due are served here too, not only when the select
            // below picks them: a stream of datagrams (a flood, even) keeps
            // the socket branches ready, and our packets must still leave.
            let now = Instant::now();
            if self.endpoint.poll_timeout().is_some_and(|t| t <= now) {
                self.endpoint.handle_timeout(now);
            }
            self.carry_out();
            let deadline = self.endpoint.poll_timeout();
            let sleep = tokio::time::sleep_until(crate::task::deadline(deadline));
            tokio::select! {
                // Packets already queued reach the sessions before any
                // timer: after a stall, a detection timeout must not fire
                // while the peer's packets wait in the socket.
                biased;
                r = readable(listeners.v4.as_ref()) => receive(&mut self.endpoint, r, &mut buf),
                r = readable(listeners.v6.as_ref()) => receive(&mut self.endpoint, r, &mut buf),
                _ = sleep, if deadline.is_some() => self.endpoint.handle_timeout(Instant::now()),
                Some(cmd) = cmds.recv() => match cmd {
                    Cmd::Set(want) => self.set(want, None),
                    Cmd::Resume(want, handed) => self.set(want, Some(handed)),
                    Cmd::Remove(peer) => self.remove(peer),
                    Cmd::Snapshot(peer, reply) => {
                        let _ = reply.send(self.endpoint.snapshot(peer).map(Handed::from));
                    }
                },
                Some(reply) = inbox.status.recv() => {
                    let now = Instant::now();
                    let all = self
                        .endpoint
                        .peers()
                        .filter_map(|p| Some((p, BfdStatus::new(&self.endpoint.status(p)?, now))))
                        .collect();
                    let _ = reply.send(all);
                }
                done = &mut inbox.stop => {
                    // The AdminDown packets are in the kernel's hands once
                    // sent: closing the sockets after does not lose them.
                    self.endpoint.shutdown(Instant::now());
                    self.carry_out();
                    if let Ok(done) = done {
                        let _ = done.send(());
                    }
                    return;
                }
            }
        }
    }

    /// Sends what the sessions queued and reports their state changes.
    fn carry_out(&mut self) {
        while let Some((peer, action)) = self.endpoint.poll_action() {
            match action {
                Action::Transmit(bytes) => self.send(peer, &bytes),
                Action::StateChanged(t) => self.changed(peer, t),
            }
        }
    }

    fn changed(&self, peer: IpAddr, t: Transition) {
        let name = self.senders.get(&peer).map_or("", |s| s.name.as_str());
        tracing::warn!(
            neighbor = %name,
            %peer,
            "BFD {} -> {} ({})",
            t.from.as_str(),
            t.to.as_str(),
            t.diag.text()
        );
        let _ = self.events.send(Event {
            peer,
            transition: t,
        });
    }

    fn send(&mut self, peer: IpAddr, bytes: &[u8]) {
        let port = self.next_port;
        let Some(s) = self.senders.get_mut(&peer) else {
            return;
        };
        if s.socket.is_none() {
            match BfdSender::open(peer, s.local, port) {
                Ok(sock) => {
                    s.socket = Some(sock);
                    s.failed = false;
                    self.next_port = port
                        .checked_add(1)
                        .unwrap_or(*rampart_bfd::SOURCE_PORTS.start());
                }
                Err(e) => {
                    if !std::mem::replace(&mut s.failed, true) {
                        tracing::warn!(neighbor = %s.name, %peer, "BFD socket: {e}; retrying with each packet");
                    }
                    return;
                }
            }
        }
        if let Some(sock) = &s.socket
            && let Err(e) = sock.send(bytes)
        {
            // A lost packet: BFD is made to survive some.
            tracing::trace!(neighbor = %s.name, %peer, "BFD send: {e}");
        }
    }

    fn set(&mut self, want: Want, handed: Option<Handed>) {
        let now = Instant::now();
        self.listen = Some(want.peer.is_ipv6());
        let reopen = self
            .senders
            .get(&want.peer)
            .is_none_or(|s| s.local != want.local);
        if reopen {
            self.senders.insert(
                want.peer,
                Sender {
                    name: want.name.clone(),
                    local: want.local,
                    socket: None,
                    failed: false,
                },
            );
        } else if let Some(s) = self.senders.get_mut(&want.peer) {
            s.name = want.name.clone();
        }
        let (discr, how) = match handed {
            Some(h) => {
                let snap = rampart_bfd::Snapshot::from(h);
                let d = self.endpoint.resume(now, want.peer, want.cfg, &snap);
                let how = if d == h.local_discriminator {
                    "taken over"
                } else {
                    "not taken over: started anew"
                };
                (d, how)
            }
            None => (self.endpoint.set(now, want.peer, want.cfg), "set"),
        };
        tracing::info!(
            neighbor = %want.name,
            peer = %want.peer,
            discriminator = discr,
            "BFD session {how}: {:?} x {}",
            want.cfg.desired_min_tx,
            want.cfg.detect_mult
        );
    }

    fn remove(&mut self, peer: IpAddr) {
        for action in self.endpoint.remove(Instant::now(), peer) {
            match action {
                Action::Transmit(bytes) => self.send(peer, &bytes),
                Action::StateChanged(t) => self.changed(peer, t),
            }
        }
        if let Some(s) = self.senders.remove(&peer) {
            tracing::info!(neighbor = %s.name, %peer, "BFD session removed");
        }
    }
}

impl Listeners {
    /// Opens the family's port-3784 socket if it is not open yet; a
    /// failure (another BFD daemon on this host) is logged each time a
    /// session is set, since without it no session can come up.
    fn open(&mut self, v6: bool) {
        let slot = if v6 { &mut self.v6 } else { &mut self.v4 };
        if slot.is_some() {
            return;
        }
        // `AsyncFd::new` is deprecated for types that might swap their
        // descriptor; a BfdListener owns its own for life (see the VRRP
        // driver's `async_fd`), and `register` is `unsafe`.
        #[allow(deprecated)]
        let opened = BfdListener::bind(v6).and_then(AsyncFd::new);
        match opened {
            Ok(l) => *slot = Some(l),
            Err(e) => tracing::error!(
                "BFD: cannot listen on UDP port {} ({}): no BFD session can come up",
                rampart_bfd::CONTROL_PORT,
                e
            ),
        }
    }
}

/// Datagrams read in one go: then the loop looks at its timers again.
const RECV_BATCH: usize = 64;

/// Reads the datagrams queued on a listener into the sessions, up to
/// [`RECV_BATCH`] (the socket stays ready if more are left).
fn receive(
    endpoint: &mut Endpoint,
    ready: std::io::Result<tokio::io::unix::AsyncFdReadyGuard<'_, BfdListener>>,
    buf: &mut [u8],
) {
    let Ok(mut guard) = ready else { return };
    for _ in 0..RECV_BATCH {
        let now = Instant::now();
        match guard.get_inner().recv(buf) {
            Ok(d) => {
                if let Err(discard) = endpoint.handle_datagram(now, d.src.ip(), d.ttl, d.payload) {
                    tracing::debug!("{discard}");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                guard.clear_ready();
                return;
            }
            Err(e) => tracing::debug!("BFD receive: {e}"),
        }
    }
}

async fn readable(
    l: Option<&AsyncFd<BfdListener>>,
) -> std::io::Result<tokio::io::unix::AsyncFdReadyGuard<'_, BfdListener>> {
    match l {
        Some(l) => l.readable().await,
        None => std::future::pending().await,
    }
}

/// Discriminators must not repeat across restarts (RFC 5880 §6.3), and
/// jitter must differ between nodes: the std hasher's random keys give a
/// fresh seed per process without a dependency.
fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    h.finish()
}

//! The proxy: frontends bound to backends, the accept loops, and the
//! per-thread runtimes that run them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rampart_config::{Config, Frontend, Server};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore, watch};

use crate::forward::Mode;
use crate::state::{BackendRt, Events};
use crate::stats::Counters;

/// One frontend with its backend resolved and its connection limit.
pub struct FrontendRt {
    pub cfg: Frontend,
    pub backend: Arc<BackendRt>,
    conns: Arc<Semaphore>,
    /// False while the operator has disabled it (`rampart frontend
    /// disable`): its listeners stay open, nothing is accepted, and
    /// clients wait in the kernel's backlog.
    enabled: watch::Sender<bool>,
    pub counters: Counters,
}

impl FrontendRt {
    /// False while the operator has it disabled.
    pub fn is_enabled(&self) -> bool {
        *self.enabled.borrow()
    }
}

/// Everything the data plane needs, shared by all proxy threads.
pub struct Proxy {
    pub frontends: Vec<FrontendRt>,
    pub backends: Vec<Arc<BackendRt>>,
    pub(crate) events: Arc<dyn Events>,
    pub(crate) mode: Mode,
    live: AtomicUsize,
    idle: Notify,
    /// Every connection being served.
    pub(crate) sessions: crate::sessions::Registry,
    /// The proxy threads, once [`spawn_threads`] started them.
    threads: std::sync::OnceLock<Arc<Threads>>,
}

impl Proxy {
    /// Builds the proxy for a validated config. `initially_up` gives each
    /// server's state before the first health report arrives.
    pub fn new(
        cfg: &Config,
        mode: Mode,
        events: Arc<dyn Events>,
        initially_up: impl Fn(&str, &Server) -> bool,
    ) -> Arc<Proxy> {
        let backends: Vec<Arc<BackendRt>> = cfg
            .backends
            .iter()
            .map(|b| Arc::new(BackendRt::new(b.clone(), |s| initially_up(&b.name, s))))
            .collect();
        let frontends = cfg
            .frontends
            .iter()
            .filter_map(|f| {
                // Resolved when the config was parsed.
                let backend = backends
                    .get(f.backend_index)
                    .filter(|b| b.cfg.name == f.backend)?
                    .clone();
                Some(FrontendRt {
                    cfg: f.clone(),
                    backend,
                    conns: Arc::new(Semaphore::new(f.maxconn as usize)),
                    enabled: watch::Sender::new(true),
                    counters: Counters::default(),
                })
            })
            .collect();
        Arc::new(Proxy {
            frontends,
            backends,
            events,
            mode,
            live: AtomicUsize::new(0),
            idle: Notify::new(),
            sessions: Default::default(),
            threads: std::sync::OnceLock::new(),
        })
    }

    pub fn backend(&self, name: &str) -> Option<&Arc<BackendRt>> {
        self.backends.iter().find(|b| b.cfg.name == name)
    }

    /// Applies a health report. Returns false if the server is unknown.
    pub fn set_server_up(&self, backend: &str, server: &str, up: bool) -> bool {
        match self.backend(backend) {
            Some(b) => match b.server_index(server) {
                Some(i) => {
                    b.set_up(i, up);
                    true
                }
                None => false,
            },
            None => false,
        }
    }

    /// Sets a server's administrative state and weight (see
    /// [`BackendRt::set_admin`]); false if there is no such server.
    pub fn set_server_admin(
        &self,
        backend: &str,
        server: &str,
        admin: crate::state::Admin,
        weight: Option<u32>,
    ) -> bool {
        match self
            .backend(backend)
            .and_then(|b| Some((b, b.server_index(server)?)))
        {
            Some((b, i)) => {
                b.set_admin(i, admin, weight);
                true
            }
            None => false,
        }
    }

    /// Stops or resumes accepting on frontend `name` (its sockets stay
    /// open). False if there is no such frontend.
    pub fn set_frontend_enabled(&self, name: &str, enabled: bool) -> bool {
        match self.frontends.iter().find(|f| f.cfg.name == name) {
            Some(f) => {
                f.enabled.send_replace(enabled);
                true
            }
            None => false,
        }
    }

    /// Connections each proxy thread serves right now (empty before
    /// [`spawn_threads`]).
    pub fn thread_loads(&self) -> Vec<usize> {
        self.threads.get().map_or_else(Vec::new, |t| {
            t.slots
                .iter()
                .map(|s| s.0.load(Ordering::Acquire))
                .collect()
        })
    }

    /// Connections being served right now.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// Resolves once no connection is being served.
    pub async fn drained(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.live() == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Accepts on `listener` for frontend `fe` until `stop` turns true (or
    /// its sender is dropped).
    /// Each connection runs in its own task; stopping does not cut them.
    pub async fn serve(
        self: Arc<Self>,
        fe: usize,
        listener: std::net::TcpListener,
        stop: watch::Receiver<bool>,
    ) {
        self.serve_on(fe, listener, stop, None).await;
    }

    /// [`Proxy::serve`] on proxy thread `here.1` of `here.0`: a client
    /// accepted while another thread serves fewer goes to that thread.
    async fn serve_on(
        self: Arc<Self>,
        fe: usize,
        listener: std::net::TcpListener,
        mut stop: watch::Receiver<bool>,
        here: Option<(Arc<Threads>, usize)>,
    ) {
        let Some(front) = self.frontends.get(fe) else {
            return;
        };
        let listener = match listener
            .set_nonblocking(true)
            .and_then(|()| TcpListener::from_std(listener))
        {
            Ok(l) => l,
            Err(e) => return tracing::error!(frontend = %front.cfg.name, "listener unusable: {e}"),
        };
        let sem = front.conns.clone();
        let mut enabled = front.enabled.subscribe();
        loop {
            // Disabled: accept nothing until enabled (or stopped).
            if !*enabled.borrow_and_update() {
                tokio::select! {
                    _ = enabled.changed() => continue,
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
            // Accept first, then wait for a `maxconn` permit: an idle
            // listener holds no permit, and at the limit each listener holds
            // at most one accepted client while the rest wait in the kernel
            // backlog, as with HAProxy.
            let accepted = tokio::select! {
                r = listener.accept() => r,
                _ = stop.wait_for(|s| *s) => return,
                // Disabled while waiting: back to the top.
                _ = enabled.changed() => continue,
            };
            let (sock, peer) = match accepted {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(frontend = %front.cfg.name, "accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            // An accepted client is served, stop or not: dropping it would
            // close a socket with its request unread, which the kernel
            // answers with a reset (a failed request at every reload,
            // when the stop and an accept met: select! picks at random).
            let Ok(permit) = sem.clone().acquire_owned().await else {
                return;
            };
            match &here {
                Some((threads, me)) => threads.place(&self, *me, fe, sock, peer, permit),
                None => self.clone().start(fe, sock, peer, permit, None),
            }
        }
    }

    /// Serves an accepted client in a task of the current runtime; `slot`
    /// is the proxy thread's count of clients, when it keeps one.
    fn start(
        self: Arc<Self>,
        fe: usize,
        sock: tokio::net::TcpStream,
        peer: SocketAddr,
        permit: tokio::sync::OwnedSemaphorePermit,
        slot: Option<Arc<AtomicUsize>>,
    ) {
        self.live.fetch_add(1, Ordering::AcqRel);
        self.serve_counted(fe, sock, peer, permit, slot);
    }

    /// [`Proxy::start`] for a client already counted in [`Proxy::live`]:
    /// one handed to another thread is counted before it is sent, so that
    /// a worker draining meanwhile waits for it instead of exiting with
    /// it in the channel (its socket then closed unread: a reset).
    fn serve_counted(
        self: Arc<Self>,
        fe: usize,
        sock: tokio::net::TcpStream,
        peer: SocketAddr,
        permit: tokio::sync::OwnedSemaphorePermit,
        slot: Option<Arc<AtomicUsize>>,
    ) {
        let proxy = self;
        tokio::spawn(async move {
            let reg = proxy.sessions.open(&proxy, fe, peer);
            tokio::select! {
                () = crate::session::run(&proxy, fe, sock, peer, &reg.live) => {}
                why = reg.live.killed() => tracing::info!(
                    target: "rampart::tcplog",
                    "{peer} {} session {} closed {}",
                    proxy.frontends.get(fe).map_or("?", |f| f.cfg.name.as_str()),
                    reg.live.id,
                    match why {
                        crate::sessions::Closed::Operator => "by the operator",
                        crate::sessions::Closed::Drain => "idle by the node drain",
                    },
                ),
            }
            drop(reg);
            drop(permit);
            if let Some(slot) = slot {
                slot.fetch_sub(1, Ordering::AcqRel);
            }
            proxy.uncount();
        });
    }

    /// One client fewer in [`Proxy::live`]; wakes [`Proxy::drained`].
    fn uncount(&self) {
        if self.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle.notify_waiters();
        }
    }
}

/// A client one proxy thread accepted and another serves.
struct Handoff {
    fe: usize,
    sock: std::net::TcpStream,
    peer: SocketAddr,
    permit: tokio::sync::OwnedSemaphorePermit,
}

/// The proxy threads' client counts, and the way to hand a client to each.
///
/// Each thread accepts on its own SO_REUSEPORT socket, where the kernel
/// spreads clients by a hash of their addresses: a few long connections
/// (50 kept-alive clients, as a benchmark or a pool of application
/// servers opens) can land 30 on one thread and 20 on the other, which
/// then idles while the first one's clients wait. As HAProxy's listener
/// multi-queue does, a thread that accepts a client while another serves
/// fewer hands it over.
struct Threads {
    slots: Vec<(
        Arc<AtomicUsize>,
        tokio::sync::mpsc::UnboundedSender<Handoff>,
    )>,
}

impl Threads {
    fn place(
        &self,
        proxy: &Arc<Proxy>,
        me: usize,
        fe: usize,
        sock: tokio::net::TcpStream,
        peer: SocketAddr,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) {
        let load = |i: usize| {
            self.slots
                .get(i)
                .map_or(usize::MAX, |s| s.0.load(Ordering::Acquire))
        };
        let mine = load(me);
        let least = (0..self.slots.len()).min_by_key(|&i| load(i)).unwrap_or(me);
        if least != me && load(least) < mine {
            if let (Some((count, inbox)), Ok(sock)) = (self.slots.get(least), sock.into_std()) {
                count.fetch_add(1, Ordering::AcqRel);
                proxy.live.fetch_add(1, Ordering::AcqRel);
                if let Err(back) = inbox.send(Handoff {
                    fe,
                    sock,
                    peer,
                    permit,
                }) {
                    // That thread is gone: served here after all.
                    count.fetch_sub(1, Ordering::AcqRel);
                    let h = back.0;
                    match tokio::net::TcpStream::from_std(h.sock) {
                        Ok(sock) => {
                            let slot = self.slots.get(me).map(|s| s.0.clone());
                            if let Some(slot) = &slot {
                                slot.fetch_add(1, Ordering::AcqRel);
                            }
                            proxy
                                .clone()
                                .serve_counted(h.fe, sock, h.peer, h.permit, slot);
                        }
                        Err(_) => proxy.uncount(),
                    }
                }
            }
            return;
        }
        let slot = self.slots.get(me).map(|s| s.0.clone());
        if let Some(slot) = &slot {
            slot.fetch_add(1, Ordering::AcqRel);
        }
        proxy.clone().start(fe, sock, peer, permit, slot);
    }
}

/// Listeners for one proxy thread: (frontend index, socket).
pub type ThreadListeners = Vec<(usize, std::net::TcpListener)>;

/// Starts one OS thread per entry of `threads`, each with its own
/// single-threaded runtime accepting on its own SO_REUSEPORT sockets
/// (shared-nothing, like HAProxy's nbthread). Threads accept until `stop`
/// turns true and keep serving open connections until the process exits.
pub fn spawn_threads(
    proxy: &Arc<Proxy>,
    threads: Vec<ThreadListeners>,
    stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let (slots, inboxes): (Vec<_>, Vec<_>) = threads
        .iter()
        .map(|_| {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Handoff>();
            ((Arc::new(AtomicUsize::new(0)), tx), rx)
        })
        .unzip();
    let shared = Arc::new(Threads { slots });
    let _ = proxy.threads.set(shared.clone());
    for (i, (listeners, mut inbox)) in threads.into_iter().zip(inboxes).enumerate() {
        let proxy = proxy.clone();
        let stop = stop.clone();
        let shared = shared.clone();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name(format!("proxy-{i}"))
            .spawn(move || {
                rt.block_on(async move {
                    for (fe, l) in listeners {
                        let here = Some((shared.clone(), i));
                        tokio::spawn(proxy.clone().serve_on(fe, l, stop.clone(), here));
                    }
                    // Clients other threads hand over, served here.
                    let slot = shared.slots.get(i).map(|s| s.0.clone());
                    while let Some(h) = inbox.recv().await {
                        match tokio::net::TcpStream::from_std(h.sock) {
                            // Counted in `live` by the thread that sent it.
                            Ok(sock) => proxy.clone().serve_counted(
                                h.fe,
                                sock,
                                h.peer,
                                h.permit,
                                slot.clone(),
                            ),
                            Err(e) => {
                                if let Some(slot) = &slot {
                                    slot.fetch_sub(1, Ordering::AcqRel);
                                }
                                proxy.uncount();
                                tracing::warn!("a client handed over from another thread: {e}");
                            }
                        }
                    }
                    std::future::pending::<()>().await
                })
            })?;
    }
    Ok(())
}

/// The backlog the kernel keeps for each listener: large, so that clients
/// wait in the kernel while a worker restarts or maxconn is reached.
pub const BACKLOG: i32 = 4096;

pub fn listen(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    rampart_sys::socket::listener(addr, BACKLOG)
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A client handed to another thread counts as live while it waits in
    /// that thread's channel: a draining worker (`drained()`) must not exit
    /// and close it unread (a reset, seen at an upgrade under load).
    #[test]
    fn a_client_in_the_handover_channel_keeps_the_proxy_from_draining() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let text = "[[frontend]]\nname = \"f\"\nbind = [\"127.0.0.1:1\"]\nbackend = \"b\"\n\
                        [[backend]]\nname = \"b\"\nservers = [{ name = \"s\", addr = \"127.0.0.1:2\" }]\n";
            let cfg = rampart_config::parse("t.toml", text).unwrap();
            let proxy = Proxy::new(
                &cfg,
                Mode::Copy,
                Arc::new(crate::state::NoEvents),
                |_, _| true,
            );
            // Thread 0 (this one) already serves one client; thread 1 none.
            let (tx0, _rx0) = tokio::sync::mpsc::unbounded_channel();
            let (tx1, mut rx1) = tokio::sync::mpsc::unbounded_channel();
            let threads = Threads {
                slots: vec![
                    (Arc::new(AtomicUsize::new(1)), tx0),
                    (Arc::new(AtomicUsize::new(0)), tx1),
                ],
            };
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let _client = tokio::net::TcpStream::connect(l.local_addr().unwrap())
                .await
                .unwrap();
            let (sock, peer) = l.accept().await.unwrap();
            let permit = Arc::new(tokio::sync::Semaphore::new(1))
                .acquire_owned()
                .await
                .unwrap();
            threads.place(&proxy, 0, 0, sock, peer, permit);
            // Handed to thread 1, which has not taken it yet: live, so a
            // drain waits.
            assert_eq!(proxy.live(), 1);
            assert_eq!(threads.slots[1].0.load(Ordering::Acquire), 1);
            let drained = tokio::time::timeout(Duration::from_millis(50), proxy.drained()).await;
            assert!(drained.is_err(), "drained with a client in the channel");
            // Thread 1 fails to take it: no longer live, the drain ends.
            let h = rx1.recv().await.unwrap();
            drop(h);
            proxy.uncount();
            tokio::time::timeout(Duration::from_secs(1), proxy.drained())
                .await
                .unwrap();
        });
    }
}

//! Every signal an operator might send has a defined effect; none is
//! death with the VIPs, the nftables table and ip_forward left behind
//! (the default action of SIGUSR1, SIGUSR2, SIGQUIT and SIGALRM).
//!
//! Supervisor (the pid of `rampart run`), following keepalived and HAProxy
//! where they agree:
//!
//! | signal            | effect                                                    |
//! |-------------------|-----------------------------------------------------------|
//! | SIGHUP            | reload (one more after the current one, if under way)     |
//! | SIGTERM, SIGINT   | graceful stop                                             |
//! | SIGQUIT           | graceful stop too: it means "quit", and a core dump would |
//! |                   | leave the addresses behind                                |
//! | SIGUSR1           | state dump to the log: what `rampart status` shows        |
//! | SIGUSR2           | counters to the log (keepalived: stats)                   |
//! | SIGALRM, SIGPIPE  | ignored (one debug line the first time)                   |
//!
//! Worker: it holds client connections, so only SIGTERM, the supervisor's
//! "drain and exit", ends it. Everything else above is logged at debug and
//! ignored — SIGINT too: ctrl-C at a terminal signals the whole process
//! group, and the supervisor's ordered stop (VRRP first, then the worker)
//! must not be overtaken by the worker closing its listeners on its own.
//! SIGKILL and SIGSTOP cannot be caught; what survives SIGKILL of the
//! supervisor is the worker's parent-death handling.

use std::collections::BTreeMap;
use std::io;

use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::control::Status;

/// What the supervisor's loop does about a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Reload,
    /// Graceful stop; the signal's name, for the log.
    Stop(&'static str),
    DumpState,
    DumpStats,
}

/// A signal that is caught only so that it does nothing; logged once.
struct Ignored {
    name: &'static str,
    signal: Signal,
    seen: bool,
}

impl Ignored {
    fn new(name: &'static str, kind: SignalKind) -> io::Result<Ignored> {
        Ok(Ignored {
            name,
            signal: signal(kind)?,
            seen: false,
        })
    }

    /// Waits for it; the first one is logged (a SIGPIPE per broken write
    /// would otherwise flood the log).
    async fn recv(&mut self, who: &str) {
        self.signal.recv().await;
        if !std::mem::replace(&mut self.seen, true) {
            tracing::debug!("{} ignored by the {who}", self.name);
        }
    }
}

/// The supervisor's handlers. Installed before anything else: a signal
/// that arrives before its handler exists still has its default action.
pub struct SupervisorSignals {
    hup: Signal,
    term: Signal,
    int: Signal,
    quit: Signal,
    usr1: Signal,
    usr2: Signal,
    alrm: Ignored,
    pipe: Ignored,
}

impl SupervisorSignals {
    pub fn install() -> io::Result<SupervisorSignals> {
        Ok(SupervisorSignals {
            hup: signal(SignalKind::hangup())?,
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            quit: signal(SignalKind::quit())?,
            usr1: signal(SignalKind::user_defined1())?,
            usr2: signal(SignalKind::user_defined2())?,
            alrm: Ignored::new("SIGALRM", SignalKind::alarm())?,
            pipe: Ignored::new("SIGPIPE", SignalKind::pipe())?,
        })
    }

    /// The next signal that asks for something. Cancel-safe (every branch
    /// is a `Signal::recv`), so it can sit in the supervisor's `select!`.
    pub async fn next(&mut self) -> Event {
        loop {
            tokio::select! {
                _ = self.hup.recv() => return Event::Reload,
                _ = self.term.recv() => return Event::Stop("SIGTERM"),
                _ = self.int.recv() => return Event::Stop("SIGINT"),
                _ = self.quit.recv() => return Event::Stop("SIGQUIT"),
                _ = self.usr1.recv() => return Event::DumpState,
                _ = self.usr2.recv() => return Event::DumpStats,
                _ = self.alrm.recv("supervisor") => {}
                _ = self.pipe.recv("supervisor") => {}
            }
        }
    }
}

/// The worker's handlers: [`WorkerSignals::stop`] resolves on SIGTERM only,
/// which the worker then checks for its supervisor's death (see
/// `worker::supervisor_dying`); the supervisor asks for a drain through
/// the control socket instead.
pub struct WorkerSignals {
    term: Signal,
    /// `pkill -HUP rampart` reaches workers too; reload is the supervisor's.
    hup: Ignored,
    int: Ignored,
    quit: Ignored,
    usr1: Ignored,
    usr2: Ignored,
    alrm: Ignored,
    pipe: Ignored,
}

impl WorkerSignals {
    pub fn install() -> io::Result<WorkerSignals> {
        Ok(WorkerSignals {
            term: signal(SignalKind::terminate())?,
            hup: Ignored::new("SIGHUP", SignalKind::hangup())?,
            int: Ignored::new("SIGINT", SignalKind::interrupt())?,
            quit: Ignored::new("SIGQUIT", SignalKind::quit())?,
            usr1: Ignored::new("SIGUSR1", SignalKind::user_defined1())?,
            usr2: Ignored::new("SIGUSR2", SignalKind::user_defined2())?,
            alrm: Ignored::new("SIGALRM", SignalKind::alarm())?,
            pipe: Ignored::new("SIGPIPE", SignalKind::pipe())?,
        })
    }

    /// Resolves on SIGTERM: the parent-death signal, or a stray one.
    /// Cancel-safe, like [`SupervisorSignals::next`].
    pub async fn stop(&mut self) {
        const ME: &str = "worker";
        loop {
            tokio::select! {
                _ = self.term.recv() => return,
                _ = self.hup.recv(ME) => {}
                _ = self.int.recv(ME) => {}
                _ = self.quit.recv(ME) => {}
                _ = self.usr1.recv(ME) => {}
                _ = self.usr2.recv(ME) => {}
                _ = self.alrm.recv(ME) => {}
                _ = self.pipe.recv(ME) => {}
            }
        }
    }
}

/// SIGUSR1: what `rampart status` prints, one log line per line.
pub fn log_state(status: &Status) {
    tracing::info!("state dump (SIGUSR1):");
    for line in crate::control::render(status).lines() {
        tracing::info!("  {line}");
    }
}

/// SIGUSR2: the counters alone — servers up per backend, adverts and
/// transitions per VRRP instance — one line each.
pub fn log_stats(status: &Status) {
    tracing::info!("statistics (SIGUSR2):");
    let mut backends: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for s in &status.servers {
        let e = backends.entry(&s.backend).or_default();
        e.0 += usize::from(s.up);
        e.1 += 1;
    }
    for (name, (up, all)) in backends {
        tracing::info!("  backend {name}: {up}/{all} servers up");
    }
    for v in &status.vrrp {
        let dropped: u64 = v.drops.values().sum();
        tracing::info!(
            "  VRRP {}: adverts in {} out {}, priority 0 in {} out {}, became master {}, dropped {dropped}",
            v.name,
            v.adverts_rx,
            v.adverts_tx,
            v.priority0_rx,
            v.priority0_tx,
            v.became_master
        );
    }
}

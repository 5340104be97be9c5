//! The sessions of one system, and the demultiplexing of received
//! datagrams to them (RFC 5880 §6.3, §6.8.6; RFC 5881 §3, §5): the
//! driver hands every datagram from the port-3784 sockets to
//! [`Endpoint::handle_datagram`] with its source and TTL, and carries out
//! what [`Endpoint::poll_action`] returns.
//!
//! A session is named by its peer's address: single-hop BFD runs one
//! session per neighbor, and a neighbor is an address.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::Instant;

use crate::error::{Discard, Discards};
use crate::packet::{TTL, decode};
use crate::session::{Action, Session, SessionConfig, Snapshot};
use crate::status::Status;

/// Every session of this system.
#[derive(Debug)]
pub struct Endpoint {
    sessions: BTreeMap<IpAddr, Session>,
    /// bfd.LocalDiscr -> peer.
    by_discriminator: HashMap<u32, IpAddr>,
    /// Discriminators and per-session jitter seeds.
    rng: u64,
    discards: Discards,
    last_discard: Option<Discard>,
}

impl Endpoint {
    /// No sessions yet. `seed` makes discriminators and jitter
    /// deterministic for tests; the driver seeds it from the OS.
    pub fn new(seed: u64) -> Self {
        Endpoint {
            sessions: BTreeMap::new(),
            by_discriminator: HashMap::new(),
            rng: seed | 1,
            discards: Discards::default(),
            last_discard: None,
        }
    }

    /// Starts a session with `peer`, or gives a running one its new
    /// configuration (see [`Session::reconfigure`]). Returns its local
    /// discriminator.
    pub fn set(&mut self, now: Instant, peer: IpAddr, cfg: SessionConfig) -> u32 {
        if let Some(s) = self.sessions.get_mut(&peer) {
            s.reconfigure(now, cfg);
            return s.local_discriminator();
        }
        // §6.3: unique, non-zero; random, so that a restarted system does
        // not reuse the discriminator its peer still remembers.
        let discr = loop {
            let d = u32::try_from(self.next_random() >> 32).unwrap_or(0);
            if d != 0 && !self.by_discriminator.contains_key(&d) {
                break d;
            }
        };
        let seed = self.next_random();
        self.sessions
            .insert(peer, Session::new(cfg, discr, seed, now));
        self.by_discriminator.insert(discr, peer);
        discr
    }

    /// The session with `peer` as a new program of this system needs it to
    /// go on ([`resume`](Self::resume)).
    pub fn snapshot(&self, peer: IpAddr) -> Option<Snapshot> {
        self.sessions.get(&peer).map(Session::snapshot)
    }

    /// Goes on with a session a previous program handed over (see
    /// [`Session::resume`]). If its discriminator is taken or zero, or a
    /// session with `peer` exists, a new session starts instead.
    pub fn resume(
        &mut self,
        now: Instant,
        peer: IpAddr,
        cfg: SessionConfig,
        snap: &Snapshot,
    ) -> u32 {
        let d = snap.local_discriminator;
        if d == 0 || self.by_discriminator.contains_key(&d) || self.sessions.contains_key(&peer) {
            return self.set(now, peer, cfg);
        }
        let seed = self.next_random();
        self.sessions
            .insert(peer, Session::resume(cfg, snap, seed, now));
        self.by_discriminator.insert(d, peer);
        d
    }

    /// Takes the session with `peer` down (AdminDown, so the peer knows
    /// it was not a failure, §6.8.16) and drops it. Returns its last
    /// actions: the state change and the AdminDown packet to send.
    pub fn remove(&mut self, now: Instant, peer: IpAddr) -> Vec<Action> {
        let Some(mut s) = self.sessions.remove(&peer) else {
            return Vec::new();
        };
        self.by_discriminator.remove(&s.local_discriminator());
        s.admin_down(now);
        std::iter::from_fn(|| s.poll_action()).collect()
    }

    /// Every session goes AdminDown (the process is stopping): their
    /// packets saying so come out of [`poll_action`](Self::poll_action).
    pub fn shutdown(&mut self, now: Instant) {
        for s in self.sessions.values_mut() {
            s.admin_down(now);
        }
    }

    /// A datagram from `from` with IP TTL or hop limit `ttl`, received on
    /// the single-hop control port. `Ok` names the session it went to.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: IpAddr,
        ttl: u8,
        bytes: &[u8],
    ) -> Result<IpAddr, Discard> {
        let result = self.select(from, ttl, bytes);
        match result {
            Ok((peer, ref p)) => {
                if let Some(s) = self.sessions.get_mut(&peer) {
                    s.handle_packet(now, p);
                }
                Ok(peer)
            }
            Err(d) => {
                self.discards.count(&d);
                self.last_discard = Some(d);
                // Also to the session with the sender, if any: a router
                // whose packets all arrive with a wrong TTL shows there.
                if let Some(s) = self.sessions.get_mut(&d.from()) {
                    s.discarded(&d);
                }
                Err(d)
            }
        }
    }

    /// The checks of RFC 5881 §5 and §6.8.6, then the session (§6.8.6:
    /// by Your Discriminator if set, else by the source address).
    fn select(
        &self,
        from: IpAddr,
        ttl: u8,
        bytes: &[u8],
    ) -> Result<(IpAddr, crate::ControlPacket), Discard> {
        if ttl != TTL {
            return Err(Discard::Ttl { from, ttl });
        }
        let p = decode(bytes).map_err(|error| Discard::Malformed { from, error })?;
        if p.your_discriminator == 0 {
            return match self.sessions.contains_key(&from) {
                true => Ok((from, p)),
                false => Err(Discard::UnknownPeer { from }),
            };
        }
        let discriminator = p.your_discriminator;
        let Some(&peer) = self.by_discriminator.get(&discriminator) else {
            return Err(Discard::UnknownDiscriminator {
                from,
                discriminator,
            });
        };
        // Not required by the RFC, which selects by discriminator alone;
        // but a single-hop peer has one address, and anything else
        // claiming its session is not it.
        if peer != from {
            return Err(Discard::WrongSource { from, peer });
        }
        Ok((peer, p))
    }

    /// Fires every session's timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        for s in self.sessions.values_mut() {
            if s.poll_timeout().is_some_and(|t| t <= now) {
                s.handle_timeout(now);
            }
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.sessions
            .values()
            .filter_map(Session::poll_timeout)
            .min()
    }

    /// The next action of any session, with its peer.
    pub fn poll_action(&mut self) -> Option<(IpAddr, Action)> {
        self.sessions
            .iter_mut()
            .find_map(|(peer, s)| s.poll_action().map(|a| (*peer, a)))
    }

    pub fn status(&self, peer: IpAddr) -> Option<Status> {
        self.sessions.get(&peer).map(Session::status)
    }

    pub fn peers(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.sessions.keys().copied()
    }

    /// Datagrams that reached no session, by reason (also counted in the
    /// [`Status`] of the session with their sender, if there is one).
    pub fn discards(&self) -> Discards {
        self.discards
    }

    pub fn last_discard(&self) -> Option<Discard> {
        self.last_discard
    }

    fn next_random(&mut self) -> u64 {
        crate::rng::next(&mut self.rng)
    }
}

//! Handing an Established session over to another process — the next
//! binary during `rampart upgrade` — on the same TCP connection, so that
//! the peer sees no reset and its routes (and its kernel's) never move.
//!
//! The alternative, graceful restart (RFC 4724), has the peer keep stale
//! routes while the speaker restarts. It costs a new OPEN, needs the
//! capability advertised from the start, and then also applies when the
//! node dies: the router would keep sending traffic to a dead load
//! balancer for the whole restart time, where today the closed session
//! withdraws its routes at once. A handover keeps that property.
//!
//! What crosses: the peer's OPEN (what was negotiated follows from it and
//! the config, checked again), our address on the connection, who opened
//! it, the received bytes not yet parsed, and the prefixes the peer has
//! from us. The taking session sends a KEEPALIVE at once (the peer's hold
//! timer restarts however long the exec took), announces every route it
//! wants — the peer has the same route already, so an UPDATE with the
//! same attributes changes nothing there — and withdraws what the peer
//! has that it no longer wants.

use std::net::IpAddr;
use std::time::Instant;

use ipnet::IpNet;

use super::{Session, State};
use crate::config::SessionConfig;
use crate::error::DecodeError;
use crate::message::{Context, Message, decode, encode};
use crate::negotiate::{Initiator, check_open};
use crate::route::Route;

/// An Established session's state as it crosses to another process; the
/// TCP connection itself crosses as a descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handover {
    /// The peer's OPEN message, whole (header included).
    pub peer_open: Vec<u8>,
    /// Our address on the connection (the default next hop).
    pub local_addr: IpAddr,
    /// Who opened the connection (collision resolution needs it).
    pub initiator: Initiator,
    /// Bytes received and not parsed yet: part of a message.
    pub pending: Vec<u8>,
    /// What the peer has from us.
    pub exported: Vec<IpNet>,
}

impl Session {
    /// The session's state for [`Session::resume`] in another process, if
    /// it is Established and not shutting down; `None` otherwise (the
    /// caller then closes the session as on a stop). After this call the
    /// session must not be used on the connection again.
    pub fn handover(&self) -> Option<Handover> {
        if self.state != State::Established || self.cease_at.is_some() {
            return None;
        }
        let open = self.peer_open.as_ref()?;
        let mut peer_open = Vec::new();
        encode(
            &Message::Open(open.clone()),
            Context::default(),
            &mut peer_open,
        )
        .ok()?;
        Some(Handover {
            peer_open,
            local_addr: self.local_addr?,
            initiator: self.initiator?,
            pending: self.rx.clone(),
            exported: self.export.sent_prefixes(),
        })
    }

    /// An Established session on a connection another process handed
    /// over, announcing `routes`. Fails if the peer's OPEN does not
    /// decode or is not acceptable to `cfg` (a changed AS, say): the
    /// caller then closes that connection and starts a new session.
    /// No state change is reported: to the peer, nothing happened.
    pub fn resume(
        cfg: SessionConfig,
        now: Instant,
        routes: Vec<Route>,
        h: Handover,
    ) -> Result<Session, DecodeError> {
        let open = match decode(&h.peer_open, Context::default())? {
            Message::Open(open) => open,
            _ => {
                return Err(DecodeError::MalformedOpen(
                    "the handed-over OPEN is another message",
                ));
            }
        };
        let neg = check_open(&cfg, &open)?;
        let mut s = Session::new(cfg);
        s.stopped = false;
        s.state = State::Established;
        s.since = Some(now);
        s.established_count = 1;
        s.initiator = Some(h.initiator);
        s.local_addr = Some(h.local_addr);
        s.ctx = Context {
            four_octet_as: neg.four_octet_as,
        };
        s.negotiated = Some(neg);
        s.peer_open = Some(open);
        s.restart_hold(now);
        s.send(now, Message::Keepalive);
        s.export.set(routes);
        let families = s.families();
        let updates = s.export.take_over(&h.exported, &s.export_ctx(), &families);
        s.send_all(now, super::updates(updates));
        s.handle_bytes(now, &h.pending);
        Ok(s)
    }
}

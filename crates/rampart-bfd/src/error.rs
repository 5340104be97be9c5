//! Why a received datagram was discarded: one variant per check of RFC
//! 5880 §6.8.6 and RFC 5881 §5, in the order the RFCs make them.
//!
//! [`DecodeError`] holds the checks the packet alone decides;
//! [`Discard`] adds those that need the endpoint (the TTL the socket
//! reported, which session the packet is for).

use std::net::IpAddr;

use thiserror::Error;

use crate::packet::State;

/// A Control packet broke a rule of §6.8.6 that needs no session. The
/// RFC says such a packet MUST be discarded; the variant says why, for
/// counters and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer bytes than the 24 of the mandatory section.
    #[error("truncated BFD packet: {0} bytes, the mandatory section is 24")]
    Truncated(usize),
    /// The version is not 1.
    #[error("unsupported BFD version {0}")]
    BadVersion(u8),
    /// Length is below 24, or below 26 with the A bit set.
    #[error("BFD Length {length} is too short (A bit {auth})")]
    LengthTooShort { length: u8, auth: bool },
    /// Length says more than the datagram carries.
    #[error("BFD Length {length} is beyond the {payload}-byte payload")]
    LengthBeyondPayload { length: u8, payload: usize },
    /// Detect Mult is zero.
    #[error("BFD Detect Mult is 0")]
    ZeroDetectMult,
    /// The M bit is set (reserved for multipoint, RFC 8562).
    #[error("BFD Multipoint bit set")]
    Multipoint,
    /// My Discriminator is zero.
    #[error("BFD My Discriminator is 0")]
    ZeroMyDiscriminator,
    /// Your Discriminator is zero although the sender's state says it
    /// has heard from us (Init or Up).
    #[error("BFD Your Discriminator is 0 in state {}", .0.as_str())]
    ZeroYourDiscriminator(State),
    /// P and F set together (§6.5: a packet MUST NOT have both).
    #[error("BFD Poll and Final bits both set")]
    PollAndFinal,
    /// The A bit is set; no session of ours uses authentication.
    #[error("BFD authentication present but not in use")]
    AuthenticationNotInUse,
}

/// A received datagram that reached no session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
#[non_exhaustive]
pub enum Discard {
    /// The TTL (IPv4) or hop limit (IPv6) was not 255: the sender is not
    /// on the link, or forged it (RFC 5881 §5).
    #[error("BFD packet from {from} with TTL {ttl}, not 255")]
    Ttl { from: IpAddr, ttl: u8 },
    #[error("BFD packet from {from}: {error}")]
    Malformed { from: IpAddr, error: DecodeError },
    /// Your Discriminator names no session of ours.
    #[error("BFD packet from {from} for unknown discriminator {discriminator}")]
    UnknownDiscriminator { from: IpAddr, discriminator: u32 },
    /// Your Discriminator names a session with another peer.
    #[error("BFD packet from {from} for the session with {peer}")]
    WrongSource { from: IpAddr, peer: IpAddr },
    /// Your Discriminator is zero and we run no session with the sender.
    #[error("BFD packet from {from}, with which no session is configured")]
    UnknownPeer { from: IpAddr },
}

impl Discard {
    /// Where the datagram came from.
    pub fn from(&self) -> IpAddr {
        match *self {
            Discard::Ttl { from, .. }
            | Discard::Malformed { from, .. }
            | Discard::UnknownDiscriminator { from, .. }
            | Discard::WrongSource { from, .. }
            | Discard::UnknownPeer { from } => from,
        }
    }
}

/// Discards counted by kind, for status and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Discards {
    pub ttl: u64,
    pub malformed: u64,
    pub unknown_discriminator: u64,
    pub wrong_source: u64,
    pub unknown_peer: u64,
}

impl Discards {
    pub fn total(&self) -> u64 {
        self.ttl
            + self.malformed
            + self.unknown_discriminator
            + self.wrong_source
            + self.unknown_peer
    }

    pub(crate) fn count(&mut self, d: &Discard) {
        let c = match d {
            Discard::Ttl { .. } => &mut self.ttl,
            Discard::Malformed { .. } => &mut self.malformed,
            Discard::UnknownDiscriminator { .. } => &mut self.unknown_discriminator,
            Discard::WrongSource { .. } => &mut self.wrong_source,
            Discard::UnknownPeer { .. } => &mut self.unknown_peer,
        };
        *c += 1;
    }
}

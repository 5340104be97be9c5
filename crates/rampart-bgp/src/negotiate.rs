//! Our OPEN, the checks of the peer's OPEN that need the configuration,
//! what the two agree on, and collision resolution (RFC 4271 §6.8).

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::config::SessionConfig;
use crate::error::DecodeError;
use crate::nlri::Family;
use crate::open::{AS_TRANS, Capability, Open};

/// What both sides agreed on when the peer's OPEN was accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Negotiated {
    /// Seconds; 0 means no keepalives and no hold timer.
    pub hold_time: u16,
    pub four_octet_as: bool,
    /// Families both offered, in our order.
    pub families: Vec<Family>,
}

impl Negotiated {
    /// One third of the hold time (RFC 4271 §10), `None` for hold 0.
    pub(crate) fn keepalive(&self) -> Option<Duration> {
        (self.hold_time > 0).then(|| Duration::from_secs(u64::from(self.hold_time)) / 3)
    }

    pub(crate) fn hold(&self) -> Option<Duration> {
        (self.hold_time > 0).then(|| Duration::from_secs(u64::from(self.hold_time)))
    }
}

/// The capabilities we send: multiprotocol for each configured family,
/// route refresh, 4-octet AS. Graceful restart is deliberately not
/// offered: a restarting announcer should have its routes withdrawn at
/// once, not kept stale by the router.
pub fn local_capabilities(cfg: &SessionConfig) -> Vec<Capability> {
    let mut caps: Vec<Capability> = cfg
        .families
        .iter()
        .map(|&f| Capability::multiprotocol(f))
        .collect();
    caps.push(Capability::RouteRefresh);
    caps.push(Capability::FourOctetAs(cfg.local_as));
    caps
}

pub(crate) fn local_open(cfg: &SessionConfig) -> Open {
    Open {
        my_as: u16::try_from(cfg.local_as).unwrap_or(AS_TRANS),
        hold_time: cfg.hold_time,
        bgp_id: cfg.router_id,
        capabilities: local_capabilities(cfg),
    }
}

/// Checks the peer's OPEN against the configuration (the codec already
/// checked version, hold time 1–2 and identifier 0) and negotiates.
///
/// A session that could carry none of our families is refused with
/// Unsupported Capability (2, 7), listing the multiprotocol capabilities
/// we wanted: an announcer with nothing to announce is a misconfiguration
/// to report, not a session to keep up. A peer that sent no
/// multiprotocol capability at all speaks IPv4 unicast (RFC 4760 §8).
pub(crate) fn check_open(cfg: &SessionConfig, open: &Open) -> Result<Negotiated, DecodeError> {
    let asn = open.asn();
    if asn != cfg.peer_as {
        return Err(DecodeError::BadPeerAs(asn));
    }
    // RFC 6286 §2.2: identifiers must differ within an AS.
    if !cfg.is_ebgp() && open.bgp_id == cfg.router_id {
        return Err(DecodeError::BadBgpId(open.bgp_id));
    }
    let offered: Vec<Family> = open
        .capabilities
        .iter()
        .filter_map(|c| match c {
            Capability::Multiprotocol { afi, safi } => Family::from_afi_safi(*afi, *safi),
            _ => None,
        })
        .collect();
    let any_mp = open
        .capabilities
        .iter()
        .any(|c| matches!(c, Capability::Multiprotocol { .. }));
    let peer_families = if any_mp {
        offered
    } else {
        vec![Family::Ipv4Unicast]
    };
    let families: Vec<Family> = cfg
        .families
        .iter()
        .copied()
        .filter(|f| peer_families.contains(f))
        .collect();
    if families.is_empty() {
        let mut wanted = Vec::new();
        for &f in &cfg.families {
            // Our own capabilities always encode.
            let _ = Capability::multiprotocol(f).encode(&mut wanted);
        }
        return Err(DecodeError::UnsupportedCapability(wanted));
    }
    let four_octet_as = open
        .capabilities
        .iter()
        .any(|c| matches!(c, Capability::FourOctetAs(_)));
    Ok(Negotiated {
        hold_time: cfg.hold_time.min(open.hold_time),
        four_octet_as,
        families,
    })
}

/// Who opened a TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Initiator {
    /// We connected to the peer.
    Local,
    /// The peer connected to us.
    Remote,
}

/// Which of two colliding connections survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resolution {
    KeepExisting,
    KeepNew,
}

/// RFC 4271 §6.8: when the local BGP identifier is lower than the
/// remote one, the connection the peer initiated survives; otherwise
/// ours does. Identifiers compare as unsigned 32-bit integers; equal
/// identifiers (possible on external sessions, RFC 6286 §2.3) fall back
/// to the AS numbers, the larger AS's connection surviving. `existing`
/// is the initiator of the connection already past OpenSent; the new one
/// is taken to be the other.
pub fn resolve_collision(
    local_id: Ipv4Addr,
    local_as: u32,
    remote_id: Ipv4Addr,
    remote_as: u32,
    existing: Initiator,
) -> Resolution {
    let (l, r) = (u32::from(local_id), u32::from(remote_id));
    let keep = if l < r || (l == r && local_as < remote_as) {
        Initiator::Remote
    } else {
        Initiator::Local
    };
    if keep == existing {
        Resolution::KeepExisting
    } else {
        Resolution::KeepNew
    }
}

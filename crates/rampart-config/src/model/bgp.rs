//! The typed `[bgp]` model: BIRD's role in the seed guide, announcing the
//! service addresses to the upstream routers. Like the rest of the model,
//! everything here has been checked: ranges, address families, and the
//! references from announcements to neighbors, VRRP instances and
//! frontends.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use ipnet::IpNet;

use crate::defaults;

/// `[bgp]`. The default (no section, or a section without neighbors) is
/// disabled: no sessions, nothing announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bgp {
    /// The BGP identifier; present whenever there are neighbors, never
    /// 0.0.0.0.
    pub router_id: Option<Ipv4Addr>,
    /// Our AS, 1..=4294967295 but not 23456 (AS_TRANS); 0 only when the
    /// section has no neighbors and does not set it.
    pub local_as: u32,
    /// Hold time proposed to neighbors that do not set their own.
    pub hold_time: Duration,
    /// First wait before reconnecting after a failure; the wait doubles up
    /// to 120 s.
    pub connect_retry: Duration,
    /// How long an announcement's input must stay good, after having been
    /// bad, before the route is announced again; withdrawal is immediate.
    pub hold_down: Duration,
    /// On stop: how long to wait after the withdrawals before closing the
    /// sessions, so that the routers act on them first.
    pub shutdown_bound: Duration,
    pub neighbors: Vec<Neighbor>,
    pub announces: Vec<Announce>,
}

impl Default for Bgp {
    fn default() -> Self {
        Bgp {
            router_id: None,
            local_as: 0,
            hold_time: defaults::BGP_HOLD_TIME,
            connect_retry: defaults::BGP_CONNECT_RETRY,
            hold_down: defaults::BGP_HOLD_DOWN,
            shutdown_bound: defaults::BGP_SHUTDOWN_BOUND,
            neighbors: Vec::new(),
            announces: Vec::new(),
        }
    }
}

impl Bgp {
    /// Whether the node speaks BGP at all: it does when it has neighbors.
    pub fn is_enabled(&self) -> bool {
        !self.neighbors.is_empty()
    }

    /// A `[[bgp.neighbor]]` by name. Validation guarantees that every
    /// [`Announce::neighbors`] entry resolves.
    pub fn neighbor(&self, name: &str) -> Option<&Neighbor> {
        self.neighbors.iter().find(|n| n.name == name)
    }
}

/// `[[bgp.neighbor]]`: one BGP session (BIRD's `protocol bgp NAME`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbor {
    /// Unique among neighbors; used in logs and status.
    pub name: String,
    /// Unique among neighbors.
    pub address: IpAddr,
    /// Equal to [`Bgp::local_as`] for an internal (iBGP) session.
    pub remote_as: u32,
    /// Source address of the session; same family as `address`.
    pub local_address: Option<IpAddr>,
    /// TCP port of the neighbor (and of our listener for it).
    pub port: u16,
    pub mode: PeerMode,
    /// TCP MD5 signature key (RFC 2385).
    pub password: Option<Md5Key>,
    /// Hold time proposed: the neighbor's own or [`Bgp::hold_time`]. Zero
    /// (no keepalives) or 3 s to 65535 s, whole seconds.
    pub hold_time: Duration,
    /// GTSM (RFC 5082): send with TTL 255, accept only TTL ≥ 254. Never
    /// set together with a `multihop` above 1.
    pub ttl_security: bool,
    /// TTL of outgoing packets (BIRD's `multihop N`); 1 = directly
    /// connected.
    pub multihop: u8,
    /// Address families carried, at least one, none twice. A family other
    /// than the session's own always has its next hop configured.
    pub families: Vec<Family>,
    /// Next hop for IPv4 routes; `None` = the session's local address.
    /// Only set when `families` has IPv4.
    pub next_hop_v4: Option<Ipv4Addr>,
    /// Next hop for IPv6 routes; as `next_hop_v4`.
    pub next_hop_v6: Option<Ipv6Addr>,
    /// Extra copies of our AS in the AS_PATH, 0..=10; always 0 on iBGP.
    pub prepend: u8,
    /// LOCAL_PREF sent: `Some` (default 100) on iBGP, always `None` on
    /// eBGP, where the attribute is not sent.
    pub local_pref: Option<u32>,
    /// MED sent with routes whose announcement sets none.
    pub med: Option<u32>,
    /// A BFD session with the neighbor (`bfd = true`); never with a
    /// `multihop` above 1.
    pub bfd: Option<Bfd>,
}

/// BFD timers of a neighbor (RFC 5880 §6.8.1): the same interval for
/// sending and receiving, as BIRD's `interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bfd {
    /// Desired Min TX and Required Min RX, 10 ms to 10 s.
    pub interval: Duration,
    /// Detect Mult: the neighbor declares us down after this many of our
    /// intervals without a packet, 1 to 255.
    pub multiplier: u8,
}

impl Neighbor {
    /// An internal session: the neighbor is in our own AS.
    pub fn is_ibgp(&self, local_as: u32) -> bool {
        self.remote_as == local_as
    }

    /// Whether the session carries routes of `family`.
    pub fn carries(&self, family: Family) -> bool {
        self.families.contains(&family)
    }
}

/// Who opens the TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerMode {
    /// Connect only; never accept the neighbor's connection.
    Active,
    /// Listen only (BIRD `passive on`).
    Passive,
    /// Connect and listen; a collision is resolved as RFC 4271 §6.8 says.
    Both,
}

impl PeerMode {
    pub const NAMES: [&'static str; 3] = ["active", "passive", "both"];

    pub fn from_name(s: &str) -> Option<PeerMode> {
        match s {
            "active" => Some(PeerMode::Active),
            "passive" => Some(PeerMode::Passive),
            "both" => Some(PeerMode::Both),
            _ => None,
        }
    }
}

/// An address family, of a session, a prefix or an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    /// As written in the file (`families = ["ipv4", "ipv6"]`).
    pub const NAMES: [&'static str; 2] = ["ipv4", "ipv6"];

    pub fn from_name(s: &str) -> Option<Family> {
        match s {
            "ipv4" => Some(Family::Ipv4),
            "ipv6" => Some(Family::Ipv6),
            _ => None,
        }
    }

    pub fn of(ip: IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }

    /// As the file spells it: `ipv4`.
    pub fn key(self) -> &'static str {
        match self {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
        }
    }

    /// As prose spells it: `IPv4`.
    pub fn name(self) -> &'static str {
        match self {
            Family::Ipv4 => "IPv4",
            Family::Ipv6 => "IPv6",
        }
    }
}

/// A TCP MD5 signature key (RFC 2385) as the kernel takes it: 1 to 80
/// bytes. Its `Debug` never shows the key, so that logging a
/// [`Config`](crate::Config) does not leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct Md5Key(Vec<u8>);

impl Md5Key {
    /// Linux `TCP_MD5SIG_MAXKEYLEN`.
    pub const MAX_LEN: usize = 80;

    /// `None` if the key is empty or longer than 80 bytes. Zero bytes are
    /// allowed: the kernel takes a length, not a C string.
    pub fn new(key: &[u8]) -> Option<Md5Key> {
        (1..=Md5Key::MAX_LEN)
            .contains(&key.len())
            .then(|| Md5Key(key.to_vec()))
    }

    /// The key as written.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Md5Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// `[[bgp.announce]]`: a prefix to announce, to whom, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announce {
    /// Host bits are zero; unique among announcements.
    pub prefix: IpNet,
    pub policy: AnnouncePolicy,
    /// The neighbors it goes to: those named in the file, or else every
    /// neighbor that carries the prefix's family. Never empty, and every
    /// one carries the family.
    pub neighbors: Vec<String>,
    /// RFC 1997 communities, each `asn << 16 | value`; no duplicates.
    pub communities: Vec<u32>,
    /// RFC 8092 large communities `[global, local1, local2]`; no
    /// duplicates.
    pub large_communities: Vec<[u32; 3]>,
    /// MED; overrides [`Neighbor::med`].
    pub med: Option<u32>,
}

/// When an announcement is made. Whatever the policy, a route is
/// withdrawn at once when it stops holding and announced again only after
/// it has held for [`Bgp::hold_down`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnnouncePolicy {
    /// Whenever the session is up.
    Always,
    /// While this node is master of the named `[[vrrp.instance]]`.
    WhileMaster(String),
    /// While at least `min_servers` servers are up in the backend of the
    /// named `[[frontend]]`.
    WhileHealthy { frontend: String, min_servers: u32 },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_key_is_bounded_and_redacted() {
        let k = Md5Key::new(b"md5password");
        assert_eq!(k.as_ref().map(Md5Key::as_bytes), Some(&b"md5password"[..]));
        assert_eq!(format!("{k:?}"), "Some(<redacted>)");
        assert!(Md5Key::new(&[b'x'; 80]).is_some());
        assert!(Md5Key::new(&[b'x'; 81]).is_none());
        assert!(Md5Key::new(b"").is_none());
        assert!(Md5Key::new(b"a\0b").is_some());
    }

    #[test]
    fn names_round_trip() {
        for name in PeerMode::NAMES {
            assert!(PeerMode::from_name(name).is_some());
        }
        for name in Family::NAMES {
            assert_eq!(Family::from_name(name).map(Family::key), Some(name));
        }
        assert_eq!(Family::from_name("IPv4"), None);
        assert_eq!(Family::of(IpAddr::V6(Ipv6Addr::LOCALHOST)), Family::Ipv6);
        assert_eq!(Family::of(IpAddr::V4(Ipv4Addr::LOCALHOST)).name(), "IPv4");
    }
}

//! The typed `[vrrp]` model: keepalived's role. Like the rest of the model,
//! everything here has been checked: ranges, address families, references
//! between instances, scripts, groups and frontends.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

use crate::defaults;

/// `[vrrp]`. The default (no section) has no instances: the node does not
/// take part in VRRP at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vrrp {
    /// Gratuitous ARP / unsolicited NA timing for instances that do not
    /// override it.
    pub garp: Garp,
    /// Bound on one run of a notify hook; it is killed after that.
    pub notify_timeout: Duration,
    pub instances: Vec<VrrpInstance>,
    pub scripts: Vec<TrackScript>,
    pub sync_groups: Vec<SyncGroup>,
}

impl Default for Vrrp {
    fn default() -> Self {
        Vrrp {
            garp: Garp::default(),
            notify_timeout: defaults::NOTIFY_TIMEOUT,
            instances: Vec::new(),
            scripts: Vec::new(),
            sync_groups: Vec::new(),
        }
    }
}

impl Vrrp {
    /// A `[[vrrp.script]]` by name. Validation guarantees that every
    /// `track_scripts` reference resolves.
    pub fn script(&self, name: &str) -> Option<&TrackScript> {
        self.scripts.iter().find(|s| s.name == name)
    }
}

/// What a node sends after it becomes master so that neighbours learn the
/// virtual MAC at once (gratuitous ARP for IPv4, unsolicited NA for IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Garp {
    /// Messages per burst (keepalived `garp_master_repeat`), at least 1.
    pub repeat: u32,
    /// When the second burst follows the first; zero = no second burst
    /// (keepalived `garp_master_delay`).
    pub delay: Duration,
    /// Period of bursts while master; zero = off (`garp_master_refresh`).
    pub refresh: Duration,
    /// Gap between the messages of one burst (`garp_interval`).
    pub interval: Duration,
}

impl Default for Garp {
    fn default() -> Self {
        Garp {
            repeat: defaults::GARP_REPEAT,
            delay: defaults::GARP_DELAY,
            refresh: defaults::GARP_REFRESH,
            interval: defaults::GARP_INTERVAL,
        }
    }
}

/// `[[vrrp.instance]]`: one virtual router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VrrpInstance {
    /// Unique among instances; passed to notify hooks.
    pub name: String,
    /// Where adverts are sent and received, and where addresses go unless a
    /// [`Vip`] names another device.
    pub interface: String,
    /// 1..=255; unique per interface and address family.
    pub vrid: u8,
    /// 1..=255; 255 means this node owns the addresses.
    pub priority: u8,
    /// A hint for the start: keepalived's `state`.
    pub initial: InitialState,
    pub version: VrrpVersion,
    /// Whole seconds for v2, a multiple of 10 ms for v3.
    pub advert_interval: Duration,
    /// Whether a higher priority takes over from a lower one (false =
    /// keepalived `nopreempt`; only with `initial == Backup`).
    pub preempt: bool,
    /// How long to wait before preempting, up to 1000 s.
    pub preempt_delay: Duration,
    /// Source address of adverts; present whenever `unicast_peers` is not
    /// empty. Same family as the virtual addresses.
    pub unicast_src: Option<IpAddr>,
    /// Unicast destinations; empty = multicast (224.0.0.18 / ff02::12).
    pub unicast_peers: Vec<IpAddr>,
    /// TTL sent on unicast adverts.
    pub unicast_ttl: u8,
    /// Lowest TTL accepted on unicast adverts (multicast ones need 255).
    pub unicast_min_ttl: u8,
    /// VRRPv2 simple-text authentication (`auth_type PASS`); never set for v3.
    pub auth: Option<Password>,
    /// How v3 IPv4 adverts are checksummed; meaningless otherwise.
    pub checksum: V3Checksum,
    /// At least one, all of one family (IPv4 only for v2), no address twice.
    pub vips: Vec<Vip>,
    pub track_proxy: Option<TrackProxy>,
    pub track_interfaces: Vec<TrackIf>,
    pub track_scripts: Vec<TrackRef>,
    pub notify: Notify,
    /// The instance's own `garp`, over `[vrrp].garp` key by key.
    pub garp: Garp,
}

impl VrrpInstance {
    /// Whether the instance runs over IPv6 (from its addresses, which are
    /// all of one family).
    pub fn is_ipv6(&self) -> bool {
        self.vips.first().is_some_and(|v| v.net.addr().is_ipv6())
    }
}

/// keepalived's `state`: where an instance starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitialState {
    /// Starts as master at once, without waiting for the master-down timer.
    Master,
    /// Starts as backup and becomes master by election.
    Backup,
}

/// The protocol version an instance speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VrrpVersion {
    /// RFC 3768: IPv4 only, intervals in seconds, optional PASS auth.
    V2,
    /// RFC 5798 / RFC 9568: IPv4 and IPv6, centisecond intervals, no auth.
    V3,
}

/// How a VRRPv3 IPv4 advert is checksummed (IPv6 always uses the
/// pseudo-header; v2 always the message only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V3Checksum {
    /// RFC 5798 as written; keepalived's default.
    PseudoHeader,
    /// RFC 9568's allowance; keepalived's `vrrp_v3_checksum_as_v2`.
    MessageOnly,
}

impl V3Checksum {
    pub const NAMES: [&'static str; 2] = ["pseudo-header", "message-only"];

    pub fn from_name(s: &str) -> Option<V3Checksum> {
        match s {
            "pseudo-header" => Some(V3Checksum::PseudoHeader),
            "message-only" => Some(V3Checksum::MessageOnly),
            _ => None,
        }
    }
}

/// A VRRPv2 PASS password as it goes on the wire: up to 8 bytes, padded
/// with zeros. Its `Debug` never shows the password, so that logging a
/// [`Config`](crate::Config) does not leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password {
    wire: [u8; Password::MAX_LEN],
    /// Bytes of `wire` that are the password; the rest is padding.
    len: u8,
}

impl Password {
    /// The size of the authentication data field (RFC 3768 section 5.3.10).
    pub const MAX_LEN: usize = 8;

    /// `None` if the password is empty, longer than 8 bytes, or contains a
    /// zero byte (which the padding would make ambiguous).
    pub fn new(password: &[u8]) -> Option<Password> {
        if password.is_empty() || password.contains(&0) {
            return None;
        }
        let mut wire = [0; Password::MAX_LEN];
        wire.get_mut(..password.len())?.copy_from_slice(password);
        let len = u8::try_from(password.len()).ok()?;
        Some(Password { wire, len })
    }

    /// The 8 bytes of the authentication data field.
    pub fn wire(&self) -> [u8; Password::MAX_LEN] {
        self.wire
    }

    /// The password as written, without padding.
    pub fn as_bytes(&self) -> &[u8] {
        &self.wire[..usize::from(self.len)]
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// One virtual address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vip {
    /// The address with its prefix as written (`192.168.1.1/24` keeps its
    /// host bits); a bare address is /32 or /128.
    pub net: IpNet,
    /// The device it goes on; `None` = the instance's interface.
    pub dev: Option<String>,
    /// IPv4 address label (`ip addr ... label`); starts with the device name.
    pub label: Option<String>,
}

/// Ties an instance to a frontend's health: rampart's replacement for a
/// `pgrep haproxy` script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackProxy {
    pub frontend: String,
    /// Failing = fewer servers than this are up in the frontend's backend.
    pub min_servers: u32,
    /// Added to the priority while failing (if negative) or while healthy
    /// (if positive); 0 = FAULT while failing. -254..=254.
    pub weight: i32,
}

/// An interface whose link state is tracked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackIf {
    pub name: String,
    /// As [`TrackProxy::weight`]: 0 = FAULT while the link is down.
    pub weight: i32,
}

/// A reference to a `[[vrrp.script]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackRef {
    pub name: String,
    /// `None` = the script's own weight.
    pub weight: Option<i32>,
}

/// Hooks run on state changes: each an argv, run without a shell, with
/// arguments added as [`NotifyStyle`] says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notify {
    pub master: Option<Vec<String>>,
    pub backup: Option<Vec<String>>,
    pub fault: Option<Vec<String>>,
    /// When rampart stops the instance.
    pub stop: Option<Vec<String>>,
    /// On every change, after the specific hook.
    pub any: Option<Vec<String>>,
    pub style: NotifyStyle,
}

/// How notify hooks are called (`notify = { style = "..." }`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NotifyStyle {
    /// Every hook gets the instance's name, the new state in lower case
    /// and the priority appended (a sync group's: its name and the state).
    #[default]
    Rampart,
    /// As keepalived calls them: `master`, `backup`, `fault` and `stop`
    /// run as written; `any` (keepalived's `notify`) gets `INSTANCE` or
    /// `GROUP`, the name, the state in upper case (`MASTER`, `BACKUP`,
    /// `FAULT`, `STOP`) and the priority (0 for a group) appended. What
    /// `rampart import keepalived` writes, so that the scripts work as
    /// they did.
    Keepalived,
}

impl NotifyStyle {
    pub const NAMES: [&'static str; 2] = ["rampart", "keepalived"];

    pub fn from_name(s: &str) -> Option<NotifyStyle> {
        match s {
            "rampart" => Some(NotifyStyle::Rampart),
            "keepalived" => Some(NotifyStyle::Keepalived),
            _ => None,
        }
    }
}

/// `[[vrrp.script]]`: keepalived's `vrrp_script`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackScript {
    pub name: String,
    /// argv; the program is an absolute path.
    pub command: Vec<String>,
    pub interval: Duration,
    /// A run that takes longer counts as a failure.
    pub timeout: Duration,
    /// Consecutive failures before the script counts as failing.
    pub fall: u32,
    /// Consecutive successes before it counts as healthy again.
    pub rise: u32,
    /// As [`TrackProxy::weight`].
    pub weight: i32,
}

/// `[[vrrp.sync_group]]`: instances that change state together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroup {
    pub name: String,
    /// At least two instances, none of them in another group.
    pub members: Vec<String>,
    pub notify: Notify,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_is_padded_and_redacted() {
        let p = Password::new(b"1111");
        assert_eq!(p.as_ref().map(Password::wire), Some(*b"1111\0\0\0\0"));
        assert_eq!(p.as_ref().map(Password::as_bytes), Some(&b"1111"[..]));
        assert_eq!(format!("{p:?}"), "Some(<redacted>)");
        assert!(Password::new(b"12345678").is_some());
        assert!(Password::new(b"123456789").is_none());
        assert!(Password::new(b"").is_none());
        assert!(Password::new(b"a\0b").is_none());
    }

    #[test]
    fn checksum_names_round_trip() {
        for name in V3Checksum::NAMES {
            assert!(V3Checksum::from_name(name).is_some());
        }
        assert_eq!(V3Checksum::from_name("pseudo_header"), None);
    }
}

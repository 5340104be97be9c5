//! Named defaults. Each says why it has the value it has; where HAProxy's
//! default is sane we use it so that a migrated configuration behaves the same.

use std::time::Duration;

/// How long a stopping or replaced worker drains: long enough for typical
/// HTTP requests to finish, short enough that a reload is not held hostage
/// by a stuck client (HAProxy has no bound unless `hard-stop-after`).
pub const GRACE: Duration = Duration::from_secs(30);

/// Info shows transitions and one line per connection (like `option tcplog`).
pub const LOG_LEVEL: &str = "info";

/// HAProxy's example configuration uses `timeout connect 5s`: well above
/// one SYN retransmission (1 s) so a single lost SYN does not fail a connect.
pub const TIMEOUT_CONNECT: Duration = Duration::from_secs(5);

/// HAProxy's example `timeout client 50s` / `timeout server 50s`.
pub const TIMEOUT_CLIENT: Duration = Duration::from_secs(50);
pub const TIMEOUT_SERVER: Duration = Duration::from_secs(50);

/// HAProxy uses `timeout connect` when `timeout queue` is unset; a queued
/// client should not wait longer than it would for a slow connect.
pub const TIMEOUT_QUEUE: Duration = TIMEOUT_CONNECT;

/// HAProxy `inter 2s`: detects a dead server within fall × interval = 6 s.
pub const HEALTH_INTERVAL: Duration = Duration::from_secs(2);

/// HAProxy bounds a check by `inter` when `timeout check` is unset; half the
/// interval keeps a slow check from overlapping the next one.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(1);

/// HAProxy `fall 3`: one lost packet does not take a server down.
pub const HEALTH_FALL: u32 = 3;

/// HAProxy `rise 2`: a flapping server must answer twice before it is used.
pub const HEALTH_RISE: u32 = 2;

/// HAProxy's default frontend `maxconn` when the global one is unset is
/// large; 20 000 matches the seed-sized deployment and bounds memory.
pub const FRONTEND_MAXCONN: u32 = 20_000;

/// HAProxy `retries 3`.
pub const RETRIES: u32 = 3;

/// HAProxy's default server weight.
pub const WEIGHT: u32 = 1;

/// HAProxy's maximum server weight.
pub const WEIGHT_MAX: u32 = 256;

// === VRRP ===
//
// keepalived's defaults wherever it has one, so that a node converted from
// keepalived.conf keeps behaving the same and can run next to keepalived
// peers during a migration.

/// keepalived's `vrrp_version` default. v2 is what the seed's peers speak and
/// the only version with PASS authentication.
pub const VRRP_VERSION: crate::VrrpVersion = crate::VrrpVersion::V2;

/// keepalived's v3 IPv4 checksum: over the pseudo-header, as RFC 5798 says.
/// RFC 9568's message-only form is for peers that need it.
pub const VRRP_V3_CHECKSUM: crate::V3Checksum = crate::V3Checksum::PseudoHeader;

/// keepalived's and RFC 5798's default priority for a backup router.
pub const VRRP_PRIORITY: u8 = 100;

/// RFC 5798's default Advertisement_Interval (keepalived `advert_int 1`):
/// a dead master is noticed after about 3 s.
pub const VRRP_ADVERT_INTERVAL: Duration = Duration::from_secs(1);

/// keepalived `unicast_ttl` default. 255 also passes peers that apply the
/// multicast rule (RFC 5798 drops adverts whose TTL is not 255).
pub const VRRP_UNICAST_TTL: u8 = 255;

/// Unicast adverts may be routed, so by default any TTL is accepted (every
/// packet that arrives has a TTL of at least 1), as keepalived does.
pub const VRRP_UNICAST_MIN_TTL: u8 = 1;

/// keepalived `garp_master_repeat 5`: one lost ARP does not leave a switch
/// or router pointing at the old master.
pub const GARP_REPEAT: u32 = 5;

/// keepalived `garp_master_delay 5`: a second burst 5 s after becoming
/// master catches neighbours that were busy or still converging.
pub const GARP_DELAY: Duration = Duration::from_secs(5);

/// keepalived `garp_master_refresh` is off by default: periodic GARPs are
/// only needed on networks that age ARP entries out aggressively.
pub const GARP_REFRESH: Duration = Duration::ZERO;

/// keepalived `garp_interval 0`: a burst is sent back to back.
pub const GARP_INTERVAL: Duration = Duration::ZERO;

/// Bound on one run of a notify hook. Long enough for a hook that calls a
/// cloud API to move an elastic IP, short enough that a hung hook does not
/// pile up behind the next transition.
pub const NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);

/// keepalived `vrrp_script` `interval 1`.
pub const SCRIPT_INTERVAL: Duration = Duration::from_secs(1);

/// keepalived `fall 1` / `rise 1`: a script is usually already a summary
/// (pgrep, a health endpoint), so one result is trusted.
pub const SCRIPT_FALL: u32 = 1;
pub const SCRIPT_RISE: u32 = 1;

/// keepalived's weight 0: a failing tracker puts the instance in FAULT,
/// which is what the seed's `pgrep haproxy` tracker relies on.
pub const TRACK_WEIGHT: i32 = 0;

/// `track_proxy` fails when fewer servers than this are up: with none up
/// the node cannot serve, so it should not hold the VIP.
pub const TRACK_MIN_SERVERS: u32 = 1;

// === BGP ===
//
// BIRD's defaults where it has one, so that a node converted from
// bird.conf keeps its timing; rampart's own where it replaces a filter.

/// RFC 4271 §10's suggested hold time, and BIRD's, FRR's and most
/// routers' default: negotiation (the smaller value wins) rarely changes it.
pub const BGP_HOLD_TIME: Duration = Duration::from_secs(90);

/// First reconnect wait. RFC 4271 suggests 120 s, which would leave a VIP
/// unannounced for two minutes after the router restarts; BIRD waits 5 s
/// after the first failure too. The wait doubles up to 120 s.
pub const BGP_CONNECT_RETRY: Duration = Duration::from_secs(5);

/// An input that was bad must stay good this long before its route is
/// announced again. A VRRP election settles in about 3 s and a server
/// needs rise × interval = 4 s of good checks to come back, so 5 s
/// outlasts one such blip and a flapping input costs the routers one
/// withdrawal, not a storm; short enough that traffic returns promptly.
pub const BGP_HOLD_DOWN: Duration = Duration::from_secs(5);

/// On stop, time for the routers to act on the withdrawals before the
/// sessions close (closing first would make them drop the routes only
/// after their own hold timer if the NOTIFICATION is lost).
pub const BGP_SHUTDOWN_BOUND: Duration = Duration::from_secs(2);

/// The BGP port (RFC 4271 §8.2.1).
pub const BGP_PORT: u16 = 179;

/// Connect and listen: the session comes up whichever side starts first,
/// as with BIRD's default.
pub const BGP_MODE: crate::PeerMode = crate::PeerMode::Both;

/// BIRD's eBGP default: neighbors are directly connected (TTL 1).
pub const BGP_MULTIHOP: u8 = 1;

/// BFD's interval, both ways (Desired Min TX and Required Min RX): with
/// [`BFD_MULTIPLIER`] a dead neighbor is declared down within 300 ms, the
/// target for an active-active pair, and 10 packets a second per neighbor
/// cost nothing. BIRD's default is the same 100 ms.
pub const BFD_INTERVAL: Duration = Duration::from_millis(100);

/// Packets missed before BFD declares the neighbor down: 3 is the common
/// default (FRR, most routers; BIRD uses 5), tolerating two losses in a row.
pub const BFD_MULTIPLIER: u8 = 3;

/// The LOCAL_PREF every common implementation assumes when none is set,
/// so our routes compete evenly with the peer's own.
pub const BGP_LOCAL_PREF: u32 = 100;

/// `while_healthy` holds while at least this many servers are up: with
/// none the node cannot serve the prefix, so it should not attract it.
pub const ANNOUNCE_MIN_SERVERS: u32 = 1;

/// `[admin] follow` when `peer` is set: naming a peer is asking for the
/// operator's overrides to hold on both nodes (as Seesaw syncs them), so
/// following is the default; `follow = false` makes it `--both` only.
pub const ADMIN_FOLLOW: bool = true;

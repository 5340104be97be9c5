//! Sans-IO VRRP for rampart: the wire codec for VRRPv2 (RFC 3768) and
//! VRRPv3 (RFC 5798, RFC 9568), the instance state machine, sync groups
//! and tracking.
//!
//! The crate never touches a socket or reads the clock. The caller hands
//! [`decode`] the VRRP payload of a received IP packet together with the
//! packet's source and destination addresses (the v3 checksum covers a
//! pseudo-header built from them, and the IP version tells how long each
//! advertised address is), and gets back a validated [`Advert`]. [`encode`]
//! does the reverse and appends the payload to a buffer the caller owns.
//!
//! - `packet`: the message layout, [`Advert`], [`encode`], [`decode`]
//! - `checksum`: the Internet checksum (RFC 1071) and the pseudo-headers
//! - `instance`: one virtual router's state machine ([`Instance`]); it
//!   takes packets, timeouts and tracker verdicts with the time they
//!   happened and queues [`Action`]s; [`Instance::poll_timeout`] says
//!   when to call it next
//! - `node`: every instance of the daemon, packet demultiplexing and
//!   sync groups ([`Node`]); a reload in place as events: an instance
//!   reconfigured (no state change: the next advert carries it), added,
//!   or removed (priority 0 and a graceful hand-over), new sync groups
//! - `track`: tracked inputs and their weights → effective [`Priority`]
//! - `checks`: drop reasons, counters, rate-limited warnings
//! - `error`: [`DecodeError`] (one variant per receive check) and
//!   [`EncodeError`]
//!
//! The codec never panics, whatever the input: reads go through a cursor
//! for which running short is an error, and every field is checked before
//! an [`Advert`] exists.

#![forbid(unsafe_code)]

mod checks;
mod checksum;
mod error;
mod instance;
mod node;
mod packet;
mod track;

pub use checks::{Drop, Stats, Transition, WARN_PERIOD};
pub use instance::{
    Action, Instance, InstanceConfig, MULTICAST_V4, MULTICAST_V6, PRIORITY_OWNER, PRIORITY_STOP,
    Priority, RELEASE_LINGER, State,
};
pub use node::{GroupId, InstanceId, Node, NodeAction};
pub use packet::{
    Addrs, Advert, Auth, ChecksumForm, DecodeError, EncodeError, IPPROTO_VRRP, Version, decode,
    encode,
};
pub use track::{Hysteresis, Tracked, effective};

//! Sans-IO BFD (Bidirectional Forwarding Detection, RFC 5880) for
//! rampart's BGP neighbors: single-hop sessions over UDP (RFC 5881) in
//! Asynchronous mode, whose failure takes the BGP session down at once
//! (RFC 5882) instead of after the hold time. In an active-active pair
//! that is what lets the router drop a dead node's next hop in a few
//! hundred milliseconds.
//!
//! The crate never touches a socket or reads the clock. An [`Endpoint`]
//! holds the sessions; it takes received datagrams with their source and
//! TTL ([`Endpoint::handle_datagram`]) and timer expiries
//! ([`Endpoint::handle_timeout`]), each with the `now` it happened at,
//! and queues [`Action`]s: packets to send and state changes. When to
//! call it next is [`Endpoint::poll_timeout`]. So every rule below is a
//! deterministic test on a virtual clock (`tests/pair.rs` joins two
//! endpoints by a lossy virtual link).
//!
//! - `packet`: the Control packet ([`ControlPacket`], [`decode`],
//!   [`encode`]) with its RFC diagram, [`State`] and [`Diag`]
//! - `error`: [`DecodeError`], one variant per check of §6.8.6 that the
//!   packet alone decides, and [`Discard`] for the rest
//! - `endpoint`: demultiplexing (§6.3), discriminators, the GTSM check
//! - `session`: one session: the state machine of §6.2 as one match, the
//!   Poll Sequence (§6.5), timer negotiation and jitter (§6.8.2–§6.8.7),
//!   and the [`Snapshot`] a session is handed to a new program with
//! - `status`: the [`Status`] snapshot
//!
//! # What is left out, and why
//!
//! Echo mode, Demand mode (we never ask for it; a peer's request is
//! honoured by not sending periodic packets, as §6.8.7 requires) and
//! authentication (a packet with the A bit is discarded): BIRD's own
//! implementation leaves out the same, and single-hop sessions are
//! already protected by the TTL-255 check. The Passive role is not
//! offered: both ends of a BGP session know of each other, so both are
//! Active, which is what BIRD does too.
//!
//! # Why no byte cursor
//!
//! The Control packet is a fixed 24-byte layout: the decoder takes the
//! first 24 bytes as an array and reads its fields at constant offsets,
//! so nothing can run short after that one check and the decoder cannot
//! panic, whatever the input (the property tests and the `bfd_decode`
//! fuzz target hold it to that). The BGP, VRRP and PROXY decoders each
//! have a cursor because their messages have variable parts; this one
//! needs none.

#![forbid(unsafe_code)]

mod endpoint;
mod error;
mod packet;
mod rng;
mod session;
mod status;

pub use endpoint::Endpoint;
pub use error::{DecodeError, Discard, Discards};
pub use packet::{
    CONTROL_PORT, ControlPacket, Diag, HEADER_LEN, SOURCE_PORTS, State, TTL, VERSION, decode,
    encode, micros,
};
pub use session::{Action, SLOW_TX_INTERVAL, Session, SessionConfig, Snapshot, Transition};
pub use status::{Counters, Status};

//! Sans-IO BGP-4 announcer for rampart: the wire codec, the session state
//! machine, and the routes it announces. It replaces BIRD's job of
//! announcing service addresses to the upstream router; it learns no
//! routes (received UPDATEs are checked and otherwise ignored).
//!
//! The crate never touches a socket or reads the clock. A [`Session`]
//! takes inputs stamped with `now` (TCP events, received bytes, timer
//! expiries, the desired routes) and queues [`Action`]s (connect,
//! transmit, disconnect, state changes); [`Session::poll_timeout`] says
//! when to call it next. So every RFC behaviour is a deterministic unit
//! test on a virtual clock, and two sessions joined by an in-memory pipe
//! test the whole protocol end to end.
//!
//! - `message`: header and framing ([`frame`], [`decode`], [`encode`]),
//!   KEEPALIVE, ROUTE-REFRESH; `open`, `update`, `attr`, `aspath`,
//!   `nlri`, `notification`: the other messages and attributes, each with
//!   its RFC diagram
//! - `error`: [`DecodeError`], one variant per error of RFC 4271 §6, each
//!   knowing the NOTIFICATION that answers it
//! - `session`: the RFC 4271 §8 state machine ([`Session`]); `negotiate`:
//!   OPEN checks, capabilities, [`resolve_collision`]; `config`
//! - `route`, `export`: [`Route`]s, their attributes per session, and the
//!   diff against what the peer has (the Adj-RIB-Out)
//! - `announcer`: the announce decision ([`Announcer`]): from VRRP
//!   mastership, servers up, the operator's disabled neighbors and `now`,
//!   the routes each neighbor should have, each with its [`Reason`], and
//!   when to call again; `policy`: the [`HoldDown`] filter it uses
//! - `status`: the [`Status`] snapshot
//!
//! # Codec decision: our own, with netgauze as a test oracle
//!
//! The codec is written here (a `Reader` cursor for which running short
//! is an error, never a panic) and `netgauze-bgp-pkt` is only a
//! dev-dependency that the differential tests decode our messages with.
//! Why not use netgauze in the daemon:
//!
//! - An announcer needs a handful of messages and attributes: ~1,800
//!   lines here, docs included. netgauze covers every AFI, BGP-LS, EVPN
//!   and more, with serde and a parsing-utilities crate besides: far more
//!   code on the control plane than the job needs.
//! - Errors must map exactly to the NOTIFICATION code, subcode and data
//!   of RFC 4271 §6 (attribute flags vs. length vs. malformed AS_PATH,
//!   the offending attribute as data). Owning the decoder makes that
//!   mapping one `match` ([`DecodeError::notification`]) instead of a
//!   translation of another library's error tree.
//! - The session needs framing on a byte stream and encoding into a
//!   caller's buffer, with the negotiated 2- or 4-octet AS width as an
//!   explicit [`Context`]; that is the shape of the rest of rampart's
//!   codecs (see rampart-vrrp).
//!
//! netgauze builds on this toolchain, so `tests/oracle.rs` decodes every
//! kind of message we encode with it and compares the fields; a second,
//! independent implementation catches the misreadings of the RFCs that
//! hand-written byte vectors would share with the code.
//!
//! The decoder never panics, whatever the input; the property and
//! mutation tests and the `bgp_decode` fuzz target hold it to that.

#![forbid(unsafe_code)]

mod announcer;
mod aspath;
mod attr;
mod config;
mod error;
mod export;
mod message;
mod negotiate;
mod nlri;
mod notification;
mod open;
mod policy;
mod reader;
mod route;
mod session;
mod status;
mod update;

pub use announcer::{
    Announce, Announcer, Change, Decision, Drain, Inputs, NeighborPlan, NeighborRoutes, Observed,
    Otherwise, Plan, Policy, Reason, Verdict,
};
pub use aspath::{AsPath, Community, LargeCommunity, Segment, SegmentKind};
pub use attr::{Attribute, MpReach, MpUnreach, Origin, code as attr_code};
pub use config::{
    Backoff, DEFAULT_CONNECT_RETRY, DEFAULT_CONNECT_RETRY_MAX, DEFAULT_HOLD_TIME, OPEN_HOLD_TIME,
    SessionConfig,
};
pub use error::{DecodeError, EncodeError};
pub use message::{
    Context, HEADER_LEN, MAX_MESSAGE_LEN, Message, RouteRefresh, decode, encode, frame, to_bytes,
};
pub use negotiate::{Initiator, Resolution, local_capabilities, resolve_collision};
pub use nlri::Family;
pub use notification::{Notification, SHUTDOWN_MESSAGE_MAX, code, names, subcode};
pub use open::{AS_TRANS, BGP_VERSION, Capability, Open};
pub use policy::HoldDown;
pub use route::{DEFAULT_LOCAL_PREF, Route};
pub use session::{Action, Handover, Incoming, Session, State};
pub use status::{Counters, Direction, LastError, Status};
pub use update::Update;

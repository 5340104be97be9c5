//! Sans-IO VRRP for rampart: for now, the wire codec for VRRPv2
//! (RFC 3768) and VRRPv3 (RFC 5798, RFC 9568).
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
//! - `error`: [`DecodeError`] (one variant per receive check) and
//!   [`EncodeError`]
//!
//! The codec never panics, whatever the input: reads go through a cursor
//! for which running short is an error, and every field is checked before
//! an [`Advert`] exists.

#![forbid(unsafe_code)]

mod checksum;
mod error;
mod packet;

pub use packet::{
    Addrs, Advert, Auth, ChecksumForm, DecodeError, EncodeError, IPPROTO_VRRP, Version, decode,
    encode,
};

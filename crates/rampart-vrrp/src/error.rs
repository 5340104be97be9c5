//! Why a VRRP message could not be encoded or was dropped on receipt.
//!
//! One [`DecodeError`] variant per receive check of RFC 3768 §7.1 and
//! RFC 5798 §7.1 that the codec can make on its own (the checks that need
//! the instance's configuration, such as the VRID being one we run or the
//! password matching, belong to the instance).

use thiserror::Error;

use crate::packet::Version;

/// A received VRRP message was rejected. The RFCs say such a packet MUST
/// be discarded; the variant says why, for counters and logs.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The message ended before a field it announces: `need` bytes were
    /// required, only `have` were present.
    #[error("truncated VRRP message: need {need} bytes, have {have}")]
    Truncated { need: usize, have: usize },
    /// The version nibble is neither 2 nor 3.
    #[error("unsupported VRRP version {0}")]
    BadVersion(u8),
    /// The type nibble is not 1 (ADVERTISEMENT), the only type defined.
    #[error("unknown VRRP message type {0}")]
    BadType(u8),
    /// The source and destination addresses are of different IP versions.
    #[error("source and destination addresses are of different IP versions")]
    AddressFamilyMismatch,
    /// A VRRPv2 message arrived over IPv6; VRRPv2 is IPv4 only.
    #[error("VRRPv2 message over IPv6")]
    V2OverIpv6,
    /// The count of addresses is zero; both RFCs require at least one.
    #[error("VRRP advertisement lists no addresses")]
    NoAddresses,
    /// The message length does not match the count of addresses.
    #[error("VRRP count of addresses {count} implies {expected} bytes, message has {actual}")]
    CountMismatch {
        count: u8,
        expected: usize,
        actual: usize,
    },
    /// The checksum does not verify (for v3 over IPv4: in neither form).
    #[error("bad VRRP checksum")]
    BadChecksum,
    /// The virtual router ID is 0; valid IDs are 1..=255.
    #[error("invalid virtual router ID 0")]
    InvalidVrid,
    /// The advertisement interval is 0.
    #[error("VRRP advertisement interval is 0")]
    BadInterval,
    /// VRRPv2 authentication type other than 0 (none), 1 (simple text
    /// password) or 2 (IP authentication header).
    #[error("unknown VRRPv2 authentication type {0}")]
    BadAuthType(u8),
}

/// An [`Advert`](crate::Advert) cannot be put on the wire as asked.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The source and destination addresses are of different IP versions,
    /// or the advertised addresses are of another version than they.
    #[error("advertised, source and destination addresses must all be of one IP version")]
    AddressFamilyMismatch,
    /// VRRPv2 carries IPv4 addresses only.
    #[error("VRRPv2 supports IPv4 only")]
    V2RequiresIpv4,
    /// Virtual router IDs are 1..=255.
    #[error("invalid virtual router ID 0")]
    InvalidVrid,
    /// An advertisement must list at least one address.
    #[error("VRRP advertisement lists no addresses")]
    NoAddresses,
    /// The count field is one byte: at most 255 addresses.
    #[error("{0} addresses do not fit a VRRP advertisement (at most 255)")]
    TooManyAddresses(usize),
    /// The interval cannot be expressed: v2 takes whole seconds 1..=255
    /// (100..=25500 cs in steps of 100), v3 takes 1..=4095 centiseconds.
    #[error("advertisement interval {interval_cs} cs is not valid for VRRP {version:?}")]
    BadInterval { version: Version, interval_cs: u16 },
    /// VRRPv3 has no authentication (RFC 5798 §9); the advert must carry
    /// [`Auth::None`](crate::Auth::None).
    #[error("VRRPv3 has no authentication")]
    AuthInV3,
}

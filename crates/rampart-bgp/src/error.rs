//! Why a BGP message could not be decoded or encoded.
//!
//! Every [`DecodeError`] variant is one error of RFC 4271 §6 (with the
//! additions of RFC 4760, RFC 5492, RFC 6793 and RFC 9072) and knows the
//! NOTIFICATION that answers it: [`DecodeError::notification`] gives code,
//! subcode and the data field the RFC prescribes.

use thiserror::Error;

use crate::notification::{Notification, code, subcode};

/// A received message is malformed. The session answers with
/// [`notification`](Self::notification) and closes.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The 16-byte marker is not all ones (1, 1).
    #[error("connection not synchronized: the marker is not all ones")]
    NotSynchronized,
    /// The length field is below 19, above 4096, or wrong for the type
    /// (1, 2); the data is the length field.
    #[error("bad message length {0}")]
    BadLength(u16),
    /// An unknown message type (1, 3); the data is the type.
    #[error("bad message type {0}")]
    BadType(u8),

    /// OPEN version other than 4 (2, 1); we answer that 4 is the highest
    /// we speak.
    #[error("unsupported BGP version {0}")]
    UnsupportedVersion(u8),
    /// The peer's AS is not the configured one (2, 2).
    #[error("bad peer AS {0}")]
    BadPeerAs(u32),
    /// BGP identifier 0, or our own on an internal session (2, 3).
    #[error("bad BGP identifier {0}")]
    BadBgpId(std::net::Ipv4Addr),
    /// An optional parameter other than Capabilities (2, 4).
    #[error("unsupported optional parameter {0}")]
    UnsupportedOptionalParameter(u8),
    /// Hold time 1 or 2 seconds (2, 6).
    #[error("unacceptable hold time {0} s")]
    UnacceptableHoldTime(u16),
    /// The peer lacks a capability we require (2, 7); the data lists the
    /// capabilities we wanted, encoded.
    #[error("the peer lacks a required capability")]
    UnsupportedCapability(Vec<u8>),
    /// The OPEN is inconsistent in a way with no subcode of its own: a
    /// short message, parameter or capability (2, 0).
    #[error("malformed OPEN: {0}")]
    MalformedOpen(&'static str),

    /// Lengths that do not add up, or an attribute repeated (3, 1).
    #[error("malformed attribute list: {0}")]
    MalformedAttributeList(&'static str),
    /// A well-known attribute we do not know (3, 2); data: the attribute.
    #[error("unrecognized well-known attribute {code}")]
    UnrecognizedWellKnown { code: u8, attr: Vec<u8> },
    /// ORIGIN, AS_PATH or NEXT_HOP absent where required (3, 3); data:
    /// the missing type code.
    #[error("missing well-known attribute {0}")]
    MissingWellKnown(u8),
    /// Flags that conflict with the type code (3, 4).
    #[error("attribute flags error in attribute {code}")]
    AttributeFlags { code: u8, attr: Vec<u8> },
    /// A length that conflicts with the type code (3, 5).
    #[error("attribute length error in attribute {code}")]
    AttributeLength { code: u8, attr: Vec<u8> },
    /// ORIGIN other than IGP, EGP, INCOMPLETE (3, 6).
    #[error("invalid ORIGIN")]
    InvalidOrigin(Vec<u8>),
    /// NEXT_HOP that is not a host address (3, 8).
    #[error("invalid NEXT_HOP")]
    InvalidNextHop(Vec<u8>),
    /// A recognized optional attribute with a bad value, such as an
    /// MP_REACH_NLRI whose parts do not parse (3, 9).
    #[error("optional attribute error in attribute {code}")]
    OptionalAttribute { code: u8, attr: Vec<u8> },
    /// A prefix longer than its family allows, or cut short (3, 10).
    #[error("invalid network field")]
    InvalidNetworkField,
    /// AS_PATH (or AS4_PATH) segments that do not parse (3, 11).
    #[error("malformed AS_PATH")]
    MalformedAsPath(Vec<u8>),

    /// A NOTIFICATION shorter than its fixed part. Never answered: RFC
    /// 4271 §6.4 forbids a NOTIFICATION about a NOTIFICATION.
    #[error("malformed NOTIFICATION")]
    MalformedNotification,
}

impl DecodeError {
    /// The NOTIFICATION that answers this error, or `None` for errors in
    /// a received NOTIFICATION.
    pub fn notification(&self) -> Option<Notification> {
        use DecodeError as E;
        let (c, s, data) = match self {
            E::NotSynchronized => (code::HEADER, subcode::NOT_SYNCHRONIZED, vec![]),
            E::BadLength(len) => (code::HEADER, subcode::BAD_LENGTH, len.to_be_bytes().into()),
            E::BadType(t) => (code::HEADER, subcode::BAD_TYPE, vec![*t]),
            E::UnsupportedVersion(_) => (code::OPEN, subcode::UNSUPPORTED_VERSION, vec![0, 4]),
            E::BadPeerAs(_) => (code::OPEN, subcode::BAD_PEER_AS, vec![]),
            E::BadBgpId(_) => (code::OPEN, subcode::BAD_BGP_ID, vec![]),
            E::UnsupportedOptionalParameter(_) => {
                (code::OPEN, subcode::UNSUPPORTED_OPT_PARAM, vec![])
            }
            E::UnacceptableHoldTime(_) => (code::OPEN, subcode::UNACCEPTABLE_HOLD, vec![]),
            E::UnsupportedCapability(caps) => {
                (code::OPEN, subcode::UNSUPPORTED_CAPABILITY, caps.clone())
            }
            E::MalformedOpen(_) => (code::OPEN, 0, vec![]),
            E::MalformedAttributeList(_) => (code::UPDATE, subcode::MALFORMED_ATTR_LIST, vec![]),
            E::UnrecognizedWellKnown { attr, .. } => {
                (code::UPDATE, subcode::UNRECOGNIZED_WELL_KNOWN, attr.clone())
            }
            E::MissingWellKnown(t) => (code::UPDATE, subcode::MISSING_WELL_KNOWN, vec![*t]),
            E::AttributeFlags { attr, .. } => (code::UPDATE, subcode::ATTR_FLAGS, attr.clone()),
            E::AttributeLength { attr, .. } => (code::UPDATE, subcode::ATTR_LENGTH, attr.clone()),
            E::InvalidOrigin(attr) => (code::UPDATE, subcode::INVALID_ORIGIN, attr.clone()),
            E::InvalidNextHop(attr) => (code::UPDATE, subcode::INVALID_NEXT_HOP, attr.clone()),
            E::OptionalAttribute { attr, .. } => {
                (code::UPDATE, subcode::OPTIONAL_ATTR, attr.clone())
            }
            E::InvalidNetworkField => (code::UPDATE, subcode::INVALID_NETWORK, vec![]),
            E::MalformedAsPath(_) => (code::UPDATE, subcode::MALFORMED_AS_PATH, vec![]),
            E::MalformedNotification => return None,
        };
        Some(Notification::new(c, s, data))
    }
}

/// A message cannot be put on the wire as asked. The session builds
/// only messages that encode, so seeing one of these is a bug.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The message would exceed 4096 bytes (no RFC 8654 extended
    /// messages).
    #[error("message of {0} bytes exceeds 4096")]
    TooLong(usize),
    /// An AS number above 65535 on a session without 4-octet AS numbers
    /// (use AS_TRANS in AS_PATH and carry the real path in AS4_PATH).
    #[error("AS {0} does not fit two octets")]
    AsTooLarge(u32),
    /// IPv6 prefixes go in MP_REACH_NLRI / MP_UNREACH_NLRI.
    #[error("IPv6 prefix {0} in the IPv4 NLRI or withdrawn routes field")]
    Ipv6InClassicNlri(ipnet::IpNet),
    /// A prefix of the other family than its MP attribute, or a next hop
    /// that is neither one address nor a global and a link-local one.
    #[error("MP attribute content does not match its address family")]
    FamilyMismatch,
    /// A capability or attribute value too long for its length field.
    #[error("{0} too long for its length field")]
    FieldTooLong(&'static str),
}

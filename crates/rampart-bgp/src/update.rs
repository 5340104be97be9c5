//! The UPDATE message (RFC 4271 §4.3) and its message-level checks
//! (§6.3): lengths that add up, prefixes that parse, the well-known
//! attributes that must be present.
//!
//! ```text
//! +-----------------------------------------------------+
//! |   Withdrawn Routes Length (2 octets)                |
//! +-----------------------------------------------------+
//! |   Withdrawn Routes (variable)                       |
//! +-----------------------------------------------------+
//! |   Total Path Attribute Length (2 octets)            |
//! +-----------------------------------------------------+
//! |   Path Attributes (variable)                        |
//! +-----------------------------------------------------+
//! |   Network Layer Reachability Information (variable) |
//! +-----------------------------------------------------+
//! ```

use ipnet::IpNet;

use crate::attr::{Attribute, MpUnreach, code, decode_attributes};
use crate::error::{DecodeError, EncodeError};
use crate::message::Context;
use crate::nlri::{Family, decode_prefixes, encode_prefix};
use crate::reader::Reader;

/// An UPDATE. IPv4 unicast prefixes travel in `withdrawn` and `nlri`;
/// other families in the MP attributes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Update {
    /// IPv4 prefixes withdrawn.
    pub withdrawn: Vec<IpNet>,
    pub attributes: Vec<Attribute>,
    /// IPv4 prefixes announced with `attributes`.
    pub nlri: Vec<IpNet>,
}

impl Update {
    /// The End-of-RIB marker of `family` (RFC 4724 §2): an empty UPDATE
    /// for IPv4 unicast, an MP_UNREACH_NLRI without prefixes otherwise.
    pub fn end_of_rib(family: Family) -> Self {
        match family {
            Family::Ipv4Unicast => Self::default(),
            Family::Ipv6Unicast => Self {
                attributes: vec![Attribute::MpUnreach(MpUnreach {
                    family,
                    withdrawn: vec![],
                })],
                ..Self::default()
            },
        }
    }

    /// The family this UPDATE marks End-of-RIB for, if it is a marker.
    pub fn end_of_rib_family(&self) -> Option<Family> {
        if !self.withdrawn.is_empty() || !self.nlri.is_empty() {
            return None;
        }
        match self.attributes.as_slice() {
            [] => Some(Family::Ipv4Unicast),
            [Attribute::MpUnreach(mp)] if mp.withdrawn.is_empty() => Some(mp.family),
            _ => None,
        }
    }

    /// The attribute with type `code`, if present.
    pub fn attribute(&self, code: u8) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.code() == code)
    }

    pub(crate) fn encode(&self, ctx: Context, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let withdrawn_at = out.len();
        out.extend_from_slice(&[0, 0]);
        encode_v4_prefixes(&self.withdrawn, out)?;
        patch_len(out, withdrawn_at, "withdrawn routes")?;
        let attrs_at = out.len();
        out.extend_from_slice(&[0, 0]);
        for attr in &self.attributes {
            attr.encode(ctx, out)?;
        }
        patch_len(out, attrs_at, "path attributes")?;
        encode_v4_prefixes(&self.nlri, out)
    }

    pub(crate) fn decode(body: &[u8], ctx: Context) -> Result<Self, DecodeError> {
        let mut r = Reader::new(
            body,
            DecodeError::MalformedAttributeList("lengths exceed the message"),
        );
        let withdrawn_len = r.u16()?;
        let withdrawn = r.take(usize::from(withdrawn_len))?;
        let attrs_len = r.u16()?;
        let attrs = r.take(usize::from(attrs_len))?;
        let nlri = r.rest();

        let withdrawn = decode_prefixes(
            withdrawn,
            Family::Ipv4Unicast,
            DecodeError::InvalidNetworkField,
        )?;
        let attributes = decode_attributes(attrs, ctx)?;
        let nlri = decode_prefixes(nlri, Family::Ipv4Unicast, DecodeError::InvalidNetworkField)?;
        let update = Update {
            withdrawn,
            attributes,
            nlri,
        };
        update.check_mandatory()?;
        Ok(update)
    }

    /// RFC 4271 §5: ORIGIN, AS_PATH and NEXT_HOP with IPv4 NLRI; RFC 4760
    /// §3: ORIGIN and AS_PATH with MP_REACH_NLRI alone. LOCAL_PREF is not
    /// required of internal peers: we keep no RIB, so its absence harms
    /// nothing, and RFC 7606 no longer resets sessions over it.
    fn check_mandatory(&self) -> Result<(), DecodeError> {
        let has_mp_reach = self.attribute(code::MP_REACH).is_some();
        let required: &[u8] = if !self.nlri.is_empty() {
            &[code::ORIGIN, code::AS_PATH, code::NEXT_HOP]
        } else if has_mp_reach {
            &[code::ORIGIN, code::AS_PATH]
        } else {
            &[]
        };
        match required.iter().find(|&&c| self.attribute(c).is_none()) {
            Some(&missing) => Err(DecodeError::MissingWellKnown(missing)),
            None => Ok(()),
        }
    }
}

fn encode_v4_prefixes(prefixes: &[IpNet], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    for p in prefixes {
        if let IpNet::V6(_) = p {
            return Err(EncodeError::Ipv6InClassicNlri(*p));
        }
        encode_prefix(p, out);
    }
    Ok(())
}

/// Writes the length of what follows the 2-octet field at `at`.
fn patch_len(out: &mut [u8], at: usize, what: &'static str) -> Result<(), EncodeError> {
    let len = u16::try_from(out.len() - at - 2).map_err(|_| EncodeError::FieldTooLong(what))?;
    out[at..at + 2].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

//! Path attributes (RFC 4271 §4.3 and §5, RFC 4760, RFC 6793, RFC 1997,
//! RFC 8092) and the checks of RFC 4271 §6.3 that apply to each one.
//!
//! ```text
//!  0                   1
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |O|T|P|E| unused|Attr. Type Code|  then the length: one octet, or
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  two when E (extended length) is set
//! ```
//!
//! MP_REACH_NLRI (RFC 4760 §3):
//!
//! ```text
//! +---------------------------------------------------------+
//! | Address Family Identifier (2 octets)                    |
//! +---------------------------------------------------------+
//! | Subsequent Address Family Identifier (1 octet)          |
//! +---------------------------------------------------------+
//! | Length of Next Hop Network Address (1 octet)            |
//! +---------------------------------------------------------+
//! | Network Address of Next Hop (variable)                  |
//! +---------------------------------------------------------+
//! | Reserved (1 octet)                                      |
//! +---------------------------------------------------------+
//! | Network Layer Reachability Information (variable)       |
//! +---------------------------------------------------------+
//! ```
//!
//! MP_UNREACH_NLRI (§4) is AFI, SAFI and the withdrawn routes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::aspath::{AsPath, Community, LargeCommunity};
use crate::error::{DecodeError, EncodeError};
use crate::message::Context;
use crate::nlri::{Family, decode_prefixes, encode_prefix};
use crate::reader::Reader;

pub const FLAG_OPTIONAL: u8 = 0x80;
pub const FLAG_TRANSITIVE: u8 = 0x40;
pub const FLAG_PARTIAL: u8 = 0x20;
pub const FLAG_EXTENDED: u8 = 0x10;

/// Attribute type codes.
pub mod code {
    pub const ORIGIN: u8 = 1;
    pub const AS_PATH: u8 = 2;
    pub const NEXT_HOP: u8 = 3;
    pub const MED: u8 = 4;
    pub const LOCAL_PREF: u8 = 5;
    pub const ATOMIC_AGGREGATE: u8 = 6;
    pub const AGGREGATOR: u8 = 7;
    pub const COMMUNITIES: u8 = 8;
    pub const MP_REACH: u8 = 14;
    pub const MP_UNREACH: u8 = 15;
    pub const AS4_PATH: u8 = 17;
    pub const AS4_AGGREGATOR: u8 = 18;
    pub const LARGE_COMMUNITIES: u8 = 32;
}

/// ORIGIN values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    Igp = 0,
    Egp = 1,
    Incomplete = 2,
}

/// MP_REACH_NLRI for a family we speak.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MpReach {
    pub family: Family,
    /// Of the family's IP version (no RFC 8950 IPv6 next hops for IPv4).
    pub next_hop: IpAddr,
    /// IPv6 only: the optional link-local second next hop (RFC 2545).
    pub link_local: Option<Ipv6Addr>,
    pub nlri: Vec<IpNet>,
}

/// MP_UNREACH_NLRI for a family we speak; empty `withdrawn` with no
/// other attribute is the End-of-RIB marker of the family (RFC 4724).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MpUnreach {
    pub family: Family,
    pub withdrawn: Vec<IpNet>,
}

/// One path attribute. Attributes rampart does not interpret, including
/// MP attributes of other families, are kept raw as [`Other`](Self::Other).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Attribute {
    Origin(Origin),
    AsPath(AsPath),
    NextHop(Ipv4Addr),
    Med(u32),
    LocalPref(u32),
    AtomicAggregate,
    /// 2-octet ASN unless the session has 4-octet AS numbers.
    Aggregator {
        asn: u32,
        id: Ipv4Addr,
    },
    Communities(Vec<Community>),
    MpReach(MpReach),
    MpUnreach(MpUnreach),
    As4Path(AsPath),
    As4Aggregator {
        asn: u32,
        id: Ipv4Addr,
    },
    LargeCommunities(Vec<LargeCommunity>),
    Other {
        flags: u8,
        code: u8,
        value: Vec<u8>,
    },
}

impl Attribute {
    pub fn code(&self) -> u8 {
        match self {
            Self::Origin(_) => code::ORIGIN,
            Self::AsPath(_) => code::AS_PATH,
            Self::NextHop(_) => code::NEXT_HOP,
            Self::Med(_) => code::MED,
            Self::LocalPref(_) => code::LOCAL_PREF,
            Self::AtomicAggregate => code::ATOMIC_AGGREGATE,
            Self::Aggregator { .. } => code::AGGREGATOR,
            Self::Communities(_) => code::COMMUNITIES,
            Self::MpReach(_) => code::MP_REACH,
            Self::MpUnreach(_) => code::MP_UNREACH,
            Self::As4Path(_) => code::AS4_PATH,
            Self::As4Aggregator { .. } => code::AS4_AGGREGATOR,
            Self::LargeCommunities(_) => code::LARGE_COMMUNITIES,
            Self::Other { code, .. } => *code,
        }
    }

    /// Appends flags, type, length and value.
    pub(crate) fn encode(&self, ctx: Context, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut value = Vec::new();
        match self {
            Self::Origin(o) => value.push(*o as u8),
            Self::AsPath(p) => p.encode(ctx.four_octet_as, &mut value)?,
            Self::NextHop(a) => value.extend_from_slice(&a.octets()),
            Self::Med(v) | Self::LocalPref(v) => value.extend_from_slice(&v.to_be_bytes()),
            Self::AtomicAggregate => {}
            Self::Aggregator { asn, id } => {
                if ctx.four_octet_as {
                    value.extend_from_slice(&asn.to_be_bytes());
                } else {
                    let a = u16::try_from(*asn).map_err(|_| EncodeError::AsTooLarge(*asn))?;
                    value.extend_from_slice(&a.to_be_bytes());
                }
                value.extend_from_slice(&id.octets());
            }
            Self::Communities(cs) => cs
                .iter()
                .for_each(|c| value.extend_from_slice(&c.0.to_be_bytes())),
            Self::MpReach(mp) => encode_mp_reach(mp, &mut value)?,
            Self::MpUnreach(mp) => {
                let (afi, safi) = mp.family.afi_safi();
                value.extend_from_slice(&afi.to_be_bytes());
                value.push(safi);
                encode_prefixes(mp.family, &mp.withdrawn, &mut value)?;
            }
            Self::As4Path(p) => p.encode(true, &mut value)?,
            Self::As4Aggregator { asn, id } => {
                value.extend_from_slice(&asn.to_be_bytes());
                value.extend_from_slice(&id.octets());
            }
            Self::LargeCommunities(cs) => cs.iter().for_each(|c| {
                for part in [c.global, c.local1, c.local2] {
                    value.extend_from_slice(&part.to_be_bytes());
                }
            }),
            Self::Other { value: v, .. } => value.extend_from_slice(v),
        }
        let flags = match self {
            Self::Other { flags, .. } => flags & !FLAG_EXTENDED,
            _ => expected_flags(self.code()).unwrap_or(FLAG_OPTIONAL),
        };
        let len = u16::try_from(value.len()).map_err(|_| EncodeError::FieldTooLong("attribute"))?;
        match u8::try_from(len) {
            Ok(short) => out.extend_from_slice(&[flags, self.code(), short]),
            Err(_) => {
                out.extend_from_slice(&[flags | FLAG_EXTENDED, self.code()]);
                out.extend_from_slice(&len.to_be_bytes());
            }
        }
        out.extend_from_slice(&value);
        Ok(())
    }
}

/// The Optional and Transitive bits each attribute we know must carry.
fn expected_flags(c: u8) -> Option<u8> {
    match c {
        code::ORIGIN | code::AS_PATH | code::NEXT_HOP | code::LOCAL_PREF => Some(FLAG_TRANSITIVE),
        code::ATOMIC_AGGREGATE => Some(FLAG_TRANSITIVE),
        code::MED | code::MP_REACH | code::MP_UNREACH => Some(FLAG_OPTIONAL),
        code::AGGREGATOR
        | code::COMMUNITIES
        | code::AS4_PATH
        | code::AS4_AGGREGATOR
        | code::LARGE_COMMUNITIES => Some(FLAG_OPTIONAL | FLAG_TRANSITIVE),
        _ => None,
    }
}

fn encode_mp_reach(mp: &MpReach, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let (afi, safi) = mp.family.afi_safi();
    out.extend_from_slice(&afi.to_be_bytes());
    out.push(safi);
    match (mp.family, mp.next_hop, mp.link_local) {
        (Family::Ipv4Unicast, IpAddr::V4(nh), None) => {
            out.push(4);
            out.extend_from_slice(&nh.octets());
        }
        (Family::Ipv6Unicast, IpAddr::V6(nh), ll) => {
            out.push(if ll.is_some() { 32 } else { 16 });
            out.extend_from_slice(&nh.octets());
            if let Some(ll) = ll {
                out.extend_from_slice(&ll.octets());
            }
        }
        _ => return Err(EncodeError::FamilyMismatch),
    }
    out.push(0); // reserved
    encode_prefixes(mp.family, &mp.nlri, out)
}

fn encode_prefixes(
    family: Family,
    prefixes: &[IpNet],
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    for p in prefixes {
        if Family::of(p) != family {
            return Err(EncodeError::FamilyMismatch);
        }
        encode_prefix(p, out);
    }
    Ok(())
}

// === decode ===

/// Decodes the Path Attributes field of an UPDATE.
pub(crate) fn decode_attributes(buf: &[u8], ctx: Context) -> Result<Vec<Attribute>, DecodeError> {
    let mut r = Reader::new(
        buf,
        DecodeError::MalformedAttributeList("attribute runs past the attribute field"),
    );
    let mut attrs = Vec::new();
    let mut seen = [false; 256];
    while !r.is_empty() {
        let start = buf.len() - r.rest_len();
        let flags = r.u8()?;
        let code = r.u8()?;
        let len = if flags & FLAG_EXTENDED != 0 {
            r.u16()?
        } else {
            u16::from(r.u8()?)
        };
        let value = r.take(usize::from(len))?;
        let raw = &buf[start..buf.len() - r.rest_len()];
        let seen_before = std::mem::replace(&mut seen[usize::from(code)], true);
        if seen_before {
            return Err(DecodeError::MalformedAttributeList("attribute repeated"));
        }
        attrs.push(decode_one(flags, code, value, raw, ctx)?);
    }
    Ok(attrs)
}

fn decode_one(
    flags: u8,
    c: u8,
    value: &[u8],
    raw: &[u8],
    ctx: Context,
) -> Result<Attribute, DecodeError> {
    let Some(expected) = expected_flags(c) else {
        if flags & FLAG_OPTIONAL == 0 {
            return Err(DecodeError::UnrecognizedWellKnown {
                code: c,
                attr: raw.to_vec(),
            });
        }
        return Ok(Attribute::Other {
            flags: flags & (FLAG_OPTIONAL | FLAG_TRANSITIVE | FLAG_PARTIAL),
            code: c,
            value: value.to_vec(),
        });
    };
    // Partial may be set only on optional transitive attributes.
    let partial_ok = expected == FLAG_OPTIONAL | FLAG_TRANSITIVE;
    if flags & (FLAG_OPTIONAL | FLAG_TRANSITIVE) != expected
        || (flags & FLAG_PARTIAL != 0 && !partial_ok)
    {
        return Err(DecodeError::AttributeFlags {
            code: c,
            attr: raw.to_vec(),
        });
    }
    let length_error = || DecodeError::AttributeLength {
        code: c,
        attr: raw.to_vec(),
    };
    let fixed = |n: usize| {
        if value.len() == n {
            Ok(Reader::new(value, length_error()))
        } else {
            Err(length_error())
        }
    };
    let attr = match c {
        code::ORIGIN => match fixed(1)?.u8()? {
            0 => Attribute::Origin(Origin::Igp),
            1 => Attribute::Origin(Origin::Egp),
            2 => Attribute::Origin(Origin::Incomplete),
            _ => return Err(DecodeError::InvalidOrigin(raw.to_vec())),
        },
        code::AS_PATH => Attribute::AsPath(AsPath::decode(
            value,
            ctx.four_octet_as,
            DecodeError::MalformedAsPath(raw.to_vec()),
        )?),
        code::NEXT_HOP => {
            let nh = Ipv4Addr::from(fixed(4)?.array::<4>()?);
            if nh.is_unspecified() || nh.is_multicast() || nh.is_broadcast() {
                return Err(DecodeError::InvalidNextHop(raw.to_vec()));
            }
            Attribute::NextHop(nh)
        }
        code::MED => Attribute::Med(fixed(4)?.u32()?),
        code::LOCAL_PREF => Attribute::LocalPref(fixed(4)?.u32()?),
        code::ATOMIC_AGGREGATE => {
            fixed(0)?;
            Attribute::AtomicAggregate
        }
        code::AGGREGATOR => {
            let mut v = fixed(if ctx.four_octet_as { 8 } else { 6 })?;
            let asn = if ctx.four_octet_as {
                v.u32()?
            } else {
                u32::from(v.u16()?)
            };
            let id = Ipv4Addr::from(v.array::<4>()?);
            Attribute::Aggregator { asn, id }
        }
        code::AS4_AGGREGATOR => {
            let mut v = fixed(8)?;
            let asn = v.u32()?;
            let id = Ipv4Addr::from(v.array::<4>()?);
            Attribute::As4Aggregator { asn, id }
        }
        code::COMMUNITIES => {
            if value.len() % 4 != 0 {
                return Err(length_error());
            }
            let mut v = Reader::new(value, length_error());
            let n = value.len() / 4;
            Attribute::Communities(
                (0..n)
                    .map(|_| v.u32().map(Community))
                    .collect::<Result<_, _>>()?,
            )
        }
        code::LARGE_COMMUNITIES => {
            if value.len() % 12 != 0 {
                return Err(length_error());
            }
            let mut v = Reader::new(value, length_error());
            let n = value.len() / 12;
            let cs = (0..n)
                .map(|_| Ok(LargeCommunity::new(v.u32()?, v.u32()?, v.u32()?)))
                .collect::<Result<_, DecodeError>>()?;
            Attribute::LargeCommunities(cs)
        }
        code::AS4_PATH => Attribute::As4Path(AsPath::decode(
            value,
            true,
            DecodeError::MalformedAsPath(raw.to_vec()),
        )?),
        code::MP_REACH => decode_mp_reach(flags, value, raw)?,
        _ => decode_mp_unreach(flags, value, raw)?,
    };
    Ok(attr)
}

fn decode_mp_reach(flags: u8, value: &[u8], raw: &[u8]) -> Result<Attribute, DecodeError> {
    let err = DecodeError::OptionalAttribute {
        code: code::MP_REACH,
        attr: raw.to_vec(),
    };
    let mut r = Reader::new(value, err.clone());
    let afi = r.u16()?;
    let safi = r.u8()?;
    let Some(family) = Family::from_afi_safi(afi, safi) else {
        return Ok(other(flags, code::MP_REACH, value));
    };
    let nh_len = r.u8()?;
    let nh = r.take(usize::from(nh_len))?;
    let _reserved = r.u8()?;
    let (next_hop, link_local) = match (family, nh.len()) {
        (Family::Ipv4Unicast, 4) => (IpAddr::V4(Ipv4Addr::from(array::<4>(nh))), None),
        (Family::Ipv6Unicast, 16) => (IpAddr::V6(Ipv6Addr::from(array::<16>(nh))), None),
        (Family::Ipv6Unicast, 32) => (
            IpAddr::V6(Ipv6Addr::from(array::<16>(nh))),
            Some(Ipv6Addr::from(array::<16>(&nh[16..]))),
        ),
        _ => return Err(err),
    };
    let nlri = decode_prefixes(r.rest(), family, err)?;
    Ok(Attribute::MpReach(MpReach {
        family,
        next_hop,
        link_local,
        nlri,
    }))
}

fn decode_mp_unreach(flags: u8, value: &[u8], raw: &[u8]) -> Result<Attribute, DecodeError> {
    let err = DecodeError::OptionalAttribute {
        code: code::MP_UNREACH,
        attr: raw.to_vec(),
    };
    let mut r = Reader::new(value, err.clone());
    let afi = r.u16()?;
    let safi = r.u8()?;
    let Some(family) = Family::from_afi_safi(afi, safi) else {
        return Ok(other(flags, code::MP_UNREACH, value));
    };
    let withdrawn = decode_prefixes(r.rest(), family, err)?;
    Ok(Attribute::MpUnreach(MpUnreach { family, withdrawn }))
}

fn other(flags: u8, code: u8, value: &[u8]) -> Attribute {
    Attribute::Other {
        flags: flags & (FLAG_OPTIONAL | FLAG_TRANSITIVE | FLAG_PARTIAL),
        code,
        value: value.to_vec(),
    }
}

/// The first `N` bytes of a slice the caller checked to be long enough.
fn array<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut out = [0; N];
    b.iter().zip(out.iter_mut()).for_each(|(s, d)| *d = *s);
    out
}

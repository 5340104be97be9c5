//! Values of the attributes that have structure of their own: AS_PATH /
//! AS4_PATH segments (RFC 4271 §4.3, RFC 6793), communities (RFC 1997)
//! and large communities (RFC 8092).
//!
//! An AS_PATH is a sequence of segments:
//!
//! ```text
//! +---------------------+---------------------+-----------------------+
//! | segment type (1)    | segment length (1)  | ASNs (length × 2 or 4)|
//! +---------------------+---------------------+-----------------------+
//! ```
//!
//! The ASNs are 4 octets in AS4_PATH and, between speakers that both sent
//! the 4-octet AS capability, in AS_PATH; otherwise 2 octets.

use std::fmt;

use crate::error::{DecodeError, EncodeError};
use crate::reader::Reader;

/// Segment types (RFC 4271, RFC 5065).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SegmentKind {
    Set = 1,
    Sequence = 2,
    ConfedSequence = 3,
    ConfedSet = 4,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Segment {
    pub kind: SegmentKind,
    /// 1..=255 of them.
    pub asns: Vec<u32>,
}

/// An AS_PATH or AS4_PATH value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct AsPath {
    pub segments: Vec<Segment>,
}

/// Most ASNs a segment can hold: its length field is one octet.
const SEGMENT_MAX: usize = 255;

impl AsPath {
    /// A path of one AS_SEQUENCE (split into segments of at most 255).
    pub fn sequence(asns: &[u32]) -> Self {
        let segments = asns
            .chunks(SEGMENT_MAX)
            .map(|c| Segment {
                kind: SegmentKind::Sequence,
                asns: c.to_vec(),
            })
            .collect();
        Self { segments }
    }

    /// Every ASN, in order.
    pub fn asns(&self) -> impl Iterator<Item = u32> + '_ {
        self.segments.iter().flat_map(|s| s.asns.iter().copied())
    }

    pub(crate) fn encode(&self, four_octet: bool, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        for seg in &self.segments {
            let count = u8::try_from(seg.asns.len())
                .ok()
                .filter(|&n| n > 0)
                .ok_or(EncodeError::FieldTooLong("AS_PATH segment"))?;
            out.extend_from_slice(&[seg.kind as u8, count]);
            for &asn in &seg.asns {
                if four_octet {
                    out.extend_from_slice(&asn.to_be_bytes());
                } else {
                    let asn16 = u16::try_from(asn).map_err(|_| EncodeError::AsTooLarge(asn))?;
                    out.extend_from_slice(&asn16.to_be_bytes());
                }
            }
        }
        Ok(())
    }

    /// Decodes segments; any inconsistency is `err` (Malformed AS_PATH).
    pub(crate) fn decode(
        buf: &[u8],
        four_octet: bool,
        err: DecodeError,
    ) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf, err.clone());
        let mut segments = Vec::new();
        while !r.is_empty() {
            let kind = match r.u8()? {
                1 => SegmentKind::Set,
                2 => SegmentKind::Sequence,
                3 => SegmentKind::ConfedSequence,
                4 => SegmentKind::ConfedSet,
                _ => return Err(err),
            };
            let count = r.u8()?;
            if count == 0 {
                // RFC 7606 §7.2: a zero-length segment is malformed.
                return Err(err);
            }
            let asns = (0..count)
                .map(|_| {
                    if four_octet {
                        r.u32()
                    } else {
                        r.u16().map(u32::from)
                    }
                })
                .collect::<Result<_, _>>()?;
            segments.push(Segment { kind, asns });
        }
        Ok(Self { segments })
    }
}

/// "65000 65001 {65002 65003}".
impl fmt::Display for AsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.segments.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            let (open, close) = match seg.kind {
                SegmentKind::Sequence => ("", ""),
                SegmentKind::Set => ("{", "}"),
                SegmentKind::ConfedSequence => ("(", ")"),
                SegmentKind::ConfedSet => ("[", "]"),
            };
            let asns: Vec<String> = seg.asns.iter().map(u32::to_string).collect();
            write!(f, "{open}{}{close}", asns.join(" "))?;
        }
        Ok(())
    }
}

/// A community (RFC 1997): by convention AS number and value, 16 bits
/// each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Community(pub u32);

impl Community {
    pub const NO_EXPORT: Community = Community(0xffff_ff01);
    pub const NO_ADVERTISE: Community = Community(0xffff_ff02);
    /// GRACEFUL_SHUTDOWN, 65535:0 (RFC 8326): the route is about to be
    /// withdrawn; a router that honours it lowers its preference (BIRD,
    /// FRR and most vendors set LOCAL_PREF 0) so traffic moves to another
    /// path while this one still works.
    pub const GRACEFUL_SHUTDOWN: Community = Community(0xffff_0000);

    pub fn new(asn: u16, value: u16) -> Self {
        Self(u32::from(asn) << 16 | u32::from(value))
    }
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.0 >> 16, self.0 & 0xffff)
    }
}

/// A large community (RFC 8092): global administrator (an AS number) and
/// two local data parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LargeCommunity {
    pub global: u32,
    pub local1: u32,
    pub local2: u32,
}

impl LargeCommunity {
    pub fn new(global: u32, local1: u32, local2: u32) -> Self {
        Self {
            global,
            local1,
            local2,
        }
    }
}

impl fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.global, self.local1, self.local2)
    }
}

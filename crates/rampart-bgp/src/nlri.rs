//! Address families and the prefix encoding shared by the NLRI, the
//! withdrawn routes and the MP attributes (RFC 4271 §4.3, RFC 4760 §5):
//!
//! ```text
//! +---------------------------+
//! |   Length (1 octet)        |
//! +---------------------------+
//! |   Prefix (variable)       |
//! +---------------------------+
//! ```
//!
//! The prefix takes the fewest octets that hold `Length` bits; trailing
//! bits are irrelevant and cleared on receipt.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::error::DecodeError;
use crate::reader::Reader;

/// Address family numbers (IANA) and subsequent address family 1.
pub const AFI_IPV4: u16 = 1;
pub const AFI_IPV6: u16 = 2;
pub const SAFI_UNICAST: u8 = 1;

/// An address family the announcer speaks (RFC 4760).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Ipv4Unicast,
    Ipv6Unicast,
}

impl Family {
    pub const ALL: [Family; 2] = [Family::Ipv4Unicast, Family::Ipv6Unicast];

    pub fn afi_safi(self) -> (u16, u8) {
        match self {
            Self::Ipv4Unicast => (AFI_IPV4, SAFI_UNICAST),
            Self::Ipv6Unicast => (AFI_IPV6, SAFI_UNICAST),
        }
    }

    pub fn from_afi_safi(afi: u16, safi: u8) -> Option<Self> {
        match (afi, safi) {
            (AFI_IPV4, SAFI_UNICAST) => Some(Self::Ipv4Unicast),
            (AFI_IPV6, SAFI_UNICAST) => Some(Self::Ipv6Unicast),
            _ => None,
        }
    }

    /// The family of a prefix.
    pub fn of(prefix: &IpNet) -> Self {
        match prefix {
            IpNet::V4(_) => Self::Ipv4Unicast,
            IpNet::V6(_) => Self::Ipv6Unicast,
        }
    }

    fn max_len(self) -> u8 {
        match self {
            Self::Ipv4Unicast => 32,
            Self::Ipv6Unicast => 128,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ipv4Unicast => "ipv4-unicast",
            Self::Ipv6Unicast => "ipv6-unicast",
        })
    }
}

/// Appends one prefix in the NLRI encoding.
pub(crate) fn encode_prefix(prefix: &IpNet, out: &mut Vec<u8>) {
    let len = prefix.prefix_len();
    let n = usize::from(len).div_ceil(8);
    out.push(len);
    match prefix.trunc() {
        IpNet::V4(p) => out.extend_from_slice(&p.addr().octets()[..n]),
        IpNet::V6(p) => out.extend_from_slice(&p.addr().octets()[..n]),
    }
}

/// Encoded length of one prefix.
pub(crate) fn prefix_len_on_wire(prefix: &IpNet) -> usize {
    1 + usize::from(prefix.prefix_len()).div_ceil(8)
}

/// Decodes a whole field of prefixes of `family`. A length beyond the
/// family's, or a prefix cut short, is `err`.
pub(crate) fn decode_prefixes(
    buf: &[u8],
    family: Family,
    err: DecodeError,
) -> Result<Vec<IpNet>, DecodeError> {
    let mut r = Reader::new(buf, err.clone());
    let mut out = Vec::new();
    while !r.is_empty() {
        let len = r.u8()?;
        if len > family.max_len() {
            return Err(err);
        }
        let bytes = r.take(usize::from(len).div_ceil(8))?;
        let prefix = match family {
            Family::Ipv4Unicast => {
                let mut octets = [0; 4];
                octets[..bytes.len()].copy_from_slice(bytes);
                Ipv4Net::new(Ipv4Addr::from(octets), len).map(|p| IpNet::V4(p.trunc()))
            }
            Family::Ipv6Unicast => {
                let mut octets = [0; 16];
                octets[..bytes.len()].copy_from_slice(bytes);
                Ipv6Net::new(Ipv6Addr::from(octets), len).map(|p| IpNet::V6(p.trunc()))
            }
        };
        out.push(prefix.map_err(|_| err.clone())?);
    }
    Ok(out)
}

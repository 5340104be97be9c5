//! The OPEN message (RFC 4271 §4.2) with capabilities (RFC 5492) and the
//! extended optional parameters length of RFC 9072.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+
//! |    Version    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     My Autonomous System      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Hold Time           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         BGP Identifier                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Opt Parm Len  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |             Optional Parameters (variable)                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Each optional parameter is type, length, value; type 2 holds
//! capabilities, each of them code, length, value:
//!
//! ```text
//! +------------------------------+
//! | Capability Code (1 octet)    |
//! +------------------------------+
//! | Capability Length (1 octet)  |
//! +------------------------------+
//! | Capability Value (variable)  |
//! +------------------------------+
//! ```

use std::fmt;
use std::net::Ipv4Addr;

use crate::error::{DecodeError, EncodeError};
use crate::nlri::Family;
use crate::reader::Reader;

/// The only version there is.
pub const BGP_VERSION: u8 = 4;
/// RFC 6793: what a speaker with a 4-octet AS puts in My AS.
pub const AS_TRANS: u16 = 23456;

const PARAM_CAPABILITIES: u8 = 2;
/// RFC 9072: an Opt Parm Len of 255 followed by a parameter type of 255
/// announces 2-octet lengths.
const PARAM_EXTENDED: u8 = 255;

const CAP_MULTIPROTOCOL: u8 = 1;
const CAP_ROUTE_REFRESH: u8 = 2;
const CAP_FOUR_OCTET_AS: u8 = 65;

/// A capability (RFC 5492). The ones rampart does not speak are kept, so
/// a status display can show everything the peer offered.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Capability {
    /// RFC 4760; `afi`/`safi` kept raw since peers offer many families.
    Multiprotocol {
        afi: u16,
        safi: u8,
    },
    /// RFC 2918.
    RouteRefresh,
    /// RFC 6793: the speaker's real AS number.
    FourOctetAs(u32),
    Unknown {
        code: u8,
        value: Vec<u8>,
    },
}

impl Capability {
    pub fn multiprotocol(family: Family) -> Self {
        let (afi, safi) = family.afi_safi();
        Self::Multiprotocol { afi, safi }
    }

    fn code(&self) -> u8 {
        match self {
            Self::Multiprotocol { .. } => CAP_MULTIPROTOCOL,
            Self::RouteRefresh => CAP_ROUTE_REFRESH,
            Self::FourOctetAs(_) => CAP_FOUR_OCTET_AS,
            Self::Unknown { code, .. } => *code,
        }
    }

    /// Appends code, length and value.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.push(self.code());
        match self {
            Self::Multiprotocol { afi, safi } => {
                out.push(4);
                out.extend_from_slice(&afi.to_be_bytes());
                out.extend_from_slice(&[0, *safi]);
            }
            Self::RouteRefresh => out.push(0),
            Self::FourOctetAs(asn) => {
                out.push(4);
                out.extend_from_slice(&asn.to_be_bytes());
            }
            Self::Unknown { value, .. } => {
                let len = u8::try_from(value.len())
                    .map_err(|_| EncodeError::FieldTooLong("capability"))?;
                out.push(len);
                out.extend_from_slice(value);
            }
        }
        Ok(())
    }
}

/// Names as in the IANA registry, e.g. "multiprotocol ipv6-unicast".
impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Multiprotocol { afi, safi } => match Family::from_afi_safi(*afi, *safi) {
                Some(family) => write!(f, "multiprotocol {family}"),
                None => write!(f, "multiprotocol afi {afi} safi {safi}"),
            },
            Self::RouteRefresh => f.write_str("route-refresh"),
            Self::FourOctetAs(asn) => write!(f, "4-octet-as {asn}"),
            Self::Unknown { code, .. } => match code {
                5 => f.write_str("extended-next-hop"),
                6 => f.write_str("extended-message"),
                64 => f.write_str("graceful-restart"),
                69 => f.write_str("add-path"),
                70 => f.write_str("enhanced-route-refresh"),
                71 => f.write_str("long-lived-graceful-restart"),
                73 => f.write_str("fqdn"),
                128 => f.write_str("route-refresh (pre-standard)"),
                _ => write!(f, "capability {code}"),
            },
        }
    }
}

/// An OPEN message. Version 4 is implied: others do not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    /// The sender's AS, or [`AS_TRANS`] when it does not fit.
    pub my_as: u16,
    /// Proposed hold time in seconds: 0 or at least 3.
    pub hold_time: u16,
    pub bgp_id: Ipv4Addr,
    pub capabilities: Vec<Capability>,
}

impl Open {
    /// The sender's AS: the 4-octet AS capability if present, else My AS.
    pub fn asn(&self) -> u32 {
        self.capabilities
            .iter()
            .find_map(|c| match c {
                Capability::FourOctetAs(asn) => Some(*asn),
                _ => None,
            })
            .unwrap_or(u32::from(self.my_as))
    }

    /// Whether the capability list holds `cap`.
    pub fn has(&self, cap: &Capability) -> bool {
        self.capabilities.contains(cap)
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.push(BGP_VERSION);
        out.extend_from_slice(&self.my_as.to_be_bytes());
        out.extend_from_slice(&self.hold_time.to_be_bytes());
        out.extend_from_slice(&self.bgp_id.octets());
        if self.capabilities.is_empty() {
            out.push(0);
            return Ok(());
        }
        let mut caps = Vec::new();
        for cap in &self.capabilities {
            cap.encode(&mut caps)?;
        }
        // All capabilities in one parameter, as BIRD sends them (FRR 8.4 sends one parameter per capability; both forms decode).
        let too_long = || EncodeError::FieldTooLong("optional parameters");
        let param_len = u8::try_from(caps.len()).map_err(|_| too_long())?;
        let total = u8::try_from(caps.len() + 2)
            .ok()
            .filter(|&t| t < PARAM_EXTENDED)
            .ok_or_else(too_long)?;
        out.extend_from_slice(&[total, PARAM_CAPABILITIES, param_len]);
        out.extend_from_slice(&caps);
        Ok(())
    }

    /// Decodes the OPEN body and makes the checks that need no
    /// configuration: version, hold time, identifier, parameter types.
    pub(crate) fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let short = DecodeError::MalformedOpen("message shorter than its parameters");
        let mut r = Reader::new(body, short.clone());
        let version = r.u8()?;
        if version != BGP_VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let my_as = r.u16()?;
        let hold_time = r.u16()?;
        let bgp_id = Ipv4Addr::from(r.array::<4>()?);
        let mut opt_len = usize::from(r.u8()?);
        // RFC 9072 §2: 255, 255, then a 2-octet length and 2-octet
        // parameter lengths.
        let extended =
            opt_len == usize::from(PARAM_EXTENDED) && body.get(10).copied() == Some(PARAM_EXTENDED);
        if extended {
            r.u8()?;
            opt_len = usize::from(r.u16()?);
        }
        let params = r.take(opt_len)?;
        if !r.is_empty() {
            return Err(DecodeError::MalformedOpen("bytes after the parameters"));
        }
        // Field values only after the structure is known to be sound.
        if matches!(hold_time, 1 | 2) {
            return Err(DecodeError::UnacceptableHoldTime(hold_time));
        }
        if bgp_id.is_unspecified() {
            return Err(DecodeError::BadBgpId(bgp_id));
        }
        let mut capabilities = Vec::new();
        let mut p = Reader::new(params, short);
        while !p.is_empty() {
            let ty = p.u8()?;
            let len = if extended {
                p.u16()?
            } else {
                u16::from(p.u8()?)
            };
            let value = p.take(usize::from(len))?;
            if ty != PARAM_CAPABILITIES {
                return Err(DecodeError::UnsupportedOptionalParameter(ty));
            }
            decode_capabilities(value, &mut capabilities)?;
        }
        Ok(Open {
            my_as,
            hold_time,
            bgp_id,
            capabilities,
        })
    }
}

fn decode_capabilities(buf: &[u8], out: &mut Vec<Capability>) -> Result<(), DecodeError> {
    let malformed = DecodeError::MalformedOpen("capability length");
    let mut r = Reader::new(buf, malformed.clone());
    while !r.is_empty() {
        let code = r.u8()?;
        let len = r.u8()?;
        let value = r.take(usize::from(len))?;
        let mut v = Reader::new(value, malformed.clone());
        let cap = match code {
            CAP_MULTIPROTOCOL if len == 4 => {
                let afi = v.u16()?;
                let _reserved = v.u8()?;
                Capability::Multiprotocol { afi, safi: v.u8()? }
            }
            CAP_ROUTE_REFRESH if len == 0 => Capability::RouteRefresh,
            CAP_FOUR_OCTET_AS if len == 4 => Capability::FourOctetAs(v.u32()?),
            CAP_MULTIPROTOCOL | CAP_ROUTE_REFRESH | CAP_FOUR_OCTET_AS => {
                return Err(malformed);
            }
            _ => Capability::Unknown {
                code,
                value: value.to_vec(),
            },
        };
        out.push(cap);
    }
    Ok(())
}

//! Version 2: a binary header (spec section 2.2).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |        signature: 0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A         |
//! |                          (12 bytes)                           |
//! +-------+-------+-------+-------+-------------------------------+
//! |version|command|family | proto |     length (network order)    |
//! |  (2)  |(0 / 1)|       |       | bytes after this header word  |
//! +-------+-------+-------+-------+-------------------------------+
//! |   addresses, then TLVs (ignored here), `length` bytes in all  |
//! +---------------------------------------------------------------+
//!
//! family/proto 0x11 TCP4: src addr (4), dst addr (4), src port, dst port = 12
//! family/proto 0x21 TCP6: src addr (16), dst addr (16), src port, dst port = 36
//! ```
//!
//! command 0 is LOCAL (the proxy's own connection, e.g. a health check:
//! addresses are ignored), 1 is PROXY (relayed on behalf of a client).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use rampart_config::ProxyVersion;

use super::{Addresses, DecodeError, Endpoints, Header};

/// "a constant 12 bytes block containing the protocol signature", chosen by
/// the spec to be rejected by common protocols' parsers.
pub(super) const SIGNATURE: [u8; 12] = [
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
];

/// Signature, version/command, family/protocol and the 16-bit length.
pub(super) const HEADER_LEN: usize = 16;

const VERSION_2: u8 = 0x2;
const CMD_LOCAL: u8 = 0x0;
const CMD_PROXY: u8 = 0x1;

const FAM_UNSPEC: u8 = 0x00;
const FAM_TCP4: u8 = 0x11;
const FAM_TCP6: u8 = 0x21;

const TCP4_ADDR_LEN: u16 = 12;
const TCP6_ADDR_LEN: u16 = 36;

pub(super) fn encode(endpoints: Endpoints, out: &mut Vec<u8>) {
    out.extend_from_slice(&SIGNATURE);
    // Always PROXY, also for mixed families: the connection *is* relayed for
    // a client; LOCAL would tell the server it is our own connection.
    out.push(VERSION_2 << 4 | CMD_PROXY);
    match endpoints {
        Endpoints::V4 { client, dest } => {
            out.push(FAM_TCP4);
            out.extend_from_slice(&TCP4_ADDR_LEN.to_be_bytes());
            out.extend_from_slice(&client.0.octets());
            out.extend_from_slice(&dest.0.octets());
            out.extend_from_slice(&client.1.to_be_bytes());
            out.extend_from_slice(&dest.1.to_be_bytes());
        }
        Endpoints::V6 { client, dest } => {
            out.push(FAM_TCP6);
            out.extend_from_slice(&TCP6_ADDR_LEN.to_be_bytes());
            out.extend_from_slice(&client.0.octets());
            out.extend_from_slice(&dest.0.octets());
            out.extend_from_slice(&client.1.to_be_bytes());
            out.extend_from_slice(&dest.1.to_be_bytes());
        }
        // "The sender should use this family ... when dealing with
        // unsupported protocol families"; no address bytes follow.
        Endpoints::Mixed => {
            out.push(FAM_UNSPEC);
            out.extend_from_slice(&0u16.to_be_bytes());
        }
    }
}

/// `buf` starts with [`SIGNATURE`].
pub(super) fn decode(buf: &[u8]) -> Result<Option<(Header, usize)>, DecodeError> {
    let Some(&[ver_cmd, fam, len_hi, len_lo]) = buf.get(SIGNATURE.len()..HEADER_LEN) else {
        return Ok(None);
    };
    let (version, command) = (ver_cmd >> 4, ver_cmd & 0x0F);
    if version != VERSION_2 {
        return Err(DecodeError::V2Version(version));
    }
    let len = u16::from_be_bytes([len_hi, len_lo]);
    let total = HEADER_LEN + usize::from(len);
    let Some(block) = buf.get(HEADER_LEN..total) else {
        return Ok(None);
    };
    let addresses = match command {
        // "discard the protocol block including the family which is ignored"
        CMD_LOCAL => None,
        CMD_PROXY => proxied(fam, len, block)?,
        other => return Err(DecodeError::V2Command(other)),
    };
    let header = Header {
        version: ProxyVersion::V2,
        addresses,
    };
    Ok(Some((header, total)))
}

/// The addresses of a PROXY command. Families other than TCP over IPv4/IPv6
/// fall back to UNSPEC (`None`), as the spec permits; TLVs after the
/// addresses are skipped.
fn proxied(fam: u8, len: u16, block: &[u8]) -> Result<Option<Addresses>, DecodeError> {
    // Family 0..=3 (UNSPEC, INET, INET6, UNIX), transport 0..=2 (UNSPEC,
    // STREAM, DGRAM); "other values ... must be rejected as invalid".
    if fam >> 4 > 0x3 || fam & 0x0F > 0x2 {
        return Err(DecodeError::V2Family(fam));
    }
    let too_short = || DecodeError::V2Length { family: fam, len };
    let addresses = match fam {
        FAM_TCP4 => {
            let mut r = Reader(block);
            let (src, dst) = (r.array::<4>(), r.array::<4>());
            let (sport, dport) = (r.port(), r.port());
            let (Some(src), Some(dst), Some(sport), Some(dport)) = (src, dst, sport, dport) else {
                return Err(too_short());
            };
            Addresses {
                client: SocketAddr::new(Ipv4Addr::from(src).into(), sport),
                dest: SocketAddr::new(Ipv4Addr::from(dst).into(), dport),
            }
        }
        FAM_TCP6 => {
            let mut r = Reader(block);
            let (src, dst) = (r.array::<16>(), r.array::<16>());
            let (sport, dport) = (r.port(), r.port());
            let (Some(src), Some(dst), Some(sport), Some(dport)) = (src, dst, sport, dport) else {
                return Err(too_short());
            };
            Addresses {
                client: SocketAddr::new(Ipv6Addr::from(src).into(), sport),
                dest: SocketAddr::new(Ipv6Addr::from(dst).into(), dport),
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(addresses))
}

/// A cursor over the address block: running short yields `None`, never a
/// panic (rustls' `codec::Reader` in miniature).
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }

    fn port(&mut self) -> Option<u16> {
        self.array::<2>().map(u16::from_be_bytes)
    }
}

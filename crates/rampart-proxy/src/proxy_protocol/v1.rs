//! Version 1: one line of US-ASCII text (spec section 2.1).
//!
//! ```text
//! "PROXY" SP ( "TCP4" | "TCP6" ) SP src-ip SP dst-ip SP src-port SP dst-port CRLF
//! "PROXY" SP "UNKNOWN" [ anything but CRLF ] CRLF
//! ```
//!
//! Exactly one space between fields, no leading zeros in IPv4 octets or
//! ports, at most 107 bytes including the CRLF, and a lone CR or LF is never
//! a line end.

use std::io::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use rampart_config::ProxyVersion;

use super::{Addresses, DecodeError, Endpoints, Header};

/// Every v1 header starts with these bytes.
pub(super) const PREFIX: &[u8] = b"PROXY ";

/// The worst case in the spec: `PROXY UNKNOWN` followed by two full-length
/// IPv6 addresses and two 5-digit ports, plus CRLF. "If the CRLF sequence is
/// not found in the first 107 characters, the receiver should declare the
/// line invalid."
pub(super) const MAX_LINE_LEN: usize = 107;

pub(super) fn encode(endpoints: Endpoints, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail (allocation failure aborts), so the
    // io::Result carries no information.
    let _ = match endpoints {
        Endpoints::V4 { client, dest } => write!(
            out,
            "PROXY TCP4 {} {} {} {}\r\n",
            client.0, dest.0, client.1, dest.1
        ),
        // Ipv6Addr's Display is RFC 5952 (lowercase, longest zero run
        // compressed), the canonical form the spec asks for. Mapped
        // addresses never get here: they were normalised to IPv4.
        Endpoints::V6 { client, dest } => write!(
            out,
            "PROXY TCP6 {} {} {} {}\r\n",
            client.0, dest.0, client.1, dest.1
        ),
        Endpoints::Mixed => out.write_all(b"PROXY UNKNOWN\r\n"),
    };
}

/// `buf` starts with [`PREFIX`].
pub(super) fn decode(buf: &[u8]) -> Result<Option<(Header, usize)>, DecodeError> {
    let Some(line_len) = find_line_end(buf)? else {
        return Ok(None);
    };
    let line = buf.get(..line_len).ok_or(DecodeError::V1TooLong)?;
    let mut fields = line.split(|&b| b == b' ');
    // The first field is "PROXY", already matched by the caller.
    fields.next();
    let addresses = match fields.next() {
        // "the receiver must ignore anything presented before the CRLF".
        Some(b"UNKNOWN") => None,
        Some(b"TCP4") => Some(addresses(&mut fields, parse_v4)?),
        Some(b"TCP6") => Some(addresses(&mut fields, parse_v6)?),
        _ => {
            return Err(DecodeError::V1Syntax(
                "protocol is not TCP4, TCP6 or UNKNOWN",
            ));
        }
    };
    let header = Header {
        version: ProxyVersion::V1,
        addresses,
    };
    Ok(Some((header, line_len + 2)))
}

/// The length of the line before its CRLF, `None` if the CRLF may still
/// come, or an error if it cannot come in time or a lone CR/LF appears.
fn find_line_end(buf: &[u8]) -> Result<Option<usize>, DecodeError> {
    let window = &buf[..buf.len().min(MAX_LINE_LEN)];
    match window.iter().position(|&b| b == b'\r' || b == b'\n') {
        Some(i) => match (window.get(i), buf.get(i + 1)) {
            (Some(b'\r'), Some(b'\n')) if i + 2 <= MAX_LINE_LEN => Ok(Some(i)),
            (Some(b'\r'), None) if i + 2 <= MAX_LINE_LEN => Ok(None),
            (Some(b'\r'), Some(b'\n') | None) => Err(DecodeError::V1TooLong),
            _ => Err(DecodeError::V1LineEnd),
        },
        None if buf.len() >= MAX_LINE_LEN => Err(DecodeError::V1TooLong),
        None => Ok(None),
    }
}

/// The four fields after TCP4/TCP6, and nothing after them.
fn addresses<'a, A: Into<std::net::IpAddr>>(
    fields: &mut impl Iterator<Item = &'a [u8]>,
    parse_ip: fn(&[u8]) -> Result<A, DecodeError>,
) -> Result<Addresses, DecodeError> {
    let mut next = || fields.next().ok_or(DecodeError::V1Syntax("missing field"));
    let src = parse_ip(next()?)?;
    let dst = parse_ip(next()?)?;
    let sport = parse_port(next()?)?;
    let dport = parse_port(next()?)?;
    if fields.next().is_some() {
        return Err(DecodeError::V1Syntax("extra field after destination port"));
    }
    Ok(Addresses {
        client: SocketAddr::new(src.into(), sport),
        dest: SocketAddr::new(dst.into(), dport),
    })
}

/// std's parser already refuses leading zeros ("01.2.3.4"), which the spec
/// forbids to avoid octal confusion.
fn parse_v4(field: &[u8]) -> Result<Ipv4Addr, DecodeError> {
    std::str::from_utf8(field)
        .ok()
        .and_then(|s| Ipv4Addr::from_str(s).ok())
        .ok_or(DecodeError::V1Syntax("bad IPv4 address"))
}

fn parse_v6(field: &[u8]) -> Result<Ipv6Addr, DecodeError> {
    std::str::from_utf8(field)
        .ok()
        .and_then(|s| Ipv6Addr::from_str(s).ok())
        .ok_or(DecodeError::V1Syntax("bad IPv6 address"))
}

/// Decimal 0..=65535 without sign or leading zeros (`u16::from_str` would
/// accept "+80" and "080").
fn parse_port(field: &[u8]) -> Result<u16, DecodeError> {
    const BAD: DecodeError = DecodeError::V1Syntax("bad port");
    let digits_only = !field.is_empty() && field.len() <= 5 && field.iter().all(u8::is_ascii_digit);
    if !digits_only || (field.len() > 1 && field.first() == Some(&b'0')) {
        return Err(BAD);
    }
    let value = field
        .iter()
        .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
    u16::try_from(value).map_err(|_| BAD)
}

//! The PROXY protocol, versions 1 and 2 (HAProxy's "The PROXY protocol",
//! `doc/proxy-protocol.txt`): a header sent before any payload on a
//! connection to a server, telling it which client the connection is for.
//!
//! rampart is a sender ([`encode`], called once per server connection when
//! the server has `send_proxy`). [`decode`] exists so tests can check what we
//! send and so a future accept side can take headers from a trusted proxy in
//! front of us.
//!
//! Both directions are hand-written and never panic: the encoder writes into
//! a caller-owned buffer (no allocation once it holds [`MAX_ENCODED_LEN`]), and
//! the decoder treats every byte as hostile — running short is `Ok(None)`,
//! anything that does not match the specification exactly is a
//! [`DecodeError`] so the connection can be aborted, as the spec requires.

use std::net::{IpAddr, SocketAddr};

use rampart_config::ProxyVersion;

mod v1;
mod v2;

#[cfg(test)]
mod tests;

/// An upper bound on what [`encode`] writes: the longest v1 line the spec
/// allows (a TCP6 line is at most 104 bytes; a v2 TCP6 header is 52).
/// Callers that reserve this much never see the encoder allocate.
pub const MAX_ENCODED_LEN: usize = v1::MAX_LINE_LEN;

/// A decoded header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub version: ProxyVersion,
    /// The original endpoints, or `None` when the receiver must use the real
    /// connection's endpoints: v1 `UNKNOWN`, v2 `LOCAL`, and v2 families we do
    /// not carry (AF_UNSPEC, UDP, AF_UNIX — the spec allows a receiver to
    /// fall back to UNSPEC for any family it does not implement).
    pub addresses: Option<Addresses>,
}

/// The endpoints of the connection the proxy accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addresses {
    /// The client (the accepted connection's peer).
    pub client: SocketAddr,
    /// Where the client connected to (the proxy's accepting address).
    pub dest: SocketAddr,
}

/// Why a byte sequence is not a valid PROXY header. The spec says any such
/// sequence "must be discarded and cause the receiver to abort the
/// connection", so every variant means the same to a caller: close it. The
/// variants exist for the log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The first bytes match neither the v1 nor the v2 signature.
    #[error("not a PROXY protocol header")]
    NotProxy,
    /// No CRLF within the first 107 bytes, the longest valid v1 line.
    #[error("PROXY v1 line has no CRLF within {} bytes", v1::MAX_LINE_LEN)]
    V1TooLong,
    /// A lone CR or LF; the spec forbids tolerating either as a line end.
    #[error("PROXY v1 line ends with a lone CR or LF")]
    V1LineEnd,
    /// The v1 line does not have the exact syntax; the text says which part.
    #[error("PROXY v1 line is malformed: {0}")]
    V1Syntax(&'static str),
    /// The v2 version nibble is not 2.
    #[error("PROXY v2 header has version {0}, expected 2")]
    V2Version(u8),
    /// The v2 command nibble is neither LOCAL (0) nor PROXY (1).
    #[error("PROXY v2 header has unassigned command {0:#x}")]
    V2Command(u8),
    /// The v2 family/transport byte has an unspecified nibble.
    #[error("PROXY v2 header has invalid family/protocol byte {0:#04x}")]
    V2Family(u8),
    /// The v2 length is smaller than the addresses its family carries.
    #[error("PROXY v2 address block of {len} bytes is too short for family {family:#04x}")]
    V2Length { family: u8, len: u16 },
}

/// Writes the header for a connection from `client` to `local` (the proxy's
/// accepting address) into `out`, which is cleared first. Does not allocate
/// when `out` has [`MAX_ENCODED_LEN`] bytes of capacity.
///
/// IPv4-mapped IPv6 addresses (a v4 client on a dual-stack listener) are
/// sent as IPv4, so the server sees the address the client really has. If
/// the two families still differ — which real sockets never produce, since
/// both ends of one connection share a family — the header says "unknown"
/// (v1 `UNKNOWN`, v2 PROXY with AF_UNSPEC) rather than invent an address.
pub fn encode(version: ProxyVersion, client: SocketAddr, local: SocketAddr, out: &mut Vec<u8>) {
    out.clear();
    let endpoints = Endpoints::of(client, local);
    match version {
        ProxyVersion::V1 => v1::encode(endpoints, out),
        ProxyVersion::V2 => v2::encode(endpoints, out),
    }
}

/// Parses a header at the start of `buf`.
///
/// Returns `Ok(None)` while `buf` is a valid but incomplete beginning of a
/// header (read more and call again), or the header and how many bytes it
/// took; payload after it is left alone. Never panics, whatever `buf` holds.
/// A v2 header can be up to 16 + 65535 bytes long; the caller bounds how
/// much it is willing to buffer.
pub fn decode(buf: &[u8]) -> Result<Option<(Header, usize)>, DecodeError> {
    if buf.starts_with(&v2::SIGNATURE) {
        v2::decode(buf)
    } else if buf.starts_with(v1::PREFIX) {
        v1::decode(buf)
    } else if v2::SIGNATURE.starts_with(buf) || v1::PREFIX.starts_with(buf) {
        // Too short to tell yet, but could still become either signature.
        Ok(None)
    } else {
        Err(DecodeError::NotProxy)
    }
}

// === impl Endpoints ===

/// The addresses to announce, after normalisation: both of one family, or
/// `Mixed` when there is no honest way to write them in one header.
#[derive(Debug, Clone, Copy)]
enum Endpoints {
    V4 {
        client: (std::net::Ipv4Addr, u16),
        dest: (std::net::Ipv4Addr, u16),
    },
    V6 {
        client: (std::net::Ipv6Addr, u16),
        dest: (std::net::Ipv6Addr, u16),
    },
    Mixed,
}

impl Endpoints {
    fn of(client: SocketAddr, dest: SocketAddr) -> Endpoints {
        match (canonical(client.ip()), canonical(dest.ip())) {
            (IpAddr::V4(c), IpAddr::V4(d)) => Endpoints::V4 {
                client: (c, client.port()),
                dest: (d, dest.port()),
            },
            (IpAddr::V6(c), IpAddr::V6(d)) => Endpoints::V6 {
                client: (c, client.port()),
                dest: (d, dest.port()),
            },
            _ => Endpoints::Mixed,
        }
    }
}

/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`) as IPv4; anything else unchanged.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

//! Raw IP protocol 112 sockets for VRRP adverts (RFC 3768 / RFC 5798).
//!
//! One [`VrrpSocket`] per (interface, address family). It is nonblocking and
//! exposes its descriptor, so the binary wraps it in tokio's `AsyncFd`.
//!
//! Why the socket is **not** `bind(2)`-ed to the source address: Linux
//! delivers an IPv4 packet to a raw socket only if the socket's bound
//! address equals the packet's *destination* (`raw_v4_match`), so a socket
//! bound to 10.0.0.1 never sees adverts sent to 224.0.0.18. (IPv6 makes an
//! exception for joined groups, but a socket bound to the link-local address
//! would still miss unicast adverts to a global one.) Instead the socket is
//! only bound to the *device*, and every send carries an `IP_PKTINFO` /
//! `IPV6_PKTINFO` control message naming the source address and interface —
//! the per-packet equivalent of `bind`, which the kernel checks the same way
//! (the address must be assigned and not tentative). Keepalived gets the
//! same effect with a separate send socket.
//!
//! Receiving on IPv4 yields the IP header, parsed here without panics
//! ([`parse_ipv4`]). IPv6 raw sockets never show the header, so the hop
//! limit and destination come from `IPV6_HOPLIMIT` / `IPV6_PKTINFO` control
//! messages. The VRRP checksum (including the IPv6 pseudo-header for v3) is
//! the protocol core's job: `IPV6_CHECKSUM` is deliberately left off so a
//! bad checksum reaches the core and is counted, not silently dropped.

use std::io;
use std::io::{IoSlice, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, SockaddrIn, SockaddrIn6, recvmsg, sendmsg,
    setsockopt, sockopt,
};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, Socket, Type};

/// IANA protocol number of VRRP.
pub const IPPROTO_VRRP: i32 = 112;
/// IPv4 multicast group of VRRP adverts (RFC 5798 §5.1.1.2).
pub const VRRP_GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// IPv6 multicast group of VRRP adverts (RFC 5798 §5.1.2.2).
pub const VRRP_GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// TTL / hop limit of every multicast advert: RFC 5798 §5.1.1.3 requires 255
/// and receivers drop anything else, which proves the sender is on-link.
pub const VRRP_TTL: u8 = 255;

/// Room for `IPV6_PKTINFO` (20 bytes) and `IPV6_HOPLIMIT` (4 bytes) control
/// messages with their headers and alignment (64 bytes on x86_64); doubled
/// so an unexpected extra message truncates nothing we need.
const CMSG_BUF: usize = 128;

/// One received advert. `payload` is the VRRP packet (the IPv4 header is
/// already stripped), borrowed from the caller's buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit as it arrived (must be 255 for VRRP).
    pub ttl: u8,
    pub payload: &'a [u8],
}

/// A raw VRRP socket on one interface.
#[derive(Debug)]
pub struct VrrpSocket {
    socket: Socket,
    ifindex: u32,
    src: IpAddr,
}

// === impl VrrpSocket ===

impl VrrpSocket {
    /// Opens an IPv4 VRRP socket on `ifname`, sending from `src` (an address
    /// of this host: on that interface or, as keepalived allows, another).
    ///
    /// With `multicast`, joins 224.0.0.18 on the interface (by index) and
    /// sends multicast with TTL 255 and no loopback to ourselves. `ttl` is
    /// the TTL of unicast adverts (255 unless a unicast peer is routed).
    pub fn v4(ifname: &str, src: Ipv4Addr, multicast: bool, ttl: u8) -> io::Result<VrrpSocket> {
        let ifindex = crate::netlink::link_index(ifname)?;
        let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(IPPROTO_VRRP)))?;
        socket.bind_device(Some(ifname.as_bytes()))?;
        socket.set_ttl_v4(u32::from(ttl))?;
        // No IP_MULTICAST_IF: the device binding already picks the egress
        // interface of multicast, and the kernel refuses (EINVAL) an
        // IP_MULTICAST_IF address that lives on another interface than the
        // bound one — which is the seed guide's VI_2 (`interface ens14f1`,
        // `unicast_src_ip` on bond0). The source goes in IP_PKTINFO.
        socket.set_multicast_ttl_v4(u32::from(VRRP_TTL))?;
        socket.set_multicast_loop_v4(false)?;
        if multicast {
            socket.join_multicast_v4_n(&VRRP_GROUP_V4, &InterfaceIndexOrAddress::Index(ifindex))?;
        }
        socket.set_nonblocking(true)?;
        Ok(VrrpSocket {
            socket,
            ifindex,
            src: IpAddr::V4(src),
        })
    }

    /// Opens an IPv6 VRRP socket on `ifname`, sending from `src` (RFC 5798
    /// wants the interface's link-local address). With `multicast`, joins
    /// ff02::12. Multicast hop limit is 255; `hops` is the unicast one.
    pub fn v6(ifname: &str, src: Ipv6Addr, multicast: bool, hops: u8) -> io::Result<VrrpSocket> {
        let ifindex = crate::netlink::link_index(ifname)?;
        let socket = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::from(IPPROTO_VRRP)))?;
        socket.bind_device(Some(ifname.as_bytes()))?;
        socket.set_unicast_hops_v6(u32::from(hops))?;
        socket.set_multicast_if_v6(ifindex)?;
        socket.set_multicast_hops_v6(u32::from(VRRP_TTL))?;
        socket.set_multicast_loop_v6(false)?;
        socket.set_recv_hoplimit_v6(true)?;
        setsockopt(&socket, sockopt::Ipv6RecvPacketInfo, &true)?;
        if multicast {
            socket.join_multicast_v6(&VRRP_GROUP_V6, ifindex)?;
        }
        socket.set_nonblocking(true)?;
        Ok(VrrpSocket {
            socket,
            ifindex,
            src: IpAddr::V6(src),
        })
    }

    /// Index of the interface the socket is bound to.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The source address of every advert sent.
    pub fn source(&self) -> IpAddr {
        self.src
    }

    /// Sends one advert to `dst` (the group or a unicast peer). `dst` must be
    /// of the socket's family. Fails with `WouldBlock` if the socket buffer
    /// is full; a short write is reported as an error.
    pub fn send_to(&self, dst: IpAddr, payload: &[u8]) -> io::Result<()> {
        let iov = [IoSlice::new(payload)];
        let fd = self.socket.as_raw_fd();
        let sent = match (self.src, dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                let info = libc::in_pktinfo {
                    ipi_ifindex: ifindex_c_int(self.ifindex)?,
                    ipi_spec_dst: libc::in_addr {
                        s_addr: u32::from_ne_bytes(src.octets()),
                    },
                    ipi_addr: libc::in_addr { s_addr: 0 },
                };
                let addr = SockaddrIn::from(SocketAddrV4::new(dst, 0));
                let cmsg = [ControlMessage::Ipv4PacketInfo(&info)];
                sendmsg(fd, &iov, &cmsg, MsgFlags::empty(), Some(&addr))?
            }
            (IpAddr::V6(src), IpAddr::V6(dst)) => {
                let info = libc::in6_pktinfo {
                    ipi6_addr: libc::in6_addr {
                        s6_addr: src.octets(),
                    },
                    ipi6_ifindex: self.ifindex,
                };
                let scope = if needs_scope(&dst) { self.ifindex } else { 0 };
                let addr = SockaddrIn6::from(SocketAddrV6::new(dst, 0, 0, scope));
                let cmsg = [ControlMessage::Ipv6PacketInfo(&info)];
                sendmsg(fd, &iov, &cmsg, MsgFlags::empty(), Some(&addr))?
            }
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("VRRP socket from {} cannot send to {dst}", self.src),
                ));
            }
        };
        if sent != payload.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("short send: {sent} of {} bytes", payload.len()),
            ));
        }
        Ok(())
    }

    /// Receives one packet. Returns `WouldBlock` when none is queued, and
    /// `InvalidData` for a packet that was truncated (larger than `buf`) or
    /// whose header is malformed — the caller drops it and reads on.
    pub fn recv<'a>(&self, buf: &'a mut [u8]) -> io::Result<Received<'a>> {
        match self.src {
            IpAddr::V4(_) => self.recv_v4(buf),
            IpAddr::V6(_) => self.recv_v6(buf),
        }
    }

    fn recv_v4<'a>(&self, buf: &'a mut [u8]) -> io::Result<Received<'a>> {
        // MSG_TRUNC makes recv return the real datagram length.
        let n = nix::sys::socket::recv(self.socket.as_raw_fd(), buf, MsgFlags::MSG_TRUNC)?;
        let buf: &'a [u8] = buf;
        parse_ipv4(buf.get(..n).ok_or_else(|| truncated(n, buf.len()))?)
    }

    fn recv_v6<'a>(&self, buf: &'a mut [u8]) -> io::Result<Received<'a>> {
        let cap = buf.len();
        let mut cmsg_buf = [0u8; CMSG_BUF];
        let (n, flags, src, dst, ttl) = {
            let mut iov = [IoSliceMut::new(buf)];
            let msg = recvmsg::<SockaddrIn6>(
                self.socket.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg_buf),
                MsgFlags::empty(),
            )?;
            let src = msg.address.map(|a| a.ip());
            let (mut dst, mut ttl) = (None, None);
            for cmsg in msg.cmsgs()? {
                match cmsg {
                    ControlMessageOwned::Ipv6PacketInfo(info) => {
                        dst = Some(Ipv6Addr::from(info.ipi6_addr.s6_addr));
                    }
                    ControlMessageOwned::Ipv6HopLimit(h) => ttl = u8::try_from(h).ok(),
                    _ => {}
                }
            }
            (msg.bytes, msg.flags, src, dst, ttl)
        };
        if flags.contains(MsgFlags::MSG_TRUNC) {
            return Err(truncated(n, cap));
        }
        let (Some(src), Some(dst), Some(ttl)) = (src, dst, ttl) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "IPv6 VRRP packet without source, IPV6_PKTINFO or IPV6_HOPLIMIT",
            ));
        };
        let buf: &'a [u8] = buf;
        Ok(Received {
            src: IpAddr::V6(src),
            dst: IpAddr::V6(dst),
            ttl,
            payload: buf.get(..n).ok_or_else(|| truncated(n, cap))?,
        })
    }
}

impl AsFd for VrrpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl AsRawFd for VrrpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

// === IPv4 header ===

/// Parses the IPv4 header a raw socket hands up and returns the payload it
/// delimits. Never panics: a short buffer, a bad version or IHL, or a total
/// length that disagrees with the bytes read is `InvalidData`.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |Version|  IHL  |Type of Service|          Total Length         |
/// |         Identification        |Flags|      Fragment Offset    |
/// |  Time to Live |    Protocol   |         Header Checksum       |
/// |                       Source Address                          |
/// |                    Destination Address                        |
/// |                    Options (IHL > 5)                          |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
pub fn parse_ipv4(packet: &[u8]) -> io::Result<Received<'_>> {
    let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, format!("IPv4 header: {why}"));
    let header: &[u8; 20] = packet
        .get(..20)
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| bad("shorter than 20 bytes"))?;
    if header[0] >> 4 != 4 {
        return Err(bad("version is not 4"));
    }
    let ihl = usize::from(header[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([header[2], header[3]]));
    if ihl < 20 || ihl > total {
        return Err(bad("bad header length"));
    }
    // Linux hands up the header as received: total length in network order
    // and covering exactly the bytes read (the BSDs differ; we are Linux-only).
    if total != packet.len() {
        return Err(bad("total length disagrees with the datagram size"));
    }
    let src = Ipv4Addr::new(header[12], header[13], header[14], header[15]);
    let dst = Ipv4Addr::new(header[16], header[17], header[18], header[19]);
    let payload = packet
        .get(ihl..total)
        .ok_or_else(|| bad("bad header length"))?;
    Ok(Received {
        src: IpAddr::V4(src),
        dst: IpAddr::V4(dst),
        ttl: header[8],
        payload,
    })
}

fn truncated(len: usize, cap: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("datagram of {len} bytes truncated to a {cap}-byte buffer"),
    )
}

fn ifindex_c_int(ifindex: u32) -> io::Result<libc::c_int> {
    libc::c_int::try_from(ifindex)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface index out of range"))
}

/// Link-local unicast and link/interface-local multicast need a scope id.
fn needs_scope(dst: &Ipv6Addr) -> bool {
    dst.is_unicast_link_local() || (dst.is_multicast() && (dst.segments()[0] & 0x000f) <= 2)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn header(ihl: u8, total: u16, ttl: u8) -> Vec<u8> {
        let mut h = vec![0u8; (usize::from(ihl) * 4).max(20)];
        h[0] = 0x40 | ihl;
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h[8] = ttl;
        h[9] = 112;
        h[12..16].copy_from_slice(&[10, 0, 0, 1]);
        h[16..20].copy_from_slice(&[224, 0, 0, 18]);
        h
    }

    #[test]
    fn parses_header_and_strips_it() {
        let mut p = header(5, 28, 255);
        p.extend_from_slice(&[0x21, 1, 100, 1, 0, 1, 0xaa, 0xbb]);
        let r = parse_ipv4(&p).unwrap();
        assert_eq!(r.src, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(r.dst, IpAddr::V4(VRRP_GROUP_V4));
        assert_eq!(r.ttl, 255);
        assert_eq!(r.payload, &[0x21, 1, 100, 1, 0, 1, 0xaa, 0xbb]);
    }

    #[test]
    fn honours_options_in_ihl() {
        let mut p = header(6, 26, 64);
        p.extend_from_slice(&[1, 2]);
        assert_eq!(parse_ipv4(&p).unwrap().payload, &[1, 2]);
    }

    #[test]
    fn rejects_malformed_headers_without_panicking() {
        assert!(parse_ipv4(&[]).is_err());
        assert!(parse_ipv4(&[0x45; 19]).is_err());
        let mut v6 = header(5, 20, 1);
        v6[0] = 0x65;
        assert!(parse_ipv4(&v6).is_err());
        assert!(parse_ipv4(&header(4, 20, 1)).is_err()); // IHL < 5
        assert!(parse_ipv4(&header(5, 19, 1)).is_err()); // total < IHL
        assert!(parse_ipv4(&header(5, 40, 1)).is_err()); // total > bytes read
        let mut long = header(5, 20, 1);
        long.push(0);
        assert!(parse_ipv4(&long).is_err()); // bytes beyond total
        let mut ihl15 = header(5, 60, 1);
        ihl15[0] = 0x4f;
        assert!(parse_ipv4(&ihl15).is_err());
    }

    #[test]
    fn every_prefix_of_a_packet_parses_or_errors() {
        let mut p = header(5, 28, 255);
        p.extend_from_slice(&[0; 8]);
        for n in 0..p.len() {
            assert!(parse_ipv4(&p[..n]).is_err());
        }
    }

    #[test]
    fn scope_ids_only_where_needed() {
        assert!(needs_scope(&VRRP_GROUP_V6));
        assert!(needs_scope(&"fe80::1".parse().unwrap()));
        assert!(!needs_scope(&"2001:db8::1".parse().unwrap()));
        assert!(!needs_scope(&"ff05::12".parse().unwrap()));
    }
}

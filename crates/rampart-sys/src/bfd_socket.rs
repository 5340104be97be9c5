//! UDP sockets for single-hop BFD (RFC 5881), as BIRD opens them:
//!
//! - one **receiving** socket per address family, bound to the wildcard
//!   address and port 3784, which asks the kernel for each datagram's TTL
//!   or hop limit (`IP_RECVTTL`, `IPV6_RECVHOPLIMIT`). Packets that did
//!   not arrive with 255 are not dropped here but handed up with their
//!   TTL, so the protocol core can count them (RFC 5881 §5: they MUST be
//!   discarded);
//! - one **sending** socket per session, bound to a source port in
//!   49152–65535 that the session keeps for its life (RFC 5881 §4: the
//!   same port for every packet of a session), connected to the peer's
//!   port 3784, sending with TTL / hop limit 255 and DSCP CS6.
//!
//! Connecting the sending socket lets the kernel choose the source address
//! as it does for the BGP connection to the same peer (unless one is
//! given), which is the address the peer expects its BFD packets from. A
//! connected UDP socket also reports the peer's ICMP port unreachable as
//! `ECONNREFUSED` on a later send: the caller treats every send error as
//! a lost packet, which BFD is built to survive.
//!
//! Everything here is in nix and socket2's safe API; no `unsafe`.

use std::io::{self, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use nix::sys::socket::{
    ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg, setsockopt, sockopt,
};
use socket2::{Domain, Protocol, Socket, Type};

/// Destination port of single-hop control packets (RFC 5881 §4).
pub const BFD_CONTROL_PORT: u16 = 3784;
/// The source ports RFC 5881 §4 allows.
pub const BFD_SOURCE_PORTS: std::ops::RangeInclusive<u16> = 49152..=65535;
/// TTL / hop limit of every packet sent (RFC 5881 §5).
pub const BFD_TTL: u8 = 255;
/// DSCP CS6, "internet control", like BGP's sockets and BIRD's BFD.
const TOS_CS6: u32 = 0xc0;
/// Room for one `IP_TTL` / `IPV6_HOPLIMIT` control message (an int) with
/// its header, doubled.
const CMSG_BUF: usize = 64;

/// One received datagram, borrowed from the caller's buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram<'a> {
    pub src: SocketAddr,
    /// IPv4 TTL or IPv6 hop limit as it arrived.
    pub ttl: u8,
    pub payload: &'a [u8],
}

/// The port-3784 socket of one address family.
#[derive(Debug)]
pub struct BfdListener {
    socket: Socket,
}

impl BfdListener {
    /// Binds `0.0.0.0:3784` (`v6` false) or `[::]:3784` (IPv6 only, so the
    /// two can coexist). Nonblocking.
    pub fn bind(v6: bool) -> io::Result<BfdListener> {
        let (domain, addr) = if v6 {
            (Domain::IPV6, IpAddr::V6(Ipv6Addr::UNSPECIFIED))
        } else {
            (Domain::IPV4, IpAddr::V4(Ipv4Addr::UNSPECIFIED))
        };
        let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
        if v6 {
            socket.set_only_v6(true)?;
            socket.set_recv_hoplimit_v6(true)?;
        } else {
            setsockopt(&socket, sockopt::Ipv4RecvTtl, &true)?;
        }
        socket.set_nonblocking(true)?;
        socket.bind(&SocketAddr::new(addr, BFD_CONTROL_PORT).into())?;
        Ok(BfdListener { socket })
    }

    /// Receives one datagram. `WouldBlock` when none is queued;
    /// `InvalidData` when it was truncated (larger than `buf`: no BFD
    /// packet is) or came without its TTL — the caller drops it and reads
    /// on. IPv4-mapped sources are given as IPv4.
    pub fn recv<'a>(&self, buf: &'a mut [u8]) -> io::Result<Datagram<'a>> {
        let mut cmsg_buf = [0u8; CMSG_BUF];
        let (n, flags, src, ttl) = {
            let mut iov = [IoSliceMut::new(buf)];
            let msg = recvmsg::<SockaddrStorage>(
                self.socket.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg_buf),
                MsgFlags::empty(),
            )?;
            let src = msg.address.as_ref().and_then(socket_addr);
            let mut ttl = None;
            for cmsg in msg.cmsgs()? {
                match cmsg {
                    ControlMessageOwned::Ipv4Ttl(t) | ControlMessageOwned::Ipv6HopLimit(t) => {
                        ttl = u8::try_from(t).ok();
                    }
                    _ => {}
                }
            }
            (msg.bytes, msg.flags, src, ttl)
        };
        let invalid = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_string());
        if flags.contains(MsgFlags::MSG_TRUNC) {
            return Err(invalid("BFD datagram larger than the buffer"));
        }
        let (Some(src), Some(ttl)) = (src, ttl) else {
            return Err(invalid("BFD datagram without a source or a TTL"));
        };
        let buf: &'a [u8] = buf;
        let payload = buf
            .get(..n)
            .ok_or_else(|| invalid("BFD datagram length beyond the buffer"))?;
        Ok(Datagram { src, ttl, payload })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("not an IP socket"))
    }
}

/// A session's sending socket.
#[derive(Debug)]
pub struct BfdSender {
    socket: Socket,
}

impl BfdSender {
    /// A socket connected to `peer`:3784, bound to `local` (or the
    /// wildcard) and the first free port of 49152–65535 from `start`
    /// (the caller spreads sessions with a random start). TTL 255, CS6,
    /// nonblocking.
    pub fn open(peer: IpAddr, local: Option<IpAddr>, start: u16) -> io::Result<BfdSender> {
        let v6 = peer.is_ipv6();
        let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
        let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
        if v6 {
            socket.set_only_v6(true)?;
            socket.set_unicast_hops_v6(u32::from(BFD_TTL))?;
            socket.set_tclass_v6(TOS_CS6)?;
        } else {
            socket.set_ttl_v4(u32::from(BFD_TTL))?;
            socket.set_tos_v4(TOS_CS6)?;
        }
        socket.set_nonblocking(true)?;
        let ip = local.unwrap_or(if v6 {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        });
        bind_source_port(&socket, ip, start)?;
        socket.connect(&SocketAddr::new(peer, BFD_CONTROL_PORT).into())?;
        Ok(BfdSender { socket })
    }

    /// Sends one packet; an error means it was not sent (no route, the
    /// peer's port unreachable, a full buffer).
    pub fn send(&self, packet: &[u8]) -> io::Result<()> {
        let n = self.socket.send(packet)?;
        if n != packet.len() {
            return Err(io::Error::other("short BFD send"));
        }
        Ok(())
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("not an IP socket"))
    }
}

/// Binds to the first port of [`BFD_SOURCE_PORTS`] at or after `start`
/// (wrapping) that is free on `ip`.
fn bind_source_port(socket: &Socket, ip: IpAddr, start: u16) -> io::Result<()> {
    let (lo, hi) = (*BFD_SOURCE_PORTS.start(), *BFD_SOURCE_PORTS.end());
    let span = u32::from(hi - lo) + 1;
    let first = u32::from(start.max(lo) - lo);
    let mut last = io::Error::from(io::ErrorKind::AddrInUse);
    for i in 0..span {
        let port = lo + u16::try_from((first + i) % span).unwrap_or(0);
        match socket.bind(&SocketAddr::new(ip, port).into()) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

fn socket_addr(a: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(SocketAddr::new(IpAddr::V4(v4.ip()), v4.port()));
    }
    let v6 = a.as_sockaddr_in6()?;
    Some(SocketAddr::new(v6.ip().to_canonical(), v6.port()))
}

impl AsFd for BfdListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl AsRawFd for BfdListener {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

impl AsFd for BfdSender {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl AsRawFd for BfdSender {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

//! TCP sockets for BGP sessions, with the options BIRD's `password`,
//! `multihop`, `ttl security` and `source address` stand for:
//!
//! - **`password`** → TCP MD5 signatures (RFC 2385, `TCP_MD5SIG`). The key
//!   is per peer address and must be on the socket *before* the SYN: on a
//!   connecting socket before `connect`, on a listener before the peer
//!   dials in (one [`set_md5_key`] per configured neighbour). An accepted
//!   socket inherits the listener's key for its peer.
//! - **`multihop`** → the TTL / hop limit of outgoing segments
//!   ([`BgpSockOpts::ttl`]): 1 for a directly connected eBGP peer, so a
//!   session cannot form through a router by accident.
//! - **`ttl security`** → GTSM (RFC 5082): send with TTL 255 and drop
//!   incoming segments whose TTL is below `256 - hops` (`IP_MINTTL`,
//!   `IPV6_MINHOPCOUNT`); see [`BgpSockOpts::gtsm`].
//! - **`source address`** → `bind` to a local address before `connect`.
//!
//! Like BIRD, every socket is marked DSCP CS6 ("internet control", TOS
//! 0xc0), and the listener sends with TTL 255: the SYN-ACK leaves with the
//! *listener's* TTL, before the accepted socket exists, so a GTSM peer
//! would drop anything lower. Each accepted socket must then be given its
//! peer's own TTL and minimum TTL ([`configure_accepted`]).
//!
//! What the kernel does (checked by `tests/bgp_socket.rs`): a segment with
//! a wrong signature, a missing one, or one the receiver has no key for is
//! dropped *silently* — no RST, no ICMP — and counted in `TcpExt`
//! (`TCPMD5Failure`, `TCPMD5NotFound`, `TCPMD5Unexpected`); segments below
//! the minimum TTL likewise (`TCPMinTTLDrop`). The dialling side therefore
//! sees only SYN retransmits and a connect timeout; the listening side
//! sees nothing at all.
//!
//! IPv4 peers are served by an IPv4 listener and IPv6 peers by an IPv6 one
//! (`IPV6_V6ONLY`); IPv4-mapped addresses on IPv6 sockets are not
//! supported. Keys are exact per address: no prefixes and no interface
//! binding (`TCP_MD5SIG_EXT`), which BGP neighbours never need.

#![allow(unsafe_code)]

use std::io;
use std::mem;
use std::net::{IpAddr, SocketAddr, SocketAddrV6, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

use socket2::{Domain, Protocol, SockRef, Socket, Type};

/// The registered BGP port.
pub const BGP_PORT: u16 = 179;

/// Longest MD5 key the kernel accepts (`TCP_MD5SIG_MAXKEYLEN`).
pub const MD5_KEY_MAX: usize = 80;

/// TTL for GTSM and for the listener: the largest, so the receiver can tell
/// how many routers a segment crossed.
pub const GTSM_TTL: u8 = 255;

/// Default outgoing TTL: a directly connected eBGP peer (RFC 4271 §5.1.3
/// practice, BIRD's default without `multihop`).
pub const DIRECT_TTL: u8 = 1;

/// DSCP CS6, "internet control": routing traffic is queued ahead of data.
const TOS_INTERNET_CONTROL: u32 = 0xc0;

/// Pending connections per listener. A node has a handful of BGP peers and
/// each dials at most one connection at a time.
const LISTEN_BACKLOG: i32 = 32;

/// Socket options for one BGP neighbour.
#[derive(Clone, PartialEq, Eq)]
pub struct BgpSockOpts {
    /// TCP MD5 key shared with the neighbour (1 to [`MD5_KEY_MAX`] bytes),
    /// installed for the address being connected to. `None`: unsigned.
    pub md5_key: Option<Vec<u8>>,
    /// TTL (IPv4) or unicast hop limit (IPv6) of outgoing segments, 1..=255.
    pub ttl: u8,
    /// GTSM: drop incoming segments with a TTL / hop limit below this.
    /// `None` (or `Some(0)`): no check.
    pub min_ttl: Option<u8>,
}

// === impl BgpSockOpts ===

impl Default for BgpSockOpts {
    /// A directly connected peer without a password: TTL 1, no GTSM.
    fn default() -> Self {
        BgpSockOpts {
            md5_key: None,
            ttl: DIRECT_TTL,
            min_ttl: None,
        }
    }
}

impl BgpSockOpts {
    /// GTSM for a peer `hops` routers away plus one (1 = directly
    /// connected; 0 is taken as 1): TTL 255 out, at least `256 - hops` in.
    pub fn gtsm(hops: u8) -> Self {
        BgpSockOpts {
            md5_key: None,
            ttl: GTSM_TTL,
            min_ttl: Some(GTSM_TTL - (hops.max(1) - 1)),
        }
    }

    /// Rejects settings the kernel would refuse or silently misread.
    pub fn validate(&self) -> io::Result<()> {
        if self.ttl == 0 {
            return Err(invalid("BGP socket: ttl must be 1..=255"));
        }
        if let Some(key) = &self.md5_key {
            if key.is_empty() {
                return Err(invalid("BGP socket: empty MD5 key (use None for no key)"));
            }
            check_key_len(key)?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for BgpSockOpts {
    /// Never prints the key: options end up in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key = self
            .md5_key
            .as_ref()
            .map(|k| format!("<{} bytes>", k.len()));
        f.debug_struct("BgpSockOpts")
            .field("md5_key", &key)
            .field("ttl", &self.ttl)
            .field("min_ttl", &self.min_ttl)
            .finish()
    }
}

// === connecting ===

/// A nonblocking TCP socket for dialling `peer`, with every option in
/// `opts` applied and bound to `local` if given (port chosen by the
/// kernel). Either `connect` it yourself (`EINPROGRESS` is expected; wait
/// for writability, then check `take_error`), or hand it to tokio unconnected
/// — `tokio::net::TcpSocket::from_std_stream(socket.into())` — and
/// `.connect(peer).await`.
///
/// A link-local `local` takes the scope (interface) of `peer`.
pub fn bgp_connect_socket(
    local: Option<IpAddr>,
    peer: SocketAddr,
    opts: &BgpSockOpts,
) -> io::Result<Socket> {
    opts.validate()?;
    let bind = local.map(|ip| bind_addr(ip, peer)).transpose()?;
    let socket = Socket::new(Domain::for_address(peer), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    set_tos(&socket)?;
    set_ttl(&socket, opts.ttl)?;
    if let Some(min) = opts.min_ttl {
        set_min_ttl(&socket, min)?;
    }
    if let Some(key) = &opts.md5_key {
        set_md5_key(&socket, peer.ip(), key)?;
    }
    if let Some(addr) = bind {
        socket.bind(&addr.into())?;
    }
    Ok(socket)
}

/// [`bgp_connect_socket`] and a blocking connect that gives up after
/// `timeout` (`ErrorKind::TimedOut`). The stream is blocking.
pub fn connect_timeout(
    local: Option<IpAddr>,
    peer: SocketAddr,
    opts: &BgpSockOpts,
    timeout: Duration,
) -> io::Result<TcpStream> {
    let socket = bgp_connect_socket(local, peer, opts)?;
    // socket2 connects nonblocking, polls, and leaves the socket blocking.
    socket.connect_timeout(&peer.into(), timeout)?;
    Ok(socket.into())
}

/// The address to bind for source address `ip` when dialling `peer`.
fn bind_addr(ip: IpAddr, peer: SocketAddr) -> io::Result<SocketAddr> {
    match (ip, peer) {
        (IpAddr::V4(_), SocketAddr::V4(_)) => Ok(SocketAddr::new(ip, 0)),
        (IpAddr::V6(v6), SocketAddr::V6(p)) => {
            let scope = if v6.is_unicast_link_local() {
                p.scope_id()
            } else {
                0
            };
            Ok(SocketAddrV6::new(v6, 0, 0, scope).into())
        }
        _ => Err(invalid(
            "BGP socket: source and peer address families differ",
        )),
    }
}

// === listening ===

/// A nonblocking listener on `addr` (e.g. `0.0.0.0:179`, `[::]:179`) with
/// `SO_REUSEADDR` (restart while old connections linger in TIME_WAIT),
/// `IPV6_V6ONLY` for IPv6, TTL 255 and DSCP CS6. No MD5 keys yet: add one
/// per neighbour with [`set_md5_key`]; a listener with keys still accepts
/// unsigned connections from addresses that have none.
pub fn bgp_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    set_tos(&socket)?;
    set_ttl(&socket, GTSM_TTL)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

/// Applies a neighbour's TTL and minimum TTL to a socket it dialled in on.
/// Its MD5 key needs nothing: the accepted socket inherits it.
///
/// Without GTSM any minimum TTL inherited from the listener is cleared, so
/// one listener can serve GTSM and non-GTSM neighbours.
pub fn configure_accepted(sock: &impl AsFd, opts: &BgpSockOpts) -> io::Result<()> {
    opts.validate()?;
    set_ttl(sock, opts.ttl)?;
    set_min_ttl(sock, opts.min_ttl.unwrap_or(0))
}

// === single options ===

/// Sets (or, with an empty `key`, removes) the MD5 key for segments to and
/// from `peer` (port ignored) on a listening or not-yet-connected socket.
/// Removing a key that is not there succeeds.
///
/// The socket's own family decides the encoding: an IPv6 socket takes an
/// IPv4 `peer` as IPv4-mapped, an IPv4 socket accepts an IPv6 `peer` only
/// if it is IPv4-mapped.
pub fn set_md5_key(sock: &impl AsFd, peer: IpAddr, key: &[u8]) -> io::Result<()> {
    check_key_len(key)?;
    let v6 = is_v6(sock)?;
    let peer = match (v6, peer) {
        (true, IpAddr::V4(v4)) => IpAddr::V6(v4.to_ipv6_mapped()),
        (false, IpAddr::V6(v6)) => IpAddr::V4(
            v6.to_ipv4_mapped()
                .ok_or_else(|| invalid("BGP socket: IPv6 MD5 peer on an IPv4 socket"))?,
        ),
        _ => peer,
    };
    let sig = TcpMd5Sig::new(peer, key);
    match setsockopt(sock, libc::IPPROTO_TCP, libc::TCP_MD5SIG, &sig) {
        // The kernel reports deleting an absent key as ENOENT.
        Err(e) if key.is_empty() && e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        other => other,
    }
}

/// Sets the TTL (IPv4) or unicast hop limit (IPv6) of outgoing segments;
/// the family is the socket's own. 0 is refused.
pub fn set_ttl(sock: &impl AsFd, ttl: u8) -> io::Result<()> {
    if ttl == 0 {
        return Err(invalid("BGP socket: ttl must be 1..=255"));
    }
    let v6 = is_v6(sock)?;
    let sock = SockRef::from(sock);
    if v6 {
        sock.set_unicast_hops_v6(u32::from(ttl))
    } else {
        sock.set_ttl_v4(u32::from(ttl))
    }
}

/// GTSM: drop incoming segments whose TTL (IPv4, `IP_MINTTL`) or hop limit
/// (IPv6, `IPV6_MINHOPCOUNT`) is below `min`; 0 turns the check off.
/// Neither socket2 nor nix wraps these options.
pub fn set_min_ttl(sock: &impl AsFd, min: u8) -> io::Result<()> {
    let (level, name) = if is_v6(sock)? {
        (libc::IPPROTO_IPV6, libc::IPV6_MINHOPCOUNT)
    } else {
        (libc::IPPROTO_IP, libc::IP_MINTTL)
    };
    setsockopt(sock, level, name, &libc::c_int::from(min))
}

fn set_tos(sock: &Socket) -> io::Result<()> {
    if is_v6(sock)? {
        sock.set_tclass_v6(TOS_INTERNET_CONTROL)
    } else {
        sock.set_tos_v4(TOS_INTERNET_CONTROL)
    }
}

/// Whether `sock` is an IPv6 socket (`SO_DOMAIN`); an error if not IP.
fn is_v6(sock: &impl AsFd) -> io::Result<bool> {
    match SockRef::from(sock).domain()? {
        Domain::IPV4 => Ok(false),
        Domain::IPV6 => Ok(true),
        _ => Err(invalid("BGP socket: not an IPv4 or IPv6 socket")),
    }
}

fn check_key_len(key: &[u8]) -> io::Result<()> {
    if key.len() > MD5_KEY_MAX {
        return Err(invalid("BGP socket: MD5 key longer than 80 bytes"));
    }
    Ok(())
}

fn invalid(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

// === struct tcp_md5sig ===

/// `struct tcp_md5sig` from `<linux/tcp.h>` (the libc crate lacks it):
///
/// ```text
/// struct tcp_md5sig {
///     struct __kernel_sockaddr_storage tcpm_addr; /* 128 bytes, 8-aligned */
///     __u8  tcpm_flags;     /* TCP_MD5SIG_EXT only */
///     __u8  tcpm_prefixlen; /* TCP_MD5SIG_EXT only */
///     __u16 tcpm_keylen;    /* 0 = delete the key */
///     int   tcpm_ifindex;   /* TCP_MD5SIG_EXT only */
///     __u8  tcpm_key[TCP_MD5SIG_MAXKEYLEN];
/// };
/// ```
///
/// The address is kept as bytes so it is built without `unsafe`; the
/// struct has no padding, so every byte handed to the kernel is written.
#[repr(C)]
struct TcpMd5Sig {
    addr: SockaddrStorage,
    flags: u8,
    prefixlen: u8,
    keylen: u16,
    ifindex: libc::c_int,
    key: [u8; MD5_KEY_MAX],
}

#[repr(C, align(8))]
struct SockaddrStorage([u8; 128]);

const _: () =
    assert!(mem::size_of::<SockaddrStorage>() == mem::size_of::<libc::sockaddr_storage>());
const _: () =
    assert!(mem::align_of::<SockaddrStorage>() == mem::align_of::<libc::sockaddr_storage>());
const _: () = assert!(mem::size_of::<TcpMd5Sig>() == 216);
const _: () = assert!(libc::TCP_MD5SIG_MAXKEYLEN == MD5_KEY_MAX);

impl TcpMd5Sig {
    /// `key` must be at most [`MD5_KEY_MAX`] bytes (checked by callers).
    fn new(peer: IpAddr, key: &[u8]) -> TcpMd5Sig {
        let mut sig = TcpMd5Sig {
            addr: SockaddrStorage(sockaddr_bytes(peer)),
            flags: 0,
            prefixlen: 0,
            keylen: key.len() as u16, // ≤ 80
            ifindex: 0,
            key: [0; MD5_KEY_MAX],
        };
        sig.key[..key.len()].copy_from_slice(key);
        sig
    }
}

/// `sockaddr_in` / `sockaddr_in6` for `ip`, port 0, as the bytes of a
/// `sockaddr_storage` (family in host order, the rest in network order).
fn sockaddr_bytes(ip: IpAddr) -> [u8; 128] {
    let mut b = [0u8; 128];
    match ip {
        IpAddr::V4(v4) => {
            // sin_family @0, sin_port @2, sin_addr @4
            b[..2].copy_from_slice(&(libc::AF_INET as libc::sa_family_t).to_ne_bytes());
            b[4..8].copy_from_slice(&v4.octets());
        }
        IpAddr::V6(v6) => {
            // sin6_family @0, sin6_port @2, sin6_flowinfo @4, sin6_addr @8,
            // sin6_scope_id @24
            b[..2].copy_from_slice(&(libc::AF_INET6 as libc::sa_family_t).to_ne_bytes());
            b[8..24].copy_from_slice(&v6.octets());
        }
    }
    b
}

/// `setsockopt(2)` with a plain-data value. Private: `T` is only ever
/// `c_int` or [`TcpMd5Sig`], both without padding.
fn setsockopt<T>(
    sock: &impl AsFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    let len = libc::socklen_t::try_from(mem::size_of::<T>())
        .map_err(|_| invalid("setsockopt: value too large"))?;
    let fd = sock.as_fd();
    // SAFETY: `value` points to a live, fully initialised `T` of exactly
    // `len` bytes, which the kernel only reads during the call; `fd` is
    // borrowed, so it stays open until the call returns.
    let rc =
        unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, (value as *const T).cast(), len) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn md5sig_layout_matches_the_kernel() {
        assert_eq!(mem::offset_of!(TcpMd5Sig, flags), 128);
        assert_eq!(mem::offset_of!(TcpMd5Sig, keylen), 130);
        assert_eq!(mem::offset_of!(TcpMd5Sig, ifindex), 132);
        assert_eq!(mem::offset_of!(TcpMd5Sig, key), 136);
    }

    #[test]
    fn sockaddr_bytes_match_libc_layout() {
        assert_eq!(mem::offset_of!(libc::sockaddr_in, sin_addr), 4);
        assert_eq!(mem::offset_of!(libc::sockaddr_in6, sin6_addr), 8);
        let b = sockaddr_bytes(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
        assert_eq!(u16::from_ne_bytes([b[0], b[1]]), libc::AF_INET as u16);
        assert_eq!(&b[2..8], &[0, 0, 10, 0, 0, 2]);
        assert!(b[8..].iter().all(|&x| x == 0));
        let b = sockaddr_bytes(IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2)));
        assert_eq!(u16::from_ne_bytes([b[0], b[1]]), libc::AF_INET6 as u16);
        assert_eq!(&b[8..10], &[0xfd, 0]);
        assert_eq!(b[23], 2);
        assert!(b[24..].iter().all(|&x| x == 0));
    }

    #[test]
    fn key_is_copied_and_length_recorded() {
        let sig = TcpMd5Sig::new(IpAddr::V4(Ipv4Addr::LOCALHOST), b"secret");
        assert_eq!(sig.keylen, 6);
        assert_eq!(&sig.key[..6], b"secret");
        assert!(sig.key[6..].iter().all(|&x| x == 0));
    }

    #[test]
    fn gtsm_min_ttl_counts_hops() {
        assert_eq!(BgpSockOpts::gtsm(1).min_ttl, Some(255));
        assert_eq!(BgpSockOpts::gtsm(0).min_ttl, Some(255));
        assert_eq!(BgpSockOpts::gtsm(2).min_ttl, Some(254));
        assert_eq!(BgpSockOpts::gtsm(255).min_ttl, Some(1));
        assert_eq!(BgpSockOpts::gtsm(3).ttl, 255);
    }

    #[test]
    fn debug_redacts_the_key() {
        let opts = BgpSockOpts {
            md5_key: Some(b"hunter2".to_vec()),
            ..BgpSockOpts::default()
        };
        let s = format!("{opts:?}");
        assert!(!s.contains("hunter2") && s.contains("<7 bytes>"), "{s}");
    }
}

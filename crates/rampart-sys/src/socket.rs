//! Listening and connecting sockets with the options the proxy needs.

use std::io;
use std::net::{SocketAddr, TcpListener};

use socket2::{Domain, Protocol, Socket, Type};

/// Opens a listening TCP socket for one proxy thread.
///
/// - `SO_REUSEPORT`: every worker thread gets its own socket on the same
///   address, so the kernel spreads connections without a shared accept lock.
/// - `IP_FREEBIND`: a backup node binds the VIP before it holds it; when VRRP
///   moves the address here the listener is already in place.
/// - `IPV6_V6ONLY` for IPv6 addresses: `[::]:80` and `0.0.0.0:80` may be
///   listed separately without colliding.
/// - non-blocking, for tokio.
pub fn listener(addr: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    match addr {
        SocketAddr::V4(_) => socket.set_freebind_v4(true)?,
        SocketAddr::V6(_) => {
            socket.set_only_v6(true)?;
            socket.set_freebind_v6(true)?;
        }
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(socket.into())
}

/// Whether a listener on `addr` could be opened now: binds a socket and
/// drops it. `rampart check --host` uses it to find a port another program
/// (or a running rampart) already listens on.
///
/// - `IP_FREEBIND`, as [`listener`]: a VIP that is not here yet is not an
///   error of the port;
/// - `SO_REUSEADDR` on, `SO_REUSEPORT` off: Linux then refuses the bind
///   when any socket listens on the address (wildcards included), but not
///   for connections in TIME_WAIT that a stopped program left behind.
pub fn probe_listen(addr: SocketAddr) -> io::Result<()> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    match addr {
        SocketAddr::V4(_) => socket.set_freebind_v4(true)?,
        SocketAddr::V6(_) => {
            socket.set_only_v6(true)?;
            socket.set_freebind_v6(true)?;
        }
    }
    socket.bind(&addr.into())
}

/// Whether `listener` is a socket in the LISTEN state (used to vet
/// descriptors inherited from the supervisor).
pub fn is_listening(listener: &TcpListener) -> bool {
    let sock = socket2::SockRef::from(listener);
    sock.is_listener().unwrap_or(false)
}

/// Sends with `MSG_MORE`: the bytes wait in the send queue for more, so a
/// `shutdown(SHUT_WR)` right after leaves in the same segment as them
/// (data and FIN together: one segment and one ACK fewer per connection).
/// Only for the last bytes of a stream, with the shutdown following at once.
pub fn send_more(sock: &socket2::SockRef<'_>, buf: &[u8]) -> io::Result<usize> {
    sock.send_with_flags(buf, libc::MSG_MORE)
}

/// Segment counts of one TCP connection so far, from `TCP_INFO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segments {
    /// Every segment received, the handshake's included.
    pub received: u32,
    /// Every segment sent.
    pub sent: u32,
}

/// The connection's segment counts (Linux `tcpi_segs_in` / `tcpi_segs_out`).
pub fn segments(sock: &impl std::os::fd::AsRawFd) -> io::Result<Segments> {
    let mut info = std::mem::MaybeUninit::<libc::tcp_info>::zeroed();
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `info` is a writable buffer of `len` bytes that outlives the
    // call; the kernel writes at most `len` bytes and updates `len`.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: zero-initialised and partly overwritten by the kernel: every
    // bit pattern is a valid tcp_info (plain integers).
    let info = unsafe { info.assume_init() };
    Ok(Segments {
        received: info.tcpi_segs_in,
        sent: info.tcpi_segs_out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_listeners_share_a_port_with_reuseport() {
        let a = listener("127.0.0.1:0".parse().unwrap(), 16).unwrap();
        let addr = a.local_addr().unwrap();
        let b = listener(addr, 16).unwrap();
        assert_eq!(b.local_addr().unwrap(), addr);
        assert!(is_listening(&a) && is_listening(&b));
    }

    #[test]
    fn freebind_allows_an_address_not_on_this_host() {
        // 192.0.2.0/24 is TEST-NET-1: never assigned locally. Binding only;
        // nothing is ever sent to it.
        let l = listener("192.0.2.77:0".parse().unwrap(), 16).unwrap();
        assert!(is_listening(&l));
    }

    #[test]
    fn probe_listen_finds_a_listener_on_the_port_or_on_the_wildcard() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let addr = taken.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let e = probe_listen(addr).err();
        assert_eq!(e.map(|e| e.kind()), Some(io::ErrorKind::AddrInUse));
        let wildcard = SocketAddr::from(([0, 0, 0, 0], addr.port()));
        assert!(probe_listen(wildcard).is_err());
        drop(taken);
        assert!(probe_listen(addr).is_ok());
    }
}

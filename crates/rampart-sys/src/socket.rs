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

/// Whether `listener` is a socket in the LISTEN state (used to vet
/// descriptors inherited from the supervisor).
pub fn is_listening(listener: &TcpListener) -> bool {
    let sock = socket2::SockRef::from(listener);
    sock.is_listener().unwrap_or(false)
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
}

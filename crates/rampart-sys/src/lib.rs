//! The one crate that talks to the kernel below what std and tokio offer:
//! splice(2) and pipes for zero-copy forwarding, listener socket options
//! (SO_REUSEPORT, IP_FREEBIND), handing listening sockets from the
//! supervisor to a worker process, and the kernel side of VRRP: raw
//! protocol-112 sockets, addresses and link state over netlink, gratuitous
//! ARP and unsolicited Neighbor Advertisements; and the TCP options of
//! BGP sessions (MD5 signatures, TTL, GTSM), and the UDP sockets of BFD with
//! the TTL of each received packet. Everything `unsafe` in
//! rampart lives here and is kept to a few audited lines.

pub mod bfd_socket;
pub mod bgp_socket;
pub mod fds;
pub mod garp;
pub mod limits;
pub mod netlink;
pub mod privilege;
pub mod socket;
pub mod splice;
pub mod vrrp_socket;

//! Telling the LAN that an address moved: gratuitous ARP (IPv4) and
//! unsolicited Neighbor Advertisement (IPv6).
//!
//! What a Linux neighbour does with them (checked by `tests/vrrp_io.rs`):
//! - **GARP** updates an *existing* ARP entry for the address to our MAC
//!   (any state but PERMANENT/NOARP), whatever `arp_accept` says. It
//!   *creates* a missing entry only when `net.ipv4.conf.{all,IF}.arp_accept`
//!   is 1 (or 2 and the address is in one of the interface's subnets); the
//!   default 0 ignores it. Hosts that have never talked to the VIP do not
//!   need an entry, so the default is fine for failover.
//! - **Unsolicited NA** with the Override flag likewise updates an existing
//!   neighbour entry (to STALE, then re-verified by NUD). A missing one is
//!   created only by a *router*: `net.ipv6.conf.IF.forwarding=1` together
//!   with `accept_untracked_na=1` (RFC 9131, Linux ≥ 5.19); on a host
//!   `accept_untracked_na` alone does nothing. The hop limit must be 255, or
//!   the NA is dropped as off-link.
//! - The receiver must have IPv6 running on the interface: a veth gets it
//!   only once it has carrier, a moment after `ip link set up`; before
//!   that, incoming multicast is counted as `Ip6InNoRoutes` and dropped.

use std::io;
use std::io::IoSlice;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV6};
use std::os::fd::AsRawFd;

use nix::sys::socket::{ControlMessage, MsgFlags, SockaddrIn6, sendmsg};
use socket2::{Domain, Protocol, SockAddr, SockAddrStorage, Socket, Type};

const ETH_P_ARP: u16 = 0x0806;
const ETH_P_IPV4: u16 = 0x0800;
const BROADCAST: [u8; 6] = [0xff; 6];
/// ff02::1, all nodes on the link.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// Length of a gratuitous ARP frame: 14 (Ethernet) + 28 (ARP), zero-padded
/// to the 60-byte Ethernet minimum so every driver sends the same bytes.
pub const GARP_FRAME_LEN: usize = 60;

// === gratuitous ARP ===

/// Builds the frame keepalived sends: an Ethernet broadcast carrying an ARP
/// *request* with sender = target = `ip`, sender hardware address `mac` and
/// target hardware address ff:ff:ff:ff:ff:ff. (A request rather than a
/// reply, because some hosts only learn from requests.)
///
/// ```text
/// Ethernet: dst ff:ff:ff:ff:ff:ff | src mac | type 0x0806
/// ARP:  htype 1 | ptype 0x0800 | hlen 6 | plen 4 | op 1 (request)
///       sha mac | spa ip | tha ff:ff:ff:ff:ff:ff | tpa ip
/// ```
pub fn garp_frame(mac: [u8; 6], ip: Ipv4Addr) -> [u8; GARP_FRAME_LEN] {
    let mut f = [0u8; GARP_FRAME_LEN];
    f[0..6].copy_from_slice(&BROADCAST);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&ETH_P_ARP.to_be_bytes());
    f[14..16].copy_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
    f[16..18].copy_from_slice(&ETH_P_IPV4.to_be_bytes());
    f[18] = 6;
    f[19] = 4;
    f[20..22].copy_from_slice(&1u16.to_be_bytes()); // ARPOP_REQUEST
    f[22..28].copy_from_slice(&mac);
    f[28..32].copy_from_slice(&ip.octets());
    f[32..38].copy_from_slice(&BROADCAST);
    f[38..42].copy_from_slice(&ip.octets());
    f
}

/// The sockets every announcement goes out of, opened once.
///
/// Why not a socket per frame: closing an `AF_PACKET` socket waits for an
/// RCU grace period (`packet_release` calls `synchronize_net`), 9–20 ms
/// each on the 2-core VMs here. A burst of 5 GARPs for 2 VIPs opened and
/// closed 10 of them, held the VRRP driver for ~150 ms and let a backup at
/// 20 ms adverts (72 ms master-down interval) take over. Kept open, a send
/// is one nonblocking `sendto`.
#[derive(Debug)]
pub struct Announcer {
    /// `AF_PACKET` with protocol 0: sends frames, receives nothing.
    packet: Socket,
    /// Raw ICMPv6, for unsolicited NAs; hop limit 255, no loopback. None
    /// on a host without IPv6, where only GARPs can be sent.
    icmp6: Option<Socket>,
}

// === impl Announcer ===

impl Announcer {
    /// Opens the sockets (needs CAP_NET_RAW).
    pub fn new() -> io::Result<Announcer> {
        let packet = Socket::new(Domain::PACKET, Type::RAW, None)?;
        packet.set_nonblocking(true)?;
        let icmp6 = match Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6)) {
            Ok(s) => {
                s.set_multicast_hops_v6(255)?;
                s.set_multicast_loop_v6(false)?;
                s.set_nonblocking(true)?;
                Some(s)
            }
            Err(e) if e.raw_os_error() == Some(libc::EAFNOSUPPORT) => None,
            Err(e) => return Err(e),
        };
        Ok(Announcer { packet, icmp6 })
    }

    /// Broadcasts one gratuitous ARP for `ip` with `mac` on interface
    /// `ifindex`. Callers repeat it (keepalived: 5 times) to survive a lost
    /// frame. A full device queue is `WouldBlock`: the frame is lost, as a
    /// dropped one would be, and the next of the burst follows.
    pub fn garp(&self, ifindex: u32, mac: [u8; 6], ip: Ipv4Addr) -> io::Result<()> {
        let frame = garp_frame(mac, ip);
        let addr = link_layer_addr(ifindex, ETH_P_ARP, BROADCAST)?;
        let sent = self.packet.send_to(&frame, &addr)?;
        check_sent(sent, frame.len())
    }

    /// Sends an unsolicited NA for `target` to all nodes (ff02::1) on
    /// interface `ifindex`, hop limit 255, from `src` — or, with `None`,
    /// from the address the kernel picks (the interface's link-local one).
    /// `router` sets the R flag: RFC 5798 §6.4.1 wants it set for a virtual
    /// router's addresses; leave it clear for a plain service VIP, since
    /// hosts drop a default route learned from a neighbour whose R flag
    /// goes from set to clear.
    pub fn unsolicited_na(
        &self,
        ifindex: u32,
        src: Option<Ipv6Addr>,
        target: Ipv6Addr,
        mac: [u8; 6],
        router: bool,
    ) -> io::Result<()> {
        let Some(icmp6) = &self.icmp6 else {
            return Err(io::Error::from_raw_os_error(libc::EAFNOSUPPORT));
        };
        let packet = unsolicited_na(target, mac, router);
        let info = libc::in6_pktinfo {
            ipi6_addr: libc::in6_addr {
                s6_addr: src.unwrap_or(Ipv6Addr::UNSPECIFIED).octets(),
            },
            ipi6_ifindex: ifindex,
        };
        let dst = SockaddrIn6::from(SocketAddrV6::new(ALL_NODES, 0, 0, ifindex));
        let iov = [IoSlice::new(&packet)];
        let cmsg = [ControlMessage::Ipv6PacketInfo(&info)];
        let sent = sendmsg(
            icmp6.as_raw_fd(),
            &iov,
            &cmsg,
            MsgFlags::empty(),
            Some(&dst),
        )?;
        check_sent(sent, packet.len())
    }
}

/// A `sockaddr_ll` for sending on `ifindex` to `dest`. Neither socket2 nor
/// nix can build one safely, hence the two audited `unsafe` calls.
fn link_layer_addr(ifindex: u32, protocol: u16, dest: [u8; 6]) -> io::Result<SockAddr> {
    let ifindex = libc::c_int::try_from(ifindex)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface index out of range"))?;
    let mut storage = SockAddrStorage::zeroed();
    // SAFETY: `sockaddr_ll` is one of this platform's `sockaddr_*` types, as
    // `view_as` requires, and it fits in `sockaddr_storage` (asserted by
    // `view_as`). The storage is zeroed, a valid value for every field.
    let ll = unsafe { storage.view_as::<libc::sockaddr_ll>() };
    ll.sll_family = libc::AF_PACKET as libc::sa_family_t;
    ll.sll_protocol = protocol.to_be();
    ll.sll_ifindex = ifindex;
    ll.sll_halen = 6;
    ll.sll_addr[..6].copy_from_slice(&dest);
    let len = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: the first `len` bytes of `storage` are initialised (zeroed,
    // then written above) and hold a `sockaddr_ll` with family AF_PACKET.
    Ok(unsafe { SockAddr::new(storage, len) })
}

// === unsolicited Neighbor Advertisement ===

/// Length of the advertisement built by [`unsolicited_na`].
pub const NA_LEN: usize = 32;

/// Builds an ICMPv6 Neighbor Advertisement (RFC 4861 §4.4) for `target`
/// with the Override flag, Solicited clear, the Router flag as given, and a
/// Target Link-Layer Address option carrying `mac`. The checksum is left 0:
/// the kernel fills it in on raw ICMPv6 sockets.
///
/// ```text
///  0                   1                   2                   3
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |   Type = 136  |   Code = 0    |          Checksum             |
/// |R|S|O|                     Reserved                            |
/// |                    Target Address (16 bytes)                  |
/// | Type = 2 (TLL)|  Length = 1   |  Link-Layer Address (6 bytes) |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
pub fn unsolicited_na(target: Ipv6Addr, mac: [u8; 6], router: bool) -> [u8; NA_LEN] {
    const ROUTER: u8 = 0x80;
    const OVERRIDE: u8 = 0x20;
    let mut p = [0u8; NA_LEN];
    p[0] = 136;
    p[4] = OVERRIDE | if router { ROUTER } else { 0 };
    p[8..24].copy_from_slice(&target.octets());
    p[24] = 2;
    p[25] = 1;
    p[26..32].copy_from_slice(&mac);
    p
}

fn check_sent(sent: usize, len: usize) -> io::Result<()> {
    if sent == len {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("short send: {sent} of {len} bytes"),
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x00, 0x01, 0x33];

    #[test]
    fn garp_frame_matches_keepalived_layout() {
        let f = garp_frame(MAC, Ipv4Addr::new(10, 0, 0, 100));
        #[rustfmt::skip]
        let expect: [u8; 42] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x5e, 0x00, 0x01, 0x33, 0x08, 0x06,
            0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01,
            0x02, 0x00, 0x5e, 0x00, 0x01, 0x33, 10, 0, 0, 100,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 10, 0, 0, 100,
        ];
        assert_eq!(&f[..42], &expect);
        assert!(f[42..].iter().all(|&b| b == 0));
    }

    #[test]
    fn na_has_override_and_target_link_layer_option() {
        let target: Ipv6Addr = "2001:db8::100".parse().unwrap();
        let p = unsolicited_na(target, MAC, false);
        assert_eq!(p[0], 136);
        assert_eq!(p[4], 0x20);
        assert_eq!(&p[8..24], &target.octets());
        assert_eq!(&p[24..], &[2, 1, 0x02, 0x00, 0x5e, 0x00, 0x01, 0x33]);
        assert_eq!(unsolicited_na(target, MAC, true)[4], 0xa0);
    }
}

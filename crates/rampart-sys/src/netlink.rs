//! Interfaces and addresses through rtnetlink, synchronously.
//!
//! Every call opens its own `NETLINK_ROUTE` socket, sends one request and
//! reads until the kernel's ACK or end of dump. That is a few syscalls per
//! VRRP transition — nothing next to the rest of a failover — and it keeps
//! the functions free of shared state, so they are safe from any thread and
//! act in the network namespace of the *calling thread* (tests rely on that).
//!
//! The [`LinkWatcher`] is the one long-lived socket: it is subscribed to
//! `RTMGRP_LINK`, nonblocking, and meant for tokio's `AsyncFd`.
//!
//! Kernel behaviours worth knowing (each checked by `tests/vrrp_io.rs`
//! against the running kernel):
//! - `IFA_LABEL` is IPv4-only and at most 15 bytes (`IFNAMSIZ` - 1). The
//!   kernel (6.18 here) accepts a label that does not start with the device
//!   name, e.g. the seed's `label gateway:0` on `enp1s0f1`; see
//!   [`add_address`].
//! - adding an address that exists is `EEXIST`; deleting one that does not
//!   is `EADDRNOTAVAIL` — both are success here, so callers can repeat
//!   themselves after a restart without special cases.

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::address::{
    AddressAttribute, AddressHeaderFlags, AddressMessage, AddressScope,
};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage, State};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

/// Longest interface name or address label (`IFNAMSIZ` − 1 for the NUL).
pub const MAX_NAME_LEN: usize = 15;

/// Receive buffer: the kernel sizes dump datagrams to at most 32 KiB.
const RECV_BUF: usize = 64 * 1024;

/// One address on an interface, as `ip addr` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrInfo {
    pub addr: IpAddr,
    pub prefix_len: u8,
    /// IPv4 label (`IFA_LABEL`, e.g. "eth1:gw"); `None` for IPv6.
    pub label: Option<String>,
}

/// A change of an interface, from the [`LinkWatcher`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkEvent {
    pub ifindex: u32,
    pub name: String,
    /// See [`link_is_up`] for what counts as up.
    pub oper_up: bool,
    /// The interface was deleted (`RTM_DELLINK`); `oper_up` is then false.
    pub removed: bool,
}

// === links ===

/// Index of interface `name` in the calling thread's network namespace.
pub fn link_index(name: &str) -> io::Result<u32> {
    check_name(name, "interface name")?;
    nix::net::if_::if_nametoindex(name).map_err(|e| {
        io::Error::new(
            io::Error::from(e).kind(),
            format!("interface {name:?}: {e}"),
        )
    })
}

/// Ethernet address of interface `name`; `InvalidData` for an interface
/// without a 6-byte link-layer address (tun, ip tunnels).
pub fn link_mac(name: &str) -> io::Result<[u8; 6]> {
    let link = get_link(name)?;
    link.attributes
        .iter()
        .find_map(|a| match a {
            LinkAttribute::Address(mac) => <[u8; 6]>::try_from(mac.as_slice()).ok(),
            _ => None,
        })
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("interface {name:?} has no Ethernet address"),
            )
        })
}

/// Whether interface `name` can carry traffic: operational state UP, or
/// UNKNOWN with the UP and RUNNING flags (drivers without carrier reporting,
/// like loopback, stay in UNKNOWN forever). A veth whose peer is down is
/// LOWERLAYERDOWN, i.e. not up.
pub fn link_is_up(name: &str) -> io::Result<bool> {
    Ok(oper_up(&get_link(name)?))
}

fn get_link(name: &str) -> io::Result<LinkMessage> {
    check_name(name, "interface name")?;
    let mut msg = LinkMessage::default();
    msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
    let replies = request(RouteNetlinkMessage::GetLink(msg), 0)
        .map_err(|e| io::Error::new(e.kind(), format!("interface {name:?}: {e}")))?;
    replies
        .into_iter()
        .find_map(|m| match m {
            RouteNetlinkMessage::NewLink(l) => Some(l),
            _ => None,
        })
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("interface {name:?}: kernel sent no link"),
            )
        })
}

fn oper_up(link: &LinkMessage) -> bool {
    let flags = link.header.flags;
    link.attributes.iter().any(|a| match a {
        LinkAttribute::OperState(State::Up) => true,
        LinkAttribute::OperState(State::Unknown) => {
            flags.contains(LinkFlags::Up | LinkFlags::Running)
        }
        _ => false,
    })
}

fn link_event(link: &LinkMessage, removed: bool) -> LinkEvent {
    let name = link
        .attributes
        .iter()
        .find_map(|a| match a {
            LinkAttribute::IfName(n) => Some(n.clone()),
            _ => None,
        })
        .unwrap_or_default();
    LinkEvent {
        ifindex: link.header.index,
        name,
        oper_up: !removed && oper_up(link),
        removed,
    }
}

// === addresses ===

/// All addresses on interface `ifindex`, both families, in kernel order
/// (the primary IPv4 address of a subnet before its secondaries).
pub fn addresses(ifindex: u32) -> io::Result<Vec<AddrInfo>> {
    Ok(all_addresses()?
        .into_iter()
        .filter(|(index, _)| *index == ifindex)
        .map(|(_, a)| a)
        .collect())
}

/// Every address of the namespace with the index of its interface, both
/// families, in kernel order: what `rampart check --host` compares a
/// configuration with (is `unicast_src` local, does a priority-255
/// instance own its addresses).
pub fn all_addresses() -> io::Result<Vec<(u32, AddrInfo)>> {
    let replies = request(
        RouteNetlinkMessage::GetAddress(AddressMessage::default()),
        NLM_F_DUMP,
    )?;
    let mut out = Vec::new();
    for reply in replies {
        let RouteNetlinkMessage::NewAddress(msg) = reply else {
            continue;
        };
        // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer
        // on point-to-point links and equals IFA_LOCAL otherwise. IPv6 only
        // sends IFA_ADDRESS (or IFA_LOCAL with a peer).
        let mut local = None;
        let mut address = None;
        let mut label = None;
        for attr in msg.attributes {
            match attr {
                AddressAttribute::Local(a) => local = Some(a),
                AddressAttribute::Address(a) => address = Some(a),
                AddressAttribute::Label(l) => label = Some(l),
                _ => {}
            }
        }
        if let Some(addr) = local.or(address) {
            let info = AddrInfo {
                addr,
                prefix_len: msg.header.prefix_len,
                label,
            };
            out.push((msg.header.index, info));
        }
    }
    Ok(out)
}

/// Adds `addr/prefix_len` to interface `ifindex`; an address that is
/// already there is success (the existing one is left as it is, label
/// included).
///
/// `label` (IPv4 only) names the address for `ip addr` and for tools that
/// still think in "eth0:1" aliases. ip-address(8) says a label must equal
/// the device name or start with "`<dev>:`" (Linux 2.0 alias compatibility),
/// but neither the kernel (6.18 here) nor iproute2 6.1 enforces that: both
/// accept the seed's `label gateway:0` on `enp1s0f1`. The kernel checks only
/// the length (at most 15 bytes). A label on an IPv6 address, which the
/// kernel would ignore, or one that is too long is `InvalidInput` here,
/// before any syscall, with a message that names it.
///
/// IPv6 addresses are added with `IFA_F_NODAD`, as keepalived does: a VIP
/// that moved here must answer at once, not after a second of duplicate
/// address detection — the previous holder has just given it up.
pub fn add_address(
    ifindex: u32,
    addr: IpAddr,
    prefix_len: u8,
    label: Option<&str>,
) -> io::Result<()> {
    if let Some(label) = label {
        if addr.is_ipv6() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("label {label:?} on {addr}: address labels are IPv4-only"),
            ));
        }
        check_name(label, "address label")?;
    }
    let mut msg = address_message(ifindex, addr, prefix_len)?;
    if let Some(label) = label {
        msg.attributes
            .push(AddressAttribute::Label(label.to_owned()));
    }
    if addr.is_ipv6() {
        msg.header.flags = AddressHeaderFlags::Nodad;
    }
    match request(
        RouteNetlinkMessage::NewAddress(msg),
        NLM_F_CREATE | NLM_F_EXCL,
    ) {
        Ok(_) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("add {addr}/{prefix_len} on ifindex {ifindex}: {e}"),
        )),
    }
}

/// Removes `addr/prefix_len` from interface `ifindex`; an address that is
/// not there is success.
///
/// Note for IPv4: deleting the *primary* address of a subnet also deletes
/// its secondaries unless `net.ipv4.conf.<if>.promote_secondaries` is 1.
/// VIPs are normally secondaries of the node's own address, so this only
/// matters if a VIP is the first address of its subnet on the interface.
pub fn del_address(ifindex: u32, addr: IpAddr, prefix_len: u8) -> io::Result<()> {
    let msg = address_message(ifindex, addr, prefix_len)?;
    match request(RouteNetlinkMessage::DelAddress(msg), 0) {
        Ok(_) => Ok(()),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EADDRNOTAVAIL | libc::ENOENT)) => Ok(()),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("delete {addr}/{prefix_len} on ifindex {ifindex}: {e}"),
        )),
    }
}

fn address_message(ifindex: u32, addr: IpAddr, prefix_len: u8) -> io::Result<AddressMessage> {
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if prefix_len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{addr}/{prefix_len}: prefix longer than {max}"),
        ));
    }
    let mut msg = AddressMessage::default();
    msg.header.family = if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    msg.header.prefix_len = prefix_len;
    msg.header.index = ifindex;
    msg.header.scope = AddressScope::Universe;
    // Like `ip addr add`: for IPv4 IFA_LOCAL is the address and IFA_ADDRESS
    // (equal, no peer) selects the prefix; IPv6 uses IFA_ADDRESS alone.
    if addr.is_ipv4() {
        msg.attributes.push(AddressAttribute::Local(addr));
    }
    msg.attributes.push(AddressAttribute::Address(addr));
    Ok(msg)
}

// === link watcher ===

/// A netlink socket subscribed to link changes (`RTMGRP_LINK`), in the
/// network namespace of the thread that created it.
///
/// The kernel sends `RTM_NEWLINK` for *every* change of a link (flags,
/// MTU, statistics of some drivers), so consecutive events may repeat the
/// same state: compare with the last one before acting.
#[derive(Debug)]
pub struct LinkWatcher {
    socket: Socket,
}

impl LinkWatcher {
    pub fn new() -> io::Result<LinkWatcher> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind(&SocketAddr::new(0, libc::RTMGRP_LINK as u32))?;
        socket.set_non_blocking(true)?;
        Ok(LinkWatcher { socket })
    }

    /// Reads every queued notification; an empty vector when none was
    /// queued (never `WouldBlock`). If the kernel dropped notifications
    /// because the socket buffer overflowed (`ENOBUFS`), the state of every
    /// link is re-read and returned instead, so nothing is ever missed.
    pub fn read_events(&self) -> io::Result<Vec<LinkEvent>> {
        let mut events = Vec::new();
        let mut buf = vec![0u8; RECV_BUF];
        loop {
            let n = match self.socket.recv(&mut &mut buf[..], libc::MSG_TRUNC) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(events),
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    return all_links();
                }
                Err(e) => return Err(e),
            };
            let data = buf.get(..n).ok_or_else(|| truncated(n))?;
            for msg in parse_all(data)? {
                match msg.payload {
                    NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)) => {
                        events.push(link_event(&l, false));
                    }
                    NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(l)) => {
                        events.push(link_event(&l, true));
                    }
                    _ => {}
                }
            }
        }
    }
}

impl AsFd for LinkWatcher {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl AsRawFd for LinkWatcher {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

/// Current state of every link, as events (used to resynchronise).
fn all_links() -> io::Result<Vec<LinkEvent>> {
    let replies = request(
        RouteNetlinkMessage::GetLink(LinkMessage::default()),
        NLM_F_DUMP,
    )?;
    Ok(replies
        .iter()
        .filter_map(|m| match m {
            RouteNetlinkMessage::NewLink(l) => Some(link_event(l, false)),
            _ => None,
        })
        .collect())
}

// === request / response ===

/// Sends one request with `NLM_F_REQUEST | NLM_F_ACK | extra_flags` and
/// collects the replies until the ACK (or `NLMSG_DONE` for a dump). A
/// negative ACK becomes the `io::Error` of its errno.
fn request(msg: RouteNetlinkMessage, extra_flags: u16) -> io::Result<Vec<RouteNetlinkMessage>> {
    const SEQ: u32 = 1;
    let mut socket = Socket::new(NETLINK_ROUTE)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;

    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_ACK | extra_flags;
    header.sequence_number = SEQ;
    let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(msg));
    packet.finalize();
    let mut out = vec![0u8; packet.buffer_len()];
    packet.serialize(&mut out);
    socket.send(&out, 0)?;

    let mut replies = Vec::new();
    let mut buf = vec![0u8; RECV_BUF];
    loop {
        let n = socket.recv(&mut &mut buf[..], libc::MSG_TRUNC)?;
        let data = buf.get(..n).ok_or_else(|| truncated(n))?;
        for msg in parse_all(data)? {
            if msg.header.sequence_number != SEQ {
                continue;
            }
            match msg.payload {
                NetlinkPayload::InnerMessage(m) => replies.push(m),
                NetlinkPayload::Done(_) => return Ok(replies),
                NetlinkPayload::Error(e) => {
                    return match e.code {
                        None => Ok(replies),
                        Some(code) => Err(io::Error::from_raw_os_error(-code.get())),
                    };
                }
                NetlinkPayload::Noop | NetlinkPayload::Overrun(_) => {}
                _ => {}
            }
        }
    }
}

/// Splits one datagram into its netlink messages.
fn parse_all(mut data: &[u8]) -> io::Result<Vec<NetlinkMessage<RouteNetlinkMessage>>> {
    let mut msgs = Vec::new();
    while !data.is_empty() {
        let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(data)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("netlink: {e}")))?;
        let len = msg.header.length as usize;
        if len == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "netlink: zero-length message",
            ));
        }
        // Messages are 4-byte aligned within a datagram (NLMSG_ALIGN).
        let next = len.next_multiple_of(4).min(data.len());
        data = data.get(next..).unwrap_or_default();
        msgs.push(msg);
    }
    Ok(msgs)
}

fn truncated(n: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("netlink datagram of {n} bytes exceeds the {RECV_BUF}-byte buffer"),
    )
}

fn check_name(name: &str, what: &str) -> io::Result<()> {
    if name.is_empty() || name.len() > MAX_NAME_LEN || name.contains(['\0', '/']) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what} {name:?}: must be 1 to {MAX_NAME_LEN} bytes without NUL or '/'"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_are_checked_before_the_kernel_sees_them() {
        assert!(check_name("eth1:gw", "label").is_ok());
        assert!(check_name("gateway:0", "label").is_ok());
        assert!(check_name("", "label").is_err());
        assert!(check_name("sixteen-chars-xx", "label").is_err());
        assert!(check_name("a/b", "name").is_err());
    }

    #[test]
    fn v6_label_and_long_prefix_are_refused_without_a_syscall() {
        let e = add_address(1, "2001:db8::1".parse().unwrap(), 64, Some("x")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        let e = add_address(1, "10.0.0.1".parse().unwrap(), 33, None).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn loopback_is_found_and_up() {
        // Reads only; every namespace has `lo`.
        assert_eq!(link_index("lo").unwrap(), 1);
        assert!(link_is_up("lo").unwrap());
        let lo = addresses(1).unwrap();
        assert!(lo.iter().any(|a| a.addr == IpAddr::from([127, 0, 0, 1])));
        assert!(link_index("no-such-if0").is_err());
    }
}

//! The kernel side of VRRP against a real kernel: two network namespaces
//! joined by a veth pair (`a` 10.0.0.1 / fd00::1, `b` 10.0.0.2 / fd00::2),
//! built by rampart-lab and deleted when each test ends. Every packet stays
//! inside those namespaces.
//!
//! Needs root: without it each test panics, unless RAMPART_SKIP_NETNS=1.
#![allow(clippy::unwrap_used)]

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsFd;
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, poll};
use rampart_lab::{Lab, Ns, require_root};
use rampart_sys::garp::Announcer;
use rampart_sys::netlink::{
    LinkEvent, LinkWatcher, add_address, addresses, all_addresses, del_address, link_index,
    link_is_up, link_mac,
};
use rampart_sys::vrrp_socket::{VRRP_GROUP_V4, VRRP_GROUP_V6, VrrpSocket};

const A4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const A6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
const B6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
const IF: &str = "veth0";
/// Generous: link state changes may wait for the kernel's linkwatch (1 s).
const WAIT: Duration = Duration::from_secs(5);
/// A VRRPv3 advert: version 3 / type 1, VRID 51, priority 100, one address.
const ADVERT: &[u8] = &[0x31, 51, 100, 1, 0x00, 0x64, 0x00, 0x00, 10, 0, 0, 100];

/// Namespaces `a` and `b` joined by `veth0`, or `None` when skipped.
fn pair() -> Option<(Lab, Ns, Ns)> {
    if !require_root() {
        return None;
    }
    let mut lab = Lab::new().unwrap();
    let a = lab.ns("a").unwrap();
    let b = lab.ns("b").unwrap();
    lab.link(
        &a,
        IF,
        &["10.0.0.1/24", "fd00::1/64"],
        &b,
        IF,
        &["10.0.0.2/24", "fd00::2/64"],
    )
    .unwrap();
    // IPv6 on a veth starts only once it has carrier, which lags behind
    // `ip link set up` (linkwatch): until then multicast is dropped as
    // "no route" and there is no link-local source. Wait for both ends.
    link_local(&a);
    link_local(&b);
    Some((lab, a, b))
}

/// Runs `f` inside `ns` and returns its result (sockets made there stay in
/// `ns` when used from the test thread).
fn inside<R: Send + 'static>(ns: &Ns, f: impl FnOnce() -> R + Send + 'static) -> R {
    ns.run_in(f).unwrap()
}

/// Waits until `sock` has a packet queued, then receives it.
fn recv_within<'a>(sock: &VrrpSocket, buf: &'a mut [u8]) -> rampart_sys::vrrp_socket::Received<'a> {
    assert!(readable(sock, WAIT), "no packet within {WAIT:?}");
    sock.recv(buf).unwrap()
}

fn readable(fd: &impl AsFd, within: Duration) -> bool {
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    let ms = u16::try_from(within.as_millis()).unwrap_or(u16::MAX);
    poll(&mut fds, ms).unwrap() > 0
}

fn assert_nothing_queued(sock: &VrrpSocket) {
    let mut buf = [0u8; 1500];
    let err = sock.recv(&mut buf).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock, "unexpected: {err}");
}

/// Polls `f` until it returns `Some`, for at most `WAIT`.
fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(20));
    }
}

fn mac_string(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The link-local address of `veth0` in `ns`, waiting for it to appear.
fn link_local(ns: &Ns) -> Ipv6Addr {
    eventually("a link-local address on veth0", || {
        inside(ns, || {
            let idx = link_index(IF).unwrap();
            addresses(idx)
                .unwrap()
                .into_iter()
                .find_map(|a| match a.addr {
                    IpAddr::V6(v6) if v6.is_unicast_link_local() => Some(v6),
                    _ => None,
                })
        })
    })
}

// === raw VRRP sockets ===

#[test]
fn v4_multicast_both_ways_with_ttl_255() {
    let Some((_lab, a, b)) = pair() else { return };
    let sa = inside(&a, || VrrpSocket::v4(IF, A4, true, 255)).unwrap();
    let sb = inside(&b, || VrrpSocket::v4(IF, B4, true, 255)).unwrap();

    sa.send_to(IpAddr::V4(VRRP_GROUP_V4), ADVERT).unwrap();
    let mut buf = [0u8; 1500];
    let got = recv_within(&sb, &mut buf);
    assert_eq!(got.src, IpAddr::V4(A4));
    assert_eq!(got.dst, IpAddr::V4(VRRP_GROUP_V4));
    assert_eq!(got.ttl, 255);
    assert_eq!(got.payload, ADVERT);

    sb.send_to(IpAddr::V4(VRRP_GROUP_V4), &ADVERT[..8]).unwrap();
    let got = recv_within(&sa, &mut buf);
    assert_eq!(got.src, IpAddr::V4(B4));
    assert_eq!(got.payload, &ADVERT[..8]);
    // IP_MULTICAST_LOOP is off: neither socket hears itself.
    assert_nothing_queued(&sa);
    assert_nothing_queued(&sb);
}

#[test]
fn v4_unicast_uses_the_given_ttl_and_needs_no_group() {
    let Some((_lab, a, b)) = pair() else { return };
    let sa = inside(&a, || VrrpSocket::v4(IF, A4, false, 64)).unwrap();
    let sb = inside(&b, || VrrpSocket::v4(IF, B4, false, 255)).unwrap();
    assert_eq!(sa.ifindex(), inside(&a, || link_index(IF)).unwrap());

    sa.send_to(IpAddr::V4(B4), ADVERT).unwrap();
    let mut buf = [0u8; 1500];
    let got = recv_within(&sb, &mut buf);
    assert_eq!(got.src, IpAddr::V4(A4));
    assert_eq!(got.dst, IpAddr::V4(B4));
    assert_eq!(got.ttl, 64);
    assert_eq!(got.payload, ADVERT);

    // Wrong family, and a buffer too small for the datagram: clear errors.
    assert!(sa.send_to(IpAddr::V6(B6), ADVERT).is_err());
    sa.send_to(IpAddr::V4(B4), ADVERT).unwrap();
    assert!(readable(&sb, WAIT));
    let mut small = [0u8; 24];
    let err = sb.recv(&mut small).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
}

/// The seed guide's VI_2: the instance watches `ens14f1` but its unicast
/// adverts come from `unicast_src_ip 10.99.181.141`, an address of `bond0`.
/// keepalived runs this; the socket must open, send out of `ens14f1` and
/// receive there, for unicast and (where the group is joined) multicast.
#[test]
fn v4_source_on_another_interface_as_in_the_guide() {
    if !require_root() {
        return;
    }
    let mut lab = Lab::new().unwrap();
    let a = lab.ns("lb1").unwrap();
    let b = lab.ns("lb2").unwrap();
    let (lb1, lb2) = (
        Ipv4Addr::new(10, 99, 181, 141),
        Ipv4Addr::new(10, 99, 181, 129),
    );
    lab.link(
        &a,
        "bond0",
        &["10.99.181.141/24"],
        &b,
        "bond0",
        &["10.99.181.129/24"],
    )
    .unwrap();
    lab.link(
        &a,
        "ens14f1",
        &["192.168.1.2/24"],
        &b,
        "ens14f1",
        &["192.168.1.3/24"],
    )
    .unwrap();
    for multicast in [false, true] {
        let sa = inside(&a, move || VrrpSocket::v4("ens14f1", lb1, multicast, 255))
            .unwrap_or_else(|e| panic!("multicast={multicast}: {e}"));
        let sb = inside(&b, move || VrrpSocket::v4("ens14f1", lb2, multicast, 255)).unwrap();
        assert_eq!(sa.ifindex(), inside(&a, || link_index("ens14f1")).unwrap());
        let dst = if multicast {
            IpAddr::V4(VRRP_GROUP_V4)
        } else {
            IpAddr::V4(lb2)
        };
        sa.send_to(dst, ADVERT).unwrap();
        let mut buf = [0u8; 1500];
        let got = recv_within(&sb, &mut buf);
        assert_eq!((got.src, got.dst), (IpAddr::V4(lb1), dst));
        assert_eq!(got.payload, ADVERT);
        // And back: lb2's answer reaches lb1's socket on ens14f1.
        let back = if multicast {
            IpAddr::V4(VRRP_GROUP_V4)
        } else {
            IpAddr::V4(lb1)
        };
        sb.send_to(back, &ADVERT[..8]).unwrap();
        let got = recv_within(&sa, &mut buf);
        assert_eq!(got.src, IpAddr::V4(lb2));
    }
}

#[test]
fn v6_multicast_reports_hop_limit_and_group() {
    let Some((_lab, a, b)) = pair() else { return };
    let (lla, llb) = (link_local(&a), link_local(&b));
    let sa = inside(&a, move || VrrpSocket::v6(IF, lla, true, 255)).unwrap();
    let sb = inside(&b, move || VrrpSocket::v6(IF, llb, true, 255)).unwrap();

    sa.send_to(IpAddr::V6(VRRP_GROUP_V6), ADVERT).unwrap();
    let mut buf = [0u8; 1500];
    let got = recv_within(&sb, &mut buf);
    assert_eq!(got.src, IpAddr::V6(lla));
    assert_eq!(got.dst, IpAddr::V6(VRRP_GROUP_V6));
    assert_eq!(got.ttl, 255);
    assert_eq!(got.payload, ADVERT);
    assert_nothing_queued(&sa);
}

#[test]
fn v6_unicast_to_a_global_address() {
    let Some((_lab, a, b)) = pair() else { return };
    let sa = inside(&a, || VrrpSocket::v6(IF, A6, false, 255)).unwrap();
    let sb = inside(&b, || VrrpSocket::v6(IF, B6, false, 255)).unwrap();
    sa.send_to(IpAddr::V6(B6), ADVERT).unwrap();
    let mut buf = [0u8; 1500];
    let got = recv_within(&sb, &mut buf);
    assert_eq!((got.src, got.dst), (IpAddr::V6(A6), IpAddr::V6(B6)));
    assert_eq!(got.ttl, 255);
    assert_eq!(got.payload, ADVERT);
}

// === addresses ===

/// The whole namespace's addresses, each with its interface: loopback's,
/// and both families of the veth's.
#[test]
fn all_addresses_lists_every_interface_with_its_index() {
    let Some((_lab, a, _b)) = pair() else { return };
    let (lo, veth, all) = inside(&a, || {
        (
            link_index("lo").unwrap(),
            link_index(IF).unwrap(),
            all_addresses().unwrap(),
        )
    });
    let on = |idx: u32| -> Vec<IpAddr> {
        all.iter()
            .filter(|(i, _)| *i == idx)
            .map(|(_, a)| a.addr)
            .collect()
    };
    assert!(on(lo).contains(&IpAddr::from([127, 0, 0, 1])), "{all:?}");
    assert!(on(veth).contains(&IpAddr::V4(A4)), "{all:?}");
    assert!(on(veth).contains(&IpAddr::V6(A6)), "{all:?}");
    // b's addresses are in another namespace.
    assert!(
        !all.iter().any(|(_, x)| x.addr == IpAddr::V4(B4)),
        "{all:?}"
    );
}

#[test]
fn add_and_delete_addresses_idempotently_with_labels() {
    let Some((_lab, a, _b)) = pair() else { return };
    let vip: IpAddr = "10.0.0.100".parse().unwrap();
    let gw: IpAddr = "10.0.0.254".parse().unwrap();
    let vip6: IpAddr = "fd00::100".parse().unwrap();

    inside(&a, move || {
        let idx = link_index(IF).unwrap();
        for _ in 0..2 {
            add_address(idx, vip, 24, Some("veth0:vip")).unwrap();
            // The seed's style: a label that does not start with the device.
            add_address(idx, gw, 24, Some("gateway:0")).unwrap();
            add_address(idx, vip6, 64, None).unwrap();
        }
        let mine = addresses(idx).unwrap();
        let find = |ip| mine.iter().find(|a| a.addr == ip).cloned().unwrap();
        assert_eq!(find(vip).label.as_deref(), Some("veth0:vip"));
        assert_eq!(find(gw).label.as_deref(), Some("gateway:0"));
        assert_eq!((find(vip6).prefix_len, find(vip6).label), (64, None));

        let e = add_address(idx, vip6, 64, Some("veth0:v6")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        let e = add_address(idx, vip, 24, Some("much-too-long-label")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    });

    // What `ip -j addr` shows, independently of our own netlink parsing.
    let shown = a.addrs(IF).unwrap();
    let label = |ip| shown.iter().find(|x| x.addr == ip).unwrap().label.clone();
    assert_eq!(label(vip).as_deref(), Some("veth0:vip"));
    assert_eq!(label(gw).as_deref(), Some("gateway:0"));
    let tentative = a
        .ip(&["-6", "addr", "show", "dev", IF, "tentative"])
        .unwrap();
    assert!(
        tentative.trim().is_empty(),
        "VIP must skip DAD: {tentative}"
    );

    inside(&a, move || {
        let idx = link_index(IF).unwrap();
        for _ in 0..2 {
            del_address(idx, vip, 24).unwrap();
            del_address(idx, gw, 24).unwrap();
            del_address(idx, vip6, 64).unwrap();
        }
        assert!(del_address(999_999, vip, 24).is_err(), "unknown interface");
    });
    let left: Vec<IpAddr> = a.addrs(IF).unwrap().into_iter().map(|x| x.addr).collect();
    assert!(!left.contains(&vip) && !left.contains(&gw) && !left.contains(&vip6));
    assert!(left.contains(&IpAddr::V4(A4)), "own address kept: {left:?}");
}

// === GARP and unsolicited NA ===

#[test]
fn garp_moves_an_existing_arp_entry_to_our_mac() {
    let Some((_lab, a, b)) = pair() else { return };
    let vip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 100));
    // `b` knows the VIP at the old master's MAC.
    b.ip(&[
        "neigh",
        "replace",
        "10.0.0.100",
        "lladdr",
        "02:00:00:00:00:99",
        "dev",
        IF,
        "nud",
        "stale",
    ])
    .unwrap();

    let mac = inside(&a, || {
        let mac = link_mac(IF).unwrap();
        Announcer::new()
            .unwrap()
            .garp(link_index(IF).unwrap(), mac, Ipv4Addr::new(10, 0, 0, 100))
            .unwrap();
        mac
    });
    assert_eq!(mac_string(mac), a.mac(IF).unwrap());
    eventually("b's ARP entry to move to a's MAC", || {
        (b.neigh_mac(vip).unwrap() == Some(mac_string(mac))).then_some(())
    });
}

#[test]
fn garp_creates_a_missing_entry_only_with_arp_accept() {
    let Some((_lab, a, b)) = pair() else { return };
    let ip = Ipv4Addr::new(10, 0, 0, 101);
    let send = |a: &Ns| {
        inside(a, move || {
            Announcer::new()
                .unwrap()
                .garp(link_index(IF).unwrap(), link_mac(IF).unwrap(), ip)
                .unwrap();
        });
    };

    send(&a);
    // The veth delivers synchronously; give the receiver a moment anyway.
    sleep(Duration::from_millis(300));
    assert_eq!(
        b.neigh_mac(IpAddr::V4(ip)).unwrap(),
        None,
        "arp_accept=0 ignores it"
    );

    b.sysctl("net.ipv4.conf.all.arp_accept", "1").unwrap();
    send(&a);
    let mac = a.mac(IF).unwrap();
    eventually("arp_accept=1 to create the entry", || {
        (b.neigh_mac(IpAddr::V4(ip)).unwrap() == Some(mac.clone())).then_some(())
    });
}

#[test]
fn unsolicited_na_moves_an_existing_neighbour_entry() {
    let Some((_lab, a, b)) = pair() else { return };
    let vip: Ipv6Addr = "fd00::100".parse().unwrap();
    b.ip(&[
        "-6",
        "neigh",
        "replace",
        "fd00::100",
        "lladdr",
        "02:00:00:00:00:99",
        "dev",
        IF,
        "nud",
        "stale",
    ])
    .unwrap();

    let mac = inside(&a, move || {
        let mac = link_mac(IF).unwrap();
        Announcer::new()
            .unwrap()
            .unsolicited_na(link_index(IF).unwrap(), None, vip, mac, false)
            .unwrap();
        mac
    });
    eventually("b's neighbour entry to move to a's MAC", || {
        (b.neigh_mac(IpAddr::V6(vip)).unwrap() == Some(mac_string(mac))).then_some(())
    });

    // A missing entry is created only by a router (forwarding=1 on the
    // interface) with accept_untracked_na (RFC 9131); accept_untracked_na
    // alone is not enough. Here also with an explicit source address.
    let other: Ipv6Addr = "fd00::101".parse().unwrap();
    let send = move || {
        let mac = link_mac(IF).unwrap();
        Announcer::new()
            .unwrap()
            .unsolicited_na(link_index(IF).unwrap(), Some(A6), other, mac, true)
            .unwrap();
    };
    inside(&a, send);
    sleep(Duration::from_millis(300));
    assert_eq!(b.neigh_mac(IpAddr::V6(other)).unwrap(), None);
    b.sysctl("net.ipv6.conf.veth0.accept_untracked_na", "1")
        .unwrap();
    inside(&a, send);
    sleep(Duration::from_millis(300));
    assert_eq!(
        b.neigh_mac(IpAddr::V6(other)).unwrap(),
        None,
        "not a router"
    );
    b.sysctl("net.ipv6.conf.veth0.forwarding", "1").unwrap();
    inside(&a, send);
    eventually("accept_untracked_na=1 to create the entry", || {
        (b.neigh_mac(IpAddr::V6(other)).unwrap() == Some(mac_string(mac))).then_some(())
    });
}

// === link state ===

#[test]
fn link_watcher_reports_down_and_up() {
    let Some((_lab, a, b)) = pair() else { return };
    let watcher = inside(&a, LinkWatcher::new).unwrap();
    let idx = inside(&a, || link_index(IF)).unwrap();
    assert!(inside(&a, || link_is_up(IF)).unwrap());
    assert!(
        watcher
            .read_events()
            .unwrap()
            .iter()
            .all(|e| e.ifindex != idx || e.oper_up)
    );

    let wait_for = |up: bool| -> LinkEvent {
        eventually(&format!("veth0 oper_up={up}"), || {
            readable(&watcher, Duration::from_millis(100));
            watcher
                .read_events()
                .unwrap()
                .into_iter()
                .rev()
                .find(|e| e.ifindex == idx && e.oper_up == up)
        })
    };

    a.set_link(IF, false).unwrap();
    let ev = wait_for(false);
    assert_eq!((ev.name.as_str(), ev.removed), (IF, false));
    assert!(!inside(&a, || link_is_up(IF)).unwrap());

    a.set_link(IF, true).unwrap();
    wait_for(true);
    assert!(inside(&a, || link_is_up(IF)).unwrap());

    // The peer going down takes our side to LOWERLAYERDOWN: not up.
    b.set_link(IF, false).unwrap();
    wait_for(false);
    assert!(!inside(&a, || link_is_up(IF)).unwrap());
    b.set_link(IF, true).unwrap();
    wait_for(true);

    // Deleting the link is an event with `removed`.
    a.ip(&["link", "del", IF]).unwrap();
    let gone = eventually("veth0 removal", || {
        watcher
            .read_events()
            .unwrap()
            .into_iter()
            .find(|e| e.ifindex == idx && e.removed)
    });
    assert!(!gone.oper_up);
}

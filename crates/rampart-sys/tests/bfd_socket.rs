//! The kernel side of single-hop BFD against a real kernel: two network
//! namespaces joined by a veth pair (`a` 10.0.0.1 / fd00::1, `b`
//! 10.0.0.2 / fd00::2), built by rampart-lab and deleted when each test
//! ends. Every packet stays inside those namespaces.
//!
//! Needs root: without it each test panics, unless RAMPART_SKIP_NETNS=1.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, poll};
use rampart_lab::{Lab, Ns, require_root};
use rampart_sys::bfd_socket::{BFD_CONTROL_PORT, BfdListener, BfdSender, Datagram};

const A4: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const B4: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
const A6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1));
const B6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2));

fn pair() -> Option<(Lab, Ns, Ns)> {
    if !require_root() {
        return None;
    }
    let mut lab = Lab::new().unwrap();
    let a = lab.ns("a").unwrap();
    let b = lab.ns("b").unwrap();
    lab.link(
        &a,
        "veth0",
        &["10.0.0.1/24", "fd00::1/64"],
        &b,
        "veth0",
        &["10.0.0.2/24", "fd00::2/64"],
    )
    .unwrap();
    Some((lab, a, b))
}

/// Owned copy of a datagram, so it can leave the namespace's thread.
fn recv_one(l: &BfdListener) -> (SocketAddr, u8, Vec<u8>) {
    let mut fds = [PollFd::new(l.as_fd(), PollFlags::POLLIN)];
    assert!(poll(&mut fds, 5000u16).unwrap() > 0, "nothing within 5 s");
    let mut buf = [0u8; 128];
    let Datagram { src, ttl, payload } = l.recv(&mut buf).unwrap();
    (src, ttl, payload.to_vec())
}

#[test]
fn a_session_sends_with_ttl_255_from_a_high_port_and_the_listener_sees_the_ttl() {
    let Some((_lab, a, b)) = pair() else { return };
    for (me, peer, v6) in [(A4, B4, false), (A6, B6, true)] {
        let listener = b.run_in(move || BfdListener::bind(v6)).unwrap().unwrap();
        assert_eq!(listener.local_addr().unwrap().port(), BFD_CONTROL_PORT);
        // Two sessions from `a` asked to start at the same port get two.
        let (s1, s2) = a
            .run_in(move || {
                let s1 = BfdSender::open(peer, None, 60000).unwrap();
                let s2 = BfdSender::open(peer, Some(me), 60000).unwrap();
                (s1, s2)
            })
            .unwrap();
        let (p1, p2) = (s1.local_addr().unwrap(), s2.local_addr().unwrap());
        assert_eq!(p1.port(), 60000);
        assert_eq!(p2.port(), 60001);
        // IPv6 source selection may await DAD-less address setup: retry.
        let mut got = None;
        for _ in 0..50 {
            if s1.send(b"hello bfd").is_ok() {
                got = Some(recv_one(&listener));
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let (src, ttl, payload) = got.expect("sent");
        assert_eq!(
            src,
            SocketAddr::new(me, 60000),
            "the kernel chose the link's address"
        );
        assert_eq!(ttl, 255);
        assert_eq!(payload, b"hello bfd");

        // An ordinary socket's packet arrives with its TTL, for the core
        // to refuse (RFC 5881 §5).
        let plain = a.run_in(move || {
            let s = UdpSocket::bind(SocketAddr::new(me, 0)).unwrap();
            let s = socket2::Socket::from(s);
            if v6 {
                s.set_unicast_hops_v6(7).unwrap();
            } else {
                s.set_ttl_v4(7).unwrap();
            }
            let to = SocketAddr::new(peer, BFD_CONTROL_PORT);
            s.send_to(b"far away", &to.into()).unwrap();
        });
        plain.unwrap();
        let (_, ttl, payload) = recv_one(&listener);
        assert_eq!((ttl, payload.as_slice()), (7, &b"far away"[..]));
    }
}

//! BGP's TCP options against a real kernel: MD5 signatures, TTL / GTSM and
//! source addresses between two network namespaces joined by a veth pair
//! (`a` 10.0.0.1 + 10.0.0.11 / fd00::1, `b` 10.0.0.2 / fd00::2), and once
//! through a router namespace. Every lab is built by rampart-lab and
//! deleted when its test ends; no packet leaves those namespaces.
//!
//! The namespace tests need root: without it each one panics, unless
//! RAMPART_SKIP_NETNS=1. The input-validation tests at the end use
//! loopback only and run anywhere.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, poll};
use rampart_lab::{Lab, Ns, require_root};
use rampart_sys::bgp_socket::{
    BGP_PORT, BgpSockOpts, MD5_KEY_MAX, bgp_connect_socket, bgp_listener, configure_accepted,
    connect_timeout, set_md5_key, set_min_ttl, set_ttl,
};
use socket2::SockRef;

const A4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// A second address on `a`, for source-address selection.
const A4_ALT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 11);
const B4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const A6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
const B6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
const KEY: &[u8] = b"rampart-bgp-secret";
const OTHER_KEY: &[u8] = b"not-the-secret";
/// For connections that should succeed.
const WAIT: Duration = Duration::from_secs(5);
/// For connections whose SYNs should be dropped: long enough for the
/// handshake on a veth (well under a millisecond), short enough to keep
/// the suite fast. The first SYN retransmit is only due after 1 s.
const DROPPED: Duration = Duration::from_secs(1);

// === lab helpers ===

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
        "veth0",
        &["10.0.0.1/24", "10.0.0.11/24", "fd00::1/64"],
        &b,
        "veth0",
        &["10.0.0.2/24", "fd00::2/64"],
    )
    .unwrap();
    // IPv6 on a veth starts once it has carrier, a moment after `ip link
    // set up`; before that neighbour discovery can fail and a SYN would
    // wait for its 1 s retransmit. Both ends having a link-local address
    // means both are ready.
    wait_for_link_local(&a, "veth0");
    wait_for_link_local(&b, "veth0");
    Some((lab, a, b))
}

fn wait_for_link_local(ns: &Ns, ifname: &str) {
    let deadline = Instant::now() + WAIT;
    while !ns.addrs(ifname).unwrap().iter().any(|a| match a.addr {
        IpAddr::V6(v6) => v6.is_unicast_link_local(),
        IpAddr::V4(_) => false,
    }) {
        assert!(
            Instant::now() < deadline,
            "no link-local address on {ifname}"
        );
        sleep(Duration::from_millis(20));
    }
}

fn inside<R: Send + 'static>(ns: &Ns, f: impl FnOnce() -> R + Send + 'static) -> R {
    ns.run_in(f).unwrap()
}

/// A BGP listener on `ip`:179 made inside `ns`.
fn listen(ns: &Ns, ip: IpAddr) -> TcpListener {
    inside(ns, move || bgp_listener(SocketAddr::new(ip, BGP_PORT))).unwrap()
}

/// Dials `peer`:179 from inside `ns`.
fn dial(
    ns: &Ns,
    local: Option<IpAddr>,
    peer: IpAddr,
    opts: &BgpSockOpts,
    timeout: Duration,
) -> io::Result<TcpStream> {
    let opts = opts.clone();
    inside(ns, move || {
        connect_timeout(local, SocketAddr::new(peer, BGP_PORT), &opts, timeout)
    })
}

fn with_key(mut opts: BgpSockOpts, key: &[u8]) -> BgpSockOpts {
    opts.md5_key = Some(key.to_vec());
    opts
}

/// The connection `listener` has queued, waiting up to `within`.
fn accept_within(listener: &TcpListener, within: Duration) -> Option<(TcpStream, SocketAddr)> {
    let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
    let ms = u16::try_from(within.as_millis()).unwrap_or(u16::MAX);
    if poll(&mut fds, ms).unwrap() == 0 {
        return None;
    }
    let (stream, peer) = listener.accept().unwrap();
    stream.set_nonblocking(false).unwrap();
    Some((stream, peer))
}

/// Dials, accepts, and echoes a message through the connection; returns
/// the accepted stream and the peer address the listener saw.
fn establish(
    ns: &Ns,
    local: Option<IpAddr>,
    listener: &TcpListener,
    peer: IpAddr,
    opts: &BgpSockOpts,
) -> (TcpStream, SocketAddr) {
    let mut client = dial(ns, local, peer, opts, WAIT).unwrap();
    let (mut server, seen) = accept_within(listener, WAIT).expect("no connection accepted");
    for s in [&client, &server] {
        s.set_read_timeout(Some(WAIT)).unwrap();
    }
    client.write_all(b"OPEN").unwrap();
    let mut buf = [0u8; 4];
    server.read_exact(&mut buf).unwrap();
    server.write_all(&buf).unwrap();
    client.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"OPEN");
    (server, seen)
}

/// Asserts that a dial timed out (its SYNs were dropped) and that nothing
/// reached the listener.
fn assert_dropped(result: io::Result<TcpStream>, listener: &TcpListener) {
    match result {
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::TimedOut, "unexpected: {e}"),
        Ok(s) => panic!("connected from {:?}", s.local_addr()),
    }
    assert!(accept_within(listener, Duration::ZERO).is_none());
}

/// `TcpExt` counters of `ns` (`/proc/net/netstat`).
fn tcp_ext(ns: &Ns) -> HashMap<String, u64> {
    let text = inside(ns, || {
        std::fs::read_to_string("/proc/thread-self/net/netstat")
    })
    .unwrap();
    let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("TcpExt:")).collect();
    assert_eq!(rows.len(), 2, "unexpected netstat format");
    let names = rows[0].split_whitespace().skip(1);
    let values = rows[1].split_whitespace().skip(1);
    names
        .zip(values)
        .map(|(n, v)| (n.to_owned(), v.parse().unwrap()))
        .collect()
}

/// How much counter `name` grew between two `tcp_ext` snapshots.
fn grew(before: &HashMap<String, u64>, after: &HashMap<String, u64>, name: &str) -> u64 {
    let get = |m: &HashMap<String, u64>| *m.get(name).unwrap_or_else(|| panic!("no {name}"));
    get(after) - get(before)
}

// === MD5 signatures ===

#[test]
fn md5_matching_keys_connect_and_echo() {
    let Some((_lab, a, b)) = pair() else { return };
    let listener = listen(&b, B4.into());
    set_md5_key(&listener, A4.into(), KEY).unwrap();
    let (_server, seen) = establish(
        &a,
        None,
        &listener,
        B4.into(),
        &with_key(BgpSockOpts::default(), KEY),
    );
    assert_eq!(seen.ip(), IpAddr::V4(A4));
}

#[test]
fn md5_wrong_key_is_dropped_silently() {
    let Some((_lab, a, b)) = pair() else { return };
    let listener = listen(&b, B4.into());
    set_md5_key(&listener, A4.into(), KEY).unwrap();
    let before = tcp_ext(&b);
    let opts = with_key(BgpSockOpts::default(), OTHER_KEY);
    assert_dropped(dial(&a, None, B4.into(), &opts, DROPPED), &listener);
    assert!(grew(&before, &tcp_ext(&b), "TCPMD5Failure") >= 1);
}

#[test]
fn md5_missing_key_is_dropped_silently() {
    let Some((_lab, a, b)) = pair() else { return };
    let listener = listen(&b, B4.into());
    set_md5_key(&listener, A4.into(), KEY).unwrap();
    let before = tcp_ext(&b);
    assert_dropped(
        dial(&a, None, B4.into(), &BgpSockOpts::default(), DROPPED),
        &listener,
    );
    assert!(grew(&before, &tcp_ext(&b), "TCPMD5NotFound") >= 1);
}

#[test]
fn md5_unexpected_key_is_dropped_and_removing_a_key_admits_unsigned() {
    let Some((_lab, a, b)) = pair() else { return };
    let listener = listen(&b, B4.into());
    // The listener has no key for A4: a signed SYN is dropped too.
    let before = tcp_ext(&b);
    let opts = with_key(BgpSockOpts::default(), KEY);
    assert_dropped(dial(&a, None, B4.into(), &opts, DROPPED), &listener);
    assert!(grew(&before, &tcp_ext(&b), "TCPMD5Unexpected") >= 1);

    // Add a key, then remove it: unsigned connections work again.
    set_md5_key(&listener, A4.into(), KEY).unwrap();
    set_md5_key(&listener, A4.into(), b"").unwrap();
    establish(&a, None, &listener, B4.into(), &BgpSockOpts::default());
}

#[test]
fn md5_over_ipv6() {
    let Some((_lab, a, b)) = pair() else { return };
    let listener = listen(&b, Ipv6Addr::UNSPECIFIED.into());
    set_md5_key(&listener, A6.into(), KEY).unwrap();
    let (_server, seen) = establish(
        &a,
        None,
        &listener,
        B6.into(),
        &with_key(BgpSockOpts::default(), KEY),
    );
    assert_eq!(seen.ip(), IpAddr::V6(A6));

    let before = tcp_ext(&b);
    let opts = with_key(BgpSockOpts::default(), OTHER_KEY);
    assert_dropped(dial(&a, None, B6.into(), &opts, DROPPED), &listener);
    assert_dropped(
        dial(&a, None, B6.into(), &BgpSockOpts::default(), DROPPED),
        &listener,
    );
    let after = tcp_ext(&b);
    assert!(grew(&before, &after, "TCPMD5Failure") >= 1);
    assert!(grew(&before, &after, "TCPMD5NotFound") >= 1);
}

// === TTL and GTSM ===

#[test]
fn ttl_1_reaches_a_directly_connected_peer() {
    let Some((_lab, a, b)) = pair() else { return };
    let listener = listen(&b, B4.into());
    let opts = BgpSockOpts::default();
    assert_eq!(opts.ttl, 1);
    let (server, _) = establish(&a, None, &listener, B4.into(), &opts);
    // Accepted sockets inherit the listener's TTL 255 until configured.
    assert_eq!(SockRef::from(&server).ttl_v4().unwrap(), 255);
    configure_accepted(&server, &opts).unwrap();
    assert_eq!(SockRef::from(&server).ttl_v4().unwrap(), 1);
}

#[test]
fn gtsm_accepts_ttl_255_and_drops_less() {
    let Some((_lab, a, b)) = pair() else { return };
    let listener = listen(&b, B4.into());
    set_min_ttl(&listener, 255).unwrap();
    // Both ends check: the client also drops a SYN-ACK below 255.
    establish(&a, None, &listener, B4.into(), &BgpSockOpts::gtsm(1));

    let before = tcp_ext(&b);
    let ttl64 = BgpSockOpts {
        ttl: 64,
        ..BgpSockOpts::default()
    };
    assert_dropped(dial(&a, None, B4.into(), &ttl64, DROPPED), &listener);
    assert!(grew(&before, &tcp_ext(&b), "TCPMinTTLDrop") >= 1);
}

#[test]
fn gtsm_over_ipv6() {
    let Some((_lab, a, b)) = pair() else { return };
    let listener = listen(&b, B6.into());
    set_min_ttl(&listener, 255).unwrap();
    let opts = with_key(BgpSockOpts::gtsm(1), KEY);
    set_md5_key(&listener, A6.into(), KEY).unwrap();
    establish(&a, None, &listener, B6.into(), &opts);

    let hops64 = BgpSockOpts { ttl: 64, ..opts };
    assert_dropped(dial(&a, None, B6.into(), &hops64, DROPPED), &listener);
}

#[test]
fn gtsm_client_needs_the_listener_to_send_ttl_255() {
    let Some((_lab, a, b)) = pair() else { return };
    // A plain listener answers with the default TTL (64): the GTSM client
    // drops its SYN-ACK, and the handshake never completes.
    let plain = inside(&b, || TcpListener::bind((B4, BGP_PORT))).unwrap();
    let before = tcp_ext(&a);
    let err = dial(&a, None, B4.into(), &BgpSockOpts::gtsm(1), DROPPED).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "unexpected: {err}");
    assert!(grew(&before, &tcp_ext(&a), "TCPMinTTLDrop") >= 1);
    drop(plain);
}

#[test]
fn multihop_ttl_through_a_router() {
    if !require_root() {
        return;
    }
    // a (10.1.0.1) — r — b (10.2.0.2): one router between the peers.
    let mut lab = Lab::new().unwrap();
    let a = lab.ns("a").unwrap();
    let r = lab.ns("r").unwrap();
    let b = lab.ns("b").unwrap();
    lab.link(&a, "veth0", &["10.1.0.1/24"], &r, "veth0", &["10.1.0.2/24"])
        .unwrap();
    lab.link(&r, "veth1", &["10.2.0.1/24"], &b, "veth0", &["10.2.0.2/24"])
        .unwrap();
    r.sysctl("net.ipv4.ip_forward", "1").unwrap();
    a.ip(&["route", "add", "10.2.0.0/24", "via", "10.1.0.2"])
        .unwrap();
    b.ip(&["route", "add", "10.1.0.0/24", "via", "10.2.0.1"])
        .unwrap();
    let peer = IpAddr::V4(Ipv4Addr::new(10, 2, 0, 2));
    let listener = listen(&b, peer);

    // TTL 1 expires at the router, whose ICMP Time Exceeded aborts the
    // connect at once (EHOSTUNREACH) rather than letting it time out.
    let direct = BgpSockOpts::default();
    let err = dial(&a, None, peer, &direct, DROPPED).unwrap_err();
    assert_eq!(
        err.raw_os_error(),
        Some(libc::EHOSTUNREACH),
        "unexpected: {err}"
    );
    assert!(accept_within(&listener, Duration::ZERO).is_none());

    // `multihop 2` gets through.
    let multihop = BgpSockOpts {
        ttl: 2,
        ..BgpSockOpts::default()
    };
    establish(&a, None, &listener, peer, &multihop);

    // GTSM for 2 hops on both ends: 255 out, 254 or more in.
    set_min_ttl(&listener, BgpSockOpts::gtsm(2).min_ttl.unwrap()).unwrap();
    establish(&a, None, &listener, peer, &BgpSockOpts::gtsm(2));
    // GTSM for a direct peer (min 255) rejects a peer behind a router.
    set_min_ttl(&listener, 255).unwrap();
    assert_dropped(
        dial(&a, None, peer, &BgpSockOpts::gtsm(2), DROPPED),
        &listener,
    );
}

// === source address ===

#[test]
fn source_address_selects_the_address_and_its_key() {
    let Some((_lab, a, b)) = pair() else { return };
    let listener = listen(&b, Ipv4Addr::UNSPECIFIED.into());
    set_md5_key(&listener, A4.into(), KEY).unwrap();
    set_md5_key(&listener, A4_ALT.into(), OTHER_KEY).unwrap();

    let (_s, seen) = establish(
        &a,
        None,
        &listener,
        B4.into(),
        &with_key(BgpSockOpts::default(), KEY),
    );
    assert_eq!(seen.ip(), IpAddr::V4(A4), "the kernel's default source");

    let alt = Some(IpAddr::V4(A4_ALT));
    let (_s, seen) = establish(
        &a,
        alt,
        &listener,
        B4.into(),
        &with_key(BgpSockOpts::default(), OTHER_KEY),
    );
    assert_eq!(seen.ip(), IpAddr::V4(A4_ALT));

    // The listener's key for A4_ALT is OTHER_KEY, so KEY from there fails.
    let opts = with_key(BgpSockOpts::default(), KEY);
    assert_dropped(dial(&a, alt, B4.into(), &opts, DROPPED), &listener);
}

// === input validation (loopback, no root) ===

fn loopback_listener() -> TcpListener {
    bgp_listener((Ipv4Addr::LOCALHOST, 0).into()).unwrap()
}

fn kind<T>(r: io::Result<T>) -> io::ErrorKind {
    r.err().map(|e| e.kind()).expect("expected an error")
}

#[test]
fn key_longer_than_80_bytes_is_invalid_input() {
    let listener = loopback_listener();
    let peer = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let long = vec![b'k'; MD5_KEY_MAX + 1];
    assert_eq!(
        kind(set_md5_key(&listener, peer, &long)),
        io::ErrorKind::InvalidInput
    );
    set_md5_key(&listener, peer, &long[..MD5_KEY_MAX]).unwrap();

    let opts = with_key(BgpSockOpts::default(), &long);
    let to = listener.local_addr().unwrap();
    assert_eq!(
        kind(bgp_connect_socket(None, to, &opts)),
        io::ErrorKind::InvalidInput
    );
}

#[test]
fn empty_key_removes_and_is_refused_as_a_password() {
    let listener = loopback_listener();
    let peer = IpAddr::V4(Ipv4Addr::LOCALHOST);
    // Removing a key that is not there is not an error.
    set_md5_key(&listener, peer, b"").unwrap();
    set_md5_key(&listener, peer, KEY).unwrap();
    set_md5_key(&listener, peer, b"").unwrap();
    set_md5_key(&listener, peer, b"").unwrap();

    // As a connection's password, an empty key is a mistake, not "none".
    let opts = with_key(BgpSockOpts::default(), b"");
    let to = listener.local_addr().unwrap();
    assert_eq!(
        kind(bgp_connect_socket(None, to, &opts)),
        io::ErrorKind::InvalidInput
    );
}

#[test]
fn ttl_0_family_mismatch_and_non_ip_sockets_are_invalid_input() {
    let listener = loopback_listener();
    let to = listener.local_addr().unwrap();
    let ttl0 = BgpSockOpts {
        ttl: 0,
        ..BgpSockOpts::default()
    };
    assert_eq!(
        kind(bgp_connect_socket(None, to, &ttl0)),
        io::ErrorKind::InvalidInput
    );
    assert_eq!(kind(set_ttl(&listener, 0)), io::ErrorKind::InvalidInput);

    let v6_source = Some(IpAddr::V6(Ipv6Addr::LOCALHOST));
    let r = bgp_connect_socket(v6_source, to, &BgpSockOpts::default());
    assert_eq!(kind(r), io::ErrorKind::InvalidInput);
    // An IPv4 socket cannot hold a key for a (non-mapped) IPv6 peer.
    let r = set_md5_key(&listener, IpAddr::V6(A6), KEY);
    assert_eq!(kind(r), io::ErrorKind::InvalidInput);

    let (unix, _other) = UnixStream::pair().unwrap();
    assert_eq!(kind(set_ttl(&unix, 1)), io::ErrorKind::InvalidInput);
    assert_eq!(kind(set_min_ttl(&unix, 255)), io::ErrorKind::InvalidInput);
}

#[test]
fn options_are_applied_to_the_sockets() {
    let listener = loopback_listener();
    let l = SockRef::from(&listener);
    assert_eq!(l.ttl_v4().unwrap(), 255);
    assert_eq!(l.tos_v4().unwrap(), 0xc0);
    assert!(l.reuse_address().unwrap());

    let to = listener.local_addr().unwrap();
    let socket =
        bgp_connect_socket(Some(Ipv4Addr::LOCALHOST.into()), to, &BgpSockOpts::gtsm(3)).unwrap();
    assert_eq!(socket.ttl_v4().unwrap(), 255);
    assert!(socket.nonblocking().unwrap());
    assert_eq!(
        socket.local_addr().unwrap().as_socket().unwrap().ip(),
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    );
}

#[test]
fn md5_on_loopback_without_namespaces() {
    // TCP_MD5SIG needs no privilege, so the basic case runs anywhere.
    let listener = loopback_listener();
    let to = listener.local_addr().unwrap();
    set_md5_key(&listener, to.ip(), KEY).unwrap();
    let opts = with_key(BgpSockOpts::default(), KEY);
    let mut client = connect_timeout(None, to, &opts, WAIT).unwrap();
    let (mut server, _) = accept_within(&listener, WAIT).unwrap();
    client.write_all(b"KEEPALIVE").unwrap();
    let mut buf = [0u8; 9];
    server.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"KEEPALIVE");
}

//! Byte vectors from the spec (`doc/proxy-protocol.txt`) and from a capture
//! of HAProxy, then properties: encode→decode round trips, every prefix of a
//! header is "incomplete", and decode never panics.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use proptest::prelude::*;
use rampart_config::ProxyVersion::{self, V1, V2};

use super::{Addresses, DecodeError, Header, MAX_ENCODED_LEN, decode, encode};

const SIG: &[u8] = b"\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0A";

fn sa(s: &str) -> SocketAddr {
    s.parse()
        .unwrap_or_else(|e| panic!("test address {s}: {e}"))
}

fn enc(version: ProxyVersion, client: &str, local: &str) -> Vec<u8> {
    let mut out = Vec::new();
    encode(version, sa(client), sa(local), &mut out);
    out
}

fn header(version: ProxyVersion, client: &str, dest: &str) -> Header {
    Header {
        version,
        addresses: Some(Addresses {
            client: sa(client),
            dest: sa(dest),
        }),
    }
}

fn v2(rest: &[u8]) -> Vec<u8> {
    [SIG, rest].concat()
}

// === version 1 ===

#[test]
fn v1_spec_example_tcp4() {
    let line = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
    assert_eq!(enc(V1, "192.168.0.1:56324", "192.168.0.11:443"), line);
    let wire = [&line[..], b"GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n"].concat();
    let expected = header(V1, "192.168.0.1:56324", "192.168.0.11:443");
    assert_eq!(decode(&wire), Ok(Some((expected, line.len()))));
}

#[test]
fn v1_tcp6_uses_canonical_text() {
    let line = b"PROXY TCP6 2001:db8::1 2001:db8::11 56324 443\r\n";
    assert_eq!(enc(V1, "[2001:db8::1]:56324", "[2001:db8::11]:443"), line);
    let expected = header(V1, "[2001:db8::1]:56324", "[2001:db8::11]:443");
    assert_eq!(decode(line), Ok(Some((expected, line.len()))));
}

#[test]
fn v1_spec_maximum_lines() {
    let ff = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
    let tcp6 = format!("PROXY TCP6 {ff} {ff} 65535 65535\r\n");
    assert_eq!(tcp6.len(), 104);
    let expected = header(V1, &format!("[{ff}]:65535"), &format!("[{ff}]:65535"));
    assert_eq!(decode(tcp6.as_bytes()), Ok(Some((expected, 104))));

    let worst = format!("PROXY UNKNOWN {ff} {ff} 65535 65535\r\n");
    assert_eq!(worst.len(), 107);
    let unknown = Header {
        version: V1,
        addresses: None,
    };
    assert_eq!(decode(worst.as_bytes()), Ok(Some((unknown, 107))));
    assert_eq!(decode(b"PROXY UNKNOWN\r\n"), Ok(Some((unknown, 15))));
}

#[test]
fn mapped_addresses_are_sent_as_ipv4() {
    let (client, local) = ("[::ffff:192.0.2.1]:40000", "[::ffff:198.51.100.7]:80");
    assert_eq!(
        enc(V1, client, local),
        b"PROXY TCP4 192.0.2.1 198.51.100.7 40000 80\r\n"
    );
    let mut expected = v2(b"\x21\x11\x00\x0C");
    expected.extend_from_slice(b"\xC0\x00\x02\x01\xC6\x33\x64\x07\x9C\x40\x00\x50");
    assert_eq!(enc(V2, client, local), expected);
    // Only one side mapped still normalises to one family.
    assert_eq!(
        enc(V1, client, "198.51.100.7:80"),
        b"PROXY TCP4 192.0.2.1 198.51.100.7 40000 80\r\n"
    );
}

#[test]
fn mixed_families_are_unknown() {
    assert_eq!(
        enc(V1, "[2001:db8::1]:1", "10.0.0.1:80"),
        b"PROXY UNKNOWN\r\n"
    );
    assert_eq!(
        enc(V1, "10.0.0.1:1", "[2001:db8::1]:80"),
        b"PROXY UNKNOWN\r\n"
    );
    assert_eq!(
        enc(V2, "[2001:db8::1]:1", "10.0.0.1:80"),
        v2(b"\x21\x00\x00\x00")
    );
}

#[test]
fn v1_rejects_what_the_spec_forbids() {
    let long = [b"PROXY UNKNOWN ".as_slice(), &[b'x'; 94]].concat();
    let cases: &[(&[u8], DecodeError)] = &[
        (&long, DecodeError::V1TooLong),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", DecodeError::V1LineEnd),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", DecodeError::V1LineEnd),
        (
            b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
            bad("protocol is not TCP4, TCP6 or UNKNOWN"),
        ),
        (
            b"PROXY UNKNOWNX\r\n",
            bad("protocol is not TCP4, TCP6 or UNKNOWN"),
        ),
        (
            b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",
            bad("bad IPv4 address"),
        ),
        (b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n", bad("bad IPv4 address")),
        (b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n", bad("bad IPv6 address")),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n", bad("bad port")),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 +80 2\r\n", bad("bad port")),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", bad("bad port")),
        (
            b"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
            bad("bad IPv4 address"),
        ),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", bad("missing field")),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
            bad("extra field after destination port"),
        ),
        (b"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", DecodeError::NotProxy),
        (b"GET / HTTP/1.1\r\n", DecodeError::NotProxy),
    ];
    for (input, error) in cases {
        assert_eq!(decode(input), Err(*error), "{}", input.escape_ascii());
    }
}

fn bad(what: &'static str) -> DecodeError {
    DecodeError::V1Syntax(what)
}

#[test]
fn v1_waits_for_crlf_up_to_107_bytes() {
    let partial = [b"PROXY UNKNOWN ".as_slice(), &[b'x'; 91]].concat();
    let with = |end: &[u8]| [partial.as_slice(), end].concat();
    assert_eq!(partial.len(), 105);
    assert_eq!(decode(&partial), Ok(None));
    assert_eq!(decode(&with(b"\r")), Ok(None));
    assert_eq!(decode(&with(b"x")), Ok(None));
    let unknown = Header {
        version: V1,
        addresses: None,
    };
    assert_eq!(decode(&with(b"\r\n")), Ok(Some((unknown, 107))));
    // A CRLF that would end at byte 108 is one byte too late.
    assert_eq!(decode(&with(b"xx")), Err(DecodeError::V1TooLong));
    assert_eq!(decode(&with(b"x\r")), Err(DecodeError::V1TooLong));
    assert_eq!(decode(&with(b"x\r\n")), Err(DecodeError::V1TooLong));
}

// === version 2 ===

/// HAProxy's `send-proxy-v2` to netcat, captured in
/// seriousben/experiment-proxy-protocol (README): 172.19.0.1:42578 to
/// 172.19.0.3:80, followed by the client's request.
#[test]
fn v2_haproxy_capture_tcp4() {
    let wire = b"\x0d\x0a\x0d\x0a\x00\x0d\x0a\x51\x55\x49\x54\x0a\x21\x11\x00\x0c\
                 \xac\x13\x00\x01\xac\x13\x00\x03\xa6\x52\x00\x50GET / HTTP/1.1\r\n";
    let expected = header(V2, "172.19.0.1:42578", "172.19.0.3:80");
    assert_eq!(decode(wire), Ok(Some((expected, 28))));
    assert_eq!(enc(V2, "172.19.0.1:42578", "172.19.0.3:80"), wire[..28]);
}

#[test]
fn v2_tcp6() {
    let mut wire = v2(b"\x21\x21\x00\x24");
    wire.extend_from_slice(b"\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01");
    wire.extend_from_slice(b"\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x11");
    wire.extend_from_slice(b"\xdc\x04\x01\xbb");
    assert_eq!(enc(V2, "[2001:db8::1]:56324", "[2001:db8::11]:443"), wire);
    let expected = header(V2, "[2001:db8::1]:56324", "[2001:db8::11]:443");
    assert_eq!(decode(&wire), Ok(Some((expected, 52))));
}

#[test]
fn v2_local_unspec_and_unsupported_families_carry_no_addresses() {
    let none = Header {
        version: V2,
        addresses: None,
    };
    // LOCAL, as HAProxy sends for its own health checks.
    assert_eq!(decode(&v2(b"\x20\x00\x00\x00")), Ok(Some((none, 16))));
    // LOCAL with an address block: skipped, family ignored.
    let local = v2(b"\x20\xFF\x00\x0C123456789012");
    assert_eq!(decode(&local), Ok(Some((none, 28))));
    assert_eq!(decode(&v2(b"\x21\x00\x00\x00")), Ok(Some((none, 16))));
    let udp4 = v2(b"\x21\x12\x00\x0C123456789012");
    assert_eq!(decode(&udp4), Ok(Some((none, 28))));
    let unix = [v2(b"\x21\x31\x00\xD8"), vec![0; 216]].concat();
    assert_eq!(decode(&unix), Ok(Some((none, 232))));
}

#[test]
fn v2_skips_tlvs_after_addresses() {
    // PP2_TYPE_NOOP (0x04) with an empty value after the TCP4 addresses.
    let wire = v2(b"\x21\x11\x00\x0F\x0A\x00\x00\x01\x0A\x00\x00\x02\x04\xD2\x00\x50\x04\x00\x00");
    let expected = header(V2, "10.0.0.1:1234", "10.0.0.2:80");
    assert_eq!(decode(&wire), Ok(Some((expected, 31))));
}

#[test]
fn v2_rejects_what_the_spec_forbids() {
    let cases: &[(&[u8], DecodeError)] = &[
        (b"\x11\x11\x00\x00", DecodeError::V2Version(1)),
        (b"\x22\x11\x00\x00", DecodeError::V2Command(2)),
        (b"\x21\x41\x00\x00", DecodeError::V2Family(0x41)),
        (b"\x21\x13\x00\x00", DecodeError::V2Family(0x13)),
        (
            b"\x21\x11\x00\x04abcd",
            DecodeError::V2Length {
                family: 0x11,
                len: 4,
            },
        ),
        (
            b"\x21\x21\x00\x0C123456789012",
            DecodeError::V2Length {
                family: 0x21,
                len: 12,
            },
        ),
    ];
    for (rest, error) in cases {
        assert_eq!(decode(&v2(rest)), Err(*error), "{}", rest.escape_ascii());
    }
}

#[test]
fn encode_reuses_the_buffer() {
    let mut out = Vec::with_capacity(MAX_ENCODED_LEN);
    let ptr = out.as_ptr();
    let ff = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535";
    for version in [V1, V2] {
        encode(version, sa(ff), sa(ff), &mut out);
        encode(version, sa("1.2.3.4:5"), sa("6.7.8.9:10"), &mut out);
        assert_eq!(decode(&out).map(|h| h.map(|(_, n)| n)), Ok(Some(out.len())));
    }
    assert_eq!((out.as_ptr(), out.capacity()), (ptr, MAX_ENCODED_LEN));
}

// === properties ===

/// Addresses as they come from sockets, with IPv4-mapped ones made common
/// (random IPv6 addresses are almost never mapped).
fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    let ip = prop_oneof![
        any::<Ipv4Addr>().prop_map(IpAddr::V4),
        any::<Ipv6Addr>().prop_map(IpAddr::V6),
        any::<Ipv4Addr>().prop_map(|v4| IpAddr::V6(v4.to_ipv6_mapped())),
    ];
    (ip, any::<u16>()).prop_map(|(ip, port)| SocketAddr::new(ip, port))
}

fn version() -> impl Strategy<Value = ProxyVersion> {
    prop_oneof![Just(V1), Just(V2)]
}

fn canonical(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(a.ip().to_canonical(), a.port())
}

proptest! {
    #[test]
    fn round_trip(version in version(), client in socket_addr(), local in socket_addr(),
                  payload in proptest::collection::vec(any::<u8>(), 0..32)) {
        let mut wire = Vec::new();
        encode(version, client, local, &mut wire);
        prop_assert!(wire.len() <= MAX_ENCODED_LEN);
        let len = wire.len();
        for cut in 0..len {
            prop_assert_eq!(decode(&wire[..cut]), Ok(None));
        }
        wire.extend_from_slice(&payload);
        let (client, local) = (canonical(client), canonical(local));
        let addresses = (client.is_ipv4() == local.is_ipv4())
            .then_some(Addresses { client, dest: local });
        prop_assert_eq!(decode(&wire), Ok(Some((Header { version, addresses }, len))));
    }

    #[test]
    fn decode_never_panics(
        prefix in prop_oneof![Just(&b""[..]), Just(SIG), Just(&b"PROXY "[..]),
                              Just(&b"PROXY TCP4 "[..]), Just(&b"PROXY TCP6 "[..])],
        tail in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let input = [prefix, &tail].concat();
        if let Ok(Some((_, used))) = decode(&input) {
            prop_assert!(used <= input.len());
        }
    }
}

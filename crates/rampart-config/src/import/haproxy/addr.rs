//! HAProxy's addresses (`bind` and `server`) as socket addresses, following
//! its address parser (`str2sa_range`): an optional family prefix
//! (`ipv4@`, `ipv6@`, `tcp@`, `tcp4@`, `tcp6@`), then the port after the
//! last colon, unless the address is in brackets (`[::1]:80`). So
//! `:::80` is port 80 on `::` and `2001:db8::1:80` port 80 on
//! `2001:db8::1`. An empty address or `*` is every IPv4 address (every
//! IPv6 one after `ipv6@`), `::` every IPv6 one.
//!
//! rampart's IPv6 listeners are IPv6-only. HAProxy's `::` listener takes
//! IPv4 clients too unless `v6only` is set (Linux's default,
//! net.ipv6.bindv6only = 0), so such a bind is carried as two listeners.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::Notes;

/// Whether the address is a listener's or a server's (a server may not
/// leave the port out: HAProxy would then use the client's).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Bind,
    Server,
}

/// One address of a `bind` or `server` line.
pub(super) fn address(s: &str, role: Role) -> Result<SocketAddr, String> {
    let (family, rest) = match s.split_once('@') {
        Some((prefix, rest)) => (family(prefix, s)?, rest),
        None if s.starts_with('/') => {
            return Err(format!(
                "`{s}`: a UNIX socket; rampart listens on and connects to TCP/IP addresses"
            ));
        }
        None => (Family::Any, s),
    };
    // The port follows the last colon, unless a `]` comes after it.
    let (host, port) = match rest.rfind([':', ']']) {
        Some(i) if rest[i..].starts_with(':') => (&rest[..i], &rest[i + 1..]),
        _ => (rest, ""),
    };
    let port = port_of(port, s, role)?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let ip: IpAddr = match (host, family) {
        ("" | "*", Family::V6) => Ipv6Addr::UNSPECIFIED.into(),
        ("" | "*", _) => Ipv4Addr::UNSPECIFIED.into(),
        (h, f) => {
            let ip: IpAddr = h.parse().map_err(|_| {
                format!(
                    "`{s}`: `{h}` is not an IP address (host names, which HAProxy resolves \
                     at start, are not imported: write the address)"
                )
            })?;
            match (f, ip) {
                (Family::V4, IpAddr::V6(_)) | (Family::V6, IpAddr::V4(_)) => {
                    return Err(format!("`{s}`: the address is not of the prefix's family"));
                }
                _ => ip,
            }
        }
    };
    Ok(SocketAddr::new(ip, port))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    Any,
    V4,
    V6,
}

fn family(prefix: &str, s: &str) -> Result<Family, String> {
    Ok(match prefix {
        "ipv4" | "tcp4" => Family::V4,
        "ipv6" | "tcp6" => Family::V6,
        "tcp" => Family::Any,
        "unix" | "abns" | "abnsz" | "uxst" | "fd" | "sockpair" => {
            return Err(format!(
                "`{s}`: a UNIX socket or inherited descriptor; rampart listens on and \
                 connects to TCP/IP addresses"
            ));
        }
        "udp" | "udp4" | "udp6" | "quic4" | "quic6" | "uxdg" => {
            return Err(format!(
                "`{s}`: a datagram (UDP or QUIC) address; rampart carries TCP"
            ));
        }
        other => return Err(format!("`{s}`: unknown address prefix `{other}@`")),
    })
}

fn port_of(p: &str, s: &str, role: Role) -> Result<u16, String> {
    if p.is_empty() {
        return Err(match role {
            Role::Bind => format!("`{s}` has no port"),
            Role::Server => format!(
                "`{s}` has no port: HAProxy would connect to the port each client \
                 connected to; rampart needs a fixed port"
            ),
        });
    }
    if p.starts_with(['+', '-']) {
        return Err(format!(
            "`{s}`: a port offset; rampart connects to a fixed port"
        ));
    }
    let one = |x: &str| -> Result<u16, String> {
        x.parse::<u16>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("`{s}`: `{x}` is not a port (1-65535)"))
    };
    match p.split_once('-') {
        None => one(p),
        Some((a, b)) => {
            let (a, b) = (one(a)?, one(b)?);
            if a == b {
                Ok(a)
            } else {
                Err(format!(
                    "`{s}`: a port range ({a}-{b}); rampart listens on single ports: \
                     write the ports you need as separate addresses"
                ))
            }
        }
    }
}

/// A `bind` line's arguments: its addresses, then its options. Returns
/// the listeners, each once.
pub(super) fn bind(
    args: &[String],
    line: usize,
    notes: &mut Notes,
) -> Result<Vec<SocketAddr>, String> {
    let Some((list, options)) = args.split_first() else {
        return Err("`bind` needs an address".into());
    };
    let mut v6only = None;
    let mut it = options.iter();
    while let Some(o) = it.next() {
        match o.as_str() {
            "v6only" => v6only = Some(true),
            "v4v6" => v6only = Some(false),
            "ssl" => {
                return Err(
                    "`bind ... ssl`: HAProxy terminates TLS here; rampart forwards \
                            TCP as it comes, so the servers would receive TLS they do not \
                            expect. Terminate TLS on the servers first"
                        .into(),
                );
            }
            "accept-proxy" => {
                return Err(
                    "`bind ... accept-proxy`: clients send a PROXY protocol header, \
                            which rampart's frontends do not read (the servers would \
                            receive it as data)"
                        .into(),
                );
            }
            "namespace" => {
                return Err(
                    "`bind ... namespace`: rampart listens in its own network namespace".into(),
                );
            }
            "transparent" | "freebind" => notes.warn(
                line,
                format!("bind option `{o}` not needed: rampart binds with IP_FREEBIND"),
            ),
            k => {
                let value = if BIND_VALUE_OPTIONS.contains(&k) {
                    it.next().map(|v| format!(" {v}")).unwrap_or_default()
                } else {
                    String::new()
                };
                notes.warn(
                    line,
                    format!("bind option `{k}{value}` not imported: rampart has no counterpart"),
                );
            }
        }
    }
    let mut out: Vec<SocketAddr> = Vec::new();
    for a in list.split(',') {
        let addr = address(a, Role::Bind)?;
        let mut push = |a: SocketAddr| {
            if !out.contains(&a) {
                out.push(a);
            }
        };
        push(addr);
        if addr.ip() == IpAddr::V6(Ipv6Addr::UNSPECIFIED) && v6only != Some(true) {
            let v4 = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), addr.port());
            if v6only.is_none() {
                notes.warn(
                    line,
                    format!(
                        "`{a}` takes IPv4 clients too (HAProxy leaves the socket dual-stack \
                         unless `v6only`, with Linux's default net.ipv6.bindv6only = 0): \
                         imported as {addr} and {v4}, since rampart's IPv6 listeners are \
                         IPv6-only; add `v6only` to the bind line if IPv4 was not served"
                    ),
                );
            }
            push(v4);
        }
    }
    Ok(out)
}

/// Bind options that take a value (so the value is not read as an option).
const BIND_VALUE_OPTIONS: &[&str] = &[
    "alpn",
    "backlog",
    "ca-file",
    "ca-ignore-err",
    "ca-sign-file",
    "ca-sign-pass",
    "ciphers",
    "ciphersuites",
    "crl-file",
    "crt",
    "crt-ignore-err",
    "crt-list",
    "curves",
    "ecdhe",
    "gid",
    "group",
    "guid-prefix",
    "id",
    "interface",
    "label",
    "level",
    "maxconn",
    "mode",
    "mss",
    "name",
    "nice",
    "npn",
    "process",
    "proto",
    "severity-output",
    "shards",
    "sigalgs",
    "ssl-max-ver",
    "ssl-min-ver",
    "tcp-ut",
    "thread",
    "tls-ticket-keys",
    "uid",
    "user",
    "verify",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> String {
        address(s, Role::Bind)
            .map(|a| a.to_string())
            .unwrap_or_else(|e| e)
    }

    #[test]
    fn haproxys_address_forms() {
        assert_eq!(a(":80"), "0.0.0.0:80");
        assert_eq!(a("*:80"), "0.0.0.0:80");
        assert_eq!(a("0.0.0.0:80"), "0.0.0.0:80");
        assert_eq!(a("10.0.0.1:8080"), "10.0.0.1:8080");
        assert_eq!(a(":::80"), "[::]:80");
        assert_eq!(a("[::]:80"), "[::]:80");
        assert_eq!(a("ipv6@:80"), "[::]:80");
        assert_eq!(a("ipv6@*:80"), "[::]:80");
        assert_eq!(a("ipv4@:80"), "0.0.0.0:80");
        assert_eq!(a("ipv4@10.0.0.1:80"), "10.0.0.1:80");
        assert_eq!(a("tcp6@2001:db8::1:443"), "[2001:db8::1]:443");
        assert_eq!(a("tcp@192.0.2.1:25"), "192.0.2.1:25");
        assert_eq!(a("2001:db8::1:80"), "[2001:db8::1]:80");
        assert_eq!(a("[2001:db8::1]:80"), "[2001:db8::1]:80");
        assert_eq!(a("::1:80"), "[::1]:80");
        assert_eq!(a("10.0.0.1:80-80"), "10.0.0.1:80");
        for (bad, why) in [
            ("10.0.0.1:80-90", "a port range (80-90)"),
            ("10.0.0.1", "has no port"),
            ("[::1]", "has no port"),
            ("ipv4@::1:80", "not of the prefix's family"),
            ("ipv6@10.0.0.1:80", "not of the prefix's family"),
            ("www.example.org:80", "host names"),
            ("unix@/run/haproxy.sock", "UNIX socket"),
            ("/run/h.sock", "UNIX socket"),
            ("fd@3", "UNIX socket or inherited"),
            ("quic4@:443", "datagram"),
            ("udp@:53", "datagram"),
            ("foo@:80", "unknown address prefix"),
            (":0", "not a port"),
            (":65536", "not a port"),
            (":+1", "offset"),
            ("[::1:80", "not an IP address"),
        ] {
            assert!(a(bad).contains(why), "{bad}: {}", a(bad));
        }
        assert!(
            address("10.0.0.1", Role::Server)
                .is_err_and(|e| e.contains("the port each client connected to"))
        );
    }

    fn binds(line: &str) -> (Result<Vec<String>, String>, Vec<String>) {
        let mut notes = Notes::default();
        let args: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        let got = bind(&args, 1, &mut notes).map(|v| v.iter().map(ToString::to_string).collect());
        (got, notes.warnings.into_iter().map(|(_, w)| w).collect())
    }

    #[test]
    fn bind_lines() {
        let (got, w) = binds(":80,:443");
        assert_eq!(got.unwrap(), ["0.0.0.0:80", "0.0.0.0:443"]);
        assert!(w.is_empty());
        // `::` alone is dual-stack in HAProxy (by default).
        let (got, w) = binds(":::80");
        assert_eq!(got.unwrap(), ["[::]:80", "0.0.0.0:80"]);
        assert!(w[0].contains("takes IPv4 clients too"), "{w:?}");
        let (got, w) = binds(":::80 v4v6");
        assert_eq!(got.unwrap(), ["[::]:80", "0.0.0.0:80"]);
        assert!(w.is_empty());
        let (got, _) = binds(":::80 v6only");
        assert_eq!(got.unwrap(), ["[::]:80"]);
        // Twice the same listener is one.
        let (got, _) = binds(":80,*:80,0.0.0.0:80");
        assert_eq!(got.unwrap(), ["0.0.0.0:80"]);
        let (got, w) = binds("10.0.0.1:80 name web interface eth0 transparent");
        assert_eq!(got.unwrap(), ["10.0.0.1:80"]);
        assert_eq!(
            w,
            [
                "bind option `name web` not imported: rampart has no counterpart",
                "bind option `interface eth0` not imported: rampart has no counterpart",
                "bind option `transparent` not needed: rampart binds with IP_FREEBIND",
            ]
        );
        assert!(
            binds(":443 ssl crt /etc/ssl/x.pem")
                .0
                .is_err_and(|e| e.contains("TLS"))
        );
        assert!(
            binds(":80 accept-proxy")
                .0
                .is_err_and(|e| e.contains("PROXY"))
        );
        assert!(
            binds(":1000-2000")
                .0
                .is_err_and(|e| e.contains("port range"))
        );
    }
}

//! Addresses and interface names, as every section writes them.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use toml::Spanned;

use super::{Value, string};
use crate::diag::Sink;

/// Linux `IFNAMSIZ` less the terminating zero.
pub(crate) const IFNAME_MAX: usize = 15;

/// `IP:PORT` with a non-zero port. Host names are not accepted: resolving
/// them at load time would make a config valid or not depending on DNS.
pub(crate) fn socket_addr(key: &str, s: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = s.parse().map_err(|_| {
        format!(
            "`{key}`: `{s}` is not a socket address; write IP:PORT, \
             e.g. 127.0.0.1:8080 or [::1]:8080"
        )
    })?;
    if addr.port() == 0 {
        return Err(format!(
            "`{key}`: port 0 in `{s}`; a fixed port is required"
        ));
    }
    Ok(addr)
}

/// A CIDR, or a bare address meaning just that host (/32 or /128).
pub(crate) fn cidr(key: &str, s: &str) -> Result<IpNet, String> {
    if let Ok(net) = s.parse::<IpNet>() {
        return Ok(net);
    }
    s.parse::<IpAddr>().map(IpNet::from).map_err(|_| {
        format!(
            "`{key}`: `{s}` is not a CIDR or an address; \
             write e.g. 10.0.0.0/8, 2001:db8::/32 or 192.0.2.7"
        )
    })
}

/// A bare IP address (no prefix).
pub(crate) fn ip(key: &str, s: &str) -> Result<IpAddr, String> {
    s.parse().map_err(|_| {
        format!("`{key}`: `{s}` is not an IP address; write e.g. 192.0.2.7 or 2001:db8::7")
    })
}

/// A bare IP address with its span.
pub(crate) fn address(v: &Value, key: &str, sink: &mut Sink) -> Option<Spanned<IpAddr>> {
    let s = string(v, key, sink)?;
    let ip = ip(key, s).map_err(|e| sink.error(v.span(), e)).ok()?;
    Some(Spanned::new(v.span(), ip))
}

/// A network interface name as Linux accepts it (`dev_valid_name`).
pub(crate) fn ifname(v: &Value, key: &str, sink: &mut Sink) -> Option<Spanned<String>> {
    let s = string(v, key, sink)?;
    if let Err(e) = check_ifname(s) {
        sink.error(v.span(), format!("`{key}`: {e}"));
        return None;
    }
    Some(Spanned::new(v.span(), s.to_string()))
}

fn check_ifname(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("an interface name must not be empty".to_string());
    }
    if s.len() > IFNAME_MAX {
        return Err(format!(
            "`{s}` is {} bytes; Linux interface names have at most {IFNAME_MAX}",
            s.len()
        ));
    }
    if s == "." || s == ".." || s.chars().any(|c| c == '/' || c == ':' || c.is_whitespace()) {
        return Err(format!(
            "`{s}` is not a valid interface name (no '/', ':' or spaces)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_addresses() {
        assert!(socket_addr("bind", "127.0.0.1:8080").is_ok());
        assert!(socket_addr("bind", "[::1]:8080").is_ok());
        assert!(socket_addr("bind", "127.0.0.1:0").is_err_and(|e| e.contains("port 0")));
        assert!(socket_addr("bind", "localhost:80").is_err());
        assert!(socket_addr("bind", "127.0.0.1").is_err());
        assert!(socket_addr("bind", "::1:80").is_err());
    }

    #[test]
    fn cidrs_and_bare_addresses() {
        assert_eq!(cidr("allow", "10.0.0.0/8").map(|n| n.prefix_len()), Ok(8));
        assert_eq!(cidr("allow", "192.0.2.7").map(|n| n.prefix_len()), Ok(32));
        assert_eq!(cidr("allow", "::1").map(|n| n.prefix_len()), Ok(128));
        assert!(cidr("allow", "10.0.0.0/33").is_err());
        assert!(cidr("allow", "ten").is_err());
    }

    #[test]
    fn interface_names() {
        assert!(check_ifname("eth0").is_ok());
        assert!(check_ifname("enp1s0f1.100").is_ok());
        assert!(check_ifname("a23456789012345").is_ok());
        assert!(check_ifname("a234567890123456").is_err_and(|e| e.contains("at most 15")));
        assert!(check_ifname("").is_err());
        assert!(check_ifname("..").is_err());
        assert!(check_ifname("eth0:1").is_err());
        assert!(check_ifname("eth 0").is_err());
        assert!(check_ifname("a/b").is_err());
    }
}

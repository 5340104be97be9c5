//! Helpers shared by the integration tests.

#![allow(clippy::unwrap_used, dead_code)]

use std::net::IpAddr;

pub fn ipv4(s: &str) -> IpAddr {
    IpAddr::V4(s.parse().unwrap())
}

pub fn ipv6(s: &str) -> IpAddr {
    IpAddr::V6(s.parse().unwrap())
}

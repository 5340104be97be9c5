//! Helpers shared by the integration tests.

#![allow(clippy::unwrap_used, dead_code)]

use ipnet::IpNet;

/// Bytes from hex with any whitespace.
pub fn h(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

/// The 16-byte marker, the length and the type, as hex.
pub fn hdr(len: u16, ty: u8) -> String {
    format!("{} {len:04x} {ty:02x}", "ff".repeat(16))
}

pub fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

pub mod harness;
pub mod strategies;

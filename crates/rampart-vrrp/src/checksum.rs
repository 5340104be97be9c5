//! The Internet checksum (RFC 1071) as VRRP uses it.
//!
//! VRRPv2 sums the VRRP message only. VRRPv3 adds the pseudo-header of
//! the IP version it runs over (RFC 5798 §5.2.8): for IPv6 the one from
//! RFC 8200 §8.1, for IPv4 the TCP/UDP-style one from RFC 768/793. RFC 9568
//! later allowed v3 over IPv4 to drop the pseudo-header, and keepalived
//! offers both (`v3_checksum_as_v2`), so the IPv4 form is chosen per call.

use std::net::IpAddr;

use crate::packet::IPPROTO_VRRP;

/// Adds `data` as big-endian 16-bit words to `acc`; an odd trailing byte
/// is padded with a zero byte, as RFC 1071 says.
///
/// `acc` is a `u64` so that no realistic input can overflow before
/// [`fold`]: a VRRP message is at most 8 + 255 * 16 + 8 bytes.
pub(crate) fn add(mut acc: u64, data: &[u8]) -> u64 {
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        acc += u64::from(u16::from_be_bytes([*last, 0]));
    }
    acc
}

/// Folds the carries back in: the 16-bit one's complement sum of `acc`.
pub(crate) fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    // The loop leaves at most 0xffff.
    u16::try_from(acc).unwrap_or(0xffff)
}

/// Adds the pseudo-header for a VRRP message of `len` bytes sent from
/// `src` to `dst`.
///
/// Returns `None` when `src` and `dst` are of different IP versions
/// (no such packet exists), or when `len` does not fit the pseudo-header's
/// length field (the caller has already bounded it, so this does not
/// happen in practice).
pub(crate) fn add_pseudo_header(acc: u64, src: IpAddr, dst: IpAddr, len: usize) -> Option<u64> {
    match (src, dst) {
        // RFC 768: src(4) dst(4) zero(1) protocol(1) length(2)
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let len = u16::try_from(len).ok()?;
            let mut acc = add(acc, &s.octets());
            acc = add(acc, &d.octets());
            acc = add(acc, &[0, IPPROTO_VRRP]);
            Some(add(acc, &len.to_be_bytes()))
        }
        // RFC 8200 §8.1: src(16) dst(16) length(4) zero(3) next header(1)
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let len = u32::try_from(len).ok()?;
            let mut acc = add(acc, &s.octets());
            acc = add(acc, &d.octets());
            acc = add(acc, &len.to_be_bytes());
            Some(add(acc, &[0, 0, 0, IPPROTO_VRRP]))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (after
        // folding the carry 2 into 0xddf0).
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(add(0, &data)), 0xddf2);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(fold(add(0, &[0x12, 0x34, 0x56])), 0x1234 + 0x5600);
    }

    #[test]
    fn fold_handles_many_carries() {
        assert_eq!(fold(0xffff_ffff), 0xffff);
        assert_eq!(fold(0x1_0000), 1);
    }
}

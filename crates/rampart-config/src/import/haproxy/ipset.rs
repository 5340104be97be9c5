//! Sets of IP addresses as sorted, disjoint ranges, with union,
//! intersection and complement, and back to CIDRs. HAProxy decides who is
//! served with a list of first-match rules over ACLs; rampart with an
//! `allow` and a `deny` list. Computing the set of admitted addresses
//! exactly, and writing it back as CIDRs, carries any such list of rules
//! over source addresses without approximation.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// A set of IPv4 and IPv6 addresses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct IpSet {
    /// Inclusive ranges, sorted and disjoint, not adjacent.
    v4: Vec<(u128, u128)>,
    v6: Vec<(u128, u128)>,
}

const V4_MAX: u128 = u32::MAX as u128;
const V6_MAX: u128 = u128::MAX;

impl IpSet {
    /// No address.
    pub(super) fn none() -> IpSet {
        IpSet::default()
    }

    /// Every address.
    pub(super) fn all() -> IpSet {
        IpSet {
            v4: vec![(0, V4_MAX)],
            v6: vec![(0, V6_MAX)],
        }
    }

    pub(super) fn net(net: IpNet) -> IpSet {
        let mut s = IpSet::none();
        match net.trunc() {
            IpNet::V4(n) => {
                let lo = u128::from(u32::from(n.network()));
                let hi = u128::from(u32::from(n.broadcast()));
                s.v4.push((lo, hi));
            }
            IpNet::V6(n) => {
                let lo = u128::from(n.network());
                let hi = u128::from(n.broadcast());
                s.v6.push((lo, hi));
            }
        }
        s
    }

    pub(super) fn is_all(&self) -> bool {
        *self == IpSet::all()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    pub(super) fn union(&self, other: &IpSet) -> IpSet {
        IpSet {
            v4: union(&self.v4, &other.v4),
            v6: union(&self.v6, &other.v6),
        }
    }

    pub(super) fn complement(&self) -> IpSet {
        IpSet {
            v4: complement(&self.v4, V4_MAX),
            v6: complement(&self.v6, V6_MAX),
        }
    }

    pub(super) fn intersect(&self, other: &IpSet) -> IpSet {
        self.complement().union(&other.complement()).complement()
    }

    pub(super) fn minus(&self, other: &IpSet) -> IpSet {
        self.intersect(&other.complement())
    }

    /// The fewest CIDRs that cover exactly this set, IPv4 first.
    pub(super) fn nets(&self) -> Vec<IpNet> {
        let mut out = Vec::new();
        for &(lo, hi) in &self.v4 {
            cidrs(lo, hi, 32, &mut out, |a, len| {
                let ip = Ipv4Addr::from(u32::try_from(a).unwrap_or(u32::MAX));
                IpNet::new(IpAddr::V4(ip), len).ok()
            });
        }
        for &(lo, hi) in &self.v6 {
            cidrs(lo, hi, 128, &mut out, |a, len| {
                IpNet::new(IpAddr::V6(Ipv6Addr::from(a)), len).ok()
            });
        }
        out
    }
}

fn union(a: &[(u128, u128)], b: &[(u128, u128)]) -> Vec<(u128, u128)> {
    let mut all: Vec<(u128, u128)> = a.iter().chain(b).copied().collect();
    all.sort_unstable();
    let mut out: Vec<(u128, u128)> = Vec::with_capacity(all.len());
    for (lo, hi) in all {
        match out.last_mut() {
            // Overlapping or adjacent: one range.
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

fn complement(ranges: &[(u128, u128)], max: u128) -> Vec<(u128, u128)> {
    let mut out = Vec::new();
    let mut next = Some(0u128);
    for &(lo, hi) in ranges {
        if let Some(n) = next
            && n < lo
        {
            out.push((n, lo - 1));
        }
        next = hi.checked_add(1).filter(|n| *n <= max);
    }
    if let Some(n) = next {
        out.push((n, max));
    }
    out
}

/// Splits `lo..=hi` into aligned blocks, largest first.
fn cidrs(
    mut lo: u128,
    hi: u128,
    bits: u32,
    out: &mut Vec<IpNet>,
    make: impl Fn(u128, u8) -> Option<IpNet>,
) {
    loop {
        // The largest block that starts at `lo` (aligned) and ends by `hi`.
        let mut size = if lo == 0 {
            bits
        } else {
            lo.trailing_zeros().min(bits)
        };
        let end = loop {
            let span = if size >= 128 {
                u128::MAX
            } else {
                (1u128 << size) - 1
            };
            match lo.checked_add(span) {
                Some(end) if end <= hi => break end,
                _ => size -= 1,
            }
        };
        let len = u8::try_from(bits - size).unwrap_or(0);
        out.extend(make(lo, len));
        match end.checked_add(1) {
            Some(n) if n <= hi => lo = n,
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(nets: &[&str]) -> IpSet {
        nets.iter()
            .map(|n| IpSet::net(n.parse().unwrap()))
            .fold(IpSet::none(), |a, b| a.union(&b))
    }

    fn strings(s: &IpSet) -> Vec<String> {
        s.nets().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn algebra_and_cidrs() {
        let office = set(&["10.0.0.0/8", "192.168.0.0/16"]);
        assert_eq!(strings(&office), ["10.0.0.0/8", "192.168.0.0/16"]);
        assert!(office.union(&office.complement()).is_all());
        assert!(office.intersect(&office.complement()).is_empty());
        assert_eq!(office.complement().complement(), office);
        // 10.0.0.0/8 minus 10.1.0.0/16: the 8 blocks around the hole.
        let holed = set(&["10.0.0.0/8"]).minus(&set(&["10.1.0.0/16"]));
        let nets = strings(&holed);
        assert_eq!(nets.len(), 8);
        assert_eq!(nets[0], "10.0.0.0/16");
        assert_eq!(nets[1], "10.2.0.0/15");
        assert_eq!(nets[7], "10.128.0.0/9");
        // Adjacent blocks merge; the whole space is one net per family.
        assert_eq!(
            strings(&set(&["0.0.0.0/1", "128.0.0.0/1", "::/0"])),
            ["0.0.0.0/0", "::/0"]
        );
        assert_eq!(
            strings(&set(&[
                "10.0.0.1/32",
                "10.0.0.2/32",
                "2001:db8::/33",
                "2001:db8:8000::/33"
            ])),
            ["10.0.0.1/32", "10.0.0.2/32", "2001:db8::/32"]
        );
        // Host bits are dropped, as HAProxy masks them.
        assert_eq!(strings(&set(&["10.1.2.3/8"])), ["10.0.0.0/8"]);
        // The complement of one IPv4 host: 32 IPv4 blocks and all of IPv6.
        let not_one = set(&["192.0.2.7/32"]).complement();
        assert_eq!(not_one.nets().len(), 33);
        assert!(not_one.nets().contains(&"::/0".parse().unwrap()));
        assert!(IpSet::all().complement().is_empty());
        assert_eq!(strings(&IpSet::all()), ["0.0.0.0/0", "::/0"]);
    }
}

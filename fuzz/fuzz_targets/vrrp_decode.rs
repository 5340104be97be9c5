//! The VRRP decoder never panics, and what it accepts re-encodes to a
//! message it accepts again as the same advert.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&family, payload)) = data.split_first() else { return };
    let (src, dst): (IpAddr, IpAddr) = if family & 1 == 0 {
        (Ipv4Addr::new(10, 0, 0, 1).into(), Ipv4Addr::new(224, 0, 0, 18).into())
    } else {
        ("fe80::1".parse::<Ipv6Addr>().unwrap_or(Ipv6Addr::LOCALHOST).into(), "ff02::12".parse::<Ipv6Addr>().unwrap_or(Ipv6Addr::LOCALHOST).into())
    };
    if let Ok((advert, form)) = rampart_vrrp::decode(payload, src, dst) {
        let mut out = Vec::new();
        if rampart_vrrp::encode(&advert, src, dst, form, &mut out).is_ok() {
            let again = rampart_vrrp::decode(&out, src, dst).map(|(a, _)| a);
            assert_eq!(again.ok(), Some(advert));
        }
    }
});

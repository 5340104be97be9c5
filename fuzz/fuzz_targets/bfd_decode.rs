//! The BFD decoder never panics, and what it accepts re-encodes to the
//! same packet; the endpoint takes any datagram (with any TTL byte)
//! without panicking.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(p) = rampart_bfd::decode(data) {
        assert_eq!(rampart_bfd::decode(&rampart_bfd::encode(&p)), Ok(p));
    }
    let Some((&ttl, payload)) = data.split_first() else { return };
    let now = Instant::now();
    let peer = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    let mut e = rampart_bfd::Endpoint::new(7);
    e.set(now, peer, rampart_bfd::SessionConfig {
        desired_min_tx: std::time::Duration::from_millis(100),
        required_min_rx: std::time::Duration::from_millis(100),
        detect_mult: 3,
    });
    let _ = e.handle_datagram(now, peer, ttl, payload);
    e.handle_timeout(now);
    while e.poll_action().is_some() {}
});

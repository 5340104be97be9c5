//! `rampart vrrp resign` / `resume` on a simulated network: a master hands
//! its mastership over for maintenance the way a graceful stop does
//! (priority 0, addresses kept until the peer has them), stays out while
//! resigned, and takes over again once resumed (it has the higher
//! priority and preempts).
#![allow(clippy::unwrap_used)]

mod sim;

use std::time::Duration;

use rampart_vrrp::{State, Version};
use sim::{LATENCY, Net, cfg};

const MS: fn(u64) -> Duration = Duration::from_millis;

#[test]
fn a_resigned_master_hands_over_stays_out_and_comes_back_on_resume() {
    let mut net = Net::new(3);
    net.add(vec![cfg(1, 7, Version::V3, 150, 10)], vec![]);
    net.add(vec![cfg(2, 7, Version::V3, 100, 10)], vec![]);
    net.start(0);
    net.start(1);
    net.run(Duration::from_secs(5));
    assert_eq!(net.masters(0), vec![0]);
    let t = net.elapsed();
    net.resign(0, 0, Duration::from_secs(3));
    net.run(Duration::from_secs(5));
    // Priority 0 first, then the peer within its skew time.
    let sent = net.adverts_since(0, 0, t);
    assert_eq!(sent.first().map(|(_, a)| a.priority), Some(0));
    let took = net.last_became(1, 0, State::Master).unwrap() - t;
    assert!(took <= MS(61) + LATENCY, "took over after {took:?}");
    assert_eq!(net.masters(0), vec![1]);
    assert_eq!(net.holders(0), vec![1]);
    assert_eq!(net.state(0, 0), State::Stopped);
    // Silent while resigned (the one priority-0 advert aside).
    let quiet = net.elapsed();
    net.run(Duration::from_secs(5));
    assert!(net.adverts_since(0, 0, quiet).is_empty());

    net.reinstate(0, 0);
    net.run(Duration::from_secs(5));
    assert_eq!(net.masters(0), vec![0]);
    assert_eq!(net.holders(0), vec![0]);
    // Resume is a no-op for an instance that runs.
    let t2 = net.elapsed();
    net.reinstate(0, 0);
    net.run(Duration::from_secs(1));
    assert!(net.changes_since(0, 0, t2).is_empty());
}

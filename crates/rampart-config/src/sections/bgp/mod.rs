//! `[bgp]`: its own settings. Neighbors are in [`neighbor`] (their BFD
//! in [`bfd`]), announcements in [`announce`], what the section and its
//! neighbors both read in [`common`]; checks across them are in
//! [`crate::validate::bgp`].

mod announce;
mod bfd;
pub(crate) mod common;
mod neighbor;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::defaults;
use crate::diag::Sink;
use crate::model::{Bgp, Family};
use crate::reader::Reader;
use crate::values::{self, Value};
use common::{asn, hold_time};
use neighbor::Inherited;

pub(crate) use announce::AnnounceAt;
pub(crate) use neighbor::NeighborAt;

/// The connect-retry backoff doubles up to this (RFC 4271's suggested
/// ConnectRetryTime); a first wait above it would never back off.
pub(crate) const CONNECT_RETRY_MAX: Duration = Duration::from_secs(120);

/// The parsed section plus the places that checks across it point at.
pub(crate) struct BgpAt {
    pub(crate) router_id: Option<Ipv4Addr>,
    pub(crate) local_as: u32,
    pub(crate) hold_time: Duration,
    pub(crate) connect_retry: Duration,
    pub(crate) hold_down: Duration,
    pub(crate) shutdown_bound: Duration,
    pub(crate) neighbors: Vec<NeighborAt>,
    pub(crate) announces: Vec<AnnounceAt>,
}

impl Default for BgpAt {
    fn default() -> Self {
        let b = Bgp::default();
        BgpAt {
            router_id: b.router_id,
            local_as: b.local_as,
            hold_time: b.hold_time,
            connect_retry: b.connect_retry,
            hold_down: b.hold_down,
            shutdown_bound: b.shutdown_bound,
            neighbors: Vec::new(),
            announces: Vec::new(),
        }
    }
}

impl BgpAt {
    /// The model, with each announcement's default neighbors filled in:
    /// every neighbor that carries the prefix's family.
    pub(crate) fn into_model(self) -> Bgp {
        let neighbors: Vec<_> = self.neighbors.into_iter().map(|n| n.neighbor).collect();
        let announces = self
            .announces
            .into_iter()
            .map(|a| {
                let mut announce = a.announce;
                if a.neighbors.is_none() {
                    let fam = Family::of(announce.prefix.addr());
                    announce.neighbors = neighbors
                        .iter()
                        .filter(|n| n.carries(fam))
                        .map(|n| n.name.clone())
                        .collect();
                }
                announce
            })
            .collect();
        Bgp {
            router_id: self.router_id,
            local_as: self.local_as,
            hold_time: self.hold_time,
            connect_retry: self.connect_retry,
            hold_down: self.hold_down,
            shutdown_bound: self.shutdown_bound,
            neighbors,
            announces,
        }
    }
}

// === [bgp] ===

pub(crate) fn bgp(t: &Reader, sink: &mut Sink) -> BgpAt {
    let neighbors = t.tables("neighbor", "bgp.neighbor", "bgp neighbor", sink);
    // Without neighbors the section is only kept for later: nothing is
    // required, so that `[bgp]` can stay in a file with BGP switched off.
    let (router_id, local_as) = if neighbors.is_empty() {
        (
            t.opt("router_id", sink, router_id),
            t.opt("local_as", sink, asn),
        )
    } else {
        (
            t.req("router_id", sink, router_id),
            t.req("local_as", sink, asn),
        )
    };
    let hold_time = t
        .opt("hold_time", sink, hold_time)
        .unwrap_or(defaults::BGP_HOLD_TIME);
    let connect_retry = t
        .opt("connect_retry", sink, connect_retry)
        .unwrap_or(defaults::BGP_CONNECT_RETRY);
    // Zero is meaningful for both: announce again at once; close at once.
    let hold_down = t
        .duration("hold_down", false, sink)
        .unwrap_or(defaults::BGP_HOLD_DOWN);
    let shutdown_bound = t
        .duration("shutdown_bound", false, sink)
        .unwrap_or(defaults::BGP_SHUTDOWN_BOUND);
    let inherited = Inherited {
        local_as,
        hold_time,
    };
    let neighbors = neighbors
        .iter()
        .map(|n| n.read(sink, |n, sink| neighbor::neighbor(n, &inherited, sink)))
        .collect();
    let announces = t
        .tables("announce", "bgp.announce", "bgp announce", sink)
        .iter()
        .map(|a| a.read(sink, announce::announce))
        .collect();
    BgpAt {
        router_id,
        local_as: local_as.unwrap_or(0),
        hold_time,
        connect_retry,
        hold_down,
        shutdown_bound,
        neighbors,
        announces,
    }
}

/// At least 1 s, so that a router that refuses connections is not
/// hammered; at most the backoff's cap.
fn connect_retry(v: &Value, key: &str, sink: &mut Sink) -> Option<Duration> {
    let d = values::duration(v, key, false, sink)?;
    if (Duration::from_secs(1)..=CONNECT_RETRY_MAX).contains(&d) {
        return Some(d);
    }
    let written = v.get_ref().as_str().unwrap_or_default();
    sink.error(
        v.span(),
        format!(
            "`{key}` must be between 1s and 120s (the retry wait doubles up to 120s), \
             got {written}"
        ),
    );
    None
}

// === Leaf parsers ===

/// The BGP identifier: an IPv4 address, not 0.0.0.0.
fn router_id(v: &Value, key: &str, sink: &mut Sink) -> Option<Ipv4Addr> {
    let s = values::string(v, key, sink)?;
    let problem = match s.parse::<IpAddr>() {
        Ok(IpAddr::V4(id)) if !id.is_unspecified() => return Some(id),
        Ok(IpAddr::V4(_)) => {
            format!("`{key}` must not be 0.0.0.0: the BGP identifier is non-zero (RFC 6286)")
        }
        Ok(IpAddr::V6(_)) => format!(
            "`{key}` must be written as an IPv4 address, got `{s}`: the BGP identifier \
             is 32 bits (RFC 6286), even on IPv6-only nodes"
        ),
        Err(_) => format!(
            "`{key}`: `{s}` is not an IPv4 address; write e.g. 10.99.181.141 (usually \
             the node's own address)"
        ),
    };
    sink.error(v.span(), problem);
    None
}

//! Routes to announce and the attributes each one gets on a session.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::aspath::{AsPath, Community, LargeCommunity};
use crate::attr::{Attribute, MpReach, Origin};
use crate::nlri::Family;
use crate::open::AS_TRANS;

/// LOCAL_PREF sent to internal peers when the route names none: the
/// value every common implementation assumes as its default, so our
/// routes compete evenly with the peer's own.
pub const DEFAULT_LOCAL_PREF: u32 = 100;

/// A route the caller wants announced: a prefix and what to say about it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Route {
    /// Host bits are ignored (the prefix is truncated).
    pub prefix: IpNet,
    /// `None`: the session's configured next hop for the family, else
    /// the local address of the session's TCP connection.
    pub next_hop: Option<IpAddr>,
    pub med: Option<u32>,
    /// Internal sessions only; `None` sends [`DEFAULT_LOCAL_PREF`].
    pub local_pref: Option<u32>,
    pub communities: Vec<Community>,
    pub large_communities: Vec<LargeCommunity>,
    /// Extra copies of our AS in the AS_PATH on external sessions.
    pub prepend: u8,
}

impl Route {
    /// A route with no optional attributes.
    pub fn new(prefix: IpNet) -> Self {
        Self {
            prefix: prefix.trunc(),
            next_hop: None,
            med: None,
            local_pref: None,
            communities: Vec::new(),
            large_communities: Vec::new(),
            prepend: 0,
        }
    }

    pub fn family(&self) -> Family {
        Family::of(&self.prefix)
    }
}

/// What a session knows that decides a route's attributes.
#[derive(Debug, Clone)]
pub(crate) struct ExportCtx {
    pub local_as: u32,
    pub ebgp: bool,
    pub four_octet_as: bool,
    pub local_addr: Option<IpAddr>,
    pub next_hop_v4: Option<Ipv4Addr>,
    pub next_hop_v6: Option<Ipv6Addr>,
}

/// A route's attributes as sent on one session: what the diff compares.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct PathAttrs {
    pub next_hop: IpAddr,
    pub as_path: Vec<u32>,
    pub med: Option<u32>,
    pub local_pref: Option<u32>,
    pub communities: Vec<Community>,
    pub large_communities: Vec<LargeCommunity>,
}

impl PathAttrs {
    /// The attributes of `route` on a session, or `None` when it has no
    /// usable next hop (an IPv6 route on an IPv4 session without a
    /// configured IPv6 next hop).
    pub(crate) fn resolve(route: &Route, ctx: &ExportCtx) -> Option<Self> {
        let next_hop = match (route.family(), route.next_hop) {
            (Family::Ipv4Unicast, Some(nh @ IpAddr::V4(_))) => nh,
            (Family::Ipv6Unicast, Some(nh @ IpAddr::V6(_))) => nh,
            (_, Some(_)) => return None,
            (Family::Ipv4Unicast, None) => ctx
                .next_hop_v4
                .map(IpAddr::V4)
                .or(ctx.local_addr.filter(IpAddr::is_ipv4))?,
            (Family::Ipv6Unicast, None) => ctx
                .next_hop_v6
                .map(IpAddr::V6)
                .or(ctx.local_addr.filter(IpAddr::is_ipv6))?,
        };
        let as_path = if ctx.ebgp {
            vec![ctx.local_as; 1 + usize::from(route.prepend)]
        } else {
            Vec::new()
        };
        Some(Self {
            next_hop,
            as_path,
            med: route.med,
            local_pref: (!ctx.ebgp).then(|| route.local_pref.unwrap_or(DEFAULT_LOCAL_PREF)),
            communities: route.communities.clone(),
            large_communities: route.large_communities.clone(),
        })
    }

    /// The path attributes of an UPDATE announcing `nlri` (IPv6 prefixes
    /// go in MP_REACH_NLRI, put first as RFC 7606 §5.1 recommends; the
    /// rest in ascending type order as RFC 4271 §5 asks).
    pub(crate) fn attributes(
        &self,
        ctx: &ExportCtx,
        mp_nlri: Option<Vec<IpNet>>,
    ) -> Vec<Attribute> {
        let mut attrs = Vec::with_capacity(8);
        if let (Some(nlri), IpAddr::V6(nh)) = (mp_nlri, self.next_hop) {
            attrs.push(Attribute::MpReach(MpReach {
                family: Family::Ipv6Unicast,
                next_hop: IpAddr::V6(nh),
                link_local: None,
                nlri,
            }));
        }
        attrs.push(Attribute::Origin(Origin::Igp));
        // RFC 6793 §4.2.2: to a speaker without 4-octet AS numbers, ASNs
        // that do not fit become AS_TRANS and the real path rides along
        // in AS4_PATH.
        let needs_as4 = !ctx.four_octet_as && self.as_path.iter().any(|&a| a > 0xffff);
        let two_octet: Vec<u32> = self
            .as_path
            .iter()
            .map(|&a| {
                if a > 0xffff && !ctx.four_octet_as {
                    u32::from(AS_TRANS)
                } else {
                    a
                }
            })
            .collect();
        attrs.push(Attribute::AsPath(AsPath::sequence(&two_octet)));
        if let IpAddr::V4(nh) = self.next_hop {
            attrs.push(Attribute::NextHop(nh));
        }
        if let Some(med) = self.med {
            attrs.push(Attribute::Med(med));
        }
        if let Some(lp) = self.local_pref {
            attrs.push(Attribute::LocalPref(lp));
        }
        if !self.communities.is_empty() {
            attrs.push(Attribute::Communities(self.communities.clone()));
        }
        if needs_as4 {
            attrs.push(Attribute::As4Path(AsPath::sequence(&self.as_path)));
        }
        if !self.large_communities.is_empty() {
            attrs.push(Attribute::LargeCommunities(self.large_communities.clone()));
        }
        attrs
    }
}

//! One `[[bgp.neighbor]]`: its own keys and the checks that need only the
//! neighbor and `[bgp]` (address families and next hops, iBGP-only and
//! eBGP-only attributes, GTSM). Uniqueness across neighbors is in
//! [`crate::validate::bgp`].

use std::net::{IpAddr, Ipv4Addr};
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use crate::defaults;
use crate::diag::Sink;
use crate::model::{Family, Md5Key, Neighbor, PeerMode};
use crate::reader::Reader;
use crate::values::net::address;
use crate::values::{self, Value, byte, name, one_of};

use super::common::{asn, hold_time};

/// More than 10 extra copies of one AS is a typo rather than traffic
/// engineering, and routers commonly filter paths that long.
const PREPEND_MAX: u8 = 10;

/// What a neighbor takes from `[bgp]`.
pub(crate) struct Inherited {
    /// `None` when missing or written wrong: checks that depend on
    /// iBGP/eBGP are then skipped rather than guessed.
    pub(crate) local_as: Option<u32>,
    pub(crate) hold_time: Duration,
}

/// A neighbor plus the places that checks across neighbors point at.
pub(crate) struct NeighborAt {
    pub(crate) neighbor: Neighbor,
    pub(crate) name: Option<Range<usize>>,
    pub(crate) address: Option<Range<usize>>,
}

pub(crate) fn neighbor(t: &Reader, inherited: &Inherited, sink: &mut Sink) -> NeighborAt {
    let name = t.req("name", sink, name);
    let addr = t.req("address", sink, address);
    let remote_as = t.req("remote_as", sink, asn);
    let session = addr.as_ref().map(|a| *a.get_ref());
    let local_address = t.opt("local_address", sink, |v, key, sink| {
        let ip = *address(v, key, sink)?.get_ref();
        match session.filter(|s| Family::of(*s) != Family::of(ip)) {
            Some(s) => {
                let (theirs, ours) = (Family::of(s).name(), Family::of(ip).name());
                sink.error(
                    v.span(),
                    format!(
                        "`{key}` {ip} is {ours} but `address` {s} is {theirs}; both \
                         ends of a session are of one family"
                    ),
                );
                None
            }
            None => Some(ip),
        }
    });
    let port = t
        .integer("port", 1, u32::from(u16::MAX), sink)
        .and_then(|n| u16::try_from(n).ok())
        .unwrap_or(defaults::BGP_PORT);
    let mode = t.opt("mode", sink, mode).unwrap_or(defaults::BGP_MODE);
    let password = t.opt("password", sink, password);
    let hold_time = t
        .opt("hold_time", sink, hold_time)
        .unwrap_or(inherited.hold_time);
    let multihop = t
        .opt("multihop", sink, |v, key, sink| {
            byte(v, key, 1, u8::MAX, sink)
        })
        .unwrap_or(defaults::BGP_MULTIHOP);
    let ttl_security = t
        .opt("ttl_security", sink, |v, key, sink| {
            let on = values::boolean(v, key, sink)?;
            if on && multihop > 1 {
                sink.error(
                    v.span(),
                    format!(
                        "`ttl_security` cannot be combined with `multihop = {multihop}`: GTSM \
                         (RFC 5082) sends TTL 255 and accepts only 254 or more, i.e. directly \
                         connected neighbors"
                    ),
                );
            }
            Some(on)
        })
        .unwrap_or(false);
    let v4 = next_hop(t, "next_hop_v4", Family::Ipv4, sink);
    let v6 = next_hop(t, "next_hop_v6", Family::Ipv6, sink);
    let families = families(t, session.map(Family::of), [&v4, &v6], sink);

    // `None` when either AS is missing or wrong: the checks that depend on
    // the kind of session are then skipped.
    let ibgp = inherited.local_as.zip(remote_as).map(|(l, r)| l == r);
    let prepend = t
        .opt("prepend", sink, |v, key, sink| {
            let n = byte(v, key, 0, PREPEND_MAX, sink)?;
            if n > 0 && ibgp == Some(true) {
                sink.error(
                    v.span(),
                    "`prepend` applies only to eBGP: our AS is not put in the AS_PATH on iBGP \
                     sessions (`remote_as` equals `local_as`)",
                );
            }
            Some(n)
        })
        .unwrap_or(0);
    // iBGP sends LOCAL_PREF, by default 100.
    let ibgp_default = (ibgp == Some(true)).then_some(defaults::BGP_LOCAL_PREF);
    let local_pref = t
        .opt_or("local_pref", ibgp_default, sink, |v, key, sink| {
            let n = values::integer(v, key, 0, u32::MAX, sink)?;
            if ibgp == Some(false) {
                sink.error(
                    v.span(),
                    "`local_pref` applies only to iBGP (`remote_as` equal to `local_as`): \
                     LOCAL_PREF is not sent to external neighbors (RFC 4271 §5.1.5)",
                );
            }
            Some(Some(n))
        })
        .flatten();
    let med = t.integer("med", 0, u32::MAX, sink);
    let bfd = super::bfd::bfd(t, multihop, sink);

    NeighborAt {
        neighbor: Neighbor {
            name: name
                .as_ref()
                .map(|n| n.get_ref().clone())
                .unwrap_or_default(),
            address: session.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            remote_as: remote_as.unwrap_or(0),
            local_address,
            port,
            mode,
            password,
            hold_time,
            ttl_security,
            multihop,
            families,
            next_hop_v4: v4.as_ref().and_then(|n| match n.get_ref() {
                IpAddr::V4(ip) => Some(*ip),
                IpAddr::V6(_) => None,
            }),
            next_hop_v6: v6.as_ref().and_then(|n| match n.get_ref() {
                IpAddr::V6(ip) => Some(*ip),
                IpAddr::V4(_) => None,
            }),
            prepend,
            local_pref,
            med,
            bfd,
        },
        name: name.map(|n| n.span()),
        address: addr.map(|a| a.span()),
    }
}

fn mode(v: &Value, key: &str, sink: &mut Sink) -> Option<PeerMode> {
    let s = values::string(v, key, sink)?;
    let m = PeerMode::from_name(s);
    if m.is_none() {
        sink.error(v.span(), one_of(key, s, &PeerMode::NAMES));
    }
    m
}

fn password(v: &Value, key: &str, sink: &mut Sink) -> Option<Md5Key> {
    let s = values::string(v, key, sink)?;
    let md5 = Md5Key::new(s.as_bytes());
    if md5.is_none() {
        sink.error(
            v.span(),
            format!(
                "`{key}` must be 1 to {} bytes (Linux TCP_MD5SIG_MAXKEYLEN), got {} bytes",
                Md5Key::MAX_LEN,
                s.len()
            ),
        );
    }
    md5
}

/// `next_hop_v4` or `next_hop_v6`: an address of that family.
fn next_hop(
    t: &Reader,
    key: &'static str,
    want: Family,
    sink: &mut Sink,
) -> Option<Spanned<IpAddr>> {
    let v = t.get(key)?;
    let nh = address(v, key, sink)?;
    let got = Family::of(*nh.get_ref());
    if got != want {
        let other = match got {
            Family::Ipv4 => "next_hop_v4",
            Family::Ipv6 => "next_hop_v6",
        };
        sink.error(
            v.span(),
            format!(
                "`{key}` must be an {} address, got {} ({} next hops go in `{other}`)",
                want.name(),
                nh.get_ref(),
                got.name()
            ),
        );
        return None;
    }
    Some(nh)
}

/// `families`, by default the session's own. Routes carry a next hop of
/// their own family, so a family other than the session's needs its next
/// hop configured (the session's local address is of the wrong family);
/// and a configured next hop needs its family carried, or it is a
/// setting that does nothing.
fn families(
    t: &Reader,
    session: Option<Family>,
    next_hops: [&Option<Spanned<IpAddr>>; 2],
    sink: &mut Sink,
) -> Vec<Family> {
    let mut out: Vec<Spanned<Family>> = Vec::new();
    let mut complete = true;
    match t.get("families") {
        None => out.extend(session.map(|f| Spanned::new(0..0, f))),
        Some(v) => {
            let items = v.get_ref().as_array().map_or(0, |a| a.len());
            if items == 0 && v.get_ref().is_array() {
                sink.error(v.span(), "`families` must list at least one family");
            }
            let list = values::parsed_list(v, "families", sink, |s| {
                Family::from_name(s).ok_or_else(|| one_of("families", s, &Family::NAMES))
            });
            let list = list.unwrap_or_default();
            complete = list.len() == items;
            for f in list {
                if out.iter().any(|o| o.get_ref() == f.get_ref()) {
                    let key = f.get_ref().key();
                    sink.error(
                        f.span(),
                        format!("family `{key}` is listed twice in `families`"),
                    );
                } else {
                    out.push(f);
                }
            }
        }
    }
    let [v4, v6] = next_hops;
    // Written, even if wrong: a wrong one has its own error.
    let configured = |f: Family| match f {
        Family::Ipv4 => t.get("next_hop_v4").is_some(),
        Family::Ipv6 => t.get("next_hop_v6").is_some(),
    };
    for f in &out {
        let fam = *f.get_ref();
        let Some(s) = session.filter(|s| *s != fam && !configured(fam)) else {
            continue;
        };
        let (key, name) = (fam.key(), fam.name());
        let nh = if fam == Family::Ipv4 {
            "next_hop_v4"
        } else {
            "next_hop_v6"
        };
        sink.error(
            f.span(),
            format!(
                "family `{key}` on an {} session needs `{nh}`: {name} routes need an {name} \
                 next hop, and the session's own address is {}",
                s.name(),
                s.name()
            ),
        );
    }
    for (fam, nh, key) in [
        (Family::Ipv4, v4, "next_hop_v4"),
        (Family::Ipv6, v6, "next_hop_v6"),
    ] {
        let carried = out.iter().any(|f| *f.get_ref() == fam);
        if let Some(nh) = nh
            .as_ref()
            .filter(|_| complete && session.is_some() && !carried)
        {
            sink.error(
                nh.span(),
                format!(
                    "`{key}` is set but this neighbor does not carry {}; add \"{}\" to \
                     `families`",
                    fam.name(),
                    fam.key()
                ),
            );
        }
    }
    out.into_iter().map(Spanned::into_inner).collect()
}

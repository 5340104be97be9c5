//! One `[[vrrp.instance]]`: its own keys and the checks that need only the
//! instance itself (version-dependent intervals, address families, the
//! keepalived rules on `nopreempt`). Its lists (addresses, trackers) are in
//! [`super::lists`].

use std::net::IpAddr;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use crate::defaults;
use crate::diag::Sink;
use crate::model::{Family, Garp, InitialState, Password, V3Checksum, VrrpInstance, VrrpVersion};
use crate::reader::{Reader, Table};
use crate::values::net::{ifname, ip};
use crate::values::{self, Value, byte, name, one_of};

use super::{common, lists};

/// keepalived's upper bound on `preempt_delay`.
const PREEMPT_DELAY_MAX: Duration = Duration::from_secs(1000);

/// What an instance takes from `[vrrp]` when it does not say.
pub(crate) struct Inherited {
    pub(crate) version: VrrpVersion,
    pub(crate) checksum: V3Checksum,
    pub(crate) garp: Garp,
}

/// An instance plus the places that checks across instances point at.
pub(crate) struct InstanceAt {
    pub(crate) instance: VrrpInstance,
    pub(crate) name: Option<Range<usize>>,
    pub(crate) vrid: Option<Range<usize>>,
    /// The `track_proxy.frontend` value.
    pub(crate) proxy_frontend: Option<Range<usize>>,
    /// The span of each entry of `instance.track_scripts`.
    pub(crate) scripts: Vec<Range<usize>>,
}

pub(crate) fn instance(t: &Reader, inherited: &Inherited, sink: &mut Sink) -> InstanceAt {
    let name = t.req("name", sink, name);
    let interface = t.req("interface", sink, ifname);
    let vrid = t.req("vrid", sink, |v, key, sink| {
        byte(v, key, 1, u8::MAX, sink).map(|n| Spanned::new(v.span(), n))
    });
    let priority = t
        .opt("priority", sink, |v, key, sink| {
            byte(v, key, 1, u8::MAX, sink)
        })
        .unwrap_or(defaults::VRRP_PRIORITY);
    let initial = t.opt("state", sink, state).unwrap_or(InitialState::Backup);
    // `None` when `version` was written wrong: checks that depend on the
    // version are then skipped rather than guessed.
    let version = t.opt_or("version", inherited.version, sink, common::version);
    let advert_interval = t
        .opt("advert_interval", sink, |v, key, sink| {
            advert_interval(v, key, version, sink)
        })
        .unwrap_or(defaults::VRRP_ADVERT_INTERVAL);
    let preempt = t
        .opt("preempt", sink, |v, key, sink| {
            let b = values::boolean(v, key, sink)?;
            if !b {
                nopreempt(v, initial, priority, sink);
            }
            Some(b)
        })
        .unwrap_or(true);
    let preempt_delay = t
        .opt("preempt_delay", sink, |v, key, sink| {
            let d = values::duration(v, key, false, sink)?;
            if d > PREEMPT_DELAY_MAX {
                let written = v.get_ref().as_str().unwrap_or_default();
                sink.error(
                    v.span(),
                    format!("`{key}` must be at most 1000s (keepalived's limit), got {written}"),
                );
            }
            Some(d)
        })
        .unwrap_or(Duration::ZERO);

    let vips = lists::virtual_addresses(t, version, sink);
    let fam = vips.first().map(|v| Family::of(v.get_ref().net.addr()));
    let (unicast_src, unicast_peers) = unicast(t, fam, sink);
    let multicast = t.get("unicast_peers").is_none();
    let ttl = |v: &Value, key: &str, sink: &mut Sink| {
        if multicast {
            sink.error(
                v.span(),
                format!(
                    "`{key}` applies only with `unicast_peers`; multicast adverts always \
                     use TTL 255"
                ),
            );
        }
        byte(v, key, 1, u8::MAX, sink)
    };
    let unicast_ttl = t
        .opt("unicast_ttl", sink, ttl)
        .unwrap_or(defaults::VRRP_UNICAST_TTL);
    let unicast_min_ttl = t
        .opt("unicast_min_ttl", sink, ttl)
        .unwrap_or(defaults::VRRP_UNICAST_MIN_TTL);
    let auth = t.opt("auth", sink, |v, _, sink| auth(v, version, sink));
    let checksum = t.opt("checksum", sink, |v, key, sink| {
        common::checksum(v, key, sink).inspect(|_| {
            if version == Some(VrrpVersion::V2) {
                sink.error(
                    v.span(),
                    "`checksum` applies only to VRRPv3 over IPv4; this instance is VRRPv2, \
                     whose adverts are always checksummed over the message only",
                );
            } else if fam == Some(Family::Ipv6) {
                sink.error(
                    v.span(),
                    "`checksum` applies only to VRRPv3 over IPv4; IPv6 adverts always use \
                     the pseudo-header",
                );
            }
        })
    });
    let checksum = checksum.unwrap_or(inherited.checksum);
    let (track_proxy, proxy_frontend) = lists::track_proxy(t, sink);
    let track_interfaces = lists::track_interfaces(t, sink);
    let scripts = lists::track_scripts(t, sink);
    let notify = t
        .table("notify", "`notify`", sink)
        .map(|n| n.read(sink, common::notify))
        .unwrap_or_default();
    let garp = t
        .table("garp", "`garp`", sink)
        .map(|g| g.read(sink, |g, sink| common::garp(g, &inherited.garp, sink)))
        .unwrap_or(inherited.garp);

    InstanceAt {
        instance: VrrpInstance {
            name: name
                .as_ref()
                .map(|n| n.get_ref().clone())
                .unwrap_or_default(),
            interface: interface.map(Spanned::into_inner).unwrap_or_default(),
            vrid: vrid.as_ref().map_or(0, |v| *v.get_ref()),
            priority,
            initial,
            version: version.unwrap_or(inherited.version),
            advert_interval,
            preempt,
            preempt_delay,
            unicast_src,
            unicast_peers,
            unicast_ttl,
            unicast_min_ttl,
            auth,
            checksum,
            vips: vips.into_iter().map(Spanned::into_inner).collect(),
            track_proxy,
            track_interfaces,
            track_scripts: scripts.iter().map(|s| s.get_ref().clone()).collect(),
            notify,
            garp,
        },
        name: name.map(|n| n.span()),
        vrid: vrid.map(|v| v.span()),
        proxy_frontend,
        scripts: scripts.iter().map(Spanned::span).collect(),
    }
}

fn state(v: &Value, key: &str, sink: &mut Sink) -> Option<InitialState> {
    match values::string(v, key, sink)? {
        "master" => Some(InitialState::Master),
        "backup" => Some(InitialState::Backup),
        s => {
            sink.error(v.span(), one_of(key, s, &["master", "backup"]));
            None
        }
    }
}

/// The interval must fit the advert's field: v2 counts whole seconds in
/// 8 bits, v3 centiseconds in 12 bits.
fn advert_interval(
    v: &Value,
    key: &str,
    version: Option<VrrpVersion>,
    sink: &mut Sink,
) -> Option<Duration> {
    let d = values::duration(v, key, false, sink)?;
    let written = v.get_ref().as_str().unwrap_or_default();
    let ms = d.as_millis();
    let problem = match version? {
        VrrpVersion::V2 if ms % 1000 != 0 => Some(
            "must be whole seconds (the v2 field counts seconds); use `version = 3` \
             for finer intervals",
        ),
        VrrpVersion::V2 if !(1_000..=255_000).contains(&ms) => Some("must be between 1s and 255s"),
        VrrpVersion::V3 if ms % 10 != 0 => {
            Some("must be a multiple of 10ms (the v3 field counts centiseconds)")
        }
        VrrpVersion::V3 if !(10..=40_950).contains(&ms) => Some("must be between 10ms and 40950ms"),
        _ => None,
    };
    let v_name = if version == Some(VrrpVersion::V2) {
        "VRRPv2"
    } else {
        "VRRPv3"
    };
    match problem {
        Some(p) => {
            sink.error(v.span(), format!("{v_name} `{key}` {p}, got {written}"));
            None
        }
        None => Some(d),
    }
}

/// keepalived's two rules for `nopreempt`, made errors instead of silently
/// turning preemption back on.
fn nopreempt(v: &Value, initial: InitialState, priority: u8, sink: &mut Sink) {
    if initial == InitialState::Master {
        sink.error(
            v.span(),
            "`preempt = false` (keepalived nopreempt) requires `state = \"backup\"`: an \
             instance that starts as master takes over at once",
        );
    } else if priority == 255 {
        sink.error(
            v.span(),
            "`preempt = false` is impossible with priority 255: the address owner always \
             preempts (RFC 5798)",
        );
    }
}

/// `unicast_src` and `unicast_peers`. Adverts list addresses of the
/// family of the packet that carries them, so both must be of the
/// instance's family `fam` (from its virtual addresses).
fn unicast(t: &Reader, fam: Option<Family>, sink: &mut Sink) -> (Option<IpAddr>, Vec<IpAddr>) {
    let src = t.get("unicast_src").and_then(|v| {
        let s = values::string(v, "unicast_src", sink)?;
        let ip = ip("unicast_src", s)
            .map_err(|e| sink.error(v.span(), e))
            .ok()?;
        if let Some(f) = fam.filter(|f| *f != Family::of(ip)) {
            sink.error(
                v.span(),
                format!(
                    "`unicast_src` {ip} is {} but the virtual addresses are {}",
                    Family::of(ip).name(),
                    f.name()
                ),
            );
        }
        Some(ip)
    });
    let Some(v) = t.get("unicast_peers") else {
        return (src, Vec::new());
    };
    // Without the key adverts are multicast; an empty list would mean the
    // same silently, when the operator meant unicast (keepalived's #166 and
    // #2649 are VIPs held by two nodes that way).
    if v.get_ref().as_array().is_some_and(|a| a.is_empty()) {
        sink.error(
            v.span(),
            "`unicast_peers` must list at least one peer; leave the key out for multicast adverts",
        );
    }
    let peers = values::parsed_list(v, "unicast_peers", sink, |s| ip("unicast_peers", s));
    let peers = peers.unwrap_or_default();
    if !peers.is_empty() && t.get("unicast_src").is_none() {
        sink.error(
            v.span(),
            "`unicast_peers` needs `unicast_src`, the address unicast adverts are sent from",
        );
    }
    let (want, from) = match src {
        Some(s) => (Some(Family::of(s)), "`unicast_src`"),
        None => (fam, "the virtual addresses"),
    };
    for (i, peer) in peers.iter().enumerate() {
        let ip = *peer.get_ref();
        let message = if Some(ip) == src {
            format!(
                "`unicast_peers` must not contain `unicast_src` {ip}: this node is not its own peer"
            )
        } else if peers[..i].iter().any(|p| *p.get_ref() == ip) {
            format!("peer {ip} is listed twice in `unicast_peers`")
        } else if let Some(f) = want.filter(|f| *f != Family::of(ip)) {
            format!(
                "peer {ip} is {} but {from} is {}",
                Family::of(ip).name(),
                f.name()
            )
        } else {
            continue;
        };
        sink.error(peer.span(), message);
    }
    (src, peers.into_iter().map(Spanned::into_inner).collect())
}

/// `auth = { type = "pass", password = "..." }`.
fn auth(v: &Value, version: Option<VrrpVersion>, sink: &mut Sink) -> Option<Password> {
    let t = Table::of(v, "auth", v.span(), "`auth`", sink)?;
    if version == Some(VrrpVersion::V3) {
        sink.error(
            v.span(),
            "`auth` is VRRPv2 only: VRRPv3 has no authentication (RFC 5798); remove it or \
             set `version = 2`",
        );
    }
    t.read(sink, password)
}

/// `type` and `password` of `auth`.
fn password(t: &Reader, sink: &mut Sink) -> Option<Password> {
    t.req("type", sink, |v, key, sink| {
        let ty = values::string(v, key, sink)?;
        if ty != "pass" {
            let mut m = one_of(key, ty, &["pass"]);
            if ty.eq_ignore_ascii_case("ah") {
                m.push_str("; IPsec AH authentication is not supported");
            }
            sink.error(v.span(), m);
        }
        Some(())
    });
    t.req("password", sink, |v, key, sink| {
        let s = values::string(v, key, sink)?;
        let password = Password::new(s.as_bytes());
        if password.is_none() {
            let why = if s.contains('\0') {
                "must not contain a zero byte"
            } else {
                "must be 1 to 8 bytes"
            };
            sink.error(
                v.span(),
                format!(
                    "`{key}` {why} (the VRRPv2 field holds 8), got {} bytes",
                    s.len()
                ),
            );
        }
        password
    })
}

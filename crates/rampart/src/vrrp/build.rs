//! From the config's `[vrrp]` section to what the driver runs: one
//! [`InstanceConfig`] per instance for the sans-IO core, plus what only
//! the driver needs (interfaces, addresses to put up, trackers, hooks).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use rampart_config::{Config, Garp, InitialState, Notify, V3Checksum, VrrpInstance, VrrpVersion};
use rampart_vrrp::{Addrs, Auth, ChecksumForm, InstanceConfig, Version};

/// A virtual address and where it goes.
#[derive(Debug, Clone)]
pub struct VipSpec {
    pub addr: IpAddr,
    pub prefix_len: u8,
    pub ifname: String,
    pub label: Option<String>,
}

/// One thing an instance's priority depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The local proxy: `backend` has at least `min_servers` servers up
    /// and the worker is not crash-looping.
    Proxy {
        backend: String,
        min_servers: u32,
        weight: i32,
    },
    Link {
        name: String,
        weight: i32,
    },
    /// Index into [`Plan::scripts`].
    Script {
        index: usize,
        weight: i32,
    },
}

/// Everything the driver runs for one instance.
#[derive(Debug, Clone)]
pub struct InstancePlan {
    pub core: InstanceConfig,
    pub multicast: bool,
    pub unicast_ttl: u8,
    pub vips: Vec<VipSpec>,
    pub inputs: Vec<Input>,
    pub notify: Notify,
    pub garp: Garp,
}

/// The whole `[vrrp]` section, resolved against the running system.
#[derive(Debug, Clone)]
pub struct Plan {
    pub instances: Vec<InstancePlan>,
    pub groups: Vec<(String, Vec<usize>, Notify)>,
    pub scripts: Vec<rampart_config::TrackScript>,
    pub notify_timeout: Duration,
}

impl Plan {
    /// Resolves names against the config and source addresses against the
    /// interfaces (so it must run in the node's network namespace).
    pub fn new(cfg: &Config) -> Result<Plan> {
        let v = &cfg.vrrp;
        let mut instances = Vec::new();
        for i in &v.instances {
            instances.push(instance(cfg, i).with_context(|| format!("VRRP instance {}", i.name))?);
        }
        let index = |name: &str| v.instances.iter().position(|i| i.name == name);
        let groups = v
            .sync_groups
            .iter()
            .map(|g| {
                let members = g.members.iter().filter_map(|m| index(m)).collect();
                (g.name.clone(), members, g.notify.clone())
            })
            .collect();
        Ok(Plan {
            instances,
            groups,
            scripts: v.scripts.clone(),
            notify_timeout: v.notify_timeout,
        })
    }
}

impl Plan {
    /// Every interface an instance runs on or puts an address on exists
    /// (at a reload, before anything is applied).
    pub fn check_interfaces(&self) -> Result<()> {
        for i in &self.instances {
            let devs = std::iter::once(&i.core.interface).chain(i.vips.iter().map(|v| &v.ifname));
            for dev in devs {
                rampart_sys::netlink::link_index(dev)
                    .with_context(|| format!("VRRP instance {}: interface {dev}", i.core.name))?;
            }
        }
        Ok(())
    }
}

fn instance(cfg: &Config, i: &VrrpInstance) -> Result<InstancePlan> {
    let version = match i.version {
        VrrpVersion::V2 => Version::V2,
        VrrpVersion::V3 => Version::V3,
    };
    let ipv6 = i.is_ipv6();
    let src = match i.unicast_src {
        Some(a) => a,
        None => primary_address(&i.interface, ipv6)?,
    };
    let vips = if ipv6 {
        Addrs::V6(i.vips.iter().filter_map(|v| as_v6(v.net.addr())).collect())
    } else {
        Addrs::V4(i.vips.iter().filter_map(|v| as_v4(v.net.addr())).collect())
    };
    let interval_cs = u16::try_from(i.advert_interval.as_millis() / 10)
        .map_err(|_| anyhow!("advert_interval too long"))?;
    let core = InstanceConfig {
        name: i.name.clone(),
        interface: i.interface.clone(),
        vrid: i.vrid,
        version,
        priority: i.priority,
        interval_cs,
        preempt: i.preempt,
        preempt_delay: i.preempt_delay,
        start_as_master: i.initial == InitialState::Master,
        auth: i
            .auth
            .as_ref()
            .map_or(Auth::None, |p| Auth::Simple(p.wire())),
        vips,
        src,
        unicast_peers: i.unicast_peers.clone(),
        unicast_min_ttl: i.unicast_min_ttl,
        checksum: match i.checksum {
            V3Checksum::PseudoHeader => ChecksumForm::PseudoHeader,
            V3Checksum::MessageOnly => ChecksumForm::MessageOnly,
        },
        garp_delay: i.garp.delay,
        garp_refresh: i.garp.refresh,
    };
    let vips = i
        .vips
        .iter()
        .map(|v| VipSpec {
            addr: v.net.addr(),
            prefix_len: v.net.prefix_len(),
            ifname: v.dev.clone().unwrap_or_else(|| i.interface.clone()),
            label: v.label.clone(),
        })
        .collect();
    // The instance's own interface is always tracked with weight 0, as in
    // keepalived: without its link it can neither advertise nor serve.
    let mut inputs = vec![Input::Link {
        name: i.interface.clone(),
        weight: 0,
    }];
    if let Some(t) = &i.track_proxy {
        let fe = cfg
            .frontends
            .iter()
            .find(|f| f.name == t.frontend)
            .ok_or_else(|| anyhow!("track_proxy: no frontend {}", t.frontend))?;
        inputs.push(Input::Proxy {
            backend: fe.backend.clone(),
            min_servers: t.min_servers,
            weight: t.weight,
        });
    }
    for t in &i.track_interfaces {
        inputs.push(Input::Link {
            name: t.name.clone(),
            weight: t.weight,
        });
    }
    for t in &i.track_scripts {
        let index = cfg
            .vrrp
            .scripts
            .iter()
            .position(|s| s.name == t.name)
            .ok_or_else(|| anyhow!("track_scripts: no script {}", t.name))?;
        let weight = t.weight.unwrap_or(cfg.vrrp.scripts[index].weight);
        inputs.push(Input::Script { index, weight });
    }
    Ok(InstancePlan {
        core,
        multicast: i.unicast_peers.is_empty(),
        unicast_ttl: i.unicast_ttl,
        vips,
        inputs,
        notify: i.notify.clone(),
        garp: i.garp,
    })
}

/// The address adverts are sent from when no `unicast_src` is given: the
/// interface's first IPv4 address, or its IPv6 link-local one (RFC 5798
/// §5.1.2.1).
fn primary_address(ifname: &str, ipv6: bool) -> Result<IpAddr> {
    let index =
        rampart_sys::netlink::link_index(ifname).with_context(|| format!("interface {ifname}"))?;
    let addrs =
        rampart_sys::netlink::addresses(index).with_context(|| format!("addresses of {ifname}"))?;
    addrs
        .iter()
        .map(|a| a.addr)
        .find(|a| match a {
            IpAddr::V4(_) => !ipv6,
            IpAddr::V6(v6) => ipv6 && v6.segments()[0] & 0xffc0 == 0xfe80,
        })
        .ok_or_else(|| {
            let kind = if ipv6 { "link-local IPv6" } else { "IPv4" };
            anyhow!("interface {ifname} has no {kind} address to send adverts from")
        })
}

fn as_v4(a: IpAddr) -> Option<Ipv4Addr> {
    match a {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(_) => None,
    }
}

fn as_v6(a: IpAddr) -> Option<Ipv6Addr> {
    match a {
        IpAddr::V6(a) => Some(a),
        IpAddr::V4(_) => None,
    }
}

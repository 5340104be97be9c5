//! The seed guide's own layout, names and files: rampart on lb1 from
//! `examples/seed-lb.toml` as shipped, keepalived on lb2 from the guide's
//! lb2 `keepalived.conf` verbatim (with the guide's HAProxy beside it, which
//! its `pgrep haproxy` tracker looks for).
//!
//! ```text
//!        client 10.99.181.100/24 (eth0)    route 147.75.78.116 on-link
//!           │
//!   ───── switch "bond" 10.99.181.0/24 ─────────────
//!       │ bond0 .141                 │ bond0 .129
//!      lb1 (rampart)                lb2 (keepalived + HAProxy)
//!       │ ens14f1 192.168.1.2        │ ens14f1 192.168.1.3
//!   ───── switch "priv" 192.168.1.0/24 ─────────────   gateway VIP .1
//!       │ eth0 .10                   │ eth0 .11
//!      web1                         web2
//! ```
//!
//! VI_2 watches `ens14f1` but sends from `unicast_src_ip 10.99.181.141`, an
//! address of `bond0`: the combination that once made rampart exit at start.
//! Needs root, keepalived and haproxy: without root each test fails, unless
//! RAMPART_SKIP_NETNS=1.
#![allow(clippy::unwrap_used)]

mod lab;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use lab::{Web, log, start_rampart, wait_for};
use rampart_lab::{Lab, Ns, Proc, Signal};

const ELASTIC_IP: &str = "147.75.78.116";
use rampart_lab::GATEWAY_VIP;

/// The guide's lb2 `keepalived.conf`, as printed in the guide.
const LB2_KEEPALIVED_CONF: &str = r#"vrrp_script chk_haproxy {
    script "pgrep haproxy"
    interval 2
}

vrrp_instance VI_1 {
    state BACKUP
    interface bond0
    unicast_src_ip 10.99.181.129
    unicast_peer {
        10.99.181.141
    }
    virtual_router_id 101
    priority 100
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass 1111
    }
    track_script {
        chk_haproxy
    }
    virtual_ipaddress {
        147.75.78.116
    }
}

vrrp_instance VI_2 {
    state BACKUP
    interface ens14f1
    unicast_src_ip 10.99.181.129
    unicast_peer {
        10.99.181.141
    }
    virtual_router_id 102
    priority 100
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass 1111
    }
    track_script {
        chk_haproxy
    }
    virtual_ipaddress {
        192.168.1.1/24
    }
}
"#;

/// The guide's haproxy.cfg frontend and backend (mode tcp, round robin,
/// `check`), for lb2. `transparent` stands for the `ip_nonlocal_bind=1`
/// that lets a backup bind the elastic IP before it holds it.
const LB2_HAPROXY_CFG: &str = "defaults
    mode tcp
    timeout connect 5000
    timeout client  50000
    timeout server  50000

frontend www
    bind 147.75.78.116:80 transparent
    default_backend nginx_pool

backend nginx_pool
    balance roundrobin
    mode tcp
    server web1 192.168.1.10:80 check
    server web2 192.168.1.11:80 check
";

struct Guide {
    _lab: Lab,
    client: Ns,
    lb1: Ns,
    lb2: Ns,
    _webs: [Web; 2],
    dir: tempfile::TempDir,
}

fn guide() -> Option<Guide> {
    if !rampart_lab::require_root() {
        return None;
    }
    let mut lab = Lab::new().unwrap();
    let client = lab.ns("client").unwrap();
    let lb1 = lab.ns("lb1").unwrap();
    let lb2 = lab.ns("lb2").unwrap();
    let web1 = lab.ns("web1").unwrap();
    let web2 = lab.ns("web2").unwrap();
    let bond = lab.switch("bond").unwrap();
    let private = lab.switch("priv").unwrap();
    lab.attach(&bond, &client, "eth0", &["10.99.181.100/24"])
        .unwrap();
    lab.attach(&bond, &lb1, "bond0", &["10.99.181.141/24"])
        .unwrap();
    lab.attach(&bond, &lb2, "bond0", &["10.99.181.129/24"])
        .unwrap();
    lab.attach(&private, &lb1, "ens14f1", &["192.168.1.2/24"])
        .unwrap();
    lab.attach(&private, &lb2, "ens14f1", &["192.168.1.3/24"])
        .unwrap();
    lab.attach(&private, &web1, "eth0", &["192.168.1.10/24"])
        .unwrap();
    lab.attach(&private, &web2, "eth0", &["192.168.1.11/24"])
        .unwrap();
    client
        .ip(&["route", "add", ELASTIC_IP, "dev", "eth0"])
        .unwrap();
    for web in [&web1, &web2] {
        rampart_lab::route_via_gateway(web).unwrap();
    }
    let webs = [
        Web::start(&web1, "192.168.1.10:80", "web1"),
        Web::start(&web2, "192.168.1.11:80", "web2"),
    ];
    // keepalived starts in FAULT on an interface without carrier, which a
    // veth gets from linkwatch up to a second after `ip link set up`.
    let up = wait_for(Duration::from_secs(3), || {
        [&lb1, &lb2].into_iter().all(|ns| {
            ["bond0", "ens14f1"].into_iter().all(|ifname| {
                let link = ns.ip(&["-j", "link", "show", "dev", ifname]).unwrap();
                link.contains(r#""operstate":"UP""#)
            })
        })
    });
    assert!(up, "the LB links did not come up");
    Some(Guide {
        _lab: lab,
        client,
        lb1,
        lb2,
        _webs: webs,
        dir: tempfile::tempdir().unwrap(),
    })
}

impl Guide {
    /// Which nodes hold each VIP: [elastic IP holders, gateway holders].
    fn holders(&self) -> [Vec<&'static str>; 2] {
        [ELASTIC_IP, GATEWAY_VIP].map(|ip| {
            let ip: IpAddr = ip.parse().unwrap();
            let mut v = Vec::new();
            if self.lb1.has_addr(ip).unwrap() {
                v.push("lb1");
            }
            if self.lb2.has_addr(ip).unwrap() {
                v.push("lb2");
            }
            v
        })
    }

    /// Waits until `node` alone holds both VIPs; fails with the logs.
    fn until_alone(&self, node: &'static str, limit: Duration) {
        let ok = wait_for(limit, || {
            self.holders().iter().all(|h| h.as_slice() == [node])
        });
        assert!(
            ok,
            "{node} does not hold both VIPs alone: {}",
            self.report()
        );
    }

    fn report(&self) -> String {
        let d = self.dir.path();
        format!(
            "holders {:?}\n--- lb1 (rampart) ---\n{}\n--- lb2 (keepalived) ---\n{}",
            self.holders(),
            log(d, "lb1"),
            log(d, "lb2")
        )
    }

    /// The client reaches a web server through the elastic IP.
    fn served(&self) -> bool {
        let addr = SocketAddr::new(ELASTIC_IP.parse().unwrap(), 80);
        let got = self.client.run_in(move || lab::get(addr)).unwrap();
        got.is_ok_and(|name| name.starts_with("web"))
    }
}

/// The shipped example, as lb1's config. Nothing in it needs changing for
/// the lab: its BGP neighbors (169.254.255.1/2) are unreachable inside the
/// namespace, so their sessions just stay down.
fn seed_lb1() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed-lb.toml");
    std::fs::read_to_string(path).unwrap()
}

fn start_keepalived_lb2(g: &Guide) -> (Proc, Proc) {
    let d = g.dir.path();
    let cfg = d.join("lb2.haproxy.cfg");
    std::fs::write(&cfg, LB2_HAPROXY_CFG).unwrap();
    let mut cmd = g.lb2.command("haproxy");
    cmd.args(["-db", "-f"])
        .arg(&cfg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let haproxy = Proc::spawn(&mut cmd).unwrap();
    let keepalived = lab::keepalived::start_keepalived(&g.lb2, d, "lb2", LB2_KEEPALIVED_CONF);
    (haproxy, keepalived)
}

#[test]
fn rampart_from_the_shipped_example_with_the_guides_keepalived_peer() {
    let Some(g) = guide() else { return };
    let (_haproxy, _keepalived) = start_keepalived_lb2(&g);
    let mut rampart = start_rampart(&g.lb1, g.dir.path(), "lb1", &seed_lb1());

    // lb1 (101) holds both VIPs, keepalived's lb2 (100) is backup; the
    // service answers through the elastic IP.
    g.until_alone("lb1", Duration::from_secs(20));
    assert!(rampart.try_wait().unwrap().is_none(), "{}", g.report());
    assert!(
        wait_for(Duration::from_secs(5), || g.served()),
        "no answer through the elastic IP: {}",
        g.report()
    );

    // rampart stops: keepalived takes both over.
    rampart.signal(Signal::SIGTERM).unwrap();
    let status = rampart.wait_timeout(Duration::from_secs(15)).unwrap();
    assert!(
        status.is_some_and(|s| s.success()),
        "exit {status:?}: {}",
        g.report()
    );
    g.until_alone("lb2", Duration::from_secs(5));

    // rampart comes back and preempts (priority 101 against 100).
    let _rampart = start_rampart(&g.lb1, g.dir.path(), "lb1", &seed_lb1());
    g.until_alone("lb1", Duration::from_secs(20));
    assert!(
        wait_for(Duration::from_secs(5), || g.served()),
        "no answer after the preemption: {}",
        g.report()
    );
}

//! The seed guide's topology.
//!
//! ```text
//!                 client 10.10.0.100/24 (eth0)
//!                    │
//!   ─────────── switch "pub" 10.10.0.0/24 ───────────
//!        │ eth0 .11                        │ eth0 .12
//!       lb1                               lb2
//!        │ eth1 .11                        │ eth1 .12
//!   ─────────── switch "priv" 192.168.1.0/24 ────────   gateway VIP .1
//!        │ eth0 .21                        │ eth0 .22
//!       web1                              web2
//! ```

use std::io;

use crate::lab::Lab;
use crate::ns::Ns;

/// The private subnet's gateway VIP, floated between lb1 and lb2.
pub const GATEWAY_VIP: &str = "192.168.1.1";

/// The seed topology; `lab` owns every namespace (keep it alive).
pub struct SeedLab {
    pub lab: Lab,
    pub client: Ns,
    pub lb1: Ns,
    pub lb2: Ns,
    pub web1: Ns,
    pub web2: Ns,
}

/// Builds the seed topology. The web servers' default route points at the
/// gateway VIP with `onlink`, so it is installed before any LB holds the
/// VIP. The LBs do not forward until a test turns `ip_forward` on.
pub fn seed_lab() -> io::Result<SeedLab> {
    let mut lab = Lab::new()?;
    let client = lab.ns("client")?;
    let lb1 = lab.ns("lb1")?;
    let lb2 = lab.ns("lb2")?;
    let web1 = lab.ns("web1")?;
    let web2 = lab.ns("web2")?;
    let public = lab.switch("pub")?;
    let private = lab.switch("priv")?;

    lab.attach(&public, &client, "eth0", &["10.10.0.100/24"])?;
    lab.attach(&public, &lb1, "eth0", &["10.10.0.11/24"])?;
    lab.attach(&public, &lb2, "eth0", &["10.10.0.12/24"])?;
    lab.attach(&private, &lb1, "eth1", &["192.168.1.11/24"])?;
    lab.attach(&private, &lb2, "eth1", &["192.168.1.12/24"])?;
    lab.attach(&private, &web1, "eth0", &["192.168.1.21/24"])?;
    lab.attach(&private, &web2, "eth0", &["192.168.1.22/24"])?;
    for web in [&web1, &web2] {
        route_via_gateway(web)?;
    }

    Ok(SeedLab {
        lab,
        client,
        lb1,
        lb2,
        web1,
        web2,
    })
}

/// A web server's default route: the gateway VIP on `eth0`, `onlink` so
/// it is installed before any LB holds the VIP.
pub fn route_via_gateway(web: &Ns) -> io::Result<()> {
    web.ip(&[
        "route",
        "add",
        "default",
        "via",
        GATEWAY_VIP,
        "dev",
        "eth0",
        "onlink",
    ])?;
    Ok(())
}

//! The router when BIRD is not installed: a minimal receiving BGP peer
//! built on rampart-bgp's codec. It accepts the LB nodes' sessions,
//! answers their OPEN, sends KEEPALIVEs, and keeps the IPv4 prefixes each
//! one announces (dropped when its session ends). It sends no routes.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use rampart_bgp::{Attribute, Capability, Context, Family, Message, Open, Update};

/// Hold time offered: the peer's (the nodes offer 90 s) is the minimum.
const HOLD_TIME: u16 = 9;
const KEEPALIVE_EVERY: Duration = Duration::from_secs(3);

/// The routes received: prefix → the peers announcing it.
pub type Rib = Arc<Mutex<BTreeMap<IpNet, BTreeSet<IpAddr>>>>;

/// Serves BGP on `listener` until `stop`; must run in the router's
/// namespace (the listener was made there).
pub fn serve(listener: TcpListener, my_as: u32, id: Ipv4Addr, rib: Rib, stop: Arc<AtomicBool>) {
    let _ = listener.set_nonblocking(true);
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((s, from)) => {
                let (rib, stop) = (rib.clone(), stop.clone());
                std::thread::spawn(move || {
                    session(s, from, my_as, id, &rib, &stop);
                    if let Ok(mut rib) = rib.lock() {
                        rib.values_mut().for_each(|peers| {
                            peers.remove(&from.ip());
                        });
                        rib.retain(|_, peers| !peers.is_empty());
                    }
                });
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// One session, until it fails or `stop`.
fn session(
    mut s: TcpStream,
    from: SocketAddr,
    my_as: u32,
    id: Ipv4Addr,
    rib: &Rib,
    stop: &AtomicBool,
) -> Option<()> {
    s.set_nonblocking(false).ok()?;
    s.set_read_timeout(Some(Duration::from_millis(200))).ok()?;
    let mut ctx = Context::default();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut last_sent = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if last_sent.elapsed() >= KEEPALIVE_EVERY {
            send(&mut s, &Message::Keepalive, ctx)?;
            last_sent = Instant::now();
        }
        match s.read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(_) => return None,
        }
        while let Some(len) = rampart_bgp::frame(&buf).ok()? {
            let msg = rampart_bgp::decode(&buf[..len], ctx).ok()?;
            buf.drain(..len);
            match msg {
                Message::Open(open) => {
                    let four = open
                        .capabilities
                        .iter()
                        .any(|c| matches!(c, Capability::FourOctetAs(_)));
                    let reply = Open {
                        my_as: u16::try_from(my_as).unwrap_or(rampart_bgp::AS_TRANS),
                        hold_time: HOLD_TIME,
                        bgp_id: id,
                        capabilities: vec![
                            Capability::multiprotocol(Family::Ipv4Unicast),
                            Capability::FourOctetAs(my_as),
                        ],
                    };
                    send(&mut s, &Message::Open(reply), ctx)?;
                    ctx.four_octet_as = four;
                    send(&mut s, &Message::Keepalive, ctx)?;
                    last_sent = Instant::now();
                }
                Message::Update(u) => learn(rib, from.ip(), &u),
                Message::Notification(_) => return None,
                Message::Keepalive | Message::RouteRefresh(_) => {}
            }
        }
    }
    None
}

fn send(s: &mut TcpStream, msg: &Message, ctx: Context) -> Option<()> {
    let bytes = rampart_bgp::to_bytes(msg, ctx).ok()?;
    s.write_all(&bytes).ok()
}

fn learn(rib: &Rib, peer: IpAddr, u: &Update) {
    let Ok(mut rib) = rib.lock() else { return };
    let mut withdrawn = u.withdrawn.clone();
    let mut nlri = u.nlri.clone();
    for a in &u.attributes {
        match a {
            Attribute::MpReach(mp) => nlri.extend(mp.nlri.iter().copied()),
            Attribute::MpUnreach(mp) => withdrawn.extend(mp.withdrawn.iter().copied()),
            _ => {}
        }
    }
    for p in withdrawn {
        if let Some(peers) = rib.get_mut(&p) {
            peers.remove(&peer);
            if peers.is_empty() {
                rib.remove(&p);
            }
        }
    }
    for p in nlri {
        rib.entry(p).or_default().insert(peer);
    }
}

//! The live view: a few lines at the bottom of a terminal, redrawn five
//! times a second (progress, who holds each VIP, the router's route,
//! requests per backend, failures so far), with the narration scrolling
//! above it. When stdout is not a terminal (CI logs) nothing is redrawn:
//! the narration is printed as it comes and the view is appended as one
//! line at the end of each step.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::guide::{GATEWAY, VIP, lb_bgp};
use super::peer::Rib;
use super::probe::Sample;
use rampart_lab::Ns;

const REDRAW_EVERY: Duration = Duration::from_millis(200);
const VIEW_LINES: usize = 3;

/// What the sampler last saw.
#[derive(Clone, Default)]
pub struct Seen {
    pub vip: Vec<&'static str>,
    pub gateway: Vec<&'static str>,
    pub route: Vec<&'static str>,
}

pub struct View {
    tty: bool,
    started: Instant,
    step: Mutex<String>,
    /// Every sample, for "the VIP never moved" checks.
    pub history: Mutex<Vec<(Instant, Seen)>>,
    samples: Mutex<Option<Arc<Mutex<Vec<Sample>>>>>,
    drawn: AtomicBool,
    out: Mutex<()>,
}

/// Which of lb1/lb2 have `addr` (read from `ip -j addr`).
fn holders(lbs: &[Ns; 2], addr: &str) -> Vec<&'static str> {
    let needle = format!("\"local\":\"{addr}\"");
    ["lb1", "lb2"]
        .into_iter()
        .zip(lbs)
        .filter(|(_, ns)| {
            ns.ip(&["-j", "addr", "show"])
                .is_ok_and(|j| j.contains(&needle))
        })
        .map(|(name, _)| name)
        .collect()
}

/// The LB nodes the router has the VIP's route from.
pub fn route_via(rib: &Rib) -> Vec<&'static str> {
    let Ok(prefix) = format!("{VIP}/32").parse::<ipnet::IpNet>() else {
        return Vec::new();
    };
    let peers = rib
        .lock()
        .ok()
        .and_then(|r| r.get(&prefix).cloned())
        .unwrap_or_default();
    ["lb1", "lb2"]
        .into_iter()
        .zip([1, 2])
        .filter(|(_, n)| peers.iter().any(|p| p.to_string() == lb_bgp(*n)))
        .map(|(name, _)| name)
        .collect()
}

fn names(v: &[&str]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join("+")
    }
}

impl View {
    pub fn new() -> Arc<View> {
        Arc::new(View {
            tty: std::io::stdout().is_terminal(),
            started: Instant::now(),
            step: Mutex::new(String::from("building the lab")),
            history: Mutex::default(),
            samples: Mutex::default(),
            drawn: AtomicBool::new(false),
            out: Mutex::new(()),
        })
    }

    pub fn set_samples(&self, s: Arc<Mutex<Vec<Sample>>>) {
        if let Ok(mut slot) = self.samples.lock() {
            *slot = Some(s);
        }
    }

    pub fn step(&self, s: &str) {
        if let Ok(mut step) = self.step.lock() {
            *step = s.to_string();
        }
    }

    pub fn last(&self) -> Seen {
        self.history
            .lock()
            .ok()
            .and_then(|h| h.last().map(|(_, s)| s.clone()))
            .unwrap_or_default()
    }

    /// The sampler: reads the nodes and the router until `stop`.
    pub fn run(self: Arc<Self>, lbs: [Ns; 2], rib: Rib, stop: Arc<AtomicBool>) {
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let seen = Seen {
                    vip: holders(&lbs, VIP),
                    gateway: holders(&lbs, GATEWAY),
                    route: route_via(&rib),
                };
                if let Ok(mut h) = self.history.lock() {
                    h.push((Instant::now(), seen));
                }
                if self.tty {
                    let _out = self.out.lock();
                    self.erase();
                    self.draw();
                }
                std::thread::sleep(REDRAW_EVERY);
            }
        });
    }

    fn lines(&self) -> [String; VIEW_LINES] {
        let step = self.step.lock().map(|s| s.clone()).unwrap_or_default();
        let seen = self.last();
        let (mut web1, mut web2, mut failed) = (0, 0, 0);
        if let Some(samples) = self.samples.lock().ok().and_then(|s| s.clone())
            && let Ok(v) = samples.lock()
        {
            for (_, r) in v.iter() {
                match r.as_deref() {
                    Some("web1") => web1 += 1,
                    Some("web2") => web2 += 1,
                    _ => failed += 1,
                }
            }
        }
        [
            format!(
                "  ┌ {:>5.1} s  {step}",
                self.started.elapsed().as_secs_f64()
            ),
            format!(
                "  │ VIP {VIP}: {}   gateway {GATEWAY}: {}   router's route to {VIP}/32: via {}",
                names(&seen.vip),
                names(&seen.gateway),
                names(&seen.route)
            ),
            format!("  └ requests: web1 {web1}, web2 {web2}; failed so far: {failed}"),
        ]
    }

    fn erase(&self) {
        if self.drawn.swap(false, Ordering::Relaxed) {
            print!("\x1b[{VIEW_LINES}A\x1b[J");
        }
    }

    fn draw(&self) {
        let mut out = std::io::stdout().lock();
        for l in self.lines() {
            let _ = writeln!(out, "{l}");
        }
        let _ = out.flush();
        self.drawn.store(true, Ordering::Relaxed);
    }

    /// A line of narration, above the view.
    pub fn say(&self, line: &str) {
        let _out = self.out.lock();
        self.erase();
        println!("{line}");
        if self.tty {
            self.draw();
        }
    }

    /// At the end of a step: the view, appended (not on a terminal, where
    /// it is always on screen).
    pub fn snapshot(&self) {
        if !self.tty {
            let _out = self.out.lock();
            for l in self.lines() {
                println!("{l}");
            }
        }
    }

    /// Before the summary: the view is left on screen once, for good.
    pub fn finish(&self) {
        let _out = self.out.lock();
        self.erase();
        for l in self.lines() {
            println!("{l}");
        }
    }
}

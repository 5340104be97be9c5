//! The client's traffic and the web servers: a GET to the VIP every
//! 20 ms, each on its own thread (a probe stuck in a timeout does not
//! delay the next, so an outage is measured to 20 ms), every result kept
//! with its start time.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rampart_lab::Ns;

pub const PROBE_EVERY: Duration = Duration::from_millis(20);

/// A probe's start and the backend that answered (`None`: it failed).
pub type Sample = (Instant, Option<String>);

/// One HTTP GET with short timeouts; the answering server's name.
pub fn get(addr: SocketAddr) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(300)).ok()?;
    s.set_read_timeout(Some(Duration::from_millis(1000))).ok()?;
    s.write_all(b"GET / HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    let text = String::from_utf8_lossy(&out);
    if !text.starts_with("HTTP/1.1 200") {
        return None;
    }
    text.rsplit("\r\n\r\n").next().map(|b| b.trim().to_string())
}

/// The running probe; results are shared with the live view.
pub struct Probe {
    pub samples: Arc<Mutex<Vec<Sample>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Probe {
    pub fn start(client: &Ns, addr: SocketAddr) -> std::io::Result<Probe> {
        let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (out, flag) = (samples.clone(), stop.clone());
        let thread = client.spawn_thread(move || {
            let mut next = Instant::now();
            let mut probes = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                let out = out.clone();
                probes.push(std::thread::spawn(move || {
                    let t = Instant::now();
                    let r = get(addr);
                    if let Ok(mut v) = out.lock() {
                        v.push((t, r));
                    }
                }));
                probes.retain(|p| !p.is_finished());
                next += PROBE_EVERY;
                if let Some(rest) = next.checked_duration_since(Instant::now()) {
                    std::thread::sleep(rest);
                }
            }
            probes.into_iter().for_each(|p| {
                let _ = p.join();
            });
        })?;
        Ok(Probe {
            samples,
            stop,
            thread: Some(std::thread::spawn(move || {
                let _ = thread.join();
            })),
        })
    }

    /// Results of probes started in `[from, to)`, by start time.
    pub fn window(&self, from: Instant, to: Instant) -> Vec<Sample> {
        let mut v: Vec<Sample> = self
            .samples
            .lock()
            .map(|s| {
                s.iter()
                    .filter(|(t, _)| *t >= from && *t < to)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        v.sort_by_key(|(t, _)| *t);
        v
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Failed probes in `samples` and the longest outage: from the start of
/// the first failed probe to the start of the first good one after it.
pub fn outage(samples: &[Sample]) -> (usize, Duration) {
    let mut longest = Duration::ZERO;
    let mut since: Option<Instant> = None;
    for (t, r) in samples {
        match (r, since) {
            (None, None) => since = Some(*t),
            (Some(_), Some(s)) => {
                longest = longest.max(*t - s);
                since = None;
            }
            _ => {}
        }
    }
    if let (Some(s), Some((last, _))) = (since, samples.last()) {
        longest = longest.max(*last - s + PROBE_EVERY);
    }
    (samples.iter().filter(|(_, r)| r.is_none()).count(), longest)
}

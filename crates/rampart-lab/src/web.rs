//! A tiny HTTP server for the labs, standing in for nginx: it answers
//! every request with its name (or, as the "outside" server, with the
//! source address it saw), in a namespace. Used by the cluster demo and
//! the tests alike.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::Ns;

/// A tiny HTTP server standing in for nginx, or (`echo_peer`) the
/// "outside" server that answers with the source address it saw.
pub struct Web {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Web {
    pub fn start(
        ns: &Ns,
        addr: SocketAddr,
        name: &'static str,
        echo_peer: bool,
    ) -> std::io::Result<Web> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = ns.spawn_thread(move || {
            let l = match TcpListener::bind(addr) {
                Ok(l) => l,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let _ = l.set_nonblocking(true);
            let _ = ready_tx.send(Ok(()));
            loop {
                // Stopping drains what the kernel already accepted, so a
                // stop under load loses no connection in the backlog.
                let stopping = flag.load(Ordering::Relaxed);
                match l.accept() {
                    Ok((s, from)) => {
                        let body = if echo_peer {
                            from.ip().to_string()
                        } else {
                            name.to_string()
                        };
                        std::thread::spawn(move || answer(s, &body));
                    }
                    Err(_) if stopping => return,
                    Err(_) => std::thread::sleep(Duration::from_millis(1)),
                }
            }
        })?;
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .map_err(|_| std::io::Error::other("the web server did not start"))??;
        Ok(Web {
            stop,
            thread: Some(std::thread::spawn(move || {
                let _ = thread.join();
            })),
        })
    }
}

impl Drop for Web {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn answer(mut s: TcpStream, body: &str) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 1024];
    let mut got = Vec::new();
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = s.write_all(resp.as_bytes());
}

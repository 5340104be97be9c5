//! A `rampart run` node on loopback for the process-level tests: named
//! echo backends, a config, the node with its log, and waiting helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_rampart");

/// A backend that answers every connection with its name and then echoes.
pub fn named_backend(name: &'static str) -> (SocketAddr, Arc<AtomicBool>) {
    let (addr, stop, _) = echo_backend(name);
    (addr, stop)
}

/// [`named_backend`], with the count of connections it accepted (health
/// checks included). Setting the flag closes its listener at the next
/// connection.
pub fn echo_backend(name: &'static str) -> (SocketAddr, Arc<AtomicBool>, Arc<AtomicU64>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(AtomicU64::new(0));
    let (st, count) = (stop.clone(), accepted.clone());
    std::thread::spawn(move || {
        for s in l.incoming() {
            if st.load(Ordering::Relaxed) {
                break;
            }
            let Ok(mut s) = s else { continue };
            count.fetch_add(1, Ordering::Relaxed);
            std::thread::spawn(move || {
                let _ = s.write_all(format!("{name}\n").as_bytes());
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 || s.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    (addr, stop, accepted)
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn config(port: u16, servers: &[(&str, SocketAddr)], grace: &str) -> String {
    let list: Vec<String> = servers
        .iter()
        .map(|(n, a)| format!(r#"{{ name = "{n}", addr = "{a}" }}"#))
        .collect();
    format!(
        r#"[global]
threads = 2
grace = "{grace}"

[[frontend]]
name = "www"
bind = ["127.0.0.1:{port}"]
backend = "pool"

[[backend]]
name = "pool"
balance = "roundrobin"
health = {{ check = "tcp", interval = "100ms", timeout = "100ms", fall = 2, rise = 1 }}
servers = [ {} ]
"#,
        list.join(", ")
    )
}

/// A running `rampart run` with its stderr collected.
pub struct Node {
    pub child: Child,
    pub log: Arc<Mutex<String>>,
    pub _dir: tempfile::TempDir,
    pub path: PathBuf,
    /// Its own runtime directory (lock, control socket): tests run at once.
    pub runtime: PathBuf,
    pub addr: SocketAddr,
}

impl Node {
    pub fn start(text: &str, port: u16) -> Node {
        Node::start_with(text, port, &[])
    }

    /// With more arguments to `rampart run`.
    pub fn start_with(text: &str, port: u16, args: &[&str]) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        let runtime = dir.path().join("run");
        std::fs::write(&path, text).unwrap();
        let mut child = Command::new(BIN)
            .args(["run", "-c"])
            .arg(&path)
            .arg("--runtime-dir")
            .arg(&runtime)
            .args(args)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let l = log.clone();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                l.lock().unwrap().push_str(&line);
                l.lock().unwrap().push('\n');
            }
        });
        let node = Node {
            child,
            log,
            _dir: dir,
            path,
            runtime,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        assert!(
            wait(Duration::from_secs(10), || who(node.addr).is_ok()),
            "node never served; log:\n{}",
            node.log()
        );
        node
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub fn signal(&self, sig: &str) {
        assert!(
            Command::new("kill")
                .args(["-s", sig, &self.child.id().to_string()])
                .status()
                .unwrap()
                .success()
        );
    }

    pub fn worker_pids(&self) -> Vec<u32> {
        children(self.child.id())
    }

    /// `rampart <args> --runtime-dir <its dir>`: a client subcommand,
    /// finding the socket by the runtime directory alone.
    pub fn ctl(&self, args: &[&str]) -> std::process::Output {
        Command::new(BIN)
            .args(args)
            .arg("--runtime-dir")
            .arg(&self.runtime)
            .output()
            .unwrap()
    }

    /// Waits for the supervisor to exit.
    pub fn exit_status(&mut self, limit: Duration) -> std::process::ExitStatus {
        let t = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                t.elapsed() < limit,
                "still running after {limit:?}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Child processes of `pid` (from /proc).
pub fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            if let Ok(s) = std::fs::read_to_string(t.path().join("children")) {
                out.extend(s.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
            }
        }
    }
    out
}

pub fn dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => true,
    }
}

pub fn wait(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

/// One full request: connect, read the backend's name, send and get an echo.
pub fn who(addr: SocketAddr) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut r = BufReader::new(s.try_clone()?);
    let mut name = String::new();
    r.read_line(&mut name)?;
    if !name.ends_with('\n') {
        return Err(std::io::Error::other("closed before the name"));
    }
    s.write_all(b"ping\n")?;
    let mut echo = String::new();
    r.read_line(&mut echo)?;
    if echo != "ping\n" {
        return Err(std::io::Error::other("no echo"));
    }
    Ok(name.trim().to_string())
}

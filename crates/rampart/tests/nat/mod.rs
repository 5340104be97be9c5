//! What the NAT lab tests share: nginx in a namespace, the node's config
//! in NAT mode, requests on new and on kept-alive connections.
#![allow(dead_code)] // each test binary uses a different subset

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use rampart_lab::{Ns, Proc};

use super::lab::{Timing, rampart_config, wait_for};

/// nginx on `addr` answering every request with its name and the address
/// the request came from.
pub struct Nginx(pub Proc);

impl Nginx {
    pub fn start(ns: &Ns, dir: &Path, name: &str, addr: &str) -> Nginx {
        let prefix = dir.join(name);
        std::fs::create_dir_all(&prefix).unwrap();
        let conf = prefix.join("nginx.conf");
        std::fs::write(
            &conf,
            format!(
                "worker_processes 1;
daemon off;
pid {p}/nginx.pid;
error_log {p}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {p}/body;
  proxy_temp_path {p}/proxy;
  fastcgi_temp_path {p}/fastcgi;
  uwsgi_temp_path {p}/uwsgi;
  scgi_temp_path {p}/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  server {{
    listen {addr};
    location / {{ default_type text/plain; return 200 \"{name} $remote_addr\\n\"; }}
  }}
}}
",
                p = prefix.display()
            ),
        )
        .unwrap();
        let conf = conf.to_string_lossy().into_owned();
        let p = ns
            .spawn("nginx", &["-c", &conf, "-p", &prefix.to_string_lossy()])
            .unwrap();
        let to: SocketAddr = addr.parse().unwrap();
        let up = wait_for(Duration::from_secs(5), || {
            ns.run_in(move || TcpStream::connect_timeout(&to, Duration::from_millis(200)).is_ok())
                .unwrap()
        });
        assert!(up, "nginx {name} did not start");
        Nginx(p)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.terminate(Duration::from_secs(2));
    }
}

/// The node's config: the seed's VRRP pair, the frontend in NAT mode, the
/// node forwarding, web2 with three times web1's weight.
pub fn nat_config(n: u8, advert: &str) -> String {
    let c = rampart_config(n, Timing::V3Fast, "")
        .replace(
            "backend = \"nginx_pool\"\n",
            "backend = \"nginx_pool\"\nmode = \"nat\"\n",
        )
        .replace(
            "addr = \"192.168.1.22:8080\" }",
            "addr = \"192.168.1.22:8080\", weight = 3 }",
        )
        .replace(
            "advert_interval = \"100ms\"",
            &format!("advert_interval = \"{advert}\""),
        );
    assert!(
        c.contains("mode = \"nat\"") && c.contains("weight = 3"),
        "{c}"
    );
    c + "\n[gateway]\nforward = [\"ipv4\"]\n"
}

/// One request on a new connection from the client: the body.
pub fn fetch(client: &Ns) -> Result<String, String> {
    client
        .run_in(|| {
            let to: SocketAddr = "10.10.0.10:80".parse().unwrap();
            let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(2))
                .map_err(|e| e.to_string())?;
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nHost: vip\r\nConnection: close\r\n\r\n")
                .map_err(|e| e.to_string())?;
            let mut r = String::new();
            s.read_to_string(&mut r).map_err(|e| e.to_string())?;
            r.split("\r\n\r\n")
                .nth(1)
                .map(|b| b.trim().to_string())
                .ok_or(r)
        })
        .unwrap()
}

/// 200 keep-alive connections through the VIP, each remembering the
/// server that answered its first request.
pub struct Conns {
    pub conns: Vec<(BufReader<TcpStream>, String)>,
}

impl Conns {
    pub fn open(client: &Ns, n: usize) -> Conns {
        let conns = client
            .run_in(move || {
                (0..n)
                    .map(|_| {
                        let to: SocketAddr = "10.10.0.10:80".parse().unwrap();
                        let s = TcpStream::connect_timeout(&to, Duration::from_secs(2)).unwrap();
                        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                        let mut r = BufReader::new(s);
                        let body = request(&mut r).unwrap();
                        (r, body)
                    })
                    .collect()
            })
            .unwrap();
        Conns { conns }
    }

    /// Sends one request on each: how many answered, from the same server.
    pub fn survivors(&mut self) -> usize {
        let mut same = 0;
        for (r, first) in &mut self.conns {
            if request(r).as_deref() == Ok(first.as_str()) {
                same += 1;
            } else {
                // Dead for good: not counted again.
                first.clear();
            }
        }
        same
    }
}

/// One keep-alive request; the body.
pub fn request(r: &mut BufReader<TcpStream>) -> Result<String, String> {
    r.get_mut()
        .write_all(b"GET / HTTP/1.1\r\nHost: vip\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut len = None;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            return Err("closed".into());
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("Content-Length: ") {
            len = v.parse::<usize>().ok();
        }
    }
    let mut body = vec![0; len.ok_or("no length")?];
    r.read_exact(&mut body).map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&body).trim().to_string())
}

//! The supervisor's side of health checking: one checker task per server,
//! kept across reloads when the server and its check are unchanged, and
//! the current up/down map that every new worker starts from.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use rampart_config::{Check, Config, Health};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use tokio::task::JoinHandle;

/// A server went up or down.
#[derive(Debug, Clone)]
pub struct HealthChange {
    pub backend: String,
    pub server: String,
    pub up: bool,
}

type Key = (String, String);

struct Checker {
    addr: SocketAddr,
    health: Health,
    passive: UnboundedSender<()>,
    task: JoinHandle<()>,
}

/// All checkers of a node.
pub struct Hub {
    tx: UnboundedSender<HealthChange>,
    checkers: HashMap<Key, Checker>,
    up: Arc<Mutex<HashMap<Key, bool>>>,
}

/// The check a server gets: its backend's, unless `check = false`.
fn effective(health: &Health, check: bool) -> Health {
    if check {
        health.clone()
    } else {
        Health {
            check: Check::None,
            ..health.clone()
        }
    }
}

impl Hub {
    pub fn new(tx: UnboundedSender<HealthChange>) -> Hub {
        Hub {
            tx,
            checkers: HashMap::new(),
            up: Arc::default(),
        }
    }

    /// Brings the checkers in line with `cfg`: unchanged servers keep their
    /// checker and state, changed ones restart from down, removed ones stop.
    pub fn sync(&mut self, cfg: &Config) {
        let mut keep = HashMap::new();
        for b in &cfg.backends {
            for s in &b.servers {
                let key = (b.name.clone(), s.name.clone());
                let health = effective(&b.health, s.check);
                match self.checkers.remove(&key) {
                    Some(c) if c.addr == s.addr && c.health == health => {
                        keep.insert(key, c);
                    }
                    old => {
                        if let Some(c) = old {
                            c.task.abort();
                        }
                        self.lock().remove(&key);
                        keep.insert(key.clone(), self.start(key, s.addr, health));
                    }
                }
            }
        }
        for (key, c) in self.checkers.drain() {
            c.task.abort();
            if let Ok(mut up) = self.up.lock() {
                up.remove(&key);
            }
        }
        self.checkers = keep;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, bool>> {
        // A panic while holding this lock cannot leave the map inconsistent
        // (single inserts/removes), so a poisoned lock is still usable.
        self.up.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn start(&self, key: Key, addr: SocketAddr, health: Health) -> Checker {
        let (passive, passive_rx) = unbounded_channel();
        let tx = self.tx.clone();
        let up = self.up.clone();
        let (b, s) = key.clone();
        let h = health.clone();
        let task = tokio::spawn(async move {
            let on_change = move |is_up: bool| {
                up.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(key.clone(), is_up);
                let _ = tx.send(HealthChange {
                    backend: key.0.clone(),
                    server: key.1.clone(),
                    up: is_up,
                });
            };
            rampart_proxy::health::run_checker(b, s, addr, h, passive_rx, on_change).await;
        });
        Checker {
            addr,
            health,
            passive,
            task,
        }
    }

    /// Servers currently up, as (backend, server).
    pub fn up_servers(&self) -> Vec<(String, String)> {
        self.lock()
            .iter()
            .filter(|(_, up)| **up)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Every server with a known state, sorted.
    pub fn states(&self) -> Vec<(String, String, bool)> {
        let mut v: Vec<_> = self
            .lock()
            .iter()
            .map(|((b, s), up)| (b.clone(), s.clone(), *up))
            .collect();
        v.sort();
        v
    }

    /// A worker saw a connect to `server` of `backend` fail.
    pub fn passive_failure(&self, backend: &str, server: &str) {
        if let Some(c) = self
            .checkers
            .get(&(backend.to_string(), server.to_string()))
        {
            let _ = c.passive.send(());
        }
    }

    pub fn stop(&mut self) {
        for (_, c) in self.checkers.drain() {
            c.task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn cfg(servers: &str) -> Config {
        let text = format!(
            "[[frontend]]\nname = \"f\"\nbind = [\"127.0.0.1:1\"]\nbackend = \"b\"\n[[backend]]\nname = \"b\"\nhealth = {{ check = \"tcp\", interval = \"1h\", timeout = \"500ms\" }}\nservers = [ {servers} ]\n"
        );
        rampart_config::parse("t.toml", &text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn reload_keeps_the_state_of_unchanged_servers_only() {
        let (tx, mut rx) = unbounded_channel();
        let mut hub = Hub::new(tx);
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let a = l.local_addr().unwrap();
        hub.sync(&cfg(&format!(r#"{{ name = "a", addr = "{a}" }}"#)));
        // The checker reports its initial state (down), then the first check.
        let up = async {
            while let Some(c) = rx.recv().await {
                if c.up && c.server == "a" {
                    return true;
                }
            }
            false
        };
        assert!(
            tokio::time::timeout(Duration::from_secs(5), up)
                .await
                .unwrap()
        );
        // From now on any new check of `a` would fail.
        drop(l);

        // `a` unchanged, `c` added: `a` keeps its checker and its UP state
        // (the next check is an hour away).
        hub.sync(&cfg(&format!(
            r#"{{ name = "a", addr = "{a}" }}, {{ name = "c", addr = "{a}" }}"#
        )));
        assert!(
            hub.up_servers()
                .contains(&("b".to_string(), "a".to_string()))
        );

        // `a` changed (new address): a new checker, state starts over.
        let moved = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        hub.sync(&cfg(&format!(r#"{{ name = "a", addr = "{moved}" }}"#)));
        assert!(
            !hub.up_servers()
                .contains(&("b".to_string(), "a".to_string()))
        );
        hub.stop();
    }
}

//! The systemd notification protocol (`Type=notify`), as HAProxy's and
//! keepalived's Debian units use it: `READY=1` once the node serves,
//! `RELOADING=1` (with `MONOTONIC_USEC`) and `READY=1` around each reload,
//! `STOPPING=1` on stop, `STATUS=` with a one-line summary, and
//! `WATCHDOG=1` from the supervisor's main loop when `WatchdogSec` is set,
//! so a stuck supervisor is restarted.
//!
//! Without `NOTIFY_SOCKET` every call does nothing. Only the supervisor
//! speaks: workers and hooks are started without the variables, so nothing
//! else can claim to be the service.

use std::time::Duration;

use sd_notify::NotifyState;

/// What the supervisor tells systemd.
#[derive(Debug)]
pub struct Systemd {
    /// How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC`, as
    /// sd_watchdog_enabled(3) advises.
    watchdog: Option<Duration>,
    /// The last `STATUS=` sent, to send only changes.
    status: String,
}

/// Variables a child must not inherit: they name this process.
pub const ENV: [&str; 3] = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"];

impl Systemd {
    pub fn from_env() -> Systemd {
        let mut usec = 0;
        let watchdog = sd_notify::watchdog_enabled(false, &mut usec)
            .then(|| Duration::from_micros(usec / 2))
            .filter(|d| !d.is_zero());
        Systemd {
            watchdog,
            status: String::new(),
        }
    }

    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog
    }

    pub fn ready(&self) {
        send(&[NotifyState::Ready]);
    }

    pub fn reloading(&self) {
        match NotifyState::monotonic_usec_now() {
            Ok(now) => send(&[NotifyState::Reloading, now]),
            Err(_) => send(&[NotifyState::Reloading]),
        }
    }

    pub fn stopping(&self) {
        send(&[NotifyState::Stopping]);
    }

    pub fn watchdog(&self) {
        send(&[NotifyState::Watchdog]);
    }

    /// Sends `STATUS=` if it changed.
    pub fn status(&mut self, line: String) {
        if line != self.status {
            send(&[NotifyState::Status(&line)]);
            self.status = line;
        }
    }
}

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::debug!("sd_notify: {e}");
    }
}

/// The one-line summary systemctl status shows, e.g.
/// "VI_1 master, VI_2 master · 2/2 servers up · 1/1 BGP established"
/// (VRRP as BGP's `while_master` sees it: master, or not).
pub fn summary(vrrp: &[(String, bool)], servers: (usize, usize), bgp: (usize, usize)) -> String {
    let mut parts = Vec::new();
    if !vrrp.is_empty() {
        let states: Vec<String> = vrrp
            .iter()
            .map(|(name, master)| {
                format!("{name} {}", if *master { "master" } else { "not master" })
            })
            .collect();
        parts.push(states.join(", "));
    }
    if servers.1 > 0 {
        parts.push(format!("{}/{} servers up", servers.0, servers.1));
    }
    if bgp.1 > 0 {
        parts.push(format!("{}/{} BGP established", bgp.0, bgp.1));
    }
    parts.join(" · ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_names_what_the_node_runs() {
        let vrrp = [("VI_1".to_string(), true), ("VI_2".to_string(), false)];
        assert_eq!(
            summary(&vrrp, (2, 2), (1, 1)),
            "VI_1 master, VI_2 not master · 2/2 servers up · 1/1 BGP established"
        );
        assert_eq!(summary(&[], (1, 3), (0, 0)), "1/3 servers up");
    }
}

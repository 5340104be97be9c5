//! `server` and `default-server` options. A server's own go over its
//! proxy's `default-server` at that line, which go over those of
//! `defaults`, as in HAProxy. What would change the bytes a server
//! receives (`ssl`) is refused; what rampart has no use for is named.

use std::net::IpAddr;

use super::{Notes, duration_ms, number};

/// Options of a `server` or `default-server` line; `None`: not set there
/// (a server's own options go over its proxy's `default-server`, which go
/// over those of `defaults`).
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct ServerOpts {
    pub(super) check: Option<bool>,
    /// Milliseconds.
    pub(super) inter: Option<u64>,
    pub(super) fall: Option<u32>,
    pub(super) rise: Option<u32>,
    pub(super) port: Option<u16>,
    pub(super) addr: Option<IpAddr>,
    pub(super) weight: Option<u32>,
    pub(super) backup: Option<bool>,
    pub(super) maxconn: Option<u32>,
    pub(super) send_proxy: Option<Option<&'static str>>,
    pub(super) disabled: Option<bool>,
    pub(super) check_ssl: Option<bool>,
}

impl ServerOpts {
    /// These options, with `base`'s where these are not set.
    pub(super) fn over(&self, base: &ServerOpts) -> ServerOpts {
        ServerOpts {
            check: self.check.or(base.check),
            inter: self.inter.or(base.inter),
            fall: self.fall.or(base.fall),
            rise: self.rise.or(base.rise),
            port: self.port.or(base.port),
            addr: self.addr.or(base.addr),
            weight: self.weight.or(base.weight),
            backup: self.backup.or(base.backup),
            maxconn: self.maxconn.or(base.maxconn),
            send_proxy: self.send_proxy.or(base.send_proxy),
            disabled: self.disabled.or(base.disabled),
            check_ssl: self.check_ssl.or(base.check_ssl),
        }
    }
}

/// The options of a `server` (after its name and address) or
/// `default-server` line. `who` names the line in warnings.
pub(super) fn server_opts(
    words: &[String],
    who: &str,
    line: usize,
    notes: &mut Notes,
) -> Result<ServerOpts, String> {
    let mut o = ServerOpts::default();
    let mut it = words.iter();
    while let Some(w) = it.next() {
        let mut value = || it.next().map(String::as_str);
        match w.as_str() {
            "check" => o.check = Some(true),
            "no-check" => o.check = Some(false),
            "inter" => o.inter = Some(duration_ms(value().ok_or("`inter` needs a time")?)?),
            "fall" => o.fall = Some(count(value(), "fall")?),
            "rise" => o.rise = Some(count(value(), "rise")?),
            "port" => {
                let p = value().ok_or("`port` needs a number")?;
                o.port = Some(
                    p.parse::<u16>()
                        .ok()
                        .filter(|p| *p > 0)
                        .ok_or_else(|| format!("`port {p}`: not a port (1-65535)"))?,
                );
            }
            "addr" => {
                let a = value().ok_or("`addr` needs an address")?;
                o.addr = Some(a.parse().map_err(|_| {
                    format!("`addr {a}`: not an IP address (host names are not imported)")
                })?);
            }
            "weight" => o.weight = Some(number(value(), "weight")?),
            "maxconn" => o.maxconn = Some(number(value(), "maxconn")?),
            "backup" => o.backup = Some(true),
            "no-backup" => o.backup = Some(false),
            "disabled" => o.disabled = Some(true),
            "enabled" => o.disabled = Some(false),
            "send-proxy" => o.send_proxy = Some(Some("v1")),
            "send-proxy-v2" => o.send_proxy = Some(Some("v2")),
            "send-proxy-v2-ssl" | "send-proxy-v2-ssl-cn" => {
                notes.warn(
                    line,
                    format!("{who}: `{w}` imported as PROXY protocol v2 without its TLS fields"),
                );
                o.send_proxy = Some(Some("v2"));
            }
            "no-send-proxy" | "no-send-proxy-v2" => o.send_proxy = Some(None),
            "check-ssl" => o.check_ssl = Some(true),
            "no-check-ssl" => o.check_ssl = Some(false),
            "ssl" => {
                return Err(format!(
                    "{who}: `ssl`: HAProxy speaks TLS to this server; rampart forwards the \
                     client's bytes as they come, so the server would receive plain text"
                ));
            }
            "fastinter" | "downinter" => {
                let v = value().unwrap_or_default();
                notes.warn(
                    line,
                    format!(
                        "{who}: `{w} {v}` not imported: rampart checks at `inter` in every state"
                    ),
                );
            }
            "observe" => {
                let v = value().unwrap_or_default();
                notes.warn(
                    line,
                    format!(
                        "{who}: `observe {v}` not needed: rampart counts every failed \
                         connection as a failed check"
                    ),
                );
            }
            other => {
                let v = if SERVER_VALUE_OPTIONS.contains(&other) {
                    value().map(|v| format!(" {v}")).unwrap_or_default()
                } else {
                    String::new()
                };
                notes.warn(
                    line,
                    format!("{who}: `{other}{v}` not imported: rampart has no counterpart"),
                );
            }
        }
    }
    Ok(o)
}

fn count(s: Option<&str>, what: &str) -> Result<u32, String> {
    match number(s, what)? {
        0 => Err(format!("`{what} 0`: must be at least 1")),
        n => Ok(n),
    }
}

/// Server options that take a value (so the value is not read as an option).
const SERVER_VALUE_OPTIONS: &[&str] = &[
    "agent-addr",
    "agent-inter",
    "agent-port",
    "agent-send",
    "alpn",
    "ca-file",
    "check-alpn",
    "check-proto",
    "check-sni",
    "ciphers",
    "ciphersuites",
    "cookie",
    "crl-file",
    "crt",
    "curves",
    "error-limit",
    "id",
    "init-addr",
    "log-proto",
    "max-reuse",
    "maxqueue",
    "minconn",
    "namespace",
    "npn",
    "on-error",
    "on-marked-down",
    "on-marked-up",
    "pool-low-conn",
    "pool-max-conn",
    "pool-purge-delay",
    "proto",
    "redir",
    "resolve-net",
    "resolve-opts",
    "resolve-prefer",
    "resolvers",
    "shard",
    "sigalgs",
    "slowstart",
    "sni",
    "socks4",
    "source",
    "ssl-max-ver",
    "ssl-min-ver",
    "tcp-ut",
    "track",
    "verify",
    "verifyhost",
    "ws",
];

//! `rampart show ...`: tables of what the running node knows, in the
//! spirit of HAProxy's `show stat` and `birdc show protocols`.

use std::fmt::Write as _;

use crate::control::{Stats, Status};

/// A table whose columns are as wide as their widest cell.
struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(header: &[&'static str]) -> Table {
        Table {
            header: header.to_vec(),
            rows: Vec::new(),
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn render(&self, indent: &str) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let mut out = String::new();
        let header: Vec<String> = self.header.iter().map(|h| h.to_string()).collect();
        for r in std::iter::once(&header).chain(&self.rows) {
            let line: Vec<String> = r
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            let _ = writeln!(out, "{indent}{}", line.join("  ").trim_end());
        }
        out
    }
}

/// Bytes in the largest unit that keeps a digit before the point.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Seconds as `3d4h`, `5h12m`, `4m10s` or `12s`.
pub fn age(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{}s", s / 60, s % 60),
        3600..86400 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{}h", s / 86400, s % 86400 / 3600),
    }
}

/// `rampart show servers`: frontends, then each backend and its servers
/// with their state, weight, traffic and checks.
pub fn servers(st: &Stats) -> String {
    let mut out = String::new();
    let Some(proxy) = &st.proxy else {
        out.push_str("(the worker did not answer: no traffic counters)\n");
        out.push_str(&crate::control::render(&Status {
            vrrp: Vec::new(),
            bgp: Vec::new(),
            gateway: None,
            ..st.status.clone()
        }));
        return out;
    };
    let mut fe = Table::new(&[
        "FRONTEND", "STATE", "CUR", "MAX", "LIMIT", "TOTAL", "RATE", "IN", "OUT", "DENIED",
    ]);
    // `mode = "nat"` frontends have no socket in the worker: their own
    // table (below) shows what the kernel did.
    let nat = |name: &str| st.status.nat.iter().any(|n| n.name == name);
    for f in proxy.frontends.iter().filter(|f| !nat(&f.name)) {
        let t = &f.traffic;
        fe.row(vec![
            f.name.clone(),
            if f.enabled { "OPEN" } else { "DISABLED" }.into(),
            t.current.to_string(),
            t.max.to_string(),
            f.limit.to_string(),
            t.total.to_string(),
            format!("{}/s", t.rate),
            bytes(t.bytes_in),
            bytes(t.bytes_out),
            t.denied.to_string(),
        ]);
    }
    if proxy.frontends.iter().any(|f| !nat(&f.name)) {
        out.push_str(&fe.render(""));
    }
    if !st.status.nat.is_empty() {
        let mut tbl = Table::new(&[
            "NAT FRONTEND",
            "VIP",
            "STATE",
            "SERVER",
            "SHARE",
            "CONNS",
            "TO PKTS",
            "TO",
            "BACK PKTS",
            "BACK",
        ]);
        for f in &st.status.nat {
            for v in &f.servers {
                let share = f.fraction(v) * 100.0;
                tbl.row(vec![
                    f.name.clone(),
                    f.vip.clone(),
                    if f.accepting { "OPEN" } else { "DISABLED" }.into(),
                    format!("{}/{}", f.backend, v.name),
                    format!("{share:.1}%"),
                    v.connections.to_string(),
                    v.packets_to.to_string(),
                    bytes(v.bytes_to),
                    v.packets_back.to_string(),
                    bytes(v.bytes_back),
                ]);
            }
        }
        out.push_str(&tbl.render(""));
    }
    for b in &proxy.backends {
        let t = &b.traffic;
        let _ = writeln!(
            out,
            "\nbackend {}: {} up of {}, {} now, {} total, {}/s, queue {} (max {}, {} timed out), \
             {} connect errors, {} retries, {} redispatches, in {}, out {}",
            b.name,
            b.servers.iter().filter(|s| s.up).count(),
            b.servers.len(),
            t.current,
            t.total,
            t.rate,
            b.queue,
            t.queue_max,
            t.queue_timeouts,
            t.connect_errors,
            t.retries,
            t.redispatches,
            bytes(t.bytes_in),
            bytes(t.bytes_out),
        );
        let mut tbl = Table::new(&[
            "SERVER", "ADDRESS", "STATE", "ADMIN", "WEIGHT", "CUR", "MAX", "TOTAL", "RATE", "IN",
            "OUT", "ERR", "RETR", "REDIS", "CHECK", "SINCE",
        ]);
        for s in &b.servers {
            let t = &s.traffic;
            let check = st.check(&b.name, &s.name);
            let last = match check {
                None => "not checked".to_string(),
                Some(c) => match (c.last_ok, c.last_duration_ms) {
                    (Some(true), Some(ms)) => format!("ok {ms:.1}ms"),
                    (Some(false), _) => {
                        format!("failed: {}", c.last_error.as_deref().unwrap_or("unknown"))
                    }
                    _ => "pending".to_string(),
                },
            };
            let since = check
                .and_then(|c| c.state_seconds)
                .map_or_else(|| "-".to_string(), age);
            tbl.row(vec![
                s.name.clone(),
                s.addr.clone(),
                if s.up { "UP" } else { "DOWN" }.into(),
                s.admin.clone(),
                s.weight.to_string(),
                t.current.to_string(),
                t.max.to_string(),
                t.total.to_string(),
                format!("{}/s", t.rate),
                bytes(t.bytes_in),
                bytes(t.bytes_out),
                t.connect_errors.to_string(),
                t.retries.to_string(),
                t.redispatches.to_string(),
                last,
                since,
            ]);
        }
        out.push_str(&tbl.render("  "));
    }
    out
}

/// `rampart show sessions`: one line per connection, oldest first.
pub fn sessions(s: &rampart_proxy::Sessions) -> String {
    let mut t = Table::new(&["ID", "CLIENT", "FRONTEND", "SERVER", "AGE", "IN", "OUT"]);
    for x in &s.sessions {
        t.row(vec![
            x.id.to_string(),
            x.client.clone(),
            x.frontend.clone(),
            match &x.server {
                Some(srv) => format!("{}/{srv}", x.backend),
                None => format!("{}/(connecting)", x.backend),
            },
            age(x.age_seconds),
            bytes(x.bytes_in),
            bytes(x.bytes_out),
        ]);
    }
    let mut out = t.render("");
    if s.total > s.sessions.len() {
        let _ = writeln!(out, "... and {} more", s.total - s.sessions.len());
    }
    let _ = writeln!(out, "{} session(s)", s.total);
    out
}

/// `rampart show bgp`: one line per neighbor.
pub fn bgp(st: &Status) -> String {
    if st.bgp.is_empty() {
        return "no BGP neighbor\n".into();
    }
    let mut t = Table::new(&[
        "NEIGHBOR",
        "ADDRESS",
        "AS",
        "STATE",
        "SINCE",
        "MSG IN",
        "MSG OUT",
        "UPD IN/OUT",
        "ROUTES OUT",
        "BFD",
        "LAST ERROR",
    ]);
    for b in &st.bgp {
        t.row(vec![
            b.name.clone(),
            b.neighbor.clone(),
            b.neighbor_as.to_string(),
            b.state.clone(),
            b.since_seconds
                .map_or_else(|| "-".into(), |s| age(s as f64)),
            b.messages_in.to_string(),
            b.messages_out.to_string(),
            format!("{}/{}", b.updates_in, b.updates_out),
            format!("{}/{}", b.routes_exported, b.routes_desired),
            b.bfd.as_ref().map_or_else(|| "-".into(), bfd),
            b.last_error.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    t.render("")
}

/// A BFD session in a word or three: `Up`, `Down (Control Detection
/// Time Expired)`.
fn bfd(b: &crate::bfd::BfdStatus) -> String {
    if b.diag == rampart_bfd::Diag::None.text() {
        format!("{:?}", b.state)
    } else {
        format!("{:?} ({})", b.state, b.diag)
    }
}

/// `rampart show vrrp`: each instance with its addresses, priority and
/// what makes it up, the peer heard, and the last transition and why.
pub fn vrrp(st: &Status) -> String {
    if st.vrrp.is_empty() {
        return "no VRRP instance\n".into();
    }
    let mut out = String::new();
    for v in &st.vrrp {
        let _ = writeln!(
            out,
            "{} (VRID {} on {}, v{}): {}, priority {} (configured {})",
            v.name,
            v.vrid,
            v.interface,
            v.version,
            v.state.to_uppercase(),
            v.priority,
            v.configured_priority
        );
        for a in &v.vips {
            let _ = writeln!(out, "  address {a}");
        }
        for t in &v.trackers {
            let _ = writeln!(
                out,
                "  tracks {}: {} (weight {}, now {})",
                t.what,
                if t.ok { "ok" } else { "FAILING" },
                t.weight,
                t.effect
            );
        }
        if let Some(p) = &v.peer {
            let prio = v
                .peer_priority
                .map_or_else(String::new, |p| format!(" priority {p}"));
            let _ = writeln!(out, "  last advert from {p}{prio}");
        }
        match &v.last_transition {
            Some(t) => {
                let _ = writeln!(
                    out,
                    "  {} -> {} {} ago: {} ({} transitions)",
                    t.from.to_uppercase(),
                    t.to.to_uppercase(),
                    age(t.seconds_ago),
                    t.cause,
                    v.transitions
                );
            }
            None => out.push_str("  no transition yet\n"),
        }
        let _ = writeln!(
            out,
            "  adverts in {} out {}, became master {} times",
            v.adverts_rx, v.adverts_tx, v.became_master
        );
        let drops: Vec<String> = v
            .drops
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        if !drops.is_empty() {
            let _ = writeln!(out, "  dropped: {}", drops.join(", "));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_ages_read_well() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
        assert_eq!(age(12.7), "12s");
        assert_eq!(age(250.0), "4m10s");
        assert_eq!(age(18_720.0), "5h12m");
        assert_eq!(age(273_600.0), "3d4h");
    }

    #[test]
    fn table_columns_line_up() {
        let mut t = Table::new(&["A", "BB"]);
        t.row(vec!["long name".into(), "x".into()]);
        t.row(vec!["s".into(), "yyy".into()]);
        assert_eq!(
            t.render(""),
            "A          BB\nlong name  x\ns          yyy\n"
        );
    }
}

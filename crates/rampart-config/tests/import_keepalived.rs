//! `rampart import keepalived` on realistic files
//! (tests/fixtures/keepalived/, after keepalived's samples and
//! keepalived.conf(5)): the exact TOML and warnings, and notify hooks set
//! to be called as keepalived calls them.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use rampart_config::{NotifyStyle, import_keepalived, parse};

fn path(name: &str) -> String {
    format!(
        "{}/tests/fixtures/keepalived/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn sync_group_and_instance_notify_hooks() {
    let p = path("sync_notify.conf");
    let text = std::fs::read_to_string(&p).unwrap();
    let got = import_keepalived(&p, &text, None).unwrap_or_else(|e| panic!("{e:?}"));
    let cfg = parse("i.toml", &got.toml).unwrap_or_else(|e| panic!("{e}\n{}", got.toml));
    let body = got.toml.split_once('\n').unwrap().1;
    assert_eq!(
        body,
        r#"
[vrrp]

[[vrrp.sync_group]]
name = "VG1"
members = ["VI_1", "VI_2"]
notify = { master = ["/usr/local/bin/vg1-notify.sh", "master"], backup = ["/usr/local/bin/vg1-notify.sh", "backup"], fault = ["/usr/local/bin/vg1-notify.sh", "fault"], any = ["/usr/local/bin/vg1-state.sh"], style = "keepalived" }

[[vrrp.instance]]
name = "VI_1"
state = "master"
interface = "eth0"
vrid = 51
priority = 100
advert_interval = "1s"
auth = { type = "pass", password = "1111" }
virtual_addresses = ["192.168.200.16", "192.168.200.17"]
notify = { master = ["/etc/keepalived/master.sh"], backup = ["/etc/keepalived/backup.sh", "VI_1"], fault = ["/etc/keepalived/fault.sh", "VI_1", "now"], stop = ["/etc/keepalived/stop.sh"], any = ["/etc/keepalived/notify.sh"], style = "keepalived" }

[[vrrp.instance]]
name = "VI_2"
state = "master"
interface = "eth1"
vrid = 52
priority = 100
advert_interval = "1s"
auth = { type = "pass", password = "1111" }
virtual_addresses = [{ addr = "10.0.0.254/24", dev = "eth1" }]
"#
    );
    let warnings: Vec<String> = got
        .warnings
        .iter()
        .map(|w| w.replace(&p, "k.conf"))
        .collect();
    assert_eq!(
        warnings,
        [
            "k.conf:5: global_defs `notification_email` not imported: rampart has no counterpart",
            "k.conf:8: global_defs `router_id` not imported: rampart has no counterpart",
            "k.conf:9: global_defs `enable_script_security` not imported: rampart has no \
             counterpart",
            "k.conf:10: global_defs `script_user keepalived_script` not imported: keepalived \
             runs scripts and notify hooks as `keepalived_script`; rampart runs them as its own \
             user (root)",
            "k.conf:22: vrrp_sync_group `smtp_alert` not imported: rampart has no counterpart",
            "k.conf:25: vrrp_instance `VI_1` is in sync group `VG1`: keepalived skips the \
             instance's own notify hooks when the group has already moved to that state; \
             rampart runs them at every change of the instance",
            "k.conf:42: `notify_stop`: keepalived runs it as user `keepalived_script`; rampart \
             runs hooks as its own user (root): make the script drop privileges itself if it \
             must",
            "k.conf:44: vrrp_instance `notify_master_rx_lower_pri` not imported: rampart has no \
             counterpart",
        ]
    );
    let group = &cfg.vrrp.sync_groups[0].notify;
    assert_eq!(group.style, NotifyStyle::Keepalived);
    assert_eq!(
        group.any.as_deref(),
        Some(&["/usr/local/bin/vg1-state.sh".to_string()][..])
    );
    let vi = &cfg.vrrp.instances[0].notify;
    assert_eq!(vi.style, NotifyStyle::Keepalived);
    assert_eq!(
        vi.stop.as_deref(),
        Some(&["/etc/keepalived/stop.sh".to_string()][..])
    );
    // Without hooks, nothing is written.
    assert_eq!(cfg.vrrp.instances[1].notify, Default::default());
}

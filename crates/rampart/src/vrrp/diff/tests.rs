use super::*;

/// Two instances (VI_1 on eth0, VI_2 on eth1) in a group, a script,
/// frontends `www` -> a and `api` -> b; `edit` rewrites the text first.
fn cfg(edit: impl Fn(String) -> String) -> Config {
    let text = r#"
[[frontend]]
name = "www"
bind = ["127.0.0.1:1"]
backend = "a"
[[frontend]]
name = "api"
bind = ["127.0.0.1:2"]
backend = "b"
[[backend]]
name = "a"
servers = [{ name = "s", addr = "127.0.0.1:3" }]
[[backend]]
name = "b"
servers = [{ name = "s", addr = "127.0.0.1:4" }]

[vrrp]
version = 3
#GLOBAL

[[vrrp.script]]
name = "chk"
command = ["/bin/true"]
interval = "1s"

#I1
[[vrrp.instance]]
name = "VI_1"
interface = "eth0"
vrid = 1
priority = 101
advert_interval = "100ms"
virtual_addresses = ["192.0.2.1/24", "192.0.2.2"]
track_proxy = { frontend = "www" }
track_scripts = ["chk"]
#END1

#I2
[[vrrp.instance]]
name = "VI_2"
interface = "eth1"
vrid = 2
priority = 101
advert_interval = "100ms"
virtual_addresses = ["198.51.100.1"]
#END2

#MORE

[[vrrp.sync_group]]
name = "VG"
members = ["VI_1", "VI_2"]
"#
    .to_string();
    let text = edit(text);
    rampart_config::parse("t.toml", &text).unwrap_or_else(|e| panic!("{}\n{text}", e.render()))
}

fn base() -> Config {
    cfg(|t| t)
}

/// The block of instance `n` (between `#In` and `#ENDn`).
fn block(text: &str, n: u8) -> String {
    let (start, end) = (format!("#I{n}\n"), format!("#END{n}\n"));
    let from = text.find(&start).unwrap_or(0);
    let to = text.find(&end).map_or(text.len(), |e| e + end.len());
    text[from..to].to_string()
}

fn change_of(d: &VrrpChange, name: &str) -> InstanceChange {
    d.instances
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, c)| c.clone())
        .unwrap_or_else(|| panic!("no {name} in {d:?}"))
}

fn ok(old: &Config, new: &Config) -> VrrpChange {
    diff(old, new).unwrap_or_else(|e| panic!("refused: {e}"))
}

#[test]
fn the_same_config_is_no_change() {
    let d = ok(&base(), &base());
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(d.counts(), [2, 0, 0, 0]);
    assert!(d.lines().is_empty());
}

#[test]
fn reordering_instances_groups_and_members_changes_nothing() {
    let swapped = cfg(|t| {
        let (b1, b2) = (block(&t, 1), block(&t, 2));
        t.replace(&b1, "#SWAP\n")
            .replace(&b2, &b1)
            .replace("#SWAP\n", &b2)
            .replace(
                r#"members = ["VI_1", "VI_2"]"#,
                r#"members = ["VI_2", "VI_1"]"#,
            )
    });
    assert_eq!(swapped.vrrp.instances[0].name, "VI_2", "really swapped");
    let d = ok(&base(), &swapped);
    assert!(d.is_empty(), "{d:?}");
}

#[test]
fn priority_and_interval_changes_are_named_with_their_values() {
    let new = cfg(|t| {
        t.replacen("priority = 101", "priority = 90", 1).replacen(
            r#"advert_interval = "100ms""#,
            r#"advert_interval = "1s""#,
            1,
        )
    });
    let d = ok(&base(), &new);
    assert_eq!(
        change_of(&d, "VI_1"),
        InstanceChange::Changed(vec![
            Field::Priority { from: 101, to: 90 },
            Field::AdvertInterval {
                from: Duration::from_millis(100),
                to: Duration::from_secs(1)
            },
        ])
    );
    assert_eq!(change_of(&d, "VI_2"), InstanceChange::Unchanged);
    assert_eq!(
        d.lines(),
        ["VRRP instance VI_1 changed in place: priority 101 -> 90, advert_interval 100ms -> 1s"]
    );
}

#[test]
fn added_and_removed_addresses_are_listed() {
    let new = cfg(|t| {
        t.replace(
            r#"["192.0.2.1/24", "192.0.2.2"]"#,
            r#"["192.0.2.1/24", "192.0.2.3"]"#,
        )
    });
    let d = ok(&base(), &new);
    let net = |s: &str| s.parse::<IpNet>().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        change_of(&d, "VI_1"),
        InstanceChange::Changed(vec![Field::Vips {
            added: vec![net("192.0.2.3/32")],
            removed: vec![net("192.0.2.2/32")],
        }])
    );
    assert!(d.lines()[0].ends_with("virtual_addresses +192.0.2.3/32 -192.0.2.2/32"));
    // Only reordered: a change (adverts list them in order), nothing moves.
    let reordered = cfg(|t| {
        t.replace(
            r#"["192.0.2.1/24", "192.0.2.2"]"#,
            r#"["192.0.2.2", "192.0.2.1/24"]"#,
        )
    });
    assert_eq!(
        change_of(&ok(&base(), &reordered), "VI_1"),
        InstanceChange::Changed(vec![Field::Vips {
            added: vec![],
            removed: vec![]
        }])
    );
}

#[test]
fn added_and_removed_instances() {
    let third = r#"
[[vrrp.instance]]
name = "VI_3"
interface = "eth0"
vrid = 3
advert_interval = "100ms"
virtual_addresses = ["192.0.2.30"]
"#;
    let new = cfg(|t| t.replace("#MORE\n", third));
    let d = ok(&base(), &new);
    assert_eq!(change_of(&d, "VI_3"), InstanceChange::Added);
    assert_eq!(d.counts(), [2, 0, 1, 0]);
    assert_eq!(d.lines(), ["VRRP instance VI_3 added"]);
    let d = ok(&new, &base());
    assert_eq!(change_of(&d, "VI_3"), InstanceChange::Removed);
    assert_eq!(d.counts(), [2, 0, 0, 1]);
    assert_eq!(d.instances.last().map(|(n, _)| n.as_str()), Some("VI_3"));

    // Removing VI_2 dissolves the group (a group needs two members).
    let new = cfg(|t| {
        let b2 = block(&t, 2);
        let t = t.replace(&b2, "");
        let g = t.find("[[vrrp.sync_group]]").unwrap_or(t.len());
        t[..g].to_string()
    });
    let d = ok(&base(), &new);
    assert_eq!(change_of(&d, "VI_2"), InstanceChange::Removed);
    assert_eq!(d.groups, [("VG".to_string(), Change::Removed)]);
}

#[test]
fn identity_changes_are_refused_naming_the_instance_and_field() {
    let cases = [
        (
            "interface",
            r#"interface = "eth0""#,
            r#"interface = "eth2""#,
        ),
        ("vrid", "vrid = 1", "vrid = 9"),
        (
            "address family",
            r#"virtual_addresses = ["192.0.2.1/24", "192.0.2.2"]"#,
            r#"virtual_addresses = ["2001:db8::1"]"#,
        ),
        (
            "version",
            "priority = 101\nadvert_interval = \"100ms\"\nvirtual_addresses = [\"192.0.2.1",
            "priority = 101\nversion = 2\nadvert_interval = \"1s\"\nvirtual_addresses = [\"192.0.2.1",
        ),
    ];
    for (field, from, to) in cases {
        let new = cfg(|t| {
            assert!(t.contains(from), "{field}");
            t.replacen(from, to, 1)
        });
        let e = diff(&base(), &new)
            .err()
            .unwrap_or_else(|| panic!("{field} accepted"));
        assert_eq!((e.instance.as_str(), e.field), ("VI_1", field));
        let text = e.to_string();
        assert!(text.starts_with(&format!("VRRP instance VI_1: {field} cannot change")));
    }
    // The same under a new name is a removal and an addition.
    let renamed = cfg(|t| {
        t.replacen(r#"interface = "eth0""#, r#"interface = "eth2""#, 1)
            .replace(r#"name = "VI_1""#, r#"name = "VI_9""#)
            .replace(r#"["VI_1", "VI_2"]"#, r#"["VI_9", "VI_2"]"#)
    });
    let d = ok(&base(), &renamed);
    assert_eq!(change_of(&d, "VI_9"), InstanceChange::Added);
    assert_eq!(change_of(&d, "VI_1"), InstanceChange::Removed);
    assert_eq!(d.groups, [("VG".to_string(), Change::Changed)]);
}

#[test]
fn what_an_instance_tracks_includes_its_frontends_backend_and_scripts() {
    // The tracked frontend forwards to another backend: VI_1 changes.
    let new = cfg(|t| t.replacen(r#"backend = "a""#, r#"backend = "b""#, 1));
    let d = ok(&base(), &new);
    assert_eq!(
        change_of(&d, "VI_1"),
        InstanceChange::Changed(vec![Field::TrackProxy])
    );
    // The script's definition changes: the script and its tracker.
    let new = cfg(|t| t.replace(r#"interval = "1s""#, r#"interval = "2s""#));
    let d = ok(&base(), &new);
    assert_eq!(d.scripts, [("chk".to_string(), Change::Changed)]);
    assert_eq!(
        change_of(&d, "VI_1"),
        InstanceChange::Changed(vec![Field::TrackScripts])
    );
    assert_eq!(change_of(&d, "VI_2"), InstanceChange::Unchanged);
}

#[test]
fn global_settings_reach_the_instances_that_use_them() {
    let new = cfg(|t| {
        t.replace(
            "#GLOBAL\n",
            "garp = { repeat = 2 }\nnotify_timeout = \"3s\"\n",
        )
    });
    let d = ok(&base(), &new);
    for name in ["VI_1", "VI_2"] {
        assert_eq!(
            change_of(&d, name),
            InstanceChange::Changed(vec![Field::Garp])
        );
    }
    assert_eq!(
        d.notify_timeout,
        Some((Duration::from_secs(10), Duration::from_secs(3)))
    );
    assert!(
        d.lines()
            .contains(&"VRRP notify_timeout 10s -> 3s".to_string())
    );
    // Every other setting is named too (one of each).
    let new = cfg(|t| {
        t.replacen(
            "priority = 101\nadvert_interval = \"100ms\"\nvirtual_addresses = [\"192.0.2.1",
            "priority = 101\nadvert_interval = \"100ms\"\npreempt_delay = \"1s\"\nunicast_src = \"10.0.0.1\"\nunicast_peers = [\"10.0.0.2\"]\nnotify = { master = [\"/bin/true\"] }\ntrack_interfaces = [\"eth3\"]\nvirtual_addresses = [\"192.0.2.1",
            1,
        )
    });
    assert_eq!(
        change_of(&ok(&base(), &new), "VI_1"),
        InstanceChange::Changed(vec![
            Field::PreemptDelay,
            Field::UnicastSrc,
            Field::UnicastPeers,
            Field::TrackInterfaces,
            Field::Notify,
        ])
    );
}

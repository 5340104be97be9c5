//! `mode = "nat"`: what it needs (the node forwarding, one VIP of the
//! servers' family) and every key only the proxy honours, refused where
//! it is written with the reason.

mod common;

use common::{expect, ok};
use rampart_config::Mode;

/// A NAT frontend with `extra` on line 6, its backend, and forwarding.
fn nat(extra_frontend: &str, extra_backend: &str, gateway: &str) -> String {
    format!(
        r#"[[frontend]]
name = "www"
bind = ["10.0.0.10:80"]
backend = "pool"
mode = "nat"
{extra_frontend}
[[backend]]
name = "pool"
{extra_backend}
servers = [{{ name = "a", addr = "192.168.1.21:80" }}]
{gateway}"#
    )
}

const FORWARD: &str = "[gateway]\nforward = [\"ipv4\"]\n";

#[test]
fn a_nat_frontend_with_forwarding_is_valid() {
    let c = ok(&nat("rate_limit = 1000", "balance = \"source\"", FORWARD));
    assert_eq!(c.frontends[0].mode, Mode::Nat);
    assert_eq!(c.frontends[0].rate_limit, Some(1000));
    // The default stays the proxy.
    let c = ok(&format!("{}{}", common::WWW, common::POOL));
    assert_eq!(c.frontends[0].mode, Mode::Proxy);
}

#[test]
fn nat_needs_the_node_to_forward() {
    expect(
        &nat("", "", ""),
        &[(5, 8, "needs `[gateway]` with `forward = [\"ipv4\"]`")],
    );
}

#[test]
fn keys_only_the_proxy_honours_are_refused_with_the_reason() {
    expect(
        &nat("maxconn = 10", "", FORWARD),
        &[(
            6,
            11,
            "`maxconn` is not honoured in `mode = \"nat\"`: the kernel forwards packets",
        )],
    );
    expect(
        &nat("", "retries = 2", FORWARD),
        &[(9, 11, "`retries` is not honoured by frontend `www`")],
    );
    expect(
        &nat("", "balance = \"roundrobin\"", FORWARD),
        &[(9, 11, "Maglev hash of the client's address and port")],
    );
    expect(
        &nat("", "timeout = { connect = \"1s\" }", FORWARD),
        &[(9, 11, "no per-connection timers")],
    );
    let src = nat("", "", FORWARD).replace(
        "addr = \"192.168.1.21:80\" }",
        "addr = \"192.168.1.21:80\", send_proxy = \"v2\", maxconn = 5 }",
    );
    expect(
        &src,
        &[
            (10, 65, "cannot insert a PROXY header"),
            (10, 81, "`maxconn` is not honoured"),
        ],
    );
}

#[test]
fn one_specific_vip_of_the_servers_family() {
    expect(
        &nat("", "", FORWARD).replace(
            "bind = [\"10.0.0.10:80\"]",
            "bind = [\"0.0.0.0:80\", \"10.0.0.11:80\"]",
        ),
        &[
            (
                3,
                9,
                "needs the service's own address and port (the VIP), not 0.0.0.0:80",
            ),
            (3, 23, "binds one address"),
        ],
    );
    expect(
        &nat("", "", "[gateway]\nforward = [\"ipv4\", \"ipv6\"]\n")
            .replace("10.0.0.10:80", "[2001:db8::10]:80"),
        &[(5, 8, "is not of the family of [2001:db8::10]:80")],
    );
}

#[test]
fn rate_limit_is_for_nat_only() {
    let src = format!("{}rate_limit = 5\n{}", common::WWW, common::POOL);
    expect(&src, &[(5, 14, "in `mode = \"nat\"` only")]);
}

#[test]
fn a_server_behind_two_nat_vips_is_refused() {
    let src = nat("", "", FORWARD)
        + r#"[[frontend]]
name = "other"
bind = ["10.0.0.11:80"]
backend = "pool"
mode = "nat"
"#;
    expect(
        &src,
        &[(17, 8, "is behind both `www` (10.0.0.10:80) and `other`")],
    );
}

#[test]
fn servers_nat_cannot_reach_are_refused() {
    let twice = nat("", "", FORWARD).replace(
        "servers = [{ name = \"a\", addr = \"192.168.1.21:80\" }]",
        "servers = [{ name = \"a\", addr = \"192.168.1.21:80\" }, { name = \"b\", addr = \"192.168.1.21:80\" }]",
    );
    expect(&twice, &[(5, 8, "is listed twice in backend `pool`")]);
    let local = nat("", "", FORWARD).replace("192.168.1.21:80", "127.0.0.1:80");
    expect(&local, &[(5, 8, "cannot be reached by rewriting packets")]);
    let mapped = nat("", "", FORWARD).replace("10.0.0.10:80", "[::ffff:10.0.0.10]:80");
    expect(
        &mapped,
        &[
            (3, 9, "needs the service's own address and port"),
            (5, 8, "needs `[gateway]` with `forward = [\"ipv6\"]`"),
            (5, 8, "is not of the family of"),
        ],
    );
}

//! Errors in `[bgp]` itself: its keys and shape, `router_id` and
//! `local_as` (required once there are neighbors), AS number ranges, hold
//! times and the other durations. Every test pins the line and column of
//! each diagnostic.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use common::{BGP, expect, neighbor_with};

/// [`BGP`] with `extra` in `[bgp]`, on line 4.
fn bgp_with(extra: &str) -> String {
    BGP.replace(
        "local_as = 65000\n",
        &format!("local_as = 65000\n{extra}\n"),
    )
}

#[test]
fn bgp_section_keys_and_shape() {
    expect(
        &bgp_with("neighbors = []"),
        &[(
            4,
            1,
            "unknown key `neighbors` in [bgp]; did you mean `neighbor`?",
        )],
    );
    expect(
        "bgp = 1\n",
        &[(1, 7, "`bgp` must be a table, found an integer")],
    );
    expect(
        "[bgp.neighbor]\nname = \"bgp1\"\n",
        &[(1, 6, "write [[bgp.neighbor]], not [bgp.neighbor]")],
    );
}

#[test]
fn router_id_and_local_as_are_required_with_neighbors() {
    let neighbor =
        "[[bgp.neighbor]]\nname = \"bgp1\"\naddress = \"169.254.255.1\"\nremote_as = 65530\n";
    expect(
        &format!("[bgp]\n{neighbor}"),
        &[
            (1, 1, "missing required key `router_id` in [bgp]"),
            (1, 1, "missing required key `local_as` in [bgp]"),
        ],
    );
    // Without a [bgp] header the section is implicit: the errors point at
    // the `bgp` of the first header.
    expect(
        neighbor,
        &[
            (1, 3, "missing required key `router_id` in [bgp]"),
            (1, 3, "missing required key `local_as` in [bgp]"),
        ],
    );
}

#[test]
fn router_id_is_a_nonzero_ipv4_address() {
    let id = |s: &str| BGP.replace("\"192.0.2.1\"", &format!("\"{s}\""));
    expect(
        &id("0.0.0.0"),
        &[(
            2,
            13,
            "`router_id` must not be 0.0.0.0: the BGP identifier is non-zero (RFC 6286)",
        )],
    );
    expect(
        &id("2001:db8::1"),
        &[(
            2,
            13,
            "`router_id` must be written as an IPv4 address, got `2001:db8::1`: the BGP \
             identifier is 32 bits (RFC 6286), even on IPv6-only nodes",
        )],
    );
    expect(
        &id("lb1"),
        &[(2, 13, "`router_id`: `lb1` is not an IPv4 address")],
    );
    expect(
        &BGP.replace("\"192.0.2.1\"", "3232235777"),
        &[(2, 13, "`router_id` must be a string, found an integer")],
    );
}

#[test]
fn as_numbers_are_1_to_4294967295_but_not_as_trans() {
    let local = |n: &str| BGP.replace("local_as = 65000", &format!("local_as = {n}"));
    expect(
        &local("0"),
        &[(3, 12, "`local_as` must be at least 1, got 0")],
    );
    expect(
        &local("4294967296"),
        &[(
            3,
            12,
            "`local_as` must be at most 4294967295, got 4294967296",
        )],
    );
    expect(
        &local("23456"),
        &[(
            3,
            12,
            "`local_as` 23456 is AS_TRANS (RFC 6793), a placeholder that no speaker may use as \
             its AS",
        )],
    );
    expect(
        &BGP.replace("65530", "-1"),
        &[(7, 13, "`remote_as` must be at least 1, got -1")],
    );
    expect(
        &BGP.replace("65530", "\"65530\""),
        &[(7, 13, "`remote_as` must be an integer, found a string")],
    );
}

#[test]
fn hold_time_is_0_or_3_to_65535_whole_seconds() {
    for (written, col) in [("1s", 13), ("2s", 13), ("65536s", 13)] {
        expect(
            &bgp_with(&format!("hold_time = \"{written}\"")),
            &[(
                4,
                col,
                &format!(
                    "`hold_time` must be 0s (no keepalives) or between 3s and 65535s (RFC \
                     4271), got {written}"
                ),
            )],
        );
    }
    expect(
        &bgp_with("hold_time = \"4500ms\""),
        &[(
            4,
            13,
            "`hold_time` must be whole seconds (BGP counts the hold time in seconds), got 4500ms",
        )],
    );
    expect(
        &neighbor_with("hold_time = \"2s\""),
        &[(
            8,
            13,
            "`hold_time` must be 0s (no keepalives) or between 3s",
        )],
    );
    expect(
        &neighbor_with("hold_time = \"90\""),
        &[(8, 13, "`hold_time`: missing unit in `90`")],
    );
}

#[test]
fn connect_retry_and_other_durations() {
    for written in ["0s", "500ms", "121s"] {
        expect(
            &bgp_with(&format!("connect_retry = \"{written}\"")),
            &[(
                4,
                17,
                &format!(
                    "`connect_retry` must be between 1s and 120s (the retry wait doubles up to \
                     120s), got {written}"
                ),
            )],
        );
    }
    expect(
        &bgp_with("hold_down = \"-1s\"\nshutdown_bound = 2"),
        &[
            (4, 13, "`hold_down`: negative duration"),
            (
                5,
                18,
                "`shutdown_bound` must be a duration string such as \"5s\", found an integer",
            ),
        ],
    );
}

//! rampart.toml(5): docs/config.md, embedded at build time and converted.
//!
//! `include_str!` makes the markdown part of the binary (and cargo rebuilds
//! the binary when it changes), so the page a package installs is the
//! reference of the very binary it installs. What the markdown does not
//! say, a man page must: NAME and SYNOPSIS (for whatis(1) and apropos(1)),
//! FILES and SEE ALSO; they are written here.

use super::markdown;
use super::roff::{Page, escape};

/// The configuration reference, as the repository shows it.
pub const SOURCE: &str = include_str!("../../../../docs/config.md");

/// The page's file name: `man 5 rampart.toml` finds it by this name.
pub const FILE_NAME: &str = "rampart.toml.5";

const INTRO: &str = "
## DESCRIPTION

rampart(8) reads one TOML file: `/etc/rampart/rampart.toml` unless
`rampart run -c FILE` or `rampart check -c FILE` names another. This page
is the configuration reference, `docs/config.md` in the source; each table
is shown as one entry per row.
";

const OUTRO: &str = "
## FILES

| File | |
|---|---|
| `/etc/rampart/rampart.toml` | The node's configuration (a loopback example until edited). |
| `/usr/share/doc/rampart/examples/` | `quickstart.toml` (loopback), `seed-lb.toml` and `seed-lb2.toml` (the two nodes of the reference deployment), and the `haproxy.cfg` and `keepalived.conf` they were translated from. |

## SEE ALSO

rampart(8), rampart-check(8), rampart-import(8), haproxy(1), keepalived.conf(5), bird(8)
";

/// rampart.toml(5), as roff source (not yet made ASCII).
pub fn render(version: &str) -> String {
    let mut page = Page::new();
    page.control(
        "TH",
        &[
            "RAMPART.TOML",
            "5",
            "\"\"",
            &format!("\"rampart {}\"", escape(version)),
            "\"File Formats Manual\"",
        ],
    );
    // Keys and values are code: never hyphenate them at a line end (the
    // reader would copy `unicast_-` `min_ttl`), and do not stretch lines
    // full of long tokens to the right margin.
    page.control("nh", &[]);
    page.control("ad", &["l"]);

    page.control("SH", &["NAME"]);
    page.text(&escape("rampart.toml - configuration file of rampart(8)"));
    page.control("SH", &["SYNOPSIS"]);
    page.text("\\fI/etc/rampart/rampart.toml\\fR");
    markdown::to_roff(INTRO, &mut page);
    markdown::to_roff(SOURCE, &mut page);
    markdown::to_roff(OUTRO, &mut page);
    page.finish()
}

//! rampart(8) and one page per subcommand (rampart-run(8), ...), from the
//! real `Cli` through clap_mangen, as git and cargo do: `man rampart`
//! lists the subcommands, `man rampart-check` has check's options. Hidden
//! subcommand (`generate`) gets no page and is not listed.
//!
//! rampart(8) also gets what clap does not know: FILES, ENVIRONMENT, EXIT
//! STATUS and SEE ALSO, inserted before clap_mangen's VERSION section.

use std::io;

use clap_mangen::Man;

use super::markdown;
use super::roff::{Page, escape};

/// Section 8: system administration commands (a daemon run as root).
const SECTION: &str = "8";
const MANUAL: &str = "System Administration";

/// (file name, roff source) of every command page.
pub fn render(cmd: clap::Command, version: &str) -> io::Result<Vec<(String, String)>> {
    // As clap_mangen's own `generate_to`: no `help` subcommand page, and
    // `build` sets each subcommand's display name (`rampart-run`) and
    // usage (`rampart run ...`).
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let source = format!("rampart {version}");
    let man = |c: &clap::Command| {
        Man::new(c.clone())
            .section(SECTION)
            .manual(MANUAL)
            .source(source.clone())
            // An empty date would be an empty argument, which clap_mangen
            // writes as nothing and shifts the .TH arguments after it; a
            // date would make every build differ.
            .date("\"\"")
    };

    let visible: Vec<&clap::Command> = cmd.get_subcommands().filter(|s| !s.is_hide_set()).collect();
    let sub_pages: Vec<String> = visible
        .iter()
        .map(|s| format!("rampart-{}({SECTION})", s.get_name()))
        .collect();
    let mut pages = vec![("rampart.8".to_owned(), main_page(&man(&cmd), &sub_pages)?)];
    for sub in visible {
        let page = man(sub);
        let mut text = no_hyphenation(&render_with(&page, |m, w| m.render(w))?);
        text.push_str(&see_also(&["rampart(8)", "rampart.toml(5)"]));
        pages.push((page.get_filename(), text));
    }
    Ok(pages)
}

/// One of clap_mangen's `render_*_section` methods.
type Section = fn(&Man, &mut dyn io::Write) -> io::Result<()>;

/// rampart(8): clap_mangen's sections, then ours, then VERSION.
fn main_page(man: &Man, sub_pages: &[String]) -> io::Result<String> {
    // Each `render_*` writes the `roff` crate's preamble (the `Aq` string
    // it spells apostrophes with) first; keep the first copy only.
    let title = render_with(man, |m, w| m.render_title(w))?;
    let preamble = title.find(".TH").map_or("", |at| &title[..at]).to_owned();
    let mut out = no_hyphenation(&title);
    let sections: [Section; 5] = [
        |m, w| m.render_name_section(w),
        |m, w| m.render_synopsis_section(w),
        |m, w| m.render_description_section(w),
        |m, w| m.render_options_section(w),
        |m, w| m.render_subcommands_section(w),
    ];
    for section in sections {
        let text = render_with(man, section)?;
        out.push_str(text.strip_prefix(preamble.as_str()).unwrap_or(&text));
    }
    out.push_str(&extra_sections(sub_pages));
    let version = render_with(man, |m, w| m.render_version_section(w))?;
    out.push_str(version.strip_prefix(preamble.as_str()).unwrap_or(&version));
    Ok(out)
}

/// `.nh` and `.ad l` right after `.TH`, as rampart.toml(5) has: option
/// and variable names (`RELOADING=1`, `--runtime-dir`) must not be
/// hyphenated at a line end, nor lines full of them stretched.
fn no_hyphenation(page: &str) -> String {
    match page
        .find(".TH ")
        .and_then(|at| page[at..].find('\n').map(|nl| at + nl + 1))
    {
        Some(end) => format!("{}.nh\n.ad l\n{}", &page[..end], &page[end..]),
        None => page.to_owned(),
    }
}

fn render_with(
    man: &Man,
    f: impl Fn(&Man, &mut dyn io::Write) -> io::Result<()>,
) -> io::Result<String> {
    let mut buf = Vec::new();
    f(man, &mut buf)?;
    String::from_utf8(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// What an administrator looks for in a daemon's page beyond its options,
/// written in markdown and converted as rampart.toml(5) is.
const EXTRA_SECTIONS: &str = r#"
## FILES

| File | |
|---|---|
| `/etc/rampart/rampart.toml` | The configuration `run` and `check` read when no `-c` is given; see rampart.toml(5). |
| `/run/rampart/` | The runtime directory (`--runtime-dir`; `$XDG_RUNTIME_DIR/rampart` for a user other than root who has one): `rampart.lock`, held by the running node; `rampart.sock`, the control socket `status` and `reload` talk to; the forwarding values `[gateway]` found at start. |
| `/lib/systemd/system/rampart.service` | The systemd unit: `systemctl enable --now rampart` runs the node as the user `rampart` with `CAP_NET_ADMIN`, `CAP_NET_RAW` and `CAP_NET_BIND_SERVICE` only; `systemctl reload rampart` runs `rampart reload`. |
| `/usr/share/doc/rampart/examples/` | Example configurations: `quickstart.toml` (loopback) and the reference deployment's two nodes, `seed-lb.toml` and `seed-lb2.toml`. |

## ENVIRONMENT

| Variable | |
|---|---|
| `RUST_LOG` | Log filter (tracing's env-filter syntax); wins over `--log-level` and the configuration's `log_level`. |
| `NOTIFY_SOCKET`, `WATCHDOG_USEC` | Set by systemd for `Type=notify`: `run` reports `READY=1`, `RELOADING=1`, `STOPPING=1` and a `STATUS=` line, and pings the watchdog at half its period. |

## EXIT STATUS

0 on success: a valid configuration for `check`, a reload applied for
`reload`, a clean stop for `run`. 1 on any error, each printed on standard
error (for `check` and `reload`, every configuration error with its file,
line and column). 2 for a command line that cannot be parsed.
"#;

fn extra_sections(sub_pages: &[String]) -> String {
    let mut page = Page::new();
    markdown::to_roff(EXTRA_SECTIONS, &mut page);
    let mut out = page.finish();
    let mut see = vec!["rampart.toml(5)"];
    see.extend(sub_pages.iter().map(String::as_str));
    see.extend(["systemctl(1)", "haproxy(1)", "keepalived(8)", "bird(8)"]);
    out.push_str(&see_also(&see));
    out
}

fn see_also(pages: &[&str]) -> String {
    let mut page = Page::new();
    page.control("SH", &["SEE ALSO"]);
    page.text(&escape(&pages.join(", ")));
    page.finish()
}

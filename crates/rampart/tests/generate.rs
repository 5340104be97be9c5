//! `rampart generate DIR`, run as the packaging runs it: the real binary,
//! its output read back. The man pages are rendered by groff, which must
//! be installed (.ci/run installs groff-base): without it these tests fail
//! rather than skip, since they are what keeps rampart.toml(5) from
//! drifting from docs/config.md.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_rampart");
const CONFIG_MD: &str = include_str!("../../../docs/config.md");

/// Runs `rampart generate` into a fresh directory.
fn generate() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(BIN)
        .arg("generate")
        .arg(dir.path())
        .output()
        .expect("run rampart generate");
    assert!(
        out.status.success(),
        "rampart generate failed: {}",
        text(&out.stderr)
    );
    let path = dir.path().to_owned();
    (dir, path)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// groff over a page, wide (so that no line wraps in the middle of what a
/// test looks for) and without bold/underline overstriking.
fn groff(page: &Path, extra: &[&str]) -> Output {
    Command::new("groff")
        .args(["-man", "-Tutf8", "-P-cbou", "-rLL=250n"])
        .args(extra)
        .arg(page)
        .output()
        .expect("groff must be installed (apt-get install groff-base)")
}

/// The page as a reader sees it, with every run of white space made one
/// space and the few glyphs groff may substitute put back as typed.
fn rendered(page: &Path) -> String {
    let out = groff(page, &[]);
    assert!(
        out.status.success(),
        "groff failed on {}: {}",
        page.display(),
        text(&out.stderr)
    );
    normalize(&text(&out.stdout))
}

fn normalize(s: &str) -> String {
    let s = s
        .replace(['\u{2212}', '\u{2010}'], "-")
        .replace(['\u{2018}', '\u{2019}'], "'");
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Markdown inline text as it reads: code spans lose their backticks,
/// bold its stars, a table's `\|` is a `|`.
fn plain(md: &str) -> String {
    normalize(&md.replace('`', "").replace("**", "").replace("\\|", "|"))
}

/// Every `#`, `##`, `###` heading of docs/config.md, outside code blocks.
fn headings(md: &str) -> Vec<String> {
    let mut fenced = false;
    let mut out = Vec::new();
    for line in md.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            for prefix in ["### ", "## ", "# "] {
                if let Some(h) = line.strip_prefix(prefix) {
                    out.push(plain(h));
                    break;
                }
            }
        }
    }
    out
}

/// The first cell of every body row of every pipe table (the key, form or
/// old-config line each row describes).
fn first_cells(md: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut row_in_table = 0;
    for line in md.lines() {
        if !line.starts_with('|') {
            row_in_table = 0;
            continue;
        }
        row_in_table += 1;
        // Row 1 is the header, row 2 the |---| separator.
        if row_in_table <= 2 {
            continue;
        }
        // Split at the first `|` that is not escaped (`\|`).
        let body = &line[1..];
        let mut end = body.len();
        let bytes = body.as_bytes();
        for i in 0..bytes.len() {
            if bytes[i] == b'|' && (i == 0 || bytes[i - 1] != b'\\') {
                end = i;
                break;
            }
        }
        out.push(plain(&body[..end]));
    }
    out
}

#[test]
fn config_page_has_every_heading_and_every_table_key_of_config_md() {
    let (_dir, out) = generate();
    let page = rendered(&out.join("man/rampart.toml.5"));

    let headings = headings(CONFIG_MD);
    // Guards the extraction itself: docs/config.md has a title, its
    // sections (global, frontend, backend, vrrp, bgp, gateway...) and their
    // subsections.
    assert!(
        headings.len() >= 20,
        "only {} headings found in docs/config.md",
        headings.len()
    );
    let missing: Vec<_> = headings
        .iter()
        .filter(|h| !page.contains(h.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "rampart.toml(5) lacks these headings of docs/config.md: {missing:#?}"
    );

    let keys = first_cells(CONFIG_MD);
    assert!(
        keys.len() >= 150,
        "only {} table rows found in docs/config.md",
        keys.len()
    );
    for key in [
        "threads",
        "unicast_min_ttl",
        "local_pref",
        "masquerade",
        "{ while_master = \"VI_1\" }",
    ] {
        assert!(
            keys.iter().any(|k| k == key),
            "table extraction missed {key}"
        );
    }
    let missing: Vec<_> = keys.iter().filter(|k| !page.contains(k.as_str())).collect();
    assert!(
        missing.is_empty(),
        "rampart.toml(5) lacks these table rows of docs/config.md: {missing:#?}"
    );
}

#[test]
fn command_page_names_every_subcommand_of_help_and_no_hidden_one() {
    let (_dir, out) = generate();
    let help = Command::new(BIN)
        .arg("--help")
        .output()
        .expect("rampart --help");
    assert!(help.status.success());
    let help = text(&help.stdout);
    let commands: Vec<&str> = help
        .split("Commands:")
        .nth(1)
        .expect("a Commands: section in rampart --help")
        .lines()
        .skip(1) // the rest of the "Commands:" line
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(
        commands.len() >= 6,
        "too few subcommands parsed from --help: {commands:?}"
    );

    let main = rendered(&out.join("man/rampart.8"));
    for c in &commands {
        let name = format!("rampart-{c}(8)");
        assert!(main.contains(&name), "rampart(8) does not name {name}");
        let sub = rendered(&out.join(format!("man/rampart-{c}.8")));
        assert!(
            sub.contains(&format!("rampart {c}")),
            "rampart-{c}(8) has no synopsis"
        );
    }
    // The hidden subcommand is internal.
    assert!(
        !commands.contains(&"generate"),
        "--help lists the hidden generate"
    );
    assert!(
        !main.contains("rampart-generate"),
        "rampart(8) names generate"
    );
    assert!(!out.join("man/rampart-generate.8").exists());
}

#[test]
fn every_page_renders_without_groff_warnings_and_is_ascii() {
    let (_dir, out) = generate();
    let mut pages: Vec<PathBuf> = std::fs::read_dir(out.join("man"))
        .expect("man dir")
        .map(|e| e.expect("entry").path())
        .collect();
    pages.sort();
    assert!(
        pages.len() >= 8,
        "expected rampart(8), 6 subcommand pages and rampart.toml(5): {pages:?}"
    );
    for page in &pages {
        let source = std::fs::read(page).expect("read page");
        assert!(source.is_ascii(), "{} is not pure ASCII", page.display());
        // At a terminal's width, as man shows it: -ww turns on every
        // warning, -z discards the output.
        let out = Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(page)
            .output()
            .expect("groff must be installed (apt-get install groff-base)");
        let warnings = text(&out.stderr);
        assert!(
            out.status.success() && warnings.is_empty(),
            "groff on {}: {warnings}",
            page.display()
        );
    }
}

#[test]
fn completions_are_written_and_bash_parses_them() {
    let (_dir, out) = generate();
    for (file, marker) in [
        ("rampart", "complete -F"),
        ("_rampart", "#compdef rampart"),
        ("rampart.fish", "complete -c rampart"),
    ] {
        let body = std::fs::read_to_string(out.join("completions").join(file)).expect(file);
        assert!(body.contains(marker), "{file} lacks {marker:?}");
        for sub in ["run", "check", "reload", "upgrade", "status", "import"] {
            assert!(body.contains(sub), "{file} does not complete {sub}");
        }
        // The hidden subcommand is internal: not offered. (The worker is
        // no subcommand at all: `run` starts it by its argv[0].)
        assert!(!body.contains("generate"), "{file} offers `generate`");
    }
    let bash = Command::new("bash")
        .arg("-n")
        .arg(out.join("completions/rampart"))
        .output()
        .expect("bash");
    assert!(bash.status.success(), "bash -n: {}", text(&bash.stderr));
}

#[test]
fn generate_into_an_impossible_directory_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").expect("write");
    let out = Command::new(BIN)
        .arg("generate")
        .arg(&file)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("cannot create") && err.contains("a-file"),
        "stderr: {err}"
    );
    assert!(!err.contains("panicked"), "stderr: {err}");
}

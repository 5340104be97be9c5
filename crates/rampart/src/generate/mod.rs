//! `rampart generate DIR` (hidden): the files a package installs beside
//! the binary, made by the binary itself so they describe exactly it:
//!
//! ```text
//! DIR/man/rampart.8            clap_mangen, from the real `Cli`
//! DIR/man/rampart-<sub>.8      one per visible subcommand
//! DIR/man/rampart.toml.5       docs/config.md, converted (config_page.rs)
//! DIR/completions/rampart      bash   (clap_complete)
//! DIR/completions/_rampart     zsh
//! DIR/completions/rampart.fish fish
//! ```
//!
//! The file names are the ones each shell's completion directory expects,
//! so `scripts/package` and the package metadata copy them unrenamed.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap_complete::Shell;

mod config_page;
mod manual;
mod markdown;
mod roff;

/// The shells completions are written for, and each one's file name.
const COMPLETIONS: [(Shell, &str); 3] = [
    (Shell::Bash, "rampart"),
    (Shell::Zsh, "_rampart"),
    (Shell::Fish, "rampart.fish"),
];

/// Writes every file under `dir` (created if needed) and returns their paths.
pub fn write_all(cmd: clap::Command, dir: &Path) -> Result<Vec<PathBuf>> {
    let version = env!("CARGO_PKG_VERSION");
    let man_dir = dir.join("man");
    let completion_dir = dir.join("completions");
    let mut written = Vec::new();

    let mut pages = manual::render(cmd.clone(), version).context("rendering the man pages")?;
    pages.push((
        config_page::FILE_NAME.to_owned(),
        config_page::render(version),
    ));
    for (name, text) in pages {
        written.push(write(&man_dir, &name, roff::ascii(&text).as_bytes())?);
    }

    for (shell, name) in COMPLETIONS {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut without_hidden(&cmd), "rampart", &mut buf);
        written.push(write(&completion_dir, name, &buf)?);
    }
    Ok(written)
}

/// The command as a user sees it. clap_complete (4.6) completes hidden
/// subcommands too, and `rampart gen<TAB>` must not offer the internal
/// `generate`; clap has no way to remove a subcommand, so the
/// top level is rebuilt from its visible parts (the subcommands themselves
/// are kept whole).
fn without_hidden(cmd: &clap::Command) -> clap::Command {
    let mut out = clap::Command::new("rampart")
        .version(env!("CARGO_PKG_VERSION"))
        .subcommand_required(cmd.is_subcommand_required_set())
        .args(cmd.get_arguments().cloned())
        .subcommands(cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
    if let Some(about) = cmd.get_about() {
        out = out.about(about.clone());
    }
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(name);
    std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

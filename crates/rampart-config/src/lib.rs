//! rampart's configuration: a strict TOML format parsed into one typed
//! [`Config`], reporting every error at once with file, line and column.
//!
//! ```text
//! node.toml:7:1: error: unknown key `bnd` in frontend; did you mean `bind`?
//!   |
//! 7 | bnd = ["127.0.0.1:8080"]
//!   | ^^^
//! ```
//!
//! How it works: toml's span-preserving parser gives a document whose every
//! key and value knows its byte range. The modules below walk it by hand
//! (serde's derive would stop at the first problem), build the model while
//! recording every problem in a `diag::Sink`, and return the model only
//! when nothing was recorded. So a [`Config`] is always complete and valid,
//! and a user fixing a file sees all of its problems in one run.
//!
//! Where things are (each section's parser in one place, what sections
//! share in one place, nothing imported across sections):
//!
//! - `sections/`: one module per section of the file, each reading its
//!   table into its part of the model: `global`, `frontend`, `backend/`
//!   (and its `health`), `vrrp/` (`instance`, `lists`, and `common` for
//!   what `[vrrp]` and its instances both read), `bgp/` (`neighbor`,
//!   `bfd`, `announce`, `common`), `gateway`, `admin`. `sections/mod.rs`
//!   reads the top level and runs the checks across sections.
//! - `model/`: the public, typed [`Config`] the sections produce (`bgp`
//!   and `vrrp` in their own files). The model is kept apart from the
//!   parsers because it is the crate's API: the daemon reads `model/`
//!   and never needs the parsers, and a reader of the parsers finds the
//!   target types in one place.
//! - `values/`: the values under keys that several sections write: typed
//!   reads (string, integer in range, duration, lists), names and
//!   choices (`mod.rs`), addresses and interface names (`net`), the
//!   duration syntax (`duration`).
//! - `reader`: a TOML table read as a section (keys, spans, unknown keys).
//! - `validate/`: checks across sections (unique names, references;
//!   `vrrp`, `bgp`, `nat`). It resolves each frontend's backend to its
//!   index ([`Frontend::backend_index`], [`Config::backend_of`]), so the
//!   daemon never looks a backend up by a name that could be missing.
//! - `defaults`: every default value, named, with why.
//! - `file`: reading a file (size limit, UTF-8)
//! - `report`: problems found after parsing (on the host), with line and
//!   column, located by their path in the document
//! - `diag`: diagnostics and their rendering
//! - `import/`: other programs' configs as rampart TOML (`haproxy/`,
//!   `keepalived/`, `bird/`)

#![forbid(unsafe_code)]

pub mod defaults;
mod diag;
mod file;
mod import;
mod model;
mod reader;
mod report;
mod sections;
mod validate;
mod values;

use std::path::Path;

use toml::de::DeTable;

pub use diag::{Diagnostic, Errors};
pub use file::{MAX_FILE_SIZE, read_file};
pub use import::{Imported, import_bird, import_haproxy, import_keepalived};
pub use model::*;
pub use report::{Report, Step};
pub use values::NAME_MAX;
pub use values::duration::parse_duration;

use diag::Sink;
use reader::Table;

/// Parses a configuration. `origin` names the source in messages (usually
/// the file name). Returns every problem in the file, not just the first.
pub fn parse(origin: &str, src: &str) -> Result<Config, Errors> {
    let mut sink = Sink::new(src);
    // Only the first syntax error: after one, toml's recovery guesses at
    // the structure and the further errors it reports are mostly echoes.
    let doc = match DeTable::parse(src) {
        Ok(doc) => doc,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            sink.error(span, format!("invalid TOML: {}", e.message()));
            return Err(sink.into_errors(origin));
        }
    };
    let config = sections::document(&Table::root(doc.get_ref()), &mut sink);
    if sink.is_empty() {
        Ok(config)
    } else {
        Err(sink.into_errors(origin))
    }
}

/// Reads ([`read_file`]) and parses a file. A file that cannot be read,
/// is too large or is not UTF-8 is reported like any other error, so that
/// callers have one error path.
pub fn load(path: &Path) -> Result<Config, Errors> {
    let text = read_file(path)?;
    parse(&path.display().to_string(), &text)
}

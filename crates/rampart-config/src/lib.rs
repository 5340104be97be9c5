//! rampart's configuration: a strict TOML format parsed into one typed
//! [`Config`], reporting every error at once with file, line and column.

#![forbid(unsafe_code)]

pub mod defaults;
mod model;

pub use model::*;

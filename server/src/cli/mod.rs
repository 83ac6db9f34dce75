//! Command-line entry points. Each calls the same engine the language server uses.

pub mod edit;
pub mod eval;
pub mod model;
pub mod train;

//! What the end-to-end tests of `anneal` (`server/tests/`) share. A crate of its own rather than
//! a module each test binary compiles, so that a helper only some tests use is not dead code in
//! the others. Each helper takes the binary under test as an argument: only the tests' own
//! package knows `CARGO_BIN_EXE_anneal`.

pub mod checkpoints;
pub mod lsp_client;

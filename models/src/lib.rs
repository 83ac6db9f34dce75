//! Anneal's models: candle architectures, checkpoint loading, the tokenizer, samplers and
//! training.
//!
//! Invariant: this crate knows tensors and tokens. It knows nothing of tree-sitter, of syntax
//! or of LSP; its inputs are token ids and plain text, its outputs token ids and text.
// stdout is the LSP channel when a library runs inside the server: print nothing there.
#![deny(clippy::print_stdout)]

pub mod batch;
pub mod bpe;
pub mod checkpoint;
pub mod config;
pub mod default_model;
pub mod edit_sampler;
pub mod gguf;
pub mod hub_cache;
pub mod mask_sampler;
mod model;
pub mod precision;
pub mod prompt;
pub mod random;
pub mod tokenizer;
pub mod train;
pub mod transformer;

pub use config::{Config, Family};
pub use model::{config_parameter_count, config_parameter_counts, dtype_for, BatchHandle, Denoiser, Model, Specials};
pub use precision::Precision;
pub use tokenizer::Tokenizer;

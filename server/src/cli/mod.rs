//! Command-line entry points. Each calls the same engine the language server uses.

pub mod bench;
mod bench_llama_cpp;
mod bench_precision;
pub mod edit;
pub mod eval;
pub mod model;
pub mod plan;
pub mod pull;
pub mod train;

use std::path::Path;

use anneal_models::Precision;
use anyhow::{bail, Context, Result};
use ropey::Rope;

use crate::position::{to_offset, Encoding, Position};

/// `--dtype`, as `edit`, `eval` and `serve` take it (`bench` takes a list).
#[derive(clap::Args, Clone, Debug)]
pub struct DtypeArg {
    /// How the weights are held: auto (f32 on a CPU, bf16 on a GPU), f32, bf16, f16, or
    /// quantized as they load, q8_0 or q4k.
    #[arg(long = "dtype", default_value = "auto", value_parser = parse_dtype)]
    pub dtype: Dtype,
}

/// A parsed `--dtype`: `None` for the device's default.
#[derive(Clone, Copy, Debug)]
pub struct Dtype(pub Option<Precision>);

fn parse_dtype(name: &str) -> Result<Dtype, String> {
    crate::settings::parse_precision(name).map(Dtype)
}

impl DtypeArg {
    pub fn precision(&self) -> Option<Precision> {
        self.dtype.0
    }

    /// The name as the `dtype` setting spells it.
    pub fn setting(&self) -> String {
        self.dtype.0.map_or("auto".into(), |p| p.name().into())
    }
}

/// Parses `LINE:COL-LINE:COL` (0-based lines, columns in UTF-8 bytes), for `--range`.
pub fn parse_range(s: &str) -> Result<(Position, Position), String> {
    let point = |p: &str| -> Result<Position, String> {
        let (l, c) = p.split_once(':').ok_or_else(|| format!("`{p}` is not LINE:COL"))?;
        let parse = |x: &str| x.trim().parse::<u32>().map_err(|e| format!("`{x}`: {e}"));
        Ok(Position { line: parse(l)?, character: parse(c)? })
    };
    let (a, b) = s.split_once('-').ok_or_else(|| format!("`{s}` is not LINE:COL-LINE:COL"))?;
    Ok((point(a)?, point(b)?))
}

/// A source file's text: UTF-8, and not binary.
pub fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let text = String::from_utf8(bytes).with_context(|| format!("{} is not UTF-8 text", path.display()))?;
    // Source text never holds a NUL byte (git's test for a binary file); without this check a
    // binary file that happens to be valid UTF-8 would be "rewritten" into garbage.
    if text.contains('\0') {
        bail!("{} looks like a binary file (it contains NUL bytes); Anneal edits text files", path.display());
    }
    Ok(text)
}

/// A `--range` as byte offsets into `text`, in either order.
pub fn byte_range(text: &str, (a, b): (Position, Position)) -> (usize, usize) {
    let rope = Rope::from_str(text);
    (to_offset(&rope, a, Encoding::Utf8), to_offset(&rope, b, Encoding::Utf8))
}

/// The 1-based line of byte `at`, as an editor numbers it.
pub fn line_number(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

//! The checkpoint's tokenizer (`tokenizer.json`) with the three special tokens a diffusion
//! model needs: mask (a position still to decode), pad (decodes to nothing, so a span can
//! shrink) and end-of-text.

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use tokenizers::Tokenizer as HfTokenizer;

pub use crate::bpe::{EOT, MASK, PAD, SPECIAL_TOKENS};

/// Special tokens live in the vocabulary but are not registered as added tokens, so a source
/// file that contains the literal text `<|mask|>` encodes as ordinary bytes (see `bpe`).
#[derive(Clone)]
pub struct Tokenizer {
    /// Shared: batched views of a model (`crate::batch`) clone the tokenizer.
    inner: std::sync::Arc<HfTokenizer>,
    special_ids: Vec<u32>,
}

impl Tokenizer {
    pub fn from_file(path: &Path) -> Result<Self> {
        let inner = HfTokenizer::from_file(path).map_err(|e| anyhow!("cannot read tokenizer {}: {e}", path.display()))?;
        Ok(Self::from_hf(inner))
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let inner = HfTokenizer::from_bytes(bytes).map_err(|e| anyhow!("cannot parse tokenizer.json: {e}"))?;
        Ok(Self::from_hf(inner))
    }

    pub fn from_hf(inner: HfTokenizer) -> Self {
        let special_ids = SPECIAL_TOKENS.iter().filter_map(|t| inner.token_to_id(t)).collect();
        Self { inner: std::sync::Arc::new(inner), special_ids }
    }

    /// Also treats the config's mask, pad and end-of-text ids as special, whatever their
    /// names (`<|mask|>`, `<|endoftext|>`, `<|mdm_mask|>` in the open families).
    pub fn with_specials(mut self, config: &crate::Config) -> Self {
        for id in [config.mask_token_id, config.pad_token_id, config.eos_token_id] {
            if !self.special_ids.contains(&id) {
                self.special_ids.push(id);
            }
        }
        self
    }

    pub fn hf(&self) -> &HfTokenizer {
        &self.inner
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self.inner.encode(text, false).map_err(|e| anyhow!("tokenize: {e}"))?;
        Ok(enc.get_ids().to_vec())
    }

    /// The ids of `text` and, for each, the byte range of `text` it came from (as the
    /// pre-tokenizer reports it; a tokenizer that trims offsets leaves white space out).
    pub fn encode_with_offsets(&self, text: &str) -> Result<(Vec<u32>, Vec<std::ops::Range<usize>>)> {
        let enc = self.inner.encode(text, false).map_err(|e| anyhow!("tokenize: {e}"))?;
        Ok((enc.get_ids().to_vec(), enc.get_offsets().iter().map(|&(a, b)| a..b).collect()))
    }

    /// Decodes with the special tokens dropped, so pad and any stray mask vanish from the text.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        let ids: Vec<u32> = ids.iter().copied().filter(|i| !self.special_ids.contains(i)).collect();
        self.inner.decode(&ids, false).map_err(|e| anyhow!("detokenize: {e}"))
    }

    /// Written under a temporary name and renamed, so that a training run killed mid-write
    /// never leaves a truncated tokenizer to resume from.
    pub fn save(&self, path: &Path) -> Result<()> {
        let tmp = path.with_extension("json.tmp");
        self.inner
            .save(&tmp, false)
            .map_err(|e| anyhow!("{e}"))
            .and_then(|()| Ok(std::fs::rename(&tmp, path)?))
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

/// A byte-level tokenizer with no merges: the specials, then 256 byte tokens. Round-trips any
/// text; used by plumbing tests and random-weight checkpoints, where a trained vocabulary
/// would only add set-up time.
pub fn byte_level() -> Result<Tokenizer> {
    let texts: [&str; 0] = [];
    Ok(Tokenizer::from_hf(crate::bpe::train_bpe(texts.into_iter(), crate::bpe::MIN_VOCAB_SIZE)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_level_round_trips_and_has_specials_first() {
        let tk = byte_level().unwrap();
        assert_eq!(tk.token_id(EOT), Some(0));
        assert_eq!(tk.token_id(PAD), Some(1));
        assert_eq!(tk.token_id(MASK), Some(2));
        assert_eq!(tk.vocab_size(), 259);
        let text = "def f(x):\r\n\treturn \"😀 é <|mask|>\"  # ok\n";
        let ids = tk.encode(text).unwrap();
        assert_eq!(ids.len(), text.len(), "one token per byte");
        assert_eq!(tk.decode(&ids).unwrap(), text);
    }

    #[test]
    fn pad_decodes_to_nothing() {
        let tk = byte_level().unwrap();
        let mut ids = tk.encode("ab").unwrap();
        ids.insert(1, 1);
        assert_eq!(tk.decode(&ids).unwrap(), "ab");
    }
}

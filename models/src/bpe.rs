//! Byte-level BPE tokenizer training.
//!
//! [`train_bpe`] learns a byte-level BPE vocabulary (GPT-2 style: every byte is a base token,
//! text is first split with the GPT-2 regex, merges never cross those splits) and returns a
//! ready-to-use [`tokenizers::Tokenizer`] with:
//!
//! * ids 0, 1, 2 = [`EOT`], [`PAD`], [`MASK`], then the 256 byte tokens, then the merges;
//! * no normalizer and no post-processor, so `decode(encode(s).ids) == s` for every UTF-8 `s`
//!   (code, CRLF, tabs, emoji, NUL: all exact);
//! * the special tokens present in the vocabulary but **not** registered as added tokens, so
//!   encoding never produces them: source text that contains the literal string `<|mask|>` (or
//!   `<|endoftext|>`, which plenty of ML code does) is encoded as ordinary bytes, and only the
//!   model code that asks for [`MASK`]'s id by name ever uses it. Decoding ids 0–2 gives their
//!   strings back, with `skip_special_tokens` or without (the flag only knows added tokens):
//!   to make pad and mask vanish from decoded text, filter ids 0–2 out before decoding. (Had
//!   they been added with `add_special_tokens`, the tokenizer would match them inside input
//!   text, and a file mentioning `<|mask|>` would feed the model a real mask and lose the
//!   string on a skipping decode.)
//!
//! Whitespace: the GPT-2 split pattern keeps a whitespace run together except its last space,
//! which prefixes the next word (`\s+(?!\S)`), and newlines are whitespace too: so a line break
//! and the next line's indentation form one pre-token, and training on code learns tokens such
//! as `"\n       "` (newline + 7 spaces, then `" self"`). Indentation costs one or two tokens,
//! but a line break is usually not a token of its own: it is fused with the indentation after
//! it (a bare `"\n"` token remains for lines that start at column 0).

use std::collections::HashSet;

use anyhow::{anyhow, ensure, Result};
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer};

/// End of text / document separator. Id 0.
pub const EOT: &str = "<|endoftext|>";
/// Padding. Id 1.
pub const PAD: &str = "<|pad|>";
/// The diffusion model's mask token. Id 2.
pub const MASK: &str = "<|mask|>";

/// The special tokens in id order.
pub const SPECIAL_TOKENS: [&str; 3] = [EOT, PAD, MASK];

/// Number of base tokens: the special tokens plus one token per byte value.
pub const MIN_VOCAB_SIZE: usize = SPECIAL_TOKENS.len() + 256;

/// The pre-tokenizer: byte-level with the GPT-2 split regex, no prefix space.
fn pre_tokenizer() -> ByteLevel {
    ByteLevel::new(false, true, true)
}

/// A tokenizer around `model` with the byte-level pre-tokenizer and decoder, nothing else.
fn assemble(model: BPE) -> Tokenizer {
    let mut tokenizer = Tokenizer::new(model);
    tokenizer.with_pre_tokenizer(Some(pre_tokenizer()));
    tokenizer.with_decoder(Some(ByteLevelDecoder::new(false, true, true)));
    tokenizer
}

/// Train a byte-level BPE on `texts`.
///
/// `vocab_size` counts everything: the 3 special tokens (ids 0 [`EOT`], 1 [`PAD`], 2 [`MASK`]),
/// the 256 byte tokens and the merges; it must be at least [`MIN_VOCAB_SIZE`]. The result has
/// exactly `vocab_size` tokens unless the texts run out of pairs to merge first (a tiny corpus).
///
/// Every byte is in the vocabulary whatever the texts contain, so any UTF-8 string encodes and
/// decodes back exactly: `decode(encode(s, false).ids, false) == s`.
pub fn train_bpe<I, S>(texts: I, vocab_size: usize) -> Result<Tokenizer>
where
    I: Iterator<Item = S> + Send,
    S: AsRef<str> + Send,
{
    ensure!(vocab_size >= MIN_VOCAB_SIZE, "vocab_size {vocab_size} is below the {MIN_VOCAB_SIZE} base tokens (3 special + 256 bytes)");
    let alphabet: HashSet<char> = ByteLevel::alphabet().into_iter().collect();
    let mut trainer = BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .min_frequency(2)
        .show_progress(false)
        .special_tokens(SPECIAL_TOKENS.iter().map(|t| AddedToken::from(*t, true)).collect())
        .initial_alphabet(alphabet)
        .build();

    // Train with a tokenizer whose model type is the plain BPE (the trainer's model type).
    let mut training = tokenizers::TokenizerBuilder::<
        BPE,
        tokenizers::NormalizerWrapper,
        ByteLevel,
        tokenizers::PostProcessorWrapper,
        ByteLevelDecoder,
    >::new()
    .with_model(BPE::default())
    .with_pre_tokenizer(Some(pre_tokenizer()))
    .build()
    .map_err(|e| anyhow!("building the training tokenizer: {e}"))?;
    training.train(&mut trainer, texts).map_err(|e| anyhow!("training BPE: {e}"))?;

    // `train` registered the special tokens as added tokens, which would make the tokenizer
    // match them inside input text; rebuild around the trained model without them.
    let model = training.get_model().clone();
    let tokenizer = assemble(model);

    for (id, token) in SPECIAL_TOKENS.iter().enumerate() {
        ensure!(tokenizer.token_to_id(token) == Some(id as u32), "special token {token} did not get id {id}");
    }
    Ok(tokenizer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    const PY: &str = r#"import os
import sys


def walk(root, *, follow=False):
    """Yield every file under root."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=follow):
        dirnames.sort()
        for name in sorted(filenames):
            if name.endswith(".py"):
                yield os.path.join(dirpath, name)


class Counter:
    def __init__(self):
        self.counts = {}

    def add(self, key, n=1):
        self.counts[key] = self.counts.get(key, 0) + n
        return self.counts[key]

    def most_common(self, k=10):
        return sorted(self.counts.items(), key=lambda kv: -kv[1])[:k]


if __name__ == "__main__":
    c = Counter()
    for path in walk(sys.argv[1]):
        with open(path, encoding="utf-8") as f:
            for line in f:
                c.add(line.strip())
    print(c.most_common())
"#;

    const RS: &str = r#"use std::collections::HashMap;
use std::fmt;

/// A span of text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

pub fn count_words(text: &str) -> HashMap<&str, usize> {
    let mut counts = HashMap::new();
    for word in text.split_whitespace() {
        *counts.entry(word).or_insert(0) += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        let c = count_words("a b a");
        assert_eq!(c["a"], 2);
        assert_eq!(c.get("c"), None);
    }
}
"#;

    fn corpus() -> Vec<String> {
        let mut texts = Vec::new();
        for i in 0..20 {
            texts.push(PY.replace("Counter", &format!("Counter{i}")));
            texts.push(RS.replace("Span", &format!("Span{i}")));
        }
        texts
    }

    const VOCAB: usize = 300;

    fn tokenizer() -> &'static Tokenizer {
        static TOK: OnceLock<Tokenizer> = OnceLock::new();
        TOK.get_or_init(|| train_bpe(corpus().into_iter(), VOCAB).expect("training"))
    }

    fn ids(tok: &Tokenizer, s: &str) -> Vec<u32> {
        tok.encode(s, false).expect("encode").get_ids().to_vec()
    }

    fn roundtrip(tok: &Tokenizer, s: &str) -> String {
        tok.decode(&ids(tok, s), false).expect("decode")
    }

    #[test]
    fn special_tokens_have_ids_0_1_2() {
        let tok = tokenizer();
        assert_eq!(tok.token_to_id(EOT), Some(0));
        assert_eq!(tok.token_to_id(PAD), Some(1));
        assert_eq!(tok.token_to_id(MASK), Some(2));
        assert_eq!(tok.id_to_token(0).as_deref(), Some(EOT));
        assert_eq!(tok.id_to_token(1).as_deref(), Some(PAD));
        assert_eq!(tok.id_to_token(2).as_deref(), Some(MASK));
        // Decoding a special id gives its text back, and since the specials are not registered
        // as added tokens, `skip_special_tokens` does not drop them either: a caller that wants
        // pad/mask to vanish from decoded text must filter ids 0..3 out itself.
        assert_eq!(tok.decode(&[2, 0], false).unwrap(), format!("{MASK}{EOT}"));
        assert_eq!(tok.decode(&[1], true).unwrap(), PAD);
    }

    #[test]
    fn vocab_size_is_as_requested_and_covers_every_byte() {
        let tok = tokenizer();
        assert_eq!(tok.get_vocab_size(true), VOCAB);
        assert_eq!(tok.get_vocab_size(false), VOCAB);
        let vocab = tok.get_vocab(false);
        for c in ByteLevel::alphabet() {
            assert!(vocab.contains_key(&c.to_string()), "byte char {c:?} missing");
        }
        // Ids are dense: 0..VOCAB.
        let mut all: Vec<u32> = vocab.values().copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..VOCAB as u32).collect::<Vec<_>>());
    }

    #[test]
    fn too_small_vocab_is_an_error() {
        assert!(train_bpe(["abc"].into_iter(), MIN_VOCAB_SIZE - 1).is_err());
        // Exactly the base tokens: bytes only, still round-trips.
        let tok = train_bpe(["abc abc"].into_iter(), MIN_VOCAB_SIZE).unwrap();
        assert_eq!(tok.get_vocab_size(true), MIN_VOCAB_SIZE);
        assert_eq!(roundtrip(&tok, "héllo\r\n\tworld 🎉"), "héllo\r\n\tworld 🎉");
    }

    #[test]
    fn special_strings_in_text_are_ordinary_text() {
        let tok = tokenizer();
        for s in ["<|mask|>", "x = \"<|mask|>\" + '<|endoftext|>'\n", "let pad = \"<|pad|>\";<|endoftext|><|mask|>", "<|<|mask|>|>"] {
            let ids = ids(tok, s);
            assert!(ids.iter().all(|&id| id >= 3), "{s:?} produced a special id: {ids:?}");
            assert_eq!(tok.decode(&ids, false).unwrap(), s);
            // skip_special_tokens has nothing to skip either.
            assert_eq!(tok.decode(&ids, true).unwrap(), s);
        }
    }

    /// Why `train_bpe` does not register the specials as added tokens: the tokenizers crate
    /// matches added special tokens inside the input text, whatever `add_special_tokens` says
    /// (that flag only controls the post-processor).
    #[test]
    fn registered_specials_would_be_matched_in_text() {
        let mut tok = tokenizer().clone();
        tok.add_special_tokens(&[AddedToken::from(MASK, true)]);
        let ids = ids(&tok, "a<|mask|>b");
        assert!(ids.contains(&2), "{ids:?}");
        // Still round-trips (unless decoding skips specials).
        assert_eq!(tok.decode(&ids, false).unwrap(), "a<|mask|>b");
        assert_eq!(tok.decode(&ids, true).unwrap(), "ab");
    }

    #[test]
    fn code_roundtrips_exactly() {
        let tok = tokenizer();
        for s in [
            PY,
            RS,
            &PY.replace('\n', "\r\n"),
            "\tif x:\n\t\treturn y\n",
            "    \n  \n\n\n   x  =  1   \n",
            " leading space and trailing space ",
            "emoji 🦀🐍 and ZWJ 👩‍💻, combining é, CJK 漢字, RTL שלום",
            "nul \0 and bell \u{7} and DEL \u{7f} and U+FFFF \u{ffff} and U+10FFFF \u{10ffff}",
            "",
            " ",
            "\n",
            "\r",
        ] {
            assert_eq!(roundtrip(tok, s), s);
        }
    }

    #[test]
    fn indentation_takes_few_tokens() {
        let tok = tokenizer();
        let line = "        return self.counts[key]\n";
        let enc = tok.encode(line, false).unwrap();
        let space_tokens = enc.get_tokens().iter().take_while(|t| t.chars().all(|c| c == 'Ġ')).count();
        // 8 spaces: GPT-2 splits them as 7 + " return"; merges learned from the corpus take the
        // 7 in at most 3 tokens (not 7 byte tokens).
        assert!((1..=3).contains(&space_tokens), "indentation took {space_tokens} tokens: {:?}", enc.get_tokens());
    }

    #[test]
    fn training_is_deterministic() {
        let a = train_bpe(corpus().into_iter(), VOCAB).unwrap();
        let b = train_bpe(corpus().iter(), VOCAB).unwrap();
        assert_eq!(a.to_string(false).unwrap(), b.to_string(false).unwrap());
    }

    #[test]
    fn save_and_load_keeps_ids_and_roundtrip() {
        let tok = tokenizer();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenizer.json");
        tok.save(&path, false).unwrap();
        let loaded = Tokenizer::from_file(&path).unwrap();
        assert_eq!(loaded.token_to_id(MASK), Some(2));
        assert_eq!(loaded.get_vocab_size(true), VOCAB);
        let s = "def f(x):\n    return x  # <|mask|> 🦀\r\n";
        assert_eq!(ids(&loaded, s), ids(tok, s));
        assert_eq!(roundtrip(&loaded, s), s);
    }

    /// Code-like strings: fragments that stress whitespace, line endings and specials.
    fn code_like() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("\n".to_string()),
            Just("\r\n".to_string()),
            Just("\r".to_string()),
            Just("\t".to_string()),
            Just("    ".to_string()),
            Just(" ".to_string()),
            Just("def ".to_string()),
            Just("fn ".to_string()),
            Just("):".to_string()),
            Just("{}".to_string()),
            Just(MASK.to_string()),
            Just(EOT.to_string()),
            Just("🦀".to_string()),
            Just("👩‍💻".to_string()),
            Just("e\u{301}".to_string()),
            "[a-z_]{1,8}",
            any::<char>().prop_map(String::from),
        ];
        prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Any chars at all, control characters included (`any::<String>()` would leave them
        /// out: its pattern is `\PC*`).
        #[test]
        fn arbitrary_unicode_roundtrips(
            s in prop::collection::vec(any::<char>(), 0..64).prop_map(String::from_iter)
        ) {
            prop_assert_eq!(roundtrip(tokenizer(), &s), s);
        }

        #[test]
        fn code_like_text_roundtrips(s in code_like()) {
            let tok = tokenizer();
            let ids = ids(tok, &s);
            prop_assert!(ids.iter().all(|&id| id >= 3));
            prop_assert_eq!(tok.decode(&ids, false).unwrap(), s);
        }
    }
}

//! Filling a hole: write about `tokens` tokens at one offset of a text, from the code around
//! it, in mask mode. The hole is decoded in blocks of at most `block_tokens`, left to right,
//! each seeing the blocks before it; a block that decodes pad somewhere has ended the fill
//! (pad is the model's "nothing more here"), so the rest is not decoded.

use std::ops::ControlFlow;

use anneal_grammars as grammars;
use anneal_models::mask_sampler::{decode_masked, MaskRequest};
use anneal_models::Model;

use super::{head_tokens, tail_tokens, EditSettings, EngineError, EngineProgress};

pub struct FillRequest<'a> {
    pub text: &'a str,
    /// Byte offset of the hole.
    pub at: usize,
    /// Largest number of tokens to write.
    pub tokens: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filled {
    /// What goes in the hole.
    pub text: String,
    pub forward_passes: usize,
    /// Canvas positions decoded.
    pub generated_tokens: usize,
}

pub fn fill(
    model: &Model,
    request: &FillRequest,
    settings: &EditSettings,
    observe: &mut dyn FnMut(&EngineProgress) -> ControlFlow<()>,
) -> Result<Filled, EngineError> {
    let (text, at) = (request.text, request.at);
    grammars::check_range(text, &(at..at))?;
    let block = settings.block_tokens.max(1);
    let blocks = request.tokens.div_ceil(block);
    let suffix = head_tokens(model, &text[at..], settings.context_tokens)?;
    let mut filled = Filled { text: String::new(), forward_passes: 0, generated_tokens: 0 };
    for index in 0..blocks {
        let canvas_len = block.min(request.tokens - index * block);
        let prefix = tail_tokens(model, &format!("{}{}", &text[..at], filled.text), settings.context_tokens)?;
        let mut report = |r: &anneal_models::mask_sampler::StepReport| {
            observe(&EngineProgress { attempt: 0, block: index, blocks, step: r.step, remaining: r.remaining, preview: None })
        };
        let request = MaskRequest { prefix: &prefix, canvas_len, suffix: &suffix };
        let outcome = decode_masked(model, &request, &crate::mask_config(model, &settings.mask), &mut report)?;
        filled.forward_passes += outcome.forward_passes;
        filled.generated_tokens += canvas_len;
        filled.text.push_str(&model.tokenizer.decode(&outcome.tokens)?);
        if outcome.tokens.len() < canvas_len {
            break;
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> Model {
        Model::load_default(&candle_core::Device::Cpu).unwrap()
    }

    const TEXT: &str = "def mean(values):\n    \"\"\"The arithmetic mean.\"\"\"\n\n\nprint(mean([1, 2]))\n";

    #[test]
    fn a_fill_writes_at_most_the_hole_in_blocks_left_to_right() {
        let model = model();
        let at = TEXT.find("\n\n\n").unwrap() + 1;
        let settings = EditSettings { block_tokens: 8, ..Default::default() };
        let mut seen: Vec<(usize, usize)> = vec![];
        let filled = fill(&model, &FillRequest { text: TEXT, at, tokens: 20 }, &settings, &mut |p| {
            seen.push((p.block, p.blocks));
            ControlFlow::Continue(())
        })
        .unwrap();
        assert!(model.tokenizer.encode(&filled.text).unwrap().len() <= 20 + 2, "{:?}", filled.text);
        assert!(seen.iter().all(|&(_, blocks)| blocks == 3), "20 tokens in blocks of 8: {seen:?}");
        assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "blocks in order: {seen:?}");
        let blocks_done = seen.last().unwrap().0 + 1;
        assert_eq!(filled.generated_tokens, [8, 16, 20][blocks_done - 1]);
        assert_eq!(filled.forward_passes, seen.len(), "one report per forward pass");
        assert!(filled.forward_passes >= blocks_done);
    }

    #[test]
    fn a_hole_inside_a_character_is_refused_and_cancelling_stops() {
        let model = model();
        let text = "s = \"é\"\n";
        let inside = text.find('é').unwrap() + 1;
        let err = fill(&model, &FillRequest { text, at: inside, tokens: 4 }, &EditSettings::default(), &mut |_| ControlFlow::Continue(()));
        assert!(matches!(err, Err(EngineError::Plan(_))), "{:?}", err.map(|f| f.text));
        let cancelled = fill(&model, &FillRequest { text, at: 0, tokens: 4 }, &EditSettings::default(), &mut |_| ControlFlow::Break(()));
        assert!(matches!(cancelled, Err(EngineError::Cancelled)));
    }
}

//! The canvas's surroundings for an instruct checkpoint: the instruction and the code in a
//! user turn of the checkpoint's own chat template, then the assistant's answer opened as a
//! code block. The canvas is that answer's code and the fence after it closes the block, so a
//! diffusion model — which sees both sides — writes code and nothing around it.

use anneal_grammars::Language;
use anneal_models::prompt::{ChatTemplate, Message};
use anneal_models::Model;

use super::{head_tokens, tail_tokens};

/// Where the part to rewrite starts and ends in the code the prompt shows.
const START: &str = "<<<REWRITE";
const END: &str = "REWRITE>>>";

/// The user turn: the code around the block with the block marked, then what to do.
pub fn user_message(instruction: &str, language: Option<Language>, before: &str, block: &str, after: &str) -> String {
    let fence = language.map_or("", |l| l.name());
    format!(
        "```{fence}\n{before}{START}{block}{END}{after}\n```\n\n{instruction}\n\nApply this to the code between {START} and {END} only. Answer with the new code for that part alone, in one code block, without the markers."
    )
}

/// Prefix and suffix tokens around the canvas: `context_tokens` of code on each side of the
/// block in the prompt, the rendered chat turn, and the answer's code fence.
pub fn context(
    model: &Model,
    template: &ChatTemplate,
    instruction: &str,
    language: Option<Language>,
    (before, block, after): (&str, &str, &str),
    context_tokens: usize,
) -> anyhow::Result<(Vec<u32>, Vec<u32>)> {
    let before = model.tokenizer.decode(&tail_tokens(model, before, context_tokens)?)?;
    let after = model.tokenizer.decode(&head_tokens(model, after, context_tokens)?)?;
    let turn = template.render(&[Message::new("user", &user_message(instruction, language, &before, block, &after))], true)?;
    let fence = language.map_or("", |l| l.name());
    let prefix = model.tokenizer.encode(&format!("{turn}```{fence}\n"))?;
    let closing = if block.ends_with('\n') { "```" } else { "\n```" };
    Ok((prefix, model.tokenizer.encode(closing)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_block_is_marked_inside_its_context() {
        let m = user_message("Add type annotations", Some(Language::Python), "import os\n", "def f(x):\n    return x\n", "\nprint(f(1))");
        assert_eq!(
            m,
            "```python\nimport os\n<<<REWRITEdef f(x):\n    return x\nREWRITE>>>\nprint(f(1))\n```\n\nAdd type annotations\n\nApply this to the code between <<<REWRITE and REWRITE>>> only. Answer with the new code for that part alone, in one code block, without the markers."
        );
    }
}

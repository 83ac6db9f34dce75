//! `anneal plan`: what a rewrite of a range would replace, in which blocks and in which order,
//! without a model. Blocks are measured in the tokens of the model's tokenizer, as the engine
//! measures them.

use std::path::{Path, PathBuf};

use anneal_grammars::{plan, BlockBudget, Language, Plan};
use anneal_models::checkpoint::TOKENIZER_FILE;
use anneal_models::default_model;
use anneal_models::tokenizer::Tokenizer;
use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;

use crate::position::Position;
use anneal_engine::EditSettings;

#[derive(Args)]
pub struct PlanArgs {
    /// The file to plan in.
    file: PathBuf,
    /// The range to rewrite, `LINE:COL-LINE:COL`: 0-based lines, columns in UTF-8 bytes.
    #[arg(long, value_parser = super::parse_range)]
    range: (Position, Position),
    /// Largest block, in tokens.
    #[arg(long, default_value_t = EditSettings::default().block_tokens)]
    block_tokens: usize,
    /// A checkpoint folder whose tokenizer measures blocks; the embedded default model's when
    /// absent.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

fn tokenizer(model: Option<&Path>) -> Result<Tokenizer> {
    match model {
        None => Tokenizer::from_bytes(default_model::TOKENIZER),
        Some(dir) => Tokenizer::from_file(&dir.join(TOKENIZER_FILE)),
    }
}

/// 0-based first and last line of a non-empty byte range.
fn lines(text: &str, start: usize, end: usize) -> (usize, usize) {
    let line = |at: usize| text.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count();
    (line(start), line(end.max(start + 1) - 1))
}

fn to_json(file: &Path, language: Option<Language>, text: &str, plan: &Plan, tokens: &[usize]) -> serde_json::Value {
    let (first, last) = lines(text, plan.span.start, plan.span.end);
    json!({
        "file": file.display().to_string(),
        "language": language.map(Language::name),
        "span": { "start": plan.span.start, "end": plan.span.end, "lines": [first, last] },
        "blocks": plan.blocks.iter().zip(tokens).enumerate().map(|(i, (block, tokens))| {
            let (first, last) = lines(text, block.range.start, block.range.end);
            json!({
                "index": i,
                "start": block.range.start,
                "end": block.range.end,
                "lines": [first, last],
                "kind": block.kind,
                "tokens": tokens,
            })
        }).collect::<Vec<_>>(),
        "order": plan.order,
        "edges": plan.edges,
    })
}

fn print_text(file: &Path, language: Option<Language>, text: &str, plan: &Plan, tokens: &[usize], budget: usize) {
    let (first, last) = lines(text, plan.span.start, plan.span.end);
    let language = language.map_or("no grammar: indentation and lines", Language::name);
    println!("{} ({language})", file.display());
    println!("span: lines {first}–{last} (bytes {}..{})", plan.span.start, plan.span.end);
    println!("blocks (at most {budget} tokens each):");
    for (i, (block, tokens)) in plan.blocks.iter().zip(tokens).enumerate() {
        let (first, last) = lines(text, block.range.start, block.range.end);
        println!("  {i:>3}  lines {first}–{last}  {tokens} tokens  {}", block.kind);
    }
    let order: Vec<String> = plan.order.iter().map(usize::to_string).collect();
    println!("order: {}", order.join(" "));
    for edge in &plan.edges {
        println!("  {} → {}: {}", edge.before, edge.after, edge.reason);
    }
}

pub fn run(args: PlanArgs) -> Result<()> {
    let text = super::read_text(&args.file)?;
    let (a, b) = super::byte_range(&text, args.range);
    let tokenizer = tokenizer(args.model.as_deref()).context("cannot load the tokenizer")?;
    let measure = |s: &str| tokenizer.encode(s).map(|t| t.len()).unwrap_or(s.len());
    let budget = BlockBudget { max_len: args.block_tokens, measure: &measure };
    let language = Language::from_path(&args.file);
    let plan = plan(&text, a.min(b)..a.max(b), language, &budget)?;
    let tokens: Vec<usize> = plan.blocks.iter().map(|b| measure(&text[b.range.clone()])).collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&to_json(&args.file, language, &text, &plan, &tokens))?);
    } else {
        print_text(&args.file, language, &text, &plan, &tokens, args.block_tokens);
    }
    Ok(())
}

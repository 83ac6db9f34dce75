//! `anneal`: the language server and its command line.

// stdout is the LSP channel: only the command line may print to it.
mod cli;
#[deny(clippy::print_stdout)]
mod document;
mod eval;
#[cfg(test)]
mod fuzz;
#[deny(clippy::print_stdout)]
mod lsp;
#[deny(clippy::print_stdout)]
mod model_host;
#[deny(clippy::print_stdout)]
mod position;
#[deny(clippy::print_stdout)]
mod settings;

use clap::{Parser, Subcommand};

// Candle allocates and frees large buffers every step; glibc returns them to the OS each time
// (see shared notes on training on CPU). mimalloc keeps them. Its `override` feature also takes
// over C's malloc, used by tree-sitter and the tokenizer's regex engine: under glibc, those
// allocations spread over one arena per thread that served a request and resident memory crept
// up by a quarter over 1,000 requests (server/tests/stress.rs); with one allocator it stays flat.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// By default mimalloc commits whole arenas up front where the OS overcommits memory, as Linux
/// does, and then keeps freed pages: resident memory becomes the high-water mark of every
/// request so far. For a server that sits next to an editor all day that is the wrong trade:
/// under the stress test (server/tests/stress.rs) it held 30 MB for 6 MB of live data and rose in
/// steps of several MB over hundreds of requests. Committed on demand, freed pages go back to
/// the system and resident memory tracks the live data. Loading a large model has the same
/// need: quantizing LLaDA2.0-mini's shape layer by layer, the kept pages of each layer's f32
/// transients held 0.7 GB more at 8 of its 20 layers (4.8 GB against 4.1). Every command but
/// `train` (whose steps reuse their buffers, the reason mimalloc is here) takes the option.
/// mimalloc reads its options before `main` runs, so the process re-executes itself once with
/// the option in its environment (same process id, same pipes); if that fails it carries on
/// as it is.
const ALLOCATOR_OPTIONS: [(&str, &str); 1] = [("MIMALLOC_ARENA_EAGER_COMMIT", "0")];

fn reexec_with_allocator_options() {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // `train` (and no command at all) keeps mimalloc's defaults.
        let defaults = std::env::args_os().nth(1).is_none_or(|a| a == "train");
        if defaults || ALLOCATOR_OPTIONS.iter().all(|(k, _)| std::env::var_os(k).is_some()) {
            return;
        }
        let Ok(exe) = std::env::current_exe() else { return };
        let mut command = std::process::Command::new(exe);
        command.args(std::env::args_os().skip(1));
        for (k, v) in ALLOCATOR_OPTIONS {
            if std::env::var_os(k).is_none() {
                command.env(k, v);
            }
        }
        let error = command.exec(); // returns only if it failed
        eprintln!("anneal: could not re-execute with allocator options ({error}); continuing");
    }
}

#[derive(Parser)]
#[command(name = "anneal", version, about = "Rewrites code in place with a discrete-diffusion language model")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Speak LSP on stdin/stdout (for editors).
    Serve(ServeArgs),
    /// Rewrite a range of a file and print the change as a unified diff.
    Edit(cli::edit::EditArgs),
    /// Show how a rewrite of a range would be planned: the span, its blocks and their order.
    Plan(cli::plan::PlanArgs),
    /// Measure a checkpoint.
    #[command(subcommand)]
    Eval(cli::eval::EvalCommand),
    /// Train a model with Seed Diffusion's recipe (resumes from the run's last checkpoint).
    Train(cli::train::TrainArgs),
    /// Inspect and make checkpoints.
    #[command(subcommand)]
    Model(cli::model::ModelCommand),
    /// Measure decoding speed: diffusion against autoregressive decoding, same weights, one run.
    Bench(cli::bench::BenchArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// The `dtype` setting's value until the editor's settings name one.
    #[command(flatten)]
    dtype: cli::DtypeArg,
}

fn main() {
    reexec_with_allocator_options();
    // `error: …` with its causes, without the backtrace anyhow prints for `Debug` when
    // RUST_BACKTRACE is set: a user needs the reason, not the stack.
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// Logs a panic by where it happened and on which thread, never by its message: a message can
/// quote document text (a slicing panic quotes the string it sliced), and Rust's default hook
/// would print it to stderr, which editors keep as the server's log. The handler that catches
/// the panic (`lsp::guard`, the model worker) logs which request it failed.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let thread = std::thread::current();
        let at = info.location().map_or_else(|| "an unknown place".to_string(), |l| format!("{}:{}", l.file(), l.line()));
        tracing::error!(
            thread = thread.name().unwrap_or("unnamed"),
            "panic at {at} (its message is not logged: it may quote document text)"
        );
    }));
}

fn run() -> anyhow::Result<()> {
    // Logs go to stderr: stdout belongs to the LSP stream. Document text never appears in logs
    // unless the user raises the level to trace explicitly.
    let cli = Cli::parse();
    // An evaluation makes hundreds of rewrites; their per-rewrite notes would bury its progress.
    let default_filter = if matches!(cli.command, Command::Eval(_)) { "anneal=warn,warn" } else { "anneal=info,warn" };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("ANNEAL_LOG").unwrap_or_else(|_| default_filter.into()))
        .init();
    install_panic_hook();
    match cli.command {
        Command::Serve(args) => {
            let defaults = settings::Settings { dtype: args.dtype.setting(), ..Default::default() };
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(lsp::serve(defaults));
            Ok(())
        }
        Command::Edit(args) => cli::edit::run(args),
        Command::Plan(args) => cli::plan::run(args),
        Command::Train(args) => cli::train::run(args),
        Command::Eval(cmd) => cli::eval::run(cmd),
        Command::Model(cmd) => cli::model::run(cmd),
        Command::Bench(args) => cli::bench::run(args),
    }
}

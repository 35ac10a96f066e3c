//! `experiments`: the Oracle Teacher command line.
//!
//! - `run PRESET`: data, conventional teacher, oracle teacher, every student; results CSV,
//!   a markdown table and plots in a run directory.
//! - `compare A.csv [B.csv ...]`: mean +- std over seeds, side by side.
//! - `eval`, `transcribe`, `recognize`: use any exported model on new data.

mod compare;
mod data;
mod infer;
mod pipeline;
mod plots;
mod preset;
mod results;
mod run;
mod rundir;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "experiments",
    version,
    about = "Oracle Teacher: knowledge distillation for CTC recognizers"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a preset end to end: data, both teachers, every student, results.
    Run(run::RunArgs),
    /// Compare results CSVs: mean +- std over seeds per (task, role, teacher, kd).
    Compare {
        /// results.csv files; the first is the baseline of the difference columns.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = FormatArg::Markdown)]
        format: FormatArg,
    },
    /// Score an exported model on a manifest (speech TSV / LibriSpeech dir, or image TSV / LMDB).
    Eval(infer::EvalArgs),
    /// Transcribe audio files with an exported speech model.
    Transcribe(infer::DecodeArgs),
    /// Recognise word images with an exported scene-text model.
    Recognize(infer::DecodeArgs),
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum FormatArg {
    Markdown,
    Plain,
}

fn main() -> Result<()> {
    tasks::alloc::tune_allocator();
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Run(a) => run::run(a),
        Cmd::Compare { files, format } => {
            let f = match format {
                FormatArg::Markdown => compare::Format::Markdown,
                FormatArg::Plain => compare::Format::Plain,
            };
            print!("{}", compare::compare(&files, f)?);
            Ok(())
        }
        Cmd::Eval(a) => infer::eval(a),
        Cmd::Transcribe(a) => infer::decode(a, "asr"),
        Cmd::Recognize(a) => infer::decode(a, "str"),
    }
}

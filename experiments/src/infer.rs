//! `eval`, `transcribe`, `recognize`: exported models on new data.

use std::path::PathBuf;

use anyhow::Result;

#[derive(clap::Args)]
pub struct EvalArgs {
    /// An exported model directory (e.g. runs/<run>/seed-0/student-oracle-frame-kd/model).
    #[arg(long)]
    pub model: PathBuf,
    /// Speech: a TSV `path<TAB>transcript` or a LibriSpeech folder. Images: a TSV
    /// `path<TAB>label` or an LMDB folder.
    #[arg(long)]
    pub manifest: PathBuf,
}

#[derive(clap::Args)]
pub struct DecodeArgs {
    /// An exported model directory.
    #[arg(long)]
    pub model: PathBuf,
    /// Input files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

pub fn eval(_a: EvalArgs) -> Result<()> {
    anyhow::bail!("eval: not yet wired")
}

pub fn decode(_a: DecodeArgs, _task: &str) -> Result<()> {
    anyhow::bail!("decode: not yet wired")
}

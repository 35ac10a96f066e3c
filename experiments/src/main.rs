//! `experiments`: the Oracle Teacher command line.
//!
//! - `run PRESET`: data, conventional teacher, oracle teacher, every student; results CSV,
//!   a markdown table and plots in a run directory.
//! - `compare A.csv [B.csv ...]`: mean +- std over seeds, side by side.
//! - `leveloff RUN_DIR ...`: where each trained stage's dev curve levels off.
//! - `eval`, `transcribe`, `recognize`, `classify`: use any exported model on new data.
//! - `prepare CORPUS`: turn an installed corpus into manifests a preset trains on.

mod clusters;
mod compare;
mod grid;
mod infer;
mod kd_overrides;
mod leveloff;
mod paired;
mod pipeline;
mod plots;
mod preset;
mod registry;
mod results;
mod run;
mod rundir;
mod seeds;
mod stats;
mod variants;

#[cfg(test)]
mod bad_inputs_tests;
#[cfg(test)]
mod fuzz_tests;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "experiments",
    version,
    about = "Oracle Teacher: knowledge distillation for CTC recognizers"
)]
struct Cli {
    /// Device every model runs on: `cpu`, `cuda` or `cuda:N` (CUDA needs a build with the
    /// `cuda` feature, docs/gpu.md).
    #[arg(long, global = true, default_value = "cpu")]
    device: String,
    /// Run every op through its composite path of candle ops, as off the CPU (the fused CPU
    /// kernels and the optimiser's host shortcuts off): to check on a CPU the code a GPU runs.
    /// Slower; numbers agree with the fused path to rounding.
    #[arg(long, global = true)]
    composite: bool,
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
        /// The paired tests Holm's correction is over: `all` (every paired test with a p-value
        /// in the report) or `claims` (the analysis plan's hypotheses: oracle- against
        /// conventional-taught students for frame-KD and Guided CTC, and teacher cost).
        #[arg(long, value_enum, default_value_t = compare::Family::All)]
        family: compare::Family,
        /// Family-wise error rate of Holm's correction and the verdicts.
        #[arg(long, default_value_t = 0.05)]
        alpha: f64,
    },
    /// Where each finished stage's dev-error curve levels off (the analysis plan's rule: a power
    /// law fitted to the evaluations, less than 1 % improvement over the last fifth of the
    /// steps), as a markdown table.
    Leveloff {
        /// Run directories (`<out>/<preset>-<hash>`: every `seed-*/<stage>/`) or stage folders.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// The relative improvement over the last fifth below which a curve has levelled off.
        #[arg(long, default_value_t = ctc_core::train::leveloff::REL)]
        rel: f64,
    },
    /// Score an exported model on a manifest (speech TSV / LibriSpeech dir, image TSV / LMDB, or
    /// classification JSON).
    Eval(infer::EvalArgs),
    /// Transcribe audio files with an exported speech model.
    Transcribe(infer::DecodeArgs),
    /// Recognise word images with an exported scene-text model.
    Recognize(infer::DecodeArgs),
    /// Classify images with an exported classification model (prints each file's label).
    Classify(infer::DecodeArgs),
    /// Turn an installed corpus into manifests a preset trains on (see docs/real-speech.md).
    Prepare {
        #[command(subcommand)]
        corpus: PrepareCmd,
    },
}

#[derive(Subcommand)]
enum PrepareCmd {
    /// Speech of the game Drascula (Debian packages `drascula`, English, and
    /// `drascula-spanish`): WAV files and train/dev/test TSV manifests with held-out speakers,
    /// and a report of every file.
    Drascula {
        /// The spoken language: `en` or `es`.
        #[arg(long, default_value = "en")]
        language: String,
        /// The game's data folder of that language (holds drascula.dat and the .ALS speech
        /// files); default /usr/share/scummvm/drascula/LANGUAGE.
        #[arg(long)]
        from: Option<PathBuf>,
        /// Output folder; default data/drascula (English) or data/drascula-LANGUAGE.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// One split of a speech preset's synthetic corpus as WAV files (16 kHz) and a TSV
    /// manifest, the same audio the preset trains and scores on: to listen to it, or to score
    /// models trained elsewhere on it with `eval`.
    Synth {
        /// Preset name or TOML file.
        #[arg(long, default_value = "asr-oracle")]
        preset: String,
        /// Override a preset value (as in `run`), e.g. `--set data.synth.n_test=100`.
        #[arg(long = "set")]
        sets: Vec<String>,
        /// train, dev or test.
        #[arg(long, default_value = "test")]
        split: String,
        /// Output folder (gets SPLIT.tsv and wav/).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum FormatArg {
    Markdown,
    Plain,
}

fn main() -> Result<()> {
    ctc_core::alloc::tune_allocator();
    ctc_core::threads::configure();
    let cli = Cli::parse();
    let dev = ctc_core::device::open(&cli.device).context("--device")?;
    if cli.composite {
        ctc_core::ops::force_composite(true);
        eprintln!("--composite: every op takes its composite path (the fused CPU kernels are off)");
    }
    match cli.cmd {
        Cmd::Run(a) => run::run(a, &dev),
        Cmd::Compare {
            files,
            format,
            family,
            alpha,
        } => {
            let f = match format {
                FormatArg::Markdown => compare::Format::Markdown,
                FormatArg::Plain => compare::Format::Plain,
            };
            let holm = compare::Holm { family, alpha };
            print!("{}", compare::compare_with(&files, f, &holm)?);
            Ok(())
        }
        Cmd::Leveloff { dirs, rel } => {
            if !(rel > 0.0 && rel < 1.0) {
                anyhow::bail!("--rel must lie strictly between 0 and 1, got {rel}");
            }
            print!("{}", leveloff::table(&dirs, rel)?);
            Ok(())
        }
        Cmd::Eval(a) => infer::eval(a, &dev),
        Cmd::Transcribe(a) => infer::decode(a, "transcribe", &dev),
        Cmd::Recognize(a) => infer::decode(a, "recognize", &dev),
        Cmd::Classify(a) => infer::decode(a, "classify", &dev),
        Cmd::Prepare {
            corpus:
                PrepareCmd::Drascula {
                    language,
                    from,
                    out,
                },
        } => {
            let lang = asr::drascula::Language::from_code(&language).with_context(|| {
                format!("--language {language:?}: the prepared languages are en and es")
            })?;
            let from = from.unwrap_or_else(|| {
                PathBuf::from(format!("/usr/share/scummvm/drascula/{}", lang.code()))
            });
            let out = out.unwrap_or_else(|| match lang {
                asr::drascula::Language::English => PathBuf::from("data/drascula"),
                _ => PathBuf::from(format!("data/drascula-{}", lang.code())),
            });
            let report = asr::drascula::prepare(&from, &out, lang)?;
            print!("{report}");
            println!("manifests: {}/{{train,dev,test}}.tsv", out.display());
            Ok(())
        }
        Cmd::Prepare {
            corpus:
                PrepareCmd::Synth {
                    preset,
                    sets,
                    split,
                    out,
                },
        } => registry::write_synth_split(&preset, &sets, &split, &out),
    }
}

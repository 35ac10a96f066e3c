//! `eval`, `transcribe`, `recognize`: exported models on new data. Reading the data is the
//! task's part (see `registry`); rebuilding the model, decoding and scoring are generic.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use ctc_core::ctc::decode::{greedy_batch, prefix_beam_search_batch};
use ctc_core::model::CtcModel;
use ctc_core::params::ParamStore;
use ctc_core::task::WordMetric;
use ctc_core::vocab::Vocab;
use ctc_core::{Batch, Fwd, Rng, Task};
use oracle::OracleTeacher;

use crate::pipeline::{ModelMeta, PREFIX};
use crate::registry;
use crate::results::{append_rows, ResultRow};

#[derive(clap::Args)]
pub struct EvalArgs {
    /// An exported model directory (e.g. runs/<run>/seed-0/student-oracle-frame-kd/model).
    #[arg(long)]
    pub model: PathBuf,
    /// Speech: a TSV `path<TAB>transcript` or a LibriSpeech folder. Images: a TSV
    /// `path<TAB>label` or an LMDB folder.
    #[arg(long)]
    pub manifest: PathBuf,
    /// Skip (and count) bad entries instead of stopping at the first.
    #[arg(long)]
    pub skip_bad: bool,
    /// Append the result row to this CSV (results.csv schema).
    #[arg(long)]
    pub csv: Option<PathBuf>,
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
}

#[derive(clap::Args)]
pub struct DecodeArgs {
    /// An exported model directory.
    #[arg(long)]
    pub model: PathBuf,
    /// Prefix beam search with this width (greedy when absent).
    #[arg(long)]
    pub beam: Option<usize>,
    /// Input files (audio for transcribe, images for recognize).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// An exported model rebuilt for inference: a CTC model or an oracle (fed the true labels).
pub enum Loaded {
    Ctc(CtcModel),
    Oracle(OracleTeacher),
}

impl Loaded {
    pub fn new<T: Task>(task: &T, meta: &ModelMeta, dir: &Path, dev: &Device) -> Result<Self> {
        let store = ParamStore::new(0);
        let vb = store.vb(dev).pp("model");
        let m = match (meta.kind.as_str(), &meta.oracle) {
            ("oracle", Some(cfg)) => Loaded::Oracle(OracleTeacher::new(task, cfg, vb)?),
            ("ctc", _) => Loaded::Ctc(CtcModel::new(task, &meta.encoder, vb)?),
            (k, _) => bail!("{}: unknown model kind {k:?}", dir.display()),
        };
        ctc_core::export::load_weights(dir, &store, PREFIX)?;
        Ok(m)
    }

    pub fn logits(&self, b: &Batch) -> candle_core::Result<(Tensor, Vec<usize>)> {
        let mut f = Fwd::eval();
        match self {
            Loaded::Ctc(m) => m
                .forward(&b.src, &b.src_lens, &mut f)
                .map(|o| (o.logits, o.enc.lens)),
            Loaded::Oracle(m) => m
                .infer(&b.src, &b.src_lens, &b.targets, &mut f)
                .map(|o| (o.logits, o.enc.lens)),
        }
    }
}

fn read(dir: &Path) -> Result<(ModelMeta, Vocab)> {
    ctc_core::export::read_config(dir)
        .with_context(|| format!("reading the model in {}", dir.display()))
}

pub fn eval(a: EvalArgs, dev: &Device) -> Result<()> {
    let (meta, vocab) = read(&a.model)?;
    let entry = registry::find(&meta.task)
        .with_context(|| format!("the model in {}", a.model.display()))?;
    let scored = entry.eval(&a, &meta, vocab, dev)?;
    let (scores, skipped) = (&scored.scores, scored.skipped);
    let mut row = ResultRow {
        task: meta.task.clone(),
        preset: meta.preset.clone(),
        seed: meta.seed,
        role: meta.role.clone(),
        teacher: meta.teacher.clone(),
        kd: meta.kd.clone(),
        anti_copy: meta
            .oracle
            .as_ref()
            .map_or("-".into(), |o| o.anti_copy.name().to_string()),
        revision: meta.trained_revision(),
        cpu: meta.trained_cpu(),
        scored_revision: crate::rundir::revision().to_string(),
        scored_with: crate::pipeline::scored_with(&meta.role).to_string(),
        ..Default::default()
    };
    row.test_cer = Some(scores.cer);
    row.test_examples = Some(scores.n as u64);
    row.test_skipped = Some(skipped as u64);
    row.test_untrainable = Some(scored.untrainable as u64);
    let mut of = if skipped > 0 {
        format!(" of {} ({skipped} skipped)", scores.n + skipped)
    } else {
        String::new()
    };
    if scored.untrainable > 0 {
        of.push_str(&format!(
            "; {} of them CTC training could not use",
            scored.untrainable
        ));
    }
    match entry.words() {
        WordMetric::WordAccuracy => {
            row.word_acc = Some(scores.word_acc);
            println!(
                "{}: word accuracy {:.2} %, 1-NED {:.2} %, CER {:.2} % over {} images{of}",
                a.manifest.display(),
                scores.word_acc,
                scores.one_minus_ned,
                scores.cer,
                scores.n
            );
        }
        WordMetric::Wer => {
            row.test_wer = Some(scores.wer);
            let (c, w) = (scores.char_ops, scores.word_ops);
            println!(
                "{}: WER {:.2} % (S {} D {} I {} / {}), CER {:.2} % (S {} D {} I {} / {}) over {} utterances{of}",
                a.manifest.display(), scores.wer, w.sub, w.del, w.ins, w.ref_len, scores.cer, c.sub, c.del, c.ins, c.ref_len, scores.n
            );
        }
    }
    if let Some(csv) = &a.csv {
        append_rows(csv, &[row])?;
        eprintln!("appended a row to {}", csv.display());
    }
    Ok(())
}

/// Decode each input on its own and print `path<TAB>hypothesis`.
pub fn decode_files<T: Task>(
    task: &T,
    model: &Loaded,
    items: Vec<T::Example>,
    names: &[PathBuf],
    beam: Option<usize>,
    dev: &Device,
) -> Result<()> {
    for (ex, name) in items.iter().zip(names) {
        let batch = task.collate(&[(0, ex)], false, &mut Rng::new(0), dev)?;
        let (logits, lens) = model.logits(&batch)?;
        let ids = match beam {
            Some(w) => prefix_beam_search_batch(&logits, &lens, w)?,
            None => greedy_batch(&logits, &lens)?,
        };
        println!("{}\t{}", name.display(), task.vocab().decode(&ids[0]));
    }
    Ok(())
}

/// `transcribe` / `recognize`: `verb` must be the decode verb of the model's task.
pub fn decode(a: DecodeArgs, verb: &str, dev: &Device) -> Result<()> {
    let (meta, vocab) = read(&a.model)?;
    let entry = registry::find(&meta.task)
        .with_context(|| format!("the model in {}", a.model.display()))?;
    if entry.decode_verb() != verb {
        bail!(
            "{}: a {} model; use `{}`",
            a.model.display(),
            meta.task,
            entry.decode_verb()
        );
    }
    if meta.kind == "oracle" {
        bail!(
            "{}: an oracle needs the transcript as input; decode with a teacher or student",
            a.model.display()
        );
    }
    entry.decode(&a.model, &meta, vocab, &a.files, a.beam, dev)
}

//! `eval`, `transcribe`, `recognize`: exported models on new data.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use oracle::trainer::evaluate;
use oracle::OracleTeacher;
use tasks::asr::task::{AsrExample, AsrTask};
use tasks::asr::{load_manifest_corpus, SynthConfig, Utterance};
use tasks::ctc::decode::{greedy_batch, prefix_beam_search_batch};
use tasks::model::CtcModel;
use tasks::params::ParamStore;
use tasks::scene_text::task::{StrExample, StrTask};
use tasks::scene_text::{load_folder, load_lmdb, RenderConfig};
use tasks::vocab::Vocab;
use tasks::{Batch, Fwd, Rng, Task};

use crate::pipeline::{ModelMeta, PREFIX};
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
enum Loaded {
    Ctc(CtcModel),
    Oracle(OracleTeacher),
}

impl Loaded {
    fn new<T: Task>(task: &T, meta: &ModelMeta, dir: &Path) -> Result<Self> {
        let store = ParamStore::new(0);
        let vb = store.vb(&Device::Cpu).pp("model");
        let m = match (meta.kind.as_str(), &meta.oracle) {
            ("oracle", Some(cfg)) => Loaded::Oracle(OracleTeacher::new(task, cfg, vb)?),
            ("ctc", _) => Loaded::Ctc(CtcModel::new(task, &meta.encoder, vb)?),
            (k, _) => bail!("{}: unknown model kind {k:?}", dir.display()),
        };
        student::export::load_weights(dir, &store, PREFIX)?;
        Ok(m)
    }

    fn logits(&self, b: &Batch) -> candle_core::Result<(Tensor, Vec<usize>)> {
        let mut f = Fwd::eval();
        match self {
            Loaded::Ctc(m) => m
                .forward(&b.src, &b.src_lens, &mut f)
                .map(|o| (o.logits, o.enc.lens)),
            Loaded::Oracle(m) => m
                .forward(&b.src, &b.src_lens, &b.targets, &mut f)
                .map(|o| (o.logits, o.enc.lens)),
        }
    }
}

fn section<C: serde::de::DeserializeOwned + Default>(meta: &ModelMeta, key: &str) -> Result<C> {
    match meta.data.get(key) {
        Some(v) => Ok(v
            .clone()
            .try_into()
            .with_context(|| format!("model config data.{key}"))?),
        None => Ok(C::default()),
    }
}

fn read(dir: &Path) -> Result<(ModelMeta, Vocab)> {
    student::export::read_config(dir)
        .with_context(|| format!("reading the model in {}", dir.display()))
}

pub fn eval(a: EvalArgs) -> Result<()> {
    let (meta, vocab) = read(&a.model)?;
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
        ctc_impl: "tasks::ctc (cpu)".into(),
        revision: crate::rundir::revision().to_string(),
        ..Default::default()
    };
    let scores = match meta.task.as_str() {
        "asr" => {
            let synth: SynthConfig = section(&meta, "synth")?;
            let task = AsrTask::new(vocab, synth.features.n_mels, None);
            let (utts, report) = load_manifest_corpus(&a.manifest, &synth.features, a.skip_bad)?;
            if !report.is_empty() {
                eprintln!("skipped: {report}");
            }
            let (ex, skipped) = task
                .examples(utts, a.skip_bad)
                .map_err(anyhow::Error::msg)?;
            if !skipped.is_empty() {
                eprintln!(
                    "skipped {} utterances (vocabulary or CTC length), first: {}",
                    skipped.len(),
                    skipped[0]
                );
            }
            let model = Loaded::new(&task, &meta, &a.model)?;
            evaluate(&task, &ex, a.batch_size, &Device::Cpu, |b| model.logits(b))?.scores
        }
        "str" => {
            let render: RenderConfig = section(&meta, "render")?;
            let task = StrTask::new(vocab);
            let load = if a.manifest.is_dir() {
                load_lmdb
            } else {
                load_folder
            };
            let (images, report) = load(&a.manifest, &render.norm, &render.alphabet(), a.skip_bad)?;
            if report.total() > 0 {
                eprintln!("skipped: {report}");
            }
            let (ex, _) = task
                .examples(images, a.skip_bad)
                .map_err(anyhow::Error::msg)?;
            let model = Loaded::new(&task, &meta, &a.model)?;
            evaluate(&task, &ex, a.batch_size, &Device::Cpu, |b| model.logits(b))?.scores
        }
        t => bail!("eval: models of task {t:?} cannot be evaluated on a manifest"),
    };
    row.test_cer = Some(scores.cer);
    if meta.task == "str" {
        row.word_acc = Some(scores.word_acc);
        println!(
            "{}: word accuracy {:.2} %, 1-NED {:.2} %, CER {:.2} % over {} images",
            a.manifest.display(),
            scores.word_acc,
            scores.one_minus_ned,
            scores.cer,
            scores.n
        );
    } else {
        row.test_wer = Some(scores.wer);
        let (c, w) = (scores.char_ops, scores.word_ops);
        println!(
            "{}: WER {:.2} % (S {} D {} I {} / {}), CER {:.2} % (S {} D {} I {} / {}) over {} utterances",
            a.manifest.display(), scores.wer, w.sub, w.del, w.ins, w.ref_len, scores.cer, c.sub, c.del, c.ins, c.ref_len, scores.n
        );
    }
    if let Some(csv) = &a.csv {
        append_rows(csv, &[row])?;
        eprintln!("appended a row to {}", csv.display());
    }
    Ok(())
}

fn decode_with<T: Task>(
    task: &T,
    model: &Loaded,
    items: Vec<T::Example>,
    names: &[PathBuf],
    beam: Option<usize>,
) -> Result<()> {
    for (ex, name) in items.iter().zip(names) {
        let batch = task.collate(&[(0, ex)], false, &mut Rng::new(0), &Device::Cpu)?;
        let (logits, lens) = model.logits(&batch)?;
        let ids = match beam {
            Some(w) => prefix_beam_search_batch(&logits, &lens, w)?,
            None => greedy_batch(&logits, &lens)?,
        };
        println!("{}\t{}", name.display(), task.vocab().decode(&ids[0]));
    }
    Ok(())
}

pub fn decode(a: DecodeArgs, expected: &str) -> Result<()> {
    let (meta, vocab) = read(&a.model)?;
    if meta.task != expected {
        bail!(
            "{}: a {} model; use `{}`",
            a.model.display(),
            meta.task,
            if meta.task == "asr" {
                "transcribe"
            } else {
                "recognize"
            }
        );
    }
    if meta.kind == "oracle" {
        bail!(
            "{}: an oracle needs the transcript as input; transcribe with a teacher or student",
            a.model.display()
        );
    }
    if expected == "asr" {
        let synth: SynthConfig = section(&meta, "synth")?;
        let fbank = tasks::asr::Fbank::new(&synth.features)?;
        let task = AsrTask::new(vocab, synth.features.n_mels, None);
        let model = Loaded::new(&task, &meta, &a.model)?;
        let mut items = Vec::new();
        for f in &a.files {
            let samples = tasks::asr::audio::load_audio(f)?;
            let (feats, n_frames) = fbank.compute(&samples, f)?;
            let utt = Utterance {
                id: f.display().to_string(),
                text: String::new(),
                feats: feats.into(),
                n_frames,
                speaker: String::new(),
            };
            items.push(AsrExample {
                utt,
                targets: Vec::new(),
            });
        }
        decode_with(&task, &model, items, &a.files, a.beam)
    } else {
        let render: RenderConfig = section(&meta, "render")?;
        let task = StrTask::new(vocab);
        let model = Loaded::new(&task, &meta, &a.model)?;
        let mut items = Vec::new();
        for f in &a.files {
            let img =
                image::open(f).with_context(|| format!("{}: not a readable image", f.display()))?;
            let image = tasks::scene_text::normalize::word_image(
                &img,
                String::new(),
                &render.norm,
                f.display().to_string(),
            )?;
            items.push(StrExample {
                image,
                targets: Vec::new(),
            });
        }
        decode_with(&task, &model, items, &a.files, a.beam)
    }
}

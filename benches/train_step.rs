//! Wall time of one full training step of every default model (and of both teachers with
//! Conformer blocks), and of greedy student inference, on synthetic batches shaped like the
//! default presets' data.
//!
//! Run from the repository root: `cargo bench --workspace --bench train_step`
//! (`TRAIN_STEP_ITERS=N` timed steps, default 10, after 3 warm-up steps). One line per model:
//! `train_step <task>-<role> params=<N> batch=<B>x<T> median_ms=<m> min_ms=<m>`, then
//! `infer <task>-student ...` (speech adds `rtf=`: compute seconds / audio seconds; inference
//! runs on the calling thread). `TRAIN_STEP_ONLY=a,b` selects lines; `taskset -c 0` runs the
//! shards on one core; `TRAIN_STEP_CANDLE_POOLS=1` leaves candle's own thread pools on instead
//! of `ctc_core::threads::configure`. `TRAIN_STEP_DEVICE=cuda` (or `cuda:N`) times the same
//! steps on a GPU, in a build with the `cuda` feature (scripts/cuda-build.sh, docs/gpu.md); each
//! timed step then ends when the device has finished it. See docs/benchmarks.md.
//!
//! A step is the training loop's own step code (`ctc_core::train::step`), evaluation and
//! checkpoints aside: the batch's shards collated (with the preset's SpecAugment for speech),
//! forward with dropout on, CTC (plus the KD terms) and backward on parallel threads, then
//! clipping, the learning-rate schedule and AdamW.
//! Encoder sizes, batch sizes, optimiser settings, SpecAugment, n_mels and the word-image
//! alphabet are read from the preset files, so the bench follows the presets.
//!
//! `TRAIN_STEP_PARAM_COUNTS=1` times nothing: it builds every line's model and prints their
//! parameters as JSON, the counts the PyTorch twin (benches/torch_twin.py) must reproduce.
//! tests/torch_twin.rs includes this file as a module and compares the same counts with the
//! twin's own (`param_counts`).

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Instant;

use anyhow::{anyhow, ensure, Context, Result};
use asr::task::{AsrExample, AsrTask};
use asr::{SpecAugConfig, SynthConfig, Utterance};
use candle_core::{Device, Var};
use ctc_core::ctc::decode::greedy_batch;
use ctc_core::ctc::min_frames;
use ctc_core::model::CtcModel;
use ctc_core::params::ParamStore;
use ctc_core::task::EncoderKind;
use ctc_core::train::step::{apply_update, StepInputs};
use ctc_core::train::{AdamW, ParamsAdamW, TrainConfig, Trainable};
use ctc_core::vocab::Vocab;
use ctc_core::{EncoderConfig, Fwd, Rng, Task};
use oracle::{OracleConfig, OracleTeacher};
use scene_text::encoder::CrnnEncoder;
use scene_text::normalize::HEIGHT;
use scene_text::task::{StrExample, StrTask};
use scene_text::{RenderConfig, WordImage};
use student::cache::TeacherOutputs;
use student::losses::parse_kd;
use student::Distiller;

const ASR_PRESET: &str = include_str!("../experiments/presets/asr-oracle.toml");
const STR_PRESET: &str = include_str!("../experiments/presets/str-oracle.toml");
const SEED: u64 = 0;
/// The device the timed lines run on, set once by `main` from `TRAIN_STEP_DEVICE`; the CPU
/// when unset (and when counting parameters).
static DEVICE: OnceLock<Device> = OnceLock::new();
static CPU: Device = Device::Cpu;

fn device() -> &'static Device {
    DEVICE.get().unwrap_or(&CPU)
}
const WARMUP: usize = 3;
/// Feature frames per utterance (10 ms each: 3.6 s of audio).
const SPEECH_FRAMES: usize = 360;
const FRAME_SECONDS: f64 = 0.01;
/// Characters per transcript: 3.6 s at the synthetic corpus's 130-210 words per minute.
const SPEECH_LABEL_LEN: (usize, usize) = (40, 60);
/// Word-image width in pixels (height is `HEIGHT` = 32).
const IMAGE_WIDTH: usize = 128;
const IMAGE_LABEL_MIN: usize = 3;

/// One model section of a preset: `[teacher]`, `[student]`, or `[oracle]` (an `OracleConfig`
/// flattened beside its `train` table, as `experiments::preset::OracleSpec`).
struct Spec<C> {
    model: C,
    train: TrainConfig,
}

struct Preset {
    data: toml::Table,
    teacher: Spec<EncoderConfig>,
    oracle: Spec<OracleConfig>,
    student: Spec<EncoderConfig>,
}

fn table(t: &toml::Table, key: &str) -> Result<toml::Table> {
    t.get(key)
        .and_then(|v| v.as_table())
        .cloned()
        .ok_or_else(|| anyhow!("preset: no [{key}] table"))
}

fn spec<C: serde::de::DeserializeOwned>(t: &toml::Table, key: &str) -> Result<Spec<C>> {
    let mut section = table(t, key)?;
    let train = section
        .remove("train")
        .ok_or_else(|| anyhow!("preset: no {key}.train"))?;
    let model = if key == "oracle" {
        toml::Value::Table(section)
    } else {
        section
            .remove("encoder")
            .ok_or_else(|| anyhow!("preset: no {key}.encoder"))?
    };
    Ok(Spec {
        model: model
            .try_into()
            .with_context(|| format!("preset [{key}]"))?,
        train: train
            .try_into()
            .with_context(|| format!("preset {key}.train"))?,
    })
}

fn parse_preset(text: &str) -> Result<Preset> {
    let t: toml::Table = toml::from_str(text).context("parsing a preset")?;
    Ok(Preset {
        data: table(&t, "data")?,
        teacher: spec(&t, "teacher")?,
        oracle: spec(&t, "oracle")?,
        student: spec(&t, "student")?,
    })
}

/// `data.<key>` of a preset as a config struct (absent: the struct's defaults).
fn data<C: serde::de::DeserializeOwned>(p: &Preset, key: &str) -> Result<Option<C>> {
    p.data
        .get(key)
        .map(|v| v.clone().try_into().with_context(|| format!("data.{key}")))
        .transpose()
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// One result line (without newline), and the median in seconds.
fn line(
    kind: &str,
    name: &str,
    params: usize,
    batch: (usize, usize),
    times: &[f64],
) -> (String, f64) {
    let mut t = times.to_vec();
    t.sort_by(f64::total_cmp);
    let med = median(&t);
    let (b, w) = batch;
    let (med_ms, min_ms) = (med * 1e3, t[0] * 1e3);
    let text = format!(
        "{kind} {name} params={params} batch={b}x{w} median_ms={med_ms:.1} min_ms={min_ms:.1}"
    );
    (text, med)
}

/// Warm-up plus `iters` timed training steps of `model` on the whole batch `examples`.
fn time_steps<T: Task>(
    task: &T,
    examples: &[T::Example],
    model: &dyn Trainable,
    vars: Vec<(String, Var)>,
    cfg: &TrainConfig,
    iters: usize,
) -> Result<Vec<f64>> {
    ensure!(
        model.clip_groups().is_empty(),
        "grouped clipping is not benchmarked"
    );
    let params = ParamsAdamW {
        lr: cfg.lr,
        weight_decay: cfg.weight_decay,
        ..Default::default()
    };
    let mut opt = AdamW::new(vars.clone(), params)?;
    let schedule = cfg.schedule();
    let idx: Vec<usize> = (0..examples.len()).collect();
    let mut times = Vec::with_capacity(iters);
    for step in 0..WARMUP + iters {
        let t0 = Instant::now();
        let sharded = StepInputs {
            task,
            train: examples,
            idx: &idx,
            seed: SEED,
            step,
            shards: cfg.shards,
            device: device(),
        }
        .run(model)?;
        ensure!(
            sharded.loss.is_finite(),
            "non-finite loss {} at step {step}",
            sharded.loss
        );
        ensure!(
            sharded.parts.iter().all(|(n, _)| n != "infeasible"),
            "CTC-infeasible examples in the batch"
        );
        opt.set_lr(schedule.lr(cfg.lr, step));
        apply_update(&mut opt, &vars, &[], sharded.grads, cfg.clip)?;
        device().synchronize()?;
        if step >= WARMUP {
            times.push(t0.elapsed().as_secs_f64());
        }
    }
    Ok(times)
}

/// Warm-up plus `iters` timed greedy decodes: collate, eval forward, greedy CTC decoding.
fn time_infer<T: Task>(
    task: &T,
    examples: &[T::Example],
    model: &CtcModel,
    iters: usize,
) -> Result<Vec<f64>> {
    let items: Vec<(usize, &T::Example)> = examples.iter().enumerate().collect();
    let mut times = Vec::with_capacity(iters);
    for i in 0..WARMUP + iters {
        let t0 = Instant::now();
        let batch = task.collate(&items, false, &mut Rng::new(0), device())?;
        let out = model.forward(&batch.src, &batch.src_lens, &mut Fwd::eval())?;
        let hyps = greedy_batch(&out.logits, &out.enc.lens)?;
        device().synchronize()?;
        ensure!(hyps.len() == examples.len());
        if i >= WARMUP {
            times.push(t0.elapsed().as_secs_f64());
        }
    }
    Ok(times)
}

/// The trainable parameters of one bench line's model: its count and each tensor's shape by
/// name. Serialised as `TRAIN_STEP_PARAM_COUNTS=1` prints it and as the twin's
/// `--param-counts` does.
#[derive(Debug, serde::Serialize)]
pub struct LineParams {
    pub params: usize,
    pub tensors: BTreeMap<String, Vec<usize>>,
}

impl LineParams {
    fn of(store: &ParamStore) -> Self {
        let tensors = store
            .vars()
            .into_iter()
            .map(|(name, var)| (name, var.dims().to_vec()))
            .collect();
        Self {
            params: store.num_params(),
            tensors,
        }
    }
}

/// What `bench_task` does with each line's model.
enum Mode {
    /// Time `iters` steps (or decodes) of each line `TRAIN_STEP_ONLY` selects and print it.
    Time { iters: usize },
    /// Build every line's model, run nothing, and record its parameters by line name: the
    /// same models, from the same code, as the timed lines.
    Count(BTreeMap<String, LineParams>),
}

/// All the training lines and the inference line of one task. `audio_seconds`: the batch's
/// total audio, for the real-time factor (speech only).
fn bench_task<T: Task>(
    task: &T,
    p: &Preset,
    examples: &[T::Example],
    batch: (usize, usize),
    audio_seconds: Option<f64>,
    mode: &mut Mode,
) -> Result<()> {
    let dev = device();
    let name = |role: &str| format!("{}-{role}", T::NAME);
    // Whether a line's model is needed at all: counting needs every line.
    let wanted = |mode: &Mode, line: &str| matches!(mode, Mode::Count(_)) || selected(line);
    let train = |mode: &mut Mode,
                 role: &str,
                 store: &ParamStore,
                 model: &dyn Trainable,
                 cfg|
     -> Result<()> {
        match mode {
            Mode::Count(counts) => {
                counts.insert(name(role), LineParams::of(store));
            }
            Mode::Time { iters } if selected(&name(role)) => {
                let times = time_steps(task, examples, model, store.vars(), cfg, *iters)?;
                println!(
                    "{}",
                    line("train_step", &name(role), store.num_params(), batch, &times).0
                );
            }
            Mode::Time { .. } => {}
        }
        Ok(())
    };
    let ctc_model = |enc: &EncoderConfig| -> Result<(ParamStore, CtcModel)> {
        let store = ParamStore::new(SEED);
        let model = CtcModel::new(task, enc, store.vb(dev).pp("model"))?;
        Ok((store, model))
    };

    let (t_store, teacher) = ctc_model(&p.teacher.model)?;
    train(mode, "teacher", &t_store, &teacher, &p.teacher.train)?;
    // The same teacher with Conformer blocks (`--set teacher.encoder.kind=conformer`).
    let conformer = EncoderConfig {
        kind: EncoderKind::Conformer,
        ..p.teacher.model.clone()
    };
    if wanted(mode, &name("teacher-conformer")) {
        let (c_store, c_teacher) = ctc_model(&conformer)?;
        train(
            mode,
            "teacher-conformer",
            &c_store,
            &c_teacher,
            &p.teacher.train,
        )?;
    }

    let o_store = ParamStore::new(SEED);
    let oracle = OracleTeacher::new(task, &p.oracle.model, o_store.vb(dev).pp("model"))?;
    train(mode, "oracle", &o_store, &oracle, &p.oracle.train)?;

    let (s_store, student) = ctc_model(&p.student.model)?;
    train(mode, "student", &s_store, &student, &p.student.train)?;

    let (kd_store, kd_student) = ctc_model(&p.student.model)?;
    if let Mode::Count(counts) = mode {
        // The distiller adds no parameters to the student's; its teacher cache is not built,
        // as it takes a teacher forward pass and changes no count.
        counts.insert(name("student-frame-kd"), LineParams::of(&kd_store));
        counts.insert(
            format!("infer-{}", name("student")),
            LineParams::of(&s_store),
        );
        return Ok(());
    }
    let Mode::Time { iters } = *mode else {
        unreachable!("counting returned above")
    };
    if selected(&name("student-frame-kd")) {
        // Teacher posteriors cached once over the batch's examples (ids = their indices), as
        // the pipeline caches them over the training split before distilling.
        let bs = p.teacher.train.batch_size;
        let cache = TeacherOutputs::compute(task, examples, bs, dev, |b| teacher.eval_logits(b))?;
        let distiller = Distiller {
            student: &kd_student,
            objective: parse_kd("frame-kd")?,
            cache: Some(&cache),
            teacher: None,
            heads: None,
            intermediate: None,
            hypotheses: None,
            teacher_input: student::TeacherInput::Clean,
            kd_warmup: 0,
        };
        train(
            mode,
            "student-frame-kd",
            &kd_store,
            &distiller,
            &p.student.train,
        )?;
    }

    if !selected(&format!("infer-{}", name("student"))) {
        return Ok(());
    }
    let times = time_infer(task, examples, &student, iters)?;
    let (text, med) = line(
        "infer",
        &name("student"),
        s_store.num_params(),
        batch,
        &times,
    );
    match audio_seconds {
        Some(audio) => println!("{text} rtf={:.5}", med / audio),
        None => println!("{text}"),
    }
    Ok(())
}

fn speech(mode: &mut Mode) -> Result<()> {
    let p = parse_preset(ASR_PRESET)?;
    let n_mels = data::<SynthConfig>(&p, "synth")?
        .unwrap_or_default()
        .features
        .n_mels;
    let specaug: Option<SpecAugConfig> = data(&p, "specaug")?;
    let subsampling = data::<usize>(&p, "subsampling")?.unwrap_or(4);
    let task = AsrTask::new(Vocab::chars(asr::ENGLISH_CHARS)?, n_mels, specaug)
        .with_subsampling(subsampling)
        .map_err(|e| anyhow!("data.subsampling: {e}"))?;
    let b = p.teacher.train.batch_size;
    let mut rng = Rng::derive(SEED, 0x5EEC);
    let letters: Vec<char> = ('a'..='z').collect();
    let mut examples = Vec::with_capacity(b);
    for i in 0..b {
        let len = rng.range(SPEECH_LABEL_LEN.0, SPEECH_LABEL_LEN.1);
        let mut text = String::new();
        while text.len() < len {
            // Words of about five letters; no leading, trailing or doubled spaces.
            if text.len() + 1 < len
                && !text.is_empty()
                && !text.ends_with(' ')
                && rng.bernoulli(0.2)
            {
                text.push(' ');
            } else {
                text.push(letters[rng.below(letters.len())]);
            }
        }
        let targets = task.vocab().encode(&text)?;
        let frames = task.ctc_frames(SPEECH_FRAMES);
        ensure!(
            min_frames(&targets) <= frames,
            "utterance {i}: {} labels need {} CTC frames, {SPEECH_FRAMES} feature frames give {frames}",
            targets.len(),
            min_frames(&targets)
        );
        let feats = (0..SPEECH_FRAMES * n_mels)
            .map(|_| rng.normal() as f32)
            .collect();
        let utt = Utterance {
            id: format!("bench-{i}"),
            text,
            feats: std::sync::Arc::new(feats),
            n_frames: SPEECH_FRAMES,
            speaker: "synthetic".into(),
        };
        examples.push(AsrExample { utt, targets });
    }
    label_stats("asr", examples.iter().map(|e| e.targets.len()));
    let audio = (b * SPEECH_FRAMES) as f64 * FRAME_SECONDS;
    bench_task(&task, &p, &examples, (b, SPEECH_FRAMES), Some(audio), mode)
}

fn word_images(mode: &mut Mode) -> Result<()> {
    let p = parse_preset(STR_PRESET)?;
    let render: RenderConfig = data(&p, "render")?.unwrap_or_default();
    let chars: Vec<char> = render.alphabet().chars().to_vec();
    let task = StrTask::new(Vocab::chars(&chars.iter().collect::<String>())?);
    let b = p.teacher.train.batch_size;
    let mut rng = Rng::derive(SEED, 0x57A);
    let mut examples = Vec::with_capacity(b);
    for i in 0..b {
        let len = rng.range(IMAGE_LABEL_MIN, render.max_len);
        let text: String = (0..len).map(|_| chars[rng.below(chars.len())]).collect();
        let targets = task.vocab().encode(&text)?;
        let frames = CrnnEncoder::output_frames(IMAGE_WIDTH);
        ensure!(
            min_frames(&targets) <= frames,
            "image {i}: label {text:?} needs {} CTC frames, {IMAGE_WIDTH} px give {frames}",
            min_frames(&targets)
        );
        let pixels = (0..HEIGHT * IMAGE_WIDTH)
            .map(|_| (2.0 * rng.uniform() - 1.0) as f32)
            .collect();
        let image = WordImage {
            text,
            pixels: std::sync::Arc::new(pixels),
            width: IMAGE_WIDTH,
            source: format!("bench-{i}"),
        };
        examples.push(StrExample { image, targets });
    }
    label_stats("str", examples.iter().map(|e| e.targets.len()));
    bench_task(&task, &p, &examples, (b, IMAGE_WIDTH), None, mode)
}

/// Whether `TRAIN_STEP_ONLY` (comma-separated names such as `asr-teacher` or
/// `infer-asr-student`; unset = all) selects the line `name`.
fn selected(name: &str) -> bool {
    match std::env::var("TRAIN_STEP_ONLY") {
        Ok(only) => only.split(',').any(|n| n.trim() == name),
        Err(_) => true,
    }
}

/// Label lengths on stderr (the `U` to give the PyTorch twin).
fn label_stats(task: &str, lens: impl Iterator<Item = usize>) {
    let lens: Vec<usize> = lens.collect();
    let mean = lens.iter().sum::<usize>() as f64 / lens.len() as f64;
    let lo = lens.iter().min().copied().unwrap_or(0);
    let hi = lens.iter().max().copied().unwrap_or(0);
    eprintln!("{task}: label lengths mean {mean:.1}, min {lo}, max {hi}");
}

/// Every line's parameters by line name (`asr-teacher`, ..., `infer-str-student`), from the
/// models the timed run builds.
pub fn param_counts() -> Result<BTreeMap<String, LineParams>> {
    let mut mode = Mode::Count(BTreeMap::new());
    speech(&mut mode)?;
    word_images(&mut mode)?;
    match mode {
        Mode::Count(counts) => Ok(counts),
        Mode::Time { .. } => unreachable!("the mode stays Count"),
    }
}

fn main() -> Result<()> {
    if std::env::var_os("TRAIN_STEP_PARAM_COUNTS").is_some() {
        println!("{}", serde_json::to_string_pretty(&param_counts()?)?);
        return Ok(());
    }
    ctc_core::alloc::tune_allocator();
    if std::env::var_os("TRAIN_STEP_CANDLE_POOLS").is_none() {
        ctc_core::threads::configure();
    }
    let iters: usize = match std::env::var("TRAIN_STEP_ITERS") {
        Ok(s) => s.parse().context("TRAIN_STEP_ITERS")?,
        Err(_) => 10,
    };
    ensure!(iters > 0, "TRAIN_STEP_ITERS must be > 0");
    let dev_name = std::env::var("TRAIN_STEP_DEVICE").unwrap_or_else(|_| "cpu".into());
    let dev = ctc_core::device::open(&dev_name).context("TRAIN_STEP_DEVICE")?;
    eprintln!("train_step: device {}", ctc_core::device::describe(&dev));
    DEVICE
        .set(dev)
        .map_err(|_| anyhow!("the bench device is set once"))?;
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    eprintln!("train_step: {}", ctc_core::cpu::describe());
    eprintln!(
        "train_step: {WARMUP} warm-up + {iters} timed steps per model, shard threads={}, \
         candle threads={}, \
         load average {}",
        ctc_core::threads::workers(),
        candle_core::utils::get_num_threads(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut mode = Mode::Time { iters };
    speech(&mut mode)?;
    word_images(&mut mode)?;
    Ok(())
}

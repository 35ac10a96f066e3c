//! The student stages: the same small model, seed and step budget for every (teacher, KD)
//! pair, so rows differ only in what the student was taught.

use anyhow::{bail, Context, Result};
use ctc_core::ctc::decode::prefix_beam_search;
use ctc_core::model::CtcModel;
use ctc_core::params::ParamStore;
use ctc_core::task::Splits;
use ctc_core::train::{TrainConfig, TrainReport};
use ctc_core::{Batch, EncoderConfig, Fwd, Rng, Task};
use oracle::OracleConfig;
use student::cache::TeacherOutputs;
use student::joint::JointModel;
use student::losses::layerwise::{LayerwiseConfig, PredictionHeads};
use student::losses::{IntermediateHeads, KdObjective};
use student::online::{online_vars, Online, OnlineTeacher};
use student::{Distiller, Teacher};

use super::bias;
use super::plan::{StageSpec, TeacherKind};
use super::stage::{dev_test, ensure_dir, selection, trained_and_scored, Stage, StageReport};
use super::teachers::{conventional_init, example_posteriors, oracle_init};
use super::{fill_scores, Ctx};
use crate::results::{write_atomic, ResultRow};
use crate::variants;

/// Teacher posteriors over the training set, computed once per seed when a student first needs
/// them (kept on disk too, see `cache_for`).
#[derive(Default)]
pub struct Caches(Vec<(String, TeacherOutputs)>);

impl Caches {
    /// The posteriors of the teacher called `name` (a stage's teacher column).
    fn get<T: Task>(
        &mut self,
        ctx: &Ctx,
        task: &T,
        splits: &Splits<T::Example>,
        name: &str,
        teacher: (&dyn Teacher, u64),
    ) -> Result<&TeacherOutputs> {
        if let Some(i) = self.0.iter().position(|(k, _)| k == name) {
            return Ok(&self.0[i].1);
        }
        let c = cache_for(ctx, task, splits, name, teacher)?;
        self.0.push((name.to_string(), c));
        Ok(&self.0.last().expect("pushed above").1)
    }
}

/// Teacher posteriors over the training set, cached under the seed directory and keyed by the
/// teacher's weights (`fingerprint`) and the transfer set's size: a cache of other weights
/// (e.g. a retrained teacher) is recomputed, with a message; one that cannot be read is an
/// error naming it, since only a damaged disk or a hand edit makes one.
fn cache_for<T: Task>(
    ctx: &Ctx,
    task: &T,
    splits: &Splits<T::Example>,
    name: &str,
    (teacher, fingerprint): (&dyn Teacher, u64),
) -> Result<TeacherOutputs> {
    let dir = ctx.dir.join("cache");
    ensure_dir(&dir)?;
    let path = dir.join(format!("{name}.safetensors"));
    let mut h = ctc_core::io::Fnv1a::new();
    h.update(&fingerprint.to_le_bytes());
    h.update(&(splits.train.len() as u64).to_le_bytes());
    h.update(&(task.vocab().size() as u64).to_le_bytes());
    let key = h.finish();
    if path.exists() {
        let (c, found) = TeacherOutputs::load(&path)
            .with_context(|| format!("delete {} to recompute it", path.display()))?;
        if found == Some(key) && c.len() == splits.train.len() {
            return Ok(c);
        }
        eprintln!(
            "{}: made from other teacher weights or another transfer set; recomputing it",
            path.display()
        );
    }
    let bs = ctx.preset.teacher.train.batch_size;
    let c = TeacherOutputs::compute(task, &splits.train, bs, &ctx.device, |b| {
        let o = teacher.outputs(b, false)?;
        Ok((o.logits, o.lens))
    })?;
    c.save(&path, key)?;
    Ok(c)
}

/// The teacher's beam-search hypothesis for every training example (sequence-level KD).
fn hypotheses(cache: &TeacherOutputs, beam: usize) -> Vec<Vec<u32>> {
    (0..cache.len())
        .map(|i| prefix_beam_search(cache.example(i), cache.frames(i), cache.vocab_size(), beam))
        .collect()
}

/// The model a student stage trains: its encoder, its budget and the random stream of its
/// initial weights (every student of a seed starts from the same weights; a born-again
/// generation from its own).
pub struct Learner<'a> {
    pub encoder: &'a EncoderConfig,
    pub train: &'a TrainConfig,
    pub init: u64,
}

impl<'a> Learner<'a> {
    /// The preset's `[student]`.
    pub fn student(ctx: &'a Ctx) -> Self {
        Self {
            encoder: &ctx.preset.student.encoder,
            train: &ctx.preset.student.train,
            init: 3,
        }
    }

    /// Born-again generation `g`: the conventional teacher's encoder and budget.
    pub fn born_again(ctx: &'a Ctx, g: usize) -> Self {
        Self {
            encoder: &ctx.preset.teacher.encoder,
            train: &ctx.preset.teacher.train,
            init: 100 + g as u64,
        }
    }
}

/// A trained student stage: its rows, its example posteriors for the spike plot, and the model
/// with its weights' fingerprint (the next born-again generation's teacher).
pub struct StudentOut {
    pub rows: Vec<ResultRow>,
    pub posteriors: Vec<Vec<f32>>,
    pub model: CtcModel,
    pub fingerprint: u64,
}

/// One student stage: trained (or restored) and scored. Offline, it learns from the frozen
/// `teacher` (its posteriors through `caches`); online, a fresh teacher of kind `kind`, from the
/// same initial weights as the offline one, trains in the same loop.
#[allow(clippy::too_many_arguments)]
pub fn student<T: Task>(
    ctx: &Ctx,
    task: &T,
    splits: &Splits<T::Example>,
    spec: &StageSpec,
    kd: &str,
    kind: Option<TeacherKind>,
    teacher: Option<(&dyn Teacher, u64)>,
    online: bool,
    caches: &mut Caches,
    learner: &Learner,
) -> Result<StudentOut> {
    let preset = &ctx.preset.student;
    let objective = preset.objective(kd)?;
    let variant = variants::find(&preset.kd_variants, kd);
    // The omitted-label experiment: the transfer set lacks every example with the label.
    let omit = match variant.and_then(|v| v.omit_label.as_deref()) {
        None => None,
        Some(label) => {
            let id = task.vocab().id(label).with_context(|| {
                format!("student.kd_variants {kd:?}: omit_label {label:?} is not a token of the task's vocabulary")
            })?;
            Some((label, id))
        }
    };
    let fraction = variant.and_then(|v| v.transfer_fraction);
    let transfer;
    let train_splits = if omit.is_none() && fraction.is_none() {
        splits
    } else {
        let mut train = match fraction {
            None => splits.train.clone(),
            Some(f) => transfer_subset(ctx.seed, &splits.train, f),
        };
        if let Some((_, id)) = omit {
            train.retain(|e| !task.targets(e).contains(&id));
        }
        transfer = Splits {
            train,
            dev: splits.dev.clone(),
            test: Vec::new(),
        };
        &transfer
    };
    let key = crate::grid::stage_key(
        &ctx.preset,
        ctx.seed,
        &spec.name,
        &format!(
            "objective = {:?}\nvariant = {:?}\n",
            objective.formula(),
            serde_json::to_string(&variant).unwrap_or_default()
        ),
    );
    // Every student starts from the same weights for a seed: rows differ only in teaching.
    let store = ParamStore::new(Rng::derive(ctx.seed, learner.init).state()[0]);
    let model = CtcModel::new(task, learner.encoder, store.vb(&ctx.device).pp("model"))?;
    let meta = ctx.meta::<T>(spec, learner.encoder, None);
    let train_stage = |stage: &Stage| -> Result<StageReport<String>> {
        // Online teachers start from the same initial weights as the offline ones.
        let conv_init;
        let oracle_init_;
        let part_cache;
        let source = match (online, kind, teacher) {
            (true, Some(TeacherKind::Conventional), _) => {
                conv_init = conventional_init(ctx, task)?;
                Source::Online(&conv_init.1, &conv_init.0)
            }
            (true, Some(TeacherKind::Oracle), _) => {
                let spec = ctx.preset.oracle.as_ref().context("no [oracle] section")?;
                oracle_init_ = oracle_init(ctx, task, &spec.model)?;
                Source::Online(&oracle_init_.1, &oracle_init_.0)
            }
            (true, None | Some(TeacherKind::Previous | TeacherKind::Ensemble), _) => {
                bail!("an online student needs a conventional or oracle teacher")
            }
            (_, Some(TeacherKind::Joint), _) => Source::Joint(joint_config(ctx, learner)?),
            (false, Some(_), Some(t)) => match transfer_name(omit.map(|o| o.1), fraction) {
                None => Source::Frozen(t, caches.get(ctx, task, splits, &spec.teacher, t)?),
                Some(part) => {
                    let name = format!("{}-{part}", spec.teacher);
                    part_cache = cache_for(ctx, task, train_splits, &name, t)?;
                    Source::Frozen(t, &part_cache)
                }
            },
            (false, _, _) => Source::None,
        };
        train(
            ctx,
            task,
            train_splits,
            spec,
            stage,
            &store,
            &model,
            &objective,
            source,
            &meta,
            learner,
        )
    };
    let eval = |b: &Batch| {
        let o = model.forward(&b.src, &b.src_lens, &mut Fwd::eval())?;
        Ok((o.logits, o.enc.lens))
    };
    let done = trained_and_scored(
        ctx,
        task,
        splits,
        spec,
        key,
        (&store, &meta),
        learner.train.batch_size,
        train_stage,
        &eval,
    )?;
    let (stage, scores, row) = (done.stage, done.scores, done.row);
    let mut row = row;
    if fraction.is_some() {
        let on_train = ctc_core::train::evaluate(
            task,
            &train_splits.train,
            learner.train.batch_size,
            &ctx.device,
            eval,
        )?;
        row.train_error = Some(on_train.error);
    }
    let mut rows = vec![row];
    if let Some((label, id)) = omit {
        let (e, n) = bias::omitted_counts(&scores.test, label);
        rows[0].omitted_errors = Some(e);
        rows[0].omitted_examples = Some(n);
        if variant.is_some_and(|v| v.bias_correction) {
            rows.push(bias_corrected(
                ctx, task, splits, &stage, &rows[0], label, id, eval,
            )?);
        }
    }
    let (posteriors, _) = example_posteriors(ctx, task, splits, eval)?;
    let fingerprint = ctc_core::export::weights_fingerprint(&store, super::PREFIX)?;
    Ok(StudentOut {
        rows,
        posteriors,
        model,
        fingerprint,
    })
}

/// The row of `row`'s model with the omitted label's score raised by the shift that minimises
/// the dev error (recorded in the stage's `bias.json`); kd column `<kd>+bias`.
#[allow(clippy::too_many_arguments)]
fn bias_corrected<T: Task>(
    ctx: &Ctx,
    task: &T,
    splits: &Splits<T::Example>,
    stage: &Stage,
    row: &ResultRow,
    label: &str,
    id: u32,
    eval: impl Fn(&Batch) -> candle_core::Result<(candle_core::Tensor, Vec<usize>)> + Sync,
) -> Result<ResultRow> {
    let bs = ctx.preset.student.train.batch_size;
    let choice = bias::choose(
        task,
        selection(ctx, &splits.dev),
        bs,
        &ctx.device,
        id,
        &eval,
    )?;
    write_atomic(
        &stage.dir.join("bias.json"),
        serde_json::to_string_pretty(&choice)?.as_bytes(),
    )?;
    eprintln!(
        "[{}] bias correction: +{} on {label:?} chosen on dev (dev error {:.2} -> {:.2})",
        row.kd, choice.shift, choice.dev_error_before, choice.dev_error_after
    );
    let shifted = |b: &Batch| {
        let (logits, frames) = eval(b)?;
        Ok((bias::shift(&logits, id, choice.shift)?, frames))
    };
    let scores = dev_test(ctx, task, splits, bs, shifted)?;
    let mut out = row.clone();
    out.kd = format!("{}+bias", row.kd);
    fill_scores::<T>(&mut out, &scores);
    out.test_edits = stage.save_edits(ctx, &scores, "+bias")?;
    let (e, n) = bias::omitted_counts(&scores.test, label);
    out.omitted_errors = Some(e);
    out.omitted_examples = Some(n);
    Ok(out)
}

/// The transfer set of a `transfer_fraction` variant: `round(f * n)` training examples (at
/// least 1) drawn without replacement by the seed's own generator, in their original order, so
/// that every variant of one fraction and seed trains on the same examples.
fn transfer_subset<E: Clone>(seed: u64, train: &[E], f: f64) -> Vec<E> {
    let n = train.len();
    let k = ((f * n as f64).round() as usize).clamp(1.min(n), n);
    let mut order: Vec<usize> = (0..n).collect();
    Rng::derive(seed, 6).shuffle(&mut order);
    let mut keep = order[..k].to_vec();
    keep.sort_unstable();
    keep.into_iter().map(|i| train[i].clone()).collect()
}

/// The teacher cache's name suffix of a partial transfer set; `None` for the whole set.
fn transfer_name(omitted: Option<u32>, fraction: Option<f64>) -> Option<String> {
    match (omitted, fraction) {
        (None, None) => None,
        (Some(id), None) => Some(format!("omit-{id}")),
        (None, Some(f)) => Some(format!("frac-{f}")),
        (Some(id), Some(f)) => Some(format!("omit-{id}-frac-{f}")),
    }
}

/// What a student learns from while it trains.
enum Source<'a> {
    /// CTC alone.
    None,
    /// A frozen teacher (with its weights' fingerprint) and its cached posteriors over the
    /// training set.
    Frozen((&'a dyn Teacher, u64), &'a TeacherOutputs),
    /// A teacher trained in the same loop, with its parameters.
    Online(&'a dyn OnlineTeacher, &'a ParamStore),
    /// An oracle path of this config inside the student's own model (`student::joint`).
    Joint(OracleConfig),
}

/// The oracle path of a joint student: the preset oracle's anti-copy strategy, label options
/// and fusion depth over the student's own encoder.
fn joint_config(ctx: &Ctx, learner: &Learner) -> Result<OracleConfig> {
    let oracle = (ctx.preset.oracle.as_ref())
        .context("a joint student's oracle path takes the preset's [oracle] section")?;
    Ok(OracleConfig {
        encoder: learner.encoder.clone(),
        ..oracle.model.clone()
    })
}

/// Train `model` under every stage of `objective` (attention-map KD has two).
#[allow(clippy::too_many_arguments)]
fn train<T: Task>(
    ctx: &Ctx,
    task: &T,
    splits: &Splits<T::Example>,
    spec: &StageSpec,
    stage: &Stage,
    store: &ParamStore,
    model: &CtcModel,
    objective: &KdObjective,
    source: Source,
    meta: &super::ModelMeta,
    learner: &Learner,
) -> Result<StageReport<String>> {
    let preset = &ctx.preset.student;
    let (teacher, cache, online, fingerprint) = match &source {
        Source::None | Source::Joint(_) => (None, None, None, None),
        Source::Frozen((t, f), c) => (Some(*t), Some(*c), None, Some(*f)),
        Source::Online(t, s) => (Some(t.as_teacher()), None, Some((*t, *s)), None),
    };
    let id = super::stage::identity(meta, fingerprint)?;
    let heads_store = ParamStore::new(Rng::derive(ctx.seed, 4).state()[0]);
    let heads = layerwise_heads(
        ctx,
        task,
        splits,
        objective,
        teacher,
        &heads_store,
        learner.encoder.d_model,
    )?;
    let intermediate = intermediate_heads(ctx, task, splits, objective, model, &heads_store)?;
    let hyps = match (objective.needs().hypotheses, cache) {
        (Some(b), Some(c)) => Some(hypotheses(c, b)),
        _ => None,
    };
    eprintln!(
        "[{}/{}] objective: {}",
        spec.teacher,
        spec.kd,
        objective.formula()
    );
    let stages = objective.stages();
    let steps = objective.stage_steps(learner.train.steps);
    let mut reports: Vec<TrainReport> = Vec::new();
    for (i, obj) in stages.iter().enumerate() {
        let mut cfg = learner.train.clone();
        if stages.len() > 1 {
            // Attention-map KD: the first stage initialises, the second trains.
            cfg.steps = steps[i];
            cfg.warmup = cfg.warmup.min(cfg.steps / 2);
            // The initialisation stage's dev error is not a selection criterion.
            cfg.select_best = cfg.select_best && i + 1 == stages.len();
        }
        let d = Distiller {
            student: model,
            objective: obj.clone(),
            cache,
            teacher,
            heads: heads.as_ref(),
            intermediate: intermediate.as_ref(),
            hypotheses: hyps.as_deref(),
            teacher_input: preset.teacher_input,
            kd_warmup: preset.kd_warmup,
        };
        let log_name = format!("{}/{}", spec.teacher, spec.kd);
        let mut run = stage.train_run(ctx, task, splits, &cfg, &log_name, id.clone());
        run.out = stage.dir.join(format!("train-stage{}", i + 1));
        let mut vars = store.vars();
        vars.extend(heads_store.vars());
        let report = match (online, &source) {
            (Some((t, tstore)), _) => {
                run.run(&Online::new(t, d)?, online_vars(tstore.vars(), vars))?
            }
            (None, Source::Joint(cfg)) => {
                let vb = store.vb(&ctx.device);
                let joint = JointModel::new(
                    task,
                    model,
                    cfg,
                    obj.clone(),
                    preset.kd_warmup,
                    vb.pp("model").pp("encoder"),
                    vb.pp("joint"),
                )?;
                // The oracle path's parameters exist from here on: collected after it.
                let mut vars = store.vars();
                vars.extend(heads_store.vars());
                run.run(&joint, vars)?
            }
            (None, _) => run.run(&d, vars)?,
        };
        reports.push(report);
    }
    Ok(StageReport {
        train: reports,
        extra: objective.formula(),
    })
}

/// CTC heads on the student's intermediate layers for self-distillation, sized from one
/// student forward (its depth).
fn intermediate_heads<T: Task>(
    ctx: &Ctx,
    task: &T,
    splits: &Splits<T::Example>,
    objective: &KdObjective,
    model: &CtcModel,
    store: &ParamStore,
) -> Result<Option<IntermediateHeads>> {
    let Some(layers) = objective.needs().student_heads else {
        return Ok(None);
    };
    let ex = splits.train.first().context("empty training set")?;
    let batch = task.collate(&[(0, ex)], false, &mut Rng::new(0), &ctx.device)?;
    let mut fwd = Fwd::eval();
    fwd.collect = true;
    let out = model.forward(&batch.src, &batch.src_lens, &mut fwd)?;
    Ok(Some(IntermediateHeads::new(
        &layers,
        out.enc.hidden.len(),
        out.enc.frames.dim(2)?,
        task.vocab().size(),
        store.vb(&ctx.device).pp("intermediate"),
    )?))
}

/// Prediction heads for layer-wise KD, sized from one teacher forward (depth and width).
fn layerwise_heads<T: Task>(
    ctx: &Ctx,
    task: &T,
    splits: &Splits<T::Example>,
    objective: &KdObjective,
    teacher: Option<&dyn Teacher>,
    store: &ParamStore,
    student_dim: usize,
) -> Result<Option<PredictionHeads>> {
    let Some(layers) = objective.needs().heads else {
        return Ok(None);
    };
    let teacher = teacher.context("prediction heads (layer-wise KD) need a teacher")?;
    let ex = splits.train.first().context("empty training set")?;
    let batch = task.collate(&[(0, ex)], false, &mut Rng::new(0), &ctx.device)?;
    let out = teacher.outputs(&batch, true)?;
    let depth = out.hidden.len();
    let t_dim = out
        .hidden
        .first()
        .context("the teacher returned no hidden states")?
        .dim(2)?;
    let cfg = LayerwiseConfig::resolve(&layers, depth)?;
    Ok(Some(PredictionHeads::new(
        &cfg,
        student_dim,
        t_dim,
        store.vb(&ctx.device).pp("heads"),
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transfer_subset_is_seeded_ordered_and_sized() {
        let train: Vec<u32> = (0..1000).collect();
        let a = transfer_subset(7, &train, 0.03);
        assert_eq!(a.len(), 30);
        assert!(
            a.windows(2).all(|w| w[0] < w[1]),
            "original order, no repeats"
        );
        assert_eq!(a, transfer_subset(7, &train, 0.03));
        assert_ne!(a, transfer_subset(8, &train, 0.03));
        assert_eq!(transfer_subset(7, &train, 1.0), train);
        // Rounding, and never empty.
        assert_eq!(transfer_subset(7, &train, 0.0304).len(), 30);
        assert_eq!(transfer_subset(7, &train, 1e-9).len(), 1);
        assert!(transfer_subset(7, &Vec::<u32>::new(), 0.5).is_empty());
        assert_eq!(transfer_name(None, None), None);
        assert_eq!(transfer_name(Some(3), None).as_deref(), Some("omit-3"));
        assert_eq!(
            transfer_name(Some(3), Some(0.03)).as_deref(),
            Some("omit-3-frac-0.03")
        );
    }
}

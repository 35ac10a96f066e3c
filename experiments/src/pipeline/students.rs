//! The student stages: the same small model, seed and step budget for every (teacher, KD)
//! pair, so rows differ only in what the student was taught.

use anyhow::{Context, Result};
use ctc_core::ctc::decode::prefix_beam_search;
use ctc_core::model::CtcModel;
use ctc_core::params::ParamStore;
use ctc_core::task::Splits;
use ctc_core::train::TrainReport;
use ctc_core::{Batch, Fwd, Rng, Task};
use oracle::OracleTeacher;
use student::cache::TeacherOutputs;
use student::losses::layerwise::{LayerwiseConfig, PredictionHeads};
use student::losses::{parse_kd, KdObjective, KdTerm};
use student::online::{online_vars, runs_online, Online, OnlineTeacher};
use student::{Distiller, Teacher};

use super::stage::{dev_test, ensure_dir, Stage, StageReport};
use super::teachers::{conventional_init, example_posteriors, oracle_init};
use super::{fill_scores, Ctx};
use crate::results::ResultRow;

pub struct Students {
    pub rows: Vec<ResultRow>,
    pub example_posteriors: Vec<(String, Vec<Vec<f32>>)>,
}

/// Teacher posteriors over the training set, cached under the seed directory.
fn cache_for<T: Task>(
    ctx: &Ctx,
    task: &T,
    splits: &Splits<T::Example>,
    name: &str,
    teacher: &dyn Teacher,
) -> Result<TeacherOutputs> {
    let dir = ctx.dir.join("cache");
    ensure_dir(&dir)?;
    let path = dir.join(format!("{name}.safetensors"));
    if path.exists() {
        if let Ok(c) = TeacherOutputs::load(&path) {
            if c.len() == splits.train.len() {
                return Ok(c);
            }
        }
    }
    let bs = ctx.preset.teacher.train.batch_size;
    let c = TeacherOutputs::compute(task, &splits.train, bs, &ctx.device, |b| {
        let o = teacher.outputs(b, false)?;
        Ok((o.logits, o.lens))
    })?;
    c.save(&path)?;
    Ok(c)
}

/// The teacher's beam-search hypothesis for every training example (sequence-level KD).
fn hypotheses(cache: &TeacherOutputs, beam: usize) -> Vec<Vec<u32>> {
    (0..cache.len())
        .map(|i| prefix_beam_search(cache.example(i), cache.frames(i), cache.vocab_size(), beam))
        .collect()
}

pub fn all<T: Task>(
    ctx: &Ctx,
    task: &T,
    splits: &Splits<T::Example>,
    conv: &CtcModel,
    orc: &OracleTeacher,
) -> Result<Students> {
    let mut out = Students {
        rows: Vec::new(),
        example_posteriors: Vec::new(),
    };
    let mut caches: Vec<(String, TeacherOutputs)> = Vec::new();
    for kd in &ctx.kd {
        let teachers: Vec<(&str, Option<&dyn Teacher>)> = if kd == "ctc" {
            vec![("none", None)]
        } else {
            vec![
                ("conventional", Some(conv as &dyn Teacher)),
                ("oracle", Some(orc as &dyn Teacher)),
            ]
        };
        for (tname, teacher) in teachers {
            let cache = match teacher {
                Some(t) if !caches.iter().any(|(n, _)| n == tname) => {
                    let c = cache_for(ctx, task, splits, tname, t)?;
                    caches.push((tname.to_string(), c));
                    caches.last().map(|(_, c)| c)
                }
                Some(_) => caches.iter().find(|(n, _)| n == tname).map(|(_, c)| c),
                None => None,
            };
            let (row, post) = one(ctx, task, splits, kd, tname, teacher, cache, None)
                .with_context(|| format!("student: kd {kd}, teacher {tname}"))?;
            if kd == "ctc" || kd == "frame-kd" {
                out.example_posteriors
                    .push((format!("student {kd} ({tname})"), post));
            }
            out.rows.push(row);
        }
    }
    if ctx.online {
        out.rows.extend(online_students(ctx, task, splits)?);
    }
    Ok(out)
}

/// Every KD student of the run again, each trained in one loop with a fresh teacher of each kind.
fn online_students<T: Task>(
    ctx: &Ctx,
    task: &T,
    splits: &Splits<T::Example>,
) -> Result<Vec<ResultRow>> {
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    for kd in ctx.kd.iter().filter(|k| k.as_str() != "ctc") {
        if !runs_online(&parse_kd(kd)?) {
            skipped.push(kd.as_str());
            continue;
        }
        let (cstore, conv) = conventional_init(ctx, task)?;
        let (ostore, orc) = oracle_init(ctx, task, &ctx.preset.oracle.model)?;
        let teachers: [(&str, &dyn OnlineTeacher, &ParamStore); 2] =
            [("conventional", &conv, &cstore), ("oracle", &orc, &ostore)];
        for (tname, teacher, store) in teachers {
            let (row, _) = one(
                ctx,
                task,
                splits,
                kd,
                tname,
                None,
                None,
                Some((teacher, store)),
            )
            .with_context(|| format!("online student: kd {kd}, teacher {tname}"))?;
            rows.push(row);
        }
    }
    if !skipped.is_empty() {
        eprintln!(
            "online: skipped {} KD method(s) that need a fixed teacher's hypotheses: {}",
            skipped.len(),
            skipped.join(", ")
        );
    }
    Ok(rows)
}

/// One student stage. With `online`, the given teacher (and its parameters) trains in the same
/// loop instead of a frozen `teacher`/`cache`.
#[allow(clippy::too_many_arguments)]
fn one<T: Task>(
    ctx: &Ctx,
    task: &T,
    splits: &Splits<T::Example>,
    kd: &str,
    tname: &str,
    teacher: Option<&dyn Teacher>,
    cache: Option<&TeacherOutputs>,
    online: Option<(&dyn OnlineTeacher, &ParamStore)>,
) -> Result<(ResultRow, Vec<Vec<f32>>)> {
    let spec = &ctx.preset.student;
    let objective = parse_kd(kd)?;
    let teacher = online.map(|(t, _)| t.as_teacher()).or(teacher);
    let label = match online {
        Some(_) => format!("{kd}+online"),
        None => kd.to_string(),
    };
    let stage = Stage::new(
        ctx,
        &format!("student-{tname}-{kd}{}", online.map_or("", |_| "-online")),
    )?;
    // Every student starts from the same weights for a seed: rows differ only in teaching.
    let store = ParamStore::new(Rng::derive(ctx.seed, 3).state()[0]);
    let model = CtcModel::new(task, &spec.encoder, store.vb(&ctx.device).pp("model"))?;
    let report: StageReport<String> = if stage.done() {
        stage.restore(&store)?
    } else {
        let heads_store = ParamStore::new(Rng::derive(ctx.seed, 4).state()[0]);
        let heads = layerwise_heads(
            ctx,
            task,
            splits,
            &objective,
            teacher,
            &heads_store,
            spec.encoder.d_model,
        )?;
        let seq_beam = objective.terms.iter().find_map(|t| match t {
            KdTerm::SequenceKd { beam, .. } => Some(*beam),
            _ => None,
        });
        let hyps = match (seq_beam, cache) {
            (Some(b), Some(c)) => Some(hypotheses(c, b)),
            _ => None,
        };
        let stages = objective.stages();
        let mut reports: Vec<TrainReport> = Vec::new();
        for (i, obj) in stages.iter().enumerate() {
            let mut cfg = spec.train.clone();
            if stages.len() > 1 {
                // Attention-map KD: a quarter of the budget initialises, the rest trains.
                cfg.steps = if i == 0 {
                    spec.train.steps / 4
                } else {
                    spec.train.steps - spec.train.steps / 4
                };
                cfg.warmup = cfg.warmup.min(cfg.steps / 2);
                // The initialisation stage's dev error is not a selection criterion.
                cfg.select_best = cfg.select_best && i + 1 == stages.len();
            }
            let d = Distiller {
                student: &model,
                objective: obj.clone(),
                cache,
                teacher,
                heads: heads.as_ref(),
                hypotheses: hyps.as_deref(),
            };
            let mut run = stage.train_run(ctx, task, splits, &cfg, &format!("{tname}/{label}"));
            run.out = stage.dir.join(format!("train-stage{}", i + 1));
            let mut vars = store.vars();
            vars.extend(heads_store.vars());
            let report = match online {
                Some((t, tstore)) => {
                    run.run(&Online::new(t, d)?, online_vars(tstore.vars(), vars))?
                }
                None => run.run(&d, vars)?,
            };
            reports.push(report);
        }
        let rep = StageReport {
            train: reports,
            extra: objective.formula(),
        };
        let meta = ctx.meta(task.name(), "ctc", "student", &spec.encoder, tname, &label);
        stage.finish(&store, &meta, task.vocab(), &rep)?;
        rep
    };
    let eval = |b: &Batch| {
        let o = model.forward(&b.src, &b.src_lens, &mut Fwd::eval())?;
        Ok((o.logits, o.enc.lens))
    };
    let scores = dev_test(ctx, task, splits, spec.train.batch_size, eval)?;
    let mut row = ctx.row(task, "student", tname, &label);
    row.params = store.num_params() as u64;
    row.train_steps = report.train.iter().map(|r| r.steps as u64).sum();
    row.train_seconds = report.train.iter().map(|r| r.train_seconds).sum();
    fill_scores::<T>(&mut row, &scores);
    row.revision = stage.trained_revision()?;
    let (post, _) = example_posteriors(ctx, task, splits, eval)?;
    Ok((row, post))
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
    let Some(layers) = objective.terms.iter().find_map(|t| match t {
        KdTerm::Layerwise { layers, .. } => Some(layers.clone()),
        _ => None,
    }) else {
        return Ok(None);
    };
    let teacher = teacher.context("layer-wise KD needs a teacher")?;
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

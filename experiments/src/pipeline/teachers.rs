//! The two teacher stages: the conventional teacher, then the oracle with its copy diagnostics.

use anyhow::{Context, Result};
use candle_core::{Tensor, D};
use ctc_core::ctc::{PosteriorStats, PosteriorTally};
use ctc_core::model::CtcModel;
use ctc_core::params::ParamStore;
use ctc_core::task::Splits;
use ctc_core::train::{crossing, leveloff, map_eval_batches, TrainReport};
use ctc_core::{Batch, Fwd, Rng, Task};
use oracle::diagnostics::{diagnose, CopyDiagnostics};
use oracle::{AntiCopy, OracleConfig, OracleTeacher};

use super::plan::StageSpec;
use super::stage::{trained_and_scored, Stage, StageReport};
use super::Ctx;
use crate::results::ResultRow;
use student::ensemble::{retimed, AgreementTally, Combine, Ensemble};
use student::Teacher;

pub struct Trained<M> {
    pub model: M,
    pub report: TrainReport,
    pub row: ResultRow,
    pub example_posteriors: Vec<Vec<f32>>,
    pub example_text: String,
    /// `export::weights_fingerprint` of the trained weights (what a student's cache is tied to).
    pub fingerprint: u64,
}

impl<M> Trained<M> {
    /// (training seconds, dev error) points.
    pub fn curve(&self) -> Vec<(f64, f64)> {
        self.report
            .curve
            .iter()
            .map(|p| (p.seconds, p.dev_error))
            .collect()
    }
}

/// Posteriors (T x V') of the first test example under `f`, for the spike plot.
pub fn example_posteriors<T: Task>(
    ctx: &Ctx,
    task: &T,
    splits: &Splits<T::Example>,
    f: impl Fn(&Batch) -> candle_core::Result<(Tensor, Vec<usize>)>,
) -> Result<(Vec<Vec<f32>>, String)> {
    let Some(ex) = splits.test.first() else {
        return Ok((Vec::new(), String::new()));
    };
    let batch = task.collate(&[(0, ex)], false, &mut Rng::new(0), &ctx.device)?;
    let (logits, lens) = f(&batch)?;
    let p = candle_nn::ops::softmax(&logits, D::Minus1)?
        .get(0)?
        .narrow(0, 0, lens[0])?;
    Ok((p.to_vec2::<f32>()?, batch.texts[0].clone()))
}

/// Posterior statistics of a teacher (`f`: its scores for a batch) on the first
/// `diagnostics_examples` training examples (clean input), printed and put in `row`.
fn posterior_stats<T: Task>(
    ctx: &Ctx,
    task: &T,
    splits: &Splits<T::Example>,
    stage: &str,
    row: &mut ResultRow,
    f: impl Fn(&Batch) -> candle_core::Result<(Tensor, Vec<usize>)> + Sync,
) -> Result<PosteriorStats> {
    let n = ctx
        .preset
        .diagnostics_examples
        .unwrap_or(200)
        .min(splits.train.len());
    let v = task.vocab().size();
    let tallies = map_eval_batches(task, &splits.train[..n], bs(ctx), &ctx.device, |b| {
        let (logits, lens) = f(b)?;
        let lp = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
        let t_max = lp.dim(1)?;
        let mut tally = PosteriorTally::default();
        for (i, y) in b.targets.iter().enumerate() {
            let rows = lp.get(i)?.flatten_all()?.to_vec1::<f32>()?;
            tally.add(&rows, lens[i].min(t_max), v, y);
        }
        Ok(tally)
    })?;
    let mut all = PosteriorTally::default();
    for t in &tallies {
        all.merge(t);
    }
    let st = all.stats();
    row.blank_fraction = Some(st.blank_fraction);
    row.frame_entropy = Some(st.frame_entropy);
    row.spikes_per_label = Some(st.spikes_per_label);
    row.hint_leakage = st.hint_leakage;
    let leak = st
        .hint_leakage
        .map_or("not measured (nothing aligned)".to_string(), |l| {
            format!("{l:.4}")
        });
    eprintln!(
        "[{stage}] posteriors on {} training examples: blank {:.3} of frames, entropy {:.3} nats, \
         {:.2} label frames per label, hint leakage {leak}",
        st.examples, st.blank_fraction, st.frame_entropy, st.spikes_per_label
    );
    Ok(st)
}

fn bs(ctx: &Ctx) -> usize {
    ctx.preset.teacher.train.batch_size
}

/// A config as one line of a stage key.
fn key_line<X: serde::Serialize>(x: &X) -> String {
    format!(
        "strategy = {:?}\n",
        serde_json::to_string(x).unwrap_or_default()
    )
}

/// A teacher row's cost columns: steps and seconds to the dev target `target` and to its
/// level-off, both read between evaluations.
fn teacher_cost(row: &mut ResultRow, report: &TrainReport, target: Option<f64>) {
    if let Some(c) = target.and_then(|t| crossing::first_crossing(&report.curve, t)) {
        row.steps_to_target = Some(c.step);
        row.seconds_to_target = Some(c.seconds);
    }
    if let Some(l) = leveloff::level_off(&report.curve, leveloff::REL) {
        row.leveloff_step = Some(l.step);
        row.leveloff_seconds = Some(l.seconds);
    }
}

/// The conventional teacher's initial weights for this seed (online students start from them
/// too).
pub fn conventional_init<T: Task>(ctx: &Ctx, task: &T) -> Result<(ParamStore, CtcModel)> {
    member_init(ctx, task, 1)
}

/// Ensemble member `index`'s initial weights: member 1 is the conventional teacher, the others
/// draw from streams of their own.
fn member_init<T: Task>(ctx: &Ctx, task: &T, index: usize) -> Result<(ParamStore, CtcModel)> {
    let stream = if index == 1 { 1 } else { 200 + index as u64 };
    let store = ParamStore::new(Rng::derive(ctx.seed, stream).state()[0]);
    let enc = &ctx.preset.teacher.encoder;
    let model = CtcModel::new(task, enc, store.vb(&ctx.device).pp("model"))?;
    Ok((store, model))
}

/// The oracle's initial weights for this seed, whatever its anti-copy strategy.
pub fn oracle_init<T: Task>(
    ctx: &Ctx,
    task: &T,
    cfg: &OracleConfig,
) -> Result<(ParamStore, OracleTeacher)> {
    let store = ParamStore::new(Rng::derive(ctx.seed, 2).state()[0]);
    let model = OracleTeacher::new(task, cfg, store.vb(&ctx.device).pp("model"))?;
    Ok((store, model))
}

/// Train (or restore) the conventional teacher (`member` 1) or another member of its ensemble
/// (the same architecture and budget from other initial weights).
pub fn conventional<T: Task>(
    ctx: &Ctx,
    task: &T,
    splits: &Splits<T::Example>,
    spec: &StageSpec,
    member: usize,
) -> Result<Trained<CtcModel>> {
    let preset = &ctx.preset.teacher;
    let key = crate::grid::stage_key(&ctx.preset, ctx.seed, &spec.name, "");
    let (store, model) = member_init(ctx, task, member)?;
    let meta = ctx.meta::<T>(spec, &preset.encoder, None);
    let train = |stage: &Stage| -> Result<StageReport<()>> {
        let id = super::stage::identity(&meta, None)?;
        let run = stage.train_run(ctx, task, splits, &preset.train, &spec.name, id);
        Ok(StageReport {
            train: vec![run.run(&model, store.vars())?],
            extra: (),
        })
    };
    let eval = |b: &Batch| {
        let out = model.forward(&b.src, &b.src_lens, &mut Fwd::eval())?;
        Ok((out.logits, out.enc.lens))
    };
    let done = trained_and_scored(
        ctx,
        task,
        splits,
        spec,
        key,
        (&store, &meta),
        bs(ctx),
        train,
        &eval,
    )?;
    let mut row = done.row;
    let report = done.report.train.into_iter().next().unwrap_or_default();
    teacher_cost(&mut row, &report, preset.train.target_error);
    posterior_stats(ctx, task, splits, &spec.name, &mut row, eval)?;
    let (example_posteriors, example_text) = example_posteriors(ctx, task, splits, eval)?;
    Ok(Trained {
        model,
        report,
        row,
        example_posteriors,
        example_text,
        fingerprint: ctc_core::export::weights_fingerprint(&store, super::PREFIX)?,
    })
}

/// Train (or restore) an oracle under `strategy` (the preset's, or an ablation's: every oracle
/// of a seed starts from the same initial weights). `reference` is the conventional teacher,
/// whose forced alignment the copy diagnostics compare spikes against.
pub fn oracle<T: Task>(
    ctx: &Ctx,
    task: &T,
    splits: &Splits<T::Example>,
    spec: &StageSpec,
    strategy: &AntiCopy,
    reference: &CtcModel,
) -> Result<Trained<OracleTeacher>> {
    let preset = ctx
        .preset
        .oracle
        .as_ref()
        .context("an oracle stage needs the preset's [oracle] section")?;
    let mut cfg = preset.model.clone();
    cfg.anti_copy = strategy.clone();
    let stage_name = &spec.name;
    let key = crate::grid::stage_key(&ctx.preset, ctx.seed, stage_name, &key_line(&cfg));
    let (store, model) = oracle_init(ctx, task, &cfg)?;
    let meta = ctx.meta::<T>(spec, &cfg.encoder, Some(&cfg));
    let train = |stage: &Stage| -> Result<StageReport<Option<CopyDiagnostics>>> {
        let id = super::stage::identity(&meta, None)?;
        let run = stage.train_run(ctx, task, splits, &preset.train, stage_name, id);
        let r = run.run(&model, store.vars())?;
        let n = ctx
            .preset
            .diagnostics_examples
            .unwrap_or(splits.dev.len())
            .min(splits.dev.len());
        let diag = diagnose(task, &model, &splits.dev[..n], bs(ctx), &ctx.device, |b| {
            let out = reference.forward(&b.src, &b.src_lens, &mut Fwd::eval())?;
            Ok((out.logits, out.enc.lens))
        })?;
        Ok(StageReport {
            train: vec![r],
            extra: Some(diag),
        })
    };
    let eval = |b: &Batch| {
        let out = model.infer(&b.src, &b.src_lens, &b.targets, &mut Fwd::eval())?;
        Ok((out.logits, out.enc.lens))
    };
    let done = trained_and_scored(
        ctx,
        task,
        splits,
        spec,
        key,
        (&store, &meta),
        bs(ctx),
        train,
        &eval,
    )?;
    let mut row = done.row;
    let diag = done.report.extra;
    let report = done.report.train.into_iter().next().unwrap_or_default();
    teacher_cost(&mut row, &report, preset.train.target_error);
    posterior_stats(ctx, task, splits, stage_name, &mut row, eval)?;
    if let Some(d) = &diag {
        row.ablated_cer = Some(d.error_zeroed);
        row.spike_offset = d.spike_offset;
        row.spike_offset_rel = d.spike_offset_rel;
        row.error_swapped_source = Some(d.error_swapped);
        if let Some(l) = &d.labels {
            row.label_use = Some(l.label_use);
            row.source_use = Some(l.source_use);
            row.label_use_cer = Some(l.label_use_cer);
            row.source_use_cer = Some(l.source_use_cer);
            row.error_other_labels = Some(l.error_other_labels);
            row.error_shuffled_labels = Some(l.error_shuffled_labels);
            row.error_masked_labels = Some(l.error_masked_labels);
            eprintln!(
                "[{stage_name}] label use (own source): error {:.1} with the true labels, {:.1} with \
                 another example's, {:.1} shuffled, {:.1} {} labels; label use {:+.1}, source use \
                 {:+.1} (on CER: {:+.1}, {:+.1})",
                d.error_true,
                l.error_other_labels,
                l.error_shuffled_labels,
                l.error_masked_labels,
                if l.masked_input == "empty" { "without" } else { "masked" },
                l.label_use,
                l.source_use,
                l.label_use_cer,
                l.source_use_cer
            );
        }
        let spikes = match (d.spike_offset, d.spike_offset_rel) {
            (Some(f), Some(r)) => format!("{f:.2} frames ({r:.2} label spans)"),
            (Some(f), None) => format!("{f:.2} frames"),
            _ => "not measured (no example aligned)".to_string(),
        };
        eprintln!(
            "[{stage_name}] copy diagnostics (labels fed): error {:.1} with its source, {:.1} \
             zeroed, {:.1} noised, {:.1} swapped; spikes off the teacher's by {spikes}",
            d.error_true, d.error_zeroed, d.error_noised, d.error_swapped
        );
        let copy_cer = d.labels.as_ref().is_some_and(|l| l.copy_suspected_cer);
        if copy_cer && !d.copy_suspected {
            eprintln!(
                "warning: on CER the oracle looks like it copies its labels (CER {:.1} with the \
                 source, {:.1} with the source zeroed)",
                d.labels.as_ref().map_or(0.0, |l| l.cer_true),
                d.labels.as_ref().map_or(0.0, |l| l.cer_zeroed)
            );
        }
        if d.copy_suspected {
            eprintln!(
                "warning: the oracle looks like it copies its labels (dev error {:.1} with the source, \
                 {:.1} with the source zeroed); its students are still trained, read them with care",
                d.error_true, d.error_zeroed
            );
        }
    }
    let (example_posteriors, example_text) = example_posteriors(ctx, task, splits, eval)?;
    Ok(Trained {
        model,
        report,
        row,
        example_posteriors,
        example_text,
        fingerprint: ctc_core::export::weights_fingerprint(&store, super::PREFIX)?,
    })
}

/// The ensemble `ens` of the conventional teacher and its `members`, scored as one model: its row
/// (parameters, steps and seconds summed over the members), its posterior statistics, and the
/// members' frame agreement on the diagnostics' training examples; the fingerprint ties its
/// students' cache to every member's weights and the combination.
pub fn ensemble<T: Task>(
    ctx: &Ctx,
    task: &T,
    splits: &Splits<T::Example>,
    spec: &StageSpec,
    members: &[&Trained<CtcModel>],
    ens: &Ensemble,
) -> Result<(ResultRow, u64)> {
    let combine = ens.combine;
    let eval = |b: &Batch| {
        let o = ens.outputs(b, false)?;
        Ok((o.logits, o.lens))
    };
    let stage = Stage::new(ctx, &spec.name)?;
    let scores = super::stage::dev_test(ctx, task, splits, bs(ctx), eval)?;
    let mut row = ctx.row::<T>(spec);
    row.params = members.iter().map(|m| m.row.params).sum();
    row.train_steps = members.iter().map(|m| m.row.train_steps).sum();
    row.train_seconds = members.iter().map(|m| m.row.train_seconds).sum();
    super::fill_scores::<T>(&mut row, &scores);
    row.test_edits = stage.save_edits(ctx, &scores, "")?;
    posterior_stats(ctx, task, splits, &spec.name, &mut row, eval)?;
    let n = ctx
        .preset
        .diagnostics_examples
        .unwrap_or(200)
        .min(splits.train.len());
    // Under `aligned`, also after re-timing: how far the combination's frames agree.
    let aligned = combine == Combine::Aligned;
    let tallies = map_eval_batches(task, &splits.train[..n], bs(ctx), &ctx.device, |b| {
        let (logits, lens) = ens.member_logits(b)?;
        let mut raw = AgreementTally::default();
        raw.add(&logits, &lens)?;
        let mut after = AgreementTally::default();
        if aligned {
            after.add(&retimed(&logits, &lens)?, &lens)?;
        }
        Ok((raw, after))
    })?;
    let (mut all, mut after) = (AgreementTally::default(), AgreementTally::default());
    for (raw, re) in &tallies {
        all.merge(raw);
        after.merge(re);
    }
    let ag = all.agreement();
    let after = aligned.then(|| after.agreement());
    eprintln!(
        "[{}] {} members, {} of their posteriors; on {n} training examples every member's \
         argmax agrees on {:.1} % of {} frames, and on {:.1} % of the frames where one of them \
         spikes (a label){}",
        spec.name,
        members.len(),
        serde_json::to_string(&combine)?.trim_matches('"'),
        100.0 * ag.all_frames,
        ag.frames,
        100.0 * ag.label_frames,
        after.map_or(String::new(), |a| format!(
            "; after re-timing onto the first member, {:.1} % and {:.1} %",
            100.0 * a.all_frames,
            100.0 * a.label_frames
        ))
    );
    let json = serde_json::json!({
        "frames": ag.frames,
        "all_frames": ag.all_frames,
        "label_frames": ag.label_frames,
        "after_retiming": after,
    });
    crate::results::write_atomic(
        &stage.dir.join("agreement.json"),
        serde_json::to_string_pretty(&json)?.as_bytes(),
    )?;
    let mut h = ctc_core::io::Fnv1a::new();
    for m in members {
        h.update(&m.fingerprint.to_le_bytes());
    }
    h.update(format!("{combine:?}").as_bytes());
    Ok((row, h.finish()))
}

//! One experiment for one seed: the stages of `plan` (conventional teacher, oracle with copy
//! diagnostics, ablation oracles, every student), each resumable, walked in order; returns the
//! results rows and what the plots need.

mod bias;
pub mod edits;
mod plan;
mod stage;
mod students;
mod teachers;

pub use stage::{StageReport, REPORT};

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use candle_core::Device;
use ctc_core::model::CtcModel;
use ctc_core::task::{Splits, WordMetric};
use ctc_core::{EncoderConfig, Task};
use oracle::OracleTeacher;
use serde::{Deserialize, Serialize};
use student::ensemble::Ensemble;
use student::{OracleAsTeacher, Teacher};

use crate::preset::Preset;
use crate::results::ResultRow;

use plan::{StageSpec, TeacherKind, Trains};
pub use stage::{DevTest, PREFIX};

/// What `eval`, `transcribe` and `recognize` need to rebuild an exported model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelMeta {
    pub task: String,
    /// "ctc" (conventional teacher or student) or "oracle".
    pub kind: String,
    pub role: String,
    pub encoder: EncoderConfig,
    #[serde(default)]
    pub oracle: Option<oracle::OracleConfig>,
    /// The preset's data table (feature / normalisation settings live there).
    pub data: toml::Table,
    pub preset: String,
    pub seed: u64,
    pub teacher: String,
    pub kd: String,
    /// Git revision of the binary that trained the model (absent in models exported before it
    /// was recorded).
    #[serde(default)]
    pub revision: Option<String>,
    /// The CPU that trained it and the kernel paths it took (`ctc_core::cpu::numbers_line`;
    /// absent in models exported before it was recorded; left out when absent, so that the
    /// identity of checkpoints written before it is unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
}

impl ModelMeta {
    pub fn trained_revision(&self) -> String {
        self.revision
            .clone()
            .unwrap_or_else(|| "unknown".to_string())
    }

    pub fn trained_cpu(&self) -> String {
        self.cpu.clone().unwrap_or_else(|| "unknown".to_string())
    }

    /// Without where and by which build it was trained: what a restored or resumed stage must
    /// match (a rebuilt binary, or another machine, may resume a run).
    pub fn portable(&self) -> Self {
        Self {
            revision: None,
            cpu: None,
            ..self.clone()
        }
    }
}

pub struct Ctx {
    pub preset: Preset,
    pub seed: u64,
    /// This seed's directory.
    pub dir: PathBuf,
    pub device: Device,
    pub progress: bool,
    pub kd: Vec<String>,
    /// Extra anti-copy strategies to train and diagnose as oracles beside the preset's
    /// (an ablation: students still distil from the preset's oracle).
    pub anti_copy: Vec<oracle::AntiCopy>,
    /// Also train each KD student online: a fresh teacher of each kind trained alongside it.
    pub online: bool,
    pub revision: String,
    /// This seed's directories in the other cells of a grid: finished stages of the same
    /// key are reused from them (`Stage::keyed`).
    pub share: Vec<PathBuf>,
    /// The dev and test examples' clusters, written beside their edit counts.
    pub clusters: crate::clusters::SplitClusters,
}

/// Per-seed outputs besides the rows: dev curves of both teachers and one example's posteriors.
pub struct SeedOutcome {
    pub rows: Vec<ResultRow>,
    pub curves: Vec<(String, Vec<(f64, f64)>)>,
    pub target: Option<f64>,
    pub posteriors: Vec<(String, Vec<Vec<f32>>)>,
    pub example_text: String,
}

impl Ctx {
    /// The row a stage writes, before its scores are filled in.
    pub fn row<T: Task>(&self, spec: &StageSpec) -> ResultRow {
        ResultRow {
            task: T::NAME.to_string(),
            preset: self.preset.name.clone(),
            seed: self.seed,
            role: spec.role.to_string(),
            teacher: spec.teacher.clone(),
            kd: spec.kd.clone(),
            anti_copy: spec.anti_copy.clone(),
            // A restored stage replaces `revision` with the one stored with its model.
            revision: self.revision.clone(),
            scored_revision: self.revision.clone(),
            cpu: ctc_core::cpu::numbers_line(),
            scored_with: scored_with(spec.role).to_string(),
            ..Default::default()
        }
    }

    /// What is exported with a stage's model. `oracle`: the config of an oracle stage.
    pub fn meta<T: Task>(
        &self,
        spec: &StageSpec,
        encoder: &EncoderConfig,
        oracle: Option<&oracle::OracleConfig>,
    ) -> ModelMeta {
        let (kind, teacher) = match spec.role {
            "student" => ("ctc", spec.teacher.clone()),
            "oracle" => ("oracle", "-".to_string()),
            _ => ("ctc", "-".to_string()),
        };
        ModelMeta {
            task: T::NAME.to_string(),
            kind: kind.to_string(),
            role: spec.role.to_string(),
            encoder: encoder.clone(),
            oracle: oracle.cloned(),
            data: self.preset.data.clone(),
            preset: self.preset.name.clone(),
            seed: self.seed,
            teacher,
            kd: spec.kd.clone(),
            revision: Some(self.revision.clone()),
            cpu: Some(ctc_core::cpu::numbers_line()),
        }
    }
}

/// What a model of `role` is given when scored (the `scored_with` column).
pub fn scored_with(role: &str) -> &'static str {
    match role {
        "oracle" => "source+labels",
        _ => "source",
    }
}

/// Fill a row's metric columns from dev/test evaluations.
pub fn fill_scores<T: Task>(row: &mut ResultRow, s: &DevTest) {
    row.dev_cer = Some(s.dev.scores.cer);
    row.test_cer = Some(s.test.scores.cer);
    let t = &s.test;
    row.test_errors = Some(t.refs.iter().zip(&t.hyps).filter(|(r, h)| r != h).count() as u64);
    row.test_examples = Some(t.refs.len() as u64);
    match T::WORDS {
        WordMetric::WordAccuracy => row.word_acc = Some(s.test.scores.word_acc),
        WordMetric::Wer => {
            row.dev_wer = Some(s.dev.scores.wer);
            row.test_wer = Some(s.test.scores.wer);
        }
    }
}

/// The conventional teacher and its ensemble's other members as one teacher, combined as the
/// preset says.
fn ensemble_of<'a>(
    ctx: &Ctx,
    teacher: &'a teachers::Trained<CtcModel>,
    members: &'a [teachers::Trained<CtcModel>],
) -> Ensemble<'a> {
    Ensemble {
        members: std::iter::once(&teacher.model as &dyn Teacher)
            .chain(members.iter().map(|m| &m.model as &dyn Teacher))
            .collect(),
        combine: ctx
            .preset
            .ensemble
            .as_ref()
            .map(|e| e.combine)
            .unwrap_or_default(),
    }
}

pub fn run_seed<T: Task>(ctx: &Ctx, task: &T, splits: &Splits<T::Example>) -> Result<SeedOutcome> {
    let strategy = ctx.preset.oracle.as_ref().map(|o| &o.model.anti_copy);
    let variants = &ctx.preset.student.kd_variants;
    let mut plan = plan::plan(strategy, &ctx.kd, variants, &ctx.anti_copy, ctx.online)?;
    if let Some(e) = &ctx.preset.ensemble {
        plan = plan::with_ensemble(plan, e.members, &ctx.kd, variants)?;
    }
    if let Some(b) = &ctx.preset.born_again {
        plan = plan::with_born_again(plan, b.generations, &b.kd);
    }
    let mut out = SeedOutcome {
        rows: Vec::new(),
        curves: Vec::new(),
        target: ctx.preset.teacher.train.target_error,
        posteriors: Vec::new(),
        example_text: String::new(),
    };
    let mut conv: Option<teachers::Trained<CtcModel>> = None;
    let mut orc: Option<teachers::Trained<OracleTeacher>> = None;
    let mut caches = students::Caches::default();
    let mut generations: Vec<students::StudentOut> = Vec::new();
    let mut members: Vec<teachers::Trained<CtcModel>> = Vec::new();
    let mut ensemble_fp: Option<u64> = None;
    for spec in &plan.stages {
        match &spec.trains {
            Trains::Member { index } => {
                let t = teachers::conventional(ctx, task, splits, spec, *index)?;
                out.curves.push((format!("member {index}"), t.curve()));
                out.rows.push(t.row.clone());
                members.push(t);
            }
            Trains::Ensemble => {
                let c = conv.as_ref().context("the ensemble needs the teacher")?;
                let all: Vec<&teachers::Trained<CtcModel>> =
                    std::iter::once(c).chain(&members).collect();
                let ens = ensemble_of(ctx, c, &members);
                let (row, fp) = teachers::ensemble(ctx, task, splits, spec, &all, &ens)?;
                out.rows.push(row);
                ensemble_fp = Some(fp);
            }
            Trains::Teacher => {
                let t = teachers::conventional(ctx, task, splits, spec, 1)?;
                out.curves.push(("conventional teacher".into(), t.curve()));
                out.posteriors
                    .push(("conventional teacher".into(), t.example_posteriors.clone()));
                out.example_text = t.example_text.clone();
                out.rows.push(t.row.clone());
                conv = Some(t);
            }
            Trains::Oracle { strategy, ablation } => {
                let reference = &conv
                    .as_ref()
                    .context("the oracle stage needs the teacher")?
                    .model;
                let t = teachers::oracle(ctx, task, splits, spec, strategy, reference)?;
                out.rows.push(t.row.clone());
                if *ablation {
                    out.curves
                        .push((format!("oracle, {}", strategy.name()), t.curve()));
                } else {
                    out.curves.push(("oracle teacher".into(), t.curve()));
                    out.posteriors
                        .push(("oracle teacher".into(), t.example_posteriors.clone()));
                    orc = Some(t);
                }
            }
            Trains::Student {
                kd,
                teacher,
                online,
            } => {
                let as_teacher = orc.as_ref().map(|o| OracleAsTeacher {
                    oracle: &o.model,
                    features: ctx.preset.student.oracle_features,
                });
                let ensemble = match (teacher, &conv, ensemble_fp) {
                    (Some(TeacherKind::Ensemble), Some(c), Some(fp)) => {
                        Some((ensemble_of(ctx, c, &members), fp))
                    }
                    _ => None,
                };
                let frozen: Option<(&dyn Teacher, u64)> = match (teacher, &conv, &as_teacher) {
                    (Some(TeacherKind::Ensemble), _, _) => match &ensemble {
                        Some((e, fp)) => Some((e, *fp)),
                        None => bail!("stage {}: the ensemble was not scored", spec.name),
                    },
                    // The joint model's teacher is its own oracle path.
                    (None | Some(TeacherKind::Joint), _, _) => None,
                    (Some(TeacherKind::Conventional), Some(c), _) => {
                        Some((&c.model, c.fingerprint))
                    }
                    (Some(TeacherKind::Oracle), _, Some(o)) => {
                        let fp = orc.as_ref().map_or(0, |t| t.fingerprint);
                        Some((o, fp))
                    }
                    (Some(k), _, _) => {
                        bail!(
                            "stage {}: the {} teacher was not trained",
                            spec.name,
                            k.name()
                        )
                    }
                };
                let done = students::student(
                    ctx,
                    task,
                    splits,
                    spec,
                    kd,
                    *teacher,
                    frozen,
                    *online,
                    &mut caches,
                    &students::Learner::student(ctx),
                )
                .with_context(|| format!("stage {}", spec.name))?;
                let (rows, post) = (done.rows, done.posteriors);
                let plotted = student::losses::registry::find(kd).is_some_and(|m| m.plotted);
                if !online && plotted {
                    out.posteriors
                        .push((format!("student {kd} ({})", spec.teacher), post));
                }
                out.rows.extend(rows);
            }
            Trains::BornAgain { generation, kd } => {
                let teacher: (&dyn Teacher, u64) = match generations.last() {
                    Some(prev) => (&prev.model, prev.fingerprint),
                    None => {
                        let c = conv.as_ref().context("born-again needs the teacher")?;
                        (&c.model, c.fingerprint)
                    }
                };
                let done = students::student(
                    ctx,
                    task,
                    splits,
                    spec,
                    kd,
                    Some(TeacherKind::Previous),
                    Some(teacher),
                    false,
                    &mut caches,
                    &students::Learner::born_again(ctx, *generation),
                )
                .with_context(|| format!("stage {}", spec.name))?;
                out.rows.extend(done.rows.iter().cloned());
                generations.push(done);
            }
        }
    }
    if !plan.ensemble_skipped.is_empty() {
        eprintln!(
            "ensemble: no ensemble student for {} KD method(s) that read one teacher's features \
             or have an oracle path of their own: {}",
            plan.ensemble_skipped.len(),
            plan.ensemble_skipped.join(", ")
        );
    }
    if !plan.online_skipped.is_empty() {
        eprintln!(
            "online: skipped {} KD method(s) that need a fixed teacher's hypotheses: {}",
            plan.online_skipped.len(),
            plan.online_skipped.join(", ")
        );
    }
    Ok(out)
}

//! One experiment for one seed: conventional teacher, oracle teacher (with copy diagnostics),
//! then every student, each a resumable stage; returns the results rows and what the plots need.

mod stage;
mod students;
mod teachers;

use std::path::PathBuf;

use anyhow::Result;
use candle_core::Device;
use ctc_core::task::{Splits, WordMetric};
use ctc_core::{EncoderConfig, Task};
use serde::{Deserialize, Serialize};

use crate::preset::Preset;
use crate::results::ResultRow;

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
}

impl ModelMeta {
    pub fn trained_revision(&self) -> String {
        self.revision
            .clone()
            .unwrap_or_else(|| "unknown".to_string())
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
    pub fn row<T: Task>(&self, task: &T, role: &str, teacher: &str, kd: &str) -> ResultRow {
        ResultRow {
            task: task.name().to_string(),
            preset: self.preset.name.clone(),
            seed: self.seed,
            role: role.to_string(),
            teacher: teacher.to_string(),
            kd: kd.to_string(),
            anti_copy: if teacher == "oracle" {
                self.preset.oracle.model.anti_copy.name().to_string()
            } else {
                "-".to_string()
            },
            // A restored stage replaces `revision` with the one stored with its model.
            revision: self.revision.clone(),
            scored_revision: self.revision.clone(),
            ..Default::default()
        }
    }

    pub fn meta(
        &self,
        task: &str,
        kind: &str,
        role: &str,
        encoder: &EncoderConfig,
        teacher: &str,
        kd: &str,
    ) -> ModelMeta {
        ModelMeta {
            task: task.to_string(),
            kind: kind.to_string(),
            role: role.to_string(),
            encoder: encoder.clone(),
            oracle: (kind == "oracle").then(|| self.preset.oracle.model.clone()),
            data: self.preset.data.clone(),
            preset: self.preset.name.clone(),
            seed: self.seed,
            teacher: teacher.to_string(),
            kd: kd.to_string(),
            revision: Some(self.revision.clone()),
        }
    }
}

/// Fill a row's metric columns from dev/test evaluations.
pub fn fill_scores<T: Task>(row: &mut ResultRow, s: &DevTest) {
    row.dev_cer = Some(s.dev.scores.cer);
    row.test_cer = Some(s.test.scores.cer);
    match T::WORDS {
        WordMetric::WordAccuracy => row.word_acc = Some(s.test.scores.word_acc),
        WordMetric::Wer => {
            row.dev_wer = Some(s.dev.scores.wer);
            row.test_wer = Some(s.test.scores.wer);
        }
    }
}

pub fn run_seed<T: Task>(ctx: &Ctx, task: &T, splits: &Splits<T::Example>) -> Result<SeedOutcome> {
    let conv = teachers::conventional(ctx, task, splits)?;
    let orc = teachers::oracle(ctx, task, splits, &conv.model, None)?;
    let mut rows = vec![conv.row.clone(), orc.row.clone()];
    let mut curves = vec![
        ("conventional teacher".to_string(), conv.curve()),
        ("oracle teacher".to_string(), orc.curve()),
    ];
    let preset_strategy = ctx.preset.oracle.model.anti_copy.name();
    for s in ctx.anti_copy.iter().filter(|s| s.name() != preset_strategy) {
        let ablation = teachers::oracle(ctx, task, splits, &conv.model, Some(s))?;
        rows.push(ablation.row.clone());
        curves.push((format!("oracle, {}", s.name()), ablation.curve()));
    }
    let studs = students::all(ctx, task, splits, &conv.model, &orc.model)?;
    rows.extend(studs.rows);
    let mut posteriors = vec![
        (
            "conventional teacher".to_string(),
            conv.example_posteriors.clone(),
        ),
        ("oracle teacher".to_string(), orc.example_posteriors.clone()),
    ];
    posteriors.extend(studs.example_posteriors);
    Ok(SeedOutcome {
        rows,
        curves,
        target: ctx.preset.teacher.train.target_error,
        posteriors,
        example_text: conv.example_text.clone(),
    })
}

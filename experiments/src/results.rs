//! The results CSV: one row per evaluated model, appended by every run and read by `compare`.
//!
//! The header is part of the project's interface (README, scripts, old runs), so it is fixed
//! here, checked on every append and every read, and never silently reordered.

use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// One evaluated model. Field order is the column order of the CSV.
/// Errors are in percent (0-100); `None` is written as an empty cell ("does not apply").
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct ResultRow {
    pub task: String,
    pub preset: String,
    pub seed: u64,
    pub role: String,
    pub teacher: String,
    pub kd: String,
    pub anti_copy: String,
    pub params: u64,
    pub train_steps: u64,
    pub train_seconds: f64,
    pub steps_to_target: Option<f64>,
    pub dev_cer: Option<f64>,
    pub dev_wer: Option<f64>,
    pub test_cer: Option<f64>,
    pub test_wer: Option<f64>,
    pub word_acc: Option<f64>,
    pub ablated_cer: Option<f64>,
    pub spike_offset: Option<f64>,
    pub revision: String,
    /// Absent in files of the older schema (see `LEGACY_COLUMNS`).
    #[serde(default)]
    pub scored_revision: String,
    /// Absent in files written before these four columns existed (`PREVIOUS_COLUMNS`).
    #[serde(default)]
    pub test_errors: Option<u64>,
    #[serde(default)]
    pub test_examples: Option<u64>,
    #[serde(default)]
    pub omitted_errors: Option<u64>,
    #[serde(default)]
    pub omitted_examples: Option<u64>,
    /// Absent in files written before these columns existed (see `SCHEMAS`).
    #[serde(default)]
    pub test_skipped: Option<u64>,
    #[serde(default)]
    pub test_untrainable: Option<u64>,
    #[serde(default)]
    pub test_edits: String,
    #[serde(default)]
    pub scored_with: String,
    #[serde(default)]
    pub seconds_to_target: Option<f64>,
    #[serde(default)]
    pub overrides: String,
    /// Absent in files written before the label-use diagnostics and posterior statistics.
    #[serde(default)]
    pub label_use: Option<f64>,
    #[serde(default)]
    pub source_use: Option<f64>,
    #[serde(default)]
    pub label_use_cer: Option<f64>,
    #[serde(default)]
    pub source_use_cer: Option<f64>,
    #[serde(default)]
    pub error_other_labels: Option<f64>,
    #[serde(default)]
    pub error_shuffled_labels: Option<f64>,
    #[serde(default)]
    pub error_masked_labels: Option<f64>,
    #[serde(default)]
    pub error_swapped_source: Option<f64>,
    #[serde(default)]
    pub spike_offset_rel: Option<f64>,
    #[serde(default)]
    pub blank_fraction: Option<f64>,
    #[serde(default)]
    pub frame_entropy: Option<f64>,
    #[serde(default)]
    pub spikes_per_label: Option<f64>,
    #[serde(default)]
    pub hint_leakage: Option<f64>,
    /// Absent in files written before the level-off columns.
    #[serde(default)]
    pub leveloff_step: Option<f64>,
    #[serde(default)]
    pub leveloff_seconds: Option<f64>,
    /// Absent in files written before the transfer-fraction variants.
    #[serde(default)]
    pub train_error: Option<f64>,
    /// Absent in files written before the CPU was recorded per row.
    #[serde(default)]
    pub cpu: String,
}

/// The values `role` may take.
pub const ROLES: [&str; 3] = ["teacher", "oracle", "student"];

/// Column name and meaning, in CSV order: the table of docs/results-csv.md, checked by a test.
pub const COLUMN_DOCS: &[(&str, &str)] = &[
    ("task", "Recognition task, by its registry name: `asr` (speech), `str` (scene-text word images) or `toy` (the synthetic task)."),
    ("preset", "Name of the experiment preset (TOML) the run was started from."),
    ("seed", "Seed of the run; every random stream is derived from it."),
    ("role", "`teacher` (conventional, source only), `oracle` (source + labels) or `student`."),
    ("teacher", "Teacher a student was distilled from (`none` for CTC-only, `joint` for its own oracle path, `ensemble`, `born-again-<g>`); for teachers, their own kind (`member-<k>` for an ensemble's other members, `ensemble` for the ensemble scored as one model)."),
    ("kd", "Training objective: for students the KD method (`ctc`, `frame-kd`, `guided-ctc`, `hinton`, `attention-map`, `layer-wise`, `self-kd`, `em`, `sequence-kd`, or a variant's name; `<kd>+online` for online distillation); `ctc` for both teachers."),
    ("anti_copy", "Anti-copy strategy of the oracle involved (its own, or the student's teacher's); `-` otherwise."),
    ("params", "Number of trainable parameters of the evaluated model."),
    ("train_steps", "Optimizer steps taken."),
    ("train_seconds", "Wall-clock training time in seconds (excluding evaluation)."),
    ("steps_to_target", "Teachers: the step at which the dev error first reached the preset's `target_error`, interpolated linearly between the last evaluation above it and the first at or below it (`ctc_core::train::crossing`; the first evaluation's step if that is already below); empty if never reached or no target is set. For oracles the label-fed dev error (`scored_with`)."),
    ("dev_cer", "Character error rate on dev, in percent (greedy decoding). For oracles with the true labels fed in (`scored_with`)."),
    ("dev_wer", "Word error rate on dev, in percent; empty where words do not apply."),
    ("test_cer", "Character error rate on test, in percent. For oracles with the true labels fed in (`scored_with`)."),
    ("test_wer", "Word error rate on test, in percent; empty where words do not apply."),
    ("word_acc", "Word accuracy on test, in percent (`str` only; empty for speech)."),
    ("ablated_cer", "Oracle only: its selection error (CER for speech, 100 - word accuracy for word images) on the dev diagnostics subset with the true labels fed and the source zeroed; near its normal error means it copies (all ablations in `oracle/report.json`)."),
    ("spike_offset", "Oracle only: mean absolute frame offset between its forced-alignment spikes and the conventional teacher's, on the dev diagnostics subset."),
    ("revision", "Git revision of the binary that trained the model, stored with the exported model (`-dirty` if its tree had local changes; `unknown` for models exported before it was stored)."),
    ("scored_revision", "Git revision of the binary that scored the model and wrote this row."),
    ("test_errors", "Test examples not recognised exactly (for `classify`, one label per example: the errors, out of `test_examples`); empty in rows written before the column existed."),
    ("test_examples", "Number of test examples scored."),
    ("omitted_errors", "Students whose transfer set omitted a label (a KD variant's `omit_label`): test errors among the test examples containing that label; empty otherwise."),
    ("omitted_examples", "Those students: test examples containing the omitted label."),
    ("test_skipped", "`eval --skip-bad` only: manifest entries that could not be read and were skipped (so `test_examples` of `test_examples + test_skipped` were scored); 0 without skips, empty in `run` rows, whose splits skip nothing."),
    ("test_untrainable", "`eval` only: examples scored although CTC training could not use them (too short for their labels, characters outside the vocabulary, an empty reference); they count as the errors the model cannot avoid."),
    ("test_edits", "`run` rows: the model's per-example edit counts on test, a CSV path relative to the run directory (`edits-dev*.csv` beside it holds dev's), read by `compare`'s paired comparisons; empty in `eval` rows and in rows written before the column existed."),
    ("scored_with", "What the model was given when scored: `source` (teachers and students: recognition errors) or `source+labels` (oracles: the true label sequence fed in, so `dev_cer`, `test_cer`, `test_wer`, `word_acc` and `steps_to_target` are errors of a model that is told the answer, not recognition errors); empty in rows written before the column existed."),
    ("seconds_to_target", "Training seconds at `steps_to_target`, interpolated the same way (the teacher-cost measure beside it; an oracle's dev error is label-fed, see `scored_with`); empty if never reached."),
    ("overrides", "`run --grid` rows: the grid cell's assignments, `key=value` joined by `;` (the preset values the cell changes; `compare` groups by them); empty outside grids."),
    ("label_use", "Oracle only: its selection error with another example's labels (a neighbour in length order) minus its error with the true labels, own source, on the dev diagnostics subset: how far the labels steer it (0 = it ignores them). In points; may be negative."),
    ("source_use", "Oracle only: its selection error with another example's source (true labels) minus its error with its own source: how far the source steers it (about 0 for a copier). In points."),
    ("label_use_cer", "`label_use` measured on CER (the same as `label_use` for speech; for word images word error saturates above 90 %)."),
    ("source_use_cer", "`source_use` measured on CER."),
    ("error_other_labels", "Oracle only: selection error with its own source and another example's labels."),
    ("error_shuffled_labels", "Oracle only: selection error with its own source and its true labels in a random order (unchanged for an oracle without label positions)."),
    ("error_masked_labels", "Oracle only: selection error with its own source and every label masked (the mask token for `label-masking`; no labels at all for the other strategies, whose mask embedding is untrained)."),
    ("error_swapped_source", "Oracle only: selection error with another example's source and its own true labels."),
    ("spike_offset_rel", "Oracle only: `spike_offset` in label spans (frames over frames per label): comparable across tasks and frame rates."),
    ("blank_fraction", "Teachers: fraction of frames whose most probable class is blank, on the first `diagnostics_examples` training examples (200 when absent; the transfer set, clean input; an oracle told the true labels)."),
    ("frame_entropy", "Teachers: mean entropy of a frame's posterior over the CTC alphabet, in nats, same examples."),
    ("spikes_per_label", "Teachers: frames whose most probable class is a label, per transcript label (1 = one-frame spikes), same examples."),
    ("hint_leakage", "Teachers: mean probability per frame on transcript characters other than the frame's symbol in the model's own forced alignment, same examples (an oracle spreading mass over the characters it was told; the conventional teacher's value is the baseline)."),
    ("leveloff_step", "Teachers: the step at which the dev-error curve levelled off: the first step s with less than 1 % relative improvement over its last fifth, (e(0.8 s) - e(s)) / e(0.8 s) < 0.01, e a power law a + b s^-c (a, b >= 0) fitted by least squares to the evaluations from a quarter of the run on (`ctc_core::train::leveloff`; `experiments leveloff RUN_DIR` prints the fits); empty if that step lies beyond the last evaluation (not levelled off) or there are fewer than 4 evaluations to fit. For oracles the label-fed dev error."),
    ("leveloff_seconds", "Teachers: training seconds at `leveloff_step`, interpolated linearly between evaluations."),
    ("train_error", "Students of a KD variant with `transfer_fraction`: the error (CER, or 100 - word accuracy for one-word examples) on the training examples they were trained on, clean, greedy decoding; with `test_cer` / `word_acc` it shows how far the model overfits its transfer set."),
    ("cpu", "The CPU that trained the model and the kernel paths it took (`<model>; GEMM <kernel>; softmax and max-pool <kernel>`), stored with the exported model: the same config, seed and shard count give the same numbers on the same paths, not across them. For an ensemble row, the CPU that scored it; `unknown` for models exported before it was stored; empty in files written before the column existed."),
];

/// The column counts of every schema still read, oldest first, each a prefix of the current
/// columns: files written before later columns existed are read with those columns empty
/// and written back in the current schema.
const SCHEMAS: &[usize] = &[20, 24, 30, 43, 45, 46, COLUMN_DOCS.len()];

/// The header every results file must carry.
pub fn columns() -> Vec<&'static str> {
    COLUMN_DOCS.iter().map(|(name, _)| *name).collect()
}

/// The header of results files written before the training revision was stored with each
/// model: a fixed `ctc_impl` string, and one `revision` column naming the checkout that scored
/// the row. Such files are still read; their rows get `revision = unknown` and the old value as
/// `scored_revision`, and are written back in the current schema.
pub const LEGACY_COLUMNS: &[&str] = &[
    "task",
    "preset",
    "seed",
    "role",
    "teacher",
    "kd",
    "anti_copy",
    "params",
    "train_steps",
    "train_seconds",
    "steps_to_target",
    "dev_cer",
    "dev_wer",
    "test_cer",
    "test_wer",
    "word_acc",
    "ablated_cer",
    "spike_offset",
    "ctc_impl",
    "revision",
];

/// Whether the header is the legacy one (an error if it is none of the schemas).
fn check_header(path: &Path, found: &csv::StringRecord) -> Result<bool> {
    if found.iter().eq(LEGACY_COLUMNS.iter().copied()) {
        return Ok(true);
    }
    let expected = columns();
    let known = SCHEMAS
        .iter()
        .any(|&n| found.iter().eq(expected[..n].iter().copied()));
    if !known {
        bail!(
            "{}: line 1: header does not match the results schema\n  expected: {}\n  found:    {}",
            path.display(),
            expected.join(","),
            found.iter().collect::<Vec<_>>().join(",")
        );
    }
    Ok(false)
}

fn check_row(row: &ResultRow) -> std::result::Result<(), String> {
    if !ROLES.contains(&row.role.as_str()) {
        return Err(format!(
            "role '{}' is not one of {}",
            row.role,
            ROLES.join(", ")
        ));
    }
    if row.task.is_empty() {
        return Err("task is empty".into());
    }
    // Errors, seconds and offsets are all non-negative; a NaN would poison every mean.
    let numbers = [
        ("train_seconds", Some(row.train_seconds)),
        ("steps_to_target", row.steps_to_target),
        ("leveloff_step", row.leveloff_step),
        ("leveloff_seconds", row.leveloff_seconds),
        ("train_error", row.train_error),
        ("dev_cer", row.dev_cer),
        ("dev_wer", row.dev_wer),
        ("test_cer", row.test_cer),
        ("test_wer", row.test_wer),
        ("word_acc", row.word_acc),
        ("ablated_cer", row.ablated_cer),
        ("spike_offset", row.spike_offset),
    ];
    for (name, v) in numbers {
        if let Some(v) = v.filter(|v| !(v.is_finite() && *v >= 0.0)) {
            return Err(format!("{name} = {v}: expected a finite number >= 0"));
        }
    }
    // Differences of errors may be negative; they must still be numbers.
    let signed = [
        ("label_use", row.label_use),
        ("source_use", row.source_use),
        ("label_use_cer", row.label_use_cer),
        ("source_use_cer", row.source_use_cer),
    ];
    for (name, v) in signed {
        if let Some(v) = v.filter(|v| !v.is_finite()) {
            return Err(format!("{name} = {v}: expected a finite number"));
        }
    }
    let more = [
        ("error_other_labels", row.error_other_labels),
        ("error_shuffled_labels", row.error_shuffled_labels),
        ("error_masked_labels", row.error_masked_labels),
        ("error_swapped_source", row.error_swapped_source),
        ("spike_offset_rel", row.spike_offset_rel),
        ("blank_fraction", row.blank_fraction),
        ("frame_entropy", row.frame_entropy),
        ("spikes_per_label", row.spikes_per_label),
        ("hint_leakage", row.hint_leakage),
    ];
    for (name, v) in more {
        if let Some(v) = v.filter(|v| !(v.is_finite() && *v >= 0.0)) {
            return Err(format!("{name} = {v}: expected a finite number >= 0"));
        }
    }
    Ok(())
}

/// The problem itself, without the csv crate's byte offsets (we name the line instead).
fn what(err: &csv::Error) -> String {
    match err.kind() {
        csv::ErrorKind::Deserialize { err, .. } => err.to_string(),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("found {len} fields, expected {expected_len}"),
        _ => err.to_string(),
    }
}

fn at_line(path: &Path, line: Option<u64>, msg: impl std::fmt::Display) -> anyhow::Error {
    match line {
        Some(l) => anyhow::anyhow!("{}: line {l}: {msg}", path.display()),
        None => anyhow::anyhow!("{}: {msg}", path.display()),
    }
}

/// Reads every row of a results file, checking the header, each cell's type and the role.
pub fn read_rows(path: &Path) -> Result<Vec<ResultRow>> {
    let text = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse(path, &text)
}

fn parse(path: &Path, bytes: &[u8]) -> Result<Vec<ResultRow>> {
    if bytes.is_empty() {
        bail!(
            "{}: empty file (expected the results header)",
            path.display()
        );
    }
    let mut rdr = csv::ReaderBuilder::new().from_reader(bytes);
    let header = rdr
        .headers()
        .map_err(|e| at_line(path, Some(1), what(&e)))?
        .clone();
    let legacy = check_header(path, &header)?;
    let mut rows = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| at_line(path, e.position().map(|p| p.line()), what(&e)))?;
        let line = rec.position().map(|p| p.line());
        let mut row: ResultRow = rec
            .deserialize(Some(&header))
            .map_err(|e| at_line(path, line, what(&e)))?;
        if legacy {
            row.scored_revision = std::mem::replace(&mut row.revision, "unknown".to_string());
        }
        check_row(&row).map_err(|e| at_line(path, line, e))?;
        rows.push(row);
    }
    Ok(rows)
}

/// Appends rows, creating the file (with header) if missing. The existing content is validated
/// first (a file of the older schema is rewritten in the current one), then the file is
/// replaced atomically so a crash never leaves half a row behind.
pub fn append_rows(path: &Path, rows: &[ResultRow]) -> Result<()> {
    for (i, row) in rows.iter().enumerate() {
        check_row(row)
            .map_err(|e| anyhow::anyhow!("row {i} to append to {}: {e}", path.display()))?;
    }
    let mut all = match fs::read(path) {
        Ok(existing) if !existing.is_empty() => parse(path, &existing)?,
        Ok(_) => Vec::new(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    all.extend(rows.iter().cloned());
    write_rows(path, &all)
}

/// Replaces the file with exactly these rows (header included), atomically: for results a
/// rerun recomputes in full, where appending would duplicate them.
pub fn write_rows(path: &Path, rows: &[ResultRow]) -> Result<()> {
    for (i, row) in rows.iter().enumerate() {
        check_row(row).map_err(|e| anyhow::anyhow!("row {i} for {}: {e}", path.display()))?;
    }
    let mut wtr = csv::Writer::from_writer(Vec::new());
    if rows.is_empty() {
        wtr.write_record(columns())?;
    }
    for row in rows {
        wtr.serialize(row)
            .with_context(|| format!("cannot encode a row for {}", path.display()))?;
    }
    let bytes = wtr
        .into_inner()
        .map_err(|e| anyhow::anyhow!("cannot encode rows for {}: {e}", path.display()))?;
    write_atomic(path, &bytes)
}

/// Which model a row scores: a rerun of the same stage replaces its row instead of adding one.
type ModelKey<'a> = (
    &'a str,
    &'a str,
    u64,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
);

fn model_key(r: &ResultRow) -> ModelKey<'_> {
    (
        &r.task,
        &r.preset,
        r.seed,
        &r.role,
        &r.teacher,
        &r.kd,
        &r.anti_copy,
        &r.overrides,
    )
}

/// Merges `rows` into the file: a row for a model already listed replaces it in place, a new
/// model's row is appended. So a later invocation on the same run directory (more seeds, more
/// KD methods, more anti-copy strategies) adds to its results instead of hiding earlier ones.
/// Returns every row now in the file.
pub fn merge_rows(path: &Path, rows: &[ResultRow]) -> Result<Vec<ResultRow>> {
    let mut all = if path.exists() {
        read_rows(path)?
    } else {
        Vec::new()
    };
    for row in rows {
        match all.iter_mut().find(|r| model_key(r) == model_key(row)) {
            Some(slot) => *slot = row.clone(),
            None => all.push(row.clone()),
        }
    }
    write_rows(path, &all)?;
    Ok(all)
}

/// Writes a file atomically (temp file in the same directory + rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    ctc_core::io::write_atomic(path, bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
#[path = "results_tests.rs"]
mod tests;

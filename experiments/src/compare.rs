//! `experiments compare`: summarise results files over seeds and set them side by side.
//!
//! Rows are grouped by (task, role, teacher, kd, anti_copy); each group shows one line per
//! file with mean ± sample std over seeds, and, with several files, how far each file's mean
//! test error is from the first file's (the baseline of the comparison). Below each task come
//! its paired comparisons (`paired`), whose p-values are adjusted together, over the whole
//! report, by Holm's step-down procedure, with a verdict on each of the paper's claims.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{bail, Result};
use ctc_core::task::WordMetric;

use crate::paired::{Claim, Pair, Pairs};
use crate::results::{read_rows, ResultRow};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Markdown,
    Plain,
}

/// Which paired tests form the family Holm's correction controls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Family {
    /// Every paired test of the report that has a p-value (two seeds or more).
    All,
    /// The analysis plan's hypotheses found in the report (docs/claims/plan.md): per task and
    /// grid cell, the oracle-taught against the conventional-taught student for frame-KD and
    /// Guided CTC, and the preset's oracle against the conventional teacher on teacher cost. A
    /// hypothesis without a p-value stays in the family as p = 1.
    Claims,
}

/// The multiplicity correction of the paired tests.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Holm {
    pub family: Family,
    /// Family-wise error rate; a verdict needs the adjusted p below it.
    pub alpha: f64,
}

impl Default for Holm {
    fn default() -> Self {
        Self {
            family: Family::All,
            alpha: 0.05,
        }
    }
}

pub(crate) struct Metric {
    pub name: &'static str,
    pub get: fn(&ResultRow) -> Option<f64>,
    decimals: usize,
}

const fn metric(name: &'static str, get: fn(&ResultRow) -> Option<f64>, decimals: usize) -> Metric {
    Metric {
        name,
        get,
        decimals,
    }
}

const DEV_CER: Metric = metric("dev_cer", |r| r.dev_cer, 2);
const TEST_CER: Metric = metric("test_cer", |r| r.test_cer, 2);
const TEST_WER: Metric = metric("test_wer", |r| r.test_wer, 2);
const WORD_ACC: Metric = metric("word_acc", |r| r.word_acc, 2);
const WORD_ERR: Metric = metric("word_err", |r| r.word_acc.map(|a| 100.0 - a), 2);
const ABLATED_CER: Metric = metric("ablated_cer", |r| r.ablated_cer, 2);
const SPIKE_OFFSET: Metric = metric("spike_offset", |r| r.spike_offset, 2);
const SPIKE_OFFSET_REL: Metric = metric("spike_offset_rel", |r| r.spike_offset_rel, 2);
const LABEL_USE: Metric = metric("label_use", |r| r.label_use, 2);
const SOURCE_USE: Metric = metric("source_use", |r| r.source_use, 2);
const LABEL_USE_CER: Metric = metric("label_use_cer", |r| r.label_use_cer, 2);
const SOURCE_USE_CER: Metric = metric("source_use_cer", |r| r.source_use_cer, 2);
const BLANK_FRACTION: Metric = metric("blank_fraction", |r| r.blank_fraction, 3);
const FRAME_ENTROPY: Metric = metric("frame_entropy", |r| r.frame_entropy, 3);
const SPIKES_PER_LABEL: Metric = metric("spikes_per_label", |r| r.spikes_per_label, 2);
const HINT_LEAKAGE: Metric = metric("hint_leakage", |r| r.hint_leakage, 4);
const TEST_ERRORS: Metric = metric("test_errors", |r| r.test_errors.map(|e| e as f64), 1);
const TEST_EXAMPLES: Metric = metric("of", |r| r.test_examples.map(|n| n as f64), 0);
const OMITTED_ERRORS: Metric = metric("omitted_errors", |r| r.omitted_errors.map(|e| e as f64), 1);
const OMITTED_EXAMPLES: Metric = metric("of", |r| r.omitted_examples.map(|n| n as f64), 0);
const TRAIN_ERROR: Metric = metric("train_error", |r| r.train_error, 2);
const TRAIN_SECONDS: Metric = metric("train_seconds", |r| Some(r.train_seconds), 1);
const STEPS_TO_TARGET: Metric = metric("steps_to_target", |r| r.steps_to_target, 0);
const SECONDS_TO_TARGET: Metric = metric("seconds_to_target", |r| r.seconds_to_target, 1);

/// Task-specific columns and the test error the file difference is taken on (the same error
/// the task uses for model selection: CER where words are sentences, 100 - word accuracy where
/// each example is one word). A task the registry does not know gets the CER columns.
fn task_metrics(task: &str) -> (Vec<&'static Metric>, &'static Metric) {
    match crate::registry::find(task).map(|e| e.words()) {
        Ok(WordMetric::Wer) => (vec![&DEV_CER, &TEST_CER, &TEST_WER], &TEST_CER),
        Ok(WordMetric::WordAccuracy) => (vec![&WORD_ACC, &DEV_CER, &TEST_CER], &WORD_ERR),
        Err(_) => (vec![&DEV_CER, &TEST_CER], &TEST_CER),
    }
}

/// Sort key: conventional teachers, then oracles, then students; students start with the
/// teacher-less baseline, then go by teacher, kd and anti-copy strategy, so the students of one
/// teacher sit together below the baseline they are measured against.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct GroupKey {
    /// A grid cell's assignments (empty outside grids): cells are listed one after another.
    pub overrides: String,
    role_rank: u8,
    has_teacher: bool,
    pub teacher: String,
    pub kd: String,
    pub anti_copy: String,
    pub role: String,
}

impl GroupKey {
    fn of(r: &ResultRow) -> Self {
        let role_rank = match r.role.as_str() {
            "teacher" => 0,
            "oracle" => 1,
            _ => 2,
        };
        Self {
            overrides: r.overrides.clone(),
            role_rank,
            has_teacher: r.teacher != "none",
            teacher: r.teacher.clone(),
            kd: r.kd.clone(),
            anti_copy: r.anti_copy.clone(),
            role: r.role.clone(),
        }
    }
}

/// Mean and sample standard deviation (n - 1); the std is `None` for fewer than two values.
pub fn mean_std(xs: &[f64]) -> Option<(f64, Option<f64>)> {
    if xs.is_empty() {
        return None;
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let std = (xs.len() > 1)
        .then(|| (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
    Some((mean, std))
}

fn values(rows: &[ResultRow], m: &Metric) -> Vec<f64> {
    rows.iter().filter_map(|r| (m.get)(r)).collect()
}

fn cell(rows: &[ResultRow], m: &Metric) -> String {
    let xs = values(rows, m);
    let Some((mean, std)) = mean_std(&xs) else {
        return "-".into();
    };
    let d = m.decimals;
    let mut s = match std {
        Some(sd) => format!("{mean:.d$} ± {sd:.d$}"),
        None => format!("{mean:.d$}"),
    };
    // Say when only some seeds have the value (e.g. the target was reached by 2 of 3).
    if xs.len() < rows.len() {
        let _ = write!(s, " ({}/{})", xs.len(), rows.len());
    }
    s
}

/// Rows of one file grouped by task then group; a (preset, seed) appearing twice in a group
/// (a re-evaluated run) keeps its last row, and the count of such rows is reported.
type Grouped = BTreeMap<String, BTreeMap<GroupKey, Vec<ResultRow>>>;

fn group(rows: Vec<ResultRow>) -> (Grouped, usize) {
    let mut out = Grouped::new();
    let mut replaced = 0;
    for r in rows {
        let g = out
            .entry(r.task.clone())
            .or_default()
            .entry(GroupKey::of(&r))
            .or_default();
        if let Some(old) = g
            .iter_mut()
            .find(|o| o.seed == r.seed && o.preset == r.preset)
        {
            *old = r;
            replaced += 1;
        } else {
            g.push(r);
        }
    }
    (out, replaced)
}

/// Builds the comparison table(s), one per task present in the files, with the default
/// correction (every paired test, alpha 0.05).
pub fn compare(files: &[PathBuf], format: Format) -> Result<String> {
    compare_with(files, format, &Holm::default())
}

/// One task's paired comparisons in one file, before the report-wide correction.
struct PairedTables {
    task: String,
    /// Index of the file (0-based).
    file: usize,
    pairs: Pairs,
    error: &'static str,
    /// The task's clusters, plural, when it has them.
    unit: Option<&'static str>,
}

/// Builds the comparison table(s), one per task present in the files, with the paired tests'
/// p-values adjusted by Holm's procedure over `holm.family`.
pub fn compare_with(files: &[PathBuf], format: Format, holm: &Holm) -> Result<String> {
    if files.is_empty() {
        bail!("compare needs at least one results file");
    }
    if !(holm.alpha > 0.0 && holm.alpha < 1.0) {
        bail!("--alpha {}: expected a number between 0 and 1", holm.alpha);
    }
    let mut per_file = Vec::with_capacity(files.len());
    let mut notes = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let (g, replaced) = group(read_rows(f)?);
        if replaced > 0 {
            notes.push(format!(
                "[{}] {}: {replaced} repeated (preset, seed) row(s) in a group; the last one of each was used",
                i + 1,
                f.display()
            ));
        }
        per_file.push(g);
    }
    let mut tasks: Vec<&String> = per_file.iter().flat_map(|g| g.keys()).collect();
    tasks.sort();
    tasks.dedup();
    if tasks.is_empty() {
        bail!(
            "no result rows in {}",
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let multi = files.len() > 1;
    // Every paired test is computed before any is printed: Holm's adjustment of each depends
    // on the p-values of the whole family.
    let mut cluster_notes = crate::paired::ClusterNotes::new();
    let mut paired = Vec::new();
    for task in &tasks {
        let (_, error) = task_metrics(task);
        let unit = crate::registry::find(task)
            .ok()
            .and_then(|e| e.cluster_unit());
        for (i, (f, g)) in files.iter().zip(&per_file).enumerate() {
            let Some(groups) = g.get(*task) else { continue };
            let dir = f.parent().unwrap_or(std::path::Path::new("."));
            let pairs =
                crate::paired::analyse(dir, groups, error, unit.is_some(), &mut cluster_notes)?;
            paired.push(PairedTables {
                task: task.to_string(),
                file: i,
                pairs,
                error: error.name,
                unit,
            });
        }
    }
    adjust(&mut paired, holm);
    let mut out = String::new();
    for task in tasks {
        let (table, error) = task_table(task, &per_file);
        render(format, &format!("## {task}\n"), task, &table, &mut out);
        if error.name == "word_err" && multi {
            let _ = writeln!(out, "word_err = 100 - word_acc (lower is better)");
        }
        out.push('\n');
        for t in paired.iter().filter(|t| &t.task == task) {
            let of = if multi {
                format!(" of [{}]", t.file + 1)
            } else {
                String::new()
            };
            if !t.pairs.students.is_empty() {
                let title = format!(
                    "Paired comparisons{of}: {} of A minus B on test (negative = A better); * = the 95 % interval excludes 0",
                    t.error
                );
                let heading = format!("### {task}: paired\n\n{title}\n");
                let table = students_table(t, holm.alpha);
                render(format, &heading, &title, &table, &mut out);
                out.push('\n');
            }
            if !t.pairs.cost.is_empty() {
                let title = format!(
                    "Teacher cost{of}: steps and seconds to each teacher's own level-off point (the p-value's measure), and as context to the preset's dev target; oracle minus conventional teacher, paired by seed (negative = the oracle faster; the oracle's dev error is label-fed; a seed where either never levelled off, or never reached the target, is left out of that column)"
                );
                let heading = format!("### {task}: teacher cost\n\n{title}\n");
                let table = cost_table(t, holm.alpha);
                render(format, &heading, &title, &table, &mut out);
                out.push('\n');
            }
        }
    }
    if let Some(line) = holm_note(&paired, holm) {
        let _ = writeln!(out, "{line}\n");
    }
    if multi {
        for (i, f) in files.iter().enumerate() {
            let _ = writeln!(out, "[{}] {}", i + 1, f.display());
        }
        let _ = writeln!(
            out,
            "Δ: file's mean test error minus file [1]'s (negative = better)."
        );
    }
    for (reason, files) in cluster_notes {
        notes.push(format!(
            "{} edit-count file(s) with {reason}: {}",
            files.len(),
            shortened(&files)
        ));
    }
    for n in notes {
        let _ = writeln!(out, "note: {n}");
    }
    Ok(out)
}

/// The first few of `items`, and how many more.
fn shortened(items: &BTreeSet<String>) -> String {
    const SHOWN: usize = 3;
    let mut s: Vec<&str> = items.iter().take(SHOWN).map(String::as_str).collect();
    let more = items.len().saturating_sub(SHOWN);
    let tail = format!("and {more} more");
    if more > 0 {
        s.push(&tail);
    }
    s.join(", ")
}

/// Whether `p` is one of the family's tests.
fn in_family(p: &Pair, family: Family) -> bool {
    match family {
        Family::All => p.p.is_some(),
        Family::Claims => p.planned,
    }
}

/// Sets the Holm-adjusted p-value of every pair of the family (`Pair::adjusted`).
fn adjust(paired: &mut [PairedTables], holm: &Holm) {
    let members = || {
        paired
            .iter()
            .flat_map(|t| t.pairs.students.iter().chain(&t.pairs.cost))
            .filter(|p| in_family(p, holm.family))
    };
    let p: Vec<f64> = members().map(|p| p.p.unwrap_or(f64::NAN)).collect();
    let mut adjusted = crate::stats::holm(&p).into_iter();
    for pair in paired
        .iter_mut()
        .flat_map(|t| t.pairs.students.iter_mut().chain(&mut t.pairs.cost))
        .filter(|p| in_family(p, holm.family))
    {
        pair.adjusted = adjusted.next();
    }
}

fn show_p(p: f64) -> String {
    // Two significant digits where four decimals would leave one.
    if p == 0.0 {
        "0".into()
    } else if p < 1e-3 {
        format!("{p:.1e}")
    } else {
        format!("{p:.4}")
    }
}

/// The plan's verdict on a claim pair (A: the oracle's side): supported where the adjusted p
/// is below alpha and A is lower, contradicted where it is below alpha and A is higher,
/// undecided otherwise; `-` for a pair that is no claim's or outside the family.
fn verdict(p: &Pair, alpha: f64) -> String {
    let (Some(_), Some(q)) = (p.claim, p.adjusted) else {
        return "-".into();
    };
    match p.diff {
        _ if q >= alpha => "undecided",
        Some(d) if d < 0.0 => "supported",
        Some(d) if d > 0.0 => "contradicted",
        _ => "undecided",
    }
    .into()
}

/// The p, Holm p and verdict cells of a pair.
fn test_cells(p: &Pair, alpha: f64) -> [String; 3] {
    let raw = p.p.map_or("-".into(), show_p);
    // A family member without a test counts as p = 1: its adjusted value is not a result.
    let adj = match (p.p, p.adjusted) {
        (Some(_), Some(q)) => show_p(q),
        _ => "-".into(),
    };
    [raw, adj, verdict(p, alpha)]
}

fn students_table(t: &PairedTables, alpha: f64) -> Vec<Vec<String>> {
    let mut header = vec![
        "A".to_string(),
        "B".to_string(),
        "seeds".to_string(),
        format!("mean difference in {} (A - B) [95 % t]", t.error),
        "per seed: difference [95 % paired bootstrap over test examples]".to_string(),
    ];
    if let Some(unit) = t.unit {
        header.push(format!(
            "per seed: difference [95 % paired bootstrap over {unit}] (number of {unit})"
        ));
    }
    header.extend(["p (paired t)", "p Holm", "verdict"].map(String::from));
    let mut table = vec![header];
    table.extend(t.pairs.students.iter().map(|p| pair_row(p, alpha)));
    table
}

/// One pair's row: its names, seeds, interval over seeds, its own cells and the test's.
fn pair_row(p: &Pair, alpha: f64) -> Vec<String> {
    let mut line = vec![
        p.a.clone(),
        p.b.clone(),
        p.seeds.to_string(),
        p.over_seeds.clone(),
    ];
    line.extend(p.cells.iter().cloned());
    line.extend(test_cells(p, alpha));
    line
}

fn cost_table(t: &PairedTables, alpha: f64) -> Vec<Vec<String>> {
    let mut table = vec![[
        "A",
        "B",
        "seeds",
        "mean difference in leveloff_step (A - B) [95 % t]",
        "mean difference in leveloff_seconds (A - B) [95 % t]",
        "context: steps_to_target (A - B) [95 % t]",
        "context: seconds_to_target (A - B) [95 % t]",
        "p (paired t)",
        "p Holm",
        "verdict",
    ]
    .map(String::from)
    .to_vec()];
    table.extend(t.pairs.cost.iter().map(|p| pair_row(p, alpha)));
    table
}

/// What the p-value columns mean, once under the report; `None` without paired tests.
fn holm_note(paired: &[PairedTables], holm: &Holm) -> Option<String> {
    let all: Vec<&Pair> = paired
        .iter()
        .flat_map(|t| t.pairs.students.iter().chain(&t.pairs.cost))
        .collect();
    if all.is_empty() {
        return None;
    }
    let members: Vec<&&Pair> = all.iter().filter(|p| in_family(p, holm.family)).collect();
    let untested = members.iter().filter(|p| p.p.is_none()).count();
    let family = match holm.family {
        Family::All => "every paired test of this report with a p-value".to_string(),
        Family::Claims => format!(
            "the analysis plan's hypotheses in this report (oracle/{kd} against conventional/{kd} for {kds}; the preset's oracle against the conventional teacher on teacher cost)",
            kd = "<kd>",
            kds = crate::paired::PLANNED_KD.join(", ")
        ),
    };
    let untested = if untested > 0 {
        format!(", {untested} of them without a p-value (fewer than two seeds) counted as p = 1")
    } else {
        String::new()
    };
    let claims = all.iter().any(|p| p.claim.is_some());
    let verdicts = if claims {
        format!(
            " Verdict, where A is the oracle's side and B the conventional teacher's ({} and {}): supported = Holm p < {a} and A lower, contradicted = Holm p < {a} and A higher, undecided otherwise; - = outside the family.",
            claim_name(Claim::Students),
            claim_name(Claim::TeacherCost),
            a = holm.alpha
        )
    } else {
        String::new()
    };
    Some(format!(
        "p: two-sided paired t-test over seeds. Holm: step-down adjustment over {family}: m = {}{untested}, family-wise alpha = {}.{verdicts}",
        members.len(),
        holm.alpha
    ))
}

fn claim_name(c: Claim) -> &'static str {
    match c {
        Claim::Students => "claim 1: the students' test error",
        Claim::TeacherCost => "claim 2: steps to the level-off point",
    }
}

/// The table of one task: a line per (group, file), groups in reading order, files in the
/// order given; the Δ column appears only when there are several files.
fn task_table(task: &str, per_file: &[Grouped]) -> (Vec<Vec<String>>, &'static Metric) {
    let multi = per_file.len() > 1;
    let by_file: Vec<Option<&BTreeMap<GroupKey, Vec<ResultRow>>>> =
        per_file.iter().map(|g| g.get(task)).collect();
    let mut keys: Vec<&GroupKey> = by_file.iter().flatten().flat_map(|m| m.keys()).collect();
    keys.sort();
    keys.dedup();
    let (mut metrics, error) = task_metrics(task);
    let rows = || by_file.iter().flatten().flat_map(|m| m.values()).flatten();
    // Test examples not recognised exactly, out of how many (for one-label classification
    // these are the errors of Hinton et al.'s tables), and the same on the examples with the
    // label a student's transfer set omitted.
    if rows().any(|r| r.test_errors.is_some()) {
        metrics.extend([&TEST_ERRORS, &TEST_EXAMPLES]);
    }
    if rows().any(|r| r.omitted_errors.is_some()) {
        metrics.extend([&OMITTED_ERRORS, &OMITTED_EXAMPLES]);
    }
    // A student trained on part of the training set: its error on that part.
    if rows().any(|r| r.train_error.is_some()) {
        metrics.push(&TRAIN_ERROR);
    }
    if keys.iter().any(|k| k.role == "oracle") {
        metrics.extend([&ABLATED_CER, &SPIKE_OFFSET]);
    }
    if rows().any(|r| r.label_use.is_some()) {
        metrics.extend([
            &SPIKE_OFFSET_REL,
            &LABEL_USE,
            &SOURCE_USE,
            &LABEL_USE_CER,
            &SOURCE_USE_CER,
        ]);
    }
    // What a student is taught: the teachers' posterior statistics on the transfer set.
    if rows().any(|r| r.blank_fraction.is_some()) {
        metrics.extend([
            &BLANK_FRACTION,
            &FRAME_ENTROPY,
            &SPIKES_PER_LABEL,
            &HINT_LEAKAGE,
        ]);
    }
    metrics.extend([&TRAIN_SECONDS, &STEPS_TO_TARGET, &SECONDS_TO_TARGET]);

    let grid = keys.iter().any(|k| !k.overrides.is_empty());
    let mut header: Vec<String> = Vec::new();
    if grid {
        header.push("overrides".into());
    }
    header.extend(["role", "teacher", "kd", "anti_copy"].map(String::from));
    if multi {
        header.push("file".into());
    }
    header.push("n".into());
    header.extend(metrics.iter().map(|m| m.name.to_string()));
    if multi {
        header.push(format!("Δ {} vs [1]", error.name));
    }
    let mut table = vec![header];
    for key in keys {
        let mean_error = |rows: &[ResultRow]| mean_std(&values(rows, error)).map(|(m, _)| m);
        let base = by_file[0]
            .and_then(|m| m.get(key))
            .and_then(|r| mean_error(r));
        for (i, rows) in by_file.iter().enumerate() {
            let Some(rows) = rows.and_then(|m| m.get(key)) else {
                continue;
            };
            let mut line = Vec::new();
            if grid {
                line.push(key.overrides.clone());
            }
            line.extend([
                key.role.clone(),
                key.teacher.clone(),
                key.kd.clone(),
                key.anti_copy.clone(),
            ]);
            if multi {
                line.push(format!("[{}]", i + 1));
            }
            line.push(rows.len().to_string());
            line.extend(metrics.iter().map(|m| cell(rows, m)));
            if multi {
                line.push(match (i, base, mean_error(rows)) {
                    (0, _, _) => "ref".into(),
                    (_, Some(b), Some(m)) => format!("{:+.2}", m - b),
                    _ => "-".into(),
                });
            }
            table.push(line);
        }
    }
    (table, error)
}

/// A table under its heading: the markdown heading, or the plain title line.
fn render(format: Format, heading: &str, title: &str, table: &[Vec<String>], out: &mut String) {
    match format {
        Format::Markdown => {
            let _ = writeln!(out, "{heading}");
            render_markdown(table, out);
        }
        Format::Plain => {
            let _ = writeln!(out, "{title}");
            render_plain(table, out);
        }
    }
}

fn render_markdown(table: &[Vec<String>], out: &mut String) {
    for (i, line) in table.iter().enumerate() {
        let _ = writeln!(out, "| {} |", line.join(" | "));
        if i == 0 {
            let _ = writeln!(out, "|{}", "---|".repeat(line.len()));
        }
    }
}

fn render_plain(table: &[Vec<String>], out: &mut String) {
    let cols = table[0].len();
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            table
                .iter()
                .map(|l| l[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for line in table {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .map(|(s, w)| format!("{s:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
}

#[cfg(test)]
#[path = "compare_tests.rs"]
mod paired_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::append_rows;

    fn r(task: &str, role: &str, teacher: &str, kd: &str, seed: u64, test_cer: f64) -> ResultRow {
        ResultRow {
            task: task.into(),
            preset: "p".into(),
            seed,
            role: role.into(),
            teacher: teacher.into(),
            kd: kd.into(),
            anti_copy: "none".into(),
            train_seconds: 10.0 * seed as f64,
            dev_cer: Some(test_cer + 1.0),
            test_cer: Some(test_cer),
            test_wer: Some(2.0 * test_cer),
            ..Default::default()
        }
    }

    /// An ASR student row.
    fn st(teacher: &str, kd: &str, seed: u64, test_cer: f64) -> ResultRow {
        r("asr", "student", teacher, kd, seed, test_cer)
    }

    fn write(dir: &std::path::Path, name: &str, rows: &[ResultRow]) -> PathBuf {
        let p = dir.join(name);
        append_rows(&p, rows).unwrap();
        p
    }

    /// The table line whose leading cells are `prefix` (markdown).
    fn line<'a>(out: &'a str, prefix: &str) -> &'a str {
        out.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting with {prefix:?} in\n{out}"))
    }

    #[test]
    fn mean_and_sample_std_by_hand() {
        // mean 7/3; squared deviations 16/9 + 1/9 + 25/9 = 42/9; / (n-1) = 7/3; sqrt = 1.527525...
        let (m, s) = mean_std(&[1.0, 2.0, 4.0]).unwrap();
        assert!((m - 7.0 / 3.0).abs() < 1e-12);
        assert!((s.unwrap() - (7.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(mean_std(&[5.0]), Some((5.0, None)));
        assert_eq!(mean_std(&[]), None);
    }

    #[test]
    fn groups_across_seeds_and_orders_rows() {
        let dir = tempfile::tempdir().unwrap();
        let mut oracle = r("asr", "oracle", "oracle", "none", 1, 30.0);
        oracle.ablated_cer = Some(95.0);
        oracle.anti_copy = "no-label-position".into();
        let mut rows = vec![
            st("oracle", "guided-ctc", 1, 44.0),
            st("oracle", "frame-kd", 1, 44.0),
            st("conventional", "frame-kd", 1, 44.0),
            st("none", "ctc", 1, 46.0),
            st("none", "ctc", 2, 48.0),
            st("none", "ctc", 3, 50.0),
            oracle,
            r("asr", "teacher", "conventional", "none", 1, 40.0),
            r("asr", "teacher", "conventional", "none", 2, 44.0),
        ];
        rows[3].steps_to_target = Some(100.0);
        rows[4].steps_to_target = Some(300.0);
        let f = write(dir.path(), "a.csv", &rows);
        let out = compare(&[f], Format::Markdown).unwrap();
        // mean 42, std sqrt(((40-42)^2 + (44-42)^2) / 1) = sqrt(8) = 2.83; dev = test + 1; wer = 2 test.
        // train_seconds 10, 20 -> 15 ± 7.1; steps and seconds to target missing in both -> "-".
        assert_eq!(
            line(&out, "| teacher |"),
            "| teacher | conventional | none | none | 2 | 43.00 ± 2.83 | 42.00 ± 2.83 | 84.00 ± 5.66 | - | - | 15.0 ± 7.1 | - | - |"
        );
        // One seed: the mean alone. Oracle columns appear because an oracle row exists.
        assert_eq!(
            line(&out, "| oracle |"),
            "| oracle | oracle | none | no-label-position | 1 | 31.00 | 30.00 | 60.00 | 95.00 | - | 10.0 | - | - |"
        );
        // Students: 46, 48, 50 -> 48 ± 2; target reached by 2 of 3 seeds: 200 ± 141.
        assert!(line(&out, "| student | none | ctc |")
            .contains("| 3 | 49.00 ± 2.00 | 48.00 ± 2.00 | 96.00 ± 4.00 | - | - | 20.0 ± 10.0 | 200 ± 141 (2/3) |"));
        let pos = |p: &str| out.find(p).unwrap();
        assert!(pos("| teacher |") < pos("| oracle |"));
        assert!(pos("| oracle |") < pos("| student | none | ctc |"));
        assert!(pos("| student | none | ctc |") < pos("| student | conventional | frame-kd |"));
        assert!(
            pos("| student | conventional | frame-kd |") < pos("| student | oracle | frame-kd |")
        );
        assert!(pos("| student | oracle | frame-kd |") < pos("| student | oracle | guided-ctc |"));
        assert!(out.starts_with("## asr\n\n| role | teacher | kd | anti_copy | n | dev_cer |"));
        assert!(!out.contains("Δ"), "no difference column for one file");
    }

    #[test]
    fn difference_of_means_against_first_file() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(
            dir.path(),
            "a.csv",
            &[st("none", "ctc", 1, 44.0), st("none", "ctc", 2, 46.0)],
        );
        let b = write(
            dir.path(),
            "b.csv",
            &[
                st("none", "ctc", 1, 42.0),
                st("none", "ctc", 2, 43.0),
                st("none", "ctc", 3, 44.0),
                st("oracle", "frame-kd", 1, 41.0),
            ],
        );
        let out = compare(&[a, b], Format::Markdown).unwrap();
        assert!(out.contains("| Δ test_cer vs [1] |"), "{out}");
        assert!(line(&out, "| student | none | ctc | none | [1] | 2 |").ends_with("| ref |"));
        // 43 - 45 = -2.
        assert!(line(&out, "| student | none | ctc | none | [2] | 3 |").ends_with("| -2.00 |"));
        // Group absent from the first file: no difference to show.
        assert!(line(&out, "| student | oracle | frame-kd | none | [2] | 1 |").ends_with("| - |"));
        assert!(out.contains("[1] ") && out.contains("a.csv") && out.contains("[2] "));
    }

    #[test]
    fn word_images_compare_word_error_and_plain_aligns() {
        let dir = tempfile::tempdir().unwrap();
        let mk = |seed, acc| {
            let mut x = r("str", "student", "none", "ctc", seed, 10.0);
            x.word_acc = Some(acc);
            x.dev_cer = None;
            x.test_wer = None;
            x
        };
        let a = write(dir.path(), "a.csv", &[mk(1, 80.0)]);
        let b = write(dir.path(), "b.csv", &[mk(1, 83.5)]);
        let out = compare(&[a, b], Format::Plain).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "str");
        assert!(
            lines[1].starts_with(
                "role     teacher  kd   anti_copy  file  n  word_acc  dev_cer  test_cer"
            ),
            "{out}"
        );
        // word error 16.5 - 20 = -3.5: higher accuracy is a negative (better) difference.
        assert!(lines[3].ends_with("-3.50"), "{out}");
        assert!(out.contains("word_err = 100 - word_acc"));
    }

    #[test]
    fn repeated_seed_keeps_last_row_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let f = write(
            dir.path(),
            "a.csv",
            &[st("none", "ctc", 1, 50.0), st("none", "ctc", 1, 40.0)],
        );
        let out = compare(&[f], Format::Markdown).unwrap();
        assert!(
            line(&out, "| student |").contains("| 1 | 41.00 | 40.00 |"),
            "{out}"
        );
        assert!(
            out.contains("note: [1]") && out.contains("1 repeated (preset, seed)"),
            "{out}"
        );
    }

    #[test]
    fn malformed_file_error_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let good = write(dir.path(), "good.csv", &[st("none", "ctc", 1, 50.0)]);
        let text = std::fs::read_to_string(&good).unwrap();
        let bad = dir.path().join("bad.csv");
        std::fs::write(&bad, format!("{text}asr,p,notanumber\n")).unwrap();
        let err = compare(&[good, bad], Format::Plain)
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad.csv: line 3:"), "{err}");
        assert!(compare(&[], Format::Plain).is_err());
    }
}

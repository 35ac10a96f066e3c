//! `compare`'s paired comparisons: for every KD method distilled from both teachers, the oracle's
//! student against the conventional teacher's and against the CTC-only student, and the
//! conventional teacher's student against the CTC-only one. Each pair gets the mean test-error
//! difference over the seeds both have, with a 95 % Student-t interval and the two-sided
//! paired t-test's p-value, and per seed a paired bootstrap over the test examples (1,000
//! resamples, generator seeded with 0) of the corpus-level difference, from the per-example
//! edit counts kept with each model (`test_edits`); where the edit files name each example's
//! cluster (speaker or voice, font), also a paired bootstrap over those clusters.
//!
//! Beside them, the teacher-cost pair (claim 2 of docs/claims/plan.md): each oracle against
//! the conventional teacher on the steps (and seconds) to the dev target, paired by seed.
//!
//! The p-values are adjusted for multiplicity by `compare` (Holm), over the whole report.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use anyhow::Result;

use crate::compare::{GroupKey, Metric};
use crate::pipeline::edits;
use crate::results::ResultRow;
use crate::stats::{
    paired_bootstrap, paired_cluster_bootstrap, paired_t, paired_t_p, Counts, Interval,
};

pub const RESAMPLES: usize = 1000;
pub const BOOTSTRAP_SEED: u64 = 0;

/// The KD methods whose oracle-vs-conventional pair is a claim-1 hypothesis of the analysis
/// plan (docs/claims/plan.md); other methods' pairs are reported but outside its family.
pub const PLANNED_KD: [&str; 2] = ["frame-kd", "guided-ctc"];

/// Which claim an oracle-vs-conventional pair speaks to (A is always the oracle's side).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// 1: the oracle-taught student has the lower test error.
    Students,
    /// 2: the oracle reaches the criterion in fewer steps.
    TeacherCost,
}

/// One paired test.
#[derive(Debug, Clone)]
pub struct Pair {
    pub a: String,
    pub b: String,
    /// Set where A is the oracle's side and B the conventional teacher's: a verdict is due.
    pub claim: Option<Claim>,
    /// One of the plan's hypotheses (`PLANNED_KD` students, the preset's oracle for cost).
    pub planned: bool,
    /// Seeds both sides have.
    pub seeds: usize,
    /// Mean difference over seeds with its interval, as printed.
    pub over_seeds: String,
    /// Mean difference A - B (`None` without a common seed).
    pub diff: Option<f64>,
    /// Two-sided paired t-test p-value (`None` below two seeds).
    pub p: Option<f64>,
    /// Holm-adjusted p-value, set by `compare` for the members of its family.
    pub adjusted: Option<f64>,
    /// Further cells of the pair's table, in column order (per-seed bootstraps for students;
    /// the seconds for teacher cost).
    pub cells: Vec<String>,
}

/// A task's paired comparisons in one results file.
#[derive(Debug, Clone, Default)]
pub struct Pairs {
    pub students: Vec<Pair>,
    pub cost: Vec<Pair>,
}

/// The student groups to compare, as (A, B) pairs of keys present in `groups`, each pair
/// within one grid cell.
fn pairs(groups: &BTreeMap<GroupKey, Vec<ResultRow>>) -> Vec<(&GroupKey, &GroupKey)> {
    let students: Vec<&GroupKey> = groups.keys().filter(|k| k.role == "student").collect();
    let find = |a: &GroupKey, teacher: &str, kd: &str| {
        students
            .iter()
            .copied()
            .find(|k| k.teacher == teacher && k.kd == kd && k.overrides == a.overrides)
    };
    let mut out = Vec::new();
    for a in students.iter().copied().filter(|k| k.teacher == "oracle") {
        out.extend(find(a, "conventional", &a.kd).map(|b| (a, b)));
        out.extend(find(a, "none", "ctc").map(|b| (a, b)));
    }
    for a in students
        .iter()
        .copied()
        .filter(|k| k.teacher == "conventional" && !k.kd.starts_with("born-again-"))
    {
        out.extend(find(a, "none", "ctc").map(|b| (a, b)));
    }
    // A student taught by its own layers (self-distillation), or a teacherless variant, against
    // CTC alone.
    for a in students
        .iter()
        .copied()
        .filter(|k| k.teacher == "none" && k.kd != "ctc")
    {
        out.extend(find(a, "none", "ctc").map(|b| (a, b)));
    }
    // A student of the ensemble against the same student of one member (the conventional
    // teacher), and against CTC alone.
    for a in students.iter().copied().filter(|k| k.teacher == "ensemble") {
        out.extend(find(a, "conventional", &a.kd).map(|b| (a, b)));
        out.extend(find(a, "none", "ctc").map(|b| (a, b)));
    }
    // A born-again generation against the conventional teacher it descends from (same
    // architecture).
    for a in students
        .iter()
        .copied()
        .filter(|k| k.kd.starts_with("born-again-"))
    {
        let teacher = groups.keys().find(|k| {
            k.role == "teacher" && k.teacher == "conventional" && k.overrides == a.overrides
        });
        out.extend(teacher.map(|b| (a, b)));
    }
    // A joint (one-stage) student against two-stage distillation from the oracle with the same
    // posterior term, and against CTC alone.
    for a in students.iter().copied().filter(|k| k.teacher == "joint") {
        out.extend(find(a, "oracle", "frame-kd").map(|b| (a, b)));
        out.extend(find(a, "none", "ctc").map(|b| (a, b)));
    }
    out
}

/// Every oracle against the conventional teacher of its grid cell, and whether the oracle is
/// the preset's (the one its cell's oracle-taught students learnt from; the only oracle of a
/// cell without such students) rather than an `--anti-copy` ablation.
fn cost_pairs(groups: &BTreeMap<GroupKey, Vec<ResultRow>>) -> Vec<(&GroupKey, &GroupKey, bool)> {
    let mut out = Vec::new();
    for a in groups.keys().filter(|k| k.role == "oracle") {
        let Some(b) = groups.keys().find(|k| {
            k.role == "teacher" && k.teacher == "conventional" && k.overrides == a.overrides
        }) else {
            continue;
        };
        let taught: BTreeSet<&str> = groups
            .keys()
            .filter(|k| k.role == "student" && k.teacher == "oracle" && k.overrides == a.overrides)
            .map(|k| k.anti_copy.as_str())
            .collect();
        let oracles = groups
            .keys()
            .filter(|k| k.role == "oracle" && k.overrides == a.overrides)
            .count();
        let preset = if taught.is_empty() {
            oracles == 1
        } else {
            taught.contains(a.anti_copy.as_str())
        };
        out.push((a, b, preset));
    }
    out
}

fn name(k: &GroupKey) -> String {
    if k.overrides.is_empty() {
        format!("{}/{}", k.teacher, k.kd)
    } else {
        format!("{}/{} ({})", k.teacher, k.kd, k.overrides)
    }
}

fn with_cell(s: String, k: &GroupKey) -> String {
    if k.overrides.is_empty() {
        s
    } else {
        format!("{s} ({})", k.overrides)
    }
}

/// One model's test examples: the counts behind the error, and the cluster of each (`None`
/// where the file has no cluster ids).
#[derive(Clone)]
struct Examples {
    counts: Vec<Counts>,
    clusters: Option<Vec<String>>,
}

/// Edit files without usable cluster ids, by reason (said once under the report).
pub type ClusterNotes = BTreeMap<&'static str, BTreeSet<String>>;

/// The reasons of `ClusterNotes`.
pub const NO_CLUSTER_COLUMN: &str = "no `cluster` column (written before it existed), so no cluster bootstrap for their pairs; rerunning the run's command restores its finished models, scores them again and rewrites the files with the column";
pub const EMPTY_CLUSTER: &str = "examples without a cluster id (the data records none), so no cluster bootstrap for their pairs; first such line";

/// The per-example counts behind `error` for one row: edits over reference characters for
/// CER, an example not recognised exactly for word error. A file without usable cluster ids
/// is noted in `notes`.
fn examples(
    dir: &Path,
    row: &ResultRow,
    error: &Metric,
    notes: &mut ClusterNotes,
) -> Result<Option<Examples>> {
    if row.test_edits.is_empty() {
        return Ok(None);
    }
    // The root results.csv sits in the run directory, a seed's copy one folder below it.
    let path = [
        dir.join(&row.test_edits),
        dir.join("..").join(&row.test_edits),
    ]
    .into_iter()
    .find(|p| p.exists());
    let Some(path) = path else {
        return Ok(None);
    };
    let file = edits::read(&path)?;
    let counts = file
        .rows
        .iter()
        .map(|e| match error.name {
            "word_err" => Counts {
                errors: f64::from(1 - e.exact),
                units: 1.0,
            },
            _ => Counts {
                errors: e.char_edits as f64,
                units: e.chars as f64,
            },
        })
        .collect();
    let clusters = if !file.has_clusters {
        notes
            .entry(NO_CLUSTER_COLUMN)
            .or_default()
            .insert(path.display().to_string());
        None
    } else if let Some(i) = file.rows.iter().position(|r| r.cluster.is_empty()) {
        notes.entry(EMPTY_CLUSTER).or_default().insert(format!(
            "{}: line {}",
            path.display(),
            i + 2
        ));
        None
    } else {
        Some(file.rows.into_iter().map(|r| r.cluster).collect())
    };
    Ok(Some(Examples { counts, clusters }))
}

pub(crate) fn show(i: &Interval) -> String {
    show_with(i, 2)
}

fn show_with(i: &Interval, decimals: usize) -> String {
    let d = decimals;
    let mark = if i.excludes_zero() { " *" } else { "" };
    format!("{:+.d$} [{:+.d$}, {:+.d$}]{mark}", i.diff, i.lo, i.hi)
}

/// The mean difference over seeds as printed: with its t interval, alone for one seed.
fn over_seeds(xa: &[f64], xb: &[f64], decimals: usize) -> String {
    let d = decimals;
    match paired_t(xa, xb) {
        Some(i) => show_with(&i, d),
        None if xa.len() == 1 => format!("{:+.d$} (one seed)", xa[0] - xb[0]),
        None => "-".into(),
    }
}

fn mean_diff(xa: &[f64], xb: &[f64]) -> Option<f64> {
    (!xa.is_empty()).then(|| xa.iter().zip(xb).map(|(a, b)| a - b).sum::<f64>() / xa.len() as f64)
}

/// The per-seed cluster-bootstrap cell of one seed.
fn cluster_cell(seed: u64, a: Option<&Examples>, b: Option<&Examples>) -> String {
    let (Some(a), Some(b)) = (a, b) else {
        return format!("seed {seed}: no edit counts");
    };
    let (Some(ka), Some(kb)) = (&a.clusters, &b.clusters) else {
        return format!("seed {seed}: no cluster ids");
    };
    if a.counts.len() != b.counts.len() || ka != kb {
        return format!("seed {seed}: the two test sets differ");
    }
    match paired_cluster_bootstrap(&a.counts, &b.counts, ka, RESAMPLES, BOOTSTRAP_SEED) {
        Some(c) => {
            // A cluster per example is the example bootstrap again: say so, it is not what
            // the column promises (e.g. a manifest whose speaker field names each file).
            let own = if c.clusters == a.counts.len() {
                ", one example each"
            } else {
                ""
            };
            format!("seed {seed}: {} ({}{own})", show(&c.interval), c.clusters)
        }
        None => format!("seed {seed}: no test examples"),
    }
}

/// The paired comparisons of one task's groups from the results file in `dir`. `clustered`:
/// whether the task's examples have clusters (the cluster-bootstrap cells are made).
pub fn analyse(
    dir: &Path,
    groups: &BTreeMap<GroupKey, Vec<ResultRow>>,
    error: &Metric,
    clustered: bool,
    notes: &mut ClusterNotes,
) -> Result<Pairs> {
    let mut out = Pairs::default();
    // A model takes part in several pairs: read its edit counts once.
    let mut read: HashMap<String, Option<Examples>> = HashMap::new();
    let mut examples_of = |row: &ResultRow, notes: &mut ClusterNotes| {
        if let Some(c) = read.get(&row.test_edits) {
            return Ok::<_, anyhow::Error>(c.clone());
        }
        let c = examples(dir, row, error, notes)?;
        read.insert(row.test_edits.clone(), c.clone());
        Ok(c)
    };
    for (a, b) in pairs(groups) {
        let (ra, rb) = (&groups[a], &groups[b]);
        let mut xa = Vec::new();
        let mut xb = Vec::new();
        let mut per_seed = Vec::new();
        let mut per_seed_clusters = Vec::new();
        for row_a in ra {
            let Some(row_b) = rb
                .iter()
                .find(|r| r.seed == row_a.seed && r.preset == row_a.preset)
            else {
                continue;
            };
            let (Some(ea), Some(eb)) = ((error.get)(row_a), (error.get)(row_b)) else {
                continue;
            };
            xa.push(ea);
            xb.push(eb);
            let (ex_a, ex_b) = (examples_of(row_a, notes)?, examples_of(row_b, notes)?);
            let boot = match (&ex_a, &ex_b) {
                (Some(ca), Some(cb)) if ca.counts.len() == cb.counts.len() => {
                    paired_bootstrap(&ca.counts, &cb.counts, RESAMPLES, BOOTSTRAP_SEED)
                }
                _ => None,
            };
            per_seed.push(match boot {
                Some(i) => format!("s{}: {}", row_a.seed, show(&i)),
                None => format!("s{}: {:+.2} (no edit counts)", row_a.seed, ea - eb),
            });
            if clustered {
                per_seed_clusters.push(cluster_cell(row_a.seed, ex_a.as_ref(), ex_b.as_ref()));
            }
        }
        let oracle_vs_conventional = a.teacher == "oracle" && b.teacher == "conventional";
        let mut cells = vec![per_seed.join("; ")];
        if clustered {
            cells.push(per_seed_clusters.join("; "));
        }
        out.students.push(Pair {
            a: name(a),
            b: name(b),
            claim: oracle_vs_conventional.then_some(Claim::Students),
            planned: oracle_vs_conventional && PLANNED_KD.contains(&a.kd.as_str()),
            seeds: xa.len(),
            over_seeds: over_seeds(&xa, &xb, 2),
            diff: mean_diff(&xa, &xb),
            p: paired_t_p(&xa, &xb),
            adjusted: None,
            cells,
        });
    }
    for (a, b, preset) in cost_pairs(groups) {
        let seeds = |get: fn(&ResultRow) -> Option<f64>| {
            let (mut xa, mut xb) = (Vec::new(), Vec::new());
            for row_a in &groups[a] {
                let row_b = groups[b]
                    .iter()
                    .find(|r| r.seed == row_a.seed && r.preset == row_a.preset);
                if let (Some(x), Some(y)) = (get(row_a), row_b.and_then(get)) {
                    xa.push(x);
                    xb.push(y);
                }
            }
            (xa, xb)
        };
        // The plan's criterion: each teacher's own level-off step; the preset's dev target
        // (a label-fed error against a recognition error) is shown beside it as context.
        let (sa, sb) = seeds(|r| r.leveloff_step);
        let (la, lb) = seeds(|r| r.leveloff_seconds);
        let (ga, gb) = seeds(|r| r.steps_to_target);
        let (ta, tb) = seeds(|r| r.seconds_to_target);
        out.cost.push(Pair {
            a: with_cell(format!("oracle ({})", a.anti_copy), a),
            b: with_cell("conventional teacher".into(), b),
            claim: Some(Claim::TeacherCost),
            planned: preset,
            seeds: sa.len(),
            over_seeds: over_seeds(&sa, &sb, 1),
            diff: mean_diff(&sa, &sb),
            p: paired_t_p(&sa, &sb),
            adjusted: None,
            cells: vec![
                over_seeds(&la, &lb, 1),
                over_seeds(&ga, &gb, 1),
                over_seeds(&ta, &tb, 1),
            ],
        });
    }
    Ok(out)
}

//! `compare`'s paired comparisons: for every KD method distilled from both teachers, the oracle's
//! student against the conventional teacher's and against the CTC-only student, and the
//! conventional teacher's student against the CTC-only one. Each pair gets the mean test-error
//! difference over the seeds both have, with a 95 % Student-t interval, and per seed a paired
//! bootstrap over the test examples (1,000 resamples, generator seeded with 0) of the
//! corpus-level difference, from the per-example edit counts kept with each model
//! (`test_edits`). `*` marks an interval that excludes 0.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::Result;

use crate::compare::{GroupKey, Metric};
use crate::pipeline::edits;
use crate::results::ResultRow;
use crate::stats::{paired_bootstrap, paired_t, Counts, Interval};

pub const RESAMPLES: usize = 1000;
pub const BOOTSTRAP_SEED: u64 = 0;

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
        .filter(|k| k.teacher == "conventional")
    {
        out.extend(find(a, "none", "ctc").map(|b| (a, b)));
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

/// The per-example counts behind `error` for one row: edits over reference characters for
/// CER, an example not recognised exactly for word error.
fn counts(dir: &Path, row: &ResultRow, error: &Metric) -> Result<Option<Vec<Counts>>> {
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
    let rows = edits::read(&path)?;
    Ok(Some(
        rows.iter()
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
            .collect(),
    ))
}

fn show(i: &Interval) -> String {
    let mark = if i.excludes_zero() { " *" } else { "" };
    format!("{:+.2} [{:+.2}, {:+.2}]{mark}", i.diff, i.lo, i.hi)
}

/// The paired-comparison table of one task's groups from the results file in `dir`; `None`
/// when no pair of groups exists.
pub fn table(
    dir: &Path,
    groups: &BTreeMap<GroupKey, Vec<ResultRow>>,
    error: &Metric,
) -> Result<Option<Vec<Vec<String>>>> {
    let pairs = pairs(groups);
    if pairs.is_empty() {
        return Ok(None);
    }
    let mut table = vec![vec![
        "A".to_string(),
        "B".to_string(),
        "seeds".to_string(),
        format!("mean difference in {} (A - B) [95 % t]", error.name),
        "per seed: difference [95 % paired bootstrap over test examples]".to_string(),
    ]];
    // A model takes part in several pairs: read its edit counts once.
    let mut read: HashMap<String, Option<Vec<Counts>>> = HashMap::new();
    let mut counts_of = |row: &ResultRow| -> Result<Option<Vec<Counts>>> {
        if let Some(c) = read.get(&row.test_edits) {
            return Ok(c.clone());
        }
        let c = counts(dir, row, error)?;
        read.insert(row.test_edits.clone(), c.clone());
        Ok(c)
    };
    for (a, b) in pairs {
        let (ra, rb) = (&groups[a], &groups[b]);
        let mut xa = Vec::new();
        let mut xb = Vec::new();
        let mut per_seed = Vec::new();
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
            let boot = match (counts_of(row_a)?, counts_of(row_b)?) {
                (Some(ca), Some(cb)) if ca.len() == cb.len() => {
                    paired_bootstrap(&ca, &cb, RESAMPLES, BOOTSTRAP_SEED)
                }
                _ => None,
            };
            per_seed.push(match boot {
                Some(i) => format!("s{}: {}", row_a.seed, show(&i)),
                None => format!("s{}: {:+.2} (no edit counts)", row_a.seed, ea - eb),
            });
        }
        let over_seeds = match paired_t(&xa, &xb) {
            Some(i) => show(&i),
            None if xa.len() == 1 => format!("{:+.2} (one seed)", xa[0] - xb[0]),
            None => "-".into(),
        };
        table.push(vec![
            name(a),
            name(b),
            xa.len().to_string(),
            over_seeds,
            per_seed.join("; "),
        ]);
    }
    Ok(Some(table))
}

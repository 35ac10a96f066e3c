//! Per-example edit counts of a scored model, kept with its stage (`edits-dev.csv`,
//! `edits-test.csv`), so that two models can be compared example by example (`compare
//! --paired`): one row per example of the split, in split order.

use std::path::Path;

use anyhow::{bail, Context, Result};
use ctc_core::metrics::example_ops;
use ctc_core::train::Evaluation;
use serde::{Deserialize, Serialize};

use crate::results::write_atomic;

/// The file of a split's edit counts inside a stage folder.
pub fn file_name(split: &str) -> String {
    format!("edits-{split}.csv")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExampleEdits {
    /// Index of the example in its split.
    pub example: usize,
    /// Character substitutions + deletions + insertions, and reference characters.
    pub char_edits: usize,
    pub chars: usize,
    /// The same in whitespace-separated words.
    pub word_edits: usize,
    pub words: usize,
    /// 1 when the hypothesis equals the reference.
    pub exact: u8,
}

/// The edit counts of every example of an evaluation.
pub fn of(ev: &Evaluation) -> Vec<ExampleEdits> {
    ev.refs
        .iter()
        .zip(&ev.hyps)
        .enumerate()
        .map(|(i, (r, h))| {
            let (c, w) = example_ops(r, h);
            ExampleEdits {
                example: i,
                char_edits: c.edits(),
                chars: c.ref_len,
                word_edits: w.edits(),
                words: w.ref_len,
                exact: u8::from(r == h),
            }
        })
        .collect()
}

pub fn write(path: &Path, rows: &[ExampleEdits]) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(r)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| anyhow::anyhow!("encoding {}: {e}", path.display()))?;
    write_atomic(path, &bytes)
}

/// Reads a file written by `write`, checking that the examples run 0, 1, 2, ...
pub fn read(path: &Path) -> Result<Vec<ExampleEdits>> {
    let mut r =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for (i, rec) in r.deserialize::<ExampleEdits>().enumerate() {
        let row = rec.map_err(|e| anyhow::anyhow!("{}: line {}: {e}", path.display(), i + 2))?;
        if row.example != i {
            bail!(
                "{}: line {}: example {} where {i} was expected (one row per example, in order)",
                path.display(),
                i + 2,
                row.example
            );
        }
        out.push(row);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctc_core::metrics::Scores;

    fn ev(refs: &[&str], hyps: &[&str]) -> Evaluation {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let (refs, hyps) = (s(refs), s(hyps));
        let scores = ctc_core::metrics::score_corpus(&refs, &hyps);
        Evaluation {
            error: scores.cer,
            scores,
            refs,
            hyps,
        }
    }

    #[test]
    fn counts_sum_to_the_corpus_scores_and_round_trip() {
        let e = ev(&["the cat", "a", "dog"], &["the hat", "", "dog"]);
        let rows = of(&e);
        assert_eq!(
            rows[0],
            ExampleEdits {
                example: 0,
                char_edits: 1,
                chars: 7,
                word_edits: 1,
                words: 2,
                exact: 0
            }
        );
        let s: &Scores = &e.scores;
        let sum = |f: fn(&ExampleEdits) -> usize| rows.iter().map(f).sum::<usize>();
        assert_eq!(sum(|r| r.char_edits), s.char_ops.edits());
        assert_eq!(sum(|r| r.chars), s.char_ops.ref_len);
        assert_eq!(sum(|r| r.word_edits), s.word_ops.edits());
        assert_eq!(sum(|r| r.exact as usize), 1);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(file_name("test"));
        write(&p, &rows).unwrap();
        assert_eq!(read(&p).unwrap(), rows);
        let text = std::fs::read_to_string(&p).unwrap().replace("\n2,", "\n5,");
        std::fs::write(&p, text).unwrap();
        let err = read(&p).unwrap_err().to_string();
        assert!(
            err.contains("line 4: example 5 where 2 was expected"),
            "{err}"
        );
    }
}

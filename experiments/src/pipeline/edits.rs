//! Per-example edit counts of a scored model, kept with its stage (`edits-dev.csv`,
//! `edits-test.csv`), so that two models can be compared example by example (`compare`'s
//! paired comparisons): one row per example of the split, in split order, with the cluster the
//! example was drawn with (speaker or voice, font) for the cluster bootstrap.

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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The example's speaker or voice (speech) or font (rendered word images); empty where the
    /// data records none. The last column, absent from files written before it existed.
    #[serde(default)]
    pub cluster: String,
}

/// A file's rows, and whether it has the `cluster` column at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditsFile {
    pub rows: Vec<ExampleEdits>,
    pub has_clusters: bool,
}

/// The edit counts of every example of an evaluation, with `clusters[i]` the cluster of
/// example i (one per example).
pub fn of(ev: &Evaluation, clusters: &[String]) -> Result<Vec<ExampleEdits>> {
    if clusters.len() != ev.refs.len() {
        bail!(
            "{} cluster ids for {} scored examples (the split and its clusters disagree)",
            clusters.len(),
            ev.refs.len()
        );
    }
    Ok(ev
        .refs
        .iter()
        .zip(&ev.hyps)
        .zip(clusters)
        .enumerate()
        .map(|(i, ((r, h), cluster))| {
            let (c, w) = example_ops(r, h);
            ExampleEdits {
                example: i,
                char_edits: c.edits(),
                chars: c.ref_len,
                word_edits: w.edits(),
                words: w.ref_len,
                exact: u8::from(r == h),
                cluster: cluster.clone(),
            }
        })
        .collect())
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

/// Reads a file written by `write`, checking that the examples run 0, 1, 2, ... Files from
/// before the `cluster` column read with empty clusters and `has_clusters` false.
pub fn read(path: &Path) -> Result<EditsFile> {
    let mut r =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let has_clusters = r
        .headers()
        .map_err(|e| anyhow::anyhow!("{}: line 1: {e}", path.display()))?
        .iter()
        .any(|h| h == "cluster");
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
    Ok(EditsFile {
        rows: out,
        has_clusters,
    })
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
        let spk = ["s1", "s2", "s1"].map(String::from);
        let rows = of(&e, &spk).unwrap();
        assert_eq!(
            rows[0],
            ExampleEdits {
                example: 0,
                char_edits: 1,
                chars: 7,
                word_edits: 1,
                words: 2,
                exact: 0,
                cluster: "s1".into(),
            }
        );
        assert!(of(&e, &spk[..2]).is_err());
        let s: &Scores = &e.scores;
        let sum = |f: fn(&ExampleEdits) -> usize| rows.iter().map(f).sum::<usize>();
        assert_eq!(sum(|r| r.char_edits), s.char_ops.edits());
        assert_eq!(sum(|r| r.chars), s.char_ops.ref_len);
        assert_eq!(sum(|r| r.word_edits), s.word_ops.edits());
        assert_eq!(sum(|r| r.exact as usize), 1);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(file_name("test"));
        write(&p, &rows).unwrap();
        let back = read(&p).unwrap();
        assert_eq!((back.rows, back.has_clusters), (rows.clone(), true));
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.starts_with("example,char_edits,chars,word_edits,words,exact,cluster\n"));
        let text = text.replace("\n2,", "\n5,");
        std::fs::write(&p, text).unwrap();
        let err = read(&p).unwrap_err().to_string();
        assert!(
            err.contains("line 4: example 5 where 2 was expected"),
            "{err}"
        );
    }

    #[test]
    fn files_from_before_the_cluster_column_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(file_name("test"));
        std::fs::write(
            &p,
            "example,char_edits,chars,word_edits,words,exact\n0,1,5,1,1,0\n1,0,3,0,1,1\n",
        )
        .unwrap();
        let f = read(&p).unwrap();
        assert!(!f.has_clusters);
        assert_eq!(f.rows.len(), 2);
        assert!(f.rows.iter().all(|r| r.cluster.is_empty()));
        assert_eq!((f.rows[1].chars, f.rows[1].exact), (3, 1));
        // A cluster id with a comma survives the round trip (quoted).
        let rows = vec![ExampleEdits {
            cluster: "Foo.ttf (Foo, Bar)".into(),
            ..f.rows[0].clone()
        }];
        write(&p, &rows).unwrap();
        assert_eq!(read(&p).unwrap().rows, rows);
    }
}

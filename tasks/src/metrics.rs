//! Edit distance with S/D/I counts, corpus-level WER/CER, word accuracy and 1-NED.
//!
//! Rates are corpus-level (total edits / total reference length), not means of per-utterance
//! rates: a mean of rates over-weights short utterances.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditOps {
    pub sub: usize,
    pub del: usize,
    pub ins: usize,
    pub ref_len: usize,
}

impl EditOps {
    pub fn edits(&self) -> usize {
        self.sub + self.del + self.ins
    }

    /// Edits per reference token in percent (100 per edit if the reference is empty).
    pub fn rate(&self) -> f64 {
        if self.ref_len == 0 {
            if self.edits() == 0 {
                0.0
            } else {
                100.0 * self.edits() as f64
            }
        } else {
            100.0 * self.edits() as f64 / self.ref_len as f64
        }
    }

    fn add(&mut self, o: EditOps) {
        self.sub += o.sub;
        self.del += o.del;
        self.ins += o.ins;
        self.ref_len += o.ref_len;
    }
}

/// Levenshtein alignment of `h` against `r`; among minimal alignments, the counts of the one
/// found by the usual back-trace (substitution, then deletion, then insertion preferred).
pub fn edit_ops<T: PartialEq>(r: &[T], h: &[T]) -> EditOps {
    let (n, m) = (r.len(), h.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for j in 0..=m {
        d[0][j] = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let c = usize::from(r[i - 1] != h[j - 1]);
            d[i][j] = (d[i - 1][j - 1] + c).min(d[i - 1][j] + 1).min(d[i][j - 1] + 1);
        }
    }
    let mut ops = EditOps {
        ref_len: n,
        ..Default::default()
    };
    let (mut i, mut j) = (n, m);
    while i > 0 || j > 0 {
        if i > 0 && j > 0 && d[i][j] == d[i - 1][j - 1] + usize::from(r[i - 1] != h[j - 1]) {
            ops.sub += usize::from(r[i - 1] != h[j - 1]);
            i -= 1;
            j -= 1;
        } else if i > 0 && d[i][j] == d[i - 1][j] + 1 {
            ops.del += 1;
            i -= 1;
        } else {
            ops.ins += 1;
            j -= 1;
        }
    }
    ops
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// Character error rate, percent, corpus level.
    pub cer: f64,
    /// Word error rate, percent, corpus level.
    pub wer: f64,
    /// Exact whole-string matches, percent.
    pub word_acc: f64,
    /// Mean of 1 - edit / max(|ref|, |hyp|) over examples (ICDAR 2019), percent.
    pub one_minus_ned: f64,
    pub n: usize,
    pub char_ops: EditOps,
    pub word_ops: EditOps,
}

pub fn score_corpus(refs: &[String], hyps: &[String]) -> Scores {
    let mut s = Scores {
        n: refs.len(),
        ..Default::default()
    };
    let (mut exact, mut ned) = (0usize, 0f64);
    for (r, h) in refs.iter().zip(hyps) {
        let rc: Vec<char> = r.chars().collect();
        let hc: Vec<char> = h.chars().collect();
        let c = edit_ops(&rc, &hc);
        s.char_ops.add(c);
        let rw: Vec<&str> = r.split_whitespace().collect();
        let hw: Vec<&str> = h.split_whitespace().collect();
        s.word_ops.add(edit_ops(&rw, &hw));
        exact += usize::from(r == h);
        let longest = rc.len().max(hc.len());
        ned += if longest == 0 {
            1.0
        } else {
            1.0 - c.edits() as f64 / longest as f64
        };
    }
    s.cer = s.char_ops.rate();
    s.wer = s.word_ops.rate();
    if s.n > 0 {
        s.word_acc = 100.0 * exact as f64 / s.n as f64;
        s.one_minus_ned = 100.0 * ned / s.n as f64;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn hand_computed_sdi_counts() {
        // kitten -> sitting: k->s (S), e->i (S), +g (I).
        let ops = edit_ops(&"kitten".chars().collect::<Vec<_>>(), &"sitting".chars().collect::<Vec<_>>());
        assert_eq!((ops.sub, ops.del, ops.ins, ops.ref_len), (2, 0, 1, 6));
        // "the cat sat" -> "the sat down": cat deleted... minimal = 2 edits.
        let r = ["the", "cat", "sat"];
        let h = ["the", "sat", "down"];
        let o = edit_ops(&r, &h);
        assert_eq!(o.edits(), 2);
        assert_eq!((o.del, o.ins), (1, 1));
        let s = score_corpus(&v(&["the cat sat"]), &v(&["the sat down"]));
        assert!((s.wer - 200.0 / 3.0).abs() < 1e-9);
        assert_eq!(edit_ops::<char>(&[], &[]).edits(), 0);
        assert_eq!(edit_ops(&['a', 'b'], &[]).del, 2);
        assert_eq!(edit_ops(&[], &['a']).ins, 1);
    }

    #[test]
    fn corpus_level_differs_from_mean_of_rates() {
        // A short utterance fully wrong, a long one fully right.
        let refs = v(&["a", "abcdefghij"]);
        let hyps = v(&["b", "abcdefghij"]);
        let s = score_corpus(&refs, &hyps);
        // Corpus level: 1 edit / 11 chars = 9.09 %; the mean of rates would be (100 + 0) / 2 = 50 %.
        assert!((s.cer - 100.0 / 11.0).abs() < 1e-9, "{}", s.cer);
        assert_eq!(s.word_acc, 50.0);
        // 1-NED: (0 + 1) / 2.
        assert!((s.one_minus_ned - 50.0).abs() < 1e-9);
    }
}

//! Edit distance with substitution/deletion/insertion counts, corpus-level WER and CER, word
//! accuracy and 1-NED.
//!
//! WER and CER are corpus level (total edits / total reference length, as sclite and ESPnet
//! report them), not means of per-utterance rates: a mean of rates over-weights short
//! utterances. All rates are in percent.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditOps {
    pub sub: usize,
    pub del: usize,
    pub ins: usize,
    /// Reference tokens (the denominator of an error rate).
    pub ref_len: usize,
}

impl EditOps {
    pub fn edits(&self) -> usize {
        self.sub + self.del + self.ins
    }

    /// Edits per reference token in percent. With an empty reference each edit counts as
    /// 100 % (so inserting into nothing is an error, and nothing into nothing is 0 %).
    pub fn rate(&self) -> f64 {
        100.0 * self.edits() as f64 / self.ref_len.max(1) as f64
    }

    pub fn add(&mut self, o: EditOps) {
        self.sub += o.sub;
        self.del += o.del;
        self.ins += o.ins;
        self.ref_len += o.ref_len;
    }
}

/// Levenshtein alignment of hypothesis `h` against reference `r` with unit costs. Among the
/// minimal alignments the counts come from a fixed preference (match/substitution, then
/// deletion, then insertion), so they are deterministic. Memory is one row of the table.
pub fn edit_ops<T: PartialEq>(r: &[T], h: &[T]) -> EditOps {
    // Each cell: (cost, sub, del, ins) of the best alignment of the prefixes.
    type Cell = (usize, usize, usize, usize);
    let mut prev: Vec<Cell> = (0..=h.len()).map(|j| (j, 0, 0, j)).collect();
    let mut cur: Vec<Cell> = vec![(0, 0, 0, 0); h.len() + 1];
    for (i, ri) in r.iter().enumerate() {
        cur[0] = (i + 1, 0, i + 1, 0);
        for (j, hj) in h.iter().enumerate() {
            let d = prev[j];
            let diag = if ri == hj {
                d
            } else {
                (d.0 + 1, d.1 + 1, d.2, d.3)
            };
            let u = prev[j + 1];
            let del = (u.0 + 1, u.1, u.2 + 1, u.3);
            let l = cur[j];
            let ins = (l.0 + 1, l.1, l.2, l.3 + 1);
            let mut best = diag;
            if del.0 < best.0 {
                best = del;
            }
            if ins.0 < best.0 {
                best = ins;
            }
            cur[j + 1] = best;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    let (_, sub, del, ins) = prev[h.len()];
    EditOps {
        sub,
        del,
        ins,
        ref_len: r.len(),
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// Character error rate, percent, corpus level (spaces are characters).
    pub cer: f64,
    /// Word error rate, percent, corpus level (words split on whitespace).
    pub wer: f64,
    /// Whole strings recognised exactly, percent (word accuracy for word images).
    pub word_acc: f64,
    /// Mean over examples of 1 − edits / max(|ref|, |hyp|) in characters (ICDAR 2019),
    /// percent; an empty reference with an empty hypothesis counts 1.
    pub one_minus_ned: f64,
    /// Examples scored. With none, every rate is 0: check `n` before trusting them.
    pub n: usize,
    pub char_ops: EditOps,
    pub word_ops: EditOps,
}

impl std::fmt::Display for Scores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (c, w) = (&self.char_ops, &self.word_ops);
        write!(
            f,
            "n {} | CER {:.2} % (S {} D {} I {} / {}) | WER {:.2} % (S {} D {} I {} / {}) | word acc {:.2} % | 1-NED {:.2} %",
            self.n, self.cer, c.sub, c.del, c.ins, c.ref_len, self.wer, w.sub, w.del, w.ins,
            w.ref_len, self.word_acc, self.one_minus_ned
        )
    }
}

/// One example's character and word edit operations (characters as `char`s, spaces included;
/// words split on whitespace): what `score_corpus` sums.
pub fn example_ops(r: &str, h: &str) -> (EditOps, EditOps) {
    let rc: Vec<char> = r.chars().collect();
    let hc: Vec<char> = h.chars().collect();
    let rw: Vec<&str> = r.split_whitespace().collect();
    let hw: Vec<&str> = h.split_whitespace().collect();
    (edit_ops(&rc, &hc), edit_ops(&rw, &hw))
}

/// Score hypotheses against references, pairwise. Panics if the lists differ in length (a
/// bug in the caller, not bad data).
pub fn score_corpus(refs: &[String], hyps: &[String]) -> Scores {
    assert_eq!(
        refs.len(),
        hyps.len(),
        "score_corpus: {} references but {} hypotheses",
        refs.len(),
        hyps.len()
    );
    let mut s = Scores {
        n: refs.len(),
        ..Default::default()
    };
    let (mut exact, mut sim) = (0usize, 0f64);
    for (r, h) in refs.iter().zip(hyps) {
        let (c, w) = example_ops(r, h);
        s.char_ops.add(c);
        s.word_ops.add(w);
        exact += usize::from(r == h);
        let longest = c.ref_len.max(h.chars().count());
        sim += if longest == 0 {
            1.0
        } else {
            1.0 - c.edits() as f64 / longest as f64
        };
    }
    s.cer = s.char_ops.rate();
    s.wer = s.word_ops.rate();
    if s.n > 0 {
        s.word_acc = 100.0 * exact as f64 / s.n as f64;
        s.one_minus_ned = 100.0 * sim / s.n as f64;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    fn chars(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    }

    /// Plain Levenshtein distance by the textbook full table, to cross-check `edits()`.
    fn brute_distance(r: &[char], h: &[char]) -> usize {
        let mut d = vec![vec![0usize; h.len() + 1]; r.len() + 1];
        for (i, row) in d.iter_mut().enumerate() {
            row[0] = i;
        }
        for (j, c) in d[0].iter_mut().enumerate() {
            *c = j;
        }
        for i in 1..=r.len() {
            for j in 1..=h.len() {
                let c = usize::from(r[i - 1] != h[j - 1]);
                d[i][j] = (d[i - 1][j - 1] + c)
                    .min(d[i - 1][j] + 1)
                    .min(d[i][j - 1] + 1);
            }
        }
        d[r.len()][h.len()]
    }

    #[test]
    fn hand_computed_sdi_counts() {
        // kitten -> sitting: k->s (S), e->i (S), +g (I).
        let o = edit_ops(&chars("kitten"), &chars("sitting"));
        assert_eq!((o.sub, o.del, o.ins, o.ref_len), (2, 0, 1, 6));
        // "abcdef" -> "azced": b->z (S), d deleted (D), f->d (S)? No: a z c e d vs a b c d e f:
        // align a=a, b->z (S), c=c, d (D), e=e, f->d (S): 3 edits, the minimum.
        let o = edit_ops(&chars("abcdef"), &chars("azced"));
        assert_eq!((o.sub, o.del, o.ins), (2, 1, 0));
        // Words: "the cat sat on the mat" -> "the cat sit on mat":
        // sat->sit (S), "the" deleted (D): WER 2/6.
        let s = score_corpus(&v(&["the cat sat on the mat"]), &v(&["the cat sit on mat"]));
        assert_eq!(
            (
                s.word_ops.sub,
                s.word_ops.del,
                s.word_ops.ins,
                s.word_ops.ref_len
            ),
            (1, 1, 0, 6)
        );
        close(s.wer, 100.0 * 2.0 / 6.0);
        // Characters: a->i (S) and "the " deleted (4 D): 5 edits over 22 characters.
        assert_eq!(
            (
                s.char_ops.sub,
                s.char_ops.del,
                s.char_ops.ins,
                s.char_ops.ref_len
            ),
            (1, 4, 0, 22)
        );
        close(s.cer, 100.0 * 5.0 / 22.0);
        // An insertion: "a b" -> "a x b".
        let o = edit_ops(&["a", "b"], &["a", "x", "b"]);
        assert_eq!((o.sub, o.del, o.ins), (0, 0, 1));
    }

    #[test]
    fn edits_match_brute_force_levenshtein() {
        let mut rng = crate::Rng::new(3);
        for _ in 0..300 {
            let mut gen = |n: usize| -> Vec<char> {
                (0..rng.below(n))
                    .map(|_| (b'a' + rng.below(3) as u8) as char)
                    .collect()
            };
            let (r, h) = (gen(9), gen(9));
            let o = edit_ops(&r, &h);
            assert_eq!(o.edits(), brute_distance(&r, &h), "{r:?} {h:?}");
            // Every alignment satisfies |h| = |r| - D + I.
            assert_eq!(h.len() + o.del, r.len() + o.ins);
        }
    }

    #[test]
    fn corpus_level_differs_from_mean_of_rates() {
        // A short utterance fully wrong, a long one fully right.
        let refs = v(&["a", "abcdefghij"]);
        let hyps = v(&["b", "abcdefghij"]);
        let s = score_corpus(&refs, &hyps);
        // Corpus level: 1 edit / 11 chars = 9.09 %; the mean of per-utterance rates would be
        // (100 + 0) / 2 = 50 %.
        close(s.cer, 100.0 / 11.0);
        assert!((s.cer - 50.0).abs() > 40.0);
        close(s.word_acc, 50.0);
        // 1-NED: (1 - 1/1 + 1 - 0/10) / 2.
        close(s.one_minus_ned, 50.0);
        assert_eq!(s.n, 2);
    }

    #[test]
    fn one_minus_ned_uses_the_longer_string() {
        // "abc" vs "abcde": 2 insertions over max(3, 5) = 5 -> 1 - 0.4 = 0.6.
        let s = score_corpus(&v(&["abc"]), &v(&["abcde"]));
        close(s.one_minus_ned, 60.0);
        close(s.cer, 100.0 * 2.0 / 3.0);
        close(s.word_acc, 0.0);
    }

    #[test]
    fn empty_reference_and_hypothesis_edges() {
        assert_eq!(edit_ops::<char>(&[], &[]), EditOps::default());
        assert_eq!(edit_ops(&['a', 'b'], &[]).del, 2);
        assert_eq!(edit_ops(&[], &['a']).ins, 1);
        // Empty hypothesis: all deletions, 100 % CER/WER, 1-NED 0.
        let s = score_corpus(&v(&["ab cd"]), &v(&[""]));
        close(s.cer, 100.0);
        close(s.wer, 100.0);
        close(s.one_minus_ned, 0.0);
        // Both empty: perfect.
        let s = score_corpus(&v(&[""]), &v(&[""]));
        close(s.cer, 0.0);
        close(s.word_acc, 100.0);
        close(s.one_minus_ned, 100.0);
        // Empty reference, non-empty hypothesis: errors are not hidden by the zero length.
        let s = score_corpus(&v(&[""]), &v(&["xy"]));
        assert_eq!(s.char_ops.ins, 2);
        close(s.cer, 200.0);
        close(s.one_minus_ned, 0.0);
        // No examples at all.
        let s = score_corpus(&[], &[]);
        assert_eq!((s.n, s.cer, s.word_acc), (0, 0.0, 0.0));
        assert!(format!("{}", score_corpus(&v(&["a b"]), &v(&["a c"]))).contains("WER 50.00 %"));
    }
}

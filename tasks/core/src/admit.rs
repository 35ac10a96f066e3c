//! Which examples a split takes, by what the split is for.
//!
//! Training needs label ids CTC can emit from the source's frames. Scoring does not: a scorer
//! that leaves out the utterances a model cannot fit (too short for their transcript, a
//! character outside the vocabulary, an empty reference) reports a better error than the model
//! has. So a scoring split keeps every example; what would have kept it out of training is
//! counted and reported, and the reference stays the full text, so such an example costs the
//! model the errors it cannot avoid.

use crate::ctc::min_frames;
use crate::vocab::Vocab;

/// What a split's examples are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Label ids must be non-empty, in the vocabulary and emittable in the source's frames.
    Train,
    /// Every example is kept (dev, test, `eval`).
    Score,
}

/// The examples a split keeps, the ones it skipped (training, with `skip_bad`) and, for
/// scoring, the ones kept although they could not be trained on.
#[derive(Debug, Clone)]
pub struct Admitted<E> {
    pub examples: Vec<E>,
    /// One message per skipped example, naming it.
    pub skipped: Vec<String>,
    /// One message per scored example that training would have refused, naming it and why.
    pub untrainable: Vec<String>,
}

impl<E> Admitted<E> {
    /// One line for a log: how many were kept, skipped and scored though untrainable.
    pub fn summary(&self, split: &str, what: &str) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(first) = self.skipped.first() {
            parts.push(format!(
                "skipped {} {what} (first: {first})",
                self.skipped.len()
            ));
        }
        if let Some(first) = self.untrainable.first() {
            parts.push(format!(
                "scored {} {what} that CTC training could not use (first: {first})",
                self.untrainable.len()
            ));
        }
        (!parts.is_empty()).then(|| format!("{split}: {}", parts.join("; ")))
    }
}

/// The label ids of one example: `text` labels a source giving `frames` CTC frames; `at`
/// names the example in messages. `Ok((ids, None))` for a trainable example; for scoring,
/// `Ok((ids, Some(why)))` when training would refuse it, `ids` then holding the labels of the
/// characters the vocabulary has (what an oracle can be fed). `Err(why)` only for training.
pub fn label_ids(
    vocab: &Vocab,
    text: &str,
    frames: usize,
    purpose: Purpose,
    at: &str,
) -> Result<(Vec<u32>, Option<String>), String> {
    let problem = |ids: Vec<u32>, why: String| match purpose {
        Purpose::Train => Err(format!("{at}: {why}")),
        Purpose::Score => Ok((ids, Some(format!("{at}: {why}")))),
    };
    let unknown = vocab.unknown_chars(text);
    if !unknown.is_empty() {
        let known: String = text.chars().filter(|c| !unknown.contains(c)).collect();
        let ids = vocab.encode(&known).map_err(|e| format!("{at}: {e}"))?;
        let shown: Vec<String> = unknown.iter().map(|c| format!("{c:?}")).collect();
        return problem(
            ids,
            format!(
                "{text:?} has characters outside the vocabulary: {}",
                shown.join(", ")
            ),
        );
    }
    let ids = vocab.encode(text).map_err(|e| format!("{at}: {e}"))?;
    if ids.is_empty() {
        return problem(ids, "empty transcript".into());
    }
    if frames < min_frames(&ids) {
        let why = format!(
            "too short for its transcript under CTC ({frames} frames after subsampling, {} \
             needed for its {} labels)",
            min_frames(&ids),
            ids.len()
        );
        return problem(ids, why);
    }
    Ok((ids, None))
}

/// Turn `items` into examples with `make`, which returns the example and, for scoring, why
/// training would refuse it. A refused item is an error, or with `skip_bad` a counted skip.
pub fn admit<I, E>(
    items: Vec<I>,
    skip_bad: bool,
    mut make: impl FnMut(I) -> Result<(E, Option<String>), String>,
) -> Result<Admitted<E>, String> {
    let mut out = Admitted {
        examples: Vec::with_capacity(items.len()),
        skipped: Vec::new(),
        untrainable: Vec::new(),
    };
    for item in items {
        match make(item) {
            Ok((e, note)) => {
                out.examples.push(e);
                out.untrainable.extend(note);
            }
            Err(p) if skip_bad => out.skipped.push(p),
            Err(p) => return Err(p),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v() -> Vocab {
        Vocab::chars("ab ").unwrap()
    }

    #[test]
    fn training_refuses_what_scoring_keeps_and_names() {
        let cases: [(&str, usize, &str); 3] = [
            ("abc", 10, "outside the vocabulary: 'c'"),
            ("", 10, "empty transcript"),
            // "aab" needs 4 frames (a blank between the two a's).
            (
                "aab",
                3,
                "3 frames after subsampling, 4 needed for its 3 labels",
            ),
        ];
        for (text, frames, why) in cases {
            let e = label_ids(&v(), text, frames, Purpose::Train, "u7").unwrap_err();
            assert!(e.starts_with("u7: ") && e.contains(why), "{e}");
            let (ids, note) = label_ids(&v(), text, frames, Purpose::Score, "u7").unwrap();
            let note = note.expect("scored though untrainable");
            assert!(note.starts_with("u7: ") && note.contains(why), "{note}");
            let want: Vec<u32> = match text {
                "abc" => vec![1, 2],
                "aab" => vec![1, 1, 2],
                _ => vec![],
            };
            assert_eq!(ids, want, "{text}");
        }
        for purpose in [Purpose::Train, Purpose::Score] {
            assert_eq!(
                label_ids(&v(), "aab", 4, purpose, "u").unwrap(),
                (vec![1, 1, 2], None)
            );
        }
    }

    #[test]
    fn admit_counts_skips_and_untrainable_examples() {
        let items = vec![("x", 10), ("", 10), ("ab", 1)];
        let make = |p: Purpose| move |(t, f): (&str, usize)| label_ids(&v(), t, f, p, t);
        let a = admit(items.clone(), false, make(Purpose::Score)).unwrap();
        assert_eq!(a.examples.len(), 3);
        assert!(a.skipped.is_empty());
        assert_eq!(a.untrainable.len(), 3);
        let s = a.summary("test", "utterances").unwrap();
        assert!(s.starts_with("test: scored 3 utterances that CTC"), "{s}");
        let e = admit(items.clone(), false, make(Purpose::Train)).unwrap_err();
        assert!(e.contains("outside the vocabulary"), "{e}");
        let a = admit(items, true, make(Purpose::Train)).unwrap();
        assert_eq!((a.examples.len(), a.skipped.len()), (0, 3));
        assert!(a
            .summary("train", "utterances")
            .unwrap()
            .contains("skipped 3"));
        let clean = admit(vec![("ab", 9)], false, make(Purpose::Train)).unwrap();
        assert_eq!(clean.summary("train", "utterances"), None);
    }
}

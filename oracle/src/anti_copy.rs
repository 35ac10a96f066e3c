//! Anti-copy strategies: what the oracle sees as its label input, in training and when it is
//! used (scored, diagnosed, distilled from).
//!
//! The trivial solution for a teacher fed the target is to copy it: with label positions, "emit
//! y_u at frame k*u" needs no source at all. Which cure works is an open question the
//! framework answers by experiment (docs/method.md, "Anti-copy strategies"), so every strategy
//! is a switch, and the copy and label-use diagnostics run on every trained oracle.

use ctc_core::ctc::collapse;
use ctc_core::Rng;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum AntiCopy {
    /// Rely on the architecture alone (query = source frames, CTC at the source frame rate).
    /// Label positions are on, so the copy path is open.
    Structural,
    /// No positional encoding on the label side: the labels are a bag, their order and timing
    /// must come from the source.
    #[default]
    NoLabelPosition,
    /// Feed a random z with B(z) = y (random blanks and repeats), fresh each step, whose length
    /// differs from the frame count. Used with `eval_samples` expansions drawn from the same
    /// distribution, their posteriors averaged.
    RandomExpansion {
        #[serde(default = "default_max_repeat")]
        max_repeat: usize,
        #[serde(default = "default_blank_prob")]
        blank_prob: f64,
        #[serde(default = "default_eval_samples")]
        eval_samples: usize,
    },
    /// Replace each label by a mask token with probability `p`.
    LabelMasking {
        #[serde(default = "default_mask_p")]
        p: f64,
    },
    /// Label positions on; with probability `p` an example is fed the labels of another example
    /// of its batch while its CTC target stays its own transcript. A copier pays the full loss
    /// on those examples, so the model must check its labels against the source.
    OtherLabels {
        #[serde(default = "default_corrupt_p")]
        p: f64,
    },
    /// Label positions on; each input label is replaced by a different random label with
    /// probability `p`, the CTC target unchanged: copying the input costs about `p` of the
    /// labels, reading the source repairs them.
    TokenSubstitution {
        #[serde(default = "default_corrupt_p")]
        p: f64,
    },
    /// No absolute label positions; each label's key and value also carry its neighbours'
    /// embeddings (learned maps of the previous and next label), so the fusion sees the order
    /// of the labels locally (which "a" of a word it is) but no index a frame could match.
    LabelContext,
}

fn default_max_repeat() -> usize {
    3
}
fn default_blank_prob() -> f64 {
    0.5
}
fn default_eval_samples() -> usize {
    8
}
fn default_mask_p() -> f64 {
    0.3
}
fn default_corrupt_p() -> f64 {
    0.2
}

/// Seed of the expansions an oracle is used with (fixed: the same example always gets the same
/// expansions, whichever batch or thread it is in).
const EVAL_EXPANSION_SEED: u64 = 0x0E4A_1E5E;

impl AntiCopy {
    /// Every strategy's name, as `name` gives it and `from_name` accepts it.
    pub const NAMES: [&'static str; 7] = [
        "structural",
        "no-label-position",
        "random-expansion",
        "label-masking",
        "other-labels",
        "token-substitution",
        "label-context",
    ];

    /// Short name for results tables.
    pub fn name(&self) -> &'static str {
        match self {
            AntiCopy::Structural => "structural",
            AntiCopy::NoLabelPosition => "no-label-position",
            AntiCopy::RandomExpansion { .. } => "random-expansion",
            AntiCopy::LabelMasking { .. } => "label-masking",
            AntiCopy::OtherLabels { .. } => "other-labels",
            AntiCopy::TokenSubstitution { .. } => "token-substitution",
            AntiCopy::LabelContext => "label-context",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "structural" => AntiCopy::Structural,
            "no-label-position" => AntiCopy::NoLabelPosition,
            "random-expansion" => AntiCopy::RandomExpansion {
                max_repeat: default_max_repeat(),
                blank_prob: default_blank_prob(),
                eval_samples: default_eval_samples(),
            },
            "label-masking" => AntiCopy::LabelMasking {
                p: default_mask_p(),
            },
            "other-labels" => AntiCopy::OtherLabels {
                p: default_corrupt_p(),
            },
            "token-substitution" => AntiCopy::TokenSubstitution {
                p: default_corrupt_p(),
            },
            "label-context" => AntiCopy::LabelContext,
            _ => return None,
        })
    }

    /// Checks the strategy's parameters (probabilities in [0, 1], counts at least 1).
    pub fn validate(&self) -> Result<(), String> {
        let prob = |name: &str, p: f64| {
            if (0.0..=1.0).contains(&p) {
                Ok(())
            } else {
                Err(format!("{}: {name} = {p} is not in [0, 1]", self.name()))
            }
        };
        match *self {
            AntiCopy::RandomExpansion {
                max_repeat,
                blank_prob,
                eval_samples,
            } => {
                prob("blank_prob", blank_prob)?;
                if max_repeat == 0 || eval_samples == 0 {
                    return Err(format!(
                        "random-expansion: max_repeat ({max_repeat}) and eval_samples \
                         ({eval_samples}) must be at least 1"
                    ));
                }
                Ok(())
            }
            AntiCopy::LabelMasking { p }
            | AntiCopy::OtherLabels { p }
            | AntiCopy::TokenSubstitution { p } => prob("p", p),
            _ => Ok(()),
        }
    }

    /// Whether label positions are encoded unless the config overrides it.
    pub fn default_label_positions(&self) -> bool {
        !matches!(self, AntiCopy::NoLabelPosition | AntiCopy::LabelContext)
    }

    /// Whether the label embeddings carry their neighbours' (`LabelContext`).
    pub fn label_context(&self) -> bool {
        matches!(self, AntiCopy::LabelContext)
    }

    /// Whether the strategy trains the mask token (so "every label masked" is an input it
    /// knows; other strategies are probed with no labels at all instead).
    pub fn trains_mask(&self) -> bool {
        matches!(self, AntiCopy::LabelMasking { .. })
    }

    /// The label inputs of one training batch: `targets[i]` has `frames[i]` output frames.
    /// Label ids are `1..mask_token`; `mask_token` is one past the CTC alphabet.
    pub fn training_inputs(
        &self,
        targets: &[Vec<u32>],
        frames: &[usize],
        mask_token: u32,
        rng: &mut Rng,
    ) -> Vec<Vec<u32>> {
        let n = targets.len();
        targets
            .iter()
            .zip(frames)
            .enumerate()
            .map(|(i, (y, &t))| match self {
                AntiCopy::Structural | AntiCopy::NoLabelPosition | AntiCopy::LabelContext => {
                    y.clone()
                }
                AntiCopy::RandomExpansion {
                    max_repeat,
                    blank_prob,
                    ..
                } => random_expansion(y, t, *max_repeat, *blank_prob, rng),
                AntiCopy::LabelMasking { p } => y
                    .iter()
                    .map(|&k| if rng.bernoulli(*p) { mask_token } else { k })
                    .collect(),
                AntiCopy::OtherLabels { p } => {
                    if !rng.bernoulli(*p) {
                        y.clone()
                    } else if n > 1 {
                        // Uniform over the other examples of the batch.
                        let j = rng.below(n - 1);
                        targets[if j >= i { j + 1 } else { j }].clone()
                    } else {
                        // Nobody else to take labels from: a random sequence of its length.
                        y.iter().map(|_| random_label(mask_token, rng)).collect()
                    }
                }
                AntiCopy::TokenSubstitution { p } => y
                    .iter()
                    .map(|&k| {
                        if rng.bernoulli(*p) {
                            substitute(k, mask_token, rng)
                        } else {
                            k
                        }
                    })
                    .collect(),
            })
            .collect()
    }

    /// The label inputs an oracle is used with, given the label sequence `y` it is told
    /// (`frames` output frames): one sequence, or for `RandomExpansion` `eval_samples` expansions
    /// from its training distribution, drawn from a generator keyed by `y` itself (so an example
    /// gets the same expansions in every batch and thread). Callers average the posteriors over
    /// the sequences.
    pub fn inference_inputs(&self, y: &[u32], frames: usize) -> Vec<Vec<u32>> {
        match *self {
            AntiCopy::RandomExpansion {
                max_repeat,
                blank_prob,
                eval_samples,
            } => {
                let mut rng = Rng::derive(EVAL_EXPANSION_SEED, fingerprint(y));
                (0..eval_samples.max(1))
                    .map(|_| random_expansion(y, frames, max_repeat, blank_prob, &mut rng))
                    .collect()
            }
            _ => vec![y.to_vec()],
        }
    }
}

/// A uniform label id in `1..mask_token`.
fn random_label(mask_token: u32, rng: &mut Rng) -> u32 {
    1 + rng.below((mask_token as usize).saturating_sub(1).max(1)) as u32
}

/// A uniform label id in `1..mask_token` other than `k` (or `k` if it is the only label).
fn substitute(k: u32, mask_token: u32, rng: &mut Rng) -> u32 {
    let labels = (mask_token as usize).saturating_sub(1);
    if labels < 2 {
        return k;
    }
    let j = 1 + rng.below(labels - 1) as u32;
    if j >= k {
        j + 1
    } else {
        j
    }
}

/// FNV-1a over the label ids: the stream of an example's evaluation expansions.
fn fingerprint(y: &[u32]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &k in y {
        for b in k.to_le_bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h ^ y.len() as u64
}

/// A random sequence z with collapse(z) = y and len(z) != frames.
pub fn random_expansion(
    y: &[u32],
    frames: usize,
    max_repeat: usize,
    blank_prob: f64,
    rng: &mut Rng,
) -> Vec<u32> {
    let max_repeat = max_repeat.max(1);
    let mut z = Vec::with_capacity(y.len() * (max_repeat + 1) + 2);
    let blanks = |rng: &mut Rng, z: &mut Vec<u32>, at_least_one: bool| {
        let mut n = usize::from(at_least_one);
        while n < 3 && rng.bernoulli(blank_prob) {
            n += 1;
        }
        z.extend(std::iter::repeat_n(0, n));
    };
    blanks(rng, &mut z, false);
    for (i, &k) in y.iter().enumerate() {
        z.extend(std::iter::repeat_n(k, rng.range(1, max_repeat)));
        // Equal neighbours need a blank between them or they would merge under B.
        let need = y.get(i + 1) == Some(&k);
        blanks(rng, &mut z, need);
    }
    if z.len() == frames {
        // One more blank keeps B(z) = y and breaks the length match.
        z.push(0);
    }
    debug_assert_eq!(collapse(&z), y);
    z
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_expansion_collapses_to_labels_and_length_differs() {
        let mut rng = Rng::new(5);
        for trial in 0..2000 {
            let u = rng.below(8);
            let y: Vec<u32> = (0..u).map(|_| 1 + rng.below(3) as u32).collect();
            let frames = rng.range(0, 30);
            let z = random_expansion(&y, frames, 3, 0.5, &mut rng);
            assert_eq!(collapse(&z), y, "trial {trial}: z = {z:?}");
            assert_ne!(z.len(), frames, "trial {trial}");
        }
    }

    fn one(s: &AntiCopy, y: &[u32], rng: &mut Rng) -> Vec<u32> {
        s.training_inputs(&[y.to_vec()], &[50], 99, rng).remove(0)
    }

    #[test]
    fn masking_replaces_about_p_and_keeps_length() {
        let mut rng = Rng::new(9);
        let s = AntiCopy::LabelMasking { p: 0.3 };
        let y: Vec<u32> = (1..=1000).map(|i| (i % 5 + 1) as u32).collect();
        let z = one(&s, &y, &mut rng);
        assert_eq!(z.len(), y.len());
        let masked = z.iter().filter(|&&k| k == 99).count();
        assert!((250..350).contains(&masked), "masked {masked}");
        assert!(z.iter().zip(&y).all(|(&a, &b)| a == 99 || a == b));
        assert_eq!(one(&AntiCopy::NoLabelPosition, &y, &mut rng), y);
        assert_eq!(one(&AntiCopy::LabelContext, &y, &mut rng), y);
    }

    #[test]
    fn substitution_changes_about_p_of_the_tokens_to_other_labels() {
        let mut rng = Rng::new(3);
        let s = AntiCopy::TokenSubstitution { p: 0.2 };
        let y: Vec<u32> = (0..2000).map(|i| (i % 7 + 1) as u32).collect();
        let z = one(&s, &y, &mut rng);
        assert_eq!(z.len(), y.len());
        let changed = z.iter().zip(&y).filter(|(a, b)| a != b).count();
        assert!((340..460).contains(&changed), "changed {changed}");
        // Every id stays a label: never blank (0), never the mask token (99).
        assert!(z.iter().all(|&k| (1..99).contains(&k)), "{z:?}");
        // A one-label alphabet has nothing to substitute with.
        assert_eq!(
            s.training_inputs(&[vec![1; 50]], &[60], 2, &mut rng)[0],
            vec![1; 50]
        );
    }

    #[test]
    fn other_labels_takes_another_examples_labels_for_about_p_of_the_batch() {
        let mut rng = Rng::new(4);
        let s = AntiCopy::OtherLabels { p: 0.25 };
        let targets: Vec<Vec<u32>> = (0..8u32).map(|i| vec![i + 1; 3 + i as usize]).collect();
        let frames = vec![40; 8];
        let (mut swapped, mut total) = (0, 0);
        for _ in 0..500 {
            let z = s.training_inputs(&targets, &frames, 99, &mut rng);
            for (i, zi) in z.iter().enumerate() {
                total += 1;
                if *zi != targets[i] {
                    swapped += 1;
                    assert!(targets.contains(zi), "{zi:?} is nobody's labels");
                }
            }
        }
        let rate = swapped as f64 / total as f64;
        assert!((0.22..0.28).contains(&rate), "rate {rate}");
        // Alone in its batch: a random sequence of its own length.
        let z = s.training_inputs(&[vec![3; 400]], &[500], 10, &mut Rng::new(1));
        assert_eq!(z[0].len(), 400);
        let z =
            AntiCopy::OtherLabels { p: 1.0 }.training_inputs(&[vec![3; 400]], &[500], 10, &mut rng);
        assert!(z[0].iter().all(|&k| (1..10).contains(&k)) && z[0] != vec![3; 400]);
    }

    #[test]
    fn random_expansion_is_used_with_samples_of_its_training_distribution() {
        let s = AntiCopy::from_name("random-expansion").unwrap();
        let y = vec![1, 2, 2, 3];
        let a = s.inference_inputs(&y, 9);
        assert_eq!(a.len(), 8);
        for z in &a {
            assert_eq!(collapse(z), y);
            assert_ne!(z.len(), 9);
        }
        // Keyed by the labels: the same draw every time, another for other labels.
        assert_eq!(a, s.inference_inputs(&y, 9));
        assert_ne!(a, s.inference_inputs(&[1, 2, 3, 3], 9));
        assert!(a.iter().any(|z| z != &a[0]), "all samples equal: {a:?}");
        // Every other strategy is used with the labels themselves.
        for n in AntiCopy::NAMES.iter().filter(|n| **n != "random-expansion") {
            let s = AntiCopy::from_name(n).unwrap();
            assert_eq!(s.inference_inputs(&y, 9), vec![y.clone()], "{n}");
        }
    }

    #[test]
    fn parameters_are_validated() {
        for n in AntiCopy::NAMES {
            assert_eq!(AntiCopy::from_name(n).unwrap().validate(), Ok(()), "{n}");
        }
        let e = AntiCopy::OtherLabels { p: 1.5 }.validate().unwrap_err();
        assert!(e.contains("other-labels") && e.contains("1.5"), "{e}");
        let e = AntiCopy::RandomExpansion {
            max_repeat: 3,
            blank_prob: 0.5,
            eval_samples: 0,
        }
        .validate()
        .unwrap_err();
        assert!(e.contains("eval_samples"), "{e}");
    }

    #[test]
    fn names_round_trip() {
        for n in AntiCopy::NAMES {
            assert_eq!(AntiCopy::from_name(n).unwrap().name(), n);
        }
        assert!(AntiCopy::from_name("copy").is_none());
    }
}

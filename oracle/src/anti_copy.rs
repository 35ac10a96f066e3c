//! Anti-copy strategies: what the oracle sees as its label input during training.
//!
//! The trivial solution for a teacher fed the target is to copy it: with label positions, "emit
//! y_u at frame k*u" needs no source at all. Which cure works is an open question the
//! framework answers by experiment (docs/method.md, "Anti-copy strategies"), so every strategy
//! is a switch, and the copy diagnostics run on every trained oracle.

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
    /// differs from the frame count.
    RandomExpansion {
        #[serde(default = "default_max_repeat")]
        max_repeat: usize,
        #[serde(default = "default_blank_prob")]
        blank_prob: f64,
    },
    /// Replace each label by a mask token with probability `p`.
    LabelMasking {
        #[serde(default = "default_mask_p")]
        p: f64,
    },
}

fn default_max_repeat() -> usize {
    3
}
fn default_blank_prob() -> f64 {
    0.5
}
fn default_mask_p() -> f64 {
    0.3
}

impl AntiCopy {
    /// Every strategy's name, as `name` gives it and `from_name` accepts it.
    pub const NAMES: [&'static str; 4] = [
        "structural",
        "no-label-position",
        "random-expansion",
        "label-masking",
    ];

    /// Short name for results tables.
    pub fn name(&self) -> &'static str {
        match self {
            AntiCopy::Structural => "structural",
            AntiCopy::NoLabelPosition => "no-label-position",
            AntiCopy::RandomExpansion { .. } => "random-expansion",
            AntiCopy::LabelMasking { .. } => "label-masking",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "structural" => AntiCopy::Structural,
            "no-label-position" => AntiCopy::NoLabelPosition,
            "random-expansion" => AntiCopy::RandomExpansion {
                max_repeat: default_max_repeat(),
                blank_prob: default_blank_prob(),
            },
            "label-masking" => AntiCopy::LabelMasking {
                p: default_mask_p(),
            },
            _ => return None,
        })
    }

    /// Whether label positions are encoded unless the config overrides it.
    pub fn default_label_positions(&self) -> bool {
        !matches!(self, AntiCopy::NoLabelPosition)
    }

    /// The label input for one training example with `frames` output frames.
    /// `mask_token` is the id of the mask symbol (one past the CTC alphabet).
    pub fn training_input(
        &self,
        y: &[u32],
        frames: usize,
        mask_token: u32,
        rng: &mut Rng,
    ) -> Vec<u32> {
        match self {
            AntiCopy::Structural | AntiCopy::NoLabelPosition => y.to_vec(),
            AntiCopy::RandomExpansion {
                max_repeat,
                blank_prob,
            } => random_expansion(y, frames, *max_repeat, *blank_prob, rng),
            AntiCopy::LabelMasking { p } => y
                .iter()
                .map(|&k| if rng.bernoulli(*p) { mask_token } else { k })
                .collect(),
        }
    }
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

    #[test]
    fn masking_replaces_about_p_and_keeps_length() {
        let mut rng = Rng::new(9);
        let s = AntiCopy::LabelMasking { p: 0.3 };
        let y: Vec<u32> = (1..=1000).map(|i| (i % 5 + 1) as u32).collect();
        let z = s.training_input(&y, 50, 99, &mut rng);
        assert_eq!(z.len(), y.len());
        let masked = z.iter().filter(|&&k| k == 99).count();
        assert!((250..350).contains(&masked), "masked {masked}");
        assert!(z.iter().zip(&y).all(|(&a, &b)| a == 99 || a == b));
        assert_eq!(
            AntiCopy::NoLabelPosition.training_input(&y, 5, 99, &mut rng),
            y
        );
    }

    #[test]
    fn names_round_trip() {
        for n in [
            "structural",
            "no-label-position",
            "random-expansion",
            "label-masking",
        ] {
            assert_eq!(AntiCopy::from_name(n).unwrap().name(), n);
        }
        assert!(AntiCopy::from_name("copy").is_none());
    }
}

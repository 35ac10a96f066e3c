//! The distillation objective as data: a list of weighted terms (`registry::KdTerm`), declared
//! in a config or picked by a CLI name, that plans its stages, prints its own formula and sums
//! already computed term values.

use candle_core::{Result, Tensor};
use serde::{Deserialize, Serialize};

use super::registry::{KdTerm, Needs, TermInputs};

/// Writes a weight so that whole numbers keep a decimal point ("1.0", "0.5").
fn fmt_weight(w: f64) -> String {
    if w.fract() == 0.0 && w.abs() < 1e15 {
        format!("{w:.1}")
    } else {
        format!("{w}")
    }
}

/// A weighted sum of KD terms. An attention-map term is trained alone as a first stage
/// (initialisation), the remaining terms form the second stage; see `stages`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KdObjective {
    pub terms: Vec<KdTerm>,
}

impl KdObjective {
    /// Non-empty, each kind at most once, weights finite and >= 0, parameters in range, and
    /// an attention-map term only together with a second-stage term.
    pub fn validate(&self) -> Result<()> {
        if self.terms.is_empty() {
            candle_core::bail!("KD objective has no term");
        }
        for (i, term) in self.terms.iter().enumerate() {
            term.validate()?;
            if self.terms[..i].iter().any(|t| t.name() == term.name()) {
                candle_core::bail!("KD objective lists the term {} twice", term.name());
            }
        }
        let stages = self.stages();
        if stages.iter().any(|s| s.terms.is_empty()) {
            candle_core::bail!(
                "KD objective: an initialisation term ({}) needs second-stage terms (e.g. ctc \
                 and guided-ctc) after it",
                stages[0].terms[0].name()
            );
        }
        Ok(())
    }

    /// What the objective's terms read, together.
    pub fn needs(&self) -> Needs {
        (self.terms.iter()).fold(Needs::default(), |acc, t| acc.and(t.needs()))
    }

    /// The training stages in order: `[initialisation terms, the rest]` when a term trains
    /// alone first (attention-map KD), `[self]` otherwise.
    pub fn stages(&self) -> Vec<KdObjective> {
        let (first, rest): (Vec<KdTerm>, Vec<KdTerm>) = self
            .terms
            .iter()
            .cloned()
            .partition(|t| t.needs().init_fraction.is_some());
        if first.is_empty() {
            vec![self.clone()]
        } else {
            vec![KdObjective { terms: first }, KdObjective { terms: rest }]
        }
    }

    /// The steps of each of `stages()` out of a budget of `steps`: all of them for one stage;
    /// with an initialisation stage its fraction of them (rounded down, at least 1) first, the
    /// rest after.
    pub fn stage_steps(&self, steps: usize) -> Vec<usize> {
        match self.needs().init_fraction {
            None => vec![steps],
            Some(f) => {
                let first = ((steps as f64 * f).floor() as usize).clamp(1, steps.max(1));
                vec![first, steps.saturating_sub(first)]
            }
        }
    }

    /// E.g. `L = 1.0*CTC + 0.5*FrameKD(tau=1)`; two-stage objectives print
    /// `stage 1 (25 % of steps): L = 1.0*AttnMapL2; stage 2: L = 1.0*CTC + 1.0*GuidedCTC`.
    pub fn formula(&self) -> String {
        let one = |o: &KdObjective| {
            let parts: Vec<String> = o
                .terms
                .iter()
                .map(|t| format!("{}*{}", fmt_weight(t.weight()), t.label()))
                .collect();
            format!("L = {}", parts.join(" + "))
        };
        let stages = self.stages();
        if stages.len() == 1 {
            return one(self);
        }
        let parts: Vec<String> = stages
            .iter()
            .enumerate()
            .map(|(i, s)| match s.needs().init_fraction {
                Some(f) => format!("stage {} ({} % of steps): {}", i + 1, f * 100.0, one(s)),
                None => format!("stage {}: {}", i + 1, one(s)),
            })
            .collect();
        parts.join("; ")
    }

    /// The objective's value on one batch: each term's value from `x`, weighted and summed,
    /// the distillation terms (all but CTC on the references and an oracle path's CTC) also
    /// scaled by `kd_scale` (a warm-up's ramp; 1 otherwise). Every term but the reference CTC
    /// (which the trainer logs already) is appended to `parts`, unscaled, for the training log.
    pub fn evaluate(
        &self,
        x: &TermInputs,
        parts: &mut Vec<(String, f32)>,
        kd_scale: f64,
    ) -> Result<Tensor> {
        let mut values: Vec<(&str, Tensor)> = Vec::new();
        for term in &self.terms {
            let mut v = term.value(x)?;
            if !matches!(term, KdTerm::Ctc { .. }) {
                parts.push((
                    term.name().to_string(),
                    v.to_scalar::<f32>().unwrap_or(f32::NAN),
                ));
            }
            if kd_scale != 1.0 && !matches!(term, KdTerm::Ctc { .. } | KdTerm::OracleCtc { .. }) {
                v = v.affine(kd_scale, 0.0)?;
            }
            values.push((term.name(), v));
        }
        self.combine(&values)
    }

    /// `sum_i weight_i * value(name_i)` over this objective's terms, where `values` pairs each
    /// term's `name()` with its computed scalar (e.g. `("frame-kd", frame_kd(..)?)`). Values
    /// for names not in the objective are ignored (a trainer may always compute CTC for its
    /// log); a missing value is an error. Call it on one of `stages()` for staged objectives.
    pub fn combine(&self, values: &[(&str, Tensor)]) -> Result<Tensor> {
        let mut total: Option<Tensor> = None;
        for term in &self.terms {
            let Some((_, v)) = values.iter().find(|(n, _)| *n == term.name()) else {
                let given: Vec<&str> = values.iter().map(|(n, _)| *n).collect();
                candle_core::bail!(
                    "KD objective needs a value for {} but got only {given:?}",
                    term.name()
                );
            };
            let weighted = v.sum_all()?.affine(term.weight(), 0.0)?;
            total = Some(match total {
                None => weighted,
                Some(acc) => {
                    let w = weighted.to_dtype(acc.dtype())?;
                    (acc + w)?
                }
            });
        }
        total.ok_or_else(|| candle_core::Error::Msg("KD objective has no term".into()))
    }
}

/// The ramp of a KD warm-up over `warmup` steps: 0 at step 0, rising linearly to 1 at step
/// `warmup` (1 throughout when `warmup` is 0).
pub fn warmup_scale(step: usize, warmup: usize) -> f64 {
    if warmup == 0 {
        1.0
    } else {
        (step as f64 / warmup as f64).min(1.0)
    }
}

#[cfg(test)]
#[path = "combine_tests.rs"]
mod tests;

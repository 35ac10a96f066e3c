//! The distillation objective as data: a list of weighted terms, declared in a config or picked
//! by a CLI name, that prints its own formula and sums already computed term values.

use candle_core::{Result, Tensor};
use serde::{Deserialize, Serialize};

use super::LayerwiseConfig;

fn one() -> f64 {
    1.0
}
/// Hinton et al. (2015), speech experiments: temperatures 1, 2, 5, 10 tried, 2 used.
fn hinton_tau() -> f64 {
    2.0
}
/// Hinton et al. (2015): relative weight 0.5 on the hard-target loss.
fn hinton_alpha() -> f64 {
    0.5
}
/// Attention-map KD: the share of the student's steps that the map-matching stage takes.
fn stage1_fraction() -> f64 {
    0.25
}
/// Kim & Rush (2016) decode the teacher with beam 5 for sequence-level KD.
fn seq_beam() -> usize {
    5
}

/// One weighted term of the objective. In a TOML/JSON config: `{ kind = "frame-kd",
/// weight = 0.5, tau = 1 }`; omitted fields take the defaults documented per field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum KdTerm {
    /// CTC on the reference labels.
    Ctc {
        #[serde(default = "one")]
        weight: f64,
    },
    /// `soft::hinton`: alpha * tau^2 * KL + (1 - alpha) * CTC; the hard CTC is inside the term.
    /// Defaults: tau 2, alpha 0.5.
    Hinton {
        #[serde(default = "one")]
        weight: f64,
        #[serde(default = "hinton_tau")]
        tau: f64,
        #[serde(default = "hinton_alpha")]
        alpha: f64,
    },
    /// `soft::frame_kd`. Defaults: tau 1 (Takashima et al.), all valid frames.
    FrameKd {
        #[serde(default = "one")]
        weight: f64,
        #[serde(default = "one")]
        tau: f64,
        #[serde(default)]
        drop_blank: bool,
    },
    /// `guided::guided_ctc`. Default: blank frames guided too (as in the paper).
    GuidedCtc {
        #[serde(default = "one")]
        weight: f64,
        #[serde(default)]
        exclude_blank: bool,
    },
    /// `attention::attention_map_l2`; trained as a separate first stage (see `stages`) that
    /// takes `stage1_fraction` of the student's steps (default 0.25), the rest going to the
    /// second stage.
    AttentionMap {
        #[serde(default = "one")]
        weight: f64,
        #[serde(default = "stage1_fraction")]
        stage1_fraction: f64,
    },
    /// `layerwise::layerwise_loss`. `layers` are 1-based teacher layers; empty (the default)
    /// means 1/3, 2/3, 3/3 of the teacher's depth (`LayerwiseConfig::resolve`).
    #[serde(rename = "layer-wise", alias = "layerwise")]
    Layerwise {
        #[serde(default = "one")]
        weight: f64,
        #[serde(default)]
        layers: Vec<usize>,
    },
    /// CTC on the teacher's beam-search hypotheses instead of the references. Default beam 5.
    SequenceKd {
        #[serde(default = "one")]
        weight: f64,
        #[serde(default = "seq_beam")]
        beam: usize,
    },
}

impl KdTerm {
    /// The term's key: its CLI/config name, and the name its value is given under in `combine`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Ctc { .. } => "ctc",
            Self::Hinton { .. } => "hinton",
            Self::FrameKd { .. } => "frame-kd",
            Self::GuidedCtc { .. } => "guided-ctc",
            Self::AttentionMap { .. } => "attention-map",
            Self::Layerwise { .. } => "layer-wise",
            Self::SequenceKd { .. } => "sequence-kd",
        }
    }

    pub fn weight(&self) -> f64 {
        match *self {
            Self::Ctc { weight }
            | Self::Hinton { weight, .. }
            | Self::FrameKd { weight, .. }
            | Self::GuidedCtc { weight, .. }
            | Self::AttentionMap { weight, .. }
            | Self::Layerwise { weight, .. }
            | Self::SequenceKd { weight, .. } => weight,
        }
    }

    /// The term as it appears in a formula, with its parameters.
    pub fn label(&self) -> String {
        match self {
            Self::Ctc { .. } => "CTC".into(),
            Self::Hinton { tau, alpha, .. } => format!("Hinton(tau={tau}, alpha={alpha})"),
            Self::FrameKd {
                tau, drop_blank, ..
            } => {
                let drop = if *drop_blank { ", drop-blank" } else { "" };
                format!("FrameKD(tau={tau}{drop})")
            }
            Self::GuidedCtc { exclude_blank, .. } => {
                if *exclude_blank {
                    "GuidedCTC(exclude-blank)".into()
                } else {
                    "GuidedCTC".into()
                }
            }
            Self::AttentionMap { .. } => "AttnMapL2".into(),
            Self::Layerwise { layers, .. } if layers.is_empty() => "LayerWise(thirds)".into(),
            Self::Layerwise { layers, .. } => format!("LayerWise(layers={layers:?})"),
            Self::SequenceKd { beam, .. } => format!("SeqKD(beam={beam})"),
        }
    }

    fn validate(&self) -> Result<()> {
        let w = self.weight();
        if !(w.is_finite() && w >= 0.0) {
            candle_core::bail!(
                "KD term {}: weight must be finite and >= 0, got {w}",
                self.name()
            );
        }
        match self {
            Self::Hinton { tau, alpha, .. } => {
                check_tau("hinton", *tau)?;
                if !(0.0..=1.0).contains(alpha) {
                    candle_core::bail!("KD term hinton: alpha must lie in [0, 1], got {alpha}");
                }
            }
            Self::FrameKd { tau, .. } => check_tau("frame-kd", *tau)?,
            Self::Layerwise { layers, .. } if !layers.is_empty() => LayerwiseConfig {
                layers: layers.clone(),
            }
            .validate(None)?,
            Self::SequenceKd { beam: 0, .. } => {
                candle_core::bail!("KD term sequence-kd: beam must be >= 1")
            }
            Self::AttentionMap {
                stage1_fraction: f, ..
            } if !(*f > 0.0 && *f < 1.0) => {
                candle_core::bail!(
                    "KD term attention-map: stage1_fraction must lie strictly between 0 and 1, got {f}"
                )
            }
            _ => {}
        }
        Ok(())
    }
}

fn check_tau(name: &str, tau: f64) -> Result<()> {
    if !(tau.is_finite() && tau > 0.0) {
        candle_core::bail!("KD term {name}: tau must be finite and > 0, got {tau}");
    }
    Ok(())
}

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
                "KD objective: an attention-map term initialises the student and needs \
                 second-stage terms (e.g. ctc and guided-ctc) after it"
            );
        }
        Ok(())
    }

    /// The training stages in order: `[attention-map terms, the rest]` when the objective has
    /// an attention-map term, `[self]` otherwise.
    pub fn stages(&self) -> Vec<KdObjective> {
        let (first, rest): (Vec<KdTerm>, Vec<KdTerm>) = self
            .terms
            .iter()
            .cloned()
            .partition(|t| matches!(t, KdTerm::AttentionMap { .. }));
        if first.is_empty() {
            vec![self.clone()]
        } else {
            vec![KdObjective { terms: first }, KdObjective { terms: rest }]
        }
    }

    /// The steps of each of `stages()` out of a budget of `steps`: all of them for one stage;
    /// for attention-map KD `stage1_fraction` of them (rounded down, at least 1) first, the rest
    /// after.
    pub fn stage_steps(&self, steps: usize) -> Vec<usize> {
        let f = self.terms.iter().find_map(|t| match t {
            KdTerm::AttentionMap {
                stage1_fraction, ..
            } => Some(*stage1_fraction),
            _ => None,
        });
        match f {
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
            .map(|(i, s)| {
                match s.terms.iter().find_map(|t| match t {
                    KdTerm::AttentionMap {
                        stage1_fraction, ..
                    } => Some(*stage1_fraction),
                    _ => None,
                }) {
                    Some(f) => format!("stage {} ({} % of steps): {}", i + 1, f * 100.0, one(s)),
                    None => format!("stage {}: {}", i + 1, one(s)),
                }
            })
            .collect();
        parts.join("; ")
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

/// Every KD method `parse_kd` knows, by its CLI name, in the order runs and tables list them.
pub const KD_METHODS: &[&str] = &[
    "ctc",
    "frame-kd",
    "guided-ctc",
    "hinton",
    "attention-map",
    "layer-wise",
    "sequence-kd",
];

/// The CLI names and their objectives:
/// - `ctc`: 1.0*CTC (the student alone);
/// - `hinton`: 1.0*Hinton(tau=2, alpha=0.5) (the hard CTC is inside the Hinton term);
/// - `frame-kd`: 1.0*CTC + 1.0*FrameKD(tau=1) on all valid frames;
/// - `guided-ctc`: 1.0*CTC + 1.0*GuidedCTC (blank frames included, weight 1 as published);
/// - `attention-map`: stage 1 1.0*AttnMapL2, stage 2 1.0*CTC + 1.0*GuidedCTC;
/// - `layer-wise` (also `layerwise`): 1.0*CTC + 1.0*LayerWise at 1/3, 2/3, 3/3 teacher depth,
///   one stage (the heads train alongside CTC);
/// - `sequence-kd`: 1.0*SeqKD(beam=5), CTC on the teacher's hypotheses only.
pub fn parse_kd(name: &str) -> Result<KdObjective> {
    use KdTerm::*;
    let ctc = Ctc { weight: 1.0 };
    let guided = GuidedCtc {
        weight: 1.0,
        exclude_blank: false,
    };
    let terms = match name {
        "ctc" => vec![ctc],
        "hinton" => vec![Hinton {
            weight: 1.0,
            tau: hinton_tau(),
            alpha: hinton_alpha(),
        }],
        "frame-kd" => vec![
            ctc,
            FrameKd {
                weight: 1.0,
                tau: 1.0,
                drop_blank: false,
            },
        ],
        "guided-ctc" => vec![ctc, guided],
        "attention-map" => vec![
            AttentionMap {
                weight: 1.0,
                stage1_fraction: stage1_fraction(),
            },
            ctc,
            guided,
        ],
        "layer-wise" | "layerwise" => vec![
            ctc,
            Layerwise {
                weight: 1.0,
                layers: Vec::new(),
            },
        ],
        "sequence-kd" => vec![SequenceKd {
            weight: 1.0,
            beam: seq_beam(),
        }],
        other => candle_core::bail!(
            "unknown KD method {other:?}; expected one of {}",
            KD_METHODS.join(", ")
        ),
    };
    let obj = KdObjective { terms };
    obj.validate()?;
    Ok(obj)
}

#[cfg(test)]
#[path = "combine_tests.rs"]
mod tests;

//! The catalogue of KD terms and methods, the one place a method is registered: each term's
//! config fields and defaults, formula label, validation, what it reads and how its value is
//! computed (`KdTerm`), and each CLI method's terms and run-time traits (`METHODS`). Parsing,
//! `--set` validation, formulas, stage planning, online checks and plots read from here, so a new
//! method that is a new loss term touches its loss file and this one.

use candle_core::{Error, Result, Tensor};
use ctc_core::model::CtcForward;
use ctc_core::train::ctc_term;
use ctc_core::{Batch, Encoded};
use serde::{Deserialize, Serialize};

use super::attention::attention_map_l2;
use super::intermediate::{self_distillation, IntermediateHeads};
use super::layerwise::{layerwise_loss, PredictionHeads};
use super::soft::{frame_kd_norm, hinton_norm};
use super::{guided_ctc_norm, KdObjective, LayerwiseConfig, Norm};
use crate::teacher::TeacherOut;

/// What a term reads besides the student's forward and the references.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Needs {
    /// The teacher's frame posteriors (from the cache, or a live forward).
    pub posteriors: bool,
    /// Hidden states and attention maps of a live teacher forward (too large to cache).
    pub features: bool,
    /// Beam-search hypotheses of a fixed teacher, decoded once with this beam (so the term
    /// cannot train online).
    pub hypotheses: Option<usize>,
    /// Prediction heads onto these 1-based teacher layers (empty: thirds of its depth).
    pub heads: Option<Vec<usize>>,
    /// Trained alone as a first stage that takes this fraction of the student's steps.
    pub init_fraction: Option<f64>,
    /// An oracle path inside the student's own model (a joint stage, no separate teacher).
    pub oracle_path: bool,
    /// CTC heads on these 1-based intermediate student layers (empty: the middle one), fed
    /// the student's own hidden states.
    pub student_heads: Option<Vec<usize>>,
}

impl Needs {
    /// Whether a term reads any teacher (a model other than the student's own layers).
    pub fn teacher(&self) -> bool {
        self.posteriors || self.features || self.hypotheses.is_some() || self.oracle_path
    }

    /// The union of two terms' needs (the first term's heads, hypotheses and fraction win; an
    /// objective holds each term kind at most once).
    pub fn and(self, other: Needs) -> Needs {
        Needs {
            posteriors: self.posteriors || other.posteriors,
            features: self.features || other.features,
            hypotheses: self.hypotheses.or(other.hypotheses),
            heads: self.heads.or(other.heads),
            init_fraction: self.init_fraction.or(other.init_fraction),
            oracle_path: self.oracle_path || other.oracle_path,
            student_heads: self.student_heads.or(other.student_heads),
        }
    }
}

/// The inputs of one term's value on a batch.
pub struct TermInputs<'a> {
    /// The student's `(B, T, V')` logits and its encoder output.
    pub logits: &'a Tensor,
    pub enc: &'a Encoded,
    pub lens: &'a [usize],
    /// CTC on the references (per utterance over its labels), computed once.
    pub ctc: &'a Tensor,
    /// The reduction of the posterior terms.
    pub norm: &'a Norm,
    /// The batch's example ids (rows of the hypotheses) and references.
    pub ids: &'a [usize],
    pub targets: &'a [Vec<u32>],
    /// A live teacher forward with features, when a term needs one.
    pub teacher: Option<&'a TeacherOut>,
    pub heads: Option<&'a PredictionHeads>,
    /// CTC heads on the student's intermediate layers (self-distillation).
    pub intermediate: Option<&'a IntermediateHeads>,
    pub hypotheses: Option<&'a [Vec<u32>]>,
    /// The teacher's `(B, T, V')` logits, fetched (and kept) on first use.
    pub teacher_logits: &'a dyn Fn() -> Result<Tensor>,
    /// A joint model's oracle-path CTC.
    pub oracle_ctc: Option<&'a Tensor>,
}

impl<'a> TermInputs<'a> {
    /// The student's side of a batch: its forward, its CTC on the references, the reduction,
    /// the batch's ids and references, and where the teacher's logits come from; every other
    /// input absent (set the ones a trainer has with struct update syntax).
    pub fn of_student(
        out: &'a CtcForward,
        ctc: &'a Tensor,
        norm: &'a Norm,
        batch: &'a Batch,
        teacher_logits: &'a dyn Fn() -> Result<Tensor>,
    ) -> Self {
        Self {
            logits: &out.logits,
            enc: &out.enc,
            lens: &out.enc.lens,
            ctc,
            norm,
            ids: &batch.ids,
            targets: &batch.targets,
            teacher: None,
            heads: None,
            intermediate: None,
            hypotheses: None,
            teacher_logits,
            oracle_ctc: None,
        }
    }
}

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
    /// CTC of a joint model's oracle path (source and labels, under the preset's anti-copy
    /// strategy), which shares the student's encoder and is the teacher of its posterior terms
    /// in the same step (EM-Network style, `crate::joint`).
    OracleCtc {
        #[serde(default = "one")]
        weight: f64,
    },
    /// `intermediate::self_distillation`: CTC heads on intermediate student layers taught by
    /// the student's own last layer. `layers` are 1-based student layers; empty (the default)
    /// means the middle one. Defaults: tau 1, intermediate CTC weight 1.
    SelfKd {
        #[serde(default = "one")]
        weight: f64,
        #[serde(default = "one")]
        tau: f64,
        #[serde(default = "one")]
        ctc_weight: f64,
        #[serde(default)]
        layers: Vec<usize>,
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
            Self::OracleCtc { .. } => "oracle-ctc",
            Self::SelfKd { .. } => "self-kd",
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
            | Self::SequenceKd { weight, .. }
            | Self::OracleCtc { weight }
            | Self::SelfKd { weight, .. } => weight,
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
            Self::OracleCtc { .. } => "OracleCTC".into(),
            Self::SelfKd {
                tau,
                ctc_weight,
                layers,
                ..
            } => {
                let at = if layers.is_empty() {
                    "middle".to_string()
                } else {
                    format!("{layers:?}")
                };
                format!("SelfKD(tau={tau}, ctc={ctc_weight}, layers={at})")
            }
        }
    }

    /// What the term reads besides the student's forward and the references.
    pub fn needs(&self) -> Needs {
        match self {
            Self::Ctc { .. } => Needs::default(),
            Self::Hinton { .. } | Self::FrameKd { .. } | Self::GuidedCtc { .. } => Needs {
                posteriors: true,
                ..Needs::default()
            },
            Self::AttentionMap {
                stage1_fraction, ..
            } => Needs {
                features: true,
                init_fraction: Some(*stage1_fraction),
                ..Needs::default()
            },
            Self::Layerwise { layers, .. } => Needs {
                features: true,
                heads: Some(layers.clone()),
                ..Needs::default()
            },
            Self::SequenceKd { beam, .. } => Needs {
                hypotheses: Some(*beam),
                ..Needs::default()
            },
            Self::OracleCtc { .. } => Needs {
                oracle_path: true,
                ..Needs::default()
            },
            Self::SelfKd { layers, .. } => Needs {
                student_heads: Some(layers.clone()),
                ..Needs::default()
            },
        }
    }

    /// The temperature of a soft-target term, for variants that change it.
    pub fn temperature_mut(&mut self) -> Option<&mut f64> {
        match self {
            Self::Hinton { tau, .. } | Self::FrameKd { tau, .. } | Self::SelfKd { tau, .. } => {
                Some(tau)
            }
            _ => None,
        }
    }

    /// Whether `key` is the kind of a term (a name or an alias `kind = ...` accepts). Every field
    /// has a default, so a table holding only the kind parses exactly when the kind exists.
    pub fn is_kind(key: &str) -> bool {
        use serde::de::value::{Error, MapDeserializer};
        let table = MapDeserializer::<_, Error>::new(std::iter::once(("kind", key)));
        KdTerm::deserialize(table).is_ok()
    }

    /// The term's unweighted value on one batch.
    pub fn value(&self, x: &TermInputs) -> Result<Tensor> {
        let (logits, lens, norm) = (x.logits, x.lens, x.norm);
        let live = |what: &str| {
            x.teacher
                .ok_or_else(|| Error::Msg(format!("{what} needs a live teacher forward")))
        };
        match self {
            Self::Ctc { .. } => Ok(x.ctc.clone()),
            Self::Hinton { tau, alpha, .. } => hinton_norm(
                logits,
                &(x.teacher_logits)()?,
                lens,
                *tau,
                *alpha,
                x.ctc,
                norm,
            ),
            Self::FrameKd {
                tau, drop_blank, ..
            } => frame_kd_norm(
                logits,
                &(x.teacher_logits)()?,
                lens,
                *tau,
                *drop_blank,
                norm,
            ),
            Self::GuidedCtc { exclude_blank, .. } => {
                guided_ctc_norm(logits, &(x.teacher_logits)()?, lens, *exclude_blank, norm)
            }
            Self::AttentionMap { .. } => {
                let to = live("attention-map KD")?;
                let (Some(s), Some(tm)) = (x.enc.attn.last(), to.attn.last()) else {
                    candle_core::bail!("attention-map KD: a model returned no attention maps");
                };
                attention_map_l2(s, tm, lens)
            }
            Self::Layerwise { .. } => {
                let to = live("layer-wise KD")?;
                let Some(heads) = x.heads else {
                    candle_core::bail!("layer-wise KD needs prediction heads");
                };
                let Some(last) = x.enc.hidden.last() else {
                    candle_core::bail!("layer-wise KD: the student returned no hidden states");
                };
                layerwise_loss(&heads.forward(last)?, &heads.targets(&to.hidden)?, lens)
            }
            Self::SequenceKd { .. } => {
                let Some(hyps) = x.hypotheses else {
                    candle_core::bail!("sequence-level KD needs the teacher's hypotheses");
                };
                let targets: Vec<Vec<u32>> = x.ids.iter().map(|&i| hyps[i].clone()).collect();
                Ok(ctc_term(logits, lens, &targets)?.0)
            }
            Self::SelfKd {
                tau, ctc_weight, ..
            } => {
                let Some(heads) = x.intermediate else {
                    candle_core::bail!("self-distillation needs the student's intermediate heads");
                };
                let h = heads.forward(&x.enc.hidden)?;
                self_distillation(logits, &h, lens, x.targets, *tau, *ctc_weight, norm)
            }
            Self::OracleCtc { .. } => x.oracle_ctc.cloned().ok_or_else(|| {
                Error::Msg(
                    "oracle-ctc is the CTC of a joint model's oracle path (method em)".into(),
                )
            }),
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
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
            Self::SelfKd {
                tau,
                ctc_weight,
                layers,
                ..
            } => {
                check_tau("self-kd", *tau)?;
                // The depth is known only when the student is built; the rest is checked here.
                for (i, &l) in layers.iter().enumerate() {
                    if l == 0 || layers[..i].contains(&l) {
                        candle_core::bail!(
                            "KD term self-kd: layers must be distinct 1-based layers, got {layers:?}"
                        );
                    }
                }
                if !(ctc_weight.is_finite() && *ctc_weight >= 0.0) {
                    candle_core::bail!(
                        "KD term self-kd: ctc_weight must be finite and >= 0, got {ctc_weight}"
                    );
                }
            }
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

/// One CLI KD method: its name, the terms of its objective, and how runs treat it.
#[derive(Debug)]
pub struct KdMethod {
    /// The name `--kd`, `kd = [...]`, stage keys and the results' kd column use.
    pub name: &'static str,
    /// Other names `--kd` accepts for it.
    pub aliases: &'static [&'static str],
    /// The term `[student.kd.<name>]` fields set when they name no term (the method's own).
    pub own_term: &'static str,
    /// The objective's terms with their default fields.
    pub terms: fn() -> Vec<KdTerm>,
    /// Whether a run draws its student's posteriors beside the teachers' (offline runs).
    pub plotted: bool,
}

impl KdMethod {
    pub fn objective(&self) -> KdObjective {
        KdObjective {
            terms: (self.terms)(),
        }
    }
}

const CTC: KdTerm = KdTerm::Ctc { weight: 1.0 };
const FRAME_KD: KdTerm = KdTerm::FrameKd {
    weight: 1.0,
    tau: 1.0,
    drop_blank: false,
};
const GUIDED: KdTerm = KdTerm::GuidedCtc {
    weight: 1.0,
    exclude_blank: false,
};

/// Every KD method, in the order runs and tables list them:
/// - `ctc`: 1.0*CTC (the student alone);
/// - `frame-kd`: 1.0*CTC + 1.0*FrameKD(tau=1) on all valid frames;
/// - `guided-ctc`: 1.0*CTC + 1.0*GuidedCTC (blank frames included, weight 1 as published);
/// - `hinton`: 1.0*Hinton(tau=2, alpha=0.5) (the hard CTC is inside the Hinton term);
/// - `attention-map`: stage 1 1.0*AttnMapL2, stage 2 1.0*CTC + 1.0*GuidedCTC;
/// - `layer-wise` (also `layerwise`): 1.0*CTC + 1.0*LayerWise at 1/3, 2/3, 3/3 teacher depth,
///   one stage (the heads train alongside CTC);
/// - `self-kd`: 1.0*CTC + 1.0*SelfKD(tau=1, ctc=1, middle layer): a CTC head on an
///   intermediate layer, taught by the references and the student's own last layer (no
///   teacher);
/// - `em` (also `em-network`): one-stage oracle-guided self-distillation (Yoon et al., ICML
///   2023): 1.0*CTC + 1.0*FrameKD(tau=1) on the student's source-only path, its teacher the
///   oracle path of the same model (detached), + 1.0*OracleCTC on that path;
/// - `sequence-kd`: 1.0*SeqKD(beam=5), CTC on the teacher's hypotheses only.
pub static METHODS: &[KdMethod] = &[
    KdMethod {
        name: "ctc",
        aliases: &[],
        own_term: "ctc",
        terms: || vec![CTC],
        plotted: true,
    },
    KdMethod {
        name: "frame-kd",
        aliases: &[],
        own_term: "frame-kd",
        terms: || vec![CTC, FRAME_KD],
        plotted: true,
    },
    KdMethod {
        name: "guided-ctc",
        aliases: &[],
        own_term: "guided-ctc",
        terms: || vec![CTC, GUIDED],
        plotted: false,
    },
    KdMethod {
        name: "hinton",
        aliases: &[],
        own_term: "hinton",
        terms: || {
            vec![KdTerm::Hinton {
                weight: 1.0,
                tau: hinton_tau(),
                alpha: hinton_alpha(),
            }]
        },
        plotted: false,
    },
    KdMethod {
        name: "attention-map",
        aliases: &[],
        own_term: "attention-map",
        terms: || {
            vec![
                KdTerm::AttentionMap {
                    weight: 1.0,
                    stage1_fraction: stage1_fraction(),
                },
                CTC,
                GUIDED,
            ]
        },
        plotted: false,
    },
    KdMethod {
        name: "layer-wise",
        aliases: &["layerwise"],
        own_term: "layer-wise",
        terms: || {
            vec![
                CTC,
                KdTerm::Layerwise {
                    weight: 1.0,
                    layers: Vec::new(),
                },
            ]
        },
        plotted: false,
    },
    KdMethod {
        name: "self-kd",
        aliases: &[],
        own_term: "self-kd",
        terms: || {
            vec![
                CTC,
                KdTerm::SelfKd {
                    weight: 1.0,
                    tau: 1.0,
                    ctc_weight: 1.0,
                    layers: Vec::new(),
                },
            ]
        },
        plotted: false,
    },
    KdMethod {
        name: "em",
        aliases: &["em-network"],
        own_term: "frame-kd",
        terms: || vec![CTC, FRAME_KD, KdTerm::OracleCtc { weight: 1.0 }],
        plotted: false,
    },
    KdMethod {
        name: "sequence-kd",
        aliases: &[],
        own_term: "sequence-kd",
        terms: || {
            vec![KdTerm::SequenceKd {
                weight: 1.0,
                beam: seq_beam(),
            }]
        },
        plotted: false,
    },
];

/// The method called `name` (or one of its aliases).
pub fn find(name: &str) -> Option<&'static KdMethod> {
    METHODS
        .iter()
        .find(|m| m.name == name || m.aliases.contains(&name))
}

/// Every method's name, in `METHODS` order.
pub fn names() -> Vec<&'static str> {
    METHODS.iter().map(|m| m.name).collect()
}

/// The validated objective of the method called `name` (see `METHODS`).
pub fn parse_kd(name: &str) -> Result<KdObjective> {
    let Some(method) = find(name) else {
        candle_core::bail!(
            "unknown KD method {name:?}; expected one of {}",
            names().join(", ")
        );
    };
    let obj = method.objective();
    obj.validate()?;
    Ok(obj)
}

#[cfg(test)]
#[path = "registry_tests.rs"]
mod tests;

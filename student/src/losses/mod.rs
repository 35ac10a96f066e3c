//! Knowledge-distillation losses as pure tensor functions, and the weighted-sum combiner.
//!
//! Conventions shared by every loss here:
//! - student logits and teacher logits are `(B, T, V')` (any float dtype; f32 in training),
//!   the CTC blank is class 0;
//! - the teacher is frozen: every function detaches the teacher's tensors, so no gradient can
//!   reach the teacher even when it is passed as a `Var`;
//! - `lens[b]` is the number of valid frames of example `b`. Frames at or beyond it are padding:
//!   they are replaced by zeros *before* any arithmetic (`where_cond`), so garbage in them
//!   (even NaN or inf) changes neither the loss nor the gradient;
//! - normalisation: the posterior terms (`frame_kd`, `hinton`, `guided_ctc`) take a `Norm`.
//!   `Norm::Frames` is the **sum over the contributing frames of the whole batch divided by
//!   the number of those frames** (a frame-weighted mean; 0 when no frame contributes), O(1)
//!   per frame whatever the utterance length. `Norm::PerLabel` divides each example's sum over
//!   frames by its label count and averages over the batch: the scale of the trainer's CTC
//!   loss (per utterance, over target length), which is what the distiller uses, so that weight
//!   1 is the papers' lambda = 1 (they add per-utterance sums). The feature terms (attention
//!   maps, layer-wise) are means over frames and features, as their papers define them.
//!
//! Sequence-level KD has no tensor loss: the student is trained with CTC on the teacher's
//! hypotheses, so only its `KdTerm` exists (in `registry`).

pub mod attention;
pub mod combine;
pub mod guided;
pub mod intermediate;
pub mod layerwise;
pub mod registry;
pub mod soft;

#[cfg(test)]
mod testutil;

pub use attention::attention_map_l2;
pub use combine::{warmup_scale, KdObjective};
pub use guided::{guided_ctc, guided_ctc_norm, guided_mask};
pub use intermediate::{self_distillation, IntermediateHeads};
pub use layerwise::{layerwise_loss, log_sigmoid, LayerwiseConfig, PredictionHeads};
pub use registry::{parse_kd, KdMethod, KdTerm, Needs, TermInputs, METHODS};
pub use soft::{frame_kd, frame_kd_norm, hinton, hinton_norm, soft_kl};

use candle_core::{DType, Device, Error, Result, Tensor, D};

fn msg(s: String) -> Error {
    Error::Msg(s)
}

/// Checks `lens` against a `(B, T, ...)` tensor and returns `(B, T)`.
pub(crate) fn check_lens(what: &str, x: &Tensor, lens: &[usize]) -> Result<(usize, usize)> {
    let dims = x.dims();
    if dims.len() < 2 {
        return Err(msg(format!(
            "{what}: expected a (B, T, ...) tensor, got shape {:?}",
            dims
        )));
    }
    let (b, t) = (dims[0], dims[1]);
    if lens.len() != b {
        return Err(msg(format!(
            "{what}: {} lengths given for a batch of {b}",
            lens.len()
        )));
    }
    if let Some((i, &l)) = lens.iter().enumerate().find(|(_, &l)| l > t) {
        return Err(msg(format!(
            "{what}: length {l} of example {i} exceeds the {t} frames of the tensor"
        )));
    }
    Ok((b, t))
}

/// Checks that student and teacher logits are both `(B, T, V')` with equal shapes.
pub(crate) fn check_pair(
    what: &str,
    student: &Tensor,
    teacher: &Tensor,
    lens: &[usize],
) -> Result<(usize, usize, usize)> {
    if student.rank() != 3 || student.dims() != teacher.dims() {
        return Err(msg(format!(
            "{what}: student {:?} and teacher {:?} logits must both be (B, T, V') of equal shape",
            student.dims(),
            teacher.dims()
        )));
    }
    let (b, t) = check_lens(what, student, lens)?;
    Ok((b, t, student.dim(2)?))
}

/// `(B, T)` tensor of 1 for valid frames and 0 for padding, in `dtype`.
pub fn frame_mask(lens: &[usize], t: usize, dtype: DType, dev: &Device) -> Result<Tensor> {
    let mut m = vec![0u8; lens.len() * t];
    for (b, &l) in lens.iter().enumerate() {
        m[b * t..b * t + l.min(t)].fill(1);
    }
    Tensor::from_vec(m, (lens.len(), t), dev)?.to_dtype(dtype)
}

/// Replaces padded frames of a `(B, T, ...)` tensor by zeros. Done with `where_cond`, not a
/// multiplication, so that NaN/inf in padding cannot leak into the forward (0 * inf = NaN) and
/// the gradient reaching padded entries is exactly zero.
pub(crate) fn zero_padding(x: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let mut m = mask.to_dtype(DType::U8)?;
    while m.rank() < x.rank() {
        m = m.unsqueeze(D::Minus1)?;
    }
    let m = m.broadcast_as(x.shape())?;
    m.where_cond(x, &x.zeros_like()?)
}

/// How a frame-level term is reduced to a scalar.
#[derive(Debug, Clone, PartialEq)]
pub enum Norm {
    /// The sum over contributing frames of the batch divided by their number (a frame mean).
    Frames,
    /// Per example, the sum over its contributing frames divided by its number of labels;
    /// then the mean over the batch: the reduction of the CTC loss the trainer uses (PyTorch's
    /// `reduction = "mean"`, per-utterance loss over target length), so that a KD term and CTC
    /// stand in the ratio of the papers' per-utterance sums and weight 1 is their lambda = 1.
    /// One label count per example (0 counts as 1).
    PerLabel(Vec<usize>),
}

/// `per_frame` (B, T) reduced over the frames of 0/1 `weights` (B, T) by `norm`; 0 (still
/// attached to the graph) when no frame has weight 1.
pub(crate) fn reduce_frames(per_frame: &Tensor, weights: &Tensor, norm: &Norm) -> Result<Tensor> {
    match norm {
        Norm::Frames => {
            let n = weights
                .to_dtype(DType::F64)?
                .sum_all()?
                .to_scalar::<f64>()?;
            let total = (per_frame * weights)?.sum_all()?;
            total.affine(1.0 / n.max(1.0), 0.0)
        }
        Norm::PerLabel(labels) => {
            let b = per_frame.dim(0)?;
            if labels.len() != b {
                return Err(msg(format!(
                    "per-label reduction: {} label counts for a batch of {b}",
                    labels.len()
                )));
            }
            let scale: Vec<f64> = labels
                .iter()
                .map(|&u| 1.0 / (b as f64 * u.max(1) as f64))
                .collect();
            let scale = Tensor::new(scale, per_frame.device())?.to_dtype(per_frame.dtype())?;
            let sums = (per_frame * weights)?.sum(1)?;
            (sums * scale)?.sum_all()
        }
    }
}

//! Layer-wise feature KD in the style of DistilHuBERT (Chang et al., ICASSP 2022): linear
//! prediction heads map the student's last hidden state to chosen teacher layers, trained with
//! an L1 term plus a cosine term. The heads exist only for training and are dropped afterwards.

use candle_core::{DType, Module, Result, Tensor, D};
use candle_nn::VarBuilder;
use ctc_core::ops::{linear, Linear};
use serde::{Deserialize, Serialize};

use super::{check_lens, frame_mask, zero_padding};

/// Which teacher layers to predict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerwiseConfig {
    /// 1-based positions in the teacher's `Encoded::hidden` (layer n is `hidden[n - 1]`), one
    /// prediction head each, in this order.
    pub layers: Vec<usize>,
}

impl LayerwiseConfig {
    /// The layers at 1/3, 2/3 and 3/3 of the teacher's depth, as DistilHuBERT takes layers
    /// 4, 8, 12 of a 12-layer HuBERT (depth 12 gives [4, 8, 12], depth 4 gives [1, 2, 4]).
    /// Depths below 3 give every layer.
    pub fn thirds(depth: usize) -> Self {
        let mut layers: Vec<usize> = (1..=3).map(|i| (i * depth / 3).max(1)).collect();
        layers.dedup();
        Self { layers }
    }

    /// `requested` if non-empty, otherwise `thirds(depth)`, checked against the depth.
    pub fn resolve(requested: &[usize], depth: usize) -> Result<Self> {
        let cfg = if requested.is_empty() {
            Self::thirds(depth)
        } else {
            Self {
                layers: requested.to_vec(),
            }
        };
        cfg.validate(Some(depth))?;
        Ok(cfg)
    }

    /// Layers must be non-empty, distinct, >= 1 and, when the depth is known, <= depth.
    pub fn validate(&self, depth: Option<usize>) -> Result<()> {
        if self.layers.is_empty() {
            candle_core::bail!("layer-wise KD: no teacher layer chosen");
        }
        for (i, &l) in self.layers.iter().enumerate() {
            if l == 0 || depth.is_some_and(|d| l > d) {
                candle_core::bail!(
                    "layer-wise KD: teacher layer {l} does not exist (layers are numbered 1..={})",
                    depth.map_or("depth".to_string(), |d| d.to_string())
                );
            }
            if self.layers[..i].contains(&l) {
                candle_core::bail!("layer-wise KD: teacher layer {l} is listed twice");
            }
        }
        Ok(())
    }
}

/// One linear head per chosen teacher layer, student width -> teacher width.
#[derive(Debug, Clone)]
pub struct PredictionHeads {
    heads: Vec<Linear>,
    layers: Vec<usize>,
}

impl PredictionHeads {
    /// Heads are named `head{i}` under `vb`, i in 0..layers. Their initial values come from the
    /// VarBuilder (candle's Linear default); a trainer that needs seeded runs must initialise
    /// the VarMap's variables from its own generator, as for every other module.
    pub fn new(
        cfg: &LayerwiseConfig,
        student_dim: usize,
        teacher_dim: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        cfg.validate(None)?;
        let heads = (0..cfg.layers.len())
            .map(|i| linear(student_dim, teacher_dim, vb.pp(format!("head{i}"))))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            heads,
            layers: cfg.layers.clone(),
        })
    }

    /// Predictions `(B, T, teacher_dim)` of every chosen layer from the student's last hidden
    /// state `(B, T, student_dim)`, in the order of `LayerwiseConfig::layers`.
    pub fn forward(&self, student_last_hidden: &Tensor) -> Result<Vec<Tensor>> {
        self.heads
            .iter()
            .map(|h| h.forward(student_last_hidden))
            .collect()
    }

    /// The matching targets picked (and detached) from the teacher's per-layer outputs.
    pub fn targets(&self, teacher_hidden: &[Tensor]) -> Result<Vec<Tensor>> {
        self.layers
            .iter()
            .map(|&l| match teacher_hidden.get(l.wrapping_sub(1)) {
                Some(h) => Ok(h.detach()),
                None => candle_core::bail!(
                    "layer-wise KD: teacher layer {l} requested but the teacher returned {} \
                     hidden states (was it run with Fwd::collecting?)",
                    teacher_hidden.len()
                ),
            })
            .collect()
    }

    pub fn layers(&self) -> &[usize] {
        &self.layers
    }
}

/// log(sigmoid(x)) = min(x, 0) - ln(1 + exp(-|x|)), written with differentiable ops only;
/// exp never sees a positive argument, so it cannot overflow, and min(x, 0) = (x - |x|) / 2.
/// The gradient is sigmoid(-x) everywhere (the kinks of |x| cancel at 0).
pub fn log_sigmoid(x: &Tensor) -> Result<Tensor> {
    let a = x.abs()?;
    let min0 = (x - &a)?.affine(0.5, 0.0)?;
    let soft = (a.neg()?.exp()? + 1.0)?.log()?;
    min0 - soft
}

/// Added under the square roots of the norms so the cosine stays differentiable at zero vectors
/// (padded frames); negligible against the squared norm of any real hidden state.
const COS_EPS: f64 = 1e-8;

/// DistilHuBERT loss, summed over layers l:
/// `(1/(N*D)) * sum_{valid (b,t), d} |h_hat - h|  -  (1/N) * sum_{valid (b,t)} log sigmoid(cos(h_hat_t, h_t))`
/// where N = sum of `lens`, D the teacher width, and
/// cos(a, b) = a.b / (sqrt(|a|^2 + 1e-8) * sqrt(|b|^2 + 1e-8)). Targets are detached.
/// `preds[l]` and `targets[l]` are `(B, T, D)`. Returns a scalar (0 per layer when N = 0).
pub fn layerwise_loss(preds: &[Tensor], targets: &[Tensor], lens: &[usize]) -> Result<Tensor> {
    if preds.is_empty() || preds.len() != targets.len() {
        candle_core::bail!(
            "layerwise_loss: {} predictions for {} targets (need the same non-zero number)",
            preds.len(),
            targets.len()
        );
    }
    let mut total: Option<Tensor> = None;
    for (i, (p, h)) in preds.iter().zip(targets).enumerate() {
        if p.rank() != 3 || p.dims() != h.dims() {
            candle_core::bail!(
                "layerwise_loss: layer {i}: prediction {:?} and target {:?} must both be (B, T, D)",
                p.dims(),
                h.dims()
            );
        }
        let (_, t) = check_lens("layerwise_loss", p, lens)?;
        let d = p.dim(2)?;
        let valid = frame_mask(lens, t, DType::U8, p.device())?;
        let weights = valid.to_dtype(p.dtype())?;
        let n = lens.iter().sum::<usize>().max(1) as f64;
        let p = zero_padding(p, &valid)?;
        let h = zero_padding(&h.detach(), &valid)?.to_dtype(p.dtype())?;

        let l1 = (&p - &h)?
            .abs()?
            .sum_all()?
            .affine(1.0 / (n * d as f64), 0.0)?;
        let dot = (&p * &h)?.sum(D::Minus1)?;
        let np = (p.sqr()?.sum(D::Minus1)? + COS_EPS)?.sqrt()?;
        let nh = (h.sqr()?.sum(D::Minus1)? + COS_EPS)?.sqrt()?;
        let cos = (dot / (np * nh)?)?;
        let cos_term = (log_sigmoid(&cos)? * &weights)?
            .sum_all()?
            .affine(-1.0 / n, 0.0)?;
        let layer = (l1 + cos_term)?;
        total = Some(match total {
            None => layer,
            Some(acc) => (acc + layer)?,
        });
    }
    total.ok_or_else(|| candle_core::Error::Msg("layerwise_loss: no layer".into()))
}

#[cfg(test)]
#[path = "layerwise_tests.rs"]
mod tests;

//! Self-distillation inside one CTC model: linear CTC heads on intermediate encoder layers,
//! trained with CTC on the references (intermediate CTC, Lee & Watanabe, ICASSP 2021) and with
//! frame KD from the model's own last-layer posteriors, detached (the deepest classifier
//! teaching the shallower ones, as in Zhang et al., "Be Your Own Teacher", ICCV 2019). The heads
//! exist only for training and are dropped at export; what they change is the shared encoder.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;
use ctc_core::ops::{linear, Linear};
use ctc_core::train::ctc_term;

use super::soft::frame_kd_norm;
use super::Norm;

/// CTC heads on chosen 1-based encoder layers of the student.
pub struct IntermediateHeads {
    layers: Vec<usize>,
    heads: Vec<Linear>,
}

/// `requested` if non-empty, else the middle layer (`depth / 2`); each layer must lie strictly
/// below the last (whose posteriors are the teacher) and appear once.
pub fn resolve_layers(requested: &[usize], depth: usize) -> Result<Vec<usize>> {
    if depth < 2 {
        candle_core::bail!(
            "self-distillation needs an encoder of at least 2 layers (an intermediate one below \
             the last), this one has {depth}"
        );
    }
    let layers = if requested.is_empty() {
        vec![depth / 2]
    } else {
        requested.to_vec()
    };
    for (i, &l) in layers.iter().enumerate() {
        if l == 0 || l >= depth {
            candle_core::bail!(
                "self-distillation: layer {l} is not an intermediate layer of a {depth}-layer \
                 encoder (1..={})",
                depth.saturating_sub(1)
            );
        }
        if layers[..i].contains(&l) {
            candle_core::bail!("self-distillation: layer {l} is listed twice");
        }
    }
    Ok(layers)
}

impl IntermediateHeads {
    /// One `d_model -> vocab` head per layer of `resolve_layers(requested, depth)`, named
    /// `layer<l>` under `vb`.
    pub fn new(
        requested: &[usize],
        depth: usize,
        d_model: usize,
        vocab: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        let layers = resolve_layers(requested, depth)?;
        let heads = (layers.iter())
            .map(|l| linear(d_model, vocab, vb.pp(format!("layer{l}"))))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { layers, heads })
    }

    pub fn layers(&self) -> &[usize] {
        &self.layers
    }

    /// Each head's `(B, T, V')` logits from the encoder's per-layer outputs.
    pub fn forward(&self, hidden: &[Tensor]) -> Result<Vec<Tensor>> {
        (self.layers.iter().zip(&self.heads))
            .map(|(&l, head)| match hidden.get(l - 1) {
                Some(h) => head.forward(h),
                None => candle_core::bail!(
                    "self-distillation: the encoder returned {} hidden states, layer {l} asked",
                    hidden.len()
                ),
            })
            .collect()
    }
}

/// The mean over heads of `ctc_weight * CTC(head) + FrameKD(head ‖ last, tau)`, where `last` are
/// the model's own final logits, detached (no gradient reaches them through this term), with
/// the trainer's CTC reduction and `norm` for the KD part.
pub fn self_distillation(
    last: &Tensor,
    heads: &[Tensor],
    lens: &[usize],
    targets: &[Vec<u32>],
    tau: f64,
    ctc_weight: f64,
    norm: &Norm,
) -> Result<Tensor> {
    if heads.is_empty() {
        candle_core::bail!("self-distillation: no intermediate head");
    }
    let teacher = last.detach();
    let mut total: Option<Tensor> = None;
    for h in heads {
        let ctc = ctc_term(h, lens, targets)?.0;
        let kd = frame_kd_norm(h, &teacher, lens, tau, false, norm)?;
        let v = (ctc.affine(ctc_weight, 0.0)? + kd)?;
        total = Some(match total {
            None => v,
            Some(acc) => (acc + v)?,
        });
    }
    total
        .expect("heads is not empty")
        .affine(1.0 / heads.len() as f64, 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logits(dims: &[usize; 3], seed: u64) -> Tensor {
        let mut rng = ctc_core::Rng::new(seed);
        let n = dims.iter().product();
        let v: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
        Tensor::from_vec(v, dims.to_vec(), &candle_core::Device::Cpu).unwrap()
    }

    #[test]
    fn the_middle_layer_by_default_and_bad_layers_refused() {
        assert_eq!(resolve_layers(&[], 4).unwrap(), [2]);
        assert_eq!(resolve_layers(&[], 2).unwrap(), [1]);
        assert_eq!(resolve_layers(&[1, 3], 4).unwrap(), [1, 3]);
        for (req, depth) in [(vec![], 1), (vec![4], 4), (vec![0], 4), (vec![2, 2], 4)] {
            assert!(resolve_layers(&req, depth).is_err(), "{req:?} of {depth}");
        }
    }

    #[test]
    fn the_value_is_the_mean_of_its_parts_and_spares_the_last_layer() -> Result<()> {
        let (b, t, v) = (2, 6, 4);
        let last = candle_core::Var::from_tensor(&logits(&[b, t, v], 1))?;
        let h1 = candle_core::Var::from_tensor(&logits(&[b, t, v], 2))?;
        let h2 = candle_core::Var::from_tensor(&logits(&[b, t, v], 3))?;
        let lens = [6, 4];
        let targets = vec![vec![1, 2], vec![3]];
        let norm = Norm::PerLabel(vec![2, 1]);
        let heads = [h1.as_tensor().clone(), h2.as_tensor().clone()];
        let got = self_distillation(last.as_tensor(), &heads, &lens, &targets, 2.0, 0.5, &norm)?;
        let part = |h: &Tensor| -> Result<f32> {
            let c = ctc_term(h, &lens, &targets)?.0.to_scalar::<f32>()?;
            let k =
                frame_kd_norm(h, last.as_tensor(), &lens, 2.0, false, &norm)?.to_scalar::<f32>()?;
            Ok(0.5 * c + k)
        };
        let want = (part(&heads[0])? + part(&heads[1])?) / 2.0;
        let got_v = got.to_scalar::<f32>()?;
        assert!((got_v - want).abs() < 1e-5, "{got_v} vs {want}");
        let g = got.backward()?;
        assert!(
            g.get(last.as_tensor()).is_none(),
            "the last layer is the teacher"
        );
        assert!(g.get(h1.as_tensor()).is_some() && g.get(h2.as_tensor()).is_some());
        Ok(())
    }
}

//! The classifier's encoder: a ReLU multilayer perceptron over the flattened image that emits
//! a single frame. `layers` hidden layers of `d_model` units, dropout after each one; the CTC
//! head of `CtcModel` on top is then the softmax layer over classes + blank.

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;
use ctc_core::nn::dropout;
use ctc_core::ops::{linear, Linear};
use ctc_core::task::{Encoded, EncoderConfig, EncoderKind, Fwd, SourceEncoder};

pub struct MlpEncoder {
    layers: Vec<Linear>,
    dropout: f64,
    d: usize,
}

impl MlpEncoder {
    /// `in_dim` inputs (pixels). `cfg.heads` and `cfg.d_ff` are not read here: they size the
    /// fusion blocks of an oracle built on this encoder, which an MLP has no use for.
    pub fn new(in_dim: usize, cfg: &EncoderConfig, vb: VarBuilder) -> Result<Self> {
        if cfg.layers == 0 || cfg.d_model == 0 {
            candle_core::bail!(
                "MLP encoder: layers ({}) and d_model ({}) must both be >= 1",
                cfg.layers,
                cfg.d_model
            );
        }
        if cfg.kind != EncoderKind::Transformer || cfg.conv_kernel.is_some() {
            candle_core::bail!(
                "MLP encoder: it has no attention blocks, so encoder.kind = \"conformer\" and \
                 conv_kernel do not apply to it"
            );
        }
        if !(0.0..1.0).contains(&cfg.dropout) {
            candle_core::bail!(
                "MLP encoder: dropout must lie in [0, 1), got {}",
                cfg.dropout
            );
        }
        let layers = (0..cfg.layers)
            .map(|i| {
                let n_in = if i == 0 { in_dim } else { cfg.d_model };
                linear(n_in, cfg.d_model, vb.pp(format!("layer{i}")))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            layers,
            dropout: cfg.dropout,
            d: cfg.d_model,
        })
    }
}

impl SourceEncoder for MlpEncoder {
    /// `src` is (B, 1, pixels): one frame per image, so `src_lens` is all ones.
    fn forward(&self, src: &Tensor, src_lens: &[usize], fwd: &mut Fwd) -> Result<Encoded> {
        let mut x = src.clone();
        let mut hidden = Vec::new();
        for layer in &self.layers {
            x = dropout(&layer.forward_relu(&x)?, self.dropout, fwd)?;
            if fwd.collect {
                hidden.push(x.clone());
            }
        }
        Ok(Encoded {
            frames: x,
            lens: src_lens.to_vec(),
            hidden,
            attn: Vec::new(),
        })
    }
    fn output_len(&self, input_len: usize) -> usize {
        input_len
    }
    fn d_model(&self) -> usize {
        self.d
    }
}

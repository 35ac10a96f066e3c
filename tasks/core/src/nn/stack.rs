//! The blocks after a source encoder's front end, chosen by `EncoderConfig::kind`.

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use super::{ConformerDims, ConformerStack, EncoderConfig, EncoderKind, TransformerStack};
use crate::task::{Encoded, Fwd};

#[derive(Clone, Debug)]
pub enum EncoderStack {
    Transformer(TransformerStack),
    Conformer(ConformerStack),
}

impl EncoderStack {
    /// Validates `cfg` and builds its blocks under `vb`.
    pub fn new(cfg: &EncoderConfig, vb: VarBuilder) -> Result<Self> {
        cfg.validate().map_err(candle_core::Error::msg)?;
        Ok(match cfg.kind {
            EncoderKind::Transformer => Self::Transformer(TransformerStack::new(
                cfg.d_model,
                cfg.layers,
                cfg.heads,
                cfg.d_ff,
                cfg.dropout,
                vb,
            )?),
            EncoderKind::Conformer => {
                let dims = ConformerDims {
                    d: cfg.d_model,
                    heads: cfg.heads,
                    d_ff: cfg.d_ff,
                    kernel: cfg.kernel(),
                    dropout: cfg.dropout,
                };
                Self::Conformer(ConformerStack::new(dims, cfg.layers, vb)?)
            }
        })
    }

    /// The front end's frames `x` (B, T, d) through the blocks; `lens` the valid frames.
    pub fn encode(&self, x: &Tensor, lens: Vec<usize>, fwd: &mut Fwd) -> Result<Encoded> {
        match self {
            Self::Transformer(s) => s.encode(x, lens, fwd),
            Self::Conformer(s) => s.encode(x, lens, fwd),
        }
    }
}

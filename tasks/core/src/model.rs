//! A source encoder plus a linear CTC head: the conventional teacher and the student are both
//! this model at different sizes.

use candle_core::{Result, Tensor};
use candle_nn::{Module, VarBuilder};

use crate::ops::{linear, Linear};
use crate::task::{Encoded, EncoderConfig, Fwd, SourceEncoder, Task};

pub struct CtcModel {
    pub encoder: Box<dyn SourceEncoder>,
    head: Linear,
}

/// Output of a CTC model's forward pass.
pub struct CtcForward {
    /// (B, T, V') unnormalised scores.
    pub logits: Tensor,
    pub enc: Encoded,
}

impl CtcModel {
    pub fn new<T: Task>(task: &T, cfg: &EncoderConfig, vb: VarBuilder) -> Result<Self> {
        let encoder = task.encoder(cfg, vb.pp("encoder"))?;
        let head = linear(cfg.d_model, task.vocab().size(), vb.pp("head"))?;
        Ok(Self { encoder, head })
    }

    pub fn forward(&self, src: &Tensor, src_lens: &[usize], fwd: &mut Fwd) -> Result<CtcForward> {
        let enc = self.encoder.forward(src, src_lens, fwd)?;
        let logits = self.head.forward(&enc.frames)?;
        Ok(CtcForward { logits, enc })
    }
}

//! Conformer blocks (Gulati et al. 2020), shared by the speech and word-image encoders.
//!
//! A block is `x + 1/2 FFN(x)`, `+ MHSA(x)` with rotary relative positions, `+ Conv(x)`,
//! `+ 1/2 FFN(x)`, then a LayerNorm; every module is pre-normalised and its output dropped out
//! from the run's generator before the residual add. The convolution module is pointwise
//! convolution to 2d channels, GLU, depthwise convolution along time, LayerNorm, Swish,
//! pointwise convolution. The depthwise convolution reads padded frames as zeros and the
//! normalisation is per frame (LayerNorm in place of the paper's BatchNorm, whose batch
//! statistics would mix padding into real frames), so an example's output does not depend on
//! the padding its batch adds.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::{dropout_add, key_padding_bias, FeedForward, LayerNorm, MultiHeadAttention, Rotary};
use crate::ops::{bias_add, depthwise_conv_time, glu, linear, Linear};
use crate::task::{Encoded, Fwd};

/// The sizes of one Conformer block.
#[derive(Clone, Copy, Debug)]
pub struct ConformerDims {
    pub d: usize,
    pub heads: usize,
    pub d_ff: usize,
    /// Depthwise convolution kernel (odd).
    pub kernel: usize,
    pub dropout: f64,
}

#[derive(Clone, Debug)]
pub struct ConvModule {
    ln: LayerNorm,
    pointwise1: Linear,
    depthwise: Tensor,
    depthwise_bias: Tensor,
    norm: LayerNorm,
    pointwise2: Linear,
}

impl ConvModule {
    pub fn new(d: usize, kernel: usize, vb: VarBuilder) -> Result<Self> {
        // PyTorch's Conv1d default: uniform in +-1/sqrt(fan_in), fan_in = kernel taps.
        let bound = 1.0 / (kernel as f64).sqrt();
        let init = candle_nn::Init::Uniform {
            lo: -bound,
            up: bound,
        };
        Ok(Self {
            ln: LayerNorm::new(d, vb.pp("ln"))?,
            pointwise1: linear(d, 2 * d, vb.pp("pointwise1"))?,
            depthwise: vb.get_with_hints((d, kernel), "depthwise.weight", init)?,
            depthwise_bias: vb.get_with_hints(d, "depthwise.bias", init)?,
            norm: LayerNorm::new(d, vb.pp("norm"))?,
            pointwise2: linear(d, d, vb.pp("pointwise2"))?,
        })
    }

    /// `x` `(B, T, d)`; `lens` the valid frames of each example.
    pub fn forward(&self, x: &Tensor, lens: &[usize]) -> Result<Tensor> {
        let h = self.pointwise1.forward(&self.ln.forward(x)?)?;
        let h = glu(&h)?;
        let h = depthwise_conv_time(&h, &self.depthwise, lens)?;
        let h = bias_add(&h, &self.depthwise_bias)?;
        let h = self.norm.forward(&h)?.silu()?;
        self.pointwise2.forward(&h)
    }
}

#[derive(Clone, Debug)]
pub struct ConformerBlock {
    ln_ff1: LayerNorm,
    ff1: FeedForward,
    ln_attn: LayerNorm,
    attn: MultiHeadAttention,
    conv: ConvModule,
    ln_ff2: LayerNorm,
    ff2: FeedForward,
    ln_out: LayerNorm,
    dropout: f64,
}

impl ConformerBlock {
    pub fn new(dims: ConformerDims, vb: VarBuilder) -> Result<Self> {
        let ConformerDims {
            d,
            heads,
            d_ff,
            kernel,
            dropout,
        } = dims;
        Ok(Self {
            ln_ff1: LayerNorm::new(d, vb.pp("ln_ff1"))?,
            ff1: FeedForward::new_swish(d, d_ff, dropout, vb.pp("ff1"))?,
            ln_attn: LayerNorm::new(d, vb.pp("ln_attn"))?,
            attn: MultiHeadAttention::new(d, heads, dropout, vb.pp("attn"))?,
            conv: ConvModule::new(d, kernel, vb.pp("conv"))?,
            ln_ff2: LayerNorm::new(d, vb.pp("ln_ff2"))?,
            ff2: FeedForward::new_swish(d, d_ff, dropout, vb.pp("ff2"))?,
            ln_out: LayerNorm::new(d, vb.pp("ln_out"))?,
            dropout,
        })
    }

    /// Returns the block output and its self-attention weights (B, heads, T, T).
    pub fn forward(
        &self,
        x: &Tensor,
        bias: &Tensor,
        rotary: &Rotary,
        lens: &[usize],
        fwd: &mut Fwd,
    ) -> Result<(Tensor, Tensor)> {
        let p = self.dropout;
        // Dropout is linear, so dropping out half the module's output is half its dropout.
        let f = (self.ff1.forward(&self.ln_ff1.forward(x)?, fwd)? * 0.5)?;
        let x = dropout_add(x, &f, p, fwd)?;
        let a = (self.attn).forward_rotary(&self.ln_attn.forward(&x)?, Some(bias), rotary, fwd)?;
        let x = dropout_add(&x, &a.out, p, fwd)?;
        let c = self.conv.forward(&x, lens)?;
        let x = dropout_add(&x, &c, p, fwd)?;
        let f = (self.ff2.forward(&self.ln_ff2.forward(&x)?, fwd)? * 0.5)?;
        let x = dropout_add(&x, &f, p, fwd)?;
        Ok((self.ln_out.forward(&x)?, a.weights))
    }
}

/// N Conformer blocks; collects per-layer states and maps on request. Positions enter only
/// through the rotary self-attention, so no absolute encoding is added to the input.
#[derive(Clone, Debug)]
pub struct ConformerStack {
    blocks: Vec<ConformerBlock>,
    head_dim: usize,
}

impl ConformerStack {
    pub fn new(dims: ConformerDims, layers: usize, vb: VarBuilder) -> Result<Self> {
        let blocks = (0..layers)
            .map(|i| ConformerBlock::new(dims, vb.pp(format!("block{i}"))))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            blocks,
            head_dim: dims.d / dims.heads.max(1),
        })
    }

    /// `x`: the front end's frames (B, T, d); `lens`: valid frames per example.
    pub fn encode(&self, x: &Tensor, lens: Vec<usize>, fwd: &mut Fwd) -> Result<Encoded> {
        let (_, t, _) = x.dims3()?;
        let bias = key_padding_bias(&lens, t, x.device())?;
        let rotary = Rotary::new(t, self.head_dim, x.device())?;
        let mut x = x.clone();
        let (mut hidden, mut attn) = (Vec::new(), Vec::new());
        for block in &self.blocks {
            let (y, w) = block.forward(&x, &bias, &rotary, &lens, fwd)?;
            x = y;
            if fwd.collect {
                hidden.push(x.clone());
                attn.push(w);
            }
        }
        Ok(Encoded {
            frames: x,
            lens,
            hidden,
            attn,
        })
    }
}

#[cfg(test)]
#[path = "conformer_tests.rs"]
mod tests;
